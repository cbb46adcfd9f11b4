"""Speed of kern.native: the cffi helper against its pure-Python twin (and memoryview copies).

    python benchmarks/bench_native.py [--rounds R] [--quick|--smoke]

Every entry point of the helper, on the buffers fss uses them on (a 1 Mi-bit
map is fss's sc_copied for a 1 Mi-cluster snapshot), each implementation
timed in batches of calls sized to about 10 ms (``--quick``: 4 ms), the
implementations interleaved in rotating order, one warm-up round.  The
figure per workload is the speed-up, the twin's time per call over the cffi
helper's (median of the per-round ratios; CPU and wall).

* single bits: setbit, clrbit, isset on one map (the call itself is the cost);
* runs of bits: setbits / clrbits of 8 bits and of the whole map, unaligned;
* scans on the 1 Mi-bit map, sparse (64 bits set) or dense (64 bits clear):
  a walk visiting every set (clear) bit with ffs_range (ffc_range), a miss
  (the whole range read, nothing found), popcount_range of the whole map;
* 64 KiB memset, 64 KiB and 512-byte memcpy at aligned and unaligned
  offsets; for memcpy also a plain memoryview slice assignment, the copy
  Python does without either.

Target (issue 13): the helper keeps only what beats the twin by at least 2x;
each row of an entry point the helper runs in C (``kern.native.C_ENTRIES``)
says "keep" or "drop" on its CPU median.  The entry points it left to the
twin (single bits, runs of bits, memcpy: each under 2x when measured in C)
are timed once, as the twin, and memcpy beside a bare memoryview copy.
Without the compiled module only the twin is timed, and the rows say so.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern.native as native  # noqa: E402
from benchmarks._measure import (  # noqa: E402
    Report,
    Sample,
    Stopwatch,
    Target,
    n_rounds,
    pick,
    rounds,
    spread,
    standard_args,
    warmups,
)

NBITS = 1 << 20
NBYTES = NBITS // 8
NMARKS = 64


def _maps(seed: int = 1) -> tuple[bytearray, bytearray]:
    rng = random.Random(seed)
    sparse = bytearray(NBYTES)
    for i in rng.sample(range(NBITS), NMARKS):
        sparse[i >> 3] |= 1 << (i & 7)
    dense = bytearray(b ^ 0xFF for b in sparse)
    return sparse, dense


def _walk(find: Callable[[Any, int, int], int], a: Any, start: int, end: int) -> int:
    n = 0
    i = find(a, start, end)
    while i >= 0:
        n += 1
        i = find(a, i + 1, end)
    return n


def workloads() -> dict[str, Callable[[Any], Callable[[], object]]]:
    """Workload name -> (implementation -> a call of it)."""
    sparse, dense = _maps()
    empty, full = bytearray(NBYTES), bytearray(b"\xff" * NBYTES)
    scratch = bytearray(NBYTES)
    start, end = 3, NBITS - 5  # unaligned at both ends
    src = bytearray(random.Random(2).randbytes(1 << 20))
    dst = bytearray(1 << 20)
    k64 = 64 * 1024
    return {
        "setbit": lambda m: lambda: m.setbit(scratch, 77_777),
        "clrbit": lambda m: lambda: m.clrbit(scratch, 77_777),
        "isset": lambda m: lambda: m.isset(sparse, 77_777),
        "setbits, 8 bits": lambda m: lambda: m.setbits(scratch, 1001, 8),
        "clrbits, 8 bits": lambda m: lambda: m.clrbits(scratch, 1001, 8),
        "setbits, whole map": lambda m: lambda: m.setbits(scratch, start, end - start),
        "clrbits, whole map": lambda m: lambda: m.clrbits(scratch, start, end - start),
        "ffs_range walk, sparse": lambda m: lambda: _walk(m.ffs_range, sparse, start, end),
        "ffc_range walk, dense": lambda m: lambda: _walk(m.ffc_range, dense, start, end),
        "ffs_range miss, all clear": lambda m: lambda: m.ffs_range(empty, start, end),
        "ffc_range miss, all set": lambda m: lambda: m.ffc_range(full, start, end),
        "popcount_range, sparse": lambda m: lambda: m.popcount_range(sparse, start, end),
        "popcount_range, dense": lambda m: lambda: m.popcount_range(dense, start, end),
        "memset 64 KiB": lambda m: lambda: m.memset(dst, 3, 0x5A, k64),
        "memcpy 64 KiB, aligned": lambda m: lambda: m.memcpy(dst, 8 * k64, src, 3 * k64, k64),
        "memcpy 64 KiB, unaligned":
            lambda m: lambda: m.memcpy(dst, 8 * k64 + 3, src, 3 * k64 + 5, k64),
        "memcpy 512 B, unaligned": lambda m: lambda: m.memcpy(dst, 4099, src, 77, 512),
    }


class _MemoryviewCopy:
    """memcpy as a bare memoryview slice assignment: no argument checks, no helper."""

    def memcpy(self, dst: bytearray, doff: int, src: bytearray, soff: int, n: int) -> None:
        d = memoryview(dst)
        d[doff:doff + n] = memoryview(src)[soff:soff + n]


def batch(fn: Callable[[], object], seconds: float) -> Callable[[], Sample]:
    """A case timing a batch of calls of ``fn`` sized to about ``seconds``."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, min(200_000, int(seconds / once)))

    def run() -> Sample:
        sw = Stopwatch()
        for _ in range(number):
            fn()
        return sw.sample(number)

    return run


def _us(s: list[Sample]) -> str:
    cpu = spread([x.cost("cpu") for x in s]).median * 1e6
    return f"{cpu:.3g} us"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=7)
    args = ap.parse_args(argv)
    seconds = pick(args, 0.01, 0.004, 0.0005)
    impls = {name: native.load(name) for name in native.available()}
    rep = Report("bench_native", f"kern.native: cffi helper against the Python twin "
                 f"(default implementation: {native.impl})", args)
    if "cffi" not in impls:
        rep.note(f"cffi helper unavailable ({native.load_errors.get('cffi', 'not built')}): "
                 "twin only")
    mv = _MemoryviewCopy()
    for label, make in workloads().items():
        entry = label.split(" ")[0].rstrip(",")
        # the cffi implementation serves an entry point without C with the twin's function
        twin_only = "cffi" in impls and entry not in native.C_ENTRIES
        if twin_only:
            assert getattr(impls["cffi"], entry) is getattr(impls["python"], entry)
        cases = {name: batch(make(m), seconds) for name, m in impls.items()
                 if not twin_only or name == "python"}
        if label.startswith("memcpy"):
            cases["memoryview"] = batch(make(mv), seconds)
        res = rounds(cases, n_rounds(args), warmups(args))
        if twin_only:
            rep.cost(f"{label}: the twin (no C entry)", res["python"],
                     "ns" if label.startswith(("setbit", "clrbit", "isset")) else "us")
            if "memoryview" in res:
                rep.ratio(f"{label}: memoryview copy / the twin", res["memoryview"],
                          res["python"], mode="cost")
            continue
        if "cffi" not in res:
            rep.cost(f"{label} (twin)", res["python"])
            continue
        note = f"per call, CPU medians: cffi {_us(res['cffi'])}, twin {_us(res['python'])}"
        if "memoryview" in res:
            note += f", memoryview copy {_us(res['memoryview'])}"
        fig = rep.ratio(f"{label}: twin / cffi", res["python"], res["cffi"], Target(">=", 2.0),
                        mode="cost", note=note)
        fig.note += "; keep" if fig.met else "; drop (under 2x)"
        if "memoryview" in res:
            rep.ratio(f"{label}: memoryview copy / cffi", res["memoryview"], res["cffi"],
                      mode="cost")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
