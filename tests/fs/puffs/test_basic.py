"""NetBSD tests/fs/puffs/t_basic.c, the cases that apply to puffs_vfsops.c 1.38.

The request counts are the rump tests' (``pta_vn_toserv_ops``), read here
from the server's channel.  root_reg, root_lnk, root_fifo and root_chrdev
do not apply: in 1.38 the root is always a directory.  ``signals`` keeps
1.38's rule: any pending signal fails a request with EINTR (the modern
kernel lets SIGUSR1 through).
"""

from __future__ import annotations

from fs.puffs.puffs_msgif_h import PUFFS_VFS_UNMOUNT, PUFFS_VN_INACTIVE, PUFFS_VN_RECLAIM
from kern.cpu import curproc
from kern.errno import EINTR
from kern.kern_sig import SIGTERM, SIGUSR1, psignal
from tools.lib.libpuffs import PUFFS_STATE_UNMOUNTED
from tools.lib.libpuffs.server import PUFFS_STATE_RUNNING

from . import h_puffs as h

MAGICSTR = b"nakit ja muusiperunat maustevoilla\0"


def vn(server, op):
    return server.channel.toserv_vn_ops[op]


def test_mount():
    """FSTEST_CONSTRUCTOR then FSTEST_DESTRUCTOR: both succeed."""
    with h.Booted(seed=1) as k:
        s = h.start_server(k)
        assert s.state == PUFFS_STATE_RUNNING
        assert h.mounted(k, "/mnt") is not None

        async def destructor():
            return await h.unmount("/mnt")

        assert k.run(destructor) == 0
        assert h.mounted(k, "/mnt") is None
        assert s.channel.toserv_vfs_ops[PUFFS_VFS_UNMOUNT] == 1
        assert s.state == PUFFS_STATE_UNMOUNTED
        assert s.loop_error == 0 and not s.errors and not s.thread_errors


def test_inactive_basic():
    with h.Booted(seed=2) as k:
        s = h.start_server(k)

        async def body():
            seen = []
            assert await h.chdir("/mnt") == 0              # FSTEST_ENTER
            error, fd = await h.create("file")
            assert error == 0
            seen.append(vn(s, PUFFS_VN_INACTIVE))           # none yet
            assert await h.close(fd) == 0
            seen.append(vn(s, PUFFS_VN_INACTIVE))           # one for file
            assert await h.chdir("/") == 0                  # FSTEST_EXIT
            seen.append(vn(s, PUFFS_VN_INACTIVE))           # another for the mountpoint
            return seen

        assert k.run(body) == [0, 1, 2]


def test_inactive_reclaim():
    with h.Booted(seed=3) as k:
        s = h.start_server(k)

        async def body():
            seen = []
            assert await h.chdir("/mnt") == 0
            error, fd = await h.create("file")
            assert error == 0
            seen.append(vn(s, PUFFS_VN_INACTIVE))
            assert await h.unlink("file") == 0
            seen.append((vn(s, PUFFS_VN_INACTIVE), vn(s, PUFFS_VN_RECLAIM)))
            assert await h.close(fd) == 0
            await h.syncbar("/mnt")
            seen.append((vn(s, PUFFS_VN_INACTIVE), vn(s, PUFFS_VN_RECLAIM)))
            assert await h.chdir("/") == 0
            return seen

        assert k.run(body) == [0, (0, 0), (1, 1)]


def test_reclaim_hardlink():
    with h.Booted(seed=4) as k:
        s = h.start_server(k)

        async def body():
            assert await h.chdir("/mnt") == 0
            error, fd = await h.create("file")
            assert error == 0
            assert await h.link("file", "anotherfile") == 0
            assert await h.close(fd) == 0
            assert vn(s, PUFFS_VN_RECLAIM) == 0

            # unlink first hardlink
            assert await h.unlink("file") == 0
            assert vn(s, PUFFS_VN_RECLAIM) == 0
            ianow = vn(s, PUFFS_VN_INACTIVE)

            # unlink second hardlink
            assert await h.unlink("anotherfile") == 0
            await h.syncbar("/mnt")
            assert ianow < vn(s, PUFFS_VN_INACTIVE)
            assert vn(s, PUFFS_VN_RECLAIM) == 1
            assert await h.chdir("/") == 0

        k.run(body)
        assert not s.errors


def test_unlink_accessible():
    """-o nopagecache; the data of an unlinked open file stays readable."""
    from fs.puffs.puffs_msgif_h import PUFFS_KFLAG_NOCACHE

    with h.Booted(seed=5) as k:
        s = h.start_server(k, flags=PUFFS_KFLAG_NOCACHE)

        async def body():
            assert await h.chdir("/mnt") == 0
            error, fd = await h.create("file")
            assert error == 0
            assert await h.write(fd, MAGICSTR) == (0, len(MAGICSTR))
            assert await h.unlink("file") == 0
            assert vn(s, PUFFS_VN_RECLAIM) == 0
            ianow = vn(s, PUFFS_VN_INACTIVE)
            error, buf = await h.pread(fd, 512, 0)
            assert error == 0
            assert await h.close(fd) == 0
            await h.syncbar("/mnt")
            assert vn(s, PUFFS_VN_RECLAIM) == 1
            assert vn(s, PUFFS_VN_INACTIVE) == ianow + 1
            assert await h.chdir("/") == 0
            return buf

        assert k.run(body) == MAGICSTR


def test_signals_1_38_rule():
    """stat; SIGUSR1 pending: EINTR (1.38 fails on any signal); SIGTERM: EINTR."""
    with h.Booted(seed=6) as k:
        s = h.start_server(k)

        async def body():
            out = []
            assert await h.chdir("/mnt") == 0
            out.append((await h.stat_("."))[0])
            psignal(curproc(), SIGUSR1)     # pending until this lwp goes back to userland
            out.append((await h.stat_("."))[0])
            psignal(curproc(), SIGTERM)
            out.append((await h.stat_("."))[0])
            out.append((await h.stat_("."))[0])   # the signals were taken meanwhile
            assert await h.chdir("/") == 0
            return out

        assert k.run(body) == [0, EINTR, EINTR, 0]
        assert not s.errors
