"""kemu's scheduler: strategies, schedule strings, replay, dfs, shrinking, determinism."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import trio

import kern
from kern import (
    IPL_NONE,
    IPL_VM,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    kmutex_t,
    kpause,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.kern_synch import preempt, tsleep, yield_
from kern.machine.determinism import check_determinism
from kern.machine.explore import DfsExplorer, explore, run_scenario
from kern.machine.schedule import PREEMPT, SWITCH, YIELD, ScheduleError, decode, encode
from kern.machine.shrink import shrink
from tests.pytest_child import run_pytest

from .sched_scenarios import (
    BARE,
    lost_update,
    recycled_under_reader,
    sleeps_by_the_host_clock,
    two_stepping,
)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = {"config": "BARE", "trace": False, "lockdebug": False}


# --- schedule strings --------------------------------------------------------------------

def test_schedule_strings_round_trip_and_drop_trailing_zeros(tmp_path):
    choices = [0, 3, 0, 0, 1, 200, 70000, 0, 0]
    s = encode(choices)
    assert s.startswith("k1.") and s.isascii() and " " not in s
    assert decode(s) == choices[:7]
    assert encode([]) == encode([0, 0, 0])
    f = tmp_path / "sched.txt"
    f.write_text(s + "\n")
    assert decode(f"@{f}") == choices[:7]
    for bad in ("", "k2.AAAA", "k1.!!!", "nonsense"):
        with pytest.raises(ScheduleError):
            decode(bad)


def test_unknown_boot_option_is_an_error():
    with pytest.raises(TypeError, match="bogus"):
        kern.boot(bogus=1)
    with pytest.raises(TypeError, match="depth.*random takes: none"):
        kern.boot(strategy="random", depth=2)
    with pytest.raises(TypeError, match="steps"):
        kern.boot(strategy="pct", stepz=10)
    with pytest.raises(ValueError, match="unknown strategy 'fair'"):
        kern.boot(strategy="fair")
    with pytest.raises(ValueError, match="DfsExplorer"):
        kern.boot(strategy="dfs")
    with pytest.raises(TypeError, match="exclude"):
        kern.boot(strategy="pct", replay="k1.eNoDAAAAAAE")
    m = kern.boot(seed=0, strategy="pct", depth=2, steps=50)
    assert m.strategy.describe() == "pct(seed=0, depth=2, steps=50)"


# --- replay -------------------------------------------------------------------------------

def test_replay_gives_the_same_trace_and_decisions():
    first = run_scenario(lost_update, strategy="random", seed=3, boot=BARE)
    again = run_scenario(lost_update, replay=first.schedule, boot=BARE)
    assert len(first.decisions) > 10
    assert again.trace.text() == first.trace.text()
    assert again.decisions.choices == first.decisions.choices
    assert again.outcome == first.outcome


def test_the_zero_schedule_runs_each_lwp_until_it_blocks():
    """No preemption ever: A runs its 3 segments, then B (the first in the queue)."""
    r = run_scenario(two_stepping, 2, 2, replay=encode([]), boot=BARE)
    assert "".join(r.value) == "AAABBB"
    assert r.preemptions == 0


SUBPROCESS = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from kern.machine.explore import run_scenario
    from tests.kern.sched_scenarios import BARE, lost_update
    r = run_scenario(lost_update, replay=sys.argv[1], boot=BARE)
    sys.stdout.write(str(r.outcome) + "\\n" + r.trace.text())
""")


def _first_failing(scenario, *args, boot=BARE, limit=200):
    for seed in range(limit):
        r = run_scenario(scenario, *args, strategy="random", seed=seed, boot=boot)
        if r.failed:
            return r
    raise AssertionError(f"no failure in {limit} seeds")


def test_a_schedule_string_reproduces_a_failure_byte_for_byte_in_another_process():
    r = _first_failing(lost_update)
    assert r.outcome.error == "KernelPanic"
    expected = str(r.outcome) + "\n" + r.trace.text()
    for hashseed in ("1", "31337"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run([sys.executable, "-c", SUBPROCESS.format(repo=REPO), r.schedule],
                             capture_output=True, text=True, env=env, check=True, cwd=REPO)
        assert out.stdout == expected


def test_a_kernel_error_carries_its_schedule():
    r = _first_failing(lost_update)
    e = r.exception
    assert isinstance(e, kern.KernelPanic)
    assert e.schedule == r.schedule and e.crash.schedule == r.schedule
    assert e.strategy.startswith("random(seed=")
    with kern.boot(replay=e.schedule, config="BARE") as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(lost_update)
    assert ei.value.message == e.message


# --- strategies ---------------------------------------------------------------------------

def test_pct_finds_a_reader_delayed_across_50_steps_where_random_does_not():
    """The reader must wait at one mutex_enter while the copier runs 50 copies
    (each a preemption point at which the reader is runnable): uniform
    random choice lets that happen with probability 2**-50 per run.  PCT
    (depth 3, steps learnt from the runs) demotes the reader at that point
    with probability about 1/(2k).  Measured with these seeds: pct fails
    16 runs of 1000 (the first is run 29), random none."""
    pct = explore(recycled_under_reader, strategy="pct", runs=1000, boot=FAST)
    rnd = explore(recycled_under_reader, strategy="random", runs=1000, boot=FAST)
    assert rnd.failing_runs == 0
    assert pct.failing_runs >= 5
    assert pct.first_failure is not None and pct.first_failure < 200
    (found,) = pct.failures.values()
    assert found.outcome.error == "KernelPanic"
    assert 'assertion "sc.slots[slot] == 0" failed' in found.outcome.message
    assert found.outcome.site.startswith("tests/kern/sched_scenarios.py:")
    assert len(found.decisions) >= 50
    # and its schedule replays the failure
    again = run_scenario(recycled_under_reader, replay=found.schedule, boot=FAST)
    assert again.outcome == found.outcome


def test_dfs_enumerates_exactly_the_schedules_within_each_preemption_bound():
    """A and B each run 3 segments separated by 2 preemption points.  A
    schedule is a merge of the two segment sequences; a merge in b blocks
    switches b-1 times, and exactly one switch is free (after the lwp that
    ends first exits), so it has b-2 preemptions.  Merges starting with A
    in b blocks: b=2: 1; b=3: C(2,1)C(2,0) = 2; b=4: C(2,1)^2 = 4;
    b=5: C(2,2)C(2,1) = 2; b=6: 1; twice that with B first.  So the
    schedules with at most 0, 1, 2, 3, 4 preemptions number 2, 6, 14, 18
    and 20 = C(6,3), all the merges."""
    expected = {0: 2, 1: 6, 2: 14, 3: 18, 4: 20, None: 20}
    for bound, count in expected.items():
        dfs = DfsExplorer(two_stepping, 2, 2, preemption_bound=bound, boot=FAST)
        orders = ["".join(r.value) for r in dfs]
        assert dfs.complete and not dfs.truncated
        assert dfs.runs == count == len(set(orders)), bound
        assert all(sorted(o) == list("AAABBB") for o in orders)
    assert set(orders) == {o for o in _merges("AAA", "BBB")}


def _merges(a: str, b: str) -> list[str]:
    if not a or not b:
        return [a + b]
    return [a[0] + m for m in _merges(a[1:], b)] + [b[0] + m for m in _merges(a, b[1:])]


def test_dfs_finds_the_lost_update_and_stops_there():
    dfs = DfsExplorer(lost_update, 2, 2, preemption_bound=1, boot=FAST)
    failures = dfs.run(stop_at_first=True)
    assert len(failures) == 1 and failures[0].preemptions == 1
    assert not dfs.complete


def test_pct_yield_lets_a_spin_wait_finish():
    """A poller spinning with yield_() until a worker is done: PCT drops the
    yielder below the worker, so every seed finishes (no livelock)."""
    async def spin_wait():
        state = {"done": False}

        async def worker(_):
            for _ in range(5):
                await preempt()
            state["done"] = True

        kthread_create(PRI_BIO, 0, None, worker, None, "worker")
        while not state["done"]:
            await yield_()
        return True

    for seed in range(20):
        r = run_scenario(spin_wait, strategy="pct", seed=seed, boot=FAST)
        assert r.value is True, r


# --- shrinking ----------------------------------------------------------------------------

def test_shrinking_reduces_a_lost_update_to_one_preemption():
    r = _first_failing(lost_update)
    assert r.preemptions > 1
    s = shrink(lost_update, schedule=r.schedule, boot=BARE)
    assert s.result.outcome.same_failure(r.outcome)
    assert s.result.preemptions == 1  # the read, one switch away, the stale write
    assert len(s.result.choices) < len(r.choices)
    again = run_scenario(lost_update, replay=s.schedule, boot=BARE)
    assert again.outcome.same_failure(r.outcome)
    with pytest.raises(ValueError, match="does not fail"):
        shrink(lost_update, schedule=encode([]), boot=BARE)


# --- the determinism check ------------------------------------------------------------------

def test_determinism_check_passes_a_closed_scenario():
    rep = check_determinism(lost_update, strategy="random", seed=2, runs=3, boot=BARE)
    assert rep.deterministic, str(rep)
    assert rep.runs == 3 and rep.divergence is None
    assert str(rep).startswith(f"deterministic: 3 runs of schedule {rep.first.schedule} ")


def test_determinism_check_catches_the_host_clock():
    rep = check_determinism(sleeps_by_the_host_clock, boot=BARE)
    assert not rep.deterministic
    d = rep.divergence
    assert d is not None and d.first is not None and d.replay is not None
    assert d.first.kind == d.replay.kind == "timeout"  # woken at another virtual time
    assert d.first.time != d.replay.time
    assert "NOT deterministic" in str(rep) and "host" in str(rep)


# --- the CPU ------------------------------------------------------------------------------

def test_spin_mutex_disables_preemption():
    async def body():
        spin = kmutex_t()
        mutex_init(spin, MUTEX_DEFAULT, IPL_VM)

        async def other(_):
            pass

        kthread_create(PRI_BIO, 0, None, other, None, "other")
        await mutex_enter(spin)
        n = len(kern.curmachine().decisions)
        for _ in range(10):
            await preempt()
        held = len(kern.curmachine().decisions) - n
        mutex_exit(spin)
        return held

    for seed in range(5):
        assert run_scenario(body, seed=seed, boot=BARE).value == 0


def test_external_wait_gives_the_cpu_away():
    """An lwp waiting outside the machine (here: trio's clock) lets the others
    run meanwhile (without external_wait the machine would stall); virtual
    time stands still while the machine counts on the outside."""
    async def body():
        m = kern.curmachine()
        log = []

        async def worker(_):
            for i in range(3):
                log.append(f"w{i}")
                await preempt()
            await kpause("later", False, 1, None)
            log.append(f"w at {m.now():.2f}")

        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker, None, "worker")
        async with m.external_wait("hostwait"):
            await trio.sleep(0.05)
        log.append(f"back at {m.now():.2f}")
        await kthread_join(l)
        return log

    with kern.boot(config="BARE") as k:
        log = k.run(body)
    assert log == ["w0", "w1", "w2", "back at 0.00", "w at 0.01"]
    kinds = [(e.lwp, e.kind) for e in k.trace.records]
    assert ("body", "extern") in kinds and ("body", "intern") in kinds


def test_external_wait_body_runs_in_one_trio_task_with_its_cancel_scopes_and_locks():
    """The body of ``async with m.external_wait():`` runs in one trio task from
    entry to exit while other lwps run meanwhile: a trio cancel scope, a trio
    Lock and a timeout inside it work as in any trio task; the lwp is back on
    the CPU (and in the CPU task) after it."""
    async def body():
        m = kern.curmachine()
        lock = trio.Lock()
        seen = {}

        async def worker(_):
            for _ in range(5):
                await preempt()
            seen["worker ran"] = True

        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker, None, "worker")
        cpu_task = trio.lowlevel.current_task()
        async with m.external_wait("hostwait"):
            outside = trio.lowlevel.current_task()
            async with lock:
                with trio.move_on_after(0.02) as cs:
                    await trio.sleep(5)
                await trio.sleep(0.01)
            seen["same task"] = trio.lowlevel.current_task() is outside
            seen["timed out"] = cs.cancelled_caught
        seen["home"] = trio.lowlevel.current_task() is cpu_task and outside is not cpu_task
        await kthread_join(l)
        return seen

    with kern.boot(config="BARE") as k:
        seen = k.run(body)
    assert seen == {"worker ran": True, "same task": True, "timed out": True, "home": True}


def test_a_trio_wait_on_the_cpu_keeps_it():
    """An lwp that awaits trio itself (not in an external wait) holds the CPU
    meanwhile, as a spinning CPU would: the others do not run until it is done."""
    async def body():
        log = []

        async def other(_):
            log.append("other")

        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, other, None, "other")
        for i in range(3):
            await trio.sleep(0)
            await trio.lowlevel.checkpoint()
            log.append(f"body {i}")
        await kthread_join(l)
        return log

    with kern.boot(config="BARE") as k:
        assert k.run(body) == ["body 0", "body 1", "body 2", "other"]


def test_lwp_code_is_ki_protected_on_the_cpu_and_outside():
    """A Ctrl-C never lands inside an lwp's code (trio's KI protection covers
    its frames whichever task runs them): raised in the caller instead."""
    async def body():
        m = kern.curmachine()
        seen = [trio.lowlevel.currently_ki_protected()]

        async def kthread(_):
            seen.append(trio.lowlevel.currently_ki_protected())

        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, kthread, None, "kt")
        await kthread_join(l)
        async with m.external_wait("hostwait"):
            seen.append(trio.lowlevel.currently_ki_protected())
            await trio.sleep(0)
        seen.append(trio.lowlevel.currently_ki_protected())
        return seen

    with kern.boot(config="BARE") as k:
        assert k.run(body) == [True, True, True, True]


def test_a_trio_cancel_scope_held_across_a_sleep_is_a_panic_naming_the_lwp_it_hit():
    """lwps share the CPU task: a trio cancel scope an lwp opens on the CPU
    and sleeps in may cancel whichever lwp runs when it expires.  The
    trio.Cancelled that escapes that lwp is a panic naming it, with its
    stack, not a Python error of the scheduler."""
    log = []

    async def victim(_):
        try:
            await trio.sleep(0.05)   # a trio wait on the CPU (no external_wait)
        except trio.Cancelled:
            log.append("victim cancelled")
            raise

    async def body():
        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, victim, None, "victim")
        with trio.move_on_after(0.01):   # not the machine's: it spans the kpause
            await kpause("nap", False, 2, None)
        await kthread_join(l)

    with pytest.raises(kern.KernelPanic) as ei:
        with kern.boot(config="BARE", trace=False) as k:
            k.run(body)
    assert log == ["victim cancelled"]
    msg = str(ei.value)
    assert "Cancelled escaped lwp 'victim'" in msg and "cancel scope" in msg, msg
    assert k.state == "failed"
    assert k.crash.lwp("victim").where.startswith("tests/kern/test_sched.py:")


def test_a_halt_unwinds_every_sleeping_lwp():
    """When the machine stops, each lwp still asleep gets trio.Cancelled where
    it waits and runs its finally blocks.  (One that never ran is dropped, and
    has none to run: not covered here.)"""
    unwound = []

    async def sleeper(name):
        try:
            await tsleep(unwound, 0, name, 0)   # forever: nothing wakes it
        finally:
            unwound.append(name)

    async def body():
        for name in ("s1", "s2"):
            kthread_create(PRI_BIO, 0, None, sleeper, name, name)
        await preempt()

    with kern.boot(config="BARE", seed=4) as k:
        k.run(body)
    assert sorted(unwound) == ["s1", "s2"]
    assert k.state == "halted"


def _contended_mutex(nlwps, rounds, hold, after=None):
    """A scenario: ``nlwps`` kernel threads each take one mutex ``rounds``
    times, awaiting ``hold()`` while they hold it and ``after()`` (if given)
    once they let it go."""
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)

        async def locker(_):
            for _ in range(rounds):
                await mutex_enter(mtx)
                await hold()
                mutex_exit(mtx)
                if after is not None:
                    await after()

        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, locker, None, "l%d", i)[1]
              for i in range(nlwps)]
        for l in ls:
            await kthread_join(l)

    return body


def test_contended_mutex_handoff_records_switches():
    body = _contended_mutex(3, 3, lambda: kpause("hold", False, 0, None))
    widths = set()
    for seed in range(10):
        r = run_scenario(body, seed=seed, boot=BARE)
        assert not r.failed, r
        widths |= set(r.decisions.widths)
    assert max(widths) >= 3  # at times all three were runnable together


def test_random_preemption_draws_are_the_strategys_own():
    """The random strategy's choices are ``Random(seed).randrange(width)`` in
    order, the preemption points' too (the scheduler draws those itself,
    repeating CPython's ``_randbelow``): a replay of the draws matches."""
    import random

    body = _contended_mutex(4, 4, preempt, yield_)
    kinds = set()
    for seed in range(6):
        r = run_scenario(body, seed=seed, boot=BARE, strategy="random")
        assert not r.failed, r
        d = r.decisions
        kinds |= set(d.kinds)
        rng = random.Random(seed)
        assert d.choices == [rng.randrange(w) for w in d.widths]
        assert max(d.widths) >= 3
    assert kinds == {PREEMPT, SWITCH, YIELD}


# --- the pytest plugin ----------------------------------------------------------------------

PLUGIN_CASE = textwrap.dedent("""
    import kern
    from tests.kern.sched_scenarios import lost_update

    def test_lost_update():
        with kern.boot(seed=int({seed}), config="BARE") as k:
            k.run(lost_update)
""")


def test_plugin_prints_the_schedule_and_replays_it(tmp_path):
    seed = _first_failing(lost_update).seed
    (tmp_path / "test_case.py").write_text(PLUGIN_CASE.format(seed=seed))
    env = dict(os.environ, PYTHONPATH=REPO)
    out = run_pytest(tmp_path, "-q", "test_case.py", env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("replay: pytest"))
    sched = line.split("--kemu-replay=")[1]
    assert decode(sched)
    assert f"strategy random(seed={seed})" in out.stdout
    # replayed (the test's own seed is overridden by the replay): the same failure
    again = run_pytest(tmp_path, "-q", "test_case.py", f"--kemu-replay={sched}", env=env)
    assert again.returncode == 1
    assert "assertion \"state[\"n\"] == workers * rounds\" failed" in again.stdout
    assert f"schedule {sched}" in again.stdout
    bad = run_pytest(tmp_path, "-q", "test_case.py", "--kemu-strategy=pct:depht=2", env=env)
    assert bad.returncode != 0 and "depht" in bad.stderr


def test_kemu_run_takes_a_strategy_and_a_schedule(tmp_path):
    import io

    from tools.kemu import main

    script = tmp_path / "s.kemu"
    script.write_text("echo hello\n")
    for extra in (["--strategy=pct:depth=2,steps=100"], ["--replay", encode([1, 0, 1])]):
        out, err = io.StringIO(), io.StringIO()
        assert main(["run", *extra, str(script)], stdout=out, stderr=err) == 0, err.getvalue()
        assert out.getvalue() == "hello\n"
    err = io.StringIO()
    assert main(["run", "--strategy=pct:dept=2", str(script)], stdout=io.StringIO(),
                stderr=err) == 1
    assert "dept" in err.getvalue()
    err = io.StringIO()
    assert main(["run", "--replay=xx", str(script)], stdout=io.StringIO(), stderr=err) == 1
    assert "not a kemu schedule string" in err.getvalue()
