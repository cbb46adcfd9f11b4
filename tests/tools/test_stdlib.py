"""tools/lib/stdlib.py: strtol(3) and its family as NetBSD's libc reads numbers
(_strtol.h, _strtoul.h, atoi, strtoi, strtonum)."""

from __future__ import annotations

import pytest

from kern.errno import ECANCELED, EINVAL, ENOTSUP, ERANGE
from tools.lib.stdlib import (
    LONG_MAX,
    LONG_MIN,
    ULONG_MAX,
    atoi,
    strtoi,
    strtol,
    strtonum,
    strtoul,
    to_int,
    to_int64,
)


@pytest.mark.parametrize("s, base, want", [
    ("42", 10, (42, 2, 0)),
    (" \t\n\v\f\r-7x", 10, (-7, 8, 0)),       # C white space, sign; end at 'x'
    ("+5", 10, (5, 2, 0)),
    ("1_0", 10, (1, 1, 0)),                   # Python's int() reads 10
    ("\u00a05", 10, (0, 0, 0)),               # not C white space: no number
    ("abc", 10, (0, 0, 0)),
    ("", 10, (0, 0, 0)),
    ("-", 10, (0, 0, 0)),
    ("0x1F", 0, (31, 4, 0)),
    ("0X1f", 16, (31, 4, 0)),
    ("0x", 0, (0, 0, 0)),                     # 0x and no hex digit: nothing read
    ("017", 0, (15, 3, 0)),
    ("019", 0, (1, 2, 0)),                    # octal stops at 9
    ("zz", 36, (35 * 36 + 35, 2, 0)),
    ("12", 1, (0, 0, EINVAL)),
    ("12", 37, (0, 0, EINVAL)),
    ("9223372036854775807", 10, (LONG_MAX, 19, 0)),
    ("9223372036854775808", 10, (LONG_MAX, 19, ERANGE)),
    ("-9223372036854775808", 10, (LONG_MIN, 20, 0)),
    ("-99999999999999999999x", 10, (LONG_MIN, 21, ERANGE)),   # end after every digit
])
def test_strtol(s, base, want):
    assert tuple(strtol(s, base)) == want


@pytest.mark.parametrize("s, want", [
    ("-1", (ULONG_MAX, 2, 0)),                # negation modulo 2**64, as C
    ("18446744073709551615", (ULONG_MAX, 20, 0)),
    ("18446744073709551616", (ULONG_MAX, 20, ERANGE)),
    ("-18446744073709551616", (ULONG_MAX, 21, ERANGE)),
])
def test_strtoul(s, want):
    assert tuple(strtoul(s, 10)) == want


def test_atoi_keeps_the_low_32_bits_of_strtol():
    assert atoi("99999999999999999999") == -1       # LONG_MAX as an int
    assert atoi("4294967297") == 1
    assert atoi("  12abc") == 12 and atoi("x") == 0
    assert to_int(1 << 31) == -(1 << 31) and to_int64(1 << 63) == LONG_MIN


def test_strtoi_status():
    assert tuple(strtoi("5", 10, 0, 9)) == (5, 1, 0)
    assert tuple(strtoi("x", 10, 0, 9)) == (0, 0, ECANCELED)
    assert tuple(strtoi("5x", 10, 0, 9)) == (5, 1, ENOTSUP)
    assert tuple(strtoi("12", 10, 0, 9)) == (9, 2, ERANGE)
    assert tuple(strtoi("-3", 10, 0, 9)) == (0, 2, ERANGE)
    assert tuple(strtoi("12x", 10, 0, 9)) == (9, 2, ENOTSUP)   # the first status stays


def test_strtonum():
    assert strtonum("7", 0, 10) == (7, None)
    assert strtonum("11", 0, 10) == (0, "too large")
    assert strtonum("-1", 0, 10) == (0, "too small")
    assert strtonum("1_0", 0, 10) == (0, "invalid")
    assert strtonum("", 0, 10) == (0, "invalid")
    assert strtonum("5", 10, 0) == (0, "invalid")
    assert strtonum("0x10", 0, 100) == (0, "invalid")          # base 10 only
