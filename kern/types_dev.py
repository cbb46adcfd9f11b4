"""Device numbers (the dev_t part of NetBSD's sys/types.h).

A ``dev_t`` is a 64-bit number in NetBSD; only the low 32 bits carry the
device.  The major number sits in bits 8..19, the minor number is split:
its low 8 bits are bits 0..7 of the dev_t and the rest go to bits 20..31.
That split keeps the old 8-bit minors of 4.4BSD at the same place while
allowing 20-bit minors.

``NODEV`` (all ones, -1 here as in kern.kern_types) means "no device";
``NODEVMAJOR`` (-1) is the devmajor_t that means "no major".
"""

from __future__ import annotations

from kern.kern_types import NODEV

# Types kept for signatures and documentation: all are Python ints here.
dev_t = int
devmajor_t = int
devminor_t = int

NODEVMAJOR: devmajor_t = -1

__all__ = ["NODEV", "NODEVMAJOR", "dev_t", "devmajor_t", "devminor_t", "major", "minor",
           "makedev"]


def major(x: dev_t) -> devmajor_t:
    """The major number of ``x``: bits 8..19."""
    return ((int(x) & 0xFFFFFFFF) & 0x000FFF00) >> 8


def minor(x: dev_t) -> devminor_t:
    """The minor number of ``x``: bits 20..31 above bits 0..7."""
    v = int(x) & 0xFFFFFFFF
    return ((v & 0xFFF00000) >> 12) | (v & 0x000000FF)


def makedev(x: devmajor_t, y: devminor_t) -> dev_t:
    """The dev_t of major ``x`` and minor ``y`` (bits beyond the fields are dropped)."""
    x = int(x)
    y = int(y)
    return ((x << 8) & 0x000FFF00) | ((y << 12) & 0xFFF00000) | (y & 0x000000FF)
