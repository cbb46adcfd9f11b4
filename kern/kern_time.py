"""Time of day on the machine's clock, and nanosleep(2) (kern_time.c, kern_tc.c).

The machine's clock (kern/machine/scheduler.py) is virtual by default: it
starts at ``boottime`` and moves only when every lwp waits for a timeout.  ``struct timeval`` and
``struct timespec`` have NetBSD's LP64 layout (64-bit seconds; a 32-bit
``suseconds_t``), because they travel inside ioctl arguments.

``nanosleep1`` is NetBSD 8's for a relative sleep on CLOCK_MONOTONIC (no
TIMER_ABSTIME, no other clocks); kern.syscall registers ``sys___nanosleep50``.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.cpu import curmachine
from kern.errno import EINTR, EINVAL, ERESTART, EWOULDBLOCK

if TYPE_CHECKING:
    from kern.kern_lwp import lwp


class timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_usec", ctypes.c_int32)]

    def __repr__(self) -> str:
        return f"timeval({self.tv_sec}, {self.tv_usec})"


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_long)]

    def __repr__(self) -> str:
        return f"timespec({self.tv_sec}, {self.tv_nsec})"


def _now_ns() -> int:
    m = curmachine()
    return m.boottime_ns + m.uptime_ns()


def nanotime(ts: timespec) -> None:
    ns = _now_ns()
    ts.tv_sec, ts.tv_nsec = divmod(ns, 1_000_000_000)


def microtime(tv: timeval) -> None:
    us = _now_ns() // 1000
    tv.tv_sec, tv.tv_usec = divmod(us, 1_000_000)


getnanotime = nanotime
getmicrotime = microtime


def time_second() -> int:
    return _now_ns() // 1_000_000_000


def _uptime_ns() -> int:
    return curmachine().uptime_ns()


def getnanouptime(ts: timespec) -> None:
    ts.tv_sec, ts.tv_nsec = divmod(_uptime_ns(), 1_000_000_000)


def TIMESPEC_TO_TIMEVAL(tv: timeval, ts: timespec) -> None:
    tv.tv_sec = ts.tv_sec
    tv.tv_usec = ts.tv_nsec // 1000


def TIMEVAL_TO_TIMESPEC(tv: timeval, ts: timespec) -> None:
    ts.tv_sec = tv.tv_sec
    ts.tv_nsec = tv.tv_usec * 1000


async def nanosleep1(l: lwp, rqt: timespec, rmt: timespec | None) -> int:
    """Sleep for the timespec ``rqt`` on the machine's clock.

    EINVAL for a negative time or nanoseconds out of range; a zero time
    does not sleep.  A signal ends the sleep with EINTR (never a restart).
    When ``rmt`` is given it receives the time left.
    """
    from kern.kern_synch import hz, kpause

    if rqt.tv_sec < 0 or rqt.tv_nsec < 0 or rqt.tv_nsec >= 1_000_000_000:
        return EINVAL
    ns = rqt.tv_sec * 1_000_000_000 + rqt.tv_nsec
    start = _uptime_ns()
    error = 0
    if ns > 0:
        timo = max(1, -(-ns * hz // 1_000_000_000))
        error = await kpause("nanoslp", True, timo, None)
        if error == ERESTART:
            error = EINTR
        if error == EWOULDBLOCK:
            error = 0
    if rmt is not None:
        left = 0 if error == 0 else max(0, ns - (_uptime_ns() - start))
        rmt.tv_sec, rmt.tv_nsec = divmod(left, 1_000_000_000)
    return error


async def sys___nanosleep50(l: lwp, uap: Any, retval: list[Any]) -> int:
    """nanosleep(rqtp, rmtp)."""
    from kern.subr_copy import copyin, copyout

    rqt = timespec()
    error = copyin(uap.rqtp, rqt, ctypes.sizeof(rqt))
    if error:
        return error
    rmt = timespec() if uap.rmtp else None
    error = await nanosleep1(l, rqt, rmt)
    if rmt is None or (error != 0 and error != EINTR):
        return error
    error1 = copyout(rmt, uap.rmtp, ctypes.sizeof(rmt))
    return error1 if error1 else error
