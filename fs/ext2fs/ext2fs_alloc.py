"""Block and inode allocation: port of NetBSD's sys/ufs/ext2fs/ext2fs_alloc.c.

Compared against ``$NetBSD: ext2fs_alloc.c,v 1.46 2015/03/28 maxv$``, the
stored revision nearest NetBSD 8; ``ext2fs_nblock``/``ext2fs_setnblock``
are the helpers NetBSD keeps in ext2fs_inode.c.  The notices are in
LICENSE.NetBSD.

Blocks and inodes are taken from the bitmaps of the block groups, read and
changed through the device's buffer cache (delayed writes), while the
group descriptors and the super block counters are kept in core and
written by ext2fs_cgupdate.  The policies are NetBSD's: a file's blocks go
near its previous block or its inode's group; a new directory goes to a
group with more than the average of free inodes and the most free blocks;
other inodes go to their parent's group; when a group is full the search
rehashes quadratically, then walks all groups.

Deviations:

* Results come back as ``(error, value)`` tuples, not through ``*bnp``.
* ``ext2fs_nblock``/``ext2fs_setnblock`` always use e2di_nblock_high and
  know no huge_file: no EXT2_HUGE_FILE flag (counts in fs blocks), no
  EFBIG past 32 bits without the feature; a negative count is stored as 0.
* ``ext2fs_alloc``: the reserved blocks are open to a superuser cred
  (``kauth_cred_issuser``, for kauth_authorize_system's
  KAUTH_SYSTEM_FS_RESERVEDSPACE) and to a request with no cred (NetBSD's
  DIAGNOSTIC kernel panics on NOCRED).  No uprintf to the user's terminal;
  ``ext2fs_fserr`` takes the inode (for the mount name) and prints on the
  console instead of log(LOG_ERR).
* ``ext2fs_valloc`` only picks the inode number; what 1.46 does after
  (VFS_VGET, the "dup alloc" panic, zeroing the dinode, the generation
  number, ext2fs_vfree on a VGET error) is done by its caller,
  ``ext2fs_newvnode`` in ext2fs_vfsops.py, as in NetBSD 8's vcache split.
* ``ext2fs_dirpref`` returns group 0 when no group qualifies (NetBSD
  returns -1 as an unsigned long).
* ``ext2fs_blkpref`` accepts the raw bytes of an indirect block and reads
  its words only as needed; ``indx`` is clipped to the array.
* ``ext2fs_alloccg``: a preferred block past the end of a short last group
  is not taken; the whole-free-byte search runs over the group's full
  bytes from ``bpref``'s byte and then wraps (1.46's loop bound
  ``howmany(fpg, NBBY) - start`` stops short); that search lives in
  ``ext2fs_mapsearch``, whose bit search is from ``bpref``'s bit (not its
  byte) to the group's last block, then from 0.  A bitmap that cannot be
  read is reported on the console (NetBSD: silent); a group whose count
  says free but whose bitmap has no clear bit is a console message and
  "none here" (NetBSD panics "map corrupted"); no DIAGNOSTIC dup-alloc check.
* ``ext2fs_alloc`` makes hashalloc's first try itself, as a plain call
  (``ext2fs_alloccg_nowait``: ext2fs_alloccg when its bitmap block is
  cached and idle, see vfs_bio.bread_nowait; None, having done nothing,
  when it would sleep), and awaits ``ext2fs_hashalloc`` only if that try
  gave no block, telling it (``tried``) whether group ``cg`` was tried:
  two coroutines fewer a block, the same steps in the same order.
  ``ext2fs_alloccg`` is that plain try, then bread, then the bitmap part
  (``_alloccg_bit``).
* ``ext2fs_nodealloccg`` never hands out group 0's reserved inodes (below
  e2fs_first_ino), searches bit by bit from ``ipref`` and wraps; a full
  bitmap under a free count is a console message, not a panic.
* ``ext2fs_blkfree`` also refuses a block below e2fs_first_dblock, and
  throws away a cached buffer of the freed block on the device vnode
  (kemu caches indirect blocks there, see ext2fs_balloc).  Freeing a free
  block is a console message that changes nothing (NetBSD panics).
* ``ext2fs_vfree`` may be given the inode instead of the directory; an
  inode number out of range is a console message, not a panic; freeing a free inode
  is a message that changes nothing (NetBSD panics on a r/w mount and
  clears the bit anyway on a read-only one).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.errno import ENOSPC
from kern.kern_auth import kauth_cred_geteuid, kauth_cred_issuser
from kern.native import clrbit, ffc_range, isclr, setbit
from kern.param import DEV_BSHIFT
from kern.subr_prf import printf
from vfs.buf import B_MODIFY, BC_INVAL, BO_DELWRI
from vfs.vfs_bio import bdwrite, bread, bread_nowait, brelse, getblk, incore

from .ext2fs import (
    cgbase,
    dtog,
    dtogd,
    fsbtodb,
    ino_to_cg,
)
from .ext2fs_bmap import ext2fs_bptrs
from .ext2fs_dinode import EXT2_FIRSTINO, EXT2_IFDIR, EXT2_IFMT
from .ext2fs_subr import ext2fs_fserr, ext2fs_mntname
from .ufs_inode import IN_CHANGE, IN_UPDATE, VTOI, inode

if TYPE_CHECKING:
    from fs.ext2fs.ext2fs import m_ext2fs
    from vfs.buf import buf
    from vfs.vnode import vnode

Allocator = Callable[[inode, int, int, int], Awaitable[int]]


def _cred_uid(cred: Any) -> int:
    """The uid for messages; the kernel's own requests (no cred) are uid 0."""
    return kauth_cred_geteuid(cred) if cred is not None else 0


def ext2fs_nblock(ip: inode) -> int:
    """DEV_BSIZE blocks held by the inode (e2di_nblock, with its high half)."""
    return ip.i_e2fs_nblock | (ip.i_e2fs_nblock_high << 32)


def ext2fs_setnblock(ip: inode, nblock: int) -> None:
    nblock = max(0, nblock)
    ip.i_e2fs_nblock = nblock & 0xffffffff
    ip.i_e2fs_nblock_high = (nblock >> 32) & 0xffff


async def ext2fs_alloc(ip: inode, lbn: int, bpref: int, cred: Any) -> tuple[int, int]:
    """-> (error, bno): a free block for logical block ``lbn`` of ``ip``, near ``bpref``.

    The reserved blocks are root's and the kernel's (a request without a
    cred, as NetBSD's kauth lets NOCRED through).
    """
    fs = ip.i_e2fs
    assert fs is not None
    sb = fs.e2fs
    fbcount = sb.e2fs_fbcount
    # (freespace(fs) inline; e2fs_rbcount is m_ext2fs's plain copy)
    if fbcount == 0 or (fbcount - fs.k_rbcount <= 0 and cred is not None and
                        not kauth_cred_issuser(cred)):
        ext2fs_fserr(ip, _cred_uid(cred), "file system full")
        return ENOSPC, 0
    if bpref >= fs.k_bcount:  # (k_*: the super block's geometry, plain copies)
        bpref = 0
    if bpref == 0:
        cg = ino_to_cg(fs, ip.i_number)
    else:
        cg = (bpref - fs.k_first_dblock) // fs.k_fpg  # dtog
    bsize = fs.e2fs_bsize
    # hashalloc's first try (group cg, near bpref) as a plain call when the
    # bitmap is cached and idle; hashalloc goes on from there (see the header)
    bno = ext2fs_alloccg_nowait(ip, cg, bpref, bsize)
    if not bno:
        bno = await ext2fs_hashalloc(ip, cg, bpref, bsize, ext2fs_alloccg, bno is not None)
    if bno > 0:
        din = ip.i_e2din  # ext2fs_setnblock(ip, ext2fs_nblock(ip) + btodb(bsize)), in place
        nblock = (din.e2di_nblock | (din.e2di_nblock_high << 32)) + (bsize >> DEV_BSHIFT)
        din.e2di_nblock = nblock & 0xffffffff
        din.e2di_nblock_high = (nblock >> 32) & 0xffff
        ip.i_flag |= IN_CHANGE | IN_UPDATE
        return 0, bno
    ext2fs_fserr(ip, _cred_uid(cred), "file system full")
    return ENOSPC, 0


def ext2fs_blkpref(ip: inode, lbn: int, indx: int, bap: Any) -> int:
    """Where to put logical block ``lbn``: after the previous block, near its siblings
    in ``bap`` (e2di_blocks, or the data of its indirect block, whose little-endian
    words are read only if needed, as NetBSD's fs2h32(bap[i])), or at the start of
    the inode's group."""
    fs = ip.i_e2fs
    assert fs is not None
    if ip.i_e2fs_last_blk and lbn == ip.i_e2fs_last_lblk + 1:
        return ip.i_e2fs_last_blk + 1
    if bap is not None:
        if isinstance(bap, (bytearray, bytes, memoryview)):
            bap = ext2fs_bptrs(bap)
        for i in range(min(indx, len(bap) - 1), -1, -1):
            if bap[i]:
                return bap[i] + 1
    return cgbase(fs, ino_to_cg(fs, ip.i_number)) + 1


async def ext2fs_hashalloc(ip: inode, cg: int, pref: int, size: int,
                           allocator: Allocator, tried: bool = False) -> int:
    """Try group ``cg``, then a quadratic rehash, then every group: 0 if all are full.

    With ``tried`` the caller already tried group ``cg`` (and ``pref``) and got nothing.
    """
    fs = ip.i_e2fs
    assert fs is not None
    ncg = fs.e2fs_ncg
    icg = cg
    if not tried:
        result = await allocator(ip, cg, pref, size)
        if result:
            return result
    i = 1
    while i < ncg:
        cg += i
        if cg >= ncg:
            cg -= ncg
        result = await allocator(ip, cg, 0, size)
        if result:
            return result
        i *= 2
    # Then every group in turn from two after the first: the first was
    # tried at the start and the one after it by the rehash.
    cg = (icg + 2) % ncg
    for _ in range(2, ncg):
        result = await allocator(ip, cg, 0, size)
        if result:
            return result
        cg += 1
        if cg == ncg:
            cg = 0
    return 0


def ext2fs_alloccg_nowait(ip: inode, cg: int, bpref: int, size: int) -> int | None:
    """ext2fs_alloccg as a plain call: None when it would sleep (its bitmap is not
    cached and idle: see bread_nowait), having done nothing."""
    fs = ip.i_e2fs
    assert fs is not None
    gd = fs.e2fs_gd[cg]
    if gd.ext2bgd_nbfree == 0:
        return 0
    bp = bread_nowait(ip.i_devvp, gd.ext2bgd_b_bitmap << fs.e2fs_fsbtodb,  # fsbtodb
                      fs.e2fs_bsize, B_MODIFY)
    if bp is None:
        return None
    return _alloccg_bit(ip, cg, gd, bp, bpref)


async def ext2fs_alloccg(ip: inode, cg: int, bpref: int, size: int) -> int:
    """A free block of group ``cg`` (preferably ``bpref``); 0 if none."""
    bno = ext2fs_alloccg_nowait(ip, cg, bpref, size)
    if bno is not None:
        return bno
    fs = ip.i_e2fs
    assert fs is not None
    gd = fs.e2fs_gd[cg]
    error, bp = await bread(ip.i_devvp, fsbtodb(fs, gd.ext2bgd_b_bitmap), fs.e2fs_bsize,
                            B_MODIFY)
    if error:
        printf("%s: cannot read the block bitmap of group %d: error %d\n",
               ext2fs_mntname(ip), cg, error)
        return 0
    assert bp is not None
    return _alloccg_bit(ip, cg, gd, bp, bpref)


def _alloccg_bit(ip: inode, cg: int, gd: Any, bp: buf, bpref: int) -> int:
    """ext2fs_alloccg once its bitmap is read (the busy ``bp``): take a free bit."""
    fs = ip.i_e2fs
    assert fs is not None
    bbp = bp.b_data
    # (The super block's geometry from m_ext2fs's plain copies: base is
    # cgbase(fs, cg), n the blocks of group cg (the last one may be short),
    # and the tests below are dtog(fs, bpref) == cg and dtogd(fs, bpref).)
    sb = fs.e2fs
    first = fs.k_first_dblock
    fpg = fs.k_fpg
    bpg = fs.k_bpg
    base = first + bpg * cg
    n = fs.k_bcount - base
    if n > bpg:  # (min, without a call)
        n = bpg
    if bpref and (bpref - first) // fpg == cg:
        bpref = (bpref - first) % fpg
        if bpref < n and not bbp[bpref >> 3] & (1 << (bpref & 7)):  # isclr(bbp, bpref)
            bno = bpref
        else:
            bno = ext2fs_mapsearch(fs, bbp, bpref, n)
    else:
        bno = ext2fs_mapsearch(fs, bbp, 0, n)
    if bno < 0:
        printf("%s: group %d says %d free blocks, its bitmap none\n",
               ext2fs_mntname(ip), cg, gd.ext2bgd_nbfree)
        brelse(bp, 0)
        return 0
    bbp[bno >> 3] |= 1 << (bno & 7)  # setbit(bbp, bno); bno < n <= the map's bits
    sb.e2fs_fbcount -= 1
    gd.ext2bgd_nbfree -= 1
    fs.e2fs_fmod = 1
    bdwrite(bp)
    return base + bno


def ext2fs_mapsearch(fs: m_ext2fs, bbp: Any, bpref: int, n: int) -> int:
    """A free block in the bitmap ``bbp`` of ``n`` blocks, from ``bpref`` on: -1 if none.

    Like NetBSD's, it first looks for a byte whose eight blocks are all
    free (so files grow into free runs), then for any free bit.
    """
    start = bpref // 8
    nbytes = n // 8
    raw = bytes(bbp[:nbytes])
    loc = raw.find(b"\0", start)
    if loc < 0 and start:
        loc = raw.find(b"\0", 0, start)
    if loc >= 0:
        return loc * 8
    bno = ffc_range(bbp, bpref, n) if bpref < n else -1
    if bno < 0 and bpref:
        bno = ffc_range(bbp, 0, min(bpref, n))
    return bno


async def ext2fs_blkfree(ip: inode, bno: int) -> None:
    """Give block ``bno`` back to its group; its cached buffer (if any) is thrown away."""
    fs = ip.i_e2fs
    assert fs is not None
    if bno < fs.e2fs.e2fs_first_dblock or bno >= fs.e2fs.e2fs_bcount:
        printf("%s: bad block %llu, ino %llu\n", ext2fs_mntname(ip), bno, ip.i_number)
        ext2fs_fserr(ip, ip.i_uid, "bad block")
        return
    devvp = ip.i_devvp
    dblk = fsbtodb(fs, bno)
    if incore(devvp, dblk) is not None:
        obp = await getblk(devvp, dblk, fs.e2fs_bsize)
        obp.b_oflags &= ~BO_DELWRI  # its contents no longer matter
        brelse(obp, BC_INVAL)
    cg = dtog(fs, bno)
    gd = fs.e2fs_gd[cg]
    error, bp = await bread(devvp, fsbtodb(fs, gd.ext2bgd_b_bitmap), fs.e2fs_bsize,
                            B_MODIFY)
    if error:
        printf("%s: cannot read the block bitmap of group %d: error %d\n",
               ext2fs_mntname(ip), cg, error)
        return
    assert bp is not None
    bit = dtogd(fs, bno)
    if isclr(bp.b_data, bit):
        printf("%s: dev = 0x%llx, block = %llu: freeing free block\n",
               ext2fs_mntname(ip), ip.i_dev, bno)
        brelse(bp, 0)
        return
    clrbit(bp.b_data, bit)
    fs.e2fs.e2fs_fbcount += 1
    gd.ext2bgd_nbfree += 1
    fs.e2fs_fmod = 1
    bdwrite(bp)


# ------------------------------------------------------------------ inodes

async def ext2fs_valloc(pvp: vnode, mode: int, cred: Any) -> tuple[int, int]:
    """-> (error, ino): a free inode for a new file of ``mode`` in directory ``pvp``."""
    pip = VTOI(pvp)
    fs = pip.i_e2fs
    assert fs is not None
    if fs.e2fs.e2fs_ficount == 0:
        ext2fs_fserr(pip, _cred_uid(cred), "out of inodes")
        return ENOSPC, 0
    if (mode & EXT2_IFMT) == EXT2_IFDIR:
        cg = ext2fs_dirpref(fs)
    else:
        cg = ino_to_cg(fs, pip.i_number)
    ipref = cg * fs.e2fs.e2fs_ipg + 1
    ino = await ext2fs_hashalloc(pip, cg, ipref, mode, ext2fs_nodealloccg)
    if ino == 0:
        ext2fs_fserr(pip, _cred_uid(cred), "out of inodes")
        return ENOSPC, 0
    return 0, ino


def ext2fs_dirpref(fs: m_ext2fs) -> int:
    """The group for a new directory: enough free inodes, the most free blocks."""
    avgifree = fs.e2fs.e2fs_ficount // fs.e2fs_ncg
    maxspace = 0
    mincg = -1
    for cg in range(fs.e2fs_ncg):
        gd = fs.e2fs_gd[cg]
        if gd.ext2bgd_nifree >= avgifree:
            if mincg == -1 or gd.ext2bgd_nbfree > maxspace:
                mincg = cg
                maxspace = gd.ext2bgd_nbfree
    return max(mincg, 0)


async def ext2fs_nodealloccg(ip: inode, cg: int, ipref: int, mode: int) -> int:
    """A free inode of group ``cg`` (searching from ``ipref``); 0 if none."""
    fs = ip.i_e2fs
    assert fs is not None
    gd = fs.e2fs_gd[cg]
    if gd.ext2bgd_nifree == 0:
        return 0
    ipg = fs.e2fs.e2fs_ipg
    error, bp = await bread(ip.i_devvp, fsbtodb(fs, gd.ext2bgd_i_bitmap), fs.e2fs_bsize,
                            B_MODIFY)
    if error:
        printf("%s: cannot read the inode bitmap of group %d: error %d\n",
               ext2fs_mntname(ip), cg, error)
        return 0
    assert bp is not None
    ibp = bp.b_data
    # The reserved inodes of group 0 are never handed out.
    first = fs.e2fs.e2fs_first_ino - 1 if cg == 0 else 0
    start = (ipref - 1) % ipg if ipref else 0
    start = max(start, first)
    idx = ffc_range(ibp, start, ipg) if start < ipg else -1
    if idx < 0 and start > first:
        idx = ffc_range(ibp, first, start)
    if idx < 0:
        printf("%s: group %d says %d free inodes, its bitmap none\n",
               ext2fs_mntname(ip), cg, gd.ext2bgd_nifree)
        brelse(bp, 0)
        return 0
    setbit(ibp, idx)
    fs.e2fs.e2fs_ficount -= 1
    gd.ext2bgd_nifree -= 1
    fs.e2fs_fmod = 1
    if (mode & EXT2_IFMT) == EXT2_IFDIR:
        gd.ext2bgd_ndirs += 1
    bdwrite(bp)
    return cg * ipg + idx + 1


async def ext2fs_vfree(pvp: vnode | None, ino: int, mode: int, ip: inode | None = None) -> int:
    """Give inode ``ino`` back to its group."""
    if ip is None:
        assert pvp is not None
        ip = VTOI(pvp)
    fs = ip.i_e2fs
    assert fs is not None
    if ino > fs.e2fs.e2fs_icount or ino < EXT2_FIRSTINO:
        printf("%s: ext2fs_vfree: range: ino = %llu\n", ext2fs_mntname(ip), ino)
        return 0
    cg = ino_to_cg(fs, ino)
    gd = fs.e2fs_gd[cg]
    error, bp = await bread(ip.i_devvp, fsbtodb(fs, gd.ext2bgd_i_bitmap), fs.e2fs_bsize,
                            B_MODIFY)
    if error:
        return 0
    assert bp is not None
    idx = (ino - 1) % fs.e2fs.e2fs_ipg
    if isclr(bp.b_data, idx):
        printf("%s: dev = 0x%llx, ino = %llu: freeing free inode\n",
               ext2fs_mntname(ip), ip.i_dev, ino)
        brelse(bp, 0)
        return 0
    clrbit(bp.b_data, idx)
    fs.e2fs.e2fs_ficount += 1
    gd.ext2bgd_nifree += 1
    if (mode & EXT2_IFMT) == EXT2_IFDIR:
        gd.ext2bgd_ndirs -= 1
    fs.e2fs_fmod = 1
    bdwrite(bp)
    return 0
