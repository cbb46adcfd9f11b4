"""The native helper in pure Python: the twin of the C code in kern/native/_build.py.

This is the reference implementation and the fallback when the compiled
module is missing.  kern/native/__init__.py picks one of the two at import;
see its docstring for the API.

Bit order is NetBSD's (sys/param.h setbit/isset): bit ``i`` is
``1 << (i % 8)`` of byte ``a[i // 8]``.

Speed: nothing here loops over bits or bytes in Python.  Range scans walk
the map in 4 KiB slices compared against an all-zero (or all-ones) slice,
which is a memcmp in C, and only look closer inside the slice that differs.
Population counts map every byte to its bit count with ``bytes.translate``
and add the counts with ``zlib.adler32`` (see _popcount_bytes).  Copies and
fills are slice assignments.

The argument checks and the exceptions they raise live here and are shared
with the cffi wrapper, so both implementations fail the same way:
IndexError for an index or range outside the buffer, ValueError for a
negative count, a range that ends before it starts or a fill value that is
not a byte, BufferError for a read-only or non-contiguous buffer, TypeError
for something that is not a buffer or an index that is not an int.
"""

from __future__ import annotations

import ctypes
from typing import Any, NoReturn, TypeAlias

try:
    from zlib import adler32 as _adler32
except ImportError:  # CPython without zlib: count with int.bit_count instead
    _adler32 = None

impl = "python"

# Any object with the buffer protocol (bytearray, memoryview, ctypes arrays,
# array.array, mmap, ...).  A *writable* one must not be read-only; both kinds
# must be C-contiguous.
WritableBuffer: TypeAlias = Any
ReadableBuffer: TypeAlias = Any

__all__ = [
    "clrbit",
    "clrbits",
    "ffc_range",
    "ffs_range",
    "impl",
    "isclr",
    "isset",
    "memcpy",
    "memset",
    "popcount_range",
    "setbit",
    "setbits",
]

# _LOWBIT[v]: index of the lowest set bit of the byte v (v != 0).
_LOWBIT = bytes([8] + [(v & -v).bit_length() - 1 for v in range(1, 256)])
# _POP[v]: number of set bits in the byte v; also a bytes.translate table.
_POP = bytes(v.bit_count() for v in range(256))
# _BYTE[c]: the one-byte bytes object holding c, for memset.
_BYTE = [bytes((c,)) for c in range(256)]

_CHUNK = 4096  # first step of a scan, in bytes
_SUB = 256  # second step, inside the chunk that differs
_FILL_CHUNK = {0: bytes(_CHUNK), 0xFF: b"\xff" * _CHUNK}
_FILL_SUB = {0: bytes(_SUB), 0xFF: b"\xff" * _SUB}
_FILL_BYTE = {0: b"\x00", 0xFF: b"\xff"}

# zlib.adler32(data, 0) & 0xffff is the sum of the bytes modulo 65521.  After
# translating through _POP every byte is at most 8, so the sum over up to
# 8190 bytes (8 * 8190 = 65520) is below the modulus and therefore exact.
_ADLER_STEP = 8190


# --- buffers -----------------------------------------------------------------


def _view(a: Any, writable: bool) -> Any:
    """Return a one-dimensional unsigned-byte view of ``a``'s memory.

    Callers pass bytearray (and, for reading, bytes) straight through; this
    is the slower path for everything else.
    """
    try:
        m = memoryview(a)
    except TypeError:
        raise TypeError(
            f"kern.native: a bytes-like buffer is required, not {type(a).__name__!r}"
        ) from None
    if writable and m.readonly:
        raise BufferError(f"kern.native: the {type(a).__name__} buffer is read-only")
    if not m.c_contiguous:
        raise BufferError(f"kern.native: the {type(a).__name__} buffer is not C-contiguous")
    if m.ndim == 1 and m.format == "B":
        return m
    try:
        return m.cast("B")
    except TypeError:
        # memoryview cannot cast some formats (ctypes structures, for one);
        # reach the same memory as unsigned bytes through ctypes instead.
        if writable:
            return memoryview((ctypes.c_ubyte * m.nbytes).from_buffer(a)).cast("B")
        return memoryview(m.tobytes())


# --- argument errors (shared with the cffi wrapper) --------------------------
#
# Each of these is called only once a check has failed, and always raises.


def _bit_error(nbits: int, i: int) -> NoReturn:
    raise IndexError(f"kern.native: bit {i} is out of range for a {nbits}-bit map")


def _range_error(nbits: int, start: int, end: int) -> NoReturn:
    if start > end:
        raise ValueError(f"kern.native: bit range [{start}, {end}) ends before it starts")
    raise IndexError(
        f"kern.native: bit range [{start}, {end}) is out of range for a {nbits}-bit map"
    )


def _count_error(nbits: int, start: int, n: int) -> NoReturn:
    if n < 0:
        raise ValueError(f"kern.native: negative bit count {n}")
    raise IndexError(
        f"kern.native: bits [{start}, {start + n}) are out of range for a {nbits}-bit map"
    )


def _span_error(what: str, size: int, off: int, n: int) -> NoReturn:
    if n < 0:
        raise ValueError(f"kern.native: negative byte count {n}")
    raise IndexError(
        f"kern.native: {what} bytes [{off}, {off + n}) are out of range for a {size}-byte buffer"
    )


def _memcpy_error(dsize: int, doff: int, ssize: int, soff: int, n: int) -> NoReturn:
    if n >= 0 and 0 <= doff and doff + n <= dsize:
        _span_error("source", ssize, soff, n)
    _span_error("destination", dsize, doff, n)


def _memset_error(size: int, off: int, c: int, n: int) -> NoReturn:
    if not 0 <= c <= 255:
        raise ValueError(f"kern.native: fill value {c} is not a byte (0..255)")
    _span_error("destination", size, off, n)


# --- single bits ---------------------------------------------------------------


def setbit(a: WritableBuffer, i: int) -> None:
    """Set bit ``i`` of the map ``a``."""
    if type(a) is not bytearray:
        a = _view(a, True)
    if 0 <= i < len(a) << 3:
        a[i >> 3] |= 1 << (i & 7)
    else:
        _bit_error(len(a) << 3, i)


def clrbit(a: WritableBuffer, i: int) -> None:
    """Clear bit ``i`` of the map ``a``."""
    if type(a) is not bytearray:
        a = _view(a, True)
    if 0 <= i < len(a) << 3:
        a[i >> 3] &= ~(1 << (i & 7)) & 0xFF
    else:
        _bit_error(len(a) << 3, i)


def isset(a: ReadableBuffer, i: int) -> bool:
    """Is bit ``i`` of the map ``a`` set?"""
    t = type(a)
    if t is not bytearray and t is not bytes:
        a = _view(a, False)
    if 0 <= i < len(a) << 3:
        return (a[i >> 3] >> (i & 7)) & 1 == 1
    _bit_error(len(a) << 3, i)


def isclr(a: ReadableBuffer, i: int) -> bool:
    """Is bit ``i`` of the map ``a`` clear?"""
    t = type(a)
    if t is not bytearray and t is not bytes:
        a = _view(a, False)
    if 0 <= i < len(a) << 3:
        return (a[i >> 3] >> (i & 7)) & 1 == 0
    _bit_error(len(a) << 3, i)


# --- runs of bits --------------------------------------------------------------


def _fill(a: Any, start: int, end: int, on: bool) -> None:
    """Set (``on``) or clear bits [start, end) of the byte view ``a``."""
    sb, lo = start >> 3, start & 7
    eb, hi = end >> 3, end & 7
    if sb == eb:
        mask = ((1 << (hi - lo)) - 1) << lo
        if on:
            a[sb] |= mask
        else:
            a[sb] &= ~mask & 0xFF
        return
    if lo:
        mask = (0xFF << lo) & 0xFF
        if on:
            a[sb] |= mask
        else:
            a[sb] &= ~mask & 0xFF
        sb += 1
    if eb > sb:
        a[sb:eb] = (b"\xff" if on else b"\x00") * (eb - sb)
    if hi:
        mask = (1 << hi) - 1
        if on:
            a[eb] |= mask
        else:
            a[eb] &= ~mask & 0xFF


def setbits(a: WritableBuffer, start: int, n: int) -> None:
    """Set the ``n`` bits of ``a`` that start at bit ``start``."""
    if type(a) is not bytearray:
        a = _view(a, True)
    nbits = len(a) << 3
    if not (0 <= start and 0 <= n and start + n <= nbits):
        _count_error(nbits, start, n)
    if n:
        _fill(a, start, start + n, True)


def clrbits(a: WritableBuffer, start: int, n: int) -> None:
    """Clear the ``n`` bits of ``a`` that start at bit ``start``."""
    if type(a) is not bytearray:
        a = _view(a, True)
    nbits = len(a) << 3
    if not (0 <= start and 0 <= n and start + n <= nbits):
        _count_error(nbits, start, n)
    if n:
        _fill(a, start, start + n, False)


def _first_not(a: Any, lo: int, hi: int, inv: int) -> int:
    """Index of the first byte in a[lo:hi] that is not ``inv`` (0 or 0xff), or -1."""
    fill_chunk, fill_sub, fill_byte = _FILL_CHUNK[inv], _FILL_SUB[inv], _FILL_BYTE[inv]
    # Comparing a memoryview with bytes goes item by item; compare bytes.
    copy = type(a) is memoryview
    p = lo
    while p < hi:
        q = p + _CHUNK
        if q > hi:
            q = hi
        c = a[p:q]
        if copy:
            c = c.tobytes()
        if c != fill_chunk:
            # A short last chunk never equals fill_chunk; the search below
            # then finds nothing when it is all fill, and the loop goes on.
            for s in range(0, len(c), _SUB):
                sub = c[s : s + _SUB]
                if sub == fill_sub:
                    continue
                rest = sub.lstrip(fill_byte)
                if rest:
                    return p + s + len(sub) - len(rest)
        p = q
    return -1


def _find(a: Any, start: int, end: int, inv: int) -> int:
    """First bit in [start, end) that is set (inv 0) or clear (inv 0xff), or -1."""
    t = type(a)
    if t is not bytearray and t is not bytes:
        a = _view(a, False)
    nbits = len(a) << 3
    if not 0 <= start <= end <= nbits:
        _range_error(nbits, start, end)
    if start == end:
        return -1
    sb, lo = start >> 3, start & 7
    eb, hi = end >> 3, end & 7
    if sb == eb:
        v = ((a[sb] ^ inv) >> lo) & ((1 << (hi - lo)) - 1)
        return start + _LOWBIT[v] if v else -1
    if lo:
        v = (a[sb] ^ inv) >> lo
        if v:
            return start + _LOWBIT[v]
        sb += 1
    if sb < eb:
        k = _first_not(a, sb, eb, inv)
        if k >= 0:
            return (k << 3) + _LOWBIT[a[k] ^ inv]
    if hi:
        v = (a[eb] ^ inv) & ((1 << hi) - 1)
        if v:
            return (eb << 3) + _LOWBIT[v]
    return -1


def ffs_range(a: ReadableBuffer, start: int, end: int) -> int:
    """Index of the first set bit of ``a`` in [start, end), or -1."""
    return _find(a, start, end, 0)


def ffc_range(a: ReadableBuffer, start: int, end: int) -> int:
    """Index of the first clear bit of ``a`` in [start, end), or -1."""
    return _find(a, start, end, 0xFF)


def _popcount_bytes(a: Any, lo: int, hi: int) -> int:
    """Number of set bits in the whole bytes a[lo:hi]."""
    body = a[lo:hi]
    if _adler32 is None:
        return int.from_bytes(body, "little").bit_count()
    if type(body) is memoryview:
        body = body.tobytes()
    counts = memoryview(body.translate(_POP))
    n = 0
    for p in range(0, len(counts), _ADLER_STEP):
        n += _adler32(counts[p : p + _ADLER_STEP], 0) & 0xFFFF
    return n


def popcount_range(a: ReadableBuffer, start: int, end: int) -> int:
    """Number of set bits of ``a`` in [start, end)."""
    t = type(a)
    if t is not bytearray and t is not bytes:
        a = _view(a, False)
    nbits = len(a) << 3
    if not 0 <= start <= end <= nbits:
        _range_error(nbits, start, end)
    if start == end:
        return 0
    sb, lo = start >> 3, start & 7
    eb, hi = end >> 3, end & 7
    if sb == eb:
        return _POP[(a[sb] >> lo) & ((1 << (hi - lo)) - 1)]
    n = 0
    if lo:
        n = _POP[a[sb] >> lo]
        sb += 1
    if hi:
        n += _POP[a[eb] & ((1 << hi) - 1)]
    if sb < eb:
        n += _popcount_bytes(a, sb, eb)
    return n


# --- bytes -------------------------------------------------------------------


def memcpy(dst: WritableBuffer, doff: int, src: ReadableBuffer, soff: int, n: int) -> None:
    """Copy ``n`` bytes from src[soff:] to dst[doff:]; overlapping ranges are safe."""
    # memoryview slice assignment is a memmove, and needs no copy of the source.
    d = memoryview(dst) if type(dst) is bytearray else _view(dst, True)
    t = type(src)
    s = memoryview(src) if t is bytes or t is bytearray else _view(src, False)
    if not (0 <= n and 0 <= doff and doff + n <= len(d) and 0 <= soff and soff + n <= len(s)):
        _memcpy_error(len(d), doff, len(s), soff, n)
    if n:
        d[doff : doff + n] = s[soff : soff + n]


def memset(dst: WritableBuffer, off: int, c: int, n: int) -> None:
    """Fill ``n`` bytes at dst[off:] with the byte value ``c``."""
    d = dst if type(dst) is bytearray else _view(dst, True)
    if not (0 <= c <= 255 and 0 <= n and 0 <= off and off + n <= len(d)):
        _memset_error(len(d), off, c, n)
    if n:
        d[off : off + n] = _BYTE[c] * n
