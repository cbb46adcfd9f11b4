"""Signals (kern_sig.c, sys/signalvar.h): post a signal, take it on the way back to userland.

A signal is posted to a process (``psignal``): one its actions discard
(SIG_IGN, or SIG_DFL for a signal whose default is to be ignored) is
dropped at once, as kpsignal2 does; any other one is marked pending and
wakes an lwp of the process asleep in an interruptible wait
(``cv_wait_sig``, ``tsleep`` with PCATCH), whose sleep answers EINTR, or
ERESTART when the process asked for SA_RESTART on that signal.

Pending signals are taken when a system call returns to userland
(``postsig`` from the syscall layer's userret), in signal-number order, as
issignal and postsig do:

* a signal whose action is SIG_DFL takes its default action (``sigprop``):
  the SA_KILL ones end the process (``sigexit``: exit1 with the signal as
  the termination status, so wait(2) sees WIFSIGNALED); SA_IGNORE ones are
  dropped; the stop signals are dropped too (deviation: kemu has no job
  control, a process is never stopped);
* processes 0 and 1 never take a default action (NetBSD's issignal skips
  "system processes"; kemu's init runs no program that would catch them);
* a signal with a handler is consumed as though the handler had run (kemu
  cannot run handler code); SA_RESETHAND puts SIG_DFL back.

Numbers are NetBSD's.  Deviations: no signal masks, no siginfo queue, no
core dumps (WCOREFLAG is never set), no process groups (kill(2) with a
negative pid names one process).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kern.kern_lwp import PS_WEXIT
from kern.kern_synch import sleepq_interrupt

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

SIGHUP = 1
SIGINT = 2
SIGQUIT = 3
SIGILL = 4
SIGTRAP = 5
SIGABRT = 6
SIGEMT = 7
SIGFPE = 8
SIGKILL = 9
SIGBUS = 10
SIGSEGV = 11
SIGSYS = 12
SIGPIPE = 13
SIGALRM = 14
SIGTERM = 15
SIGURG = 16
SIGSTOP = 17
SIGTSTP = 18
SIGCONT = 19
SIGCHLD = 20
SIGTTIN = 21
SIGTTOU = 22
SIGIO = 23
SIGXCPU = 24
SIGXFSZ = 25
SIGVTALRM = 26
SIGPROF = 27
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


SIG_DFL = 0
SIG_IGN = 1

# sigprop: what a signal does by default (sys/signalvar.h)
SA_KILL = 0x0001        # terminates the process
SA_CORE = 0x0002        # ... with a core dump
SA_STOP = 0x0004        # suspends the process
SA_TTYSTOP = 0x0008     # ... when sent by the terminal
SA_IGNORE = 0x0010      # is ignored
SA_CONT = 0x0020        # continues a stopped process
SA_CANTMASK = 0x0040    # cannot be masked or caught
SA_NORESET = 0x0080     # not reset when caught

_SIGPROP = {
    SIGHUP: SA_KILL, SIGINT: SA_KILL, SIGQUIT: SA_KILL | SA_CORE,
    SIGILL: SA_KILL | SA_CORE | SA_NORESET, SIGTRAP: SA_KILL | SA_CORE | SA_NORESET,
    SIGABRT: SA_KILL | SA_CORE, SIGEMT: SA_KILL | SA_CORE, SIGFPE: SA_KILL | SA_CORE,
    SIGKILL: SA_KILL | SA_CANTMASK, SIGBUS: SA_KILL | SA_CORE, SIGSEGV: SA_KILL | SA_CORE,
    SIGSYS: SA_KILL | SA_CORE, SIGPIPE: SA_KILL, SIGALRM: SA_KILL, SIGTERM: SA_KILL,
    SIGURG: SA_IGNORE, SIGSTOP: SA_STOP | SA_CANTMASK, SIGTSTP: SA_STOP | SA_TTYSTOP,
    SIGCONT: SA_IGNORE | SA_CONT, SIGCHLD: SA_IGNORE, SIGTTIN: SA_STOP | SA_TTYSTOP,
    SIGTTOU: SA_STOP | SA_TTYSTOP, SIGIO: SA_IGNORE, SIGXCPU: SA_KILL, SIGXFSZ: SA_KILL,
    SIGVTALRM: SA_KILL, SIGPROF: SA_KILL, SIGWINCH: SA_IGNORE, SIGINFO: SA_IGNORE,
    SIGUSR1: SA_KILL, SIGUSR2: SA_KILL, SIGPWR: SA_IGNORE,
}


def sigprop(signo: int) -> int:
    """The default-action properties of ``signo`` (real-time signals kill)."""
    return _SIGPROP.get(signo, SA_KILL)

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
    child.p_sigacts = dict(parent.p_sigacts)
    if exec:
        execsigs(child)


def sigignored(p: proc, signo: int) -> bool:
    """True when ``p`` discards ``signo`` (SIG_IGN, or SIG_DFL of an ignored-by-default one)."""
    handler = sigact(p, signo)[0]
    if handler == SIG_IGN:
        return True
    return handler == SIG_DFL and bool(sigprop(signo) & SA_IGNORE)


def psignal(p: proc, signo: int) -> None:
    """Post ``signo`` to process ``p`` (kpsignal2) and interrupt a catching sleeper."""
    if signo <= 0 or signo >= NSIG:
        return
    if p.p_pid == 0:
        return  # kernel threads take no signals
    if p.p_sflag & PS_WEXIT:
        return  # the process is on its way out
    if sigignored(p, signo) and signo != SIGKILL:
        return
    prop = sigprop(signo)
    if prop & SA_CONT:
        p.p_sigpend.difference_update(s for s in list(p.p_sigpend) if sigprop(s) & SA_STOP)
    if prop & SA_STOP:
        p.p_sigpend.discard(SIGCONT)
    p.p_sigpend.add(signo)
    for l in list(p.p_lwps):
        if sleepq_interrupt(l, signo):
            break


def sigispending(l: lwp) -> int:
    """The lowest pending signal for ``l``'s process, or 0."""
    pend = l.l_proc.p_sigpend
    return min(pend) if pend else 0


def issignal(l: lwp) -> int:
    """The next pending signal ``l`` must act on, or 0; the ones with nothing to do
    (ignored, stops: kemu has no job control, defaults of processes 0 and 1) are dropped."""
    p = l.l_proc
    while p.p_sigpend:
        signo = min(p.p_sigpend)
        handler = sigact(p, signo)[0]
        prop = sigprop(signo)
        if handler == SIG_IGN and signo != SIGKILL:
            p.p_sigpend.discard(signo)
            continue
        if handler == SIG_DFL or signo == SIGKILL:
            # Don't take default actions on system processes.
            if p.p_pid <= 1 or not prop & SA_KILL:
                p.p_sigpend.discard(signo)
                continue
        return signo
    return 0


def postsig(l: lwp) -> int:
    """Take ``l``'s pending signals: the first whose default action kills the
    process is returned (the caller ends the process with ``sigexit``);
    the ones with a handler are consumed.  0 when the process lives on."""
    p = l.l_proc
    while True:
        signo = issignal(l)
        if signo == 0:
            return 0
        p.p_sigpend.discard(signo)
        handler, mask, flags = sigact(p, signo)
        if handler == SIG_DFL or signo == SIGKILL:
            return signo
        # "The handler ran"; a one-shot handler is reset.
        if flags & SA_RESETHAND and not sigprop(signo) & SA_NORESET:
            p.p_sigacts.pop(signo, None)


def postsig_all(l: lwp) -> list[int]:
    """Drop every pending signal of ``l``'s process (what it had pending when it exits)."""
    p = l.l_proc
    sigs = sorted(p.p_sigpend)
    p.p_sigpend.clear()
    return sigs


async def sigexit(l: lwp, signo: int) -> None:
    """The process of ``l`` dies of ``signo``: exit1 with it as the termination
    status, then the lwp leaves userland for good (lwp_exit)."""
    from kern.kern_exit import exit1, lwp_exit

    await exit1(l, 0, signo)
    lwp_exit(l)


def execsigs(p: proc) -> None:
    """exec: caught signals go back to SIG_DFL; ignored ones stay ignored."""
    p.p_sigacts = {sig: a for sig, a in p.p_sigacts.items() if a[0] == SIG_IGN}
