"""Seeded, reproducible scheduling on top of trio's run loop.

trio picks the order of each batch of runnable tasks with a module-global
``random.Random`` (``trio._core._run._r``), and sorts the batch by spawn order
first when ``_ALLOW_DETERMINISTIC_SCHEDULING`` is set (the switch pytest-trio
and Hypothesis use).  We install, once per process, a ``Random`` that hands
each call to the generator of the machine running in the calling thread, so
every machine owns its schedule: the same seed and the same calls give the
same interleaving, and machines in other threads do not disturb it.

These are private hooks of trio; ``tests/kern/test_sched_hooks.py`` fails if
a trio release moves them, and pyproject.toml pins the tested range.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import trio
from trio._core import _run as _trio_run

from kern.cpu import curlwp_or_none, curmachine_or_none

_tls = threading.local()
_installed = False
_original_r: random.Random | None = None


class _MachineRandom(random.Random):
    """Stands in for trio's ``_r``; delegates to the current thread's machine RNG."""

    def _pick(self) -> random.Random:
        r = getattr(_tls, "rng", None)
        return r if r is not None else _original_r  # type: ignore[return-value]

    def random(self) -> float:
        return self._pick().random()

    def getrandbits(self, k: int) -> int:
        return self._pick().getrandbits(k)

    def shuffle(self, x: Any) -> None:  # type: ignore[override]
        self._pick().shuffle(x)

    def uniform(self, a: float, b: float) -> float:
        return self._pick().uniform(a, b)


def check_hooks() -> list[str]:
    """Names of the trio internals we rely on that are missing (empty when fine)."""
    missing = []
    for name in ("_r", "_ALLOW_DETERMINISTIC_SCHEDULING", "GLOBAL_RUN_CONTEXT"):
        if not hasattr(_trio_run, name):
            missing.append(f"trio._core._run.{name}")
    # Task is an attrs class: a field without a default shows in __attrs_attrs__ only.
    fields = {a.name for a in getattr(trio.lowlevel.Task, "__attrs_attrs__", ())}
    if not hasattr(trio.lowlevel.Task, "_counter") and "_counter" not in fields:
        missing.append("trio.lowlevel.Task._counter")
    return missing


def install() -> None:
    """Put the per-machine RNG into trio and switch on sort-then-shuffle batches."""
    global _installed, _original_r
    if _installed:
        return
    missing = check_hooks()
    if missing:
        raise RuntimeError(
            "this trio release lacks the scheduler hooks kemu needs: " + ", ".join(missing)
        )
    _original_r = _trio_run._r
    _trio_run._r = _MachineRandom()
    _trio_run._ALLOW_DETERMINISTIC_SCHEDULING = True  # type: ignore[misc]
    _installed = True


def bind_thread_rng(rng: random.Random | None) -> random.Random | None:
    """Make ``rng`` decide trio's batch order in this thread; returns the previous one."""
    prev = getattr(_tls, "rng", None)
    _tls.rng = rng
    return prev


async def preempt() -> None:
    """A preemption point: the scheduler may run any other ready lwp here.

    Skipped while the lwp holds a spin mutex (kernel preemption is off then),
    and when no other task is ready to run: the scheduler could only pick
    this one again (a one-task batch draws nothing from the seeded
    generator), so the schedule and the trace are the same without the
    yield, which costs a whole pass of trio's run loop.
    """
    l = curlwp_or_none()
    if l is not None and l.l_spinlocks:
        return
    m = curmachine_or_none()
    if m is not None and m._ready == 0:
        return
    await trio.lowlevel.checkpoint()
