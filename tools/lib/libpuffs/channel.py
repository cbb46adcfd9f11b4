"""The channel between a puffs server and the kernel.

A server (lib/libpuffs/server.py) needs only this from its transport:

* ``await get_requests()`` -> a list of request frames.  A frame is a
  ``bytearray`` holding one request as the kernel wrote it (``struct
  puffs_req`` first), padded to its slot length (``preq_buflen``), which
  includes the room the reply may use.  It blocks until there is at least
  one request; it raises ``PuffsError(ENXIO)`` when the file system is
  gone.
* ``await put_replies(replies)``: hand back replies.  A reply is a
  ``bytes``-like object that starts with a ``struct puffs_req`` whose
  ``preq_id`` is the id of the request it answers and whose ``preq_rv`` is
  the result; the rest is the request struct as the server rewrote it, cut
  to the length the kernel should copy back.  FAF requests get no reply.
* ``await mount(kargs, dir, mntflags)``: mount(2) with the server's
  argument block; the kernel's adjustments (the granted ``pa_maxreqlen``,
  the name) come back in ``kargs``.  Raises ``PuffsError`` on failure.
* ``await start(cookie, statvfs)``, ``await suspend()``,
  ``await flush(cookie, op, start, end)``: the control operations
  (PUFFSSTARTOP, PUFFSSUSPENDOP, PUFFSFLUSHOP), ``await interrupt()``
  (make a blocked ``get_requests`` raise EINTR), and ``await close()``.

``DevPuffsChannel`` is the transport on a /dev/puffs descriptor (GETOP and
PUTOP batches through ioctl(2)).  ``tools.lib.libpuffs.remote.SocketChannel`` is
the transport of a server running in another OS process: it implements
the same interface over a socket, while a frame-shoveling ``RemoteServer``
in the kernel's process calls ``get_requests`` and ``put_replies`` of a
DevPuffsChannel and ships the frames (the model of NetBSD's
tests/fs/common/fstest_puffs.c read/write shovels).

Every channel counts the requests it hands to the server by operation, as
the rump tests' ``pta_vfs_toserv_ops``/``pta_vn_toserv_ops`` do.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING, Any

from fs.puffs.puffs_msgif_h import (
    ALIGN,
    PUFFS_REQ_MAXSIZE,
    PUFFSFLUSHOP,
    PUFFSGETOP,
    PUFFSOP_CACHE,
    PUFFSOP_OPCLASS,
    PUFFSOP_VFS,
    PUFFSOP_VN,
    PUFFSPUTOP,
    PUFFSSTARTOP,
    PUFFSSUSPENDOP,
    puffs_flush,
    puffs_kargs,
    puffs_req,
    puffs_reqh_get,
    puffs_reqh_put,
    puffs_startreq,
    wire_struct,
)
from kern._lazy import lazy_module
from kern.errno import E2BIG
from kern.exceptions import SyscallError

from .errors import PuffsError

# Only DevPuffsChannel calls libc: imported at its first use, so a server in
# another OS process (remote.py), which uses Channel alone, does not load the
# system-call layer, the kernel core and trio with it.
if TYPE_CHECKING:
    from tools.lib import libc
else:
    libc = lazy_module("tools.lib.libc", globals(), "libc")

HDRSIZE = ctypes.sizeof(puffs_req)
# Byte offsets in a frame's header: the u.out bytes and the 64-bit words.
_OPCLASS = puffs_req.preq_opclass.offset
_OPTYPE = puffs_req.preq_optype.offset
_ID = puffs_req.preq_id.offset
_BUFLEN = puffs_req.preq_buflen.offset
_NEXTBUF = puffs_req.preq_nextbuf.offset
_COOKIE = puffs_req.preq_cookie.offset
#: the u.out form a request comes in (opclass, optype, cookie: a pointer), at
#: HDR_OUT_OFF, and the u.in form's preq_rv (the reply's errno), at HDR_RV_OFF
HDR_OUT = struct.Struct("@BBxxxxxxP")
HDR_RV = struct.Struct("@i")
HDR_OUT_OFF = _OPCLASS
HDR_RV_OFF = puffs_req.preq_rv.offset
assert HDR_OUT.size == _COOKIE + ctypes.sizeof(ctypes.c_void_p) - _OPCLASS


_U64 = struct.Struct("<Q")   # a header's 64-bit word (id, buflen, nextbuf)


# PUFFSGETOP's and PUFFSPUTOP's argument blocks, as the server's memory holds them.
_PHG = wire_struct(puffs_reqh_get)
_PHP = wire_struct(puffs_reqh_put)
_PHP_OFF = ALIGN(_PHG.size)
_ARGS = ALIGN(_PHP_OFF + _PHP.size)     # where the get buffer starts in the mapping


def frame_header(frame: Any) -> puffs_req:
    """The ``struct puffs_req`` at the head of a frame (a copy)."""
    return puffs_req.from_buffer_copy(bytes(frame[:HDRSIZE]))


def make_startreq(cookie: int, sb: Any) -> puffs_startreq:
    """The PUFFSSTARTOP argument: the root cookie and a statvfs image (or zeros)."""
    psr = puffs_startreq()
    psr.psr_cookie = cookie
    if sb is not None:
        ctypes.memmove(ctypes.addressof(psr.psr_sb), ctypes.addressof(sb),
                       ctypes.sizeof(psr.psr_sb))
    return psr


class Channel:
    """The interface a server loop uses; subclasses implement the transport."""

    def __init__(self) -> None:
        self.toserv_vfs_ops = [0] * 32
        self.toserv_vn_ops = [0] * 64
        self.toserv_cache_ops = [0] * 8
        self.frames_in = 0
        self.replies_out = 0

    def count(self, frame: Any) -> None:
        """Count one request on its way to the server."""
        opclass = PUFFSOP_OPCLASS(frame[_OPCLASS])
        optype = frame[_OPTYPE]
        table = (self.toserv_vfs_ops if opclass == PUFFSOP_VFS else
                 self.toserv_vn_ops if opclass == PUFFSOP_VN else
                 self.toserv_cache_ops if opclass == PUFFSOP_CACHE else None)
        if table is not None and optype < len(table):
            table[optype] += 1
        self.frames_in += 1

    async def mount(self, kargs: puffs_kargs, dir: str, mntflags: int) -> None:
        raise NotImplementedError

    async def get_requests(self) -> list[bytearray]:
        raise NotImplementedError

    async def put_replies(self, replies: list[Any]) -> None:
        raise NotImplementedError

    async def interrupt(self) -> None:
        """Make a ``get_requests`` that waits raise ``PuffsError(EINTR)``."""

    async def start(self, cookie: int, sb: Any) -> None:
        raise NotImplementedError

    async def suspend(self) -> None:
        raise NotImplementedError

    async def flush(self, cookie: int, op: int, start: int = 0, end: int = 0) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def _errno(e: SyscallError) -> PuffsError:
    return PuffsError(e.errno, str(e))


class DevPuffsChannel(Channel):
    """The channel on a /dev/puffs descriptor: GETOP/PUTOP through ioctl(2).

    The get buffer starts at the granted ``maxreqlen`` and doubles (up to
    ``maxbuf``) when the kernel says a request does not fit (E2BIG).

    One mapping of the server's memory, made at the first GETOP (in the
    process that serves), holds the ioctl argument blocks, the get buffer
    and a put buffer of the same size.  A C server keeps its puffs_reqh_get
    and puffs_reqh_put on its stack and passes their addresses; the loop
    here packs and unpacks them in place, where the kernel copies them in
    and back out.  (One mapping, not three: the copies of a round trip then
    all land in the mapping the address space looked up last.)  Replies
    that need more room than the put buffer get a mapping of their own.
    """

    def __init__(self, fd: int, bufsize: int = PUFFS_REQ_MAXSIZE,
                 maxbuf: int = 16 * PUFFS_REQ_MAXSIZE) -> None:
        super().__init__()
        self.fd = fd
        self.pid = 0       # the server process, for interrupt() (SIGUSR2)
        self.bufsize = max(int(bufsize), HDRSIZE)
        self.maxbuf = maxbuf
        self.map: libc.UserMapping | None = None   # argument blocks, get buffer, put buffer
        self.ownput: libc.UserMapping | None = None  # the put buffer, once replies outgrew it
        self.putsize = 0
        self.maxops = 0  # phg_nops: 0 is "no limit"

    @staticmethod
    def _unmap(m: libc.UserMapping | None) -> None:
        if m is not None:
            try:
                m.free()
            except SyscallError:
                pass

    async def mount(self, kargs: puffs_kargs, dir: str, mntflags: int) -> None:
        from vfs.mount import MOUNT_PUFFS

        kargs.pa_fd = self.fd
        try:
            await libc.mount(MOUNT_PUFFS, dir, mntflags, kargs)
        except SyscallError as e:
            raise PuffsError(e.errno, f"mount {dir}: {e}") from None
        if self.map is None:
            self.bufsize = max(kargs.pa_maxreqlen, HDRSIZE)  # one request always fits

    async def interrupt(self) -> None:
        from kern.kern_sig import SIGUSR2

        if self.pid:
            await libc.kill(self.pid, SIGUSR2)

    def _map(self) -> libc.UserMapping:
        m = self.map = libc.UserMapping(_ARGS + 2 * self.bufsize)
        if self.ownput is None:
            self.putsize = self.bufsize
        return m

    async def get_requests(self) -> list[bytearray]:
        while True:
            m = self.map or self._map()
            mem = m.mem()
            _PHG.pack_into(mem, 0, m.addr + _ARGS, self.bufsize, self.maxops, 0)
            try:
                # ioctl(2) with a pointer argument is the trap itself: issued
                # here without libc.ioctl's coroutine, which would be one
                # more level for every resume of this sleeping call
                await libc.syscall(libc.SYS_ioctl, self.fd, PUFFSGETOP, m.addr)
            except SyscallError as e:
                if e.errno == E2BIG and self.bufsize < self.maxbuf:
                    self._unmap(m)
                    self.map = None
                    if self.ownput is None:
                        self.putsize = 0
                    self.bufsize *= 2
                    continue
                raise _errno(e) from None
            break
        # (the memory again: the call may have forked or ended this process)
        mem = m.mem()
        _, _, nops, _ = _PHG.unpack_from(mem, 0)
        # A frame per request, each one copy out of the get buffer.
        frames = []
        pos = _ARGS
        for _ in range(nops):
            n = _U64.unpack_from(mem, pos + _BUFLEN)[0]
            frame = bytearray(mem[pos:pos + n])
            self.count(frame)
            frames.append(frame)
            pos += n
        return frames

    async def put_replies(self, replies: list[Any]) -> None:
        if not replies:
            return
        need = 0
        for r in replies:
            need += ALIGN(len(r))
        m = self.map or self._map()
        if need > self.putsize:
            self._unmap(self.ownput)
            self.putsize = max(need, self.bufsize)
            self.ownput = libc.UserMapping(self.putsize)
        args = m.mem()
        if self.ownput is None:
            mem, start = args, _ARGS + self.bufsize
            putbuf = m.addr + start
        else:
            mem, start = self.ownput.mem(), 0
            putbuf = self.ownput.addr
        # Each reply's header describes the next one (id, length, address):
        # the kernel follows that chain.  The chain is written into the copy
        # in user memory; the first reply is described by the put header.
        pos = start
        nxt = len(replies) - 1
        for k, r in enumerate(replies):
            n = len(r)
            mem[pos:pos + n] = r
            if k < nxt:
                link = pos + ALIGN(n)
                nr = replies[k + 1]
                mem[pos + _ID:pos + _ID + 8] = nr[_ID:_ID + 8]
                _U64.pack_into(mem, pos + _BUFLEN, len(nr))
                _U64.pack_into(mem, pos + _NEXTBUF, putbuf + (link - start))
                pos = link
        _PHP.pack_into(args, _PHP_OFF, len(replies), _U64.unpack_from(replies[0], _ID)[0],
                       putbuf, len(replies[0]))
        try:   # (the trap itself, as GETOP's)
            await libc.syscall(libc.SYS_ioctl, self.fd, PUFFSPUTOP, m.addr + _PHP_OFF)
        except SyscallError as e:
            raise _errno(e) from None
        self.replies_out += len(replies)

    async def _ioctl(self, cmd: int, arg: Any) -> None:
        try:
            await libc.ioctl(self.fd, cmd, arg)
        except SyscallError as e:
            raise _errno(e) from None

    async def start(self, cookie: int, sb: Any) -> None:
        await self._ioctl(PUFFSSTARTOP, make_startreq(cookie, sb))

    async def suspend(self) -> None:
        await self._ioctl(PUFFSSUSPENDOP, 0)

    async def flush(self, cookie: int, op: int, start: int = 0, end: int = 0) -> None:
        await self._ioctl(PUFFSFLUSHOP, puffs_flush(pf_cookie=cookie, pf_op=op,
                                                    pf_start=start, pf_end=end))

    async def close(self) -> None:
        self._unmap(self.map)
        self._unmap(self.ownput)
        self.map = self.ownput = None
        self.putsize = 0
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            try:
                await libc.close(fd)
            except SyscallError as e:
                raise _errno(e) from None

