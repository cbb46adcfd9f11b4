"""NetBSD tests/fs/puffs/t_io.c (case nocache) and the read/write chunking of 1.59."""

from __future__ import annotations

from fs.puffs.puffs_msgif_h import (
    PUFFS_KFLAG_NOCACHE,
    PUFFS_REQ_MAXSIZE,
    PUFFS_REQSTRUCT_MAX,
    PUFFS_VN_READ,
    PUFFS_VN_WRITE,
)
from kern.errno import EIO
from tools.puffs_servers.memfs import MemFS

from . import h_puffs as h

MB = 1 << 20
TOMOVE = PUFFS_REQ_MAXSIZE - PUFFS_REQSTRUCT_MAX  # 126976


def test_nocache():
    """-o nopagecache; a 1 MiB write arrives as 9 WRITE requests (8 x 126976 + 32768)."""
    with h.Booted(seed=11) as k:
        ops = MemFS()
        s = h.start_server(k, ops, flags=PUFFS_KFLAG_NOCACHE)
        data = bytes(range(256)) * (MB // 256)

        async def body():
            error, fd = await h.create("/mnt/afile")
            assert error == 0
            assert await h.write(fd, data) == (0, MB)
            assert await h.close(fd) == 0

        k.run(body)
        assert s.channel.toserv_vn_ops[PUFFS_VN_WRITE] == 9
        cookie = next(c for c, n in ops.nodes.items() if n.data)
        assert bytes(ops.nodes[cookie].data) == data


def test_read_chunks_and_eof():
    """Reads go in PUFFS_TOMOVE chunks; a short reply (EOF) ends the loop."""
    with h.Booted(seed=12) as k:
        s = h.start_server(k)
        data = b"x" * (TOMOVE + 1000)

        async def body():
            error, fd = await h.create("/mnt/f")
            assert await h.write(fd, data) == (0, len(data))
            n0 = s.channel.toserv_vn_ops[PUFFS_VN_READ]
            error, got = await h.pread(fd, 3 * TOMOVE, 0)
            n1 = s.channel.toserv_vn_ops[PUFFS_VN_READ]
            assert await h.close(fd) == 0
            return error, got, n1 - n0

        error, got, nreads = k.run(body)
        assert error == 0 and got == data
        assert nreads == 2     # one full chunk, then a short one that ends it


class ShortWrites(MemFS):
    """A server that accepts only half of every write."""

    async def node_write(self, node, offset, data, cred, ioflag):
        await super().node_write(node, offset, data[:len(data) // 2], cred, ioflag)
        return len(data) // 2


def test_short_write_is_eio():
    """resid != 0 after a WRITE: EIO, and the uio is wound back by the residue."""
    with h.Booted(seed=13) as k:
        h.start_server(k, ShortWrites())

        async def body():
            error, fd = await h.create("/mnt/f")
            r = await h.write(fd, b"abcdefgh")
            await h.close(fd)
            return r

        # 1.59 answers EIO with the uio wound back; write(2) passes EIO on
        assert k.run(body) == (EIO, None)
