"""The async face: a memfs server as a task beside the test's lwps (pyfuse3's model)."""

from __future__ import annotations

import functools

import pytest
import trio

from fs.puffs.puffs_msgif_h import PUFFS_VN_WRITE
from tools.lib.libpuffs import PuffsServer
from tools.puffs_servers.memfs import MemFS

from . import h_puffs as h


@pytest.mark.kemu
async def test_server_task_beside_two_writers():
    async with h.boot(seed=71) as k:
        ops = MemFS()
        server = PuffsServer(ops, "memfs")
        p = k.proc_create("memfs", k.initproc)
        results = {}

        async def writer(name: str, n: int) -> None:
            error, fd = await h.create(f"/mnt/{name}")
            assert error == 0
            for i in range(n):
                assert (await h.write(fd, f"{name}{i};".encode()))[0] == 0
            assert await h.close(fd) == 0
            results[name] = n

        async with trio.open_nursery() as nursery:
            nursery.start_soon(functools.partial(k.run, server.main, "/mnt", name="memfs",
                                                 proc=p))
            while h.mounted(k, "/mnt") is None or server.state != 2:
                await trio.sleep(0.001)
            async with trio.open_nursery() as writers:
                writers.start_soon(k.run, writer, "a", 5)
                writers.start_soon(k.run, writer, "b", 7)
            names = await k.run(h.listdir, "/mnt")
            assert await k.run(h.unmount, "/mnt") == 0
        assert results == {"a": 5, "b": 7}
        assert names[0] == 0 and sorted(names[1]) == [".", "..", "a", "b"]
        assert server.channel.toserv_vn_ops[PUFFS_VN_WRITE] == 12
        data = {bytes(n.data) for n in ops.nodes.values() if n.data}
        assert data == {b"".join(f"a{i};".encode() for i in range(5)),
                        b"".join(f"b{i};".encode() for i in range(7))}
