"""tools.lib.libc's VFS stubs: each call reaches the kernel through syscall() and comes
back as NetBSD's C library would give it (values, structs, errnos)."""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern import EEXIST, EINVAL, ENOENT, ENOTDIR, ENOTEMPTY, ERANGE
from kern.cpu import curproc
from kern.fcntl import O_APPEND, O_DIRECTORY, O_RDONLY, O_RDWR, O_WRONLY, SEEK_END
from kern.machine.testing import errno_of
from tools.lib import libc
from vfs.dirent import DT_DIR, DT_LNK, DT_REG
from vfs.mount import MNT_LOCAL, MNT_NOWAIT, MNT_RDONLY, ST_WAIT
from vfs.stat import S_IFBLK, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG


@pytest.fixture
def k():
    with kern.boot(seed=5) as m:
        yield m


def test_files_stat_and_descriptors(k):
    async def body():
        fd = await libc.creat("/tmp/f", 0o640)
        await libc.write(fd, b"hello")
        st = await libc.fstat(fd)
        await libc.close(fd)
        fd = await libc.open("/tmp/f", O_WRONLY | O_APPEND)
        await libc.write(fd, b" world")
        end = await libc.lseek(fd, 0, SEEK_END)
        await libc.close(fd)
        fd = await libc.open("/tmp/f", O_RDWR)
        data = await libc.pread(fd, 100, 6)
        await libc.ftruncate(fd, 5)
        await libc.fsync(fd)
        await libc.close(fd)
        st2 = await libc.stat("/tmp/f")
        await libc.truncate("/tmp/f", 2)
        st3 = await libc.lstat("/tmp/f")
        return st, end, data, st2, st3

    st, end, data, st2, st3 = k.run(body)
    assert st.st_mode == S_IFREG | 0o640 and st.st_size == 5 and st.st_nlink == 1
    assert (end, data, st2.st_size, st3.st_size) == (11, b"world", 5, 2)
    assert st2.st_ino == st.st_ino


def test_directories_and_readdir(k):
    async def body():
        await libc.mkdir("/tmp/d", 0o755)
        await libc.mkdir("/tmp/d/sub")
        fd = await libc.creat("/tmp/d/file", 0o644)
        await libc.close(fd)
        await libc.symlink("file", "/tmp/d/link")
        ents = await libc.listdir("/tmp/d")
        fd = await libc.open("/tmp/d", O_RDONLY | O_DIRECTORY)
        raw = await libc.getdents(fd, 4096)
        rest = await libc.getdents(fd, 4096)
        small = [e async for e in libc.readdir(fd, 32)]     # at the end already
        await libc.close(fd)
        errs = [await errno_of(libc.mkdir("/tmp/d")), await errno_of(libc.rmdir("/tmp/d")),
                await errno_of(libc.rmdir("/tmp/none")),
                await errno_of(libc.open("/tmp/d/file", O_RDONLY | O_DIRECTORY))]
        await libc.unlink("/tmp/d/link")
        await libc.unlink("/tmp/d/file")
        await libc.rmdir("/tmp/d/sub")
        await libc.rmdir("/tmp/d")
        errs.append(await errno_of(libc.stat("/tmp/d")))
        return ents, raw, rest, small, errs

    ents, raw, rest, small, errs = k.run(body)
    names = {n: t for _, n, t in ents}
    assert names == {".": DT_DIR, "..": DT_DIR, "sub": DT_DIR, "file": DT_REG, "link": DT_LNK}
    assert len(raw) > 0 and rest == b"" and small == []
    assert errs == [EEXIST, ENOTEMPTY, ENOENT, ENOTDIR, ENOENT]


def test_links_modes_times_and_access(k):
    async def body():
        fd = await libc.creat("/tmp/f", 0o600)
        await libc.close(fd)
        await libc.link("/tmp/f", "/tmp/g")
        await libc.symlink("/tmp/f", "/tmp/s")
        r = {"nlink": (await libc.stat("/tmp/g")).st_nlink,
             "readlink": await libc.readlink("/tmp/s"),
             "lstat": (await libc.lstat("/tmp/s")).st_mode & S_IFMT,
             "stat": (await libc.stat("/tmp/s")).st_mode & S_IFMT}
        await libc.chmod("/tmp/s", 0o644)        # follows the link
        fd = await libc.open("/tmp/f", O_RDONLY)
        await libc.fchmod(fd, 0o604)
        await libc.fchown(fd, 5, 6)
        await libc.futimes(fd, ((10, 0), (20, 500000)))
        await libc.close(fd)
        st = await libc.stat("/tmp/f")
        r["mode"] = st.st_mode & 0o7777
        r["owner"] = (st.st_uid, st.st_gid)
        r["times"] = (st.st_atime, st.st_mtime, st.st_mtimespec.tv_nsec)
        await libc.chown("/tmp/f", -1, 7)
        await libc.lchown("/tmp/s", 9, 9)
        await libc.utimes("/tmp/f", (100.0, 200.25))
        st = await libc.stat("/tmp/f")
        r["after"] = (st.st_uid, st.st_gid, st.st_atime, st.st_mtime)
        await libc.utimes("/tmp/f")               # now
        r["now"] = (await libc.stat("/tmp/f")).st_mtime
        r["access"] = [await libc.access("/tmp/f", libc.R_OK | libc.W_OK),
                       await errno_of(libc.access("/tmp/none", libc.F_OK)),
                       await errno_of(libc.access("/tmp/f", 0x100))]
        r["pathconf"] = await libc.pathconf("/tmp", 4)   # _PC_NAME_MAX
        return r

    r = k.run(body)
    assert r["nlink"] == 2 and r["readlink"] == "/tmp/f"
    assert (r["lstat"], r["stat"]) == (S_IFLNK, S_IFREG)
    assert r["mode"] == 0o604 and r["owner"] == (5, 6)
    assert r["times"] == (10, 20, 500000000)
    assert r["after"] == (5, 7, 100, 200)
    assert r["now"] == 1516747349                 # the machine's boot time of day
    assert r["access"] == [0, ENOENT, EINVAL]
    assert r["pathconf"] == 255


def test_cwd_umask_mknod_and_the_dot_names(k):
    async def body():
        await libc.mkdir("/tmp/w")
        await libc.chdir("/tmp/w")
        r = [await libc.getcwd()]
        r.append(await errno_of(libc.getcwd(4)))  # (3 gives "/w": see test_getcwd.py)
        old = await libc.umask(0o077)
        fd = await libc.creat("f", 0o666)
        await libc.close(fd)
        r.append(((await libc.stat("/tmp/w/f")).st_mode & 0o777, old))
        await libc.umask(old)
        await libc.mknod("/tmp/w/blk", S_IFBLK | 0o600, 0x1103)
        st = await libc.stat("blk")
        r.append((st.st_mode & S_IFMT, st.st_rdev))
        # "." and ".." as the last component
        r.append((await libc.stat(".")).st_ino == (await libc.stat("/tmp/w")).st_ino)
        r.append((await libc.stat("/tmp/w/.")).st_ino == (await libc.stat("/tmp/w")).st_ino)
        await libc.chdir("/")
        r.append((await libc.stat("..")).st_mode & S_IFMT)
        fd = await libc.open("/tmp", O_RDONLY)
        await libc.fchdir(fd)
        await libc.close(fd)
        r.append((await libc.stat("w")).st_mode & S_IFMT)     # relative to /tmp now
        return r

    r = k.run(body)
    assert r[0] == "/tmp/w" and r[1] == ERANGE
    assert r[2] == (0o600, 0o022)
    assert r[3] == (S_IFBLK, 0x1103)
    assert r[4] is True and r[5] is True and r[6] == S_IFDIR
    assert r[7] == S_IFDIR


def test_statvfs_getvfsstat_mount_unmount(k):
    async def body():
        r = {"root": await libc.statvfs("/")}
        await libc.mount("rootfs", "/mnt", MNT_RDONLY, None)
        r["list"] = [(s.f_mntonname, s.f_fstypename, s.f_flag & (MNT_RDONLY | MNT_LOCAL))
                     for s in await libc.getvfsstat(MNT_NOWAIT)]
        r["mnt"] = await libc.statvfs1("/mnt", ST_WAIT)
        fd = await libc.open("/mnt", O_RDONLY)
        r["f"] = (await libc.fstatvfs(fd)).f_mntonname
        await libc.close(fd)
        r["rofs"] = await errno_of(libc.mkdir("/mnt/x"))
        r["busy"] = await errno_of(libc.mount("rootfs", "/nonexist", 0, None))
        r["nodev"] = await errno_of(libc.mount("nofs", "/mnt", 0, b"args"))
        await libc.unmount("/mnt", 0)
        r["after"] = len(await libc.getmntinfo(MNT_NOWAIT))
        return r

    r = k.run(body)
    assert r["root"].f_fstypename == b"rootfs" and r["root"].f_bsize == 4096
    assert r["list"] == [(b"/", b"rootfs", MNT_LOCAL),
                         (b"/mnt", b"rootfs", MNT_RDONLY | MNT_LOCAL)]
    assert r["mnt"].f_mntonname == b"/mnt" and r["f"] == b"/mnt"
    assert r["rofs"] == kern.EROFS and r["busy"] == ENOENT and r["nodev"] == kern.ENODEV
    assert r["after"] == 1


def test_mount_data_is_copied_in_and_back(k):
    """A ctypes argument block goes in by address with its size (and is updated after)."""
    seen = {}

    class args(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]

    async def body():
        from kern.syscall import SYS___mount50, syscall_establish, syscall_lookup

        real = syscall_lookup(SYS___mount50)

        async def spy(l, uap, retval):
            from kern.subr_copy import copyin, copyout

            buf = bytearray(uap.data_len)
            copyin(uap.data, buf, uap.data_len)
            seen["data"] = bytes(buf)
            copyout(bytearray(b"\x07\0\0\0\x08\0\0\0"), uap.data, 8)
            return await real.sy_call(l, uap, retval)

        syscall_establish(SYS___mount50, "__mount50", spy,
                          ("const char *type", "const char *path", "int flags", "void *data",
                           "size_t data_len"))
        a = args(1, 2)
        await libc.mount("rootfs", "/mnt", 0, a)
        await libc.unmount("/mnt")
        return a.a, a.b

    assert k.run(body) == (7, 8)
    assert seen["data"] == bytes(args(1, 2))


def test_time_and_sysctl_fallbacks(k):
    async def body():
        tv = await libc.gettimeofday()
        await libc.nanosleep(2.5)
        tv2 = await libc.gettimeofday()
        mono = await libc.clock_gettime(libc.CLOCK_MONOTONIC)
        msg = await libc.sysctl([libc.CTL_KERN, libc.KERN_MSGBUF])
        bad = await errno_of(libc.clock_gettime(99))
        return tv, tv2, mono, msg, bad

    tv, tv2, mono, msg, bad = k.run(body)
    assert tv == (1516747349, 0) and tv2 == (1516747351, 500000)
    assert mono[0] == 2 and bad == EINVAL
    assert msg.startswith(b"kemu: NetBSD-style kernel emulation")


def test_user_memory_is_given_back(k):
    async def body():
        vm = curproc().p_vmspace
        await libc.stat("/")            # the lwp's user stack is mapped at its first call
        before = repr(vm)
        await libc.stat("/tmp")
        await errno_of(libc.stat("/nonexistent"))
        await libc.getvfsstat(MNT_NOWAIT)
        await libc.listdir("/")
        await libc.getcwd()
        st = libc._ustack.get()
        return before, repr(vm), st.sp - st.base, st.blocks

    before, after, used, blocks = k.run(body)
    assert before == after              # no mapping left behind
    assert (used, blocks) == (0, [])    # every temporary given back to the stack


def test_fstat_takes_its_buffer_from_the_stack_and_gives_it_back(k):
    """fstat's one temporary: on the lwp's stack, or in a mapping of its own when
    the stack is full; given back after a success and after a failure."""
    from kern import EBADF

    async def body():
        vm = curproc().p_vmspace
        fd = await libc.open("/", O_RDONLY)
        first = (await libc.fstat(fd)).st_mode
        before = repr(vm)
        st = libc._ustack.get()
        bad = await errno_of(libc.fstat(fd + 7))
        after_bad = (st.sp - st.base, list(st.blocks))
        with libc.UserTemp() as t:      # the stack nearly full: fstat maps its own
            t.alloc(libc.USTACK_SIZE - 64)
            full = (await libc.fstat(fd)).st_mode
        await libc.close(fd)
        return first, full, bad, after_bad, before, repr(vm), st.sp - st.base, st.blocks

    first, full, bad, after_bad, before, after, used, blocks = k.run(body)
    assert first & S_IFMT == full & S_IFMT == S_IFDIR
    assert bad == EBADF and after_bad == (0, [])
    assert before == after and (used, blocks) == (0, [])


def test_user_temporaries_freed_out_of_order_never_overlap(k):
    async def body():
        a, b = libc.UserTemp(), libc.UserTemp()
        x = a.copy(b"x" * 40)
        y = b.copy(b"y" * 40)
        a.__exit__(None, None, None)        # freed below a live block: not reused yet
        with libc.UserTemp() as c:
            z = c.copy(b"z" * 40)
            assert libc.uget(y, 40) == b"y" * 40
        b.__exit__(None, None, None)
        st = libc._ustack.get()
        return x, y, z, st.sp - st.base

    x, y, z, used = k.run(body)
    assert x < y < z
    assert used == 0


def test_open_with_o_cloexec_marks_the_descriptor(k):
    from kern.fcntl import F_GETFD, FD_CLOEXEC, O_CLOEXEC, O_CREAT

    async def body():
        plain = await libc.open("/tmp/c1", O_CREAT | O_RDWR, 0o644)
        cloexec = await libc.open("/tmp/c2", O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        return (await libc.fcntl(plain, F_GETFD), await libc.fcntl(cloexec, F_GETFD))

    assert k.run(body) == (0, FD_CLOEXEC)


def test_user_mapping_is_the_calling_process_memory(k):
    """libc.UserMapping: mem() is the mapping's bytes, what uget/uput and the
    kernel's copies see at its address; in a forked child it is the child's
    copy (a write there leaves the parent's alone); after free() the address
    faults, for uget and for mem() alike; mem() keeps the mapping's size."""
    from kern.exceptions import SyscallError
    from kern.kern_exit import WEXITSTATUS

    async def body():
        m = libc.UserMapping(64)
        m.mem()[:6] = b"parent"
        seen = libc.uget(m.addr, 6)

        async def child() -> int:
            before = bytes(m.mem()[:6])
            m.mem()[:6] = b"child!"
            return int(before == b"parent" and libc.uget(m.addr, 6) == b"child!")

        pid = await libc.fork(child)
        _, status = await libc.waitpid(pid)
        after = bytes(m.mem()[:6])
        # another mapping removed: this one's bytes are still what mem() gives
        other = libc.UserMapping(16)
        other.free()
        m.mem()[:5] = b"still"
        kept = libc.uget(m.addr, 5)
        size = len(m.mem())
        try:     # a store past the end: no bytes appended to the mapping
            m.mem()[size:size + 1] = b"x"
            kept += b" grew"
        except (ValueError, IndexError):
            pass
        if len(m.mem()) != size:
            kept += b" grew"
        m.free()
        try:
            libc.uget(m.addr, 1)
            gone = 0
        except SyscallError as e:
            gone = e.errno
        try:     # not a write into the bytes the mapping had
            m.mem()[:1] = b"x"
            stale = 0
        except SyscallError as e:
            stale = e.errno
        return seen, WEXITSTATUS(status), after, kept, gone, stale

    p = k.proc_create("mapper", k.initproc)
    assert k.run(body, proc=p) == (b"parent", 1, b"parent", b"still", kern.EFAULT, kern.EFAULT)
