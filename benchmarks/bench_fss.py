"""fss(4) speed, each side measured alike in interleaved rounds (wall and CPU time).

    python benchmarks/bench_fss.py [--rounds R] [--quick | --smoke]

On a 64 MiB ext2 image (a host file shown as /dev/wd0; --quick 32, --smoke 8):

1. sequential read, 64 KiB requests, of /dev/rfss0 (every cluster never
   written since the snapshot) against the same read of the raw disk
   /dev/rwd0 (target: at least 0.5 of the raw disk's rate).  Each round is
   one machine on a fresh image, mounted, with a snapshot configured, that
   reads both devices in turn, 3 pairs (--quick 2, --smoke 1), the device
   read first alternating from pair to pair; the image is read through on
   the host right before every read, so both sides read from an equally
   warm host cache;
2. the first full overwrite (write + fsync) of a 16 MiB file (--quick 8,
   --smoke 1) with a snapshot active, against the first overwrite of the
   same file with no snapshot (target: at least 0.33; one read and two
   writes per block);
3. the overwrites after the first, with the snapshot active (every cluster
   is copied already) against the same with none (target: at least 0.9).
   Each round of 2 and 3 boots two machines side by side, each on a fresh
   image of its own, that do the same work (create the file, sync,
   overwrite it 1 + 3 times; --quick 1 + 2, --smoke 1 + 1) but for the
   snapshot one of them configures after the sync; the two machines'
   first overwrites run one right after the other, then the later ones in
   pairs, the side that goes first alternating.  A pair's two sides are
   under the same load (a 16 MiB overwrite is ~0.12 s of CPU: pairs from
   separate machines a second or more apart swung 0.67-1.03x);
4. snapshot creation on a 1 GiB sparse image (--smoke 64 MiB): time and the
   kernel memory it takes.

Ratios are medians of the per-pair ratios (the two sides of a pair ran
under the same load); targets are judged on CPU time.

``--profile`` measures nothing of the above: it profiles one sequential read
of /dev/rwd0 and one of /dev/rfss0 (each after an untimed read of the same
device, snapshot configured, the machine's async face so that the kernel
runs in the profiled thread) under cProfile on the CPU clock, and counts the
Python bytecodes each side executes (sys.settrace opcode events: a figure
the machine's load does not move) per 64 KiB read request over a 4 MiB read
and per 64 KiB write(2) of a second overwrite of a 4 MiB file (case 3's
work, snapshot active against none), with where the extra is, by file.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
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

READ_DEVS = {"raw": "/dev/rwd0", "fss": "/dev/rfss0"}
OVERWRITE_SIDES = ["plain", "snap"]


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


def turns(names: Sequence[str], first: int, reps: int) -> Iterator[str]:
    """``reps`` pairs (one run of each side), the side that goes first
    alternating from pair to pair, starting with ``names[first % 2]``."""
    for j in range(reps):
        k = (first + j) % len(names)
        yield from names[k:] + names[:k]


def read_case(tmp: str, size: int, reps: int) -> Callable[[], dict[str, list[Sample]]]:
    """One machine with a snapshot of /mnt configured: ``reps`` pairs of sequential
    reads of the raw disk and of /dev/rfss0, each read right after the image was
    read through on the host (both sides equally warm)."""
    img = os.path.join(tmp, "read.img")
    turn = itertools.count()

    async def body() -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {"raw": [], "fss": []}
        async with await kt.snapshot("/mnt"):
            for side in turns(list(READ_DEVS), next(turn), reps):
                warm_host(img)
                out[side].append(await read_loop(READ_DEVS[side], size))
        return out

    return lambda: on_fresh_image(img, size, body)


def overwrite_case(tmp: str, size: int, fsize: int, reps: int
                   ) -> Callable[[], dict[str, dict[str, list[Sample]]]]:
    """Two machines side by side, each on a fresh image of its own, doing the same
    work: create a file, sync, then overwrite it ``1 + reps`` times; one of them
    ("snap") configures a snapshot after the sync.  The first overwrites of the
    two, then ``reps`` pairs of the later ones, run one right after the other
    (the side that goes first alternating), so that each pair ran under the same
    load: {"first": {"plain": [S], "snap": [S]}, "second": {"plain": [S...], ...}}."""
    turn = itertools.count()

    def overwrite(fill: int) -> Callable[[], Awaitable[Sample]]:
        return lambda: write_loop("/mnt/file", fsize, O_WRONLY | O_CREAT, bytes([fill]) * CHUNK)

    def run() -> dict[str, dict[str, list[Sample]]]:
        first = next(turn)
        imgs = {side: os.path.join(tmp, side + ".img") for side in OVERWRITE_SIDES}
        out: dict[str, dict[str, list[Sample]]] = {
            which: {side: [] for side in OVERWRITE_SIDES} for which in ("first", "second")}
        try:
            with contextlib.ExitStack() as stack:
                ks: dict[str, Any] = {}
                for side, img in imgs.items():
                    kt.make_ext2_image(img, size, block=4096)
                    ks[side] = stack.enter_context(kern.boot(seed=0, trace=False))
                    ks[side].run(kt.mount_image, img, "/mnt")
                    ks[side].run(overwrite(1))
                    ks[side].run(libc.sync)
                    if side == "snap":
                        snap = ks[side].run(kt.snapshot, "/mnt")
                for side in turns(OVERWRITE_SIDES, first, 1):
                    out["first"][side].append(ks[side].run(overwrite(2)))
                for j, side in enumerate(turns(OVERWRITE_SIDES, first, reps)):
                    out["second"][side].append(ks[side].run(overwrite(3 + j // 2)))
                ks["snap"].run(snap.unconfigure)
        finally:
            for img in imgs.values():
                if os.path.exists(img):
                    os.unlink(img)
        return out

    return run


def flat(results: Sequence[Any], *keys: str) -> list[Sample]:
    """The Samples under ``keys`` of every round's result, round after round (the
    two sides' lists stay paired: the i-th of each ran one right after the other)."""
    out: list[Sample] = []
    for r in results:
        for k in keys:
            r = r[k]
        out.extend(r)
    return out


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

def _in_machine(img: str, size: int, body: Callable[[], Awaitable[Any]]) -> Any:
    """``body()`` in an async-face machine (the kernel runs in this thread, where
    a profiler or a tracer sees it) with a fresh ext2 image ``img`` on /mnt."""

    async def inner() -> Any:
        await kt.mount_image(img, "/mnt")
        return await body()

    async def boot_body(k: Any) -> Any:
        return await k.run(inner)

    kt.make_ext2_image(img, size, block=4096)
    try:
        return in_async_machine(boot_body, seed=0, trace=False)
    finally:
        os.unlink(img)


def _read_in_machine(img: str, size: int, dev: str, watch: Callable[[], Any]) -> Any:
    """With a snapshot of /mnt: read ``dev`` through once untimed, then again inside
    ``watch()`` (a context manager entered in the kernel's thread); what the
    context manager gives back."""

    async def body() -> Any:
        async with await kt.snapshot("/mnt"):
            await read_loop(dev, size)
            with watch() as result:
                await read_loop(dev, size)
        return result

    return _in_machine(img, size, body)


def _overwrite_in_machine(img: str, size: int, fsize: int, snap: bool,
                          watch: Callable[[], Any]) -> Any:
    """The overwrite case's work (create, sync, a snapshot if ``snap``, the first
    overwrite), then the second overwrite inside ``watch()``."""
    flags = O_WRONLY | O_CREAT

    async def body() -> Any:
        await write_loop("/mnt/file", fsize, flags, bytes([1]) * CHUNK)
        await libc.sync()
        s = await kt.snapshot("/mnt") if snap else None
        await write_loop("/mnt/file", fsize, flags, bytes([2]) * CHUNK)
        with watch() as result:
            await write_loop("/mnt/file", fsize, flags, bytes([3]) * CHUNK)
        if s is not None:
            await s.unconfigure()
        return result

    return _in_machine(img, size, body)


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


def _opcode_table(what: str, names: tuple[str, str], counts: tuple[dict[str, int], ...],
                  nunits: int, unit: str, top: int) -> list[str]:
    """Lines comparing two sides' bytecode counts per ``unit``, and where the second
    side executes more, by file (or package)."""
    nb, no = sum(counts[0].values()), sum(counts[1].values())
    out = [f"==== Python bytecodes executed per {unit} ({what})",
           f"  {names[0]} {nb / nunits:,.0f}   {names[1]} {no / nunits:,.0f}   "
           f"ratio {nb / no:.3f}",
           f"  where {names[1]} executes more (per {unit}: extra, {names[0]}, {names[1]}):"]
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
    for i, c in enumerate(counts):
        for file, n in c.items():
            g.setdefault(group(file), [0, 0])[i] += n
    rows = sorted(g.items(), key=lambda kv: kv[1][0] - kv[1][1])
    for name, (a, b) in rows[:top]:
        if b - a < nunits:
            break
        out.append(f"  {(b - a) / nunits:7,.0f} {a / nunits:7,.0f} {b / nunits:7,.0f}  {name}")
    return out


def profile(tmp: str, size: int, top: int = 25) -> str:
    """The --profile report: cProfile of each side's read, and bytecodes per read
    request and per write(2) of a second overwrite."""
    import pstats

    img = os.path.join(tmp, "prof.img")
    out = []
    for dev in ("/dev/rwd0", "/dev/rfss0"):
        prof = _read_in_machine(img, size, dev, _CProfile)
        out.append(f"==== cProfile (CPU clock) of a {size // MiB} MiB sequential read of {dev}")
        out.append(profile_text(pstats.Stats(prof), top))
    small = 4 * MiB
    reads = tuple(_read_in_machine(img, small, dev, _Opcodes)
                  for dev in ("/dev/rwd0", "/dev/rfss0"))
    out += _opcode_table(f"{small // MiB} MiB read", ("/dev/rwd0", "/dev/rfss0"), reads,
                         small // CHUNK, f"{CHUNK // 1024} KiB read request", top)
    writes = tuple(_overwrite_in_machine(img, size, small, snap, _Opcodes)
                   for snap in (False, True))
    out += _opcode_table(f"second overwrite of a {small // MiB} MiB file, then fsync",
                         ("no snapshot", "snapshot active"), writes, small // CHUNK,
                         f"{CHUNK // 1024} KiB write(2)", top)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    ap.add_argument("--profile", action="store_true",
                    help="profile the reads, count the overwrites bytecodes (see above)")
    args = ap.parse_args(argv)
    size = pick(args, 64, 32, 8) * MiB
    if args.profile:
        tmp = tempfile.mkdtemp(prefix="kemu-bench-fss-")
        try:
            print(profile(tmp, size))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return 0
    fsize = pick(args, 16, 8, 1) * MiB
    reps = pick(args, 3, 2, 1)
    big = pick(args, 1024, 1024, 64) * MiB
    rep = Report("bench_fss", f"fss: {size // MiB} MiB ext2 image, {fsize // MiB} MiB "
                 f"overwrites, snapshot creation on {big // MiB} MiB", args)
    tmp = tempfile.mkdtemp(prefix="kemu-bench-fss-")
    try:
        n, w = n_rounds(args), warmups(args)
        reads = rounds({"pairs": read_case(tmp, size, reps)}, n, w)["pairs"]
        ovs = rounds({"pairs": overwrite_case(tmp, size, fsize, reps)}, n, w)["pairs"]
        creates = rounds({"create": create_case(tmp, big)}, n, w)["create"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw, fss = flat(reads, "raw"), flat(reads, "fss")
    rep.rate("sequential read, raw disk /dev/rwd0", raw, "MB/s", MiB)
    rep.rate("sequential read, /dev/rfss0", fss, "MB/s", MiB)
    rep.ratio("read: /dev/rfss0 / raw disk", fss, raw, Target(">=", 0.5),
              note=f"{n} rounds of {reps} pairs")
    for which, target in (("first", 0.33), ("second", 0.9)):
        plain, snap = flat(ovs, which, "plain"), flat(ovs, which, "snap")
        rep.rate(f"{which} overwrite, no snapshot", plain, "MB/s", MiB)
        rep.rate(f"{which} overwrite, snapshot active", snap, "MB/s", MiB)
        rep.ratio(f"{which} overwrite: snapshot / none", snap, plain, Target(">=", target),
                  note=(f"{n} rounds of one pair" if which == "first" else
                        f"{n} rounds of {reps} pairs: overwrites 2 to {reps + 1}"))
    rep.cost(f"snapshot creation, {big // MiB} MiB sparse image", column(creates, "time"), "ms")
    rep.value("snapshot creation: kernel memory", [c["kmem"] / 1024 for c in creates], "KiB")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
