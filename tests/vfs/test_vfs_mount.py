"""mount(2), unmount(2), statvfs(2), dead vnodes and block-device opens over ext2.

vfs_mount.c (mount_domount's reference on the file system type, getargs,
dounmount after vflush's vrele_flush), vfs_syscalls.c (dostatvfs's cache),
dead_vnops.c (what a vnode killed by a forced unmount does) and
spec_vnops.c (a block device is open once).
"""

from __future__ import annotations

import ctypes

import pytest

from fs.ext2fs.ext2fs_vfsops import ufs_args
from kern.cpu import curlwp, curmachine
from kern.errno import EBADF, EBUSY, EFAULT, EINVAL, EIO, ENOENT, ENOTDIR, ENXIO, EPERM
from kern.exceptions import SyscallError
from kern.fcntl import FREAD, O_CREAT, O_RDONLY, O_WRONLY
from kern.kern_auth import NOCRED
from kern.kern_mutex import mutex_enter, mutex_owned
from kern.kern_synch import kpause
from tests.fs.ext2fs.helpers import (
    MB,
    as_user,
    boot,
    check,
    mkdir,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    umount,
    vnode_of,
    write_file,
)
from tools.lib import libc
from tools.lib.libc import ustr, ustruct
from vfs.buf import B_READ, BO_DONE
from vfs.genfs_io import PGO_CLEANIT, PGO_SYNCIO
from vfs.mount import (
    MNT_FORCE,
    MNT_GETARGS,
    MNT_NOWAIT,
    MNT_RDONLY,
    MNT_WAIT,
    vfs_getopsbyname_nolock,
)
from vfs.namei_h import componentname
from vfs.vfs_bio import getiobuf
from vfs.vfs_mount import do_sys_mount
from vfs.vnode import VS_RECLAIMED, vrele
from vfs.vnode_if import VOP_GETATTR, VOP_LOOKUP, VOP_OPEN, VOP_POLL, VOP_PUTPAGES, VOP_STRATEGY

pytestmark = needs_e2fsprogs


async def mount_errno(path: str, flags: int = 0, data: ctypes.Structure | None = None,
                      retval: list[int] | None = None) -> int:
    """mount(2) of ext2fs /dev/wd0 on ``path``, through do_sys_mount; the errno."""
    if data is None:
        data = ufs_args()
        data.fspec = ustr("/dev/wd0")
    return await do_sys_mount(curlwp(), ustr("ext2fs"), ustr(path), flags, ustruct(data),
                              ctypes.sizeof(data), retval if retval is not None else [0])


def refcount() -> int:
    return vfs_getopsbyname_nolock("ext2fs").vfs_refcount


def test_failed_mounts_give_back_the_file_system_type(tmp_path):
    """Every failed mount drops the reference vfs_getopsbyname took: EBUSY on a
    mount point in use, ENOTDIR on a file, EPERM for a user."""
    img = mkfs(str(tmp_path / "m.img"), 4 * MB)

    async def body():
        check(await mount(img))
        mounted = refcount()
        check(await write_file("/tmp/f", b"x"))
        busy = await mount_errno("/mnt")
        notdir = await mount_errno("/tmp/f")
        async with as_user(100, 100):
            perm = await mount_errno("/tmp")
        after = refcount()
        check(await umount())
        return mounted, (busy, notdir, perm), after, refcount()

    with boot() as k:
        mounted, errors, after, unmounted = k.run(body)
    assert errors == (EBUSY, ENOTDIR, EPERM)
    assert (mounted, after, unmounted) == (1, 1, 0)


def test_getargs_alone_and_its_length(tmp_path):
    img = mkfs(str(tmp_path / "g.img"), 4 * MB)

    async def body():
        check(await mount(img))
        r = [0]
        alone = await mount_errno("/mnt", MNT_GETARGS, ufs_args(), r)
        mixed = await mount_errno("/mnt", MNT_GETARGS | MNT_RDONLY, ufs_args())
        check(await umount())
        return alone, r[0], mixed

    with boot() as k:
        assert k.run(body) == (0, ctypes.sizeof(ufs_args), EINVAL)


def test_unmount_after_a_process_that_sat_in_it_exited(tmp_path):
    """The exited process's current directory is released late (vrele_async);
    vflush flushes those releases first, so nothing holds the mount."""
    img = mkfs(str(tmp_path / "c.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/d"))

        async def child():
            await libc.chdir("/mnt/d")
            return 0

        pid = await libc.fork(child)
        while pid in curmachine().procs:
            await kpause("wait", False, 1, None)
        return await umount()

    with boot() as k:
        assert k.run(body) == 0


def test_statvfs_nowait_answers_from_the_cache(tmp_path):
    """MNT_NOWAIT gives mnt_stat as it was last filled; MNT_WAIT asks the file
    system and refreshes it."""
    img = mkfs(str(tmp_path / "s.img"), 4 * MB)

    async def body():
        check(await mount(img))
        before = (await libc.statvfs1("/mnt", MNT_WAIT)).f_bfree
        check(await write_file("/mnt/big", pattern(256 * 1024)))
        cached = (await libc.statvfs1("/mnt", MNT_NOWAIT)).f_bfree
        now = (await libc.statvfs1("/mnt", MNT_WAIT)).f_bfree
        cached_again = (await libc.statvfs1("/mnt", MNT_NOWAIT)).f_bfree
        listed = [s.f_bfree for s in await libc.getvfsstat(MNT_NOWAIT)
                  if s.f_mntonname == b"/mnt"]
        check(await umount())
        return before, cached, now, cached_again, listed

    with boot() as k:
        before, cached, now, cached_again, listed = k.run(body)
    assert now < before
    assert cached == before
    assert cached_again == listed[0] == now


def test_vnodes_of_a_forced_unmount_are_dead(tmp_path):
    """A referenced vnode outlives a forced unmount as a dead vnode: lookup
    ENOENT, open ENXIO, getattr EBADF, poll reports the events, putpages
    releases the interlock (EFAULT) and strategy completes the buf (EIO)."""
    img = mkfs(str(tmp_path / "d.img"), 4 * MB)

    async def body():
        from vfs.vnode import vattr

        check(await mount(img))
        check(await mkdir("/mnt/d"))
        check(await write_file("/mnt/f", b"data"))
        _, dvp = await vnode_of("/mnt/d")
        _, vp = await vnode_of("/mnt/f")
        check(await umount(flags=MNT_FORCE))
        out = {"state": (dvp.v_state, vp.v_state)}
        out["lookup"] = (await VOP_LOOKUP(dvp, componentname(name="x")))
        out["open"] = await VOP_OPEN(vp, FREAD, NOCRED)
        out["getattr"] = await VOP_GETATTR(vp, vattr(), NOCRED)
        out["poll"] = await VOP_POLL(vp, 0x41)
        await mutex_enter(vp.v_interlock)
        out["putpages"] = await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_SYNCIO)
        out["interlock"] = mutex_owned(vp.v_interlock)
        bp = getiobuf(vp, True)
        bp.b_flags = B_READ
        bp.b_bcount = 512
        bp.b_data = bytearray(512)
        out["strategy"] = await VOP_STRATEGY(vp, bp)
        out["buf"] = (bool(bp.b_oflags & BO_DONE), bp.b_error, bp.b_resid)
        await vrele(vp)
        await vrele(dvp)
        return out

    with boot() as k:
        out = k.run(body)
    assert out == {"state": (VS_RECLAIMED, VS_RECLAIMED), "lookup": (ENOENT, None),
                   "open": ENXIO, "getattr": EBADF, "poll": 0x41, "putpages": EFAULT,
                   "interlock": False, "strategy": EIO, "buf": (True, EIO, 512)}


def test_a_block_device_is_open_once(tmp_path):
    """spec_open: a second open of a block device, or an open of a mounted one,
    is EBUSY; character devices open any number of times."""
    img = mkfs(str(tmp_path / "b.img"), 4 * MB)

    async def errno_of(coro):
        try:
            return await coro
        except SyscallError as e:
            return -e.errno

    async def body():
        check(await mount(img))
        mounted = await errno_of(libc.open("/dev/wd0", O_RDONLY))
        check(await umount())
        fd = await libc.open("/dev/wd0", O_RDONLY)
        second = await errno_of(libc.open("/dev/wd0", O_RDONLY))
        await libc.close(fd)
        again = await libc.open("/dev/wd0", O_RDONLY)
        await libc.close(again)
        raw = [await libc.open("/dev/rwd0", O_RDONLY) for _ in range(2)]
        for r in raw:
            await libc.close(r)
        return mounted, second, len(raw)

    with boot() as k:
        assert k.run(body) == (-EBUSY, -EBUSY, 2)


@pytest.mark.parametrize("target,errno", [(".", "EISDIR"), ("..", "EINVAL")])
def test_rename_onto_dot_and_dotdot(target, errno):
    """do_sys_renameat: onto "." is EISDIR, onto ".." EINVAL (on the root file system)."""
    from kern import errno as errnos

    async def body():
        fd = await libc.open("/tmp/src", O_WRONLY | O_CREAT, 0o644)
        await libc.close(fd)
        try:
            await libc.rename("/tmp/src", f"/tmp/{target}")
        except SyscallError as e:
            return e.errno
        return 0

    with boot() as k:
        assert k.run(body) == getattr(errnos, errno)


def test_descriptor_on_a_device_node_of_a_force_unmounted_fs(tmp_path):
    """A character device node on ext2, open, then the file system is
    force-unmounted: the vnode keeps its type but lost its mount.  Every call
    on the descriptor answers an errno (fstatvfs: EOPNOTSUPP, the dead
    mount's statvfs) and the kernel stays up."""
    from kern.errno import EOPNOTSUPP
    from kern.fcntl import O_RDWR
    from kern.machine.testing import errno_of
    from kern.types_dev import makedev
    from tests.fs.ext2fs.helpers import mknod
    from vfs.mount import MNT_FORCE
    from vfs.stat import S_IFCHR

    img = mkfs(str(tmp_path / "d.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await mknod("/mnt/rfss0", S_IFCHR | 0o666, makedev(163, 0)))
        fd = await libc.open("/mnt/rfss0", O_RDWR)
        check(await umount("/mnt", MNT_FORCE))
        out = {"fstatvfs": await errno_of(libc.fstatvfs(fd)),
               "fstat": await errno_of(libc.fstat(fd)),
               "fchdir": await errno_of(libc.fchdir(fd)),
               "fchmod": await errno_of(libc.fchmod(fd, 0o600)),
               "read": await errno_of(libc.read(fd, 1)),
               "close": await errno_of(libc.close(fd))}
        return out

    with boot() as k:
        out = k.run(body)
        assert k.state == "running"
    assert out == {"fstatvfs": EOPNOTSUPP, "fstat": EBADF, "fchdir": ENOTDIR,
                   "fchmod": EBADF, "read": EIO, "close": 0}
