"""Time of day on the machine's clock, and nanosleep(2) (kern_time.c, kern_tc.c).

The machine's clock (kern/machine/scheduler.py) is virtual by default: it
starts at ``boottime`` and moves only when every lwp waits for a timeout.  ``struct timeval`` and
``struct timespec`` have NetBSD's LP64 layout (64-bit seconds; a 32-bit
``suseconds_t``), because they travel inside ioctl arguments.

``nanosleep1`` and ``sys___nanosleep50`` port kern_time.c 1.182 (NetBSD
8's nanosleep1, the first over ts2timo) for the one clock and mode
__nanosleep50 uses: a relative sleep on CLOCK_MONOTONIC (where NetBSD
reads ``clock_gettime1(CLOCK_MONOTONIC)``, kemu's ``getnanouptime``, the
machine's exact uptime).  Its helpers ``ts2timo``, ``itimespecfix``, ``tstohz``
and ``tvtohz`` port subr_time.c 1.17 for that case; kern.syscall registers
``sys___nanosleep50``.  As NetBSD's, a sleep woken early without a signal
(``setrunnable``: the halt's suspendsched) sleeps again for the time left,
and ``rmt`` gets the time left on every return when it is given.

Deviations:

* ``tvtohz`` adds no extra tick: NetBSD's callouts fire on tick boundaries,
  so it counts one more tick for the one under way; kemu's fire exactly
  ``timo`` ticks after the sleep begins (``callout_after``), where the
  extra tick would lengthen every sleep by 10 ms of the machine's clock.
* A time already past (``ts2timo``'s ETIMEDOUT: zero, or a negative
  ``tv_sec``, which itimespecfix takes as expired) returns 0 with ``rmt``
  cleared, as later revisions of nanosleep1 do; 1.182 leaves ``rmt`` unset
  and copies it out (kemu's starts zeroed, so the result is the same).
* Only CLOCK_MONOTONIC and relative times: no ``clock_id`` or ``flags``
  arguments (no sys_clock_nanosleep).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.cpu import curmachine
from kern.errno import EINTR, EINVAL, ERESTART, ETIMEDOUT, EWOULDBLOCK

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


INT_MAX = 0x7FFFFFFF


def tvtohz(tv: timeval) -> int:
    """subr_time.c's tvtohz: the ticks in ``tv``, rounded up (0 for a time not in
    the future, INT_MAX at most); kemu adds no tick for the one under way
    (see the deviations)."""
    from kern.kern_synch import tick

    sec, usec = tv.tv_sec, tv.tv_usec
    if sec > INT_MAX:
        return INT_MAX
    if sec < 0 or (sec == 0 and usec == 0):
        return 0
    return min(INT_MAX, (sec * 1000000 + usec + (tick - 1)) // tick)


def tstohz(ts: timespec) -> int:
    """subr_time.c's tstohz: through a timeval (microseconds are fine enough)."""
    tv = timeval()
    TIMESPEC_TO_TIMEVAL(tv, ts)
    return tvtohz(tv)


def itimespecfix(ts: timespec) -> int:
    """subr_time.c's itimespecfix: EINVAL for nanoseconds out of range, ETIMEDOUT
    for a negative time; less than a tick is rounded up to one."""
    from kern.kern_synch import tick

    if ts.tv_nsec < 0 or ts.tv_nsec >= 1000000000:
        return EINVAL
    if ts.tv_sec < 0:
        return ETIMEDOUT
    if ts.tv_sec == 0 and ts.tv_nsec != 0 and ts.tv_nsec < tick * 1000:
        ts.tv_nsec = tick * 1000
    return 0


def ts2timo(ts: timespec, start: timespec) -> tuple[int, int]:
    """subr_time.c's ts2timo for a relative time on CLOCK_MONOTONIC: ``(error,
    timo)``; ``start`` gets the clock's time now.  ETIMEDOUT when the time is
    zero or past."""
    getnanouptime(start)
    error = itimespecfix(ts)
    if error != 0:
        return error, 0
    if ts.tv_sec == 0 and ts.tv_nsec == 0:
        return ETIMEDOUT, 0
    timo = tstohz(ts)
    assert timo > 0
    return 0, timo


def _timespecsub(a: timespec, b: timespec, res: timespec) -> None:
    sec, nsec = a.tv_sec - b.tv_sec, a.tv_nsec - b.tv_nsec
    if nsec < 0:
        sec, nsec = sec - 1, nsec + 1000000000
    res.tv_sec, res.tv_nsec = sec, nsec


async def nanosleep1(l: lwp, rqt: timespec, rmt: timespec | None) -> int:
    """Sleep for the timespec ``rqt`` on the machine's clock (kern_time.c 1.182).

    EINVAL for nanoseconds out of range; a zero or negative time does not
    sleep.  A signal ends the sleep with EINTR (never a restart); a wakeup
    without one sleeps again for the time left.  When ``rmt`` is given it
    receives the time left.
    """
    from kern.kern_synch import kpause

    rmtstart = timespec()
    error, timo = ts2timo(rqt, rmtstart)
    if error != 0:
        if error == ETIMEDOUT:
            error = 0
            if rmt is not None:
                rmt.tv_sec = rmt.tv_nsec = 0
        return error
    # Never a timeout of 0, which would sleep for ever.
    if timo == 0:
        timo = 1
    while True:     # NetBSD's "again:"
        error = await kpause("nanoslp", True, timo, None)
        if rmt is not None or error == 0:
            rmtend = timespec()
            getnanouptime(rmtend)
            t = rmt if rmt is not None else timespec()
            _timespecsub(rmtend, rmtstart, t)
            _timespecsub(rqt, t, t)
            if t.tv_sec < 0:
                t.tv_sec = t.tv_nsec = 0
            if error == 0:
                timo = tstohz(t)
                if timo > 0:
                    continue
        break
    if error == ERESTART:
        error = EINTR
    if error == EWOULDBLOCK:
        error = 0
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
