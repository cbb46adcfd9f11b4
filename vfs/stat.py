"""File modes and ``struct stat`` (sys/stat.h, NetBSD LP64 layout).

After ``$NetBSD: stat.h,v 1.63.12.4 2014/08/20 tls$`` (sys/sys/stat.h, the
stored revision; struct stat, the S_* modes and the chflags values read the
same in NetBSD 8).  The values and the field order are NetBSD's; the
structure is a ctypes.Structure with the native (amd64 LP64) alignment, so
its bytes are what NetBSD's struct stat holds.

Deviations: the time fields are named ``st_atimespec``... (NetBSD's
_NETBSD_SOURCE aliases of st_atim...), and ``st_atime``, ``st_mtime`` and
``st_ctime`` are read-only properties (no st_birthtime or *nsec
aliases); only the chflags flags kemu uses are defined (no UF_SETTABLE,
UF_OPAQUE, SF_SETTABLE, SF_LOG, SF_SNAPINVAL), and S_ISWHT, S_ARCH1/2,
S_IREAD/S_IWRITE/S_IEXEC, S_BLKSIZE and UTIME_NOW/UTIME_OMIT are left out.
"""

from __future__ import annotations

import ctypes

from kern.kern_time import timespec

S_IFMT = 0o170000
S_IFIFO = 0o010000
S_IFCHR = 0o020000
S_IFDIR = 0o040000
S_IFBLK = 0o060000
S_IFREG = 0o100000
S_IFLNK = 0o120000
S_IFSOCK = 0o140000
S_IFWHT = 0o160000
S_ISUID = 0o004000
S_ISGID = 0o002000
S_ISTXT = 0o001000
S_ISVTX = S_ISTXT
S_IRWXU = 0o000700
S_IRUSR = 0o000400
S_IWUSR = 0o000200
S_IXUSR = 0o000100
S_IRWXG = 0o000070
S_IRGRP = 0o000040
S_IWGRP = 0o000020
S_IXGRP = 0o000010
S_IRWXO = 0o000007
S_IROTH = 0o000004
S_IWOTH = 0o000002
S_IXOTH = 0o000001
ALLPERMS = S_ISUID | S_ISGID | S_ISTXT | S_IRWXU | S_IRWXG | S_IRWXO
ACCESSPERMS = S_IRWXU | S_IRWXG | S_IRWXO
DEFFILEMODE = 0o666

# chflags(2) flags
UF_NODUMP = 0x00000001
UF_IMMUTABLE = 0x00000002
UF_APPEND = 0x00000004
SF_ARCHIVED = 0x00010000
SF_IMMUTABLE = 0x00020000
SF_APPEND = 0x00040000
SF_SNAPSHOT = 0x00200000


def S_ISDIR(m: int) -> bool:
    return m & S_IFMT == S_IFDIR


def S_ISREG(m: int) -> bool:
    return m & S_IFMT == S_IFREG


def S_ISLNK(m: int) -> bool:
    return m & S_IFMT == S_IFLNK


def S_ISBLK(m: int) -> bool:
    return m & S_IFMT == S_IFBLK


def S_ISCHR(m: int) -> bool:
    return m & S_IFMT == S_IFCHR


def S_ISFIFO(m: int) -> bool:
    return m & S_IFMT == S_IFIFO


def S_ISSOCK(m: int) -> bool:
    return m & S_IFMT == S_IFSOCK


class stat(ctypes.Structure):
    """struct stat."""

    _fields_ = [
        ("st_dev", ctypes.c_uint64),
        ("st_mode", ctypes.c_uint32),
        ("st_ino", ctypes.c_uint64),
        ("st_nlink", ctypes.c_uint32),
        ("st_uid", ctypes.c_uint32),
        ("st_gid", ctypes.c_uint32),
        ("st_rdev", ctypes.c_uint64),
        ("st_atimespec", timespec),
        ("st_mtimespec", timespec),
        ("st_ctimespec", timespec),
        ("st_birthtimespec", timespec),
        ("st_size", ctypes.c_int64),
        ("st_blocks", ctypes.c_int64),
        ("st_blksize", ctypes.c_int32),
        ("st_flags", ctypes.c_uint32),
        ("st_gen", ctypes.c_uint32),
        ("st_spare", ctypes.c_uint32 * 2),
    ]

    @property
    def st_atime(self) -> int:
        return self.st_atimespec.tv_sec

    @property
    def st_mtime(self) -> int:
        return self.st_mtimespec.tv_sec

    @property
    def st_ctime(self) -> int:
        return self.st_ctimespec.tv_sec

    def __repr__(self) -> str:
        return (f"<stat dev={self.st_dev:#x} ino={self.st_ino} mode={self.st_mode:o} "
                f"nlink={self.st_nlink} size={self.st_size} rdev={self.st_rdev:#x}>")
