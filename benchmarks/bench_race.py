"""What the lockset race detector costs: the fss seed sweep with it off and on.

Runs the fss sweep test
(tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers)
for ``--seeds`` seeds in a fresh pytest process, without and with
``--kemu-race``, ``--rounds`` times each (alternating which goes first), and
prints the median CPU time (user+system of the pytest process) and wall time
of each, their spread, and the ratio on/off of the medians:

    python benchmarks/bench_race.py                 # 50 seeds, 5 rounds
    python benchmarks/bench_race.py --seeds 20 --rounds 3

The machine is shared: CPU time is the figure to read, wall time is noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = "tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers"


def run(seeds: int, race: bool) -> tuple[float, float]:
    """One pytest process over the sweep: (CPU seconds, wall seconds)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
           f"--kemu-sweep={seeds}"] + (["--kemu-race"] if race else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"the sweep failed ({'on' if race else 'off'}):\n{r.stdout[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    res: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for i in range(args.rounds):
        for race in ((False, True) if i % 2 == 0 else (True, False)):
            res[race].append(run(args.seeds, race))
            cpu, wall = res[race][-1]
            print(f"  round {i + 1} race {'on ' if race else 'off'}: CPU {cpu:6.2f} s, "
                  f"wall {wall:6.2f} s", file=sys.stderr, flush=True)
    print(f"fss sweep, {args.seeds} seeds per run, {args.rounds} runs each "
          f"(medians; spread min..max):")
    med = {}
    for race in (False, True):
        cpus = [c for c, _ in res[race]]
        walls = [w for _, w in res[race]]
        med[race] = (statistics.median(cpus), statistics.median(walls))
        print(f"  race {'on ' if race else 'off'}: CPU {med[race][0]:7.2f} s "
              f"({min(cpus):.2f}..{max(cpus):.2f})   wall {med[race][1]:7.2f} s "
              f"({min(walls):.2f}..{max(walls):.2f})")
    print(f"  on/off: CPU x{med[True][0] / med[False][0]:.2f}, "
          f"wall x{med[True][1] / med[False][1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
