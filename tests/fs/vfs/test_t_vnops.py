"""NetBSD's tests/fs/vfs/t_vnops.c (1.63), the cases that apply here, on every type.

Each case asserts what NetBSD's asserts, in the same order, with the same
errnos.  NetBSD's skips are kept where their reason holds for a kemu type
(see h_fsmacros: they follow the file system's capabilities).  NetBSD's
``RL(call)`` ("the call must not fail") is a plain awaited libc call here:
a failure raises ``kern.SyscallError`` naming the errno.

Ported: lookup_simple, lookup_complex, dir_simple, dir_slash, dir_2slash,
dir_3slash, dir_notempty, dir_rmdirdotdot, rename_dir, rename_dotdot,
rename_reg_nodir, create_nametoolong, create_exist, rename_nametoolong,
symlink_zerolen, symlink_long, symlink_root, attrs, access_simple,
read_directory, lstat_symlink.

Not ported: fcntl_lock and fcntl_getlock_pids, which switch one case
between several rump processes (rump_pub_lwproc_rfork/switch), while a
kemu case runs in one process; create_many (2324 files) and
create_nonalphanum (256 names), which NetBSD runs on a 64 MiB image: on
the two puffs types, where every create and unlink is several requests to
the server, they take about two minutes and fifteen seconds.
"""

from __future__ import annotations

import posixpath

from kern.errno import (
    EEXIST,
    EFAULT,
    EINVAL,
    EISDIR,
    ENAMETOOLONG,
    ENOENT,
    ENOTEMPTY,
    ESTALE,
)
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR
from kern.syscall import SYS_rename
from tools.lib import libc
from vfs.stat import ACCESSPERMS, S_IFREG, S_ISLNK, stat
from vfs.vfs_vnops import _PC_NAME_MAX, _PC_NO_TRUNC

from .h_fsmacros import (
    FSTEST_ENTER,
    FSTEST_EXIT,
    FSTYPE_MSDOS,
    FSTYPE_NFS,
    USES,
    errname,
    fsapply,
    require_errno,
    supports,
    uaddr_call,
)

TESTFILE = "afile"


def USES_DIRS() -> None:
    USES("dirs", "directories not supported by file system")


def USES_SYMLINKS() -> None:
    USES("symlinks", "symlinks not supported by file system")


def USES_RENAME() -> None:
    # NetBSD: if (FSTYPE_RUMPFS(tc)) atf_tc_skip(...), rumpfs having no rename.
    USES("rename", "rename not supported by file system")


def md(base: str, tail: str) -> str:
    return f"{base}/{tail}"


_STAT_FIELDS = ("st_dev", "st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_rdev",
                "st_atimespec", "st_mtimespec", "st_ctimespec", "st_birthtimespec",
                "st_size", "st_blocks", "st_flags", "st_gen")


def _field(sb: stat, name: str) -> object:
    v = getattr(sb, name)
    if hasattr(v, "tv_sec"):
        return (v.tv_sec, v.tv_nsec)
    return v


def stat_diff(sb1: stat, sb2: stat) -> str:
    """The fields that differ, as NetBSD's lookup_complex prints them."""
    rows = [f"{n}\t{_field(sb1, n)}\t{_field(sb2, n)}" for n in _STAT_FIELDS
            if _field(sb1, n) != _field(sb2, n)]
    return "what\tsb1\tsb2\n" + "\n".join(rows)


def stat_equal(sb1: stat, sb2: stat) -> bool:
    """memcmp(&sb1, &sb2, sizeof(sb1)) == 0."""
    return bytes(sb1) == bytes(sb2)


async def lookup_simple(mountpath: str) -> None:
    final = posixpath.basename(mountpath)
    pb = f"{mountpath}/../{final}"
    sb1 = await libc.stat(pb)

    pb = f"{mountpath}/./../{final}"
    sb2 = await libc.stat(pb)

    assert stat_equal(sb1, sb2), stat_diff(sb1, sb2)


async def lookup_complex(mountpath: str) -> None:
    USES_DIRS()

    pb = f"{mountpath}/dir"
    await libc.mkdir(pb, 0o777)
    sb1 = await libc.stat(pb)

    pb = f"{mountpath}/./dir/../././dir/."
    sb2 = await libc.stat(pb)

    # The lookup may update the atime of the directories it searches: a
    # second atime later than the first by less than a second is set back.
    a1 = (sb1.st_atimespec.tv_sec, sb1.st_atimespec.tv_nsec)
    a2 = (sb2.st_atimespec.tv_sec, sb2.st_atimespec.tv_nsec)
    if a1 < a2 < (a1[0] + 1, a1[1]):
        sb2.st_atimespec.tv_sec, sb2.st_atimespec.tv_nsec = a1

    assert stat_equal(sb1, sb2), \
        "stat results differ, see output for more details\n" + stat_diff(sb1, sb2)


async def dir_simple(mountpath: str) -> None:
    USES_DIRS()

    # check we can create directories
    pb = f"{mountpath}/dir"
    await libc.mkdir(pb, 0o777)
    await libc.stat(pb)

    # check we can remove them and that it makes them unreachable
    await libc.rmdir(pb)
    await require_errno(ENOENT, libc.stat(pb), "ENOENT expected from stat")


async def do_dir_slash(mountpath: str, addend: str) -> None:
    USES_DIRS()

    # check we can create directories with one or more / appended
    plain = f"{mountpath}/dir{addend}"
    with_slash = f"{mountpath}/dir/"
    await libc.mkdir(with_slash, 0o777)
    await libc.stat(plain)
    await libc.rmdir(plain)
    await require_errno(ENOENT, libc.stat(with_slash), "ENOENT expected from stat")


async def dir_slash(mountpath: str) -> None:
    await do_dir_slash(mountpath, "/")


async def dir_2slash(mountpath: str) -> None:
    await do_dir_slash(mountpath, "//")


async def dir_3slash(mountpath: str) -> None:
    await do_dir_slash(mountpath, "///")


async def dir_notempty(mountpath: str) -> None:
    USES_DIRS()

    # check we can create directories
    pb = f"{mountpath}/dir"
    await libc.mkdir(pb, 0o777)

    pb2 = f"{mountpath}/dir/file"
    fd = await libc.open(pb2, O_RDWR | O_CREAT, 0o777)
    await libc.close(fd)

    await require_errno(ENOTEMPTY, libc.rmdir(pb), "non-empty directory removed successfully")

    await libc.unlink(pb2)
    await libc.rmdir(pb)


async def dir_rmdirdotdot(mp: str) -> None:
    USES_DIRS()

    await FSTEST_ENTER()
    await libc.mkdir("test", 0o777)
    await libc.chdir("test")

    await libc.mkdir("subtest", 0o777)
    await libc.chdir("subtest")

    await libc.rmdir(md(mp, "test/subtest"))
    await libc.rmdir(md(mp, "test"))

    xerrno = ESTALE if FSTYPE_NFS() else ENOENT
    await require_errno(xerrno, libc.chdir(".."), "chdir .. out of a removed directory")
    await FSTEST_EXIT()


async def checkfile(path: str, ref: stat, n: int) -> None:
    buf = md(path, "file")
    try:
        sb = await libc.stat(buf)
    except SyscallError as e:
        raise AssertionError(f"cannot stat file {n} ({buf}): {e}") from None
    assert stat_equal(sb, ref), f"stat mismatch {n}\n{stat_diff(ref, sb)}"


async def rename_dir(mp: str) -> None:
    USES_RENAME()
    USES_DIRS()

    pb1 = md(mp, "dir1")
    await libc.mkdir(pb1, 0o777)

    pb2 = md(mp, "dir2")
    await libc.mkdir(pb2, 0o777)
    pb2 = md(mp, "dir2/subdir")
    await libc.mkdir(pb2, 0o777)

    pb3 = md(mp, "dir1/file")
    await libc.mknod(pb3, S_IFREG | 0o777, -1)
    ref = await libc.stat(pb3)

    # First try ops which should succeed.

    # rename within directory
    pb3 = md(mp, "dir3")
    await libc.rename(pb1, pb3)
    await checkfile(pb3, ref, 1)

    # rename directory onto itself (two ways, should fail)
    pb1 = md(mp, "dir3/.")
    await require_errno(EINVAL, libc.rename(pb1, pb3), "rename 2")
    await require_errno(EISDIR, libc.rename(pb3, pb1), "rename 3")

    await checkfile(pb3, ref, 2)

    # rename father of directory into directory
    pb1 = md(mp, "dir2/dir")
    pb2 = md(mp, "dir2")
    await require_errno(EINVAL, libc.rename(pb2, pb1), "rename 4")

    # same for grandfather
    pb1 = md(mp, "dir2/subdir/dir2")
    await require_errno(EINVAL, libc.rename(pb2, pb1), "rename 5")

    await checkfile(pb3, ref, 3)

    # rename directory over a non-empty directory
    await require_errno(ENOTEMPTY, libc.rename(pb2, pb3), "rename 6")

    # cross-directory rename
    pb1 = md(mp, "dir3")
    pb2 = md(mp, "dir2/somedir")
    await libc.rename(pb1, pb2)
    await checkfile(pb2, ref, 4)

    # move to parent directory
    pb1 = md(mp, "dir2/somedir/../../dir3")
    await libc.rename(pb2, pb1)
    pb1 = md(mp, "dir2/../dir3")
    await checkfile(pb1, ref, 5)

    # atomic cross-directory rename
    pb3 = md(mp, "dir2/subdir")
    await libc.rename(pb1, pb3)
    await checkfile(pb3, ref, 6)

    # rename directory over an empty directory
    pb1 = md(mp, "parent")
    pb2 = md(mp, "parent/dir1")
    pb3 = md(mp, "parent/dir2")
    await libc.mkdir(pb1, 0o777)
    await libc.mkdir(pb2, 0o777)
    await libc.mkdir(pb3, 0o777)
    await libc.rename(pb2, pb3)

    sb = await libc.stat(pb1)
    if not FSTYPE_MSDOS():
        assert sb.st_nlink == 3, sb.st_nlink
    await libc.rmdir(pb3)
    await libc.rmdir(pb1)


async def rename_dotdot(mp: str) -> None:
    USES_RENAME()
    USES_DIRS()

    await libc.chdir(mp)

    await libc.mkdir("dir1", 0o777)
    await libc.mkdir("dir2", 0o777)

    await require_errno(EINVAL, libc.rename("dir1", "dir1/.."), "self-dotdot to")
    await require_errno(EINVAL, libc.rename("dir1/..", "sometarget"), "self-dotdot from")
    await require_errno(EINVAL, libc.rename("dir1", "dir2/.."), "other-dotdot")

    await libc.chdir("/")


async def rename_reg_nodir(mp: str) -> None:
    USES_RENAME()

    await libc.chdir(mp)

    haslinks = supports("hardlinks")

    await libc.mknod("file1", S_IFREG | 0o777, -1)
    await libc.mknod("file2", S_IFREG | 0o777, -1)

    sb = await libc.stat("file1")
    f1ino = sb.st_ino

    if haslinks:
        await libc.link("file1", "file_link")
        sb = await libc.stat("file_link")
        assert sb.st_ino == f1ino
        assert sb.st_nlink == 2

    sb = await libc.stat("file2")

    await libc.rename("file1", "file3")
    sb = await libc.stat("file3")
    if haslinks:
        assert sb.st_ino == f1ino
    await require_errno(ENOENT, libc.stat("file1"), "source 1")

    await libc.rename("file3", "file2")
    sb = await libc.stat("file2")
    if haslinks:
        assert sb.st_ino == f1ino

    await require_errno(ENOENT, libc.stat("file3"), "source 2")

    if haslinks:
        await libc.rename("file2", "file_link")
        await require_errno(ENOENT, libc.stat("file2"), "source 3")
        sb = await libc.stat("file_link")
        assert sb.st_ino == f1ino
        assert sb.st_nlink == 1

    # NULL for a name (what libc's stub cannot pass)
    await require_errno(EFAULT, uaddr_call(SYS_rename, "file2", 0), "rename to NULL")
    await require_errno(EFAULT, uaddr_call(SYS_rename, 0, "file2"), "rename from NULL")

    await libc.chdir("/")


async def create_nametoolong(mp: str) -> None:
    await libc.chdir(mp)

    val = await libc.pathconf(".", _PC_NAME_MAX)
    name = "a" * (val + 1)

    val = await libc.pathconf(".", _PC_NO_TRUNC)

    fd = -1
    try:
        fd = await libc.open(name, O_RDWR | O_CREAT, 0o666)
    except SyscallError as e:
        if val != 0:
            assert e.errno == ENAMETOOLONG, f"open: {errname(e.errno)}"
        else:
            raise
    else:
        assert val == 0, "open of a name longer than NAME_MAX succeeded"

    if val == 0:
        await libc.close(fd)
        await libc.unlink(name)

    await libc.chdir("/")


async def create_exist(mp: str) -> None:
    name = "hoge"

    await libc.chdir(mp)
    fd = await libc.open(name, O_RDWR | O_CREAT | O_EXCL, 0o666)
    await libc.close(fd)
    await libc.unlink(name)
    fd = await libc.open(name, O_RDWR | O_CREAT, 0o666)
    await libc.close(fd)
    fd = await libc.open(name, O_RDWR | O_CREAT, 0o666)
    await libc.close(fd)
    await require_errno(EEXIST, libc.open(name, O_RDWR | O_CREAT | O_EXCL, 0o666),
                        "open O_EXCL of an existing file")
    await libc.unlink(name)
    await libc.chdir("/")


async def rename_nametoolong(mp: str) -> None:
    USES_RENAME()

    await libc.chdir(mp)

    val = await libc.pathconf(".", _PC_NAME_MAX)
    name = "a" * (val + 1)

    fd = await libc.open("dummy", O_RDWR | O_CREAT, 0o666)
    await libc.close(fd)

    val = await libc.pathconf(".", _PC_NO_TRUNC)

    try:
        await libc.rename("dummy", name)
    except SyscallError as e:
        if val != 0:
            assert e.errno == ENAMETOOLONG, f"rename: {errname(e.errno)}"
        else:
            raise
    else:
        assert val == 0, "rename to a name longer than NAME_MAX succeeded"

    if val == 0:
        await libc.unlink(name)

    await libc.chdir("/")


async def symlink_len(mp: str, length: int) -> None:
    """A symlink whose target is ``length`` bytes (without the NUL)."""
    USES_SYMLINKS()

    await libc.chdir(mp)

    buf = "a" * length
    try:
        await libc.symlink(buf, "afile")
    except SyscallError as e:
        assert e.errno == ENAMETOOLONG, f"symlink of {length} bytes: {errname(e.errno)}"
    else:
        await libc.unlink("afile")

    await libc.chdir("/")


async def symlink_zerolen(mp: str) -> None:
    await symlink_len(mp, 0)


async def symlink_long(mp: str) -> None:
    # Lengths close to powers of two, as those are likely to be edge cases.
    length = 2
    while length <= 65536:
        for fuzz in (-1, 0, 1):
            await symlink_len(mp, length + fuzz)
        length *= 2


async def symlink_root(mp: str) -> None:
    USES_SYMLINKS()

    await libc.chdir(mp)
    await libc.symlink("/", "foo")
    await libc.chdir("foo")


async def attrs(mp: str) -> None:
    await FSTEST_ENTER()
    fd = await libc.open(TESTFILE, O_RDWR | O_CREAT, 0o755)
    await libc.close(fd)
    sb = await libc.stat(TESTFILE)
    if supports("owners"):      # NetBSD: not msdosfs, sysvbfs
        await libc.chown(TESTFILE, 1, 2)
        sb.st_uid = 1
        sb.st_gid = 2
        await libc.chmod(TESTFILE, 0o123)
        sb.st_mode = (sb.st_mode & ~ACCESSPERMS) | 0o123

    tv = ((1000000000, 1),      # need something >1980 for msdosfs
          (1000000002, 3))      # need even seconds for msdosfs
    await libc.utimes(TESTFILE, tv)
    await libc.utimes(TESTFILE, tv)  # XXX: utimes & birthtime
    sb.st_atimespec.tv_sec = 1000000000
    sb.st_atimespec.tv_nsec = 1000
    sb.st_mtimespec.tv_sec = 1000000002
    sb.st_mtimespec.tv_nsec = 3000

    sb2 = await libc.stat(TESTFILE)

    def CHECK(a: str) -> None:
        assert _field(sb, a) == _field(sb2, a), f"{a}: {_field(sb, a)} != {_field(sb2, a)}"

    def CHECK_NSEC(a: str) -> None:
        assert getattr(sb, a).tv_nsec == getattr(sb2, a).tv_nsec, \
            f"{a}.tv_nsec: {getattr(sb, a).tv_nsec} != {getattr(sb2, a).tv_nsec}"

    def CHECK_SEC(a: str) -> None:
        assert getattr(sb, a).tv_sec == getattr(sb2, a).tv_sec, \
            f"{a}.tv_sec: {getattr(sb, a).tv_sec} != {getattr(sb2, a).tv_sec}"

    if supports("owners"):
        CHECK("st_uid")
        CHECK("st_gid")
        CHECK("st_mode")
    if not FSTYPE_MSDOS():
        # msdosfs has only access date, not time
        CHECK_SEC("st_atimespec")
    CHECK_SEC("st_mtimespec")
    # NetBSD: not ext2fs, msdosfs, sysvbfs, v7fs (no nanoseconds on disk).
    if supports("nsec_times"):
        CHECK_NSEC("st_atimespec")
        CHECK_NSEC("st_mtimespec")

    await FSTEST_EXIT()


async def access_simple(mp: str) -> None:
    await FSTEST_ENTER()
    fd = await libc.open("tfile", O_CREAT | O_RDWR, 0o777)
    await libc.close(fd)

    ALLACC = libc.F_OK | libc.X_OK | libc.W_OK | libc.R_OK
    tmode = ALLACC  # NetBSD: F_OK alone on sysvbfs and msdosfs

    await libc.access("tfile", tmode)

    # PR kern/44648
    await require_errno(EINVAL, libc.access("tfile", ALLACC + 1), "access with a bad mode")
    await FSTEST_EXIT()


async def _size_or_errno(call: object) -> tuple[int, int]:
    try:
        data = await call  # type: ignore[misc]
    except SyscallError as e:
        return -1, e.errno
    return len(data), 0


async def read_directory(mp: str) -> None:
    await FSTEST_ENTER()
    fd = await libc.open(".", O_DIRECTORY | O_RDONLY, 0o777)

    # ATF_CHECK: a failed check is reported, the case goes on.
    failed = []
    size, err = await _size_or_errno(libc.pread(fd, 1024, 0))
    if not (size != -1 or err == EISDIR):
        failed.append(f"pread: {errname(err)}")
    size, err = await _size_or_errno(libc.read(fd, 1024))
    if not (size != -1 or err == EISDIR):
        failed.append(f"read: {errname(err)}")

    await libc.close(fd)
    assert not failed, failed
    await FSTEST_EXIT()


async def lstat_symlink(mp: str) -> None:
    USES_SYMLINKS()

    await FSTEST_ENTER()

    src = "source"
    dst = "destination"

    await libc.symlink(src, dst)
    st = await libc.lstat(dst)

    failed = []
    if not S_ISLNK(st.st_mode):
        failed.append(f"S_ISLNK({st.st_mode:o})")
    if st.st_size != len(src):
        failed.append(f"st_size {st.st_size} != {len(src)}")
    assert not failed, failed

    await FSTEST_EXIT()


test_lookup_simple = fsapply(lookup_simple, "simple lookup (./.. on root)")
test_lookup_complex = fsapply(lookup_complex, "lookup of non-dot entries")
test_dir_simple = fsapply(dir_simple, "mkdir/rmdir")
test_dir_slash = fsapply(dir_slash, "mkdir with appended slash")
test_dir_2slash = fsapply(dir_2slash, "mkdir with two slashes appended")
test_dir_3slash = fsapply(dir_3slash, "mkdir with three slashes appended")
test_dir_notempty = fsapply(dir_notempty, "non-empty directories cannot be removed")
test_dir_rmdirdotdot = fsapply(dir_rmdirdotdot, "remove .. and try to cd out (PR kern/44657)")
test_rename_dir = fsapply(rename_dir, "exercise various directory renaming ops "
                          "(PR kern/44288)")
test_rename_dotdot = fsapply(rename_dotdot, "rename dir .. (PR kern/43617)")
test_rename_reg_nodir = fsapply(rename_reg_nodir, "rename regular files, no subdirectories")
test_create_nametoolong = fsapply(create_nametoolong, "create file with name too long")
test_create_exist = fsapply(create_exist, "create with O_EXCL")
test_rename_nametoolong = fsapply(rename_nametoolong, "rename to file with name too long")
test_symlink_zerolen = fsapply(symlink_zerolen, "symlink with target of length 0")
test_symlink_long = fsapply(symlink_long, "symlink with target of length > 0")
test_symlink_root = fsapply(symlink_root, "symlink to root directory")
test_attrs = fsapply(attrs, "check setting attributes works")
test_access_simple = fsapply(access_simple, "access(2)")
test_read_directory = fsapply(read_directory, "read(2) on directories")
test_lstat_symlink = fsapply(lstat_symlink, "lstat(2) values for symbolic links")
