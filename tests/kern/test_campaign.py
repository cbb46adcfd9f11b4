"""Campaigns (kern/machine/campaign.py) and ``kemu explore``: many runs of a
scenario or a test, in this process, on a local Dask cluster or on one given
by its scheduler's address; distinct failures, shrunk, with their replay."""

from __future__ import annotations

import io
import os
import re
import resource
import textwrap
import time

import pytest

from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.kern_synch import preempt
from kern.machine.campaign import (
    Campaign,
    CampaignError,
    Target,
    close_local_cluster,
    environ_put_back,
    local_cluster,
    replay,
)
from kern.machine.explore import DfsExplorer, run_scenario
from tests.pytest_child import run_pytest
from tools.lib import forkserver

from .sched_scenarios import lost_update

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = {"config": "BARE", "trace": False, "lockdebug": False}
LOST = "tests.kern.sched_scenarios:lost_update"
RECYCLED = "tests.kern.sched_scenarios:recycled_under_reader"


def target(spec: str, boot: dict | None = FAST, rootdir: str = REPO) -> Target:
    return Target.parse(spec, rootdir=rootdir, boot=boot)


#: This process's environment before the module's cluster started.
_ENV_AT_IMPORT = dict(os.environ)


@pytest.fixture(scope="module")
def cluster():
    """A Dask cluster of two worker processes, given to campaigns by its address.

    Its tests come last in the module: a module-scoped fixture lives until the
    module's end, and an idle cluster is not free (its scheduler's and two
    workers' heartbeats and monitors, about 0.1 s of CPU a second), so it is
    made when the first of them runs and closed right after the last."""
    pytest.importorskip("distributed")
    import logging

    import psutil  # (distributed's)

    # the Nanny leaves its pre-spawn variables (PYTHONHASHSEED=6640...) in
    # this process's environment, as it does in a user's (environ_put_back):
    # put ours back, so the processes the later tests of this pytest worker
    # start do not inherit them
    env = dict(os.environ)
    # kemu's own start-up (local_cluster): workers forked from a fork server
    # that has imported distributed and kemu, each what a spawned one is
    before = _reaped_cpu()
    try:
        lc = local_cluster(2, silence_logs=logging.CRITICAL)
        try:
            environ_put_back(env)
            yield lc.scheduler_address
            workers = sum(sum(psutil.Process(n.pid).cpu_times()[:2])
                          for n in lc.workers.values() if n.pid)
        finally:
            # also stops its fork server, reaped here with the workers' CPU
            # time (RUSAGE_CHILDREN, where benchmarks/bench_suite.py counts the
            # suite's CPU), as spawned workers' was
            close_local_cluster(lc)
    finally:
        environ_put_back(env)
    reaped = _reaped_cpu() - before
    assert reaped >= 0.9 * workers, f"{workers:.2f} s of the workers' CPU, {reaped:.2f} reaped"


def _reaped_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --- in this process ----------------------------------------------------------------------

def test_a_campaign_groups_shrinks_and_replays():
    res = Campaign(target(LOST), "random", runs=30, workers=1).run()
    assert res.runs == 30 and res.failing > 0
    (f,) = res.failures
    assert f.key == ("KernelPanic", "tests/kern/sched_scenarios.py:138 in lost_update")
    assert f.count == res.failing
    assert f.first.seed == min(range(30))  # the first seed that failed
    assert f.shrunk is not None and f.shrunk.preemptions == 1 < f.first.preemptions
    again = replay(target(LOST), f.shrunk.schedule)
    assert again.outcome == f.shrunk.outcome and again.failed
    table = res.table()
    assert "1 distinct" in table and "KernelPanic" in table
    assert f"replay:   kemu explore {LOST} --config=BARE --lockdebug=off " \
           f"--replay={f.shrunk.schedule}" in table


def test_pct_finds_what_random_does_not():
    """The reader held back across 50 copies (tests/kern/test_sched.py): pct
    finds it, random never does in the same runs."""
    pct = Campaign(target(RECYCLED), "pct:steps=100", runs=300, workers=1,
                   shrink_runs=0).run()
    rnd = Campaign(target(RECYCLED), "random", runs=300, workers=1, shrink_runs=0).run()
    assert rnd.failing == 0 and pct.failing > 0
    assert 'assertion "sc.slots[slot] == 0" failed' in pct.failures[0].first.outcome.message


def test_pct_without_steps_calibrates_them():
    res = Campaign(target(RECYCLED), "pct:depth=2", runs=20, workers=1, shrink_runs=0).run()
    assert res.strategy.startswith("pct:depth=2,steps=")
    assert int(res.strategy.rsplit("=", 1)[1]) > 1


def test_a_time_budget_stops_the_campaign():
    # (0.3 s: the budget is what the test waits out, CPU spent on runs; 1 s before)
    res = Campaign(target(LOST), "random", time_budget=0.3, workers=1, batch=5,
                   shrink_runs=0).run()
    assert res.stopped == "time budget" and res.runs >= 5 and res.runs % 5 == 0


async def joined_stepping() -> str:
    """A and B run 3 segments each (2 preemption points) and are joined; the
    run always fails, naming its order (so a campaign counts every run)."""
    log: list[str] = []

    def stepper(name: str):
        async def run(_):
            log.append(name)
            for _ in range(2):
                await preempt()
                log.append(name)
        return run

    ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, stepper(n), None, n)[1] for n in "AB"]
    for l in ls:
        await kthread_join(l)
    raise AssertionError("".join(log))


async def joined_stepping_by_schedule() -> str:
    """joined_stepping, failing with an error class named after the run's
    choices: a campaign's distinct failures are then its distinct schedules."""
    from kern.cpu import curmachine

    try:
        await joined_stepping()
    except AssertionError as e:
        name = "Schedule_" + "_".join(str(c) for c in curmachine().decisions.choices)
        raise type(name, (AssertionError,), {})(str(e)) from None
    return ""


def test_dfs_in_this_process_is_the_dfs_explorer():
    res = Campaign(target(f"{__name__}:joined_stepping"), "dfs:bound=1", workers=1,
                   shrink_runs=0).run()
    dfs = DfsExplorer(joined_stepping, preemption_bound=1, boot=FAST)
    assert len(list(dfs)) == res.runs and dfs.complete and res.complete
    assert res.expansion_runs == 1 and res.failing == res.runs  # (1: the first run)


# --- a test as the target -----------------------------------------------------------------

TEST_FILE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import kern
    from tests.kern.sched_scenarios import recycled_under_reader

    def test_recycled():
        # the campaign gives every machine its own strategy and seed
        with kern.boot(seed=0, config="BARE", trace=False, lockdebug=False) as k:
            assert k.run(recycled_under_reader) in ("cache", "disk")

    def test_skips():
        import pytest
        pytest.skip("not here")
""")


def test_a_test_runs_as_its_scenario_does(tmp_path):
    """A test that boots a machine and runs the scenario fails at the same seeds,
    with the same schedules, as the scenario itself; its replay line reruns it."""
    (tmp_path / "test_rr.py").write_text(TEST_FILE.format(repo=REPO))
    t = Target.parse("test_rr.py::test_recycled", rootdir=str(tmp_path))
    as_test = Campaign(t, "pct:steps=100", runs=100, workers=1, shrink_runs=0).run()
    as_scenario = Campaign(target(RECYCLED), "pct:steps=100", runs=100, workers=1,
                           shrink_runs=0).run()
    assert as_test.failing == as_scenario.failing > 0
    (ft,), (fs,) = as_test.failures, as_scenario.failures
    assert (ft.first.seed, ft.first.schedule) == (fs.first.seed, fs.first.schedule)
    line = next(ln for ln in as_test.table().splitlines() if "replay:" in ln)
    cmd = line.split("replay:", 1)[1].strip()
    assert cmd == f"cd {tmp_path} && pytest test_rr.py::test_recycled " \
                  f"--kemu-replay={ft.first.schedule}"
    out = run_pytest(tmp_path, "-q", "test_rr.py::test_recycled",
                     f"--kemu-replay={ft.first.schedule}")
    assert out.returncode == 1 and 'assertion "sc.slots[slot] == 0" failed' in out.stdout
    with pytest.raises(CampaignError, match="skips: not here"):
        Campaign(Target.parse("test_rr.py::test_skips", rootdir=str(tmp_path)), runs=2,
                 workers=1).run()
    with pytest.raises(CampaignError, match="selects 2 tests"):
        Campaign(Target.parse("test_rr.py", rootdir=str(tmp_path)), runs=2, workers=1).run()


# --- the command ----------------------------------------------------------------------------

def test_kemu_explore_on_a_local_cluster(tmp_path):
    """The command, as a user types it: a local cluster of two workers, the
    table on standard output, the progress on standard error, status 1."""
    out = forkserver.run(["-m", "tools.kemu", "explore", LOST, "--config=BARE",
                          "--runs=40", "--workers=2"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert "on a local cluster of 2 worker processes" in out.stdout
    assert "40 runs" in out.stdout and "KernelPanic" in out.stdout
    assert "[##############################] 40/40 runs" in out.stderr
    cmd = next(ln for ln in out.stdout.splitlines() if "replay:" in ln).split("replay:")[1]
    assert cmd.strip().startswith(f"kemu explore {LOST} --config=BARE --replay=k1.")
    args = cmd.split()[2:] + ["--trace", str(tmp_path / "t.json")]
    again = forkserver.run(["-m", "tools.kemu", "explore", *args], cwd=REPO,
                           capture_output=True, text=True)
    assert again.returncode == 1 and again.stdout.startswith("KernelPanic: panic: kernel "
                                                             "diagnostic assertion")
    assert (tmp_path / "t.json").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["nonsense"], "a target is a scenario module:function"),
    (["tests.kern.nowhere:f"], "cannot import tests.kern.nowhere"),
    (["tests.kern.sched_scenarios:no_such"], "has no no_such"),
    (["tests.kern.sched_scenarios:softc"], "a scenario is an async def"),
    (["tests/kern/nothere.py::test_x"], "no test file tests/kern/nothere.py"),
    ([LOST, "--strategy=dfs:bond=1"], "unknown dfs option(s) bond"),
    ([LOST, "--strategy=pct:dept=2"], "dept"),
    ([LOST, "--strategy=fair"], "unknown strategy 'fair'"),
    ([LOST, "--time=0"], "--time 0: must be positive"),
    ([LOST, "--time=soon"], "--time soon: expected seconds"),
    ([LOST, "--runs=0"], "runs must be at least 1"),
    ([LOST, "--trace=x.json"], "--trace goes with --replay"),
    ([LOST, "--replay=xx"], "not a kemu schedule string"),
])
def test_kemu_explore_refuses_what_it_cannot_run(args, message, monkeypatch):
    from tools.kemu import main

    monkeypatch.chdir(REPO)
    err = io.StringIO()
    assert main(["explore", *args, "--workers=1"], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue().startswith("kemu explore: ") and message in err.getvalue(), \
        err.getvalue()


def test_scenario_runs_are_the_explorers_runs():
    """The campaign's run of a seed is run_scenario's (same decisions, same outcome)."""
    from kern.machine.campaign import task_runs

    for seed in range(5):
        b = task_runs(target(LOST), "random", {}, [seed])
        r = run_scenario(lost_update, strategy="random", seed=seed, boot=FAST)
        (n, rec), = b.failures.values()
        assert rec.schedule == r.schedule and rec.outcome == r.outcome


def test_a_campaign_on_its_own_local_cluster_leaves_the_environment_as_it_was():
    """A campaign run in this process with two workers starts and closes its
    own LocalCluster: the Nanny's pre-spawn variables (PYTHONHASHSEED=6640,
    OMP_NUM_THREADS=1, MALLOC_TRIM_THRESHOLD_...) and __DASK_PARENT_PID it set
    here to pass them on to its worker processes are gone afterwards."""
    pytest.importorskip("distributed")
    before = dict(os.environ)
    res = Campaign(target(LOST), "random", runs=6, workers=2, shrink_runs=0).run()
    assert res.where == "a local cluster of 2 worker processes" and res.workers == 2
    assert res.runs == 6
    assert dict(os.environ) == before


async def worker_facts() -> None:
    """Fails with what the process that runs it is: its hash seed (by a
    string's hash), environment, configuration, modules, path, directory."""
    import gc
    import json
    import sys

    import dask

    facts = {"hash": hash("kemu"), "env": dict(os.environ), "cwd": os.getcwd(),
             "path": [p for p in sys.path if "dask-scratch-space" not in p],
             "modules": sorted(sys.modules), "gc": gc.get_threshold(), "argv": sys.argv,
             "flags": str(sys.flags), "config": dask.config.config, "ppid": os.getppid()}
    raise RuntimeError("facts " + json.dumps(facts, sort_keys=True, default=str))


def test_a_forked_worker_is_a_spawned_worker(monkeypatch):
    """kemu's own LocalCluster forks its workers from a fork server that has
    imported distributed and kemu (local_cluster): each worker must be what
    Dask's spawned worker is, for the same campaign to find the same runs.
    The workers of the default and of a user's own choice (spawn, in a DASK_
    variable: it wins) have the same hash seed, environment (the Nanny's
    PYTHONHASHSEED=6640, MALLOC_TRIM_THRESHOLD_...), Dask configuration,
    imported modules, sys.path and working directory."""
    pytest.importorskip("distributed")
    import json
    import logging

    from kern.machine import campaign

    def facts() -> dict:
        # (one worker: kemu explore's start-up, local_cluster, given by its address)
        env = dict(os.environ)
        lc = local_cluster(1, silence_logs=logging.CRITICAL)
        try:
            environ_put_back(env)
            res = Campaign(target(f"{__name__}:worker_facts"), "random", runs=1,
                           scheduler=lc.scheduler_address, shrink_runs=0).run()
        finally:
            close_local_cluster(lc)
            environ_put_back(env)
        (f,) = res.failures
        return json.loads(f.first.outcome.message.split("facts ", 1)[1])

    fs = campaign._forkserver()
    ours = fs is not None and fs._forkserver_pid is None  # (none running: ours starts)
    forked = facts()
    assert fs is None or fs._forkserver_pid is None  # (stopped with its cluster)
    method = "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD"
    monkeypatch.setenv(method, "spawn")
    spawned = facts()
    del spawned["env"][method]
    assert spawned.pop("ppid") == os.getpid()  # (the user's choice won)
    assert (forked.pop("ppid") != os.getpid()) == ours  # (forked from the server)
    assert forked["env"]["PYTHONHASHSEED"] == "6640"
    # (Dask appends a route to this list of this process's configuration at
    # each scheduler's start, the Nanny hands it on: one more each cluster)
    for f in (forked, spawned):
        f["config"]["distributed"]["scheduler"]["http"].pop("routes")
    # (multiprocessing's own modules of the fork server's children)
    forked["modules"].remove("multiprocessing.forkserver")
    forked["modules"].remove("multiprocessing.popen_forkserver")
    assert forked == spawned


def test_ctrl_c_in_a_run_in_this_process_ends_the_campaign(monkeypatch):
    """A Ctrl-C while a run's machine runs in this process (workers=1, and
    the default's first second) ends its trio run, which the machine reports
    as its failure (a KernelPanic caused by the KeyboardInterrupt): the
    campaign ends with the KeyboardInterrupt (kemu explore: status 130)
    rather than count it as a failing run and go on."""
    import kern
    from kern.machine import campaign

    real = campaign.run_scenario
    calls = []

    def interrupted_third(*args, **kw):
        r = real(*args, **kw)
        calls.append(1)
        if len(calls) == 3:
            p = kern.KernelPanic("panic: the machine's run failed: KeyboardInterrupt()")
            p.__cause__ = KeyboardInterrupt()
            r.exception = p
        return r

    monkeypatch.setattr(campaign, "run_scenario", interrupted_third)
    with pytest.raises(KeyboardInterrupt):
        Campaign(target(LOST), "random", runs=10, workers=1, shrink_runs=0).run()
    assert len(calls) == 3


class _FakeCluster:
    """In place of distributed.LocalCluster: notes each module's
    get_mp_context, and the context it gives in the caller's thread and in
    another thread."""

    def __init__(self, **kw):
        import threading

        from distributed import nanny, process

        self.funcs = tuple(m.__dict__.get("get_mp_context") for m in (nanny, process))
        try:
            self.here = [f() for f in self.funcs]
        except TypeError:  # (a distributed of other internals: None, or other arguments)
            return
        self.there: list = []
        t = threading.Thread(target=lambda: self.there.extend(f() for f in self.funcs))
        t.start()
        t.join()


@pytest.fixture
def no_forkserver_yet(monkeypatch):
    """local_cluster sees a fork server of its own that has not started (the
    module's cluster may run one) and makes _FakeClusters."""
    from multiprocessing import forkserver as mpf

    import distributed

    from kern.machine import campaign

    fs = mpf.ForkServer()
    monkeypatch.setattr(campaign, "_forkserver", lambda: fs)
    monkeypatch.setattr(distributed, "LocalCluster", _FakeCluster)


@pytest.mark.parametrize("change", ["missing", "renamed", "other signature"])
def test_local_cluster_keeps_dasks_default_when_distributed_differs(change, no_forkserver_yet,
                                                                    monkeypatch):
    """local_cluster hands its start method over through get_mp_context in
    distributed.nanny and distributed.process; a distributed whose internals
    differ gets Dask's default, without an error, and is left as it was."""
    pytest.importorskip("distributed")
    from distributed import nanny, process, utils

    if change == "missing":
        monkeypatch.delattr(process, "get_mp_context")
    elif change == "renamed":
        monkeypatch.setattr(nanny, "get_mp_ctx", nanny.get_mp_context, raising=False)
        monkeypatch.delattr(nanny, "get_mp_context")
    else:
        monkeypatch.setattr(nanny, "get_mp_context", lambda method: utils.get_mp_context())
    mine = nanny.__dict__.get("get_mp_context"), process.__dict__.get("get_mp_context")
    lc = local_cluster(1)
    assert lc.funcs == mine  # (nothing replaced: Dask's default)
    assert (nanny.__dict__.get("get_mp_context"), process.__dict__.get("get_mp_context")) == mine


def test_local_cluster_gives_the_fork_server_to_its_own_nannys_only(no_forkserver_yet):
    """While local_cluster starts its cluster, a Nanny another thread starts
    (the user's own cluster) gets Dask's context, and distributed's modules
    are theirs again afterwards."""
    pytest.importorskip("distributed")
    import multiprocessing

    from distributed import nanny, process, utils

    lc = local_cluster(1)
    ours = multiprocessing.get_context("forkserver")
    assert lc.here == [ours, ours]
    assert lc.there == [utils.get_mp_context()] * 2 and ours not in lc.there
    assert nanny.get_mp_context is utils.get_mp_context is process.get_mp_context


def test_a_local_cluster_that_fails_to_start_stops_its_fork_server(tmp_path):
    """A cluster whose worker fails to start (an argument its Worker refuses)
    raises, and leaves no fork server running (in a process of its own: the
    module's cluster may have one)."""
    pytest.importorskip("distributed")
    import subprocess
    import sys

    script = tmp_path / "fails.py"
    script.write_text(textwrap.dedent("""\
        import logging, os
        from kern.machine import campaign

        if __name__ == "__main__":  # (not in the workers: they import it as __mp_main__)
            try:
                campaign.local_cluster(1, silence_logs=logging.CRITICAL, no_such_argument=1)
            except Exception as e:
                print("raised", type(e).__name__)
            assert campaign._forkserver()._forkserver_pid is None
            def ppid(p):
                try:  # (another process may leave between the listing and the read)
                    return open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]
                except FileNotFoundError:
                    return None
            kids = [p for p in os.listdir("/proc") if p.isdigit() and ppid(p) == str(os.getpid())]
            # (each child's -c code: where it falls in the command line depends
            # on the interpreter's flags, -B with PYTHONDONTWRITEBYTECODE)
            argvs = [open(f"/proc/{p}/cmdline").read().split("\\0") for p in kids]
            print("children", sorted(a[a.index("-c") + 1][:40] if "-c" in a else a[0]
                                     for a in argvs))
        """))
    out = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "raised" in out.stdout, out.stdout + out.stderr
    assert "forkserver" not in out.stdout.split("children", 1)[1], out.stdout


def test_a_default_campaign_starts_its_cluster_only_when_its_runs_take_long(monkeypatch):
    """Left to its default, a campaign runs in this process until its tasks
    have taken LAZY_CLUSTER_AFTER seconds, then on its local cluster; the
    runs found are those of a campaign in this process, wherever they ran."""
    pytest.importorskip("distributed")
    from kern.machine import campaign

    kw = dict(runs=60, shrink_runs=5)
    here = Campaign(target(RECYCLED), "pct:steps=100", workers=1, **kw).run()
    small = Campaign(target(RECYCLED), "pct:steps=100", **kw).run()
    assert (small.where, small.workers) == ("this process", 1)
    monkeypatch.setattr(campaign, "LAZY_CLUSTER_AFTER", 1e-9)  # (one task here, then the cluster)
    lazy = Campaign(target(RECYCLED), "pct:steps=100", **kw).run()
    n = os.cpu_count()
    assert (lazy.where, lazy.workers) == (f"this process, then a local cluster of {n} worker "
                                          "processes", n)
    for res in (small, lazy):
        assert (res.runs, res.failing) == (here.runs, here.failing) and here.failing
        assert [(f.key, f.count, f.first.seed, f.first.schedule, f.best.schedule)
                for f in res.failures] == \
            [(f.key, f.count, f.first.seed, f.first.schedule, f.best.schedule)
             for f in here.failures]


def test_a_cluster_with_no_worker_is_named_not_waited_for(monkeypatch):
    """Runs sent to a scheduler no worker has joined would wait for ever: the
    campaign waits WORKER_PATIENCE seconds for one, then stops, saying so."""
    distributed = pytest.importorskip("distributed")
    import logging

    from kern.machine import campaign

    monkeypatch.setattr(campaign, "WORKER_PATIENCE", 0.5)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0",
                                  silence_logs=logging.CRITICAL) as lc:
        t0 = time.monotonic()
        with pytest.raises(CampaignError, match="no Dask worker joined the cluster at "
                                                 + re.escape(lc.scheduler_address)):
            Campaign(target(LOST), "random", runs=3, scheduler=lc.scheduler_address).run()
        assert time.monotonic() - t0 < 30


# --- on a cluster ---------------------------------------------------------------------------

def test_the_cluster_finds_the_same_runs_as_this_process(cluster):
    kw = dict(runs=200, shrink_runs=0)
    here = Campaign(target(RECYCLED), "pct:steps=100", workers=1, **kw).run()
    there = Campaign(target(RECYCLED), "pct:steps=100", scheduler=cluster, **kw).run()
    assert there.where == f"the cluster at {cluster}" and there.workers == 2
    assert (there.runs, there.failing) == (here.runs, here.failing)
    assert [(f.key, f.count, f.first.seed, f.first.schedule) for f in there.failures] == \
        [(f.key, f.count, f.first.seed, f.first.schedule) for f in here.failures]


def test_dfs_shared_out_covers_each_schedule_once(cluster):
    """Cut into subtrees for two workers, the search runs every schedule within
    the bound exactly once, as DfsExplorer does in one process."""
    for bound in (0, 1, 2, None):
        res = Campaign(target(f"{__name__}:joined_stepping_by_schedule"),
                       f"dfs:bound={bound}", scheduler=cluster, shrink_runs=0).run()
        alone = list(DfsExplorer(joined_stepping_by_schedule, preemption_bound=bound,
                                 boot=FAST))
        schedules = {r.outcome.error for r in alone}
        assert len(schedules) == len(alone)  # the explorer's runs: distinct schedules
        assert res.complete and res.expansion_runs > 0
        assert res.runs == len(alone) == res.failing, (bound, res.runs, len(alone))
        # the cluster's runs are those schedules, each run once
        counts = {f.key[0]: f.count for f in res.failures}
        assert set(counts) == schedules, bound
        assert set(counts.values()) == {1}, bound


def test_dfs_finds_the_lost_update_with_one_preemption(cluster):
    res = Campaign(target(LOST), "dfs:bound=1", scheduler=cluster, shrink_runs=20).run()
    (f,) = res.failures
    assert f.best.preemptions == 1 and res.complete


def test_the_cluster_leaves_this_process_environment_alone(cluster):
    """What the Nanny set while starting the module's cluster is gone: a fixed
    PYTHONHASHSEED would reach every process the later tests start."""
    import dask

    keys = {*dask.config.get("distributed.nanny.pre-spawn-environ"), "PYTHONHASHSEED",
            "__DASK_PARENT_PID"}
    assert {k: os.environ.get(k) for k in keys} == {k: _ENV_AT_IMPORT.get(k) for k in keys}
