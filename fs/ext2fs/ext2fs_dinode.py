"""The ext2 on-disk inode (ufs/ext2fs/ext2fs_dinode.h).

``ext2fs_dinode`` has the on-disk layout of an inode of a revision 1 file
system with ``e2fs_inode_size`` >= 160: the 128 bytes every ext2 inode has,
then the "extra" part (``e2di_extra_isize`` says how much of it is in use)
with nanosecond times and the creation time.  Inodes of 128 bytes simply
end before the extra part.

After ``$NetBSD: ext2fs_dinode.h,v 1.37 2017/01/13 christos$`` (the stored
revision of the NetBSD 8 era): the layout of struct ext2fs_dinode, the
reserved inode numbers, modes, EXT2_* flags, EXT2_DINODE_SIZE and
EXT2_DINODE_FITS.  The i_e2fs_* macros are in ufs_inode.py.  Notices in
LICENSE.NetBSD.

Deviations:

* ``EXT2_DINODE_FITS`` also answers True for a field inside the first 128
  bytes (NetBSD's is false whenever the inode is only 128 bytes; it is
  only asked about *_extra fields there).
* ``EXT2_DINODE_TIME_EXTRA``/``EXT2_DINODE_TIME_GET`` are functions on
  values (NetBSD: ext2fs_dinode_time_set/get through a timespec).  The
  epoch bits are Linux's encoding, (sec - (int32)sec) >> 32 (NetBSD:
  (sec >> 32) & 3, which differs before 1970), are added to the signed
  seconds (NetBSD ORs them), and a nanosecond value of 10^9 or more
  reads as 0; NetBSD's reading of epoch bits 3 on a negative time as 0
  (for old Linux kernels) is not made.
* EXT2_EOFBLOCKS and EXT2_PROJINHERIT are not defined; e2fs_iload/isave
  are plain byte copies (the structure is little-endian).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from .ext2fs import E2FS_REV0

if TYPE_CHECKING:
    from .ext2fs import m_ext2fs

# Reserved inode numbers
EXT2_BADBLKINO = 1
EXT2_ROOTINO = 2
EXT2_ACLIDXINO = 3
EXT2_ACLDATAINO = 4
EXT2_BOOTLOADERINO = 5
EXT2_UNDELDIRINO = 6
EXT2_RESIZEINO = 7
EXT2_JOURNALINO = 8
EXT2_FIRSTINO = 11

EXT2_REV0_DINODE_SIZE = 128

# Direct and indirect block pointers in e2di_blocks
NDADDR = 12
NIADDR = 3
EXT2FS_NDADDR = NDADDR
EXT2FS_NIADDR = NIADDR
EXT2_NDIR_BLOCKS = NDADDR
EXT2_IND_BLOCK = NDADDR
EXT2_DIND_BLOCK = NDADDR + 1
EXT2_TIND_BLOCK = NDADDR + 2
EXT2_N_BLOCKS = NDADDR + NIADDR

# A symlink target shorter than this lives in e2di_blocks ("fast" symlink).
EXT2_MAXSYMLINKLEN = EXT2_N_BLOCKS * 4

# e2di_mode
EXT2_IFMT = 0o170000
EXT2_IFIFO = 0o010000
EXT2_IFCHR = 0o020000
EXT2_IFDIR = 0o040000
EXT2_IFBLK = 0o060000
EXT2_IFREG = 0o100000
EXT2_IFLNK = 0o120000
EXT2_IFSOCK = 0o140000
EXT2_ISUID = 0o004000
EXT2_ISGID = 0o002000
EXT2_ISVTX = 0o001000
EXT2_IREAD = 0o000400
EXT2_IWRITE = 0o000200
EXT2_IEXEC = 0o000100

# e2di_flags
EXT2_SECRM = 0x00000001
EXT2_UNRM = 0x00000002
EXT2_COMPR = 0x00000004
EXT2_SYNC = 0x00000008
EXT2_IMMUTABLE = 0x00000010
EXT2_APPEND = 0x00000020
EXT2_NODUMP = 0x00000040
EXT2_NOATIME = 0x00000080
EXT2_INDEX = 0x00001000
EXT2_IMAGIC = 0x00002000
EXT2_JOURNAL_DATA = 0x00004000
EXT2_NOTAIL = 0x00008000
EXT2_DIRSYNC = 0x00010000
EXT2_TOPDIR = 0x00020000
EXT2_HUGE_FILE = 0x00040000
EXT2_EXTENTS = 0x00080000
EXT2_EA_INODE = 0x00200000
EXT2_INLINE_DATA = 0x10000000

u16, u32 = ctypes.c_uint16, ctypes.c_uint32


class ext2fs_dinode(ctypes.LittleEndianStructure):
    """struct ext2fs_dinode."""

    _pack_ = 1
    _fields_ = [
        ("e2di_mode", u16),          # file type and permissions
        ("e2di_uid", u16),           # owner, low 16 bits
        ("e2di_size", u32),          # size, low 32 bits
        ("e2di_atime", u32),         # access time
        ("e2di_ctime", u32),         # inode change time
        ("e2di_mtime", u32),         # data modification time
        ("e2di_dtime", u32),         # deletion time
        ("e2di_gid", u16),           # group, low 16 bits
        ("e2di_nlink", u16),         # link count
        ("e2di_nblock", u32),        # DEV_BSIZE blocks held, indirect ones included
        ("e2di_flags", u32),         # EXT2_* flags
        ("e2di_version", u32),
        ("e2di_blocks", u32 * EXT2_N_BLOCKS),  # block pointers (or a fast symlink)
        ("e2di_gen", u32),           # generation number (NFS)
        ("e2di_facl", u32),          # extended attribute block
        ("e2di_size_high", u32),     # size, high 32 bits (large_file)
        ("e2di_obso_faddr", u32),
        ("e2di_nblock_high", u16),
        ("e2di_facl_high", u16),
        ("e2di_uid_high", u16),
        ("e2di_gid_high", u16),
        ("e2di_checksum_low", u16),
        ("e2di_reserved", u16),
        # the extra part of large inodes
        ("e2di_extra_isize", u16),
        ("e2di_checksum_high", u16),
        ("e2di_ctime_extra", u32),   # nanoseconds << 2 | epoch bits
        ("e2di_mtime_extra", u32),
        ("e2di_atime_extra", u32),
        ("e2di_crtime", u32),        # creation time
        ("e2di_crtime_extra", u32),
        ("e2di_version_high", u32),
        ("e2di_projid", u32),
    ]


EXT2_DINODE_MAXSIZE = ctypes.sizeof(ext2fs_dinode)
assert EXT2_DINODE_MAXSIZE == 160

# Nanosecond times: the extra words keep nsec in their top 30 bits and two
# bits that extend the seconds beyond 2038.
EXT3_NSEC_MASK = ~0x3 & 0xffffffff
EXT3_EPOCH_MASK = 0x3


def EXT2_DINODE_SIZE(fs: m_ext2fs) -> int:
    """Size of one inode in the inode tables of ``fs``."""
    return fs.e2fs.e2fs_inode_size if fs.e2fs.e2fs_rev > E2FS_REV0 else EXT2_REV0_DINODE_SIZE


# Where each field of struct ext2fs_dinode ends (offsetof + sizeof), made once:
# EXT2_DINODE_FITS looks its field up here instead of in the ctypes class.
_FIELD_END = {name: getattr(ext2fs_dinode, name).offset + getattr(ext2fs_dinode, name).size
              for name, *_ in ext2fs_dinode._fields_}


def EXT2_DINODE_FITS(dp: ext2fs_dinode, field: str, isize: int) -> bool:
    """Is ``field`` inside the part of this inode that is in use?"""
    end = _FIELD_END[field]
    if end <= EXT2_REV0_DINODE_SIZE:
        return True
    if isize <= EXT2_REV0_DINODE_SIZE:
        return False
    return end <= EXT2_REV0_DINODE_SIZE + dp.e2di_extra_isize


def EXT2_DINODE_TIME_EXTRA(sec: int, nsec: int) -> int:
    """The extra word for a time: nanoseconds and the epoch bits of the seconds."""
    s32 = sec & 0xffffffff
    s32 -= (s32 & 0x80000000) << 1  # (the 32-bit seconds as an int32, without a ctypes object)
    epoch = ((sec - s32) >> 32) & EXT3_EPOCH_MASK
    return ((nsec << 2) & EXT3_NSEC_MASK) | epoch


def EXT2_DINODE_TIME_GET(sec32: int, extra: int | None) -> tuple[int, int]:
    """(sec, nsec) from the 32-bit seconds and the extra word (None: no extra)."""
    sec = ctypes.c_int32(sec32).value
    if extra is None:
        return sec, 0
    sec += (extra & EXT3_EPOCH_MASK) << 32
    nsec = (extra & EXT3_NSEC_MASK) >> 2
    if nsec >= 1_000_000_000:
        nsec = 0
    return sec, nsec
