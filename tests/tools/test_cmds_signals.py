"""Commands whose NetBSD source installs signal handlers: dd prints its summary
on SIGINFO and goes on, and on SIGINT prints it and dies of the signal
(bin/dd/dd.c, misc.c: summaryx, terminate)."""

from __future__ import annotations

import kern
from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from kern.kern_exit import WIFSIGNALED, WTERMSIG
from kern.kern_sig import SIGINFO, SIGINT, SIGPIPE
from tools import cmds  # noqa: F401 - registers the commands' exec format
from tools.lib import libc


def run_dd_on_a_pipe(signals: list[int]):
    """dd reading a pipe: 4 bytes come, then each signal in turn while dd waits in
    read(2), then 2 more bytes and the end of input.  dd's standard error goes
    to /tmp/err.  Returns (status, stderr, the output file)."""
    with kern.boot(seed=1) as k:
        p = k.proc_create("parent", k.initproc)

        async def body():
            await libc.signal(SIGPIPE, libc.SIG_IGN)   # the writes after dd died
            r, w = await libc.pipe()

            async def child() -> int:
                if r != 0:
                    await libc.dup2(r, 0)
                    await libc.close(r)
                await libc.close(w)
                err = await libc.open("/tmp/err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                await libc.dup2(err, 2)
                await libc.close(err)
                await libc.execve("/bin/dd", ["dd", "of=/tmp/out", "bs=1"])
                return 127

            pid = await libc.fork(child)
            await libc.close(r)
            await libc.write(w, b"abcd")
            for sig in signals:
                await libc.nanosleep(1)              # dd is asleep in read(2)
                await libc.kill(pid, sig)
            await libc.nanosleep(1)
            try:
                await libc.write(w, b"ef")
            except kern.SyscallError:
                pass                                 # EPIPE: dd is gone
            await libc.close(w)
            _, status = await libc.waitpid(pid)

            async def slurp(path: str) -> bytes:
                fd = await libc.open(path, O_RDONLY)
                data = await libc.read(fd, 4096)
                await libc.close(fd)
                return data

            return status, (await slurp("/tmp/err")).decode(), await slurp("/tmp/out")

        return k.run(body, proc=p)


SUMMARY4 = "4+0 records in\n4+0 records out\n4 bytes transferred in "


def test_dd_prints_its_summary_on_siginfo_and_goes_on():
    status, err, out = run_dd_on_a_pipe([SIGINFO])
    assert status == 0
    assert out == b"abcdef"                 # the read SIGINFO interrupted was restarted
    first, second = err.split("bytes/sec)\n")[:2]
    assert first.startswith(SUMMARY4)
    assert second.startswith("6+0 records in\n6+0 records out\n6 bytes transferred in ")


def test_dd_prints_its_summary_on_sigint_then_dies_of_it():
    status, err, out = run_dd_on_a_pipe([SIGINT])
    assert WIFSIGNALED(status) and WTERMSIG(status) == SIGINT
    assert out == b"abcd"
    assert err.startswith(SUMMARY4) and err.count("records in") == 1
