"""The vnode life cycle (vfs/vnode.py, NetBSD 8's vfs_vnode.c 1.93.2.3).

* The last release of a vnode whose lock is busy does not wait for the lock:
  it hands the release to the vdrain thread (the deadlock of the fss seed
  sweep: a writer holding a file's lock dropped the last reference to its
  directory while another writer held the directory locked and waited for
  the file).
* A vnode being deactivated (VOP_INACTIVE) takes no new reference until it
  is done (VS_BLOCKED); one being killed by vgone is deactivated once it is
  RECLAIMING, so a lookup meanwhile finds it dead.
* vrele_async always defers; vfs_drainvnodes waits for the deferred releases.
* A release deferred while the file system was suspended is done by
  unmount's vflush (vrele_flush), so the unmount succeeds.

The lwps are put in order with gates, not by a lucky seed: each test runs the
same way under every seed of the sweep.
"""

from __future__ import annotations

import pytest

import kern
from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join
from kern.cpu import curlwp
from kern.errno import ENOENT
from kern.kern_lwp import LSSLEEP
from kern.machine import testing as kt
from kern.machine.lockset import peek
from kern.machine.testing import Gate, MiB, sweep
from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
from vfs.vfs_trans import vfs_resume, vfs_suspend
from vfs.vnode import (
    LK_EXCLUSIVE,
    VS_BLOCKED,
    VS_LOADED,
    VS_RECLAIMED,
    VS_RECLAIMING,
    _vg,
    genfs_islocked,
    genfs_lock,
    genfs_unlock,
    getnewvnode,
    vfs_drainvnodes,
    vget,
    vgone,
    vn_lock,
    vput,
    vref,
    vrele,
    vrele_async,
)
from vfs.vnode_if import (
    vn_default_error,
    vnodeopv_desc,
    vop_default_desc,
    vop_inactive_desc,
    vop_islocked_desc,
    vop_lock_desc,
    vop_reclaim_desc,
    vop_unlock_desc,
)


def spawn(fn, name: str, arg=None):
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, arg, "%s", name)
    assert error == 0
    return l


class VnodeTestFS:
    """Vnodes outside any file system, with a VOP_LOCK and a VOP_INACTIVE a
    test can step into (``lock_hook``, ``inactive_hook``); VOP_INACTIVE
    records who ran it, VOP_RECLAIM only unlocks."""

    def __init__(self) -> None:
        self.inactive: list[tuple[str, object]] = []
        self.lock_hook = None
        self.inactive_hook = None

        async def lock(ap):
            if self.lock_hook is not None:
                await self.lock_hook(ap)
            return await genfs_lock(ap)

        async def inactive(ap):
            self.inactive.append((curlwp().l_name, ap.a_vp))
            if self.inactive_hook is not None:
                await self.inactive_hook(ap)
            ap.a_recycle[0] = False
            return 0

        async def reclaim(ap):
            ap.a_vp.v_data = None
            return genfs_unlock(ap)

        self.ops = vnodeopv_desc("vnodetest", [
            (vop_default_desc, vn_default_error),
            (vop_lock_desc, lock),
            (vop_unlock_desc, genfs_unlock),
            (vop_islocked_desc, genfs_islocked),
            (vop_inactive_desc, inactive),
            (vop_reclaim_desc, reclaim),
        ])

    async def vnode(self):
        """A new vnode with one reference (the caller's)."""
        error, vp = await getnewvnode(0, None, self.ops)
        assert error == 0
        return vp

    def inactivated_by(self, vp) -> list[str]:
        return [who for who, v in self.inactive if v is vp]


@pytest.fixture(params=sweep(3))
def k(request):
    with kern.boot(seed=request.param) as k:
        yield k


def test_last_release_does_not_wait_for_a_lock_held_by_a_waiter_for_ours(k):
    """A holds the file's lock and drops the last reference to the directory;
    between A's decision (last reference) and its lock attempt, B references
    and locks the directory, then waits for the file.  A must not wait for the
    directory's lock (kemu's vrelel did: deadlock); the vdrain thread inherits
    A's reference and finishes the release once the lock is free."""

    async def body():
        fs = VnodeTestFS()
        dvp = await fs.vnode()  # the directory: A's reference only
        vp = await fs.vnode()   # the file: A's reference
        await vn_lock(vp, LK_EXCLUSIVE)
        a = curlwp()
        window, taken = Gate("window"), Gate("taken")

        async def lock_hook(ap):
            # A's first lock of the directory is vrelel's: open the window.
            if curlwp() is a and ap.a_vp is dvp and not window.is_open:
                window.open()
                await taken.wait()

        fs.lock_hook = lock_hook

        async def b_main(_):
            await window.wait()
            assert await vget(dvp, LK_EXCLUSIVE) == 0  # referenced and locked
            taken.open()
            assert await vget(vp, LK_EXCLUSIVE) == 0   # waits for A's file
            await vput(vp)
            await vput(dvp)

        b = spawn(b_main, "B")
        await vrele(dvp)  # A's last reference
        g = _vg()
        deferred = (dvp.v_usecount, peek(dvp, "vi_lrulisthd") is g.lru_vrele_list,
                    fs.inactivated_by(dvp))
        await vput(vp)
        assert await kthread_join(b) == 0
        assert await vfs_drainvnodes() == 0
        # (peek: the vdrain thread's lists; looking is not an access of this lwp)
        return deferred, dvp.v_usecount, peek(dvp, "v_state"), \
            peek(dvp, "vi_lrulisthd") is g.lru_free_list, fs.inactivated_by(dvp), vp.v_usecount

    deferred, use, state, free, inactivated, vuse = k.run(body, name="A")
    # A returned at once: the directory waits on the vrele list with A's
    # reference (donated) and B's; nobody deactivated it yet.
    assert deferred == (2, True, [])
    # Released once, by B's vput or by the vdrain thread, never by A.
    assert (use, state, free, vuse) == (0, VS_LOADED, True, 0)
    assert len(inactivated) == 1 and inactivated[0] in ("B", "vdrain")


def test_a_vnode_takes_no_reference_while_it_is_deactivated(k):
    """VOP_INACTIVE runs with the vnode BLOCKED: a vget meanwhile sleeps in
    VSTATE_WAIT_STABLE (on the vnode's v_cv, "vnode") until it is over
    (kemu's vrelel let it in, then dropped the count under it)."""

    async def body():
        fs = VnodeTestFS()
        vp = await fs.vnode()
        order = []
        entered = Gate("entered")
        lwps = {}

        async def inactive_hook(ap):
            if entered.is_open:
                return  # B's release
            order.append(("inactive", vp.v_state))
            entered.open()
            await kpause("inact", False, 5, None)  # B runs meanwhile
            b = lwps["B"]
            order.append(("B meanwhile", b.l_stat, b.l_wmesg, b.l_wchan is vp.v_cv))

        fs.inactive_hook = inactive_hook

        async def b_main(_):
            await entered.wait()
            assert await vget(vp, 0) == 0
            order.append(("B has it", vp.v_usecount))
            await vrele(vp)

        lwps["B"] = b = spawn(b_main, "B")
        await vrele(vp)
        assert await kthread_join(b) == 0
        return order, vp.v_usecount, fs.inactivated_by(vp)

    order, use, inactivated = k.run(body, name="A")
    assert order == [("inactive", VS_BLOCKED), ("B meanwhile", LSSLEEP, "vnode", True),
                     ("B has it", 1)]
    assert use == 0
    assert inactivated == ["A", "B"]


def test_vgone_deactivates_a_vnode_in_use_once_it_is_reclaiming(k):
    """vgone of a vnode someone else still holds runs VOP_INACTIVE inside
    vcache_reclaim, with the vnode already RECLAIMING (NetBSD 8): a vget
    meanwhile sleeps until the reclaim is over and finds the vnode dead
    (ENOENT).  kemu's vgone ran VOP_INACTIVE while the vnode was still
    LOADED, and that vget took a new reference to a vnode being reclaimed."""

    async def body():
        fs = VnodeTestFS()
        vp = await fs.vnode()
        vref(vp)  # a holder besides vgone's caller: the vnode is in use
        entered = Gate("entered")
        seen = {}
        lwps = {}

        async def inactive_hook(ap):
            seen["state"] = vp.v_state
            entered.open()
            await kpause("inact", False, 5, None)  # B runs meanwhile
            b = lwps["B"]
            seen["B meanwhile"] = (b.l_stat, b.l_wmesg)

        fs.inactive_hook = inactive_hook

        async def b_main(_):
            await entered.wait()
            seen["vget"] = await vget(vp, 0)

        lwps["B"] = b = spawn(b_main, "B")
        await vgone(vp)  # drops the caller's reference
        assert await kthread_join(b) == 0
        after = (vp.v_state, vp.v_usecount)
        await vrele(vp)  # the other holder's
        return seen, after, fs.inactivated_by(vp)

    seen, after, inactivated = k.run(body, name="A")
    assert seen["state"] == VS_RECLAIMING
    assert seen["B meanwhile"] == (LSSLEEP, "vnode")
    assert seen["vget"] == ENOENT
    assert after == (VS_RECLAIMED, 1)
    assert inactivated == ["A"]


def test_vrele_async_leaves_the_release_to_the_vdrain_thread(k):
    async def body():
        fs = VnodeTestFS()
        vp = await fs.vnode()
        vrele_async(vp)
        g = _vg()
        pending = (vp.v_usecount, vp.vi_lrulisthd is g.lru_vrele_list, fs.inactivated_by(vp))
        error = await vfs_drainvnodes()
        return pending, error, vp.v_usecount, fs.inactivated_by(vp)

    assert k.run(body) == ((1, True, []), 0, 0, ["vdrain"])


def test_release_deferred_under_suspension_is_done_by_unmount(k, tmp_path):
    """A last release while the file system is suspended cannot lock the
    vnode (its transaction would wait): it is deferred, and the vdrain thread
    cannot do it before the file system resumes either.  Whoever does it
    after the resume (the vdrain thread, if something wakes it, or unmount's
    vflush, which does the deferred releases first: vrele_flush), the
    unmount succeeds, the vnode is reclaimed and the image is clean."""
    img = kt.make_ext2_image(str(tmp_path / "u.img"), 4 * MiB)

    async def body():
        await kt.mount_image(img, "/mnt")
        await kt.write_file("/mnt/f", b"data")
        error, vp = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
        assert error == 0
        mp = vp.v_mount
        suspended, resume = Gate("suspended"), Gate("resume")

        async def s_main(_):
            assert await vfs_suspend(mp, 0) == 0
            suspended.open()
            await resume.wait()
            await vfs_resume(mp)

        s = spawn(s_main, "S")
        await suspended.wait()
        await vrele(vp)
        # The vdrain thread tries, and leaves it for lack of a transaction.
        assert await vfs_drainvnodes() == 0
        g = _vg()
        during = (vp.v_usecount, vp.vi_lrulisthd is g.lru_vrele_list)
        resume.open()
        assert await kthread_join(s) == 0
        error = await kt.unmount("/mnt")
        return during, error, vp.v_state, vp.v_usecount

    assert k.run(body) == ((1, True), 0, VS_RECLAIMED, 0)
    kt.assert_e2fsck_clean(img)


def test_an_idle_vdrain_thread_hides_no_deadlock():
    """The vdrain thread sleeps without a timeout when it has nothing to do, so
    a run whose lwps all sleep still ends with kern.Deadlock, vdrain listed."""

    async def body():
        await Gate("never").wait()

    with kern.boot(seed=1) as k:
        with pytest.raises(kern.Deadlock) as ei:
            k.run(body, name="stuck")
    vdrain = ei.value.crash.lwp("vdrain")
    assert (vdrain.stat, vdrain.wmesg) == ("SLEEP", "vdrain")
    assert ei.value.crash.lwp("stuck").wmesg == "never"


def test_last_release_of_a_vnode_with_dead_operations_not_reclaimed_panics():
    """vrelel's DIAGNOSTIC check ("dead but not clean"), which compares v_op with
    dead_vnodeop_p without a call: a vnode given the dead operations but not
    reclaimed panics at its last release; a reclaimed one does not."""
    from kern import KernelPanic
    from vfs.dead_vnops import dead_vnodeop_p

    async def body():
        fs = VnodeTestFS()
        vp = await fs.vnode()
        vp.v_op = dead_vnodeop_p
        await vrele(vp)

    with kern.boot(seed=1) as k:
        with pytest.raises(KernelPanic, match="dead but not clean"):
            k.run(body)

    async def reclaimed():
        fs = VnodeTestFS()
        vp = await fs.vnode()
        vref(vp)
        await vgone(vp)  # (reclaims it and drops one reference: v_op is dead_vnodeop_p)
        dead = vp.v_op is dead_vnodeop_p
        await vrele(vp)
        return dead, vp.v_state == VS_RECLAIMED

    with kern.boot(seed=1) as k:
        assert k.run(reclaimed) == (True, True)


def test_a_fresh_copy_of_dead_vnops_does_not_replace_the_shared_one():
    """vfs.vnode learns vfs.dead_vnops from that module's last statement: a copy of
    the file executed afresh (as kern_module runs a module's files for a machine,
    under another name) must not take the place of the shared module, whose
    dead_vnodeop_p vclean gives every machine's vnodes (before the registration,
    vfs.vnode imported ``vfs.dead_vnops`` itself: always the shared one)."""
    import importlib.util
    import sys

    import vfs.dead_vnops
    import vfs.vnode

    name = "kemu_test_copy.vfs.dead_vnops"
    spec = importlib.util.spec_from_file_location(name, vfs.dead_vnops.__file__)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    sys.modules[name] = copy
    try:
        spec.loader.exec_module(copy)
        assert copy.dead_vnodeop_p is not vfs.dead_vnops.dead_vnodeop_p
        assert vfs.vnode._dead_vnodeop_p() is vfs.dead_vnops.dead_vnodeop_p
    finally:
        sys.modules.pop(name, None)
        vfs.vnode._dead_vnops = vfs.dead_vnops


def _namei_refs(monkeypatch) -> list:
    """The vnodes namei references (its vref calls), in order."""
    import vfs.namei

    real_vref = vfs.namei.vref
    refs: list = []

    def counted_vref(vp) -> None:
        refs.append(vp)
        real_vref(vp)

    monkeypatch.setattr(vfs.namei, "vref", counted_vref)
    return refs


def test_namei_restarts_at_the_root_without_losing_or_leaking_references(monkeypatch):
    """namei starts an absolute path at the root and does not restart there
    (no second reference taken and dropped: namei takes the root once); an
    absolute symbolic link met in another directory restarts at the root (takes
    it again).  Every lookup names the same file and leaves the root's and the
    directory's reference counts as they were."""
    from tools.lib import libc
    from vfs.mount import vfsglobals

    refs = _namei_refs(monkeypatch)

    async def body():
        await libc.mkdir("/tmp/d", 0o755)
        await kt.write_file("/tmp/d/f", b"x")
        await libc.symlink("/tmp/d/f", "/tmp/d/abs")
        await libc.symlink("f", "/tmp/d/rel")
        root = vfsglobals().rootvnode
        error, d = await namei_simple_kernel("/tmp/d", NSM_FOLLOW_NOEMULROOT)
        error, f = await namei_simple_kernel("/tmp/d/f", NSM_FOLLOW_NOEMULROOT)
        before = (root.v_usecount, d.v_usecount, f.v_usecount)
        same = []
        root_refs = []
        for path in ("/tmp/d/f", "/tmp/d/abs", "/tmp/d/rel", "//tmp//d/abs", "/"):
            refs.clear()
            error, vp = await namei_simple_kernel(path, NSM_FOLLOW_NOEMULROOT)
            same.append((error, vp is (root if path == "/" else f)))
            root_refs.append(sum(r is root for r in refs))
            await vrele(vp)
        after = (root.v_usecount, d.v_usecount, f.v_usecount)
        await vrele(f)
        await vrele(d)
        return same, before == after, root_refs

    with kern.boot(seed=1) as k:
        # the root taken once a lookup, again for each absolute link met
        assert k.run(body) == ([(0, True)] * 5, True, [1, 2, 1, 2, 1])


def test_namei_in_a_chroot_keeps_every_reference_on_each_path_and_error(monkeypatch):
    """A chroot'd process (its root is not rootvnode): absolute paths, an absolute
    symbolic link met in the root itself (the restart from the directory it is
    in, which is the root: no reference taken or dropped there since 0d0b385,
    NetBSD's namei_follow drops and retakes it) and in a subdirectory, ".." of
    the root, and the errors on the way (ENOENT for "" and an absolute link to
    nothing, ELOOP, ENAMETOOLONG for a path and for a link's expansion, ENOTDIR):
    each names what it must and leaves the process root's, rootvnode's and the
    directories' reference counts as they were."""
    from kern.errno import ELOOP, ENAMETOOLONG, ENOTDIR
    from tools.lib import libc
    from vfs.mount import vfsglobals

    refs = _namei_refs(monkeypatch)

    async def body():
        await libc.mkdir("/tmp/jail", 0o755)
        await libc.mkdir("/tmp/jail/d", 0o755)
        await kt.write_file("/tmp/jail/d/f", b"x")
        await kt.write_file("/tmp/jail/f", b"y")
        await libc.chroot("/tmp/jail")
        await libc.symlink("/d/f", "/abs")           # absolute link in the root
        await libc.symlink("/f", "/d/up")            # absolute link elsewhere
        await libc.symlink("/loop", "/loop")
        await libc.symlink("/nothere", "/gone")
        await libc.symlink("/" + "x" * 250, "/long")
        jail = curlwp().l_proc.p_cwdi.cwdi_rdir
        rootvnode = vfsglobals().rootvnode
        assert jail is not rootvnode
        _, d = await namei_simple_kernel("/d", NSM_FOLLOW_NOEMULROOT)
        _, f = await namei_simple_kernel("/d/f", NSM_FOLLOW_NOEMULROOT)
        _, top = await namei_simple_kernel("/f", NSM_FOLLOW_NOEMULROOT)

        def counts():
            return [v.v_usecount for v in (jail, rootvnode, d, f, top)]

        before = counts()
        want = {"/abs": f, "//abs": f, "/d/up": top, "/d/../abs": f, "/..": jail,
                "/../../d/f": f, "/": jail, "/abs/": ENOTDIR, "": ENOENT,
                "/gone": ENOENT, "/loop": ELOOP, "/" + "a" * 1100: ENAMETOOLONG,
                "/long/" + "/".join(["y" * 200] * 4): ENAMETOOLONG}
        got = {}
        jail_refs = {}
        for path in want:
            refs.clear()
            error, vp = await namei_simple_kernel(path, NSM_FOLLOW_NOEMULROOT)
            got[path] = error or vp
            jail_refs[path] = sum(r is jail for r in refs)
            if vp is not None:
                await vrele(vp)
        after = counts()
        for vp in (d, f, top):
            await vrele(vp)
        wrong = [p for p in want if got[p] != want[p]]
        return wrong, before == after, [jail_refs[p] for p in ("/abs", "//abs", "/d/up")]

    with kern.boot(seed=1) as k:
        # the root taken once for a link met in it, twice for one met in /d
        assert kt.in_process(k, body) == ([], True, [1, 1, 2])
