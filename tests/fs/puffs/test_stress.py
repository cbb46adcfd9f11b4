"""Interleavings chosen by the seed: busy callers while the file system goes away."""

from __future__ import annotations

import pytest

from kern.cpu import curmachine
from tools.lib import libc
from tools.lib.libpuffs._sys import lwp_create
from tools.puffs_servers.memfs import MemFS
from vfs.mount import MNT_FORCE

from . import h_puffs as h


class Slowish(MemFS):
    """Every data and attribute request takes a millisecond of virtual time."""

    async def node_getattr(self, node, cred, pid):
        await libc.nanosleep(0.001)
        return await super().node_getattr(node, cred, pid)

    async def node_write(self, node, offset, data, cred, ioflag):
        await libc.nanosleep(0.001)
        return await super().node_write(node, offset, data, cred, ioflag)


async def busy(name: str, rounds: int, log: list) -> None:
    """create, write, read back, unlink, again; every errno is recorded."""
    for i in range(rounds):
        path = f"/mnt/{name}{i}"
        error, fd = await h.create(path)
        log.append(error)
        if error:
            continue
        log.append((await h.write(fd, b"x" * 100))[0])
        log.append((await h.pread(fd, 100, 0))[0])
        log.append(await h.unlink(path))
        log.append(await h.close(fd))
        log.append((await h.stat_("/mnt"))[0])


@pytest.mark.parametrize("how", ["unmount -f", "server exits"])
@pytest.mark.parametrize("seed", range(4))
def test_file_system_goes_away_under_load(how, seed):
    with h.Booted(seed=100 + seed) as k:
        s = h.start_server(k, Slowish())
        logs = {n: [] for n in ("a", "b", "c")}

        async def load():
            for n, log in logs.items():
                lwp_create(busy, n, 6, log, name=f"busy-{n}")
            await libc.nanosleep(0.003 + 0.002 * seed)   # let them get going
            if how == "unmount -f":
                return await h.unmount("/mnt", MNT_FORCE)
            curmachine().proc_destroy(s.proc)
            return 0

        assert k.run(load) == 0
        assert h.mounted(k, "/mnt") is None
        every = [e for log in logs.values() for e in log]
        assert all(isinstance(e, int) for e in every)
        assert 0 in every and any(every)   # some work was done, some was cut off
        # the machine is fine afterwards
        s2 = h.start_server(k, name="again")
        assert k.run(lambda: h.unmount("/mnt")) == 0
        assert not s2.errors
