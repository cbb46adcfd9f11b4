"""Generic system calls on descriptors: read, write, readv, writev, ioctl (sys_generic.c).

Ported from NetBSD 8's sys_generic.c (around 1.132).  The calls find the
file behind the descriptor, build a ``uio`` over the caller's user buffer
and hand it to the file's ``fo_read``/``fo_write``; ``sys_ioctl`` copies the
argument in and out as the command word says (sys/ioccom.h) and hands the
driver a kernel buffer.

pread/pwrite need vnodes (ESPIPE for pipes and sockets, VOP_SEEK); the VFS
registers them, using :func:`dofileread`/:func:`dofilewrite` with its own
offset, and may set :data:`dofile_seekcheck` for preadv/pwritev.
"""

from __future__ import annotations

import ctypes
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.cpu import curlwp
from kern.errno import (
    EBADF,
    EINTR,
    EINVAL,
    ENOTTY,
    EPASSTHROUGH,
    EPIPE,
    ERESTART,
    ESPIPE,
    EWOULDBLOCK,
)
from kern.fcntl import (
    DTYPE_VNODE,
    FASYNC,
    FNONBLOCK,
    FNOSIGPIPE,
    FOF_IOV_SYSSPACE,
    FOF_UPDATE_OFFSET,
    FREAD,
    FWRITE,
)
from kern.ioccom import (
    FIOASYNC,
    FIOCLEX,
    FIONBIO,
    FIONCLEX,
    IOC_IN,
    IOC_OUT,
    IOC_VOID,
    IOCGROUP,
    IOCPARM_LEN,
    IOCPARM_MASK,
    IOCPARM_MAX,
    IOCPARM_SHIFT,
)
from kern.kern_descrip import (
    fd_getfile,
    fd_putfile,
    fd_set_exclose,
    file,
    file_offset,
)
from kern.subr_copy import (
    IOV_MAX,
    SSIZE_MAX,
    UIO_READ,
    UIO_WRITE,
    copyin,
    copyout,
    iovec,
    uio,
    user_iovec,
)
from kern.subr_kmem import KM_SLEEP, kmem_alloc, kmem_free
from kern.subr_prf import printf

if TYPE_CHECKING:
    from kern.kern_lwp import lwp

# sys_ioctl keeps arguments up to this size on its stack; larger ones come
# from kmem.
STK_PARAMS = 128

# The VFS may set this: ``await dofile_seekcheck(fp, offset) -> int`` for
# preadv/pwritev on a descriptor (ESPIPE for a FIFO, VOP_SEEK's verdict).
dofile_seekcheck: Callable[[file, int], Awaitable[int]] | None = None


def _int32(data: Any) -> int:
    """``*(int *)data`` for a kernel buffer (or the raw argument of a void command)."""
    if isinstance(data, int):
        return data
    return int.from_bytes(bytes(memoryview(data).cast("B")[:4]), "little", signed=True)


# ---------------------------------------------------------------- read

async def sys_read(l: lwp, uap: Any, retval: list[Any]) -> int:
    """read(fd, buf, nbyte)."""
    fd = uap.fd
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF
    if (fp.f_flag & FREAD) == 0:
        fd_putfile(fd)
        return EBADF
    # dofileread releases the descriptor
    return await dofileread(fd, fp, uap.buf, uap.nbyte, file_offset(fp), FOF_UPDATE_OFFSET,
                            retval)


async def dofileread(fd: int, fp: file, buf: Any, nbyte: int, offset: Any, flags: int,
                     retval: list[Any]) -> int:
    """Read into user buffer ``buf`` through ``fp``; releases ``fd`` (fd_putfile)."""
    l = curlwp()
    aiov = iovec(buf, nbyte)
    auio = uio([aiov], 1, 0, nbyte, UIO_READ, l.l_proc.p_vmspace)
    # read(2) returns ssize_t: a larger request could not report its count.
    if auio.uio_resid > SSIZE_MAX:
        error = EINVAL
    else:
        cnt = auio.uio_resid
        error = await fp.f_ops.fo_read(fp, offset, auio, fp.f_cred, flags)
        if error and auio.uio_resid != cnt and error in (ERESTART, EINTR, EWOULDBLOCK):
            error = 0  # a partial transfer counts as success
        cnt -= auio.uio_resid
        retval[0] = cnt
    fd_putfile(fd)
    return error


async def do_filereadv(fd: int, iovp: Any, iovcnt: int, offset: Any, flags: int,
                       retval: list[Any]) -> int:
    """readv/preadv: ``offset`` None means the file's own offset."""
    return await _do_filerw(fd, iovp, iovcnt, offset, flags, retval, UIO_READ)


# ---------------------------------------------------------------- write

async def sys_write(l: lwp, uap: Any, retval: list[Any]) -> int:
    """write(fd, buf, nbyte)."""
    fd = uap.fd
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF
    if (fp.f_flag & FWRITE) == 0:
        fd_putfile(fd)
        return EBADF
    return await dofilewrite(fd, fp, uap.buf, uap.nbyte, file_offset(fp), FOF_UPDATE_OFFSET,
                             retval)


def _sigpipe(l: lwp, fp: file) -> None:
    from kern.kern_sig import SIGPIPE, psignal

    if not fp.f_flag & FNOSIGPIPE:
        psignal(l.l_proc, SIGPIPE)


async def dofilewrite(fd: int, fp: file, buf: Any, nbyte: int, offset: Any, flags: int,
                      retval: list[Any]) -> int:
    """Write user buffer ``buf`` through ``fp``; releases ``fd`` (fd_putfile)."""
    l = curlwp()
    aiov = iovec(buf, nbyte)
    auio = uio([aiov], 1, 0, nbyte, UIO_WRITE, l.l_proc.p_vmspace)
    if auio.uio_resid > SSIZE_MAX:
        error = EINVAL
    else:
        cnt = auio.uio_resid
        error = await fp.f_ops.fo_write(fp, offset, auio, fp.f_cred, flags)
        if error:
            if auio.uio_resid != cnt and error in (ERESTART, EINTR, EWOULDBLOCK):
                error = 0
            if error == EPIPE:
                _sigpipe(l, fp)
        cnt -= auio.uio_resid
        retval[0] = cnt
    fd_putfile(fd)
    return error


async def do_filewritev(fd: int, iovp: Any, iovcnt: int, offset: Any, flags: int,
                        retval: list[Any]) -> int:
    """writev/pwritev: ``offset`` None means the file's own offset."""
    return await _do_filerw(fd, iovp, iovcnt, offset, flags, retval, UIO_WRITE)


async def _do_filerw(fd: int, iovp: Any, iovcnt: int, offset: Any, flags: int,
                     retval: list[Any], rw: int) -> int:
    """do_filereadv/do_filewritev, one body for both directions."""
    if iovcnt == 0:
        return EINVAL
    l = curlwp()
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF
    need = FREAD if rw == UIO_READ else FWRITE
    if (fp.f_flag & need) == 0:
        fd_putfile(fd)
        return EBADF
    error = 0
    if offset is None:
        offset = file_offset(fp)
    else:
        # An explicit offset needs a seekable file.
        if fp.f_type != DTYPE_VNODE:
            error = ESPIPE
        elif dofile_seekcheck is not None:
            error = await dofile_seekcheck(fp, offset[0])
        if error:
            fd_putfile(fd)
            return error

    iov: list[iovec]
    if flags & FOF_IOV_SYSSPACE:
        iov = [iovec(v.iov_base, v.iov_len) for v in iovp]
    elif iovcnt <= 0 or iovcnt > IOV_MAX:
        fd_putfile(fd)
        return EINVAL
    else:
        uiov = (user_iovec * iovcnt)()
        error = copyin(iovp, uiov, ctypes.sizeof(uiov))
        if error:
            fd_putfile(fd)
            return error
        iov = [iovec(int(v.iov_base), int(v.iov_len)) for v in uiov]

    auio = uio(iov, len(iov), 0, 0, rw, l.l_proc.p_vmspace)
    resid = 0
    for v in iov:
        resid += v.iov_len
        # the total is returned as ssize_t
        if v.iov_len > SSIZE_MAX or resid > SSIZE_MAX:
            fd_putfile(fd)
            return EINVAL
    auio.uio_resid = resid
    cnt = resid
    if rw == UIO_READ:
        error = await fp.f_ops.fo_read(fp, offset, auio, fp.f_cred, flags)
    else:
        error = await fp.f_ops.fo_write(fp, offset, auio, fp.f_cred, flags)
    if error:
        if auio.uio_resid != cnt and error in (ERESTART, EINTR, EWOULDBLOCK):
            error = 0
        if rw == UIO_WRITE and error == EPIPE:
            _sigpipe(l, fp)
    cnt -= auio.uio_resid
    retval[0] = cnt
    fd_putfile(fd)
    return error


async def sys_readv(l: lwp, uap: Any, retval: list[Any]) -> int:
    """readv(fd, iovp, iovcnt)."""
    return await do_filereadv(uap.fd, uap.iovp, uap.iovcnt, None, FOF_UPDATE_OFFSET, retval)


async def sys_writev(l: lwp, uap: Any, retval: list[Any]) -> int:
    """writev(fd, iovp, iovcnt)."""
    return await do_filewritev(uap.fd, uap.iovp, uap.iovcnt, None, FOF_UPDATE_OFFSET, retval)


# ---------------------------------------------------------------- ioctl

async def sys_ioctl(l: lwp, uap: Any, retval: list[Any]) -> int:
    """ioctl(fd, com, data): move the argument as the command encodes it, call fo_ioctl."""
    fd = uap.fd
    com = uap.com
    error = 0
    memp: Any = None
    size = 0
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF

    if (fp.f_flag & (FREAD | FWRITE)) == 0:
        error = EBADF
        com = 0
    elif com in (FIONCLEX, FIOCLEX):
        fd_set_exclose(l, fd, com == FIOCLEX)
    else:
        # The high word says how much to copy and which way.  (IOCPARM_LEN
        # written out: every ioctl passes here)
        size = (com >> IOCPARM_SHIFT) & IOCPARM_MASK
        if size > IOCPARM_MAX:
            error = ENOTTY
        else:
            data: Any
            if (com >> IOCPARM_SHIFT) == 0:
                # a UNIX-style ioctl: the driver gets the argument as it is
                data = uap.data
            else:
                if size > STK_PARAMS:
                    memp = kmem_alloc(size, KM_SLEEP)
                    data = memp
                else:
                    data = bytearray(size)
                if com & IOC_IN:
                    if size:
                        error = copyin(uap.data, data, size)
                    else:
                        data = uap.data  # the argument itself, not a pointer to it
                elif (com & IOC_OUT) and size:
                    # give the user something deterministic whatever the driver fills in
                    data[:size] = bytes(size)
                elif com & IOC_VOID:
                    data = uap.data

            if not error:
                if com == FIONBIO:
                    if _int32(data) != 0:
                        fp.f_flag |= FNONBLOCK
                    else:
                        fp.f_flag &= ~FNONBLOCK
                    error = await fp.f_ops.fo_ioctl(fp, FIONBIO, data)
                elif com == FIOASYNC:
                    if _int32(data) != 0:
                        fp.f_flag |= FASYNC
                    else:
                        fp.f_flag &= ~FASYNC
                    error = await fp.f_ops.fo_ioctl(fp, FIOASYNC, data)
                else:
                    error = await fp.f_ops.fo_ioctl(fp, com, data)
                    # copy the result to the user; size was checked above
                    if error == 0 and (com & IOC_OUT) and size:
                        error = copyout(data, uap.data, size)
            if memp is not None:
                kmem_free(memp, size)

    fd_putfile(fd)
    if error == -1:
        p = l.l_proc
        printf("sys_ioctl: _IO%s%s('%c', %lu, %lu) returned -1: pid=%d comm=%s\n",
               "W" if com & IOC_IN else "", "R" if com & IOC_OUT else "",
               chr(IOCGROUP(com)), com & 0xff, IOCPARM_LEN(com), p.p_pid, p.p_comm)
        error = ENOTTY
    elif error == EPASSTHROUGH:
        error = ENOTTY
    return error
