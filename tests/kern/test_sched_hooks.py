"""Canary for the private trio hooks behind seeded scheduling (kern/sched.py).

Like trio's own test_scheduler_determinism: if a trio release moves
``_r`` or ``_ALLOW_DETERMINISTIC_SCHEDULING`` or changes how batches are
ordered, these fail, and pyproject's trio pin must not be widened.
"""

from __future__ import annotations

import trio
import trio.testing

from kern.machine import sched


async def _tracer(n_tasks: int = 5, steps: int = 30) -> tuple[str, ...]:
    trace: list[str] = []

    async def tracer(name: str) -> None:
        for _ in range(steps):
            trace.append(name)
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as n:
        for i in range(n_tasks):
            n.start_soon(tracer, chr(ord("a") + i))
    return tuple(trace)


def _run_seeded(seed: int) -> tuple[str, ...]:
    import random

    sched.install()
    prev = sched.bind_thread_rng(random.Random(seed))
    try:
        return trio.run(_tracer, clock=trio.testing.MockClock())
    finally:
        sched.bind_thread_rng(prev)


def test_hooks_present():
    assert sched.check_hooks() == []


def test_seeded_runs_are_identical():
    traces = {_run_seeded(1234) for _ in range(10)}
    assert len(traces) == 1


def test_different_seeds_give_different_schedules():
    traces = {_run_seeded(s) for s in range(10)}
    assert len(traces) == 10


def test_unseeded_thread_keeps_trio_behaviour():
    # With no machine RNG bound, trio's own generator decides (not deterministic).
    sched.install()
    prev = sched.bind_thread_rng(None)
    try:
        traces = {trio.run(_tracer) for _ in range(10)}
    finally:
        sched.bind_thread_rng(prev)
    assert len(traces) > 1
