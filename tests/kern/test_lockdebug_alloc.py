"""lockdebug_alloc (NetBSD's sys/kern/subr_lockdebug.c): with lockdebug on,
initialising a lock that is live (initialised and not destroyed, held or
not) panics "already initialized"; without lockdebug (a NetBSD kernel
without LOCKDEBUG) nothing checks it."""

from __future__ import annotations

import pytest

import kern
from kern import (
    IPL_NONE,
    IPL_VM,
    MUTEX_DEFAULT,
    kmutex_t,
    krwlock_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_tryenter,
    rw_init,
)
from kern.kern_mutex import MUTEX_NODEBUG


async def _init_held_mutex():
    held = kmutex_t()
    mutex_init(held, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(held)
    mutex_init(held, MUTEX_DEFAULT, IPL_NONE)


def test_mutex_init_of_a_held_mutex_panics_with_lockdebug():
    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(_init_held_mutex)
    msg = str(ei.value)
    assert "LOCKDEBUG: Mutex error: lockdebug_alloc: already initialized" in msg
    assert "held" in msg


async def _twice(ipl: int, type: int = MUTEX_DEFAULT):
    twice = kmutex_t()
    mutex_init(twice, type, ipl)
    mutex_init(twice, type, ipl)
    await mutex_enter(twice)
    mutex_exit(twice)
    return "no panic"


def test_without_lockdebug_mutex_init_is_not_checked():
    with kern.boot(seed=1, lockdebug=False) as k:
        assert k.run(_twice, IPL_NONE) == "no panic"


@pytest.mark.parametrize("ipl", [IPL_NONE, IPL_VM])
def test_an_idle_mutex_initialised_twice_panics(ipl):
    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic,
                                               match="already initialized: twice"):
        k.run(_twice, ipl)


def test_a_nodebug_mutex_is_not_checked():
    # (NetBSD's mutex_init gives MUTEX_NODEBUG no lockops: lockdebug_alloc returns)
    with kern.boot(seed=1) as k:
        assert k.run(_twice, IPL_NONE, MUTEX_NODEBUG) == "no panic"


async def _destroyed_then_init():
    again = kmutex_t()
    mutex_init(again, MUTEX_DEFAULT, IPL_NONE)
    mutex_destroy(again)
    mutex_init(again, MUTEX_DEFAULT, IPL_NONE)
    r = mutex_tryenter(again)
    mutex_exit(again)
    return r


def test_a_destroyed_mutex_may_be_initialised_again():
    with kern.boot(seed=1) as k:
        assert k.run(_destroyed_then_init) == 1


async def _rw_twice():
    rwtwice = krwlock_t()
    rw_init(rwtwice)
    rw_init(rwtwice)


def test_an_rwlock_initialised_twice_panics():
    with kern.boot(seed=1) as k, pytest.raises(
            kern.KernelPanic,
            match="Reader / writer lock error: lockdebug_alloc: already initialized: rwtwice"):
        k.run(_rw_twice)
