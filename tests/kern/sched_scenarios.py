"""Small scenarios for the scheduler's tests (kern/machine/explore.py runs them).

Each is an ``async def`` run as one lwp of a BARE machine.
"""

from __future__ import annotations

import time

from kern import (
    IPL_NONE,
    KASSERT,
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
from kern.kern_synch import preempt

BARE = {"config": "BARE", "trace": True}

# --- a cache recycled under a reader: fss's bs thread and a snapshot reader --------------

NSLOTS = 50  # cache slots: the copier must run NSLOTS copies to recycle one
NCOPIES = 60


class softc:
    def __init__(self) -> None:
        self.sc_lock = kmutex_t()
        mutex_init(self.sc_lock, MUTEX_DEFAULT, IPL_NONE)
        self.sc_cv = kcondvar_t()
        cv_init(self.sc_cv, "cowwait")
        self.slots: list[int | None] = [None] * NSLOTS
        self.next = 0
        self.copied = 0
        self.read_from: str | None = None


async def copier(sc: softc) -> None:
    """The bs thread: copy clusters 0, 1, ... into the cache, recycling slots in turn."""
    for cl in range(NCOPIES):
        await mutex_enter(sc.sc_lock)
        sc.slots[sc.next] = cl
        sc.next = (sc.next + 1) % NSLOTS
        sc.copied += 1
        cv_broadcast(sc.sc_cv)
        mutex_exit(sc.sc_lock)


async def reader(sc: softc) -> None:
    """Read cluster 0 once it was copied: from its cache slot if still there.

    The planted bug: the slot is found under the lock, the lock is dropped
    without marking the slot busy (fss marks it FSS_CACHE_BUSY), and taken
    again to read it.  If the copier recycles every slot meanwhile -- it
    must run NSLOTS copies while the reader waits at that mutex_enter --
    the reader gets another cluster's data.
    """
    await mutex_enter(sc.sc_lock)
    while sc.copied == 0:
        await cv_wait(sc.sc_cv, sc.sc_lock)
    slot = sc.slots.index(0) if 0 in sc.slots else None
    mutex_exit(sc.sc_lock)
    if slot is None:
        sc.read_from = "disk"
        return
    await mutex_enter(sc.sc_lock)
    KASSERT(sc.slots[slot] == 0)  # the planted bug fires here
    sc.read_from = "cache"
    mutex_exit(sc.sc_lock)


async def recycled_under_reader() -> str | None:
    sc = softc()
    _, r = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, reader, sc, "reader")
    _, c = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, copier, sc, "fssbs")
    await kthread_join(c)  # (asleep while they run: only they are offered)
    await kthread_join(r)
    return sc.read_from


# --- two lwps with a given number of preemption points each ------------------------------

async def two_stepping(a_points: int, b_points: int) -> str:
    """Kernel threads A and B each log their name, then ``points`` times
    ``preempt(); log``.  The scenario's lwp starts them and exits; the result
    is the order of the log, e.g. "AABBAB"."""
    log: list[str] = []

    def stepper(name: str, points: int):
        async def run(_):
            log.append(name)
            for _ in range(points):
                await preempt()
                log.append(name)
        return run

    kthread_create(PRI_BIO, 0, None, stepper("A", a_points), None, "A")
    kthread_create(PRI_BIO, 0, None, stepper("B", b_points), None, "B")
    return log  # filled in by the time the run is over


# --- a lost update: the counter's read and write split by a sleep -------------------------

async def lost_update(workers: int = 3, rounds: int = 4) -> int:
    """Workers add 1 to a shared counter ``rounds`` times each; the planted bug
    reads the counter, sleeps (kpause 0: a tick), and writes it back
    without a lock.  Fails with a KASSERT when an update was lost."""
    state = {"n": 0}
    done = []

    def worker(i: int):
        async def run(_):
            for _ in range(rounds):
                v = state["n"]
                await preempt()
                state["n"] = v + 1
            done.append(i)
        return run

    lwps = []
    for i in range(workers):
        _, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker(i), None, "w%d", i)
        lwps.append(l)
    for l in lwps:
        await kthread_join(l)
    KASSERT(state["n"] == workers * rounds)
    return state["n"]


# --- host time leaking into a run -------------------------------------------------------

async def sleeps_by_the_host_clock() -> None:
    """Planted: how long to sleep comes from the host's clock, not the machine's."""
    await kpause("hostclk", False, 1 + time.perf_counter_ns() % 1_000_000, None)
