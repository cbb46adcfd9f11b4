"""Word expansion (bin/sh/expand.c): parameters, command substitution, field
splitting, pathname expansion and quote removal, in that order.

It runs in the shell's process: pathname expansion reads the machine's
directories through getdents(2), and command substitution forks a
subshell whose standard output is a pipe.

* ``$name``, ``${name}``, the special parameters (``$?``, ``$$``, ``$!``,
  ``$#``, ``$0``-``$9``, ``$@``, ``$*``, ``$-``) and the forms
  ``${x-w}``, ``${x+w}``, ``${x?w}``, ``${x=w}`` (each with ``:``),
  ``${x#p}``, ``${x##p}``, ``${x%p}``, ``${x%%p}``, ``${#x}``;
* the results of unquoted expansions are split into fields on IFS (blanks
  collapse; another IFS character ends a field);
* a field with an unquoted ``*``, ``?`` or ``[`` is a pattern matched
  against the machine's file names, component by component, as expmeta
  does: a leading ``.`` must be matched explicitly, ``/`` never is, the
  matches come sorted, and a pattern that matches nothing stays as it is;
* quotes are removed last.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kern.exceptions import SyscallError
from tools.lib import libc
from tools.sh.parser import (
    VSASSIGN,
    VSLENGTH,
    VSMINUS,
    VSNORMAL,
    VSPLUS,
    VSQUESTION,
    VSTRIMLEFT,
    VSTRIMLEFTMAX,
    VSTRIMRIGHT,
    VSTRIMRIGHTMAX,
    CmdSub,
    Lit,
    Node,
    Param,
    Word,
    goodname,
)

IFS_DEFAULT = " \t\n"


class ExpandError(Exception):
    """An expansion error sh reports with error(): ``x: parameter not set``."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


@dataclass
class ShVars:
    """What expansion reads and writes of the shell's state."""

    vars: dict[str, str]
    params: list[str]
    arg0: str
    status: int
    pid: int
    lastbg: int | None
    flags: str


# A chunk of expanded text: (text, quoted, splittable).  BREAK ends a field ("$@").
Chunk = tuple[str, bool, bool]
BREAK: Chunk = ("", False, False)

CmdSubFn = Callable[[Node | None], Awaitable[str]]


class Expander:
    def __init__(self, sv: ShVars, cmdsubst: CmdSubFn) -> None:
        self.sv = sv
        self.cmdsubst = cmdsubst

    # -------------------------------------------------------------- parameters

    def lookup(self, name: str) -> str | None:
        """The value of a parameter, or None when it is unset."""
        sv = self.sv
        if name == "?":
            return str(sv.status)
        if name == "$":
            return str(sv.pid)
        if name == "!":
            return None if sv.lastbg is None else str(sv.lastbg)
        if name == "#":
            return str(len(sv.params))
        if name == "-":
            return sv.flags
        if name in ("@", "*"):
            return " ".join(sv.params) if sv.params else None
        if name.isdigit():
            n = int(name)
            if n == 0:
                return sv.arg0
            return sv.params[n - 1] if n <= len(sv.params) else None
        return sv.vars.get(name)

    async def param(self, p: Param) -> list[Chunk]:
        quoted = p.dq
        if p.name == "@" and quoted and p.subtype == VSNORMAL:
            # "$@": each parameter a field of its own
            out: list[Chunk] = []
            for i, a in enumerate(self.sv.params):
                if i:
                    out.append(BREAK)
                out.append((a, True, False))
            return out
        val = self.lookup(p.name)
        unset = val is None or (p.colon and val == "")
        st = p.subtype
        if st == VSLENGTH:
            return [(str(len(val or "")), quoted, not quoted)]
        if st == VSMINUS:
            if unset:
                return await self.subword(p.arg, quoted)
        elif st == VSPLUS:
            if not unset:
                return await self.subword(p.arg, quoted)
            return []
        elif st == VSQUESTION:
            if unset:
                msg = await self.expand_string(p.arg) if p.arg is not None else ""
                if not msg:
                    msg = "parameter not set" + (" or null" if p.colon else "")
                raise ExpandError(f"{p.name}: {msg}")
        elif st == VSASSIGN:
            if unset:
                if not goodname(p.name):
                    raise ExpandError(f"${{{p.name}}}: bad substitution")
                val = await self.expand_string(p.arg) if p.arg is not None else ""
                self.sv.vars[p.name] = val
        elif st in (VSTRIMLEFT, VSTRIMLEFTMAX, VSTRIMRIGHT, VSTRIMRIGHTMAX):
            pat = await self.pattern(p.arg)
            val = trim(val or "", pat, st)
        if val is None:
            return []
        return [(val, quoted, not quoted)]

    async def subword(self, w: Word | None, quoted: bool) -> list[Chunk]:
        if w is None:
            return []
        chunks = await self.chunks(w)
        if quoted:
            return [c if c is BREAK else (c[0], True, False) for c in chunks]
        return chunks

    # -------------------------------------------------------------- words

    async def chunks(self, w: Word) -> list[Chunk]:
        out: list[Chunk] = []
        for part in w.parts:
            if isinstance(part, Lit):
                out.append((part.text, part.quoted, False))
            elif isinstance(part, Param):
                out.extend(await self.param(part))
            elif isinstance(part, CmdSub):
                text = (await self.cmdsubst(part.tree)).rstrip("\n")
                out.append((text, part.dq, not part.dq))
        return out

    async def expand_string(self, w: Word | None) -> str:
        """A word expanded without field splitting or pathname expansion
        (assignments, redirection targets, case words)."""
        if w is None:
            return ""
        return "".join(t for t, _, _ in await self.chunks(w))

    async def pattern(self, w: Word | None) -> list[tuple[str, bool]]:
        """A word as a pattern: each character with whether it was quoted."""
        if w is None:
            return []
        pat: list[tuple[str, bool]] = []
        for t, q, _ in await self.chunks(w):
            pat.extend((c, q) for c in t)
        return pat

    async def expandarg(self, w: Word, glob: bool = True) -> list[str]:
        """A command word to its fields: expansion, splitting, globbing, quote removal."""
        ifs = self.sv.vars.get("IFS", IFS_DEFAULT)
        fields = split_fields(await self.chunks(w), ifs)
        out: list[str] = []
        for f in fields:
            if glob and "f" not in self.sv.flags and has_meta(f):
                matches = await expmeta(f)
                if matches:
                    out.extend(matches)
                    continue
            out.append("".join(t for t, _ in f))
        return out


# ------------------------------------------------------------------ field splitting

Field = list[tuple[str, bool]]


def split_fields(chunks: list[Chunk], ifs: str) -> list[Field]:
    fields: list[Field] = []
    cur: Field = []
    have = False
    ifs_ws = "".join(c for c in ifs if c in IFS_DEFAULT)
    for chunk in chunks:
        if chunk is BREAK:
            fields.append(cur)
            cur, have = [], False
            continue
        text, quoted, split = chunk
        if not split or not ifs:
            if text:
                cur.extend((c, quoted) for c in text)
            if quoted or text:
                have = True
            continue
        for c in text:
            if c in ifs:
                if c in ifs_ws:
                    if have:
                        fields.append(cur)
                        cur, have = [], False
                else:
                    fields.append(cur)
                    cur, have = [], False
            else:
                cur.append((c, False))
                have = True
    if have:
        fields.append(cur)
    return fields


# ------------------------------------------------------------------ patterns

def has_meta(f: Field) -> bool:
    return any(c in "*?[" and not q for c, q in f)


def pattern_regex(pat: Field) -> re.Pattern[str]:
    """sh's pmatch as a regular expression: * ? [...] ([!...] negates), quoted
    characters match themselves, a '[' without its ']' is literal."""
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c, q = pat[i]
        if q:
            out.append(re.escape(c))
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            j = i + 1
            neg = False
            if j < n and pat[j][0] in "!^" and not pat[j][1]:
                neg = True
                j += 1
            items: list[str] = []
            first = True
            while j < n and (pat[j][0] != "]" or first or pat[j][1]):
                ch = pat[j][0]
                if (j + 2 < n and pat[j + 1][0] == "-" and not pat[j + 1][1]
                        and pat[j + 2][0] != "]"):
                    lo, hi = ch, pat[j + 2][0]
                    items.append(f"{re.escape(lo)}-{re.escape(hi)}" if lo <= hi else "")
                    j += 3
                else:
                    items.append(re.escape(ch))
                    j += 1
                first = False
            if j >= n:
                out.append(re.escape("["))       # no closing ']': a plain '['
            else:
                out.append(("[^" if neg else "[") + "".join(items) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def pmatch(pat: Field, s: str) -> bool:
    return pattern_regex(pat).fullmatch(s) is not None


def trim(val: str, pat: Field, subtype: int) -> str:
    """${x#p} ${x##p} ${x%p} ${x%%p}: the shortest or longest match removed."""
    rx = pattern_regex(pat)
    n = len(val)
    if subtype in (VSTRIMLEFT, VSTRIMLEFTMAX):
        rng = range(0, n + 1) if subtype == VSTRIMLEFT else range(n, -1, -1)
        for k in rng:
            if rx.fullmatch(val[:k]):
                return val[k:]
        return val
    rng = range(n, -1, -1) if subtype == VSTRIMRIGHT else range(0, n + 1)
    for k in rng:
        if rx.fullmatch(val[k:]):
            return val[:k]
    return val


# ------------------------------------------------------------------ pathname expansion

async def _exists(path: str) -> bool:
    try:
        await libc.lstat(path)
    except SyscallError:
        return False
    return True


async def _isdir(path: str) -> bool:
    try:
        st = await libc.stat(path)
    except SyscallError:
        return False
    return (st.st_mode & 0o170000) == 0o040000


async def expmeta(f: Field) -> list[str]:
    """The sorted names the pattern ``f`` matches in the machine's tree."""
    comps: list[Field] = [[]]
    for c, q in f:
        if c == "/":
            comps.append([])
        else:
            comps[-1].append((c, q))
    absolute = not comps[0]
    trailing = len(comps) > 1 and not comps[-1]     # "*/": directories only
    comps = [c for c in comps if c]
    results: list[str] = []
    if comps:
        await _expmeta("/" if absolute else "", comps, trailing, results)
    return sorted(results)


async def _found(path: str, trailing: bool, out: list[str]) -> None:
    if trailing:
        if await _isdir(path):
            out.append(path + "/")
    else:
        out.append(path)


async def _expmeta(prefix: str, comps: list[Field], trailing: bool, out: list[str]) -> None:
    comp, rest = comps[0], comps[1:]
    if not has_meta(comp):
        path = prefix + "".join(c for c, _ in comp)
        if rest:
            await _expmeta(path + "/", rest, trailing, out)
        elif await _exists(path):
            await _found(path, trailing, out)
        return
    try:
        entries = await libc.listdir(prefix or ".")
    except SyscallError:
        return
    rx = pattern_regex(comp)
    dot_ok = comp[0][0] == "."
    for _ino, name, _typ in entries:
        if name.startswith(".") and not dot_ok:
            continue
        if rx.fullmatch(name) is None:
            continue
        path = prefix + name
        if not rest:
            await _found(path, trailing, out)
        elif await _isdir(path):
            await _expmeta(path + "/", rest, trailing, out)
