"""Time and sysctl system calls (kern_time.c, kern_sysctl.c): the small set userland uses.

* __gettimeofday50 (418; the time zone it reports is all zero, as NetBSD
  keeps none) and __clock_gettime50 (427, CLOCK_REALTIME and
  CLOCK_MONOTONIC) read the machine's clock (virtual unless booted with a
  real one);
* __sysctl (202) answers kern.msgbuf (CTL_KERN, KERN_MSGBUF), the message
  buffer dmesg(8) prints, kern.hostname and kern.ostype; other names give
  ENOENT, writes EPERM (nothing here is writable).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.errno import EINVAL, ENOENT, ENOMEM, EPERM
from kern.kern_time import getnanouptime, microtime, nanotime, timespec, timeval
from kern.subr_copy import copyin, copyout
from kern.syscall import (
    SYS___clock_gettime50,
    SYS___gettimeofday50,
    SYS___sysctl,
    syscall_register,
)

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 3

CTL_KERN = 1
KERN_OSTYPE = 1
KERN_HOSTNAME = 10
KERN_MSGBUF = 53


class timezone(ctypes.Structure):
    """struct timezone: what gettimeofday reports; NetBSD keeps no time zone (all zero)."""

    _fields_ = [("tz_minuteswest", ctypes.c_int), ("tz_dsttime", ctypes.c_int)]


async def sys___gettimeofday50(l: Any, uap: Any, retval: list[int]) -> int:
    error = 0
    if uap.tp:
        tv = timeval()
        microtime(tv)
        error = copyout(tv, uap.tp, ctypes.sizeof(tv))
        if error:
            return error
    if uap.tzp:
        tzfake = timezone()
        error = copyout(tzfake, uap.tzp, ctypes.sizeof(tzfake))
    return error


async def sys___clock_gettime50(l: Any, uap: Any, retval: list[int]) -> int:
    ts = timespec()
    if uap.clock_id == CLOCK_REALTIME:
        nanotime(ts)
    elif uap.clock_id == CLOCK_MONOTONIC:
        getnanouptime(ts)
    else:
        return EINVAL
    return copyout(ts, uap.tp, ctypes.sizeof(ts))


def _sysctl_value(mib: list[int]) -> bytes | None:
    from kern.cpu import curmachine

    if mib == [CTL_KERN, KERN_MSGBUF]:
        return curmachine().dmesg().encode("utf-8", "replace")
    if mib == [CTL_KERN, KERN_OSTYPE]:
        return b"NetBSD\0"
    if mib == [CTL_KERN, KERN_HOSTNAME]:
        return b"kemu\0"
    return None


async def sys___sysctl(l: Any, uap: Any, retval: list[int]) -> int:
    if uap.namelen < 1 or uap.namelen > 12:
        return EINVAL
    raw = bytearray(4 * uap.namelen)
    error = copyin(uap.name, raw, len(raw))
    if error:
        return error
    mib = list((ctypes.c_int * uap.namelen).from_buffer(raw))
    value = _sysctl_value(mib)
    if value is None:
        return ENOENT
    if uap.newp:
        return EPERM
    if uap.oldlenp:
        lb = bytearray(8)
        error = copyin(uap.oldlenp, lb, 8)
        if error:
            return error
        oldlen = int.from_bytes(lb, "little")
        error = 0
        if uap.oldp:
            n = min(oldlen, len(value))
            error = copyout(bytearray(value[:n]), uap.oldp, n)
            if error:
                return error
            if oldlen < len(value):
                error = ENOMEM
        e2 = copyout(bytearray(len(value).to_bytes(8, "little")), uap.oldlenp, 8)
        return error or e2
    return 0


syscall_register(SYS___gettimeofday50, "__gettimeofday50", sys___gettimeofday50,
                 ("struct timeval *tp", "void *tzp"))
syscall_register(SYS___clock_gettime50, "__clock_gettime50", sys___clock_gettime50,
                 ("clockid_t clock_id", "struct timespec *tp"))
syscall_register(SYS___sysctl, "__sysctl", sys___sysctl,
                 ("const int *name", "u_int namelen", "void *oldp", "size_t *oldlenp",
                  "const void *newp", "size_t newlen"))


def sys_time_init(machine: Any) -> None:
    """Boot hook: the calls register at import; nothing per machine."""
