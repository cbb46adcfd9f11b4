"""Word expansion (bin/sh/expand.c): parameters, command substitution, arithmetic,
field splitting, pathname expansion and quote removal, in that order.

Ported from expand.c 1.128 (2018): patmatch and match_charclass (every
pattern: case, pathname expansion, ``${x#p}``...), subevalvar_trim's
shortest/longest loops, expari (the expression expanded, then
tools/sh/arith.py).  The rest keeps expand.c's order and messages over
kemu's word representation (parts instead of CTL bytes), which is why it
is not line for line: evalvar, argstr, ifsbreakup and expmeta are kemu's.
Deviation: no tilde expansion (a ``~`` stays as it is).

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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kern.exceptions import SyscallError
from tools.lib import libc
from tools.sh.arith import ArithError, arith
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
    Arith,
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
            elif isinstance(part, Arith):
                out.append((await self.expari(part), part.dq, not part.dq))
        return out

    async def expari(self, part: Arith) -> str:
        """expari: the expression expanded (parameters, command substitutions),
        then evaluated; its value in decimal."""
        expr = await self.expand_string(part.expr)
        vars_ = self.sv.vars

        def setvar(name: str, value: str) -> None:
            vars_[name] = value

        try:
            return str(arith(expr, self.lookup, setvar))
        except ArithError as e:
            raise ExpandError(e.msg) from None

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


# match_charclass's classes: wctype(3) names in the C locale (ASCII).
_CHARCLASSES: dict[str, Callable[[str], bool]] = {
    "alnum": lambda c: c.isascii() and c.isalnum(),
    "alpha": lambda c: c.isascii() and c.isalpha(),
    "blank": lambda c: c in " \t",
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "digit": lambda c: "0" <= c <= "9",
    "graph": lambda c: 33 <= ord(c) <= 126,
    "lower": lambda c: "a" <= c <= "z",
    "print": lambda c: 32 <= ord(c) <= 126,
    "punct": lambda c: 33 <= ord(c) <= 126 and not c.isalnum(),
    "space": lambda c: c in " \t\n\v\f\r",
    "upper": lambda c: "A" <= c <= "Z",
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}
_CLASSNAME = set("0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def match_charclass(pat: Field, p: int, chr_: str) -> tuple[bool, int | None]:
    """expand.c's match_charclass: at the ':' of ``[:class:]`` (pat[p]), whether
    ``chr_`` is in the class, and the index after the closing ``:]`` (None when
    this is no class: then the ``[`` is an ordinary member)."""
    p += 1
    text = "".join(c for c, _ in pat[p:])
    nameend = text.find(":]")
    if nameend <= 0:                                  # not a valid class
        return False, None
    name = text[:nameend]
    if not (name[0].isascii() and name[0].isalpha()) or not set(name) <= _CLASSNAME:
        return False, None
    end = p + nameend + 2                             # committed to it being a class
    if nameend >= 20:                                 # but too long: no match
        return False, end
    test = _CHARCLASSES.get(name)
    # An unknown class matches nothing but is valid nevertheless.
    return (test is not None and test(chr_)), end


def patmatch(pat: Field, s: str) -> bool:
    """expand.c's patmatch: does ``s`` match the pattern ``pat`` (characters with
    whether they were quoted; a quoted one is sh's CTLESC-escaped character).

    ``*`` backtracks to the last star only (sh's bt_p/bt_q), ``?`` takes one
    character, ``[...]`` is a class (``!`` or ``^`` negates, ``a-z`` ranges
    compared by code point as wcscoll(3) does in the C locale, ``[:name:]``
    classes, a quoted or backslashed member is itself); a ``[`` with no
    ``]`` after it is an ordinary character.  A range whose ends are
    reversed (``[z-a]``) contains nothing."""
    n, m = len(pat), len(s)
    p = q = 0
    bt_p: int | None = None
    bt_q = 0
    while True:
        if p >= n:                                    # end of the pattern
            if q < m:
                if bt_p is None or bt_q >= m:
                    return False
                bt_q += 1
                p, q = bt_p, bt_q
                continue
            return True
        c, quoted = pat[p]
        p += 1
        if quoted:                                    # CTLESC: the character itself
            pass
        elif c == "\\":
            # An escape that came from an expansion: the next character literally.
            # Deviation: a '\\' at the very end matches a '\\' (the C reads the NUL).
            if p < n:
                c = pat[p][0]
                p += 1
        elif c == "?":
            if q >= m:
                return False
            q += 1
            continue
        elif c == "*":
            while p < n and pat[p] == ("*", False):
                p += 1
            if p >= n:
                q = m                                 # a trailing '*' takes the rest
            else:
                c2, q2 = pat[p]
                if not q2 and c2 not in "?*[":
                    # Skip to the next place the following character could match.
                    while q < m and s[q] != c2:
                        q += 1
                    if q >= m:
                        return False
            # Try the shortest match for this '*' first; an earlier '*' is forgotten.
            bt_p, bt_q = p, q
            continue
        elif c == "[":
            # A quick look for a matching ']': without one, the '[' is a literal.
            endp = p
            if endp < n and pat[endp][0] in "!^" and not pat[endp][1]:
                endp += 1
            closed = False
            while endp < n:
                endp += 1
                if endp < n and pat[endp] == ("]", False):
                    closed = True
                    break
            if closed:
                if q >= m:
                    return False                      # no character for the class
                r = _bracket(pat, p, s[q])
                if r is not None:                     # None: the pattern ended inside
                    if r[0]:
                        p, q = r[1], q + 1
                        continue
                    if bt_p is None or bt_q >= m:
                        return False
                    bt_q += 1
                    p, q = bt_p, bt_q
                    continue
        # dft: an ordinary character
        if q < m and s[q] == c:
            q += 1
            continue
        # backtrack: have the last '*' take one more character
        if bt_p is None or bt_q >= m:
            return False
        bt_q += 1
        p, q = bt_p, bt_q


def _bracket(pat: Field, p: int, chr_: str) -> tuple[bool, int] | None:
    """The bracket expression starting after its '[' (pat[p]) against ``chr_``:
    (matched, index after its ']'), or None when the pattern ends inside it
    (then the '[' is an ordinary character)."""
    n = len(pat)
    invert = False
    if p < n and pat[p][0] in "!^" and not pat[p][1]:
        invert = True
        p += 1
    found = False
    first = True
    while True:
        if p >= n:
            return None
        c, quoted = pat[p]
        p += 1
        if not first and c == "]" and not quoted:
            break
        first = False
        if not quoted and c == "[" and p < n and pat[p] == (":", False):
            hit, end = match_charclass(pat, p, chr_)
            found = found or hit
            if end is not None:
                p = end
                continue
        if not quoted and c == "\\" and p < n:
            c = pat[p][0]
            p += 1
        wc = c
        if p + 1 < n and pat[p] == ("-", False) and pat[p + 1] != ("]", False):
            p += 1
            if pat[p] == ("\\", False) and p + 1 < n:
                p += 1
            wc2 = pat[p][0]
            p += 1
            if wc <= chr_ <= wc2:
                found = True
        elif chr_ == wc:
            found = True
    return found != invert, p


def pmatch(pat: Field, s: str) -> bool:
    """sh's case and pathname matching (casematch, expmeta): patmatch."""
    return patmatch(pat, s)


def trim(val: str, pat: Field, subtype: int) -> str:
    """${x#p} ${x##p} ${x%p} ${x%%p} (subevalvar_trim): the shortest or longest
    match removed."""
    n = len(val)
    if subtype in (VSTRIMLEFT, VSTRIMLEFTMAX):
        rng = range(0, n + 1) if subtype == VSTRIMLEFT else range(n, -1, -1)
        for k in rng:
            if patmatch(pat, val[:k]):
                return val[k:]
        return val
    rng = range(n, -1, -1) if subtype == VSTRIMRIGHT else range(0, n + 1)
    for k in rng:
        if patmatch(pat, val[k:]):
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
    dot_ok = comp[0][0] == "."
    for _ino, name, _typ in entries:
        if name.startswith(".") and not dot_ok:
            continue
        if not patmatch(comp, name):
            continue
        path = prefix + name
        if not rest:
            await _found(path, trailing, out)
        elif await _isdir(path):
            await _expmeta(path + "/", rest, trailing, out)
