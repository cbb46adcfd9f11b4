"""Instructions a sweep seed, an fstat or a switch costs, counted by valgrind (load-proof).

    python benchmarks/count_instructions.py sweep [--seeds 100-129 --minus 100-109]
    python benchmarks/count_instructions.py fstat [--calls 2000 --minus 1000]
    python benchmarks/count_instructions.py sweep --digests [--seeds 100-399]
    python benchmarks/count_instructions.py fstat --digests
    python benchmarks/count_instructions.py switch [--switches 20000 --minus 10000] [--batch N]
    python benchmarks/count_instructions.py sweep|fstat|switch --trace-off

The benchmarks time CPU seconds, which on this shared machine swing with the
load by more than one speed change is worth.  Instruction counts do not:
cachegrind gives the same count for the same code and input, whatever else
runs.  So each speed change of issue 13 was measured here, twice per case:

* ``sweep``: the fss sweep scenario
  (tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers,
  the test function itself, outside pytest) for seeds 100-129 and for seeds
  100-109 in two valgrind runs; per seed = the difference / 20, so the
  interpreter's start-up and imports cancel out;
* ``fstat``: fstat(2) of an open file on memfs with the server in the
  machine (bench_puffs's figure), 2000 and 1000 calls; per call = the
  difference / 1000;
* ``switch``: two kernel threads hand a token back and forth through a
  condvar (bench_kern's ping-pong), 20000 and 10000 hand-offs; per switch =
  the difference / 10000; with ``--batch N``, the hand-offs run as
  ping-pongs of N each, a fresh pair of kernel threads each, one after the
  other in one lwp of one machine: what bench_kern's trace on / off pairs
  time (the making and joining of the threads too, but not the cost of the
  ``machine.run`` each of their batches is, which their stopwatch leaves
  out: ~3% of a batch of 500 by instructions, trace off).

``--digests`` runs without valgrind and prints, per seed (or for the fstat
or switch machine), a hash of the schedule string and the trace's digest: a speed
change must leave every line as it was (compare the output of two trees
with ``diff``).  ``--trace-off`` boots the machines with ``trace=False``:
the difference from the default count is what the trace costs, steadier than
the benchmarks' trace on/off ratios.  The counted runs are child processes with
``PYTHONHASHSEED`` set to 0, so that the counts do not move with set and dict
order.

Run it from the tree to measure (its ``.venv``'s python, or any python that
imports that tree's kemu).  Before counting, the script runs the smaller case
once outside valgrind, with bytecode written whatever
``PYTHONDONTWRITEBYTECODE`` says, so that neither counted run compiles a
module edited since its cache was written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _seed_range(text: str) -> range:
    a, _, b = text.partition("-")
    return range(int(a), int(b or a) + 1)


def run_sweep(seeds: range, digests: bool = True, trace: bool = True) -> list[str]:
    """The sweep test's body for ``seeds``: a line per seed (seed, schedule hash, trace
    digest; the seed alone without ``digests``, so that a count leaves their cost out)."""
    sys.path.insert(0, str(ROOT))
    import kern
    from tests.dev.fss import test_faults

    machines: list[Any] = []
    real = kern.boot

    def boot(*args: Any, **kw: Any) -> Any:
        k = real(*args, **{"trace": trace, **kw})
        machines.append(k)
        return k

    kern.boot = boot
    lines = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for seed in seeds:
                d = Path(tmp) / str(seed)
                d.mkdir()
                del machines[:]
                test_faults.test_sweep_writers_against_snapshot_readers(tmp_path=d, seed=seed)
                shutil.rmtree(d)
                lines.append(f"{seed} {_digest(machines)}" if digests else str(seed))
    finally:
        kern.boot = real
    return lines


def run_fstat(calls: int, digests: bool = True, trace: bool = True) -> tuple[float, str]:
    """``calls`` fstat(2)s of a memfs file, the server in the machine: CPU seconds
    of the loop and the machine's schedule hash and trace digest ("" without ``digests``;
    the digest of an empty trace with ``trace`` off)."""
    sys.path.insert(0, str(ROOT))
    import kern
    from kern.fcntl import O_RDONLY
    from kern.machine import testing as kt
    from tools.lib import libc

    async def body() -> float:
        pm = await kt.mount_memfs("/mnt")
        await kt.write_file("/mnt/f", b"")
        fd = await libc.open("/mnt/f", O_RDONLY)
        for _ in range(20):
            await libc.fstat(fd)
        t = time.process_time()
        for _ in range(calls):
            await libc.fstat(fd)
        t = time.process_time() - t
        await libc.close(fd)
        await pm.unmount()
        return t

    with kern.boot(seed=0, trace=trace) as k:
        t = kt.in_process(k, body, comm="bench")
    return t, _digest([k]) if digests else ""


def run_switch(switches: int, digests: bool = True, trace: bool = True,
               batch: int | None = None) -> str:
    """``switches`` hand-offs of a token between two kernel threads through a
    condvar (bench_kern's ping-pong; in ping-pongs of ``batch`` hand-offs, each
    with a pair of threads of its own, one after the other in one lwp, when
    given): the machine's schedule hash and trace digest ("" without ``digests``)."""
    sys.path.insert(0, str(ROOT))
    import kern
    from benchmarks.bench_kern import kemu_pingpong

    async def pingpongs(n: int) -> None:
        # (one machine.run for all: bench_kern's pairs run one a batch, but
        # time only what kemu_pingpong's stopwatch sees, not the run's own cost)
        for _ in range(n):
            await kemu_pingpong(batch)

    with kern.boot(seed=0, trace=trace) as k:
        if batch is None:
            k.run(kemu_pingpong, switches)
        else:
            k.run(pingpongs, switches // batch)
    return _digest([k]) if digests else ""


def _digest(machines: list[Any]) -> str:
    return " ".join(f"{hashlib.sha1(k.schedule.encode()).hexdigest()[:12]} "
                    f"{k.trace.digest()[:16]}" for k in machines)


def _child_env() -> dict[str, str]:
    """The environment of the warm-up and counted runs: PYTHONHASHSEED=0, and
    bytecode written (the warm-up must leave the caches the counted runs read)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def instructions(args: list[str]) -> int:
    """The instructions cachegrind counts for this script run with ``args``."""
    p = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        "--cachegrind-out-file=/dev/null", sys.executable, __file__, *args],
                       cwd=ROOT, env=_child_env(), capture_output=True, text=True, check=True)
    m = re.search(r"I\s+refs:\s+([\d,]+)", p.stderr)
    if m is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{p.stderr[-2000:]}")
    return int(m.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("case", choices=("sweep", "fstat", "switch"))
    ap.add_argument("--seeds", default="100-129", help="sweep: the seeds counted (A-B)")
    ap.add_argument("--minus", default=None,
                    help="the run subtracted (sweep: seeds, default 100-109; fstat: calls, "
                         "default 1000; switch: switches, default 10000)")
    ap.add_argument("--calls", type=int, default=2000, help="fstat: the calls counted")
    ap.add_argument("--switches", type=int, default=20000, help="switch: the switches counted")
    ap.add_argument("--batch", type=int, default=None,
                    help="switch: hand-offs per ping-pong, a fresh pair of threads each "
                         "(default: one ping-pong); the counts must be multiples of it")
    ap.add_argument("--digests", action="store_true",
                    help="no valgrind: print each run's schedule hash and trace digest")
    ap.add_argument("--trace-off", action="store_true",
                    help="boot the machines with trace=False (what the trace costs)")
    ap.add_argument("--body", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.body or a.digests:
        if a.case == "sweep":
            print("\n".join(run_sweep(_seed_range(a.seeds), digests=a.digests,
                                       trace=not a.trace_off)))
        elif a.case == "switch":
            line = run_switch(a.switches, digests=a.digests, trace=not a.trace_off,
                              batch=a.batch)
            print(f"switch {line}")
        else:
            t, digest = run_fstat(a.calls, digests=a.digests, trace=not a.trace_off)
            print(f"fstat {digest}" if a.body else
                  f"fstat {digest} ({1e6 * t / max(a.calls, 1):.1f} us of CPU a call, "
                  f"{a.calls} calls)")
        return 0

    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    if a.case == "sweep":
        big, small = _seed_range(a.seeds), _seed_range(a.minus or "100-109")
        runs = [["sweep", "--body", "--seeds", f"{r.start}-{r.stop - 1}",
                 *(["--trace-off"] if a.trace_off else [])] for r in (big, small)]
        unit, n = "seed", len(big) - len(small)
    elif a.case == "switch":
        small_sw = int(a.minus or 10000)
        if a.batch is not None and (a.batch < 1 or a.switches % a.batch or small_sw % a.batch):
            ap.error("--switches and --minus must be multiples of --batch")
        runs = [["switch", "--body", "--switches", str(c),
                 *(["--trace-off"] if a.trace_off else []),
                 *(["--batch", str(a.batch)] if a.batch else [])] for c in (a.switches, small_sw)]
        unit, n = "switch", a.switches - small_sw
    else:
        small_calls = int(a.minus or 1000)
        runs = [["fstat", "--body", "--calls", str(c), *(["--trace-off"] if a.trace_off else [])]
                for c in (a.calls, small_calls)]
        unit, n = "fstat", a.calls - small_calls
    if n <= 0:
        ap.error("the counted run must be longer than the one subtracted")
    subprocess.run([sys.executable, __file__, *runs[1]], cwd=ROOT, env=_child_env(),
                   check=True, stdout=subprocess.DEVNULL)          # (bytecode caches warm)
    big_i, small_i = (instructions(r) for r in runs)
    units = unit + ("es" if unit.endswith("h") else "s")
    print(f"{a.case}: {big_i:,} - {small_i:,} instructions over {n} {units}: "
          f"{(big_i - small_i) / n:,.0f} a {unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
