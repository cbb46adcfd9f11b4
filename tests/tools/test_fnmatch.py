"""fnmatch(3) as NetBSD's libc matches (tools/lib/fnmatch.py)."""

from __future__ import annotations

import pytest

from tools.lib.fnmatch import (
    FNM_CASEFOLD,
    FNM_LEADING_DIR,
    FNM_NOESCAPE,
    FNM_PATHNAME,
    FNM_PERIOD,
    fnmatch,
)


@pytest.mark.parametrize("pattern,string,flags,expected", [
    ("*.c", "main.c", 0, True),
    ("*.c", "main.h", 0, False),
    ("?", "", 0, False),
    ("a?c", "abc", 0, True),
    ("[a-c]x", "bx", 0, True),
    ("[!a-c]x", "bx", 0, False),
    ("[^a-c]x", "dx", 0, True),
    ("[]]", "]", 0, True),
    ("[a-]", "-", 0, True),
    ("[", "[", 0, True),                       # an unterminated [ is literal
    ("a[b", "a[b", 0, True),
    ("\\*", "*", 0, True),
    ("\\*", "\\*", FNM_NOESCAPE, True),
    ("*", "a/b", 0, True),
    ("*", "a/b", FNM_PATHNAME, False),
    ("a/*", "a/b", FNM_PATHNAME, True),
    ("a?b", "a/b", FNM_PATHNAME, False),
    ("a[/]b", "a/b", FNM_PATHNAME, False),
    ("*", ".profile", FNM_PERIOD, False),
    ("?profile", ".profile", FNM_PERIOD, False),
    (".*", ".profile", FNM_PERIOD, True),
    ("a/*", "a/.x", FNM_PATHNAME | FNM_PERIOD, False),
    ("a/*", "a/.x", FNM_PERIOD, True),         # only a leading period without PATHNAME
    ("ABC", "abc", FNM_CASEFOLD, True),
    ("[A-C]", "b", FNM_CASEFOLD, True),
    ("a", "a/b/c", FNM_LEADING_DIR, True),
    ("a*", "ab/c", FNM_LEADING_DIR | FNM_PATHNAME, True),
    ("*x*y", "axbxcy", 0, True),
])
def test_fnmatch(pattern, string, flags, expected):
    assert fnmatch(pattern, string, flags) is expected
