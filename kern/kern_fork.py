"""fork(2) and the end of a process, after NetBSD's sys/kern/kern_fork.c and kern_exit.c.

``fork1`` makes the child the way NetBSD does, layer by layer: a new
process whose credentials, signal actions, current directory, descriptor
table (every descriptor, one more reference per file) and address space
(a copy of every mapping) come from the parent, and one lwp.  The parent
gets the child's pid.

What kemu cannot do is copy the parent's Python stack, so the child cannot
"return from fork with 0" into the middle of the caller's code.  The part
of fork that NetBSD leaves to the machine-dependent layer (cpu_lwp_fork:
where the child's lwp enters user mode) is therefore a function the caller
names: ``libc.fork(fn, *args)`` stores ``(fn, args)`` in the calling lwp's
``l_md_forkentry`` and traps; the child's lwp runs ``fn(*args)`` and exits
when it returns (its value, an int, is the exit status).  That is exactly
the shape of a daemon: ``if (fork() == 0) { serve(); _exit(0); }``.

When ``fn`` returns, the child exits with its value as status
(kern/kern_exit.py: ``exit1`` closes every descriptor, which may sleep, and
leaves a zombie for the parent's wait4(2)).

Deviations (the child's start):

* The child's first return to user mode skips ``lwp_userret``: NetBSD's
  child starts in lwp_trampoline -> child_return -> md_child_return ->
  userret, which takes a signal posted to it before it ever ran (and a
  suspend request) before its first user instruction; kemu's runs ``fn``
  until its first system call, where the syscall layer's return path does
  it.  Nothing a program does outside the kernel is visible (every effect
  is a system call), so only the order against pure computation differs.
  Taking it earlier would run a caught signal's handler (the parent's
  Python function, on the parent's Python objects: kemu cannot copy them)
  before the child's own code could reset its signals, as sh's children do.
* lwp_create's LW_WREBOOT inheritance is left out: kemu's lwp_userret acts
  on LW_WSUSPEND only, and a forked child runs on NetBSD during a halt too
  (see suspendsched, kern/kern_synch.py, for why that loses nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kern.cpu import curlwp, curmachine
from kern.errno import EAGAIN, EINVAL
from kern.exceptions import KernelError
from kern.kern_exit import exit1
from kern.kern_lwp import PK_CLDSIGIGN, PK_NOCLDWAIT, lwp, proc
from kern.subr_prf import log

__all__ = ["cpu_lwp_fork_entry", "exit1", "fork1", "maxproc", "sys_fork"]

# fork1 flags (sys/proc.h); kemu's children always get their own copies.
FORK_PPWAIT = 0x01
FORK_SHAREVM = 0x02
FORK_SHARECWD = 0x04
FORK_SHAREFILES = 0x08
FORK_SHARESIGS = 0x10
FORK_NOWAIT = 0x20
FORK_CLEANFILES = 0x40

maxproc = 1044  # kern.maxproc's default

LOG_ERR = 3  # sys/syslog.h


def cpu_lwp_fork_entry(l: lwp, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> None:
    """Where the next child forked by ``l`` starts in user mode (libc.fork sets it)."""
    l.l_md_forkentry = (fn, args)


async def fork1(l1: lwp, flags: int, retval: list[Any]) -> int:
    """Make a child of ``l1``'s process; ``retval[0]`` is its pid in the parent."""
    entry, l1.l_md_forkentry = l1.l_md_forkentry, None
    if entry is None:
        # A fork without a named child entry: there is nowhere for the child to run.
        return EINVAL
    fn, args = entry
    m = curmachine()
    p1 = l1.l_proc
    if len(m.procs) >= maxproc:
        log(LOG_ERR, "%s: table is full - %s\n", "proc", "increase kern.maxproc or NPROC")
        return EAGAIN
    p2 = m.proc_create(p1.p_comm, p1, p1.p_cred, exec=False)
    # The flags of SIGCHLD's handling go with the signal actions the child
    # inherits, so that it treats its own children as its parent would.
    p2.p_flag |= p1.p_flag & (PK_NOCLDWAIT | PK_CLDSIGIGN)
    p2.p_psstrp = p1.p_psstrp           # its arguments, in the copied address space
    l2 = lwp(p2, l1.l_name)
    l2.l_sigmask = set(l1.l_sigmask)    # lwp_create: the child's lwp blocks what l1 blocks
    m.spawn_lwp(l2, _child_main, (p2, fn, args))
    retval[0] = p2.p_pid
    retval[1] = 0
    return 0


async def _child_main(p: proc, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> int:
    try:
        r = await fn(*args)
        status = r if isinstance(r, int) else 0
    except KernelError:
        raise
    except Exception:  # noqa: BLE001 - the child's own death; the kernel goes on
        status = 1
    await exit1(curlwp(), status, 0)
    return status


async def sys_fork(l: lwp, uap: Any, retval: list[Any]) -> int:
    return await fork1(l, 0, retval)
