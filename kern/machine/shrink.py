"""Shrinking a failing schedule: fewer preemptions and faults, same failure.

:func:`shrink` replays a failing schedule, then searches for a smaller one
that fails the same way (same error class and first line of the message,
:meth:`kern.machine.explore.Outcome.same_failure`).  Smaller means, in
order: fewer preemptions plus fault firings, fewer nonzero choices, a
smaller sum of choices, a shorter schedule.  Choice 0 is always the quiet
one (no preemption, no fault), and a schedule that runs out continues with
zeros, so the moves are:

1. truncation: keep the shortest prefix that still fails (the rest zeros);
2. ddmin over the nonzero choices: zero a chunk of them, halving the
   chunks down to single choices;
3. lowering: a choice above 1 becomes 1 (switch to the first lwp waiting).

Each accepted candidate is replaced by the choices its run really made,
so the result replays exactly.  A replay diverges from the original after
a changed choice (the same positions now mean other points of the run):
that is what lets the search find failures the original never showed in
that form -- it only keeps those that fail the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from kern.machine.explore import Outcome, RunResult, Scenario, run_scenario
from kern.machine.schedule import encode, trim


class Replayed(Protocol):
    """What shrinking needs of a run (a RunResult, a campaign's RunRecord)."""

    outcome: Outcome
    schedule: str

    @property
    def choices(self) -> list[int]: ...

    @property
    def preemptions(self) -> int: ...

    @property
    def faults(self) -> int: ...


@dataclass
class Shrunk:
    """The result of :func:`shrink`."""

    original: Any  # a Replayed run
    result: Any
    runs: int = 0
    steps: list[str] = field(default_factory=list)  # the moves that were accepted

    @property
    def schedule(self) -> str:
        return self.result.schedule

    def __str__(self) -> str:
        o, r = self.original, self.result
        return (f"{r.outcome}: shrunk from {o.preemptions} preemptions and {o.faults} faults "
                f"({len(o.choices)} choices) to {r.preemptions} and {r.faults} "
                f"({len(r.choices)}) in {self.runs} runs; schedule {r.schedule}")


def _size(r: Replayed) -> tuple[int, int, int, int]:
    c = r.choices
    return (r.preemptions + r.faults, sum(1 for x in c if x), sum(c), len(c))


def shrink(scenario: Scenario, *args: Any, schedule: str | RunResult,
           boot: dict[str, Any] | None = None, name: str | None = None,
           max_runs: int = 500) -> Shrunk:
    """Shrink the failing ``schedule`` of ``scenario(*args)`` (booted with ``boot``).

    Raises ValueError if the schedule does not fail.  At most ``max_runs``
    replays are spent.
    """
    text = schedule.schedule if isinstance(schedule, RunResult) else schedule
    return shrink_schedule(
        lambda s: run_scenario(scenario, *args, replay=s, boot=boot, name=name), text,
        max_runs)


def shrink_schedule(replay: Callable[[str], Replayed], schedule: str,
                    max_runs: int = 500) -> Shrunk:
    """Shrink ``schedule``, replaying each candidate with ``replay(schedule_string)``
    (how :func:`shrink` runs a scenario; campaigns give one that runs a test)."""
    original = replay(schedule)
    if not original.outcome.failed:
        raise ValueError(f"schedule {schedule[:40]}... does not fail: nothing to shrink")
    target = original.outcome
    out = Shrunk(original, original, runs=1)

    def attempt(choices: list[int], move: str) -> bool:
        if out.runs >= max_runs:
            return False
        cand = trim(choices)
        if cand == out.result.choices:
            return False
        out.runs += 1
        r = replay(encode(cand))
        if r.outcome.same_failure(target) and _size(r) < _size(out.result):
            out.result = r
            out.steps.append(move)
            return True
        return False

    progress = True
    while progress and out.runs < max_runs:
        progress = False
        # 1. truncation: binary search for the shortest failing prefix
        c = out.result.choices
        lo, hi = 0, len(c)
        while lo < hi and out.runs < max_runs:
            mid = (lo + hi) // 2
            if attempt(c[:mid], f"truncate to {mid}"):
                progress = True
                c = out.result.choices
                hi = min(mid, len(c))
            else:
                lo = mid + 1
        # 2. ddmin: zero chunks of the nonzero choices
        n = 2
        while out.runs < max_runs:
            c = out.result.choices
            nz = [i for i, x in enumerate(c) if x]
            if not nz:
                break
            n = min(n, len(nz))
            chunk = -(-len(nz) // n)
            for start in range(0, len(nz), chunk):
                cand = list(c)
                for i in nz[start:start + chunk]:
                    cand[i] = 0
                if attempt(cand, f"zero {len(nz[start:start + chunk])} choices"):
                    progress = True
                    n = max(n - 1, 2)
                    break
            else:
                if chunk == 1:
                    break
                n = min(2 * n, len(nz))
        # 3. lowering: a choice above 1 becomes 1
        c = out.result.choices
        for i, x in enumerate(c):
            if x > 1 and out.runs < max_runs:
                cand = list(out.result.choices)
                if i < len(cand) and cand[i] > 1:
                    cand[i] = 1
                    if attempt(cand, f"lower choice {i}"):
                        progress = True
    return out


__all__ = ["Replayed", "Shrunk", "shrink", "shrink_schedule"]
