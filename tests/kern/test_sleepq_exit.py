"""Interruptible sleeps of an exiting process's lwps, and stop signals
(kern/kern_synch.py's sleepq_block, kern/kern_exit.py's exit_lwps,
kern/kern_sig.py's sigpost).

kern_sleepq.c 1.47.2.2's sleepq_block: an interruptible sleep of an lwp that
has LW_WEXIT (exit_lwps sets it on every other lwp of an exiting process),
LW_WCORE or LW_CANCELLED does not begin (EINTR at once), and one woken for
that reason answers EINTR.  kern_exit.c 1.245's exit1 waits in exit_lwps
for the other lwps to leave before it tears the process down.  kern_sig.c
1.320's sigpost wakes an interruptible sleeper with setrunnable (a wakeup
of 0); the check after the switch chooses the error, and a default-action
stop signal there gives none, so the sleep's caller goes on waiting.
"""

from __future__ import annotations

import pytest

import kern
from kern.cpu import curlwp, curmachine, curproc
from kern.errno import EBUSY, EINTR, ENODEV, ESRCH
from kern.kern_exit import WEXITSTATUS, WIFEXITED
from kern.kern_lwp import LSSLEEP, LSZOMB, LW_CANCELLED, LW_WEXIT, lwp
from kern.kern_sig import SIGCONT, SIGKILL, SIGSTOP, SIGTSTP, SIGTTIN
from kern.kern_synch import kpause
from kern.machine.testing import errno_of
from kern.syscall import (
    SYS_DYNAMIC_FIRST,
    SYS__lwp_self,
    SYS__lwp_wakeup,
    syscall,
    syscall_establish,
)
from tools.lib import libc

SYS_TWOSLEEPS = SYS_DYNAMIC_FIRST
SYS_SIGTHENHOLD = SYS_DYNAMIC_FIRST + 1


async def sys_twosleeps(l, uap, retval) -> int:
    """A call that sleeps uninterruptibly for a second, then interruptibly
    until a signal; it records the second sleep's answer."""
    await kpause("first", False, 100, None)
    error = await kpause("second", True, 0, None)
    l.l_proc.p_specific.setdefault("twosleeps", []).append(error)
    return error


async def sys_sigthenhold(l, uap, retval) -> int:
    """A call that sleeps interruptibly until a signal, records that sleep's
    answer, then sleeps uninterruptibly for a second."""
    error = await kpause("intr", True, 0, None)
    l.l_proc.p_specific.setdefault("sigthenhold", []).append(error)
    await kpause("hold", False, 100, None)
    return error


def run(body, seed: int = 1):
    with kern.boot(seed=seed) as k:
        assert syscall_establish(SYS_TWOSLEEPS, "twosleeps", sys_twosleeps, machine=k) == 0
        assert syscall_establish(SYS_SIGTHENHOLD, "sigthenhold", sys_sigthenhold,
                                 machine=k) == 0
        p = k.proc_create("parent", k.initproc)
        return k.run(body, proc=p)


async def fork_beside(other, last) -> tuple[int, lwp, float]:
    """Fork a child that starts a second lwp ("other", running ``other``),
    waits half a second, then runs ``last(that lwp)`` (an _exit or an execve:
    it does not return); reap it.  The wait status, that lwp, and the time
    from the fork to the reap."""
    m = curmachine()
    lwps = []

    async def child() -> int:
        b = lwp(curproc(), "other")
        lwps.append(b)
        m.spawn_lwp(b, other, ())
        await libc.nanosleep(0.5)
        await last(b)
        return 0

    t0 = m.now()
    pid = await libc.fork(child)
    _, status = await libc.waitpid(pid)
    return status, lwps[0], m.now() - t0


async def exit_beside_a_sleeper(sysno: int, code: int) -> tuple[dict, int]:
    """Fork a child whose second lwp ("other") makes system call ``sysno``
    while the child's first lwp waits half a second, then exits with
    ``code``; reap it.  The parent's view the moment waitpid returns: ``seen``
    holds the child's proc "p", its lwp "b", b's wait message at the exit
    "wmesg", the time from the fork to the reap "t", and "after" only if the
    call returned to "other" (it must not: the lwp leaves at its return);
    and the wait status."""
    seen = {}

    async def other():
        await syscall(sysno)
        seen["after"] = True                    # never: it leaves at the return

    async def last(b: lwp) -> None:
        seen["wmesg"] = b.l_wmesg
        await libc._exit(code)

    status, seen["b"], seen["t"] = await fork_beside(other, last)
    seen["p"] = seen["b"].l_proc
    return seen, status


def test_an_lwp_in_the_kernel_at_exit_does_not_go_to_sleep_in_the_dead_process():
    """exit1 while another lwp of the process sleeps uninterruptibly in a
    system call: when that sleep ends, the call's interruptible sleep answers
    EINTR at once (LW_WEXIT), the lwp leaves at its return, and exit1 waited
    for it (exit_lwps) before the process became a zombie.  kemu used to let
    it go to sleep for ever in a process that was already gone."""
    async def body():
        seen, status = await exit_beside_a_sleeper(SYS_TWOSLEEPS, 7)
        await libc.nanosleep(2)
        b = seen["b"]
        return seen, status, b.l_stat, b.l_flag, seen["p"].p_specific.get("twosleeps")

    seen, status, bstat, bflag, errors = run(body)
    assert seen["wmesg"] == "first"
    assert WIFEXITED(status) and WEXITSTATUS(status) == 7
    assert errors == [EINTR]
    assert bstat == LSZOMB and bflag & LW_WEXIT
    assert "after" not in seen
    # The zombie came only once "other" had left, after its first sleep's second.
    assert seen["t"] == pytest.approx(1.0, abs=0.02)


def test_an_lwp_asleep_interruptibly_at_exit_is_woken_with_eintr_and_waited_for():
    """exit1 while another lwp of the process sleeps interruptibly in a
    system call (for ever): exit_lwps wakes it, its sleep answers EINTR, the
    call then sleeps uninterruptibly for a second, and exit1 waits for it to
    leave: the process is a zombie only at t=1.5, by which time the EINTR is
    recorded and the lwp has ended.  Without exit_lwps the sleeper would
    sleep on and the zombie would come at t=0.5 with nothing recorded."""
    async def body():
        seen, status = await exit_beside_a_sleeper(SYS_SIGTHENHOLD, 3)
        # What the zombie's parent sees the moment waitpid returns.
        at_reap = (list(seen["p"].p_specific.get("sigthenhold", [])), seen["b"].l_stat)
        return seen, WEXITSTATUS(status), at_reap

    seen, code, (errors, bstat) = run(body)
    assert seen["wmesg"] == "intr" and code == 3
    assert errors == [EINTR]                # woken with EINTR...
    assert bstat == LSZOMB                  # ...and gone before the process was
    assert seen["t"] == pytest.approx(1.5, abs=0.02)
    assert "after" not in seen


def test_lwp_wakeup_cancels_the_sleep_and_the_next_one():
    """_lwp_wakeup(2) (sys_lwp.c 1.57): a target asleep interruptibly is woken
    and its sleep answers EINTR (LW_CANCELLED); as in NetBSD the flag stays
    until an interruptible sleep begins, so the target's next one also
    answers EINTR at once, and the one after sleeps.  A target awake gets
    ENODEV, one asleep uninterruptibly EBUSY (flagged all the same), an
    unknown one ESRCH."""
    async def body():
        m = curmachine()
        got = []

        async def other():
            got.append(await syscall(SYS__lwp_self))
            for t in (10, 1, 0.5):
                t0 = m.now()
                e = await errno_of(libc.nanosleep(t))
                got.append((e, round(m.now() - t0, 3)))
            got.append(bool(curlwp().l_flag & LW_CANCELLED))
            await kpause("unint", False, 300, None)              # until t=4.5
            got.append(await errno_of(libc.nanosleep(1)))

        b = lwp(curproc(), "other")
        m.spawn_lwp(b, other, ())
        await libc.nanosleep(1)
        r = [await errno_of(syscall(SYS__lwp_wakeup, b.l_lid))]   # in nanosleep(10)
        await libc.nanosleep(2)                                    # in kpause("unint")
        r.append(await errno_of(syscall(SYS__lwp_wakeup, b.l_lid)))
        r.append(await errno_of(syscall(SYS__lwp_wakeup, 99)))
        me = curlwp()
        r.append(await errno_of(syscall(SYS__lwp_wakeup, me.l_lid)))   # awake: ENODEV
        r.append(bool(me.l_flag & LW_CANCELLED))
        t0 = m.now()
        r.append((await errno_of(libc.nanosleep(1)), m.now() - t0))
        await libc.nanosleep(2)
        return b.l_lid, got, r

    lid, got, r = run(body)
    assert got[0] == lid
    assert got[1:4] == [(EINTR, 1.0), (EINTR, 0.0), (0, 0.5)]
    assert got[4] is False
    assert got[5] == EINTR                 # _lwp_wakeup during the kpause flagged it
    assert r == [0, EBUSY, ESRCH, ENODEV, True, (EINTR, 0.0)]


def _stopped_reader(sigs):
    """A child blocked in read(2) on an empty pipe is sent ``sigs`` (default
    actions), then data comes."""
    async def body():
        r, w = await libc.pipe()
        log = []

        async def child() -> int:
            try:
                log.append(await libc.read(r, 10))
            except kern.SyscallError as e:
                log.append(e.errno)
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(0.1)
        l = curmachine().procs[pid].p_lwps[0]
        states = [(l.l_stat, l.l_wmesg)]
        for sig in sigs:
            await libc.kill(pid, sig)
            await libc.nanosleep(0.1)
            states.append((l.l_stat, l.l_wmesg))
        await libc.write(w, b"late")
        _, status = await libc.waitpid(pid)
        return states, log, status

    return run(body)


@pytest.mark.parametrize("sig", [SIGSTOP, SIGTSTP, SIGTTIN])
def test_a_default_stop_signal_does_not_interrupt_a_read(sig):
    """A default stop signal leaves the reader asleep (kemu: no job control,
    so sigpost does not wake it; NetBSD's wakes, stops, and after the
    SIGCONT its cv_wait_sig answers 0 and pipe_read waits again): the read
    gets the data.  kemu used to fail the read with EINTR."""
    states, log, status = _stopped_reader([sig, SIGCONT])
    assert states == [(LSSLEEP, "pipe_rd")] * 3
    assert log == [b"late"]
    assert WIFEXITED(status) and WEXITSTATUS(status) == 0


def test_a_nanosleep_sent_sigstop_sleeps_its_whole_time():
    """A default SIGSTOP does not cut a nanosleep short: it sleeps its whole
    time and leaves nothing remaining (NetBSD's, woken with 0 after the
    SIGCONT, sleeps again for the time left: nanosleep1's 'again')."""
    async def body():
        m = curmachine()
        res = {}

        async def child() -> int:
            t0 = m.now()
            rem = libc.timespec(9, 9)
            res["e"] = await errno_of(libc.nanosleep(3, rem))
            res["t"] = m.now() - t0
            res["rem"] = (rem.tv_sec, rem.tv_nsec)
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(1)
        await libc.kill(pid, SIGSTOP)
        await libc.waitpid(pid)
        return res

    r = run(body)
    assert r["e"] == 0 and r["rem"] == (0, 0)
    assert r["t"] == pytest.approx(3, abs=0.02)


def test_a_default_stop_signal_pending_when_a_sleep_begins_does_not_cut_it_short():
    """A default SIGSTOP that comes while the lwp sleeps uninterruptibly stays
    pending; the interruptible sleep that follows in the same call begins all
    the same (kemu: sleepq_block's early check drops the stop, as its check
    after the switch does) and a SIGKILL ends it.  NetBSD's would stop
    there and return 0 after a SIGCONT; kemu's returned 0 at once, as if
    woken by its event."""
    from kern.kern_exit import WIFSIGNALED, WTERMSIG

    async def body():
        m = curmachine()
        seen = {}

        async def child() -> int:
            seen["p"] = curproc()
            await syscall(SYS_TWOSLEEPS)
            return 0

        t0 = m.now()
        pid = await libc.fork(child)
        await libc.nanosleep(0.5)                  # in the first (uninterruptible) sleep
        await libc.kill(pid, SIGSTOP)
        await libc.nanosleep(1.5)                  # the second sleep began at t=1
        await libc.kill(pid, SIGKILL)
        _, status = await libc.waitpid(pid)
        return status, m.now() - t0, seen["p"].p_specific.get("twosleeps")

    status, t, errors = run(body)
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGKILL
    assert errors == [EINTR]
    assert t == pytest.approx(2.0, abs=0.02)


async def exit_beside_an_outside_lwp(code: int, kpause_first: bool) -> tuple[dict, int]:
    """Fork a child whose second lwp ("other"), after an uninterruptible
    one-second kpause if ``kpause_first``, waits outside the machine
    ("hostwait") until released, then makes a system call (where it must
    leave); the child's first lwp waits half a second, then exits with
    ``code``.  Reap it, then release the outside wait and wait (in real time)
    for "other" to become a zombie.  ``seen`` holds "b", the time from the
    fork to the reap "t", b's (l_stat, l_wmesg, LW_WEXIT) at the reap
    "before", b's l_stat at the end "end", "back" once the outside wait
    ended, and "after" only if the call returned (it must not); and the
    wait status."""
    import trio

    m = curmachine()
    seen = {}
    release = trio.Event()

    async def other():
        if kpause_first:
            await kpause("unint", False, 100, None)      # exit1 waits for this
        async with m.external_wait("hostwait", pending=False):
            await release.wait()
        seen["back"] = True
        await libc.getpid()                 # leaves here: never returns
        seen["after"] = True

    async def last(b: lwp) -> None:
        await libc._exit(code)

    status, b, seen["t"] = await fork_beside(other, last)
    seen["b"] = b
    seen["before"] = (b.l_stat, b.l_wmesg, bool(b.l_flag & LW_WEXIT))
    release.set()
    for _ in range(1000):       # the wait's end reaches the machine in real time
        if b.l_stat == LSZOMB:
            break
        async with m.external_wait("poll"):
            await trio.sleep(0.005)
    seen["end"] = b.l_stat
    return seen, status


def test_exit_does_not_wait_for_an_lwp_waiting_outside_the_machine():
    """An lwp in ``m.external_wait()`` is in user mode as far as the kernel
    knows (libpuffs's remote shovel listening on a host socket): exit_lwps
    flags it and does not wait, or a SIGKILL of such a process would hang.
    It leaves at its next kernel entry."""
    seen, status = run(lambda: exit_beside_an_outside_lwp(5, kpause_first=False))
    assert WEXITSTATUS(status) == 5
    assert seen["before"] == (LSSLEEP, "hostwait", True)
    assert seen["t"] == pytest.approx(0.5, abs=0.02)    # it did not wait for "other"
    assert seen["end"] == LSZOMB
    assert seen.get("back") and "after" not in seen


def test_exit_stops_waiting_for_an_lwp_that_goes_outside_the_machine_meanwhile():
    """exit_lwps waits (on p_lwpcv) for an lwp asleep uninterruptibly; when
    that lwp, woken, goes to wait outside the machine instead of entering the
    kernel, the exit stops waiting for it (Machine.external_wait wakes
    exit_lwps), as for one that was outside already.  kemu's exit used to
    wait until that outside wait ended, perhaps for ever."""
    seen, status = run(lambda: exit_beside_an_outside_lwp(4, kpause_first=True))
    assert WEXITSTATUS(status) == 4
    assert seen["t"] == pytest.approx(1.0, abs=0.02)    # it waited for the kpause, no longer
    assert seen["before"] == (LSSLEEP, "hostwait", True)
    assert seen["end"] == LSZOMB
    assert seen.get("back") and "after" not in seen


def test_exit_resumes_a_suspended_lwp_and_waits_for_it():
    """exit_lwps's setrunnable of an LSSUSPENDED lwp (kern_synch.c 1.308: it
    loses LW_WSUSPEND and runs): the lwp, suspended in lwp_userret (as the
    halt's suspendsched leaves them), goes round again and leaves, and
    exit1 goes on; it used to be left suspended in a zombie."""
    from kern.kern_lwp import LSSUSPENDED, LW_WSUSPEND

    async def body():
        m = curmachine()
        seen = {}

        async def child() -> int:
            async def other():
                while True:
                    await libc.nanosleep(0.1)

            b = lwp(curproc(), "other")
            seen["b"] = b
            m.spawn_lwp(b, other, ())
            await libc.nanosleep(0.25)
            b.l_flag |= LW_WSUSPEND          # suspends at its next return to user mode
            await libc.nanosleep(0.25)
            seen["before"] = b.l_stat
            await libc._exit(2)
            return 0

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        b = seen["b"]
        return WEXITSTATUS(status), seen["before"], b.l_stat, bool(b.l_flag & LW_WSUSPEND)

    assert run(body) == (2, LSSUSPENDED, LSZOMB, False)


async def _execve_beside(other, image) -> tuple[int, lwp]:
    """Fork a child that starts a second lwp ("other", running ``other``),
    sleeps 0.5 s and execs /bin/img, which runs ``image``; the child's exit
    status and that second lwp, once the child has been waited for
    (``fork_beside``)."""
    from kern.kern_exec import exec_add

    assert exec_add(lambda path: image if path == "/bin/img" else None) == 0

    async def last(b: lwp) -> None:
        await libc.execve("/bin/img", ["img"])

    status, b, _ = await fork_beside(other, last)
    return WEXITSTATUS(status), b


def test_execve_makes_the_other_lwps_leave_first():
    """kern_exec.c 1.418's execve_runproc: past the point of no return,
    exit_lwps makes the process's other lwps leave (LW_WEXIT: an
    interruptible sleep answers EINTR, and the lwp leaves at its return to
    user mode) before the new image runs.  kemu's exec left them running the
    old program in the new one."""
    ran = {}

    async def image(argv: list[str]) -> int:
        ran["lwps"] = [l.l_name for l in curproc().p_lwps]
        return 9

    async def other():
        ran["sleep"] = await errno_of(libc.nanosleep(100))
        ran["after"] = True                 # never: it leaves at the return

    async def body():
        code, b = await _execve_beside(other, image)
        return code, b.l_stat

    code, bstat = run(body)
    assert code == 9 and bstat == LSZOMB
    assert ran["lwps"] == ["img"]
    assert "sleep" not in ran and "after" not in ran


def test_an_lwp_told_to_exit_by_execve_leaves_at_its_next_call_even_exit():
    """exit_lwps of an execve flags an lwp that is out of the kernel (here
    back from a kernel sleep its user code called directly, so no
    lwp_userret ran) with LW_WEXIT; that lwp leaves at its next system call's
    entry, as it would have on its way back to user mode in NetBSD.  Its
    next call used to run: an _exit(2) then waited in exit_lwps for the
    execve, which waited for it (a deadlock)."""
    async def image(argv: list[str]) -> int:
        return 9

    seen = {}

    async def other():
        await kpause("unint", False, 100, None)   # execve waits for this
        seen["exit"] = True
        await libc._exit(3)                         # leaves at the entry
        seen["after"] = True

    async def body():
        m = curmachine()
        t0 = m.now()
        code, seen["b"] = await _execve_beside(other, image)
        return code, m.now() - t0, seen

    code, t, seen = run(body)
    assert code == 9                     # the new image's status, not _exit's 3
    assert t == pytest.approx(1.0, abs=0.02)
    assert seen["exit"] and "after" not in seen
    assert seen["b"].l_stat == LSZOMB


def test_sigkill_continues_only_an_lwp_suspended_for_a_core_dump():
    """kern_sig.c 1.320's sigpost continues an LSSUSPENDED lwp for a signal
    that kills only when it was suspended for a core dump (LW_WCORE;
    lwp_continue, kern_lwp.c 1.180, leaves the halt's LW_WREBOOT ones): a
    process whose only lwp is suspended in lwp_userret is not woken by a
    SIGCHLD, nor by a SIGKILL while it carries LW_WREBOOT, nor by one
    without LW_WCORE; with LW_WCORE (set here by hand: kemu dumps no core)
    a SIGKILL continues it and it dies of the signal.  kemu's sigpost had
    no suspended case, then (session 16) continued it for any SIGKILL, as
    the 2008 sigpost did."""
    from kern.kern_exit import WIFSIGNALED, WTERMSIG
    from kern.kern_lwp import LSSUSPENDED, LW_WCORE, LW_WREBOOT, LW_WSUSPEND
    from kern.kern_sig import SIGCHLD

    async def body():
        seen = {}

        async def child() -> int:
            me = curlwp()
            seen["l"] = me
            me.l_flag |= LW_WSUSPEND             # suspends on this call's way out
            await libc.getpid()
            seen["after"] = True
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(0.5)
        l = seen["l"]
        states = [(l.l_stat, bool(l.l_flag & LW_WSUSPEND))]

        async def send(sig):
            await libc.kill(pid, sig)
            await libc.nanosleep(0.5)
            states.append((l.l_stat, bool(l.l_flag & LW_WSUSPEND)))

        await send(SIGCHLD)
        l.l_flag |= LW_WREBOOT | LW_WCORE        # the halt's suspension
        await send(SIGKILL)
        l.l_flag &= ~(LW_WREBOOT | LW_WCORE)     # a plain suspension
        await send(SIGKILL)
        reaped = [await libc.waitpid(pid, libc.WNOHANG)]
        l.l_flag |= LW_WCORE                     # a core dump's suspension
        await libc.kill(pid, SIGKILL)
        await libc.nanosleep(0.5)
        reaped.append(await libc.waitpid(pid, libc.WNOHANG))
        return states, reaped, seen

    states, reaped, seen = run(body)
    assert states == [(LSSUSPENDED, True)] * 4
    assert reaped[0] == (0, 0)
    pid, status = reaped[1]
    assert pid != 0 and WIFSIGNALED(status) and WTERMSIG(status) == SIGKILL
    assert "after" not in seen
