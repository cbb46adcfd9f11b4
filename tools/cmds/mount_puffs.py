"""mount_memfs(8) and mount_passthrough(8): mount a puffs file server, NetBSD style.

    mount_memfs [-o options] memfs mount_point
    mount_passthrough [-o options] directory mount_point

Like NetBSD's puffs mount programs (mount_psshfs, mount_9p, ...), each
opens /dev/puffs, mounts, starts the file system, and then goes to the
background with daemon(3): the server is a daemon process of the machine
(forked from the command, so it shares the command's descriptors: its
standard error is the shell's) that serves until the file system is
unmounted, then exits.  ``umount mount_point`` asks the server (a server
that refuses makes umount fail with the server's errno); ``umount -f``
unmounts whatever the server says.

memfs is tools/puffs_servers/memfs.py, an in-memory file system;
passthrough is tools/puffs_servers/passthrough.py, which serves a directory
of the *host* (``directory`` is a host path, relative ones against the
host's current directory; with ``-o ro`` the server refuses changes too).
Both have file handles (getfh/fhopen), 24 bytes.

``-o`` takes a comma-separated list, parsed as getmntopts(3) does with
``MOPT_STDOPTS`` and ``PUFFSMOPT_STD`` (a "no" prefix negates an option):

* the standard ones of mount(8): ``ro``/``rdonly``, ``noexec``, ``nosuid``,
  ``nodev``, ``noatime``, ``sync``, ``async``, ``union``, ...;
* puffs's: ``nocache`` (PUFFS_KFLAG_NOCACHE; ``cache`` is the default),
  ``allops`` (PUFFS_KFLAG_ALLOPS: the kernel sends every operation, also
  those the server does not implement), ``dump`` (PUFFS_FLAG_OPDUMP: the
  server writes a line per request on its standard error);
* kemu's: ``remote`` -- run the server as a separate OS process of the host
  (``python -m tools.lib.libpuffs.remote``), connected to the machine over a
  socket (lib/libpuffs/remote.py); the same server class runs either way.
  When that process dies, the file system goes away (callers get ENXIO).
* memfs's: ``nounmount`` -- the server refuses to be unmounted (EBUSY),
  which only ``umount -f`` overrides (for trying out forced unmounts).

An unknown option is an error (``-o foo: option not supported``).
``mount -t memfs memfs /mnt`` and ``mount -t passthrough dir /mnt`` run
these programs, as NetBSD's mount(8) runs mount_<type>.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fs.puffs.puffs_msgif_h import PUFFS_KFLAG_ALLOPS, PUFFS_KFLAG_NOCACHE
from kern.errno import EBUSY, strerror
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._fsutil import realpath
from tools.cmds._prog import errx, options, usage_exit, warn
from tools.cmds.mount import MNTOPTS, mntopt_apply
from tools.lib.libpuffs import PuffsError, PuffsServer, puffs_detach
from tools.lib.libpuffs.server import PUFFS_FLAG_OPDUMP
from vfs.mount import MNT_RDONLY

# PUFFSMOPT_STD (2007): name -> (inverse, pflag)
PUFFSMOPTS = {
    "cache": (1, PUFFS_KFLAG_NOCACHE),
    "allops": (0, PUFFS_KFLAG_ALLOPS),
    "dump": (0, PUFFS_FLAG_OPDUMP),
}
# kemu's and the servers' own: name -> its value when given without "no"
KEMUOPTS = {"remote": True}


@dataclass
class PuffsMountOpts:
    """What -o said: mount(2) flags, puffs flags, the program's own options."""

    mntflags: int = 0
    pflags: int = 0
    own: dict[str, bool] = field(default_factory=dict)


def puffs_getmntopts(optstrs: list[str], own: dict[str, bool]) -> tuple[PuffsMountOpts, str | None]:
    """getmntopts(3) over MOPT_STDOPTS, PUFFSMOPT_STD and ``own`` (name -> value
    when given plainly); ``(options, the first unknown one or None)``."""
    o = PuffsMountOpts()
    for opt in ",".join(optstrs).split(","):
        if not opt:
            continue
        name = opt.split("=", 1)[0]
        negative = name.startswith("no") and (name[2:] in MNTOPTS or name[2:] in PUFFSMOPTS
                                              or name[2:] in own)
        if negative:
            name = name[2:]
        if name in MNTOPTS:
            o.mntflags = mntopt_apply(o.mntflags, MNTOPTS[name], negative)
        elif name in PUFFSMOPTS:
            o.pflags = mntopt_apply(o.pflags, PUFFSMOPTS[name], negative)
        elif name in own:
            o.own[name] = own[name] != negative
        else:
            return o, opt
    return o, None


async def _mount_server(server: PuffsServer | object, node: str, mntflags: int,
                        cleanup: Callable[[], Any] | None = None) -> int:
    """puffs_init, puffs_mount, puffs_start, daemon(3); err(3) on a failure."""
    steps = (("puffs_init", server.init, ()), ("puffs_mount", server.mount, (node, mntflags)),
             ("puffs_start", server.start, ()))
    for what, fn, args in steps:
        try:
            await fn(*args)  # type: ignore[operator]
        except PuffsError as e:
            await server.exit()  # type: ignore[attr-defined]
            if cleanup is not None:
                cleanup()
            await errx(1, f"{what}: {strerror(e.errno)}")
        except BaseException:
            abandon = getattr(server, "abandon", None)
            if abandon is not None:
                abandon()
            raise
    await puffs_detach(server, cleanup)
    return 0


async def _args(argv: list[str], usage: str,
                own: dict[str, bool]) -> tuple[PuffsMountOpts, str, str]:
    opts, args = await options(argv, "o:", usage)
    o, bad = puffs_getmntopts([a for c, a in opts if c == "o"], own)
    if bad is not None:
        await errx(1, f"-o {bad}: option not supported")
    if len(args) != 2:
        await usage_exit(usage)
    special, node = args
    try:
        node = await realpath(node)
    except SyscallError as e:
        await warn(f"realpath {node}", e)
        await errx(1, f"{node}: not a valid mount point")
    return o, special, node


MEMFS_USAGE = "usage: mount_memfs [-o options] memfs mount_point"
MEMFS_OPS = "tools.puffs_servers.memfs:MemFS"


@command("mount_memfs", summary="mount kemu's in-memory puffs file server")
async def mount_memfs_main(argv: list[str]) -> int:
    from tools.lib.libpuffs.remote import RemoteServer
    from tools.puffs_servers.memfs import FHSIZE, MemFS

    o, _special, node = await _args(argv, MEMFS_USAGE, {**KEMUOPTS, "unmount": True})
    kw = {} if o.own.get("unmount", True) else {"unmount_refusal": EBUSY}
    server: object
    if o.own.get("remote"):
        server = RemoteServer(MEMFS_OPS, "memfs", ops_kwargs=kw, flags=o.pflags,
                              fhsize=FHSIZE)
    else:
        server = PuffsServer(MemFS(**kw), "memfs", flags=o.pflags, fhsize=FHSIZE)
    return await _mount_server(server, node, o.mntflags)


PASSTHROUGH_USAGE = "usage: mount_passthrough [-o options] directory mount_point"
PASSTHROUGH_OPS = "tools.puffs_servers.passthrough:Passthrough"


@command("mount_passthrough",
         summary="mount a host directory through kemu's passthrough puffs server")
async def mount_passthrough_main(argv: list[str]) -> int:
    from tools.lib.libpuffs.remote import RemoteServer
    from tools.puffs_servers.passthrough import FHSIZE

    o, hostdir, node = await _args(argv, PASSTHROUGH_USAGE, dict(KEMUOPTS))
    hostdir = os.path.abspath(hostdir)
    if not os.path.isdir(hostdir):
        what = "Not a directory" if os.path.exists(hostdir) else "No such file or directory"
        await errx(1, f"{hostdir}: {what}")
    kw = {"readonly": True} if o.mntflags & MNT_RDONLY else {}
    server: object
    cleanup = None
    if o.own.get("remote"):
        server = RemoteServer(PASSTHROUGH_OPS, "passthrough", ops_args=[hostdir], ops_kwargs=kw,
                              flags=o.pflags, fhsize=FHSIZE)
    else:
        from tools.puffs_servers.passthrough import Passthrough

        try:
            ops = Passthrough(hostdir, **kw)
        except OSError as e:
            await errx(1, f"{hostdir}: {e.strerror or e}")
        server = PuffsServer(ops, "passthrough", flags=o.pflags, fhsize=FHSIZE)
        cleanup = ops.close                       # its host descriptors
    return await _mount_server(server, node, o.mntflags, cleanup)
