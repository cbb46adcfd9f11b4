"""Helpers for tests written against kemu machines."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from kern.exceptions import SyscallError

SWEEP_OVERRIDE: int | None = None


def sweep(n: int, base: int = 0) -> list[int]:
    """Seeds for a seed sweep: ``@pytest.mark.parametrize("seed", sweep(50))``.

    ``pytest --kemu-sweep=N`` changes how many; with pytest-xdist installed
    (``pytest -n auto``) the seeds run in parallel.
    """
    count = SWEEP_OVERRIDE if SWEEP_OVERRIDE is not None else n
    return list(range(base, base + count))


async def errno_of(call: Awaitable[Any]) -> int:
    """Await a system call (a libc stub): 0 when it succeeds, else its NetBSD errno."""
    try:
        await call
    except SyscallError as e:
        return e.errno
    return 0
