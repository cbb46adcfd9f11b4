"""The determinism check: does a schedule replay to the same run?

Everything that may change a run is meant to come from the decision
stream.  :func:`check_determinism` runs a scenario once under a strategy,
then replays the schedule string it made ``runs - 1`` times, and compares
the replays with the first run event by event (time, lwp, kind, detail),
and decision by decision (how many options each had).  The first
difference is what leaked in from outside the stream: the host's clock,
host I/O, an iteration order that depends on the process (``id()``,
``hash()`` of strings under another PYTHONHASHSEED), another process (a
puffs server in its own process is outside by design).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kern.machine.explore import RunResult, Scenario, run_scenario
from kern.machine.strategies import Strategy
from kern.machine.trace import TraceEvent


@dataclass
class Divergence:
    """Where a replay parted from the first run."""

    run: int  # the replay (1 is the first replay)
    event: int  # index of the first differing trace event
    first: TraceEvent | None  # the first run's event there (None: it had ended)
    replay: TraceEvent | None  # the replay's
    decision: int | None  # index of the first decision whose width differs, if any

    def __str__(self) -> str:
        a = self.first.text() if self.first is not None else "(the run had ended)"
        b = self.replay.text() if self.replay is not None else "(the replay had ended)"
        d = f"; decision #{self.decision} had another number of options" \
            if self.decision is not None else ""
        return (f"replay {self.run} diverged at event #{self.event}: first run {a!r}, "
                f"replay {b!r}{d}")


@dataclass
class DeterminismReport:
    first: RunResult
    runs: int
    divergence: Divergence | None

    @property
    def deterministic(self) -> bool:
        return self.divergence is None

    def __str__(self) -> str:
        if self.divergence is None:
            return (f"deterministic: {self.runs} runs of schedule {self.first.schedule} gave the "
                    f"same {self.first.trace.total} events")
        return (f"NOT deterministic: {self.divergence}; something outside the decision "
                f"stream changed the run (the host's clock, host I/O, an iteration order "
                f"that depends on the process, another process)")


def _first_width_difference(a: RunResult, b: RunResult) -> int | None:
    wa, wb = a.decisions.widths, b.decisions.widths
    for i, (x, y) in enumerate(zip(wa, wb, strict=False)):
        if x != y:
            return i
    return None if len(wa) == len(wb) else min(len(wa), len(wb))


def check_determinism(scenario: Scenario, *args: Any, strategy: str | Strategy | None = None,
                      seed: int = 0, replay: str | None = None, runs: int = 2,
                      boot: dict[str, Any] | None = None, name: str | None = None,
                      **strategy_options: Any) -> DeterminismReport:
    """Run ``scenario`` once (strategy and seed, or ``replay``), then replay its
    schedule ``runs - 1`` times; report the first divergence, if any."""
    first = run_scenario(scenario, *args, strategy=strategy, seed=seed, replay=replay,
                         boot=boot, name=name, **strategy_options)
    for i in range(1, runs):
        again = run_scenario(scenario, *args, replay=first.schedule, boot=boot, name=name)
        diff = first.trace.first_difference(again.trace)
        width = _first_width_difference(first, again)
        if diff is not None or width is not None:
            idx, a, b = diff if diff is not None else (first.trace.total, None, None)
            return DeterminismReport(first, i + 1, Divergence(i, idx, a, b, width))
    return DeterminismReport(first, runs, None)


__all__ = ["DeterminismReport", "Divergence", "check_determinism"]
