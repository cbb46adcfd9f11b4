"""bufq(9): strategies, queue semantics, drain, and the bufq_fcfs module."""

from __future__ import annotations

import pytest

import kern
from kern import EBUSY, EEXIST, EIO, ENOENT, KernelPanic, kmem_stats
from kern.kern_module import MODULE_CLASS_BUFQ, module_load, module_unload
from vfs.buf import BO_DONE, buf
from vfs.subr_bufq import (
    BUFQ_DEFINE,
    BUFQ_EXACT,
    BUFQ_SORT_CYLINDER,
    BUFQ_SORT_RAWBLOCK,
    BUFQ_STRAT_ANY,
    bufq_alloc,
    bufq_cancel,
    bufq_disksort_init,
    bufq_drain,
    bufq_free,
    bufq_get,
    bufq_getstrategyname,
    bufq_move,
    bufq_peek,
    bufq_put,
    bufq_register,
    bufq_strategies,
    bufq_unregister,
)

CONFIG = "GENERIC"


def fcfs_config():
    from kern.conf.GENERIC import config

    mp = dict(config.module_path)
    mp["bufq_fcfs"] = "vfs.bufq_fcfs"
    return config.derive("BUFQTEST", module_path=mp)


@pytest.fixture
def k():
    with kern.boot(seed=2, config=fcfs_config()) as m:
        yield m


def mkbuf(blkno: int, n: int = 512) -> buf:
    bp = buf()
    bp.b_blkno = bp.b_rawblkno = blkno
    bp.b_bcount = n
    return bp


async def _inuse():
    return kmem_stats()["inuse"]


def drain_order(q) -> list[int]:
    out = []
    while (bp := bufq_get(q)) is not None:
        out.append(bp.b_rawblkno)
    return out


def test_disksort_is_built_in_and_default(k):
    async def body():
        assert bufq_strategies() == ["disksort"]
        error, q = bufq_alloc(BUFQ_STRAT_ANY, BUFQ_SORT_RAWBLOCK)
        assert error == 0 and bufq_getstrategyname(q) == "disksort"
        bufq_free(q)
        # fcfs not loaded: fall back to the default, or ENOENT when exact.
        error, q = bufq_alloc("fcfs", 0)
        assert error == 0 and bufq_getstrategyname(q) == "disksort"
        bufq_free(q)
        assert bufq_alloc("fcfs", BUFQ_EXACT) == (ENOENT, None)
        return True

    before = k.run(_inuse)
    assert k.run(body)
    assert k.run(_inuse) == before


def test_disksort_one_way_elevator(k):
    async def body():
        error, q = bufq_alloc("disksort", BUFQ_SORT_RAWBLOCK)
        assert error == 0
        for b in (50, 10, 70, 60):
            bufq_put(q, mkbuf(b))
        # 50 is the head; 10 lies behind it and goes to the second sweep.
        first = drain_order(q)
        for b in (30, 40, 20, 35):
            bufq_put(q, mkbuf(b))
        assert bufq_peek(q).b_rawblkno == 30
        bufq_get(q)
        bufq_put(q, mkbuf(5))
        bufq_put(q, mkbuf(45))
        second = drain_order(q)
        bufq_free(q)
        return first, second

    first, second = k.run(body)
    assert first == [50, 60, 70, 10]
    assert second == [35, 40, 45, 5, 20]


def test_disksort_cylinder_sort(k):
    async def body():
        error, q = bufq_alloc("disksort", BUFQ_SORT_CYLINDER)
        assert error == 0
        # No b_cylinder in kemu's buf: all on cylinder 0, so by block.
        for b in (3, 1, 2):
            bufq_put(q, mkbuf(b))
        order = drain_order(q)
        bufq_free(q)
        return order

    assert k.run(body) == [3, 1, 2]


def test_cancel_move_drain_and_free_asserts(k):
    async def body():
        error, q = bufq_alloc("disksort", 0)
        error2, q2 = bufq_alloc(BUFQ_STRAT_ANY, 0)
        assert error == error2 == 0
        bufs = [mkbuf(b, 1024) for b in (1, 2, 3)]
        for bp in bufs:
            bufq_put(q, bp)
        assert bufq_cancel(q, bufs[1]) is bufs[1]
        assert bufq_cancel(q, bufs[1]) is None
        bufq_move(q2, q)
        assert bufq_peek(q) is None
        bufq_drain(q2)
        drained = [(bp.b_error, bp.b_resid, bool(bp.b_oflags & BO_DONE)) for bp in bufs]
        bufq_free(q)
        bufq_free(q2)
        return drained

    assert k.run(body) == [(EIO, 1024, True), (0, 0, False), (EIO, 1024, True)]


def test_free_of_non_empty_queue_panics(k):
    async def body():
        error, q = bufq_alloc(BUFQ_STRAT_ANY, 0)
        bufq_put(q, mkbuf(1))
        bufq_free(q)

    with pytest.raises(KernelPanic):
        k.run(body)


def test_register_and_unregister_busy(k):
    async def body():
        strat = BUFQ_DEFINE("mystrat", 99, bufq_disksort_init)
        assert bufq_register(strat) == 0
        error, q = bufq_alloc(BUFQ_STRAT_ANY, 0)
        name = bufq_getstrategyname(q)  # the highest priority wins
        assert bufq_unregister(strat) == EBUSY
        bufq_free(q)
        assert bufq_unregister(strat) == 0
        return name, bufq_strategies()

    assert k.run(body) == ("mystrat", ["disksort"])


def test_fcfs_module_load_use_unload(k):
    async def body():
        assert await module_load("bufq_fcfs", 0, None, MODULE_CLASS_BUFQ) == 0
        assert await module_load("bufq_fcfs", 0, None, MODULE_CLASS_BUFQ) == EEXIST
        assert "fcfs" in bufq_strategies()
        error, q = bufq_alloc("fcfs", BUFQ_EXACT)
        assert error == 0 and bufq_getstrategyname(q) == "fcfs"
        for b in (5, 1, 9, 3):
            bufq_put(q, mkbuf(b))
        order = drain_order(q)
        # In use: the module cannot go.
        busy = await module_unload("bufq_fcfs")
        bufq_free(q)
        gone = await module_unload("bufq_fcfs")
        after = bufq_alloc("fcfs", BUFQ_EXACT)
        return order, busy, gone, after, bufq_strategies()

    order, busy, gone, after, strategies = k.run(body)
    assert order == [5, 1, 9, 3]
    assert busy == EBUSY
    assert gone == 0
    assert after == (ENOENT, None)
    assert strategies == ["disksort"]


def test_fcfs_modules_are_per_machine():
    async def load():
        assert await module_load("bufq_fcfs", 0, None, MODULE_CLASS_BUFQ) == 0
        return bufq_alloc("fcfs", BUFQ_EXACT)

    async def check():
        return bufq_strategies()

    with kern.boot(seed=1, config=fcfs_config()) as a, \
            kern.boot(seed=1, config=fcfs_config()) as b:
        assert a.run(load)[0] == 0
        assert b.run(check) == ["disksort"]
        assert b.run(load)[0] == 0
