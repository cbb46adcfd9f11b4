"""The buffer cache and buffer I/O: port of NetBSD's sys/kern/vfs_bio.c (NetBSD 8).

Read from ``$NetBSD: vfs_bio.c,v 1.276 2017/10/28 pgoyette$``, the stored
revision nearest netbsd-8's 1.275.  What is ported here (brelsel's handling
of b_error, bwrite, bdwrite, bread, biodone2, getblk) reads the same in an
older (1.25x, 2015) and a newer (1.303, 2022) stored revision, so it is
netbsd-8's.  vflushbuf and vinvalbuf are from sys/kern/vfs_subr.c of the
same era.  The notices are in LICENSE.NetBSD.  Its KASSERTs and panics
were last checked, function by function, against the stored 1.256
(2015/08/24 pooka), 1.276 not being found in the mirror at that time.

Cached blocks are keyed by (vnode, logical block).  ``bread`` returns a busy
buffer holding the block; the caller releases it with ``brelse`` (clean),
``bwrite`` (write now, wait), ``bawrite`` (write now, don't wait) or
``bdwrite`` (mark dirty; written at ``vflushbuf``/sync or when recycled).
A buffer is busy (BC_BUSY) while one lwp owns it; others wait in
``bbusy``.  I/O goes through ``VOP_STRATEGY`` of the buffer's vnode; for
block-device vnodes that is specfs, which runs the copy-on-write handlers
(fscow) before a write reaches the driver.

A buffer whose write failed
---------------------------
NetBSD does not keep a failed write for a later retry, and neither does
kemu.  ``bwrite`` clears ``b_error`` and BO_DELWRI|BO_DONE and starts the
write; when it completes with an error:

* a synchronous ``bwrite`` returns that error from ``biowait`` and releases
  the buffer with ``brelse``; an asynchronous one (``bawrite``, B_ASYNC) is
  released by ``biodone`` and its error reaches nobody;
* ``brelsel`` marks every buffer released with ``b_error`` set (as with
  BC_NOCACHE) BC_INVAL, clears BO_DONE|BO_DELWRI and takes it out of the
  cache: the data it held is thrown away with the write it owed.

So the error is reported once, to the caller of the synchronous bwrite, and
the next ``bread`` of the block finds nothing in the cache and reads what
the disk holds: it never sees a stale error, and no buffer is left that
owes a write.  A file system that keeps no copy of its own (ext2 and FFS
re-read their bitmaps through ``bread`` at every allocation) then works
from the disk's older contents; what that does to ext2 is shown by
tests/fs/ext2fs/test_ext2fs_write_errors.py, which also says why NetBSD's
ext2fs and FFS end the same way.  (Before this port kemu kept the failed
buffer valid and delayed-write with ``b_error`` set; the next ``bread``
returned the stale error and threw the buffer away, and with it the write.)

vinvalbuf's restart
-------------------
When ``bbusy`` sleeps, vinvalbuf starts its walk over, and a buffer that
became a delayed write during that sleep is then released from the dirty
list with BC_INVAL, unwritten (vfs_subr.c's loop, kept as it is).  In kemu
no caller lets another lwp dirty a buffer of the vnode meanwhile, although
ext2 keeps all its metadata (indirect and directory blocks included) on the
device vnode, outside any file's vnode lock:

* ext2fs_mountfs calls vinvalbuf(devvp, V_SAVE) just after its VOP_OPEN of
  the device succeeded, and spec_open lets a block device (every alias of
  the dev_t shares one specdev) be opened once, a mounted one counting as
  open: no file system is mounted on it and no file holds it open, so
  nothing else can reach its buffers;
* ext2fs_unmount's (and then spec_close's) vinvalbuf runs inside
  dounmount with the mount suspended, after ext2fs_flushfiles reclaimed
  every vnode of the mount (vgone waits for each vnode's lock, so a write
  in progress has finished).  Every ext2 operation that dirties a buffer
  holds a vnode lock of the mount, and VOP_LOCK enters an fstrans
  transaction, which the suspension holds off until dounmount's vfs_resume,
  after VFS_UNMOUNT.  The only ext2 code left that takes no vnode lock is a
  sync(2) that passed its IMNT_UNMOUNT test earlier: ext2fs_sync, called
  with MNT_WAIT only, writes with bwrite (dounmount cleared MNT_ASYNC) or
  waits for the device vnode's lock, which the unmount holds across
  vinvalbuf;
* spec_close of a block device opened by a user is the last close of its
  only open (closef runs when the file's last reference, writers'
  included, is gone); kemu's vcache_reclaim closes no device, so revoke(2)
  of a mounted device does not get here;
* mount_domount's vinvalbuf of the covered directory holds its lock, and
  no file system in kemu caches buffers on a directory's own vnode;
* fss calls no vinvalbuf (a snapshot is taken by vfs_suspend and VFS_SYNC).

A sleep in ``bbusy`` there waits only for a write in flight (a sync's
bwrite, an asynchronous write), and the buffer comes back clean.

Deviations from vfs_bio.c 1.276:

* no free-buffer queues, no buffer memory pools and no getnewbuf: buffers
  are Python objects in a hash keyed by (vnode, block), released ones in an
  LRU list; ``_buf_trim`` stands for buf_trim/getnewbuf when the cache is
  over its high-water mark (a delayed write found there is written
  synchronously, where getnewbuf starts a bawrite; as bawrite's, that
  write is not delayed on an MNT_ASYNC mount).  As in NetBSD,
  a buffer vflushbuf writes (BC_VFLUSH) stays where it was on the LRU list
  and keeps that place when released, and the trimming passes it by; BC_AGE
  has no queue of its own: an aged buffer goes to the list's end;
* ``getblk`` given another size than the cached buffer's writes that buffer
  out (or invalidates it when clean) and starts over instead of resizing it
  with allocbuf; that write is not delayed on an MNT_ASYNC mount;
* a transfer that comes back short without an error (rumpblk's host file
  can do that; NetBSD's disk drivers set b_error) is EIO for ``bread`` and
  ``bwrite`` and for an asynchronous write, so the buffer is invalidated,
  as nestiobuf_iodone makes it an error of the whole;
* ``bawrite`` calls ``bwrite`` itself, not VOP_BWRITE (kemu's specfs, which
  holds every metadata buffer, has no vop_bwrite entry);
* ``v_numoutput`` changes without ``v_interlock`` (biodone is not a
  sleeping function here); ``vwakeup`` drops it, as biodone2 does, for
  every write that completes, and wakes ``v_cv`` when it reaches 0;
* ``vflushbuf`` (vfs_subr.c) writes each delayed buffer synchronously and
  returns the first error, where NetBSD 8 starts them all with bawrite and
  returns 0: a buffer whose write fails ends the same way (invalidated),
  but fsync and sync see the error.  Like bawrite's, that write is not
  turned into a delayed one on an MNT_ASYNC mount.  It waits for a busy
  dirty buffer where NetBSD's passes it by (and finds it again in its next
  round), and its FSYNC_WAIT wait takes ``v_interlock`` only when writes
  are in flight (the look for a buffer dirtied meanwhile is made after it,
  without the lock: nothing runs in between);
* ``vinvalbuf`` (V_SAVE) writes a buffer it finds dirtied among the clean
  ones synchronously past bwrite's MNT_ASYNC test, where NetBSD's
  VOP_BWRITE is a bwrite that an MNT_ASYNC mount delays: the restart then
  throws the buffer away from the dirty list with the write it owed
  (NetBSD's own defect; kemu loses no completed write).  kemu reaches it
  when another lwp dirties a listed buffer while vinvalbuf waits for
  bufcache_lock (tests/vfs/test_vfs_bio.py);
* ``vinvalbuf`` starts without vfs_subr.c's VOP_PUTPAGES(PGO_ALLPAGES |
  PGO_FREE | PGO_SYNCIO, with PGO_CLEANIT | PGO_RECLAIM for V_SAVE): its
  callers pass device vnodes, which hold no pages, and a covered
  directory, whose blocks ext2 keeps in the device vnode's buffers.  It
  ignores ``slpflag`` and ``slptimeo`` (bbusy waits uninterruptibly and
  without a timeout), so vfs_subr.c's return of bbusy's other errors is
  never taken;
* ``biowait`` (and ``biodone``'s wakeup) use bufcache_lock, where NetBSD
  uses the buffer's ``b_objlock``: one mutex taken and released per wait
  either way;
* ``bread_nowait`` is kemu's (as mutex_enter_nowait is): bread of a valid
  block whose buffer is cached and idle, as a plain call, when it would
  neither sleep nor let another lwp run (the same locks taken and released
  in the same order, the same records); bread tries it first, and so do its
  hot callers (ext2fs's block allocation), which await bread only when it
  declines.  getblk and biowait likewise try their own common cases as
  plain calls first (``_getblk_idle``, ``_biowait_done``).  These take the
  buffer off the LRU list just after giving bufcache_lock back (bread_nowait:
  after biowait's lock pair), where vfs_bio.c's getblk does it under the
  lock (bremfree, after bbusy): nothing runs in between.  A host thread
  may queue a call for the machine (host_poke) between bread_nowait's two
  lock pairs, turning the CPU's slow path on: biowait's pair then declines,
  and bread_nowait undoes getblk's taking of the buffer (which keeps its
  LRU place) and declines, for the caller's bread to take the host's call
  at its preemption point; that bread takes getblk's pair once more (the
  lockdebug records and order check of the pair that was undone are left
  as they were);
* the KASSERTs (bawrite's BC_BUSY excepted) test
  their condition inline and call KASSERT (the same panic and message) only
  when it fails; a buffer's b_done condvar is made at its first biowait
  sleep, and one not made yet has no waiters: the condition reads
  ``bp.b_done is None or not cv_has_waiters(bp.b_done)``.  bwrite's three
  KASSERTs (BC_BUSY, !cv_has_waiters(&bp->b_done), b_objlock ==
  v_interlock, in its order) are made at the start of ``_bwrite_start``
  (bwrite past its MNT_ASYNC test), which kemu's writers that stand for a
  bawrite or VOP_BWRITE (getblk, _buf_trim, vflushbuf, vinvalbuf) enter
  too; bwrite's MNT_ASYNC path meets bdwrite's, the same three.  getblk's,
  after bbusy, is made on getblk's loop and in ``_getblk_idle`` (getblk's
  and bread_nowait's plain-call path); biowait's BC_BUSY in
  ``_biowait_done``, which biowait and bread_nowait call first.  biodone's
  KASSERT(!ISSET(bp->b_oflags, BO_DONE)) comes just before biodone2's
  "biodone2 already" panic (biodone and biodone2 are one function here);
* KASSERTs not kept, each for want of what it tests: the b_refcnt ones
  (brelsel, biowait, bref/brele: a Python buf needs no reference count);
  brelsel's mutex_owned(&bufcache_lock) (brelse takes no lock, above);
  incore's mutex_owned(&bufcache_lock) (its one caller, kemu's
  ext2fs_blkfree, whose throwing away of the freed block's buffer NetBSD's
  ext2fs lacks (declared in ext2fs_alloc.py), looks without the lock;
  nothing runs meanwhile; getblk looks the hash up itself);
  bdwrite's v_tag != VT_UFS || B_COWDONE one (kemu has no UFS); the
  KDASSERT(checkfreelist(...))s, bremfree's, binsheadfree's,
  binstailfree's, getnewbuf's and buf_trim's (no free queues, no
  getnewbuf: see above; a dirty buffer _buf_trim writes meets
  _bwrite_start's b_done KASSERT); bio_doread's pagedaemon one and
  getblk's B_LOCKED b_bufsize one (getblk never returns NULL and never
  resizes a buffer); geteblk's allocbuf error one (allocbuf cannot fail);
* ``brelse`` takes no bufcache_lock around ``brelsel`` (kemu's mutex_enter
  may sleep and releasing a buffer must not; nothing else runs meanwhile),
  so the two are one function;
* the lock calls of getblk's and biowait's slow paths and _bflush_take
  pass a ``lock_site`` kept at module level for that call (kern_mutex's
  ``at``, kemu's): lockdebug's site (or the lock class's init site) is
  looked up once, not with a frame lookup at every call; the same sites
  and reports;
* ``getiobuf`` hands out its buf already busy (BC_BUSY), where NetBSD's
  buf_init leaves ``b_cflags`` 0 and the caller sets BC_BUSY; so biowait's
  BC_BUSY KASSERT cannot catch a caller that forgot to (it never fires where
  NetBSD's would not); ``nestiobuf_done`` asserts without ``mbp``'s
  ``b_objlock`` held;
* no wapbl, no tape devices, no statistics, no BIOHIST, no sysctl nodes.

``getiobuf``/``putiobuf`` hand out bufs outside the cache (drivers, physio,
fss); ``nestiobuf_setup`` splits a large transfer into children that complete
their master.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp, curlwp_or_none, curmachine_or_none
from kern.errno import EIO, EPASSTHROUGH
from kern.kern_condvar import cv_broadcast, cv_has_waiters, cv_init, cv_wait, kcondvar_t
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    lock_site,
    mutex_enter,
    mutex_enter_nowait,
    mutex_exit,
    mutex_init,
    mutex_owned,
)
from kern.param import DEV_BSHIFT, DEV_BSIZE, MAXBSIZE, MAXPHYS  # noqa: F401 - re-exported
from kern.subr_prf import KASSERT, panic
from vfs.buf import (
    B_ASYNC,
    B_COWDONE,
    B_LOCKED,
    B_MODIFY,
    B_READ,
    BC_AGE,
    BC_BUSY,
    BC_INVAL,
    BC_NOCACHE,
    BC_VFLUSH,
    BC_WANTED,
    BO_DELWRI,
    BO_DONE,
    buf,
)
from vfs.mount import MNT_ASYNC
from vfs.vfs_trans import fscow_run
from vfs.vnode import FSYNC_WAIT, VBLK
from vfs.vnode_if import VOP_STRATEGY

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
        self.lru: dict[buf, None] = {}  # released (or being flushed: BC_VFLUSH); oldest first


_bufcache = MachineLocal(_Bufcache, "buffer cache")


def bufcache() -> _Bufcache:
    """The machine's buffer cache.  (Its MachineLocal looked up in the
    machine's table first: calling the MachineLocal costs several times
    that, and every getblk, brelse and biowait asks.)"""
    m = curmachine_or_none()
    if m is not None:
        bc = m.locals.get(_bufcache)
        if bc is not None:
            return bc
    return _bufcache()


def _cv(bp: buf, which: str, wmesg: str) -> kcondvar_t:
    cv = getattr(bp, which)
    if cv is None:
        cv = kcondvar_t()
        cv_init(cv, wmesg)
        setattr(bp, which, cv)
    return cv


def _key(vp: Any, blkno: int) -> tuple[int, int]:
    return (id(vp), blkno)


def _cached(bp: buf) -> bool:
    return bp.b_hash is not None


def _short_is_eio(bp: buf) -> int:
    """kemu: a cache transfer that ended short without an error fails with EIO."""
    if bp.b_error == 0 and bp.b_resid != 0:
        bp.b_error = EIO
    return bp.b_error


# ------------------------------------------------------- reading

async def bio_doread(vp: vnode, blkno: int, size: int, async_: bool) -> buf:
    """bread()/breadn() helper: the block's buffer, with a read started unless it is valid."""
    bp = await getblk(vp, blkno, size)
    # getblk never returns an invalidated buffer, so the data is valid if
    # its I/O completed or a write of it is pending.
    if not bp.b_oflags & (BO_DONE | BO_DELWRI):
        bp.b_flags |= B_READ | (B_ASYNC if async_ else 0)
        bp.b_resid = bp.b_bcount
        await VOP_STRATEGY(vp, bp)
    elif async_:
        brelse(bp, 0)
    return bp


async def bread(vp: vnode, blkno: int, size: int, flags: int = 0) -> tuple[int, buf | None]:
    """-> (error, bp): read a block through the cache.  On error the buf is released.

    With B_MODIFY in ``flags`` the caller is going to change the block: the
    copy-on-write handlers run now (fscow_run sets B_COWDONE), so that the
    later write of the changed buffer cannot fail for them.
    """
    bp = bread_nowait(vp, blkno, size, flags)
    if bp is not None:
        return 0, bp
    bp = await bio_doread(vp, blkno, size, False)
    error = await biowait(bp)
    if error == 0 and bp.b_resid != 0:
        error = _short_is_eio(bp)
    if error == 0 and flags & B_MODIFY:
        error = await fscow_run(bp, True)
    if error:
        # b_error is set: brelse invalidates the buffer.
        brelse(bp, 0)
        return error, None
    return 0, bp


# ------------------------------------------------------- writing

async def bwrite(bp: buf) -> int:
    """Write ``bp`` now; wait unless B_ASYNC.  Releases the buffer, also on error."""
    # (bwrite's KASSERTs are made by _bwrite_start, or by bdwrite, which makes
    # the same ones, on the MNT_ASYNC path: see the deviations.)
    vp = bp.b_vp
    mp = None
    if vp is not None:
        if vp.v_type == VBLK:
            from vfs.spec_vnops import spec_node_getmountedfs

            mp = spec_node_getmountedfs(vp)
        else:
            mp = vp.v_mount

    # A synchronous write on a file system mounted MNT_ASYNC is delayed.
    sync = not bp.b_flags & B_ASYNC
    if sync and mp is not None and mp.mnt_flag & MNT_ASYNC:
        bdwrite(bp)
        return 0
    return await _bwrite_start(bp, sync)


async def _bwrite_start(bp: buf, sync: bool) -> int:
    """bwrite past its MNT_ASYNC test: start the write; if ``sync``, wait and release."""
    # bwrite's KASSERTs, here for the writers that enter past bwrite too
    # (see the deviations); each calls KASSERT only when it fails.
    if not bp.b_cflags & BC_BUSY:
        KASSERT(bp.b_cflags & BC_BUSY)
    if bp.b_done is not None and cv_has_waiters(bp.b_done):
        KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
    vp = bp.b_vp
    if vp is not None:
        if bp.b_objlock is not vp.v_interlock:
            KASSERT(bp.b_objlock is vp.v_interlock)
    bp.b_error = 0
    bp.b_flags &= ~B_READ
    bp.b_oflags &= ~(BO_DONE | BO_DELWRI)
    bp.b_resid = bp.b_bcount
    if vp is not None:
        vp.v_numoutput += 1

    await VOP_STRATEGY(vp, bp)

    if sync:
        rv = await biowait(bp)
        if rv == 0:
            rv = _short_is_eio(bp)
        # With b_error set this invalidates the buffer: the write is not retried.
        brelse(bp, 0)
        return rv
    return 0


def bdwrite(bp: buf) -> None:
    """Delayed write: mark the buffer dirty and release it; it is written later."""
    if not bp.b_cflags & BC_BUSY:
        KASSERT(bp.b_cflags & BC_BUSY)
    if bp.b_done is not None and cv_has_waiters(bp.b_done):
        KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
    if bp.b_vp is not None and bp.b_objlock is not bp.b_vp.v_interlock:
        KASSERT(bp.b_vp is None or bp.b_objlock is bp.b_vp.v_interlock)
    # Dirty; the "write" is done as far as the caller is concerned.
    bp.b_oflags = (bp.b_oflags | BO_DELWRI) & ~BO_DONE
    brelse(bp, 0)


async def bawrite(bp: buf) -> None:
    """Asynchronous write (see the module's deviations: bwrite, not VOP_BWRITE)."""
    KASSERT(bp.b_cflags & BC_BUSY)
    if bp.b_vp is None:
        KASSERT(bp.b_vp is not None)
    bp.b_flags |= B_ASYNC
    await bwrite(bp)


# ------------------------------------------------------- releasing

# (brelsel's masks, computed once)
_BRELSE_RARE = BC_WANTED | BC_NOCACHE | BC_VFLUSH
_BRELSE_KEEP = ~(BC_AGE | BC_BUSY | BC_NOCACHE)
_NOT_ASYNC = ~B_ASYNC
_VALID = BO_DONE | BO_DELWRI


def brelsel(bp: buf, set_: int) -> None:
    """Release a busy buffer to the cache; an invalid or failed one leaves it."""
    if bp.b_done is not None and cv_has_waiters(bp.b_done):
        KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
    cflags = bp.b_cflags | set_
    if not cflags & BC_BUSY:
        KASSERT(cflags & BC_BUSY)
    if bp.b_iodone is not None:
        KASSERT(bp.b_iodone is None)

    flags = bp.b_flags
    # A clean buffer may be copied on write again.
    if flags & B_COWDONE and not bp.b_oflags & BO_DELWRI:
        flags &= ~B_COWDONE

    # (The rarer cases, tested once together first: a common release is
    # none of them.)
    if cflags & _BRELSE_RARE or flags & B_LOCKED or bp.b_error != 0:
        if cflags & BC_WANTED:
            cflags &= ~(BC_WANTED | BC_AGE)

        # A locked buffer keeps no error; it is tried again later.
        if flags & B_LOCKED:
            bp.b_error = 0

        # Not to be cached, or its I/O failed: it is invalid.
        if cflags & BC_NOCACHE or bp.b_error != 0:
            cflags |= BC_INVAL

        if cflags & BC_VFLUSH:
            # Just flushed by vflushbuf, which left it where it was on the LRU
            # list: it keeps that place unless it is invalid now (or aged).
            cflags &= ~BC_VFLUSH
            if cflags & (BC_INVAL | BC_AGE) or flags & B_LOCKED or bp.b_error != 0:
                (bp.b_cache or bufcache()).lru.pop(bp, None)

    if bp.b_bufsize <= 0 or cflags & BC_INVAL:
        # Invalid or empty: its contents and any write it owed are dropped,
        # and it leaves the cache.
        bp.b_oflags &= ~(BO_DONE | BO_DELWRI)
        _unhash(bp)
    elif bp.b_hash is not None:
        bp.b_cache.lru[bp] = None  # (one still on the list keeps its place)

    bp.b_cflags = cflags & _BRELSE_KEEP  # ~(BC_AGE | BC_BUSY | BC_NOCACHE)
    bp.b_flags = flags & _NOT_ASYNC
    bp.b_owner = None
    if bp.b_busy is not None:
        cv_broadcast(bp.b_busy)


# brelse: give a busy buffer back to the cache (BC_INVAL in ``set_`` throws
# it away).  NetBSD's takes bufcache_lock around brelsel; kemu's brelsel needs
# no lock (see the deviations), so the two are one function.
brelse = brelsel


# ------------------------------------------------------- the cache

def incore(vp: vnode, blkno: int) -> buf | None:
    bp = bufcache().hash.get(_key(vp, blkno))
    if bp is not None and bp.b_cflags & BC_INVAL:
        return None
    if bp is not None:
        if bp.b_objlock is not vp.v_interlock:
            KASSERT(bp.b_objlock is vp.v_interlock)
    return bp


_getblk_site = lock_site()  # (getblk's bufcache_lock; see lock_site)
_idle_site = lock_site()


def _getblk_idle(bc: _Bufcache, bp: buf) -> bool:
    """kemu: getblk's common case as a plain call, as mutex_enter_nowait is
    mutex_enter's, for ``bp``, which the caller found cached and idle (not
    BC_BUSY) with the size it wants.  When bufcache_lock can be taken at once
    with nobody waiting for the CPU, the lock is taken, the buffer made busy
    and the lock released, as getblk does: True; the caller then takes the
    buffer off the LRU list (``bc.lru.pop(bp, None)``, the rest of
    _bbusy_take: see the deviations).  Otherwise nothing is done (False) and
    the caller awaits getblk, which does the whole of it.  (The buffer is
    looked at before the lock is taken: mutex_enter_nowait lets nobody run,
    so nothing changes in between.)
    """
    lock = bc.lock
    if not mutex_enter_nowait(lock, 1, _idle_site):
        return False
    bp.b_cflags |= BC_BUSY  # (_bbusy_take, its LRU pop left to the caller)
    bp.b_owner = curlwp_or_none()
    if bp.b_done is not None and cv_has_waiters(bp.b_done):  # (getblk's KASSERT after bbusy)
        KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
    mutex_exit(lock)
    return True


def bread_nowait(vp: vnode, blkno: int, size: int, flags: int = 0) -> buf | None:
    """kemu: ``await bread(vp, blkno, size, flags)`` when it would neither
    sleep nor let another lwp run, as a plain call (as mutex_enter_nowait is
    mutex_enter's): the block's buffer is cached, idle, of ``size`` bytes,
    valid (BO_DONE or BO_DELWRI) with no error and no residue, its
    copy-on-write handlers have run if ``flags`` has B_MODIFY (B_COWDONE),
    and bufcache_lock is free with nobody waiting for it or for the CPU.
    Then bread's work is done as it would be done (getblk's taking of the
    buffer and biowait's, each a pair of bufcache_lock; bio_doread starts no
    read and fscow_run is not called) and the busy buffer returned;
    otherwise nothing is done (None) and the caller awaits bread (also when
    a host thread's call came between the two pairs: see below)::

        bp = bread_nowait(vp, blkno, size, flags)
        if bp is None:
            error, bp = await bread(vp, blkno, size, flags)

    A file's sequential write reads its indirect block and a bitmap block
    this way at every block.
    """
    bc = bufcache()
    bp = bc.hash.get((id(vp), blkno))  # (_key)
    if bp is None or bp.b_cflags & BC_BUSY or bp.b_bcount != size or \
            not bp.b_oflags & _VALID or bp.b_error or bp.b_resid or \
            (flags & B_MODIFY and not bp.b_flags & B_COWDONE) or \
            bc.lock.mtx_waiters.sq_lwps or not _getblk_idle(bc, bp):
        return None
    # biowait: the I/O is over.  getblk's mutex_exit just now woke nobody and
    # no lwp ran, so the lock is free again and the run queue empty; but a
    # host thread may have queued a call for the machine meanwhile
    # (VirtualCPU.host_poke: a Ctrl-C, a line or a halt from the shell's
    # thread), turning the slow path on: biowait's mutex_enter is to take a
    # trio step for it, and _biowait_done declines.  Then (or if it declines
    # for any other reason) bread_nowait declines too, having done nothing:
    # getblk's taking of the buffer is undone (an idle cached buffer has no
    # owner: brelsel cleared it; its LRU place was kept) and the caller
    # awaits bread.
    if _biowait_done(bp) is None:
        bp.b_cflags &= ~BC_BUSY
        bp.b_owner = None
        return None
    bc.lru.pop(bp, None)  # (_bbusy_take's, left by _getblk_idle)
    return bp


_getblk_slow_site = lock_site()


async def getblk(vp: vnode, blkno: int, size: int, slpflag: int = 0,
                 slptimeo: int = 0) -> buf:
    """The cached buffer for (vp, blkno), busy; its data valid only if BO_DONE or BO_DELWRI."""
    bc = bufcache()
    key = (id(vp), blkno)  # _key(vp, blkno), written out: every bread passes here
    bp = bc.hash.get(key)
    if bp is not None and not bp.b_cflags & BC_BUSY and bp.b_bcount == size and \
            _getblk_idle(bc, bp):
        bc.lru.pop(bp, None)  # (_bbusy_take's, left by _getblk_idle)
        return bp
    if not mutex_enter_nowait(bc.lock, 1, _getblk_site):
        await mutex_enter(bc.lock, at=_getblk_slow_site)
    while True:
        bp = bc.hash.get(key)
        if bp is None:
            break
        if bp.b_cflags & BC_BUSY:
            if await bbusy(bp, False, 0, None):
                continue  # it went away while we waited
        else:
            _bbusy_take(bc, bp)  # bbusy of an idle buffer: it is ours at once
        if bp.b_done is not None and cv_has_waiters(bp.b_done):
            KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
        if bp.b_oflags & (BO_DONE | BO_DELWRI) and bp.b_bcount < size and \
                vp.v_type != VBLK:
            panic("getblk: block size invariant failed")
        if bp.b_bcount == size:
            mutex_exit(bc.lock)
            return bp
        # Same block asked for with another size: push it out and start over.
        # (The write goes past bwrite's MNT_ASYNC test: delayed again, the
        # buffer would stay here dirty and this loop would find it for ever.)
        mutex_exit(bc.lock)
        if bp.b_oflags & BO_DELWRI:
            await _bwrite_start(bp, True)
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
    bp.b_cache = bc
    bc.hash[key] = bp
    bc.nbuf += 1
    bc.bufmem += size
    mutex_exit(bc.lock)
    await _buf_trim()
    return bp


def geteblk(size: int) -> buf:
    bp = buf()
    bp.b_cflags = BC_BUSY | BC_INVAL
    bp.b_data = bytearray(size)
    bp.b_bcount = bp.b_bufsize = size
    return bp


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
        if victim.b_cflags & BC_BUSY:
            # Being flushed (BC_VFLUSH): as getnewbuf, leave it to its
            # write, off the list, aged.
            victim.b_cflags = (victim.b_cflags & ~BC_VFLUSH) | BC_AGE
            continue
        if victim.b_oflags & BO_DELWRI:
            victim.b_cflags |= BC_BUSY | BC_AGE
            # getnewbuf's bawrite, which MNT_ASYNC does not delay (a delayed
            # write would put it back on the list, and this loop go round).
            await _bwrite_start(victim, True)
            continue
        _unhash(victim)


# ------------------------------------------------------- completion

_biowait_site = lock_site()
_done_site = lock_site()


def _biowait_done(bp: buf) -> int | None:
    """kemu: biowait's common case as a plain call: the I/O on ``bp`` is over
    (or its write delayed) and the lock is free with nobody waiting for the
    CPU.  Then the lock is taken and released, as biowait does, and b_error
    returned; otherwise nothing is done (None) and the caller awaits biowait."""
    if not bp.b_cflags & BC_BUSY:  # (biowait's KASSERT: its call only when it fails)
        KASSERT(bp.b_cflags & BC_BUSY)
    if not bp.b_oflags & (BO_DONE | BO_DELWRI):
        return None
    m = (bp.b_cache or bufcache()).lock
    if not mutex_enter_nowait(m, 1, _done_site):
        return None
    mutex_exit(m)
    return bp.b_error


_biowait_slow_site = lock_site()


async def biowait(bp: buf) -> int:
    """Wait for the I/O on ``bp`` to finish (or its write to be delayed); returns b_error."""
    error = _biowait_done(bp)
    if error is not None:
        return error
    bc = bp.b_cache
    m = (bc or bufcache()).lock  # see the deviations: b_objlock in NetBSD
    if not mutex_enter_nowait(m, 1, _biowait_site):
        await mutex_enter(m, at=_biowait_slow_site)
    while not bp.b_oflags & (BO_DONE | BO_DELWRI):
        await cv_wait(_cv(bp, "b_done", "biowait"), m)
    mutex_exit(m)
    return bp.b_error


def biodone(bp: buf) -> None:
    """Mark I/O done (biodone2): call b_iodone, or release an async buffer, or wake biowait."""
    if bp.b_oflags & BO_DONE:  # (biodone's KASSERT; biodone2 follows)
        KASSERT(not bp.b_oflags & BO_DONE)
    if bp.b_oflags & BO_DONE:
        panic("biodone2 already")
    bp.b_flags &= ~B_COWDONE
    bp.b_oflags |= BO_DONE
    # Every finished write gives back the v_numoutput its issuer took
    # (bwrite, nestiobuf_setup, genfs_do_io), whoever completes it.
    if not bp.b_flags & B_READ:
        vwakeup(bp)
    if bp.b_iodone is not None:
        if bp.b_done is not None and cv_has_waiters(bp.b_done):
            KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
        fn = bp.b_iodone
        bp.b_iodone = None
        fn(bp)
        return
    if bp.b_flags & B_ASYNC:
        if bp.b_done is not None and cv_has_waiters(bp.b_done):
            KASSERT(bp.b_done is None or not cv_has_waiters(bp.b_done))
        # Released, cached or not (a geteblk buffer too), as biodone2 does.
        if _cached(bp) and not bp.b_flags & B_READ:
            _short_is_eio(bp)
        # With b_error set this invalidates it: nobody hears of the error.
        brelse(bp, 0)
        return
    if bp.b_done is not None:
        cv_broadcast(bp.b_done)


def vwakeup(bp: buf) -> None:
    """vfs_subr.c's vwakeup: one write of ``bp``'s vnode is over; wake fsync at none left."""
    vp = bp.b_vp
    if vp is None:
        return
    vp.v_numoutput -= 1
    if vp.v_numoutput < 0:
        panic("vwakeup: neg numoutput, vp %r", vp)
    if vp.v_numoutput == 0:
        cv_broadcast(vp.v_cv)


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
    if bp.b_bcount > bp.b_bufsize:
        KASSERT(bp.b_bcount <= bp.b_bufsize)
    if mbp is bp:
        KASSERT(mbp is not bp)
    error = bp.b_error
    donebytes = bp.b_bufsize
    if error == 0 and (bp.b_bcount < bp.b_bufsize or bp.b_resid > 0):
        # Not all got transferred (a driver's clip cut b_bcount, or a
        # residue): an error of the whole, as mbp cannot be told which.
        error = EIO
    putiobuf(bp)
    nestiobuf_done(mbp, donebytes, error)


def nestiobuf_setup(mbp: buf, bp: buf, offset: int, size: int) -> None:
    """Make ``bp`` a child of ``mbp`` covering ``size`` bytes at ``offset`` of its data."""
    isread = mbp.b_flags & B_READ
    if mbp.b_bcount < offset + size:
        KASSERT(mbp.b_bcount >= offset + size)
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
        KASSERT(mbp.b_resid >= donebytes)
    mbp.b_resid -= donebytes
    if error:
        mbp.b_error = error
    if mbp.b_resid == 0:
        if mbp.b_error:
            mbp.b_resid = mbp.b_bcount
        biodone(mbp)


async def bbusy(bp: buf, intr: bool, timo: int, interlock: kmutex_t | None) -> int:
    """Wait until ``bp`` is not busy and take it (called with bufcache_lock held).

    EPASSTHROUGH if it had to wait (the caller looks the block up again),
    as NetBSD's does; 0 once it is the caller's.
    """
    bc = bufcache()
    if not mutex_owned(bc.lock):
        KASSERT(mutex_owned(bc.lock))
    if bp.b_cflags & BC_BUSY:
        bp.b_cflags |= BC_WANTED
        if interlock is not None:
            mutex_exit(interlock)
        await cv_wait(_cv(bp, "b_busy", "biolock"), bc.lock)
        if interlock is not None:
            await mutex_enter(interlock)
        return EPASSTHROUGH
    _bbusy_take(bc, bp)
    return 0


def _bbusy_take(bc: _Bufcache, bp: buf) -> None:
    """bbusy's end (idle ``bp`` becomes the caller's) and the bremfree that
    follows it in getblk: off the LRU list."""
    bp.b_cflags |= BC_BUSY
    bp.b_owner = curlwp_or_none()  # (curlwp: the caller holds bufcache_lock, so runs in an lwp)
    bc.lru.pop(bp, None)


# ------------------------------------------------------- vfs_subr.c

V_SAVE = 0x0001


def _vnode_bufs(vp: vnode) -> list[buf]:
    return [b for b in list(bufcache().hash.values()) if b.b_vp is vp]


_bflush_take_site = lock_site()


async def _bflush_take(bp: buf) -> bool:
    """vflushbuf's BC_BUSY|BC_VFLUSH: take ``bp``, leaving it where it is on the LRU list.

    False if it left the cache.  A busy one is waited for (see the
    deviations), then taken the same way.
    """
    bc = bufcache()
    await mutex_enter(bc.lock, at=_bflush_take_site)
    while True:
        if bp.b_hash is None or bc.hash.get(bp.b_hash) is not bp:
            mutex_exit(bc.lock)
            return False
        if not bp.b_cflags & BC_BUSY:
            bp.b_cflags |= BC_BUSY | BC_VFLUSH
            bp.b_owner = curlwp()
            mutex_exit(bc.lock)
            return True
        await bbusy(bp, False, 0, None)  # it is busy: this waits, and we look again


async def vflushbuf(vp: vnode, flags: int) -> int:
    """Write every dirty buffer of ``vp``; returns the first error (see the deviations).

    As vfs_subr.c's, it goes round again while a pass found buffers to
    write (a buffer can be dirtied while another is written).  With
    FSYNC_WAIT it then waits until no write of ``vp`` is in flight and, if
    a buffer was dirtied meanwhile, starts over, so that no dirty buffer is
    left when it returns.
    """
    first = 0
    while True:
        wrote = False
        for bp in _vnode_bufs(vp):
            if not bp.b_oflags & BO_DELWRI or not await _bflush_take(bp):
                continue
            if not bp.b_oflags & BO_DELWRI:
                brelse(bp, BC_VFLUSH)
                continue
            # NetBSD starts it with bawrite, which MNT_ASYNC does not delay:
            # kemu's synchronous write goes past bwrite's MNT_ASYNC test too.
            error = await _bwrite_start(bp, True)
            wrote = True
            if error and not first:
                first = error
        if wrote:
            continue  # (vfs_subr.c: goto loop after each write)
        if not flags & FSYNC_WAIT:
            return first
        if vp.v_numoutput != 0:
            # (kemu: v_interlock only when there is something to wait for)
            await mutex_enter(vp.v_interlock)
            while vp.v_numoutput != 0:
                await cv_wait(vp.v_cv, vp.v_interlock)
            mutex_exit(vp.v_interlock)
        # Dirtied while we waited: round again (NetBSD vprints "vflushbuf: dirty").
        if not any(b.b_oflags & BO_DELWRI for b in _vnode_bufs(vp)):
            return first


async def vinvalbuf(vp: vnode, flags: int, cred: Any, l: Any, slpflag: int = 0,
                    slptimeo: int = 0) -> int:
    """Throw away ``vp``'s buffers (writing dirty ones first if V_SAVE).

    vfs_subr.c's order: with V_SAVE, flush and wait (NetBSD's VOP_FSYNC with
    FSYNC_WAIT); then, starting over whenever it had to sleep for a busy
    buffer, invalidate the buffers that are dirty, then the clean ones,
    except that a clean one found dirty by now is written (V_SAVE) and the
    walk starts over.
    """
    if flags & V_SAVE:
        error = await vflushbuf(vp, FSYNC_WAIT)
        if error:
            return error
    bc = bufcache()
    restart = True
    while restart:
        restart = False
        bufs = _vnode_bufs(vp)
        dirty = [bp for bp in bufs if bp.b_oflags & BO_DELWRI]
        clean = [bp for bp in bufs if not bp.b_oflags & BO_DELWRI]
        for onclean, bp in [(False, bp) for bp in dirty] + [(True, bp) for bp in clean]:
            await mutex_enter(bc.lock)
            if bp.b_hash is None or bc.hash.get(bp.b_hash) is not bp:
                mutex_exit(bc.lock)
                continue  # it left the cache meanwhile
            if await bbusy(bp, False, 0, None):
                mutex_exit(bc.lock)
                restart = True  # it slept: the lists may have changed
                break
            mutex_exit(bc.lock)
            if onclean and bp.b_oflags & BO_DELWRI and flags & V_SAVE:
                # NetBSD's VOP_BWRITE here is a bwrite, which an MNT_ASYNC
                # mount delays: the restart would then invalidate the buffer
                # from the dirty list, its write lost.  kemu writes it
                # synchronously past the MNT_ASYNC test (see the deviations).
                bp.b_cflags |= BC_VFLUSH
                await _bwrite_start(bp, True)
                restart = True
                break
            brelse(bp, BC_INVAL | BC_VFLUSH)
    return 0


def _install_biodone_hook() -> None:
    """bdev_strategy (kern) completes a buf for a missing driver through this hook."""
    from kern import subr_devsw

    subr_devsw.biodone_vfs = biodone


_install_biodone_hook()
