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
``suspend``           the lwp suspended itself on its way back to user mode
                      (the halt's suspendsched, kern/kern_synch.py);
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
import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

# Trace.add and Machine.trace_add seal the raw list once it is this long.
SEAL_AT = 4096
# Trace.flush renumbers the interned events once there are more than this.
TABLE_MIN = 4096


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
    """The events of one run, in order.

    Recording is on every context switch, so it is kept cheap: the
    scheduler's hot paths append to :attr:`raw` directly, one entry per
    event, and events become :class:`TraceEvent` only when the trace is
    read.  ``raw`` is a flat list of

    * an ``int`` >= 0: the machine's clock moved to that many nanoseconds;
    * a negative ``int``: an event at the clock's present time, by its
      number in the trace's table of events (:meth:`intern`);
    * a ``float``: the time, in seconds, of the one event that follows;
    * a tuple ``(who, kind, detail)``: an event at the clock's present time
      (or the float's just before), ``who`` being the lwp's ``l_tid``,
      ``(name, pid, lid)``.

    The hot paths append numbers, made once and appended again and again:
    an lwp's ``start``, then ``run``, event (``l_trun``) and its last ``sleep`` and
    ``wakeup`` events (``l_tsleep``, ``l_twakeup``, remade when the wmesg
    changes: kern/kern_synch.py).  Appending one allocates nothing, and an
    int is nothing the garbage collector tracks: a sealed tuple of them
    (below) is untracked at the first collection that sees it.  (A tuple of
    event tuples stays tracked while the event tuples are, which is until
    a collection of their generation: the collector walked the sealed
    trace entry by entry, a third of what the trace cost a switch.  A
    fresh tuple per event, kept, cost 10% of a switch; three list entries
    per event, which the collector walks too, most of the rest.)  The
    other adders (:meth:`add`, ``Machine.trace_add``: starts, exits, lock
    waits, faults) append tuples.

    :meth:`seal` moves what ``raw`` holds into a tuple, kept in order (the
    machine's CPU task seals every so many steps; the other adders once
    ``raw`` is long): a tuple is left alone by the collector once it has
    seen it and found nothing tracked in it, where a list is walked entry
    by entry at every full collection, and ``raw`` stays short.
    """

    def __init__(self, enabled: bool = True, limit: int = 1_000_000) -> None:
        self.enabled = enabled
        self.limit = limit
        self.raw: list[Any] = []  # not yet made TraceEvents (see above)
        self._sealed: list[tuple[Any, ...]] = []  # earlier raw entries (seal)
        self._nsealed = 0  # entries in _sealed
        # flush() once this many entries wait (each event is one, a clock or
        # a time one more): the memory of a trace stays bounded
        self.rawlimit = 2 * limit
        self._now = 0  # the clock (ns) at the end of what was made TraceEvents
        self._records: list[TraceEvent] = []
        # The events the hot paths append as numbers (intern): event ``~i``
        # of raw is _table[i]; _ids finds an event's number.
        self._table: list[tuple[Any, str, str]] = []
        self._ids: dict[tuple[Any, str, str], int] = {}
        # flush empties the table once it is longer than this (and no entry of
        # raw holds a number), then calls ``renumbered`` (the machine's: its
        # live lwps make their numbers again): a dead lwp's events, or those
        # of an lwp's former names, do not stay.
        self.table_max = TABLE_MIN
        self.renumbered: Callable[[], None] | None = None
        self._nover = 0  # events beyond ``limit`` (hashed, not kept)
        self._overflow: Any = None  # hash of the events beyond ``limit``
        self.procs: dict[int, str] = {}  # pid -> command name (for timelines)

    def add(self, time: float, lwp: str, kind: str, detail: str = "", pid: int = 0,
            lid: int = 0) -> None:
        """Record an event at ``time`` seconds."""
        if self.enabled:
            self.raw += (float(time), ((lwp, pid, lid), kind, detail))
            if len(self.raw) > SEAL_AT:
                self.seal()

    def intern(self, ev: tuple[Any, str, str]) -> Any:
        """The entry of ``raw`` for the event tuple ``(who, kind, detail)``:
        a negative int, the same for the same event each time (``ev`` itself
        when the trace is off: nothing is appended then)."""
        if not self.enabled:
            return ev
        i = self._ids.get(ev)
        if i is None:
            i = self._ids[ev] = ~len(self._table)
            self._table.append(ev)
        return i

    def __getstate__(self) -> dict[str, Any]:
        # (a copy, pickled to another process, renumbers nothing: the machine stays)
        return {**self.__dict__, "renumbered": None}

    def seal(self) -> None:
        """Move the entries of ``raw`` into a tuple, kept in order (see above);
        once too many wait, :meth:`flush`."""
        raw = self.raw
        if raw:
            self._sealed.append(tuple(raw))
            self._nsealed += len(raw)
            raw.clear()
            if self._nsealed > self.rawlimit:
                self.flush()

    def flush(self) -> None:
        """Make the raw entries TraceEvents: the first ``limit`` events are
        kept, the ones beyond are hashed into the digest and dropped."""
        raw = self.raw
        if not raw and not self._sealed:
            return
        recs = self._records
        room = self.limit - len(recs)
        now = self._now
        table = self._table
        entries = itertools.chain(itertools.chain.from_iterable(self._sealed), raw)
        for x in entries:
            tx = type(x)
            if tx is int:
                if x >= 0:
                    now = x
                    continue
                t = now / 1e9
                x = table[~x]
            elif tx is float:
                t = x
                x = next(entries)
            else:
                t = now / 1e9
            (name, pid, lid), kind, detail = x
            te = TraceEvent(t, name, kind, detail, pid, lid)
            if room > 0:
                recs.append(te)
                room -= 1
            else:
                if self._overflow is None:
                    self._overflow = hashlib.sha256()
                self._overflow.update(te.text().encode() + b"\n")
                self._nover += 1
        self._now = now
        raw.clear()
        self._sealed.clear()
        self._nsealed = 0
        if len(table) > self.table_max and self.renumbered is not None:
            table.clear()
            self._ids.clear()
            self.renumbered()
            self.table_max = max(self.table_max, 2 * len(table))

    @property
    def total(self) -> int:
        """How many events were recorded (those beyond ``limit`` too)."""
        self.flush()
        return len(self._records) + self._nover

    @property
    def records(self) -> list[TraceEvent]:
        """The events kept in memory (at most ``limit``), as :class:`TraceEvent`."""
        self.flush()
        return self._records

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
