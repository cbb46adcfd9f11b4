"""Open and fcntl flags (sys/fcntl.h, NetBSD 8), and the descriptor flags of sys/file.h.

The user's ``O_*`` flags and the kernel's ``F*`` file flags are the same
bits except for the access mode: ``O_RDONLY``/``O_WRONLY``/``O_RDWR`` are
0/1/2, while the kernel keeps separate ``FREAD`` (1) and ``FWRITE`` (2) bits.
``FFLAGS`` and ``OFLAGS`` convert by adding or subtracting one, as NetBSD does.
Values are NetBSD's, never the host's.
"""

from __future__ import annotations

import ctypes

# Access modes, given to open(2) only.
O_RDONLY = 0x00000000
O_WRONLY = 0x00000001
O_RDWR = 0x00000002
O_ACCMODE = 0x00000003

# The kernel's separate read and write bits (one more than the access mode).
FREAD = 0x00000001
FWRITE = 0x00000002

O_NONBLOCK = 0x00000004
O_APPEND = 0x00000008
O_SHLOCK = 0x00000010
O_EXLOCK = 0x00000020
O_ASYNC = 0x00000040
O_SYNC = 0x00000080
O_NOFOLLOW = 0x00000100
O_CREAT = 0x00000200
O_TRUNC = 0x00000400
O_EXCL = 0x00000800
O_NOCTTY = 0x00008000
O_DSYNC = 0x00010000
O_RSYNC = 0x00020000
O_ALT_IO = 0x00040000
O_DIRECT = 0x00080000
O_DIRECTORY = 0x00200000
O_CLOEXEC = 0x00400000
O_SEARCH = 0x00800000
O_NOSIGPIPE = 0x01000000


def FFLAGS(oflags: int) -> int:
    """open(2) flags to kernel file flags (O_RDONLY becomes FREAD, ...)."""
    return oflags + 1


def OFLAGS(fflags: int) -> int:
    """Kernel file flags back to open(2) flags."""
    return fflags - 1


# Everything open(2) may be given.
O_MASK = (O_ACCMODE | O_NONBLOCK | O_APPEND | O_SHLOCK | O_EXLOCK | O_ASYNC | O_SYNC
          | O_CREAT | O_TRUNC | O_EXCL | O_DSYNC | O_RSYNC | O_NOCTTY | O_ALT_IO
          | O_NOFOLLOW | O_DIRECT | O_DIRECTORY | O_CLOEXEC | O_NOSIGPIPE)

# Kernel-only f_flag bits.
FMARK = 0x00001000
FDEFER = 0x00002000
FHASLOCK = 0x00004000
FSCAN = 0x00100000
FSILENT = 0x40000000
FKIOCTL = 0x80000000

# The F* names of the status flags, as the kernel spells them.
FAPPEND = O_APPEND
FASYNC = O_ASYNC
O_FSYNC = O_SYNC
FNDELAY = O_NONBLOCK
O_NDELAY = O_NONBLOCK
FNONBLOCK = O_NONBLOCK
FFSYNC = O_SYNC
FDSYNC = O_DSYNC
FRSYNC = O_RSYNC
FALTIO = O_ALT_IO
FDIRECT = O_DIRECT
FNOSIGPIPE = O_NOSIGPIPE

# What fcntl(F_SETFL) may change, and what a file keeps after open(2).
FCNTLFLAGS = (FAPPEND | FASYNC | FFSYNC | FNONBLOCK | FDSYNC | FRSYNC | FALTIO | FDIRECT
              | FNOSIGPIPE)
FMASK = FREAD | FWRITE | FCNTLFLAGS

# fcntl(2) commands.
F_DUPFD = 0
F_GETFD = 1
F_SETFD = 2
F_GETFL = 3
F_SETFL = 4
F_GETOWN = 5
F_SETOWN = 6
F_GETLK = 7
F_SETLK = 8
F_SETLKW = 9
F_CLOSEM = 10
F_MAXFD = 11
F_DUPFD_CLOEXEC = 12
F_GETNOSIGPIPE = 13
F_SETNOSIGPIPE = 14

# F_GETFD / F_SETFD
FD_CLOEXEC = 1

# Record locks
F_RDLCK = 1
F_UNLCK = 2
F_WRLCK = 3
F_WAIT = 0x010
F_FLOCK = 0x020
F_POSIX = 0x040


class flock(ctypes.Structure):
    """struct flock (sys/fcntl.h), LP64: the argument of F_GETLK/F_SETLK/F_SETLKW."""

    _fields_ = [("l_start", ctypes.c_int64), ("l_len", ctypes.c_int64),
                ("l_pid", ctypes.c_int32), ("l_type", ctypes.c_int16),
                ("l_whence", ctypes.c_int16)]


# fcntl commands that go to the file system, encoded like ioctls.
F_PARAM_MASK = 0xfff
F_PARAM_MAX = 4095
F_FSCTL = 0x80000000
F_FSVOID = 0x40000000
F_FSOUT = 0x20000000
F_FSIN = 0x10000000
F_FSINOUT = F_FSIN | F_FSOUT
F_FSDIRMASK = 0x70000000
F_FSPRIV = 0x00008000


def F_PARAM_LEN(x: int) -> int:
    return (x >> 16) & F_PARAM_MASK


# flock(2)
LOCK_SH = 0x01
LOCK_EX = 0x02
LOCK_NB = 0x04
LOCK_UN = 0x08

# lseek(2)
SEEK_SET = 0
SEEK_CUR = 1
SEEK_END = 2

# The *at() family
AT_FDCWD = -100
AT_EACCESS = 0x100
AT_SYMLINK_NOFOLLOW = 0x200
AT_SYMLINK_FOLLOW = 0x400
AT_REMOVEDIR = 0x800

# Descriptor types (sys/file.h)
DTYPE_VNODE = 1
DTYPE_SOCKET = 2
DTYPE_PIPE = 3
DTYPE_KQUEUE = 4
DTYPE_MISC = 5
DTYPE_CRYPTO = 6
DTYPE_MQUEUE = 7
DTYPE_SEM = 8
DTYPE_NAMES = ("0", "file", "socket", "pipe", "kqueue", "misc", "crypto", "mqueue",
               "semaphore")

# Flags of fo_read / fo_write and dofileread / dofilewrite (sys/file.h)
FOF_UPDATE_OFFSET = 0x0001
FOF_IOV_SYSSPACE = 0x0100
