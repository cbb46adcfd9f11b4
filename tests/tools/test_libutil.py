"""tools.lib.libutil: humanize_number(3), strsuftoll(3), strpct."""

from __future__ import annotations

import pytest

from kern.errno import EINVAL, ERANGE
from tools.lib.libutil import (
    HN_AUTOSCALE,
    HN_B,
    HN_DECIMAL,
    HN_DIVISOR_1000,
    HN_GETSCALE,
    HN_NOSPACE,
    INT_MAX,
    LLONG_MAX,
    StrsuftollError,
    dehumanize_number,
    humanize_number,
    strpct,
    strsuftoll,
    strsuftollx,
)


@pytest.mark.parametrize("n, want", [
    (0, "0B"), (512, "512B"), (999, "999B"), (1000, "1K"), (1023, "1K"), (1024, "1K"),
    (65536, "64K"), (1048576, "1M"), (4194304, "4M"), (104857600, "100M"),
    (1 << 40, "1T"), (5 << 50, "5P"),
])
def test_humanize_number_as_fssconfig_uses_it(n, want):
    """fss-spec §4.4's worked values: buffer of 5, HN_AUTOSCALE, HN_B | HN_NOSPACE."""
    assert humanize_number(5, n, "", HN_AUTOSCALE, HN_B | HN_NOSPACE) == want


def test_humanize_number_other_flags():
    assert humanize_number(5, 1536, "", HN_AUTOSCALE, HN_B | HN_NOSPACE | HN_DECIMAL) == "1.5K"
    assert humanize_number(8, 1536, "B", HN_AUTOSCALE, 0) == "1536 B"
    assert humanize_number(6, 1536, "B", HN_AUTOSCALE, 0) == "2 KB"
    assert humanize_number(5, 1500, "", HN_AUTOSCALE, HN_DIVISOR_1000 | HN_NOSPACE) == "2k"
    assert humanize_number(5, 1 << 20, "", HN_GETSCALE, HN_B | HN_NOSPACE) == 2
    assert humanize_number(10, 5 << 20, "", 1, HN_B | HN_NOSPACE) == "5120K"
    assert humanize_number(5, -1000, "", HN_AUTOSCALE, HN_B | HN_NOSPACE) == "-1K"
    with pytest.raises(ValueError):
        humanize_number(2, 1, "", HN_AUTOSCALE, HN_B | HN_NOSPACE)   # no room
    with pytest.raises(ValueError):
        humanize_number(5, 1, "", 7, 0)                              # bad scale


def test_humanize_number_near_int64_max():
    """Numbers too big to multiply by 100 keep their size (post = 100, two
    more columns), as humanize_number.c does."""
    assert humanize_number(5, 1 << 62, "", HN_AUTOSCALE, HN_B | HN_NOSPACE) == "4E"
    assert humanize_number(5, LLONG_MAX, "", HN_AUTOSCALE, HN_B | HN_NOSPACE) == "7E"
    assert humanize_number(6, -(1 << 62), "", HN_AUTOSCALE, HN_B | HN_NOSPACE) == "-4E"
    assert humanize_number(5, 1 << 62, "", HN_GETSCALE, HN_B | HN_NOSPACE) == 6
    with pytest.raises(ValueError):                 # the two columns more do not fit
        humanize_number(5, -(1 << 62), "", HN_AUTOSCALE, HN_B | HN_NOSPACE)


@pytest.mark.parametrize("val, want", [
    ("0", 0), ("512", 512), ("1b", 512), ("1k", 1024), ("64m", 64 << 20), ("1g", 1 << 30),
    ("1t", 1 << 40), ("3w", 12), ("2x3", 6), ("2*4k", 8192), ("1kx2x3", 6144),
    ("  17", 17), ("+5", 5),
])
def test_strsuftoll_values(val, want):
    assert strsuftoll("size", val, 0, LLONG_MAX) == want


@pytest.mark.parametrize("val, lo, hi, msg", [
    ("abc", 0, 10, "cluster size `abc': illegal number"),
    ("12q", 0, 100, "cluster size `12q': illegal number"),
    ("", 0, 10, "cluster size `': illegal number"),
    ("1K", 0, 10, "cluster size `1K': illegal number"),       # suffixes are lower case
    ("12", 0, 10, "cluster size 12 is greater than 10."),
    ("-1", 0, 10, "cluster size -1 is less than 0."),
    ("8g", 0, INT_MAX, "cluster size 8589934592 is greater than 2147483647."),
    ("  abc", 0, 10, "cluster size `abc': illegal number"),    # without the spaces
    ("2x 1q", 0, 10, "cluster size `1q': illegal number"),     # the factor that failed
    ("99999999999999999999", 0, 10, "cluster size: Result too large"),
    ("9223372036854775807k", 0, LLONG_MAX, "cluster size: Result too large"),
])
def test_strsuftoll_messages(val, lo, hi, msg):
    assert strsuftollx("cluster size", val, lo, hi) == (0, msg)
    with pytest.raises(StrsuftollError) as ei:
        strsuftoll("cluster size", val, lo, hi)
    assert ei.value.msg == msg and str(ei.value) == msg


def test_strpct():
    assert strpct(0, 100) == "0%"
    assert strpct(1, 3) == "33%"
    assert strpct(2, 3) == "66%"       # truncated, as df prints it
    assert strpct(5, 0) == "500%"
    assert strpct(1, 3, 2) == "33.33%"


@pytest.mark.parametrize("s, want", [
    ("3", (0, 3)),
    ("-2", (0, -2)),
    ("4k", (0, 4096)),
    ("2G", (0, 2 << 30)),
    ("7b", (0, 7)),
    ("", (-1, EINVAL)),
    ("3x", (-1, EINVAL)),                     # a letter that is no unit
    ("1_0", (-1, 0)),                         # not a number: errno untouched
    ("0x10", (-1, 0)),                        # decimal only
    ("99999999999999999999", (-1, ERANGE)),
    ("9223372036854775807k", (-1, ERANGE)),   # the product overflows
])
def test_dehumanize_number(s, want):
    assert dehumanize_number(s) == want
