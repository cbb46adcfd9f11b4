"""Fault injection (in the spirit of NetBSD's fault(4) and Linux's fault-injection).

Kernel code marks a place that can fail with a named site:
``error = fault_inject("kthread_create")`` returns 0, or the errno to fail
with.  Tests arm sites with knobs; each armed :class:`FaultAttr` decides,
call by call, in this order (as Linux's ``should_fail`` does):

1. ``times``: stop once this many faults fired (-1: no limit);
2. scope: only calls from one lwp (``lwp=``) or for one device (``dev=``);
3. ``space``: let the first N qualifying calls through;
4. ``nth``: fire on every Nth qualifying call after that (fault(4)'s NTH mode);
   ``fail_nth``: fire on the Nth call only, once (Linux's fail-nth);
5. ``probability`` (0..1), drawn from the machine's decision stream
   (``Machine.chance``): the strategy decides, the schedule string records
   it, a replay repeats it and shrinking tries it without the fault.

Every fault that fires is appended to the machine's fault log and trace.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kern.cpu import curlwp_or_none, curmachine, curmachine_or_none
from kern.errno import EIO, errorcode


@dataclass
class FaultAttr:
    site: str
    error: int = EIO
    nth: int = 1
    fail_nth: int = 0
    probability: float = 1.0
    times: int = -1
    space: int = 0
    lwp: Any = None  # an lwp, or an lwp name
    dev: Any = None  # a dev_t
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # read-back
    calls: int = 0
    nfaults: int = 0
    _rng: random.Random | None = field(default=None, repr=False)

    def _scope_ok(self, l: Any, dev: Any) -> bool:
        if self.lwp is not None:
            if l is None:
                return False
            if isinstance(self.lwp, str):
                if l.l_name != self.lwp:
                    return False
            elif l is not self.lwp:
                return False
        if self.dev is not None and dev != self.dev:
            return False
        return True

    def should_fail(self, l: Any, dev: Any) -> bool:
        if self.times == 0:
            return False
        if not self._scope_ok(l, dev):
            return False
        if self.space > 0:
            self.space -= 1
            return False
        self.calls += 1
        if self.fail_nth:
            if self.calls != self.fail_nth:
                return False
        elif self.nth > 1 and self.calls % self.nth:
            return False
        if self.probability < 1.0:
            # drawn from the machine's decision stream: recorded, replayed, shrunk
            if not curmachine().chance(self.probability):
                return False
        if self.times > 0:
            self.times -= 1
        if self.fail_nth:
            self.times = 0
        self.nfaults += 1
        return True


@dataclass(frozen=True)
class FaultEvent:
    site: str
    lwp: str
    error: int
    time: float
    call: int

    def __str__(self) -> str:
        err = errorcode.get(self.error, self.error)
        return f"{self.site}: {err} in {self.lwp} (call {self.call})"


class FaultTable:
    """The armed faults of one machine, and the log of those that fired."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.armed: dict[str, list[FaultAttr]] = {}
        self.log: list[FaultEvent] = []
        self.calls: dict[str, int] = {}

    def add(self, site: str, **knobs: Any) -> FaultAttr:
        """Arm ``site``; returns the attr, whose ``nfaults``/``calls`` can be read back."""
        attr = FaultAttr(site, **knobs)
        if not 0.0 <= attr.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if attr.nth < 1 or attr.fail_nth < 0 or attr.space < 0:
            raise ValueError("nth must be >= 1; fail_nth and space >= 0")
        n = len(self.armed.get(site, ()))
        seed = attr.seed if attr.seed is not None else f"{self.seed}:{site}:{n}"
        attr._rng = random.Random(seed)
        self.armed.setdefault(site, []).append(attr)
        return attr

    def remove(self, attr: FaultAttr) -> None:
        lst = self.armed.get(attr.site, [])
        if attr in lst:
            lst.remove(attr)
        if not lst:
            self.armed.pop(attr.site, None)

    def clear(self) -> None:
        self.armed.clear()

    @contextlib.contextmanager
    def inject(self, site: str, **knobs: Any) -> Iterator[FaultAttr]:
        """``with k.faults.inject("kthread_create", error=EAGAIN) as f: ...``"""
        attr = self.add(site, **knobs)
        try:
            yield attr
        finally:
            self.remove(attr)

    def fired(self, site: str | None = None) -> list[FaultEvent]:
        return [e for e in self.log if site is None or e.site == site]

    def check(self, site: str, dev: Any = None) -> FaultAttr | None:
        self.calls[site] = self.calls.get(site, 0) + 1
        attrs = self.armed.get(site)
        if not attrs:
            return None
        l = curlwp_or_none()
        for attr in attrs:
            if attr.should_fail(l, dev):
                m = curmachine()
                name = l.l_name if l is not None else "?"
                self.log.append(FaultEvent(site, name, attr.error, m.now(), self.calls[site]))
                m.trace_event(l, f"fault {site} {errorcode.get(attr.error, attr.error)}")
                return attr
        return None


def fault_check(site: str, dev: Any = None) -> FaultAttr | None:
    """The armed fault that fires for this call of ``site``, or None."""
    m = curmachine_or_none()
    return m.faults.check(site, dev) if m is not None else None


def fault_inject(site: str, dev: Any = None) -> int:
    """0 to go on, or the errno this call of ``site`` must fail with."""
    attr = fault_check(site, dev)
    return attr.error if attr is not None else 0
