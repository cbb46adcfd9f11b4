"""The measuring parts the benchmarks share: statistics, rounds, reports, other revisions,
and the writer of docs/STATUS.md."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import _measure as m
from benchmarks import run_all
from benchmarks._revision import PORTABLE, Tree, current_tree, resolve, revision_tree

ROOT = Path(__file__).resolve().parents[2]


def test_spread_median_quartiles_and_range() -> None:
    s = m.spread([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.lo, s.hi, s.q1, s.q3, s.count) == (3.0, 1.0, 5.0, 2.0, 4.0, 5)
    one = m.spread([7.0])
    assert (one.median, one.lo, one.hi, one.count) == (7.0, 7.0, 7.0, 1)
    with pytest.raises(ValueError):
        m.spread([])


def test_paired_ratios_are_per_round() -> None:
    a = [m.Sample(1.0, 0.5, 10), m.Sample(2.0, 1.0, 10)]
    b = [m.Sample(2.0, 2.0, 10), m.Sample(2.0, 2.0, 10)]
    assert m.paired(a, b, "wall") == [2.0, 1.0]           # rate ratios
    assert m.paired(a, b, "cpu") == [4.0, 2.0]
    assert m.paired(a, b, "cpu", mode="cost") == [0.25, 0.5]
    with pytest.raises(ValueError):
        m.paired(a, b[:1], "cpu")


def test_rounds_warm_up_then_rotate_the_order() -> None:
    calls: list[str] = []

    def case(name: str):
        def run() -> m.Sample:
            calls.append(name)
            return m.Sample(1.0, 1.0, len(calls))
        return run

    res = m.rounds({"a": case("a"), "b": case("b"), "c": case("c")}, n=3, warmup=1)
    assert calls == ["a", "b", "c",  "a", "b", "c",  "b", "c", "a",  "c", "a", "b"]
    # warm-up results are dropped; each list has one entry per round
    assert [s.n for s in res["a"]] == [4, 9, 11]
    assert [s.n for s in res["c"]] == [6, 8, 10]


def test_stopwatch_counts_cpu_of_work_not_of_sleep() -> None:
    import time

    sw = m.Stopwatch()
    time.sleep(0.05)
    slept = sw.sample()
    assert slept.wall >= 0.05 and slept.cpu < 0.04
    sw = m.Stopwatch()
    x = 0
    for i in range(200_000):
        x += i
    busy = sw.sample(200_000)
    assert busy.cpu > 0 and busy.n == 200_000 and busy.rate("cpu") > 0


def test_run_timed_charges_the_child_cpu() -> None:
    p, s = m.run_timed(["python3", "-c", "sum(range(3_000_000))"])
    assert p.returncode == 0
    assert s.cpu > 0.01 and s.wall >= s.cpu * 0.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER")
def test_run_timed_charges_the_orphans_cpu_where_asked() -> None:
    """A command whose child outlives it (as a fork server's children do) and
    lets go of its output (so run_timed's pipes end with the command): with
    ``orphans`` its CPU is counted and it is reaped; without, it is not.  Run in
    a process of its own, since adopting orphans is for the whole process."""
    code = (
        "import sys; from benchmarks import _measure as m\n"
        "cmd = [sys.executable, '-c', 'import os, time, sys\\n"
        "if os.fork() == 0:\\n"
        "    os.close(1); os.close(2)\\n"
        "    t = time.process_time()\\n"
        "    while time.process_time() - t < 0.4: pass\\n"
        "    os._exit(0)\\n']\n"
        "_, a = m.run_timed(cmd, orphans=True)\n"
        "print(round(a.cpu, 2), m._children_pids())\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    cpu, left = r.stdout.split(" ", 1)
    assert float(cpu) >= 0.35 and left.strip() == "[]", r.stdout + r.stderr
    # without: the orphan goes to init (or whatever reaper is above), not counted
    code = code.replace("orphans=True", "orphans=False")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert float(r.stdout.split(" ", 1)[0]) < 0.3, r.stdout + r.stderr


def test_report_judges_targets_on_their_basis_and_writes_json(tmp_path: Path) -> None:
    args = argparse.Namespace(json=str(tmp_path / "r.json"), quick=False, smoke=True)
    rep = m.Report("bench_x", "a title", args)
    fast = [m.Sample(1.0, 0.1, 1), m.Sample(1.0, 0.1, 1)]
    slow = [m.Sample(0.5, 0.5, 1), m.Sample(0.5, 0.5, 1)]
    # on CPU fast is 5x slow's rate; on wall it is half
    cpu_fig = rep.ratio("cpu judged", fast, slow, m.Target(">=", 2.0))
    wall_fig = rep.ratio("wall judged", fast, slow, m.Target(">=", 2.0, basis="wall"))
    val = rep.value("a value", [3.0], "MiB", m.Target("<=", 2.0))
    gone = rep.unavailable("absent", "no FUSE here", m.Target(">=", 1.0))
    assert (cpu_fig.met, wall_fig.met, val.met, gone.met) == (True, False, False, None)
    rep.finish(args)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["bench"] == "bench_x" and "json" not in data["args"]
    assert [f["met"] for f in data["figures"]] == [True, False, False, None]
    assert data["figures"][0]["cpu"]["median"] == pytest.approx(5.0)
    assert data["machine"]["cpus"] == os.cpu_count()
    assert len(data["load_before"]) == 3


def test_revision_tree_runs_that_revisions_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exported revision runs its own modules, not this checkout's, and goes away
    after (no KEMU_BENCH_REV_CACHE: run_all's, when bench_suite runs this suite)."""
    monkeypatch.delenv("KEMU_BENCH_REV_CACHE", raising=False)
    with pytest.raises(ValueError, match="unknown git revision"):
        resolve("no-such-revision-anywhere")
    head = resolve("HEAD")
    with revision_tree("HEAD", build_native=False) as tree:
        assert tree.sha == head and tree.root != str(ROOT)
        assert (Path(tree.root) / "kern" / "__init__.py").exists()
        p, s = tree.run(["-c", "import kern, kern.native as n; print(kern.__file__, n.impl)"])
        assert p.returncode == 0, p.stderr
        where, impl = p.stdout.split()
        assert where.startswith(tree.root)
        assert impl == "python"              # not built: the twin, not this tree's .so
        assert s.cpu > 0
        p, _ = tree.run([os.path.join(PORTABLE, "kemu_portable.py"), "native"])
        assert json.loads(p.stdout) == {"native": "python"}
    assert not Path(tree.root).exists()
    assert current_tree().root == str(ROOT)


def test_pytest_plugins_of_an_old_layout(tmp_path: Path) -> None:
    """A tree whose pyproject names another plugin module for the kemu entry point gets
    the installed entry point blocked and its own module loaded; this tree gets nothing."""
    (tmp_path / "pyproject.toml").write_text(
        '[project.entry-points.pytest11]\nkemu = "kern.pytest_plugin"\n')
    assert Tree(str(tmp_path), "old", "0" * 40).pytest_plugins() == [
        "-p", "no:kemu", "-p", "kern.pytest_plugin"]
    assert current_tree().pytest_plugins() == []


def _report(bench: str, met: bool) -> dict:
    sp = {"median": 0.4, "lo": 0.3, "hi": 0.5, "q1": 0.35, "q3": 0.45, "count": 3}
    return {"bench": bench, "title": "t", "command": f"python benchmarks/{bench}.py --quick",
            "started": 1_700_000_000, "seconds": 12, "load_before": [7.5, 7, 6],
            "load_after": [8.25, 7, 6], "notes": ["a note"],
            "machine": {"cpus": 2, "cpu_model": "cpu", "python": "3.11", "trio": "0.35",
                        "native": "cffi", "system": "6"},
            "figures": [{"label": "ratio a | b", "unit": "x", "wall": sp, "cpu": sp,
                         "target": {"op": ">=", "bound": 0.5 if not met else 0.2,
                                    "basis": "cpu", "source": "issue 13"},
                         "met": met, "note": "", "kind": "time"}]}


def test_a_value_judged_on_a_basis_of_its_own_names_it_measured_or_not() -> None:
    """bench_kern's trace on / off by instructions is a value row (one figure,
    no wall or CPU) with the basis "instructions": its target says so in
    the printed table and in docs/STATUS.md's, as when it could not be
    measured; a value row of the default basis stays bare."""
    label = "ratio, instructions (cachegrind)"
    reps = {}
    for measured in (True, False):
        rep = m.Report("bench_kern", "kernel core")
        target = m.Target("<=", 1.05, "instructions")
        if measured:
            rep.value(label, [1.036], "x", target)
        else:
            rep.unavailable(label, "valgrind is not installed", target)
        rep.value("a share", [0.5], "%", m.Target("<=", 1.0))
        assert "target <= 1.05 (instructions)" in rep.render()
        assert "target <= 1 (cpu)" not in rep.render()
        reps[measured] = rep.to_json()
    for data in reps.values():
        text = run_all.render({"bench_kern": data})
        rows = [ln for ln in text.splitlines() if ln.startswith(f"| bench_kern | {label}")]
        assert len(rows) == 1 and "| ≤ 1.05 (instructions) |" in rows[0], rows
        assert "| ≤ 1 |" in text and "≤ 1 (cpu)" not in text


def test_run_all_fills_only_the_marked_block(tmp_path: Path) -> None:
    status = tmp_path / "STATUS.md"
    status.write_text("# Status\n\nhand-written\n\n<!-- benchmarks: begin -->\nold figures\n"
                      "<!-- benchmarks: end -->\n\n## Left alone\n\nkept\n")
    data = tmp_path / "benchmarks.json"
    data.write_text(json.dumps({"bench_fss": _report("bench_fss", False),
                                "bench_kern": _report("bench_kern", True)}))
    assert run_all.main(["--render-only", "--status", str(status), "--data", str(data)]) == 0
    text = status.read_text()
    assert text.startswith("# Status\n\nhand-written\n\n<!-- benchmarks: begin")
    assert text.endswith("<!-- benchmarks: end -->\n\n## Left alone\n\nkept\n")
    assert "old figures" not in text
    # the targets table: kern before fss (the run order), the | escaped, verdicts
    rows = [ln for ln in text.splitlines() if ln.startswith("| bench_")]
    assert rows == [
        "| bench_kern | ratio a \\| b | 0.40x (0.30–0.50) | 0.40x (0.30–0.50) | ≥ 0.2 (cpu) "
        "| met |",
        "| bench_fss | ratio a \\| b | 0.40x (0.30–0.50) | 0.40x (0.30–0.50) | ≥ 0.5 (cpu) "
        "| **not met** |"]
    assert "load average 7.5 before, 8.2 after" in text
    assert "**`python benchmarks/bench_fss.py --quick`**" in text and "- a note" in text
    status.write_text("# no markers\n")
    with pytest.raises(SystemExit, match="no '<!-- benchmarks: begin"):
        run_all.main(["--render-only", "--status", str(status), "--data", str(data)])


def test_kemu_portable_measures_an_ext2_write(tmp_path: Path) -> None:
    """The workload benchmarks run in other revisions' trees, here in this one."""
    p = subprocess.run([sys.executable, "-S", os.path.join(PORTABLE, "kemu_portable.py"),
                        "ext2-write", "--size", str(1 << 20), "--img", str(tmp_path / "d.img")],
                       env=current_tree().env(), cwd=ROOT, capture_output=True, text=True,
                       timeout=100)
    assert p.returncode == 0, p.stderr
    s = json.loads(p.stdout)
    assert s["n"] == 1 << 20 and s["wall"] > 0 and s["cpu"] > 0
