"""Tail queues (the TAILQ_* part of NetBSD's sys/sys/queue.h).

Revision: the queue.h text at hand is 1.8 (1994); its TAILQ operations are the
ones later revisions keep (they add macros and QUEUEDEBUG checks, not other
semantics).  kemu's are written from those macros; of QUEUEDEBUG's checks,
TAILQ_REMOVE's (below).

Most ports keep a C list as a Python list.  A tail queue is kept as one here
where the C code walks it with a *marker*: a dummy element it parks after the
element it is working on, so that it can drop the list's lock, sleep, and
carry on from the marker however the list changed meanwhile
(``TAILQ_INSERT_AFTER`` of the marker, ``TAILQ_NEXT`` from it).  Every
operation is O(1).

An element carries its links in the attribute named by ``field``, a
:class:`TAILQ_ENTRY` (C's ``TAILQ_ENTRY(type) field`` member); the macros take
that attribute's name where C takes the member name::

    head = TAILQ_HEAD()
    TAILQ_INSERT_TAIL(head, vp, "vi_lrulist")
    nxt = TAILQ_NEXT(vp, "vi_lrulist")

In C ``tqe_prev`` points at the previous element's next pointer; here it is
the previous element itself (None for the first one).  ``TAILQ_REMOVE``
makes QUEUEDEBUG's checks (a kernel built with options QUEUEDEBUG): an
element whose neighbours or head do not link back to it, such as one
removed through another list's head, panics instead of corrupting both
lists.

kemu's own implementation of those macros' semantics.  Deviations:

* ``tqe_prev`` holds the previous element (None for the first), not the
  address of its next pointer, and the head keeps its first and last
  element the same way; the macros name the link field as a string.
* QUEUEDEBUG's TAILQ_REMOVE checks are always on and panic; the other
  QUEUEDEBUG checks (on insert) are not made.
* Only the TAILQ part of queue.h is here (no LIST, SLIST, SIMPLEQ,
  STAILQ); macros kemu does not use are left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


class TAILQ_ENTRY:
    """The links of one element (its ``field`` attribute)."""

    __slots__ = ("tqe_next", "tqe_prev")

    def __init__(self) -> None:
        self.tqe_next: Any = None
        self.tqe_prev: Any = None


class TAILQ_HEAD:
    """A list head: its first and last element (None when empty)."""

    __slots__ = ("tqh_first", "tqh_last")

    def __init__(self) -> None:
        self.tqh_first: Any = None
        self.tqh_last: Any = None


def _entry(elm: Any, field: str) -> TAILQ_ENTRY:
    return getattr(elm, field)


def _queue_panic(what: str, head: TAILQ_HEAD, elm: Any) -> None:
    from kern.subr_prf import panic

    panic("%s head %r elm %r", what, head, elm)


def TAILQ_INIT(head: TAILQ_HEAD) -> None:
    head.tqh_first = None
    head.tqh_last = None


def TAILQ_EMPTY(head: TAILQ_HEAD) -> bool:
    return head.tqh_first is None


def TAILQ_FIRST(head: TAILQ_HEAD) -> Any:
    return head.tqh_first


def TAILQ_LAST(head: TAILQ_HEAD) -> Any:
    return head.tqh_last


def TAILQ_NEXT(elm: Any, field: str) -> Any:
    return _entry(elm, field).tqe_next


def TAILQ_PREV(elm: Any, field: str) -> Any:
    return _entry(elm, field).tqe_prev


def TAILQ_INSERT_HEAD(head: TAILQ_HEAD, elm: Any, field: str) -> None:
    e = _entry(elm, field)
    first = head.tqh_first
    e.tqe_next = first
    e.tqe_prev = None
    if first is not None:
        _entry(first, field).tqe_prev = elm
    else:
        head.tqh_last = elm
    head.tqh_first = elm


def TAILQ_INSERT_TAIL(head: TAILQ_HEAD, elm: Any, field: str) -> None:
    e = _entry(elm, field)
    last = head.tqh_last
    e.tqe_next = None
    e.tqe_prev = last
    if last is not None:
        _entry(last, field).tqe_next = elm
    else:
        head.tqh_first = elm
    head.tqh_last = elm


def TAILQ_INSERT_AFTER(head: TAILQ_HEAD, listelm: Any, elm: Any, field: str) -> None:
    le = _entry(listelm, field)
    e = _entry(elm, field)
    nxt = le.tqe_next
    e.tqe_next = nxt
    e.tqe_prev = listelm
    if nxt is not None:
        _entry(nxt, field).tqe_prev = elm
    else:
        head.tqh_last = elm
    le.tqe_next = elm


def TAILQ_REMOVE(head: TAILQ_HEAD, elm: Any, field: str) -> None:
    e = _entry(elm, field)
    nxt, prv = e.tqe_next, e.tqe_prev
    # QUEUEDEBUG's checks (QUEUEDEBUG_TAILQ_PREREMOVE, QUEUEDEBUG_TAILQ_OP):
    # the element is linked where it says, and on this head.
    if (head.tqh_last is not elm) if nxt is None else (_entry(nxt, field).tqe_prev is not elm):
        _queue_panic("TAILQ_REMOVE forw", head, elm)
    if (head.tqh_first is not elm) if prv is None else (_entry(prv, field).tqe_next is not elm):
        _queue_panic("TAILQ_REMOVE back", head, elm)
    if nxt is not None:
        _entry(nxt, field).tqe_prev = prv
    else:
        head.tqh_last = prv
    if prv is not None:
        _entry(prv, field).tqe_next = nxt
    else:
        head.tqh_first = nxt
    e.tqe_next = None
    e.tqe_prev = None


def TAILQ_FOREACH(head: TAILQ_HEAD, field: str) -> Iterator[Any]:
    """The elements in order (the loop body must not remove the current one)."""
    elm = head.tqh_first
    while elm is not None:
        yield elm
        elm = _entry(elm, field).tqe_next
