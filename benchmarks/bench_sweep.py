"""The fss sweep scenario: seeds per CPU-second, this tree against a base revision, side by side.

    python benchmarks/bench_sweep.py [--base REV] [--seeds N] [--rounds R] [--quick|--smoke]

The scenario is the fss seed sweep
``tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers``
(a 4 MiB ext2 image, a snapshot, two writers and two snapshot readers under
one seeded schedule, and the whole snapshot compared with the frozen image).
Each side runs it in a pytest process of its own tree (benchmarks/_revision.py:
the base revision exported with ``git archive``, its native helper built),
``--kemu-sweep`` seeds from 100 on, both pinned to the same host CPU; the
per-seed wall and CPU time (setup, call and teardown of each item) come from
benchmarks/portable/kemu_bench_probe.py, so interpreter start-up and
collection are not counted.  The first ``--warm`` seeds of every process are
dropped (lazy imports, first-use tables).  Rounds alternate the sides.

Cases:

* this tree, trace on (the default of ``kern.boot``);
* the base revision (default 3f54114, main before issue 13; 24d3ebe, where
  the issue's "before" figures were taken, works too), trace on;
* this tree with ``trace=False`` (the probe makes it the default of
  ``kern.boot`` in that process, and counts that the test's machines were
  booted through it).

Targets (issue 13): at least 2x the base revision's seeds per CPU-second;
trace on costs at most 5% against trace off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import (  # noqa: E402
    Report,
    Sample,
    Target,
    column,
    n_rounds,
    pick,
    pin_cpu,
    rounds,
    standard_args,
    warmups,
)
from benchmarks._revision import Tree, add_base_arg, current_tree, revision_tree  # noqa: E402

TEST = "tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers"


class SweepFailed(RuntimeError):
    """The pytest process did not run the seeds it was asked for."""


def sweep_run(tree: Tree, seeds: int, warm: int, cpu: int | None,
              boot: dict[str, Any] | None = None, test: str = TEST,
              extra: list[str] | None = None) -> tuple[Sample, dict]:
    """Run ``warm + seeds`` seeds of the sweep in a pytest process of ``tree``
    (``extra``: more pytest options, e.g. ``--kemu-race`` for benchmarks/bench_race.py).

    Returns the Sample of the kept seeds (n = seeds) and details: failures,
    the whole process's Sample, how many machines the boot override reached.
    """
    fd, probe = tempfile.mkstemp(prefix="kemu-probe-", suffix=".jsonl")
    os.close(fd)
    env = {"KEMU_BENCH_PROBE": probe}
    if boot:
        env["KEMU_BENCH_BOOT"] = json.dumps(boot)
    try:
        p, whole = tree.pytest(["-q", test, f"--kemu-sweep={warm + seeds}",
                                "-p", "kemu_bench_probe", *(extra or [])], cpu=cpu, env=env,
                               timeout=3600)
        with open(probe) as f:
            items = [json.loads(line) for line in f if line.strip()]
    finally:
        os.unlink(probe)
    if len(items) != warm + seeds:
        tail = " | ".join((p.stdout + p.stderr).strip().splitlines()[-4:])
        raise SweepFailed(f"{tree.label}: {len(items)} of {warm + seeds} seeds ran "
                          f"(exit {p.returncode}): {tail}")
    kept = items[warm:]
    s = Sample(sum(i["wall"] for i in kept), sum(i["cpu"] for i in kept), len(kept))
    return s, {"failed": sum(i["outcome"] == "failed" for i in kept), "process": whole,
               "boots_overridden": sum(i.get("boots_overridden", 0) for i in kept)}


def sweep_rounds(args: argparse.Namespace, rep: Report, now: Tree,
                 cases: dict[str, Callable[[], Any]],
                 base_case: Callable[[Tree], Callable[[], Any]]) -> dict[str, list] | None:
    """Interleaved rounds of ``cases`` and, with ``--base``, of ``base_case(tree)`` in
    that revision's tree (as "base"); the trees are noted in ``rep``.  None when a
    sweep failed (``rep`` then says so as a figure not measured)."""
    try:
        if args.base:
            with revision_tree(args.base) as base:
                cases["base"] = base_case(base)
                rep.note(f"{now.describe()}; {base.describe()}")
                return rounds(cases, n_rounds(args), warmups(args))
        rep.note(f"{now.describe()}; no base revision (--no-base)")
        return rounds(cases, n_rounds(args), warmups(args))
    except SweepFailed as e:
        rep.unavailable("fss sweep scenario", str(e))
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    add_base_arg(ap)
    ap.add_argument("--seeds", type=int, default=None,
                    help="measured seeds per process (default 30; --quick 12, --smoke 1)")
    ap.add_argument("--warm", type=int, default=None,
                    help="seeds dropped at the start of each process (default 2; --smoke 0)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to one host CPU")
    args = ap.parse_args(argv)
    seeds = args.seeds or pick(args, 30, 12, 1)
    warm = args.warm if args.warm is not None else pick(args, 2, 2, 0)
    cpu = None if args.no_pin else pin_cpu(args)
    rep = Report("bench_sweep",
                 f"fss sweep scenario: {seeds} seeds per process after {warm} dropped, "
                 f"pinned to CPU {cpu}", args)
    now = current_tree()

    def case(tree: Tree, boot: dict[str, Any] | None = None):
        def run() -> dict[str, Any]:
            s, d = sweep_run(tree, seeds, warm, cpu, boot)
            return {"time": s, **d}
        return run

    cases = {"now": case(now), "trace off": case(now, {"trace": False})}
    # the measured rounds only (the warm-up round's runs are not in them)
    details = sweep_rounds(args, rep, now, cases, case)
    if details is None:
        rep.finish(args)
        return 1
    res = {key: column(runs, "time") for key, runs in details.items()}
    rep.rate("seeds/s, this tree (trace on)", res["now"], "seeds")
    if "base" in res:
        rep.rate(f"seeds/s, base {args.base} (trace on)", res["base"], "seeds")
        rep.ratio(f"seeds per CPU-s: this tree / {args.base}", res["now"], res["base"],
                  Target(">=", 2.0))
    else:
        rep.unavailable("seeds per CPU-s against the base", "--no-base", Target(">=", 2.0))
    rep.rate("seeds/s, this tree, trace=False", res["trace off"], "seeds")
    rep.ratio("cost per seed: trace on / trace off", res["now"], res["trace off"],
              Target("<=", 1.05), mode="cost")
    rep.cost("time per seed, this tree", res["now"], "ms")
    for key, ds in details.items():
        fails = sum(d["failed"] for d in ds)
        if fails:
            rep.note(f"{key}: {fails} failed seeds over the measured rounds (their time "
                     "counts)")
    off = details.get("trace off", [])
    if off and sum(d["boots_overridden"] for d in off) == 0:
        rep.note("trace off: the probe's boot override reached no machine: "
                 "that row is trace on too")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
