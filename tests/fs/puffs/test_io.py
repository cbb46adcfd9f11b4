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
            assert error == 0
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
    """resid != 0 after a WRITE: EIO (1.59 winds the uio back by the residue,
    write(2) reports the EIO); the file holds what the server took."""
    with h.Booted(seed=13) as k:
        ops = ShortWrites()
        h.start_server(k, ops)

        async def body():
            error, fd = await h.create("/mnt/f")
            assert error == 0
            r = await h.write(fd, b"abcdefgh")
            error, got = await h.pread(fd, 100, 0)
            assert await h.close(fd) == 0
            return r, error, got

        assert k.run(body) == ((EIO, None), 0, b"abcd")


def test_strategy_maps_bufs_to_read_and_write():
    """puffs_strategy, called as a pager would (nothing in kemu's puffs reaches
    it, V1): reads and writes become READ/WRITE requests at b_blkno <<
    DEV_BSHIFT; an async write goes as a FAF; an async read completes in
    puffs_parkdone_asyncbioread, which frees its request (subr.c 1.28); a
    node the server holds no reference to is not written at all."""
    from fs.puffs.puffs_sys import PNODE_NOREFS
    from tools.lib import libc
    from vfs.buf import B_ASYNC, B_READ, B_WRITE, BO_DONE
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.vfs_bio import getiobuf
    from vfs.vnode import vrele
    from vfs.vnode_if import VOP_STRATEGY

    with h.Booted(seed=14) as k:
        ops = MemFS()
        s = h.start_server(k, ops)
        data = bytes(range(256)) * 16
        st = {}

        def node():
            return next(n for n in ops.nodes.values() if n.data)

        async def strategy(flags, blkno, payload=None, n=0, iodone=None):
            bp = getiobuf(st["vp"], True)
            bp.b_flags = flags
            bp.b_blkno = blkno
            bp.b_data = bytearray(payload) if payload is not None else bytearray(n)
            bp.b_bcount = len(bp.b_data)
            bp.b_iodone = iodone
            if not flags & B_READ:
                st["vp"].v_numoutput += 1  # as the pager (genfs_do_io) counts its write
            error = await VOP_STRATEGY(st["vp"], bp)
            return error, bp

        async def prepare():
            error, fd = await h.create("/mnt/f")
            assert error == 0
            assert await h.write(fd, data) == (0, len(data))
            error, st["vp"] = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
            assert error == 0
            st["fd"] = fd

        k.run(prepare)
        writes = s.channel.toserv_vn_ops[PUFFS_VN_WRITE]

        async def sync_io():
            error, bp = await strategy(B_READ, 2, n=1024)
            assert (error, bp.b_error, bp.b_resid) == (0, 0, 0)
            assert bp.b_oflags & BO_DONE and bytes(bp.b_data) == data[1024:2048]
            error, bp = await strategy(B_WRITE, 0, b"W" * 512)
            assert (error, bp.b_resid) == (0, 0) and bp.b_oflags & BO_DONE
            faf = []  # an async pager write has its b_iodone (genfs_do_io's)
            error, bp = await strategy(B_WRITE | B_ASYNC, 1, b"A" * 512,   # FAF
                                       iodone=lambda bp: faf.append(bp.b_error))
            assert (error, bp.b_resid, faf) == (0, 0, [0]) and bp.b_oflags & BO_DONE
            await h.syncbar()
            pn = st["vp"].v_data
            pn.pn_stat |= PNODE_NOREFS                 # the short-circuit: no request
            error, bp = await strategy(B_WRITE, 3, b"N" * 512)
            pn.pn_stat &= ~PNODE_NOREFS
            assert (error, bp.b_resid) == (0, 0) and bp.b_oflags & BO_DONE
            assert st["vp"].v_numoutput == 0  # biodone gave back each write's count

        k.run(sync_io)
        assert bytes(node().data) == b"W" * 512 + b"A" * 512 + data[1024:]
        assert s.channel.toserv_vn_ops[PUFFS_VN_WRITE] == writes + 2

        async def async_read():
            done = []
            error, bp = await strategy(B_READ | B_ASYNC, 4, n=1024,
                                       iodone=lambda bp: done.append(bp.b_error))
            assert error == 0
            while not done:
                await libc.nanosleep(0.001)
            assert done == [0] and bp.b_resid == 0
            return bytes(bp.b_data)

        assert k.run(async_read) == data[2048:3072]    # (warms up the park pool)
        before = h.kmem_inuse(k)
        assert k.run(async_read) == data[2048:3072]
        assert h.kmem_inuse(k) == before               # the request buffer was freed

        async def finish():
            await vrele(st["vp"])
            assert await h.close(st["fd"]) == 0
            return await h.unmount("/mnt")

        assert k.run(finish) == 0
        assert not s.errors
