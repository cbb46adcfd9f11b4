"""Speed of kern.native: the cffi implementation against the pure-Python twin.

Run as ``python benchmarks/bench_native.py``.  Both implementations are
measured in the same run, their repetitions interleaved, and each figure is
the median over several repetitions (time.perf_counter) of the time per
call.  Without the compiled module only the twin is measured.

Workloads (a 1 Mi-bit map is fss's sc_copied for a 1 Mi-cluster snapshot):

* bitmap scans on a 1 Mi-bit (131072-byte) map, sparse (64 bits set) and
  dense (64 bits clear), over ranges with unaligned ends:
  - walk: visit every set bit of the sparse map with ffs_range (every clear
    bit of the dense map with ffc_range), i.e. 65 calls that together scan
    the whole map; the figure is per walk;
  - miss: one ffs_range over an all-clear map (ffc_range over an all-set
    one), the worst case, where the whole range is read and nothing found;
  - popcount_range over the whole sparse map and the whole dense map;
* copies: 64 KiB memcpy between two 1 MiB buffers, at aligned and at
  unaligned offsets.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import kern.native as native

NBITS = 1 << 20
NBYTES = NBITS // 8
NMARKS = 64
REPEAT = 7
TARGET = 0.01  # seconds per repetition, roughly


def _impls() -> dict[str, Any]:
    return {name: native.load(name) for name in native.available()}


def _per_call(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _measure(cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median seconds per call of each case; repetitions interleave the cases."""
    numbers = {}
    for name, fn in cases.items():
        fn()  # warm up
        once = _per_call(fn, 1)
        numbers[name] = max(1, min(100_000, int(TARGET / max(once, 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(REPEAT):
        for name, fn in cases.items():
            samples[name].append(_per_call(fn, numbers[name]))
    return {name: statistics.median(s) for name, s in samples.items()}


def _result(times: dict[str, float]) -> dict[str, float]:
    out = dict(times)
    if "cffi" in times and "python" in times:
        out["speedup"] = times["python"] / times["cffi"]
    return out


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


def bench_bitmap_scan() -> dict[str, dict[str, float]]:
    """Per-call seconds for each scan workload and implementation, and the speed-up."""
    impls = _impls()
    sparse, dense = _maps()
    empty, full = bytearray(NBYTES), bytearray(b"\xff" * NBYTES)
    start, end = 3, NBITS - 5  # unaligned at both ends
    workloads: dict[str, Callable[[Any], Callable[[], object]]] = {
        "ffs_range walk, sparse": lambda m: lambda: _walk(m.ffs_range, sparse, start, end),
        "ffc_range walk, dense": lambda m: lambda: _walk(m.ffc_range, dense, start, end),
        "ffs_range miss, all clear": lambda m: lambda: m.ffs_range(empty, start, end),
        "ffc_range miss, all set": lambda m: lambda: m.ffc_range(full, start, end),
        "popcount_range, sparse": lambda m: lambda: m.popcount_range(sparse, start, end),
        "popcount_range, dense": lambda m: lambda: m.popcount_range(dense, start, end),
    }
    results = {}
    for label, make in workloads.items():
        results[label] = _result(_measure({name: make(m) for name, m in impls.items()}))
    # Both implementations must have computed the same thing.
    for m in impls.values():
        assert _walk(m.ffs_range, sparse, start, end) == _walk(m.ffc_range, dense, start, end)
        assert m.popcount_range(sparse, start, end) + m.popcount_range(dense, start, end) == (
            end - start
        )
    return results


def bench_copy() -> dict[str, dict[str, float]]:
    """Per-call seconds of a 64 KiB memcpy for each implementation, and the speed-up."""
    impls = _impls()
    n = 64 * 1024
    src = bytearray(random.Random(2).randbytes(1 << 20))
    dst = bytearray(1 << 20)
    results = {}
    for label, doff, soff in (
        ("memcpy 64 KiB, aligned offsets", 8 * n, 3 * n),
        ("memcpy 64 KiB, unaligned offsets", 8 * n + 3, 3 * n + 5),
    ):
        cases = {
            name: (lambda m=m, doff=doff, soff=soff: m.memcpy(dst, doff, src, soff, n))
            for name, m in impls.items()
        }
        results[label] = _result(_measure(cases))
        assert dst[doff : doff + n] == src[soff : soff + n]
    return results


def _fmt(t: float) -> str:
    if t < 1e-6:
        return f"{t * 1e9:8.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:8.1f} us"
    return f"{t * 1e3:8.2f} ms"


def main() -> None:
    names = native.available()
    print(f"kern.native benchmark; default implementation: {native.impl}")
    if "cffi" not in names:
        why = native.load_errors.get("cffi", "not built")
        print(f"cffi implementation unavailable ({why}); twin figures only")
    print(f"{'workload':36s} {'cffi':>11s} {'python':>11s} {'speed-up':>9s}")
    for group in (bench_bitmap_scan(), bench_copy()):
        for label, r in group.items():
            c = _fmt(r["cffi"]) if "cffi" in r else f"{'-':>11s}"
            s = f"{r['speedup']:8.1f}x" if "speedup" in r else f"{'-':>9s}"
            print(f"{label:36s} {c} {_fmt(r['python'])} {s}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
