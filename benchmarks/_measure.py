"""How every benchmark under benchmarks/ measures and reports: one module, not a copy per script.

The machine these figures come from is shared and loaded, so a single timing
says little.  The rules, applied by every benchmark through this module:

* **CPU beside wall.**  A :class:`Stopwatch` reads ``time.perf_counter``
  (wall) and ``time.process_time`` (CPU of the whole process, every thread:
  the kernel of a sync-face machine runs in a thread of its own) together;
  subprocesses are charged with their ``RUSAGE_CHILDREN`` time
  (:func:`run_timed`).  A :class:`Sample` is one measured stretch: wall
  seconds, CPU seconds and how much work was done in it (calls, bytes,
  seeds).
* **Warm alike, interleaved, repeated.**  :func:`rounds` runs every case
  once to warm it (host page cache, imports, lazily built tables) and
  throws that away, then runs ``n`` rounds; each round runs every case once,
  in an order that rotates from round to round (A B, B A, A B...), so that
  neither side always pays for going first.
* **Medians and spread.**  :func:`spread` gives the median, the minimum and
  maximum and the quartiles of a list; a ratio is the median of the
  per-round ratios (:func:`paired`: the two sides of one round ran under the
  same load), with their min-max.
* **Targets are printed, never asserted.**  A :class:`Report` collects
  :class:`Figure` rows, each with its target (if the issue sets one) and
  whether the median meets it on the stated basis (CPU unless said
  otherwise), prints them as a table and writes them as JSON
  (``--json PATH``) for benchmarks/run_all.py, which fills docs/STATUS.md.

:func:`standard_args` adds the options every benchmark takes: ``--rounds``,
``--quick`` (a couple of minutes at most), ``--smoke`` (a second or two: the
test suite runs it so the benchmarks do not rot) and ``--json``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# Sample and Stopwatch live with the helpers that also run in other revisions' trees.
from benchmarks.portable.benchclock import Sample, Stopwatch  # noqa: F401 - re-exported

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


# ================================================================== subprocesses

def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


#: How long :func:`run_timed` waits for a command's orphans to end (seconds).
ORPHAN_PATIENCE = 30.0


def _adopt_orphans() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux's
    ``PR_SET_CHILD_SUBREAPER``), so their CPU reaches ``RUSAGE_CHILDREN``
    here instead of init's; False where that cannot be done."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _reap_orphans(patience: float) -> int:
    """Wait for the orphans this process adopted (it has no other child once
    subprocess.run has returned) for up to ``patience`` seconds: how many
    are still running after it."""
    deadline = time.monotonic() + patience
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return 0
        if pid:
            continue
        if time.monotonic() >= deadline:
            return sum(1 for _ in _children_pids())
        time.sleep(0.02)


def _children_pids() -> list[int]:
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def run_timed(cmd: Sequence[str], *, n: float = 1.0, cpu: int | None = None,
              orphans: bool = False, **kw: Any) -> tuple[subprocess.CompletedProcess, Sample]:
    """Run ``cmd`` to its end: its result and a Sample of its wall and CPU time.

    The CPU time is the process's and every descendant it waited for
    (``RUSAGE_CHILDREN`` before and after).  With ``orphans``, also that of
    descendants whose parent ended first (a fork server's children, such as
    multiprocessing's ``forkserver`` start method's Dask workers, end as
    orphans): this process adopts them (where Linux allows) and waits up to
    ORPHAN_PATIENCE seconds for them after the command; the wall time stays
    the command's own.  Use it only where this process has no other child
    running.  ``cpu``: pin the process (and its threads and children) to that
    host CPU.  Other keywords go to subprocess.run (capture_output=True and
    text=True by default).
    """
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    if cpu is not None:
        kw["preexec_fn"] = lambda: os.sched_setaffinity(0, {cpu})
    adopted = orphans and _adopt_orphans()
    c0 = _children_cpu()
    w0 = time.perf_counter()
    p = subprocess.run(list(cmd), **kw)
    wall = time.perf_counter() - w0
    if adopted:
        left = _reap_orphans(ORPHAN_PATIENCE)
        if left:
            print(f"run_timed: {left} orphan(s) of {cmd[0]} still running after "
                  f"{ORPHAN_PATIENCE:.0f} s: their CPU is not counted", file=sys.stderr)
    return p, Sample(wall, _children_cpu() - c0, n)


def pin_cpu(args: argparse.Namespace | None = None) -> int | None:
    """The host CPU that side-by-side subprocesses share (the last one this process
    may use); None (no pinning) in --smoke mode, where only running matters."""
    if args is not None and getattr(args, "smoke", False):
        return None
    try:
        return max(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


# ================================================================== profiles

def in_async_machine(body: Callable[[Any], Awaitable[Any]], **boot: Any) -> Any:
    """``body(k)`` with a machine booted in this thread's own trio run (the async face):
    the kernel runs in the calling thread, where a profiler sees it."""
    import trio
    import trio.testing

    import kern

    async def main() -> Any:
        async with kern.boot(**boot) as k:
            return await body(k)

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def profiled(fn: Callable[[], Any]) -> tuple[Any, pstats.Stats]:
    """Run ``fn`` under cProfile: its result and the statistics."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        result = fn()
    finally:
        prof.disable()
    return result, pstats.Stats(prof)


def profile_share(st: pstats.Stats, match: Callable[[str, str], bool]) -> tuple[float, int]:
    """(share of the profiled time, calls) of the functions ``match(file, name)`` picks."""
    total = st.total_tt  # type: ignore[attr-defined]
    mine = 0.0
    calls = 0
    for (file, _line, fn), (_cc, nc, tt, _ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        if match(file.replace(os.sep, "/"), fn):
            mine += tt
            calls += nc
    return (mine / total if total else 0.0), calls


def profile_text(st: pstats.Stats, top: int = 30) -> str:
    """The ``top`` functions by own time and by cumulative time."""
    out = io.StringIO()
    st.stream = out  # type: ignore[attr-defined]
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# ================================================================== statistics

@dataclass
class Spread:
    """Median and spread of a list of values."""

    median: float
    lo: float
    hi: float
    q1: float
    q3: float
    count: int

    def fmt(self, f: Callable[[float], str]) -> str:
        if self.count == 1:
            return f(self.median)
        return f"{f(self.median)} ({f(self.lo)}-{f(self.hi)})"


def spread(values: Sequence[float]) -> Spread:
    """Median, min, max and quartiles of ``values`` (at least one)."""
    v = sorted(values)
    if not v:
        raise ValueError("spread of no values")
    if len(v) >= 2:
        q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    else:
        q1 = q3 = v[0]
    return Spread(statistics.median(v), v[0], v[-1], q1, q3, len(v))


def paired(num: Sequence[Sample], den: Sequence[Sample], basis: str,
           mode: str = "rate") -> list[float]:
    """Per-round ratios of two sides measured in the same rounds.

    ``mode`` "rate": num's work per second over den's (higher is better for
    num); "cost": num's seconds per unit over den's.
    """
    if len(num) != len(den):
        raise ValueError("paired samples of different lengths")
    if mode == "rate":
        return [a.rate(basis) / b.rate(basis) for a, b in zip(num, den, strict=True)]
    return [a.cost(basis) / b.cost(basis) for a, b in zip(num, den, strict=True)]


# ================================================================== rounds

def rounds(cases: dict[str, Callable[[], Any]], n: int, warmup: int = 1,
           progress: bool = False) -> dict[str, list[Any]]:
    """Interleaved A/B(/C...) rounds: each case returns what one run measured
    (a Sample, or a dict of Samples: see :func:`column`).

    ``warmup`` rounds run every case and are thrown away; then ``n`` rounds
    each run every case once, the order rotating from round to round.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    out: dict[str, list[Any]] = {name: [] for name in names}
    for i in range(n):
        k = i % len(names)
        order = names[k:] + names[:k]
        for name in order:
            out[name].append(cases[name]())
        if progress:
            print(f"  round {i + 1}/{n} done", file=sys.stderr, flush=True)
    return out


def column(results: Sequence[dict[str, Sample]], key: str) -> list[Sample]:
    """One Sample per round out of cases that return several (a dict per run)."""
    return [r[key] for r in results]


# ================================================================== targets and report

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}


@dataclass
class Target:
    """What the issue asks of a figure: ``op`` (">=" or "<=") ``bound``, judged on ``basis``."""

    op: str
    bound: float
    basis: str = "cpu"
    source: str = "issue 13"

    def met(self, value: float) -> bool:
        return _OPS[self.op](value, self.bound)

    def text(self, kind: str = "time") -> str:
        # (a value is one figure, neither wall nor CPU: its basis is named only
        # when it has one of its own, such as "instructions")
        if kind == "value" and self.basis in ("cpu", "wall"):
            return f"{self.op} {self.bound:.3g}"
        return f"{self.op} {self.bound:.3g} ({self.basis})"


@dataclass
class Figure:
    """One row of a report: a quantity with its wall and CPU medians and spreads."""

    label: str
    unit: str
    wall: Spread | None = None
    cpu: Spread | None = None
    target: Target | None = None
    met: bool | None = None
    note: str = ""
    kind: str = "time"   # "time": wall and CPU figures; "value": one quantity (memory, a share)

    def judged(self) -> Spread | None:
        if self.target is None:
            return None
        if self.kind == "value":
            return self.wall or self.cpu
        return self.cpu if self.target.basis == "cpu" else self.wall


def fmt_num(x: float) -> str:
    """A figure with about three significant digits (thousands grouped)."""
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{x:,.0f}"
    if a >= 100:
        return f"{x:.0f}"
    if a >= 10:
        return f"{x:.1f}"
    if a >= 0.1:
        return f"{x:.2f}"
    return f"{x:.3g}"


class Report:
    """The figures of one benchmark run; printed as a table, written as JSON."""

    def __init__(self, bench: str, title: str, args: argparse.Namespace | None = None) -> None:
        self.bench = bench
        self.title = title
        self.args = ({k: v for k, v in vars(args).items()
                      if k != "json" and not k.startswith("_")} if args else {})
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.load_before = loadavg()
        self.started = time.time()

    # -- adding figures

    def add(self, fig: Figure) -> Figure:
        j = fig.judged()
        if fig.target is not None and j is not None:
            fig.met = fig.target.met(j.median)
        self.figures.append(fig)
        return fig

    def rate(self, label: str, samples: Sequence[Sample], unit: str, scale: float = 1.0,
             target: Target | None = None, note: str = "") -> Figure:
        """Work per second (divided by ``scale``: MiB for MB/s), per wall and per CPU second."""
        return self.add(Figure(
            label, unit,
            spread([s.rate("wall") / scale for s in samples]),
            spread([s.rate("cpu") / scale for s in samples]), target, note=note))

    def cost(self, label: str, samples: Sequence[Sample], unit: str = "us",
             target: Target | None = None, note: str = "") -> Figure:
        """Time per unit of work, in ``unit`` ("s", "ms", "us" or "ns")."""
        f = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}[unit]
        return self.add(Figure(
            label, unit,
            spread([s.cost("wall") * f for s in samples]),
            spread([s.cost("cpu") * f for s in samples]), target, note=note))

    def ratio(self, label: str, num: Sequence[Sample], den: Sequence[Sample],
              target: Target | None = None, mode: str = "rate", note: str = "") -> Figure:
        """Median of per-round ratios num/den (rates, or costs with mode="cost")."""
        return self.add(Figure(
            label, "x",
            spread(paired(num, den, "wall", mode)),
            spread(paired(num, den, "cpu", mode)), target, note=note))

    def value(self, label: str, values: Sequence[float], unit: str,
              target: Target | None = None, note: str = "") -> Figure:
        """A quantity that is not a time (memory, a share, a count): one column."""
        return self.add(Figure(label, unit, spread(values), None, target, note=note,
                               kind="value"))

    def unavailable(self, label: str, why: str, target: Target | None = None) -> Figure:
        """A figure that could not be measured here, and why."""
        return self.add(Figure(label, "", target=target, note=f"not measured: {why}"))

    def note(self, text: str) -> None:
        self.notes.append(text)

    # -- output

    def render(self) -> str:
        lines = [f"{self.title}"]
        lines.append(f"  (medians of the rounds, min-max in brackets; wall and CPU time; "
                     f"load {self.load_before[0]:.2f} -> {loadavg()[0]:.2f} on "
                     f"{os.cpu_count()} CPUs)")
        w = max([len(f.label) for f in self.figures] + [10])
        for f in self.figures:
            if f.wall is None and f.cpu is None:
                lines.append(f"  {f.label:{w}}  {f.note}"
                             + (f"   target {f.target.text(f.kind)}" if f.target else ""))
                continue
            u = f" {f.unit}" if f.unit not in ("", "x") else ("x" if f.unit == "x" else "")
            if f.kind == "value":
                v = f.wall or f.cpu
                assert v is not None
                row = f"  {f.label:{w}}  {v.fmt(fmt_num) + u:62}"
            else:
                wall = f.wall.fmt(fmt_num) + u if f.wall else "-"
                cpu = f.cpu.fmt(fmt_num) + u if f.cpu else "-"
                row = f"  {f.label:{w}}  wall {wall:28} CPU {cpu:28}"
            if f.target is not None:
                row += f" target {f.target.text(f.kind)}: {'met' if f.met else 'NOT MET'}"
            lines.append(row.rstrip())
            if f.note:
                lines.append(f"  {'':{w}}  ({f.note})")
        for n in self.notes:
            lines.append(f"  note: {n}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "title": self.title,
            "args": self.args,
            "machine": machine_info(),
            "load_before": self.load_before,
            "load_after": loadavg(),
            "started": self.started,
            "seconds": time.time() - self.started,
            "figures": [asdict(f) for f in self.figures],
            "notes": self.notes,
        }

    def finish(self, args: argparse.Namespace) -> None:
        """Print the table; write the JSON where ``--json`` says."""
        print(self.render(), flush=True)
        if getattr(args, "json", None):
            with open(args.json, "w") as f:
                json.dump(self.to_json(), f, indent=1)


# ================================================================== the machine

def loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU count and model, Python and trio versions, kemu's native helper."""
    info: dict[str, Any] = {"cpus": os.cpu_count(), "cpu_model": cpu_model(),
                            "python": platform.python_version(), "system": platform.release()}
    try:
        import trio

        info["trio"] = trio.__version__
    except ImportError:
        info["trio"] = None
    try:
        import kern.native

        info["native"] = kern.native.impl
    except Exception as e:  # noqa: BLE001 - only a label
        info["native"] = f"unknown ({type(e).__name__})"
    return info


# ================================================================== command line

def standard_args(ap: argparse.ArgumentParser, rounds_full: int = 5,
                  rounds_quick: int = 3) -> None:
    """The options every benchmark takes."""
    ap.add_argument("--rounds", type=int, default=None,
                    help=f"measured rounds after one warm-up round (default {rounds_full}; "
                         f"--quick {rounds_quick}, --smoke 1)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="smaller sizes: a couple of minutes")
    g.add_argument("--smoke", action="store_true",
                   help="tiny sizes, one round: only checks that the benchmark runs")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON here")
    ap.set_defaults(_rounds_full=rounds_full, _rounds_quick=rounds_quick)


def pick(args: argparse.Namespace, full: Any, quick: Any, smoke: Any) -> Any:
    """The value for the mode the command line chose."""
    if args.smoke:
        return smoke
    if args.quick:
        return quick
    return full


def n_rounds(args: argparse.Namespace) -> int:
    if args.rounds is not None:
        return max(1, args.rounds)
    return pick(args, args._rounds_full, args._rounds_quick, 1)


def warmups(args: argparse.Namespace) -> int:
    """Warm-up rounds: one, none in --smoke mode."""
    return 0 if args.smoke else 1
