"""Preemption points with a run queue wider than scheduler._BITS's table
(kern/machine/scheduler.py, VirtualCPU.preempt_choice): 300 runnable lwps.
The random strategy's draws are still ``Random(seed).randrange(width)`` in
order past the table's 255, and the other strategies (pct, a replay of the
run) decide the same wide points alike."""

from __future__ import annotations

import random

import pytest

from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.kern_synch import preempt
from kern.machine import scheduler
from kern.machine.explore import run_scenario
from kern.machine.schedule import PREEMPT

from .sched_scenarios import BARE

NLWPS = 300


async def _wide() -> None:
    async def worker(_):
        for _i in range(2):
            await preempt()

    ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker, None, "w%d", i)[1]
          for i in range(NLWPS)]
    for l in ls:
        await kthread_join(l)


def _preempt_widths(d) -> list[int]:
    return [w for w, k in zip(d.widths, d.kinds, strict=True) if k == PREEMPT]


def test_the_table_is_narrower_than_the_run_queue():
    assert len(scheduler._BITS) <= NLWPS


@pytest.mark.parametrize("seed", [0, 1])
def test_random_draws_past_the_bit_table_are_randrange(seed):
    r = run_scenario(_wide, seed=seed, boot=BARE, strategy="random")
    assert not r.failed, r
    d = r.decisions
    assert max(_preempt_widths(d)) > len(scheduler._BITS)
    assert min(_preempt_widths(d)) < len(scheduler._BITS)  # both sides of the table
    rng = random.Random(seed)
    assert d.choices == [rng.randrange(w) for w in d.widths]


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_wide_runs_replay_alike(strategy):
    r = run_scenario(_wide, seed=3, boot=BARE, strategy=strategy)
    assert not r.failed, r
    assert max(_preempt_widths(r.decisions)) > len(scheduler._BITS)
    again = run_scenario(_wide, seed=3, boot=BARE, strategy=strategy)
    assert again.decisions.choices == r.decisions.choices
    assert [tuple(e) for e in again.trace.records] == [tuple(e) for e in r.trace.records]
    replayed = run_scenario(_wide, boot=BARE, replay=r.schedule)
    assert not replayed.failed, replayed
    assert replayed.decisions.choices == r.decisions.choices
