"""libpuffs' private system-call stubs (what libc does not offer yet).

Each stub runs in the calling user lwp and enters the kernel only through
``kern.syscall.syscall``, with its arguments in the process's user memory,
as lib/libc.py's stubs do.  A failure raises ``kern.SyscallError`` with
NetBSD's errno.  ``lwp_create`` is the stand-in for pthread_create(3)
(kemu has no _lwp_create(2) yet): it starts a new lwp in the calling
process.
"""

from __future__ import annotations

import ctypes
from collections.abc import Awaitable, Callable
from typing import Any

from kern.cpu import curmachine, curproc
from kern.exceptions import KernelError
from kern.subr_copy import uread, uvm_map_user, uvm_unmap_user, uwrite
from kern.syscall import SYS___mount50, SYS_unmount, syscall

_CDATA = (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)


class UserTemp:
    """User memory that lives for one call (freed on exit)."""

    def __init__(self) -> None:
        self.addrs: list[int] = []

    def alloc(self, n: int) -> int:
        a = uvm_map_user(curproc(), max(n, 1))
        self.addrs.append(a)
        return a

    def copy(self, data: Any) -> int:
        b = bytes(data)
        a = self.alloc(len(b))
        if b:
            uwrite(curproc(), a, b)
        return a

    def cstr(self, s: str | bytes) -> int:
        b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        return self.copy(b + b"\0")

    def __enter__(self) -> UserTemp:
        return self

    def __exit__(self, *exc: Any) -> None:
        p = curproc()
        for a in self.addrs:
            uvm_unmap_user(p, a)


def copy_back(obj: Any, addr: int) -> None:
    """Update a ctypes object in place from user memory."""
    n = ctypes.sizeof(obj)
    ctypes.memmove(ctypes.addressof(obj), uread(curproc(), addr, n), n)


async def mount(fstype: str, path: str | bytes, flags: int, data: Any,
                data_len: int | None = None) -> int:
    """mount(2) (__mount50); a ctypes ``data`` block is updated from what the kernel
    copied back (puffs writes the granted request size and the type name there)."""
    with UserTemp() as t:
        if data is None:
            daddr, n = 0, 0
        else:
            daddr = t.copy(data)
            n = ctypes.sizeof(data) if data_len is None else data_len
        r = await syscall(SYS___mount50, t.cstr(fstype), t.cstr(path), flags, daddr, n)
        if isinstance(data, _CDATA) and daddr:
            copy_back(data, daddr)
        return r


async def unmount(path: str | bytes, flags: int = 0) -> int:
    """unmount(2)."""
    with UserTemp() as t:
        return await syscall(SYS_unmount, t.cstr(path), flags)


def lwp_create(afn: Callable[..., Awaitable[Any]], *args: Any, name: str = "lwp",
               errors: list[BaseException] | None = None) -> Any:
    """Start ``afn(*args)`` in a new lwp of the calling process (pthread_create).

    An exception from ``afn`` ends only that lwp; it is appended to
    ``errors`` when given (a kernel error still ends the machine).
    """
    from kern.kern_lwp import lwp

    async def body() -> None:
        try:
            await afn(*args)
        except KernelError:
            raise
        except Exception as e:  # noqa: BLE001 - a thread's death is its own business
            if errors is not None:
                errors.append(e)

    l = lwp(curproc(), name)
    curmachine().spawn_lwp(l, body, ())
    return l
