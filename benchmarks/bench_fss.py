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

``--profile`` measures nothing of the above: it profiles one sequential read
of /dev/rwd0 and one of /dev/rfss0 (each after an untimed read of the same
device, snapshot configured, the machine's async face so that the kernel
runs in the profiled thread) under cProfile on the CPU clock, and counts the
Python bytecodes each side executes per 64 KiB request (sys.settrace opcode
events over a 4 MiB read: a figure the machine's load does not move).
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
    in_async_machine,
    n_rounds,
    pick,
    profile_text,
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


# ------------------------------------------------------------------ profile

def _read_in_machine(img: str, size: int, dev: str, watch: Callable[[], Any]) -> Any:
    """On a fresh image in an async-face machine with a snapshot of /mnt: read
    ``dev`` through once untimed, then again inside ``watch()`` (a context manager
    entered in the kernel's thread); what the context manager gives back."""

    async def inner() -> Any:
        await kt.mount_image(img, "/mnt")
        async with await kt.snapshot("/mnt"):
            await read_loop(dev, size)
            with watch() as result:
                await read_loop(dev, size)
        return result

    async def body(k: Any) -> Any:
        return await k.run(inner)

    kt.make_ext2_image(img, size, block=4096)
    try:
        return in_async_machine(body, seed=0, trace=False)
    finally:
        os.unlink(img)


class _CProfile:
    """cProfile on the CPU clock while the block runs; gives the Profile."""

    def __enter__(self) -> Any:
        import cProfile
        import time

        self.prof = cProfile.Profile(time.process_time)
        self.prof.enable()
        return self.prof

    def __exit__(self, *exc: Any) -> None:
        self.prof.disable()


class _Opcodes:
    """Counts the bytecodes executed in this thread while the block runs, per file
    (a dict it gives back, filled in as the block runs)."""

    def __enter__(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        self.counts = counts

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
            file = frame.f_code.co_filename

            def local(frame: Any, event: str, arg: Any) -> Any:
                if event == "opcode":
                    counts[file] = counts.get(file, 0) + 1
                return local
            return local

        sys.settrace(tracer)
        return counts

    def __exit__(self, *exc: Any) -> None:
        sys.settrace(None)


def profile_reads(tmp: str, size: int, top: int = 25) -> str:
    """The --profile report: cProfile of each side's read and bytecodes per request."""
    import pstats

    img = os.path.join(tmp, "prof.img")
    out = []
    for dev in ("/dev/rwd0", "/dev/rfss0"):
        prof = _read_in_machine(img, size, dev, _CProfile)
        out.append(f"==== cProfile (CPU clock) of a {size // MiB} MiB sequential read of {dev}")
        out.append(profile_text(pstats.Stats(prof), top))
    small = 4 * MiB
    nreq = small // CHUNK
    counts = {dev: _read_in_machine(img, small, dev, _Opcodes)
              for dev in ("/dev/rwd0", "/dev/rfss0")}
    raw, fss = counts["/dev/rwd0"], counts["/dev/rfss0"]
    out.append(f"==== Python bytecodes executed per {CHUNK // 1024} KiB read request "
               f"({small // MiB} MiB read)")
    out.append(f"  /dev/rwd0 {sum(raw.values()) / nreq:,.0f}   /dev/rfss0 "
               f"{sum(fss.values()) / nreq:,.0f}   ratio "
               f"{sum(raw.values()) / sum(fss.values()):.3f}")
    out.append("  where /dev/rfss0 executes more (per request: extra, rwd0, rfss0):")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

    def group(file: str) -> str:
        if file.startswith("<attrs generated"):
            return "attrs-generated classes (trio's, outcome's)"
        if "site-packages" in file:
            return file.split("site-packages" + os.sep)[1].split(os.sep)[0]
        if file.startswith(root):
            return file[len(root):]
        return "stdlib" if file.startswith(sys.prefix) or file.startswith(
            sys.base_prefix) else file

    g: dict[str, list[int]] = {}
    for i, c in enumerate((raw, fss)):
        for file, n in c.items():
            g.setdefault(group(file), [0, 0])[i] += n
    rows = sorted(g.items(), key=lambda kv: kv[1][0] - kv[1][1])
    for name, (a, b) in rows[:top]:
        if b - a < nreq:
            break
        out.append(f"  {(b - a) / nreq:7,.0f} {a / nreq:7,.0f} {b / nreq:7,.0f}  {name}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    ap.add_argument("--profile", action="store_true",
                    help="profile one read of each side instead (see above)")
    args = ap.parse_args(argv)
    size = pick(args, 64, 32, 8) * MiB
    if args.profile:
        tmp = tempfile.mkdtemp(prefix="kemu-bench-fss-")
        try:
            print(profile_reads(tmp, size))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
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
