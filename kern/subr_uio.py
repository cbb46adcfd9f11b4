"""uio(9) in one place: scatter/gather I/O descriptions and uiomove.

The implementation lives in kern.subr_copy (next to copyin/copyout); this
module is the import point the VFS and file systems use.  ``uiomove`` is
``async`` (it may fault pages in user space), so callers ``await`` it.

A uio describes where the bytes of a read or write go: iovecs in a user
address space (``uio_vmspace`` a process's vmspace, ``iov_base`` user
addresses) or in the kernel (UIO_SYSSPACE: ``iov_base`` writable buffers).
"""

from __future__ import annotations

from typing import Any

from kern.subr_copy import (  # noqa: F401 - re-exported
    IOV_MAX,
    UIO_READ,
    UIO_SETUP_SYSSPACE,
    UIO_SYSSPACE,
    UIO_USERSPACE,
    UIO_WRITE,
    iovec,
    uio,
    uiomove,
    uiomove_frombuf,
)


def kernel_uio(buf: Any, offset: int, rw: int, n: int | None = None) -> uio:
    """A one-iovec kernel-space uio over ``buf`` (the common vn_rdwr case)."""
    mv = buf if isinstance(buf, memoryview) else memoryview(buf).cast("B")
    if n is None:
        n = len(mv)
    u = uio([iovec(mv[:n], n)], uio_offset=offset, uio_rw=rw)
    UIO_SETUP_SYSSPACE(u)
    return u


async def uiomove_zero(n: int, u: uio) -> int:
    """Move ``n`` zero bytes into a read uio (holes)."""
    return await uiomove(bytearray(n), n, u)
