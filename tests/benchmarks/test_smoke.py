"""Every benchmark's ``--smoke`` mode runs and reports figures (benchmarks/*.py).

A smoke run is tiny (one round, small sizes): it only shows that the
benchmark still works against today's kernel, never how fast anything is.
The runs start together, as subprocesses (forked from a process that has
imported kemu: tools/lib/forkserver.py), when the first test here asks for
them; each test waits for its own.  Nothing here judges a figure: the
targets are for the benchmarks to print.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tools.lib import forkserver

ROOT = Path(__file__).resolve().parents[2]

#: benchmark -> extra options of its smoke run
SMOKE: dict[str, list[str]] = {
    "bench_kern": [],
    "bench_native": [],
    "bench_fss": [],
    "bench_vfs": ["--no-base"],
    "bench_puffs": [],
    "bench_pipe": [],
    "bench_sweep": ["--no-base"],
    "bench_sweep_memory": [],
    "bench_race": ["--no-base"],
    "bench_suite": ["--no-base"],
    "bench_explore": [],
}


class Runs:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.procs: dict[str, Any] = {}
        for name, extra in SMOKE.items():
            cmd = [str(ROOT / "benchmarks" / f"{name}.py"), "--smoke", *extra,
                   "--json", str(outdir / f"{name}.json")]
            # python benchmarks/NAME.py, forked from a process that imported kemu
            self.procs[name] = forkserver.popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                                stderr=subprocess.STDOUT, text=True)

    def result(self, name: str) -> tuple[int, str, dict[str, Any] | None]:
        p = self.procs[name]
        out, _ = p.communicate(timeout=110)
        path = self.outdir / f"{name}.json"
        rep = json.loads(path.read_text()) if path.exists() else None
        return p.returncode, out, rep

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory):
    r = Runs(tmp_path_factory.mktemp("bench-smoke"))
    yield r
    r.stop()


def _finite(spread: dict[str, Any] | None) -> bool:
    return spread is None or all(math.isfinite(spread[k]) and spread[k] >= 0
                                 for k in ("median", "lo", "hi"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(SMOKE))
def test_smoke(runs: Runs, name: str) -> None:
    rc, out, rep = runs.result(name)
    assert rc == 0, out[-3000:]
    assert rep is not None, f"{name} wrote no JSON report:\n{out[-2000:]}"
    assert rep["bench"] == name
    figs = rep["figures"]
    assert figs, f"{name} reported no figures"
    assert any(f["wall"] is not None or f["cpu"] is not None for f in figs), \
        f"{name} measured none of its figures"
    for f in figs:
        assert _finite(f["wall"]) and _finite(f["cpu"]), f
        measured = f["wall"] is not None or f["cpu"] is not None
        if f["target"] is not None:
            # a target is judged exactly when its figure was measured
            assert (f["met"] is not None) == measured, f
        if not measured:
            assert f["note"].startswith("not measured: "), f
    # what it printed is the table of the same figures
    for f in figs:
        assert f["label"] in out, (f["label"], out[-2000:])
    assert rep["machine"]["cpus"] == os.cpu_count()


def test_no_benchmark_is_a_test() -> None:
    """pytest collects nothing under benchmarks/: no file matches its test patterns,
    and no module defines test functions or Test classes (which a file named on the
    command line would have collected)."""
    import ast

    files = sorted((ROOT / "benchmarks").rglob("*.py"))
    assert files
    for path in files:
        assert not path.name.startswith("test_") and not path.name.endswith("_test.py"), path
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert not node.name.startswith("test"), (path, node.name)
            if isinstance(node, ast.ClassDef):
                assert not node.name.startswith("Test"), (path, node.name)
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        ini = tomllib.load(f)["tool"]["pytest"]["ini_options"]
    assert ini["testpaths"] == ["tests"]


def test_bench_explore_plants_each_mistake_in_a_copy() -> None:
    """bench_explore's seventeen mistakes still apply to today's dev/fss/fss.py and
    vfs/vfs_trans.py (each edit's text occurs exactly once), each planted module
    compiles and differs from the original, and planting reads the source without
    touching the file."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_explore as be

    assert len(be.MUTANTS) == 17 and len(be.BY_KEY) == 17
    for m in be.MUTANTS:
        path = ROOT / (m.module.replace(".", "/") + ".py")
        before = path.read_text()
        src = be.planted_source(m)
        assert src != before, m.key
        compile(src, str(path), "exec")
        assert path.read_text() == before
    bad = be.Mutant("X", be.FSS, "an edit whose text is not there", (("no such text", ""),))
    with pytest.raises(ValueError, match="occurs 0 times"):
        be.planted_source(bad)
