"""Server processes forked from a parent that has already imported the server's code.

Starting a separate-process puffs server as ``python -m tools.lib.libpuffs.remote``
costs a new interpreter and its imports (trio and libpuffs: about 0.15 s of
CPU) every time.  A process that starts many servers (a test suite, a sweep)
instead starts one *fork server* the first time: ``python -m
tools.lib.libpuffs.forkserver``, which imports what the server process
imports (tools.lib.libpuffs.remote, nothing of the kernel) and then forks a
server for each request.  The server is the same ``remote.main`` with the
same command line, environment, working directory, standard output and
error, in a session of its own, as with the fresh interpreter; only its
imports were done before the fork.  multiprocessing's forkserver does the
same for its workers; this one is small because it needs no pickling.

Protocol on the socketpair between the client (:func:`spawn`) and the fork
server: a request is ``<I`` length and a JSON object (``argv``: the server's
arguments after ``-m tools.lib.libpuffs.remote``, ``env``, ``cwd``), with
four descriptors passed along (SCM_RIGHTS): the server's end of its socket,
the fork server's end of a *status* socket, and the client's current
descriptors 1 and 2.  On the status socket the fork server writes the new
process's pid (``<q``), and once it has reaped it, its exit status in
:class:`subprocess.Popen`'s convention (``<q``: negative for a signal).
The client's :class:`ServerProcess` is a Popen-like view of that socket.

The fork server ends when the client's end of the request socket closes
(the client process exited or called :func:`shutdown`) and its servers have
ended.  They are its children: their CPU time reaches the client's
``RUSAGE_CHILDREN`` through the fork server when the client reaps it, which
``shutdown(wait=...)`` does (tests/conftest.py calls it when the session
ends, so a pytest run's CPU time still counts its servers); at interpreter
exit the client only closes its end, without waiting.

Servers with different ``PYTHON*`` variables (they act at interpreter start)
get different fork servers.  Not used (the fresh interpreter is, as before)
for another Python than this one, under coverage (a forked server would not
start coverage's measurement), or with ``KEMU_PUFFS_FORKSERVER=0`` in the
environment.
"""

from __future__ import annotations

import array
import atexit
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

LEN = struct.Struct("<I")
Q = struct.Struct("<q")
NFDS = 4
ROOT = Path(__file__).resolve().parents[3]


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    """``n`` bytes from ``sock`` (``first``: those already read), or fewer if the
    stream ends before."""
    data = first
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# ------------------------------------------------------------------ the client's side

class ServerProcess:
    """A forked server process, seen as much like a :class:`subprocess.Popen` as
    RemoteServer and its tests use one: ``pid``, ``returncode``, ``poll()``,
    ``wait(timeout)``; ``status_fd`` is readable once the exit status is known."""

    def __init__(self, pid: int, status: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        # open as long as this object lives: another thread (RemoteServer._reap)
        # may be waiting for it to become readable
        self._status = status
        self.status_fd = status.fileno()
        self._lock = threading.Lock()

    def _read(self, timeout: float | None) -> int | None:
        with self._lock:
            if self.returncode is None:
                r, _, _ = select.select([self._status], [], [], timeout)
                if not r:
                    return None
                # short: the fork server died, the status is lost
                data = _recv_exact(self._status, Q.size)
                self.returncode = Q.unpack(data)[0] if len(data) == Q.size else 255
            return self.returncode

    def poll(self) -> int | None:
        return self._read(0)

    def wait(self, timeout: float | None = None) -> int:
        rc = self._read(timeout)
        if rc is None:
            raise subprocess.TimeoutExpired(f"puffs server {self.pid}", timeout or 0)
        return rc


class _Client:
    def __init__(self, python: str, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "tools.lib.libpuffs.forkserver", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                cwd=ROOT, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.pid = os.getpid()
        self.lock = threading.Lock()

    def spawn(self, argv: list[str], env: dict[str, str], fd: int) -> ServerProcess:
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            body = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}).encode()
            fds = array.array("i", [fd, its.fileno(), 1, 2])
            with self.lock:
                self.sock.sendmsg([LEN.pack(len(body)) + body],
                                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except BaseException:
            mine.close()
            raise
        finally:
            its.close()
        data = _recv_exact(mine, Q.size)
        if len(data) < Q.size:
            mine.close()
            raise OSError("the puffs fork server did not start the server")
        return ServerProcess(Q.unpack(data)[0], mine)

    def close(self, wait: float) -> None:
        self.sock.close()
        if wait > 0:
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass


_clients: dict[tuple[str, tuple[tuple[str, str], ...]], _Client] = {}
_clients_lock = threading.Lock()


def _startup_env(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables that act when an interpreter starts (PYTHONPATH, PYTHONHASHSEED...)."""
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith("PYTHON")))


def usable(python: str) -> bool:
    """Whether a server for ``python`` may be forked (else: a fresh interpreter)."""
    return (python == sys.executable and hasattr(os, "fork") and hasattr(socket, "CMSG_LEN")
            and "coverage" not in sys.modules
            and os.environ.get("KEMU_PUFFS_FORKSERVER", "1") != "0")


def spawn(python: str, argv: list[str], env: dict[str, str], fd: int) -> ServerProcess:
    """Start ``python -m tools.lib.libpuffs.remote ARGV`` (its socket is our ``fd``,
    which ARGV names) with ``env``, forked from this process's fork server for
    that interpreter and start-up environment (started now if there is none)."""
    key = (python, _startup_env(env))
    with _clients_lock:
        c = _clients.get(key)
        if c is not None and (c.pid != os.getpid()        # inherited through a fork
                              or c.proc.poll() is not None):  # it died (killed)
            c = None
        if c is None:
            c = _clients[key] = _Client(python, env)
    return c.spawn(argv, env, fd)


def shutdown(wait: float = 0.0) -> None:
    """Close this process's fork servers; wait up to ``wait`` seconds for each to
    end (it does once its servers have) and reap it."""
    with _clients_lock:
        mine = [c for c in _clients.values() if c.pid == os.getpid()]
        _clients.clear()
    for c in mine:
        c.close(wait)


atexit.register(shutdown)


# ------------------------------------------------------------------ the fork server

def _serve_child(req: dict[str, Any], fds: list[int], own: list[int]) -> None:
    """In the forked child: become the server process ``remote.main`` would be
    (``own``: the fork server's descriptors, closed here)."""
    status = 1
    try:
        sock, statfd, out, err = fds
        for fd in [*own, statfd]:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            if fd > 2:
                os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        argv = [str(sock) if a == "{fd}" else a for a in req["argv"]]
        sys.argv = [sys.argv[0], *argv]
        from tools.lib.libpuffs import remote

        status = remote.main(argv)
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - what a fresh interpreter would print
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _recv_request(ctl: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """One request and its descriptors; None at the end of the stream."""
    fds = array.array("i")
    msg, anc, _, _ = ctl.recvmsg(LEN.size, socket.CMSG_LEN(NFDS * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    msg = _recv_exact(ctl, LEN.size, msg) if msg else msg
    n = LEN.unpack(msg)[0] if len(msg) == LEN.size else -1
    body = _recv_exact(ctl, n) if n >= 0 else b""
    if len(body) != n:
        # the end, or a request cut short by it (the client died while sending)
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(body), list(fds)


def serve(ctl_fd: int) -> None:
    """The fork server's loop: fork a server per request, report each one's end."""
    from tools.lib.libpuffs import remote  # noqa: F401 - what every server imports

    ctl = socket.socket(fileno=ctl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    children: dict[int, int] = {}       # pid -> our end of its status socket
    open_ = True
    while open_ or children:
        try:
            r, _, _ = select.select([ctl, wake_r] if open_ else [wake_r], [], [])
        except InterruptedError:
            r = [wake_r]
        if wake_r in r:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            while children:
                try:
                    pid, st = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                fd = children.pop(pid, -1)
                if fd >= 0:
                    try:
                        os.write(fd, Q.pack(os.waitstatus_to_exitcode(st)))
                    except OSError:
                        pass
                    os.close(fd)
        if open_ and ctl in r:
            got = _recv_request(ctl)
            if got is None:
                open_ = False
                continue
            req, fds = got
            if len(fds) != NFDS:
                for fd in fds:
                    os.close(fd)
                continue
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                _serve_child(req, fds, [ctl.fileno(), wake_r, wake_w])
            statfd = fds[1]
            if pid < 0:         # the client reads the end of the status socket
                for fd in fds:
                    os.close(fd)
                continue
            for fd in fds:
                if fd != statfd:
                    os.close(fd)
            try:
                os.write(statfd, Q.pack(pid))
            except OSError:
                pass
            children[pid] = statfd


if __name__ == "__main__":
    serve(int(sys.argv[1]))
    os._exit(0)
