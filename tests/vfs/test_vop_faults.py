"""A VOP fault fails the way the file system's own failure does (vnode_if's error column).

Each kind of protocol in vnode_if.src's table has a case: vnodes that keep
their lock (VOP_WRITE, VOP_LOOKUP, VOP_CREATE, VOP_MKDIR), vnodes the
operation releases (VOP_REMOVE and VOP_RMDIR put their victim, VOP_RENAME
releases all four), the interlock VOP_PUTPAGES always drops, the buf
VOP_STRATEGY always completes and VOP_BWRITE always releases.  After the
fault the caller's own unwinding must leave no lock held, no reference
leaked (unmount succeeds, nothing is EBUSY), no buf busy, and the image
e2fsck-clean with the files as they were.
"""

from __future__ import annotations

import pytest

import kern
from kern.errno import EIO
from kern.fcntl import O_CREAT, O_RDWR
from kern.kern_mutex import mutex_enter, mutex_owned
from kern.machine.testing import errno_of
from tests.fs.ext2fs.helpers import (
    MB,
    boot,
    e2fsck,
    mkfs,
    mount,
    mount_of,
    needs_e2fsprogs,
    pattern,
    umount,
    vnode_of,
)
from tools.lib import libc
from vfs import vnode_if as vi
from vfs.buf import BC_BUSY, BO_DONE
from vfs.vfs_bio import bread, brelse, getblk, incore

pytestmark = needs_e2fsprogs


async def _prepare():
    for name, data in (("f", pattern(5000)), ("g", pattern(3000, 3))):
        fd = await libc.open(f"/mnt/{name}", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, data)
        await libc.close(fd)
    await libc.mkdir("/mnt/d", 0o755)
    await libc.sync()


def _fault_case(tmp_path, site, call, expect=EIO):
    """Mount, prepare, run ``call`` with ``site`` failing once; then the file
    system must be as before and unmount cleanly."""
    img = mkfs(str(tmp_path / "v.img"), 4 * MB, 1024)

    async def body():
        assert await mount(img) == 0
        await _prepare()
        m = kern.curmachine()
        with m.faults.inject(site, error=EIO, fail_nth=1) as f:
            err = await call()
        # the tree is as it was, and every vnode can still be locked and released
        state = []
        for name in ("f", "g", "d"):
            st = await errno_of(libc.stat(f"/mnt/{name}"))
            state.append((name, st))
        fd = await libc.open("/mnt/f", O_RDWR)
        data = await libc.pread(fd, 6000, 0)
        await libc.close(fd)
        return f.nfaults, err, state, data, await errno_of(libc.unmount("/mnt", 0))

    with boot() as k:
        nfaults, err, state, data, uerr = k.run(body)
    assert nfaults == 1
    assert err == expect
    assert state == [("f", 0), ("g", 0), ("d", 0)]
    assert data == pattern(5000)
    assert uerr == 0  # no reference or lock left behind
    rc, out = e2fsck(img)
    assert rc == 0, out


def test_write_fault_keeps_the_vnode_locked_for_the_caller(tmp_path):
    async def call():
        fd = await libc.open("/mnt/f", O_RDWR)
        e = await errno_of(libc.pwrite(fd, b"x" * 100, 0))
        await libc.close(fd)
        return e

    _fault_case(tmp_path, "VOP_WRITE", call)


def test_lookup_fault_returns_no_vnode(tmp_path):
    _fault_case(tmp_path, "VOP_LOOKUP", lambda: errno_of(libc.stat("/mnt/f")))


@pytest.mark.parametrize("site,make", [
    ("VOP_CREATE", lambda: errno_of(libc.open("/mnt/new", O_RDWR | O_CREAT, 0o644))),
    ("VOP_MKDIR", lambda: errno_of(libc.mkdir("/mnt/new", 0o755))),
    ("VOP_SYMLINK", lambda: errno_of(libc.symlink("f", "/mnt/new"))),
], ids=["create", "mkdir", "symlink"])
def test_create_faults_leave_the_directory_locked_and_make_nothing(tmp_path, site, make):
    async def call():
        e = await make()
        # nothing was made
        assert await errno_of(libc.lstat("/mnt/new")) != 0
        return e

    _fault_case(tmp_path, site, call)


@pytest.mark.parametrize("site,victim", [
    ("VOP_REMOVE", lambda: errno_of(libc.unlink("/mnt/g"))),
    ("VOP_RMDIR", lambda: errno_of(libc.rmdir("/mnt/d"))),
], ids=["remove", "rmdir"])
def test_remove_faults_put_the_victim(tmp_path, site, victim):
    """The victim is locked on entry and put on error (WILLPUT): before, it stayed
    locked and referenced, so the lwp exited holding its lock."""
    _fault_case(tmp_path, site, victim)


@pytest.mark.parametrize("target", ["/mnt/h", "/mnt/g"], ids=["new-name", "onto-g"])
def test_rename_fault_releases_all_four_vnodes(tmp_path, target):
    """fdvp and fvp released, tdvp and tvp (if any) put: to a new name and onto g."""
    _fault_case(tmp_path, "VOP_RENAME", lambda: errno_of(libc.rename("/mnt/f", target)))


def test_putpages_fault_drops_the_interlock(tmp_path):
    """VOP_PUTPAGES is entered with v_interlock and releases it, failing or not;
    before, the caller went on holding it (a deadlock or a lock-order panic)."""
    async def call():
        fd = await libc.open("/mnt/f", O_RDWR)
        await libc.pwrite(fd, b"y" * 10, 6000)  # dirty a page
        error, vp = await vnode_of("/mnt/f")
        await mutex_enter(vp.v_interlock)
        e = await vi.VOP_PUTPAGES(vp, 0, 0, 0x001 | 0x010)  # PGO_CLEANIT | PGO_ALLPAGES
        owned = mutex_owned(vp.v_interlock)
        from vfs.vnode import vrele

        await vrele(vp)
        # the page is still dirty and is written by the next fsync
        again = await errno_of(libc.fsync(fd))
        await libc.ftruncate(fd, 5000)
        await libc.close(fd)
        assert not owned and again == 0
        return e

    _fault_case(tmp_path, "VOP_PUTPAGES", call)


BLK = 3 * MB // 512  # a block of the device the file system leaves alone


def _on_devvp(tmp_path, site, io):
    """Mount an image, run ``io(devvp, m)`` with ``site`` failing once; its
    result and unmount's errno."""
    img = mkfs(str(tmp_path / "d.img"), 4 * MB, 1024)

    async def body():
        from fs.ext2fs.ufs_inode import VFSTOUFS

        assert await mount(img) == 0
        devvp = VFSTOUFS(await mount_of("/mnt")).um_devvp
        m = kern.curmachine()
        with m.faults.inject(site, error=EIO, fail_nth=1) as f:
            out = await io(devvp)
        assert f.nfaults == 1
        return out, await umount()

    with boot() as k:
        return k.run(body)


def test_strategy_fault_completes_the_buf(tmp_path):
    """VOP_STRATEGY always completes its buf: bread gets the error instead of
    waiting for a biodone that never comes, and the next bread reads."""
    async def io(devvp):
        e1, bp = await bread(devvp, BLK, 1024)
        e2, bp2 = await bread(devvp, BLK, 1024)  # the fault fired once: this one reads
        brelse(bp2, 0)
        return e1, bp, e2

    (e1, bp, e2), uerr = _on_devvp(tmp_path, "VOP_STRATEGY", io)
    assert (e1, bp, e2, uerr) == (EIO, None, 0, 0)


def test_bwrite_fault_releases_the_buf(tmp_path):
    """VOP_BWRITE always releases its buf; failing, it leaves it invalid, as
    bwrite leaves a buffer whose write failed."""
    async def io(devvp):
        bp = await getblk(devvp, BLK, 1024)
        e = await vi.VOP_BWRITE(devvp, bp)
        return e, (bool(bp.b_cflags & BC_BUSY), bool(bp.b_oflags & BO_DONE),
                   incore(devvp, BLK))

    (e, state), uerr = _on_devvp(tmp_path, "VOP_BWRITE", io)
    assert e == EIO
    assert state == (False, False, None)
    assert uerr == 0


def test_every_vnode_argument_has_a_lock_line():
    """The table covers every vnode argument of every operation, as vnode_if.src's."""
    vnode_args = {"vp", "dvp", "vpp", "fdvp", "fvp", "tdvp", "tvp"}
    for d in vi.vfs_op_descs:
        if d.vdesc_name in ("vop_default", "vop_seek"):  # seek: "XXX Locking protocol?"
            continue
        listed = {s.arg for s in d.vdesc_locks}
        assert listed == vnode_args & set(d.vdesc_args), d
    assert vi.vop_putpages_desc.vdesc_interlock
    assert vi.vop_strategy_desc.vdesc_buf == "done"
    assert vi.vop_bwrite_desc.vdesc_buf == "released"
    rel = {(s.arg, s.release) for s in vi.vop_rename_desc.vdesc_locks}
    assert rel == {("fdvp", "rele"), ("fvp", "rele"), ("tdvp", "put"), ("tvp", "put")}


def test_a_vop_called_with_the_wrong_arguments_is_refused_by_name():
    """A VOP_* call with too few, too many or keyword arguments raises
    TypeError naming the operation and its a_ arguments, at the call, before
    any coroutine is made (so nothing runs and nothing is left to await)."""
    with pytest.raises(TypeError, match=r"^VOP_GETATTR\(\) missing 1 required .*'a_cred'"):
        vi.VOP_GETATTR(None, None)
    with pytest.raises(TypeError, match=r"^VOP_GETATTR\(\) takes 3 positional arguments but 4"):
        vi.VOP_GETATTR(None, None, None, None)
    with pytest.raises(TypeError, match=r"^VOP_GETATTR\(\) got some positional-only"):
        vi.VOP_GETATTR(None, None, a_cred=None)
    with pytest.raises(TypeError, match=r"^VOP_LOOKUP\(\) takes 2 positional arguments but 3"):
        vi.VOP_LOOKUP(None, None, [None])  # the out-pointer vpp is returned, not passed
