"""head, tail and wc, after NetBSD 8's usr.bin/head/head.c (read at 1.23, 2010),
usr.bin/tail (tail.c, forward.c, reverse.c, read.c; the reference store has
tail.c only at 1.9, 2002, whose ARG() is the same but for strtol and
err(3): kemu follows the later strtoll with errx(3)) and usr.bin/wc/wc.c
(1.35, 2011, named from the reference copy, not re-compared).

Implemented:

* ``head [-n lines] [-c bytes] [-q | -v] [file ...]`` and the obsolete
  ``head -N``, as head.c 1.23 (2010): ``==> file <==`` headers between
  several files (-v always, -q never); -c wins over -n; a count must be a
  whole positive strtoimax(3) number;
* ``tail [-f | -F | -r] [-b # | -c # | -n #] [file ...]`` with ``+N``
  (from the start) and ``-N``/``N`` (from the end) in 512-byte blocks,
  bytes or lines, the obsolete ``tail -N[bcl][fr]`` and ``+N`` forms,
  ``-r`` (reverse, the whole input by default), headers between several
  files; ``-f``/``-F`` follow the (first) file by reading what was appended
  once a second of the machine's clock (forward()'s loop without kqueue),
  never standard input when it is a pipe; ``-F`` also reopens the name
  when it leads to another file (a log rotated by renaming);
* ``wc [-c | -m] [-Llw] [file ...]``: lines, words, bytes (or characters),
  the longest line, a "total" line for several files.

All read standard input when no file is named.  The machine's locale is C:
``wc -m`` counts bytes, words are split on the C locale's white space.
"""

from __future__ import annotations

from kern.errno import ERANGE, ESPIPE
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import (
    File,
    GetoptError,
    eprintf,
    errx,
    fflush,
    fopen,
    getopt,
    printf,
    stdin,
    usage_exit,
    warn,
)
from tools.lib import libc
from tools.lib.stdlib import INTMAX_MAX, strtoimax, strtoll, to_int64

# ------------------------------------------------------------------ head

HEAD_USAGE = "usage: head [-n lines] [file ...]"


def _head_obsolete(argv: list[str]) -> list[str]:
    """head -N means head -n N."""
    out = [argv[0]]
    for i, a in enumerate(argv[1:], 1):
        if a[:1] != "-" or a[1:2] == "-" or not a[1:2].isdigit():
            return out + argv[i:]
        out.append("-n" + a[1:])
    return out


@command("head", summary="display first lines of a file")
async def head_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(_head_obsolete(argv), "c:n:qv")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(HEAD_USAGE)
    linecnt = 10
    bytecnt = 0
    qflag = vflag = False
    for o, a in opts:
        if o in "cn":
            c = strtoimax(a, 10)
            if (c.value == INTMAX_MAX and c.errno == ERANGE) or c.rest(a) or c.value <= 0:
                await errx(1, f"illegal {'byte' if o == 'c' else 'line'} count -- {a}")
            if o == "c":
                bytecnt = c.value
            else:
                linecnt = c.value
        elif o == "q":
            qflag, vflag = True, False
        else:
            qflag, vflag = False, True
    rv = 0
    first = True
    for path in args or [None]:
        if path is None:
            fp = stdin()
        else:
            try:
                fp = await fopen(path)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
                continue
            if vflag or (not qflag and len(args) > 1):
                await printf(f"{'' if first else chr(10)}==> {path} <==\n")
                first = False
        try:
            if not bytecnt:
                for _ in range(linecnt):
                    line = await fp.readline()
                    if not line:
                        break
                    await printf(line)
            else:
                await printf(await fp.read(bytecnt))
        except SyscallError as e:
            await warn(fp.name, e)
            rv = 1
        await fp.close()
    return rv


# ------------------------------------------------------------------ tail

TAIL_USAGE = "usage: tail [-f | -F | -r] [-b # | -c # | -n #] [file ...]"

# the output styles (extern.h's enum STYLE)
FBYTES, FLINES, RBYTES, RLINES, REVERSE = range(1, 6)


def _tail_obsolete(argv: list[str]) -> list[str]:
    """tail.c's obsolete(): ``[+-]N[bcl][fr]`` that is no option's argument
    becomes ``-[fr]{b,c,n}[+-]N`` for getopt."""
    out = list(argv)
    i = 1
    while i < len(out):
        ap = out[i]
        if ap[:1] != "-":
            if ap[:1] != "+":
                return out
        elif ap[1:2] == "-":
            return out
        c = ap[1:2]
        if c.isdigit() and c.isascii():
            t = ap
            new = "-"
            if t[-1] in "fr":
                new += t[-1]
                t = t[:-1]
            if t[-1] in "bc":
                new += t[-1]
                t = t[:-1]
            elif t[-1] == "l":
                new += "n"
                t = t[:-1]
            elif t[-1].isdigit():
                new += "n"
            else:
                raise _Obsolete(ap)
            out[i] = new + ap[0] + t[1:]
        elif c in ("b", "c", "n"):
            if not ap[2:]:
                i += 1
        elif c not in ("f", "F", "r"):
            return out
        i += 1
    return out


class _Obsolete(Exception):
    pass


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _forward(data: bytes, style: int, off: int) -> bytes:
    """forward(): the part of the input the style selects."""
    if style == FBYTES:
        return data[off:]
    if style == FLINES:
        return b"".join(_lines(data)[off:])
    if style == RBYTES:
        return data[len(data) - off:] if off else b""
    return b"".join(_lines(data)[-off:]) if off else b""        # RLINES


def _reverse(data: bytes, style: int, off: int) -> bytes:
    """reverse(): the lines selected, last first (the last line, newline or not,
    is printed as it is)."""
    if style != REVERSE and off == 0:
        return b""
    if style == RBYTES:
        lines = _lines(data[max(0, len(data) - off):])
    elif style == RLINES:
        lines = _lines(data)[-off:]
    else:
        lines = _lines(data)
    return b"".join(reversed(lines))


@command("tail", summary="display the last part of a file")
async def tail_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(_tail_obsolete(argv), "Fb:c:fn:r")
    except _Obsolete as e:
        await errx(1, f"illegal option -- {e.args[0]}")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(TAIL_USAGE)
    style = 0
    off = 0
    fflag = rflag = big_f = False
    for o, a in opts:
        if o in "bcn":
            if style:
                await usage_exit(TAIL_USAGE)
            c = strtoll(a, 10)
            if c.rest(a):
                await errx(1, f"illegal offset -- {a}")
            unit = {"b": 512, "c": 1, "n": 1}[o]
            off = to_int64(c.value * unit)          # C's long long product
            if a.startswith("+"):
                if off:
                    off -= unit
                style = FLINES if o == "n" else FBYTES
            else:
                off = abs(off)
                style = RLINES if o == "n" else RBYTES
        elif o == "f":
            fflag = True
        elif o == "F":
            fflag = big_f = True
        elif o == "r":
            rflag = True
    # reversed: no following, and the styles count from the end
    if rflag:
        if fflag:
            await usage_exit(TAIL_USAGE)
        style = {FBYTES: RBYTES, FLINES: RLINES}.get(style, style)
    if not style:
        style, off = (REVERSE, 0) if rflag else (RLINES, 10)
    rv = 0
    first = True
    for path in args or [None]:
        if path is None:
            fp = stdin()
            # input from a pipe is not followed (POSIX.2 requires this)
            try:
                await libc.lseek(fp.fd, 0, 1)
            except SyscallError as e:
                if e.errno == ESPIPE:
                    fflag = False
        else:
            try:
                fp = await fopen(path)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
                continue
        if len(args) > 1:
            await printf(f"{'' if first else chr(10)}==> {path} <==\n")
            first = False
        try:
            data = await fp.read()
        except SyscallError as e:
            await warn(fp.name, e)
            rv = 1
            await fp.close()
            continue
        await printf(_reverse(data, style, off) if rflag else _forward(data, style, off))
        await fflush()
        if fflag:
            # forward() follows this file and never returns: later files are
            # never reached, as in NetBSD 8's tail
            await _follow(fp, path, big_f)
        await fp.close()
    return rv


async def _follow(fp: File, path: str | None, reopen: bool) -> None:
    """forward()'s -f loop without kqueue: read what was appended to the open
    file, once a second of the machine's clock; -F also reopens ``path``
    when the name now leads to another file (renamed or replaced)."""
    st = await libc.fstat(fp.fd)
    ino, dev = st.st_ino, st.st_dev
    while True:
        while data := await fp.read(65536):
            await printf(data)
            await fflush()
        fp.clearerr()
        await libc.nanosleep(1)
        if reopen and path is not None:
            try:
                nst = await libc.stat(path)
            except SyscallError:
                continue
            if nst.st_ino != ino or nst.st_dev != dev or nst.st_nlink == 0:
                try:
                    nfp = await fopen(path)
                except SyscallError as e:
                    await warn(path, e)
                    return
                await fp.close()
                fp, ino, dev = nfp, nst.st_ino, nst.st_dev


# ------------------------------------------------------------------ wc

WC_USAGE = "usage: wc [-c | -m] [-Llw] [file ...]"
_SPACE = frozenset(b" \t\n\v\f\r")


async def _wc_count(fp: File) -> tuple[int, int, int, int]:
    """(lines, words, bytes, longest line) of ``fp``."""
    lines = words = nbytes = longest = cur = 0
    inword = False
    while data := await fp.read(65536):
        nbytes += len(data)
        for b in data:
            if b == 10:
                lines += 1
                longest = max(longest, cur)
                cur = 0
            else:
                cur += 1
            if b in _SPACE:
                inword = False
            elif not inword:
                inword = True
                words += 1
    longest = max(longest, cur)
    return lines, words, nbytes, longest


@command("wc", summary="word, line, and byte or character count")
async def wc_main(argv: list[str]) -> int:
    try:
        opts, args = getopt(argv, "cLlmw")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(WC_USAGE)
    flags = {o for o, _ in opts}
    if "c" in flags and "m" in flags:
        # the last of -c and -m wins, as NetBSD's (they share doline/dochar)
        last = [o for o, _ in opts if o in "cm"][-1]
        flags -= {"c", "m"} - {last}
    if not flags & set("clmwL"):
        flags = {"l", "w", "c"}
    totals = [0, 0, 0, 0]
    rv = 0
    nfiles = 0

    async def show(counts: tuple[int, ...] | list[int], name: str | None) -> None:
        ln, wd, ch, lg = counts
        out = ""
        if "l" in flags:
            out += f" {ln:7d}"
        if "w" in flags:
            out += f" {wd:7d}"
        if "c" in flags or "m" in flags:
            out += f" {ch:7d}"
        if "L" in flags:
            out += f" {lg:7d}"
        await printf(out + (f" {name}\n" if name is not None else "\n"))

    for path in args or [None]:
        if path is None:
            fp = stdin()
        else:
            try:
                fp = await fopen(path)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
                continue
        try:
            counts = await _wc_count(fp)
        except SyscallError as e:
            await warn(fp.name, e)
            rv = 1
            await fp.close()
            continue
        await fp.close()
        nfiles += 1
        totals = [totals[i] + counts[i] for i in range(3)] + [max(totals[3], counts[3])]
        await show(counts, path)
    if len(args) > 1:
        await show(totals, "total")
    return rv
