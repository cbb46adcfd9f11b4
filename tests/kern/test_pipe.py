"""pipe(2) (kern/sys_pipe.py): the buffer, blocking, EOF, EPIPE/SIGPIPE, PIPE_BUF
atomicity, non-blocking I/O, FIONREAD and friends, fstat, close while others sleep
in the pipe, and the memory a pipe holds.

NetBSD's own cases (tests/lib/libc/sys/t_pipe.c, t_pipe2.c) are ported under
tests/lib/libc/sys/.
"""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern.cpu import curmachine, curproc
from kern.errno import EAGAIN, EBADF, EINVAL, EPIPE, ESPIPE
from kern.fcntl import F_GETFL, F_SETFL, O_NONBLOCK, O_NOSIGPIPE, O_RDONLY
from kern.ioccom import FIONREAD, FIONSPACE, FIONWRITE
from kern.kern_exit import WIFEXITED, WIFSIGNALED, WTERMSIG
from kern.kern_lwp import lwp
from kern.kern_sig import SIGPIPE
from kern.machine.testing import errno_of
from kern.subr_kmem import kmem_stats
from kern.sys_pipe import BIG_PIPE_SIZE, PIPE_BUF, PIPE_SIZE, pipe_kva
from kern.sys_sig import SIG_IGN
from tools.lib import libc
from vfs.stat import S_IFIFO, S_IFMT


def run(body, seed: int = 1):
    with kern.boot(seed=seed) as k:
        p = k.proc_create("t", k.initproc)
        return k.run(body, proc=p)


async def ioctl_int(fd: int, cmd: int) -> int:
    v = ctypes.c_int(-1)
    await libc.ioctl(fd, cmd, v)
    return v.value


def test_bytes_written_come_back_in_order():
    async def body():
        r, w = await libc.pipe()
        assert (r, w) == (0, 1)          # the lowest free descriptors
        assert await libc.write(w, b"hello, ") == 7
        assert await libc.write(w, b"pipe") == 4
        first = await libc.read(r, 5)
        rest = await libc.read(r, 100)   # a read returns what there is, not more
        return first, rest

    assert run(body) == (b"hello", b", pipe")


def test_fionread_fionwrite_fionspace_and_fstat():
    async def body():
        r, w = await libc.pipe()
        await libc.write(w, b"x" * 1000)
        got = {
            "nread": await ioctl_int(r, FIONREAD),
            "nwrite": await ioctl_int(w, FIONWRITE),   # what waits in the peer's buffer
            "nspace": await ioctl_int(w, FIONSPACE),   # the room left there
        }
        sr, sw = await libc.fstat(r), await libc.fstat(w)
        got["rmode"], got["wmode"] = sr.st_mode, sw.st_mode
        got["size"], got["blocks"], got["blksize"] = sr.st_size, sr.st_blocks, sr.st_blksize
        got["wblksize"] = sw.st_blksize      # the write end has no buffer: its peer's size
        got["ino"], got["nlink"] = sr.st_ino, sr.st_nlink
        await libc.read(r, 1000)
        got["empty"] = (await libc.fstat(r)).st_blocks
        return got

    g = run(body)
    assert (g["nread"], g["nwrite"], g["nspace"]) == (1000, 1000, PIPE_SIZE - 1000)
    assert g["rmode"] == g["wmode"] == S_IFIFO | 0o600
    assert S_IFMT & g["rmode"] == S_IFIFO
    assert (g["size"], g["blocks"], g["blksize"], g["wblksize"]) == (1000, 1, PIPE_SIZE,
                                                                    PIPE_SIZE)
    assert (g["ino"], g["nlink"], g["empty"]) == (0, 0, 0)


def test_wrong_direction_and_seeking_fail():
    async def body():
        r, w = await libc.pipe()
        return (await errno_of(libc.write(r, b"x")), await errno_of(libc.read(w, 1)),
                await errno_of(libc.pread(r, 1, 0)), await errno_of(libc.lseek(r, 0, 0)))

    assert run(body) == (EBADF, EBADF, ESPIPE, ESPIPE)


def test_eof_after_the_last_writer_closes():
    """A read waits while a writer exists; once every write descriptor is closed
    (here: in the child, which exits), the data left is read, then 0 (EOF)."""
    async def body():
        r, w = await libc.pipe()

        async def child() -> int:
            await libc.close(r)
            await libc.nanosleep(0.5)          # the parent blocks in read meanwhile
            await libc.write(w, b"last words")
            return 0

        pid = await libc.fork(child)
        await libc.close(w)
        chunks = []
        while True:
            b = await libc.read(r, 4096)
            if not b:
                break
            chunks.append(b)
        _, status = await libc.waitpid(pid)
        return b"".join(chunks), WIFEXITED(status)

    assert run(body) == (b"last words", True)


def test_a_writer_blocks_on_a_full_pipe_until_the_reader_drains_it():
    total = 2 * BIG_PIPE_SIZE + 123

    async def body():
        r, w = await libc.pipe()

        async def child() -> int:
            await libc.close(r)
            n = await libc.write(w, bytes(range(256)) * (total // 256) + b"z" * (total % 256))
            return 0 if n == total else 1

        pid = await libc.fork(child)
        await libc.close(w)
        await libc.nanosleep(0.1)                # the writer fills the buffer and sleeps
        full = await ioctl_int(r, FIONREAD)
        data = bytearray()
        while True:
            b = await libc.read(r, 5000)
            if not b:
                break
            data += b
        _, status = await libc.waitpid(pid)
        return full, bytes(data), status

    full, data, status = run(body)
    assert full == BIG_PIPE_SIZE                 # a large write into an empty pipe grew it
    assert len(data) == total and data[:256] == bytes(range(256))
    assert data.endswith(b"\xff" + b"z" * 123)
    assert status == 0


def test_epipe_and_sigpipe_when_the_reader_is_gone():
    """With the default action SIGPIPE kills the writer; ignored, the write fails
    with EPIPE; O_NOSIGPIPE gives EPIPE without the signal."""
    async def body():
        got = {}

        async def writer(fd: int) -> int:
            await libc.write(fd, b"into the void")
            return 0

        r, w = await libc.pipe()
        await libc.close(r)
        pid = await libc.fork(writer, w)
        _, status = await libc.waitpid(pid)
        got["default"] = (WIFSIGNALED(status), WTERMSIG(status))

        await libc.signal(SIGPIPE, SIG_IGN)
        got["ignored"] = await errno_of(libc.write(w, b"x"))
        await libc.close(w)
        await libc.signal(SIGPIPE, libc.SIG_DFL)

        r, w = await libc.pipe2(O_NOSIGPIPE)
        await libc.close(r)
        got["nosigpipe"] = await errno_of(libc.write(w, b"x"))
        return got

    got = run(body)
    assert got == {"default": (True, SIGPIPE), "ignored": EPIPE, "nosigpipe": EPIPE}


def test_writes_of_pipe_buf_bytes_are_atomic():
    """With less than PIPE_BUF bytes of room, a write of at most PIPE_BUF bytes
    puts nothing in (EAGAIN when non-blocking); a larger one writes what fits."""
    async def body():
        r, w = await libc.pipe()
        await libc.fcntl(w, F_SETFL, O_NONBLOCK)
        await libc.write(w, b"a" * (PIPE_SIZE - 100))     # 100 bytes of room left
        small = await errno_of(libc.write(w, b"b" * PIPE_BUF))
        after_small = await ioctl_int(r, FIONREAD)
        big = await libc.write(w, b"c" * (PIPE_BUF + 1))  # not atomic: a partial write
        after_big = await ioctl_int(r, FIONREAD)
        fits = await libc.read(r, PIPE_SIZE)
        return small, after_small, big, after_big, fits[-100:]

    small, after_small, big, after_big, tail = run(body)
    assert (small, after_small) == (EAGAIN, PIPE_SIZE - 100)
    assert (big, after_big) == (100, PIPE_SIZE)
    assert tail == b"c" * 100


def test_nonblocking_read_of_an_empty_pipe_is_eagain():
    async def body():
        r, w = await libc.pipe2(O_NONBLOCK)
        flags = await libc.fcntl(r, F_GETFL)
        empty = await errno_of(libc.read(r, 10))
        await libc.close(w)
        eof = await libc.read(r, 10)               # no writer: end of file, not EAGAIN
        return flags & O_NONBLOCK, flags & 3, empty, eof

    assert run(body) == (O_NONBLOCK, O_RDONLY, EAGAIN, b"")


def test_close_wakes_a_reader_sleeping_in_the_pipe():
    """fo_restart: closing the descriptor another lwp of the process sleeps on in
    read(2) wakes it (ERESTART inside the kernel); the restarted call finds the
    descriptor gone: EBADF.  The close itself waits for the reader to let go."""
    async def body():
        r, w = await libc.pipe()
        res = {}

        async def reader():
            res["r"] = await errno_of(libc.read(r, 10))

        curmachine().spawn_lwp(lwp(curproc(), "reader"), reader, ())
        await libc.nanosleep(0.05)
        asleep = curmachine().lwp_named("reader").l_wmesg
        await libc.close(r)
        return asleep, res

    assert run(body) == ("pipe_rd", {"r": EBADF})


def test_memory_goes_back_when_both_ends_close():
    async def body():
        kva0, km0 = pipe_kva().amountpipekva, kmem_stats()
        r, w = await libc.pipe()
        one = pipe_kva().amountpipekva
        await libc.write(w, b"x" * (PIPE_SIZE + 1))      # grows the buffer: a big pipe
        big = pipe_kva().amountpipekva, pipe_kva().nbigpipe
        await libc.close(r)
        await libc.close(w)
        return kva0, one, big, pipe_kva().amountpipekva, pipe_kva().nbigpipe, km0, kmem_stats()

    kva0, one, big, kva1, nbig, km0, km1 = run(body)
    assert one - kva0 == PIPE_SIZE
    assert big == (kva0 + PIPE_SIZE + BIG_PIPE_SIZE, 1)
    assert (kva1, nbig) == (kva0, 0)
    assert km1["inuse"] == km0["inuse"] and km1["allocs"] - km0["allocs"] == 2
    assert km1["allocs"] - km1["frees"] == km0["allocs"] - km0["frees"]


def test_pipe2_flags_are_checked():
    async def body():
        return await errno_of(libc.pipe2(0x40))          # O_ASYNC

    assert run(body) == EINVAL


@pytest.mark.parametrize("seed", range(4))
def test_many_writers_each_write_arrives_whole(seed):
    """Four children each write PIPE_BUF-sized records; whatever the interleaving,
    every record comes out in one piece."""
    async def body():
        r, w = await libc.pipe()

        async def child(tag: int) -> int:
            await libc.close(r)
            for _ in range(20):
                await libc.write(w, bytes([tag]) * PIPE_BUF)
            return 0

        pids = [await libc.fork(child, t) for t in range(4)]
        await libc.close(w)
        data = bytearray()
        while True:
            b = await libc.read(r, 3000)
            if not b:
                break
            data += b
        for pid in pids:
            await libc.waitpid(pid)
        return bytes(data)

    data = run(body, seed)
    assert len(data) == 4 * 20 * PIPE_BUF
    records = [data[i:i + PIPE_BUF] for i in range(0, len(data), PIPE_BUF)]
    assert all(len(set(rec)) == 1 for rec in records)
    assert sorted(rec[0] for rec in records) == sorted(list(range(4)) * 20)


def test_owner_ioctls_check_the_process_or_group():
    """FIOSETOWN/TIOCSPGRP go through fsetown: a process that does not exist
    is ESRCH; a group (a negative FIOSETOWN id, or TIOCSPGRP's) must be in the
    caller's session: EINVAL for none, EPERM for another's (kemu: every
    process leads its own group and session); TIOCGPGRP reads a group back
    positive, FIOGETOWN as kept (negative)."""
    from kern.errno import EPERM, ESRCH
    from kern.ioccom import FIOGETOWN, FIOSETOWN, TIOCGPGRP, TIOCSPGRP

    async def body():
        r, w = await libc.pipe()
        me = await libc.getpid()
        other = 1  # init: alive, its own group and session
        got = {
            "nosuch": await errno_of(libc.ioctl(r, FIOSETOWN, ctypes.c_int(4242))),
            "proc": await errno_of(libc.ioctl(r, FIOSETOWN, ctypes.c_int(other))),
            "owner": await ioctl_int(r, FIOGETOWN),
            "nogroup": await errno_of(libc.ioctl(r, TIOCSPGRP, ctypes.c_int(4242))),
            "negative": await errno_of(libc.ioctl(r, TIOCSPGRP, ctypes.c_int(-me))),
            "othergroup": await errno_of(libc.ioctl(r, TIOCSPGRP, ctypes.c_int(other))),
            "mygroup": await errno_of(libc.ioctl(r, TIOCSPGRP, ctypes.c_int(me))),
            "pgrp": await ioctl_int(r, TIOCGPGRP),
            "asown": await ioctl_int(r, FIOGETOWN),
        }
        return me, got

    me, g = run(body)
    assert (g["nosuch"], g["proc"], g["owner"]) == (ESRCH, 0, 1)
    assert (g["nogroup"], g["negative"], g["othergroup"]) == (EINVAL, EINVAL, EPERM)
    assert (g["mygroup"], g["pgrp"], g["asown"]) == (0, me, -me)
