"""ioctl command encoding (sys/ioccom.h 1.12) and the generic file ioctls (sys/filio.h).

A command word carries, from the top: the direction bits (IOC_VOID,
IOC_OUT, IOC_IN), 13 bits of argument length, an 8-bit group (usually a
letter) and an 8-bit command number.  sys_ioctl reads the direction and the
length to decide what to copy between user memory and the kernel buffer
handed to the driver.

``_IOR``/``_IOW``/``_IOWR`` take the argument type as a ctypes type (its
LP64 size is what counts, as ``sizeof(t)`` in C on amd64) or as a plain
byte count; the group may be a one-character string (``'F'``) or an int::

    FSSIOCSET = _IOW('F', 5, fss_set)     # 0x80184605
"""

from __future__ import annotations

import ctypes
from typing import Any

IOCPARM_MASK = 0x1fff
IOCPARM_SHIFT = 16
IOCGROUP_SHIFT = 8

# Largest argument sys_ioctl accepts (NBPG on amd64).
IOCPARM_MAX = 4096

IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000
IOC_INOUT = IOC_IN | IOC_OUT
IOC_DIRMASK = 0xe0000000


def IOCPARM_LEN(x: int) -> int:
    """The argument length encoded in command ``x``."""
    return (x >> IOCPARM_SHIFT) & IOCPARM_MASK


def IOCBASECMD(x: int) -> int:
    """Command ``x`` with its length field cleared."""
    return x & ~(IOCPARM_MASK << IOCPARM_SHIFT)


def IOCGROUP(x: int) -> int:
    """The group byte of command ``x``."""
    return (x >> IOCGROUP_SHIFT) & 0xff


def _group(g: int | str | bytes) -> int:
    if isinstance(g, (str, bytes)):
        if len(g) != 1:
            raise ValueError(f"ioctl group must be one character, not {g!r}")
        return ord(g)
    return int(g)


def _sizeof(t: Any) -> int:
    if isinstance(t, int):
        return t
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union, ctypes.Array,
                                              ctypes._SimpleCData, ctypes._Pointer)):
        return ctypes.sizeof(t)
    if isinstance(t, (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)):
        return ctypes.sizeof(t)
    raise TypeError(f"ioctl argument type must be a ctypes type or a size, not {t!r}")


def _IOC(inout: int, group: int | str, num: int, len: int) -> int:
    """Build a command word, exactly as the C macro does."""
    return inout | ((len & IOCPARM_MASK) << IOCPARM_SHIFT) | (_group(group) << IOCGROUP_SHIFT) \
        | num


def _IO(g: int | str, n: int) -> int:
    """A command without an argument."""
    return _IOC(IOC_VOID, g, n, 0)


def _IOR(g: int | str, n: int, t: Any) -> int:
    """A command whose argument the kernel copies out to the caller."""
    return _IOC(IOC_OUT, g, n, _sizeof(t))


def _IOW(g: int | str, n: int, t: Any) -> int:
    """A command whose argument the kernel copies in from the caller."""
    return _IOC(IOC_IN, g, n, _sizeof(t))


def _IOWR(g: int | str, n: int, t: Any) -> int:
    """A command whose argument goes in and comes back out."""
    return _IOC(IOC_INOUT, g, n, _sizeof(t))


def IOCSNPRINTF(cmd: int) -> str:
    """A name for a command, as the C macro prints it.

    The macro tests bit 30 (IOC_OUT) for "W" and bit 31 (IOC_IN) for "R", so
    an ``_IOW`` command prints as ``_IOR(...)``; kept as NetBSD has it.
    """
    w = "W" if (cmd >> 30) & 1 else ""
    r = "R" if (cmd >> 30) & 2 else ""
    return f"_IO{w}{r}('{chr(IOCGROUP(cmd))}', {cmd & 0xff})"


# Generic ioctls every file understands or passes on (sys/filio.h).
FIOCLEX = _IO('f', 1)                      # set close-on-exec on the descriptor
FIONCLEX = _IO('f', 2)                     # clear close-on-exec
FIOSEEKDATA = _IOWR('f', 97, ctypes.c_int64)
FIOSEEKHOLE = _IOWR('f', 98, ctypes.c_int64)
FIONSPACE = _IOR('f', 120, ctypes.c_int)
FIONWRITE = _IOR('f', 121, ctypes.c_int)
FIOGETBMAP = _IOWR('f', 122, ctypes.c_int64)
FIOGETOWN = _IOR('f', 123, ctypes.c_int)
FIOSETOWN = _IOW('f', 124, ctypes.c_int)
FIOASYNC = _IOW('f', 125, ctypes.c_int)    # set or clear async i/o
FIONBIO = _IOW('f', 126, ctypes.c_int)     # set or clear non-blocking i/o
FIONREAD = _IOR('f', 127, ctypes.c_int)    # bytes ready to read

# sys/ttycom.h: the terminal ioctls.  mm(4) and other non-tty drivers refuse
# TIOCGETA with ENOTTY; sockets and pipes answer the process-group ones too.
TIOCGETA = _IOR('t', 19, ctypes.c_char * 44)   # get termios struct (44 bytes)
TIOCSPGRP = _IOW('t', 118, ctypes.c_int)       # set the process group (fsetown)
TIOCGPGRP = _IOR('t', 119, ctypes.c_int)       # get the process group (fgetown)
