"""Disk ioctls and the structures they carry (sys/dkio.h, sys/disklabel.h, sys/disk.h).

The command numbers are computed with kern.ioccom exactly as sys/ioccom.h
does, from the LP64 (amd64) sizes of their argument structures, and match
NetBSD 8: ``DIOCGMEDIASIZE`` = ``_IOR('d', 132, off_t)``, ``DIOCGSECTORSIZE`` =
``_IOR('d', 133, u_int)``, ``DIOCGWEDGEINFO`` = ``_IOR('d', 122, struct
dkwedge_info)``, ``DIOCGDINFO`` = ``_IOR('d', 101, struct disklabel)``.

``DIOCGPART`` is kernel-internal: its argument, :class:`partinfo`, holds two
pointers into the driver's in-core label.  Here they are references to the
label's ctypes objects; a driver handed a plain buffer for it (from
ioctl(2)) has nothing useful to put there, as in NetBSD.

Disk minors on amd64: MAXPARTITIONS (16) partitions per unit, RAW_PART 3
("d").  ``DISKUNIT``/``DISKPART``/``MAKEDISKDEV`` split and build them.

The stored texts are ``$NetBSD: disklabel.h,v 1.116 2013/11/05$``
(sys/sys/disklabel.h, NetBSD 8's) and ``$NetBSD: dkio.h,v 1.26
2020/03/02$`` (later than NetBSD 8's; the DIOC* numbers kemu defines are
unchanged between them).  Notices in LICENSE.NetBSD.

Deviations: only the DTYPE_*, FS_* and D_* values kemu's drivers use are
defined; ``partinfo`` holds references, not pointers (above); ioctl
numbers are computed from the ctypes sizes (DIOCGPART and DIOCSBAD from
fixed sizes standing for the C structures); ``dkcksum_sized`` and the
DKW_PTYPE_* bytes strings are kemu's forms of dkcksum() and the wedge
type strings.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.errno import EINVAL
from kern.ioccom import _IO, _IOR, _IOW, _IOWR
from kern.types_dev import makedev, minor

# ------------------------------------------------------ sys/disklabel.h

MAXPARTITIONS = 16  # amd64
RAW_PART = 3  # the whole disk: partition "d" on amd64
LABELSECTOR = 1
LABELOFFSET = 0

DISKMAGIC = 0x82564557  # the disk magic number

NDDATA = 5
NSPARE = 5


def DISKUNIT(dev: int) -> int:
    """The unit number of disk device ``dev``."""
    return minor(dev) // MAXPARTITIONS


def DISKPART(dev: int) -> int:
    """The partition index of disk device ``dev``."""
    return minor(dev) % MAXPARTITIONS


def DISKMINOR(unit: int, part: int) -> int:
    return unit * MAXPARTITIONS + part


def MAKEDISKDEV(maj: int, unit: int, part: int) -> int:
    return makedev(maj, DISKMINOR(unit, part))


# d_type values
DTYPE_UNKNOWN = 0
DTYPE_SCSI = 4
DTYPE_FLOPPY = 10
DTYPE_VND = 12
DTYPE_LD = 15
DTYPE_CGD = 17
DTYPE_DM = 20
DTYPE_RUMPD = 21
DTYPE_MD = 22

# p_fstype values
FS_UNUSED = 0
FS_SWAP = 1
FS_BSDFFS = 7
FS_MSDOS = 8
FS_OTHER = 10
FS_ISO9660 = 12
FS_EX2FS = 17

# d_flags
D_REMOVABLE = 0x01
D_ECC = 0x02
D_BADSECT = 0x04
D_RAMDISK = 0x08
D_CHAIN = 0x10


class partition(ctypes.Structure):
    """struct partition: one entry of a disklabel's partition table."""

    _fields_ = [
        ("p_size", ctypes.c_uint32),    # sectors in the partition
        ("p_offset", ctypes.c_uint32),  # first sector
        ("p_fsize", ctypes.c_uint32),   # file system fragment size (union with cdsession)
        ("p_fstype", ctypes.c_uint8),
        ("p_frag", ctypes.c_uint8),
        ("p_cpg", ctypes.c_uint16),     # union with p_sgs
    ]


class _d_un(ctypes.Union):
    _fields_ = [
        ("un_d_packname", ctypes.c_char * 16),
        ("un_d_boot", ctypes.c_uint64 * 2),  # two char pointers in C
        ("un_d_pad", ctypes.c_uint64),        # forces 8-byte alignment
    ]


class disklabel(ctypes.Structure):
    """struct disklabel (LP64, MAXPARTITIONS 16: 408 bytes)."""

    _fields_ = [
        ("d_magic", ctypes.c_uint32),
        ("d_type", ctypes.c_uint16),
        ("d_subtype", ctypes.c_uint16),
        ("d_typename", ctypes.c_char * 16),
        ("d_un", _d_un),
        ("d_secsize", ctypes.c_uint32),
        ("d_nsectors", ctypes.c_uint32),
        ("d_ntracks", ctypes.c_uint32),
        ("d_ncylinders", ctypes.c_uint32),
        ("d_secpercyl", ctypes.c_uint32),
        ("d_secperunit", ctypes.c_uint32),
        ("d_sparespertrack", ctypes.c_uint16),
        ("d_sparespercyl", ctypes.c_uint16),
        ("d_acylinders", ctypes.c_uint32),
        ("d_rpm", ctypes.c_uint16),
        ("d_interleave", ctypes.c_uint16),
        ("d_trackskew", ctypes.c_uint16),
        ("d_cylskew", ctypes.c_uint16),
        ("d_headswitch", ctypes.c_uint32),
        ("d_trkseek", ctypes.c_uint32),
        ("d_flags", ctypes.c_uint32),
        ("d_drivedata", ctypes.c_uint32 * NDDATA),
        ("d_spare", ctypes.c_uint32 * NSPARE),
        ("d_magic2", ctypes.c_uint32),
        ("d_checksum", ctypes.c_uint16),
        ("d_npartitions", ctypes.c_uint16),
        ("d_bbsize", ctypes.c_uint32),
        ("d_sbsize", ctypes.c_uint32),
        ("d_partitions", partition * MAXPARTITIONS),
    ]

    @property
    def d_packname(self) -> bytes:
        return self.d_un.un_d_packname

    @d_packname.setter
    def d_packname(self, v: bytes) -> None:
        self.d_un.un_d_packname = v


def dkcksum_sized(lp: disklabel, npartitions: int) -> int:
    """XOR of the label's 16-bit words up to partition ``npartitions``."""
    end = disklabel.d_partitions.offset + npartitions * ctypes.sizeof(partition)
    raw = bytes(lp)[:end]
    s = 0
    for i in range(0, len(raw) - 1, 2):
        s ^= raw[i] | (raw[i + 1] << 8)
    return s


def dkcksum(lp: disklabel) -> int:
    """The checksum a label carries in d_checksum (computed with d_checksum 0)."""
    return dkcksum_sized(lp, lp.d_npartitions)


class partinfo:
    """struct partinfo (kernel only): where DIOCGPART points into a disk's label."""

    __slots__ = ("disklab", "part")

    _c_sizeof = 16  # two pointers on LP64

    def __init__(self) -> None:
        self.disklab: disklabel | None = None
        self.part: partition | None = None


# ------------------------------------------------------------ sys/disk.h

class dkwedge_info(ctypes.Structure):
    """struct dkwedge_info: a wedge's place on its parent disk (208 bytes)."""

    _fields_ = [
        ("dkw_devname", ctypes.c_char * 16),  # "dk0"
        ("dkw_wname", ctypes.c_uint8 * 128),  # wedge name, UTF-8
        ("dkw_parent", ctypes.c_char * 16),   # parent disk name
        ("dkw_offset", ctypes.c_int64),       # LBA offset in the parent
        ("dkw_size", ctypes.c_uint64),        # size in blocks
        ("dkw_ptype", ctypes.c_char * 32),    # partition type string
    ]


class dkwedge_list(ctypes.Structure):
    _fields_ = [
        ("dkwl_buf", ctypes.c_uint64),  # user pointer
        ("dkwl_bufsize", ctypes.c_uint64),
        ("dkwl_nwedges", ctypes.c_uint),
        ("dkwl_ncopied", ctypes.c_uint),
    ]


DK_STRATEGYNAMELEN = 32


class disk_strategy(ctypes.Structure):
    _fields_ = [
        ("dks_name", ctypes.c_char * DK_STRATEGYNAMELEN),
        ("dks_param", ctypes.c_uint64),  # user pointer
        ("dks_paramlen", ctypes.c_uint64),
    ]


class plistref(ctypes.Structure):
    _fields_ = [("pref_plist", ctypes.c_uint64), ("pref_len", ctypes.c_uint64)]


class format_op(ctypes.Structure):
    _fields_ = [
        ("df_buf", ctypes.c_uint64),
        ("df_count", ctypes.c_int),
        ("df_startblk", ctypes.c_int64),
        ("df_reg", ctypes.c_int * 8),
    ]


# Partition type strings of wedges (DKW_PTYPE_*)
DKW_PTYPE_UNKNOWN = b""
DKW_PTYPE_UNUSED = b"unused"
DKW_PTYPE_SWAP = b"swap"
DKW_PTYPE_FFS = b"ffs"
DKW_PTYPE_EXT2FS = b"ext2fs"

# ------------------------------------------------------------- sys/dkio.h

off_t = ctypes.c_int64
u_int = ctypes.c_uint

DIOCGDINFO = _IOR('d', 101, disklabel)        # get the in-core label
DIOCSDINFO = _IOW('d', 102, disklabel)        # set it
DIOCWDINFO = _IOW('d', 103, disklabel)        # set it and write it to disk
DIOCGPART = _IOW('d', 104, partinfo._c_sizeof)  # kernel only: partition info
DIOCRFORMAT = _IOWR('d', 105, format_op)
DIOCWFORMAT = _IOWR('d', 106, format_op)
DIOCSSTEP = _IOW('d', 107, ctypes.c_int)
DIOCSRETRIES = _IOW('d', 108, ctypes.c_int)
DIOCWLABEL = _IOW('d', 109, ctypes.c_int)     # write-enable the label area
DIOCSBAD = _IOW('d', 110, 512)                # struct dkbad (not used)
DIOCEJECT = _IOW('d', 112, ctypes.c_int)
DIOCLOCK = _IOW('d', 113, ctypes.c_int)
DIOCGDEFLABEL = _IOR('d', 114, disklabel)
DIOCCLRLABEL = _IO('d', 115)
DIOCGCACHE = _IOR('d', 116, ctypes.c_int)
DIOCSCACHE = _IOW('d', 117, ctypes.c_int)
DIOCCACHESYNC = _IOW('d', 118, ctypes.c_int)
DIOCKLABEL = _IOW('d', 119, ctypes.c_int)
DIOCBSFLUSH = _IO('d', 120)
DIOCAWEDGE = _IOWR('d', 121, dkwedge_info)
DIOCGWEDGEINFO = _IOR('d', 122, dkwedge_info)
DIOCDWEDGE = _IOW('d', 123, dkwedge_info)
DIOCLWEDGES = _IOWR('d', 124, dkwedge_list)
DIOCGSTRATEGY = _IOR('d', 125, disk_strategy)
DIOCSSTRATEGY = _IOW('d', 126, disk_strategy)
DIOCGDISKINFO = _IOR('d', 127, plistref)
DIOCTUR = _IOR('d', 128, ctypes.c_int)
DIOCMWEDGES = _IOR('d', 131, ctypes.c_int)
DIOCGMEDIASIZE = _IOR('d', 132, off_t)         # media size in bytes
DIOCGSECTORSIZE = _IOR('d', 133, u_int)        # sector size in bytes
DIOCRMWEDGES = _IOR('d', 134, ctypes.c_int)

DKCACHE_READ = 0x000001
DKCACHE_WRITE = 0x000002
DKCACHE_RCHANGE = 0x000100
DKCACHE_WCHANGE = 0x000200
DKCACHE_SAVE = 0x010000


def ioctl_store(data: Any, ctype: Any, value: int) -> int:
    """``*(T *)data = value`` for an ioctl argument buffer; 0, or EINVAL if it cannot hold it."""
    if isinstance(data, ctype):
        data.value = value
        return 0
    try:
        ctype.from_buffer(data).value = value
    except (TypeError, ValueError):
        return EINVAL
    return 0
