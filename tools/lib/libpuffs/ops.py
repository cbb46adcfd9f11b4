"""What a puffs file system implements: ``Operations``, and the small records it uses.

In the spirit of libpuffs 2007 (``struct puffs_ops``, one callback per
operation) with pyfuse3's ergonomics: a class with one ``async`` method
per operation, errors raised as ``PuffsError(errno)``, attributes as a
small record (``Attr``).  Nodes are named by *cookies*: non-zero integers
the file system chooses (libpuffs uses the address of its node; pyfuse3
uses inode numbers).  The root's cookie is ``root_cookie``.

Only the methods a subclass overrides are announced to the kernel (the
``pa_vnopmask`` of the mount), as libpuffs' fillvnopmask does; the kernel
answers the others itself (EOPNOTSUPP, or success for access, close and
seek; lookup is always sent).  Unlike 2007 libpuffs, an overridden
``node_pathconf`` or ``node_advlock`` is announced too.  The defaults
below are what libpuffs 2007 answers when a request reaches a missing
callback anyway (with PUFFS_KFLAG_ALLOPS): 0, EOPNOTSUPP for getattr,
setattr, readlink and inactive, EIO for read and write; lookup, which 2007
requires, answers EOPNOTSUPP.

Rules that matter (the same as pyfuse3's "forget" rules): a node may be
freed only at ``node_reclaim``, never at remove/rmdir (an open file stays
readable after unlink); ``node_inactive`` returns how many references the
file system still keeps (0 for a removed node makes the kernel reclaim it
at once).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from fs.puffs.puffs_msgif_h import (
    NGROUPS,
    PUFFCRED_CRED_FSCRED,
    PUFFCRED_TYPE_INTERNAL,
    PUFFS_VN_ACCESS,
    PUFFS_VN_ADVLOCK,
    PUFFS_VN_CLOSE,
    PUFFS_VN_CREATE,
    PUFFS_VN_FSYNC,
    PUFFS_VN_GETATTR,
    PUFFS_VN_INACTIVE,
    PUFFS_VN_LINK,
    PUFFS_VN_MKDIR,
    PUFFS_VN_MKNOD,
    PUFFS_VN_MMAP,
    PUFFS_VN_OPEN,
    PUFFS_VN_PATHCONF,
    PUFFS_VN_POLL,
    PUFFS_VN_PRINT,
    PUFFS_VN_READ,
    PUFFS_VN_READDIR,
    PUFFS_VN_READLINK,
    PUFFS_VN_RECLAIM,
    PUFFS_VN_REMOVE,
    PUFFS_VN_RENAME,
    PUFFS_VN_RMDIR,
    PUFFS_VN_SEEK,
    PUFFS_VN_SETATTR,
    PUFFS_VN_SYMLINK,
    PUFFS_VN_WRITE,
    VATTR_WIRE_HEAD,
    puffs_cred,
    puffs_kcn,
    uucred,
    vattr,
)
from kern.errno import EACCES, EIO, EOPNOTSUPP

from .errors import PuffsError

# Kernel values a server sees (sys/vnode.h, sys/fcntl.h)
VNON, VREG, VDIR, VBLK, VCHR, VLNK, VSOCK, VFIFO, VBAD = range(9)
PUFFS_VNOVAL = -1
PUFFS_IO_APPEND = 0x20
# The access bits VOP_ACCESS passes as they are (libpuffs 2007 defines
# PUFFS_VREAD 04 etc., which do not match what its kernel sends).
PUFFS_VREAD = 0o400
PUFFS_VWRITE = 0o200
PUFFS_VEXEC = 0o100
# pathconf(2) answers of an in-memory file system: the _PC_* names of
# sys/unistd.h -> NetBSD's limits (LINK_MAX, MAX_CANON, MAX_INPUT, NAME_MAX,
# PATH_MAX, PIPE_BUF, CHOWN_RESTRICTED, NO_TRUNC, VDISABLE, SYNC_IO,
# FILESIZEBITS); servers answer EINVAL for other names.
PATHCONF_DEFAULTS = {1: 32767, 2: 255, 3: 255, 4: 255, 5: 1024, 6: 512, 7: 1, 8: 1, 9: 0xff,
                     10: 1, 11: 64}
PUFFS_FSYNC_WAIT = 0x0001
PUFFS_FSYNC_DATAONLY = 0x0002
PUFFS_FSYNC_LAZY = 0x0008
PUFFS_FSYNC_CACHE = 0x0100


#: the image VATTR_WIRE_HEAD packs, stored into a wire vattr in one call
_VATTR_HEAD_IMAGE = struct.Struct(f"{VATTR_WIRE_HEAD.size}s")
#: va_fsid, read where an answer leaves it to the kernel
_FSID_OFF = vattr.va_fsid.offset
_FSID = struct.Struct("=I")
assert vattr.va_fsid.size == _FSID.size, "struct vattr's va_fsid"

#: struct puffs_cred as one record: the uucred's cr_uid, cr_gid, cr_ngroups
#: and cr_groups (cr_unused and the padding skipped), pcr_type, pcr_internal
_CRED_WIRE = struct.Struct(f"=4xIIh2x{NGROUPS}IBB")
_CRED_TYPE = 3 + NGROUPS    # pcr_type's index in the record
assert (uucred.cr_uid.offset, uucred.cr_gid.offset, uucred.cr_ngroups.offset,
        uucred.cr_groups.offset, puffs_cred.pcr_type.offset,
        puffs_cred.pcr_internal.offset) == (4, 8, 12, 16, 16 + 4 * NGROUPS,
                                            17 + 4 * NGROUPS) and \
    _CRED_WIRE.size == puffs_cred.pcr_internal.offset + 1, "struct puffs_cred's layout"


@dataclass
class Attr:
    """struct vattr for a server: ``None`` is VNOVAL ("not given"/"unchanged").

    Times are ``(seconds, nanoseconds)`` pairs.
    """

    type: int | None = None
    mode: int | None = None
    nlink: int | None = None
    uid: int | None = None
    gid: int | None = None
    fsid: int | None = None
    fileid: int | None = None
    size: int | None = None
    blocksize: int | None = None
    atime: tuple[int, int] | None = None
    mtime: tuple[int, int] | None = None
    ctime: tuple[int, int] | None = None
    birthtime: tuple[int, int] | None = None
    gen: int | None = None
    flags: int | None = None
    rdev: int | None = None
    bytes: int | None = None
    filerev: int | None = None
    vaflags: int = 0

    _U32 = ("mode", "nlink", "uid", "gid", "fsid", "rdev")
    _U64 = ("fileid", "size", "gen", "flags", "bytes", "filerev")

    @classmethod
    def from_wire(cls, va: vattr) -> Attr:
        a = cls()
        a.type = None if va.va_type in (VNON, PUFFS_VNOVAL) else va.va_type
        for f in cls._U32:
            v = getattr(va, "va_" + f)
            setattr(a, f, None if v == 0xffffffff else v)
        for f in cls._U64:
            v = getattr(va, "va_" + f)
            setattr(a, f, None if v == 0xffffffffffffffff else v)
        a.blocksize = None if va.va_blocksize == -1 else va.va_blocksize
        for f in ("atime", "mtime", "ctime", "birthtime"):
            ts = getattr(va, "va_" + f)
            setattr(a, f, None if (ts.tv_sec == -1 and ts.tv_nsec == -1)
                    else (ts.tv_sec, ts.tv_nsec))
        a.vaflags = va.va_vaflags
        return a

    def to_wire(self, va: vattr) -> None:
        """Store the given fields into ``va`` (the others keep what they hold).

        When every field is given as an int in range (a getattr answer; fsid
        may be left to the kernel, which sets it), one pack of them all;
        otherwise one statement per field (a getattr/setattr loop by name
        costs a GETATTR reply about twice as much)."""
        if not self._pack_into(va, 0):
            self._store(va)

    def to_frame(self, frame: bytearray, off: int) -> None:
        """:meth:`to_wire` into the wire vattr at byte ``off`` of a request frame
        (a ctypes view of it made only when the fields go one by one)."""
        if not self._pack_into(frame, off):
            self._store(vattr.from_buffer(frame, off))

    def _pack_into(self, buf: Any, off: int) -> bool:
        """Every field in one pack into the wire vattr at ``off`` of ``buf``, or
        False (nothing stored) when one is not an int in range."""
        at, mt, ct, bt = self.atime, self.mtime, self.ctime, self.birthtime
        fsid = self.fsid
        if fsid is None:
            fsid = _FSID.unpack_from(buf, off + _FSID_OFF)[0]
        try:
            image = VATTR_WIRE_HEAD.pack(
                self.type, self.mode, self.nlink, self.uid, self.gid, fsid, self.fileid,
                self.size, self.blocksize, at[0], at[1], mt[0], mt[1], ct[0], ct[1], bt[0],
                bt[1], self.gen, self.flags, self.rdev, self.bytes, self.filerev)
        except (struct.error, TypeError, IndexError):
            return False    # (None, a float, a value ctypes would wrap: field by field)
        _VATTR_HEAD_IMAGE.pack_into(buf, off, image)
        return True

    def _store(self, va: vattr) -> None:
        """The given fields into ``va`` one statement each."""
        if self.type is not None:
            va.va_type = self.type
        if (v := self.mode) is not None:
            va.va_mode = int(v)
        if (v := self.nlink) is not None:
            va.va_nlink = int(v)
        if (v := self.uid) is not None:
            va.va_uid = int(v)
        if (v := self.gid) is not None:
            va.va_gid = int(v)
        if (v := self.fsid) is not None:
            va.va_fsid = int(v)
        if (v := self.rdev) is not None:
            va.va_rdev = int(v)
        if (v := self.fileid) is not None:
            va.va_fileid = int(v)
        if (v := self.size) is not None:
            va.va_size = int(v)
        if (v := self.gen) is not None:
            va.va_gen = int(v)
        if (v := self.flags) is not None:
            va.va_flags = int(v)
        if (v := self.bytes) is not None:
            va.va_bytes = int(v)
        if (v := self.filerev) is not None:
            va.va_filerev = int(v)
        if self.blocksize is not None:
            va.va_blocksize = self.blocksize
        # (the times stored through a view of each: a timespec built and
        # copied in costs about twice as much)
        if (t := self.atime) is not None:
            ts = va.va_atime
            ts.tv_sec, ts.tv_nsec = int(t[0]), int(t[1])
        if (t := self.mtime) is not None:
            ts = va.va_mtime
            ts.tv_sec, ts.tv_nsec = int(t[0]), int(t[1])
        if (t := self.ctime) is not None:
            ts = va.va_ctime
            ts.tv_sec, ts.tv_nsec = int(t[0]), int(t[1])
        if (t := self.birthtime) is not None:
            ts = va.va_birthtime
            ts.tv_sec, ts.tv_nsec = int(t[0]), int(t[1])

    def given(self) -> dict[str, Any]:
        """The fields that are set (setattr: what to change)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "vaflags" and getattr(self, f.name) is not None}


@dataclass
class Cred:
    """struct puffs_cred: who asks.  ``internal`` is "NOCRED"/"FSCRED" for the kernel."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    internal: str | None = None

    @classmethod
    def from_wire(cls, pcr: puffs_cred) -> Cred:
        return cls.from_frame(pcr, 0)

    @classmethod
    def from_frame(cls, buf: Any, off: int) -> Cred:
        """The struct puffs_cred at byte ``off`` of ``buf`` (a request frame, or
        a puffs_cred itself), read in one unpack."""
        v = _CRED_WIRE.unpack_from(buf, off)
        if v[_CRED_TYPE] == PUFFCRED_TYPE_INTERNAL:
            return cls(internal="FSCRED" if v[_CRED_TYPE + 1] == PUFFCRED_CRED_FSCRED
                       else "NOCRED")
        n = max(0, min(v[2], NGROUPS))
        return cls(v[0], v[1], v[3:3 + n])

    @property
    def is_kernel(self) -> bool:
        return self.internal is not None

    @property
    def is_super(self) -> bool:
        return self.internal == "FSCRED" or (self.internal is None and self.uid == 0)

    def has_group(self, gid: int) -> bool:
        return gid == self.gid or gid in self.groups


def puffs_access(vtype: int, file_mode: int, uid: int, gid: int, acc_mode: int,
                 cred: Cred) -> int:
    """libpuffs' puffs_access (creds.c, after the kernel's vaccess): 0, or
    EACCES when ``cred`` may not have ``acc_mode`` (PUFFS_VREAD, _VWRITE,
    _VEXEC) on a node of type ``vtype``, permissions ``file_mode``, owned by
    ``uid``:``gid``.  The kernel's own credentials may do anything; the
    superuser anything but execute a file with no execute bit at all."""
    if cred.is_kernel:
        return 0
    if cred.uid == 0:
        if acc_mode & PUFFS_VEXEC and vtype != VDIR and not file_mode & 0o111:
            return EACCES
        return 0
    if cred.uid == uid:
        shift = 6
    elif cred.has_group(gid):
        shift = 3
    else:
        shift = 0
    mask = (((4 if acc_mode & PUFFS_VREAD else 0) | (2 if acc_mode & PUFFS_VWRITE else 0)
             | (1 if acc_mode & PUFFS_VEXEC else 0)) << shift)
    return 0 if file_mode & mask == mask else EACCES


@dataclass
class ComponentName:
    """struct puffs_kcn: one path component of a namespace operation."""

    name: bytes
    nameiop: int = 0
    flags: int = 0
    pid: int = 0
    cred: Cred = field(default_factory=Cred)

    @classmethod
    def from_wire(cls, kcn: puffs_kcn) -> ComponentName:
        n = max(0, min(kcn.pkcn_namelen, puffs_kcn.pkcn_name.size))
        raw = bytes(kcn.pkcn_name)[:n]
        return cls(raw, kcn.pkcn_nameiop, kcn.pkcn_flags, kcn.pkcn_pid,
                   Cred.from_wire(kcn.pkcn_cred))

    @property
    def str(self) -> str:
        return self.name.decode("utf-8", "surrogateescape")


@dataclass
class NodeInfo:
    """A node handed to the kernel (lookup, fhtonode): cookie, type, size, rdev."""

    cookie: int
    vtype: int
    size: int = 0
    rdev: int = 0


@dataclass
class DirEntry:
    """One directory entry for ``node_readdir``; ``next`` is the offset after it."""

    name: bytes | str
    fileno: int
    vtype: int
    next: int


@dataclass
class StatvfsData:
    """What ``fs_statvfs`` reports (the kernel fills in the names and ids)."""

    f_bsize: int = 512
    f_frsize: int = 512
    f_iosize: int = 512
    f_blocks: int = 0
    f_bfree: int = 0
    f_bavail: int = 0
    f_bresvd: int = 0
    f_files: int = 0
    f_ffree: int = 0
    f_favail: int = 0
    f_fresvd: int = 0
    f_namemax: int = 255

    def to_wire(self, sb: Any) -> None:
        for f in fields(self):
            setattr(sb, f.name, int(getattr(self, f.name)))


# which method announces which vnode op in pa_vnopmask
VNOP_METHODS = {
    "node_create": PUFFS_VN_CREATE,
    "node_mknod": PUFFS_VN_MKNOD,
    "node_open": PUFFS_VN_OPEN,
    "node_close": PUFFS_VN_CLOSE,
    "node_access": PUFFS_VN_ACCESS,
    "node_getattr": PUFFS_VN_GETATTR,
    "node_setattr": PUFFS_VN_SETATTR,
    "node_poll": PUFFS_VN_POLL,
    "node_mmap": PUFFS_VN_MMAP,
    "node_fsync": PUFFS_VN_FSYNC,
    "node_seek": PUFFS_VN_SEEK,
    "node_remove": PUFFS_VN_REMOVE,
    "node_link": PUFFS_VN_LINK,
    "node_rename": PUFFS_VN_RENAME,
    "node_mkdir": PUFFS_VN_MKDIR,
    "node_rmdir": PUFFS_VN_RMDIR,
    "node_symlink": PUFFS_VN_SYMLINK,
    "node_readdir": PUFFS_VN_READDIR,
    "node_readlink": PUFFS_VN_READLINK,
    "node_reclaim": PUFFS_VN_RECLAIM,
    "node_inactive": PUFFS_VN_INACTIVE,
    "node_print": PUFFS_VN_PRINT,
    "node_read": PUFFS_VN_READ,
    "node_write": PUFFS_VN_WRITE,
    "node_pathconf": PUFFS_VN_PATHCONF,
    "node_advlock": PUFFS_VN_ADVLOCK,
}


class Operations:
    """Base class of a puffs file system: override the operations you support."""

    #: the root node's cookie, handed to the kernel at start
    root_cookie: int = 1

    # ---- file system operations

    async def fs_unmount(self, flags: int, pid: int) -> None:
        """The kernel asks to unmount; raise PuffsError to refuse (ignored with MNT_FORCE)."""

    async def fs_statvfs(self, pid: int) -> StatvfsData:
        return StatvfsData()

    async def fs_sync(self, waitfor: int, cred: Cred, pid: int) -> None:
        """Flush everything to stable storage."""

    async def fs_fhtonode(self, fid: bytes) -> NodeInfo:
        raise PuffsError(EOPNOTSUPP)

    async def fs_nodetofh(self, cookie: int, room: int) -> bytes:
        """A file handle of at most ``room`` bytes (a longer one makes the kernel
        report E2BIG with the size needed)."""
        raise PuffsError(EOPNOTSUPP)

    async def fs_suspend(self, status: int) -> None:
        """PUFFS_SUSPEND_START, _SUSPENDED, _RESUME or _ERROR (no reply)."""

    # ---- node operations (cookie first; dir for namespace operations)

    async def node_lookup(self, dir: int, cn: ComponentName) -> NodeInfo:
        raise PuffsError(EOPNOTSUPP)

    async def node_create(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        return 0

    async def node_mknod(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        return 0

    async def node_mkdir(self, dir: int, cn: ComponentName, attr: Attr) -> int:
        return 0

    async def node_symlink(self, dir: int, cn: ComponentName, attr: Attr,
                           target: bytes) -> int:
        return 0

    async def node_open(self, node: int, mode: int, cred: Cred, pid: int) -> None:
        pass

    async def node_close(self, node: int, fflag: int, cred: Cred, pid: int) -> None:
        pass

    async def node_access(self, node: int, mode: int, cred: Cred, pid: int) -> None:
        pass

    async def node_getattr(self, node: int, cred: Cred, pid: int) -> Attr:
        raise PuffsError(EOPNOTSUPP)

    async def node_setattr(self, node: int, attr: Attr, cred: Cred, pid: int) -> None:
        raise PuffsError(EOPNOTSUPP)

    async def node_poll(self, node: int, events: int, pid: int) -> int:
        return 0

    async def node_mmap(self, node: int, fflags: int, cred: Cred, pid: int) -> None:
        pass

    async def node_fsync(self, node: int, cred: Cred, flags: int, offlo: int, offhi: int,
                         pid: int) -> None:
        pass

    async def node_seek(self, node: int, oldoff: int, newoff: int, cred: Cred) -> None:
        pass

    async def node_remove(self, dir: int, node: int, cn: ComponentName) -> None:
        pass

    async def node_link(self, dir: int, node: int, cn: ComponentName) -> None:
        pass

    async def node_rename(self, srcdir: int, src: int, cn_src: ComponentName, targdir: int,
                          targ: int | None, cn_targ: ComponentName) -> None:
        pass

    async def node_rmdir(self, dir: int, node: int, cn: ComponentName) -> None:
        pass

    async def node_readdir(self, dir: int, offset: int,
                           cred: Cred) -> Iterable[DirEntry] | AsyncIterable[DirEntry]:
        """The entries from ``offset`` on; the library packs as many as fit."""
        return ()

    async def node_readlink(self, node: int, cred: Cred) -> bytes:
        raise PuffsError(EOPNOTSUPP)

    async def node_read(self, node: int, offset: int, size: int, cred: Cred,
                        ioflag: int) -> bytes:
        """At most ``size`` bytes at ``offset``; fewer only at the end of the file."""
        raise PuffsError(EIO)

    async def node_write(self, node: int, offset: int, data: bytes, cred: Cred,
                         ioflag: int) -> int:
        """Write ``data`` at ``offset`` (all of it, or the kernel reports EIO)."""
        raise PuffsError(EIO)

    async def node_inactive(self, node: int, pid: int) -> int:
        """The kernel dropped its last use: how many references the fs still keeps."""
        raise PuffsError(EOPNOTSUPP)

    async def node_reclaim(self, node: int, pid: int) -> None:
        """The kernel forgot the node (no reply): free it if it is removed."""

    async def node_print(self, node: int) -> None:
        pass

    async def node_pathconf(self, node: int, name: int) -> int:
        return 0

    async def node_advlock(self, node: int, id: int, op: int, fl: Any, flags: int) -> None:
        pass


def vnopmask(ops: Operations) -> list[int]:
    """The ops the file system implements: those its class overrides."""
    mask = []
    base = Operations
    for name, op in VNOP_METHODS.items():
        if getattr(type(ops), name, None) is not getattr(base, name):
            mask.append(op)
    return mask

