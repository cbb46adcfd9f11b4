"""Signals (sys/kern/kern_sig.c, sys/sys/signalvar.h): posting, taking, delivering.

After NetBSD's kern_sig.c 1.320 (the revision kemu reads; NetBSD 8's 1.336
changed ptrace and core-dump paths kemu does not model), with NetBSD's names
and order:

* ``kpsignal2`` posts a signal to a process: one the process ignores is
  dropped at once; SIGCONT/stop signals clear each other; otherwise the
  signal is made pending (``sigput``, with its ksiginfo) and ``sigpost``
  offers it to each lwp: an lwp that blocks it (``l_sigmask``) is left
  alone, one asleep interruptibly is made runnable (``setrunnable``: its
  sleep wakes with 0, and sleepq_block's check after the switch answers
  EINTR or, when the action has SA_RESTART, ERESTART; a default stop
  signal leaves it asleep, see the deviations); one suspended
  (LSSUSPENDED) for a core dump (LW_WCORE, never set in kemu) is continued
  (``lwp_continue``) for a signal that kills.
* On the way back to user mode (the syscall layer's userret) the lwp takes
  its pending, unblocked signals one by one: ``issignal`` chooses the next
  one that needs action (discarding ignored ones), ``postsig`` takes it: a
  default action that kills ends the process (``sigexit``: exit1 with the
  signal as termination status); a caught signal is delivered by
  ``sendsig`` (kern/sig_machdep.py, amd64's sendsig_siginfo): a signal frame
  with the siginfo and the ucontext to return to (the mask to restore) is
  written to user memory, ``sendsig_reset`` blocks the handler's mask (and
  the signal itself unless SA_NODEFER) and resets a SA_RESETHAND action, and
  the lwp returns to user mode in the handler; the handler returns through
  libc's trampoline, which calls setcontext(2) to restore the mask.
* ``execsigs`` resets caught signals to SIG_DFL at exec; masks are per lwp
  and survive exec, fork copies the parent lwp's mask.

Signal sets are Python sets of signal numbers (``sigset_t`` only at the
user boundary).  Pending signals are a process's ``p_sigpend`` (and an
lwp's ``l_sigpend``): a set of numbers carrying the queued ksiginfo of each
(``sp_info``), as sigpend_t's ``sp_set`` and ``sp_info``.

Deviations, each because of what kemu is:

* No job control: a stop signal whose action is the default is dropped
  by issignal (a process is never stopped), and sigpost does not wake an
  interruptible sleeper for it: the sleep goes on, which is what a caller
  that waits again sees in NetBSD after the SIGCONT (NetBSD's sleep
  returns 0 only once the process is continued; without the stop kemu's
  would return at once, before the event).  SA_TTYSTOP's orphaned-group
  test has no process groups to look at.  No ptrace, no sigwaiters (sigtimedwait),
  no core dumps (WCOREFLAG is never set), no sigaltstack (frames always go
  on the "user stack").
* Processes 0 and 1 never take a default action, as issignal says; the
  DIAGNOSTIC console line it prints then is left out (kemu's init is the
  test harness's process, which tests signal on purpose).
* ``siginit``'s SA_RESTART on every default action is not modelled: an
  action never set has no flags, so a sleep of init interrupted by a
  default-action signal answers EINTR (NetBSD would restart it).
* Kernel threads (proc0) take no signals: ``kpsignal2`` drops them.
* LW_PENDSIG is NetBSD's: sigpost sets it on each lwp it offers a signal
  to, sigprocmask1, sigsuspendsetup and sigaction1 set it when a signal
  they unblock or make visible is pending, lwp_exit hands it on to the
  others (``lwp_exit_finish``, kern/kern_exit.py), and issignal clears it
  when nothing unblocked is pending; sleepq_block and lwp_userret look
  at signals only with it set.  No lwp locks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from kern.kern_lwp import (
    LSONPROC,
    LSRUN,
    LSSLEEP,
    LSSUSPENDED,
    LSZOMB,
    LW_PENDSIG,
    LW_WCORE,
    PS_WEXIT,
    SACTIVE,
    SSTOP,
    lwp_continue,
)
from kern.kern_synch import setrunnable

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
SIG_CATCH = 2  # kpsignal2's action for a caught signal (sys/signalvar.h)

# sigprocmask(2)'s how (sys/signal.h)
SIG_BLOCK = 1
SIG_UNBLOCK = 2
SIG_SETMASK = 3

# sigprop: what a signal does by default (sys/signalvar.h)
SA_KILL = 0x0001        # terminates the process
SA_CORE = 0x0002        # ... with a core dump
SA_STOP = 0x0004        # suspends the process
SA_TTYSTOP = 0x0008     # ... when sent by the terminal
SA_IGNORE = 0x0010      # is ignored
SA_CONT = 0x0020        # continues a stopped process
SA_CANTMASK = 0x0040    # cannot be masked or caught
SA_NORESET = 0x0080     # not reset when caught
SA_TOLWP = 0x0100       # to the lwp that caused it, when local
SA_TOALL = 0x0200       # always to every lwp

_SIGPROP = {
    SIGHUP: SA_KILL, SIGINT: SA_KILL, SIGQUIT: SA_KILL | SA_CORE,
    SIGILL: SA_KILL | SA_CORE | SA_NORESET | SA_TOLWP,
    SIGTRAP: SA_KILL | SA_CORE | SA_NORESET | SA_TOLWP,
    SIGABRT: SA_KILL | SA_CORE, SIGEMT: SA_KILL | SA_CORE | SA_TOLWP,
    SIGFPE: SA_KILL | SA_CORE | SA_TOLWP, SIGKILL: SA_KILL | SA_CANTMASK | SA_TOALL,
    SIGBUS: SA_KILL | SA_CORE | SA_TOLWP, SIGSEGV: SA_KILL | SA_CORE | SA_TOLWP,
    SIGSYS: SA_KILL | SA_CORE | SA_TOLWP, SIGPIPE: SA_KILL, SIGALRM: SA_KILL,
    SIGTERM: SA_KILL, SIGURG: SA_IGNORE, SIGSTOP: SA_STOP | SA_CANTMASK | SA_TOALL,
    SIGTSTP: SA_STOP | SA_TTYSTOP | SA_TOALL, SIGCONT: SA_IGNORE | SA_CONT | SA_TOALL,
    SIGCHLD: SA_IGNORE, SIGTTIN: SA_STOP | SA_TTYSTOP | SA_TOALL,
    SIGTTOU: SA_STOP | SA_TTYSTOP | SA_TOALL, SIGIO: SA_IGNORE, SIGXCPU: SA_KILL,
    SIGXFSZ: SA_KILL, SIGVTALRM: SA_KILL, SIGPROF: SA_KILL, SIGWINCH: SA_IGNORE,
    SIGINFO: SA_IGNORE, SIGUSR1: SA_KILL, SIGUSR2: SA_KILL, SIGPWR: SA_IGNORE | SA_NORESET,
}


def sigprop(signo: int) -> int:
    """The default-action properties of ``signo`` (real-time signals kill)."""
    return _SIGPROP.get(signo, SA_KILL)


# siginit's masks
contsigmask = frozenset(s for s in range(1, NSIG) if sigprop(s) & SA_CONT)
stopsigmask = frozenset(s for s in range(1, NSIG) if sigprop(s) & SA_STOP)
sigcantmask = frozenset(s for s in range(1, NSIG) if sigprop(s) & SA_CANTMASK)

# si_code values (sys/siginfo.h)
SI_USER = 0
SI_QUEUE = -1
SI_NOINFO = 32767
# ksi_flags
KSI_TRAP = 0x01
KSI_EMPTY = 0x02
KSI_QUEUED = 0x04


class ksiginfo:
    """ksiginfo_t: a signal with where it came from (sys/siginfo.h's _ksiginfo)."""

    __slots__ = ("ksi_signo", "ksi_code", "ksi_errno", "ksi_pid", "ksi_uid", "ksi_lid",
                 "ksi_flags", "ksi_status")

    def __init__(self, signo: int = 0, code: int = SI_NOINFO, pid: int = 0, uid: int = 0,
                 flags: int = 0) -> None:
        self.ksi_signo = signo
        self.ksi_code = code
        self.ksi_errno = 0
        self.ksi_pid = pid
        self.ksi_uid = uid
        self.ksi_lid = 0
        self.ksi_flags = flags
        self.ksi_status = 0

    def __repr__(self) -> str:
        return f"<ksiginfo sig {self.ksi_signo} code {self.ksi_code} pid {self.ksi_pid}>"


def KSI_INIT_EMPTY(signo: int) -> ksiginfo:
    """A ksiginfo that says nothing but its signal (psignal's)."""
    return ksiginfo(signo, SI_NOINFO, flags=KSI_EMPTY)


def KSI_EMPTY_P(ksi: ksiginfo) -> bool:
    return bool(ksi.ksi_flags & KSI_EMPTY)


def KSI_TRAP_P(ksi: ksiginfo) -> bool:
    return bool(ksi.ksi_flags & KSI_TRAP)


class sigpend_t(set[int]):
    """sigpend_t: the pending set (``sp_set``: the set itself) and the queued
    ksiginfo of each pending signal (``sp_info``, one per signal number)."""

    def __init__(self) -> None:
        super().__init__()
        self.sp_info: dict[int, ksiginfo] = {}

    def clear(self) -> None:
        super().clear()
        self.sp_info.clear()

    def discard(self, signo: int) -> None:
        super().discard(signo)
        self.sp_info.pop(signo, None)


class sigdesc(NamedTuple):
    """struct sigdesc: a signal's action (sd_sigact: handler, mask, flags), the
    trampoline its handler returns through and the trampoline's ABI version."""

    sa_handler: int
    sa_mask: frozenset[int]
    sa_flags: int
    sd_tramp: int = 0
    sd_vers: int = 0


# An action never set: SIG_DFL, empty mask, no flags (see the deviations).
SIGACT_DFL = sigdesc(SIG_DFL, frozenset(), 0)


def sigact(p: proc, signo: int) -> sigdesc:
    """SIGACTION(p, signo): ``p``'s action for ``signo``."""
    return p.p_sigacts.get(signo, SIGACT_DFL)


def sigcatch(p: proc, signo: int) -> bool:
    """``signo`` is in p_sigctx.ps_sigcatch: it has a handler."""
    return sigact(p, signo).sa_handler not in (SIG_DFL, SIG_IGN)


def sigignore(p: proc, signo: int) -> bool:
    """``signo`` is in p_sigctx.ps_sigignore: SIG_IGN, or SIG_DFL with an ignoring
    default (never SIGCONT, which must still continue the process)."""
    if signo == SIGCONT:
        return False
    handler = sigact(p, signo).sa_handler
    return handler == SIG_IGN or (handler == SIG_DFL and bool(sigprop(signo) & SA_IGNORE))


def sigacts_inherit(parent: proc, child: proc, exec: bool) -> None:
    """The child's signal actions: a copy of the parent's (sigactsinit); after
    exec, as execsigs leaves them."""
    child.p_sigacts = dict(parent.p_sigacts)
    if exec:
        execsigs(child)


def execsigs(p: proc) -> None:
    """exec: caught signals go back to SIG_DFL (and are dropped if their default
    ignores them); every action loses its mask and gets SA_RESTART; no zombies
    flags go; a SIGCHLD set to SIG_IGN is set to SIG_DFL."""
    from kern.kern_lwp import PK_CLDSIGIGN, PK_NOCLDWAIT

    tset = set()
    for signo, sd in list(p.p_sigacts.items()):
        handler = sd.sa_handler
        if sigcatch(p, signo):
            prop = sigprop(signo)
            if prop & SA_IGNORE:
                tset.add(signo)
            handler = SIG_DFL
        p.p_sigacts[signo] = sigdesc(handler, frozenset(), SA_RESTART)
    sigclearall(p, tset)
    p.p_flag &= ~(PK_NOCLDWAIT | PK_CLDSIGIGN)
    sd = sigact(p, SIGCHLD)
    if sd.sa_handler == SIG_IGN:
        p.p_sigacts[SIGCHLD] = sd._replace(sa_handler=SIG_DFL)


# ---------------------------------------------------------------- pending sets

def firstsig(ss: set[int] | frozenset[int]) -> int:
    """The lowest signal number in ``ss``, or 0."""
    return min(ss) if ss else 0


def siggetinfo(sp: sigpend_t | None, signo: int) -> ksiginfo:
    """Take ``signo``'s queued ksiginfo off ``sp``, or make one that says nothing."""
    if sp is not None:
        ksi = sp.sp_info.pop(signo, None)
        if ksi is not None:
            ksi.ksi_flags &= ~KSI_QUEUED
            return ksi
    return ksiginfo(signo, SI_NOINFO)


def sigget(sp: sigpend_t | None, signo: int, mask: set[int] | None = None) -> tuple[int, ksiginfo]:
    """Take a pending signal off ``sp`` (``signo``, or the first not in ``mask`` when
    ``signo`` is 0): ``(signo or 0, its ksiginfo)``."""
    if sp is not None:
        if signo == 0:
            tset = set(sp) - mask if mask is not None else set(sp)
            signo = firstsig(tset)
            if signo == 0:
                return 0, siggetinfo(None, 0)
        set.discard(sp, signo)
    return signo, siggetinfo(sp, signo)


def sigput(sp: sigpend_t, p: proc, ksi: ksiginfo) -> None:
    """Add ``ksi`` to the pending set ``sp``; its information replaces an earlier
    one of the same signal (signals are not queued)."""
    set.add(sp, ksi.ksi_signo)
    if KSI_EMPTY_P(ksi):
        return
    ksi.ksi_flags |= KSI_QUEUED
    sp.sp_info[ksi.ksi_signo] = ksi


def sigclear(sp: sigpend_t, mask: set[int] | frozenset[int] | None) -> None:
    """Clear the pending signals of ``sp`` in ``mask`` (all when None)."""
    if mask is None:
        sp.clear()
        return
    for signo in list(sp):
        if signo in mask:
            sp.discard(signo)


def sigclearall(p: proc, mask: set[int] | frozenset[int] | None) -> None:
    """Clear the pending signals in ``mask`` from ``p`` and its lwps."""
    sigclear(p.p_sigpend, mask)
    for l in p.p_lwps:
        sigclear(l.l_sigpend, mask)


def sigispending(l: lwp, signo: int = 0) -> int:
    """The first signal pending for ``l`` that it neither ignores nor blocks (or
    whether ``signo`` is one), 0 when none."""
    p = l.l_proc
    if not l.l_sigpend and not p.p_sigpend:
        return 0
    tset = set(l.l_sigpend) | set(p.p_sigpend)
    tset = {s for s in tset if not sigignore(p, s)} - l.l_sigmask
    if signo == 0:
        return firstsig(tset)
    return signo if signo in tset else 0


def sigismasked(l: lwp, sig: int) -> bool:
    """``sig`` is ignored by ``l``'s process or blocked by ``l``."""
    return sigignore(l.l_proc, sig) or sig in l.l_sigmask


# ---------------------------------------------------------------- posting

def psignal(p: proc, signo: int) -> None:
    """Post ``signo`` to ``p``, with no more information (the kernel's own signals)."""
    if signo <= 0 or signo >= NSIG:
        return
    kpsignal2(p, KSI_INIT_EMPTY(signo))


def kpsignal2(p: proc, ksi: ksiginfo) -> None:
    """Send ``ksi`` to process ``p``: drop it if ignored, else make it pending and
    find an lwp that can take it (see the module's docstring)."""
    signo = ksi.ksi_signo
    if p.p_pid == 0:
        return  # kemu: kernel threads never go back to user mode to take it
    # A process being made, a zombie or one exiting: drop the signal.
    if (p.p_stat != SACTIVE and p.p_stat != SSTOP) or p.p_sflag & PS_WEXIT:
        return
    prop = sigprop(signo)
    toall = bool(prop & SA_TOALL)
    lid = 0 if toall else ksi.ksi_lid

    # A signal a trap caused that is not caught goes back to its default action,
    # so that it ends the process at once.
    if KSI_TRAP_P(ksi) and not sigcatch(p, signo):
        p.p_sigacts[signo] = sigact(p, signo)._replace(sa_handler=SIG_DFL)

    if sigignore(p, signo):
        return  # discard
    action = SIG_CATCH if sigcatch(p, signo) else SIG_DFL

    # Stopping or continuing: drop pending signals that would do the inverse.
    if prop & SA_CONT:
        sigclear(p.p_sigpend, stopsigmask)
    if prop & SA_STOP:
        sigclear(p.p_sigpend, contsigmask)

    # lwp-private signals (a trap's): post to that lwp.
    if lid != 0:
        for l in p.p_lwps:
            if l.l_lid == lid:
                sigput(l.l_sigpend, p, ksi)
                sigpost(l, action, prop, signo)
        return

    # A default SIGCONT to a running process: nothing to continue, nothing to take.
    if prop & SA_CONT and action == SIG_DFL:
        return

    sigput(p.p_sigpend, p, ksi)
    # Find an lwp that can take the signal (NetBSD's p_lwps list has the
    # newest lwp first: lwp_create inserts at the head).
    for l in reversed(p.p_lwps):
        if sigpost(l, action, prop, signo) and not toall:
            break


def sigpost(l: lwp, action: int, prop: int, sig: int) -> int:
    """Offer a pending signal to ``l``: 1 if it may take it soon (it runs, or it was
    asleep interruptibly and is woken), 0 if it blocks the signal or cannot."""
    if l.l_stat == LSZOMB:
        return 0  # on the way out
    # Have it look for signals: even if no lwp takes this one at once, one
    # will soon.
    l.l_flag |= LW_PENDSIG
    if sig in l.l_sigmask:
        return 0  # (no stopped lwps in kemu: SA_CONT's exception has nothing to do)
    if l.l_stat in (LSRUN, LSONPROC):
        return 1  # it takes the signal at its next return to user mode
    if l.l_stat == LSSLEEP and l.l_sleepcatch:
        if prop & SA_STOP and action == SIG_DFL:
            # kemu: no job control, so the sleeper stays asleep.  NetBSD
            # wakes it, stops the process in issignal and, after the
            # SIGCONT, lets the sleep return 0; a caller that waits again
            # sees nothing.  Woken here, it would return 0 at once, before
            # the event it waits for, and a caller that takes 0 as its
            # event (puffs_msgif's touser) would act on a reply not yet
            # there.  The stop signal stays pending; issignal drops it.
            return 1
        # Asleep interruptibly: wake it (its sleep returns 0, and
        # sleepq_block's check after the switch chooses the error).
        setrunnable(l)
        return 1
    if l.l_stat == LSSUSPENDED:
        # A signal that kills continues an lwp suspended for a core dump
        # (LW_WCORE; never set in kemu, which dumps no core); it takes the
        # signal in lwp_userret, which it goes round again.  lwp_continue
        # leaves the halt's suspended lwps (LW_WREBOOT) where they are.
        if prop & SA_KILL and l.l_flag & LW_WCORE:
            lwp_continue(l)
            return 1
    return 0


# ---------------------------------------------------------------- taking

def issignal(l: lwp) -> int:
    """The next signal ``l`` must act on (caught, or a default that kills), or 0.

    Signals with nothing to do are taken off the pending sets here: ignored
    ones, default actions that ignore, defaults of processes 0 and 1, and
    default stops (no job control).  ``l.l_sigpendset`` says where the chosen
    one is pending, for postsig."""
    p = l.l_proc
    if not l.l_sigpend and not p.p_sigpend:   # nothing pending (every return from a call)
        l.l_flag &= ~LW_PENDSIG
        l.l_sigpendset = None
        return 0
    sp = None
    signo = 0
    while True:
        # Discard any signal that we have decided not to take.
        if signo != 0:
            sigget(sp, signo)

        # Check per-lwp signals first, then the process's.
        sp = l.l_sigpend
        signo = firstsig(set(sp) - l.l_sigmask)
        if signo == 0:
            sp = p.p_sigpend
            signo = firstsig(set(sp) - l.l_sigmask)
            if signo == 0:
                # No signal pending: clear the indicator and bail out.
                l.l_flag &= ~LW_PENDSIG
                sp = None
                break

        # Pending but ignored: discard it.
        if sigignore(p, signo):
            continue

        prop = sigprop(signo)
        handler = sigact(p, signo).sa_handler
        if handler == SIG_DFL:
            # Don't take default actions on system processes.
            if p.p_pid <= 1:
                continue
            if prop & SA_STOP:
                continue  # kemu: no job control, a process is never stopped
            if prop & SA_IGNORE:
                continue  # only SIGCONT gets here: its default is to be ignored
            break
        if handler == SIG_IGN:
            continue
        # A handler: postsig delivers it.
        break
    l.l_sigpendset = sp
    return signo


async def postsig(signo: int) -> None:
    """Take ``signo`` (issignal's choice) in the current lwp: a default action ends
    the process (sigexit, which does not return); a handler gets a frame (sendsig)."""
    from kern.cpu import curlwp
    from kern.subr_prf import panic

    l = curlwp()
    p = l.l_proc
    # The mask to restore when the handler returns: the current one, or, after
    # sigsuspend, the one from before it.
    if l.l_sigrestore:
        returnmask = frozenset(l.l_sigoldmask)
        l.l_sigrestore = 0
    else:
        returnmask = frozenset(l.l_sigmask)

    # Commit to taking the signal.
    action = sigact(p, signo).sa_handler
    _, ksi = sigget(l.l_sigpendset, signo)

    if action == SIG_DFL:
        # The default action, where the default is to kill the process (the
        # other cases were left out by issignal).
        await sigexit(l, signo)
        return

    # The signal must be caught.
    if action == SIG_IGN or signo in l.l_sigmask:
        panic("postsig action")
    await kpsendsig(l, ksi, returnmask)


async def kpsendsig(l: lwp, ksi: ksiginfo, mask: frozenset[int]) -> None:
    """Deliver a caught signal: the emulation's sendsig (NetBSD's native one)."""
    await sendsig(ksi, mask)


async def sendsig(ksi: ksiginfo, mask: frozenset[int]) -> None:
    """NetBSD's sendsig: a frame of the trampoline version the action was set with."""
    from kern.cpu import curlwp
    from kern.sig_machdep import sendsig_siginfo
    from kern.subr_prf import printf

    l = curlwp()
    sig = ksi.ksi_signo
    vers = sigact(l.l_proc, sig).sd_vers
    if vers in (2, 3):
        await sendsig_siginfo(ksi, mask)
        return
    # 0 and 1 (the sigcontext ABI) would need the compat module, which kemu has not.
    printf("sendsig: bad version %d\n", vers)
    await sigexit(l, SIGILL)


def sendsig_reset(l: lwp, signo: int) -> None:
    """Block the handler's mask while it runs; reset a SA_RESETHAND action to
    SIG_DFL (a default that ignores makes the signal ignored)."""
    p = l.l_proc
    sd = sigact(p, signo)
    l.l_sigmask = set(l.l_sigmask) | sd.sa_mask
    if sd.sa_flags & SA_RESETHAND:
        p.p_sigacts[signo] = sd._replace(sa_handler=SIG_DFL)


async def sigexit(l: lwp, signo: int) -> None:
    """The process of ``l`` dies of ``signo``: exit1 with it as the termination
    status, then the lwp leaves user mode for good (lwp_exit; does not return)."""
    from kern.kern_exit import exit1, lwp_exit

    p = l.l_proc
    # If the process is already on the way out, leave now.
    if p.p_sflag & PS_WEXIT:
        lwp_exit(l)
    await exit1(l, 0, signo)
    lwp_exit(l)


def trapsignal(l: lwp, ksi: ksiginfo) -> None:
    """A signal a trap of ``l`` caused (kemu: a jump to an address with no code):
    post it to that lwp as a trap, so an uncaught one ends the process at once."""
    ksi.ksi_lid = l.l_lid
    ksi.ksi_flags |= KSI_TRAP
    ksi.ksi_flags &= ~KSI_EMPTY
    kpsignal2(l.l_proc, ksi)


# ---------------------------------------------------------------- masks (sys_sig.c)

def sigprocmask1(l: lwp, how: int, nss: set[int] | frozenset[int] | None,
                 oss: list[frozenset[int]] | None) -> int:
    """Examine and change ``l``'s blocked signals: ``oss[0]`` gets the old mask."""
    from kern.errno import EINVAL

    if oss is not None:
        oss[0] = frozenset(l.l_sigmask)
    if nss is None:
        return 0
    if how == SIG_BLOCK:
        mask = set(l.l_sigmask) | set(nss)
    elif how == SIG_UNBLOCK:
        mask = set(l.l_sigmask) - set(nss)
    elif how == SIG_SETMASK:
        mask = set(nss)
    else:
        return EINVAL
    l.l_sigmask = mask - sigcantmask
    if how != SIG_BLOCK and sigispending(l, 0):
        # Check for pending signals on the return to user mode.
        l.l_flag |= LW_PENDSIG
    return 0


def sigpending1(l: lwp) -> frozenset[int]:
    """The signals pending for ``l``: its own and its process's."""
    return frozenset(set(l.l_sigpend) | set(l.l_proc.p_sigpend))


def sigsuspendsetup(l: lwp, ss: set[int] | frozenset[int]) -> None:
    """Install ``ss`` as the mask until a handler has run; the old mask is what
    that handler's frame restores (postsig's l_sigrestore)."""
    l.l_sigrestore = 1
    l.l_sigoldmask = set(l.l_sigmask)
    l.l_sigmask = set(ss) - sigcantmask
    # Check for pending signals when sleeping.
    if sigispending(l, 0):
        l.l_flag |= LW_PENDSIG


async def sigsuspend1(l: lwp, ss: set[int] | frozenset[int] | None) -> int:
    """Wait for a signal with ``ss`` as the mask; always EINTR."""
    from kern.kern_synch import kpause

    if ss is not None:
        sigsuspendsetup(l, ss)
    while await kpause("pause", True, 0, None) == 0:
        pass
    # Always EINTR rather than ERESTART.
    from kern.errno import EINTR

    return EINTR
