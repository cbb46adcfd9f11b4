"""The buffer cache and buffer I/O (kern/vfs_bio.c, NetBSD 8).

Cached blocks are keyed by (vnode, logical block).  ``bread`` returns a busy
buffer holding the block; the caller releases it with ``brelse`` (clean),
``bwrite`` (write now, wait), ``bawrite`` (write now, don't wait) or
``bdwrite`` (mark dirty; written at ``vflushbuf``/sync or when recycled).
A buffer is busy (BC_BUSY) while one lwp owns it; others wait in
``bbusy``.  I/O goes through ``VOP_STRATEGY`` of the buffer's vnode; for
block-device vnodes that is specfs, which runs the copy-on-write handlers
(fscow) before a write reaches the driver.

``getiobuf``/``putiobuf`` hand out bufs outside the cache (drivers, physio,
fss); ``nestiobuf_setup`` splits a large transfer into children that complete
their master.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal
from kern.errno import EIO
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_enter, mutex_exit, mutex_init
from kern.param import DEV_BSHIFT, DEV_BSIZE, MAXBSIZE, MAXPHYS  # noqa: F401 - re-exported
from kern.subr_prf import panic
from vfs.buf import (
    B_ASYNC,
    B_COWDONE,
    B_INVAL,
    B_READ,
    BC_BUSY,
    BC_INVAL,
    BC_NOCACHE,
    BC_WANTED,
    BO_DELWRI,
    BO_DONE,
    buf,
)

if TYPE_CHECKING:
    from vfs.vnode import vnode



def dbtob(x: int) -> int:
    return x << DEV_BSHIFT


def btodb(x: int) -> int:
    return x >> DEV_BSHIFT


class _Bufcache:
    def __init__(self) -> None:
        self.lock = kmutex_t()  # bufcache_lock
        mutex_init(self.lock, MUTEX_DEFAULT, IPL_NONE)
        self.hash: dict[tuple[int, int], buf] = {}
        self.nbuf = 0
        self.bufmem = 0
        self.bufmem_hiwater = 16 * 1024 * 1024
        self.lru: dict[buf, None] = {}  # released, not busy; oldest first


bufcache = MachineLocal(_Bufcache, "buffer cache")


def _cv(bp: buf, which: str, wmesg: str) -> kcondvar_t:
    cv = getattr(bp, which)
    if cv is None:
        cv = kcondvar_t()
        cv_init(cv, wmesg)
        setattr(bp, which, cv)
    return cv


def _key(vp: Any, blkno: int) -> tuple[int, int]:
    return (id(vp), blkno)


# ------------------------------------------------------- completion

def biodone(bp: buf) -> None:
    """Mark I/O done: call b_iodone, or release an async buffer, or wake biowait."""
    bp.b_flags &= ~B_COWDONE
    bp.b_oflags |= BO_DONE
    if bp.b_iodone is not None:
        fn = bp.b_iodone
        fn(bp)
        return
    if bp.b_flags & B_ASYNC:
        if bp.b_vp is not None and bp.b_vp.v_numoutput > 0 and not bp.b_flags & B_READ:
            bp.b_vp.v_numoutput -= 1
        if bp.b_cflags & BC_BUSY and _cached(bp):
            brelsel(bp, 0)
        return
    if bp.b_done is not None:
        cv_broadcast(bp.b_done)


async def biowait(bp: buf) -> int:
    """Wait for the I/O on ``bp`` to finish; returns b_error."""
    m = _biolock()
    await mutex_enter(m)
    while not bp.b_oflags & BO_DONE:
        await cv_wait(_cv(bp, "b_done", "biowait"), m)
    mutex_exit(m)
    return bp.b_error


def _biolock() -> kmutex_t:
    return bufcache().lock


# ------------------------------------------------------- io bufs

def getiobuf(vp: Any, waitok: bool) -> buf:
    """A buf for I/O outside the cache (busy, no data)."""
    bp = buf()
    bp.b_cflags = BC_BUSY
    bp.b_vp = vp
    if vp is not None:
        bp.b_objlock = getattr(vp, "v_interlock", None)
    return bp


def putiobuf(bp: buf) -> None:
    bp.b_cflags &= ~BC_BUSY


def nestiobuf_iodone(bp: buf) -> None:
    mbp = bp.b_private
    error = bp.b_error
    donebytes = bp.b_bufsize
    if error == 0 and bp.b_resid != 0:
        # A short transfer of a child is an error of the whole.
        error = EIO
    putiobuf(bp)
    nestiobuf_done(mbp, donebytes, error)


def nestiobuf_setup(mbp: buf, bp: buf, offset: int, size: int) -> None:
    """Make ``bp`` a child of ``mbp`` covering ``size`` bytes at ``offset`` of its data."""
    isread = mbp.b_flags & B_READ
    bp.b_vp = mbp.b_vp
    bp.b_objlock = mbp.b_objlock
    bp.b_cflags = BC_BUSY
    bp.b_flags = B_ASYNC | isread
    bp.b_iodone = nestiobuf_iodone
    bp.b_data = memoryview(mbp.b_data)[offset:offset + size]
    bp.b_resid = bp.b_bcount = size
    bp.b_bufsize = bp.b_bcount
    bp.b_private = mbp
    bp.b_dev = mbp.b_dev
    bp.b_proc = mbp.b_proc
    if not isread and mbp.b_vp is not None:
        mbp.b_vp.v_numoutput += 1


def nestiobuf_done(mbp: buf, donebytes: int, error: int) -> None:
    """A child finished ``donebytes``; complete the master when all are in."""
    if donebytes == 0:
        return
    if mbp.b_resid < donebytes:
        panic("nestiobuf_done: b_resid %d < %d", mbp.b_resid, donebytes)
    mbp.b_resid -= donebytes
    if error:
        mbp.b_error = error
    if mbp.b_resid == 0:
        if mbp.b_error:
            mbp.b_resid = mbp.b_bcount
        biodone(mbp)


# ------------------------------------------------------- the cache

def _cached(bp: buf) -> bool:
    return bp.b_hash is not None


def incore(vp: vnode, blkno: int) -> buf | None:
    bp = bufcache().hash.get(_key(vp, blkno))
    if bp is not None and bp.b_cflags & BC_INVAL:
        return None
    return bp


async def bbusy(bp: buf, intr: bool, timo: int, interlock: kmutex_t | None) -> int:
    """Wait until ``bp`` is not busy and take it (called with bufcache_lock held)."""
    from kern.cpu import curlwp

    lock = bufcache().lock
    while bp.b_cflags & BC_BUSY:
        bp.b_cflags |= BC_WANTED
        await cv_wait(_cv(bp, "b_busy", "bbusy"), lock)
    if bp.b_cflags & BC_INVAL and bp.b_hash is None:
        from kern.errno import EPASSTHROUGH

        return EPASSTHROUGH
    bp.b_cflags |= BC_BUSY
    bp.b_owner = curlwp()
    bufcache().lru.pop(bp, None)
    return 0


async def getblk(vp: vnode, blkno: int, size: int, slpflag: int = 0,
                 slptimeo: int = 0) -> buf:
    """The cached buffer for (vp, blkno), busy; its data valid only if BO_DONE."""
    from kern.cpu import curlwp

    bc = bufcache()
    key = _key(vp, blkno)
    await mutex_enter(bc.lock)
    while True:
        bp = bc.hash.get(key)
        if bp is None:
            break
        if await bbusy(bp, False, 0, None):
            continue  # it went away while we waited
        if bp.b_bcount == size:
            mutex_exit(bc.lock)
            return bp
        # Same block asked for with another size: push it out and start over.
        mutex_exit(bc.lock)
        if bp.b_oflags & BO_DELWRI:
            await bwrite(bp)
        else:
            brelse(bp, BC_INVAL)
        await mutex_enter(bc.lock)
    bp = buf()
    bp.b_cflags = BC_BUSY
    bp.b_owner = curlwp()
    bp.b_vp = vp
    bp.b_objlock = vp.v_interlock
    bp.b_lblkno = bp.b_blkno = blkno
    bp.b_bcount = bp.b_bufsize = size
    bp.b_data = bytearray(size)
    bp.b_dev = getattr(vp, "v_rdev", -1)
    bp.b_hash = key
    bc.hash[key] = bp
    bc.nbuf += 1
    bc.bufmem += size
    mutex_exit(bc.lock)
    await _buf_trim()
    return bp


def geteblk(size: int) -> buf:
    bp = buf()
    bp.b_cflags = BC_BUSY
    bp.b_data = bytearray(size)
    bp.b_bcount = bp.b_bufsize = size
    return bp


def _unhash(bp: buf) -> None:
    bc = bufcache()
    if bp.b_hash is not None and bc.hash.get(bp.b_hash) is bp:
        del bc.hash[bp.b_hash]
        bc.nbuf -= 1
        bc.bufmem -= bp.b_bufsize
    bp.b_hash = None
    bc.lru.pop(bp, None)


async def _buf_trim() -> None:
    """Drop clean, idle buffers (oldest first) while over the memory high-water mark."""
    bc = bufcache()
    while bc.bufmem > bc.bufmem_hiwater and bc.lru:
        victim = next(iter(bc.lru))
        bc.lru.pop(victim)
        if victim.b_oflags & BO_DELWRI:
            victim.b_cflags |= BC_BUSY
            await bwrite(victim)
            continue
        _unhash(victim)


async def bio_doread(vp: vnode, blkno: int, size: int, async_: bool) -> buf:
    from vfs.vnode_if import VOP_STRATEGY

    bp = await getblk(vp, blkno, size)
    if not bp.b_oflags & (BO_DONE | BO_DELWRI):
        bp.b_flags = B_READ | (B_ASYNC if async_ else 0)
        bp.b_oflags &= ~BO_DONE
        bp.b_error = 0
        bp.b_resid = bp.b_bcount
        await VOP_STRATEGY(vp, bp)
    return bp


async def bread(vp: vnode, blkno: int, size: int, flags: int = 0) -> tuple[int, buf | None]:
    """-> (error, bp): read a block through the cache.  On error the buf is released."""
    bp = await bio_doread(vp, blkno, size, False)
    error = await biowait(bp)
    if error:
        bp.b_oflags &= ~BO_DONE
        bp.b_cflags |= BC_INVAL
        brelse(bp, 0)
        return error, None
    if bp.b_resid:
        bp.b_cflags |= BC_INVAL
        brelse(bp, 0)
        return EIO, None
    return 0, bp


async def bwrite(bp: buf) -> int:
    """Write ``bp`` now; wait unless B_ASYNC.  Releases the buffer."""
    from vfs.vnode_if import VOP_STRATEGY

    if not bp.b_cflags & BC_BUSY:
        panic("bwrite: buffer %r is not busy", bp)
    vp = bp.b_vp
    async_ = bool(bp.b_flags & B_ASYNC)
    bp.b_flags &= ~(B_READ | B_COWDONE)
    bp.b_oflags &= ~(BO_DONE | BO_DELWRI)
    bp.b_error = 0
    bp.b_resid = bp.b_bcount
    if vp is not None:
        vp.v_numoutput += 1
    await VOP_STRATEGY(vp, bp)
    if async_:
        return 0
    error = await biowait(bp)
    if vp is not None and vp.v_numoutput > 0:
        vp.v_numoutput -= 1
    if error or bp.b_resid:
        # The block did not reach the disk: keep it dirty so a later sync retries.
        bp.b_oflags |= BO_DELWRI | BO_DONE
        brelse(bp, 0)
        return error or EIO
    brelse(bp, 0)
    return 0


async def bawrite(bp: buf) -> None:
    bp.b_flags |= B_ASYNC
    await bwrite(bp)


def bdwrite(bp: buf) -> None:
    """Mark the block dirty and release it; it is written later."""
    if not bp.b_cflags & BC_BUSY:
        panic("bdwrite: buffer %r is not busy", bp)
    bp.b_oflags |= BO_DELWRI | BO_DONE
    brelse(bp, 0)


def brelsel(bp: buf, set_: int) -> None:
    bc = bufcache()
    bp.b_cflags |= set_
    if not bp.b_cflags & BC_BUSY:
        panic("brelse: buffer %r is not busy", bp)
    bp.b_flags &= ~B_ASYNC
    # An invalidated buffer leaves the cache; one not to be cached leaves it
    # too, unless it still holds a delayed write.
    if bp.b_cflags & BC_INVAL or \
            (bp.b_cflags & BC_NOCACHE or bp.b_flags & B_INVAL) and not bp.b_oflags & BO_DELWRI:
        _unhash(bp)
        bp.b_oflags &= ~(BO_DELWRI | BO_DONE)
    bp.b_cflags &= ~(BC_BUSY | BC_NOCACHE)
    bp.b_owner = None
    if bp.b_hash is not None:
        bc.lru[bp] = None
    if bp.b_cflags & BC_WANTED:
        bp.b_cflags &= ~BC_WANTED
        if bp.b_busy is not None:
            cv_broadcast(bp.b_busy)


def brelse(bp: buf, set_: int) -> None:
    """Give a busy buffer back to the cache (BC_INVAL in ``set_`` throws it away)."""
    brelsel(bp, set_)


async def vflushbuf(vp: vnode, flags: int) -> int:
    """Write every dirty buffer of ``vp``; returns the first error."""
    bc = bufcache()
    first = 0
    for bp in [b for b in list(bc.hash.values()) if b.b_vp is vp]:
        if not bp.b_oflags & BO_DELWRI:
            continue
        await mutex_enter(bc.lock)
        if await bbusy(bp, False, 0, None):
            mutex_exit(bc.lock)
            continue
        mutex_exit(bc.lock)
        if not bp.b_oflags & BO_DELWRI:
            brelse(bp, 0)
            continue
        error = await bwrite(bp)
        if error and not first:
            first = error
    return first


async def vinvalbuf(vp: vnode, flags: int, cred: Any, l: Any, slpflag: int = 0,
                    slptimeo: int = 0) -> int:
    """Throw away ``vp``'s buffers (writing dirty ones first if V_SAVE)."""
    bc = bufcache()
    if flags & V_SAVE:
        error = await vflushbuf(vp, 0)
        if error:
            return error
    for bp in [b for b in list(bc.hash.values()) if b.b_vp is vp]:
        await mutex_enter(bc.lock)
        if await bbusy(bp, False, 0, None):
            mutex_exit(bc.lock)
            continue
        mutex_exit(bc.lock)
        bp.b_oflags &= ~BO_DELWRI
        brelse(bp, BC_INVAL)
    return 0


V_SAVE = 0x0001


def allocbuf(bp: buf, size: int, preserve: int) -> None:
    old = bp.b_data
    new = bytearray(size)
    if preserve and old is not None:
        n = min(size, len(old))
        new[:n] = old[:n]
    bc = bufcache()
    if bp.b_hash is not None:
        bc.bufmem += size - bp.b_bufsize
    bp.b_data = new
    bp.b_bcount = bp.b_bufsize = size


def _install_biodone_hook() -> None:
    """bdev_strategy (kern) completes a buf for a missing driver through this hook."""
    from kern import subr_devsw

    subr_devsw.biodone_vfs = biodone


_install_biodone_hook()
