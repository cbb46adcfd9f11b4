"""Tail queues (kern/queue.py, sys/queue.h TAILQ_*)."""

from __future__ import annotations

from kern.queue import (
    TAILQ_EMPTY,
    TAILQ_ENTRY,
    TAILQ_FIRST,
    TAILQ_FOREACH,
    TAILQ_HEAD,
    TAILQ_INSERT_AFTER,
    TAILQ_INSERT_HEAD,
    TAILQ_INSERT_TAIL,
    TAILQ_LAST,
    TAILQ_NEXT,
    TAILQ_PREV,
    TAILQ_REMOVE,
)


class Elm:
    def __init__(self, name: str) -> None:
        self.name = name
        self.link = TAILQ_ENTRY()


def names(head: TAILQ_HEAD) -> list[str]:
    return [e.name for e in TAILQ_FOREACH(head, "link")]


def backwards(head: TAILQ_HEAD) -> list[str]:
    out, e = [], TAILQ_LAST(head)
    while e is not None:
        out.append(e.name)
        e = TAILQ_PREV(e, "link")
    return out


def test_inserts_and_removes_keep_both_directions():
    head = TAILQ_HEAD()
    assert TAILQ_EMPTY(head) and TAILQ_FIRST(head) is None
    a, b, c, d = (Elm(n) for n in "abcd")
    TAILQ_INSERT_TAIL(head, b, "link")
    TAILQ_INSERT_HEAD(head, a, "link")
    TAILQ_INSERT_TAIL(head, d, "link")
    TAILQ_INSERT_AFTER(head, b, c, "link")
    assert names(head) == ["a", "b", "c", "d"] and backwards(head) == ["d", "c", "b", "a"]
    TAILQ_REMOVE(head, a, "link")   # the first
    TAILQ_REMOVE(head, d, "link")   # the last
    assert names(head) == ["b", "c"] and backwards(head) == ["c", "b"]
    TAILQ_INSERT_AFTER(head, c, d, "link")  # after the last: the new tail
    assert TAILQ_LAST(head) is d and TAILQ_NEXT(d, "link") is None
    for e in (b, c, d):
        TAILQ_REMOVE(head, e, "link")
    assert TAILQ_EMPTY(head) and TAILQ_LAST(head) is None


def test_a_marker_walk_survives_removal_of_the_element_it_passed():
    """The vdrain pattern: park a marker after the current element, let the
    element go elsewhere, carry on from the marker."""
    head, other = TAILQ_HEAD(), TAILQ_HEAD()
    elms = [Elm(n) for n in "xyz"]
    for e in elms:
        TAILQ_INSERT_TAIL(head, e, "link")
    marker = Elm("marker")
    TAILQ_INSERT_HEAD(head, marker, "link")
    seen = []
    while (e := TAILQ_NEXT(marker, "link")) is not None:
        TAILQ_REMOVE(head, marker, "link")
        TAILQ_INSERT_AFTER(head, e, marker, "link")
        seen.append(e.name)
        TAILQ_REMOVE(head, e, "link")
        TAILQ_INSERT_TAIL(other, e, "link")
    TAILQ_REMOVE(head, marker, "link")
    assert seen == ["x", "y", "z"]
    assert TAILQ_EMPTY(head) and names(other) == ["x", "y", "z"]


def test_remove_through_the_wrong_head_panics_and_changes_nothing():
    """QUEUEDEBUG: an element removed through a head it is not on (here the
    only element of another list) panics; without the check it emptied the
    wrong list and left its own pointing at it."""
    import pytest

    import kern

    mine, other = TAILQ_HEAD(), TAILQ_HEAD()
    a, b = Elm("a"), Elm("b")
    TAILQ_INSERT_TAIL(mine, a, "link")
    TAILQ_INSERT_TAIL(other, b, "link")
    with pytest.raises(kern.KernelPanic, match="TAILQ_REMOVE forw"):
        TAILQ_REMOVE(other, a, "link")
    assert names(mine) == ["a"] and names(other) == ["b"]
    TAILQ_INSERT_TAIL(mine, Elm("c"), "link")
    with pytest.raises(kern.KernelPanic, match="TAILQ_REMOVE back"):
        TAILQ_REMOVE(other, a, "link")  # a has a next now: other's first is not a
    assert names(mine) == ["a", "c"] and backwards(mine) == ["c", "a"]
