"""rename, link, unlink, rmdir in all their cases; link counts; hashed directories; rev 0."""

from __future__ import annotations

import re
import subprocess

from kern.errno import EEXIST, EINVAL, EISDIR, EMLINK, ENOENT, ENOTDIR, ENOTEMPTY, EPERM

from .helpers import (
    MB,
    check,
    debugfs,
    debugfs_cat,
    link,
    mkdir,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    populate,
    read_file,
    readdir,
    rename,
    rmdir,
    run_clean,
    stat,
    umount,
    unlink,
    write_file,
)

pytestmark = needs_e2fsprogs


async def nlink(path: str) -> int:
    error, st = await stat(path, follow=False)
    check(error, path)
    return st.st_nlink


async def ino(path: str) -> int:
    error, st = await stat(path, follow=False)
    check(error, path)
    return st.st_ino


def test_rename_cases(tmp_path):
    img = mkfs(str(tmp_path / "r.img"), 8 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/a"))
        check(await mkdir("/mnt/b"))
        check(await mkdir("/mnt/a/sub"))
        check(await mkdir("/mnt/a/sub/deeper"))
        check(await write_file("/mnt/f1", b"one"))
        check(await write_file("/mnt/f2", b"two"))
        assert await nlink("/mnt") == 5  # ., .., lost+found, a, b
        assert await nlink("/mnt/a") == 3

        # File over file: the old target goes away.
        i1 = await ino("/mnt/f1")
        check(await rename("/mnt/f1", "/mnt/f2"))
        assert await ino("/mnt/f2") == i1
        assert (await stat("/mnt/f1"))[0] == ENOENT
        assert await read_file("/mnt/f2") == (0, b"one")

        # A file into another directory.
        check(await rename("/mnt/f2", "/mnt/b/moved"))
        assert await read_file("/mnt/b/moved") == (0, b"one")

        # A directory across directories: ".." follows, link counts move.
        check(await rename("/mnt/a/sub", "/mnt/b/sub"))
        assert await nlink("/mnt/a") == 2 and await nlink("/mnt/b") == 3
        assert await ino("/mnt/b/sub/..") == await ino("/mnt/b")
        assert await ino("/mnt/b/sub/deeper/../..") == await ino("/mnt/b")

        # A directory over an empty directory, and over a non-empty one.
        check(await mkdir("/mnt/a/empty"))
        check(await mkdir("/mnt/c"))
        check(await mkdir("/mnt/c/x"))
        assert await rename("/mnt/b/sub", "/mnt/c") == ENOTEMPTY
        check(await rename("/mnt/b/sub", "/mnt/a/empty"))
        assert await nlink("/mnt/a") == 3 and await nlink("/mnt/b") == 2
        assert await ino("/mnt/a/empty/..") == await ino("/mnt/a")

        # Type mismatches.
        check(await write_file("/mnt/file", b"f"))
        assert await rename("/mnt/file", "/mnt/c") == EISDIR
        assert await rename("/mnt/c", "/mnt/file") == ENOTDIR

        # Into its own subtree, or onto itself.
        assert await rename("/mnt/a", "/mnt/a/empty/deeper/a") == EINVAL
        assert await rename("/mnt/a", "/mnt/a/empty/new") == EINVAL
        check(await rename("/mnt/a", "/mnt/a"))
        # Two names of one file: NetBSD removes the source name (genfs_rename;
        # t_vnops rename_reg_nodir), where POSIX would do nothing.
        check(await link("/mnt/file", "/mnt/file2"))
        check(await rename("/mnt/file", "/mnt/file2"))
        assert (await stat("/mnt/file"))[0] == ENOENT
        assert await nlink("/mnt/file2") == 1
        assert await rename("/mnt/nothere", "/mnt/x") == ENOENT
        # Same directory, new name, for a directory.
        check(await rename("/mnt/c", "/mnt/c2"))
        assert await nlink("/mnt/c2") == 3 and await ino("/mnt/c2/x/..") == await ino("/mnt/c2")
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/b/moved") == b"one"
    ls = debugfs(img, "ls /a/empty")
    assert "deeper" in ls


def free_counts(img: str) -> tuple[int, int]:
    """(free blocks, free inodes) as the super block of ``img`` says."""
    out = debugfs(img, "stats")
    return (int(re.search(r"^Free blocks:\s+(\d+)", out, re.M).group(1)),
            int(re.search(r"^Free inodes:\s+(\d+)", out, re.M).group(1)))


def test_links_and_removal(tmp_path):
    img = mkfs(str(tmp_path / "l.img"), 8 * MB, 4096)
    data = pattern(200_000, 9)
    free_before = free_counts(img)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/orig", data))
        check(await mkdir("/mnt/d"))
        check(await link("/mnt/orig", "/mnt/d/second"))
        check(await link("/mnt/orig", "/mnt/third"))
        assert await nlink("/mnt/orig") == 3
        assert await link("/mnt/orig", "/mnt/third") == EEXIST
        assert await link("/mnt/d", "/mnt/dirlink") == EPERM
        check(await unlink("/mnt/orig"))
        assert await nlink("/mnt/third") == 2
        assert await read_file("/mnt/d/second") == (0, data)
        assert await unlink("/mnt/d") == EPERM
        assert await rmdir("/mnt/third") == ENOTDIR
        assert await rmdir("/mnt/d") == ENOTEMPTY
        check(await unlink("/mnt/d/second"))
        check(await rmdir("/mnt/d"))
        check(await unlink("/mnt/third"))
        error, ents = await readdir("/mnt")
        assert sorted(e[1] for e in ents) == [".", "..", "lost+found"]
        check(await umount())

    run_clean(img, body)
    # Everything made was removed: every block and inode is free again.
    assert free_counts(img) == free_before


def test_unlinked_file_stays_readable_while_open(tmp_path):
    img = mkfs(str(tmp_path / "o.img"), 4 * MB, 1024)

    async def body():
        from kern.subr_uio import UIO_READ, UIO_SYSSPACE
        from vfs.vfs_vnops import vn_rdwr
        from vfs.vnode import vrele

        from .helpers import vnode_of

        check(await mount(img))
        check(await write_file("/mnt/tmp", b"still here"))
        error, vp = await vnode_of("/mnt/tmp")
        check(await unlink("/mnt/tmp"))
        buf = bytearray(10)
        check(await vn_rdwr(UIO_READ, vp, buf, 10, 0, UIO_SYSSPACE, 0, None, None, None))
        assert bytes(buf) == b"still here"
        await vrele(vp)  # the last reference: the inode and its blocks go
        check(await umount())

    run_clean(img, body)


def test_link_count_limit(tmp_path):
    """EMLINK at EXT2_LINK_MAX (checked on a directory's subdirectory count)."""
    img = mkfs(str(tmp_path / "m.img"), 4 * MB, 1024)

    async def body():
        from .helpers import vnode_of

        check(await mount(img))
        check(await mkdir("/mnt/d"))
        error, vp = await vnode_of("/mnt/d")
        ip = vp.v_data
        ip.i_e2fs_nlink = 32000  # pretend: as many subdirectories as allowed
        result = await mkdir("/mnt/d/one")
        ip.i_e2fs_nlink = 2
        from vfs.vnode import vrele

        await vrele(vp)
        check(await umount())
        return result

    assert run_clean(img, body) == EMLINK


def test_hashed_directory_becomes_linear(tmp_path):
    root = tmp_path / "r"
    populate(str(root), {"big": {f"name-{i:04d}-with-padding": str(i).encode()
                                 for i in range(400)}})
    img = mkfs(str(tmp_path / "h.img"), 8 * MB, 1024, root=str(root))
    subprocess.run(["e2fsck", "-fyD", img], capture_output=True)
    assert "Flags: 0x1000" in debugfs(img, "stat /big")  # indexed

    async def body():
        check(await mount(img))
        error, ents = await readdir("/mnt/big")
        assert len(ents) == 402
        assert await read_file("/mnt/big/name-0123-with-padding") == (0, b"123")
        for i in range(0, 400, 2):
            check(await unlink(f"/mnt/big/name-{i:04d}-with-padding"))
        for i in range(40):
            check(await write_file(f"/mnt/big/new-{i}", b"new"))
        check(await umount())

    run_clean(img, body)
    assert "Flags: 0x0" in debugfs(img, "stat /big")
    assert debugfs_cat(img, "/big/name-0123-with-padding") == b"123"
    assert debugfs_cat(img, "/big/new-39") == b"new"


def test_revision_0_image(tmp_path):
    """mke2fs -r 0: no file types in entries, 128-byte inodes, every group has a backup."""
    root = tmp_path / "r"
    populate(str(root), {"f": b"old", "d": {"g": b"older"}})
    img = mkfs(str(tmp_path / "z.img"), 12 * MB, 1024, root=str(root), extra=("-r", "0"))

    async def body():
        check(await mount(img))
        assert await read_file("/mnt/d/g") == (0, b"older")
        error, ents = await readdir("/mnt")
        assert {e[2] for e in ents} == {0}  # DT_UNKNOWN
        check(await mkdir("/mnt/new"))
        check(await write_file("/mnt/new/h", pattern(300_000)))
        check(await rename("/mnt/d", "/mnt/new/d"))
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/new/h") == pattern(300_000)
