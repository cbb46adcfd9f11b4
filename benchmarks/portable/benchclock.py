"""Wall and CPU time of a stretch of code (standard library only).

benchmarks/_measure.py re-exports these; they live here so that code run in
another revision's tree (benchmarks/portable) measures the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Sample:
    """One measured stretch: seconds of wall and of CPU time, and the work done in it."""

    wall: float
    cpu: float
    n: float = 1.0

    def rate(self, basis: str) -> float:
        """Work per second of ``basis`` ("wall" or "cpu")."""
        t = self.wall if basis == "wall" else self.cpu
        return self.n / t if t > 0 else float("inf")

    def cost(self, basis: str) -> float:
        """Seconds of ``basis`` per unit of work."""
        return (self.wall if basis == "wall" else self.cpu) / self.n

    def as_dict(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu, "n": self.n}


class Stopwatch:
    """``time.perf_counter`` and ``time.process_time`` (the whole process, every
    thread: a sync-face machine's kernel runs in a thread of its own) read together::

        sw = Stopwatch()
        work()
        sample = sw.sample(n=calls)
    """

    def __init__(self) -> None:
        self.start()

    def start(self) -> Stopwatch:
        self.w0 = time.perf_counter()
        self.c0 = time.process_time()
        return self

    def sample(self, n: float = 1.0) -> Sample:
        """Wall and CPU seconds since :meth:`start`, for ``n`` units of work."""
        return Sample(time.perf_counter() - self.w0, time.process_time() - self.c0, n)
