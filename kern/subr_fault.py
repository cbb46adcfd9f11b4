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
   it, a replay repeats it and shrinking tries it without the fault; a fault
   given ``seed=`` draws from a generator of its own instead (the same
   draws whatever the schedule, and never shrunk away).

Every fault that fires is appended to the machine's fault log and trace.

Sites are declared, once, in the registry :data:`FAULT_SITES` with
:func:`fault_site` (the kernel services' sites in the table below, the VOPs
from vfs/vnode_if.py's descriptors, the disk sites beside the disk drivers'
strategy code); arming an undeclared site is an error naming the known ones
and the closest matches, and a kernel that reaches an undeclared site panics.

A :class:`FaultPlan` is faults as data: a list of :class:`FaultSpec` (site
and knobs) with a one-line text form that parses back::

    disk.write:dev=wd0:prob=0.3:error=EIO,VOP_WRITE:lwp=fss0:fail_nth=2

``k.faults.apply(plan)`` arms a plan (``pytest --kemu-faults=PLAN`` arms it
in every machine a test boots, ``kemu run --faults PLAN`` in the script's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kern.cpu import curlwp_or_none, curmachine, curmachine_or_none
from kern.errno import EIO, errorcode


class FaultAttr:
    """One armed fault: its :class:`FaultSpec` (what it is) and its counters.

    The spec's knobs read through (``attr.error``, ``attr.nth``, ``attr.lwp``,
    ``attr.extra`` as a dict...); ``times`` and ``space`` are this fault's own
    and count down as it is consulted; ``calls`` and ``nfaults`` are read back
    by tests.
    """

    def __init__(self, spec: FaultSpec, seq: int = 0) -> None:
        self.spec = spec
        self.times = spec.times
        self.space = spec.space
        self.calls = 0
        self.nfaults = 0
        self._rng = random.Random(spec.seed) if spec.seed is not None else None
        self._seq = seq  # arming order in its table

    def __getattr__(self, name: str) -> Any:
        if name in _SPEC_FIELDS:
            return getattr(self.__dict__["spec"], name)
        raise AttributeError(name)

    @property
    def extra(self) -> dict[str, Any]:
        """The site's own knobs (``disk.slow``'s ``ticks``)."""
        return dict(self.spec.extra)

    def __repr__(self) -> str:
        return f"<FaultAttr {self.spec} calls={self.calls} nfaults={self.nfaults}>"

    def _scope_ok(self, l: Any, dev: Any) -> bool:
        spec = self.spec
        if spec.lwp is not None:
            if l is None:
                return False
            if isinstance(spec.lwp, str):
                if l.l_name != spec.lwp:
                    return False
            elif l is not spec.lwp:
                return False
        if spec.dev is not None and dev != spec.dev:
            if not (isinstance(spec.dev, str) and dev_name_matches(spec.site, spec.dev, dev)):
                return False
        return True

    def should_fail(self, l: Any, dev: Any) -> bool:
        spec = self.spec
        if self.times == 0:
            return False
        if not self._scope_ok(l, dev):
            return False
        if self.space > 0:
            self.space -= 1
            return False
        self.calls += 1
        if spec.fail_nth:
            if self.calls != spec.fail_nth:
                return False
        elif spec.nth > 1 and self.calls % spec.nth:
            return False
        if spec.probability < 1.0:
            # an explicit seed= draws from the fault's own generator; otherwise the
            # machine's decision stream decides (recorded, replayed, shrunk)
            if self._rng is not None:
                if self._rng.random() >= spec.probability:
                    return False
            elif not curmachine().chance(spec.probability):
                return False
        if self.times > 0:
            self.times -= 1
        if spec.fail_nth:
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


#: How many faults are armed now, in every machine of the process (machines
#: run in threads too): the generated VOPs (vfs/vnode_if.py) test this one
#: item before they look their machine's table up, so that with nothing armed
#: anywhere (every sweep seed) a VOP makes no curmachine look-up for it.  Kept
#: in step by FaultTable.arm/remove/clear, which change their table and the
#: count together under _armed_lock (a table armed or cleared from two threads
#: at once must not leave the count below what the tables hold), so it is
#: never 0 while a table holds a fault.  (A table dropped with faults still
#: armed leaves it raised: the VOPs then look their own tables up, as they did
#: without it.)
ARMED_ANYWHERE: list[int] = [0]
_armed_lock = threading.Lock()


class FaultTable:
    """The armed faults of one machine, and the log of those that fired."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.armed: dict[str, list[FaultAttr]] = {}
        self.log: list[FaultEvent] = []
        # calls of each site so far (a FaultEvent's number); the VOP_* sites
        # are counted only while some fault is armed in the machine: the
        # generated VOPs (vfs/vnode_if.py) skip the check otherwise, to keep
        # it off every VOP; fail_nth and nth count from the arming, so they
        # are not affected
        self.calls: dict[str, int] = {}
        self._armings = 0

    def add(self, site: str, **knobs: Any) -> FaultAttr:
        """Arm ``site``; returns the attr, whose ``nfaults``/``calls`` can be read back.

        The keywords are :class:`FaultSpec`'s (``prob`` for ``probability``;
        ``lwp`` and ``dev`` may also be an lwp, a dev_t or a vnode) and the
        site's own (``disk.slow``'s ``ticks``, which may also come in
        ``extra=``): :meth:`FaultSpec.of` checks them all.
        """
        return self.arm(FaultSpec.of(site, **knobs))

    def arm(self, spec: FaultSpec) -> FaultAttr:
        """Arm one fault of a plan."""
        self._armings += 1
        attr = FaultAttr(spec, self._armings)
        with _armed_lock:
            ARMED_ANYWHERE[0] += 1  # (raised before the fault is in the table)
            self.armed.setdefault(spec.site, []).append(attr)
        return attr

    def remove(self, attr: FaultAttr) -> None:
        with _armed_lock:
            lst = self.armed.get(attr.site, [])
            if attr in lst:
                lst.remove(attr)
                ARMED_ANYWHERE[0] -= 1
            if not lst:
                self.armed.pop(attr.site, None)

    def clear(self) -> None:
        with _armed_lock:
            ARMED_ANYWHERE[0] -= sum(len(lst) for lst in self.armed.values())
            self.armed.clear()

    def apply(self, plan: FaultPlan | str) -> list[FaultAttr]:
        """Arm every fault of ``plan`` (a FaultPlan or its text form); their attrs."""
        if isinstance(plan, str):
            plan = FaultPlan.parse(plan)
        return [self.arm(f) for f in plan]

    def plan(self) -> FaultPlan:
        """What is armed now, in arming order, as a plan (faults armed with lwp or
        vnode objects show those by name: FaultSpec.named)."""
        attrs = sorted((a for lst in self.armed.values() for a in lst), key=lambda a: a._seq)
        return FaultPlan([a.spec.named() for a in attrs])

    def inject(self, site: str, **knobs: Any) -> contextlib.AbstractContextManager[FaultAttr]:
        """``with k.faults.inject("kthread_create", error=EAGAIN) as f: ...``

        The site and knobs are checked here, at the call; the fault is armed
        inside the ``with`` only.
        """
        return self._injected(FaultSpec.of(site, **knobs))

    @contextlib.contextmanager
    def _injected(self, spec: FaultSpec) -> Iterator[FaultAttr]:
        attr = self.arm(spec)
        try:
            yield attr
        finally:
            self.remove(attr)

    def fired(self, site: str | None = None) -> list[FaultEvent]:
        return [e for e in self.log if site is None or e.site == site]

    def count(self, site: str) -> None:
        """Count a call of ``site`` (``calls[site]``); an undeclared site panics.

        A site is in ``calls`` only once declared and called, so a call after
        the first one makes no look-up in the registry.
        """
        calls = self.calls
        if site in calls:
            calls[site] += 1
        else:
            if site not in FAULT_SITES:
                _undeclared(site)
            calls[site] = 1

    def check(self, site: str, dev: Any = None) -> FaultAttr | None:
        calls = self.calls  # (count's common case in line: copyin/copyout call this)
        if site in calls:
            calls[site] += 1
        else:
            self.count(site)
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
    if m is None:
        return None
    faults = m.faults
    if not faults.armed:
        faults.count(site)  # (nothing armed in the machine, the common case)
        return None
    return faults.check(site, dev)


def fault_inject(site: str, dev: Any = None) -> int:
    """0 to go on, or the errno this call of ``site`` must fail with."""
    # (fault_check without its call: every copyin/copyout passes here)
    m = curmachine_or_none()
    if m is None:
        return 0
    faults = m.faults
    if not faults.armed:
        # (nothing armed in the machine, the common case: only the count, in line)
        calls = faults.calls
        if site in calls:
            calls[site] += 1
        else:
            faults.count(site)
        return 0
    attr = faults.check(site, dev)
    return attr.error if attr is not None else 0


# ------------------------------------------------------------------ the registry of sites

@dataclass(frozen=True)
class FaultSite:
    """A declared fault site: its name, what failing there means, how it is scoped.

    ``scope`` is what ``dev=`` compares with: "dev" (the dev_t of the device
    the call is for), "vnode" (the vnode of a VOP), or "" (no device: ``dev=``
    is an error).  ``knobs`` are the site's own knobs, kept in FaultAttr.extra.
    """

    name: str
    doc: str
    scope: str = ""
    knobs: tuple[str, ...] = ()
    dev_match: Callable[[str, Any], bool] | None = field(default=None, compare=False,
                                                        repr=False)


#: Every fault site, by name (fault_site() adds to it).
FAULT_SITES: dict[str, FaultSite] = {}


def fault_site(name: str, doc: str, *, scope: str = "", knobs: Iterable[str] = (),
               dev_match: Callable[[str, Any], bool] | None = None) -> str:
    """Declare a fault site (at import time, beside the code that calls it); its name.

    Declaring the same site again with the same meaning is harmless (a module
    executed afresh per machine); a different one is a programming error.
    """
    if scope not in ("", "dev", "vnode"):
        raise ValueError(f"fault site {name}: scope must be '', 'dev' or 'vnode'")
    site = FaultSite(name, doc, scope, tuple(knobs), dev_match)
    old = FAULT_SITES.get(name)
    if old is not None and (old.scope, old.knobs) != (site.scope, site.knobs):
        raise ValueError(f"fault site {name} declared twice, differently")
    FAULT_SITES[name] = site
    return name


# The kernel services' sites (kern/).  vfs declares its own: the VOPs
# (vfs/vnode_if.py), vfs_suspend and fscow_establish (vfs/vfs_trans.py),
# VFS_SYNC (vfs/mount.py), the disk sites (vfs/subr_disk.py).
for _name, _doc in (
    ("kmem_alloc", "kmem_alloc(KM_NOSLEEP) returns NULL (KM_SLEEP never fails)"),
    ("kthread_create", "kthread_create fails with the errno, no thread started"),
    ("copyin", "copyin/copyin_vm fail (EFAULT's path) with the errno"),
    ("copyout", "copyout/copyout_vm fail with the errno"),
    ("copyinstr", "copyinstr fails with the errno"),
    ("copyoutstr", "copyoutstr fails with the errno"),
    ("ufetch", "ufetch_* fail with the errno"),
    ("ustore", "ustore_* fail with the errno"),
    ("fd_allocfile", "fd_allocfile fails with the errno (no descriptor, no file)"),
    ("devsw_attach", "devsw_attach fails with the errno"),
    ("module_load_vfs", "loading a module from the file system fails with the errno"),
    ("config_cfdriver_attach", "config_cfdriver_attach fails with the errno"),
    ("config_cfdriver_detach", "config_cfdriver_detach fails with the errno"),
    ("config_cfattach_attach", "config_cfattach_attach fails with the errno"),
    ("config_cfattach_detach", "config_cfattach_detach fails with the errno"),
    ("config_attach_pseudo", "config_attach_pseudo returns NULL"),
    ("pmf_device_register", "pmf_device_register returns false"),
):
    fault_site(_name, _doc)
del _name, _doc

_sites_loaded = False


def load_fault_sites() -> dict[str, FaultSite]:
    """The registry, complete: imports every module of the GENERIC configuration
    (their sites are declared when they are imported); user modules declare
    theirs when the user imports them."""
    global _sites_loaded
    if not _sites_loaded:
        _sites_loaded = True
        from kern.conf.GENERIC import config

        names = [h.partition(":")[0] for h in (*config.boot, *config.post_boot)]
        names += list(config.module_path.values())
        for mod in dict.fromkeys(names):
            importlib.import_module(mod)
    return FAULT_SITES


def _undeclared(site: str) -> None:
    from kern.exceptions import KernelPanic

    raise KernelPanic(f"panic: fault site {site!r} is used but not declared "
                      "(declare it with kern.subr_fault.fault_site)")


# ------------------------------------------------------------------ named devices

#: Functions naming devices: ``resolve(name)`` is the dev_t of the device node
#: /dev/<name> in the current machine, or None (the root file system adds one).
dev_resolvers: list[Callable[[str], int | None]] = []


def resolve_dev_name(name: str) -> int | None:
    for resolve in dev_resolvers:
        d = resolve(name)
        if d is not None:
            return d
    return None


def dev_name_matches(site: str, name: str, dev: Any) -> bool:
    """Whether the device (or vnode) ``dev`` a call of ``site`` is for is the
    device called ``name`` (/dev/<name>: its block or character twin)."""
    s = FAULT_SITES.get(site)
    if s is not None and s.dev_match is not None:
        return s.dev_match(name, dev)
    return isinstance(dev, int) and dev_is(name, dev)


def dev_is(name: str, dev: int) -> bool:
    """Whether dev_t ``dev`` is /dev/<name>, or that device's block/character twin."""
    from kern.subr_devsw import devsw_blk2chr, devsw_chr2blk

    d = resolve_dev_name(name)
    if d is None or dev is None or dev < 0:
        return False
    return dev == d or devsw_blk2chr(d) == dev or devsw_chr2blk(d) == dev


# ------------------------------------------------------------------ plans

class FaultPlanError(ValueError):
    """A fault plan (or a k.faults.add call) names what does not exist."""


class UnknownFaultSite(FaultPlanError):
    """A site nobody declared; the message lists the close matches and every known site."""

    def __init__(self, site: str) -> None:
        known = sorted(load_fault_sites(), key=lambda n: (n.startswith("VOP_"), n.lower()))
        close = difflib.get_close_matches(site, known, n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        super().__init__(f"unknown fault site {site!r}{hint}; known sites: "
                         + ", ".join(known))
        self.site = site
        self.close = close


# FaultSpec's knobs (besides the site and its own knobs, kept in extra)
_SPEC_FIELDS = ("site", "error", "nth", "fail_nth", "probability", "times", "space", "lwp",
                "dev", "seed")
_INT_KNOBS = ("nth", "fail_nth", "times", "space", "seed")
_ALIASES = {"prob": "probability"}
# the order of the text form
_TEXT_ORDER = ("dev", "lwp", "space", "nth", "fail_nth", "times", "probability", "error",
               "seed")
_TEXT_NAME = {"probability": "prob"}


def _site(site: str) -> FaultSite:
    s = FAULT_SITES.get(site)
    if s is None:
        s = load_fault_sites().get(site)
        if s is None:
            raise UnknownFaultSite(site)
    return s


def _unknown_knob(s: FaultSite, knob: str) -> FaultPlanError:
    own = f"its own: {', '.join(s.knobs)}; " if s.knobs else ""
    return FaultPlanError(f"{s.name}: unknown knob {knob!r} ({own}every site's: "
                          f"{', '.join(_TEXT_NAME.get(n, n) for n in _TEXT_ORDER)})")


def _errno_value(text: str) -> int:
    from kern.errno import _TABLE

    for name, num, _ in _TABLE:
        if name == text:
            return num
    try:
        n = int(text)
    except ValueError:
        raise FaultPlanError(f"unknown errno {text!r} (a name such as EIO, or a number)") \
            from None
    if n <= 0:
        raise FaultPlanError(f"error={text}: an errno is a positive number")
    return n


def _number(text: str) -> int | float | str:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


@dataclass(frozen=True)
class FaultSpec:
    """One fault: a site and its knobs, checked when made (the one validator of
    plans parsed from text and of faults armed from Python).

    Armed from Python, ``lwp`` may be the lwp itself and ``dev`` a dev_t or a
    vnode; the text form names them (:meth:`named`).
    """

    site: str
    error: int = EIO
    nth: int = 1
    fail_nth: int = 0
    probability: float = 1.0
    times: int = -1
    space: int = 0
    lwp: Any = None   # an lwp name, or an lwp
    dev: Any = None   # a device name (wd0), a dev_t, or a vnode
    seed: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        s = _site(self.site)
        bad = sorted(k for k, _ in self.extra if k not in s.knobs)
        if bad:
            raise FaultPlanError(f"{self.site}: unknown knob(s) {', '.join(bad)} in extra "
                                 f"(its own: {', '.join(s.knobs) or 'none'})")
        if self.dev is not None and not s.scope:
            raise FaultPlanError(f"{self.site}: this site has no device to scope by (no dev=)")
        if not 0.0 <= self.probability <= 1.0:
            raise FaultPlanError(f"{self.site}: prob must be between 0 and 1, "
                                 f"not {self.probability}")
        if self.nth < 1 or self.fail_nth < 0 or self.space < 0 or self.times < -1:
            raise FaultPlanError(f"{self.site}: nth must be >= 1; fail_nth and space >= 0; "
                                 "times >= -1")
        if self.error <= 0:
            raise FaultPlanError(f"{self.site}: error must be a positive errno")

    @classmethod
    def of(cls, site: str, **knobs: Any) -> FaultSpec:
        """From Python keywords: ``FaultSpec.of("disk.slow", dev="wd0", ticks=3)``.

        ``prob`` is ``probability``; the site's own knobs go to ``extra``
        (they may also come as ``extra={...}``); anything else is a
        :class:`FaultPlanError` naming the knobs there are.
        """
        s = _site(site)
        kw: dict[str, Any] = {}
        extra = dict(knobs.pop("extra", None) or {})
        for k, v in knobs.items():
            k = _ALIASES.get(k, k)
            if k in s.knobs:
                extra[k] = v
            elif k in _SPEC_FIELDS and k != "site":
                kw[k] = v
            else:
                raise _unknown_knob(s, k)
        return cls(site, extra=tuple(sorted(extra.items(), key=lambda kv: kv[0])), **kw)

    def knobs(self) -> dict[str, Any]:
        """FaultTable.add's keywords for this fault."""
        out: dict[str, Any] = {}
        for name in _TEXT_ORDER:
            v = getattr(self, name)
            if v != FaultSpec.__dataclass_fields__[name].default:
                out[name] = v
        if self.error != EIO:
            out["error"] = self.error
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    def __str__(self) -> str:
        parts = [self.site]
        for name in _TEXT_ORDER:
            v = getattr(self, name)
            if name == "error":
                parts.append(f"error={errorcode.get(v, v)}")
            elif v != FaultSpec.__dataclass_fields__[name].default:
                parts.append(f"{_TEXT_NAME.get(name, name)}={v}")
        parts += [f"{k}={v}" for k, v in self.extra]
        return ":".join(parts)

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``site:knob=value:...`` (see FaultPlan for the knobs)."""
        site, *items = text.strip().split(":")
        site = site.strip()
        if not site:
            raise FaultPlanError(f"{text!r}: a fault starts with its site")
        s = _site(site)
        kw: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for item in items:
            name, eq, value = item.partition("=")
            name = _ALIASES.get(name.strip(), name.strip())
            value = value.strip()
            if not eq or not value:
                raise FaultPlanError(f"{site}: {item!r} is not knob=value")
            if name in kw or name in extra:
                raise FaultPlanError(f"{site}: {name} given twice")
            if name in s.knobs:
                extra[name] = _number(value)
            elif name == "error":
                kw[name] = _errno_value(value)
            elif name == "probability":
                try:
                    kw[name] = float(value)
                except ValueError:
                    raise FaultPlanError(f"{site}: prob={value}: not a number") from None
            elif name in _INT_KNOBS:
                try:
                    kw[name] = int(value, 0)
                except ValueError:
                    raise FaultPlanError(f"{site}: {name}={value}: not an integer") from None
            elif name == "dev":
                v = _number(value)
                kw[name] = v if isinstance(v, int) else value
            elif name == "lwp":
                kw[name] = value
            else:
                raise _unknown_knob(s, name)
        return cls(site, extra=tuple(sorted(extra.items())), **kw)

    def named(self) -> FaultSpec:
        """This fault with an lwp or vnode shown by name (what the text form can say)."""
        lwp, dev = self.lwp, self.dev
        if lwp is not None and not isinstance(lwp, str):
            lwp = lwp.l_name
        if dev is not None and not isinstance(dev, (str, int)):
            dev = repr(dev)
        if (lwp, dev) == (self.lwp, self.dev):
            return self
        return dataclasses.replace(self, lwp=lwp, dev=dev)


@dataclass(frozen=True)
class FaultPlan:
    """Faults as data: a list of :class:`FaultSpec`, with a text form that parses back.

    Text: faults joined by ``,``; a fault is ``site`` then ``:knob=value``
    items.  Knobs: ``error`` (a name, EIO, or a number), ``nth``,
    ``fail_nth``, ``prob`` (0..1), ``times``, ``space``, ``lwp`` (an lwp
    name), ``dev`` (a device name such as ``wd0``, meaning /dev/wd0 and its
    raw twin; or a dev_t), ``seed`` (of the probability draws), and the
    site's own (``disk.slow:ticks=N``, ``disk.short:done=BYTES``).
    ``FaultPlan.parse(str(plan)) == plan``.
    """

    faults: tuple[FaultSpec, ...] = ()

    def __init__(self, faults: Iterable[FaultSpec | str] = ()) -> None:
        specs = tuple(f if isinstance(f, FaultSpec) else FaultSpec.parse(f) for f in faults)
        object.__setattr__(self, "faults", specs)

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        if isinstance(text, FaultPlan):
            return text
        return cls(FaultSpec.parse(t) for t in text.split(",") if t.strip())

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.faults)

    def __iter__(self) -> Iterator[FaultSpec]:
        return iter(self.faults)

    def __len__(self) -> int:
        return len(self.faults)

    def __bool__(self) -> bool:
        return bool(self.faults)

    def __add__(self, other: FaultPlan) -> FaultPlan:
        return FaultPlan(self.faults + FaultPlan.parse(other).faults)
