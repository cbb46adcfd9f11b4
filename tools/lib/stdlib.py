"""Number conversions of NetBSD 8's C library: strtol(3) and its family,
atoi(3), strtoi(3) and strtonum(3), for every command that reads a number.

Ports of NetBSD's common/lib/libc/stdlib/_strtol.h (1.1, 2008: the
template of strtol, strtoll and strtoimax) and _strtoul.h (its unsigned
twin: strtoul, strtoull, strtoumax), lib/libc/stdlib/atoi.c,
common/lib/libc/stdlib/_strtoi.h (NetBSD's strtoi, 2015) and
lib/libc/stdlib/strtonum.c (read at 1.6.2.1; see ``strtonum``).  LP64, as
NetBSD/amd64: long, long long and intmax_t are 64 bits, int 32.

What the C does, and so what every command gets:

* leading white space (isspace: space, \\t \\n \\v \\f \\r) is skipped, then
  one optional sign; ``1_0`` stops at the ``_`` and ``5 `` at the space
  (Python's ``int()`` takes both whole, and neither is a C number);
* base 0 reads ``0x``/``0X`` as hexadecimal, a leading ``0`` as octal, else
  decimal; base 16 also allows the ``0x``; bases 2 to 36 take letters;
* a value out of range is clamped to the type's limit with ERANGE (for the
  unsigned functions a minus sign negates modulo 2**64, as in C);
* the end index (C's ``*endptr``) is where conversion stopped: 0 when no
  digit was read, so "no number" shows as ``end == 0``;
* a bad base is EINVAL with value 0.

The functions take a ``str`` and return a ``Conv`` (value, end, errno);
errno is 0 when nothing went wrong, as C's errno would be left untouched.
"""

from __future__ import annotations

from typing import NamedTuple

from kern.errno import ECANCELED, EINVAL, ENOTSUP, ERANGE

INT_MIN, INT_MAX = -(1 << 31), (1 << 31) - 1
UINT_MAX = (1 << 32) - 1
SHRT_MAX = (1 << 15) - 1
LONG_MIN, LONG_MAX = -(1 << 63), (1 << 63) - 1
ULONG_MAX = (1 << 64) - 1
LLONG_MIN, LLONG_MAX = LONG_MIN, LONG_MAX
INTMAX_MIN, INTMAX_MAX = LONG_MIN, LONG_MAX

_SPACE = " \t\n\v\f\r"


class Conv(NamedTuple):
    """The result of a conversion: ``value``, ``end`` (C's endptr as an index
    into the string) and ``errno`` (0, ERANGE or EINVAL)."""

    value: int
    end: int
    errno: int

    def rest(self, s: str) -> str:
        """What follows the number in ``s`` (C's ``*endptr`` string)."""
        return s[self.end:]


def _digit(c: str) -> int:
    """The value of an ASCII digit or letter (isdigit/isalpha), else 99."""
    if "0" <= c <= "9":
        return ord(c) - ord("0")
    if "a" <= c <= "z":
        return ord(c) - ord("a") + 10
    if "A" <= c <= "Z":
        return ord(c) - ord("A") + 10
    return 99


def _scan(s: str, base: int) -> tuple[bool, int, int]:
    """The part the signed and unsigned templates share: skip white space and
    a sign, settle the base, read the digits.  -> (neg, magnitude read
    (unbounded), end index: 0 if no digit)."""
    i = 0
    n = len(s)
    while i < n and s[i] in _SPACE:
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if (base == 0 or base == 16) and s[i:i + 1] == "0" and s[i + 1:i + 2] in ("x", "X"):
        # C takes the "0x" even if no hex digit follows (then nothing was
        # read, and endptr is the start of the string)
        i += 2
        base = 16
    if base == 0:
        base = 8 if s[i:i + 1] == "0" else 10
    start = i
    acc = 0
    while i < n and _digit(s[i]) < base:
        acc = acc * base + _digit(s[i])
        i += 1
    return neg, acc, (i if i > start else 0)


def _strtox(s: str, base: int, lo: int, hi: int) -> Conv:
    """_strtol.h: a signed conversion into [lo, hi]."""
    if base and (base < 2 or base > 36):
        return Conv(0, 0, EINVAL)
    neg, acc, end = _scan(s, base)
    v = -acc if neg else acc
    if v < lo:
        return Conv(lo, end, ERANGE)
    if v > hi:
        return Conv(hi, end, ERANGE)
    return Conv(v, end, 0)


def _strtoux(s: str, base: int, hi: int) -> Conv:
    """_strtoul.h: an unsigned conversion into [0, hi]; a minus sign negates
    the value modulo hi + 1, as C's unsigned arithmetic does."""
    if base and (base < 2 or base > 36):
        return Conv(0, 0, EINVAL)
    neg, acc, end = _scan(s, base)
    if acc > hi:
        return Conv(hi, end, ERANGE)
    return Conv((-acc) & hi if neg else acc, end, 0)


def strtol(s: str, base: int = 10) -> Conv:
    """strtol(3) (long: 64 bits)."""
    return _strtox(s, base, LONG_MIN, LONG_MAX)


def strtoll(s: str, base: int = 10) -> Conv:
    """strtoll(3)."""
    return _strtox(s, base, LLONG_MIN, LLONG_MAX)


def strtoimax(s: str, base: int = 10) -> Conv:
    """strtoimax(3)."""
    return _strtox(s, base, INTMAX_MIN, INTMAX_MAX)


def strtoul(s: str, base: int = 10) -> Conv:
    """strtoul(3)."""
    return _strtoux(s, base, ULONG_MAX)


def strtoull(s: str, base: int = 10) -> Conv:
    """strtoull(3)."""
    return _strtoux(s, base, ULONG_MAX)


def to_int(v: int) -> int:
    """C's conversion of a wider integer to int: its low 32 bits, signed."""
    v &= UINT_MAX
    return v - (1 << 32) if v > INT_MAX else v


def to_int64(v: int) -> int:
    """C's wrap of a product or sum to 64 bits (long, long long, intmax_t)."""
    v &= ULONG_MAX
    return v - (1 << 64) if v > LONG_MAX else v


def atoi(s: str) -> int:
    """atoi(3): ``(int)strtol(s, NULL, 10)``: no error is reported; what does
    not fit an int keeps its low 32 bits (LONG_MAX for 99999999999999999999
    becomes -1)."""
    return to_int(strtol(s, 10).value)


def strtoi(s: str, base: int, lo: int, hi: int) -> Conv:
    """NetBSD's strtoi(3): strtoimax with a range and a status in ``errno``:
    ECANCELED if there is no number, ENOTSUP if something follows it,
    ERANGE (the value clamped to ``lo``/``hi``) if it is out of range,
    EINVAL for a bad base."""
    c = strtoimax(s, base)
    status = c.errno
    if status == 0:
        if c.end == 0:
            status = ECANCELED
        elif c.end < len(s):
            status = ENOTSUP
    if c.value < lo:
        return Conv(lo, c.end, status or ERANGE)
    if c.value > hi:
        return Conv(hi, c.end, status or ERANGE)
    return Conv(c.value, c.end, status)


def strtonum(s: str, minval: int, maxval: int) -> tuple[int, str | None]:
    """strtonum(3): a decimal number in [minval, maxval] and nothing else.
    -> (value, None), or (0, "invalid" | "too small" | "too large").

    As strtonum.c reads (1.6.2.1): an empty range, no number or trailing
    characters are "invalid", including a number out of range followed by
    something; a bare number out of range is "too large"/"too small".
    """
    if minval > maxval:
        return 0, "invalid"
    c = strtoi(s, 10, minval, maxval)
    if c.errno == 0:
        return c.value, None
    if c.errno == ERANGE:
        if c.end < len(s):
            return 0, "invalid"
        return 0, "too large" if c.value == maxval else "too small"
    return 0, "invalid"
