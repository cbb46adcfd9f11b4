"""Signal system calls (sys/kern/sys_sig.c 1.45, sys/sys/signal.h, sys/sys/ucontext.h).

sigaction(2) (``sys___sigaction_sigtramp``, ``sigaction1``), sigprocmask(2),
sigpending(2), sigsuspend(2), kill(2) (``kill1``), getcontext(2) and
setcontext(2), with NetBSD's checks and errnos, over kern/kern_sig.py.  A
handler is a user address: the code there runs when the signal is
delivered (kern/sig_machdep.py), and it returns through the trampoline
given with sigaction, which calls setcontext(2) with the frame's ucontext.

Deviations:

* Trampoline ABI versions 0 and 1 (the sigcontext ones) need NetBSD's
  compat module, which kemu does not have: a handler set with them is
  EINVAL, as on a kernel without COMPAT_16.
* kill(2): kemu has no process groups: every process is the leader of its
  own (a child does not inherit its parent's), so killpg1's group of pid 0
  is the caller alone and that of pid < -1 the process -pid.  killpg1's
  rules apply to both: system processes (init included) and processes the
  caller may not signal are skipped, and none found is ESRCH, not EPERM
  (so init's kill(0, sig) is ESRCH, as in NetBSD).  A zombie is signalled
  successfully (nothing happens), as IEEE Std 1003.1-2001 says.
* setcontext restores the signal mask and the stack flags; the registers
  of the mcontext stand for the interrupted Python frame, which resumes by
  itself (cpu_setmcontext only checks the context is kemu's).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.errno import EINVAL, EJUSTRETURN, EPERM, ESRCH
from kern.kern_lwp import LW_PENDSIG, PK_CLDSIGIGN, PK_NOCLDWAIT, PS_NOCLDSTOP
from kern.kern_sig import (  # noqa: F401 - sys/signal.h, re-exported for libc
    NSIG,
    SA_ALLBITS,
    SA_CANTMASK,
    SA_IGNORE,
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SA_NODEFER,
    SA_NORESET,
    SA_RESETHAND,
    SA_RESTART,
    SA_SIGINFO,
    SI_USER,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    SIGCHLD,
    SIGCONT,
    kpsignal2,
    ksiginfo,
    sigact,
    sigcantmask,
    sigclearall,
    sigdesc,
    sigispending,
    sigpending1,
    sigprocmask1,
    sigprop,
    sigsuspend1,
)
from kern.subr_copy import copyin, copyout

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc

SIG_ERR = -1

__SIGTRAMP_SIGINFO_VERSION = 2

# uc_flags (sys/ucontext.h, amd64's mcontext.h)
_UC_SIGMASK = 0x01
_UC_STACK = 0x02
_UC_CPU = 0x04
_UC_FPU = 0x08
_UC_SETSTACK = 0x00010000
_UC_CLRSTACK = 0x00020000
_UC_TLSBASE = 0x00080000


class sigset_t(ctypes.Structure):
    """sigset_t: 128 signal bits."""

    _fields_ = [("__bits", ctypes.c_uint32 * 4)]


def sigset_to_set(ss: sigset_t) -> set[int]:
    """The signal numbers of a sigset_t (bit n-1 of the words is signal n)."""
    out = set()
    for word in range(4):
        bits = ss.__bits[word]
        for bit in range(32):
            if bits >> bit & 1:
                out.add(word * 32 + bit + 1)
    return out


def set_to_sigset(sigs: set[int] | frozenset[int], ss: sigset_t | None = None) -> sigset_t:
    """A sigset_t holding ``sigs`` (numbers outside 1..128 are left out)."""
    if ss is None:
        ss = sigset_t()
    for word in range(4):
        ss.__bits[word] = 0
    for s in sigs:
        if 1 <= s <= 128:
            word, bit = divmod(s - 1, 32)
            ss.__bits[word] |= 1 << bit
    return ss


class sigaction(ctypes.Structure):
    """struct sigaction, LP64 (32 bytes): handler, mask, flags.

    The handler union (``sa_handler``/``sa_sigaction``) is one pointer.
    """

    _fields_ = [("sa_handler", ctypes.c_uint64), ("sa_mask", sigset_t),
                ("sa_flags", ctypes.c_int32)]

    @property
    def sa_sigaction(self) -> int:
        return self.sa_handler


class _rt(ctypes.Structure):
    _fields_ = [("_pid", ctypes.c_int32), ("_uid", ctypes.c_uint32),
                ("_value", ctypes.c_uint64)]


class _ksiginfo(ctypes.Structure):
    """struct _ksiginfo, LP64: signal, code, errno, padding, then the reason (the
    _rt member: who sent it)."""

    _fields_ = [("_signo", ctypes.c_int32), ("_code", ctypes.c_int32),
                ("_errno", ctypes.c_int32), ("_pad", ctypes.c_int32), ("_reason", _rt)]


class siginfo_t(ctypes.Union):
    """siginfo_t: 128 bytes."""

    _fields_ = [("si_pad", ctypes.c_char * 128), ("_info", _ksiginfo)]

    @property
    def si_signo(self) -> int:
        return self._info._signo

    @property
    def si_code(self) -> int:
        return self._info._code

    @property
    def si_pid(self) -> int:
        return self._info._reason._pid

    @property
    def si_uid(self) -> int:
        return self._info._reason._uid


class stack_t(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_uint64), ("ss_size", ctypes.c_uint64),
                ("ss_flags", ctypes.c_int32)]


class mcontext_t(ctypes.Structure):
    """amd64's mcontext_t: 26 general registers, the TLS base, the FPU area."""

    _fields_ = [("__gregs", ctypes.c_uint64 * 26), ("_mc_tlsbase", ctypes.c_uint64),
                ("__fpregs", ctypes.c_char * 512)]


class ucontext_t(ctypes.Structure):
    """struct __ucontext (amd64, 784 bytes)."""

    _fields_ = [("uc_flags", ctypes.c_uint32), ("uc_link", ctypes.c_uint64),
                ("uc_sigmask", sigset_t), ("uc_stack", stack_t), ("uc_mcontext", mcontext_t)]


def ksiginfo_to_user(ksi: ksiginfo, si: siginfo_t) -> None:
    """Fill the user's siginfo_t from a ksiginfo."""
    ctypes.memset(ctypes.addressof(si), 0, ctypes.sizeof(si))
    si._info._signo = ksi.ksi_signo
    si._info._code = ksi.ksi_code
    si._info._errno = ksi.ksi_errno
    si._info._reason._pid = ksi.ksi_pid
    si._info._reason._uid = ksi.ksi_uid


# ---------------------------------------------------------------- sigaction

async def sys___sigaction_sigtramp(l: lwp, uap: Any, retval: list[Any]) -> int:
    """__sigaction_sigtramp(signum, nsa, osa, tramp, vers): sigaction(2)."""
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
        if error:
            return error
    return 0


def sigaction1(l: lwp, signum: int, nsa: sigaction | None, osa: sigaction | None,
               tramp: int, vers: int) -> int:
    """Read and/or change what the process of ``l`` does on ``signum``."""
    if signum <= 0 or signum >= NSIG:
        return EINVAL
    p = l.l_proc

    # A handler needs a trampoline of a version kemu knows (2 or 3: siginfo);
    # SIG_IGN and SIG_DFL need none.  The sigcontext versions 0 and 1 would
    # need the compat module (not in kemu).
    if nsa is not None and nsa.sa_handler != SIG_IGN and nsa.sa_handler != SIG_DFL:
        if vers in (2, 3):
            if not tramp:
                return EINVAL
        else:
            return EINVAL

    sd = sigact(p, signum)
    if osa is not None:
        osa.sa_handler = sd.sa_handler
        set_to_sigset(sd.sa_mask, osa.sa_mask)
        osa.sa_flags = sd.sa_flags
    if nsa is None:
        return 0

    prop = sigprop(signum)
    if nsa.sa_flags & ~SA_ALLBITS or prop & SA_CANTMASK:
        return EINVAL

    flags = int(nsa.sa_flags)
    mask = sigset_to_set(nsa.sa_mask) - sigcantmask
    if prop & SA_NORESET:
        flags &= ~SA_RESETHAND

    if signum == SIGCHLD:
        if flags & SA_NOCLDSTOP:
            p.p_sflag |= PS_NOCLDSTOP
        else:
            p.p_sflag &= ~PS_NOCLDSTOP
        # SA_NOCLDWAIT and SIG_IGN give dying children to init; init itself may
        # not ask for it.
        if flags & SA_NOCLDWAIT and p.p_pid != 1:
            p.p_flag |= PK_NOCLDWAIT
        else:
            p.p_flag &= ~PK_NOCLDWAIT
        if nsa.sa_handler == SIG_IGN and p.p_pid != 1:
            p.p_flag |= PK_CLDSIGIGN
        else:
            p.p_flag &= ~PK_CLDSIGIGN

    if flags & SA_NODEFER == 0:
        mask.add(signum)
    else:
        mask.discard(signum)
    p.p_sigacts[signum] = sigdesc(int(nsa.sa_handler), frozenset(mask), flags, int(tramp),
                                  int(vers))

    # A signal set to be ignored (SIG_IGN, or SIG_DFL whose default ignores)
    # is never to be seen again: drop it if pending.
    if nsa.sa_handler == SIG_IGN or (nsa.sa_handler == SIG_DFL and prop & SA_IGNORE):
        sigclearall(p, {signum})

    # Signals held back until now may be visible: look for them before the
    # return to user mode.
    if sigispending(l, 0):
        l.l_flag |= LW_PENDSIG
    return 0


# ---------------------------------------------------------------- masks

async def sys___sigprocmask14(l: lwp, uap: Any, retval: list[Any]) -> int:
    """__sigprocmask14(how, set, oset): sigprocmask(2)."""
    nss = None
    if uap.set:
        ss = sigset_t()
        error = copyin(uap.set, ss, ctypes.sizeof(ss))
        if error:
            return error
        nss = sigset_to_set(ss)
    oss: list[frozenset[int]] = [frozenset()]
    error = sigprocmask1(l, uap.how, nss, oss if uap.oset else None)
    if error:
        return error
    if uap.oset:
        out = set_to_sigset(oss[0])
        error = copyout(out, uap.oset, ctypes.sizeof(out))
        if error:
            return error
    return 0


async def sys___sigpending14(l: lwp, uap: Any, retval: list[Any]) -> int:
    """__sigpending14(set): sigpending(2)."""
    ss = set_to_sigset(sigpending1(l))
    return copyout(ss, uap.set, ctypes.sizeof(ss))


async def sys___sigsuspend14(l: lwp, uap: Any, retval: list[Any]) -> int:
    """__sigsuspend14(set): sigsuspend(2); always EINTR."""
    mask = None
    if uap.set:
        ss = sigset_t()
        error = copyin(uap.set, ss, ctypes.sizeof(ss))
        if error:
            return error
        mask = sigset_to_set(ss)
    return await sigsuspend1(l, mask)


# ---------------------------------------------------------------- kill

def _may_signal(l: lwp, p: proc) -> bool:
    """kauth's KAUTH_PROCESS_SIGNAL: root, or a user id in common."""
    from kern.kern_auth import kauth_cred_issuser

    c = l.l_cred
    if kauth_cred_issuser(c):
        return True
    t = p.p_cred
    return c.cr_uid in (t.cr_uid, t.cr_euid) or c.cr_euid in (t.cr_uid, t.cr_euid)


def kill1(l: lwp, pid: int, ksi: ksiginfo, retval: list[Any]) -> int:
    """Send ``ksi`` to process ``pid``, or (pid <= 0) through killpg1."""
    from kern.cpu import curmachine
    from kern.kern_lwp import SACTIVE, SSTOP

    signo = ksi.ksi_signo
    if signo < 0 or signo >= NSIG:
        return EINVAL
    if pid > 0:
        # kill a single process
        p = curmachine().procs.get(pid)
        if p is None or (p.p_stat != SACTIVE and p.p_stat != SSTOP):
            return 0 if p is not None else ESRCH  # IEEE Std 1003.1-2001: zombies succeed
        if not _may_signal(l, p):
            return EPERM
        if signo:
            kpsignal2(p, ksi)
        return 0
    if pid == -1:
        return killpg1(l, ksi, 0, True)  # broadcast
    if pid == 0:
        return killpg1(l, ksi, 0, False)  # the caller's own process group
    return killpg1(l, ksi, -pid, False)  # a process group named by -pid


def killpg1(l: lwp, ksi: ksiginfo, pgid: int, all_: bool) -> int:
    """Signal a process group (pgid, 0 the caller's) or, ``all_``, everyone.

    Members that are system processes (pid 0 and 1, PK_SYSTEM) are skipped,
    and so are those the caller may not signal: none found is ESRCH.  The
    broadcast also skips the caller.  kemu's process groups have one member
    each (see the module's deviations).
    """
    from kern.cpu import curmachine
    from kern.kern_lwp import PK_SYSTEM, SZOMB

    signo = ksi.ksi_signo
    cp = l.l_proc
    nfound = 0
    procs = curmachine().procs
    if all_:
        for p in list(procs.values()):
            if p.p_pid <= 1 or p.p_flag & PK_SYSTEM or p is cp:
                continue
            if _may_signal(l, p):
                nfound += 1
                if signo:
                    kpsignal2(p, ksiginfo(signo, ksi.ksi_code, ksi.ksi_pid, ksi.ksi_uid))
    else:
        if pgid == 0:
            members = [cp]  # pgrp = cp->p_pgrp
        else:
            leader = procs.get(pgid)  # pgrp_find(pgid)
            if leader is None:
                return ESRCH
            members = [leader]
        for p in members:
            if p.p_pid <= 1 or p.p_flag & PK_SYSTEM:
                continue
            if _may_signal(l, p):
                nfound += 1
                if signo and p.p_stat != SZOMB:
                    kpsignal2(p, ksiginfo(signo, ksi.ksi_code, ksi.ksi_pid, ksi.ksi_uid))
    return 0 if nfound else ESRCH


async def sys_kill(l: lwp, uap: Any, retval: list[Any]) -> int:
    """kill(pid, signum)."""
    from kern.kern_auth import kauth_cred_geteuid

    ksi = ksiginfo(uap.signum, SI_USER, l.l_proc.p_pid, kauth_cred_geteuid(l.l_cred))
    return kill1(l, uap.pid, ksi, retval)


# ---------------------------------------------------------------- contexts

def getucontext(l: lwp, uc: ucontext_t) -> None:
    """The context of ``l``: its mask and (cpu_getmcontext) its machine state."""
    from kern.sig_machdep import cpu_getmcontext

    uc.uc_flags = 0
    uc.uc_link = l.l_ctxlink
    set_to_sigset(l.l_sigmask, uc.uc_sigmask)
    uc.uc_flags |= _UC_SIGMASK
    # No sigaltstack in kemu: the stack is never the alternate one.
    uc.uc_flags |= _UC_STACK
    uc.uc_flags = cpu_getmcontext(l, uc.uc_mcontext, uc.uc_flags)


def setucontext(l: lwp, uc: ucontext_t) -> int:
    """Install the context ``uc`` in ``l``: its mask, then its machine state."""
    from kern.sig_machdep import cpu_setmcontext

    if uc.uc_flags & _UC_SIGMASK:
        error = sigprocmask1(l, SIG_SETMASK, sigset_to_set(uc.uc_sigmask), None)
        if error:
            return error
    error = cpu_setmcontext(l, uc.uc_mcontext, uc.uc_flags)
    if error:
        return error
    l.l_ctxlink = int(uc.uc_link)
    return 0


async def sys_getcontext(l: lwp, uap: Any, retval: list[Any]) -> int:
    """getcontext(ucp)."""
    uc = ucontext_t()
    getucontext(l, uc)
    return copyout(uc, uap.ucp, ctypes.sizeof(uc))


async def sys_setcontext(l: lwp, uap: Any, retval: list[Any]) -> int:
    """setcontext(ucp): never returns to its caller (EJUSTRETURN)."""
    uc = ucontext_t()
    error = copyin(uap.ucp, uc, ctypes.sizeof(uc))
    if error:
        return error
    if uc.uc_flags & _UC_CPU == 0:
        return EINVAL
    error = setucontext(l, uc)
    if error:
        return error
    return EJUSTRETURN

