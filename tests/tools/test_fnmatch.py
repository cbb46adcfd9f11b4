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
    ("[", "[", 0, False),                      # an unterminated [ matches nothing
    ("a[b", "a[b", 0, False),                  # (rangematch 1.26 returns NULL)
    ("[/]", "[/]", 0, True),                   # a '/' inside: an ordinary '['
    ("[/]", "/", 0, False),
    ("[.]x", ".x", FNM_PERIOD, True),          # FNM_PERIOD guards ? and *, not [
    ("*a" * 70, "a" * 70, 0, False),           # past 64 levels: FNM_NORES, no match
    ("*a" * 10, "a" * 10, 0, True),
    ("\u00c4", "\u00e4", FNM_CASEFOLD, False),   # C's isupper: ASCII only
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
