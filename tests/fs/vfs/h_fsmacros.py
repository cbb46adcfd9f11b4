"""ATF_TC_FSAPPLY for kemu: run one test case over every registered file-system type.

This is kemu's counterpart of NetBSD's tests/fs/common/h_fsmacros.h and the
fstest_<fs>.c files behind it.  A case is a coroutine ``async def case(mp:
str)`` that runs in a user lwp of a machine, with a fresh file system of the
type under test mounted on ``mp`` ("/mnt"), and makes its system calls
through ``tools.lib.libc`` (a failing call raises ``kern.SyscallError`` carrying
NetBSD's errno).  ``fsapply(case, descr)`` makes the pytest test that runs it
once per type, the way ATF_TC_FSAPPLY makes one ATF test case per file
system::

    test_dir_simple = fsapply(dir_simple, "mkdir/rmdir")

For each type the test does what NetBSD's ATF_TC_FSADD body does, plus a
check NetBSD leaves to its unmount:

1. ``newfs`` (host side, before the machine boots: e.g. mke2fs an image);
2. boot a machine with the type's kernel configuration, ``prepare`` it
   (host side, the machine running: ``k.run`` is allowed here);
3. in one lwp of a fresh process: ``mount`` the file system on /mnt, run
   the case, ``unmount`` it -- and the unmount must succeed: a vnode
   reference the case (or the kernel) leaked shows up as EBUSY there;
4. ``delfs`` (host side, after the machine halted: e.g. ``e2fsck -fn`` must
   find the image clean).

The case learns which type it runs on through :func:`fstype` and NetBSD's
predicates (:func:`FSTYPE_EXT2FS`, ...), and skips itself with
:func:`atf_tc_skip`, as NetBSD's cases do.  Where NetBSD skips a case
because a file system lacks something (``USES_DIRS``, ``USES_SYMLINKS``,
rumpfs without rename), kemu asks the type whether it has that capability
(:func:`USES`), so the skip follows the file system's abilities rather
than its name.

Adding a file-system type
-------------------------

Make an :class:`FsType` and pass it to :func:`register_fstype` (from a
module imported by the test modules, or at the bottom of this one).  Its
``mount`` and ``unmount`` coroutines are the setup and teardown that run
in the machine around every case (NetBSD's <fs>_fstest_mount/unmount).
The puffs type at the bottom is an example with a server process: its
mount starts a memfs server (tools.lib.libpuffs.daemon in a process of its
own) and returns once it is RUNNING; its unmount is unmount(2), after
which the server's lwp must have exited::

    register_fstype(FsType(
        name="puffs", netbsd="puffs", mntname="puffs",
        mount=_puffs_mount, unmount=_puffs_unmount, config=PUFFS_CONFIG,
        supports=BASE_FEATURES | {"symlinks", "hardlinks", "rename", "nsec_times"},
        notes="a tools.puffs_servers.memfs server process ...",
    ))

``netbsd`` is the name NetBSD's FSTYPE_* predicates compare with (its
X-fs.type: "ext2fs", "rumpfs", "puffs", ...); ``supports`` lists the
capabilities the cases ask about (see :data:`FEATURES`); ``skip`` and
``xfail`` map a case's name to a reason, for kemu-specific known problems
(they become pytest marks; an xfail is strict, so a fix shows up as
XPASS -> failure and the mark has to go).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import kern
from kern.conf.GENERIC import config as GENERIC
from kern.errno import errorcode
from kern.exceptions import SyscallError
from kern.kernconf import KernelConfig
from kern.machine import testing as kt
from kern.syscall import syscall
from tools.lib import libc

FSTEST_MNTNAME = "/mnt"
FSTEST_IMGNAME = "image.fs"
FSTEST_IMGSIZE = 10000 * 512          # h_fsmacros.h's default image size
MAXNAMLEN = 511                       # <sys/dirent.h>
MAXPATHLEN = 1024

Case = Callable[[str], Awaitable[None]]

# Capabilities a case may ask about with USES().  NetBSD's reasons:
#   dirs       -- USES_DIRS (sysvbfs has no directories)
#   symlinks   -- USES_SYMLINKS (sysvbfs, msdosfs)
#   hardlinks  -- rename_reg_nodir's haslinks (msdosfs, sysvbfs)
#   rename     -- the rename_* cases skip rumpfs ("rename not supported")
#   owners     -- attrs: chown/chmod (msdosfs, sysvbfs)
#   nsec_times -- attrs: nanosecond atime/mtime (not ext2fs, msdosfs,
#                 sysvbfs, v7fs)
FEATURES = frozenset({"dirs", "symlinks", "hardlinks", "rename", "owners", "nsec_times"})
BASE_FEATURES = frozenset({"dirs", "owners"})


def _no_reason() -> str | None:
    return None


@dataclass
class FsEnv:
    """What the hooks of one run share: the machine, the host work directory, state."""

    fstype: FsType
    workdir: Path
    seed: int | None = None                           # None: --kemu-seed (default 0)
    mnt: str = FSTEST_MNTNAME
    k: kern.Machine | None = None
    image: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FsType:
    """One file-system type the cases run on (see the module docstring)."""

    name: str                                         # pytest id
    netbsd: str                                       # NetBSD's X-fs.type
    mntname: str                                      # f_fstypename it reports
    mount: Callable[[FsEnv], Awaitable[None]]         # in the machine; raises on failure
    unmount: Callable[[FsEnv], Awaitable[int]]        # in the machine; the errno
    config: KernelConfig | None = None               # None: GENERIC
    newfs: Callable[[FsEnv], None] | None = None      # host, before boot
    prepare: Callable[[FsEnv], None] | None = None    # host, machine running
    delfs: Callable[[FsEnv], None] | None = None      # host, after halt
    available: Callable[[], str | None] = _no_reason  # a reason to skip everything
    supports: frozenset[str] = BASE_FEATURES
    skip: dict[str, str] = field(default_factory=dict)
    xfail: dict[str, str] = field(default_factory=dict)
    notes: str = ""


FSTYPES: dict[str, FsType] = {}


def register_fstype(t: FsType) -> FsType:
    """Add a type to the list every fsapply() test runs over (in registration order)."""
    unknown = t.supports - FEATURES
    assert not unknown, f"{t.name}: unknown features {sorted(unknown)}"
    FSTYPES[t.name] = t
    return t


# ------------------------------------------------------------------ the case's view

_current: FsType | None = None


def fstype() -> FsType:
    """The type the running case was applied to."""
    assert _current is not None, "not inside an fsapply() case"
    return _current


def FSTYPE_EXT2FS() -> bool:
    return fstype().netbsd == "ext2fs"


def FSTYPE_RUMPFS() -> bool:
    return fstype().netbsd == "rumpfs"


def FSTYPE_PUFFS() -> bool:
    return fstype().netbsd == "puffs"


def FSTYPE_P2K_FFS() -> bool:
    return fstype().netbsd == "p2k_ffs"


def FSTYPE_MSDOS() -> bool:
    return fstype().netbsd == "msdosfs"


def FSTYPE_SYSVBFS() -> bool:
    return fstype().netbsd == "sysvbfs"


def FSTYPE_NFS() -> bool:
    return fstype().netbsd == "nfs"


def supports(feature: str) -> bool:
    assert feature in FEATURES, feature
    return feature in fstype().supports


def atf_tc_skip(reason: str) -> None:
    pytest.skip(f"{fstype().name}: {reason}")


def USES(feature: str, reason: str) -> None:
    """Skip the case unless the file system has ``feature`` (USES_DIRS and the like)."""
    if not supports(feature):
        atf_tc_skip(reason)


def errname(error: int) -> str:
    return errorcode.get(error, str(error))


async def require_errno(expected: int, call: Awaitable[Any], what: str = "") -> None:
    """ATF_REQUIRE_ERRNO: the call must fail with ``expected``."""
    try:
        r = await call
    except SyscallError as e:
        assert e.errno == expected, \
            f"{what}: expected {errname(expected)}, got {errname(e.errno)}"
        return
    raise AssertionError(f"{what}: expected {errname(expected)}, but the call returned {r!r}")


async def uaddr_call(code: int, *args: Any) -> int:
    """A raw system call (NetBSD's rump_sys_* with any pointer): str arguments
    become user strings (freed after), the others go as they are (0 is NULL)."""
    addrs: list[int] = []
    real = []
    for a in args:
        if isinstance(a, str):
            addrs.append(libc.ustr(a))
            real.append(addrs[-1])
        else:
            real.append(a)
    try:
        return await syscall(code, *real)
    finally:
        for a in addrs:
            libc.ufree(a)


async def FSTEST_ENTER() -> None:
    try:
        await libc.chdir(FSTEST_MNTNAME)
    except SyscallError as e:
        raise AssertionError(f"failed to cd into test mount: {e}") from None


async def FSTEST_EXIT() -> None:
    try:
        await libc.chdir("/")
    except SyscallError as e:
        raise AssertionError(f"failed to cd out of test mount: {e}") from None


# ------------------------------------------------------------------ running a case

async def _run_in_machine(t: FsType, env: FsEnv, case: Case) -> None:
    global _current

    try:
        await t.mount(env)
    except SyscallError as e:
        raise AssertionError(f"{t.name}: mount failed: {e}") from None
    _current = t
    try:
        await case(env.mnt)
    except BaseException:
        # The case failed or skipped itself: tidy up as far as possible, so
        # the report is about the case, not about the machine's halt.
        _current = None
        try:
            await libc.chdir("/")
            await t.unmount(env)
        except BaseException:  # noqa: BLE001 - the case's own error is the one to report
            pass
        raise
    _current = None
    error = await t.unmount(env)
    assert error == 0, (f"{t.name}: unmount of {env.mnt} failed: {errname(error)} "
                        "(a leaked vnode reference, or a case left its cwd there)")


def run_case(t: FsType, case: Case, workdir: Path, seed: int | None = None) -> None:
    """newfs, boot, mount, ``case(mnt)``, unmount (must succeed), halt, delfs."""
    reason = t.available()
    if reason:
        pytest.skip(f"{t.name}: {reason}")
    env = FsEnv(fstype=t, workdir=workdir, seed=seed)
    if t.newfs is not None:
        t.newfs(env)
    with kern.boot(seed=seed, config=t.config or GENERIC) as k:
        env.k = k
        if t.prepare is not None:
            t.prepare(env)
        p = k.proc_create("atf", k.initproc)
        k.run(_run_in_machine, t, env, case, name=case.__name__, proc=p)
    env.k = None
    if t.delfs is not None:
        t.delfs(env)


def fsapply(case: Case, descr: str) -> Callable[..., None]:
    """ATF_TC_FSAPPLY(case, descr): a pytest test running ``case`` on every type."""
    params = []
    for t in FSTYPES.values():
        marks: list[Any] = []
        if case.__name__ in t.skip:
            marks.append(pytest.mark.skip(reason=f"{t.name}: {t.skip[case.__name__]}"))
        if case.__name__ in t.xfail:
            marks.append(pytest.mark.xfail(reason=f"{t.name}: {t.xfail[case.__name__]}",
                                           strict=True))
        params.append(pytest.param(t, id=t.name, marks=marks))

    @pytest.mark.parametrize("fs", params)
    def test(fs: FsType, tmp_path: Path) -> None:
        run_case(fs, case, tmp_path)

    test.__name__ = f"test_{case.__name__}"
    test.__qualname__ = test.__name__
    test.__doc__ = f"{descr} ({case.__module__}.{case.__name__} on each file system)"
    return test


# ------------------------------------------------------------------ ext2fs

EXT2_CONFIG = GENERIC  # links ext2fs (module_path "ext2fs")


async def _unmount(env: FsEnv) -> int:
    """The unmount hook of the types whose teardown is just unmount(2)."""
    return await kt.unmount(env.mnt)


def _ext2_newfs(env: FsEnv) -> None:
    env.image = kt.make_ext2_image(env.workdir / FSTEST_IMGNAME, FSTEST_IMGSIZE, mkfs="mke2fs")


async def _ext2_mount(env: FsEnv) -> None:
    assert env.image is not None
    await kt.mount_image(env.image, env.mnt)


def _ext2_delfs(env: FsEnv) -> None:
    assert env.image is not None
    kt.assert_e2fsck_clean(env.image)


EXT2FS = register_fstype(FsType(
    name="ext2fs", netbsd="ext2fs", mntname="ext2fs",
    newfs=_ext2_newfs, mount=_ext2_mount, unmount=_unmount, delfs=_ext2_delfs,
    config=EXT2_CONFIG, available=kt.e2fsprogs_missing,
    supports=BASE_FEATURES | {"symlinks", "hardlinks", "rename"},
    notes="a fresh host mke2fs image (5 MB, 1 KiB blocks) as /dev/wd0; e2fsck -fn after",
))


# ------------------------------------------------------------------ rootfs

async def _rootfs_mount(env: FsEnv) -> None:
    await libc.mount("rootfs", env.mnt, 0, None)


ROOTFS = register_fstype(FsType(
    name="rootfs", netbsd="rumpfs", mntname="rootfs",
    mount=_rootfs_mount, unmount=_unmount,
    # NetBSD skips the rename cases on rumpfs because rumpfs had no rename;
    # kemu's in-memory file system has one, so they run here.
    supports=BASE_FEATURES | {"symlinks", "hardlinks", "rename", "nsec_times"},
    notes="a fresh instance of kemu's in-memory file system (mount -t rootfs)",
))


# ------------------------------------------------------------------ puffs (memfs)

PUFFS_CONFIG = GENERIC  # links puffs (module_path "puffs") and makes /dev/puffs
PUFFS_MOUNT_TICKS = 10 * 100   # how long the mount may take (virtual: 10 s)
PUFFS_EXIT_TICKS = 10 * 100    # how long the server may take to exit after unmount


def _server_trouble(st: dict[str, Any]) -> list[str]:
    """What went wrong in the server so far (its lwp's death, its handlers' bugs)."""
    server = st["server"]
    out = [f"server lwp died: {type(e).__name__}: {e}" for e in st["errors"]]
    out += [f"handler bug: {type(e).__name__}: {e}" for e in server.errors]
    return out


async def _puffs_mount(env: FsEnv) -> None:
    """puffs_fstest_mount: a memfs server process mounts env.mnt and serves it.

    The server gets a process of its own (a child of the case's), as a
    mount_<fs> daemon would; its lwp is started there with libpuffs'
    daemon() and runs ``PuffsServer.main`` (init, mount, start, mainloop).
    This returns once the server reached RUNNING (the kernel answered its
    PUFFSSTARTOP), so the case never meets EINPROGRESS from a mount that is
    still starting.
    """
    from kern.cpu import curmachine, curproc
    from kern.errno import EINPROGRESS, ESTALE
    from kern.kern_lwp import LSZOMB, lwp
    from kern.kern_synch import kpause
    from tools.lib.libpuffs import PUFFS_STATE_RUNNING, PuffsError, PuffsServer, daemon
    from tools.puffs_servers.memfs import FHSIZE, MemFS

    await kt.mkdir_p(env.mnt)
    m = curmachine()
    # File handles as dtfs has them for NetBSD's tests: static, 24 bytes,
    # and a stale one is ESTALE (t_vfsops tfhremove; 2007 dtfs said EINVAL).
    server = PuffsServer(MemFS(stale_errno=ESTALE), "memfs", fhsize=FHSIZE)
    st = env.state
    st.update(server=server, errors=[], rv=None, lwp=None)
    st["proc"] = p = m.proc_create("memfs", curproc())

    async def serve() -> None:
        st["rv"] = await server.main(env.mnt)

    async def starter() -> None:
        # In the server's process: daemon() starts the serving lwp there.
        st["lwp"] = await daemon(serve, name="memfs", errors=st["errors"])

    m.spawn_lwp(lwp(p, "memfs-start"), starter, ())

    for _ in range(PUFFS_MOUNT_TICKS):
        if server.state == PUFFS_STATE_RUNNING:
            break
        l = st["lwp"]
        if l is not None and l.l_stat == LSZOMB:
            for e in st["errors"]:
                if isinstance(e, PuffsError):
                    raise SyscallError(e.errno, f"memfs server: {e}")
            raise AssertionError(f"puffs: the memfs server exited before RUNNING: "
                                 f"{_server_trouble(st) or 'no error'}")
        await kpause("puffsmnt", False, 1, None)
    else:
        raise AssertionError("puffs: the memfs server did not reach RUNNING "
                             f"(state {server.state})")
    # The kernel side agrees: statvfs reaches the server (not EINPROGRESS).
    try:
        svb = await libc.statvfs1(env.mnt, 0)
    except SyscallError as e:
        assert e.errno != EINPROGRESS, "puffs: still mounting after RUNNING"
        raise
    assert svb.f_mntonname.decode() == env.mnt, svb.f_mntonname


async def _puffs_unmount(env: FsEnv) -> int:
    """unmount(2) the file system; after a successful unmount the server must exit.

    Its mainloop returns 0 after a clean unmount (the kernel's UNMOUNT
    request was answered and the loop saw the state UNMOUNTED), then it
    closes /dev/puffs.  A server that does not exit, whose loop ended with an
    error, or whose handlers raised is a failure (AssertionError).  A failed
    unmount (EBUSY: a leaked reference) leaves the server serving; the
    errno is the answer then.
    """
    from kern.cpu import curmachine

    error = await kt.unmount(env.mnt)
    st = env.state
    if error or "server" not in st:
        return error
    l = st["lwp"]
    assert l is not None, "puffs: no server lwp"
    if await kt.lwp_join(l, PUFFS_EXIT_TICKS):
        raise AssertionError(f"puffs: the memfs server did not exit after the unmount "
                             f"(lwp {l!r}, wmesg {l.l_wmesg!r})")
    trouble = _server_trouble(st)
    if st["rv"] != 0:
        trouble.append(f"mainloop returned {st['rv']!r} (expected 0)")
    assert not trouble, "puffs: " + "; ".join(trouble)
    curmachine().proc_destroy(st.pop("proc"))
    return 0


PUFFS = register_fstype(FsType(
    name="puffs", netbsd="puffs", mntname="puffs",
    mount=_puffs_mount, unmount=_puffs_unmount, config=PUFFS_CONFIG,
    supports=BASE_FEATURES | {"symlinks", "hardlinks", "rename", "nsec_times"},
    notes="a tools.puffs_servers.memfs server process (24-byte file handles) on /mnt",
))


# ------------------------------------------------------------------ puffs (memfs, another process)

async def _puffs_remote_mount(env: FsEnv) -> None:
    """The same memfs, as a separate OS process (lib/libpuffs/remote.py).

    The case's process starts ``python -m tools.lib.libpuffs.remote``, mounts
    with the arguments the server sends and starts the file system
    (puffs_daemon); a daemon forked from it then shovels the requests over
    the socket, the way NetBSD's fstest_puffs.c serves a forked h_dtfs.
    """
    from kern.errno import ESTALE
    from tools.lib.libpuffs import PuffsError, puffs_daemon
    from tools.lib.libpuffs.remote import RemoteServer
    from tools.puffs_servers.memfs import FHSIZE

    await kt.mkdir_p(env.mnt)
    server = RemoteServer("tools.puffs_servers.memfs:MemFS", "memfs",
                          ops_kwargs={"stale_errno": ESTALE}, fhsize=FHSIZE)
    env.state["server"] = server
    try:
        await puffs_daemon(server, env.mnt)
    except PuffsError as e:
        raise SyscallError(e.errno, f"memfs server process: {e}") from None


def _puffs_remote_delfs(env: FsEnv) -> None:
    """After the halt: the server process saw a clean unmount, its handlers
    raised nothing, and it exited with 0 (the daemon waited for it)."""
    server = env.state.get("server")
    if server is None:
        return
    stats = server.child_stats or {}
    assert (server.loop_error, server.died, server.returncode) == (0, False, 0), \
        (f"puffs_remote: loop_error {server.loop_error}, died {server.died}, "
         f"exit status {server.returncode}")
    assert stats.get("errors") == [], f"puffs_remote: handler bugs: {stats.get('errors')}"


PUFFS_REMOTE = register_fstype(FsType(
    name="puffs_remote", netbsd="puffs", mntname="puffs",
    mount=_puffs_remote_mount, unmount=_unmount, delfs=_puffs_remote_delfs,
    config=PUFFS_CONFIG,
    supports=BASE_FEATURES | {"symlinks", "hardlinks", "rename", "nsec_times"},
    notes="the memfs server as a separate OS process (tools.lib.libpuffs.remote), over a socket",
))
