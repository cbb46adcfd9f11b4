"""The end of a process and waiting for it: exit(2), wait4(2) (sys/kern/kern_exit.c, sys/wait.h).

After NetBSD 8's kern_exit.c (1.268): ``exit1`` closes the descriptors,
frees the address space and current directory (the process layers'
destroy hooks), records the exit status and terminating signal, gives its
children to init, and becomes a zombie that its parent collects with
wait4(2) (``sys___wait450``: ``do_sys_wait`` / ``find_stopped_child``),
which frees it (``proc_free``).  The parent is told through SIGCHLD and a
broadcast on its ``p_waitcv``, under ``proc_lock``.

A parent that ignores SIGCHLD or set SA_NOCLDWAIT (PK_CLDSIGIGN,
PK_NOCLDWAIT) leaves no zombies: the child is given to init instead.

Deviations, each because of what kemu is:

* init (pid 1) runs no program, so nothing would wait for its children:
  the wait loop NetBSD's init runs is folded in here, and a child of init
  (an orphan, or a process the harness made under init) is freed as soon as
  it exits.  A process whose parent is none or proc0 likewise.
* kemu cannot stop an lwp from outside: ``exit_lwps`` wakes the other lwps
  of the process from interruptible sleeps and does not wait for them;
  they leave (``lwp_exit``) at their next kernel entry or return, since
  the process is marked PS_WEXIT.  The exiting lwp itself leaves through
  ``lwp_exit``, which unwinds the program's Python stack (``LwpExit``) to
  the lwp trampoline.
* No rusage accounting: wait4's rusage comes back zeroed.  No process
  groups: pid 0 and pid < -1 name the caller's children as pid -1 does,
  and -pid respectively (every process leads its own group).
* Job control (WUNTRACED, stopped children) and ptrace are not modelled.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, NoReturn

from kern.cpu import MachineLocal, curmachine
from kern.errno import ECHILD, EINVAL
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait_sig, kcondvar_t
from kern.kern_lwp import PK_CLDSIGIGN, PK_NOCLDWAIT, PS_WEXIT, SZOMB, LwpExit
from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_enter, mutex_exit, mutex_init
from kern.subr_copy import copyout
from kern.subr_prf import panic

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

# sys/wait.h
WNOHANG = 0x00000001       # don't hang in wait
WUNTRACED = 0x00000002     # tell about stopped, untraced children
WALTSIG = 0x00000004       # wait for processes that exit with an alternate signal
WALLSIG = 0x00000008       # wait for processes that exit with any signal
WNOWAIT = 0x00010000       # leave the child in a waitable state
WEXITED = 0x00000020
WCOREFLAG = 0o200
WAIT_ANY = -1
WAIT_MYPGRP = 0


def W_EXITCODE(ret: int, sig: int) -> int:
    return (ret << 8) | sig


def WTERMSIG(status: int) -> int:
    return status & 0o177


def WIFEXITED(status: int) -> bool:
    return WTERMSIG(status) == 0


def WEXITSTATUS(status: int) -> int:
    return (status >> 8) & 0xff


def WIFSIGNALED(status: int) -> bool:
    return WTERMSIG(status) != 0o177 and WTERMSIG(status) != 0


def WCOREDUMP(status: int) -> bool:
    return bool(status & WCOREFLAG)


class rusage(ctypes.Structure):
    """struct rusage (LP64): two timevals and fourteen longs; kemu fills in zeros."""

    _fields_ = [("ru_utime", ctypes.c_int64 * 2), ("ru_stime", ctypes.c_int64 * 2),
                ("ru_rest", ctypes.c_int64 * 14)]


def _proc_lock_init() -> kmutex_t:
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    return mtx


# NetBSD's proc_lock: the process tree and the zombies' states.
_proc_lock = MachineLocal(_proc_lock_init, "proc_lock")


def proc_lock() -> kmutex_t:
    return _proc_lock()


def _waitcv(p: proc) -> kcondvar_t:
    """``p->p_waitcv`` (made with the first use: struct proc lives in kern_lwp)."""
    if p.p_waitcv is None:
        cv = kcondvar_t()
        cv_init(cv, "wait")
        p.p_waitcv = cv
    return p.p_waitcv


def children(p: proc) -> list[proc]:
    """``p``'s children (p_children), lowest pid first."""
    return [q for _, q in sorted(curmachine().procs.items()) if q.p_pptr is p]


def lwp_exit(l: lwp) -> NoReturn:
    """The lwp leaves: its program's stack unwinds to the trampoline (does not return)."""
    p = l.l_proc
    raise LwpExit(W_EXITCODE(p.p_xexit, p.p_xsig))


def _reaped_by_init(parent: proc | None) -> bool:
    """True when nothing will wait for a child of ``parent``: init's wait loop frees it."""
    m = curmachine()
    if parent is None or parent is m.proc0 or parent is m.initproc:
        return True
    if parent.p_flag & (PK_NOCLDWAIT | PK_CLDSIGIGN):
        return True
    return bool(parent.p_stat == SZOMB)


async def exit1(l: lwp, exitcode: int, signo: int = 0) -> None:
    """The process of ``l`` exits with ``exitcode`` (or dies of ``signo``).

    Its descriptors are closed (this may sleep), its resources freed, and it
    becomes a zombie for its parent to wait for.  The caller then leaves
    with ``lwp_exit``.  A second exit1 of the same process just leaves.
    """
    from kern.kern_descrip import fd_free
    from kern.kern_sig import SIGCHLD, SIGKILL, psignal
    from kern.kern_synch import sleepq_interrupt

    p = l.l_proc
    m = curmachine()
    if p is m.initproc:
        panic("init died (signal %d, exit %d)", signo, exitcode)
    if p.p_sflag & PS_WEXIT:
        lwp_exit(l)
    p.p_sflag |= PS_WEXIT
    p.p_sigpend.clear()

    # exit_lwps: the other lwps of the process leave at their next kernel boundary.
    for l2 in list(p.p_lwps):
        if l2 is not l:
            sleepq_interrupt(l2, SIGKILL)

    # Close the open files (this may sleep), then the rest of the process.
    await fd_free(p)
    for hook in m.proc_destroy_hooks:
        hook(p)

    p.p_xexit = exitcode & 0xff
    p.p_xsig = signo

    lock = proc_lock()
    await mutex_enter(lock)
    p.p_stat = SZOMB
    # Give the orphans to init (which reaps the dead ones at once).
    for q in children(p):
        proc_reparent(q, m.initproc)
        if q.p_stat == SZOMB:
            proc_free(q)
    parent = p.p_pptr
    if _reaped_by_init(parent):
        proc_free(p)
    else:
        assert parent is not None
        psignal(parent, SIGCHLD)
        cv_broadcast(_waitcv(parent))
    mutex_exit(lock)


def proc_reparent(child: proc, parent: proc | None) -> None:
    """Make ``parent`` the parent of ``child``."""
    child.p_pptr = parent


def proc_free(p: proc) -> None:
    """The zombie's last trace goes: its pid is free again."""
    curmachine().procs.pop(p.p_pid, None)


async def sys_exit(l: lwp, uap: Any, retval: list[Any]) -> int:
    """exit(rval): the process ends; this never returns to userland."""
    # Don't call exit1() twice for one process.
    if l.l_proc.p_sflag & PS_WEXIT:
        lwp_exit(l)
    await exit1(l, uap.rval, 0)
    lwp_exit(l)


def _match(p: proc, child: proc, pid: int) -> bool:
    if pid > 0 or pid < -1:
        return child.p_pid == abs(pid)
    return True  # WAIT_ANY, WAIT_MYPGRP (no process groups)


async def do_sys_wait(l: lwp, pid: int, options: int) -> tuple[int, int, int]:
    """Wait for a child: ``(error, pid, status)``; pid 0 with WNOHANG when none is ready."""
    if options & ~(WUNTRACED | WNOHANG | WALTSIG | WALLSIG | WNOWAIT | WEXITED):
        return EINVAL, 0, 0
    p = l.l_proc
    lock = proc_lock()
    await mutex_enter(lock)
    while True:
        # find_stopped_child: a dead child that matches, or none at all.
        mine = [q for q in children(p) if _match(p, q, pid)]
        if not mine:
            mutex_exit(lock)
            return ECHILD, 0, 0
        dead = next((q for q in mine if q.p_stat == SZOMB), None)
        if dead is not None:
            status = W_EXITCODE(dead.p_xexit, dead.p_xsig)
            cpid = dead.p_pid
            if not options & WNOWAIT:
                proc_free(dead)
                dead.p_pptr = None
            mutex_exit(lock)
            return 0, cpid, status
        if options & WNOHANG:
            mutex_exit(lock)
            return 0, 0, 0
        error = await cv_wait_sig(_waitcv(p), lock)
        if error:
            mutex_exit(lock)
            return error, 0, 0


async def sys___wait450(l: lwp, uap: Any, retval: list[Any]) -> int:
    """wait4(pid, status, options, rusage)."""
    error, pid, status = await do_sys_wait(l, uap.pid, uap.options)
    retval[0] = pid
    if error or pid == 0:
        return error
    if uap.status:
        error = copyout(bytearray(status.to_bytes(4, "little", signed=True)), uap.status, 4)
    if error == 0 and uap.rusage:
        ru = rusage()
        error = copyout(ru, uap.rusage, ctypes.sizeof(ru))
    return error
