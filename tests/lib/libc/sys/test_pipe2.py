"""NetBSD's tests/lib/libc/sys/t_pipe2.c, ported to kemu's pipe2(2).

The stored revision (1.1) has two slips its successors fixed: ``run(flags)``
called ``pipe2(fd, 0)`` and checked O_NONBLOCK under ``flags & O_CLOEXEC``.
This port does what the test means (and later revisions do): pipe2 gets
``flags``, and each flag is checked on its own.
"""

from __future__ import annotations

import pytest

import kern
from kern.errno import EINVAL
from kern.fcntl import F_CLOSEM, F_GETFD, F_GETFL, FD_CLOEXEC, O_CLOEXEC, O_NONBLOCK, O_RDONLY
from kern.machine.testing import errno_of
from tools.lib import libc

O_ASYNC = 0x40


def run(flags: int):
    async def body():
        # The lowest free descriptors after 0-2 are 3 and 4.
        while True:
            i = await libc.open("/", O_RDONLY)
            if i >= 3:
                break
        await libc.fcntl(3, F_CLOSEM)
        fd = await libc.pipe2(flags)
        got = {"fds": fd,
               "cloexec": [bool(await libc.fcntl(f, F_GETFD) & FD_CLOEXEC) for f in fd],
               "nonblock": [bool(await libc.fcntl(f, F_GETFL) & O_NONBLOCK) for f in fd]}
        for f in fd:
            await libc.close(f)
        return got

    with kern.boot(seed=1) as k:
        p = k.proc_create("t_pipe2", k.initproc)
        return k.run(body, proc=p)


@pytest.mark.parametrize("flags", [0, O_NONBLOCK, O_CLOEXEC], ids=["basic", "nonblock",
                                                                  "cloexec"])
def test_pipe2(flags):
    got = run(flags)
    assert got["fds"] == (3, 4)
    assert got["cloexec"] == [bool(flags & O_CLOEXEC)] * 2
    assert got["nonblock"] == [bool(flags & O_NONBLOCK)] * 2


def test_pipe2_einval():
    async def body():
        return await errno_of(libc.pipe2(O_ASYNC))

    with kern.boot(seed=1) as k:
        p = k.proc_create("t_pipe2", k.initproc)
        assert k.run(body, proc=p) == EINVAL
