"""Kernel-private puffs definitions (sys/fs/puffs/puffs_sys.h, April-May 2007).

``struct puffs_mount`` and ``struct puffs_node`` are kernel-only, so they are
plain classes with the C field names.  The field set is that of the 1.38
seed: ``pmp_req_waiters``/``pmp_req_waitersink_cv`` (replaced by a reference
count from May 2007 on) and ``pmp_rootcookie`` (the root info moved into the
mount arguments in mid-May 2007).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.kern_condvar import kcondvar_t
from kern.kern_mutex import kmutex_t
from kern.kern_time import timespec
from kern.subr_kmem import M_PUFFS, malloc

from .puffs_msgif_h import PUFFS_KFLAG_ALLOPS, PUFFS_KFLAG_NOCACHE, puffs_kargs

PUFFS_NAMEPREFIX = "puffs:"

PUFFS_SIZEOPREQ_UIO_IN = 1
PUFFS_SIZEOPREQ_UIO_OUT = 2
PUFFS_SIZEOPREQ_BUF_IN = 3
PUFFS_SIZEOPREQ_BUF_OUT = 4

# Kept for the signatures of the tree's DPRINTF calls; set puffsdebug to 1
# on a machine's copy of puffs_sys to get them on the console.
puffsdebug = 0


def DPRINTF(fmt: str, *args: Any) -> None:
    if puffsdebug > 0:
        from kern.subr_prf import printf

        printf(fmt, *args)


def MPTOPUFFSMP(mp: Any) -> puffs_mount:
    return mp.mnt_data


def PMPTOMP(pmp: puffs_mount) -> Any:
    return pmp.pmp_mp


def VPTOPP(vp: Any) -> puffs_node:
    return vp.v_data


def VPTOPNC(vp: Any) -> Any:
    return vp.v_data.pn_cookie


def FPTOPI(fp: Any) -> Any:
    return fp.f_data


def FPTOPMP(fp: Any) -> Any:
    return fp.f_data.pi_pmp


# We don't pass the kernel's 4-byte struct fid header to userspace.
def PUFFS_TOFHSIZE(s: int) -> int:
    return s if s == 0 else s + 4


def PUFFS_FROMFHSIZE(s: int) -> int:
    return s if s == 0 else s - 4


def ALLOPS(pmp: puffs_mount) -> int:
    return pmp.pmp_flags & PUFFS_KFLAG_ALLOPS


def EXISTSOP(pmp: puffs_mount, op: int) -> bool:
    """``EXISTSOP(pmp, OP)``: the server implements op (C pastes PUFFS_VN_##op)."""
    return bool(ALLOPS(pmp)) or (op < len(pmp.pmp_vnopmask) and pmp.pmp_vnopmask[op] != 0)


def PUFFS_VFSREQ(t: Any) -> tuple[bytearray, Any]:
    """``PUFFS_VFSREQ(name)``: a zeroed request on the stack, as (kbuf, struct view)."""
    kbuf = bytearray(ctypes.sizeof(t))
    return kbuf, t.from_buffer(kbuf)


PUFFS_VNREQ = PUFFS_VFSREQ  # ``PUFFS_VNREQ(name)``: the same, for a vnode request


def puffs_mallocreq(t: Any, size: int, flags: int) -> tuple[Any, Any]:
    """A request too big for the stack, ``malloc(size, M_PUFFS, flags)`` (size
    includes the struct): (kbuf, struct view), or (None, None) when M_NOWAIT fails."""
    kbuf = malloc(size, M_PUFFS, flags)
    if kbuf is None:
        return None, None
    return kbuf, t.from_buffer(kbuf)


def PUFFS_DOCACHE(pmp: puffs_mount) -> bool:
    return (pmp.pmp_flags & PUFFS_KFLAG_NOCACHE) == 0


def PUFFS_WCACHEINFO(pmp: puffs_mount) -> int:
    return 0


class puffs_mount:
    """struct puffs_mount: per-mount state (mnt_data)."""

    _c_sizeof = 512

    def __init__(self) -> None:
        self.pmp_lock = kmutex_t()
        self.pmp_args = puffs_kargs()
        self.pmp_req_touser: list[Any] = []       # queue 1: waiting for the server
        self.pmp_req_waiter_cv = kcondvar_t()
        self.pmp_req_maxsize = 0
        self.pmp_req_replywait: list[Any] = []    # queue 2: waiting for a reply
        self.pmp_req_sizepark: list[Any] = []     # bit-rotted in 2007; stays empty
        self.pmp_pnodehash: list[list[puffs_node]] | None = None
        self.pmp_npnodehash = 0
        self.pmp_mp: Any = None
        self.pmp_root: Any = None
        self.pmp_rootcookie: Any = None
        self.pmp_sel: Any = None                  # in puffs_instance
        self.pmp_req_waiters = 0
        self.pmp_req_waitersink_cv = kcondvar_t()
        self.pmp_unmounting_cv = kcondvar_t()
        self.pmp_unmounting = 0
        self.pmp_status = 0
        self.pmp_suspend = 0
        self.pmp_suspend_cv = kcondvar_t()
        self.pmp_nextreq = 0

    # the accessor macros of the C header
    @property
    def pmp_flags(self) -> int:
        return self.pmp_args.pa_flags

    @property
    def pmp_vnopmask(self) -> Any:
        return self.pmp_args.pa_vnopmask

    def __repr__(self) -> str:
        return (f"<puffs_mount status={self.pmp_status} touser={len(self.pmp_req_touser)} "
                f"replywait={len(self.pmp_req_replywait)} waiters={self.pmp_req_waiters}>")


PUFFSTAT_BEFOREINIT = 0
PUFFSTAT_MOUNTING = 1
PUFFSTAT_RUNNING = 2
PUFFSTAT_DYING = 3  # Do you want your possessions identified?

PNODE_NOREFS = 0x01   # no backend reference
PNODE_SUSPEND = 0x02  # issue all operations as FAF

PNODE_METACACHE_ATIME = 0x10
PNODE_METACACHE_CTIME = 0x20
PNODE_METACACHE_MTIME = 0x40
PNODE_METACACHE_SIZE = 0x80
PNODE_METACACHE_MASK = 0xf0


class puffs_node:
    """struct puffs_node: the kernel's side of a server node (v_data)."""

    _c_sizeof = 128

    def __init__(self) -> None:
        self.pn_gnode: Any = None
        self.pn_cookie: Any = None     # userspace pnode cookie
        self.pn_vp: Any = None         # backpointer to vnode
        self.pn_stat = 0               # node status
        self.pn_mc_atime = timespec()
        self.pn_mc_ctime = timespec()
        self.pn_mc_mtime = timespec()
        self.pn_mc_size = 0

    def __repr__(self) -> str:
        return f"<puffs_node cookie={self.pn_cookie!r} stat={self.pn_stat:#x}>"


PUFFS_UPDATEATIME = 0x01
PUFFS_UPDATECTIME = 0x02
PUFFS_UPDATEMTIME = 0x04
PUFFS_UPDATESIZE = 0x08
