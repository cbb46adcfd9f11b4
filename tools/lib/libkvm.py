"""libkvm's live-kernel half (kvm_proc.c, sysctl paths): what ps(1) calls.
Revision: lib/libkvm/kvm_proc.c 1.90 (2014/02/19), the copy in the
reference store (named without a line-by-line re-comparison).

NetBSD's ps reads processes through libkvm, which, on the running kernel
(``kvm_openfiles(NULL, NULL, NULL, KVM_NO_FILES)``), asks sysctl(3):

* ``kvm_getproc2(op, arg)``: kern.proc2.<op>.<arg>.<elemsize>.<count>,
  sized first with a count of 0, as kvm_getproc2 does;
* ``kvm_getlwps(pid)``: kern.lwp.<pid>.<elemsize>.<count>;
* ``kvm_getargv2(pid, nchr)``: kern.proc_args.<pid>.KERN_PROC_ARGV, split
  into the argument strings (None when the kernel has none for the process,
  as for system processes).

There is no crash-dump half: ``kvm_openfiles`` with a memory file takes
kvm.c's _kvm_open steps up to the point where it would read the files
(opening the memory file, then /dev/kmem for a character device or the
kernel image, /netbsd by default, for a dump) and fails there with the
C's message for a file that does not open; files that do open end in
"<core>: crash dumps are not supported by kemu" (a declared limitation).
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

_PATH_KMEM = "/dev/kmem"
_PATH_UNIX = "/netbsd"          # getbootfile()


async def kvm_openfiles(uf: str | None, mf: str, sf: str | None) -> str:
    """kvm_openfiles(uf, mf, sf, O_RDONLY, errbuf) for a memory file ``mf``:
    the text kvm_openfiles leaves in errbuf (it never succeeds here)."""
    from kern.errno import strerror
    from kern.fcntl import O_RDONLY
    from vfs.stat import S_ISCHR

    async def opens(path: str) -> str | None:
        try:
            fd = await libc.open(path, O_RDONLY)
        except SyscallError as e:
            return f"{path}: {strerror(e.errno)}"        # _kvm_syserr
        try:
            st = await libc.fstat(fd)
        finally:
            await libc.close(fd)
        return "chr" if S_ISCHR(st.st_mode) else None

    r = await opens(mf)
    if r not in (None, "chr"):
        return r
    second = _PATH_KMEM if r == "chr" else (uf or _PATH_UNIX)
    r2 = await opens(second)
    if r2 not in (None, "chr"):
        return r2
    return f"{mf}: crash dumps are not supported by kemu"


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
