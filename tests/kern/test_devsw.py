"""Device switches (subr_devsw.c): dev_t encoding, devsw_attach's majors and errnos,
the name table, and the bdev_*/cdev_* wrappers."""

from __future__ import annotations

import pytest

import kern
from kern import subr_devsw
from kern.conf import (
    D_DISK,
    D_MPSAFE,
    D_OTHER,
    D_TTY,
    POLLERR,
    POLLIN,
    POLLPRI,
    bdevsw,
    cdevsw,
    nodiscard,
    nodump,
    noioctl,
    nokqfilter,
    nommap,
    noopen,
    nopoll,
    noread,
    nullclose,
    nullopen,
)
from kern.conf.GENERIC import config as GENERIC
from kern.errno import EEXIST, EINVAL, EIO, ENODEV, ENOMEM, ENXIO
from kern.subr_devsw import (
    MAXDEVSW,
    bdev_close,
    bdev_discard,
    bdev_dump,
    bdev_ioctl,
    bdev_open,
    bdev_size,
    bdev_strategy,
    bdev_type,
    bdevsw_getname,
    bdevsw_lookup,
    bdevsw_lookup_major,
    cdev_close,
    cdev_discard,
    cdev_ioctl,
    cdev_kqfilter,
    cdev_mmap,
    cdev_open,
    cdev_poll,
    cdev_read,
    cdev_type,
    cdev_write,
    cdevsw_getname,
    cdevsw_lookup,
    cdevsw_lookup_major,
    devsw_attach,
    devsw_blk2chr,
    devsw_blk2name,
    devsw_chr2blk,
    devsw_detach,
    devsw_name2blk,
    devsw_name2chr,
)
from kern.types_dev import NODEV, NODEVMAJOR, major, makedev, minor

# mm(4) is in every GENERIC kernel, at amd64's "mem" major.
MAJORS = {"mem": (-1, 2), "testdev": (163, 163), "ttyish": (-1, 170)}


@pytest.fixture
def k():
    with kern.boot(seed=1, config=GENERIC.derive("TESTDEVSW", majors=dict(MAJORS))) as m:
        yield m


def test_dev_t_round_trip():
    for maj in (0, 1, 163, 511, 4095):
        for mnr in (0, 1, 255, 256, 0x12345, 0xFFFFF):
            dev = makedev(maj, mnr)
            assert (major(dev), minor(dev)) == (maj, mnr)
    assert makedev(163, 3) == 0xA303
    assert makedev(1, 0x100) == 0x00100100   # high minor bits above the major
    assert NODEV == -1 and NODEVMAJOR == -1
    assert major(NODEV) == 0xFFF


async def opened(dev, flag, devtype, l):
    return 0


async def strategy(bp):
    bp.b_resid = 0


def psize(dev):
    return 1234


def make_switches():
    b = bdevsw(d_open=opened, d_close=nullclose, d_strategy=strategy, d_ioctl=noioctl,
               d_dump=nodump, d_psize=psize, d_discard=nodiscard, d_flag=D_DISK | D_MPSAFE)
    c = cdevsw(d_open=nullopen, d_close=nullclose, d_read=noread, d_write="write_fn",
               d_ioctl=noioctl, d_poll=nopoll, d_mmap=nommap, d_kqfilter=nokqfilter,
               d_discard=nodiscard, d_flag=D_DISK | D_MPSAFE)
    return b, c


async def write_fn(dev, uio, flag):
    return EIO


def test_fixed_majors_from_config(k):
    async def body():
        b, c = make_switches()
        assert devsw_attach("testdev", b, -1, c, -1) == (0, 163, 163)
        assert bdevsw_lookup(makedev(163, 5)) is b and cdevsw_lookup(makedev(163, 0)) is c
        assert (bdevsw_lookup_major(b), cdevsw_lookup_major(c)) == (163, 163)
        assert bdevsw_lookup_major(None) == cdevsw_lookup_major(None) == NODEVMAJOR
        buf = bytearray(16)
        assert devsw_name2blk("testdev3", buf, len(buf)) == 163
        assert bytes(buf).split(b"\0")[0] == b"testdev"
        assert devsw_name2chr("testdev") == 163
        assert devsw_name2blk("testdevx") == NODEVMAJOR
        assert devsw_blk2name(163) == "testdev" and bdevsw_getname(163) == "testdev"
        assert devsw_chr2blk(makedev(163, 7)) == makedev(163, 7)
        assert devsw_blk2chr(makedev(163, 7)) == makedev(163, 7)
        # Given majors must agree with the table.
        assert devsw_attach("testdev", b, 10, c, -1)[0] == EINVAL
        # Attached already: the slots are taken.
        assert devsw_attach("testdev", b, -1, c, -1) == (EEXIST, 163, 163)
        assert devsw_detach(b, c) == 0
        assert bdevsw_lookup(makedev(163, 0)) is None
        assert devsw_name2blk("testdev") == NODEVMAJOR and devsw_blk2name(163) is None
        assert cdevsw_getname(163) == bdevsw_getname(163) == "testdev"  # the table keeps it
        # Re-attach: same majors.
        assert devsw_attach("testdev", b, -1, c, -1) == (0, 163, 163)
        # A character-only entry: no block switch allowed, no block major.
        tb, tc = make_switches()
        assert devsw_attach("ttyish", tb, -1, tc, -1)[0] == EINVAL
        assert devsw_attach("ttyish", None, -1, tc, -1) == (0, -1, 170)

    k.run(body)


def test_dynamic_majors_and_errors(k):
    async def body():
        b1, c1 = make_switches()
        b2, c2 = make_switches()
        assert devsw_attach(None, b1, -1, c1, -1)[0] == EINVAL
        assert devsw_attach("d1", b1, -1, None, -1)[0] == EINVAL
        assert devsw_attach("d1", b1, "x", c1, -1)[0] == EINVAL
        error, bmaj, cmaj = devsw_attach("d1", b1, -1, c1, -1)
        assert error == 0 and bmaj not in (163,) and cmaj not in (163, 170)
        error, bmaj2, cmaj2 = devsw_attach("d2", b2, -1, c2, -1)
        assert error == 0 and (bmaj2, cmaj2) != (bmaj, cmaj)
        devsw_detach(b1, c1)
        # Free again, but d1's majors stay reserved for d1.
        b3, c3 = make_switches()
        error, bmaj3, cmaj3 = devsw_attach("d3", b3, -1, c3, -1)
        assert error == 0 and bmaj3 not in (bmaj, bmaj2) and cmaj3 not in (cmaj, cmaj2)
        assert devsw_attach("d1", b1, -1, c1, -1) == (0, bmaj, cmaj)
        # A fixed major that is taken.
        b4, c4 = make_switches()
        assert devsw_attach("d4", b4, bmaj, c4, -1)[0] == EEXIST
        # Majors beyond the table.
        assert devsw_attach("d5", None, -1, c4, MAXDEVSW)[0] == ENOMEM

    k.run(body)


def test_character_majors_exhausted(k):
    async def body():
        _, c = make_switches()
        n = 0
        while True:
            error, _, cmaj = devsw_attach(f"x{n}", None, -1, c, -1)
            if error:
                return error, n
            n += 1

    # 512 majors, those of the majors table reserved.
    assert k.run(body) == (ENOMEM, MAXDEVSW - len(MAJORS))
    assert "cdevsw_attach: character majors exhausted" in k.dmesg()


def test_wrappers_without_a_driver(k, monkeypatch):
    done = []
    monkeypatch.setattr(subr_devsw, "biodone_vfs", done.append)

    class buf:
        b_dev = makedev(300, 1)
        b_bcount = 4096
        b_resid = 0
        b_error = 0

    async def body():
        dev = makedev(300, 1)
        l = kern.curlwp()
        bp = buf()
        await bdev_strategy(bp)
        assert (bp.b_error, bp.b_resid) == (ENXIO, 4096) and done == [bp]
        return [await bdev_open(dev, 0, 0, l), await bdev_close(dev, 0, 0, l),
                await bdev_ioctl(dev, 0, None, 0, l), await bdev_dump(dev, 0, None, 0),
                await bdev_discard(dev, 0, 0), bdev_size(dev), bdev_type(dev),
                await cdev_open(dev, 0, 0, l), await cdev_close(dev, 0, 0, l),
                await cdev_read(dev, None, 0), await cdev_write(dev, None, 0),
                await cdev_ioctl(dev, 0, None, 0, l), cdev_poll(dev, POLLIN, l),
                cdev_mmap(dev, 0, 0), cdev_kqfilter(dev, None),
                await cdev_discard(dev, 0, 0), cdev_type(dev),
                await cdev_open(NODEV, 0, 0, l)]

    assert k.run(body) == [ENXIO, ENXIO, ENXIO, ENXIO, ENXIO, -1, D_OTHER,
                           ENXIO, ENXIO, ENXIO, ENXIO, ENXIO, POLLERR, -1, ENXIO, ENXIO,
                           D_OTHER, ENXIO]


def test_wrappers_reach_the_driver(k):
    async def body():
        b, c = make_switches()
        error, bmaj, cmaj = devsw_attach("testdev", b, -1, c, -1)
        assert error == 0
        bd, cd = makedev(bmaj, 2), makedev(cmaj, 2)
        l = kern.curlwp()

        class bp:
            b_dev = bd
            b_resid = 99

        await bdev_strategy(bp)
        return [await bdev_open(bd, 0, 0, l), bdev_size(bd), bdev_type(bd), bp.b_resid,
                await bdev_ioctl(bd, 0, None, 0, l), await bdev_dump(bd, 0, None, 0),
                await cdev_open(cd, 0, 0, l), await cdev_read(cd, None, 0),
                await cdev_write(cd, None, 0), cdev_poll(cd, POLLIN | POLLPRI, l),
                cdev_mmap(cd, 0, 0), cdev_kqfilter(cd, None), cdev_type(cd)]

    assert k.run(body) == [0, 1234, D_DISK, 0, ENODEV, ENODEV, 0, ENODEV, EIO, POLLIN, -1,
                           0, D_DISK]


def test_stubs_and_unresolved_names(k):
    async def body():
        assert await noopen(0, 0, 0, None) == ENODEV
        c = cdevsw(d_open="no_such_function", d_flag=D_TTY)
        _, _, cmaj = devsw_attach("broken", None, -1, c, -1)
        await cdev_open(makedev(cmaj, 0), 0, 0, kern.curlwp())

    with pytest.raises(kern.KernelPanic, match="names no_such_function"):
        k.run(body)


def test_devsw_attach_fault_site(k):
    async def body():
        b, c = make_switches()
        with k.faults.inject("devsw_attach", error=ENOMEM):
            assert devsw_attach("testdev", b, -1, c, -1)[0] == ENOMEM
        return devsw_attach("testdev", b, -1, c, -1)

    assert k.run(body) == (0, 163, 163)


def test_bad_majors_table_panics_at_boot():
    bad = GENERIC.derive("BAD", majors={"a": (5, 5), "b": (5, 6)})
    with pytest.raises(kern.KernelPanic, match="share a major"):
        with kern.boot(seed=1, config=bad):
            pass


def test_getname_by_kind_of_major():
    # Block major 170 of "blkish" is character major 170 of "ttyish".
    majors = {"ttyish": (-1, 170), "blkish": (170, 171)}
    with kern.boot(seed=1, config=GENERIC.derive("TESTGETNAME", majors=majors)) as k:
        async def body():
            return [cdevsw_getname(170), bdevsw_getname(170), cdevsw_getname(171),
                    bdevsw_getname(171), cdevsw_getname(-1), bdevsw_getname(None)]

        assert k.run(body) == ["ttyish", "blkish", "blkish", None, None, None]
