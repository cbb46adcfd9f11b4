"""puffs servers in kemu, side by side in one run (host wall-clock time, medians).

    python benchmarks/bench_puffs.py [--repeat N] [--n CALLS] [--size MiB]
                                     [--fuse-n CALLS] [--no-fuse]

1. getattr round trips: fstat(2) of an open file (one GETATTR request per
   call) and stat(2) of its path (LOOKUP, ACCESS, GETATTR and INACTIVE
   requests: kemu's 2007 puffs has no name or attribute cache), --n calls
   in a loop, through the memfs server running

   * in the machine's process (a user lwp, on /dev/puffs), and
   * in a separate OS process (lib/libpuffs/remote.py: the frames cross a
     socket to ``python -m tools.lib.libpuffs.remote``).

   "requests/s" counts what the kernel sent the server during the loop
   (the channel's counters), i.e. round trips between kernel and server.

2. sequential write and read of a --size MiB file (16 by default) in 64 KiB
   write(2)/read(2) calls (write followed by fsync) on memfs, both ways,
   and on ext2 through kemu (a fresh host mke2fs image with 4 KiB blocks;
   its read comes after unmount and mount, so kemu's caches are cold).
   memfs has no kernel cache under it: every call is a request.

3. the peer: the same two loops (os.stat of an open descriptor and of a
   path) from the host against a minimal pyfuse3 server over /dev/fuse
   (benchmarks/fuse_peer.py, run with /usr/bin/python3, which has
   Debian's python3-pyfuse3; --fuse-n calls, attribute and entry timeouts
   0 so every call reaches the server).  Skipped, with the reason, when
   FUSE or pyfuse3 is not usable here.

Figures are medians of --repeat runs (default 3); each row's ratio is
its rate against the same loop on memfs in the machine, measured in the
same run (the figures to read on a shared machine).  kemu's kernel is
emulated in Python, the FUSE peer's kernel is the host's: the FUSE row is
the bar the emulation is measured against, not a like-for-like race.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from benchmarks.bench_vfs import MiB, make_image, read_loop, write_loop  # noqa: E402
from kern.fcntl import O_CREAT, O_RDONLY, O_WRONLY  # noqa: E402
from kern.machine.testing import E2FSPROGS  # noqa: E402
from tools.lib import libc  # noqa: E402
from tools.lib.libpuffs import PuffsServer, daemon  # noqa: E402
from tools.lib.libpuffs.remote import RemoteServer  # noqa: E402
from tools.puffs_servers.memfs import MemFS  # noqa: E402

MEMFS = "tools.puffs_servers.memfs:MemFS"


# ------------------------------------------------------------------ in the machine

async def fstat_loop(path: str, n: int, ch: Any) -> tuple[float, int]:
    """(seconds, requests the server got) for ``n`` fstat(2) calls."""
    fd = await libc.open(path, O_RDONLY)
    before = ch.frames_in
    t0 = time.perf_counter()
    for _ in range(n):
        await libc.fstat(fd)
    dt = time.perf_counter() - t0
    sent = ch.frames_in - before
    await libc.close(fd)
    return dt, sent


async def stat_loop(path: str, n: int, ch: Any) -> tuple[float, int]:
    """(seconds, requests the server got) for ``n`` stat(2) calls."""
    before = ch.frames_in
    t0 = time.perf_counter()
    for _ in range(n):
        await libc.stat(path)
    return time.perf_counter() - t0, ch.frames_in - before


async def touch(path: str) -> None:
    await libc.close(await libc.open(path, O_WRONLY | O_CREAT, 0o644))


def _server(remote: bool) -> Any:
    if remote:
        return RemoteServer(MEMFS, "memfs")
    return PuffsServer(MemFS(), "memfs")


def bench_memfs(remote: bool, n: int, size: int) -> dict[str, float]:
    """One run on a fresh machine: rates of the stat loops and of the I/O."""
    out: dict[str, float] = {}
    with kern.boot(seed=0, trace=False) as k:
        server = _server(remote)
        k.run(daemon, server.main, "/mnt", proc=k.proc_create("memfs", k.initproc))
        ch = server.channel
        k.run(touch, "/mnt/f")
        k.run(stat_loop, "/mnt/f", 50, ch)             # warm up
        for name, loop in (("fstat", fstat_loop), ("stat", stat_loop)):
            dt, sent = k.run(loop, "/mnt/f", n, ch)
            out[f"{name}_calls"] = n / dt
            out[f"{name}_requests"] = sent / dt
            out[f"{name}_per_call"] = sent / n
        out["write"] = size / k.run(write_loop, "/mnt/big", size)
        out["read"] = size / k.run(read_loop, "/mnt/big", size)
        assert k.run(libc.unmount, "/mnt", 0) == 0
    return out


def bench_ext2(tmp: str, size: int) -> dict[str, float]:
    from benchmarks.bench_vfs import bench_ext2 as ext2_rw

    img = os.path.join(tmp, "disk.img")
    make_image(img, size + size // 2 + 16 * MiB)
    w, r = ext2_rw(img, size)
    os.unlink(img)
    return {"write": w, "read": r}


# ------------------------------------------------------------------ the FUSE peer

def bench_fuse(n: int, repeat: int) -> dict[str, Any]:
    """benchmarks/fuse_peer.py's figures, or {"unavailable": why}; never raises."""
    try:
        from benchmarks.fuse_peer import run_peer
    except ImportError as e:
        return {"unavailable": f"benchmarks/fuse_peer.py: {e}"}
    try:
        return run_peer(n, repeat)
    except Exception as e:  # noqa: BLE001 - the peer is optional
        return {"unavailable": f"{type(e).__name__}: {e}"}


# ------------------------------------------------------------------ report

def _med(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    ap.add_argument("--n", type=int, default=1000, help="stat calls per loop in kemu")
    ap.add_argument("--size", type=int, default=16, help="file size in MiB (default 16)")
    ap.add_argument("--fuse-n", type=int, default=20000, help="stat calls per loop, FUSE")
    ap.add_argument("--no-fuse", action="store_true", help="skip the FUSE peer")
    args = ap.parse_args(argv)
    size = args.size * MiB
    tmp = tempfile.mkdtemp(prefix="kemu-bench-puffs-")
    try:
        runs: dict[str, list[dict[str, float]]] = {"local": [], "remote": [], "ext2": []}
        for _ in range(args.repeat):
            runs["local"].append(bench_memfs(False, args.n, size))
            runs["remote"].append(bench_memfs(True, args.n, size))
            if E2FSPROGS["mke2fs"]:
                runs["ext2"].append(bench_ext2(tmp, size))
        fuse = ({"unavailable": "--no-fuse"} if args.no_fuse
                else bench_fuse(args.fuse_n, args.repeat))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"puffs in kemu: host wall-clock, medians of {args.repeat} runs "
          f"(native helper: {kern.native.impl})")
    print()
    print(f"getattr round trips ({args.n} calls per loop in kemu, {args.fuse_n} with FUSE)")
    print(f"  {'loop -> server':44} {'calls/s':>9} {'requests/s':>11} {'req/call':>9} "
          f"{'ratio':>7}")
    base = {loop: _med(runs["local"], loop + "_calls") for loop in ("fstat", "stat")}
    rows = [("fstat(2) -> memfs in the machine", "local", "fstat"),
            ("fstat(2) -> memfs in another process", "remote", "fstat"),
            ("stat(2)  -> memfs in the machine", "local", "stat"),
            ("stat(2)  -> memfs in another process", "remote", "stat")]
    for label, where, loop in rows:
        r = runs[where]
        calls = _med(r, loop + "_calls")
        print(f"  {label:44} {calls:9.0f} {_med(r, loop + '_requests'):11.0f} "
              f"{_med(r, loop + '_per_call'):9.1f} {calls / base[loop]:7.2f}")
    if "unavailable" in fuse:
        print(f"  FUSE peer (pyfuse3 over /dev/fuse): skipped: {fuse['unavailable']}")
    else:
        calls = fuse["getattr_per_s"]
        print(f"  {'os.stat(fd)   -> pyfuse3 (host kernel)':44} {calls:9.0f} {calls:11.0f} "
              f"{1.0:9.1f} {calls / base['fstat']:7.2f}")
        calls = fuse["stat_path_per_s"]
        reqs = fuse["stat_path_round_trips_per_s"]
        print(f"  {'os.stat(path) -> pyfuse3 (host kernel)':44} {calls:9.0f} {reqs:11.0f} "
              f"{reqs / calls:9.1f} {calls / base['stat']:7.2f}")
        if not fuse.get("counts_ok", True):
            print("  (FUSE: the server's request counts were not the expected ones)")
    print("  (ratio: calls/s against the same loop on memfs in the machine)")
    print()
    print(f"sequential I/O: {args.size} MiB file, 64 KiB read(2)/write(2) (write + fsync)")
    print(f"  {'file system':44} {'write MB/s':>10} {'ratio':>7} {'read MB/s':>10} {'ratio':>7}")
    bw, br = _med(runs["local"], "write"), _med(runs["local"], "read")
    io_rows = [("memfs in the machine (puffs)", "local"),
               ("memfs in another process (puffs)", "remote"),
               ("ext2 through kemu (cold read)", "ext2")]
    for label, key in io_rows:
        r = runs[key]
        if not r:
            print(f"  {label:44} skipped: mke2fs not found")
            continue
        w, rd = _med(r, "write"), _med(r, "read")
        print(f"  {label:44} {w / MiB:10.1f} {w / bw:7.2f} {rd / MiB:10.1f} {rd / br:7.2f}")
    print("  (ratio: against memfs in the machine)")


if __name__ == "__main__":
    main()
