"""Sequential I/O through kemu's VFS, side by side in one run (host wall-clock time).

    python benchmarks/bench_vfs.py [--repeat N] [--size MiB] [--profile]

Three paths, each with 64 KiB requests over a 64 MiB file (``--size``):

1. ext2 through kemu: write(2) loop into a new file on a freshly made ext2
   image (mke2fs, 4 KiB blocks) mounted on /mnt, then fsync(2); the read
   comes after unmount and mount again, so kemu's caches are cold;
2. the raw disk through kemu: write(2) and read(2) of /dev/rwd0 (the same
   kind of host file, shown as a disk by rump's etfs);
3. the host file directly: os.pwrite (then os.fsync) and os.pread.

Before each read the host is asked to drop the file's pages
(posix_fadvise DONTNEED) so that neither side reads from the host's page
cache it just filled.  Figures are medians of --repeat runs (default 3);
the ratios against the host file are what to read on a shared machine.

``--profile`` runs one ext2 write+read under cProfile (the machine's async
face, so the kernel runs in the profiled thread) and prints where the time
goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY  # noqa: E402
from kern.machine.testing import MiB, attach_disk, mount_ext2  # noqa: E402
from tools.lib import libc  # noqa: E402

CHUNK = 64 * 1024
DATA = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(CHUNK))


def make_image(path: str, size: int) -> None:
    """A fresh (sparse) ext2 image with 4 KiB blocks (mke2fs, else kemu's newfs_ext2fs)."""
    from kern.machine.testing import make_ext2_image

    make_ext2_image(path, size, block=4096)


async def attach(img: str) -> None:
    """Host file ``img`` as the disk /dev/wd0."""
    await attach_disk(img, "/dev/wd0")


async def mount(mnt: str = "/mnt") -> None:
    """mount -t ext2fs /dev/wd0 ``mnt``."""
    await mount_ext2("/dev/wd0", mnt)


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




def make_plain(path: str, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


def drop_host_cache(path: str) -> None:
    """Ask the host to forget the file's pages (clean ones; best effort)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ inside the machine

def bench_ext2(img: str, size: int) -> tuple[float, float]:
    """(write MB/s, read MB/s) of a file on ext2 through kemu."""
    with kern.boot(seed=0, trace=False) as k:
        k.run(attach, img)
        k.run(mount)
        wdt = k.run(write_loop, "/mnt/big", size, O_WRONLY | O_CREAT | O_TRUNC)
        k.run(libc.unmount, "/mnt", 0)
        drop_host_cache(img)
        k.run(mount)
        rdt = k.run(read_loop, "/mnt/big", size)
        k.run(libc.unmount, "/mnt", 0)
    return size / wdt, size / rdt


def bench_raw(img: str, size: int) -> tuple[float, float]:
    """(write MB/s, read MB/s) of the raw disk /dev/rwd0 through kemu."""
    with kern.boot(seed=0, trace=False) as k:
        k.run(attach, img)
        wdt = k.run(write_loop, "/dev/rwd0", size, O_RDWR)
        drop_host_cache(img)
        rdt = k.run(read_loop, "/dev/rwd0", size)
    return size / wdt, size / rdt


def bench_host(path: str, size: int) -> tuple[float, float]:
    """(write MB/s, read MB/s) of os.pwrite/os.pread on a host file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        t0 = time.perf_counter()
        for off in range(0, size, CHUNK):
            n = os.pwrite(fd, DATA, off)
            assert n == CHUNK
        os.fsync(fd)
        wdt = time.perf_counter() - t0
    finally:
        os.close(fd)
    drop_host_cache(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        t0 = time.perf_counter()
        while done < size:
            got = os.pread(fd, CHUNK, done)
            if not got:
                break
            done += len(got)
        rdt = time.perf_counter() - t0
    finally:
        os.close(fd)
    assert done == size
    return size / wdt, size / rdt


# ------------------------------------------------------------------ profile

def profile_ext2(img: str, size: int, top: int = 30) -> str:
    """cProfile of one ext2 write + read (async face: the kernel runs in this thread)."""
    import trio

    async def main() -> None:
        async with kern.boot(seed=0, trace=False) as k:
            await k.run(attach, img)
            await k.run(mount)
            await k.run(write_loop, "/mnt/big", size, O_WRONLY | O_CREAT | O_TRUNC)
            await k.run(libc.unmount, "/mnt", 0)
            await k.run(mount)
            await k.run(read_loop, "/mnt/big", size)
            await k.run(libc.unmount, "/mnt", 0)

    prof = cProfile.Profile()
    prof.enable()
    trio.run(main)
    prof.disable()
    out = io.StringIO()
    st = pstats.Stats(prof, stream=out)
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=64, help="file size in MiB (default 64)")
    ap.add_argument("--profile", action="store_true", help="cProfile one ext2 run")
    args = ap.parse_args()
    size = args.size * MiB
    tmp = tempfile.mkdtemp(prefix="kemu-bench-vfs-")
    try:
        img = os.path.join(tmp, "disk.img")
        imgsize = size + size // 2 + 16 * MiB  # room for the file and ext2's metadata
        if args.profile:
            make_image(img, imgsize)
            print(profile_ext2(img, size))
            return
        res: dict[str, list[tuple[float, float]]] = {"ext2": [], "raw": [], "host": []}
        for _ in range(args.repeat):
            make_image(img, imgsize)
            res["ext2"].append(bench_ext2(img, size))
            make_plain(img, size)
            res["raw"].append(bench_raw(img, size))
            host = os.path.join(tmp, "host.file")
            res["host"].append(bench_host(host, size))
            os.unlink(host)
        med: dict[str, Any] = {k: (statistics.median(w for w, _ in v),
                                   statistics.median(r for _, r in v)) for k, v in res.items()}
        hw, hr = med["host"]
        print(f"VFS sequential I/O: {args.size} MiB, 64 KiB requests, medians of {args.repeat} "
              f"runs (native helper: {kern.native.impl})")
        print(f"  {'path':34} {'write MB/s':>11} {'ratio':>7} {'read MB/s':>11} {'ratio':>7}")
        rows = [("ext2 file through kemu", "ext2"),
                ("raw disk /dev/rwd0 through kemu", "raw"),
                ("host file (os.pwrite/os.pread)", "host")]
        for label, key in rows:
            w, r = med[key]
            print(f"  {label:34} {w / MiB:11.1f} {w / hw:7.3f} {r / MiB:11.1f} {r / hr:7.3f}")
        print("  (write: write(2) loop + fsync; ext2 read after unmount/mount; ratios against "
              "the host file)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
