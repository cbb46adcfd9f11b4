"""Time of day on the machine's clock (kern_time.c, kern_tc.c).

The machine's clock is virtual by default: it starts at ``boottime`` and
moves only when every lwp waits for a timeout.  ``struct timeval`` and
``struct timespec`` have NetBSD's LP64 layout (64-bit seconds; a 32-bit
``suseconds_t``), because they travel inside ioctl arguments.
"""

from __future__ import annotations

import ctypes

import trio

from kern.cpu import curmachine


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
    return m.boottime_ns + int(round((trio.current_time() - m.clock_origin) * 1e9))


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


def getnanouptime(ts: timespec) -> None:
    m = curmachine()
    ns = int(round((trio.current_time() - m.clock_origin) * 1e9))
    ts.tv_sec, ts.tv_nsec = divmod(ns, 1_000_000_000)


def TIMESPEC_TO_TIMEVAL(tv: timeval, ts: timespec) -> None:
    tv.tv_sec = ts.tv_sec
    tv.tv_usec = ts.tv_nsec // 1000


def TIMEVAL_TO_TIMESPEC(tv: timeval, ts: timespec) -> None:
    ts.tv_sec = tv.tv_sec
    ts.tv_nsec = tv.tv_usec * 1000
