"""The sleep queues of locks and condvars are made at their first wait
(kern/kern_synch.py's ``sleepq_empty``, a speed change): until then every
mutex, rwlock and condvar shares one empty queue, which no wait may enter.

Each test makes waiters of one kind sleep and checks that they sleep on the
object's own queue, that the shared one stayed empty, and that the wakeups
reach them; a wait that entered the shared queue would put the sleepers of
every lock and condvar in one FIFO, where a wakeup of one object wakes
another's sleeper.
"""

from __future__ import annotations

import kern
from kern import (
    IPL_NONE,
    MUTEX_DEFAULT,
    RW_READER,
    RW_WRITER,
    cv_broadcast,
    cv_init,
    cv_wait,
    kcondvar_t,
    kmutex_t,
    kpause,
    krwlock_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
    rw_enter,
    rw_exit,
    rw_init,
)
from kern.cpu import curmachine
from kern.kern_lwp import lwp
from kern.kern_synch import sleepq_empty, sleepq_wakeone


def _spawn(k, name, fn):
    k.spawn_lwp(lwp(k.proc_create(name, k.initproc), name), fn, ())


def test_a_condvar_sleeps_on_its_own_queue_and_a_reinit_keeps_the_sleepers_apart():
    async def body():
        k = curmachine()
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        cvs = [kcondvar_t(), kcondvar_t()]
        for i, cv in enumerate(cvs):
            cv_init(cv, f"cv{i}")
        fresh = [cv.cv_waiters is sleepq_empty for cv in cvs]
        woke = []

        def waiter(i):
            async def run():
                await mutex_enter(mtx)
                await cv_wait(cvs[i], mtx)
                woke.append(i)
                mutex_exit(mtx)
            return run

        for i in (0, 1, 0):
            _spawn(k, f"w{i}", waiter(i))
        await kpause("settle", False, 2, None)
        queued = [len(cv.cv_waiters) for cv in cvs]
        shared = len(sleepq_empty)
        own = cvs[0].cv_waiters is not cvs[1].cv_waiters
        await mutex_enter(mtx)
        cv_broadcast(cvs[1])                  # only cv1's sleeper
        mutex_exit(mtx)
        await kpause("settle", False, 2, None)
        after_one = list(woke)
        # a re-init with a sleeper on it: a fresh (shared, empty) queue; the
        # old sleepers stay where they are, no longer woken through the cv
        q0 = cvs[0].cv_waiters
        cv_init(cvs[0], "again")
        reinit = (cvs[0].cv_waiters is sleepq_empty, len(q0))
        await mutex_enter(mtx)
        cv_broadcast(cvs[0])
        mutex_exit(mtx)
        await kpause("settle", False, 2, None)
        left = (len(q0), list(woke))
        # an own queue with nobody on it is kept at a re-init
        q1 = cvs[1].cv_waiters
        cv_init(cvs[1], "again")
        kept = cvs[1].cv_waiters is q1 and q1.sq_name == "again"
        for l in list(q0.sq_lwps):            # let the stranded two go
            await mutex_enter(mtx)
            sleepq_wakeone(l)
            mutex_exit(mtx)
        await kpause("settle", False, 2, None)
        return fresh, queued, shared, own, after_one, reinit, left, kept, len(sleepq_empty)

    with kern.boot(seed=1) as k:
        fresh, queued, shared, own, after_one, reinit, left, kept, end = k.run(body)
    assert fresh == [True, True]
    assert queued == [2, 1] and shared == 0 and own
    assert after_one == [1]
    assert reinit == (True, 2)
    assert left == (2, [1])
    assert kept
    assert end == 0


def test_a_contended_mutex_and_rwlock_sleep_on_their_own_queues():
    async def body():
        k = curmachine()
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        rw = krwlock_t()
        rw_init(rw)
        fresh = (mtx.mtx_waiters is sleepq_empty, rw.rw_rwait is sleepq_empty,
                 rw.rw_wwait is sleepq_empty)
        got = []

        async def m():
            await mutex_enter(mtx)
            got.append("m")
            mutex_exit(mtx)

        async def w():
            await rw_enter(rw, RW_WRITER)
            got.append("w")
            rw_exit(rw)

        async def r():
            await rw_enter(rw, RW_READER)
            got.append("r")
            rw_exit(rw)

        await mutex_enter(mtx)
        await rw_enter(rw, RW_WRITER)
        _spawn(k, "m", m)
        _spawn(k, "w", w)
        await kpause("settle", False, 2, None)
        _spawn(k, "r", r)
        await kpause("settle", False, 2, None)
        queued = (len(mtx.mtx_waiters), len(rw.rw_wwait), len(rw.rw_rwait), len(sleepq_empty))
        mutex_exit(mtx)
        rw_exit(rw)
        await kpause("settle", False, 2, None)
        return fresh, queued, sorted(got), len(sleepq_empty)

    with kern.boot(seed=1) as k:
        fresh, queued, got, end = k.run(body)
    assert fresh == (True, True, True)
    assert queued == (1, 1, 1, 0)
    assert got == ["m", "r", "w"]
    assert end == 0
