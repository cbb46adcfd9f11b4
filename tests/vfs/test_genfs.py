"""genfs_putpages ranges and the page daemon's retries (vfs/genfs_io.py, vfs/uvm.py) over ext2."""

from __future__ import annotations

import pytest

import kern
from kern.fcntl import O_RDWR
from kern.kern_mutex import mutex_enter, mutex_owned
from kern.machine import testing as kt
from tests.fs.ext2fs.helpers import (
    MB,
    boot,
    check,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    umount,
    vnode_of,
    write_file,
)
from tools.lib import libc
from vfs import genfs_io
from vfs.genfs_io import PAGE_SIZE, PGO_CLEANIT, PGO_SYNCIO, genfs_dirty_pages
from vfs.mount import MNT_ASYNC
from vfs.uvm import uvm, uvm_pdaemon_wait, uvmexp
from vfs.vnode import vrele
from vfs.vnode_if import VOP_PUTPAGES

pytestmark = needs_e2fsprogs


def test_putpages_to_the_end_starts_at_offlo(tmp_path):
    """offhi 0 means "to the end of the file", from offlo, not from 0."""
    img = mkfs(str(tmp_path / "p.img"), 8 * MB, 4096)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(6 * PAGE_SIZE)))
        _, vp = await vnode_of("/mnt/f")
        # Pages 2 and 3 clean: they bound the cluster of page 4, which
        # NetBSD gathers backwards from the first page of the range too.
        await mutex_enter(vp.v_interlock)
        check(await VOP_PUTPAGES(vp, 2 * PAGE_SIZE, 4 * PAGE_SIZE, PGO_CLEANIT | PGO_SYNCIO))
        check(await write_file("/mnt/f", pattern(2 * PAGE_SIZE), create=False))
        check(await write_file("/mnt/f", pattern(2 * PAGE_SIZE), offset=4 * PAGE_SIZE,
                               create=False))
        before = genfs_dirty_pages(vp)
        await mutex_enter(vp.v_interlock)
        check(await VOP_PUTPAGES(vp, 4 * PAGE_SIZE, 0, PGO_CLEANIT | PGO_SYNCIO))
        assert not mutex_owned(vp.v_interlock)
        after = genfs_dirty_pages(vp)
        clean = sorted(o // PAGE_SIZE for o, pg in vp.v_uobj.uo_pages.items()
                       if pg.flags & genfs_io.PG_CLEAN)
        await vrele(vp)
        check(await umount())
        return before, after, clean

    with boot() as k:
        assert k.run(body) == (4, 2, [2, 3, 4, 5])


def test_pagedaemon_refused_above_high_water_does_not_wake_itself(tmp_path, monkeypatch):
    """Past the dirty high water mark, a page daemon whose writes fss refuses
    (ENOMEM) leaves the pages dirty and sleeps until the next kick; it must
    not kick itself when it puts them back, or it spins for ever."""
    img = mkfs(str(tmp_path / "h.img"), 4 * MB)
    kicks = {"daemon": 0, "others": 0}
    real_kick = genfs_io.uvm_kick_pdaemon

    def kick():
        from kern.cpu import curlwp

        if curlwp() is uvm.pagedaemon_lwp:
            kicks["daemon"] += 1  # (not passed on: it would spin)
        else:
            kicks["others"] += 1
            real_kick()

    monkeypatch.setattr(genfs_io, "uvm_kick_pdaemon", kick)

    async def body():
        check(await mount(img, flags=MNT_ASYNC))  # no write-behind: pages stay dirty
        check(await write_file("/mnt/f", b"A" * 65536))
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        uvmexp().dirtyhiwat = 4
        f = await libc.open("/mnt/f", O_RDWR)
        await libc.write(f, b"B" * 65536)  # dirty pages past the high water mark
        await uvm_pdaemon_wait()
        refused = genfs_dirty_pages(), uvmexp().pdfailed
        await libc.fsync(f)  # a writer that may wait: copies, then writes
        await libc.close(f)
        return refused, genfs_dirty_pages()

    with boot() as k:
        (dirty, failed), after_fsync = k.run(body)
    assert kicks["others"] > 0 and kicks["daemon"] == 0
    assert dirty >= 16 and failed > 0
    assert after_fsync == 0


def test_a_failed_overwrite_leaves_no_zero_page_over_the_data(tmp_path, monkeypatch):
    """A write of whole pages over existing data gets its pages without
    reading them (they start as zeros); when the block allocation under them
    fails, those pages must go, not stay resident as the file's contents."""
    from kern.errno import ENOSPC
    from kern.kern_module import kmod_namespace

    img = mkfs(str(tmp_path / "o.img"), 4 * MB, 4096)
    old = pattern(4 * PAGE_SIZE, seed=3)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", old))
        check(await umount())         # nothing of f stays resident
        check(await mount(None))

        async def no_space(*args):
            return ENOSPC

        # This machine's copy of ext2fs_balloc (modules are loaded per machine).
        balloc = kmod_namespace("ext2fs").ext2fs_gop_alloc.__globals__
        monkeypatch.setitem(balloc, "ext2fs_gop_alloc", no_space)
        fd = await libc.open("/mnt/f", O_RDWR)
        try:
            await libc.pwrite(fd, b"\xff" * (2 * PAGE_SIZE), PAGE_SIZE)
            failed = 0
        except kern.SyscallError as e:
            failed = e.errno
        monkeypatch.undo()
        _, vp = await vnode_of("/mnt/f")
        resident = sorted(vp.v_uobj.uo_pages)
        await vrele(vp)
        data = await libc.pread(fd, len(old), 0)
        await libc.close(fd)
        check(await umount())
        return failed, resident, data

    with boot() as k:
        failed, resident, data = k.run(body)
    assert failed == ENOSPC
    assert PAGE_SIZE not in resident and 2 * PAGE_SIZE not in resident
    assert data == old


def _set_while_the_object_lock_is_held(tmp_path, old: int, set_) -> tuple:
    """A file of ``old`` bytes on a fresh ext2; the test holds its vnode's
    object lock (vmobjlock: v_interlock here) while a kernel thread awaits
    ``set_(vp)``.  Returns what the thread had done and the sizes while the
    lock was held, the same once it was let go, and the resident pages (the
    sizes are put back in step, v_writesize = v_size, before the vnode goes)."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
    from kern.kern_mutex import mutex_exit
    from kern.kern_synch import preempt

    img = mkfs(str(tmp_path / "s.img"), 4 * MB, 4096)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(old)))
        _, vp = await vnode_of("/mnt/f")
        state = {"started": False, "done": False}

        async def setter(arg):
            state["started"] = True
            await set_(vp)
            state["done"] = True

        await mutex_enter(vp.v_interlock)
        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, setter, None, "setter")
        assert error == 0
        for _ in range(20):
            await preempt()
        held = (state["started"], state["done"], vp.v_size, vp.v_writesize)
        mutex_exit(vp.v_interlock)
        await kthread_join(l)
        after = (state["done"], vp.v_size, vp.v_writesize, mutex_owned(vp.v_interlock))
        resident = sorted(vp.v_uobj.uo_pages)
        if vp.v_writesize != vp.v_size:
            await genfs_io.uvm_vnp_setsize(vp, vp.v_size)
        await vrele(vp)
        check(await umount())
        return held, after, resident

    with boot() as k:
        return k.run(body)


@pytest.mark.parametrize("grow", [True, False], ids=["grow", "shrink"])
def test_setsize_waits_for_the_object_lock(tmp_path, grow):
    """uvm_vnp_setsize takes the vnode's object lock (vmobjlock, v_interlock
    here) before it looks at the sizes and changes them under it, whether the
    file grows or shrinks (uvm_vnode.c 1.117): while another lwp holds the
    lock, the sizes do not move; once it lets go, they are the new size."""
    old = 3 * PAGE_SIZE + 100
    new = old + 2 * PAGE_SIZE if grow else PAGE_SIZE + 7
    held, after, resident = _set_while_the_object_lock_is_held(
        tmp_path, old, lambda vp: genfs_io.uvm_vnp_setsize(vp, new))
    assert held == (True, False, old, old)
    assert after == (True, new, new, False)
    assert all(o < new for o in resident)


def test_setwritesize_waits_for_the_object_lock(tmp_path):
    """uvm_vnp_setwritesize takes the object lock (vmobjlock, v_interlock
    here) before it raises v_writesize (uvm_vnode.c 1.117): while another
    lwp holds the lock the write size does not move and the caller sleeps;
    once the lock is free it is the new size and v_size is untouched."""
    old = 3 * PAGE_SIZE + 100
    new = old + 2 * PAGE_SIZE
    held, after, _ = _set_while_the_object_lock_is_held(
        tmp_path, old, lambda vp: genfs_io.uvm_vnp_setwritesize(vp, new))
    assert held == (True, False, old, old)
    assert after == (True, old, new, False)
