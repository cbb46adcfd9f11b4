"""Suspension (genfs_suspendctl), VFS_SYNC from the suspending lwp, and concurrent writers."""

from __future__ import annotations

import pytest

from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join
from kern.machine.testing import sweep
from vfs.mount import MNT_WAIT, VFS_SNAPSHOT, VFS_SYNC

from .helpers import (
    MB,
    assert_clean,
    boot,
    check,
    debugfs_cat,
    e2fsck,
    mkdir,
    mkfs,
    mount,
    mount_of,
    needs_e2fsprogs,
    pattern,
    read_file,
    run_clean,
    umount,
    unlink,
    write_file,
)

pytestmark = needs_e2fsprogs


def test_sync_while_suspended_and_writers_wait(tmp_path):
    img = mkfs(str(tmp_path / "s.img"), 8 * MB, 1024)
    seen: dict[str, object] = {}

    async def body():
        from kern.cpu import curlwp
        from vfs.vfs_trans import vfs_resume, vfs_suspend

        check(await mount(img))
        mp = await mount_of()
        check(await mkdir("/mnt/d"))
        check(await write_file("/mnt/d/before", pattern(50_000, 1)))
        done: list[int] = []

        async def writer(_):
            done.append(await write_file("/mnt/d/during", pattern(20_000, 2)))

        check(await vfs_suspend(mp, 0))
        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, writer, None, "writer")
        check(error)
        await kpause("letrun", False, 50, None)
        seen["blocked"] = list(done)
        # The suspending lwp can still sync everything to the disk.
        check(await VFS_SYNC(mp, MNT_WAIT, curlwp().l_cred), "VFS_SYNC while suspended")
        seen["fsck"] = e2fsck(img)
        seen["before"] = debugfs_cat(img, "/d/before")
        await vfs_resume(mp)
        await kthread_join(l)
        seen["after"] = list(done)
        check(await umount())

    with boot() as k:
        k.run(body)
    assert seen["blocked"] == []
    rc, out = seen["fsck"]
    assert rc == 0, out
    assert seen["before"] == pattern(50_000, 1)
    assert seen["after"] == [0]
    assert_clean(img)
    assert debugfs_cat(img, "/d/during") == pattern(20_000, 2)


def test_pagedaemon_leaves_a_suspended_fs_alone(tmp_path):
    """Kicked while the file system is suspended, the page daemon writes nothing and does
    not stand in the way of the suspending lwp's VFS_SYNC; it writes after the resume."""
    from vfs.genfs_io import genfs_dirty_pages
    from vfs.uvm import uvm_kick_pdaemon, uvm_pdaemon_wait

    img = mkfs(str(tmp_path / "p.img"), 8 * MB, 4096)
    data = pattern(6 * 4096, 3)

    async def body():
        from kern.cpu import curlwp
        from vfs.vfs_trans import vfs_resume, vfs_suspend
        from vfs.vnode import vrele

        from .helpers import vnode_of

        check(await mount(img))
        mp = await mount_of()
        check(await write_file("/mnt/f", data))
        check(await write_file("/mnt/g", data[:4096]))
        error, vp = await vnode_of("/mnt/f")
        check(await vfs_suspend(mp, 0))
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        still = genfs_dirty_pages(vp)
        check(await VFS_SYNC(mp, MNT_WAIT, curlwp().l_cred))
        after_sync = genfs_dirty_pages(vp)
        await vfs_resume(mp)
        check(await write_file("/mnt/f", b"later", offset=0, create=False))
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        last = genfs_dirty_pages(vp)
        await vrele(vp)
        check(await umount())
        return still, after_sync, last

    assert run_clean(img, body) == (6, 0, 0)
    assert debugfs_cat(img, "/f") == b"later" + data[5:]


def test_snapshot_is_not_supported(tmp_path):
    from kern.errno import EOPNOTSUPP

    img = mkfs(str(tmp_path / "n.img"), 4 * MB)

    async def body():
        from .helpers import vnode_of

        check(await mount(img))
        check(await write_file("/mnt/snap", b""))
        mp = await mount_of()
        error, vp = await vnode_of("/mnt/snap")
        r = await VFS_SNAPSHOT(mp, vp)
        from vfs.vnode import vrele

        await vrele(vp)
        check(await umount())
        return r[0]

    with boot() as k:
        assert k.run(body) == EOPNOTSUPP


@pytest.mark.parametrize("seed", sweep(3))
def test_concurrent_writers(tmp_path, seed):
    """Several lwps create, write, read and remove files at once; the result is clean."""
    img = mkfs(str(tmp_path / "c.img"), 16 * MB, 1024)

    async def body():
        check(await mount(img))
        for d in range(3):
            check(await mkdir(f"/mnt/w{d}"))
        errors: list[str] = []

        def worker(n):
            async def run(_):
                for i in range(8):
                    path = f"/mnt/w{n}/f{i}"
                    data = pattern(3000 + 1500 * i, n * 10 + i)
                    e = await write_file(path, data)
                    if e:
                        errors.append(f"{path}: write {e}")
                        continue
                    e, got = await read_file(path)
                    if e or got != data:
                        errors.append(f"{path}: read {e}")
                    if i % 3 == 0:
                        e = await unlink(path)
                        if e:
                            errors.append(f"{path}: unlink {e}")
            return run

        ls = []
        for n in range(3):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker(n), None,
                                      f"worker{n}")
            check(error)
            ls.append(l)
        for l in ls:
            await kthread_join(l)
        assert errors == []
        check(await umount())

    run_clean(img, body, seed=seed)
    for n in range(3):
        for i in range(8):
            if i % 3:
                assert debugfs_cat(img, f"/w{n}/f{i}") == pattern(3000 + 1500 * i, n * 10 + i)
