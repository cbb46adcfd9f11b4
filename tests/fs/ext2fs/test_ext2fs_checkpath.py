"""ext2fs_checkpath as VOP_RENAME's "is the target directory in the source's
subtree?" test, called directly (rename(2) answers EINVAL for a directory
moved into itself before VOP_RENAME, in do_sys_rename as in NetBSD 8's
do_sys_renameat).

NetBSD 8's VOP_RENAME on ext2fs (ext2fs_rename.c 1.5, genfs_rename) answers
EINVAL when the target directory is the source directory itself
(genfs_rename_lock's overlap error) or below it.  ext2fs_lookup.c 1.73's
ext2fs_checkpath, which NetBSD 8's rename no longer calls, would say EEXIST
for the first: kemu's rename uses its own checkpath in genfs_rename's place,
and answers as NetBSD 8's rename does (fs/ext2fs/ext2fs_lookup.py's header).
"""

from __future__ import annotations

from kern.errno import EINVAL

from .helpers import MB, check, mkdir, mkfs, mount, needs_e2fsprogs, run_clean, stat, umount

pytestmark = needs_e2fsprogs


async def _vop_rename(src: str, dst: str) -> tuple[int, bool]:
    """do_sys_rename's lookups and locks, then VOP_RENAME with no check of its
    own: (the errno, whether the target directory was the source vnode)."""
    from vfs.mount import VFS_RENAMELOCK_ENTER, VFS_RENAMELOCK_EXIT
    from vfs.namei import NDINIT, WANTPARENT, namei, nameidata, pathbuf_create
    from vfs.namei_h import CREATEDIR, DELETE, LOCKLEAF, LOCKPARENT, NOCACHE, RENAME
    from vfs.vnode_if import VOP_RENAME

    fnd = nameidata()
    NDINIT(fnd, DELETE, WANTPARENT, pathbuf_create(src))
    check(await namei(fnd), src)
    fdvp, fvp = fnd.ni_dvp, fnd.ni_vp
    mp = fdvp.v_mount
    await VFS_RENAMELOCK_ENTER(mp)
    tnd = nameidata()
    NDINIT(tnd, RENAME, LOCKPARENT | LOCKLEAF | NOCACHE | CREATEDIR, pathbuf_create(dst))
    check(await namei(tnd), dst)
    tdvp, tvp = tnd.ni_dvp, tnd.ni_vp
    assert tvp is None
    itself = tdvp is fvp
    error = await VOP_RENAME(fdvp, fvp, fnd.ni_cnd, tdvp, tvp, tnd.ni_cnd)
    VFS_RENAMELOCK_EXIT(mp)
    return error, itself


def test_vop_rename_of_a_directory_into_itself_or_below_is_einval(tmp_path):
    img = mkfs(str(tmp_path / "c.img"), 4 * MB)

    async def body():
        check(await mount(img))
        for d in ("/mnt/a", "/mnt/a/b"):
            check(await mkdir(d))
        before = (await stat("/mnt/a"))[1]
        r = [await _vop_rename("/mnt/a", "/mnt/a/new"),     # tdvp is fvp
             await _vop_rename("/mnt/a", "/mnt/a/b/new")]   # tdvp below fvp
        after = (await stat("/mnt/a"))[1]
        missing = [(await stat(p))[0] for p in ("/mnt/a/new", "/mnt/a/b/new")]
        check(await umount())
        return r, (before.st_ino, before.st_nlink), (after.st_ino, after.st_nlink), missing

    r, before, after, missing = run_clean(img, body)
    assert r == [(EINVAL, True), (EINVAL, False)]
    assert after == before and all(missing)    # nothing moved
