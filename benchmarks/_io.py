"""The timed I/O loops the benchmarks share (they run in a user lwp of a machine)."""

from __future__ import annotations

import time

from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from lib import libc

MiB = 1 << 20
CHUNK = 64 * 1024
DATA = bytes((i * 131 + (i >> 8) * 7) & 0xFF for i in range(CHUNK))


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
