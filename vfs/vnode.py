"""Vnodes (sys/vnode.h, sys/vnode_impl.h, kern/vfs_vnode.c, kern/vfs_subr.c, genfs locking).

A vnode is referenced (``v_usecount``) while anyone uses it.  When the last
reference goes (``vrele``), the vnode is locked and ``VOP_INACTIVE`` runs; if
the file system asks for it (``*recycle``) the vnode is reclaimed
(``VOP_RECLAIM``) and freed; otherwise it stays cached on its mount's list
until ``vflush`` at unmount, ``vrecycle`` or the vdrain thread reclaims it.
File systems find or create their vnodes with ``vcache_get`` (key ->
``VFS_LOADVNODE``) and ``vcache_new`` (``VFS_NEWVNODE``); the 2007-era
``getnewvnode`` is kept for puffs.

The vnode lock is a reader/writer lock (genfs_lock); ``vn_lock`` fails with
ENOENT on a vnode that was reclaimed unless LK_RETRY is given.

The life cycle -- vnode states, references, the release of the last one, the
lru lists and the vdrain thread -- ports NetBSD 8's sys/kern/vfs_vnode.c
1.93.2.3 (netbsd-8 branch, 2017/11/17): VSTATE_*, lru_which, lru_requeue,
vrele_flush, vdrain_remove, vdrain_vrele, vdrain_thread, vput, vtryrele,
vrelel (VRELEL_ASYNC_RELE, VRELEL_FORCE_RELE), vrele, vrele_async, vref,
vholdl, holdrelel, vrecycle, vrevoke_suspend_next, vrevoke, vgone,
vcache_alloc, vcache_dealloc, vcache_free, vcache_vget, vcache_get,
vcache_new, vcache_reclaim and vfs_drainvnodes, with NetBSD's order of
operations (``_vrele_list_take`` is the list move vrele_flush and
vdrain_vrele both spell out).  ``vflush`` is NetBSD 8's (kern/vfs_mount.c): the deferred
releases first (vrele_flush), then every selected vnode is referenced and
recycled, killed (FORCECLOSE) or counted busy.

The last release never sleeps for the vnode lock: vrelel only tries it, and
when it is busy (the releaser may hold a child's lock while another lwp holds
this one and waits for the child), when the caller asks (vrele_async) or on
the page daemon, the release is handed, with the reference, to the vdrain
thread (lru_vrele_list).  That thread, and vrele_flush, wait for the lock.
The thread is started by the post-boot hook ``vfs_vnode_sysinit`` (NetBSD
starts it in vfsinit) and has no timer: an idle machine does not wake it.
``vfs_drainvnodes()`` waits until it has been through its lists (after the
releases deferred so far).

Deviations from 1.93.2.3:

* One struct: vnode_impl's fields (vi_state as ``v_state``, vi_lrulist,
  vi_lrulisthd, vi_lock as ``v_lock``) live in ``vnode``.  The cache is a
  dict keyed by (mount, key) without vcache_lock and vcache_cv: nothing
  sleeps between a lookup and an insert, and a lookup that finds a LOADING
  vnode waits for it on v_cv in vcache_vget.  vcache_get and vcache_new
  busy the mount (vfs_busy) as NetBSD's do, but the vnode keeps no
  reference to its mount (no vfs_ref at the end, none dropped when it
  leaves the mount): kemu frees no mount when its count reaches zero.
* ``lru_requeue`` is a plain function (vholdl, holdrelel, vrele_async and
  ungetnewvnode must not sleep): it takes vdrain_lock with mutex_tryenter,
  which cannot fail because no lwp sleeps holding that lock (it only guards
  list surgery); a failure panics.  ``vrele_async`` does the
  VRELEL_ASYNC_RELE release without v_interlock for the same reason (its
  callers, the process-exit hooks, may not sleep).
* ``vcache_reclaim`` calls VOP_INACTIVE, after the vnode became
  RECLAIMING, only when the vnode is active (a reference besides the
  reclaimer's: vgone of a vnode in use), as vclean did up to NetBSD 7
  (vfs_vnode.c 1.37); 1.93.2.3 calls it always.  A vnode held only by the
  reclaimer was deactivated at its last release: vrelel's recycle path has
  just run VOP_INACTIVE under the same lock, vrecycle and the vdrain thread
  reclaim cached vnodes, and the 2007 puffs would send its server a second
  INACTIVE for each.  It calls no vinvalbuf (the file systems flush in
  VOP_RECLAIM) and revokes no device (spec_node_revoke); the reclaimed vnode
  leaves its mount (v_mount None) instead of joining dead_rootmount, and one
  that is not a device becomes VBAD.  VOP_INACTIVE's errors are ignored, as
  NetBSD ignores them.
* ``vgone`` unlocks a vnode that was reclaimed meanwhile before vrelel (1.93
  leaves it locked, and vrelel's try-lock then fails on our own lock; later
  NetBSD passes the lock type to vrelel).
* ``vcache_free`` leaves spec_node_destroy to the file systems' reclaim.
* ``vrele_flush`` and ``vgone`` do not assert that the caller suspended the
  mount: kemu's rootfs cannot be suspended, and kemu's mount(MNT_UPDATE)
  runs VFS_MOUNT (whose read-only downgrade vflushes) unsuspended.
* ``vflush`` walks a snapshot of the mount's vnode list instead of a marker
  (a vnode added meanwhile is not flushed) and kills device vnodes with
  vgone too (no vcache_make_anon).  Under WRITECLOSE it skips every vnode
  that is not a regular file, as vfs_mount.c 1.93's vflush_one does; the
  vflush_selector of 1.37 (the revision nearest NetBSD 8 that could be
  read) selects directories and the other types, so the root directory,
  which mount(2) itself holds during a read-only downgrade, was busy and
  every ``mount -u -r`` failed with EBUSY
  (tests/fs/vfs/test_mount_update.py).  Regular files are skipped when not
  open for writing, as in 1.37 (1.93 also flushes unlinked ones).
* ``vcache_get`` keeps one dict entry per key and, as 1.93.2.3, asserts
  that VFS_LOADVNODE answers the key it was asked for.
* ``getnewvnode``/``ungetnewvnode`` (2007, for puffs) are built on
  vcache_alloc/vcache_free; ``vdead_check`` never waits.
* ``genfs_lock`` enters its transaction with ``fstrans_start_begin``
  (fstrans_start without a coroutine when it need not sleep; vfs_trans.py)
  and takes its lock site (lockdebug's caller_where(2)) with ``_getframe``
  itself, with lockdebug on.
* KASSERTs on the hot paths test their condition inline and call KASSERT
  (the same panic and message) only when it fails (VSTATE_GET,
  VSTATE_CHANGE, VSTATE_ASSERT, lru_which, vrelel, vcache_vget; the
  KASSERTMSGs of vtryrele and vref likewise).
* ``vcache_vget`` calls VSTATE_WAIT_STABLE only when the vnode is not
  LOADED (a LOADED vnode is stable: the macro would neither wait nor
  panic), so the common case makes no coroutine.
* The lock calls of vnode's init (v_interlock, v_lock),
  _vdrain_lock_enter, vrelel, vrele, vcache_get, vcache_new and
  genfs_lock's try-lock pass a ``lock_site`` kept at module level for that
  call (kern_mutex's ``at``, kemu's): lockdebug's site (or the lock
  class's init site) is looked up once, not with a frame lookup at every
  call; the same sites and reports.  genfs_lock looks its site up only
  with lockdebug on (as rw_enter), and when vn_lock's VOP_LOCK reached it
  (vn_lock notes its vnode in ``_vn_locking`` around the call when
  genfs_lock is the vnode's lock operation; genfs_lock finds it there on
  entry) it records the
  site kept for that call (``_vn_lock_site``): the caller two frames up
  that the look-up would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp, curlwp_or_none
from kern.errno import EBUSY, ENOENT
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_lwp import KTHREAD_MPSAFE, PRI_VM, kthread_create
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
    mutex_owner,
    mutex_tryenter,
)
from kern.kern_rwlock import (
    RW_READER,
    RW_WRITER,
    _rw_enter,
    krwlock_t,
    rw_exit,
    rw_init,
    rw_lock_held,
    rw_read_held,
    rw_tryenter,
    rw_write_held,
)
from kern.kern_synch import yield_
from kern.kern_types import NODEV
from kern.queue import (
    TAILQ_ENTRY,
    TAILQ_HEAD,
    TAILQ_INSERT_AFTER,
    TAILQ_INSERT_HEAD,
    TAILQ_INSERT_TAIL,
    TAILQ_NEXT,
    TAILQ_REMOVE,
)
from kern.subr_lockdebug import _getframe, lock_site
from kern.subr_prf import KASSERT, KASSERTMSG, panic, printf
from vfs.mount import IMNT_HAS_TRANS, VFS_LOADVNODE, VFS_NEWVNODE, vfs_busy, vfs_unbusy
from vfs.uvm import uvm
from vfs.vfs_trans import fstrans_done, fstrans_start, fstrans_start_begin, fstrans_start_nowait
from vfs.vnode_if import (
    VOP_INACTIVE,
    VOP_LOCK,
    VOP_RECLAIM,
    VOP_UNLOCK,
    vnodeopv_desc,
    vop_lock_desc,
)

if TYPE_CHECKING:
    from kern.machine import Machine
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
VS_ACTIVE = 6  # assertions only: LOADED or BLOCKED, referenced

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

# v_size and v_writesize of a vnode whose size nobody has set yet (sys/vnode.h)
VSIZENOTSET = -1

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

    # __init__ is vattr_null itself (set below: no second call a vattr)

    def __repr__(self) -> str:
        return "<vattr " + " ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__
                                    if getattr(self, s) != VNOVAL) + ">"


def vattr_null(vap: vattr) -> None:
    """Set every attribute to VNOVAL ("not given")."""
    vap.va_type = VNON
    vap.va_mode = vap.va_nlink = vap.va_uid = vap.va_gid = vap.va_fsid = vap.va_fileid = \
        vap.va_size = vap.va_blocksize = vap.va_atime = vap.va_mtime = vap.va_ctime = \
        vap.va_birthtime = vap.va_gen = vap.va_flags = vap.va_rdev = vap.va_bytes = \
        vap.va_filerev = VNOVAL
    vap.va_vaflags = 0


vattr.__init__ = vattr_null  # type: ignore[method-assign,assignment]


assert set(vattr.__slots__) == {"va_type", "va_mode", "va_nlink", "va_uid", "va_gid",
                                "va_fsid", "va_fileid", "va_size", "va_blocksize",
                                "va_atime", "va_mtime", "va_ctime", "va_birthtime",
                                "va_gen", "va_flags", "va_rdev", "va_bytes", "va_filerev",
                                "va_vaflags"}, "vattr_null must set every field"


# The emulation keeps times as (sec, nsec) tuples in vattr.


_v_interlock_init_site = lock_site()
_v_lock_init_site = lock_site()


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
        # As NetBSD 8's vcache_alloc: no size until the file system sets one
        # (uvm_vnp_setsize, from its loadvnode/newvnode).
        self.v_size = VSIZENOTSET
        self.v_writesize = VSIZENOTSET
        self.v_rdev = NODEV
        self.v_specnode: Any = None  # specfs state for VBLK/VCHR
        self.v_mountedhere: mount | None = None
        self.v_interlock = kmutex_t()
        mutex_init(self.v_interlock, MUTEX_DEFAULT, IPL_NONE, at=_v_interlock_init_site)
        self.v_lock = krwlock_t()
        rw_init(self.v_lock, at=_v_lock_init_site)
        self.v_locktrans: dict[Any, Any] = {}  # lwp -> mount: the transaction of its lock
        self.v_state = VS_LOADING
        self.v_cv = kcondvar_t()  # v_state changes (and, in NetBSD, v_numoutput)
        cv_init(self.v_cv, "vnode")
        self.vi_lrulist = TAILQ_ENTRY()
        self.vi_lrulisthd: TAILQ_HEAD | None = None
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

# Flags to vrelel.
VRELEL_ASYNC_RELE = 0x0001  # always defer to the vdrain thread
VRELEL_FORCE_RELE = 0x0002  # must always succeed: wait for the vnode lock

# vdead_check flags
VDEAD_NOWAIT = 0x0001

VT_NON = 0  # enum vtagtype: the tag of a dead vnode

_STATE_NAMES = ("MARKER", "LOADING", "LOADED", "BLOCKED", "RECLAIMING", "RECLAIMED")


def vstate_name(state: int) -> str:
    return _STATE_NAMES[state] if 0 <= state < len(_STATE_NAMES) else str(state)


class _VnodeGlobals:
    """vfs_vnode.c's file-scope state, one per machine."""

    def __init__(self) -> None:
        # The vnode cache ("vcache_hashtab"): (mount, key) -> vnode.
        self.cache: dict[tuple[int, Any], vnode] = {}
        self.numvnodes = 0
        self.desiredvnodes = 10000
        # One list holds vnodes waiting for an asynchronous release, one
        # vnodes without buffer/page holds, one those with holds.
        self.lru_vrele_list = TAILQ_HEAD()
        self.lru_free_list = TAILQ_HEAD()
        self.lru_hold_list = TAILQ_HEAD()
        self.vdrain_lock = kmutex_t()
        mutex_init(self.vdrain_lock, MUTEX_DEFAULT, IPL_NONE)
        self.vdrain_cv = kcondvar_t()
        cv_init(self.vdrain_cv, "vdrain")
        self.vdrain_gen = 0
        self.vdrain_gen_cv = kcondvar_t()
        cv_init(self.vdrain_gen_cv, "vdrainwt")
        self.vdrain_retry = False
        self.vdrain_lwp: Any = None


_vg = MachineLocal(_VnodeGlobals, "vnode cache")


def vnpanic(vp: vnode, fmt: str, *args: Any) -> None:
    vprint("", vp)
    panic(fmt, *args)


# Vnode state operations and diagnostics (the DIAGNOSTIC versions).

def VSTATE_GET(vp: vnode) -> int:
    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))
    if vp.v_state in (VS_MARKER, VS_ACTIVE):
        vnpanic(vp, "state is %s", vstate_name(vp.v_state))
    return vp.v_state


def VSTATE_CHANGE(vp: vnode, from_: int, to: int) -> None:
    """Move ``vp`` from state ``from_`` to ``to`` (v_interlock held) and wake its waiters."""
    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))
    if from_ in (VS_MARKER, VS_ACTIVE):
        vnpanic(vp, "from is %s", vstate_name(from_))
    if to in (VS_MARKER, VS_ACTIVE):
        vnpanic(vp, "to is %s", vstate_name(to))
    if vp.v_state != from_:
        vnpanic(vp, "from is %s, expected %s", vstate_name(vp.v_state), vstate_name(from_))
    if (from_ == VS_BLOCKED or to == VS_BLOCKED) and vp.v_usecount != 1:
        vnpanic(vp, "%s to %s with usecount %d", vstate_name(from_), vstate_name(to),
                vp.v_usecount)
    vp.v_state = to
    # kemu: lookups wait for a LOADING vnode on v_cv as well (no vcache_cv).
    if to in (VS_LOADED, VS_RECLAIMED):
        cv_broadcast(vp.v_cv)


async def VSTATE_WAIT_STABLE(vp: vnode) -> None:
    """Sleep (v_interlock held) until ``vp`` is LOADED or RECLAIMED."""
    KASSERT(mutex_owned(vp.v_interlock))
    if vp.v_state in (VS_MARKER, VS_ACTIVE):
        vnpanic(vp, "state is %s", vstate_name(vp.v_state))
    while vp.v_state not in (VS_LOADED, VS_RECLAIMED):
        await cv_wait(vp.v_cv, vp.v_interlock)


def VSTATE_ASSERT(vp: vnode, state: int) -> None:
    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))
    if state == VS_ACTIVE and vp.v_usecount > 0 and vp.v_state in (VS_LOADED, VS_BLOCKED):
        return
    if vp.v_state != state:
        vnpanic(vp, "state is %s, usecount %d, expected %s", vstate_name(vp.v_state),
                vp.v_usecount, vstate_name(state))


def vfs_vnode_sysinit(machine: Machine) -> None:
    """Post-boot hook: start the vdrain thread (lwp "vdrain") of the running machine."""
    g = _vg.of(machine)
    error, g.vdrain_lwp = kthread_create(PRI_VM, KTHREAD_MPSAFE, None, vdrain_thread, None,
                                         "vdrain")
    KASSERTMSG(error == 0, "kthread_create(vdrain) failed: %d", error)


def vnalloc_marker(mp: mount | None) -> vnode:
    """A marker vnode, to hold a place in a list while the list's lock is dropped."""
    vp = vnode()
    vp.v_mount = mp
    vp.v_type = VBAD
    vp.v_state = VS_MARKER
    return vp


def vnfree_marker(vp: vnode) -> None:
    KASSERT(vp.v_state == VS_MARKER)


def vnis_marker(vp: vnode) -> bool:
    return vp.v_state == VS_MARKER


def lru_which(vp: vnode) -> TAILQ_HEAD:
    """The lru list ``vp`` belongs on: the hold list while buffers or pages hold it."""
    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))
    g = _vg()
    return g.lru_hold_list if vp.v_holdcnt > 0 else g.lru_free_list


_vdrain_lock_site = lock_site()


def _vdrain_lock_enter(g: _VnodeGlobals) -> None:
    """Take vdrain_lock from code that must not sleep.

    kemu: no lwp sleeps while holding vdrain_lock (it covers list surgery
    only), so on the one emulated CPU it is free whenever another lwp runs
    and a try always gets it."""
    if not mutex_tryenter(g.vdrain_lock, at=_vdrain_lock_site):
        owner = mutex_owner(g.vdrain_lock)
        panic("vdrain_lock held across a sleep by %s", owner.l_name if owner else "?")


def lru_requeue(vp: vnode, listhd: TAILQ_HEAD | None) -> None:
    """Put ``vp`` at the end of ``listhd``.

    Either list may be None (vnode allocation and freeing); numvnodes follows,
    and the vdrain thread is woken when there are too many vnodes or a
    release to do."""
    g = _vg()
    _vdrain_lock_enter(g)
    if vp.vi_lrulisthd is not None:
        TAILQ_REMOVE(vp.vi_lrulisthd, vp, "vi_lrulist")
    else:
        g.numvnodes += 1
    vp.vi_lrulisthd = listhd
    if vp.vi_lrulisthd is not None:
        TAILQ_INSERT_TAIL(vp.vi_lrulisthd, vp, "vi_lrulist")
    else:
        g.numvnodes -= 1
    if g.numvnodes > g.desiredvnodes or listhd is g.lru_vrele_list:
        cv_broadcast(g.vdrain_cv)
    mutex_exit(g.vdrain_lock)


def _vrele_list_take(g: _VnodeGlobals, vp: vnode) -> None:
    """Move a deferred vnode off the vrele list onto the last lru list (vdrain_lock
    held); the last vrele puts it on the right list before its usecount
    reaches zero."""
    KASSERT(vp.vi_lrulisthd is g.lru_vrele_list)
    TAILQ_REMOVE(vp.vi_lrulisthd, vp, "vi_lrulist")
    vp.vi_lrulisthd = g.lru_hold_list
    TAILQ_INSERT_TAIL(vp.vi_lrulisthd, vp, "vi_lrulist")


async def vrele_flush(mp: mount) -> None:
    """Do every deferred release now (called with ``mp`` suspended).

    As NetBSD 8 does, this releases the deferred vnodes of every mount, not
    only ``mp``'s, and waits for their locks."""
    g = _vg()
    marker = vnalloc_marker(None)
    await mutex_enter(g.vdrain_lock)
    TAILQ_INSERT_HEAD(g.lru_vrele_list, marker, "vi_lrulist")
    while (vp := TAILQ_NEXT(marker, "vi_lrulist")) is not None:
        TAILQ_REMOVE(g.lru_vrele_list, marker, "vi_lrulist")
        TAILQ_INSERT_AFTER(g.lru_vrele_list, vp, marker, "vi_lrulist")
        if vnis_marker(vp):
            continue
        _vrele_list_take(g, vp)
        mutex_exit(g.vdrain_lock)

        await mutex_enter(vp.v_interlock)
        await vrelel(vp, VRELEL_FORCE_RELE)

        await mutex_enter(g.vdrain_lock)
    TAILQ_REMOVE(g.lru_vrele_list, marker, "vi_lrulist")
    mutex_exit(g.vdrain_lock)
    vnfree_marker(marker)


async def vdrain_remove(vp: vnode) -> None:
    """Reclaim a cached vnode (the vdrain thread, when there are too many vnodes)."""
    g = _vg()
    KASSERT(mutex_owned(g.vdrain_lock))
    # Probe usecount (unlocked).
    if vp.v_usecount > 0:
        return
    # Try v_interlock: the wrong order, so only a try.
    if not mutex_tryenter(vp.v_interlock):
        return
    # Probe usecount and state.
    if vp.v_usecount > 0 or VSTATE_GET(vp) != VS_LOADED:
        mutex_exit(vp.v_interlock)
        return
    mp = vp.v_mount
    if fstrans_start_nowait(mp) != 0:
        mutex_exit(vp.v_interlock)
        return
    g.vdrain_retry = True
    mutex_exit(g.vdrain_lock)

    if await vcache_vget(vp) == 0:
        if not await vrecycle(vp):
            await mutex_enter(vp.v_interlock)
            await vrelel(vp, VRELEL_FORCE_RELE)
    fstrans_done(mp)

    await mutex_enter(g.vdrain_lock)


async def vdrain_vrele(vp: vnode) -> None:
    """Do one deferred release (the vdrain thread)."""
    g = _vg()
    KASSERT(mutex_owned(g.vdrain_lock))
    mp = vp.v_mount
    if fstrans_start_nowait(mp) != 0:
        return
    _vrele_list_take(g, vp)

    g.vdrain_retry = True
    mutex_exit(g.vdrain_lock)

    await mutex_enter(vp.v_interlock)
    await vrelel(vp, VRELEL_FORCE_RELE)
    fstrans_done(mp)

    await mutex_enter(g.vdrain_lock)


async def vdrain_thread(cookie: Any) -> None:
    """Keep numvnodes below desiredvnodes and do the deferred releases."""
    g = _vg()
    listhd = (g.lru_vrele_list, g.lru_free_list, g.lru_hold_list)
    marker = vnalloc_marker(None)

    await mutex_enter(g.vdrain_lock)
    while True:
        g.vdrain_retry = False
        target = g.desiredvnodes - g.desiredvnodes // 10

        for lh in listhd:
            TAILQ_INSERT_HEAD(lh, marker, "vi_lrulist")
            while (vp := TAILQ_NEXT(marker, "vi_lrulist")) is not None:
                TAILQ_REMOVE(lh, marker, "vi_lrulist")
                TAILQ_INSERT_AFTER(lh, vp, marker, "vi_lrulist")
                if vnis_marker(vp):
                    continue
                if lh is g.lru_vrele_list:
                    await vdrain_vrele(vp)
                elif g.numvnodes < target:
                    break
                else:
                    await vdrain_remove(vp)
            TAILQ_REMOVE(lh, marker, "vi_lrulist")

        if g.vdrain_retry:
            mutex_exit(g.vdrain_lock)
            await yield_()
            await mutex_enter(g.vdrain_lock)
        else:
            g.vdrain_gen += 1
            cv_broadcast(g.vdrain_gen_cv)
            await cv_wait(g.vdrain_cv, g.vdrain_lock)


# ---------------------------------------------------------- references

async def vput(vp: vnode) -> None:
    """Unlock and release the reference."""
    VOP_UNLOCK(vp)
    await vrele(vp)


def vtryrele(vp: vnode) -> bool:
    """Drop a reference unless it is the last one (then False)."""
    use = vp.v_usecount
    if use == 1:
        return False
    if use <= 1:  # (the KASSERTMSG's call only when it fails)
        KASSERTMSG(use > 1, "vtryrele: %s has no references", vp)
    vp.v_usecount = use - 1
    return True


def _vrelel_not_last(vp: vnode) -> bool:
    """vrelel's opening: drop a reference that is not the last (True) or
    check the last one (False)."""
    # (vp.v_op is _dead_vnodeop_p(), without the call: before vfs.dead_vnops
    # is loaded no vnode can have the dead operations)
    dead = _dead_vnops
    if dead is not None and vp.v_op is dead.dead_vnodeop_p and vp.v_state != VS_RECLAIMED:
        vnpanic(vp, "dead but not clean")
    if vtryrele(vp):
        return True
    if vp.v_usecount <= 0 or vp.v_writecount != 0:
        vnpanic(vp, "vrelel: bad ref count")
    # DIAGNOSTIC
    sn = vp.v_specnode
    if vp.v_type in (VBLK, VCHR) and sn is not None and sn.sn_opencnt != 0:
        vprint("vrelel: missing VOP_CLOSE()", vp)
    return False


_vrelel_inactive_site = lock_site()
_vrelel_relock_site = lock_site()


async def vrelel(vp: vnode, flags: int) -> None:
    """Release a reference, v_interlock held (and released on return).

    The last one runs VOP_INACTIVE, and VOP_RECLAIM if the file system asks
    for it, with the vnode locked.  The lock is only tried: if it is busy,
    the caller asked for it (VRELEL_ASYNC_RELE) or is the page daemon, the
    release is deferred to the vdrain thread, which inherits the reference.
    VRELEL_FORCE_RELE (the vdrain thread and vrele_flush) waits for the lock.
    """
    async_ = bool(flags & VRELEL_ASYNC_RELE)
    force = bool(flags & VRELEL_FORCE_RELE)

    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))

    # Not the last reference: just drop it.
    if _vrelel_not_last(vp):
        mutex_exit(vp.v_interlock)
        return

    # First try to lock the vnode for VOP_INACTIVE; defer the release when
    # asked to, on the page daemon, or when the lock is busy.
    if curlwp() is uvm.pagedaemon_lwp or async_:
        defer = True
    else:
        mutex_exit(vp.v_interlock)
        error = await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY | (0 if force else LK_NOWAIT))
        defer = error != 0
        await mutex_enter(vp.v_interlock, at=_vrelel_relock_site)
    if not mutex_owned(vp.v_interlock) or force and defer:  # (their calls only on failure)
        KASSERT(mutex_owned(vp.v_interlock))
        KASSERT(not (force and defer))
    if defer:
        # Not safe to clean it here: hand our last reference to the vdrain thread.
        lru_requeue(vp, _vg().lru_vrele_list)
        mutex_exit(vp.v_interlock)
        return

    # Somebody took a reference while the interlock was dropped: leave the
    # vnode active.
    if vtryrele(vp):
        VOP_UNLOCK(vp)
        mutex_exit(vp.v_interlock)
        return

    # Not clean: deactivate it, keeping our reference across VOP_INACTIVE.
    if VSTATE_GET(vp) == VS_RECLAIMED:
        VOP_UNLOCK(vp)
    else:
        VSTATE_CHANGE(vp, VS_LOADED, VS_BLOCKED)
        mutex_exit(vp.v_interlock)

        # No new reference while it is deactivated.  VOP_INACTIVE keeps the
        # lock and says whether the file is gone (then the vnode is recycled).
        _, recycle = await VOP_INACTIVE(vp)
        recycle = bool(recycle)
        if not recycle:
            VOP_UNLOCK(vp)
        await mutex_enter(vp.v_interlock, at=_vrelel_inactive_site)
        VSTATE_CHANGE(vp, VS_BLOCKED, VS_LOADED)
        if not recycle:
            if vtryrele(vp):
                mutex_exit(vp.v_interlock)
                return

        vp.v_iflag &= ~(VI_TEXT | VI_EXECMAP | VI_WRMAP)
        vp.v_vflag &= ~VV_MAPPED

        # Recycle the vnode if the file is gone (unlinked); else keep it cached.
        if recycle:
            VSTATE_ASSERT(vp, VS_LOADED)
            await vcache_reclaim(vp)  # unlocks the vnode
        if vp.v_usecount <= 0:  # (the KASSERT's call only when it fails)
            KASSERT(vp.v_usecount > 0)

    vp.v_usecount -= 1
    if vp.v_usecount != 0:
        # It gained another reference while being reclaimed.
        mutex_exit(vp.v_interlock)
        return

    if VSTATE_GET(vp) == VS_RECLAIMED and vp.v_holdcnt == 0:
        # Clean and referenced from nowhere: free it.
        vcache_free(vp)
    else:
        # Back onto an lru list, cached while it belongs to a file system.
        lru_requeue(vp, lru_which(vp))
        mutex_exit(vp.v_interlock)


_vrele_site = lock_site()


async def vrele(vp: vnode) -> None:
    """Drop a reference; the last one deactivates the vnode (see vrelel)."""
    if vtryrele(vp):
        return
    await mutex_enter(vp.v_interlock, at=_vrele_site)
    await vrelel(vp, 0)


def vrele_async(vp: vnode) -> None:
    """Drop a reference; the last one is released by the vdrain thread.

    kemu: a plain function (its caller may not sleep), so it does not take
    v_interlock; what vrelel(VRELEL_ASYNC_RELE) does under it, checking the
    count and moving the vnode to the vrele list, sleeps nowhere and cannot
    be interleaved on the one emulated CPU."""
    if vtryrele(vp):
        return
    if _vrelel_not_last(vp):
        return
    lru_requeue(vp, _vg().lru_vrele_list)


def vref(vp: vnode) -> None:
    """Add a reference to a vnode already referenced by the caller."""
    if vp.v_usecount == 0:  # (the KASSERTMSG's call only when it fails)
        KASSERTMSG(vp.v_usecount != 0, "vref: %s has no references", vp)
    vp.v_usecount += 1


def vholdl(vp: vnode) -> None:
    """A page or buffer holds the vnode (v_interlock held)."""
    KASSERT(mutex_owned(vp.v_interlock))
    vp.v_holdcnt += 1
    if vp.v_holdcnt == 1 and vp.v_usecount == 0:
        lru_requeue(vp, lru_which(vp))


def holdrelel(vp: vnode) -> None:
    """A page or buffer lets the vnode go (v_interlock held)."""
    KASSERT(mutex_owned(vp.v_interlock))
    if vp.v_holdcnt <= 0:
        vnpanic(vp, "holdrelel: holdcnt vp %s", vp)
    vp.v_holdcnt -= 1
    if vp.v_holdcnt == 0 and vp.v_usecount == 0:
        lru_requeue(vp, lru_which(vp))


async def vrecycle(vp: vnode) -> bool:
    """Reclaim ``vp`` if the caller holds its last reference (which goes either way
    when True; when False the caller keeps it)."""
    await mutex_enter(vp.v_interlock)

    # Make sure we hold the last reference.
    await VSTATE_WAIT_STABLE(vp)
    if vp.v_usecount != 1:
        mutex_exit(vp.v_interlock)
        return False

    # Already clean: done.
    if VSTATE_GET(vp) != VS_LOADED:
        VSTATE_ASSERT(vp, VS_RECLAIMED)
        await vrelel(vp, 0)
        return True

    # No new references until the vnode is locked.
    VSTATE_CHANGE(vp, VS_LOADED, VS_BLOCKED)
    mutex_exit(vp.v_interlock)

    # On a leaf file system this always succeeds (nobody else holds a
    # reference); waiting could deadlock on a layered one.
    error = await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY | LK_NOWAIT)

    await mutex_enter(vp.v_interlock)
    VSTATE_CHANGE(vp, VS_BLOCKED, VS_LOADED)

    if error:
        mutex_exit(vp.v_interlock)
        return False

    KASSERT(vp.v_usecount == 1)
    await vcache_reclaim(vp)
    await vrelel(vp, 0)
    return True


async def vrevoke_suspend_next(lastmp: mount | None, thismp: mount | None) -> mount | None:
    """vrevoke's helper: move the suspension from ``lastmp`` to ``thismp``;
    the file system now suspended, or None."""
    from kern.errno import EINTR, EOPNOTSUPP, ERESTART
    from vfs.vfs_trans import vfs_resume, vfs_suspend

    if lastmp is thismp:
        return thismp
    if lastmp is not None:
        await vfs_resume(lastmp)
    if thismp is None:
        return None
    while True:
        error = await vfs_suspend(thismp, 0)
        if error not in (EINTR, ERESTART):
            break
    if error == 0:
        return thismp
    KASSERT(error == EOPNOTSUPP)
    return None


async def vrevoke(vp: vnode) -> None:
    """Kill ``vp`` and every vnode aliasing its device (revoke(2))."""
    from vfs.spec_vnops import spec_node_lookup_by_dev

    KASSERT(vp.v_usecount > 0)

    mp = await vrevoke_suspend_next(None, vp.v_mount)

    await mutex_enter(vp.v_interlock)
    await VSTATE_WAIT_STABLE(vp)
    if VSTATE_GET(vp) == VS_RECLAIMED:
        mutex_exit(vp.v_interlock)
    elif vp.v_type not in (VBLK, VCHR):
        vp.v_usecount += 1
        mutex_exit(vp.v_interlock)
        await vgone(vp)
    else:
        dev = vp.v_rdev
        type_ = vp.v_type
        mutex_exit(vp.v_interlock)

        while True:
            error, vq = spec_node_lookup_by_dev(type_, dev)
            if error:
                break
            assert vq is not None
            mp = await vrevoke_suspend_next(mp, vq.v_mount)
            await vgone(vq)
    await vrevoke_suspend_next(mp, None)


async def vgone(vp: vnode) -> None:
    """Kill a referenced vnode now (its holders find it dead); drops the reference."""
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    await mutex_enter(vp.v_interlock)
    await VSTATE_WAIT_STABLE(vp)
    if VSTATE_GET(vp) == VS_LOADED:
        await vcache_reclaim(vp)
    else:
        VOP_UNLOCK(vp)  # kemu: vrelel locks it itself (see the deviations)
    VSTATE_ASSERT(vp, VS_RECLAIMED)
    await vrelel(vp, 0)


def vcache_key(mp: mount | None, key: Any) -> tuple[int, Any]:
    return (id(mp), key)


def insmntque(vp: vnode, mp: mount | None) -> None:
    """Move ``vp`` from its mount's vnode list to ``mp``'s (vfs_insmntque)."""
    old = vp.v_mount
    if old is not None and vp in old.mnt_vnodelist:
        old.mnt_vnodelist.remove(vp)
    vp.v_mount = mp
    if mp is not None:
        mp.mnt_vnodelist.append(vp)


def vcache_alloc() -> vnode:
    """A new vnode: LOADING, one reference, on the free list (counted in numvnodes)."""
    vp = vnode()
    vp.v_usecount = 1
    vp.v_type = VNON
    vp.v_state = VS_LOADING
    lru_requeue(vp, _vg().lru_free_list)
    return vp


async def vcache_dealloc(vp: vnode) -> None:
    """Drop a LOADING vnode whose load failed (already out of the cache)."""
    await mutex_enter(vp.v_interlock)
    vp.v_op = _dead_vnodeop_p()
    VSTATE_CHANGE(vp, VS_LOADING, VS_RECLAIMED)
    await vrelel(vp, 0)


def vcache_free(vp: vnode) -> None:
    """Free an unreferenced, unheld vnode (v_interlock held, released)."""
    KASSERT(mutex_owned(vp.v_interlock))
    KASSERT(vp.v_usecount == 0)
    KASSERT(vp.v_holdcnt == 0)
    KASSERT(vp.v_writecount == 0)
    lru_requeue(vp, None)
    mutex_exit(vp.v_interlock)
    insmntque(vp, None)


async def vcache_vget(vp: vnode) -> int:
    """Take a reference on a cached vnode: 0, or ENOENT if it was reclaimed.

    Entered with v_interlock held, which it releases.  A vnode still being
    loaded, deactivated or reclaimed is waited for first."""
    if not mutex_owned(vp.v_interlock):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(vp.v_interlock))

    # A hold keeps the vnode from being freed while we sleep.
    vp.v_holdcnt += 1
    if vp.v_state != VS_LOADED:  # (a LOADED vnode is stable: no coroutine for no wait)
        await VSTATE_WAIT_STABLE(vp)
    vp.v_holdcnt -= 1

    # If this was the last reference to a reclaimed vnode, free it now.
    if VSTATE_GET(vp) == VS_RECLAIMED:
        if vp.v_holdcnt == 0 and vp.v_usecount == 0:
            vcache_free(vp)
        else:
            mutex_exit(vp.v_interlock)
        return ENOENT
    VSTATE_ASSERT(vp, VS_LOADED)
    vp.v_usecount += 1
    mutex_exit(vp.v_interlock)
    return 0


_vcache_get_site = lock_site()


async def vcache_get(mp: mount, key: Any) -> tuple[int, vnode | None]:
    """The referenced, unlocked vnode for ``key`` on ``mp``, loading it if needed."""
    g = _vg()
    ck = vcache_key(mp, key)
    while True:
        vp = g.cache.get(ck)
        if vp is None:
            break
        # kemu: a LOADING vnode is waited for in vcache_vget.
        await mutex_enter(vp.v_interlock, at=_vcache_get_site)
        error = await vcache_vget(vp)
        if error == ENOENT:
            continue  # reclaimed meanwhile: look again
        return error, (vp if error == 0 else None)

    # Allocate and initialize a new vcache / vnode pair; the mount is busy
    # until the vnode is on its list (an unmount waits, a gone mount is ENOENT).
    error = await vfs_busy(mp)
    if error:
        return error, None
    vp = vcache_alloc()
    vp.v_key = key
    # vfs_busy may have slept: if another thread beat us inserting this node, retry.
    if ck in g.cache:
        await vcache_dealloc(vp)
        vfs_unbusy(mp)
        return await vcache_get(mp, key)
    g.cache[ck] = vp

    # Load the file system's node; nobody else touches a LOADING vnode.
    error, newkey = await VFS_LOADVNODE(mp, vp, key)
    if error:
        g.cache.pop(ck, None)
        await vcache_dealloc(vp)
        vfs_unbusy(mp)
        return error, None
    KASSERT(newkey is not None)
    KASSERT(newkey == key)
    KASSERT(bool(vp.v_op))  # the file system set its operations
    insmntque(vp, mp)
    vfs_unbusy(mp)

    # Finished loading: the file system's key (equal to ours) names the node.
    vp.v_key = newkey
    await mutex_enter(vp.v_interlock)
    VSTATE_CHANGE(vp, VS_LOADING, VS_LOADED)
    mutex_exit(vp.v_interlock)
    return 0, vp


_vcache_new_site = lock_site()


async def vcache_new(mp: mount, dvp: vnode | None, vap: vattr, cred: Any,
                     extra: Any = None) -> tuple[int, vnode | None]:
    """Create a new file's vnode through VFS_NEWVNODE; referenced and unlocked."""
    g = _vg()
    error = await vfs_busy(mp)
    if error:
        return error, None
    vp = vcache_alloc()
    error, key = await VFS_NEWVNODE(mp, dvp, vp, vap, cred, extra)
    if error:
        await vcache_dealloc(vp)
        vfs_unbusy(mp)
        return error, None
    vp.v_key = key
    ck = vcache_key(mp, key)
    # Wait for the key's previous vnode to be reclaimed, then insert.
    while (ovp := g.cache.get(ck)) is not None:
        await mutex_enter(ovp.v_interlock)
        error = await vcache_vget(ovp)
        KASSERTMSG(error == ENOENT, "vcache_new: key %s already in the cache (%s)", key, ovp)
    g.cache[ck] = vp
    insmntque(vp, mp)
    vfs_unbusy(mp)

    await mutex_enter(vp.v_interlock, at=_vcache_new_site)
    VSTATE_CHANGE(vp, VS_LOADING, VS_LOADED)
    mutex_exit(vp.v_interlock)
    return 0, vp


def vcache_rekey(vp: vnode, newkey: Any) -> None:
    g = _vg()
    g.cache.pop(vcache_key(vp.v_mount, vp.v_key), None)
    vp.v_key = newkey
    g.cache[vcache_key(vp.v_mount, newkey)] = vp


async def vcache_reclaim(vp: vnode) -> None:
    """Cut ``vp`` off its file system: VOP_RECLAIM, then dead operations.

    Entered with the vnode locked and v_interlock held; returns with the
    vnode unlocked and v_interlock held."""
    KASSERT(mutex_owned(vp.v_interlock))
    KASSERT(vp.v_usecount != 0)

    g = _vg()
    mp = vp.v_mount
    ck = vcache_key(mp, vp.v_key)
    active = vp.v_usecount > 1
    # No recycling or new use while we clean it out.
    VSTATE_CHANGE(vp, VS_LOADED, VS_RECLAIMING)
    vp.v_iflag &= ~(VI_TEXT | VI_EXECMAP)
    mutex_exit(vp.v_interlock)

    await fstrans_start(mp)

    # kemu: the file systems flush their buffers and pages in VOP_RECLAIM
    # (no vinvalbuf here).  An active vnode is deactivated first, RECLAIMING
    # already (so nobody takes a new reference meanwhile); one held only by
    # the reclaimer was deactivated at its last release (see the deviations).
    if active:
        await VOP_INACTIVE(vp)
    error = await VOP_RECLAIM(vp)  # unlocks the vnode
    if error:
        vnpanic(vp, "vcache_reclaim: cannot reclaim")
    if vp.v_data is not None:
        vnpanic(vp, "vcache_reclaim: %s: the file system left v_data", vp)

    # Out of the vnode cache: a lookup meanwhile waited for the reclaim.
    if vp.v_key is not None and g.cache.get(ck) is vp:
        del g.cache[ck]

    # Done: tell the sleepers the grim news.
    await mutex_enter(vp.v_interlock)
    vp.v_op = _dead_vnodeop_p()
    vp.v_vflag |= VV_LOCKSWORK
    VSTATE_CHANGE(vp, VS_RECLAIMING, VS_RECLAIMED)
    vp.v_tag = VT_NON
    mutex_exit(vp.v_interlock)

    # kemu: off its mount (v_mount None) rather than onto dead_rootmount; a
    # vnode that is not a device becomes VBAD.
    vp.v_vflag &= ~VV_ROOT
    vp.v_type = VBAD if vp.v_type not in (VBLK, VCHR) else vp.v_type
    insmntque(vp, None)

    await mutex_enter(vp.v_interlock)
    fstrans_done(mp)


def vdead_check(vp: vnode, flags: int = 0) -> int:
    """ENOENT if ``vp`` is dead or dying (kemu: never waits)."""
    return ENOENT if vp.v_state in (VS_RECLAIMING, VS_RECLAIMED) else 0


async def vfs_drainvnodes() -> int:
    """Let the vdrain thread finish two passes over its lists (so the releases
    deferred so far are done); EBUSY if there are still too many vnodes."""
    g = _vg()
    await mutex_enter(g.vdrain_lock)
    for _ in range(2):
        gen = g.vdrain_gen
        while gen == g.vdrain_gen:
            cv_broadcast(g.vdrain_cv)
            await cv_wait(g.vdrain_gen_cv, g.vdrain_lock)
    mutex_exit(g.vdrain_lock)

    if g.numvnodes >= g.desiredvnodes:
        return EBUSY
    return 0


# ----------------------------------------------------- the 2007 interface

async def getnewvnode(tag: int, mp: mount | None, vops: list[Any] | vnodeopv_desc,
                      slock: Any = None) -> tuple[int, vnode | None]:
    """A fresh vnode with one reference, not in the vnode cache (puffs uses it)."""
    vp = vcache_alloc()
    vp.v_tag = tag
    vp.v_op = vops.opv_desc_vector if isinstance(vops, vnodeopv_desc) else vops
    # Nobody can see it LOADING: no waiters to wake.
    vp.v_state = VS_LOADED
    insmntque(vp, mp)
    return 0, vp


def ungetnewvnode(vp: vnode) -> None:
    """Undo getnewvnode for a vnode that never became visible."""
    KASSERT(vp.v_usecount == 1)
    KASSERT(vp.v_data is None)
    if not mutex_tryenter(vp.v_interlock):  # nobody else knows the vnode
        vnpanic(vp, "ungetnewvnode: interlock busy")
    vp.v_op = _dead_vnodeop_p()
    VSTATE_CHANGE(vp, VS_LOADED, VS_RECLAIMED)
    vp.v_usecount = 0
    vcache_free(vp)


async def vget(vp: vnode, flags: int = 0, wait: bool = True) -> int:
    """Reference (and with LK_* flags, lock) a vnode found on a list or in a hash.

    With LK_INTERLOCK the caller found ``vp`` holding its ``v_interlock`` (so
    it could not go away meanwhile); vcache_vget takes that interlock over
    and gives it up, as NetBSD 8's vcache_vget does with the interlock its
    caller holds (and the vget of NetBSD 4, puffs 2007's).  Without it, vget
    takes the interlock itself.
    """
    if flags & LK_INTERLOCK:
        KASSERT(mutex_owned(vp.v_interlock))
        flags &= ~LK_INTERLOCK
    else:
        await mutex_enter(vp.v_interlock)
    error = await vcache_vget(vp)
    if error:
        return error
    if flags & LK_TYPE_MASK:
        error = await vn_lock(vp, flags)
        if error:
            await vrele(vp)
            return error
    return 0


# --------------------------------------------------------------- vflush

def _vflush_selector(vp: vnode, skipvp: vnode | None, flags: int) -> bool:
    if vp is skipvp:
        return False
    if flags & SKIPSYSTEM and vp.v_vflag & VV_SYSTEM:
        return False
    # WRITECLOSE: only regular files open for writing (kemu: later NetBSD's
    # rule for the other types, see the deviations).
    if flags & WRITECLOSE and (vp.v_type != VREG or vp.v_writecount == 0):
        return False
    return True


async def vflush(mp: mount, skipvp: vnode | None, flags: int) -> int:
    """Reclaim the vnodes of ``mp`` for unmount; EBUSY if some are still in use
    (FORCECLOSE kills those)."""
    # First, the deferred releases (the current directories of processes
    # that have exited, for one).
    await vrele_flush(mp)

    busy = 0
    for vp in list(mp.mnt_vnodelist):  # kemu: a snapshot, not a marker
        if vp.v_mount is not mp or vnis_marker(vp) or not _vflush_selector(vp, skipvp, flags):
            continue
        await mutex_enter(vp.v_interlock)
        if await vcache_vget(vp) != 0:
            continue  # reclaimed meanwhile
        # First try to recycle it.
        if await vrecycle(vp):
            continue
        # FORCECLOSE: kill it.
        if flags & FORCECLOSE:
            await vgone(vp)
            continue
        await vrele(vp)
        busy += 1
    if busy:
        return EBUSY
    return 0


# vfs.dead_vnops, set by that module as it is imported (it imports this one):
# until then no vnode can have its operations, so vrelel's check needs no import
_dead_vnops: Any = None


def _dead_vnops_loaded(module: Any) -> None:
    """vfs.dead_vnops's last statement: it is loaded.  A copy of that file
    executed afresh under another name (a machine's module copy) is not the
    shared module whose dead_vnodeop_p vclean gives: it is not kept."""
    global _dead_vnops
    if module.__name__ == "vfs.dead_vnops":
        _dead_vnops = module


def _dead_vnodeop_p() -> list[Any]:
    # vfs.dead_vnops imports this module: it is looked up on first use, then
    # kept (an import statement here cost every vrelel about half a microsecond).
    if _dead_vnops is None:
        from vfs import dead_vnops  # noqa: F401 - it sets _dead_vnops
    return _dead_vnops.dead_vnodeop_p


# ------------------------------------------------------------------ locking

# genfs_lock's lock site is its caller's caller (caller_where(2)): for the
# VOP_LOCK of vn_lock, the tree's one call of it, always that call.  While
# vn_lock makes it for a vnode whose lock operation is genfs_lock (so
# called by the VOP itself, which runs to it without a sleep), _vn_locking
# holds the vnode; the genfs_lock that finds its vnode there (and empties
# it) takes the site kept in _vn_lock_site instead of looking the frame up
# (see lock_site).  Not noted under another lock operation: one that sleeps
# before it calls genfs_lock could find its vnode reclaimed (genfs_lock, the
# dead ops', then the vnode's lock operation) with the note still there.
_vn_lock_site = lock_site()
_vn_locking: list[vnode | None] = [None]
_VOP_LOCK_OFFSET = vop_lock_desc.vdesc_offset


async def vn_lock(vp: vnode, flags: int) -> int:
    """Lock a vnode; ENOENT (without LK_RETRY) if it is dead or dying."""
    if not flags & LK_RETRY and vp.v_state in (VS_RECLAIMING, VS_RECLAIMED):
        return ENOENT
    # (noted only for a genfs_lock the VOP calls itself, without a sleep:
    # then no other genfs_lock of vp runs in this machine before it)
    _vn_locking[0] = vp if vp.v_op[_VOP_LOCK_OFFSET] is genfs_lock else None
    try:
        error = await VOP_LOCK(vp, flags)
    finally:
        _vn_locking[0] = None  # (no vnode kept here past the call, whatever ends it)
    if error:
        return error
    if not flags & LK_RETRY and vp.v_state == VS_RECLAIMED:
        VOP_UNLOCK(vp)
        return ENOENT
    return 0


_genfs_trylock_site = lock_site()


async def genfs_lock(v: Any) -> int:
    """Take the vnode lock, inside an fstrans transaction on the vnode's mount.

    NetBSD 8's VOP_LOCK enters a transaction and VOP_UNLOCK leaves it, so a
    thread holding a vnode lock always holds a transaction: a suspension
    (vfs_suspend) waits for vnode-lock holders to finish, and nobody can
    sleep in fstrans_start while holding a vnode lock the suspending thread
    needs.  The transaction is recorded per lwp and ended by genfs_unlock.
    """
    ap = v
    vp = ap.a_vp
    # (reached by vn_lock's VOP_LOCK, found before anything can sleep: see
    # _vn_lock_site)
    by_vn_lock = _vn_locking[0] is vp
    if by_vn_lock:
        _vn_locking[0] = None
    flags = ap.a_flags
    mp = vp.v_mount
    trans = mp if mp is not None and mp.mnt_iflag & IMNT_HAS_TRANS else None
    op = RW_WRITER if flags & LK_EXCLUSIVE else RW_READER
    if flags & LK_NOWAIT:
        if trans is not None and fstrans_start_nowait(trans):
            return EBUSY
        if not rw_tryenter(vp.v_lock, op, at=_genfs_trylock_site):
            if trans is not None:
                fstrans_done(trans)
            return EBUSY
    else:
        if trans is not None:
            wait = fstrans_start_begin(trans)  # (fstrans_start, its common case inline)
            if wait is not None:
                KASSERT(await wait == 0)
        # (the lockdebug site: caller_where(2), written out: the frame two
        # above this one, or vn_lock's kept one; not looked up without
        # lockdebug, as in rw_enter)
        l = curlwp_or_none()
        if l is not None and l.l_cpu.lockdebug:
            if by_vn_lock:
                await _rw_enter(vp.v_lock, op, _vn_lock_site.where or _vn_lock_site.lookup(2))
            else:
                f = _getframe(2)
                await _rw_enter(vp.v_lock, op, (f.f_code, f.f_lasti))
        else:
            await _rw_enter(vp.v_lock, op, None)  # (raises if this is not an lwp)
    if trans is not None:
        # (the lock calls above raised if this is not an lwp: the ContextVar's get)
        vp.v_locktrans[curlwp_or_none()] = trans
    return 0


def genfs_unlock(v: Any) -> int:
    vp = v.a_vp
    rw_exit(vp.v_lock)
    if vp.v_locktrans:
        mp = vp.v_locktrans.pop(curlwp_or_none(), None)  # (rw_exit raised outside an lwp)
        if mp is not None:
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
    printf("%s: %s\n", label, vp)


def VN_KNOTE(vp: vnode, hint: int) -> None:
    """kqueue notes are not modelled."""
