"""puffs_transport.c 1.12: the server's cache flush ioctl (PUFFSFLUSHOP, puffs_flush)."""

from __future__ import annotations

from fs.puffs.puffs_msgif_h import (
    PUFFS_FLUSH_PAGECACHE_NODE_RANGE,
    PUFFS_INVAL_NAMECACHE_ALL,
    PUFFS_INVAL_NAMECACHE_DIR,
    PUFFS_INVAL_PAGECACHE_NODE_RANGE,
)
from kern.errno import EINVAL, ENOENT
from kern.fcntl import O_RDONLY
from tools.lib.libpuffs import PuffsError
from tools.puffs_servers.memfs import MemFS
from vfs.vnode import VDIR, VREG

from . import h_puffs as h


def test_flush_ops_and_their_errnos():
    """Every branch of puffs_flush: the cookie is looked up without a lock (so
    the root's cookie, which only VFS_ROOT hands out, is ENOENT), the
    name-cache ops want a directory, the page range a regular file and a
    range inside it, and anything else is EINVAL."""
    with h.Booted(seed=81) as k:
        ops = MemFS()
        s = h.start_server(k, ops)

        async def prepare():
            error, ffd = await h.create("/mnt/f")
            assert error == 0
            assert await h.write(ffd, b"x" * 8192) == (0, 8192)
            assert await h.mkdir("/mnt/d") == 0
            error, dfd = await h.open_("/mnt/d", O_RDONLY)   # keeps the vnodes loaded
            assert error == 0
            return ffd, dfd

        ffd, dfd = k.run(prepare)
        f = next(c for c, n in ops.nodes.items() if n.vtype == VREG)
        d = next(c for c, n in ops.nodes.items() if n.vtype == VDIR and c != ops.root_cookie)

        async def flushes():
            out = {}
            for name, cookie, op, start, end in (
                    ("all", 12345, PUFFS_INVAL_NAMECACHE_ALL, 0, 0),
                    ("unknown cookie", 12345, PUFFS_INVAL_NAMECACHE_DIR, 0, 0),
                    ("root", ops.root_cookie, PUFFS_INVAL_NAMECACHE_DIR, 0, 0),
                    ("dir", d, PUFFS_INVAL_NAMECACHE_DIR, 0, 0),
                    ("dir of a file", f, PUFFS_INVAL_NAMECACHE_DIR, 0, 0),
                    ("range", f, PUFFS_INVAL_PAGECACHE_NODE_RANGE, 100, 5000),
                    ("whole", f, PUFFS_INVAL_PAGECACHE_NODE_RANGE, 0, 0),
                    ("past the end", f, PUFFS_INVAL_PAGECACHE_NODE_RANGE, 0, 8193),
                    ("backwards", f, PUFFS_INVAL_PAGECACHE_NODE_RANGE, 8192, 4096),
                    ("range of a dir", d, PUFFS_INVAL_PAGECACHE_NODE_RANGE, 0, 0),
                    ("other op", f, PUFFS_FLUSH_PAGECACHE_NODE_RANGE, 0, 4096)):
                try:
                    await s.channel.flush(cookie, op, start, end)
                    out[name] = 0
                except PuffsError as e:
                    out[name] = e.errno
            return out

        assert k.run(flushes, proc=s.proc) == {
            "all": 0, "unknown cookie": ENOENT, "root": ENOENT, "dir": 0,
            "dir of a file": EINVAL, "range": 0, "whole": 0, "past the end": EINVAL,
            "backwards": EINVAL, "range of a dir": EINVAL, "other op": EINVAL}

        async def finish():
            assert await h.close(ffd) == 0
            assert await h.close(dfd) == 0
            return await h.unmount("/mnt")

        assert k.run(finish) == 0       # flush dropped every reference it took
        assert not s.errors
