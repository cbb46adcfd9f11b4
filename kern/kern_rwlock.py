"""Reader/writer locks (kern_rwlock.c), as rwlock(9) describes them.

Writers are preferred: once a writer waits, new readers wait behind it.
``rw_enter`` is async and a preemption point; the rest never sleep.

kemu's own implementation of rwlock(9)'s semantics, compared against
``$NetBSD: kern_rwlock.c,v 1.45 2014/11/28 uebayasi$`` (NetBSD's is an
atomic owner word with turnstiles).  RW_WRITER/RW_READER, the writer
preference, rw_tryenter's "fail if write-held or write-wanted",
rw_tryupgrade's "only as the sole reader" and the *_held answers are
NetBSD's.

Deviations:

* When the last holder lets go, kemu wakes one waiting writer if there is
  one, else every waiting reader, and the woken lwps take the lock
  themselves.  NetBSD's rw_vector_exit hands a released write lock
  straight to every waiting reader, and goes to the writers only when it
  releases a read lock or no reader waits.
* Readers are recorded by lwp (NetBSD keeps a count): an lwp that exits a
  lock it does not hold, or asks for RW_WRITER while it holds the lock
  for reading, panics (NetBSD cannot tell; the latter deadlocks there).
* Use before rw_init or after rw_destroy panics always (NetBSD: LOCKDEBUG).
* The *_held functions do not answer 1 after a panic (panicstr), and have
  no NULL-lock case; there is no rw_obj_hold/rw_obj_free.
* The panic messages are kemu's.
* rw_init, rw_enter and rw_tryenter take a kemu argument ``at``, a
  ``lock_site`` (subr_lockdebug) a hot caller keeps for that call: the site
  of its lock class or lockdebug record is looked up at its first call only
  (as kern_mutex's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kern.cpu import curlwp, curlwp_or_none
from kern.kern_synch import (
    sleepq,
    sleepq_block,
    sleepq_empty,
    sleepq_enter,
    sleepq_fresh,
    sleepq_wake,
)
from kern.machine.schedule import PREEMPT
from kern.subr_lockdebug import (
    ASSERT_SLEEPABLE,
    LockClass,
    Where,
    _getframe,
    caller_where,
    lock_class_at,
    lock_site,
    lockdebug_alloc,
    lockdebug_unlocked,
    lockdebug_wantlock,
)
from kern.subr_prf import panic

if TYPE_CHECKING:
    from kern.kern_lwp import lwp

RW_WRITER = 0
RW_READER = 1


class krwlock_t:
    __slots__ = ("rw_owner", "rw_readers", "rw_rwait", "rw_wwait", "lock_class", "rw_state")

    def __init__(self) -> None:
        self.rw_owner: lwp | None = None
        self.rw_readers: list[lwp] = []
        # (each its own at its first wait)
        self.rw_rwait = sleepq_empty
        self.rw_wwait = sleepq_empty
        self.lock_class: LockClass | None = None
        self.rw_state = 0

    def __repr__(self) -> str:
        name = self.lock_class.name if self.lock_class else "?"
        return (f"<krwlock {name!r} writer={self.rw_owner and self.rw_owner.l_name} "
                f"readers={len(self.rw_readers)}>")



def _name(rw: krwlock_t) -> str:
    return rw.lock_class.name if rw.lock_class else "<uninitialised rwlock>"


def rw_init(rw: krwlock_t, at: lock_site | None = None) -> None:
    if at is not None:  # (the call's site, kept: see lock_site)
        where = at.where or at.lookup(1)
    else:
        f = _getframe(1)
        where = (f.f_code, f.f_lasti)
    _rw_init(rw, where, "rw_init")


def _rw_init(rw: krwlock_t, where: Where, initfn: str) -> None:
    if rw.rw_state == 1:  # (lockdebug_alloc does nothing for a lock not live)
        lockdebug_alloc(rw, "Reader / writer lock", True)
    rw.rw_owner = None
    rw.rw_readers = []
    if rw.rw_rwait is not sleepq_empty:  # (its own queue: sleepq_fresh decides)
        rw.rw_rwait = sleepq_fresh(rw.rw_rwait, "rwlock")
    if rw.rw_wwait is not sleepq_empty:
        rw.rw_wwait = sleepq_fresh(rw.rw_wwait, "rwlock")
    rw.lock_class = lock_class_at(where, initfn, "rwlock")
    rw.rw_state = 1


def _check(rw: krwlock_t, what: str) -> None:
    if rw.rw_state != 1:
        panic("%s: %s rwlock %s", what,
              "uninitialised" if rw.rw_state == 0 else "destroyed", _name(rw))


async def rw_enter(rw: krwlock_t, op: int, at: lock_site | None = None) -> None:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    # (the acquisition site only feeds lockdebug: not looked up without it;
    # ``at``: kept for the call, see lock_site)
    if not l.l_cpu.lockdebug:
        await _rw_enter(rw, op, None)
    elif at is not None:
        await _rw_enter(rw, op, at.where or at.lookup(1))
    else:
        await _rw_enter(rw, op, caller_where(1))


async def _rw_enter(rw: krwlock_t, op: int, site: Where | None) -> None:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if rw.rw_state != 1:
        _check(rw, "rw_enter")
    if rw.rw_owner is l or (op == RW_WRITER and l in rw.rw_readers):
        panic("rw_enter: locking against myself: %s", _name(rw))
    if l.l_spinlocks:
        ASSERT_SLEEPABLE()  # panics
    locks = l.l_locks
    if site is not None and locks:
        # (the order check, skipped as in mutex_enter when lockdebug passed
        # it before with the same locks held: the top record's chain)
        chain = locks[-1][3]
        if chain is None or (chain := chain.ok.get(rw.lock_class)) is None:
            chain = lockdebug_wantlock(l, rw, site)
    else:
        chain = None
    # A preemption point (kern_synch.preempt, inline: without the slow path
    # on, the decision is plain and only a switch awaits).
    ci = l.l_cpu
    if ci.slow:
        await ci.preempt(l, PREEMPT)
    elif ci.runq:
        i = ci.preempt_choice(l)
        if i >= 0:
            await ci.switch_to(l, i)
    # (a writer takes a free lock; a reader one with no writer holding or
    # waiting)
    if op == RW_WRITER:
        while rw.rw_owner is not None or rw.rw_readers:
            sq = rw.rw_wwait
            if sq is sleepq_empty:
                sq = rw.rw_wwait = sleepq("rwlock")
            sleepq_enter(sq, "rwlock", rw, "rwlock", l)
            await sleepq_block(0, False)
        rw.rw_owner = l
    else:
        while rw.rw_owner is not None or rw.rw_wwait.sq_lwps:
            sq = rw.rw_rwait
            if sq is sleepq_empty:
                sq = rw.rw_rwait = sleepq("rwlock")
            sleepq_enter(sq, "rwlock", rw, "rwlock", l)
            await sleepq_block(0, False)
            if l in rw.rw_readers:
                break  # rw_downgrade handed it the lock
        else:
            rw.rw_readers.append(l)
    locks.append((rw, site, op == RW_READER, chain))


def rw_tryenter(rw: krwlock_t, op: int, at: lock_site | None = None) -> int:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if rw.rw_state != 1:
        _check(rw, "rw_tryenter")
    # (a writer takes a free lock; a reader one with no writer holding or
    # waiting.  A try-lock's record has no chain: it adds no order edge)
    if op == RW_WRITER:
        if rw.rw_owner is not None or rw.rw_readers:
            return 0
        rw.rw_owner = l
    else:
        if rw.rw_owner is not None or rw.rw_wwait.sq_lwps:
            return 0
        rw.rw_readers.append(l)
    if l.l_cpu.lockdebug:  # (the caller's site, as caller_where(1) gives it)
        if at is not None:
            l.l_locks.append((rw, at.where or at.lookup(1), op == RW_READER, None))
        else:
            f = _getframe(1)
            l.l_locks.append((rw, (f.f_code, f.f_lasti), op == RW_READER, None))
    else:
        l.l_locks.append((rw, None, op == RW_READER, None))
    return 1


def _wake(rw: krwlock_t) -> None:
    if rw.rw_owner is not None or rw.rw_readers:
        return
    if rw.rw_wwait.sq_lwps:
        sleepq_wake(rw.rw_wwait, 1)
    elif rw.rw_rwait.sq_lwps:
        sleepq_wake(rw.rw_rwait)


def rw_exit(rw: krwlock_t) -> None:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if rw.rw_state != 1:
        _check(rw, "rw_exit")
    if rw.rw_owner is l:
        rw.rw_owner = None
    elif l in rw.rw_readers:
        rw.rw_readers.remove(l)
    else:
        panic("rw_exit: %s does not hold %s", l.l_name, _name(rw))
    locks = l.l_locks
    if locks and locks[-1][0] is rw:  # (the usual case: the last lock taken)
        del locks[-1]
    elif len(locks) > 1 and locks[-2][0] is rw:
        # (the usual release out of order, in line as in mutex_exit)
        r = locks.pop()
        locks[-1] = r if r[3] is None else (r[0], r[1], r[2], None)
    else:
        lockdebug_unlocked(l, rw)
    if rw.rw_owner is None and not rw.rw_readers and (rw.rw_wwait.sq_lwps or
                                                      rw.rw_rwait.sq_lwps):
        _wake(rw)


def _set_shared(l: lwp, rw: krwlock_t, shared: bool) -> None:
    """``l`` now holds ``rw`` shared (or exclusive): its held-lock record says so."""
    locks = l.l_locks
    for i, r in enumerate(locks):
        if r[0] is rw:
            locks[i] = (rw, r[1], shared, r[3])  # (same class: same chain)


def rw_downgrade(rw: krwlock_t) -> None:
    l = curlwp()
    if rw.rw_owner is not l:
        panic("rw_downgrade: %s is not the writer of %s", l.l_name, _name(rw))
    rw.rw_owner = None
    rw.rw_readers.append(l)
    _set_shared(l, rw, True)
    # Every blocked reader gets the lock with the downgrader, even when a
    # writer waits (it stays waiting, and keeps new readers out).
    q = rw.rw_rwait.sq_lwps
    if q:
        rw.rw_readers.extend(q)
        sleepq_wake(rw.rw_rwait)


def rw_tryupgrade(rw: krwlock_t) -> int:
    l = curlwp()
    if l not in rw.rw_readers:
        panic("rw_tryupgrade: %s does not hold %s as reader", l.l_name, _name(rw))
    if len(rw.rw_readers) != 1:
        return 0
    rw.rw_readers.clear()
    rw.rw_owner = l
    _set_shared(l, rw, False)
    return 1


def rw_write_held(rw: krwlock_t) -> bool:
    return rw.rw_owner is curlwp()


def rw_read_held(rw: krwlock_t) -> bool:
    return bool(rw.rw_readers) and rw.rw_owner is None


def rw_lock_held(rw: krwlock_t) -> bool:
    return rw.rw_owner is not None or bool(rw.rw_readers)


def rw_lock_op(rw: krwlock_t) -> int:
    return RW_WRITER if rw.rw_owner is not None else RW_READER


def rw_destroy(rw: krwlock_t) -> None:
    _check(rw, "rw_destroy")
    if rw_lock_held(rw):
        panic("rw_destroy: %s is held", _name(rw))
    rw.rw_state = 2


def rw_obj_alloc() -> krwlock_t:
    rw = krwlock_t()
    f = _getframe(1)
    _rw_init(rw, (f.f_code, f.f_lasti), "rw_obj_alloc")
    return rw
