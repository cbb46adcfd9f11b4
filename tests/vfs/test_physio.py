"""physio(9) over md(4) and over drivers that complete later."""

from __future__ import annotations

import functools

import pytest

import kern
from dev.md import md_create, mdstrategy
from kern import (
    EFAULT,
    EINVAL,
    EIO,
    KTHREAD_MUSTJOIN,
    PRI_BIO,
    kpause,
    kthread_create,
    kthread_join,
)
from kern.cpu import curproc
from kern.subr_copy import iovec, uio, uread, uvm_map_user, uwrite
from kern.subr_uio import UIO_READ, UIO_WRITE, kernel_uio
from vfs.buf import B_PHYS, B_RAW, B_READ
from vfs.kern_physio import minphys, physio
from vfs.vfs_bio import MAXPHYS, biodone

MB = 1 << 20


@pytest.fixture
def k():
    with kern.boot(seed=4) as m:
        yield m


@functools.lru_cache(maxsize=8)
def pattern(n: int, seed: int = 7) -> bytes:
    return bytes((i * seed + i // 251) & 0xFF for i in range(n))


async def setup_md(size: int = MB) -> int:
    error, dev = md_create(0, size)
    assert error == 0
    u = kernel_uio(bytearray(pattern(size)), 0, UIO_WRITE)
    assert await physio(mdstrategy, None, dev, 0, minphys, u) == 0
    assert u.uio_resid == 0
    return dev


def recorder(seen: list):
    async def strategy(bp):
        seen.append((bp.b_blkno, bp.b_bcount, bp.b_flags & (B_PHYS | B_RAW | B_READ)))
        await mdstrategy(bp)
    return strategy


def test_chunks_of_maxphys(k):
    async def body():
        dev = await setup_md()
        seen = []
        out = bytearray(200 * 1024)
        u = kernel_uio(out, 4096, UIO_READ)
        error = await physio(recorder(seen), None, dev, B_READ, minphys, u)
        same = bytes(out) == pattern(MB)[4096:4096 + len(out)]
        return error, seen, u.uio_resid, u.uio_offset, same

    error, seen, resid, offset, same = k.run(body)
    assert error == 0 and resid == 0 and same
    assert offset == 4096 + 200 * 1024
    flags = B_PHYS | B_RAW | B_READ
    assert seen == [(8, MAXPHYS, flags), (8 + 128, MAXPHYS, flags), (8 + 256, MAXPHYS, flags),
                    (8 + 384, 200 * 1024 - 3 * MAXPHYS, flags)]


def test_minphys_of_driver_bounds_chunks(k):
    def small(bp):
        if bp.b_bcount > 4096:
            bp.b_bcount = 4096

    async def body():
        dev = await setup_md()
        seen = []
        u = kernel_uio(bytearray(10000), 0, UIO_READ)
        error = await physio(recorder(seen), None, dev, B_READ, small, u)
        return error, [s[1] for s in seen], u.uio_resid

    assert k.run(body) == (0, [4096, 4096, 1808], 0)


def test_unaligned_offset_is_einval(k):
    async def body():
        dev = await setup_md()
        seen = []
        u = kernel_uio(bytearray(1024), 100, UIO_READ)
        error = await physio(recorder(seen), None, dev, B_READ, minphys, u)
        return error, seen, u.uio_resid, u.uio_offset

    assert k.run(body) == (EINVAL, [], 1024, 100)


def test_eof_short_read_and_read_at_end(k):
    async def body():
        dev = await setup_md()
        out = bytearray(64 * 1024)
        u = kernel_uio(out, MB - 16 * 1024, UIO_READ)
        e1 = await physio(mdstrategy, None, dev, B_READ, minphys, u)
        got1 = len(out) - u.uio_resid
        same = bytes(out[:got1]) == pattern(MB)[MB - 16 * 1024:]
        u = kernel_uio(bytearray(4096), MB, UIO_READ)
        e2 = await physio(mdstrategy, None, dev, B_READ, minphys, u)
        got2 = 4096 - u.uio_resid
        u = kernel_uio(bytearray(4096), MB + 4096, UIO_READ)
        e3 = await physio(mdstrategy, None, dev, B_READ, minphys, u)
        return e1, got1, same, e2, got2, e3

    assert k.run(body) == (0, 16 * 1024, True, 0, 0, EINVAL)


def test_error_in_second_chunk(k):
    dev_holder = {}

    async def make():
        dev_holder["dev"] = await setup_md()

    k.run(make)

    async def body2():
        dev = dev_holder["dev"]
        out = bytearray(200 * 1024)
        u = kernel_uio(out, 0, UIO_READ)
        error = await physio(mdstrategy, None, dev, B_READ, minphys, u)
        return error, len(out) - u.uio_resid, bytes(out[:MAXPHYS]) == pattern(MB)[:MAXPHYS]

    with k.faults.inject("disk.read", error=EIO, fail_nth=2, dev=dev_holder["dev"]):
        assert k.run(body2) == (EIO, MAXPHYS, True)


def test_short_transfer_counts_as_end(k):
    dev = {}

    async def make():
        dev["d"] = await setup_md()

    k.run(make)

    async def body():
        out = bytearray(3 * MAXPHYS)
        u = kernel_uio(out, 0, UIO_READ)
        error = await physio(mdstrategy, None, dev["d"], B_READ, minphys, u)
        return error, len(out) - u.uio_resid

    with k.faults.inject("disk.short", fail_nth=2, dev=dev["d"], extra={"done": 1024}):
        assert k.run(body) == (0, MAXPHYS + 1024)


def test_async_driver_out_of_order_lowest_offset_decides(k):
    """A driver completing later, in reverse order: a short first buf beats a failed third."""

    async def body():
        pending = []
        inflight = {"now": 0, "max": 0}

        async def strategy(bp):
            pending.append(bp)
            inflight["now"] += 1
            inflight["max"] = max(inflight["max"], inflight["now"])

        async def completer(_):
            await kpause("io", False, 2, None)
            for bp in reversed(list(pending)):
                off = bp.b_blkno * 512
                bp.b_data[:] = pattern(4 * MAXPHYS)[off:off + bp.b_bcount]
                bp.b_resid = 0
                if off == 0:
                    bp.b_resid = 512  # short: the end of the medium here
                if off == 2 * MAXPHYS:
                    bp.b_error = EIO
                    bp.b_resid = bp.b_bcount
                inflight["now"] -= 1
                biodone(bp)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, completer, None, "disk")
        out = bytearray(4 * MAXPHYS)
        u = kernel_uio(out, 0, UIO_READ)
        error = await physio(strategy, None, 0x1234, B_READ, minphys, u)
        await kthread_join(l)
        done = len(out) - u.uio_resid
        return error, done, inflight["max"], bytes(out[:done]) == pattern(4 * MAXPHYS)[:done]

    assert k.run(body) == (0, MAXPHYS - 512, 4, True)


def test_user_space_uio_and_efault(k):
    async def body():
        dev = await setup_md()
        p = curproc()
        addr = uvm_map_user(p, 3 * MAXPHYS)
        data = pattern(2 * MAXPHYS + 4096, 3)
        uwrite(p, addr, data)
        u = uio(iovec(addr, len(data)), uio_offset=8192, uio_rw=UIO_WRITE,
                uio_vmspace=p.p_vmspace)
        ew = await physio(mdstrategy, None, dev, 0, minphys, u)
        u = uio(iovec(addr + MAXPHYS, len(data)), uio_offset=8192, uio_rw=UIO_READ,
                uio_vmspace=p.p_vmspace)
        # The second half of this buffer runs past the mapping.
        er = await physio(mdstrategy, None, dev, B_READ, minphys, u)
        got = len(data) - u.uio_resid
        back = uread(p, addr + MAXPHYS, got)
        bad = uio(iovec(0x1000, 4096), uio_offset=0, uio_rw=UIO_WRITE,
                  uio_vmspace=p.p_vmspace)
        eb = await physio(mdstrategy, None, dev, 0, minphys, bad)
        return ew, er, got, back == data[:got], eb, bad.uio_resid

    ew, er, got, same, eb, bad_resid = k.run(body)
    assert ew == 0
    assert er == EFAULT
    assert got == 2 * MAXPHYS  # the chunks that fit the mapping
    assert same
    assert (eb, bad_resid) == (EFAULT, 4096)


def test_two_bufs_ending_at_one_offset_panic():
    """Two bufs of one transfer cannot end early at the same offset (each
    starts past the end of the one before): physio_done asserts it, as
    kern_physio.c 1.93 does.  A driver that rewrites b_blkno makes it so."""

    async def body():
        pending = []

        async def strategy(bp):
            pending.append(bp)

        async def completer(_):
            await kpause("io", False, 2, None)
            for bp in list(pending):
                bp.b_blkno = 0  # (a broken driver: every buf now claims offset 0)
                bp.b_resid = bp.b_bcount - 512
                biodone(bp)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, completer, None, "disk")
        u = kernel_uio(bytearray(2 * MAXPHYS), 0, UIO_READ)
        await physio(strategy, None, 0x1234, B_READ, minphys, u)

    with kern.boot(seed=4) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "mbp.b_lblkno != endoffset" in str(ei.value)


def test_bounce_buffers_kept_for_later_bufs_are_never_shared(k):
    """kemu keeps MAXPHYS bounce buffers for later bufs (kern_physio.py's
    header): the bufs in flight together each have their own, filled in any
    order; a buffer comes back holding an earlier transfer's bytes, of which
    a read hands on only what the driver transferred."""

    async def body():
        dev = await setup_md(4 * MAXPHYS)
        earlier = []

        async def keep(bp):
            earlier.append(bp.b_data)
            await mdstrategy(bp)

        # Four bufs in flight at once, done with their buffers after.
        u = kernel_uio(bytearray(4 * MAXPHYS), 0, UIO_READ)
        assert await physio(keep, None, dev, B_READ, minphys, u) == 0

        pending = []
        given = []

        async def strategy(bp):
            given.append(bp.b_data)
            pending.append(bp)

        async def completer(_):
            await kpause("io", False, 2, None)
            # Each buf filled only after every one was started, last first.
            for bp in reversed(list(pending)):
                off = bp.b_blkno * 512
                bp.b_data[:] = pattern(4 * MAXPHYS, 5)[off:off + bp.b_bcount]
                bp.b_resid = 0
                biodone(bp)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, completer, None, "disk")
        out = bytearray(4 * MAXPHYS)
        u = kernel_uio(out, 0, UIO_READ)
        error = await physio(strategy, None, 0x1234, B_READ, minphys, u)
        await kthread_join(l)
        reused = sum(any(b is e for e in earlier) for b in given)
        distinct = len({id(b) for b in given})
        whole = bytes(out) == pattern(4 * MAXPHYS, 5)

        # A short read: the driver transfers 100 bytes into a kept buffer that
        # holds the read above; the caller gets those 100 and nothing else.
        async def short(bp):
            stale = bytes(bp.b_data[100:200])
            bp.b_data[:100] = b"\x11" * 100
            bp.b_resid = bp.b_bcount - 100
            biodone(bp)
            short.stale = stale

        out2 = bytearray(b"\xee" * MAXPHYS)
        u = kernel_uio(out2, 0, UIO_READ)
        e2 = await physio(short, None, 0x1234, B_READ, minphys, u)
        return (error, reused, distinct, whole, e2, MAXPHYS - u.uio_resid,
                bytes(out2) == b"\x11" * 100 + b"\xee" * (MAXPHYS - 100),
                short.stale != bytes(100))

    assert k.run(body) == (0, 1, 4, True, 0, 100, True, True)


def test_a_bounce_buffer_is_kept_until_its_copy_out(k):
    """A buf's bounce buffer goes back to the pool only once physio_done has
    copied it out (kern_physio.py's header): a physio in another lwp that
    runs between the buf's biodone and that copy-out takes another buffer,
    and each caller gets its own bytes."""

    async def body():
        dev = await setup_md(MAXPHYS)
        theirs = bytearray(MAXPHYS)

        async def other_reader(_):
            u = kernel_uio(theirs, 0, UIO_READ)
            other_reader.error = await physio(mdstrategy, None, dev, B_READ, minphys, u)

        async def strategy(bp):
            bp.b_data[:] = b"\xaa" * bp.b_bcount
            bp.b_resid = 0
            biodone(bp)
            # Before this call's physio_done: another lwp's whole physio.
            _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, other_reader, None, "other")
            await kthread_join(l)

        mine = bytearray(MAXPHYS)
        u = kernel_uio(mine, 0, UIO_READ)
        error = await physio(strategy, None, 0x1234, B_READ, minphys, u)
        return (error, u.uio_resid, bytes(mine) == b"\xaa" * MAXPHYS, other_reader.error,
                bytes(theirs) == pattern(MAXPHYS))

    assert k.run(body) == (0, 0, True, 0, True)
