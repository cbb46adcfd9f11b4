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
from kern.errno import E2BIG, EEXIST, EFAULT, EINTR, EINVAL, EIO, ENXIO, EPROTO
from kern.exceptions import SyscallError
from kern.kern_module import MODULE_CLASS_ANY, module_load, module_stat
from kern.machine.testing import Gate, sweep
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
from .test_pageflush import Pages, Recorder  # stand-in dirty pages, fsync log

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

def _spawn(fn, name: str):
    """A kernel thread running ``fn()``, to be joined (kthread_join answers 0)."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create

    async def main(_):
        await fn()

    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, main, None, "%s", name)
    assert error == 0
    return l


def _hold_getvnode(who: str, made: list, gate_made: Gate, gate_go: Gate) -> None:
    """Step into this machine's puffs_root after its puffs_getvnode: the lwp
    named ``who`` records the vnode it made, opens ``gate_made`` and waits for
    ``gate_go`` there, between puffs_root's two pmp_lock sections (the window
    in which "by mysterious force someone else created a root vnode")."""
    from kern.kern_module import kmod_namespace

    ns = kmod_namespace("puffs")  # this machine's copy of puffs_vfsops
    real = ns.puffs_getvnode

    async def puffs_getvnode(mp, cookie, type_, vsize, rdev):
        error, vp = await real(mp, cookie, type_, vsize, rdev)
        if kern.curlwp().l_name == who:
            made.append(vp)
            gate_made.open()
            await gate_go.wait()
        return error, vp

    ns.puffs_getvnode = puffs_getvnode


@pytest.mark.parametrize("seed", sweep(3, 74))
def test_root_with_a_lock_type_before_start_and_racing(seed):
    """VFS_ROOT(mp, LK_EXCLUSIVE) before the server started: the root vnode is
    made and comes back locked.  A second lwp that made its own root vnode
    meanwhile ("by mysterious force someone else created a root vnode") gives
    it back (D4: ungetnewvnode) and takes the stored one, locked once the
    first unlocks it; a third, coming later, finds the stored one (vget).
    The lwps are put in that order with gates, whatever the schedule."""
    from kern.kern_lwp import kthread_join
    from vfs.vnode import VS_RECLAIMED

    with h.Booted(seed=seed) as k:
        async def body():
            s = PuffsServer(MemFS(), "early")
            await s.init()
            await s.mount("/mnt")
            mp = h.mounted(curmachine(), "/mnt")
            assert mp.mnt_data.pmp_root is None
            made, results, order = [], {}, []
            r2_made, r1_stored = Gate("r2made"), Gate("r1stored")
            _hold_getvnode("root2", made, r2_made, r1_stored)

            async def getroot(name, before=None, after=None):
                if before is not None:
                    await before.wait()
                error, vp = await VFS_ROOT(mp, LK_EXCLUSIVE)
                results[name] = (error, vp, vp.v_type, VOP_ISLOCKED(vp))
                order.append(name)
                if after is not None:
                    after.open()
                await kern.kpause("hold", False, 2, None)
                VOP_UNLOCK(vp)
                await vrele(vp)

            l2 = _spawn(lambda: getroot("root2"), "root2")
            l1 = _spawn(lambda: getroot("root1", r2_made, r1_stored), "root1")
            l3 = _spawn(lambda: getroot("root3", r1_stored), "root3")
            for lx in (l1, l2, l3):
                assert await kthread_join(lx) == 0
            lost = made[0]
            out = results, order, (lost.v_state, lost.v_usecount, lost.v_data)
            await s.exit()  # never started: the close unmounts it
            return out, h.mounted(curmachine(), "/mnt")

        (results, order, lost), left = k.run(body)
        root = results["root1"][1]
        assert order[0] == "root1"  # it made and stored the root vnode
        assert sorted(results) == ["root1", "root2", "root3"]
        assert all(r[0] == 0 and r[1] is root for r in results.values())
        assert all(r[2:] == (VDIR, LK_EXCLUSIVE) for r in results.values())
        # root2's own vnode, made in the window, was given back
        assert lost == (VS_RECLAIMED, 0, None)
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
    bad_size = False

    async def node_inactive(self, node, pid):
        return 0

    async def fs_fhtonode(self, fid):
        info = await super().fs_fhtonode(fid)
        if self.bad_vtype:
            return NodeInfo(info.cookie, 8, info.size, info.rdev)  # VBAD
        if self.bad_size:
            return NodeInfo(info.cookie, info.vtype, -3, info.rdev)
        return info


def test_fhtovp_of_a_node_without_a_vnode_makes_one():
    """puffs_fhtovp: the server names the node; no vnode is cached for its
    cookie, so puffs_getvnode makes one, locked as lktype asks.  A server
    naming a vnode type the kernel cannot make (S1) or a negative size (S5)
    is told so and the caller gets EPROTO (tests/fs/puffs/test_bad_sizes.py
    has the reports)."""
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
            ops.bad_vtype, ops.bad_size = False, True
            out["badsize"] = await VFS_FHTOVP(mp, fid, 0)
            return gone, out

        gone, out = k.run(body)
        assert gone
        assert out[0] == (0, True, False, 4)
        assert out[LK_EXCLUSIVE] == (0, True, True, 4)
        assert out["bad"] == (EPROTO, None)
        assert out["badsize"] == (EPROTO, None)
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
                await libc.signal(SIGUSR1, lambda sig: None, flags=0)  # a handler; no restart
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
    """A server that takes statvfs requests and never answers them, and,
    once it agreed to unmount, keeps its /dev/puffs open until ``leave`` opens
    (its close would wake the kernel's waiters with ENXIO too)."""

    held: list = []
    leave: Gate | None = None

    async def exit(self):
        if self.leave is not None:
            await self.leave.wait()
        await super().exit()

    async def dispatch(self, frame):
        hdr = puffs_req.from_buffer(frame)
        if PUFFSOP_OPCLASS(hdr.preq_opclass) == PUFFSOP_VFS and \
                hdr.preq_optype == PUFFS_VFS_STATVFS and self.state == PUFFS_STATE_RUNNING:
            self.held.append(hdr.preq_id)
            return None  # no reply, ever
        return await super().dispatch(frame)


def test_unmount_sinks_the_callers_still_waiting_for_the_server():
    """A caller waits for a reply the server will never send when the server
    agrees to unmount: puffs_unmount wakes it (puffs_userdead: ENXIO) and
    waits, "sinking the waiters", until it has left (pmp_req_waiters back
    to 0) before freeing the mount's state.  The server keeps its device
    open until the unmount is over, so the caller is woken by the unmount
    itself, whatever the schedule; the caller cannot leave touser before the
    unmount sleeps (it needs pmp_lock, which the unmount holds until then)."""
    seen: dict = {}

    async def main():
        async with h.boot(seed=79) as k:
            s = Sitter(MemFS(), "sitter")
            s.held = []
            s.proc = k.proc_create("sitter", k.initproc)

            async def serve():
                from tools.lib.libpuffs import daemon

                s.leave = Gate("leave")
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
                s.leave.open()

            async with trio.open_nursery() as n:
                n.start_soon(lambda: k.run(waiter, name="waiter"))
                n.start_soon(lambda: k.run(unmounter, name="umount"))
            seen["held"] = list(s.held)
            seen["mounted"] = h.mounted(k, "/mnt") is not None
            seen["trace"] = [str(e) for e in k.trace
                             if str(e).split()[1:3] in (["umount:", "sleep"], ["waiter:", "exit"])]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(seen["held"]) == 1  # the request the server sat on
    assert seen["statvfs"] == ENXIO and seen["unmount"] == 0
    assert seen["statvfs at"] <= seen["unmount at"]  # the caller left first
    sink = [i for i, e in enumerate(seen["trace"]) if "umount: sleep puffsink" in e]
    gone = [i for i, e in enumerate(seen["trace"]) if "waiter: exit" in e]
    assert sink and gone and sink[0] < gone[0]  # the unmount waited for it
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


class HeldInactive(Forgetful):
    """Forgetful whose next INACTIVE after ``arm()`` opens ``entered`` and
    sleeps a little before answering (the other lwps run meanwhile), noting
    then how the first lwp of ``watch`` sleeps."""

    armed = False

    def arm(self, watch=None) -> None:
        self.entered = Gate("inactive")
        self.armed = True
        self.watch = watch
        self.seen = None

    async def node_inactive(self, node, pid):
        if self.armed:
            self.armed = False
            self.entered.open()
            await libc.nanosleep(0.05)
            if self.watch:
                w = self.watch[0]
                self.seen = (w.l_stat, w.l_wmesg)
        return await super().node_inactive(node, pid)


@pytest.mark.parametrize("seed", sweep(3, 90))
def test_root_racing_the_recycling_of_the_root_vnode(seed):
    """A server that lets every vnode go at its last release (inactive
    answers 0) makes the root vnode be reclaimed at its last vrele.  VFS_ROOT
    called while that release waits for the server's INACTIVE finds pmp_root
    still set; vget sleeps (the vnode is BLOCKED: VSTATE_WAIT_STABLE, on
    "vnode") until the reclaim is over and refuses the dead vnode (ENOENT);
    puffs_root then makes a new root vnode ("grabnew").  The file system
    unmounts cleanly afterwards."""
    from kern.kern_lwp import LSSLEEP, kthread_join
    from vfs.vnode import VS_RECLAIMED

    with h.Booted(seed=seed) as k:
        ops = HeldInactive()
        h.start_server(k, ops, name="forgetful")
        mp = h.mounted(k, "/mnt")

        async def body():
            error, old = await VFS_ROOT(mp, 0)  # ours is the only reference
            assert error == 0
            watch, got = [], {}
            ops.arm(watch)

            async def rooter():
                watch.append(kern.curlwp())
                await ops.entered.wait()
                got["root"] = await VFS_ROOT(mp, 0)

            r = _spawn(rooter, "rooter")
            await vrele(old)  # the last reference: INACTIVE, then the reclaim
            assert await kthread_join(r) == 0
            error, new = got["root"]
            out = (error, new is not old, new.v_type, new.v_data is not None,
                   mp.mnt_data.pmp_root is new, old.v_state)
            await vrele(new)
            return out, ops.seen

        out, seen = k.run(body)
        assert seen == (LSSLEEP, "vnode")  # vget waited for the release
        assert out == (0, True, VDIR, True, True, VS_RECLAIMED)
        assert k.run(h.stat_, "/mnt")[0] == 0
        assert k.run(h.unmount, "/mnt") == 0


@pytest.mark.parametrize("seed", sweep(3, 96))
def test_root_made_while_the_stored_root_is_deactivated_panics(seed):
    """Kept 1.38 defect (gone by 1.53.4.2, where puffs_root looks the root
    up by its cookie like any other node, puffs_pnode2vnode): in the "someone else
    created a root vnode" branch puffs_root takes its reference with vref,
    as if pmp_root were always in use.  When the stored root is in its last
    release (vrelel has it BLOCKED in VOP_INACTIVE, waiting for the server),
    the reference lands on a vnode that takes none, and NetBSD 8's vnode
    layer panics as the release ends: "BLOCKED to LOADED with usecount 2".
    (On its own 2007 kernel, where the count is 0 during VOP_INACTIVE and
    vref panics on that, 1.38 panics "vref used where vget required".)"""
    with h.Booted(seed=seed) as k:
        ops = HeldInactive()
        h.start_server(k, ops, name="forgetful")
        mp = h.mounted(k, "/mnt")
        got = {}

        async def body():
            assert mp.mnt_data.pmp_root is None  # the last one was recycled
            made = []
            r1_made = Gate("r1made")
            ops.arm()
            _hold_getvnode("root1", made, r1_made, ops.entered)

            async def root1():
                got["root1"] = await VFS_ROOT(mp, 0)

            _spawn(root1, "root1")
            await r1_made.wait()  # root1 made its vnode and waits in the window
            error, vp = await VFS_ROOT(mp, 0)  # makes and stores the root
            got["stored"] = vp
            got["made"] = made[0]
            await vrele(vp)  # its last release: BLOCKED, INACTIVE to the server

        with pytest.raises(kern.KernelPanic, match="BLOCKED to LOADED with usecount 2") as ei:
            k.run(body, name="releaser")
        # root1 took the stored (dying) root in the "someone else created" branch
        assert got["root1"] == (0, got["stored"]) and got["made"] is not got["stored"]
        assert "vrelel" in "\n".join(ei.value.crash.lwp("releaser").stack)


# ------------------------------------------------------------------ pageflush

def test_pageflush_passes_over_a_dirty_vnode_someone_holds_locked():
    """pageflush asks vget for the lock without waiting (LK_NOWAIT): a dirty
    vnode another lwp holds locked is skipped (vget: EBUSY) and the walk goes
    on to the next one; the sync itself succeeds."""
    from kern.kern_auth import FSCRED
    from vfs.mount import MNT_WAIT, VFS_SYNC
    from vfs.vnode import vn_lock

    with h.Booted(seed=81) as k:
        ops = Recorder()
        h.start_server(k, ops)
        mp = h.mounted(k, "/mnt")

        async def body():
            fds, vps = [], []
            for n in "ab":
                error, fd = await h.create(f"/mnt/{n}")
                fds.append(fd)
                _, vp = await namei_simple_kernel(f"/mnt/{n}", NSM_FOLLOW_NOEMULROOT)
                await vrele(vp)  # the descriptor keeps it
                vp.v_uobj = Pages()
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
