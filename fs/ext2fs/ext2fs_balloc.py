"""Allocating the blocks of a file (ufs/ext2fs/ext2fs_balloc.c, and ufs_balloc_range).

``ext2fs_balloc`` makes sure logical block ``bn`` of an inode exists,
allocating it and the indirect blocks on the way; as NetBSD's, a new
indirect block is zeroed and written synchronously before anything points
at it (a failed write fails the allocation).  If an allocation fails part
way, the blocks taken by this call are given back and the pointer that was
set first is cleared again, so the inode is as it was.  Where kemu's
differs from NetBSD 8's: indirect blocks are cached on the device vnode by
physical block (as ext2fs_bmap reads them), not on the file's vnode by
negative logical block, so the fail path's invalidation of the new ones is
ext2fs_blkfree's; the parent re-read that undoes a link uses B_MODIFY, and
if it fails the pointer is left (NetBSD panics "Could not unwind indirect
block"); B_SYNC is not honoured (the parent is always a delayed write).

``ext2fs_gop_alloc`` is the genfs hook (GOP_ALLOC) that allocates the
blocks under a byte range of a regular file before its data lands in
pages; ``ufs_balloc_range`` brings those pages in first, so that the bytes
of a block that was a hole read as zeros and are written out as zeros.

Compared against ``$NetBSD: ext2fs_balloc.c,v 1.34 2009/10/19 bouyer$``
(the newest stored revision; ext2fs_balloc and ext2fs_gop_alloc read the
same up to NetBSD 8 apart from the indirect-block cache); ufs_balloc_range
after sys/ufs/ufs/ufs_inode.c of the same era.  Notices in LICENSE.NetBSD.

Deviations (besides those above):

* The path comes from ``ext2fs_getlbns`` (see ext2fs_bmap) and results
  are ``(error, bp)``; the data block comes back as a device buffer
  (by physical block), zeroed when it is new whatever B_CLRBUF says, and
  read (B_MODIFY) when it already existed (1.34: getblk on the file's
  vnode, read only with B_CLRBUF).
* Every pointer followed is checked (``ext2fs_validblk``); a bad one is
  EIO with a console message.
* The fail path sets IN_CHANGE|IN_UPDATE in ``i_flag`` (1.34 ORs them into
  the on-disk i_e2fs_flags, a defect not kept) and lowers the block
  count with ext2fs_setnblock; it returns EIO if no error was recorded.
* ``ufs_balloc_range`` takes the pages one by one with
  genfs_getpage_busy (NetBSD: one VOP_GETPAGES of the range with
  PGO_PASTEOF|PGO_NOBLOCKALLOC, under the genfs node lock), and reads
  none whose bytes outside the range all lie past EOF.  A single page
  (a block of a page) that nobody waits for is unbusied in place, as
  uvm_page_unbusy would (kemu-side shortcut, as ubc_uiomove's).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from kern.errno import EFBIG, EIO
from vfs.buf import B_MODIFY
from vfs.genfs_io import (
    PAGE_MASK,
    PAGE_SIZE,
    PG_BUSY,
    PG_FAKE,
    PG_WANTED,
    genfs_getpage_busy,
    genfs_getpage_nowait,
    genfs_page_dirty,
    uvm_page_unbusy,
)
from vfs.vfs_bio import bdwrite, bread, bread_nowait, brelse, btodb, bwrite, getblk

from .ext2fs import fsbtodb
from .ext2fs_alloc import (
    ext2fs_alloc,
    ext2fs_blkfree,
    ext2fs_blkpref,
    ext2fs_nblock,
    ext2fs_setnblock,
)
from .ext2fs_bmap import ext2fs_getlbns, ext2fs_setbptr
from .ext2fs_inode import ext2fs_setsize, ext2fs_size
from .ext2fs_subr import ext2fs_badblock, ext2fs_validblk
from .ufs_inode import IN_CHANGE, IN_UPDATE, inode

if TYPE_CHECKING:
    from vfs.buf import buf
    from vfs.vnode import vnode

# balloc flags (sys/buf.h).  A new block's buffer is always zeroed here, so
# B_CLRBUF is what every caller gets.
B_CLRBUF = 0x01


_U32 = struct.Struct("<I")
# (bound once: a Struct method looked up at each call is a new bound method)
_u32_get = _U32.unpack_from
_u32_put = _U32.pack_into


async def _zeroblk(ip: inode, bno: int) -> int:
    """A fresh indirect block, zeroed and written synchronously before anything
    points at it (so that indirect blocks never point at garbage): bwrite's error."""
    fs = ip.i_e2fs
    assert fs is not None
    bp = await getblk(ip.i_devvp, fsbtodb(fs, bno), fs.e2fs_bsize)
    bp.b_data[:] = bytes(len(bp.b_data))
    return await bwrite(bp)


async def _databuf(ip: inode, nb: int, new: bool) -> tuple[int, buf | None]:
    fs = ip.i_e2fs
    assert fs is not None
    if new:
        bp = await getblk(ip.i_devvp, fsbtodb(fs, nb), fs.e2fs_bsize)
        # A new block's old contents are never shown.
        bp.b_data[:] = bytes(len(bp.b_data))
        return 0, bp
    error, bp = await bread(ip.i_devvp, fsbtodb(fs, nb), fs.e2fs_bsize, B_MODIFY)
    if error:
        return error, None
    return 0, bp


async def ext2fs_balloc(ip: inode, bn: int, size: int, cred: Any, want_buf: bool,
                        flags: int) -> tuple[int, buf | None]:
    """-> (error, bp): make logical block ``bn`` of ``ip`` exist.

    With ``want_buf`` the block comes back as a busy device buffer (zeroed
    if it is new); the caller writes it (bdwrite) or releases it.
    """
    fs = ip.i_e2fs
    assert fs is not None
    devvp = ip.i_devvp
    if bn < 0:
        return EFBIG, None
    error, path = ext2fs_getlbns(fs, bn)
    if error:
        return error, None
    blocks = ip.i_e2fs_blocks

    if not path:
        nb = blocks[bn]
        if nb != 0:
            if not ext2fs_validblk(ip, nb):
                return ext2fs_badblock(ip, nb, "data"), None
            return await _databuf(ip, nb, False) if want_buf else (0, None)
        error, newb = await ext2fs_alloc(ip, bn, ext2fs_blkpref(ip, bn, bn, blocks), cred)
        if error:
            return error, None
        ip.i_e2fs_last_lblk = bn
        ip.i_e2fs_last_blk = newb
        blocks[bn] = newb
        ip.i_flag |= IN_CHANGE | IN_UPDATE
        return await _databuf(ip, newb, True) if want_buf else (0, None)

    allocated: list[int] = []
    unwind: tuple[int, int] | None = None  # (indirect block or 0 for the inode, index)
    slot = path[0].in_off
    nb = blocks[slot]
    if nb == 0:
        error, newb = await ext2fs_alloc(ip, bn, ext2fs_blkpref(ip, bn, 0, None), cred)
        if error:
            return error, None
        allocated.append(newb)
        ip.i_e2fs_last_blk = newb
        error = await _zeroblk(ip, newb)
        if error:
            return await _balloc_fail(ip, allocated, None, error)
        blocks[slot] = newb
        unwind = (0, slot)
        ip.i_flag |= IN_CHANGE | IN_UPDATE
        nb = newb
    elif not ext2fs_validblk(ip, nb):
        return ext2fs_badblock(ip, nb, "indirect"), None

    nsteps = len(path) - 1  # (steps are shared values: the last is told by its place)
    new = False
    for i in range(1, nsteps + 1):
        step = path[i]
        last = i == nsteps
        bp = bread_nowait(devvp, nb << fs.e2fs_fsbtodb, fs.e2fs_bsize)  # fsbtodb
        if bp is None:  # (bread's common case is a plain call: see bread_nowait)
            error, bp = await bread(devvp, nb << fs.e2fs_fsbtodb, fs.e2fs_bsize)
            if error:
                break
            assert bp is not None
        child = _u32_get(bp.b_data, 4 * step.in_off)[0]  # the pointer at in_off
        if child != 0:
            brelse(bp, 0)
            if not ext2fs_validblk(ip, child):
                error = ext2fs_badblock(ip, child, "data" if last else "indirect")
                break
            nb = child
            continue
        if last:
            pref = ext2fs_blkpref(ip, bn, step.in_off, bp.b_data)
        else:
            pref = ext2fs_blkpref(ip, bn, 0, None)
        error, newb = await ext2fs_alloc(ip, bn, pref, cred)
        if error:
            brelse(bp, 0)
            break
        allocated.append(newb)
        if last:
            ip.i_e2fs_last_lblk = bn
        else:
            error = await _zeroblk(ip, newb)
            if error:
                brelse(bp, 0)
                break
        ip.i_e2fs_last_blk = newb
        _u32_put(bp.b_data, 4 * step.in_off, newb)  # ext2fs_setbptr
        if unwind is None:
            unwind = (nb, step.in_off)
        bdwrite(bp)
        nb = newb
        if last:
            new = True
    else:
        if want_buf:
            return await _databuf(ip, nb, new)
        return 0, None

    return await _balloc_fail(ip, allocated, unwind, error)


async def _balloc_fail(ip: inode, allocated: list[int], unwind: tuple[int, int] | None,
                       error: int) -> tuple[int, None]:
    """ext2fs_balloc's ``fail:``: give back the blocks this call took and clear
    the one pointer it set first (``unwind``: 0 for the inode, or the indirect
    block, and the index)."""
    fs = ip.i_e2fs
    assert fs is not None
    for b in allocated:
        await ext2fs_blkfree(ip, b)
    if allocated:
        ext2fs_setnblock(ip, ext2fs_nblock(ip) - len(allocated) * btodb(fs.e2fs_bsize))
        ip.i_flag |= IN_CHANGE | IN_UPDATE
    if unwind is not None:
        where, idx = unwind
        if where == 0:
            ip.i_e2fs_blocks[idx] = 0
        else:
            e, bp = await bread(ip.i_devvp, fsbtodb(fs, where), fs.e2fs_bsize, B_MODIFY)
            if e == 0 and bp is not None:
                ext2fs_setbptr(bp.b_data, idx, 0)
                bdwrite(bp)
    return error or EIO, None


async def ext2fs_gop_alloc(vp: vnode, off: int, len_: int, flags: int, cred: Any) -> int:
    """GOP_ALLOC: allocate every block under bytes [off, off + len_) of regular file ``vp``.

    As NetBSD's, it moves the inode's size over each block it allocated
    (ext2fs_balloc wants EOF up to date), so a write that fails after this
    gives the blocks back when ext2fs_write truncates to the old size.
    """
    ip = vp.v_data  # VTOI
    fs = ip.i_e2fs
    assert fs is not None
    delta = off & fs.e2fs_qbmask  # blkoff
    off -= delta
    len_ += delta
    bshift = fs.e2fs_bshift
    fsbsize = fs.e2fs_bsize
    while len_ > 0:
        bsize = fsbsize if fsbsize < len_ else len_  # (MIN, without a call)
        error, _ = await ext2fs_balloc(ip, off >> bshift, bsize, cred, False, flags)  # lblkno
        if error:
            return error
        if ext2fs_size(ip) < off + bsize:
            error = ext2fs_setsize(ip, off + bsize)
            if error:
                return error
        off += bsize
        len_ -= bsize
    return 0


async def ufs_balloc_range(vp: vnode, off: int, len_: int, cred: Any, flags: int) -> int:
    """Allocate the blocks under [off, off + len_) with their pages resident and dirty.

    The pages are read in before the allocation (holes as zeros), then
    marked dirty after it, so newly allocated blocks get their zeros (or
    old contents) written, never whatever the disk held.
    """
    ip = vp.v_data  # VTOI
    fs = ip.i_e2fs
    assert fs is not None
    uobj = vp.v_uobj
    # Whole blocks: a new block is written in full.
    bshift = fs.e2fs_bshift
    bstart = (off >> bshift) << bshift  # lblktosize(fs, lblkno(fs, off))
    bend = (((off + len_ - 1) >> bshift) + 1) << bshift
    pgs = []
    size = vp.v_size
    end = off + len_
    for pgoff in range(bstart & ~PAGE_MASK, (bend + PAGE_MASK) & ~PAGE_MASK, PAGE_SIZE):
        # Nothing of this page outside the range lies below EOF: no read needed.
        before = pgoff < off and pgoff < size
        after = end < pgoff + PAGE_SIZE and end < size
        nofill = not (before or after)
        pg = genfs_getpage_nowait(uobj, pgoff, nofill)
        if pg is None:
            error, pg = await genfs_getpage_busy(vp, pgoff, nofill)
            if error:
                uvm_page_unbusy(uobj, pgs)
                return error
        pgs.append(pg)
    error = await ext2fs_gop_alloc(vp, off, len_, flags, cred)
    if error == 0:
        for pg in pgs:
            genfs_page_dirty(vp, pg)
        if len(pgs) == 1:
            pg = pgs[0]
            pflags = pg.flags
            if not pflags & (PG_FAKE | PG_WANTED):
                # (uvm_page_unbusy of one written page nobody waits for, in place)
                pg.flags = pflags & ~PG_BUSY
                pg.owner = None
                return 0
    uvm_page_unbusy(uobj, pgs)
    return error
