"""Processes, lwps and kernel threads (kern_proc.c, kern_lwp.c, kern_kthread.c).

Each lwp is a coroutine run by its machine's CPU task
(kern/machine/scheduler.py).  proc0 holds the kernel threads; user processes
get pids from 1 up.  ``kthread_create`` keeps NetBSD's signature, with the
out-parameter ``&newlp`` turned into a second return value:
``error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, arg, "%s", name)``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kern.cpu import curlwp, curmachine
from kern.errno import EINVAL
from kern.kern_auth import ROOTCRED, kauth_cred

if TYPE_CHECKING:
    import contextvars

    from kern.subr_lockdebug import LockRecord

# l_stat values (sys/lwp.h)
LSIDL = 1
LSRUN = 2
LSSLEEP = 3
LSSTOP = 4
LSZOMB = 5
LSDEAD = 6     # (no kemu lwp is ever in it; ps maps it as NetBSD's does)
LSONPROC = 7
LSSUSPENDED = 8

_LSNAMES = {LSIDL: "IDL", LSRUN: "RUN", LSSLEEP: "SLEEP", LSSTOP: "STOP", LSZOMB: "ZOMB",
            LSDEAD: "DEAD", LSONPROC: "ONPROC", LSSUSPENDED: "SUSPENDED"}

# What an lwp's cached sleep and wakeup trace events were made for before the
# first is made (l_tsleepw, l_twakeupw): no wmesg (a str or None) is it.
NOWMESG = object()

# kthread_create flags (sys/kthread.h)
KTHREAD_IDLE = 0x01
KTHREAD_MPSAFE = 0x02
KTHREAD_INTR = 0x04
KTHREAD_TS = 0x08
KTHREAD_MUSTJOIN = 0x10
# kemu-only: a housekeeping thread, whose timed sleeps are not progress (LW_DAEMON)
KTHREAD_KEMU_DAEMON = 0x1000

# Priorities (sys/param.h); kept for the signatures, the scheduler ignores them.
PRI_NONE = -1
PRI_KERNEL = 64
PRI_BIO = 96  # PRI_KERNEL + 32
PRI_VM = 124
PRI_KTHREAD = 0
PRI_USER = 0

# l_flag bits we use (sys/lwp.h; tests/kern/test_flag_bits.py checks them)
LW_SYSTEM = 0x00000200
LW_WSUSPEND = 0x00020000  # suspend itself on the way back to user mode (lwp_userret)
LW_WCORE = 0x00080000     # stop for a core dump on the way back (never set: no core dumps)
LW_WEXIT = 0x00100000     # exit before returning to user mode (exit_lwps, kern/kern_exit.py)
LW_PENDSIG = 0x01000000   # a signal may be pending for it: look (sigpost sets, issignal clears)
LW_CANCELLED = 0x02000000  # the next interruptible sleep does not begin (sleepq_block)
LW_WREBOOT = 0x08000000   # the machine is going down: lwp_continue will not resume it
LW_UNPARKED = 0x10000000  # an unpark is pending (_lwp_wakeup sets it; kemu has no _lwp_park)
# kemu: its timed sleeps are housekeeping, not progress.  A bit no NetBSD
# l_flag has (lwp.h 1.168 and the newest stored; 0x10000000 is LW_UNPARKED)
LW_DAEMON = 0x20000000

# p_flag bits (sys/proc.h; tests/kern/test_flag_bits.py checks them)
PK_SYSTEM = 0x00000002
PK_EXEC = 0x00004000  # the process called exec (kemu: made by proc_create as fork+exec)
PK_NOCLDWAIT = 0x00020000  # no zombies: a child that dies is given to init
PK_CLDSIGIGN = 0x00080000  # SIGCHLD is ignored (no zombies either)
# kemu: the process waits for a host process it started (a remote puffs server's
# kernel side, until it reaped the server): the halt's suspendsched leaves it
# running, as it leaves PK_SYSTEM ones (kern/kern_synch.py).  A bit no NetBSD
# p_flag has (proc.h 1.250 through 1.370.4.2, which bracket NetBSD 8's)
PK_HOSTCHILD = 0x40000000

# p_sflag bits
PS_NOCLDSTOP = 0x00000008  # no SIGCHLD when a child stops (SA_NOCLDSTOP)
PS_WEXIT = 0x00002000  # the process is exiting (exit1 has begun)

# p_stat values (sys/proc.h; kemu's processes are never SDYING or SDEAD:
# exit1 goes from SACTIVE to SZOMB, see kern/kern_exit.py)
SIDL = 1
SACTIVE = 2
SSTOP = 4
SZOMB = 5

MAXCOMLEN = 16


class proc:
    """struct proc: a process, owning lwps, a descriptor table and user memory."""

    def __init__(self, pid: int, comm: str, cred: kauth_cred = ROOTCRED,
                 parent: proc | None = None) -> None:
        self.p_pid = pid
        self.p_comm = comm[:MAXCOMLEN]
        self.p_cred = cred
        self.p_pptr = parent
        self.p_lwps: list[lwp] = []
        self.p_nlwpid = 0
        self.p_flag = 0
        self.p_sflag = 0
        self.p_stat = SACTIVE
        self.p_xexit = 0  # exit status (exit1)
        self.p_xsig = 0   # the signal that ended it (exit1), for wait(2)
        self.p_waitcv: Any = None  # where wait(2) sleeps for a child (kern_exit)
        self.p_lwpcv: Any = None   # where exit_lwps waits for its lwps to leave (kern_exit)
        # Filled by the layers that own them (vfs: descriptors and cwd;
        # kern.uvm_user: the user address space; kern_sig: signal state).
        self.p_fd: Any = None
        self.p_cwdi: Any = None
        self.p_vmspace: Any = None
        from kern.kern_sig import sigdesc, sigpend_t

        self.p_sigpend = sigpend_t()
        self.p_sigacts: dict[int, sigdesc] = {}  # kern_sig.sigact
        self.p_specific: dict[Any, Any] = {}
        # For ps (kern/kern_proc.py): when it was made (p_stats->p_start, as
        # (sec, usec)) and where its arguments are (kern/exec_subr.copyargs).
        self.p_start: tuple[int, int] = (0, 0)
        self.p_psstrp = 0

    def __repr__(self) -> str:
        return f"<proc {self.p_pid} {self.p_comm!r}>"


class lwp:
    """struct lwp: a kernel-visible thread, run as a coroutine by the machine's CPU task."""

    # Its fields, as struct lwp has a fixed set (kemu: slots, so that every
    # ``l.l_*`` read, a few tens of thousands a sweep seed, is a slot load
    # rather than a lookup in an instance dictionary of ~45 keys).
    __slots__ = ("l_lid", "l_proc", "l_cpu", "l_ncsw", "_l_name", "l_tid", "l_flag", "l_pflag",
                 "l_stat", "l_cred", "l_coro", "l_ctx", "l_away", "l_wchan", "l_wmesg",
                 "l_syncobj", "l_sleeptimo", "l_sleepcatch", "l_sleepq", "l_early", "l_wakerv",
                 "l_callout", "l_extdepth", "l_locks", "l_spinlocks", "l_exitcode", "l_joiners",
                 "l_specific", "l_fstrans", "l_sigpend", "l_sigmask", "l_sigoldmask",
                 "l_sigrestore", "l_sigpendset", "l_ctxlink", "l_md_forkentry",
                 "l_md_execentry", "l_md_sigframes", "l_trun", "l_tsleep", "l_tsleepw",
                 "l_twakeup", "l_twakeupw", "__weakref__")

    def __init__(self, p: proc, name: str, flag: int = 0) -> None:
        p.p_nlwpid += 1
        self.l_lid = p.p_nlwpid
        self.l_proc = p
        # The machine's CPU (kern/machine/scheduler.py; set when it spawns the
        # lwp) and how many times it was dispatched: before l_name, whose
        # setter looks at them.
        self.l_cpu: Any = None
        self.l_ncsw = 0
        self.l_name = name  # (sets l_tid and its trace events too)
        self.l_flag = flag
        self.l_pflag = 0
        self.l_stat = LSIDL
        self.l_cred: kauth_cred = p.p_cred
        # Its code (kern/machine/scheduler.py): the coroutine (None once it
        # ended), the context it runs in, and whether it is away from the CPU
        # task (a carrier runs it through a wait outside the machine).
        self.l_coro: Coroutine[Any, Any, None] | None = None
        self.l_ctx: contextvars.Context | None = None
        self.l_away = False
        # Sleep state: what it sleeps on, why, and how.
        self.l_wchan: Any = None
        self.l_wmesg: str | None = None
        self.l_syncobj: str | None = None  # "sleepq", "mutex", "rwlock"
        self.l_sleeptimo = False
        self.l_sleepcatch = False
        self.l_sleepq: Any = None  # the queue it is linked on while asleep
        # A wakeup's result when it came between sleepq_enter and sleepq_block.
        self.l_early: int | None = None
        # Scheduling (kern/machine/scheduler.py): the result a wakeup hands
        # over, the pending timeout, and how deep it is in waits outside the
        # machine.
        self.l_wakerv = 0
        self.l_callout: Any = None
        self.l_extdepth = 0
        # Lock bookkeeping (subr_lockdebug)
        self.l_locks: list[LockRecord] = []
        self.l_spinlocks = 0
        # kthread_join support
        self.l_exitcode: int | None = None
        self.l_joiners: Any = None
        self.l_specific: dict[Any, Any] = {}
        # vfs_trans's records of its transactions (NetBSD's lwp-specific
        # data under lwp_data_key; an attribute in kemu: see vfs_trans.py)
        self.l_fstrans: Any = None
        # Signals (kern_sig): pending for this lwp only, blocked, the mask a
        # sigsuspend replaced (restored after the handler), where issignal found
        # the signal it chose.
        from kern.kern_sig import sigpend_t

        self.l_sigpend = sigpend_t()
        self.l_sigmask: set[int] = set()
        self.l_sigoldmask: set[int] = set()
        self.l_sigrestore = 0
        self.l_sigpendset: Any = None
        self.l_ctxlink = 0
        # Machine-dependent state.  fork: where the child lwp "returns to
        # user mode" (kemu cannot copy a Python stack, so the caller names the
        # child's entry: see kern/kern_fork.py).
        self.l_md_forkentry: Any = None
        # exec: the new image's entry point and arguments (kern/kern_exec.py).
        self.l_md_execentry: Any = None
        # The signal frames sendsig built that the return to user mode has not
        # run yet, newest last (kern/sig_machdep.py).
        self.l_md_sigframes: list[Any] = []

    @property
    def l_name(self) -> str:
        return self._l_name

    @l_name.setter
    def l_name(self, name: str) -> None:
        # Who it is in k.trace's events (kern/machine/trace.py): name, pid,
        # lid; and its events as the trace's raw list takes them: the event
        # of its dispatch, made once per name (execve renames it; "start"
        # until its code first runs, Machine._lwp_main, then "run"), and its
        # last sleep and wakeup events with the wmesg each was made for
        # (none yet: kern/kern_synch.py makes them, and remakes them when
        # the wmesg changes).  On a machine each is its number in the
        # machine's trace (Trace.intern).
        self._l_name = name
        self.l_tid = (name, self.l_proc.p_pid, self.l_lid)
        self.set_trace_events()

    def set_trace_events(self) -> None:
        """Make ``l_trun``, the event its dispatch appends to the trace's raw
        list: "start" until it was first dispatched, then "run"; on a machine
        (``l_cpu`` set), its number in the machine's trace.  Its last sleep
        and wakeup events are forgotten (kern_synch.py makes them again).  The
        name setter, Machine.spawn_lwp (``l_cpu`` just set), Machine._lwp_main
        (its first dispatch just made) and Machine._trace_renumbered call it."""
        ci = self.l_cpu
        ev = (self.l_tid, "run" if self.l_ncsw else "start", "")
        self.l_trun: Any = ev if ci is None else ci.m.trace.intern(ev)
        self.l_tsleep: Any = None
        self.l_tsleepw: Any = NOWMESG
        self.l_twakeup: Any = None
        self.l_twakeupw: Any = NOWMESG

    @property
    def l_stat_name(self) -> str:
        return _LSNAMES.get(self.l_stat, str(self.l_stat))

    def held_locks(self) -> list[str]:
        """Names of the locks this lwp holds, outermost first, with where each was taken."""
        from kern.subr_lockdebug import lock_name, where_str

        return [f"{lock_name(r[0])} (taken at {where_str(r[1])})" for r in self.l_locks]

    def __repr__(self) -> str:
        return f"<lwp {self.l_name!r} {self.l_proc.p_pid}.{self.l_lid} {self.l_stat_name}>"


def lwp_find(p: proc, id_: int) -> lwp | None:
    """kern_lwp.c's lwp_find (1.180): the live lwp ``id_`` of ``p`` (None for
    one being made or a zombie).  (kemu: no p_lock to hold.)"""
    for l in p.p_lwps:
        if l.l_lid == id_:
            break
    else:
        return None
    if l.l_stat == LSIDL or l.l_stat == LSZOMB:
        return None
    return l


def lwp_continue(l: lwp) -> None:
    """kern_lwp.c's lwp_continue (1.180): restart a suspended lwp.

    One suspended by the halt (LW_WREBOOT) is left as it is; any other loses
    LW_WSUSPEND and, if it is suspended already (LSSUSPENDED, in
    lwp_userret), ``setrunnable`` puts it back on the run queue, where it
    goes round lwp_userret again.  (kemu: no p_lock or lwp lock to hold.)
    """
    from kern.kern_synch import setrunnable  # (kern_synch imports this module)

    # Rebooting: it stays where it is.
    if l.l_flag & LW_WREBOOT:
        return
    l.l_flag &= ~LW_WSUSPEND
    if l.l_stat != LSSUSPENDED:
        return
    setrunnable(l)


class KthreadExit(BaseException):
    """Raised by kthread_exit(); the lwp trampoline catches it."""

    def __init__(self, ecode: int) -> None:
        super().__init__(ecode)
        self.ecode = ecode


class LwpExit(KthreadExit):  # noqa: N818 - lwp_exit(), not an error
    """Raised by lwp_exit() (kern/kern_exit.py) in a user lwp whose process is gone:
    it unwinds the program's stack to the lwp trampoline, which ends the lwp."""


def _format_name(fmt: str, args: tuple[Any, ...]) -> str:
    from kern.subr_prf import kern_format

    return kern_format(fmt, args)[:MAXCOMLEN]


def kthread_create(pri: int, flag: int, ci: Any,
                   func: Callable[[Any], Awaitable[Any]], arg: Any,
                   fmt: str, *fmtargs: Any) -> tuple[int, lwp | None]:
    """Start ``func(arg)`` as a kernel thread of proc0.

    Returns ``(error, l)``.  It can fail by fault injection (site
    ``kthread_create``), as the real one can when resources run out.
    """
    from kern.subr_fault import fault_inject
    from kern.subr_lockdebug import ASSERT_SLEEPABLE

    ASSERT_SLEEPABLE()
    name = _format_name(fmt, fmtargs)
    error = fault_inject("kthread_create")
    if error:
        return error, None
    m = curmachine()
    l = lwp(m.proc0, name, LW_SYSTEM | (LW_DAEMON if flag & KTHREAD_KEMU_DAEMON else 0))
    if flag & KTHREAD_MUSTJOIN:
        l.l_pflag |= KTHREAD_MUSTJOIN
    m.spawn_lwp(l, func, (arg,))
    return 0, l


def kthread_exit(ecode: int) -> None:
    """End the calling kernel thread; does not return."""
    raise KthreadExit(ecode)


async def kthread_join(l: lwp) -> int:
    """Wait for a KTHREAD_MUSTJOIN thread to exit."""
    from kern.kern_synch import sleepq, sleepq_block, sleepq_enter
    from kern.subr_prf import panic

    if not (l.l_pflag & KTHREAD_MUSTJOIN):
        panic("kthread_join: thread %s was not created with KTHREAD_MUSTJOIN", l.l_name)
    if l is curlwp():
        return EINVAL
    while l.l_stat != LSZOMB:
        if l.l_joiners is None:
            l.l_joiners = sleepq("kthrwait")
        sleepq_enter(l.l_joiners, "kthrwait", l)
        await sleepq_block(0, False)
    return 0
