"""getcwd(2) (vfs/vfs_getcwd.py, NetBSD's vfs_getcwd.c) on every file-system type.

The kernel finds the current directory's path by walking ``..`` from its
vnode and reading each parent for the child's name, so the answer is where
the directory is now: ``/`` after a chdir through a symbolic link to ``/``,
the new name after a rename, ENOENT once it was removed.  And __getcwd's
errnos: ERANGE (a buffer under two bytes, or one the path does not fit),
EACCES (a directory above the current one that may not be read).
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from fs.puffs.puffs_msgif_h import puffs_vnreq_readdir
from kern.errno import EACCES, EINVAL, ENOENT, ERANGE
from kern.exceptions import SyscallError
from kern.machine import testing as kt
from kern.machine.testing import errno_of, lwp_join
from kern.syscall import SYS___getcwd
from tools.lib import libc
from vfs.dirent import DT_DIR

from .h_fsmacros import USES, fsapply, uaddr_call


async def getcwd_walks_up(mp: str) -> None:
    await libc.mkdir(f"{mp}/a", 0o755)
    await libc.mkdir(f"{mp}/a/b", 0o755)
    await libc.chdir(f"{mp}/a/b")
    assert await libc.getcwd() == f"{mp}/a/b"
    await libc.chdir("..")
    assert await libc.getcwd() == f"{mp}/a"
    await libc.chdir(mp)  # the root of the mount: its name is the covered vnode's
    assert await libc.getcwd() == mp
    await libc.chdir("/")
    assert await libc.getcwd() == "/"
    await libc.rmdir(f"{mp}/a/b")
    await libc.rmdir(f"{mp}/a")


async def getcwd_through_symlink_to_root(mp: str) -> None:
    USES("symlinks", "symlinks not supported by file system")
    await libc.symlink("/", f"{mp}/toroot")
    await libc.mkdir(f"{mp}/d", 0o755)
    await libc.symlink("d", f"{mp}/tod")
    await libc.chdir(f"{mp}/toroot")
    assert await libc.getcwd() == "/"
    await libc.chdir(f"{mp}/tod")  # a relative link to a sibling: its real name
    assert await libc.getcwd() == f"{mp}/d"
    await libc.chdir("/")
    await libc.unlink(f"{mp}/toroot")
    await libc.unlink(f"{mp}/tod")
    await libc.rmdir(f"{mp}/d")


async def getcwd_after_rename(mp: str) -> None:
    USES("rename", "rename not supported by file system")
    await libc.mkdir(f"{mp}/old", 0o755)
    await libc.mkdir(f"{mp}/other", 0o755)
    await libc.chdir(f"{mp}/old")
    await libc.rename(f"{mp}/old", f"{mp}/new")
    assert await libc.getcwd() == f"{mp}/new"
    await libc.rename(f"{mp}/new", f"{mp}/other/moved")  # into another directory
    assert await libc.getcwd() == f"{mp}/other/moved"
    await libc.chdir("/")
    await libc.rmdir(f"{mp}/other/moved")
    await libc.rmdir(f"{mp}/other")


async def getcwd_after_rmdir(mp: str) -> None:
    await libc.mkdir(f"{mp}/gone", 0o755)
    await libc.chdir(f"{mp}/gone")
    await libc.rmdir(f"{mp}/gone")
    assert await errno_of(libc.getcwd()) == ENOENT
    await libc.chdir("/")


async def getcwd_erange(mp: str) -> None:
    await libc.mkdir(f"{mp}/dir", 0o755)
    await libc.chdir(f"{mp}/dir")
    path = f"{mp}/dir"
    # the path and its NUL: len(path) + 1 bytes
    assert await libc.getcwd(len(path) + 1) == path
    assert await errno_of(libc.getcwd(len(path))) == ERANGE  # no room for it
    assert await errno_of(libc.getcwd(3)) == ERANGE
    # The kernel's own floor: under two bytes is ERANGE before any walk
    # (libc's getcwd refuses 0 itself, so the raw call).
    from tools.lib.libc import UserTemp

    with UserTemp() as t:
        buf = t.alloc(8)
        assert await errno_of(uaddr_call(SYS___getcwd, buf, 1)) == ERANGE
        assert await errno_of(uaddr_call(SYS___getcwd, buf, 0)) == ERANGE
    await libc.chdir("/")
    assert await libc.getcwd(2) == "/"
    await libc.rmdir(f"{mp}/dir")


async def getcwd_truncated_at_the_step_limit(mp: str) -> None:
    """Kept from NetBSD (every revision of vfs_getcwd.c has it): getcwd_common
    stops after length/2 steps with no error, so a buffer that the last
    one-letter names fill exactly gets the tail of the path.  In mp/x/y a
    3-byte buffer holds "/y" and its NUL, and that is the answer, where a
    4-byte one (two steps allowed, "x" no longer fits) is ERANGE."""
    await libc.mkdir(f"{mp}/x", 0o755)
    await libc.mkdir(f"{mp}/x/y", 0o755)
    await libc.chdir(f"{mp}/x/y")
    assert await libc.getcwd(3) == "/y"
    assert await errno_of(libc.getcwd(4)) == ERANGE
    assert await libc.getcwd(len(mp) + 5) == f"{mp}/x/y"
    await libc.chdir("/")
    await libc.rmdir(f"{mp}/x/y")
    await libc.rmdir(f"{mp}/x")


async def getcwd_eacces(mp: str) -> None:
    """The current directory needs search permission only; each one above it
    read and search (GETCWD_CHECK_ACCESS).  Root sets the modes, a user asks."""
    from kern.cpu import curmachine, curproc
    from kern.kern_auth import kauth_cred_make
    from kern.kern_lwp import lwp

    USES("owners", "file system has no owners")
    await libc.mkdir(f"{mp}/up", 0o755)
    await libc.mkdir(f"{mp}/up/here", 0o755)
    await libc.chdir(f"{mp}/up/here")
    m = curmachine()
    user = m.proc_create("user", curproc(), cred=kauth_cred_make(4321, 4321))
    answers: list = []

    async def ask() -> None:
        try:
            answers.append(await libc.getcwd())
        except SyscallError as e:
            answers.append(e.errno)

    async def as_user(afn=ask) -> None:
        l = lwp(user, "user")
        m.spawn_lwp(l, afn, ())
        assert await lwp_join(l, 1000) == 0

    await as_user()
    await libc.chmod(f"{mp}/up/here", 0o111)  # search only, on the current one: fine
    await as_user()
    await libc.chmod(f"{mp}/up", 0o311)  # no read above it
    await as_user()
    assert answers == [f"{mp}/up/here", f"{mp}/up/here", EACCES]

    async def leave() -> None:  # the user's process lets go of the directory
        await libc.chdir("/")

    await as_user(leave)
    await libc.chdir("/")
    await libc.chmod(f"{mp}/up", 0o755)
    await libc.chmod(f"{mp}/up/here", 0o755)
    await libc.rmdir(f"{mp}/up/here")
    await libc.rmdir(f"{mp}/up")


test_getcwd_walks_up = fsapply(getcwd_walks_up, "getcwd walks .. up to / and across the mount")
test_getcwd_through_symlink_to_root = fsapply(
    getcwd_through_symlink_to_root, "chdir through a symlink: getcwd gives the real path")
test_getcwd_after_rename = fsapply(getcwd_after_rename,
                                   "getcwd gives the new name of a renamed directory")
test_getcwd_after_rmdir = fsapply(getcwd_after_rmdir,
                                  "getcwd of a removed directory is ENOENT")
test_getcwd_erange = fsapply(getcwd_erange, "__getcwd with a short buffer is ERANGE")
test_getcwd_truncated_at_the_step_limit = fsapply(
    getcwd_truncated_at_the_step_limit, "NetBSD's __getcwd returns a path's tail at its step limit")
test_getcwd_eacces = fsapply(getcwd_eacces,
                             "__getcwd needs read permission on the directories above")


# ------------------------------------------------------------------ malformed directories

class _RawReaddirServer:
    """A memfs puffs server whose readdir answers, while ``raw`` is set,
    ``raw(resid)``'s bytes as the directory (a malformed reply), ending it."""

    @staticmethod
    def make() -> Any:
        from tools.lib.libpuffs import PuffsServer
        from tools.puffs_servers.memfs import MemFS

        class Server(PuffsServer):
            raw: Any = None

            async def _readdir(self, cookie: int, frame: bytearray, a: Any) -> int:
                if self.raw is None:
                    return await super()._readdir(cookie, frame, a)
                size = ctypes.sizeof(puffs_vnreq_readdir)
                data = self.raw(a.pvnr_resid)
                pos = size + a.pvnr_dentoff
                frame[pos:pos + len(data)] = data
                a.pvnr_resid -= len(data)
                a.pvnr_eofflag = 1
                a.pvnr_ncookies = 0
                return pos + len(data)

        return Server(MemFS(), "rawdir")


def _rec(fileno: int, reclen: int, name: bytes, namlen: int | None = None,
         size: int | None = None) -> bytes:
    """A struct dirent saying ``reclen``, ``size`` bytes long (default
    ``reclen``; the name cut to fit)."""
    size = reclen if size is None else size
    hdr = struct.pack("<QHHB", fileno, reclen, len(name) if namlen is None else namlen, DT_DIR)
    return (hdr + name + b"\0" * size)[:size]


def _getcwd_over(kernel, raw) -> Any:
    """getcwd in /mnt/sub of a puffs mount whose root directory reads as
    ``raw(resid, sub's file number)``; -> the path or the errno."""
    server = _RawReaddirServer.make()

    async def body() -> Any:
        pm = await kt.mount_puffs(server, "/mnt")
        await libc.mkdir("/mnt/sub", 0o755)
        ino = (await libc.stat("/mnt/sub")).st_ino
        await libc.chdir("/mnt/sub")
        server.raw = lambda resid: raw(resid, ino)
        try:
            return await libc.getcwd()
        except SyscallError as e:
            return e.errno
        finally:
            server.raw = None
            await libc.chdir("/")
            assert await pm.unmount() == 0

    return kernel.run(body)


def test_getcwd_accepts_a_record_as_short_as_dirent_minsize(kernel):
    """_DIRENT_MINSIZE is the aligned size of an empty record (16): a 16-byte
    record carrying a 3-letter name with no room for its NUL passes the C's
    check, and its name is used."""
    assert _getcwd_over(kernel, lambda resid, ino: _rec(ino, 16, b"sub")) == "/mnt/sub"


def test_getcwd_a_record_under_dirent_minsize_is_einval(kernel):
    assert _getcwd_over(kernel, lambda resid, ino: _rec(ino, 8, b"sub", size=16)) == EINVAL


def test_getcwd_a_header_cut_by_the_end_of_the_buffer_is_einval(kernel):
    """A full block whose last 8 bytes cannot hold a record header: EINVAL
    (the C reads past its buffer), not a Python error in the kernel."""
    def raw(resid: int, ino: int) -> bytes:
        return _rec(ino + 1000, resid - 8, b"x") + b"\xff" * 8
    assert _getcwd_over(kernel, raw) == EINVAL


def test_getcwd_a_name_running_past_the_buffer_is_einval(kernel):
    """The matching record's d_namlen reaches past the end of the block."""
    def raw(resid: int, ino: int) -> bytes:
        return _rec(ino + 1000, resid - 16, b"x") + _rec(ino, 16, b"sub", namlen=40)
    assert _getcwd_over(kernel, raw) == EINVAL
