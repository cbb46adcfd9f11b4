"""Benchmark workloads that run in any kemu revision since 24d3ebe (old and new layout).

In this tree the benchmarks import them (``benchmarks.portable.kemu_portable``);
benchmarks/_revision.py runs this file as a script in another revision's tree
so that both revisions run the very same workload:

    python -S benchmarks/portable/kemu_portable.py ext2-write --img PATH --size BYTES

prints one JSON line: the Sample (wall, cpu, n = bytes) of the timed write
loop.  Everything in the machine goes through system calls.  Where this
tree's test kit (kern.machine.testing) exists it is used; older revisions
get the same calls made directly (rump's etfs registration, mount(2) with a
struct ufs_args, mke2fs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

try:
    from .benchclock import Sample, Stopwatch
except ImportError:  # run as a script, or from PYTHONPATH in another tree
    from benchclock import Sample, Stopwatch

MiB = 1 << 20
CHUNK = 64 * 1024
DATA = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(CHUNK))


def libc() -> Any:
    """The revision's userland libc (tools/lib since 3f54114, lib/ before)."""
    try:
        from tools.lib import libc as c
    except ImportError:
        from lib import libc as c  # type: ignore[no-redef]
    return c


def _kit() -> Any:
    try:
        from kern.machine import testing
    except ImportError:
        return None
    return testing if hasattr(testing, "attach_disk") else None


def make_ext2_image(path: str, size: int, block: int = 4096) -> str:
    """A fresh sparse ext2 image of ``size`` bytes (the kit's maker, else mke2fs)."""
    kit = _kit()
    if kit is not None:
        return kit.make_ext2_image(path, size, block=block)
    with open(path, "wb") as f:
        f.truncate(size)
    mke2fs = shutil.which("mke2fs") or "/sbin/mke2fs"
    subprocess.run([mke2fs, "-q", "-F", "-t", "ext2", "-b", str(block), path], check=True,
                   capture_output=True)
    return path


async def attach(img: str, key: str = "/dev/wd0") -> None:
    """Host file ``img`` as the disk ``key`` (and its raw twin)."""
    kit = _kit()
    if kit is not None:
        await kit.attach_disk(img, key)
        return
    from dev.rumpblk import RUMP_ETFS_BLK, rump_etfs_register

    error = await rump_etfs_register(key, os.path.abspath(img), RUMP_ETFS_BLK)
    if error:
        raise OSError(error, f"rump_etfs_register {key} {img}")


async def mount_ext2(special: str = "/dev/wd0", mnt: str = "/mnt") -> None:
    """mount -t ext2fs ``special`` ``mnt``."""
    kit = _kit()
    if kit is not None:
        await kit.mount_ext2(special, mnt)
        return
    from fs.ext2fs.ext2fs_vfsops import ufs_args

    c = libc()
    a = ufs_args()
    a.fspec = c.ustr(special)
    try:
        await c.mount("ext2fs", mnt, 0, a)
    finally:
        c.ufree(a.fspec)


async def write_loop(path: str, size: int, flags: int | None = None,
                     data: bytes = DATA) -> Sample:
    """write(2) ``size`` bytes a chunk at a time, then fsync(2): a Sample with n = bytes."""
    from kern.fcntl import O_CREAT, O_TRUNC, O_WRONLY

    c = libc()
    if flags is None:
        flags = O_WRONLY | O_CREAT | O_TRUNC
    fd = await c.open(path, flags, 0o644)
    sw = Stopwatch()
    for _ in range(size // len(data)):
        n = await c.write(fd, data)
        if n != len(data):
            raise OSError(f"short write: {n} of {len(data)}")
    await c.fsync(fd)
    s = sw.sample(size)
    await c.close(fd)
    return s


async def read_loop(path: str, size: int, chunk: int = CHUNK) -> Sample:
    """read(2) ``size`` bytes a chunk at a time (all must come): a Sample with n = bytes."""
    from kern.fcntl import O_RDONLY

    c = libc()
    fd = await c.open(path, O_RDONLY)
    done = 0
    sw = Stopwatch()
    while done < size:
        got = await c.read(fd, chunk)
        if not got:
            break
        done += len(got)
    s = sw.sample(size)
    await c.close(fd)
    if done != size:
        raise OSError(f"short read of {path}: {done} of {size}")
    return s


def ext2_write(img: str, size: int, seed: int = 0) -> Sample:
    """A ``size``-byte sequential write (64 KiB write(2)s + fsync) to a new file on
    fresh ext2 image ``img`` (made here, big enough) in a new machine, trace off."""
    import kern

    make_ext2_image(img, size + size // 2 + 16 * MiB)
    with kern.boot(seed=seed, trace=False) as k:
        k.run(attach, img)
        k.run(mount_ext2)
        s = k.run(write_loop, "/mnt/big", size)
        k.run(libc().unmount, "/mnt", 0)
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("ext2-write", help="timed sequential write on a fresh ext2 image")
    w.add_argument("--size", type=int, required=True, help="bytes")
    w.add_argument("--img", default=None, help="image path (default: a temporary file)")
    w.add_argument("--seed", type=int, default=0)
    sub.add_parser("native", help="print the native helper in use")
    args = ap.parse_args(argv)
    if args.cmd == "native":
        import kern.native

        print(json.dumps({"native": kern.native.impl}))
        return 0
    tmp = None
    img = args.img
    if img is None:
        tmp = tempfile.mkdtemp(prefix="kemu-portable-")
        img = os.path.join(tmp, "disk.img")
    try:
        s = ext2_write(img, args.size, args.seed)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(s.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
