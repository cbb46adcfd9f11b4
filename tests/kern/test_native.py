"""kern.native: the cffi helper and its pure-Python twin against one oracle.

Every implementation that loads here is checked against an oracle built on
Python big ints (a different method from both), on seeded random maps and
ranges; where both load, they are also checked against each other,
including their error messages.  The cffi cases are skipped, with a reason,
when the compiled module is not built.
"""

from __future__ import annotations

import array
import ctypes
import os
import random
import subprocess
import sys

import pytest

import kern.native as native
from kern.native import twin

pytestmark = pytest.mark.timeout(60)

HAVE_CFFI = "cffi" in native.available()
NO_CFFI = "kern.native._bitops is not built (no C compiler at install time?)"
needs_cffi = pytest.mark.skipif(not HAVE_CFFI, reason=NO_CFFI)

IMPLS = ["python", pytest.param("cffi", marks=needs_cffi)]

# Map sizes in bits: the brief's edge sizes, sizes around the twin's 256-byte
# and 4 KiB scan steps, and a 1 Mi-bit map.
SIZES = [0, 1, 7, 8, 9, 63, 64, 65, 200, 8 * 255, 8 * 257 + 3, 8 * 4095, 8 * 4097 + 5, 1 << 20]


@pytest.fixture(params=IMPLS)
def m(request):
    return native.load(request.param)


# --- oracle ------------------------------------------------------------------


def as_int(a) -> int:
    return int.from_bytes(bytes(a), "little")


def window(a, start: int, end: int) -> int:
    return (as_int(a) >> start) & ((1 << (end - start)) - 1)


def o_ffs(a, start, end) -> int:
    w = window(a, start, end)
    return start + (w & -w).bit_length() - 1 if w else -1


def o_ffc(a, start, end) -> int:
    w = window(a, start, end) ^ ((1 << (end - start)) - 1)
    return start + (w & -w).bit_length() - 1 if w else -1


def o_popcount(a, start, end) -> int:
    return window(a, start, end).bit_count()


def o_setbits(a, start, n, on) -> bytes:
    mask = ((1 << n) - 1) << start
    x = as_int(a) | mask if on else as_int(a) & ~mask
    return x.to_bytes(len(a), "little")


def make_map(rng: random.Random, nbits: int, kind: str) -> bytearray:
    nbytes = (nbits + 7) // 8
    if kind == "random":
        return bytearray(rng.randbytes(nbytes))
    base = 0 if kind == "sparse" else 0xFF
    a = bytearray(bytes([base]) * nbytes)
    for _ in range(rng.randint(0, 4)) if nbits else ():
        i = rng.randrange(nbits)
        a[i >> 3] ^= 1 << (i & 7)
    return a


def ranges(rng: random.Random, nbits: int, k: int) -> list[tuple[int, int]]:
    out = [(0, nbits), (0, 0), (nbits, nbits)]
    if nbits > 10:
        out += [(3, nbits - 5), (1, 2), (nbits - 1, nbits)]
    for _ in range(k):
        s = rng.randint(0, nbits)
        out.append((s, rng.randint(s, min(nbits, s + rng.choice([3, 17, 200, nbits])))))
    return out


# --- agreement with the oracle ------------------------------------------------


@pytest.mark.parametrize("nbits", SIZES)
def test_scans_match_oracle(m, nbits):
    rng = random.Random(nbits)
    k = 4 if nbits >= 1 << 15 else 12
    for kind in ("random", "sparse", "dense"):
        a = make_map(rng, nbits, kind)
        for start, end in ranges(rng, nbits, k):
            assert m.ffs_range(a, start, end) == o_ffs(a, start, end), (kind, start, end)
            assert m.ffc_range(a, start, end) == o_ffc(a, start, end), (kind, start, end)
            assert m.popcount_range(a, start, end) == o_popcount(a, start, end), (
                kind,
                start,
                end,
            )


@pytest.mark.parametrize("nbits", SIZES)
def test_runs_match_oracle(m, nbits):
    rng = random.Random(nbits + 1)
    k = 3 if nbits >= 1 << 15 else 10
    a = make_map(rng, nbits, "random")
    for start, end in ranges(rng, nbits, k):
        n = end - start
        for fn, on in ((m.setbits, True), (m.clrbits, False)):
            b = bytearray(a)
            fn(b, start, n)
            assert bytes(b) == o_setbits(a, start, n, on), (fn.__name__, start, n)


@pytest.mark.parametrize("nbits", [1, 7, 8, 9, 63, 64, 65, 1000])
def test_single_bits(m, nbits):
    rng = random.Random(nbits + 2)
    a = make_map(rng, nbits, "random")
    ref = as_int(a)
    for _ in range(50):
        i = rng.randrange(nbits)
        assert m.isset(a, i) is bool(ref >> i & 1)
        assert m.isclr(a, i) is (not ref >> i & 1)
        if rng.random() < 0.5:
            m.setbit(a, i)
            ref |= 1 << i
        else:
            m.clrbit(a, i)
            ref &= ~(1 << i)
        assert as_int(a) == ref
    # NetBSD's order: bit i is 1 << (i % 8) of byte i // 8.
    b = bytearray(2)
    m.setbit(b, 9)
    assert b == b"\x00\x02"


def test_bytes(m):
    rng = random.Random(3)
    for size in (0, 1, 9, 4096, 65536 + 7):
        src = rng.randbytes(size)
        for _ in range(10):
            n = rng.randint(0, size)
            soff, doff = rng.randint(0, size - n), rng.randint(0, size - n)
            dst = bytearray(rng.randbytes(size))
            want = bytearray(dst)
            want[doff : doff + n] = src[soff : soff + n]
            m.memcpy(dst, doff, src, soff, n)
            assert dst == want
            c = rng.randrange(256)
            want[doff : doff + n] = bytes([c]) * n
            m.memset(dst, doff, c, n)
            assert dst == want


def test_memcpy_overlapping(m):
    # memmove semantics, both ways, within one buffer and through a view of it.
    base = bytes(range(256)) * 4
    for doff, soff in ((10, 0), (0, 10), (100, 101), (5, 5)):
        a = bytearray(base)
        m.memcpy(a, doff, a, soff, 500)
        want = bytearray(base)
        want[doff : doff + 500] = base[soff : soff + 500]
        assert a == want
        a = bytearray(base)
        m.memcpy(a, doff, memoryview(a), soff, 500)
        assert a == want


# --- both implementations side by side -------------------------------------------


@needs_cffi
def test_implementations_agree_randomized():
    c, p = native.load("cffi"), native.load("python")
    rng = random.Random(4)
    for trial in range(400):
        nbits = rng.choice([0, 1, 7, 8, 9, 63, 64, 65, 127, 2048 + 3, 40000])
        a = make_map(rng, nbits, rng.choice(["random", "sparse", "dense"]))
        start = rng.randint(0, nbits)
        end = rng.randint(start, nbits)
        for name in ("ffs_range", "ffc_range", "popcount_range"):
            assert getattr(c, name)(a, start, end) == getattr(p, name)(a, start, end), (
                trial,
                name,
            )
        for name in ("setbits", "clrbits"):
            x, y = bytearray(a), bytearray(a)
            getattr(c, name)(x, start, end - start)
            getattr(p, name)(y, start, end - start)
            assert x == y, (trial, name)
        if nbits:
            i = rng.randrange(nbits)
            assert c.isset(a, i) == p.isset(a, i)
            x, y = bytearray(a), bytearray(a)
            c.setbit(x, i), p.setbit(y, i)
            c.clrbit(x, nbits - 1 - i), p.clrbit(y, nbits - 1 - i)
            assert x == y
        x, y = bytearray(a), bytearray(a)
        n = rng.randint(0, len(a))
        doff, soff = rng.randint(0, len(a) - n), rng.randint(0, len(a) - n)
        c.memcpy(x, doff, x, soff, n), p.memcpy(y, doff, y, soff, n)
        assert x == y
        c.memset(x, soff, trial & 0xFF, n), p.memset(y, soff, trial & 0xFF, n)
        assert x == y


class Pair(ctypes.Structure):
    _fields_ = [("lo", ctypes.c_uint32), ("hi", ctypes.c_uint32)]


BUFFER_KINDS = {
    "bytearray": lambda b: bytearray(b),
    "memoryview": lambda b: memoryview(bytearray(b)),
    "memoryview slice": lambda b: memoryview(bytearray(b"\xee" + b + b"\xee"))[1:-1],
    "ctypes c_ubyte[]": lambda b: (ctypes.c_ubyte * len(b)).from_buffer_copy(b),
    "ctypes c_char[]": lambda b: (ctypes.c_char * len(b)).from_buffer_copy(b),
    "array('I')": lambda b: array.array("I", b),
    "ctypes Structure": lambda b: Pair.from_buffer_copy(b),
}


@pytest.mark.parametrize("kind", sorted(BUFFER_KINDS))
def test_buffer_kinds(m, kind):
    raw = bytes([0x00, 0x81, 0xFF, 0x10, 0x00, 0x00, 0x00, 0x08])  # 8 bytes fits every kind
    a = BUFFER_KINDS[kind](raw)
    assert m.ffs_range(a, 1, 64) == o_ffs(raw, 1, 64)
    assert m.ffc_range(a, 8, 64) == o_ffc(raw, 8, 64)
    assert m.popcount_range(a, 0, 64) == o_popcount(raw, 0, 64)
    assert m.isset(a, 59) and m.isclr(a, 63) and m.isset(a, 8)
    m.setbit(a, 0)
    m.clrbits(a, 8, 9)
    m.setbits(a, 40, 3)
    m.memset(a, 6, 0x5A, 1)
    m.memcpy(a, 2, b"\x01\x02", 0, 2)
    assert bytes(memoryview(a).cast("B")) == bytes([0x01, 0x00, 0x01, 0x02, 0x00, 0x07, 0x5A, 0x08])
    # Read-only maps are fine for the functions that only read.
    assert m.popcount_range(raw, 0, 64) == o_popcount(raw, 0, 64)
    assert m.isset(memoryview(raw), 8)


def test_popcount_without_zlib(monkeypatch):
    # The twin's fallback when zlib is missing.
    monkeypatch.setattr(twin, "_adler32", None)
    rng = random.Random(5)
    a = make_map(rng, 1 << 16, "random")
    assert twin.popcount_range(a, 3, (1 << 16) - 1) == o_popcount(a, 3, (1 << 16) - 1)


# --- bad arguments ----------------------------------------------------------------

NB = 9  # bytes in the maps below: 72 bits

BAD_CALLS = [
    # (label, call, exception)
    ("setbit -1", lambda m, a: m.setbit(a, -1), IndexError),
    ("setbit nbits", lambda m, a: m.setbit(a, 72), IndexError),
    ("setbit huge", lambda m, a: m.setbit(a, 1 << 70), IndexError),
    ("clrbit -huge", lambda m, a: m.clrbit(a, -(1 << 70)), IndexError),
    ("isset nbits", lambda m, a: m.isset(a, 72), IndexError),
    ("isclr -1", lambda m, a: m.isclr(a, -1), IndexError),
    ("setbits past end", lambda m, a: m.setbits(a, 70, 3), IndexError),
    ("setbits negative start", lambda m, a: m.setbits(a, -1, 2), IndexError),
    ("setbits negative n", lambda m, a: m.setbits(a, 3, -1), ValueError),
    ("clrbits huge n", lambda m, a: m.clrbits(a, 0, 1 << 64), IndexError),
    ("ffs_range end past map", lambda m, a: m.ffs_range(a, 0, 73), IndexError),
    ("ffs_range negative start", lambda m, a: m.ffs_range(a, -1, 5), IndexError),
    ("ffc_range start > end", lambda m, a: m.ffc_range(a, 6, 5), ValueError),
    ("popcount_range huge end", lambda m, a: m.popcount_range(a, 0, 1 << 80), IndexError),
    ("memcpy negative n", lambda m, a: m.memcpy(a, 0, b"xy", 0, -1), ValueError),
    ("memcpy dst overflow", lambda m, a: m.memcpy(a, 8, bytes(4), 0, 2), IndexError),
    ("memcpy src overflow", lambda m, a: m.memcpy(a, 0, bytes(4), 3, 2), IndexError),
    ("memcpy negative doff", lambda m, a: m.memcpy(a, -1, bytes(4), 0, 2), IndexError),
    ("memcpy huge soff", lambda m, a: m.memcpy(a, 0, bytes(4), 1 << 63, 1), IndexError),
    ("memset c 256", lambda m, a: m.memset(a, 0, 256, 1), ValueError),
    ("memset c -1", lambda m, a: m.memset(a, 0, -1, 1), ValueError),
    ("memset past end", lambda m, a: m.memset(a, 5, 0, 5), IndexError),
    ("memset negative n", lambda m, a: m.memset(a, 0, 0, -3), ValueError),
    ("setbit read-only", lambda m, a: m.setbit(bytes(a), 0), BufferError),
    ("memset read-only view", lambda m, a: m.memset(memoryview(bytes(a)), 0, 1, 1), BufferError),
    ("memcpy read-only dst", lambda m, a: m.memcpy(bytes(a), 0, a, 0, 1), BufferError),
    ("setbits strided", lambda m, a: m.setbits(memoryview(a)[::2], 0, 1), BufferError),
    ("ffs_range strided", lambda m, a: m.ffs_range(memoryview(a)[::2], 0, 1), BufferError),
    ("setbit str", lambda m, a: m.setbit("abc", 0), TypeError),
    ("popcount_range list", lambda m, a: m.popcount_range([1, 2], 0, 1), TypeError),
    ("memcpy src None", lambda m, a: m.memcpy(a, 0, None, 0, 1), TypeError),
]


@pytest.mark.parametrize("label,call,exc", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_arguments(m, label, call, exc):
    a = bytearray(range(1, NB + 1))
    before = bytes(a)
    with pytest.raises(exc, match="kern.native"):
        call(m, a)
    assert a == before  # nothing was written


@needs_cffi
@pytest.mark.parametrize("label,call,exc", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_arguments_same_message(label, call, exc):
    msgs = []
    for name in ("cffi", "python"):
        with pytest.raises(exc) as info:
            call(native.load(name), bytearray(NB))
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


@pytest.mark.parametrize(
    "call",
    [
        lambda m, a: m.setbit(a, 1.5),
        lambda m, a: m.isset(a, "3"),
        lambda m, a: m.ffs_range(a, 0.0, 8),
        lambda m, a: m.setbits(a, 0, 2.0),
        lambda m, a: m.memset(a, 0, 1.0, 2),
        lambda m, a: m.memcpy(a, 0, a, None, 1),
    ],
)
def test_non_int_index(m, call):
    a = bytearray(NB)
    with pytest.raises(TypeError):
        call(m, a)
    assert a == bytearray(NB)


def test_empty_map(m):
    a = bytearray()
    assert m.ffs_range(a, 0, 0) == -1
    assert m.ffc_range(a, 0, 0) == -1
    assert m.popcount_range(a, 0, 0) == 0
    m.setbits(a, 0, 0)
    m.memcpy(a, 0, b"", 0, 0)
    m.memset(a, 0, 7, 0)
    with pytest.raises(IndexError):
        m.setbit(a, 0)


# --- selection --------------------------------------------------------------------


def test_load_and_available():
    names = native.available()
    assert "python" in names
    assert native.impl in names
    assert native.load("python") is twin
    assert native.load("python").impl == "python"
    with pytest.raises(ValueError, match="no implementation 'fast'"):
        native.load("fast")
    for name in names:
        assert native.load(name).impl == name


@needs_cffi
def test_compiled_module_smoke():
    from kern.native import _bitops

    assert _bitops.lib.KEMU_BITOPS_VERSION == native._BITOPS_VERSION
    assert native.load("cffi").lib is _bitops.lib


def run_python(code: str, env_value: str | None, hide_compiled: bool = False):
    env = dict(os.environ)
    env.pop("KEMU_NATIVE", None)
    if env_value is not None:
        env["KEMU_NATIVE"] = env_value
    prefix = ""
    if hide_compiled:
        # A None entry in sys.modules makes "import kern.native._bitops" fail.
        prefix = "import sys; sys.modules['kern.native._bitops'] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prefix + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRINT_IMPL = "import kern.native as n; print(n.impl)"


def test_env_python():
    r = run_python(PRINT_IMPL, "python")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "python"


def test_env_bogus_fails_loudly():
    r = run_python(PRINT_IMPL, "bogus")
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "KEMU_NATIVE='bogus'" in r.stderr


@needs_cffi
def test_env_cffi():
    r = run_python(PRINT_IMPL, "cffi")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "cffi"


@pytest.mark.parametrize("value", [None, ""])
def test_env_unset_gives_best(value):
    r = run_python(PRINT_IMPL, value)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ("cffi" if HAVE_CFFI else "python")


def test_env_cffi_without_compiled_module_fails_loudly():
    r = run_python(PRINT_IMPL, "cffi", hide_compiled=True)
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert "kern.native._bitops" in r.stderr


def test_unset_without_compiled_module_falls_back():
    code = PRINT_IMPL + "; print('_bitops' in n.load_errors['cffi'])"
    r = run_python(code, None, hide_compiled=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["python", "True"]


@pytest.mark.parametrize(("env_value", "reported"), [
    (None, True), ("", True), ("  ", True),     # unset or empty: the fallback kemu chose
    ("python", False), ("PYTHON", False),       # the twin asked for: nothing to report
])
def test_fallback_reason_only_for_a_fallback_kemu_chose(env_value, reported):
    """fallback_reason (what kemu --version and the boot messages say) names
    the compiled module's import error when kern.native fell back by itself,
    and is None when the twin was asked for or the compiled helper runs."""
    code = PRINT_IMPL + "; print(repr(n.fallback_reason()))"
    r = run_python(code, env_value, hide_compiled=True)
    assert r.returncode == 0, r.stderr
    impl, why = r.stdout.splitlines()
    assert impl == "python"
    if reported:
        assert why.startswith("'kern.native: cannot import the compiled module "
                              "kern.native._bitops"), why
    else:
        assert why == "None"
    if HAVE_CFFI:
        r = run_python(code, env_value)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["cffi" if reported else "python", "None"]


@needs_cffi
def test_c_entries_only_where_c_pays():
    """The cffi implementation runs in C only kern.native.C_ENTRIES (what beats the
    twin by 2x in bench_native); every other entry point is the twin's function."""
    c = native.load("cffi")
    for name in native.__all__:
        fn = getattr(c, name, None)
        if not callable(fn) or name in ("available", "load"):
            continue
        if name in native.C_ENTRIES:
            assert fn is not getattr(twin, name), name
        else:
            assert fn is getattr(twin, name), name
    assert not hasattr(c.lib, "kemu_memcpy") and not hasattr(c.lib, "kemu_setbit")
