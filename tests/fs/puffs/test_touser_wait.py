"""touser's wait for the server's reply (fs/puffs/puffs_msgif.py, 1.27's touser).

touser sleeps in cv_wait_sig on its park and takes a return of 0 as "the
reply is in": it reads preq_rv from the request buffer and drops its park
reference, the only one 1.27 keeps, whether or not the park is still on a
queue.  NetBSD's cv_wait_sig returns 0 for more than putop's or
puffs_userdead's cv_signal: any setrunnable of an interruptible sleeper whose
check after the switch then finds no signal to act on (a signal another lwp
of the process took first; NetBSD's stop and continue; its reboot's
suspendsched).  So a call can fail with an errno the server never sent, its
park freed on the reply queue.  That is 1.27's and is kept; kemu must only
not make such wakeups where NetBSD makes none.
"""

from __future__ import annotations

from fs.puffs.puffs_msgif_h import PUFFS_VN_LOOKUP
from kern.kern_lwp import LSSLEEP, LW_WSUSPEND
from tools.lib import libc
from tools.puffs_servers.memfs import MemFS

from . import h_puffs as h


class SlowLookupFS(MemFS):
    """memfs whose lookup of "slow" answers after 100 seconds."""

    async def node_lookup(self, dir, cn):
        if cn.name == b"slow":
            await libc.nanosleep(100)
        return await super().node_lookup(dir, cn)


def test_a_halt_without_sync_leaves_a_caller_waiting_for_its_reply():
    """kemu's halt stops the user processes with RB_NOSYNC too (NetBSD's CPU just
    stops).  It must wake no sleeper then: a process waiting in a lookup stays
    asleep on its park, flagged to stop at its return to user mode.  Woken with
    0, touser took the request's own preq_rv for the reply, released the park
    on the reply queue, and the caller's next request reused it (one park on
    both queues, under another request)."""
    with h.Booted(seed=6) as k:
        h.start_server(k, SlowLookupFS())
        mp = h.mounted(k)
        got: dict = {}

        async def body():
            async def child() -> int:
                got["stat"] = await h.stat_("/mnt/slow")
                return 0

            pid = await libc.fork(child)
            await libc.nanosleep(0.5)
            return pid

        pid = k.run(body, proc=k.proc_create("parent", k.initproc))
        k.halt(sync=False)
        (l,) = k.procs[pid].p_lwps
        pmp = mp.mnt_data
        replywait = [(p.park_hdr.preq_optype, p.park_refcount) for p in pmp.pmp_req_replywait]
        touser = list(pmp.pmp_req_touser)
    assert "stat" not in got
    assert (l.l_stat, l.l_wmesg) == (LSSLEEP, "puffsrpl") and l.l_flag & LW_WSUSPEND
    assert replywait == [(PUFFS_VN_LOOKUP, 1)]
    assert touser == []
