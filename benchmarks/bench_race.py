"""What the lockset race detector costs: off, on, and against a tree without it, side by side.

    python benchmarks/bench_race.py [--base REV | --no-base] [--seeds N] [--rounds R]
                                    [--accesses N] [--quick | --smoke]

Two measurements, each in interleaved rounds after a warm-up round
(benchmarks/_measure.py):

* **The fss sweep scenario**
  (``tests/dev/fss/test_faults.py::test_sweep_writers_against_snapshot_readers``:
  writers, snapshot readers, a snapshot compared with the frozen image) in a
  pytest process per run, pinned to one host CPU, timed per seed by
  benchmarks/portable/kemu_bench_probe.py (start-up and collection not
  counted), through benchmarks/bench_sweep.py's runner.  Cases: this tree with
  the detector off (the default), this tree under ``--kemu-race`` (every
  machine watched: fss softcs and cache slots, mounts, vnodes, bufs), and the
  base revision (default 60b1e32: main just before the detector landed), which
  has no detector at all.  "race on / race off" is what a user pays for the
  detector; "race off / base" is what it costs when off (issue 9: nothing;
  off, the classes are plain and a machine tests ``race`` once per lwp
  created), with the kernel fixes the detector brought (vn_open, vn_close and
  fhopen take v_interlock around v_writecount, as NetBSD 8 does).
* **One watched field** in a machine of this process: a kernel thread reads
  and writes ``sc_uflags`` of a shared ``struct fss_softc`` under
  ``sc_slock`` ``--accesses`` times (the mutex's cost included: four watched
  accesses each, as ``sc_slock`` is a watched field too), with the detector
  off and on, in Eraser's shared-modified state (the common case for a field
  that matters).

The machine is shared: read CPU time; wall time follows the load.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import (  # noqa: E402
    Report,
    Sample,
    Stopwatch,
    column,
    n_rounds,
    pick,
    pin_cpu,
    rounds,
    standard_args,
    warmups,
)
from benchmarks._revision import Tree, add_base_arg, current_tree  # noqa: E402
from benchmarks.bench_sweep import sweep_rounds, sweep_run  # noqa: E402

#: main just before the race detector was merged into it: the tree without the detector
BASE = "60b1e32"


# ------------------------------------------------------------------ one watched field

def field_run(accesses: int, race: bool) -> tuple[Sample, int]:
    """``accesses`` locked read-modify-writes of a shared fss_softc's sc_uflags in a
    machine booted with ``race``: the Sample of the loop, and the accesses the detector
    checked during it (0 when off)."""
    import kern
    from dev.fss.fssvar import fss_softc
    from kern import (
        IPL_NONE,
        KTHREAD_MUSTJOIN,
        MUTEX_DEFAULT,
        PRI_BIO,
        curmachine,
        kpause,
        kthread_create,
        kthread_join,
        mutex_enter,
        mutex_exit,
        mutex_init,
    )

    out: dict[str, Any] = {}

    async def other(sc: Any) -> None:
        # a second lwp touches the field under the lock and stays alive: the field is
        # shared-modified for the loop below
        await mutex_enter(sc.sc_slock)
        sc.sc_uflags |= 1
        mutex_exit(sc.sc_slock)
        await kpause("bench", False, 1_000_000, None)

    async def loop(sc: Any) -> None:
        await kpause("bench", False, 1, None)
        d = curmachine().race
        n0 = d.accesses if d is not None else 0
        sw = Stopwatch()
        for _ in range(accesses):
            await mutex_enter(sc.sc_slock)
            sc.sc_uflags |= 2
            mutex_exit(sc.sc_slock)
        out["sample"] = sw.sample(accesses)
        out["checked"] = d.accesses - n0 if d is not None else 0

    async def scenario() -> None:
        sc = fss_softc()
        mutex_init(sc.sc_slock, MUTEX_DEFAULT, IPL_NONE)
        ls = []
        for fn in (other, loop):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, sc, fn.__name__)
            if error:
                raise RuntimeError(f"kthread_create: error {error}")
            ls.append(l)
        for l in ls:
            await kthread_join(l)

    with kern.boot(seed=1, race=race) as k:
        k.run(scenario)
    return out["sample"], out["checked"]


# ------------------------------------------------------------------ main

def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    add_base_arg(ap, BASE)
    ap.add_argument("--seeds", type=int, default=None,
                    help="measured sweep seeds per process (default 30; --quick 12, --smoke 1)")
    ap.add_argument("--warm", type=int, default=None,
                    help="seeds dropped at the start of each process (default 2; --smoke 0)")
    ap.add_argument("--accesses", type=int, default=None,
                    help="field accesses per run (default 20000; --quick 5000, --smoke 200)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    seeds = args.seeds or pick(args, 30, 12, 1)
    warm = args.warm if args.warm is not None else pick(args, 2, 2, 0)
    accesses = args.accesses or pick(args, 20000, 5000, 200)
    cpu = pin_cpu(args)
    rep = Report("bench_race",
                 f"the lockset race detector: fss sweep ({seeds} seeds per process after "
                 f"{warm} dropped, pinned to CPU {cpu}) and one watched field "
                 f"({accesses} locked accesses)", args)
    now = current_tree()

    def sweep(tree: Tree, extra: list[str]):
        def run() -> dict[str, Any]:
            s, d = sweep_run(tree, seeds, warm, cpu, extra=extra)
            return {"time": s, "failed": d["failed"]}
        return run

    cases = {"off": sweep(now, []), "on": sweep(now, ["--kemu-race"])}
    rounds_out = sweep_rounds(args, rep, now, cases, lambda base: sweep(base, []))
    if rounds_out is None:
        rep.finish(args)
        return 1
    # the measured rounds only: the warm-up round's runs are not in them
    res = {key: column(runs, "time") for key, runs in rounds_out.items()}
    failed = {key: sum(r["failed"] for r in runs) for key, runs in rounds_out.items()}
    rep.cost("sweep: time per seed, race off", res["off"], "ms")
    rep.cost("sweep: time per seed, --kemu-race", res["on"], "ms")
    rep.ratio("sweep: race on / race off", res["on"], res["off"], mode="cost",
              note="what the detector costs a user who turns it on")
    if "base" in res:
        rep.cost(f"sweep: time per seed, base {args.base} (no detector)", res["base"], "ms")
        rep.ratio(f"sweep: race off / base {args.base}", res["off"], res["base"], mode="cost",
                  note="what it costs when off; issue 9 asks for nothing. The tree also "
                       "has the detector's kernel fixes: v_writecount under v_interlock")
    else:
        rep.unavailable("sweep: race off against a tree without the detector", "--no-base")

    for key, n in failed.items():
        if n:
            rep.note(f"sweep {key}: {n} failed seeds over the measured rounds (their time "
                     "counts)")

    def field(race: bool):
        def run() -> dict[str, Any]:
            s, n = field_run(accesses, race)
            return {"time": s, "checked": n}
        return run

    fres = rounds({"off": field(False), "on": field(True)}, n_rounds(args), warmups(args))
    off, on = column(fres["off"], "time"), column(fres["on"], "time")
    rep.cost("field: locked access, race off", off, "us")
    rep.cost("field: locked access, race on", on, "us")
    rep.ratio("field: race on / race off", on, off, mode="cost")
    rep.value("field: accesses checked per run, race on", column(fres["on"], "checked"), "",
              note=f"four per locked access, sc_slock read by mutex_enter and mutex_exit, "
                   f"sc_uflags read and written: {4 * accesses} expected")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
