"""The lock-chain cache of subr_lockdebug: a skipped order check never skips
an edge, a reversal, a kept reversal's report or a misuse panic.

Each scenario first has an order check pass with one chain of held locks (so
the cache remembers it), then takes the same class with a held set that the
remembered chain does not stand for: its edge must be in the order graph, and
the opposite order, taken last, must still be reported.  A cache keyed too
loosely (by the top lock only, by a lock's identity, across machines, through
a try-lock, or left stale after an out-of-order release) skips the middle
check and loses the edge.
"""

from __future__ import annotations

import pytest

import kern
from kern import (
    IPL_NONE,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    RW_READER,
    RW_WRITER,
    cv_init,
    kcondvar_t,
    kmutex_t,
    kpause,
    krwlock_t,
    kthread_create,
    kthread_join,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_tryenter,
    rw_enter,
    rw_exit,
    rw_init,
    rw_tryenter,
)
from kern import subr_lockdebug as lockdebug
from kern.cpu import curlwp
from kern.subr_lockdebug import order_edges


def _mutexes(n: int) -> list[kmutex_t]:
    return [kmutex_t() for _ in range(n)]


def _edges(body) -> list[tuple[str, str]]:
    """The lock-order edges the machine saw after running ``body`` (which returns them)."""
    with kern.boot(seed=1) as k:
        return k.run(body)


def _lor(body, *args, **boot) -> str:
    with kern.boot(seed=1, **boot) as k, pytest.raises(kern.LockOrderReversal) as ei:
        k.run(body, *args)
    return str(ei.value)


async def _every_held_lock_counts():
    ca, cb, cc, cx = _mutexes(4)
    mutex_init(ca, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(cb, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(cc, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(cx, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(ca)
    await mutex_enter(cb)
    await mutex_enter(cc)  # passes with ca, cb held
    for m in (cc, cb, ca):
        mutex_exit(m)
    await mutex_enter(cx)
    await mutex_enter(cb)
    await mutex_enter(cc)  # the same top lock, another chain: cx -> cc is new
    for m in (cc, cb, cx):
        mutex_exit(m)
    return order_edges()


def test_a_chain_is_every_held_lock_not_the_top_one():
    # (the reversal cc -> cx would still be found through cx -> cb -> cc:
    # the edge itself is what a skipped check loses)
    with kern.boot(seed=1) as k:
        edges = k.run(_every_held_lock_counts)
    assert ("cx", "cc") in edges and ("cb", "cc") in edges and ("ca", "cc") in edges


async def _out_of_order_release():
    oa, ob, oc, od = _mutexes(4)
    mutex_init(oa, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(ob, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(oc, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(od, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(oa)
    await mutex_enter(ob)
    await mutex_enter(oc)
    mutex_exit(ob)  # out of order: oa, oc held
    await mutex_enter(od)  # passes for oa, oc: adds no ob -> od
    for m in (od, oc, oa):
        mutex_exit(m)
    await mutex_enter(oa)
    await mutex_enter(ob)
    await mutex_enter(oc)
    await mutex_enter(od)  # ob -> od is new here
    for m in (od, oc, ob, oa):
        mutex_exit(m)
    return order_edges()


def test_an_out_of_order_release_does_not_leave_a_stale_chain():
    with kern.boot(seed=1) as k:
        edges = k.run(_out_of_order_release)
    assert ("ob", "od") in edges and ("oa", "od") in edges and ("oc", "od") in edges


async def _through_a_trylock():
    ta, tt, td = _mutexes(3)
    mutex_init(ta, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(tt, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(td, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(ta)
    await mutex_enter(td)  # passes with ta held
    mutex_exit(td)
    assert mutex_tryenter(tt) == 1  # (adds no edge itself)
    await mutex_enter(td)  # ta and tt held: tt -> td is new
    mutex_exit(td)
    mutex_exit(tt)
    mutex_exit(ta)
    await mutex_enter(td)
    await mutex_enter(tt)


def test_a_trylocked_lock_is_part_of_the_chain():
    msg = _lor(_through_a_trylock)
    assert '1st "td"' in msg and '2nd "tt"' in msg


async def _reinitialised_lock():
    ra, rb = _mutexes(2)
    mutex_init(ra, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(rb, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(ra)
    await mutex_enter(rb)  # passes with ra's first class held
    mutex_exit(rb)
    mutex_exit(ra)
    mutex_destroy(ra)
    ra2 = ra  # the same lock, initialised again at another place: another class
    mutex_init(ra2, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(ra2)
    await mutex_enter(rb)  # ra2 -> rb is new
    mutex_exit(rb)
    mutex_exit(ra2)
    await mutex_enter(rb)
    await mutex_enter(ra2)


def test_a_lock_destroyed_and_initialised_again_is_checked_by_its_new_class():
    msg = _lor(_reinitialised_lock)
    assert '1st "rb"' in msg and '2nd "ra2"' in msg


async def _held_across_a_switch():
    """Two lwps take "sc" with different locks held, one while the other
    sleeps holding its own: each one's chain is its own."""
    sa, sx, sc = _mutexes(3)
    mutex_init(sa, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(sx, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(sc, MUTEX_DEFAULT, IPL_NONE)

    async def one(_):
        await mutex_enter(sa)
        await kpause("holdsa", False, 2, None)  # "two" runs meanwhile
        await mutex_enter(sc)  # sa -> sc is new
        mutex_exit(sc)
        mutex_exit(sa)

    async def two(_):
        await mutex_enter(sx)
        await mutex_enter(sc)
        mutex_exit(sc)
        await kpause("holdsx", False, 3, None)
        mutex_exit(sx)

    _, l1 = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, one, None, "one")
    _, l2 = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, two, None, "two")
    await kthread_join(l1)
    await kthread_join(l2)
    await mutex_enter(sc)
    await mutex_enter(sa)


def test_locks_held_by_other_lwps_are_not_in_the_chain():
    msg = _lor(_held_across_a_switch)
    assert '1st "sc"' in msg and '2nd "sa"' in msg
    assert "in one" in msg


async def _rw_read_then_write():
    wr, wm = krwlock_t(), kmutex_t()
    rw_init(wr)
    mutex_init(wm, MUTEX_DEFAULT, IPL_NONE)
    l = curlwp()
    chains = []
    await rw_enter(wr, RW_READER)
    await mutex_enter(wm)  # wr -> wm, wr held shared
    chains.append([rec[3] for rec in l.l_locks])
    mutex_exit(wm)
    rw_exit(wr)
    await rw_enter(wr, RW_WRITER)
    await mutex_enter(wm)  # the same chain, wr held exclusive: a cache hit
    chains.append([rec[3] for rec in l.l_locks])
    mutex_exit(wm)
    rw_exit(wr)
    return chains, order_edges()


def test_an_rwlock_held_shared_or_exclusive_is_one_class():
    """The order graph knows classes, not hold modes, so the chain of an
    rwlock held shared is the one of it held exclusive: the second
    acquisition finds the first one's chain (its check skipped), and the
    trie has no second chain for the same classes.  (A cache keyed by class
    and hold mode would give the same edges, checking twice: only the
    chains themselves tell it apart.)"""
    with kern.boot(seed=1) as k:
        (shared, exclusive), edges = k.run(_rw_read_then_write)
    assert len(shared) == len(exclusive) == 2 and None not in shared + exclusive
    assert shared[0] is exclusive[0] and shared[1] is exclusive[1]
    assert ("wr", "wm") in edges


async def _rw_reversed():
    wr, wm = krwlock_t(), kmutex_t()
    rw_init(wr)
    mutex_init(wm, MUTEX_DEFAULT, IPL_NONE)
    await rw_enter(wr, RW_READER)
    await mutex_enter(wm)  # wr -> wm, held shared
    mutex_exit(wm)
    rw_exit(wr)
    await mutex_enter(wm)
    await rw_enter(wr, RW_WRITER)  # the opposite order, wr wanted exclusive


def test_a_reversal_through_an_rwlock_ignores_its_hold_mode():
    msg = _lor(_rw_reversed)
    assert '1st "wm"' in msg and '2nd "wr"' in msg


async def _pq_then_qp(times: int) -> list[str]:
    kp, kq = _mutexes(2)
    mutex_init(kp, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(kq, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(kp)
    await mutex_enter(kq)
    mutex_exit(kq)
    mutex_exit(kp)
    for _ in range(times):
        await mutex_enter(kq)
        await mutex_enter(kp)
        mutex_exit(kp)
        mutex_exit(kq)
    return lockdebug.lockdebug_reversals()


def test_each_machine_checks_with_its_own_chains(monkeypatch):
    """A kept reversal is reported once on every machine, and ends the run
    on a strict one, whatever another machine in the process remembered."""
    monkeypatch.setitem(lockdebug._kept, frozenset(("kp", "kq")), "a test's pair")
    for _ in range(2):
        with kern.boot(seed=1) as k:
            reports = k.run(_pq_then_qp, 3)
        assert len(reports) == 1
        assert '1st "kq"' in reports[0] and '2nd "kp"' in reports[0]
        assert reports[0].endswith("kept on purpose: a test's pair")
    msg = _lor(_pq_then_qp, 1, lockdebug="strict")
    assert '1st "kq"' in msg and 'fatal under lockdebug="strict"' in msg
    monkeypatch.delitem(lockdebug._kept, frozenset(("kp", "kq")))
    msg = _lor(_pq_then_qp, 1)  # and undeclared it ends any run
    assert '1st "kq"' in msg and "kept" not in msg


def test_mutex_exit_of_a_dead_mutex_says_which():
    """mutex_exit checks the owner first, then why a mutex nobody holds is bad."""
    async def destroyed():
        m = kmutex_t()
        mutex_init(m, MUTEX_DEFAULT, IPL_NONE)
        mutex_destroy(m)
        mutex_exit(m)

    async def uninitialised():
        mutex_exit(kmutex_t())

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="destroyed mutex"):
        k.run(destroyed)
    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="uninitialised mutex"):
        k.run(uninitialised)


# --- the cases session 19 made fast paths of --------------------------------------


async def _rw_out_of_order_release():
    ua, uc, ud = _mutexes(3)
    mutex_init(ua, MUTEX_DEFAULT, IPL_NONE)
    ub = krwlock_t()
    rw_init(ub)
    mutex_init(uc, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(ud, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(ua)
    await rw_enter(ub, RW_READER)
    await mutex_enter(uc)
    rw_exit(ub)  # the lock under the top one: rw_exit's in-line release
    await mutex_enter(ud)  # passes for ua, uc: adds no ub -> ud
    for m in (ud, uc, ua):
        mutex_exit(m)
    await mutex_enter(ua)
    await rw_enter(ub, RW_READER)
    await mutex_enter(uc)
    await mutex_enter(ud)  # ub -> ud is new here
    mutex_exit(ud)
    mutex_exit(uc)
    rw_exit(ub)
    mutex_exit(ua)
    return order_edges()


def test_an_rwlock_released_out_of_order_does_not_leave_a_stale_chain():
    edges = _edges(_rw_out_of_order_release)
    assert ("ub", "ud") in edges and ("ua", "ud") in edges and ("uc", "ud") in edges


async def _lone_trylocked_rwlock_reversed():
    vr = krwlock_t()
    rw_init(vr)
    vm = kmutex_t()
    mutex_init(vm, MUTEX_DEFAULT, IPL_NONE)
    assert rw_tryenter(vr, RW_WRITER) == 1  # alone, try-locked: no chain of its own
    await mutex_enter(vm)  # vr -> vm: the lone lock's chain made by lockdebug_wantlock
    mutex_exit(vm)
    rw_exit(vr)
    await mutex_enter(vm)
    await rw_enter(vr, RW_READER)


def test_a_lone_try_locked_rwlock_takes_part_in_the_order_check():
    msg = _lor(_lone_trylocked_rwlock_reversed)
    assert '1st "vm"' in msg and '2nd "vr"' in msg


async def _relock_reversed(cv_timedwait_fn):
    ml = kmutex_t()
    mutex_init(ml, MUTEX_DEFAULT, IPL_NONE)
    ql = kmutex_t()
    mutex_init(ql, MUTEX_DEFAULT, IPL_NONE)
    cv = kcondvar_t()
    cv_init(cv, "relock")
    await mutex_enter(ml)
    await mutex_enter(ql)  # ml -> ql
    # the wait releases ml under ql, times out, and takes ml back with ql
    # held: ql -> ml, the opposite order
    await cv_timedwait_fn(cv, ml, 1)


@pytest.mark.parametrize("nowait", [True, False])
def test_a_reversal_at_a_condvar_waits_relock_is_reported(monkeypatch, nowait):
    """cv_timedwait's relock is checked whether it is taken at once
    (mutex_enter_nowait) or through the whole mutex enter, and the report
    names the wait as where the interlock was wanted."""
    import kern.kern_condvar as kc

    if not nowait:
        monkeypatch.setattr(kc, "mutex_enter_nowait", lambda mtx, depth=1, at=None: False)
    msg = _lor(_relock_reversed, kc.cv_timedwait)
    assert '1st "ql"' in msg and '2nd "ml"' in msg
    assert "kern_condvar.py:" in msg and " in cv_timedwait" in msg.split("wanted at", 1)[1]


def test_rw_exit_of_an_rwlock_not_held_panics():
    async def body():
        rw = krwlock_t()
        rw_init(rw)
        rw_exit(rw)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="does not hold"):
        k.run(body)


@pytest.mark.parametrize("second", [RW_WRITER, RW_READER])
def test_rw_enter_against_myself_panics(second):
    async def body():
        rw = krwlock_t()
        rw_init(rw)
        await rw_enter(rw, RW_WRITER if second == RW_READER else RW_READER)
        await rw_enter(rw, second)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic, match="against myself"):
        k.run(body)


# The wanted lock of the two scenarios below: a mutex (mutex_enter's check),
# or an rwlock taken as reader or as writer (_rw_enter's: the same shortcut
# written out there).  Each takes it once where the top record's chain is
# remembered for its class in a way that must not skip the check.
_WANTED = ["mutex", "rw reader", "rw writer"]


def _wanted(kind: str):
    """(the lock, an async enter, a try-enter, an exit) of the kind asked;
    the lock's name (its class's) is "wanted"."""
    if kind == "mutex":
        wanted = kmutex_t()
        mutex_init(wanted, MUTEX_DEFAULT, IPL_NONE)
        return wanted, mutex_enter, mutex_tryenter, mutex_exit
    op = RW_READER if kind == "rw reader" else RW_WRITER
    wanted = krwlock_t()
    rw_init(wanted)

    async def enter(lk):
        await rw_enter(lk, op)

    return wanted, enter, lambda lk: rw_tryenter(lk, op), rw_exit


async def _bottom_chain_is_not_the_top_one(kind: str):
    ya, yb = _mutexes(2)
    mutex_init(ya, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(yb, MUTEX_DEFAULT, IPL_NONE)
    yw, enter, _, leave = _wanted(kind)
    await mutex_enter(ya)
    await enter(yw)  # passes with ya held: ya's chain remembers yw
    leave(yw)
    await mutex_enter(yb)
    await enter(yw)  # ya, yb held: yb -> yw is new (ya's chain is not the top one)
    leave(yw)
    mutex_exit(yb)
    mutex_exit(ya)
    await enter(yw)
    await mutex_enter(yb)  # the opposite order


@pytest.mark.parametrize("kind", _WANTED)
def test_the_order_check_uses_the_top_records_chain(kind):
    msg = _lor(_bottom_chain_is_not_the_top_one, kind)
    assert '1st "wanted"' in msg and '2nd "yb"' in msg


async def _a_trylocks_chain_is_not_a_checked_one(kind: str):
    za, zx = _mutexes(2)
    mutex_init(za, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(zx, MUTEX_DEFAULT, IPL_NONE)
    zt, enter, tryenter, leave = _wanted(kind)
    await mutex_enter(za)
    assert tryenter(zt) == 1  # no order check: za -> zt is not an edge
    await mutex_enter(zx)  # za's chain gets zt's (a child), never checked for zt
    mutex_exit(zx)
    leave(zt)
    await enter(zt)  # za held: za -> zt is new here
    leave(zt)
    mutex_exit(za)
    await enter(zt)
    await mutex_enter(za)  # the opposite order


@pytest.mark.parametrize("kind", _WANTED)
def test_a_chain_made_through_a_trylock_is_not_taken_as_checked(kind):
    msg = _lor(_a_trylocks_chain_is_not_a_checked_one, kind)
    assert '1st "wanted"' in msg and '2nd "za"' in msg
