"""cv_exit's pass-on (kern/kern_condvar.py, kern_condvar.c 1.41).

A wait that ends in an error (a signal, EINTR for LW_WEXIT/LW_CANCELLED, a
timeout) calls cv_signal once it holds the interlock again: if a cv_signal
had chosen this waiter and sleepq_block then answered an error (kern_sleepq.c
checks the lwp's flags and pending signals after a normal wakeup too), the
wakeup goes on to the next waiter instead of being lost.
"""

from __future__ import annotations

import pytest

import kern
from kern import (
    EWOULDBLOCK,
    IPL_NONE,
    MUTEX_DEFAULT,
    cv_broadcast,
    cv_init,
    cv_signal,
    cv_timedwait,
    cv_wait,
    cv_wait_sig,
    kcondvar_t,
    kmutex_t,
    kpause,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.cpu import curmachine
from kern.errno import EINTR
from kern.kern_lwp import LSSLEEP, lwp
from kern.kern_sig import SIGINT, psignal


def _setup():
    mtx = kmutex_t()
    cv = kcondvar_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cv_init(cv, "tokens")
    return mtx, cv


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_signalled_waiter_interrupted_before_it_runs_passes_the_wakeup_on(seed):
    """Two waiters (each the only lwp of its process) in cv_wait_sig for a
    token; one token is made and cv_signal wakes the first.  Before that
    waiter runs, a signal is posted to its process (psignal does not
    switch, so nothing runs between the two): its sleepq_block answers EINTR
    after the wakeup.  The token must reach the second waiter: cv_exit's
    cv_signal.  Without it the second slept on with the token unclaimed."""
    async def body():
        k = curmachine()
        mtx, cv = _setup()
        box = {"tokens": 0, "done": False}
        log = []

        async def waiter(name):
            await mutex_enter(mtx)
            while box["tokens"] == 0 and not box["done"]:
                error = await cv_wait_sig(cv, mtx)
                if error:
                    log.append((name, error))
                    mutex_exit(mtx)
                    return
            if box["tokens"]:
                box["tokens"] -= 1
                log.append((name, "token"))
            mutex_exit(mtx)

        la = lwp(k.proc_create("a", k.initproc), "a")
        lb = lwp(k.proc_create("b", k.initproc), "b")
        k.spawn_lwp(la, waiter, ("a",))
        k.spawn_lwp(lb, waiter, ("b",))
        await kpause("settle", False, 2, None)
        # The scheduler's seed decides which went to sleep first.
        first, second = list(cv.cv_waiters)
        assert {first, second} == {la, lb}

        await mutex_enter(mtx)
        box["tokens"] = 1
        cv_signal(cv)                        # chooses the head
        chosen = first.l_stat != LSSLEEP and second.l_stat == LSSLEEP
        psignal(first.l_proc, SIGINT)        # the chosen has not run since
        mutex_exit(mtx)
        await kpause("settle", False, 10, None)

        seen = (list(log), box["tokens"], second.l_stat == LSSLEEP)
        names = (first.l_name, second.l_name)
        await mutex_enter(mtx)               # let a "b" still asleep go
        box["done"] = True
        cv_broadcast(cv)
        mutex_exit(mtx)
        await kpause("settle", False, 2, None)
        return names, chosen, seen

    with kern.boot(seed=seed) as k:
        (first, second), chosen, (log, tokens, second_asleep) = k.run(body)
    assert chosen
    assert log == [(first, EINTR), (second, "token")]
    assert tokens == 0 and not second_asleep


def test_a_timed_out_wait_signals_the_next_waiter():
    """1.41's cv_exit signals on any error, a timeout's EWOULDBLOCK included,
    and whether or not a cv_signal chose the waiter: the next waiter wakes
    (with 0; its caller sees a spurious wakeup and checks its condition)."""
    async def body():
        k = curmachine()
        mtx, cv = _setup()
        got = {}

        async def timed():
            await mutex_enter(mtx)
            t0 = k.now()
            got["timed"] = (await cv_timedwait(cv, mtx, 5), round(k.now() - t0, 3))
            mutex_exit(mtx)

        async def plain():
            await mutex_enter(mtx)
            t0 = k.now()
            await cv_wait(cv, mtx)
            got["plain"] = round(k.now() - t0, 3)
            mutex_exit(mtx)

        k.spawn_lwp(lwp(k.proc_create("t", k.initproc), "t"), timed, ())
        k.spawn_lwp(lwp(k.proc_create("p", k.initproc), "p"), plain, ())
        await kpause("settle", False, 20, None)
        left = len(cv.cv_waiters)
        await mutex_enter(mtx)
        cv_broadcast(cv)
        mutex_exit(mtx)
        await kpause("settle", False, 1, None)
        return got, left

    with kern.boot(seed=1) as k:
        got, left = k.run(body)
    assert got["timed"] == (EWOULDBLOCK, pytest.approx(0.05))
    assert got["plain"] == pytest.approx(0.05)
    assert left == 0


def test_a_condvar_destroyed_under_a_woken_waiter_panics_at_its_exit():
    """1.41's cv_exit asserts cv_is_valid once the waiter holds the interlock
    again: a condvar broadcast and destroyed (no waiter is left on its sleep
    queue, so cv_destroy lets it go) while a woken waiter has not yet run
    is caught there, when the waiter comes back to it."""
    from kern.kern_condvar import cv_destroy

    async def body():
        k = curmachine()
        mtx, cv = _setup()

        async def waiter():
            await mutex_enter(mtx)
            await cv_wait(cv, mtx)
            mutex_exit(mtx)

        k.spawn_lwp(lwp(k.proc_create("w", k.initproc), "w"), waiter, ())
        await kpause("settle", False, 2, None)
        await mutex_enter(mtx)
        cv_broadcast(cv)
        cv_destroy(cv)
        mutex_exit(mtx)
        await kpause("settle", False, 2, None)

    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert 'kernel diagnostic assertion "cv_is_valid(cv)" failed' in str(ei.value)
    assert "kern_condvar.py" in str(ei.value)
