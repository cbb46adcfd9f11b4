"""grep, egrep, fgrep: NetBSD 8's usr.bin/grep (the BSD grep, "GNU-compatible";
grep.c read at 1.6, 2011: its options, the -A/-B/-C/-m counts as
strtoull(3) reads them, err(2, NULL) for a bad one).

Implemented options: -A num, -B num, -C[num] (context, groups separated by
``--``), -a, -b, -c, -E, -e pattern, -F, -f file, -G, -H, -h, -i/-y, -L,
-l, -m num, -n, -o, -q, -R/-r (recursive, a directory's files in name
order), -s, -v, -w, -x; egrep is grep -E and fgrep grep -F.  Standard
input is read when there is no file operand (or for "-"), named
"(standard input)".  A file with a NUL byte in its first block is binary:
a match prints "Binary file F matches" unless -a.  Exit status: 0 when a
line was selected, 1 when none, 2 on an error, even when a line was
selected elsewhere (but 0 then with -q), as grep.c's exit expression.

Regular expressions are POSIX's, as NetBSD 8's regcomp(3) (Henry Spencer's,
lib/libc/regex/regcomp.c, read at revision 1.16; its parser of escapes and
brackets stayed as it is there until the 2021 sync with FreeBSD's regex)
takes them: basic (BRE: ``\\(\\)`` groups, ``\\{m,n\\}`` intervals,
back-references ``\\1``-``\\9``, ``*`` literal where it cannot repeat) or
extended (ERE: no back-references), bracket expressions with ``[:class:]``,
and the ``[[:<:]]``/``[[:>:]]`` word boundaries.  Any other backslash
escape is the character itself, in both (p_simp_re's and p_ere_exp's
``ordinary``): ``\\|`` is a ``|``, ``\\b`` a ``b``, ``\\<`` a ``<``; the GNU
meanings (alternation, word boundaries, ``\\w``) are not NetBSD 8's.  They
are translated to Python's ``re`` and matched on bytes.  Not implemented:
long options, --color, -D/-d actions, -O/-S/-p link handling, -U, -V,
-Z/-z, -J, -P (no Perl regexps in NetBSD's grep either).
"""

from __future__ import annotations

import re

from kern.errno import EINVAL, EISDIR, ERANGE
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._fsutil import join
from tools.cmds._prog import (
    File,
    GetoptError,
    eprintf,
    err,
    fflush,
    fopen,
    getopt,
    getprogname,
    printf,
    stdin,
    usage_exit,
    warn,
    warnx,
)
from tools.lib import libc
from tools.lib.stdlib import ULONG_MAX, strtoull
from vfs.stat import S_ISDIR

GREP_USAGE = ("usage: {p} [-abcDEFGHhIiJLlmnOoPqRSsUVvwxZz] [-A num] [-B num] [-C[num]]\n"
              "\t[-e pattern] [-f file] [--binary-files=value] [--color=when]\n"
              "\t[--context[=num]] [--directories=action] [--label] [--line-buffered]\n"
              "\t[--null] [pattern] [file ...]")

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "0-9a-zA-Z", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "print": r" -~",
    "graph": r"!-~", "cntrl": r"\x00-\x1f\x7f", "xdigit": "0-9A-Fa-f",
}


class BadRegex(Exception):
    pass


def _bracket(p: str, i: int) -> tuple[str, int]:
    """A bracket expression starting at p[i] == '[': (python class, index after it)."""
    j = i + 1
    out = "["
    if j < len(p) and p[j] == "^":
        out += "^"
        j += 1
    first = True
    while True:
        if j >= len(p):
            raise BadRegex("brackets ([ ]) not balanced")
        c = p[j]
        if c == "]" and not first:
            return out + "]", j + 1
        first = False
        if c == "[" and j + 1 < len(p) and p[j + 1] in ":.=":
            kind = p[j + 1]
            end = p.find(kind + "]", j + 2)
            if end < 0:
                raise BadRegex("brackets ([ ]) not balanced")
            name = p[j + 2:end]
            if kind == ":":
                if name not in _CLASSES:
                    raise BadRegex("invalid character class")
                out += _CLASSES[name]
            else:
                out += re.escape(name)
            j = end + 2
            continue
        if c in "\\[]^":
            out += "\\" + c
        else:
            out += c
        j += 1


def posix_to_re(p: str, extended: bool) -> str:
    """A POSIX BRE/ERE as a Python regular expression."""
    out: list[str] = []
    i = 0
    n = len(p)
    # where a '*' has nothing to repeat (then it is literal in a BRE)
    at_start = True
    depth = 0               # open groups: one left open is regcomp's REG_EPAREN
    while i < n:
        c = p[i]
        if p.startswith("[[:<:]]", i) or p.startswith("[[:>:]]", i):
            # p_bracket's "Truly Sickening Special-Case Kludges": the beginning
            # and the end of a word (a run of alphanumerics and '_')
            out.append(r"\b(?=\w)" if p[i + 3] == "<" else r"\b(?<=\w)")
            i += 7
            at_start = False
            continue
        if c == "[":
            cls, i = _bracket(p, i)
            out.append(cls)
            at_start = False
            continue
        if c == "\\":
            if i + 1 >= n:
                raise BadRegex("trailing backslash (\\)")
            d = p[i + 1]
            i += 2
            if not extended and d in "()":
                if d == "(":
                    depth += 1
                elif depth == 0:
                    raise BadRegex("parentheses not balanced")
                else:
                    depth -= 1
                out.append(d)
                at_start = d == "("
                continue
            if not extended and d == "{":
                end = p.find("\\}", i)
                if end < 0:
                    raise BadRegex("braces not balanced")
                out.append("{" + p[i:end] + "}")
                i = end + 2
                continue
            if not extended and d.isdigit() and d != "0":
                out.append("\\" + d)            # a back-reference (BREs only)
            else:
                out.append(re.escape(d))        # regcomp's ordinary(): the character
            at_start = False
            continue
        if c == "*":
            if at_start:
                out.append(r"\*")
            else:
                out.append("*")
            i += 1
            continue
        if extended:
            if c in "+?":
                if at_start:
                    raise BadRegex("repetition-operator operand invalid")
                out.append(c)
            elif c == "{":
                if at_start:
                    raise BadRegex("repetition-operator operand invalid")
                end = p.find("}", i)
                if end < 0 or not re.fullmatch(r"\d+(,\d*)?", p[i + 1:end]):
                    raise BadRegex("invalid repetition count(s)")
                out.append(p[i:end + 1])
                i = end + 1
                continue
            elif c == ")" and depth == 0:
                out.append(r"\)")          # an unmatched ')' is literal (POSIX_MISTAKE)
            elif c in "()|":
                depth += 1 if c == "(" else -1 if c == ")" else 0
                out.append(c)
                i += 1
                at_start = c in "(|"
                continue
            elif c in "^$.":
                out.append(c)
            else:
                out.append(re.escape(c))
        else:
            if c == "^" and at_start:
                out.append("^")
                i += 1
                continue            # a '*' after a leading '^' is literal too
            if c == "$" and (i == n - 1 or p[i + 1:i + 3] == "\\)"):
                out.append("$")
            elif c == ".":
                out.append(".")
            else:
                out.append(re.escape(c))
        at_start = False
        i += 1
    if depth:
        raise BadRegex("parentheses not balanced")
    return "".join(out)


class _Grep:
    def __init__(self, flags: dict[str, object], patterns: list[bytes]) -> None:
        self.f = flags
        self.matched = 0
        self.errors = False
        icase = re.IGNORECASE if flags.get("i") else 0
        regs = []
        for pat in patterns:
            if flags.get("F"):
                rx = re.escape(pat)
            else:
                rx = posix_to_re(pat.decode("latin-1"), bool(flags.get("E"))).encode("latin-1")
            if flags.get("x"):
                rx = b"(?:" + rx + b")\\Z"
            elif flags.get("w"):
                rx = b"(?<![0-9A-Za-z_])(?:" + rx + b")(?![0-9A-Za-z_])"
            regs.append(re.compile(rx, icase))
        self.regs = regs

    def matches(self, line: bytes) -> list[tuple[int, int]]:
        """The match spans of ``line`` (without its newline), leftmost first."""
        spans: list[tuple[int, int]] = []
        for rx in self.regs:
            if self.f.get("x"):
                m = rx.match(line)
                if m:
                    spans.append(m.span())
                continue
            if self.f.get("o"):
                pos = 0
                while pos <= len(line):
                    m = rx.search(line, pos)
                    if not m:
                        break
                    if m.end() == m.start():
                        pos = m.end() + 1
                        continue
                    spans.append(m.span())
                    pos = m.end()
            else:
                m = rx.search(line)
                if m:
                    spans.append(m.span())
        return sorted(spans)

    async def procfile(self, fp: File, name: str, show_name: bool) -> int:
        """grep one file: the number of selected lines."""
        f = self.f
        data = await fp.read()
        binary = b"\0" in data[:32768] and not f.get("a")
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        count = 0
        after = 0
        before: list[tuple[int, int, bytes]] = []
        last_printed = -1
        offset = 0
        maxcount = f.get("m")
        quiet = f.get("q") or f.get("l") or f.get("L") or f.get("c")
        A, B = int(f.get("A", 0)), int(f.get("B", 0))  # type: ignore[call-overload]
        for lineno, line in enumerate(lines, 1):
            lineoff = offset
            offset += len(line) + 1
            spans = self.matches(line)
            selected = bool(spans) != bool(f.get("v"))
            if maxcount is not None and count >= maxcount:  # type: ignore[operator]
                if not selected and after and not quiet:
                    await self._print(name, show_name, lineno, lineoff, line, "-")
                    after -= 1
                    continue
                break
            if not selected:
                if after and not quiet and not binary:
                    await self._print(name, show_name, lineno, lineoff, line, "-")
                    last_printed = lineno
                    after -= 1
                elif B:
                    before.append((lineno, lineoff, line))
                    del before[:-B]
                continue
            count += 1
            if quiet:
                if f.get("q") or f.get("l") or f.get("L"):
                    break
                continue
            if binary:
                break
            if (A or B) and last_printed >= 0:
                first = before[0][0] if before else lineno
                if first > last_printed + 1:
                    await printf("--\n")
            for bl, bo, bline in before:
                await self._print(name, show_name, bl, bo, bline, "-")
            before.clear()
            if f.get("o") and not f.get("v"):
                for s, e in spans:
                    await self._print(name, show_name, lineno, lineoff + s, line[s:e], ":")
            else:
                await self._print(name, show_name, lineno, lineoff, line, ":")
            last_printed = lineno
            after = A
        if f.get("c") and not f.get("q"):
            if show_name:
                await printf(f"{name}:".encode("utf-8", "surrogateescape"))
            await printf(f"{count}\n")
        if f.get("l") and count and not f.get("q"):
            await printf(name + "\n")
        if f.get("L") and not count and not f.get("q"):
            await printf(name + "\n")
        if binary and count and not quiet:
            await printf(f"Binary file {name} matches\n")
        return count

    async def _print(self, name: str, show_name: bool, lineno: int, off: int, line: bytes,
                     sep: str) -> None:
        f = self.f
        prefix = ""
        if show_name:
            prefix += name + sep
        if f.get("n"):
            prefix += f"{lineno}{sep}"
        if f.get("b"):
            prefix += f"{off}{sep}"
        await printf(prefix.encode("utf-8", "surrogateescape") + line + b"\n")

    async def grepfile(self, path: str | None, show_name: bool) -> None:
        f = self.f
        if path is None or path == "-":
            fp, name = stdin(), "(standard input)"
        else:
            name = path
            try:
                st = await libc.stat(path)
                if S_ISDIR(st.st_mode) and f.get("r"):
                    await self.greptree(path)
                    return
                if S_ISDIR(st.st_mode):
                    raise SyscallError(EISDIR, "read")
                fp = await fopen(path)
            except SyscallError as e:
                if not f.get("s"):
                    await warn(path, e)
                self.errors = True
                return
        try:
            self.matched += await self.procfile(fp, name, show_name)
        except SyscallError as e:
            if not f.get("s"):
                await warn(name, e)
            self.errors = True
        finally:
            await fp.close()
        if f.get("q") and self.matched:
            await fflush()

    async def greptree(self, path: str) -> None:
        try:
            names = sorted(n for _, n, _ in await libc.listdir(path) if n not in (".", ".."))
        except SyscallError as e:
            if not self.f.get("s"):
                await warn(path, e)
            self.errors = True
            return
        for n in names:
            p = join(path, n)
            try:
                st = await libc.lstat(p)
            except SyscallError as e:
                if not self.f.get("s"):
                    await warn(p, e)
                self.errors = True
                continue
            if S_ISDIR(st.st_mode):
                await self.greptree(p)
            elif not (st.st_mode & 0o170000) == 0o120000:   # symbolic links are skipped
                await self.grepfile(p, not self.f.get("h"))


async def _usage() -> None:
    await usage_exit(GREP_USAGE.format(p=getprogname()), 2)


@command("grep", "egrep", "fgrep", summary="file pattern searcher")
async def grep_main(argv: list[str]) -> int:
    prog = getprogname()
    flags: dict[str, object] = {}
    if prog == "egrep":
        flags["E"] = True
    elif prog == "fgrep":
        flags["F"] = True
    # -C takes an optional argument; getopt(3) cannot say so: give it one
    args0 = [argv[0]]
    for i, a in enumerate(argv[1:], 1):
        if a == "--":
            args0 += argv[i:]
            break
        if a.startswith("-C") and not a[2:]:
            args0.append("-C2")
            continue
        args0.append(a)
    try:
        opts, args = getopt(args0, "A:B:C:abcEe:Ff:GHhiLlm:noqRrsvwxy")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await _usage()
        return 2
    patterns: list[bytes] = []
    have_e = False
    for o, a in opts:
        if o in "ABCm":
            # strtoull: a minus sign is taken modulo 2**64, as in the C
            c = strtoull(a, 10)
            if (c.errno == ERANGE and c.value == ULONG_MAX) or \
                    (c.errno == EINVAL and c.value == 0) or c.rest(a):
                await err(2, None, c.errno or EINVAL)
            n = c.value
            if o == "C":
                flags["A"] = flags["B"] = n
            else:
                flags[o] = n
        elif o == "e":
            patterns.append(a.encode("utf-8", "surrogateescape"))
            have_e = True
        elif o == "f":
            try:
                fp = await fopen(a)
                for line in (await fp.read()).split(b"\n")[:-1] or [b""]:
                    patterns.append(line)
                await fp.close()
            except SyscallError as e:
                await warn(a, e)
                return 2
            have_e = True
        elif o == "E":
            flags["E"], flags["F"] = True, False
        elif o == "F":
            flags["F"], flags["E"] = True, False
        elif o == "G":
            flags["E"] = flags["F"] = False
        elif o == "y":
            flags["i"] = True
        elif o == "R":
            flags["r"] = True
        elif o == "H":
            flags["H"], flags["h"] = True, False
        elif o == "h":
            flags["h"], flags["H"] = True, False
        elif o == "l":
            flags["l"], flags["L"] = True, False
        elif o == "L":
            flags["L"], flags["l"] = True, False
        else:
            flags[o] = True
    if not have_e:
        if not args:
            await _usage()
            return 2
        patterns.append(args.pop(0).encode("utf-8", "surrogateescape"))
    try:
        g = _Grep(flags, patterns)
    except (BadRegex, re.error) as e:
        await warnx(str(e))
        return 2
    files: list[str | None] = list(args) or [None]
    if not args and flags.get("r"):
        files = ["."]
    show_name = (len(args) > 1 or bool(flags.get("r")) or bool(flags.get("H"))) \
        and not flags.get("h")
    for path in files:
        await g.grepfile(path, show_name)
        if flags.get("q") and g.matched:
            break
    # exit(c ? (notfound ? (qflag ? 0 : 2) : 0) : (notfound ? 2 : 1))
    if g.matched:
        return 0 if not g.errors or flags.get("q") else 2
    return 2 if g.errors else 1
