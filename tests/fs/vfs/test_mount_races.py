"""Unmount racing sync(2) and lookups (vfs/vfs_mount.py, vfs/namei.py, vfs/vnode.py).

NetBSD keeps a file system from being unmounted under a thread that is
working in it by busying the mount (vfs_busy): sync(2) walks the mount list
with the mountlist iterator, which busies each mount across its VFS_SYNC; a
lookup crossing a mount point busies the mount across VFS_ROOT; vcache_get
and vcache_new busy it while they load or create a vnode.  dounmount
suspends the file system first, and a busy holder is inside a transaction,
so the unmount waits for it; a thread that wants to busy a mount being
unmounted waits for the unmount and is told ENOENT once it is gone.

The interleavings are forced with a lock the test holds (and, for the sync,
disk transfers made slow for the syncing lwp), the same in every seed: each
test runs a sweep of seeds to show that.  They failed before kemu's sync,
namei and vcache busied the mounts:

* a sync that had passed its "being unmounted?" check slept in VFS_SYNC,
  the forced unmount closed the device, and the sync then wrote the super
  block and the group descriptors into the image after the unmount was over;
* a lookup crossing into /mnt after the unmount's vflush loaded the root
  vnode again, and dounmount panicked: "unmount: dangling vnode";
* so did a vnode asked for by file handle (vfs_fhtovp -> vcache_get, no
  lookup): that test fails the same way with vcache_get's vfs_busy taken out.
"""

from __future__ import annotations

import hashlib

import pytest

from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join
from kern.errno import ENOENT
from kern.machine.testing import sweep
from vfs.mount import IMNT_UNMOUNT, MNT_FORCE

from ..ext2fs.helpers import (
    MB,
    assert_clean,
    boot,
    check,
    debugfs_cat,
    mkdir,
    mkfs,
    mount,
    mount_of,
    needs_e2fsprogs,
    pattern,
    stat,
    umount,
    vnode_of,
    write_file,
)

pytestmark = needs_e2fsprogs


def _image_hash(img: str) -> str:
    with open(img, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _spawn(fn, name: str):
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, None, "%s", name)
    check(error, f"kthread_create {name}")
    return l


async def _until(cond, what: str, ticks: int = 2000) -> None:
    """Let the other lwps run (kemu's clock only moves when they all sleep) until
    ``cond()`` holds."""
    for _ in range(ticks):
        if cond():
            return
        await kpause("until", False, 1, None)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.parametrize("seed", sweep(8))
def test_sync_racing_a_forced_unmount_writes_nothing_after_it(tmp_path, seed):
    """sync(2) and a forced unmount of /mnt start together.  The test holds the
    lock of the directory /mnt covers, so the unmount stops once the file
    system is gone (its device closed), before it returns.  From then on the
    disk must see no write: a sync still inside the file system's VFS_SYNC
    would write the super block into the image of an unmounted file system."""
    from kern.cpu import curlwp, curmachine
    from vfs.mount import IMNT_GONE
    from vfs.vfs_mount import dounmount
    from vfs.vfs_syscalls import do_sys_sync
    from vfs.vnode import LK_EXCLUSIVE, vn_lock
    from vfs.vnode_if import VOP_UNLOCK

    img = mkfs(str(tmp_path / "s.img"), 8 * MB, 1024)
    seen: dict[str, object] = {}

    def disk_writes() -> int:
        return curmachine().faults.calls.get("disk.write", 0)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/d"))
        for i in range(3):
            check(await write_file(f"/mnt/d/f{i}", pattern(20_000, i)))
        mp = await mount_of()
        covered = mp.mnt_vnodecovered
        await vn_lock(covered, LK_EXCLUSIVE)

        async def syncer(_):
            await do_sys_sync(curlwp())

        async def unmounter(_):
            seen["umount"] = await dounmount(mp, MNT_FORCE, curlwp())

        ls = _spawn(syncer, "syncer")
        # The sync's disk transfers take their time, the unmount's do not.
        curmachine().faults.add("disk.slow", lwp=ls, ticks=20)
        lu = _spawn(unmounter, "unmounter")
        await _until(lambda: mp.mnt_iflag & IMNT_GONE, "the unmount")
        seen["writes_when_gone"] = disk_writes()
        await kthread_join(ls)
        seen["writes_after_sync"] = disk_writes()
        VOP_UNLOCK(covered)
        await kthread_join(lu)

    with boot(seed) as k:
        k.run(body)
    assert seen["umount"] == 0
    assert seen["writes_after_sync"] == seen["writes_when_gone"], \
        "the sync wrote to the disk of an unmounted file system"
    assert_clean(img)
    for i in range(3):
        assert debugfs_cat(img, f"/d/f{i}") == pattern(20_000, i)


def _attempt_after_the_unmounts_vflush(img: str, seed: int, before, attempt) -> dict:
    """Mount ``img`` read-only on /mnt (with /mnt/d in it), hold the lock of its
    device /dev/wd0 and unmount /mnt in one lwp: the unmount flushes every
    vnode and then waits for that lock.  Then ``attempt(mp, state)`` runs in
    another lwp and returns an errno (``before(mp, state)`` prepares it
    first).  The lock is let go a few ticks later.  What happened: the
    attempt's errno, the unmount's, and how many vnodes the mount had while
    the unmount was held."""
    from kern.cpu import curlwp
    from vfs.vfs_mount import dounmount
    from vfs.vnode import LK_EXCLUSIVE, vn_lock, vrele
    from vfs.vnode_if import VOP_UNLOCK

    with boot(seed) as k:
        k.run(_prepare, img)
    seen: dict[str, object] = {}

    async def body():
        check(await mount(img, ro=True))
        mp = await mount_of()
        state: dict[str, object] = {}
        await before(mp, state)
        error, devvp = await vnode_of("/dev/wd0")
        check(error)
        await vn_lock(devvp, LK_EXCLUSIVE)

        async def unmounter(_):
            seen["umount"] = await dounmount(mp, 0, curlwp())

        async def attempter(_):
            seen["attempt"] = await attempt(mp, state)

        lu = _spawn(unmounter, "unmounter")
        await _until(lambda: mp.mnt_iflag & IMNT_UNMOUNT and not mp.mnt_vnodelist,
                     "the unmount's vflush")
        la = _spawn(attempter, "attempter")
        await kpause("attempt", False, 5, None)   # the attempt is done, or waits
        seen["vnodes_while_held"] = len(mp.mnt_vnodelist)
        VOP_UNLOCK(devvp)
        await vrele(devvp)
        await kthread_join(lu)
        await kthread_join(la)

    with boot(seed) as k:
        k.run(body)
    assert_clean(img)
    return seen


async def _nothing(mp, state) -> None:
    pass


@pytest.mark.parametrize("seed", sweep(4))
def test_lookup_crossing_into_a_mount_being_unmounted(tmp_path, seed):
    """A lookup of /mnt/d crosses into /mnt after the unmount's vflush (the
    unmount is held just after it, waiting for the device's lock, which the
    test holds).  It waits for the unmount and fails with ENOENT; the unmount
    succeeds and leaves no vnode behind."""
    async def lookup(mp, state) -> int:
        error, _st = await stat("/mnt/d")
        return error

    img = mkfs(str(tmp_path / "l.img"), 8 * MB, 1024)
    seen = _attempt_after_the_unmounts_vflush(img, seed, _nothing, lookup)
    assert seen == {"vnodes_while_held": 0, "umount": 0, "attempt": ENOENT}


@pytest.mark.parametrize("seed", sweep(4))
def test_file_handle_into_a_mount_being_unmounted(tmp_path, seed):
    """As above, with the vnode asked for by file handle (fhopen(2)'s
    vfs_fhtovp: VFS_FHTOVP, then vcache_get, with no lookup to busy the
    mount): vcache_get busies the mount, so it waits for the unmount and
    fails with ENOENT instead of loading a vnode into it."""
    from vfs.vfs_syscalls import vfs_composefh, vfs_fhtovp
    from vfs.vnode import vrele

    async def handle_of_d(mp, state) -> None:
        error, dvp = await vnode_of("/mnt/d")
        check(error)
        error, state["fh"], _size = await vfs_composefh(dvp, 256)
        check(error, "vfs_composefh")
        await vrele(dvp)

    async def by_handle(mp, state) -> int:
        error, vp = await vfs_fhtovp(state["fh"], 0)
        if vp is not None:
            await vrele(vp)
        return error

    img = mkfs(str(tmp_path / "h.img"), 8 * MB, 1024)
    seen = _attempt_after_the_unmounts_vflush(img, seed, handle_of_d, by_handle)
    assert seen == {"vnodes_while_held": 0, "umount": 0, "attempt": ENOENT}


async def _prepare(img: str) -> None:
    check(await mount(img))
    check(await mkdir("/mnt/d"))
    check(await umount())
