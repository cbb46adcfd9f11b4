"""Exploration: what each scheduling strategy costs and what it finds, side by side.

    python benchmarks/bench_explore.py [--rounds R] [--budget N] [--jobs J] [--only KEYS]
                                       [--quick | --smoke]

Three measurements, each strategy under the same budget:

* **runs per second** of the fss sweep (tests/dev/fss/scenarios.py:sweep:
  two writers against two snapshot readers on a memory disk, the snapshot
  checked against the disk as it was) under ``random``, ``pct`` and
  ``dfs`` (preemption bound 2), in interleaved rounds (benchmarks/_measure.py),
  wall and CPU;
* **the delay bug** (tests/kern/sched_scenarios.py:recycled_under_reader: a
  reader must be held back across at least 50 steps of the copier): how
  many of ``--delay-runs`` runs (default 1000) fail under ``random`` and
  under ``pct``;
* **fss's defect B7 by schedule alone** (tests/dev/fss/scenarios.py:
  b7_unmount_vs_last_close: an unmount racing the first open and last close
  of /dev/rfss0, no delay in the scenario): how many of ``--b7-runs`` runs
  (default 200) deadlock under ``random`` and under ``pct`` (depth 2, 100
  steps, as tests/dev/fss/test_defect_b7.py runs it), and at which run
  ``dfs`` with a preemption bound of 1 first deadlocks it (at most twice
  that many runs);
* **planted bugs**: seventeen small concurrency mistakes, planted one at a
  time in a copy of ``dev/fss/fss.py`` or ``vfs/vfs_trans.py`` (the copy is
  the module's source with one edit, compiled in a worker process of its
  own: nothing on disk changes), each run against the generic stress
  scenario (tests/dev/fss/scenarios.py:stress: writers, snapshot readers, a
  poller, a clear, a second snapshot under the writers) with ``--budget``
  runs (default 100; --quick 30) per strategy, stopping at the first
  failing run.  A mistake is *found* by a strategy when one of its runs
  fails (a panic, an assertion, a deadlock the machine reports, an
  exception out of the kernel); the same budget on the unplanted code is
  run first and must find nothing, or every count below would mean
  nothing.  The seeds are 0, 1, ... for every mistake, so a rerun finds the
  same runs.

The strategies run the same seeds and budgets in worker processes started
fresh per mistake (``--jobs``, default the host's CPUs), mistake by mistake
with the strategies of one mistake side by side.  CPU time is the workers'
own (process time), wall time the worker's stretch.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib.machinery
import linecache
import multiprocessing
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import (  # noqa: E402
    ROOT,
    Report,
    Sample,
    Stopwatch,
    n_rounds,
    pick,
    rounds,
    standard_args,
    warmups,
)

STRATEGIES = ("random", "pct", "dfs")
#: dfs's preemption bound (CHESS finds most bugs within two)
DFS_BOUND = 2
#: the delay scenario's machine (as tests/kern/test_sched.py runs it)
FAST = {"config": "BARE", "trace": False, "lockdebug": False}


# ================================================================== the planted mistakes

@dataclass(frozen=True)
class Mutant:
    """One concurrency mistake: ``edits`` (old, new) applied to ``module``'s source
    (each ``old`` must occur there exactly once)."""

    key: str
    module: str
    what: str
    edits: tuple[tuple[str, str], ...]


def _m(key: str, module: str, what: str, *edits: tuple[str, str]) -> Mutant:
    return Mutant(key, module, what, tuple(edits))


FSS = "dev.fss.fss"
TRANS = "vfs.vfs_trans"

MUTANTS: tuple[Mutant, ...] = (
    _m("F1", FSS, "fss_read_cluster: a free cache slot is taken without marking it busy",
       ("                scp.fc_type = FSS_CACHE_BUSY\n                scp.fc_cluster = cl\n",
        "                scp.fc_cluster = cl\n")),
    _m("F2", FSS, "fss_read_cluster: a slot being filled is taken as copied (no wait for it)",
       ("                elif scp.fc_type == FSS_CACHE_BUSY:\n"
        "                    await cv_wait(scp.fc_state_cv, sc.sc_slock)\n"
        "                    restart = True  # goto restart\n"
        "                    break\n",
        "                elif scp.fc_type == FSS_CACHE_BUSY:\n"
        "                    mutex_exit(sc.sc_slock)\n"
        "                    return 0\n")),
    _m("F3", FSS, "fss_read_cluster: a filled slot wakes one waiter (cv_signal for cv_broadcast)",
       ("    cv_broadcast(scp.fc_state_cv)\n    if error == 0:\n",
        "    cv_signal(scp.fc_state_cv)\n    if error == 0:\n")),
    _m("F4", FSS, "fss_read_cluster: a filled slot wakes nobody (the wakeup dropped)",
       ("    cv_broadcast(scp.fc_state_cv)\n    if error == 0:\n", "    if error == 0:\n")),
    _m("F5", FSS, "fss_read_cluster: the copied bit is set before the copy is made",
       ("        setbit(sc.sc_copied, scp.fc_cluster)\n        cv_signal(sc.sc_work_cv)\n",
        "        cv_signal(sc.sc_work_cv)\n"),
       ("    mutex_exit(sc.sc_slock)\n\n    # Start the read.\n",
        "    setbit(sc.sc_copied, cl)\n    mutex_exit(sc.sc_slock)\n\n    # Start the read.\n")),
    _m("F6", FSS, "fss_read_cluster: a new cache entry does not wake the bs thread",
       ("        setbit(sc.sc_copied, scp.fc_cluster)\n        cv_signal(sc.sc_work_cv)\n",
        "        setbit(sc.sc_copied, scp.fc_cluster)\n")),
    _m("F7", FSS, "fss_bs_thread: a freed cache slot wakes one waiter (cv_signal for "
       "cv_broadcast)",
       ("            cv_broadcast(sc.sc_cache_cv)\n", "            cv_signal(sc.sc_cache_cv)\n")),
    _m("F8", FSS, "fss_bs_thread: a slot is freed before its cluster is on the backing store",
       ("            mutex_exit(sc.sc_slock)\n\n            thread_idle = False\n",
        "            scp.fc_type = FSS_CACHE_FREE\n            cv_broadcast(sc.sc_cache_cv)\n"
        "            mutex_exit(sc.sc_slock)\n\n            thread_idle = False\n")),
    _m("F9", FSS, "fss_strategy: a queued read does not wake the bs thread",
       ("        bufq_put(sc.sc_bufq, bp)\n        cv_signal(sc.sc_work_cv)\n",
        "        bufq_put(sc.sc_bufq, bp)\n")),
    _m("F10", FSS, "fss_delete_snapshot: the softc is freed before the handler is removed",
       ("    if (sc.sc_flags & (FSS_PERSISTENT | FSS_ERROR)) == 0:\n"
        "        await fscow_disestablish(sc.sc_mount, fss_copy_on_write, sc)\n\n", ""),
       ("    await fss_softc_free(sc)\n    if sc.sc_flags & FSS_PERSISTENT:\n",
        "    mp = sc_mount_was\n    await fss_softc_free(sc)\n"
        "    if not cow_gone:\n        await fscow_disestablish(mp, fss_copy_on_write, sc)\n"
        "    if sc.sc_flags & FSS_PERSISTENT:\n"),
       ("    await mutex_enter(sc.sc_slock)\n    sc.sc_flags &= ~(FSS_ACTIVE | FSS_ERROR)\n",
        "    sc_mount_was = sc.sc_mount\n"
        "    cow_gone = (sc.sc_flags & (FSS_PERSISTENT | FSS_ERROR)) != 0\n"
        "    await mutex_enter(sc.sc_slock)\n    sc.sc_flags &= ~(FSS_ACTIVE | FSS_ERROR)\n")),
    _m("F11", FSS, "fss_delete_snapshot: the state change is published without sc_slock "
       "(no sleep point inside: invisible to any schedule)",
       ("    await mutex_enter(sc.sc_slock)\n    sc.sc_flags &= ~(FSS_ACTIVE | FSS_ERROR)\n"
        "    sc.sc_mount = None\n    sc.sc_bdev = NODEV\n    mutex_exit(sc.sc_slock)\n",
        "    sc.sc_flags &= ~(FSS_ACTIVE | FSS_ERROR)\n"
        "    sc.sc_mount = None\n    sc.sc_bdev = NODEV\n")),
    _m("V1", TRANS, "cow_change_enter: the wait for running handlers is an if, not a loop",
       ("    while not cow_state_change_done(mp):\n",
        "    if not cow_state_change_done(mp):\n")),
    _m("V2", TRANS, "cow_change_enter: the handler list changes without waiting for running "
       "handlers",
       ("    while not cow_state_change_done(mp):\n"
        "        await cv_wait(g.fstrans_count_cv, g.fstrans_lock)\n", "")),
    _m("V3", TRANS, "fscow_run: the last handler out wakes nobody (the wakeup dropped)",
       ("        fli.fli_cow_cnt = 0\n        cv_broadcast(g.fstrans_count_cv)\n",
        "        fli.fli_cow_cnt = 0\n")),
    _m("V4", TRANS, "fstrans_done: the last transaction out wakes nobody (the wakeup dropped)",
       ("    fli.fli_trans_cnt = 0\n    cv_broadcast(_fstrans().fstrans_count_cv)\n",
        "    fli.fli_trans_cnt = 0\n")),
    _m("V5", TRANS, "_fstrans_start: the wait for the resume is an if, not a loop",
       ("    while not grant_lock(fmi.fmi_state, lock_type):\n",
        "    if not grant_lock(fmi.fmi_state, lock_type):\n")),
    _m("V6", TRANS, "fstrans_setstate: the resume wakes nobody (the wakeup dropped)",
       ("    cv_broadcast(g.fstrans_state_cv)\n    mutex_exit(g.fstrans_lock)\n\n"
        "    if old_state != new_state:\n",
        "    mutex_exit(g.fstrans_lock)\n\n    if old_state != new_state:\n")),
)
BY_KEY = {m.key: m for m in MUTANTS}


def planted_source(m: Mutant) -> str:
    """``m.module``'s source with ``m``'s edits (ValueError if one does not apply once)."""
    path = _module_path(m)
    with open(path) as f:
        src = f.read()
    for old, new in m.edits:
        n = src.count(old)
        if n != 1:
            raise ValueError(f"{m.key}: the text to replace occurs {n} times in {path}; "
                             "the module changed: update the mutant")
        src = src.replace(old, new)
    return src


def _module_path(m: Mutant) -> str:
    return os.path.join(ROOT, *m.module.split(".")) + ".py"


def plant(key: str | None) -> None:
    """In a fresh worker process: every later load of ``key``'s module compiles the
    planted source instead of the file's.

    The hook is the source loader's ``get_code``, for that one file: an import
    (``vfs.vfs_trans``) and kern_module's load of a kernel module from its
    file (fss is loaded afresh for each machine, under another name) both
    come through it, and neither reads a cached .pyc of the original."""
    if key is None:
        return
    m = BY_KEY[key]
    path = os.path.realpath(_module_path(m))
    source = planted_source(m)
    original = importlib.machinery.SourceFileLoader.get_code

    def get_code(self: importlib.machinery.SourceFileLoader, fullname: str) -> Any:
        if os.path.realpath(self.path) == path:
            return compile(source, self.path, "exec", dont_inherit=True)
        return original(self, fullname)

    importlib.machinery.SourceFileLoader.get_code = get_code  # type: ignore[method-assign]
    # what reads the source by line (lockdebug's lock names, the init sites
    # that are lock classes, tracebacks) reads the planted text too: with the
    # file's lines, an edit that adds or removes lines would rename the locks
    # below it and undo lockdebug's declared kept reversals
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    linecache.cache[_module_path(m)] = linecache.cache[path]
    for name, mod in list(sys.modules.items()):
        if os.path.realpath(getattr(mod, "__file__", "") or "") == path:
            raise RuntimeError(f"{name} is already loaded: plant before booting")


# ================================================================== runs (in workers)

def hunt(key: str | None, strategy: str, budget: int, seed: int = 0) -> dict[str, Any]:
    """Run the stress scenario under ``strategy`` (at most ``budget`` runs, seeds
    ``seed``...) with mistake ``key`` planted (None: the code as it is), stopping
    at the first failing run.  Called in a worker process of its own."""
    plant(key)
    from kern.machine.explore import DfsExplorer, RunResult, explore
    from tests.dev.fss.scenarios import stress

    sw = Stopwatch()
    found: RunResult | None = None
    if strategy == "dfs":
        dfs = DfsExplorer(stress, preemption_bound=DFS_BOUND)
        fails = dfs.run(max_runs=budget, stop_at_first=True)
        runs = dfs.runs
        found = fails[0] if fails else None
        complete = dfs.complete
    else:
        ex = explore(stress, strategy=strategy, runs=budget, seed=seed, stop_at_first=True)
        runs = ex.runs
        found = next(iter(ex.failures.values()), None)
        complete = False
    s = sw.sample(runs)
    return {"key": key, "strategy": strategy, "runs": runs, "wall": s.wall, "cpu": s.cpu,
            "found_at": runs if found is not None else None, "complete": complete,
            "outcome": str(found.outcome) if found is not None else "",
            "schedule": found.schedule if found is not None else "",
            "preemptions": found.preemptions if found is not None else None}


def b7_hunt(strategy: str, runs: int) -> dict[str, Any]:
    """Runs of the B7 scenario: all ``runs`` of random or pct (the failing ones
    counted), or dfs (bound 1) up to its first failure (at most ``runs``)."""
    from kern.machine.explore import DfsExplorer, explore
    from tests.dev.fss.scenarios import b7_unmount_vs_last_close as b7

    boot = {"trace": False}
    sw = Stopwatch()
    if strategy == "dfs":
        dfs = DfsExplorer(b7, preemption_bound=1, boot=boot)
        fails = dfs.run(max_runs=runs, stop_at_first=True)
        done, failing = dfs.runs, len(fails)
        first = dfs.runs if fails else None
        outcome = str(fails[0].outcome) if fails else ""
    else:
        opts = {"depth": 2, "steps": 100} if strategy == "pct" else {}
        ex = explore(b7, strategy=strategy, runs=runs, boot=boot, **opts)
        done, failing = ex.runs, ex.failing_runs
        first = ex.first_failure + 1 if ex.first_failure is not None else None
        outcome = str(next(iter(ex.failures.values())).outcome) if ex.failures else ""
    s = sw.sample(done)
    return {"strategy": strategy, "runs": done, "failing": failing, "first": first,
            "outcome": outcome, "wall": s.wall, "cpu": s.cpu}


def _pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    # spawn, one task per process: each mistake is planted in a fresh interpreter
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1)


def hunt_all(keys: Sequence[str | None], budget: int, jobs: int, b7_runs: int,
             progress: bool = True) -> tuple[dict[tuple[str | None, str], dict[str, Any]],
                                             dict[str, dict[str, Any]]]:
    """Every (mistake, strategy) pair, mistake by mistake, the strategies of one
    mistake in a rotating order; and B7's runs per strategy (submitted first:
    the longest tasks)."""
    tasks = []
    for i, key in enumerate(keys):
        k = i % len(STRATEGIES)
        for strat in STRATEGIES[k:] + STRATEGIES[:k]:
            tasks.append((key, strat))
    out: dict[tuple[str | None, str], dict[str, Any]] = {}
    b7: dict[str, dict[str, Any]] = {}
    with _pool(jobs) as pool:
        b7futs = {pool.submit(b7_hunt, strat, b7_runs * (2 if strat == "dfs" else 1)): strat
                  for strat in STRATEGIES}
        futs = {pool.submit(hunt, key, strat, budget): (key, strat) for key, strat in tasks}
        for fut in concurrent.futures.as_completed(b7futs):
            r = fut.result()
            b7[b7futs[fut]] = r
            if progress:
                print(f"  B7 {r['strategy']}: {r['failing']} of {r['runs']} runs failed "
                      f"(first {r['first']}; {r['cpu']:.1f} s CPU)", file=sys.stderr, flush=True)
        for fut in concurrent.futures.as_completed(futs):
            r = fut.result()
            out[futs[fut]] = r
            if progress:
                at = f"found at run {r['found_at']}" if r["found_at"] else "not found"
                print(f"  {r['key'] or 'unplanted'} {r['strategy']}: {at} "
                      f"({r['runs']} runs, {r['cpu']:.1f} s CPU) {r['outcome'][:90]}",
                      file=sys.stderr, flush=True)
    return out, b7


# ================================================================== the sweep's rate

def sweep_runs(strategy: str, n: int) -> Sample:
    """``n`` runs of the fss sweep under ``strategy`` (dfs: its first ``n`` schedules)."""
    from kern.machine.explore import DfsExplorer, run_scenario
    from tests.dev.fss.scenarios import sweep

    sw = Stopwatch()
    if strategy == "dfs":
        done = sum(1 for _ in zip(range(n), DfsExplorer(sweep, preemption_bound=DFS_BOUND),
                                  strict=False))
    else:
        done = 0
        for seed in range(n):
            r = run_scenario(sweep, strategy=strategy, seed=seed)
            if r.failed:
                raise RuntimeError(f"the sweep failed under {strategy}: {r}")
            done += 1
    return sw.sample(done)


def delay_bug(runs: int) -> dict[str, Any]:
    """Failing runs of ``runs`` of the delay scenario, per strategy (each strategy's
    rate timed after a run of each has warmed both alike)."""
    from kern.machine.explore import explore
    from tests.kern.sched_scenarios import recycled_under_reader

    out = {}
    for strat in ("random", "pct"):
        explore(recycled_under_reader, strategy=strat, runs=1, boot=FAST)
    for strat in ("random", "pct"):
        sw = Stopwatch()
        ex = explore(recycled_under_reader, strategy=strat, runs=runs, boot=FAST)
        out[strat] = (ex, sw.sample(runs))
    return out


# ================================================================== main

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=3, rounds_quick=2)
    ap.add_argument("--budget", type=int, default=None,
                    help="runs per strategy per planted mistake (default 100; --quick 30; "
                         "--smoke 1)")
    ap.add_argument("--delay-runs", type=int, default=None,
                    help="runs per strategy of the delay scenario (default 1000; --quick 300; "
                         "--smoke 1)")
    ap.add_argument("--b7-runs", type=int, default=None,
                    help="runs per strategy of the B7 scenario (default 200; --quick 110; "
                         "--smoke 1; dfs gets twice as many)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes for the planted mistakes (default: the CPUs)")
    ap.add_argument("--only", default="",
                    help="comma-separated mistakes (F1,V3...; default all; --smoke F4)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    budget = args.budget or pick(args, 100, 30, 1)
    delay_runs = args.delay_runs or pick(args, 1000, 300, 1)
    b7_runs = args.b7_runs or pick(args, 200, 110, 1)
    per_round = pick(args, 8, 4, 1)
    jobs = args.jobs or len(os.sched_getaffinity(0))
    keys = [k.strip() for k in args.only.split(",") if k.strip()] or \
        pick(args, [m.key for m in MUTANTS], [m.key for m in MUTANTS], ["F4"])
    unknown = [k for k in keys if k not in BY_KEY]
    if unknown:
        ap.error(f"unknown mistake(s) {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
    for k in keys:
        planted_source(BY_KEY[k])  # every edit still applies (before any worker starts)

    rep = Report("bench_explore",
                 f"exploration: the fss sweep's runs per second per strategy; the delay bug "
                 f"in {delay_runs} runs; {len(keys)} planted concurrency mistakes, "
                 f"{budget} runs per strategy each", args)

    # 1. runs per second of the fss sweep, strategies side by side
    res = rounds({s: (lambda s=s: sweep_runs(s, per_round)) for s in STRATEGIES},
                 n_rounds(args), warmups(args))
    for s in STRATEGIES:
        rep.rate(f"fss sweep under {s}" + (f" (bound {DFS_BOUND})" if s == "dfs" else ""),
                 res[s], "runs/s")

    # 2. the delay bug
    for strat, (ex, sample) in delay_bug(delay_runs).items():
        first = f"first at run {ex.first_failure + 1}" if ex.first_failure is not None else \
            "none"
        rep.value(f"delay bug: failing runs of {delay_runs} under {strat}",
                  [ex.failing_runs], "", note=f"{first}; {sample.rate('cpu'):.0f} runs per "
                  "CPU second")

    # 3. the planted mistakes, after the unplanted control
    found, b7 = hunt_all([None, *keys], budget, jobs, b7_runs)
    for s in STRATEGIES:
        r = b7[s]
        label = {"random": "random", "pct": "pct (depth 2, 100 steps)",
                 "dfs": "dfs (bound 1)"}[s]
        if s == "dfs":
            rep.value(f"B7 by schedule alone: runs {label} needed to deadlock it",
                      [r["first"] or 0], "",
                      note=(f"{r['runs']} runs" if r["first"] else
                            f"none in {r['runs']} runs (0: not found)")
                      + f"; {r['cpu']:.0f} s CPU")
        else:
            rep.value(f"B7 by schedule alone: deadlocking runs of {r['runs']} under {label}",
                      [r["failing"]], "",
                      note=(f"first at run {r['first']}" if r["first"] else "none")
                      + f"; {r['cpu']:.0f} s CPU")
    for s in STRATEGIES:
        ctl = found[(None, s)]
        rep.value(f"unplanted stress scenario: failing runs under {s}",
                  [1 if ctl["found_at"] else 0], "",
                  note=(f"{ctl['runs']} runs" + (", every schedule within the bound"
                                                 if ctl["complete"] else "")
                        + (f"; FAILED: {ctl['outcome']}" if ctl["found_at"] else "")))
    # a failure the unplanted code also has is not the mistake's
    control = {found[(None, s)]["outcome"] for s in STRATEGIES if found[(None, s)]["found_at"]}
    for k in keys:
        for s in STRATEGIES:
            r = found[(k, s)]
            if r["found_at"] and r["outcome"] in control:
                r["found_at"] = None
                r["outcome"] = "stopped at the unplanted code's failure: " + r["outcome"]
    for s in STRATEGIES:
        hits = [k for k in keys if found[(k, s)]["found_at"]]
        rs = [found[(k, s)] for k in keys]
        cpu = sum(r["cpu"] for r in rs)
        nruns = sum(r["runs"] for r in rs)
        rep.value(f"planted mistakes found by {s} within {budget} runs", [len(hits)],
                  f"of {len(keys)}",
                  note=(", ".join(hits) or "none") + f"; {nruns} runs, {cpu:.0f} s CPU")
    union = [k for k in keys if any(found[(k, s)]["found_at"] for s in STRATEGIES)]
    rep.value("planted mistakes found by any strategy", [len(union)], f"of {len(keys)}",
              note=", ".join(union) or "none")
    for k in keys:
        m = BY_KEY[k]
        cells = []
        for s in STRATEGIES:
            r = found[(k, s)]
            cells.append(f"{s} run {r['found_at']}" if r["found_at"] else f"{s} -")
        first = next((found[(k, s)] for s in STRATEGIES if found[(k, s)]["found_at"]), None) \
            or next((found[(k, s)] for s in STRATEGIES if found[(k, s)]["outcome"]), None)
        how = f": {first['outcome'][:160]}" if first else ""
        rep.note(f"{k} ({m.module.replace('.', '/')}.py) {m.what}: {', '.join(cells)}{how}")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
