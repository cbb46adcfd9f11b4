"""The lock sites hot callers keep (``lock_site``, kern_mutex's ``at``).

A ``lock_site`` is looked up once and then reused for its call: lockdebug's
records, order edges and reports, and a lock class's init site, must name
the same call the frame lookup at every call names.  These tests fail when
a kept site names another call (a lock_site shared by two calls, a wrong
depth), when a report through a kept site names the wrong line, or when
anything of it runs without lockdebug.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

import kern
from kern.exceptions import LockOrderReversal
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_enter_nowait,
    mutex_exit,
    mutex_init,
    mutex_tryenter,
)
from kern.kern_rwlock import (
    RW_READER,
    RW_WRITER,
    krwlock_t,
    rw_enter,
    rw_exit,
    rw_init,
    rw_tryenter,
)
from kern.subr_lockdebug import lock_site, short_path, site_of

ROOT = Path(__file__).resolve().parents[2]
_HERE = short_path(__file__)


def _line_of(marker: str) -> int:
    """The line of this file that ends with the comment ``# <marker>``."""
    for i, text in enumerate(Path(__file__).read_text().splitlines(), 1):
        if text.rstrip().endswith(f"# {marker}"):
            return i
    raise AssertionError(marker)


def _lock_sites_of_tree() -> dict[str, list[str]]:
    """Each module of the tree that keeps lock_sites: their names."""
    out = {}
    for path in sorted(ROOT.glob("[a-z]*/**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks", "docs") or ".venv" in rel.parts:
            continue
        text = path.read_text()
        if "lock_site()" not in text:
            continue
        tree = ast.parse(text)
        names = [t.id for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
                 and node.value.func.id == "lock_site" for t in node.targets
                 if isinstance(t, ast.Name)]
        if names:
            out[str(rel)] = names
    return out


def test_every_lock_site_of_the_tree_is_given_at_one_call_only():
    """A lock_site serves one call: shared by two, the second would be
    recorded at the first one's line.  Each module-level lock_site of the
    tree is read at exactly one call (as an argument, or looked up in place)
    in its module."""
    found = _lock_sites_of_tree()
    assert "vfs/vnode.py" in found and "dev/fss/fss.py" in found
    bad = []
    for rel, names in found.items():
        tree = ast.parse((ROOT / rel).read_text())
        uses = dict.fromkeys(names, 0)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                args = [*node.args, *(k.value for k in node.keywords)]
                if isinstance(node.func, ast.Attribute) and node.func.attr == "lookup":
                    args.append(node.func.value)  # (a site looked up in place)
                for a in args:
                    if isinstance(a, ast.Name) and a.id in uses:
                        uses[a.id] += 1
        bad += [f"{rel}: {n} given at {c} calls" for n, c in uses.items() if c != 1]
    assert bad == []


# --------------------------------------------------- each primitive's kept site


def _take_all(m: kmutex_t, rw: krwlock_t, sites: dict[str, lock_site]) -> list[Any]:
    """Take and release each lock through each primitive with a kept site;
    the record each call makes (its Where)."""
    from kern.cpu import curlwp

    me = curlwp()
    got = []
    assert mutex_tryenter(m, at=sites["try"])  # try
    got.append(me.l_locks[-1][1])
    mutex_exit(m)
    assert mutex_enter_nowait(m, at=sites["nowait"])  # nowait
    got.append(me.l_locks[-1][1])
    mutex_exit(m)
    assert rw_tryenter(rw, RW_READER, at=sites["rwtry"])  # rwtry
    got.append(me.l_locks[-1][1])
    rw_exit(rw)
    return got


async def _enter_all(m: kmutex_t, rw: krwlock_t, sites: dict[str, lock_site]) -> list[Any]:
    from kern.cpu import curlwp

    me = curlwp()
    got = []
    await mutex_enter(m, at=sites["enter"])  # enter
    got.append(me.l_locks[-1][1])
    mutex_exit(m)
    await rw_enter(rw, RW_WRITER, at=sites["rwenter"])  # rwenter
    got.append(me.l_locks[-1][1])
    rw_exit(rw)
    return got + _take_all(m, rw, sites)


_ORDER = ("enter", "rwenter", "try", "nowait", "rwtry")


def test_a_kept_site_records_the_line_of_its_call_every_time():
    """mutex_enter, rw_enter, mutex_tryenter, mutex_enter_nowait and
    rw_tryenter record, with ``at``, the line of their call: at the call
    that looks the site up and at the later ones that reuse it; mutex_init
    and rw_init name their class from their own line likewise."""
    sites = {k: lock_site() for k in (*_ORDER, "init", "rwinit")}

    async def body() -> list[Any]:
        out = []
        for _ in range(3):
            m = kmutex_t()
            mutex_init(m, MUTEX_DEFAULT, IPL_NONE, at=sites["init"])  # init
            rw = krwlock_t()
            rw_init(rw, at=sites["rwinit"])  # rwinit
            out.append((m.lock_class, rw.lock_class, await _enter_all(m, rw, sites)))
        return out

    with kern.boot(seed=3) as k:
        out = k.run(body)
    for mclass, rwclass, wheres in out:
        assert mclass.site[:2] == (__file__, _line_of("init")) and mclass.name == "m"
        assert rwclass.site[:2] == (__file__, _line_of("rwinit")) and rwclass.name == "rw"
        lines = [site_of(w)[1] for w in wheres]
        assert lines == [_line_of(name) for name in _ORDER]
    assert out[0][0] is out[2][0]  # (one class for one init call)


def test_a_contended_mutex_enter_records_its_kept_site():
    """mutex_enter's slow path (the mutex held: it sleeps) records the kept
    site as well, the line of its call."""
    from kern.cpu import curlwp
    from kern.kern_lwp import PRI_BIO, kthread_create
    from kern.kern_synch import kpause

    at = lock_site()
    m = kmutex_t()
    got: list[Any] = []
    busy: list[bool] = []

    async def waiter(_: Any) -> None:
        for _ in range(2):
            busy.append(m.mtx_owner is not None)
            await mutex_enter(m, at=at)  # slow
            got.append(curlwp().l_locks[-1][1])
            mutex_exit(m)
            await kpause("w", False, 2, None)

    async def body() -> None:
        mutex_init(m, MUTEX_DEFAULT, IPL_NONE)
        await mutex_enter(m)
        assert kthread_create(PRI_BIO, 0, None, waiter, None, "waiter")[0] == 0
        await kpause("m", False, 1, None)  # (the waiter sleeps on m)
        mutex_exit(m)
        await kpause("m", False, 1, None)
        await mutex_enter(m)
        await kpause("m", False, 4, None)  # (and again)
        mutex_exit(m)
        await kpause("m", False, 4, None)

    with kern.boot(seed=5) as k:
        k.run(body)
    assert busy == [True, True]
    assert [site_of(w)[1] for w in got] == [_line_of("slow")] * 2
    assert [site_of(w)[2] for w in got] == ["waiter"] * 2


def test_a_lock_order_reversal_names_the_lines_of_the_kept_sites():
    """The report of a reversal found through kept sites names the two
    calls that made it: where each lock was taken and where it was wanted."""
    a_at, b_at, b2_at, a2_at = lock_site(), lock_site(), lock_site(), lock_site()

    async def body() -> None:
        a, b = kmutex_t(), kmutex_t()
        mutex_init(a, MUTEX_DEFAULT, IPL_NONE)
        mutex_init(b, MUTEX_DEFAULT, IPL_NONE)
        for _ in range(2):  # (the second round reuses the sites)
            await mutex_enter(a, at=a_at)  # a first
            await mutex_enter(b, at=b_at)  # b second
            mutex_exit(b)
            mutex_exit(a)
        await mutex_enter(b, at=b2_at)  # b first
        await mutex_enter(a, at=a2_at)  # a second

    with kern.boot(seed=2) as k, pytest.raises(LockOrderReversal) as ei:
        k.run(body)
    msg = str(ei.value)
    assert f'1st "b" (mutex) taken at {_HERE}:{_line_of("b first")} in body' in msg
    assert f'2nd "a" (mutex) wanted at {_HERE}:{_line_of("a second")} in body' in msg
    assert f'"a" taken at {_HERE}:{_line_of("a first")} in body, then' in msg
    assert f'"b" taken at {_HERE}:{_line_of("b second")} in body' in msg


# ------------------------------------------------- the tree's kept sites, live


class _CheckedLocks(list):
    """An lwp's l_locks that checks each record it is given: its site names a
    line that one of the calls in progress on the stack is at."""

    bad: list[str] = []
    checked = [0]

    def append(self, rec: Any) -> None:
        where = rec[1]
        if where is not None:
            _CheckedLocks.checked[0] += 1
            _check_live(where, "record", rec[0])
        super().append(rec)


_CORE = ("kern/kern_mutex.py", "kern/kern_rwlock.py", "kern/subr_lockdebug.py")


def _check_live(where: Any, what: str, lock: Any) -> None:
    """``where`` names a call outside the lock primitives that a frame on the
    stack is at (the line: a wait's relock site is its call of _relock_site)."""
    code, lasti = where
    line = site_of(where)[1]
    if short_path(code.co_filename) in _CORE:
        _CheckedLocks.bad.append(f"{what} of {lock!r} at {code.co_name}: a lock primitive")
        return
    f = sys._getframe(2)
    while f is not None:
        if f.f_code is code and site_of((code, f.f_lasti))[1] == line:
            return
        f = f.f_back
    _CheckedLocks.bad.append(f"{what} of {lock!r} at {code.co_name}:{line}, not a live call")


def _all_kept_sites() -> list[lock_site]:
    import importlib

    out = []
    for rel, names in _lock_sites_of_tree().items():
        mod = importlib.import_module(rel[:-3].replace("/", "."))
        out += [getattr(mod, n) for n in names]
    return out


def test_the_sites_the_tree_keeps_name_the_calls_in_progress(monkeypatch, tmp_path):
    """A sweep seed with every lock_site of the tree emptied first: each lock
    record made (through a kept site or not) names a line a call on the
    stack is at, and so does each lock class made; the hot callers' sites
    are all used."""
    from kern import kern_lwp, kern_mutex, kern_rwlock
    from tests.dev.fss import test_faults

    kept = _all_kept_sites()
    for s in kept:
        monkeypatch.setattr(s, "where", None)
    real_init = kern_lwp.lwp.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        real_init(self, *a, **kw)
        self.l_locks = _CheckedLocks()

    def class_at(real: Any) -> Any:
        def lock_class_at(where: Any, initfn: str, kind: str) -> Any:
            _check_live(where, "init", initfn)
            return real(where, initfn, kind)
        return lock_class_at

    monkeypatch.setattr(kern_lwp.lwp, "__init__", init)
    monkeypatch.setattr(kern_mutex, "lock_class_at", class_at(kern_mutex.lock_class_at))
    monkeypatch.setattr(kern_rwlock, "lock_class_at", class_at(kern_rwlock.lock_class_at))
    monkeypatch.setattr(_CheckedLocks, "bad", [])
    monkeypatch.setattr(_CheckedLocks, "checked", [0])
    test_faults.test_sweep_writers_against_snapshot_readers(tmp_path=tmp_path, seed=100)
    assert _CheckedLocks.bad == []
    assert _CheckedLocks.checked[0] > 1000
    from vfs import kern_physio, vfs_bio, vnode

    hot = [vnode._vrelel_relock_site, vnode._vrele_site, vnode._vcache_get_site,
           vnode._vdrain_lock_site, vnode._v_interlock_init_site, vnode._v_lock_init_site,
           vfs_bio._biowait_slow_site, kern_physio._physio_wait_site,
           kern_physio._ctx_lock_init_site]  # (fss's are its per-machine copy's)
    assert [i for i, s in enumerate(hot) if s.where is None] == []


def test_without_lockdebug_no_site_is_looked_up(monkeypatch):
    """boot(lockdebug=False): the lock calls look no frame up (the init calls
    only, for the lock's class), a kept site stays empty and the records have
    no site; genfs_lock's too."""
    from kern import kern_mutex, kern_rwlock, subr_lockdebug
    from kern.cpu import curlwp
    from vfs import vnode as vn
    from vfs import vnode_if
    from vfs.vnode import LK_EXCLUSIVE, genfs_lock, genfs_unlock, vn_lock

    sites = {k: lock_site() for k in _ORDER}
    m, rw = kmutex_t(), krwlock_t()

    async def body() -> list[Any]:
        mutex_init(m, MUTEX_DEFAULT, IPL_NONE)
        rw_init(rw)
        vp = vn.vnode()
        vp.v_op = [None] * vnode_if.VOP_NDESCS
        vp.v_op[vnode_if.vop_lock_desc.vdesc_offset] = genfs_lock
        vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = genfs_unlock

        def nope(*a: Any) -> Any:
            raise AssertionError("a frame looked up without lockdebug")

        for mod in (kern_mutex, kern_rwlock, subr_lockdebug, vn):
            monkeypatch.setattr(mod, "_getframe", nope)
        got = await _enter_all(m, rw, sites)
        await mutex_enter(m)
        got.append(curlwp().l_locks[-1][1])
        mutex_exit(m)
        await rw_enter(rw, RW_READER)
        got.append(curlwp().l_locks[-1][1])
        rw_exit(rw)
        assert await vn_lock(vp, LK_EXCLUSIVE) == 0
        got.append(curlwp().l_locks[-1][1])
        vnode_if.VOP_UNLOCK(vp)
        monkeypatch.undo()
        return got

    with kern.boot(seed=0, lockdebug=False) as k:
        got = k.run(body)
    assert got == [None] * (len(_ORDER) + 3)
    assert all(s.where is None for s in sites.values())


def test_a_vnode_lock_through_vn_lock_records_vn_lock_s_call_of_VOP_LOCK():
    """genfs_lock's site is the caller of the VOP that called it: through
    vn_lock, vn_lock's VOP_LOCK call (kept after the first look-up), every
    time; under another lock operation that calls genfs_lock itself (as
    puffs_lock does), the VOP; after a vn_lock whose lock operation never
    reached genfs_lock (it failed, or raised), a direct VOP_LOCK names its
    own caller."""
    import inspect

    from kern.cpu import curlwp
    from kern.errno import EBUSY
    from vfs import vnode as vn
    from vfs import vnode_if
    from vfs.vnode import LK_EXCLUSIVE, genfs_lock, genfs_unlock, vn_lock

    lines, first = inspect.getsourcelines(vn_lock)
    call = first + next(i for i, t in enumerate(lines) if "await VOP_LOCK(vp, flags)" in t)
    off = vnode_if.vop_lock_desc.vdesc_offset

    async def fs_lock(ap: Any) -> int:  # (a file system's own lock operation)
        return await genfs_lock(ap)

    async def busy_lock(ap: Any) -> int:
        return EBUSY

    async def raising_lock(ap: Any) -> int:
        raise LookupError("lock operation failed")

    async def body() -> list[Any]:
        vp = vn.vnode()
        vp.v_op = [None] * vnode_if.VOP_NDESCS
        vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = genfs_unlock
        me = curlwp()
        got = []
        for lock in (genfs_lock, genfs_lock, fs_lock):
            vp.v_op[off] = lock
            assert await vn_lock(vp, LK_EXCLUSIVE) == 0
            got.append(me.l_locks[-1][1])
            vnode_if.VOP_UNLOCK(vp)
        for lock in (busy_lock, raising_lock):
            vp.v_op[off] = lock
            try:
                assert await vn_lock(vp, LK_EXCLUSIVE) == EBUSY
            except LookupError:
                pass
            vp.v_op[off] = genfs_lock
            assert await vnode_if.VOP_LOCK(vp, LK_EXCLUSIVE) == 0
            got.append(me.l_locks[-1][1])
            vnode_if.VOP_UNLOCK(vp)
        return got

    with kern.boot(seed=0) as k:
        got = k.run(body)
    assert [site_of(w)[1:] for w in got[:2]] == [(call, "vn_lock")] * 2
    assert got[0][0] is vn_lock.__code__ and got[0] == got[1]
    assert got[2][0] is vnode_if.VOP_LOCK.__code__
    assert [site_of(w)[2] for w in got[3:]] == ["body", "body"]


def test_vn_lock_s_note_serves_only_its_own_vnode_and_call():
    """vn_lock's note (``_vn_locking``) is taken by the genfs_lock its own
    VOP_LOCK reaches, for that vnode only: a genfs_lock of the same vnode
    reached otherwise while a vn_lock sleeps in its genfs_lock (the lock
    held by another lwp), or while the note holds another vnode (another
    machine's vn_lock in another thread, in its window), records the caller
    of its own VOP (here: body / taker), as the frame look-up gives."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
    from kern.cpu import curlwp
    from kern.kern_synch import preempt
    from vfs import vnode as vn
    from vfs import vnode_if
    from vfs.vnode import LK_EXCLUSIVE, genfs_lock, genfs_unlock, vn_lock

    off = vnode_if.vop_lock_desc.vdesc_offset

    def a_vnode() -> Any:
        vp = vn.vnode()
        vp.v_op = [None] * vnode_if.VOP_NDESCS
        vp.v_op[off] = genfs_lock
        vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = genfs_unlock
        return vp

    async def body() -> list[Any]:
        vp, other = a_vnode(), a_vnode()
        me = curlwp()
        got: dict[str, Any] = {}
        # (the note of another vnode, as another thread's vn_lock leaves it)
        vn._vn_locking[0] = other
        try:
            assert await vnode_if.VOP_LOCK(vp, LK_EXCLUSIVE) == 0
        finally:
            vn._vn_locking[0] = None
        got["other"] = me.l_locks[-1][1]
        # vp held by body: a vn_lock sleeps in its genfs_lock; meanwhile a
        # direct VOP_LOCK of vp (another lwp) sleeps too, behind it.
        order: list[str] = []

        async def locker(arg: Any) -> None:
            assert await vn_lock(vp, LK_EXCLUSIVE) == 0
            order.append("vn_lock")
            got["vn_lock"] = curlwp().l_locks[-1][1]
            vnode_if.VOP_UNLOCK(vp)

        async def taker(arg: Any) -> None:
            assert await vnode_if.VOP_LOCK(vp, LK_EXCLUSIVE) == 0
            order.append("taker")
            got["taker"] = curlwp().l_locks[-1][1]
            vnode_if.VOP_UNLOCK(vp)

        lwps = []
        for fn, name in ((locker, "locker"), (taker, "taker")):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, None, name)
            assert error == 0
            lwps.append(l)
            for _ in range(10):
                await preempt()
        assert order == []  # (both asleep on vp's lock)
        vnode_if.VOP_UNLOCK(vp)
        for l in lwps:
            await kthread_join(l)
        assert sorted(order) == ["taker", "vn_lock"]
        return [got["other"], got["vn_lock"], got["taker"]]

    with kern.boot(seed=0) as k:
        got = k.run(body)
    assert [site_of(w)[2] for w in got] == ["body", "vn_lock", "taker"]
    assert got[1][0] is vn_lock.__code__


def test_a_vnode_reclaimed_under_its_file_system_s_lock_op_records_the_vop():
    """A file system's own lock operation (puffs_lock's shape) that sleeps
    before it calls genfs_lock, its vnode reclaimed meanwhile (v_op is then
    the dead table, whose lock operation is genfs_lock): genfs_lock's site is
    the VOP that called the file system's operation, as the frame look-up
    gives, not vn_lock's call (vn_lock's note serves a genfs_lock its
    VOP_LOCK calls directly only)."""
    from kern.cpu import curlwp
    from kern.kern_synch import kpause
    from vfs import vnode as vn
    from vfs import vnode_if
    from vfs.vnode import LK_EXCLUSIVE, genfs_lock, genfs_unlock, vn_lock

    off = vnode_if.vop_lock_desc.vdesc_offset

    async def fs_lock(ap: Any) -> int:
        await kpause("fslock", False, 1, None)
        ap.a_vp.v_op[off] = genfs_lock  # (reclaimed while asleep: vgone's dead ops)
        return await genfs_lock(ap)

    async def body() -> Any:
        vp = vn.vnode()
        vp.v_op = [None] * vnode_if.VOP_NDESCS
        vp.v_op[off] = fs_lock
        vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = genfs_unlock
        assert await vn_lock(vp, LK_EXCLUSIVE | vn.LK_RETRY) == 0
        got = curlwp().l_locks[-1][1]
        vnode_if.VOP_UNLOCK(vp)
        return got

    with kern.boot(seed=0) as k:
        got = k.run(body)
    assert got[0] is vnode_if.VOP_LOCK.__code__
    assert vn_lock.__code__ is not vnode_if.VOP_LOCK.__code__
