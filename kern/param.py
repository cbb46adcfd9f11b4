"""sys/param.h (and the page constants of uvm_param.h / vmparam.h, amd64).

The machine-independent sizes and helpers that kernel code, file systems
and userland share: import them from here rather than defining them again.
"""

from __future__ import annotations

NBBY = 8                       # bits per byte
MAXPATHLEN = 1024              # longest path, with its NUL
MAXBSIZE = 64 * 1024           # largest file-system block
MAXPHYS = 64 * 1024            # largest single transfer
MAXHOSTNAMELEN = 256           # longest host name, with its NUL
NGROUPS = 16                   # supplementary groups a credential holds
ARG_MAX = 256 * 1024           # sys/syslimits.h: bytes of exec arguments

DEV_BSHIFT = 9                 # log2(DEV_BSIZE)
DEV_BSIZE = 1 << DEV_BSHIFT    # the unit of b_blkno

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1


def howmany(x: int, y: int) -> int:
    """How many ``y``-sized pieces hold ``x``."""
    return (x + y - 1) // y


def round_page(x: int) -> int:
    return (x + PAGE_MASK) & ~PAGE_MASK


def trunc_page(x: int) -> int:
    return x & ~PAGE_MASK
