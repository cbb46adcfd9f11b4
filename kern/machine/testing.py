"""The test author's kit: disks, file systems, snapshots and servers for tests of kemu machines.

Installed with kemu, beside the pytest plugin (kern/machine/plugin.py) whose
fixtures are built on it.  Two kinds of helpers:

* **host side** (plain functions, no machine needed): make an ext2 image
  (:func:`make_ext2_image`: the host's mke2fs when e2fsprogs is installed,
  else kemu's own newfs_ext2fs), judge one (:func:`e2fsck`,
  :func:`assert_e2fsck_clean`: ``e2fsck -fn``, a pytest skip naming what is
  missing when e2fsprogs is not installed), compare two
  (:func:`image_diff`, :func:`assert_same_image`), seeds for sweeps
  (:func:`sweep`);
* **in the machine** (``async def``, called from a user lwp, e.g. in the body
  given to ``k.run``): attach a host image (:func:`attach_disk`) or a memory
  disk (:func:`attach_memory_disk`), mount ext2 (:func:`mount_ext2`), a
  puffs server (:func:`mount_memfs`, :func:`mount_passthrough`: in the
  machine or in a separate OS process; :class:`PuffsMount` counts its
  requests and checks the server's end), configure and unconfigure an fss(4)
  snapshot (:func:`snapshot`, :class:`Snapshot`, :func:`fss_set_ioctl`),
  read a device (:func:`read_device`, :func:`dump_device`), files
  (:func:`write_file`, :func:`read_file`), and :func:`errno_of`;
* **choreography** of lwps in kernel-level tests: :class:`Gate`, a one-shot
  event built on a mutex and a condvar.

Everything in the machine goes through system calls (tools.lib.libc), as a
program would; a failing call raises ``kern.SyscallError`` with its errno::

    from kern.machine import testing as kt

    async def body():
        await kt.attach_disk(image)              # /dev/wd0 and /dev/rwd0
        await kt.mount_ext2("/dev/wd0", "/mnt")
        await kt.write_file("/mnt/f", b"old")
        async with await kt.snapshot("/mnt") as snap:   # /dev/fss0 of /mnt
            await kt.write_file("/mnt/f", b"new")
            return await kt.read_device(snap.rdev)

    frozen = k.run(body)
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kern.exceptions import SyscallError

KiB = 1 << 10
MiB = 1 << 20

SWEEP_OVERRIDE: int | None = None
SWEEP_BASE: int | None = None


# ================================================================== seeds

def sweep(n: int, base: int = 0) -> list[int]:
    """Seeds for a seed sweep: ``@pytest.mark.parametrize("seed", sweep(50))``.

    ``pytest --kemu-sweep=N`` changes how many, ``--kemu-sweep-base=B`` where
    they start (B + the test's own base); with pytest-xdist installed
    (``pytest -n auto``) the seeds run in parallel.
    """
    count = SWEEP_OVERRIDE if SWEEP_OVERRIDE is not None else n
    start = base + (SWEEP_BASE or 0)
    return list(range(start, start + count))


async def errno_of(call: Awaitable[Any]) -> int:
    """Await a system call (a libc stub): 0 when it succeeds, else its NetBSD errno."""
    try:
        await call
    except SyscallError as e:
        return e.errno
    return 0


# ================================================================== host side: images

def _find(tool: str) -> str | None:
    return shutil.which(tool) or next((p for p in (f"/sbin/{tool}", f"/usr/sbin/{tool}")
                                       if os.path.exists(p)), None)


#: Where e2fsprogs' tools are on this host (None: not installed).
E2FSPROGS: dict[str, str | None] = {t: _find(t) for t in ("mke2fs", "e2fsck", "debugfs",
                                                          "dumpe2fs")}


def e2fsprogs_missing(*tools: str) -> str | None:
    """Why a test needing ``tools`` (default mke2fs and e2fsck) cannot run, or None."""
    missing = [t for t in (tools or ("mke2fs", "e2fsck")) if E2FSPROGS.get(t) is None]
    if missing:
        return (f"e2fsprogs ({', '.join(missing)}) not installed "
                "(Debian: apt-get install e2fsprogs)")
    return None


def require_e2fsprogs(*tools: str) -> None:
    """Skip the running test (pytest.skip) unless e2fsprogs' ``tools`` are installed."""
    reason = e2fsprogs_missing(*tools)
    if reason:
        import pytest

        pytest.skip(reason)


# mke2fs is made deterministic (fixed UUID, directory hash seed and clock), so
# that an image depends only on its parameters: what the tests see is the same
# from run to run, and an image is formatted once per process and copied.
_MKE2FS_UUID = "6b656d75-e2f5-4000-8000-000000000001"
_MKE2FS_HASH_SEED = "6b656d75-e2f5-4000-8000-000000000002"
_MKE2FS_TIME = "1700000000"  # 2023-11-14 22:13:20 UTC
# (size, block, extra) -> the formatted image as (offset, bytes) runs of its
# non-zero 4 KiB blocks (mke2fs writes a few hundred KiB of a sparse file)
_formatted: dict[tuple[int, int, tuple[str, ...]], list[tuple[int, bytes]]] = {}


def _nonzero_runs(path: str, chunk: int = 4096) -> list[tuple[int, bytes]]:
    runs: list[tuple[int, bytes]] = []
    zero = bytes(chunk)
    with open(path, "rb") as f:
        data = f.read()
    start = -1
    for off in range(0, len(data), chunk):
        z = data[off:off + chunk] == zero[:len(data) - off]
        if not z and start < 0:
            start = off
        elif z and start >= 0:
            runs.append((start, data[start:off]))
            start = -1
    if start >= 0:
        runs.append((start, data[start:]))
    return runs


def make_ext2_image(path: str | os.PathLike[str], size: int, *, block: int = 1024,
                    root: str | None = None, extra: tuple[str, ...] = (),
                    mkfs: str = "auto") -> str:
    """A fresh (sparse) ext2 image of ``size`` bytes at host ``path``; the path.

    ``mkfs``: "mke2fs" (the host's e2fsprogs; a skip when missing), "newfs"
    (kemu's tools/newfs_ext2fs.py, revision 1, on the host file) or "auto"
    (mke2fs when installed, else newfs).  ``root`` (a host directory to copy
    in, mke2fs -d) and ``extra`` (more mke2fs options) need mke2fs.

    mke2fs runs with a fixed UUID, hash seed and clock (``extra`` may
    override the first two: ``-U``, ``-E hash_seed=``), so the same
    parameters give the same bytes; without ``root`` the image is formatted
    once per process and copied.  mke2fs keeps only its last ``-E`` (or
    ``-R``), so the ``-E`` options of ``extra`` are joined after kemu's in
    one: a later key wins, and the others stay.
    """
    path = os.fspath(path)
    if mkfs == "auto":
        mkfs = "mke2fs" if E2FSPROGS["mke2fs"] or root or extra else "newfs"
    key = (size, block, tuple(extra))
    runs = _formatted.get(key) if mkfs == "mke2fs" and root is None else None
    with open(path, "wb") as f:
        f.truncate(size)
        for off, data in runs or ():
            f.seek(off)
            f.write(data)
    if runs is not None:
        return path
    if mkfs == "mke2fs":
        require_e2fsprogs("mke2fs")
        eopts, rest = [f"root_owner=0:0,hash_seed={_MKE2FS_HASH_SEED}"], []
        it = iter(extra)
        for a in it:
            if a in ("-E", "-R"):
                v = next(it, None)
                if v is None:
                    rest.append(a)   # mke2fs says what is missing
                else:
                    eopts.append(v)
            elif a.startswith(("-E", "-R")):
                eopts.append(a[2:])
            else:
                rest.append(a)
        args = [E2FSPROGS["mke2fs"] or "mke2fs", "-q", "-F", "-t", "ext2", "-b", str(block),
                "-U", _MKE2FS_UUID, "-E", ",".join(o for o in eopts if o)]
        if root is not None:
            args += ["-d", root]
        subprocess.run([*args, *rest, path], check=True, capture_output=True,
                       env={**os.environ, "E2FSPROGS_FAKE_TIME": _MKE2FS_TIME})
        if root is None:
            _formatted[key] = _nonzero_runs(path)
    elif mkfs == "newfs":
        from tools.newfs_ext2fs import HostTarget, newfs_ext2fs, newfs_params

        t = HostTarget(path)
        try:
            newfs_ext2fs(t, newfs_params(fssize=size // 512, bsize=block, Oflag=1,
                                         verbosity=0))
        finally:
            t.close()
    else:
        raise ValueError(f"mkfs must be 'auto', 'mke2fs' or 'newfs', not {mkfs!r}")
    return path


def e2fsck(path: str | os.PathLike[str]) -> tuple[int, str]:
    """``e2fsck -fn path``: (exit status, output); 0 means clean.  Skips without e2fsck."""
    require_e2fsprogs("e2fsck")
    p = subprocess.run([E2FSPROGS["e2fsck"] or "e2fsck", "-fn", os.fspath(path)],
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def assert_e2fsck_clean(path: str | os.PathLike[str]) -> None:
    """e2fsck -fn must find the image clean (a skip without e2fsprogs)."""
    rc, out = e2fsck(path)
    assert rc == 0, f"e2fsck -fn {os.fspath(path)} exits {rc}:\n{out}"


def image_diff(actual: bytes | str | os.PathLike[str], expected: bytes | str | os.PathLike[str],
               block: int = 4096, limit: int = 8) -> list[str]:
    """Where two images (bytes, or host paths) differ: at most ``limit`` lines, empty if same."""
    a = actual if isinstance(actual, bytes) else open(actual, "rb").read()
    b = expected if isinstance(expected, bytes) else open(expected, "rb").read()
    out = []
    if len(a) != len(b):
        out.append(f"sizes differ: {len(a)} against {len(b)} bytes")
    for off in range(0, min(len(a), len(b)), block):
        if a[off:off + block] != b[off:off + block]:
            first = next(i for i in range(off, off + block) if a[i] != b[i])
            out.append(f"block {off // block} (offset {off}) differs, first at byte {first}")
            if len(out) >= limit:
                out.append("...")
                break
    return out


def assert_same_image(actual: bytes | str | os.PathLike[str],
                      expected: bytes | str | os.PathLike[str]) -> None:
    """``actual`` (a snapshot read back, say) must equal ``expected`` byte for byte."""
    diff = image_diff(actual, expected)
    assert not diff, "images differ:\n  " + "\n  ".join(diff)


# ================================================================== in the machine: files

async def write_file(path: str, data: bytes, flags: int | None = None,
                     mode: int = 0o644) -> None:
    """Create (or truncate) ``path`` and write ``data`` to it."""
    from kern.fcntl import O_CREAT, O_TRUNC, O_WRONLY
    from tools.lib import libc

    fd = await libc.open(path, O_WRONLY | O_CREAT | O_TRUNC if flags is None else flags, mode)
    try:
        off = 0
        while off < len(data):
            off += await libc.write(fd, data[off:off + 65536])
    finally:
        await libc.close(fd)


async def read_file(path: str, bs: int = 65536) -> bytes:
    """All of ``path`` (a file or a device), read ``bs`` bytes at a time."""
    from kern.fcntl import O_RDONLY
    from kern.syscall import SYS_read, syscall
    from tools.lib import libc

    fd = await libc.open(path, O_RDONLY)
    try:
        # One user buffer for every read(2), as a C program's loop keeps one
        # (libc.read maps and unmaps a fresh one per call: ~10 us of a 64 KiB
        # read), each read's bytes written from it straight into one growing
        # BytesIO (a bytes copy of each read joined at the end copies twice and
        # touches twice the fresh memory: ~0.5 ms more CPU for 4 MiB; growing a
        # bytearray by 64 KiB at a time costs ~5 ms of reallocation and page
        # faults for 4 MiB).
        m = libc.UserMapping(max(bs, 1))
        try:
            out = io.BytesIO()
            while True:
                n = await syscall(SYS_read, fd, m.addr, bs)
                if not n:
                    return out.getvalue()
                out.write(m.mem()[:n])
        finally:
            m.free()
    finally:
        await libc.close(fd)


read_device = read_file


async def dump_device(devpath: str, hostpath: str | os.PathLike[str], bs: int = 65536) -> int:
    """Copy a device (a snapshot, say) to a host file; the bytes copied."""
    from kern.fcntl import O_RDONLY
    from tools.lib import libc

    fd = await libc.open(devpath, O_RDONLY)
    n = 0
    try:
        with open(hostpath, "wb") as out:
            while True:
                chunk = await libc.read(fd, bs)
                if not chunk:
                    break
                out.write(chunk)
                n += len(chunk)
    finally:
        await libc.close(fd)
    return n


async def mkdir_p(path: str, mode: int = 0o755) -> None:
    """mkdir ``path`` unless it is there already."""
    from kern.errno import EEXIST
    from tools.lib import libc

    try:
        await libc.mkdir(path, mode)
    except SyscallError as e:
        if e.errno != EEXIST:
            raise


# ================================================================== in the machine: disks

async def attach_disk(hostpath: str | os.PathLike[str], key: str = "/dev/wd0") -> None:
    """Host file ``hostpath`` as block device ``key`` and its raw twin (/dev/rwd0):
    rump's ``rump_pub_etfs_register(key, hostpath, RUMP_ETFS_BLK)``."""
    from dev.rumpblk import RUMP_ETFS_BLK, rump_etfs_register

    error = await rump_etfs_register(key, os.path.abspath(hostpath), RUMP_ETFS_BLK)
    if error:
        raise SyscallError(error, f"rump_etfs_register {key} {hostpath}")


async def attach_memory_disk(size: int, key: str = "/dev/wd0", unit: int = 0) -> int:
    """An md(4) memory disk of ``size`` bytes as block device ``key`` and its raw
    twin; its block dev_t.  Made from the kernel, as ``kemu run`` makes its md0."""
    from dev.md import md_create
    from kern.subr_devsw import devsw_blk2chr
    from tools.cmds._fsutil import rawname
    from vfs.stat import S_IFBLK, S_IFCHR
    from vfs.vfs_syscalls import kern_mknod

    error, dev = md_create(unit, size)
    if error:
        raise SyscallError(error, f"md{unit}: md_create")
    for path, mode, d in ((key, S_IFBLK | 0o640, dev),
                          (rawname(key), S_IFCHR | 0o640, devsw_blk2chr(dev))):
        error = await kern_mknod(path, mode, d)
        if error:
            raise SyscallError(error, f"mknod {path}")
    return dev


async def mount_ext2(special: str = "/dev/wd0", mnt: str = "/mnt", flags: int = 0) -> None:
    """mkdir ``mnt`` (if needed) and mount(MOUNT_EXT2FS, mnt, flags, {special})."""
    from fs.ext2fs.ufs_inode import ufs_args  # (ufsmount.h)
    from tools.lib import libc

    await mkdir_p(mnt)
    args = ufs_args()
    args.fspec = libc.ustr(special)
    try:
        await libc.mount("ext2fs", mnt, flags, args)
    finally:
        libc.ufree(args.fspec)


async def mount_image(hostpath: str | os.PathLike[str], mnt: str = "/mnt",
                      key: str = "/dev/wd0", flags: int = 0) -> None:
    """Host ext2 image ``hostpath`` attached as ``key`` and mounted on ``mnt``."""
    await attach_disk(hostpath, key)
    await mount_ext2(key, mnt, flags)


async def unmount(mnt: str = "/mnt", flags: int = 0) -> int:
    """unmount(2): 0, or its errno."""
    from tools.lib import libc

    return await errno_of(libc.unmount(mnt, flags))


# ================================================================== in the machine: fss

async def fss_set_ioctl(fd: int, mount: str | int, bstore: str | int, csize: int = 0,
                        flags: int = 0, *, create_store: bool = True,
                        cmd: int | None = None) -> None:
    """FSSIOCSET (or ``cmd``) on an open /dev/rfssN with a struct fss_set.

    ``mount`` and ``bstore`` are paths (copied to user memory and freed
    after), or raw user addresses (0, bad pointers) passed as they are.
    ``create_store``: first create ``bstore`` as a file when it is missing
    (fss wants an existing file or device).  Raises SyscallError.
    """
    from dev.fss.fssvar import FSSIOCSET, fss_set
    from kern.fcntl import O_CREAT, O_RDWR
    from tools.lib import libc

    if create_store and isinstance(bstore, str):
        try:
            await libc.close(await libc.open(bstore, O_RDWR | O_CREAT, 0o600))
        except SyscallError:
            pass   # a directory, or a path fss itself will judge

    fs = fss_set()
    fs.fss_mount = libc.ustr(mount) if isinstance(mount, str) else mount
    fs.fss_bstore = libc.ustr(bstore) if isinstance(bstore, str) else bstore
    fs.fss_csize = csize
    fs.fss_flags = flags
    try:
        await libc.ioctl(fd, FSSIOCSET if cmd is None else cmd, fs)
    finally:
        for arg, a in ((mount, fs.fss_mount), (bstore, fs.fss_bstore)):
            if isinstance(arg, str):
                libc.ufree(a)


async def fss_get_ioctl(fd: int) -> Any:
    """FSSIOCGET: the struct fss_get (fsg_mount, fsg_csize, fsg_time, ...)."""
    from dev.fss.fssvar import FSSIOCGET, fss_get
    from tools.lib import libc

    g = fss_get()
    await libc.ioctl(fd, FSSIOCGET, g)
    return g


@dataclass
class Snapshot:
    """A configured fss(4) unit: ``dev`` (/dev/fssN), ``rdev`` (/dev/rfssN), ``fd``.

    ``async with`` it (or call :meth:`unconfigure`) to FSSIOCCLR and close.
    """

    unit: int
    mount: str
    bstore: str
    fd: int
    configured: bool = True

    @property
    def dev(self) -> str:
        return f"/dev/fss{self.unit}"

    @property
    def rdev(self) -> str:
        return f"/dev/rfss{self.unit}"

    async def get(self) -> Any:
        """FSSIOCGET on the unit."""
        return await fss_get_ioctl(self.fd)

    async def read(self) -> bytes:
        """The whole snapshot device (the origin as it was when configured)."""
        return await read_device(self.rdev)

    async def unconfigure(self) -> None:
        """FSSIOCCLR and close the unit (once)."""
        from dev.fss.fssvar import FSSIOCCLR
        from tools.lib import libc

        if self.configured:
            self.configured = False
            try:
                await libc.ioctl(self.fd, FSSIOCCLR, None)
            finally:
                await libc.close(self.fd)

    async def __aenter__(self) -> Snapshot:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.unconfigure()


async def snapshot(mount: str = "/mnt", bstore: str | None = None, unit: int = 0,
                   csize: int = 0, flags: int = 0) -> Snapshot:
    """Configure fss ``unit`` as a snapshot of the file system on ``mount``.

    The backing store defaults to /tmp/fss<unit>.store on the root file
    system (created when missing): outside the snapshotted file system, so
    the snapshot is not persistent.  Raises SyscallError.
    """
    from kern.fcntl import O_RDWR
    from tools.lib import libc

    store = bstore if bstore is not None else f"/tmp/fss{unit}.store"
    fd = await libc.open(f"/dev/rfss{unit}", O_RDWR)
    try:
        await fss_set_ioctl(fd, mount, store, csize, flags)
    except BaseException:
        await libc.close(fd)
        raise
    return Snapshot(unit, mount, store, fd)


# ================================================================== in the machine: puffs

@dataclass
class PuffsMount:
    """A puffs file system served by ``server`` (a PuffsServer in the machine,
    or a RemoteServer whose server runs in a separate OS process) on ``mnt``."""

    server: Any
    mnt: str
    remote: bool
    pid: int = 0                       # the serving daemon's process
    unmounted: bool = False
    notes: list[str] = field(default_factory=list)

    def counters(self) -> dict[str, int]:
        """Requests sent to the server so far, by operation ("GETATTR": 12, ...;
        VFS operations as "VFS_STATVFS"...), as the rump tests' toserv counters."""
        from fs.puffs.puffs_msgif_h import PUFFS_VFS_NAMES, PUFFS_VN_NAMES

        ch = self.server.channel
        out = {}
        for names, counts, prefix in ((PUFFS_VN_NAMES, ch.toserv_vn_ops, ""),
                                      (PUFFS_VFS_NAMES, ch.toserv_vfs_ops, "VFS_")):
            for i, n in enumerate(counts):
                if n and i < len(names):
                    out[prefix + names[i]] = n
        return out

    def trouble(self) -> list[str]:
        """What went wrong in the server: its handlers' exceptions, a bad end."""
        out = [f"handler bug: {type(e).__name__}: {e}" for e in self.server.errors]
        if self.remote:
            stats = self.server.child_stats or {}
            out += [f"handler bug (server process): {e}" for e in stats.get("errors", [])]
        return out + self.notes

    async def unmount(self, flags: int = 0, timo: int = 10 * 100) -> int:
        """unmount(2), then the server must end cleanly within ``timo`` ticks.

        The errno of the unmount (a refused unmount leaves the server
        serving); after a successful one, AssertionError if the server did
        not exit, its loop ended with an error or its handlers raised.
        """
        error = await unmount(self.mnt, flags)
        if error:
            return error
        self.unmounted = True
        if await _daemon_exit(self.pid, timo):
            raise AssertionError(f"puffs: the {self.server.name} server did not exit after "
                                 f"the unmount of {self.mnt}")
        if self.remote:
            await _remote_reaped(self.server, timo)
            s = self.server
            if (s.loop_error, s.died, s.returncode) != (0, False, 0):
                self.notes.append(f"server process: loop_error {s.loop_error}, died {s.died},"
                                  f" exit status {s.returncode}")
        elif getattr(self.server, "loop_error", 0):
            self.notes.append(f"mainloop ended with {self.server.loop_error}")
        trouble = self.trouble()
        assert not trouble, "puffs: " + "; ".join(trouble)
        return 0


async def _daemon_exit(pid: int, timo: int) -> int:
    """Wait until every lwp of process ``pid`` has exited: 0, or EWOULDBLOCK after ``timo``."""
    from kern.cpu import curmachine

    p = curmachine().procs.get(pid)
    if p is None:
        return 0
    for l in list(p.p_lwps):
        if await lwp_join(l, timo):
            return 1
    return 0


async def _remote_reaped(server: Any, timo: int) -> None:
    from kern.kern_synch import kpause

    for _ in range(timo):
        if server.returncode is not None:
            return
        await kpause("puffsend", False, 1, None)


async def lwp_join(l: Any, timo: int) -> int:
    """Wait until user lwp ``l`` has exited; 0, or EWOULDBLOCK after ``timo`` ticks.

    kthread_join's sleep on ``l_joiners`` (woken by the machine when the lwp
    exits) for a user lwp, with a timeout.
    """
    from kern.errno import EWOULDBLOCK
    from kern.kern_lwp import LSZOMB
    from kern.kern_synch import sleepq, sleepq_block, sleepq_enter

    while l.l_stat != LSZOMB:
        if l.l_joiners is None:
            l.l_joiners = sleepq("lwpwait")
        sleepq_enter(l.l_joiners, "lwpwait", l)
        if await sleepq_block(timo, False) == EWOULDBLOCK and l.l_stat != LSZOMB:
            return EWOULDBLOCK
    return 0


MEMFS = "tools.puffs_servers.memfs:MemFS"


async def mount_puffs(server: Any, mnt: str = "/mnt", mntflags: int = 0) -> PuffsMount:
    """Mount ``server`` (a PuffsServer, or a RemoteServer) on ``mnt`` from the calling
    process and serve it from a daemon forked from it (libpuffs' puffs_daemon,
    as mount_memfs does).  Raises PuffsError (with an errno) when it fails."""
    from tools.lib.libpuffs import puffs_daemon
    from tools.lib.libpuffs.remote import RemoteServer

    await mkdir_p(mnt)
    pid = await puffs_daemon(server, mnt, mntflags)
    return PuffsMount(server, mnt, isinstance(server, RemoteServer), pid)


async def mount_memfs(mnt: str = "/mnt", *, remote: bool = False, ops: Any = None,
                      name: str = "memfs", mntflags: int = 0, **server_kw: Any) -> PuffsMount:
    """A memfs (tools/puffs_servers/memfs.py) puffs server mounted on ``mnt``.

    ``remote=True`` runs the server in a separate OS process
    (tools.lib.libpuffs.remote); then ``ops`` is a "module:Class" name and
    ``ops_kwargs`` its JSON-able keywords.  In the machine, ``ops`` is an
    Operations object (default ``MemFS()``).  Other keywords go to
    PuffsServer/RemoteServer (``fhsize=``, ``flags=``...).
    """
    from tools.lib.libpuffs import PuffsServer
    from tools.lib.libpuffs.remote import RemoteServer

    if remote:
        server: Any = RemoteServer(ops or MEMFS, name, **server_kw)
    else:
        if ops is None:
            from tools.puffs_servers.memfs import MemFS

            ops = MemFS(**server_kw.pop("ops_kwargs", {}))
        server = PuffsServer(ops, name, **server_kw)
    return await mount_puffs(server, mnt, mntflags)


async def mount_passthrough(hostdir: str, mnt: str = "/mnt", *, remote: bool = False,
                            mntflags: int = 0, **server_kw: Any) -> PuffsMount:
    """The passthrough server (tools/puffs_servers/passthrough.py) showing host
    directory ``hostdir`` on ``mnt``, in the machine or in a separate process."""
    from tools.lib.libpuffs import PuffsServer
    from tools.lib.libpuffs.remote import RemoteServer

    if remote:
        server: Any = RemoteServer("tools.puffs_servers.passthrough:Passthrough", "passthrough",
                                   ops_args=[os.path.abspath(hostdir)], **server_kw)
    else:
        from tools.puffs_servers.passthrough import Passthrough

        server = PuffsServer(Passthrough(os.path.abspath(hostdir)), "passthrough",
                             **server_kw)
    return await mount_puffs(server, mnt, mntflags)


# ================================================================== choreography

class Gate:
    """A one-shot event for lwps: :meth:`wait` sleeps (on ``wmesg``) until :meth:`open`.

    For kernel-level tests that put lwps in a chosen order at chosen points
    (one opens a gate where the other must act), whatever the seed.  Make it
    inside the machine (it holds a kmutex and a kcondvar)."""

    def __init__(self, wmesg: str = "gate") -> None:
        from kern.kern_condvar import cv_init, kcondvar_t
        from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_init

        self.lock = kmutex_t()
        mutex_init(self.lock, MUTEX_DEFAULT, IPL_NONE)
        self.cv = kcondvar_t()
        cv_init(self.cv, wmesg)
        self.is_open = False

    async def wait(self) -> None:
        from kern.kern_condvar import cv_wait
        from kern.kern_mutex import mutex_enter, mutex_exit

        await mutex_enter(self.lock)
        while not self.is_open:
            await cv_wait(self.cv, self.lock)
        mutex_exit(self.lock)

    def open(self) -> None:
        """Let every waiter (and every later one) through.  Never sleeps."""
        from kern.kern_condvar import cv_broadcast

        self.is_open = True
        cv_broadcast(self.cv)


# ================================================================== sync helpers

def in_process(k: Any, afn: Callable[..., Awaitable[Any]], *args: Any, comm: str = "test",
               name: str | None = None) -> Any:
    """``k.run(afn, *args)`` in a new user process (a child of init) named ``comm``."""
    return k.run(afn, *args, name=name, proc=k.proc_create(comm, k.initproc))
