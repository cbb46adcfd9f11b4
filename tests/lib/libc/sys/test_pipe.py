"""NetBSD's tests/lib/libc/sys/t_pipe.c (1.2), ported to kemu's pipe(2).

* pipe_restart (kern/14087): a write that is interrupted by a caught
  signal with SA_RESTART and restarted loses nothing.  The C test arms
  alarm(2) in the writer, whose SIGALRM handler sends SIGINFO to the reader
  waiting in sigsuspend(2); kemu has neither alarm nor sigsuspend, so the
  reader sleeps two seconds and sends the writer a caught SIGALRM itself.
  The writer's blocked write comes back with the bytes it had transferred
  (dofilewrite turns ERESTART after progress into a short write) and the
  loop writes the rest; the reader exits 0 only when it got every byte.
* pipe2_cloexec: pipe2(O_CLOEXEC) sets close-on-exec on both descriptors.
"""

from __future__ import annotations

import kern
from kern.fcntl import F_GETFD, FD_CLOEXEC, O_CLOEXEC
from kern.kern_exit import WEXITSTATUS, WIFEXITED
from kern.kern_sig import SIGALRM
from kern.sys_sig import SA_RESTART
from tools.lib import libc


def sighand(sig: int) -> None:
    """t_pipe.c's sighand: an empty handler (its only job is to be caught)."""


def test_pipe_restart():
    todo = 2 * 1024 * 1024

    async def body():
        await libc.signal(SIGALRM, sighand, SA_RESTART)
        pp = await libc.pipe()
        parent = await libc.getpid()

        async def child() -> int:
            await libc.close(pp[1])
            # The first read makes the writer's first write a partial one.
            done = len(await libc.read(pp[0], 128 * 1024))
            await libc.nanosleep(2)
            await libc.kill(parent, SIGALRM)     # the writer sleeps in write(2)
            while True:
                sz = len(await libc.read(pp[0], 1024 * 1024))
                if sz == 0:
                    break
                done += sz
            return 0 if done == todo else 1

        pid = await libc.fork(child)
        await libc.close(pp[0])
        f = bytes(todo)
        left = todo
        writes = []
        while left > 0:
            sz = await libc.write(pp[1], f[todo - left:])
            if sz <= 0:
                break
            writes.append(sz)
            left -= sz
        await libc.close(pp[1])
        _, st = await libc.waitpid(pid)
        return writes, st

    with kern.boot(seed=1) as k:
        p = k.proc_create("t_pipe", k.initproc)
        writes, st = k.run(body, proc=p)
    assert WIFEXITED(st) and WEXITSTATUS(st) == 0
    assert sum(writes) == todo
    assert len(writes) >= 2, "the interrupted write came back short and was completed"


def test_pipe2_cloexec():
    async def body():
        fildes = await libc.pipe2(O_CLOEXEC)
        flags = [await libc.fcntl(fd, F_GETFD) for fd in fildes]
        for fd in fildes:
            await libc.close(fd)
        return flags

    with kern.boot(seed=1) as k:
        p = k.proc_create("t_pipe", k.initproc)
        assert all(f & FD_CLOEXEC for f in k.run(body, proc=p))
