"""Port of NetBSD sys/dev/fssvar.h revision 1.29 (2015-09-06), the header of fss.c 1.104.

$NetBSD: fssvar.h,v 1.29 2015/09/06 06:00:59 dholland Exp $ (notice in LICENSE.NetBSD)

The user part (flags, argument structs, ioctl numbers) comes first, then the
kernel part (the softc, the cache slots, the cluster and block macros), in
the header's order.  The argument structs have NetBSD's LP64 layout: they
travel through ioctl(2), which copies them in and out by size.
"""

from __future__ import annotations

import ctypes

from kern.ioccom import _IO, _IOR, _IOW
from kern.kern_condvar import kcondvar_t
from kern.kern_mutex import kmutex_t
from kern.kern_time import timeval
from kern.kern_types import NODEV
from vfs.mount import MNAMELEN  # <sys/mount.h>

# ---------------------------------------------------------------- userland

FSS_UNCONFIG_ON_CLOSE = 0x01  # unconfigure on last close
FSS_UNLINK_ON_CREATE = 0x02  # unlink backing store on create


class fss_set(ctypes.Structure):
    """struct fss_set: the argument of FSSIOCSET (user pointers to two paths)."""

    _fields_ = [
        ("fss_mount", ctypes.c_uint64),   # char *: mount point of file system
        ("fss_bstore", ctypes.c_uint64),  # char *: path to backing store
        ("fss_csize", ctypes.c_int32),    # blksize_t: preferred cluster size
        ("fss_flags", ctypes.c_int32),    # int: user flags
    ]


class fss_get(ctypes.Structure):
    """struct fss_get: the answer of FSSIOCGET."""

    _fields_ = [
        ("fsg_mount", ctypes.c_char * MNAMELEN),  # mount point of file system
        ("fsg_time", timeval),                    # time this snapshot was taken
        ("fsg_csize", ctypes.c_int32),            # current cluster size
        ("fsg_mount_size", ctypes.c_int64),       # # clusters on file system
        ("fsg_bs_size", ctypes.c_int64),          # # clusters on backing store
    ]


FSSIOCSET = _IOW("F", 5, fss_set)   # Configure
FSSIOCGET = _IOR("F", 1, fss_get)   # Status
FSSIOCCLR = _IO("F", 2)             # Unconfigure
FSSIOFSET = _IOW("F", 3, ctypes.c_int)  # Set flags
FSSIOFGET = _IOR("F", 4, ctypes.c_int)  # Get flags


# ---------------------------------------------------------------- kernel (_KERNEL)

class fss_set50(ctypes.Structure):
    """struct fss_set50: the pre-flags argument, still accepted (FSSIOCSET50)."""

    _fields_ = [
        ("fss_mount", ctypes.c_uint64),
        ("fss_bstore", ctypes.c_uint64),
        ("fss_csize", ctypes.c_int32),
    ]


class timeval50(ctypes.Structure):
    """struct timeval50: two longs."""

    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class fss_get50(ctypes.Structure):
    _fields_ = [
        ("fsg_mount", ctypes.c_char * MNAMELEN),
        ("fsg_time", timeval50),
        ("fsg_csize", ctypes.c_int32),
        ("fsg_mount_size", ctypes.c_int64),
        ("fsg_bs_size", ctypes.c_int64),
    ]


FSSIOCSET50 = _IOW("F", 0, fss_set50)
FSSIOCGET50 = _IOR("F", 1, fss_get50)  # on LP64 this equals FSSIOCGET (fss.c compiles it out)

FSS_CLUSTER_MAX = 1 << 24  # Upper bound of clusters. The
                           # sc_copied map uses FSS_CLUSTER_MAX/NBBY bytes


# Macros to handle clusters.  Clusters are numbered from 0.
def FSS_CLSIZE(sc: fss_softc) -> int:
    return 1 << sc.sc_clshift


def FSS_CLOFF(sc: fss_softc, off: int) -> int:
    return off & sc.sc_clmask


def FSS_BTOCL(sc: fss_softc, off: int) -> int:
    return off >> sc.sc_clshift


def FSS_CLTOB(sc: fss_softc, cl: int) -> int:
    return cl << sc.sc_clshift


# Macros to handle the backing store's file system blocks.
def FSS_FSBSIZE(sc: fss_softc) -> int:
    return 1 << sc.sc_bs_bshift


def FSS_FSBOFF(sc: fss_softc, off: int) -> int:
    return off & sc.sc_bs_bmask


def FSS_BTOFSB(sc: fss_softc, off: int) -> int:
    return off >> sc.sc_bs_bshift


def FSS_FSBTOB(sc: fss_softc, blk: int) -> int:
    return blk << sc.sc_bs_bshift


# fss_io_type
FSS_READ = 0
FSS_WRITE = 1

# enum fss_cache_type
FSS_CACHE_FREE = 0   # Cache entry is free
FSS_CACHE_BUSY = 1   # Cache entry is read from device
FSS_CACHE_VALID = 2  # Cache entry contains valid data


class fss_cache:
    """struct fss_cache: one cluster read from the device, waiting for the backing store."""

    _c_sizeof = 48

    def __init__(self) -> None:
        self.fc_type = FSS_CACHE_FREE   # Current state
        self.fc_cluster = 0             # Cluster number of this entry
        self.fc_state_cv = kcondvar_t()  # Signals state change from busy
        self.fc_data: bytearray | None = None  # Data

    def __repr__(self) -> str:
        return f"<fss_cache {self.fc_type} cl={self.fc_cluster}>"


class fss_softc:
    """struct fss_softc, in the header's field order (spelled out again in
    ``__slots__``: with its 30 fields CPython 3.11 gave each softc its own dict, so
    every ``sc->sc_*`` read was a dict lookup; ``__weakref__`` for the race
    detector, kern/machine/lockset.py, which watches this struct)."""

    __slots__ = ("sc_dev", "sc_slock", "sc_lock", "sc_work_cv", "sc_cache_cv", "sc_flags",
                 "sc_uflags", "sc_dkdev", "sc_mount", "sc_mntname", "sc_time", "sc_bdev",
                 "sc_bs_vp", "sc_bs_bshift", "sc_bs_bmask", "sc_bs_lwp", "sc_clshift",
                 "sc_clmask", "sc_clcount", "sc_copied", "sc_clresid", "sc_cache_size",
                 "sc_cache", "sc_bufq", "sc_clnext", "sc_indir_size", "sc_indir_valid",
                 "sc_indir_cur", "sc_indir_dirty", "sc_indir_data", "__weakref__")

    _c_sizeof = 376

    def __init__(self) -> None:
        self.sc_dev = None                 # Self linkage
        self.sc_slock = kmutex_t()         # Protect this softc
        self.sc_lock = kmutex_t()          # Sleep lock for fss_ioctl
        self.sc_work_cv = kcondvar_t()     # Signals work for the kernel thread
        self.sc_cache_cv = kcondvar_t()    # Signals free cache slot
        self.sc_flags = 0                  # Flags
        self.sc_uflags = 0                 # User visible flags
        self.sc_dkdev = None               # Generic disk device
        self.sc_mount = None               # Mount point
        self.sc_mntname = b""              # Mount point name (MNAMELEN bytes)
        self.sc_time = timeval()           # Time this snapshot was taken
        self.sc_bdev = NODEV               # Underlying block device
        self.sc_bs_vp = None               # Our backing store
        self.sc_bs_bshift = 0              # Shift of backing store block
        self.sc_bs_bmask = 0               # Mask of backing store block
        self.sc_bs_lwp = None              # Our kernel thread
        self.sc_clshift = 0                # Shift of cluster size
        self.sc_clmask = 0                 # Mask of cluster size
        self.sc_clcount = 0                # # clusters in file system
        self.sc_copied: bytearray | None = None  # Map of clusters already copied
        self.sc_clresid = 0                # Bytes in last cluster
        self.sc_cache_size = 0             # Number of entries in sc_cache
        self.sc_cache: list[fss_cache] | None = None  # Cluster cache
        self.sc_bufq = None                # Transfer queue
        self.sc_clnext = 0                 # Next free cluster on backing store
        self.sc_indir_size = 0             # # clusters for indirect mapping
        self.sc_indir_valid: bytearray | None = None  # Map of valid indirect clusters
        self.sc_indir_cur = 0              # Current indir cluster number
        self.sc_indir_dirty = 0            # Current indir cluster modified
        self.sc_indir_data: memoryview | None = None  # Current indir cluster data

    def __repr__(self) -> str:
        name = self.sc_dev.dv_xname if self.sc_dev is not None else "fss?"
        return f"<fss_softc {name} flags={self.sc_flags:#x}>"


# sc_flags
FSS_ACTIVE = 0x01      # Snapshot is active
FSS_ERROR = 0x02       # I/O error occurred
FSS_BS_THREAD = 0x04   # Kernel thread is running
FSS_PERSISTENT = 0x20  # File system internal snapshot
FSS_CDEV_OPEN = 0x40   # character device open
FSS_BDEV_OPEN = 0x80   # block device open


def FSS_ISVALID(sc: fss_softc) -> bool:
    return (sc.sc_flags & (FSS_ACTIVE | FSS_ERROR)) == FSS_ACTIVE
