"""touser's wait for the server's reply (fs/puffs/puffs_msgif.py, 1.27's touser).

touser sleeps in cv_wait_sig on its park and takes a return of 0 as "the
reply is in": it reads preq_rv from the request buffer and drops its park
reference, the only one 1.27 keeps, whether or not the park is still on a
queue.  NetBSD's cv_wait_sig returns 0 for more than putop's or
puffs_userdead's cv_signal: any setrunnable of an interruptible sleeper whose
check after the switch then finds no signal to act on (a signal another lwp
of the process took first; NetBSD's stop and continue; its reboot's
suspendsched).  So a call can fail with an errno the server never sent, its
park freed on the reply queue.  That is 1.27's and is kept (pinned below);
kemu must only not make such wakeups where NetBSD makes none.  Before it
queues a request, touser refuses it with EINTR when a signal is pending for
an lwp that was offered one (LW_PENDSIG).
"""

from __future__ import annotations

import ctypes
from typing import Any

import pytest

import kern
from fs.puffs.puffs_msgif import PARKFLAG_ONQUEUE2
from fs.puffs.puffs_msgif_h import (
    PUFFS_VFS_STATVFS,
    PUFFS_VN_GETATTR,
    PUFFS_VN_LOOKUP,
    PUFFSOP_VFS,
    PUFFSOP_VN,
    PUFFSOPFLAG_FAF,
    PUFFSPUTOP,
    puffs_reqh_put,
    puffs_vfsreq_statvfs,
)
from kern.cpu import curlwp, curmachine, curproc
from kern.errno import EBUSY, EINTR
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR
from kern.kern_lwp import LSSLEEP, LW_PENDSIG, LW_WSUSPEND, lwp
from kern.kern_mutex import mutex_enter, mutex_exit
from kern.kern_sig import SIG_BLOCK, SIG_UNBLOCK, SIGUSR1, psignal, sigprocmask1
from kern.kern_synch import kpause
from kern.machine import testing as kt
from kern.machine.testing import Gate, errno_of
from kern.subr_copy import uvm_map_user, uwrite
from kern.subr_kmem import _kmem
from kern.syscall import SYS_DYNAMIC_FIRST, syscall, syscall_establish
from tests.fs.ext2fs.helpers import sb_field
from tools.lib import libc
from tools.lib.libpuffs._sys import lwp_create
from tools.lib.libpuffs.channel import frame_header
from tools.puffs_servers.memfs import MemFS
from vfs.vfs_trans import FSTRANS_NORMAL, FSTRANS_SUSPENDED, fstrans_setstate

from . import h_puffs as h
from .test_faults import Manual

SYS_POST_BLOCKED = SYS_DYNAMIC_FIRST
SYS_INTR_THEN_GATE = SYS_DYNAMIC_FIRST + 1


class SlowGetattrFS(MemFS):
    """memfs whose next getattr, once armed, answers after ``delay`` seconds."""

    armed = False
    delay = 1.0

    async def node_getattr(self, node, cred, pid):
        if self.armed:
            self.armed = False
            await libc.nanosleep(self.delay)
        return await super().node_getattr(node, cred, pid)


async def sys_post_blocked(l, uap, retval) -> int:
    """SIGUSR1 to the caller's own process while the caller blocks it, then
    unblocked: a thread's sigprocmask(BLOCK), kill(getpid()),
    sigprocmask(UNBLOCK) with no other lwp of its process run in between."""
    sigprocmask1(l, SIG_BLOCK, {SIGUSR1}, None)
    psignal(l.l_proc, SIGUSR1)
    sigprocmask1(l, SIG_UNBLOCK, {SIGUSR1}, None)
    return 0


def test_a_signal_another_lwp_takes_first_ends_the_wait_with_no_reply_1_27():
    """Kept from 1.27 (puffs_msgif.py's D1).  An lwp waits in fstat for a
    getattr the server answers after a second.  Half a second in, the
    process's newer lwp posts SIGUSR1 with it blocked there: sigpost wakes the
    waiter (setrunnable), then the poster unblocks it and takes it on its own
    way back to user mode.  The waiter's check after the switch finds nothing
    left: cv_wait_sig returns 0 and touser takes that for the reply.  fstat
    fails at 0.5 s with an errno no one sent: preq_rv of a request the server
    never answered is the request's own opclass and optype (they share its
    bytes).  The park is released on the reply queue, where the next request
    reuses it and putop or puffs_userdead find it (puffs_userdead's KASSERT
    PARKFLAG_ONQUEUE2 then panics), so the machine stops here, before the
    server answers.  The freed-on-a-queue half is fixed by 1.40.6.3's park
    reference for each queue (puffs_msg_enqueue; the stored 1.40.6.1, of
    November 2007, does not have it yet); the 0 taken as the reply is still
    in 1.101.10.2's puffs_msg_wait, the newest revision stored."""
    fs = SlowGetattrFS()
    with h.Booted(seed=3) as k:
        assert syscall_establish(SYS_POST_BLOCKED, "post_blocked", sys_post_blocked,
                                 machine=k) == 0
        h.start_server(k, fs)
        mp = h.mounted(k)

        async def body():
            m = curmachine()
            got: dict = {"handled by": []}

            async def on_usr1(signo: int) -> None:
                got["handled by"].append(curlwp().l_name)

            await libc.signal(SIGUSR1, on_usr1)
            fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
            await libc.write(fd, b"twelve bytes")
            got["real"] = await libc.fstat(fd)

            async def poster() -> None:
                await libc.nanosleep(0.5)
                await syscall(SYS_POST_BLOCKED)

            m.spawn_lwp(lwp(curproc(), "poster"), poster, ())
            fs.armed = True
            t0 = m.now()
            got["during"] = await errno_of(libc.fstat(fd))
            got["t"] = m.now() - t0
            pmp = mp.mnt_data
            await mutex_enter(pmp.pmp_lock)
            got["replywait"] = [(p.park_refcount, p.park_preq) for p in pmp.pmp_req_replywait]
            got["queued"] = len(pmp.pmp_req_touser)
            mutex_exit(pmp.pmp_lock)
            return got

        got = k.run(body, proc=k.proc_create("caller", k.initproc))
        k.halt(sync=False)
    assert got["handled by"] == ["poster"]
    assert got["real"].st_size == 12
    assert round(got["t"], 3) == 0.5                  # not the server's 1.0
    # preq_rv shares its bytes with preq_opclass and preq_optype (the header's
    # union): the "reply" is the request's own class and type.
    assert got["during"] == PUFFSOP_VN | PUFFS_VN_GETATTR << 8 == 1538
    assert got["replywait"] == [(0, None)]            # released, still on the queue
    assert got["queued"] == 0


async def sys_intr_then_gate(l, uap, retval) -> int:
    """Sleep interruptibly until a signal, then wait (uninterruptibly) for the
    test's gate before going back to user mode, where the signal is taken."""
    error = await kpause("intr", True, 0, None)
    await l.l_proc.p_specific["gate"].wait()
    return error


def test_a_signal_offered_to_another_lwp_does_not_refuse_a_call():
    """touser refuses a call with EINTR when LW_PENDSIG says this lwp was offered
    a signal and one is pending (1.27: ``(l->l_flag & LW_PENDSIG) != 0 &&
    sigispending(l, 0)``).  A signal to the process that sigpost gave the
    newest lwp (asleep interruptibly: woken, and the search stops there) is
    pending for the caller too, but the caller was not offered it: its stat
    goes to the server and gets the answer, and the other lwp takes the
    signal on its own way back to user mode (held at a gate until then).
    kemu's touser tested sigispending alone and answered EINTR."""
    with h.Booted(seed=4) as k:
        assert syscall_establish(SYS_INTR_THEN_GATE, "intr_then_gate", sys_intr_then_gate,
                                 machine=k) == 0
        h.start_server(k)

        async def body():
            m = curmachine()
            p = curproc()
            got: dict = {"handled by": []}

            async def on_usr1(signo: int) -> None:
                got["handled by"].append(curlwp().l_name)

            await libc.signal(SIGUSR1, on_usr1, 0)      # no SA_RESTART: EINTR
            fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
            await libc.write(fd, b"twelve bytes")
            await libc.close(fd)
            p.p_specific["gate"] = gate = Gate()

            async def other() -> None:
                got["other"] = await errno_of(syscall(SYS_INTR_THEN_GATE))

            m.spawn_lwp(lwp(p, "other"), other, ())
            await libc.nanosleep(0.1)
            await libc.kill(p.p_pid, SIGUSR1)
            got["offered"] = bool(curlwp().l_flag & LW_PENDSIG)
            got["pending"] = SIGUSR1 in p.p_sigpend
            error, sb = await h.stat_("/mnt/f")
            got["stat"] = (error, sb.st_size if sb is not None else None)
            gate.open()
            await libc.nanosleep(0.1)
            return got

        got = k.run(body, proc=k.proc_create("caller", k.initproc))
    assert (got["offered"], got["pending"]) == (False, True)
    assert got["stat"] == (0, 12)
    assert got["other"] == EINTR and got["handled by"] == ["other"]


class SlowLookupFS(MemFS):
    """memfs whose lookup of "slow" answers after 100 seconds."""

    async def node_lookup(self, dir, cn):
        if cn.name == b"slow":
            await libc.nanosleep(100)
        return await super().node_lookup(dir, cn)


def test_a_halt_without_sync_leaves_a_caller_waiting_for_its_reply():
    """kemu's halt stops the user processes with RB_NOSYNC too (NetBSD's CPU just
    stops).  It must wake no sleeper then: a process waiting in a lookup stays
    asleep on its park, flagged to stop at its return to user mode.  Woken with
    0, touser took the request's own preq_rv for the reply, released the park
    on the reply queue, and the caller's next request reused it (one park on
    both queues, under another request)."""
    with h.Booted(seed=6) as k:
        h.start_server(k, SlowLookupFS())
        mp = h.mounted(k)
        got: dict = {}

        async def body():
            async def child() -> int:
                got["stat"] = await h.stat_("/mnt/slow")
                return 0

            pid = await libc.fork(child)
            await libc.nanosleep(0.5)
            return pid

        pid = k.run(body, proc=k.proc_create("parent", k.initproc))
        k.halt(sync=False)
        (l,) = k.procs[pid].p_lwps
        pmp = mp.mnt_data
        replywait = [(p.park_hdr.preq_optype, p.park_refcount) for p in pmp.pmp_req_replywait]
        touser = list(pmp.pmp_req_touser)
    assert "stat" not in got
    assert (l.l_stat, l.l_wmesg) == (LSSLEEP, "puffsrpl") and l.l_flag & LW_WSUSPEND
    assert replywait == [(PUFFS_VN_LOOKUP, 1)]
    assert touser == []


def _d1_park_made_a_faf(k: kern.Machine) -> tuple[Any, dict, dict]:
    """s21-touser's path (the test below says it step by step), up to the
    fstatvfs that a hostile reply into a D1 park made a FAF having returned,
    its request still on the touser queue: the hand-driven server (test_faults'
    Manual), what the caller saw and what the server saw (the park under
    "park").  The machine is left as it is (the park on both queues)."""
    assert syscall_establish(SYS_POST_BLOCKED, "post_blocked", sys_post_blocked,
                             machine=k) == 0
    m = Manual(k)
    mp = h.mounted(k)
    pmp = mp.mnt_data
    caller = k.proc_create("caller", k.initproc)
    got: dict = {"handled by": []}

    async def start_caller() -> None:
        async def on_usr1(signo: int) -> None:
            got["handled by"].append(curlwp().l_name)

        await libc.signal(SIGUSR1, on_usr1)
        p = curproc()
        first = p.p_specific["first"] = Gate()
        post = p.p_specific["post"] = Gate()
        again = p.p_specific["again"] = Gate()

        async def waiter() -> None:
            got["waiter"] = curlwp()
            fd = await libc.open("/mnt", O_RDONLY)
            got["fd"] = fd
            await first.wait()
            got["d1"] = await errno_of(libc.fstat(fd))
            await again.wait()
            try:
                got["second"] = (0, (await libc.fstatvfs1(fd, 1)).f_files)
            except SyscallError as e:
                got["second"] = (e.errno, None)

        async def poster() -> None:
            await post.wait()
            await syscall(SYS_POST_BLOCKED)

        lwp_create(waiter, name="waiter")
        lwp_create(poster, name="poster")

    k.run(start_caller, proc=caller)

    async def locked(fn):
        # (a look at the queues under pmp_lock, which guards them, so that
        # the race detector (--kemu-race) sees the test's reads locked)
        await mutex_enter(pmp.pmp_lock)
        try:
            return fn()
        finally:
            mutex_exit(pmp.pmp_lock)

    async def until(cond, what: str, serve: bool = False) -> None:
        for _ in range(200):
            if await locked(cond):
                return
            if serve:
                await m.drain()
            await kpause("until", False, 1, None)
        raise AssertionError(f"never: {what}")

    async def server() -> dict:
        seen: dict = {}
        # the open is answered as memfs would; the fstat's GETATTR is
        # fetched and kept (on replywait)
        await until(lambda: "fd" in got, "the open", serve=True)
        assert await m.drain() == 0
        caller.p_specific["first"].open()
        await until(lambda: pmp.pmp_req_touser, "the fstat's request")
        (f,) = await m.get()
        hdr = frame_header(f)
        assert (hdr.preq_opclass, hdr.preq_optype) == (PUFFSOP_VN, PUFFS_VN_GETATTR)
        (park,) = await locked(lambda: list(pmp.pmp_req_replywait))
        caller.p_specific["post"].open()
        await until(lambda: "d1" in got, "D1")
        seen["d1 park"] = (park.park_refcount, park.park_id == hdr.preq_id)
        seen["park"] = park

        # the mount suspended (a gate for touser's fstrans_start); the fstatvfs
        await fstrans_setstate(mp, FSTRANS_SUSPENDED)
        caller.p_specific["again"].open()
        l = got["waiter"]
        await until(lambda: l.l_wmesg == "fstchg", "the fstatvfs asleep in fstrans_start")
        preq = park.park_hdr
        seen["asleep"] = await locked(lambda: (
            pmp.pmp_req_replywait == [park], pmp.pmp_req_touser == [],
            park.park_id - hdr.preq_id, park.park_flags & PARKFLAG_ONQUEUE2,
            (preq.preq_opclass, preq.preq_optype)))

        # the hostile reply under the guessed next id: rv EBUSY, f_files 4242
        reply = bytearray(park.park_maxlen)
        r = puffs_vfsreq_statvfs.from_buffer(reply)
        r.pvfsr_pr.preq_rv = EBUSY
        r.pvfsr_sb.f_files = 4242
        del r
        p = curproc()
        ubuf = uvm_map_user(p, len(reply))
        uwrite(p, ubuf, bytes(reply))
        php = puffs_reqh_put(php_nops=1, php_id=hdr.preq_id + 1, php_buf=ubuf,
                             php_buflen=len(reply))
        seen["putop"] = await errno_of(libc.ioctl(m.ch.fd, PUFFSPUTOP, php))
        seen["after putop"] = park.park_hdr.preq_opclass

        await fstrans_setstate(mp, FSTRANS_NORMAL)
        for _ in range(100):
            if "second" in got:
                break
            await kpause("second", False, 1, None)
        seen["touser"] = await locked(lambda: [q is park for q in pmp.pmp_req_touser])
        seen["waiter"] = (l.l_wmesg, l.l_stat)
        return seen

    seen = m.run(server)
    return m, got, seen


def test_a_reply_into_a_d1_park_makes_the_next_call_a_faf_while_it_waits_in_fstrans():
    """touser reads the request's opclass again at each of its tests, as 1.27
    does (``PUFFSOP_WANTREPLY(preq->preq_opclass)``), and that matters.  A
    GETATTR the server fetched is ended by D1 (the poster's blocked SIGUSR1,
    as above): its park is released on the replywait queue.  The caller's
    next request, an fstatvfs's STATVFS (a VFS request: no vnode lock, so no
    transaction held), reuses that park (the pool is LIFO) under the next id,
    and touser sleeps in fstrans_start (the test holds the mount SUSPENDED, a
    gate).  A hostile server answers that id (the old one plus one) before
    the request was ever sent: putop finds the park on replywait and copies
    the reply into the request's buffer, where its preq_rv, EBUSY (16), is
    an opclass with PUFFSOPFLAG_FAF set.  Once the mount resumes, touser
    queues the request and, reading the opclass again, takes it for a FAF: it
    does not wait, and fstatvfs succeeds at once with that reply's statvfs
    (f_files 4242; EBUSY is never seen), the request left on the touser
    queue.  With the opclass read once at the top, the call would wait on its
    park for a reply no one sends (putop's cv_signal came before it slept).
    The machine stops here, as above (the park is on both queues:
    puffs_userdead would panic; the server's next GETOP frees the request
    puffs_statvfs freed: the last test).

    Of the other two tests, the PCATCH one comes before any sleep in touser,
    and the PUFFSTAT_RUNNING one (a FAF's buffer freed on ENXIO) cannot see
    the rewritten header: only puffs_userdead makes the mount DYING, and it
    panics first on this park (on replywait without PARKFLAG_ONQUEUE2, which
    the new request's park_flags = 0 cleared)."""
    with h.Booted(seed=7) as k:
        m, got, seen = _d1_park_made_a_faf(k)
        k.halt(sync=False)
    assert got["handled by"] == ["poster"]
    assert got["d1"] == PUFFSOP_VN | PUFFS_VN_GETATTR << 8          # D1, as above
    assert seen["d1 park"] == (0, True)             # released, still on replywait
    # asleep in fstrans_start: the park reused for the STATVFS, under the next
    # id, not queued (and not flagged ONQUEUE2: the request set park_flags 0)
    assert seen["asleep"] == (True, True, 1, 0, (PUFFSOP_VFS, PUFFS_VFS_STATVFS))
    assert seen["putop"] == 0
    assert seen["after putop"] == EBUSY == PUFFSOPFLAG_FAF  # the reply's rv, read as a FAF
    # the opclass read again: the call went down the FAF path, not waited for,
    # with the reply's statvfs
    assert got.get("second") == (0, 4242), seen["waiter"]
    assert seen["touser"] == [True]


MB = 1 << 20


async def _img_mounted_and_written(img: str) -> None:
    """The host image mounted read-write on /img, a file written to it (no sync)."""
    await kt.mkdir_p("/img")
    await kt.mount_image(img, "/img")
    await kt.write_file("/img/file", b"written before the crash\n")


def test_a_d1_park_a_reply_made_a_faf_has_its_buffer_freed_twice_1_27(tmp_path):
    """Kept from 1.27 through D1 (puffs_msgif.py's header).  After the test
    above, the fstatvfs's request (its park the one D1 left on replywait, taken
    for a FAF because the hostile reply's preq_rv set PUFFSOPFLAG_FAF in the
    header) is still on the touser queue, but puffs_statvfs (puffs_vfsops.c
    1.38) did what it does after any touser: FREE(statvfs_arg, M_PUFFS).  The
    server's next GETOP takes the park and, the opclass saying FAF, frees the
    request's buffer (1.27's getop: ``free(preq, M_PUFFS)``, then the park,
    fullnuke) a second time.  kemu's allocator panics on the spot, in getop
    ("free: 'bytearray' was not allocated (double free?)"); NetBSD's DIAGNOSTIC
    malloc (kern_malloc.c) panics "free: duplicated free" after "multiply
    freed item %p" while the buffer is still on its bucket's free list, and
    frees someone else's buffer without a word once it was handed out again
    (subr_kmem.py's header: kemu's checks every free).  The machine halts as
    a panic does: nothing synced, the host image it had mounted read-write
    named as possibly inconsistent and left "not clean", and the dead
    machine raising the panic again for each later request.

    Gone by 1.40.6.1 (2007-11-06, the next revision stored; which revision
    between it and 1.27 made the change is not stored): the request buffer
    belongs to the park (puffs_msgmem_alloc) and is freed once, by
    puffs_msgpark_release1 when the last reference goes; and a FAF is a
    park flag (PARKFLAG_WANTREPLY), which no reply can set.  1.40.6.1's
    touser takes a reference for the queues only for a FAF (and for a
    waiter a signal took off a park on replywait), so a D1 park there would
    be freed (its caller's release the last) while still on replywait;
    1.40.6.3 (2008-01-09) takes one for each queue (puffs_msg_enqueue), so
    the D1 park is not freed or reused while on replywait.
    puffs_vfsop_statvfs (1.106.2.2, stored) ends with PUFFS_MSG_RELEASE,
    not FREE."""
    img = kt.make_ext2_image(tmp_path / "disk.img", 8 * MB)
    with h.Booted(seed=7) as k:
        k.run(_img_mounted_and_written, img)
        m, got, seen = _d1_park_made_a_faf(k)
        park = seen["park"]
        buf = park.park_preq
        # s21-touser's path: the fstatvfs returned at once with the reply's
        # statvfs, its request on the touser queue with the FAF flag set
        assert got.get("second") == (0, 4242) and seen["touser"] == [True]
        assert park.park_hdr.preq_opclass & PUFFSOPFLAG_FAF
        # puffs_statvfs freed the buffer the queued park still points at
        assert id(buf) not in _kmem.of(k).live
        with pytest.raises(kern.KernelPanic) as ei:
            m.run(m.get)          # the server's next GETOP
        with pytest.raises(kern.KernelPanic) as again:
            k.run(kpause, "after", False, 1, None)
    msg = ei.value.message.splitlines()
    assert msg[0] == "panic: free: 'bytearray' was not allocated (double free?)"
    # in getop's FAF branch, of the buffer puffs_statvfs had freed
    calls = [f.rsplit(" in ", 1)[1] for f in ei.value.crash.lwp("manual").stack]
    assert calls[calls.index("puffs_getop") + 1] == "free"
    assert park.park_preq is buf and len(buf) == ctypes.sizeof(puffs_vfsreq_statvfs)
    assert again.value is ei.value
    assert k.state == "failed"
    note = (f"host image {img} (/dev/wd0) may be inconsistent: the machine crashed "
            "without syncing or unmounting its file systems")
    assert msg[1:] == [note] and ei.value.crash.notes == [note]
    assert "syncing disks" not in k.dmesg()
    assert sb_field(img, 0x3A, "<H") & 1 == 0   # s_state without EXT2_VALID_FS: not clean
