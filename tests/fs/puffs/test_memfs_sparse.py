"""memfs keeps sparse files sparse (tools/puffs_servers/memfs.py SparseData), as
NetBSD's tmpfs does: a write at 2 GiB + 5 stores one page and holes read as
zeros.  st_blocks counts what is stored (tmpfs_getattr reports
round_page(size) instead: a declared difference).  memfs used to extend a
bytearray to the offset: 2.1 GB of memory for one byte.
"""

from __future__ import annotations

import tracemalloc

from kern.fcntl import O_CREAT, O_RDWR, O_TRUNC
from tools.lib import libc
from tools.puffs_servers.memfs import PAGE_SIZE, MemFS, SparseData

from . import h_puffs as h

GiB = 1 << 30
FAR = 2 * GiB + 5


def _file(ops: MemFS, name: bytes):
    root = ops.node(ops.root_cookie)
    return ops.node(root.entries[name])


def test_a_write_at_2_gib_stores_one_page():
    with h.Booted(seed=21) as k:
        ops = MemFS()
        h.start_server(k, ops)

        async def body():
            fd = await libc.open("/mnt/sparse", O_CREAT | O_TRUNC | O_RDWR, 0o644)
            assert await libc.pwrite(fd, b"x", FAR) == 1
            st = await libc.fstat(fd)
            got = (st.st_size, st.st_blocks,
                   await libc.pread(fd, 16, 0),             # the hole at the start
                   await libc.pread(fd, 16, FAR - 10),      # the hole before the byte
                   await libc.pread(fd, 16, FAR))           # the byte, then the end
            await libc.close(fd)
            return got

        tracemalloc.start()
        try:
            size, blocks, head, before, at = k.run(body)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert size == FAR + 1
        assert blocks * 512 == PAGE_SIZE  # one page stored
        assert head == bytes(16)
        assert before == bytes(10) + b"x"
        assert at == b"x"
        assert peak < 64 << 20  # the whole run, kernel and server: far from 2 GiB
        data = _file(ops, b"sparse").data
        assert data.stored() == PAGE_SIZE and len(data) == FAR + 1
        assert k.run(h.unmount, "/mnt") == 0


def test_holes_truncation_and_st_blocks():
    with h.Booted(seed=22) as k:
        ops = MemFS()
        h.start_server(k, ops)

        async def body():
            fd = await libc.open("/mnt/f", O_CREAT | O_TRUNC | O_RDWR, 0o644)
            out = []
            # three bytes on three distant pages, one write straddling two pages
            for off, b in ((0, b"a"), (1000 * PAGE_SIZE, b"b"), (1 << 31, b"c")):
                assert await libc.pwrite(fd, b, off) == 1
            assert await libc.pwrite(fd, b"yz", 5 * PAGE_SIZE - 1) == 2
            out.append((await libc.fstat(fd)).st_blocks * 512)
            out.append(await libc.pread(fd, 3, 5 * PAGE_SIZE - 2))
            # shrink into the middle of the straddled page, then grow again:
            # what was past the cut reads as zeros
            await libc.ftruncate(fd, 5 * PAGE_SIZE)
            await libc.ftruncate(fd, 6 * PAGE_SIZE)
            out.append(await libc.pread(fd, 3, 5 * PAGE_SIZE - 1))
            out.append((await libc.fstat(fd)).st_blocks * 512)
            out.append(await libc.pread(fd, 2, 0))
            await libc.close(fd)
            return out

        stored, across, after, stored2, start = k.run(body)
        assert stored == 5 * PAGE_SIZE  # pages 0, 4, 5, 1000 and the one at 2 GiB
        assert across == b"\0yz"
        assert after == b"y\0\0"  # the "z" beyond the cut is gone
        assert stored2 == 2 * PAGE_SIZE  # pages 0 and 4 remain (page 5 began at the cut)
        assert start == b"a\0"
        assert k.run(h.unmount, "/mnt") == 0


def test_sparse_data_by_itself():
    d = SparseData()
    assert not d and len(d) == 0 and bytes(d) == b"" and d.read(0, 10) == b""
    d.write(PAGE_SIZE - 2, b"abcd")
    assert len(d) == PAGE_SIZE + 2 and d.stored() == 2 * PAGE_SIZE
    assert d.read(PAGE_SIZE - 3, 10) == b"\0abcd"
    assert bytes(d) == bytes(PAGE_SIZE - 2) + b"abcd"
    d.write(10, b"")  # nothing: no page, no new size
    assert d.stored() == 2 * PAGE_SIZE and len(d) == PAGE_SIZE + 2
    d.truncate(PAGE_SIZE - 1)
    assert d.stored() == PAGE_SIZE and bytes(d)[-1:] == b"a"
    d.truncate(PAGE_SIZE + 2)
    assert d.read(PAGE_SIZE - 2, 4) == b"a\0\0\0"
