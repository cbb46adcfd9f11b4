"""Mutexes (kern_mutex.c): adaptive and spin, as mutex(9) describes them.

``mutex_enter`` may block, so it is ``async``; ``mutex_exit`` never sleeps.
Every ``mutex_enter`` is a preemption point, so the scheduler decides who gets a
contended lock first.  A MUTEX_DEFAULT mutex at IPL_NONE is adaptive; at a
higher IPL it is a spin mutex: kernel preemption stops while it is held, and
sleeping with it held panics, as in NetBSD.

kemu's own implementation of mutex(9)'s semantics, not a line-by-line port:
NetBSD's sys/kern/kern_mutex.c (compared against ``$NetBSD: kern_mutex.c,v
1.62 2015/05/25 prlw1$``) is built on an atomic owner word, adaptive
spinning and turnstiles, which an emulated CPU does not have.  What is
NetBSD's: the kmutex_type_t values and mutex_init's choice of adaptive or
spin from the type and IPL (sys/mutex.h), the IPL_* values (amd64's
intr.h), the API and its rules (no recursion, only the owner exits,
mutex_tryenter fails for the owner too, mutex_destroy of a held mutex or
one with waiters panics).

Deviations:

* The owner is an lwp reference; a contended mutex puts the lwp on the
  mutex's sleep queue ("mutex"), and mutex_exit wakes one waiter, which
  takes the mutex when it runs (NetBSD wakes the turnstile's waiters).
  There is no adaptive spinning; a spin mutex found held panics (its
  owner cannot run meanwhile), and a spin mutex raises no SPL: holding
  one only stops preemption (``l_spinlocks``).
* Every mutex_enter is a preemption point of kemu's scheduler.
* ``mutex_spin_enter`` panics (use ``await mutex_enter``);
  ``mutex_spin_exit`` is mutex_exit.
* Using a mutex before mutex_init or after mutex_destroy panics always
  (NetBSD notices only with LOCKDEBUG); MUTEX_NODEBUG mutexes are
  checked by lockdebug like the others, except mutex_init's "already
  initialized" check (lockdebug_alloc), which NetBSD skips for them too.
* ``mutex_owned`` of a spin mutex asks whether the caller holds it
  (NetBSD: whether anyone does); ``mutex_owner`` answers for spin
  mutexes too.
* ``mutex_obj_alloc``/``mutex_obj_free`` keep no reference count (no
  mutex_obj_hold): free destroys and returns True.
* The panic messages are kemu's.
* ``mutex_enter_nowait`` is kemu's (NetBSD has no such call): mutex_enter's
  common case as a plain call, for hot paths that would otherwise await a
  coroutine (getblk, biowait, bread_nowait, genfs_getpage_busy and
  genfs_getpage_nowait, uvm_vnp_setsize and setwritesize, cv_wait's relock).  It
  takes the mutex only where mutex_enter would take it at once with nobody
  else let run (same order check and lockdebug record; no scheduler
  decision is made, since the run queue is empty), and otherwise does
  nothing, for the caller to ``await mutex_enter``: the schedule of a seed
  is the same either way.
* mutex_init, mutex_enter, mutex_enter_nowait and mutex_tryenter take a
  kemu argument ``at``, a ``lock_site`` (subr_lockdebug) a hot caller keeps
  for that call: the site the init names its lock class from, or lockdebug
  records, is looked up (``sys._getframe``) at its first call only, and is
  the same as the look-up at every call would give.
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

# kmutex_type_t (sys/mutex.h)
MUTEX_SPIN = 0
MUTEX_ADAPTIVE = 1
MUTEX_DEFAULT = 2
MUTEX_DRIVER = 3
MUTEX_NODEBUG = 4

# Interrupt priority levels (amd64 intr.h)
IPL_NONE = 0
IPL_SOFTCLOCK = 1
IPL_SOFTBIO = 2
IPL_SOFTNET = 3
IPL_SOFTSERIAL = 4
IPL_VM = 5
IPL_SCHED = 6
IPL_HIGH = 7


class kmutex_t:
    """A mutex.  Initialise it with mutex_init before use, as in C."""

    __slots__ = ("mtx_owner", "mtx_spin", "mtx_ipl", "mtx_waiters", "lock_class",
                 "mtx_state", "mtx_adaptive")

    def __init__(self) -> None:
        self.mtx_owner: lwp | None = None
        self.mtx_spin = False
        self.mtx_ipl = IPL_NONE
        self.mtx_waiters = sleepq_empty  # (its own at its first wait)
        self.lock_class: LockClass | None = None
        self.mtx_state = 0  # 0 uninitialised, 1 live, 2 destroyed
        # live (mtx_state 1) and not a spin mutex: the one test mutex_enter's
        # common case makes of the two
        self.mtx_adaptive = False

    def __repr__(self) -> str:
        name = self.lock_class.name if self.lock_class else "?"
        owner = self.mtx_owner.l_name if self.mtx_owner else None
        return f"<kmutex {name!r} owner={owner}>"



def _name(mtx: kmutex_t) -> str:
    return mtx.lock_class.name if mtx.lock_class else "<uninitialised mutex>"


def mutex_init(mtx: kmutex_t, type: int, ipl: int, at: lock_site | None = None) -> None:
    if at is not None:  # (the call's site, kept: see lock_site)
        where = at.where or at.lookup(1)
    else:
        f = _getframe(1)
        where = (f.f_code, f.f_lasti)
    _mutex_init(mtx, type, ipl, where, "mutex_init")


def _mutex_init(mtx: kmutex_t, type: int, ipl: int, where: Where, initfn: str) -> None:
    """mutex_init; the lock's class is named from the ``initfn`` call at ``where``."""
    if type in (MUTEX_DEFAULT, MUTEX_DRIVER, MUTEX_NODEBUG):
        spin = ipl not in (IPL_NONE, IPL_SOFTCLOCK, IPL_SOFTBIO, IPL_SOFTNET, IPL_SOFTSERIAL)
    elif type == MUTEX_ADAPTIVE:
        if ipl != IPL_NONE:
            panic("mutex_init: adaptive mutex at IPL %d", ipl)
        spin = False
    elif type == MUTEX_SPIN:
        spin = True
    else:
        panic("mutex_init: impossible type %d", type)
        return
    # (NetBSD passes no lockops for MUTEX_NODEBUG: lockdebug skips it)
    if mtx.mtx_state == 1:  # (lockdebug_alloc does nothing for a lock not live)
        lockdebug_alloc(mtx, None if type == MUTEX_NODEBUG else "Mutex", True)
    mtx.mtx_owner = None
    mtx.mtx_spin = spin
    mtx.mtx_ipl = ipl
    if mtx.mtx_waiters is not sleepq_empty:  # (its own queue: sleepq_fresh decides)
        mtx.mtx_waiters = sleepq_fresh(mtx.mtx_waiters, "mutex")
    mtx.lock_class = lock_class_at(where, initfn, "spin mutex" if spin else "mutex")
    mtx.mtx_state = 1
    mtx.mtx_adaptive = not spin


def _check(mtx: kmutex_t, what: str) -> None:
    if mtx.mtx_state != 1:
        panic("%s: %s mutex %s", what,
              "uninitialised" if mtx.mtx_state == 0 else "destroyed", _name(mtx))


async def mutex_enter(mtx: kmutex_t, at: lock_site | None = None) -> None:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    ci = l.l_cpu
    # The common case without a coroutine more: a free adaptive mutex, no
    # spin mutex held, the preemption point's fast test (kern_synch.preempt)
    # passed or its decision made here, in _mutex_enter's order: the order
    # check first, then the decision, then the lock.
    if mtx.mtx_owner is None and mtx.mtx_adaptive and not l.l_spinlocks and not ci.slow:
        locks = l.l_locks
        if ci.lockdebug:
            # Where the caller takes the lock (its code and call
            # instruction) feeds lockdebug's order graph and reports, which
            # make a printable site of it only when they show one; without
            # lockdebug it is not looked up at all (``at``: kept for the
            # call, see lock_site).
            site: Where | None
            if at is not None:
                site = at.where or at.lookup(1)
            else:
                f = _getframe(1)
                site = (f.f_code, f.f_lasti)
            # The order check, skipped when lockdebug passed it before with
            # the same locks held (the top record's chain, subr_lockdebug._Chain).
            if locks:
                chain = locks[-1][3]
                if chain is None or (chain := chain.ok.get(mtx.lock_class)) is None:
                    chain = lockdebug_wantlock(l, mtx, site)
            else:
                chain = None
        else:
            site = chain = None
        if ci.runq:
            i = ci.preempt_choice(l)
            if i >= 0:
                await ci.switch_to(l, i)
                if mtx.mtx_owner is not None:  # (taken while this lwp was off the CPU)
                    await _mutex_sleep(mtx, l)
        mtx.mtx_owner = l
        locks.append((mtx, site, False, chain))
        return
    if not ci.lockdebug:
        await _mutex_enter(mtx, l, None)
    elif at is not None:
        await _mutex_enter(mtx, l, at.where or at.lookup(1))
    else:
        f = _getframe(1)
        await _mutex_enter(mtx, l, (f.f_code, f.f_lasti))


def mutex_enter_nowait(mtx: kmutex_t, depth: int = 1, at: lock_site | None = None) -> bool:
    """kemu: ``await mutex_enter(mtx)`` when it would neither sleep nor let
    another lwp run, as a plain call.

    True: ``mtx`` is taken, exactly as mutex_enter's common case takes it
    (the same order check and record; the site lockdebug records is that
    of the caller ``depth`` frames up, 1: the caller, or the one ``at`` keeps
    for its call).  False: nothing was
    done (the mutex is held or a spin mutex, the lwp holds a spin mutex,
    another lwp is waiting for the CPU at this preemption point, or the
    scheduler's slow path is on: a host thread's host_poke may turn it on
    between any two calls, so one call's success says nothing of the
    next's) and the caller awaits mutex_enter, which does the whole of it::

        if not mutex_enter_nowait(lock):
            await mutex_enter(lock)

    Hot paths (the buffer and page caches, cv_wait's relock)
    spare the coroutine of an ``await`` this way; the schedule is the same,
    since mutex_enter's preemption point lets nobody run when no lwp is
    waiting.
    """
    l = curlwp_or_none()
    if l is None:
        return False  # (mutex_enter says what is wrong)
    if mtx.mtx_owner is not None or not mtx.mtx_adaptive or l.l_spinlocks:
        return False
    ci = l.l_cpu
    if ci.runq or ci.slow:
        return False
    locks = l.l_locks
    if ci.lockdebug:
        site: Where | None
        if at is not None:
            site = at.where or at.lookup(depth)
        else:
            f = _getframe(depth)
            site = (f.f_code, f.f_lasti)
        if locks:  # (the order check, as in mutex_enter)
            chain = locks[-1][3]
            if chain is None or (chain := chain.ok.get(mtx.lock_class)) is None:
                chain = lockdebug_wantlock(l, mtx, site)
        else:
            chain = None
    else:
        site = chain = None
    mtx.mtx_owner = l
    locks.append((mtx, site, False, chain))
    return True


async def _mutex_enter(mtx: kmutex_t, l: lwp, site: Where | None) -> None:
    if mtx.mtx_state != 1:
        _check(mtx, "mutex_enter")
    if mtx.mtx_owner is l:
        panic("mutex_enter: locking against myself: %s", _name(mtx))
    if l.l_spinlocks and not mtx.mtx_spin:
        ASSERT_SLEEPABLE()  # panics
    locks = l.l_locks
    chain = lockdebug_wantlock(l, mtx, site) if site is not None and locks else None
    # A preemption point (kern_synch.preempt, inline: without the slow path
    # on, the decision is plain and only a switch awaits).
    ci = l.l_cpu
    if not l.l_spinlocks:
        if ci.slow:
            await ci.preempt(l, PREEMPT)
        elif ci.runq:
            i = ci.preempt_choice(l)
            if i >= 0:
                await ci.switch_to(l, i)
    if mtx.mtx_owner is not None:
        await _mutex_sleep(mtx, l)
    mtx.mtx_owner = l
    if mtx.mtx_spin:
        l.l_spinlocks += 1
    locks.append((mtx, site, False, chain))


async def _mutex_sleep(mtx: kmutex_t, l: lwp) -> None:
    """Sleep until the mutex is free (``l`` takes it right after)."""
    while mtx.mtx_owner is not None:
        if mtx.mtx_spin:
            panic("mutex_enter: spin mutex %s held by %s, which is off cpu",
                  _name(mtx), mtx.mtx_owner.l_name)
        sq = mtx.mtx_waiters
        if sq is sleepq_empty:
            sq = mtx.mtx_waiters = sleepq("mutex")
        sleepq_enter(sq, "mutex", mtx, "mutex", l)
        await sleepq_block(0, False)


async def _mutex_relock(mtx: kmutex_t) -> None:
    """Take the interlock back after a sleep (mtsleep, kpause)."""
    l = curlwp_or_none()
    if l is None:
        l = curlwp()
    await _mutex_enter(mtx, l, caller_where(2) if l.l_cpu.lockdebug else None)


def mutex_spin_enter(mtx: kmutex_t) -> None:
    panic("mutex_spin_enter: use 'await mutex_enter()' in kemu")


def mutex_exit(mtx: kmutex_t) -> None:
    l = curlwp_or_none()
    if l is None:
        l = curlwp()
    if mtx.mtx_owner is not l:  # (a mutex l holds is live: mutex_destroy panics if held)
        if mtx.mtx_state != 1:
            _check(mtx, "mutex_exit")
        owner = mtx.mtx_owner.l_name if mtx.mtx_owner else "nobody"
        panic("mutex_exit: %s is not the owner of %s (held by %s)", l.l_name, _name(mtx), owner)
    locks = l.l_locks
    if locks and locks[-1][0] is mtx:  # (the usual case: the last lock taken)
        del locks[-1]
    elif len(locks) > 1 and locks[-2][0] is mtx:
        # (the usual release out of order: the lock under the last one
        # taken; lockdebug_unlocked's work in line, the top record's chain
        # cleared)
        r = locks.pop()
        locks[-1] = r if r[3] is None else (r[0], r[1], r[2], None)
    else:
        lockdebug_unlocked(l, mtx)
    mtx.mtx_owner = None
    if mtx.mtx_spin:
        l.l_spinlocks -= 1
    if mtx.mtx_waiters.sq_lwps:
        sleepq_wake(mtx.mtx_waiters, 1)


mutex_spin_exit = mutex_exit


def mutex_tryenter(mtx: kmutex_t, at: lock_site | None = None) -> int:
    """Take the mutex if it is free: 1 on success, 0 if someone (the caller
    too, as in NetBSD) holds it.  (``at``: the call's kept site, see lock_site.)"""
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if mtx.mtx_state != 1:
        _check(mtx, "mutex_tryenter")
    if mtx.mtx_owner is not None:
        return 0
    mtx.mtx_owner = l
    if mtx.mtx_spin:
        l.l_spinlocks += 1
    # (a try-lock's record has no chain: it adds no order edge)
    if l.l_cpu.lockdebug:  # (the caller's site, as caller_where(1) gives it)
        if at is not None:
            l.l_locks.append((mtx, at.where or at.lookup(1), False, None))
        else:
            f = _getframe(1)
            l.l_locks.append((mtx, (f.f_code, f.f_lasti), False, None))
    else:
        l.l_locks.append((mtx, None, False, None))
    return 1


def mutex_owned(mtx: kmutex_t) -> bool:
    l = curlwp_or_none()
    return mtx.mtx_owner is (l if l is not None else curlwp())


def mutex_owner(mtx: kmutex_t) -> lwp | None:
    return mtx.mtx_owner


def mutex_destroy(mtx: kmutex_t) -> None:
    _check(mtx, "mutex_destroy")
    if mtx.mtx_owner is not None:
        panic("mutex_destroy: %s is held by %s", _name(mtx), mtx.mtx_owner.l_name)
    if mtx.mtx_waiters.sq_lwps:
        panic("mutex_destroy: %s has waiters", _name(mtx))
    mtx.mtx_state = 2
    mtx.mtx_adaptive = False


def mutex_obj_alloc(type: int, ipl: int) -> kmutex_t:
    mtx = kmutex_t()
    f = _getframe(1)
    _mutex_init(mtx, type, ipl, (f.f_code, f.f_lasti), "mutex_obj_alloc")
    return mtx


def mutex_obj_free(mtx: kmutex_t) -> bool:
    mutex_destroy(mtx)
    return True
