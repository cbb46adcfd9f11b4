"""uname and date, after NetBSD 8's usr.bin/uname/uname.c (read at 1.11, 2011:
the options, -a without -p, hw.machine_arch for -p, the order of the words)
and bin/date/date.c.

uname: ``uname [-amnprsv]``: the system name, node name, release, version
and machine of uname(3) (five sysctls: kern.ostype, kern.hostname,
kern.osrelease, kern.version, hw.machine), the processor from
hw.machine_arch; -a is -mnrsv; no option means -s.

date: ``date [-ajnu] [-d date] [-r seconds] [+format]
[[[[[[CC]yy]mm]dd]HH]MM[.SS]]``, after date.c 1.61: prints the machine's
time of day (clock_gettime CLOCK_REALTIME: its virtual clock unless it was
booted with a real one), or the time given by -r seconds or -d, with
strftime(3)'s format (default ``+%a %b %e %H:%M:%S %Z %Y``), or sets it
(setthetime's canonical form over the current time, settimeofday(2), root
only) and prints the new date; -j parses without setting.  The operands
come in either order.  Messages are date.c's (badcanotime's three lines,
"Invalid number", "Usage: ...").  Deviations: the machine has no time
zone, so everything is UTC and -u changes nothing; -d takes only
parsedate(3)'s ``@seconds`` form (its grammar is not ported); -n changes
nothing (there is no timed(8) to tell); -a fails (adjtime(2) is not
implemented); nothing is logged (no wtmp, no syslog).
"""

from __future__ import annotations

import calendar
import re
import time

from kern.errno import ENOSYS, EOVERFLOW
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    err,
    errx,
    getopt,
    printf,
    usage_exit,
    warnx,
)
from tools.lib import libc
from tools.lib.stdlib import strtoll
from tools.lib.tzcode import localtime, timegm

UNAME_USAGE = "usage: uname [-amnprsv]"


@command("uname", summary="print operating system name")
async def uname_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(argv, "amnprsv")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(UNAME_USAGE)
    if args:
        await usage_exit(UNAME_USAGE)
    flags = set()
    for o, _ in opts:
        flags |= set("mnrsv") if o == "a" else {o}
    if not flags:
        flags = {"s"}
    try:
        u = await libc.uname()
    except SyscallError as e:
        await err(1, "uname", e)
    words = []
    if "s" in flags:
        words.append(u.sysname)
    if "n" in flags:
        words.append(u.nodename)
    if "r" in flags:
        words.append(u.release)
    if "v" in flags:
        words.append(u.version)
    if "m" in flags:
        words.append(u.machine)
    if "p" in flags:
        try:
            arch = await libc.sysctl([libc.CTL_HW, 10], 256)   # hw.machine_arch
        except SyscallError as e:
            await err(1, "sysctl", e)
        words.append(arch.split(b"\0", 1)[0].decode())
    await printf(" ".join(words) + "\n")
    return 0


DATE_USAGE = ("Usage: date [-ajnu] [-d date] [-r seconds] [+format] "
              "[[[[[[CC]yy]mm]dd]HH]MM[.SS]]")

_MDAYS = {3: 30, 5: 30, 8: 30, 10: 30}      # tm_mon (0-11) of the 30-day months


def _strftime(fmt: str, tm: time.struct_time) -> str:
    """strftime(3) in UTC, the machine's only zone."""
    return time.strftime(fmt.replace("%Z", "UTC").replace("%+", "%a %b %e %H:%M:%S UTC %Y"),
                         tm)


async def _badcanotime(msg: str, val: str, where: int) -> None:
    await warnx(f"{msg} in canonical time")
    await warnx(val)
    await warnx("^".rjust(where + 1))
    await usage_exit(DATE_USAGE)


async def _setthetime(p: str, tval: int, jflag: bool, aflag: bool) -> int:
    """date.c's setthetime: ``[[[[[[CC]yy]mm]dd]HH]MM[.SS]]`` over the current
    broken-down time; set it (unless -j) and return it."""
    dot = -1
    for i, c in enumerate(p):
        if c == ".":
            if dot >= 0:
                await _badcanotime("Unexpected dot", p, i)
            dot = i
        elif not ("0" <= c <= "9"):
            await _badcanotime("Expected digit", p, i)
    lt = localtime(tval)
    if lt is None:
        await err(1, f"{tval}: localtime", EOVERFLOW)
    year, mon, mday = lt.tm_year - 1900, lt.tm_mon - 1, lt.tm_mday
    hour, mnt = lt.tm_hour, lt.tm_min
    if dot >= 0:                                    # .ss
        ln = len(p) - dot
        if ln > 3:
            await _badcanotime("Unexpected digit after seconds field", p, len(p) - 1)
        elif ln < 3:
            await _badcanotime("Expected digit in seconds field", p, len(p))
        sec = int(p[dot + 1:dot + 3])
        if sec > 61:
            await _badcanotime("Seconds out of range", p, len(p) - 1)
    else:
        ln = 0
        sec = 0
    n = len(p) - ln
    q = 0                                           # where ATOI2 reads next

    def atoi2() -> int:
        nonlocal q
        q += 2
        return int(p[q - 2:q])

    if n not in (12, 10, 8, 6, 4, 2) and not (n == 0 and ln):
        if n > 12:
            await _badcanotime("Too many digits", p, 12)
        await _badcanotime("Not enough digits", p, n)
    if n == 12:                                     # cc
        year = atoi2() * 100 - 1900
        if year < 0:
            await _badcanotime("Year before 1900", p, q + 1)
        year += atoi2()
    elif n == 10:                                   # yy
        yy = atoi2()
        year = yy + (2000 if yy < 69 else 1900) - 1900
    if n >= 8:                                      # mm
        mon = atoi2()
        if mon > 12 or mon == 0:
            await _badcanotime("Month out of range", p, q - 1)
        mon -= 1
    if n >= 6:                                      # dd
        mday = atoi2()
        if mon == 1:
            leap = calendar.isleap(year + 1900)
            top = 29 if leap else 28
        else:
            top = _MDAYS.get(mon, 31)
        if mday > top or mday == 0:
            await _badcanotime(f"Day out of range (max {top})", p, q - 1)
    if n >= 4:                                      # hh
        hour = atoi2()
        if hour > 23:
            await _badcanotime("Hour out of range", p, q - 1)
    if n >= 2:                                      # mm
        mnt = atoi2()
        if mnt > 59:
            await _badcanotime("Minute out of range", p, q - 1)
    new_time = timegm(year + 1900, mon + 1, mday, hour, mnt, sec)
    if jflag:
        return new_time
    # no timed(8) to tell (netsettime), so the time is set here, -n or not
    if aflag:
        await err(1, "adjtime", ENOSYS)
    try:
        await libc.settimeofday(new_time, 0)
    except SyscallError as e:
        await err(1, "settimeofday", e)
    return new_time


@command("date", summary="display or set date and time")
async def date_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(argv, "ad:jnr:u")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(DATE_USAGE)
    aflag = jflag = False
    tval: int | None = None
    for o, a in opts:
        if o == "a":
            aflag = True
        elif o == "j":
            jflag = True
        elif o == "d":
            # parsedate(3)'s grammar is not ported: only its "@seconds" form
            m = re.fullmatch(r"@([+-]?\d+)", a)
            if m is None:
                await errx(1, f"{a}: Unrecognized date format")
            tval = int(m.group(1))
        elif o == "r":
            if a == "":
                await errx(1, "<empty>: Invalid number")
            c = strtoll(a, 0)
            if c.errno:
                await err(1, a, c.errno)
            if c.rest(a):
                await errx(1, f"{a}: Invalid number")
            tval = c.value
    if tval is None:
        tval, _ = await libc.clock_gettime(libc.CLOCK_REALTIME)
    # allow the operands in any order
    fmt = "+%a %b %e %H:%M:%S %Z %Y"
    if args and args[0].startswith("+"):
        fmt = args.pop(0)
    if args:
        tval = await _setthetime(args.pop(0), tval, jflag, aflag)
    if args and args[0].startswith("+"):
        fmt = args[0]
    tm = localtime(tval)
    if tm is None:
        await err(1, f"{tval}: localtime", EOVERFLOW)
    await printf(_strftime(fmt, tm)[1:] + "\n")
    return 0
