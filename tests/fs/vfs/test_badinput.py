"""Bad input at the system-call boundary: a clear errno, nothing else harmed.

Every check makes its system calls through tools.lib.libc and expects a
``kern.SyscallError`` with NetBSD's errno; any other exception (a Python
error escaping the kernel becomes a ``kern.KernelPanic``) fails the test.
After each piece of bad input the machine must still be well: a file on
another mounted file system reads back unchanged, and a fresh file system
still mounts, takes a file, and unmounts (:func:`assert_harmless`).

Two groups:

* Path and pointer abuse (2000-byte paths, 256-byte components, symlink
  cycles, a regular file in the middle of a path, bad user pointers, bad
  file handles, mounts on a non-directory, on a busy mount point, of an
  unknown type): fsapply() cases, run on every registered file-system type
  (so each ends with a clean unmount, and e2fsck for ext2), with the canary
  on the root file system (/tmp, another mount than /mnt).
* Damaged ext2 images (truncated, a garbage super block, a directory entry
  pointing past the inode table), made by editing mke2fs images on the
  host.  tests/fs/ext2fs/test_ext2fs_bad.py already checks the kernel side
  of these (the errno of the file system's mount routine, the console
  messages, EIO from the VOPs); here is the system-call view: mount(2)'s
  errno, then EIO from getdents(2) and stat(2), with a healthy ext2 file
  system mounted next to the damaged one (/dev/wd1 on /good) as the canary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kern
from kern import syscall as sc
from kern.errno import (
    EBUSY,
    EFAULT,
    EINVAL,
    EIO,
    ELOOP,
    ENAMETOOLONG,
    ENODEV,
    ENOENT,
    ENOTDIR,
    EOPNOTSUPP,
    ESTALE,
)
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from kern.machine import testing as kt
from tools.lib import libc
from vfs.vfs_syscalls import FHANDLE_SIZE_MAX

from ..ext2fs.helpers import dumpe2fs_h, populate
from ..ext2fs.helpers import mkfs as ext2_mkfs
from ..ext2fs.helpers import needs_e2fsprogs as ext2_needs_e2fsprogs
from ..ext2fs.test_ext2fs_bad import _patch_entry
from .h_fsmacros import (
    EXT2FS,
    FSTEST_IMGSIZE,
    fsapply,
    require_errno,
    uaddr_call,
)

CANARY = "/tmp/canary"
CANARY_DATA = bytes(range(256)) * 40 + b"the canary is alive"
PROBE = "/tmp/probe"

# An address no process has mapped (user memory starts low, maps are small).
BAD = 0x7F00_DEAD_0000


# ------------------------------------------------------------------ helpers

async def write_file(path: str, data: bytes) -> None:
    fd = await libc.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    try:
        assert await libc.write(fd, data) == len(data)
    finally:
        await libc.close(fd)


async def read_file(path: str) -> bytes:
    fd = await libc.open(path, O_RDONLY)
    try:
        out = b""
        while chunk := await libc.read(fd, 65536):
            out += chunk
        return out
    finally:
        await libc.close(fd)


async def plant_canary(path: str = CANARY) -> None:
    await write_file(path, CANARY_DATA)


async def assert_harmless(canary: str = CANARY) -> None:
    """The canary reads back, and a fresh file system mounts, works and unmounts."""
    assert await read_file(canary) == CANARY_DATA, f"{canary} changed"
    await kt.mkdir_p(PROBE)
    await libc.mount("rootfs", PROBE, 0, None)
    await write_file(f"{PROBE}/f", b"probe")
    assert await read_file(f"{PROBE}/f") == b"probe"
    await libc.unmount(PROBE, 0)
    await require_errno(ENOENT, libc.stat(f"{PROBE}/f"), "the probe mount is gone")


# ------------------------------------------------------------------ paths and names

LONGPATH_LEN = 2000


def long_path(mp: str) -> str:
    """A path of 2000 characters under ``mp``, every component short."""
    head = f"{mp}/"
    body = "d/" * ((LONGPATH_LEN - len(head)) // 2)
    p = head + body
    return p + "x" * (LONGPATH_LEN - len(p))


async def path_too_long(mp: str) -> None:
    await plant_canary()
    await write_file(f"{mp}/file", b"data")
    p = long_path(mp)
    assert len(p) == LONGPATH_LEN
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("open", lambda: libc.open(p, O_RDONLY)),
        ("open O_CREAT", lambda: libc.open(p, O_RDWR | O_CREAT, 0o644)),
        ("stat", lambda: libc.stat(p)),
        ("lstat", lambda: libc.lstat(p)),
        ("mkdir", lambda: libc.mkdir(p, 0o755)),
        ("rmdir", lambda: libc.rmdir(p)),
        ("unlink", lambda: libc.unlink(p)),
        ("rename from", lambda: libc.rename(p, f"{mp}/new")),
        ("rename to", lambda: libc.rename(f"{mp}/file", p)),
        ("symlink target", lambda: libc.symlink(p, f"{mp}/link")),
        ("symlink name", lambda: libc.symlink("file", p)),
        ("link", lambda: libc.link(f"{mp}/file", p)),
        ("chdir", lambda: libc.chdir(p)),
        ("mount", lambda: libc.mount("rootfs", p, 0, None)),
    ]
    for what, call in calls:
        await require_errno(ENAMETOOLONG, call(), f"{what} of a {LONGPATH_LEN}-byte path")
        await assert_harmless()
    # Nothing was made or lost under the mount point.
    names = sorted(n for _, n, _ in await libc.listdir(mp) if n not in (".", ".."))
    assert "file" in names and not {"new", "link", "d"} & set(names), names
    assert await read_file(f"{mp}/file") == b"data"
    await libc.unlink(f"{mp}/file")


async def component_too_long(mp: str) -> None:
    await plant_canary()
    await write_file(f"{mp}/file", b"data")
    name = "n" * 256
    p = f"{mp}/{name}"
    calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("open O_CREAT", lambda: libc.open(p, O_RDWR | O_CREAT, 0o644)),
        ("stat", lambda: libc.stat(p)),
        ("mkdir", lambda: libc.mkdir(p, 0o755)),
        ("unlink", lambda: libc.unlink(p)),
        ("rename to", lambda: libc.rename(f"{mp}/file", p)),
        ("symlink name", lambda: libc.symlink("file", p)),
        ("link", lambda: libc.link(f"{mp}/file", p)),
        ("in the middle", lambda: libc.stat(f"{p}/x")),
    ]
    for what, call in calls:
        await require_errno(ENAMETOOLONG, call(), f"{what} with a 256-byte component")
        await assert_harmless()
    # 255 bytes is fine (NAME_MAX), and the name comes back whole.
    ok = "n" * 255
    await libc.mkdir(f"{mp}/{ok}", 0o755)
    assert ok in [n for _, n, _ in await libc.listdir(mp)]
    await libc.rmdir(f"{mp}/{ok}")
    await libc.unlink(f"{mp}/file")


async def symlink_loop(mp: str) -> None:
    await plant_canary()
    await libc.symlink(f"{mp}/b", f"{mp}/a")
    await libc.symlink(f"{mp}/a", f"{mp}/b")
    await libc.symlink("self", f"{mp}/self")
    for what, call in [
        ("stat a", lambda: libc.stat(f"{mp}/a")),
        ("open a", lambda: libc.open(f"{mp}/a", O_RDONLY)),
        ("open a O_CREAT", lambda: libc.open(f"{mp}/a", O_RDWR | O_CREAT, 0o644)),
        ("stat self", lambda: libc.stat(f"{mp}/self")),
        ("chdir through", lambda: libc.chdir(f"{mp}/self/x")),
        ("mkdir through", lambda: libc.mkdir(f"{mp}/a/x", 0o755)),
    ]:
        await require_errno(ELOOP, call(), what)
        await assert_harmless()
    # The links themselves are fine.
    assert (await libc.lstat(f"{mp}/a")).st_size == len(f"{mp}/b")
    assert await libc.readlink(f"{mp}/self") == "self"
    for n in ("a", "b", "self"):
        await libc.unlink(f"{mp}/{n}")


async def notdir_in_path(mp: str) -> None:
    await plant_canary()
    await write_file(f"{mp}/file", b"data")
    for what, call in [
        ("stat", lambda: libc.stat(f"{mp}/file/x")),
        ("open", lambda: libc.open(f"{mp}/file/x", O_RDONLY)),
        ("open O_CREAT", lambda: libc.open(f"{mp}/file/x", O_RDWR | O_CREAT, 0o644)),
        ("mkdir", lambda: libc.mkdir(f"{mp}/file/x", 0o755)),
        ("unlink", lambda: libc.unlink(f"{mp}/file/x")),
        ("rename to", lambda: libc.rename(f"{mp}/file", f"{mp}/file/x")),
        ("symlink", lambda: libc.symlink("t", f"{mp}/file/x")),
        ("trailing slash", lambda: libc.stat(f"{mp}/file/")),
        ("chdir", lambda: libc.chdir(f"{mp}/file")),
        ("opendir", lambda: libc.open(f"{mp}/file", O_RDONLY | O_DIRECTORY)),
    ]:
        await require_errno(ENOTDIR, call(), what)
        await assert_harmless()
    assert await read_file(f"{mp}/file") == b"data"
    await libc.unlink(f"{mp}/file")


async def bad_pointers(mp: str) -> None:
    await plant_canary()
    f = f"{mp}/file"
    await write_file(f, b"0123456789")
    await libc.symlink("file", f"{mp}/link")
    fd = await libc.open(f, O_RDWR)
    dfd = await libc.open(mp, O_RDONLY | O_DIRECTORY)
    buf = libc.ualloc(4096)
    try:
        calls: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("stat(NULL)", lambda: uaddr_call(sc.SYS___stat50, 0, buf)),
            ("stat(bad path)", lambda: uaddr_call(sc.SYS___stat50, BAD, buf)),
            ("stat(path, bad sb)", lambda: uaddr_call(sc.SYS___stat50, f, BAD)),
            ("lstat(path, bad sb)", lambda: uaddr_call(sc.SYS___lstat50, f, BAD)),
            ("fstat(fd, bad sb)", lambda: uaddr_call(sc.SYS___fstat50, fd, BAD)),
            ("open(bad path)", lambda: uaddr_call(sc.SYS_open, BAD, O_RDONLY, 0)),
            ("open(bad path, O_CREAT)", lambda: uaddr_call(sc.SYS_open, BAD,
                                                            O_RDWR | O_CREAT, 0o644)),
            ("pread(fd, bad buf)", lambda: uaddr_call(sc.SYS_pread, fd, BAD, 10, 0, 0)),
            ("pwrite(fd, bad buf)", lambda: uaddr_call(sc.SYS_pwrite, fd, BAD, 10, 0, 2)),
            ("write(fd, bad buf)", lambda: uaddr_call(sc.SYS_write, fd, BAD, 10)),
            ("writev(fd, bad iov)", lambda: uaddr_call(sc.SYS_writev, fd, BAD, 1)),
            ("getdents(bad buf)", lambda: uaddr_call(sc.SYS___getdents30, dfd, BAD, 4096)),
            ("readlink(bad path)", lambda: uaddr_call(sc.SYS_readlink, BAD, buf, 100)),
            ("readlink(path, bad buf)", lambda: uaddr_call(sc.SYS_readlink, f"{mp}/link",
                                                            BAD, 100)),
            ("mkdir(bad path)", lambda: uaddr_call(sc.SYS_mkdir, BAD, 0o755)),
            ("rmdir(bad path)", lambda: uaddr_call(sc.SYS_rmdir, BAD)),
            ("unlink(bad path)", lambda: uaddr_call(sc.SYS_unlink, BAD)),
            ("rename(bad, path)", lambda: uaddr_call(sc.SYS_rename, BAD, f"{mp}/new")),
            ("rename(path, bad)", lambda: uaddr_call(sc.SYS_rename, f, BAD)),
            ("symlink(bad target)", lambda: uaddr_call(sc.SYS_symlink, BAD, f"{mp}/l2")),
            ("link(path, bad)", lambda: uaddr_call(sc.SYS_link, f, BAD)),
            ("chdir(bad path)", lambda: uaddr_call(sc.SYS_chdir, BAD)),
            ("access(bad path)", lambda: uaddr_call(sc.SYS_access, BAD, 0)),
            ("utimes(path, bad times)", lambda: uaddr_call(sc.SYS___utimes50, f, BAD)),
            ("statvfs1(path, bad buf)", lambda: uaddr_call(sc.SYS_statvfs1, mp, BAD, 1)),
            ("getvfsstat(bad buf)", lambda: uaddr_call(sc.SYS_getvfsstat, BAD, 1 << 16, 1)),
            ("mount(bad type)", lambda: uaddr_call(sc.SYS___mount50, BAD, mp, 0, 0, 0)),
            ("mount(type, bad path)", lambda: uaddr_call(sc.SYS___mount50, "rootfs", BAD,
                                                          0, 0, 0)),
            ("mount(type, path, bad data)", lambda: uaddr_call(sc.SYS___mount50, "ext2fs",
                                                               f"{mp}/d", 0, BAD, 8)),
            ("unmount(bad path)", lambda: uaddr_call(sc.SYS_unmount, BAD, 0)),
        ]
        await libc.mkdir(f"{mp}/d", 0o755)
        for what, call in calls:
            await require_errno(EFAULT, call(), what)
            await assert_harmless()
    finally:
        await libc.close(dfd)
        await libc.close(fd)
        libc.ufree(buf)
    # Nothing was written from the bad buffers, nothing created or renamed.
    assert await read_file(f) == b"0123456789"
    names = sorted(n for _, n, _ in await libc.listdir(mp) if n not in (".", ".."))
    assert not {"new", "l2"} & set(names), names
    await libc.rmdir(f"{mp}/d")
    await libc.unlink(f"{mp}/link")
    await libc.unlink(f)


async def mount_misuse(mp: str) -> None:
    """Mounts that must fail (ENOTDIR, ENODEV, EBUSY), and what NetBSD allows."""
    await plant_canary()
    await write_file(f"{mp}/file", b"data")
    await libc.mkdir(f"{mp}/dir", 0o755)

    # On a non-directory.
    await require_errno(ENOTDIR, libc.mount("rootfs", f"{mp}/file", 0, None),
                        "mount on a regular file")
    await assert_harmless()
    # Of a file-system type nobody has.
    await require_errno(ENODEV, libc.mount("nosuchfs", f"{mp}/dir", 0, None),
                        "mount of an unknown type")
    await require_errno(ENODEV, libc.mount("", f"{mp}/dir", 0, None), "mount of type \"\"")
    await assert_harmless()

    # A busy mount point: the mount on mp/dir is in use (a descriptor open
    # on it, then a process's cwd in it): unmount is EBUSY, and so is
    # removing or renaming the directory it covers.
    await libc.mount("rootfs", f"{mp}/dir", 0, None)
    await write_file(f"{mp}/dir/inner", b"inner")
    fd = await libc.open(f"{mp}/dir/inner", O_RDONLY)
    await require_errno(EBUSY, libc.unmount(f"{mp}/dir", 0), "unmount with a file open")
    await libc.close(fd)
    await libc.chdir(f"{mp}/dir")
    await require_errno(EBUSY, libc.unmount(f"{mp}/dir", 0), "unmount with a cwd inside")
    await libc.chdir("/")
    await require_errno(EBUSY, libc.rmdir(f"{mp}/dir"), "rmdir of a mount point")
    await require_errno(EBUSY, libc.rename(f"{mp}/dir", f"{mp}/dir2"),
                        "rename of a mount point")
    await assert_harmless()
    # Mounting over a mount point is allowed (the new mount hides the old
    # one, as in NetBSD); unmounting goes back down the stack.
    await libc.mount("rootfs", f"{mp}/dir", 0, None)
    await require_errno(ENOENT, libc.stat(f"{mp}/dir/inner"), "hidden by the upper mount")
    await libc.unmount(f"{mp}/dir", 0)
    assert await read_file(f"{mp}/dir/inner") == b"inner"
    await libc.unmount(f"{mp}/dir", 0)
    await require_errno(ENOENT, libc.stat(f"{mp}/dir/inner"), "gone with its mount")
    await assert_harmless()

    await libc.rmdir(f"{mp}/dir")
    await libc.unlink(f"{mp}/file")


async def bad_file_handles(mp: str) -> None:
    """fhopen(2)/fhstat(2) of handles that are too short, too long, of no
    mounted file system, or of one without file handles."""
    await plant_canary()
    await write_file(f"{mp}/file", b"data")
    fsid = bytes((await libc.statvfs(mp)).f_fsidx)
    fh: bytes | None
    try:
        fh = await libc.getfh(f"{mp}/file")
    except SyscallError as e:
        assert e.errno == EOPNOTSUPP, e
        fh = None
    fid = fh[len(fsid):] if fh is not None else bytes(12)
    checks: list[tuple[str, int, Callable[[], Awaitable[Any]]]] = [
        ("a handle shorter than an fsid", EINVAL, lambda: libc.fhopen(b"x", O_RDONLY)),
        ("a handle over FHANDLE_SIZE_MAX", EINVAL,
         lambda: libc.fhopen(bytes(FHANDLE_SIZE_MAX + 1), O_RDONLY)),
        ("the fsid of no mount", ESTALE, lambda: libc.fhopen(b"\xff" * len(fsid) + fid,
                                                             O_RDONLY)),
        ("fhstat, the fsid of no mount", ESTALE, lambda: libc.fhstat(b"\xff" * len(fsid) + fid)),
    ]
    if fh is None:
        checks += [
            ("a file system without handles", EOPNOTSUPP,
             lambda: libc.fhopen(fsid + fid, O_RDONLY)),
            ("fhstat, a file system without handles", EOPNOTSUPP,
             lambda: libc.fhstat(fsid + fid)),
        ]
    else:
        checks += [
            ("fhopen with O_CREAT", EINVAL, lambda: libc.fhopen(fh, O_RDWR | O_CREAT)),
            ("a truncated fid", EINVAL, lambda: libc.fhopen(fh[:len(fsid) + 2], O_RDONLY)),
        ]
    for what, errno, call in checks:
        await require_errno(errno, call(), what)
        await assert_harmless()
    assert await read_file(f"{mp}/file") == b"data"
    await libc.unlink(f"{mp}/file")


test_path_too_long = fsapply(path_too_long, "a 2000-byte path: ENAMETOOLONG everywhere")
test_component_too_long = fsapply(component_too_long,
                                  "a 256-byte component: ENAMETOOLONG everywhere")
test_symlink_loop = fsapply(symlink_loop, "a symlink cycle: ELOOP")
test_notdir_in_path = fsapply(notdir_in_path, "a regular file in the middle of a path: ENOTDIR")
test_bad_pointers = fsapply(bad_pointers, "bad user pointers: EFAULT")
test_bad_file_handles = fsapply(bad_file_handles, "bad file handles: EINVAL, ESTALE")
test_mount_misuse = fsapply(mount_misuse, "mount on a non-directory, unknown type, busy")


# ------------------------------------------------------------------ damaged ext2 images

needs_e2fsprogs = pytest.mark.skipif(kt.e2fsprogs_missing() is not None,
                                     reason=kt.e2fsprogs_missing() or "")

GOOD = "/good"
GOOD_CANARY = f"{GOOD}/canary"


@contextlib.contextmanager
def machine_with_good_fs(tmp_path: Path) -> Iterator[kern.Machine]:
    """A machine with a healthy ext2 (/dev/wd1) on /good holding a canary;
    after the body: the canary still reads back, /good unmounts, e2fsck is happy."""
    good = kt.make_ext2_image(str(tmp_path / "good.img"), FSTEST_IMGSIZE, mkfs="mke2fs")

    async def setup() -> None:
        await kt.attach_disk(good, "/dev/wd1")
        await kt.mount_ext2("/dev/wd1", GOOD)
        await plant_canary(GOOD_CANARY)

    async def finish() -> None:
        await assert_harmless(GOOD_CANARY)
        assert await kt.unmount(GOOD) == 0

    with kern.boot(config=EXT2FS.config or "GENERIC") as k:
        k.run(setup)
        yield k
        k.run(finish)
    kt.assert_e2fsck_clean(good)


async def mount_bad(img: str) -> int:
    """Attach ``img`` as /dev/wd0 and mount(2) it on /mnt: the errno (0: mounted)."""
    await kt.attach_disk(img, "/dev/wd0")
    try:
        await kt.mount_ext2("/dev/wd0", "/mnt")
    except SyscallError as e:
        return e.errno
    return 0


@needs_e2fsprogs
def test_truncated_image(tmp_path: Path) -> None:
    """Cf. test_ext2fs_bad.test_truncated_image (the kernel's message)."""
    img = kt.make_ext2_image(str(tmp_path / "t.img"), 8 << 20, mkfs="mke2fs")
    with open(img, "r+b") as f:
        f.truncate(5 << 20)
    with machine_with_good_fs(tmp_path) as k:
        assert k.run(mount_bad, img) == EINVAL
        k.run(assert_harmless, GOOD_CANARY)
        assert "is larger than its device" in k.dmesg()


@needs_e2fsprogs
def test_image_truncated_inside_the_super_block(tmp_path: Path) -> None:
    """Cf. test_ext2fs_bad.test_image_truncated_inside_the_superblock."""
    img = kt.make_ext2_image(str(tmp_path / "t.img"), FSTEST_IMGSIZE, mkfs="mke2fs")
    with open(img, "r+b") as f:
        f.truncate(1536)
    with machine_with_good_fs(tmp_path) as k:
        assert k.run(mount_bad, img) == EINVAL
        k.run(assert_harmless, GOOD_CANARY)
        assert "ext2fs: " in k.dmesg()


@needs_e2fsprogs
def test_garbage_super_block(tmp_path: Path) -> None:
    """Cf. test_ext2fs_bad.test_garbage_superblock."""
    img = kt.make_ext2_image(str(tmp_path / "g.img"), FSTEST_IMGSIZE, mkfs="mke2fs")
    with open(img, "r+b") as f:
        f.seek(1024)
        f.write(bytes((i * 131 + 7) & 0xFF for i in range(1024)))
    with machine_with_good_fs(tmp_path) as k:
        assert k.run(mount_bad, img) == EINVAL
        k.run(assert_harmless, GOOD_CANARY)


@needs_e2fsprogs
def test_empty_and_zeroed_devices(tmp_path: Path) -> None:
    """A zero-length device and one full of zeroes: EINVAL, not a crash."""
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    zeros = tmp_path / "zeros.img"
    with open(zeros, "wb") as f:
        f.truncate(FSTEST_IMGSIZE)
    with machine_with_good_fs(tmp_path) as k:
        async def body() -> tuple[int, int]:
            e1 = await mount_bad(str(zeros))
            from dev.rumpblk import rump_etfs_remove

            assert await rump_etfs_remove("/dev/wd0") == 0
            e2 = await mount_bad(str(empty))
            await assert_harmless(GOOD_CANARY)
            return e1, e2

        e1, e2 = k.run(body)
    assert (e1, e2) == (EINVAL, EINVAL)


@needs_e2fsprogs
def test_mount_of_a_busy_device(tmp_path: Path) -> None:
    """The disk of /good, mounted again elsewhere: EBUSY (cf. test_ext2fs_bad's
    test_mount_errors_of_the_device); /good is not disturbed."""
    async def body() -> None:
        await require_errno(EBUSY, kt.mount_ext2("/dev/wd1", "/mnt"), "second mount of wd1")
        await assert_harmless(GOOD_CANARY)
        await require_errno(EBUSY, kt.mount_ext2("/dev/wd1", GOOD), "wd1 over its own mount")
        await assert_harmless(GOOD_CANARY)

    with machine_with_good_fs(tmp_path) as k:
        k.run(body)


@ext2_needs_e2fsprogs
def test_directory_entry_past_the_inode_table(tmp_path: Path) -> None:
    """The image of test_ext2fs_bad.test_directory_entry_past_the_inode_table
    (which checks the kernel side: the VOPs' EIO and the console message)."""
    root = tmp_path / "root"
    populate(str(root), {"victim": b"v"})
    img = ext2_mkfs(str(tmp_path / "e.img"), FSTEST_IMGSIZE, root=str(root))
    icount = int(dumpe2fs_h(img)["Inode count"])
    _patch_entry(img, "/", b"victim", ino=icount + 100)

    async def body() -> None:
        assert await mount_bad(img) == 0   # the super block is fine
        await require_errno(EIO, libc.stat("/mnt/victim"), "stat of the bad entry")
        await assert_harmless(GOOD_CANARY)
        await require_errno(EIO, libc.listdir("/mnt"), "readdir of the bad directory")
        await assert_harmless(GOOD_CANARY)
        await require_errno(EIO, libc.open("/mnt/victim", O_RDONLY), "open of the bad entry")
        # The damage does not pin anything: the file system unmounts.
        assert await kt.unmount("/mnt") == 0
        await assert_harmless(GOOD_CANARY)

    with machine_with_good_fs(tmp_path) as k:
        k.run(body)
        assert "inode out of bounds" in k.dmesg()
