"""C-shaped helpers for ports: ``sizeof``, typed allocations, ``NODEV``.

Ports allocate arrays of structs the C way:
``sc.sc_cache = kmem_alloc(sc.sc_cache_size * sizeof(fss_cache), KM_SLEEP)``.
``sizeof(T)`` is an ``int`` that remembers ``T``, and multiplying it by a
count keeps that, so kmem_alloc can hand back ``T`` objects (a list for an
array) while accounting the bytes.  A plain int size gives a bytearray.
"""

from __future__ import annotations

import ctypes
from typing import Any


class TypedSize(int):
    """An int that also says which type (and how many) it measures."""

    ctype: Any
    count: int
    array: bool

    def __new__(cls, ctype: Any, count: int, array: bool) -> TypedSize:
        self = super().__new__(cls, _size_of(ctype) * count)
        self.ctype = ctype
        self.count = count
        self.array = array
        return self

    def __mul__(self, n: object) -> Any:
        if isinstance(n, int) and not isinstance(n, TypedSize):
            return TypedSize(self.ctype, self.count * n, True)
        return int(self) * n  # type: ignore[operator]

    __rmul__ = __mul__

    def make(self) -> Any:
        if self.array:
            return [self.ctype() for _ in range(self.count)]
        return self.ctype()


def _size_of(t: Any) -> int:
    if isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union, ctypes._SimpleCData)):
        return ctypes.sizeof(t)
    return int(getattr(t, "_c_sizeof", 64))


def sizeof(t: Any) -> Any:
    """``sizeof(T)``: bytes of a ctypes type, or the nominal size of a kernel struct class."""
    if isinstance(t, (ctypes.Structure, ctypes.Union, ctypes._SimpleCData)):
        return ctypes.sizeof(t)
    if isinstance(t, type):
        return TypedSize(t, 1, False)
    raise TypeError(f"sizeof: not a type: {t!r}")


def cast(buf: Any, ctype: Any) -> Any:
    """``(struct foo *)data``: view a kernel buffer as a ctypes struct, in place."""
    return ctype.from_buffer(buf)


NODEV = -1
