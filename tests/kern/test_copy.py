"""User memory: copyin/copyout/copyinstr and friends, EFAULT paths, fault injection, uiomove."""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern import EFAULT, EINVAL, EIO, ENAMETOOLONG, KTHREAD_MUSTJOIN, PRI_BIO
from kern.cpu import curproc
from kern.subr_copy import (
    PAGE_SIZE,
    UIO_READ,
    UIO_SETUP_SYSSPACE,
    UIO_SYSSPACE,
    UIO_USERSPACE,
    UIO_WRITE,
    VM_MAXUSER_ADDRESS,
    copyin,
    copyin_proc,
    copyinstr,
    copyout,
    copyoutstr,
    copystr,
    ioctl_copyin,
    iovec,
    ufetch_32,
    ufetch_64,
    uio,
    uiomove,
    uiomove_frombuf,
    uread,
    ustore_32,
    uvm_map_user,
    uwrite,
)
from tools.lib.libc import ualloc, ufree, uget, uput, ustr


@pytest.fixture
def k():
    with kern.boot(seed=1) as m:
        yield m


def test_copyin_copyout_round_trip(k):
    async def body():
        a = ustr("hello, kernel")
        buf = bytearray(14)
        assert copyin(a, buf, 14) == 0
        assert bytes(buf) == b"hello, kernel\0"
        assert copyout(b"HELLO", a, 5) == 0
        assert uget(a, 14) == b"HELLO, kernel\0"
        # a memoryview slice as the kernel side
        mv = memoryview(buf)[7:]
        assert copyin(a + 7, mv, 6) == 0
        assert bytes(buf[7:13]) == b"kernel"
        return hex(a)

    addr = k.run(body)
    assert 0 < int(addr, 16) < VM_MAXUSER_ADDRESS


def test_copyin_into_ctypes_struct(k):
    class args(ctypes.Structure):
        _fields_ = [("p", ctypes.c_uint64), ("n", ctypes.c_int32), ("f", ctypes.c_int32)]

    async def body():
        a = ualloc(ctypes.sizeof(args))
        uput(a, bytes(args(0x1234, -5, 7)))
        k_args = args()
        assert copyin(a, k_args, ctypes.sizeof(args)) == 0
        k_args.f = 99
        assert copyout(k_args, a, ctypes.sizeof(args)) == 0
        back = args.from_buffer_copy(uget(a, ctypes.sizeof(args)))
        return k_args.p, k_args.n, back.f

    assert k.run(body) == (0x1234, -5, 99)


def test_bad_pointers_give_efault(k):
    async def body():
        a = ualloc(100)            # one page is mapped
        buf = bytearray(PAGE_SIZE * 2)
        out = {
            "null": copyin(0, buf, 1),
            "none": copyin(None, buf, 1),
            "below": copyin(a - 1, buf, 1),
            "off_end": copyin(a + PAGE_SIZE - 8, buf, 16),    # runs off the mapping
            "guard": copyin(a + PAGE_SIZE, buf, 1),           # the unmapped page after it
            "high": copyin(VM_MAXUSER_ADDRESS + 16, buf, 1),
            "last_bytes_ok": copyin(a + PAGE_SIZE - 8, buf, 8),
            "out_null": copyout(b"x", 0, 1),
            "out_off_end": copyout(bytes(16), a + PAGE_SIZE - 8, 16),
            "zero_len": copyin(0, buf, 0),
        }
        ufree(a)
        out["after_free"] = copyin(a, buf, 1)
        return out

    r = k.run(body)
    assert r == {"null": EFAULT, "none": EFAULT, "below": EFAULT, "off_end": EFAULT,
                 "guard": EFAULT, "high": EFAULT, "last_bytes_ok": 0, "out_null": EFAULT,
                 "out_off_end": EFAULT, "zero_len": 0, "after_free": EFAULT}


def test_failed_copyout_leaves_user_memory_alone(k):
    async def body():
        a = ualloc(PAGE_SIZE)
        uput(a + PAGE_SIZE - 4, b"keep")
        assert copyout(b"12345678", a + PAGE_SIZE - 4, 8) == EFAULT
        return uget(a + PAGE_SIZE - 4, 4)

    assert k.run(body) == b"keep"


def test_kernel_threads_have_no_user_space(k):
    async def body():
        res = {}

        async def kt(_):
            buf = bytearray(4)
            res["copyin"] = copyin(0x7f0000000000, buf, 4)
            res["copyinstr"] = copyinstr(0x7f0000000000, buf, 4)
            try:
                uvm_map_user(curproc(), 10)
            except kern.SyscallError as e:
                res["map"] = e.errno

        error, l = kern.kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, kt, None, "kt")
        await kern.kthread_join(l)
        return res

    assert k.run(body) == {"copyin": EFAULT, "copyinstr": (EFAULT, 0), "map": EFAULT}
    # an lwp of proc0 is no different
    assert k.run(lambda: _copyin_one(), proc=k.proc0) == EFAULT


async def _copyin_one():
    return copyin(0x7f0000000000, bytearray(1), 1)


def test_processes_have_separate_spaces(k):
    async def make():
        return ustr("mine")

    a = k.run(make)
    other = k.proc_create("other", k.initproc)

    async def peek(addr):
        buf = bytearray(5)
        return copyin(addr, buf, 5)

    assert k.run(peek, a, proc=other) == EFAULT   # not mapped over there
    assert k.run(peek, a) == 0

    async def cross(addr):
        buf = bytearray(5)
        return copyin_proc(k.initproc, addr, buf, 5), bytes(buf)

    assert k.run(cross, a, proc=other) == (0, b"mine\0")


def test_copyinstr(k):
    async def body():
        a = ustr("/mnt/snap")            # 9 chars + NUL
        buf = bytearray(64)
        r = {}
        r["ok"] = copyinstr(a, buf, 64), bytes(buf[:10])
        r["exact"] = copyinstr(a, bytearray(10), 10)
        r["too_long"] = copyinstr(a, bytearray(9), 9)
        r["zero"] = copyinstr(a, buf, 0)
        r["null"] = copyinstr(0, buf, 64)
        # a string that runs into the unmapped guard page
        p = ualloc(PAGE_SIZE)
        uput(p + PAGE_SIZE - 3, b"abc")
        r["off_end"] = copyinstr(p + PAGE_SIZE - 3, buf, 64)
        r["off_end_short"] = copyinstr(p + PAGE_SIZE - 3, buf, 3)
        return r

    r = k.run(body)
    assert r["ok"] == ((0, 10), b"/mnt/snap\0")
    assert r["exact"] == (0, 10)
    assert r["too_long"] == (ENAMETOOLONG, 9)
    assert r["zero"] == (ENAMETOOLONG, 0)
    assert r["null"] == (EFAULT, 0)
    assert r["off_end"] == (EFAULT, 3)
    assert r["off_end_short"] == (ENAMETOOLONG, 3)


def test_copyoutstr_and_copystr(k):
    async def body():
        a = ualloc(32)
        r = {"out": copyoutstr(b"fss0", a, 32), "mem": uget(a, 5),
             "out_str": copyoutstr("x", a, 32),
             "out_short": copyoutstr(b"abcdef\0", a, 3), "mem2": uget(a, 4)}
        dst = bytearray(8)
        r["copystr"] = copystr(b"ab\0zz", dst, 8), bytes(dst[:3])
        r["copystr_long"] = copystr(b"abcdefgh", bytearray(4), 4)
        return r

    r = k.run(body)
    assert r["out"] == (0, 5) and r["mem"] == b"fss0\0"
    assert r["out_str"] == (0, 2)
    # no NUL within len: three bytes go out, the old fourth byte stays
    assert r["out_short"] == (ENAMETOOLONG, 3) and r["mem2"] == b"abc0"
    assert r["copystr"] == ((0, 3), b"ab\0")
    assert r["copystr_long"] == (ENAMETOOLONG, 4)


def test_fault_injection_on_copyin_fires_on_the_chosen_calls(k):
    async def body():
        a = ustr("data")
        buf = bytearray(5)
        return [copyin(a, buf, 5) for _ in range(5)]

    with k.faults.inject("copyin", error=EFAULT, nth=2) as f:
        assert k.run(body) == [0, EFAULT, 0, EFAULT, 0]
    assert f.nfaults == 2
    assert [e.site for e in k.faults.fired()] == ["copyin", "copyin"]
    with k.faults.inject("copyin", error=EFAULT, fail_nth=3):
        assert k.run(body) == [0, 0, EFAULT, 0, 0]
    assert k.run(body) == [0] * 5   # disarmed


def test_fault_injection_other_sites(k):
    async def body():
        a = ustr("name")
        buf = bytearray(8)
        return copyout(b"x", a, 1), copyinstr(a, buf, 8), copyin(a, buf, 1)

    with k.faults.inject("copyout", error=EIO, fail_nth=1):
        assert k.run(body) == (EIO, (0, 5), 0)
    with k.faults.inject("copyinstr", error=EFAULT, fail_nth=1):
        assert k.run(body) == (0, (EFAULT, 0), 0)
    assert any("fault copyinstr EFAULT" in e for e in k.trace)


def test_ioctl_copyin_from_kernel(k):
    from kern.fcntl import FKIOCTL

    async def body():
        dst = bytearray(4)
        return ioctl_copyin(FKIOCTL, b"kern", dst, 4), bytes(dst), \
            ioctl_copyin(0, 0x10, dst, 4)

    assert k.run(body) == (0, b"kern", EFAULT)


def test_ufetch_ustore(k):
    async def body():
        a = ualloc(16)
        r = [ustore_32(a, 0xdeadbeef), ufetch_32(a), ustore_32(a + 1, 1),
             ufetch_64(a + PAGE_SIZE - 4), ufetch_32(0)]
        return r

    assert k.run(body) == [0, (0, 0xdeadbeef), EFAULT, (EFAULT, 0), (EFAULT, 0)]


def test_userland_access_checks(k):
    async def body():
        p = curproc()
        a = ualloc(10)
        errs = []
        for f in (lambda: uwrite(p, a + PAGE_SIZE, b"x"), lambda: uread(p, 0, 1),
                  lambda: uread(p, a, PAGE_SIZE + 1), lambda: ufree(a + 1)):
            try:
                f()
            except kern.SyscallError as e:
                errs.append(e.errno)
        b = ualloc(10)
        return errs, b > a + PAGE_SIZE   # addresses are never reused, gaps stay unmapped

    assert k.run(body) == ([EFAULT, EFAULT, EFAULT, EINVAL], True)


def test_uiomove_user_space(k):
    async def body():
        p = curproc()
        a, b = ualloc(8), ualloc(8)
        # kernel -> user over two iovecs
        u = uio([iovec(a, 3), iovec(b, 5)], 2, 100, 8, UIO_READ, p.p_vmspace)
        err = await uiomove(bytearray(b"abcdefgh"), 8, u)
        r = [err, uget(a, 3), uget(b, 5), u.uio_resid, u.uio_offset, u.uio_iovcnt]
        # user -> kernel, in two steps
        u = uio([iovec(a, 3), iovec(b, 5)], 2, 0, 8, UIO_WRITE, p.p_vmspace)
        kb = bytearray(8)
        e1 = await uiomove(kb, 4, u)
        e2 = await uiomove(memoryview(kb)[4:], 4, u)
        r += [e1, e2, bytes(kb), u.uio_resid]
        # a bad second iovec: the first one moves, then EFAULT
        u = uio([iovec(a, 3), iovec(0x10, 5)], 2, 0, 8, UIO_READ, p.p_vmspace)
        err = await uiomove(bytearray(b"XYZ12345"), 8, u)
        r += [err, u.uio_resid, uget(a, 3)]
        return r

    assert k.run(body) == [0, b"abc", b"defgh", 0, 108, 1,
                           0, 0, b"abcdefgh", 0,
                           EFAULT, 5, b"XYZ"]


def test_uiomove_kernel_space_and_frombuf(k):
    async def body():
        dst = bytearray(10)
        u = uio(iovec(memoryview(dst), 10), uio_rw=UIO_READ)
        UIO_SETUP_SYSSPACE(u)
        u.uio_offset = 2
        err = await uiomove_frombuf(b"0123456789", 10, u)
        r = [err, bytes(dst), u.uio_resid, u.uio_offset]
        u2 = uio(iovec(memoryview(dst), 4), uio_offset=20)
        UIO_SETUP_SYSSPACE(u2)
        r.append(await uiomove_frombuf(b"0123", 4, u2))   # offset past the end: nothing
        u2.uio_offset = -1
        r.append(await uiomove_frombuf(b"0123", 4, u2))
        return r

    assert k.run(body) == [0, b"23456789\0\0", 2, 10, 0, EINVAL]
    assert (UIO_USERSPACE, UIO_SYSSPACE) == (0, 1)


def test_uiomove_faults_through_copyout_site(k):
    async def body():
        a = ualloc(8)
        u = uio([iovec(a, 8)], 1, 0, 8, UIO_READ, curproc().p_vmspace)
        return await uiomove(bytearray(8), 8, u), u.uio_resid

    with k.faults.inject("copyout", error=EFAULT):
        assert k.run(body) == (EFAULT, 8)


def test_the_mapping_looked_up_last_is_never_a_stale_answer(k):
    """vmspace.lookup tries the mapping it found last before the bisection:
    after munmap the address faults again (copyin, copyout, uread), and a
    forked child's copies land in its own copy of the space, never in the
    parent's mapping the parent looked up just before the fork."""
    from kern.kern_exit import WEXITSTATUS
    from tools.lib import libc

    async def body():
        p = curproc()
        a = ualloc(10)
        uput(a, b"parent")
        buf = bytearray(6)
        assert copyin(a, buf, 6) == 0           # the parent's hint: a's mapping

        async def child() -> int:
            seen = bytearray(6)
            copyin(a, seen, 6)
            return int(copyout(b"child!", a, 6) == 0 and seen == b"parent"
                       and uget(a, 6) == b"child!")

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        mine = uget(a, 6)
        assert copyin(a, buf, 6) == 0           # the hint again, then gone with a
        ufree(a)
        try:
            uread(p, a, 1)
            read = 0
        except kern.SyscallError as e:
            read = e.errno
        return WEXITSTATUS(status), mine, copyin(a, buf, 6), copyout(b"x", a, 1), read

    p = k.proc_create("parent", k.initproc)
    assert k.run(body, proc=p) == (1, b"parent", EFAULT, EFAULT, EFAULT)


def test_uiomove_user_chunks_pass_the_copy_sites_one_by_one(k):
    """uiomove's user copies (copyin_vmspace/copyout_vmspace's user branch, in
    line) pass the copyin site for UIO_WRITE and the copyout site for UIO_READ
    once per iovec: unarmed each chunk counts, armed the chosen chunk fails and
    the move stops there, what went before moved; a whole buffer moved at once
    lands in it."""
    async def moves(rw, nbufs):
        p = curproc()
        addrs = [ualloc(4) for _ in range(nbufs)]
        for i, a in enumerate(addrs):
            uput(a, bytes([0x41 + i]) * 4)
        u = uio([iovec(a, 4) for a in addrs], nbufs, 0, 4 * nbufs, rw, p.p_vmspace)
        kb = bytearray(b"." * 4 * nbufs)
        err = await uiomove(kb, 4 * nbufs, u)
        return err, bytes(kb), u.uio_resid, b"".join(uget(a, 4) for a in addrs)

    calls = k.faults.calls
    before = (calls.get("copyin", 0), calls.get("copyout", 0))
    assert k.run(moves, UIO_WRITE, 1) == (0, b"AAAA", 0, b"AAAA")  # (the whole buffer)
    assert k.run(moves, UIO_WRITE, 3) == (0, b"AAAABBBBCCCC", 0, b"AAAABBBBCCCC")
    assert k.run(moves, UIO_READ, 2) == (0, b"." * 8, 0, b"." * 8)
    assert (calls["copyin"] - before[0], calls["copyout"] - before[1]) == (4, 2)
    with k.faults.inject("copyin", error=EFAULT, fail_nth=2) as f:
        assert k.run(moves, UIO_WRITE, 3) == (EFAULT, b"AAAA........", 8, b"AAAABBBBCCCC")
    assert f.nfaults == 1
    with k.faults.inject("copyout", error=EIO, fail_nth=3) as f:
        assert k.run(moves, UIO_READ, 3) == (EIO, b"." * 12, 4, b"." * 8 + b"CCCC")
    assert f.nfaults == 1
    assert [e.site for e in k.faults.fired()][-2:] == ["copyin", "copyout"]
