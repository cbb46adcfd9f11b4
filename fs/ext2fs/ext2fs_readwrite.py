"""VOP_READ and VOP_WRITE (ufs/ext2fs/ext2fs_readwrite.c).

Regular files go through the page cache (vfs.genfs_io): a write first
makes the blocks under each piece exist with its pages resident
(ufs_balloc_range; ext2fs_gop_alloc moves the inode's size over them),
copies the bytes into the pages, then moves the page cache's EOF.  As
NetBSD 8's ext2fs_write/ext2fs_post_write_update, a write that fails part
way (a copyin fault, a full disk) fails as a whole: the file is truncated
back to its old size, which frees every block the write allocated, and the
uio is rewound.  As NetBSD's, each 64 KiB boundary the write crosses sends
the pages before it to the disk (write-behind, PGO_CLEANIT|PGO_LAZY) unless
the mount is MNT_ASYNC; kemu's I/O being synchronous, that write is
finished when VOP_PUTPAGES returns, and its I/O error stays with the pages
(genfs reports those to PGO_SYNCIO callers only).  Unlike NetBSD's, an
IO_SYNC write flushes all the pages it wrote.
Directories and slow symlinks are read block by block from the buffer
cache (ext2fs_bufrd); they are only written by the directory operations.

Compared against ``$NetBSD: ext2fs_readwrite.c,v 1.74 2015/03/28 maxv$``
(the stored revision nearest NetBSD 8).  Notices in LICENSE.NetBSD.

Deviations (besides those above):

* ``ext2fs_read`` also reads symlinks (a fast one from the inode's block
  pointers, a slow one through ext2fs_bufrd; 1.74 reads only VREG and
  VDIR here) and answers EINVAL for other types; it marks the access time
  even for a zero-length read or one at EOF (1.74 returns before that for
  resid 0); with IO_SYNC a read error is kept over the inode update's
  result (1.74 returns the update's, losing the read's EIO; NetBSD's later
  ext2fs_post_read_update keeps the read's).  ubc advice and UBC_PARTIALOK
  are not passed.
* ``ext2fs_bufrd`` maps each block with ext2fs_bmaparray and reads it from
  the device vnode; a hole reads as zeros; no breadn read-ahead; its
  EFBIG and resid checks are left to the caller.
* ``ext2fs_write`` answers EIO for a directory and EINVAL for other
  non-regular files (1.74 KASSERTs VREG), and EROFS on a read-only file
  system; there is no ext2fs_bufwr.  The post-write update (inline here)
  sets IN_CHANGE|IN_UPDATE only when something was written (1.74: always,
  plus IN_ACCESS with MNT_RELATIME), clears both set-id bits for a caller
  that is not the superuser (1.74 asks kauth for
  KAUTH_VNODE_RETAIN_SUID/SGID, and its ISUID branch does
  ``mode &= ISUID``, keeping only that bit: a defect not kept), and sends
  no kevent (VN_KNOTE).  For each block it extends the file by,
  ``ext2fs_write`` tries uvm_vnp_setwritesize_nowait and
  uvm_vnp_setsize_nowait (plain calls, vfs.genfs_io) before awaiting
  uvm_vnp_setwritesize/uvm_vnp_setsize: the same work (kemu-side shortcut);
  the write-behind takes v_interlock with mutex_enter_nowait first.
"""

from __future__ import annotations

from typing import Any

from kern.errno import EFBIG, EINVAL, EIO, EPERM, EROFS
from kern.kern_auth import kauth_cred_issuser
from kern.kern_mutex import lock_site, mutex_enter, mutex_enter_nowait
from kern.subr_uio import uiomove, uiomove_zero
from vfs.genfs_io import (
    PGO_CLEANIT,
    PGO_LAZY,
    PGO_SYNCIO,
    UBC_READ,
    UBC_WRITE,
    round_page,
    trunc_page,
    ubc_uiomove,
    uvm_vnp_setsize,
    uvm_vnp_setsize_nowait,
    uvm_vnp_setwritesize,
    uvm_vnp_setwritesize_nowait,
)
from vfs.mount import MNT_ASYNC, MNT_NOATIME
from vfs.vfs_bio import bread, brelse
from vfs.vnode import IO_APPEND, IO_SYNC, VDIR, VLNK, VREG
from vfs.vnode_if import VOP_PUTPAGES

from .ext2fs import blkoff, fsbtodb, lblkno
from .ext2fs_balloc import ufs_balloc_range
from .ext2fs_bmap import ext2fs_bmaparray
from .ext2fs_dinode import EXT2_APPEND, EXT2_ISGID, EXT2_ISUID, EXT2_MAXSYMLINKLEN
from .ext2fs_inode import (
    ext2fs_isfastlink,
    ext2fs_size,
    ext2fs_truncate,
    ext2fs_update,
)
from .ufs_inode import IN_ACCESS, IN_CHANGE, IN_UPDATE, UPDATE_WAIT, VTOI


async def ext2fs_read(v: Any) -> int:
    """VOP_READ."""
    ap = v
    vp = ap.a_vp
    uio = ap.a_uio
    ip = VTOI(vp)
    ump = ip.i_ump
    assert ump is not None
    if uio.uio_offset < 0 or uio.uio_offset > ump.um_maxfilesize:
        return EFBIG
    if vp.v_type == VLNK and ext2fs_isfastlink(ip):
        # The target lives in the inode's block pointers.
        size = ext2fs_size(ip)
        raw = bytearray(bytes(ip.i_e2din.e2di_blocks)[:min(size, EXT2_MAXSYMLINKLEN)])
        error = 0
        if uio.uio_offset < len(raw):
            n = min(uio.uio_resid, len(raw) - uio.uio_offset)
            error = await uiomove(memoryview(raw)[uio.uio_offset:], n, uio)
    elif vp.v_type in (VDIR, VLNK):
        error = await ext2fs_bufrd(vp, uio, ap.a_ioflag, ap.a_cred)
    elif vp.v_type != VREG:
        return EINVAL
    else:
        error = 0
        size = ext2fs_size(ip)
        if uio.uio_offset < size and uio.uio_resid > 0:
            todo = min(uio.uio_resid, size - uio.uio_offset)
            error = await ubc_uiomove(vp.v_uobj, uio, todo, 0, UBC_READ)
    mp = vp.v_mount
    if mp is not None and not mp.mnt_flag & MNT_NOATIME:
        ip.i_flag |= IN_ACCESS
        if (ap.a_ioflag & IO_SYNC) == IO_SYNC:
            uerror = await ext2fs_update(vp, None, None, UPDATE_WAIT)
            # A read error wins over the inode update's.
            error = error or uerror
    return error


async def ext2fs_bufrd(vp: Any, uio: Any, ioflag: int, cred: Any) -> int:
    """Read a directory or symlink through the device's buffer cache."""
    ip = VTOI(vp)
    fs = ip.i_e2fs
    assert fs is not None
    size = ext2fs_size(ip)
    while uio.uio_resid > 0 and uio.uio_offset < size:
        lbn = lblkno(fs, uio.uio_offset)
        on = blkoff(fs, uio.uio_offset)
        n = min(fs.e2fs_bsize - on, size - uio.uio_offset, uio.uio_resid)
        error, bn, _ = await ext2fs_bmaparray(vp, lbn)
        if error:
            return error
        if bn == -1:
            error = await uiomove_zero(n, uio)
        else:
            error, bp = await bread(ip.i_devvp, fsbtodb(fs, bn), fs.e2fs_bsize)
            if error:
                return error
            assert bp is not None
            error = await uiomove(memoryview(bp.b_data)[on:on + n], n, uio)
            brelse(bp, 0)
        if error:
            return error
    return 0


_behind_site = lock_site()  # (the write-behind's v_interlock; see lock_site)


async def ext2fs_write(v: Any) -> int:
    """VOP_WRITE of a regular file."""
    ap = v
    vp = ap.a_vp
    uio = ap.a_uio
    ioflag = ap.a_ioflag
    cred = ap.a_cred
    ip = VTOI(vp)
    fs = ip.i_e2fs
    ump = ip.i_ump
    assert fs is not None and ump is not None
    if vp.v_type != VREG:
        return EINVAL if vp.v_type != VDIR else EIO
    if fs.e2fs_ronly:
        return EROFS
    if ioflag & IO_APPEND:
        uio.uio_offset = ext2fs_size(ip)
    if ip.i_e2fs_flags & EXT2_APPEND and uio.uio_offset != ext2fs_size(ip):
        return EPERM
    if uio.uio_offset < 0 or uio.uio_offset + uio.uio_resid > ump.um_maxfilesize:
        return EFBIG
    if uio.uio_resid == 0:
        return 0

    resid = uio.uio_resid
    osize = ext2fs_size(ip)
    async_ = vp.v_mount is not None and bool(vp.v_mount.mnt_flag & MNT_ASYNC)
    error = 0
    bsize = fs.e2fs_bsize
    qbmask = fs.e2fs_qbmask
    while uio.uio_resid > 0:
        oldoff = uio.uio_offset
        bytelen = bsize - (oldoff & qbmask)  # blkoff
        if bytelen > uio.uio_resid:  # (MIN, without a call: once a block)
            bytelen = uio.uio_resid
        if vp.v_size < oldoff + bytelen and \
                not uvm_vnp_setwritesize_nowait(vp, oldoff + bytelen):
            await uvm_vnp_setwritesize(vp, oldoff + bytelen)
        # Allocates the block and moves the inode's size over it.
        error = await ufs_balloc_range(vp, oldoff, bytelen, cred, 0)
        if error:
            break
        error = await ubc_uiomove(vp.v_uobj, uio, bytelen, 0, UBC_WRITE)
        if error:
            break
        # The page cache's notion of EOF follows the bytes copied.
        if vp.v_size < uio.uio_offset and not uvm_vnp_setsize_nowait(vp, uio.uio_offset):
            await uvm_vnp_setsize(vp, uio.uio_offset)
        # Write behind: each 64 KiB boundary the write crosses sends what
        # lies before it to the disk (asynchronously in NetBSD, PGO_LAZY), so
        # a sequential writer leaves no pile of dirty pages for the page
        # daemon.  As in ext2fs_readwrite.c, the loop does not stop on this
        # error: the next piece's allocation overwrites it.
        if not async_ and oldoff >> 16 != uio.uio_offset >> 16:
            if not mutex_enter_nowait(vp.v_interlock, 1, _behind_site):
                await mutex_enter(vp.v_interlock)
            error = await VOP_PUTPAGES(vp, (oldoff >> 16) << 16, (uio.uio_offset >> 16) << 16,
                                       PGO_CLEANIT | PGO_LAZY)
    # As ext2fs_readwrite.c, the IO_SYNC flush comes before the post-write
    # update, so a flush that fails truncates the write away like any error.
    if error == 0 and resid > uio.uio_resid and ioflag & IO_SYNC:
        await mutex_enter(vp.v_interlock)
        error = await VOP_PUTPAGES(vp, trunc_page(uio.uio_offset - (resid - uio.uio_resid)),
                                   round_page(uio.uio_offset), PGO_CLEANIT | PGO_SYNCIO)
    if resid > uio.uio_resid:
        ip.i_flag |= IN_CHANGE | IN_UPDATE
        if cred is not None and not kauth_cred_issuser(cred):
            ip.i_e2fs_mode &= ~(EXT2_ISUID | EXT2_ISGID)
    if error:
        # ext2fs_post_write_update: back to the old size, which gives back
        # every block this write allocated, and nothing of it was written.
        await ext2fs_truncate(vp, osize, ioflag & IO_SYNC, cred)
        uio.uio_offset -= resid - uio.uio_resid
        uio.uio_resid = resid
    elif resid > uio.uio_resid and (ioflag & IO_SYNC) == IO_SYNC:
        error = await ext2fs_update(vp, None, None, UPDATE_WAIT)
    return error
