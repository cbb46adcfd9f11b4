"""Defects of fss.c 1.104, kept on purpose and shown here (fss-spec §6.2).

Each test names the revision that changed the behaviour.  B8 (fss_open leaks
the cfdata), B10 (FSSIOCCLR on an idle unit is ENXIO, EBUSY from 1.105) and
B12 (FSSIOFSET needs no FWRITE) are pinned in test_errno.py.
"""

from __future__ import annotations

import ctypes

import pytest
import trio
import trio.testing

import kern
from dev.fss.fssvar import FSSIOCCLR, FSSIOFGET
from kern.errno import EBUSY, ENOMEM, EOPNOTSUPP
from kern.fcntl import O_RDONLY, O_RDWR
from kern.kern_module import MODULE_CLASS_ANY, module_load, module_stat, module_unload
from kern.machine import testing as kt
from kern.machine.testing import errno_of
from kern.subr_devsw import bdev_strategy
from kern.types_dev import makedev
from tools.lib import libc
from vfs.buf import B_READ
from vfs.mount import mountlist
from vfs.vfs_bio import getiobuf

PAGE = 4096


def test_B1_ioctls_block_for_a_whole_create(origin):
    """B1 (fixed in 1.105): FSSIOCSET holds sc_lock across fss_create_snapshot, so
    an FSSIOCGET on the same unit waits for the whole create, here stalled in
    vfs_suspend behind a writer's transaction.  FSSIOFGET (sc_slock) does not."""
    from vfs.vfs_trans import fstrans_done, fstrans_start

    times: dict = {}

    async def main():
        async with kern.boot(seed=1) as k:
            await k.run(kt.mount_image, origin, "/mnt")
            fd = await k.run(libc.open, "/dev/rfss0", O_RDWR)

            async def holder():
                mp = [m for m in mountlist() if m.mnt_stat.f_mntonname == b"/mnt"][0]
                await fstrans_start(mp)  # a writer in the middle of its transaction
                await kern.kpause("busy", False, 100, None)  # for one virtual second
                fstrans_done(mp)
                times["released"] = kern.curmachine().now()

            async def creator():
                await kern.kpause("after", False, 1, None)
                await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
                times["created"] = kern.curmachine().now()

            async def getter():
                await kern.kpause("later", False, 2, None)
                await kt.fss_get_ioctl(fd)
                times["got"] = kern.curmachine().now()

            async def fgetter():
                await kern.kpause("later", False, 2, None)
                await libc.ioctl(fd, FSSIOFGET, ctypes.c_int(0))
                times["fgot"] = kern.curmachine().now()

            async with trio.open_nursery() as n:
                for afn in (holder, creator, getter, fgetter):
                    n.start_soon(k.run, afn)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert times["released"] == pytest.approx(1.0)
    assert times["created"] >= times["released"]
    assert times["got"] >= times["created"]  # FSSIOCGET waited for the create (sc_lock)
    assert times["fgot"] == pytest.approx(0.02)  # FSSIOFGET did not


def test_B5_failed_persistent_attempt_leaves_fss_persistent(origin):
    """B5 (still in 1.114): after a failed persistent FSSIOCSET on the same open
    unit, a non-persistent request "succeeds" as a persistent snapshot: csize 0,
    reads return the backing store file, and the delete vrele's the store
    instead of closing it, so its write count leaks."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/inside", b"")
        await kt.write_file("/tmp/store", b"STORE-CONTENTS" * 100)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        first = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/mnt/inside", create_store=False))
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", create_store=False)
        g = await kt.fss_get_ioctl(fd)
        data = await libc.pread(fd, 14, 0)
        from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
        from vfs.vnode import vrele

        await libc.ioctl(fd, FSSIOCCLR, None)
        _, vp = await namei_simple_kernel("/tmp/store", NSM_FOLLOW_NOEMULROOT)
        leaked = vp.v_writecount
        await vrele(vp)
        return first, g.fsg_csize, g.fsg_mount_size, data, leaked

    with kern.boot(seed=1) as k:
        first, csize, msize, data, leaked = k.run(body)
    assert first == EOPNOTSUPP
    assert (csize, msize) == (0, 0)  # reported as "file system internal"
    assert data == b"STORE-CONTENTS"  # the backing store's own bytes
    assert leaked == 1  # vn_open's write count never given back


def test_B6_module_fini_error_path(origin):
    """B6 (fixed later): when config_cfdriver_detach fails in FINI, 1.104 calls
    devsw_attach twice and does not re-attach the cfattach: the module stays
    loaded, but new units can no longer attach (fss_open gives ENOMEM)."""
    async def body():
        assert await module_load("fss", 0, None, MODULE_CLASS_ANY) == 0
        m = kern.curmachine()
        calls_before = m.faults.calls.get("devsw_attach", 0)
        with m.faults.inject("config_cfdriver_detach", error=EBUSY) as f:
            error = await module_unload("fss")
        devsw_attach_calls = m.faults.calls.get("devsw_attach", 0) - calls_before
        still = "fss" in {s.name for s in module_stat()}
        attached = await errno_of(libc.open("/dev/rfss1", O_RDWR))
        return error, f.nfaults, devsw_attach_calls, still, attached

    with kern.boot(seed=1) as k:
        error, nfaults, devsw_attach_calls, still, attached = k.run(body)
    assert nfaults == 1
    assert error == EBUSY
    assert devsw_attach_calls == 2  # the second one finds the slots taken (EEXIST)
    assert still  # a FINI error keeps the module loaded
    # the devsw is back (the open reaches fss_open), but the cfattach is not:
    # config_attach_pseudo fails
    assert attached == ENOMEM


def test_B11_strategy_for_a_minor_without_a_unit_panics():
    """B11 (fixed later by NULL-softc checks): fss_strategy uses the softc of
    the buf's minor unchecked; 1.104 would fault on a buf for a unit nobody
    opened.  The port panics there with a message instead of a Python error."""
    async def body():
        await libc.open("/dev/rfss0", O_RDONLY)  # loads fss; unit 2 does not exist
        bp = getiobuf(None, True)
        bp.b_flags = B_READ
        bp.b_dev = makedev(163, 2)
        bp.b_bcount = bp.b_resid = 512
        bp.b_data = bytearray(512)
        await bdev_strategy(bp)

    with pytest.raises(kern.KernelPanic, match="fss_strategy: no fss unit 2"):
        with kern.boot(seed=1) as k:
            k.run(body)


def test_B13_backing_store_error_with_a_writer_in_the_handler_deadlocks(origin):
    """Found by kemu's deadlock report; fixed in fss.c 1.105, which drops sc_slock
    around fscow_disestablish in fss_error.  In 1.104 the bs thread calls
    fss_error -> fscow_disestablish with sc_slock held; fscow_disestablish waits
    until no thread is inside a copy-on-write handler; a writer inside
    fss_copy_on_write waits for sc_slock.  Some schedules of a multi-page write
    hit it; the report names both lwps."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"o" * (16 * PAGE))
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        with kern.curmachine().faults.inject("VOP_WRITE", lwp="fss0"):
            w = await libc.open("/mnt/f", O_RDWR)
            await libc.write(w, b"n" * (8 * PAGE))
            await libc.fsync(w)
            for _ in range(5):
                await kern.kpause("let", False, 1, None)
        return await kt.read_file("/mnt/f")

    reports = []
    for seed in range(1, 21):
        try:
            with kern.boot(seed=seed) as k:
                k.run(body, name="writer")
        except kern.Deadlock as e:
            reports.append(str(e))
            break
    assert reports, "no schedule deadlocked"
    r = reports[0]
    assert 'lwp "fss0"' in r and "holds sc.sc_slock" in r and "cow_change_enter" in r
    assert 'lwp "writer"' in r and 'waiting for mutex "sc.sc_slock" held by "fss0"' in r
