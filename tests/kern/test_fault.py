"""Fault injection knobs: each fires exactly when it should."""

from __future__ import annotations

import pytest

import kern
from kern import EAGAIN, EIO, KM_NOSLEEP, KM_SLEEP, PRI_BIO, kmem_alloc, kthread_create
from kern.subr_fault import fault_inject, fault_site

# Sites of these tests only (every site must be declared).
S = fault_site("test.s", "a site of tests/kern/test_fault.py")
OTHER = fault_site("test.other", "another site of tests/kern/test_fault.py")
DISK = fault_site("test.disk", "a device-scoped site of tests/kern/test_fault.py", scope="dev")


def calls_that_fail(k, site: str, n: int, **knobs) -> list[int]:
    """Arm ``site`` with ``knobs``, call it n times from one lwp; the failing call numbers."""
    async def body():
        out = []
        for i in range(1, n + 1):
            if fault_inject(site):
                out.append(i)
        return out

    with k.faults.inject(site, **knobs):
        return k.run(body)


@pytest.fixture
def k():
    with kern.boot(seed=5) as m:
        yield m


def test_every_nth(k):
    assert calls_that_fail(k, S, 10, nth=3) == [3, 6, 9]


def test_nth_only_once(k):
    assert calls_that_fail(k, S, 10, fail_nth=4) == [4]


def test_times_limits_count(k):
    assert calls_that_fail(k, S, 10, nth=2, times=2) == [2, 4]


def test_space_skips_first_calls(k):
    assert calls_that_fail(k, S, 10, space=5, nth=2) == [7, 9]
    assert calls_that_fail(k, S, 6, space=3) == [4, 5, 6]


def test_probability_draws_from_the_decision_stream(k):
    a = calls_that_fail(k, S, 200, probability=0.25)
    assert 25 < len(a) < 75
    assert k.decisions.faults() == len(a)  # every draw is a recorded decision
    assert calls_that_fail(k, S, 50, probability=0.0) == []
    # the same seed draws the same faults; a replay of the schedule too
    with kern.boot(seed=5) as k2:
        assert calls_that_fail(k2, S, 200, probability=0.25) == a
    with kern.boot(replay=k.schedule) as k3:
        assert calls_that_fail(k3, S, 200, probability=0.25) == a


def test_probability_with_a_seed_draws_from_its_own_generator(k):
    """``seed=`` (a plan's knob): the same draws whatever the machine's seed, and
    none taken from the decision stream (the knob used to be accepted and ignored
    once the draws moved to the decision stream)."""
    a = calls_that_fail(k, S, 200, probability=0.25, seed=11)
    assert 25 < len(a) < 75
    assert k.decisions.faults() == 0
    with kern.boot(seed=6) as k2:
        assert calls_that_fail(k2, S, 200, probability=0.25, seed=11) == a
        assert calls_that_fail(k2, S, 200, probability=0.25, seed=12) != a


def test_scope_one_lwp(k):
    async def two_callers():
        fired = {}

        async def caller(name):
            fired[name] = sum(1 for _ in range(5) if fault_inject(S))

        async def run_as(name):
            await caller(name)

        # the test lwp itself is "a"; start "b" as a kernel thread
        error, lb = kthread_create(PRI_BIO, kern.KTHREAD_MUSTJOIN, None,
                                   lambda _: run_as("b"), None, "b")
        await caller("a")
        await kern.kthread_join(lb)
        return fired

    with k.faults.inject(S, lwp="b") as f:
        fired = k.run(two_callers, name="a")
    assert fired == {"a": 0, "b": 5}
    assert f.nfaults == 5


def test_scope_one_device(k):
    async def body():
        return [bool(fault_inject(DISK, dev=d)) for d in (1, 2, 1, 2)]

    with k.faults.inject(DISK, dev=2):
        assert k.run(body) == [False, True, False, True]


def test_errno_and_log(k):
    async def body():
        return [fault_inject(S) for _ in range(3)]

    with k.faults.inject(S, error=EIO, fail_nth=2):
        assert k.run(body) == [0, EIO, 0]
    ev = k.faults.fired(S)
    assert len(ev) == 1 and ev[0].error == EIO and ev[0].call == 2
    assert str(ev[0]).startswith("test.s: EIO")


def test_context_manager_disarms(k):
    with k.faults.inject(S, error=EIO):
        pass
    assert calls_that_fail(k, OTHER, 3) == [1, 2, 3]

    async def body():
        return fault_inject(S)

    assert k.run(body) == 0
    assert S not in k.faults.armed


def test_kmem_nosleep_site(k):
    async def body():
        return kmem_alloc(16, KM_NOSLEEP), kmem_alloc(16, KM_SLEEP)

    with k.faults.inject("kmem_alloc"):
        nosleep, sleep = k.run(body)
    assert nosleep is None
    assert isinstance(sleep, bytearray) and len(sleep) == 16


def test_kthread_create_site(k):
    async def body():
        async def never(_):
            raise AssertionError("should not run")
        return kthread_create(PRI_BIO, 0, None, never, None, "x")

    with k.faults.inject("kthread_create", error=EAGAIN):
        assert k.run(body) == (EAGAIN, None)


def test_bad_knobs_rejected(k):
    with pytest.raises(ValueError):
        k.faults.add(S, probability=2.0)
    with pytest.raises(ValueError):
        k.faults.add(S, nth=0)


def test_armed_mid_run_counts_from_the_arming():
    """Calls counted while nothing was armed (fault_inject's and fault_check's
    counting-only path) count in the site's total and event numbers; a fault
    armed after them fires at the nth call from its arming."""
    from kern.subr_fault import fault_check

    async def body(m):
        out = [fault_inject(S) for _ in range(5)]
        out.append(fault_check(S) is not None)
        m.faults.add(S, fail_nth=3, error=EAGAIN)
        out += [fault_inject(S) for _ in range(3)]
        out.append(fault_check(S) is not None)
        out += [fault_inject(S) for _ in range(2)]
        return out

    with kern.boot(seed=5) as m:
        got = m.run(body, m)
        assert got == [0] * 5 + [False] + [0, 0, EAGAIN] + [False] + [0, 0]
        assert m.faults.calls[S] == 12
        (ev,) = m.faults.fired(S)
        assert (ev.call, ev.error) == (9, EAGAIN)


def test_site_counts_are_the_same_armed_or_not():
    """Per-site call counts do not depend on whether anything is armed."""
    from kern.subr_fault import fault_check

    async def body():
        for _ in range(4):
            fault_inject(S)
            fault_check(DISK, dev=1)
        fault_inject(OTHER)

    counts = []
    for plan in (None, "test.disk:dev=99"):
        with kern.boot(seed=5, faults=plan) as m:
            m.run(body)
            assert bool(m.faults.armed) == (plan is not None)
            counts.append({s: n for s, n in m.faults.calls.items() if s.startswith("test.")})
    assert counts[0] == counts[1] == {S: 4, DISK: 4, OTHER: 1}


@pytest.mark.parametrize("armed", [False, True])
def test_an_undeclared_site_panics_at_every_call(armed):
    from kern.subr_fault import fault_check

    for fn in (fault_inject, fault_check, fault_inject):
        async def body(fn=fn):
            fn(S)
            fn("no.such.site.either")

        with kern.boot(seed=5, faults="test.other" if armed else None) as m, \
                pytest.raises(kern.KernelPanic, match="'no.such.site.either' is used but not"):
            m.run(body)
        assert "no.such.site.either" not in m.faults.calls
    # and in one table, call after call (nothing remembers a site that panicked)
    from kern.subr_fault import FaultTable

    t = FaultTable()
    if armed:
        t.add(OTHER)
    for call in (t.count, t.check, t.count, t.check):
        with pytest.raises(kern.KernelPanic, match="'no.such.site.either' is used but not"):
            call("no.such.site.either")
