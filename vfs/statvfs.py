"""struct statvfs (sys/statvfs.h, NetBSD 8, LP64): what statvfs(2) and getvfsstat(2) fill in.

A header with no kernel code, so that userland (libc, a puffs server in another
OS process) can use the structure without importing the VFS.  vfs.mount
re-exports it with the ``ST_*`` flags, which are mount flags (sys/fstypes.h).

After ``$NetBSD: statvfs.h,v 1.18 2013/04/05$`` (the stored revision, the
one NetBSD 8 ships): field order and types, _VFS_NAMELEN 32 and
_VFS_MNAMELEN 1024, laid out with amd64's native (LP64) alignment.
Deviations: only the structure (and fsid_t) is here: no ST_* flags (see
above), no VFS_NAMELEN/VFS_MNAMELEN aliases and no prototypes.
"""

from __future__ import annotations

import ctypes

_VFS_NAMELEN = 32
_VFS_MNAMELEN = 1024


class fsid_t(ctypes.Structure):
    _fields_ = [("__fsid_val", ctypes.c_int32 * 2)]


class statvfs(ctypes.Structure):
    """struct statvfs (NetBSD 8, LP64)."""

    _fields_ = [
        ("f_flag", ctypes.c_ulong),
        ("f_bsize", ctypes.c_ulong),
        ("f_frsize", ctypes.c_ulong),
        ("f_iosize", ctypes.c_ulong),
        ("f_blocks", ctypes.c_uint64),
        ("f_bfree", ctypes.c_uint64),
        ("f_bavail", ctypes.c_uint64),
        ("f_bresvd", ctypes.c_uint64),
        ("f_files", ctypes.c_uint64),
        ("f_ffree", ctypes.c_uint64),
        ("f_favail", ctypes.c_uint64),
        ("f_fresvd", ctypes.c_uint64),
        ("f_syncreads", ctypes.c_uint64),
        ("f_syncwrites", ctypes.c_uint64),
        ("f_asyncreads", ctypes.c_uint64),
        ("f_asyncwrites", ctypes.c_uint64),
        ("f_fsidx", fsid_t),
        ("f_fsid", ctypes.c_ulong),
        ("f_namemax", ctypes.c_ulong),
        ("f_owner", ctypes.c_uint32),
        ("f_spare", ctypes.c_uint32 * 4),
        ("f_fstypename", ctypes.c_char * _VFS_NAMELEN),
        ("f_mntonname", ctypes.c_char * _VFS_MNAMELEN),
        ("f_mntfromname", ctypes.c_char * _VFS_MNAMELEN),
    ]
