"""fss(4) speed, each side measured alike in interleaved rounds (wall and CPU time).

    python benchmarks/bench_fss.py [--rounds R] [--quick | --smoke]

On a 64 MiB ext2 image (a host file shown as /dev/wd0; --quick 32, --smoke 8):

1. sequential read, 64 KiB requests, of /dev/rfss0 (every cluster never
   written since the snapshot) against the same read of the raw disk
   /dev/rwd0 (target: at least 0.5 of the raw disk's rate).  Both sides
   are set up identically (a fresh image, mounted, a snapshot configured)
   and the image is read through on the host right before the timed read,
   so both read from an equally warm host cache; the side that goes first
   alternates from round to round;
2. the first full overwrite (write + fsync) of a 16 MiB file (--quick 8,
   --smoke 1) with a snapshot active, against the first overwrite of the
   same file with no snapshot (target: at least 0.33; one read and two
   writes per block);
3. the second overwrite with the snapshot active (the clusters are copied
   already) against the second overwrite with none (target: at least 0.9).
   Sides 2 and 3 each run in a machine of their own that does the same
   work (create the file, sync, overwrite twice), but for the snapshot
   configured before the overwrites;
4. snapshot creation on a 1 GiB sparse image (--smoke 64 MiB): time and the
   kernel memory it takes.

Ratios are medians of the per-round ratios (the two sides of a round ran
under the same load); targets are judged on CPU time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from benchmarks._measure import (  # noqa: E402
    MiB,
    Report,
    Sample,
    Stopwatch,
    Target,
    column,
    n_rounds,
    pick,
    rounds,
    standard_args,
    warmups,
)
from benchmarks.portable.kemu_portable import CHUNK, read_loop, write_loop  # noqa: E402
from kern.fcntl import O_CREAT, O_WRONLY  # noqa: E402
from kern.machine import testing as kt  # noqa: E402
from kern.subr_kmem import kmem_stats  # noqa: E402
from tools.lib import libc  # noqa: E402


def warm_host(path: str) -> None:
    """Read the whole host file, so its pages are in the host's cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 20):
            pass


def on_fresh_image(img: str, size: int, body: Callable[[], Awaitable[Any]]) -> Any:
    """A fresh ext2 image ``img`` of ``size`` bytes mounted on /mnt of a fresh machine:
    ``body`` runs in an lwp; the image is removed after."""
    kt.make_ext2_image(img, size, block=4096)
    try:
        with kern.boot(seed=0, trace=False) as k:
            k.run(kt.mount_image, img, "/mnt")
            return k.run(body)
    finally:
        os.unlink(img)


def read_case(tmp: str, size: int, dev: str) -> Callable[[], Sample]:
    """One sequential read of ``dev`` with a snapshot of /mnt configured."""
    img = os.path.join(tmp, "read.img")

    async def body() -> Sample:
        async with await kt.snapshot("/mnt"):
            warm_host(img)
            return await read_loop(dev, size)

    return lambda: on_fresh_image(img, size, body)


def overwrite_case(tmp: str, size: int, fsize: int, snap: bool
                   ) -> Callable[[], dict[str, Sample]]:
    """Create a file, sync, then overwrite it twice (with a snapshot configured
    first if ``snap``): the Samples of the "first" and the "second" overwrite."""
    img = os.path.join(tmp, "snap.img" if snap else "plain.img")
    flags = O_WRONLY | O_CREAT

    async def body() -> dict[str, Sample]:
        await write_loop("/mnt/file", fsize, flags, bytes([1]) * CHUNK)
        await libc.sync()
        s = await kt.snapshot("/mnt") if snap else None
        first = await write_loop("/mnt/file", fsize, flags, bytes([2]) * CHUNK)
        again = await write_loop("/mnt/file", fsize, flags, bytes([3]) * CHUNK)
        if s is not None:
            await s.unconfigure()
        return {"first": first, "second": again}

    return lambda: on_fresh_image(img, size, body)


def create_case(tmp: str, size: int) -> Callable[[], dict[str, Any]]:
    """FSSIOCSET on a big sparse image: its Sample ("time") and the kernel memory
    it took ("kmem", bytes)."""
    img = os.path.join(tmp, "big.img")

    async def body() -> dict[str, Any]:
        before = kmem_stats()["inuse"]
        sw = Stopwatch()
        s = await kt.snapshot("/mnt")
        took = sw.sample()
        used = kmem_stats()["inuse"] - before
        await s.unconfigure()
        return {"time": took, "kmem": used}

    return lambda: on_fresh_image(img, size, body)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    args = ap.parse_args(argv)
    size = pick(args, 64, 32, 8) * MiB
    fsize = pick(args, 16, 8, 1) * MiB
    big = pick(args, 1024, 1024, 64) * MiB
    rep = Report("bench_fss", f"fss: {size // MiB} MiB ext2 image, {fsize // MiB} MiB "
                 f"overwrites, snapshot creation on {big // MiB} MiB", args)
    tmp = tempfile.mkdtemp(prefix="kemu-bench-fss-")
    try:
        n, w = n_rounds(args), warmups(args)
        reads = rounds({"raw": read_case(tmp, size, "/dev/rwd0"),
                        "fss": read_case(tmp, size, "/dev/rfss0")}, n, w)
        ovs = rounds({"plain": overwrite_case(tmp, size, fsize, False),
                      "snap": overwrite_case(tmp, size, fsize, True)}, n, w)
        creates = rounds({"create": create_case(tmp, big)}, n, w)["create"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep.rate("sequential read, raw disk /dev/rwd0", reads["raw"], "MB/s", MiB)
    rep.rate("sequential read, /dev/rfss0", reads["fss"], "MB/s", MiB)
    rep.ratio("read: /dev/rfss0 / raw disk", reads["fss"], reads["raw"], Target(">=", 0.5))
    for which, target in (("first", 0.33), ("second", 0.9)):
        plain, snap = column(ovs["plain"], which), column(ovs["snap"], which)
        rep.rate(f"{which} overwrite, no snapshot", plain, "MB/s", MiB)
        rep.rate(f"{which} overwrite, snapshot active", snap, "MB/s", MiB)
        rep.ratio(f"{which} overwrite: snapshot / none", snap, plain, Target(">=", target))
    rep.cost(f"snapshot creation, {big // MiB} MiB sparse image", column(creates, "time"), "ms")
    rep.value("snapshot creation: kernel memory", [c["kmem"] / 1024 for c in creates], "KiB")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
