"""Kernel-core figures, measured side by side in one run.

    python benchmarks/bench_kern.py

Prints (medians of several repetitions; the machine is shared, so read the
ratios rather than the absolute numbers):

* context switches per second between two lwps handing a token back and
  forth through a condvar (each hand-off is a cv_signal + cv_wait pair: a
  block, a decision of the scheduler, one trio task switch);
* uncontended mutex_enter/mutex_exit pairs per second (each enter is a
  preemption point, free when no other lwp is runnable), with lock-order
  checking on and off;

each per second of wall time and per second of the machine thread's CPU
time (the machine is shared: the CPU figure is the steadier one);
* the native helper's speed-up over its pure-Python twin for a 1 Mi-bit
  bitmap range scan and for 64 KiB copies (benchmarks/bench_native.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from kern import (  # noqa: E402
    IPL_NONE,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    cv_init,
    cv_signal,
    cv_wait,
    kcondvar_t,
    kmutex_t,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
)

REPEAT = 5


async def pingpong(rounds: int) -> float:
    """Two lwps pass a token ``rounds`` times each way; returns switches per second."""
    mtx = kmutex_t()
    cv = kcondvar_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cv_init(cv, "pingpong")
    state = {"turn": 0}

    def player(me: int):
        async def run(_):
            await mutex_enter(mtx)
            for _ in range(rounds):
                while state["turn"] != me:
                    await cv_wait(cv, mtx)
                state["turn"] = 1 - me
                cv_signal(cv)
            mutex_exit(mtx)
        return run

    t0, c0 = time.perf_counter(), time.thread_time()
    _, a = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, player(0), None, "ping")
    _, b = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, player(1), None, "pong")
    await kthread_join(a)
    await kthread_join(b)
    return _rates(2 * rounds, t0, c0)


def _rates(n: int, t0: float, c0: float) -> tuple[float, float]:
    """n events since (wall t0, thread CPU c0): per wall second, per CPU second."""
    return n / (time.perf_counter() - t0), n / (time.thread_time() - c0)


async def uncontended(n: int) -> float:
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(n):
        await mutex_enter(mtx)
        mutex_exit(mtx)
    return _rates(n, t0, c0)


def median_run(afn, arg, **boot) -> tuple[float, float, float]:
    """Medians of (per wall second, per CPU second), and the CPU figures' spread (max/min)."""
    wall, cpu = [], []
    for i in range(REPEAT):
        with kern.boot(seed=i, trace=False, **boot) as k:
            w, c = k.run(afn, arg)
        wall.append(w)
        cpu.append(c)
    return statistics.median(wall), statistics.median(cpu), max(cpu) / min(cpu)


def main() -> None:
    print(f"kemu kernel core benchmark (medians of {REPEAT} runs; per wall s, per CPU s, "
          "CPU spread max/min)")
    sw, swc, sws = median_run(pingpong, 5000)
    print(f"  context switches/s (condvar hand-off, 2 lwps): {sw:12,.0f} {swc:12,.0f}"
          f"  ({sws:.2f})")
    m_on, m_onc, m_ons = median_run(uncontended, 50000)
    m_off, m_offc, m_offs = median_run(uncontended, 50000, lockdebug=False)
    print(f"  uncontended mutex enter+exit/s (lockdebug on):  {m_on:12,.0f} {m_onc:12,.0f}"
          f"  ({m_ons:.2f}; {m_onc / m_offc:.2f} of lockdebug off)")
    print(f"  uncontended mutex enter+exit/s (lockdebug off): {m_off:12,.0f} {m_offc:12,.0f}"
          f"  ({m_offs:.2f})")
    from benchmarks import bench_native

    scan = bench_native.bench_bitmap_scan()
    copy = bench_native.bench_copy()
    print(f"  native helper (kern.native.impl = {kern.native.impl}):")
    for name, r in list(scan.items()) + list(copy.items()):
        if "speedup" in r:
            print(f"    {name:38s} speed-up over twin: {r['speedup']:6.2f}x")
        else:
            print(f"    {name:38s} twin only: {r}")


if __name__ == "__main__":
    main()
