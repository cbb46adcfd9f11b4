"""Condition variables (kern_condvar.c), as condvar(9) describes them.

``cv_init(cv, wmesg)``: the wmesg is what ps(1) and the deadlock report show
for an lwp sleeping on it.  Timeouts are in ticks.  The waits release the
interlock while asleep and take it back before returning.

kemu's own implementation of condvar(9), compared against ``$NetBSD:
kern_condvar.c,v 1.41 2018/01/30 ozaki-r$``: the API, the errnos (EINTR or
ERESTART for a signal, EWOULDBLOCK for a timeout, 0 for a wakeup) and the
order of a wait (go on the sleep queue, release the interlock, sleep, take
the interlock back) are NetBSD's, and so is cv_exit's pass-on: a wait that
ends in any error (EINTR/ERESTART, EWOULDBLOCK) calls cv_signal once it holds
the interlock again, whether or not a cv_signal chose it, since sleepq_block
can fail a wait after a real wakeup (a signal, LW_WEXIT or LW_CANCELLED
found after the switch) and that wakeup must reach another waiter.

Deviations:

* Each condvar has its own kemu sleep queue (NetBSD hashes the cv's
  address to a shared sleep queue and uses cv_syncobj), made at its first
  wait (until then the shared, always empty ``sleepq_empty``, as for
  mutexes and rwlocks: kern_synch.py); cv_signal wakes the first waiter
  in that queue's order.
* A wait on a condvar not initialised, or without the interlock held by
  the caller, and cv_destroy of one not initialised or with waiters,
  panic with kemu's messages (NetBSD: KASSERTs); cv_destroy marks the
  condvar dead instead of writing "deadcv" into its wmesg.
* cv_exit's mutex_enter is made by each wait itself (kemu's cv_exit is
  the pass-on and its KASSERT), through the mutex fast
  path when the mutex is free and no other lwp is runnable (no preemption
  point).  cv_enter also makes the callers' KASSERTs (initialised,
  interlock held) and returns the lwp.  cv_exit's ``KASSERT(cv_is_valid(cv))``
  is tested in line (``if not cond: KASSERT(cond)``: the same panic).
  The relock's lockdebug site, either way, is kept in a ``lock_site`` per
  call (kern_mutex's ``at``, kemu's): looked up once, the same site.
* No cv_timedwaitbt/cv_timedwaitbt_sig (bintime timeouts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kern.cpu import curlwp, curlwp_or_none
from kern.kern_mutex import _mutex_enter, kmutex_t, lock_site, mutex_enter_nowait, mutex_exit
from kern.kern_synch import (
    sleepq,
    sleepq_block,
    sleepq_empty,
    sleepq_enter,
    sleepq_fresh,
    sleepq_wake,
)
from kern.subr_lockdebug import Where
from kern.subr_prf import KASSERT, panic

if TYPE_CHECKING:
    from kern.kern_lwp import lwp


class kcondvar_t:
    __slots__ = ("cv_wmesg", "cv_waiters", "cv_state")

    def __init__(self) -> None:
        self.cv_wmesg = ""
        self.cv_waiters = sleepq_empty  # (its own at its first wait)
        self.cv_state = 0

    def __repr__(self) -> str:
        return f"<kcondvar {self.cv_wmesg!r} waiters={len(self.cv_waiters)}>"



def cv_init(cv: kcondvar_t, wmesg: str) -> None:
    cv.cv_wmesg = wmesg
    if cv.cv_waiters is not sleepq_empty:  # (its own queue: sleepq_fresh decides)
        cv.cv_waiters = sleepq_fresh(cv.cv_waiters, wmesg)
    cv.cv_state = 1


def cv_destroy(cv: kcondvar_t) -> None:
    if cv.cv_state != 1:
        panic("cv_destroy: condvar %r is not initialised", cv.cv_wmesg)
    if cv.cv_waiters.sq_lwps:
        panic("cv_destroy: condvar %r has waiters", cv.cv_wmesg)
    cv.cv_state = 2


def cv_enter(cv: kcondvar_t, mtx: kmutex_t) -> lwp:
    """The start of a wait (kern_condvar.c's cv_enter, with the KASSERTs of
    its callers): go on the condvar's sleep queue, release the interlock.
    Returns the lwp that waits."""
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if cv.cv_state != 1:
        panic("cv_wait: condvar %r is not initialised", cv.cv_wmesg)
    if mtx.mtx_owner is not l:
        panic("cv_wait: %r: interlock not held by the caller", cv.cv_wmesg)
    sq = cv.cv_waiters
    if sq is sleepq_empty:
        sq = cv.cv_waiters = sleepq(cv.cv_wmesg)
    sleepq_enter(sq, cv.cv_wmesg, cv, "cv", l)
    mutex_exit(mtx)
    return l


def _relock_site(l: lwp, at: lock_site) -> Where | None:
    """The lockdebug site of cv_exit's mutex_enter when mutex_enter_nowait
    could not take the interlock: the cv_wait* that called (its call of
    this function, kept in ``at``), None without lockdebug."""
    return (at.where or at.lookup(1)) if l.l_cpu.lockdebug else None


def cv_exit(cv: kcondvar_t, error: int) -> int:
    """The end of a wait, with the interlock held again: a wait that ends in
    an error (a signal, EINTR for an lwp told to exit or cancelled, a
    timeout) may have been the one a cv_signal chose before sleepq_block
    failed it; hand that wakeup on so that another waiter sees it.  (cv_wait
    never errs.)"""
    if error != 0:
        cv_signal(cv)
    if not cv_is_valid(cv):  # (tested in line: see the header)
        KASSERT(cv_is_valid(cv))
    return error


# Each wait is NetBSD's cv_enter, sleepq_block, cv_exit, with cv_exit's
# mutex_enter in the wait itself: without a coroutine more when the
# interlock is free and no other lwp runnable (mutex_enter_nowait), with the
# wait as its lockdebug site (the wait's call of mutex_enter_nowait, looked
# up once: one lock_site a wait; or its call of _relock_site, one more).
_at_wait = lock_site()
_at_wait_sig = lock_site()
_at_timedwait = lock_site()
_at_timedwait_sig = lock_site()
_relock_wait = lock_site()
_relock_wait_sig = lock_site()
_relock_timedwait = lock_site()
_relock_timedwait_sig = lock_site()


async def cv_wait(cv: kcondvar_t, mtx: kmutex_t) -> None:
    l = cv_enter(cv, mtx)
    await sleepq_block(0, False)    # (its answer dropped: cv_exit gets 0, as in C)
    if not mutex_enter_nowait(mtx, at=_at_wait):
        await _mutex_enter(mtx, l, _relock_site(l, _relock_wait))
    cv_exit(cv, 0)


async def cv_wait_sig(cv: kcondvar_t, mtx: kmutex_t) -> int:
    """As cv_wait, but a signal ends the wait with EINTR or ERESTART."""
    l = cv_enter(cv, mtx)
    error = await sleepq_block(0, True)
    if not mutex_enter_nowait(mtx, at=_at_wait_sig):
        await _mutex_enter(mtx, l, _relock_site(l, _relock_wait_sig))
    return cv_exit(cv, error)


async def cv_timedwait(cv: kcondvar_t, mtx: kmutex_t, timo: int) -> int:
    """Wait at most ``timo`` ticks (0: forever); EWOULDBLOCK on timeout."""
    l = cv_enter(cv, mtx)
    error = await sleepq_block(timo, False)
    if not mutex_enter_nowait(mtx, at=_at_timedwait):
        await _mutex_enter(mtx, l, _relock_site(l, _relock_timedwait))
    return cv_exit(cv, error)


async def cv_timedwait_sig(cv: kcondvar_t, mtx: kmutex_t, timo: int) -> int:
    l = cv_enter(cv, mtx)
    error = await sleepq_block(timo, True)
    if not mutex_enter_nowait(mtx, at=_at_timedwait_sig):
        await _mutex_enter(mtx, l, _relock_site(l, _relock_timedwait_sig))
    return cv_exit(cv, error)


def cv_signal(cv: kcondvar_t) -> None:
    if cv.cv_waiters.sq_lwps:
        sleepq_wake(cv.cv_waiters, 1)


def cv_broadcast(cv: kcondvar_t) -> None:
    if cv.cv_waiters.sq_lwps:
        sleepq_wake(cv.cv_waiters)


def cv_has_waiters(cv: kcondvar_t) -> bool:
    return bool(cv.cv_waiters.sq_lwps)


def cv_is_valid(cv: kcondvar_t) -> bool:
    return cv.cv_state == 1
