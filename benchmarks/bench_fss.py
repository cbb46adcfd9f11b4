"""fss(4) speed, measured side by side in one run (wall-clock time of the host).

    python benchmarks/bench_fss.py [--repeat N]

On a 64 MiB ext2 image (a host file shown as /dev/wd0):

1. sequential read of /dev/rfss0 with 64 KiB requests, all clusters never
   written since the snapshot, against the same read of the raw disk
   /dev/rwd0 (target: at least 0.5 of the raw disk's rate);
2. the first full overwrite (write + fsync) of a 16 MiB file with the
   snapshot active, against the same overwrite with no snapshot (target: at
   least 0.33, one read and two writes per block);
3. the second overwrite with the snapshot active (the clusters are already
   copied), against no snapshot (target: at least 0.9);
4. snapshot creation time and kernel memory on a 1 GiB sparse image.

Each figure is the median of --repeat runs (default 3); ratios are what to
read on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from benchmarks.bench_vfs import (  # noqa: E402
    CHUNK,
    MiB,
    attach,
    make_image,
    read_loop,
    write_loop,
)
from benchmarks.bench_vfs import mount as mount_ext2  # noqa: E402
from dev.fss.fssvar import FSSIOCCLR, FSSIOCSET, fss_set  # noqa: E402
from kern.fcntl import O_CREAT, O_RDWR, O_WRONLY  # noqa: E402
from kern.subr_kmem import kmem_stats  # noqa: E402
from tools.lib import libc  # noqa: E402


async def setup(img: str) -> None:
    await attach(img)
    await mount_ext2()


async def snapshot(store: str = "/tmp/store") -> int:
    fd = await libc.open(store, O_RDWR | O_CREAT, 0o600)
    await libc.close(fd)
    fd = await libc.open("/dev/rfss0", O_RDWR)
    fs = fss_set()
    fs.fss_mount = libc.ustr("/mnt")
    fs.fss_bstore = libc.ustr(store)
    await libc.ioctl(fd, FSSIOCSET, fs)
    return fd


async def seq_read(dev: str, nbytes: int) -> float:
    return nbytes / await read_loop(dev, nbytes)


async def overwrite(path: str, size: int, byte: int) -> float:
    return size / await write_loop(path, size, O_WRONLY | O_CREAT, bytes([byte]) * CHUNK)


def run_machine(afn, img: str) -> object:
    with kern.boot(seed=0, trace=False) as k:
        k.run(setup, img)
        return k.run(afn)


def bench_read(img: str) -> tuple[float, float]:
    async def body():
        fd = await snapshot()
        raw = await seq_read("/dev/rwd0", 64 * MiB)
        snap = await seq_read("/dev/rfss0", 64 * MiB)
        await libc.ioctl(fd, FSSIOCCLR, None)
        return raw, snap

    return run_machine(body, img)  # type: ignore[return-value]


def bench_overwrite(img: str) -> tuple[float, float, float]:
    async def body():
        await overwrite("/mnt/file", 16 * MiB, 1)   # the file exists and is on disk
        await libc.sync()
        plain = await overwrite("/mnt/file", 16 * MiB, 2)
        fd = await snapshot()
        first = await overwrite("/mnt/file", 16 * MiB, 3)
        second = await overwrite("/mnt/file", 16 * MiB, 4)
        await libc.ioctl(fd, FSSIOCCLR, None)
        return plain, first, second

    return run_machine(body, img)  # type: ignore[return-value]


def bench_create_1g(img: str) -> tuple[float, int]:
    async def body():
        before = kmem_stats()["inuse"]
        t0 = time.perf_counter()
        fd = await snapshot()
        dt = time.perf_counter() - t0
        mem = kmem_stats()["inuse"] - before
        await libc.ioctl(fd, FSSIOCCLR, None)
        return dt, mem

    return run_machine(body, img)  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="kemu-bench-")
    try:
        img = os.path.join(tmp, "disk.img")
        reads, ovs, creates = [], [], []
        for _ in range(args.repeat):
            make_image(img, 64 * MiB)
            reads.append(bench_read(img))
            make_image(img, 64 * MiB)
            ovs.append(bench_overwrite(img))
        big = os.path.join(tmp, "big.img")
        for _ in range(args.repeat):
            make_image(big, 1024 * MiB)
            creates.append(bench_create_1g(big))
        raw = statistics.median(r[0] for r in reads)
        snap = statistics.median(r[1] for r in reads)
        plain = statistics.median(o[0] for o in ovs)
        first = statistics.median(o[1] for o in ovs)
        second = statistics.median(o[2] for o in ovs)
        ctime = statistics.median(c[0] for c in creates)
        cmem = statistics.median(c[1] for c in creates)
        print(f"fss benchmark (64 MiB ext2 image, medians of {args.repeat} runs, "
              f"native helper: {kern.native.impl})")
        print(f"  sequential read, 64 KiB requests: raw disk {raw / MiB:7.1f} MB/s, "
              f"/dev/rfss0 {snap / MiB:7.1f} MB/s  ratio {snap / raw:5.2f} (target >= 0.50)")
        print(f"  16 MiB overwrite: no snapshot {plain / MiB:7.1f} MB/s, first with snapshot "
              f"{first / MiB:7.1f} MB/s  ratio {first / plain:5.2f} (target >= 0.33)")
        print(f"  16 MiB overwrite again with snapshot {second / MiB:7.1f} MB/s  "
              f"ratio {second / plain:5.2f} (target >= 0.90)")
        print(f"  snapshot creation on a 1 GiB sparse image: {ctime * 1000:7.1f} ms, "
              f"kernel memory {cmem / 1024:7.1f} KiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
