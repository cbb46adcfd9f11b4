"""Shared pieces of the fss tests: ext2 disks, snapshot ioctls, e2fsck of snapshots.

The snapshotted file system is an ext2 image on a host file (made by the
host's mke2fs when e2fsprogs is there, else by tools.newfs_ext2fs), shown
in the machine as /dev/wd0 (rump's etfs) and mounted on /mnt.  Backing
stores live outside it (on the root file system), which makes the
snapshots non-persistent, as the issue asks.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from typing import Any

import pytest

from dev.fss.fssvar import FSSIOCGET, FSSIOCSET, fss_get, fss_set
from dev.rumpblk import RUMP_ETFS_BLK, rump_etfs_register
from fs.ext2fs.ext2fs_vfsops import ufs_args
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from lib import libc

E2FSCK = shutil.which("e2fsck") or ("/usr/sbin/e2fsck" if os.path.exists("/usr/sbin/e2fsck")
                                    else None)
MKE2FS = shutil.which("mke2fs") or ("/usr/sbin/mke2fs" if os.path.exists("/usr/sbin/mke2fs")
                                    else None)
needs_e2fsck = pytest.mark.skipif(E2FSCK is None, reason="e2fsprogs (e2fsck) not installed")

KiB = 1024
MiB = 1024 * KiB


def make_image(path: str, size: int, block: int = 1024) -> str:
    """A fresh ext2 image of ``size`` bytes at host ``path``."""
    if os.path.exists(path):
        os.unlink(path)
    if MKE2FS is None:
        pytest.skip("e2fsprogs (mke2fs) not installed")
    subprocess.run([MKE2FS, "-q", "-F", "-t", "ext2", "-b", str(block), path,
                    str(size // 1024)], check=True, capture_output=True)
    return path


def e2fsck(path: str) -> tuple[bool, str]:
    """``e2fsck -fn`` on a host image: (clean?, its output)."""
    assert E2FSCK is not None
    r = subprocess.run([E2FSCK, "-fn", path], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


# ---------------------------------------------------------------- in the machine

async def attach_disk(key: str, hostpath: str) -> None:
    error = await rump_etfs_register(key, hostpath, RUMP_ETFS_BLK)
    assert error == 0, f"etfs register {key}: error {error}"


async def mount_ext2(special: str, node: str, flags: int = 0) -> None:
    try:
        await libc.mkdir(node, 0o755)
    except SyscallError:
        pass
    a = ufs_args()
    a.fspec = libc.ustr(special)
    try:
        await libc.mount("ext2fs", node, flags, a)
    finally:
        libc.ufree(a.fspec)


async def setup_origin(hostimg: str, node: str = "/mnt") -> None:
    """/dev/wd0 <- hostimg, mounted on ``node``."""
    await attach_disk("/dev/wd0", hostimg)
    await mount_ext2("/dev/wd0", node)


async def write_file(path: str, data: bytes, flags: int = O_WRONLY | O_CREAT | O_TRUNC) -> None:
    fd = await libc.open(path, flags, 0o644)
    try:
        off = 0
        while off < len(data):
            off += await libc.write(fd, data[off:off + 65536])
    finally:
        await libc.close(fd)


async def read_file(path: str) -> bytes:
    fd = await libc.open(path, O_RDONLY)
    try:
        out = bytearray()
        while True:
            chunk = await libc.read(fd, 65536)
            if not chunk:
                return bytes(out)
            out += chunk
    finally:
        await libc.close(fd)


async def snap_set(fd: int, mount: str, bstore: str, csize: int = 0, flags: int = 0,
                   create_store: bool = True, cmd: int = FSSIOCSET) -> None:
    """FSSIOCSET on an open /dev/rfssN (raises SyscallError)."""
    if create_store:
        try:
            sfd = await libc.open(bstore, O_RDWR | O_CREAT, 0o600)
            await libc.close(sfd)
        except SyscallError:
            pass
    fs = fss_set()
    fs.fss_mount = libc.ustr(mount) if isinstance(mount, str) else mount
    fs.fss_bstore = libc.ustr(bstore) if isinstance(bstore, str) else bstore
    fs.fss_csize = csize
    fs.fss_flags = flags
    try:
        await libc.ioctl(fd, cmd, fs)
    finally:
        for a in (fs.fss_mount, fs.fss_bstore):
            if a > 0x1000 and isinstance(mount, str):
                try:
                    libc.ufree(a)
                except Exception:  # noqa: BLE001 - a deliberately bad pointer
                    pass


async def snap_get(fd: int) -> fss_get:
    g = fss_get()
    await libc.ioctl(fd, FSSIOCGET, g)
    return g


async def dump_device(devpath: str, hostpath: str, bs: int = 65536) -> int:
    """Copy a device (the snapshot) to a host file; returns the bytes copied."""
    fd = await libc.open(devpath, O_RDONLY)
    n = 0
    with open(hostpath, "wb") as out:
        while True:
            chunk = await libc.read(fd, bs)
            if not chunk:
                break
            out.write(chunk)
            n += len(chunk)
    await libc.close(fd)
    return n


async def errno_of(coro: Any) -> int:
    """Await a system call: its errno, 0 when it succeeds."""
    try:
        await coro
    except SyscallError as e:
        return e.errno
    return 0


_ = (ctypes, O_RDWR)
