"""Process information for userland: the sysctl half of NetBSD 8's sys/kern/kern_proc.c
(and struct kinfo_proc2 / kinfo_lwp of sys/sys/sysctl.h).  Revision:
kern_proc.c 1.194 (2015/09/24), the NetBSD 7.99 copy nearest to NetBSD 8
in the reference store (the first port did not record the one it read;
not re-compared line by line when it was named).

* ``kern.proc2.<op>.<arg>.<elemsize>.<count>`` (sysctl_doeproc): a
  ``struct kinfo_proc2`` per matching process (KERN_PROC_ALL, _PID, _PGRP,
  _SESSION, _TTY, _UID, _RUID, _GID, _RGID), filled by ``fill_kproc2``
  from the process and its most "active" lwp (proc_active_lwp);
* ``kern.proc_args.<pid>.<type>`` (sysctl_kern_proc_args): the argv
  (KERN_PROC_ARGV), its count (_NARGV), the environment (_ENV, _NENV) of
  a process, read from its user memory through ``p_psstrp`` as
  ``copy_procargs`` does (kern/exec_subr.py's copyargs put them there);
* ``kern.lwp.<pid>.<elemsize>.<count>`` (init_sysctl.c's sysctl_kern_lwp,
  here too): a ``struct kinfo_lwp`` per lwp.

ps(1), through tools/lib/libkvm.py, reads these.

kemu's processes have less state than NetBSD's, so some fields keep the
values fill_kproc2 gives when the source is empty or absent (deviations):

* no sessions, process groups or terminals: each process is the leader of
  its own process group and session (pgid = sid = pid, as sys_sig.py's
  kill(2) treats them), with no controlling terminal (``p_tdev`` NODEV);
* no CPU accounting, priorities or nice: times, ``p_pctcpu``,
  ``p_priority`` are 0 and ``p_nice`` is NZERO;
* the address-space sizes are the bytes the process has mapped (all
  resident: ``p_vm_rssize`` = ``p_vm_vsize`` = ``p_vm_msize``);
* a process with no lwp (kemu's shell process while its command runs, the
  init process between ``k.run`` calls) reports its process state,
  SACTIVE, as NetBSD's fill_kproc2 does before it looks at an lwp;
* kernel pointers are not disclosed: ``p_paddr`` is the pid, ``p_wchan``
  1 while an lwp sleeps, other pointers 0;
* no proc_lock/p_lock or reflock: the process table is walked without
  sleeping (copyout does not sleep here), so it cannot change underneath;
* every process may see every other (secmodel_suser's default curtain off).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.cpu import curmachine
from kern.errno import EBUSY, EINVAL, EIO, ENOMEM, ESRCH
from kern.kern_auth import (
    kauth_cred_getegid,
    kauth_cred_geteuid,
    kauth_cred_getgid,
    kauth_cred_getuid,
)
from kern.kern_lwp import (
    LSDEAD,
    LSIDL,
    LSONPROC,
    LSRUN,
    LSSLEEP,
    LSSTOP,
    LSSUSPENDED,
    LSZOMB,
    LW_SYSTEM,
    PK_EXEC,
    PS_WEXIT,
    SIDL,
    SZOMB,
    lwp,
    proc,
)
from kern.kern_sysctl import (
    CTL_EOL,
    CTL_KERN,
    CTL_QUERY,
    CTLFLAG_PERMANENT,
    CTLTYPE_NODE,
    KERN_PROC2,
    KERN_PROC_ARGS,
    sysctl_createv,
    sysctl_map_flags,
    sysctl_query,
    sysctl_relock,
    sysctl_unlock,
    sysctlnode,
)
from kern.param import ARG_MAX, PAGE_SIZE
from kern.subr_copy import copyin_vmspace, copyout

KERN_LWP = 64

# KERN_PROC subtypes
KERN_PROC_ALL = 0
KERN_PROC_PID = 1
KERN_PROC_PGRP = 2
KERN_PROC_SESSION = 3
KERN_PROC_TTY = 4
KERN_PROC_UID = 5
KERN_PROC_RUID = 6
KERN_PROC_GID = 7
KERN_PROC_RGID = 8
NODEV32 = 0xffffffff
KERN_PROC_TTY_NODEV = -1        # (dev_t)NODEV, as the int of the mib
KERN_PROC_TTY_REVOKE = -2

# KERN_PROC_ARGS subtypes
KERN_PROC_ARGV = 1
KERN_PROC_NARGV = 2
KERN_PROC_ENV = 3
KERN_PROC_NENV = 4
KERN_PROC_PATHNAME = 5

# kinfo_proc2 p_flag bits (sys/sysctl.h)
P_ADVLOCK = 0x00000001
L_INMEM = 0x00000004
L_SINTR = 0x00000080
L_SYSTEM = 0x00000200
P_WEXIT = 0x00002000
P_EXEC = 0x00004000
EPROC_CTTY = 0x01
EPROC_SLEADER = 0x02
NZERO = 20
NO_PGID = -1

KI_NGROUPS = 16
KI_MAXCOMLEN = 24
KI_WMESGLEN = 8
KI_MAXLOGNAME = 24
KI_MAXEMULLEN = 16
KI_LNAMELEN = 20
KERN_PROCSLOP = 5 * 1032        # 5 * sizeof(struct kinfo_proc), what NetBSD adds
KERN_LWPSLOP = 5 * 152          # 5 * sizeof(struct kinfo_lwp)

_u64, _i64, _u32, _i32 = ctypes.c_uint64, ctypes.c_int64, ctypes.c_uint32, ctypes.c_int32


class ki_sigset_t(ctypes.Structure):
    _fields_ = [("__bits", _u32 * 4)]


class kinfo_proc2(ctypes.Structure):
    """struct kinfo_proc2 (sys/sysctl.h; 8-byte aligned, appended to only)."""

    _fields_ = [
        ("p_forw", _u64), ("p_back", _u64), ("p_paddr", _u64), ("p_addr", _u64),
        ("p_fd", _u64), ("p_cwdi", _u64), ("p_stats", _u64), ("p_limit", _u64),
        ("p_vmspace", _u64), ("p_sigacts", _u64), ("p_sess", _u64), ("p_tsess", _u64),
        ("p_ru", _u64),
        ("p_eflag", _i32), ("p_exitsig", _i32), ("p_flag", _i32),
        ("p_pid", _i32), ("p_ppid", _i32), ("p_sid", _i32), ("p__pgid", _i32),
        ("p_tpgid", _i32),
        ("p_uid", _u32), ("p_ruid", _u32), ("p_gid", _u32), ("p_rgid", _u32),
        ("p_groups", _u32 * KI_NGROUPS), ("p_ngroups", ctypes.c_int16),
        ("p_jobc", ctypes.c_int16), ("p_tdev", _u32),
        ("p_estcpu", _u32), ("p_rtime_sec", _u32), ("p_rtime_usec", _u32),
        ("p_cpticks", _i32), ("p_pctcpu", _u32), ("p_swtime", _u32), ("p_slptime", _u32),
        ("p_schedflags", _i32),
        ("p_uticks", _u64), ("p_sticks", _u64), ("p_iticks", _u64),
        ("p_tracep", _u64), ("p_traceflag", _i32), ("p_holdcnt", _i32),
        ("p_siglist", ki_sigset_t), ("p_sigmask", ki_sigset_t),
        ("p_sigignore", ki_sigset_t), ("p_sigcatch", ki_sigset_t),
        ("p_stat", ctypes.c_int8), ("p_priority", ctypes.c_uint8),
        ("p_usrpri", ctypes.c_uint8), ("p_nice", ctypes.c_uint8),
        ("p_xstat", ctypes.c_uint16), ("p_acflag", ctypes.c_uint16),
        ("p_comm", ctypes.c_char * KI_MAXCOMLEN),
        ("p_wmesg", ctypes.c_char * KI_WMESGLEN), ("p_wchan", _u64),
        ("p_login", ctypes.c_char * KI_MAXLOGNAME),
        ("p_vm_rssize", _i32), ("p_vm_tsize", _i32), ("p_vm_dsize", _i32),
        ("p_vm_ssize", _i32),
        ("p_uvalid", _i64),
        ("p_ustart_sec", _u32), ("p_ustart_usec", _u32),
        ("p_uutime_sec", _u32), ("p_uutime_usec", _u32),
        ("p_ustime_sec", _u32), ("p_ustime_usec", _u32),
        ("p_uru_maxrss", _u64), ("p_uru_ixrss", _u64), ("p_uru_idrss", _u64),
        ("p_uru_isrss", _u64), ("p_uru_minflt", _u64), ("p_uru_majflt", _u64),
        ("p_uru_nswap", _u64), ("p_uru_inblock", _u64), ("p_uru_oublock", _u64),
        ("p_uru_msgsnd", _u64), ("p_uru_msgrcv", _u64), ("p_uru_nsignals", _u64),
        ("p_uru_nvcsw", _u64), ("p_uru_nivcsw", _u64),
        ("p_uctime_sec", _u32), ("p_uctime_usec", _u32),
        ("p_cpuid", _u64), ("p_realflag", _u64), ("p_nlwps", _u64), ("p_nrlwps", _u64),
        ("p_realstat", _u64), ("p_svuid", _u32), ("p_svgid", _u32),
        ("p_ename", ctypes.c_char * KI_MAXEMULLEN),
        ("p_vm_vsize", _i64), ("p_vm_msize", _i64),
    ]


class kinfo_lwp(ctypes.Structure):
    """struct kinfo_lwp (sys/sysctl.h)."""

    _fields_ = [
        ("l_forw", _u64), ("l_back", _u64), ("l_laddr", _u64), ("l_addr", _u64),
        ("l_lid", _i32), ("l_flag", _i32), ("l_swtime", _u32), ("l_slptime", _u32),
        ("l_schedflags", _i32), ("l_holdcnt", _i32),
        ("l_priority", ctypes.c_uint8), ("l_usrpri", ctypes.c_uint8),
        ("l_stat", ctypes.c_int8), ("l_pad1", ctypes.c_int8), ("l_pad2", _i32),
        ("l_wmesg", ctypes.c_char * KI_WMESGLEN), ("l_wchan", _u64), ("l_cpuid", _u64),
        ("l_rtime_sec", _u32), ("l_rtime_usec", _u32), ("l_cpticks", _u32),
        ("l_pctcpu", _u32), ("l_pid", _u32), ("l_name", ctypes.c_char * KI_LNAMELEN),
    ]


# kernel flag -> exported flag
sysctl_flagmap = (PK_EXEC, P_EXEC)
sysctl_sflagmap = (PS_WEXIT, P_WEXIT)
sysctl_lwpflagmap = (LW_SYSTEM, L_SYSTEM)

_OSTAT = {0: 0, LSIDL: 2, LSRUN: 6, LSSLEEP: 5, LSSTOP: 4, LSZOMB: 0, LSDEAD: 1,
          LSONPROC: 7, LSSUSPENDED: 3}


def _lwp_flags(l: lwp) -> int:
    """sysctl_map_flags(sysctl_lwpflagmap, l->l_flag); kemu keeps LW_SINTR (sleeping
    interruptibly) as ``l_sleepcatch``."""
    f = sysctl_map_flags(sysctl_lwpflagmap, l.l_flag)
    if l.l_stat == LSSLEEP and l.l_sleepcatch:
        f |= L_SINTR
    return f


def _strncpy(s: str, n: int) -> bytes:
    return s.encode("utf-8", "replace")[:n]


def proc_active_lwp(p: proc) -> lwp | None:
    """The most "active" lwp of ``p``, for ps's display purposes."""
    lp = None
    for l in p.p_lwps:
        if lp is None or _OSTAT.get(l.l_stat, 0) > _OSTAT.get(lp.l_stat, 0):
            lp = l
    return lp


def fill_kproc2(p: proc, ki: kinfo_proc2, zombie: bool) -> None:
    """Fill in a kinfo_proc2 structure for ``p``."""
    from kern.kern_sig import SIG_DFL, SIG_IGN

    ctypes.memset(ctypes.addressof(ki), 0, ctypes.sizeof(ki))
    ki.p_paddr = p.p_pid
    ki.p_eflag = 0
    ki.p_exitsig = 0
    ki.p_flag = L_INMEM             # process never swapped out
    ki.p_flag |= sysctl_map_flags(sysctl_flagmap, p.p_flag)
    ki.p_flag |= sysctl_map_flags(sysctl_sflagmap, p.p_sflag)
    ki.p_pid = p.p_pid
    ki.p_ppid = p.p_pptr.p_pid if p.p_pptr is not None else 0
    cred = p.p_cred
    ki.p_uid = kauth_cred_geteuid(cred)
    ki.p_ruid = kauth_cred_getuid(cred)
    ki.p_gid = kauth_cred_getegid(cred)
    ki.p_rgid = kauth_cred_getgid(cred)
    ki.p_svuid = ki.p_uid
    ki.p_svgid = ki.p_gid
    groups = tuple(cred.cr_groups)
    ki.p_ngroups = len(groups)
    for i, g in enumerate(groups[:KI_NGROUPS]):
        ki.p_groups[i] = g
    ki.p_tpgid = NO_PGID            # may be changed if controlling tty below

    for sig, sd in p.p_sigacts.items():
        handler = sd.sa_handler
        word, bit = divmod(sig - 1, 32)
        if handler == SIG_IGN:
            ki.p_sigignore.__bits[word] |= 1 << bit
        elif handler != SIG_DFL:
            ki.p_sigcatch.__bits[word] |= 1 << bit

    ki.p_stat = p.p_stat            # will likely be overridden by the lwp's status
    ki.p_realstat = p.p_stat
    ki.p_nice = NZERO
    ki.p_xstat = p.p_xexit
    ki.p_comm = _strncpy(p.p_comm, KI_MAXCOMLEN)
    ki.p_ename = b"netbsd"
    ki.p_nlwps = len(p.p_lwps)
    ki.p_realflag = ki.p_flag

    if p.p_stat != SIDL and p.p_stat != SZOMB and not zombie:
        vm = p.p_vmspace
        if vm is not None and not vm.vm_kernel:
            pages = vm.vm_mapped // PAGE_SIZE
            ki.p_vm_rssize = pages
            ki.p_vm_vsize = pages
            ki.p_vm_msize = pages
        # pick the most active lwp
        l = proc_active_lwp(p)
        if l is not None:
            ki.p_nrlwps = sum(1 for x in p.p_lwps if x.l_stat in (LSRUN, LSONPROC))
            ki.p_stat = l.l_stat
            ki.p_flag |= _lwp_flags(l)
            if l.l_wchan is not None:
                ki.p_wmesg = _strncpy(l.l_wmesg or "", KI_WMESGLEN)
                ki.p_wchan = 1
        for x in p.p_lwps:
            for sig in x.l_sigpend:
                word, bit = divmod(sig - 1, 32)
                ki.p_siglist.__bits[word] |= 1 << bit
            for sig in x.l_sigmask:
                word, bit = divmod(sig - 1, 32)
                ki.p_sigmask.__bits[word] |= 1 << bit
    for sig in p.p_sigpend:
        word, bit = divmod(sig - 1, 32)
        ki.p_sigmask.__bits[word] |= 1 << bit   # NetBSD adds p_sigpend to the mask too

    # kemu: every process leads its own process group and session, no tty
    ki.p_sid = p.p_pid
    ki.p__pgid = p.p_pid
    ki.p_eflag |= EPROC_SLEADER
    ki.p_tdev = NODEV32

    if p.p_stat != SZOMB and not zombie:
        ki.p_uvalid = 1
        ki.p_ustart_sec, ki.p_ustart_usec = p.p_start


def _match(p: proc, op: int, arg: int) -> bool | None:
    cred = p.p_cred
    if op == KERN_PROC_PID:
        return p.p_pid == arg
    if op in (KERN_PROC_PGRP, KERN_PROC_SESSION):
        return p.p_pid == arg
    if op == KERN_PROC_TTY:
        # nobody has a controlling terminal
        return arg == KERN_PROC_TTY_NODEV
    if op == KERN_PROC_UID:
        return kauth_cred_geteuid(cred) == arg & 0xffffffff
    if op == KERN_PROC_RUID:
        return kauth_cred_getuid(cred) == arg & 0xffffffff
    if op == KERN_PROC_GID:
        return kauth_cred_getegid(cred) == arg & 0xffffffff
    if op == KERN_PROC_RGID:
        return kauth_cred_getgid(cred) == arg & 0xffffffff
    if op == KERN_PROC_ALL:
        return True
    return None


async def sysctl_doeproc(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                         newp: Any, newlen: int, oname: list[int], l: Any,
                         rnode: sysctlnode) -> int:
    """kern.proc2: a kinfo_proc2 per matching process."""
    if namelen == 1 and name[0] == CTL_QUERY:
        return await sysctl_query(name, namelen, oldp, oldlenp, newp, newlen, oname, l, rnode)
    dp = where = oldp
    buflen = oldlenp[0] if where else 0
    error = 0
    needed = 0
    if rnode.sysctl_num != KERN_PROC2:
        return EINVAL
    if namelen != 4:
        return EINVAL
    op, arg, elem_size, elem_count = name[0], name[1], name[2], name[3]
    kelem_size = ctypes.sizeof(kinfo_proc2)
    if elem_size < 0 or elem_count < 0:
        return EINVAL

    sysctl_unlock()
    try:
        kbuf = kinfo_proc2()
        for p in sorted(curmachine().procs.values(), key=lambda q: q.p_pid):
            # skip embryonic processes
            if p.p_stat == SIDL:
                continue
            match = _match(p, op, arg)
            if match is None:
                return EINVAL
            if not match:
                continue
            if buflen >= elem_size and elem_count > 0:
                fill_kproc2(p, kbuf, False)
                elem_count -= 1
                # copy out elem_size, but not larger than kelem_size
                error = copyout(kbuf, dp, min(kelem_size, elem_size))
                if error:
                    return error
                dp += elem_size
                buflen -= elem_size
            needed += elem_size
        if where:
            oldlenp[0] = dp - where
            if needed > oldlenp[0]:
                return ENOMEM
        else:
            needed += KERN_PROCSLOP
            oldlenp[0] = needed
        return 0
    finally:
        await sysctl_relock()


def fill_lwp(l: lwp, kl: kinfo_lwp) -> None:
    """Fill in a kinfo_lwp for ``l``."""
    ctypes.memset(ctypes.addressof(kl), 0, ctypes.sizeof(kl))
    kl.l_stat = l.l_stat
    kl.l_lid = l.l_lid
    kl.l_flag = L_INMEM | _lwp_flags(l)
    if l.l_wchan is not None:
        kl.l_wmesg = _strncpy(l.l_wmesg or "", KI_WMESGLEN)
        kl.l_wchan = 1
    kl.l_pid = l.l_proc.p_pid
    kl.l_name = _strncpy(l.l_name or "", KI_LNAMELEN - 1)


async def sysctl_kern_lwp(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                          newp: Any, newlen: int, oname: list[int], l: Any,
                          rnode: sysctlnode) -> int:
    """kern.lwp.<pid>.<elemsize>.<count>: a kinfo_lwp per lwp of ``pid`` (-1: all)."""
    if namelen == 1 and name[0] == CTL_QUERY:
        return await sysctl_query(name, namelen, oldp, oldlenp, newp, newlen, oname, l, rnode)
    if namelen != 3:
        return EINVAL
    dp = where = oldp
    buflen = oldlenp[0] if where else 0
    needed = 0
    pid, elem_size, elem_count = name[0], name[1], name[2]
    if elem_size < 0 or elem_count < 0:
        return EINVAL

    sysctl_unlock()
    try:
        procs = curmachine().procs
        if pid == -1:
            plist = sorted(procs.values(), key=lambda q: q.p_pid)
        else:
            p = procs.get(pid)
            if p is None:
                return ESRCH
            plist = [p]
        kl = kinfo_lwp()
        for p in plist:
            for l2 in list(p.p_lwps):
                if buflen >= elem_size and elem_count > 0:
                    fill_lwp(l2, kl)
                    error = copyout(kl, dp, min(ctypes.sizeof(kl), elem_size))
                    if error:
                        return error
                    dp += elem_size
                    buflen -= elem_size
                    elem_count -= 1
                needed += elem_size
        if where:
            oldlenp[0] = dp - where
            if needed > oldlenp[0]:
                return ENOMEM
        else:
            needed += KERN_LWPSLOP
            oldlenp[0] = needed
        return 0
    finally:
        await sysctl_relock()


async def sysctl_kern_proc_args(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                                newp: Any, newlen: int, oname: list[int], l: Any,
                                rnode: sysctlnode) -> int:
    """kern.proc_args.<pid>.<type>: a process's argv or environment."""
    from kern.exec_subr import ps_strings

    if namelen == 1 and name[0] == CTL_QUERY:
        return await sysctl_query(name, namelen, oldp, oldlenp, newp, newlen, oname, l, rnode)
    if newp or namelen != 2:
        return EINVAL
    pid, type_ = name[0], name[1]
    if type_ not in (KERN_PROC_ARGV, KERN_PROC_NARGV, KERN_PROC_ENV, KERN_PROC_NENV):
        # KERN_PROC_PATHNAME: kemu's programs have no text vnode (not ported)
        return EINVAL

    sysctl_unlock()
    try:
        # check pid
        p = curmachine().procs.get(pid)
        if p is None:
            return EINVAL
        if not oldp:
            oldlenp[0] = 4 if type_ in (KERN_PROC_NARGV, KERN_PROC_NENV) else ARG_MAX
            return 0
        # zombies and system processes have no user stack to read
        if p.p_stat == SZOMB or p.p_vmspace is None or p.p_vmspace.vm_kernel:
            return EINVAL
        if p.p_psstrp == 0:
            # never exec'd through copyargs (a process the harness made directly)
            return EINVAL
        if p.p_sflag & PS_WEXIT:
            return EBUSY
        pss = ps_strings()
        error = copyin_vmspace(p.p_vmspace, p.p_psstrp, pss, ctypes.sizeof(pss))
        if error:
            return error
        if type_ in (KERN_PROC_NARGV, KERN_PROC_NENV):
            value = ctypes.c_int(pss.ps_nargvstr if type_ == KERN_PROC_NARGV
                                 else pss.ps_nenvstr)
            error = copyout(value, oldp, 4)
            oldlenp[0] = 4
            return error
        return copy_procargs(p, pss, type_, oldp, oldlenp)
    finally:
        await sysctl_relock()


def copy_procargs(p: proc, pss: Any, oid: int, oldp: int, limit: list[int]) -> int:
    """Copy the strings of ``p``'s argv (or environment) to ``oldp``, NUL-separated,
    at most ``limit[0]`` bytes; ``limit[0]`` becomes the count copied."""
    vm = p.p_vmspace
    if oid == KERN_PROC_ARGV:
        user_argv, argvlen = pss.ps_argvstr, pss.ps_nargvstr
    elif oid == KERN_PROC_ENV:
        user_argv, argvlen = pss.ps_envstr, pss.ps_nenvstr
    else:
        return EINVAL
    if argvlen < 0:
        return EIO
    length = 0
    for i in range(argvlen):
        ptr = ctypes.c_uint64()
        error = copyin_vmspace(vm, user_argv + 8 * i, ptr, 8)
        if error:
            return error
        base = ptr.value
        # the program has messed with its arguments, deleting some and
        # replacing them with NULLs: treat this as the last argument
        if base == 0:
            break
        finished = False
        while not finished:
            xlen = PAGE_SIZE - (base & (PAGE_SIZE - 1))
            arg = bytearray(xlen)
            error = copyin_vmspace(vm, base, arg, xlen)
            if error:
                return error
            # look for the end of the string
            nul = arg.find(b"\0")
            if nul >= 0:
                xlen = nul + 1
                finished = True
            # check for user buffer overflow
            if length + xlen > limit[0]:
                finished = True
                xlen = 0 if length > limit[0] else limit[0] - length
            error = copyout(bytes(arg[:xlen]), oldp + length, xlen)
            if error:
                return error
            length += xlen
            base += xlen
    limit[0] = length
    return 0


async def sysctl_proc_setup() -> None:
    """kern.proc2, kern.proc_args and kern.lwp."""
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_NODE, "proc2",
                         "Machine-independent process information", sysctl_doeproc, 0,
                         None, 0, CTL_KERN, KERN_PROC2, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_NODE, "proc_args",
                         "Process argument information", sysctl_kern_proc_args, 0, None, 0,
                         CTL_KERN, KERN_PROC_ARGS, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_NODE, "lwp",
                         "System-wide LWP information", sysctl_kern_lwp, 0, None, 0,
                         CTL_KERN, KERN_LWP, CTL_EOL)


def procinit(machine: Any) -> None:
    """Boot hook (kern_proc.c's procinit, the part kemu needs): every process
    records when it was made (``p_stats->p_start``, set by fork1 in NetBSD)."""

    def started(p: proc, parent: proc | None) -> None:
        us = machine.boottime_ns // 1000 + int(machine.now() * 1_000_000)
        p.p_start = divmod(us, 1_000_000)

    started(machine.proc0, None)
    machine.proc_create_hooks.append(started)
