"""The machine-dependent half of signal delivery: frames, contexts, the return to
user mode at a handler (sys/arch/amd64/amd64/machdep.c's sendsig_siginfo,
buildcontext, cpu_getmcontext, cpu_setmcontext; NetBSD 8).

On amd64, ``sendsig_siginfo`` writes a ``struct sigframe_siginfo`` below the
user's stack pointer: the return address (the trampoline given with
sigaction), the siginfo, and the ucontext of the interrupted code (with the
mask to restore); ``buildcontext`` points the trap frame at the handler with
the three arguments in registers.  When the lwp returns to user mode the
handler runs, returns into the trampoline, and the trampoline calls
setcontext(2) with the frame's ucontext, which restores the mask and the
registers: the interrupted code goes on (an interrupted system call
returns its error, EINTR, or is issued again, ERESTART, the PC having been
backed up before the frame was built).

kemu's programs are Python functions run by their lwp, so "user mode" is
the lwp's own Python code outside the kernel, and "the code at an address"
is the function the process's text holds there (``uvm_text_map``: libc
gives a handler its address when it is passed to sigaction).  The same
steps happen with those means:

* ``sendsig_siginfo`` is NetBSD's, the frame going into a fresh mapping of
  the process's user memory (kemu's programs have no stack in it) and
  ``buildcontext`` pushing a record of the new "registers" (handler, frame,
  signal, calling convention) on ``l.l_md_sigframes``;
* the system call's return to user mode (kern/syscall.py) ends with
  ``sigframe_return``: the frames built since the call entered the kernel
  run, newest first (as the CPU would enter the last handler first), each
  handler called with ``(signo)``, or ``(signo, siginfo address, ucontext
  address)`` for SA_SIGINFO, awaited when it is a coroutine function; then
  the code at the frame's ``sf_ra`` (libc's trampoline) gets the ucontext
  address and calls setcontext(2).  The frame's memory is unmapped when it
  is done (the stack pointer is back above it).  The interrupted call's
  state is the Python frame that called ``sigframe_return``: it resumes by
  itself, so ``cpu_setmcontext`` has no registers to load.
* a handler (or trampoline) address with no code is a fault at that PC:
  ``trapsignal(SIGSEGV)``, taken at once (the default ends the process); if
  the process lives on (a SIGSEGV handler, or init, whose defaults are
  never taken), the frame is abandoned with its context restored, where
  NetBSD would fault again at the same PC.
* a handler that raises (a Python exception leaving it, as a siglongjmp out
  of it would) still has its frame's context restored through the
  trampoline before the exception goes on into the interrupted program;
  an lwp whose process exits while in the handler just leaves.

Deviations: no sigaltstack (SA_ONSTACK frames go on the ordinary "stack"),
and the mcontext's registers are zero.
"""

from __future__ import annotations

import ctypes
import inspect
from typing import TYPE_CHECKING, Any

from kern.errno import EFAULT, EINVAL
from kern.kern_exit import lwp_exit
from kern.kern_lwp import LSSUSPENDED, LW_PENDSIG, LW_WEXIT, LW_WSUSPEND, PS_WEXIT
from kern.kern_sig import issignal, postsig
from kern.sys_sig import (
    _UC_CLRSTACK,
    _UC_CPU,
    _UC_SIGMASK,
    SA_SIGINFO,
    ksiginfo_to_user,
    mcontext_t,
    set_to_sigset,
    siginfo_t,
    ucontext_t,
)

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.kern_sig import ksiginfo

# si_code for SIGSEGV (sys/siginfo.h)
SEGV_MAPERR = 1

# An mcontext made by kemu's cpu_getmcontext says so in its TLS base slot, so
# setcontext can tell a context of this machine from garbage.
_KEMU_MC_MAGIC = 0x6b656d75  # "kemu"


class sigframe_siginfo(ctypes.Structure):
    """struct sigframe_siginfo (amd64): the return address, then the siginfo and
    the ucontext the handler gets pointers to."""

    _fields_ = [("sf_ra", ctypes.c_uint64), ("sf_si", siginfo_t), ("sf_uc", ucontext_t)]


class md_sigframe:
    """What buildcontext leaves in the trap frame: where user mode resumes (the
    handler), its arguments, and the frame on the "stack"."""

    __slots__ = ("catcher", "fp", "sig", "sip", "ucp", "siginfo")

    def __init__(self, catcher: int, fp: int, sig: int, siginfo: bool) -> None:
        self.catcher = catcher
        self.fp = fp
        self.sig = sig
        self.sip = fp + sigframe_siginfo.sf_si.offset
        self.ucp = fp + sigframe_siginfo.sf_uc.offset
        self.siginfo = siginfo

    def __repr__(self) -> str:
        return f"<md_sigframe sig {self.sig} at {self.catcher:#x} frame {self.fp:#x}>"


def cpu_getmcontext(l: lwp, mcp: mcontext_t, flags: int) -> int:
    """The machine state of ``l`` into ``mcp``; returns the flags with _UC_CPU."""
    ctypes.memset(ctypes.addressof(mcp), 0, ctypes.sizeof(mcp))
    mcp._mc_tlsbase = _KEMU_MC_MAGIC
    return flags | _UC_CPU


def cpu_setmcontext(l: lwp, mcp: mcontext_t, flags: int) -> int:
    """Load the machine state ``mcp`` into ``l``: EINVAL for a context kemu did not
    make (its registers would be nonsense for the interrupted code)."""
    if flags & _UC_CPU and mcp._mc_tlsbase != _KEMU_MC_MAGIC:
        return EINVAL
    return 0


async def sendsig_siginfo(ksi: ksiginfo, mask: frozenset[int]) -> None:
    """Build the frame for a caught signal and point user mode at its handler."""
    from kern.cpu import curlwp
    from kern.kern_sig import SIGILL, sendsig_reset, sigact, sigexit
    from kern.subr_copy import VM_MAXUSER_ADDRESS, copyout

    l = curlwp()
    p = l.l_proc
    sig = ksi.ksi_signo
    sd = sigact(p, sig)
    catcher = sd.sa_handler

    frame = sigframe_siginfo()
    frame.sf_ra = sd.sd_tramp
    ksiginfo_to_user(ksi, frame.sf_si)
    frame.sf_uc.uc_flags = _UC_SIGMASK
    set_to_sigset(mask, frame.sf_uc.uc_sigmask)
    frame.sf_uc.uc_link = l.l_ctxlink
    frame.sf_uc.uc_flags |= _UC_CLRSTACK     # never on a sigaltstack in kemu
    sendsig_reset(l, sig)

    frame.sf_uc.uc_flags = cpu_getmcontext(l, frame.sf_uc.uc_mcontext, frame.sf_uc.uc_flags)
    # The frame goes on the "stack": a fresh mapping of the process's memory.
    vm = p.p_vmspace
    fp = vm.map(ctypes.sizeof(frame)) if vm is not None and not vm.vm_kernel else 0
    error = copyout(frame, fp, ctypes.sizeof(frame)) if fp else EFAULT
    if error:
        # The process has trashed its stack: an illegal instruction halts it.
        if fp:
            vm.unmap(fp)
        await sigexit(l, SIGILL)
        return

    buildcontext(l, catcher, fp, sig, bool(sd.sa_flags & SA_SIGINFO))

    if catcher >= VM_MAXUSER_ADDRESS:
        # An invalid address for the handler: stop the process (after the
        # frame was built, so the right information is there).
        await sigexit(l, SIGILL)


def buildcontext(l: lwp, catcher: int, fp: int, sig: int, siginfo: bool) -> None:
    """Point ``l``'s return to user mode at ``catcher`` with the frame at ``fp``."""
    l.l_md_sigframes.append(md_sigframe(catcher, fp, sig, siginfo))


# ---------------------------------------------------------------- user mode

async def lwp_userret(l: lwp) -> None:
    """kern_lwp.c's lwp_userret (read at 1.180), on the way to user mode: an lwp
    of an exiting process, or told to exit (LW_WEXIT: exit_lwps), leaves;
    pending signals are taken when LW_PENDSIG says to look (``while ((sig =
    issignal(l)) != 0) postsig(sig)``); an lwp told to suspend itself
    (LW_WSUSPEND: the halt's suspendsched, kern/kern_synch.py) does it here,
    LSSUSPENDED, off the CPU until ``lwp_continue``, which never comes for
    LW_WREBOOT (or until exit_lwps's ``setrunnable``).

    NetBSD loops while any LW_USERRET bit is set and looks at signals first
    unless the lwp is to exit (LW_WEXIT; kemu tests it, and PS_WEXIT, first,
    to the same effect); a suspended lwp that is resumed goes round again.
    ``p_nrlwps``, the ``p_lwpcv`` broadcast of an lwp suspending itself
    (what a core dump waits on) and ``pcu_save_all`` have no counterpart in
    kemu.
    """
    p = l.l_proc
    while True:
        if p.p_sflag & PS_WEXIT or l.l_flag & LW_WEXIT:
            lwp_exit(l)
        if l.l_flag & LW_PENDSIG:
            while (sig := issignal(l)) != 0:
                await postsig(sig)
        if not l.l_flag & LW_WSUSPEND:
            return
        ci = l.l_cpu
        l.l_stat = LSSUSPENDED
        if ci.tracing:
            ci.m.trace_add(l, "suspend")
        await ci.block(l)   # mi_switch: until it is made runnable again


async def sigframe_return(l: lwp, depth: int) -> None:
    """Return to user mode: run the frames built above ``depth`` (newest first)."""
    while len(l.l_md_sigframes) > depth:
        fr = l.l_md_sigframes.pop()
        await _sigframe_run(l, fr)


async def _call_user(code: Any, *args: Any) -> None:
    r = code(*args)
    if inspect.isawaitable(r):
        await r


async def _sigframe_run(l: lwp, fr: md_sigframe) -> None:
    """User mode at the handler of ``fr``, then at its return address."""
    from kern.exceptions import KernelError
    from kern.kern_lwp import KthreadExit
    from kern.subr_copy import uvm_text_lookup

    p = l.l_proc
    try:
        code = uvm_text_lookup(p.p_vmspace, fr.catcher)
        if code is None:
            await _fault(l, fr, fr.catcher)
            return
        args = (fr.sig, fr.sip, fr.ucp) if fr.siginfo else (fr.sig,)
        try:
            await _call_user(code, *args)
        except (KthreadExit, KernelError):
            raise
        except BaseException:
            # Leaving the handler by an exception unwinds its frame: the
            # context is restored as the trampoline would, then it goes on.
            if not _exiting(l):
                await _trampoline(l, fr)
            raise
        await _trampoline(l, fr)
    finally:
        _pop_frame(l, fr)


async def _trampoline(l: lwp, fr: md_sigframe) -> None:
    """The handler returns to ``sf_ra`` (read back from the frame, where the
    handler could have changed it): the trampoline, given the ucontext."""
    from kern.subr_copy import copyin, uvm_text_lookup

    ra = ctypes.c_uint64()
    if copyin(fr.fp, ra, 8):
        await _fault(l, fr, 0)
        return
    tramp = uvm_text_lookup(l.l_proc.p_vmspace, ra.value)
    if tramp is None:
        await _fault(l, fr, ra.value)
        return
    await _call_user(tramp, fr.ucp)


def _exiting(l: lwp) -> bool:
    from kern.kern_lwp import PS_WEXIT

    return bool(l.l_proc.p_sflag & PS_WEXIT)


async def _fault(l: lwp, fr: md_sigframe, pc: int) -> None:
    """A jump to ``pc``, where there is no code: SIGSEGV as a trap, taken now.  If
    the process survives it, the frame is given up with its context restored."""
    from kern.kern_sig import SIGSEGV, ksiginfo, trapsignal
    from kern.sys_sig import setucontext

    trapsignal(l, ksiginfo(SIGSEGV, SEGV_MAPERR))
    depth = len(l.l_md_sigframes)
    await lwp_userret(l)
    await sigframe_return(l, depth)
    uc = _frame_ucontext(l, fr)
    if uc is not None:
        setucontext(l, uc)


def _frame_ucontext(l: lwp, fr: md_sigframe) -> ucontext_t | None:
    from kern.subr_copy import copyin

    uc = ucontext_t()
    if copyin(fr.ucp, uc, ctypes.sizeof(uc)):
        return None
    return uc


def _pop_frame(l: lwp, fr: md_sigframe) -> None:
    """The stack pointer is back above the frame: its memory goes."""
    vm = l.l_proc.p_vmspace
    if vm is not None and not vm.vm_kernel:
        vm.unmap(fr.fp)
