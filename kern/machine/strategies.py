"""Scheduling strategies: who decides each choice of the decision stream.

The virtual CPU (kern/machine/scheduler.py) asks its strategy at every
decision (see kern/machine/schedule.py for the kinds and for what choice 0
means) and records the answer; the strategy never sees the kernel beyond
the lwps it is offered.  One strategy object serves one run.

``random``  a uniform choice at each decision (default); faults fire with
            their probability.  Options: none (the seed is the boot's).
``pct``     Probabilistic Concurrency Testing (Burckhardt, Kothari,
            Musuvathi, Nagarakatte, ASPLOS 2010): every lwp gets a random
            priority when first offered, the highest-priority option always
            runs, and at ``depth - 1`` change points drawn among the first
            ``steps`` decisions the running lwp drops below every initial
            priority (the i-th change point gives priority i).  A bug of
            depth d among n lwps in k steps is found with probability at
            least 1/(n k^(d-1)) per run.  kemu additions: an lwp that yields
            (``kern_synch.yield_``, a spin-wait) drops below every other, so
            that polling loops cannot starve the lwp they wait for; and after
            ``fair_after`` decisions the choice becomes uniform (a run that
            long is stuck, not exploring).  Options: ``depth`` (default 3),
            ``steps`` (an estimate of the run's decisions, default 1000;
            :func:`kern.machine.explore.explore` learns it from earlier
            runs), ``fair_after`` (default 100000).
``replay``  the choices of a schedule string, then zeros.  Option
            ``schedule`` (``kern.boot(replay=S)`` is the short form).
``dfs``     one run of a bounded exhaustive search: the choices of a prefix,
            then zeros.  Driven by :class:`kern.machine.explore.DfsExplorer`,
            not chosen by name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kern.machine.schedule import PREEMPT, SWITCH, YIELD, decode

if TYPE_CHECKING:
    from kern.kern_lwp import lwp


class Strategy:
    """Base class: a strategy answers the decisions of one run."""

    name = "?"

    def pick(self, kind: int, options: Sequence[lwp], cur: lwp | None) -> int:
        """Index in ``options`` of the lwp that runs next.

        PREEMPT: ``options[0]`` is ``cur``, still runnable; SWITCH: ``cur``
        blocked or exited (it is not an option; None when the CPU was idle);
        YIELD: ``options[-1]`` is ``cur``, offering the CPU.
        """
        raise NotImplementedError

    def width_picker(self) -> Callable[[int], int] | None:
        """A function of the width alone that gives the same choice as :meth:`pick`
        (``pick`` looks only at ``len(options)``), or None.  The scheduler's
        preemption points use it so as not to build the list of options."""
        return None

    def chance(self, p: float) -> int:
        """1 if an event of probability ``0 < p < 1`` happens (a fault fires), else 0."""
        raise NotImplementedError

    def below(self, n: int) -> int:
        """A number in ``range(n)``, ``n >= 2``."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def spec(self) -> str | None:
        """The ``--kemu-strategy`` value that makes this strategy again (None: none can)."""
        return None


class RandomStrategy(Strategy):
    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def pick(self, kind: int, options: Sequence[lwp], cur: lwp | None) -> int:
        return self.rng.randrange(len(options))

    def width_picker(self) -> Callable[[int], int] | None:
        if type(self).pick is not RandomStrategy.pick:
            return None
        rng = self.rng
        # (Widths are >= 1, and for n >= 1 CPython's randrange(n) is
        # _randbelow(n): the same getrandbits calls, so the same choices,
        # without randrange's argument handling on every decision.)
        return rng._randbelow if type(rng) is random.Random else rng.randrange

    def chance(self, p: float) -> int:
        return 1 if self.rng.random() < p else 0

    def below(self, n: int) -> int:
        return self.rng.randrange(n)

    def describe(self) -> str:
        return f"random(seed={self.seed})"

    def spec(self) -> str:
        return "random"


class PCTStrategy(RandomStrategy):
    """PCT: random priorities with ``depth - 1`` change points; its ``chance``
    and ``below`` draw from the same generator as RandomStrategy's."""

    name = "pct"

    def __init__(self, seed: int = 0, depth: int = 3, steps: int = 1000,
                 fair_after: int = 100_000) -> None:
        if depth < 1:
            raise ValueError("pct: depth must be at least 1")
        if steps < 1:
            raise ValueError("pct: steps must be at least 1")
        super().__init__(seed)
        self.depth = depth
        self.steps = steps
        self.fair_after = fair_after
        # change point (a decision number, 1-based) -> the priority it gives
        points = self.rng.sample(range(1, steps + 1), min(depth - 1, steps))
        self.changes = {k: i + 1 for i, k in enumerate(sorted(points))}
        self.prio: dict[lwp, float] = {}
        self.step = 0
        self.low = 0.0

    def _prio(self, l: lwp) -> float:
        p = self.prio.get(l)
        if p is None:
            p = self.prio[l] = self.depth + self.rng.random()
        return p

    def pick(self, kind: int, options: Sequence[lwp], cur: lwp | None) -> int:
        self.step += 1
        if self.step > self.fair_after:
            return self.rng.randrange(len(options))
        if cur is not None:
            self._prio(cur)
            change = self.changes.get(self.step)
            if change is not None:
                self.prio[cur] = change
            if kind == YIELD:
                self.prio[cur] = self.low
                self.low -= 1
        best = 0
        bp = self._prio(options[0])
        for i in range(1, len(options)):
            p = self._prio(options[i])
            if p > bp:
                best, bp = i, p
        return best

    def describe(self) -> str:
        return f"pct(seed={self.seed}, depth={self.depth}, steps={self.steps})"

    def spec(self) -> str:
        return f"pct:depth={self.depth},steps={self.steps},fair_after={self.fair_after}"


class PrefixStrategy(Strategy):
    """The given choices in order (each taken modulo the decision's width), then zeros."""

    name = "replay"

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = list(choices)
        self.i = 0

    def _next(self, n: int) -> int:
        i = self.i
        self.i = i + 1
        if i < len(self.choices):
            return self.choices[i] % n
        return 0

    def pick(self, kind: int, options: Sequence[lwp], cur: lwp | None) -> int:
        return self._next(len(options))

    def width_picker(self) -> Callable[[int], int] | None:
        return self._next if type(self).pick is PrefixStrategy.pick else None

    def chance(self, p: float) -> int:
        return self._next(2)

    def below(self, n: int) -> int:
        return self._next(n)

    def describe(self) -> str:
        return f"{self.name}({len(self.choices)} choices)"


class ReplayStrategy(PrefixStrategy):
    name = "replay"

    def __init__(self, schedule: str | Sequence[int]) -> None:
        super().__init__(decode(schedule) if isinstance(schedule, str) else schedule)


class DfsStrategy(PrefixStrategy):
    name = "dfs"


# name -> (class, the options it takes besides the seed)
STRATEGIES: dict[str, tuple[type[Strategy], tuple[str, ...]]] = {
    "random": (RandomStrategy, ()),
    "pct": (PCTStrategy, ("depth", "steps", "fair_after")),
    "replay": (ReplayStrategy, ("schedule",)),
}

# Used by machines booted without a strategy (the pytest plugin sets them).
default_strategy: str = "random"
default_options: dict[str, Any] = {}


def make_strategy(strategy: str | Strategy | None, seed: int, replay: str | None,
                  options: dict[str, Any]) -> Strategy:
    """The strategy of a boot: by name with its options, an instance, or a replay.

    Raises TypeError for an option the strategy does not take (so a
    misspelt boot option is an error), ValueError for an unknown strategy.
    """
    if replay is not None:
        if strategy not in (None, "replay"):
            raise TypeError(f"replay= and strategy={strategy!r} exclude each other")
        if options:
            raise TypeError(f"unknown boot option(s) {', '.join(sorted(options))} "
                            "(replay takes none)")
        return ReplayStrategy(replay)
    if isinstance(strategy, Strategy):
        if options:
            raise TypeError(f"unknown boot option(s) {', '.join(sorted(options))}")
        return strategy
    if strategy is None:
        strategy = default_strategy
        options = {**default_options, **options}
    if strategy == "dfs":
        raise ValueError("dfs explores many runs: use kern.machine.explore.DfsExplorer")
    try:
        cls, allowed = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r} (known: "
                         f"{', '.join(sorted(STRATEGIES))}, and dfs through DfsExplorer)") \
            from None
    bad = sorted(set(options) - set(allowed))
    if bad:
        takes = ", ".join(allowed) if allowed else "none"
        raise TypeError(f"unknown boot option(s) {', '.join(bad)} (strategy {strategy} "
                        f"takes: {takes})")
    if cls is ReplayStrategy:
        if "schedule" not in options:
            raise TypeError("strategy replay needs schedule=")
        return ReplayStrategy(options["schedule"])
    return cls(seed, **options)


def parse_strategy_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"pct:depth=2,steps=500"`` -> ("pct", {"depth": 2, "steps": 500}) (the CLI form)."""
    name, _, rest = spec.partition(":")
    opts: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        k, eq, v = item.partition("=")
        if not eq:
            raise ValueError(f"strategy option {item!r}: expected name=value")
        try:
            opts[k.strip()] = int(v)
        except ValueError:
            opts[k.strip()] = v.strip()
    return name.strip(), opts


__all__ = ["PREEMPT", "SWITCH", "YIELD", "DfsStrategy", "PCTStrategy", "PrefixStrategy",
           "RandomStrategy", "ReplayStrategy", "Strategy", "make_strategy",
           "parse_strategy_spec"]
