"""Sleeping and waking (kern_synch.c, kern_sleepq.c): the base of every wait.

An lwp that must wait links itself on a :class:`sleepq` with
``sleepq_enter`` (recording what it waits for and why, the wmesg), then
``await sleepq_block(timo, catch)``.  Nothing can run between the two, so a
wakeup cannot be lost.  Wakers call ``sleepq_wake``.  Mutexes, condvars,
rwlocks, kpause, tsleep and kthread_join all sleep through here, which is
what lets the harness say, for each lwp, what it sleeps on and where.

This file is the ports' face of the machine's scheduler
(kern/machine/scheduler.py): ``sleepq_block`` gives the CPU away until a
wakeup puts the lwp back on the run queue (``sleepq_wake`` never switches);
``preempt()`` is a preemption point, ``yield_()`` offers the CPU (NetBSD's
``preempt``/``yield``); ``suspendsched()`` stops the user processes for the
halt.  A timeout is a callout on the machine's clock
(``sleepq_timeout``, as NetBSD's), in ticks of ``hz`` per second; the clock
is virtual unless the machine was booted with a real clock.

``sleepq_block`` follows kern_sleepq.c (the NetBSD/src mirror's revision
1.47.2.2; kemu names no other): an interruptible sleep of an lwp told to
exit (LW_WEXIT: exit_lwps, kern/kern_exit.py) or to dump core (LW_WCORE),
or cancelled (LW_CANCELLED, which that sleep then clears), does not begin
and answers EINTR; one with a signal pending (LW_PENDSIG and sigispending)
does not begin either.  After the switch (or instead of it) an
interruptible sleep that got 0 answers EINTR if one of those flags is set,
and otherwise, with LW_PENDSIG, the error of the first pending signal that
is not a stop, or else of the one issignal chooses
(``sleepq_sigtoerror``: EINTR, or ERESTART under SA_RESTART); none, and it
answers 0.  A signal wakes an interruptible sleeper through kern_sig.c's
sigpost, which calls ``setrunnable`` (its sleep returns 0), so that check
chooses the error: a default-action stop signal found pending there is
taken by issignal and gives none.  Deviations:

* No LW_SINTR bit: ``l_sleepcatch`` says the sleep is interruptible.
* A wakeup that comes between sleepq_enter and sleepq_block (kemu lets the
  sleeper run between the two; NetBSD holds the sleep queue's lock) is
  kept in ``l_early`` and makes sleepq_block return at once with it.
* LW_WCORE is never set (kemu has no core dumps).  LW_CANCELLED's sender is
  _lwp_wakeup(2) (kern/sys_lwp.py).
* No job control (kern/kern_sig.py): sigpost does not wake an
  interruptible sleeper for a default stop signal, and issignal drops one
  instead of stopping the process.  NetBSD's sleeper wakes, stops in
  issignal and, after the SIGCONT, returns 0 (a spurious wakeup: its
  caller waits again); kemu's sleeps on, which is what such a caller sees,
  without returning early to one that takes 0 as its event (puffs touser).
  Likewise a sleep that begins with only such a signal pending: NetBSD's
  does not begin (it stops, then returns 0); kemu's check drops the
  signal first (issignal) and the sleep begins.
* No p_lock around issignal (kemu has no proc locks).
* A mutex's, rwlock's or condvar's sleep queue is made at its first wait
  (``sleepq_empty`` until then, shared and never entered): most are never
  waited on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from kern.cpu import MachineLocal, curlwp, curlwp_or_none
from kern.errno import EINTR, ERESTART, EWOULDBLOCK
from kern.kern_lwp import (
    LSONPROC,
    LSSLEEP,
    LSSUSPENDED,
    LW_CANCELLED,
    LW_PENDSIG,
    LW_WCORE,
    LW_WEXIT,
    LW_WREBOOT,
    LW_WSUSPEND,
    PK_HOSTCHILD,
    PK_SYSTEM,
    SSTOP,
    SZOMB,
)
from kern.machine.schedule import YIELD
from kern.subr_lockdebug import ASSERT_SLEEPABLE

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.kern_mutex import kmutex_t

# The lwp flags that end an interruptible sleep with EINTR (sleepq_block).
_LW_EARLY = LW_CANCELLED | LW_WEXIT | LW_WCORE

hz = 100
tick = 1000000 // hz
_tick_ns = 1_000_000_000 // hz


def mstohz(ms: int) -> int:
    return max(1, (ms * hz + 999) // 1000) if ms > 0 else 0


def hztoms(t: int) -> int:
    return t * 1000 // hz


class sleepq:
    """A FIFO of lwps sleeping on one wait channel."""

    __slots__ = ("sq_lwps", "sq_name")

    def __init__(self, name: str | None = None) -> None:
        # A plain dict keeps insertion order: the head is next(iter(...)).
        self.sq_lwps: dict[lwp, None] = {}
        self.sq_name = name

    def __len__(self) -> int:
        return len(self.sq_lwps)

    def __bool__(self) -> bool:
        return bool(self.sq_lwps)

    def __iter__(self):
        return iter(list(self.sq_lwps))

    def __repr__(self) -> str:
        return f"<sleepq {self.sq_name} {[l.l_name for l in self.sq_lwps]}>"


# kemu: the sleep queue of every lock and condvar nobody has waited on yet,
# shared and always empty.  Most are never waited on (physio's condvars, a
# vnode's lock), and a queue of its own cost one object and one dict each
# (~1,300 instructions); the object's first wait makes its own queue
# and keeps it.  Only read through the objects; never entered (every
# sleepq_enter on a lock's or condvar's queue replaces it first).
sleepq_empty = sleepq()


def sleepq_fresh(sq: sleepq, name: str) -> sleepq:
    """An empty sleep queue named ``name`` for a lock or condvar being
    initialised, whose queue so far is ``sq``: ``sq`` itself, renamed, when
    nobody is on it and it is the object's own (kemu: the queue it has
    serves, not a new one), ``sleepq_empty`` when it is that one or someone
    sleeps on it (the old sleepers stay where they are, never woken by this
    object again; its first wait makes its own queue)."""
    if sq.sq_lwps or sq is sleepq_empty:
        return sleepq_empty
    sq.sq_name = name
    return sq


def sleepq_enter(sq: sleepq, wmesg: str, wchan: Any, syncobj: str = "sleepq",
                 l: lwp | None = None) -> None:
    """Link the lwp on ``sq``; it goes to sleep at the following sleepq_block."""
    if l is None:
        l = curlwp()
    l.l_sleepq = sq
    l.l_wchan = wchan
    l.l_wmesg = wmesg
    l.l_syncobj = syncobj
    l.l_early = None
    sq.sq_lwps[l] = None


def _unlink(l: lwp) -> None:
    sq = l.l_sleepq
    if sq is not None:
        sq.sq_lwps.pop(l, None)
    l.l_sleepq = None


async def sleepq_block(timo: int, catch: bool) -> int:
    """Sleep until woken; 0, EWOULDBLOCK on timeout, EINTR/ERESTART on a signal
    (EINTR too when the lwp is told to exit or was cancelled)."""
    l = curlwp_or_none()
    if l is None:
        l = curlwp()  # raises: not in an lwp
    if l.l_spinlocks:
        ASSERT_SLEEPABLE()  # panics
    error = l.l_early
    sigerr = 0
    if catch and (l.l_flag & _LW_EARLY or (
            l.l_flag & LW_PENDSIG and _sigispending(l) and (sigerr := _sleepq_catch(l)))):
        # Interruptible, and an lwp told to exit or dump core, or cancelled
        # (the cancellation is used up): EINTR; or a signal is pending, its
        # error chosen now by the check NetBSD makes after the switch.
        # Either way it does not sleep (lwp_unsleep: off the sleep queue,
        # not asleep).  (kemu: a pending default stop signal alone is
        # dropped by that check, and the sleep begins: no job control.)
        if l.l_flag & _LW_EARLY:
            l.l_flag &= ~LW_CANCELLED
            error = EINTR
        else:
            error = sigerr
        _unlink(l)
        l.l_early = None
    elif error is not None:
        # Woken between sleepq_enter and here (NetBSD: sleepq_remove found it
        # still on the CPU, and mi_switch comes straight back).
        l.l_early = None
    elif l.l_sleepq is None:
        raise AssertionError("sleepq_block without sleepq_enter")
    else:
        ci = l.l_cpu
        l.l_stat = LSSLEEP
        l.l_sleeptimo = timo > 0
        l.l_sleepcatch = catch
        l.l_wakerv = 0
        tb = ci.tbuf
        if tb is not None:
            # (l_tsleep: its last sleep event, kept for wmesg l_tsleepw; a lock
            # wait's never is: Machine.sleep_event)
            if l.l_tsleepw is l.l_wmesg:
                tb.append(l.l_tsleep)
            else:
                tb.append(ci.m.sleep_event(l))
        elif ci.tracing:
            ci.m.trace_sleep(l)  # (a lock wait names the lock and its holder)
        if timo > 0:
            l.l_callout = ci.callout_after(timo * _tick_ns, sleepq_timeout, l)
        # On teardown of the machine trio.Cancelled comes out of here, leaving
        # the sleep state for the post-mortem.  (ci.block(l), its two steps
        # here: each coroutine level costs every sleep its way out and back.)
        ci.switch_away(l)
        await ci.park(l)
        error = l.l_wakerv
    # (the sleep state cleared here, not in a helper: every sleep passes)
    l.l_stat = LSONPROC
    l.l_wchan = None
    l.l_wmesg = None
    l.l_syncobj = None
    l.l_sleeptimo = False
    l.l_sleepcatch = False
    l.l_sleepq = None
    if catch and error == 0:
        if l.l_flag & _LW_EARLY:
            error = EINTR
        elif l.l_flag & LW_PENDSIG:
            # Woken normally (or not asleep at all) with a signal pending: a
            # signal that needs action ends the sleep all the same.
            error = _sleepq_catch(l)
    return error


def _sigispending(l: lwp) -> int:
    from kern.kern_sig import sigispending  # (kern_sig imports this module)

    return sigispending(l)


def _sleepq_catch(l: lwp) -> int:
    """kern_sleepq.c's check after the switch of an interruptible sleep: the
    first pending signal that is not a stop, or else what issignal chooses
    (which discards the signals with nothing to do), gives EINTR/ERESTART."""
    from kern.kern_sig import SA_STOP, issignal, sigispending, sigprop

    sig = sigispending(l)
    if (sig != 0 and not sigprop(sig) & SA_STOP) or (sig := issignal(l)) != 0:
        return sleepq_sigtoerror(l, sig)
    return 0


def sleepq_timeout(l: lwp) -> None:
    """The callout of a timed sleep: wake ``l`` with EWOULDBLOCK if it still sleeps."""
    l.l_callout = None
    if l.l_stat != LSSLEEP or l.l_syncobj == "extern":
        return
    _unlink(l)
    l.l_wakerv = EWOULDBLOCK
    ci = l.l_cpu
    if ci.tracing:
        ci.m.trace_add(l, "timeout", l.l_wmesg)
    ci.setrun(l)


def sleepq_sigtoerror(l: lwp, sig: int) -> int:
    """The error of a sleep that ``sig`` ends: ERESTART if its action has
    SA_RESTART, else EINTR."""
    from kern.kern_sig import SA_RESTART, sigact

    return ERESTART if sigact(l.l_proc, sig)[2] & SA_RESTART else EINTR


def sleepq_wakeone(l: lwp, rv: int = 0) -> None:
    """Wake one particular sleeping lwp with result ``rv`` (it goes on the run queue)."""
    sq = l.l_sleepq
    if sq is not None:
        sq.sq_lwps.pop(l, None)
        l.l_sleepq = None
    _wakeup(l, rv)


def _wakeup(l: lwp, rv: int) -> None:
    """``l``, unlinked from its sleep queue, is woken with result ``rv``."""
    if l.l_stat != LSSLEEP:
        # Linked but not yet blocked (it is the running lwp): let
        # sleepq_block return at once.
        l.l_early = rv
        return
    ci = l.l_cpu
    co = l.l_callout
    if co is not None:
        l.l_callout = None
        ci.callout_stop(co)
    l.l_wakerv = rv
    tb = ci.tbuf
    if tb is not None:
        # (l_twakeup: its last wakeup event, kept for wmesg l_twakeupw)
        if l.l_twakeupw is l.l_wmesg:
            tb.append(l.l_twakeup)
        else:
            tb.append(ci.m.wakeup_event(l))
    elif ci.tracing:
        ci.m.trace_add(l, "wakeup", l.l_wmesg)
    ci.setrun(l)


def sleepq_wake(sq: sleepq, count: int = 1 << 30) -> int:
    """Wake up to ``count`` lwps from the head of ``sq``; returns how many."""
    q = sq.sq_lwps
    n = 0
    while q and n < count:
        l = next(iter(q))
        del q[l]
        l.l_sleepq = None
        _wakeup(l, 0)
        n += 1
    return n


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


async def preempt() -> None:
    """A preemption point: the scheduler may run another runnable lwp here.

    A no-op while the lwp holds a spin mutex (kernel preemption is off
    then) and when no other lwp is runnable.  Outside any lwp (a task of
    the async face's caller) it is a trio checkpoint.
    """
    l = curlwp_or_none()
    if l is not None and (l.l_spinlocks or not (l.l_cpu.runq or l.l_cpu.slow)):
        return  # the fast path: nothing else may run here
    if l is None:
        await trio.lowlevel.checkpoint()
        return
    # (a plain call decides; only what it hands back, a switch or the slow
    # path, is awaited, and from here: no coroutine levels between)
    sw = l.l_cpu.preempt_point(l)
    if sw is not None:
        await sw


async def yield_() -> None:
    """yield(): offer the CPU to the other runnable lwps (a spin-wait's step).

    Choice 0 runs the first lwp waiting, so a schedule of zeros (and a
    shrunk one) lets a polling loop make progress; PCT drops the yielder
    below every other lwp.  Outside any lwp it is a trio checkpoint; a
    no-op while the lwp holds a spin mutex.
    """
    l = curlwp_or_none()
    if l is None:
        await trio.lowlevel.checkpoint()
        return
    if l.l_spinlocks:
        return
    ci = l.l_cpu
    if ci.runq or ci.slow:
        await ci.preempt(l, YIELD)


def suspendsched(wake_sleepers: bool = True) -> None:
    """kern_synch.c's suspendsched (read at revision 1.308; NetBSD 8's is the
    same): stop every lwp of every user process (not PK_SYSTEM) but the
    caller's, for good.

    Each process becomes SSTOP, and each of its lwps gets LW_WREBOOT |
    LW_WSUSPEND: it suspends itself (LSSUSPENDED) when it next returns to
    user mode (``lwp_userret``, kern/sig_machdep.py), with no kernel lock
    held, and ``lwp_continue`` never resumes it (LW_WREBOOT).  An lwp asleep
    interruptibly is woken (``setrunnable``: its sleep returns 0, as a
    wakeup's) so that it reaches that boundary if its wait lets it; one
    asleep uninterruptibly keeps sleeping, flagged.

    kemu: ``wake_sleepers=False`` (cpu_reboot with RB_NOSYNC, where NetBSD
    never calls suspendsched: its CPU stops) flags the lwps and wakes none:
    a sleep the stopped machine would never end must not return 0 here, to
    a caller that takes that 0 for its event.

    Deviations: kemu has one CPU, so there is no other CPU to kick into the
    kernel: a runnable lwp meets its flag at the end of its next system
    call, and Python code that never makes one is not stopped.  A process
    with PK_HOSTCHILD (it waits for a host process it started: a remote
    puffs server, tools/lib/libpuffs/remote.py) is left out, as a PK_SYSTEM
    one is, so that it sees its server go and reaps it; NetBSD's processes
    have no host processes.  A zombie keeps SZOMB (it has no lwps; kemu's
    wait4 and the shells read its state).  No proc_lock/p_lock/lwp_lock:
    nothing else runs while this does.

    Left as it is (checked against kern_lwp.c's lwp_create/lwp_start and
    kern_fork.c's fork1): an lwp created in a stopped process afterwards
    starts unflagged and runs, where NetBSD's lwp_start leaves it LSSTOP in
    an SSTOP process.  In kemu that takes the host (a ``k.run`` with
    ``proc=`` a stopped process, while the halt runs) or user code that
    makes one without a system call (libpuffs's ``lwp_create``, a
    pthread_create stand-in) between a preemption point on its way out of
    the kernel and its next system call, where it suspends.  A PK_HOSTCHILD
    process (libpuffs's up shovel) is not stopped, and a child forked by an
    lwp still in the kernel lands in a new SACTIVE process, which runs on
    NetBSD too (with LW_WREBOOT, which only matters to a later
    suspendsched).  It can neither lose data nor hang the halt:
    suspendsched comes after the sync and the unmount loop, so no host
    image's file system is mounted any more (one that even a forced unmount
    left mounted has been named as possibly inconsistent), a raw write that
    completes before the shutdown hooks is flushed by them, and an lwp that
    computes on holds the halt's wait for quiescence only
    HALT_QUIESCE_PATIENCE seconds (kern/machine/machine.py).
    """
    cur = curlwp()
    for p in list(cur.l_cpu.m.procs.values()):
        if p.p_flag & (PK_SYSTEM | PK_HOSTCHILD) or p.p_stat == SZOMB:
            continue
        p.p_stat = SSTOP
        for l in list(p.p_lwps):
            if l is cur:
                continue
            # Flagged, it suspends itself on its way back to user mode, where
            # it holds no kernel lock: as many as can get there, the better.
            l.l_flag |= LW_WREBOOT | LW_WSUSPEND
            if wake_sleepers and l.l_stat == LSSLEEP and l.l_sleepcatch:
                setrunnable(l)


def setrunnable(l: lwp) -> None:
    """kern_synch.c's setrunnable (1.308): make ``l`` runnable again.

    An lwp asleep (interruptibly: every caller checks) is taken off its
    sleep queue (``lwp_unsleep``) and its sleep returns 0, as after a
    wakeup; sleepq_block's check after the switch then chooses the error
    (a signal's, or EINTR for LW_WEXIT/LW_CANCELLED).  A suspended one
    (LSSUSPENDED, in lwp_userret) loses LW_WSUSPEND, ``p_lwpcv`` is
    broadcast, and it goes on the run queue.  Any other state panics.

    Deviations: no LSSTOP case (kemu has no job control: no lwp is ever
    stopped), no p_nrlwps count, and no LP_RUNNING case (a suspended kemu
    lwp is never on the CPU).
    """
    from kern.kern_condvar import cv_broadcast  # (kern_condvar imports this module)
    from kern.subr_prf import panic

    st = l.l_stat
    if st == LSSUSPENDED:
        l.l_flag &= ~LW_WSUSPEND
        if l.l_proc.p_lwpcv is not None:
            cv_broadcast(l.l_proc.p_lwpcv)
    elif st != LSSLEEP:
        panic("setrunnable: lwp %s state was %d", l.l_name, st)

    # If it was asleep, start it again.
    if st == LSSLEEP:
        sleepq_wakeone(l, 0)
        return
    l.l_cpu.setrun(l)
