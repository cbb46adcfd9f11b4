"""The native helper: bitmap and byte-copy hot paths of the fss(4) snapshot driver.

fss keeps a bitmap of the clusters it has already copied (sc_copied) and
copies clusters between buffers; these are the operations it needs, with
NetBSD's bit order (sys/param.h setbit/isset: bit ``i`` is ``1 << (i % 8)``
of byte ``a[i // 8]``):

    setbit(a, i), clrbit(a, i), isset(a, i) -> bool, isclr(a, i) -> bool
    setbits(a, start, n), clrbits(a, start, n)    the n bits from bit start
    ffs_range(a, start, end) -> int     first set bit in [start, end), or -1
    ffc_range(a, start, end) -> int     first clear bit in [start, end), or -1
    popcount_range(a, start, end) -> int    set bits in [start, end)
    memcpy(dst, doff, src, soff, n)     n bytes from src[soff:] to dst[doff:]
                                        (overlap-safe, like memmove)
    memset(dst, off, c, n)              n bytes at dst[off:] set to byte c

``a`` and ``dst`` are writable, C-contiguous buffers (bytearray, memoryview,
ctypes arrays, ...); ``src`` and the maps that are only read may be any
bytes-like object.  Bad arguments raise, in both implementations alike:
IndexError (index or range outside the buffer), ValueError (negative count,
range that ends before it starts, fill value not in 0..255), BufferError
(read-only or non-contiguous buffer), TypeError (not a buffer, index not an
int).  Nothing is written when an argument is bad.

Two implementations with one contract:

* ``cffi``: C code compiled at install time (kern/native/_build.py, module
  kern.native._bitops) for the entry points where C beats the twin by at
  least twice (benchmarks/bench_native.py): the range scans, the count and
  memset (``C_ENTRIES``).  The rest are the twin's own functions: a single
  bit costs less in Python than the call into C does, a run of bits gains
  under 2x on short runs, and memcpy is a memoryview slice assignment,
  which is the C library's memmove already.
* ``python``: the pure-Python twin (kern/native/twin.py), always there.

The environment variable ``KEMU_NATIVE`` chooses at import: ``cffi`` (the
compiled module must load, else ImportError says what failed), ``python``,
or unset/empty for the best one available.  ``impl`` names the one chosen.
``available()`` lists the implementations that load here, and ``load(name)``
returns one of them as a module-like object, so tests and benchmarks can
run both side by side; ``load_errors`` says why one did not load.

Without a C compiler at install time the compiled module is not built, and
kemu runs on the twin, only slower.  It does not say so on a program's
standard error (that stream is the script's: users compare it, as tests
do); ``fallback_reason()`` says why, and it is where kemu reports it: in
``kemu --version`` and, at every boot, in the machine's message buffer
(``dmesg``; on the console too with a verbose boot), as NetBSD's kernel
reports its choices at boot.
"""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace
from typing import Any

from kern.native import twin

logger = logging.getLogger(__name__)

IMPLEMENTATIONS = ("cffi", "python")

# Must equal BITOPS_VERSION in kern/native/_build.py; a compiled module with
# another version is a stale build and is not used.
_BITOPS_VERSION = 2

# The entry points the cffi implementation runs in C (the others are the twin's).
C_ENTRIES = ("ffs_range", "ffc_range", "popcount_range", "memset")

__all__ = [
    "C_ENTRIES",
    "IMPLEMENTATIONS",
    "available",
    "clrbit",
    "clrbits",
    "fallback_reason",
    "ffc_range",
    "ffs_range",
    "impl",
    "isclr",
    "isset",
    "load",
    "load_errors",
    "memcpy",
    "memset",
    "popcount_range",
    "setbit",
    "setbits",
]

_loaded: dict[str, Any] = {}
# Why an implementation failed to load, for diagnostics (name -> message).
load_errors: dict[str, str] = {}


def _make_cffi() -> SimpleNamespace:
    """Wrap kern.native._bitops in the twin's API."""
    try:
        from kern.native._bitops import ffi, lib
    except ImportError as e:
        raise ImportError(
            "kern.native: cannot import the compiled module kern.native._bitops"
            f" ({e}); reinstall kemu with a C compiler and cffi available"
            " (pip install -e .), or set KEMU_NATIVE=python"
        ) from e
    if lib.KEMU_BITOPS_VERSION != _BITOPS_VERSION:
        raise ImportError(
            f"kern.native: the compiled module kern.native._bitops is version"
            f" {lib.KEMU_BITOPS_VERSION}, this source needs {_BITOPS_VERSION};"
            " it is a stale build: reinstall kemu (pip install -e .)"
        )

    from_buffer = ffi.from_buffer
    uchar_array = ffi.typeof("unsigned char[]")
    c_ffs, c_ffc, c_popcount = lib.kemu_ffs_range, lib.kemu_ffc_range, lib.kemu_popcount_range
    c_memset = lib.kemu_memset

    # Calling pattern of every wrapper below (inlined: a helper call would
    # cost more than the C function).  The C function re-checks every
    # argument and, instead of touching memory, returns an error code; only
    # then does the wrapper ask the twin's error helpers which exception to
    # raise.  An int too large for int64_t makes cffi raise OverflowError,
    # handled the same way.  A TypeError or BufferError comes from
    # from_buffer (not a usable buffer: bad_buffer raises the twin's clearer
    # message) or from cffi converting a non-int index (re-raised as is).

    def bad_buffer(a: Any, writable: bool) -> None:
        twin._view(a, writable)

    def ffs_range(a: twin.ReadableBuffer, start: int, end: int) -> int:
        try:
            p = from_buffer(uchar_array, a)
            r = c_ffs(p, len(p), start, end)
        except (TypeError, BufferError):
            bad_buffer(a, False)
            raise
        except OverflowError:
            r = -2
        if r == -2:
            twin._range_error(len(p) << 3, start, end)
        return r

    def ffc_range(a: twin.ReadableBuffer, start: int, end: int) -> int:
        try:
            p = from_buffer(uchar_array, a)
            r = c_ffc(p, len(p), start, end)
        except (TypeError, BufferError):
            bad_buffer(a, False)
            raise
        except OverflowError:
            r = -2
        if r == -2:
            twin._range_error(len(p) << 3, start, end)
        return r

    def popcount_range(a: twin.ReadableBuffer, start: int, end: int) -> int:
        try:
            p = from_buffer(uchar_array, a)
            r = c_popcount(p, len(p), start, end)
        except (TypeError, BufferError):
            bad_buffer(a, False)
            raise
        except OverflowError:
            r = -1
        if r < 0:
            twin._range_error(len(p) << 3, start, end)
        return r

    def memset(dst: twin.WritableBuffer, off: int, c: int, n: int) -> None:
        try:
            d = from_buffer(uchar_array, dst, True)
            if c_memset(d, len(d), off, c, n) == 0:
                return
        except (TypeError, BufferError):
            bad_buffer(dst, True)
            raise
        except OverflowError:
            pass
        twin._memset_error(len(d), off, c, n)

    return SimpleNamespace(
        __name__="kern.native.cffi",
        __doc__="kern.native's cffi implementation (C code in kern.native._bitops).",
        impl="cffi",
        ffi=ffi,
        lib=lib,
        setbit=twin.setbit,
        clrbit=twin.clrbit,
        isset=twin.isset,
        isclr=twin.isclr,
        setbits=twin.setbits,
        clrbits=twin.clrbits,
        ffs_range=ffs_range,
        ffc_range=ffc_range,
        popcount_range=popcount_range,
        memcpy=twin.memcpy,
        memset=memset,
    )


def load(name: str) -> Any:
    """Return implementation ``name`` ("cffi" or "python") as a module-like object.

    Raises ImportError if it cannot be loaded here, ValueError for an
    unknown name.
    """
    if name in _loaded:
        return _loaded[name]
    if name == "python":
        obj: Any = twin
    elif name == "cffi":
        obj = _make_cffi()
    else:
        raise ValueError(
            f"kern.native: no implementation {name!r}; choose one of {', '.join(IMPLEMENTATIONS)}"
        )
    _loaded[name] = obj
    return obj


def available() -> list[str]:
    """Names of the implementations that load here, best first."""
    names = []
    for name in IMPLEMENTATIONS:
        try:
            load(name)
        except ImportError as e:
            load_errors[name] = str(e)
        else:
            names.append(name)
    return names


def fallback_reason() -> str | None:
    """Why the compiled helper did not load, when kern.native fell back to the
    twin by itself (KEMU_NATIVE unset or empty); None when it runs or when the
    twin was asked for."""
    why = load_errors.get("cffi")
    if impl != "cffi" and why and not os.environ.get("KEMU_NATIVE", "").strip():
        return why
    return None


def _select() -> Any:
    want = os.environ.get("KEMU_NATIVE", "").strip().lower()
    if want:
        if want not in IMPLEMENTATIONS:
            raise ImportError(
                f"kern.native: KEMU_NATIVE={want!r} is not an implementation;"
                f" use {' or '.join(IMPLEMENTATIONS)}, or leave it unset for the best available"
            )
        # An explicit request gets that implementation or a loud failure.
        return load(want)
    for name in IMPLEMENTATIONS:
        try:
            return load(name)
        except ImportError as e:
            load_errors[name] = str(e)
            logger.debug("kern.native: %s implementation unavailable: %s", name, e)
    raise ImportError(f"kern.native: no implementation loads: {load_errors}")


_impl = _select()
impl: str = _impl.impl
setbit = _impl.setbit
clrbit = _impl.clrbit
isset = _impl.isset
isclr = _impl.isclr
setbits = _impl.setbits
clrbits = _impl.clrbits
ffs_range = _impl.ffs_range
ffc_range = _impl.ffc_range
popcount_range = _impl.popcount_range
memcpy = _impl.memcpy
memset = _impl.memset
del _impl
