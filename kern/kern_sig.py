"""A small signal model (kern_sig.c): post a signal, interrupt a catching sleep.

Signals are posted to a process.  An lwp of that process asleep in an
interruptible wait (``cv_wait_sig``, ``tsleep`` with PCATCH) wakes with
EINTR, or ERESTART when the process asked for SA_RESTART on that signal.
Pending signals are consumed when a system call returns to userland, as
though a handler had run; nothing is ever killed.  Numbers are NetBSD's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kern.kern_synch import sleepq_interrupt

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

SIGHUP = 1
SIGINT = 2
SIGQUIT = 3
SIGILL = 4
SIGABRT = 6
SIGKILL = 9
SIGSEGV = 11
SIGPIPE = 13
SIGALRM = 14
SIGTERM = 15
SIGURG = 16
SIGSTOP = 17
SIGTSTP = 18
SIGCONT = 19
SIGCHLD = 20
SIGIO = 23
SIGWINCH = 28
SIGINFO = 29
SIGUSR1 = 30
SIGUSR2 = 31
SIGPWR = 32
NSIG = 64

# sa_flags (sys/signal.h)
SA_ONSTACK = 0x0001
SA_RESTART = 0x0002
SA_RESETHAND = 0x0004
SA_NOCLDSTOP = 0x0008
SA_NODEFER = 0x0010
SA_NOCLDWAIT = 0x0020
SA_SIGINFO = 0x0040
SA_NOKERNINFO = 0x0080
SA_ALLBITS = 0x00ff


def psignal(p: proc, signo: int) -> None:
    """Post ``signo`` to process ``p`` and interrupt its catching sleepers."""
    if signo <= 0 or signo >= NSIG:
        return
    if p.p_pid == 0:
        return  # kernel threads take no signals
    p.p_sigpend.add(signo)
    for l in list(p.p_lwps):
        if sleepq_interrupt(l, signo):
            break


def sigispending(l: lwp) -> int:
    """The lowest pending signal for ``l``'s process, or 0."""
    pend = l.l_proc.p_sigpend
    return min(pend) if pend else 0


def postsig_all(l: lwp) -> list[int]:
    """Consume the pending signals (called on the way back to userland)."""
    p = l.l_proc
    sigs = sorted(p.p_sigpend)
    p.p_sigpend.clear()
    return sigs


SIG_DFL = 0
SIG_IGN = 1

# What a process does on a signal: (handler, sa_mask as 16 bytes, sa_flags),
# the sd_sigact of NetBSD's struct sigacts.  Absent means SIG_DFL, no flags.
SIGACT_DFL = (SIG_DFL, bytes(16), 0)


def sigact(p: proc, signo: int) -> tuple[int, bytes, int]:
    """``p``'s action for ``signo``: (handler, mask, flags)."""
    return p.p_sigacts.get(signo, SIGACT_DFL)


def sigacts_inherit(parent: proc, child: proc, exec: bool) -> None:
    """The child's signal actions: a copy of the parent's (fork, sigactsinit);
    after exec, as execsigs leaves them: caught signals back to SIG_DFL,
    ignored ones stay ignored."""
    acts = dict(parent.p_sigacts)
    if exec:
        acts = {sig: a for sig, a in acts.items() if a[0] == SIG_IGN}
    child.p_sigacts = acts
