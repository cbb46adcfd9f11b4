"""suspendsched (kern/kern_synch.py) and lwp_userret's LW_WSUSPEND (kern/sig_machdep.py):
how the halt stops the user processes.

NetBSD's semantics, pinned: every lwp of every process but the PK_SYSTEM ones
(and, kemu's, PK_HOSTCHILD ones) is flagged LW_WREBOOT | LW_WSUSPEND and its
process made SSTOP; an lwp asleep interruptibly is woken (its sleep returns 0);
each flagged lwp suspends itself (LSSUSPENDED) on its next return to user mode,
so one that computes stops at the end of its next system call, and code after
that call never runs; one asleep uninterruptibly sleeps on.
"""

from __future__ import annotations

import pytest

import kern
from kern.cpu import curmachine, curproc
from kern.kern_lwp import (
    LSSLEEP,
    LSSUSPENDED,
    LW_WREBOOT,
    LW_WSUSPEND,
    PK_HOSTCHILD,
    SACTIVE,
    SSTOP,
    SZOMB,
    kthread_create,
)
from kern.kern_synch import PCATCH, suspendsched, tsleep
from kern.machine import testing as kt
from tests.kern.test_halt import assert_written, mount_and_write
from tools.lib import libc

FLAGS = LW_WREBOOT | LW_WSUSPEND


def user_lwps(k: kern.Machine, pid: int) -> list:
    return list(k.procs[pid].p_lwps)


@pytest.mark.kemu
async def test_suspendsched_stops_each_user_lwp_at_its_return_to_user_mode():
    seen: dict[str, object] = {"spins": 0, "host spins": 0}
    chan, deep_chan, sys_chan = object(), object(), object()

    async def computing() -> int:
        while True:
            await libc.getpid()              # each return to user mode may suspend it
            seen["spins"] = seen["spins"] + 1  # type: ignore[operator]

    async def sleeper() -> int:
        seen["tsleep"] = await tsleep(chan, PCATCH, "intr", 0)   # interruptible
        seen["sleeper pid"] = await libc.getpid()   # suspended on this call's way back
        seen["sleeper after"] = True
        return 0

    async def deep() -> int:
        await tsleep(deep_chan, 0, "deep", 0)       # not interruptible: not woken
        seen["deep woke"] = True
        return 0

    async def host_child() -> int:
        curmachine().hostchild_hold(curproc())      # as a remote puffs server's daemon
        while "stopped" not in seen:
            await libc.getpid()
        for _ in range(20):                         # system calls after the halt's stop
            await libc.getpid()
            seen["host spins"] = seen["host spins"] + 1  # type: ignore[operator]
        seen["host done"] = True
        return 0

    async def system_sleeper(arg: object) -> None:
        seen["system tsleep"] = await tsleep(sys_chan, PCATCH, "sysintr", 0)

    async def stopper(arg: object) -> None:
        suspendsched()
        seen["stopped"] = True

    async def parent() -> dict[str, int]:
        pids = {"zombie": await libc.fork(_zero)}
        for name, fn in (("computing", computing), ("sleeper", sleeper), ("deep", deep),
                         ("host", host_child)):
            pids[name] = await libc.fork(fn)
        kthread_create(0, 0, None, system_sleeper, None, "sysintr")
        while seen["spins"] < 50:       # the computing child runs, the others sleep
            await libc.getpid()
        kthread_create(0, 0, None, stopper, None, "stopper")
        return pids

    async with kern.boot(seed=5) as k:
        pp = k.proc_create("parent", k.initproc)     # (init would reap the zombie)
        pids = await k.run(parent, proc=pp)
        await k.run(libc.getpid)        # starts once the machine is idle again
        assert seen["stopped"] is True
        spins = seen["spins"]
        comp = user_lwps(k, pids["computing"])
        assert [l.l_stat for l in comp] == [LSSUSPENDED]
        assert comp[0].l_flag & FLAGS == FLAGS
        # the interruptible sleep was ended (0, as a wakeup), and the lwp stopped
        # on the way back from its next call, before the code after it
        assert seen["tsleep"] == 0 and "sleeper pid" not in seen
        assert [l.l_stat for l in user_lwps(k, pids["sleeper"])] == [LSSUSPENDED]
        # the uninterruptible sleep goes on, flagged
        (d,) = user_lwps(k, pids["deep"])
        assert d.l_stat == LSSLEEP and d.l_wmesg == "deep" and d.l_flag & FLAGS == FLAGS
        assert "deep woke" not in seen
        for name in ("computing", "sleeper", "deep"):
            assert k.procs[pids[name]].p_stat == SSTOP
        assert k.procs[pids["zombie"]].p_stat == SZOMB
        # PK_HOSTCHILD: left out, it ran to its end
        assert seen["host done"] is True and seen["host spins"] == 20
        # PK_SYSTEM: neither flagged nor woken
        (s,) = [l for l in k.lwps if l.l_name == "sysintr"]
        assert s.l_stat == LSSLEEP and not s.l_flag & FLAGS and "system tsleep" not in seen
        assert k.proc0.p_stat == SACTIVE
        # nothing runs any more: a later request does not move the stopped lwp
        await k.run(libc.getpid)
        assert seen["spins"] == spins


async def _zero() -> int:
    return 0


@pytest.mark.kemu
async def test_hostchild_hold_is_counted():
    async with kern.boot(seed=6) as k:
        p = k.proc_create("daemon", k.initproc)
        k.hostchild_hold(p)
        k.hostchild_hold(p)
        k.hostchild_rele(p)
        assert p.p_flag & PK_HOSTCHILD
        k.hostchild_rele(p)
        assert not p.p_flag & PK_HOSTCHILD


@pytest.mark.kemu
async def test_a_hostchild_rele_without_a_hold_panics():
    """An unmatched release is a kernel bug (a count below zero): a panic
    naming the process, which keeps no PK_HOSTCHILD it never had."""
    async def rele_twice() -> None:
        m, p = curmachine(), curproc()
        m.hostchild_hold(p)
        m.hostchild_rele(p)
        m.hostchild_rele(p)

    async with kern.boot(seed=6) as k:
        p = k.proc_create("daemon", k.initproc)
        with pytest.raises(kern.KernelPanic) as ei:
            await k.run(rele_twice, proc=p)
        assert f"hostchild_rele: pid {p.p_pid} (daemon) holds no host child" in str(ei.value)
        assert 'assertion "n > 0" failed' in str(ei.value)
        assert not p.p_flag & PK_HOSTCHILD


@pytest.fixture
def img(tmp_path) -> str:
    if kt.e2fsprogs_missing("mke2fs", "e2fsck", "debugfs", "dumpe2fs"):
        pytest.skip("e2fsprogs needed")
    return kt.make_ext2_image(tmp_path / "disk.img", 8 << 20, mkfs="mke2fs")


@pytest.mark.kemu
@pytest.mark.parametrize("sync", [True, False], ids=["sync", "nosync"])
async def test_the_halt_stops_a_process_that_computes_on(img, sync, monkeypatch):
    """A user process that computes (system calls, never a sleep) no longer keeps
    the halt from ending: cpu_reboot's suspendsched stops it at its next
    return to user mode, with or without RB_NOSYNC; the image was synced
    first.  The kernel's own threads are not suspended.  (On the async face
    the halt starts after HALT_START_PATIENCE of a busy kernel: shortened.)"""
    import kern.machine.machine as machine

    monkeypatch.setattr(machine, "HALT_START_PATIENCE", 0.1)
    state: dict[str, int] = {"spins": 0}

    async def computing() -> int:
        while True:
            await libc.getpid()
            state["spins"] += 1

    async def setup() -> int:
        if sync:
            await mount_and_write(img)
        return await libc.fork(computing)

    async with kern.boot(seed=7) as k:
        pid = await k.run(setup)
        await k.ahalt(sync=sync)
        (l,) = user_lwps(k, pid)
        assert l.l_stat == LSSUSPENDED and l.l_flag & FLAGS == FLAGS
        assert k.procs[pid].p_stat == SSTOP
        assert not any(x.l_flag & FLAGS for x in k.proc0.p_lwps)
    # (It ran before the halt; that it runs no more is the LSSUSPENDED above:
    # after the halt nothing runs, so a count compared then could not fail.)
    assert state["spins"] > 0
    if sync:
        assert_written(img)
