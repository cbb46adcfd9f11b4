"""Helpers for the puffs tests: a machine with puffs, memfs servers, file calls.

``boot()`` gives a GENERIC machine: the puffs module is autoloaded when
/dev/puffs (char 178, minor PUFFS_CLONER) is opened or mount(2) names puffs,
and open(2) finishes the device's cloning open.

The file calls below run in a user lwp and enter the kernel through
``kern.syscall.syscall``; they return an errno (0 for success) instead of
raising, as the rump tests' ``rump_sys_*`` return -1 and errno.
"""

from __future__ import annotations

import ctypes
from typing import Any

import kern
from kern import syscall as sc
from kern.conf.GENERIC import config as GENERIC
from kern.cpu import curproc
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDWR
from kern.subr_copy import uread
from tools.lib.libc import UserTemp
from tools.lib.libpuffs import PuffsServer, daemon
from tools.lib.libpuffs.remote import RemoteServer
from tools.puffs_servers.memfs import MemFS
from vfs.mount import statvfs
from vfs.stat import stat


def boot(seed: int = 1, **kw: Any) -> kern.Machine:
    """A machine with puffs; ``--kemu-seed=N`` shifts every test's seed by 1000*N."""
    from kern.machine import machine

    return kern.boot(seed=seed + 1000 * machine.default_seed, config=GENERIC, **kw)


class Booted:
    """``with Booted(seed) as k``: a started machine with puffs."""

    def __init__(self, seed: int = 1, **kw: Any) -> None:
        self.k = boot(seed, **kw)

    def __enter__(self) -> kern.Machine:
        self.k.__enter__()
        return self.k

    def __exit__(self, *exc: Any) -> None:
        self.k.__exit__(*exc)


class DiesOnSuspendMemFS(MemFS):
    """A memfs whose server closes its device (puffs_exit: the kernel's forced
    unmount) when told a suspension starts, i.e. from inside a dounmount of
    its file system (the halt's, or an unmount -f): two dounmounts of one
    mount at once.  Used by tests/kern/test_halt.py too."""

    server: Any = None

    async def fs_suspend(self, status: int) -> None:
        from fs.puffs.puffs_msgif_h import PUFFS_SUSPEND_START

        if status == PUFFS_SUSPEND_START:
            await self.server.exit()


MEMFS = "tools.puffs_servers.memfs:MemFS"


def start_remote_server(k: kern.Machine, ops: str = MEMFS, dir: str = "/mnt",
                        name: str = "memfs", ops_kwargs: dict[str, Any] | None = None,
                        **kw: Any) -> RemoteServer:
    """``ops`` (a "module:Class" name, memfs by default) served by a separate
    OS process, mounted on ``dir``; the shovels run in a process of the machine."""
    return _start(k, RemoteServer(ops, name, ops_kwargs=ops_kwargs, **kw), dir, name)


def start_server(k: kern.Machine, ops: Any = None, dir: str = "/mnt", name: str = "memfs",
                 **kw: Any) -> PuffsServer:
    """A server process running ``ops`` (MemFS by default) mounted on ``dir``."""
    return _start(k, PuffsServer(ops if ops is not None else MemFS(), name, **kw), dir, name)


def _start(k: kern.Machine, server: Any, dir: str, name: str) -> Any:
    """Run ``server.main(dir)`` in an lwp of a new process of its own."""
    server.proc = k.proc_create(name, k.initproc)  # type: ignore[attr-defined]
    server.thread_errors = []  # type: ignore[attr-defined]

    async def starter() -> None:
        await daemon(server.main, dir, name=name, errors=server.thread_errors)

    k.run(starter, name=f"start-{name}", proc=server.proc)
    return server


# ------------------------------------------------------------------ file calls (errno, value)

async def call(code: int, *args: Any) -> tuple[int, Any]:
    try:
        return 0, await sc.syscall(code, *args)
    except SyscallError as e:
        return e.errno, None


async def open_(path: str, flags: int = O_RDWR, mode: int = 0o644) -> tuple[int, int]:
    with UserTemp() as t:
        return await call(sc.SYS_open, t.path(path), flags, mode)


async def create(path: str, mode: int = 0o777) -> tuple[int, int]:
    return await open_(path, O_CREAT | O_RDWR, mode)


async def close(fd: int) -> int:
    return (await call(sc.SYS_close, fd))[0]


async def write(fd: int, data: bytes) -> tuple[int, int]:
    with UserTemp() as t:
        return await call(sc.SYS_write, fd, t.copy(data), len(data))


async def read(fd: int, n: int) -> tuple[int, bytes]:
    with UserTemp() as t:
        buf = t.alloc(n)
        error, cnt = await call(sc.SYS_read, fd, buf, n)
        return error, (uread(curproc(), buf, cnt) if not error and cnt else b"")


async def pread(fd: int, n: int, off: int) -> tuple[int, bytes]:
    with UserTemp() as t:
        buf = t.alloc(n)
        error, cnt = await call(sc.SYS_pread, fd, buf, n, 0, off)
        return error, (uread(curproc(), buf, cnt) if not error and cnt else b"")


async def stat_(path: str) -> tuple[int, stat]:
    sb = stat()
    with UserTemp() as t:
        a = t.alloc(ctypes.sizeof(sb))
        error, _ = await call(sc.SYS___stat50, t.path(path), a)
        if not error:
            sb = stat.from_buffer_copy(uread(curproc(), a, ctypes.sizeof(sb)))
        return error, sb


async def statvfs1(path: str, flags: int = 1) -> tuple[int, statvfs]:
    sb = statvfs()
    with UserTemp() as t:
        a = t.alloc(ctypes.sizeof(sb))
        error, _ = await call(sc.SYS_statvfs1, t.path(path), a, flags)
        if not error:
            sb = statvfs.from_buffer_copy(uread(curproc(), a, ctypes.sizeof(sb)))
        return error, sb


async def syncbar(path: str = "/mnt") -> None:
    """A synchronous request: every FAF queued before it has reached the server."""
    error, _ = await statvfs1(path)
    assert error == 0, f"statvfs1 {path}: {error}"


async def path_call(code: int, *paths: str) -> int:
    with UserTemp() as t:
        return (await call(code, *[t.path(p) for p in paths]))[0]


async def chdir(path: str) -> int:
    return await path_call(sc.SYS_chdir, path)


async def unlink(path: str) -> int:
    return await path_call(sc.SYS_unlink, path)


async def rmdir(path: str) -> int:
    return await path_call(sc.SYS_rmdir, path)


async def link(path: str, new: str) -> int:
    return await path_call(sc.SYS_link, path, new)


async def rename(a: str, b: str) -> int:
    return await path_call(sc.SYS_rename, a, b)


async def symlink(target: str, path: str) -> int:
    return await path_call(sc.SYS_symlink, target, path)


async def mkdir(path: str, mode: int = 0o755) -> int:
    with UserTemp() as t:
        return (await call(sc.SYS_mkdir, t.path(path), mode))[0]


async def readlink(path: str) -> tuple[int, bytes]:
    with UserTemp() as t:
        buf = t.alloc(1024)
        error, n = await call(sc.SYS_readlink, t.path(path), buf, 1024)
        return error, (uread(curproc(), buf, n) if not error else b"")


async def getdents(fd: int, count: int = 4096) -> tuple[int, bytes]:
    with UserTemp() as t:
        buf = t.alloc(count)
        error, n = await call(sc.SYS___getdents30, fd, buf, count)
        return error, (uread(curproc(), buf, n) if not error and n else b"")


async def listdir(path: str) -> tuple[int, list[str]]:
    from vfs.dirent import iter_dirents

    error, fd = await open_(path, 0)
    if error:
        return error, []
    names: list[str] = []
    while True:
        error, buf = await getdents(fd)
        if error or not buf:
            break
        names += [n for _, n, _ in iter_dirents(buf)]
    await close(fd)
    return error, names


async def fsync(fd: int) -> int:
    return (await call(sc.SYS_fsync, fd))[0]


async def unmount(path: str, flags: int = 0) -> int:
    with UserTemp() as t:
        return (await call(sc.SYS_unmount, t.path(path), flags))[0]


async def unmount_refused_then_forced(path: str = "/mnt") -> list[int]:
    """unmount, stat, unmount -f: the three errnos (a refusing server gives
    [EBUSY, 0, 0]: still mounted after the refusal, gone after the force)."""
    from vfs.mount import MNT_FORCE

    out = [await unmount(path)]
    out.append((await stat_(path))[0])
    out.append(await unmount(path, MNT_FORCE))
    return out


def mounted(k: kern.Machine, path: str = "/mnt") -> Any:
    """The puffs mount on ``path``, or None (kernel-side look, for asserts)."""
    from vfs.mount import vfsglobals

    for mp in vfsglobals.of(k).mountlist:
        if mp.mnt_stat.f_mntonname.decode() == path and mp.mnt_op.vfs_name == "puffs":
            return mp
    return None


def kmem_inuse(k: kern.Machine) -> int:
    from kern.subr_kmem import _kmem

    return _kmem.of(k).inuse
