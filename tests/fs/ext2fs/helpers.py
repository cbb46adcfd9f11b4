"""Helpers for the ext2fs tests: host images (mke2fs, debugfs, e2fsck) and in-machine file calls.

Images are host files made by e2fsprogs (or tools.newfs_ext2fs); inside
the machine they become the block device /dev/wd<N> (rump's etfs) and are
mounted with mount(2)'s kernel side.  The file calls go through namei and
the VOPs the way the system calls do, and return errnos (``check`` turns a
non-zero one into a test failure naming it).
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import kern
from kern.conf.GENERIC import config as GENERIC
from kern.errno import errorcode
from kern.machine import testing as kt

# The kit's look (PATH, then /sbin and /usr/sbin), so both make the same skip decisions.
_MISSING = kt.e2fsprogs_missing("mke2fs", "e2fsck", "debugfs")
E2FSPROGS = _MISSING is None
needs_e2fsprogs = pytest.mark.skipif(not E2FSPROGS, reason=_MISSING or "")

MB = 1 << 20

CONFIG = GENERIC.derive(
    "EXT2TEST",
    module_path=dict(GENERIC.module_path, ext2fs="fs.ext2fs.ext2fs_vfsops"),
    boot=list(GENERIC.boot) + (["vfs.uvm:uvm_init"] if "vfs.uvm:uvm_init" not in
                               GENERIC.boot else []),
    post_boot=list(GENERIC.post_boot) + (["vfs.uvm:uvm_pdaemon_start"]
                                         if "vfs.uvm:uvm_pdaemon_start" not in
                                         GENERIC.post_boot else []),
)


def boot(seed: int = 1, **kw: Any) -> kern.Machine:
    return kern.boot(seed=seed, config=CONFIG, **kw)


def run_clean(img: str, body: Callable[[], Awaitable[Any]], seed: int = 1) -> Any:
    """Run ``body`` in a fresh machine, then e2fsck must call ``img`` clean;
    what ``body`` returned."""
    with boot(seed) as k:
        result = k.run(body)
    assert_clean(img)
    return result


# ------------------------------------------------------------------ host side

def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    """A host command; an e2fsprogs tool is run from where the kit found it."""
    tool = kt.E2FSPROGS.get(cmd[0]) or cmd[0]
    return subprocess.run([tool, *cmd[1:]], capture_output=True, text=True, check=check)


def mkfs(path: str, size: int, bsize: int = 1024, root: str | None = None,
         extra: tuple[str, ...] = ()) -> str:
    """A fresh ext2 image of ``size`` bytes made by mke2fs (populated from ``root``)."""
    return kt.make_ext2_image(path, size, block=bsize, root=root, extra=extra, mkfs="mke2fs")


e2fsck = kt.e2fsck
assert_clean = kt.assert_e2fsck_clean


def debugfs(path: str, request: str, write: bool = False) -> str:
    args = ["debugfs"] + (["-w"] if write else []) + ["-R", request, path]
    return run(*args).stdout


def debugfs_cat(path: str, name: str) -> bytes:
    p = subprocess.run([kt.E2FSPROGS["debugfs"] or "debugfs", "-R", f"cat {name}", path],
                       capture_output=True, check=True)
    return p.stdout


def dumpe2fs_h(path: str) -> dict[str, str]:
    out = run("dumpe2fs", "-h", path, check=False).stdout
    d = {}
    for line in out.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            d[k.strip()] = v.strip()
    return d


def pattern(n: int, seed: int = 0) -> bytes:
    """``n`` bytes that differ at every offset and between seeds."""
    block = bytes(((i * 131 + seed * 7 + (i >> 8)) & 0xFF) for i in range(65536))
    reps = n // len(block) + 1
    return (block * reps)[:n]


def sb_patch(path: str, off: int, fmt: str, value: int) -> None:
    """Overwrite a field of the primary super block (offset within it)."""
    with open(path, "r+b") as f:
        f.seek(1024 + off)
        f.write(struct.pack(fmt, value))


def sb_field(path: str, off: int, fmt: str) -> int:
    with open(path, "rb") as f:
        f.seek(1024 + off)
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


# ------------------------------------------------------------------ machine side

def host_call_in_bread_nowait(monkeypatch: Any,
                              every: bool = False) -> tuple[list[str], list[bool]]:
    """From now on, when vfs_bio's bread_nowait gives bufcache_lock back after
    getblk's part, a host thread queues a call for the machine's run
    (Machine.call_soon, as the shell's input thread does for a Ctrl-C or a
    line): its host_poke turns the CPU's slow path on in the middle of
    bread_nowait, as a GIL switch there did in a loaded run.  Once, or at
    ``every`` such release.  -> (posted, ran): ``posted`` gets the name of
    bread_nowait's caller as each call is queued, ``ran`` a True as each runs
    in the machine."""
    import sys
    import threading

    import vfs.vfs_bio as vfs_bio

    real_exit = vfs_bio.mutex_exit
    posted: list[str] = []
    ran: list[bool] = []
    armed = [True]

    def mutex_exit(mtx: Any) -> None:
        real_exit(mtx)
        if not armed[0] or mtx is not vfs_bio.bufcache().lock:
            return
        f = sys._getframe(1)
        while f is not None and f.f_code.co_name != "bread_nowait":
            f = f.f_back
        if f is None or f.f_code.co_filename != vfs_bio.__file__:
            return
        armed[0] = every
        posted.append(f.f_back.f_code.co_name if f.f_back is not None else "?")
        t = threading.Thread(target=kern.curmachine().call_soon, args=(lambda: ran.append(True),))
        t.start()
        t.join()

    monkeypatch.setattr(vfs_bio, "mutex_exit", mutex_exit)
    return posted, ran


def check(error: int, what: str = "") -> None:
    if error:
        raise AssertionError(f"{what or 'call'} failed: {errorcode.get(error, error)}")


def _cred() -> Any:
    from kern.cpu import curlwp

    return curlwp().l_cred


async def attach_image(img: str, dev: str = "/dev/wd0") -> int:
    """kt.attach_disk as an errno."""
    return await kt.errno_of(kt.attach_disk(img, dev))


async def mount(img: str | None, mnt: str = "/mnt", dev: str = "/dev/wd0", ro: bool = False,
                flags: int = 0) -> int:
    """Attach ``img`` as ``dev`` (unless None) and mount it on ``mnt``; the errno."""
    from fs.ext2fs.ext2fs_vfsops import ufs_args
    from kern.cpu import curlwp
    from tools.lib.libc import ustr, ustruct
    from vfs.mount import MNT_RDONLY
    from vfs.vfs_mount import do_sys_mount
    from vfs.vfs_syscalls import kern_mkdir

    if img is not None:
        error = await attach_image(img, dev)
        if error:
            return error
    await kern_mkdir(mnt, 0o755)
    a = ufs_args()
    a.fspec = ustr(dev)
    r = [0]
    return await do_sys_mount(curlwp(), ustr("ext2fs"), ustr(mnt),
                              flags | (MNT_RDONLY if ro else 0), ustruct(a),
                              ctypes.sizeof(a), r)


async def mount_of(path: str = "/mnt") -> Any:
    from vfs.namei import namei_simple_kernel
    from vfs.namei_h import FOLLOW
    from vfs.vnode import vrele

    error, vp = await namei_simple_kernel(path, FOLLOW)
    check(error, f"lookup {path}")
    mp = vp.v_mount
    await vrele(vp)
    return mp


async def umount(mnt: str = "/mnt", flags: int = 0) -> int:
    from kern.cpu import curlwp
    from tools.lib.libc import ustr
    from vfs.vfs_mount import do_sys_unmount

    return await do_sys_unmount(curlwp(), ustr(mnt), flags)


async def vnode_of(path: str, follow: bool = True) -> tuple[int, Any]:
    """(errno, referenced unlocked vnode)."""
    from vfs.namei import namei_simple_kernel
    from vfs.namei_h import FOLLOW, NOFOLLOW

    return await namei_simple_kernel(path, FOLLOW if follow else NOFOLLOW)


async def write_file(path: str, data: bytes, offset: int = 0, create: bool = True,
                     trunc: bool = False, append: bool = False, mode: int = 0o644) -> int:
    """Write ``data`` at ``offset`` of ``path`` (created if asked); the errno."""
    from kern.fcntl import O_APPEND, O_CREAT, O_TRUNC, O_WRONLY
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.namei import NDINIT, nameidata, pathbuf_create
    from vfs.namei_h import FOLLOW
    from vfs.vfs_syscalls import FFLAGS
    from vfs.vfs_vnops import vn_close, vn_open, vn_rdwr
    from vfs.vnode import IO_APPEND, IO_NODELOCKED
    from vfs.vnode_if import VOP_UNLOCK

    oflags = O_WRONLY | (O_CREAT if create else 0) | (O_TRUNC if trunc else 0) | \
        (O_APPEND if append else 0)
    nd = nameidata()
    NDINIT(nd, 0, FOLLOW, pathbuf_create(path))
    fmode = FFLAGS(oflags)
    error = await vn_open(nd, fmode, mode)
    if error:
        return error
    vp = nd.ni_vp
    error = 0
    if data:
        error = await vn_rdwr(1, vp, bytearray(data), len(data), offset, UIO_SYSSPACE,
                              IO_NODELOCKED | (IO_APPEND if append else 0), _cred(), None,
                              None)
    VOP_UNLOCK(vp)
    e2 = await vn_close(vp, fmode, _cred())
    return error or e2


async def read_file(path: str, n: int | None = None, offset: int = 0) -> tuple[int, bytes]:
    """(errno, bytes) of ``path`` from ``offset`` (all of it by default), opened for reading."""
    from kern.fcntl import O_RDONLY
    from kern.subr_uio import UIO_READ, UIO_SYSSPACE
    from vfs.namei import NDINIT, nameidata, pathbuf_create
    from vfs.namei_h import FOLLOW
    from vfs.stat import stat as struct_stat
    from vfs.vfs_syscalls import FFLAGS
    from vfs.vfs_vnops import vn_close, vn_open, vn_rdwr, vn_stat
    from vfs.vnode import IO_NODELOCKED
    from vfs.vnode_if import VOP_UNLOCK

    nd = nameidata()
    NDINIT(nd, 0, FOLLOW, pathbuf_create(path))
    fmode = FFLAGS(O_RDONLY)
    error = await vn_open(nd, fmode, 0)
    if error:
        return error, b""
    vp = nd.ni_vp
    if n is None:
        sb = struct_stat()
        error = await vn_stat(vp, sb)
        n = max(0, sb.st_size - offset)
    buf = bytearray(n)
    resid = [0]
    if error == 0:
        error = await vn_rdwr(UIO_READ, vp, buf, n, offset, UIO_SYSSPACE, IO_NODELOCKED,
                              _cred(), resid, None)
    VOP_UNLOCK(vp)
    await vn_close(vp, fmode, _cred())
    return error, bytes(buf[:n - resid[0]])


async def stat(path: str, follow: bool = True) -> tuple[int, Any]:
    """(errno, struct stat), as stat(2)/lstat(2) get it."""
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.namei_h import FOLLOW, NOFOLLOW
    from vfs.vfs_syscalls import do_sys_stat

    return await do_sys_stat(path, UIO_SYSSPACE, FOLLOW if follow else NOFOLLOW)


async def getattr_(path: str, follow: bool = True) -> tuple[int, Any]:
    from vfs.vnode import LK_SHARED, vattr, vn_lock, vput
    from vfs.vnode_if import VOP_GETATTR

    error, vp = await vnode_of(path, follow)
    if error:
        return error, None
    va = vattr()
    await vn_lock(vp, LK_SHARED | 0x00020000)
    error = await VOP_GETATTR(vp, va, _cred())
    await vput(vp)
    return error, va


async def mkdir(path: str, mode: int = 0o755) -> int:
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_mkdir

    return await do_sys_mkdir(path, mode, UIO_SYSSPACE)


async def rmdir(path: str) -> int:
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_rmdir

    return await do_sys_rmdir(path, UIO_SYSSPACE)


async def unlink(path: str) -> int:
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_unlink

    return await do_sys_unlink(path, UIO_SYSSPACE)


async def rename(a: str, b: str) -> int:
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_rename

    return await do_sys_rename(a, b, UIO_SYSSPACE)


async def link(target: str, name: str) -> int:
    from kern.cpu import curlwp
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_link

    return await do_sys_link(curlwp(), target, name, UIO_SYSSPACE)


async def symlink(target: str, name: str) -> int:
    from kern.cpu import curlwp
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_symlink

    return await do_sys_symlink(curlwp(), target, name, UIO_SYSSPACE)


async def mknod(path: str, mode: int, dev: int) -> int:
    from kern.cpu import curlwp
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_mknod

    return await do_sys_mknod(curlwp(), path, mode, dev, UIO_SYSSPACE)


async def readlink(path: str) -> tuple[int, bytes]:
    from kern.subr_uio import UIO_READ, kernel_uio
    from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, vn_lock, vput
    from vfs.vnode_if import VOP_READLINK

    error, vp = await vnode_of(path, follow=False)
    if error:
        return error, b""
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    buf = bytearray(1024)
    u = kernel_uio(buf, 0, UIO_READ)
    error = await VOP_READLINK(vp, u, _cred())
    await vput(vp)
    return error, bytes(buf[:1024 - u.uio_resid])


async def readdir(path: str, bufsize: int = 4096) -> tuple[int, list[tuple[int, str, int]]]:
    """(errno, [(fileno, name, d_type)...]) of every entry, read ``bufsize`` bytes at a time."""
    from kern.subr_uio import UIO_READ, kernel_uio
    from vfs.dirent import iter_dirents
    from vfs.vnode import LK_RETRY, LK_SHARED, vn_lock, vput
    from vfs.vnode_if import VOP_READDIR

    error, vp = await vnode_of(path)
    if error:
        return error, []
    out: list[tuple[int, str, int]] = []
    off = 0
    await vn_lock(vp, LK_SHARED | LK_RETRY)
    try:
        while True:
            buf = bytearray(bufsize)
            u = kernel_uio(buf, off, UIO_READ)
            error, eof, cookies, ncookies = await VOP_READDIR(vp, u, _cred())
            if error:
                return error, out
            n = bufsize - u.uio_resid
            out.extend(iter_dirents(bytes(buf[:n])))
            off = u.uio_offset
            if eof or n == 0:
                break
    finally:
        await vput(vp)
    return 0, out


async def truncate(path: str, length: int) -> int:
    from vfs.vfs_syscalls import do_sys_truncate_vp
    from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, vn_lock, vput

    error, vp = await vnode_of(path)
    if error:
        return error
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    error = await do_sys_truncate_vp(vp, length, _cred())
    await vput(vp)
    return error


async def set_attr(path: str, follow: bool = True, **fields: Any) -> int:
    from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, vattr, vn_lock, vput
    from vfs.vnode_if import VOP_SETATTR

    error, vp = await vnode_of(path, follow)
    if error:
        return error
    va = vattr()
    for k, v in fields.items():
        setattr(va, "va_" + k, v)
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    error = await VOP_SETATTR(vp, va, _cred())
    await vput(vp)
    return error


async def access(path: str, mode: int) -> int:
    from vfs.vnode import LK_RETRY, LK_SHARED, vn_lock, vput
    from vfs.vnode_if import VOP_ACCESS

    error, vp = await vnode_of(path)
    if error:
        return error
    await vn_lock(vp, LK_SHARED | LK_RETRY)
    error = await VOP_ACCESS(vp, mode, _cred())
    await vput(vp)
    return error


async def fsync(path: str) -> int:
    from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, vn_lock, vput
    from vfs.vnode_if import VOP_FSYNC

    error, vp = await vnode_of(path)
    if error:
        return error
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    error = await VOP_FSYNC(vp, _cred(), 1, 0, 0)
    await vput(vp)
    return error


async def sync() -> None:
    from kern.cpu import curlwp
    from vfs.vfs_syscalls import do_sys_sync

    await do_sys_sync(curlwp())


async def statvfs(path: str) -> tuple[int, Any]:
    from kern.cpu import curlwp
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_pstatvfs

    return await do_sys_pstatvfs(curlwp(), path, UIO_SYSSPACE, 1)


class as_user:
    """``async with as_user(uid, gid): ...`` runs the lwp with other credentials."""

    def __init__(self, uid: int, gid: int, groups: tuple[int, ...] = ()) -> None:
        from kern.kern_auth import kauth_cred_make

        self.cred = kauth_cred_make(uid, gid, groups)

    async def __aenter__(self) -> None:
        from kern.cpu import curlwp

        l = curlwp()
        self.saved = l.l_cred
        l.l_cred = self.cred

    async def __aexit__(self, *a: Any) -> None:
        from kern.cpu import curlwp

        curlwp().l_cred = self.saved


def populate(root: str, tree: dict[str, Any]) -> None:
    """Make a host directory tree: bytes are files, dicts directories,
    ("symlink", target) symlinks, ("link", other) hard links."""
    os.makedirs(root, exist_ok=True)
    for name, v in tree.items():
        p = os.path.join(root, name)
        if isinstance(v, dict):
            populate(p, v)
        elif isinstance(v, tuple) and v[0] == "symlink":
            os.symlink(v[1], p)
        elif isinstance(v, tuple) and v[0] == "link":
            os.link(os.path.join(root, v[1]), p)
        else:
            with open(p, "wb") as f:
                f.write(v)
