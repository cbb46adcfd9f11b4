"""VOP_RENAME (ufs/ext2fs/ext2fs_rename.c).

Protocol (NetBSD 8): ``fdvp`` and ``fvp`` come referenced, ``tdvp`` locked
and ``tvp`` (if any) locked; all four are released here.  The caller holds
the file system's rename lock, so only one rename at a time changes the
shape of the tree.

The target side is unlocked first; the directories are then locked parent
before child, both names are looked up again, and the checks are made on
what is there now: EXDEV across mounts, EINVAL for "." or "..", or for
moving a directory into its own subtree, ENOTDIR / EISDIR for a directory
over a non-directory and the reverse, ENOTEMPTY over a directory with
entries.  Renaming a name onto another link of the same file removes the
source name (genfs_sane_rename without posixly_correct), onto itself does
nothing.

Link counts: the moved file holds an extra link while it has two names;
a directory moving to a new parent takes its ".." (and the link it stands
for) along; a directory that is replaced loses its links and blocks.

After ``$NetBSD: ext2fs_rename.c,v 1.5 2013/01/22 dholland$`` (the stored
revision; NetBSD 8's is the same genfs_rename-based design), compared step
by step (checks, errnos, link-count order), not line by line: kemu's is
one function, not NetBSD's genfs_sane_rename driving ext2fs's gro_*
operations.  Notices in LICENSE.NetBSD.

Deviations:

* No genfs_rename framework: the names are looked up again with the
  directory search helper (``_search``) instead of gro_lookup and
  ufs_lookup_results, and directory entries are changed by
  ext2fs_direnter/dirrewrite/dirremove searching for the name themselves
  (see ext2fs_lookup).
* Which directory to lock first is decided with ext2fs_checkpath (is the
  target directory above the source's?) instead of gro_genealogy; the
  files are locked in inode-number order.
* A directory that is gone (nlink 0) is ENOENT; the source name no longer
  naming ``fvp`` is ENOENT.
* The inodes are written with delayed updates (the extra link of step 1
  with UPDATE_DIROP); a replaced directory is truncated to 0 here.
* An error after the new name is entered (removing the old name, writing
  the new "..") is returned with the rename half done; nothing is rolled
  back.
"""

from __future__ import annotations

from typing import Any

from kern.errno import (
    EBUSY,
    EINVAL,
    EISDIR,
    EMLINK,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EPERM,
    EROFS,
    EXDEV,
)
from vfs.mount import MNT_RDONLY
from vfs.vfs_bio import brelse
from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, VDIR, VWRITE, vcache_get, vn_lock, vrele
from vfs.vnode_if import VOP_ACCESS, VOP_UNLOCK

from .ext2fs_dinode import EXT2_APPEND, EXT2_IMMUTABLE
from .ext2fs_dir import EXT2FS_LINK_MAX
from .ext2fs_inode import ext2fs_truncate, ext2fs_update
from .ext2fs_lookup import (
    _search,
    cn_name,
    ext2fs_checkpath,
    ext2fs_dirempty,
    ext2fs_direnter,
    ext2fs_dirremove,
    ext2fs_dirrewrite,
    ext2fs_setdotdot,
    ext2fs_sticky_denied,
)
from .ufs_inode import IN_CHANGE, UPDATE_DIROP, VTOI


async def ext2fs_rename(v: Any) -> int:
    """VOP_RENAME."""
    ap = v
    fdvp, fvp, fcnp = ap.a_fdvp, ap.a_fvp, ap.a_fcnp
    tdvp, tvp, tcnp = ap.a_tdvp, ap.a_tvp, ap.a_tcnp
    if tvp is not None and tvp is not tdvp:
        VOP_UNLOCK(tvp)
    VOP_UNLOCK(tdvp)
    try:
        error = await ext2fs_do_rename(fdvp, fvp, fcnp, tdvp, tcnp)
    finally:
        await vrele(fdvp)
        await vrele(fvp)
        await vrele(tdvp)
        if tvp is not None:
            await vrele(tvp)
    return error


async def _remove_source_link(fdvp: Any, fvp: Any, fcnp: Any, cred: Any) -> int:
    """genfs_rename_remove with ext2fs's gro_remove*: drop the source name of a
    file whose target name is another link to it (fdvp and fvp locked)."""
    fdp, fip = VTOI(fdvp), VTOI(fvp)
    if fvp.v_type == VDIR:
        return EINVAL
    if fip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND) or fdp.i_e2fs_flags & EXT2_APPEND:
        return EPERM
    if ext2fs_sticky_denied(fdp, fip, cred):
        return EPERM
    error = await ext2fs_dirremove(fdvp, fcnp, fip.i_number)
    if error:
        return error
    fip.i_e2fs_nlink -= 1
    fip.i_flag |= IN_CHANGE
    await ext2fs_update(fdvp, None, None, 0)
    return await ext2fs_update(fvp, None, None, 0)


async def ext2fs_do_rename(fdvp: Any, fvp: Any, fcnp: Any, tdvp: Any, tcnp: Any) -> int:
    """The rename itself, with nothing locked on entry or return."""
    mp = tdvp.v_mount
    if fdvp.v_mount is not mp or fvp.v_mount is not mp:
        return EXDEV
    if mp.mnt_flag & MNT_RDONLY:
        return EROFS
    fname, tname = cn_name(fcnp), cn_name(tcnp)
    if fname in (b".", b"..") or tname in (b".", b"..") or fvp is fdvp:
        return EINVAL
    if tdvp.v_type != VDIR or fdvp.v_type != VDIR:
        return ENOTDIR
    fdp, fip, tdp = VTOI(fdvp), VTOI(fvp), VTOI(tdvp)
    doingdir = fvp.v_type == VDIR
    newparent = fdvp is not tdvp
    cred = tcnp.cn_cred

    # A directory must not move below itself.
    if doingdir and newparent:
        error = await ext2fs_checkpath(fip, tdp, cred)
        if error:
            return error
    # Lock the directories parent first.
    if not newparent:
        order = [fdvp]
    elif await ext2fs_checkpath(tdp, fdp, cred) == EINVAL:
        order = [tdvp, fdvp]  # the target directory is above the source's
    else:
        order = [fdvp, tdvp]
    locked: list[Any] = []
    xvp = None
    try:
        for dvp in order:
            await vn_lock(dvp, LK_EXCLUSIVE | LK_RETRY)
            locked.append(dvp)
        if fdp.i_e2fs_nlink == 0 or tdp.i_e2fs_nlink == 0:
            return ENOENT
        for dvp in order:
            error = await VOP_ACCESS(dvp, VWRITE, cred)
            if error:
                return error

        # Look both names up again, now that nothing can change them.
        error, fino, _, _, _, bp = await _search(fdvp, fname)
        if error:
            return error
        if not fino:
            return ENOENT
        brelse(bp, 0)
        if fino != fip.i_number:
            return ENOENT
        error, tino, _, _, _, bp = await _search(tdvp, tname)
        if error:
            return error
        if tino:
            brelse(bp, 0)
            if tino == fip.i_number:
                # Two links of one file (genfs_sane_rename, not posixly
                # correct): the source name goes, unless it is the target.
                if fdvp is tdvp and fname == tname:
                    return 0
                await vn_lock(fvp, LK_EXCLUSIVE | LK_RETRY)
                locked.append(fvp)
                return await _remove_source_link(fdvp, fvp, fcnp, cred)
            if tino == fdp.i_number:
                return ENOTEMPTY if doingdir else EISDIR
            error, xvp = await vcache_get(mp, tino)
            if error:
                xvp = None
                return error
        xip = VTOI(xvp) if xvp is not None else None

        # Lock the files themselves (lower inode number first).
        kids = [fvp] + ([xvp] if xvp is not None else [])
        kids.sort(key=lambda vp: VTOI(vp).i_number)
        for vp in kids:
            await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
            locked.append(vp)

        if ext2fs_sticky_denied(fdp, fip, cred) or \
                (xip is not None and ext2fs_sticky_denied(tdp, xip, cred)):
            return EPERM
        if fip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND) or \
                fdp.i_e2fs_flags & EXT2_APPEND or \
                (xip is not None and xip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND)):
            return EPERM
        if doingdir and newparent:
            error = await VOP_ACCESS(fvp, VWRITE, cred)
            if error:
                return error
        if xip is not None:
            if doingdir:
                if xvp.v_type != VDIR:
                    return ENOTDIR
                if xvp.v_mountedhere is not None:
                    return EBUSY
                error, empty = await ext2fs_dirempty(xip, tdp.i_number, cred)
                if error:
                    return error
                if not empty or xip.i_e2fs_nlink > 2:
                    return ENOTEMPTY
            elif xvp.v_type == VDIR:
                return EISDIR
        elif doingdir and newparent and tdp.i_e2fs_nlink >= EXT2FS_LINK_MAX:
            return EMLINK

        # 1. The file holds an extra link while it has two names.
        fip.i_e2fs_nlink += 1
        fip.i_flag |= IN_CHANGE
        error = await ext2fs_update(fvp, None, None, UPDATE_DIROP)
        if error:
            fip.i_e2fs_nlink -= 1
            return error
        # 2. Enter the new name (or point the old target name at the file).
        if xip is None:
            if doingdir and newparent:
                tdp.i_e2fs_nlink += 1
                tdp.i_flag |= IN_CHANGE
            error = await ext2fs_direnter(fip, tdvp, tcnp)
            if error:
                if doingdir and newparent:
                    tdp.i_e2fs_nlink -= 1
                    tdp.i_flag |= IN_CHANGE
                fip.i_e2fs_nlink -= 1
                fip.i_flag |= IN_CHANGE
                return error
        else:
            error = await ext2fs_dirrewrite(tdp, fip, tcnp)
            if error:
                fip.i_e2fs_nlink -= 1
                fip.i_flag |= IN_CHANGE
                return error
            if doingdir and newparent:
                tdp.i_e2fs_nlink += 1
                tdp.i_flag |= IN_CHANGE
            if xvp.v_type == VDIR:
                # The replaced directory's ".." no longer links its parent.
                tdp.i_e2fs_nlink -= 1
                tdp.i_flag |= IN_CHANGE
                xip.i_e2fs_nlink = 0
                xip.i_flag |= IN_CHANGE
                error = await ext2fs_truncate(xvp, 0, 0, cred)
            else:
                xip.i_e2fs_nlink -= 1
                xip.i_flag |= IN_CHANGE
        # 3. Remove the old name.
        error2 = await ext2fs_dirremove(fdvp, fcnp, fip.i_number)
        error = error or error2
        # 4. A directory with a new parent: its ".." follows.
        if doingdir and newparent and error2 == 0:
            fdp.i_e2fs_nlink -= 1
            fdp.i_flag |= IN_CHANGE
            error = await ext2fs_setdotdot(fvp, tdp.i_number) or error
        fip.i_e2fs_nlink -= 1
        fip.i_flag |= IN_CHANGE
        for dvp in (fdvp, tdvp):
            await ext2fs_update(dvp, None, None, 0)
        await ext2fs_update(fvp, None, None, 0)
        return error
    finally:
        for vp in reversed(locked):
            VOP_UNLOCK(vp)
        if xvp is not None:
            await vrele(xvp)
