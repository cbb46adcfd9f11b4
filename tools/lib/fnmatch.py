"""fnmatch(3): shell pattern matching, after NetBSD's lib/libc/gen/fnmatch.c.

``fnmatch(pattern, string, flags)`` is True on a match (C's 0).  Patterns
have ``*``, ``?``, bracket expressions ``[...]`` (``!`` or ``^`` negates,
ranges, a ``]`` first is literal) and ``\\`` escapes.  Flags: FNM_NOESCAPE,
FNM_PATHNAME (a ``/`` is matched only by a ``/``), FNM_PERIOD (a leading
``.`` only by a ``.``), FNM_CASEFOLD.  An unterminated ``[`` is an
ordinary character, as NetBSD's.
"""

from __future__ import annotations

FNM_NOESCAPE = 0x01
FNM_PATHNAME = 0x02
FNM_PERIOD = 0x04
FNM_CASEFOLD = 0x08
FNM_LEADING_DIR = 0x10


def _fold(c: str, flags: int) -> str:
    return c.lower() if flags & FNM_CASEFOLD else c


def _rangematch(pattern: str, pi: int, test: str, flags: int) -> tuple[int, bool] | None:
    """Match ``test`` against the bracket expression at pattern[pi] (after '[').
    (index after ']', matched), or None when the bracket is not terminated."""
    negate = pi < len(pattern) and pattern[pi] in "!^"
    if negate:
        pi += 1
    ok = False
    test = _fold(test, flags)
    first = True
    while True:
        if pi >= len(pattern):
            return None
        c = pattern[pi]
        if c == "]" and not first:
            return pi + 1, ok != negate
        first = False
        if c == "\\" and not flags & FNM_NOESCAPE:
            pi += 1
            if pi >= len(pattern):
                return None
            c = pattern[pi]
        if c == "/" and flags & FNM_PATHNAME:
            return None
        pi += 1
        if pi + 1 < len(pattern) and pattern[pi] == "-" and pattern[pi + 1] != "]":
            c2 = pattern[pi + 1]
            pi += 2
            if c2 == "\\" and not flags & FNM_NOESCAPE:
                if pi >= len(pattern):
                    return None
                c2 = pattern[pi]
                pi += 1
            if _fold(c, flags) <= test <= _fold(c2, flags):
                ok = True
        elif _fold(c, flags) == test:
            ok = True


def fnmatch(pattern: str, string: str, flags: int = 0) -> bool:
    """True when ``string`` matches the shell pattern ``pattern``."""
    return _match(pattern, 0, string, 0, flags)


def _match(pattern: str, pi: int, string: str, si: int, flags: int) -> bool:
    n = len(string)
    while True:
        if pi >= len(pattern):
            if flags & FNM_LEADING_DIR and si < n and string[si] == "/":
                return True
            return si == n
        c = pattern[pi]
        pi += 1
        if c == "?":
            if si >= n:
                return False
            if string[si] == "/" and flags & FNM_PATHNAME:
                return False
            if _leading_period(string, si, flags):
                return False
            si += 1
        elif c == "*":
            while pi < len(pattern) and pattern[pi] == "*":
                pi += 1
            if _leading_period(string, si, flags):
                return False
            if pi >= len(pattern):
                if flags & FNM_PATHNAME:
                    return bool(flags & FNM_LEADING_DIR) or "/" not in string[si:]
                return True
            if pattern[pi] == "/" and flags & FNM_PATHNAME:
                j = string.find("/", si)
                if j < 0:
                    return False
                si = j
                continue
            # general case: try every rest of the string
            for k in range(si, n + 1):
                if _match(pattern, pi, string, k, flags & ~FNM_PERIOD):
                    return True
                if k < n and string[k] == "/" and flags & FNM_PATHNAME:
                    break
            return False
        elif c == "[":
            if si >= n:
                return False
            if string[si] == "/" and flags & FNM_PATHNAME:
                return False
            if _leading_period(string, si, flags):
                return False
            r = _rangematch(pattern, pi, string[si], flags)
            if r is None:
                # not a bracket expression: an ordinary '['
                if string[si] != "[":
                    return False
                si += 1
                continue
            pi, ok = r
            if not ok:
                return False
            si += 1
        else:
            if c == "\\" and not flags & FNM_NOESCAPE:
                if pi < len(pattern):
                    c = pattern[pi]
                    pi += 1
                else:
                    c = "\\"
            if si >= n or _fold(c, flags) != _fold(string[si], flags):
                return False
            si += 1


def _leading_period(string: str, si: int, flags: int) -> bool:
    if not flags & FNM_PERIOD or si >= len(string) or string[si] != ".":
        return False
    return si == 0 or (bool(flags & FNM_PATHNAME) and string[si - 1] == "/")
