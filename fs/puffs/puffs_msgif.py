"""Port of NetBSD sys/fs/puffs/puffs_msgif.c revision 1.27 (2007-04-04, pooka).

$NetBSD: puffs_msgif.c,v 1.27 2007/04/04 20:22:47 pooka Exp $
Copyright (c) 2005, 2006, 2007 Antti Kantee.  The notice and license are
kept in LICENSE.NetBSD.

The request engine of puffs: a caller in the kernel parks itself
(``struct puffs_park``), its request goes on the mount's "touser" queue,
the server fetches it with PUFFSGETOP (it moves to the "replywait" queue),
answers with PUFFSPUTOP, and the caller wakes with the server's result.
Fire-and-forget (FAF) requests carry no id and are freed when fetched.

Reading aid: a request buffer (``kbuf``) is a ``bytearray`` that starts
with the request struct; ``park_preq`` is that buffer and ``park_hdr`` a
``puffs_req`` view of its head.  C's ``free(preq, M_PUFFS)`` of a FAF
request frees that bytearray.  TAILQs are Python lists.  The park pool is a
pool_cache as in C: a released park keeps its constructed mutex and
condvar until puffs_msgif_destroy.

Deviations from 1.27 (each is listed again in puffs_vfsops.py's header):

* M1 putop and puffs_userdead set PARKFLAG_DONE before waking a waiter.
  1.27 never sets it, so a waiter whose signal raced the reply found its
  park on no queue and hit the KASSERT in touser's signal path.
* M2 a park found WAITERGONE by getop is taken off the touser queue.  1.27
  left it at the head and looped on it while holding pmp_lock, which the
  departing waiter needs to remove it: a livelock.
* M3 getop with a buffer too small for the next request puts that request
  back at the head of the queue (as on a copyout fault) and returns E2BIG.
  1.27 dropped it from every queue, orphaning its caller (puffs_userdead
  could not find it, a signal then hit the KASSERT).  This is the §8.9
  "GETOP E2BIG orphan"; the fix is pinned by a test.
* M4 a FAF request refused with ENXIO (the file system is not RUNNING) or
  whose park cannot be allocated has its buffer freed; 1.27 leaked it.
* M5 puffs_userdead also broadcasts pmp_req_waiter_cv, so a server thread
  asleep in getop sees the file system die (ENXIO) instead of sleeping on.
* M6 getop answers ERESTART when the descriptor is being closed by another
  thread (NetBSD 6's fo_restart; see puffs_transport.puffs_fop_restart),
  also when the close came before getop went to sleep.
* M7 a park is locked when touser queues it (under pmp_lock), not when it
  is allocated.  1.27 took pmp_lock with a fresh park's mutex held, and
  park mutexes with pmp_lock held elsewhere: a lock-order reversal by
  class, which kemu's lockdebug (like WITNESS) reports.
* M8 getop puts a request on the replywait queue before copying it out
  (and takes it back off after a copyout fault), so that it never takes
  pmp_lock with a park's mutex held; 1.27 did, while taking the park
  mutexes under pmp_lock elsewhere (the same reversal as M7).
* M9 puffs_userdead's CALL branch for a park on the replywait queue does
  not take park_mtx a second time (1.27 did: a self-deadlock).  CALL parks
  only come from async buffer reads, unreachable without a page cache.

Kept from 1.27 (D1, pinned in tests/fs/puffs/test_touser_wait.py): touser
takes any 0 from cv_wait_sig for the reply, DONE or not.  It then returns
preq_rv, which a request the server never answered holds as its own opclass
and optype (the header's union), and drops its reference, the only one, on a
park still queued, which the next request reuses.  NetBSD's sleep returns 0
without a wakeup when a signal that woke it was taken by another lwp of the
process first (kemu too), after a stop and continue, and after its reboot's
suspendsched (neither reaches touser in kemu: no job control, and the halt
stops processes after the unmounts, or with RB_NOSYNC wakes no sleeper).
1.40.6.3 keeps a reference for each queue; 1.101.10.2's puffs_msg_wait still
takes the 0 for the reply.

Not a deviation, a note (K1): the DPRINTFs every request passes (touser,
getop, putop) are guarded by ``if puffs_sys.puffsdebug``, which is what C's
DPRINTF macro expands to; a plain Python call would read their arguments
(ctypes fields of the request header) on every round trip, debug or not.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from kern.cpu import curlwp
from kern.errno import E2BIG, EINTR, EINVAL, ENXIO, ERESTART, EWOULDBLOCK
from kern.kern_condvar import (
    cv_broadcast,
    cv_destroy,
    cv_init,
    cv_signal,
    cv_wait_sig,
    kcondvar_t,
)
from kern.kern_lwp import LW_PENDSIG
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
)
from kern.kern_sig import sigispending
from kern.kern_types import sizeof
from kern.subr_copy import copyin, copyout
from kern.subr_kmem import (
    KM_NOSLEEP,
    KM_SLEEP,
    M_PUFFS,
    M_WAITOK,
    M_ZERO,
    free,
    kmem_alloc,
    kmem_free,
    malloc,
)
from kern.subr_prf import KASSERT
from vfs.vfs_trans import fstrans_done, fstrans_is_owner, fstrans_start

from . import puffs_sys
from .puffs_msgif_h import (
    ALIGN,
    PCACHE_TYPE_WRITE,
    PUFFS_VFS_SUSPEND,
    PUFFS_VN_INACTIVE,
    PUFFSOP_CACHE,
    PUFFSOP_OPCLASS,
    PUFFSOP_VFS,
    PUFFSOP_VN,
    PUFFSOP_WANTREPLY,
    PUFFSOPFLAG_FAF,
    puffs_req,
    puffs_reqh_get,
    puffs_reqh_put,
    puffs_vfsreq_suspend,
)
from .puffs_sys import DPRINTF, PMPTOMP, PUFFSTAT_DYING, PUFFSTAT_RUNNING, puffs_mount

parkdone_fn = Callable[[bytearray, Any], None]


class puffs_park:
    """While a request is going to userspace, park the caller within the kernel."""

    _c_sizeof = 96

    def __init__(self) -> None:
        self.park_preq: bytearray | None = None  # req followed by buf
        self.park_hdr: puffs_req | None = None   # (the puffs_req at its head)
        self.park_id = 0                         # duplicate of preq_id
        self.park_copylen = 0                    # userspace copylength
        self.park_maxlen = 0                     # max size in comeback
        self.park_done: parkdone_fn | None = None
        self.park_donearg: Any = None
        self.park_flags = 0
        self.park_refcount = 0
        self.park_cv = kcondvar_t()
        self.park_mtx = kmutex_t()

    def __repr__(self) -> str:
        return (f"<puffs_park id={self.park_id} flags={self.park_flags:#x} "
                f"ref={self.park_refcount} copy={self.park_copylen} max={self.park_maxlen}>")


PARKFLAG_WAITERGONE = 0x01
PARKFLAG_DONE = 0x02
PARKFLAG_ONQUEUE1 = 0x04
PARKFLAG_ONQUEUE2 = 0x08
PARKFLAG_CALL = 0x10

# static struct pool_cache parkpc: constructed parks ready for reuse
parkpc: list[puffs_park] = []
_parkpc_all: list[puffs_park] = []


def makepark(arg: Any, obj: puffs_park, flags: int) -> int:
    park = obj

    mutex_init(park.park_mtx, MUTEX_DEFAULT, IPL_NONE)
    cv_init(park.park_cv, "puffsrpl")

    return 0


def nukepark(arg: Any, obj: puffs_park) -> None:
    park = obj

    cv_destroy(park.park_cv)
    mutex_destroy(park.park_mtx)


def puffs_msgif_init() -> None:

    parkpc.clear()
    _parkpc_all.clear()


def puffs_msgif_destroy() -> None:

    # pool_cache_destroy: run the destructor of every cached object
    for park in _parkpc_all:
        if park in parkpc:
            nukepark(None, park)
        kmem_free(park, sizeof(puffs_park))
    parkpc.clear()
    _parkpc_all.clear()


def _pool_cache_get(waitok: int) -> puffs_park | None:
    if parkpc:
        return parkpc.pop()
    park = kmem_alloc(sizeof(puffs_park), KM_SLEEP if waitok else KM_NOSLEEP)
    if park is None:
        return None
    makepark(None, park, 0)
    _parkpc_all.append(park)
    return park


def _pool_cache_put(park: puffs_park) -> None:
    park.park_preq = None
    park.park_hdr = None
    park.park_done = None
    park.park_donearg = None
    parkpc.append(park)


def puffs_park_alloc(waitok: int) -> puffs_park | None:
    """A park with one reference.  M7: it is not locked yet (touser locks it
    when it becomes visible on the queue)."""
    park = _pool_cache_get(waitok)
    if park is not None:
        park.park_refcount = 1

    return park


async def _park_drop(park: puffs_park) -> None:
    """Release a park that is not locked (M7's counterpart of C's release)."""
    await mutex_enter(park.park_mtx)
    puffs_park_release(park, 0)


async def puffs_park_reference(park: puffs_park) -> None:

    await mutex_enter(park.park_mtx)
    park.park_refcount += 1


def puffs_park_release(arg: puffs_park, fullnuke: int) -> None:
    park = arg

    KASSERT(mutex_owned(park.park_mtx))
    park.park_refcount -= 1

    mutex_exit(park.park_mtx)
    if park.park_refcount == 0 or fullnuke:
        _pool_cache_put(park)


def _setpreq(park: puffs_park, kbuf: bytearray) -> None:
    """park->park_preq = kbuf (and the header view C gets for free)."""
    park.park_preq = kbuf
    park.park_hdr = puffs_req.from_buffer(kbuf)


def puffs_reqtofaf(park: puffs_park) -> None:
    """Converts a non-FAF op to a FAF: a heap copy of the request, tagged FAF.

    It is safe to block here, since the original op is not a FAF.
    """
    assert park.park_hdr is not None and park.park_preq is not None
    KASSERT((park.park_hdr.preq_opclass & PUFFSOPFLAG_FAF) == 0)

    newpreq = malloc(park.park_copylen, M_PUFFS, M_ZERO | M_WAITOK)

    newpreq[:park.park_copylen] = park.park_preq[:park.park_copylen]

    _setpreq(park, newpreq)
    park.park_hdr.preq_opclass |= PUFFSOPFLAG_FAF


# ------------------------------------------------------------------ kernel-user-kernel waitqueues

async def puffs_getreqid(pmp: puffs_mount) -> int:

    await mutex_enter(pmp.pmp_lock)
    rv = pmp.pmp_nextreq
    pmp.pmp_nextreq = (pmp.pmp_nextreq + 1) & 0xffffffffffffffff
    mutex_exit(pmp.pmp_lock)

    return rv


async def puffs_vfstouser(pmp: puffs_mount, optype: int, kbuf: bytearray, buflen: int) -> int:
    """vfs request."""

    park = puffs_park_alloc(1)
    assert park is not None
    _setpreq(park, kbuf)

    park.park_hdr.preq_opclass = PUFFSOP_VFS
    park.park_hdr.preq_optype = optype

    park.park_maxlen = park.park_copylen = buflen
    park.park_flags = 0

    return await touser(pmp, park, await puffs_getreqid(pmp), None, None)


async def puffs_suspendtouser(pmp: puffs_mount, status: int) -> None:

    pvfsr_susp = malloc(ctypes.sizeof(puffs_vfsreq_suspend), M_PUFFS, M_WAITOK | M_ZERO)
    park = puffs_park_alloc(1)
    assert park is not None

    puffs_vfsreq_suspend.from_buffer(pvfsr_susp).pvfsr_status = status
    _setpreq(park, pvfsr_susp)

    park.park_hdr.preq_opclass = PUFFSOP_VFS | PUFFSOPFLAG_FAF
    park.park_hdr.preq_optype = PUFFS_VFS_SUSPEND

    park.park_maxlen = park.park_copylen = ctypes.sizeof(puffs_vfsreq_suspend)
    park.park_flags = 0

    await touser(pmp, park, 0, None, None)


async def puffs_vntouser(pmp: puffs_mount, optype: int, kbuf: bytearray, buflen: int,
                         maxdelta: int, cookie: Any, vp1: Any, vp2: Any) -> int:
    """vnode level request."""

    park = puffs_park_alloc(1)
    assert park is not None
    _setpreq(park, kbuf)

    park.park_hdr.preq_opclass = PUFFSOP_VN
    park.park_hdr.preq_optype = optype
    park.park_hdr.preq_cookie = cookie

    park.park_copylen = buflen
    park.park_maxlen = buflen + maxdelta
    park.park_flags = 0

    return await touser(pmp, park, await puffs_getreqid(pmp), vp1, vp2)


async def puffs_vntouser_req(pmp: puffs_mount, optype: int, kbuf: bytearray, buflen: int,
                             maxdelta: int, cookie: Any, reqid: int, vp1: Any,
                             vp2: Any) -> int:
    """vnode level request, caller-controller req id."""

    park = puffs_park_alloc(1)
    assert park is not None
    _setpreq(park, kbuf)

    park.park_hdr.preq_opclass = PUFFSOP_VN
    park.park_hdr.preq_optype = optype
    park.park_hdr.preq_cookie = cookie

    park.park_copylen = buflen
    park.park_maxlen = buflen + maxdelta
    park.park_flags = 0

    return await touser(pmp, park, reqid, vp1, vp2)


async def puffs_vntouser_call(pmp: puffs_mount, optype: int, kbuf: bytearray, buflen: int,
                              maxdelta: int, cookie: Any, donefn: parkdone_fn, donearg: Any,
                              vp1: Any, vp2: Any) -> None:

    park = puffs_park_alloc(1)
    assert park is not None
    _setpreq(park, kbuf)

    park.park_hdr.preq_opclass = PUFFSOP_VN
    park.park_hdr.preq_optype = optype
    park.park_hdr.preq_cookie = cookie

    park.park_copylen = buflen
    park.park_maxlen = buflen + maxdelta
    park.park_done = donefn
    park.park_donearg = donearg
    park.park_flags = PARKFLAG_CALL

    await touser(pmp, park, await puffs_getreqid(pmp), vp1, vp2)


async def puffs_vntouser_faf(pmp: puffs_mount, optype: int, kbuf: bytearray, buflen: int,
                             cookie: Any) -> None:
    """Notice: kbuf will be free'd later.  It must be allocated from the kernel
    heap and its ownership passes to this function from now on, i.e. the
    caller is not allowed to use it anymore!"""

    # XXX: is it allowable to sleep here?
    park = puffs_park_alloc(0)
    if park is None:
        free(kbuf, M_PUFFS)  # M4: 1.27 leaked the buffer here
        return  # 2bad

    _setpreq(park, kbuf)

    park.park_hdr.preq_opclass = PUFFSOP_VN | PUFFSOPFLAG_FAF
    park.park_hdr.preq_optype = optype
    park.park_hdr.preq_cookie = cookie

    park.park_maxlen = park.park_copylen = buflen
    park.park_flags = 0

    await touser(pmp, park, 0, None, None)


async def puffs_cacheop(pmp: puffs_mount, park: puffs_park, pcinfo: bytearray, pcilen: int,
                        cookie: Any) -> None:

    _setpreq(park, pcinfo)
    park.park_hdr.preq_opclass = PUFFSOP_CACHE | PUFFSOPFLAG_FAF
    park.park_hdr.preq_optype = PCACHE_TYPE_WRITE  # XXX
    park.park_hdr.preq_cookie = cookie

    park.park_maxlen = park.park_copylen = pcilen
    park.park_flags = 0

    await touser(pmp, park, 0, None, None)


async def touser(pmp: puffs_mount, park: puffs_park, reqid: int, vp1: Any, vp2: Any) -> int:
    """Wait for the userspace ping-pong game in calling process context.

    vp1 and vp2 would be unlocked around the trip to userspace; that code is
    disabled in 2007 (#if 0), so vnodes stay locked while the server runs.
    The park comes in unlocked (M7) and is released here.
    """
    l = curlwp()
    rv = 0

    mp = PMPTOMP(pmp)
    preq = park.park_hdr
    assert preq is not None
    preq.preq_id = park.park_id = reqid
    preq.preq_buflen = ALIGN(park.park_maxlen)

    # Supporting PCATCH: a call that wants a reply is refused with EINTR
    # while a signal this lwp was offered (LW_PENDSIG) is pending, except
    # INACTIVE, which is turned into a FAF (it must reach the server) and
    # still reports EINTR.  (The opclass is read again at each test, as
    # 1.27 does: a park that the kept defect D1 left on the replywait queue
    # can take a server's reply into its header while this call sleeps
    # below, in fstrans_start or for pmp_lock.)
    if PUFFSOP_WANTREPLY(preq.preq_opclass) and (park.park_flags & PARKFLAG_CALL) == 0 \
            and (l.l_flag & LW_PENDSIG) != 0 and sigispending(l) != 0:
        if PUFFSOP_OPCLASS(preq.preq_opclass) == PUFFSOP_VN \
                and preq.preq_optype == PUFFS_VN_INACTIVE:
            puffs_reqtofaf(park)
            preq = park.park_hdr
            assert preq is not None
            DPRINTF("puffs touser: converted to FAF %r\n", park)
            rv = EINTR
        else:
            await _park_drop(park)
            return EINTR

    # The suspension barrier: wait here while the file system is being
    # suspended, but do not keep the transaction across the trip to the
    # server (that would hand the lock to userland).  The queue order is
    # what the server relies on.
    await fstrans_start(mp)
    await mutex_enter(pmp.pmp_lock)
    fstrans_done(mp)

    if pmp.pmp_status != PUFFSTAT_RUNNING:
        mutex_exit(pmp.pmp_lock)
        if not PUFFSOP_WANTREPLY(preq.preq_opclass):
            free(park.park_preq, M_PUFFS)  # M4: 1.27 leaked FAF buffers here
        await _park_drop(park)
        return ENXIO

    pmp.pmp_req_touser.append(park)
    park.park_flags |= PARKFLAG_ONQUEUE1
    pmp.pmp_req_waiters += 1
    await mutex_enter(park.park_mtx)  # M7: locked while visible, until it sleeps
    mutex_exit(pmp.pmp_lock)

    if puffs_sys.puffsdebug:  # (K1)
        DPRINTF("touser: req %d, park: %r, c/t: 0x%x/0x%x, f: 0x%x\n", preq.preq_id, park,
                preq.preq_opclass, preq.preq_optype, park.park_flags)

    cv_broadcast(pmp.pmp_req_waiter_cv)
    selnotify(pmp.pmp_sel, 0)

    if PUFFSOP_WANTREPLY(preq.preq_opclass) and (park.park_flags & PARKFLAG_CALL) == 0:
        error = await cv_wait_sig(park.park_cv, park.park_mtx)
        if error:
            park.park_flags |= PARKFLAG_WAITERGONE
            if park.park_flags & PARKFLAG_DONE:
                rv = preq.preq_rv
                puffs_park_release(park, 0)
            else:
                # Marked as going away, but the queues still need work: take
                # the locks in the right order.  A park on the replywait
                # queue keeps its reference; putop swallows the late reply.
                KASSERT(park.park_flags & (PARKFLAG_ONQUEUE1 | PARKFLAG_ONQUEUE2))
                mutex_exit(park.park_mtx)

                await mutex_enter(pmp.pmp_lock)
                await mutex_enter(park.park_mtx)
                if park.park_flags & PARKFLAG_ONQUEUE1:
                    pmp.pmp_req_touser.remove(park)
                park.park_flags &= ~PARKFLAG_ONQUEUE1
                if (park.park_flags & PARKFLAG_ONQUEUE2) == 0:
                    puffs_park_release(park, 0)
                else:
                    mutex_exit(park.park_mtx)
                mutex_exit(pmp.pmp_lock)

                rv = error
        else:
            rv = preq.preq_rv
            puffs_park_release(park, 0)

        # Retake and drop the transaction once more so that no two threads
        # work on one vnode across the lock bypass of puffs_lock().
        if rv == 0 and not fstrans_is_owner(mp):
            await fstrans_start(mp)
            fstrans_done(mp)
    else:
        mutex_exit(park.park_mtx)

    await mutex_enter(pmp.pmp_lock)
    pmp.pmp_req_waiters -= 1
    if pmp.pmp_req_waiters == 0:
        cv_signal(pmp.pmp_req_waitersink_cv)
    mutex_exit(pmp.pmp_lock)

    return rv


def selnotify(sip: Any, knhint: int) -> None:
    """No poll(2)/kqueue sleepers exist in kemu: record the event only."""
    if sip is not None:
        sip.sel_events += 1


# ------------------------------------------------------------------ getop / putop

async def puffs_getop(pmp: puffs_mount, phg: puffs_reqh_get, nonblock: int) -> int:
    """getop: scan through queued requests until:
     1) max number of requests satisfied
        OR
     2) buffer runs out of space
        OR
     3) nonblocking is set AND there are no operations available
        OR
     4) at least one operation was transferred AND there are no more waiting
    """
    donesome = error = 0
    bufpos = phg.phg_buf or 0

    await mutex_enter(pmp.pmp_lock)
    while phg.phg_nops == 0 or donesome != phg.phg_nops:
        # again:
        if pmp.pmp_status != PUFFSTAT_RUNNING:
            # if we got some, they don't really matter anymore
            error = ENXIO
            break
        if not pmp.pmp_req_touser:
            if donesome:
                break

            if nonblock:
                error = EWOULDBLOCK
                break

            # T4: a close of the descriptor that came while this thread was
            # on its way here (past fd_getfile, not yet asleep) found no
            # sleeper to kick: it must not sleep now, or the close waits
            # for it for ever.
            if pmp.pmp_sel is not None and pmp.pmp_sel.sel_restart:
                error = ERESTART  # M6
                break
            error = await cv_wait_sig(pmp.pmp_req_waiter_cv, pmp.pmp_lock)
            if error:
                break
            if pmp.pmp_sel is not None and pmp.pmp_sel.sel_restart:
                error = ERESTART  # M6
                break
            continue  # goto again

        park = pmp.pmp_req_touser[0]
        await puffs_park_reference(park)

        # If it's a goner, don't process any further
        if park.park_flags & PARKFLAG_WAITERGONE:
            pmp.pmp_req_touser.remove(park)  # M2
            park.park_flags &= ~PARKFLAG_ONQUEUE1
            puffs_park_release(park, 0)
            continue

        preq = park.park_hdr
        assert preq is not None
        pmp.pmp_req_touser.remove(park)
        KASSERT(park.park_flags & PARKFLAG_ONQUEUE1)
        park.park_flags &= ~PARKFLAG_ONQUEUE1

        # (preq_buflen and the opclass read once: no await lies between this
        # read and the uses below on the way that reaches them all, so no
        # putop can write the header in between, not even into a park the
        # kept defect D1 left on replywait, as it can in touser's sleeps)
        buflen = preq.preq_buflen
        wantreply = PUFFSOP_WANTREPLY(preq.preq_opclass)
        if phg.phg_buflen < buflen:
            if not donesome:
                error = E2BIG
            # M3: back to the head of the queue, as after a copyout fault
            pmp.pmp_req_touser.insert(0, park)
            park.park_flags |= PARKFLAG_ONQUEUE1
            puffs_park_release(park, 0)
            break
        # M8: on the replywait queue before the copyout, while pmp_lock is held
        if wantreply:
            pmp.pmp_req_replywait.append(park)
            park.park_flags |= PARKFLAG_ONQUEUE2
        mutex_exit(pmp.pmp_lock)

        if puffs_sys.puffsdebug:  # (K1)
            DPRINTF("puffsgetop: get op %d (%d.), len %d (buflen %d), target %#x\n",
                    preq.preq_id, donesome, park.park_copylen, preq.preq_buflen, bufpos)

        error = copyout(park.park_preq, bufpos, park.park_copylen)
        if error != 0:
            DPRINTF("puffs_getop: copyout failed: %d\n", error)
            # The user server is probably trying to cheat: stuff the op back
            # and return the error.  Locks in the correct order.
            mutex_exit(park.park_mtx)
            await mutex_enter(pmp.pmp_lock)
            await mutex_enter(park.park_mtx)
            if park.park_flags & PARKFLAG_ONQUEUE2:  # M8
                pmp.pmp_req_replywait.remove(park)
                park.park_flags &= ~PARKFLAG_ONQUEUE2
            if (park.park_flags & (PARKFLAG_WAITERGONE | PARKFLAG_DONE)) == 0:
                pmp.pmp_req_touser.insert(0, park)
                park.park_flags |= PARKFLAG_ONQUEUE1

            if donesome:
                error = 0
            puffs_park_release(park, 0)
            break
        bufpos += buflen
        phg.phg_buflen -= buflen
        donesome += 1

        if wantreply:
            puffs_park_release(park, 0)
        else:
            free(park.park_preq, M_PUFFS)
            puffs_park_release(park, 1)
        await mutex_enter(pmp.pmp_lock)

    # out:
    phg.phg_more = pmp.pmp_req_waiters
    mutex_exit(pmp.pmp_lock)

    phg.phg_nops = donesome

    return error


async def puffs_putop(pmp: puffs_mount, php: puffs_reqh_put) -> int:
    # (C's tmpreq lives on the stack; here it is made only for a reply whose
    # waiter is gone, the one branch that reads into it)
    tmpreq: puffs_req | None = None

    donesome = error = wgone = 0

    id_ = php.php_id
    userbuf = php.php_buf
    reqlen = php.php_buflen

    await mutex_enter(pmp.pmp_lock)
    while donesome != php.php_nops:
        release = 0
        for park in pmp.pmp_req_replywait:
            if park.park_id == id_:
                break
        else:
            park = None

        if park is None:
            DPRINTF("puffsputop: no request: %d\n", id_)
            error = EINVAL
            break

        await puffs_park_reference(park)
        if reqlen == 0 or reqlen > park.park_maxlen:
            DPRINTF("puffsputop: invalid buffer length: %d\n", reqlen)
            error = E2BIG
            puffs_park_release(park, 0)
            break
        wgone = park.park_flags & PARKFLAG_WAITERGONE

        # check if it's still on the queue after acquiring lock
        if park.park_flags & PARKFLAG_ONQUEUE2:
            pmp.pmp_req_replywait.remove(park)
            park.park_flags &= ~PARKFLAG_ONQUEUE2

        mutex_exit(pmp.pmp_lock)

        # If the caller has gone south, go to next, collect $200 and free
        # the structure there instead of wakeup.  The header still has to be
        # read for the link to the next reply.
        nextpreq: puffs_req | None = None
        if wgone:
            DPRINTF("puffs_putop: bad service - waiter gone for park %r\n", park)
            if tmpreq is None:
                tmpreq = puffs_req()
            error = copyin(userbuf, tmpreq, ctypes.sizeof(puffs_req))
            release = 1
            if not error:
                nextpreq = tmpreq
        else:
            if puffs_sys.puffsdebug:  # (K1)
                DPRINTF("puffsputop: copyin from %#x, len %d\n", userbuf or 0, reqlen)
            error = copyin(userbuf, park.park_preq, reqlen)
            if not error:
                nextpreq = park.park_hdr

        if nextpreq is not None:
            # next:  all's well, prepare for next op
            id_ = nextpreq.preq_id
            reqlen = nextpreq.preq_buflen
            userbuf = nextpreq.preq_nextbuf
            donesome += 1

        # loopout:
        if error:
            park.park_hdr.preq_rv = error

        if park.park_flags & PARKFLAG_CALL:
            assert park.park_done is not None
            park.park_done(park.park_preq, park.park_donearg)
            release = 1

        if not wgone:
            if puffs_sys.puffsdebug:  # (K1)
                DPRINTF("puffs_putop: flagging done for park %r\n", park)
            park.park_flags |= PARKFLAG_DONE  # M1
            cv_signal(park.park_cv)
        puffs_park_release(park, release)

        await mutex_enter(pmp.pmp_lock)
        if error:
            break
        wgone = 0

    mutex_exit(pmp.pmp_lock)
    php.php_nops -= donesome

    return error


async def puffs_userdead(pmp: puffs_mount) -> None:
    """We're dead, kaput, RIP: a dead file system.  Caller must hold pmp_lock."""

    # Mark the file system dying so that operations don't attempt to march
    # to userspace any longer.
    pmp.pmp_status = PUFFSTAT_DYING

    # signal waiters on REQUEST TO file server queue
    for park in list(pmp.pmp_req_touser):
        await puffs_park_reference(park)

        KASSERT(park.park_flags & PARKFLAG_ONQUEUE1)

        opclass = park.park_hdr.preq_opclass
        park.park_hdr.preq_rv = ENXIO
        pmp.pmp_req_touser.remove(park)
        park.park_flags &= ~PARKFLAG_ONQUEUE1

        if park.park_flags & PARKFLAG_CALL:
            assert park.park_done is not None
            park.park_done(park.park_preq, park.park_donearg)
            puffs_park_release(park, 1)
        elif not PUFFSOP_WANTREPLY(opclass):
            free(park.park_preq, M_PUFFS)
            puffs_park_release(park, 1)
        else:
            park.park_hdr.preq_rv = ENXIO
            park.park_flags |= PARKFLAG_DONE  # M1
            cv_signal(park.park_cv)
            puffs_park_release(park, 0)

    # signal waiters on RESPONSE FROM file server queue
    for park in list(pmp.pmp_req_replywait):
        await puffs_park_reference(park)

        KASSERT(park.park_flags & PARKFLAG_ONQUEUE2)

        pmp.pmp_req_replywait.remove(park)
        park.park_flags &= ~PARKFLAG_ONQUEUE2

        KASSERT(PUFFSOP_WANTREPLY(park.park_hdr.preq_opclass))

        park.park_hdr.preq_rv = ENXIO
        if park.park_flags & PARKFLAG_CALL:
            assert park.park_done is not None
            park.park_done(park.park_preq, park.park_donearg)
            puffs_park_release(park, 1)
        else:
            park.park_flags |= PARKFLAG_DONE  # M1
            cv_signal(park.park_cv)
            puffs_park_release(park, 0)

    cv_broadcast(pmp.pmp_req_waiter_cv)  # M5
