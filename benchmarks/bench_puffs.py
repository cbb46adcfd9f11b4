"""puffs in kemu against pyfuse3 on the host, and a separate-process server's start-up.

    python benchmarks/bench_puffs.py [--n CALLS] [--fuse-n CALLS] [--size MiB]
                                     [--no-fuse] [--rounds R] [--quick | --smoke]

Cases, interleaved in rotating order, one warm-up round:

* ``local``: a machine (booted with ``trace=False``) with memfs
  (tools/puffs_servers/memfs.py) served in the machine (a user process on
  /dev/puffs, kern.machine.testing's mount_memfs): --n fstat(2) calls of
  an open file (one GETATTR request each), --n stat(2) calls of its path
  (LOOKUP, ACCESS, GETATTR, INACTIVE: the 2007 puffs has no name or
  attribute cache), then a --size MiB sequential write (+ fsync) and read
  in 64 KiB calls;
* ``local traced``: the same stat loops with the trace on (the default);
* ``remote``: the same as ``local`` with the server in a separate OS process
  (tools.lib.libpuffs.remote); its CPU time over each loop
  (/proc/<pid>/stat, 10 ms ticks) is added to the kernel's;
* ``fuse``: the same two stat loops from the host against a minimal
  pyfuse3 server over /dev/fuse (benchmarks/fuse_peer.py, run with
  /usr/bin/python3 and Debian's python3-pyfuse3; --fuse-n calls; no
  attribute or entry caching); CPU is the client's and the server's
  process time over the loop.  Skipped, with the reason, when FUSE is not
  usable here;
* start-up: a machine mounts memfs served by a separate process and
  stat(2)s the mount point: the time from before the server is spawned
  until that first request is answered (wall; CPU: the kernel's process
  and the server's), beside what bounds it: starting Python, importing
  trio, importing the server's modules.  The server process writes and
  uses .pyc files as a user's Python does (PYTHONDONTWRITEBYTECODE is
  dropped from its environment: with it, every start compiles the modules
  never cached).

``--profile`` profiles --n fstat(2) calls on memfs in the machine instead:
how often each call asks for the current lwp, process and machine, trio's
share of the time, and where the rest goes.

Every figure is per call (or MB/s), a median over the rounds with its
min-max, wall and CPU.  Targets (issue 13): fstat on memfs in the machine
at least a third of pyfuse3's rate (per CPU-second); a separate-process
server answers its first request within 0.25 s of being started (judged on
the CPU of the two processes over that stretch: on an idle machine it is
the wall time; the shared machine's wall time is shown beside); trace on
costs at most 5% against trace off (per fstat and stat call).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from benchmarks._measure import (  # noqa: E402
    ROOT,
    MiB,
    Report,
    Sample,
    Stopwatch,
    Target,
    column,
    in_async_machine,
    n_rounds,
    pick,
    profile_share,
    profile_text,
    rounds,
    run_timed,
    standard_args,
    warmups,
)
from benchmarks.portable.kemu_portable import read_loop, write_loop  # noqa: E402
from kern.fcntl import O_CREAT, O_RDONLY, O_WRONLY  # noqa: E402
from kern.machine import testing as kt  # noqa: E402
from tools.lib import libc  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of host process ``pid`` so far (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK   # utime, stime


class _Server:
    """The CPU a server in another process spends, read around a stretch."""

    def __init__(self, pm: Any) -> None:
        self.pid = pm.server.pid if pm.remote else 0

    def cpu(self) -> float:
        return proc_cpu(self.pid) if self.pid else 0.0


async def stat_loops(path: str, n: int, pm: Any) -> dict[str, Any]:
    """fstat(2) and stat(2) loops of ``n`` calls: their Samples and requests per call."""
    srv = _Server(pm)
    out: dict[str, Any] = {}
    fd = await libc.open(path, O_RDONLY)
    for _ in range(20):                      # warm
        await libc.fstat(fd)
        await libc.stat(path)
    for name in ("fstat", "stat"):
        before = sum(pm.counters().values())
        s0 = srv.cpu()
        sw = Stopwatch()
        if name == "fstat":
            for _ in range(n):
                await libc.fstat(fd)
        else:
            for _ in range(n):
                await libc.stat(path)
        s = sw.sample(n)
        s.cpu += srv.cpu() - s0
        out[name] = s
        out[name + " requests"] = (sum(pm.counters().values()) - before) / n
    await libc.close(fd)
    return out


def memfs_case(remote: bool, n: int, size: int, trace: bool = False) -> dict[str, Any]:
    """One machine: memfs mounted (in the machine or not), the stat loops, the I/O
    (none when ``size`` is 0)."""

    async def body() -> dict[str, Any]:
        pm = await kt.mount_memfs("/mnt", remote=remote)
        await kt.write_file("/mnt/f", b"")
        out = await stat_loops("/mnt/f", n, pm)
        srv = _Server(pm)
        for name, fn, args in (("write", write_loop, (O_WRONLY | O_CREAT,)),
                               ("read", read_loop, ())) if size else ():
            s0 = srv.cpu()
            s = await fn("/mnt/big", size, *args)
            s.cpu += srv.cpu() - s0
            out[name] = s
        error = await pm.unmount()
        if error:
            raise OSError(error, "unmount /mnt")
        return out

    with kern.boot(seed=0, trace=trace) as k:
        return kt.in_process(k, body, comm="bench")


def fuse_case(n: int) -> dict[str, Any]:
    """One run of the pyfuse3 peer (both loops once), or {"unavailable": why}."""
    from benchmarks.fuse_peer import run_peer

    try:
        r = run_peer(n, 1)
    except Exception as e:  # noqa: BLE001 - the peer is optional; say why
        return {"unavailable": f"{type(e).__name__}: {e}"}
    if "unavailable" in r:
        return r
    out: dict[str, Any] = {"counts_ok": r.get("counts_ok", False)}
    for w in r["windows"]:
        name = "fstat" if w["mode"] == "fd" else "stat"
        out[name] = Sample(w["wall"], (w["client_cpu"] or 0.0) + w["server_cpu"], w["n"])
    return out


#: The server process's environment: this one's, but writing .pyc files as a user's
#: Python does (PYTHONDONTWRITEBYTECODE, set on some machines, would have every
#: start compile the modules never cached; benchmarks/_revision.py drops it too).
SERVER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


_fork_server_started = False


def start_case(forked: bool = False) -> dict[str, Any]:
    """Spawn a separate-process memfs server, mount it, stat the mount point: a
    fresh interpreter (the target's case), or ``forked`` by this process's fork
    server (tools/lib/libpuffs/forkserver.py; running after the first round: its
    own start-up, once per process, is not in the figure: an unmeasured start
    before the first forked one starts it)."""
    global _fork_server_started
    saved = os.environ.get("KEMU_PUFFS_FORKSERVER")
    os.environ["KEMU_PUFFS_FORKSERVER"] = "1" if forked else "0"
    try:
        if forked and not _fork_server_started:
            _start_case()
            _fork_server_started = True
        return _start_case()
    finally:
        if saved is None:
            del os.environ["KEMU_PUFFS_FORKSERVER"]
        else:
            os.environ["KEMU_PUFFS_FORKSERVER"] = saved


def _start_case() -> dict[str, Any]:

    async def body() -> dict[str, Any]:
        sw = Stopwatch()
        pm = await kt.mount_memfs("/mnt", remote=True, env=SERVER_ENV)
        mounted = sw.sample()
        child_mounted = proc_cpu(pm.server.pid)
        before = pm.counters().get("GETATTR", 0)
        await libc.stat("/mnt")
        first = sw.sample()
        child = proc_cpu(pm.server.pid)
        answered = pm.counters().get("GETATTR", 0) - before
        error = await pm.unmount()
        if error:
            raise OSError(error, "unmount /mnt")
        return {"first": Sample(first.wall, first.cpu + child),
                "mounted": Sample(mounted.wall, mounted.cpu + child_mounted),
                "server cpu": child, "getattrs": answered}

    with kern.boot(seed=0, trace=False) as k:
        return kt.in_process(k, body, comm="bench")


def profile_fstat(n: int, top: int = 30) -> str:
    """cProfile of ``n`` fstat(2) calls on memfs in the machine (async face), with the
    calls per fstat of the current-context lookups and trio's share of the time."""

    async def body(k: Any) -> None:
        async def loop() -> None:
            pm = await kt.mount_memfs("/mnt")
            await kt.write_file("/mnt/f", b"")
            fd = await libc.open("/mnt/f", O_RDONLY)
            await libc.fstat(fd)
            prof.enable()
            for _ in range(n):
                await libc.fstat(fd)
            prof.disable()
            await libc.close(fd)
            await pm.unmount()

        await k.run(loop, proc=k.proc_create("bench", k.initproc))

    import cProfile
    import pstats

    prof = cProfile.Profile()
    in_async_machine(body, seed=0, trace=False)
    st = pstats.Stats(prof)
    lines = [f"fstat(2) on memfs in the machine, {n} calls under cProfile:"]
    for name in ("curlwp", "curproc", "curmachine"):
        _, calls = profile_share(st, lambda file, fn, name=name: file.endswith("kern/cpu.py")
                                 and fn == name)
        lines.append(f"  {name}() calls per fstat: {calls / n:.1f}")
    share, _ = profile_share(st, lambda file, _fn: "/trio/" in file)
    lines.append(f"  share of the profiled time in trio's own code: {100 * share:.1f}%")
    return "\n".join(lines) + "\n" + profile_text(st, top)


def python_start(code: str) -> Sample:
    """A fresh ``python -c code`` (cwd: this tree): wall and CPU to its end."""
    p, s = run_timed([sys.executable, "-c", code], cwd=ROOT, env=SERVER_ENV)
    if p.returncode != 0:
        raise RuntimeError(f"python -c {code!r}: {p.stderr.strip().splitlines()[-1:]}")
    return s


SERVER_IMPORTS = "import tools.lib.libpuffs.remote, tools.puffs_servers.memfs"
#: Modules a server process has no use for: the test tools, and the kernel's side
#: (kernel core, harness, system-call layer, libc, the VFS).
NOT_NEEDED = ("pytest", "_pytest", "hypothesis", "kern.kern_synch", "kern.machine.machine",
              "kern.syscall", "tools.lib.libc", "vfs.mount")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    ap.add_argument("--n", type=int, default=None,
                    help="stat calls per loop in kemu (default 1000; --quick 300, --smoke 20)")
    ap.add_argument("--fuse-n", type=int, default=None,
                    help="stat calls per loop with FUSE (default 20000; --quick 5000, "
                         "--smoke 200)")
    ap.add_argument("--size", type=int, default=None,
                    help="I/O file size in MiB (default 16; --quick 4, --smoke 1)")
    ap.add_argument("--no-fuse", action="store_true", help="skip the pyfuse3 peer")
    ap.add_argument("--profile", action="store_true",
                    help="profile --n fstat calls on memfs in the machine instead")
    args = ap.parse_args(argv)
    n = args.n or pick(args, 1000, 300, 20)
    fuse_n = args.fuse_n or pick(args, 20000, 5000, 200)
    size = (args.size or pick(args, 16, 4, 1)) * MiB
    if args.profile:
        print(profile_fstat(n))
        return 0
    rep = Report("bench_puffs", f"puffs: {n} stat calls per loop in kemu, {fuse_n} with "
                 f"FUSE; {size // MiB} MiB sequential I/O", args)
    rn, w = n_rounds(args), warmups(args)
    cases: dict[str, Any] = {"local": lambda: memfs_case(False, n, size),
                             "local traced": lambda: memfs_case(False, n, 0, trace=True),
                             "remote": lambda: memfs_case(True, n, size)}
    if not args.no_fuse:
        cases["fuse"] = lambda: fuse_case(fuse_n)
    res = rounds(cases, rn, w)
    loc, rem = res["local"], res["remote"]
    fuse = res.get("fuse", [{"unavailable": "--no-fuse"}])
    fuse_why = next((f["unavailable"] for f in fuse if "unavailable" in f), None)
    for loop, what in (("fstat", "fstat(2) of an open file"), ("stat", "stat(2) of its path")):
        rep.cost(f"{what}, memfs in the machine", column(loc, loop), "us",
                 note=f"{loc[0][loop + ' requests']:.1f} requests per call")
        rep.cost(f"{what}, memfs in another process", column(rem, loop), "us")
        if fuse_why is None:
            rep.cost(f"{what}, pyfuse3 on the host", column(fuse, loop), "us")
    target = Target(">=", 1 / 3)
    if fuse_why is None:
        rep.ratio("fstat rate: memfs in the machine / pyfuse3", column(loc, "fstat"),
                  column(fuse, "fstat"), target)
        rep.ratio("stat rate: memfs in the machine / pyfuse3", column(loc, "stat"),
                  column(fuse, "stat"))
        if not all(f.get("counts_ok") for f in fuse):
            rep.note("pyfuse3: the server's request counts were not the expected ones")
    else:
        rep.unavailable("fstat rate: memfs in the machine / pyfuse3", fuse_why, target)
    rep.ratio("fstat rate: another process / in the machine", column(rem, "fstat"),
              column(loc, "fstat"))
    for loop in ("fstat", "stat"):
        rep.ratio(f"{loop} in the machine: trace on / trace off",
                  column(res["local traced"], loop), column(loc, loop), Target("<=", 1.05),
                  mode="cost")
    for op in ("write", "read"):
        rep.rate(f"{op} {size // MiB} MiB, memfs in the machine", column(loc, op), "MB/s", MiB)
        rep.rate(f"{op} {size // MiB} MiB, memfs in another process", column(rem, op), "MB/s",
                 MiB)

    starts = rounds({"server": start_case,
                     "forked": lambda: start_case(forked=True),
                     "python": lambda: python_start("pass"),
                     "trio": lambda: python_start("import trio"),
                     "imports": lambda: python_start(SERVER_IMPORTS)}, rn, w)
    rep.cost("separate-process server: start to first answer", column(starts["server"], "first"),
             "ms", Target("<=", 250),
             note="CPU: the kernel's process and the server's over that stretch; they "
                  "mostly take turns, so on an idle machine the wall time is about that sum")
    rep.cost("  of which start to mounted", column(starts["server"], "mounted"), "ms")
    rep.cost("separate-process server forked by the fork server: start to first answer",
             column(starts["forked"], "first"), "ms",
             note="how a process that starts many servers (the test suite) starts all but "
                  "the first; CPU as above, the fork server's own start-up not included")
    rep.cost("  python -c pass", starts["python"], "ms")
    rep.cost("  python -c 'import trio'", starts["trio"], "ms")
    rep.cost("  python -c 'import <the server's modules>'", starts["imports"], "ms")
    if any(s["getattrs"] < 1 for s in starts["server"]):
        rep.note("start-up: the stat of the mount point sent no GETATTR in some round")
    p, _ = run_timed([sys.executable, "-c", SERVER_IMPORTS + "; import json, sys; "
                      "print(json.dumps(sorted(sys.modules)))"], cwd=ROOT, env=SERVER_ENV)
    if p.returncode == 0:
        loaded = json.loads(p.stdout)
        ours = [m for m in loaded if m.split(".")[0] in ("kern", "vfs", "dev", "fs", "tools")]
        rep.note(f"modules the server process imports that it does not need: "
                 f"{[m for m in NOT_NEEDED if m in loaded]}; it imports {len(ours)} of "
                 f"kemu's modules, {len(loaded)} in all; trio (its loop): "
                 f"{'trio' in loaded}")
    else:
        rep.note(f"importing the server's modules failed: {p.stderr.strip()[-200:]}")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
