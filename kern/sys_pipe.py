"""Pipes: pipe(2), pipe2(2) and the DTYPE_PIPE file (sys/kern/sys_pipe.c, sys/sys/pipe.h).

Ports sys_pipe.c 1.140 (2014-09-05), the revision read for this port; the
netbsd-8 branch's own revision could not be found, and 1.140 is the last
one read before NetBSD 8.  Its buffered path, ``fo_restart`` (``pipe_restart``
and ``PIPE_RESTART``: a close of a descriptor wakes the readers and writers
sleeping on its pipe, who answer ERESTART), the long-term I/O lock with
PIPE_LWANT, and ``pipeclose`` of a pipe whose create failed are 1.140's.
Two things are later NetBSD's, as 1.160 (2023, also read) has them:
``pipe1(l, fildes, flags)`` hands the descriptors back through ``fildes``
(1.140 used the syscall's retval), and FIONWRITE/FIONSPACE on a pipe whose
other end is closed answer 0 (1.140 dereferenced the NULL peer).

A pipe is two ``pipe`` structures, one per end, that share one mutex and
point at each other (``pipe_peer``).  The read end owns the circular buffer
(``pipe_buffer``: ``size`` bytes, ``cnt`` of them full, ``in`` and ``out``
positions); a writer copies into its *peer's* buffer.  ``pipelock`` is the
long-term I/O lock of one end (PIPE_LOCKFL); ``pipe_busy`` counts the
calls inside the pipe, which ``pipeclose`` waits to drain.  Writes of at
most PIPE_BUF bytes are atomic: they wait until the whole request fits.
A closed read end makes writes fail with EPIPE (and dofilewrite posts
SIGPIPE); a closed write end makes reads return 0 once the buffer is empty.

Deviations, each because kemu lacks the machinery:

* PIPE_NODIRECT, as 1.140 builds it: the uvm_loan direct-write path is not
  compiled, so it is not ported, nor are the knobs only it uses
  (PIPE_MINDIRECT, PIPE_DIRECT_CHUNK, maxpipekva, limitpipekva).
* No pool caches: ``pipe_ctor``/``pipe_dtor`` run when a pipe is made and
  freed (the read end's PIPE_SIZE buffer, ``pipe_kmem``, comes from
  kmem_alloc then and goes back at pipeclose).  ``uvm_km_alloc`` of a big
  buffer is kmem_alloc too; ``amountpipekva`` still counts both.
* The shared mutex's reference count (mutex_obj_hold/mutex_obj_free) is a
  counter the two ends share (``pipe_lockref``): the end that closes last
  frees the mutex.
* No select/poll/kqueue layer: ``pipeselwakeup`` (selnotify, and SIGIO to a
  FIOASYNC owner through fownsignal) does nothing, ``pipe_poll`` computes
  the events without recording the lwp, and ``pipe_kqfilter`` answers
  EOPNOTSUPP (no kqueue).  The owner is kept as fsetown/fgetown keep it
  (kern/kern_descrip.py, with kemu's one-process groups).
* No sysctl kern.pipe subtree (the limits are per-machine globals).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.conf import POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from kern.cpu import MachineLocal
from kern.errno import EAGAIN, EINVAL, EOPNOTSUPP, EPASSTHROUGH, EPIPE, ERESTART
from kern.fcntl import DTYPE_PIPE, FNONBLOCK, FREAD, FWRITE, O_CLOEXEC, O_NONBLOCK, O_NOSIGPIPE
from kern.ioccom import (
    FIOASYNC,
    FIOGETOWN,
    FIONBIO,
    FIONREAD,
    FIONSPACE,
    FIONWRITE,
    FIOSETOWN,
    TIOCGPGRP,
    TIOCSPGRP,
)
from kern.kern_auth import kauth_cred_getegid, kauth_cred_geteuid
from kern.kern_condvar import (
    cv_broadcast,
    cv_destroy,
    cv_init,
    cv_is_valid,
    cv_wait,
    cv_wait_sig,
    kcondvar_t,
)
from kern.kern_descrip import (
    fd_abort,
    fd_affix,
    fd_allocfile,
    fd_set_exclose,
    fgetown,
    file,
    fileops,
    fsetown,
    ioctl_int,
    ioctl_setint,
)
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_obj_alloc,
    mutex_obj_free,
    mutex_owned,
)
from kern.kern_time import getnanotime, timespec
from kern.subr_copy import copyout, uiomove
from kern.subr_kmem import KM_SLEEP, kmem_alloc, kmem_free
from kern.subr_prf import KASSERT

if TYPE_CHECKING:
    from kern.kern_lwp import lwp

# sys/syslimits.h, sys/pipe.h
PIPE_BUF = 512                 # writes up to this size are atomic
PIPE_SIZE = 16384              # the buffer every read end starts with
BIG_PIPE_SIZE = 64 * 1024      # what a large write may grow it to

# pipe_state bits (sys/pipe.h)
PIPE_ASYNC = 0x004             # async I/O: SIGIO to the owner
PIPE_EOF = 0x010               # the pipe is in EOF condition
PIPE_SIGNALR = 0x020           # do selwakeup() on read(2)
PIPE_LOCKFL = 0x100            # the long-term I/O lock is held
PIPE_LWANT = 0x200             # someone waits for the I/O lock
PIPE_RESTART = 0x400           # fo_restart: return ERESTART to the sleepers

# The soft limits of pipe buffer memory (sysctl kern.pipe.* in NetBSD).
MINPIPESIZE = PIPE_SIZE // 3
MAXPIPESIZE = 2 * PIPE_SIZE // 3
LIMITBIGPIPES = 32

# sys/stat.h (kern may not import vfs)
S_IFIFO = 0o010000
S_IRUSR = 0o000400
S_IWUSR = 0o000200

# siginfo codes for pipeselwakeup (sys/siginfo.h)
POLL_IN = 1
POLL_OUT = 2
POLL_HUP = 6


class _PipeKva:
    """The module's counters (static globals in C), one set per machine."""

    def __init__(self) -> None:
        self.maxbigpipes = LIMITBIGPIPES
        self.nbigpipe = 0
        self.amountpipekva = 0


_kva = MachineLocal(_PipeKva, "pipe kva accounting")


def pipe_kva() -> _PipeKva:
    """This machine's pipe memory counters (amountpipekva, nbigpipe, the limits)."""
    return _kva()


class pipebuf:
    """struct pipebuf: the circular buffer of a read end."""

    __slots__ = ("cnt", "in_", "out", "size", "buffer")

    def __init__(self) -> None:
        self.cnt = 0                  # bytes in the buffer
        self.in_ = 0                  # where the next write goes
        self.out = 0                  # where the next read comes from
        self.size = 0                 # 0: no buffer (a write end)
        self.buffer: bytearray | None = None


class pipe:
    """struct pipe: one end of a pipe."""

    __slots__ = ("pipe_lock", "pipe_rcv", "pipe_wcv", "pipe_draincv", "pipe_lkcv",
                 "pipe_buffer", "pipe_atime", "pipe_mtime", "pipe_btime", "pipe_peer",
                 "pipe_state", "pipe_busy", "pipe_pgid", "pipe_kmem", "pipe_lockref")

    def __init__(self) -> None:
        self.pipe_lock: kmutex_t | None = None
        self.pipe_lockref: list[int] = [0]          # the shared mutex's references
        self.pipe_rcv = kcondvar_t()
        self.pipe_wcv = kcondvar_t()
        self.pipe_draincv = kcondvar_t()
        self.pipe_lkcv = kcondvar_t()
        self.pipe_buffer = pipebuf()
        self.pipe_atime = timespec()
        self.pipe_mtime = timespec()
        self.pipe_btime = timespec()
        self.pipe_peer: pipe | None = None
        self.pipe_state = 0
        self.pipe_busy = 0
        self.pipe_pgid = 0
        self.pipe_kmem: bytearray | None = None   # the read end's preallocated buffer

    def __repr__(self) -> str:
        bp = self.pipe_buffer
        return (f"<pipe state={self.pipe_state:#x} busy={self.pipe_busy} "
                f"cnt={bp.cnt}/{bp.size} peer={'yes' if self.pipe_peer else 'no'}>")


# ---------------------------------------------------------------- the pool's ctor/dtor

def pipe_ctor(rd: bool) -> pipe:
    """A new pipe end; a read end gets its PIPE_SIZE buffer now (pipe_rd_cache's ctor)."""
    p = pipe()
    if rd:
        p.pipe_kmem = kmem_alloc(PIPE_SIZE, KM_SLEEP)
        _kva().amountpipekva += PIPE_SIZE
    cv_init(p.pipe_rcv, "pipe_rd")
    cv_init(p.pipe_wcv, "pipe_wr")
    cv_init(p.pipe_draincv, "pipe_drn")
    cv_init(p.pipe_lkcv, "pipe_lk")
    p.pipe_state = PIPE_SIGNALR
    return p


def pipe_dtor(p: pipe) -> None:
    cv_destroy(p.pipe_rcv)
    cv_destroy(p.pipe_wcv)
    cv_destroy(p.pipe_draincv)
    cv_destroy(p.pipe_lkcv)
    if p.pipe_kmem is not None:
        kmem_free(p.pipe_kmem, PIPE_SIZE)
        _kva().amountpipekva -= PIPE_SIZE
        p.pipe_kmem = None


# ---------------------------------------------------------------- pipe(2)

async def pipe1(l: lwp, fildes: list[int], flags: int) -> int:
    """Make a pipe: ``fildes[0]`` the read end, ``fildes[1]`` the write end.

    ``flags``: O_CLOEXEC, O_NONBLOCK, O_NOSIGPIPE (pipe2); anything else is EINVAL.
    """
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_NOSIGPIPE):
        return EINVAL
    p = l.l_proc
    rpipe = wpipe = None
    error, rpipe = pipe_create(True)
    if not error:
        error, wpipe = pipe_create(False)
    if error:
        # free2:
        await pipeclose(wpipe)
        await pipeclose(rpipe)
        return error
    assert rpipe is not None and wpipe is not None
    rpipe.pipe_lock = mutex_obj_alloc(MUTEX_DEFAULT, IPL_NONE)
    wpipe.pipe_lock = rpipe.pipe_lock
    wpipe.pipe_lockref = rpipe.pipe_lockref = [1]
    rpipe.pipe_lockref[0] += 1  # mutex_obj_hold: one reference per end

    error, rf, fd = fd_allocfile()
    if error:
        await pipeclose(wpipe)
        await pipeclose(rpipe)
        return error
    fildes[0] = fd

    error, wf, fd = fd_allocfile()
    if error:
        fd_abort(p, rf, fildes[0])  # free3
        await pipeclose(wpipe)
        await pipeclose(rpipe)
        return error
    fildes[1] = fd
    assert rf is not None and wf is not None

    rf.f_flag = FREAD | flags
    rf.f_type = DTYPE_PIPE
    rf.f_data = rpipe
    rf.f_ops = pipeops
    fd_set_exclose(l, fildes[0], (flags & O_CLOEXEC) != 0)

    wf.f_flag = FWRITE | flags
    wf.f_type = DTYPE_PIPE
    wf.f_data = wpipe
    wf.f_ops = pipeops
    fd_set_exclose(l, fildes[1], (flags & O_CLOEXEC) != 0)

    rpipe.pipe_peer = wpipe
    wpipe.pipe_peer = rpipe

    fd_affix(p, rf, fildes[0])
    fd_affix(p, wf, fildes[1])
    return 0


async def sys_pipe(l: lwp, uap: Any, retval: list[Any]) -> int:
    """pipe(): the two descriptors come back in the two return registers."""
    fd = [-1, -1]
    error = await pipe1(l, fd, 0)
    if error:
        return error
    retval[0] = fd[0]
    retval[1] = fd[1]
    return 0


async def sys_pipe2(l: lwp, uap: Any, retval: list[Any]) -> int:
    """pipe2(fildes, flags): the descriptors are copied out to ``fildes``."""
    fd = [-1, -1]
    error = await pipe1(l, fd, uap.flags)
    if error:
        return error
    buf = bytearray(fd[0].to_bytes(4, "little", signed=True)
                    + fd[1].to_bytes(4, "little", signed=True))
    error = copyout(buf, uap.fildes, 8)
    if error:
        return error
    retval[0] = 0
    return 0


def pipespace(p: pipe, size: int) -> int:
    """Give ``p`` a buffer of ``size`` bytes (the preallocated one for PIPE_SIZE)."""
    if size == PIPE_SIZE and p.pipe_kmem is not None:
        buffer = p.pipe_kmem
    else:
        buffer = kmem_alloc(size, KM_SLEEP)
        _kva().amountpipekva += size

    # free the old buffer when resizing
    pipe_free_kmem(p)
    bp = p.pipe_buffer
    bp.buffer = buffer
    bp.size = size
    bp.in_ = 0
    bp.out = 0
    bp.cnt = 0
    return 0


def pipe_create(rd: bool) -> tuple[int, pipe]:
    """One end of a new pipe (its lock comes later): ``(error, pipe)``; a read
    end gets its buffer (ENOMEM if that fails)."""
    p = pipe_ctor(rd)
    error = 0
    getnanotime(p.pipe_btime)
    p.pipe_atime = timespec(p.pipe_btime.tv_sec, p.pipe_btime.tv_nsec)
    p.pipe_mtime = timespec(p.pipe_btime.tv_sec, p.pipe_btime.tv_nsec)
    p.pipe_lock = None
    if rd:
        error = pipespace(p, PIPE_SIZE)
    else:
        bp = p.pipe_buffer
        bp.buffer = None
        bp.size = bp.in_ = bp.out = bp.cnt = 0
    return error, p


async def pipelock(p: pipe, catch_p: bool) -> int:
    """Take ``p``'s long-term I/O lock; called and returns with pipe_lock held."""
    assert p.pipe_lock is not None
    KASSERT(mutex_owned(p.pipe_lock))
    while p.pipe_state & PIPE_LOCKFL:
        p.pipe_state |= PIPE_LWANT
        if catch_p:
            error = await cv_wait_sig(p.pipe_lkcv, p.pipe_lock)
            if error != 0:
                return error
        else:
            await cv_wait(p.pipe_lkcv, p.pipe_lock)
    p.pipe_state |= PIPE_LOCKFL
    return 0


def pipeunlock(p: pipe) -> None:
    KASSERT(p.pipe_state & PIPE_LOCKFL)
    p.pipe_state &= ~PIPE_LOCKFL
    if p.pipe_state & PIPE_LWANT:
        p.pipe_state &= ~PIPE_LWANT
        cv_broadcast(p.pipe_lkcv)


def pipeselwakeup(selp: pipe, sigp: pipe | None, code: int) -> None:
    """selnotify on ``selp`` and SIGIO to ``sigp``'s owner: no select layer here."""
    return None


# ---------------------------------------------------------------- fileops

async def pipe_read(fp: file, offset: Any, uio: Any, cred: Any, flags: int) -> int:
    rpipe: pipe = fp.f_data
    bp = rpipe.pipe_buffer
    lock = rpipe.pipe_lock
    assert lock is not None
    nread = 0
    wakeup_state = 0

    await mutex_enter(lock)
    rpipe.pipe_busy += 1
    ocnt = bp.cnt

    while True:  # again:
        error = await pipelock(rpipe, True)
        if error:
            break  # goto unlocked_error
        sleep = False
        while uio.uio_resid:
            # the buffered path
            if bp.cnt > 0:
                size = bp.size - bp.out
                if size > bp.cnt:
                    size = bp.cnt
                if size > uio.uio_resid:
                    size = uio.uio_resid
                assert bp.buffer is not None
                mutex_exit(lock)
                error = await uiomove(memoryview(bp.buffer)[bp.out:bp.out + size], size, uio)
                await mutex_enter(lock)
                if error:
                    break
                bp.out += size
                if bp.out >= bp.size:
                    bp.out = 0
                bp.cnt -= size
                # Empty again: start over at the front of the buffer.
                if bp.cnt == 0:
                    bp.in_ = 0
                    bp.out = 0
                nread += size
                continue

            # Some data was read: return it rather than wait for more.
            if nread > 0:
                break
            # End of file: the write end is gone.  read returns 0.
            if rpipe.pipe_state & PIPE_EOF:
                break
            if fp.f_flag & FNONBLOCK:
                error = EAGAIN
                break

            # Let go of the I/O lock: we either return an error or sleep.
            pipeunlock(rpipe)
            pipeselwakeup(rpipe, rpipe.pipe_peer, POLL_OUT)
            # A writer blocked on a full buffer may go on now.
            cv_broadcast(rpipe.pipe_wcv)
            if wakeup_state & PIPE_RESTART:
                error = ERESTART
                sleep = True
                break
            # Wait until there is something to read.
            error = await cv_wait_sig(rpipe.pipe_rcv, lock)
            wakeup_state = rpipe.pipe_state
            sleep = True
            break
        if sleep:
            if error:
                break  # goto unlocked_error (the I/O lock is not held)
            continue   # goto again
        if error == 0:
            getnanotime(rpipe.pipe_atime)
        pipeunlock(rpipe)
        break

    # unlocked_error:
    rpipe.pipe_busy -= 1
    if rpipe.pipe_busy == 0:
        rpipe.pipe_state &= ~PIPE_RESTART
        cv_broadcast(rpipe.pipe_draincv)
    if bp.cnt < MINPIPESIZE:
        cv_broadcast(rpipe.pipe_wcv)

    # Tell the writer there is room, if this read made some, or if this is
    # the first read since the last write.
    if (bp.size - bp.cnt) >= PIPE_BUF and (ocnt != bp.cnt or
                                           (rpipe.pipe_state & PIPE_SIGNALR)):
        pipeselwakeup(rpipe, rpipe.pipe_peer, POLL_OUT)
        rpipe.pipe_state &= ~PIPE_SIGNALR

    mutex_exit(lock)
    return error


async def pipe_write(fp: file, offset: Any, uio: Any, cred: Any, flags: int) -> int:
    # We write into our peer's buffer.
    rpipe: pipe = fp.f_data
    lock = rpipe.pipe_lock
    assert lock is not None
    error = 0
    wakeup_state = 0

    await mutex_enter(lock)
    wpipe = rpipe.pipe_peer

    # The read end is gone: EPIPE (dofilewrite posts SIGPIPE).
    if wpipe is None or (wpipe.pipe_state & PIPE_EOF) != 0:
        mutex_exit(lock)
        return EPIPE
    wpipe.pipe_busy += 1

    # the long-term I/O lock
    error = await pipelock(wpipe, True)
    if error != 0:
        wpipe.pipe_busy -= 1
        if wpipe.pipe_busy == 0:
            wpipe.pipe_state &= ~PIPE_RESTART
            cv_broadcast(wpipe.pipe_draincv)
        mutex_exit(lock)
        return error

    bp = wpipe.pipe_buffer
    kva = _kva()

    # A large write into an empty pipe: grow its buffer, if big pipes are left.
    if (uio.uio_resid > PIPE_SIZE and kva.nbigpipe < kva.maxbigpipes
            and bp.size <= PIPE_SIZE and bp.cnt == 0):
        if pipespace(wpipe, BIG_PIPE_SIZE) == 0:
            kva.nbigpipe += 1

    while uio.uio_resid:
        space = bp.size - bp.cnt

        # A write of at most PIPE_BUF bytes goes in whole or waits.
        if space < uio.uio_resid and uio.uio_resid <= PIPE_BUF:
            space = 0

        if space > 0:
            # as much as fits, in at most two pieces (the buffer wraps)
            size = uio.uio_resid if space > uio.uio_resid else space
            segsize = bp.size - bp.in_
            if segsize > size:
                segsize = size
            assert bp.buffer is not None
            buf = memoryview(bp.buffer)
            mutex_exit(lock)
            error = await uiomove(buf[bp.in_:bp.in_ + segsize], segsize, uio)
            if error == 0 and segsize < size:
                # the rest at the front of the buffer, so the write stays whole
                error = await uiomove(buf[0:size - segsize], size - segsize, uio)
            await mutex_enter(lock)
            if error:
                break
            bp.in_ += size
            if bp.in_ >= bp.size:
                bp.in_ = size - segsize
            bp.cnt += size
            KASSERT(bp.cnt <= bp.size)
            wakeup_state = 0
        else:
            # No room: wake the reader.
            cv_broadcast(wpipe.pipe_rcv)
            if fp.f_flag & FNONBLOCK:
                error = EAGAIN
                break
            # The buffer is full and has data: wake select/poll.
            if bp.cnt:
                pipeselwakeup(wpipe, wpipe, POLL_IN)
            if wakeup_state & PIPE_RESTART:
                error = ERESTART
                break
            pipeunlock(wpipe)
            error = await cv_wait_sig(wpipe.pipe_wcv, lock)
            await pipelock(wpipe, False)
            if error != 0:
                break
            # The reader went away while we slept.
            if wpipe.pipe_state & PIPE_EOF:
                error = EPIPE
                break
            wakeup_state = wpipe.pipe_state

    wpipe.pipe_busy -= 1
    if wpipe.pipe_busy == 0:
        wpipe.pipe_state &= ~PIPE_RESTART
        cv_broadcast(wpipe.pipe_draincv)
    if bp.cnt > 0:
        cv_broadcast(wpipe.pipe_rcv)

    # Everything was written and read: the reader's close is no error to us.
    if error == EPIPE and bp.cnt == 0 and uio.uio_resid == 0:
        error = 0

    if error == 0:
        getnanotime(wpipe.pipe_mtime)

    # There is data to read: wake select/poll.
    if bp.cnt:
        pipeselwakeup(wpipe, wpipe, POLL_IN)

    # The next read(2) signals the writer.
    wpipe.pipe_state |= PIPE_SIGNALR

    pipeunlock(wpipe)
    mutex_exit(lock)
    return error


async def pipe_ioctl(fp: file, cmd: int, data: Any) -> int:
    """The few ioctls pipes share with sockets."""
    p: pipe = fp.f_data
    lock = p.pipe_lock
    assert lock is not None

    if cmd == FIONBIO:
        return 0

    if cmd == FIOASYNC:
        await mutex_enter(lock)
        if ioctl_int(data):
            p.pipe_state |= PIPE_ASYNC
        else:
            p.pipe_state &= ~PIPE_ASYNC
        mutex_exit(lock)
        return 0

    if cmd == FIONREAD:
        await mutex_enter(lock)
        ioctl_setint(data, p.pipe_buffer.cnt)
        mutex_exit(lock)
        return 0

    if cmd == FIONWRITE:
        # what waits in the other end's buffer
        await mutex_enter(lock)
        peer = p.pipe_peer
        ioctl_setint(data, peer.pipe_buffer.cnt if peer is not None else 0)
        mutex_exit(lock)
        return 0

    if cmd == FIONSPACE:
        # the room left in the other end's buffer
        await mutex_enter(lock)
        peer = p.pipe_peer
        ioctl_setint(data, peer.pipe_buffer.size - peer.pipe_buffer.cnt if peer is not None else 0)
        mutex_exit(lock)
        return 0

    if cmd in (TIOCSPGRP, FIOSETOWN):
        pgid = [p.pipe_pgid]
        error = fsetown(pgid, cmd, data)
        p.pipe_pgid = pgid[0]
        return error

    if cmd in (TIOCGPGRP, FIOGETOWN):
        return fgetown(p.pipe_pgid, cmd, data)

    return EPASSTHROUGH


async def pipe_poll(fp: file, events: int) -> int:
    rpipe: pipe = fp.f_data
    lock = rpipe.pipe_lock
    assert lock is not None
    eof = 0
    revents = 0

    await mutex_enter(lock)
    wpipe = rpipe.pipe_peer

    if events & (POLLIN | POLLRDNORM):
        if rpipe.pipe_buffer.cnt > 0 or (rpipe.pipe_state & PIPE_EOF):
            revents |= events & (POLLIN | POLLRDNORM)

    eof |= rpipe.pipe_state & PIPE_EOF

    if wpipe is None:
        revents |= events & (POLLOUT | POLLWRNORM)
    else:
        if events & (POLLOUT | POLLWRNORM):
            if (wpipe.pipe_state & PIPE_EOF) or \
                    (wpipe.pipe_buffer.size - wpipe.pipe_buffer.cnt) >= PIPE_BUF:
                revents |= events & (POLLOUT | POLLWRNORM)
        eof |= wpipe.pipe_state & PIPE_EOF

    if wpipe is None or eof:
        revents |= POLLHUP

    mutex_exit(lock)
    return revents


async def pipe_stat(fp: file, ub: Any) -> int:
    p: pipe = fp.f_data
    assert p.pipe_lock is not None
    await mutex_enter(p.pipe_lock)
    ctypes.memset(ctypes.addressof(ub), 0, ctypes.sizeof(ub))
    ub.st_mode = S_IFIFO | S_IRUSR | S_IWUSR
    ub.st_blksize = p.pipe_buffer.size
    if ub.st_blksize == 0 and p.pipe_peer is not None:
        ub.st_blksize = p.pipe_peer.pipe_buffer.size
    ub.st_size = p.pipe_buffer.cnt
    ub.st_blocks = 1 if ub.st_size else 0
    for field, ts in (("st_atimespec", p.pipe_atime), ("st_mtimespec", p.pipe_mtime),
                      ("st_ctimespec", p.pipe_btime), ("st_birthtimespec", p.pipe_btime)):
        t = getattr(ub, field)
        t.tv_sec, t.tv_nsec = ts.tv_sec, ts.tv_nsec
    ub.st_uid = kauth_cred_geteuid(fp.f_cred)
    ub.st_gid = kauth_cred_getegid(fp.f_cred)
    # st_dev, st_ino, st_nlink, st_rdev, st_flags, st_gen stay 0, as in NetBSD.
    mutex_exit(p.pipe_lock)
    return 0


async def pipe_close(fp: file) -> int:
    p: pipe = fp.f_data
    fp.f_data = None
    await pipeclose(p)
    return 0


async def pipe_restart(fp: file) -> None:
    """fo_restart: a close waits for the calls inside this pipe; wake them with ERESTART."""
    p: pipe = fp.f_data
    lock = p.pipe_lock
    assert lock is not None
    await mutex_enter(lock)
    p.pipe_state |= PIPE_RESTART
    # Both condvars: cheaper than deciding which one the sleepers are on.
    cv_broadcast(p.pipe_rcv)
    cv_broadcast(p.pipe_wcv)
    mutex_exit(lock)


async def pipe_kqfilter(fp: file, kn: Any) -> int:
    return EOPNOTSUPP


def pipe_free_kmem(p: pipe) -> None:
    bp = p.pipe_buffer
    if bp.buffer is not None:
        kva = _kva()
        if bp.size > PIPE_SIZE:
            kva.nbigpipe -= 1
        if bp.buffer is not p.pipe_kmem:
            kmem_free(bp.buffer, bp.size)
            kva.amountpipekva -= bp.size
        bp.buffer = None


async def pipeclose(p: pipe | None) -> None:
    """pipeclose: mark EOF, wait for the calls inside to drain, leave the peer, free."""
    if p is None:
        return
    KASSERT(cv_is_valid(p.pipe_rcv))
    KASSERT(cv_is_valid(p.pipe_wcv))
    KASSERT(cv_is_valid(p.pipe_draincv))
    KASSERT(cv_is_valid(p.pipe_lkcv))

    lock = p.pipe_lock
    if lock is None:
        # Must have failed during create
        _pipe_free(p)
        return
    await mutex_enter(lock)
    pipeselwakeup(p, p, POLL_HUP)

    # Tell the other side's sleepers that we are closing.
    p.pipe_state |= PIPE_EOF
    if p.pipe_busy:
        while p.pipe_busy:
            cv_broadcast(p.pipe_wcv)
            await cv_wait_sig(p.pipe_draincv, lock)

    # Leave the peer: its reads see EOF, its writes EPIPE.
    ppipe = p.pipe_peer
    if ppipe is not None:
        pipeselwakeup(ppipe, ppipe, POLL_HUP)
        ppipe.pipe_state |= PIPE_EOF
        cv_broadcast(ppipe.pipe_rcv)
        ppipe.pipe_peer = None

    KASSERT((p.pipe_state & PIPE_LOCKFL) == 0)
    mutex_exit(lock)
    p.pipe_lockref[0] -= 1
    if p.pipe_lockref[0] == 0:
        mutex_obj_free(lock)
    p.pipe_lock = None
    _pipe_free(p)


def _pipe_free(p: pipe) -> None:
    # free_resources: (pool_cache_put runs the dtor here: no caches)
    p.pipe_pgid = 0
    p.pipe_state = PIPE_SIGNALR
    pipe_free_kmem(p)
    pipe_dtor(p)


pipeops = fileops(fo_name="pipe", fo_read=pipe_read, fo_write=pipe_write, fo_ioctl=pipe_ioctl,
                  fo_poll=pipe_poll, fo_stat=pipe_stat, fo_close=pipe_close,
                  fo_kqfilter=pipe_kqfilter, fo_restart=pipe_restart)
