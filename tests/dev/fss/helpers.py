"""Shared pieces of the fss tests: ext2 disks, snapshot ioctls, e2fsck of snapshots.

The snapshotted file system is an ext2 image on a host file (made by the
host's mke2fs; the tests skip without e2fsprogs), shown in the machine as
/dev/wd0 (rump's etfs) and mounted on /mnt.  Backing stores live outside
it (on the root file system), which makes the snapshots non-persistent, as
the issue asks.  The disk and e2fsprogs pieces are those of the file-system
tests (tests/fs/vfs/h_fsmacros.py).
"""

from __future__ import annotations

import pytest

from dev.fss.fssvar import FSSIOCGET, FSSIOCSET, fss_get, fss_set
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from tests.fs.vfs.h_fsmacros import E2FSPROGS, attach_disk, e2fsprogs_missing, mke2fs, mount_ext2fs
from tools.lib import libc

needs_e2fsck = pytest.mark.skipif(E2FSPROGS["e2fsck"] is None,
                                  reason="e2fsprogs (e2fsck) not installed")

KiB = 1024
MiB = 1024 * KiB


def make_image(path: str, size: int, block: int = 1024) -> str:
    """A fresh ext2 image of ``size`` bytes at host ``path`` (skips without mke2fs)."""
    if E2FSPROGS["mke2fs"] is None:
        pytest.skip(e2fsprogs_missing())
    return mke2fs(path, size, block)


# ---------------------------------------------------------------- in the machine

async def setup_origin(hostimg: str, node: str = "/mnt") -> None:
    """/dev/wd0 <- hostimg, mounted on ``node``."""
    await attach_disk("/dev/wd0", hostimg)
    await mount_ext2fs("/dev/wd0", node)


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
    # ``mount`` and ``bstore`` are paths, or raw user addresses (bad pointers)
    fs = fss_set()
    fs.fss_mount = libc.ustr(mount) if isinstance(mount, str) else mount
    fs.fss_bstore = libc.ustr(bstore) if isinstance(bstore, str) else bstore
    fs.fss_csize = csize
    fs.fss_flags = flags
    try:
        await libc.ioctl(fd, cmd, fs)
    finally:
        for arg, a in ((mount, fs.fss_mount), (bstore, fs.fss_bstore)):
            if isinstance(arg, str):
                libc.ufree(a)


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


