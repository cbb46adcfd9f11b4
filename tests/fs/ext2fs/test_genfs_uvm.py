"""The page cache (vfs.genfs_io) and the page daemon (vfs.uvm) under ext2fs."""

from __future__ import annotations

from kern.errno import EIO
from kern.kern_mutex import mutex_enter, mutex_owned
from vfs.genfs_io import (
    PAGE_SIZE,
    PGO_ALLPAGES,
    PGO_CLEANIT,
    PGO_FREE,
    PGO_SYNCIO,
    genfs_dirty_pages,
    genfs_resident_pages,
)
from vfs.mount import MNT_ASYNC
from vfs.uvm import uvm, uvm_kick_pdaemon, uvm_pdaemon_wait, uvmexp
from vfs.vnode import vrele
from vfs.vnode_if import VOP_PUTPAGES

from .helpers import (
    MB,
    assert_clean,
    boot,
    check,
    debugfs_cat,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    run_clean,
    umount,
    vnode_of,
    write_file,
)

pytestmark = needs_e2fsprogs


def image_has(img: str, data: bytes) -> bool:
    with open(img, "rb") as f:
        return data in f.read()


def test_pagedaemon_lwp_is_per_machine():
    async def me():
        from kern.cpu import curlwp

        l = uvm.pagedaemon_lwp
        assert l is not None and l.l_name == "pgdaemon"
        assert curlwp() is not l
        return l

    with boot(seed=1) as k1:
        l1 = k1.run(me)
    with boot(seed=2) as k2:
        l2 = k2.run(me)
    assert l1 is not l2
    assert uvm.pagedaemon_lwp is None  # outside any machine


def test_putpages_releases_interlock_writes_and_frees(tmp_path):
    img = mkfs(str(tmp_path / "p.img"), 8 * MB, 4096)
    data = pattern(5 * PAGE_SIZE + 100, 3)

    async def body():
        nonlocal data
        check(await mount(img))
        check(await write_file("/mnt/f", data))
        error, vp = await vnode_of("/mnt/f")
        assert genfs_dirty_pages(vp) == 6 and genfs_resident_pages(vp) == 6
        assert uvmexp().dirtypages >= 6
        # Pages [1, 3) asked for: their dirty neighbours go in the same
        # cluster, backwards from the range's first page and forwards past
        # its end, as NetBSD's genfs_do_putpages gathers them.
        await mutex_enter(vp.v_interlock)
        error = await VOP_PUTPAGES(vp, PAGE_SIZE, 3 * PAGE_SIZE, PGO_CLEANIT | PGO_SYNCIO)
        assert not mutex_owned(vp.v_interlock)
        check(error)
        assert genfs_dirty_pages(vp) == 0
        assert image_has(img, data)
        # Dirty pages 0, 2 and 4 again (page 1 and 3 stay clean): the range
        # [1, 3) writes page 2 alone; the clean pages bound its cluster.
        new = bytearray(data)
        for pgno in (0, 2, 4):
            new[pgno * PAGE_SIZE:(pgno + 1) * PAGE_SIZE] = bytes([0xA0 + pgno]) * PAGE_SIZE
            check(await write_file("/mnt/f", bytes(new[pgno * PAGE_SIZE:(pgno + 1) * PAGE_SIZE]),
                                   offset=pgno * PAGE_SIZE, create=False))
        assert genfs_dirty_pages(vp) == 3
        await mutex_enter(vp.v_interlock)
        check(await VOP_PUTPAGES(vp, PAGE_SIZE, 3 * PAGE_SIZE, PGO_CLEANIT | PGO_SYNCIO))
        assert genfs_dirty_pages(vp) == 2
        assert image_has(img, bytes(new[2 * PAGE_SIZE:3 * PAGE_SIZE]))
        assert not image_has(img, bytes(new[:PAGE_SIZE]))
        assert not image_has(img, bytes(new[4 * PAGE_SIZE:5 * PAGE_SIZE]))
        data = bytes(new)
        # All of it, and free the pages.
        await mutex_enter(vp.v_interlock)
        check(await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_SYNCIO | PGO_FREE | PGO_ALLPAGES))
        assert not mutex_owned(vp.v_interlock)
        assert genfs_dirty_pages(vp) == 0 and genfs_resident_pages(vp) == 0
        assert image_has(img, data)
        await vrele(vp)
        # Read back through the disk.
        from .helpers import read_file

        assert await read_file("/mnt/f") == (0, data)
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/f") == data


def test_failed_writeback_leaves_pages_dirty(tmp_path):
    img = mkfs(str(tmp_path / "w.img"), 8 * MB, 4096)
    data = pattern(3 * PAGE_SIZE, 4)

    async def body():
        from kern.cpu import curmachine

        check(await mount(img))
        check(await write_file("/mnt/f", data))
        error, vp = await vnode_of("/mnt/f")
        dev = vp.v_data.i_devvp.v_rdev
        attr = curmachine().faults.add("disk.write", error=EIO, dev=dev)
        await mutex_enter(vp.v_interlock)
        error = await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_SYNCIO | PGO_ALLPAGES)
        assert error == EIO
        assert not mutex_owned(vp.v_interlock)
        assert genfs_dirty_pages(vp) == 3
        # PGO_FREE does not throw away pages it could not write.
        await mutex_enter(vp.v_interlock)
        error = await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_SYNCIO | PGO_FREE | PGO_ALLPAGES)
        assert error == EIO and genfs_resident_pages(vp) == 3
        # Without PGO_SYNCIO the write is NetBSD's asynchronous one: its
        # error goes to biodone, not to the caller; the pages stay dirty.
        await mutex_enter(vp.v_interlock)
        error = await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_FREE | PGO_ALLPAGES)
        assert error == 0 and genfs_resident_pages(vp) == 3 and genfs_dirty_pages(vp) == 3
        curmachine().faults.remove(attr)
        await mutex_enter(vp.v_interlock)
        check(await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_SYNCIO | PGO_ALLPAGES))
        assert genfs_dirty_pages(vp) == 0
        await vrele(vp)
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/f") == data


def test_pagedaemon_writes_back_when_kicked_and_retries(tmp_path):
    img = mkfs(str(tmp_path / "d.img"), 8 * MB, 4096)
    data = pattern(8 * PAGE_SIZE, 5)

    async def body():
        from kern.cpu import curmachine

        check(await mount(img))
        check(await write_file("/mnt/f", data))
        error, vp = await vnode_of("/mnt/f")
        assert genfs_dirty_pages(vp) == 8
        dev = vp.v_data.i_devvp.v_rdev
        # The disk fails: the daemon's writes fail and the pages stay dirty.
        attr = curmachine().faults.add("disk.write", error=EIO, dev=dev)
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        assert genfs_dirty_pages(vp) == 8
        assert uvmexp().pdfailed >= 1
        curmachine().faults.remove(attr)
        # Next kick: written.
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        assert genfs_dirty_pages(vp) == 0
        assert image_has(img, data)
        await vrele(vp)
        check(await umount())

    run_clean(img, body)


def test_dirty_page_threshold_kicks_the_daemon(tmp_path):
    img = mkfs(str(tmp_path / "t.img"), 8 * MB, 4096)
    data = pattern(40 * PAGE_SIZE, 6)

    async def body():
        check(await mount(img, flags=MNT_ASYNC))  # no write-behind: pages stay dirty
        uvmexp().dirtyhiwat = 16
        check(await write_file("/mnt/f", data))
        await uvm_pdaemon_wait()
        assert uvmexp().pdwoke >= 1
        assert uvmexp().dirtypages < 40
        check(await umount())
        assert uvmexp().dirtypages == 0 and uvmexp().npages == 0

    run_clean(img, body)
    assert debugfs_cat(img, "/f") == data


def test_idle_machine_has_no_timers():
    """The page daemon sleeps without a timeout: an idle machine stays idle."""
    async def body():
        from kern import kpause

        await kpause("idle", False, 1, None)
        return uvm.pagedaemon_lwp.l_wmesg

    with boot() as k:
        assert k.run(body) == "pgdaemon"
        assert not any(l.l_sleeptimo for l in k.lwps if l.l_name == "pgdaemon")



def test_io_sync_write_reaches_the_disk(tmp_path):
    img = mkfs(str(tmp_path / "y.img"), 8 * MB, 4096)
    data = pattern(3 * PAGE_SIZE, 8)

    async def body():
        from kern.subr_uio import UIO_SYSSPACE, UIO_WRITE
        from vfs.vfs_vnops import vn_rdwr
        from vfs.vnode import IO_SYNC

        check(await mount(img))
        check(await write_file("/mnt/f", b""))
        error, vp = await vnode_of("/mnt/f")
        check(await vn_rdwr(UIO_WRITE, vp, bytearray(data), len(data), 0, UIO_SYSSPACE,
                            IO_SYNC, None, None, None))
        assert genfs_dirty_pages(vp) == 0
        assert image_has(img, data)
        ino = vp.v_data.i_number
        await vrele(vp)
        return ino

    with boot() as k:
        ino = k.run(body)
        # Synchronous: the inode is on the disk too, before any sync or unmount
        # (its directory entry need not be).
        assert debugfs_cat(img, f"<{ino}>") == data
        k.run(umount)
    assert_clean(img)


def test_write_behind_every_64k_unless_async(tmp_path):
    """ext2fs_write sends what lies before each 64 KiB boundary it crosses to the
    disk (NetBSD's write-behind, PGO_CLEANIT|PGO_LAZY); on an MNT_ASYNC mount
    the pages stay dirty until something flushes them."""
    data = pattern(3 * 65536 + 1000, 7)
    seen = {}
    for name, flags in (("sync", 0), ("async", MNT_ASYNC)):
        img = mkfs(str(tmp_path / f"{name}.img"), 8 * MB, 4096)

        async def body(img=img, flags=flags, name=name):
            check(await mount(img, flags=flags))
            check(await write_file("/mnt/f", data))
            error, vp = await vnode_of("/mnt/f")
            check(error)
            # (the pattern repeats every 64 KiB: a page of the first 64 KiB
            # is on the disk if any of the three pieces is)
            pages = [image_has(img, data[o:o + PAGE_SIZE]) for o in range(0, 65536, PAGE_SIZE)]
            seen[name] = (genfs_dirty_pages(vp), all(pages), any(pages))
            await vrele(vp)
            check(await umount())

        run_clean(img, body)
        assert debugfs_cat(img, "/f") == data
    # The three whole 64 KiB pieces are on the disk; the tail's page is dirty.
    assert seen["sync"] == (1, True, True)
    assert seen["async"] == (3 * 16 + 1, False, False)
