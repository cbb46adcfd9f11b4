"""mm(4): /dev/null, /dev/zero and /dev/full (dev/mm.py, a port of sys/dev/mm.c 1.19):
the nodes MAKEDEV makes, read and write through specfs, readv/writev, lseek,
the ioctls, and the minors kemu does not offer."""

from __future__ import annotations

import pytest

import kern
from dev.mm import DEV_FULL, DEV_KMEM, DEV_MEM, DEV_NULL, DEV_ZERO, MEM_CMAJOR
from kern.errno import ENOSPC, ENOTTY, ENXIO, EOPNOTSUPP
from kern.fcntl import O_RDONLY, O_RDWR, O_WRONLY, SEEK_CUR, SEEK_END, SEEK_SET
from kern.ioccom import FIOASYNC, FIONBIO, FIONREAD, TIOCGPGRP
from kern.machine.testing import errno_of
from kern.param import PAGE_SIZE
from kern.types_dev import major, makedev, minor
from tests.shell_helpers import kemu_machine
from tools.lib import libc
from vfs.stat import S_IFCHR, S_IFMT


@pytest.fixture
def k(kernel):
    return kernel


def test_makedev_makes_the_nodes_with_mode_0666(k):
    async def body():
        out = {}
        for name in ("null", "zero", "full"):
            st = await libc.stat(f"/dev/{name}")
            out[name] = (st.st_mode & S_IFMT, st.st_mode & 0o7777, major(st.st_rdev),
                         minor(st.st_rdev))
        return out

    assert k.run(body) == {"null": (S_IFCHR, 0o666, MEM_CMAJOR, DEV_NULL),
                           "zero": (S_IFCHR, 0o666, MEM_CMAJOR, DEV_ZERO),
                           "full": (S_IFCHR, 0o666, MEM_CMAJOR, DEV_FULL)}


def test_dev_null_reads_end_of_file_and_swallows_writes(k):
    async def body():
        fd = await libc.open("/dev/null", O_RDWR)
        r = [await libc.read(fd, 100),
             await libc.write(fd, b"x" * 3 * PAGE_SIZE),
             await libc.writev(fd, [b"abc", b"de"]),
             await libc.readv(fd, [5, 7]),
             await libc.pread(fd, 10, 1 << 40)]
        await libc.close(fd)
        return r

    assert k.run(body) == [b"", 3 * PAGE_SIZE, 5, [b"", b""], b""]


def test_dev_zero_reads_zeroes_page_by_page_and_swallows_writes(k):
    n = 3 * PAGE_SIZE + 5          # more than a page: mm_readwrite's loop goes round

    async def body():
        fd = await libc.open("/dev/zero", O_RDWR)
        big = await libc.read(fd, n)
        vec = await libc.readv(fd, [3, PAGE_SIZE + 1])
        w = await libc.write(fd, b"\xff" * 100)
        again = await libc.read(fd, 16)
        await libc.close(fd)
        return big, vec, w, again

    big, vec, w, again = k.run(body)
    assert big == bytes(n)
    assert vec == [bytes(3), bytes(PAGE_SIZE + 1)]
    assert (w, again) == (100, bytes(16))     # the write kept nothing


def test_dev_full_reads_zeroes_and_refuses_writes_with_enospc(k):
    async def body():
        fd = await libc.open("/dev/full", O_RDWR)
        r = [await libc.read(fd, 8), await errno_of(libc.write(fd, b"data")),
             await errno_of(libc.writev(fd, [b"a", b"b"]))]
        await libc.close(fd)
        return r

    assert k.run(body) == [bytes(8), ENOSPC, ENOSPC]


def test_lseek_moves_the_offset_and_reads_do_not_care(k):
    async def body():
        fd = await libc.open("/dev/zero", O_RDONLY)
        r = [await libc.lseek(fd, 12345, SEEK_SET), await libc.lseek(fd, 5, SEEK_CUR)]
        r.append(await libc.read(fd, 4))
        r.append(await libc.lseek(fd, 0, SEEK_CUR))        # the read moved it on
        r.append(await libc.lseek(fd, 0, SEEK_END))        # a device has no end: size 0
        await libc.close(fd)
        return r

    assert k.run(body) == [12345, 12350, bytes(4), 12354, 0]


def test_ioctls(k):
    async def body():
        fd = await libc.open("/dev/null", O_WRONLY)
        r = [await errno_of(libc.ioctl(fd, FIONBIO, libc.ctypes.c_int(1))),
             await errno_of(libc.ioctl(fd, FIOASYNC, libc.ctypes.c_int(0))),
             await errno_of(libc.ioctl(fd, FIOASYNC, libc.ctypes.c_int(1))),
             await errno_of(libc.ioctl(fd, TIOCGPGRP, libc.ctypes.c_int())),
             await errno_of(libc.ioctl(fd, FIONREAD, libc.ctypes.c_int()))]
        await libc.close(fd)
        return r

    assert k.run(body) == [0, 0, EOPNOTSUPP, ENOTTY, EOPNOTSUPP]


@pytest.mark.parametrize("m", [DEV_MEM, DEV_KMEM, 99], ids=["mem", "kmem", "unknown"])
def test_minors_kemu_does_not_offer_are_enxio(k, m):
    async def body():
        await libc.mknod("/tmp/m", S_IFCHR | 0o600, makedev(MEM_CMAJOR, m))
        fd = await libc.open("/tmp/m", O_RDWR)
        r = [await errno_of(libc.read(fd, 10)), await errno_of(libc.write(fd, b"x"))]
        await libc.close(fd)
        return r

    assert k.run(body) == [ENXIO, ENXIO]


def test_the_shell_redirects_to_dev_null_and_reads_dev_zero():
    with kemu_machine() as m:
        r = m.sh("ls /nosuch 2>/dev/null; echo status $?")
        assert (r.out, r.err) == ("status 1\n", "")
        assert m.ok("ls -l /dev/null").startswith("crw-rw-rw-")
        assert m.sh("ls /tmp").out == ""                     # no regular file appeared
        r = m.sh("dd if=/dev/zero of=/tmp/z bs=1k count=4 2>/dev/null")
        assert r.status == 0 and r.err == ""
        assert m.ok("cksum < /tmp/z") == m.ok("dd if=/dev/zero bs=4096 count=1 2>/dev/null"
                                              " | cksum") == "3018728591 4096\n"
        assert m.ok("ls -l /tmp/z").split()[4] == "4096"
        assert m.ok("hexdump -C /tmp/z") == ("00000000  00 00 00 00 00 00 00 00  00 00 00 00"
                                             " 00 00 00 00  |................|\n*\n00001000\n")
        r = m.sh("echo hi > /dev/full")
        assert r.status == 1 and "No space left on device" in r.err
        assert m.ok("cat /dev/null") == ""


def test_kernel_level_reads_of_the_boot_nodes():
    """The driver is in the base kernel: every machine has it from boot."""
    with kern.boot(seed=2) as k:
        async def body():
            fd = await libc.open("/dev/zero", O_RDONLY)
            data = await libc.read(fd, 10)
            await libc.close(fd)
            return data

        assert k.run(body) == bytes(10)
