"""Device drivers: fss(4) (dev/fss), memory disks (md) and host-file disks (rumpblk)."""

from kern import _layout  # kern/_layout.py: the five packages must all be kemu's

_layout.check_siblings(__name__, __file__)
