"""Defects of fss.c 1.104, kept on purpose and shown here (fss-spec §6.2,
and the ones found since: B13 by kemu's deadlock report, B14 by fuzzing, B15
and B16 by the seeded fault campaign, B17 by pct).  dev/fss/fss.py's header lists
them all.

Each test names the revision that changed the behaviour, or says that the
newest revision read (1.114, 2023-03-22) still has it.  B8 (fss_open leaks
the cfdata), B10 (FSSIOCCLR on an idle unit is ENXIO, EBUSY from 1.105) and
B12 (FSSIOFSET needs no FWRITE) are pinned in test_errno.py; B7 (the
fss_device_lock / vfs_hooks_lock order) in test_defect_b7.py.
"""

from __future__ import annotations

import ctypes

import pytest
import trio
import trio.testing

import kern
from dev.fss.fssvar import FSS_UNLINK_ON_CREATE, FSSIOCCLR, FSSIOCGET, FSSIOFGET, fss_get
from kern.errno import EAGAIN, EBUSY, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP
from kern.fcntl import FREAD, O_RDONLY, O_RDWR
from kern.ioccom import _IO
from kern.kern_module import MODULE_CLASS_ANY, module_load, module_stat, module_unload
from kern.machine import testing as kt
from kern.machine.lockset import peek
from kern.machine.testing import errno_of
from kern.subr_devsw import bdev_strategy, cdev_ioctl
from kern.types_dev import makedev
from tools.lib import libc
from vfs.buf import B_READ
from vfs.mount import mountlist
from vfs.stat import S_ISCHR
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


def test_B2_creations_on_different_units_are_not_serialized(origin, tmp_path):
    """B2 (fixed in 1.105, which lets one FSSIOCSET at a time into
    fss_create_snapshot): while unit 0's create waits in vfs_suspend for a
    writer on /mnt, unit 1's create of another file system runs alongside:
    it opens its store and forks its thread, then waits for the system-wide
    vfs_suspend_lock that unit 0 holds.  Only that lock orders the two."""
    from vfs.vfs_trans import fstrans_done, fstrans_start

    other = kt.make_ext2_image(str(tmp_path / "other.img"), 4 * kt.MiB)
    seen: dict = {}

    async def main():
        async with kern.boot(seed=1) as k:
            async def setup():
                await kt.mount_image(origin, "/mnt")
                await kt.attach_disk(other, "/dev/wd1")
                await kt.mount_ext2("/dev/wd1", "/other")
                return (await libc.open("/dev/rfss0", O_RDWR),
                        await libc.open("/dev/rfss1", O_RDWR))

            fd0, fd1 = await k.run(setup)
            m = k

            async def holder():
                mp = [x for x in mountlist() if x.mnt_stat.f_mntonname == b"/mnt"][0]
                await fstrans_start(mp)  # a writer in the middle of its transaction
                await kern.kpause("busy", False, 100, None)
                fstrans_done(mp)
                seen["released"] = m.now()

            async def create(fd, mount, store, key, ticks):
                await kern.kpause("after", False, ticks, None)
                await kt.fss_set_ioctl(fd, mount, store)
                seen[key] = m.now()

            async def monitor():
                await kern.kpause("look", False, 50, None)  # half-way through the stall
                seen["threads"] = sorted(x.l_name for x in m.lwps if x.l_name.startswith("fss"))
                seen["done at half-way"] = sorted(x for x in ("A", "B") if x in seen)

            async with trio.open_nursery() as n:
                n.start_soon(k.run, holder)
                n.start_soon(k.run, create, fd0, "/mnt", "/tmp/s0", "A", 1)
                n.start_soon(k.run, create, fd1, "/other", "/tmp/s1", "B", 2)
                n.start_soon(k.run, monitor)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # half-way, both creates are inside fss_create_snapshot: both threads exist
    assert seen["threads"] == ["fss0", "fss1"]
    assert seen["done at half-way"] == []
    # and both finish once the writer is done, unit 1 right after unit 0
    assert seen["released"] <= seen["A"] <= seen["B"]


def test_B4_thread_creation_failure_after_B5_leaves_an_active_unit_without_thread(origin):
    """B4 (still in 1.114): fss_create_snapshot's persistent branch ignores
    fss_softc_alloc's error.  After B5 has left FSS_PERSISTENT set, a
    kthread_create failure gives an active snapshot (FSSIOCSET answers 0,
    FSSIOCGET reports it) that has no thread to serve it: the first read
    waits forever, which kemu reports as a deadlock."""
    out: dict = {}

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/inside", b"")
        await kt.write_file("/tmp/store", b"S" * 4096)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        out["persistent try"] = await errno_of(
            kt.fss_set_ioctl(fd, "/mnt", "/mnt/inside", create_store=False))
        m = kern.curmachine()
        with m.faults.inject("kthread_create", error=EAGAIN, fail_nth=1) as f:
            out["set"] = await errno_of(
                kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", create_store=False))
        out["fired"] = f.nfaults
        g = await kt.fss_get_ioctl(fd)
        out["get"] = (g.fsg_mount, g.fsg_csize)
        out["threads"] = [x.l_name for x in m.lwps if x.l_name.startswith("fss")]
        await libc.pread(fd, 512, 0)  # nobody will ever serve this
        out["read returned"] = True

    with pytest.raises(kern.Deadlock) as exc:
        with kern.boot(seed=1) as k:
            k.run(body, name="reader")
    assert out["persistent try"] == EOPNOTSUPP  # B5: FSS_PERSISTENT stays set
    assert out["fired"] == 1
    assert out["set"] == 0  # the failure is not reported
    assert out["get"] == (b"/mnt", 0)  # an active, "file system internal" snapshot
    assert out["threads"] == []  # with no thread
    assert "read returned" not in out
    assert 'lwp "reader"' in str(exc.value) and 'sleeping on "physio2"' in str(exc.value)


def test_B14_own_device_as_store_after_B5_waits_for_itself(origin):
    """B14 (found by fuzzing; still in 1.114, which keeps B5): after B5, a
    store that is the unit's own /dev/rfss0 is accepted (the persistent branch
    checks nothing), and the first read makes the unit's thread read its own
    device: it queues the request for itself and waits for it."""
    out: dict = {}

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/inside", b"")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        out["persistent try"] = await errno_of(
            kt.fss_set_ioctl(fd, "/mnt", "/mnt/inside", create_store=False))
        out["set"] = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/dev/rfss0", create_store=False))
        await libc.pread(fd, 512, 0)
        out["read returned"] = True

    with pytest.raises(kern.Deadlock) as exc:
        with kern.boot(seed=1) as k:
            k.run(body, name="reader")
    report = str(exc.value)
    assert out == {"persistent try": EOPNOTSUPP, "set": 0}
    # the reader waits for the thread, and the thread for its own request
    assert 'lwp "reader"' in report and 'lwp "fss0"' in report
    fss0 = [line for line in report.splitlines() if 'lwp "fss0"' in line][0]
    assert 'sleeping on "physio2"' in fss0


def test_B5_failed_persistent_attempt_leaves_fss_persistent(origin):
    """B5 (still in 1.114): after a failed persistent FSSIOCSET on the same open
    unit, a non-persistent request "succeeds" as a persistent snapshot: csize 0,
    reads return the backing store file, and the delete vrele's the store
    instead of closing it.  That drops the store's last reference with
    vn_open's write count still on it, which NetBSD 8's vrelel does not
    survive: panic "vrelel: bad ref count"."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/inside", b"")
        await kt.write_file("/tmp/store", b"STORE-CONTENTS" * 100)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        first = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/mnt/inside", create_store=False))
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", create_store=False)
        g = await kt.fss_get_ioctl(fd)
        data = await libc.pread(fd, 14, 0)
        return fd, first, g.fsg_csize, g.fsg_mount_size, data

    with kern.boot(seed=1) as k:
        fd, first, csize, msize, data = k.run(body)
        with pytest.raises(kern.KernelPanic, match="vrelel: bad ref count") as ei:
            k.run(libc.ioctl, fd, FSSIOCCLR, None, name="clr")
    assert first == EOPNOTSUPP
    assert (csize, msize) == (0, 0)  # reported as "file system internal"
    assert data == b"STORE-CONTENTS"  # the backing store's own bytes
    assert "fss_delete_snapshot" in "\n".join(ei.value.crash.lwp("clr").stack)


def test_B6_module_fini_error_path(origin):
    """B6 (fixed by 1.114 at the latest; the revisions between 1.105 and 1.114
    could not be read to name the one): when config_cfdriver_detach fails in
    FINI, 1.104 calls devsw_attach twice and does not re-attach the cfattach:
    the module stays loaded, but new units can no longer attach (fss_open
    gives ENOMEM).  1.114's FINI re-attaches the cfattach on that failure."""
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


def test_B9_unlink_on_create_removes_a_device_store(origin, tmp_path):
    """B9 (still in 1.114): fss_create_files honours FSS_UNLINK_ON_CREATE for
    any store, so a character device given with the flag loses its node
    (fssconfig sets the flag only for regular files).  The snapshot works."""
    from dev.rumpblk import RUMP_ETFS_CHR, rump_etfs_register

    store = tmp_path / "store.img"
    store.write_bytes(b"")

    async def body():
        await kt.mount_image(origin, "/mnt")
        assert await rump_etfs_register("/dev/rstore", str(store), RUMP_ETFS_CHR,
                                        size=8 * kt.MiB) == 0
        before = (await libc.stat("/dev/rstore")).st_mode
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/dev/rstore", flags=FSS_UNLINK_ON_CREATE,
                       create_store=False)
        gone = await errno_of(libc.stat("/dev/rstore"))
        snap = await libc.pread(fd, 4096, 1024)  # the superblock
        with open(origin, "rb") as f:
            f.seek(1024)
            disk = f.read(4096)
        return before, gone, snap == disk

    with kern.boot(seed=1) as k:
        mode, gone, same = k.run(body)
    assert S_ISCHR(mode)
    assert gone == ENOENT
    assert same


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


def test_B11_ioctl_for_a_minor_without_a_unit():
    """B11 again, in fss_ioctl: 1.104 looks the softc up but touches it only
    inside the cases, so an unknown command for a minor with no unit is
    EINVAL, while a known one dereferences the NULL softc (the port panics
    there).  Later revisions return ENXIO first (1.114: ``if (sc == NULL)``)."""
    async def unknown():
        await libc.open("/dev/rfss0", O_RDONLY)  # loads fss; unit 2 does not exist
        return await cdev_ioctl(makedev(163, 2), _IO("F", 9), None, FREAD, kern.curlwp())

    with kern.boot(seed=1) as k:
        assert k.run(unknown) == EINVAL

    async def known():
        await libc.open("/dev/rfss0", O_RDONLY)
        await cdev_ioctl(makedev(163, 2), FSSIOCGET, fss_get(), FREAD, kern.curlwp())

    with pytest.raises(kern.KernelPanic, match="fss_ioctl: no fss unit 2"):
        with kern.boot(seed=1) as k:
            k.run(known)


@pytest.mark.parametrize("seed", kt.sweep(3, 1))
def test_B13_backing_store_error_with_a_writer_in_the_handler_deadlocks(origin, seed):
    """Found by kemu's deadlock report; fixed in fss.c 1.105, which drops sc_slock
    around fscow_disestablish in fss_error.  In 1.104 the bs thread calls
    fss_error -> fscow_disestablish with sc_slock held; fscow_disestablish waits
    until no thread is inside a copy-on-write handler; a writer inside
    fss_copy_on_write waits for sc_slock.  The lwps are put in that order
    with gates, whatever the schedule: the writer's second copy-on-write call
    waits at the handler's entry (inside fscow_run, so it counts) until fss0,
    holding sc_slock after a failed write to the store, has entered
    fss_error; the report names both lwps."""
    from kern.kern_module import kmod_namespace

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"o" * (16 * PAGE))
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)  # loads fss
        ns = kmod_namespace("fss")  # this machine's fss.c
        real_cow, real_error = ns.fss_copy_on_write, ns.fss_error
        in_handler, go = kt.Gate("inhandler"), kt.Gate("go")
        calls = []

        async def fss_copy_on_write(v, bp, data_valid):
            if kern.curlwp().l_name == "writer":
                calls.append(bp.b_blkno)
                if len(calls) == 2:
                    in_handler.open()
                    await go.wait()
            return await real_cow(v, bp, data_valid)

        async def fss_error(sc, msg):
            if kern.curlwp().l_name == "fss0" and not go.is_open:
                await in_handler.wait()  # (holding sc_slock, as fss_error's callers do)
                go.open()
            await real_error(sc, msg)

        # established and disestablished under this name, like the C's
        ns.fss_copy_on_write, ns.fss_error = fss_copy_on_write, fss_error
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        with kern.curmachine().faults.inject("VOP_WRITE", lwp="fss0"):
            w = await libc.open("/mnt/f", O_RDWR)
            for i in range(8):
                await libc.pwrite(w, b"n" * PAGE, 2 * i * PAGE)
                await libc.fsync(w)

    with kern.boot(seed=seed) as k:
        with pytest.raises(kern.Deadlock) as ei:
            k.run(body, name="writer")
    r = str(ei.value)
    assert 'lwp "fss0"' in r and "holds sc.sc_slock" in r and "cow_change_enter" in r
    assert 'lwp "writer"' in r and 'waiting for mutex "sc.sc_slock" held by "fss0"' in r
    fss0 = ei.value.crash.lwp("fss0")
    assert any("fscow_disestablish" in f for f in fss0.stack)


def test_B15_short_read_of_the_origin_is_a_short_snapshot_read_without_error(origin):
    """B15 (found by the seeded fault campaign; still in 1.114): when the
    origin device answers fss_bs_thread's read short but without error, the
    thread sets error = EIO and then gives the request the nested buffer's
    b_error, 0: the snapshot read comes back with nothing read and no error,
    which read(2) shows as end of file in the middle of the device."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        wd0 = (await libc.stat("/dev/wd0")).st_rdev
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        m = kern.curmachine()
        with m.faults.inject("disk.short", dev=wd0, lwp="fss0", extra={"done": 1024}) as f:
            short = await errno_of(libc.pread(fd, 4096, 8192))
            data = await libc.pread(fd, 4096, 8192)
        whole = await libc.pread(fd, 4096, 8192)
        with open(origin, "rb") as img:
            img.seek(8192)
            disk = img.read(4096)
        return f.nfaults, short, data, whole == disk

    with kern.boot(seed=1) as k:
        nfaults, error, data, whole = k.run(body)
        dmesg = k.dmesg()
    assert nfaults == 2
    assert error == 0  # no error ...
    assert data == b""  # ... and nothing read: an "end of file" 8 kt.KiB into a 4 kt.MiB device
    assert whole  # the snapshot is still valid: the next read is whole
    assert "snapshot invalid" not in dmesg


def test_B16_failed_read_of_an_indirect_cluster_reads_as_a_hole(origin, tmp_path):
    """B16 (found by the seeded fault campaign; still in 1.114): fss_bs_indir
    switches sc_indir_cur before reading the indirect cluster back from the
    store; when that read fails it returns NULL, and fss_bs_thread takes NULL
    for a hole: the snapshot read returns zeros with no error.  The table in
    memory is then the previous one under the new number, so the next read
    of that cluster is served from the stale table: other data, again
    without error (silent corruption of the snapshot).

    With a character-device store (512-byte blocks) and 512-byte clusters,
    one indirect cluster maps 128 clusters (64 kt.KiB of the device), so the
    copies of a file's blocks and of its inode live under different ones."""
    from dev.rumpblk import RUMP_ETFS_CHR, rump_etfs_register
    from kern.kern_module import kmod_namespace
    from kern.native import isset
    from kern.subr_autoconf import device_lookup_private

    storeimg = tmp_path / "store.img"
    storeimg.write_bytes(b"")
    per_indir = 512 // 4

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"o" * (16 * PAGE))
        await libc.sync()
        assert await rump_etfs_register("/dev/rstore", str(storeimg), RUMP_ETFS_CHR,
                                        size=8 * kt.MiB) == 0
        rstore = (await libc.stat("/dev/rstore")).st_rdev
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/dev/rstore", csize=512, create_store=False)
        with open(origin, "rb") as img:
            frozen = img.read()
        c = frozen.find(b"o" * 512) // 512  # a cluster of /mnt/f's old data
        w = await libc.open("/mnt/f", O_RDWR)
        await libc.write(w, b"n" * (16 * PAGE))
        await libc.fsync(w)
        await libc.close(w)
        await kern.kpause("bs", False, 5, None)  # the thread stores the copies
        sc = device_lookup_private(kmod_namespace("fss").fss_cd, 0)
        copied = [x for x in range(sc.sc_clcount) if isset(sc.sc_copied, x)]
        # read a saved cluster under another indirect cluster first: the one
        # for c is written back and another is current
        other = next(x for x in copied if x // per_indir != c // per_indir)
        assert await libc.pread(fd, 512, other * 512) == frozen[other * 512:][:512]
        before = peek(sc, "sc_indir_cur")  # (the bs thread's own: an observer's look)
        m = kern.curmachine()
        with m.faults.inject("disk.read", dev=rstore, lwp="fss0", fail_nth=1) as f:
            data = await libc.pread(fd, 512, c * 512)  # raises on an error
        after = peek(sc, "sc_indir_cur")
        again = await libc.pread(fd, 512, c * 512)
        return (isset(sc.sc_copied, c), before != c // per_indir, f.nfaults, data,
                after == c // per_indir, again, frozen[c * 512:][:512])

    with kern.boot(seed=1) as k:
        copied, elsewhere, nfaults, data, switched, again, old = k.run(body)
        dmesg = k.dmesg()
    assert copied and elsewhere and old == b"o" * 512
    assert nfaults == 1  # the read of the indirect cluster failed ...
    assert data == bytes(512)  # ... and the snapshot read gave a "hole", without error
    assert switched  # sc_indir_cur names the cluster that failed to load
    # and the next read of it succeeds with the wrong data
    assert len(again) == 512 and again != old
    assert "snapshot invalid" not in dmesg


def test_B17_a_read_queued_when_the_snapshot_is_cleared_is_never_answered(origin):
    """B17 (found by pct in tests/dev/fss/scenarios.py's stress scenario, whose
    clearer ran while a reader still read; no later fss.c revision checked):
    FSSIOCCLR's fss_softc_free clears FSS_BS_THREAD and joins the bs thread,
    which checks the flag at the top of its loop and exits without looking at
    sc_bufq.  A read queued behind the one it is serving stays queued: its
    reader sleeps in physio for ever (the queue is drained only by
    fss_detach, at the last close, which that reader's open descriptor
    prevents).  kemu reports the hang as a deadlock naming the reader.

    The origin's reads are made slow (10 ticks) for the bs thread, so that
    the second read is queued (at tick 3) while the first is served, and the
    clear comes at tick 5."""
    seen: dict = {}

    async def setup():
        await kt.mount_image(origin, "/mnt")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        return fd, (await libc.stat("/dev/wd0")).st_rdev

    async def first(fd):
        seen["first"] = len(await libc.pread(fd, 4096, 0))

    async def queued(fd):
        await kern.kpause("later", False, 3, None)
        seen["queued"] = await errno_of(libc.pread(fd, 4096, 65536))

    async def clear(fd):
        await kern.kpause("later", False, 5, None)
        seen["clear"] = await errno_of(libc.ioctl(fd, FSSIOCCLR, None))

    async def main():
        async with kern.boot(seed=1) as k:
            fd, wd0 = await k.run(setup)
            with k.faults.inject("disk.slow", dev=wd0, lwp="fss0", extra={"ticks": 10}):
                try:
                    async with trio.open_nursery() as n:
                        n.start_soon(lambda: k.run(first, fd, name="first"))
                        n.start_soon(lambda: k.run(queued, fd, name="queued"))
                        n.start_soon(lambda: k.run(clear, fd, name="clearer"))
                except* kern.Deadlock as eg:
                    seen["report"] = str(eg.exceptions[0])

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["first"] == 4096  # served before the thread left
    assert seen["clear"] == 0  # the clear itself completes
    assert "queued" not in seen  # the queued read never returns
    r = seen["report"]
    assert 'lwp "queued"' in r and 'sleeping on "physio2"' in r, r
    # nothing else is stuck: the first reader and the clearer are done, the bs
    # thread has exited
    assert 'lwp "first"' not in r and 'lwp "clearer"' not in r and 'lwp "fss0"' not in r
