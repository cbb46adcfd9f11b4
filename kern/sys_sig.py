"""Signal system calls: kill(2) and sigaction(2) (sys_sig.c, sys/signal.h).

A small model on top of kern.kern_sig: a process records, per signal, a
handler (an opaque user address, or SIG_DFL / SIG_IGN), a mask and flags
(``p_sigacts``, read with ``kern_sig.sigact``; a fork copies them, an exec
keeps only the ignored ones).  SA_RESTART makes an interrupted sleep answer
ERESTART instead of EINTR.  A signal that is ignored (SIG_IGN, or SIG_DFL
for a signal whose default is to ignore) is discarded when sent, as NetBSD
does; any other one interrupts a catching sleep and is taken when a system
call returns to userland: its default action may end the process
(kern_sig.postsig); no handler code runs.  SIGCHLD set to SIG_IGN, or
SA_NOCLDWAIT, leaves no zombies (PK_CLDSIGIGN, PK_NOCLDWAIT).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.errno import EINVAL, EPERM, ESRCH
from kern.kern_lwp import PK_CLDSIGIGN, PK_NOCLDWAIT
from kern.kern_sig import (
    NSIG,
    SA_ALLBITS,
    SA_NOCLDWAIT,
    SA_RESTART,  # noqa: F401 - sys/signal.h, re-exported for libc
    SIG_DFL,  # noqa: F401 - sys/signal.h, re-exported for libc
    SIG_IGN,
    SIGCHLD,
    SIGKILL,
    SIGSTOP,
    psignal,
    sigact,
    sigignored,  # noqa: F401 - used by callers of this module
)

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

SIG_ERR = -1

__SIGTRAMP_SIGINFO_VERSION = 2


class sigset_t(ctypes.Structure):
    """sigset_t: 128 signal bits."""

    _fields_ = [("__bits", ctypes.c_uint32 * 4)]


class sigaction(ctypes.Structure):
    """struct sigaction, LP64 (32 bytes): handler, mask, flags.

    The handler union (``sa_handler``/``sa_sigaction``) is one pointer.
    """

    _fields_ = [("sa_handler", ctypes.c_uint64), ("sa_mask", sigset_t),
                ("sa_flags", ctypes.c_int32)]

    @property
    def sa_sigaction(self) -> int:
        return self.sa_handler


def kpsignal(p: proc, signum: int) -> None:
    """Send ``signum`` to ``p`` (psignal drops it if ``p`` ignores it)."""
    if signum == 0:
        return
    psignal(p, signum)


def sigaction1(l: lwp, signum: int, nsa: sigaction | None, osa: sigaction | None,
               tramp: int, vers: int) -> int:
    """Read and/or change what process ``l.l_proc`` does on ``signum``."""
    p = l.l_proc
    if signum <= 0 or signum >= NSIG:
        return EINVAL
    handler, mask, flags = sigact(p, signum)
    if osa is not None:
        osa.sa_handler = handler
        ctypes.memmove(ctypes.addressof(osa.sa_mask), mask, 16)
        osa.sa_flags = flags
    if nsa is not None:
        if signum in (SIGKILL, SIGSTOP):
            return EINVAL
        if nsa.sa_flags & ~SA_ALLBITS:
            return EINVAL
        p.p_sigacts[signum] = (int(nsa.sa_handler), bytes(nsa.sa_mask), int(nsa.sa_flags))
        if signum == SIGCHLD:
            # No zombies: init, the reaper of the children, may not ask for it.
            if nsa.sa_flags & SA_NOCLDWAIT and p.p_pid != 1:
                p.p_flag |= PK_NOCLDWAIT
            else:
                p.p_flag &= ~PK_NOCLDWAIT
            if nsa.sa_handler == SIG_IGN and p.p_pid != 1:
                p.p_flag |= PK_CLDSIGIGN
            else:
                p.p_flag &= ~PK_CLDSIGIGN
        if sigignored(p, signum):
            # setting a signal to be ignored discards it if pending
            p.p_sigpend.discard(signum)
    return 0


async def sys___sigaction_sigtramp(l: lwp, uap: Any, retval: list[Any]) -> int:
    """__sigaction_sigtramp(signum, nsa, osa, tramp, vers): sigaction(2)."""
    from kern.subr_copy import copyin, copyout

    nsa = osa = None
    if uap.nsa:
        nsa = sigaction()
        error = copyin(uap.nsa, nsa, ctypes.sizeof(nsa))
        if error:
            return error
    if uap.osa:
        osa = sigaction()
    error = sigaction1(l, uap.signum, nsa, osa, uap.tramp, uap.vers)
    if error:
        return error
    if osa is not None:
        error = copyout(osa, uap.osa, ctypes.sizeof(osa))
    return error


def _may_signal(l: lwp, p: proc) -> bool:
    from kern.kern_auth import kauth_cred_issuser

    c = l.l_cred
    if kauth_cred_issuser(c):
        return True
    t = p.p_cred
    return c.cr_uid in (t.cr_uid, t.cr_euid) or c.cr_euid in (t.cr_uid, t.cr_euid)


async def sys_kill(l: lwp, uap: Any, retval: list[Any]) -> int:
    """kill(pid, signum).

    kemu has no process groups: every process is the leader of its own, so
    pid 0 means the caller and pid < -1 the process -pid.  pid -1 signals
    every user process but init and the caller.
    """
    from kern.cpu import curmachine

    signum = uap.signum
    if signum < 0 or signum >= NSIG:
        return EINVAL
    pid = uap.pid
    m = curmachine()
    me = l.l_proc
    if pid > 0 or pid == 0 or pid < -1:
        target = me.p_pid if pid == 0 else abs(pid)
        p = m.procs.get(target)
        if p is None or p.p_pid == 0:
            return ESRCH
        if not _may_signal(l, p):
            return EPERM
        if signum:
            kpsignal(p, signum)
        return 0
    # pid == -1: broadcast
    nfound = 0
    for p in list(m.procs.values()):
        if p.p_pid <= 1 or p is me or p.p_pid == 0:
            continue
        if not _may_signal(l, p):
            continue
        nfound += 1
        if signum:
            kpsignal(p, signum)
    return 0 if nfound else ESRCH
