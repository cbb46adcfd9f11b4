"""Servers that die, refuse, lie, dawdle, and callers that get signals.

The outcomes are 1.38's (msgif.c 1.27, transport.c 1.12), with the fixes
listed in puffs_vfsops.py's header where they matter (M3 for GETOP's E2BIG).
"""

from __future__ import annotations

import random

import kern
from fs.puffs.puffs_msgif_h import (
    PUFFS_VN_GETATTR,
    PUFFS_VN_INACTIVE,
    PUFFSGETOP,
    PUFFSOP_VN,
    PUFFSOP_WANTREPLY,
    PUFFSOPFLAG_FAF,
    PUFFSPUTOP,
    puffs_req,
    puffs_reqh_get,
    puffs_reqh_put,
)
from kern.cpu import curmachine, curproc
from kern.errno import E2BIG, EBUSY, EFAULT, EINTR, EINVAL, EIO, ENOENT, ENXIO, EWOULDBLOCK
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR
from kern.kern_sig import SIGUSR1, psignal
from kern.subr_copy import uvm_map_user, uwrite
from tools.lib import libc
from tools.lib.libc import mount
from tools.lib.libpuffs import PuffsError, PuffsServer
from tools.lib.libpuffs._sys import lwp_create
from tools.lib.libpuffs.channel import DevPuffsChannel, frame_header
from tools.puffs_servers.memfs import MemFS
from vfs.mount import MNT_FORCE, MOUNT_PUFFS

from . import h_puffs as h

# ------------------------------------------------------------------ a hand-driven server

class Manual:
    """A server process whose requests the test fetches and answers one by one."""

    def __init__(self, k, name: str = "manual") -> None:
        self.k = k
        self.proc = k.proc_create(name, k.initproc)
        self.name = name
        self.ops = MemFS()
        self.server = PuffsServer(self.ops, name)

        async def setup() -> None:
            from kern.ioccom import FIONBIO

            await self.server.init()
            await self.server.mount("/mnt")
            await self.server.start()
            # non-blocking: an empty queue is EWOULDBLOCK, not a sleep
            await libc.ioctl(self.server.fd, FIONBIO, bytearray((1).to_bytes(4, "little")))

        k.run(setup, name=name, proc=self.proc)
        self.ch: DevPuffsChannel = self.server.channel  # type: ignore[assignment]

    def run(self, afn, *args):
        return self.k.run(afn, *args, name=self.name, proc=self.proc)

    def exit(self) -> None:
        """The server goes away (puffs_exit: its /dev/puffs descriptor closes, a
        forced unmount).  A test ends with it: the halt syncs and unmounts every
        file system, and nobody would answer this one's requests (a deadlock,
        where a NetBSD reboot would hang)."""
        self.run(self.server.exit)

    async def get(self) -> list[bytearray]:
        try:
            return await self.ch.get_requests()
        except PuffsError as e:
            if e.errno == EWOULDBLOCK:
                return []
            raise

    async def answer(self, frames) -> None:
        """Answer like memfs would."""
        replies = []
        for f in frames:
            r = await self.server.dispatch(f)
            if r is not None:
                replies.append(r)
        await self.ch.put_replies(replies)

    async def serve_once(self) -> int:
        frames = await self.get()
        await self.answer(frames)
        return len(frames)

    async def drain(self) -> int:
        n = 0
        while True:
            got = await self.serve_once()
            if not got:
                return n
            n += got

    def serve_until(self, out: list) -> None:
        """Answer requests until the caller's result is in."""
        for _ in range(100):
            if out:
                return
            self.run(self.drain)
        raise AssertionError("the caller never finished")


def spawn_caller(k, afn, name="caller"):
    """Start ``afn`` in a user lwp of its own process; its result lands in the list.

    The process catches SIGUSR1 (a handler without SA_RESTART), as a program
    that wants its waits interrupted with EINTR does: by default the signal
    would end it."""
    out: list = []
    p = k.proc_create(name, k.initproc)

    async def body():
        out.append(await afn())

    def caught(sig: int) -> None:
        pass

    async def starter():
        await libc.signal(SIGUSR1, caught, 0)
        lwp_create(body, name=name)

    k.run(starter, proc=p)
    return out, p


# ------------------------------------------------------------------ the server dies

class DyingFS(MemFS):
    """Closes its /dev/puffs descriptor (dies) in the middle of a GETATTR."""

    server: PuffsServer

    async def node_getattr(self, node, cred, pid):
        if node != self.root_cookie:
            await self.server.exit()
            raise PuffsError(EIO)
        return await super().node_getattr(node, cred, pid)


def test_server_dies_while_caller_waits():
    """The waiting caller gets ENXIO, the mount goes away, files of it turn dead."""
    with h.Booted(seed=21) as k:
        kbefore = h.kmem_inuse(k)
        ops = DyingFS()
        s = PuffsServer(ops, "dying")
        ops.server = s
        p = k.proc_create("dying", k.initproc)

        async def start():
            from tools.lib.libpuffs import daemon

            await daemon(s.main, "/mnt", name="dying")

        k.run(start, proc=p)

        async def prepare():
            error, fd = await h.create("/mnt/victim")
            assert error == 0
            return fd

        fd = k.run(prepare)

        async def victim():
            return await h.stat_("/mnt/victim")

        error, _ = k.run(victim)
        assert error == ENXIO
        assert h.mounted(k, "/mnt") is None

        async def after():
            out = {}
            out["read"] = await h.read(fd, 10)           # a dead vnode now
            out["close"] = await h.close(fd)
            out["stat"] = (await h.stat_("/mnt/victim"))[0]  # /mnt is rootfs again
            return out

        out = k.run(after)
        assert out["read"] == (EIO, b"")                 # deadfs: EIO (not a tty)
        assert out["stat"] == ENOENT
        assert h.kmem_inuse(k) <= kbefore + 4096  # the park pool may keep a few parks


def test_server_process_exit_is_a_forced_unmount():
    """The process goes away with the server asleep in GETOP: fo_restart kicks it
    out (T4), the close of its descriptor force-unmounts."""
    with h.Booted(seed=22) as k:
        s = h.start_server(k)

        async def kill():
            curmachine().proc_destroy(s.proc)

        k.run(kill)
        assert h.mounted(k, "/mnt") is None

        async def later():
            return (await h.stat_("/mnt/x"))[0]

        assert k.run(later) == ENOENT


def test_close_before_getop_sleeps_is_not_lost():
    """A close of the descriptor that comes while a server thread is in PUFFSGETOP
    but not yet asleep (held at pmp_lock, past fd_getfile): fo_restart finds no
    sleeper to wake, so getop must see sel_restart before it sleeps (T4/M6),
    else it sleeps on and fd_close waits for it for ever.  The GETOP ends
    (restarted: the descriptor is gone, EBADF) and the close force-unmounts."""
    from fs.puffs.puffs_sys import MPTOPUFFSMP
    from kern.errno import EBADF
    from kern.kern_mutex import mutex_enter, mutex_exit

    with h.Booted(seed=22) as k:
        p = k.proc_create("lost", k.initproc)

        async def body():
            s = PuffsServer(MemFS(), "lost")
            await s.init()
            await s.mount("/mnt")
            await s.start()
            pmp = MPTOPUFFSMP(h.mounted(k))
            fd = s.channel.fd
            out = {}

            async def getter():
                try:
                    await s.channel.get_requests()
                    out["getop"] = 0
                except PuffsError as e:
                    out["getop"] = e.errno

            async def closer():
                out["close"] = await h.close(fd)

            await mutex_enter(pmp.pmp_lock)
            lwp_create(getter, name="getter")
            await kern.kpause("settle", False, 1, None)  # getter waits for pmp_lock
            lwp_create(closer, name="closer")
            await kern.kpause("settle", False, 1, None)  # closer waits for getter
            seen = (pmp.pmp_sel.sel_restart, dict(out))
            mutex_exit(pmp.pmp_lock)
            for _ in range(20):
                if len(out) == 2:
                    break
                await kern.kpause("wait", False, 1, None)
            return seen, out

        seen, out = k.run(body, proc=p)
        assert seen == (1, {})  # the restart came before getop could sleep
        assert out == {"getop": EBADF, "close": 0}
        assert h.mounted(k, "/mnt") is None


def test_requests_before_start_get_enxio():
    """Before PUFFSSTARTOP (status MOUNTING) requests fail with ENXIO and GETOP
    too; an unmount without MNT_FORCE of a never-started file system fails
    with ENXIO, a forced one succeeds; then the instance is dead (ENOENT)."""
    with h.Booted(seed=23) as k:
        p = k.proc_create("embryo", k.initproc)

        async def mount_only():
            s = PuffsServer(MemFS(), "nostart")
            await s.init()
            await s.mount("/mnt")
            out = {}
            out["stat"] = (await h.stat_("/mnt"))[0]         # MOUNTING: GETATTR is ENXIO
            try:
                await s.channel.get_requests()
            except PuffsError as e:
                out["getop"] = e.errno
            out["unmount"] = await h.unmount("/mnt")
            out["force"] = await h.unmount("/mnt", MNT_FORCE)
            try:
                await s.channel.get_requests()
            except PuffsError as e:
                out["getop_dead"] = e.errno
            await s.exit()
            return out

        out = k.run(mount_only, proc=p)
        assert out == {"stat": ENXIO, "getop": ENXIO, "unmount": ENXIO, "force": 0,
                       "getop_dead": ENOENT}


def test_close_before_mount_then_mount_fails():
    with h.Booted(seed=24) as k:
        async def body():
            fd = await libc.open("/dev/puffs", O_RDWR)
            await libc.close(fd)
            s = PuffsServer(MemFS(), "late")
            s.kargs.pa_fd = fd
            try:
                await mount(MOUNT_PUFFS, "/mnt", 0, s.kargs)
            except SyscallError as e:
                return e.errno
            return 0

        assert k.run(body) == ENOENT


# ------------------------------------------------------------------ unmount refused

def test_server_refuses_unmount():
    with h.Booted(seed=25) as k:
        ops = MemFS()
        ops.unmount_refusal = EBUSY
        s = h.start_server(k, ops)

        assert k.run(h.unmount_refused_then_forced, "/mnt") == [EBUSY, 0, 0]
        assert h.mounted(k, "/mnt") is None
        assert not s.errors


# ------------------------------------------------------------------ lying servers

def test_reply_with_unknown_id_wrong_length_and_garbage():
    with h.Booted(seed=26) as k:
        m = Manual(k)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def lie():
            res = {}
            frames = await m.get()
            assert len(frames) == 1
            f = frames[0]
            hdr = frame_header(f)
            assert hdr.preq_opclass == PUFFSOP_VN and hdr.preq_optype == PUFFS_VN_GETATTR
            p = curproc()
            ubuf = uvm_map_user(p, len(f))
            uwrite(p, ubuf, bytes(f))

            async def put(id_, buf, buflen, nops=1):
                php = puffs_reqh_put(php_nops=nops, php_id=id_, php_buf=buf,
                                     php_buflen=buflen)
                try:
                    await libc.ioctl(m.ch.fd, PUFFSPUTOP, php)
                except SyscallError as e:
                    return e.errno
                return 0

            res["unknown id"] = await put(hdr.preq_id + 1000, ubuf, len(f))
            res["zero length"] = await put(hdr.preq_id, ubuf, 0)
            res["too long"] = await put(hdr.preq_id, ubuf, len(f) + 4096)
            res["bad address"] = await put(hdr.preq_id, 8, 64)  # EFAULT: wakes the caller
            return res

        res = m.run(lie)
        assert res == {"unknown id": EINVAL, "zero length": E2BIG, "too long": E2BIG,
                       "bad address": EFAULT}
        m.serve_until(out)                  # (the root's INACTIVE follows)
        assert out[0][0] == EFAULT          # the copyin fault's errno reaches the caller

        # the mount is still fine: answer properly from now on
        out2, _ = spawn_caller(k, lambda: h.stat_("/mnt"))
        m.serve_until(out2)
        assert out2[0][0] == 0
        m.exit()


class GarbageServer(PuffsServer):
    """Answers with the right ids but random bytes (and a random rv) otherwise."""

    def __init__(self, seed: int) -> None:
        super().__init__(MemFS(), "garbage")
        self.rng = random.Random(seed)

    async def dispatch(self, frame):
        reply = await super().dispatch(frame)
        if reply is None:
            return None
        hdr = frame_header(reply)
        n = len(reply)
        junk = bytearray(self.rng.randbytes(n))
        new = puffs_req.from_buffer(junk)
        new.preq_id = hdr.preq_id
        new.preq_rv = self.rng.choice([0, 0, 0, EIO, EINVAL, 1, 34, 70])
        del new
        return junk


def test_garbage_replies_leave_the_kernel_up():
    with h.Booted(seed=27) as k:
        s = GarbageServer(seed=27)
        p = k.proc_create("garbage", k.initproc)

        async def start():
            from tools.lib.libpuffs import daemon

            await daemon(s.main, "/mnt", name="garbage")

        k.run(start, proc=p)

        async def body():
            results = []
            for i in range(40):
                results.append((await h.stat_("/mnt"))[0])
                results.append((await h.stat_(f"/mnt/f{i}"))[0])
                error, fd = await h.create(f"/mnt/c{i}")
                results.append(error)
                if not error:
                    results.append((await h.write(fd, b"data"))[0])
                    results.append((await h.pread(fd, 10, 0))[0])
                    await h.close(fd)
                results.append((await h.listdir("/mnt"))[0])
                results.append((await h.readlink(f"/mnt/c{i}"))[0])
                results.append(await h.mkdir(f"/mnt/d{i}"))
                results.append(await h.unlink(f"/mnt/c{i}"))
            return results

        results = k.run(body)
        assert all(isinstance(r, int) for r in results)
        assert k.run(lambda: h.unmount("/mnt", MNT_FORCE)) == 0
        assert h.mounted(k, "/mnt") is None


# ------------------------------------------------------------------ a slow server

class SlowFS(MemFS):
    async def node_getattr(self, node, cred, pid):
        await libc.nanosleep(30.0)
        return await super().node_getattr(node, cred, pid)


def test_slow_server_in_virtual_time():
    with h.Booted(seed=28) as k:
        h.start_server(k, SlowFS())

        async def body():
            t0 = curmachine().now()
            error, sb = await h.stat_("/mnt")
            return error, curmachine().now() - t0

        error, took = k.run(body)
        assert error == 0
        assert 30.0 <= took < 31.0


# ------------------------------------------------------------------ signals to callers

def test_signal_to_a_waiting_caller_eintr():
    """1.38: a signal interrupts the wait with EINTR; the late reply is swallowed
    by putop (WAITERGONE), the server is not told."""
    with h.Booted(seed=29) as k:
        m = Manual(k)
        out, cp = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def fetch():
            return await m.get()

        frames = m.run(fetch)
        assert len(frames) == 1  # GETATTR, now on the replywait queue

        async def sig():
            psignal(cp, SIGUSR1)

        k.run(sig)
        assert out[0][0] == EINTR

        async def late():
            await m.answer(frames)   # accepted: the reply is swallowed
            return [frame_header(f) for f in await m.get()]

        rest = m.run(late)
        # what follows is the root's INACTIVE, turned into a FAF (signal pending)
        assert [(r.preq_opclass, r.preq_optype) for r in rest] == \
            [(PUFFSOP_VN | PUFFSOPFLAG_FAF, PUFFS_VN_INACTIVE)]
        pmp = h.mounted(k, "/mnt").mnt_data
        assert not pmp.pmp_req_replywait and not pmp.pmp_req_touser
        assert pmp.pmp_req_waiters == 0
        m.exit()


def test_signal_to_a_caller_still_queued():
    """The request is taken off the touser queue; the server never sees it."""
    with h.Booted(seed=30) as k:
        m = Manual(k)
        out, cp = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def sig():
            psignal(cp, SIGUSR1)

        k.run(sig)
        assert out[0][0] == EINTR
        pmp = h.mounted(k, "/mnt").mnt_data
        assert len(pmp.pmp_req_touser) == 1 and pmp.pmp_req_waiters == 0  # the FAF

        async def fetch():
            return [frame_header(f) for f in await m.get()]

        # the GETATTR never reaches the server, only the root's INACTIVE (a FAF)
        assert [(r.preq_opclass, r.preq_optype) for r in m.run(fetch)] == \
            [(PUFFSOP_VN | PUFFSOPFLAG_FAF, PUFFS_VN_INACTIVE)]
        m.exit()


def test_inactive_with_a_signal_pending_becomes_faf():
    """INACTIVE is converted to a FAF when a signal is pending (and still sent)."""
    with h.Booted(seed=31) as k:
        m = Manual(k)

        async def make():
            error, fd = await h.create("/mnt/f")
            return error, fd

        out, cp = spawn_caller(k, make)
        while not out:
            m.run(m.serve_once)
        error, fd = out[0]
        assert error == 0

        async def close_with_signal():
            psignal(curproc(), SIGUSR1)
            return await h.close(fd)

        # the closing process is the caller's (the fd lives there)
        res = []

        async def body():
            res.append(await close_with_signal())

        async def starter():
            lwp_create(body, name="closer")

        k.run(starter, proc=cp)
        frames = m.run(m.get)
        kinds = [(frame_header(f).preq_opclass, frame_header(f).preq_optype) for f in frames]
        assert (PUFFSOP_VN | PUFFSOPFLAG_FAF, PUFFS_VN_INACTIVE) in kinds
        assert all(not PUFFSOP_WANTREPLY(oc) for oc, op in kinds if op == PUFFS_VN_INACTIVE)
        # close(2) succeeds: memfs has no CLOSE (checkop answers 0) and the
        # EINTR of the converted INACTIVE stays in puffs_inactive (refs = 1)
        assert res == [0]
        m.exit()


# ------------------------------------------------------------------ copyin/copyout faults

def test_getop_copyout_fault_requeues_the_request():
    with h.Booted(seed=32) as k:
        m = Manual(k)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def faulty_get():
            f = curmachine().faults.add("copyout", error=EFAULT, fail_nth=1, lwp=m.name)
            try:
                await m.get()
            except PuffsError as e:
                first = e.errno
            curmachine().faults.remove(f)
            frames = await m.get()   # the same request, back at the head
            await m.answer(frames)
            return first, len(frames), f.nfaults

        assert m.run(faulty_get) == (EFAULT, 1, 1)
        m.serve_until(out)
        assert out[0][0] == 0
        m.exit()


def test_putop_copyin_fault_fails_the_caller():
    with h.Booted(seed=33) as k:
        m = Manual(k)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def faulty_put():
            frames = await m.get()
            # the 1st copyin of the PUTOP ioctl is its argument, the 2nd the reply
            f = curmachine().faults.add("copyin", error=EFAULT, fail_nth=2, lwp=m.name)
            try:
                await m.answer(frames)
                r = 0
            except PuffsError as e:
                r = e.errno
            curmachine().faults.remove(f)
            return r, f.nfaults

        assert m.run(faulty_put) == (EFAULT, 1)
        m.serve_until(out)
        assert out[0][0] == EFAULT
        m.exit()


def test_getop_e2big_keeps_the_request():
    """The §8.9 quirk, fixed (M3): a GETOP buffer too small for the next request
    gets E2BIG and the request stays queued (1.27 orphaned it)."""
    with h.Booted(seed=34) as k:
        m = Manual(k)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def small_then_big():
            p = curproc()
            buf = uvm_map_user(p, 4096)
            phg = puffs_reqh_get(phg_buf=buf, phg_buflen=16, phg_nops=0)
            try:
                await libc.ioctl(m.ch.fd, PUFFSGETOP, phg)
                first = 0
            except SyscallError as e:
                first = e.errno
            pmp = h.mounted(curmachine(), "/mnt").mnt_data
            queued = len(pmp.pmp_req_touser)
            served = await m.serve_once()
            return first, queued, served

        first, queued, served = m.run(small_then_big)
        assert (first, queued, served) == (E2BIG, 1, 1)
        m.serve_until(out)
        assert out[0][0] == 0
        m.exit()


def test_channel_batches_replies_and_grows_its_get_buffer():
    """DevPuffsChannel: two callers' requests come in one GETOP and their replies
    go back in one PUTOP (each reply's header links the next); a get buffer too
    small for a request doubles on E2BIG until it fits, and nothing is lost."""
    import stat as st

    with h.Booted(seed=35) as k:
        m = Manual(k)
        # A stat of the root (GETATTR, the root vnode locked) and a statvfs
        # (a VFS request, no vnode lock): both queued before the server looks.
        got, _ = spawn_caller(k, lambda: h.stat_("/mnt"), name="stat")
        fs, _ = spawn_caller(k, lambda: libc.statvfs("/mnt"), name="statvfs")
        assert m.run(m.serve_once) == 2
        m.serve_until(got)
        m.serve_until(fs)
        assert got[0][0] == 0 and st.S_ISDIR(got[0][1].st_mode)
        # the same answers as when each call is served alone
        again, _ = spawn_caller(k, lambda: h.stat_("/mnt"), name="stat")
        m.serve_until(again)
        fs2, _ = spawn_caller(k, lambda: libc.statvfs("/mnt"), name="statvfs")
        m.serve_until(fs2)
        assert bytes(got[0][1]) == bytes(again[0][1])
        assert bytes(fs[0]) == bytes(fs2[0]) and fs[0].f_bsize > 0

        async def shrink() -> None:
            m.ch._unmap(m.ch.map)
            m.ch.map = None
            m.ch.bufsize = 64                    # smaller than any request

        m.run(shrink)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))
        m.serve_until(out)
        assert out[0][0] == 0 and st.S_ISDIR(out[0][1].st_mode)
        # doubled from 64 (E2BIG), not set anew: a power of two above it
        assert m.ch.bufsize > 64 and m.ch.bufsize & (m.ch.bufsize - 1) == 0, m.ch.bufsize
        m.exit()


def test_advlock_keeps_the_copyin_quirk():
    """1.59's advlock copyin()s a kernel pointer: EFAULT, nothing is sent.

    (kemu's fcntl(2) has no VFS advisory-lock hook yet, so VOP_ADVLOCK is
    called directly, as fcntl's would.)"""
    from fs.puffs.puffs_msgif_h import PUFFS_VN_ADVLOCK
    from kern.fcntl import F_POSIX, F_SETLK, F_WRLCK
    from kern.kern_descrip import flock
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.vnode import vrele
    from vfs.vnode_if import VOP_ADVLOCK

    class LockFS(MemFS):
        async def node_advlock(self, node, id, op, fl, flags):
            return None

    with h.Booted(seed=35) as k:
        s = h.start_server(k, LockFS())

        async def body():
            error, fd = await h.create("/mnt/l")
            await h.close(fd)
            error, vp = await namei_simple_kernel("/mnt/l", NSM_FOLLOW_NOEMULROOT)
            assert error == 0
            fl = flock(l_start=0, l_len=0, l_type=F_WRLCK, l_whence=0)
            r = await VOP_ADVLOCK(vp, curproc(), F_SETLK, fl, F_POSIX)
            await vrele(vp)
            return r

        assert k.run(body) == EFAULT
        assert s.kargs.pa_vnopmask[PUFFS_VN_ADVLOCK] == 1
        assert s.channel.toserv_vn_ops[PUFFS_VN_ADVLOCK] == 0


def test_ioctl_argument_faults_on_getop_and_putop():
    """The other copies of the two ioctls: GETOP's argument copyin fails before
    anything is taken off the queue; PUTOP's argument copyout fails after the
    reply was delivered (the caller has its answer, the server an EFAULT)."""
    with h.Booted(seed=36) as k:
        m = Manual(k)
        out, _ = spawn_caller(k, lambda: h.stat_("/mnt"))

        async def faults():
            res = {}
            f = curmachine().faults.add("copyin", error=EFAULT, fail_nth=1, lwp=m.name)
            try:
                await m.get()
            except PuffsError as e:
                res["getop copyin"] = e.errno
            curmachine().faults.remove(f)
            pmp = h.mounted(curmachine(), "/mnt").mnt_data
            res["still queued"] = len(pmp.pmp_req_touser)
            frames = await m.get()
            # PUTOP: the 1st copyout is sys_ioctl's copy of the argument back
            f = curmachine().faults.add("copyout", error=EFAULT, fail_nth=1, lwp=m.name)
            try:
                await m.answer(frames)
            except PuffsError as e:
                res["putop copyout"] = e.errno
            curmachine().faults.remove(f)
            return res

        assert m.run(faults) == {"getop copyin": EFAULT, "still queued": 1,
                                 "putop copyout": EFAULT}
        m.serve_until(out)
        assert out[0][0] == 0
        m.exit()
