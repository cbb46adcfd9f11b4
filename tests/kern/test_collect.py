"""The collector policy (kern/machine/collect.py's MachineRuns) in the runners that
keep their own loops: DfsExplorer, and the campaign runner's scenario and pytest
runs.  Each run's halted machine is gone, even as unreachable garbage, once the
run is done with; the young threshold is raised while the machines run and back
after (and while a DfsExplorer waits for its caller)."""

from __future__ import annotations

import gc
import itertools
import os
import textwrap
import weakref

from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.cpu import curmachine
from kern.kern_synch import preempt
from kern.machine.collect import YOUNG_THRESHOLD

FAST = {"config": "BARE", "trace": False, "lockdebug": False}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# what the scenario saw: its machine (weakly) and the young threshold
machines: list[weakref.ref] = []
thresholds: list[int] = []


async def stepping() -> None:
    """Two kernel threads with a preemption point each, joined (a few schedules)."""
    machines.append(weakref.ref(curmachine()))
    thresholds.append(gc.get_threshold()[0])

    async def step(_: object) -> None:
        await preempt()

    ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, step, None, n)[1] for n in "ab"]
    for l in ls:
        await kthread_join(l)


def _start() -> tuple[int, int, int]:
    machines.clear()
    thresholds.clear()
    gc.collect()   # (what earlier tests left is not this test's)
    return gc.get_threshold()


def test_dfs_explorer_collects_each_run_and_lowers_the_threshold_between():
    from kern.machine.explore import DfsExplorer

    before = _start()
    between = []
    kept = []   # the caller keeps every result: they must not keep their machines
    for r in itertools.islice(DfsExplorer(stepping, preemption_bound=1, boot=FAST), 4):
        between.append(gc.get_threshold())
        kept.append(r)
    assert len(kept) == 4
    assert thresholds == [max(before[0], YOUNG_THRESHOLD)] * 4
    assert between == [before] * 4
    assert [m() for m in machines] == [None] * 4   # no gc.collect() here
    assert all(r.trace is not None for r in kept)


def test_campaign_scenario_runs_collect_each_run():
    from kern.machine.campaign import Target, task_runs

    before = _start()
    b = task_runs(Target.parse(f"{__name__}:stepping", rootdir=ROOT, boot=FAST), "random", {},
                  [1, 2, 3])
    assert b.runs == 3 and b.failing == 0
    assert thresholds == [max(before[0], YOUNG_THRESHOLD)] * 3
    assert gc.get_threshold() == before
    assert [m() for m in machines] == [None] * 3


TEST = textwrap.dedent('''
    import weakref

    import kern

    earlier = []   # the machines of this task's earlier runs (the module stays loaded)


    def test_boots():
        assert [m() for m in earlier] == [None] * len(earlier)   # no gc.collect() here
        with kern.boot(seed=1, config="BARE", trace=False, lockdebug=False) as k:
            k.run(_nothing)
        earlier.append(weakref.ref(k))


    async def _nothing():
        pass
''')


def test_campaign_pytest_runs_collect_each_run(tmp_path, monkeypatch):
    """A test run many times in one pytest session: each run's machines are gone
    when the next run starts."""
    from kern.machine import machine as _machine
    from kern.machine.campaign import Target, task_runs

    (tmp_path / "test_target.py").write_text(TEST)
    # (this test's own plugin keeps the machines it sees boot, for its report)
    monkeypatch.setattr(_machine, "boot_observers", [])
    _start()
    b = task_runs(Target.parse("test_target.py::test_boots", rootdir=str(tmp_path)), "random",
                  {}, [1, 2, 3, 4])
    assert (b.runs, b.failing) == (4, 0), b.failures


def test_machine_runs_puts_the_thresholds_back_when_its_last_collection_is_interrupted(
        monkeypatch):
    """A Ctrl-C that lands in the collection at the end of the runs (``close``)
    must not leave the young threshold raised for the rest of the process."""
    import pytest

    from kern.machine import collect

    before = _start()
    assert before == collect._BASELINE   # (else MachineRuns raises nothing to put back)

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(collect, "collect_halted", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with collect.MachineRuns():
            assert gc.get_threshold()[0] == max(before[0], YOUNG_THRESHOLD)
    assert gc.get_threshold() == before


def test_the_table_of_cpython_default_thresholds_knows_the_running_python():
    """collect.py tells thresholds a user set before importing kemu from
    CPython's own by a table of the defaults per version: it must know this
    one, and say what a fresh interpreter says (else a user's thresholds set
    before the import are raised over, or the raise is lost)."""
    import ast
    import subprocess
    import sys

    import pytest

    from kern.machine import collect

    if sys.implementation.name != "cpython":
        pytest.skip("the table is CPython's")
    r = subprocess.run([sys.executable, "-I", "-S", "-c",
                        "import gc; print(tuple(gc.get_threshold()))"],
                       capture_output=True, text=True, check=True)
    fresh = ast.literal_eval(r.stdout.strip())
    assert collect._CPYTHON_DEFAULTS.get(sys.version_info[:2]) == fresh, (
        f"add CPython {sys.version_info[:2]}'s defaults {fresh} to _CPYTHON_DEFAULTS")
    assert collect._BASELINE == fresh
