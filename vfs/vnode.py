"""Vnodes (sys/vnode.h, kern/vfs_vnode.c, kern/vfs_subr.c, genfs_vnops.c locking).

A vnode is referenced (``v_usecount``) while anyone uses it.  When the last
reference goes (``vrele``), the vnode is locked and ``VOP_INACTIVE`` runs; if
the file system asks for it (``*recycle``) or the vnode is already dead, it
is reclaimed (``VOP_RECLAIM``) and freed; otherwise it stays cached on its
mount's list until ``vflush`` at unmount, ``vrecycle`` or cache pressure
reclaims it.  File systems find or create their vnodes with ``vcache_get``
(key -> ``VFS_LOADVNODE``) and ``vcache_new`` (``VFS_NEWVNODE``); the 2007-era
``getnewvnode`` is kept for puffs.

The vnode lock is a reader/writer lock (genfs_lock); ``vn_lock`` fails with
ENOENT on a vnode that was reclaimed unless LK_RETRY is given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp
from kern.errno import EBUSY, ENOENT
from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_exit, mutex_init, mutex_owned
from kern.kern_rwlock import (
    RW_READER,
    RW_WRITER,
    krwlock_t,
    rw_exit,
    rw_init,
    rw_lock_held,
    rw_read_held,
    rw_tryenter,
    rw_write_held,
)
from kern.kern_types import NODEV
from kern.subr_prf import KASSERT, panic, printf
from vfs.mount import IMNT_HAS_TRANS
from vfs.vnode_if import (
    VOP_INACTIVE,
    VOP_LOCK,
    VOP_RECLAIM,
    VOP_UNLOCK,
    vnodeopv_desc,
)

if TYPE_CHECKING:
    from vfs.mount import mount

# enum vtype
VNON, VREG, VDIR, VBLK, VCHR, VLNK, VSOCK, VFIFO, VBAD = range(9)
vtype_names = ("VNON", "VREG", "VDIR", "VBLK", "VCHR", "VLNK", "VSOCK", "VFIFO", "VBAD")

# v_vflag
VV_ROOT = 0x00000001
VV_SYSTEM = 0x00000004
VV_ISTTY = 0x00000008
VV_MAPPED = 0x00000010
VV_MPSAFE = 0x00000020
VV_LOCKSWORK = 0x00000040

# v_iflag
VI_TEXT = 0x00000100
VI_EXECMAP = 0x00000200
VI_WRMAP = 0x00000400
VI_WRMAPDIRTY = 0x00000800
VI_XLOCK = 0x00001000
VI_ONWORKLST = 0x00004000
VI_INACTPEND = 0x00008000
VI_CLEAN = 0x00080000  # reclaimed: the vnode is dead

# vnode states (vfs_vnode.c)
VS_MARKER, VS_LOADING, VS_LOADED, VS_BLOCKED, VS_RECLAIMING, VS_RECLAIMED = range(6)

# lock flags (sys/lock.h, sys/vnode.h)
LK_SHARED = 0x00000001
LK_EXCLUSIVE = 0x00000002
LK_UPGRADE = 0x00000010
LK_DOWNGRADE = 0x00000020
LK_TYPE_MASK = 0x0000003f
LK_NOWAIT = 0x00000100
LK_RETRY = 0x00020000
LK_INTERLOCK = 0x00010000

# vflush flags
SKIPSYSTEM = 0x0001
FORCECLOSE = 0x0002
WRITECLOSE = 0x0004
DOCLOSE = 0x0008

# VOP_FSYNC flags (sys/vnode.h)
FSYNC_WAIT = 0x0001
FSYNC_DATAONLY = 0x0002
FSYNC_RECLAIM = 0x0004
FSYNC_LAZY = 0x0008

# ioflag for VOP_READ/VOP_WRITE (sys/vnode.h)
IO_UNIT = 0x00010
IO_APPEND = 0x00020
IO_SYNC = 0x00004 | 0x00040  # IO_DSYNC|IO_SYNC
IO_NODELOCKED = 0x00080
IO_NDELAY = 0x00100
IO_DSYNC = 0x00004
IO_ALTSEMANTICS = 0x00400
IO_NORMAL = 0x00800
IO_EXT = 0x02000
IO_DIRECT = 0x04000
IO_JOURNALLOCKED = 0x10000
IO_ADV_MASK = 0x00003000
IO_ADV_SHIFT = 12


def IO_ADV_ENCODE(adv: int) -> int:
    return (adv << IO_ADV_SHIFT) & IO_ADV_MASK


POSIX_FADV_NORMAL = 0
POSIX_FADV_RANDOM = 1
POSIX_FADV_SEQUENTIAL = 2
POSIX_FADV_WILLNEED = 3
POSIX_FADV_DONTNEED = 4
POSIX_FADV_NOREUSE = 5

VNOVAL = -1

# vattr va_vaflags
VA_UTIMES_NULL = 0x01
VA_EXCLUSIVE = 0x02

# access modes for VOP_ACCESS (sys/vnode.h)
VREAD = 0o0400
VWRITE = 0o0200
VEXEC = 0o0100
VADMIN = 0o10000
VAPPEND = 0o40000


class vattr:
    """struct vattr: attributes for VOP_GETATTR / VOP_SETATTR / create."""

    __slots__ = ("va_type", "va_mode", "va_nlink", "va_uid", "va_gid", "va_fsid",
                 "va_fileid", "va_size", "va_blocksize", "va_atime", "va_mtime", "va_ctime",
                 "va_birthtime", "va_gen", "va_flags", "va_rdev", "va_bytes", "va_filerev",
                 "va_vaflags")

    def __init__(self) -> None:
        vattr_null(self)

    def __repr__(self) -> str:
        return "<vattr " + " ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__
                                    if getattr(self, s) != VNOVAL) + ">"


def vattr_null(vap: vattr) -> None:
    """Set every attribute to VNOVAL ("not given")."""
    vap.va_type = VNON
    for s in vattr.__slots__:
        if s not in ("va_type",):
            setattr(vap, s, VNOVAL)
    vap.va_vaflags = 0


# The emulation keeps times as (sec, nsec) tuples in vattr.


class vnode:
    """struct vnode."""

    _c_sizeof = 256

    def __init__(self) -> None:
        self.v_type = VNON
        self.v_tag = 0
        self.v_vflag = 0
        self.v_iflag = 0
        self.v_uflag = 0
        self.v_usecount = 0
        self.v_writecount = 0
        self.v_holdcnt = 0
        self.v_numoutput = 0
        self.v_mount: mount | None = None
        self.v_op: list[Any] = []
        self.v_data: Any = None
        self.v_size = 0
        self.v_writesize = 0
        self.v_rdev = NODEV
        self.v_specnode: Any = None  # specfs state for VBLK/VCHR
        self.v_mountedhere: mount | None = None
        self.v_interlock = kmutex_t()
        mutex_init(self.v_interlock, MUTEX_DEFAULT, IPL_NONE)
        self.v_lock = krwlock_t()
        rw_init(self.v_lock)
        self.v_locktrans: dict[Any, Any] = {}  # lwp -> mount: the transaction of its lock
        self.v_state = VS_LOADING
        self.v_statewait: Any = None  # lwps waiting for v_state to change (vcache_vget)
        self.v_key: Any = None
        self.v_uobj: Any = None  # the page cache (vfs.uvm_vnode), when the fs uses one
        self.v_dirtyblkhd: list[Any] = []
        self.v_cleanblkhd: list[Any] = []
        self.v_klist: Any = None

    def __repr__(self) -> str:
        mp = self.v_mount.mnt_stat.f_mntonname if self.v_mount is not None else "-"
        return (f"<vnode {vtype_names[self.v_type]} {mp}:{self.v_key!r} "
                f"use={self.v_usecount} state={self.v_state}>")


# ------------------------------------------------------------------ vcache

def vstate_change(vp: vnode, state: int) -> None:
    """Move ``vp`` to ``state`` and wake the lwps waiting for a change."""
    from kern.kern_synch import sleepq_wake

    vp.v_state = state
    if vp.v_statewait:
        sleepq_wake(vp.v_statewait)


async def vstate_wait_stable(vp: vnode) -> None:
    """Sleep while ``vp`` is being loaded or reclaimed (vcache_wait_state)."""
    from kern.kern_synch import sleepq, sleepq_block, sleepq_enter

    while vp.v_state in (VS_LOADING, VS_RECLAIMING):
        if vp.v_statewait is None:
            vp.v_statewait = sleepq("vnode")
        sleepq_enter(vp.v_statewait, "vnode", vp)
        await sleepq_block(0, False)


class _VnodeGlobals:
    def __init__(self) -> None:
        self.cache: dict[tuple[int, Any], vnode] = {}
        self.numvnodes = 0
        self.desiredvnodes = 10000
        self.vrele_list: list[vnode] = []


_vg = MachineLocal(_VnodeGlobals, "vnode cache")


def vnalloc(mp: mount | None) -> vnode:
    vp = vnode()
    vp.v_mount = mp
    _vg().numvnodes += 1
    return vp


def insmntque(vp: vnode, mp: mount | None) -> None:
    """Move ``vp`` from its mount's vnode list to ``mp``'s (vfs_insmntque)."""
    old = vp.v_mount
    if old is not None and vp in old.mnt_vnodelist:
        old.mnt_vnodelist.remove(vp)
    vp.v_mount = mp
    if mp is not None:
        mp.mnt_vnodelist.append(vp)


def vcache_key(mp: mount | None, key: Any) -> tuple[int, Any]:
    return (id(mp), key)


async def vcache_get(mp: mount, key: Any) -> tuple[int, vnode | None]:
    """The referenced, unlocked vnode for ``key`` on ``mp``, loading it if needed."""
    from vfs.mount import VFS_LOADVNODE

    g = _vg()
    ck = vcache_key(mp, key)
    while True:
        vp = g.cache.get(ck)
        if vp is None:
            break
        error = await vcache_vget(vp)
        if error == ENOENT:
            continue  # reclaimed meanwhile: load a fresh one
        return error, (vp if error == 0 else None)
    await _vdrain_if_needed()
    vp = vnalloc(None)
    vp.v_key = key
    g.cache[ck] = vp
    vp.v_usecount = 1
    error, newkey = await VFS_LOADVNODE(mp, vp, key)
    if error:
        g.cache.pop(ck, None)
        g.numvnodes -= 1
        vstate_change(vp, VS_RECLAIMED)
        return error, None
    if newkey is not None and newkey != key:
        g.cache.pop(ck, None)
        vp.v_key = newkey
        g.cache[vcache_key(mp, newkey)] = vp
    insmntque(vp, mp)
    vstate_change(vp, VS_LOADED)
    return 0, vp


async def vcache_new(mp: mount, dvp: vnode | None, vap: vattr, cred: Any,
                     extra: Any = None) -> tuple[int, vnode | None]:
    """Create a new file's vnode through VFS_NEWVNODE; referenced and unlocked."""
    from vfs.mount import VFS_NEWVNODE

    g = _vg()
    await _vdrain_if_needed()
    vp = vnalloc(None)
    vp.v_usecount = 1
    error, key = await VFS_NEWVNODE(mp, dvp, vp, vap, cred, extra)
    if error:
        vstate_change(vp, VS_RECLAIMED)
        g.numvnodes -= 1
        return error, None
    vp.v_key = key
    ck = vcache_key(mp, key)
    while ck in g.cache:
        # The key's previous vnode is still being reclaimed: wait for it.
        old = g.cache[ck]
        if old.v_state not in (VS_LOADING, VS_RECLAIMING):
            panic("vcache_new: key %r already in the cache (%r)", key, old)
        await vstate_wait_stable(old)
    g.cache[ck] = vp
    insmntque(vp, mp)
    vstate_change(vp, VS_LOADED)
    return 0, vp


def vcache_rekey(vp: vnode, newkey: Any) -> None:
    g = _vg()
    g.cache.pop(vcache_key(vp.v_mount, vp.v_key), None)
    vp.v_key = newkey
    g.cache[vcache_key(vp.v_mount, newkey)] = vp


async def getnewvnode(tag: int, mp: mount | None, vops: list[Any] | vnodeopv_desc,
                      slock: Any = None) -> tuple[int, vnode | None]:
    """The 2007 interface (puffs uses it): a fresh vnode with one reference, not in any cache."""
    await _vdrain_if_needed()
    vp = vnalloc(None)
    vp.v_tag = tag
    vp.v_op = vops.opv_desc_vector if isinstance(vops, vnodeopv_desc) else vops
    vp.v_usecount = 1
    vp.v_state = VS_LOADED
    insmntque(vp, mp)
    return 0, vp


def ungetnewvnode(vp: vnode) -> None:
    """Undo getnewvnode for a vnode that never became visible."""
    vp.v_usecount = 0
    insmntque(vp, None)
    vstate_change(vp, VS_RECLAIMED)
    vp.v_iflag |= VI_CLEAN
    _vg().numvnodes -= 1


async def _vdrain_if_needed() -> None:
    """Recycle unused cached vnodes when there are more than desiredvnodes."""
    g = _vg()
    if g.numvnodes < g.desiredvnodes:
        return
    for vp in list(g.cache.values()):
        if g.numvnodes < g.desiredvnodes * 9 // 10:
            break
        if vp.v_usecount == 0 and vp.v_state == VS_LOADED:
            await vrecycle(vp)


# ---------------------------------------------------------- references

def vref(vp: vnode) -> None:
    """Add a reference to a vnode already referenced by the caller."""
    if vp.v_usecount <= 0:
        panic("vref: %r has no references", vp)
    vp.v_usecount += 1


async def vcache_vget(vp: vnode) -> int:
    """Take a reference on a cached vnode; ENOENT if it was reclaimed.

    A vnode still being loaded, or being reclaimed, is waited for first."""
    vp.v_holdcnt += 1
    await vstate_wait_stable(vp)
    vp.v_holdcnt -= 1
    if vp.v_state == VS_RECLAIMED:
        return ENOENT
    vp.v_usecount += 1
    return 0


async def vget(vp: vnode, flags: int = 0, wait: bool = True) -> int:
    """Reference (and with LK_* flags, lock) a vnode found on a list or in a hash.

    With LK_INTERLOCK the caller found ``vp`` holding its ``v_interlock`` (so
    it could not go away meanwhile), and vget gives it up, as the vget of
    NetBSD 4 (puffs 2007's) does and NetBSD 8's vcache_vget does with the
    interlock its caller holds.  kemu gives it up before the reference is
    taken: nothing runs in between (no sleep), and waiting for a vnode in
    transition must not hold it.
    """
    if flags & LK_INTERLOCK:
        KASSERT(mutex_owned(vp.v_interlock))
        mutex_exit(vp.v_interlock)
        flags &= ~LK_INTERLOCK
    error = await vcache_vget(vp)
    if error:
        return error
    if flags & LK_TYPE_MASK:
        error = await vn_lock(vp, flags)
        if error:
            await vrele(vp)
            return error
    return 0


async def vrele(vp: vnode) -> None:
    """Drop a reference; the last one runs VOP_INACTIVE (and maybe VOP_RECLAIM)."""
    if vp.v_usecount <= 0:
        panic("vrele: %r has no references", vp)
    if vp.v_usecount > 1:
        vp.v_usecount -= 1
        return
    await vrelel(vp)


async def vrelel(vp: vnode) -> None:
    # Last reference: lock, deactivate, maybe reclaim.
    if vp.v_state == VS_RECLAIMED:
        vp.v_usecount -= 1
        return
    error = await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    if error:
        vp.v_usecount -= 1
        return
    if vp.v_usecount > 1:
        # someone took a reference while we slept on the lock
        vp.v_usecount -= 1
        VOP_UNLOCK(vp)
        return
    recycle = False
    if vp.v_state == VS_LOADED:
        error, recycle = await VOP_INACTIVE(vp)
    if vp.v_usecount > 1:
        vp.v_usecount -= 1
        VOP_UNLOCK(vp)
        return
    if recycle or vp.v_mount is None:
        await vcache_reclaim(vp)  # unlocks
        vp.v_usecount -= 1
        _vfree(vp)
        return
    vp.v_usecount -= 1
    VOP_UNLOCK(vp)


async def vput(vp: vnode) -> None:
    """Unlock and release."""
    VOP_UNLOCK(vp)
    await vrele(vp)


def vrele_async(vp: vnode) -> None:
    """Release later (from a context that must not sleep); vrele_flush pushes them."""
    if vp.v_usecount > 1:
        vp.v_usecount -= 1
        return
    _vg().vrele_list.append(vp)


async def vrele_flush(mp: Any = None) -> None:
    """Run the deferred releases (all of them, or those of one mount)."""
    g = _vg()
    todo = [vp for vp in g.vrele_list if mp is None or vp.v_mount is mp]
    g.vrele_list = [vp for vp in g.vrele_list if vp not in todo]
    for vp in todo:
        await vrele(vp)


def vholdl(vp: vnode) -> None:
    vp.v_holdcnt += 1


def holdrelel(vp: vnode) -> None:
    vp.v_holdcnt -= 1


# -------------------------------------------------------------- reclaim

async def vcache_reclaim(vp: vnode) -> None:
    """Kill a locked vnode: VOP_RECLAIM, then it points at dead ops.  Returns unlocked."""
    from vfs.dead_vnops import dead_vnodeop_p

    if vp.v_state in (VS_RECLAIMING, VS_RECLAIMED):
        VOP_UNLOCK(vp)
        return
    vstate_change(vp, VS_RECLAIMING)
    g = _vg()
    ck = vcache_key(vp.v_mount, vp.v_key)
    error = await VOP_RECLAIM(vp)  # unlocks the vnode
    if error:
        panic("vcache_reclaim: VOP_RECLAIM of %r failed: %d", vp, error)
    if vp.v_data is not None:
        panic("vcache_reclaim: %r: the file system left v_data", vp)
    # Out of the cache only now: a lookup meanwhile waited for the reclaim.
    if vp.v_key is not None and g.cache.get(ck) is vp:
        del g.cache[ck]
    # kemu: NetBSD 8 moves the vnode to dead_rootmount and leaves a device
    # vnode on spec ops after spec_node_revoke has closed the device; here
    # it leaves its mount (v_mount None) and every vnode gets dead ops, so a
    # revoked device's descriptor answers EIO/EBADF rather than reaching it.
    insmntque(vp, None)
    vp.v_op = dead_vnodeop_p
    vp.v_iflag |= VI_CLEAN
    vp.v_type = VBAD if vp.v_type not in (VBLK, VCHR) else vp.v_type
    vstate_change(vp, VS_RECLAIMED)


def _vfree(vp: vnode) -> None:
    _vg().numvnodes -= 1


async def vgone(vp: vnode) -> None:
    """Reclaim a referenced vnode now; its holders find it dead."""
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    if vp.v_state == VS_LOADED:
        await VOP_INACTIVE(vp)
    await vcache_reclaim(vp)
    await vrele(vp)


async def vrecycle(vp: vnode) -> bool:
    """Reclaim an unreferenced vnode; False if someone holds it."""
    if vp.v_usecount != 0 or vp.v_state != VS_LOADED:
        return False
    vp.v_usecount = 1
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    await vcache_reclaim(vp)
    vp.v_usecount = 0
    _vfree(vp)
    return True


async def vrevoke(vp: vnode) -> None:
    """Reclaim every vnode of the same device (revoke(2) on a device node)."""
    await vgone(vp)


async def vflush(mp: mount, skipvp: vnode | None, flags: int) -> int:
    """Reclaim the vnodes of ``mp`` for unmount; EBUSY if some are still in use."""
    # First, flush out any vnode references from the deferred vrele list
    # (the current directories of processes that have exited, for one).
    await vrele_flush(mp)
    busy = 0
    for vp in list(mp.mnt_vnodelist):
        if vp is skipvp or vp.v_state != VS_LOADED:
            continue
        if (flags & SKIPSYSTEM) and (vp.v_vflag & VV_SYSTEM):
            continue
        if (flags & WRITECLOSE) and (vp.v_writecount == 0 or vp.v_type != VREG):
            continue
        if vp.v_usecount == 0:
            await vrecycle(vp)
            continue
        if flags & FORCECLOSE:
            vp.v_usecount += 1
            await vgone(vp)
            continue
        busy += 1
    if busy:
        return EBUSY
    return 0


def vdead_check(vp: vnode, flags: int = 0) -> int:
    return ENOENT if vp.v_state in (VS_RECLAIMING, VS_RECLAIMED) else 0


# ------------------------------------------------------------------ locking

async def vn_lock(vp: vnode, flags: int) -> int:
    """Lock a vnode; ENOENT (without LK_RETRY) if it is dead or dying."""
    if not flags & LK_RETRY and vp.v_state in (VS_RECLAIMING, VS_RECLAIMED):
        return ENOENT
    error = await VOP_LOCK(vp, flags)
    if error:
        return error
    if not flags & LK_RETRY and vp.v_state == VS_RECLAIMED:
        VOP_UNLOCK(vp)
        return ENOENT
    return 0


async def genfs_lock(v: Any) -> int:
    """Take the vnode lock, inside an fstrans transaction on the vnode's mount.

    NetBSD 8's VOP_LOCK enters a transaction and VOP_UNLOCK leaves it, so a
    thread holding a vnode lock always holds a transaction: a suspension
    (vfs_suspend) waits for vnode-lock holders to finish, and nobody can
    sleep in fstrans_start while holding a vnode lock the suspending thread
    needs.  The transaction is recorded per lwp and ended by genfs_unlock.
    """
    from kern.kern_rwlock import _rw_enter
    from kern.subr_lockdebug import caller_site
    from vfs.vfs_trans import fstrans_done, fstrans_start, fstrans_start_nowait

    ap = v
    vp = ap.a_vp
    flags = ap.a_flags
    mp = vp.v_mount
    trans = mp if mp is not None and mp.mnt_iflag & IMNT_HAS_TRANS else None
    op = RW_WRITER if flags & LK_EXCLUSIVE else RW_READER
    if flags & LK_NOWAIT:
        if trans is not None and fstrans_start_nowait(trans):
            return EBUSY
        if not rw_tryenter(vp.v_lock, op):
            if trans is not None:
                fstrans_done(trans)
            return EBUSY
    else:
        if trans is not None:
            await fstrans_start(trans)
        await _rw_enter(vp.v_lock, op, caller_site(2))
    if trans is not None:
        vp.v_locktrans[curlwp()] = trans
    return 0


def genfs_unlock(v: Any) -> int:
    vp = v.a_vp
    rw_exit(vp.v_lock)
    if vp.v_locktrans:
        mp = vp.v_locktrans.pop(curlwp(), None)
        if mp is not None:
            from vfs.vfs_trans import fstrans_done

            fstrans_done(mp)
    return 0


def genfs_islocked(v: Any) -> int:
    vp = v.a_vp
    if rw_write_held(vp.v_lock):
        return LK_EXCLUSIVE
    if rw_read_held(vp.v_lock):
        return LK_SHARED
    return LK_EXCLUSIVE if rw_lock_held(vp.v_lock) else 0


def vprint(label: str, vp: vnode) -> None:
    printf("%s: %r\n", label, vp)


def VN_KNOTE(vp: vnode, hint: int) -> None:
    """kqueue notes are not modelled."""
