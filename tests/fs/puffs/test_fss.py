"""fss(4) on a puffs mount: refused as fss.c 1.104 refuses it, leaving nothing behind."""

from __future__ import annotations

from dev.fss.fssvar import FSSIOCCLR, FSSIOCGET, FSSIOCSET, fss_get, fss_set
from kern.errno import ENOENT, ENXIO, EOPNOTSUPP
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR
from tools.lib import libc

from . import h_puffs as h


async def fss_cycle(bstore: str) -> dict:
    """Open /dev/rfss0, try to snapshot /mnt onto ``bstore``, look, close."""
    out = {}
    fd = await libc.open("/dev/rfss0", O_RDWR)
    mnt = libc.ustr("/mnt")
    bs = libc.ustr(bstore)
    for attempt in ("set", "set again"):
        try:
            await libc.ioctl(fd, FSSIOCSET, fss_set(fss_mount=mnt, fss_bstore=bs, fss_csize=0,
                                                    fss_flags=0))
            out[attempt] = 0
        except SyscallError as e:
            out[attempt] = e.errno
    for name, cmd, arg in (("get", FSSIOCGET, fss_get()), ("clr", FSSIOCCLR, None)):
        try:
            await libc.ioctl(fd, cmd, arg)
            out[name] = 0
        except SyscallError as e:
            out[name] = e.errno
    libc.ufree(mnt)
    libc.ufree(bs)
    await libc.close(fd)
    return out


def test_fss_on_puffs_is_enoent_and_leaves_nothing():
    """No block device under puffs: spec_node_lookup_by_mount gives ENOENT.

    The mount point and the store (a regular file on the root file system,
    so the snapshot is not persistent) both exist, so neither namei can be
    the ENOENT: it comes from the block-device lookup."""
    with h.Booted(seed=51) as k:
        h.start_server(k)
        mp = h.mounted(k, "/mnt")

        async def mkbs():
            error, fd = await h.create("/tmp/bs")
            assert error == 0
            await h.close(fd)
            return [(await h.stat_(p))[0] for p in ("/mnt", "/tmp/bs")]

        assert k.run(mkbs) == [0, 0]

        first = k.run(fss_cycle, "/tmp/bs")          # warms up fss and the park pool
        before = h.kmem_inuse(k)
        second = k.run(fss_cycle, "/tmp/bs")
        after = h.kmem_inuse(k)

        expect = {"set": ENOENT, "set again": ENOENT, "get": ENXIO, "clr": ENXIO}
        assert first == expect and second == expect
        assert after == before
        assert mp.mnt_transinfo.fmi_cow_handler == []
        assert k.run(lambda: h.unmount("/mnt")) == 0


def test_fss_persistent_on_puffs_is_eopnotsupp():
    """A backing store inside the puffs mount asks for VFS_SNAPSHOT: EOPNOTSUPP."""
    with h.Booted(seed=52) as k:
        h.start_server(k)
        mp = h.mounted(k, "/mnt")

        async def mkbs():
            error, fd = await h.create("/mnt/bs")
            assert error == 0
            await h.close(fd)

        k.run(mkbs)
        out = k.run(fss_cycle, "/mnt/bs")
        assert out == {"set": EOPNOTSUPP, "set again": EOPNOTSUPP, "get": ENXIO, "clr": ENXIO}
        assert mp.mnt_transinfo.fmi_cow_handler == []
        assert k.run(lambda: h.unmount("/mnt")) == 0
