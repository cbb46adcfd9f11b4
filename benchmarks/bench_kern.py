"""Kernel core: kemu's context switch against bare trio and asyncio, trace and lockdebug costs.

    python benchmarks/bench_kern.py [--rounds R] [--switches N] [--pairs P] [--batches B]
                                     [--no-instructions] [--quick|--smoke]

Every case runs in each round, the order rotating; each sample is one fresh
machine (or event loop), timed inside from the first switch to the last
(wall and process CPU time; boot and teardown are not counted).

The trace's cost is a few percent of a switch, less than what the load of
a shared machine does to one sample (another process on the sibling
hardware thread, caches flushed by the host's context switches), and a
round of nine cases spreads the two sides of a ratio over seconds.  So
"trace on / trace off" is measured on its own, finely interleaved: a pair
is two machines booted side by side (trace off, trace on; the boot order
alternating from pair to pair), which then run the ping-pong in
``--batches`` short batches each (``--switches`` / 40 hand-offs), the
machines taking turns batch by batch (off on, on off, ...), so the load
falls on both sides alike; the first batch of each machine warms it and is
not counted.  A pair's figure is its two sides' totals; the ratio is the
median of ``--pairs`` pairs' ratios, the quartiles beside it.  The ratio of
the main rounds' long samples (a fresh machine each) is printed too,
without a target.

The collector in the pairs: the two machines' boots leave thousands of
young objects, and the passes that age them (a middle pass of ~2 ms, ten
times a young one: nearly a tenth of a side's ~23 ms of counted batches)
landed in whichever side's batch was running.  At a load of ~2 that was
the widest part of the pairs' spread (in one run of 15 pairs the two at
1.15 were the two whose trace side drew that pass; without the
collector's time the quartiles were 1.046-1.062 against 1.045-1.103); at a
load of ~8 the load's own spread is wider.  So a full collection runs after
the uncounted batches: what the boots left is no cost of either side's
switches.  The young passes the counted batches' own allocations cause
stay in the figure, and the trace side draws more of them (a batch of 500
leaves ~62 new tracked objects to the collector against ~47, and ~6 of
them stay, its lwps' interned events, against none): a cost of the
trace.  Their count per side is printed beside the ratio.
(``time.process_time`` counts every thread, but the other machine and
the main thread idle while a batch runs: an idle booted machine spent 39
us of CPU in a second, and the kernel thread's own CPU time gave the same
ratios to 0.1%.)

The same ratio by instructions, which the load does not move: cachegrind
counts (benchmarks/count_instructions.py switch --batch) of 20 batches of
the pairs' size less 10, trace off and on, in one lwp of one machine: what
the pairs' stopwatch times, without the ``machine.run`` a batch that it
leaves out (~25 s of CPU; not in ``--smoke``, nor with
``--no-instructions``; where valgrind is not installed, or the count
fails, the line says why).

Context switches: two tasks hand a token back and forth ``--switches`` times
in all; one hand-off is one switch.

* kemu: two kernel threads, a kmutex and a kcondvar: each hand-off is
  ``cv_signal`` then ``cv_wait`` (a sleep, a wakeup and a switch of lwps);
  booted with ``trace=False`` (and lockdebug on, the default), with the
  trace on (the default), and with ``lockdebug=False``;
* bare trio: two trio tasks and a ``trio.lowlevel.ParkingLot`` (the
  primitive trio's own locks and conditions park on), the same loop shape;
* trio Lock + Condition: the shape of kemu's mutex + condvar in plain trio;
* asyncio: two tasks, futures as the parking spot, the same loop shape;
* plain coroutines: two coroutines and a trampoline loop that sends into
  whichever holds the token, no event loop at all: the floor of kemu's own
  design (its lwps are coroutines stepped by one trio task per machine,
  kern/machine/scheduler.py), where a switch costs no trio run-loop round.

Uncontended ``mutex_enter``/``mutex_exit`` pairs with lockdebug on and off.

Where the CPU goes with ``lockdebug=False``: one ping-pong and one mutex
loop under cProfile (the machine's async face, so the kernel runs in the
profiled thread): the share of the profiled time spent in functions of
kern/subr_lockdebug.py.

Targets (issue 13): a kemu context switch costs at most 1.5x a bare trio
switch (since kemu's lwps stopped being trio tasks it costs less than one:
the plain-coroutine anchor is the floor now); trace on costs at most 5%
against trace off (per switch);
``lockdebug=False`` costs nothing for lock order (share of
kern/subr_lockdebug.py under 1%, the profile's resolution).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import subprocess
import sys
import types
from collections.abc import Awaitable, Callable, Generator
from contextlib import AbstractAsyncContextManager

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import trio  # noqa: E402

import kern  # noqa: E402
from benchmarks._measure import (  # noqa: E402
    Report,
    Sample,
    Stopwatch,
    Target,
    column,
    in_async_machine,
    n_rounds,
    pick,
    profile_share,
    profiled,
    rounds,
    standard_args,
    warmups,
)
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

# ================================================================== kemu


async def kemu_pingpong(switches: int) -> Sample:
    """Two kernel threads pass a token through a condvar: ``switches`` hand-offs in all."""
    mtx = kmutex_t()
    cv = kcondvar_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cv_init(cv, "pingpong")
    state = {"turn": 0}
    per_side = switches // 2

    def player(me: int):
        async def run(_):
            await mutex_enter(mtx)
            for _ in range(per_side):
                while state["turn"] != me:
                    await cv_wait(cv, mtx)
                state["turn"] = 1 - me
                cv_signal(cv)
            mutex_exit(mtx)
        return run

    sw = Stopwatch()
    _, a = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, player(0), None, "ping")
    _, b = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, player(1), None, "pong")
    await kthread_join(a)
    await kthread_join(b)
    return sw.sample(2 * per_side)


async def kemu_mutex(n: int) -> Sample:
    """``n`` uncontended mutex_enter + mutex_exit pairs."""
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    sw = Stopwatch()
    for _ in range(n):
        await mutex_enter(mtx)
        mutex_exit(mtx)
    return sw.sample(n)


def in_machine(afn, arg, **boot) -> Sample:
    with kern.boot(seed=0, **boot) as k:
        return k.run(afn, arg)


def trace_pair(switches: int, batches: int, trace_first: bool,
               passes: dict[str, int] | None = None) -> dict[str, Sample]:
    """Two machines, trace off and on, taking turns at ``batches`` ping-pongs of
    ``switches`` hand-offs (after one batch each that is not counted): each
    side's totals.  Between the uncounted batches and the counted ones a full
    collection (``gc.collect()``) takes what the boots left to the collector;
    the collector's passes in each side's counted batches are added to
    ``passes`` (side -> count) when given."""
    with contextlib.ExitStack() as st:
        sides = ("on", "off") if trace_first else ("off", "on")
        ks = {side: st.enter_context(kern.boot(seed=0, trace=side == "on")) for side in sides}
        tot = {side: Sample(0.0, 0.0, 0) for side in sides}
        running = [""]      # the side whose batch runs: its collector passes

        def count(phase: str, _info: dict[str, int]) -> None:
            if passes is not None and phase == "stop" and running[0]:
                passes[running[0]] = passes.get(running[0], 0) + 1

        gc.callbacks.append(count)
        st.callback(gc.callbacks.remove, count)
        for i in range(batches + 1):
            if i == 1:
                # The boots' objects are still young: left there, the passes
                # that age them (a 2 ms middle pass among ~0.2 ms young ones)
                # land in whichever side's batch is running, a cost of the
                # boots and not of either side's switches.  Young passes the
                # batches' own allocations cause stay in the figure (the trace
                # side leaves ~62 tracked objects a batch against ~47: more).
                gc.collect()
            for side in (sides if i % 2 == 0 else sides[::-1]):
                running[0] = side if i else ""
                s = ks[side].run(kemu_pingpong, switches)
                running[0] = ""
                if i:
                    t = tot[side]
                    t.wall += s.wall
                    t.cpu += s.cpu
                    t.n += s.n
        return tot


#: Instructions a switch costs, counted by cachegrind (load-proof).
COUNT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "count_instructions.py")


def switch_instructions(batch: int, batches: int = 20) -> tuple[int, int] | str:
    """Instructions a switch costs with the trace off and on, in the trace pairs'
    shape (ping-pongs of ``batch`` hand-offs, a fresh pair of threads each, as
    their stopwatch times them):
    ``batches`` of them counted by benchmarks/count_instructions.py, half as
    many subtracted.  Or, when nothing could be counted, why."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian: apt-get install valgrind)"
    got = []
    for extra in (["--trace-off"], []):
        cmd = [sys.executable, COUNT, "switch", "--batch", str(batch),
               "--switches", str(batches * batch), "--minus", str(batches // 2 * batch), *extra]
        p = subprocess.run(cmd, capture_output=True, text=True)
        m = re.search(r"([\d,]+) a switch", p.stdout)
        if p.returncode or m is None:
            last = (p.stderr.strip().splitlines() or ["no output"])[-1]
            return f"count_instructions.py switch failed (exit {p.returncode}): {last}"
        got.append(int(m.group(1).replace(",", "")))
    return got[0], got[1]


# ================================================================== anchors


async def _trio_handoff(switches: int, wait: Callable[[], Awaitable[object]],
                        wake: Callable[[], object],
                        hold: Callable[[], AbstractAsyncContextManager[object]]) -> Sample:
    """Two trio tasks pass a token: ``wait()`` parks, ``wake()`` wakes the other,
    each player runs its whole loop inside ``hold()`` (a lock, or nothing)."""
    state = {"turn": 0}
    per_side = switches // 2

    async def player(me: int) -> None:
        async with hold():
            for _ in range(per_side):
                while state["turn"] != me:
                    await wait()
                state["turn"] = 1 - me
                wake()

    sw = Stopwatch()
    async with trio.open_nursery() as n:
        n.start_soon(player, 0)
        n.start_soon(player, 1)
    return sw.sample(2 * per_side)


async def _trio_parkinglot(switches: int) -> Sample:
    lot = trio.lowlevel.ParkingLot()
    return await _trio_handoff(switches, lot.park, lot.unpark, contextlib.nullcontext)


async def _trio_condition(switches: int) -> Sample:
    cond = trio.Condition(trio.Lock())
    return await _trio_handoff(switches, cond.wait, cond.notify, lambda: cond)


async def _asyncio_futures(switches: int) -> Sample:
    loop = asyncio.get_running_loop()
    waiting: list[asyncio.Future | None] = [None, None]
    state = {"turn": 0}
    per_side = switches // 2

    async def player(me: int) -> None:
        for _ in range(per_side):
            while state["turn"] != me:
                f = loop.create_future()
                waiting[me] = f
                await f
            state["turn"] = 1 - me
            w = waiting[1 - me]
            if w is not None and not w.done():
                w.set_result(None)

    sw = Stopwatch()
    await asyncio.gather(player(0), player(1))
    return sw.sample(2 * per_side)


@types.coroutine
def _give_up() -> Generator[None, None, None]:
    yield


def coroutine_pingpong(switches: int) -> Sample:
    """Two coroutines pass a token; a trampoline resumes the one whose turn it is."""
    state = {"turn": 0}
    per_side = switches // 2

    async def player(me: int) -> None:
        for _ in range(per_side):
            while state["turn"] != me:
                await _give_up()
            state["turn"] = 1 - me

    live = {0: player(0), 1: player(1)}
    sw = Stopwatch()
    while live:
        me = state["turn"] if state["turn"] in live else next(iter(live))
        try:
            live[me].send(None)
        except StopIteration:
            del live[me]
    return sw.sample(2 * per_side)


def bare_trio(switches: int) -> Sample:
    return trio.run(_trio_parkinglot, switches)


def trio_condition(switches: int) -> Sample:
    return trio.run(_trio_condition, switches)


def asyncio_pingpong(switches: int) -> Sample:
    return asyncio.run(_asyncio_futures(switches))


# ================================================================== lockdebug=False profile


def lockdebug_share(switches: int, locks: int) -> tuple[float, int, int]:
    """(share of profiled time in kern/subr_lockdebug.py, its calls, lock operations)
    over a ping-pong and a mutex loop in a machine booted with lockdebug=False."""

    async def body(k) -> None:
        await k.run(kemu_pingpong, switches)
        await k.run(kemu_mutex, locks)

    _, st = profiled(lambda: in_async_machine(body, seed=0, trace=False, lockdebug=False))
    share, calls = profile_share(st, lambda file, _fn: file.endswith("kern/subr_lockdebug.py"))
    # lock operations: each switch takes and releases the mutex once (in cv_wait),
    # each loop iteration once
    return share, calls, switches + locks


# ================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=7)
    ap.add_argument("--switches", type=int, default=None,
                    help="hand-offs per sample (default 20000; --quick 6000, --smoke 200)")
    ap.add_argument("--pairs", type=int, default=None,
                    help="pairs of machines for trace on / off (default 15; --quick 8, --smoke 1)")
    ap.add_argument("--batches", type=int, default=None,
                    help="counted batches per machine of a pair (default 20; --quick 12, "
                         "--smoke 2)")
    ap.add_argument("--no-instructions", action="store_true",
                    help="skip the trace on / off count under valgrind")
    args = ap.parse_args(argv)
    n = args.switches or pick(args, 20000, 6000, 200)
    pairs = args.pairs or pick(args, 15, 8, 1)
    batches = args.batches or pick(args, 20, 12, 2)
    locks = pick(args, 50000, 20000, 500)
    rep = Report("bench_kern", f"kernel core: {n} context switches, {locks} mutex pairs "
                 "per sample", args)
    res = rounds({
        "kemu": lambda: in_machine(kemu_pingpong, n, trace=False),
        "kemu trace": lambda: in_machine(kemu_pingpong, n, trace=True),
        "kemu nold": lambda: in_machine(kemu_pingpong, n, trace=False, lockdebug=False),
        "trio": lambda: bare_trio(n),
        "trio cond": lambda: trio_condition(n),
        "asyncio": lambda: asyncio_pingpong(n),
        "coroutines": lambda: coroutine_pingpong(n),
        "mutex": lambda: in_machine(kemu_mutex, locks, trace=False),
        "mutex nold": lambda: in_machine(kemu_mutex, locks, trace=False, lockdebug=False),
    }, n_rounds(args), warmups(args))
    # trace on / off, finely interleaved (see the module's docstring)
    tn = max(2, n // 40)
    passes: dict[str, int] = {}
    tp = [trace_pair(tn, batches, bool(i % 2), passes) for i in range(pairs)]
    tpairs = {side: column(tp, side) for side in ("off", "on")}
    rep.cost("switch: kemu condvar (trace off)", res["kemu"])
    rep.cost("switch: kemu condvar, trace on", res["kemu trace"])
    rep.cost("switch: kemu condvar, lockdebug=False", res["kemu nold"])
    rep.cost("switch: bare trio (ParkingLot)", res["trio"])
    rep.cost("switch: trio Lock + Condition", res["trio cond"])
    rep.cost("switch: asyncio (futures)", res["asyncio"])
    rep.cost("switch: plain coroutines, a trampoline", res["coroutines"])
    rep.ratio("kemu switch / bare trio switch", res["kemu"], res["trio"], Target("<=", 1.5),
              mode="cost")
    rep.ratio("kemu switch / trio Lock+Condition", res["kemu"], res["trio cond"], mode="cost")
    rep.ratio("kemu switch / asyncio switch", res["kemu"], res["asyncio"], mode="cost")
    rep.ratio("kemu switch / plain coroutine switch", res["kemu"], res["coroutines"],
              mode="cost")
    tr = rep.ratio("switch: trace on / trace off", tpairs["on"], tpairs["off"],
                   Target("<=", 1.05), mode="cost")
    assert tr.wall is not None and tr.cpu is not None
    tr.note = (f"{pairs} pairs of machines, {batches} batches of {tn} switches each, "
               f"taking turns; quartiles: wall {tr.wall.q1:.3f}-{tr.wall.q3:.3f}, "
               f"CPU {tr.cpu.q1:.3f}-{tr.cpu.q3:.3f}; collector passes in the counted "
               f"batches: off {passes.get('off', 0)}, on {passes.get('on', 0)}")
    label = "switch: trace on / trace off, instructions (cachegrind)"
    skip = "--smoke" if args.smoke else "--no-instructions" if args.no_instructions else ""
    target = Target("<=", 1.05, "instructions")
    counted = f"{skip}: no count under valgrind" if skip else switch_instructions(tn)
    if isinstance(counted, str):
        rep.unavailable(label, counted, target)
    else:
        off, on = counted
        rep.value(label, [on / off], "x", target,
                  note=f"{on:,} against {off:,} instructions a switch, in the pairs' batches "
                       f"of {tn}: count_instructions.py switch --batch {tn} [--trace-off]")
    rep.ratio("switch: trace on / off, main rounds", res["kemu trace"], res["kemu"],
              mode="cost")
    rep.cost("uncontended mutex pair, lockdebug on", res["mutex"], "ns")
    rep.cost("uncontended mutex pair, lockdebug=False", res["mutex nold"], "ns")
    rep.ratio("mutex pair: lockdebug on / off", res["mutex"], res["mutex nold"], mode="cost")
    rep.ratio("switch: lockdebug on / off", res["kemu"], res["kemu nold"], mode="cost")
    share, calls, ops = lockdebug_share(pick(args, 4000, 2000, 100), pick(args, 10000, 5000, 200))
    rep.value("lockdebug=False: CPU share in subr_lockdebug", [100 * share], "%",
              Target("<=", 1.0),
              note=f"cProfile: {calls} calls into kern/subr_lockdebug.py for {ops} lock "
                   f"operations ({calls / ops:.1f} per operation)")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
