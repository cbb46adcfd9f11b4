"""The idle logic's progress count (kern/machine/scheduler.py, VirtualCPU.progress):
the dispatches of non-daemon lwps, live and exited, summed when the idle logic
moves the clock.  A run whose only timers are housekeeping (daemon) ones and
whose other lwps make no progress is a deadlock; one whose daemon's timer keeps
waking a non-daemon lwp is not."""

from __future__ import annotations

import pytest

import kern
from kern import (
    IPL_NONE,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    cv_broadcast,
    cv_init,
    cv_wait,
    kcondvar_t,
    kmutex_t,
    kpause,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.kern_lwp import KTHREAD_KEMU_DAEMON, LW_DAEMON

PATIENCE = 4


def _lock_and_cv() -> tuple[kmutex_t, kcondvar_t]:
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cv = kcondvar_t()
    cv_init(cv, "progress")
    return mtx, cv


def test_only_a_daemons_timer_left_is_a_deadlock():
    ticks = [0]

    async def main():
        mtx, cv = _lock_and_cv()

        async def housekeeper(_):
            # Bounded, so that a wrong count (daemon dispatches taken for
            # progress) ends in a plain deadlock instead of running for ever.
            while ticks[0] < 20 * PATIENCE:
                ticks[0] += 1
                await kpause("hk", False, 1, None)

        kthread_create(PRI_BIO, KTHREAD_KEMU_DAEMON, None, housekeeper, None, "hk")
        await mutex_enter(mtx)
        await cv_wait(cv, mtx)  # nobody wakes it
        mutex_exit(mtx)

    with kern.boot(seed=1, deadlock_patience=PATIENCE) as k, \
            pytest.raises(kern.Deadlock) as ei:
        k.run(main)
    assert "only housekeeping timers were left" in str(ei.value)
    assert ticks[0] < 20 * PATIENCE  # declared while the daemon still ticked


def test_a_daemons_timer_that_wakes_a_lwp_is_progress():
    rounds = 20 * PATIENCE

    async def main():
        mtx, cv = _lock_and_cv()
        state = {"ticks": 0}

        async def ticker(_):
            for _i in range(rounds):
                await kpause("tick", False, 1, None)
                await mutex_enter(mtx)
                state["ticks"] += 1
                cv_broadcast(cv)
                mutex_exit(mtx)

        kthread_create(PRI_BIO, KTHREAD_KEMU_DAEMON, None, ticker, None, "ticker")
        await mutex_enter(mtx)
        while state["ticks"] < rounds:
            await cv_wait(cv, mtx)  # untimed: only the daemon's ticks wake it
        mutex_exit(mtx)
        return state["ticks"]

    with kern.boot(seed=1, deadlock_patience=PATIENCE) as k:
        assert k.run(main) == rounds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_progress_is_the_dispatches_of_non_daemon_lwps(seed):
    """progress() is the count of the non-daemon lwps' dispatches ("start" and
    "run" events), including those of lwps that exited."""

    async def main():
        async def worker(_):
            for _i in range(3):
                await kpause("w", False, 1, None)

        async def daemon(_):
            for _i in range(5):
                await kpause("d", False, 1, None)

        kthread_create(PRI_BIO, KTHREAD_KEMU_DAEMON, None, daemon, None, "daemon")
        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker, None, f"w{i}")[1]
              for i in range(3)]
        for l in ls:
            await kthread_join(l)

    with kern.boot(seed=seed) as k:
        k.run(main)
        k.run(main)
        names = {e.lwp for e in k.trace.records}
        assert {"w0", "w1", "w2", "daemon"} <= names
        daemons = {l.l_name for l in k.alllwp if l.l_flag & LW_DAEMON} | {"daemon"}
        assert "w0" not in daemons and len(daemons) >= 2  # (modunload is one)
        want = sum(1 for e in k.trace.records
                   if e.kind in ("start", "run") and e.lwp not in daemons)
        assert k.cpu.progress() == want > 0
