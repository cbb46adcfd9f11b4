"""Signal handlers run (kern/kern_sig.py, kern/sys_sig.py, kern/sig_machdep.py):
delivery on the way back to user mode, the mask while a handler runs,
SA_RESTART, SA_RESETHAND, SA_NODEFER, SA_SIGINFO, sigprocmask, sigpending,
sigsuspend, and what an interrupted system call answers."""

from __future__ import annotations

import kern
from kern.cpu import curlwp, curproc
from kern.errno import EINTR, EINVAL
from kern.kern_exit import WEXITSTATUS, WIFEXITED, WIFSIGNALED, WTERMSIG
from kern.kern_sig import (
    SI_USER,
    SIGINT,
    SIGKILL,
    SIGSEGV,
    SIGTERM,
    SIGUSR1,
    SIGUSR2,
)
from kern.machine.testing import errno_of
from kern.sys_sig import (
    SA_NODEFER,
    SA_RESETHAND,
    SA_RESTART,
    SA_SIGINFO,
    SIG_BLOCK,
    SIG_DFL,
    SIG_SETMASK,
    SIG_UNBLOCK,
    siginfo_t,
)
from tools.lib import libc


def run(body, seed: int = 1):
    """``body`` in a user process of its own (not init, whose defaults are never taken)."""
    with kern.boot(seed=seed) as k:
        p = k.proc_create("parent", k.initproc)
        return k.run(body, proc=p)


async def mask() -> set[int]:
    return await libc.sigprocmask(SIG_BLOCK, None)


def test_a_handler_runs_in_the_lwp_with_the_signal_blocked():
    async def body():
        seen = []

        async def onusr1(sig: int) -> None:
            # In user mode: system calls work, the signal itself is blocked.
            seen.append((sig, await libc.getpid(), await mask(), curlwp().l_name))

        await libc.signal(SIGUSR1, onusr1)
        await libc.kill(await libc.getpid(), SIGUSR1)    # taken before kill returns
        return seen, await mask(), curproc().p_pid, curlwp().l_name

    seen, after, pid, name = run(body)
    assert seen == [(SIGUSR1, pid, {SIGUSR1}, name)]
    assert after == set()          # setcontext put the old mask back


def test_sa_mask_and_sa_nodefer():
    async def body():
        seen = {}

        def h(sig: int) -> None:
            seen[sig] = set(curlwp().l_sigmask)

        await libc.sigaction(SIGUSR1, libc.struct_sigaction(
            sa_handler=libc.funcaddr(h), sa_mask=libc.set_to_sigset({SIGTERM, SIGKILL})))
        await libc.sigaction(SIGUSR2, libc.struct_sigaction(
            sa_handler=libc.funcaddr(h), sa_flags=SA_NODEFER))
        await libc.raise_(SIGUSR1)
        await libc.raise_(SIGUSR2)
        old = libc.struct_sigaction()
        await libc.sigaction(SIGUSR1, None, old)
        return seen, libc.sigset_to_set(old.sa_mask)

    seen, recorded = run(body)
    # SIGKILL cannot be blocked: sigaction leaves it out of the mask.
    assert seen == {SIGUSR1: {SIGUSR1, SIGTERM}, SIGUSR2: set()}
    assert recorded == {SIGUSR1, SIGTERM}


def test_sa_resethand_catches_once_then_the_default_kills():
    async def body():
        caught = []

        async def child() -> int:
            await libc.signal(SIGTERM, caught.append, SA_RESETHAND)
            await libc.raise_(SIGTERM)       # caught, and the action goes back to SIG_DFL
            first = libc.funcat(await libc.signal(SIGTERM, SIG_DFL))
            await libc.raise_(SIGTERM)       # default: dies here
            return 0 if first is None else 1

        pid = await libc.fork(child)
        return caught, await libc.waitpid(pid)

    caught, (_, status) = run(body)
    assert caught == [SIGTERM]
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGTERM


def _pipe_reader(restart: bool):
    """A child blocked in read(2) on an empty pipe gets SIGUSR1, then data comes."""
    async def body():
        r, w = await libc.pipe()
        ready_r, ready_w = await libc.pipe()
        log = []

        async def child() -> int:
            def h(sig: int) -> None:
                log.append("handler")

            await libc.signal(SIGUSR1, h, SA_RESTART if restart else 0)
            await libc.write(ready_w, b"!")
            try:
                data = await libc.read(r, 10)        # blocks: the pipe is empty
                log.append(data)
            except kern.SyscallError as e:
                log.append(e.errno)
            return 0

        pid = await libc.fork(child)
        await libc.read(ready_r, 1)
        await libc.nanosleep(0.1)
        wmesg = kern.curmachine().procs[pid].p_lwps[0].l_wmesg
        await libc.kill(pid, SIGUSR1)
        await libc.nanosleep(0.1)
        await libc.write(w, b"late")
        _, status = await libc.waitpid(pid)
        return wmesg, log, status

    return run(body)


def test_sa_restart_restarts_a_read_blocked_on_a_pipe():
    wmesg, log, status = _pipe_reader(restart=True)
    assert wmesg == "pipe_rd"
    assert log == ["handler", b"late"]      # the handler ran, then read went on waiting
    assert WIFEXITED(status) and WEXITSTATUS(status) == 0


def test_without_sa_restart_the_read_fails_with_eintr_after_the_handler():
    wmesg, log, status = _pipe_reader(restart=False)
    assert wmesg == "pipe_rd"
    assert log == ["handler", EINTR]
    assert WIFEXITED(status) and WEXITSTATUS(status) == 0


def test_signal_to_a_process_sleeping_interruptibly():
    """A child asleep in nanosleep: the handler runs, nanosleep answers EINTR
    (never restarted) with the time left."""
    async def body():
        log = []

        async def child() -> int:
            await libc.signal(SIGUSR2, lambda sig: log.append(("handler", sig)))
            rem = libc.timespec()
            log.append(await errno_of(libc.nanosleep(100, rem)))
            log.append(rem.tv_sec)
            return 3

        pid = await libc.fork(child)
        await libc.nanosleep(1)
        await libc.kill(pid, SIGUSR2)
        return log, await libc.waitpid(pid)

    log, (_, status) = run(body)
    assert log[:2] == [("handler", SIGUSR2), EINTR]
    assert 98 <= log[2] <= 99
    assert WEXITSTATUS(status) == 3


def test_a_blocked_signal_stays_pending_until_unblocked():
    async def body():
        log = []
        await libc.signal(SIGUSR1, lambda sig: log.append("handler"))
        old = await libc.sigprocmask(SIG_BLOCK, {SIGUSR1})
        await libc.raise_(SIGUSR1)
        log.append(("pending", await libc.sigpending()))
        await libc.sigprocmask(SIG_UNBLOCK, {SIGUSR1})   # taken on the way out
        log.append(("after", await libc.sigpending()))
        return old, log

    old, log = run(body)
    assert old == set()
    assert log == [("pending", {SIGUSR1}), "handler", ("after", set())]


def test_sigsuspend_waits_runs_the_handler_and_restores_the_mask():
    async def body():
        log = []

        async def child() -> int:
            await libc.signal(SIGUSR1, lambda sig: log.append(("handler", set(
                curlwp().l_sigmask))))
            await libc.sigprocmask(SIG_SETMASK, {SIGUSR1, SIGUSR2})
            await libc.kill(await libc.getppid(), SIGUSR2)   # "ready" (parent ignores it)
            log.append(await errno_of(libc.sigsuspend({SIGUSR2})))
            log.append(await mask())
            return 0

        await libc.signal(SIGUSR2, libc.SIG_IGN)
        pid = await libc.fork(child)
        await libc.nanosleep(1)
        await libc.kill(pid, SIGUSR1)
        await libc.waitpid(pid)
        return log

    # In the handler: the sigsuspend mask plus the signal; after: the old mask.
    assert run(body) == [("handler", {SIGUSR1, SIGUSR2}), EINTR, {SIGUSR1, SIGUSR2}]


def test_sa_siginfo_handler_gets_siginfo_and_ucontext():
    async def body():
        got = []

        async def h(sig: int, sip: int, ucp: int) -> None:
            si = libc.uload(sip, siginfo_t)
            uc = libc.uload(ucp, libc.ucontext_t)
            got.append((sig, si.si_signo, si.si_code, si.si_pid,
                        libc.sigset_to_set(uc.uc_sigmask)))

        await libc.sigaction(SIGUSR1, libc.struct_sigaction(sa_handler=libc.funcaddr(h),
                                                            sa_flags=SA_SIGINFO))
        await libc.sigprocmask(SIG_BLOCK, {SIGINT})
        await libc.raise_(SIGUSR1)
        return got, await libc.getpid()

    got, pid = run(body)
    # The frame's ucontext holds the mask to restore: the one before the handler.
    assert got == [(SIGUSR1, SIGUSR1, SI_USER, pid, {SIGINT})]


def test_a_signal_during_a_handler_runs_its_own_handler_inside():
    async def body():
        log = []

        async def on1(sig: int) -> None:
            log.append("in usr1")
            await libc.raise_(SIGUSR2)          # not blocked: runs before raise returns
            log.append("out usr1")

        await libc.signal(SIGUSR1, on1)
        await libc.signal(SIGUSR2, lambda sig: log.append("usr2"))
        await libc.raise_(SIGUSR1)
        return log

    assert run(body) == ["in usr1", "usr2", "out usr1"]


def test_a_handler_that_raises_unwinds_into_the_program_with_the_mask_back():
    class Jump(Exception):
        pass

    async def body():
        def h(sig: int) -> None:
            raise Jump()

        await libc.signal(SIGUSR1, h)
        try:
            await libc.raise_(SIGUSR1)
            where = "returned"
        except Jump:
            where = "jumped"
        return where, await mask(), len(curlwp().l_md_sigframes)

    assert run(body) == ("jumped", set(), 0)


def test_a_handler_address_without_code_is_a_segmentation_fault():
    async def body():
        async def child() -> int:
            await libc.signal(SIGUSR1, 0x401000)      # no code there
            await libc.raise_(SIGUSR1)
            return 0

        pid = await libc.fork(child)
        return await libc.waitpid(pid)

    _, status = run(body)
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGSEGV


def test_sigaction_checks_the_trampoline_version_and_sigprocmask_how():
    async def body():
        act = libc.struct_sigaction(sa_handler=libc.funcaddr(lambda sig: None))
        r = []
        with libc.UserTemp() as t:
            a = t.copy(act)
            from kern.syscall import SYS___sigaction_sigtramp, syscall

            r.append(await errno_of(syscall(SYS___sigaction_sigtramp, SIGUSR1, a, 0, 0, 2)))
            r.append(await errno_of(syscall(SYS___sigaction_sigtramp, SIGUSR1, a, 0, 0x500000,
                                            1)))
            r.append(await errno_of(syscall(SYS___sigaction_sigtramp, SIGUSR1, a, 0, 0x500000,
                                            4)))
        # SIGKILL's action can't be changed (even to SIG_DFL), nor a flag outside SA_ALLBITS set.
        r.append(await errno_of(libc.sigaction(SIGKILL, libc.struct_sigaction(sa_handler=SIG_DFL))))
        r.append(await errno_of(libc.sigaction(SIGUSR1, libc.struct_sigaction(
            sa_handler=SIG_DFL, sa_flags=0x100))))
        r.append(await errno_of(libc.sigprocmask(7, {SIGUSR1})))
        await libc.sigprocmask(SIG_SETMASK, {SIGKILL, SIGUSR2})   # SIGKILL can't be blocked
        r.append(await mask())
        return r

    assert run(body) == [EINVAL] * 6 + [{SIGUSR2}]


def test_the_child_of_fork_inherits_the_mask_and_handlers():
    async def body():
        log = []
        rfd, wfd = await libc.pipe()

        async def child() -> int:
            log.append(await mask())
            await libc.read(rfd, 1)             # the parent has sent SIGUSR1 by now
            await libc.sigprocmask(SIG_UNBLOCK, {SIGUSR1})    # the pending one is taken
            return 0

        await libc.signal(SIGUSR1, lambda sig: log.append(("handler", curproc().p_pid)))
        await libc.sigprocmask(SIG_BLOCK, {SIGUSR1})
        pid = await libc.fork(child)
        await libc.kill(pid, SIGUSR1)
        await libc.write(wfd, b"x")
        await libc.waitpid(pid)
        return pid, log

    pid, log = run(body)
    assert log == [{SIGUSR1}, ("handler", pid)]


def test_kill_of_a_process_group_follows_killpg1():
    """kill(-pgid): a group the caller may not signal, or init's, is ESRCH (killpg1
    skips such members), where kill(pid) of the same process is EPERM; the
    caller's own child's group gets the signal."""
    from kern.errno import EPERM, ESRCH
    from kern.kern_auth import kauth_cred_make

    with kern.boot(seed=1) as k:
        root = k.proc_create("root", k.initproc)
        user = k.proc_create("user", k.initproc, cred=kauth_cred_make(100, 100))

        async def body():
            return [await errno_of(libc.kill(root.p_pid, SIGUSR1)),
                    await errno_of(libc.kill(-root.p_pid, SIGUSR1)),
                    await errno_of(libc.kill(-root.p_pid, 0)),
                    await errno_of(libc.kill(-1 - 100000, SIGUSR1))]

        assert k.run(body, proc=user) == [EPERM, ESRCH, ESRCH, ESRCH]

        async def parent():
            r, w = await libc.pipe()

            async def child() -> int:
                await libc.read(r, 1)       # sleeps until the group's SIGTERM kills it
                return 0

            pid = await libc.fork(child)
            sent = await errno_of(libc.kill(-pid, SIGTERM))
            _, status = await libc.waitpid(pid)
            return sent, status

        sent, status = k.run(parent, proc=root)
        assert sent == 0 and WIFSIGNALED(status) and WTERMSIG(status) == SIGTERM


def test_kill_of_pid_0_is_killpg1_of_the_callers_group():
    """kill(0, sig) is killpg1 of the caller's own process group (sys_sig.c kill1,
    kern_sig.c killpg1), whose loop skips system processes: init's kill(0, sig)
    is ESRCH and leaves nothing pending, where another process's reaches it."""
    from kern.errno import ESRCH

    async def caller():
        await libc.sigprocmask(SIG_BLOCK, {SIGUSR1})
        error = await errno_of(libc.kill(0, SIGUSR1))
        return error, SIGUSR1 in await libc.sigpending()

    with kern.boot(seed=1) as k:
        assert k.run(caller) == (ESRCH, False)            # init
        other = k.proc_create("other", k.initproc)
        assert k.run(caller, proc=other) == (0, True)     # its group is itself
