"""The kernel's printf-style formatter (kern/subr_prf.py): every conversion its callers use.

NetBSD's kprintf (subr_prf.c) handles the conversions its kernel uses; kemu's
ports also print Python values with ``%r`` (their repr).  A conversion the
formatter did not know came out literally: ``panic("... %r", vp)`` printed
"%r" and dropped the value.
"""

from __future__ import annotations

import ast
import functools
import pathlib
import re

import pytest

import kern
from kern.subr_prf import kern_format, panic

ROOT = pathlib.Path(__file__).resolve().parents[2]
KERNEL_TREES = ("kern", "vfs", "dev", "fs", "tools")

# The functions that take a format, and which positional argument it is.
FORMAT_ARG = {"printf": 0, "panic": 0, "kern_format": 0, "uprintf": 0, "log": 1,
              "KASSERTMSG": 1, "device_printf": 1}
SPEC = re.compile(r"%[-+ #0]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|j|z|t|q|L)?.")


def _format_index(name: str) -> int | None:
    if name in FORMAT_ARG:
        return FORMAT_ARG[name]
    if name.startswith("aprint_"):
        return 1 if name.endswith("_dev") else 0
    return None


def _literal(node: ast.AST) -> str | None:
    """The text of a format given as a literal (also "a" + "b" and f-strings' constant parts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if left is not None and right is not None:
            return left + right
    return None


# A file that has a format spec in a call to one of FORMAT_ARG's functions (or an
# aprint_*) has the name followed by "(" and a "%" somewhere: the others need no parse.
MAY_CALL = re.compile(r"\b(?:" + "|".join(FORMAT_ARG) + r"|aprint_\w+)\s*\(")


@functools.cache
def callers_conversions() -> dict[str, str]:
    """Every conversion spec in a format literal passed by kemu's kernel and tools,
    with one place that uses it.  Scanned once per process, by the tests that
    use it (not at collection: every pytest-xdist worker collects every file)."""
    found: dict[str, str] = {}
    for tree in KERNEL_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if "%" not in text or not MAY_CALL.search(text):
                continue
            module = ast.parse(text)
            for node in ast.walk(module):
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                idx = _format_index(name) if name else None
                if idx is None or len(node.args) <= idx:
                    continue
                fmt = _literal(node.args[idx])
                if fmt is None:
                    continue
                for mo in SPEC.finditer(fmt):
                    found.setdefault(mo.group(0), f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


# A sample argument per conversion letter and what C (or kemu, for %r) prints for it.
SAMPLES = {
    "d": (-42, "-42"), "i": (-42, "-42"), "u": (42, "42"), "o": (8, "10"), "x": (255, "ff"),
    "X": (255, "FF"), "c": (65, "A"), "s": ("text", "text"), "r": ("text", "'text'"),
    "p": (0x1000, "0x1000"), "%": (None, "%"),
}


def test_the_callers_use_conversions_the_scan_can_see():
    conv = callers_conversions()
    # The scan finds what the tree is known to use, %r among them.
    assert {"%s", "%d", "%r", "%llu", "%zu", "%x"} <= set(conv)


def test_every_conversion_the_callers_use_is_formatted():
    for spec, where in sorted(callers_conversions().items()):
        letter = spec[-1]
        assert letter in SAMPLES, f"{spec} (used at {where}) is not a conversion kemu knows"
        arg, want = SAMPLES[letter]
        args = () if letter == "%" else (arg,)
        out = kern_format(spec, args)
        assert spec not in out or letter == "%", f"{spec} (used at {where}) printed literally"
        assert out.strip() == want, f"{spec} (used at {where}) printed {out!r}"


def test_r_renders_repr_with_width_and_flags():
    assert kern_format("vnode %r gone", (["a", 1],)) == "vnode ['a', 1] gone"
    assert kern_format("[%8r][%-6r]", (None, 7)) == "[    None][7     ]"
    assert kern_format("%r and %s", (b"ab\0cd", b"ab\0cd")) == "b'ab\\x00cd' and ab"


def test_c_conversions_keep_their_meaning():
    assert kern_format("%llu %lld %zu %#x %08x %-3d| %%", (2**64 - 1, -5, 3, 255, 0xbeef, 7)) == \
        "18446744073709551615 -5 3 0xff 0000beef 7  | %"
    assert kern_format("%u", (-1,)) == "18446744073709551615"   # C's unsigned view
    assert kern_format("%*d|%.*s", (4, 2, 2, "abc")) == "   2|ab"
    assert kern_format("%s", (None,)) == "(null)"


def test_panic_message_shows_the_value_not_a_literal_r():
    class Thing:
        def __repr__(self) -> str:
            return "<thing 7>"

    async def body():
        panic("vcache_reclaim: VOP_RECLAIM of %r failed: %d", Thing(), 5)

    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert ei.value.message.splitlines()[0] == \
        "panic: vcache_reclaim: VOP_RECLAIM of <thing 7> failed: 5"
    assert "panic: vcache_reclaim: VOP_RECLAIM of <thing 7> failed: 5\n" in k.dmesg()


@pytest.mark.parametrize("howto,printed", [
    (0, False),
    ("AB_QUIET", True),
    ("AB_QUIET|AB_VERBOSE", False),
    ("AB_QUIET|AB_SILENT", False),
    ("AB_VERBOSE", False),
])
def test_aprint_naive_prints_only_on_a_quiet_boot(howto, printed):
    """subr_prf.c: aprint_naive's text is for a quiet boot (AB_QUIET, and neither
    AB_SILENT nor AB_VERBOSE), where aprint_normal prints nothing."""
    from kern import subr_prf

    bits = 0
    for name in str(howto).split("|") if howto else ():
        bits |= getattr(subr_prf, name)
    with kern.boot(seed=1) as m:
        m.boothowto = bits

        async def body():
            subr_prf.aprint_naive("naive %d\n", 7)

        m.run(body)
        assert ("naive 7" in m.dmesg()) == printed
