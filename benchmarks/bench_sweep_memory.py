"""Peak RSS of a pytest process over a long seed sweep: no machine may outlive its test.

Runs pytest in this process on the fss seed sweep
(tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers)
with ``--kemu-sweep=N`` and prints the process's peak RSS (ru_maxrss)
after the 100th and after the last seed, with the CPU and wall time:

    python benchmarks/bench_sweep_memory.py            # 1,000 seeds
    python benchmarks/bench_sweep_memory.py --seeds 200

The second figure must stay within 1.2 times the first (the exit status
says whether it did).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = "tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Probe:
    """A pytest plugin noting the peak RSS after given numbers of finished items."""

    def __init__(self, marks: tuple[int, ...]) -> None:
        self.marks = marks
        self.done = 0
        self.failed = 0
        self.at: dict[int, tuple[float, float, float]] = {}
        self.t0 = time.perf_counter()
        self.c0 = time.process_time()

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 - pytest's hook
        if report.failed:
            self.failed += 1
        if report.when != "teardown":
            return
        self.done += 1
        if self.done in self.marks:
            self.at[self.done] = (peak_rss_mib(), time.perf_counter() - self.t0,
                                  time.process_time() - self.c0)
            print(f"\n  after {self.done} seeds: peak RSS {self.at[self.done][0]:.1f} MiB",
                  file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=1000)
    ap.add_argument("--first", type=int, default=100)
    args = ap.parse_args()
    import pytest

    os.chdir(ROOT)
    probe = Probe((args.first, args.seeds))
    rc = pytest.main(["-q", "-p", "no:cacheprovider", TEST, f"--kemu-sweep={args.seeds}",
                      "-o", "console_output_style=count"], plugins=[probe])
    first, last = probe.at.get(args.first), probe.at.get(args.seeds)
    print(f"\npeak RSS of the pytest process over the fss sweep ({probe.failed} failures):")
    for n, v in sorted(probe.at.items()):
        print(f"  after {n:5d} seeds: {v[0]:7.1f} MiB   (wall {v[1]:7.1f} s, CPU {v[2]:7.1f} s)")
    if first is None or last is None:
        print("  (the sweep did not get that far)")
        return 1
    ratio = last[0] / first[0]
    print(f"  ratio: {ratio:.3f} (must stay within 1.2)")
    return 0 if rc == 0 and ratio <= 1.2 else 1


if __name__ == "__main__":
    sys.exit(main())
