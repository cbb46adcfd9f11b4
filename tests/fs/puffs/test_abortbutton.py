"""A node the kernel refuses is given back to the server (puffs_vnops.py's V7,
later NetBSD's puffs_abortbutton, in puffs_vnops.c 1.123).

1.59 kept quiet: when lookup's puffs_getvnode or a create-like operation's
puffs_newnode failed for the cookie the server answered with, the server was
never told, so the name it had just made, and the node, stayed in it until
unmount.  Now the server gets, for create/mknod/symlink a REMOVE (for mkdir
an RMDIR) of the name, then INACTIVE and RECLAIM of the cookie; the caller's
errno is the one NetBSD gives (EEXIST for a cookie the kernel already has,
EPROTO for a node it cannot take).
"""

from __future__ import annotations

import pytest

from kern.errno import EEXIST, EPROTO
from kern.exceptions import SyscallError
from tools.lib import libc
from vfs.stat import S_IFIFO

from . import h_puffs as h
from .test_bad_sizes import BadAnswers, _make, _make_f, _start


class Recorder(BadAnswers):
    """BadAnswers that writes down the requests that make it forget names
    and nodes, and can hand a cookie out again (``reuse``), as a server that
    frees a node when its last name goes, before the kernel reclaimed it,
    would."""

    reuse: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple] = []

    def _alloc(self, vtype, mode, uid, gid):
        if self.reuse is None:
            return super()._alloc(vtype, mode, uid, gid)
        saved, self.next_cookie, self.reuse = self.next_cookie, self.reuse, None
        try:
            return super()._alloc(vtype, mode, uid, gid)
        finally:
            self.next_cookie = saved

    async def node_remove(self, dir, node, cn):
        self.log.append(("remove", dir, node, cn.name))
        await super().node_remove(dir, node, cn)

    async def node_rmdir(self, dir, node, cn):
        self.log.append(("rmdir", dir, node, cn.name))
        await super().node_rmdir(dir, node, cn)

    async def node_inactive(self, node, pid):
        self.log.append(("inactive", node))
        return await super().node_inactive(node, pid)

    async def node_reclaim(self, node, pid):
        self.log.append(("reclaim", node))
        await super().node_reclaim(node, pid)

    def about(self, cookie: int) -> list[tuple]:
        """The log's entries naming ``cookie`` (the root's own INACTIVE, sent
        when a lookup lets its vnode go, is not one)."""
        return [e for e in self.log if cookie in (e[1:2] if len(e) == 2 else e[2:3])]


async def _mknod_fifo(path: str) -> int:
    try:
        await libc.mknod(path, S_IFIFO | 0o644, 0)
    except SyscallError as e:
        return e.errno
    return 0


async def _create(path: str) -> int:
    error, fd = await h.create(path)
    if error == 0:
        await h.close(fd)
    return error


_MAKERS = {
    "create": (_create, "remove"),
    "mknod": (_mknod_fifo, "remove"),
    "symlink": (lambda path: h.symlink("target", path), "remove"),
    "mkdir": (h.mkdir, "rmdir"),
}


@pytest.mark.parametrize("op", sorted(_MAKERS))
def test_create_answering_a_cookie_the_kernel_has(op):
    """The server frees an unlinked but still open file's node and hands its
    cookie to the next node it makes: puffs_newnode refuses it (EEXIST), and
    the server is told to remove the new name and to forget the cookie, so
    neither the name nor the node stays in it.  The open file's descriptor
    still closes, and the unmount is clean."""
    make, unlink_op = _MAKERS[op]
    with h.Booted(seed=187) as k:
        ops = Recorder()
        s, _ = _start(k, ops)
        root = ops.root_cookie

        async def body():
            await _make("/mnt/old", b"old data")
            error, fd = await h.open_("/mnt/old")
            assert error == 0
            x = ops.nodes[root].entries[b"old"]
            assert await h.unlink("/mnt/old") == 0
            del ops.nodes[x]           # freed early: the kernel still has it
            ops.reuse = x
            await h.syncbar()
            ops.log.clear()
            error = await make("/mnt/new")
            await h.syncbar()
            log = ops.about(x)
            after = (x in ops.nodes, dict(ops.nodes[root].entries), await h.listdir("/mnt"))
            return x, error, log, after, await h.close(fd)

        x, error, log, after, closed = k.run(body)
        assert error == EEXIST
        assert log == [(unlink_op, root, x, b"new"), ("inactive", x), ("reclaim", x)]
        assert after == (False, {}, (0, ['.', '..']))
        assert closed == 0
        assert s.errors == []
        assert k.run(h.unmount, "/mnt") == 0


@pytest.mark.parametrize("answer", [(None, -1), (None, -7), (99, 5)])
def test_lookup_answering_a_node_the_kernel_refuses(answer):
    """puffs_getvnode refuses the node lookup answered with (EPROTO): the
    server gets INACTIVE and RECLAIM for the cookie, and nothing is removed:
    memfs keeps the node, which still has its name, and the file is read back
    whole once the server answers right."""
    with h.Booted(seed=188) as k:
        ops = Recorder()
        s, _ = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            await h.syncbar()
            ops.log.clear()
            ops.lookup[b"f"] = answer
            error = (await h.stat_("/mnt/f"))[0]
            await h.syncbar()
            log = ops.about(f)
            del ops.lookup[b"f"]
            error2, fd = await h.open_("/mnt/f")
            assert error2 == 0
            data = await h.read(fd, 100)
            await h.close(fd)
            return f, error, log, f in ops.nodes, data

        f, error, log, kept, data = k.run(body)
        assert error == EPROTO
        assert log == [("inactive", f), ("reclaim", f)]
        assert kept
        assert data == (0, b"hello")
        assert len(s.kernel_errors) == 1
        assert k.run(h.unmount, "/mnt") == 0
