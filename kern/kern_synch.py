"""Sleeping and waking (kern_synch.c, kern_sleepq.c): the base of every wait.

An lwp that must wait links itself on a :class:`sleepq` with
``sleepq_enter`` (recording what it waits for and why, the wmesg), then
``await sleepq_block(timo, catch)``.  Nothing can run between the two, so a
wakeup cannot be lost.  Wakers call ``sleepq_wake``.  Mutexes, condvars,
rwlocks, kpause, tsleep and kthread_join all sleep through here, which is
what lets the harness say, for each lwp, what it sleeps on and where.

Timeouts are in ticks (``hz`` per second) on the machine's clock, which is
virtual unless the machine was booted with a real clock.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import outcome
import trio

from kern.cpu import MachineLocal, curlwp, curmachine
from kern.errno import EINTR, ERESTART, EWOULDBLOCK
from kern.kern_lwp import LSONPROC, LSRUN, LSSLEEP

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.kern_mutex import kmutex_t

hz = 100
tick = 1000000 // hz


def mstohz(ms: int) -> int:
    return max(1, (ms * hz + 999) // 1000) if ms > 0 else 0


def hztoms(t: int) -> int:
    return t * 1000 // hz


class sleepq:
    """A FIFO of lwps sleeping on one wait channel."""

    __slots__ = ("sq_lwps", "sq_name")

    def __init__(self, name: str | None = None) -> None:
        self.sq_lwps: OrderedDict[lwp, None] = OrderedDict()
        self.sq_name = name

    def __len__(self) -> int:
        return len(self.sq_lwps)

    def __bool__(self) -> bool:
        return bool(self.sq_lwps)

    def __iter__(self):
        return iter(list(self.sq_lwps))

    def __repr__(self) -> str:
        return f"<sleepq {self.sq_name} {[l.l_name for l in self.sq_lwps]}>"


def sleepq_enter(sq: sleepq, wmesg: str, wchan: Any, syncobj: str = "sleepq",
                 l: lwp | None = None) -> None:
    """Link the lwp on ``sq``; it goes to sleep at the following sleepq_block."""
    if l is None:
        l = curlwp()
    l.l_sleepq = sq
    l.l_wchan = wchan
    l.l_wmesg = wmesg
    l.l_syncobj = syncobj
    l.l_specific.pop(_EARLY, None)
    sq.sq_lwps[l] = None


_EARLY = object()  # key in l_specific: woken before it blocked


def _unlink(l: lwp) -> None:
    sq = l.l_sleepq
    if sq is not None:
        sq.sq_lwps.pop(l, None)
    l.l_sleepq = None


def _sigpending(l: lwp) -> int:
    from kern.kern_sig import sigispending

    return sigispending(l)


async def sleepq_block(timo: int, catch: bool) -> int:
    """Sleep until woken; 0, EWOULDBLOCK on timeout, EINTR/ERESTART on a signal."""
    from kern.subr_lockdebug import ASSERT_SLEEPABLE

    l = curlwp()
    m = curmachine()
    ASSERT_SLEEPABLE()
    if l.l_sleepq is None and _EARLY not in l.l_specific:
        raise AssertionError("sleepq_block without sleepq_enter")
    if _EARLY in l.l_specific:
        rv = l.l_specific.pop(_EARLY)
        _clear(l)
        return rv
    if catch:
        sig = _sigpending(l)
        if sig:
            _unlink(l)
            _clear(l)
            return _sigerror(l, sig)
    l.l_stat = LSSLEEP
    l.l_sleeptimo = timo > 0
    l.l_sleepcatch = catch
    m.trace_event(l, f"sleep {l.l_wmesg}")

    def abort(_: Any) -> trio.lowlevel.Abort:
        _unlink(l)
        return trio.lowlevel.Abort.SUCCEEDED

    try:
        if timo > 0:
            with trio.move_on_at(trio.current_time() + timo / hz) as cs:
                rv = await trio.lowlevel.wait_task_rescheduled(abort)
            if cs.cancelled_caught:
                rv = EWOULDBLOCK
                m.trace_event(l, f"timeout {l.l_wmesg}")
        else:
            rv = await trio.lowlevel.wait_task_rescheduled(abort)
    except trio.Cancelled:
        # Teardown of the machine: leave the sleep state for the post-mortem.
        raise
    _clear(l)
    return rv


def _clear(l: lwp) -> None:
    l.l_stat = LSONPROC
    l.l_wchan = None
    l.l_wmesg = None
    l.l_syncobj = None
    l.l_sleeptimo = False
    l.l_sleepcatch = False
    l.l_sleepq = None


def _sigerror(l: lwp, sig: int) -> int:
    from kern.kern_sig import SA_RESTART, sigact

    return ERESTART if sigact(l.l_proc, sig)[2] & SA_RESTART else EINTR


def sleepq_wakeone(l: lwp, rv: int = 0) -> None:
    """Wake one particular sleeping lwp with result ``rv``."""
    m = curmachine()
    _unlink(l)
    if l.l_stat != LSSLEEP:
        # Linked but not yet blocked (its own task is running): let
        # sleepq_block return at once.
        l.l_specific[_EARLY] = rv
        return
    l.l_stat = LSRUN
    m.trace_event(l, f"wakeup {l.l_wmesg}")
    assert l.l_task is not None
    trio.lowlevel.reschedule(l.l_task, outcome.Value(rv))


def sleepq_wake(sq: sleepq, count: int = 1 << 30) -> int:
    """Wake up to ``count`` lwps from the head of ``sq``; returns how many."""
    n = 0
    while sq.sq_lwps and n < count:
        l, _ = sq.sq_lwps.popitem(last=False)
        l.l_sleepq = None
        sleepq_wakeone(l, 0)
        n += 1
    return n


def sleepq_interrupt(l: lwp, sig: int) -> bool:
    """A signal for ``l``: wake it if it sleeps interruptibly.  True if woken."""
    if l.l_stat == LSSLEEP and l.l_sleepcatch:
        sleepq_wakeone(l, _sigerror(l, sig))
        return True
    return False


# --- tsleep/wakeup on an arbitrary address, as older NetBSD code uses ---

# id(ident) -> the sleepq of lwps sleeping on ident (NetBSD's sleeptab).
_wchans: MachineLocal[dict[int, sleepq]] = MachineLocal(dict, "tsleep wait channels")


async def tsleep(ident: Any, priority: int, wmesg: str, timo: int) -> int:
    """Sleep on ``ident`` until wakeup(ident); PCATCH in priority makes it interruptible."""
    return await mtsleep(ident, priority, wmesg, timo, None)


PCATCH = 0x100
PNORELOCK = 0x200


async def mtsleep(ident: Any, priority: int, wmesg: str, timo: int,
                  mtx: kmutex_t | None) -> int:
    from kern.kern_mutex import _mutex_relock, mutex_exit

    qs = _wchans()
    sq = qs.get(id(ident))
    if sq is None:
        sq = qs[id(ident)] = sleepq(wmesg)
    sleepq_enter(sq, wmesg, ident)
    if mtx is not None:
        mutex_exit(mtx)
    error = await sleepq_block(timo, bool(priority & PCATCH))
    # Left alone on the queue (a timeout or a signal): drop it.  After a
    # wakeup the queue is gone already, and another lwp may have made a new
    # one for the same ident, which stays.
    if not sq and qs.get(id(ident)) is sq:
        del qs[id(ident)]
    if mtx is not None and not (priority & PNORELOCK):
        await _mutex_relock(mtx)
    return error


def wakeup(ident: Any) -> None:
    sq = _wchans().pop(id(ident), None)
    if sq is not None:
        sleepq_wake(sq)


async def kpause(wmesg: str, intr: bool, timo: int, mtx: kmutex_t | None) -> int:
    """Sleep for ``timo`` ticks (never woken early except by a signal when ``intr``)."""
    from kern.kern_mutex import _mutex_relock, mutex_exit

    if timo == 0 and not intr:
        timo = 1
    l = curlwp()
    sq = sleepq(wmesg)
    sleepq_enter(sq, wmesg, l)
    if mtx is not None:
        mutex_exit(mtx)
    error = await sleepq_block(timo, intr)
    if mtx is not None:
        await _mutex_relock(mtx)
    return error


async def yield_() -> None:
    """preempt(): let other runnable lwps go first."""
    from kern.machine.sched import preempt

    await preempt()
