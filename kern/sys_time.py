"""Time-of-day system calls (kern_time.c 1.182, NetBSD 7/8): the set userland uses.

* __gettimeofday50 (418; the time zone it reports is all zero, as NetBSD
  keeps none) and __clock_gettime50 (427, CLOCK_REALTIME and
  CLOCK_MONOTONIC) read the machine's clock (virtual unless booted with a
  real one);
* __settimeofday50 (419) and __clock_settime50 (428, CLOCK_REALTIME only)
  set the time of day (root only, secmodel_suser's rule), as date(1) does:
  settime1 moves the clock and ``boottime`` by the same amount, so the time
  since boot (CLOCK_MONOTONIC, virtual time) is untouched.

sysctl(2) lives in kern/kern_sysctl.py.  Deviations: no resettodr (there is
no hardware clock to write back) and no realtime itimers to notify.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.errno import EINVAL, EPERM
from kern.kern_time import (
    TIMEVAL_TO_TIMESPEC,
    getnanouptime,
    microtime,
    nanotime,
    timespec,
    timeval,
)
from kern.subr_copy import copyin, copyout
from kern.syscall import (
    SYS___clock_gettime50,
    SYS___clock_settime50,
    SYS___gettimeofday50,
    SYS___settimeofday50,
    syscall_register,
)

CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 3
LOG_WARNING = 4  # sys/syslog.h


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


def settime1(p: Any, ts: timespec, check_kauth: bool) -> int:
    """Set the time of day (clock_settime and settimeofday come here).

    kemu's time of day is ``boottime`` plus the time since boot, so moving
    the clock (tc_setclock) and moving ``boottime`` by the same delta, as
    NetBSD does both, is one change here.

    Any time root gives is taken, as NetBSD 8's settime1 takes it: the
    check of a 32-bit time_t's wrap (INT_MAX less a year, EPERM) went with
    64-bit time_t, and the EINVAL for tv_sec outside [0, 2**36] came to
    kern_time.c after NetBSD 8.  So the clock can be set past what
    localtime(3) can break down; userland reports that as its C does
    (tools/lib/tzcode.py; tests/tools/test_cmds_daily.py pins it).
    """
    from kern.cpu import curlwp, curmachine
    from kern.kern_auth import kauth_cred_issuser

    now = timespec()
    nanotime(now)
    delta_ns = (ts.tv_sec * 1_000_000_000 + ts.tv_nsec) - \
        (now.tv_sec * 1_000_000_000 + now.tv_nsec)
    # KAUTH_SYSTEM_TIME / KAUTH_REQ_SYSTEM_TIME_SYSTEM: secmodel_suser lets root
    if check_kauth and not kauth_cred_issuser(curlwp().l_cred):
        return EPERM
    curmachine().boottime_ns += delta_ns     # tc_setclock(ts); boottime += delta
    return 0


async def sys___clock_settime50(l: Any, uap: Any, retval: list[int]) -> int:
    ats = timespec()
    error = copyin(uap.tp, ats, ctypes.sizeof(ats))
    if error:
        return error
    return clock_settime1(l.l_proc, uap.clock_id, ats, True)


def clock_settime1(p: Any, clock_id: int, tp: timespec, check_kauth: bool) -> int:
    if clock_id == CLOCK_REALTIME:
        return settime1(p, tp, check_kauth)
    # CLOCK_MONOTONIC is read-only; other clocks do not exist
    return EINVAL


async def sys___settimeofday50(l: Any, uap: Any, retval: list[int]) -> int:
    return settimeofday1(uap.tv, True, uap.tzp, l, True)


def settimeofday1(utv: Any, userspace: bool, utzp: Any, l: Any, check_kauth: bool) -> int:
    from kern.subr_prf import log

    # NetBSD has no kernel notion of time zone, and only an obsolete
    # program would try to set it, so we log a warning.
    if utzp:
        log(LOG_WARNING, "pid %d attempted to set the (obsolete) kernel time zone\n",
            l.l_proc.p_pid)
    if not utv:
        return 0
    if userspace:
        atv = timeval()
        error = copyin(utv, atv, ctypes.sizeof(atv))
        if error:
            return error
        utv = atv
    ts = timespec()
    TIMEVAL_TO_TIMESPEC(utv, ts)
    return settime1(l.l_proc, ts, check_kauth)


syscall_register(SYS___gettimeofday50, "__gettimeofday50", sys___gettimeofday50,
                 ("struct timeval *tp", "void *tzp"))
syscall_register(SYS___clock_gettime50, "__clock_gettime50", sys___clock_gettime50,
                 ("clockid_t clock_id", "struct timespec *tp"))
syscall_register(SYS___settimeofday50, "__settimeofday50", sys___settimeofday50,
                 ("const struct timeval *tv", "const void *tzp"))
syscall_register(SYS___clock_settime50, "__clock_settime50", sys___clock_settime50,
                 ("clockid_t clock_id", "const struct timespec *tp"))


def sys_time_init(machine: Any) -> None:
    """Boot hook: the calls register at import; nothing per machine."""
