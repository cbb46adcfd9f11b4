"""Peak RSS of a pytest process over a long seed sweep: no machine may outlive its test.

Runs pytest in this process on the fss seed sweep
(tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers)
with ``--kemu-sweep=N`` and prints the process's peak RSS (ru_maxrss)
after the ``--first``-th and after the last seed, with the wall and CPU
time of the seeds:

    python benchmarks/bench_sweep_memory.py            # 1,000 seeds, first mark at 100
    python benchmarks/bench_sweep_memory.py --quick    # 150 seeds, first mark at 30
    python benchmarks/bench_sweep_memory.py --seeds 200

Target: the second figure stays within 1.2 times the first (printed with
whether it is met; the exit status is 0 unless the sweep could not run).
A peak is a single measurement by nature: one run, no rounds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import ROOT, Report, Sample, Target, pick, standard_args  # noqa: E402

TEST = "tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Probe:
    """A pytest plugin noting the peak RSS after given numbers of finished items."""

    def __init__(self, marks: tuple[int, ...]) -> None:
        self.marks = marks
        self.done = 0
        self.failed = 0
        self.at: dict[int, tuple[float, Sample]] = {}
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 - pytest's hook
        if report.failed:
            self.failed += 1
        if report.when != "teardown":
            return
        self.done += 1
        if self.done in self.marks:
            s = Sample(time.perf_counter() - self.t0, time.process_time() - self.c0, self.done)
            self.at[self.done] = (peak_rss_mib(), s)
            print(f"\n  after {self.done} seeds: peak RSS {self.at[self.done][0]:.1f} MiB",
                  file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    standard_args(ap, rounds_full=1, rounds_quick=1)
    ap.add_argument("--seeds", type=int, default=None,
                    help="seeds in the sweep (default 1000; --quick 150, --smoke 2)")
    ap.add_argument("--first", type=int, default=None,
                    help="first mark (default 100; --quick 30, --smoke 1)")
    args = ap.parse_args(argv)
    seeds = args.seeds or pick(args, 1000, 150, 2)
    first_mark = args.first or pick(args, 100, 30, 1)
    import pytest

    rep = Report("bench_sweep_memory", f"peak RSS of one pytest process over {seeds} seeds "
                 "of the fss sweep", args)
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        probe = Probe((first_mark, seeds))
        pytest.main(["-q", "-p", "no:cacheprovider", TEST, f"--kemu-sweep={seeds}",
                     "-o", "console_output_style=count"], plugins=[probe])
    finally:
        os.chdir(cwd)
    first, last = probe.at.get(first_mark), probe.at.get(seeds)
    if first is None or last is None:
        rep.unavailable("peak RSS", f"the sweep stopped after {probe.done} seeds")
        rep.finish(args)
        return 1
    rep.value(f"peak RSS after {first_mark} seeds", [first[0]], "MiB")
    rep.value(f"peak RSS after {seeds} seeds", [last[0]], "MiB")
    rep.value(f"peak RSS: after {seeds} / after {first_mark}", [last[0] / first[0]], "x",
              Target("<=", 1.2))
    rep.rate("seeds/s over the sweep", [last[1]], "seeds")
    if probe.failed:
        rep.note(f"{probe.failed} of {seeds} seeds failed (their time counts)")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
