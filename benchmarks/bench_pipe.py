"""pipe(2) and the shell's pipelines, measured side by side in one run.

    python benchmarks/bench_pipe.py [--rounds R] [--quick | --smoke]

Medians with their min-max over interleaved rounds (benchmarks/_measure.py:
a warm-up round, the order rotating), wall and CPU time; the machine is
shared, so read the ratios (per round) rather than the absolute numbers:

* pipe(2) throughput in the machine: a forked child writes 4 MiB (--quick
  4, --smoke 256 KiB) in 64 KiB writes, the parent reads it (MiB/s), next
  to the host's os.pipe between two threads doing the same;
* a shell pipeline against the file copy it replaces: ``cat /big | cat >
  /copy`` against ``cat /big > /copy`` for a file of that size on the
  machine's root file system (the pipeline's extra cost is the pipe and a
  process); each in a machine of its own, the file made first by dd.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kern  # noqa: E402
from benchmarks._measure import (  # noqa: E402
    MiB,
    Report,
    Sample,
    Stopwatch,
    n_rounds,
    pick,
    rounds,
    standard_args,
    warmups,
)
from tests.shell_helpers import kemu_machine  # noqa: E402
from tools.lib import libc  # noqa: E402

CHUNK = 64 << 10


def machine_pipe(total: int) -> Sample:
    async def body() -> int:
        r, w = await libc.pipe()

        async def writer() -> int:
            await libc.close(r)
            data = bytes(CHUNK)
            for _ in range(total // CHUNK):
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
        sw = Stopwatch()
        n = k.run(body, proc=p)
        s = sw.sample(total)
    if n != total:
        raise OSError(f"pipe: read {n} of {total} bytes")
    return s


def host_pipe(total: int) -> Sample:
    r, w = os.pipe()

    def writer() -> None:
        data = bytes(CHUNK)
        for _ in range(total // CHUNK):
            os.write(w, data)
        os.close(w)

    sw = Stopwatch()
    t = threading.Thread(target=writer)
    t.start()
    got = 0
    while True:
        b = os.read(r, CHUNK)
        if not b:
            break
        got += len(b)
    t.join()
    s = sw.sample(total)
    os.close(r)
    if got != total:
        raise OSError(f"host pipe: read {got} of {total} bytes")
    return s


def shell_line(total: int, line: str) -> Sample:
    with kemu_machine(seed=1) as m:
        m.ok(f"dd if=/dev/rwd0 of=/big bs=64k count={total // CHUNK}")
        sw = Stopwatch()
        m.ok(line)
        return sw.sample(total)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=5)
    args = ap.parse_args(argv)
    total = pick(args, 4 * MiB, 4 * MiB, 256 * 1024)
    rep = Report("bench_pipe", f"pipe(2) and shell pipelines: {total // 1024} KiB in 64 KiB "
                 "writes", args)
    res = rounds({"machine": lambda: machine_pipe(total),
                  "host": lambda: host_pipe(total),
                  "pipeline": lambda: shell_line(total, "cat /big | cat > /copy"),
                  "copy": lambda: shell_line(total, "cat /big > /copy")},
                 n_rounds(args), warmups(args))
    rep.rate("pipe(2) in the machine", res["machine"], "MB/s", MiB)
    rep.rate("host os.pipe, two threads", res["host"], "MB/s", MiB)
    rep.ratio("pipe rate: host / machine", res["host"], res["machine"])
    rep.rate("cat /big | cat > /copy", res["pipeline"], "MB/s", MiB)
    rep.rate("cat /big > /copy", res["copy"], "MB/s", MiB)
    rep.ratio("time: pipeline / copy", res["pipeline"], res["copy"], mode="cost")
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
