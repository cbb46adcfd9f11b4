"""libpuffs: write a puffs(4) file system server in Python (the 2007 libpuffs, pyfuse3-style).

A file system is a subclass of :class:`Operations` with ``async`` methods
(``node_lookup``, ``node_getattr``, ``node_read``, ...) that raise
:class:`PuffsError` with a NetBSD errno to fail.  :class:`PuffsServer`
opens /dev/puffs, mounts, starts and runs the request loop, talking to the
kernel only through the device and system calls, from the user lwp that
calls it::

    >>> import kern
    >>> from tools.lib.libpuffs import PuffsServer, daemon
    >>> from tools.puffs_servers.memfs import MemFS
    >>> with kern.boot(seed=1) as k:
    ...     server = PuffsServer(MemFS(), "memfs")
    ...     memfs = k.proc_create("memfs", k.initproc)   # the server's process
    ...     serving = k.run(daemon, server.main, "/mnt", proc=memfs)
    ...     server.state == PUFFS_STATE_RUNNING
    True

The transport is a :class:`Channel` (``DevPuffsChannel`` for /dev/puffs);
it counts the requests by operation (``toserv_vn_ops``), as the rump tests
do.  See lib/libpuffs/channel.py for the interface a transport implements.

The same server class runs in another OS process through
:mod:`tools.lib.libpuffs.remote`: ``RemoteServer("tools.puffs_servers.memfs:MemFS",
"memfs")`` is used in the machine like a PuffsServer, and shovels the
requests over a socket to ``python -m tools.lib.libpuffs.remote``, where a
PuffsServer runs the class on a ``SocketChannel``.  ``puffs_daemon(server,
"/mnt")`` mounts from the calling process and serves from a daemon process
(what the mount_memfs and mount_passthrough commands do).
"""

from .channel import Channel, DevPuffsChannel
from .errors import KernelError, PuffsError
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
    puffs_access,
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
    puffs_daemon,
    puffs_detach,
    puffs_kernerr_abort,
    puffs_kernerr_log,
)


def __getattr__(name: str) -> object:
    # tools.lib.libpuffs.remote is also the server process's main module (python -m):
    # import it only when asked for.
    if name in ("RemoteServer", "SocketChannel"):
        from . import remote

        return getattr(remote, name)
    raise AttributeError(name)


__all__ = [
    "PUFFS_IO_APPEND", "PUFFS_STATE_BEFOREMOUNT", "PUFFS_STATE_MOUNTING",
    "PUFFS_STATE_RUNNING", "PUFFS_STATE_UNMOUNTED", "PUFFS_STATE_UNMOUNTING", "PUFFS_VEXEC",
    "PUFFS_VNOVAL", "PUFFS_VREAD", "PUFFS_VWRITE", "VBLK", "VCHR", "VDIR", "VFIFO", "VLNK",
    "VNON", "VREG", "VSOCK", "Attr", "Channel", "ComponentName", "Cred", "DevPuffsChannel",
    "DirEntry", "KernelError", "NodeInfo", "Operations", "PuffsError", "PuffsServer",
    "RemoteServer", "SocketChannel", "StatvfsData", "daemon", "puffs_access", "puffs_daemon",
    "puffs_detach", "puffs_kernerr_abort", "puffs_kernerr_log", "vnopmask",
]
