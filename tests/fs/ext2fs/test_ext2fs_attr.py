"""Permissions, owners, times, device nodes, read-only mounts, file handles."""

from __future__ import annotations

import hashlib

from kern.errno import EACCES, EFTYPE, EPERM, EROFS
from kern.kern_time import time_second
from kern.types_dev import makedev
from vfs.stat import S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT
from vfs.vnode import VEXEC, VREAD, VWRITE

from .helpers import (
    MB,
    access,
    as_user,
    assert_clean,
    boot,
    check,
    debugfs,
    link,
    mkdir,
    mkfs,
    mknod,
    mount,
    needs_e2fsprogs,
    populate,
    read_file,
    readlink,
    rename,
    rmdir,
    run_clean,
    set_attr,
    stat,
    symlink,
    truncate,
    umount,
    unlink,
    write_file,
)

pytestmark = needs_e2fsprogs


def test_permissions_owner_group_other_root(tmp_path):
    img = mkfs(str(tmp_path / "p.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/pub"))
        check(await set_attr("/mnt/pub", mode=0o777))  # past the umask
        check(await write_file("/mnt/secret", b"s", mode=0o600))
        check(await write_file("/mnt/group", b"g", mode=0o640))
        check(await set_attr("/mnt/group", gid=100))
        check(await write_file("/mnt/noexec", b"n", mode=0o644))
        # Root passes the bits, but not the execute bit of a file without any.
        assert await access("/mnt/secret", VREAD | VWRITE) == 0
        assert await access("/mnt/noexec", VEXEC) == EACCES
        async with as_user(1000, 1000):
            assert await access("/mnt/secret", VREAD) == EACCES
            assert (await read_file("/mnt/secret"))[0] == EACCES
            assert await access("/mnt/group", VREAD) == EACCES
            assert await write_file("/mnt/mine", b"x") == EACCES  # / is 0755 root
            check(await write_file("/mnt/pub/mine", b"x", mode=0o600))
            st = (await stat("/mnt/pub/mine"))[1]
            assert (st.st_uid, st.st_gid) == (1000, 0)  # the directory's group
            assert await set_attr("/mnt/secret", mode=0o666) == EPERM
            check(await set_attr("/mnt/pub/mine", mode=0o640))
            assert await set_attr("/mnt/pub/mine", mode=0o1640) == EFTYPE
            assert await set_attr("/mnt/pub/mine", uid=0) == EPERM
            assert await set_attr("/mnt/pub/mine", gid=100) == EPERM
        async with as_user(1001, 5, (100,)):
            assert await access("/mnt/group", VREAD) == 0
            assert await access("/mnt/group", VWRITE) == EACCES
            assert (await read_file("/mnt/pub/mine"))[0] == EACCES
        async with as_user(1000, 1000, (100,)):
            check(await set_attr("/mnt/pub/mine", gid=100))
        check(await umount())

    run_clean(img, body)


def test_sticky_directory(tmp_path):
    img = mkfs(str(tmp_path / "s.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/tmp", 0o777))
        check(await set_attr("/mnt/tmp", mode=0o1777))
        async with as_user(1000, 1000):
            check(await write_file("/mnt/tmp/a", b"a"))
        async with as_user(1001, 1001):
            assert await unlink("/mnt/tmp/a") == EPERM
            assert await rename("/mnt/tmp/a", "/mnt/tmp/b") == EPERM
        async with as_user(1000, 1000):
            check(await unlink("/mnt/tmp/a"))
        check(await umount())

    run_clean(img, body)


def test_times_come_from_the_machine_clock(tmp_path):
    img = mkfs(str(tmp_path / "t.img"), 4 * MB)

    async def body():
        from kern import kpause

        check(await mount(img))
        t0 = time_second()
        check(await write_file("/mnt/f", b"one"))
        st = (await stat("/mnt/f"))[1]
        assert st.st_mtimespec.tv_sec == t0 and st.st_ctimespec.tv_sec == t0
        await kpause("wait", False, 5 * 100, None)  # five seconds of virtual time
        error, _ = await read_file("/mnt/f")
        st2 = (await stat("/mnt/f"))[1]
        assert st2.st_atimespec.tv_sec == t0 + 5 and st2.st_mtimespec.tv_sec == t0
        await kpause("wait", False, 5 * 100, None)
        check(await write_file("/mnt/f", b"two", create=False))
        st3 = (await stat("/mnt/f"))[1]
        assert st3.st_mtimespec.tv_sec == t0 + 10
        # utimes: an explicit time.
        check(await set_attr("/mnt/f", mtime=(1_000_000_000, 5), atime=(900_000_000, 0)))
        st4 = (await stat("/mnt/f"))[1]
        assert (st4.st_mtimespec.tv_sec, st4.st_mtimespec.tv_nsec) == (1_000_000_000, 5)
        assert st4.st_atimespec.tv_sec == 900_000_000
        assert st4.st_ctimespec.tv_sec == t0 + 10
        check(await umount())
        return t0

    with boot() as k:
        k.run(body)
    out = debugfs(img, "stat /f")
    assert "mtime: 0x3b9aca00:00000014" in out  # 1e9 s, 5 ns (<< 2)
    assert_clean(img)


def test_device_nodes_and_fifos(tmp_path):
    img = mkfs(str(tmp_path / "n.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await mknod("/mnt/blk", S_IFBLK | 0o640, makedev(17, 3)))
        check(await mknod("/mnt/chr", S_IFCHR | 0o600, makedev(300, 70000)))
        check(await mknod("/mnt/fifo", S_IFIFO | 0o644, 0))
        b = (await stat("/mnt/blk"))[1]
        c = (await stat("/mnt/chr"))[1]
        f = (await stat("/mnt/fifo"))[1]
        assert b.st_mode & S_IFMT == S_IFBLK and b.st_rdev == makedev(17, 3)
        assert c.st_mode & S_IFMT == S_IFCHR and c.st_rdev == makedev(300, 70000)
        assert f.st_mode & S_IFMT == S_IFIFO
        check(await umount())
        check(await mount(None))
        b = (await stat("/mnt/blk"))[1]
        c = (await stat("/mnt/chr"))[1]
        assert b.st_rdev == makedev(17, 3) and c.st_rdev == makedev(300, 70000)
        check(await unlink("/mnt/fifo"))
        check(await umount())

    run_clean(img, body)
    out = debugfs(img, "stat /blk")
    assert "Type: block special" in out and "Device major/minor number: 17:03" in out
    out = debugfs(img, "stat /chr")
    assert "Device major/minor number: 300:70000" in out


def test_read_only_mount(tmp_path):
    root = tmp_path / "r"
    populate(str(root), {"f": b"data", "d": {"x": b"x"}})
    img = mkfs(str(tmp_path / "ro.img"), 4 * MB, root=str(root))
    before = hashlib.sha256(open(img, "rb").read()).hexdigest()

    async def body():
        check(await mount(img, ro=True))
        assert await read_file("/mnt/f") == (0, b"data")
        assert await write_file("/mnt/f", b"x", create=False) == EROFS
        assert await write_file("/mnt/new", b"x") == EROFS
        assert await mkdir("/mnt/nd") == EROFS
        assert await unlink("/mnt/f") == EROFS
        assert await rmdir("/mnt/d") == EROFS
        assert await rename("/mnt/f", "/mnt/g") == EROFS
        assert await symlink("f", "/mnt/l") == EROFS
        assert await link("/mnt/f", "/mnt/l") == EROFS
        assert await truncate("/mnt/f", 0) == EROFS
        assert await set_attr("/mnt/f", mode=0o600) == EROFS
        assert await access("/mnt/f", VWRITE) == EROFS
        check(await umount())

    with boot() as k:
        k.run(body)
    # Nothing was written: not even the mount count.
    assert hashlib.sha256(open(img, "rb").read()).hexdigest() == before


def test_mount_count_and_clean_flag(tmp_path):
    from .helpers import sb_field

    img = mkfs(str(tmp_path / "c.img"), 4 * MB)
    count0 = sb_field(img, 0x34, "<H")

    async def body():
        check(await mount(img))
        return 0

    with boot() as k:
        k.run(body)
        assert sb_field(img, 0x3A, "<H") & 1 == 0  # mounted read-write: not clean
        assert sb_field(img, 0x34, "<H") == count0 + 1
        assert sb_field(img, 0x2C, "<I") == k.run(_now)  # last mount time
        k.run(umount)
    assert sb_field(img, 0x3A, "<H") == 1  # clean again
    assert_clean(img)


async def _now():
    return time_second()


def test_file_handles(tmp_path):
    img = mkfs(str(tmp_path / "h.img"), 4 * MB)

    async def body():
        from kern.errno import ESTALE
        from vfs.mount import VFS_FHTOVP, VFS_VPTOFH
        from vfs.vnode import vrele

        from .helpers import mount_of, vnode_of

        check(await mount(img))
        check(await write_file("/mnt/f", b"handle"))
        error, vp = await vnode_of("/mnt/f")
        fh = bytearray(16)
        error, n = await VFS_VPTOFH(vp, fh, len(fh))
        check(error)
        await vrele(vp)
        mp = await mount_of()
        error, vp2 = await VFS_FHTOVP(mp, fh, 0)
        check(error)
        assert vp2 is vp
        await vrele(vp2)
        check(await unlink("/mnt/f"))
        error, _ = await VFS_FHTOVP(mp, fh, 0)
        assert error == ESTALE
        check(await umount())

    with boot() as k:
        k.run(body)


def test_readlink_and_symlink_lengths(tmp_path):
    img = mkfs(str(tmp_path / "l.img"), 4 * MB)
    targets = ["a", "x" * 59, "y" * 60, "z" * 1000]

    async def body():
        check(await mount(img))
        for i, t in enumerate(targets):
            check(await symlink(t, f"/mnt/l{i}"))
        check(await umount())
        check(await mount(None))
        out = [await readlink(f"/mnt/l{i}") for i in range(len(targets))]
        check(await umount())
        return out

    with boot() as k:
        out = k.run(body)
    assert out == [(0, t.encode()) for t in targets]
    assert_clean(img)


def test_update_read_write_to_read_only(tmp_path):
    from vfs.mount import MNT_RDONLY, MNT_UPDATE

    from .helpers import sb_field

    img = mkfs(str(tmp_path / "u.img"), 4 * MB)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", b"written"))
        # mount -u -o ro: everything is written, the file system is clean again.
        check(await mount(None, flags=MNT_UPDATE | MNT_RDONLY))
        assert sb_field(img, 0x3A, "<H") == 1
        assert await write_file("/mnt/g", b"x") == EROFS
        assert await read_file("/mnt/f") == (0, b"written")
        check(await umount())

    run_clean(img, body)


def test_vop_read_of_symlinks(tmp_path):
    """VOP_READ of a symlink vnode gives its target, fast or slow."""
    img = mkfs(str(tmp_path / "s.img"), 4 * MB)

    async def body():
        from kern.subr_uio import UIO_READ, UIO_SYSSPACE
        from vfs.vfs_vnops import vn_rdwr
        from vfs.vnode import vrele

        from .helpers import vnode_of

        check(await mount(img))
        out = []
        for name, target in (("fast", "short/target"), ("slow", "t" * 300)):
            check(await symlink(target, "/mnt/" + name))
            error, vp = await vnode_of("/mnt/" + name, follow=False)
            buf = bytearray(400)
            resid = [0]
            check(await vn_rdwr(UIO_READ, vp, buf, 400, 0, UIO_SYSSPACE, 0, None, resid,
                                None))
            out.append(bytes(buf[:400 - resid[0]]))
            await vrele(vp)
        check(await umount())
        return out

    assert run_clean(img, body) == [b"short/target", b"t" * 300]
