"""Lightweight process system calls (sys/kern/sys_lwp.c 1.57): _lwp_self(2)
and _lwp_wakeup(2).

``sys__lwp_wakeup`` is the sender of LW_CANCELLED: it marks the target lwp
of the caller's process cancelled (and LW_UNPARKED) and, if it sleeps
interruptibly, takes it off its sleep queue (``lwp_unsleep``: its sleep
returns 0, and sleepq_block's check after the switch answers EINTR for
the cancellation).  One that is not asleep answers ENODEV and one asleep
uninterruptibly EBUSY; either way the flag stays, and the lwp's next
interruptible sleep does not begin (kern/kern_synch.py).  ESRCH when the
process has no live lwp of that id.  kern/syscall.py registers both.

Deviations: only these two calls (kemu makes lwps with the harness or
libpuffs's ``lwp_create``, not _lwp_create(2)), and no _lwp_park(2), so
nothing reads LW_UNPARKED.  No p_lock or lwp locks (kemu has one CPU and
nothing runs between the steps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.errno import EBUSY, ENODEV, ESRCH
from kern.kern_lwp import LSSLEEP, LW_CANCELLED, LW_UNPARKED, lwp_find

if TYPE_CHECKING:
    from kern.kern_lwp import lwp


async def sys__lwp_self(l: lwp, uap: Any, retval: list[Any]) -> int:
    """_lwp_self(): the caller's lwp id."""
    retval[0] = l.l_lid
    return 0


async def sys__lwp_wakeup(l: lwp, uap: Any, retval: list[Any]) -> int:
    """_lwp_wakeup(target): cancel the current or next interruptible sleep of
    lwp ``target`` of the caller's process."""
    from kern.kern_synch import sleepq_wakeone

    p = l.l_proc
    t = lwp_find(p, uap.target)
    if t is None:
        return ESRCH

    t.l_flag |= LW_CANCELLED | LW_UNPARKED
    if t.l_stat != LSSLEEP:
        error = ENODEV
    elif not t.l_sleepcatch:
        error = EBUSY
    else:
        # Wake it up (lwp_unsleep).
        sleepq_wakeone(t, 0)
        error = 0
    return error
