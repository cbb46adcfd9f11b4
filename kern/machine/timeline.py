"""Timelines: a run's trace as Chrome trace-event JSON (Perfetto, chrome://tracing).

``k.trace.write_chrome("run.json")`` (or ``kemu run --trace FILE``, or
``pytest --kemu-trace-dir DIR`` for failing tests) writes the events of a
machine's trace (kern/machine/trace.py) in the JSON object form of the
Trace Event Format: open it in https://ui.perfetto.dev or chrome://tracing.

**Tracks.**  One process per kemu process (pid and command name; pid 0 is
the kernel's own, with every kernel thread), one thread track per lwp
(its lid), named after the lwp.  Each lwp is, at every moment, in one state,
drawn as a span (``B``/``E`` pairs, never nested):

* ``running``: it holds the virtual CPU (from its ``start``/``run`` event
  until another lwp is dispatched or it sleeps, waits outside or exits);
* ``runnable``: on the run queue (preempted, or woken and not yet
  dispatched);
* a sleep, named after its wmesg (category ``sleep``), or a lock wait,
  named ``mutex "NAME" held by "LWP"`` / ``rwlock ...`` (category ``lock``);
  its end says who woke it, or that it timed out;
* ``outside: WMESG``: a wait outside the machine (category ``extern``).

Injected faults are instant events on their lwp's track (category
``fault``); the end of a run by a kernel error is a global instant event
(``crash``), where every open span ends.

**Time.**  The machine's clock is virtual and stands still while lwps run:
thousands of events may share one instant.  So the timeline's time axis
(``ts``, in microseconds) is the virtual time, except that each event comes
at least ``step_us`` (1 us by default) after the one before it:
``ts[i] = max(virtual_us[i], ts[i-1] + step_us)``.  Order is preserved
exactly, spans get a visible width, and wherever virtual time moves on (a
timeout, a kpause) the axis catches up with it.  Every event's exact
virtual time is in its ``args.vt`` (seconds), and its index in the trace in
``args.n``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kern.machine.trace import Trace, TraceEvent

# pids of the second, third... machine of one file are offset by this much
PID_STRIDE = 1_000_000

_LOCK_WAIT = ('mutex "', 'rwlock "')


class _Lwp:
    __slots__ = ("span", "name")

    def __init__(self, name: str) -> None:
        self.span: str | None = None  # the name of the open span
        self.name = name


def chrome_events(trace: Trace, *, pid_base: int = 0, label: str = "",
                  step_us: float = 1.0) -> list[dict[str, Any]]:
    """The trace-event list of one machine's trace (metadata first)."""
    out: list[dict[str, Any]] = []
    meta: list[dict[str, Any]] = []
    lwps: dict[tuple[int, int], _Lwp] = {}
    pids: set[int] = set()
    cur: tuple[int, int] | None = None  # the lwp on the CPU, as far as the trace says
    # an lwp that just exited: the wakeups right after its exit are its joiners'
    exiting: tuple[int, int] | None = None
    ts = -step_us
    prefix = f"{label}: " if label else ""

    def track(e: TraceEvent) -> _Lwp:
        key = (e.pid, e.lid)
        t = lwps.get(key)
        if t is None:
            t = lwps[key] = _Lwp(e.lwp)
            pid = pid_base + e.pid
            if e.pid not in pids:
                pids.add(e.pid)
                comm = trace.procs.get(e.pid, "")
                name = f"{prefix}{comm} (pid {e.pid})" if comm else f"{prefix}pid {e.pid}"
                meta.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                             "args": {"name": name}})
                meta.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
                             "args": {"sort_index": e.pid}})
            meta.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": e.lid,
                         "args": {"name": e.lwp}})
            meta.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": e.lid,
                         "args": {"sort_index": e.lid}})
        return t

    def begin(key: tuple[int, int], t: _Lwp, name: str, cat: str, args: dict[str, Any]) -> None:
        end(key, t, {})
        t.span = name
        out.append({"ph": "B", "name": name, "cat": cat, "ts": ts, "pid": pid_base + key[0],
                    "tid": key[1], "args": args})

    def end(key: tuple[int, int], t: _Lwp, args: dict[str, Any]) -> None:
        if t.span is not None:
            out.append({"ph": "E", "ts": ts, "pid": pid_base + key[0], "tid": key[1],
                        "args": args})
            t.span = None

    for n, e in enumerate(trace.records):
        vt_us = e.time * 1e6
        ts = max(vt_us, ts + step_us)
        at = {"vt": e.time, "n": n}
        if e.kind == "crash":
            out.append({"ph": "i", "s": "g", "name": f"crash: {e.detail}", "cat": "crash",
                        "ts": ts, "pid": pid_base, "tid": 0, "args": at})
            for key, t in lwps.items():
                end(key, t, {"ended": "crash"})
            cur = None
            continue
        key = (e.pid, e.lid)
        t = track(e)
        k = e.kind
        if k != "wakeup":
            exiting = None
        if k in ("start", "run"):
            if cur is not None and cur != key:
                # the lwp on the CPU was preempted (it had not blocked)
                begin(cur, lwps[cur], "runnable", "cpu", {"preempted by": e.lwp, **at})
            begin(key, t, "running", "cpu", at)
            cur = key
        elif k == "sleep":
            lock = e.detail.startswith(_LOCK_WAIT)
            begin(key, t, e.detail or "sleep", "lock" if lock else "sleep", at)
            if cur == key:
                cur = None
        elif k in ("wakeup", "timeout"):
            waker = lwps[cur].name if cur is not None else \
                lwps[exiting].name if exiting is not None else "the clock"
            end(key, t, {"timed out": True} if k == "timeout" else {"woken by": waker})
            begin(key, t, "runnable", "cpu", at)
        elif k == "extern":
            begin(key, t, f"outside: {e.detail}", "extern", at)
            if cur == key:
                cur = None
        elif k == "intern":
            begin(key, t, "runnable", "cpu", at)
        elif k == "suspend":
            begin(key, t, "suspended", "suspended", at)
            if cur == key:
                cur = None
        elif k == "exit":
            end(key, t, {"exited": True})
            if cur == key:
                cur = None
            exiting = key
        elif k == "fault":
            out.append({"ph": "i", "s": "t", "name": f"fault {e.detail}", "cat": "fault",
                        "ts": ts, "pid": pid_base + e.pid, "tid": e.lid, "args": at})
        else:  # an event kind this converter does not know: an instant, not lost
            out.append({"ph": "i", "s": "t", "name": f"{k} {e.detail}".strip(), "cat": k,
                        "ts": ts, "pid": pid_base + e.pid, "tid": e.lid, "args": at})
    for key, t in lwps.items():
        end(key, t, {"ended": "end of trace"})
    return meta + out


def chrome_trace(traces: Sequence[tuple[str, Trace]] | Trace, *,
                 step_us: float = 1.0) -> dict[str, Any]:
    """The JSON object of one trace, or of several ``(label, trace)`` (one per
    machine: their pids are offset by PID_STRIDE and their process names carry
    the label)."""
    from kern.machine.trace import Trace

    if isinstance(traces, Trace):
        traces = [("", traces)]
    events: list[dict[str, Any]] = []
    kept = total = 0
    for i, (label, tr) in enumerate(traces):
        events += chrome_events(tr, pid_base=i * PID_STRIDE,
                                label=label if len(traces) > 1 else "", step_us=step_us)
        kept += len(tr.records)
        total += tr.total
    other = {"source": "kemu", "clock": f"virtual time, each event at least {step_us} us "
                                        "after the one before (args.vt: the exact time)",
             "events": total}
    if kept < total:
        other["note"] = f"only the first {kept} of {total} events were kept (trace_limit)"
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}


def write_chrome(path: str | os.PathLike[str], traces: Sequence[tuple[str, Trace]] | Trace, *,
                 step_us: float = 1.0) -> str:
    """Write :func:`chrome_trace` to ``path`` (directories made as needed); the path."""
    path = os.fspath(path)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(chrome_trace(traces, step_us=step_us), f, separators=(",", ":"))
        f.write("\n")
    return path


def machine_traces(machines: Iterable[Any]) -> list[tuple[str, Trace]]:
    """``(label, trace)`` for each machine (the label names its seed and strategy)."""
    return [(f"machine {i + 1} ({m.strategy.describe()})", m.trace)
            for i, m in enumerate(machines)]


__all__ = ["PID_STRIDE", "chrome_events", "chrome_trace", "machine_traces", "write_chrome"]
