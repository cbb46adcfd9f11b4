"""libkvm's live-kernel half (kvm_proc.c, sysctl paths): what ps(1) calls.

NetBSD's ps reads processes through libkvm, which, on the running kernel
(``kvm_openfiles(NULL, NULL, NULL, KVM_NO_FILES)``), asks sysctl(3):

* ``kvm_getproc2(op, arg)``: kern.proc2.<op>.<arg>.<elemsize>.<count>,
  sized first with a count of 0, as kvm_getproc2 does;
* ``kvm_getlwps(pid)``: kern.lwp.<pid>.<elemsize>.<count>;
* ``kvm_getargv2(pid, nchr)``: kern.proc_args.<pid>.KERN_PROC_ARGV, split
  into the argument strings (None when the kernel has none for the process,
  as for system processes).

There is no crash-dump (``/dev/kmem``) half.
"""

from __future__ import annotations

import ctypes

from kern.errno import ENOMEM
from kern.exceptions import SyscallError
from kern.kern_proc import (
    KERN_LWP,
    KERN_PROC_ARGV,
    kinfo_lwp,
    kinfo_proc2,
)
from kern.kern_sysctl import CTL_KERN, KERN_PROC2, KERN_PROC_ARGS
from tools.lib import libc


async def _sized(mib_head: list[int], esize: int) -> bytes:
    """The elements of a "how many, then fetch" node (kern.proc2, kern.lwp)."""
    while True:
        n = await libc.sysctl_oldlen(mib_head + [esize, 0])
        count = n // esize
        try:
            return await libc.sysctl(mib_head + [esize, count], count * esize)
        except SyscallError as e:
            if e.errno != ENOMEM:
                raise


async def kvm_getproc2(op: int, arg: int) -> list[kinfo_proc2]:
    """The kinfo_proc2 of every process matching ``op``/``arg`` (KERN_PROC_*)."""
    esize = ctypes.sizeof(kinfo_proc2)
    raw = await _sized([CTL_KERN, KERN_PROC2, op, arg], esize)
    return [kinfo_proc2.from_buffer_copy(raw, i) for i in range(0, len(raw), esize)]


async def kvm_getlwps(pid: int) -> list[kinfo_lwp]:
    """The kinfo_lwp of each lwp of process ``pid`` (-1: of every process)."""
    esize = ctypes.sizeof(kinfo_lwp)
    raw = await _sized([CTL_KERN, KERN_LWP, pid], esize)
    return [kinfo_lwp.from_buffer_copy(raw, i) for i in range(0, len(raw), esize)]


async def kvm_getargv2(pid: int, nchr: int = 0) -> list[str] | None:
    """The argument vector of ``pid``, at most ``nchr`` bytes of it (0: all);
    None when the kernel keeps none for it."""
    size = nchr if nchr > 0 else 1 << 18
    try:
        raw = await libc.sysctl([CTL_KERN, KERN_PROC_ARGS, pid, KERN_PROC_ARGV], size)
    except SyscallError:
        return None
    if not raw:
        return None
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "surrogateescape") for p in parts]
