"""kill and ps, after NetBSD 8's bin/kill/kill.c (read at 1.27, 2011) and bin/ps
(ps.c read at 1.83, 2015; keyword.c at 1.54, 2014; print.c's formats as
1.123, 2014, has them).

kill: ``kill [-s signal_name] pid ...``, ``kill -signal_name pid ...``,
``kill -signal_number pid ...``, ``kill -l [exit_status]``: kill(2) on
each pid (a negative pid names a process group, which in kemu is the one
process -pid); names with or without "SIG", any case; ``-l`` lists the
names in lines of at most 80 columns, ``-l 143`` names the signal of an
exit status above 128.  What a signal does to its target is the kernel's
(kern_sig): a caught one is consumed, ignored ones are discarded.

ps: ``ps [-AaCcehjlmrSsvwx] [-O fmt] [-o fmt] [-p pid] [-U user] [-t tty]``
and the old ``ps aux`` form (kludge_oldps_options).  Processes come from
sysctl kern.proc2 (tools/lib/libkvm), their arguments from
kern.proc_args, their lwps from kern.lwp.  Without -a only the caller's
processes are listed, without -x only those with a controlling terminal
(in kemu no process has one: ``ps ax`` or ``ps -A`` show them all).
Formats: the default ``pid tt stat time command``, -j, -l, -s (one line
per lwp), -u, -v, and -o/-O with these keywords: %cpu %mem args comm
command cpu emul etime f flags gid group jobc lid lname lstart lstate
nice nlwp pgid pid ppid pri rgid rgroup rss ruid ruser sess start stat
state svgid svuid tdev time tt tty ucomm uid user vsz wchan (``kw=header``
renames a column).  Widths follow print.c (columns as wide as their widest
value); the last column is cut at the terminal width (79 columns, as
standard output is not a terminal; 131 with -w, unlimited with -ww).
Sorting (pscomp): by the -k keywords, -m/-v's vsz (largest first), -r/-u's
%cpu, then by terminal and pid; a keyword with no field to compare (user,
state, ...) or an lwp one is warned about and skipped.  ``-p`` and a
numeric ``-U`` are parsenum()'s: a whole strtoul(3) number, base 0, up
to INT_MAX.  ``-M core`` (or the old operands ``system core swap``) goes
to kvm_openfiles, which fails (tools/lib/libkvm: kemu reads only the
running kernel); -N and -W without -M change nothing, as in ps.c.  kemu
keeps no CPU time, priorities or memory statistics: those columns show 0,
as ps does when the kernel gives it nothing (-S, -e and -C are accepted
and change nothing).

Deviations from the C: ps -O appends its keywords after pid and puts the
default format's rest after them (ps.c inserts after an existing pid
column); -v's format lacks keyword.c's sl, re, pagein, lim and tsiz (not
kept by kemu), -s shows ``time`` where sfmt has ``ltime``; -T and -t name
terminals kemu does not have ("not a terminal"); the keyword list is the
subset above, so others are "keyword not found".
"""

from __future__ import annotations

import time

from kern.exceptions import SyscallError
from kern.kern_lwp import LSDEAD, LSIDL, LSONPROC, LSRUN, LSSLEEP, LSSTOP, LSSUSPENDED, LSZOMB
from kern.kern_proc import (
    EPROC_SLEADER,
    KERN_PROC_ALL,
    KERN_PROC_PID,
    KERN_PROC_TTY,
    KERN_PROC_UID,
    L_SINTR,
    L_SYSTEM,
    NZERO,
    P_WEXIT,
    kinfo_lwp,
    kinfo_proc2,
)
from tools.cmds import command
from tools.cmds._fsutil import group_from_gid, uid_from_user, user_from_uid
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    errx,
    getopt,
    printf,
    usage_exit,
    warn,
    warnx,
)
from tools.lib import libc, libkvm
from tools.lib.stdlib import INT_MAX, INT_MIN, INTMAX_MAX, INTMAX_MIN, strtoimax, strtoul

# sys_signame: the names kill -l prints (NSIG is 64)
SIGNAMES = ["", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS",
            "SEGV", "SYS", "PIPE", "ALRM", "TERM", "URG", "STOP", "TSTP", "CONT", "CHLD",
            "TTIN", "TTOU", "IO", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "INFO", "USR1",
            "USR2", "PWR"] + [f"RT{i}" for i in range(31)]
NSIG = len(SIGNAMES)

KILL_USAGE = ("usage: kill [-s signal_name] pid ...\n"
              "       kill -l [exit_status]\n"
              "       kill -signal_name pid ...\n"
              "       kill -signal_number pid ...")


def signame_to_signum(sig: str) -> int:
    """A signal's number from its name (with or without SIG, any case), or -1."""
    if sig[:3].lower() == "sig":
        sig = sig[3:]
    for n in range(1, NSIG):
        if SIGNAMES[n].lower() == sig.lower():
            return n
    return -1


async def _printsignals(to_err: bool) -> None:
    """printsignals(): names in lines under 80 columns, each counted with the
    space before it (termwidth 80: the output is never a terminal here)."""
    out = ""
    length = 0
    for n in range(1, NSIG):
        name = SIGNAMES[n]
        nl = 1 + len(name)
        if length + nl >= 80:
            out += "\n"
            length = 0
        elif length:
            out += " "
        length += nl
        out += name
    if length:
        out += "\n"
    await (eprintf if to_err else printf)(out)


async def _nosig(name: str) -> None:
    await warnx(f"unknown signal {name}; valid signals:")
    await _printsignals(True)
    raise _Exit1()


class _Exit1(Exception):
    pass


@command("kill", summary="terminate or signal a process")
async def kill_main(argv: list[str]) -> int:
    try:
        return await _kill(argv)
    except _Exit1:
        return 1


async def _kill(argv: list[str]) -> int:
    args = argv[1:]
    if not args:
        await usage_exit(KILL_USAGE)
    numsig = 15                                 # SIGTERM
    a = args[0]
    if a == "-l":
        if len(args) > 2:
            await usage_exit(KILL_USAGE)
        if len(args) == 2:
            if not args[1][:1].isdigit() or not args[1][:1].isascii():
                await usage_exit(KILL_USAGE)
            c = strtoimax(args[1], 10)
            if c.rest(args[1]) or c.value in (INTMAX_MIN, INTMAX_MAX):
                await errx(1, f"illegal signal number: {args[1]}")
            n = c.value
            if n >= 128:
                n -= 128
            if n <= 0 or n >= NSIG:
                await _nosig(args[1])
            await printf(SIGNAMES[n] + "\n")
            return 0
        await _printsignals(False)
        return 0
    if a == "-s":
        if len(args) < 2:
            await eprintf("kill: option requires an argument -- s\n")
            await usage_exit(KILL_USAGE)
        if args[1] == "0":
            numsig = 0
        else:
            numsig = signame_to_signum(args[1])
            if numsig < 0:
                await _nosig(args[1])
        args = args[2:]
    elif a.startswith("-"):
        sn = a[1:]
        if sn[:1].isascii() and sn[:1].isalpha():
            numsig = signame_to_signum(sn)
            if numsig < 0:
                await _nosig(sn)
        elif sn[:1].isascii() and sn[:1].isdigit():
            c = strtoimax(sn, 10)
            if c.rest(sn) or c.value in (INTMAX_MIN, INTMAX_MAX):
                await errx(1, f"illegal signal number: {sn}")
            numsig = c.value
            if numsig < 0 or numsig >= NSIG:
                await _nosig(sn)
        else:
            await _nosig(sn)                    # "-", "--": no signal named so
        args = args[1:]
    if not args:
        await usage_exit(KILL_USAGE)
    errors = 0
    for p in args:
        c = strtoimax(p, 10)
        # a number, all of the word, that fits a pid_t (an int)
        if not p or c.rest(p) or c.value in (INTMAX_MIN, INTMAX_MAX) or \
                not INT_MIN <= c.value <= INT_MAX:
            await warnx(f"illegal process id: {p}")
            errors = 1
            continue
        pid = c.value
        try:
            await libc.kill(pid, numsig)
        except SyscallError as e:
            await warn(p, e)
            errors = 1
    return errors


# ------------------------------------------------------------------ ps

PS_USAGE = ("usage:\tps [-AaCcehjlmrSsTuvwx] [-k key] [-M core] [-N system] [-O fmt]\n"
            "\t   [-o fmt] [-p pid] [-t tty] [-U user] [-W swap]\n"
            "\tps -L")

DFMT = "pid tt stat time command"
JFMT = "user pid ppid pgid sess jobc state tt time command"
LFMT = "uid pid ppid cpu pri nice vsz rss wchan state tt time command"
SFMT = "uid pid ppid cpu lid nlwp pri nice vsz rss wchan lstate tt time command"
UFMT = "user pid %cpu %mem vsz rss tt state start time command"
VFMT = "pid state time sl re pagein vsz rss lim tsiz %cpu %mem command"

LJUST = 1
COMM = 2
LWP = 4


class Var:
    """A keyword (keyword.c's VAR): header, flags, and the function that prints it."""

    def __init__(self, name: str, header: str, flags: int, fn: object,
                 sortkey: object = None) -> None:
        self.name = name
        self.header = header
        self.flags = flags
        self.fn = fn
        self.width = 0
        # pscomp's view of the keyword: a function of the kinfo_proc2 giving
        # what to compare, larger first for VSIZE and PCPU; None for the
        # keywords with no field (keyword.c's UNSPECIFIED type)
        self.sortkey = sortkey


def _state(k: kinfo_proc2) -> str:
    flag = k.p_flag
    c = {LSSTOP: "T", LSRUN: "R", LSIDL: "R", LSONPROC: "O", LSZOMB: "Z",
         LSSUSPENDED: "U"}.get(k.p_stat)
    if k.p_stat == LSSLEEP:
        c = ("I" if k.p_slptime >= 20 else "S") if flag & L_SINTR else "D"
    s = c or "?"
    if k.p_nice < NZERO:
        s += "<"
    elif k.p_nice > NZERO:
        s += "N"
    if flag & P_WEXIT and k.p_stat != LSZOMB:
        s += "E"
    if flag & L_SYSTEM:
        s += "K"
    if k.p_eflag & EPROC_SLEADER:
        s += "s"
    if k.p_nlwps > 1:
        s += "l"
    return s


def _lstate(lw: kinfo_lwp) -> str:
    c = {LSSTOP: "T", LSRUN: "R", LSIDL: "R", LSONPROC: "O", LSZOMB: "Z", LSDEAD: "Z",
         LSSUSPENDED: "U"}.get(lw.l_stat)
    if lw.l_stat == LSSLEEP:
        c = ("I" if lw.l_slptime >= 20 else "S") if lw.l_flag & L_SINTR else "D"
    s = c or "?"
    if lw.l_flag & L_SYSTEM:
        s += "K"
    return s


def _cputime(k: kinfo_proc2) -> str:
    secs, psecs = k.p_rtime_sec, k.p_rtime_usec
    psecs = (psecs + 5000) // 10000
    secs += psecs // 100
    psecs %= 100
    return f"{secs // 60}:{secs % 60:02d}.{psecs:02d}"


def _started(k: kinfo_proc2, now: int) -> str:
    if not k.p_uvalid:
        return "-"
    t = k.p_ustart_sec
    tm = time.gmtime(t)
    if now - t < 86400:
        s = time.strftime("%I:%M%p", tm)
        return s.lstrip("0") if s[0] == "0" else s
    if now - t < 7 * 86400:
        return time.strftime("%a%I%p", tm)
    return time.strftime("%d%b%y", tm).lstrip("0")


def _etime(k: kinfo_proc2, now: int) -> str:
    secs = max(0, now - k.p_ustart_sec) if k.p_uvalid else 0
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}-{hours:02d}:{mins:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{mins:02d}:{secs:02d}"
    return f"{mins}:{secs:02d}"


def _keywords() -> dict[str, Var]:
    def pgtok(n: int) -> int:
        return n * 4096 // 1024

    def ki(attr: str) -> object:
        return lambda k, lw, now: str(getattr(k, attr))

    kws: dict[str, tuple[str, int, object]] = {
        "%cpu": ("%CPU", 0, lambda k, lw, now: "0.0"),
        "%mem": ("%MEM", 0, lambda k, lw, now: "0.0"),
        "command": ("COMMAND", LJUST | COMM, None),
        "comm": ("COMMAND", LJUST, lambda k, lw, now: k.p_comm.decode(errors="replace")),
        "cpu": ("CPU", 0, ki("p_estcpu")),
        "emul": ("EMUL", LJUST, lambda k, lw, now: k.p_ename.decode(errors="replace")),
        "etime": ("ELAPSED", 0, _etime_kw),
        "f": ("F", 0, lambda k, lw, now: f"{k.p_flag & 0xffffffff:x}"),
        "gid": ("GID", 0, ki("p_gid")),
        "group": ("GROUP", LJUST, lambda k, lw, now: group_from_gid(k.p_gid)),
        "jobc": ("JOBC", 0, ki("p_jobc")),
        "lid": ("LID", LWP, lambda k, lw, now: str(lw.l_lid if lw else 0)),
        "lname": ("LNAME", LJUST | LWP,
                  lambda k, lw, now: (lw.l_name.decode(errors="replace") if lw and lw.l_name
                                      else "-")),
        "lstart": ("STARTED", LJUST,
                   lambda k, lw, now: time.strftime("%c", time.gmtime(k.p_ustart_sec))
                   if k.p_uvalid else "-"),
        "lstate": ("STAT", LJUST | LWP, lambda k, lw, now: _lstate(lw) if lw else "?"),
        "nice": ("NI", 0, lambda k, lw, now: str(k.p_nice - NZERO)),
        "nlwp": ("NLWP", 0, ki("p_nlwps")),
        "pgid": ("PGID", 0, ki("p__pgid")),
        "pid": ("PID", 0, ki("p_pid")),
        "ppid": ("PPID", 0, ki("p_ppid")),
        "pri": ("PRI", LWP, lambda k, lw, now: str(lw.l_priority if lw else 0)),
        "rgid": ("RGID", 0, ki("p_rgid")),
        "rgroup": ("RGROUP", LJUST, lambda k, lw, now: group_from_gid(k.p_rgid)),
        "rss": ("RSS", 0, lambda k, lw, now: str(pgtok(k.p_vm_rssize))),
        "ruid": ("RUID", 0, ki("p_ruid")),
        "ruser": ("RUSER", LJUST, lambda k, lw, now: user_from_uid(k.p_ruid)),
        "sess": ("SESS", 0, ki("p_sid")),
        "start": ("STARTED", LJUST, lambda k, lw, now: _started(k, now)),
        "state": ("STAT", LJUST, lambda k, lw, now: _state(k)),
        "svgid": ("SVGID", 0, ki("p_svgid")),
        "svuid": ("SVUID", 0, ki("p_svuid")),
        "tdev": ("TDEV", 0, lambda k, lw, now: "?"),
        "time": ("TIME", 0, lambda k, lw, now: _cputime(k)),
        "tt": ("TTY", LJUST, lambda k, lw, now: "?"),
        "uid": ("UID", 0, ki("p_uid")),
        "user": ("USER", LJUST, lambda k, lw, now: user_from_uid(k.p_uid)),
        "vsz": ("VSZ", 0, lambda k, lw, now: str(pgtok(k.p_vm_msize))),
        "wchan": ("WCHAN", LJUST | LWP,
                  lambda k, lw, now: (lw.l_wmesg.decode(errors="replace") or "-")
                  if lw and lw.l_wchan else "-"),
    }
    aliases = {"args": "command", "cmd": "command", "cputime": "time", "flags": "f",
               "ni": "nice", "pcpu": "%cpu", "pmem": "%mem", "rsz": "rss", "stat": "state",
               "tty": "tt", "ucmd": "comm", "ucomm": "comm", "vsize": "vsz"}
    def field(attr: str) -> object:
        return lambda k: getattr(k, attr)

    # the keywords pscomp can sort on (a field of kinfo_proc2, or CPUTIME,
    # PCPU and VSIZE); the others are UNSPECIFIED and LWP ones have no lwp there
    sortable = {n: field(a) for n, a in (
        ("cpu", "p_estcpu"), ("f", "p_flag"), ("gid", "p_gid"), ("jobc", "p_jobc"),
        ("nice", "p_nice"), ("nlwp", "p_nlwps"), ("pgid", "p__pgid"), ("pid", "p_pid"),
        ("ppid", "p_ppid"), ("rgid", "p_rgid"), ("rss", "p_vm_rssize"), ("ruid", "p_ruid"),
        ("sess", "p_sess"), ("svgid", "p_svgid"), ("svuid", "p_svuid"), ("tdev", "p_tdev"),
        ("tt", "p_tdev"), ("uid", "p_uid"), ("%mem", "p_vm_rssize"),
        ("start", "p_ustart_sec"), ("lstart", "p_ustart_sec"))}
    sortable["etime"] = lambda k: (k.p_ustart_sec, k.p_ustart_usec)          # TIMEVAL
    sortable["time"] = lambda k: k.p_rtime_sec * 1000000 + k.p_rtime_usec     # CPUTIME
    sortable["%cpu"] = lambda k: 0            # PCPU, larger first: kemu keeps no %cpu
    sortable["vsz"] = lambda k: -k.p_vm_msize                                  # VSIZE
    out = {n: Var(n, h, fl, fn, sortable.get(n)) for n, (h, fl, fn) in kws.items()}
    for a, n in aliases.items():
        h, fl, fn = kws[n]
        out[a] = Var(a, h, fl, fn, sortable.get(n))
    return out


def _etime_kw(k: kinfo_proc2, lw: kinfo_lwp | None, now: int) -> str:
    return _etime(k, now)


class _Ps:
    def __init__(self) -> None:
        self.kw = _keywords()
        self.vars: list[Var] = []
        self.sortlist: list[Var] = []
        self.termwidth = 79

    async def parsesort(self, fmt: str) -> None:
        """parsesort(): keywords to sort by, in order, before the default."""
        for word in fmt.replace(",", " ").split():
            name = word.partition("=")[0]
            v = self.kw.get(name)
            if v is None:
                await warnx(f"{name}: keyword not found")
                continue
            self.sortlist.append(v)

    async def parsefmt(self, fmt: str) -> None:
        for word in fmt.replace(",", " ").split():
            name, eq, header = word.partition("=")
            v = self.kw.get(name)
            if v is None:
                await warnx(f"{name}: keyword not found")
                continue
            nv = Var(v.name, header if eq else v.header, v.flags, v.fn)
            self.vars.append(nv)
        if not self.vars:
            await errx(1, "no valid keywords")


def _kludge(s: str) -> str:
    """kludge_oldps_options: "ps aux" -> "ps -aux", "ps 34" -> "ps -p34"."""
    ns = "" if s.startswith("-") else "-"
    cp = len(s) - 1
    if s and s[cp] == "t" and not s.startswith("-") and not any(c in "MNOopUW" for c in s):
        s = s[:cp] + "T"
        cp += 1
    else:
        while cp >= 0 and s[cp].isdigit():
            cp -= 1
        cp += 1
    ns += s[:cp]
    if cp < len(s) and s[cp].isdigit() and (
            cp == 0 or (s[cp - 1] not in "tp" and (cp - 1 == 0 or s[cp - 2] != "t"))):
        ns += "p"
    return ns + s[cp:]


@command("ps", summary="process status")
async def ps_main(argv: list[str]) -> int:
    args0 = argv[:1]
    if len(argv) > 1:
        args0 += [_kludge(argv[1])] + argv[2:]
    try:
        opts, args = getopt(args0, "AaCcehjk:LlM:mN:O:o:p:rSsTt:U:uvW:wx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(PS_USAGE)
    ps = _Ps()
    what, flag = KERN_PROC_UID, 0
    xflg = False
    fmt = False
    showlwps = False
    commandonly = False
    memf = nlistf = swapf = None
    wflag = 0
    for o, a in opts:
        if o == "A":
            what, flag, xflg = KERN_PROC_ALL, 0, True
        elif o == "a":
            what, flag = KERN_PROC_ALL, 0
        elif o == "c":
            commandonly = True
        elif o == "j":
            await ps.parsefmt(JFMT)
            fmt = True
        elif o == "L":
            await printf(" ".join(sorted(ps.kw)) + "\n")
            return 0
        elif o == "l":
            await ps.parsefmt(LFMT)
            fmt = True
        elif o == "m":
            await ps.parsesort("vsz")
        elif o == "k":
            await ps.parsesort(a)
        elif o == "M":
            memf = a
        elif o == "N":
            nlistf = a
        elif o == "W":
            swapf = a
        elif o == "O":
            await ps.parsefmt("pid")
            await ps.parsefmt(a)
            await ps.parsefmt("tt state time command")
            fmt = True
        elif o == "o":
            await ps.parsefmt(a)
            fmt = True
        elif o == "p":
            what = KERN_PROC_PID
            flag = await _parsenum(a, "process id")
            xflg = True
        elif o == "r":
            await ps.parsesort("%cpu")
        elif o == "s":
            showlwps = True
            await ps.parsefmt(SFMT)
            fmt = True
        elif o in "tT":
            what, flag = KERN_PROC_TTY, -1
            if o == "T" or a not in ("?", "-"):
                await errx(1, f"{'stdin' if o == 'T' else a}: not a terminal")
        elif o == "U":
            if a:
                what = KERN_PROC_UID
                uid = uid_from_user(a)
                flag = uid if uid is not None else await _parsenum(a, "user name")
        elif o == "u":
            await ps.parsefmt(UFMT)
            await ps.parsesort("%cpu")
            fmt = True
        elif o == "v":
            await ps.parsefmt("pid state time vsz rss %cpu %mem command")
            await ps.parsesort("vsz")
            fmt = True
        elif o == "w":
            wflag += 1
            ps.termwidth = 131 if wflag == 1 else 0
        elif o == "x":
            xflg = True
    # BACKWARD_COMPATIBILITY: operands name the kernel, its memory and swap
    if args:
        nlistf = args[0]
        if len(args) > 1:
            memf = args[1]
            if len(args) > 2:
                swapf = args[2]
    if memf is not None:
        # kvm_openfiles(nlistf, memf, swapf, O_RDONLY): a crash dump
        errbuf = await libkvm.kvm_openfiles(nlistf, memf, swapf)
        await errx(1, errbuf)
    if not fmt:
        await ps.parsefmt(DFMT)
    # the default sort criteria follow the asked ones
    await ps.parsesort("tdev,pid")
    for v in ps.sortlist:
        if v.flags & LWP or v.sortkey is None:
            await warnx(f"Cannot sort on {v.name}, sort key ignored")
    keys = [v.sortkey for v in ps.sortlist if not v.flags & LWP and v.sortkey is not None]
    now = (await libc.gettimeofday())[0]

    kinfo = await libkvm.kvm_getproc2(what, flag)
    if not kinfo:
        await _printheader(ps)
        return 1
    kinfo.sort(key=lambda k: tuple(f(k) for f in keys))  # type: ignore[operator]

    rows: list[tuple[kinfo_proc2, kinfo_lwp | None]] = []
    for k in kinfo:
        if not xflg and k.p_tdev == 0xffffffff:
            continue                                 # no controlling terminal
        lwps = await libkvm.kvm_getlwps(k.p_pid) if any(v.flags & LWP for v in ps.vars) \
            else []
        if showlwps:
            for lw in lwps:
                rows.append((k, lw))
        else:
            rows.append((k, _representative(k, lwps)))

    # widths (WIDTHMODE), then the header, then the lines
    cells: list[list[str]] = []
    for k, lw in rows:
        line = []
        for v in ps.vars:
            if v.flags & COMM:
                line.append(await _command(k, commandonly, ps.termwidth))
            else:
                line.append(v.fn(k, lw, now))  # type: ignore[operator]
            if not v.flags & COMM:
                v.width = max(v.width, len(line[-1]))
        cells.append(line)
    await _printheader(ps)
    for line in cells:
        await printf(_format_line(ps, line) + "\n")
    return 0


async def _parsenum(s: str, msg: str) -> int:
    """parsenum(): a whole strtoul(3) number (base 0) that fits an int."""
    c = strtoul(s, 0)
    if not s or c.rest(s):
        await errx(1, f"Invalid {msg}: `{s}'")
    if c.value > INT_MAX:
        await errx(1, f"Out of range {msg}: `{s}'")
    return c.value


def _representative(k: kinfo_proc2, lwps: list[kinfo_lwp]) -> kinfo_lwp | None:
    """pick_representative_lwp: the most live lwp of the process."""
    if not lwps:
        return None
    if len(lwps) == 1:
        return lwps[0]
    for stat in (LSONPROC, LSRUN, LSSLEEP, LSSUSPENDED):
        for lw in lwps:
            if lw.l_stat == stat:
                return lw
    return lwps[0]


async def _command(k: kinfo_proc2, commandonly: bool, termwidth: int) -> str:
    name = k.p_comm.decode("utf-8", "replace")
    if commandonly:
        return name
    argv = await libkvm.kvm_getargv2(k.p_pid, termwidth)
    if argv:
        s = " ".join(argv)
        title = argv[0].rsplit("/", 1)[-1]
        if title != name and not (title.startswith("-") and title[1:] == name):
            s += f" ({name})"
        return s
    # commands without an argument vector: [system] processes, (others)
    return f"[{name}]" if k.p_flag & L_SYSTEM else f"({name})"


async def _printheader(ps: _Ps) -> None:
    if not any(v.header for v in ps.vars):
        return          # all headers null (-o kw=): no blank header line, as print.c
    heads = []
    for i, v in enumerate(ps.vars):
        v.width = max(v.width, len(v.header))
        last = i == len(ps.vars) - 1
        if v.flags & LJUST:
            heads.append(v.header if last else v.header.ljust(v.width))
        else:
            heads.append(v.header.rjust(v.width))
    await printf(" ".join(heads) + "\n")


def _format_line(ps: _Ps, line: list[str]) -> str:
    out = []
    total = 0
    for i, (v, cell) in enumerate(zip(ps.vars, line, strict=True)):
        last = i == len(ps.vars) - 1
        if last and v.flags & COMM:
            if ps.termwidth:
                left = ps.termwidth - total
                if left < 1:
                    left = v.width
                cell = cell[:left]
            out.append(cell)
            break
        if v.flags & LJUST:
            text = cell if last else cell[:v.width].ljust(v.width)
        else:
            text = cell.rjust(v.width)
        out.append(text)
        total += len(text) + 1
    return " ".join(out)
