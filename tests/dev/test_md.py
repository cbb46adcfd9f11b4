"""md(4): memory disks through devsw, physio, disk(9) and the disk fault sites."""

from __future__ import annotations

import ctypes

import pytest

import kern
from dev.md import (
    MD_GETCONF,
    MD_KMEM_ALLOCATED,
    MD_SETCONF,
    md_conf,
    md_create,
    md_destroy,
    md_disk,
)
from kern import EBUSY, EEXIST, EINVAL, EIO, ENOTTY, ENXIO, EROFS, kmem_stats
from kern.subr_devsw import (
    bdev_close,
    bdev_ioctl,
    bdev_open,
    bdev_size,
    bdev_strategy,
    cdev_close,
    cdev_open,
    cdev_read,
    cdev_write,
    devsw_blk2chr,
)
from kern.subr_uio import UIO_READ, UIO_WRITE, kernel_uio
from kern.types_dev import major
from vfs.buf import B_READ
from vfs.dkio import (
    DIOCGMEDIASIZE,
    DIOCGSECTORSIZE,
    DISKPART,
    DISKUNIT,
    MAKEDISKDEV,
    RAW_PART,
)
from vfs.stat import S_IFBLK, S_IFCHR
from vfs.subr_disk import iostat_list
from vfs.vfs_bio import biowait, getiobuf, putiobuf

MB = 1 << 20


@pytest.fixture
def k():
    with kern.boot(seed=8) as m:
        yield m


async def rw(dev: int, blkno: int, data: bytes | None = None, n: int = 512):
    """One buf through bdev_strategy: a write of ``data`` or a read of ``n`` bytes."""
    bp = getiobuf(None, True)
    bp.b_dev = dev
    bp.b_blkno = blkno
    if data is None:
        bp.b_flags = B_READ
        bp.b_data = bytearray(n)
        bp.b_bcount = n
    else:
        bp.b_data = bytearray(data)
        bp.b_bcount = len(data)
    bp.b_resid = bp.b_bcount
    await bdev_strategy(bp)
    error = await biowait(bp)
    out = (error, bp.b_resid, bytes(bp.b_data[:bp.b_bcount - bp.b_resid]))
    putiobuf(bp)
    return out


def test_create_arguments_and_numbers(k):
    async def body():
        bad = [md_create(-1, MB)[0], md_create(0, 0)[0], md_create(0, 1000)[0],
               md_create("0", MB)[0], md_create(0, -512)[0]]
        error, dev = md_create(1, MB)
        again = md_create(1, MB)[0]
        return bad, error, dev, again, devsw_blk2chr(dev)

    bad, error, dev, again, cdev = k.run(body)
    assert bad == [EINVAL] * 5
    assert error == 0 and again == EEXIST
    assert (major(dev), DISKUNIT(dev), DISKPART(dev)) == (17, 1, RAW_PART)
    assert major(cdev) == 24


def test_block_io_and_bounds(k):
    async def body():
        error, dev = md_create(0, 64 * 1024)
        assert error == 0
        data = bytes(range(256)) * 8
        w = await rw(dev, 10, data)
        r = await rw(dev, 10, None, 2048)
        zero = await rw(dev, 0, None, 512)
        straddle = await rw(dev, 126, None, 2048)  # 2 sectors left
        at_end = await rw(dev, 128, None, 512)
        beyond = await rw(dev, 129, None, 512)
        negative = await rw(dev, -1, None, 512)
        wend = await rw(dev, 128, b"x" * 512)
        return w, r, data, zero, straddle, at_end, beyond, negative, wend

    w, r, data, zero, straddle, at_end, beyond, negative, wend = k.run(body)
    assert w == (0, 0, data)
    assert r == (0, 0, data)
    assert zero == (0, 0, bytes(512))
    assert straddle[:2] == (0, 0) and len(straddle[2]) == 1024
    assert at_end == (0, 512, b"")
    assert beyond[0] == EINVAL and negative[0] == EINVAL
    assert wend == (0, 512, b"")


def test_raw_device_read_write(k):
    async def body():
        error, dev = md_create(0, MB)
        cdev = devsw_blk2chr(dev)
        assert await cdev_open(cdev, 3, S_IFCHR, None) == 0
        src = bytes((i * 13) & 0xFF for i in range(300 * 1024))
        u = kernel_uio(bytearray(src), 512, UIO_WRITE)
        ew = await cdev_write(cdev, u, 0)
        out = bytearray(len(src))
        u = kernel_uio(out, 512, UIO_READ)
        er = await cdev_read(cdev, u, 0)
        tail = bytearray(8192)
        u2 = kernel_uio(tail, MB - 4096, UIO_READ)
        et = await cdev_read(cdev, u2, 0)
        assert await cdev_close(cdev, 3, S_IFCHR, None) == 0
        return ew, er, bytes(out) == src, et, len(tail) - u2.uio_resid

    assert k.run(body) == (0, 0, True, 0, 4096)


def test_open_close_and_destroy(k):
    async def body():
        before = kmem_stats()["inuse"]
        error, dev = md_create(2, MB)
        assert await bdev_open(dev, 1, S_IFBLK, None) == 0
        busy = md_destroy(2)
        assert await bdev_close(dev, 1, S_IFBLK, None) == 0
        gone = md_destroy(2)
        again = md_destroy(2)
        after_open = await bdev_open(dev, 1, S_IFBLK, None)
        after_io = await rw(dev, 0, None, 512)
        return busy, gone, again, after_open, after_io[0], kmem_stats()["inuse"] - before

    assert k.run(body) == (EBUSY, 0, ENXIO, ENXIO, ENXIO, 0)


def test_ioctls_and_size(k):
    async def body():
        error, dev = md_create(0, 3 * MB)
        part_a = MAKEDISKDEV(major(dev), 0, 0)
        ms = ctypes.c_int64()
        ss = bytearray(4)
        conf = md_conf()
        setconf = md_conf(md_size=MB, md_type=MD_KMEM_ALLOCATED)
        return (await bdev_ioctl(dev, DIOCGMEDIASIZE, ms, 0, None), ms.value,
                await bdev_ioctl(dev, DIOCGSECTORSIZE, ss, 0, None),
                int.from_bytes(ss, "little"),
                await bdev_ioctl(dev, MD_GETCONF, conf, 0, None), conf.md_size, conf.md_type,
                # mdioctl: the raw partition answers EINVAL to what it does not
                # know, and to MD_SETCONF on a configured unit ...
                await bdev_ioctl(dev, 0x20006478, None, 0, None),
                await bdev_ioctl(dev, MD_SETCONF, setconf, 0, None),
                # ... the other partitions ENOTTY, after disk(9)'s ioctls.
                await bdev_ioctl(part_a, MD_GETCONF, md_conf(), 0, None),
                await bdev_ioctl(part_a, DIOCGSECTORSIZE, ss, 0, None),
                bdev_size(dev))

    assert k.run(body) == (0, 3 * MB, 0, 512, 0, 3 * MB, MD_KMEM_ALLOCATED, EINVAL, EINVAL,
                           ENOTTY, 0, 3 * MB // 512)


def test_statistics(k):
    async def body():
        error, dev = md_create(0, MB)
        await rw(dev, 0, b"a" * 1024)
        await rw(dev, 0, None, 4096)
        await rw(dev, 0, None, 512)
        return [s for s in iostat_list() if s["name"] == "md0"][0], md_disk(0).dk_name

    s, name = k.run(body)
    assert name == "md0"
    assert (s["rxfer"], s["rbytes"], s["wxfer"], s["wbytes"], s["busy"]) == (2, 4608, 1, 1024, 0)


def test_faults_scoped_by_device(k):
    devs = {}

    async def make():
        devs["a"] = md_create(0, MB)[1]
        devs["b"] = md_create(1, MB)[1]

    k.run(make)

    async def body():
        return (await rw(devs["a"], 0, None, 512), await rw(devs["b"], 0, None, 512),
                await rw(devs["a"], 0, b"z" * 512), await rw(devs["b"], 0, b"z" * 512))

    with k.faults.inject("disk.read", error=EIO, dev=devs["a"]), \
            k.faults.inject("disk.write", error=EROFS, dev=devs["b"]):
        ra, rb, wa, wb = k.run(body)
    assert ra[:2] == (EIO, 512)
    assert rb[:2] == (0, 0)
    assert wa[:2] == (0, 0)
    assert wb[:2] == (EROFS, 512)
    assert [e.site for e in k.faults.fired()] == ["disk.read", "disk.write"]



def test_slow_and_short_faults(k):
    devs = {}

    async def make():
        devs["a"] = md_create(0, MB)[1]

    k.run(make)

    async def timed():
        from kern.cpu import curmachine

        t0 = curmachine().now()
        r = await rw(devs["a"], 0, None, 4096)
        return r[:2], curmachine().now() - t0

    with k.faults.inject("disk.slow", dev=devs["a"], extra={"ticks": 50}):
        r, dt = k.run(timed)
    assert r == (0, 0)
    assert dt == pytest.approx(0.5)

    with k.faults.inject("disk.short", dev=devs["a"], extra={"done": 1024}):
        r, _ = k.run(timed)
    assert r == (0, 3072)
    with k.faults.inject("disk.short", dev=devs["a"]):
        r, _ = k.run(timed)
    assert r == (0, 2048)


def test_units_are_per_machine():
    async def make():
        return md_create(0, MB)[0]

    with kern.boot(seed=1) as a, kern.boot(seed=1) as b:
        assert a.run(make) == 0
        assert b.run(make) == 0
        assert a.run(make) == EEXIST


def test_halt_detaches_the_units_not_open():
    """At the halt, after the file systems are gone, md_detach (DETACH_SHUTDOWN)
    lets every unit that is not open go, its memory freed; an open one stays."""
    from dev.md import _md
    from kern.subr_kmem import _kmem

    async def setup():
        before = kmem_stats()["inuse"]
        assert md_create(0, 64 * 1024)[0] == 0
        e1, dev1 = md_create(1, 32 * 1024)
        assert e1 == 0
        assert await bdev_open(dev1, 0, 0o060000, None) == 0   # md1 stays open
        return before, kmem_stats()["inuse"]

    with kern.boot(seed=3) as k:
        before, during = k.run(setup)
    assert sorted(_md.of(k).units) == [1]
    assert during - before >= 96 * 1024
    # md0's 64 KiB went back with it
    assert _kmem.of(k).inuse <= during - 64 * 1024
