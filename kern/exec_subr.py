"""What exec leaves on the new image's stack: ps_strings and copyargs
(copyargs of sys/kern/kern_exec.c, struct ps_strings of sys/sys/exec.h, NetBSD 8;
kern_exec.c's revision: 1.418 (2015/10/02), the copy nearest to NetBSD 8 in
the reference store, named without a line-by-line re-comparison).

kemu does not load programs: a command is a Python function that execve(2)
(kern/kern_exec.py) hands to the process as its new image.  What NetBSD's
execve leaves behind for everybody else to see is the new process's
arguments on its stack, found through
``p->p_psstrp``, a ``struct ps_strings`` that ps(1) reads with sysctl
kern.proc_args.  ``copyargs`` lays them out the same way: ``argv`` and
``envp`` pointer vectors (NULL-terminated), the strings, and the
ps_strings struct, all in the process's user memory.

Deviations: the "stack" is a mapping of its own, not the top of a stack
the program runs on; there is no environment yet (``ps_nenvstr`` is 0
unless a caller passes one); no argc word precedes ``argv`` (nothing reads it).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from kern.errno import E2BIG, ENOMEM
from kern.exceptions import SyscallError
from kern.param import ARG_MAX
from kern.subr_copy import copyout_vmspace, uvm_map_user

if TYPE_CHECKING:
    from kern.kern_lwp import lwp


class ps_strings(ctypes.Structure):
    """struct ps_strings (LP64, 32 bytes)."""

    _fields_ = [("ps_argvstr", ctypes.c_uint64), ("ps_nargvstr", ctypes.c_int32),
                ("ps_envstr", ctypes.c_uint64), ("ps_nenvstr", ctypes.c_int32)]


def copyargs(l: lwp, argv: list[str | bytes], envp: list[str | bytes] | None = None) -> int:
    """Put ``argv`` (and ``envp``) in the user memory of ``l``'s process and point
    ``p_psstrp`` at their ps_strings: 0, or E2BIG / ENOMEM as execve answers."""
    p = l.l_proc
    envp = envp or []

    def enc(s: str | bytes) -> bytes:
        return (s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s) + b"\0"

    astr = [enc(a) for a in argv]
    estr = [enc(e) for e in envp]
    strsize = sum(map(len, astr)) + sum(map(len, estr))
    if strsize > ARG_MAX:
        return E2BIG
    pss = ps_strings()
    vecsize = 8 * (len(astr) + 1 + len(estr) + 1)
    total = ctypes.sizeof(pss) + vecsize + strsize
    try:
        base = uvm_map_user(p, total)
    except SyscallError:
        return ENOMEM
    vm = p.p_vmspace
    argvp = base + ctypes.sizeof(pss)
    envpp = argvp + 8 * (len(astr) + 1)
    sp = envpp + 8 * (len(estr) + 1)
    vec = bytearray()
    for vecstrs in (astr, estr):
        for s in vecstrs:
            vec += sp.to_bytes(8, "little")
            error = copyout_vmspace(vm, bytearray(s), sp, len(s))
            if error:
                return error
            sp += len(s)
        vec += bytes(8)                 # the NULL that ends the vector
    error = copyout_vmspace(vm, vec, argvp, len(vec))
    if error:
        return error
    pss.ps_argvstr = argvp
    pss.ps_nargvstr = len(astr)
    pss.ps_envstr = envpp
    pss.ps_nenvstr = len(estr)
    error = copyout_vmspace(vm, pss, base, ctypes.sizeof(pss))
    if error:
        return error
    p.p_psstrp = base
    return 0
