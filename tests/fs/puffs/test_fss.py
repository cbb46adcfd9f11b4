"""fss(4) on a puffs mount: refused as fss.c 1.104 refuses it, leaving nothing behind."""

from __future__ import annotations

from dev.fss.fssvar import (
    FSS_UNLINK_ON_CREATE,
    FSSIOCCLR,
    FSSIOCGET,
    FSSIOCSET,
    fss_get,
    fss_set,
)
from kern.errno import EACCES, ENOENT, ENXIO, EOPNOTSUPP
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from kern.machine.testing import errno_of
from tools.lib import libc
from tools.lib.libpuffs import PuffsError
from tools.puffs_servers.memfs import MemFS

from . import h_puffs as h


async def fss_cycle(bstore: str, mount: str = "/mnt", flags: int = 0) -> dict:
    """Open /dev/rfss0, try to snapshot ``mount`` onto ``bstore``, look, close."""
    out = {}
    fd = await libc.open("/dev/rfss0", O_RDWR)
    mnt = libc.ustr(mount)
    bs = libc.ustr(bstore)
    for attempt in ("set", "set again"):
        try:
            await libc.ioctl(fd, FSSIOCSET, fss_set(fss_mount=mnt, fss_bstore=bs, fss_csize=0,
                                                    fss_flags=flags))
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


class NoRemoveFS(MemFS):
    """memfs whose server refuses every remove (as a server on a read-only
    export would)."""

    async def node_remove(self, dir, node, cn):
        raise PuffsError(EACCES)


async def _mkbs(path: str) -> None:
    error, fd = await h.create(path)
    assert error == 0
    await h.close(fd)


def test_fss_unlink_on_create_of_a_persistent_store_on_puffs():
    """A store inside the puffs mount is a persistent request; with
    FSS_UNLINK_ON_CREATE fss_create_files unlinks it before asking
    VFS_SNAPSHOT: the file is gone even though the snapshot fails (EOPNOTSUPP).
    A server that refuses the remove makes FSSIOCSET fail with its errno,
    before VFS_SNAPSHOT is asked, and the file stays."""
    for ops, expect, left in ((MemFS(), EOPNOTSUPP, ENOENT), (NoRemoveFS(), EACCES, 0)):
        with h.Booted(seed=53) as k:
            h.start_server(k, ops)
            k.run(_mkbs, "/mnt/bs")

            async def once():
                fd = await libc.open("/dev/rfss0", O_RDWR)
                error = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/mnt/bs", create_store=False,
                                                flags=FSS_UNLINK_ON_CREATE))
                await libc.close(fd)
                return error, (await h.stat_("/mnt/bs"))[0]

            assert k.run(once) == (expect, left)
            assert k.run(lambda: h.unmount("/mnt")) == 0


def test_fss_unlink_on_create_of_a_store_on_puffs_refused_by_the_server(tmp_path):
    """A snapshot of an ext2 file system with its store on puffs: the store
    is opened, then FSS_UNLINK_ON_CREATE's unlink is refused by the server;
    FSSIOCSET fails with the server's errno and closes the store."""
    img = kt.make_ext2_image(str(tmp_path / "o.img"), 4 * kt.MiB)
    with h.Booted(seed=54) as k:
        k.run(libc.mkdir, "/p", 0o755)
        h.start_server(k, NoRemoveFS(), dir="/p")
        assert h.mounted(k, "/p") is not None

        async def body():
            await kt.mount_image(img, "/mnt")
            await _mkbs("/p/bs")
            fd = await libc.open("/dev/rfss0", O_RDWR)
            error = await errno_of(kt.fss_set_ioctl(fd, "/mnt", "/p/bs", create_store=False,
                                            flags=FSS_UNLINK_ON_CREATE))
            get = await errno_of(kt.fss_get_ioctl(fd))
            await libc.close(fd)
            return error, get, (await h.stat_("/p/bs"))[0]

        assert k.run(body) == (EACCES, ENXIO, 0)
        assert k.run(lambda: h.unmount("/p")) == 0  # the store was closed
