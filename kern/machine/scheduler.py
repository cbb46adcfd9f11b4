"""The machine's one virtual CPU: run queue, context switches, callouts, idle.

Exactly one lwp holds the CPU (``curlwp``, LSONPROC) at a time; the others
are asleep (LSSLEEP), waiting outside the machine, or on the run queue
(LSRUN, in the order they became runnable).

**A scheduler of our own.**  An lwp is a coroutine (``Machine._lwp_main``),
not a trio task.  One trio task per machine, the CPU task
(:meth:`VirtualCPU.cpu_task`), steps the coroutine of ``curlwp``, in the
lwp's own ``contextvars`` context, until it yields; a context switch costs
no trio run-loop round, trio never has two lwps to order, and kemu uses
only trio's public low-level API.  What an lwp yields:

* the switch signal (:meth:`VirtualCPU.park`, or a preemption's
  :meth:`VirtualCPU.switch_to`): it gave the CPU away, or waits for it;
  the CPU task goes on with whichever lwp is ``curlwp`` now, and resumes
  this one when it is ``curlwp`` again;
* a trio trap (a checkpoint, anything it awaits of trio outside an external
  wait): the CPU task passes it up to trio and sends trio's answer back, or
  throws trio's exception in (``Cancelled``); the lwp holds the CPU
  meanwhile, as today's kernels spin;
* the migrate signal (:meth:`VirtualCPU.migrate`, from
  ``m.external_wait()``): it left the CPU for a wait outside the machine;
  a carrier task takes its coroutine (forwarding its traps likewise) until
  it is back and waits for the CPU, so the trio cancel scopes, locks and
  sockets of the wait belong to one task.  Idle carriers wait in a pool
  for the next wait.

**Context switches.**  :meth:`VirtualCPU.dispatch` gives the CPU to an lwp
by setting ``curlwp`` (and wakes the CPU task when it sleeps in trio: a
dispatch from a carrier, from ``call_soon``).  A fresh lwp's coroutine
first runs when the CPU task finds it ``curlwp``.  Every ``_TRIO_EVERY``
steps the CPU task gives trio's loop a turn (no decision is made there),
so that what the host queued and the tasks outside are not starved.

**Stopping.**  A halt or a crash cancels the machine's nursery and sets
``stopping``: the CPU task resumes every lwp still waiting for the CPU,
which then gets trio.Cancelled where it waits (a checkpoint in the
cancelled CPU task) and unwinds its finally blocks; an lwp outside gets it
from trio in its carrier; one that never ran is dropped.

**Decisions** (see kern/machine/schedule.py for the kinds): at every
preemption point with another lwp runnable (:meth:`preempt`), when the
running lwp blocks or exits with more than one lwp runnable
(:meth:`switch_away`), when the idle CPU has several to choose from, at
every probabilistic fault (:meth:`chance`) and at any other draw
(:meth:`random_below`), the strategy chooses and the choice is recorded.
A point with one option is no decision and costs nothing beyond a test.

**Time.**  The clock is virtual (integer nanoseconds since boot) unless the
machine was booted with ``clock="real"``.  Timeouts are callouts ordered by
(deadline, sequence).  When the CPU goes idle with requests outstanding,
the idle logic moves the virtual clock to the earliest callout and fires
every callout due then; with nothing to fire and nothing outside awaited,
the machine is deadlocked.  With a real clock, the CPU task sleeps on
trio's clock until the next deadline.

**Faces.**  On the sync face (and in :meth:`kern.machine.Machine.run_once`)
nothing outside the machine shares its trio run, so the idle logic runs at
once, in the lwp that made the CPU idle: runs are exactly reproducible.  On
the async face the caller's own tasks share the run and may still submit
work; the CPU task then first waits until every task is blocked
(``trio.testing.wait_all_tasks_blocked``), so that they act before virtual
time moves or a deadlock is declared.

**External waits.**  An lwp that waits on something outside the machine (a
socket to a server process, a host thread, a trio primitive) does it inside
``async with m.external_wait():``, which gives the CPU away on entry (the
body runs in a carrier, see above) and queues for it on exit.  When such
waits end depends on the host, so a run with them is reproducible only up
to their timing.
"""

from __future__ import annotations

import heapq
import inspect
import math
import random
import types
from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import trio

from kern.kern_lwp import LSONPROC, LSRUN, LSSLEEP, LW_DAEMON
from kern.machine.schedule import CHANCE, PREEMPT, RANDOM, SWITCH, YIELD, Decisions
from kern.machine.trace import SEAL_AT

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.machine.machine import Machine
    from kern.machine.strategies import Strategy

NSEC = 1_000_000_000
# On the async face: an outside task's trio deadline this close (seconds) is
# waited for before virtual time moves on (it will act soon); a further one
# (a test's fail_after guard) is not.
OUTSIDE_SOON = 0.1


class _Signal:
    """What an lwp's coroutine yields to the code driving it (not a trio trap)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<kemu {self.name}>"


# The lwp stops here: run whichever lwp is curlwp now (on a carrier: the lwp is
# back from outside and waits for the CPU at home).
_SWITCH = _Signal("switch")
# The lwp left the CPU for a wait outside the machine: run it on a carrier.
_MIGRATE = _Signal("migrate")

# The lwp's coroutine ended (_resume).
_ENDED = _Signal("ended")

# The CPU task gives trio's loop a turn every this many lwp steps, so that what
# the host queued (call_soon: a Ctrl-C, an abandoned request) and the tasks
# outside are not starved by lwps that never wait on trio.
_TRIO_EVERY = 128
# The lwp steps between two of those turns (the turn is the round's last step).
_STEPS = range(_TRIO_EVERY - 1)


# coroutine.send, unbound: ``ctx.run(_coro_send, coro, value)`` makes no bound
# method object per step as ``ctx.run(coro.send, value)`` does (an lwp's
# coroutine is _lwp_main's, a native coroutine).
_coro_send = types.CoroutineType.send

# n.bit_length() for the widths of most decisions (preempt_choice's draw).
_BITS = tuple(n.bit_length() for n in range(256))


@types.coroutine
def _signal(sig: _Signal) -> Generator[Any, Any, None]:
    yield sig


@types.coroutine
def _forward(trap: Any) -> Generator[Any, Any, Any]:
    # A trio trap an lwp yielded, passed up to trio by the task that drives the
    # lwp; trio's answer (or exception) goes back to the lwp.
    return (yield trap)


def _getrandbits_of(by_width: Callable[[int], int] | None) -> Callable[[int], int] | None:
    """The ``getrandbits`` of the generator whose ``_randbelow`` ``by_width``
    is, when that is CPython's ``Random._randbelow_with_getrandbits`` (whose
    draws :meth:`VirtualCPU.preempt_choice` repeats); else None."""
    fn = getattr(random.Random, "_randbelow_with_getrandbits", None)
    if fn is None or getattr(by_width, "__func__", None) is not fn:
        return None
    rng = by_width.__self__  # type: ignore[union-attr]
    if type(rng) is not random.Random:
        return None
    return rng.getrandbits


class Callout:
    """A timer: ``fn(arg)`` at ``deadline`` (ns on the machine's clock)."""

    __slots__ = ("deadline", "seq", "fn", "arg", "live")

    def __init__(self, deadline: int, seq: int, fn: Callable[[Any], None], arg: Any) -> None:
        self.deadline = deadline
        self.seq = seq
        self.fn = fn
        self.arg = arg
        self.live = True

    def __lt__(self, other: Callout) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


def _resume(l: lwp, value: Any = None, exc: BaseException | None = None) -> Any:
    """Run ``l``'s coroutine, in the lwp's own context, until it yields: what it
    yielded (a signal, or a trio trap), or _ENDED; an exception out of it is
    raised."""
    coro = l.l_coro
    try:
        if exc is None:
            return l.l_ctx.run(_coro_send, coro, value)
        return l.l_ctx.run(coro.throw, exc)  # type: ignore[union-attr]
    except StopIteration:
        l.l_coro = None
        return _ENDED
    except BaseException:
        l.l_coro = None
        raise


async def _step(l: lwp, y: Any) -> _Signal:
    """``l`` yielded ``y``: forward trio traps to trio from the calling task (the
    CPU task, the lwp holding the CPU meanwhile; or a carrier) and send trio's
    answer, or throw its exception, back into ``l``, until it yields a signal
    (returned)."""
    while type(y) is not _Signal:
        try:
            value = await _forward(y)
        except BaseException as e:  # noqa: BLE001 - the lwp's to handle
            y = _resume(l, None, e)
        else:
            y = _resume(l, value)
    return y


class _Carrier:
    """A trio task that runs lwps through their waits outside the machine."""

    __slots__ = ("l", "task", "pool")

    def __init__(self, l: lwp, pool: list[_Carrier]) -> None:
        self.l: lwp | None = l
        self.task: trio.lowlevel.Task | None = None
        self.pool = pool

    def abort(self, _: Any) -> trio.lowlevel.Abort:
        # Cancelled while idle (the machine stops): out of the pool for good.
        self.pool.remove(self)
        return trio.lowlevel.Abort.SUCCEEDED


class VirtualCPU:
    """The CPU of one machine, its run queue, clock and callouts."""

    # (slots: its ~35 fields are read on every switch, decision and lock,
    # and a slot load is cheaper than a lookup in an instance dictionary,
    # which CPython 3.11 makes for an instance of more than 30 attributes)
    __slots__ = ("m", "strategy", "decisions", "_by_width", "_getrandbits", "_rec_widths",
                 "_rec_choices", "_rec_kinds", "curlwp", "runq", "realtime", "tracing",
                 "lockdebug", "tbuf", "_now", "origin", "_callouts", "_seq", "_ncallouts",
                 "_firing", "_carriers", "_task", "_waiting", "_kicked", "slow", "stopping",
                 "ext_off", "ext_pending", "host_pending", "went_idle", "deferred",
                 "_last_progress", "_strikes", "progress_gone", "__weakref__")

    def __init__(self, m: Machine, strategy: Strategy, realtime: bool) -> None:
        self.m = m
        self.strategy = strategy
        self.decisions = Decisions()
        # The strategy's choice from the width alone (random, replay), or None:
        # preemption points then need no list of options.
        self._by_width = strategy.width_picker()
        # When that is CPython's Random._randbelow (the random strategy), its
        # generator's getrandbits: preempt_choice draws as _randbelow does,
        # without its frame (the same getrandbits calls, so the same choices).
        self._getrandbits = _getrandbits_of(self._by_width)
        d = self.decisions
        # (Decisions.record's two lists and its bytearray (kinds), one
        # attribute away: every preemption point with another lwp runnable
        # records a decision.  Not their bound append methods:
        # ``lst.append(x)`` is CPython 3.11's specialized list append (and
        # ``kinds.append(k)`` a method-descriptor call), while a call of a
        # bound builtin method costs ~150 instructions more, ~0.5 M a sweep
        # seed over its three appends.  Nothing replaces a machine's
        # Decisions or its lists after this.)
        self._rec_widths = d.widths
        self._rec_choices = d.choices
        self._rec_kinds = d.kinds
        self.curlwp: lwp | None = None
        self.runq: list[lwp] = []
        self.realtime = realtime
        # Fixed at boot: whether events go to k.trace (boot(trace=)), and
        # whether locks feed lockdebug (boot(lockdebug=)); read on every
        # switch and lock, so kept here, one attribute away.
        self.tracing = m.trace.enabled
        self.lockdebug = m.lockdebug
        # With the trace on and the virtual clock, the hot paths (dispatch,
        # sleep, wakeup) append their events to the trace's raw list
        # themselves, without the time: the idle logic appends the clock
        # each time it moves it (kern/machine/trace.py).  Otherwise events
        # go through m.trace_add.
        self.tbuf: list[Any] | None = m.trace.raw if self.tracing and not realtime else None
        self.origin = 0.0  # trio time at boot (real clock)
        self._now = 0  # virtual clock, ns since boot
        self._callouts: list[Callout] = []
        self._ncallouts = 0
        self._seq = 0
        self._firing = False
        self.stopping = False
        # External waits: how many the machine must wait for (they count as
        # work outstanding), and how many lwps are off the CPU in one.
        self.ext_pending = 0
        self.ext_off = 0
        # Take the slow path at preemption points even with an empty run
        # queue: real clock (callouts may be due), stopping (raise
        # Cancelled), lwps outside (let trio run them).
        self.slow = realtime
        self.host_pending = False  # host_poke: a host call is queued for the run
        # Set each time the CPU goes idle; the halt's wait clears it to tell a
        # kernel that computes on for ever from one that sleeps now and then.
        self.went_idle = False
        self.deferred = False  # async face: idle decisions in the CPU task
        # The dispatches of non-daemon lwps that exited (progress()).
        self.progress_gone = 0
        self._strikes = 0
        self._last_progress = -1
        self._kicked = False
        # The CPU task (:meth:`cpu_task`), and whether it sleeps in :meth:`_sleep`
        # (then a dispatch, a kick or an lwp back from outside wakes it).
        self._task: trio.lowlevel.Task | None = None
        self._waiting = False
        self._carriers: list[_Carrier] = []  # idle carrier tasks

    # -------------------------------------------------------------- the clock

    def now_ns(self) -> int:
        """Nanoseconds since boot on the machine's clock."""
        if self.realtime:
            try:
                return int((trio.current_time() - self.origin) * NSEC)
            except RuntimeError:
                return self._now
        return self._now

    def start_clock(self) -> None:
        if self.realtime:
            self.origin = trio.current_time()

    def stop_clock(self) -> None:
        self._now = self.now_ns()
        self.realtime = False
        if self.tracing:
            self.tbuf = self.m.trace.raw
            self.tbuf.append(self._now)  # the clock for the hot paths' events

    def callout_after(self, ns: int, fn: Callable[[Any], None], arg: Any) -> Callout:
        """Call ``fn(arg)`` once ``ns`` nanoseconds have passed on the machine's clock."""
        self._seq += 1
        co = Callout(self.now_ns() + ns, self._seq, fn, arg)
        heapq.heappush(self._callouts, co)
        self._ncallouts += 1
        return co

    def callout_stop(self, co: Callout) -> None:
        if co.live:
            co.live = False
            self._ncallouts -= 1

    def _earliest(self) -> Callout | None:
        q = self._callouts
        while q and not q[0].live:
            heapq.heappop(q)
        return q[0] if q else None

    def _fire_due(self) -> None:
        """Run every live callout whose deadline has come, in (deadline, seq) order."""
        now = self.now_ns()
        q = self._callouts
        self._firing = True
        try:
            while q and (q[0].deadline <= now or not q[0].live):
                co = heapq.heappop(q)
                if co.live:
                    co.live = False
                    self._ncallouts -= 1
                    co.fn(co.arg)
        finally:
            self._firing = False

    # -------------------------------------------------------------- decisions

    def _pick(self, kind: int, options: Sequence[lwp], cur: lwp | None) -> int:
        i = self.strategy.pick(kind, options, cur)
        d = self.decisions
        d.widths.append(len(options))
        d.choices.append(i)
        d.kinds.append(kind)
        return i

    def chance(self, p: float) -> bool:
        """True with probability ``p``: a recorded decision when ``0 < p < 1``."""
        if p <= 0.0:
            return False
        if p >= 1.0:
            return True
        c = self.strategy.chance(p)
        self.decisions.record(2, c, CHANCE)
        return bool(c)

    def random_below(self, n: int) -> int:
        """A number in ``range(n)`` from the decision stream."""
        if n <= 1:
            return 0
        c = self.strategy.below(n)
        self.decisions.record(n, c, RANDOM)
        return c

    # -------------------------------------------------------------- switching

    def dispatch(self, l: lwp) -> None:
        """Give the CPU to ``l`` (taken off the run queue by the caller), and
        record its "run" event (its "start" the first time).

        ``l`` is never the lwp on the CPU: a dispatch comes from a CPU left
        free (:meth:`switch_away`, the idle logic, :meth:`setrun` on an idle
        CPU) or from :meth:`switch_to`, whose caller goes back on the run
        queue.  So every dispatch starts a new stretch on the CPU, and gets
        its event without a test."""
        self.curlwp = l
        l.l_stat = LSONPROC
        tb = self.tbuf
        if tb is not None:
            # (its "start" event until its code first runs, Machine._lwp_main;
            # no length check: _drive seals the list every _TRIO_EVERY steps
            # and when it returns with the list long)
            tb.append(l.l_trun)
        elif self.tracing:
            self.m.trace_add(l, "run" if l.l_ncsw else "start")
        l.l_ncsw += 1  # (progress() counts these: no count of the CPU's own here)
        if self._waiting:  # (dispatched from outside the CPU task: a carrier, call_soon)
            self._wake()

    @types.coroutine
    def park(self, l: lwp) -> Generator[Any, Any, None]:
        """Wait until ``l`` holds the CPU (return at once if it does, and is home).

        The calling lwp stops: the CPU task runs ``curlwp`` and resumes the
        caller when it is ``curlwp`` again.  (From a carrier: the lwp is back
        from outside, its coroutine goes home to the CPU task.)  Once the
        machine stops, it raises trio.Cancelled instead.

        Awaited like an ``async def``; a generator-based coroutine, as trio's
        own traps are, because it is where every sleep stops an lwp (a
        preemption's :meth:`switch_to` stops it the same way): it yields the
        switch signal itself, and each level of coroutines
        between the lwp's code and the yield costs every switch twice (out
        and back in)."""
        if self.curlwp is l and not l.l_away:
            return
        if self.stopping:
            # the machine's scope is cancelled: raises
            yield from trio.lowlevel.checkpoint().__await__()
        yield _SWITCH
        if self.stopping:
            yield from trio.lowlevel.checkpoint().__await__()

    async def migrate(self) -> None:
        """The calling lwp, which just left the CPU for a wait outside the
        machine (:meth:`ext_enter`), goes on in a carrier task of its own."""
        await _signal(_MIGRATE)

    def setrun(self, l: lwp) -> None:
        """Make ``l`` runnable; an idle CPU takes it (or chooses) at once."""
        l.l_stat = LSRUN
        self.runq.append(l)
        if self.curlwp is None and not self._firing and not self.stopping:
            self.dispatch(self._choose(None))

    def _choose(self, cur: lwp | None) -> lwp:
        runq = self.runq
        if len(runq) == 1:
            return runq.pop()
        return runq.pop(self._pick(SWITCH, runq, cur))

    def switch_away(self, l: lwp) -> None:
        """``l`` (blocked, exiting or going outside) leaves the CPU: run another, or idle."""
        if self.curlwp is not l:
            self._not_on_cpu(l)
        self.curlwp = None
        if self.realtime and self._ncallouts:
            self._fire_due()
        runq = self.runq
        if len(runq) == 1:
            self.dispatch(runq.pop())  # (_choose's case of one option, inline)
        elif runq:
            self.dispatch(self._choose(l))
        else:
            self.idle()

    async def block(self, l: lwp) -> None:
        """``l`` (made LSSLEEP by the caller) sleeps until it is dispatched again.

        (kern_synch.sleepq_block does the same two steps itself: a coroutine
        level less on every sleep.)"""
        self.switch_away(l)
        await self.park(l)

    def exit(self, l: lwp) -> None:
        """``l`` is done: the CPU goes to another lwp (or idles); ``l`` never parks again."""
        if self.curlwp is l:
            self.switch_away(l)

    async def preempt(self, l: lwp, kind: int = PREEMPT) -> None:
        """A preemption point (``kind`` PREEMPT) or a yield (YIELD) of ``l``.

        Called by kern_synch.preempt/yield_ only when the run queue is not
        empty or the slow path is on.
        """
        if self.slow:
            if self.stopping:
                await trio.lowlevel.checkpoint()  # raises Cancelled
            if self.host_pending:
                # The host queued calls for the machine's run (host_poke): trio
                # steps run them, as a CPU takes a pending interrupt at its
                # next spl drop, even in an lwp that never parks.  (Until they
                # ran, host_taken: trio may order this task first in its step.)
                await trio.lowlevel.checkpoint()
            if self.realtime and self._ncallouts:
                self._fire_due()
            if not self.runq:
                if self.ext_off:
                    await trio.lowlevel.checkpoint()  # let lwps outside come back
                return
        runq = self.runq
        if kind == YIELD:
            if self.curlwp is not l:
                self._not_on_cpu(l)
            options = runq + [l]
            i = self._pick(YIELD, options, l)
            if i == len(runq):
                return
        else:
            i = self.preempt_choice(l)
            if i < 0:
                return
        await self.switch_to(l, i)

    def preempt_point(self, l: lwp) -> Awaitable[None] | None:
        """A preemption point of ``l`` (not holding a spin mutex), decided
        without awaiting: what the caller must await, the switch to the
        lwp chosen or :meth:`preempt` on the slow path, or None for ``l`` to
        go on.  (The caller awaits it itself: no coroutine level of this
        method's between the caller and the switch.)  mutex_enter and
        rw_enter write these lines out in place, on purpose: a call more at
        every lock costs the sweep 0.2% and an fstat 0.4% of their
        instructions (benchmarks/count_instructions.py)."""
        if self.slow:
            return self.preempt(l, PREEMPT)
        if self.runq:
            i = self.preempt_choice(l)
            if i >= 0:
                return self.switch_to(l, i)
        return None

    def preempt_choice(self, l: lwp) -> int:
        """The decision of a preemption point of ``l`` (kind PREEMPT), the run
        queue not empty: the index in the run queue of the lwp to run, or -1
        for ``l`` to go on.  (Plain: a caller that goes on awaits nothing.)"""
        if self.curlwp is not l:
            self._not_on_cpu(l)
        getrandbits = self._getrandbits
        if getrandbits is not None:
            # (_randbelow(n) written out: k bits, drawn again while >= n)
            n = len(self.runq) + 1
            try:
                k = _BITS[n]  # (n.bit_length(), without a method call)
            except IndexError:
                k = n.bit_length()
            c = getrandbits(k)
            while c >= n:
                c = getrandbits(k)
        elif self._by_width is not None:
            n = len(self.runq) + 1
            c = self._by_width(n)
        else:
            return self._pick(PREEMPT, [l] + self.runq, l) - 1
        # (Decisions.record written out, as _pick does)
        self._rec_widths.append(n)
        self._rec_choices.append(c)
        self._rec_kinds.append(PREEMPT)
        return c - 1

    @types.coroutine
    def switch_to(self, l: lwp, i: int) -> Generator[Any, Any, None]:
        """``l`` goes back on the run queue and the CPU to the lwp ``runq[i]``.

        Awaited like an ``async def``; a generator-based coroutine that stops
        ``l`` itself, as :meth:`park` does (``runq[i]`` is not ``l``, so park
        would always stop): a coroutine level less on every preemption."""
        runq = self.runq
        nxt = runq[i]
        if i == len(runq) - 1:
            runq[i] = l  # (as pop and append, without the list shrinking and growing again)
        else:
            del runq[i]
            runq.append(l)
        l.l_stat = LSRUN
        self.dispatch(nxt)
        if self.stopping:
            yield from trio.lowlevel.checkpoint().__await__()
        yield _SWITCH
        if self.stopping:
            yield from trio.lowlevel.checkpoint().__await__()

    def _not_on_cpu(self, l: lwp) -> None:
        from kern.subr_prf import panic

        cur = self.curlwp.l_name if self.curlwp is not None else "nobody"
        panic("sched: lwp %s runs kernel code without the CPU (held by %s); a wait on "
              "something outside the machine must be inside m.external_wait()", l.l_name, cur)

    def _update_slow(self) -> None:
        self.slow = self.realtime or self.stopping or self.ext_off > 0 or self.host_pending

    def host_poke(self) -> None:
        """From a host thread, just before it queues a call for the machine's
        run (``run_sync_soon``; after it, the run might take the call and
        :meth:`host_taken` clear the poke first, leaving it set for good):
        the next preemption point takes a trio step, so
        the call runs even while an lwp computes without parking (a kernel
        loop, a job that never sleeps).  No decision is made there: a seeded
        run's schedule is the same.  (Two plain stores; the kernel's own
        ``_update_slow`` may race with them: the periodic trio step of the
        system call path, and the host's next poke, cover a lost one.)"""
        self.host_pending = True
        self.slow = True

    def host_taken(self) -> None:
        """In the machine's run: the host's queued calls are running (the end
        of :meth:`host_poke`'s extra trio steps)."""
        self.host_pending = False
        self._update_slow()

    def stop(self) -> None:
        """The machine stops: every scheduler entry raises Cancelled from now on."""
        self.stopping = True
        self.slow = True
        self.kick()

    # -------------------------------------------------------------- external waits

    def ext_enter(self, l: lwp | None, pending: bool, wmesg: str) -> bool:
        """Start a wait outside the machine; True if ``l`` left the CPU for it."""
        if pending:
            self.ext_pending += 1
        if l is None:
            return False
        if l.l_extdepth:
            l.l_extdepth += 1
            return False
        if self.curlwp is not l:
            self._not_on_cpu(l)
        l.l_extdepth = 1
        l.l_stat = LSSLEEP
        l.l_syncobj = "extern"
        l.l_wmesg = wmesg
        self.m.trace_add(l, "extern", wmesg)
        self.ext_off += 1
        self._update_slow()
        self.switch_away(l)
        return True

    def ext_exit(self, l: lwp | None, pending: bool) -> bool:
        """End a wait outside; True if ``l`` must now wait for the CPU (:meth:`park`)."""
        if pending:
            self.ext_pending -= 1
        if l is None or self.stopping:
            if self.curlwp is None and not self.runq and not self.stopping:
                self.idle()
            return False
        l.l_extdepth -= 1
        if l.l_extdepth:
            return False
        self.ext_off -= 1
        self._update_slow()
        l.l_syncobj = None
        l.l_wmesg = None
        self.m.trace_add(l, "intern")
        self.setrun(l)
        return True

    # -------------------------------------------------------------- idle

    def kick(self) -> None:
        """Make the CPU task run the idle logic (see :meth:`_idle`)."""
        self._kicked = True
        self._wake()

    def _wake(self) -> None:
        """Wake the CPU task if it sleeps in :meth:`_sleep`."""
        if self._waiting:
            self._waiting = False
            trio.lowlevel.reschedule(self._task)

    def recheck(self) -> None:
        """Something outside the CPU changed (a caller abandoned its request):
        an idle CPU looks again at what to do."""
        if self.curlwp is None and not self.runq:
            self.idle()

    def idle(self) -> None:
        """The CPU is free and nothing is runnable: decide what happens."""
        self.went_idle = True
        if self.stopping:
            return
        if self.deferred or self.host_pending:
            # (host_pending: the host queued calls for the run (host_poke), a
            # halt or a request: the CPU task takes a trio step for them before
            # the idle logic, see _idle.  Run here, inside the lwp that just
            # went to sleep, the idle logic would fire its callout and resume
            # it without a trio step: an lwp napping in a loop (kpause of a
            # tick) never let the host's calls in, and a halt from another
            # thread waited for ever.)
            self.kick()
        elif self.idle_step() is not None:
            self.kick()

    def idle_step(self) -> float | None:
        """Run the idle logic until the CPU is busy or must wait.

        Returns a trio time to sleep until (a real-clock callout, or an
        outside task's deadline on the async face) or None.
        """
        m = self.m
        while self.curlwp is None and not self.stopping:
            if self.runq:
                self.dispatch(self._choose(None))
                return None
            if self.ext_pending:
                return None  # the outside will come back
            busy = m.busy()
            outside = self._outside_deadline() if self.deferred and busy else math.inf
            if self._ncallouts and (busy or self.realtime):
                co = self._earliest()
                assert co is not None
                if self.realtime:
                    if co.deadline > self.now_ns():
                        return self.origin + co.deadline / NSEC
                    self._fire_due()
                    continue
                if outside <= OUTSIDE_SOON:
                    return trio.current_time() + outside
                progress = self.progress()
                if progress == self._last_progress and outside == math.inf and \
                        not m.nondaemon_timed():
                    self._strikes += 1
                    if self._strikes > m.deadlock_patience:
                        m.deadlock(daemons_only=True)
                        return None
                else:
                    self._strikes = 0
                self._last_progress = progress
                self._now = co.deadline
                if self.tbuf is not None:
                    self.tbuf.append(co.deadline)  # the clock for the hot paths' events
                self._fire_due()
                continue
            if not busy:
                self._strikes = 0
                m.quiescent()
                return None
            if outside != math.inf:
                return trio.current_time() + outside
            m.deadlock()
            return None
        return None

    def progress(self) -> int:
        """Dispatches of non-daemon lwps so far: their ``l_ncsw`` (each dispatch
        counts one), the live ones' and the exited ones'.  (Summed when the
        idle logic asks, a few times a run, instead of counted at every
        dispatch: the same count because LW_DAEMON is set only by
        kthread_create and never changes afterwards.)"""
        n = self.progress_gone
        for l in self.m.alllwp:
            if not l.l_flag & LW_DAEMON:
                n += l.l_ncsw
        return n

    def _outside_deadline(self) -> float:
        """Seconds to the next trio deadline of a task outside the machine (async face)."""
        return trio.lowlevel.current_statistics().seconds_to_next_deadline

    # -------------------------------------------------------------- the CPU task

    @trio.lowlevel.enable_ki_protection
    async def cpu_task(self) -> None:
        """The machine's one trio task for its lwps: runs ``curlwp``, forwards
        its trio traps, and waits where the idle logic cannot (on trio's
        clock; on the async face, for the caller's tasks to block)."""
        self._task = trio.lowlevel.current_task()
        try:
            while not self.stopping:
                l = self.curlwp
                if l is not None and not l.l_away:
                    await self._drive()
                elif self._kicked:
                    self._kicked = False
                    await self._idle()
                else:
                    await self._sleep()
        except trio.Cancelled:
            # The machine's nursery is cancelled without a halt or a crash (an
            # error elsewhere in the run, a Ctrl-C of run_once's caller).
            self.m._stop()
        except BaseException:
            # Out of an lwp's coroutine past _lwp_main's classification (a bug
            # of the harness): the run fails with it, after the others unwound.
            self.m._stop()
            await self._teardown()
            raise
        await self._teardown()

    async def _sleep(self, until: float = math.inf) -> None:
        """Until a dispatch, a kick, an lwp back home, or trio time ``until``."""
        self._waiting = True
        try:
            with trio.move_on_at(until):
                await trio.lowlevel.wait_task_rescheduled(self._abort_sleep)
        finally:
            self._waiting = False

    def _abort_sleep(self, _: Any) -> trio.lowlevel.Abort:
        self._waiting = False
        return trio.lowlevel.Abort.SUCCEEDED

    async def _drive(self) -> None:
        """Run lwps until the CPU is idle or its ``curlwp`` is not home yet."""
        while True:
            # _TRIO_EVERY steps a round: the lwp steps of the inner loop, then
            # a trio turn (no decision is made there).  (A for loop over a
            # range, not a counter decremented and tested at every step.)
            for _ in _STEPS:
                l = self.curlwp
                if l is None or l.l_away or self.stopping:
                    break
                try:
                    # (_resume(l) written out: every switch passes here)
                    try:
                        sig = l.l_ctx.run(_coro_send, l.l_coro, None)
                    except StopIteration:
                        l.l_coro = None
                        continue
                    except BaseException:
                        l.l_coro = None
                        raise
                    if sig is _SWITCH:
                        continue  # (the common case)
                    if type(sig) is not _Signal:
                        sig = await _step(l, sig)
                except trio.Cancelled:
                    continue  # it ended unwinding (the machine stops)
                if sig is _MIGRATE:
                    self._migrate(l)
            else:
                l = self.curlwp
                if l is not None and not l.l_away and not self.stopping:
                    # (Cancelled here: the machine's run is ending; cpu_task
                    # stops the machine and unwinds the lwps)
                    await trio.lowlevel.checkpoint()
                    if self.tbuf is not None:
                        # The hot paths append to the trace without looking at
                        # its length (a step adds a few events at most): it is
                        # sealed here (kern/machine/trace.py).
                        self.m.trace.seal()
                    continue
            tb = self.tbuf
            if tb is not None and len(tb) > SEAL_AT:
                # (the step count starts again at the next entry: a
                # trace_add seals the list too, but a way out of here
                # without one must not leave it growing)
                self.m.trace.seal()
            return

    def _migrate(self, l: lwp) -> None:
        """``l`` went outside: an idle carrier task takes it, or a new one."""
        l.l_away = True
        if self._carriers:
            c = self._carriers.pop()
            c.l = l
            trio.lowlevel.reschedule(c.task)
            return
        nursery = self.m._nursery
        assert nursery is not None
        nursery.start_soon(self._carrier, _Carrier(l, self._carriers), name="kemu-carrier")

    @trio.lowlevel.enable_ki_protection
    async def _carrier(self, c: _Carrier) -> None:
        """Runs an lwp outside the machine, from its :meth:`migrate` until it
        is back and waits for the CPU (so the trio cancel scopes, locks and
        sockets of ``async with m.external_wait():`` belong to one task);
        then waits, idle, for the next lwp that goes outside."""
        c.task = trio.lowlevel.current_task()
        pool = self._carriers
        while True:
            l = c.l
            assert l is not None
            try:
                await _step(l, _resume(l))   # the switch signal: back home (or it ended)
            finally:
                l.l_away = False
                c.l = None
            if l.l_coro is not None and self.curlwp is l:
                self._wake()
            if self.stopping:
                return
            pool.append(c)
            await trio.lowlevel.wait_task_rescheduled(c.abort)

    async def _idle(self) -> None:
        """The idle logic, where it has to wait (see :meth:`idle_step`)."""
        while self.curlwp is None and not self.stopping:
            if self.host_pending:
                await trio.lowlevel.checkpoint()   # the host's calls run (see idle)
                if self.curlwp is not None or self.stopping:
                    break
            if self.deferred:
                # (imported here: trio.testing imports pytest, which a
                # process that only serves puffs never needs)
                from trio.testing import wait_all_tasks_blocked

                await wait_all_tasks_blocked()
                if self.curlwp is not None or self.stopping:
                    break
                self.m.take_intake()
                if self.curlwp is not None:
                    break
            until = self.idle_step()
            if until is None:
                break
            if not self._kicked:
                await self._sleep(until)
            self._kicked = False

    async def _teardown(self) -> None:
        """The machine stops: every lwp at home gets trio.Cancelled where it
        waits and unwinds (one that never ran is dropped); the ones outside get
        it from trio in their carriers."""
        while True:
            home = [l for l in self.m.alllwp if l.l_coro is not None and not l.l_away]
            if not home:
                return
            for l in home:
                coro = l.l_coro
                if coro is None or l.l_away:
                    continue
                if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                    coro.close()
                    l.l_coro = None
                    continue
                await self._unwind(l)

    async def _unwind(self, l: lwp) -> None:
        try:
            while l.l_coro is not None:
                sig = await _step(l, _resume(l))
                if sig is _MIGRATE:
                    self._migrate(l)
                    return
        except trio.Cancelled:
            pass
