"""Device buffer queues, bufq(9).

Ports NetBSD's sys/kern/subr_bufq.c as of early 2018 (strategies registered
by modules, before bufq_alloc learnt to autoload them in 2019), the
definitions of sys/sys/bufq.h and sys/sys/bufq_impl.h, and the "disksort"
strategy of sys/kern/bufq_disksort.c.  Compared against ``$NetBSD:
subr_bufq.c,v 1.27 2019/02/17 bad$`` less its module_autoload retry loop
(1.21 of 2014, also stored, still had the static link set).  Notices in
LICENSE.NetBSD.

A strategy is a :class:`bufq_strat`; strategy modules register theirs with
``bufq_register`` on MODULE_CMD_INIT and remove it with ``bufq_unregister``
on FINI (EBUSY while a queue uses it).  ``bufq_alloc(strategy, flags)``
returns ``(error, bufq)`` -- C's ``struct bufq_state **`` out-parameter --
picking the named strategy, or, unless BUFQ_EXACT is given, the registered
one with the highest priority (ENOENT with BUFQ_EXACT).

"disksort" (priority 20, the one-way elevator) is built in here and
registered on every machine from the start, so a queue can always be had;
"fcfs" (priority 10) is the loadable module ``bufq_fcfs`` (vfs/bufq_fcfs.py).

NetBSD guards the strategy list with ``bufq_mutex``.  None of those critical
sections sleeps, and an emulated CPU only switches lwps when one sleeps or
takes a lock, so here they run without it and the functions are plain
``def``: drivers may call them from code that must not sleep.

Deviations:

* No bufq_mutex (above), and no module_autoload of "bufq_<name>" in
  ``bufq_alloc``: a strategy not registered falls back (or is ENOENT with
  BUFQ_EXACT) at once.
* The strategy list is per machine (MachineLocal), a Python list, not an
  SLIST; ``bufq_register`` of a strategy already on it does nothing (1.27
  would link it twice).  "disksort" is built in and on the list from the
  start (NetBSD builds bufq_disksort.c in or as a module); NetBSD's
  default "priocscan" does not exist here.
* ``bufq_alloc`` returns ``(error, bufq)``; a BUFQ_EXACT request without
  a name panics (1.27: KASSERT).
* ``bufq_strategies`` returns the names as a list (what
  sysctl_kern_bufq_strategies formats into kern.bufq.strategies).
* ``buf_inorder`` reads ``b_cylinder`` as 0 when a buf has none.
* disksort keeps its queue in a Python list instead of a TAILQ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kern.cpu import MachineLocal
from kern.errno import EBUSY, EIO, ENOENT
from kern.kern_types import sizeof
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import KASSERT, panic
from vfs.buf import buf

# Flags for bufq_alloc (sys/bufq.h)
BUFQ_SORT_RAWBLOCK = 0x0001  # sort by b_rawblkno
BUFQ_SORT_CYLINDER = 0x0002  # sort by b_cylinder, then b_rawblkno
BUFQ_SORT_MASK = 0x000f
BUFQ_EXACT = 0x0010  # fail with ENOENT if the named strategy is missing

BUFQ_STRAT_ANY: str | None = None  # let bufq_alloc choose
BUFQ_DISK_DEFAULT_STRAT = "priocscan"  # not provided in kemu: falls back to the best one

STRAT_MAX_NAME = 32


class bufq_state:
    """struct bufq_state: one queue, run by its strategy's functions."""

    __slots__ = ("bq_put", "bq_get", "bq_cancel", "bq_fini", "bq_private", "bq_flags",
                 "bq_strat")

    _c_sizeof = 56

    def __init__(self) -> None:
        self.bq_put: Callable[[bufq_state, buf], None] | None = None
        self.bq_get: Callable[[bufq_state, int], buf | None] | None = None
        self.bq_cancel: Callable[[bufq_state, buf], buf | None] | None = None
        self.bq_fini: Callable[[bufq_state], None] | None = None
        self.bq_private: Any = None
        self.bq_flags = 0
        self.bq_strat: bufq_strat | None = None

    def __repr__(self) -> str:
        name = self.bq_strat.bs_name if self.bq_strat is not None else "?"
        return f"<bufq_state {name} flags={self.bq_flags:#x}>"


class bufq_strat:
    """struct bufq_strat: a strategy's name, priority and queue constructor."""

    __slots__ = ("bs_name", "bs_initfn", "bs_prio", "bs_refcnt")

    def __init__(self, bs_name: str, bs_initfn: Callable[[bufq_state], None],
                 bs_prio: int) -> None:
        self.bs_name = bs_name
        self.bs_initfn = bs_initfn
        self.bs_prio = bs_prio
        self.bs_refcnt = 0

    def __repr__(self) -> str:
        return f"<bufq_strat {self.bs_name} prio {self.bs_prio} refs {self.bs_refcnt}>"


def BUFQ_DEFINE(name: str, prio: int, initfn: Callable[[bufq_state], None]) -> bufq_strat:
    """``bufq_strat_<name>``: the strategy record a strategy module registers."""
    return bufq_strat(name, initfn, prio)


def bufq_private(bufq: bufq_state) -> Any:
    return bufq.bq_private


def buf_inorder(bp: buf, bq: buf, sortby: int) -> bool:
    """Whether ``bp`` comes before ``bq`` in the queue's sort order."""
    KASSERT(bp is not None)
    KASSERT(bq is not None)
    if sortby == BUFQ_SORT_CYLINDER:
        bc = getattr(bp, "b_cylinder", 0)
        qc = getattr(bq, "b_cylinder", 0)
        if bc != qc:
            return bc < qc
        return bp.b_rawblkno < bq.b_rawblkno
    return bp.b_rawblkno < bq.b_rawblkno


# --------------------------------------------------------- the registry

class _BufqGlobals:
    """bufq_strat_list of one machine (bufq_init), with the built-in strategies."""

    def __init__(self) -> None:
        self.bufq_strat_list: list[bufq_strat] = []
        # disksort is linked into every kemu kernel, so bufq_alloc always has
        # a strategy to fall back to.
        self.bufq_strat_disksort = BUFQ_DEFINE("disksort", 20, bufq_disksort_init)
        self.bufq_strat_list.insert(0, self.bufq_strat_disksort)


_bufq = MachineLocal(_BufqGlobals, "bufq strategies")


def bufq_init(machine: Any = None) -> None:
    """Boot hook: set up this machine's strategy list (it is otherwise made on first use)."""
    if machine is not None:
        _bufq.of(machine)
    else:
        _bufq()


def bufq_register(bs: bufq_strat) -> int:
    """Make strategy ``bs`` available (a strategy module's INIT)."""
    g = _bufq()
    if bs in g.bufq_strat_list:
        return 0
    g.bufq_strat_list.insert(0, bs)
    bs.bs_refcnt = 0
    return 0


def bufq_unregister(bs: bufq_strat) -> int:
    """Withdraw strategy ``bs``; EBUSY while some queue uses it (a module's FINI)."""
    g = _bufq()
    if bs.bs_refcnt != 0:
        return EBUSY
    if bs in g.bufq_strat_list:
        g.bufq_strat_list.remove(bs)
    return 0


def bufq_strategies() -> list[str]:
    """The names of the registered strategies (sysctl kern.bufq.strategies)."""
    return [bs.bs_name for bs in _bufq().bufq_strat_list]


def bufq_alloc(strategy: str | None, flags: int) -> tuple[int, bufq_state | None]:
    """Create a queue using ``strategy``: ``(error, bufq)``.

    A missing strategy falls back to the registered one with the highest
    priority, or fails with ENOENT if ``flags`` has BUFQ_EXACT.
    """
    if (flags & BUFQ_EXACT) and strategy is BUFQ_STRAT_ANY:
        panic("bufq_alloc: BUFQ_EXACT without a strategy name")

    sort = flags & BUFQ_SORT_MASK
    if sort in (BUFQ_SORT_RAWBLOCK, BUFQ_SORT_CYLINDER):
        pass
    elif sort == 0:
        # For strategies that do not care about block numbers, e.g. fcfs.
        flags |= BUFQ_SORT_RAWBLOCK
    else:
        panic("bufq_alloc: sort out of range")

    # The named strategy if registered, otherwise the one with the highest
    # priority.
    g = _bufq()
    bsp = None
    found_exact = False
    for it in g.bufq_strat_list:
        if strategy is not BUFQ_STRAT_ANY and it.bs_name == strategy:
            bsp = it
            found_exact = True
            break
        if bsp is None or it.bs_prio > bsp.bs_prio:
            bsp = it

    if bsp is None:
        panic("bufq_alloc: no strategy")
    if strategy is not BUFQ_STRAT_ANY and not found_exact:
        if flags & BUFQ_EXACT:
            return ENOENT, None

    bsp.bs_refcnt += 1
    bufq = kmem_zalloc(sizeof(bufq_state), KM_SLEEP)
    bufq.bq_flags = flags
    bufq.bq_strat = bsp
    bsp.bs_initfn(bufq)
    return 0, bufq


def bufq_put(bufq: bufq_state, bp: buf) -> None:
    """Queue ``bp``."""
    bufq.bq_put(bufq, bp)  # type: ignore[misc]


def bufq_get(bufq: bufq_state) -> buf | None:
    """Take the next buf off the queue (None if it is empty)."""
    return bufq.bq_get(bufq, 1)  # type: ignore[misc]


def bufq_peek(bufq: bufq_state) -> buf | None:
    """The next buf, left on the queue (None if it is empty)."""
    return bufq.bq_get(bufq, 0)  # type: ignore[misc]


def bufq_cancel(bufq: bufq_state, bp: buf) -> buf | None:
    """Take ``bp`` off the queue; returns it, or None if it was not queued."""
    return bufq.bq_cancel(bufq, bp)  # type: ignore[misc]


def bufq_drain(bufq: bufq_state) -> None:
    """Fail every queued buf with EIO (nothing transferred) and complete it."""
    from vfs.vfs_bio import biodone

    while (bp := bufq_get(bufq)) is not None:
        bp.b_error = EIO
        bp.b_resid = bp.b_bcount
        biodone(bp)


def bufq_free(bufq: bufq_state) -> None:
    """Destroy an empty queue."""
    KASSERT(bufq_peek(bufq) is None)
    bufq.bq_fini(bufq)  # type: ignore[misc]
    assert bufq.bq_strat is not None
    bufq.bq_strat.bs_refcnt -= 1
    kmem_free(bufq, sizeof(bufq_state))


def bufq_getstrategyname(bufq: bufq_state) -> str:
    """The name of the strategy running ``bufq``."""
    assert bufq.bq_strat is not None
    return bufq.bq_strat.bs_name


def bufq_move(dst: bufq_state, src: bufq_state) -> None:
    """Move every request of ``src`` to ``dst``."""
    while (bp := bufq_get(src)) is not None:
        bufq_put(dst, bp)


# ------------------------------------------------------------- disksort
#
# A one-way elevator.  The queue holds two ascending runs: first the
# requests at or after the current head position, then those that arrived
# after their position had been passed.  When the first run is used up the
# head sweeps back to the start of the second, which becomes the first.

class bufq_disksort:
    __slots__ = ("bq_head",)

    _c_sizeof = 16

    def __init__(self) -> None:
        self.bq_head: list[buf] = []


def bufq_disksort_put(bufq: bufq_state, bp: buf) -> None:
    disksort = bufq_private(bufq)
    q = disksort.bq_head
    sortby = bufq.bq_flags & BUFQ_SORT_MASK

    # An empty queue is easy.
    if not q:
        q.append(bp)
        return

    # Requests before the active one go into the second run.
    i = 0
    if buf_inorder(bp, q[0], sortby):
        while i + 1 < len(q):
            # An inversion marks where the second run starts.
            if buf_inorder(q[i + 1], q[i], sortby):
                i += 1
                while True:
                    if buf_inorder(bp, q[i], sortby):
                        q.insert(i, bp)  # before the first larger one
                        return
                    if i + 1 == len(q):
                        q.append(bp)  # at the very end
                        return
                    i += 1
            i += 1
        # No second run yet: start one at the end.
        q.append(bp)
        return

    # At or after the active request: sort it into the first run.
    while i + 1 < len(q):
        if buf_inorder(q[i + 1], q[i], sortby) or buf_inorder(bp, q[i + 1], sortby):
            break
        i += 1
    q.insert(i + 1, bp)


def bufq_disksort_get(bufq: bufq_state, remove: int) -> buf | None:
    q = bufq_private(bufq).bq_head
    if not q:
        return None
    return q.pop(0) if remove else q[0]


def bufq_disksort_cancel(bufq: bufq_state, bp: buf) -> buf | None:
    q = bufq_private(bufq).bq_head
    for i, bq in enumerate(q):
        if bq is bp:
            del q[i]
            return bp
    return None


def bufq_disksort_fini(bufq: bufq_state) -> None:
    KASSERT(bufq.bq_private is not None)
    kmem_free(bufq.bq_private, sizeof(bufq_disksort))


def bufq_disksort_init(bufq: bufq_state) -> None:
    disksort = kmem_zalloc(sizeof(bufq_disksort), KM_SLEEP)
    bufq.bq_private = disksort
    bufq.bq_get = bufq_disksort_get
    bufq.bq_put = bufq_disksort_put
    bufq.bq_cancel = bufq_disksort_cancel
    bufq.bq_fini = bufq_disksort_fini
    disksort.bq_head = []
