"""Sequential I/O through kemu's VFS against the host, and ext2's cost per byte as files grow.

    python benchmarks/bench_vfs.py [--size MiB] [--base REV | --no-base] [--rounds R]
                                   [--quick | --smoke] [--profile]

Part 1, side by side in this process (64 KiB requests over a ``--size`` MiB
file, 64 by default; the three paths interleaved, order rotating):

1. ext2 through kemu: write(2) loop into a new file on a fresh ext2 image
   (mke2fs, 4 KiB blocks) mounted on /mnt, then fsync(2); the read comes
   after unmount and mount again, so kemu's caches are cold;
2. the raw disk through kemu: write(2) and read(2) of /dev/rwd0 (a host
   file shown as a disk by rump's etfs);
3. the host file directly: os.pwrite (then os.fsync) and os.pread.

Every path writes a fresh file and, before its read, has the host drop the
file's pages (posix_fadvise DONTNEED), so no side reads from a page cache the
other side filled.  Ratios are against the host file, per round.

Part 2, ext2 write cost as the file grows: a 4 MiB and a 64 MiB sequential
write (each on a fresh image in a fresh machine, trace off: the workload of
benchmarks/portable/kemu_portable.py), in a subprocess of this tree and of
the base revision (default 3f54114; benchmarks/_revision.py), pinned to one
host CPU, the four cases interleaved.  Targets (issue 13): a 64 MiB write
costs at most 1.25x the CPU per byte of a 4 MiB one, and both write at least
twice the base revision's rate (per CPU-second).

``--profile`` runs one ext2 write+read under cProfile instead (the
machine's async face, so the kernel runs in the profiled thread).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable

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
    pin_cpu,
    profile_text,
    profiled,
    rounds,
    standard_args,
    warmups,
)
from benchmarks._revision import (  # noqa: E402
    PORTABLE,
    Tree,
    add_base_arg,
    current_tree,
    revision_tree,
)
from benchmarks.portable.kemu_portable import (  # noqa: E402
    CHUNK,
    DATA,
    read_loop,
    write_loop,
)
from kern.fcntl import O_CREAT, O_RDWR, O_TRUNC, O_WRONLY  # noqa: E402
from kern.machine.testing import attach_disk, make_ext2_image, mount_ext2  # noqa: E402
from tools.lib import libc  # noqa: E402


def make_image(path: str, size: int) -> None:
    """A fresh (sparse) ext2 image with 4 KiB blocks (mke2fs, else kemu's newfs_ext2fs)."""
    make_ext2_image(path, size, block=4096)


def image_size(size: int) -> int:
    """An image with room for a ``size``-byte file and ext2's metadata."""
    return size + size // 2 + 16 * MiB


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


# ------------------------------------------------------------------ part 1

def bench_ext2(img: str, size: int) -> tuple[Sample, Sample]:
    """(write, read) Samples of a file on ext2 through kemu (n = bytes)."""
    make_image(img, image_size(size))
    with kern.boot(seed=0, trace=False) as k:
        k.run(attach_disk, img, "/dev/wd0")
        k.run(mount_ext2)
        w = k.run(write_loop, "/mnt/big", size, O_WRONLY | O_CREAT | O_TRUNC)
        k.run(libc.unmount, "/mnt", 0)
        drop_host_cache(img)
        k.run(mount_ext2)
        r = k.run(read_loop, "/mnt/big", size)
        k.run(libc.unmount, "/mnt", 0)
    return w, r


def bench_raw(img: str, size: int) -> tuple[Sample, Sample]:
    """(write, read) Samples of the raw disk /dev/rwd0 through kemu."""
    make_plain(img, size)
    drop_host_cache(img)
    with kern.boot(seed=0, trace=False) as k:
        k.run(attach_disk, img, "/dev/wd0")
        w = k.run(write_loop, "/dev/rwd0", size, O_RDWR)
        drop_host_cache(img)
        r = k.run(read_loop, "/dev/rwd0", size)
    return w, r


def bench_host(path: str, size: int) -> tuple[Sample, Sample]:
    """(write, read) Samples of os.pwrite/os.pread on a fresh host file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        sw = Stopwatch()
        for off in range(0, size, CHUNK):
            n = os.pwrite(fd, DATA, off)
            if n != CHUNK:
                raise OSError(f"short pwrite: {n}")
        os.fsync(fd)
        w = sw.sample(size)
    finally:
        os.close(fd)
    drop_host_cache(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        done = 0
        sw = Stopwatch()
        while done < size:
            got = os.pread(fd, CHUNK, done)
            if not got:
                break
            done += len(got)
        r = sw.sample(size)
    finally:
        os.close(fd)
    if done != size:
        raise OSError(f"short read: {done} of {size}")
    return w, r


def part1(rep: Report, args: argparse.Namespace, tmp: str, size: int) -> None:
    def case(fn: Callable[[str, int], tuple[Sample, Sample]], file: str):
        def run() -> dict[str, Sample]:
            path = os.path.join(tmp, file)
            w, r = fn(path, size)
            os.unlink(path)
            return {"write": w, "read": r}
        return run

    res = rounds({"ext2": case(bench_ext2, "ext2.img"), "raw": case(bench_raw, "raw.img"),
                  "host": case(bench_host, "host.file")}, n_rounds(args), warmups(args))
    labels = {"ext2": "ext2 file through kemu", "raw": "raw disk /dev/rwd0 through kemu",
              "host": "host file (os.pwrite/os.pread)"}
    for key, label in labels.items():
        for op in ("write", "read"):
            rep.rate(f"{label}: {op}", column(res[key], op), "MB/s", MiB)
    for key in ("ext2", "raw"):
        for op in ("write", "read"):
            rep.ratio(f"{key} {op} / host {op}", column(res[key], op), column(res["host"], op))


# ------------------------------------------------------------------ part 2

def portable_write(tree: Tree, size: int, cpu: int | None, tmp: str) -> Sample:
    """One kemu_portable ext2-write in ``tree``: the Sample measured inside (n = bytes)."""
    img = os.path.join(tmp, "scale.img")
    p, _ = tree.run([os.path.join(PORTABLE, "kemu_portable.py"), "ext2-write",
                     "--size", str(size), "--img", img], cpu=cpu, timeout=1800)
    if os.path.exists(img):
        os.unlink(img)
    if p.returncode != 0:
        tail = " | ".join(p.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"{tree.label}: ext2-write {size} failed: {tail}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return Sample(d["wall"], d["cpu"], d["n"])


def part2(rep: Report, args: argparse.Namespace, tmp: str, small: int, big: int) -> None:
    cpu = pin_cpu(args)
    now = current_tree()
    trees = {"now": now}
    cases: dict[str, Callable[[], Sample]] = {}
    with (revision_tree(args.base) if args.base else contextlib.nullcontext()) as base:
        if base is not None:
            trees["base"] = base
        for key, tree in trees.items():
            for sz in (small, big):
                cases[f"{key} {sz}"] = (lambda t=tree, s=sz: portable_write(t, s, cpu, tmp))
        res = rounds(cases, n_rounds(args), warmups(args))
        rep.note("ext2 scaling: " + "; ".join(t.describe() for t in trees.values())
                 + (f"; subprocesses pinned to CPU {cpu}" if cpu is not None else ""))
    s, b = small // MiB, big // MiB
    for key, label in (("now", "this tree"), ("base", f"base {args.base}")):
        if key not in trees:
            continue
        rep.rate(f"ext2 write {s} MiB, {label} (subprocess)", res[f"{key} {small}"], "MB/s", MiB)
        rep.rate(f"ext2 write {b} MiB, {label} (subprocess)", res[f"{key} {big}"], "MB/s", MiB)
    rep.ratio(f"ext2 write CPU per byte: {b} MiB / {s} MiB", res[f"now {big}"],
              res[f"now {small}"], Target("<=", 1.25), mode="cost")
    for sz in (small, big):
        label = f"ext2 write {sz // MiB} MiB: this tree / base"
        if "base" in trees:
            rep.ratio(label, res[f"now {sz}"], res[f"base {sz}"], Target(">=", 2.0))
        else:
            rep.unavailable(label, "--no-base", Target(">=", 2.0))


# ------------------------------------------------------------------ profile

def profile_ext2(img: str, size: int, top: int = 30) -> str:
    """cProfile of one ext2 write + read (async face: the kernel runs in this thread)."""

    async def body(k) -> None:
        await k.run(attach_disk, img, "/dev/wd0")
        await k.run(mount_ext2)
        await k.run(write_loop, "/mnt/big", size, O_WRONLY | O_CREAT | O_TRUNC)
        await k.run(libc.unmount, "/mnt", 0)
        await k.run(mount_ext2)
        await k.run(read_loop, "/mnt/big", size)
        await k.run(libc.unmount, "/mnt", 0)

    _, st = profiled(lambda: in_async_machine(body, seed=0, trace=False))
    return profile_text(st, top)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=3)
    add_base_arg(ap)
    ap.add_argument("--size", type=int, default=None,
                    help="part 1 file size in MiB (default 64; --quick 16, --smoke 1)")
    ap.add_argument("--profile", action="store_true", help="cProfile one ext2 run")
    args = ap.parse_args(argv)
    size = (args.size or pick(args, 64, 16, 1)) * MiB
    small, big = pick(args, (4 * MiB, 64 * MiB), (4 * MiB, 64 * MiB), (1 * MiB, 2 * MiB))
    tmp = tempfile.mkdtemp(prefix="kemu-bench-vfs-")
    try:
        if args.profile:
            img = os.path.join(tmp, "disk.img")
            make_image(img, image_size(size))
            print(profile_ext2(img, size))
            return 0
        rep = Report("bench_vfs", f"VFS sequential I/O: {size // MiB} MiB, 64 KiB requests; "
                     f"ext2 writes of {small // MiB} and {big // MiB} MiB", args)
        part1(rep, args, tmp, size)
        part2(rep, args, tmp, small, big)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
