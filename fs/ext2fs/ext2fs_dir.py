"""ext2 directory entries (ufs/ext2fs/ext2fs_dir.h).

A directory is a file of blocks; each block holds variable-length entries
that never cross a block boundary and whose record lengths add up to the
block size.  An entry is: inode number (0: unused), record length, name
length, file type (with the filetype feature; on revision 0 file systems
that byte is the high half of a 16-bit name length), then the name, not
NUL-terminated, padded to a multiple of 4.

After ``$NetBSD: ext2fs_dir.h,v 1.22.46.1 2024/08/23$`` (the stored
revision, a branch of 1.22 whose definitions used here are NetBSD 8's):
EXT2FS_MAXNAMLEN, struct ext2fs_direct, the EXT2_FT_* values,
EXT2FS_DIRSIZ, EXT2_DIR_PAD/ROUND, inot2ext2dt, ext2dt2dt and the
"."/".." template.  Notices in LICENSE.NetBSD.

Deviations: entries are read and written as packed little-endian bytes at
an offset in a block (``ext2fs_dirent_get``/``_put``/``_set_*``, kemu's
helpers) rather than through a struct pointer; ``inot2ext2dt`` takes the
inode's mode (NetBSD's takes IFTODT of it); ``ext2fs_dirtemplate`` is a
class that builds the whole first block of a new directory; no doff_t,
EXT2FS_MAXDIRSIZE or searchslot (kemu's lookup records no slot).
"""

from __future__ import annotations

import ctypes
import struct

from vfs.dirent import (
    DT_BLK,
    DT_CHR,
    DT_DIR,
    DT_FIFO,
    DT_LNK,
    DT_REG,
    DT_SOCK,
    DT_UNKNOWN,
)

EXT2FS_MAXNAMLEN = 255
EXT2FS_LINK_MAX = 32000  # LINK_MAX of ext2 (EXT2_LINK_MAX)

# e2d_type values (with EXT2F_INCOMPAT_FTYPE)
EXT2_FT_UNKNOWN = 0
EXT2_FT_REG_FILE = 1
EXT2_FT_DIR = 2
EXT2_FT_CHRDEV = 3
EXT2_FT_BLKDEV = 4
EXT2_FT_FIFO = 5
EXT2_FT_SOCK = 6
EXT2_FT_SYMLINK = 7
EXT2_FT_MAX = 8

# Directory blocks of a hashed (dir_index) directory carry a tail entry
# only with metadata_csum, which this implementation refuses.

EXT2_DIR_PAD = 4
EXT2_DIR_ROUND = EXT2_DIR_PAD - 1

_HDR = struct.Struct("<IHBB")
EXT2FS_DIRHDRSIZE = _HDR.size  # 8


class ext2fs_direct(ctypes.LittleEndianStructure):
    """struct ext2fs_direct (the fixed part; the name follows it)."""

    _pack_ = 1
    _fields_ = [
        ("e2d_ino", ctypes.c_uint32),     # inode number of the entry (0: free)
        ("e2d_reclen", ctypes.c_uint16),  # length of this record
        ("e2d_namlen", ctypes.c_uint8),   # length of the name
        ("e2d_type", ctypes.c_uint8),     # file type
    ]


def EXT2FS_DIRSIZ(namlen: int) -> int:
    """Bytes an entry with a name of ``namlen`` bytes needs."""
    return (EXT2FS_DIRHDRSIZE + namlen + EXT2_DIR_ROUND) & ~EXT2_DIR_ROUND


# ext2fs_dirent_get(buf, off) -> (e2d_ino, e2d_reclen, e2d_namlen, e2d_type) of the
# entry at ``off``: the Struct's own unpack_from, bound once (a directory walk
# reads every entry's header; a wrapper would be one Python call more each).
ext2fs_dirent_get = _HDR.unpack_from


def ext2fs_dirent_put(buf: bytearray | memoryview, off: int, ino: int, reclen: int,
                      name: bytes, ftype: int) -> None:
    """Write a whole entry (header and name) at ``off``."""
    _HDR.pack_into(buf, off, ino, reclen, len(name), ftype)
    buf[off + EXT2FS_DIRHDRSIZE:off + EXT2FS_DIRHDRSIZE + len(name)] = name


def ext2fs_dirent_set_reclen(buf: bytearray | memoryview, off: int, reclen: int) -> None:
    struct.pack_into("<H", buf, off + 4, reclen)


def ext2fs_dirent_set_ino(buf: bytearray | memoryview, off: int, ino: int) -> None:
    struct.pack_into("<I", buf, off, ino)


def ext2fs_dirent_set_type(buf: bytearray | memoryview, off: int, ftype: int) -> None:
    struct.pack_into("<B", buf, off + 7, ftype)


# Conversions between file types --------------------------------------------

_IFTOEXT2DT = {
    0o010000: EXT2_FT_FIFO, 0o020000: EXT2_FT_CHRDEV, 0o040000: EXT2_FT_DIR,
    0o060000: EXT2_FT_BLKDEV, 0o100000: EXT2_FT_REG_FILE, 0o120000: EXT2_FT_SYMLINK,
    0o140000: EXT2_FT_SOCK,
}

_EXT2DTTODT = {
    EXT2_FT_UNKNOWN: DT_UNKNOWN, EXT2_FT_REG_FILE: DT_REG, EXT2_FT_DIR: DT_DIR,
    EXT2_FT_CHRDEV: DT_CHR, EXT2_FT_BLKDEV: DT_BLK, EXT2_FT_FIFO: DT_FIFO,
    EXT2_FT_SOCK: DT_SOCK, EXT2_FT_SYMLINK: DT_LNK,
}


def inot2ext2dt(mode: int) -> int:
    """The e2d_type for an inode of mode ``mode``."""
    return _IFTOEXT2DT.get(mode & 0o170000, EXT2_FT_UNKNOWN)


def ext2dt2dt(ftype: int) -> int:
    """The getdents d_type for an e2d_type."""
    return _EXT2DTTODT.get(ftype, DT_UNKNOWN)


class ext2fs_dirtemplate:
    """The "." and ".." entries a new directory starts with (struct ext2fs_dirtemplate)."""

    __slots__ = ("dot_ino", "dotdot_ino", "dot_type")

    def __init__(self, dot_ino: int, dotdot_ino: int, dot_type: int) -> None:
        self.dot_ino = dot_ino
        self.dotdot_ino = dotdot_ino
        self.dot_type = dot_type

    def build(self, bsize: int) -> bytearray:
        """The first block of the new directory."""
        b = bytearray(bsize)
        ext2fs_dirent_put(b, 0, self.dot_ino, 12, b".", self.dot_type)
        ext2fs_dirent_put(b, 12, self.dotdot_ino, bsize - 12, b"..", self.dot_type)
        return b
