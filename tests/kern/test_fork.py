"""fork(2) and exit: what the child inherits, and what its exit closes."""

from __future__ import annotations

import pytest

import kern
from kern.cpu import curmachine, curproc
from kern.errno import EAGAIN, EBADF, EINVAL
from kern.exceptions import SyscallError
from kern.fcntl import F_GETFD, F_SETFD, FD_CLOEXEC, O_CREAT, O_RDWR
from kern.subr_copy import uread, uwrite
from kern.syscall import SYS_fork, syscall
from tools.lib import libc


def test_child_inherits_descriptors_memory_and_cwd() -> None:
    with kern.boot(seed=3) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> tuple[int, int, bytes, str, bool, int, list[int]]:
            await libc.mkdir("/d", 0o755)
            await libc.chdir("/d")
            fd = await libc.open("f", O_CREAT | O_RDWR, 0o644)
            await libc.fcntl(fd, F_SETFD, FD_CLOEXEC)
            buf = libc.ualloc(16)
            uwrite(curproc(), buf, b"parent memory!!\0")
            seen: dict[str, object] = {}

            async def child(tag: bytes) -> int:
                seen["pid"] = await libc.getpid()
                seen["ppid"] = await libc.getppid()
                seen["mem"] = uread(curproc(), buf, 15)
                uwrite(curproc(), buf, b"child's copy!!!")  # its own copy
                seen["cwd"] = await libc.getcwd()
                # the close-on-exec descriptor is inherited by a fork (no exec)
                seen["cloexec"] = bool(await libc.fcntl(fd, F_GETFD) & FD_CLOEXEC)
                await libc.pwrite(fd, tag, 0)
                return 7

            pid = await libc.fork(child, b"from the child")
            assert pid != await libc.getpid()
            assert await libc.waitpid(pid) == (pid, 7 << 8)   # exit(7)
            data = await libc.pread(fd, 64, 0)
            mine = uread(curproc(), buf, 15)
            return (seen["pid"], seen["ppid"], seen["mem"], seen["cwd"], seen["cloexec"],
                    pid, [data, mine])  # type: ignore[return-value]

        cpid, ppid, mem, cwd, cloexec, pid, (data, mine) = k.run(body, proc=p)
        assert cpid == pid and ppid == p.p_pid
        assert mem == b"parent memory!!"
        assert mine == b"parent memory!!", "the child wrote to its own copy"
        assert cwd == "/d"
        assert cloexec is True
        assert data == b"from the child"


def test_child_exit_closes_its_descriptors() -> None:
    with kern.boot(seed=4) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> tuple[int, int]:
            fd = await libc.open("/f", O_CREAT | O_RDWR, 0o644)
            fp = curproc().p_fd.fd_dt.dt_ff[fd].ff_file
            before = fp.f_count

            async def child() -> int:
                assert fp.f_count == before + 1
                return 0

            pid = await libc.fork(child)
            await libc.waitpid(pid)
            return before, fp.f_count

        before, after = k.run(body, proc=p)
        assert before == after


def test_child_exception_ends_only_the_child() -> None:
    with kern.boot(seed=5) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> int:
            async def child() -> int:
                raise RuntimeError("a bug in the child program")

            pid = await libc.fork(child)
            assert await libc.waitpid(pid) == (pid, 1 << 8)   # the child failed: exit(1)
            return await libc.getpid()

        assert k.run(body, proc=p) == p.p_pid
        assert k.state == "running"


def test_fork_without_child_entry_is_einval() -> None:
    with kern.boot(seed=6) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> int:
            try:
                await syscall(SYS_fork)
            except SyscallError as e:
                return e.errno
            return 0

        assert k.run(body, proc=p) == EINVAL


def test_closed_in_parent_stays_open_in_child() -> None:
    with kern.boot(seed=7) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> tuple[bytes, int]:
            fd = await libc.open("/g", O_CREAT | O_RDWR, 0o644)
            await libc.pwrite(fd, b"kept", 0)
            got: dict[str, object] = {}

            async def child() -> int:
                await libc.nanosleep(0.01)        # the parent closes meanwhile
                got["data"] = await libc.pread(fd, 4, 0)
                return 0

            pid = await libc.fork(child)
            await libc.close(fd)
            with pytest.raises(SyscallError) as ei:
                await libc.pread(fd, 4, 0)
            await libc.waitpid(pid)
            return got["data"], ei.value.errno  # type: ignore[return-value]

        data, errno = k.run(body, proc=p)
        assert data == b"kept"
        assert errno == EBADF


def test_full_process_table_is_eagain(monkeypatch: pytest.MonkeyPatch) -> None:
    from kern import kern_fork

    with kern.boot(seed=8) as k:
        p = k.proc_create("parent", k.initproc)
        monkeypatch.setattr(kern_fork, "maxproc", len(k.procs))

        async def child() -> int:
            return 0

        async def body() -> tuple[int, int]:
            with pytest.raises(SyscallError) as ei:
                await libc.fork(child)
            return ei.value.errno, len(curmachine().procs)

        nprocs = len(k.procs)
        assert k.run(body, proc=p) == (EAGAIN, nprocs)
        assert "proc: table is full - increase kern.maxproc or NPROC" in k.dmesg()


def test_signal_actions_through_fork_and_exec() -> None:
    """fork copies every action (handler, mask, flags); a process made as after
    exec keeps only the ignored signals, and every action it had loses its mask
    and gets SA_RESTART (execsigs)."""
    from kern.kern_sig import SIGUSR1, SIGUSR2, sigact
    from kern.sys_sig import SA_RESTART, SIG_DFL, SIG_IGN

    with kern.boot(seed=8) as k:
        p = k.proc_create("parent", k.initproc)

        async def body() -> tuple[object, object]:
            await libc.signal(SIGUSR1, SIG_IGN)
            await libc.sigaction(SIGUSR2, libc.struct_sigaction(sa_handler=0x401000,
                                                                sa_flags=SA_RESTART))
            seen: dict[str, object] = {}

            async def child() -> int:
                me = curproc()
                seen["fork"] = (sigact(me, SIGUSR1)[0], sigact(me, SIGUSR2)[0],
                                sigact(me, SIGUSR2)[2])
                return 0

            pid = await libc.fork(child)
            await libc.waitpid(pid)
            q = curmachine().proc_create("exec", curproc())
            seen["exec"] = (sigact(q, SIGUSR1)[0], sigact(q, SIGUSR2)[0], sigact(q, SIGUSR2)[2])
            curmachine().proc_destroy(q)
            return seen["fork"], seen["exec"]

        forked, execd = k.run(body, proc=p)
        assert forked == (SIG_IGN, 0x401000, SA_RESTART)
        assert execd == (SIG_IGN, SIG_DFL, SA_RESTART)
