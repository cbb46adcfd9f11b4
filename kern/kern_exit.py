"""The end of a process and waiting for it: exit(2), wait4(2) (sys/kern/kern_exit.c, sys/wait.h).

kemu's exit and wait, with NetBSD's names and steps where kemu has the
state for them.  The wait path follows the wait6-era kern_exit.c, read in
1.244.4.4 (2016-10-05; NetBSD 8's 1.268 could not be found): ``do_sys_wait``
turns wait4's pid into an (idtype, id) pair and adds WEXITED|WTRAPPED,
``do_sys_waitid`` collects the child ``find_stopped_child`` chose (freeing
it with ``proc_free`` unless WNOWAIT), and ``match_process`` matches a child
against the pair.  The options and errnos are that revision's: EINVAL for a
bit outside WUNTRACED|WNOHANG|WALTSIG|WALLSIG|WTRAPPED|WEXITED|WNOWAIT|
WCONTINUED or for none of the events to wait for, ECHILD when no child
matches, WAIT_MYPGRP meaning the caller's process group.  The constants
are sys/wait.h's (1.38) and sys/idtype.h's.

``exit1`` closes the descriptors, frees the address space and current
directory (the process layers' destroy hooks), records the exit status and
terminating signal, gives its children to init, and becomes a zombie that
its parent collects with wait4(2).  The parent is told through SIGCHLD and a
broadcast on its ``p_waitcv``, under ``proc_lock``.  A parent that ignores
SIGCHLD or set SA_NOCLDWAIT (PK_CLDSIGIGN, PK_NOCLDWAIT, which sigaction1
sets in kern/sys_sig.py and fork passes on) gets no zombie: ``exit1``
reparents the child to init, which is sent the SIGCHLD and collects it, and
when the parent is left with no child at all its ``p_waitcv`` is broadcast,
so that a wait4 asleep in ``find_stopped_child`` looks again, finds nothing
and fails with ECHILD.  That part of ``exit1`` (the orphans, ``old_parent``
and ``new_parent``, ``wakeinit``) and ``proc_reparent`` follow 1.244.4.4
too; the block reads the same in trunk's 1.245 (2015-10-02), the newest
revision the reference store holds.  As in NetBSD, a parent that still has
other children is not woken when one of them goes to init: its wait4 for
that child's pid sleeps until another child changes state.

Deviations, each because of what kemu is:

* init (pid 1) runs no program, so nothing would wait for its children:
  the wait loop NetBSD's init runs is folded in here, and a child of init
  (an orphan, or a process the harness made under init) is freed as soon as
  it exits (``_initproc_wait`` is init woken on its ``p_waitcv``).  A
  process whose parent is none or proc0 likewise.
* ``exit_lwps`` is 1.245's (see its deviations): the other lwps get
  LW_WEXIT, those asleep interruptibly are woken (their sleeps answer
  EINTR), and exit1 waits for all of them to leave before it closes the
  descriptors; they leave (``lwp_exit``) at their next kernel entry or
  return, since the process is marked PS_WEXIT.  The exiting lwp itself
  leaves through ``lwp_exit``, which unwinds the program's Python stack
  (``LwpExit``) to the lwp trampoline.  exit1 clears the pending signals
  of the process and its lwps (``sigclearall``) but sets no p_stat SDYING:
  kpsignal2 drops every signal once PS_WEXIT is set.
* No p_children list: a process's children are found by scanning the
  process table in pid order (``children``), and ``proc_reparent`` only
  changes ``p_pptr``: there is no p_nstopchild to move, p_ppid is derived
  from p_pptr, and p_exitsig is SIGCHLD for every process.  NetBSD moves a child that
  dies to the head of its parent's list, so of several zombies wait(-1)
  collects the one that died last; here the one with the lowest pid.
* No process groups or sessions: every process leads its own (pgid = sid =
  pid, as kill(2) and ps(1) see them), so WAIT_MYPGRP (pid 0), which names
  the caller's group, matches no child (ECHILD), and pid -N names the
  process N.  Every child exits with SIGCHLD (no rfork/clone), so WALTSIG
  without WALLSIG matches none either.
* No job control or ptrace: no child is ever stopped, traced or continued,
  so WUNTRACED/WSTOPPED, WTRAPPED and WCONTINUED are accepted and find
  nothing; no process is SDEAD between exit and zombie.  No rusage
  accounting: wait4's rusage comes back zeroed.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, NoReturn

from kern.cpu import MachineLocal, curmachine
from kern.errno import ECHILD, EINVAL
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, cv_wait_sig, kcondvar_t
from kern.kern_lwp import PK_CLDSIGIGN, PK_NOCLDWAIT, PS_WEXIT, SZOMB, LwpExit
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
)
from kern.subr_copy import copyout
from kern.subr_prf import KASSERT, panic

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

# sys/wait.h
WNOHANG = 0x00000001       # don't hang in wait
WSTOPPED = 0x00000002      # stopped, untraced children
WUNTRACED = WSTOPPED       # (the original name)
WALTSIG = 0x00000004       # wait for processes that exit with an alternate signal
WALLSIG = 0x00000008       # wait for processes that exit with any signal
WCONTINUED = 0x00000010    # continued processes
WEXITED = 0x00000020       # exited processes
WTRAPPED = 0x00000040      # processes that hit a trap or a breakpoint
WNOWAIT = 0x00010000       # leave the child in a waitable state
WNOZOMBIE = 0x00020000     # ignore zombies
WCOREFLAG = 0o200
WAIT_ANY = -1
WAIT_MYPGRP = 0

# sys/idtype.h (idtype_t)
P_MYID, P_ALL, P_PID, P_LWPID, P_PPID, P_PGID, P_SID, P_CID, P_UID, P_GID = range(-1, 9)


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


def lwp_exit_finish(l: lwp) -> None:
    """The end of kern_lwp.c's lwp_exit (1.180), which kemu runs when the lwp's
    code is done (Machine._lwp_exit, after it made it LSZOMB and took it off
    p_lwps): if it was asked to look for signals and one is pending for the
    process, every other lwp is asked to (LW_PENDSIG), so that the signal is
    not left to an lwp that is gone; then ``p_lwpcv`` is broadcast (an
    exit1 in ``exit_lwps`` waits on it)."""
    from kern.kern_lwp import LW_PENDSIG

    p = l.l_proc
    if l.l_flag & LW_PENDSIG and p.p_sigpend:
        for l2 in p.p_lwps:
            l2.l_flag |= LW_PENDSIG
    if p.p_lwpcv is not None:
        cv_broadcast(p.p_lwpcv)


def lwp_leaves_machine(l: lwp) -> None:
    """kemu: ``l`` begins a wait outside the machine (Machine.external_wait).
    ``exit_lwps`` does not wait for such an lwp (see its deviations): if
    ``l`` was told to exit, the exit_lwps that may be waiting for it on
    ``p_lwpcv`` is woken to look again, as it is when an lwp ends."""
    from kern.kern_lwp import LW_WEXIT

    p = l.l_proc
    if l.l_flag & LW_WEXIT and p.p_lwpcv is not None:
        cv_broadcast(p.p_lwpcv)


def _reaped_by_init(parent: proc | None) -> bool:
    """True when nothing will wait for a child of ``parent``: init's wait loop
    (folded in here, see the deviations) frees it as soon as it is a zombie."""
    m = curmachine()
    if parent is None or parent is m.proc0 or parent is m.initproc:
        return True
    return bool(parent.p_stat == SZOMB)


def _initproc_wait() -> None:
    """What init does when its ``p_waitcv`` is broadcast: collect every zombie
    among its children (kemu: init runs no program; this is its wait loop)."""
    for q in children(curmachine().initproc):
        if q.p_stat == SZOMB:
            proc_free(q)


async def exit1(l: lwp, exitcode: int, signo: int = 0) -> None:
    """The process of ``l`` exits with ``exitcode`` (or dies of ``signo``).

    Its other lwps are made to leave first (``exit_lwps``), then its
    descriptors are closed (this may sleep), its resources freed, and it
    becomes a zombie for its parent to wait for.  The caller then leaves
    with ``lwp_exit``.  A second exit1 of the same process just leaves.
    """
    from kern.kern_descrip import fd_free
    from kern.kern_sig import SIGCHLD, psignal, sigclearall

    p = l.l_proc
    m = curmachine()
    if p is m.initproc:
        panic("init died (signal %d, exit %d)", signo, exitcode)
    if p.p_sflag & PS_WEXIT:
        lwp_exit(l)
    p.p_sflag |= PS_WEXIT

    # Force all other lwps to exit before we do.  Only then can we begin to
    # tear down the rest of the process state.
    if len(p.p_lwps) > 1:
        await exit_lwps(l)

    # Bin any remaining signals (kpsignal2 drops new ones: PS_WEXIT).
    sigclearall(p, None)

    # Close the open files (this may sleep), then the rest of the process.
    await fd_free(p)
    for hook in m.proc_destroy_hooks:
        hook(p)

    p.p_xexit = exitcode & 0xff
    p.p_xsig = signo

    lock = proc_lock()
    await mutex_enter(lock)

    # Give the orphans to init; init is woken below if there were any.
    orphans = children(p)
    wakeinit = bool(orphans)
    for child in orphans:
        proc_reparent(child, m.initproc)

    # A parent that set SA_NOCLDWAIT or ignores SIGCHLD gets no zombie: init
    # takes the child.  If that was the parent's last child, wake it: a wait4
    # sleeping there finds no child left and fails with ECHILD.
    old_parent = p.p_pptr
    if old_parent is not None and old_parent.p_flag & (PK_NOCLDWAIT | PK_CLDSIGIGN):
        proc_reparent(p, m.initproc)
        wakeinit = True
        if not children(old_parent):
            cv_broadcast(_waitcv(old_parent))

    # The new parent (init, if reparented above) is sent the exit signal.
    new_parent = p.p_pptr
    if new_parent is not None:
        psignal(new_parent, SIGCHLD)

    if wakeinit:
        cv_broadcast(_waitcv(m.initproc))
        _initproc_wait()

    p.p_stat = SZOMB
    # Tell the parent to collect the zombie (init: at once).
    if _reaped_by_init(p.p_pptr):
        proc_free(p)
    else:
        assert p.p_pptr is not None
        cv_broadcast(_waitcv(p.p_pptr))
    mutex_exit(lock)


async def exit_lwps(l: lwp) -> None:
    """kern_exit.c's exit_lwps (1.245): every other lwp of the process gets
    LW_WEXIT; one asleep interruptibly or suspended is made runnable (its
    sleep answers EINTR: sleepq_block); then wait until they have all left.

    Each wait is ``lwp_wait(l, 0, NULL, true)``'s, on ``p_lwpcv``, which an
    lwp's end broadcasts; after it the flags are set again from the start,
    as lwps may have gone to sleep or been made meanwhile.  An lwp that
    sleeps uninterruptibly is waited for; one running in the kernel meets
    its flag at its next interruptible sleep; each leaves on its way back to
    user mode (lwp_userret: LW_WEXIT), or at its next system call's entry
    (kern/syscall.py: LW_WEXIT, or PS_WEXIT for exit1).  exit1 and execve
    call it.

    Deviations: kemu has no p_lock: ``proc_lock`` is the interlock of
    ``p_lwpcv``.  lwp_wait's other cases (a named lwp, detached lwps,
    zombies to collect: a kemu lwp leaves p_lwps when it ends) and the
    PS_WCORE bail-out (no core dumps) are left out.  No LSSTOP lwps (no job
    control).  kemu cannot bring an lwp that is in user mode into the
    kernel (NetBSD's lwp_need_userret): one that runs Python code outside
    the kernel holds the exit until it enters the kernel or ends, and one
    waiting outside the machine (``m.external_wait()``: user code such as
    libpuffs's remote shovels waiting on a host socket, which may never
    end) is flagged but not waited for (one that goes there while exit_lwps
    waits wakes it: ``lwp_leaves_machine``): it leaves at its next kernel
    entry, after the process has become a zombie, as every other lwp did
    before kemu had exit_lwps.
    """
    from kern.kern_lwp import LSSLEEP, LSSUSPENDED, LW_WEXIT
    from kern.kern_synch import setrunnable

    p = l.l_proc
    lock = proc_lock()
    while True:  # NetBSD's "retry:"
        # Interrupt lwps in interruptible sleep, unsuspend suspended lwps,
        # and then wait for everyone else to finish.
        for l2 in list(p.p_lwps):
            if l2 is l:
                continue
            l2.l_flag |= LW_WEXIT
            if (l2.l_stat == LSSLEEP and l2.l_sleepcatch) or l2.l_stat == LSSUSPENDED:
                setrunnable(l2)

        # Wait for every lwp to exit (lwp_wait with ``exiting``: one wait on
        # p_lwpcv, then EAGAIN and a full retry).  (kemu: not for one
        # waiting outside the machine, see the deviations.)
        await mutex_enter(lock)
        if not any(l2 is not l and not l2.l_extdepth for l2 in p.p_lwps):
            mutex_exit(lock)
            break
        await cv_wait(_lwpcv(p), lock)
        mutex_exit(lock)


def _lwpcv(p: proc) -> kcondvar_t:
    """``p->p_lwpcv`` (made with the first use; broadcast when an lwp of ``p``
    ends: Machine._lwp_exit, and by setrunnable of a suspended one)."""
    if p.p_lwpcv is None:
        cv = kcondvar_t()
        cv_init(cv, "lwpwait")
        p.p_lwpcv = cv
    return p.p_lwpcv


def proc_reparent(child: proc, parent: proc | None) -> None:
    """Make ``parent`` the parent of ``child`` (with proc_lock held)."""
    KASSERT(mutex_owned(proc_lock()))
    if child.p_pptr is parent:
        return
    # (No p_nstopchild, p_exitsig or p_ppid to update: see the deviations.)
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


def match_process(pp: proc, q: proc, idtype: int, id_: int,
                  options: int) -> tuple[int, proc | None]:
    """Does child ``q`` of ``pp`` match (idtype, id)?  ``(rv, child)``: rv -1
    (not found: stop looking), 0 (no), 1 (yes, there may be more), 2 (yes,
    and it is the only one); the child may be another than ``q`` (P_PID)."""
    from kern.kern_auth import kauth_cred_getegid, kauth_cred_geteuid
    from kern.kern_lwp import SIDL

    p: proc | None = q
    rv = 1
    if idtype == P_ALL:
        pass
    elif idtype == P_PID:
        if q.p_pid != id_:
            p = curmachine().procs.get(id_)
            if p is None or p.p_stat == SIDL or p.p_pptr is not pp:
                return -1, None
        rv += 1
    elif idtype in (P_PGID, P_SID):
        if q.p_pid != id_:  # kemu: pgid = sid = pid (see the deviations)
            return 0, q
    elif idtype == P_UID:
        if kauth_cred_geteuid(q.p_cred) != id_:
            return 0, q
    elif idtype == P_GID:
        if kauth_cred_getegid(q.p_cred) != id_:
            return 0, q
    else:  # P_CID, P_PSETID, P_CPUID, ...: not implemented (as in NetBSD)
        return 0, q

    assert p is not None
    if (options & WEXITED) == 0 and p.p_stat == SZOMB:
        return 0, p
    return rv, p


async def find_stopped_child(parent: proc, idtype: int, id_: int,
                             options: int) -> tuple[int, proc | None]:
    """A child that exited (or stopped), among those (idtype, id) names:
    ``(error, child)``; child None with error 0 under WNOHANG when none has
    yet.  Called with proc_lock held, which it may release while waiting."""
    from kern.kern_sig import SIGCHLD

    lock = proc_lock()
    if options & ~(WUNTRACED | WNOHANG | WALTSIG | WALLSIG | WTRAPPED | WEXITED | WNOWAIT
                   | WCONTINUED):
        return EINVAL, None

    if (options & (WEXITED | WUNTRACED | WCONTINUED | WTRAPPED)) == 0:
        # No event to look for: an error rather than blocking for ever.
        return EINVAL, None

    if id_ == WAIT_MYPGRP and idtype in (P_PID, P_PGID):
        id_ = parent.p_pid  # the caller's process group (kemu: its pid)
        idtype = P_PGID

    while True:
        error = ECHILD
        child: proc | None = None
        for q in children(parent):
            rv, child = match_process(parent, q, idtype, id_, options)
            if rv == -1:
                break
            if rv == 0:
                child = None
                continue
            assert child is not None
            # Children that exit with a signal other than SIGCHLD only with
            # WALTSIG, the others only without it (WALLSIG: both).  Every
            # kemu process exits with SIGCHLD.
            exitsig = SIGCHLD
            if (options & WALLSIG) == 0 and (
                    exitsig == SIGCHLD if options & WALTSIG else exitsig != SIGCHLD):
                if rv == 2:
                    child = None
                    break
                child = None
                continue

            error = 0
            if (options & WNOZOMBIE) == 0 and child.p_stat == SZOMB:
                break
            # (No stopped, traced or continued children in kemu.)
            child = None
            if rv == 2:
                break

        if child is not None or error != 0 or (options & WNOHANG) != 0:
            return error, child

        # Wait for another child process to stop.
        error = await cv_wait_sig(_waitcv(parent), lock)
        if error != 0:
            return error, None


async def do_sys_waitid(l: lwp, idtype: int, id_: int, options: int) -> tuple[int, int, int]:
    """``(error, pid, status)`` of the child collected; pid 0 when none was."""
    lock = proc_lock()
    await mutex_enter(lock)
    error, child = await find_stopped_child(l.l_proc, idtype, id_, options)
    if child is None:
        mutex_exit(lock)
        return error, 0, 0
    pid = child.p_pid
    # The child is exiting (kemu has no stopped children).
    KASSERT(child.p_stat == SZOMB)
    status = W_EXITCODE(child.p_xexit, child.p_xsig)
    if not options & WNOWAIT:
        proc_free(child)
        child.p_pptr = None
    mutex_exit(lock)
    return 0, pid, status


async def do_sys_wait(l: lwp, pid: int, options: int) -> tuple[int, int, int]:
    """wait4's semantics: ``(error, pid, status)``; pid 0 with WNOHANG when none is ready."""
    # The special pids as (idtype, id); find_stopped_child handles WAIT_MYPGRP.
    if pid == WAIT_ANY:
        idtype, id_ = P_ALL, 0
    elif pid < 0:
        idtype, id_ = P_PGID, -pid
    else:
        idtype, id_ = P_PID, pid
    options |= WEXITED | WTRAPPED
    return await do_sys_waitid(l, idtype, id_, options)


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
