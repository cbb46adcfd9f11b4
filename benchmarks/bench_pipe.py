"""pipe(2) and the shell's pipelines, measured side by side in one run.

    python benchmarks/bench_pipe.py

Prints medians (and the spread: min-max) of several repetitions, wall and
CPU time; the machine is shared, so read the ratios rather than the
absolute numbers:

* pipe(2) throughput in the machine: a forked child writes 4 MiB in 64 KiB
  writes, the parent reads it (MiB/s), next to the host's os.pipe between
  two threads doing the same;
* a shell pipeline against the file copy it replaces: ``cat /big | cat >
  /copy`` against ``cat /big > /copy`` for a 4 MiB file on the machine's
  root file system (the pipeline's extra cost is the pipe and a process).
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from tests.shell_helpers import kemu_machine  # noqa: E402
from tools.lib import libc  # noqa: E402

REPEAT = 5
TOTAL = 4 << 20
CHUNK = 64 << 10


def _timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def machine_pipe() -> tuple[float, float]:
    async def body() -> int:
        r, w = await libc.pipe()

        async def writer() -> int:
            await libc.close(r)
            data = bytes(CHUNK)
            for _ in range(TOTAL // CHUNK):
                await libc.write(w, data)
            return 0

        pid = await libc.fork(writer)
        await libc.close(w)
        got = 0
        while True:
            b = await libc.read(r, CHUNK)
            if not b:
                break
            got += len(b)
        await libc.waitpid(pid)
        return got

    with kern.boot(seed=1) as k:
        p = k.proc_create("bench", k.initproc)
        result = {}
        t = _timed(lambda: result.setdefault("n", k.run(body, proc=p)))
    assert result["n"] == TOTAL
    return t


def host_pipe() -> tuple[float, float]:
    r, w = os.pipe()

    def writer() -> None:
        data = bytes(CHUNK)
        for _ in range(TOTAL // CHUNK):
            os.write(w, data)
        os.close(w)

    def run() -> None:
        t = threading.Thread(target=writer)
        t.start()
        got = 0
        while True:
            b = os.read(r, CHUNK)
            if not b:
                break
            got += len(b)
        t.join()
        os.close(r)
        assert got == TOTAL

    return _timed(run)


def shell_lines() -> dict[str, tuple[float, float]]:
    out = {}
    with kemu_machine(seed=1) as m:
        m.ok(f"dd if=/dev/rwd0 of=/big bs=64k count={TOTAL // CHUNK}")
        for name, line in (("pipeline", "cat /big | cat > /copy"), ("copy", "cat /big > /copy")):
            out[name] = _timed(lambda line=line: m.ok(line))
    return out


def summary(name: str, samples: list[tuple[float, float]], mib: float) -> str:
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples]
    med = statistics.median(walls)
    return (f"{name:<28} {mib / med:8.1f} MiB/s  wall {med * 1000:7.1f} ms "
            f"({min(walls) * 1000:.1f}-{max(walls) * 1000:.1f})  "
            f"cpu {statistics.median(cpus) * 1000:7.1f} ms")


def _ratio(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    return statistics.median(w for w, _ in a) / statistics.median(w for w, _ in b)


def main() -> None:
    mib = TOTAL / (1 << 20)
    mp = [machine_pipe() for _ in range(REPEAT)]
    hp = [host_pipe() for _ in range(REPEAT)]
    print(summary("pipe(2) in the machine", mp, mib))
    print(summary("host os.pipe, two threads", hp, mib))
    print(f"{'ratio machine/host (wall)':<28} {_ratio(mp, hp):8.1f}x")
    runs = [shell_lines() for _ in range(REPEAT)]
    pl = [r["pipeline"] for r in runs]
    cp = [r["copy"] for r in runs]
    print(summary("cat /big | cat > /copy", pl, mib))
    print(summary("cat /big > /copy", cp, mib))
    print(f"{'ratio pipeline/copy (wall)':<28} {_ratio(pl, cp):8.2f}x")


if __name__ == "__main__":
    main()
