"""Server classes for the remote-server tests: they run in the server process
(``python -m tools.lib.libpuffs.remote tests.fs.puffs.h_remote:StallFS ...``)."""

from __future__ import annotations

import trio

from fs.puffs.puffs_msgif_h import PUFFS_INVAL_NAMECACHE_ALL
from tools.lib.libpuffs import ComponentName, NodeInfo
from tools.lib.libpuffs import remote as _remote
from tools.puffs_servers.memfs import MemFS


class StallFS(MemFS):
    """memfs whose lookup of ``stall`` never answers: it touches ``marker``
    (a host path) and sleeps, so a test can kill the process mid-call."""

    def __init__(self, marker: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.marker = marker

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        if cn.name == b"stall":
            with open(self.marker, "w") as f:
                f.write("in the call\n")
            await trio.sleep_forever()
        return await super().node_lookup(dir, cn)


class NegativeSizeFS(MemFS):
    """memfs whose lookup of ``neg`` names a regular file (cookie 0x4242) of
    size -7."""

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        if cn.name == b"neg":
            return NodeInfo(0x4242, 1, -7, 0)
        return await super().node_lookup(dir, cn)


class SelfSuspendingFS(MemFS):
    """memfs whose lookup of ``suspend-me`` asks its own server for a
    suspension (PUFFSSUSPENDOP) and a name-cache flush (PUFFSFLUSHOP) before
    answering: the control requests a server makes in the middle of a call.
    In the machine, set ``server``; in another process it is the one running."""

    server = None

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        if cn.name == b"suspend-me":
            server = self.server or _remote.CURRENT
            await server.suspend()
            await server.channel.flush(0, PUFFS_INVAL_NAMECACHE_ALL)
        return await super().node_lookup(dir, cn)


class ModulesFS(MemFS):
    """memfs whose lookup of ``modules`` writes the names of kemu's modules the
    server process has loaded (one a line) to ``report`` (a host path), then
    answers as memfs does (ENOENT)."""

    def __init__(self, report: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.report = report

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        if cn.name == b"modules":
            import sys

            ours = sorted(m for m in sys.modules
                          if m.split(".")[0] in ("kern", "vfs", "dev", "fs", "tools", "tests"))
            with open(self.report, "w") as f:
                f.write("\n".join(ours) + "\n")
        return await super().node_lookup(dir, cn)
