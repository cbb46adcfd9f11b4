"""The same server code in the machine and in another OS process.

tools.lib.libpuffs.remote: a RemoteServer in the machine shovels GETOP batches
over a socket to ``python -m tools.lib.libpuffs.remote``, where the unchanged
server class runs on a SocketChannel (NetBSD's fstest_puffs.c shovels).
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fs.puffs.puffs_msgif_h import (
    PUFFS_SUSPEND_RESUME,
    PUFFS_SUSPEND_START,
    PUFFS_SUSPEND_SUSPENDED,
    PUFFS_VFS_UNMOUNT,
    PUFFS_VN_GETATTR,
    PUFFS_VN_RECLAIM,
)
from kern.errno import EBUSY, ENOENT, ENXIO
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDWR
from kern.kern_lwp import PK_HOSTCHILD
from tests.host_procs import gone
from tools.lib import libc
from tools.lib.libpuffs import PUFFS_STATE_UNMOUNTED

from . import h_puffs as h

ROOT = Path(__file__).resolve().parents[3]


async def scenario() -> list:
    """A bit of everything; each step's result or errno."""
    out: list = []

    async def step(name, coro):
        try:
            r = await coro
        except SyscallError as e:
            r = ("errno", e.errno)
        out.append((name, bytes(r) if isinstance(r, ctypes.Structure) else r))
        return r

    fd = await step("create", libc.open("/mnt/file", O_RDWR | O_CREAT, 0o644))
    await step("write", libc.write(fd, b"x" * 70000 + b"tail"))
    await step("pread", libc.pread(fd, 8, 70000))
    await step("fsync", libc.fsync(fd))
    await step("close", libc.close(fd))
    await step("mkdir", libc.mkdir("/mnt/dir", 0o755))
    await step("link", libc.link("/mnt/file", "/mnt/dir/hard"))
    await step("symlink", libc.symlink("../file", "/mnt/dir/soft"))
    await step("readlink", libc.readlink("/mnt/dir/soft"))
    await step("rename", libc.rename("/mnt/file", "/mnt/dir/moved"))
    await step("rename-links", libc.rename("/mnt/dir/moved", "/mnt/dir/hard"))
    await step("chmod", libc.chmod("/mnt/dir/hard", 0o600))
    await step("truncate", libc.truncate("/mnt/dir/hard", 5))
    st = await step("stat", libc.stat("/mnt/dir/hard"))
    if not isinstance(st, tuple):
        out.append(("stat-fields", (st.st_ino, st.st_nlink, st.st_mode, st.st_size,
                                    st.st_mtimespec.tv_sec, st.st_ctimespec.tv_sec)))
    await step("listdir", libc.listdir("/mnt/dir"))
    await step("rmdir-notempty", libc.rmdir("/mnt/dir"))
    fd = await step("open", libc.open("/mnt/dir/hard", O_RDWR))
    await step("unlink-open", libc.unlink("/mnt/dir/hard"))
    await step("read-unlinked", libc.pread(fd, 100, 0))
    await step("close2", libc.close(fd))
    await step("missing", libc.stat("/mnt/nothing"))
    await step("unlink-soft", libc.unlink("/mnt/dir/soft"))
    await step("rmdir", libc.rmdir("/mnt/dir"))
    sv = await step("statvfs", libc.statvfs("/mnt"))
    if not isinstance(sv, tuple):
        out.append(("statvfs-fields", (sv.f_bsize, sv.f_namemax, sv.f_mntonname)))
    return out


def _run(k, server):
    res = k.run(scenario)
    assert k.run(h.unmount, "/mnt") == 0
    assert h.mounted(k, "/mnt") is None
    return res


def test_same_server_code_in_the_machine_and_in_another_process():
    with h.Booted(seed=41) as k:
        local = h.start_server(k)
        res_local = _run(k, local)
    with h.Booted(seed=41) as k:
        remote = h.start_remote_server(k)
        assert remote.pid != os.getpid()
        res_remote = _run(k, remote)
    assert res_remote == res_local
    assert ("rename-links", 0) in res_local and ("rmdir-notempty", ("errno", 66)) in res_local
    assert ("read-unlinked", b"xxxxx") in res_local
    # the kernel asked both the same questions ...
    assert remote.channel.toserv_vn_ops == local.channel.toserv_vn_ops
    assert remote.channel.toserv_vfs_ops == local.channel.toserv_vfs_ops
    assert local.channel.toserv_vn_ops[PUFFS_VN_GETATTR] > 0
    assert local.channel.toserv_vn_ops[PUFFS_VN_RECLAIM] > 0
    assert local.channel.toserv_vfs_ops[PUFFS_VFS_UNMOUNT] == 1
    # ... and every one of them reached the server process
    stats = remote.child_stats
    assert stats is not None
    assert stats["toserv_vn_ops"] == list(local.channel.toserv_vn_ops)
    assert stats["toserv_vfs_ops"] == list(local.channel.toserv_vfs_ops)
    assert stats["handled"] == local.handled and stats["errors"] == []
    assert (remote.loop_error, remote.died, remote.returncode) == (0, False, 0)
    assert (local.loop_error, local.errors, local.thread_errors) == (0, [], [])
    assert remote.thread_errors == [] and remote.errors == []


def test_control_requests_from_the_server_process():
    """suspend and flush called by the file system in the middle of a call:
    the same notices reach the server both ways."""
    from tools.lib.libpuffs.remote import CTL_FLUSH, CTL_START, CTL_SUSPEND

    from .h_remote import SelfSuspendingFS

    async def body():
        return [(await h.stat_("/mnt/suspend-me"))[0], (await h.stat_("/mnt"))[0]]

    with h.Booted(seed=47) as k:
        ops = SelfSuspendingFS()
        local = h.start_server(k, ops)
        ops.server = local
        res_local = k.run(body)
        assert k.run(h.unmount, "/mnt") == 0
    with h.Booted(seed=47) as k:
        remote = h.start_remote_server(k, "tests.fs.puffs.h_remote:SelfSuspendingFS")
        res_remote = k.run(body)
        assert k.run(h.unmount, "/mnt") == 0
    assert res_local == res_remote == [ENOENT, 0]
    assert ops.suspends[:3] == [PUFFS_SUSPEND_START, PUFFS_SUSPEND_SUSPENDED,
                                PUFFS_SUSPEND_RESUME]
    assert remote.child_stats["suspends"] == ops.suspends
    assert remote.ctl_ops == {CTL_START: 1, CTL_SUSPEND: 1, CTL_FLUSH: 1}
    assert remote.child_stats["errors"] == [] and not local.errors


def test_server_process_killed_mid_call(tmp_path):
    """The caller waiting on the dead server gets ENXIO, the mount goes away."""
    marker = tmp_path / "in-call"
    with h.Booted(seed=42) as k:
        s = h.start_remote_server(k, "tests.fs.puffs.h_remote:StallFS",
                                  ops_kwargs={"marker": str(marker)})

        def killer():
            for _ in range(2000):
                if marker.exists():
                    s.kill(9)
                    return
                time.sleep(0.005)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        error, _ = k.run(h.stat_, "/mnt/stall")
        t.join(10)
        assert error == ENXIO
        assert h.mounted(k, "/mnt") is None
        assert s.died and s.loop_error == ENXIO and s.returncode == -9
        assert k.run(h.stat_, "/mnt/x")[0] == ENOENT  # /mnt is rootfs's again


def test_server_process_killed_while_idle():
    with h.Booted(seed=43) as k:
        s = h.start_remote_server(k)
        s.kill(9)
        for _ in range(1000):                       # the shovel notices by itself
            if h.mounted(k, "/mnt") is None and s.returncode is not None:
                break
            time.sleep(0.01)
        assert h.mounted(k, "/mnt") is None
        assert s.died and s.returncode == -9
        assert k.run(h.stat_, "/mnt")[0] == 0


def test_refused_unmount_then_forced():
    with h.Booted(seed=44) as k:
        s = h.start_remote_server(k, ops_kwargs={"unmount_refusal": EBUSY})

        assert k.run(h.unmount_refused_then_forced, "/mnt") == [EBUSY, 0, 0]
        assert h.mounted(k, "/mnt") is None
        assert s.returncode == 1 and not s.died and s.loop_error == ENXIO
        assert s.child_stats["loop_error"] == ENXIO


def test_server_process_ends_with_the_machine():
    """A machine that stops without unmounting (no sync halt): the server
    process sees its socket close and exits."""
    with h.Booted(seed=45) as k:
        s = h.start_remote_server(k)
        k.halt(sync=False)
    p = s._popen
    assert p is not None
    assert p.wait(timeout=20) in (0, 1)


def test_the_halt_leaves_the_serving_process_to_reap_its_server():
    """A sync halt with the file system still mounted: the unmount loop takes it
    away, and the process that serves (PK_HOSTCHILD while it serves) is not
    stopped by the halt's suspendsched: it sees its server process go and
    reaps it (exit status 0, after a clean unmount), then lets PK_HOSTCHILD go.
    A serving process stopped with the others would leave the server unreaped."""
    with h.Booted(seed=47) as k:
        s = h.start_remote_server(k)
        assert s.proc.p_flag & PK_HOSTCHILD
        k.halt()
    assert (s.returncode, s.loop_error, s.died) == (0, 0, False)
    assert s.state == PUFFS_STATE_UNMOUNTED
    assert not s.proc.p_flag & PK_HOSTCHILD
    assert s.thread_errors == [] and s.errors == []


def test_up_shovel_failure_still_reaps_and_lets_the_hold_go(monkeypatch):
    """A failure no handler expects, injected where the up shovel unpacks a batch
    of replies: the shovel's lwp dies of it (kept in ``errors``), but first
    cuts the server off as when it dies: the caller waiting for its reply
    gets ENXIO (the device closed, the mount forced away), the server process
    is reaped, and PK_HOSTCHILD goes, so the halt stops the process with the
    others.  (The release used to be skipped: the caller waited for ever, and
    the serving process kept PK_HOSTCHILD.)"""
    from tools.lib.libpuffs import remote as remote_mod

    real = remote_mod.unpack_frames
    armed = []

    def failing(payload, n):
        if armed:
            raise RuntimeError("injected: up shovel failure")
        return real(payload, n)

    monkeypatch.setattr(remote_mod, "unpack_frames", failing)
    with h.Booted(seed=50) as k:
        s = h.start_remote_server(k)
        assert s.proc.p_flag & PK_HOSTCHILD
        armed.append(True)
        error, _ = k.run(h.stat_, "/mnt/x")
        assert error == ENXIO
        assert h.mounted(k, "/mnt") is None
        assert s.returncode is not None and s.state == PUFFS_STATE_UNMOUNTED
        assert s.died and s.loop_error == ENXIO
        assert not s.proc.p_flag & PK_HOSTCHILD
        assert [repr(e) for e in s.errors] == \
            ["RuntimeError('injected: up shovel failure')"]
        k.halt()
    assert s.thread_errors == []


def test_up_shovel_not_started_lets_the_hold_go(monkeypatch):
    """lwp_create fails when serve() starts the up shovel: serve() gives up as a
    failed start does (device closed, server reaped) and lets PK_HOSTCHILD go
    before the error ends the serving lwp."""
    from tools.lib.libpuffs import _sys

    real = _sys.lwp_create

    def no_lwp(afn, *args, name="lwp", **kw):
        if name.endswith("-up"):        # the up shovel's; the daemon's still starts
            raise RuntimeError("injected: lwp_create failure")
        return real(afn, *args, name=name, **kw)

    with h.Booted(seed=51) as k:
        s = h.start_remote_server(k)
        # The running server's up shovel is already there: a second serve()
        # of a fresh server shows the start path.
        k.run(h.unmount, "/mnt")
        assert not s.proc.p_flag & PK_HOSTCHILD
        monkeypatch.setattr(_sys, "lwp_create", no_lwp)
        s2 = h.start_remote_server(k)
        # before the halt, which would stop a process still holding it
        assert not s2.proc.p_flag & PK_HOSTCHILD
        assert s2.returncode is not None and s2.fd == -1
        k.halt()
    assert [repr(e) for e in s2.thread_errors] == \
        ["RuntimeError('injected: lwp_create failure')"]


_ORPHAN = """
import os, sys
from tests.fs.puffs import h_puffs as h
k = h.boot(seed=46)
k.start()
s = h.start_remote_server(k)
print(s.pid, flush=True)
os._exit(0)
"""


def test_server_process_ends_when_the_kernel_process_dies():
    p = subprocess.run([sys.executable, "-c", _ORPHAN], cwd=ROOT, capture_output=True,
                       text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    pid = int(p.stdout.split()[0])
    for _ in range(1000):
        if gone(pid):
            break
        time.sleep(0.01)
    assert gone(pid), f"server process {pid} outlived its kernel"


def test_server_process_that_cannot_start():
    """A class that does not exist: the server process exits before HELLO;
    the mount is not made and nothing is left behind."""
    from kern.errno import EIO
    from tools.lib.libpuffs import PuffsError
    from tools.lib.libpuffs.remote import RemoteServer

    with h.Booted(seed=48) as k:
        s = RemoteServer("tests.fs.puffs.h_remote:NoSuchFS", "memfs")

        async def body():
            try:
                await s.main("/mnt")
            except PuffsError as e:
                return e.errno
            return 0

        assert k.run(body) == EIO
        assert h.mounted(k, "/mnt") is None
        assert s.returncode == 1 and s.fd == -1


#: kemu's modules a server process may load: the puffs headers, libpuffs, the file
#: system (memfs) and the package __init__s above them.  The kernel core, the
#: harness, the system-call layer and libc stay out: importing them (and trio's
#: share that they would add) was most of the process's start-up (issue 13).
LEAN_SERVER_MODULES = frozenset({
    "kern", "kern._layout", "kern._lazy", "kern.cpu", "kern.errno", "kern.exceptions", "kern.fcntl",
    "kern.ioccom", "kern.machine", "kern.param",
    "vfs", "vfs.dirent", "vfs.statvfs",
    "fs", "fs.puffs", "fs.puffs.puffs_msgif_h",
    "tools", "tools.lib", "tools.lib.libpuffs", "tools.lib.libpuffs._sys",
    "tools.lib.libpuffs.channel", "tools.lib.libpuffs.errors", "tools.lib.libpuffs.ops",
    "tools.lib.libpuffs.remote", "tools.lib.libpuffs.server",
    "tools.puffs_servers", "tools.puffs_servers.memfs",
    "tests", "tests.fs", "tests.fs.puffs", "tests.fs.puffs.h_remote",
})


def test_server_process_loads_no_kernel(tmp_path):
    """What the server process has loaded once it answers requests: libpuffs and
    its file system, not the kernel (kern.kern_synch, kern.syscall, the harness,
    libc, the VFS), whose import used to be most of its start-up."""
    report = tmp_path / "modules"
    with h.Booted(seed=49) as k:
        s = h.start_remote_server(k, "tests.fs.puffs.h_remote:ModulesFS",
                                  ops_kwargs={"report": str(report)})
        assert k.run(h.stat_, "/mnt/modules")[0] == ENOENT
        assert k.run(h.stat_, "/mnt")[0] == 0
        assert k.run(h.unmount, "/mnt") == 0
    assert s.returncode == 0 and s.child_stats["errors"] == []
    loaded = set(report.read_text().split())
    assert {"tools.lib.libpuffs.remote", "tools.puffs_servers.memfs"} <= loaded
    for heavy in ("kern.kern_synch", "kern.syscall", "kern.machine.machine",
                  "tools.lib.libc", "vfs.mount", "kern.kern_descrip"):
        assert heavy not in loaded
    assert loaded <= LEAN_SERVER_MODULES, sorted(loaded - LEAN_SERVER_MODULES)


def test_frames_on_the_wire():
    from tools.lib.libpuffs.remote import MSG, pack_frames, unpack_frames

    frames = [bytearray(b"a" * 40), bytearray(), bytearray(range(256))]
    payload = pack_frames(frames)
    assert unpack_frames(payload, 3) == frames
    for bad, why in ((payload[:-1], "truncated frame"), (payload + b"x", "trailing bytes"),
                     (payload[:2], "truncated frame list")):
        with pytest.raises(ValueError, match=why):
            unpack_frames(bad, 3)
    assert MSG.size == 8


def test_attr_goes_over_the_wire_field_for_field():
    """Attr.to_wire (one statement per field) and from_wire (by the field lists)
    agree on every field: each given a value of its own comes back as given, and
    a field not given keeps what the wire vattr held."""
    import dataclasses

    from fs.puffs.puffs_msgif_h import vattr
    from tools.lib.libpuffs.ops import Attr

    a = Attr(type=1, blocksize=4096)
    names = [*Attr._U32, *Attr._U64]
    assert sorted(names + ["type", "blocksize", "atime", "mtime", "ctime", "birthtime",
                           "vaflags"]) == sorted(f.name for f in dataclasses.fields(Attr))
    for k, f in enumerate(names):
        setattr(a, f, 1000 + k)
    for k, f in enumerate(("atime", "mtime", "ctime", "birthtime")):
        setattr(a, f, (2000 + k, 3000 + k))
    va = vattr()
    a.to_wire(va)
    assert Attr.from_wire(va) == a
    b = Attr(size=7)
    b.to_wire(va)
    back = Attr.from_wire(va)
    assert back.size == 7 and back.mode == a.mode and back.mtime == a.mtime


def test_attr_to_wire_in_one_pack_stores_what_field_by_field_does():
    """A fully given Attr goes to the wire in one pack; values the pack refuses
    (a float, one that ctypes wraps, a missing time) go field by field.  Both
    store the same fields, and neither touches va_vaflags or va_spare.  (The pack
    zeroes the padding between fields, which the kernel's request holds zeroed.)"""
    import ctypes

    from fs.puffs.puffs_msgif_h import VATTR_WIRE, vattr
    from tools.lib.libpuffs.ops import Attr

    def full(**over: object) -> Attr:
        a = Attr(type=1, mode=0o100644, nlink=2, uid=1000, gid=100, fsid=7, fileid=42,
                 size=12345, blocksize=4096, atime=(1, 2), mtime=(3, 4), ctime=(5, 6),
                 birthtime=(7, 8), gen=9, flags=10, rdev=11, bytes=4096, filerev=12)
        for k, v in over.items():
            setattr(a, k, v)
        return a

    def by_field(a: Attr, va: vattr) -> None:
        for f in ("type", "blocksize", *Attr._U32, *Attr._U64):
            v = getattr(a, f)
            if v is not None:
                setattr(va, "va_" + f, int(v))
        for f in ("atime", "mtime", "ctime", "birthtime"):
            t = getattr(a, f)
            if t is not None:
                ts = getattr(va, "va_" + f)
                ts.tv_sec, ts.tv_nsec = int(t[0]), int(t[1])

    for a in (full(), full(uid=-1), full(mode=0o644 + 0.5), full(mtime=None),
              full(size=1 << 70), full(fsid=None), full(type=None, rdev=None)):
        got, want = vattr(), vattr()
        for va in (got, want):
            ctypes.memset(ctypes.addressof(va), 0xa5, ctypes.sizeof(va))
        a.to_wire(got)
        by_field(a, want)
        assert VATTR_WIRE.unpack(bytes(got)) == VATTR_WIRE.unpack(bytes(want)), a
        assert got.va_vaflags == 0xa5a5a5a5 and got.va_spare == want.va_spare
