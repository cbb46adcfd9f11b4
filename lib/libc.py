"""libc: the system-call stubs of userland.

Every function here runs in the calling user lwp and enters the kernel only
through ``kern.syscall.syscall(SYS_x, ...)``.  Arguments are marshalled the
way a C program's would be: strings are copied NUL-terminated into the
process's user memory, structs (ctypes, NetBSD's LP64 layout) go by their
bytes, and the kernel gets their user addresses.  A failing call raises
``kern.SyscallError`` carrying NetBSD's errno (``e.errno``).

User memory helpers: ``ualloc(n) -> addr``, ``ustr(s) -> addr``,
``ustruct(obj) -> addr``, ``uget(addr, n)``, ``uput(addr, data)``,
``uload(addr, T)``, ``ufree(addr)``.  A struct that holds pointers (such as
``fss_set.fss_mount``) takes user addresses, as in C::

    args = fss_set(fss_mount=ustr("/mnt"), fss_bstore=ustr("/tmp/bs"), fss_csize=0)
    await ioctl(fd, FSSIOCSET, args)

For IOC_OUT/IOC_INOUT commands ``ioctl`` updates the struct in place from
user memory after the call, like C.

TODO, once the VFS registers the calls (their stubs are here already and
give ENOSYS until then): open, pread, pwrite, lseek.  Still to write when
the VFS has them: stat/fstat/lstat (__stat50, __fstat50, __lstat50 with
NetBSD's struct stat), mount (__mount50) and unmount, mkdir, rmdir,
unlink, rename, mknod (__mknod50), getdents (__getdents30), chdir, fsync,
sync, symlink, readlink, truncate/ftruncate, access, chmod/chown,
statvfs1/fstatvfs1/getvfsstat, __getcwd, modctl (modload/modunload).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.cpu import curproc
from kern.errno import EINVAL
from kern.exceptions import SyscallError
from kern.ioccom import IOC_OUT
from kern.kern_time import timespec
from kern.subr_copy import (
    uread,
    ureadstr,
    user_iovec,
    uvm_map_user,
    uvm_unmap_user,
    uwrite,
)
from kern.sys_sig import SA_RESTART, SIG_DFL, SIG_IGN
from kern.sys_sig import sigaction as struct_sigaction
from kern.syscall import (
    SYS___nanosleep50,
    SYS___sigaction_sigtramp,
    SYS_close,
    SYS_dup,
    SYS_dup2,
    SYS_fcntl,
    SYS_getpid,
    SYS_getppid,
    SYS_ioctl,
    SYS_kill,
    SYS_lseek,
    SYS_open,
    SYS_pread,
    SYS_pwrite,
    SYS_read,
    SYS_readv,
    SYS_write,
    SYS_writev,
    syscall,
)

__all__ = [
    "SIG_DFL", "SIG_IGN", "close", "dup", "dup2", "fcntl", "getpid", "getppid", "ioctl",
    "kill", "lseek", "nanosleep", "open", "pread", "pwrite", "read", "readv", "sigaction",
    "signal", "struct_sigaction", "syscall", "ualloc", "ufree", "uget", "uload", "uput",
    "ustr", "ustruct", "write", "writev",
]

# Where libc's signal trampoline would be; the kernel only records it.
_SIGTRAMP = 0x00007f7ff7e00000
__SIGTRAMP_SIGINFO_VERSION = 2

_CDATA = (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)


# ---------------------------------------------------------------- user memory

def ualloc(n: int) -> int:
    """Map ``n`` zeroed bytes of user memory in this process; returns the address."""
    return uvm_map_user(curproc(), n)


def ufree(addr: int) -> None:
    """Unmap what ualloc (or ustr, ustruct) returned."""
    uvm_unmap_user(curproc(), addr)


def _bytes(s: str | bytes | bytearray | memoryview) -> bytes:
    return s.encode() if isinstance(s, str) else bytes(s)


def ustr(s: str | bytes) -> int:
    """A NUL-terminated user copy of ``s``; returns its address."""
    b = _bytes(s) + b"\0"
    addr = ualloc(len(b))
    uwrite(curproc(), addr, b)
    return addr


def ustruct(obj: Any) -> int:
    """A user copy of a ctypes object (or bytes); returns its address."""
    b = bytes(obj)
    addr = ualloc(max(len(b), 1))
    uwrite(curproc(), addr, b)
    return addr


def uget(addr: int, n: int) -> bytes:
    """``n`` bytes of this process's user memory at ``addr``."""
    return uread(curproc(), addr, n)


def uput(addr: int, data: Any) -> None:
    """Store bytes at ``addr`` in this process's user memory."""
    uwrite(curproc(), addr, _bytes(data) if isinstance(data, str) else data)


def uload(addr: int, ctype: Any) -> Any:
    """A ctypes ``ctype`` read from user memory at ``addr``."""
    return ctype.from_buffer_copy(uread(curproc(), addr, ctypes.sizeof(ctype)))


def ugetstr(addr: int) -> bytes:
    """The NUL-terminated string at ``addr`` (without the NUL)."""
    return ureadstr(curproc(), addr)


class _Temp:
    """User allocations that live for one call."""

    def __init__(self) -> None:
        self.addrs: list[int] = []

    def alloc(self, n: int) -> int:
        a = ualloc(max(n, 1))
        self.addrs.append(a)
        return a

    def copy(self, data: Any) -> int:
        b = bytes(data)
        a = self.alloc(len(b))
        if b:
            uwrite(curproc(), a, b)
        return a

    def __enter__(self) -> _Temp:
        return self

    def __exit__(self, *exc: Any) -> None:
        p = curproc()
        for a in self.addrs:
            uvm_unmap_user(p, a)


def _copy_back(obj: Any, addr: int) -> None:
    """Update a ctypes object or bytearray in place from user memory."""
    if isinstance(obj, _CDATA):
        n = ctypes.sizeof(obj)
        ctypes.memmove(ctypes.addressof(obj), uread(curproc(), addr, n), n)
    elif isinstance(obj, (bytearray, memoryview)):
        mv = memoryview(obj).cast("B")
        mv[:] = uread(curproc(), addr, mv.nbytes)


# ---------------------------------------------------------------- descriptors

async def open(path: str | bytes, flags: int, mode: int = 0) -> int:  # noqa: A001
    """open(2): a new descriptor for ``path`` (needs the VFS's sys_open)."""
    with _Temp() as t:
        return await syscall(SYS_open, t.copy(_bytes(path) + b"\0"), flags, mode)


async def close(fd: int) -> int:
    """close(2)."""
    return await syscall(SYS_close, fd)


async def read(fd: int, n: int) -> bytes:
    """read(2) of at most ``n`` bytes; returns what was read."""
    if n < 0:
        raise SyscallError(EINVAL, "read")
    with _Temp() as t:
        buf = t.alloc(n)
        cnt = await syscall(SYS_read, fd, buf, n)
        return uread(curproc(), buf, cnt)


async def write(fd: int, data: str | bytes | bytearray | memoryview) -> int:
    """write(2); returns the count written."""
    b = _bytes(data)
    with _Temp() as t:
        return await syscall(SYS_write, fd, t.copy(b), len(b))


async def pread(fd: int, n: int, offset: int) -> bytes:
    """pread(2) (needs the VFS's sys_pread)."""
    if n < 0:
        raise SyscallError(EINVAL, "pread")
    with _Temp() as t:
        buf = t.alloc(n)
        cnt = await syscall(SYS_pread, fd, buf, n, 0, offset)
        return uread(curproc(), buf, cnt)


async def pwrite(fd: int, data: bytes, offset: int) -> int:
    """pwrite(2) (needs the VFS's sys_pwrite)."""
    b = _bytes(data)
    with _Temp() as t:
        return await syscall(SYS_pwrite, fd, t.copy(b), len(b), 0, offset)


async def lseek(fd: int, offset: int, whence: int) -> int:
    """lseek(2) (needs the VFS's sys_lseek)."""
    return await syscall(SYS_lseek, fd, 0, offset, whence)


async def readv(fd: int, sizes: list[int]) -> list[bytes]:
    """readv(2) into buffers of the given sizes; returns what landed in each."""
    with _Temp() as t:
        bufs = [t.alloc(n) for n in sizes]
        iov = (user_iovec * len(sizes))(*[user_iovec(a, n) for a, n in zip(bufs, sizes,
                                                                           strict=True)])
        cnt = await syscall(SYS_readv, fd, t.copy(iov), len(sizes))
        out = []
        for a, n in zip(bufs, sizes, strict=True):
            k = min(n, cnt)
            out.append(uread(curproc(), a, k))
            cnt -= k
        return out


async def writev(fd: int, datas: list[bytes]) -> int:
    """writev(2) of the given buffers; returns the count written."""
    with _Temp() as t:
        bl = [_bytes(d) for d in datas]
        addrs = [t.copy(b) for b in bl]
        iov = (user_iovec * len(bl))(*[user_iovec(a, len(b)) for a, b in zip(addrs, bl,
                                                                            strict=True)])
        return await syscall(SYS_writev, fd, t.copy(iov), len(bl))


async def dup(fd: int) -> int:
    """dup(2)."""
    return await syscall(SYS_dup, fd)


async def dup2(from_: int, to: int) -> int:
    """dup2(2)."""
    return await syscall(SYS_dup2, from_, to)


async def fcntl(fd: int, cmd: int, arg: Any = 0) -> int:
    """fcntl(2); ``arg`` is an int, or a ctypes struct (struct flock) passed by address
    and updated in place after the call."""
    if arg is None or isinstance(arg, int):
        return await syscall(SYS_fcntl, fd, cmd, arg or 0)
    with _Temp() as t:
        a = t.copy(arg)
        r = await syscall(SYS_fcntl, fd, cmd, a)
        _copy_back(arg, a)
        return r


async def ioctl(fd: int, cmd: int, arg: Any = None) -> int:
    """ioctl(2).

    ``arg``: an int (or None) is passed as it is, for commands without an
    argument struct; a ctypes object or bytearray is copied to user memory
    and its address passed; for IOC_OUT commands it is updated in place
    from there after the call.
    """
    if arg is None or isinstance(arg, int):
        return await syscall(SYS_ioctl, fd, cmd, arg or 0)
    with _Temp() as t:
        a = t.copy(arg)
        r = await syscall(SYS_ioctl, fd, cmd, a)
        if cmd & IOC_OUT:
            _copy_back(arg, a)
        return r


# ---------------------------------------------------------------- processes, signals, time

async def getpid() -> int:
    """getpid(2)."""
    return await syscall(SYS_getpid)


async def getppid() -> int:
    """getppid(2)."""
    return await syscall(SYS_getppid)


async def kill(pid: int, sig: int) -> int:
    """kill(2)."""
    return await syscall(SYS_kill, pid, sig)


async def sigaction(sig: int, act: struct_sigaction | None,
                    oact: struct_sigaction | None = None) -> int:
    """sigaction(2): ``act`` (or None) is installed, ``oact`` (if given) gets the old one."""
    with _Temp() as t:
        nsa = t.copy(act) if act is not None else 0
        osa = t.alloc(ctypes.sizeof(struct_sigaction)) if oact is not None else 0
        r = await syscall(SYS___sigaction_sigtramp, sig, nsa, osa, _SIGTRAMP,
                          __SIGTRAMP_SIGINFO_VERSION)
        if oact is not None:
            _copy_back(oact, osa)
        return r


async def signal(sig: int, handler: int, flags: int = SA_RESTART) -> int:
    """signal(3), BSD style (interrupted calls restart); returns the old handler.

    ``handler`` is SIG_DFL, SIG_IGN or any other value, which stands for the
    address of a handler function (the kernel only records it).
    """
    act = struct_sigaction(sa_handler=handler, sa_flags=flags)
    old = struct_sigaction()
    await sigaction(sig, act, old)
    return old.sa_handler


async def nanosleep(req: float | timespec, rem: timespec | None = None) -> int:
    """nanosleep(2) for ``req`` seconds (a float or a timespec) of the machine's clock.

    ``rem``, when given, receives the time left (set also when a signal
    interrupts the sleep with EINTR).
    """
    if not isinstance(req, timespec):
        ns = int(round(float(req) * 1e9))
        req = timespec(*divmod(ns, 1_000_000_000))
    with _Temp() as t:
        rq = t.copy(req)
        rm = t.alloc(ctypes.sizeof(timespec)) if rem is not None else 0
        try:
            return await syscall(SYS___nanosleep50, rq, rm)
        finally:
            if rem is not None:
                _copy_back(rem, rm)
