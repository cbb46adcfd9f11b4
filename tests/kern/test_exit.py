"""exit(2), wait4(2), execve(2) and signals' default actions (kern/kern_exit.py,
kern/kern_exec.py, kern/kern_sig.py)."""

from __future__ import annotations

import pytest

import kern
from kern.cpu import curlwp, curmachine, curproc
from kern.errno import ECHILD, EINTR, EINVAL, ENOENT
from kern.fcntl import F_GETFD, F_SETFD, FD_CLOEXEC, O_CREAT, O_RDWR
from kern.kern_exec import exec_add, exec_remove
from kern.kern_exit import WEXITSTATUS, WIFEXITED, WIFSIGNALED, WNOHANG, WTERMSIG
from kern.kern_lwp import SZOMB
from kern.kern_proc import KERN_PROC_ALL
from kern.kern_sig import SIGCHLD, SIGINT, SIGKILL, SIGTERM, SIGUSR1, SIGWINCH, sigact
from kern.machine.testing import errno_of
from kern.sys_sig import SA_NOCLDWAIT, SA_RESTART, SIG_DFL, SIG_IGN
from tools.lib import libc, libkvm


def HANDLER(sig: int) -> None:  # noqa: N802 - a handler that only catches
    pass


def run(body, seed: int = 1):
    with kern.boot(seed=seed) as k:
        p = k.proc_create("parent", k.initproc)
        return k.run(body, proc=p)


def test_wait_collects_the_exit_status_and_frees_the_zombie():
    async def body():
        async def child(code: int) -> int:
            return code

        pid = await libc.fork(child, 42)
        await libc.nanosleep(0.01)              # it has exited: a zombie until waited for
        zombie = curmachine().procs[pid].p_stat == SZOMB
        got = await libc.waitpid(pid)
        gone = pid not in curmachine().procs
        again = await errno_of(libc.waitpid(pid))
        return zombie, got, gone, again

    zombie, (pid, status), gone, again = run(body)
    assert zombie and gone
    assert WIFEXITED(status) and WEXITSTATUS(status) == 42 and not WIFSIGNALED(status)
    assert again == ECHILD


def test_wait_any_child_nohang_and_bad_options():
    async def body():
        async def sleeper() -> int:
            await libc.nanosleep(1)
            return 3

        async def quick() -> int:
            return 4

        a = await libc.fork(sleeper)
        b = await libc.fork(quick)
        first = await libc.waitpid(-1)                 # the one that exits first
        nohang = await libc.waitpid(-1, WNOHANG)        # the sleeper still runs
        second = await libc.waitpid(-1)
        none = await errno_of(libc.waitpid(-1))
        bad = await errno_of(libc.wait4(-1, 0x4000))
        return a, b, first, nohang, second, none, bad

    a, b, first, nohang, second, none, bad = run(body)
    assert first == (b, 4 << 8)
    assert nohang == (0, 0)
    assert second == (a, 3 << 8)
    assert (none, bad) == (ECHILD, EINVAL)


def test_wait4_options_and_pids_as_the_wait6_era_kernel():
    """wait4 adds WEXITED|WTRAPPED and goes through find_stopped_child: the
    job-control options are accepted (and find nothing: no child ever stops),
    WNOWAIT leaves the zombie, pid -N is the process group N (kemu: the
    process N, which leads its own), and pid 0 (WAIT_MYPGRP, the caller's
    group) and WALTSIG (children that exit with another signal than
    SIGCHLD) match no child here."""
    from kern.kern_exit import WALLSIG, WALTSIG, WCONTINUED, WNOWAIT, WUNTRACED

    async def body():
        async def sleeper() -> int:
            await libc.nanosleep(1)
            return 5

        async def quick() -> int:
            return 6

        a = await libc.fork(sleeper)
        b = await libc.fork(quick)
        await libc.nanosleep(0.01)                                  # b is a zombie
        out = {
            "mypgrp": await errno_of(libc.wait4(0, WNOHANG)),
            "altsig": await errno_of(libc.wait4(-1, WALTSIG | WNOHANG)),
            "nowait": await libc.wait4(b, WNOWAIT),
            "still": curmachine().procs[b].p_stat == SZOMB,
            "jobctl": await libc.wait4(-1, WNOHANG | WUNTRACED | WCONTINUED),
        }
        c = await libc.fork(quick)
        await libc.nanosleep(0.01)
        out["bygroup"] = await libc.wait4(-c, WALLSIG)
        out["other"] = await libc.wait4(-a, WNOHANG)
        out["last"] = await libc.waitpid(a)
        return a, b, c, out

    a, b, c, out = run(body)
    assert (out["mypgrp"], out["altsig"]) == (ECHILD, ECHILD)
    assert out["nowait"] == (b, 6 << 8) and out["still"]
    assert out["jobctl"] == (b, 6 << 8)  # the zombie (WEXITED is added)
    assert out["bygroup"] == (c, 6 << 8)
    assert out["other"] == (0, 0)  # a still runs
    assert out["last"] == (a, 5 << 8)


def test_exec_formats_added_to_a_machine_are_its_own():
    """exec_add gives one machine a format: another machine, even at the same
    time, does not run that program (ENOENT); exec_remove takes it away."""
    from kern.errno import EEXIST

    async def image(argv: list[str]) -> int:
        return 9

    def resolve(path: str):
        return image if path == "/bin/mine" else None

    async def run_mine() -> int:
        async def child() -> int:
            await libc.execve("/bin/mine", ["mine"])
            return 0

        pid = await libc.fork(child)
        return WEXITSTATUS((await libc.waitpid(pid))[1])

    async def exec_errno() -> int:
        async def child() -> int:
            return await errno_of(libc.execve("/bin/mine", ["mine"]))

        pid = await libc.fork(child)
        return WEXITSTATUS((await libc.waitpid(pid))[1])

    with kern.boot(seed=1) as a, kern.boot(seed=2) as b:
        pa, pb = a.proc_create("a", a.initproc), b.proc_create("b", b.initproc)
        assert a.run(lambda: _ret(exec_add(resolve))) == 0
        assert a.run(lambda: _ret(exec_add(resolve))) == EEXIST
        assert a.run(run_mine, proc=pa) == 9
        assert b.run(exec_errno, proc=pb) == ENOENT
        assert a.run(lambda: _ret(exec_remove(resolve))) == 0
        assert a.run(exec_errno, proc=pa) == ENOENT
        assert a.run(lambda: _ret(exec_remove(resolve))) == ENOENT


async def _ret(value):
    return value


def test_execve_arguments_share_one_arg_max_area():
    """The argument strings together may take ARG_MAX bytes (NUL included);
    one byte more is E2BIG, and the process is left as it was."""
    from kern.errno import E2BIG
    from kern.kern_exec import ARG_MAX

    got = {}

    async def image(argv: list[str]) -> int:
        got["lens"] = [len(x) for x in argv]
        return 0

    def resolve(path: str):
        return image if path == "/bin/big" else None

    async def body():
        exec_add(resolve)
        half = "x" * (ARG_MAX // 2 - 1)  # two of them and their NULs: ARG_MAX bytes

        async def fits() -> int:
            await libc.execve("/bin/big", [half, half])
            return 1

        async def too_big() -> int:
            return await errno_of(libc.execve("/bin/big", [half, half + "y"]))

        pid = await libc.fork(fits)
        ok = (await libc.waitpid(pid))[1]
        pid = await libc.fork(too_big)
        big = WEXITSTATUS((await libc.waitpid(pid))[1])
        return ok, big

    ok, big = run(body)
    assert ok == 0 and got["lens"] == [ARG_MAX // 2 - 1] * 2
    assert big == E2BIG


def test_default_action_of_sigint_kills_and_wait_says_so():
    """A child asleep in nanosleep(2) gets SIGINT: the sleep is interrupted and the
    child dies of the signal on its way back to userland (it never sees EINTR)."""
    async def body():
        seen = {}

        async def child() -> int:
            try:
                await libc.nanosleep(100)
            except kern.SyscallError as e:      # not reached: the process is gone
                seen["errno"] = e.errno
            seen["after"] = True
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(0.01)
        await libc.kill(pid, SIGINT)
        _, status = await libc.waitpid(pid)
        return status, seen

    status, seen = run(body)
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGINT and not WIFEXITED(status)
    assert seen == {}


def test_ignored_caught_and_default_ignored_signals_do_not_kill():
    async def body():
        async def child() -> int:
            await libc.signal(SIGINT, SIG_IGN)
            await libc.signal(SIGTERM, HANDLER, SA_RESTART)
            # The three signals come meanwhile: the caught one interrupts the sleep.
            return 9 if await errno_of(libc.nanosleep(0.05)) == EINTR else 8

        pid = await libc.fork(child)
        await libc.nanosleep(0.01)
        for sig in (SIGINT, SIGTERM, SIGWINCH):
            await libc.kill(pid, sig)
        return await libc.waitpid(pid)

    _, status = run(body)
    assert WIFEXITED(status) and WEXITSTATUS(status) == 9


def test_sigkill_cannot_be_ignored_and_init_takes_no_default_action():
    async def body():
        async def child() -> int:
            await libc.nanosleep(100)
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(0.01)
        await libc.kill(pid, SIGKILL)
        _, status = await libc.waitpid(pid)
        await libc.kill(1, SIGTERM)                  # init: dropped
        return WTERMSIG(status), 1 in curmachine().procs

    assert run(body) == (SIGKILL, True)


def test_exit_syscall_ends_the_process_and_nothing_after_it_runs():
    async def body():
        ran = []

        async def child() -> int:
            try:
                await libc._exit(5)
            finally:
                ran.append(await errno_of(libc.getpid()))   # unwinds: never completes
            return 0

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        return WEXITSTATUS(status), ran

    assert run(body) == (5, [])


@pytest.mark.parametrize("how", ["ignore", "nocldwait"])
def test_no_zombies_when_sigchld_is_ignored(how):
    async def body():
        if how == "ignore":
            await libc.signal(SIGCHLD, SIG_IGN)
        else:
            await libc.sigaction(SIGCHLD, libc.struct_sigaction(sa_handler=SIG_DFL,
                                                                sa_flags=SA_NOCLDWAIT))

        async def child() -> int:
            return 0

        pid = await libc.fork(child)
        await libc.nanosleep(0.01)
        return pid in curmachine().procs, await errno_of(libc.waitpid(pid))

    assert run(body) == (False, ECHILD)


async def _no_zombies(how: str) -> None:
    """Ask for no zombies: SIGCHLD ignored, or SA_NOCLDWAIT with SIGCHLD's default."""
    if how == "ignore":
        await libc.signal(SIGCHLD, SIG_IGN)
    else:
        await libc.sigaction(SIGCHLD, libc.struct_sigaction(sa_handler=SIG_DFL,
                                                            sa_flags=SA_NOCLDWAIT))


async def _ps_stat(pid: int) -> int | None:
    """The state ps(1) sees for ``pid`` (kern.proc2), None when it lists none."""
    for ki in await libkvm.kvm_getproc2(KERN_PROC_ALL, 0):
        if ki.p_pid == pid:
            return ki.p_stat
    return None


@pytest.mark.parametrize("how", ["ignore", "nocldwait"])
@pytest.mark.parametrize("which", ["pid", "any"])
def test_a_parent_asleep_in_wait4_is_woken_with_echild_when_its_last_child_exits(how, which):
    """The child exits while the parent sleeps in wait4: exit1 gives it to init
    and, the parent being left with no child, broadcasts its p_waitcv; wait4
    looks again and fails with ECHILD (it used to sleep for ever: a deadlock)."""
    async def body():
        await _no_zombies(how)
        seen = {}

        async def child() -> int:
            seen["ppid"] = await libc.getppid()
            await libc.nanosleep(0.05)       # the parent is asleep in wait4 by then
            return 7

        pid = await libc.fork(child)
        error = await errno_of(libc.waitpid(pid if which == "pid" else -1))
        return (seen["ppid"] == (await libc.getpid()), error, pid in curmachine().procs,
                await _ps_stat(pid))

    assert run(body) == (True, ECHILD, False, None)


def test_the_wakeup_comes_when_the_last_of_several_children_goes_to_init():
    async def body():
        await _no_zombies("ignore")

        async def child(t: float) -> int:
            await libc.nanosleep(t)
            return 0

        a = await libc.fork(child, 0.02)
        b = await libc.fork(child, 0.08)
        error = await errno_of(libc.waitpid(-1))
        return error, a in curmachine().procs, b in curmachine().procs

    assert run(body) == (ECHILD, False, False)


def test_a_forked_child_inherits_no_zombies_for_its_own_children():
    """fork passes PK_CLDSIGIGN/PK_NOCLDWAIT on with the signal actions: the
    child, ignoring SIGCHLD too, gets ECHILD for its own child."""
    async def body():
        await _no_zombies("nocldwait")
        got = {}

        async def grandchild() -> int:
            return 3

        async def child() -> int:
            g = await libc.fork(grandchild)
            got["error"] = await errno_of(libc.waitpid(g))
            return 0

        await libc.fork(child)
        await libc.nanosleep(0.05)
        return got["error"]

    assert run(body) == ECHILD


def test_sig_dfl_again_brings_the_zombies_back():
    async def body():
        await libc.signal(SIGCHLD, SIG_IGN)
        await libc.signal(SIGCHLD, SIG_DFL)

        async def child() -> int:
            return 9

        pid = await libc.fork(child)
        await libc.nanosleep(0.02)
        stats = curmachine().procs[pid].p_stat, await _ps_stat(pid)
        _, status = await libc.waitpid(pid)
        return stats, WEXITSTATUS(status), pid in curmachine().procs

    assert run(body) == ((SZOMB, SZOMB), 9, False)


def test_orphans_go_to_init_and_are_reaped_there():
    async def body():
        pids = {}

        async def grandchild() -> int:
            pids["ppid_before"] = await libc.getppid()
            await libc.nanosleep(0.1)
            pids["ppid_after"] = await libc.getppid()
            return 0

        async def child() -> int:
            pids["grandchild"] = await libc.fork(grandchild)
            await libc.nanosleep(0.05)
            return 0                     # exits first: its child is an orphan

        pid = await libc.fork(child)
        await libc.waitpid(pid)
        await libc.nanosleep(0.2)
        return pid, pids, pids["grandchild"] in curmachine().procs

    pid, pids, still_there = run(body)
    assert pids["ppid_before"] == pid and pids["ppid_after"] == 1
    assert not still_there


def test_execve_runs_the_image_and_resets_the_process():
    ran = {}

    async def image(argv: list[str]) -> int:
        p = curproc()
        ran["argv"] = argv
        ran["comm"] = p.p_comm
        ran["fds"] = p.p_fd.open_fds()
        ran["sigusr1"] = sigact(p, SIGUSR1)[0]
        ran["sigint"] = sigact(p, SIGINT)[0]
        ran["forkentry"] = curlwp().l_md_execentry
        ran["keepflags"] = await libc.fcntl(ran["keep"], F_GETFD)
        return 17

    def resolve(path: str):
        return image if path.rsplit("/", 1)[-1] == "prog" else None

    async def body():
        assert exec_add(resolve) == 0
        keep = await libc.open("/keep", O_CREAT | O_RDWR, 0o644)
        drop = await libc.open("/drop", O_CREAT | O_RDWR, 0o644)
        await libc.fcntl(drop, F_SETFD, FD_CLOEXEC)
        ran["keep"] = keep
        ran["before"] = (await libc.fcntl(keep, F_GETFD), await libc.fcntl(drop, F_GETFD))
        await libc.signal(SIGUSR1, HANDLER)
        await libc.signal(SIGINT, SIG_IGN)

        async def child() -> int:
            err = await errno_of(libc.execve("/bin/nosuch", ["nosuch"]))
            ran["enoent"] = err
            await libc.execve("/bin/prog", ["prog", "-x", "arg two"])
            ran["returned"] = True   # not reached
            return 0

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        return keep, drop, status

    keep, drop, status = run(body)
    assert WEXITSTATUS(status) == 17
    assert ran["enoent"] == ENOENT and "returned" not in ran
    assert ran["argv"] == ["prog", "-x", "arg two"]
    assert ran["comm"] == "prog"
    assert keep in ran["fds"] and drop not in ran["fds"]
    assert (ran["sigusr1"], ran["sigint"]) == (SIG_DFL, SIG_IGN)   # execsigs
    assert ran["forkentry"] is None
    # close-on-exec as F_GETFD reads it: set on drop only, and keep still
    # without it in the new image
    assert ran["before"] == (0, FD_CLOEXEC) and ran["keepflags"] == 0


def test_execve_past_the_point_of_no_return_exits_with_sigabrt(monkeypatch):
    """copyargs failing after the old image is gone: exec_abort's exit1 with
    W_EXITCODE(error, SIGABRT); the image never runs."""
    import kern.kern_exec
    from kern.errno import EFAULT
    from kern.kern_exit import W_EXITCODE
    from kern.kern_sig import SIGABRT

    ran = []

    async def image(argv: list[str]) -> int:
        ran.append(argv)
        return 0

    monkeypatch.setattr(kern.kern_exec, "copyargs", lambda l, argv: EFAULT)

    async def body():
        assert exec_add(lambda path: image) == 0

        async def child() -> int:
            await libc.execve("/bin/prog", ["prog"])
            ran.append("returned")
            return 0

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        return status

    status = run(body)
    assert status == W_EXITCODE(EFAULT, SIGABRT)
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGABRT
    assert ran == []
