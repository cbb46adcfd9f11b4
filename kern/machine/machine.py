"""A booted machine: one trio run holding every lwp of one emulated kernel.

``kern.boot(seed=7)`` returns a :class:`Machine`, used either way:

* sync face, for simple tests and the REPL::

      with kern.boot(seed=7) as k:
          k.run(afn, arg, name="writer")   # runs afn(arg) as a new lwp, returns its result

  The machine runs its trio loop in a thread of its own.  ``k.run`` blocks
  until the lwp is done *and* the kernel is quiescent (every lwp asleep), so
  between two calls nothing moves: the test may look at any kernel state,
  and virtual time stands still.

* async face, for tests that set several user threads against each other::

      async with kern.boot(seed=7) as k:
          async with trio.open_nursery() as n:
              n.start_soon(k.run, writer)
              n.start_soon(k.run, reader)

  The machine's tasks run in the caller's trio run (any trio clock will do).

* ``Machine(...).run_once(afn, *args)``: boot, run one lwp, halt, all in
  the calling thread: what the explorers (kern/machine/explore.py) use.

The lwps share one virtual CPU (kern/machine/scheduler.py); a strategy
(kern/machine/strategies.py) makes every scheduling choice and every
random draw, and the machine records them (kern/machine/schedule.py): the
schedule string ``k.schedule`` replays the run exactly
(``kern.boot(replay=...)``), byte for byte in ``k.trace``.

Leaving either ``with`` block, however it is left (normally, by an exception,
KeyboardInterrupt or cancellation), halts the machine: ``cpu_reboot``
(kern/machdep.py) syncs and unmounts every file system before the disks are
closed.  Only a crash skips that; its report names the host images it leaves
possibly inconsistent.

"""

from __future__ import annotations

import atexit
import contextvars
import importlib
import math
import os
import signal
import socket
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

import outcome
import trio

from kern.cpu import _lwp, _machine
from kern.exceptions import Deadlock, KernelError, KernelPanic, MachineHalted
from kern.kern_lwp import (
    LSONPROC,
    LSRUN,
    LSSLEEP,
    LSZOMB,
    LW_DAEMON,
    LW_SYSTEM,
    PK_HOSTCHILD,
    PK_SYSTEM,
    KthreadExit,
    lwp,
    proc,
)
from kern.machine import HOST_SIGNALS, lockset, strategies
from kern.machine.scheduler import VirtualCPU
from kern.machine.strategies import Strategy
from kern.machine.trace import SEAL_AT, Trace, TraceEvent
from kern.subr_fault import FaultTable
from kern.subr_lockdebug import lock_name, short_path

# 2018-01-23 22:42:29 UTC, the date of fss.c 1.104: the default time of day at boot.
DEFAULT_BOOTTIME = 1516747349

_INTERNAL_FILES = ("kern/kern_synch.py:", "kern/kern_mutex.py:", "kern/kern_condvar.py:",
                   "kern/kern_rwlock.py:", "kern/subr_lockdebug.py:", "kern/machine/")

# Called with every machine as it is made (the pytest plugin keeps the machines
# a test booted, to print their seeds when it fails).
boot_observers: list[Callable[[Machine], None]] = []
default_seed: int = 0
# Schedules for the next machines booted without a strategy, in boot order
# (pytest --kemu-replay=S1,S2).
default_replays: list[str] = []
# Set by a campaign while it runs a test many times (kern/machine/campaign.py):
# called for every machine booted, in boot order, it gives the strategy that
# machine runs under, whatever the test asked for.
strategy_override: Callable[[], Strategy] | None = None

# The kernel tunables a boot may set (tunables={...}) and what they do.
TUNABLES = {
    "module_verbose": "print module load/unload messages (kern_module, default False)",
    "module_autotime": "seconds before an autoloaded module may be auto-unloaded (default 10)",
}

# Who the machine itself is in k.trace's events (an lwp's is its l_tid).
_MACHINE_TID = ("-", 0, 0)

# A schedule string longer than this is written to a file by the reports.
SCHEDULE_INLINE_MAX = 400

# Seconds of host time an async halt waits for an idle kernel before it starts
# anyway (Machine._areboot).  Only a kernel that never goes idle waits it out:
# once the request is taken from the intake, the deadline is gone (take_intake).
HALT_START_PATIENCE = 2.0
# Seconds of host time a sync halt whose cpu_reboot is done waits for a kernel
# that never goes idle before it stops the machine (Machine._reboot_sync).
HALT_QUIESCE_PATIENCE = 5.0
# Seconds of host time at most that the machine holds its CPU for the host's
# turn (Machine._give_host_turn) when the host does not come back to wait on it.
HOST_TURN_LIMIT = 1.0
# The host signals that give the host its turn: those that end kemu or
# interrupt a command (a window size change does not).
_TURN_SIGNALS = frozenset(int(s) for s in HOST_SIGNALS - {signal.SIGWINCH})
# What the machine writes into its own turn socket after an early delivery
# (no signal has the number 0).
_TURN_DELIVERED = 0

__all__ = ["CrashDump", "LwpInfo", "Machine", "Trace", "TraceEvent", "boot"]


@dataclass
class LwpInfo:
    """One lwp as it was when the machine crashed."""

    name: str
    pid: int
    lid: int
    stat: str
    wmesg: str | None
    waiting_for: str
    held_locks: list[str]
    where: str
    stack: list[str]

    def line(self) -> str:
        held = f"; holds {', '.join(self.held_locks)}" if self.held_locks else ""
        return (f'lwp "{self.name}" (pid {self.pid}, lid {self.lid}, {self.stat}): '
                f"{self.waiting_for}, at {self.where}{held}")


@dataclass
class CrashDump:
    """What the machine looked like when its run ended with an error."""

    reason: str
    time: float
    lwps: list[LwpInfo]
    msgbuf: str
    trace_tail: list[str] = field(default_factory=list)
    schedule: str = ""
    # What the crash leaves in an unknown state, e.g. "host image X (/dev/wd0)
    # may be inconsistent: ..." (nothing was synced); also in the error's message.
    notes: list[str] = field(default_factory=list)

    def lwp(self, name: str) -> LwpInfo:
        for i in self.lwps:
            if i.name == name:
                return i
        raise KeyError(name)


class _Request:
    """One k.run(): an lwp to start and, later, its outcome for the caller.

    A sync request is delivered when the kernel is quiescent (to a thread
    through ``tevent``, or to a task through ``aevent``); an async one as
    soon as its lwp is done.
    """

    def __init__(self, afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...],
                 name: str | None, p: proc | None, sync: bool) -> None:
        self.afn = afn
        self.args = args
        self.name = name
        self.proc = p
        self.sync = sync
        self.done = False
        self.delivered = False
        # Machine.stop_waiting: a sync request delivered when its lwp ends,
        # without waiting for quiescence; the lwp that runs it
        self.early = False
        self.lwp: lwp | None = None
        # Its caller stopped waiting (Ctrl-C, cancellation): the lwp runs on, but
        # the machine no longer counts it as work outstanding.
        self.abandoned = False
        self.outcome: outcome.Outcome | None = None
        self.tevent: threading.Event | None = None
        self.aevent: trio.Event | None = None
        # The async halt's wait for an idle kernel (Machine._areboot): its
        # deadline goes when the request leaves the intake (take_intake).
        self.patience: trio.CancelScope | None = None

    def finish(self, out: outcome.Outcome) -> None:
        if not self.done:
            self.done = True
            self.outcome = out

    def deliver(self) -> None:
        if self.delivered:
            return
        self.delivered = True
        if self.tevent is not None:
            self.tevent.set()
        elif self.aevent is not None:
            self.aevent.set()

    def sort_key(self) -> tuple[str, tuple[Any, ...]]:
        """Orders requests that reach an idle kernel together (async face)."""
        name = self.name or getattr(self.afn, "__name__", "lwp")
        simple = tuple(a if isinstance(a, (int, str, bytes, float, bool, type(None)))
                       else type(a).__name__ for a in self.args)
        return name, simple


class Machine:
    """One emulated NetBSD kernel.  Make it with :func:`kern.boot`."""

    # More than 30 instance attribute names: without __slots__, CPython 3.11 gives
    # each machine its own dict and every ``ci.m.*`` read is a dict lookup
    # (_turn_closer's weakref.finalize and _sync_machines take weak references).
    __slots__ = ('_booted', '_dirty_warned', '_ended', '_face', '_failure_raised',
                 '_halt_reported', '_halting', '_holding', '_host_gen', '_host_waits',
                 '_hostchildren', '_intake',
                 '_msgbuf', '_nextpid', '_nursery', '_outer', '_reboot_req', '_requests',
                 '_shutdown_hooks', '_thread', '_token', '_turn_closer', '_turn_cv', '_turn_r',
                 '_turn_w', '_turns_off', '_wakeup_prev', 'alllwp', 'aprint_errors', 'boothowto',
                 'boottime_ns', 'clock_kind', 'config', 'console', 'cpu', 'crash',
                 'crash_note_hooks', 'deadlock_patience', 'failure', 'faults', 'initproc', 'locals',
                 'lockdebug', 'options', 'proc0', 'proc_create_hooks', 'proc_destroy_hooks',
                 'procs', 'race', 'seed', 'state', 'strategy', 'trace', 'verbose', '__weakref__')

    def __init__(self, seed: int | None = None, *, strategy: str | Strategy | None = None,
                 replay: str | None = None, clock: str = "virtual",
                 lockdebug: bool | str = True, trace: bool = True, trace_limit: int = 1_000_000,
                 config: Any = None, verbose: bool = False, debug: bool = False,
                 quiet: bool = False, boottime: float = DEFAULT_BOOTTIME,
                 deadlock_patience: int = 64, console: TextIO | None = None,
                 faults: Any = None, race: bool | None = None,
                 tunables: dict[str, Any] | None = None,
                 observe: bool = True, **strategy_options: Any) -> None:
        # The native helper (kern.native) loads, or the boot stops here with its
        # ImportError (KEMU_NATIVE=bogus, or =cffi without the compiled module):
        # imported later by a file system's module, it would only be ENOEXEC.
        import kern.native  # noqa: F401
        if clock not in ("virtual", "real"):
            raise ValueError("clock must be 'virtual' or 'real'")
        if lockdebug not in (True, False, "strict"):
            raise ValueError(f"lockdebug must be True, False or 'strict', not {lockdebug!r}")
        tunables = dict(tunables or {})
        for name in TUNABLES:
            if name in strategy_options:
                tunables[name] = strategy_options.pop(name)
        bad = sorted(set(tunables) - set(TUNABLES))
        if bad:
            raise TypeError(f"unknown kernel tunable(s) {', '.join(bad)} (known: "
                            f"{', '.join(TUNABLES)})")
        # Kernel variables set at boot (NetBSD sets them with boot options or
        # sysctl): the kernel reads them with ``m.options.get(name, default)``.
        self.options: dict[str, Any] = tunables
        self.seed = default_seed if seed is None else int(seed)
        if strategy is None and replay is None and not strategy_options and default_replays:
            replay = default_replays.pop(0)
        self.strategy = strategies.make_strategy(strategy, self.seed, replay, strategy_options)
        if strategy_override is not None:
            self.strategy = strategy_override()
        self.clock_kind = clock
        self.lockdebug: bool | str = lockdebug
        self.trace = Trace(trace, trace_limit)
        self.trace.renumbered = self._trace_renumbered
        self.verbose = verbose
        self.console = console  # where verbose echoes kernel messages (None: sys.stdout)
        from kern.subr_prf import AB_DEBUG, AB_QUIET, AB_VERBOSE

        self.boothowto = (AB_DEBUG if debug else 0) | (AB_QUIET if quiet else 0) | \
            (AB_VERBOSE if verbose else 0)
        self.boottime_ns = int(boottime * 1e9)
        self.deadlock_patience = deadlock_patience
        self.config = _resolve_config(config)
        self.cpu = VirtualCPU(self, self.strategy, realtime=(clock == "real"))
        self.faults = FaultTable(self.seed)
        if faults:
            self.faults.apply(faults)  # a FaultPlan or its text form
        # the lockset race detector (kern.machine.lockset), when on
        self.race = lockset.Detector(self) if (lockset.default if race is None else race) \
            else None
        self.locals: dict[Any, Any] = {}
        self.alllwp: list[lwp] = []
        self.procs: dict[int, proc] = {}
        self._hostchildren: dict[proc, int] = {}   # hostchild_hold's counts
        self._nextpid = 1
        self.proc0: proc = proc(0, "system")
        self.proc0.p_flag |= PK_SYSTEM
        self.procs[0] = self.proc0
        self.initproc: proc | None = None
        self._msgbuf: list[str] = []
        self.aprint_errors = 0
        self.failure: KernelError | None = None
        self._failure_raised = False
        self._halting = False          # cpu_reboot has been started
        # the halt's request (cpu_reboot): once it is done, the requests still
        # outstanding are cut short (Machine.busy)
        self._reboot_req: _Request | None = None
        self._halt_reported = False    # halt_report's lines were raised
        self._dirty_warned = False     # halt_dirty_report's lines were warned of
        self.crash: CrashDump | None = None
        self.state = "new"
        self._face: str | None = None
        self._requests: list[_Request] = []
        self._intake: list[_Request] = []
        self._nursery: trio.Nursery | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._thread: threading.Thread | None = None
        self._booted = threading.Event()
        # The async face's kernel task has ended (set in _kernel_main; made by
        # __aenter__): ahalt waits for it, as halt joins the machine's thread.
        self._ended: trio.Event | None = None
        # The host's turn (sync face; see _give_host_turn): the socket pair
        # whose write end is the host's signal wakeup fd while a host thread
        # waits on the machine (closed at the halt, or when a machine never
        # halted is collected); the events of the waits in progress; how many
        # times a host thread has come back to a wait (a hold ends when it
        # changes); whether a hold is on; whether the halt has ended turns; the
        # wakeup fd found there before.
        self._turn_r: socket.socket | None = None
        self._turn_w: socket.socket | None = None
        self._turn_closer: weakref.finalize | None = None
        self._turn_cv = threading.Condition(threading.Lock())
        self._host_waits: set[threading.Event] = set()
        self._host_gen = 0
        self._holding = False
        self._turns_off = False
        self._wakeup_prev = -1
        self._shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        # Called when the machine crashes, each giving lines for the report: what
        # the crash leaves in an unknown state (rumpblk: the host images it had).
        self.crash_note_hooks: list[Callable[[Machine], list[str]]] = []
        # Layers above kern give each new process what they own (descriptors,
        # address space) by adding hooks here while the machine boots.
        self.proc_create_hooks: list[Callable[[proc, proc | None], None]] = []
        self.proc_destroy_hooks: list[Callable[[proc], None]] = []
        if observe:  # (the explorers' thousands of machines are not reported)
            for obs in boot_observers:
                obs(self)

    # ------------------------------------------------------------------ info

    def __repr__(self) -> str:
        return f"<Machine seed={self.seed} {self.state}>"

    def now(self) -> float:
        """Seconds since boot on the machine's clock (virtual unless clock='real')."""
        return self.cpu.now_ns() / 1e9

    def uptime_ns(self) -> int:
        """Nanoseconds since boot on the machine's clock."""
        return self.cpu.now_ns()

    def trace_add(self, l: lwp | None, kind: str, detail: str = "") -> None:
        """Add an event to ``k.trace`` (kern/machine/trace.py lists the kinds)."""
        tr = self.trace
        if tr.enabled:
            raw = tr.raw
            raw += (self.cpu.now_ns(), (_MACHINE_TID if l is None else l.l_tid, kind,
                                        detail or ""))
            if l is not None and (kind == "start" or kind == "exit"):
                # (exit: the command after an exec)
                tr.procs[l.l_proc.p_pid] = l.l_proc.p_comm
            if len(raw) > SEAL_AT:
                tr.seal()

    def trace_sleep(self, l: lwp) -> None:
        """The ``sleep`` event of ``l`` (in sleepq_block) through ``trace_add``,
        when the CPU has no raw buffer to append to: a lock wait's names the
        lock and its holder."""
        if self.trace.enabled:
            lock = _lock_wait(l)
            self.trace_add(l, "sleep", l.l_wmesg if lock is None else lock)

    def sleep_event(self, l: lwp) -> Any:
        """The ``sleep`` event of ``l`` as the trace's raw list takes it (the
        hot path of sleepq_block, when ``l.l_tsleep`` is not for its wmesg):
        a lock wait's, a tuple naming the lock and its holder; any other's,
        its number (Trace.intern), kept in ``l.l_tsleep`` for the next sleep
        on the same wmesg.  (Lock waits sleep with wmesg "mutex" or
        "rwlock", kern/kern_mutex.py and kern/kern_rwlock.py: an event of
        another sleep with one of those wmesgs is never kept, so a lock wait
        never finds one.)"""
        lock = _lock_wait(l)
        if lock is not None:
            return (l.l_tid, "sleep", lock)
        wm = l.l_wmesg
        ev = self.trace.intern((l.l_tid, "sleep", wm or ""))
        if wm != "mutex" and wm != "rwlock":
            l.l_tsleep = ev
            l.l_tsleepw = wm
        return ev

    def wakeup_event(self, l: lwp) -> Any:
        """The ``wakeup`` event of ``l`` as the trace's raw list takes it (the
        hot path of sleepq_wake, when ``l.l_twakeup`` is not for its wmesg):
        its number, kept in ``l.l_twakeup`` for the next wakeup on the same
        wmesg."""
        wm = l.l_twakeupw = l.l_wmesg
        ev = l.l_twakeup = self.trace.intern((l.l_tid, "wakeup", wm or ""))
        return ev

    def _trace_renumbered(self) -> None:
        """Trace.flush emptied the trace's table of event numbers: each live
        lwp's numbers are made again (a dead one's are left to go: the table
        stays as small as the live lwps' events)."""
        for l in self.alllwp:
            l.set_trace_events()

    def trace_event(self, l: lwp | None, event: str) -> None:
        """``trace_add`` with the kind and detail in one string ("fault site EIO")."""
        kind, _, detail = event.partition(" ")
        self.trace_add(l, kind, detail)

    # ---------------------------------------------------------- the decision stream

    @property
    def schedule(self) -> str:
        """The schedule string of the run so far: ``kern.boot(replay=k.schedule)`` replays it."""
        return self.cpu.decisions.schedule()

    @property
    def decisions(self) -> Any:
        """The decisions of the run so far (kern.machine.schedule.Decisions)."""
        return self.cpu.decisions

    def chance(self, p: float) -> bool:
        """True with probability ``p``, drawn from the decision stream (fault plans)."""
        return self.cpu.chance(p)

    def random_below(self, n: int) -> int:
        """A number in ``range(n)``, drawn from the decision stream."""
        return self.cpu.random_below(n)

    def schedule_arg(self) -> str:
        """The schedule string, or ``@file`` holding it when it is long."""
        return schedule_arg(self.schedule)

    def repro_args(self) -> list[str]:
        """The pytest options that make a test boot this machine again as it ran:
        its seed and strategy (``--kemu-replay`` with the schedule string
        when it was a replay).  The plugin's report adds the exact
        ``--kemu-replay=`` line of every machine."""
        spec = self.strategy.spec()
        if spec is None:
            return [f"--kemu-replay={self.schedule_arg()}"]
        args = [f"--kemu-seed={self.seed}"]
        if spec != "random":
            args.append(f"--kemu-strategy={spec}")
        return args

    def msgbuf_put(self, text: str) -> None:
        self._msgbuf.append(text)
        if self.verbose:
            out = self.console if self.console is not None else sys.stdout
            out.write(text)
            out.flush()

    def dmesg(self) -> str:
        """Everything the kernel printed since boot."""
        return "".join(self._msgbuf)

    @property
    def lwps(self) -> list[lwp]:
        """The lwps alive now (or at the crash, after one)."""
        return list(self.alllwp)

    def lwp_named(self, name: str) -> lwp:
        for l in self.alllwp:
            if l.l_name == name:
                return l
        raise KeyError(name)

    # ------------------------------------------------------------- processes

    def proc_create(self, comm: str, parent: proc | None = None, cred: Any = None, *,
                    exec: bool = True) -> proc:
        """A new user process (descriptor table and address space set up by their layers).

        By default the process is as after fork and exec (``PK_EXEC``): an empty
        address space, the parent's descriptors less the close-on-exec ones.
        ``exec=False`` is a plain fork (kern/kern_fork.py): the layers copy the
        parent's address space and every descriptor.
        """
        from kern.kern_lwp import PK_EXEC
        from kern.kern_sig import sigacts_inherit

        pid = self._nextpid
        self._nextpid += 1
        p = proc(pid, comm, cred if cred is not None else (parent.p_cred if parent else
                                                           self.proc0.p_cred), parent)
        if exec:
            p.p_flag |= PK_EXEC
        if parent is not None:
            sigacts_inherit(parent, p, exec)
        self.procs[pid] = p
        for hook in self.proc_create_hooks:
            hook(p, parent)
        return p

    def proc_destroy(self, p: proc) -> None:
        for hook in self.proc_destroy_hooks:
            hook(p)
        self.procs.pop(p.p_pid, None)

    # ------------------------------------------------------------------ lwps

    def spawn_lwp(self, l: lwp, afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...],
                  req: _Request | None = None) -> None:
        """Start ``afn(*args)`` as lwp ``l`` (kthread_create and k.run come here).

        The lwp goes on the run queue; it runs when the scheduler picks it.
        """
        if self._nursery is None or self.state in ("failed", "halted"):
            raise MachineHalted(f"{self!r} is not running")
        if self.race is not None:
            self.race.lwp_spawned(l, _lwp.get())
        l.l_cpu = self.cpu
        l.set_trace_events()  # (its "start" as a number in the trace; "run" from _lwp_main)
        l.l_proc.p_lwps.append(l)
        self.alllwp.append(l)
        # Its context starts as a copy of the spawner's, as a trio task's does.
        l.l_ctx = contextvars.copy_context()
        l.l_coro = self._lwp_main(l, afn, args, req)
        self.cpu.setrun(l)

    # An lwp's code is KI-protected (its frames are under this one's, whichever
    # task runs it): on the async face a Ctrl-C never lands in the middle of
    # kernel code; trio raises it in the caller's task, whose ``async with``
    # then halts (syncs) the machine.
    @trio.lowlevel.enable_ki_protection
    async def _lwp_main(self, l: lwp, afn: Callable[..., Awaitable[Any]],
                        args: tuple[Any, ...], req: _Request | None) -> None:
        """The coroutine of lwp ``l``: the CPU task first runs it when the
        scheduler picks ``l`` (kern/machine/scheduler.py)."""
        _machine.set(self)
        _lwp.set(l)
        tr = self.trace
        if tr.enabled:
            # Its first dispatch, just before, was its "start" (the CPU's raw
            # buffer took l_trun, or trace_add): from now on it is "run".
            l.set_trace_events()
            tr.procs[l.l_proc.p_pid] = l.l_proc.p_comm
        out: outcome.Outcome
        try:
            value = await afn(*args)
            out = outcome.Value(value)
        except KthreadExit as e:
            out = outcome.Value(e.ecode)
        except trio.Cancelled as e:
            if self.cpu.stopping or self._nursery is None or \
                    self._nursery.cancel_scope.cancel_called:
                raise  # the machine stops: it unwinds
            # Not the machine's: the lwps share the CPU task, so a trio cancel
            # scope an lwp holds while it sleeps cancels whichever runs then.
            p = KernelPanic(f"panic: trio.Cancelled escaped lwp {l.l_name!r}: a trio "
                            "cancel scope that is not the machine's cancelled it (an lwp "
                            "that sleeps inside its own trio cancel scope; a trio wait "
                            "that may be cancelled belongs in m.external_wait())")
            p.__cause__ = e
            self._fail(p)
            return
        except KernelError as e:
            self._fail(e)
            return
        except BaseException as e:  # noqa: BLE001 - classify, then deliver or panic
            if req is not None and not (l.l_flag & LW_SYSTEM):
                out = outcome.Error(e)
            else:
                p = KernelPanic(f"panic: {type(e).__name__} escaped kernel thread "
                                f"{l.l_name!r}: {e}")
                p.__cause__ = e
                self._fail(p)
                return
        if l.l_locks:
            p = KernelPanic(f"panic: lwp {l.l_name!r} exits holding "
                            f"{', '.join(l.held_locks())}")
            self._fail(p)
            return
        self._lwp_exit(l, out)
        if req is not None:
            req.finish(out)
            if not req.sync or req.early:
                req.deliver()
                if req.early:
                    self._early_delivered(req)
        self.cpu.exit(l)

    def _lwp_exit(self, l: lwp, out: outcome.Outcome) -> None:
        from kern.kern_exit import lwp_exit_finish
        from kern.kern_synch import sleepq_wake

        l.l_stat = LSZOMB
        l.l_exitcode = out.value if isinstance(out, outcome.Value) and \
            isinstance(out.value, int) else 0
        self.trace_add(l, "exit")
        if l in self.alllwp:
            self.alllwp.remove(l)
            if not l.l_flag & LW_DAEMON:
                self.cpu.progress_gone += l.l_ncsw  # (VirtualCPU.progress)
        p = l.l_proc
        if l in p.p_lwps:
            p.p_lwps.remove(l)
        lwp_exit_finish(l)
        if l.l_joiners:
            sleepq_wake(l.l_joiners)

    # ------------------------------------------------------------ the faces

    def run(self, afn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None,
            proc: proc | None = None) -> Any:
        """Run ``afn(*args)`` as a new lwp and give back its result.

        The lwp belongs to ``proc`` (default: the init process, pid 1).  An
        exception raised by ``afn`` comes back to the caller; a kernel panic,
        deadlock or lock-order reversal ends the machine and is raised here.
        The sync face blocks; the async face returns an awaitable.
        """
        if self._face == "async":
            return self._arun(afn, args, name, proc)
        if self._face != "sync":
            raise MachineHalted("the machine is not booted: use 'with kern.boot() as k'")
        self._check_alive()
        req = _Request(afn, args, name, proc, sync=True)
        ev = req.tevent = threading.Event()
        # The wait begins (the turn socket is the wakeup fd) before the request
        # is posted: the machine's thread may take the GIL at the post and run
        # the lwp, and a computing lwp keep it, before this thread gets back
        # here; a host signal taken meanwhile went to the old wakeup fd, the
        # machine gave no turn, and its handler waited for the GIL (a SIGTERM
        # to kemu run: 18,119 rounds of the background job before the halt,
        # against 8).
        prev = self._wait_begin(ev)
        try:
            try:
                self._post(self._submit, req)
            except trio.RunFinishedError:
                self._check_alive()
                raise MachineHalted(f"{self!r} is not running") from None
            while not req.delivered:
                self._host_back()
                ev.wait(0.2)
                ev.clear()          # (a wake for the host's turn, or the delivery)
                if self._thread is not None and not self._thread.is_alive():
                    break
        except BaseException:
            self._abandon(req)
            raise
        finally:
            self._wait_end(ev, prev)
        return self._unwrap(req)

    # ------------------------------------------------------------ the host's turn
    #
    # On the sync face the host's threads and the machine's share one CPython
    # interpreter, and a host thread that has something to do while an lwp
    # computes (a background job that never sleeps) may wait for the GIL for
    # seconds: CPython lets a waiting thread ask for it only after a switch
    # interval (5 ms) in which the holder never released it, and the
    # machine's thread releases it for a few microseconds at every trio step
    # (epoll), every 2-3 ms while it computes, waking the waiter too late
    # every time.  A Python signal handler waits for the main thread to get
    # the GIL like anything else: a SIGTERM to kemu run went unhandled for
    # 0.3-15 s while the background job ran on.
    #
    # So the host gets its turn explicitly.  While a host thread waits on the
    # machine, the write end of the machine's turn socket is the process's
    # signal wakeup fd (signal.set_wakeup_fd, main thread): CPython's C-level
    # handler writes the signal's number there without the GIL, and the
    # machine's run sees it at its next trio step.  Then, and when a sync
    # request is delivered early while lwps can still run (the shell's
    # Ctrl-C, stop_waiting), the machine holds its CPU: its thread waits
    # (GIL released) until a host thread is back in a wait on it (a k.run,
    # the halt), or HOST_TURN_LIMIT seconds.  The host's waits are woken for
    # it, so that a main thread that already waits runs its handlers and
    # comes back.  No scheduling decision is made and no lwp sees it: a
    # seeded run is the same; only host time passes.

    def _wait_begin(self, ev: threading.Event) -> int:
        """A host thread begins to wait on the machine for ``ev``: it can be woken
        for its turn, and the host's signals reach the machine.  Returns the
        wakeup fd to put back (-2: none was set)."""
        self._host_waits.add(ev)
        w = self._turn_w
        if w is None or threading.current_thread() is not threading.main_thread():
            return -2
        try:
            prev = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):   # (closed by a halt from another thread)
            return -2
        if prev != w.fileno():
            self._wakeup_prev = prev    # the machine passes the numbers on to it
        return prev

    def _wait_end(self, ev: threading.Event, prev: int) -> None:
        """The wait for ``ev`` is over: put back the wakeup fd ``_wait_begin``
        replaced (-1 if its owner closed it meanwhile), then no longer count as a
        wait; the last wait to end on a machine whose thread has ended closes
        the turn sockets (a halt from another thread left them to it)."""
        if prev != -2:
            try:
                signal.set_wakeup_fd(prev)
            except (ValueError, OSError):   # its owner closed it meanwhile
                signal.set_wakeup_fd(-1)
        self._host_waits.discard(ev)
        t = self._thread
        if not self._host_waits and t is not None and not t.is_alive():
            self._close_turns()

    def _host_back(self) -> None:
        """A host thread is (back) in a wait on the machine: a hold for the host's
        turn ends."""
        self._host_gen += 1
        if self._holding:
            with self._turn_cv:
                self._turn_cv.notify_all()

    def _early_delivered(self, req: _Request) -> None:
        """In the machine: ``req`` went back to its host thread before the kernel
        was quiescent: the host gets its turn (at the next trio step)."""
        w = self._turn_w
        if req.tevent is not None and w is not None:
            try:
                w.send(bytes((_TURN_DELIVERED,)))
            except OSError:             # full: a turn is due already
                pass

    async def _host_turns(self, sock: socket.socket) -> None:
        """In the machine's run (sync face): read the turn socket, pass the signal
        numbers on to the wakeup fd that was there before, give the host its
        turn when one is due."""
        while True:
            await trio.lowlevel.wait_readable(sock)
            try:
                data = sock.recv(512)
            except (BlockingIOError, InterruptedError):
                continue
            if not data:
                return
            sigs = data.replace(bytes((_TURN_DELIVERED,)), b"")
            prev = self._wakeup_prev
            if sigs and prev >= 0:
                try:
                    os.write(prev, sigs)
                except OSError:
                    pass
            if len(sigs) < len(data) or not _TURN_SIGNALS.isdisjoint(sigs):
                self._give_host_turn()

    def _give_host_turn(self) -> None:
        """Hold the CPU (this thread waits, the GIL released) until a host thread
        is back in a wait on the machine, waking the ones that wait now; at
        most HOST_TURN_LIMIT seconds.  Nothing to hold when no lwp can run."""
        cpu = self.cpu
        if self._turns_off or cpu.stopping or (cpu.curlwp is None and not cpu.runq):
            return
        cv = self._turn_cv
        with cv:
            self._holding = True
            try:
                gen = self._host_gen
                for ev in list(self._host_waits):
                    ev.set()
                cv.wait_for(lambda: self._host_gen != gen or self._turns_off,
                            HOST_TURN_LIMIT)
            finally:
                self._holding = False

    def _close_turns(self) -> None:
        """The machine's thread has ended: close the turn sockets (once), unless a
        host thread still waits on the machine (its wakeup fd may be the write
        end until its _wait_end puts the old one back: a closed fd's number can
        be reused by any open, and a signal would then write into that file);
        that wait's _wait_end closes them."""
        if self._host_waits:
            return
        if self._turn_closer is not None:
            self._turn_closer()
        self._turn_r = self._turn_w = None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run the plain function ``fn(*args)`` in the machine's run, soon; callable
        from any thread (e.g. to post a signal from a host signal handler)."""
        if self._token is None:
            return
        try:
            self._post(self._call_in_kernel, fn, args)
        except trio.RunFinishedError:
            pass

    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        """From a host thread: queue ``fn(*args)`` for the machine's trio run, and
        poke the CPU so that it runs at the next preemption point even if an
        lwp computes on without parking (VirtualCPU.host_poke).  Raises
        trio.RunFinishedError when the run is over."""
        assert self._token is not None
        # The poke first: the run may take the call (and host_taken clear the
        # poke) before run_sync_soon returns here.
        self.cpu.host_poke()
        self._token.run_sync_soon(self._posted, fn, args)

    def _posted(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        # In the machine's run: the host's queue is being drained (this and
        # whatever was queued with it): the preemption points stop stepping.
        self.cpu.host_taken()
        fn(*args)

    def _call_in_kernel(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        _machine.set(self)
        fn(*args)

    async def _arun(self, afn: Callable[..., Awaitable[Any]], args: tuple[Any, ...],
                    name: str | None, p: proc | None, sync: bool = False) -> Any:
        self._check_alive()
        req = _Request(afn, args, name, p, sync=sync)
        req.aevent = trio.Event()
        self._submit(req)
        try:
            await req.aevent.wait()
        except BaseException:
            self._abandon(req)
            raise
        return self._unwrap(req)

    def stop_waiting(self, l: lwp) -> None:
        """In the machine: the caller of the sync request that lwp ``l`` runs stops
        waiting for quiescence (a Ctrl-C of kemu's shell, tools/shell.py): it
        gets its result as soon as ``l`` has ended (now, if it has), and the
        other lwps run on.  When that happens depends on the host, so a run
        that uses it replays only up to it."""
        for r in self._requests:
            if r.lwp is l and r.sync:
                r.early = True
                if r.done:
                    r.deliver()
                    self._early_delivered(r)

    def _abandon(self, req: _Request) -> None:
        """The caller of ``req`` stopped waiting (KeyboardInterrupt, cancellation)."""
        req.abandoned = True
        if self._token is not None and self._face == "sync":
            try:
                self._post(self.cpu.recheck)
            except trio.RunFinishedError:
                pass
        else:
            self.cpu.recheck()

    def _unwrap(self, req: _Request) -> Any:
        if req.outcome is None:
            self._check_alive()
            raise MachineHalted(f"{self!r} stopped before the request finished")
        if isinstance(req.outcome, outcome.Error) and req.outcome.error is self.failure:
            self._failure_raised = True
        return req.outcome.unwrap()

    def _check_alive(self) -> None:
        if self.failure is not None:
            self._failure_raised = True
            raise self.failure
        if self.state != "running":
            raise MachineHalted(f"{self!r} is not running")

    def _submit(self, req: _Request) -> None:
        """In the machine's run: make the lwp of a request and put it on the run queue.

        On the async face every request waits in an intake until the kernel
        is idle and every task of the caller's run is blocked; then the
        waiting ones start in the order of their names and simple arguments.
        When a caller's task runs (between two lwps' steps, or beside a busy
        kernel) is trio's to decide, so taking a request at once would let
        trio's order into the run.
        """
        if self.failure is not None:
            req.finish(outcome.Error(self.failure))
            req.deliver()
            return
        self._requests.append(req)
        if self._face == "async":
            self._intake.append(req)
            self.cpu.kick()
            return
        self._start_request(req)

    def _start_request(self, req: _Request) -> None:
        p = req.proc or self.initproc or self.proc0
        name = req.name or (getattr(req.afn, "__name__", "lwp"))
        l = lwp(p, name)
        req.lwp = l
        try:
            self.spawn_lwp(l, req.afn, req.args, req)
        except MachineHalted as e:
            req.finish(outcome.Error(e))
            req.deliver()

    def take_intake(self) -> None:
        """Start the requests of the intake (async face), in a reproducible order."""
        if self._intake:
            reqs = sorted(self._intake, key=_Request.sort_key)
            self._intake = []
            for req in reqs:
                if req.patience is not None:
                    # Taken: the halt waits no more for an idle kernel.  Left
                    # pending, the patience was a trio deadline of a task
                    # outside the machine, which the idle logic waits for
                    # before it declares a deadlock (and which stops its
                    # strikes): a halt whose lwps all sleep was declared
                    # deadlocked only HALT_START_PATIENCE seconds later.
                    req.patience.deadline = math.inf
                self._start_request(req)

    # sync face ---------------------------------------------------------

    def __enter__(self) -> Machine:
        self.start()
        return self

    def __exit__(self, et: Any, e: Any, tb: Any) -> None:
        # However the body ends (normally, an exception, KeyboardInterrupt),
        # the halt syncs and unmounts first; only a crash skips that.  A crash
        # not reported yet (one during the halt, say) is raised, the body's
        # exception, if any, as its context.
        self.halt()

    def start(self) -> Machine:
        """Boot the machine in a thread of its own (the sync face)."""
        if self.state != "new":
            raise RuntimeError(f"{self!r} was already started")
        self._face = "sync"
        self.state = "booting"
        self._turn_r, self._turn_w = socket.socketpair()
        self._turn_r.setblocking(False)
        self._turn_w.setblocking(False)   # (a signal wakeup fd must not block)
        # A machine that crashed or failed to boot and is never halted closes
        # them when it is collected (no host wait can be using them then).
        self._turn_closer = weakref.finalize(self, _close_sockets,
                                             self._turn_r, self._turn_w)
        self._thread = threading.Thread(target=self._thread_main, daemon=True,
                                        name=f"kemu-machine-{self.seed}")
        _sync_machines.add(self)
        self._thread.start()
        self._booted.wait()
        if self.failure is not None:
            self._failure_raised = True
            self._thread.join(10)
            if not self._thread.is_alive():
                self._close_turns()
            raise self.failure
        return self

    def _thread_main(self) -> None:
        # The host's signals go to the main thread: Python runs their handlers
        # there in any case, but only a signal the kernel delivers to the main
        # thread interrupts what it is blocked in (readline at kemu shell's
        # prompt, the wait for a k.run).  Delivered to this thread, a Ctrl-C at
        # the prompt stayed pending until the next keystroke.  Threads started
        # from here inherit the mask; so do processes (the puffs server unblocks
        # them again, tools/lib/libpuffs/remote.py).
        signal.pthread_sigmask(signal.SIG_BLOCK, HOST_SIGNALS)
        self._trio_run(self._trio_main)

    def _trio_run(self, main: Callable[[], Awaitable[None]]) -> None:
        """Run ``main`` under trio; what escapes it becomes the machine's failure
        (reported to the waiting caller), and the pending requests are finished."""
        try:
            trio.run(main, strict_exception_groups=True)
        except BaseException as e:  # noqa: BLE001 - report to the waiting caller
            if self.failure is None:
                p = KernelPanic(f"panic: the machine's run failed: {e!r}")
                p.__cause__ = e
                self.failure = p
        finally:
            self._finish_requests()

    def _finish_requests(self) -> None:
        if self.state != "failed":
            self.state = "halted" if self.failure is None else "failed"
        for r in self._requests:
            if not r.delivered:
                if r.outcome is None:
                    r.finish(outcome.Error(self.failure or MachineHalted("halted")))
                r.deliver()
        self._booted.set()

    async def _trio_main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        await self._kernel_main()

    def halt(self, sync: bool = True) -> None:
        """Shut the machine down: ``cpu_reboot`` (kern/machdep.py) in an lwp of proc0.

        Unless the machine crashed, every file system is synced and unmounted
        before any disk is closed; ``sync=False`` is RB_NOSYNC (no sync, no
        unmount: the disks are closed as they are).  A KeyboardInterrupt (or
        any exception a host signal handler raises) while the halt runs is
        held back until the machine has stopped, then raised.

        The halt is never silent about what it could not do: a crash not yet
        reported (one during the halt: a deadlock, a panic) is raised here,
        its report naming the host images that may be inconsistent; file
        systems it could not unmount, even by force, raise
        :class:`kern.ShutdownError` naming them and their images.  With
        ``sync=False`` each host image a file system mounted read-write is
        left on is named on the console and in a
        :class:`kern.DirtyHaltWarning` (it is left dirty, as asked).
        """
        if self._face == "async":
            raise RuntimeError("use 'await k.ahalt()' on the async face")
        if self._thread is None:
            self.state = "halted"
            return
        held: BaseException | None = None
        if self.state == "running" and self.failure is None:
            self._halting = True
            held = self._reboot_sync(_howto(sync))
            # From here the host only waits for the thread to end: no more turns.
            self._turns_off = True
            with self._turn_cv:
                self._turn_cv.notify_all()
            try:
                self._post(self._stop)
            except trio.RunFinishedError:
                pass
        while True:
            try:
                self._thread.join(30)
                break
            except BaseException as e:  # noqa: BLE001 - Ctrl-C: let the machine stop first
                held = held or e
        _sync_machines.discard(self)
        if self._thread.is_alive():
            raise RuntimeError(f"{self!r}: the machine's thread did not stop")
        self._close_turns()
        self._halt_outcome(held)

    def _halt_outcome(self, held: BaseException | None) -> None:
        """After a halt: raise what it met, once: an unreported crash, the file
        systems it could not unmount, or the interrupt held back while it ran."""
        from kern.exceptions import DirtyHaltWarning, ShutdownError
        from kern.machdep import halt_dirty_report, halt_report

        if self.failure is not None and not self._failure_raised:
            self._failure_raised = True
            raise self.failure
        dirty = halt_dirty_report(self)
        if dirty and not self._dirty_warned:   # sync=False: asked for, so a warning
            self._dirty_warned = True
            warnings.warn(DirtyHaltWarning(
                f"halt(sync=False): {len(dirty)} host image(s) left dirty:\n" +
                "\n".join("  " + line for line in dirty)), stacklevel=3)
        left = halt_report(self)
        if left and not self._halt_reported:
            self._halt_reported = True
            raise ShutdownError(f"halt: {len(left)} file system(s) still mounted:\n" +
                                "\n".join("  " + line for line in left))
        if held is not None:
            raise held

    def _reboot_sync(self, howto: int) -> BaseException | None:
        """Run cpu_reboot as ``k.run`` would (until the lwp is done and the
        machine quiescent: daemons see their file systems go and exit), without
        letting a KeyboardInterrupt cut it short; returns what interrupted the
        wait, if anything did."""
        req = self._reboot_request(howto)
        ev = req.tevent = threading.Event()
        prev = self._wait_begin(ev)     # (before the post: see run)
        try:
            try:
                self._post(self._submit, req)
            except trio.RunFinishedError:
                return None
            return self._reboot_wait(req, ev)
        finally:
            self._wait_end(ev, prev)

    def _reboot_request(self, howto: int) -> _Request:
        """The halt's request: ``cpu_reboot(howto)`` in an lwp of proc0 (kept for busy)."""
        from kern.machdep import cpu_reboot

        req = self._reboot_req = _Request(cpu_reboot, (howto,), "reboot", self.proc0, sync=True)
        return req

    def _reboot_wait(self, req: _Request, ev: threading.Event) -> BaseException | None:
        held: BaseException | None = None
        since = 0.0  # (_quiesce_clock)
        while True:
            try:
                self._host_back()
                ev.wait(0.2)
                ev.clear()          # (a wake for the host's turn, or the delivery)
                if req.delivered or self._thread is None or not self._thread.is_alive():
                    return held
                since = self._quiesce_clock(req, since)
                if since < 0:
                    return held
            except BaseException as e:  # noqa: BLE001 - Ctrl-C: finish the halt first
                held = held or e

    def _quiesce_clock(self, req: _Request, since: float) -> float:
        """The halt's request ``req`` is waited for, polled: the host time since
        cpu_reboot ended with the CPU never idle (``since``, 0.0 at first), or
        -1.0 once that has lasted HALT_QUIESCE_PATIENCE (stop the machine as it is).

        cpu_reboot has synced, unmounted and suspended the user processes; the
        wait for quiescence is for daemons to see their file systems go.  An
        lwp that computes on in the kernel (a loop that never sleeps, left by a
        caller that gave up on its k.run) would hold it for ever: once the CPU
        has not gone idle for HALT_QUIESCE_PATIENCE seconds, the machine stops
        as it is (NetBSD's CPU just halts)."""
        if not req.done:
            return since
        cpu = self.cpu
        if since == 0.0 or cpu.went_idle:
            cpu.went_idle = False
            return time.monotonic()
        if time.monotonic() - since > HALT_QUIESCE_PATIENCE:
            return -1.0
        return since

    # one run in the calling thread ---------------------------------------

    def run_once(self, afn: Callable[..., Awaitable[Any]], *args: Any, name: str | None = None,
                 proc: proc | None = None, sync: bool = True) -> Any:
        """Boot, run ``afn(*args)`` as one lwp, halt (``cpu_reboot``; ``sync=False``
        is RB_NOSYNC); all in the calling thread, with the sync face's semantics.

        Returns the lwp's result; raises its exception, or the KernelError
        that ended the machine (during the halt too), or ShutdownError (see
        :meth:`halt`).  What the explorers (kern/machine/explore.py) run, many
        times over.
        """
        if self.state != "new":
            raise RuntimeError(f"{self!r} was already started")
        self._face = "inline"
        self.state = "booting"
        box: list[_Request] = []
        interrupted: list[BaseException] = []

        async def main() -> None:
            # A Ctrl-C reaches this run as trio's KeyboardInterrupt, raised in
            # this task (trio's main task) at whatever it awaits then: the
            # boot, the lwp, the halt.  The kernel's nursery is shielded
            # (_kernel_main): the interrupt must not skip the halt and _stop,
            # or the outer nursery waits for the kernel for ever (a second
            # Ctrl-C cannot get into a nursery's wait for its children).  So,
            # as the sync face's halt does, it is held back: the machine halts
            # as a Ctrl-C halt does (cpu_reboot syncs and unmounts), stops,
            # and run_once raises it.  (The boot is waited for on an event,
            # not by outer.start: an interrupt out of start's wait would leave
            # its nursery waiting for the shielded kernel just the same.)
            self._token = trio.lowlevel.current_trio_token()
            unpoke = self._poke_on_sigint()
            try:
                await body()
            finally:
                unpoke()

        async def body() -> None:
            held: BaseException | None = None
            async with trio.open_nursery() as outer:
                booted = _Started()
                outer.start_soon(partial(self._kernel_main, task_status=booted),
                                 name="kern.machine.machine.Machine._kernel_main")
                try:
                    await booted.event.wait()
                    if self.failure is None:
                        req = _Request(afn, args, name, proc, sync=True)
                        req.aevent = trio.Event()
                        box.append(req)
                        self._submit(req)
                        await req.aevent.wait()
                except BaseException as e:  # noqa: BLE001 - Ctrl-C: halt first
                    held = e
                    self.cpu.host_taken()       # (the poke of _poke_on_sigint)
                    if box:
                        self._abandon(box[0])   # (as k.run's caller gives up)
                try:
                    if self.failure is None and not isinstance(held, trio.Cancelled):
                        self._halting = True
                        reboot = self._reboot_request(_howto(sync))
                        reboot.aevent = trio.Event()
                        self._submit(reboot)
                        since = 0.0
                        while not reboot.aevent.is_set():
                            try:
                                if held is None:
                                    await reboot.aevent.wait()
                                    continue
                                # Interrupted: as the sync face's halt, polled,
                                # so a kernel that never quiesces stops as it is.
                                with trio.move_on_after(0.2):
                                    await reboot.aevent.wait()
                                since = self._quiesce_clock(reboot, since)
                                if since < 0:
                                    break
                            except BaseException as e:  # noqa: BLE001 - Ctrl-C: finish the halt
                                held = held or e
                                if isinstance(e, trio.Cancelled):
                                    break
                finally:
                    self._stop()
            if held is not None:
                if isinstance(held, trio.Cancelled):
                    raise held
                interrupted.append(held)

        self._trio_run(main)
        held = interrupted[0] if interrupted else None
        if not box:
            if held is not None and self.failure is None:
                raise held
            self._failure_raised = True
            raise self.failure or MachineHalted(f"{self!r} did not boot")
        try:
            return self._unwrap(box[0])
        finally:
            # a crash during the halt is not silent either; then the interrupt
            self._halt_outcome(held)

    def _poke_on_sigint(self) -> Callable[[], None]:
        """In run_once's trio run: wrap the SIGINT handler (trio's, in the main
        thread) so that a Ctrl-C also pokes the CPU (VirtualCPU.host_poke).
        trio defers the interrupt while the machine's KI-protected CPU task
        runs and raises it in run_once's task at a trio step; an lwp that
        computes on without parking (a kernel loop) gives trio a step only at
        a preemption point the poke turns on.  No decision is made there: the
        schedule is the same.  Returns what puts the handler back."""
        if threading.current_thread() is not threading.main_thread():
            return _nothing
        prev = signal.getsignal(signal.SIGINT)
        if not callable(prev):
            return _nothing
        cpu = self.cpu

        def handler(signum: int, frame: Any) -> None:
            cpu.host_poke()
            prev(signum, frame)

        signal.signal(signal.SIGINT, handler)

        def unpoke() -> None:
            if signal.getsignal(signal.SIGINT) is handler:
                signal.signal(signal.SIGINT, prev)
        return unpoke

    # async face --------------------------------------------------------

    async def __aenter__(self) -> Machine:
        if self.state != "new":
            raise RuntimeError(f"{self!r} was already started")
        self._face = "async"
        self._ended = trio.Event()
        self.cpu.deferred = True
        self.state = "booting"
        self._outer = trio.open_nursery()
        outer = await self._outer.__aenter__()
        try:
            await outer.start(self._kernel_main_shielded)
        except BaseException:
            await self._outer.__aexit__(None, None, None)
            raise
        if self.failure is not None:
            await self._outer.__aexit__(None, None, None)
            self._failure_raised = True
            raise self.failure
        return self

    async def __aexit__(self, et: Any, e: Any, tb: Any) -> None:
        try:
            await self.ahalt()   # raises a crash not reported yet (see halt)
        finally:
            await self._outer.__aexit__(None, None, None)

    async def _kernel_main_shielded(self, *,
                                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The async face's kernel: its lwps are the caller's tasks, but the
        caller's cancellation only ends the caller's waits (the lwps run on,
        as on Ctrl-C); leaving ``async with`` halts the machine (ahalt), and
        that needs its lwps alive, whatever order trio cancels tasks in."""
        with trio.CancelScope(shield=True):
            await self._kernel_main(task_status=task_status)

    async def ahalt(self, sync: bool = True) -> None:
        """The async face's halt (see :meth:`halt`); it runs to its end even in a
        cancelled scope (shielded), and returns once the kernel's task has ended
        (``k.state`` is "halted" or "failed"), as :meth:`halt` joins the
        machine's thread.  (It returned with the state still "running": leaving
        ``async with`` after an ``await k.ahalt()`` then halted again, a reboot
        request in a stopped kernel's intake that waited out
        HALT_START_PATIENCE.)"""
        if self._in_kernel_nursery():
            # An lwp (or a task of the kernel's nursery) would wait for its own
            # end: the reboot needs it gone, and so does the kernel task's end.
            raise RuntimeError("k.ahalt() from inside the machine waits for itself: "
                               "halt from a host task")
        if self.state == "running" and self.failure is None and not self._halting:
            self._halting = True
            with trio.CancelScope(shield=True):
                try:
                    await self._areboot(_howto(sync))
                except KernelError:
                    self._failure_raised = False   # not yet: _halt_outcome raises it
                except MachineHalted:
                    pass
            self._stop()
        if self._ended is not None:
            # (every way here has stopped the kernel: this halt, an earlier
            # one, or a crash's _fail)
            with trio.CancelScope(shield=True):
                await self._ended.wait()
        self._halt_outcome(None)

    def _in_kernel_nursery(self) -> bool:
        """Whether the current trio task is one of the kernel's (an lwp's, or a
        task started in the kernel's nursery, at any depth)."""
        n = self._nursery
        if n is None:
            return False
        t: Any = trio.lowlevel.current_task()
        while t is not None:
            p = t.parent_nursery
            if p is None:
                return False
            if p is n:
                return True
            t = p.parent_task
        return False

    async def _areboot(self, howto: int) -> None:
        """The async face's reboot request.  Like any request it waits in the
        intake for an idle kernel (so that it starts at a reproducible point);
        but a user process that computes on (system calls, never a sleep)
        keeps the kernel from ever being idle, and the halt is what stops it
        (suspendsched).  So when the kernel has stayed busy for
        HALT_START_PATIENCE seconds of host time, the request starts at once,
        at whatever point the kernel is (such a run's halt does not replay).
        Taken from the intake, the request waits without a deadline (see
        take_intake)."""
        req = self._reboot_request(howto)
        req.aevent = trio.Event()
        with trio.move_on_after(HALT_START_PATIENCE) as patience:
            req.patience = patience
            self._submit(req)
            await req.aevent.wait()
        if req in self._intake:
            self._intake.remove(req)
            self._start_request(req)
        await req.aevent.wait()
        self._unwrap(req)

    # ------------------------------------------------------------ the kernel

    @trio.lowlevel.enable_ki_protection
    async def _kernel_main(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        _machine.set(self)
        self.cpu.start_clock()
        if self.race is not None:
            self.race.attach()
        try:
            # Shielded: on the async face the caller's cancel scopes do not reach
            # the lwps; only the machine's own halt (_stop) or crash (_fail)
            # cancels them.
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as n:
                    self._nursery = n
                    n.start_soon(self.cpu.cpu_task, name="kemu-cpu")
                    if self._turn_r is not None:
                        n.start_soon(self._host_turns, self._turn_r, name="kemu-host-turns")
                    boot = _Request(self._boot, (), "lwp0", self.proc0, sync=True)
                    boot.aevent = trio.Event()
                    self._requests.append(boot)
                    self.spawn_lwp(lwp(self.proc0, "lwp0", LW_SYSTEM), self._boot, (), boot)
                    await boot.aevent.wait()
                    if self.failure is None and boot.outcome is not None:
                        try:
                            boot.outcome.unwrap()
                        except BaseException as e:  # noqa: BLE001
                            p = KernelPanic(f"panic: boot failed: {e!r}")
                            p.__cause__ = e
                            self._fail(p)
                    if self.failure is None:
                        self.state = "running"
                    task_status.started()
                    self._booted.set()
        finally:
            if self.race is not None:
                self.race.detach()
            self.cpu.stop_clock()
            self._nursery = None
            if self.state != "failed":
                self.state = "halted"
            if self._ended is not None:
                self._ended.set()

    async def _boot(self) -> None:
        """lwp0: bring the kernel up as the configuration says, then start init."""
        import kern.native
        from kern.subr_prf import printf

        printf("kemu: NetBSD-style kernel emulation, seed %d, config %s\n", self.seed,
               self.config.name)
        # An install without the compiled native helper runs on its twin: say
        # so where NetBSD's kernel reports its choices, in the boot messages.
        why = kern.native.fallback_reason()
        if why:
            printf("native helper: running on the pure-Python twin (slower): %s\n", why)
        for hook in self.config.boot_hooks():
            r = hook(self)
            if hasattr(r, "__await__"):
                await r
        self.initproc = self.proc_create("init", self.proc0)
        for hook in self.config.post_boot_hooks():
            r = hook(self)
            if hasattr(r, "__await__"):
                await r

    def add_shutdown_hook(self, afn: Callable[[], Awaitable[None]]) -> None:
        """shutdownhook_establish: ``afn()`` runs when the machine halts, after
        its file systems are synced and unmounted (kern/machdep.py)."""
        self._shutdown_hooks.append(afn)

    def _stop(self) -> None:
        self.cpu.stop()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _fail(self, exc: KernelError) -> None:
        """End the run with ``exc``: snapshot, wake every waiting caller, cancel."""
        if self.failure is not None:
            return
        self.record_crash(exc)
        notes = self._crash_notes()
        if self._halting and notes:
            notes.insert(0, "the crash happened during the halt, before every file system "
                            "was synced and unmounted")
        if notes and self.crash is not None:
            self.crash.notes = notes
            exc.message += "".join("\n" + n for n in notes)
        self.failure = exc
        self.state = "failed"
        self.trace_add(None, "crash", exc.message.splitlines()[0])
        for r in self._requests:
            if not r.delivered:
                r.finish(outcome.Error(exc))
                r.deliver()
        self._stop()
        self._booted.set()

    def _crash_notes(self) -> list[str]:
        notes: list[str] = []
        for hook in self.crash_note_hooks:
            try:
                notes.extend(hook(self))
            except Exception:  # noqa: BLE001 - a best-effort post-mortem
                pass
        return notes

    def record_crash(self, exc: KernelError) -> None:
        if self.crash is None:
            self.crash = CrashDump(reason=exc.message, time=self.now(),
                                   lwps=[self._lwp_info(l, exc) for l in self.alllwp],
                                   msgbuf=self.dmesg(), trace_tail=self.trace.events[-50:],
                                   schedule=self.schedule)
        exc.crash = self.crash
        exc.seed = self.seed
        exc.schedule = self.crash.schedule
        exc.strategy = self.strategy.describe()

    # idle: quiescence and deadlock (called by the scheduler) ---------------

    def external_wait(self, wmesg: str = "extern", *, pending: bool = True) -> ExternalWait:
        """``async with m.external_wait(): await ...``: wait on the world outside.

        The calling lwp gives the CPU away for the wait and queues for it
        again afterwards, so the other lwps run meanwhile.  Every trio-level
        wait of an lwp (sockets, host threads and processes, a trio Lock or
        Event) must be inside one, or the machine stalls.  ``pending`` (the
        default): the machine counts on the wait ending, so a kernel whose
        lwps all sleep meanwhile is neither deadlocked nor quiescent (virtual
        time stands still).  ``pending=False`` is a listener that may wait
        forever (a server's socket between requests); the trace shows the
        wait as ``extern``/``intern`` on the lwp.
        """
        return ExternalWait(self.cpu, wmesg, pending)

    def awaiting_outside(self) -> _AwaitingOutside:
        """``with m.awaiting_outside():`` the kernel expects something from outside
        the machine (a reply of a server process) for as long as it is held:
        meanwhile a kernel whose lwps all sleep is neither deadlocked nor
        quiescent.  A plain counter: it never gives the CPU away."""
        return _AwaitingOutside(self.cpu)

    def hostchild_hold(self, p: proc) -> None:
        """Process ``p`` waits for a host process that it started and will reap
        (a remote puffs server, tools/lib/libpuffs/remote.py), until as many
        :meth:`hostchild_rele` calls: meanwhile it has PK_HOSTCHILD, and the
        halt's suspendsched leaves it running so that it sees its server go
        (kern/kern_synch.py).  Plain: it never gives the CPU away."""
        n = self._hostchildren.get(p, 0)
        self._hostchildren[p] = n + 1
        p.p_flag |= PK_HOSTCHILD

    def hostchild_rele(self, p: proc) -> None:
        """Undo one :meth:`hostchild_hold` of ``p`` (it reaped its host process).
        A release without a hold is a kernel bug, a count going below zero:
        a panic, as NetBSD's vrelel panics "bad ref count" on a release of
        a vnode with no reference (vfs/vnode.py)."""
        from kern.subr_prf import KASSERTMSG

        n = self._hostchildren.get(p, 0)
        KASSERTMSG(n > 0, "hostchild_rele: pid %d (%s) holds no host child",
                   p.p_pid, p.p_comm)
        if n > 1:
            self._hostchildren[p] = n - 1
        else:
            del self._hostchildren[p]
            p.p_flag &= ~PK_HOSTCHILD

    def busy(self) -> bool:
        """Is a request (k.run) outstanding?  One its caller abandoned is not; nor,
        once cpu_reboot is done, any: the halt has cut them short.  (A k.run
        whose lwp never returns to user mode, where suspendsched would stop it,
        and sleeps in short naps kept the halt waiting for ever: each nap's
        callout fired as work outstanding, so the CPU never reached quiescence
        and, going idle every tick, never ran out of HALT_QUIESCE_PATIENCE.
        Cut short, such a request is delivered at the next quiescence, without
        an outcome: its caller gets MachineHalted.)"""
        reboot = self._reboot_req
        if reboot is not None and reboot.done:
            return False
        return any(not r.done and not r.abandoned for r in self._requests)

    def quiescent(self) -> None:
        """Every lwp sleeps and no request is outstanding: hand back the results."""
        reqs = self._requests
        self._requests = []
        for r in reqs:
            r.deliver()

    def nondaemon_timed(self) -> bool:
        return any(l.l_stat == LSSLEEP and l.l_sleeptimo and not (l.l_flag & LW_DAEMON)
                   for l in self.alllwp)

    def deadlock(self, daemons_only: bool = False) -> None:
        lines = ["deadlock: every lwp sleeps and nothing can wake one"
                 + ("; only housekeeping timers were left" if daemons_only else ""),
                 f"  (seed {self.seed}, {self.strategy.describe()}, t={self.now():.6f}s)"]
        infos = [self._lwp_info(l) for l in self.alllwp]
        for i in infos:
            lines.append("  " + i.line())
        self._fail(Deadlock("\n".join(lines)))

    def _lwp_info(self, l: lwp, exc: BaseException | None = None) -> LwpInfo:
        coro = l.l_coro
        if coro is not None and coro.cr_running:
            # The running lwp: when the error that ends the run came out of it,
            # its frames are gone from the stack and live in the traceback (of
            # the error a panic names as its cause, for one escaping _lwp_main).
            stack = []
            e = exc
            while e is not None and not any(not _internal_frame(s) for s in stack):
                stack = _exc_stack(e) if e.__traceback__ else []
                e = e.__cause__
            if not any(not _internal_frame(s) for s in stack):
                stack = _current_stack()
        else:
            stack = _coro_stack(coro) if coro is not None else []
        where = "?"
        for s in reversed(stack):
            if not _internal_frame(s):
                where = s
                break
        return LwpInfo(l.l_name, l.l_proc.p_pid, l.l_lid, l.l_stat_name, l.l_wmesg,
                       _waiting_for(l), [lock_name(r[0]) for r in l.l_locks], where, stack)


class ExternalWait:
    """``async with m.external_wait():`` (see :meth:`Machine.external_wait`)."""

    __slots__ = ("cpu", "wmesg", "pending", "l", "left")

    def __init__(self, cpu: VirtualCPU, wmesg: str, pending: bool) -> None:
        self.cpu = cpu
        self.wmesg = wmesg
        self.pending = pending
        self.l: lwp | None = None
        self.left = False

    async def __aenter__(self) -> None:
        self.l = _lwp.get()
        if self.l is not None and not self.l.l_extdepth:
            from kern.kern_exit import lwp_leaves_machine

            lwp_leaves_machine(self.l)  # an exit_lwps stops waiting for it
        self.left = self.cpu.ext_enter(self.l, self.pending, self.wmesg)
        if self.left:
            await self.cpu.migrate()  # the body runs in a carrier task

    async def __aexit__(self, *exc: Any) -> bool:
        l = self.l
        if self.cpu.ext_exit(l, self.pending):
            assert l is not None
            await self.cpu.park(l)  # back to the CPU task, for the CPU
        return False


class _AwaitingOutside:
    __slots__ = ("cpu",)

    def __init__(self, cpu: VirtualCPU) -> None:
        self.cpu = cpu

    def __enter__(self) -> None:
        self.cpu.ext_pending += 1

    def __exit__(self, *a: Any) -> None:
        self.cpu.ext_exit(None, True)


def _lock_wait(l: lwp) -> str | None:
    """``mutex "NAME" held by "LWP"`` (or an rwlock's) when ``l`` waits for a lock."""
    w = l.l_wchan
    if l.l_syncobj == "mutex":
        owner = w.mtx_owner.l_name if w is not None and w.mtx_owner else "nobody"
        name = w.lock_class.name if w is not None and w.lock_class else "?"
        return f'mutex "{name}" held by "{owner}"'
    if l.l_syncobj == "rwlock":
        name = w.lock_class.name if w is not None and w.lock_class else "?"
        holders = ([w.rw_owner.l_name] if w.rw_owner else [r.l_name for r in w.rw_readers])
        return f'rwlock "{name}" held by {", ".join(holders) or "nobody"}'
    return None


def _waiting_for(l: lwp) -> str:
    if l.l_stat != LSSLEEP:
        return {LSRUN: "runnable", LSONPROC: "running"}.get(l.l_stat, l.l_stat_name.lower())
    timed = " (with a timeout)" if l.l_sleeptimo else ""
    if l.l_syncobj == "extern":
        return f'waiting outside the machine ("{l.l_wmesg}")'
    lock = _lock_wait(l)
    if lock is not None:
        return f"waiting for {lock}"
    return f'sleeping on "{l.l_wmesg}"{timed}'


# as the stacks print it (short_path: relative when trio sits under the tree, e.g. ./.venv)
_TRIO_DIR = short_path(os.path.dirname(trio.__file__))
_OUTCOME_DIR = short_path(os.path.dirname(outcome.__file__))  # trio throws with it


def _internal_frame(s: str) -> bool:
    if s.startswith((_TRIO_DIR, _OUTCOME_DIR, "<frozen")):
        return True
    return s.startswith(_INTERNAL_FILES) or \
        s.startswith("kern/subr_prf.py:")


def _current_stack() -> list[str]:
    import traceback

    return [f"{short_path(fs.filename)}:{fs.lineno} in {fs.name}"
            for fs in traceback.extract_stack()[:-3]]


def _exc_stack(exc: BaseException) -> list[str]:
    import traceback

    return [f"{short_path(fs.filename)}:{fs.lineno} in {fs.name}"
            for fs in traceback.extract_tb(exc.__traceback__)]


def _coro_stack(coro: Any) -> list[str]:
    """Where a suspended lwp coroutine waits: its await chain, outermost first."""
    out = []
    try:
        while coro is not None:
            if hasattr(coro, "cr_frame"):
                frame, coro = coro.cr_frame, coro.cr_await
            else:  # a generator-based awaitable (types.coroutine)
                frame, coro = coro.gi_frame, coro.gi_yieldfrom
            if frame is None:
                break
            out.append(f"{short_path(frame.f_code.co_filename)}:{frame.f_lineno} in "
                       f"{frame.f_code.co_name}")
    except Exception:  # noqa: BLE001 - a best-effort post-mortem
        pass
    return out


# ------------------------------------------------------------------ config

def _resolve_config(config: Any) -> Any:
    from kern.kernconf import KernelConfig

    if config is None:
        config = "GENERIC"
    if isinstance(config, str):
        mod = importlib.import_module(f"kern.conf.{config}")
        config = mod.config
    if not isinstance(config, KernelConfig):
        raise TypeError(f"not a kernel configuration: {config!r}")
    return config


def schedule_arg(schedule: str) -> str:
    """``schedule`` as a command-line argument: itself, or ``@file`` when long
    (written to a new file in the temporary directory)."""
    if len(schedule) <= SCHEDULE_INLINE_MAX:
        return schedule
    import tempfile

    fd, path = tempfile.mkstemp(prefix="kemu-schedule-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(schedule + "\n")
    return "@" + path


def _howto(sync: bool) -> int:
    from kern.machdep import RB_HALT, RB_NOSYNC

    return RB_HALT | (0 if sync else RB_NOSYNC)


# Sync-face machines booted and not yet halted.  A machine's thread keeps it
# alive, so one is never garbage-collected while it runs; at interpreter exit
# the ones left running are halted (synced and unmounted) before the daemon
# threads die.
_sync_machines: weakref.WeakSet[Machine] = weakref.WeakSet()


def _nothing() -> None:
    pass


class _Started:
    """run_once's ``task_status`` for the kernel: the boot is over (see run_once)."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = trio.Event()

    def started(self, value: Any = None) -> None:
        self.event.set()


def _close_sockets(*socks: socket.socket) -> None:
    for sock in socks:
        sock.close()


def _halt_at_exit() -> None:
    for m in list(_sync_machines):
        if m.state == "running":
            try:
                m.halt()
            except BaseException as e:  # noqa: BLE001 - the interpreter is exiting
                sys.stderr.write(f"kemu: halting {m!r} at exit: {e}\n")


atexit.register(_halt_at_exit)


def boot(seed: int | None = None, **kw: Any) -> Machine:
    """A new machine: use it as ``with kern.boot(seed=7) as k`` or ``async with``.

    Keywords: ``strategy`` (a name from kern/machine/strategies.py --
    "random", the default, or "pct" -- or a Strategy object), the
    strategy's own options (``depth=``, ``steps=`` for pct), ``replay`` (a
    schedule string: rerun exactly that run), ``clock`` ("virtual" or
    "real"), ``lockdebug`` (lock-order checking, default on; "strict": a
    reversal declared kept ends the run too), ``trace``,
    ``config`` (a kern/conf/ name such as "GENERIC" or a KernelConfig),
    ``verbose`` (echo kernel messages, on ``console``, a text stream,
    default sys.stdout), ``debug`` (aprint_debug output), ``boottime``
    (epoch seconds at boot), ``deadlock_patience``, ``faults`` (a
    kern.subr_fault.FaultPlan or its text form, armed from the start), ``race``
    (the lockset race detector, kern.machine.lockset; default off, or on under
    ``pytest --kemu-race``), the kernel tunables of ``TUNABLES`` (``module_autotime=0``; or
    ``tunables={...}``).  Any other keyword is an error.
    """
    return Machine(seed, **kw)
