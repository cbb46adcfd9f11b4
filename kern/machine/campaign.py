"""Campaigns: a scenario or a test run many times, on every local core or a Dask cluster.

``kemu explore TARGET`` (tools/kemu.py) and :class:`Campaign` run a *target*
-- a scenario ``package.module:function`` (an ``async def`` run as one lwp of
a fresh machine, as :func:`kern.machine.explore.run_scenario` runs it) or a
pytest node id (``tests/dev/fss/test_faults.py::test_x[3]``, one test) --
again and again under a strategy:

* ``random`` and ``pct`` (with its options; without ``steps``, one
  calibration run measures how many decisions a run makes): seeds
  ``seed, seed + 1, ...``, as many as ``runs`` or as fit in ``time_budget``;
* ``dfs`` with a preemption bound: the bounded exhaustive search of
  :class:`kern.machine.explore.DfsExplorer`, shared out as subtrees (the
  first decisions are expanded until there are a few subtrees per worker;
  each subtree is searched in chunks, a chunk handing on the prefix where
  the next one resumes); it says whether it covered every schedule.

The failing runs are grouped by error class and site (the innermost frame
of the code under test; for a deadlock, where its lwps wait for their
locks).  For each distinct failure the first one found is shrunk
(:func:`kern.machine.shrink.shrink_schedule`) and reported with its
schedule string and the command that replays it.

**Where the runs go.**  The work is cut into tasks (a batch of seeds, a chunk
of a dfs subtree, a shrink) and submitted to a Dask ``distributed`` cluster:
a ``LocalCluster`` with one single-threaded worker process per core by
default, or the cluster whose scheduler address is given
(``scheduler="tcp://host:8786"``); the client code is the same.  With
``workers=1`` and no scheduler the tasks run in the calling process instead
(no Dask needed).  Left to its default (no ``workers``), a campaign runs its
tasks in the calling process until they have taken LAZY_CLUSTER_AFTER
seconds and starts its local cluster only then: a small campaign is over
before a cluster would have started.  Workers need kemu importable and the target's files under
``rootdir`` (the same checkout path on every machine).

**Tests.**  A pytest target is collected once per task in the worker
(``pytest.main`` in the worker process, with a plugin that runs the item
once per run): the test function runs many times in one process.  For each
run, every machine the test boots takes the campaign's strategy and seed
(``kern.machine.machine.strategy_override``), whatever seed or strategy the
test gives ``kern.boot``; the i-th machine of a run gets seed
``seed + i * 1000003``.  A failing run is replayed with
``pytest NODE --kemu-replay=S1[,S2...]``.  dfs explores the decisions of the
first machine a test boots (the others run their zero schedule).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import inspect
import io
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from kern.machine.collect import MachineRuns
from kern.machine.explore import (
    NondeterminismError,
    Outcome,
    check_prefix,
    dfs_children,
    dfs_next,
    run_scenario,
)
from kern.machine.schedule import Decisions, decode, trim
from kern.machine.strategies import (
    DfsStrategy,
    PrefixStrategy,
    ReplayStrategy,
    Strategy,
    make_strategy,
    parse_strategy_spec,
)

# the seed of the i-th machine a test boots in a run is seed + i * MACHINE_SEED_STRIDE
MACHINE_SEED_STRIDE = 1_000_003
STRATEGIES = ("random", "pct", "dfs")
# pct without steps: the most decisions of this many random runs (not counted as runs)
CALIBRATION_RUNS = 8


class CampaignError(Exception):
    """The campaign cannot run as asked (the target, the strategy, the cluster)."""


# ================================================================== targets

@dataclass(frozen=True)
class Target:
    """What a campaign runs: a scenario (``kind`` "scenario") or a test ("pytest")."""

    spec: str
    kind: str
    rootdir: str
    boot: tuple[tuple[str, Any], ...] = ()  # scenario runs: kern.boot keywords

    @classmethod
    def parse(cls, spec: str, rootdir: str | None = None,
              boot: dict[str, Any] | None = None) -> Target:
        """``module:function`` or a pytest node id (``path.py::name``); checked here."""
        rootdir = os.path.abspath(rootdir or os.getcwd())
        boot_t = tuple(sorted((boot or {}).items()))
        path = spec.split("::", 1)[0]
        if "::" in spec or path.endswith(".py"):
            if not os.path.isfile(os.path.join(rootdir, path)):
                raise CampaignError(f"{spec}: no test file {path} under {rootdir}")
            if boot_t:
                raise CampaignError(f"{spec}: a test boots its own machines (boot options "
                                    f"{', '.join(k for k, _ in boot_t)} apply to scenarios)")
            return cls(spec, "pytest", rootdir)
        mod, colon, fn = spec.partition(":")
        if not colon or not mod or not fn:
            raise CampaignError(f"{spec}: a target is a scenario module:function "
                                "(e.g. tests.dev.fss.scenarios:sweep) or a pytest node id "
                                "(e.g. tests/dev/fss/test_faults.py::test_x)")
        target = cls(spec, "scenario", rootdir, boot_t)
        target.scenario()  # import it now: errors belong to the command line
        return target

    def scenario(self) -> Callable[..., Any]:
        mod, _, fn = self.spec.partition(":")
        _on_path(self.rootdir)
        try:
            m = importlib.import_module(mod)
        except ImportError as e:
            raise CampaignError(f"{self.spec}: cannot import {mod}: {e}") from None
        f = getattr(m, fn, None)
        if f is None:
            raise CampaignError(f"{self.spec}: {mod} has no {fn}")
        if not inspect.iscoroutinefunction(f):
            raise CampaignError(f"{self.spec}: a scenario is an async def (run as an lwp)")
        return f

    def replay_command(self, schedule: str) -> str:
        """The command line that replays ``schedule`` (comma-joined for several machines)."""
        import shlex

        cd = "" if os.path.abspath(os.getcwd()) == self.rootdir else \
            f"cd {shlex.quote(self.rootdir)} && "
        if self.kind == "pytest":
            return f"{cd}pytest {shlex.quote(self.spec)} --kemu-replay={schedule}"
        names = {True: "on", False: "off"}
        opts = "".join(f" --{k}={names.get(v, v) if k == 'lockdebug' else v}"
                       for k, v in self.boot if k in ("config", "lockdebug"))
        return f"{cd}kemu explore {self.spec}{opts} --replay={schedule}"


def _on_path(rootdir: str) -> None:
    if rootdir not in sys.path:
        sys.path.insert(0, rootdir)


# ================================================================== one run

@dataclass
class RunRecord:
    """One run of a campaign, small enough to travel between processes."""

    outcome: Outcome
    seed: int
    strategy: str  # the first machine's strategy, described
    schedule: str  # the schedule string (several machines: joined by ",")
    machines: int = 1
    decisions: int = 0  # of the first machine
    preemptions: int = 0
    faults: int = 0
    choices: list[int] = field(default_factory=list)  # of the first machine, trimmed

    @property
    def failed(self) -> bool:
        return self.outcome.failed

    @property
    def key(self) -> tuple[str | None, str]:
        """What groups failures: the error class and the site."""
        return self.outcome.error, self.outcome.site


def _record(outcome: Outcome, seed: int, machines: list[Any]) -> tuple[RunRecord, Decisions]:
    d = machines[0].decisions if machines else Decisions()
    rec = RunRecord(outcome, seed, machines[0].strategy.describe() if machines else "-",
                    ",".join(m.schedule for m in machines), len(machines), len(d),
                    d.preemptions(), d.faults(), trim(d.choices))
    return rec, d


# A job says how the machines of one run are scheduled: the strategy of the
# i-th machine booted.  A runner runs jobs one after the other, asking ``step``
# for the next one with the record of the last (the first call gets None).
Job = tuple[int, Callable[[int], Strategy]]  # (seed to report, strategy of machine i)
Step = Callable[[RunRecord | None, Decisions | None], Job | None]


class ScenarioRunner:
    """Runs a scenario target in this process."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.fn = target.scenario()
        self.boot = dict(target.boot)

    def drive(self, step: Step, trace_path: str | None = None) -> None:
        job = step(None, None)
        with MachineRuns() as collector:   # (kern/machine/collect.py)
            while job is not None:
                seed, strat = job
                boot = {"trace": trace_path is not None, **self.boot}  # (a trace costs)
                r = run_scenario(self.fn, strategy=strat(0), boot=boot, keep_machine=True)
                assert r.machine is not None
                if _interrupted(r.exception):
                    raise KeyboardInterrupt  # (Ctrl-C in this process: the campaign's end)
                if trace_path:
                    r.trace.write_chrome(trace_path)
                rec, d = _record(r.outcome, seed, [r.machine])
                del r
                collector.let_go()
                job = step(rec, d)


def _interrupted(exc: BaseException | None) -> bool:
    """Whether a run ended by a KeyboardInterrupt: a Ctrl-C while a machine
    runs in this process (a campaign's runs in the caller) ends its trio run,
    and the machine reports that as its failure (a KernelPanic caused by the
    KeyboardInterrupt), which is not a finding of the campaign."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


class PytestRunner:
    """Runs one test many times in this process: one ``pytest.main`` per
    :meth:`drive`, whose run loop calls the test (setup, call, teardown) once
    per job."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def drive(self, step: Step, trace_path: str | None = None) -> None:
        import pytest

        plugin = _RepeatPlugin(step, trace_path)
        args = [os.path.join(self.target.rootdir, self.target.spec), "-q", "-s", "--no-header",
                "-p", "no:cacheprovider", "-p", "no:xdist", f"--rootdir={self.target.rootdir}",
                "-o", "timeout_method=thread"]
        cwd = os.getcwd()
        _on_path(self.target.rootdir)
        sink = io.StringIO()
        try:
            os.chdir(self.target.rootdir)
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                code = pytest.main(args, plugins=[plugin])
        finally:
            os.chdir(cwd)
        if plugin.error is not None:
            raise CampaignError(plugin.error)
        if not plugin.ran:
            out = sink.getvalue().strip().splitlines()
            raise CampaignError(f"{self.target.spec}: pytest ran nothing (exit {code}): "
                                + " | ".join(out[-5:]))


class _RepeatPlugin:
    """The pytest plugin of :class:`PytestRunner`."""

    def __init__(self, step: Step, trace_path: str | None) -> None:
        self.step = step
        self.trace_path = trace_path
        self.error: str | None = None
        self.ran = False
        self.exc: BaseException | None = None
        self.failed_text: str | None = None
        self.skipped: str | None = None

    def pytest_configure(self, config: Any) -> None:
        # pytest (8.4 on) ends every session with a full gc.collect() of the
        # process, to report unraisable exceptions: here the process is the
        # caller's (a worker, or the test that runs the campaign), and its whole
        # heap is walked once per task.  pytest's own inline runs (pytester)
        # turn that collection off the same way; the runs' outcomes come from
        # runtestprotocol and do not depend on it.
        try:
            from _pytest.unraisableexception import gc_collect_iterations_key
        except ImportError:  # (an older pytest: no such collection)
            return
        config.stash[gc_collect_iterations_key] = 0

    def pytest_runtestloop(self, session: Any) -> bool:
        if session.testsfailed and not session.items:
            self.error = f"collecting the test failed ({session.testsfailed} errors)"
            return True
        if len(session.items) != 1:
            ids = ", ".join(i.nodeid for i in session.items[:4])
            self.error = (f"the node id selects {len(session.items)} tests ({ids}...): a "
                          "campaign runs one" if session.items else "the node id selects no test")
            return True
        item = session.items[0]
        self.ran = True
        with MachineRuns() as collector:   # (kern/machine/collect.py)
            self._loop(item, collector)
        return True

    def _loop(self, item: Any, collector: MachineRuns) -> None:
        from _pytest.runner import runtestprotocol

        from kern.machine import machine as _machine

        job = self.step(None, None)
        while job is not None:
            seed, strat = job
            booted: list[Any] = []

            def override(strat: Callable[[int], Strategy] = strat,
                         booted: list[Any] = booted) -> Strategy:
                return strat(len(booted))  # (called before the observers see the machine)

            self.exc, self.failed_text, self.skipped = None, None, None
            _machine.strategy_override = override
            _machine.boot_observers.append(booted.append)
            try:
                reports = runtestprotocol(item, log=False, nextitem=None)
            finally:
                _machine.strategy_override = None
                _machine.boot_observers.remove(booted.append)
            for rep in reports:
                if rep.failed and self.exc is None and self.failed_text is None:
                    # no exception: pytest itself failed it (an xfail(strict=True) that passed)
                    self.failed_text = (rep.longreprtext.strip().splitlines() or ["failed"])[0]
            if self.skipped is not None:
                self.error = f"{item.nodeid} skips: {self.skipped}"
                return
            if self.exc is not None:
                outcome = Outcome.of(self.exc)
            elif self.failed_text is not None:
                outcome = Outcome("Failed", self.failed_text, item.nodeid)
            else:
                outcome = Outcome()
            if self.trace_path and booted:
                from kern.machine.timeline import machine_traces, write_chrome

                write_chrome(self.trace_path, booted[0].trace if len(booted) == 1
                             else machine_traces(booted))
            rec, d = _record(outcome, seed, booted)
            booted.clear()
            del reports
            self.exc = None   # (its traceback holds the machines' frames)
            collector.let_go()
            job = self.step(rec, d)

    def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
        import pytest

        exc = call.excinfo
        if exc is None:
            return
        if exc.errisinstance(pytest.skip.Exception):
            self.skipped = str(exc.value)
            return
        if self.exc is None:  # (a test's own pytest.xfail() counts as a failure too)
            self.exc = exc.value


def runner_for(target: Target) -> ScenarioRunner | PytestRunner:
    """The runner of ``target`` in this process (kept: one per worker process)."""
    r = _runners.get(target)
    if r is None:
        r = _runners[target] = ScenarioRunner(target) if target.kind == "scenario" \
            else PytestRunner(target)
    return r


_runners: dict[Target, ScenarioRunner | PytestRunner] = {}


# ================================================================== tasks (run in the workers)

@dataclass
class Batch:
    """What a task ran: counts, the first failure of each kind, its CPU time."""

    runs: int = 0
    failing: int = 0
    failures: dict[tuple[str | None, str], tuple[int, RunRecord]] = field(default_factory=dict)
    max_decisions: int = 0
    cpu: float = 0.0
    next_prefix: list[int] | None = None  # dfs: where the subtree's search resumes
    truncated: bool = False  # dfs: a run was longer than max_decisions
    decisions: Decisions | None = None  # dfs: the decisions of a node's run

    def add(self, rec: RunRecord) -> None:
        self.runs += 1
        self.max_decisions = max(self.max_decisions, rec.decisions)
        if rec.failed:
            self.failing += 1
            n, first = self.failures.get(rec.key, (0, rec))
            self.failures[rec.key] = (n + 1, first)


def _strategy_job(name: str, opts: dict[str, Any], seed: int) -> Job:
    def strat(i: int) -> Strategy:
        return make_strategy(name, seed + i * MACHINE_SEED_STRIDE, None, dict(opts))
    return seed, strat


def task_runs(target: Target, name: str, opts: dict[str, Any], seeds: list[int]) -> Batch:
    """Run ``target`` once per seed under strategy ``name``."""
    out = Batch()
    todo = iter(seeds)
    c0 = time.process_time()

    def step(rec: RunRecord | None, d: Decisions | None) -> Job | None:
        if rec is not None:
            out.add(rec)
        seed = next(todo, None)
        return None if seed is None else _strategy_job(name, opts, seed)

    runner_for(target).drive(step)
    out.cpu = time.process_time() - c0
    return out


def task_dfs(target: Target, root: list[int], start: list[int], bound: int | None,
             max_runs: int, max_decisions: int = 10_000) -> Batch:
    """At most ``max_runs`` runs of the dfs subtree ``root``, from prefix ``start``;
    ``next_prefix`` says where it resumes (None: the subtree is done)."""
    out = Batch()
    state = {"prefix": list(start)}
    c0 = time.process_time()

    def step(rec: RunRecord | None, d: Decisions | None) -> Job | None:
        if rec is not None and d is not None:
            check_prefix(state["prefix"], d)
            out.add(rec)
            nxt, trunc = dfs_next(d, bound, max_decisions, len(root))
            out.truncated |= trunc
            state["prefix"] = nxt  # type: ignore[assignment]
        prefix = state["prefix"]
        if prefix is None or out.runs >= max_runs:
            return None
        return 0, _dfs_machine(prefix)

    runner_for(target).drive(step)
    out.next_prefix = state["prefix"]
    out.cpu = time.process_time() - c0
    return out


def _dfs_machine(prefix: list[int]) -> Callable[[int], Strategy]:
    return lambda i: DfsStrategy(prefix) if i == 0 else PrefixStrategy([])


def task_expand(target: Target, prefix: list[int], bound: int | None) -> Batch:
    """One run of ``prefix`` (then zeros), with its decisions (a node of a dfs)."""
    out = Batch()
    c0 = time.process_time()

    def step(rec: RunRecord | None, d: Decisions | None) -> Job | None:
        if rec is None:
            return 0, _dfs_machine(prefix)
        assert d is not None
        check_prefix(prefix, d)
        out.add(rec)
        out.decisions = d
        return None

    runner_for(target).drive(step)
    out.cpu = time.process_time() - c0
    return out


def replay(target: Target, schedule: str, trace_path: str | None = None) -> RunRecord:
    """Run ``target`` once with ``schedule`` (several machines: comma-joined); the
    timeline goes to ``trace_path`` if given."""
    schedules = [decode(s) for s in schedule.split(",")] if schedule else [[]]
    got: list[RunRecord] = []

    def strat(i: int) -> Strategy:
        return ReplayStrategy(schedules[i] if i < len(schedules) else [])

    def step(rec: RunRecord | None, d: Decisions | None) -> Job | None:
        if rec is None:
            return 0, strat
        got.append(rec)
        return None

    runner_for(target).drive(step, trace_path)
    return got[0]


@dataclass
class ShrinkResult:
    record: RunRecord | None  # the smallest failing run found (None: not shrunk)
    runs: int = 0
    note: str = ""
    cpu: float = 0.0


def task_shrink(target: Target, rec: RunRecord, max_runs: int) -> ShrinkResult:
    """Shrink a failing run (one machine); the result replays with its schedule."""
    from kern.machine.shrink import shrink_schedule

    c0 = time.process_time()
    if rec.machines != 1:
        return ShrinkResult(None, 0, f"not shrunk: the test boots {rec.machines} machines")
    try:
        s = shrink_schedule(lambda text: replay(target, text), rec.schedule, max_runs)
    except ValueError as e:  # the replay did not fail (something outside the stream)
        return ShrinkResult(None, 1, f"not shrunk: {e}", time.process_time() - c0)
    return ShrinkResult(s.result, s.runs, "", time.process_time() - c0)


# ================================================================== where the tasks run

class _Inline:
    """Tasks run in the calling process, one at a time (``workers=1``)."""

    nworkers = 1
    where = "this process"

    def __init__(self) -> None:
        self._done: list[tuple[int, Any]] = []
        self._n = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        self._n += 1
        self._done.append((self._n, fn(*args)))
        return self._n

    def next_done(self) -> tuple[int, Any]:
        return self._done.pop(0)

    def cancel(self) -> None:
        self._done.clear()

    def close(self) -> None:
        pass

    def expect(self, seconds: float) -> None:
        """(_Lazy's: what the runs still to make are expected to take.)"""


def environ_put_back(env: dict[str, str]) -> None:
    """Give ``os.environ`` back the values of ``env``, a copy taken before a
    Dask ``LocalCluster`` was started in this process.

    Each time a Nanny starts a worker process it sets its pre-spawn variables
    (``distributed.nanny.pre-spawn-environ``: MALLOC_TRIM_THRESHOLD_,
    OMP_NUM_THREADS=1 and the other thread counts, PYTHONHASHSEED=6640) and
    __DASK_PARENT_PID in its own process's environment, where the new process
    inherits them, and leaves them there: every process the user's program
    starts afterwards would run with them (one fixed hash seed for all).  The
    workers already started keep what they got; a worker started later (a
    restart) gets them again, as the Nanny sets them anew each time.
    Only the variables that differ are touched."""
    for k in os.environ.keys() - env.keys():
        del os.environ[k]
    for k, v in env.items():
        if os.environ.get(k) != v:
            os.environ[k] = v


#: What the fork server of kemu's local clusters imports before it forks a
#: worker (after Dask's own list): the campaign's tasks and, through them, the kernel.
FORKSERVER_PRELOAD = ("kern.machine.campaign",)

_METHOD = "distributed.worker.multiprocessing-method"


def _method_chosen() -> bool:
    """Whether the user chose how Dask starts worker processes: a value other
    than Dask's default, or one in a Dask config file or DASK_* variable.  (A
    program's ``dask.config.set`` of Dask's default value, "spawn", cannot be
    told from no choice; set it in a file or DASK_* variable.)"""
    import dask

    default = dask.config.get(_METHOD, None, config=dask.config.merge(*dask.config.defaults))
    if dask.config.get(_METHOD, None) != default:
        return True
    try:
        dask.config.get(_METHOD, config=dask.config.collect())
    except KeyError:
        return False
    return True


def _forkserver() -> Any:
    """multiprocessing's fork server of this process (its pid: None when none
    runs), or None if its internals are not those close_local_cluster knows."""
    import multiprocessing.forkserver as mpf

    fs = getattr(mpf, "_forkserver", None)
    known = ("_forkserver_pid", "_lock", "_forkserver_alive_fd", "_forkserver_address")
    return fs if all(hasattr(fs, a) for a in known) else None


def _mp_context_users() -> tuple[Any, ...]:
    """The modules of distributed whose ``get_mp_context`` local_cluster hands
    its Nannys' start method to: distributed.nanny and distributed.process,
    each holding Dask's function itself (imported from distributed.utils).  ()
    when this distributed differs (a name missing or renamed, or someone
    else's function there): Dask's default is kept."""
    try:
        from distributed import nanny, process, utils
    except ImportError:
        return ()
    f = getattr(utils, "get_mp_context", None)
    mods = (nanny, process)
    return mods if callable(f) and all(getattr(m, "get_mp_context", None) is f
                                       for m in mods) else ()


# local_cluster's hand-over of the start method: its own Nannys are started
# in the context (contextvars) of its call (distributed's sync runs the
# cluster's start in a copy of the caller's context), another thread's are not
_forkserver_ctx: contextvars.ContextVar[Any] = contextvars.ContextVar("kemu_forkserver_ctx",
                                                                      default=None)
_local_cluster_lock = threading.Lock()  # (one hand-over at a time: each puts back what it found)


def local_cluster(n: int, **kwargs: Any) -> Any:
    """A Dask ``LocalCluster`` of ``n`` single-threaded worker processes, forked
    from a fork server of its own that has imported distributed and kemu.

    Dask spawns each worker by default: a fresh interpreter importing
    distributed and then kemu (~1 s of CPU a worker).  Here the first worker's
    start starts multiprocessing's fork server
    (``distributed.worker.multiprocessing-method`` "forkserver", with Dask's
    own preload list and FORKSERVER_PRELOAD), and every worker is forked from
    it.  A forked worker is what a spawned one is
    (tests/kern/test_campaign.py compares them): the server starts after the
    Nanny has set its pre-spawn variables in this process's environment
    (PYTHONHASHSEED=6640, MALLOC_TRIM_THRESHOLD_...), so it and its children
    have the spawned worker's environment and hash seed; the worker's own
    start (multiprocessing's preparation data: sys.path, the working
    directory, __main__) is the spawned one's, and so is its Dask
    configuration (the method included: it is not set there).  What
    differs: kemu's modules are imported before the worker's event loop
    starts rather than with its first task, and a forked worker leaves by
    ``os._exit`` (no atexit handlers: machine.py's halts machines still
    running at exit).  The server lives as long as the cluster: closing the
    cluster (close_local_cluster) stops it, so the next cluster's starts
    under the environment of its own start; a cluster whose start fails
    stops it too.

    Dask's default is kept (workers spawned) when the user chose a method (a
    Dask config file, DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD,
    ``dask.config.set`` of another method: _method_chosen), a fork server
    is already running (the user's own or another cluster's: started under
    another environment, its workers would not be a spawned worker's), or
    this distributed's internals are not the ones the hand-over knows
    (_mp_context_users, _forkserver).  The caller puts ``os.environ`` back
    (environ_put_back)."""
    import dask
    import distributed

    kw = dict(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
              worker_dashboard_address=":0", **kwargs)
    with _local_cluster_lock:
        fs = _forkserver()
        mods = _mp_context_users()
        if _method_chosen() or not mods or fs is None or fs._forkserver_pid is not None:
            return distributed.LocalCluster(**kw)
        import multiprocessing

        with dask.config.set({_METHOD: "forkserver"}):
            mods[0].get_mp_context()  # (sets Dask's preload list, once a process)
        ctx = multiprocessing.get_context("forkserver")
        preload = list(getattr(fs, "_preload_modules", []))
        ctx.set_forkserver_preload([*preload, *FORKSERVER_PRELOAD])
        # The method is given to the Nannys made here, not set in Dask's
        # configuration: a Nanny hands its worker the configuration as it is,
        # and the worker's is then the spawned one's.  (A Nanny that restarts
        # its worker later spawns it.)  The modules' name is replaced for the
        # cluster's start only, by a function that gives the fork server to
        # this call's Nannys and Dask's context to any other.
        saved = [(m, m.get_mp_context) for m in mods]
        dasks = saved[0][1]

        def get_mp_context(*args: Any, **kwargs: Any) -> Any:
            mine = _forkserver_ctx.get()
            return mine if mine is not None else dasks(*args, **kwargs)

        token = _forkserver_ctx.set(ctx)
        for m, _ in saved:
            m.get_mp_context = get_mp_context
        try:
            cluster = distributed.LocalCluster(**kw)
        except BaseException:
            if fs._forkserver_pid is not None:  # (ours: none ran before)
                _stop_forkserver(fs, fs._forkserver_pid)
            raise
        finally:
            _forkserver_ctx.reset(token)
            for m, f in saved:
                m.get_mp_context = f
            ctx.set_forkserver_preload(preload)
        cluster._kemu_forkserver = fs._forkserver_pid
        return cluster


def _stop_forkserver(fs: Any, pid: int) -> None:
    """Stop multiprocessing's fork server ``fs`` if it is still process ``pid``."""
    from multiprocessing.util import is_abstract_socket_namespace

    with fs._lock:
        if fs._forkserver_pid != pid:
            return
        # (multiprocessing's ForkServer._stop_unlocked, without its wait: the
        # server leaves when every process holding its "alive" pipe has closed
        # it (a child this process forked meanwhile holds it too); it is then
        # no longer ours to wait for)
        os.close(fs._forkserver_alive_fd)
        address = fs._forkserver_address
        fs._forkserver_alive_fd = fs._forkserver_pid = None
        fs._forkserver_address = None
        if address and not is_abstract_socket_namespace(address):
            with contextlib.suppress(OSError):
                os.unlink(address)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                time.sleep(0.01)
                continue
        break


def close_local_cluster(cluster: Any) -> None:
    """Close a local_cluster, and stop the fork server it started."""
    try:
        cluster.close()
    finally:
        pid = getattr(cluster, "_kemu_forkserver", None)
        fs = _forkserver()
        if pid is not None and fs is not None:
            _stop_forkserver(fs, pid)


#: How long a campaign given a scheduler's address waits for the first worker
#: to join it before it says so and stops (tasks submitted to a cluster
#: with no worker would wait for one for ever, saying nothing).
WORKER_PATIENCE = 60.0


class _Dask:
    """Tasks on a Dask distributed cluster: a LocalCluster of ``workers`` worker
    processes (one thread each), or the cluster at ``scheduler``, which must
    have a worker within WORKER_PATIENCE seconds."""

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        try:
            import distributed
        except ImportError:
            raise CampaignError("campaigns run on Dask distributed, which is not installed: "
                                "pip install -e '.[explore]' (or run with workers=1, "
                                "--workers=1, in this process)") from None
        import logging

        self.cluster = None
        if scheduler:
            try:
                self.client = distributed.Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise CampaignError(f"no Dask scheduler at {scheduler}: {e}") from None
            try:
                self.client.wait_for_workers(1, timeout=WORKER_PATIENCE)
            except TimeoutError:
                self.client.close()
                raise CampaignError(f"no Dask worker joined the cluster at {scheduler} "
                                    f"within {WORKER_PATIENCE:g} s (start one: dask worker "
                                    f"{scheduler})") from None
            self.where = f"the cluster at {scheduler}"
        else:
            n = workers or os.cpu_count() or 1
            self._env = dict(os.environ)
            try:
                self.cluster = local_cluster(n, silence_logs=logging.CRITICAL)
            finally:
                environ_put_back(self._env)
            self.client = distributed.Client(self.cluster)
            self.where = f"a local cluster of {n} worker processes"
        self.nworkers = max(1, len(self.client.scheduler_info()["workers"]))
        self._ac = distributed.as_completed(with_results=False)
        self._futures: dict[Any, int] = {}
        self._n = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        self._n += 1
        fut = self.client.submit(fn, *args, pure=False)
        self._futures[fut] = self._n
        self._ac.add(fut)
        return self._n

    def next_done(self) -> tuple[int, Any]:
        fut = next(self._ac)
        n = self._futures.pop(fut)
        return n, fut.result()

    def cancel(self) -> None:
        if self._futures:
            self.client.cancel(list(self._futures))
        self._futures.clear()
        self._ac.clear()

    def expect(self, seconds: float) -> None:
        """(_Lazy's: what the runs still to make are expected to take.)"""

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            try:
                close_local_cluster(self.cluster)
            finally:
                # a worker the Nanny restarted meanwhile set them again
                environ_put_back(self._env)


#: A campaign left to its default (no ``workers``, no ``scheduler``) runs its
#: tasks in this process until they have taken this many seconds of CPU, and
#: only then starts its local cluster for the rest (_Lazy).  (CPU, not wall:
#: a loaded machine stretches the wall time of the runs, and a cluster's
#: start then costs more, not less.)
LAZY_CLUSTER_AFTER = 1.0


class _Lazy:
    """The default: tasks in this process until they have taken
    LAZY_CLUSTER_AFTER seconds of CPU, then on a local cluster of one worker
    process per core.  Starting the cluster costs about a second of
    CPU and of wall time (more on a loaded machine): a campaign whose runs
    take less than that is done sooner in this process, and a longer one
    loses at most that second's share of the other cores (less: a campaign
    of seeds whose remaining runs are expected to take longer, by the CPU
    time of those made or by its time budget, starts it at once).  The work
    is cut for the cluster's workers from the start (``nworkers``), as _Dask
    would cut it, so the tasks are the same wherever they run; a run's
    result does not depend on the process that runs it (test_campaign
    compares them)."""

    def __init__(self) -> None:
        self.nworkers = os.cpu_count() or 1
        self.used = 1  # the processes that ran tasks: this one, then the cluster's
        self.where = "this process"
        self._spent = 0.0
        self._done: list[tuple[int, Any]] = []
        self._dask: _Dask | None = None
        self._ids: dict[int, int] = {}  # the cluster's task number -> ours
        self._n = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> int:
        self._n += 1
        if self._dask is None and self._spent < LAZY_CLUSTER_AFTER:
            c0 = time.process_time()
            self._done.append((self._n, fn(*args)))
            self._spent += time.process_time() - c0
            return self._n
        if self._dask is None:
            self._dask = _Dask(None, self.nworkers)
            self.used = self._dask.nworkers
            self.where = f"this process, then {self._dask.where}"
        self._ids[self._dask.submit(fn, *args)] = self._n
        return self._n

    def next_done(self) -> tuple[int, Any]:
        if self._done:
            return self._done.pop(0)
        assert self._dask is not None
        n, r = self._dask.next_done()
        return self._ids.pop(n), r

    def cancel(self) -> None:
        self._done.clear()
        self._ids.clear()
        if self._dask is not None:
            self._dask.cancel()

    def expect(self, seconds: float) -> None:
        """The runs still to make are expected to take ``seconds`` in this
        process: more than LAZY_CLUSTER_AFTER, and the next task starts the
        cluster without waiting for that time to pass."""
        if seconds > LAZY_CLUSTER_AFTER:
            self._spent = max(self._spent, LAZY_CLUSTER_AFTER)

    def close(self) -> None:
        if self._dask is not None:
            self._dask.close()


# ================================================================== the campaign

@dataclass
class Failure:
    """One distinct failure of a campaign (error class and site)."""

    key: tuple[str | None, str]
    count: int
    first: RunRecord
    shrunk: RunRecord | None = None
    shrink_runs: int = 0
    note: str = ""

    @property
    def best(self) -> RunRecord:
        return self.shrunk or self.first


@dataclass
class CampaignResult:
    target: Target
    strategy: str
    runs: int = 0
    failing: int = 0
    failures: list[Failure] = field(default_factory=list)
    wall: float = 0.0  # the whole campaign: cluster start, runs, shrinking
    run_wall: float = 0.0  # the runs alone
    started: float = 0.0
    cpu: float = 0.0  # the workers' CPU time
    where: str = ""
    workers: int = 1
    complete: bool | None = None  # dfs: every schedule within the bound was run
    expansion_runs: int = 0  # dfs: the runs made while cutting the search into subtrees
    truncated: bool = False
    stopped: str = ""  # why it stopped early ("time budget", "runs")

    def table(self) -> str:
        """The closing report: figures, then one block per distinct failure."""
        rate = self.runs / self.run_wall if self.run_wall else 0.0
        lines = [f"{self.target.spec}: {self.strategy}, {self.runs} runs in {self.run_wall:.1f} s "
                 f"({rate:.1f} runs/s; {self.wall:.1f} s in all, {self.cpu:.1f} s CPU in the "
                 f"workers) on {self.where}; {self.failing} failing, "
                 f"{len(self.failures)} distinct"]
        if self.complete is not None:
            lines.append("dfs: " + ("complete: every schedule within the bound was run"
                                    if self.complete else "not complete (" +
                                    (self.stopped or "stopped") + ")") +
                         ("; runs longer than max_decisions were cut" if self.truncated else ""))
        if not self.failures:
            return "\n".join(lines)
        lines += ["", "  #   runs  error               first line", ""]
        width = max(len(f.key[0] or "") for f in self.failures)
        lines.pop()
        for i, f in enumerate(self.failures, 1):
            lines.append(f"{i:3}  {f.count:5}  {(f.key[0] or ''):<{max(width, 18)}}  "
                         f"{f.first.outcome.message[:90]}")
        for i, f in enumerate(self.failures, 1):
            b = f.best
            lines += ["", f"{i}. {f.key[0]} at {f.key[1] or '?'}",
                      f"   first: {f.first.strategy}, {f.first.preemptions} preemptions, "
                      f"{f.first.faults} faults"]
            if f.shrunk is not None:
                lines.append(f"   shrunk in {f.shrink_runs} replays to {b.preemptions} "
                             f"preemptions, {b.faults} faults ({len(b.choices)} choices)")
            elif f.note:
                lines.append(f"   {f.note}")
            from kern.machine.machine import schedule_arg

            sched = ",".join(schedule_arg(s) for s in b.schedule.split(","))
            lines.append(f"   schedule: {sched}")
            lines.append(f"   replay:   {self.target.replay_command(sched)}")
        return "\n".join(lines)


class _Progress:
    """A progress line on ``out`` (redrawn in place on a terminal; on anything
    else a line at each tenth of the way)."""

    def __init__(self, out: TextIO | None, total: int | None, budget: float | None) -> None:
        self.out = out
        self.total = total
        self.budget = budget
        self.tty = bool(out is not None and getattr(out, "isatty", lambda: False)())
        self.t0 = time.monotonic()
        self.shown = -1

    def update(self, runs: int, failing: int, distinct: int, what: str = "runs") -> None:
        if self.out is None:
            return
        el = time.monotonic() - self.t0
        if self.total:
            frac = min(1.0, runs / self.total)
        elif self.budget:
            frac = min(1.0, el / self.budget)
        else:
            frac = 0.0
        if not self.tty:
            tenth = int(frac * 10)
            if tenth <= self.shown:
                return
            self.shown = tenth
        bar = "#" * int(frac * 30) + "-" * (30 - int(frac * 30))
        rate = runs / el if el > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        text = (f"[{bar}] {runs}{of} {what}, {failing} failing, {distinct} distinct, "
                f"{rate:.1f} runs/s, {el:.0f} s")
        self.out.write(("\r" + text) if self.tty else (text + "\n"))
        self.out.flush()

    def done(self) -> None:
        if self.out is not None and self.tty:
            self.out.write("\n")
            self.out.flush()


class Campaign:
    """One campaign (see the module's docstring); :meth:`run` gives its result.

    ``strategy`` is a name with its options (``"pct:depth=2"``,
    ``"dfs:bound=1"``) or a name with ``options``; ``runs`` and
    ``time_budget`` (seconds) bound it (the default: 1000 runs; dfs: until
    complete); ``seed`` is the first seed; ``workers``/``scheduler`` say where
    the runs go; ``batch`` is how many runs a task makes (default: about
    eight tasks per worker); ``shrink_runs`` the replays each distinct
    failure's shrinking may spend (0: no shrinking); ``progress`` a stream
    for the progress line.
    """

    def __init__(self, target: Target | str, strategy: str = "random",
                 options: dict[str, Any] | None = None, *, runs: int | None = None,
                 time_budget: float | None = None, seed: int = 0, workers: int | None = None,
                 scheduler: str | None = None, batch: int | None = None,
                 shrink_runs: int = 200, progress: TextIO | None = None,
                 boot: dict[str, Any] | None = None) -> None:
        self.target = target if isinstance(target, Target) else Target.parse(target, boot=boot)
        name, spec_opts = parse_strategy_spec(strategy)
        self.name = name
        self.options = {**spec_opts, **(options or {})}
        if name not in STRATEGIES:
            raise CampaignError(f"unknown strategy {name!r} (random, pct, dfs)")
        if name == "dfs":
            bad = sorted(set(self.options) - {"bound", "max_decisions"})
            if bad:
                raise CampaignError(f"unknown dfs option(s) {', '.join(bad)} (bound, "
                                    "max_decisions)")
            b = self.options.get("bound", 2)
            self.bound: int | None = None if b in ("none", "None", -1) else int(b)
        else:
            try:
                make_strategy(name, 0, None, dict(self.options))
            except (TypeError, ValueError) as e:
                raise CampaignError(f"strategy {strategy}: {e}") from None
        if runs is not None and runs < 1:
            raise CampaignError("runs must be at least 1")
        if time_budget is not None and time_budget <= 0:
            raise CampaignError("the time budget must be positive")
        self.runs = runs if runs is not None or time_budget is not None or name == "dfs" \
            else 1000
        self.time_budget = time_budget
        self.seed = seed
        self.workers = workers
        self.scheduler = scheduler
        self.batch = batch
        self.shrink_runs = shrink_runs
        self.progress = progress

    def spec(self) -> str:
        if self.name == "dfs":
            return f"dfs:bound={self.bound}"
        opts = ",".join(f"{k}={v}" for k, v in self.options.items())
        return self.name + (f":{opts}" if opts else "")

    def run(self) -> CampaignResult:
        pool: _Inline | _Dask | _Lazy = _Inline() if self.workers == 1 and not self.scheduler \
            else _Lazy() if self.workers is None and not self.scheduler \
            else _Dask(self.scheduler, self.workers)
        t0 = time.monotonic()
        try:
            res = CampaignResult(self.target, self.spec(), where=pool.where,
                                 workers=pool.nworkers)
            found: dict[tuple[str | None, str], Failure] = {}
            bar = _Progress(self.progress, self.runs, self.time_budget)
            if self.name == "dfs":
                self._dfs(pool, res, found, bar, t0)
            else:
                self._seeds(pool, res, found, bar, t0)
            res.run_wall = time.monotonic() - res.started
            bar.done()
            res.failures = sorted(found.values(), key=lambda f: (-f.count, str(f.key)))
            self._shrink(pool, res)
            res.where, res.workers = pool.where, getattr(pool, "used", pool.nworkers)
        finally:
            pool.close()
        res.wall = time.monotonic() - t0
        return res

    # -- the parts ------------------------------------------------------------

    def _out_of_budget(self, t0: float, runs: int) -> str:
        if self.time_budget is not None and time.monotonic() - t0 >= self.time_budget:
            return "time budget"
        if self.runs is not None and runs >= self.runs:
            return "runs"
        return ""

    def _take(self, b: Batch, res: CampaignResult,
              found: dict[tuple[str | None, str], Failure]) -> None:
        res.runs += b.runs
        res.failing += b.failing
        res.cpu += b.cpu
        res.truncated |= b.truncated
        for key, (n, rec) in b.failures.items():
            f = found.get(key)
            if f is None:
                found[key] = Failure(key, n, rec)
            else:
                f.count += n
                if rec.seed < f.first.seed and self.name != "dfs":
                    f.first = rec

    def _seeds(self, pool: _Inline | _Dask | _Lazy, res: CampaignResult,
               found: dict[tuple[str | None, str], Failure], bar: _Progress, t0: float) -> None:
        opts = dict(self.options)
        if self.name == "pct" and "steps" not in opts:
            # calibration: how many decisions a run makes (the most of a few random runs)
            pool.submit(task_runs, self.target, "random", {},
                        list(range(self.seed, self.seed + CALIBRATION_RUNS)))
            _, b = pool.next_done()
            res.cpu += b.cpu
            opts["steps"] = max(1, b.max_decisions)
            res.strategy = self.name + ":" + ",".join(f"{k}={v}" for k, v in opts.items())
        t0 = res.started = time.monotonic()
        size = self.batch or max(1, min(25, (self.runs or 200) // (8 * pool.nworkers)))
        next_seed = self.seed
        end = self.seed + self.runs if self.runs is not None else None
        inflight = 0
        while True:
            while inflight < 2 * pool.nworkers and not self._out_of_budget(t0, res.runs) and \
                    (end is None or next_seed < end):
                seeds = list(range(next_seed, min(next_seed + size, end) if end is not None
                                   else next_seed + size))
                next_seed += len(seeds)
                pool.submit(task_runs, self.target, self.name, opts, seeds)
                inflight += 1
            if not inflight:
                break
            _, b = pool.next_done()
            inflight -= 1
            self._take(b, res, found)
            bar.update(res.runs, res.failing, len(found))
            if self.time_budget is not None:
                pool.expect(self.time_budget - (time.monotonic() - t0))
            elif end is not None and b.runs:
                pool.expect(b.cpu / b.runs * (end - next_seed))
            why = self._out_of_budget(t0, res.runs)
            if why == "time budget":
                res.stopped = why
                pool.cancel()
                break

    def _dfs(self, pool: _Inline | _Dask | _Lazy, res: CampaignResult,
             found: dict[tuple[str | None, str], Failure], bar: _Progress, t0: float) -> None:
        bound = self.bound
        t0 = res.started = time.monotonic()
        maxd = int(self.options.get("max_decisions", 10_000))
        # 1. cut the search into a few subtrees per worker: a node is a prefix and
        # the decisions of its run (the prefix, then zeros); its children are the
        # prefix and one more choice, the first of them (choice 0) with the same run
        level: list[tuple[list[int], Decisions | None]] = [([], None)]
        want = 1 if pool.nworkers == 1 else 4 * pool.nworkers
        expanded = 0
        for depth in range(9):
            tasks = {pool.submit(task_expand, self.target, p, bound): i
                     for i, (p, d) in enumerate(level) if d is None}
            for _ in range(len(tasks)):
                n, b = pool.next_done()
                self._take(b, res, found)
                expanded += b.runs
                level[tasks[n]] = (level[tasks[n]][0], b.decisions)
            bar.update(res.runs, res.failing, len(found))
            if len(level) >= want or depth == 8 or self._out_of_budget(t0, res.runs):
                break
            nxt: list[tuple[list[int], Decisions | None]] = []
            for p, d in level:
                assert d is not None
                kids = dfs_children(d, p, bound)
                nxt += [(k, d if k[-1] == 0 else None) for k in kids]  # none: a leaf, done
            level = nxt
        # 2. search each subtree (its first schedule was run above), a chunk per task
        queue: list[tuple[list[int], list[int]]] = []
        for root, d in level:
            assert d is not None
            start, trunc = dfs_next(d, bound, maxd, len(root))
            res.truncated |= trunc
            if start is not None:
                queue.append((root, start))
        # 2. search each subtree, a chunk per task
        size = self.batch or 20
        roots: dict[int, list[int]] = {}  # task -> the root of its subtree
        while queue or roots:
            while queue and len(roots) < 2 * pool.nworkers and \
                    not self._out_of_budget(t0, res.runs):
                root, start = queue.pop(0)
                roots[pool.submit(task_dfs, self.target, root, start, bound, size, maxd)] = root
            if not roots:
                break
            n, b = pool.next_done()
            root = roots.pop(n)
            self._take(b, res, found)
            bar.update(res.runs, res.failing, len(found))
            if b.next_prefix is not None:
                queue.append((root, b.next_prefix))
            why = self._out_of_budget(t0, res.runs)
            if why:
                res.stopped = why
                if why == "time budget":
                    pool.cancel()
                    roots.clear()
                    break
        res.complete = not queue and not roots and not res.stopped
        res.expansion_runs = expanded

    def _shrink(self, pool: _Inline | _Dask | _Lazy, res: CampaignResult) -> None:
        if not self.shrink_runs or not res.failures:
            return
        by_task: dict[int, Failure] = {}
        for f in res.failures:
            by_task[pool.submit(task_shrink, self.target, f.first, self.shrink_runs)] = f
        for _ in range(len(by_task)):
            n, s = pool.next_done()
            f = by_task[n]
            f.shrink_runs = s.runs
            f.note = s.note
            res.cpu += s.cpu
            if s.record is not None and s.record.preemptions + s.record.faults <= \
                    f.first.preemptions + f.first.faults:
                f.shrunk = s.record


__all__ = ["Campaign", "CampaignError", "CampaignResult", "Failure", "NondeterminismError",
           "RunRecord", "Target", "replay", "runner_for", "task_dfs", "task_expand",
           "task_runs", "task_shrink"]
