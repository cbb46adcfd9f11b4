"""fnmatch(3): shell pattern matching, a port of NetBSD's lib/libc/gen/fnmatch.c
(read at 1.26, 2014, the revision NetBSD 8 has).

``fnmatch(pattern, string, flags)`` is True on a match (C's 0).  Patterns
have ``*``, ``?``, bracket expressions ``[...]`` (``!`` or ``^`` negates,
ranges, a ``]`` first is literal) and ``\\`` escapes.  Flags: FNM_NOESCAPE,
FNM_PATHNAME (a ``/`` is matched only by a ``/``), FNM_PERIOD (a leading
``.`` only by a ``.``, checked for ``?`` and ``*``, not for a bracket, as
in the C), FNM_CASEFOLD (ASCII letters, C's isupper/tolower),
FNM_LEADING_DIR.  As rangematch() has it, an unterminated bracket
expression matches nothing, and one with a ``/`` in it is an ordinary
``[``.  The C recurses for each ``*`` at most 64 levels deep (FNM_NORES,
not a match), so a pattern of many stars cannot exhaust anything.

Deviation: the pattern and string are Python ``str``; a trailing ``\\`` in
the pattern matches a ``\\`` (the C compares a NUL and reads past the end).
"""

from __future__ import annotations

FNM_NOESCAPE = 0x01
FNM_PATHNAME = 0x02
FNM_PERIOD = 0x04
FNM_CASEFOLD = 0x08
FNM_LEADING_DIR = 0x10

_RECURSION = 64             # fnmatch()'s budget for fnmatchx


def _fold(c: str, flags: int) -> str:
    """FOLDCASE: an ASCII capital to lower case under FNM_CASEFOLD."""
    return c.lower() if flags & FNM_CASEFOLD and "A" <= c <= "Z" else c


_SLASH = -1                 # rangematch's (void *)-1: a '/' inside the brackets


def _rangematch(pattern: str, pi: int, test: str, flags: int) -> int | None:
    """rangematch(): ``test`` against the bracket expression at pattern[pi]
    (just after '[').  -> the index after its ']' on a match; None for no
    match or no ']'; _SLASH when a '/' comes first."""
    n = len(pattern)
    negate = pi < n and pattern[pi] in "!^"
    if negate:
        pi += 1
    need = True
    ok = False
    while True:
        c = _fold(pattern[pi], flags) if pi < n else ""
        pi += 1
        if c == "]" and not need:
            break
        need = False
        if c == "/":
            return _SLASH
        if c == "\\" and not flags & FNM_NOESCAPE:
            c = _fold(pattern[pi], flags) if pi < n else ""
            pi += 1
        if c == "":
            return None
        c2 = _fold(pattern[pi + 1], flags) if pi + 1 < n else ""
        if pi < n and pattern[pi] == "-" and c2 not in ("", "]"):
            pi += 2
            if c2 == "\\" and not flags & FNM_NOESCAPE:
                c2 = _fold(pattern[pi], flags) if pi < n else ""
                pi += 1
            if c2 == "":
                return None
            if c <= test <= c2:
                ok = True
        elif c == test:
            ok = True
    return None if ok == negate else pi


def fnmatch(pattern: str, string: str, flags: int = 0) -> bool:
    """True when ``string`` matches the shell pattern ``pattern``."""
    return _fnmatchx(pattern, 0, string, 0, flags, _RECURSION) == 0


_NOMATCH, _NORES = 1, 3     # FNM_NOMATCH, FNM_NORES


def _period(string: str, si: int, flags: int) -> bool:
    """A leading period FNM_PERIOD protects."""
    return (si < len(string) and string[si] == "." and bool(flags & FNM_PERIOD)
            and (si == 0 or (bool(flags & FNM_PATHNAME) and string[si - 1] == "/")))


def _fnmatchx(pattern: str, pi: int, string: str, si: int, flags: int, recursion: int) -> int:
    if recursion == 0:
        return _NORES
    recursion -= 1
    n, m = len(string), len(pattern)
    while True:
        c = _fold(pattern[pi], flags) if pi < m else ""
        pi += 1
        if c == "":
            if flags & FNM_LEADING_DIR and si < n and string[si] == "/":
                return 0
            return 0 if si == n else _NOMATCH
        if c == "?":
            if si >= n:
                return _NOMATCH
            if string[si] == "/" and flags & FNM_PATHNAME:
                return _NOMATCH
            if _period(string, si, flags):
                return _NOMATCH
            si += 1
        elif c == "*":
            while pi < m and pattern[pi] == "*":      # collapse multiple stars
                pi += 1
            if _period(string, si, flags):
                return _NOMATCH
            if pi >= m:                                # '*' at the end
                if flags & FNM_PATHNAME:
                    return 0 if flags & FNM_LEADING_DIR or "/" not in string[si:] \
                        else _NOMATCH
                return 0
            if pattern[pi] == "/" and flags & FNM_PATHNAME:
                si = string.find("/", si)
                if si < 0:
                    return _NOMATCH
                continue
            while si < n:                              # the general case: recursion
                e = _fnmatchx(pattern, pi, string, si, flags & ~FNM_PERIOD, recursion)
                if e != _NOMATCH:
                    return e
                if string[si] == "/" and flags & FNM_PATHNAME:
                    break
                si += 1
            return _NOMATCH
        elif c == "[":
            if si >= n:
                return _NOMATCH
            if string[si] == "/" and flags & FNM_PATHNAME:
                return _NOMATCH
            r = _rangematch(pattern, pi, _fold(string[si], flags), flags)
            if r is None:
                return _NOMATCH
            if r == _SLASH:
                if string[si] != "[":
                    return _NOMATCH
            else:
                pi = r
            si += 1
        else:
            if c == "\\" and not flags & FNM_NOESCAPE and pi < m:
                c = _fold(pattern[pi], flags)
                pi += 1
            if si >= n or c != _fold(string[si], flags):
                return _NOMATCH
            si += 1
