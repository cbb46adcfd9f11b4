"""The test suite's time: ``pytest -q``, wall and CPU, this tree beside a base revision.

    python benchmarks/bench_suite.py [--base REV | --no-base] [--rounds R]
                                     [--quick | --smoke] [-- PYTEST-ARGS...]

Each side runs ``pytest -q`` in its own tree (benchmarks/_revision.py: the
base exported with ``git archive``, default 3f54114), as a subprocess pinned
to one host CPU, the order alternating from round to round; no warm-up
round (each run is long; the first round's order is this tree, then the
base).  Wall time is the subprocess's; CPU time is its and every process it
waited for (RUSAGE_CHILDREN: separate-process puffs servers, pytest
processes started by tests).  benchmarks/portable/kemu_bench_probe.py times
every test item, so the report also lists the files that take the most
wall time in this tree, with their CPU time (where a wait, not work,
dominates).

Modes: the whole suite (default, minutes per side); ``--quick`` the kernel
and puffs tests (tests/kern tests/fs/puffs); ``--smoke`` one small file.
Anything after ``--`` replaces the selection.

Target (issue 13): the whole suite takes at most half the base revision's
time on this machine (wall: the suite's time is what a developer waits).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import (  # noqa: E402
    Report,
    Target,
    column,
    n_rounds,
    pick,
    pin_cpu,
    rounds,
    standard_args,
)
from benchmarks._revision import Tree, add_base_arg, current_tree, revision_tree  # noqa: E402


def suite_run(tree: Tree, selection: list[str], cpu: int | None) -> dict[str, Any]:
    """One ``pytest -q`` in ``tree``: the whole run's Sample, the outcome counts and
    the per-file wall and CPU of the items."""
    fd, probe = tempfile.mkstemp(prefix="kemu-probe-", suffix=".jsonl")
    os.close(fd)
    try:
        p, whole = tree.pytest(["-q", "-p", "kemu_bench_probe", *selection], cpu=cpu,
                               env={"KEMU_BENCH_PROBE": probe}, timeout=7200)
        with open(probe) as f:
            items = [json.loads(line) for line in f if line.strip()]
    finally:
        os.unlink(probe)
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0])
    for i in items:
        f = files[i["nodeid"].split("::", 1)[0]]
        f[0] += i["wall"]
        f[1] += i["cpu"]
        f[2] += 1
    outcomes = collections.Counter(i["outcome"] for i in items)
    tail = (p.stdout.strip().splitlines() or [""])[-1]
    failed = [i["nodeid"] for i in items if i["outcome"] == "failed"]
    return {"run": whole, "items": len(items), "outcomes": dict(outcomes), "files": files,
            "summary": tail, "returncode": p.returncode, "failed": failed}


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=1, rounds_quick=1)
    add_base_arg(ap)
    ap.add_argument("--top", type=int, default=8, help="slowest files to list")
    args = ap.parse_args(argv)
    selection = extra or pick(args, [], ["tests/kern", "tests/fs/puffs"],
                              ["tests/kern/test_ioccom.py"])
    cpu = pin_cpu(args)
    what = " ".join(selection) or "the whole suite"
    rep = Report("bench_suite", f"pytest -q ({what}), pinned to CPU {cpu}", args)
    now = current_tree()
    cases = {"now": lambda: suite_run(now, selection, cpu)}
    with (revision_tree(args.base) if args.base else contextlib.nullcontext()) as base:
        if base is not None:
            cases["base"] = lambda: suite_run(base, selection, cpu)
            rep.note(f"{now.describe()}; {base.describe()}")
        else:
            rep.note(now.describe())
        res = rounds(cases, n_rounds(args), warmup=0)
    runs_now = column(res["now"], "run")
    rep.cost("suite, this tree", runs_now, "s", note=res["now"][-1]["summary"])
    if "base" in res:
        runs_base = column(res["base"], "run")
        rep.cost(f"suite, base {args.base}", runs_base, "s",
                 note=res["base"][-1]["summary"])
        rep.ratio(f"suite time: this tree / {args.base}", runs_now, runs_base,
                  Target("<=", 0.5, basis="wall"), mode="cost")
    else:
        rep.unavailable("suite time against the base", "--no-base",
                        Target("<=", 0.5, basis="wall"))
    for key, label in (("now", "this tree"), ("base", f"base {args.base}")):
        failed = sorted({n for r in res.get(key, []) for n in r["failed"]})
        if failed:
            rep.note(f"failed in {label}: " + ", ".join(failed[:10])
                     + (f" and {len(failed) - 10} more" if len(failed) > 10 else ""))
    files = res["now"][-1]["files"]
    top = sorted(files.items(), key=lambda kv: -kv[1][0])[:args.top]
    rep.note("slowest files in this tree (last round; CPU of the pytest process, without "
             "the processes tests start): " + "; ".join(
        f"{name} {count} tests, wall {wall:.1f} s, CPU {cpu_s:.1f} s"
        for name, (wall, cpu_s, count) in top))
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
