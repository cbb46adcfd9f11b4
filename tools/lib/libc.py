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

System calls with a stub here: the descriptor calls (open, creat, close,
read, write, pread, pwrite, lseek, readv, writev, dup, dup2, fcntl, ioctl,
closefrom), the VFS calls (stat, lstat, fstat, statvfs/statvfs1,
fstatvfs/fstatvfs1, getvfsstat and getmntinfo, mkdir, rmdir, unlink,
rename, link, symlink, readlink, getdents with the ``readdir``/``listdir``
helpers, truncate, ftruncate, fsync, sync, mknod, chmod, fchmod, lchmod,
chown, fchown, lchown, utimes, futimes, lutimes, access, pathconf,
fpathconf, chdir, fchdir, chroot, getcwd, umask, mount, unmount, and getfh,
fhopen, fhstat), modctl, processes and signals (fork, getpid, getppid,
kill, sigaction, signal, sigprocmask, sigpending, sigsuspend, raise_, getcontext,
setcontext, funcaddr/funcat (a function's address for sa_handler), pipe, pipe2,
wait4/waitpid, execve, _exit), time
(nanosleep, gettimeofday, settimeofday, clock_gettime, clock_settime) and
sysctl (sysctl, asysctl, sysctlbyname, sysctlnametomib, sysctlgetmibinfo,
the CTL_QUERY walk sysctl_query) with uname(3) on top of it.

Paths are ``str`` (UTF-8, surrogateescape) or ``bytes``.  Results that C
returns through a pointer come back as Python values: ``stat`` gives a
``vfs.stat.stat``, ``statvfs`` a ``vfs.mount.statvfs``, ``readlink`` and
``getcwd`` a ``str``.

"""

from __future__ import annotations

import ctypes
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any, NoReturn

from kern.cpu import curlwp, curproc
from kern.errno import E2BIG, EINVAL, ERANGE
from kern.exceptions import SyscallError
from kern.ioccom import IOC_OUT
from kern.kern_exit import (  # noqa: F401 - sys/wait.h, re-exported
    WEXITSTATUS,
    WIFEXITED,
    WIFSIGNALED,
    WNOHANG,
    WNOWAIT,
    WTERMSIG,
)
from kern.kern_lwp import PS_WEXIT
from kern.kern_time import timespec
from kern.param import MAXPATHLEN
from kern.subr_copy import (
    uread,
    user_iovec,
    uvm_map_user,
    uvm_text_lookup,
    uvm_text_map,
    uvm_unmap_user,
    uvm_user_bytes,
    uwrite,
)
from kern.sys_sig import (  # noqa: F401 - sys/signal.h, re-exported
    __SIGTRAMP_SIGINFO_VERSION,
    SA_NOCLDSTOP,
    SA_NOCLDWAIT,
    SA_NODEFER,
    SA_RESETHAND,
    SA_RESTART,
    SA_SIGINFO,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    set_to_sigset,
    siginfo_t,
    sigset_t,
    sigset_to_set,
    ucontext_t,
)
from kern.sys_sig import sigaction as struct_sigaction
from kern.syscall import (
    SYS___clock_gettime50,
    SYS___clock_settime50,
    SYS___fhopen40,
    SYS___fhstat50,
    SYS___fstat50,
    SYS___futimes50,
    SYS___getcwd,
    SYS___getdents30,
    SYS___getfh30,
    SYS___gettimeofday50,
    SYS___lstat50,
    SYS___lutimes50,
    SYS___mknod50,
    SYS___mount50,
    SYS___nanosleep50,
    SYS___settimeofday50,
    SYS___sigaction_sigtramp,
    SYS___sigpending14,
    SYS___sigprocmask14,
    SYS___sigsuspend14,
    SYS___stat50,
    SYS___sysctl,
    SYS___utimes50,
    SYS___wait450,
    SYS_access,
    SYS_chdir,
    SYS_chmod,
    SYS_chown,
    SYS_chroot,
    SYS_close,
    SYS_dup,
    SYS_dup2,
    SYS_execve,
    SYS_exit,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchown,
    SYS_fcntl,
    SYS_fork,
    SYS_fpathconf,
    SYS_fstatvfs1,
    SYS_fsync,
    SYS_ftruncate,
    SYS_getcontext,
    SYS_getpid,
    SYS_getppid,
    SYS_getvfsstat,
    SYS_ioctl,
    SYS_kill,
    SYS_lchmod,
    SYS_lchown,
    SYS_link,
    SYS_lseek,
    SYS_mkdir,
    SYS_modctl,
    SYS_open,
    SYS_pathconf,
    SYS_pipe,
    SYS_pipe2,
    SYS_pread,
    SYS_pwrite,
    SYS_read,
    SYS_readlink,
    SYS_readv,
    SYS_rename,
    SYS_rmdir,
    SYS_setcontext,
    SYS_statvfs1,
    SYS_symlink,
    SYS_sync,
    SYS_truncate,
    SYS_umask,
    SYS_unlink,
    SYS_unmount,
    SYS_write,
    SYS_writev,
    syscall,
    syscall2,
)
from tools.lib.stdlib import INT_MIN, UINT_MAX, strtoll, to_int
from vfs.dirent import iter_dirents
from vfs.mount import ST_WAIT
from vfs.mount import statvfs as struct_statvfs
from vfs.stat import stat as struct_stat

__all__ = [
    "access", "asysctl", "chdir", "chmod", "chown", "chroot", "clock_gettime",
    "CLOCK_MONOTONIC", "CLOCK_REALTIME", "clock_settime", "close", "closefrom", "creat",
    "CTL_HW", "CTL_KERN", "CTL_QUERY", "dup", "dup2", "F_OK", "fchdir", "fchmod", "fchown",
    "fcntl", "fhopen", "fhstat", "fork", "fpathconf", "fstat", "fstatvfs", "fstatvfs1", "fsync",
    "ftruncate", "futimes", "getcwd", "getdents", "getfh", "getfh_size", "getmntinfo", "getpid",
    "getppid", "gettimeofday", "getvfsstat", "HW_MACHINE", "ioctl", "KERN_HOSTNAME",
    "KERN_MSGBUF", "KERN_OSRELEASE", "KERN_OSTYPE", "KERN_VERSION", "kill", "lchmod", "lchown",
    "link", "listdir", "lseek", "lstat", "lutimes", "mkdir", "mknod", "modctl", "mount",
    "nanosleep", "open", "pathconf", "pread", "pwrite", "R_OK", "read", "readdir", "readlink",
    "readv", "rename", "rmdir", "settimeofday", "SIG_DFL", "SIG_IGN", "sigaction", "signal",
    "stat", "statvfs", "statvfs1", "struct_sigaction", "struct_stat", "struct_statvfs",
    "symlink", "sync", "syscall", "sysctl", "sysctl_oldlen", "sysctl_query", "sysctlbyname",
    "sysctlgetmibinfo", "SysctlNameError", "sysctlnametomib", "truncate", "ualloc", "ufree",
    "uget", "uload", "umask", "uname", "unlink", "unmount", "uput", "UserMapping",
    "UserTemp", "ustr", "ustruct", "utimes", "utsname", "W_OK", "write", "writev", "X_OK",
    "pipe", "pipe2", "wait4", "waitpid", "execve", "_exit", "WNOHANG", "WIFEXITED",
    "WEXITSTATUS", "WIFSIGNALED", "WTERMSIG", "funcaddr", "funcat", "sigprocmask",
    "sigpending", "sigsuspend", "raise_", "getcontext", "setcontext", "siginfo_t", "ucontext_t",
    "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK", "SA_RESTART", "SA_RESETHAND", "SA_NODEFER",
    "SA_SIGINFO",
]

# <unistd.h> access(2) modes
F_OK = 0
X_OK = 0x01
W_OK = 0x02
R_OK = 0x04

# <time.h> clocks
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 3

_CDATA = (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)


# ---------------------------------------------------------------- user memory

def ualloc(n: int) -> int:
    """Map ``n`` zeroed bytes of user memory in this process; returns the address."""
    return uvm_map_user(curproc(), n)


def ufree(addr: int) -> None:
    """Unmap what ualloc (or ustr, ustruct) returned."""
    uvm_unmap_user(curproc(), addr)


class UserMapping:
    """User memory a program maps and then reads and writes itself, as C code
    does through a pointer: ``m = UserMapping(n)``; ``m.addr`` is what the
    kernel is given, ``m.mem()`` the mapping's bytes in the calling process
    (the same address in a forked child's copy), without a lookup of the
    address space at every access as uget/uput make.  Once the mapping is
    gone (freed, the process exec'd or exiting) mem() faults as uget would;
    the view has the mapping's size (a store past its end is an error, not
    bytes appended to it)."""

    __slots__ = ("addr", "vm", "gen", "data")

    def __init__(self, n: int) -> None:
        p = curproc()
        self.addr = uvm_map_user(p, n)
        self.vm = p.p_vmspace
        self.gen = self.vm.vm_gen
        self.data = memoryview(uvm_user_bytes(p, self.addr))

    def mem(self) -> memoryview:
        p = curproc()
        vm = p.p_vmspace
        if vm is not self.vm or vm.vm_gen != self.gen or p.p_sflag & PS_WEXIT:
            # another address space (a forked child's, a new image's), a
            # mapping removed since (this one perhaps: then EFAULT), or an
            # exiting process, whose lwp leaves here as at any access to its
            # memory
            self.data = memoryview(uvm_user_bytes(p, self.addr))
            self.vm = vm
            self.gen = vm.vm_gen
        return self.data

    def free(self) -> None:
        """Unmap it (ufree)."""
        ufree(self.addr)


def _bytes(s: str | bytes | bytearray | memoryview) -> bytes:
    return s.encode() if isinstance(s, str) else bytes(s)


def _pathbytes(path: str | bytes) -> bytes:
    """A path as C holds it: UTF-8 bytes (undecodable bytes kept through surrogateescape)."""
    if isinstance(path, str):
        return path.encode("utf-8", "surrogateescape")
    return bytes(path)


def _str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


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
    n = ctypes.sizeof(ctype)
    on = _on_stack(addr, n)
    if on is not None:
        return ctype.from_buffer_copy(on[0], on[1])
    return ctype.from_buffer_copy(uread(curproc(), addr, n))


# Where a call's temporaries live: the calling lwp's user stack, as a C
# program keeps them in its caller's frame.  One mapping per lwp (and
# address space: a forked child or an exec'd image gets its own), made at
# the lwp's first call; a temporary that does not fit gets a mapping of its
# own.  Blocks are handed out upwards and the stack pointer comes back down
# past every block freed at the top, so temporaries of interleaved callers
# in one lwp (an async generator between its steps) never overlap.
USTACK_SIZE = 16 * 1024
_STACK_ALIGN = 16
_ZEROS = memoryview(bytes(USTACK_SIZE))   # (what a temporary on the stack is cleared with)

_ustack: ContextVar[_UserStack | None] = ContextVar("libc user stack", default=None)


class _UserStack:
    __slots__ = ("l", "vm", "base", "top", "sp", "data", "blocks")

    def __init__(self, l: Any, p: Any) -> None:
        self.l = l
        self.vm = p.p_vmspace
        self.base = self.sp = uvm_map_user(p, USTACK_SIZE)
        self.top = self.base + USTACK_SIZE
        ent = self.vm.entry_at(self.base)
        self.data = ent.data
        self.blocks: list[list[int]] = []   # [start, end, live] in address order


def _user_stack() -> _UserStack:
    l = curlwp()
    st = _ustack.get()
    if st is None or st.l is not l or st.vm is not l.l_proc.p_vmspace:
        st = _UserStack(l, l.l_proc)
        _ustack.set(st)
    return st


def _stack_push(st: _UserStack, n: int) -> list[int] | None:
    """A block of ``n`` bytes at the top of ``st`` (``[start, end, live]``), or
    None when it does not fit (the caller maps the temporary elsewhere)."""
    a = st.sp
    end = a + ((n + _STACK_ALIGN - 1) & -_STACK_ALIGN)
    if end > st.top:
        return None
    st.sp = end
    b = [a, end, 1]
    st.blocks.append(b)
    return b


def _stack_trim(st: _UserStack) -> None:
    """Bring the stack pointer down past the freed blocks at the top."""
    blocks = st.blocks
    while blocks and not blocks[-1][2]:
        del blocks[-1]
    st.sp = blocks[-1][1] if blocks else st.base


def _on_stack(addr: int, n: int) -> tuple[bytearray, int] | None:
    """(the stack's bytes, offset) when [addr, addr + n) lies in the calling lwp's
    user stack: the program reads and writes its own frame directly."""
    st = _ustack.get()
    if st is None or addr < st.base or addr + n > st.top:
        return None
    l = curlwp()
    if st.l is not l or st.vm is not l.l_proc.p_vmspace:
        return None
    return st.data, addr - st.base


class UserTemp:
    """User allocations that live for one call: ``with UserTemp() as t:
    addr = t.copy(data); path = t.path("/mnt")``.  They come from the lwp's
    user stack (zeroed when handed out) and are given back on exit."""

    __slots__ = ("addrs", "blocks", "st")

    def __init__(self) -> None:
        # (made at the first use: most calls need one block and no mapping)
        self.addrs: list[int] | None = None   # mappings of their own (too big for the stack)
        self.blocks: list[list[int]] | None = None
        self.st: _UserStack | None = None

    def _take(self, n: int) -> int:
        st = self.st
        if st is None:
            st = self.st = _user_stack()
        b = _stack_push(st, n)
        if b is None:
            a = ualloc(n)
            if self.addrs is None:
                self.addrs = [a]
            else:
                self.addrs.append(a)
            return a
        if self.blocks is None:
            self.blocks = [b]
        else:
            self.blocks.append(b)
        return b[0]

    def alloc(self, n: int) -> int:
        if n < 1:
            n = 1
        a = self._take(n)
        st = self.st
        if st is not None and st.base <= a < st.top:
            off = a - st.base
            st.data[off:off + n] = _ZEROS[:n]
        return a

    def load(self, addr: int, ctype: Any) -> Any:
        """``uload(addr, ctype)`` of a temporary of this call: read from the stack
        it came from, without looking up the lwp's stack again."""
        st = self.st
        n = ctypes.sizeof(ctype)
        if st is not None and st.base <= addr and addr + n <= st.top:
            return ctype.from_buffer_copy(st.data, addr - st.base)
        return uload(addr, ctype)

    def copy(self, data: Any) -> int:
        b = bytes(data)
        n = len(b)
        a = self._take(max(n, 1))
        if n:
            st = self.st
            if st is not None and st.base <= a < st.top:
                off = a - st.base
                st.data[off:off + n] = b
            else:
                uwrite(curproc(), a, b)
        return a

    def path(self, path: str | bytes) -> int:
        """A NUL-terminated user copy of a path (or any string)."""
        return self.copy(_pathbytes(path) + b"\0")

    def __enter__(self) -> UserTemp:
        return self

    def __exit__(self, *exc: Any) -> None:
        st = self.st
        if st is not None and self.blocks is not None:
            for b in self.blocks:
                b[2] = 0
            _stack_trim(st)
        if self.addrs is not None:
            p = curproc()
            for a in self.addrs:
                uvm_unmap_user(p, a)


def _copy_back(obj: Any, addr: int) -> None:
    """Update a ctypes object or bytearray in place from user memory."""
    if isinstance(obj, _CDATA):
        n = ctypes.sizeof(obj)
        on = _on_stack(addr, n)
        if on is not None:
            data, off = on
            memoryview(obj).cast("B")[:] = memoryview(data)[off:off + n]
            return
        ctypes.memmove(ctypes.addressof(obj), uread(curproc(), addr, n), n)
    elif isinstance(obj, (bytearray, memoryview)):
        mv = memoryview(obj).cast("B")
        mv[:] = uread(curproc(), addr, mv.nbytes)


# ---------------------------------------------------------------- descriptors

async def open(path: str | bytes, flags: int, mode: int = 0) -> int:  # noqa: A001
    """open(2): a new descriptor for ``path`` (needs the VFS's sys_open)."""
    with UserTemp() as t:
        return await syscall(SYS_open, t.path(path), flags, mode)


async def creat(path: str | bytes, mode: int) -> int:
    """creat(3): open(path, O_CREAT | O_TRUNC | O_WRONLY, mode)."""
    from kern.fcntl import O_CREAT, O_TRUNC, O_WRONLY

    return await open(path, O_CREAT | O_TRUNC | O_WRONLY, mode)


async def close(fd: int) -> int:
    """close(2)."""
    return await syscall(SYS_close, fd)


async def closefrom(fd: int) -> int:
    """closefrom(3): close every descriptor from ``fd`` up (fcntl F_CLOSEM)."""
    from kern.fcntl import F_CLOSEM

    return await syscall(SYS_fcntl, fd, F_CLOSEM, 0)


async def read(fd: int, n: int) -> bytes:
    """read(2) of at most ``n`` bytes; returns what was read."""
    if n < 0:
        raise SyscallError(EINVAL, "read")
    with UserTemp() as t:
        buf = t.alloc(n)
        cnt = await syscall(SYS_read, fd, buf, n)
        return uread(curproc(), buf, cnt)


async def write(fd: int, data: str | bytes | bytearray | memoryview) -> int:
    """write(2); returns the count written."""
    b = _bytes(data)
    with UserTemp() as t:
        return await syscall(SYS_write, fd, t.copy(b), len(b))


async def pread(fd: int, n: int, offset: int) -> bytes:
    """pread(2) (needs the VFS's sys_pread)."""
    if n < 0:
        raise SyscallError(EINVAL, "pread")
    with UserTemp() as t:
        buf = t.alloc(n)
        cnt = await syscall(SYS_pread, fd, buf, n, 0, offset)
        return uread(curproc(), buf, cnt)


async def pwrite(fd: int, data: bytes, offset: int) -> int:
    """pwrite(2) (needs the VFS's sys_pwrite)."""
    b = _bytes(data)
    with UserTemp() as t:
        return await syscall(SYS_pwrite, fd, t.copy(b), len(b), 0, offset)


async def lseek(fd: int, offset: int, whence: int) -> int:
    """lseek(2) (needs the VFS's sys_lseek)."""
    return await syscall(SYS_lseek, fd, 0, offset, whence)


async def readv(fd: int, sizes: list[int]) -> list[bytes]:
    """readv(2) into buffers of the given sizes; returns what landed in each."""
    with UserTemp() as t:
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
    with UserTemp() as t:
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
    with UserTemp() as t:
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
    with UserTemp() as t:
        a = t.copy(arg)
        r = await syscall(SYS_ioctl, fd, cmd, a)
        if cmd & IOC_OUT:
            _copy_back(arg, a)
        return r


# ---------------------------------------------------------------- processes, signals, time

async def fork(child: Callable[..., Awaitable[Any]], *args: Any) -> int:
    """fork(2): the child's pid.  The child process (a copy of this one: descriptors,
    address space, current directory) runs ``await child(*args)`` and exits when
    it returns, with its int value as status (see kern/kern_fork.py for why the
    child's code is named rather than returned to)."""
    from kern.cpu import curlwp
    from kern.kern_fork import cpu_lwp_fork_entry

    cpu_lwp_fork_entry(curlwp(), child, args)
    try:
        return await syscall(SYS_fork)
    finally:
        curlwp().l_md_forkentry = None


async def pipe() -> tuple[int, int]:
    """pipe(2): ``(read end, write end)``, from the two return registers."""
    return await syscall2(SYS_pipe)


async def pipe2(flags: int) -> tuple[int, int]:
    """pipe2(2): a pipe with O_CLOEXEC, O_NONBLOCK or O_NOSIGPIPE on both ends."""
    with UserTemp() as t:
        a = t.alloc(8)
        await syscall(SYS_pipe2, a, flags)
        b = uread(curproc(), a, 8)
    return int.from_bytes(b[:4], "little", signed=True), int.from_bytes(b[4:], "little",
                                                                         signed=True)


async def wait4(pid: int, options: int = 0) -> tuple[int, int]:
    """wait4(2) without rusage: ``(pid, status)``; pid 0 when WNOHANG found none."""
    with UserTemp() as t:
        a = t.alloc(4)
        cpid = await syscall(SYS___wait450, pid, a, options, 0)
        status = int.from_bytes(uread(curproc(), a, 4), "little", signed=True)
    return cpid, status


async def waitpid(pid: int, options: int = 0) -> tuple[int, int]:
    """waitpid(3): ``(pid, status)`` (see WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG)."""
    return await wait4(pid, options)


async def _exit(status: int) -> NoReturn:
    """_exit(2): the process ends now (no stdio flush); does not return."""
    await syscall(SYS_exit, status)
    raise AssertionError("exit returned")  # not reached


async def execve(path: str | bytes, argv: list[str]) -> NoReturn:
    """execve(2): this process becomes the program ``path`` with ``argv``.

    On success it does not return: the new image runs (kern/kern_exec.py: its
    entry point comes back from the kernel) and the process exits with its
    status.  On failure it raises SyscallError and the old image goes on.
    """
    from kern.cpu import curlwp

    p = curproc()
    addrs = [ustr(_pathbytes(path))]
    for a in argv:
        addrs.append(ustr(_pathbytes(a)))
    vec = b"".join(x.to_bytes(8, "little") for x in addrs[1:]) + bytes(8)
    addrs.append(ustruct(vec))
    try:
        await syscall(SYS_execve, addrs[0], addrs[-1], 0)
    except BaseException:
        for x in addrs:
            uvm_unmap_user(p, x)      # the old image goes on: give the memory back
        raise
    # The old image (and its memory) is gone; enter the new one.
    l = curlwp()
    entry, args = l.l_md_execentry
    l.l_md_execentry = None
    status = await entry(args)
    await _exit(status if isinstance(status, int) else 0)


async def getpid() -> int:
    """getpid(2)."""
    return await syscall(SYS_getpid)


async def getppid() -> int:
    """getppid(2)."""
    return await syscall(SYS_getppid)


async def kill(pid: int, sig: int) -> int:
    """kill(2)."""
    return await syscall(SYS_kill, pid, sig)


def funcaddr(fn: Callable[..., Any]) -> int:
    """The address of the program's function ``fn`` (C's ``&fn``), for a
    ``struct_sigaction``'s ``sa_handler``: the process's text holds it there."""
    return uvm_text_map(curproc(), fn)


def funcat(addr: int) -> Callable[..., Any] | None:
    """The function whose code is at ``addr`` in this process, or None."""
    return uvm_text_lookup(curproc().p_vmspace, addr)


async def __sigtramp_siginfo_2(ucp: int) -> None:
    """libc's signal trampoline (version 2): a handler returns here, with the
    frame's ucontext; setcontext(2) puts the interrupted context back.  If it
    fails, the context is beyond repair: exit(-1), as the assembly does."""
    try:
        await syscall(SYS_setcontext, ucp)
    except SyscallError:
        await syscall(SYS_exit, -1)


async def sigaction(sig: int, act: struct_sigaction | None,
                    oact: struct_sigaction | None = None) -> int:
    """sigaction(2): ``act`` (or None) is installed, ``oact`` (if given) gets the old one.

    ``act.sa_handler`` is SIG_DFL, SIG_IGN or a function's address
    (``funcaddr(handler)``); the handler runs in the lwp the signal is
    delivered to, as ``handler(signo)`` or, with SA_SIGINFO, ``handler(signo,
    siginfo address, ucontext address)``, and may be ``async def``."""
    with UserTemp() as t:
        nsa = t.copy(act) if act is not None else 0
        osa = t.alloc(ctypes.sizeof(struct_sigaction)) if oact is not None else 0
        r = await syscall(SYS___sigaction_sigtramp, sig, nsa, osa,
                          funcaddr(__sigtramp_siginfo_2), __SIGTRAMP_SIGINFO_VERSION)
        if oact is not None:
            _copy_back(oact, osa)
        return r


Handler = int | Callable[..., Any]


async def signal(sig: int, handler: Handler, flags: int = SA_RESTART) -> int:
    """signal(3), BSD style (interrupted calls restart); returns the old handler's
    address (SIG_DFL, SIG_IGN, or what ``funcat`` turns back into the function).

    ``handler`` is SIG_DFL, SIG_IGN, a function (``handler(signo)``, plain or
    ``async def``) or a function's address.
    """
    addr = handler if isinstance(handler, int) else funcaddr(handler)
    act = struct_sigaction(sa_handler=addr, sa_flags=flags)
    old = struct_sigaction()
    await sigaction(sig, act, old)
    return old.sa_handler


async def sigprocmask(how: int, sigs: set[int] | frozenset[int] | None) -> set[int]:
    """sigprocmask(2): SIG_BLOCK, SIG_UNBLOCK or SIG_SETMASK ``sigs`` (None only
    reads); returns the old mask as a set of signal numbers."""
    with UserTemp() as t:
        sp = t.copy(set_to_sigset(sigs)) if sigs is not None else 0
        osp = t.alloc(ctypes.sizeof(sigset_t))
        await syscall(SYS___sigprocmask14, how, sp, osp)
        return sigset_to_set(sigset_t.from_buffer_copy(uread(curproc(), osp,
                                                             ctypes.sizeof(sigset_t))))


async def sigpending() -> set[int]:
    """sigpending(2): the signals pending for this lwp and its process."""
    with UserTemp() as t:
        sp = t.alloc(ctypes.sizeof(sigset_t))
        await syscall(SYS___sigpending14, sp)
        return sigset_to_set(sigset_t.from_buffer_copy(uread(curproc(), sp,
                                                             ctypes.sizeof(sigset_t))))


async def sigsuspend(sigs: set[int] | frozenset[int]) -> NoReturn:
    """sigsuspend(2): wait for a signal with ``sigs`` blocked; a handler runs and
    the call fails with EINTR (it never succeeds)."""
    with UserTemp() as t:
        sp = t.copy(set_to_sigset(sigs))
        await syscall(SYS___sigsuspend14, sp)
    raise AssertionError("sigsuspend returned")  # not reached


async def raise_(sig: int) -> int:
    """raise(3): send ``sig`` to this process (taken before raise returns)."""
    return await kill(await getpid(), sig)


async def getcontext(uc: ucontext_t) -> int:
    """getcontext(2) into ``uc``."""
    with UserTemp() as t:
        a = t.alloc(ctypes.sizeof(ucontext_t))
        r = await syscall(SYS_getcontext, a)
        _copy_back(uc, a)
        return r


async def setcontext(uc: ucontext_t) -> int:
    """setcontext(2) from ``uc`` (kemu: the signal mask it holds comes back)."""
    with UserTemp() as t:
        return await syscall(SYS_setcontext, t.copy(uc))


async def nanosleep(req: float | timespec, rem: timespec | None = None) -> int:
    """nanosleep(2) for ``req`` seconds (a float or a timespec) of the machine's clock.

    ``rem``, when given, receives the time left (set also when a signal
    interrupts the sleep with EINTR).
    """
    if not isinstance(req, timespec):
        ns = int(round(float(req) * 1e9))
        req = timespec(*divmod(ns, 1_000_000_000))
    with UserTemp() as t:
        rq = t.copy(req)
        rm = t.alloc(ctypes.sizeof(timespec)) if rem is not None else 0
        try:
            return await syscall(SYS___nanosleep50, rq, rm)
        finally:
            if rem is not None:
                _copy_back(rem, rm)


async def gettimeofday() -> tuple[int, int]:
    """gettimeofday(2): ``(tv_sec, tv_usec)`` of the machine's time of day."""
    from kern.kern_time import timeval

    with UserTemp() as t:
        tp = t.alloc(ctypes.sizeof(timeval))
        await syscall(SYS___gettimeofday50, tp, 0)
        tv = uload(tp, timeval)
        return tv.tv_sec, tv.tv_usec


async def clock_gettime(clock_id: int) -> tuple[int, int]:
    """clock_gettime(2): ``(tv_sec, tv_nsec)`` of CLOCK_REALTIME or CLOCK_MONOTONIC."""
    with UserTemp() as t:
        tp = t.alloc(ctypes.sizeof(timespec))
        await syscall(SYS___clock_gettime50, clock_id, tp)
        ts = uload(tp, timespec)
        return ts.tv_sec, ts.tv_nsec


async def settimeofday(sec: int, usec: int = 0) -> int:
    """settimeofday(2) (__settimeofday50): set the time of day (root only)."""
    from kern.kern_time import timeval

    with UserTemp() as t:
        return await syscall(SYS___settimeofday50, t.copy(timeval(sec, usec)), 0)


async def clock_settime(clock_id: int, sec: int, nsec: int = 0) -> int:
    """clock_settime(2) (__clock_settime50): CLOCK_REALTIME only, root only."""
    with UserTemp() as t:
        return await syscall(SYS___clock_settime50, clock_id, t.copy(timespec(sec, nsec)))


# sysctl MIB names kemu's tools ask for (sys/sysctl.h)
CTL_KERN = 1
CTL_HW = 6
KERN_OSTYPE = 1
KERN_OSRELEASE = 2
KERN_VERSION = 4
KERN_HOSTNAME = 10
KERN_MSGBUF = 53
HW_MACHINE = 1
CTL_QUERY = -2
CTL_DESCRIBE = -7


async def sysctl(mib: list[int], oldlen: int = 65536, new: bytes | None = None) -> bytes:
    """sysctl(3) read (and optional write) of ``mib``: the old value's bytes.

    ``oldlen`` is the size of the buffer offered; a value that does not fit
    fails with ENOMEM, as sysctl(3) does (asysctl() sizes the buffer first).
    """
    names = (ctypes.c_int * len(mib))(*mib)
    with UserTemp() as t:
        nameaddr = t.copy(names)
        oldp = t.alloc(oldlen) if oldlen else 0
        lenp = t.copy(ctypes.c_uint64(oldlen))
        newp = t.copy(new) if new is not None else 0
        await syscall(SYS___sysctl, nameaddr, len(mib), oldp, lenp, newp,
                      len(new) if new is not None else 0)
        n = uload(lenp, ctypes.c_uint64).value
        return uget(oldp, min(n, oldlen)) if oldp else b""


async def sysctl_oldlen(mib: list[int], new: bytes | None = None) -> int:
    """sysctl(3) with a NULL ``oldp``: the size the value would take."""
    names = (ctypes.c_int * len(mib))(*mib)
    with UserTemp() as t:
        lenp = t.copy(ctypes.c_uint64(0))
        newp = t.copy(new) if new is not None else 0
        await syscall(SYS___sysctl, t.copy(names), len(mib), 0, lenp, newp,
                      len(new) if new is not None else 0)
        return uload(lenp, ctypes.c_uint64).value


async def asysctl(mib: list[int]) -> bytes:
    """asysctl(3): the value of ``mib``, however long (sized first, again if it grew)."""
    from kern.errno import ENOMEM

    while True:
        n = await sysctl_oldlen(mib)
        try:
            return await sysctl(mib, n)
        except SyscallError as e:
            if e.errno != ENOMEM:
                raise


async def sysctl_query(mib: list[int]) -> list[Any]:
    """The children of node ``mib`` (a CTL_QUERY): a list of ``struct sysctlnode``."""
    from kern.errno import ENOMEM
    from kern.kern_sysctl import SYSCTL_VERSION, struct_sysctlnode

    qnode = struct_sysctlnode()
    qnode.sysctl_flags = SYSCTL_VERSION
    size = ctypes.sizeof(struct_sysctlnode)
    want = 8 * size
    while True:
        try:
            raw = await sysctl(list(mib) + [CTL_QUERY], want, bytes(qnode))
            break
        except SyscallError as e:
            if e.errno != ENOMEM:
                raise
            want = await sysctl_oldlen(list(mib) + [CTL_QUERY], bytes(qnode))
    return [struct_sysctlnode.from_buffer_copy(raw, i) for i in range(0, len(raw), size)]


class SysctlNameError(SyscallError):
    """sysctlgetmibinfo(3) failed: ``namelen`` components were good, ``token`` was not."""

    def __init__(self, errno: int, namelen: int, token: str) -> None:
        super().__init__(errno, "sysctlgetmibinfo")
        self.namelen = namelen
        self.token = token


async def sysctlgetmibinfo(gname: str) -> tuple[list[int], str, Any]:
    """sysctlgetmibinfo(3): ``(mib, canonical name, node)`` of a dotted (or
    slashed) name; numeric components are taken as numbers.  Raises
    SysctlNameError naming the offending component."""
    from kern.errno import EINVAL, ENOENT, ENOTDIR, ERANGE
    from kern.kern_sysctl import (
        CTL_MAXNAME,
        CTLFLAG_ANYNUMBER,
        CTLFLAG_ROOT,
        CTLTYPE_NODE,
        SYSCTL_TYPE,
        SYSCTL_VERSION,
        struct_sysctlnode,
    )

    pnode = struct_sysctlnode()
    pnode.sysctl_flags = SYSCTL_VERSION | CTLFLAG_ROOT | CTLTYPE_NODE
    sep = "."
    for c in gname:
        if c in "./":
            sep = c
            break
    pname = ""
    if gname.startswith(sep):
        pname = sep
        gname = gname[1:]
    name: list[int] = []
    pieces = gname.split(sep) if gname else []
    for i, token in enumerate(pieces):
        if token == "" and i == len(pieces) - 1:
            break
        # is this token an integer?  strtoq(token, &t, 0), all of it, in
        # [INT_MIN, UINT_MAX]; n is its int
        q = strtoll(token, 0)
        n = to_int(q.value)
        haven = not q.errno and not q.rest(token) and INT_MIN <= q.value <= UINT_MAX
        if SYSCTL_TYPE(pnode.sysctl_flags) != CTLTYPE_NODE:
            if haven and name:
                pname += sep + token
                name.append(n)
                if len(name) == CTL_MAXNAME:
                    raise SysctlNameError(ERANGE, len(name), token)
                continue
            raise SysctlNameError(ENOTDIR, len(name), token)
        try:
            children = await sysctl_query(name)
        except SyscallError as e:
            raise SysctlNameError(e.errno, len(name), token) from None
        for node in children:
            if (haven and (n == node.sysctl_num or node.sysctl_flags & CTLFLAG_ANYNUMBER)) \
                    or token == node.sysctl_name.decode():
                break
        else:
            raise SysctlNameError(ENOENT, len(name), token)
        pnode = node
        if name:
            pname += sep
        if haven and n != pnode.sysctl_num:
            pname += token
            name.append(n)
        else:
            pname += pnode.sysctl_name.decode()
            name.append(pnode.sysctl_num)
        if len(name) == CTL_MAXNAME:
            raise SysctlNameError(ERANGE, len(name), token)
    if not name:
        raise SysctlNameError(EINVAL, 0, "")
    return name, pname, pnode


async def sysctlnametomib(name: str) -> list[int]:
    """sysctlnametomib(3)."""
    return (await sysctlgetmibinfo(name))[0]


async def sysctlbyname(name: str, oldlen: int = 65536, new: bytes | None = None) -> bytes:
    """sysctlbyname(3)."""
    return await sysctl(await sysctlnametomib(name), oldlen, new)


class utsname:
    """struct utsname (sys/utsname.h): what uname(3) fills in."""

    __slots__ = ("sysname", "nodename", "release", "version", "machine")

    def __init__(self, sysname: str, nodename: str, release: str, version: str,
                 machine: str) -> None:
        self.sysname = sysname
        self.nodename = nodename
        self.release = release
        self.version = version
        self.machine = machine


async def uname() -> utsname:
    """uname(3), as NetBSD's libc does it: five sysctls (kern.ostype,
    kern.hostname, kern.osrelease, kern.version, hw.machine); the version
    string's newlines and tabs become spaces and trailing blanks go."""
    _SYS_NMLN = 256

    async def get(mib: list[int]) -> str:
        raw = await sysctl(mib, _SYS_NMLN)
        return _str(raw.split(b"\0", 1)[0])

    sysname = await get([CTL_KERN, KERN_OSTYPE])
    nodename = await get([CTL_KERN, KERN_HOSTNAME])
    release = await get([CTL_KERN, KERN_OSRELEASE])
    version = (await get([CTL_KERN, KERN_VERSION])).replace("\n", " ").replace("\t", " ")
    version = version.rstrip(" ")
    machine = await get([CTL_HW, HW_MACHINE])
    return utsname(sysname, nodename, release, version, machine)


# ---------------------------------------------------------------- files and directories

_STAT_SIZE = ctypes.sizeof(struct_stat)


async def _stat_call(code: int, path: str | bytes) -> struct_stat:
    with UserTemp() as t:
        ub = t.alloc(_STAT_SIZE)
        await syscall(code, t.path(path), ub)
        return t.load(ub, struct_stat)


async def stat(path: str | bytes) -> struct_stat:
    """stat(2) (__stat50): the ``struct stat`` of what ``path`` names, links followed."""
    return await _stat_call(SYS___stat50, path)


async def lstat(path: str | bytes) -> struct_stat:
    """lstat(2) (__lstat50): like stat, but a symbolic link is described itself."""
    return await _stat_call(SYS___lstat50, path)


async def fstat(fd: int) -> struct_stat:
    """fstat(2) (__fstat50): the ``struct stat`` of an open descriptor."""
    # (UserTemp's work for its one block written out: the block on the lwp's
    # stack, zeroed, read back from there, given back)
    st = _user_stack()
    b = _stack_push(st, _STAT_SIZE)
    if b is None:
        with UserTemp() as t:
            sb = t.alloc(_STAT_SIZE)
            await syscall(SYS___fstat50, fd, sb)
            return t.load(sb, struct_stat)
    off = b[0] - st.base
    st.data[off:off + _STAT_SIZE] = _ZEROS[:_STAT_SIZE]
    try:
        await syscall(SYS___fstat50, fd, b[0])
        return struct_stat.from_buffer_copy(st.data, off)
    finally:
        b[2] = 0
        _stack_trim(st)


async def getfh(path: str | bytes, size: int = 128) -> bytes:
    """getfh(2) (__getfh30): the file handle of ``path`` (root only).

    ``size`` is the buffer offered; when it is too small the call fails with
    E2BIG, as NetBSD's does.  getfh_size() asks for the size needed."""
    with UserTemp() as t:
        fhp = t.alloc(max(size, 1))
        szp = t.alloc(8)
        uput(szp, size.to_bytes(8, "little"))
        await syscall(SYS___getfh30, t.path(path), fhp, szp)
        n = int.from_bytes(uget(szp, 8), "little")
        return uget(fhp, n)


async def getfh_size(path: str | bytes) -> int:
    """The handle size getfh needs for ``path`` (the E2BIG probe with size 0)."""
    with UserTemp() as t:
        szp = t.alloc(8)
        uput(szp, bytes(8))
        try:
            await syscall(SYS___getfh30, t.path(path), 0, szp)
        except SyscallError as e:
            if e.errno != E2BIG:
                raise
        return int.from_bytes(uget(szp, 8), "little")


async def fhopen(fh: bytes, flags: int) -> int:
    """fhopen(2) (__fhopen40): open a file by handle (root only)."""
    with UserTemp() as t:
        return await syscall(SYS___fhopen40, t.copy(fh), len(fh), flags)


async def fhstat(fh: bytes) -> struct_stat:
    """fhstat(2) (__fhstat50): stat a file by handle (root only)."""
    with UserTemp() as t:
        sb = t.alloc(ctypes.sizeof(struct_stat))
        await syscall(SYS___fhstat50, t.copy(fh), len(fh), sb)
        return uload(sb, struct_stat)


async def statvfs1(path: str | bytes, flags: int) -> struct_statvfs:
    """statvfs1(2): the ``struct statvfs`` of the file system holding ``path``."""
    with UserTemp() as t:
        buf = t.alloc(ctypes.sizeof(struct_statvfs))
        await syscall(SYS_statvfs1, t.path(path), buf, flags)
        return uload(buf, struct_statvfs)


async def statvfs(path: str | bytes) -> struct_statvfs:
    """statvfs(3): statvfs1(path, ST_WAIT)."""
    return await statvfs1(path, ST_WAIT)


async def fstatvfs1(fd: int, flags: int) -> struct_statvfs:
    """fstatvfs1(2)."""
    with UserTemp() as t:
        buf = t.alloc(ctypes.sizeof(struct_statvfs))
        await syscall(SYS_fstatvfs1, fd, buf, flags)
        return uload(buf, struct_statvfs)


async def fstatvfs(fd: int) -> struct_statvfs:
    """fstatvfs(3): fstatvfs1(fd, ST_WAIT)."""
    return await fstatvfs1(fd, ST_WAIT)


async def getvfsstat(flags: int) -> list[struct_statvfs]:
    """getvfsstat(2): a ``struct statvfs`` per mounted file system, in mount order.

    Sized as getmntinfo(3) does: ask for the count, then fetch with room
    for one more, again if the list grew meanwhile.
    """
    size = ctypes.sizeof(struct_statvfs)
    count = await syscall(SYS_getvfsstat, 0, 0, flags)
    while True:
        bufsize = (count + 1) * size
        with UserTemp() as t:
            buf = t.alloc(bufsize)
            got = await syscall(SYS_getvfsstat, buf, bufsize, flags)
            if got * size < bufsize:
                raw = uget(buf, got * size)
                return [struct_statvfs.from_buffer_copy(raw, i * size) for i in range(got)]
        count = got


async def getmntinfo(flags: int) -> list[struct_statvfs]:
    """getmntinfo(3): getvfsstat(flags) as a list."""
    return await getvfsstat(flags)


async def mkdir(path: str | bytes, mode: int = 0o777) -> int:
    """mkdir(2); the process's umask applies."""
    with UserTemp() as t:
        return await syscall(SYS_mkdir, t.path(path), mode)


async def rmdir(path: str | bytes) -> int:
    """rmdir(2)."""
    with UserTemp() as t:
        return await syscall(SYS_rmdir, t.path(path))


async def unlink(path: str | bytes) -> int:
    """unlink(2)."""
    with UserTemp() as t:
        return await syscall(SYS_unlink, t.path(path))


async def rename(from_: str | bytes, to: str | bytes) -> int:
    """rename(2)."""
    with UserTemp() as t:
        return await syscall(SYS_rename, t.path(from_), t.path(to))


async def link(path: str | bytes, link_: str | bytes) -> int:
    """link(2): a new name ``link_`` for the file ``path``."""
    with UserTemp() as t:
        return await syscall(SYS_link, t.path(path), t.path(link_))


async def symlink(target: str | bytes, linkpath: str | bytes) -> int:
    """symlink(2): a symbolic link ``linkpath`` whose contents are ``target``."""
    with UserTemp() as t:
        return await syscall(SYS_symlink, t.path(target), t.path(linkpath))


async def readlink(path: str | bytes, bufsize: int = MAXPATHLEN) -> str:
    """readlink(2): the contents of the symbolic link (at most ``bufsize`` bytes)."""
    with UserTemp() as t:
        buf = t.alloc(bufsize)
        n = await syscall(SYS_readlink, t.path(path), buf, bufsize)
        return _str(uget(buf, n))


async def getdents(fd: int, count: int) -> bytes:
    """getdents(2) (__getdents30): up to ``count`` bytes of ``struct dirent`` records.

    An empty result means the end of the directory.
    """
    if count < 0:
        raise SyscallError(EINVAL, "__getdents30")
    with UserTemp() as t:
        buf = t.alloc(count)
        n = await syscall(SYS___getdents30, fd, buf, count)
        return uget(buf, n)


async def readdir(fd: int, bufsize: int = 4096) -> AsyncIterator[tuple[int, str, int]]:
    """readdir(3) over an open directory: yields ``(d_fileno, d_name, d_type)``."""
    while True:
        buf = await getdents(fd, bufsize)
        if not buf:
            return
        for ent in iter_dirents(buf):
            yield ent


async def listdir(path: str | bytes) -> list[tuple[int, str, int]]:
    """opendir/readdir/closedir: every entry of directory ``path`` (. and .. included)."""
    from kern.fcntl import O_DIRECTORY, O_RDONLY

    fd = await open(path, O_RDONLY | O_DIRECTORY)
    try:
        return [ent async for ent in readdir(fd)]
    finally:
        await close(fd)


async def truncate(path: str | bytes, length: int) -> int:
    """truncate(2)."""
    with UserTemp() as t:
        return await syscall(SYS_truncate, t.path(path), 0, length)


async def ftruncate(fd: int, length: int) -> int:
    """ftruncate(2)."""
    return await syscall(SYS_ftruncate, fd, 0, length)


async def fsync(fd: int) -> int:
    """fsync(2)."""
    return await syscall(SYS_fsync, fd)


async def sync() -> int:
    """sync(2)."""
    return await syscall(SYS_sync)


async def mknod(path: str | bytes, mode: int, dev: int) -> int:
    """mknod(2) (__mknod50)."""
    with UserTemp() as t:
        return await syscall(SYS___mknod50, t.path(path), mode, dev)


async def chmod(path: str | bytes, mode: int) -> int:
    """chmod(2)."""
    with UserTemp() as t:
        return await syscall(SYS_chmod, t.path(path), mode)


async def lchmod(path: str | bytes, mode: int) -> int:
    """lchmod(2)."""
    with UserTemp() as t:
        return await syscall(SYS_lchmod, t.path(path), mode)


async def fchmod(fd: int, mode: int) -> int:
    """fchmod(2)."""
    return await syscall(SYS_fchmod, fd, mode)


async def chown(path: str | bytes, uid: int, gid: int) -> int:
    """chown(2); -1 leaves that id alone."""
    with UserTemp() as t:
        return await syscall(SYS_chown, t.path(path), uid, gid)


async def lchown(path: str | bytes, uid: int, gid: int) -> int:
    """lchown(2)."""
    with UserTemp() as t:
        return await syscall(SYS_lchown, t.path(path), uid, gid)


async def fchown(fd: int, uid: int, gid: int) -> int:
    """fchown(2)."""
    return await syscall(SYS_fchown, fd, uid, gid)


Times = tuple[tuple[int, int], tuple[int, int]] | tuple[float, float] | None


def _timevals(t: UserTemp, times: Times) -> int:
    """``struct timeval tv[2]`` (access, modification) in user memory; NULL for None."""
    from kern.kern_time import timeval

    if times is None:
        return 0
    tv = (timeval * 2)()
    for i, v in enumerate(times):
        if isinstance(v, tuple):
            tv[i].tv_sec, tv[i].tv_usec = v
        else:
            us = int(round(float(v) * 1e6))
            tv[i].tv_sec, tv[i].tv_usec = divmod(us, 1_000_000)
    return t.copy(tv)


async def utimes(path: str | bytes, times: Times = None) -> int:
    """utimes(2) (__utimes50): ``times`` is (atime, mtime), each (sec, usec) or seconds;
    None sets both to now."""
    with UserTemp() as t:
        return await syscall(SYS___utimes50, t.path(path), _timevals(t, times))


async def lutimes(path: str | bytes, times: Times = None) -> int:
    """lutimes(2) (__lutimes50)."""
    with UserTemp() as t:
        return await syscall(SYS___lutimes50, t.path(path), _timevals(t, times))


async def futimes(fd: int, times: Times = None) -> int:
    """futimes(2) (__futimes50)."""
    with UserTemp() as t:
        return await syscall(SYS___futimes50, fd, _timevals(t, times))


async def access(path: str | bytes, mode: int) -> int:
    """access(2): 0, or SyscallError (EACCES, ENOENT, ...)."""
    with UserTemp() as t:
        return await syscall(SYS_access, t.path(path), mode)


async def pathconf(path: str | bytes, name: int) -> int:
    """pathconf(2)."""
    with UserTemp() as t:
        return await syscall(SYS_pathconf, t.path(path), name)


async def fpathconf(fd: int, name: int) -> int:
    """fpathconf(2)."""
    return await syscall(SYS_fpathconf, fd, name)


async def chdir(path: str | bytes) -> int:
    """chdir(2)."""
    with UserTemp() as t:
        return await syscall(SYS_chdir, t.path(path))


async def fchdir(fd: int) -> int:
    """fchdir(2)."""
    return await syscall(SYS_fchdir, fd)


async def chroot(path: str | bytes) -> int:
    """chroot(2)."""
    with UserTemp() as t:
        return await syscall(SYS_chroot, t.path(path))


async def getcwd(size: int = MAXPATHLEN) -> str:
    """getcwd(3) (__getcwd): the current directory; ERANGE if longer than ``size``."""
    if size <= 0:
        raise SyscallError(EINVAL if size == 0 else ERANGE, "__getcwd")
    with UserTemp() as t:
        buf = t.alloc(size)
        n = await syscall(SYS___getcwd, buf, size)
        raw = uget(buf, n)
        return _str(raw.split(b"\0", 1)[0])


async def umask(mask: int) -> int:
    """umask(2): set the file creation mask; returns the old one."""
    return await syscall(SYS_umask, mask)


async def mount(fstype: str | bytes, path: str | bytes, flags: int,
                data: bytes | bytearray | Any | None = None) -> int:
    """mount(2) (__mount50): ``data`` (bytes, a ctypes struct or None) is copied into
    user memory and passed with its size as ``data_len``.

    A mutable ``data`` (ctypes object, bytearray) is updated in place from
    user memory after the call, for MNT_GETARGS and file systems that
    adjust their arguments.
    """
    with UserTemp() as t:
        if data is None:
            addr, n = 0, 0
        else:
            b = bytes(data)
            n = len(b)
            addr = t.copy(b) if n else 0
        r = await syscall(SYS___mount50, t.path(fstype), t.path(path), flags, addr, n)
        if n and isinstance(data, (bytearray, *_CDATA)):
            _copy_back(data, addr)
        return r


async def unmount(path: str | bytes, flags: int = 0) -> int:
    """unmount(2)."""
    with UserTemp() as t:
        return await syscall(SYS_unmount, t.path(path), flags)


async def modctl(cmd: int, arg: Any = None) -> int:
    """modctl(2): ``arg`` is passed as C would.

    An int (or None) goes as it is (MODCTL_EXISTS); a str or bytes as a
    NUL-terminated string (MODCTL_UNLOAD's module name); a ctypes object
    (``modctl_load_t``, a ``user_iovec`` for MODCTL_STAT) or bytearray by
    address, updated in place from user memory after the call.
    """
    if arg is None or isinstance(arg, int):
        return await syscall(SYS_modctl, cmd, arg or 0)
    with UserTemp() as t:
        if isinstance(arg, (str, bytes)):
            return await syscall(SYS_modctl, cmd, t.path(arg))
        a = t.copy(arg)
        try:
            return await syscall(SYS_modctl, cmd, a)
        finally:
            _copy_back(arg, a)
