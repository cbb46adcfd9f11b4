"""kemu's VFS: vnodes, mounts, namei, fstrans/fscow, the buffer cache, specfs, syscalls."""

from kern import _layout  # kern/_layout.py: the five packages must all be kemu's

_layout.check_siblings(__name__, __file__)
