"""The server side of puffs: init, mount, start, the main loop (libpuffs 2007 style).

::

    server = PuffsServer(MemFS(), "memfs", flags=PUFFS_KFLAG_NOCACHE)
    await server.init()              # puffs_init: open /dev/puffs, fill the args
    await server.mount("/mnt")       # puffs_domount: mount(2), state MOUNTING
    await server.start()             # puffs_start: PUFFSSTARTOP, state RUNNING
    await server.serve()             # mainloop (GETOP, dispatch, PUTOP), then exit
                                     # (puffs_exit: close the device)

or ``await server.main("/mnt")`` for all of it.  Everything runs in the
calling user lwp and reaches the kernel only through /dev/puffs and
system calls; requests are handled one after the other, as the
single-threaded libpuffs of 2007 does.

``await puffs_daemon(server, "/mnt")`` is what a mount_<fs> program does:
init, mount and start in the calling process, then daemon(3): the rest
(``serve``) runs in a child made with fork(2), which exits when the file
system is gone; the caller's copy of the device descriptor is closed, so
the daemon's death is the file system's.

The loop talks to the kernel through a :class:`~tools.lib.libpuffs.channel.Channel`
(``server.channel``): a /dev/puffs descriptor, or a socket to the kernel's
process when the server runs in another OS process
(:mod:`tools.lib.libpuffs.remote`).  ``server.channel.toserv_vn_ops`` and
``toserv_vfs_ops`` count the requests by operation.  With
``PUFFS_FLAG_OPDUMP`` in the flags (mount option "dump") every request and
its result are written out (``dumpfn``; by default on descriptor 2 of the
server process; a server in another OS process hands its lines to the
RemoteServer, which writes them on its descriptor 2).

When the kernel refuses an answer (a node of a bad type or a negative size:
the request fails with EPROTO), it tells the server with an error
notification (PUFFSOP_ERROR), as NetBSD's kernel does since 2007's later
revisions.  The server records it in ``server.kernel_errors`` (a
:class:`~tools.lib.libpuffs.errors.KernelError`; the list keeps the last
``server.kernel_errors_kept`` of them, 100 unless set, oldest first, so a
server that runs for ever does not grow with them; ``server.kernel_errors_seen``
counts every one since the start) and calls
``server.errnotify(server, err)``, by default :func:`puffs_kernerr_log`,
which writes ``kernel: type 1 (MAKENODE), error 22, cookie 0x... (negative
size -5 is not a valid size)`` where OPDUMP lines go.  libpuffs' default is
puffs_kernerr_abort (the server abort()s, which unmounts the file system);
kemu's keeps serving, so one bad answer loses nothing else, and offers
:func:`puffs_kernerr_abort` for a server that wants NetBSD's.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fs.puffs.puffs_msgif_h import (
    PUFFS_ERR_NAMES,
    PUFFS_VFS_FHTOVP,
    PUFFS_VFS_NAMES,
    PUFFS_VFS_REQ,
    PUFFS_VFS_STATVFS,
    PUFFS_VFS_SUSPEND,
    PUFFS_VFS_SYNC,
    PUFFS_VFS_UNMOUNT,
    PUFFS_VFS_VPTOFH,
    PUFFS_VN_ACCESS,
    PUFFS_VN_ADVLOCK,
    PUFFS_VN_CLOSE,
    PUFFS_VN_CREATE,
    PUFFS_VN_FSYNC,
    PUFFS_VN_GETATTR,
    PUFFS_VN_INACTIVE,
    PUFFS_VN_LINK,
    PUFFS_VN_LOOKUP,
    PUFFS_VN_MAX,
    PUFFS_VN_MKDIR,
    PUFFS_VN_MKNOD,
    PUFFS_VN_MMAP,
    PUFFS_VN_NAMES,
    PUFFS_VN_OPEN,
    PUFFS_VN_PATHCONF,
    PUFFS_VN_POLL,
    PUFFS_VN_PRINT,
    PUFFS_VN_READ,
    PUFFS_VN_READDIR,
    PUFFS_VN_READLINK,
    PUFFS_VN_RECLAIM,
    PUFFS_VN_REMOVE,
    PUFFS_VN_RENAME,
    PUFFS_VN_REQ,
    PUFFS_VN_RMDIR,
    PUFFS_VN_SEEK,
    PUFFS_VN_SETATTR,
    PUFFS_VN_SYMLINK,
    PUFFS_VN_WRITE,
    PUFFSDEVELVERS,
    PUFFSNAMESIZE,
    PUFFSOP_ERROR,
    PUFFSOP_OPCMASK,
    PUFFSOP_VFS,
    PUFFSOP_VN,
    PUFFSOPFLAG_FAF,
    PUFFSVERSION,
    puffs_error,
    puffs_kargs,
    puffs_req,
    puffs_vnreq_getattr,
    puffs_vnreq_read,
    puffs_vnreq_readdir,
    puffs_vnreq_write,
)
from kern._lazy import lazy_module
from kern.errno import (
    E2BIG,
    EINTR,
    EINVAL,
    EIO,
    ERESTART,
)
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR, flock
from vfs.dirent import pack_dirent, vtype_to_dtype
from vfs.statvfs import statvfs

from . import _sys
from .channel import (
    HDR_OUT,
    HDR_OUT_OFF,
    HDR_RV,
    HDR_RV_OFF,
    HDRSIZE,
    Channel,
    DevPuffsChannel,
)
from .errors import KernelError, PuffsError
from .ops import Attr, ComponentName, Cred, Operations, StatvfsData, vnopmask

# Where GETATTR's fields lie in its frame (read and written without a view).
_GETATTR_SIZE = ctypes.sizeof(puffs_vnreq_getattr)
_GETATTR_CRED = puffs_vnreq_getattr.pvnr_cred.offset
_GETATTR_VA = puffs_vnreq_getattr.pvnr_va.offset
_GETATTR_PID_OFF = puffs_vnreq_getattr.pvnr_pid.offset
_GETATTR_PID = struct.Struct("=i")
assert puffs_vnreq_getattr.pvnr_pid.size == _GETATTR_PID.size

# libc is for a server on /dev/puffs in the machine; one in another OS process
# (remote.py) never calls it, and does not import it (see kern/_lazy.py).
if TYPE_CHECKING:
    from tools.lib import libc
else:
    libc = lazy_module("tools.lib.libc", globals(), "libc")

# libpuffs states
PUFFS_STATE_BEFOREMOUNT = 0
PUFFS_STATE_MOUNTING = 1
PUFFS_STATE_RUNNING = 2
PUFFS_STATE_UNMOUNTING = 3
PUFFS_STATE_UNMOUNTED = 4

# libpuffs-only flags (kept above the kernel's)
PUFFS_FLAG_OPDUMP = 0x40000000
PUFFS_FLAG_LIBMASK = 0xc0000000


def PUFFS_FLAG_KERN(x: int) -> int:
    return x & ~PUFFS_FLAG_LIBMASK & 0xffffffff


async def puffs_kernerr_log(server: PuffsServer, err: KernelError) -> None:
    """The default error callback (libpuffs' puffs_kernerr_log): one line
    where OPDUMP lines go (descriptor 2 of the server process)."""
    await server._say(f"puffs {server.mountpoint or ''}: {err}\n")


async def puffs_kernerr_abort(server: PuffsServer, err: KernelError) -> None:
    """libpuffs' puffs_kernerr_abort: the line, then the server ends its loop
    after the requests in hand (``loop_error`` holds the errno; ``serve``
    closes the device, which the kernel takes as a forced unmount; mainloop
    returns that errno, so a daemon's child exits 1, as abort() is a
    failure)."""
    await server._say(f"puffs {server.mountpoint or ''}: abort: {err}\n")
    server.loop_error = err.error
    server._terminate = True


class PuffsServer:
    """One puffs file system server (libpuffs' ``struct puffs_usermount``)."""

    #: how many of the kernel's error notifications ``kernel_errors`` keeps
    #: (the latest; ``kernel_errors_seen`` counts them all).  Set it on a
    #: server (or a subclass) to keep more or fewer; 0 keeps none.
    kernel_errors_kept = 100

    def __init__(self, ops: Operations, name: str | bytes = "puffs", *, flags: int = 0,
                 maxreqlen: int = 0, fhsize: int = 0, fhflags: int = 0,
                 nhashbuckets: int = 0, dev: str = "/dev/puffs") -> None:
        self.ops = ops
        self.name = name
        self.flags = flags
        self.dev = dev
        self.state = PUFFS_STATE_BEFOREMOUNT
        self.fd = -1
        self.channel: Channel | None = None
        self.kargs = puffs_kargs()
        self.kargs.pa_vers = PUFFSVERSION | PUFFSDEVELVERS
        self.kargs.pa_flags = PUFFS_FLAG_KERN(flags)
        self.kargs.pa_maxreqlen = maxreqlen
        raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
        self.kargs.pa_name = raw[:PUFFSNAMESIZE]  # a C string: the bytes as given
        self.kargs.pa_fhsize = fhsize
        self.kargs.pa_fhflags = fhflags
        self.kargs.pa_nhashbuckets = nhashbuckets
        for op in vnopmask(ops):
            if op < PUFFS_VN_MAX:
                self.kargs.pa_vnopmask[op] = 1
        self.errors: list[BaseException] = []  # bugs of the file system's handlers
        self.mountpoint: str | None = None
        self.loop_error = 0
        self._terminate = False
        self._pid = 0
        self.handled = 0
        #: where OPDUMP lines go (``async fn(line)``); None: the default
        self.dumpfn: Callable[[str], Awaitable[None]] | None = None
        #: what the kernel refused (PUFFSOP_ERROR notifications), oldest first:
        #: the last ``kernel_errors_kept`` of them
        self.kernel_errors: list[KernelError] = []
        #: every notification since the start, those dropped from the list too
        self.kernel_errors_seen = 0
        #: called with (server, KernelError) for each (puffs_set_errnotify)
        self.errnotify: Callable[[PuffsServer, KernelError], Awaitable[None]] = \
            puffs_kernerr_log

    # ---------------------------------------------------------------- setup

    @property
    def maxreqlen(self) -> int:
        """The request size the kernel granted (after mount)."""
        return self.kargs.pa_maxreqlen

    async def init(self, channel: Channel | None = None) -> None:
        """puffs_init: open the device (or take a ready channel)."""
        if channel is not None:
            self.channel = channel
            return
        try:
            self.fd = await libc.open(self.dev, O_RDWR)
        except SyscallError as e:
            raise PuffsError(e.errno, f"open {self.dev}: {e}") from None
        self.kargs.pa_fd = self.fd
        self.channel = DevPuffsChannel(self.fd)
        self._pid = self.channel.pid = await libc.getpid()

    async def mount(self, dir: str, mntflags: int = 0) -> None:
        """puffs_domount: mount(2) with our arguments; the file system is MOUNTING."""
        if self.channel is None:
            await self.init()
        assert self.channel is not None
        await self.channel.mount(self.kargs, dir, mntflags)
        self.mountpoint = dir
        self.state = PUFFS_STATE_MOUNTING

    async def start(self, root_cookie: int | None = None, sb: Any = None) -> None:
        """puffs_start: PUFFSSTARTOP with the root cookie and a statvfs image."""
        assert self.channel is not None
        if root_cookie is None:
            root_cookie = self.ops.root_cookie
        if sb is None:
            sb = statvfs()
            data = await self.ops.fs_statvfs(self._pid)
            if isinstance(data, StatvfsData):
                data.to_wire(sb)
        await self.channel.start(root_cookie, sb)
        self.state = PUFFS_STATE_RUNNING

    async def main(self, dir: str, mntflags: int = 0) -> int:
        """init (unless a channel was given), mount, start, mainloop, exit;
        returns mainloop's result."""
        if self.channel is None:
            await self.init()
        await self.mount(dir, mntflags)
        await self.start()
        return await self.serve()

    async def serve(self) -> int:
        """mainloop, then exit (also when the loop fails); mainloop's result."""
        try:
            return await self.mainloop()
        finally:
            await self.exit()

    async def forked(self) -> None:
        """In the process forked from the one that mounted (puffs_daemon):
        terminate()'s signal is for us now."""
        ch = self.channel
        if isinstance(ch, DevPuffsChannel):
            self._pid = ch.pid = await libc.getpid()

    async def exit(self) -> None:
        """puffs_exit: close the device.  For a mounted file system the kernel
        takes that as a forced unmount."""
        if self.channel is not None:
            await self.channel.close()
        self.fd = -1
        self.state = PUFFS_STATE_UNMOUNTED

    async def suspend(self) -> None:
        """puffs_fs_suspend: ask the kernel for a suspend/resume cycle."""
        assert self.channel is not None
        await self.channel.suspend()

    async def terminate(self) -> None:
        """Make mainloop return (from another lwp of the server process)."""
        self._terminate = True
        if self.channel is not None:
            await self.channel.interrupt()

    # ---------------------------------------------------------------- the loop

    async def mainloop(self) -> int:
        """GETOP, handle, PUTOP while RUNNING or UNMOUNTING.

        Returns 0 after a successful unmount, or the errno that ended the
        loop (ENXIO: the file system died, i.e. it was force-unmounted).
        """
        assert self.channel is not None
        ch = self.channel
        while self.state in (PUFFS_STATE_RUNNING, PUFFS_STATE_UNMOUNTING) and \
                not self._terminate:
            try:
                frames = await ch.get_requests()
            except PuffsError as e:
                if e.errno in (EINTR, ERESTART):
                    continue
                self.loop_error = e.errno
                return e.errno
            replies = []
            for frame in frames:
                reply = await self.dispatch(frame)
                if reply is not None:
                    replies.append(reply)
            try:
                await ch.put_replies(replies)
            except PuffsError as e:
                self.loop_error = e.errno
                return e.errno
        return self.loop_error  # 0, or what puffs_kernerr_abort ended the loop with

    async def dispatch(self, frame: bytearray) -> bytearray | None:
        """Handle one request frame in place; the reply, or None for a FAF."""
        # (the header's u.out fields unpacked, not a ctypes view of it: this
        # runs for every request)
        opclass, optype, cookie = HDR_OUT.unpack_from(frame, HDR_OUT_OFF)
        # (PUFFSOP_WANTREPLY and PUFFSOP_OPCLASS written out)
        wantreply = not opclass & PUFFSOPFLAG_FAF
        cls = opclass & PUFFSOP_OPCMASK
        self.handled += 1
        framelen = replylen = len(frame)
        try:
            if cls == PUFFSOP_VFS:
                t = PUFFS_VFS_REQ.get(optype)
                if t is None or len(frame) < ctypes.sizeof(t):
                    raise PuffsError(EINVAL)
                replylen = await self._vfsop(optype, frame, t.from_buffer(frame))
            elif cls == PUFFSOP_VN and optype == PUFFS_VN_GETATTR \
                    and framelen >= _GETATTR_SIZE:
                replylen = await self._getattr(cookie, frame)
            elif cls == PUFFSOP_VN:
                t = PUFFS_VN_REQ.get(optype)
                if t is None or len(frame) < ctypes.sizeof(t):
                    raise PuffsError(EINVAL)
                replylen = await self._vnop(optype, cookie, frame, t.from_buffer(frame))
            elif cls == PUFFSOP_ERROR and len(frame) >= ctypes.sizeof(puffs_error):
                perr = puffs_error.from_buffer(frame)
                err = KernelError(optype, perr.perr_error,
                                  perr.perr_str.decode("utf-8", "replace"), cookie)
                self._record_kernel_error(err)
                await self.errnotify(self, err)
            else:
                raise PuffsError(EINVAL)
            rv = 0
        except PuffsError as e:
            rv = e.errno
            replylen = _fixed_len(cls, optype, len(frame))
        except Exception as e:  # noqa: BLE001 - a handler bug must not stop the server
            self.errors.append(e)
            rv = EIO
            replylen = _fixed_len(cls, optype, len(frame))
        if self.flags & PUFFS_FLAG_OPDUMP:
            await self._dump(cls, optype, cookie, wantreply, frame, rv)
        if not wantreply:
            return None
        HDR_RV.pack_into(frame, HDR_RV_OFF, rv)  # preq_rv over opclass..: the u.in form
        if replylen >= framelen:
            return frame    # (the whole frame: no copy of it)
        return frame[:max(HDRSIZE, replylen)]

    def _record_kernel_error(self, err: KernelError) -> None:
        """Count ``err`` and keep it among the last ``kernel_errors_kept``."""
        self.kernel_errors_seen += 1
        kept = self.kernel_errors
        kept.append(err)
        over = len(kept) - max(0, self.kernel_errors_kept)
        if over > 0:
            del kept[:over]

    async def _dump(self, cls: int, optype: int, cookie: int, wantreply: int,
                    frame: bytearray, rv: int) -> None:
        """puffsdump_req/puffsdump_rv: one line per request."""
        hdr = puffs_req.from_buffer_copy(bytes(frame[:HDRSIZE]))
        names = {PUFFSOP_VFS: ("VFS", PUFFS_VFS_NAMES), PUFFSOP_VN: ("VN", PUFFS_VN_NAMES),
                 PUFFSOP_ERROR: ("ERROR", PUFFS_ERR_NAMES)}
        clsname, opnames = names.get(cls, ("UNKNOWN", ()))
        opname = opnames[optype] if 0 <= optype < len(opnames) else str(optype)
        line = (f"reqid: {hdr.preq_id}, opclass {cls} ({clsname}, "
                f"{'reply' if wantreply else 'FAF'}), optype: {opname}, "
                f"cookie: {cookie:#x}, rv: {rv}\n")
        await self._say(line)

    async def _say(self, line: str) -> None:
        """Write a line of the library's (OPDUMP, error reports): ``dumpfn``,
        or descriptor 2 of the server process."""
        fn = self.dumpfn
        if fn is None:
            if isinstance(self.channel, DevPuffsChannel):
                try:
                    await libc.write(2, line)
                except SyscallError:
                    pass
                return
            sys.stderr.write(line)
            sys.stderr.flush()
            return
        await fn(line)

    # ---------------------------------------------------------------- VFS ops

    async def _vfsop(self, optype: int, frame: bytearray, a: Any) -> int:
        ops = self.ops
        size = ctypes.sizeof(a)
        if optype == PUFFS_VFS_UNMOUNT:
            self.state = PUFFS_STATE_UNMOUNTING
            try:
                await ops.fs_unmount(a.pvfsr_flags, a.pvfsr_pid)
            except BaseException:
                self.state = PUFFS_STATE_RUNNING
                raise
            self.state = PUFFS_STATE_UNMOUNTED
        elif optype == PUFFS_VFS_STATVFS:
            data = await ops.fs_statvfs(a.pvfsr_pid)
            ctypes.memset(ctypes.addressof(a.pvfsr_sb), 0, ctypes.sizeof(a.pvfsr_sb))
            if isinstance(data, StatvfsData):
                data.to_wire(a.pvfsr_sb)
        elif optype == PUFFS_VFS_SYNC:
            await ops.fs_sync(a.pvfsr_waitfor, Cred.from_wire(a.pvfsr_cred), a.pvfsr_pid)
        elif optype == PUFFS_VFS_FHTOVP:
            n = min(a.pvfsr_dsize, len(frame) - size)
            info = await ops.fs_fhtonode(bytes(frame[size:size + n]))
            a.pvfsr_fhcookie = info.cookie
            a.pvfsr_vtype = info.vtype
            a.pvfsr_size = info.size
            a.pvfsr_rdev = info.rdev
            return size
        elif optype == PUFFS_VFS_VPTOFH:
            room = min(a.pvfsr_dsize, len(frame) - size)
            fh = bytes(await ops.fs_nodetofh(a.pvfsr_fhcookie or 0, room))
            a.pvfsr_dsize = len(fh)
            if len(fh) > room:
                raise PuffsError(E2BIG)
            frame[size:size + len(fh)] = fh
            return size + len(fh)
        elif optype == PUFFS_VFS_SUSPEND:
            await ops.fs_suspend(a.pvfsr_status)
        else:
            raise PuffsError(EINVAL)
        return size

    # ---------------------------------------------------------------- vnode ops

    async def _vnop(self, optype: int, cookie: int, frame: bytearray, a: Any) -> int:
        # (GETATTR never comes here: dispatch hands it to _getattr)
        ops = self.ops
        size = ctypes.sizeof(a)
        if optype == PUFFS_VN_LOOKUP:
            info = await ops.node_lookup(cookie, ComponentName.from_wire(a.pvnr_cn))
            a.pvnr_newnode = info.cookie
            a.pvnr_vtype = info.vtype
            a.pvnr_size = info.size
            a.pvnr_rdev = info.rdev
        elif optype in (PUFFS_VN_CREATE, PUFFS_VN_MKNOD, PUFFS_VN_MKDIR, PUFFS_VN_SYMLINK):
            cn = ComponentName.from_wire(a.pvnr_cn)
            attr = Attr.from_wire(a.pvnr_va)
            if optype == PUFFS_VN_CREATE:
                new = await ops.node_create(cookie, cn, attr)
            elif optype == PUFFS_VN_MKNOD:
                new = await ops.node_mknod(cookie, cn, attr)
            elif optype == PUFFS_VN_MKDIR:
                new = await ops.node_mkdir(cookie, cn, attr)
            else:
                target = bytes(a.pvnr_link).split(b"\0", 1)[0]
                new = await ops.node_symlink(cookie, cn, attr, target)
            a.pvnr_newnode = new or None
        elif optype == PUFFS_VN_OPEN:
            await ops.node_open(cookie, a.pvnr_mode, Cred.from_wire(a.pvnr_cred), a.pvnr_pid)
        elif optype == PUFFS_VN_CLOSE:
            await ops.node_close(cookie, a.pvnr_fflag, Cred.from_wire(a.pvnr_cred),
                                 a.pvnr_pid)
        elif optype == PUFFS_VN_ACCESS:
            await ops.node_access(cookie, a.pvnr_mode, Cred.from_wire(a.pvnr_cred),
                                  a.pvnr_pid)
        elif optype == PUFFS_VN_SETATTR:
            await ops.node_setattr(cookie, Attr.from_wire(a.pvnr_va),
                                   Cred.from_wire(a.pvnr_cred), a.pvnr_pid)
        elif optype == PUFFS_VN_READ:
            return await self._read(cookie, frame, a)
        elif optype == PUFFS_VN_WRITE:
            return await self._write(cookie, frame, a)
        elif optype == PUFFS_VN_FSYNC:
            await ops.node_fsync(cookie, Cred.from_wire(a.pvnr_cred), a.pvnr_flags,
                                 a.pvnr_offlo, a.pvnr_offhi, a.pvnr_pid)
        elif optype == PUFFS_VN_SEEK:
            await ops.node_seek(cookie, a.pvnr_oldoff, a.pvnr_newoff,
                                Cred.from_wire(a.pvnr_cred))
        elif optype == PUFFS_VN_REMOVE:
            await ops.node_remove(cookie, a.pvnr_cookie_targ or 0,
                                  ComponentName.from_wire(a.pvnr_cn))
        elif optype == PUFFS_VN_LINK:
            await ops.node_link(cookie, a.pvnr_cookie_targ or 0,
                                ComponentName.from_wire(a.pvnr_cn))
        elif optype == PUFFS_VN_RMDIR:
            await ops.node_rmdir(cookie, a.pvnr_cookie_targ or 0,
                                 ComponentName.from_wire(a.pvnr_cn))
        elif optype == PUFFS_VN_RENAME:
            await ops.node_rename(cookie, a.pvnr_cookie_src or 0,
                                  ComponentName.from_wire(a.pvnr_cn_src),
                                  a.pvnr_cookie_targdir or 0, a.pvnr_cookie_targ,
                                  ComponentName.from_wire(a.pvnr_cn_targ))
        elif optype == PUFFS_VN_READDIR:
            return await self._readdir(cookie, frame, a)
        elif optype == PUFFS_VN_READLINK:
            link = bytes(await ops.node_readlink(cookie, Cred.from_wire(a.pvnr_cred)))
            room = min(a.pvnr_linklen, type(a).pvnr_link.size)
            link = link[:room]
            off = type(a).pvnr_link.offset
            frame[off:off + len(link)] = link
            a.pvnr_linklen = len(link)
        elif optype == PUFFS_VN_INACTIVE:
            refs = await ops.node_inactive(cookie, a.pvnr_pid)
            a.pvnr_backendrefs = 1 if refs is None else int(refs)
        elif optype == PUFFS_VN_RECLAIM:
            await ops.node_reclaim(cookie, a.pvnr_pid)
        elif optype == PUFFS_VN_PRINT:
            await ops.node_print(cookie)
        elif optype == PUFFS_VN_PATHCONF:
            a.pvnr_retval = int(await ops.node_pathconf(cookie, a.pvnr_name))
        elif optype == PUFFS_VN_ADVLOCK:
            fl = flock.from_buffer_copy(bytes(a.pvnr_fl))
            await ops.node_advlock(cookie, a.pvnr_id or 0, a.pvnr_op, fl, a.pvnr_flags)
        elif optype == PUFFS_VN_MMAP:
            await ops.node_mmap(cookie, a.pvnr_fflags, Cred.from_wire(a.pvnr_cred),
                                a.pvnr_pid)
        elif optype == PUFFS_VN_POLL:
            a.pvnr_events = int(await ops.node_poll(cookie, a.pvnr_events, a.pvnr_pid))
        else:
            raise PuffsError(EINVAL)
        return size

    async def _getattr(self, cookie: int, frame: bytearray) -> int:
        """GETATTR, read and answered in the frame itself: the one request every
        stat and fstat makes, so without a ctypes view of it (one view costs
        more than the rest of the request's handling here)."""
        attr = await self.ops.node_getattr(cookie, Cred.from_frame(frame, _GETATTR_CRED),
                                           _GETATTR_PID.unpack_from(frame, _GETATTR_PID_OFF)[0])
        attr.to_frame(frame, _GETATTR_VA)
        return _GETATTR_SIZE

    async def _read(self, cookie: int, frame: bytearray, a: Any) -> int:
        size = ctypes.sizeof(puffs_vnreq_read)
        want = min(a.pvnr_resid, len(frame) - size)
        data = bytes(await self.ops.node_read(cookie, a.pvnr_offset, want,
                                              Cred.from_wire(a.pvnr_cred), a.pvnr_ioflag))
        if len(data) > want:
            raise RuntimeError(f"node_read returned {len(data)} bytes, {want} were asked for")
        frame[size:size + len(data)] = data
        a.pvnr_resid = a.pvnr_resid - len(data)
        return size + len(data)

    async def _write(self, cookie: int, frame: bytearray, a: Any) -> int:
        size = ctypes.sizeof(puffs_vnreq_write)
        n = min(a.pvnr_resid, len(frame) - size)
        data = bytes(frame[size:size + n])
        done = await self.ops.node_write(cookie, a.pvnr_offset, data,
                                         Cred.from_wire(a.pvnr_cred), a.pvnr_ioflag)
        done = len(data) if done is None else int(done)
        a.pvnr_resid = max(0, a.pvnr_resid - done)
        return size

    async def _readdir(self, cookie: int, frame: bytearray, a: Any) -> int:
        size = ctypes.sizeof(puffs_vnreq_readdir)
        dentoff = a.pvnr_dentoff
        room = min(a.pvnr_resid, max(0, len(frame) - size - dentoff))
        ncookies = a.pvnr_ncookies
        entries = await self.ops.node_readdir(cookie, a.pvnr_offset,
                                              Cred.from_wire(a.pvnr_cred))
        out = bytearray()
        cookies: list[int] = []
        eof = True
        offset = a.pvnr_offset
        async for ent in _aiter(entries):
            rec = pack_dirent(ent.fileno, ent.name, vtype_to_dtype(ent.vtype))
            if len(out) + len(rec) > room or (ncookies and len(cookies) >= ncookies):
                eof = False
                break
            out += rec
            offset = ent.next
            if ncookies:
                cookies.append(ent.next)
        pos = size + dentoff
        frame[pos:pos + len(out)] = out
        for i, c in enumerate(cookies):
            frame[size + 8 * i:size + 8 * (i + 1)] = int(c).to_bytes(8, "little", signed=True)
        a.pvnr_resid = a.pvnr_resid - len(out)
        a.pvnr_offset = offset
        a.pvnr_eofflag = 1 if eof else 0
        a.pvnr_ncookies = len(cookies)
        return pos + len(out)


def _fixed_len(cls: int, optype: int, framelen: int) -> int:
    """How much of a failed request goes back: the bare request struct."""
    t = (PUFFS_VFS_REQ if cls == PUFFSOP_VFS else PUFFS_VN_REQ).get(optype) \
        if cls in (PUFFSOP_VFS, PUFFSOP_VN) else None
    if t is None:
        return min(framelen, HDRSIZE)
    return min(framelen, ctypes.sizeof(t))


async def _aiter(entries: Any) -> Any:
    if hasattr(entries, "__aiter__"):
        async for e in entries:
            yield e
    else:
        for e in entries:
            yield e


async def daemon(afn: Callable[..., Awaitable[Any]], *args: Any, name: str = "puffsd",
                 errors: list[BaseException] | None = None) -> Any:
    """Start ``afn(*args)`` in a new lwp of the calling process and return
    at once (daemon(3) for a kemu test: ``k.run(daemon, server.main, "/mnt")``)."""
    return _sys.lwp_create(afn, *args, name=name, errors=errors)


async def puffs_daemon(server: Any, dir: str, mntflags: int = 0) -> int:
    """Mount and start ``server`` from the calling process, then serve it from
    a daemon process forked from it; returns the daemon's pid.

    ``server`` is a :class:`PuffsServer` or a
    :class:`tools.lib.libpuffs.remote.RemoteServer` (anything with ``init``,
    ``mount``, ``start``, ``fd``, ``forked``, ``serve`` and ``exit``).  This
    is 2007's puffs_mount + puffs_start + daemon(3): fork(2) makes the
    daemon (it shares the /dev/puffs file), which serves until the file
    system is unmounted or dead and then exits; the caller's descriptor is
    closed before this returns, so the daemon's end is the file system's.
    A failure before the fork raises ``PuffsError`` and leaves nothing
    behind.
    """
    try:
        await server.init()
        await server.mount(dir, mntflags)
        await server.start()
    except Exception:
        await server.exit()
        raise
    except BaseException:
        abandon = getattr(server, "abandon", None)
        if abandon is not None:
            abandon()
        raise
    return await puffs_detach(server)


async def puffs_detach(server: Any, cleanup: Callable[[], Any] | None = None) -> int:
    """daemon(3) for a started server: fork(2) a child that serves until the
    file system is gone, then calls ``cleanup`` (if given) and exits; close
    our copy of the device.  The child's pid."""

    async def child() -> int:
        await server.forked()
        try:
            rv = await server.serve()
        finally:
            if cleanup is not None:
                cleanup()
        return 0 if rv == 0 else 1

    pid = await libc.fork(child)
    try:
        await libc.close(server.fd)
    except SyscallError:
        pass
    return pid
