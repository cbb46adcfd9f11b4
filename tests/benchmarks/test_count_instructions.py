"""benchmarks/count_instructions.py: the digests it compares trees by repeat, run to run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import count_instructions as ci


def test_sweep_digests_repeat_and_follow_the_seed():
    first = ci.run_sweep(range(100, 102))
    again = ci.run_sweep(range(100, 102))
    assert first == again
    assert [line.split()[0] for line in first] == ["100", "101"]
    # one machine a seed: its schedule hash and trace digest, different seeds differ
    assert all(len(line.split()) == 3 for line in first)
    assert first[0].split()[1:] != first[1].split()[1:]


def test_fstat_digest_repeats_and_counts_the_calls():
    t, digest = ci.run_fstat(5)
    assert ci.run_fstat(5)[1] == digest
    assert ci.run_fstat(6)[1] != digest      # one more fstat: more decisions and events
    assert t > 0


@pytest.mark.parametrize("argv", [["fstat", "--calls", "10", "--minus", "10"],
                                  ["sweep", "--seeds", "100-104", "--minus", "100-109"]])
def test_the_counting_run_needs_more_than_it_subtracts(monkeypatch, capsys, argv):
    """Refused before anything runs; valgrind found (as if installed, so that the
    check is reached on a host without it too)."""
    def run(cmd, **kw):
        raise AssertionError(f"ran {cmd}")

    monkeypatch.setattr(ci.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(ci.subprocess, "run", run)
    with pytest.raises(SystemExit) as ei:
        ci.main(argv)
    assert ei.value.code == 2
    assert "the counted run must be longer than the one subtracted" in capsys.readouterr().err


def test_without_valgrind_the_counting_run_says_so(monkeypatch, capsys):
    monkeypatch.setattr(ci.shutil, "which", lambda name: None)
    assert ci.main(["fstat", "--calls", "10", "--minus", "5"]) == 2
    assert "valgrind is not installed" in capsys.readouterr().err


def test_the_warm_up_writes_the_bytecode_the_counted_runs_read(monkeypatch, capsys):
    """With PYTHONDONTWRITEBYTECODE set, a warm-up run that inherited it would leave
    an edited module's cache stale and the first counted run would count its
    compilation (1.6M instead of 0.59M an fstat after touching three modules)."""
    calls = []

    def run(cmd, **kw):
        calls.append((cmd, kw.get("env")))
        n = 2000 if "200" in cmd else 1000
        return subprocess.CompletedProcess(cmd, 0, "", f"==1== I   refs:      {n:,}\n")

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setattr(ci.subprocess, "run", run)
    monkeypatch.setattr(ci.shutil, "which", lambda name: "/usr/bin/" + name)
    assert ci.main(["fstat", "--calls", "200", "--minus", "100"]) == 0
    assert "2,000 - 1,000 instructions over 100 fstats: 10 a fstat" in capsys.readouterr().out
    (warm, _), (big, _), (small, _) = [(c[c.index(ci.__file__):], e) for c, e in calls]
    assert calls[0][0][0] == sys.executable and warm == small
    assert [c[0][0] for c in calls[1:]] == ["valgrind", "valgrind"]
    assert "200" in big and "100" in small
    for _, env in calls:
        assert env is not None and "PYTHONDONTWRITEBYTECODE" not in env
        assert env["PYTHONHASHSEED"] == "0"


def test_fstat_with_the_trace_off_keeps_the_schedule_and_records_nothing():
    """``--trace-off`` for fstat: the same decisions (schedule hash), an empty
    trace (its digest differs from the traced run's and does not grow with the calls)."""
    on = ci.run_fstat(5)[1].split()
    off = ci.run_fstat(5, trace=False)[1].split()
    assert off[0] == on[0] and off[1] != on[1]
    assert ci.run_fstat(6, trace=False)[1].split()[1] == off[1]


@pytest.mark.parametrize("case,args", [("fstat", ["--calls", "200", "--minus", "100"]),
                                       ("sweep", ["--seeds", "100-101", "--minus", "100-100"]),
                                       ("switch", ["--switches", "200", "--minus", "100"])])
def test_trace_off_reaches_every_run(monkeypatch, capsys, case, args):
    """Both counted runs and the warm-up boot their machines with the trace off."""
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "==1== I   refs:      1,000\n")

    monkeypatch.setattr(ci.subprocess, "run", run)
    monkeypatch.setattr(ci.shutil, "which", lambda name: "/usr/bin/" + name)
    assert ci.main([case, "--trace-off", *args]) == 0
    assert len(calls) == 3 and all("--trace-off" in c for c in calls)


def test_switch_digest_repeats_follows_the_count_and_the_trace():
    """The switch case: the same digest twice; more hand-offs, more trace (a
    strict ping-pong leaves the scheduler no choice, so its schedule string
    stays as it is); with the trace off the same schedule and an empty trace."""
    d = ci.run_switch(100).split()
    assert ci.run_switch(100).split() == d
    assert ci.run_switch(120).split()[1] != d[1]
    off = ci.run_switch(100, trace=False).split()
    assert off[0] == d[0] and off[1] != d[1]
    assert ci.run_switch(120, trace=False).split()[1] == off[1]


def _fake_valgrind(monkeypatch) -> list:
    """valgrind stood in for: a run of 2000 switches counts 30,000 instructions,
    any other 10,000; the command lines it was given, in a list."""
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        n = 30000 if "2000" in cmd else 10000
        return subprocess.CompletedProcess(cmd, 0, "", f"==1== I   refs:      {n:,}\n")

    monkeypatch.setattr(ci.subprocess, "run", run)
    monkeypatch.setattr(ci.shutil, "which", lambda name: "/usr/bin/" + name)
    return calls


def test_switch_counts_per_hand_off(monkeypatch, capsys):
    calls = _fake_valgrind(monkeypatch)
    assert ci.main(["switch", "--switches", "2000", "--minus", "1000"]) == 0
    assert "30,000 - 10,000 instructions over 1000 switches: 20 a switch" in capsys.readouterr().out
    assert [c[c.index("--switches") + 1] for c in calls] == ["1000", "2000", "1000"]


def test_switch_in_batches_makes_a_pair_of_threads_a_batch():
    """``--batch``: the same hand-offs in ping-pongs of their own: the schedule
    and trace of 2 x 50 differ from one run of 100 (two more pairs of threads
    started and ended), repeat, and a run of 3 x 50 has more trace than 2 x 50."""
    one = ci.run_switch(100).split()
    two = ci.run_switch(100, batch=50).split()
    assert two != one
    assert ci.run_switch(100, batch=50).split() == two
    assert ci.run_switch(150, batch=50).split()[1] != two[1]


def test_switch_in_batches_counts_only_what_the_pairs_time(monkeypatch):
    """``--batch``: the ping-pongs, ``batch`` hand-offs each, run one after the
    other in one run of the machine, so that the count holds what bench_kern's
    trace pairs time (kemu_pingpong's stopwatch, threads made and joined) and
    not a machine.run a batch (the request posted to the machine's thread, the
    lwp that runs it, the result delivered), which the pairs' stopwatch leaves
    out."""
    import kern
    from benchmarks import bench_kern as bk

    sizes: list[int] = []
    runs: list[object] = []
    pingpong, machine_run = bk.kemu_pingpong, kern.Machine.run

    async def counted(switches: int):
        sizes.append(switches)
        return await pingpong(switches)

    def run(self, afn, *args, **kw):
        runs.append(afn)
        return machine_run(self, afn, *args, **kw)

    monkeypatch.setattr(bk, "kemu_pingpong", counted)
    monkeypatch.setattr(kern.Machine, "run", run)
    ci.run_switch(150, batch=50)
    assert sizes == [50, 50, 50]
    assert len(runs) == 1
    del sizes[:], runs[:]
    ci.run_switch(150)
    assert sizes == [150] and len(runs) == 1


def test_switch_batches_reach_both_counted_runs(monkeypatch, capsys):
    calls = _fake_valgrind(monkeypatch)
    assert ci.main(["switch", "--switches", "2000", "--minus", "1000", "--batch", "500"]) == 0
    assert "20 a switch" in capsys.readouterr().out
    assert len(calls) == 3 and all(c[c.index("--batch") + 1] == "500" for c in calls)
    with pytest.raises(SystemExit):
        ci.main(["switch", "--switches", "2000", "--minus", "1000", "--batch", "300"])


def test_bench_kern_counts_the_trace_off_and_on(monkeypatch):
    """bench_kern's load-proof line: count_instructions.py switch in the pairs'
    batches, trace off then on, the per-switch figures taken from its output."""
    from benchmarks import bench_kern as bk

    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        n = "22,000" if "--trace-off" in cmd else "23,100"
        return subprocess.CompletedProcess(cmd, 0, f"switch: 3 - 2 instructions over 10 "
                                                   f"switches: {n} a switch\n", "")

    monkeypatch.setattr(bk.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(bk.subprocess, "run", run)
    assert bk.switch_instructions(500) == (22000, 23100)
    assert [c[c.index("--batch") + 1] for c in calls] == ["500", "500"]
    assert [c[c.index("--switches") + 1] for c in calls] == ["10000", "10000"]
    assert [c[c.index("--minus") + 1] for c in calls] == ["5000", "5000"]
    assert ["--trace-off" in c for c in calls] == [True, False]


def test_bench_kern_says_why_it_counted_nothing(monkeypatch):
    """No valgrind, or a count that fails: the reason, for the report's line
    (the benchmark goes on)."""
    from benchmarks import bench_kern as bk

    monkeypatch.setattr(bk.shutil, "which", lambda name: None)
    assert "valgrind is not installed" in str(bk.switch_instructions(500))
    monkeypatch.setattr(bk.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(bk.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "Traceback\nRuntimeError: no instruction count\n"))
    why = bk.switch_instructions(500)
    assert isinstance(why, str) and "exit 1" in why and "no instruction count" in why


def test_bench_kern_trace_pair_counts_collector_passes_per_side(monkeypatch):
    """A pair's sides each get their counted batches' totals; the collector's
    passes are counted per side and its callback is gone afterwards; a full
    collection runs once, between the uncounted batches and the counted ones."""
    import gc

    from benchmarks import bench_kern as bk

    batches: list[int] = []
    pingpong = bk.kemu_pingpong

    async def counted(switches: int):
        batches.append(switches)
        return await pingpong(switches)

    collects = []      # the batches run before each full collection
    real = gc.collect
    monkeypatch.setattr(bk, "kemu_pingpong", counted)
    monkeypatch.setattr(bk.gc, "collect", lambda *a: collects.append(len(batches)) or real(*a))
    before = list(gc.callbacks)
    passes: dict[str, int] = {}
    threshold = gc.get_threshold()
    gc.set_threshold(1)      # (a young pass at nearly every allocation: in every batch)
    try:
        tot = bk.trace_pair(20, 3, True, passes)
    finally:
        gc.set_threshold(*threshold)
    assert gc.callbacks == before
    assert collects == [2] and batches == [20] * 8      # after the two uncounted ones
    assert {side: s.n for side, s in tot.items()} == {"on": 60, "off": 60}
    assert all(s.cpu > 0 for s in tot.values())
    assert set(passes) == {"on", "off"} and min(passes.values()) >= 3
