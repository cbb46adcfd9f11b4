"""The puffs kernel/user interface (sys/fs/puffs/puffs_msgif.h of April 2007).

Shared by the kernel (imported relatively by the puffs module, so each
machine has its own copy) and by userland (lib/libpuffs imports it the
ordinary way, as a C program includes the header).  Everything that crosses
the user/kernel boundary is a ``ctypes.Structure`` with NetBSD's LP64
layout (amd64): the mount arguments, the ioctl argument blocks and every
request.

Where the 2007 header can be pinned: the op enums, the ``puffs_req`` union,
the ioctls and most request structs are those of revision 1.19 (Feb-Apr
2007); the 1.38 additions (``puffs_kargs`` with ``pa_fhsize``,
``pa_fhflags`` and ``pa_nhashbuckets``, the file-handle flags, the
fhtonode/nodetofh requests and the cookie-carrying readdir request) follow
the revisions of May-July 2007 that use them.  The error notification
(``PUFFSOP_ERROR``, the ``PUFFS_ERR_*`` types, ``struct puffs_error``, and
with it the 3-bit ``PUFFSOP_OPCMASK``) is that of later headers (read in
revision 1.87): kemu's puffs_getvnode and puffs_getattr report a server's
bad answer with it, as NetBSD's puffs_senderr does (puffs_subr.py's S5).
``struct vattr`` travels in the NetBSD 5.0 layout that compat's
``vattr50`` keeps (32-bit time_t).

A request is a kernel buffer (a ``bytearray``) that starts with the request
struct; variable data (``pvnr_data``, ``pvfsr_data``) follows the struct at
``sizeof(struct)``, which is always 8-aligned (``preq_buf[0]`` is declared
``__aligned(ALIGNBYTES+1)`` in C).  Pointers (cookies, user buffers) are
``c_void_p``: they read back as ``None`` for NULL.
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any

from kern.fcntl import flock
from kern.ioccom import _IO, _IOW, _IOWR
from kern.param import MAXPATHLEN, MAXPHYS  # noqa: F401 - re-exported
from vfs.statvfs import statvfs

# --------------------------------------------------------------- op classes

PUFFSOP_VFS = 1
PUFFSOP_VN = 2
PUFFSOP_CACHE = 3
PUFFSOP_ERROR = 4  # (later headers) only kernel->server, always FAF
PUFFSOPFLAG_FAF = 0x10  # fire-and-forget: no reply, no waiter

PUFFSOP_OPCMASK = 0x07  # (later headers; 2007's 0x03 cannot name PUFFSOP_ERROR)


def PUFFSOP_OPCLASS(a: int) -> int:
    return a & PUFFSOP_OPCMASK


def PUFFSOP_WANTREPLY(a: int) -> bool:
    return (a & PUFFSOPFLAG_FAF) == 0


# VFS ops.  PUFFS_VFS_MAX stops at EXTATTCTL although SUSPEND comes after it:
# the 2007 off-by-one, kept (nothing sizes an array by it in this port).
(PUFFS_VFS_MOUNT, PUFFS_VFS_START, PUFFS_VFS_UNMOUNT, PUFFS_VFS_ROOT, PUFFS_VFS_STATVFS,
 PUFFS_VFS_SYNC, PUFFS_VFS_VGET, PUFFS_VFS_FHTOVP, PUFFS_VFS_VPTOFH, PUFFS_VFS_INIT,
 PUFFS_VFS_DONE, PUFFS_VFS_SNAPSHOT, PUFFS_VFS_EXTATTCTL, PUFFS_VFS_SUSPEND) = range(14)
PUFFS_VFS_MAX = PUFFS_VFS_EXTATTCTL

# Vnode ops.  PUFFS_VN_MAX is SETEXTATTR and pa_vnopmask has that many
# slots, so SETEXTATTR's own slot lies past the end (the same 2007 quirk).
(PUFFS_VN_LOOKUP, PUFFS_VN_CREATE, PUFFS_VN_MKNOD, PUFFS_VN_OPEN, PUFFS_VN_CLOSE,
 PUFFS_VN_ACCESS, PUFFS_VN_GETATTR, PUFFS_VN_SETATTR, PUFFS_VN_READ, PUFFS_VN_WRITE,
 PUFFS_VN_IOCTL, PUFFS_VN_FCNTL, PUFFS_VN_POLL, PUFFS_VN_KQFILTER, PUFFS_VN_REVOKE,
 PUFFS_VN_MMAP, PUFFS_VN_FSYNC, PUFFS_VN_SEEK, PUFFS_VN_REMOVE, PUFFS_VN_LINK,
 PUFFS_VN_RENAME, PUFFS_VN_MKDIR, PUFFS_VN_RMDIR, PUFFS_VN_SYMLINK, PUFFS_VN_READDIR,
 PUFFS_VN_READLINK, PUFFS_VN_ABORTOP, PUFFS_VN_INACTIVE, PUFFS_VN_RECLAIM, PUFFS_VN_LOCK,
 PUFFS_VN_UNLOCK, PUFFS_VN_BMAP, PUFFS_VN_STRATEGY, PUFFS_VN_PRINT, PUFFS_VN_ISLOCKED,
 PUFFS_VN_PATHCONF, PUFFS_VN_ADVLOCK, PUFFS_VN_LEASE, PUFFS_VN_WHITEOUT, PUFFS_VN_GETPAGES,
 PUFFS_VN_PUTPAGES, PUFFS_VN_GETEXTATTR, PUFFS_VN_LISTEXTATTR, PUFFS_VN_OPENEXTATTR,
 PUFFS_VN_DELETEEXTATTR, PUFFS_VN_SETEXTATTR) = range(46)
PUFFS_VN_MAX = PUFFS_VN_SETEXTATTR

PUFFS_VFS_NAMES = ("MOUNT", "START", "UNMOUNT", "ROOT", "STATVFS", "SYNC", "VGET", "FHTOVP",
                   "VPTOFH", "INIT", "DONE", "SNAPSHOT", "EXTATTCTL", "SUSPEND")
PUFFS_VN_NAMES = ("LOOKUP", "CREATE", "MKNOD", "OPEN", "CLOSE", "ACCESS", "GETATTR",
                  "SETATTR", "READ", "WRITE", "IOCTL", "FCNTL", "POLL", "KQFILTER", "REVOKE",
                  "MMAP", "FSYNC", "SEEK", "REMOVE", "LINK", "RENAME", "MKDIR", "RMDIR",
                  "SYMLINK", "READDIR", "READLINK", "ABORTOP", "INACTIVE", "RECLAIM", "LOCK",
                  "UNLOCK", "BMAP", "STRATEGY", "PRINT", "ISLOCKED", "PATHCONF", "ADVLOCK",
                  "LEASE", "WHITEOUT", "GETPAGES", "PUTPAGES", "GETEXTATTR", "LISTEXTATTR",
                  "OPENEXTATTR", "DELETEEXTATTR", "SETEXTATTR")

# --------------------------------------------------------------- mount arguments

PUFFSDEVELVERS = 0x80000000
PUFFSVERSION = 4
PUFFSNAMESIZE = 32


class puffs_kargs(ctypes.Structure):
    """struct puffs_kargs: mount(2)'s argument block for MOUNT_PUFFS (120 bytes)."""

    _fields_ = [
        ("pa_vers", ctypes.c_uint),
        ("pa_fd", ctypes.c_int),
        ("pa_flags", ctypes.c_uint32),
        ("pa_maxreqlen", ctypes.c_size_t),
        ("pa_name", ctypes.c_char * (PUFFSNAMESIZE + 1)),  # name for puffs type
        ("pa_vnopmask", ctypes.c_uint8 * PUFFS_VN_MAX),
        ("pa_fhsize", ctypes.c_size_t),
        ("pa_fhflags", ctypes.c_int),
        ("pa_nhashbuckets", ctypes.c_int),
    ]


PUFFS_KFLAG_ALLOWCTL = 0x01  # ioctl/fcntl commands allowed
PUFFS_KFLAG_NOCACHE = 0x02   # flush page cache immediately
PUFFS_KFLAG_ALLOPS = 0x04    # ignore pa_vnopmask, send all
PUFFS_KFLAG_MASK = 0x07

PUFFS_FHFLAG_DYNAMIC = 0x01  # handles vary in length up to pa_fhsize
PUFFS_FHFLAG_NFSV2 = 0x02    # enforce the NFSv2 limit at mount
PUFFS_FHFLAG_NFSV3 = 0x04    # enforce the NFSv3 limit at mount
PUFFS_FHFLAG_PROTOMASK = 0x06

# The device minor of the cloning /dev/puffs, also the cap on instances.
PUFFS_CLONER = 0x7ffff

# --------------------------------------------------------------- request headers


class puffs_reqh_get(ctypes.Structure):
    """PUFFSGETOP's argument."""

    _fields_ = [
        ("phg_buf", ctypes.c_void_p),      # user buffer
        ("phg_buflen", ctypes.c_size_t),   # user buffer length
        ("phg_nops", ctypes.c_int),        # max ops user wants / number delivered
        ("phg_more", ctypes.c_int),        # advisory: more ops available?
    ]


class puffs_reqh_put(ctypes.Structure):
    """PUFFSPUTOP's argument; the php_* fields describe the first reply."""

    _fields_ = [
        ("php_nops", ctypes.c_int),        # ops available / ops handled
        ("php_id", ctypes.c_uint64),       # request id
        ("php_buf", ctypes.c_void_p),      # user buffer address
        ("php_buflen", ctypes.c_size_t),   # user buffer length, hdr NOT incl.
    ]


# The union u of struct puffs_req.  C reaches its members through macros
# (#define preq_opclass u.out.opclass, ...); here the members carry the macro
# names and the union and its two structs are anonymous (ctypes'
# _anonymous_), so hdr.preq_opclass is a plain field at the same offset as
# u.out.opclass, read without building the nested struct objects.
class _puffs_req_out(ctypes.Structure):
    _fields_ = [("preq_opclass", ctypes.c_uint8), ("preq_optype", ctypes.c_uint8),
                ("preq_cookie", ctypes.c_void_p)]


class _puffs_req_in(ctypes.Structure):
    _fields_ = [("preq_rv", ctypes.c_int), ("preq_nextbuf", ctypes.c_void_p)]


class _puffs_req_u(ctypes.Union):
    _anonymous_ = ("out", "in_")
    _fields_ = [("out", _puffs_req_out), ("in_", _puffs_req_in)]


class puffs_req(ctypes.Structure):
    """struct puffs_req: the header of every request and reply (32 bytes).

    The kernel writes the ``u.out`` form (preq_opclass, preq_optype,
    preq_cookie); the server answers in the ``u.in`` form (preq_rv, and
    preq_nextbuf, the address of the next reply).  On get, preq_id and
    preq_buflen describe this request; on put, the next reply.
    """

    _anonymous_ = ("u",)
    _fields_ = [
        ("preq_id", ctypes.c_uint64),
        ("u", _puffs_req_u),
        ("preq_buflen", ctypes.c_size_t),
    ]


assert ctypes.sizeof(puffs_req) == 32 and puffs_req.preq_rv.offset == 8 \
    and puffs_req.preq_nextbuf.offset == 16 and puffs_req.preq_cookie.offset == 16


ALIGNBYTES = 7


def ALIGN(p: int) -> int:
    return (p + ALIGNBYTES) & ~ALIGNBYTES


class puffs_sizeop(ctypes.Structure):
    _fields_ = [("pso_reqid", ctypes.c_uint64), ("pso_userbuf", ctypes.c_void_p),
                ("pso_bufsize", ctypes.c_size_t)]


class puffs_flush(ctypes.Structure):
    """PUFFSFLUSHOP's argument: cache invalidation asked for by the server."""

    _fields_ = [("pf_cookie", ctypes.c_void_p), ("pf_op", ctypes.c_int),
                ("pf_start", ctypes.c_int64), ("pf_end", ctypes.c_int64)]


PUFFS_INVAL_NAMECACHE_NODE = 0
PUFFS_INVAL_NAMECACHE_DIR = 1
PUFFS_INVAL_NAMECACHE_ALL = 2
PUFFS_INVAL_PAGECACHE_NODE_RANGE = 3
PUFFS_FLUSH_PAGECACHE_NODE_RANGE = 4

# --------------------------------------------------------------- credentials

NGROUPS = 16


class uucred(ctypes.Structure):
    """struct uucred (sys/ucred.h): a credential as userland may see it."""

    _fields_ = [
        ("cr_unused", ctypes.c_ushort),
        ("cr_uid", ctypes.c_uint32),
        ("cr_gid", ctypes.c_uint32),
        ("cr_ngroups", ctypes.c_short),
        ("cr_groups", ctypes.c_uint32 * NGROUPS),
    ]


class puffs_cred(ctypes.Structure):
    """Credentials of an operation: a uucred, or a kernel-internal marker."""

    _fields_ = [("pcr_uuc", uucred), ("pcr_type", ctypes.c_uint8),
                ("pcr_internal", ctypes.c_uint8)]


PUFFCRED_TYPE_UUC = 1
PUFFCRED_TYPE_INTERNAL = 2
PUFFCRED_CRED_NOCRED = 1
PUFFCRED_CRED_FSCRED = 2

# 2*MAXPHYS is the most the kernel copies in one request, and the approximate
# upper bound of any fixed-size request struct.
PUFFS_REQ_MAXSIZE = 2 * MAXPHYS
PUFFS_REQSTRUCT_MAX = 4096


def PUFFS_TOMOVE(a: int, b: Any) -> int:
    """How much data one READ/WRITE request may carry (b is the puffs_mount)."""
    return min(a, b.pmp_req_maxsize - PUFFS_REQSTRUCT_MAX)




class puffs_kcn(ctypes.Structure):
    """struct componentname as the kernel hands it to the server."""

    _fields_ = [
        ("pkcn_nameiop", ctypes.c_ulong),
        ("pkcn_flags", ctypes.c_ulong),
        ("pkcn_pid", ctypes.c_int32),
        ("pkcn_cred", puffs_cred),
        ("pkcn_name", ctypes.c_char * (MAXPATHLEN + 1)),  # NUL-terminated component
        ("pkcn_namelen", ctypes.c_long),
    ]


PUFFSLOOKUP_LOOKUP = 0
PUFFSLOOKUP_CREATE = 1
PUFFSLOOKUP_DELETE = 2
PUFFSLOOKUP_RENAME = 3
PUFFSLOOKUP_OPMASK = 3
PUFFSLOOKUP_FOLLOW = 0x00004
PUFFSLOOKUP_NOFOLLOW = 0x00008
PUFFSLOOKUP_ISLASTCN = 0x08000

# --------------------------------------------------------------- struct vattr on the wire


class timespec50(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int32), ("tv_nsec", ctypes.c_long)]


class vattr(ctypes.Structure):
    """struct vattr as it travels to the server (the layout compat keeps as vattr50)."""

    _fields_ = [
        ("va_type", ctypes.c_int),
        ("va_mode", ctypes.c_uint32),
        ("va_nlink", ctypes.c_uint32),
        ("va_uid", ctypes.c_uint32),
        ("va_gid", ctypes.c_uint32),
        ("va_fsid", ctypes.c_uint32),
        ("va_fileid", ctypes.c_uint64),
        ("va_size", ctypes.c_uint64),
        ("va_blocksize", ctypes.c_long),
        ("va_atime", timespec50),
        ("va_mtime", timespec50),
        ("va_ctime", timespec50),
        ("va_birthtime", timespec50),
        ("va_gen", ctypes.c_ulong),
        ("va_flags", ctypes.c_ulong),
        ("va_rdev", ctypes.c_uint32),
        ("va_bytes", ctypes.c_uint64),
        ("va_filerev", ctypes.c_uint64),
        ("va_vaflags", ctypes.c_uint),
        ("va_spare", ctypes.c_long),
    ]


def wire_struct(ct: Any, stop: str | None = None) -> struct.Struct:
    """A struct.Struct of ``ct``'s fields in order, nested structures flattened,
    padding skipped: the layout is ctypes' own (its offsets).  With ``stop``,
    only the fields before that top-level field."""
    fmt = ["="]
    pos = 0

    def walk(t: Any, base: int, top: bool) -> None:
        nonlocal pos
        for name, ft in t._fields_:
            if top and name == stop:
                return
            off = base + getattr(t, name).offset
            if off > pos:
                fmt.append(f"{off - pos}x")
                pos = off
            if hasattr(ft, "_fields_"):
                walk(ft, off, False)
            else:
                n = ctypes.sizeof(ft)
                code = ft._type_
                if code in "lLP":  # (the standard sizes of "=" make long 4 bytes)
                    code = {4: "i", 8: "q"}[n] if code == "l" else {4: "I", 8: "Q"}[n]
                fmt.append(code)
                pos += n

    walk(ct, 0, True)
    if stop is None and ctypes.sizeof(ct) > pos:
        fmt.append(f"{ctypes.sizeof(ct) - pos}x")
    st = struct.Struct("".join(fmt))
    assert st.size == (ctypes.sizeof(ct) if stop is None else getattr(ct, stop).offset), \
        (ct, st.format)
    return st


#: struct vattr on the wire in one (un)pack: type, mode, nlink, uid, gid,
#: fsid, fileid, size, blocksize, the four (sec, nsec) times, gen, flags,
#: rdev, bytes, filerev, vaflags, spare; VATTR_WIRE_HEAD: up to filerev.
VATTR_WIRE = wire_struct(vattr)
VATTR_WIRE_HEAD = wire_struct(vattr, "va_vaflags")


# --------------------------------------------------------------- ioctls


class puffs_startreq(ctypes.Structure):
    """PUFFSSTARTOP's argument: the root cookie and the statvfs image."""

    _fields_ = [("psr_pr", puffs_req), ("psr_cookie", ctypes.c_void_p),
                ("psr_sb", statvfs)]


PUFFSSTARTOP = _IOWR('p', 1, puffs_startreq)
PUFFSGETOP = _IOWR('p', 2, puffs_reqh_get)
PUFFSPUTOP = _IOWR('p', 3, puffs_reqh_put)
PUFFSSIZEOP = _IOWR('p', 4, puffs_sizeop)
PUFFSFLUSHOP = _IOW('p', 5, puffs_flush)
PUFFSSUSPENDOP = _IO('p', 7)

# --------------------------------------------------------------- VFS requests


class puffs_vfsreq_unmount(ctypes.Structure):
    _fields_ = [("pvfsr_pr", puffs_req), ("pvfsr_flags", ctypes.c_int),
                ("pvfsr_pid", ctypes.c_int32)]


class puffs_vfsreq_statvfs(ctypes.Structure):
    _fields_ = [("pvfsr_pr", puffs_req), ("pvfsr_sb", statvfs), ("pvfsr_pid", ctypes.c_int32)]


class puffs_vfsreq_sync(ctypes.Structure):
    _fields_ = [("pvfsr_pr", puffs_req), ("pvfsr_cred", puffs_cred),
                ("pvfsr_pid", ctypes.c_int32), ("pvfsr_waitfor", ctypes.c_int)]


class puffs_vfsreq_fhtonode(ctypes.Structure):
    """FHTOVP; the handle (pvfsr_dsize bytes) follows the struct."""

    _fields_ = [
        ("pvfsr_pr", puffs_req),
        ("pvfsr_fhcookie", ctypes.c_void_p),   # IN
        ("pvfsr_vtype", ctypes.c_int),         # IN
        ("pvfsr_size", ctypes.c_int64),        # IN
        ("pvfsr_rdev", ctypes.c_uint64),       # IN
        ("pvfsr_dsize", ctypes.c_size_t),      # OUT
    ]


class puffs_vfsreq_nodetofh(ctypes.Structure):
    """VPTOFH; the handle (pvfsr_dsize bytes) comes back after the struct."""

    _fields_ = [
        ("pvfsr_pr", puffs_req),
        ("pvfsr_fhcookie", ctypes.c_void_p),   # OUT
        ("pvfsr_dsize", ctypes.c_size_t),      # OUT/IN
    ]


class puffs_vfsreq_suspend(ctypes.Structure):
    _fields_ = [("pvfsr_pr", puffs_req), ("pvfsr_status", ctypes.c_int)]


PUFFS_SUSPEND_START = 0
PUFFS_SUSPEND_SUSPENDED = 1
PUFFS_SUSPEND_RESUME = 2
PUFFS_SUSPEND_ERROR = 3

# --------------------------------------------------------------- vnode requests


class puffs_vnreq_lookup(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn),
                ("pvnr_newnode", ctypes.c_void_p), ("pvnr_vtype", ctypes.c_int),
                ("pvnr_size", ctypes.c_int64), ("pvnr_rdev", ctypes.c_uint64)]


class puffs_vnreq_create(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn), ("pvnr_va", vattr),
                ("pvnr_newnode", ctypes.c_void_p)]


class puffs_vnreq_mknod(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn), ("pvnr_va", vattr),
                ("pvnr_newnode", ctypes.c_void_p)]


class puffs_vnreq_open(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_pid", ctypes.c_int32), ("pvnr_mode", ctypes.c_int)]


class puffs_vnreq_close(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_pid", ctypes.c_int32), ("pvnr_fflag", ctypes.c_int)]


class puffs_vnreq_access(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_pid", ctypes.c_int32), ("pvnr_mode", ctypes.c_int)]


class puffs_vnreq_setgetattr(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred), ("pvnr_va", vattr),
                ("pvnr_pid", ctypes.c_int32)]


puffs_vnreq_setattr = puffs_vnreq_setgetattr
puffs_vnreq_getattr = puffs_vnreq_setgetattr


class puffs_vnreq_readwrite(ctypes.Structure):
    """READ/WRITE; the data (pvnr_data) follows the struct."""

    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_offset", ctypes.c_int64), ("pvnr_resid", ctypes.c_size_t),
                ("pvnr_ioflag", ctypes.c_int)]


puffs_vnreq_read = puffs_vnreq_readwrite
puffs_vnreq_write = puffs_vnreq_readwrite


class puffs_vnreq_fcnioctl(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_command", ctypes.c_ulong), ("pvnr_pid", ctypes.c_int32),
                ("pvnr_fflag", ctypes.c_int), ("pvnr_data", ctypes.c_void_p),
                ("pvnr_datalen", ctypes.c_size_t), ("pvnr_copyback", ctypes.c_int)]


puffs_vnreq_ioctl = puffs_vnreq_fcnioctl
puffs_vnreq_fcntl = puffs_vnreq_fcnioctl


class puffs_vnreq_poll(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_events", ctypes.c_int),
                ("pvnr_pid", ctypes.c_int32)]


class puffs_vnreq_fsync(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_offlo", ctypes.c_int64), ("pvnr_offhi", ctypes.c_int64),
                ("pvnr_pid", ctypes.c_int32), ("pvnr_flags", ctypes.c_int)]


class puffs_vnreq_seek(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_oldoff", ctypes.c_int64), ("pvnr_newoff", ctypes.c_int64)]


class puffs_vnreq_remove(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn),
                ("pvnr_cookie_targ", ctypes.c_void_p)]


class puffs_vnreq_mkdir(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn), ("pvnr_va", vattr),
                ("pvnr_newnode", ctypes.c_void_p)]


class puffs_vnreq_rmdir(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn),
                ("pvnr_cookie_targ", ctypes.c_void_p)]


class puffs_vnreq_link(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn),
                ("pvnr_cookie_targ", ctypes.c_void_p)]


class puffs_vnreq_rename(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn_src", puffs_kcn),
                ("pvnr_cn_targ", puffs_kcn), ("pvnr_cookie_src", ctypes.c_void_p),
                ("pvnr_cookie_targ", ctypes.c_void_p),
                ("pvnr_cookie_targdir", ctypes.c_void_p)]


class puffs_vnreq_symlink(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cn", puffs_kcn), ("pvnr_va", vattr),
                ("pvnr_newnode", ctypes.c_void_p),
                ("pvnr_link", ctypes.c_char * MAXPATHLEN)]


class puffs_vnreq_readdir(ctypes.Structure):
    """READDIR; cookies (off_t each) then dirents follow in pvnr_data."""

    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_offset", ctypes.c_int64), ("pvnr_resid", ctypes.c_size_t),
                ("pvnr_ncookies", ctypes.c_size_t), ("pvnr_eofflag", ctypes.c_int),
                ("pvnr_dentoff", ctypes.c_size_t)]


class puffs_vnreq_readlink(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_cred", puffs_cred),
                ("pvnr_linklen", ctypes.c_size_t),
                ("pvnr_link", ctypes.c_char * MAXPATHLEN)]


class puffs_vnreq_reclaim(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_pid", ctypes.c_int32)]


class puffs_vnreq_inactive(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_pid", ctypes.c_int32),
                ("pvnr_backendrefs", ctypes.c_int)]


class puffs_vnreq_print(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req)]


class puffs_vnreq_pathconf(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_name", ctypes.c_int),
                ("pvnr_retval", ctypes.c_int)]


class puffs_vnreq_advlock(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_fl", flock), ("pvnr_id", ctypes.c_void_p),
                ("pvnr_op", ctypes.c_int), ("pvnr_flags", ctypes.c_int)]


class puffs_vnreq_mmap(ctypes.Structure):
    _fields_ = [("pvn_pr", puffs_req), ("pvnr_fflags", ctypes.c_int),
                ("pvnr_cred", puffs_cred), ("pvnr_pid", ctypes.c_int32)]


class puffs_cacherun(ctypes.Structure):
    _fields_ = [("pcache_runstart", ctypes.c_int64), ("pcache_runend", ctypes.c_int64)]


class puffs_cacheinfo(ctypes.Structure):
    """Cache reports (FAF, never answered); the runs follow the struct."""

    _fields_ = [("pcache_pr", puffs_req), ("pcache_type", ctypes.c_int),
                ("pcache_nruns", ctypes.c_size_t)]


PCACHE_TYPE_READ = 0
PCACHE_TYPE_WRITE = 1

# Error notification (later headers, read in 1.87): the kernel tells the
# server that an answer of its was invalid; the request's optype is one of
# these, its cookie the node concerned.  Always FAF, never answered.
(PUFFS_ERR_ERROR, PUFFS_ERR_MAKENODE, PUFFS_ERR_LOOKUP, PUFFS_ERR_READDIR,
 PUFFS_ERR_READLINK, PUFFS_ERR_READ, PUFFS_ERR_WRITE, PUFFS_ERR_VPTOFH,
 PUFFS_ERR_GETEXTATTR, PUFFS_ERR_LISTEXTATTR) = range(10)
PUFFS_ERR_MAX = PUFFS_ERR_LISTEXTATTR
PUFFS_ERR_NAMES = ("ERROR", "MAKENODE", "LOOKUP", "READDIR", "READLINK", "READ", "WRITE",
                   "VPTOFH", "GETEXTATTR", "LISTEXTATTR")


class puffs_error(ctypes.Structure):
    """An error notification: what was wrong (an errno and a line of text)."""

    _fields_ = [("perr_pr", puffs_req), ("perr_error", ctypes.c_int),
                ("perr_str", ctypes.c_char * 256)]

# Which struct each request uses (userland decodes with these).
PUFFS_VFS_REQ = {
    PUFFS_VFS_UNMOUNT: puffs_vfsreq_unmount,
    PUFFS_VFS_STATVFS: puffs_vfsreq_statvfs,
    PUFFS_VFS_SYNC: puffs_vfsreq_sync,
    PUFFS_VFS_FHTOVP: puffs_vfsreq_fhtonode,
    PUFFS_VFS_VPTOFH: puffs_vfsreq_nodetofh,
    PUFFS_VFS_SUSPEND: puffs_vfsreq_suspend,
}
PUFFS_VN_REQ = {
    PUFFS_VN_LOOKUP: puffs_vnreq_lookup,
    PUFFS_VN_CREATE: puffs_vnreq_create,
    PUFFS_VN_MKNOD: puffs_vnreq_mknod,
    PUFFS_VN_OPEN: puffs_vnreq_open,
    PUFFS_VN_CLOSE: puffs_vnreq_close,
    PUFFS_VN_ACCESS: puffs_vnreq_access,
    PUFFS_VN_GETATTR: puffs_vnreq_getattr,
    PUFFS_VN_SETATTR: puffs_vnreq_setattr,
    PUFFS_VN_READ: puffs_vnreq_read,
    PUFFS_VN_WRITE: puffs_vnreq_write,
    PUFFS_VN_IOCTL: puffs_vnreq_ioctl,
    PUFFS_VN_FCNTL: puffs_vnreq_fcntl,
    PUFFS_VN_POLL: puffs_vnreq_poll,
    PUFFS_VN_MMAP: puffs_vnreq_mmap,
    PUFFS_VN_FSYNC: puffs_vnreq_fsync,
    PUFFS_VN_SEEK: puffs_vnreq_seek,
    PUFFS_VN_REMOVE: puffs_vnreq_remove,
    PUFFS_VN_LINK: puffs_vnreq_link,
    PUFFS_VN_RENAME: puffs_vnreq_rename,
    PUFFS_VN_MKDIR: puffs_vnreq_mkdir,
    PUFFS_VN_RMDIR: puffs_vnreq_rmdir,
    PUFFS_VN_SYMLINK: puffs_vnreq_symlink,
    PUFFS_VN_READDIR: puffs_vnreq_readdir,
    PUFFS_VN_READLINK: puffs_vnreq_readlink,
    PUFFS_VN_INACTIVE: puffs_vnreq_inactive,
    PUFFS_VN_RECLAIM: puffs_vnreq_reclaim,
    PUFFS_VN_PRINT: puffs_vnreq_print,
    PUFFS_VN_PATHCONF: puffs_vnreq_pathconf,
    PUFFS_VN_ADVLOCK: puffs_vnreq_advlock,
}
