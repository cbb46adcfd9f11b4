"""Descriptors and generic file operations: allocation, close, dup, fcntl, read/write, ioctl.

The files here are test files with their own fileops (a byte array in
memory), installed with fd_allocfile/fd_affix, so no VFS is needed.
"""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern import (
    EBADF,
    EFAULT,
    EINTR,
    EINVAL,
    EMFILE,
    EMOVEFD,
    ENFILE,
    ENOTTY,
    EOPNOTSUPP,
    EPASSTHROUGH,
    ERESTART,
    IPL_NONE,
    MUTEX_DEFAULT,
    cv_broadcast,
    cv_init,
    cv_wait_sig,
    kcondvar_t,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.cpu import curlwp, curmachine, curproc
from kern.fcntl import (
    DTYPE_MISC,
    DTYPE_VNODE,
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_GETFD,
    F_GETFL,
    F_MAXFD,
    F_SETFD,
    F_SETFL,
    FD_CLOEXEC,
    FNONBLOCK,
    FOF_UPDATE_OFFSET,
    FREAD,
    FWRITE,
    O_APPEND,
    O_CLOEXEC,
    O_NONBLOCK,
    O_RDWR,
    O_WRONLY,
)
from kern.ioccom import _IO, _IOR, _IOW, _IOWR, FIOCLEX, FIONBIO, FIONCLEX, IOCPARM_LEN
from kern.kern_descrip import (
    closef,
    fd_abort,
    fd_affix,
    fd_alloc,
    fd_allocfile,
    fd_clone,
    fd_close,
    fd_free,
    fd_getfile,
    fd_getvnode,
    fd_putfile,
    fd_set_exclose,
    filelist,
    fileops,
    l_dupfd,
    nfiles,
)
from kern.kern_lwp import lwp
from kern.machine.testing import errno_of
from kern.subr_copy import uiomove, uiomove_frombuf
from tools.lib import libc
from vfs.vnode import VBAD, VREG  # the VFS's values: kern_descrip keeps its own VBAD


class MemFile:
    """What a test file holds: bytes, and a record of what was done to it."""

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.closed = 0
        self.ioctls: list[tuple[int, object]] = []
        self.fcntls: list[int] = []
        self.restarts = 0
        self.blocking = False  # reads sleep until a restart or unblock
        self.mtx = kmutex_t()
        mutex_init(self.mtx, MUTEX_DEFAULT, IPL_NONE)
        self.cv = kcondvar_t()
        cv_init(self.cv, "memread")
        self.restarted = False


async def mem_read(fp, offset, uio, cred, flags):
    mf = fp.f_data
    if mf.blocking:
        await mutex_enter(mf.mtx)
        while mf.blocking and not mf.restarted:
            error = await cv_wait_sig(mf.cv, mf.mtx)
            if error:
                mutex_exit(mf.mtx)
                return error
        restarted = mf.restarted
        mutex_exit(mf.mtx)
        if restarted:
            return ERESTART
    uio.uio_offset = offset[0]
    cnt = uio.uio_resid
    error = await uiomove_frombuf(mf.data, len(mf.data), uio)
    if flags & FOF_UPDATE_OFFSET:
        offset[0] += cnt - uio.uio_resid
    return error


async def mem_write(fp, offset, uio, cred, flags):
    mf = fp.f_data
    off = len(mf.data) if fp.f_flag & O_APPEND else offset[0]
    n = uio.uio_resid
    buf = bytearray(n)
    error = await uiomove(buf, n, uio)
    moved = n - uio.uio_resid
    if off + moved > len(mf.data):
        mf.data.extend(bytes(off + moved - len(mf.data)))
    mf.data[off:off + moved] = buf[:moved]
    if flags & FOF_UPDATE_OFFSET:
        offset[0] = off + moved
    return error


# test ioctls
class targ(ctypes.Structure):
    _fields_ = [("ptr", ctypes.c_uint64), ("val", ctypes.c_int32), ("out", ctypes.c_int32)]


TIOCSETV = _IOW('T', 1, targ)      # the driver reads val
TIOCGETV = _IOR('T', 2, targ)      # the driver fills in val and out
TIOCSWAP = _IOWR('T', 3, targ)     # out = val * 2
TIOCPOKE = _IO('T', 4)             # an argument-less command: data is the raw int
TIOCBIG = _IOWR('T', 5, 1000)      # bigger than sys_ioctl's stack buffer
TIOCHUGE = _IOW('T', 6, 5000)      # over IOCPARM_MAX
TIOCFAIL = _IOR('T', 7, targ)      # the driver fails: nothing is copied out
TIOCOLD = (ord('T') << 8) | 8      # a UNIX-style command (no length, no direction)


async def mem_ioctl(fp, com, data):
    mf = fp.f_data
    if com in (TIOCSETV, TIOCGETV, TIOCSWAP, TIOCFAIL):
        assert isinstance(data, bytearray) and len(data) == IOCPARM_LEN(com)
        a = targ.from_buffer(data)
        mf.ioctls.append((com, (a.ptr, a.val, a.out)))
        if com == TIOCGETV:
            a.val, a.out = 42, len(mf.data)
        elif com == TIOCSWAP:
            a.out = a.val * 2
        elif com == TIOCFAIL:
            a.val = 13
            return EOPNOTSUPP
        return 0
    if com in (TIOCPOKE, TIOCOLD):
        mf.ioctls.append((com, data))
        return 0
    if com == TIOCBIG:
        mf.ioctls.append((com, bytes(data[:4])))
        data[996:1000] = b"done"
        return 0
    if com == FIONBIO:
        mf.ioctls.append((com, int.from_bytes(data[:4], "little")))
        return 0
    return EPASSTHROUGH


async def mem_fcntl(fp, cmd, data):
    fp.f_data.fcntls.append(cmd)
    return 0 if cmd == F_SETFL else EOPNOTSUPP


async def mem_close(fp):
    fp.f_data.closed += 1
    return 0


async def mem_restart(fp):
    mf = fp.f_data
    mf.restarts += 1
    await mutex_enter(mf.mtx)
    mf.restarted = True
    cv_broadcast(mf.cv)
    mutex_exit(mf.mtx)


memops = fileops(fo_name="mem", fo_read=mem_read, fo_write=mem_write, fo_ioctl=mem_ioctl,
                 fo_fcntl=mem_fcntl, fo_close=mem_close, fo_restart=mem_restart)


def install(mf: MemFile, flag: int = FREAD | FWRITE) -> int:
    """Open a test file in the current process: a new descriptor for it."""
    error, fp, fd = fd_allocfile()
    assert error == 0
    fp.f_flag = flag
    fp.f_type = DTYPE_MISC
    fp.f_ops = memops
    fp.f_data = mf
    fd_affix(curproc(), fp, fd)
    return fd


@pytest.fixture
def k():
    with kern.boot(seed=1) as m:
        yield m
        # the machine is still sound: no panic, deadlock or lock-order reversal
        assert m.failure is None


# ---------------------------------------------------------------- allocation, close

def test_lowest_free_descriptor_and_close(k):
    async def body():
        mfs = [MemFile() for _ in range(4)]
        fds = [install(m) for m in mfs]
        await libc.close(fds[1])
        again = install(MemFile())
        r = [fds, again, mfs[1].closed, len(filelist())]
        r.append(await errno_of(libc.close(fds[1] + 10)))
        await libc.close(again)
        r.append(await errno_of(libc.close(again)))     # twice: EBADF
        r.append(await errno_of(libc.close(-1)))
        for fd in (0, 2, 3):
            await libc.close(fd)
        r.append((nfiles(), [m.closed for m in mfs]))
        return r

    assert k.run(body) == [[0, 1, 2, 3], 1, 1, 4, EBADF, EBADF, EBADF,
                           (0, [1, 1, 1, 1])]


def test_fd_abort_and_emfile(k):
    async def body():
        p = curproc()
        p.p_fd.fd_nofile = 3
        error, fp, fd = fd_allocfile()
        fd_abort(p, fp, fd)          # backed out: slot and file released
        r = [nfiles()]
        fds = [install(MemFile()) for _ in range(3)]
        r.append(fd_allocfile()[0])
        r.append(fd_alloc(p, 0)[0])
        r.append(await errno_of(libc.dup(0)))
        for fd in fds:
            await libc.close(fd)
        p.p_fd.fd_nofile = 200
        many = [install(MemFile()) for _ in range(60)]   # the table grows past NDFILE
        r.append(many[-1])
        r.append(p.p_fd.fd_dt.dt_nfiles)                 # NDFILE, NDEXTENT, then doubled
        for fd in many:
            await libc.close(fd)
        return r

    assert k.run(body) == [0, EMFILE, EMFILE, EMFILE, 59, 100]


def test_fd_abort_forgets_close_on_exec(k):
    async def body():
        l = curlwp()
        error, fp, fd = fd_allocfile()
        fd_set_exclose(l, fd, True)      # as an O_CLOEXEC open does before it can fail
        fd_abort(l.l_proc, fp, fd)
        again = install(MemFile())       # the same slot, opened without O_CLOEXEC
        return again == fd, await libc.fcntl(again, F_GETFD)

    assert k.run(body) == (True, 0)


def test_enfile_by_fault_injection(k):
    async def body():
        error, fp, fd = fd_allocfile()
        return error, fp, fd, curproc().p_fd.open_fds()

    with k.faults.inject("fd_allocfile", error=ENFILE):
        assert k.run(body) == (ENFILE, None, -1, [])


def test_fd_clone(k):
    async def body():
        error, fp, fd = fd_allocfile()
        mf = MemFile(b"cloned")
        r = fd_clone(fp, fd, FREAD | FWRITE | 0x10000000, memops, mf)
        got = fd_getfile(fd)
        fl = got.f_flag
        fd_putfile(fd)
        data = await libc.read(fd, 100)
        exclose = await libc.fcntl(fd, F_GETFD)
        # O_CLOEXEC in the flags makes the cloned descriptor close-on-exec
        error, fp2, fd2 = fd_allocfile()
        fd_clone(fp2, fd2, FREAD | O_CLOEXEC, memops, MemFile())
        exclose2 = await libc.fcntl(fd2, F_GETFD)
        await libc.close(fd2)
        await libc.close(fd)
        return r, l_dupfd(curlwp()) == fd2, got.f_type, fl, data, exclose, exclose2, mf.closed

    assert k.run(body) == (EMOVEFD, True, DTYPE_MISC, FREAD | FWRITE, b"cloned", 0, 1, 1)


def test_fd_getvnode(k):
    class fakevnode:
        def __init__(self, v_type: int) -> None:
            self.v_type = v_type

    async def fake_close(fp):
        return 0

    fakeops = fileops(fo_name="fakevn", fo_close=fake_close)

    async def body():
        r = []
        fds = []
        for vt in (VREG, VBAD):              # a file, then one a forced unmount revoked
            error, fp, fd = fd_allocfile()
            fp.f_flag, fp.f_type, fp.f_ops, fp.f_data = FREAD, DTYPE_VNODE, fakeops, \
                fakevnode(vt)
            fd_affix(curproc(), fp, fd)
            fds.append(fd)
            error, got = fd_getvnode(fd)
            if error == 0:
                fd_putfile(fd)
            r.append((error, got is fp))
        r.append(fd_getvnode(install(MemFile()))[0])     # not a vnode
        r.append(fd_getvnode(99)[0])                      # not open
        # every reference taken above was given back: the descriptors close at once
        for fd in fds:
            await libc.close(fd)
        return r, curproc().p_fd.fd_dt.dt_ff[fds[1]].ff_refcnt

    assert k.run(body) == ([(0, True), (EBADF, False), EINVAL, EBADF], 0)


# ---------------------------------------------------------------- read / write

def test_read_write_offsets_and_access_modes(k):
    async def body():
        mf = MemFile(b"0123456789")
        fd = install(mf)
        r = [await libc.read(fd, 4), await libc.read(fd, 4), await libc.read(fd, 4),
             await libc.read(fd, 4)]
        r.append(await libc.write(fd, b"AB"))
        r.append(bytes(mf.data))
        ro = install(MemFile(b"x"), FREAD)
        wo = install(MemFile(b"y"), FWRITE)
        r.append(await errno_of(libc.write(ro, b"z")))
        r.append(await errno_of(libc.read(wo, 1)))
        none = install(MemFile(), 0)
        r.append(await errno_of(libc.ioctl(none, TIOCPOKE, 1)))
        r.append(await errno_of(libc.read(77, 1)))
        # a bad user buffer: EFAULT from uiomove inside the driver
        r.append(await errno_of(kern_read(install(MemFile(b"abcd")), 0x10, 4)))
        return r

    assert k.run(body) == [b"0123", b"4567", b"89", b"", 2, b"0123456789AB",
                           EBADF, EBADF, EBADF, EBADF, EFAULT]


async def kern_read(fd, addr, n):
    from kern.syscall import SYS_read, syscall

    return await syscall(SYS_read, fd, addr, n)


def test_readv_writev(k):
    async def body():
        mf = MemFile()
        fd = install(mf)
        n = await libc.writev(fd, [b"abc", b"", b"defg"])
        fd2 = await libc.dup(fd)
        got = await libc.readv(fd2, [2, 10])     # shares the offset: at the end
        from kern.syscall import SYS_readv, syscall

        e = [await errno_of(syscall(SYS_readv, fd, libc.ualloc(16), 0)),
             await errno_of(syscall(SYS_readv, fd, 0, 1)),
             await errno_of(syscall(SYS_readv, fd, libc.ualloc(16), 2000)),
             # no iovecs is EINVAL before the descriptor is even looked at
             await errno_of(syscall(SYS_readv, 99, libc.ualloc(16), 0)),
             await errno_of(syscall(SYS_readv, 99, libc.ualloc(16), 1))]
        return n, bytes(mf.data), got, e

    assert k.run(body) == (7, b"abcdefg", [b"", b""], [EINVAL, EFAULT, EINVAL, EINVAL, EBADF])


# ---------------------------------------------------------------- dup, dup2, fcntl

def test_dup_shares_file_and_offset(k):
    async def body():
        mf = MemFile(b"abcdef")
        fd = install(mf)
        d = await libc.dup(fd)
        a = await libc.read(fd, 2)
        b = await libc.read(d, 2)
        fp = fd_getfile(fd)
        count = fp.f_count
        fd_putfile(fd)
        await libc.close(fd)
        c = await libc.read(d, 10)
        closed_before = mf.closed
        await libc.close(d)
        return d, a, b, count, c, closed_before, mf.closed, \
            await errno_of(libc.dup(fd))

    assert k.run(body) == (1, b"ab", b"cd", 2, b"ef", 0, 1, EBADF)


def test_dup2(k):
    async def body():
        m1, m2 = MemFile(b"one"), MemFile(b"two")
        f1, f2 = install(m1), install(m2)
        r = [await libc.dup2(f1, f2), m2.closed, await libc.read(f2, 3)]
        r.append(await libc.dup2(f1, f1))                    # same: nothing happens
        r.append(await libc.dup2(f1, 40))                    # beyond the table: grows
        r.append(await errno_of(libc.dup2(f1, 128)))         # at the limit: EBADF
        r.append(await errno_of(libc.dup2(f1, -1)))
        r.append(await errno_of(libc.dup2(9, 3)))            # from a closed descriptor
        r.append(await libc.fcntl(40, F_GETFD))
        for fd in (f1, f2, 40):
            await libc.close(fd)
        r.append(m1.closed)
        return r

    assert k.run(body) == [1, 1, b"one", 0, 40, EBADF, EBADF, EBADF, 0, 1]


def test_fcntl(k):
    async def body():
        mf = MemFile()
        fd = install(mf)
        r = [await libc.fcntl(fd, F_GETFL)]
        await libc.fcntl(fd, F_SETFL, O_NONBLOCK | O_APPEND | O_WRONLY)   # access mode ignored
        fp = fd_getfile(fd)
        r.append(fp.f_flag)
        fd_putfile(fd)
        r.append(await libc.fcntl(fd, F_GETFL))
        r.append(list(mf.ioctls))          # FIONBIO told the file
        r.append([await libc.fcntl(fd, F_GETFD), await libc.fcntl(fd, F_SETFD, FD_CLOEXEC),
                  await libc.fcntl(fd, F_GETFD)])
        await libc.ioctl(fd, FIONCLEX)
        r.append(await libc.fcntl(fd, F_GETFD))
        await libc.ioctl(fd, FIOCLEX)
        r.append(await libc.fcntl(fd, F_GETFD))
        d = await libc.fcntl(fd, F_DUPFD, 5)
        dc = await libc.fcntl(fd, F_DUPFD_CLOEXEC, 5)
        r.append((d, dc, await libc.fcntl(d, F_GETFD), await libc.fcntl(dc, F_GETFD),
                  await libc.fcntl(0, F_MAXFD)))
        r.append(await errno_of(libc.fcntl(fd, 999)))
        r.append(await errno_of(libc.fcntl(fd, F_DUPFD, 128)))
        r.append(await errno_of(libc.fcntl(50, F_GETFL)))
        return r

    r = k.run(body)
    assert r[0] == O_RDWR
    assert r[1] == FREAD | FWRITE | FNONBLOCK | O_APPEND
    assert r[2] == O_RDWR | O_NONBLOCK | O_APPEND
    assert r[3] == [(FIONBIO, FNONBLOCK)]
    assert r[4] == [0, 0, 1]
    assert r[5:7] == [0, 1]
    assert r[7] == (5, 6, 0, 1, 6)
    assert r[8:] == [EINVAL, EINVAL, EBADF]


# ---------------------------------------------------------------- ioctl

def test_ioctl_copies_in_and_out(k):
    async def body():
        mf = MemFile(b"12345")
        fd = install(mf)
        a = targ(ptr=0xabc, val=7, out=-1)
        await libc.ioctl(fd, TIOCSETV, a)
        r = [mf.ioctls[-1], (a.val, a.out)]               # IN only: not written back
        g = targ(val=99, out=99)
        await libc.ioctl(fd, TIOCGETV, g)
        r += [mf.ioctls[-1], (g.val, g.out)]              # the driver saw zeroes
        s = targ(val=21)
        await libc.ioctl(fd, TIOCSWAP, s)
        r.append(s.out)
        await libc.ioctl(fd, TIOCPOKE, 0x1234)
        r.append(mf.ioctls[-1])
        await libc.ioctl(fd, TIOCOLD, 0x5678)
        r.append(mf.ioctls[-1])
        big = bytearray(1000)
        big[:4] = b"head"
        before = kern.kmem_stats()["inuse"]
        await libc.ioctl(fd, TIOCBIG, big)
        r += [mf.ioctls[-1], bytes(big[996:]), kern.kmem_stats()["inuse"] - before]
        f = targ(val=1)
        r.append(await errno_of(libc.ioctl(fd, TIOCFAIL, f)))
        r.append(f.val)                                   # nothing copied out on error
        r.append(await errno_of(libc.ioctl(fd, _IOW('T', 99, targ), targ())))   # EPASSTHROUGH
        r.append(await errno_of(libc.ioctl(fd, TIOCHUGE, 0)))
        r.append(await errno_of(libc.ioctl(fd + 1, TIOCPOKE, 0)))
        n = len(mf.ioctls)
        r.append(await errno_of(libc.ioctl(fd, TIOCSETV, 0x10)))   # bad pointer: EFAULT
        r.append(len(mf.ioctls) - n)                             # ... before the driver
        r.append(await errno_of(libc.ioctl(fd, TIOCGETV, 0)))     # copyout fails after it
        r.append(len(mf.ioctls) - n)
        await libc.ioctl(fd, FIONBIO, ctypes.c_int(1))
        fp = fd_getfile(fd)
        r.append(bool(fp.f_flag & FNONBLOCK))
        fd_putfile(fd)
        return r

    assert k.run(body) == [
        (TIOCSETV, (0xabc, 7, -1)), (7, -1),
        (TIOCGETV, (0, 0, 0)), (42, 5),
        42,
        (TIOCPOKE, 0x1234),
        (TIOCOLD, 0x5678),
        (TIOCBIG, b"head"), b"done", 0,
        EOPNOTSUPP, 1,
        ENOTTY, ENOTTY, EBADF,
        EFAULT, 0, EFAULT, 1,
        True,
    ]


def test_ioctl_copyin_fault_injection(k):
    async def body():
        fd = install(MemFile())
        return [await errno_of(libc.ioctl(fd, TIOCSETV, targ(val=1))) for _ in range(3)]

    with k.faults.inject("copyin", error=EFAULT, fail_nth=2):
        assert k.run(body) == [0, EFAULT, 0]


# ---------------------------------------------------------------- close while in use

def test_close_kicks_out_a_reader_and_waits_for_it(k):
    async def body():
        mf = MemFile(b"data")
        mf.blocking = True
        fd = install(mf)
        res = {}

        async def reader():
            res["start"] = True
            res["r"] = await errno_of(libc.read(fd, 4))

        curmachine().spawn_lwp(lwp(curproc(), "reader"), reader, ())
        await libc.nanosleep(0.05)
        rl = kern.curmachine().lwp_named("reader")
        asleep = rl.l_wmesg
        await libc.close(fd)         # fo_restart, wait for the reader to let go, close
        return asleep, res, mf.restarts, mf.closed, nfiles()

    assert k.run(body) == ("memread", {"start": True, "r": EBADF}, 1, 1, 0)


def test_signal_interrupts_a_blocking_read(k):
    async def body():
        mf = MemFile(b"data")
        mf.blocking = True
        fd = install(mf)
        res = {}

        async def reader():
            res["r"] = await errno_of(libc.read(fd, 4))

        curmachine().spawn_lwp(lwp(curproc(), "reader"), reader, ())
        await libc.nanosleep(0.05)
        await libc.kill(await libc.getpid(), 30)     # SIGUSR1
        await libc.nanosleep(0.05)
        await libc.close(fd)
        return res

    assert k.run(body) == {"r": EINTR}


# ---------------------------------------------------------------- processes

def test_child_inherits_descriptors_except_close_on_exec(k):
    async def setup():
        a, b = MemFile(b"A"), MemFile(b"B")
        fa, fb = install(a), install(b)
        await libc.fcntl(fb, F_SETFD, FD_CLOEXEC)
        return a, b, fa, fb

    a, b, fa, fb = k.run(setup)
    child = k.proc_create("child", k.initproc)

    async def in_child():
        fdp = curproc().p_fd
        out = [fdp.open_fds(), fdp.fd_lastfile, await libc.read(fa, 1),
               await errno_of(libc.read(fb, 1))]
        fp = fd_getfile(fa)
        out.append(fp.f_count)
        fd_putfile(fa)
        fc = install(MemFile(b"C"))     # the lowest free slot: the one fb had
        out.append(fc)
        await libc.close(fc)
        return out

    assert k.run(in_child, proc=child) == [[fa], fa, b"A", EBADF, 2, fb]

    async def exit_child():
        curmachine().proc_destroy(child)      # fd_free runs in a kernel thread
        await libc.nanosleep(0.01)
        fp = fd_getfile(fa)
        c = fp.f_count
        fd_putfile(fa)
        return c, a.closed, child.p_fd

    assert k.run(exit_child) == (1, 0, None)

    async def exit_init():
        await fd_free()
        return a.closed, b.closed, nfiles()

    assert k.run(exit_init) == (1, 1, 0)


def test_closef_and_fd_close_directly(k):
    async def body():
        mf = MemFile()
        fd = install(mf)
        fp = fd_getfile(fd)
        fp.f_count += 1                 # a second reference, as fd_getfile2 would take
        err = await fd_close(fd)        # the descriptor holds fd_getfile's reference
        r = [err, mf.closed, fp.f_count]
        r.append(await closef(fp))
        r.append(mf.closed)
        return r

    assert k.run(body) == [0, 0, 1, 0, 1]


def test_fork_copies_a_grown_table_at_the_size_it_needs(k):
    async def setup(n, keep):
        fds = [install(MemFile()) for _ in range(n)]
        for fd in fds:
            if fd not in keep:
                await libc.close(fd)
        return curproc().p_fd.fd_dt.dt_nfiles

    async def fdinfo():
        fdp = curproc().p_fd
        return fdp.fd_dt.dt_nfiles, fdp.open_fds(), fdp.fd_lastfile, fdp.fd_freefile

    out = []
    for n, keep in ((30, (0, 25)), (120, (0, 30))):
        parent = k.proc_create("parent", k.initproc)
        grown = k.run(setup, n, keep, proc=parent)
        child = k.proc_create("child", parent, exec=False)
        out.append((grown, k.run(fdinfo, proc=child)))
    # 30 descriptors grew the table to 50, which the child keeps; 120 grew it
    # to 200, halved for the child while it stays over twice the last one used
    assert out == [(50, (50, [0, 25], 25, 1)), (200, (50, [0, 30], 30, 1))]
