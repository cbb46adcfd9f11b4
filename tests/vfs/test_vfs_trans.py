"""fstrans, vfs_suspend and copy-on-write handlers (vfs/vfs_trans.py)."""

from __future__ import annotations

import pytest

import kern
from kern import (
    EBUSY,
    EINTR,
    EINVAL,
    EIO,
    ENOENT,
    ENOMEM,
    EOPNOTSUPP,
    EWOULDBLOCK,
    KTHREAD_MUSTJOIN,
    PRI_BIO,
    kmem_stats,
    kpause,
    kthread_create,
    kthread_join,
)
from kern.cpu import curmachine
from kern.kern_sig import SIGUSR1, psignal
from kern.machine.testing import Gate, sweep
from vfs import vfs_trans
from vfs.buf import B_COWDONE, buf
from vfs.mount import IMNT_GONE, IMNT_HAS_TRANS, mount, vfsops
from vfs.vfs_trans import (
    FSTRANS_NORMAL,
    FSTRANS_SUSPENDED,
    FSTRANS_SUSPENDING,
    fscow_disestablish,
    fscow_establish,
    fscow_run,
    fstrans_done,
    fstrans_getstate,
    fstrans_held,
    fstrans_is_owner,
    fstrans_mount,
    fstrans_setstate,
    fstrans_start,
    fstrans_start_nowait,
    fstrans_unmount,
    genfs_suspendctl,
    vfs_resume,
    vfs_suspend,
)
from vfs.vnode import VBLK, VREG, vnode


def make_mount(trans: bool = True, suspendctl: bool = True) -> mount:
    ops = vfsops("testfs", vfs_suspendctl=genfs_suspendctl if suspendctl else None)
    mp = mount(ops)
    if trans:
        assert fstrans_mount(mp) == 0
    return mp


def spawn(fn, name: str, arg=None):
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, arg, "%s", name)
    assert error == 0
    return l


def wbuf(mp: mount) -> buf:
    """A buf about to be written to a file of ``mp``."""
    vp = vnode()
    vp.v_type = VREG
    vp.v_mount = mp
    bp = buf()
    bp.b_vp = vp
    bp.b_bcount = 512
    return bp


@pytest.fixture(params=sweep(4))
def k(request):
    with kern.boot(seed=request.param) as m:
        yield m


# ------------------------------------------------------------ transactions

def test_fstrans_mount_sets_flag_and_state(k):
    async def body():
        mp = make_mount()
        assert mp.mnt_iflag & IMNT_HAS_TRANS
        assert fstrans_getstate(mp) == FSTRANS_NORMAL
        fstrans_unmount(mp)
        assert not mp.mnt_iflag & IMNT_HAS_TRANS
        assert mp.mnt_transinfo is None
        return kmem_stats()["inuse"]

    before = k.run(lambda: _inuse())
    assert k.run(body) == before


async def _inuse():
    return kmem_stats()["inuse"]


def test_writer_blocks_while_suspended_and_goes_on_after_resume(k):
    async def body():
        mp = make_mount()
        log = []

        async def writer(_):
            log.append("writer wants")
            await fstrans_start(mp)
            log.append("writer in")
            fstrans_done(mp)

        assert await vfs_suspend(mp, 0) == 0
        assert fstrans_getstate(mp) == FSTRANS_SUSPENDED
        assert fstrans_is_owner(mp)
        w = spawn(writer, "writer")
        await kpause("wait", False, 5, None)
        assert log == ["writer wants"]
        assert w.l_wmesg == "fstchg"
        # The suspender may still start (nested) transactions of its own.
        await fstrans_start(mp)
        assert fstrans_held(mp)
        fstrans_done(mp)
        log.append("resume")
        await vfs_resume(mp)
        await kthread_join(w)
        assert fstrans_getstate(mp) == FSTRANS_NORMAL
        assert not fstrans_is_owner(mp)
        return log

    assert k.run(body) == ["writer wants", "resume", "writer in"]


def test_nested_transactions_and_drain(k):
    async def body():
        mp = make_mount()
        log = []
        inside = Gate()

        async def writer(_):
            await fstrans_start(mp)
            await fstrans_start(mp)  # nested
            assert fstrans_held(mp)
            assert not fstrans_is_owner(mp)
            inside.open()
            await kpause("work", False, 3, None)
            fstrans_done(mp)
            log.append("inner done")
            await kpause("work", False, 3, None)
            log.append("outer done")
            fstrans_done(mp)
            assert not fstrans_held(mp)

        w = spawn(writer, "writer")
        await inside.wait()
        t0 = curmachine().now()
        assert await fstrans_setstate(mp, FSTRANS_SUSPENDED) == 0
        log.append("suspended")
        waited = curmachine().now() - t0
        # While suspended, a nested start by the owner works (others get EBUSY:
        # test_start_nowait_busy_while_suspended).
        assert fstrans_start_nowait(mp) == 0
        fstrans_done(mp)
        assert await fstrans_setstate(mp, FSTRANS_NORMAL) == 0
        await kthread_join(w)
        return log, waited

    log, waited = k.run(body)
    assert log == ["inner done", "outer done", "suspended"]
    assert waited >= 0.06


def test_start_nowait_busy_while_suspended(k):
    async def body():
        mp = make_mount()
        res = {}

        async def other(_):
            res["nowait"] = fstrans_start_nowait(mp)

        assert await vfs_suspend(mp, 0) == 0
        await kthread_join(spawn(other, "other"))
        await vfs_resume(mp)

        async def other2(_):
            res["after"] = fstrans_start_nowait(mp)
            fstrans_done(mp)

        await kthread_join(spawn(other2, "other2"))
        return res

    assert k.run(body) == {"nowait": EBUSY, "after": 0}


def test_setstate_interrupted_by_signal(k):
    async def body():
        mp = make_mount()
        release = Gate()
        inside = Gate()

        async def holder(_):
            await fstrans_start(mp)
            inside.open()
            await release.wait()
            fstrans_done(mp)

        async def signaller(_):
            await kpause("later", False, 4, None)
            psignal(curmachine().initproc, SIGUSR1)

        h = spawn(holder, "holder")
        await inside.wait()
        s = spawn(signaller, "signaller")
        error = await fstrans_setstate(mp, FSTRANS_SUSPENDED)
        state = fstrans_getstate(mp)
        owner = fstrans_is_owner(mp)
        curmachine().initproc.p_sigpend.clear()
        # Writers are not held up after the interrupted suspension.
        assert fstrans_start_nowait(mp) == 0
        fstrans_done(mp)
        release.open()
        await kthread_join(h)
        await kthread_join(s)
        return error, state, owner

    error, state, owner = k.run(body)
    assert error == EINTR
    assert state == FSTRANS_NORMAL
    assert not owner


def test_three_stage_suspension_is_accepted(k):
    async def body():
        mp = make_mount()
        assert await fstrans_setstate(mp, FSTRANS_SUSPENDING) == 0
        assert fstrans_is_owner(mp)
        assert await fstrans_setstate(mp, FSTRANS_SUSPENDED) == 0
        assert fstrans_getstate(mp) == FSTRANS_SUSPENDED
        assert await fstrans_setstate(mp, FSTRANS_NORMAL) == 0
        assert not fstrans_is_owner(mp)
        return True

    assert k.run(body)


def test_mount_without_trans_is_a_no_op(k):
    async def body():
        mp = make_mount(trans=False)
        await fstrans_start(mp)
        assert fstrans_start_nowait(mp) == 0
        fstrans_done(mp)
        fstrans_done(mp)
        await fstrans_start(None)
        fstrans_done(None)
        assert fstrans_is_owner(mp) == 0
        assert fstrans_getstate(mp) == FSTRANS_NORMAL
        assert await fstrans_setstate(mp, FSTRANS_SUSPENDED) == 0
        assert await genfs_suspendctl(mp, 1) == EOPNOTSUPP
        assert await vfs_suspend(mp, 0) == EOPNOTSUPP

        async def h(arg, bp, dv):
            return 0

        assert await fscow_establish(mp, h, None) == EINVAL
        assert await fscow_disestablish(mp, h, None) == EINVAL
        return True

    assert k.run(body)


def test_lwp_records_of_gone_mounts_go_and_a_remount_gets_a_new_one(k):
    """An lwp's fstrans records: the lookup that follows an unmount clears the
    gone mount's idle record even when it asks for the record it found last
    (kemu's shortcut), keeps a gone record still counting until its count is 0,
    and a mount given transaction state again gets a new record."""
    get = vfs_trans.fstrans_get_lwp_info

    async def body():
        mp1, mp2, mp3 = make_mount(), make_mount(), make_mount()
        for mp in (mp3, mp2, mp1):
            await fstrans_start(mp)
            fstrans_done(mp)
        rec1, rec2, rec3 = get(mp1, False), get(mp2, False), get(mp3, False)
        assert None not in (rec1, rec2, rec3)
        assert get(mp1, False) is rec1  # the last found, now mp1's
        await fstrans_start(mp3)  # mp3's record counts one through the unmounts
        fstrans_unmount(mp2)
        fstrans_unmount(mp3)
        assert get(mp1, False) is rec1
        assert (rec2.fli_mount, rec2.fli_mountinfo) == (None, None)  # cleared
        assert rec3.fli_mount is mp3 and rec3.fli_trans_cnt == 1  # kept
        # Its count drops (as fscow_run's can on a gone mount): the next lookup,
        # of the record found last again, clears it.
        rec3.fli_trans_cnt = 0
        assert get(mp1, False) is rec1
        assert (rec3.fli_mount, rec3.fli_mountinfo) == (None, None)
        # mp1 gets new transaction state: its old record is not reused.
        fstrans_unmount(mp1)
        assert fstrans_mount(mp1) == 0
        assert get(mp1, False) is None
        assert (rec1.fli_mount, rec1.fli_mountinfo) == (None, None)
        await fstrans_start(mp1)
        new1 = get(mp1, False)
        assert new1 is not rec1 and new1.fli_mountinfo is mp1.mnt_transinfo
        assert new1.fli_trans_cnt == 1 and fstrans_held(mp1)
        fstrans_done(mp1)
        fstrans_unmount(mp1)
        return True

    assert k.run(body)


# --------------------------------------------------------------- vfs_suspend

def test_vfs_suspend_serializes_and_nowait(k):
    async def body():
        mp1, mp2 = make_mount(), make_mount()
        log = []
        res = {}

        async def second(_):
            res["nowait"] = await vfs_suspend(mp2, 1)
            log.append("second waits")
            assert await vfs_suspend(mp2, 0) == 0
            log.append("second suspended")
            await vfs_resume(mp2)

        assert await vfs_suspend(mp1, 0) == 0
        s = spawn(second, "second")
        await kpause("hold", False, 5, None)
        log.append("first resumes")
        await vfs_resume(mp1)
        await kthread_join(s)
        return log, res

    log, res = k.run(body)
    assert res["nowait"] == EWOULDBLOCK
    assert log == ["second waits", "first resumes", "second suspended"]


def test_vfs_suspend_without_fstrans_is_refused_before_the_lock(k):
    """A mount without fstrans is EOPNOTSUPP at once, even while another
    suspension holds vfs_suspend_lock (nowait would otherwise be EWOULDBLOCK)."""
    async def body():
        mp = make_mount()
        assert await vfs_suspend(mp, 0) == 0
        nowait = await vfs_suspend(make_mount(trans=False), 1)
        wait = await vfs_suspend(make_mount(trans=False), 0)
        await vfs_resume(mp)
        return nowait, wait

    assert k.run(body) == (EOPNOTSUPP, EOPNOTSUPP)


def test_vfs_suspend_fault_site_and_unsupported(k):
    async def body():
        mp = make_mount()
        first = await vfs_suspend(mp, 0)
        state = fstrans_getstate(mp)
        # The lock was released: the next suspension works.
        second = await vfs_suspend(mp, 1)
        await vfs_resume(mp)
        nofs = await vfs_suspend(make_mount(suspendctl=False), 1)
        again = await vfs_suspend(mp, 1)
        await vfs_resume(mp)
        return first, state, second, nofs, again

    with k.faults.inject("vfs_suspend", error=ENOMEM, times=1) as f:
        first, state, second, nofs, again = k.run(body)
    assert (first, state, second, nofs, again) == (ENOMEM, FSTRANS_NORMAL, 0, EOPNOTSUPP, 0)
    assert f.nfaults == 1


def test_genfs_suspendctl_gone_mount(k):
    async def body():
        mp = make_mount()
        mp.mnt_iflag |= IMNT_GONE
        gone = await genfs_suspendctl(mp, 1)
        bad = await genfs_suspendctl(mp, 99)
        resume = await genfs_suspendctl(mp, 2)
        return gone, bad, resume

    assert k.run(body) == (ENOENT, EINVAL, 0)


# ------------------------------------------------------------------ fscow

def test_fscow_handlers_order_and_first_error_stops(k):
    async def body():
        mp = make_mount()
        calls = []
        answers = {"a": 0, "b": 0, "c": 0}

        async def handler(arg, bp, data_valid):
            calls.append((arg, data_valid))
            return answers[arg]

        for name in ("a", "b", "c"):
            assert await fscow_establish(mp, handler, name) == 0
        bp = wbuf(mp)
        assert await fscow_run(bp, False) == 0
        assert bp.b_flags & B_COWDONE
        first = list(calls)
        # Done already: no handler runs again.
        calls.clear()
        assert await fscow_run(bp, True) == 0
        assert calls == []
        # The first error stops the run and leaves B_COWDONE clear.
        answers["b"] = EIO
        bp2 = wbuf(mp)
        assert await fscow_run(bp2, True) == EIO
        assert not bp2.b_flags & B_COWDONE
        second = list(calls)
        for name in ("a", "b", "c"):
            assert await fscow_disestablish(mp, handler, name) == 0
        assert await fscow_disestablish(mp, handler, "a") == EINVAL
        fstrans_unmount(mp)
        return first, second

    before = k.run(_inuse)
    first, second = k.run(body)
    assert first == [("c", False), ("b", False), ("a", False)]
    assert second == [("c", True), ("b", True)]
    assert k.run(_inuse) == before


def test_fscow_run_without_handlers_or_vnode(k):
    async def body():
        bp = buf()
        assert await fscow_run(bp, False) == 0
        no_vp = bool(bp.b_flags & B_COWDONE)
        bp = wbuf(make_mount(trans=False))
        assert await fscow_run(bp, False) == 0
        no_trans = bool(bp.b_flags & B_COWDONE)
        vp = vnode()
        vp.v_type = VREG
        bp = buf()
        bp.b_vp = vp
        assert await fscow_run(bp, False) == 0
        no_mount = bool(bp.b_flags & B_COWDONE)
        return no_vp, no_trans, no_mount

    assert k.run(body) == (True, True, True)


def test_fscow_block_device_finds_mounted_fs(k, monkeypatch):
    async def body():
        mp = make_mount()
        devvp = vnode()
        devvp.v_type = VBLK
        seen = []

        async def handler(arg, bp, data_valid):
            seen.append(bp)
            return 0

        monkeypatch.setattr(vfs_trans, "_spec_node_getmountedfs",
                            lambda vp: mp if vp is devvp else None)
        assert await fscow_establish(mp, handler, None) == 0
        bp = buf()
        bp.b_vp = devvp
        assert await fscow_run(bp, False) == 0
        other = vnode()
        other.v_type = VBLK
        bp2 = buf()
        bp2.b_vp = other
        assert await fscow_run(bp2, False) == 0
        assert await fscow_disestablish(mp, handler, None) == 0
        return seen == [bp], bool(bp2.b_flags & B_COWDONE)

    assert k.run(body) == (True, True)


def test_fscow_recursion(k):
    async def body():
        mp1, mp2 = make_mount(), make_mount()
        depth = []

        async def h2(arg, bp, dv):
            depth.append(("h2", vfs_trans.fstrans_get_lwp_info(mp1, False).fli_cow_cnt))
            return 0

        async def h1(arg, bp, dv):
            fli = vfs_trans.fstrans_get_lwp_info(mp1, False)
            depth.append(("h1", fli.fli_cow_cnt))
            if fli.fli_cow_cnt == 1:
                # The copy itself is a write: to this file system and to another.
                assert await fscow_run(wbuf(mp1), True) == 0
                assert await fscow_run(wbuf(mp2), True) == 0
            return 0

        assert await fscow_establish(mp1, h1, None) == 0
        assert await fscow_establish(mp2, h2, None) == 0
        assert await fscow_run(wbuf(mp1), False) == 0
        after = vfs_trans.fstrans_get_lwp_info(mp1, False).fli_cow_cnt
        assert await fscow_disestablish(mp1, h1, None) == 0
        assert await fscow_disestablish(mp2, h2, None) == 0
        return depth, after

    depth, after = k.run(body)
    assert depth == [("h1", 1), ("h1", 2), ("h2", 1)]
    assert after == 0


def test_fscow_disestablish_waits_for_running_handler(k):
    async def body():
        mp = make_mount()
        log = []
        inside = Gate()
        release = Gate()

        async def handler(arg, bp, dv):
            if arg == "slow":
                log.append("handler in")
                inside.open()
                await release.wait()
                log.append("handler out")
            else:
                log.append("late handler")
            return 0

        async def writer(_):
            assert await fscow_run(wbuf(mp), False) == 0

        async def late_writer(_):
            assert await fscow_run(wbuf(mp), False) == 0
            log.append("late write done")

        async def remover(_):
            assert await fscow_disestablish(mp, handler, "slow") == 0
            log.append("disestablished")

        assert await fscow_establish(mp, handler, "slow") == 0
        w = spawn(writer, "writer")
        await inside.wait()
        r = spawn(remover, "remover")
        await kpause("wait", False, 3, None)
        wmesg_remover = r.l_wmesg
        lw = spawn(late_writer, "late")
        await kpause("wait", False, 3, None)
        wmesg_late = lw.l_wmesg
        log.append("release")
        release.open()
        for l in (w, r, lw):
            await kthread_join(l)
        return log, wmesg_remover, wmesg_late, len(mp.mnt_transinfo.fmi_cow_handler)

    log, wmesg_remover, wmesg_late, left = k.run(body)
    assert wmesg_remover == "fstcnt"   # waits for the handler to finish
    assert wmesg_late == "fstchg"      # new runs wait while the list changes
    assert log == ["handler in", "release", "handler out", "disestablished",
                   "late write done"]
    assert left == 0


def test_fscow_establish_fault_site(k):
    async def body():
        mp = make_mount()

        async def h(arg, bp, dv):
            return 0

        first = await fscow_establish(mp, h, None)
        second = await fscow_establish(mp, h, None)
        n = len(mp.mnt_transinfo.fmi_cow_handler)
        assert await fscow_disestablish(mp, h, None) == 0
        return first, second, n

    with k.faults.inject("fscow_establish", error=ENOMEM, times=1):
        assert k.run(body) == (ENOMEM, 0, 1)


def test_same_seed_same_trace():
    def run(seed):
        with kern.boot(seed=seed) as m:
            m.run(_suspend_race)
            return m.trace.digest()

    assert run(3) == run(3)


async def _suspend_race():
    mp = make_mount()

    async def writer(i):
        for _ in range(3):
            await fstrans_start(mp)
            await kpause("w", False, 1, None)
            fstrans_done(mp)

    ls = [spawn(writer, f"w{i}", i) for i in range(3)]
    for _ in range(2):
        assert await vfs_suspend(mp, 0) == 0
        await kpause("s", False, 1, None)
        await vfs_resume(mp)
    for l in ls:
        await kthread_join(l)
