"""pageflush (puffs_vfsops.c 1.38) with dirty vnodes, which kemu's puffs never has
by itself (no page cache, V1): the vnodes get a stand-in page object whose
``uo_ndirty`` the test sets, and the server's fsync records who it got.

1.38 walks the mount's vnode list and starts over (``goto loop``) when the
vnode it reached is no longer on this mount's list; each vnode is handed to
vget under its interlock (vget gives it up).  Here the first fsync takes the
next vnode off the list (as a reclaim does) and dirties the first one again:
the walk starts over, syncs the first one once more and then the third.
"""

from __future__ import annotations

from fs.puffs.puffs_sys import PNODE_SUSPEND
from kern.fcntl import O_CREAT, O_RDWR
from kern.kern_auth import FSCRED
from tools.lib import libc
from tools.puffs_servers.memfs import MemFS
from vfs.mount import MNT_WAIT, VFS_SYNC
from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
from vfs.vnode import insmntque, vrele

from . import h_puffs as h


class Pages:
    """A stand-in for a vnode's page object: only its dirty count matters."""

    def __init__(self) -> None:
        self.uo_ndirty = 1


class Recorder(MemFS):
    def __init__(self) -> None:
        super().__init__()
        self.fsyncs: list[int] = []
        self.on_fsync = None

    async def node_fsync(self, node, cred, flags, offlo, offhi, pid) -> None:
        self.fsyncs.append(node)
        if self.on_fsync is not None:
            self.on_fsync(node)


def test_pageflush_restarts_when_a_vnode_left_the_mount():
    with h.Booted(seed=31) as k:
        ops = Recorder()
        h.start_server(k, ops)

        async def body():
            fds, vps = [], {}
            for n in "abc":
                fds.append(await libc.open(f"/mnt/{n}", O_CREAT | O_RDWR, 0o644))
                _, vp = await namei_simple_kernel(f"/mnt/{n}", NSM_FOLLOW_NOEMULROOT)
                await vrele(vp)  # the open descriptor keeps it
                vp.v_uobj = Pages()
                vps[n] = vp
            mp = vps["a"].v_mount
            name_of = {vp.v_data.pn_cookie: n for n, vp in vps.items()}
            seen = []

            def on_fsync(cookie):
                n = name_of[cookie]
                vp = vps[n]
                seen.append((n, bool(vp.v_data.pn_stat & PNODE_SUSPEND)))
                vp.v_uobj.uo_ndirty = 0  # written out
                if len(seen) == 1:
                    vp.v_uobj.uo_ndirty = 1  # dirtied again meanwhile
                    insmntque(vps["b"], None)  # b leaves the list, as a reclaim does

            ops.on_fsync = on_fsync
            error = await VFS_SYNC(mp, MNT_WAIT, FSCRED)
            ops.on_fsync = None
            insmntque(vps["b"], mp)  # put it back for the close and the unmount
            for vp in vps.values():
                vp.v_uobj = None
            for fd in fds:
                await libc.close(fd)
            return error, seen

        error, seen = k.run(body)
        assert error == 0
        # a, then (after the restart) a again and c; b was off the list
        assert seen == [("a", False), ("a", False), ("c", False)]
        assert k.run(h.unmount, "/mnt") == 0


class _SearchCounter(list):
    """A mount's vnode list that counts the searches made in it."""

    searches = 0

    def index(self, *a):  # type: ignore[override]
        type(self).searches += 1
        return super().index(*a)


def test_pageflush_walk_is_linear_on_a_list_that_stands_still():
    """Each step's TAILQ_NEXT finds the vnode where the walk left it: no
    search of the list per vnode (list.index on each step made the walk
    quadratic in the number of vnodes)."""
    with h.Booted(seed=32) as k:
        ops = Recorder()
        h.start_server(k, ops)

        async def body():
            fds, vps = [], []
            for i in range(40):
                fds.append(await libc.open(f"/mnt/f{i}", O_CREAT | O_RDWR, 0o644))
                _, vp = await namei_simple_kernel(f"/mnt/f{i}", NSM_FOLLOW_NOEMULROOT)
                await vrele(vp)
                vp.v_uobj = Pages()
                vps.append(vp)
            mp = vps[0].v_mount
            original = mp.mnt_vnodelist
            mp.mnt_vnodelist = _SearchCounter(original)
            _SearchCounter.searches = 0

            def written(cookie):
                for vp in vps:
                    if vp.v_data.pn_cookie == cookie:
                        vp.v_uobj.uo_ndirty = 0

            ops.on_fsync = written
            try:
                error = await VFS_SYNC(mp, MNT_WAIT, FSCRED)
            finally:
                ops.on_fsync = None
                original[:] = mp.mnt_vnodelist
                mp.mnt_vnodelist = original
            for vp in vps:
                vp.v_uobj = None
            for fd in fds:
                await libc.close(fd)
            return error, len(ops.fsyncs), _SearchCounter.searches

        error, nsynced, searches = k.run(body)
        assert error == 0 and nsynced == 40
        assert searches == 0
        assert k.run(h.unmount, "/mnt") == 0
