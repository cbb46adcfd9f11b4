"""Running a scenario under a strategy, once or many times.

A *scenario* is an ``async def`` run as one lwp of a fresh machine (it may
start kernel threads, processes, mount file systems...): the same function
a test would give ``k.run``.  The pieces campaigns are built from:

* :func:`run_scenario` boots a machine in the calling thread, runs the
  scenario once under a strategy (or a schedule string), halts, and returns
  a :class:`RunResult`: the :class:`Outcome` (error class, first line,
  site), the schedule string, the decisions and the trace (text and
  structured events).
* :func:`explore` runs it ``runs`` times under a randomized strategy (seeds
  ``seed``, ``seed + 1``...) and groups the failures; for ``pct`` it learns
  the number of steps from the runs so far.
* :class:`DfsExplorer` enumerates every schedule within a preemption bound
  (CHESS-style iterative search: replay a prefix, take choice 0 after it,
  then backtrack to the deepest decision with an untried choice that keeps
  within the bound) and says when it has covered them all.

Shrinking a failing schedule is in kern/machine/shrink.py, the
determinism check in kern/machine/determinism.py.
"""

from __future__ import annotations

import itertools
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kern.exceptions import Deadlock, KernelError
from kern.machine.collect import MachineRuns
from kern.machine.machine import Machine
from kern.machine.schedule import CHANCE, PREEMPT, Decisions, encode, trim
from kern.machine.strategies import DfsStrategy, Strategy
from kern.machine.trace import Trace
from kern.subr_lockdebug import short_path

Scenario = Callable[..., Awaitable[Any]]

# Frames that are the harness, not the code under test (an outcome's site is
# the innermost frame outside them).
_HARNESS = ("kern/machine/", "kern/subr_prf.py", "kern/kern_synch.py", "kern/syscall.py",
            "<frozen", "outcome/", "trio/")


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``error`` is None when it passed."""

    error: str | None = None
    message: str = ""
    site: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None

    def same_failure(self, other: Outcome) -> bool:
        """Same error class and same first line (what shrinking preserves)."""
        return self.error == other.error and self.message == other.message

    def __str__(self) -> str:
        if self.error is None:
            return "passed"
        at = f" at {self.site}" if self.site else ""
        return f"{self.error}: {self.message}{at}"

    @classmethod
    def of(cls, exc: BaseException | None) -> Outcome:
        if exc is None:
            return cls()
        msg = exc.message if isinstance(exc, KernelError) else str(exc)
        return cls(type(exc).__name__, (msg.splitlines() or [""])[0], _site(exc))


def _site(exc: BaseException) -> str:
    if isinstance(exc, Deadlock) and exc.crash is not None:
        # where the lwps of the cycle wait for their locks (else every lwp's place)
        lwps = [i for i in exc.crash.lwps if i.waiting_for.startswith("waiting for ")] or \
            exc.crash.lwps
        return "; ".join(sorted({i.where for i in lwps}))
    e: BaseException | None = exc
    while e is not None:
        for fs in reversed(traceback.extract_tb(e.__traceback__)):
            path = short_path(fs.filename)
            if not path.startswith(_HARNESS) and "/trio/" not in path and \
                    "/outcome/" not in path:
                return f"{path}:{fs.lineno} in {fs.name}"
        e = e.__cause__
    return ""


@dataclass
class RunResult:
    """One run of a scenario."""

    outcome: Outcome
    schedule: str
    decisions: Decisions
    trace: Trace
    strategy: str
    seed: int
    value: Any = None
    exception: BaseException | None = None
    machine: Machine | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return self.outcome.failed

    @property
    def choices(self) -> list[int]:
        return trim(self.decisions.choices)

    @property
    def preemptions(self) -> int:
        return self.decisions.preemptions()

    @property
    def faults(self) -> int:
        return self.decisions.faults()

    def __str__(self) -> str:
        return (f"{self.outcome} [{self.strategy}, {len(self.decisions)} decisions, "
                f"{self.preemptions} preemptions, {self.faults} faults; schedule "
                f"{self.schedule}]")


def run_scenario(scenario: Scenario, *args: Any, strategy: str | Strategy | None = None,
                 seed: int = 0, replay: str | None = None, boot: dict[str, Any] | None = None,
                 name: str | None = None, keep_machine: bool = False,
                 **strategy_options: Any) -> RunResult:
    """Boot a machine, run ``scenario(*args)`` as one lwp under a strategy, halt.

    ``strategy``/``strategy_options``/``seed``/``replay`` are as for
    ``kern.boot``; ``boot`` holds the other boot keywords (``config``,
    ``lockdebug``...).  The run fails when the scenario raises or the
    kernel ends with a KernelError; either way the result says how and
    carries the schedule string that replays it.
    """
    m = Machine(seed, strategy=strategy, replay=replay, observe=False,
                **(boot or {}), **strategy_options)
    value = None
    exc: BaseException | None = None
    try:
        value = m.run_once(scenario, *args, name=name)
    except Exception as e:  # noqa: BLE001 - the outcome of the run
        exc = e
    # The machine is over: its trace need not renumber the lwps' events any
    # more (Trace.flush keeps its table instead; what it reads is the same),
    # and the bound method would keep the whole halted machine for as long
    # as the result is kept (a DfsExplorer's caller).  A failed run's result
    # still does, through its exception's traceback (the frames of the
    # machine's lwps): explore keeps one per distinct failure.
    m.trace.renumbered = None
    return RunResult(Outcome.of(exc), m.schedule, m.decisions, m.trace, m.strategy.describe(),
                     m.seed, value, exc, m if keep_machine else None)


@dataclass
class Exploration:
    """What :func:`explore` found."""

    runs: int = 0
    failing_runs: int = 0
    first_failure: int | None = None  # the index of the first failing run
    # one result per distinct failure (error class and first line), the first seen
    failures: dict[tuple[str | None, str], RunResult] = field(default_factory=dict)
    max_decisions: int = 0

    def __str__(self) -> str:
        lines = [f"{self.runs} runs, {self.failing_runs} failed, "
                 f"{len(self.failures)} distinct failures"]
        for (err, msg), r in self.failures.items():
            lines.append(f"  {err}: {msg} (at {r.outcome.site or '?'}) schedule {r.schedule}")
        return "\n".join(lines)


def explore(scenario: Scenario, *args: Any, strategy: str = "random", runs: int = 100,
            seed: int = 0, stop_at_first: bool = False, boot: dict[str, Any] | None = None,
            name: str | None = None, **strategy_options: Any) -> Exploration:
    """Run ``scenario`` ``runs`` times with seeds ``seed``, ``seed + 1``...

    For ``pct`` without ``steps``, each run's ``steps`` is the largest
    number of decisions seen in the runs before it (1000 for the first),
    as Coyote's PCT learns it.
    """
    result = Exploration()
    learn = strategy == "pct" and "steps" not in strategy_options
    # Each run's halted machine is collected once the run is done with
    # (kern/machine/collect.py), the young threshold raised meanwhile.
    with MachineRuns() as collector:
        for i in range(runs):
            opts = dict(strategy_options)
            if learn:
                opts["steps"] = result.max_decisions or 1000
            r = run_scenario(scenario, *args, strategy=strategy, seed=seed + i, boot=boot,
                             name=name, **opts)
            result.runs += 1
            result.max_decisions = max(result.max_decisions, len(r.decisions))
            if r.failed:
                result.failing_runs += 1
                if result.first_failure is None:
                    result.first_failure = i
                result.failures.setdefault((r.outcome.error, r.outcome.message), r)
                if stop_at_first:
                    break
            del r
            collector.let_go()
    return result


class NondeterminismError(RuntimeError):
    """A replayed prefix did not meet the same decisions as the run it came from."""


class DfsExplorer:
    """Bounded exhaustive exploration of a scenario's schedules (CHESS, loom).

    Iterating gives one :class:`RunResult` per schedule; ``complete`` is
    True once every schedule with at most ``preemption_bound`` preemptions
    (None: no bound) was run.  A preemption is a switch away from an lwp
    that could have gone on; switches where the running lwp blocks, exits
    or yields are free, and so are fault draws (each is a branch).
    Decisions after the first ``max_decisions`` of a run are not branched
    on (a depth bound: a run that long stops being explored, ``truncated``
    says whether that happened).
    """

    def __init__(self, scenario: Scenario, *args: Any, preemption_bound: int | None = 2,
                 max_decisions: int = 10_000, boot: dict[str, Any] | None = None,
                 name: str | None = None, root: list[int] | None = None,
                 start: list[int] | None = None) -> None:
        self.scenario = scenario
        self.args = args
        self.bound = preemption_bound
        self.max_decisions = max_decisions
        self.boot = boot
        self.name = name
        self.runs = 0
        self.complete = False
        self.truncated = False
        # ``root``: explore only the schedules that begin with these choices (a
        # subtree: campaigns share a search out this way); ``start``: resume
        # there (a prefix a run of the same search gave as its next).
        self.root = list(root or [])
        self._prefix: list[int] | None = list(start) if start is not None else list(self.root)

    @property
    def next_prefix(self) -> list[int] | None:
        """The prefix the next run replays (None: the search is over)."""
        return self._prefix

    def __iter__(self) -> Iterator[RunResult]:
        while self._prefix is not None:
            prefix = self._prefix
            # (kern/machine/collect.py: each run in its own bracket, so that the
            # young threshold is back while the caller holds the search suspended)
            with MachineRuns():
                r = run_scenario(self.scenario, *self.args, strategy=DfsStrategy(prefix),
                                 boot=self.boot, name=self.name)
            self.runs += 1
            check_prefix(prefix, r.decisions)
            self._prefix, trunc = dfs_next(r.decisions, self.bound, self.max_decisions,
                                           len(self.root))
            self.truncated |= trunc
            yield r
        self.complete = True

    def run(self, max_runs: int | None = None, stop_at_first: bool = False) -> list[RunResult]:
        """Explore (at most ``max_runs`` runs); the failing runs."""
        failures = []
        for r in itertools.islice(self, max_runs):
            if r.failed:
                failures.append(r)
                if stop_at_first:
                    break
        return failures



def check_prefix(prefix: list[int], d: Decisions) -> None:
    """Raise NondeterminismError unless the run's decisions begin with ``prefix``."""
    for i, c in enumerate(prefix):
        if i >= len(d) or d.choices[i] != c:
            raise NondeterminismError(
                f"dfs: replaying {encode(prefix)} met different decisions at #{i} "
                "(something outside the decision stream changed the run)")


def _preemptions_before(d: Decisions, n: int) -> list[int]:
    """before[i]: the preemptions among the first i decisions."""
    before = [0] * (n + 1)
    for i in range(n):
        before[i + 1] = before[i] + (1 if d.kinds[i] == PREEMPT and d.choices[i] else 0)
    return before


def _allowed(d: Decisions, i: int, c: int, before: list[int], bound: int | None) -> bool:
    """May decision ``i`` take choice ``c`` within the preemption bound?"""
    if bound is None or d.kinds[i] == CHANCE:
        return True  # fault draws are branches, never preemptions
    return before[i] + (1 if d.kinds[i] == PREEMPT and c else 0) <= bound


def dfs_next(d: Decisions, bound: int | None, max_decisions: int = 10_000,
             floor: int = 0) -> tuple[list[int] | None, bool]:
    """The prefix after the run ``d`` in a bounded depth-first search, and whether
    ``d`` was cut at ``max_decisions``: backtrack to the deepest decision (at
    index ``floor`` or deeper) with an untried choice within the bound."""
    n = len(d)
    truncated = n > max_decisions
    n = min(n, max_decisions)
    before = _preemptions_before(d, n)
    for i in range(n - 1, floor - 1, -1):
        c = d.choices[i] + 1
        if c < d.widths[i] and _allowed(d, i, c, before, bound):
            return d.choices[:i] + [c], truncated
    return None, truncated


def dfs_children(d: Decisions, prefix: list[int], bound: int | None) -> list[list[int]]:
    """The subtrees below ``prefix`` one decision deeper (``d``: a run of
    ``prefix``): one per choice of decision ``len(prefix)`` within the bound;
    none when the run had no decision there (``prefix`` is a whole schedule)."""
    i = len(prefix)
    if i >= len(d):
        return []
    before = _preemptions_before(d, i + 1)
    return [prefix + [c] for c in range(d.widths[i]) if _allowed(d, i, c, before, bound)]


__all__ = ["DfsExplorer", "Exploration", "NondeterminismError", "Outcome", "RunResult",
           "Scenario", "check_prefix", "dfs_children", "dfs_next", "explore", "run_scenario"]
