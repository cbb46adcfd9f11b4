"""ext2fs on images made by the host's mke2fs: reading them, writing them, e2fsck's verdict."""

from __future__ import annotations

import re

import pytest

from kern.errno import EEXIST, EFBIG, EIO, EISDIR, ENOENT, ENOSPC, ENOTDIR, ENOTEMPTY
from vfs.dirent import DT_DIR, DT_LNK, DT_REG
from vfs.mount import MNT_ASYNC

from .helpers import (
    MB,
    assert_clean,
    boot,
    check,
    debugfs,
    debugfs_cat,
    e2fsck,
    fsync,
    link,
    mkdir,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    populate,
    read_file,
    readdir,
    readlink,
    rename,
    rmdir,
    run_clean,
    stat,
    statvfs,
    symlink,
    sync,
    truncate,
    umount,
    unlink,
    write_file,
)

pytestmark = needs_e2fsprogs

TREE = {
    "small.txt": b"hello, ext2\n",
    "empty": b"",
    "twoblocks": pattern(1500, 1),
    "indirect.bin": pattern(300 * 1024, 2),        # single indirect with 1 KiB blocks
    "dind.bin": pattern(1200 * 1024, 3),           # double indirect with 1 KiB blocks
    "dir": {
        "a": b"a" * 10,
        "sub": {"deep.txt": b"deep\n"},
    },
    "fastlink": ("symlink", "small.txt"),
    "slowlink": ("symlink", "dir/" + "x" * 90 + "/../a"),
    "hardlink": ("link", "small.txt"),
}


@pytest.fixture(params=[1024, 4096], ids=["1k", "4k"])
def image(request, tmp_path):
    root = tmp_path / "root"
    populate(str(root), TREE)
    return mkfs(str(tmp_path / "fs.img"), 16 * MB, request.param, root=str(root))


def test_read_mke2fs_image(image):
    async def body():
        check(await mount(image, ro=True), "mount")
        for name in ("small.txt", "empty", "twoblocks", "indirect.bin", "dind.bin",
                     "dir/a", "dir/sub/deep.txt"):
            error, data = await read_file("/mnt/" + name)
            check(error, name)
            want = TREE[name] if "/" not in name else (
                TREE["dir"]["a"] if name == "dir/a" else b"deep\n")
            assert data == want, name
        # Reads in the middle of blocks and across them.
        error, data = await read_file("/mnt/dind.bin", 5000, 1023)
        assert data == TREE["dind.bin"][1023:6023]
        error, data = await read_file("/mnt/small.txt", 100, 1000)
        assert (error, data) == (0, b"")
        assert (await readlink("/mnt/fastlink")) == (0, b"small.txt")
        assert (await readlink("/mnt/slowlink")) == (0, ("dir/" + "x" * 90 + "/../a").encode())
        error, data = await read_file("/mnt/fastlink")
        assert data == TREE["small.txt"]
        error, st = await stat("/mnt/small.txt")
        assert st.st_nlink == 2 and st.st_size == 12
        error, st2 = await stat("/mnt/hardlink")
        assert st2.st_ino == st.st_ino
        error, st = await stat("/mnt/dir")
        assert st.st_nlink == 3
        error, ents = await readdir("/mnt")
        check(error)
        names = {n: t for _, n, t in ents}
        assert names["."] == DT_DIR and names[".."] == DT_DIR
        assert names["dir"] == DT_DIR and names["small.txt"] == DT_REG
        assert names["fastlink"] == DT_LNK and "lost+found" in names
        assert set(names) == set(TREE) | {".", "..", "lost+found"}
        # Small buffers: one entry at a time still gets everything.
        error, ents2 = await readdir("/mnt", bufsize=32)
        assert [e[1] for e in ents2] == [e[1] for e in ents]
        assert (await stat("/mnt/nothere"))[0] == ENOENT
        assert (await stat("/mnt/small.txt/x"))[0] == ENOTDIR
        check(await umount(), "umount")

    run_clean(image, body)


def test_write_sequences_are_e2fsck_clean(image):
    big = pattern(1100 * 1024, 7)

    async def body():
        check(await mount(image), "mount")
        check(await mkdir("/mnt/many"))
        for i in range(60):
            check(await write_file(f"/mnt/many/file{i:03d}", pattern(100 + 37 * i, i)),
                  f"file{i}")
        check(await write_file("/mnt/big", big), "big")
        # Overwrite in the middle, across a block boundary.
        check(await write_file("/mnt/big", b"Z" * 3000, offset=5000, create=False))
        # Append.
        check(await write_file("/mnt/small.txt", b"more\n", append=True, create=False))
        # Deletes, renames, truncates.
        for i in range(0, 60, 3):
            check(await unlink(f"/mnt/many/file{i:03d}"))
        check(await rename("/mnt/many/file001", "/mnt/renamed"))
        check(await rename("/mnt/dir", "/mnt/many/moved"))
        check(await truncate("/mnt/dind.bin", 70 * 1024 + 3))
        check(await truncate("/mnt/indirect.bin", 0))
        check(await truncate("/mnt/twoblocks", 4 * MB))  # grows: a hole
        check(await symlink("many/moved/a", "/mnt/newlink"))
        check(await symlink("/" + "y" * 200, "/mnt/longlink"))
        check(await link("/mnt/renamed", "/mnt/many/alias"))
        check(await mkdir("/mnt/emptydir"))
        check(await mkdir("/mnt/gone"))
        check(await rmdir("/mnt/gone"))
        error, data = await read_file("/mnt/big")
        assert data == big[:5000] + b"Z" * 3000 + big[8000:]
        check(await umount(), "umount")

    run_clean(image, body)
    assert debugfs_cat(image, "/big") == big[:5000] + b"Z" * 3000 + big[8000:]
    assert debugfs_cat(image, "/small.txt") == TREE["small.txt"] + b"more\n"
    assert debugfs_cat(image, "/renamed") == pattern(100 + 37, 1)
    assert debugfs_cat(image, "/many/alias") == pattern(100 + 37, 1)
    assert debugfs_cat(image, "/many/moved/sub/deep.txt") == b"deep\n"
    assert debugfs_cat(image, "/dind.bin") == TREE["dind.bin"][:70 * 1024 + 3]
    assert debugfs_cat(image, "/indirect.bin") == b""
    tb = debugfs_cat(image, "/twoblocks")
    assert len(tb) == 4 * MB and tb[:1500] == TREE["twoblocks"] and tb[1500:] == bytes(
        4 * MB - 1500)
    assert 'Fast link dest: "many/moved/a"' in debugfs(image, "stat /newlink")
    assert debugfs_cat(image, "/longlink") == ("/" + "y" * 200).encode()
    assert "file000" not in debugfs(image, "ls -l /many")
    for i in range(2, 60, 3):
        assert debugfs_cat(image, f"/many/file{i:03d}") == pattern(100 + 37 * i, i)


def test_triple_indirect_sparse_file(tmp_path):
    """1 KiB blocks: a byte at 70 MiB needs the triple indirect block."""
    img = mkfs(str(tmp_path / "t.img"), 8 * MB, 1024)
    off = 70 * MB

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/sparse", b"tail", offset=off))
        check(await write_file("/mnt/sparse", b"head", offset=0, create=False))
        error, data = await read_file("/mnt/sparse", 4, off)
        assert data == b"tail"
        error, st = await stat("/mnt/sparse")
        assert st.st_size == off + 4
        check(await umount())
        check(await mount(None))
        error, data = await read_file("/mnt/sparse", 8, off - 4)
        assert data == bytes(4) + b"tail"
        check(await truncate("/mnt/sparse", 5))
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/sparse") == b"head\0"


def test_efbig_past_max_file_size(tmp_path):
    img = mkfs(str(tmp_path / "t.img"), 4 * MB, 1024, extra=("-r", "0"))

    async def body():
        check(await mount(img))
        assert await write_file("/mnt/f", b"x", offset=1 << 40) == EFBIG
        # Reading there is EFBIG too, not end of file (ext2fs_read).
        assert await read_file("/mnt/f", 1, 1 << 40) == (EFBIG, b"")
        check(await umount())

    run_clean(img, body)


def test_reserved_blocks_are_for_root_and_the_kernel(tmp_path):
    """A user's write stops at the reserve; a write the kernel makes for itself
    (no cred, as vn_rdwr callers may pass) may use it, as root's may.  The
    user's write fails as a whole: as NetBSD's ext2fs_write, the file is
    truncated back to its old size, giving back every block it took."""
    img = mkfs(str(tmp_path / "r.img"), 4 * MB, 1024, extra=("-m", "50"))
    more = pattern(64 * 1024, 5)

    async def body():
        from kern.subr_uio import UIO_SYSSPACE, UIO_WRITE
        from vfs.vfs_vnops import vn_rdwr
        from vfs.vnode import vrele

        from .helpers import as_user, set_attr, vnode_of

        check(await mount(img))
        check(await mkdir("/mnt/pub"))
        check(await set_attr("/mnt/pub", mode=0o777))
        async with as_user(1000, 1000):
            assert await write_file("/mnt/pub/u", pattern(3 * MB)) == ENOSPC
        size = (await stat("/mnt/pub/u"))[1].st_size
        error, vp = await vnode_of("/mnt/pub/u")
        check(error)
        check(await vn_rdwr(UIO_WRITE, vp, bytearray(more), len(more), size, UIO_SYSSPACE,
                            0, None, None, None), "kernel write into the reserve")
        await vrele(vp)
        check(await write_file("/mnt/root", more), "root's write into the reserve")
        error, data = await read_file("/mnt/pub/u")
        check(await umount())
        return size, data

    size, data = run_clean(img, body)
    assert size == 0 and data == more


def test_blocks_follow_each_other_across_the_indirect_block(tmp_path):
    """ext2fs_balloc's hints: the indirect block goes right after block 11 and
    block 12 right after the indirect block."""
    img = mkfs(str(tmp_path / "a.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(14 * 1024)))
        check(await umount())

    run_clean(img, body)
    out = debugfs(img, "stat /f")
    m = re.search(r"\(0-11\):(\d+)-(\d+), \(IND\):(\d+), \(12-13\):(\d+)-(\d+)", out)
    assert m, out
    first, last, ind, b12, b13 = map(int, m.groups())
    assert (last, ind, b12, b13) == (first + 11, first + 12, first + 13, first + 14)


def test_directory_growth_and_shrink(tmp_path):
    """Enough names to spread a directory over many blocks, then remove them all."""
    img = mkfs(str(tmp_path / "d.img"), 8 * MB, 1024)
    names = [f"entry-with-a-longish-name-{i:04d}" for i in range(300)]

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/d"))
        for n in names:
            check(await write_file("/mnt/d/" + n, n.encode()))
        error, ents = await readdir("/mnt/d", bufsize=512)
        check(error)
        assert sorted(e[1] for e in ents) == sorted(names + [".", ".."])
        assert (await mkdir("/mnt/d/" + names[5])) == EEXIST
        assert (await rmdir("/mnt/d")) == ENOTEMPTY
        for n in names[::2]:
            check(await unlink("/mnt/d/" + n))
        check(await umount())
        check(await mount(None))
        for n in names[1::2]:
            error, data = await read_file("/mnt/d/" + n)
            assert data == n.encode()
            check(await unlink("/mnt/d/" + n))
        check(await rmdir("/mnt/d"))
        check(await umount())

    run_clean(img, body)


def test_statvfs_and_free_counts(tmp_path):
    img = mkfs(str(tmp_path / "s.img"), 8 * MB, 1024)

    async def body():
        check(await mount(img))
        error, before = await statvfs("/mnt")
        check(error)
        assert before.f_bsize == 1024 and before.f_iosize == 1024
        assert before.f_namemax == 255
        assert bytes(before.f_fstypename) == b"ext2fs"
        check(await write_file("/mnt/f", pattern(100 * 1024)))
        await sync()
        error, after = await statvfs("/mnt")
        # 100 data blocks and one indirect block.
        assert before.f_bfree - after.f_bfree == 101
        assert before.f_ffree - after.f_ffree == 1
        check(await unlink("/mnt/f"))
        error, again = await statvfs("/mnt")
        assert again.f_bfree == before.f_bfree and again.f_ffree == before.f_ffree
        check(await umount())

    run_clean(img, body)


def test_sync_leaves_a_consistent_image_while_mounted(tmp_path):
    img = mkfs(str(tmp_path / "m.img"), 8 * MB, 4096)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/x"))
        check(await write_file("/mnt/x/f", pattern(300 * 1024)))
        await sync()
        return 0

    with boot() as k:
        k.run(body)
        # The machine still has it mounted: its image is consistent but not clean.
        rc, out = e2fsck(img)
        assert rc == 0, out
        assert debugfs_cat(img, "/x/f") == pattern(300 * 1024)
        k.run(umount)
    assert_clean(img)


def test_fsync_writes_data_and_inode(tmp_path):
    img = mkfs(str(tmp_path / "f.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", b"synced data"))
        check(await fsync("/mnt/f"))
        return 0

    with boot() as k:
        k.run(body)
        assert debugfs_cat(img, "/f") == b"synced data"
        k.run(umount)
    assert_clean(img)


@pytest.mark.parametrize("length", [0, 3000])
def test_truncate_writes_the_cut_inode_before_freeing(tmp_path, length):
    """Shrinking a file writes its inode with the cut pointers to the disk at
    once (ext2fs_truncate's UPDATE_WAIT), before the freed blocks go back to
    the bitmaps as delayed writes: the image on the host, read while the
    machine still runs (a power cut now), already has the short file."""
    img = mkfs(str(tmp_path / "t.img"), 4 * MB, 1024)
    data = pattern(40 * 1024)  # direct blocks and a single indirect one

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", data))
        await sync()
        check(await truncate("/mnt/f", length))
        return 0

    with boot() as k:
        k.run(body)
        assert debugfs_cat(img, "/f") == data[:length]
        k.run(umount)
    assert_clean(img)


def test_truncate_on_an_async_mount_delays_the_inode(tmp_path):
    """On an MNT_ASYNC mount ext2fs_truncate's UPDATE_WAIT is a delayed write,
    as in ext2fs_inode.c 1.82 (kemu's bwrite delays it, as vfs_bio.c's): while
    the machine runs the image still has the long file; the unmount writes
    the short one."""
    img = mkfs(str(tmp_path / "a.img"), 4 * MB, 1024)
    data = pattern(40 * 1024)

    async def body():
        check(await mount(img, flags=MNT_ASYNC))
        check(await write_file("/mnt/f", data))
        await sync()
        check(await truncate("/mnt/f", 0))
        return 0

    with boot() as k:
        k.run(body)
        assert debugfs_cat(img, "/f") == data
        k.run(umount)
    assert debugfs_cat(img, "/f") == b""
    assert_clean(img)


def test_io_sync_read_keeps_the_read_error(tmp_path):
    """A read with IO_SYNC whose page read fails answers the read's EIO even
    though the inode update after it succeeds (ext2fs_post_read_update)."""
    img = mkfs(str(tmp_path / "r.img"), 4 * MB, 1024)

    async def body():
        import kern
        from fs.ext2fs.ufs_inode import IN_ACCESS, IN_ACCESSED, IN_MODIFIED, VTOI
        from kern.subr_uio import UIO_READ, UIO_SYSSPACE
        from vfs.vfs_vnops import vn_rdwr
        from vfs.vnode import IO_SYNC, vrele

        from .helpers import _cred, vnode_of

        check(await mount(img))
        check(await write_file("/mnt/f", pattern(8192)))
        check(await umount())
        check(await mount(None))
        error, vp = await vnode_of("/mnt/f")  # its inode block is now cached
        check(error)
        buf = bytearray(8192)
        m = kern.curmachine()
        with m.faults.inject("disk.read") as f:  # every read from the disk
            error = await vn_rdwr(UIO_READ, vp, buf, 8192, 0, UIO_SYSSPACE, IO_SYNC,
                                  _cred(), [0], None)
        nfaults = f.nfaults
        # The update ran and wrote the inode: a failed one leaves IN_MODIFIED.
        flags = VTOI(vp).i_flag & (IN_ACCESS | IN_ACCESSED | IN_MODIFIED)
        await vrele(vp)
        check(await umount())
        return error, nfaults, flags

    with boot() as k:
        error, nfaults, flags = k.run(body)
    assert nfaults >= 1
    assert flags == 0
    assert error == EIO
    assert_clean(img)


def test_rename_and_isdir_errors(tmp_path):
    img = mkfs(str(tmp_path / "r.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await mkdir("/mnt/d"))
        check(await write_file("/mnt/f", b"f"))
        assert await rename("/mnt/f", "/mnt/d") == EISDIR
        assert await rename("/mnt/d", "/mnt/f") == ENOTDIR
        check(await umount())

    run_clean(img, body)
