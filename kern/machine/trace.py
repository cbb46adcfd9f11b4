"""The trace of one run: kernel events on the machine's clock.

Each event is a :class:`TraceEvent` ``(time, lwp, kind, detail, pid, lid)``:
seconds since boot on the machine's clock, the lwp's name ("-" for the
machine itself), what happened, its argument, and the lwp's process and
lwp ids (0, 0 for the machine; names may repeat, ids do not).  The kinds:

``start``/``exit``    an lwp's first dispatch / its end;
``run``               the CPU goes to this lwp (after another lwp ran, or
                      after it blocked or waited outside);
``sleep``/``wakeup``/``timeout``  a sleep on wmesg ``detail``, the wakeup,
                      the sleep's timeout;
``extern``/``intern`` the lwp leaves the CPU to wait outside the machine,
                      and comes back;
``fault``             an injected fault fired (``detail``: site and errno);
``crash``             the run ended with a kernel error (its first line).

A lock wait is a ``sleep`` whose detail names the lock and its holder
(``mutex "fss_device_lock" held by "umount"``).  ``procs`` maps each pid
seen to its command name.

The text form of an event is ``"<time> <lwp>: <kind>[ <detail>]"``, which
is what iterating over a trace gives; ``records`` gives the events
themselves (timelines and the determinism check use those).  A trace keeps
at most ``limit`` events in memory; ``digest()`` covers every event.
``write_chrome(path)`` writes the run's timeline as Chrome trace-event JSON
(kern/machine/timeline.py; Perfetto and chrome://tracing open it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, NamedTuple


class TraceEvent(NamedTuple):
    time: float
    lwp: str
    kind: str
    detail: str
    pid: int = 0
    lid: int = 0

    def text(self) -> str:
        if self.detail:
            return f"{self.time:.6f} {self.lwp}: {self.kind} {self.detail}"
        return f"{self.time:.6f} {self.lwp}: {self.kind}"


class Trace:
    """The events of one run, in order."""

    def __init__(self, enabled: bool = True, limit: int = 1_000_000) -> None:
        self.enabled = enabled
        self.limit = limit
        self.records: list[TraceEvent] = []
        self.total = 0
        self._overflow: Any = None  # hash of the events beyond ``limit``
        self.procs: dict[int, str] = {}  # pid -> command name (for timelines)

    def add(self, time: float, lwp: str, kind: str, detail: str = "", pid: int = 0,
            lid: int = 0) -> None:
        if not self.enabled:
            return
        self.total += 1
        ev = TraceEvent(time, lwp, kind, detail, pid, lid)
        if len(self.records) < self.limit:
            self.records.append(ev)
            return
        if self._overflow is None:
            self._overflow = hashlib.sha256()
        self._overflow.update(ev.text().encode() + b"\n")

    @property
    def events(self) -> list[str]:
        """The events kept in memory, as text."""
        return [e.text() for e in self.records]

    def digest(self) -> str:
        h = hashlib.sha256()
        for e in self.records:
            h.update(e.text().encode() + b"\n")
        if self._overflow is not None:
            h.update(self._overflow.digest())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[str]:
        return (e.text() for e in self.records)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [e.text() for e in self.records[i]]
        return self.records[i].text()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Trace):
            return self.total == other.total and self.digest() == other.digest()
        if isinstance(other, list):
            return self.events == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Trace {self.total} events {self.digest()[:12]}>"

    def text(self) -> str:
        return "\n".join(self)

    def to_chrome(self, step_us: float = 1.0) -> dict[str, Any]:
        """The run's timeline as a Chrome trace-event JSON object (kern/machine/timeline.py)."""
        from kern.machine.timeline import chrome_trace

        return chrome_trace(self, step_us=step_us)

    def write_chrome(self, path: Any, step_us: float = 1.0) -> str:
        """Write :meth:`to_chrome` to ``path`` (Perfetto, chrome://tracing open it)."""
        from kern.machine.timeline import write_chrome

        return write_chrome(path, self, step_us=step_us)

    def first_difference(self, other: Trace) -> tuple[int, TraceEvent | None,
                                                       TraceEvent | None] | None:
        """Where two traces part: (index, this one's event, the other's), or None."""
        a, b = self.records, other.records
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return i, x, y
        if len(a) != len(b):
            i = min(len(a), len(b))
            return i, a[i] if i < len(a) else None, b[i] if i < len(b) else None
        if self.total != other.total or self.digest() != other.digest():
            return len(a), None, None
        return None
