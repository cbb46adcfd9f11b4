"""The persistent (file-system internal) paths of fss.c 1.104 in kemu.

A persistent snapshot needs VFS_SNAPSHOT, which in NetBSD only FFS has; ext2,
rootfs and puffs answer EOPNOTSUPP, so a real one cannot be made here.  B5
(a failed persistent attempt leaves FSS_PERSISTENT set) makes the unit take
the persistent branches anyway on its next FSSIOCSET, with an ordinary file
or device as "store": that is how these tests reach fss_bs_thread's
persistent loop and fss_error's persistent case, asserting what 1.104 does
there.  The branches that stay out of reach, and why, are listed in
docs/STATUS.md ("Branch coverage of the two seeds", measured by
``python -m tools.seedcov``).
"""

from __future__ import annotations

import trio
import trio.testing

import kern
from kern.errno import EIO, ENXIO, EOPNOTSUPP
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from kern.machine.testing import errno_of
from tools.lib import libc


async def _b5_unit(store: str) -> int:
    """/dev/rfss0 after B5: a failed persistent attempt, then FSSIOCSET with
    ``store``, which 1.104 takes as persistent.  Returns the descriptor."""
    await kt.write_file("/mnt/inside", b"")
    fd = await libc.open("/dev/rfss0", O_RDWR)
    assert await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/mnt/inside", create_store=False)) \
        == EOPNOTSUPP
    await kt.fss_set_ioctl(fd, "/mnt", store, create_store=False)
    assert (await kt.fss_get_ioctl(fd)).fsg_csize == 0  # persistent
    return fd


def test_persistent_read_error_fails_the_read(origin):
    """The persistent loop reads the store with fss_bs_io; when that fails the
    whole request fails (b_resid = b_bcount) with the store's errno."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/tmp/store", b"S" * 8192)
        fd = await _b5_unit("/tmp/store")
        m = kern.curmachine()
        with m.faults.inject("VOP_READ", lwp="fss0", error=EIO, fail_nth=1) as f:
            failed = await errno_of(libc.pread(fd, 4096, 0))
        ok = await libc.pread(fd, 4096, 4096)
        # No FSSIOCCLR: B5's delete ends in NetBSD 8's panic (test_B5 pins it).
        return f.nfaults, failed, ok

    with kern.boot(seed=1) as k:
        nfaults, failed, ok = k.run(body)
    assert nfaults == 1
    assert failed == EIO
    assert ok == b"S" * 4096  # the next read is served again


def test_unmount_invalidates_a_persistent_unit_and_its_queued_reads(origin, tmp_path):
    """Unmounting the snapshotted file system calls fss_error, which for a
    persistent unit only marks it invalid (no copy-on-write handler to
    remove).  A read being served finishes; one queued behind it is
    answered ENXIO by the thread (is_valid is taken when the request is
    dequeued); later reads get ENXIO from fss_strategy."""
    from dev.rumpblk import RUMP_ETFS_CHR, rump_etfs_register

    store = tmp_path / "store.img"
    store.write_bytes(b"T" * (1 * kt.MiB))
    seen: dict = {}

    async def main():
        async with kern.boot(seed=1) as k:
            async def setup():
                await kt.mount_image(origin, "/mnt")
                assert await rump_etfs_register("/dev/rstore", str(store), RUMP_ETFS_CHR) == 0
                fd = await _b5_unit("/dev/rstore")
                return fd, (await libc.stat("/dev/rstore")).st_rdev

            fd, rstore = await k.run(setup)

            async def reader(name: str, delay: int) -> None:
                await kern.kpause("start", False, delay, None)
                try:
                    seen[name] = await libc.pread(fd, 4096, 0)
                except kern.SyscallError as e:
                    seen[name] = e.errno

            async def unmounter() -> None:
                await kern.kpause("start", False, 3, None)
                seen["unmount"] = await errno_of(libc.unmount("/mnt", 0))

            with k.faults.inject("disk.slow", dev=rstore, extra={"ticks": 10}):
                async with trio.open_nursery() as n:
                    n.start_soon(lambda: k.run(reader, "first", 1, name="r1"))
                    n.start_soon(lambda: k.run(reader, "queued", 2, name="r2"))
                    n.start_soon(lambda: k.run(unmounter, name="umount"))

            async def after():
                g = await kt.fss_get_ioctl(fd)
                later = await errno_of(libc.pread(fd, 512, 0))
                # No FSSIOCCLR: B5's delete ends in NetBSD 8's panic (test_B5).
                return g.fsg_mount, later

            seen["after"] = await k.run(after)
            seen["dmesg"] = k.dmesg()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["unmount"] == 0
    assert "fss0: snapshot invalid: forced by unmount" in seen["dmesg"]
    assert seen["first"] == b"T" * 4096  # served before the unmount
    assert seen["queued"] == ENXIO  # dequeued after it
    assert seen["after"] == (b"/mnt", ENXIO)
