"""Every errno of fss.c 1.104's entry points (fss-spec §7.1), pinned.

Where a later revision changed the answer, the test says which, and keeps
1.104's.
"""

from __future__ import annotations

import ctypes

import pytest

import kern
from dev.fss.fssvar import (
    FSS_UNCONFIG_ON_CLOSE,
    FSSIOCCLR,
    FSSIOCGET,
    FSSIOCGET50,
    FSSIOCSET,
    FSSIOCSET50,
    FSSIOFGET,
    FSSIOFSET,
    fss_get,
    fss_set,
)
from kern.errno import (
    EBUSY,
    EFAULT,
    EINVAL,
    EISDIR,
    ENOENT,
    ENOMEM,
    ENXIO,
    EOPNOTSUPP,
    EPERM,
    EROFS,
)
from kern.fcntl import O_RDONLY, O_RDWR
from kern.ioccom import _IO
from kern.kern_module import kmod_namespace
from kern.machine import testing as kt
from kern.machine.testing import MiB, errno_of
from kern.subr_kmem import kmem_outstanding
from tools.lib import libc
from vfs.mount import mountlist


def run(origin, body):
    """Boot, mount the origin ext2 on /mnt, run ``body`` in an lwp: its result."""
    async def main():
        await kt.mount_image(origin, "/mnt")
        return await body()

    with kern.boot(seed=1) as k:
        return k.run(main)


# ---------------------------------------------------------------- open / close

def test_open_makes_a_unit_for_any_minor_and_last_close_removes_it(origin):
    async def body():
        fd = await libc.open("/dev/rfss3", O_RDONLY)
        ns = kmod_namespace("fss")
        from kern.subr_autoconf import device_lookup_private

        during = device_lookup_private(ns.fss_cd, 3) is not None
        get = await errno_of(kt.fss_get_ioctl(fd))
        await libc.close(fd)
        after = device_lookup_private(ns.fss_cd, 3)
        return during, get, after

    during, get, after = run(origin, body)
    assert during
    assert get == ENXIO
    assert after is None


def test_open_gives_enomem_when_autoconf_refuses_and_leaks_the_cfdata_B8(origin):
    async def body():
        before = [line for line in kmem_outstanding() if "fss.py" in line]
        with kern.curmachine().faults.inject("config_attach_pseudo"):
            error = await errno_of(libc.open("/dev/rfss0", O_RDONLY))
        after = [line for line in kmem_outstanding() if "fss.py" in line]
        return error, before, after

    error, before, after = run(origin, body)
    assert error == ENOMEM
    # B8 (still open in 1.114): fss_open does not free the cfdata it malloc'ed.
    assert len(after) == len(before) + 1
    assert "cfdata" in after[-1]


# ---------------------------------------------------------------- FSSIOCSET

async def _set_errno(mount, bstore, flags=O_RDWR, **kw) -> int:
    fd = await libc.open("/dev/rfss0", flags)
    try:
        return await errno_of(kt.fss_set_ioctl(fd, mount, bstore, **kw))
    finally:
        await libc.close(fd)


# Each row reaches the branch it names: every path exists except the one the
# row says is missing, so an ENOENT can only come from that branch (the
# rootfs row's store is on /mnt, another file system than "/", so the
# snapshot is not persistent and the block-device lookup is what fails).
@pytest.mark.parametrize("mount,bstore,missing,expected", [
    ("/nonexistent", "/tmp/store", "/nonexistent", ENOENT),    # namei of the mount point
    ("/mnt/dir", "/tmp/store", None, EINVAL),               # not the root of a mount
    ("/mnt", "/nonexistent/store", "/nonexistent/store", ENOENT),  # namei of the store
    ("/mnt", "/mnt/store", None, EOPNOTSUPP),               # persistent: no VFS_SNAPSHOT
    ("/", "/mnt/store", None, ENOENT),       # rootfs has no block device (spec lookup)
    ("/mnt", "/tmp", None, EISDIR),                         # vn_open of a directory, FWRITE
    ("/mnt", "/dev/fss1", None, EINVAL),                    # a block device is no store
])
def test_fssiocset_errors(origin, mount, bstore, missing, expected):
    async def body():
        await libc.mkdir("/mnt/dir", 0o755)
        await kt.write_file("/mnt/store", b"")
        await kt.write_file("/tmp/store", b"")
        exists = {p: await errno_of(libc.stat(p)) == 0 for p in (mount, bstore)}
        return exists, await _set_errno(mount, bstore, create_store=False)

    exists, error = run(origin, body)
    assert exists == {p: p != missing for p in (mount, bstore)}
    assert error == expected


@pytest.mark.parametrize("csize", [0x80000001, 0xFFFFFFFF])
def test_fssiocset_csize_with_the_top_bit_is_negative_and_means_the_default(origin, csize):
    """fss_csize is a blksize_t (int32_t): with its top bit set it is negative,
    and "0 or negative" asks for the default (MAXPHYS).  So no request can
    exceed 2^31 - 1, which a 2^31 cluster holds: fss_create_snapshot's
    "sc_clshift >= 32" EINVAL cannot be reached from FSSIOCSET."""
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDWR)
        fs = fss_set(fss_mount=libc.ustr("/mnt"), fss_bstore=libc.ustr("/tmp/store"),
                     fss_flags=0)
        ctypes.c_uint32.from_buffer(fs, fss_set.fss_csize.offset).value = csize
        await kt.write_file("/tmp/store", b"")
        await libc.ioctl(fd, FSSIOCSET, fs)
        return fs.fss_csize, (await kt.fss_get_ioctl(fd)).fsg_csize

    asked, got = run(origin, body)
    assert asked < 0
    assert got == 65536


def test_fssiocset_when_the_disk_does_not_answer_its_size(origin):
    """getdisksize asks the block device under the mount (DIOCGWEDGEINFO,
    then DIOCGPART); when the device answers neither, FSSIOCSET fails with
    its errno before the store is opened."""
    from vfs.spec_vnops import spec_node_lookup_by_mount
    from vfs.vnode import vrele

    async def body():
        mp = [m for m in mountlist() if m.mnt_stat.f_mntonname == b"/mnt"][0]
        _, devvp = spec_node_lookup_by_mount(mp)
        await vrele(devvp)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        with kern.curmachine().faults.inject("VOP_IOCTL", dev=devvp, error=ENXIO) as f:
            error = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/tmp/store"))
        return f.nfaults, error

    nfaults, error = run(origin, body)
    assert nfaults == 2  # both ioctls
    assert error == ENXIO


def test_fssiocset_efault_on_the_second_copy_of_the_store_path(origin):
    """fss_create_files copies the store's path in twice: namei (to tell a
    persistent store) and pathbuf_copyin for vn_open.  Memory that stops
    being readable in between fails the second copy: EFAULT."""
    async def body():
        await kt.write_file("/tmp/store", b"")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        m = kern.curmachine()
        # copyinstr calls: the mount path, the store for namei, the store again
        with m.faults.inject("copyinstr", error=EFAULT, fail_nth=3) as f:
            error = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", create_store=False))
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", create_store=False)  # reusable
        return f.nfaults, error, (await kt.fss_get_ioctl(fd)).fsg_mount

    nfaults, error, mount = run(origin, body)
    assert nfaults == 1
    assert error == EFAULT
    assert mount == b"/mnt"


def test_fssiocset_bad_pointers_give_efault(origin):
    async def body():
        return (await _set_errno(0x10, "/tmp/store"),
                await _set_errno("/mnt", 0x10, create_store=False))

    e1, e2 = run(origin, body)
    assert (e1, e2) == (EFAULT, EFAULT)


def test_fssiocset_needs_fwrite(origin):
    async def body():
        return await _set_errno("/mnt", "/tmp/store", flags=O_RDONLY)

    error = run(origin, body)
    assert error == EPERM


def test_fssiocset_on_an_active_unit_is_ebusy(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store")
        return await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/tmp/store2"))

    error = run(origin, body)
    assert error == EBUSY


def test_fssiocset50_configures_without_flags(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store", cmd=FSSIOCSET50)
        g = await kt.fss_get_ioctl(fd)
        v = ctypes.c_int(-1)
        await libc.ioctl(fd, FSSIOFGET, v)
        return g.fsg_mount, v.value

    mount, flags = run(origin, body)
    assert mount == b"/mnt"
    assert flags == 0


def test_fssiocget50_is_fssiocget_on_lp64():
    # fss.c compiles the FSSIOCGET50 case only #ifndef _LP64: the numbers collide.
    assert FSSIOCGET50 == FSSIOCGET == 0x40884601


# ---------------------------------------------------------------- CLR, GET, flags

def test_fssioccl_r_on_idle_unit_is_enxio_B10(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDWR)
        return await errno_of(libc.ioctl(fd, FSSIOCCLR, None))

    error = run(origin, body)
    # 1.104: ENXIO.  fss.c 1.105 (2018-08-29) answers EBUSY instead.
    assert error == ENXIO


def test_fssioccl_r_needs_fwrite(origin):
    async def body():
        rw = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(rw, "/mnt", "/tmp/store")
        ro = await libc.open("/dev/rfss0", O_RDONLY)
        return await errno_of(libc.ioctl(ro, FSSIOCCLR, None))

    error = run(origin, body)
    assert error == EPERM


def test_fssiocget_on_idle_unit_is_enxio(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDONLY)
        return await errno_of(libc.ioctl(fd, FSSIOCGET, fss_get()))

    error = run(origin, body)
    assert error == ENXIO


def test_flags_ioctls_work_read_only_B12(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDONLY)
        await libc.ioctl(fd, FSSIOFSET, ctypes.c_int(FSS_UNCONFIG_ON_CLOSE))
        v = ctypes.c_int(0)
        await libc.ioctl(fd, FSSIOFGET, v)
        return v.value

    flags = run(origin, body)
    # B12 (still in 1.114): FSSIOFSET needs no FWRITE.
    assert flags == FSS_UNCONFIG_ON_CLOSE


def test_unknown_ioctl_is_einval(origin):
    async def body():
        fd = await libc.open("/dev/rfss0", O_RDONLY)
        return await errno_of(libc.ioctl(fd, _IO("F", 9), None))

    error = run(origin, body)
    assert error == EINVAL


# ---------------------------------------------------------------- read / write / size / dump

def test_read_write_size_dump(origin):
    async def body():
        from kern.subr_devsw import bdev_dump, bdev_size
        from kern.types_dev import makedev

        fd = await libc.open("/dev/rfss0", O_RDWR)
        idle_read = await errno_of(libc.read(fd, 512))
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/store")
        write = await errno_of(libc.write(fd, b"x" * 512))
        size = 4 * MiB
        at_end = await libc.pread(fd, 512, size)
        straddle = await libc.pread(fd, 2048, size - 512)
        dev = makedev(163, 0)
        return idle_read, write, at_end, len(straddle), bdev_size(dev), \
            await bdev_dump(dev, 0, b"", 0)

    idle_read, write, at_end, straddle, size, dump = run(origin, body)
    assert idle_read == ENXIO          # not valid: ENXIO
    assert write == EROFS              # every write: EROFS
    assert at_end == b""               # at the end: EOF
    assert straddle == 512             # across the end: truncated
    assert size == -1                  # fss_size
    assert dump == EROFS               # fss_dump
