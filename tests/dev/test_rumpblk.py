"""rumpblk and etfs: host files as disks, device nodes, faults, hostfile I/O."""

from __future__ import annotations

import functools
import os

import pytest

import kern
from dev import rumpblk
from dev.rumpblk import (
    RUMP_ETFS_BLK,
    RUMP_ETFS_CHR,
    RUMP_ETFS_DIR,
    RUMP_ETFS_REG,
    RUMPBLK_SIZE,
    hostfile,
    rump_etfs_lookup,
    rump_etfs_register,
    rump_etfs_remove,
    rump_etfs_set_reg_handler,
)
from kern import (
    EACCES,
    EBUSY,
    EEXIST,
    EINVAL,
    EIO,
    EISDIR,
    ENOENT,
    ENXIO,
    EOPNOTSUPP,
)
from kern.subr_devsw import bdev_close, bdev_open, cdev_read, cdev_write
from kern.subr_uio import UIO_READ, UIO_SYSSPACE, UIO_WRITE, kernel_uio
from kern.types_dev import major, minor
from vfs.namei_h import FOLLOW
from vfs.stat import S_IFBLK, S_IFCHR, S_IFMT

from .test_md import rw

MB = 1 << 20


@functools.lru_cache(maxsize=4)
def pattern(n: int) -> bytes:
    return bytes((i * 31 + i // 509) & 0xFF for i in range(n))


@pytest.fixture
def k():
    with kern.boot(seed=9) as m:
        yield m


@pytest.fixture
def img(tmp_path):
    p = tmp_path / "disk.img"
    p.write_bytes(pattern(MB))
    return str(p)


async def stat_of(path: str):
    from vfs.vfs_syscalls import do_sys_stat

    error, sb = await do_sys_stat(path, UIO_SYSSPACE, FOLLOW)
    return error, sb.st_mode & S_IFMT, sb.st_rdev


def test_blk_registration_makes_nodes_and_disk(k, img):
    async def body():
        assert await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK) == 0
        error, bdev, cdev = rump_etfs_lookup("/dev/wd0")
        assert error == 0
        nodes = await stat_of("/dev/wd0"), await stat_of("/dev/rwd0")
        data = await rw(bdev, 2, None, 1024)
        wrote = await rw(bdev, 4, b"W" * 512)
        u = kernel_uio(bytearray(8192), MB - 4096, UIO_READ)
        raw = await cdev_read(cdev, u, 0)
        return bdev, cdev, nodes, data, wrote, raw, 8192 - u.uio_resid

    bdev, cdev, nodes, data, wrote, raw, got = k.run(body)
    assert (major(bdev), major(cdev), minor(bdev)) == (197, 197, 0)
    assert nodes == ((0, S_IFBLK, bdev), (0, S_IFCHR, cdev))
    assert data == (0, 0, pattern(MB)[1024:2048])
    assert wrote[:2] == (0, 0)
    assert (raw, got) == (0, 4096)
    with open(img, "rb") as f:
        f.seek(2048)
        assert f.read(512) == b"W" * 512


def test_window_begin_size_and_bounds(k, img):
    async def body():
        assert await rump_etfs_register("/dev/wd1", img, RUMP_ETFS_BLK, 4096, 64 * 1024) == 0
        _, bdev, _ = rump_etfs_lookup("/dev/wd1")
        first = await rw(bdev, 0, None, 512)
        straddle = await rw(bdev, 126, None, 4096)
        at_end = await rw(bdev, 128, None, 512)
        beyond = await rw(bdev, 130, None, 512)
        odd = await rw(bdev, 0, None, 100)
        return first, straddle, at_end, beyond, odd

    first, straddle, at_end, beyond, odd = k.run(body)
    assert first == (0, 0, pattern(MB)[4096:4608])
    assert straddle[0] == 0 and straddle[2] == pattern(MB)[4096 + 126 * 512:4096 + 64 * 1024]
    assert at_end == (0, 512, b"")
    assert beyond[0] == EINVAL
    assert odd[0] == EINVAL


def test_larger_size_extends_host_file(k, tmp_path):
    p = tmp_path / "small.img"
    p.write_bytes(b"s" * 4096)

    async def body():
        assert await rump_etfs_register("/dev/wd2", str(p), RUMP_ETFS_BLK, 0, MB) == 0
        _, bdev, _ = rump_etfs_lookup("/dev/wd2")
        return await rw(bdev, 2047, b"E" * 512), await rw(bdev, 0, None, 512)

    w, r = k.run(body)
    assert w[:2] == (0, 0)
    assert r == (0, 0, b"s" * 512)
    assert os.path.getsize(p) == MB
    assert p.read_bytes()[-512:] == b"E" * 512


def test_registration_errors(k, img, tmp_path):
    async def body():
        out = [
            await rump_etfs_register("dev/wd0", img, RUMP_ETFS_BLK),
            await rump_etfs_register("/dev/wd0", str(tmp_path / "missing"), RUMP_ETFS_BLK),
            await rump_etfs_register("/dev/wd0", str(tmp_path), RUMP_ETFS_BLK),
            await rump_etfs_register("/dev/wd0", img, 42),
            await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK, 2 * MB),
            await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK, -1),
            await rump_etfs_register("/tmp/reg", img, RUMP_ETFS_REG),  # rootfs serves it
            await rump_etfs_register("/dev/d", str(tmp_path), RUMP_ETFS_DIR),
            await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK),
            await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK),
            await rump_etfs_remove("/dev/nosuch"),
        ]
        return out

    assert k.run(body) == [EINVAL, ENOENT, EINVAL, EINVAL, EINVAL, EINVAL, 0,
                           EOPNOTSUPP, 0, EEXIST, ENOENT]


def test_chr_and_remove(k, img):
    async def body():
        assert await rump_etfs_register("/dev/rsd0", img, RUMP_ETFS_CHR) == 0
        _, bdev, cdev = rump_etfs_lookup("/dev/rsd0")
        node = await stat_of("/dev/rsd0")
        no_twin = (await stat_of("/dev/rrsd0"))[0]
        u = kernel_uio(bytearray(b"C" * 4096), 8192, UIO_WRITE)
        w = await cdev_write(cdev, u, 0)
        assert await bdev_open(bdev, 3, S_IFBLK, None) == 0
        busy = await rump_etfs_remove("/dev/rsd0")
        assert await bdev_close(bdev, 3, S_IFBLK, None) == 0
        removed = await rump_etfs_remove("/dev/rsd0")
        node_after = (await stat_of("/dev/rsd0"))[0]
        io_after = (await rw(bdev, 0, None, 512))[0]
        return node, cdev, no_twin, w, busy, removed, node_after, io_after

    node, cdev, no_twin, w, busy, removed, node_after, io_after = k.run(body)
    assert node == (0, S_IFCHR, cdev)
    assert no_twin == ENOENT
    assert w == 0
    assert (busy, removed, node_after) == (EBUSY, 0, ENOENT)
    assert io_after == ENXIO  # the unit is gone
    with open(img, "rb") as f:
        f.seek(8192)
        assert f.read(4096) == b"C" * 4096


def test_faults_and_host_errors(k, img, tmp_path):
    other = tmp_path / "other.img"
    other.write_bytes(bytes(MB))
    devs = {}

    async def make():
        assert await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK) == 0
        assert await rump_etfs_register("/dev/wd1", str(other), RUMP_ETFS_BLK) == 0
        devs["a"] = rump_etfs_lookup("/dev/wd0")[1]
        devs["b"] = rump_etfs_lookup("/dev/wd1")[1]

    k.run(make)

    async def body():
        return (await rw(devs["a"], 0, None, 512))[:2], (await rw(devs["b"], 0, None, 512))[:2]

    with k.faults.inject("disk.read", error=EIO, dev=devs["a"]):
        assert k.run(body) == ((EIO, 512), (0, 0))
    with k.faults.inject("disk.short", dev=devs["b"], extra={"done": 0}):
        assert k.run(body) == ((0, 0), (0, 512))

    async def broken():
        # The host descriptor goes bad under the driver: EIO, no exception.
        g = rumpblk._rumpblk()
        rblk = g.minors[minor(devs["a"])]
        os.close(rblk.rblk_fd)
        r = await rw(devs["a"], 0, None, 512)
        w = await rw(devs["a"], 0, b"x" * 512)
        rblk.rblk_fd = os.open(img, os.O_RDWR)
        return r[:2], w[:2]

    assert k.run(broken) == ((EIO, 512), (EIO, 512))


def test_getdisksize_through_rumpblk(k, img):
    from kern.subr_devsw import bdev_ioctl
    from vfs.subr_disk import getdisksize
    from vfs.vnode import VBLK, vnode
    from vfs.vnode_if import vnodeopv_desc, vop_ioctl_desc

    async def body():
        assert await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK, 0, 3 * MB) == 0
        _, bdev, _ = rump_etfs_lookup("/dev/wd0")

        async def ioctl(ap):
            return await bdev_ioctl(bdev, ap.a_command, ap.a_data, ap.a_fflag, None)

        vp = vnode()
        vp.v_type = VBLK
        vp.v_op = vnodeopv_desc("fakespec", [(vop_ioctl_desc, ioctl)]).opv_desc_vector
        return await getdisksize(vp)

    assert k.run(body) == (0, 3 * MB // 512, 512)


def test_reg_handler(k, img):
    calls = []

    async def body():
        async def handler(op, key, hf):
            calls.append((op, key))
            error, data = hf.read(512, 16)
            assert error == 0 and data == pattern(MB)[4096 + 512:4096 + 528]
            return 0

        rump_etfs_set_reg_handler(handler)
        assert await rump_etfs_register("/tmp/hostfile", img, RUMP_ETFS_REG, 4096) == 0
        assert await rump_etfs_register("/tmp/hostfile", img, RUMP_ETFS_REG) == EEXIST
        assert await rump_etfs_remove("/tmp/hostfile") == 0
        return True

    assert k.run(body)
    assert calls == [("register", "/tmp/hostfile"), ("remove", "/tmp/hostfile")]


def test_hostfile_io(tmp_path, monkeypatch):
    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    hf = hostfile(str(p), 2)
    assert hf.size() == (0, 8)
    assert hf.read(0, 4) == (0, b"2345")
    assert hf.read(6, 10) == (0, b"89")
    assert hf.read(20, 4) == (0, b"")
    assert hf.write(b"AB", 8) == (0, 2)
    assert p.read_bytes() == b"0123456789AB"
    assert hf.truncate(3) == 0
    assert p.read_bytes() == b"01234"
    assert hf.read(-1, 1)[0] == EINVAL
    assert hf.close() == 0
    fixed = hostfile(str(p), 0, 3)
    assert fixed.read(0, 10) == (0, b"012")
    assert fixed.write(b"xy", 4) == (0, 2)
    assert fixed.size() == (0, 6)
    assert hostfile(str(tmp_path / "nope")).read(0, 1)[0] == ENOENT
    # A host file that opens read-only (root opens anything read-write:
    # the host refuses O_RDWR here whoever runs the test).
    ro = tmp_path / "ro"
    ro.write_bytes(b"r")
    host_open = os.open

    def open_ro(path, flags, *a):
        if path == str(ro) and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", path)
        return host_open(path, flags, *a)

    with monkeypatch.context() as mp:
        mp.setattr(os, "open", open_ro)
        rohf = hostfile(str(ro))
        assert rohf.read(0, 1) == (0, b"r")
        assert rohf.write(b"w", 0) == (EACCES, 0)
        assert rohf.truncate(0) == EACCES
        assert rohf.close() == 0
    assert ro.read_bytes() == b"r"
    # A directory opens, but reading it is the host's EISDIR.
    assert hostfile(str(tmp_path)).read(0, 1)[0] == EISDIR


def test_hostfile_readinto(tmp_path):
    """readinto fills the buffer's front straight from the host file and leaves the rest."""
    import array

    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    hf = hostfile(str(p), 2)
    buf = bytearray(b"-" * 6)
    assert hf.readinto(buf, 1) == (0, 6)
    assert buf == b"345678"
    buf[:] = b"-" * 6
    assert hf.readinto(buf, 5) == (0, 3)        # short at the window's end
    assert buf == b"789---"
    assert hf.readinto(buf, 8) == (0, 0)
    assert hf.readinto(buf, 20) == (0, 0)
    assert hf.readinto(memoryview(buf)[1:3], 0) == (0, 2)
    assert buf == b"723---"
    words = array.array("H", [0xFFFF] * 2)        # any buffer, read as bytes
    assert hf.readinto(words, 4) == (0, 4)
    assert words.tobytes() == b"6789"
    assert hf.readinto(buf, -1) == (EINVAL, 0)
    assert hostfile(str(p), 0, 3).readinto(buf, 1) == (0, 2)   # a fixed window
    assert buf == b"123---"
    assert hostfile(str(tmp_path / "nope")).readinto(buf, 0)[0] == ENOENT
    assert hostfile(str(tmp_path)).readinto(buf, 0)[0] == EISDIR
    assert buf == b"123---"


def test_getdisksize_through_specfs_node(k, img):
    """The /dev node made at registration is a real block device vnode."""
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.subr_disk import getdisksize
    from vfs.vnode import VBLK, vrele

    async def body():
        assert await rump_etfs_register("/dev/wd0", img, RUMP_ETFS_BLK) == 0
        error, vp = await namei_simple_kernel("/dev/wd0", NSM_FOLLOW_NOEMULROOT)
        assert error == 0
        vtype = vp.v_type
        r = await getdisksize(vp)
        await vrele(vp)
        return vtype, r

    assert k.run(body) == (VBLK, (0, MB // 512, 512))


def test_halt_flushes_and_closes_every_host_file(tmp_path, monkeypatch):
    """rumpblk_fini at the halt: each writable host file (disks and etfs files)
    is fsync'ed, then every descriptor is closed."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(pattern(MB))
    reg = tmp_path / "reg.bin"
    reg.write_bytes(b"r" * 4096)
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    async def setup():
        assert await rump_etfs_register("/dev/wd0", str(disk), RUMP_ETFS_BLK) == 0
        assert await rump_etfs_register("/reg", str(reg), RUMP_ETFS_REG) == 0
        g = rumpblk._rumpblk()
        et = g.etfs["/reg"]
        assert et.et_hostfile.open() == 0
        return [r.rblk_fd for r in g.minors if r.rblk_fd >= 0] + [et.et_hostfile.hf_fd]

    with kern.boot(seed=9) as k:
        fds = k.run(setup)
        monkeypatch.setattr(os, "fsync", fsync)
    assert sorted(synced) == sorted([str(disk), str(reg)])
    g = rumpblk._rumpblk.of(k)
    assert all(r.rblk_fd == -1 for r in g.minors)
    assert g.etfs["/reg"].et_hostfile.hf_fd == -1
    for fd in fds:
        assert not os.path.exists(f"/proc/self/fd/{fd}") or \
            os.readlink(f"/proc/self/fd/{fd}") not in (str(disk), str(reg))


def _open_on(path: str) -> int:
    """How many of this process's descriptors are open on host file ``path``."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}") == path
        except OSError:
            pass
    return n


def test_a_refused_window_past_a_read_only_host_files_end_leaves_no_descriptor(
        k, tmp_path, monkeypatch):
    """A window past the end of a host file that opens read-only is refused
    (EACCES: it cannot be extended), and the descriptor opened to find that out
    is closed again, not left in the freed unit (where the next registration's
    open would replace it)."""
    ro = tmp_path / "ro.img"
    ro.write_bytes(b"r" * 4096)
    host_open = os.open

    def open_ro(path, flags, *a):
        if path == str(ro) and flags & os.O_RDWR:
            raise PermissionError(13, "Permission denied", path)
        return host_open(path, flags, *a)

    async def body():
        error = await rump_etfs_register("/dev/wd3", str(ro), RUMP_ETFS_BLK, 0, MB)
        return error, [r.rblk_fd for r in rumpblk._rumpblk().minors]

    monkeypatch.setattr(os, "open", open_ro)
    error, fds = k.run(body)
    assert error == EACCES
    assert fds == [-1] * len(fds)
    assert _open_on(str(ro)) == 0
    assert os.path.getsize(ro) == 4096


def test_backend_open_asserts_the_unit_has_no_descriptor_yet():
    """rumpblk.c's KASSERT(rblk->rblk_fd == -1) in backend_open: a unit that
    still holds a descriptor is a kernel bug (one would leak), not a silent
    replacement."""
    async def body():
        rblk = rumpblk._rumpblk().minors[RUMPBLK_SIZE - 1]
        rblk.rblk_fd = 0   # (never opened nor closed here: the KASSERT comes first)
        try:
            rumpblk.backend_open(rblk, "/dev/null")
        finally:
            rblk.rblk_fd = -1

    k = kern.boot(seed=9, config="BARE", trace=False)
    k.start()
    with pytest.raises(kern.KernelPanic, match=r'"rblk.rblk_fd == -1" failed'):
        k.run(body)
    k._thread.join(10)
