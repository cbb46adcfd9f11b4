"""What the benchmarks share: ext2 images on the host, and the timed I/O
loops and mount helpers that run in a user lwp of a machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from tools.lib import libc

MiB = 1 << 20
CHUNK = 64 * 1024
DATA = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(CHUNK))

#: mke2fs on this host (None: not installed)
MKE2FS = shutil.which("mke2fs") or next(
    (p for p in ("/usr/sbin/mke2fs", "/sbin/mke2fs") if os.path.exists(p)), None)


def make_image(path: str, size: int, block: int = 4096) -> None:
    """A fresh (sparse) ext2 image of ``size`` bytes at host ``path``."""
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run([MKE2FS or "mke2fs", "-q", "-F", "-t", "ext2", "-b", str(block), path],
                   check=True, capture_output=True)


async def attach(img: str) -> None:
    """Host file ``img`` as the disk /dev/wd0 (rump's etfs)."""
    from dev.rumpblk import RUMP_ETFS_BLK, rump_etfs_register

    assert await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK) == 0


async def mount_ext2(mnt: str = "/mnt") -> None:
    """mount -t ext2fs /dev/wd0 ``mnt``."""
    from fs.ext2fs.ext2fs_vfsops import ufs_args

    a = ufs_args()
    a.fspec = libc.ustr("/dev/wd0")
    try:
        await libc.mount("ext2fs", mnt, 0, a)
    finally:
        libc.ufree(a.fspec)


async def write_loop(path: str, size: int, flags: int = O_WRONLY | O_CREAT | O_TRUNC,
                     data: bytes = DATA) -> float:
    """Seconds for write(2) of ``size`` bytes, a CHUNK at a time, and fsync(2)."""
    fd = await libc.open(path, flags, 0o644)
    t0 = time.perf_counter()
    for _ in range(size // len(data)):
        n = await libc.write(fd, data)
        assert n == len(data), n
    await libc.fsync(fd)
    dt = time.perf_counter() - t0
    await libc.close(fd)
    return dt


async def read_loop(path: str, size: int) -> float:
    """Seconds for read(2) of ``size`` bytes, a CHUNK at a time (all must come)."""
    fd = await libc.open(path, O_RDONLY)
    done = 0
    t0 = time.perf_counter()
    while done < size:
        got = await libc.read(fd, CHUNK)
        if not got:
            break
        done += len(got)
    dt = time.perf_counter() - t0
    await libc.close(fd)
    assert done == size, (done, size)
    return dt
