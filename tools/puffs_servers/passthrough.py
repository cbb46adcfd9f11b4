"""passthrough: a puffs file system server that serves a host directory.

Every request becomes system calls on the host tree below ``root``; the
node table only remembers which host file a cookie stands for.

**Nodes and cookies.**  A node is a host file seen through puffs: its
identity (``st_dev``, ``st_ino``), its vnode type, the host paths it is
known by (relative to the root; several for hard links) and, while the
kernel uses it for I/O, an open host descriptor.  The root's cookie is
fixed (``root_cookie``, 1); other cookies are handed out in increasing
order and never reused.  Looking a file up by another name (a hard link)
finds the node of the same identity, so the kernel gets the same cookie
and thus the same vnode, as from a real file system.  ``rename`` rewrites
the paths of the renamed node and of every node below a renamed
directory; ``remove``/``rmdir`` drop the name, and a file whose last link
went is *buried*: it leaves the identity table (the host may reuse its
inode number for a new file, which must get a new node) but keeps its
descriptor, so an unlinked file that is still open reads and writes on.
``node_inactive`` closes the descriptor of a live node (it is reopened by
path when needed) and reports no references for a buried or nameless one,
so the kernel reclaims it at once; ``node_reclaim`` forgets the cookie.
Renaming one link of a file onto another link of it removes the source
name, as NetBSD's rename(2) does (kemu's kernel passes that case on).

**No symbolic link is ever followed on the host.**  A host path is never
handed to the host whole: the parent directory is opened component by
component from a descriptor of the root with ``O_NOFOLLOW|O_DIRECTORY``,
and the operation is done on the last component relative to that
descriptor (``*at`` calls, ``follow_symlinks=False``, ``O_NOFOLLOW``;
chmod goes through an ``O_PATH`` descriptor where the host has one).
Symbolic links in the tree are served as links: the kemu kernel resolves
them in its own namespace.  Names with "/" or NUL, and "." or ".." where
a new entry is named, are refused (the kernel passes single components).

**File handles** are 24 bytes: ``st_dev``, ``st_ino`` and a generation
(each little-endian, 8 bytes).  The server keeps, for every identity it
has seen, the generation it gave out and a path hint (updated by rename,
link and remove).  A handle whose file was removed, or whose path hint no
longer leads to the same identity (the file went away on the host), is
stale: ``ESTALE``, as ffs answers.  Mount with ``fhsize=Passthrough.FHSIZE``.
Handles are valid for the life of the server object: a new server knows
no identities, so handles of an earlier one are stale until the file is
seen again.

**Errors.**  A host ``OSError`` becomes ``PuffsError`` with NetBSD's errno
of the same name (:func:`netbsd_errno`; Linux numbers differ for many
codes); nothing else escapes a handler for a host error.  With
``readonly=True`` every operation that would change the tree fails with
``EROFS`` (and write access is refused with ``EROFS``).

**Credentials.**  kemu's uids and gids are taken to be the host's: access
(libpuffs' ``puffs_access``, as memfs) and setattr are checked against the
host file's owner and mode, on top of whatever the host enforces on the
server process.  When the server runs as host root, new files get the caller's
uid and the parent directory's gid (BSD semantics).

Run it inside a machine::

    server = PuffsServer(Passthrough("/some/host/dir"), "passthrough",
                         fhsize=Passthrough.FHSIZE)
    k.run(daemon, server.main, "/mnt", proc=k.proc_create("passthrough"))

(``mount_passthrough`` in the kemu shell does this, also in another OS
process through lib/libpuffs/remote.py.)
"""

from __future__ import annotations

import errno as host_errno_mod
import functools
import os
import stat as st_mod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from kern import errno as nbsd
from kern.errno import (
    EACCES,
    EINVAL,
    EIO,
    EISDIR,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    ESTALE,
)
from kern.fcntl import FWRITE
from kern.types_dev import major as nbsd_major
from kern.types_dev import makedev as nbsd_makedev
from kern.types_dev import minor as nbsd_minor
from tools.lib.libpuffs import (
    PUFFS_IO_APPEND,
    PUFFS_VWRITE,
    VBLK,
    VCHR,
    VDIR,
    VFIFO,
    VLNK,
    VREG,
    VSOCK,
    Attr,
    ComponentName,
    Cred,
    DirEntry,
    NodeInfo,
    Operations,
    PuffsError,
    StatvfsData,
    puffs_access,
)
from tools.lib.libpuffs.ops import PATHCONF_DEFAULTS, PUFFS_FSYNC_DATAONLY

ROOT_COOKIE = 1
FHSIZE = 24
NAME_MAX = 255  # MAXNAMLEN: what a puffs_kcn carries
VA_UTIMES_NULL = 0x01  # sys/vnode.h

# pathconf names (sys/unistd.h) and what is answered when the host has no say
_PC_LINK_MAX, _PC_NAME_MAX, _PC_FILESIZEBITS = 1, 4, 11
# the ones asked of the host file system (the others are the kernel's limits)
_HOST_PATHCONF = {_PC_LINK_MAX: "PC_LINK_MAX", _PC_NAME_MAX: "PC_NAME_MAX",
                  _PC_FILESIZEBITS: "PC_FILESIZEBITS"}

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_PATH = getattr(os, "O_PATH", 0)
# a descriptor that only names a directory (O_PATH needs no read permission)
_O_DIRREF = os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC | _O_PATH
_PROC_FD = "/proc/self/fd"


# ------------------------------------------------------------------ errno translation

def _build_errno_map() -> dict[int, int]:
    """Host errno number -> NetBSD errno number, matched by name."""
    names: dict[int, list[str]] = {}
    for name in dir(host_errno_mod):
        value = getattr(host_errno_mod, name)
        if name.startswith("E") and isinstance(value, int):
            names.setdefault(value, []).append(name)
    out: dict[int, int] = {}
    for num, cands in names.items():
        canonical = host_errno_mod.errorcode.get(num)
        # Linux's ENOTSUP is EOPNOTSUPP; NetBSD keeps two numbers, and a file
        # system answers EOPNOTSUPP.  Otherwise the host's own name first.
        for name in sorted(cands, key=lambda n: (n != "EOPNOTSUPP", n != canonical, n)):
            value = getattr(nbsd, name, None)
            if isinstance(value, int) and value > 0:
                out[num] = value
                break
    return out


_ERRNO_MAP = _build_errno_map()


def netbsd_errno(e: OSError | int | None) -> int:
    """NetBSD's errno for a host error (an ``OSError`` or a host errno number);
    EIO for a host error NetBSD has no name for."""
    num = e.errno if isinstance(e, OSError) else e
    if num is None:
        return EIO
    return _ERRNO_MAP.get(num, EIO)


P = ParamSpec("P")
R = TypeVar("R")


def _host(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a handler with host errors turned into PuffsError (NetBSD numbering)."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except OSError as e:
            raise PuffsError(netbsd_errno(e)) from None
        except NotImplementedError:  # e.g. lchmod on a host without it
            raise PuffsError(EOPNOTSUPP) from None
        except ValueError:  # e.g. an embedded NUL in a name or link target
            raise PuffsError(EINVAL) from None

    return wrapper


# ------------------------------------------------------------------ small helpers

def _vtype(mode: int) -> int:
    fmt = st_mod.S_IFMT(mode)
    return {st_mod.S_IFREG: VREG, st_mod.S_IFDIR: VDIR, st_mod.S_IFLNK: VLNK,
            st_mod.S_IFCHR: VCHR, st_mod.S_IFBLK: VBLK, st_mod.S_IFIFO: VFIFO,
            st_mod.S_IFSOCK: VSOCK}.get(fmt, VREG)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def _ts(ns: int) -> tuple[int, int]:
    return divmod(ns, 1_000_000_000)


def _rdev_to_netbsd(st: os.stat_result) -> int:
    if not (st_mod.S_ISCHR(st.st_mode) or st_mod.S_ISBLK(st.st_mode)):
        return 0
    return nbsd_makedev(os.major(st.st_rdev), os.minor(st.st_rdev))


def _rdev_to_host(dev: int) -> int:
    return os.makedev(nbsd_major(dev), nbsd_minor(dev))


def _join(dirrel: bytes, name: bytes) -> bytes:
    return name if not dirrel else dirrel + b"/" + name


def _check_name(name: bytes) -> None:
    """A name a create-like operation may make: one component, not . or .."""
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise PuffsError(EINVAL)
    if len(name) > NAME_MAX:
        raise PuffsError(ENAMETOOLONG)


@dataclass
class PassNode:
    """A host file known to the kernel by ``cookie``."""

    cookie: int
    ident: tuple[int, int]
    vtype: int
    names: list[bytes] = field(default_factory=list)  # relative host paths; b"" is the root
    fd: int | None = None           # open host descriptor (I/O, unlinked-but-open files)
    fd_writable: bool = False
    buried: bool = False            # the last link went: only the descriptor reaches it
    slots: dict[bytes, int] = field(default_factory=dict)  # readdir: name -> offset
    next_slot: int = 2              # 0 is ".", 1 is ".."


@dataclass
class _FhRecord:
    gen: int
    rel: bytes  # path hint


class Passthrough(Operations):
    """Serve the host directory ``root`` through puffs (see the module docstring)."""

    root_cookie = ROOT_COOKIE
    FHSIZE = FHSIZE

    def __init__(self, root: str, *, readonly: bool = False) -> None:
        self._rootfd: int | None = None
        if not os.path.isdir(root):
            what = "not a directory" if os.path.lexists(root) else "no such directory"
            raise PuffsError(ENOTDIR if os.path.lexists(root) else ENOENT,
                             f"passthrough: root {root!r}: {what}")
        self.root = os.fsencode(os.path.realpath(root))
        self.readonly = readonly
        try:
            self._rootfd = os.open(self.root, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
        except OSError as e:
            raise PuffsError(netbsd_errno(e), f"passthrough: root {root!r}: {e.strerror}") \
                from None
        st = os.fstat(self._rootfd)
        root_node = PassNode(ROOT_COOKIE, _ident(st), VDIR, names=[b""])
        self.nodes: dict[int, PassNode] = {ROOT_COOKIE: root_node}
        self._byident: dict[tuple[int, int], int] = {root_node.ident: ROOT_COOKIE}
        self._names: dict[bytes, int] = {b"": ROOT_COOKIE}
        self._next_cookie = ROOT_COOKIE + 1
        self._fh: dict[tuple[int, int], _FhRecord] = {}
        self._next_gen = 1
        self._record(root_node.ident, b"")
        self.suspends: list[int] = []

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close every host descriptor (the object cannot serve afterwards)."""
        for n in getattr(self, "nodes", {}).values():
            self._drop_fd(n)
        if self._rootfd is not None:
            os.close(self._rootfd)
            self._rootfd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - best effort, maybe at interpreter exit
            pass

    @staticmethod
    def _drop_fd(n: PassNode) -> None:
        if n.fd is not None:
            fd, n.fd, n.fd_writable = n.fd, None, False
            try:
                os.close(fd)
            except OSError:
                pass

    # ------------------------------------------------------------ host access

    def _rfd(self) -> int:
        if self._rootfd is None:
            raise PuffsError(EIO, "passthrough: closed")
        return self._rootfd

    def _walk(self, dirrel: bytes) -> int:
        """A descriptor of the directory ``dirrel``, every component opened
        with O_NOFOLLOW; the caller closes it unless it is the root's."""
        fd = self._rfd()
        if not dirrel:
            return fd
        for comp in dirrel.split(b"/"):
            try:
                nfd = os.open(comp, _O_DIRREF, dir_fd=fd)
            finally:
                if fd != self._rootfd:
                    os.close(fd)
            fd = nfd
        return fd

    @contextmanager
    def _at(self, rel: bytes) -> Iterator[tuple[int, bytes]]:
        """(directory descriptor, last component) of the host file ``rel``;
        the root itself is (root descriptor, ".")."""
        if not rel:
            yield self._rfd(), b"."
            return
        parent, _, name = rel.rpartition(b"/")
        fd = self._walk(parent)
        try:
            yield fd, name
        finally:
            if fd != self._rootfd:
                os.close(fd)

    def _lstat(self, rel: bytes) -> os.stat_result:
        with self._at(rel) as (fd, name):
            return os.stat(name, dir_fd=fd, follow_symlinks=False)

    def _open(self, rel: bytes, flags: int, mode: int = 0o666) -> int:
        with self._at(rel) as (fd, name):
            return os.open(name, flags | _O_NOFOLLOW | _O_CLOEXEC, mode, dir_fd=fd)

    def _still_there(self, rel: bytes, ident: tuple[int, int]) -> bool:
        try:
            return _ident(self._lstat(rel)) == ident
        except (OSError, PuffsError):
            return False

    def _chmod_at(self, fd: int, name: bytes, ident: tuple[int, int], mode: int) -> None:
        """chmod the non-link ``name`` in ``fd`` without following a link put there."""
        if _O_PATH and os.path.isdir(_PROC_FD):
            pfd = os.open(name, _O_PATH | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=fd)
            try:
                st = os.fstat(pfd)
                if _ident(st) != ident:
                    raise PuffsError(ESTALE)
                if st_mod.S_ISLNK(st.st_mode):
                    raise PuffsError(EOPNOTSUPP)  # the host cannot chmod a link
                os.chmod(f"{_PROC_FD}/{pfd}", mode)
            finally:
                os.close(pfd)
            return
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if _ident(st) != ident:
            raise PuffsError(ESTALE)
        if st_mod.S_ISLNK(st.st_mode):
            os.chmod(name, mode, dir_fd=fd, follow_symlinks=False)
        else:
            os.chmod(name, mode, dir_fd=fd)

    # ------------------------------------------------------------ the node table

    def node(self, cookie: int) -> PassNode:
        n = self.nodes.get(cookie)
        if n is None:
            raise PuffsError(ENOENT)
        return n

    def _rel(self, n: PassNode) -> bytes:
        """A host path of ``n`` (ENOENT once it has none)."""
        if not n.names:
            raise PuffsError(ENOENT)
        return n.names[0]

    def _dir(self, cookie: int) -> tuple[PassNode, bytes]:
        d = self.node(cookie)
        if d.vtype != VDIR:
            raise PuffsError(ENOTDIR)
        return d, self._rel(d)

    def _stat_node(self, n: PassNode) -> os.stat_result:
        """The host's stat of ``n``; ESTALE if its name now holds another file."""
        if n.fd is not None:
            return os.fstat(n.fd)
        st = self._lstat(self._rel(n))
        if _ident(st) != n.ident:
            raise PuffsError(ESTALE)
        return st

    def _rw(self) -> None:
        if self.readonly:
            raise PuffsError(EROFS)

    def _record(self, ident: tuple[int, int], rel: bytes) -> _FhRecord:
        """The file handle record of ``ident`` seen at ``rel``."""
        rec = self._fh.get(ident)
        if rec is not None and rec.rel != rel and not self._still_there(rec.rel, ident):
            # The file moved on the host behind our back, or the inode was
            # reused: either way old handles must not reach this file.
            rec = None
        if rec is None:
            rec = self._fh[ident] = _FhRecord(self._next_gen, rel)
            self._next_gen += 1
        return rec

    def _claim(self, n: PassNode, rel: bytes) -> None:
        """``rel`` is a name of ``n`` (and of no other node)."""
        old = self._names.get(rel)
        if old == n.cookie:
            return
        if old is not None:
            o = self.nodes.get(old)
            if o is not None and rel in o.names:
                o.names.remove(rel)
        self._names[rel] = n.cookie
        n.names.append(rel)

    def _node_for(self, rel: bytes, st: os.stat_result) -> PassNode:
        """The node of the host file ``st`` found at ``rel`` (made if new)."""
        ident = _ident(st)
        vtype = _vtype(st.st_mode)
        c = self._byident.get(ident)
        n = self.nodes.get(c) if c is not None else None
        if n is not None and (n.vtype != vtype or n.buried):
            # the inode number now belongs to another file
            del self._byident[ident]
            n = None
        if n is None:
            n = PassNode(self._next_cookie, ident, vtype)
            self._next_cookie += 1
            self.nodes[n.cookie] = n
            self._byident[ident] = n.cookie
        self._claim(n, rel)
        self._record(ident, rel)
        return n

    def _info(self, n: PassNode, st: os.stat_result) -> NodeInfo:
        return NodeInfo(n.cookie, n.vtype, st.st_size, _rdev_to_netbsd(st))

    def _bury(self, n: PassNode) -> None:
        """The last link of ``n`` went: it lives on only through its descriptor."""
        n.buried = True
        if self._byident.get(n.ident) == n.cookie:
            del self._byident[n.ident]
        self._fh.pop(n.ident, None)
        n.slots.clear()

    def _unname(self, rel: bytes, before: os.stat_result) -> None:
        """The host name ``rel`` (``before`` is its lstat) was removed."""
        ident = _ident(before)
        gone = st_mod.S_ISDIR(before.st_mode) or before.st_nlink <= 1
        c = self._names.pop(rel, None)
        n = self.nodes.get(c) if c is not None else None
        if n is not None and rel in n.names:
            n.names.remove(rel)
        if gone:
            if n is not None and n.ident == ident:
                self._bury(n)
            else:
                self._fh.pop(ident, None)
                other = self._byident.get(ident)
                if other is not None:
                    self._bury(self.nodes[other])
            return
        rec = self._fh.get(ident)
        if rec is not None and rec.rel == rel and n is not None and n.names:
            rec.rel = n.names[0]

    def _move(self, old: bytes, new: bytes) -> None:
        """Host path ``old`` (and everything under it) is now ``new``."""
        prefix = old + b"/"

        def moved(rel: bytes) -> bytes | None:
            if rel == old or rel.startswith(prefix):
                return new + rel[len(old):]
            return None

        for rel in [r for r in self._names if moved(r) is not None]:
            c = self._names.pop(rel)
            nrel = moved(rel)
            assert nrel is not None
            self._names[nrel] = c
            n = self.nodes[c]
            n.names = [nrel if r == rel else r for r in n.names]
        for rec in self._fh.values():
            nrel = moved(rec.rel)
            if nrel is not None:
                rec.rel = nrel

    def _iofd(self, n: PassNode, write: bool) -> int:
        """A host descriptor for I/O on the regular file ``n``."""
        if n.vtype == VDIR:
            raise PuffsError(EISDIR)
        if n.vtype != VREG:
            raise PuffsError(EOPNOTSUPP)
        if n.fd is not None and (n.fd_writable or not write):
            return n.fd
        if not n.names:
            # buried: the descriptor it has is all there is
            raise PuffsError(ESTALE if n.fd is None else EACCES)
        rel = self._rel(n)
        fd = -1
        writable = False
        if not self.readonly:
            try:
                fd = self._open(rel, os.O_RDWR)
                writable = True
            except OSError as e:
                if write or e.errno not in (host_errno_mod.EACCES, host_errno_mod.EPERM,
                                            host_errno_mod.EROFS, host_errno_mod.ETXTBSY):
                    raise
        elif write:
            raise PuffsError(EROFS)
        if fd < 0:
            fd = self._open(rel, os.O_RDONLY)
        if _ident(os.fstat(fd)) != n.ident:
            os.close(fd)
            raise PuffsError(ESTALE)
        self._drop_fd(n)
        n.fd, n.fd_writable = fd, writable
        return fd

    def _owner_fixup(self, rel: bytes, cred: Cred, dirst: os.stat_result) -> None:
        """BSD ownership for a new file: the caller's uid, the directory's gid
        (possible only when the server is the host's root)."""
        if cred.is_kernel or os.geteuid() != 0:
            return
        st = self._lstat(rel)
        if (st.st_uid, st.st_gid) != (cred.uid, dirst.st_gid):
            with self._at(rel) as (fd, name):
                os.chown(name, cred.uid, dirst.st_gid, dir_fd=fd, follow_symlinks=False)

    def _entry(self, dir: int, name: bytes) -> tuple[PassNode, bytes]:
        """For a change of the entry ``name`` of directory ``dir``: the
        directory's node and the entry's host path (EROFS when read-only)."""
        self._rw()
        _check_name(name)
        d, drel = self._dir(dir)
        return d, _join(drel, name)

    def _newnode(self, dir: int, cn: ComponentName, attr: Attr, vtype: int,
                 target: bytes | None = None) -> int:
        d, rel = self._entry(dir, cn.name)
        dirst = self._stat_node(d)
        mode = (attr.mode if attr.mode is not None else
                (0o755 if vtype == VDIR else 0o644)) & 0o7777
        keepfd: int | None = None
        with self._at(rel) as (fd, name):
            if vtype == VREG:
                keepfd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW
                                 | _O_CLOEXEC, mode, dir_fd=fd)
            elif vtype == VDIR:
                os.mkdir(name, mode, dir_fd=fd)
            elif vtype == VLNK:
                assert target is not None
                os.symlink(target, name, dir_fd=fd)
            elif vtype == VFIFO:
                os.mkfifo(name, mode, dir_fd=fd)
            elif vtype in (VCHR, VBLK):
                if os.geteuid() != 0:
                    raise PuffsError(EPERM)
                fmt = st_mod.S_IFCHR if vtype == VCHR else st_mod.S_IFBLK
                os.mknod(name, fmt | mode, _rdev_to_host(attr.rdev or 0), dir_fd=fd)
            else:
                raise PuffsError(EOPNOTSUPP if vtype == VSOCK else EINVAL)
        try:
            # the host's umask must not change the mode the kernel asked for
            if keepfd is not None:
                if st_mod.S_IMODE(os.fstat(keepfd).st_mode) != mode:
                    os.fchmod(keepfd, mode)
            elif vtype != VLNK:
                st = self._lstat(rel)
                if st_mod.S_IMODE(st.st_mode) != mode:
                    with self._at(rel) as (fd, name):
                        self._chmod_at(fd, name, _ident(st), mode)
            self._owner_fixup(rel, cn.cred, dirst)
            st = os.fstat(keepfd) if keepfd is not None else self._lstat(rel)
        except BaseException:
            if keepfd is not None:
                os.close(keepfd)
            raise
        n = self._node_for(rel, st)
        if keepfd is not None:
            self._drop_fd(n)
            n.fd, n.fd_writable = keepfd, True
        return n.cookie

    def _nodeop(self, n: PassNode, op: Callable[[int, bytes], Any]) -> None:
        """``op(dirfd, name)`` on the host file of ``n``, checked to still be it."""
        with self._at(self._rel(n)) as (fd, name):
            if _ident(os.stat(name, dir_fd=fd, follow_symlinks=False)) != n.ident:
                raise PuffsError(ESTALE)
            op(fd, name)

    # ------------------------------------------------------------ fs operations

    @_host
    async def fs_unmount(self, flags: int, pid: int) -> None:
        for n in self.nodes.values():
            self._drop_fd(n)

    @_host
    async def fs_statvfs(self, pid: int) -> StatvfsData:
        sv = os.statvfs(self._rfd())
        bsize = sv.f_bsize or 512
        return StatvfsData(f_bsize=bsize, f_frsize=sv.f_frsize or bsize, f_iosize=bsize,
                           f_blocks=sv.f_blocks, f_bfree=sv.f_bfree, f_bavail=sv.f_bavail,
                           f_files=sv.f_files, f_ffree=sv.f_ffree, f_favail=sv.f_favail,
                           f_namemax=min(sv.f_namemax or NAME_MAX, NAME_MAX))

    @_host
    async def fs_sync(self, waitfor: int, cred: Cred, pid: int) -> None:
        for n in list(self.nodes.values()):
            if n.fd is not None and n.fd_writable:
                os.fsync(n.fd)

    @_host
    async def fs_fhtonode(self, fid: bytes) -> NodeInfo:
        if len(fid) != FHSIZE:
            raise PuffsError(EINVAL)
        ident = (int.from_bytes(fid[0:8], "little"), int.from_bytes(fid[8:16], "little"))
        gen = int.from_bytes(fid[16:24], "little")
        rec = self._fh.get(ident)
        if rec is None or rec.gen != gen:
            raise PuffsError(ESTALE)
        c = self._byident.get(ident)
        n = self.nodes.get(c) if c is not None else None
        if n is not None:
            for rel in n.names:
                try:
                    st = self._lstat(rel)
                except OSError:
                    continue
                if _ident(st) == ident:
                    return self._info(n, st)
            if n.fd is not None:
                st = os.fstat(n.fd)
                if st.st_nlink > 0:
                    return self._info(n, st)
            raise PuffsError(ESTALE)
        try:
            st = self._lstat(rec.rel)
        except OSError:
            raise PuffsError(ESTALE) from None
        if _ident(st) != ident:
            raise PuffsError(ESTALE)
        return self._info(self._node_for(rec.rel, st), st)

    @_host
    async def fs_nodetofh(self, cookie: int, room: int) -> bytes:
        n = self.node(cookie)
        rec = self._fh.get(n.ident)
        if rec is None or n.buried:
            raise PuffsError(ESTALE)
        return (n.ident[0].to_bytes(8, "little") + n.ident[1].to_bytes(8, "little")
                + rec.gen.to_bytes(8, "little"))

    async def fs_suspend(self, status: int) -> None:
        self.suspends.append(status)

    # ------------------------------------------------------------ node operations

    @_host
    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        d, drel = self._dir(dir)
        name = cn.name
        if name == b".":
            return self._info(d, self._stat_node(d))
        if name == b"..":
            prel = drel.rpartition(b"/")[0]
            st = self._lstat(prel)
            return self._info(self._node_for(prel, st), st)
        if not name or b"/" in name or b"\0" in name:
            raise PuffsError(ENOENT)
        if len(name) > NAME_MAX:
            raise PuffsError(ENAMETOOLONG)
        rel = _join(drel, name)
        st = self._lstat(rel)
        return self._info(self._node_for(rel, st), st)

    @_host
    async def node_create(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        vtype = attr.type if attr.type is not None else VREG
        return self._newnode(dir, cn, attr, vtype)

    node_mknod = node_create  # the type (and rdev) come in attr

    @_host
    async def node_mkdir(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        return self._newnode(dir, cn, attr, VDIR)

    @_host
    async def node_symlink(self, dir: int, cn: ComponentName, attr: Attr,
                           target: bytes) -> int:
        if not target:
            raise PuffsError(ENOENT)
        return self._newnode(dir, cn, attr, VLNK, bytes(target))

    @_host
    async def node_open(self, node: int, mode: int, cred: Cred, pid: int) -> None:
        n = self.node(node)
        if mode & FWRITE:
            self._rw()
        if n.vtype == VREG:
            self._iofd(n, bool(mode & FWRITE))
        elif n.buried:
            raise PuffsError(ENOENT)

    @_host
    async def node_close(self, node: int, fflag: int, cred: Cred, pid: int) -> None:
        self.node(node)  # the descriptor stays until inactive or reclaim

    @_host
    async def node_access(self, node: int, mode: int, cred: Cred, pid: int) -> None:
        n = self.node(node)
        if mode & PUFFS_VWRITE and self.readonly and n.vtype in (VREG, VDIR, VLNK):
            raise PuffsError(EROFS)
        st = self._stat_node(n)
        error = puffs_access(n.vtype, st_mod.S_IMODE(st.st_mode), st.st_uid, st.st_gid, mode,
                             cred)
        if error:
            raise PuffsError(error)

    @_host
    async def node_getattr(self, node: int, cred: Cred, pid: int) -> Attr:
        n = self.node(node)
        st = self._stat_node(n)
        rec = self._fh.get(n.ident)
        birth = getattr(st, "st_birthtime_ns", None)
        if birth is None and getattr(st, "st_birthtime", None) is not None:
            birth = int(st.st_birthtime * 1_000_000_000)
        return Attr(type=_vtype(st.st_mode), mode=st_mod.S_IMODE(st.st_mode),
                    nlink=st.st_nlink, uid=st.st_uid, gid=st.st_gid, fileid=st.st_ino,
                    size=st.st_size, blocksize=st.st_blksize or 512,
                    atime=_ts(st.st_atime_ns), mtime=_ts(st.st_mtime_ns),
                    ctime=_ts(st.st_ctime_ns),
                    birthtime=_ts(birth) if birth is not None else None,
                    gen=rec.gen if rec is not None and not n.buried else 0, flags=0,
                    rdev=_rdev_to_netbsd(st), bytes=st.st_blocks * 512, filerev=0)

    @_host
    async def node_setattr(self, node: int, attr: Attr, cred: Cred, pid: int) -> None:
        n = self.node(node)
        # what the host can change (it keeps its own ctime; no birthtime to set)
        changes = {k: v for k, v in attr.given().items()
                   if k in ("uid", "gid", "size", "mode", "atime", "mtime", "flags")}
        if changes.get("flags") == 0:
            del changes["flags"]
        if not changes:
            return
        self._rw()
        if "flags" in changes:
            raise PuffsError(EOPNOTSUPP)  # no chflags(2) on the host
        st = self._stat_node(n)
        owner = cred.is_super or cred.uid == st.st_uid
        if attr.uid is not None or attr.gid is not None:
            uid = -1 if attr.uid is None or attr.uid == st.st_uid else attr.uid
            gid = -1 if attr.gid is None or attr.gid == st.st_gid else attr.gid
            if not cred.is_super and (uid != -1 or not owner
                                      or (gid != -1 and not cred.has_group(gid))):
                raise PuffsError(EPERM)
            if uid != -1 or gid != -1:
                if n.fd is not None:
                    os.fchown(n.fd, uid, gid)
                else:
                    self._nodeop(n, lambda fd, name: os.chown(name, uid, gid, dir_fd=fd,
                                                              follow_symlinks=False))
        if attr.size is not None:
            if n.vtype == VDIR:
                raise PuffsError(EISDIR)
            if n.vtype == VREG:
                os.ftruncate(self._iofd(n, True), attr.size)
            # other types: nothing to truncate (ufs_chsize ignores them too)
        if attr.mode is not None:
            if not owner:
                raise PuffsError(EPERM)
            mode = attr.mode & 0o7777
            if n.fd is not None:
                os.fchmod(n.fd, mode)
            else:
                with self._at(self._rel(n)) as (fd, name):
                    self._chmod_at(fd, name, n.ident, mode)
        if attr.atime is not None or attr.mtime is not None:
            if not owner and not (attr.vaflags & VA_UTIMES_NULL):
                raise PuffsError(EPERM)
            st = self._stat_node(n)
            a = attr.atime[0] * 1_000_000_000 + attr.atime[1] if attr.atime else st.st_atime_ns
            m = attr.mtime[0] * 1_000_000_000 + attr.mtime[1] if attr.mtime else st.st_mtime_ns
            if n.fd is not None and os.utime in os.supports_fd:
                os.utime(n.fd, ns=(a, m))
            else:
                self._nodeop(n, lambda fd, name: os.utime(name, ns=(a, m), dir_fd=fd,
                                                          follow_symlinks=False))

    @_host
    async def node_read(self, node: int, offset: int, size: int, cred: Cred,
                        ioflag: int) -> bytes:
        n = self.node(node)
        if n.vtype == VLNK:
            raise PuffsError(EINVAL)
        if offset < 0:
            raise PuffsError(EINVAL)
        fd = self._iofd(n, False)
        out = bytearray()
        while len(out) < size:
            chunk = os.pread(fd, size - len(out), offset + len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)

    @_host
    async def node_write(self, node: int, offset: int, data: bytes, cred: Cred,
                         ioflag: int) -> int:
        n = self.node(node)
        self._rw()
        if n.vtype not in (VREG, VDIR):
            raise PuffsError(EINVAL)
        fd = self._iofd(n, True)
        if ioflag & PUFFS_IO_APPEND:
            offset = os.fstat(fd).st_size
        if offset < 0:
            raise PuffsError(EINVAL)
        view = memoryview(data)
        done = 0
        while done < len(view):
            k = os.pwrite(fd, view[done:], offset + done)
            if k <= 0:
                raise PuffsError(EIO)
            done += k
        return done

    @_host
    async def node_fsync(self, node: int, cred: Cred, flags: int, offlo: int, offhi: int,
                         pid: int) -> None:
        n = self.node(node)
        sync = os.fdatasync if flags & PUFFS_FSYNC_DATAONLY and hasattr(os, "fdatasync") \
            else os.fsync
        if n.fd is not None:
            sync(n.fd)
            return
        if n.vtype not in (VREG, VDIR) or not n.names:
            return
        fd = self._open(self._rel(n), os.O_RDONLY | (_O_DIRECTORY if n.vtype == VDIR else 0))
        try:
            if _ident(os.fstat(fd)) != n.ident:
                raise PuffsError(ESTALE)
            sync(fd)
        finally:
            os.close(fd)

    @_host
    async def node_remove(self, dir: int, node: int, cn: ComponentName) -> None:
        _, rel = self._entry(dir, cn.name)
        victim = self.nodes.get(node)
        with self._at(rel) as (fd, name):
            before = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if st_mod.S_ISDIR(before.st_mode):
                raise PuffsError(EPERM)
            if (victim is not None and victim.vtype == VREG and victim.fd is None
                    and before.st_nlink <= 1 and _ident(before) == victim.ident):
                # keep the data reachable while the kernel still holds the node
                try:
                    self._iofd(victim, False)
                except (OSError, PuffsError):
                    pass
            os.unlink(name, dir_fd=fd)
        self._unname(rel, before)

    @_host
    async def node_link(self, dir: int, node: int, cn: ComponentName) -> None:
        _, rel = self._entry(dir, cn.name)
        n = self.node(node)
        if n.vtype == VDIR:
            raise PuffsError(EPERM)
        src = self._rel(n)
        with self._at(src) as (sfd, sname), self._at(rel) as (tfd, tname):
            if _ident(os.stat(sname, dir_fd=sfd, follow_symlinks=False)) != n.ident:
                raise PuffsError(ESTALE)
            os.link(sname, tname, src_dir_fd=sfd, dst_dir_fd=tfd, follow_symlinks=False)
        self._claim(n, rel)

    @_host
    async def node_rmdir(self, dir: int, node: int, cn: ComponentName) -> None:
        _, rel = self._entry(dir, cn.name)
        with self._at(rel) as (fd, name):
            before = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if not st_mod.S_ISDIR(before.st_mode):
                raise PuffsError(ENOTDIR)
            os.rmdir(name, dir_fd=fd)
        self._unname(rel, before)

    @_host
    async def node_rename(self, srcdir: int, src: int, cn_src: ComponentName, targdir: int,
                          targ: int | None, cn_targ: ComponentName) -> None:
        _, srel = self._entry(srcdir, cn_src.name)
        _, trel = self._entry(targdir, cn_targ.name)
        if srel == trel:
            return
        with self._at(srel) as (sfd, sname), self._at(trel) as (tfd, tname):
            sst = os.stat(sname, dir_fd=sfd, follow_symlinks=False)
            try:
                tst: os.stat_result | None = os.stat(tname, dir_fd=tfd,
                                                     follow_symlinks=False)
            except FileNotFoundError:
                tst = None
            if tst is not None and _ident(tst) == _ident(sst):
                # Two links of one file: NetBSD's rename(2) removes the source
                # name (the host's would do nothing).
                os.unlink(sname, dir_fd=sfd)
            else:
                os.rename(sname, tname, src_dir_fd=sfd, dst_dir_fd=tfd)
        if tst is not None and _ident(tst) == _ident(sst):
            self._unname(srel, sst)
            return
        if tst is not None:
            self._unname(trel, tst)
        self._move(srel, trel)

    @_host
    async def node_readdir(self, dir: int, offset: int, cred: Cred) -> list[DirEntry]:
        if offset < 0:
            raise PuffsError(EINVAL)
        d, drel = self._dir(dir)
        found: dict[bytes, tuple[int, int]] = {}
        if drel:
            dfd = self._open(drel, os.O_RDONLY | _O_DIRECTORY)
        else:
            dfd = os.open(b".", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC, dir_fd=self._rfd())
        try:
            dst = os.fstat(dfd)
            if _ident(dst) != d.ident:
                raise PuffsError(ESTALE)
            with os.scandir(dfd) as it:
                for de in it:
                    try:
                        found[os.fsencode(de.name)] = (de.inode(), self._de_vtype(de))
                    except OSError:
                        continue  # went away while we looked
        finally:
            os.close(dfd)
        dotdot = dst.st_ino if not drel else self._lstat(drel.rpartition(b"/")[0]).st_ino
        if offset == 0:
            for name in [nm for nm in d.slots if nm not in found]:
                del d.slots[name]
        for name in sorted(nm for nm in found if nm not in d.slots):
            d.slots[name] = d.next_slot
            d.next_slot += 1
        ents = [DirEntry(b".", dst.st_ino, VDIR, 1), DirEntry(b"..", dotdot, VDIR, 2)]
        ents += [DirEntry(name, found[name][0], found[name][1], slot + 1)
                 for name, slot in sorted(d.slots.items(), key=lambda kv: kv[1])
                 if name in found]
        return [e for e in ents if e.next > offset]

    @staticmethod
    def _de_vtype(de: os.DirEntry[Any]) -> int:
        if de.is_symlink():
            return VLNK
        if de.is_dir(follow_symlinks=False):
            return VDIR
        if de.is_file(follow_symlinks=False):
            return VREG
        return _vtype(de.stat(follow_symlinks=False).st_mode)

    @_host
    async def node_readlink(self, node: int, cred: Cred) -> bytes:
        n = self.node(node)
        if n.vtype != VLNK:
            raise PuffsError(EINVAL)
        with self._at(self._rel(n)) as (fd, name):
            return os.fsencode(os.readlink(name, dir_fd=fd))

    @_host
    async def node_inactive(self, node: int, pid: int) -> int:
        n = self.nodes.get(node)
        if n is None or n.buried or not n.names:
            return 0
        self._drop_fd(n)  # reopened by path when needed
        return 1

    @_host
    async def node_reclaim(self, node: int, pid: int) -> None:
        if node == ROOT_COOKIE:
            return
        n = self.nodes.pop(node, None)
        if n is None:
            return
        self._drop_fd(n)
        if self._byident.get(n.ident) == node:
            del self._byident[n.ident]
        for rel in n.names:
            if self._names.get(rel) == node:
                del self._names[rel]

    @_host
    async def node_pathconf(self, node: int, name: int) -> int:
        self.node(node)
        if name not in PATHCONF_DEFAULTS:
            raise PuffsError(EINVAL)
        hostname = _HOST_PATHCONF.get(name)
        if hostname is not None and hostname in os.pathconf_names:
            try:
                v = os.fpathconf(self._rfd(), hostname)
            except OSError:
                v = -1
            if v > 0:
                return min(v, NAME_MAX) if name == _PC_NAME_MAX else v
        return PATHCONF_DEFAULTS[name]
