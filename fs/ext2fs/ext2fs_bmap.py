"""Logical to physical block mapping: port of NetBSD's sys/ufs/ext2fs/ext2fs_bmap.c.

Compared against ``$NetBSD: ext2fs_bmap.c,v 1.25 2009/10/19 bouyer$``; the
later revisions up to NetBSD 8 change nothing in ext2fs_bmap or
ext2fs_bmaparray that kemu follows.  ``ext2fs_getlbns`` stands for
ufs_getlbns (sys/ufs/ufs/ufs_bmap.c), which NetBSD's ext2fs borrows from
FFS.  The notices are in LICENSE.NetBSD.

An inode maps its first NDADDR blocks directly, the next NINDIR through a
single indirect block, then NINDIR**2 through a double and NINDIR**3 through
a triple indirect block.

Deviations:

* Indirect blocks are read with ``bread`` from the device vnode by their
  disk address, not with getblk/VOP_STRATEGY on the file's own vnode at a
  negative metadata lbn.  So a zero pointer on the way ends the walk as a
  hole at once (NetBSD first asks ``incore`` whether the file's vnode holds
  an indirect block not yet given an address; kemu's ext2fs_balloc gives
  one an address before it is cached, so there is none to find), there is
  no ``in_exists``, no ``metalbn == bn`` exit for a caller looking for an
  indirect block, and no ENOMEM for a getblk that gives nothing.
* ``ext2fs_getlbns`` is not ufs_getlbns: it returns ``(error, path)``, its
  ``in_lbn`` are not the metadata lbns (see ``indir``), its first
  ``in_off`` already has NDADDR added, and a negative ``bn`` (ufs's name
  for an indirect block) is EFBIG instead of a metadata path.  Past the
  triple indirect block it is EFBIG, as in ufs_getlbns.  Paths are built
  from shared, read-only ``indir`` objects, not a caller's array.
* Every block pointer read (direct, indirect and data) is checked with
  ``ext2fs_validblk``; one outside the file system is EIO with a console
  message (``ext2fs_badblock``).  NetBSD follows any pointer.
* ``ext2fs_bmaparray`` returns ``(error, fs block or -1, run)``; the
  conversion to DEV_BSIZE units (blkptrtodb in NetBSD) is done by
  ``ext2fs_bmap``.  ``maxrun`` is MAXPHYS // e2fs_bsize - 1 (NetBSD:
  MAXBSIZE / f_iosize - 1, the same 64 KiB over the same block size).
  The run is counted on host-order values (NetBSD compares the raw
  on-disk words of an indirect block); ``_run`` first compares the whole
  stretch a run could cover with the contiguous numbers at once, and
  walks the pointers one by one only when that fails (kemu-side shortcut:
  the same run).
* ``ext2fs_bmap`` always fills ``a_vpp``, ``a_bnp`` and ``a_runp`` (NetBSD
  returns at once when ``a_bnp`` is NULL), and on an error sets the block
  to -1 and the run to 0 (NetBSD leaves them as they were).
* No ``trace`` points and no ``ru_inblock`` count.
"""
from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, Any

from kern.errno import EFBIG
from vfs.vfs_bio import MAXPHYS, bread, brelse

from .ext2fs import fsbtodb
from .ext2fs_dinode import NDADDR, NIADDR
from .ext2fs_subr import ext2fs_badblock, ext2fs_validblk
from .ufs_inode import VTOI, indir

if TYPE_CHECKING:
    from fs.ext2fs.ext2fs import m_ext2fs
    from vfs.vnode import vnode

_LITTLE = sys.byteorder == "little"


def ext2fs_bptrs(data: Any) -> Any:
    """The block pointers of an indirect block, indexable (little-endian u32)."""
    if _LITTLE:
        return memoryview(data).cast("B").cast("I")
    n = len(data) // 4
    return list(struct.unpack(f"<{n}I", bytes(data)))


_U32 = struct.Struct("<I")


def ext2fs_setbptr(data: Any, i: int, bn: int) -> None:
    _U32.pack_into(data, 4 * i, bn)


# The steps of paths, made once and shared: a path is only read.  The first
# step of a path through level l (0 single, 1 double, 2 triple indirect), and
# the later ones by their index in the indirect block.
_FIRST = tuple(indir(-(NDADDR + level), NDADDR + level) for level in range(NIADDR))
_STEPS: dict[int, indir] = {}


def _new_step(off: int) -> indir:
    s = _STEPS[off] = indir(0, off)
    return s


def ext2fs_getlbns(fs: m_ext2fs, bn: int) -> tuple[int, list[indir]]:
    """-> (error, path): how to reach logical block ``bn`` (ufs_getlbns).

    ``path[0].in_off`` is the slot in e2di_blocks; each further element
    gives the index in the indirect block of the previous step.  A direct
    block has an empty path.  The offsets are ufs_getlbns's (its first one
    plus NDADDR, as ext2fs_bmaparray adds it); the ``in_lbn`` are not (see
    indir), and a negative ``bn`` (ufs's name for an indirect block) is
    EFBIG: kemu never maps one.
    """
    if bn < 0:
        return EFBIG, []
    if bn < NDADDR:
        return 0, []
    nindir = fs.e2fs_bsize // 4  # NINDIR
    # Which level of indirection, and the block number relative to it.
    bn -= NDADDR
    if bn < nindir:
        # (The loops below for the single indirect block, the usual case, and
        # for the double one, where files past 4 MiB (4 KiB blocks) go.)
        return 0, [_FIRST[0], _STEPS.get(bn) or _new_step(bn)]
    if bn - nindir < nindir * nindir:
        hi, lo = divmod(bn - nindir, nindir)
        return 0, [_FIRST[1], _STEPS.get(hi) or _new_step(hi), _STEPS.get(lo) or _new_step(lo)]
    blockcnt = 1
    level = 0
    for i in range(NIADDR):
        blockcnt *= nindir
        if bn < blockcnt:
            level = i
            break
        bn -= blockcnt
    else:
        return EFBIG, []
    path = [_FIRST[level]]
    for _ in range(level + 1):
        blockcnt //= nindir
        off = bn // blockcnt
        bn %= blockcnt
        path.append(_STEPS.get(off) or _new_step(off))
    return 0, path


def _run(bap: Any, i: int, n: int, daddr: int, maxrun: int) -> int:
    """How many of the pointers ``bap[i:n]`` (at most ``maxrun``) go on from
    ``daddr`` contiguously: ext2fs_bmaparray's run.  (The whole stretch is
    compared at once first, the common case of a file laid out in order;
    otherwise the pointers are followed one by one, as NetBSD's loop does.)"""
    lim = i + maxrun if i + maxrun < n else n
    if lim <= i:
        return 0
    if list(bap[i:lim]) == list(range(daddr + 1, daddr + 1 + lim - i)):
        return lim - i
    run = 0
    while i < lim and bap[i] == daddr + run + 1:
        run += 1
        i += 1
    return run


async def ext2fs_bmaparray(vp: vnode, bn: int) -> tuple[int, int, int]:
    """-> (error, fs block or -1 for a hole, run): where block ``bn`` of ``vp`` is.

    ``run`` counts the blocks after it that follow it contiguously on disk
    (within the same indirect block), up to MAXPHYS worth.
    """
    ip = VTOI(vp)
    fs = ip.i_e2fs
    assert fs is not None
    maxrun = MAXPHYS // fs.e2fs_bsize - 1
    error, path = ext2fs_getlbns(fs, bn)
    if error:
        return error, -1, 0
    blocks = ip.i_e2fs_blocks
    if not path:
        daddr = blocks[bn]
        if daddr == 0:
            return 0, -1, 0
        if not ext2fs_validblk(ip, daddr):
            return ext2fs_badblock(ip, daddr, "data"), -1, 0
        return 0, daddr, _run(blocks, bn + 1, NDADDR, daddr, maxrun)
    daddr = blocks[path[0].in_off]
    devvp = ip.i_devvp
    for depth, step in enumerate(path[1:]):
        if daddr == 0:
            return 0, -1, 0
        if not ext2fs_validblk(ip, daddr):
            return ext2fs_badblock(ip, daddr, "indirect"), -1, 0
        error, bp = await bread(devvp, fsbtodb(fs, daddr), fs.e2fs_bsize)
        if error:
            return error, -1, 0
        assert bp is not None
        bap = ext2fs_bptrs(bp.b_data)
        daddr = bap[step.in_off]
        run = 0
        if depth == len(path) - 2 and daddr != 0:
            run = _run(bap, step.in_off + 1, len(bap), daddr, maxrun)
        del bap
        brelse(bp, 0)
    if daddr == 0:
        return 0, -1, 0
    if not ext2fs_validblk(ip, daddr):
        return ext2fs_badblock(ip, daddr, "data"), -1, 0
    return 0, daddr, run


async def ext2fs_bmap(v: Any) -> int:
    """VOP_BMAP: logical block ``a_bn`` of the file to a DEV_BSIZE block of the device."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    ap.a_vpp[0] = ip.i_devvp
    error, bn, run = await ext2fs_bmaparray(vp, ap.a_bn)
    if error:
        ap.a_bnp[0] = -1
        ap.a_runp[0] = 0
        return error
    assert ip.i_e2fs is not None
    ap.a_bnp[0] = fsbtodb(ip.i_e2fs, bn) if bn != -1 else -1
    ap.a_runp[0] = run
    return 0
