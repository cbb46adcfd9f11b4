"""FUSE peer for the puffs benchmarks: getattr round trips through a pyfuse3 server.

    /usr/bin/python3 benchmarks/fuse_peer.py [--n 20000] [--repeat 5] [--client process]

Self-contained (imports nothing from kemu) and run with a python that has
pyfuse3 (Debian: ``apt-get install fuse3 python3-pyfuse3``, i.e. the system
python, not the project venv).  The module itself imports only the standard
library, so ``benchmarks.fuse_peer.run_peer`` can be called from any python;
it runs this file as a subprocess with the python that has pyfuse3.

The server is a minimal pyfuse3 file system: the root directory and one
empty regular file ``f``.  Every reply carries attr_timeout=0 and
entry_timeout=0, so the kernel caches neither attributes nor names and every
stat reaches the server.  It is mounted *without* ``default_permissions``
(pyfuse3's default option): with it, the path walk would also send a GETATTR
for the root directory on every stat(path), to check search permission.

What one "round trip" is: one FUSE request from the kernel to the server and
its reply (request read from /dev/fuse, handled by a pyfuse3 coroutine under
trio, reply written back).  Two loops are timed, each of --n calls, in every
repetition:

* ``getattr_per_s``: os.stat(fd) on an open descriptor of ``f``, i.e.
  fstat(2); each call is exactly one GETATTR round trip;
* ``stat_path_per_s``: os.stat(path) of ``<mnt>/f``, i.e. stat(2); each call
  is two round trips, LOOKUP (revalidation of the name) then GETATTR.
  ``stat_path_round_trips_per_s`` is that rate times the requests per call.

The server counts the requests it answers inside each timed window (the
client marks the window by looking up two reserved names, which the server
answers with ENOENT and does not count); ``server_getattrs`` and
``server_lookups`` are the totals over all repetitions of the fstat loop,
``stat_path_server_*`` those of the stat(path) loop, and ``counts_ok`` says
whether they are exactly what the definitions above predict (n * repeat
GETATTRs and no LOOKUP for fstat; n * repeat of each for stat(path)).  Rates
are medians over --repeat repetitions (time.perf_counter around the loop in
the client), the two loops alternating within each repetition.
``windows`` lists every timed loop: its wall seconds, the CPU seconds
(``time.process_time``: user and system) of the client process over the
loop and of the server process between the two markers; their sum is the
CPU one call costs on the host (None for the client in ``--client thread``
mode, where the server's figure holds both).

The client (the stat loop) runs by default in a separate process
(``--client process``), so that it does not compete with the server for the
GIL; ``--client thread`` runs it in a worker thread of the server process
(trio.to_thread.run_sync), which is closer to a one-process design.  The
pyfuse3 main loop always runs under trio in the main thread.

Output is one JSON line.  Without /dev/fuse, pyfuse3 or a working mount it
is ``{"unavailable": "<reason>"}`` and the exit status is 0.  The file
system is unmounted on the way out, also after an error, SIGINT, SIGTERM or
SIGHUP.
"""

from __future__ import annotations

import argparse
import errno
import inspect
import json
import os
import platform
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

DEFAULT_PYTHON = "/usr/bin/python3"
FILE_NAME = b"f"
MARK_BEGIN = b".fuse-peer-begin"
MARK_END = b".fuse-peer-end"
FSNAME = "kemu_fuse_peer"
WARMUP = 200
KINDS = ("getattr", "lookup", "open", "release", "other")


# ------------------------------------------------------------------ mount table

def _unescape_mountinfo(s: str) -> str:
    """Undo the octal escapes (\\040 for a space, ...) of /proc/self/mountinfo."""
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 3 < len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def is_mounted(path: str) -> bool:
    """Whether something is mounted on *path*, without stat(2)ing it.

    A stat of a FUSE mount point whose server has stopped answering would
    block, so this reads the mount table instead.
    """
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape_mountinfo(fields[4]) == target:
                    return True
    except OSError:
        return False
    return False


def force_unmount(path: str) -> None:
    """Lazily unmount *path* if it is still mounted (best effort)."""
    if not is_mounted(path):
        return
    for cmd in (["fusermount3", "-u", "-z", "-q"], ["fusermount", "-u", "-z", "-q"],
                ["umount", "-l"]):
        exe = shutil.which(cmd[0])
        if exe is None:
            continue
        try:
            subprocess.run([exe, *cmd[1:], path], capture_output=True, timeout=30,
                           check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if not is_mounted(path):
            return


# ------------------------------------------------------------------ client

def stat_loop(mnt: str, mode: str, n: int,
              stop: threading.Event | None = None) -> tuple[float, float]:
    """Time *n* stats of ``<mnt>/f``: (wall seconds, CPU seconds of this process).

    *mode* is "fd" (os.stat of an open descriptor: one GETATTR each) or
    "path" (os.stat of the path: LOOKUP + GETATTR each).  The timed loop is
    bracketed by lookups of the two marker names, which tell the server
    where to start and stop counting.  Used both in the client process and
    in the client thread; *stop* (thread only) ends the loop early.
    """
    path = os.path.join(mnt, FILE_NAME.decode())
    begin = os.path.join(mnt, MARK_BEGIN.decode())
    end = os.path.join(mnt, MARK_END.decode())
    fd = os.open(path, os.O_RDONLY)
    try:
        target: int | str = fd if mode == "fd" else path
        st = os.stat
        for _ in range(WARMUP):
            st(target)
        _mark(begin)
        if stop is None:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                st(target)
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        else:
            is_set = stop.is_set
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(n):
                st(target)
                if is_set():
                    raise RuntimeError("stopped")
            dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        _mark(end)
    finally:
        os.close(fd)
    return dt, cpu


def _mark(path: str) -> None:
    try:
        os.stat(path)
    except FileNotFoundError:
        return
    raise RuntimeError(f"marker {path} exists: not the fuse_peer server?")


def _client_main(mnt: str, mode: str, n: int) -> int:
    dt, cpu = stat_loop(mnt, mode, n)
    print(json.dumps({"dt": dt, "cpu": cpu}), flush=True)
    return 0


# ------------------------------------------------------------------ server

def _make_ops(pyfuse3: Any) -> Any:
    """The Operations subclass (built here so that pyfuse3 is imported lazily)."""

    class PeerOps(pyfuse3.Operations):
        """Root directory + one empty file; counts the requests it answers."""

        FILE_INODE = pyfuse3.ROOT_INODE + 1

        def __init__(self) -> None:
            super().__init__()
            self.counts = dict.fromkeys(KINDS, 0)
            self._base: dict[str, int] | None = None
            self._cpu0 = 0.0
            self.windows: list[dict[str, Any]] = []
            self.uid = os.getuid()
            self.gid = os.getgid()
            self.now_ns = time.time_ns()

        def _attr(self, inode: int) -> Any:
            e = pyfuse3.EntryAttributes()
            e.st_ino = inode
            if inode == pyfuse3.ROOT_INODE:
                e.st_mode = stat.S_IFDIR | 0o755
                e.st_nlink = 2
            elif inode == self.FILE_INODE:
                e.st_mode = stat.S_IFREG | 0o644
                e.st_nlink = 1
            else:
                raise pyfuse3.FUSEError(errno.ENOENT)
            e.st_size = 0
            e.st_uid = self.uid
            e.st_gid = self.gid
            e.st_blksize = 4096
            e.st_blocks = 0
            e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = self.now_ns
            e.generation = 0
            e.attr_timeout = 0
            e.entry_timeout = 0
            return e

        async def getattr(self, inode: int, ctx: Any = None) -> Any:
            self.counts["getattr"] += 1
            return self._attr(inode)

        async def lookup(self, parent_inode: int, name: bytes, ctx: Any = None) -> Any:
            if parent_inode == pyfuse3.ROOT_INODE:
                if name == FILE_NAME:
                    self.counts["lookup"] += 1
                    return self._attr(self.FILE_INODE)
                if name == MARK_BEGIN:
                    self._base = dict(self.counts)
                    self._cpu0 = time.process_time()
                    raise pyfuse3.FUSEError(errno.ENOENT)
                if name == MARK_END:
                    if self._base is not None:
                        base = self._base
                        w = {k: self.counts[k] - base[k] for k in KINDS}
                        w["cpu"] = time.process_time() - self._cpu0
                        self.windows.append(w)
                        self._base = None
                    raise pyfuse3.FUSEError(errno.ENOENT)
            self.counts["lookup"] += 1
            raise pyfuse3.FUSEError(errno.ENOENT)

        async def open(self, inode: int, flags: int, ctx: Any) -> Any:
            self.counts["open"] += 1
            if inode != self.FILE_INODE:
                raise pyfuse3.FUSEError(errno.EISDIR)
            return pyfuse3.FileInfo(fh=inode)

        async def release(self, fh: int) -> None:
            self.counts["release"] += 1

        async def opendir(self, inode: int, ctx: Any) -> int:
            self.counts["other"] += 1
            if inode != pyfuse3.ROOT_INODE:
                raise pyfuse3.FUSEError(errno.ENOTDIR)
            return inode

        async def readdir(self, fh: int, start_id: int, token: Any) -> None:
            self.counts["other"] += 1
            if start_id == 0:
                pyfuse3.readdir_reply(token, FILE_NAME, self._attr(self.FILE_INODE), 1)

        async def releasedir(self, fh: int) -> None:
            self.counts["other"] += 1

        async def statfs(self, ctx: Any) -> Any:
            self.counts["other"] += 1
            return pyfuse3.StatvfsData()

    return PeerOps


class _Stopped(Exception):
    """A signal asked the measurement to stop."""


def _to_thread_kwargs(trio: Any) -> dict[str, bool]:
    params = inspect.signature(trio.to_thread.run_sync).parameters
    if "abandon_on_cancel" in params:  # trio >= 0.23
        return {"abandon_on_cancel": True}
    return {"cancellable": True}


async def _one_window(trio: Any, ops: Any, mnt: str, mode: str, n: int, client: str,
                      stop: threading.Event) -> tuple[float, float | None, dict[str, Any]]:
    """Run one timed loop in the client; returns (seconds, the client process's
    CPU seconds (None for a client thread: the server's figure has it), server
    counts and CPU)."""
    nwin = len(ops.windows)
    if client == "thread":
        dt, _ = await trio.to_thread.run_sync(stat_loop, mnt, mode, n, stop,
                                              **_to_thread_kwargs(trio))
        ccpu = None
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--client-loop", mode,
               "--n", str(n), "--mountpoint", mnt]
        proc = await trio.run_process(cmd, capture_stdout=True, capture_stderr=True,
                                      check=False)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"client exited {proc.returncode}: {' | '.join(err)}")
        got = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        dt, ccpu = got["dt"], got["cpu"]
    if len(ops.windows) != nwin + 1:
        raise RuntimeError("server saw no complete begin/end marker pair")
    return dt, ccpu, ops.windows[-1]


async def _measure(trio: Any, ops: Any, args: argparse.Namespace,
                   stop: threading.Event) -> dict[str, Any]:
    times: dict[str, list[float]] = {"fd": [], "path": []}
    counts: dict[str, list[dict[str, Any]]] = {"fd": [], "path": []}
    windows: list[dict[str, Any]] = []
    for _ in range(args.repeat):
        for mode in ("fd", "path"):
            if stop.is_set():
                raise _Stopped("stopped")
            dt, ccpu, c = await _one_window(trio, ops, args.mountpoint, mode, args.n,
                                            args.client, stop)
            times[mode].append(dt)
            counts[mode].append(c)
            windows.append({"mode": mode, "n": args.n, "wall": dt, "client_cpu": ccpu,
                            "server_cpu": c["cpu"]})
    out = _summary(args, times, counts)
    out["windows"] = windows
    return out


def _summary(args: argparse.Namespace, times: dict[str, list[float]],
             counts: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    n, r = args.n, args.repeat
    rates = {m: [n / dt for dt in times[m]] for m in times}
    tot = {m: {k: sum(c[k] for c in counts[m]) for k in KINDS} for m in counts}
    fd_ok = (tot["fd"]["getattr"] == n * r and tot["fd"]["lookup"] == 0)
    path_ok = (tot["path"]["getattr"] == n * r and tot["path"]["lookup"] == n * r)
    path_rt_per_call = (tot["path"]["getattr"] + tot["path"]["lookup"]) / (n * r)
    stat_path = statistics.median(rates["path"])
    return {
        "getattr_per_s": round(statistics.median(rates["fd"]), 1),
        "server_getattrs": tot["fd"]["getattr"],
        "server_lookups": tot["fd"]["lookup"],
        "stat_path_per_s": round(stat_path, 1),
        "stat_path_round_trips_per_s": round(stat_path * path_rt_per_call, 1),
        "stat_path_server_getattrs": tot["path"]["getattr"],
        "stat_path_server_lookups": tot["path"]["lookup"],
        "counts_ok": fd_ok and path_ok,
        "n": n,
        "repeat": r,
        "client": args.client,
        "round_trip": ("one FUSE request + reply between kernel and pyfuse3 server; "
                       "getattr_per_s = os.stat(fd) calls/s, 1 GETATTR each; "
                       "stat_path_per_s = os.stat(path) calls/s, LOOKUP + GETATTR each"),
        "reps_per_s": {m: [round(x, 1) for x in rates[m]] for m in rates},
        "server_requests": tot,
    }


async def _serve(trio: Any, pyfuse3: Any, ops: Any, args: argparse.Namespace,
                 stop: threading.Event) -> dict[str, Any]:
    result: dict[str, Any] = {}

    async def watch_signals(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        sigs = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
        with trio.open_signal_receiver(*sigs) as receiver:
            task_status.started()
            async for signum in receiver:
                stop.set()
                result["interrupted"] = signal.Signals(signum).name
                measure_scope.cancel()
                return

    async def fuse_main() -> None:
        try:
            await pyfuse3.main()
        finally:
            stop.set()
            measure_scope.cancel()

    measure_scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_signals)
        nursery.start_soon(fuse_main)
        try:
            with measure_scope:
                result.update(await _measure(trio, ops, args, stop))
        except Exception:
            if not stop.is_set() or "interrupted" not in result:
                raise
        finally:
            stop.set()
            nursery.cancel_scope.cancel()
    if not result:
        raise RuntimeError("pyfuse3 main loop ended before the measurement")
    return result


def _unavailable(reason: str) -> int:
    print(json.dumps({"unavailable": reason}), flush=True)
    return 0


def serve_main(args: argparse.Namespace) -> int:
    if not os.path.exists("/dev/fuse"):
        return _unavailable("/dev/fuse does not exist")
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return _unavailable("/dev/fuse is not readable and writable")
    try:
        import pyfuse3
        import trio
    except ImportError as e:
        return _unavailable(f"{sys.executable}: {e}")

    made_dir = args.mountpoint is None
    if made_dir:
        args.mountpoint = tempfile.mkdtemp(prefix="fuse-peer-")
    mnt = args.mountpoint
    ops = _make_ops(pyfuse3)()
    # No default_permissions: see the module docstring.
    options = {f"fsname={FSNAME}", "subtype=fuse_peer"}
    initialised = False
    rc = 0
    try:
        try:
            pyfuse3.init(ops, mnt, options)
            initialised = True
        except Exception as e:  # e.g. RuntimeError: fuse_session_mount failed
            return _unavailable(f"mount on {mnt} failed: {type(e).__name__}: {e}")
        stop = threading.Event()
        result = trio.run(_serve, trio, pyfuse3, ops, args, stop)
        if "interrupted" in result:
            rc = 130
        else:
            result["mount_options"] = sorted(options)
            result["pyfuse3"] = getattr(pyfuse3, "__version__", "?")
            result["trio"] = getattr(trio, "__version__", "?")
            result["python"] = platform.python_version()
            result["kernel"] = platform.release()
            result["cpus"] = os.cpu_count()
        print(json.dumps(result), flush=True)
        return rc
    finally:
        if initialised:
            try:
                pyfuse3.close(unmount=True)
            except Exception:
                pass
        force_unmount(mnt)
        if made_dir:
            try:
                os.rmdir(mnt)
            except OSError:
                pass


# ------------------------------------------------------------------ caller's side

def run_peer(n: int, repeat: int, python: str = DEFAULT_PYTHON, *, client: str = "process",
             timeout: float | None = None) -> dict:
    """Run this file under *python* (which must have pyfuse3); return its JSON.

    Returns ``{"unavailable": reason}`` when *python* lacks pyfuse3, there
    is no usable /dev/fuse, or the run fails or times out.  Needs only the
    standard library, so it can be called from the project venv.
    """
    if timeout is None:
        timeout = 120.0 + 0.002 * n * repeat * 3  # generous: ~1.5k requests/s
    mnt = tempfile.mkdtemp(prefix="fuse-peer-")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    cmd = [python, os.path.abspath(__file__), "--n", str(n), "--repeat", str(repeat),
           "--client", client, "--mountpoint", mnt]
    try:
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, text=True)
        except OSError as e:
            return {"unavailable": f"cannot run {python}: {e}"}
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)  # lets the server unmount
            try:
                proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            return {"unavailable": f"fuse_peer timed out after {timeout:.0f} s"}
        lines = [ln for ln in out.splitlines() if ln.strip()]
        try:
            result = json.loads(lines[-1])
        except (IndexError, ValueError):
            tail = " | ".join(err.strip().splitlines()[-3:])
            return {"unavailable": f"fuse_peer failed (exit {proc.returncode}): {tail}"}
        if not isinstance(result, dict):
            return {"unavailable": f"fuse_peer printed {lines[-1]!r}"}
        if proc.returncode != 0 and "unavailable" not in result:
            tail = " | ".join(err.strip().splitlines()[-3:])
            return {"unavailable": f"fuse_peer failed (exit {proc.returncode}): {tail}"}
        return result
    finally:
        force_unmount(mnt)
        try:
            os.rmdir(mnt)
        except OSError:
            pass


# ------------------------------------------------------------------ command line

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="stat calls per loop")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions (median reported)")
    ap.add_argument("--client", choices=("process", "thread"), default="process",
                    help="where the stat loop runs (default: a separate process)")
    ap.add_argument("--mountpoint", default=None,
                    help="existing empty directory to mount on (default: a temporary one)")
    ap.add_argument("--client-loop", choices=("fd", "path"), default=None,
                    help=argparse.SUPPRESS)  # internal: be the client process
    args = ap.parse_args(argv)
    if args.n < 1 or args.repeat < 1:
        ap.error("--n and --repeat must be positive")
    if args.client_loop is not None:
        return _client_main(args.mountpoint, args.client_loop, args.n)
    return serve_main(args)


if __name__ == "__main__":
    sys.exit(main())
