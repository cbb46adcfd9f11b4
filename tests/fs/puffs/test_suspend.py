"""Suspension of a puffs file system: puffs_suspendctl and the PUFFS_SUSPEND_* notices."""

from __future__ import annotations

from fs.puffs.puffs_msgif_h import (
    PUFFS_SUSPEND_ERROR,
    PUFFS_SUSPEND_RESUME,
    PUFFS_SUSPEND_START,
    PUFFS_SUSPEND_SUSPENDED,
    PUFFS_VFS_SUSPEND,
)
from kern.errno import EBUSY, EINVAL, EIO
from tools.lib.libpuffs import PuffsError
from tools.puffs_servers.memfs import MemFS
from vfs.mount import VFS_SUSPENDCTL
from vfs.vfs_trans import FSTRANS_NORMAL, fstrans_getstate, vfs_resume, vfs_suspend
from vfs.vnode import VREG

from . import h_puffs as h


class Holder:
    """A kernel thread that suspends a mount and resumes it when told to
    (vfs_suspend's lock belongs to the thread that suspended)."""

    def __init__(self, k, mp) -> None:
        from kern import kcondvar_t, kmutex_t
        from kern.kern_condvar import cv_init
        from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, mutex_init

        self.k = k
        self.mp = mp
        self.result = None
        self.go = False
        self.lock = kmutex_t()
        self.cv = kcondvar_t()
        mutex_init(self.lock, MUTEX_DEFAULT, IPL_NONE)
        cv_init(self.cv, "holder")

        async def start():
            from kern.kern_lwp import PRI_NONE, kthread_create

            kthread_create(PRI_NONE, 0, None, self.body, None, "holder")

        k.run(start)

    async def body(self, _) -> None:
        from kern.kern_condvar import cv_wait
        from kern.kern_mutex import mutex_enter, mutex_exit

        self.result = await vfs_suspend(self.mp, 0)
        if self.result:
            return
        await mutex_enter(self.lock)
        while not self.go:
            await cv_wait(self.cv, self.lock)
        mutex_exit(self.lock)
        await vfs_resume(self.mp)

    def resume(self) -> None:
        async def kick():
            from kern.kern_condvar import cv_broadcast

            self.go = True
            cv_broadcast(self.cv)

        self.k.run(kick)


START, SUSPENDED, RESUME, ERROR = (PUFFS_SUSPEND_START, PUFFS_SUSPEND_SUSPENDED,
                                   PUFFS_SUSPEND_RESUME, PUFFS_SUSPEND_ERROR)


def test_vfs_suspend_sends_start_suspended_then_resume():
    with h.Booted(seed=41) as k:
        ops = MemFS()
        s = h.start_server(k, ops)
        mp = h.mounted(k, "/mnt")

        hold = Holder(k, mp)
        assert hold.result == 0
        assert ops.suspends == [START, SUSPENDED]
        hold.resume()
        assert fstrans_getstate(mp) == FSTRANS_NORMAL
        assert ops.suspends == [START, SUSPENDED, RESUME]
        assert s.channel.toserv_vfs_ops[PUFFS_VFS_SUSPEND] == 3


def test_server_asks_for_suspension_and_a_second_one_is_ebusy():
    """PUFFSSUSPENDOP starts the suspend kthread; while it runs another is EBUSY."""
    with h.Booted(seed=42) as k:
        ops = MemFS()
        s = h.start_server(k, ops)
        mp = h.mounted(k, "/mnt")

        hold = Holder(k, mp)                  # the kthread will wait for this one
        assert hold.result == 0
        assert ops.suspends == [START, SUSPENDED]

        async def twice():
            out = []
            for _ in range(2):
                try:
                    await s.suspend()
                    out.append(0)
                except PuffsError as e:
                    out.append(e.errno)
            return out

        assert k.run(twice, proc=s.proc) == [0, EBUSY]

        hold.resume()
        # ours resumed, then the kthread's whole cycle, in order
        assert ops.suspends == [START, SUSPENDED, RESUME, START, SUSPENDED, RESUME]
        assert mp.mnt_data.pmp_suspend == 0

        async def again():
            await s.suspend()

        k.run(again, proc=s.proc)
        assert ops.suspends[-3:] == [START, SUSPENDED, RESUME]


class FailingFsync(MemFS):
    async def node_setattr(self, node, attr, cred, pid):
        if cred.is_kernel:
            raise PuffsError(EIO)
        return await super().node_setattr(node, attr, cred, pid)


class _Dirty:
    """A page cache with dirty pages (kemu's puffs has none of its own, V1)."""

    uo_ndirty = 1


def test_failed_flush_sends_error_and_no_resume():
    """pageflush fails (the metacache push of a dirty node fails): START, ERROR."""
    with h.Booted(seed=43) as k:
        ops = FailingFsync()
        h.start_server(k, ops)
        mp = h.mounted(k, "/mnt")

        async def prepare():
            error, fd = await h.create("/mnt/f")
            assert error == 0
            assert await h.link("/mnt/f", "/mnt/g") == 0   # metacache: ctime
            return fd

        fd = k.run(prepare)
        vp = next(v for v in mp.mnt_vnodelist if v.v_type == VREG and v.v_data is not None)
        vp.v_uobj = _Dirty()

        hold = Holder(k, mp)
        assert (hold.result, fstrans_getstate(mp)) == (EIO, FSTRANS_NORMAL)
        assert ops.suspends == [START, ERROR]
        vp.v_uobj = None

        async def bad_cmd():
            return await VFS_SUSPENDCTL(mp, 0x7)

        assert k.run(bad_cmd) == EINVAL
        k.run(lambda: h.close(fd))


def test_unmount_suspends_and_the_resume_is_dropped():
    """kemu's dounmount (NetBSD 8) suspends first (D6): START, SUSPENDED; the
    RESUME after the unmount meets a dead file system and goes nowhere."""
    with h.Booted(seed=44) as k:
        ops = MemFS()
        h.start_server(k, ops)
        assert k.run(lambda: h.unmount("/mnt")) == 0
        assert ops.suspends == [START, SUSPENDED]
