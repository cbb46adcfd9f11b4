"""localtime(3), gmtime(3), ctime(3) of NetBSD 8's libc (lib/libc/time,
tzcode) in the machine's one time zone, UTC.

As in tzcode, a time whose broken-down year does not fit the ``int``
``tm_year`` cannot be converted: ``localtime``/``gmtime`` return None and
the errno is EOVERFLOW (the caller reports it: date(1) says
"<t>: localtime: Value too large to be stored in data type").  ``ctime``
returns None then too.  Python's own time.gmtime raises instead, which in
a command would be a Python error from a user's input.
"""

from __future__ import annotations

import time

from kern.errno import EOVERFLOW

__all__ = ["EOVERFLOW", "ctime", "gmtime", "localtime", "timegm"]


def gmtime(t: int) -> time.struct_time | None:
    """gmtime(3): ``t`` broken down in UTC, or None (EOVERFLOW)."""
    try:
        return time.gmtime(t)
    except (OverflowError, OSError, ValueError):
        return None


localtime = gmtime      # the machine's time zone is UTC


def ctime(t: int) -> str | None:
    """ctime(3) without its newline: "Thu Nov 24 18:22:48 1986" (asctime's
    fields: the day of the month in 3 columns, the year as wide as it is);
    None when localtime fails."""
    tm = localtime(t)
    if tm is None:
        return None
    return (f"{time.strftime('%a %b', tm)}{tm.tm_mday:3d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {tm.tm_year}")


def timegm(year: int, mon: int, mday: int, hour: int, mnt: int, sec: int) -> int:
    """timegm(3) (mktime in UTC) of a proleptic Gregorian date, ``mon`` 1-12,
    for any year an ``int`` tm_year holds (Python's calendar.timegm stops at
    9999)."""
    # days from 1970-01-01 (the "days from civil" count, March-based years)
    y = year - (mon <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mon + (-3 if mon > 2 else 9)) + 2) // 5 + mday - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return ((days * 24 + hour) * 60 + mnt) * 60 + sec
