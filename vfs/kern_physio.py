"""Raw device I/O on behalf of a user: physio(9) and minphys.

Ports NetBSD's sys/kern/kern_physio.c, compared against ``$NetBSD:
kern_physio.c,v 1.93 2015/04/21 pooka$`` (the stored revision of the NetBSD
8 era; notices in LICENSE.NetBSD).  A character
device's d_read/d_write call ``physio(strategy, NULL, dev, B_READ or
B_WRITE, minphys, uio)``; physio cuts the request into bufs of at most
MAXPHYS bytes (``minphys`` may cut further), gives each to the driver's
``strategy`` and collects them, keeping up to ``physio_concurrency`` (16) in
flight.  The offset must be a multiple of DEV_BSIZE (EINVAL otherwise).

When the transfer ends early -- a buf failed, or came back short (a buf
with b_resid == b_bcount and no error is the end of the medium) -- the
lowest such offset decides: ``uio_resid`` is put back so that only the bytes
before it count as done, and that buf's error (0 for end of medium) is
returned.

Data.  NetBSD wires the user's pages and lets the device transfer straight
into them.  kemu gives each buf a kernel bounce buffer instead: for a write
the bytes are copied in from the uio (``uiomove``) before the buf goes to the
driver, for a read they are copied out after it completed.  That copy-out is
NetBSD's ``physio_done``, which runs in a workqueue there and in the calling
lwp here, whenever physio waits for its bufs.  A bad user address gives
EFAULT at that buf's offset.

The strategy may complete a buf inside the call (biodone before returning)
or later from another lwp; both work.  It may be ``async def`` or plain.

Deviations:

* Data goes through bounce buffers (above), not uvm_vslock/vmapbuf; a
  write's copy-in that faults stops the transfer with its error, as a
  failing uvm_vslock does; a read's copy-out that faults counts as EFAULT
  at that buf's offset.
* The per-call state is kept in a master buf (``b_freelistindex`` for
  ps_running, ``b_lblkno`` for ps_endoffset, ``b_error`` for ps_error, as
  kern_physio.c kept it before 1.93's struct physio_stat) plus a
  ``_physio_ctx``; there is no ps_failed count: a transfer has failed when
  the end offset is set.
* ``physio_done`` runs in the calling lwp, from ``physio_wait``, not in the
  "physiod" workqueue; ``physio_biodone`` queues the buf for it and
  broadcasts on two condvars ("physio1" for the issuing loop, "physio2"
  for the final wait) where 1.93 signals one.
* The issuing loop also stops when a buf ended the transfer while it
  waited (1.93 looks at ps_failed only before waiting, so it may issue
  one more buf).
* The caller's ``obp`` is marked with B_DONTFREE (B_AGE reused) so
  ``putphysbuf`` keeps it; 1.93 compares with ps_orig_bp.  Setting it
  replaces obp's b_flags at once (1.93 sets them per transfer).
* The strategy may be ``async def``.
* KASSERTs on the hot paths test their condition inline and call KASSERT
  (the same panic and message) only when it fails (physio_done,
  physio_biodone).
* kemu's bounce buffers of MAXPHYS bytes are kept for the next buf once a
  buf is done with one (``_bounce_get``/``_bounce_put``, at most
  PHYSIO_CONCURRENCY of them, shared by the process's machines): a buf
  starts with the bytes of an earlier transfer in its buffer, not zeros,
  as NetBSD's starts with whatever the user's pages held; a read hands on
  only the bytes the driver transferred (b_bcount - b_resid), a write's
  copy-in fills all of it.  Making a zeroed 64 KiB buffer per buf was
  ~4.7 MB of memset a fss sweep seed.
* The mutex_init of a call's state and physio_wait's mutex_enter pass a
  ``lock_site`` kept at module level for that call (kern_mutex's ``at``,
  kemu's): lockdebug's site (or the lock class's init site) is looked up
  once, not with a frame lookup at every call; the same sites and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kern.cpu import curlwp
from kern.errno import EFAULT, EINVAL, EPASSTHROUGH
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    lock_site,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.param import PAGE_MASK
from kern.subr_devsw import devsw_call
from kern.subr_prf import KASSERT, panic
from kern.subr_uio import iovec, uio, uiomove
from vfs.buf import (
    B_AGE,
    B_PHYS,
    B_RAW,
    B_READ,
    B_WRITE,
    BC_BUSY,
    BC_WANTED,
    BPRIO_TIMECRITICAL,
    buf,
)
from vfs.vfs_bio import MAXPHYS, bbusy, btodb, bufcache, dbtob, getiobuf, putiobuf

PHYSIO_CONCURRENCY = 16  # bufs in flight per physio call

physio_concurrency = PHYSIO_CONCURRENCY

# kern_physio.c keeps its per-call bookkeeping in fields of the master buf
# that raw I/O does not otherwise use; so does the port.
#   b_running   = b_freelistindex: bufs given to the driver, not yet done
#   b_endoffset = b_lblkno: lowest offset where the transfer ended early, or -1
#   B_DONTFREE  = B_AGE: the caller's buf, not to be freed


B_DONTFREE = B_AGE


_ctx_lock_init_site = lock_site()


class _physio_ctx:
    """kemu's side of a physio call: completed bufs waiting for physio_done."""

    __slots__ = ("done", "lock", "cv1", "cv2", "uio", "dest")

    def __init__(self, uio: Any) -> None:
        self.done: list[buf] = []
        self.lock = kmutex_t()
        mutex_init(self.lock, MUTEX_DEFAULT, IPL_NONE, at=_ctx_lock_init_site)
        self.cv1 = kcondvar_t()
        cv_init(self.cv1, "physio1")
        self.cv2 = kcondvar_t()
        cv_init(self.cv2, "physio2")
        self.uio = uio
        self.dest: dict[int, Any] = {}  # id(bp) -> where its data goes in the uio's space


# kemu: bounce buffers of MAXPHYS bytes that no buf holds (see the header).
_bounce_pool: list[bytearray] = []


def _bounce_get(todo: int) -> bytearray:
    """A bounce buffer of ``todo`` bytes: a kept one for a MAXPHYS transfer
    (holding an earlier transfer's bytes), else a new, zeroed one."""
    if todo == MAXPHYS:
        try:
            return _bounce_pool.pop()   # (one step: machines in other threads share the pool)
        except IndexError:
            pass
    return bytearray(todo)


def _bounce_put(bp: buf) -> None:
    """``bp`` is done with its bounce buffer: keep it for another buf."""
    data = bp.b_data
    bp.b_data = None
    if data.__class__ is bytearray and len(data) == MAXPHYS \
            and len(_bounce_pool) < PHYSIO_CONCURRENCY:
        _bounce_pool.append(data)


def _chunk_uio(u: uio, base: Any, n: int, offset: int) -> uio:
    """A one-iovec uio in ``u``'s address space and direction over ``n`` bytes at ``base``."""
    # (iovcnt and resid given: uio() would count them from the list, ~2 us a buf)
    return uio([iovec(base, n)], 1, offset, n, u.uio_rw, u.uio_vmspace)


def _advance(base: Any, n: int) -> Any:
    if isinstance(base, int):
        return base + n
    mv = base if isinstance(base, memoryview) else memoryview(base).cast("B")
    return mv[n:]


def _page_aligned_end(base: Any, todo: int) -> bool:
    if not isinstance(base, int):
        return True
    return ((base + todo) & PAGE_MASK) == 0


def getphysbuf() -> buf:
    """A buf for raw I/O."""
    bp = getiobuf(None, True)
    bp.b_error = 0
    bp.b_cflags = BC_BUSY
    return bp


def putphysbuf(bp: buf) -> None:
    """Give back a raw I/O buf (not the caller's own)."""
    if bp.b_flags & B_DONTFREE:
        return
    if bp.b_cflags & BC_WANTED:
        panic("putphysbuf: private buf BC_WANTED")
    putiobuf(bp)


async def physio_done(bp: buf) -> None:
    """Account for one completed buf: copy read data out, note where it ended early."""
    mbp: buf = bp.b_private
    ctx: _physio_ctx = mbp.b_private
    todo = bp.b_bufsize
    done = bp.b_bcount - bp.b_resid
    error = bp.b_error

    if not (bp.b_bcount <= todo and bp.b_resid <= bp.b_bcount and bp.b_flags & B_PHYS):
        # (the KASSERTs' calls only when one fails: every buf of a transfer)
        KASSERT(bp.b_bcount <= todo)
        KASSERT(bp.b_resid <= bp.b_bcount)
        KASSERT(bp.b_flags & B_PHYS)

    dest = ctx.dest.pop(id(bp), None)
    if bp.b_flags & B_READ and done > 0 and dest is not None:
        # Hand the bytes the device delivered to the caller's buffer.
        cu = _chunk_uio(ctx.uio, dest, done, dbtob(bp.b_blkno))
        if await uiomove(memoryview(bp.b_data)[:done], done, cu):
            done = 0
            error = EFAULT
    _bounce_put(bp)

    if done != todo:
        endoffset = dbtob(bp.b_blkno) + done
        # An error or the end of the medium: the one at the lowest offset counts.
        KASSERT(mbp.b_lblkno != endoffset)
        if mbp.b_lblkno == -1 or endoffset < mbp.b_lblkno:
            mbp.b_lblkno = endoffset
            mbp.b_error = error
    else:
        if error != 0:  # (the KASSERT's call only when it fails)
            KASSERT(error == 0)

    mbp.b_freelistindex -= 1
    putphysbuf(bp)


def physio_biodone(bp: buf) -> None:
    """b_iodone of a physio buf: hand it to the physio call for physio_done."""
    mbp: buf = bp.b_private
    ctx: _physio_ctx = mbp.b_private
    if not (mbp.b_freelistindex > 0 and bp.b_resid <= bp.b_bcount <= bp.b_bufsize):
        # (the KASSERTs' calls only when one fails: every buf of a transfer)
        KASSERT(mbp.b_freelistindex > 0)
        KASSERT(bp.b_bcount <= bp.b_bufsize)
        KASSERT(bp.b_resid <= bp.b_bcount)
    ctx.done.append(bp)
    cv_broadcast(ctx.cv1)
    cv_broadcast(ctx.cv2)


_physio_wait_site = lock_site()


async def physio_wait(mbp: buf, n: int, wchan: str) -> int:
    """Wait until at most ``n`` bufs are in flight, finishing the completed ones."""
    ctx: _physio_ctx = mbp.b_private
    cv = ctx.cv1 if wchan == "physio1" else ctx.cv2
    while True:
        while ctx.done:
            await physio_done(ctx.done.pop(0))
        if mbp.b_freelistindex <= n:
            return 0
        await mutex_enter(ctx.lock, at=_physio_wait_site)
        while not ctx.done:
            await cv_wait(cv, ctx.lock)
        mutex_exit(ctx.lock)


async def physio(strategy: Callable[[buf], Any], obp: buf | None, dev: int, flags: int,
                 min_phys: Callable[[buf], None], uio: Any) -> int:
    """Do raw I/O between device ``dev`` and the memory ``uio`` describes.

    ``flags`` is B_READ or B_WRITE; ``strategy`` is the driver's d_strategy,
    ``min_phys`` bounds each buf's size (``minphys``).  Returns 0 or an errno;
    ``uio`` is advanced by the bytes transferred.
    """
    l = curlwp()
    p = l.l_proc
    concurrency = physio_concurrency - 1
    error = 0
    flags &= B_READ | B_WRITE

    if obp is not None:
        # The caller's buf: wait until nobody else uses it, then keep it ours.
        bc = bufcache()
        await mutex_enter(bc.lock)
        while await bbusy(obp, False, 0, None) == EPASSTHROUGH:
            pass
        mutex_exit(bc.lock)
        obp.b_flags = B_DONTFREE
        concurrency = 0  # some drivers use obp as an identifier

    mbp = getphysbuf()
    mbp.b_freelistindex = 0  # b_running
    mbp.b_lblkno = -1  # b_endoffset
    ctx = _physio_ctx(uio)
    mbp.b_private = ctx

    bp: buf | None = None
    stop = False
    for iovp in list(uio.uio_iov[:uio.uio_iovcnt]):
        sync = True
        while iovp.iov_len > 0:
            if mbp.b_lblkno != -1:
                stop = True  # an earlier buf ended the transfer
                break
            error = await physio_wait(mbp, 0 if sync else concurrency, "physio1")
            if error or mbp.b_lblkno != -1:
                stop = True
                break
            bp = obp if obp is not None else getphysbuf()
            bp.b_dev = dev
            bp.b_proc = p
            bp.b_private = mbp
            bp.b_vp = None

            # A raw transfer to or from user memory, in this direction.
            bp.b_flags = (bp.b_flags & B_DONTFREE) | B_PHYS | B_RAW | flags
            bp.b_iodone = physio_biodone
            bp.b_error = 0
            bp.b_oflags = 0

            # As large a transfer as allowed, starting at a whole block.
            bp.b_blkno = btodb(uio.uio_offset)
            if dbtob(bp.b_blkno) != uio.uio_offset:
                error = EINVAL
                stop = True
                break
            bp.b_bcount = min(MAXPHYS, iovp.iov_len)
            min_phys(bp)
            todo = bp.b_bufsize = bp.b_bcount
            if todo > MAXPHYS:
                panic("todo(%zu) > MAXPHYS; minphys broken", todo)
            bp.b_data = _bounce_get(todo)
            bp.b_resid = todo

            # The next chunk may share this one's last page: let this one finish first.
            sync = not _page_aligned_end(iovp.iov_base, todo)

            if not flags & B_READ:
                # The bytes to write go to the bounce buffer now.
                cu = _chunk_uio(uio, iovp.iov_base, todo, uio.uio_offset)
                error = await uiomove(bp.b_data, todo, cu)
                if error:
                    _bounce_put(bp)
                    stop = True
                    break
            else:
                ctx.dest[id(bp)] = iovp.iov_base

            bp.b_prio = BPRIO_TIMECRITICAL
            mbp.b_freelistindex += 1

            # Start the transfer.
            await devsw_call(strategy, bp)
            bp = None

            iovp.iov_len -= todo
            iovp.iov_base = _advance(iovp.iov_base, todo)
            uio.uio_offset += todo
            uio.uio_resid -= todo
        if stop:
            break

    error2 = await physio_wait(mbp, 0, "physio2")
    if error == 0:
        error = error2

    if mbp.b_lblkno != -1:
        delta = uio.uio_offset - mbp.b_lblkno
        KASSERT(delta > 0)
        uio.uio_resid += delta
        # uio_offset is left where the issuing stopped, as NetBSD leaves it.
    if bp is not None:
        ctx.dest.pop(id(bp), None)
        putphysbuf(bp)
    if error == 0:
        error = mbp.b_error
    mbp.b_private = None
    putphysbuf(mbp)

    if obp is not None:
        KASSERT(obp.b_cflags & BC_BUSY)
        bc = bufcache()
        await mutex_enter(bc.lock)
        obp.b_cflags &= ~(BC_BUSY | BC_WANTED)
        obp.b_flags &= ~(B_PHYS | B_RAW | B_DONTFREE)
        obp.b_iodone = None
        if obp.b_busy is not None:
            cv_broadcast(obp.b_busy)
        mutex_exit(bc.lock)
    return error


def minphys(bp: buf) -> None:
    """Bound a raw transfer to MAXPHYS bytes."""
    if bp.b_bcount > MAXPHYS:
        bp.b_bcount = MAXPHYS

