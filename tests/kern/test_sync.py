"""Mutexes, condvars, rwlocks, kpause and tsleep/wakeup: semantics and seeded interleavings."""

from __future__ import annotations

import pytest

import kern
from kern import (
    EWOULDBLOCK,
    IPL_NONE,
    IPL_VM,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    RW_READER,
    RW_WRITER,
    cv_broadcast,
    cv_init,
    cv_signal,
    cv_timedwait,
    cv_wait,
    hz,
    kcondvar_t,
    kmutex_t,
    kpause,
    krwlock_t,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
    mutex_tryenter,
    rw_downgrade,
    rw_enter,
    rw_exit,
    rw_init,
    rw_read_held,
    tsleep,
    wakeup,
)
from kern.machine.testing import sweep


async def _spawn(fn, name):
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, None, "%s", name)
    assert error == 0
    return l


async def contend(rounds: int) -> tuple[list[str], int]:
    """Two lwps bump a shared counter under a mutex, yielding inside the section."""
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    state = {"inside": None, "count": 0, "order": []}

    def worker(name):
        async def run(_):
            for _ in range(rounds):
                await mutex_enter(mtx)
                assert state["inside"] is None, "two lwps inside the critical section"
                state["inside"] = name
                state["order"].append(name)
                v = state["count"]
                await kpause("inside", False, 0, None)  # sleep while holding: others must wait
                state["count"] = v + 1
                state["inside"] = None
                mutex_exit(mtx)
        return run

    a = await _spawn(worker("a"), "a")
    b = await _spawn(worker("b"), "b")
    await kthread_join(a)
    await kthread_join(b)
    return state["order"], state["count"]


@pytest.mark.parametrize("seed", sweep(20))
def test_mutex_contention_many_seeds(seed):
    with kern.boot(seed=seed) as k:
        order, count = k.run(contend, 5)
    assert count == 10  # no lost update
    assert sorted(order) == ["a"] * 5 + ["b"] * 5


def test_seeds_explore_different_interleavings():
    orders = set()
    for seed in range(12):
        with kern.boot(seed=seed) as k:
            order, _ = k.run(contend, 4)
        orders.add("".join(order))
    assert len(orders) > 1


def test_mutex_tryenter_and_owned():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        assert mutex_tryenter(mtx) == 1
        assert mutex_owned(mtx)
        assert mutex_tryenter(mtx) == 0  # held, by this lwp too: no panic, as in NetBSD
        assert mutex_owned(mtx)
        got = []

        async def other(_):
            got.append(mutex_tryenter(mtx))

        l = await _spawn(other, "other")
        await kthread_join(l)
        mutex_exit(mtx)
        assert not mutex_owned(mtx)
        return got

    with kern.boot(seed=1) as k:
        assert k.run(body) == [0]


def test_condvar_handshake():
    async def body():
        mtx = kmutex_t()
        cv = kcondvar_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        cv_init(cv, "handshk")
        box = {"msg": None, "ack": False}

        async def consumer(_):
            await mutex_enter(mtx)
            while box["msg"] is None:
                await cv_wait(cv, mtx)
            box["ack"] = box["msg"] == "ping"
            cv_signal(cv)
            mutex_exit(mtx)

        l = await _spawn(consumer, "consumer")
        await kpause("settle", False, 2, None)
        await mutex_enter(mtx)
        box["msg"] = "ping"
        cv_signal(cv)
        while not box["ack"]:
            await cv_wait(cv, mtx)
        mutex_exit(mtx)
        await kthread_join(l)
        return box["ack"]

    with kern.boot(seed=3) as k:
        assert k.run(body) is True
        assert any("consumer: sleep handshk" in e for e in k.trace)
        assert any("consumer: wakeup handshk" in e for e in k.trace)


def test_cv_timedwait_times_out_in_virtual_time():
    async def body():
        mtx = kmutex_t()
        cv = kcondvar_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        cv_init(cv, "tmo")
        m = kern.curmachine()
        t0 = m.now()
        await mutex_enter(mtx)
        error = await cv_timedwait(cv, mtx, 30 * hz)  # 30 virtual seconds
        owned = mutex_owned(mtx)
        mutex_exit(mtx)
        return error, m.now() - t0, owned

    with kern.boot(seed=0) as k:
        error, elapsed, owned = k.run(body)
    assert error == EWOULDBLOCK
    assert elapsed == pytest.approx(30.0)
    assert owned  # the interlock is held again on return


def test_cv_broadcast_wakes_all_and_signal_wakes_one():
    async def body():
        mtx = kmutex_t()
        cv = kcondvar_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        cv_init(cv, "herd")
        woke = []
        gate = {"open": 0}

        def waiter(i):
            async def run(_):
                await mutex_enter(mtx)
                while gate["open"] <= len(woke) and gate["open"] < 3:
                    await cv_wait(cv, mtx)
                woke.append(i)
                mutex_exit(mtx)
            return run

        ls = [await _spawn(waiter(i), f"w{i}") for i in range(3)]
        await kpause("settle", False, 1, None)
        await mutex_enter(mtx)
        gate["open"] = 1
        cv_signal(cv)
        mutex_exit(mtx)
        await kpause("settle", False, 1, None)
        after_signal = len(woke)
        await mutex_enter(mtx)
        gate["open"] = 3
        cv_broadcast(cv)
        mutex_exit(mtx)
        for l in ls:
            await kthread_join(l)
        return after_signal, sorted(woke)

    with kern.boot(seed=5) as k:
        after_signal, woke = k.run(body)
    assert after_signal == 1
    assert woke == [0, 1, 2]


def test_rwlock_readers_share_writers_exclude():
    async def body():
        rw = krwlock_t()
        rw_init(rw)
        log = []
        readers_inside = {"n": 0, "max": 0}

        def reader(i):
            async def run(_):
                await rw_enter(rw, RW_READER)
                readers_inside["n"] += 1
                readers_inside["max"] = max(readers_inside["max"], readers_inside["n"])
                await kpause("read", False, 1, None)
                readers_inside["n"] -= 1
                rw_exit(rw)
            return run

        async def writer(_):
            await rw_enter(rw, RW_WRITER)
            log.append(("w", readers_inside["n"]))
            await kpause("write", False, 1, None)
            rw_exit(rw)

        ls = [await _spawn(reader(i), f"r{i}") for i in range(3)]
        ls.append(await _spawn(writer, "w"))
        for l in ls:
            await kthread_join(l)
        return readers_inside["max"], log

    with kern.boot(seed=2) as k:
        maxr, log = k.run(body)
    assert maxr >= 2  # readers overlapped
    assert log == [("w", 0)]  # the writer was alone


def test_rw_downgrade_hands_the_lock_to_waiting_readers_before_a_waiting_writer():
    """kern_rwlock.c's rw_downgrade gives the lock to every blocked reader even
    while a writer waits: the reader runs beside the downgrader, the writer
    gets it only after both have let go."""
    async def body():
        rw = krwlock_t()
        rw_init(rw)
        log = []

        async def reader(_):
            await rw_enter(rw, RW_READER)
            log.append(("r in", rw_read_held(rw)))
            await kpause("read", False, 2, None)
            log.append("r out")
            rw_exit(rw)

        async def writer(_):
            await rw_enter(rw, RW_WRITER)
            log.append("w in")
            rw_exit(rw)

        await rw_enter(rw, RW_WRITER)
        r = await _spawn(reader, "r")
        await kpause("settle", False, 1, None)  # the reader waits
        w = await _spawn(writer, "w")
        await kpause("settle", False, 1, None)  # then the writer
        rw_downgrade(rw)
        await kpause("hold", False, 1, None)  # still holding it for reading
        log.append("downgrader out")
        rw_exit(rw)
        await kthread_join(r)
        await kthread_join(w)
        return log

    with kern.boot(seed=2) as k:
        log = k.run(body)
    assert log == [("r in", True), "downgrader out", "r out", "w in"]


def test_sleeping_with_spin_mutex_held_panics():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_VM)  # a spin mutex
        await mutex_enter(mtx)
        await kpause("bad", False, 1, None)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "ASSERT_SLEEPABLE" in str(ei.value)
    assert "mtx" in str(ei.value)


def test_mutex_exit_by_non_owner_panics():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        mutex_exit(mtx)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="not the owner"):
        k.run(body)


def test_locking_against_myself_panics():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        await mutex_enter(mtx)
        await mutex_enter(mtx)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="against myself"):
        k.run(body)


def test_kpause_advances_virtual_clock_only():
    async def body():
        m = kern.curmachine()
        t0 = m.now()
        error = await kpause("nap", False, 3600 * hz, None)  # an hour
        return error, m.now() - t0

    with kern.boot(seed=0) as k:
        error, elapsed = k.run(body)
    assert error == EWOULDBLOCK
    assert elapsed == pytest.approx(3600.0)


def test_tsleep_channel_reused_before_the_woken_sleeper_runs():
    """wakeup() empties the channel; a new sleeper on it must not be dropped
    when the lwp woken first comes back from mtsleep (a lost wakeup)."""
    async def body():
        chan = object()
        got = {}

        async def first(_):
            got["first"] = await tsleep(chan, 0, "chan", 0)
            wakeup(chan)                      # wake whoever sleeps on chan now

        l = await _spawn(first, "first")
        await kpause("settle", False, 1, None)
        wakeup(chan)
        # "first" has not run yet: this lwp is the next sleeper on chan.
        got["second"] = await tsleep(chan, 0, "chan", 0)
        await kthread_join(l)
        return got

    with kern.boot(seed=0) as k:
        assert k.run(body) == {"first": 0, "second": 0}


def test_lock_names_come_from_the_init_line():
    from kern.kern_mutex import mutex_obj_alloc, mutex_obj_free
    from kern.kern_rwlock import rw_obj_alloc

    async def body():
        sc_lock = kmutex_t()
        mutex_init(sc_lock, MUTEX_DEFAULT, IPL_NONE)
        objlock = mutex_obj_alloc(MUTEX_DEFAULT, IPL_VM)
        treelock = rw_obj_alloc()
        names = [(x.lock_class.name, x.lock_class.kind) for x in (sc_lock, objlock, treelock)]
        assert mutex_obj_free(objlock)
        return names

    with kern.boot(seed=0) as k:
        assert k.run(body) == [("sc_lock", "mutex"), ("objlock", "spin mutex"),
                               ("treelock", "rwlock")]


def test_two_comprehensions_begun_on_one_line_init_two_lock_classes():
    """Two comprehensions started on one line are two codes with the same
    file, first line and name, each calling mutex_init at the same
    instruction offset, on different lines: two init lines, two classes."""
    async def body():
        xs, ys = [kmutex_t()], [kmutex_t()]
        _ = [mutex_init(xlock, MUTEX_DEFAULT, IPL_NONE) for xlock in xs], [
            mutex_init(ylock, MUTEX_DEFAULT, IPL_NONE) for ylock in ys]
        return xs[0].lock_class, ys[0].lock_class

    with kern.boot(seed=0) as k:
        cx, cy = k.run(body)
    assert cx is not cy
    assert (cx.name, cy.name) == ("xlock", "ylock")
    assert cy.site[1] == cx.site[1] + 1


def test_mutex_enter_nowait_takes_only_what_mutex_enter_takes_at_once():
    """mutex_enter_nowait takes a free adaptive mutex as mutex_enter would (owner,
    a held-lock record naming the caller's line), and does nothing where
    mutex_enter would sleep, panic or let another lwp run first."""
    import sys

    from kern.cpu import curlwp
    from kern.kern_mutex import mutex_enter_nowait
    from kern.subr_lockdebug import where_str

    async def body():
        me = curlwp()
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        spin = kmutex_t()
        mutex_init(spin, MUTEX_DEFAULT, IPL_VM)
        out = {}
        line = sys._getframe().f_lineno + 1
        out["free"] = mutex_enter_nowait(mtx)
        out["owned"] = mutex_owned(mtx)
        out["site"] = where_str(me.l_locks[-1][1])
        out["line"] = line
        mutex_exit(mtx)
        out["spin"] = mutex_enter_nowait(spin)  # a spin mutex: mutex_enter's own path
        ran = []

        async def other(_):
            ran.append("other")
            await mutex_enter(mtx)
            ran.append("holds")
            await kpause("hold", False, 5, None)
            mutex_exit(mtx)

        l = await _spawn(other, "other")
        # The new lwp waits for the CPU: mutex_enter would let it run first.
        out["runq"] = mutex_enter_nowait(mtx)
        out["ran_before"] = list(ran)
        await kpause("let", False, 1, None)
        # Now the other lwp holds it (and sleeps): mutex_enter would sleep.
        out["held"] = mutex_enter_nowait(mtx)
        out["records"] = len(me.l_locks)
        await kthread_join(l)
        out["after"] = mutex_enter_nowait(mtx)
        mutex_exit(mtx)
        out["ran"] = ran
        return out

    with kern.boot(seed=3) as k:
        out = k.run(body)
    assert out["free"] is True and out["owned"]
    assert out["site"].endswith(f"test_sync.py:{out['line']} in body")
    assert out["spin"] is False
    assert out["runq"] is False and out["ran_before"] == []
    assert out["held"] is False and out["records"] == 0
    assert out["after"] is True
    assert out["ran"] == ["other", "holds"]


def test_lock_site_records_the_site_the_frame_lookup_gives():
    """A lock_site given to mutex_enter_nowait records, on every call after the
    first, exactly the (code, instruction) the caller's frame gives, and is
    filled only while lockdebug looks sites up."""
    import sys

    from kern.cpu import curlwp
    from kern.kern_mutex import lock_site, mutex_enter_nowait

    at = lock_site()

    def take(mtx, site):
        f = sys._getframe()
        ok = mutex_enter_nowait(mtx, 1, site)
        return ok, (f.f_code, f.f_lasti)

    async def body():
        me = curlwp()
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        seen = []
        for _ in range(3):
            ok, here = take(mtx, at)
            seen.append((ok, me.l_locks[-1][1], here))
            mutex_exit(mtx)
        plain, _ = take(mtx, None)
        seen.append((plain, me.l_locks[-1][1], None))
        mutex_exit(mtx)
        return seen

    with kern.boot(seed=1) as k:
        seen = k.run(body)
    # (f_lasti is read after the call: the call instruction is the one before)
    sites = {s for _, s, _ in seen}
    assert len(sites) == 1 and all(ok for ok, _, _ in seen)
    code, lasti = sites.pop()
    assert code is take.__code__ and at.where == (code, lasti)
    assert all(here[0] is code and here[1] > lasti for _, _, here in seen[:3])

    off = lock_site()

    async def quiet():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        take(mtx, off)
        site = curlwp().l_locks[-1][1]
        mutex_exit(mtx)
        return site

    with kern.boot(seed=1, lockdebug=False) as k:
        assert k.run(quiet) is None
    assert off.where is None


@pytest.mark.parametrize("seed", [1, 4, 9])
def test_mutex_enter_nowait_leaves_a_seeds_schedule_as_mutex_enter_makes_it(monkeypatch, seed):
    """cv_wait's relock through mutex_enter_nowait (taken at once when it can)
    makes the same run as one that always awaits the whole mutex enter: the
    same schedule string, trace and order of events, for several seeds."""
    import kern.kern_condvar as kc

    real = kc.mutex_enter_nowait

    def run(nowait: bool) -> tuple[str, list[str], list[str], int]:
        took = [0]

        def counted(mtx, depth=1, at=None):
            ok = real(mtx, depth + 1, at)
            took[0] += ok
            return ok

        monkeypatch.setattr(kc, "mutex_enter_nowait",
                            counted if nowait else (lambda mtx, depth=1, at=None: False))
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        cv = kcondvar_t()
        cv_init(cv, "turn")
        state = {"busy": None, "log": []}

        async def worker(name):
            for i in range(12):
                await mutex_enter(mtx)
                while state["busy"] is not None:
                    await cv_wait(cv, mtx)
                state["busy"] = name
                state["log"].append(f"{name}{i}")
                mutex_exit(mtx)
                await kpause("work", False, i % 2, None)
                await mutex_enter(mtx)
                state["busy"] = None
                cv_broadcast(cv)
                mutex_exit(mtx)

        async def body():
            ls = [await _spawn(lambda _, n=n: worker(n), n) for n in "abcd"]
            for l in ls:
                await kthread_join(l)

        with kern.boot(seed=seed, trace=True) as k:
            k.run(body)
            return k.schedule, list(k.trace), state["log"], took[0]

    on, off = run(True), run(False)
    assert on[1] and len(on[2]) == 48
    assert on[3] > 0  # the relock was taken without awaiting at least once
    assert off[3] == 0
    assert on[:3] == off[:3]
