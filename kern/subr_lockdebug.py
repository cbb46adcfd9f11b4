"""Lock debugging: who holds what, sleeping rules, and a lock-order graph.

NetBSD's LOCKDEBUG checks ownership and "sleeping with a spin lock held";
FreeBSD's WITNESS and Linux's lockdep keep a graph of the order in which
lock classes are taken and complain at the first acquisition that closes a
cycle, even when this run did not deadlock.  We do both.

A lock's class is where it was initialised (file and line of its
``mutex_init``/``rw_init``), so every ``sc_slock`` of every fss unit is one
class.  Its printable name is the expression passed to the init call,
recovered from the source line (``sc.sc_slock``).  Taking two locks of the
same class (two vnode locks, say) adds no edge.  Try-locks add no edges:
they cannot wait, so they cannot deadlock.

A faithful port keeps the defects of the C it ports, lock-order reversals
among them.  ``lockdebug_kept_reversal(first, second, why)`` declares one
(by the two lock names): when an acquisition closes a cycle made of that
pair, the reversal is not fatal; it is recorded once per machine
(``lockdebug_reversals()``, with both acquisition sites and the reason) and
printed on the console, as WITNESS reports a reversal and goes on.  Any
other reversal still ends the run, and so does a kept one on a machine
booted with ``lockdebug="strict"`` (an explorer looking for the schedules
that bring a kept reversal about).

Not a port: kemu's own design.  From NetBSD it takes the names of the hooks
the lock primitives call (``lockdebug_wantlock`` and ``lockdebug_unlocked``
of sys/kern/subr_lockdebug.c) and ASSERT_SLEEPABLE
(sys/systm.h); the order graph is after FreeBSD's WITNESS and Linux's
lockdep.  Where it differs from NetBSD's LOCKDEBUG:

* Locks are grouped in classes by init site and the graph of the order
  classes are taken in is kept per machine; closing a cycle raises
  LockOrderReversal (NetBSD's LOCKDEBUG keeps no order graph).
* Held locks are the lwp's ``l_locks`` records, not lockdebug_t entries
  found through an rb-tree; whether a lock is initialised is its own
  state, which the primitive passes to lockdebug_alloc (nothing is
  allocated).  There is no lockdebug_barrier, lockdebug_mem_check or
  lockdebug_abort; misuse other than lockdebug_alloc's "already
  initialized" is reported by the primitives' own panics.
* The primitives append a lock's record themselves once they hold it
  (NetBSD's lockdebug_locked), and remove it themselves when it is the
  last one taken or the one under it (lockdebug_unlocked does the rest).
* ASSERT_SLEEPABLE checks only that no spin mutex is held (NetBSD's
  also asserts not being in interrupt or with pserialize read sections).
"""

from __future__ import annotations

import linecache
import os
import sys
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp_or_none, curmachine_or_none
from kern.exceptions import LockOrderReversal

if TYPE_CHECKING:
    from types import CodeType, FrameType

    from kern.kern_lwp import lwp

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def short_path(path: str) -> str:
    return path[len(_ROOT):] if path.startswith(_ROOT) else path


Site = tuple[str, int, str]  # file, line, function


def frame_site(f: FrameType) -> Site:
    return (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def site_str(site: Site | None) -> str:
    if site is None:
        return "?"
    return f"{short_path(site[0])}:{site[1]} in {site[2]}"


# Where a lock was taken, as recorded on every acquisition: the caller's code
# object and the offset of its call instruction (``frame.f_lasti``), or None
# without lockdebug.  Making it costs two attribute reads and a pair;
# ``site_of`` turns it into a Site (file, line, function) only when a report,
# a lock-order edge's message or the race detector shows it.  The line is the
# one ``frame.f_lineno`` gave at the call: both come from the code's line
# table at that offset (co_lines(), as PyCode_Addr2Line reads it).
Where = tuple["CodeType", int]


def site_of(where: Where | None) -> Site | None:
    """The (file, line, function) of an acquisition point, or None."""
    if where is None:
        return None
    code, lasti = where
    line = None
    for start, end, ln in code.co_lines():
        if start <= lasti < end:
            line = ln
            break
    return (code.co_filename, line, code.co_name)  # type: ignore[return-value]


_getframe = sys._getframe


def caller_where(depth: int) -> Where:
    """Where the caller ``depth`` frames above the caller of this function is (a Where)."""
    f = _getframe(depth + 1)
    return (f.f_code, f.f_lasti)


class lock_site:
    """kemu: the site of one lock call, looked up once.

    The site lockdebug records for an acquisition (and a lock class, for an
    init) is the caller's code and call instruction, which never change for
    a given call.  Looking it up with ``sys._getframe`` makes a frame
    object for a frame that has none: about 1,300 instructions, at every
    call of a function whose frame is new (most callers: a seed of the fss
    sweep made ~1,950 of them).  A hot caller keeps one ``lock_site`` at
    module level for its call and passes it as ``at`` (mutex_init,
    mutex_enter, mutex_enter_nowait, mutex_tryenter, rw_init, rw_enter,
    rw_tryenter): the first call that needs the site looks the frame up,
    the later ones reuse what it found, which is what the look-up would
    give (a kernel module's file, executed afresh for each machine, has its
    own lock_sites there).  One lock_site serves exactly one call (the same code and
    instruction): shared by two calls, it would name the first one's line
    for both (tests/kern/test_lock_site.py checks every lock_site of the
    tree is given at one call only, and that each record names a call in
    progress).
    """

    __slots__ = ("where",)

    def __init__(self) -> None:
        self.where: Where | None = None

    def lookup(self, depth: int) -> Where:
        """The site of the call ``depth`` frames above the caller of this
        method (1: its caller's caller), kept for the later calls."""
        w = self.where = caller_where(depth + 1)
        return w


def where_str(where: Where | None) -> str:
    return site_str(site_of(where))


def first_arg_text(file: str, lineno: int, fname: str) -> str:
    """The first argument of the ``fname(...)`` call on that source line, as written.

    Empty if the line has no such call (lock names, KASSERT messages).
    """
    line = linecache.getline(file, lineno)
    i = line.find(fname + "(")
    if i < 0:
        return ""
    depth = 0
    out = []
    for ch in line[i + len(fname) + 1:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            break
        out.append(ch)
    return "".join(out).strip()


class LockClass:
    __slots__ = ("key", "name", "kind", "site")

    def __init__(self, key: Any, name: str, kind: str, site: Site) -> None:
        self.key = key
        self.name = name
        self.kind = kind
        self.site = site

    def __repr__(self) -> str:
        return f"<LockClass {self.kind} {self.name!r} init at {site_str(self.site)}>"


_classes: dict[tuple[str, int, str], LockClass] = {}


def _init_arg_text(site: Site, fname: str) -> str:
    """The lock's name: the first argument of the ``fname(...)`` call on the init line."""
    if fname.endswith("_alloc"):
        # x = mutex_obj_alloc(...): the lock is named after what it is assigned to
        line = linecache.getline(site[0], site[1])
        i = line.find(fname + "(")
        lhs = line[:i].rstrip().rstrip("=").strip() if i > 0 else ""
        if lhs:
            return lhs
    return first_arg_text(site[0], site[1], fname) or \
        f"{fname}@{os.path.basename(site[0])}:{site[1]}"


def lock_class_for(site: Site, initfn: str, kind: str) -> LockClass:
    key = (site[0], site[1], kind)
    c = _classes.get(key)
    if c is None:
        c = _classes[key] = LockClass(key, _init_arg_text(site, initfn), kind, site)
    return c


# The same classes by the init call as a place in code: (file, the code's
# first line and line table, the call's instruction offset, kind).  Working
# a frame's line out (``f_lineno`` walks the code's line table) costs
# microseconds in a long function, at every init; this key finds the class
# without it after the first init at that call.  The first line, the line
# table and the offset fix the call's line, and the class is the one of
# (file, line, kind), so the key gives the class lock_class_for would:
# two codes with one file, first line and name (comprehensions or lambdas
# begun on one line, a file edited between two loads) whose calls are on
# different lines get different keys.  (Not keyed by the code object
# itself: it would keep alive code that a machine loaded afresh; the line
# table is a bytes object, its hash kept once worked out.)
_classes_at: dict[tuple[str, int, bytes, int, str], LockClass] = {}


def lock_class_at(where: Where, initfn: str, kind: str) -> LockClass:
    """lock_class_for the ``initfn`` call at ``where`` (the init's caller's code and call
    instruction)."""
    code, lasti = where
    key = (code.co_filename, code.co_firstlineno, code.co_linetable, lasti, kind)
    c = _classes_at.get(key)
    if c is None:
        c = _classes_at[key] = lock_class_for(site_of(where), initfn, kind)  # type: ignore[arg-type]
    return c


# One held lock of an lwp, an entry of ``l.l_locks``: the plain tuple
# ``(lock, where, shared, chain)``: the lock, where it was taken (a Where,
# None without lockdebug), whether it is held shared, and the lock chain of
# the held locks up to this one (a _Chain, or None: lockdebug off, or not
# worked out yet).  One is made for every lock taken, so it is a tuple and
# nothing more; a downgrade or upgrade of an rwlock replaces it.  Readers
# index it: [0] the lock, [1] where, [2] shared, [3] the chain.
LockRecord = tuple  # (lock, Where | None, bool, _Chain | None)


def lock_name(lock: Any) -> str:
    """A lock's printable name: its class's (where it was initialised)."""
    c = lock.lock_class
    return c.name if c is not None else repr(lock)


class _Chain:
    """A lock chain (lockdep's name): the classes of the locks an lwp holds, in
    the order it took them, as a node of its machine's trie of such sequences.

    The order check of taking a lock of class ``c`` with this chain held
    only looks at the classes held and at the order graph, which only grows:
    once it passed (it added or found the edge from every held class to
    ``c``), doing it again finds every edge there and does nothing.  So
    ``ok`` remembers the classes it passed for, as Linux's lockdep remembers
    the chains it validated, and an acquisition whose (chain, class) is in
    it skips the check: the same edges, reversals and reports, without
    walking the held locks again.
    """

    __slots__ = ("nxt", "ok")

    def __init__(self) -> None:
        # the chains one lock longer, by the class of that lock
        self.nxt: dict[LockClass, _Chain] = {}
        # those of nxt whose order check passed
        self.ok: dict[LockClass, _Chain] = {}

    def child(self, c: LockClass) -> _Chain:
        n = self.nxt.get(c)
        if n is None:
            n = self.nxt[c] = _Chain()
        return n


class _Witness:
    def __init__(self) -> None:
        # edges[a][b] = (where a was taken, where b was taken)
        self.edges: dict[LockClass, dict[LockClass, tuple[Where | None, Where]]] = {}
        self.reversals: list[str] = []
        self.chains = _Chain()  # the empty chain: the root of the trie


_witness = MachineLocal(_Witness, "lock order graph")

# Reversals kept on purpose: frozenset of the two lock names -> why.
_kept: dict[frozenset[str], str] = {}


def lockdebug_kept_reversal(first: str, second: str, why: str) -> None:
    """Declare that locks named ``first`` and ``second`` are taken in both orders
    on purpose (a kept defect of a ported file; ``why`` names it)."""
    _kept[frozenset((first, second))] = why


def lockdebug_reversals() -> list[str]:
    """The kept lock-order reversals this machine ran into, as reports."""
    m = curmachine_or_none()
    return [] if m is None else list(_witness.of(m).reversals)


def _path(w: _Witness, src: LockClass, dst: LockClass) -> list[LockClass] | None:
    """A path src -> ... -> dst in the order graph, or None."""
    stack = [(src, [src])]
    seen = {src}
    while stack:
        node, path = stack.pop()
        for nxt in w.edges.get(node, ()):
            if nxt is dst:
                return path + [nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def lockdebug_wantlock(l: lwp, lock: Any, site: Where) -> _Chain | None:
    """Before blocking on ``lock``: add order edges from every held lock; report cycles.

    Returns the lock chain ``lock`` makes on top of the held ones (for its
    record in ``l.l_locks``), or None when there is none to keep (lockdebug
    off, no lock held).  The hot paths (mutex_enter, mutex_enter_nowait)
    look the chain up in the top record's ``ok`` themselves and call this
    only when it is not there.
    """
    ci = l.l_cpu
    locks = l.l_locks
    if not ci.lockdebug or not locks:
        return None
    newc = lock.lock_class
    chain = locks[-1][3]
    if chain is not None:
        nxt = chain.ok.get(newc)
        if nxt is not None:
            return nxt  # (passed before with the same locks held)
    m = ci.m
    w = m.locals.get(_witness)
    if w is None:
        w = _witness.of(m)
    if chain is None:
        if len(locks) == 1:
            # (the usual case: one lock held, taken with none held, so
            # without its chain: the empty chain's child, made here)
            rec = locks[0]
            held = rec[0].lock_class
            chain = w.chains.nxt.get(held)
            if chain is None:
                chain = w.chains.child(held)
            locks[0] = (rec[0], rec[1], rec[2], chain)
        else:
            chain = _chain_of(w, locks)
        nxt = chain.ok.get(newc)
        if nxt is not None:
            return nxt
    edges = w.edges
    for rec in locks:
        held = rec[0].lock_class
        if held is newc:
            continue
        succ = edges.get(held)
        if succ is None:
            succ = edges[held] = {}
        elif newc in succ:
            continue  # (the usual case: an order seen before)
        back = _path(w, newc, held)
        if back is not None:
            msg = _lor_message(w, rec, held, newc, site, back, l)
            why = _kept.get(frozenset((held.name, newc.name))) if len(back) == 2 else None
            if why is None:
                raise LockOrderReversal(msg)
            if m.lockdebug == "strict":
                raise LockOrderReversal(f"{msg}\n  declared kept ({why}), fatal under "
                                        'lockdebug="strict"')
            report = f"{msg}\n  kept on purpose: {why}"
            w.reversals.append(report)
            from kern.subr_prf import printf

            printf("%s\n", report)
        succ[newc] = (rec[1], site)
    nxt = chain.ok[newc] = chain.child(newc)
    return nxt


def _chain_of(w: _Witness, locks: list[LockRecord]) -> _Chain:
    """The chain of the held locks ``locks``, filled into the records that lack it.

    The records without a chain are always the top ones (a lock taken with
    none held or by a try-lock gets none, and a release out of order clears
    the chains above it), so the ones below keep theirs and the walk starts
    from the highest record that has one.
    """
    i = len(locks)
    while i and locks[i - 1][3] is None:
        i -= 1
    chain = locks[i - 1][3] if i else w.chains
    for j in range(i, len(locks)):
        rec = locks[j]
        chain = chain.child(rec[0].lock_class)
        locks[j] = (rec[0], rec[1], rec[2], chain)
    return chain


def _lor_message(w: _Witness, rec: LockRecord, held: LockClass, newc: LockClass, site: Where,
                 back: list[LockClass], l: lwp) -> str:
    lines = [
        f"lock order reversal in lwp {l.l_name!r}:",
        f'  1st "{held.name}" ({held.kind}) taken at {where_str(rec[1])}',
        f'  2nd "{newc.name}" ({newc.kind}) wanted at {where_str(site)}',
        "  but the opposite order was seen before:",
    ]
    for a, b in zip(back, back[1:], strict=False):
        sa, sb = w.edges[a][b]
        lines.append(f'    "{a.name}" taken at {where_str(sa)}, then')
        lines.append(f'    "{b.name}" taken at {where_str(sb)}')
    return "\n".join(lines)


def lockdebug_alloc(lock: Any, lo_name: str | None, live: bool) -> None:
    """A lock is being initialised (NetBSD's lockdebug_alloc).  ``lo_name``
    is its lockops' name (None for a MUTEX_NODEBUG mutex, which NetBSD
    gives no lockops and so no check); ``live`` says whether it was
    initialised and not destroyed since.  With lockdebug on, initialising a
    live lock again (held or not) panics "already initialized", as
    NetBSD's does when the lock's address already has a debug record."""
    if not live or lo_name is None:
        return
    m = curmachine_or_none()
    if m is None or not m.lockdebug:
        return
    from kern.subr_prf import panic

    panic("LOCKDEBUG: %s error: lockdebug_alloc: already initialized: %s", lo_name,
          lock_name(lock))


def lockdebug_unlocked(l: lwp, lock: Any) -> None:
    """A lock released out of order: its record goes, and the chains of the
    records above it, which counted it, are worked out again when needed."""
    locks = l.l_locks
    for i in range(len(locks) - 1, -1, -1):
        if locks[i][0] is lock:
            del locks[i]
            for j in range(i, len(locks)):
                r = locks[j]
                if r[3] is not None:
                    locks[j] = (r[0], r[1], r[2], None)
            return


def ASSERT_SLEEPABLE() -> None:
    """Panic if the current lwp may not sleep (it holds a spin mutex)."""
    l = curlwp_or_none()  # (the ContextVar's bound get: many hot paths assert this)
    if l is not None and l.l_spinlocks:
        from kern.subr_prf import panic

        held = ", ".join(lock_name(r[0]) for r in l.l_locks if getattr(r[0], "mtx_spin", False))
        panic("ASSERT_SLEEPABLE failed: lwp %s holds spin lock(s) %s", l.l_name, held)


def order_edges() -> list[tuple[str, str]]:
    """The lock-order graph of the current machine, as (first, second) class names."""
    m = curmachine_or_none()
    if m is None:
        return []
    w = _witness.of(m)
    return sorted((a.name, b.name) for a, succ in w.edges.items() for b in succ)
