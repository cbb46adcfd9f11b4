"""The system-call boundary: the syscall table and the trap into the kernel.

Userland (lib/libc.py) enters the kernel only through
``await syscall(code, *args)``, in its own lwp.  ``code`` is NetBSD's
system-call number (sys/syscall.h; the ``SYS_*`` constants below) and the
arguments are register values: ints (None is NULL).  The dispatcher

1. finds the handler of ``code & (SYS_NSYSENT - 1)`` (so 512 + n is call
   n, as on NetBSD), SIGSYS and ENOSYS for a number with none;
2. converts the arguments to the C types syscalls.master gives them and
   builds the ``uap`` object whose attributes are the argument names
   (``SCARG(uap, fd)`` is ``uap.fd``; a name that is a Python keyword gets
   a trailing underscore: ``uap.from_``);
3. runs ``error = await handler(l, uap, retval)`` with ``retval = [0, 0]``;
4. re-runs the call when it answers ERESTART (after the signal that
   interrupted it was taken and its handler ran, as NetBSD restarts a call
   after an SA_RESTART handler); EJUSTRETURN leaves retval alone;
5. takes pending signals on the way out (userret: kern_sig's issignal and
   postsig); a signal whose default action kills ends the process there
   (sigexit), and an lwp whose process is exiting leaves at its next entry
   or return (lwp_exit: the program's stack unwinds with
   ``kern.kern_lwp.LwpExit``); the handlers of caught signals run in the
   lwp before the call returns to its caller (kern/sig_machdep.py), newest
   frame first, and then the call returns its result or error (EINTR for
   an interrupted one without SA_RESTART);
6. returns ``retval[0]`` (``syscall2`` returns both return registers, for
   pipe(2)), or raises ``kern.SyscallError(errno)`` with NetBSD's number.

A Python exception escaping a handler is a kernel bug: the dispatcher turns
it into ``panic()``, which ends the machine with ``kern.KernelPanic`` naming
the system call and the exception.

Other layers add their calls with ``syscall_register(number, name, handler,
argnames)`` at import time (the base kernel's table, like NetBSD's
compiled-in sysent), or per machine with ``syscall_establish`` (loadable
modules, tests).  ``argnames`` are syscalls.master's declarations, e.g.
``("int fd", "void *buf", "size_t nbyte")``; a bare name takes the value as
given.

Not a port: kemu's own trap path.  It mirrors the machine-independent
shape of NetBSD 8's amd64 system-call path (sys/arch/x86/x86/syscall.c:
mask the number with SYS_NSYSENT - 1, look it up in sysent, fetch the
arguments, call, ERESTART and EJUSTRETURN, then userret), the sysent table of syscalls.master and
init_sysent.c (NetBSD's numbers), and syscall_establish/
syscall_disestablish of sys/kern/kern_syscall.c.  Where it differs:

* Arguments are Python values converted by the declared C types; one that
  is not a register value is EFAULT.  There is no copyin of arguments
  from a user stack and no 32-bit emulation.
* ERESTART re-runs the call in a loop after userret, instead of moving the
  PC back to the trap instruction.
* A Python exception from a handler panics the machine (a kernel bug),
  and so does a handler that returns something other than an int.
* Entering and leaving the kernel are preemption points of kemu's
  scheduler; every so many traps the trio run takes host events.
* A ``code`` that is not an int (a name, None) is ENOSYS with SIGSYS, as
  an empty slot is; NetBSD has only register values.
* Registration is by Python call (``syscall_register`` at import time for
  the base kernel, ``syscall_establish`` per machine).
* ``syscall_establish`` answers EINVAL, with a kernel message naming the
  number, for a number outside 0 to SYS_NSYSENT - 1: NetBSD's
  (kern_syscall.c 1.11 and later revisions read) does not check it, and its
  ``sp_code`` (a u_short) then indexes past ``e_sysent``; kemu's table is a
  dict, where such an entry would only be unreachable through the mask.
"""

from __future__ import annotations

import ctypes
import keyword
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import trio

from kern.cpu import MachineLocal, curlwp, curlwp_or_none, curmachine
from kern.errno import EBUSY, EFAULT, EINVAL, EJUSTRETURN, ENOENT, ENOSYS, ERESTART
from kern.exceptions import KernelError, SyscallError
from kern.kern_lwp import LW_WEXIT, LW_WSUSPEND, PS_WEXIT, KthreadExit
from kern.kern_synch import preempt
from kern.sig_machdep import lwp_userret, sigframe_return
from kern.subr_prf import panic

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.machine import Machine

SyscallHandler = Callable[["lwp", Any, list[Any]], Awaitable[int]]

# sys/syscall.h: the numbers kemu's layers use (NetBSD's, from syscalls.master).
SYS_syscall = 0
SYS_exit = 1
SYS_fork = 2
SYS_read = 3
SYS_write = 4
SYS_open = 5
SYS_close = 6
SYS_link = 9
SYS_unlink = 10
SYS_chdir = 12
SYS_fchdir = 13
SYS_chmod = 15
SYS_chown = 16
SYS_getpid = 20
SYS_unmount = 22
SYS_setuid = 23
SYS_getuid = 24
SYS_geteuid = 25
SYS_access = 33
SYS_chflags = 34
SYS_fchflags = 35
SYS_sync = 36
SYS_kill = 37
SYS_getppid = 39
SYS_dup = 41
SYS_pipe = 42
SYS_getegid = 43
SYS_getgid = 47
SYS_ioctl = 54
SYS_revoke = 56
SYS_symlink = 57
SYS_readlink = 58
SYS_execve = 59
SYS_umask = 60
SYS_chroot = 61
SYS_dup2 = 90
SYS_fcntl = 92
SYS_fsync = 95
SYS_readv = 120
SYS_writev = 121
SYS_fchown = 123
SYS_fchmod = 124
SYS_rename = 128
SYS_flock = 131
SYS_mkfifo = 132
SYS_mkdir = 136
SYS_rmdir = 137
SYS_pread = 173
SYS_pwrite = 174
SYS_pathconf = 191
SYS_fpathconf = 192
SYS_getrlimit = 194
SYS_setrlimit = 195
SYS_lseek = 199
SYS_truncate = 200
SYS_ftruncate = 201
SYS___sysctl = 202
SYS_poll = 209
SYS_fdatasync = 241
SYS_modctl = 246
SYS_lchmod = 274
SYS_lchown = 275
SYS___getcwd = 296
SYS_fchroot = 297
SYS_preadv = 289
SYS_pwritev = 290
SYS___sigpending14 = 292
SYS___sigprocmask14 = 293
SYS___sigsuspend14 = 294
SYS_getcontext = 307
SYS_setcontext = 308
SYS___sigaction_sigtramp = 340
SYS_fsync_range = 354
SYS_getvfsstat = 356
SYS_statvfs1 = 357
SYS_fstatvfs1 = 358
SYS___getdents30 = 390
SYS___getfh30 = 395
SYS___fhopen40 = 396
SYS___mount50 = 410
SYS___utimes50 = 420
SYS___adjtime50 = 421
SYS___futimes50 = 423
SYS___lutimes50 = 424
SYS___gettimeofday50 = 418
SYS___settimeofday50 = 419
SYS___clock_gettime50 = 427
SYS___clock_settime50 = 428
SYS___nanosleep50 = 430
SYS___stat50 = 439
SYS___fhstat50 = 451
SYS___fstat50 = 440
SYS___lstat50 = 441
SYS___wait450 = 449
SYS___mknod50 = 450
SYS_pipe2 = 453
SYS__lwp_self = 311
SYS__lwp_wakeup = 315

# The slots NetBSD keeps for dynamically loaded calls (tests use them too).
SYS_DYNAMIC_FIRST = 210
SYS_DYNAMIC_LAST = 219

# The size of NetBSD 8's sysent table (sys/syscall.h: SYS_MAXSYSCALL, 483,
# rounded up to a power of 2); the trap masks the number with it.
SYS_NSYSENT = 512


# ---------------------------------------------------------------- argument types

def _i32(v: int) -> int:
    v &= 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


def _u32(v: int) -> int:
    return v & 0xffffffff


def _i64(v: int) -> int:
    v &= 0xffffffffffffffff
    return v - (1 << 64) if v & (1 << 63) else v


def _u64(v: int) -> int:
    return v & 0xffffffffffffffff


def _raw(v: int) -> int:
    return v


_CONV: dict[str, Callable[[int], int]] = {}
for _t in ("int", "int32_t", "pid_t", "lwpid_t", "clockid_t", "key_t", "idtype_t", "psetid_t",
           "cpuid_t", "mqd_t", "timer_t", "short", "char"):
    _CONV[_t] = _i32
for _t in ("u_int", "unsigned", "uint32_t", "uid_t", "gid_t", "mode_t", "id_t", "u_short",
           "u_char", "uint16_t", "uint8_t"):
    _CONV[_t] = _u32
for _t in ("long", "off_t", "ssize_t", "intptr_t", "int64_t", "quad_t", "register_t",
           "time_t"):
    _CONV[_t] = _i64
for _t in ("u_long", "size_t", "uintptr_t", "uint64_t", "u_quad_t", "dev_t"):
    _CONV[_t] = _u64


#: The conversions as expressions of a register ``{}`` (make_uap writes them
#: out): the same values, without a call per argument.
_CONV_EXPR: dict[Callable[[int], int], str] = {
    _i32: "((({} & 0xffffffff) ^ 0x80000000) - 0x80000000)",
    _u32: "({} & 0xffffffff)",
    _i64: "((({} & 0xffffffffffffffff) ^ 0x8000000000000000) - 0x8000000000000000)",
    _u64: "({} & 0xffffffffffffffff)",
    _raw: "{}",
}


def _parse_arg(decl: str) -> tuple[str, Callable[[int], int]]:
    """``"const char *path"`` -> ("path", pointer conversion)."""
    text = decl.replace("*", " * ").split()
    if not text:
        raise ValueError("empty argument declaration")
    name = text[-1]
    if not name.isidentifier():
        raise ValueError(f"bad argument name in {decl!r}")
    ctype = [w for w in text[:-1] if w not in ("const", "volatile", "struct", "union")]
    if not ctype:
        return name, _raw
    if "*" in ctype:
        return name, _u64
    base = ctype[-1]
    if len(ctype) >= 2 and ctype[-2] == "unsigned":
        base = "u_" + base  # unsigned int -> u_int, unsigned long -> u_long
    return name, _CONV.get(base, _raw)


class _BadArgument(Exception):
    pass


def _register_value(v: Any) -> int:
    """What a register holds for an argument: an int (NULL for None)."""
    if v is None:
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, ctypes._SimpleCData):
        x = v.value
        if x is None:
            return 0
        if isinstance(x, int):
            return x
    raise _BadArgument(type(v).__name__)


class sysent:
    """struct sysent: one entry of the system-call table."""

    __slots__ = ("sy_number", "sy_name", "sy_call", "sy_argnames", "sy_conv", "sy_narg",
                 "sy_uap", "make_uap")

    def __init__(self, number: int, name: str, handler: SyscallHandler,
                 argnames: Sequence[str]) -> None:
        parsed = [_parse_arg(a) for a in argnames]
        self.sy_number = number
        self.sy_name = name
        self.sy_call = handler
        self.sy_argnames = tuple(n for n, _ in parsed)
        self.sy_conv = tuple(c for _, c in parsed)
        self.sy_narg = len(parsed)
        self.sy_uap = _uap_class(name, self.sy_argnames)
        self.make_uap = self._make_uap_fn()

    def _make_uap_fn(self) -> Callable[[Sequence[Any]], Any]:
        """make_uap(args): the call's uap from its argument registers.  Generated
        once per entry: with every register given (the usual case) each is
        converted in its own expression, without a loop."""
        n = self.sy_narg
        regs = [f"r{i}" for i in range(n)]
        conv = "".join(f", c{i}=c{i}" for i in range(n))

        def value(i: int, r: str) -> str:
            # the conversions written out (each is one expression of the
            # register), the others called
            form = _CONV_EXPR.get(self.sy_conv[i], f"c{i}({{}})")
            return f"{form.format(r)} if {r}.__class__ is int else {form.format(f'_rv({r})')}"

        # The uap built here, its slots stored one by one: no __init__ frame.
        stores = "".join(f"    u.{slot} = {value(i, r)}\n"
                         for i, (slot, r) in enumerate(zip(self.sy_uap.__slots__, regs,
                                                           strict=True)))
        src = (f"def make_uap(args, uap=uap, new=new, _rv=_rv, slow=slow{conv}):\n"
               f"    if len(args) != {n}:\n"
               f"        return slow(args)\n"
               + (f"    {', '.join(regs)}, = args\n" if n else "")
               + "    u = new(uap)\n" + stores + "    return u\n")
        ns: dict[str, Any] = {"uap": self.sy_uap, "new": object.__new__, "_rv": _register_value,
                              "slow": self._make_uap_short,
                              **{f"c{i}": c for i, c in enumerate(self.sy_conv)}}
        exec(src, ns)  # noqa: S102 - generated from the entry's argument count
        return ns["make_uap"]

    def _make_uap_short(self, args: Sequence[Any]) -> Any:
        """A call that gave another number of registers than the entry has:
        the missing ones are 0, extra ones are not read."""
        conv = self.sy_conv
        vals = []
        for i in range(self.sy_narg):
            v = _register_value(args[i]) if i < len(args) else 0
            vals.append(conv[i](v))
        return self.sy_uap(*vals)

    def __repr__(self) -> str:
        return f"<sysent {self.sy_number} {self.sy_name}({', '.join(self.sy_argnames)})>"


def _uap_class(name: str, argnames: tuple[str, ...]) -> type:
    """A small class holding one call's arguments under their C names."""
    slots = tuple(a + "_" if keyword.iskeyword(a) else a for a in argnames)
    # __init__(self, a, b, ...) storing each argument: generated source, so a
    # call does one assignment per register instead of a loop of setattr.
    params = "".join(f", {s}" for s in slots)
    body = "".join(f"\n    _uap.{s} = {s}" for s in slots) or "\n    pass"
    ns_init: dict[str, Any] = {}
    exec(f"def __init__(_uap{params}) -> None:{body}", ns_init)  # noqa: S102 - names checked
    __init__ = ns_init["__init__"]

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{a}={getattr(self, s)!r}" for a, s in zip(argnames, slots,
                                                                       strict=True))
        return f"sys_{name}_args({inner})"

    ns: dict[str, Any] = {"__slots__": slots, "__init__": __init__, "__repr__": __repr__}
    for a, s in zip(argnames, slots, strict=True):
        if a != s:  # the keyword spelling, for getattr(uap, "from")
            ns[a] = property(lambda self, s=s: getattr(self, s))
    return type(f"sys_{name}_args", (), ns)


# ---------------------------------------------------------------- the tables

_sysent: dict[int, sysent] = {}


def _machine_table() -> dict[int, sysent]:
    return {}


_machine_sysent = MachineLocal(_machine_table, "per-machine syscalls")


def syscall_register(number: int, name: str, handler: SyscallHandler,
                     argnames: Sequence[str] = ()) -> sysent:
    """Add a call to the base kernel's table (every machine sees it).

    ``handler`` is ``async def sys_x(l, uap, retval) -> int``.
    """
    if number in _sysent and _sysent[number].sy_call is not handler:
        raise ValueError(f"syscall {number} is already {_sysent[number].sy_name}")
    sy = sysent(number, name, handler, argnames)
    _sysent[number] = sy
    return sy


def syscall_establish(number: int, name: str, handler: SyscallHandler,
                      argnames: Sequence[str] = (), machine: Machine | None = None) -> int:
    """Add a call to one machine only (modules, tests): 0, EBUSY if the slot is
    taken, or EINVAL (and a kernel message naming it) for a number outside
    the table, which the trap's mask would never reach."""
    if not isinstance(number, int) or not 0 <= number < SYS_NSYSENT:
        m = machine if machine is not None else curmachine()
        m.msgbuf_put(f"syscall {number!r} is out of range (0 to {SYS_NSYSENT - 1})\n")
        return EINVAL
    table = _machine_sysent.of(machine) if machine is not None else _machine_sysent()
    if number in table:
        return EBUSY
    table[number] = sysent(number, name, handler, argnames)
    return 0


def syscall_disestablish(number: int, machine: Machine | None = None) -> int:
    """Remove a call syscall_establish added: 0, or ENOENT if there is none."""
    table = _machine_sysent.of(machine) if machine is not None else _machine_sysent()
    if table.pop(number, None) is None:
        return ENOENT
    return 0


def syscall_lookup(number: int) -> sysent | None:
    """The entry the current machine runs for ``number``."""
    sy = _machine_sysent().get(number)
    if sy is None:
        sy = _sysent.get(number)
    return sy


def syscall_names() -> dict[int, str]:
    """Number -> name of every call the current machine knows."""
    names = {n: s.sy_name for n, s in _sysent.items()}
    names.update({n: s.sy_name for n, s in _machine_sysent().items()})
    return dict(sorted(names.items()))


# ---------------------------------------------------------------- the trap

#: system calls between two looks at the host's queued calls (a power of 2)
_HOST_EVERY = 64
_traps = 0


async def _userret(l: lwp, depth: int) -> None:
    """Back to user mode: take the pending signals (a fatal one ends the process
    here, and an lwp of an exiting process leaves: neither returns), then run
    the handlers of the caught ones (the frames built above ``depth``)."""
    await lwp_userret(l)
    if len(l.l_md_sigframes) > depth:
        await sigframe_return(l, depth)


async def syscall2(code: int, *args: Any) -> tuple[Any, Any]:
    """As :func:`syscall`, returning both return registers (``retval[0], retval[1]``)."""
    rv = [0, 0]
    await syscall(code, *args, _rv=rv)
    return rv[0], rv[1]


async def syscall(code: int, *args: Any, _rv: list[Any] | None = None) -> Any:
    """Enter the kernel: run system call ``code`` with ``args`` in the calling lwp.

    Returns ``retval[0]``; a failure raises ``SyscallError`` with NetBSD's errno.
    (``_rv``: syscall2's list, which gets both return registers.  The trap is
    this one coroutine, not a wrapper around another: each level of
    coroutines costs every switch of a sleeping call twice.)
    """
    # (the ContextVar read without curlwp's frame; curlwp raises its error
    # when there is no lwp)
    l = curlwp_or_none() or curlwp()
    depth = len(l.l_md_sigframes)
    # Entering the kernel is a preemption point: another lwp may run
    # between this process's user code and its call.  (kern_synch.preempt,
    # its fast-path test inline; the decision is the CPU's preempt_point,
    # which hands back only what must be awaited: no coroutine level.)
    ci = l.l_cpu
    if not l.l_spinlocks and (ci.runq or ci.slow):
        sw = ci.preempt_point(l)
        if sw is not None:
            await sw
    if l.l_proc.p_sflag & PS_WEXIT or l.l_flag & LW_WEXIT:
        # The process is gone, or exit_lwps (exit1, execve) waits for this
        # lwp to leave: NetBSD's would have met LW_WEXIT in lwp_userret on
        # its way back to user mode, which kemu's user code does not pass
        # (kern/kern_exit.py's exit_lwps).  Nothing more runs in it.
        from kern.kern_exit import lwp_exit  # (kern_exit imports this module)

        lwp_exit(l)
    # Every so many calls the machine's trio run also takes what the host
    # has queued for it (call_soon: a Ctrl-C's SIGINT, an abandoned
    # request), as a CPU takes its interrupts at the trap, even while this
    # lwp is the only runnable one and never parks.  No scheduling decision
    # is made here, so a seeded run is the same.
    global _traps
    _traps += 1
    if not _traps & (_HOST_EVERY - 1):
        await trio.lowlevel.checkpoint()
    # As x86 syscall() does, only the low bits of the number select the
    # entry: a number past the table aliases the call it masks to.  (What
    # syscall_lookup does, with the machine taken from the lwp's CPU.)
    if code.__class__ is int or isinstance(code, int):
        n = code & (SYS_NSYSENT - 1)
        # (the machine's own table read from its locals without
        # MachineLocal.of's call: a machine that never established a call
        # has none, which is the same as an empty one)
        table = ci.m.locals.get(_machine_sysent)
        sy = (table.get(n) if table else None) or _sysent.get(n)
    else:
        sy = None
    if sy is None:
        # sys_nosys: SIGSYS to the process (its default action ends it with
        # a core at _userret), ENOSYS if it ignores or catches the signal.
        from kern.kern_sig import SIGSYS, psignal  # (kern_sig imports this module)

        psignal(l.l_proc, SIGSYS)
        await _userret(l, depth)
        raise SyscallError(ENOSYS, f"syscall {code!r}")
    try:
        uap = sy.make_uap(args)
    except _BadArgument as e:
        await _userret(l, depth)
        raise SyscallError(EFAULT, f"{sy.sy_name}: argument of type {e} is not a register "
                                   "value") from None
    while True:
        retval: list[Any] = [0, 0]
        try:
            error = await sy.sy_call(l, uap, retval)
        except (KernelError, trio.Cancelled, KthreadExit):
            raise
        except Exception as e:  # noqa: BLE001 - a kernel bug: panic with what escaped
            panic("syscall %s (%d): %s escaped the kernel: %s", sy.sy_name, sy.sy_number,
                  type(e).__name__, e)
            raise  # not reached
        if not isinstance(error, int):
            panic("syscall %s (%d): handler returned %s instead of an errno", sy.sy_name,
                  sy.sy_number, repr(error))
        if error == ERESTART:
            # Interrupted by a signal whose handler asked for SA_RESTART: the
            # PC goes back to the trap, the handler runs on the way to user
            # mode, then the call is issued again from the start (after a
            # preemption point, as the way back to userland has one).
            await _userret(l, depth)
            await preempt()
            continue
        break
    # Back to user mode.  _userret has nothing to do (lwp_userret: the
    # process is not exiting, issignal finds nothing pending, the lwp is not
    # to suspend itself; no handler frame was built) unless one of these holds.
    p = l.l_proc
    if p.p_sflag & PS_WEXIT or l.l_sigpend or p.p_sigpend or \
            l.l_flag & (LW_WSUSPEND | LW_WEXIT) or len(l.l_md_sigframes) > depth:
        await _userret(l, depth)
    # The way back to user mode (mi_userret) preempts when a wakeup made
    # another lwp runnable meanwhile: a preemption point.
    if not l.l_spinlocks and (ci.runq or ci.slow):
        sw = ci.preempt_point(l)
        if sw is not None:
            await sw
    if error == 0 or error == EJUSTRETURN:
        if _rv is not None:
            _rv[:] = retval
        return retval[0]
    raise SyscallError(error, sy.sy_name)


# ---------------------------------------------------------------- small calls

async def sys_getpid(l: lwp, uap: Any, retval: list[Any]) -> int:
    """getpid(): the pid, and the parent's pid in the second register (kern_prot.c)."""
    p = l.l_proc
    retval[0] = p.p_pid
    retval[1] = p.p_pptr.p_pid if p.p_pptr is not None else 0
    return 0


async def sys_getppid(l: lwp, uap: Any, retval: list[Any]) -> int:
    p = l.l_proc
    retval[0] = p.p_pptr.p_pid if p.p_pptr is not None else 0
    return 0


def _init_sysent() -> None:
    from kern.kern_descrip import sys_close, sys_dup, sys_dup2, sys_fcntl
    from kern.kern_exec import sys_execve
    from kern.kern_exit import sys___wait450, sys_exit
    from kern.kern_fork import sys_fork
    from kern.kern_time import sys___nanosleep50
    from kern.sys_generic import sys_ioctl, sys_read, sys_readv, sys_write, sys_writev
    from kern.sys_lwp import sys__lwp_self, sys__lwp_wakeup
    from kern.sys_pipe import sys_pipe, sys_pipe2
    from kern.sys_sig import (
        sys___sigaction_sigtramp,
        sys___sigpending14,
        sys___sigprocmask14,
        sys___sigsuspend14,
        sys_getcontext,
        sys_kill,
        sys_setcontext,
    )

    syscall_register(SYS_exit, "exit", sys_exit, ("int rval",))
    syscall_register(SYS_fork, "fork", sys_fork, ())
    syscall_register(SYS_read, "read", sys_read, ("int fd", "void *buf", "size_t nbyte"))
    syscall_register(SYS_write, "write", sys_write,
                     ("int fd", "const void *buf", "size_t nbyte"))
    syscall_register(SYS_close, "close", sys_close, ("int fd",))
    syscall_register(SYS_getpid, "getpid", sys_getpid, ())
    syscall_register(SYS_kill, "kill", sys_kill, ("int pid", "int signum"))
    syscall_register(SYS_getppid, "getppid", sys_getppid, ())
    syscall_register(SYS_dup, "dup", sys_dup, ("int fd",))
    syscall_register(SYS_pipe, "pipe", sys_pipe, ())
    syscall_register(SYS_pipe2, "pipe2", sys_pipe2, ("int *fildes", "int flags"))
    syscall_register(SYS_ioctl, "ioctl", sys_ioctl, ("int fd", "u_long com", "void *data"))
    syscall_register(SYS_dup2, "dup2", sys_dup2, ("int from", "int to"))
    syscall_register(SYS_execve, "execve", sys_execve,
                     ("const char *path", "char * const *argp", "char * const *envp"))
    syscall_register(SYS_fcntl, "fcntl", sys_fcntl, ("int fd", "int cmd", "void *arg"))
    syscall_register(SYS___wait450, "__wait450", sys___wait450,
                     ("pid_t pid", "int *status", "int options", "struct rusage *rusage"))
    syscall_register(SYS_readv, "readv", sys_readv,
                     ("int fd", "const struct iovec *iovp", "int iovcnt"))
    syscall_register(SYS_writev, "writev", sys_writev,
                     ("int fd", "const struct iovec *iovp", "int iovcnt"))
    syscall_register(SYS___sigaction_sigtramp, "__sigaction_sigtramp",
                     sys___sigaction_sigtramp,
                     ("int signum", "const struct sigaction *nsa", "struct sigaction *osa",
                      "const void *tramp", "int vers"))
    syscall_register(SYS___sigpending14, "__sigpending14", sys___sigpending14,
                     ("sigset_t *set",))
    syscall_register(SYS___sigprocmask14, "__sigprocmask14", sys___sigprocmask14,
                     ("int how", "const sigset_t *set", "sigset_t *oset"))
    syscall_register(SYS___sigsuspend14, "__sigsuspend14", sys___sigsuspend14,
                     ("const sigset_t *set",))
    syscall_register(SYS_getcontext, "getcontext", sys_getcontext, ("struct __ucontext *ucp",))
    syscall_register(SYS_setcontext, "setcontext", sys_setcontext,
                     ("const struct __ucontext *ucp",))
    syscall_register(SYS___nanosleep50, "__nanosleep50", sys___nanosleep50,
                     ("const struct timespec *rqtp", "struct timespec *rmtp"))
    syscall_register(SYS__lwp_self, "_lwp_self", sys__lwp_self, ())
    syscall_register(SYS__lwp_wakeup, "_lwp_wakeup", sys__lwp_wakeup, ("lwpid_t target",))


_init_sysent()
