"""A puffs server in another OS process, connected to the kernel over a socket.

The same server class (an :class:`~tools.lib.libpuffs.ops.Operations` subclass
run by :class:`~tools.lib.libpuffs.server.PuffsServer`) runs either inside the
machine, on a /dev/puffs descriptor, or in a separate host process, on a
:class:`SocketChannel`.  In the second case a :class:`RemoteServer` in the
machine stands in for it, the way NetBSD's rump tests
(tests/fs/common/fstest_puffs.c) shovel frames between the rump kernel and
a forked h_dtfs:

* ``init``: start the server process (``python -m tools.lib.libpuffs.remote``;
  forked, with that command line, from the process's fork server when it can
  be: tools/lib/libpuffs/forkserver.py) on one end of a socketpair, and open
  /dev/puffs.  The process that
  mounts must be the one that opened the device (puffs_setpmp matches by
  pid), so the RemoteServer's process does both.
* ``mount``: the server sends its mount arguments (HELLO: its
  ``puffs_kargs``, with the op mask of its class); the RemoteServer mounts
  with them and sends back the kernel's adjusted copy (MOUNTED).
* ``start``: the server's PUFFSSTARTOP (root cookie, statvfs) arrives as a
  control message and is done on the device.
* ``serve``: two lwps.  The *down* shovel loops on GETOP and sends each
  batch of requests (REQS); the *up* shovel reads the server's messages:
  the replies to a batch (REPLIES, one message per batch, empty when the
  batch held only FAFs) go to the kernel with PUTOP, control requests
  (START, SUSPEND, FLUSH) are done on the device and answered (CTLREPLY),
  and the server's OPDUMP lines (mount option "dump") are written on the
  RemoteServer's descriptor 2, as an in-machine server would write them.
  When GETOP fails (the file system was unmounted or force-unmounted) the
  server is told (GONE) and is expected to exit.  When the server's end
  of the socket closes without a successful unmount -- the process died
  or was killed -- the RemoteServer closes /dev/puffs: to the kernel that
  is the server's death (callers get ENXIO, the mount is force-unmounted).

Every wait of the shovels on the socket, the server process or each
other is inside the machine's ``external_wait()``: the lwp gives the
machine's CPU away for it and queues for it again afterwards (the timing of
the server process stays outside the machine's decision stream, so runs
with a remote server replay only up to it).  While the kernel waits for the
server (a batch is out, or the server is expected to go away), the shovels
hold ``awaiting_outside()``, so the deadlock detector knows the kernel waits
on the outside world, and virtual time stands still.  While no batch is
out, nothing is held: a kernel whose every lwp sleeps is quiescent
(``k.run`` returns) even though the up shovel still listens to the socket
(its wait is ``pending=False``).

The server process exits when its file system is gone, and when the socket
closes under it (the machine's process died, or the machine halted): it
never outlives its kernel.  It runs in a session of its own, so the
terminal's signals go to the machine's process only.  The process that
serves (``serve``) has PK_HOSTCHILD until it has reaped the server process
(``Machine.hostchild_hold``): the halt, which stops every other user
process at its next return to user mode (``suspendsched``), leaves it
running to see the server go.

Wire format: every message is a header ``<IHH`` (payload length, type,
argument) and the payload.  REQS and REPLIES carry frames, each a ``<I``
length and the frame's bytes (a frame is a request as GETOP gave it, or a
reply as PUTOP takes it).

The server process's entry point::

    python -m tools.lib.libpuffs.remote --fd N [--name NAME] [--flags F] [--fhsize N]
        [--fhflags N] [--maxreqlen N] [--nhashbuckets N] [--args JSON-LIST]
        MODULE:CLASS [JSON-KWARGS]

builds ``CLASS(*args, **kwargs)`` and serves it on descriptor N.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from fs.puffs.puffs_msgif_h import (
    PUFFS_VFS_UNMOUNT,
    PUFFSOP_OPCLASS,
    PUFFSOP_VFS,
    puffs_flush,
    puffs_kargs,
    puffs_startreq,
)
from kern._lazy import lazy_module
from kern.cpu import curlwp, curmachine
from kern.errno import EBADF, EINTR, EINVAL, EIO, ENXIO, ERESTART, strerror
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR
from kern.machine import HOST_SIGNALS

from . import _sys
from .channel import HDRSIZE, Channel, DevPuffsChannel, frame_header, make_startreq
from .errors import PuffsError
from .server import (
    PUFFS_STATE_BEFOREMOUNT,
    PUFFS_STATE_MOUNTING,
    PUFFS_STATE_RUNNING,
    PUFFS_STATE_UNMOUNTED,
    PuffsServer,
)

# libc is the kernel's side's (RemoteServer); the server process never calls
# it, and does not import it (kern/_lazy.py).
if TYPE_CHECKING:
    from tools.lib import libc

    from .forkserver import ServerProcess
else:
    libc = lazy_module("tools.lib.libc", globals(), "libc")

PROTOCOL_VERSION = 1

MSG = struct.Struct("<IHH")          # payload length, type, argument
FRAMELEN = struct.Struct("<I")
MAX_PAYLOAD = 256 << 20              # a longer message is a protocol error

# message types
T_HELLO = 1      # server -> kernel: its puffs_kargs (arg: protocol version)
T_MOUNTED = 2    # kernel -> server: arg errno; payload the adjusted kargs + mount point
T_REQS = 3       # kernel -> server: arg nframes; a GETOP batch
T_REPLIES = 4    # server -> kernel: arg nframes; the replies to one batch
T_CTL = 5        # server -> kernel: arg CTL_*; a control request
T_CTLREPLY = 6   # kernel -> server: arg errno
T_GONE = 7       # kernel -> server: arg errno; GETOP failed, the file system is gone
T_BYE = 8        # server -> kernel: JSON statistics; the server is going away
T_DUMP = 9       # server -> kernel: a line of PUFFS_FLAG_OPDUMP output, for descriptor 2

CTL_START = 1
CTL_SUSPEND = 2
CTL_FLUSH = 3

#: how long the server process waits for its main loop after the socket closed
EOF_GRACE = 2.0

#: in the server process: the PuffsServer it runs (for file system code that
#: wants its server, e.g. to call ``suspend()`` or ``channel.flush()``)
CURRENT: PuffsServer | None = None

ROOT = Path(__file__).resolve().parents[3]


# ------------------------------------------------------------------ the wire

def pack_frames(frames: list[Any]) -> bytes:
    """Frames as one payload: each a ``<I`` length and its bytes."""
    out = bytearray()
    for f in frames:
        out += FRAMELEN.pack(len(f))
        out += f
    return bytes(out)


def unpack_frames(payload: bytes | bytearray, n: int) -> list[bytearray]:
    """The ``n`` frames of a payload (ValueError when it does not hold them)."""
    frames = []
    pos = 0
    view = memoryview(payload)
    for _ in range(n):
        if pos + FRAMELEN.size > len(view):
            raise ValueError("truncated frame list")
        (ln,) = FRAMELEN.unpack_from(view, pos)
        pos += FRAMELEN.size
        if pos + ln > len(view):
            raise ValueError("truncated frame")
        frames.append(bytearray(view[pos:pos + ln]))
        pos += ln
    if pos != len(view):
        raise ValueError("trailing bytes after the frames")
    return frames


async def _recv_exactly(sock: trio.socket.SocketType, n: int) -> bytearray | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = await sock.recv_into(view[got:], n - got)
        if k == 0:
            return None
        got += k
    return buf


async def recv_msg(sock: trio.socket.SocketType) -> tuple[int, int, bytearray] | None:
    """One message ``(type, arg, payload)``; None at the end of the stream."""
    hdr = await _recv_exactly(sock, MSG.size)
    if hdr is None:
        return None
    length, t, arg = MSG.unpack(hdr)
    if length > MAX_PAYLOAD:
        raise OSError(EIO, f"puffs remote: message of {length} bytes")
    payload = await _recv_exactly(sock, length) if length else bytearray()
    if payload is None:
        return None
    return t, arg, payload


async def send_msg(sock: trio.socket.SocketType, t: int, arg: int = 0,
                   payload: bytes = b"") -> None:
    """Send one message (all of it)."""
    data = memoryview(MSG.pack(len(payload), t, arg & 0xffff) + payload)
    while data:
        n = await sock.send(data)
        data = data[n:]


def _errno16(e: int) -> int:
    return e if 0 <= e <= 0xffff else EIO


# ------------------------------------------------------------------ the server's side

class SocketChannel(Channel):
    """The channel of a server in another OS process: a socket to the kernel's
    process, where a :class:`RemoteServer` shovels the frames.

    ``reader()`` must run (in a nursery of the server process) for the
    channel to work: it reads every message as it comes, so the kernel's
    side never blocks on a full socket.  ``stats`` is called at ``close`` for
    the statistics sent with BYE.
    """

    def __init__(self, sock: trio.socket.SocketType) -> None:
        super().__init__()
        self.sock = sock
        self.mountpoint = ""
        self.eof = trio.Event()
        self.stats: Any = None
        self._send_lock = trio.Lock()
        self._reqs_tx, self._reqs_rx = trio.open_memory_channel[tuple[str, Any]](math.inf)
        self._ctl_tx, self._ctl_rx = trio.open_memory_channel[tuple[int, int, bytearray]](
            math.inf)
        self._closed = False

    async def reader(self) -> None:
        """Read the kernel side's messages until the socket closes."""
        try:
            while True:
                msg = await recv_msg(self.sock)
                if msg is None:
                    break
                t, arg, payload = msg
                if t == T_REQS:
                    self._reqs_tx.send_nowait(("reqs", unpack_frames(payload, arg)))
                elif t == T_GONE:
                    self._reqs_tx.send_nowait(("gone", arg))
                elif t in (T_MOUNTED, T_CTLREPLY):
                    self._ctl_tx.send_nowait((t, arg, payload))
                else:
                    break   # not our protocol: as if the kernel went away
        except (OSError, ValueError, trio.ClosedResourceError, trio.BrokenResourceError):
            pass
        finally:
            self.eof.set()
            self._reqs_tx.close()
            self._ctl_tx.close()

    async def _send(self, t: int, arg: int = 0, payload: bytes = b"") -> None:
        try:
            async with self._send_lock:
                await send_msg(self.sock, t, arg, payload)
        except (OSError, trio.ClosedResourceError, trio.BrokenResourceError):
            raise PuffsError(ENXIO, "the kernel side is gone") from None

    async def _ctl_reply(self, want: int) -> tuple[int, bytearray]:
        try:
            t, arg, payload = await self._ctl_rx.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise PuffsError(ENXIO, "the kernel side is gone") from None
        if t != want:
            raise PuffsError(EIO, f"puffs remote: message {t} instead of {want}")
        return arg, payload

    async def mount(self, kargs: puffs_kargs, dir: str, mntflags: int) -> None:
        """HELLO with our arguments; the kernel side mounts and answers MOUNTED."""
        await self._send(T_HELLO, PROTOCOL_VERSION, bytes(kargs))
        error, payload = await self._ctl_reply(T_MOUNTED)
        if error:
            raise PuffsError(error, f"mount: {strerror(error)}")
        n = ctypes.sizeof(kargs)
        ctypes.memmove(ctypes.addressof(kargs), bytes(payload[:n]).ljust(n, b"\0"), n)
        self.mountpoint = bytes(payload[n:]).decode("utf-8", "surrogateescape")

    async def get_requests(self) -> list[bytearray]:
        try:
            kind, what = await self._reqs_rx.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise PuffsError(ENXIO, "the kernel side is gone") from None
        if kind != "reqs":
            raise PuffsError(what)
        for f in what:
            self.count(f)
        return what

    async def put_replies(self, replies: list[Any]) -> None:
        # Always answer: one REPLIES per REQS, empty for a batch of FAFs.
        await self._send(T_REPLIES, len(replies), pack_frames(replies))
        self.replies_out += len(replies)

    async def interrupt(self) -> None:
        if not self._closed:
            self._reqs_tx.send_nowait(("intr", EINTR))

    async def dump(self, line: str) -> None:
        """An OPDUMP line, written by the kernel side on its descriptor 2."""
        await self._send(T_DUMP, 0, line.encode("utf-8", "surrogateescape"))

    async def _ctl(self, op: int, payload: bytes = b"") -> None:
        await self._send(T_CTL, op, payload)
        error, _ = await self._ctl_reply(T_CTLREPLY)
        if error:
            raise PuffsError(error)

    async def start(self, cookie: int, sb: Any) -> None:
        await self._ctl(CTL_START, bytes(make_startreq(cookie, sb)))

    async def suspend(self) -> None:
        await self._ctl(CTL_SUSPEND)

    async def flush(self, cookie: int, op: int, start: int = 0, end: int = 0) -> None:
        pf = puffs_flush(pf_cookie=cookie, pf_op=op, pf_start=start, pf_end=end)
        await self._ctl(CTL_FLUSH, bytes(pf))

    async def close(self) -> None:
        """BYE with the statistics, then close the socket (the kernel side
        takes it as the server's end)."""
        if self._closed:
            return
        self._closed = True
        stats = self.stats() if callable(self.stats) else {}
        try:
            with trio.move_on_after(5):
                await self._send(T_BYE, 0, json.dumps(stats).encode())
        except PuffsError:
            pass
        self.sock.close()


def server_stats(server: Any) -> dict[str, Any]:
    """What the server process reports at its end (BYE)."""
    ch = server.channel
    suspends = getattr(server.ops, "suspends", None)
    return {
        "state": server.state, "loop_error": server.loop_error, "handled": server.handled,
        "errors": [repr(e) for e in server.errors],
        "kernel_errors": [str(e) for e in server.kernel_errors],
        "kernel_errors_seen": server.kernel_errors_seen,
        "suspends": list(suspends) if isinstance(suspends, list) else None,
        "toserv_vfs_ops": list(ch.toserv_vfs_ops), "toserv_vn_ops": list(ch.toserv_vn_ops),
        "frames_in": ch.frames_in, "replies_out": ch.replies_out,
    }


def load_ops(spec: str, kwargs: dict[str, Any] | None = None,
             args: list[Any] | None = None) -> Any:
    """``module:Class`` (or ``module:factory``) called with ``args`` and ``kwargs``."""
    modname, _, attr = spec.partition(":")
    if not modname or not attr:
        raise ValueError(f"{spec}: want module:Class")
    obj = getattr(importlib.import_module(modname), attr)
    return obj(*(args or ()), **(kwargs or {}))


async def serve_socket(sock: trio.socket.SocketType, ops: Any, name: str = "puffs",
                       **server_kw: Any) -> int:
    """Run ``ops`` as a puffs server over ``sock`` (the server process's main).

    Returns the main loop's result: 0 after a successful unmount, an errno
    when the file system or the kernel's side went away.
    """
    global CURRENT

    server = CURRENT = PuffsServer(ops, name, **server_kw)
    ch = SocketChannel(sock)
    ch.stats = lambda: server_stats(server)
    server.dumpfn = ch.dump
    rv = EIO
    async with trio.open_nursery() as n:
        n.start_soon(ch.reader)

        async def watchdog() -> None:
            # The kernel's side is gone: give the loop a moment to notice
            # (GETOP fails with ENXIO), then stop whatever it is stuck in.
            await ch.eof.wait()
            await trio.sleep(EOF_GRACE)
            n.cancel_scope.cancel()

        n.start_soon(watchdog)
        try:
            await server.init(ch)
            await server.mount("")
            server.mountpoint = ch.mountpoint
            await server.start()
            rv = await server.serve()
        except PuffsError as e:
            rv = e.errno
        finally:
            with trio.CancelScope(shield=True):
                await ch.close()
            n.cancel_scope.cancel()
    return rv


def main(argv: list[str] | None = None) -> int:
    """The server process: ``python -m tools.lib.libpuffs.remote --fd N MODULE:CLASS [JSON]``."""
    ap = argparse.ArgumentParser(prog="python -m tools.lib.libpuffs.remote",
                                 description="a puffs server on a socket to a kemu machine")
    ap.add_argument("--fd", type=int, required=True, help="the socket's descriptor")
    ap.add_argument("--name", default="puffs")
    for opt in ("flags", "maxreqlen", "fhsize", "fhflags", "nhashbuckets"):
        ap.add_argument(f"--{opt}", type=lambda s: int(s, 0), default=0)
    ap.add_argument("--args", default="[]", help="its positional arguments (JSON list)")
    ap.add_argument("ops", help="module:Class of the Operations subclass")
    ap.add_argument("kwargs", nargs="?", default="{}", help="its keyword arguments (JSON)")
    args = ap.parse_args(argv)
    # Started from a machine's thread, the process inherited its blocked host
    # signals (kern/machine/machine.py's HOST_SIGNALS): a server takes them.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HOST_SIGNALS)
    try:
        ops = load_ops(args.ops, json.loads(args.kwargs), json.loads(args.args))
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"puffs remote: {args.ops}: {type(e).__name__}: {e}", file=sys.stderr)
        os.close(args.fd)
        return 1
    s = socket.socket(fileno=args.fd)

    async def run() -> int:
        return await serve_socket(trio.socket.from_stdlib_socket(s), ops, args.name,
                                  flags=args.flags, maxreqlen=args.maxreqlen,
                                  fhsize=args.fhsize, fhflags=args.fhflags,
                                  nhashbuckets=args.nhashbuckets)

    try:
        rv = trio.run(run)
    except KeyboardInterrupt:
        return 1
    return 0 if rv == 0 else 1


# ------------------------------------------------------------------ the kernel's side

def _unmount_ids(frames: list[bytearray]) -> list[int]:
    """The ids of the UNMOUNT requests among ``frames`` (a reply's header no
    longer says what it answers: rv shares the union with opclass and optype)."""
    ids = []
    for f in frames:
        hdr = frame_header(f)
        if PUFFSOP_OPCLASS(hdr.preq_opclass) == PUFFSOP_VFS and \
                hdr.preq_optype == PUFFS_VFS_UNMOUNT:
            ids.append(hdr.preq_id)
    return ids


def _succeeded(reply: Any, ids: set[int]) -> bool:
    if len(reply) < HDRSIZE:
        return False
    hdr = frame_header(reply)
    return hdr.preq_id in ids and hdr.preq_rv == 0


class RemoteServer:
    """The kernel's side of a puffs server running in another OS process.

    ``ops`` names the server's Operations class (``"module:Class"``),
    constructed in the server process with ``ops_args`` and ``ops_kwargs``
    (JSON-able); the other arguments are PuffsServer's.  Used like a
    PuffsServer, from user lwps of the machine: ``await
    server.main("/mnt")`` (init, mount, start, serve), or through
    ``puffs_daemon``.  ``python`` is the interpreter of the server process
    (default: this one), ``env`` its environment (PYTHONPATH gets the
    project's root in front).

    After the end: ``loop_error`` (0 after a successful unmount, else the
    errno that ended it: ENXIO when the file system or the server died),
    ``died`` (the server process went away while its file system lived),
    ``returncode`` (the process's exit status), ``child_stats`` (what the
    server reported in BYE: its own request counters, ``handled``, its
    handlers' errors).  ``channel`` is the DevPuffsChannel whose counters
    (``toserv_vn_ops``...) count the requests shoveled to the server.
    """

    def __init__(self, ops: str, name: str = "puffs", *, ops_kwargs: dict[str, Any] | None = None,
                 ops_args: list[Any] | None = None, flags: int = 0, maxreqlen: int = 0,
                 fhsize: int = 0, fhflags: int = 0, nhashbuckets: int = 0,
                 dev: str = "/dev/puffs", python: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.ops = ops
        self.ops_kwargs = dict(ops_kwargs or {})
        self.ops_args = list(ops_args or [])
        self.name = name
        self.flags = flags
        self.maxreqlen = maxreqlen
        self.fhsize = fhsize
        self.fhflags = fhflags
        self.nhashbuckets = nhashbuckets
        self.dev = dev
        self.python = python or sys.executable
        self.env = env
        self.state = PUFFS_STATE_BEFOREMOUNT
        self.fd = -1
        self.channel: DevPuffsChannel | None = None
        self.kargs = puffs_kargs()
        self.mountpoint: str | None = None
        self.loop_error = 0
        self.died = False
        self.returncode: int | None = None
        self.child_stats: dict[str, Any] | None = None
        self.errors: list[BaseException] = []
        self.ctl_ops: dict[int, int] = {}   # control requests done for it, by CTL_*
        self.pid = 0
        self._popen: subprocess.Popen[bytes] | ServerProcess | None = None
        self._sock: trio.socket.SocketType | None = None
        self._send_lock = trio.Lock()
        self._busy = 0
        self._ew: Any = None
        self._closing = False
        self._mayquit = False
        self._fs_gone = False
        self._unmounts: set[int] = set()     # ids of UNMOUNT requests shoveled
        self._up_done = trio.Event()
        self._holder: Any = None             # the process serving (hostchild_hold)

    # ---------------------------------------------------------------- setup

    def argv(self, fd: int) -> list[str]:
        """The server process's command line."""
        return [self.python, "-m", "tools.lib.libpuffs.remote", "--fd", str(fd),
                "--name", self.name,
                "--flags", str(self.flags), "--maxreqlen", str(self.maxreqlen),
                "--fhsize", str(self.fhsize), "--fhflags", str(self.fhflags),
                "--nhashbuckets", str(self.nhashbuckets), "--args", json.dumps(self.ops_args),
                self.ops, json.dumps(self.ops_kwargs)]

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", ""))
                                            if p)
        # (imported here: the server process does not need them)
        from tools.lib.forkserver import Shadowed

        from . import forkserver

        try:
            if forkserver.usable(self.python):
                # forked from a process that has imported the server's code
                # (tools/lib/libpuffs/forkserver.py): same command line
                argv = self.argv(-1)[3:]
                argv[argv.index("--fd") + 1] = "{fd}"
                try:
                    self._popen = forkserver.spawn(self.python, argv, env, theirs.fileno())
                except Shadowed:
                    # its path (the working directory first) may find other
                    # copies of the modules the fork server imported: fresh
                    pass
            if self._popen is None:
                self._popen = subprocess.Popen(self.argv(theirs.fileno()),
                                               pass_fds=(theirs.fileno(),),
                                               stdin=subprocess.DEVNULL, env=env,
                                               start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = self._popen.pid
        self._sock = trio.socket.from_stdlib_socket(ours)

    async def init(self) -> None:
        """Start the server process, open the device."""
        if self._popen is None:
            try:
                self._spawn()
            except OSError as e:
                raise PuffsError(EIO, f"cannot start the server process: {e}") from None
        if self.channel is None:
            try:
                self.fd = await libc.open(self.dev, O_RDWR)
            except SyscallError as e:
                raise PuffsError(e.errno, f"open {self.dev}: {e}") from None
            self.channel = DevPuffsChannel(self.fd)

    async def mount(self, dir: str, mntflags: int = 0) -> None:
        """Mount with the arguments the server sends (HELLO); tell it (MOUNTED)."""
        if self.channel is None:
            await self.init()
        assert self.channel is not None
        msg = await self._recv_waiting()
        if msg is None or msg[0] != T_HELLO:
            assert self._sock is not None
            self._sock.close()                # whatever it is, it must end
            await self._reap()
            raise PuffsError(EIO, f"the server process failed to start (status "
                                  f"{self.returncode})")
        _, version, payload = msg
        if version != PROTOCOL_VERSION:
            await self._send(T_MOUNTED, EINVAL)
            raise PuffsError(EINVAL, f"server speaks protocol {version}")
        n = ctypes.sizeof(puffs_kargs)
        self.kargs = puffs_kargs.from_buffer_copy(bytes(payload[:n]).ljust(n, b"\0"))
        try:
            await self.channel.mount(self.kargs, dir, mntflags)
        except PuffsError as e:
            await self._send(T_MOUNTED, _errno16(e.errno))
            raise
        self.mountpoint = dir
        self.state = PUFFS_STATE_MOUNTING
        await self._send(T_MOUNTED, 0, bytes(self.kargs) + dir.encode("utf-8", "surrogateescape"))

    async def start(self) -> None:
        """Wait for the server's PUFFSSTARTOP and do it on the device."""
        while True:
            msg = await self._recv_waiting()
            if msg is None:
                raise PuffsError(ENXIO, "the server process went away before starting")
            t, arg, payload = msg
            if t != T_CTL:
                raise PuffsError(EIO, f"puffs remote: message {t} before start")
            await self._send(T_CTLREPLY, await self._do_ctl(arg, payload))
            if arg == CTL_START:
                break
        self.state = PUFFS_STATE_RUNNING

    async def main(self, dir: str, mntflags: int = 0) -> int:
        """init, mount, start, serve; the loop's result."""
        try:
            await self.init()
            await self.mount(dir, mntflags)
            await self.start()
        except Exception:
            await self.exit()
            raise
        except BaseException:
            self.abandon()
            raise
        return await self.serve()

    def abandon(self) -> None:
        """The machine stops under us (cancelled): close our end of the socket,
        so the server process ends (it does so by itself within EOF_GRACE)."""
        if self._sock is not None:
            self._sock.close()

    async def forked(self) -> None:
        """In the process forked from the one that mounted (puffs_daemon)."""

    async def exit(self) -> None:
        """Give up: close the device (a forced unmount when mounted) and the
        socket, and wait for the server process to end."""
        await self._close_device()
        if self._sock is not None:
            self._sock.close()
        await self._reap()
        self.state = PUFFS_STATE_UNMOUNTED

    # ---------------------------------------------------------------- the shovels

    async def serve(self) -> int:
        """Shovel frames until the file system and the server are gone.

        Runs the down shovel in the calling lwp and the up shovel in a new
        lwp of the same process; returns when both are done, with
        ``loop_error``.
        """
        # Until it has reaped its server process, this process is one the halt
        # leaves running (PK_HOSTCHILD): it must see the server go.
        self._holder = curlwp().l_proc
        curmachine().hostchild_hold(self._holder)
        try:
            _sys.lwp_create(self._upshovel, name=f"{self.name}-up"[:16], errors=self.errors)
        except Exception:
            # No up shovel to reap the server and let the hold go: give up as
            # main() does when the start fails, here.
            try:
                await self.exit()
            finally:
                self._hostchild_rele()
            raise
        except BaseException:
            self.abandon()
            self._hostchild_rele()
            raise
        try:
            await self._downshovel()
            # the up shovel finishes after the server process is gone; we
            # are closing, so the kernel knows it waits on the outside
            async with curmachine().external_wait("puffsend"):
                await self._up_done.wait()
        except BaseException:
            self.abandon()
            raise
        return self.loop_error

    async def _downshovel(self) -> None:
        ch = self.channel
        assert ch is not None
        error = ENXIO
        while True:
            try:
                frames = await ch.get_requests()
            except PuffsError as e:
                if e.errno in (EINTR, ERESTART) and not self._up_done.is_set():
                    continue
                error = e.errno
                break
            self._hold()          # a batch is out: released when its REPLIES are in
            self._unmounts.update(_unmount_ids(frames))
            try:
                await self._send(T_REQS, len(frames), pack_frames(frames))
            except OSError:
                self._release()
                break             # the up shovel sees the end of the stream
        if not self.loop_error and not self._mayquit and error != EBADF:
            self.loop_error = error     # (after a successful unmount: 0)
        if error == ENXIO:
            self._fs_gone = True
        # The file system is gone (or the server): tell the server and wait
        # for it to go away.
        self._set_closing()
        try:
            await self._send(T_GONE, _errno16(error))
        except OSError:
            pass

    async def _upshovel(self) -> None:
        ch = self.channel
        sock = self._sock
        assert ch is not None and sock is not None
        failure: Exception | None = None
        try:
            try:
                await self._uploop(ch, sock)
            except Exception as e:  # noqa: BLE001 - kept, raised below
                # Not one of the ways the stream ends (a bug, an error no
                # handler expected): the server is cut off and, as when it
                # dies, the device closed and the server reaped; the error
                # then ends this lwp (lwp_create keeps it in ``errors``).
                self.abandon()
                failure = e
            # The server is gone.  Unless it saw its file system unmounted, that
            # is its death: close the device, the kernel force-unmounts.
            self._set_closing()
            if not self._mayquit and not self._fs_gone:
                self.died = True
                if not self.loop_error:
                    self.loop_error = ENXIO
            await self._close_device()
            sock.close()
            await self._reap()
            self.state = PUFFS_STATE_UNMOUNTED
        except BaseException:
            self.abandon()
            raise
        finally:
            # On every path, cancellation included: the batches' holds go,
            # PK_HOSTCHILD's count with them, and serve() stops waiting.
            self._drop_all()
            self._hostchild_rele()
            self._up_done.set()
        if failure is not None:
            raise failure

    def _hostchild_rele(self) -> None:
        """The serving process no longer waits for its server (hostchild_hold)."""
        if self._holder is not None:
            holder, self._holder = self._holder, None
            curmachine().hostchild_rele(holder)

    async def _uploop(self, ch: DevPuffsChannel, sock: trio.socket.SocketType) -> None:
        try:
            while True:
                async with curmachine().external_wait("puffsrcv", pending=False):
                    msg = await recv_msg(sock)
                if msg is None:
                    break
                t, arg, payload = msg
                if t == T_REPLIES:
                    try:
                        replies = unpack_frames(payload, arg)
                    except ValueError:
                        break
                    if self._unmounts and any(_succeeded(r, self._unmounts) for r in replies):
                        self._mayquit = True
                        self._set_closing()
                    if replies:
                        try:
                            await ch.put_replies(replies)
                        except PuffsError:
                            pass      # the file system died meanwhile
                    self._release()
                elif t == T_CTL:
                    error = await self._do_ctl(arg, payload)
                    try:
                        await self._send(T_CTLREPLY, error)
                    except OSError:
                        break
                elif t == T_DUMP:
                    try:
                        await libc.write(2, bytes(payload))
                    except SyscallError:
                        pass
                elif t == T_BYE:
                    try:
                        self.child_stats = json.loads(bytes(payload).decode())
                    except ValueError:
                        pass
                else:
                    break
        except (OSError, trio.ClosedResourceError, trio.BrokenResourceError):
            pass

    async def _do_ctl(self, op: int, payload: bytes | bytearray) -> int:
        """A control request of the server, done on the device: its errno."""
        ch = self.channel
        assert ch is not None
        self.ctl_ops[op] = self.ctl_ops.get(op, 0) + 1
        try:
            if op == CTL_START:
                n = ctypes.sizeof(puffs_startreq)
                psr = puffs_startreq.from_buffer_copy(bytes(payload[:n]).ljust(n, b"\0"))
                await ch.start(psr.psr_cookie or 0, psr.psr_sb)
            elif op == CTL_SUSPEND:
                await ch.suspend()
            elif op == CTL_FLUSH:
                n = ctypes.sizeof(puffs_flush)
                pf = puffs_flush.from_buffer_copy(bytes(payload[:n]).ljust(n, b"\0"))
                await ch.flush(pf.pf_cookie or 0, pf.pf_op, pf.pf_start, pf.pf_end)
            else:
                return EINVAL
        except PuffsError as e:
            return _errno16(e.errno)
        return 0

    # ---------------------------------------------------------------- plumbing

    async def _close_device(self) -> None:
        """Close /dev/puffs: to the kernel, the server's end (a forced unmount
        of a mounted file system)."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            if self.channel is not None:
                self.channel.fd = -1
            try:
                await libc.close(fd)
            except SyscallError:
                pass

    def _hold(self) -> None:
        """One more reason the kernel waits on the server process."""
        if self._busy == 0:
            self._ew = curmachine().awaiting_outside()
            self._ew.__enter__()
        self._busy += 1

    def _release(self) -> None:
        if self._busy > 0:
            self._busy -= 1
            if self._busy == 0 and self._ew is not None:
                self._ew.__exit__(None, None, None)
                self._ew = None

    def _drop_all(self) -> None:
        while self._busy:
            self._release()

    def _set_closing(self) -> None:
        """From here on the server process is expected to go away: wait for it."""
        if not self._closing:
            self._closing = True
            self._hold()

    async def _send(self, t: int, arg: int = 0, payload: bytes = b"") -> None:
        if self._sock is None:
            raise OSError(EBADF, "no server process")
        try:
            async with curmachine().external_wait("puffssnd"), self._send_lock:
                await send_msg(self._sock, t, arg, payload)
        except (trio.ClosedResourceError, trio.BrokenResourceError) as e:
            raise OSError(EBADF, str(e)) from None

    async def _recv_waiting(self) -> tuple[int, int, bytearray] | None:
        """A message of the server, the kernel waiting for it (setup)."""
        assert self._sock is not None
        async with curmachine().external_wait("puffsrcv"):
            try:
                return await recv_msg(self._sock)
            except (OSError, trio.ClosedResourceError):
                return None

    async def _reap(self) -> None:
        """Wait for the server process to end (it does once its socket closed)."""
        p = self._popen
        if p is None or self.returncode is not None:
            return
        async with curmachine().external_wait("puffswt"):
            pidfd = -1
            status_fd = getattr(p, "status_fd", None)
            if status_fd is not None:
                # a forked ServerProcess: its exit status comes from the fork
                # server, which reaps it
                await trio.lowlevel.wait_readable(status_fd)
                self.returncode = p.wait()
                return
            if hasattr(os, "pidfd_open"):
                try:
                    pidfd = os.pidfd_open(p.pid)
                except OSError:
                    pidfd = -1
            try:
                if pidfd >= 0:
                    await trio.lowlevel.wait_readable(pidfd)
                else:
                    await trio.to_thread.run_sync(p.wait)
            finally:
                if pidfd >= 0:
                    os.close(pidfd)
            self.returncode = p.wait()

    def kill(self, sig: int = 9) -> None:
        """Send a signal to the server process (tests: make it die)."""
        if self._popen is not None and self.returncode is None:
            try:
                os.kill(self._popen.pid, sig)
            except ProcessLookupError:
                pass


if __name__ == "__main__":
    # Run as tools.lib.libpuffs.remote proper, not as a second copy named __main__
    # (file system code importing this module must see the same CURRENT).
    from tools.lib.libpuffs import remote as _self

    status = _self.main()
    # The loop is over and the socket closed: leave without the interpreter's
    # teardown (freeing every module of the kernel's code tree and trio's,
    # about a quarter of the process's CPU), which the kernel's side would
    # wait for when it reaps us.  Under coverage the normal exit stays: its
    # atexit hook writes the process's data.
    if "coverage" in sys.modules:
        sys.exit(status)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
