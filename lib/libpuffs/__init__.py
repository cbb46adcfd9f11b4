"""libpuffs: write a puffs(4) file system server in Python (the 2007 libpuffs, pyfuse3-style).

A file system is a subclass of :class:`Operations` with ``async`` methods
(``node_lookup``, ``node_getattr``, ``node_read``, ...) that raise
:class:`PuffsError` with a NetBSD errno to fail.  :class:`PuffsServer`
opens /dev/puffs, mounts, starts and runs the request loop, talking to the
kernel only through the device and system calls, from the user lwp that
calls it::

    from lib.libpuffs import PuffsServer, daemon
    from tools.puffs_servers.memfs import MemFS

    server = PuffsServer(MemFS(), "memfs")
    k.run(daemon, server.main, "/mnt", proc=k.proc_create("memfs"))

The transport is a :class:`Channel` (``DevPuffsChannel`` for /dev/puffs);
it counts the requests by operation (``toserv_vn_ops``), as the rump tests
do.  See lib/libpuffs/channel.py for the interface a socket transport to
another process implements.
"""

from .channel import Channel, DevPuffsChannel
from .errors import PuffsError
from .ops import (
    PUFFS_IO_APPEND,
    PUFFS_VEXEC,
    PUFFS_VNOVAL,
    PUFFS_VREAD,
    PUFFS_VWRITE,
    VBLK,
    VCHR,
    VDIR,
    VFIFO,
    VLNK,
    VNON,
    VREG,
    VSOCK,
    Attr,
    ComponentName,
    Cred,
    DirEntry,
    NodeInfo,
    Operations,
    StatvfsData,
    vnopmask,
)
from .server import (
    PUFFS_STATE_BEFOREMOUNT,
    PUFFS_STATE_MOUNTING,
    PUFFS_STATE_RUNNING,
    PUFFS_STATE_UNMOUNTED,
    PUFFS_STATE_UNMOUNTING,
    PuffsServer,
    daemon,
)

__all__ = [
    "PUFFS_IO_APPEND", "PUFFS_STATE_BEFOREMOUNT", "PUFFS_STATE_MOUNTING",
    "PUFFS_STATE_RUNNING", "PUFFS_STATE_UNMOUNTED", "PUFFS_STATE_UNMOUNTING", "PUFFS_VEXEC",
    "PUFFS_VNOVAL", "PUFFS_VREAD", "PUFFS_VWRITE", "VBLK", "VCHR", "VDIR", "VFIFO", "VLNK",
    "VNON", "VREG", "VSOCK", "Attr", "Channel", "ComponentName", "Cred", "DevPuffsChannel",
    "DirEntry", "NodeInfo", "Operations", "PuffsError", "PuffsServer", "StatvfsData", "daemon",
    "vnopmask",
]
