"""ext2fs_alloc.c's group search (ext2fs_hashalloc) and ext2fs_vfree's range check."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fs.ext2fs.ext2fs_alloc import ext2fs_hashalloc

from .helpers import MB, assert_clean, boot, check, mkfs, mount, needs_e2fsprogs, umount


@pytest.mark.parametrize("ncg,cg,order", [
    # first cg; rehash cg+1, +2, +4 ...; then from cg+2 for ncg-2 groups
    (8, 3, [3, 4, 6, 2, 5, 6, 7, 0, 1, 2]),
    (5, 0, [0, 1, 3, 2, 2, 3, 4]),
    (1, 0, [0]),
])
def test_hashalloc_tries_groups_in_netbsds_order(ncg, cg, order):
    """Every group full: the groups ext2fs_hashalloc asks, in order, are 1.46's
    (the brute-force pass starts two after the first group and makes ncg - 2
    tries)."""
    import trio

    asked = []

    async def full(ip, c, pref, size):
        asked.append(c)
        return 0

    ip = SimpleNamespace(i_e2fs=SimpleNamespace(e2fs_ncg=ncg))
    assert trio.run(ext2fs_hashalloc, ip, cg, 0, 1024, full) == 0
    assert asked == order


@needs_e2fsprogs
@pytest.mark.parametrize("ino", [1, 2, 7, 10])
def test_vfree_of_a_reserved_inode_changes_nothing(tmp_path, ino):
    """ext2fs_vfree refuses an inode below EXT2_FIRSTINO (the root and the
    reserved inodes): a console message, the bitmap and counts untouched."""
    img = mkfs(str(tmp_path / "v.img"), 4 * MB, 1024)

    async def body():
        from fs.ext2fs.ext2fs_alloc import ext2fs_vfree
        from fs.ext2fs.ext2fs_dinode import EXT2_IFDIR
        from fs.ext2fs.ufs_inode import VTOI
        from vfs.vnode import vrele

        from .helpers import vnode_of

        check(await mount(img))
        error, vp = await vnode_of("/mnt")
        check(error)
        fs = VTOI(vp).i_e2fs
        before = (fs.e2fs.e2fs_ficount, fs.e2fs_gd[0].ext2bgd_nifree,
                  fs.e2fs_gd[0].ext2bgd_ndirs)
        await ext2fs_vfree(vp, ino, EXT2_IFDIR)
        after = (fs.e2fs.e2fs_ficount, fs.e2fs_gd[0].ext2bgd_nifree,
                 fs.e2fs_gd[0].ext2bgd_ndirs)
        await vrele(vp)
        check(await umount())
        return before, after

    with boot() as k:
        before, after = k.run(body)
        assert f"ext2fs_vfree: range: ino = {ino}" in k.dmesg()
    assert after == before
    assert_clean(img)  # the inode bitmap still has the reserved inodes
