"""The error branches of puffs_vfsops.c 1.38: servers that fail or lie, callers
that give too little, and the races the port keeps.

Each scenario asserts what 1.38 answers there.  Some callers are kernel
code, as in test_vfsops.py: VFS_MOUNT with a bad argument block (mount(2)
copies a whole block in, so only a kernel caller can hand puffs_mount less,
or a block it cannot write back), VFS_ROOT with a lock type, VFS_FHTOVP and
VFS_VPTOFH as NFS's server would call them.  What stays out of reach is
listed in docs/STATUS.md ("Branch coverage of the two seeds").
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

import kern
from fs.puffs.puffs_msgif_h import (
    PUFFS_FHFLAG_DYNAMIC,
    PUFFS_REQ_MAXSIZE,
    PUFFS_REQSTRUCT_MAX,
    PUFFS_VFS_STATVFS,
    PUFFS_VFS_VPTOFH,
    PUFFSOP_OPCLASS,
    PUFFSOP_VFS,
    puffs_kargs,
    puffs_req,
)
from kern.cpu import curmachine
from kern.errno import E2BIG, EEXIST, EFAULT, EINTR, EINVAL, EIO, ENXIO
from kern.exceptions import SyscallError
from kern.kern_module import MODULE_CLASS_ANY, module_load, module_stat
from tools.lib import libc
from tools.lib.libc import mount
from tools.lib.libpuffs import NodeInfo, PuffsError, PuffsServer
from tools.lib.libpuffs.server import PUFFS_STATE_RUNNING
from tools.puffs_servers.memfs import MemFS
from vfs.mount import (
    MNT_GETARGS,
    MOUNT_PUFFS,
    VFS_FHTOVP,
    VFS_MOUNT,
    VFS_ROOT,
    VFS_STATVFS,
    VFS_VPTOFH,
    statvfs,
)
from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
from vfs.vnode import LK_EXCLUSIVE, VDIR, vrele
from vfs.vnode_if import VOP_ISLOCKED, VOP_UNLOCK

from . import h_puffs as h

FHANDLE_SIZE_MAX = 1024


# ------------------------------------------------------------------ puffs_mount

def test_getargs_with_a_short_buffer_is_einval():
    """MNT_GETARGS copies a whole struct puffs_kargs out; a caller's buffer
    shorter than that, or none, is refused (D1: NetBSD 5's rule)."""
    with h.Booted(seed=71) as k:
        h.start_server(k)

        async def body():
            out = []
            for data in (bytes(16), None):
                try:
                    await mount(MOUNT_PUFFS, "/mnt", MNT_GETARGS, data)
                    out.append(0)
                except SyscallError as e:
                    out.append(e.errno)
            got = puffs_kargs()
            await mount(MOUNT_PUFFS, "/mnt", MNT_GETARGS, got)
            return out, got.pa_name

        assert k.run(body) == ([EINVAL, EINVAL], b"puffs:memfs")


def test_mount_grants_a_request_size_within_the_limits_as_asked():
    """pa_maxreqlen between PUFFS_REQSTRUCT_MAX and PUFFS_REQ_MAXSIZE is kept."""
    asked = PUFFS_REQSTRUCT_MAX + 4096
    assert asked < PUFFS_REQ_MAXSIZE
    with h.Booted(seed=72) as k:
        s = h.start_server(k, maxreqlen=asked)
        mp = h.mounted(k, "/mnt")
        assert s.maxreqlen == asked
        assert mp.mnt_data.pmp_req_maxsize == asked
        assert k.run(h.syncbar) is None  # requests flow
        assert k.run(h.unmount, "/mnt") == 0


def test_vfs_mount_from_the_kernel_with_a_bad_argument_block():
    """puffs_mount's checks of its argument block, reached by a kernel caller
    (mount(2) always hands it a whole, writable block): no block is EINVAL
    ("We need the file system name"), a short one is the EFAULT of 1.38's
    copyin, one it cannot write back is the EFAULT of its copyout; nothing is
    left behind (the argument copy is freed, the mount has no puffs data)."""
    from vfs.mount import vfs_delref, vfs_getopsbyname, vfs_mountalloc

    with h.Booted(seed=73) as k:
        async def body():
            s = PuffsServer(MemFS(), "kern")
            await s.init()  # an instance of /dev/puffs for this process (loads puffs)
            vfsp = await vfs_getopsbyname("puffs")
            _, root = await namei_simple_kernel("/mnt", NSM_FOLLOW_NOEMULROOT)
            before = h.kmem_inuse(curmachine())
            out = []
            for data in (None, bytearray(bytes(s.kargs)[:40]), bytes(s.kargs)):
                mp = vfs_mountalloc(vfsp, root)
                error, _ = await VFS_MOUNT(mp, "/mnt", data,
                                           0 if data is None else len(data))
                out.append((error, mp.mnt_data))
            after = h.kmem_inuse(curmachine())
            vfs_delref(vfsp)
            await vrele(root)
            await s.exit()
            return out, before, after

        out, before, after = k.run(body)
        assert out == [(EINVAL, None), (EFAULT, None), (EFAULT, None)]
        assert after == before


# ------------------------------------------------------------------ root, statvfs

@pytest.mark.parametrize("seed", [74, 75, 76])
def test_root_with_a_lock_type_before_start_and_racing(seed):
    """VFS_ROOT(mp, LK_EXCLUSIVE) before the server started: the root vnode is
    made and comes back locked; a second lwp gets the one the first stored,
    locked too (after the first unlocks it).  Whether the second is inside
    puffs_getvnode at the same time as the first ("by mysterious force
    someone else created a root vnode") depends on the schedule: the seeds
    give both orders (with 74 the second finds the root made, with 75 and
    76 it loses the race and takes the stored one)."""
    with h.Booted(seed=seed) as k:
        async def body():
            s = PuffsServer(MemFS(), "early")
            await s.init()
            await s.mount("/mnt")
            mp = h.mounted(curmachine(), "/mnt")
            results = []

            async def getroot():
                error, vp = await VFS_ROOT(mp, LK_EXCLUSIVE)
                results.append((error, vp, vp.v_type, VOP_ISLOCKED(vp)))
                await kern.kpause("hold", False, 2, None)
                VOP_UNLOCK(vp)
                await vrele(vp)

            from tools.lib.libpuffs._sys import lwp_create

            lwp_create(getroot, name="root1")
            lwp_create(getroot, name="root2")
            await libc.nanosleep(0.1)
            await s.exit()  # never started: the close unmounts it
            return results, h.mounted(curmachine(), "/mnt")

        results, left = k.run(body)
        assert [e for e, _, _, _ in results] == [0, 0]
        assert results[0][1] is results[1][1]
        assert [t for _, _, t, _ in results] == [VDIR, VDIR]
        assert all(locked for _, _, _, locked in results)
        assert left is None


class FailingStatvfs(MemFS):
    """memfs whose statvfs fails once ``failing`` is set (puffs_start asks it
    first, for the statvfs image of PUFFSSTARTOP)."""

    failing = False

    async def fs_statvfs(self, pid):
        if self.failing:
            raise PuffsError(EIO)
        return await super().fs_statvfs(pid)


def test_statvfs_error_from_the_server():
    """The server's error is returned; puffs_statvfs still fills in what the
    mount knows ("a sensible result even in the event of userspace error"),
    and statvfs(2) reports the error."""
    with h.Booted(seed=75) as k:
        ops = FailingStatvfs()
        s = h.start_server(k, ops, name="failing")
        mp = h.mounted(k, "/mnt")
        ops.failing = True

        async def body():
            sb = statvfs()
            error = await VFS_STATVFS(mp, sb)
            return error, sb.f_mntonname, sb.f_fstypename, (await h.statvfs1("/mnt"))[0]

        assert k.run(body) == (EIO, b"/mnt", b"puffs", EIO)
        assert s.channel.toserv_vfs_ops[PUFFS_VFS_STATVFS] >= 2
        assert k.run(h.unmount, "/mnt") == 0


# ------------------------------------------------------------------ file handles

class Forgetful(MemFS):
    """memfs that lets the kernel recycle every vnode at its last release
    (its inactive answers 0), keeping the nodes: a file handle then names a
    node that has no vnode."""

    bad_vtype = False

    async def node_inactive(self, node, pid):
        return 0

    async def fs_fhtonode(self, fid):
        info = await super().fs_fhtonode(fid)
        if self.bad_vtype:
            return NodeInfo(info.cookie, 8, info.size, info.rdev)  # VBAD
        return info


def test_fhtovp_of_a_node_without_a_vnode_makes_one():
    """puffs_fhtovp: the server names the node; no vnode is cached for its
    cookie, so puffs_getvnode makes one, locked as lktype asks.  A server
    naming a vnode type the kernel cannot make (S1) gets EINVAL back."""
    with h.Booted(seed=76) as k:
        ops = Forgetful()
        h.start_server(k, ops, fhsize=24)
        mp = h.mounted(k, "/mnt")

        async def body():
            error, fd = await h.create("/mnt/f")
            await h.write(fd, b"data")
            await h.close(fd)
            _, vp = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
            error, size = await VFS_VPTOFH(vp, None, 0)
            fid = bytearray(size)
            assert await VFS_VPTOFH(vp, fid, size) == (0, size)
            old = vp
            await vrele(vp)  # the last reference: recycled
            gone = old.v_data is None
            out = {}
            for lktype in (0, LK_EXCLUSIVE):
                error, vp = await VFS_FHTOVP(mp, fid, lktype)
                out[lktype] = (error, vp is not old, VOP_ISLOCKED(vp) != 0,
                               vp.v_size if vp is not None else None)
                if lktype:
                    VOP_UNLOCK(vp)
                await vrele(vp)
            ops.bad_vtype = True
            out["bad"] = await VFS_FHTOVP(mp, fid, 0)
            return gone, out

        gone, out = k.run(body)
        assert gone
        assert out[0] == (0, True, False, 4)
        assert out[LK_EXCLUSIVE] == (0, True, True, 4)
        assert out["bad"] == (EINVAL, None)
        assert k.run(h.unmount, "/mnt") == 0


class LyingServer(PuffsServer):
    """A server whose VPTOFH replies claim a handle size of its choosing."""

    claim: int | None = None

    async def _vfsop(self, optype, frame, a):
        n = await super()._vfsop(optype, frame, a)
        if optype == PUFFS_VFS_VPTOFH and self.claim is not None:
            a.pvfsr_dsize = self.claim
        return n


class FailingNodetofh(MemFS):
    failing = False

    async def fs_nodetofh(self, cookie, room):
        if self.failing:
            raise PuffsError(EIO)
        return await super().fs_nodetofh(cookie, room)


def test_vptofh_against_a_server_that_fails_or_lies_and_callers_that_give_too_little():
    """puffs_vptofh with dynamic handles (room asked of the server):

    * a caller's size beyond FHANDLE_SIZE_MAX offers the server at most
      that much room (D8); a buffer shorter than the size it claims is
      EINVAL (D8), and a size query (no buffer) with room enough answers
      the handle's size;
    * a server error other than E2BIG comes back as it is;
    * a server claiming a handle longer than FHANDLE_SIZE_MAX is EINVAL
      (1.38: "XXX: wrong direction");
    * a server claiming more than the caller's room is E2BIG with the size
      the caller would need.
    """
    with h.Booted(seed=77) as k:
        ops = FailingNodetofh()
        s = LyingServer(ops, "liar", fhsize=64, fhflags=PUFFS_FHFLAG_DYNAMIC)
        h._start(k, s, "/mnt", "liar")

        async def body():
            error, fd = await h.create("/mnt/f")
            await h.close(fd)
            _, vp = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
            out = {}
            out["huge, short buffer"] = await VFS_VPTOFH(vp, bytearray(8), 1 << 40)
            out["huge, no buffer"] = await VFS_VPTOFH(vp, None, 1 << 40)
            ops.failing = True
            out["server error"] = await VFS_VPTOFH(vp, bytearray(64), 64)
            ops.failing = False
            s.claim = FHANDLE_SIZE_MAX
            out["too long"] = await VFS_VPTOFH(vp, bytearray(64), 64)
            s.claim = 40
            out["more than room"] = await VFS_VPTOFH(vp, bytearray(32), 32)
            s.claim = None
            out["right"] = await VFS_VPTOFH(vp, bytearray(32), 32)
            await vrele(vp)
            return out

        out = k.run(body)
        assert out == {"huge, short buffer": (EINVAL, 28), "huge, no buffer": (0, 28),
                       "server error": (EIO, 64), "too long": (EINVAL, 64),
                       "more than room": (E2BIG, 44), "right": (0, 28)}
        assert k.run(h.unmount, "/mnt") == 0


# ------------------------------------------------------------------ unmount, suspension

def test_unmount_interrupted_while_suspending_sends_the_server_nothing():
    """dounmount suspends first (D6).  puffs_suspendctl's move to SUSPENDING
    waits for the file system's transactions to drain; a signal ends the
    wait (EINTR), the state goes back to NORMAL, and puffs_suspendctl
    returns the error without telling the server anything: unmount(2)
    fails with EINTR and the file system stays mounted and usable."""
    from kern.kern_sig import SIGUSR1
    from vfs.vfs_trans import FSTRANS_NORMAL, fstrans_done, fstrans_getstate, fstrans_start

    seen: dict = {}

    async def main():
        async with h.boot(seed=78) as k:
            ops = MemFS()
            s = PuffsServer(ops, "memfs")
            s.proc = k.proc_create("memfs", k.initproc)

            async def serve():
                from tools.lib.libpuffs import daemon

                await daemon(s.main, "/mnt", name="memfs")

            await k.run(serve, proc=s.proc)
            while s.state != PUFFS_STATE_RUNNING:  # the daemon mounts and starts
                await k.run(kern.kpause, "start", False, 1, None)
            mp = h.mounted(k, "/mnt")
            um = k.proc_create("umount", k.initproc)

            async def holder():
                await fstrans_start(mp)  # an operation in progress
                await kern.kpause("busy", False, 50, None)
                fstrans_done(mp)

            async def unmounter():
                await libc.signal(SIGUSR1, 2, flags=0)  # a handler; no restart
                await kern.kpause("later", False, 1, None)
                seen["pid"] = await libc.getpid()
                seen["unmount"] = await h.unmount("/mnt")
                seen["state"] = fstrans_getstate(mp)

            async def killer():
                await kern.kpause("later", False, 10, None)
                await libc.kill(seen["pid"], SIGUSR1)

            async with trio.open_nursery() as n:
                n.start_soon(lambda: k.run(holder, name="holder"))
                n.start_soon(lambda: k.run(unmounter, name="umount", proc=um))
                n.start_soon(lambda: k.run(killer, name="killer"))
            seen["suspends"] = list(ops.suspends)
            seen["still"] = h.mounted(k, "/mnt") is not None
            seen["stat"] = (await k.run(h.stat_, "/mnt"))[0]
            seen["later"] = await k.run(h.unmount, "/mnt")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["unmount"] == EINTR
    assert seen["state"] == FSTRANS_NORMAL
    assert seen["suspends"] == []  # no START, no ERROR: the server never knew
    assert seen["still"] and seen["stat"] == 0
    assert seen["later"] == 0


class Sitter(PuffsServer):
    """A server that takes statvfs requests and never answers them."""

    held: list = []

    async def dispatch(self, frame):
        hdr = puffs_req.from_buffer(frame)
        if PUFFSOP_OPCLASS(hdr.preq_opclass) == PUFFSOP_VFS and \
                hdr.preq_optype == PUFFS_VFS_STATVFS and self.state == PUFFS_STATE_RUNNING:
            self.held.append(hdr.preq_id)
            return None  # no reply, ever
        return await super().dispatch(frame)


@pytest.mark.xfail(strict=True, reason="under kemu's scheduler (issue 9) this schedule "
                   "never has the unmount sleep on puffsink: the assertion depends on an "
                   "interleaving the old trio batches gave; to be rewritten by its author")
def test_unmount_sinks_the_callers_still_waiting_for_the_server():
    """A caller waits for a reply the server will never send when the server
    agrees to unmount: puffs_unmount wakes it (puffs_userdead: ENXIO) and
    waits, "sinking the waiters", until it has left (pmp_req_waiters back
    to 0) before freeing the mount's state."""
    seen: dict = {}

    async def main():
        async with h.boot(seed=79) as k:
            s = Sitter(MemFS(), "sitter")
            s.held = []
            s.proc = k.proc_create("sitter", k.initproc)

            async def serve():
                from tools.lib.libpuffs import daemon

                await daemon(s.main, "/mnt", name="sitter")

            await k.run(serve, proc=s.proc)
            while s.state != PUFFS_STATE_RUNNING:
                await k.run(kern.kpause, "start", False, 1, None)

            async def waiter():
                seen["statvfs"] = (await h.statvfs1("/mnt"))[0]
                seen["statvfs at"] = k.now()

            async def unmounter():
                await kern.kpause("later", False, 5, None)
                seen["unmount"] = await h.unmount("/mnt")
                seen["unmount at"] = k.now()

            async with trio.open_nursery() as n:
                n.start_soon(lambda: k.run(waiter, name="waiter"))
                n.start_soon(lambda: k.run(unmounter, name="umount"))
            seen["held"] = list(s.held)
            seen["mounted"] = h.mounted(k, "/mnt") is not None
            seen["trace"] = [e for e in k.trace if "umount: sleep" in e]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(seen["held"]) == 1  # the request the server sat on
    assert seen["statvfs"] == ENXIO and seen["unmount"] == 0
    assert seen["statvfs at"] <= seen["unmount at"]  # the caller left first
    assert any("sleep puffsink" in e for e in seen["trace"])  # the unmount waited for it
    assert not seen["mounted"]


# ------------------------------------------------------------------ the module (D9)

def test_module_init_failure_detaches_the_file_system_again():
    """puffs_modcmd(MODULE_CMD_INIT) attaches the vfsops, then the /dev/puffs
    cdevsw; when the second fails the first is undone: the load fails with
    the error, no "puffs" file system is left registered, and a later load
    works."""
    from vfs.mount import vfs_getopsbyname_nolock

    with h.Booted(seed=80) as k:
        async def body():
            m = curmachine()
            with m.faults.inject("devsw_attach", error=EEXIST, fail_nth=1) as f:
                failed = await module_load("puffs", 0, None, MODULE_CLASS_ANY)
            out = (f.nfaults, failed, "puffs" in {x.name for x in module_stat()},
                   vfs_getopsbyname_nolock("puffs") is not None)
            again = await module_load("puffs", 0, None, MODULE_CLASS_ANY)
            return out, again

        (nfaults, failed, loaded, registered), again = k.run(body)
        assert nfaults == 1 and failed == EEXIST
        assert not loaded and not registered
        assert again == 0
        h.start_server(k)  # and it serves
        assert k.run(h.syncbar) is None
        assert k.run(h.unmount, "/mnt") == 0


# Under kemu's scheduler (issue 9) seeds 90 and 92 meet, every time, a race
# the old trio batches never showed: while vrelel has the root vnode BLOCKED
# in VOP_INACTIVE, the racing lookup holds a second reference, and
# VSTATE_CHANGE(BLOCKED, LOADED) panics "BLOCKED to LOADED with usecount 2"
# (the report's --kemu-replay line reruns it).  Kept failing (strict) until
# the vnode layer is looked at.
_ROOT_RACE = pytest.mark.xfail(strict=True,
                               reason="vnode referenced while BLOCKED in vrelel's "
                                      "VOP_INACTIVE (found by kemu's scheduler)")


@pytest.mark.parametrize("seed", [pytest.param(90, marks=_ROOT_RACE),
                                  pytest.param(92, marks=_ROOT_RACE), 94])
def test_root_racing_the_recycling_of_the_root_vnode(seed):
    """A server that lets every vnode go at its last release (inactive
    answers 0) makes the root vnode be reclaimed after each use.  VFS_ROOT
    racing that reclaim finds pmp_root still set but vget refuses the dying
    vnode; puffs_root then makes a new root vnode ("grabnew").  Whatever the
    interleaving (the seeds give several, vget refusing in some), every call
    gets a live root directory and the file system unmounts cleanly."""
    seen: dict = {}

    async def main():
        async with h.boot(seed=seed) as k:
            s = PuffsServer(Forgetful(), "forgetful")
            s.proc = k.proc_create("forgetful", k.initproc)

            async def serve():
                from tools.lib.libpuffs import daemon

                await daemon(s.main, "/mnt", name="forgetful")

            await k.run(serve, proc=s.proc)
            while s.state != PUFFS_STATE_RUNNING:
                await k.run(kern.kpause, "start", False, 1, None)
            mp = h.mounted(k, "/mnt")
            seen["stat"], seen["root"] = [], []

            async def stater():
                for _ in range(20):
                    seen["stat"].append((await h.stat_("/mnt"))[0])

            async def rooter():
                for _ in range(20):
                    error, vp = await VFS_ROOT(mp, 0)
                    seen["root"].append((error, vp.v_type, vp.v_data is not None))
                    await vrele(vp)

            async with trio.open_nursery() as n:
                n.start_soon(lambda: k.run(stater, name="stater"))
                n.start_soon(lambda: k.run(rooter, name="rooter"))
            seen["unmount"] = await k.run(h.unmount, "/mnt")

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["stat"] == [0] * 20
    assert seen["root"] == [(0, VDIR, True)] * 20
    assert seen["unmount"] == 0


# ------------------------------------------------------------------ pageflush

class _Pages:
    """A stand-in page object with dirty pages: kemu's puffs keeps no page
    cache (V1), so no vnode is dirty by itself (as in test_pageflush.py)."""

    uo_ndirty = 1


class FsyncRecorder(MemFS):
    def __init__(self) -> None:
        super().__init__()
        self.fsyncs: list[int] = []

    async def node_fsync(self, node, cred, flags, offlo, offhi, pid) -> None:
        self.fsyncs.append(node)


def test_pageflush_passes_over_a_dirty_vnode_someone_holds_locked():
    """pageflush asks vget for the lock without waiting (LK_NOWAIT): a dirty
    vnode another lwp holds locked is skipped (vget: EBUSY) and the walk goes
    on to the next one; the sync itself succeeds."""
    from kern.kern_auth import FSCRED
    from vfs.mount import MNT_WAIT, VFS_SYNC
    from vfs.vnode import vn_lock

    with h.Booted(seed=81) as k:
        ops = FsyncRecorder()
        h.start_server(k, ops)
        mp = h.mounted(k, "/mnt")

        async def body():
            fds, vps = [], []
            for n in "ab":
                error, fd = await h.create(f"/mnt/{n}")
                fds.append(fd)
                _, vp = await namei_simple_kernel(f"/mnt/{n}", NSM_FOLLOW_NOEMULROOT)
                await vrele(vp)  # the descriptor keeps it
                vp.v_uobj = _Pages()
                vps.append(vp)
            async def holder():  # someone is busy with a
                await vn_lock(vps[0], LK_EXCLUSIVE)
                await kern.kpause("busy", False, 10, None)
                VOP_UNLOCK(vps[0])

            from tools.lib.libpuffs._sys import lwp_create

            lwp_create(holder, name="holder")
            await kern.kpause("later", False, 1, None)
            locked = VOP_ISLOCKED(vps[0])
            error = await VFS_SYNC(mp, MNT_WAIT, FSCRED)
            await kern.kpause("after", False, 10, None)
            assert locked
            for vp in vps:
                vp.v_uobj = None
            for fd in fds:
                await h.close(fd)
            return error, [vp.v_data.pn_cookie for vp in vps]

        error, (a, b) = k.run(body)
        assert error == 0
        assert ops.fsyncs == [b]  # a was passed over
        assert k.run(h.unmount, "/mnt") == 0
