"""Each kind of fault site leaves exactly the state its real error path leaves.

The VOP sites are in tests/vfs/test_vop_faults.py (one case per protocol of
vnode_if's table); the registration sites in tests/kern/test_autoconf.py
(test_fault_sites: the driver and attachment tables unchanged,
config_attach_pseudo allocates no unit, pmf_device_register records no
handlers) and tests/kern/test_devsw.py (test_devsw_attach_fault_site);
fd_allocfile in tests/kern/test_descrip.py.  Here: allocation, thread
creation, user copies, the disk sites, suspension, copy-on-write
registration and VFS_SYNC.
"""

from __future__ import annotations

import kern
from dev.md import md_create, md_lookup, mdstrategy
from kern import EAGAIN, EFAULT, EIO, KM_NOSLEEP, PRI_BIO, kmem_alloc, kthread_create
from kern.subr_copy import copyin, copyinstr, copyout
from kern.subr_kmem import kmem_stats
from tools.lib.libc import uget, ustr
from vfs.buf import B_READ, BO_DONE
from vfs.vfs_bio import biowait, getiobuf, putiobuf


def test_kmem_alloc_nosleep_fails_with_nothing_allocated():
    with kern.boot(seed=1) as k:
        async def body():
            before = dict(kmem_stats())
            with k.faults.inject("kmem_alloc"):
                p = kmem_alloc(64, KM_NOSLEEP)
            after = dict(kmem_stats())
            return p, before["inuse"], after["inuse"], before["allocs"], after["allocs"]

        p, inuse0, inuse1, allocs0, allocs1 = k.run(body)
    assert p is None and inuse0 == inuse1 and allocs0 == allocs1


def test_kthread_create_fails_with_no_thread():
    with kern.boot(seed=1) as k:
        async def body():
            async def never(_):
                raise AssertionError("should not run")

            n = len(k.lwps)
            with k.faults.inject("kthread_create", error=EAGAIN):
                r = kthread_create(PRI_BIO, 0, None, never, None, "x")
            return r, n, len(k.lwps)

        r, n0, n1 = k.run(body)
    assert r == (EAGAIN, None) and n0 == n1


def test_user_copies_fail_moving_nothing():
    with kern.boot(seed=1) as k:
        async def body():
            a = ustr("user")
            kbuf = bytearray(b"kernel")
            with k.faults.inject("copyin", error=EFAULT):
                e1 = copyin(a, kbuf, 4)
            with k.faults.inject("copyout", error=EFAULT):
                e2 = copyout(b"XXXX", a, 4)
            sbuf = bytearray(b"........")
            with k.faults.inject("copyinstr", error=EFAULT):
                e3 = copyinstr(a, sbuf, 8)
            return e1, bytes(kbuf), e2, uget(a, 4), e3, bytes(sbuf)

        e1, kbuf, e2, umem, e3, sbuf = k.run(body)
    assert (e1, kbuf) == (EFAULT, b"kernel")
    assert (e2, umem) == (EFAULT, b"user")
    assert e3 == (EFAULT, 0) and sbuf == b"........"


def _md_io(k, site, knobs, read):
    """One buf through md0 with ``site`` armed: its state after biowait."""
    async def body():
        error, dev = md_create(0, 64 * 1024)
        assert error == 0
        stats = md_lookup(dev).sc_dkdev.dk_stats
        bp = getiobuf(None, True)
        bp.b_dev = dev
        bp.b_flags = B_READ if read else 0
        bp.b_blkno = 8
        bp.b_bcount = bp.b_bufsize = 4096
        bp.b_data = bytearray(b"w" * 4096)
        t0 = k.now()
        with k.faults.inject(site, dev=dev, **knobs) as f:
            await mdstrategy(bp)
            err = await biowait(bp)
        out = (f.nfaults, err, bp.b_error, bp.b_resid, bool(bp.b_oflags & BO_DONE),
               stats.io_busy, k.now() - t0)
        putiobuf(bp)
        mem = bytes(md_lookup(dev).sc_addr[8 * 512:8 * 512 + 4096])
        return out, mem

    return k.run(body)


def test_disk_read_and_write_faults_complete_the_buf_with_the_error():
    for site, read in (("disk.read", True), ("disk.write", False)):
        with kern.boot(seed=1) as k:
            (n, err, berr, resid, done, busy, _), mem = _md_io(k, site, {"error": EIO}, read)
        assert (n, err, berr) == (1, EIO, EIO)
        assert resid == 4096 and done  # nothing moved, completed (biodone)
        assert busy == 0  # disk_unbusy as on any completion
        assert mem == bytes(4096)  # a failed write left the medium alone


def test_disk_short_completes_part_without_an_error():
    with kern.boot(seed=1) as k:
        (n, err, berr, resid, done, busy, _), mem = _md_io(
            k, "disk.short", {"extra": {"done": 1024}}, False)
    assert (n, err, berr, resid, done, busy) == (1, 0, 0, 3072, True, 0)
    assert mem == b"w" * 1024 + bytes(3072)


def test_disk_slow_only_delays():
    with kern.boot(seed=1) as k:
        (n, err, berr, resid, done, busy, dt), mem = _md_io(
            k, "disk.slow", {"extra": {"ticks": 5}}, False)
    assert (n, err, resid, done, busy) == (1, 0, 0, True, 0)
    assert dt >= 0.05 and mem == b"w" * 4096


def test_suspension_sites_leave_nothing_held(tmp_path):
    """vfs_suspend fails with the suspension lock released and the mount normal;
    fscow_establish adds no handler and allocates nothing; VFS_SYNC only fails."""
    from tests.fs.ext2fs.helpers import boot, mkfs, mount, mount_of, umount
    from vfs.mount import MNT_WAIT, VFS_SYNC
    from vfs.vfs_trans import (
        FSTRANS_NORMAL,
        fscow_establish,
        fstrans_getstate,
        vfs_resume,
        vfs_suspend,
    )

    img = mkfs(str(tmp_path / "s.img"), 4 * 1024 * 1024, 1024)

    async def handler(arg, bp, data_valid):
        return 0

    async def body():
        from kern.kern_mutex import mutex_owner
        from vfs.vfs_trans import _fstrans

        assert await mount(img) == 0
        mp = await mount_of("/mnt")
        m = kern.curmachine()
        with m.faults.inject("vfs_suspend", error=EIO):
            e1 = await vfs_suspend(mp, 0)
        lock_owner = mutex_owner(_fstrans().vfs_suspend_lock)
        state = fstrans_getstate(mp) == FSTRANS_NORMAL
        assert await vfs_suspend(mp, 0) == 0  # and it works next time
        await vfs_resume(mp)
        before = kmem_stats()["inuse"]
        with m.faults.inject("fscow_establish", error=EIO):
            e2 = await fscow_establish(mp, handler, None)
        handlers = len(mp.mnt_transinfo.fmi_cow_handler)
        after = kmem_stats()["inuse"]
        with m.faults.inject("VFS_SYNC", error=EIO):
            e3 = await VFS_SYNC(mp, MNT_WAIT, None)
        return e1, lock_owner, state, e2, handlers, before == after, e3, await umount()

    with boot() as k:
        e1, owner, normal, e2, handlers, same, e3, uerr = k.run(body)
    assert e1 == EIO and owner is None and normal
    assert e2 == EIO and handlers == 0 and same
    assert e3 == EIO and uerr == 0


def test_disk_site_scoped_by_device_name():
    """dev="wd0" names /dev/wd0: the fault fires for its bufs (the scope check
    called dev_name_matches without the site and raised TypeError in the kernel)."""
    from kern.machine import testing as kt

    with kern.boot(seed=1) as k:
        async def body():
            dev = await kt.attach_memory_disk(64 * 1024, "/dev/wd0")
            bp = getiobuf(None, True)
            bp.b_dev = dev
            bp.b_flags = 0
            bp.b_blkno = 0
            bp.b_bcount = bp.b_bufsize = 512
            bp.b_data = bytearray(512)
            with k.faults.inject("disk.write", dev="wd0") as f:
                await mdstrategy(bp)
                err = await biowait(bp)
            putiobuf(bp)
            return f.nfaults, err

        assert k.run(body) == (1, EIO)
