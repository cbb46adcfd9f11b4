"""kmem(9) and malloc(9): typed allocations, accounting, and misuse panics."""

from __future__ import annotations

import pytest

import kern
from kern import (
    KM_SLEEP,
    M_DEVBUF,
    M_WAITOK,
    M_ZERO,
    free,
    kmem_alloc,
    kmem_free,
    kmem_zalloc,
    sizeof,
)
from kern import malloc as kmalloc
from kern.subr_kmem import kmem_outstanding, kmem_stats


class fss_cache_like:
    _c_sizeof = 40

    def __init__(self):
        self.fc_type = 0


def test_alloc_free_accounting():
    async def body():
        before = kmem_stats()["inuse"]
        a = kmem_alloc(100, KM_SLEEP)
        z = kmem_zalloc(50, KM_SLEEP)
        assert len(a) == 100 and a[0] == 0xA5  # poisoned
        assert bytes(z) == bytes(50)
        mid = kmem_stats()["inuse"]
        kmem_free(a, 100)
        kmem_free(z, 50)
        return before, mid, kmem_stats()["inuse"]

    with kern.boot() as k:
        before, mid, after = k.run(body)
    assert mid - before == 150
    assert after == before


def test_typed_array_allocation():
    async def body():
        arr = kmem_alloc(8 * sizeof(fss_cache_like), KM_SLEEP)
        one = kmalloc(sizeof(fss_cache_like), M_DEVBUF, M_WAITOK | M_ZERO)
        size = 8 * sizeof(fss_cache_like)
        kinds = (type(arr).__name__, len(arr), type(arr[0]).__name__, type(one).__name__)
        kmem_free(arr, size)
        free(one, M_DEVBUF)
        return kinds, int(size)

    with kern.boot() as k:
        kinds, size = k.run(body)
    assert kinds == ("list", 8, "fss_cache_like", "fss_cache_like")
    assert size == 320


def test_leak_is_visible():
    async def body():
        kmem_alloc(10, KM_SLEEP)
        return kmem_outstanding()

    with kern.boot() as k:
        out = k.run(body)
    assert any("10 bytes" in line and "test_kmem.py" in line for line in out)


def test_wrong_size_free_panics():
    async def body():
        a = kmem_alloc(10, KM_SLEEP)
        kmem_free(a, 11)

    with kern.boot() as k, pytest.raises(kern.KernelPanic, match="size 11 does not match"):
        k.run(body)


def test_double_free_panics():
    async def body():
        a = kmem_alloc(10, KM_SLEEP)
        kmem_free(a, 10)
        kmem_free(a, 10)

    with kern.boot() as k, pytest.raises(kern.KernelPanic, match="double free"):
        k.run(body)
