"""Signals sent to a process waiting in a puffs call.

puffs_msgif's touser (1.27's) sleeps in cv_wait_sig for the server's reply
and takes a return of 0 as that reply.  A default-action stop signal must
therefore not end that sleep early: NetBSD's lwp would stop in issignal and
return 0 only after the SIGCONT; kemu has no job control, so sigpost leaves
it asleep (kern/kern_sig.py) and the call gets the server's answer.  Woken
with 0 at once, touser used to release a park still on the reply queue, and
puffs_userdead's KASSERT panicked the machine.
"""

from __future__ import annotations

import pytest

from kern.cpu import curmachine
from kern.fcntl import O_CREAT, O_RDWR
from kern.kern_exit import WEXITSTATUS, WIFEXITED
from kern.kern_sig import SIGSTOP, SIGTSTP
from tools.lib import libc
from tools.puffs_servers.memfs import MemFS

from . import h_puffs as h


class SlowLookupFS(MemFS):
    """memfs whose lookup of "slow" answers after a second."""

    async def node_lookup(self, dir, cn):
        if cn.name == b"slow":
            await libc.nanosleep(1)
        return await super().node_lookup(dir, cn)


@pytest.mark.parametrize("sig", [SIGSTOP, SIGTSTP])
def test_a_default_stop_signal_leaves_a_puffs_call_waiting_for_its_reply(sig):
    with h.Booted(seed=5) as k:
        h.start_server(k, SlowLookupFS())
        parent = k.proc_create("parent", k.initproc)

        async def body():
            fd = await libc.open("/mnt/slow", O_RDWR | O_CREAT, 0o644)
            await libc.write(fd, b"twelve bytes")
            await libc.close(fd)
            res = {}

            async def child() -> int:
                t0 = curmachine().now()
                res["stat"] = await h.stat_("/mnt/slow")
                res["t"] = curmachine().now() - t0
                return 0

            pid = await libc.fork(child)
            await libc.nanosleep(0.5)
            await libc.kill(pid, sig)
            _, status = await libc.waitpid(pid)
            return res, status

        res, status = k.run(body, proc=parent)
        error, sb = res["stat"]
        assert error == 0 and sb.st_size == 12      # the server's answer
        assert res["t"] == pytest.approx(1, abs=0.05)
        assert WIFEXITED(status) and WEXITSTATUS(status) == 0
        assert k.run(h.unmount, "/mnt") == 0
