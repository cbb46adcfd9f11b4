"""The lockset race detector: Eraser (Savage et al., SOSP 1997) over kemu's kernel structures.

On a real NetBSD machine KCSAN watches memory accesses; here the shared
fields of kernel structures are watched by Python descriptors, installed on
their classes only while a machine with the detector on runs
(``kern.boot(race=True)``, ``pytest --kemu-race``).  With it off the classes
are untouched and the kernel runs exactly as without it.

For every watched field of every object the detector runs Eraser's state
machine:

* **virgin**: never accessed;
* **exclusive**: only one lwp has touched it (initialisation: no checks);
* **shared**: a second lwp read it; the candidate lockset C(v) is refined
  (intersected with the locks held) at each access, nothing is reported;
* **shared-modified**: written once shared; when C(v) becomes empty, the
  detector looks for the pair: two accesses by different lwps, at least one
  a write, with no lock in common.  It ends the run with
  :class:`kern.DataRace`, naming the field, the object, both lwps, both
  sites and the locks each held.

Locks are mutexes and rwlocks, as ``subr_lockdebug`` records them per lwp
(``l_locks``); an rwlock held as reader counts for reads only.  Two
orderings the locks do not show are honoured, both made by lwp lifetimes:
an lwp that has exited cannot race (its field ownership passes to the next
lwp, and its accesses drop out of the history), and what an lwp did before
it created another happened before everything the new lwp does.  Only
kernel code is watched (not kemu's harness in kern/machine/).

What the lockset discipline cannot express is declared in ONE place, the
table :data:`STRUCTS` below: for each watched struct, every field with its
documented protection, from NetBSD's own comments on the struct (the header
the port names) and the code's use of it:

* ``locked(*locks)``: Eraser (the documented locks are named in reports);
* ``modify_locked(lock)``: written only with ``lock`` held, read without it
  (NetBSD's "x: lock to modify, either to inspect"; a port's configuration
  fields published by a handoff the locks do not show): writes without the
  lock, once the field is shared, are reported;
* ``stable()``: set before the structure is shared and never written after;
* ``unlocked(why)``: protected by means the detector cannot see (atomic
  counters, ownership of a buf through BC_BUSY, the single CPU NetBSD's
  design relies on), not checked;
* ``kept(why, at=...)``: a data race of the ported C kept on purpose (a
  defect of fss.c 1.104 or puffs_vfsops.c 1.38 that a later revision fixes,
  pinned by a test): a race of that field involving one of the functions in
  ``at`` is recorded once (``Detector.kept``, the console) and the run goes
  on; any other race of the field is still fatal;
* ``kemu_gap(lock, why)``: NetBSD protects the field with ``lock``, which
  kemu's port does not take yet (its VFS elides interlocks in functions
  that may not sleep here): listed, not checked until the port takes it.

The only faces towards the kernel are the per-lwp lock list of
subr_lockdebug, the machine's hooks (its start and end, lwp creation, module
loading) and the classes named in the table.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from dataclasses import dataclass
from types import CodeType, FrameType, ModuleType
from typing import Any

from kern.cpu import _lwp, _machine
from kern.exceptions import DataRace
from kern.kern_lwp import LSZOMB, lwp
from kern.subr_lockdebug import lock_name, short_path, site_of

# Whether machines booted without race= have the detector on (pytest --kemu-race).
default = False

# ------------------------------------------------------------------ declarations

LOCKED, MODIFY_LOCKED, STABLE, UNLOCKED, KEPT, KEMU_GAP = "locked", "modify-locked", \
    "stable", "unlocked", "kept", "kemu-gap"


@dataclass(frozen=True)
class Protection:
    """How one field is protected, and why (the table's entries)."""

    kind: str
    locks: tuple[str, ...] = ()
    why: str = ""
    at: tuple[str, ...] = ()  # kept: the functions whose races are kept
    # a list or dict changed in place through the field: every access counts as a write
    container: bool = False
    # (function, why): accesses made in these functions are not checked, for the
    # reason given (a documented exception of NetBSD's, or a kemu gap at one place)
    exempt: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        if self.kind in (LOCKED, KEPT):
            lk = " or ".join(self.locks) if self.locks else "one lwp at a time"
            return f"{lk}" + (f" ({self.why})" if self.why else "")
        if self.kind == MODIFY_LOCKED:
            return f"{self.locks[0]} to modify, none to inspect ({self.why})"
        if self.kind == KEMU_GAP:
            return f"{self.locks[0]} in NetBSD, not taken by kemu yet ({self.why})"
        if self.kind == UNLOCKED:
            return f"unlocked ({self.why})"
        return f"{self.kind} ({self.why})"


def locked(*locks: str, why: str = "", container: bool = False,
           exempt: dict[str, str] | None = None) -> Protection:
    """Eraser's discipline: ``locks`` are the documented ones (lock names as
    subr_lockdebug prints them); none means "one lwp at a time" (the lwp that
    owns the object, handed over at lwp creation and exit).  ``container``: the
    field holds a queue or table that is changed in place, so every access
    counts as a write.  ``exempt``: function -> why its accesses are not checked."""
    return Protection(LOCKED, locks, why, container=container,
                      exempt=tuple((exempt or {}).items()))


def modify_locked(lock: str, why: str) -> Protection:
    return Protection(MODIFY_LOCKED, (lock,), why)


def stable(why: str) -> Protection:
    return Protection(STABLE, (), why)


def unlocked(why: str) -> Protection:
    return Protection(UNLOCKED, (), why)


def kemu_gap(lock: str, why: str) -> Protection:
    """NetBSD protects the field with ``lock`` and kemu's port does not take it yet
    (a finding left to the owner of that code): not checked until it does."""
    return Protection(KEMU_GAP, (lock,), why)


def kept(why: str, *, at: tuple[str, ...], locks: tuple[str, ...] = ()) -> Protection:
    return Protection(KEPT, locks, why, at)


@dataclass
class Struct:
    """A watched kernel structure: where its class lives and its fields."""

    name: str            # "struct fss_softc"
    module: str          # the Python module of its class ("dev.fss.fssvar")
    cls: str             # the class name
    source: str          # the NetBSD header the field protections come from
    fields: dict[str, Protection]
    per_machine: bool = False  # defined in a loadable module's files (a copy per machine)


_RECLAIM = ("{f}: stable while the vnode is referenced: set when the vnode is loaded and "
            "changed only by vcache_reclaim (VOP_RECLAIM) with the vnode locked and "
            "RECLAIMING; a holder of a reference may read the old or the new value, which "
            "NetBSD 8 allows (the dead vnode ops answer it)")
_OWNED = ("b: {f}: owned by the thread that marked the buf busy (BC_BUSY), which lends "
          "it to the driver from VOP_STRATEGY until biodone/biowait")
_BUFCACHE = (": kemu's brelse/brelsel, bbusy's callers and biodone change it without "
             "bufcache_lock (plain functions: kemu's mutex_enter may sleep)")

# The table.  Lock names are those subr_lockdebug gives (the expression passed
# to mutex_init/rw_init).  "(1.29: ...)" quotes the header's own comment.

_CONFIG = ("snapshot configuration: written by FSSIOCSET (fss_create_files, "
           "fss_create_snapshot, fss_softc_alloc) and FSSIOCCLR (fss_delete_snapshot, "
           "fss_softc_free) holding sc_lock while no bs thread runs and no cow handler is "
           "established; fss_copy_on_write, fss_strategy and the bs thread read it only "
           "between fscow_establish/kthread_create and fscow_disestablish/kthread_join, "
           "which order them after the writes")

STRUCTS: list[Struct] = [
    Struct("struct fss_softc", "dev.fss.fssvar", "fss_softc", "sys/dev/fssvar.h 1.29", {
        "sc_dev": stable("Self linkage: set by fss_attach before the unit is on the list"),
        "sc_slock": stable("Protect this softc: the mutex itself, set up by fss_attach"),
        "sc_lock": stable("Sleep lock for fss_ioctl: the mutex itself"),
        "sc_work_cv": stable("the condvar itself"),
        "sc_cache_cv": stable("the condvar itself"),
        "sc_flags": kept(
            "fss.c 1.104 reads and changes sc_flags holding only sc_lock (the ioctl's sleep "
            "lock) in fss_ioctl, fss_create_files, fss_create_snapshot (FSS_ACTIVE), "
            "fss_delete_snapshot, fss_softc_alloc (FSS_BS_THREAD) and fss_softc_free, and "
            "with no lock in fss_detach, while fss_open, fss_close, fss_error and the bs "
            "thread change it under sc_slock: fss_open's |= FSS_CDEV_OPEN can be lost against "
            "|= FSS_ACTIVE.  1.105 keeps the snapshot's state in sc_state, changed under "
            "sc_slock (FSS_PERSISTENT and FSS_BS_THREAD are still set without it in 1.114)",
            locks=("sc.sc_slock",),
            at=("fss_ioctl", "fss_detach", "fss_create_files", "fss_create_snapshot",
                "fss_delete_snapshot", "fss_softc_alloc", "fss_softc_free")),
        "sc_uflags": locked("sc.sc_slock", why="User visible flags"),
        "sc_dkdev": stable("Generic disk device: allocated by fss_attach; disk(9) "
                           "locks its own statistics"),
        "sc_mount": modify_locked("sc.sc_lock", _CONFIG),
        "sc_mntname": modify_locked("sc.sc_lock", _CONFIG),
        "sc_time": modify_locked("sc.sc_lock", _CONFIG),
        "sc_bdev": modify_locked("sc.sc_lock", _CONFIG),
        "sc_bs_vp": modify_locked("sc.sc_lock", _CONFIG),
        "sc_bs_bshift": modify_locked("sc.sc_lock", _CONFIG),
        "sc_bs_bmask": modify_locked("sc.sc_lock", _CONFIG),
        "sc_bs_lwp": modify_locked("sc.sc_lock", _CONFIG),
        "sc_clshift": modify_locked("sc.sc_lock", _CONFIG),
        "sc_clmask": modify_locked("sc.sc_lock", _CONFIG),
        "sc_clcount": modify_locked("sc.sc_lock", _CONFIG),
        "sc_copied": modify_locked("sc.sc_lock", _CONFIG + " (the bitmap's bits: sc_slock)"),
        "sc_clresid": modify_locked("sc.sc_lock", _CONFIG),
        "sc_cache_size": modify_locked("sc.sc_lock", _CONFIG),
        "sc_cache": modify_locked("sc.sc_lock", _CONFIG + " (the slots: fss_cache)"),
        "sc_bufq": stable("Transfer queue: allocated by fss_attach (its contents: sc_slock)"),
        "sc_clnext": kept(
            "Next free cluster on backing store: the bs thread advances it under sc_slock; "
            "fss.c 1.104's FSSIOCGET reads it (fsg_bs_size) holding only sc_lock.  1.105's "
            "FSSIOCGET holds sc_slock", locks=("sc.sc_slock",), at=("fss_ioctl",)),
        "sc_indir_size": modify_locked("sc.sc_lock", _CONFIG),
        "sc_indir_valid": modify_locked("sc.sc_lock", _CONFIG),
        "sc_indir_cur": locked(why="the bs thread's, set up by FSSIOCSET before it starts"),
        "sc_indir_dirty": locked(why="the bs thread's, set up by FSSIOCSET before it starts"),
        "sc_indir_data": modify_locked("sc.sc_lock", _CONFIG),
    }),
    Struct("struct puffs_mount", "fs.puffs.puffs_sys", "puffs_mount",
           "sys/fs/puffs/puffs_sys.h (2007, 1.38's)", per_machine=True, fields={
        "pmp_lock": stable("the mutex itself"),
        "pmp_args": stable("copied from the mount arguments by puffs_mount before the "
                           "mount is visible; read-only after (pmp_flags, pmp_vnopmask)"),
        "pmp_req_touser": locked("pmp.pmp_lock", why="queue 1: requests for the server",
                                 container=True),
        "pmp_req_waiter_cv": stable("the condvar itself"),
        "pmp_req_maxsize": stable("set by puffs_mount from the arguments"),
        "pmp_req_replywait": locked("pmp.pmp_lock", why="queue 2: requests waiting for "
                                    "a reply", container=True),
        "pmp_req_sizepark": locked("pmp.pmp_lock", why="bit-rotted in 2007: stays empty",
                                   container=True),
        "pmp_pnodehash": stable("the cookie hash, allocated by puffs_mount (its buckets: "
                                "pmp_lock, and the kernel lock in 2007)"),
        "pmp_npnodehash": stable("set by puffs_mount"),
        "pmp_mp": stable("set by puffs_mount"),
        "pmp_root": locked("pmp.pmp_lock", why="the cached root vnode"),
        "pmp_rootcookie": kept(
            "the server's root cookie: puffs_vfsops.c 1.38's puffs_start2 sets it under "
            "pmp_lock, and puffs_root reads it without the lock (a root vnode asked for "
            "while the mount is still MOUNTING gets the cookie of before or after).  From "
            "mid-May 2007 (later revisions: pmp_root_cookie) it comes with the mount "
            "arguments, set by puffs_mount before the mount is visible",
            locks=("pmp.pmp_lock",), at=("puffs_root",)),
        "pmp_sel": stable("set by puffs_setpmp when the server's instance is bound"),
        "pmp_req_waiters": locked("pmp.pmp_lock", why="threads inside puffs_touser"),
        "pmp_req_waitersink_cv": stable("the condvar itself"),
        "pmp_unmounting_cv": stable("the condvar itself"),
        "pmp_unmounting": locked("pmp.pmp_lock"),
        "pmp_status": kept(
            "PUFFSTAT_*, changed under pmp_lock; puffs_statvfs tests it for MOUNTING without "
            "the lock (a guard against the server's own mount(2) asking statvfs, harmless "
            "under 2007's kernel lock), as later revisions still do (1.106)",
            locks=("pmp.pmp_lock",), at=("puffs_statvfs",)),
        "pmp_suspend": locked("pmp.pmp_lock"),
        "pmp_suspend_cv": stable("the condvar itself"),
        "pmp_nextreq": locked("pmp.pmp_lock", why="puffs_getreqid"),
    }),
    Struct("struct puffs_node", "fs.puffs.puffs_sys", "puffs_node",
           "sys/fs/puffs/puffs_sys.h (2007, 1.38's)", per_machine=True, fields={
        "pn_gnode": stable("genfs glue: set up by puffs_getvnode"),
        "pn_cookie": kept(
            "userspace pnode cookie: set when the node is made; 1.38's puffs_start2 patches "
            "it into a root vnode made while the mount was MOUNTING (puffs_root's \"XXX: "
            "this is wrong, so FIXME\"), under pmp_lock, while holders of the root vnode "
            "read it under the vnode lock.  From mid-May 2007 (later revisions) the root "
            "cookie comes with the mount arguments and the root node is made with it",
            at=("puffs_start2",)),
        "pn_vp": stable("backpointer to vnode: set by puffs_getvnode"),
        "pn_stat": locked(why="node status"),
        "pn_mc_atime": locked(why="metacache"),
        "pn_mc_ctime": locked(why="metacache"),
        "pn_mc_mtime": locked(why="metacache"),
        "pn_mc_size": locked(why="metacache"),
    }),
    Struct("struct mount", "vfs.mount", "mount", "sys/sys/mount.h (NetBSD 8)", {
        "mnt_op": stable("operations on fs: set when the mount is made"),
        "mnt_vnodecovered": locked(why="vnode we mounted on"),
        "mnt_vnodelist": kemu_gap(
            "mntvnode_lock", "list of vnodes this mount: kemu has no mntvnode_lock "
            "(puffs_vfsops.py D7); insmntque, vflush, dounmount, ext2fs_sync and pageflush "
            "change or walk it between sleeps"),
        "mnt_flag": locked(why="flags"),
        "mnt_iflag": unlocked(
            "internal flags: set and cleared by mount and dounmount while the mount is "
            "being made or torn down; fstrans tests IMNT_HAS_TRANS and puffs_getvnode "
            "IMNT_GONE without a lock, as NetBSD 8's vfs_trans.c and puffs do"),
        "mnt_fs_bshift": stable("offset shift for lblkno: set by VFS_MOUNT"),
        "mnt_dev_bshift": stable("shift for device sectors: set by VFS_MOUNT"),
        "mnt_stat": stable("cache of filesystem stats: the struct itself (its fields are "
                           "ctypes memory, not watched)"),
        "mnt_data": unlocked("private data: set by VFS_MOUNT before the mount is "
                             "visible, cleared by VFS_UNMOUNT once vflush emptied it"),
        "mnt_refcnt": unlocked("ref count on this structure: atomic_inc/atomic_dec "
                               "(vfs_ref/vfs_rele)"),
        "mnt_transinfo": unlocked(
            "for FS-internal use: set by fstrans_mount before IMNT_HAS_TRANS, dropped by "
            "fstrans_unmount once the mount is gone; vfs_trans.c reads it after testing "
            "IMNT_HAS_TRANS, without a lock"),
        "mnt_renamelock": stable("the mutex itself"),
        "mnt_updating": stable("the mutex itself"),
        "mnt_unmounting": stable("the mutex itself"),
        "mnt_specific": locked(why="subsystem specific data", container=True),
        "mnt_lower": stable("layered mounts: set at mount"),
    }),
    Struct("struct vnode", "vfs.vnode", "vnode", "sys/sys/vnode.h (NetBSD 8)", {
        "v_type": unlocked(_RECLAIM.format(f=":: vnode type")),
        "v_tag": unlocked(_RECLAIM.format(f=":: type of underlying data (VT_NON)")),
        "v_vflag": locked("self.v_lock", why="v: VV_* flags", exempt={
            "vrelel": "NetBSD 8's vrelel clears VV_MAPPED holding v_interlock, not the "
                      "vnode lock",
            "vcache_reclaim": "NetBSD 8's vcache_reclaim sets VV_LOCKSWORK holding "
                              "v_interlock (and clears VV_ROOT)",
            "fss_create_files": "fss.c (1.104 to 1.114) tests VV_ROOT on the unlocked vnode "
                                "namei returned: VV_ROOT is set when a root vnode is made "
                                "and stays while it is referenced"}),
        "v_iflag": locked("self.v_interlock", why="i: VI_* flags", exempt={
            "vn_writechk": "NetBSD 8's vn_writechk tests VI_TEXT without v_interlock"}),
        "v_uflag": locked(why="u: VU_* flags, locked by the underlying file system"),
        "v_usecount": unlocked("reference count (v_uobj.uo_refs): atomic_inc in vref, "
                               "atomic_cas in vrele, the last one under v_interlock"),
        "v_writecount": locked("self.v_interlock", why="i: ref count of writers"),
        "v_holdcnt": locked("self.v_interlock", why="i: page & buffer refs"),
        "v_numoutput": kemu_gap("self.v_interlock", "i: # of pending writes: kemu's bwrite, "
                                "nestiobuf_setup, genfs_do_io and biodone's vwakeup "
                                "change it without v_interlock"),
        "v_mount": unlocked(_RECLAIM.format(f="v: ptr to vfs we are in (vfs_insmntque)")),
        "v_op": unlocked(_RECLAIM.format(f=":: vnode operations vector")),
        "v_data": unlocked(_RECLAIM.format(f=":: private data for fs (VOP_RECLAIM)")),
        "v_size": modify_locked("self.v_interlock", "i: size of file: set only by "
                                "uvm_vnp_setsize, under v_interlock (NetBSD 8: vmobjlock, "
                                "which is v_interlock); read without it, as NetBSD's file "
                                "systems and genfs do, under the vnode lock"),
        "v_writesize": locked("self.v_interlock", why="i: new size after write: "
                              "uvm_vnp_setsize and uvm_vnp_setwritesize"),
        "v_rdev": stable("device: set when the vnode is loaded (v_specnode's vn_rdev)"),
        "v_specnode": locked("self.v_lock", why="v: device (VCHR, VBLK)"),
        "v_mountedhere": locked("self.v_lock", why="v: ptr to vfs (VDIR)", exempt={
            "namei": "namei tests for a mount on the unlocked vnode before crossing "
                     "(vfs.namei's deviations: nothing sleeps while mount_domount and "
                     "dounmount hold the lock around their change)",
            "_mounted_root": "the crossing reads it unlocked, as later NetBSD's "
                             "lookup_crossmount does first (vfs.namei's deviations)"}),
        "v_interlock": stable("the mutex itself"),
        "v_lock": stable("the rwlock itself (vi_lock)"),
        "v_locktrans": unlocked("kemu's: the fstrans transaction each lock holder "
                                "entered, one entry per lwp, touched only by that lwp"),
        "v_state": locked("self.v_interlock", why="vi_state (vnode_impl.h), i: current "
                          "state", exempt={
            "vnis_marker": "NetBSD 8 tells a marker without v_interlock: a marker's state "
                           "never changes and a vnode's is never MARKER",
            "vn_lock": "kemu gap: kemu's vn_lock tests for a dead vnode without v_interlock "
                       "(NetBSD 8's genfs_lock calls vdead_check under it)",
            "ext2fs_sync": "kemu gap: ext2fs_sync walks the mount's vnodes itself and tests "
                           "the state without v_interlock (NetBSD 8's vfs_vnode_iterator "
                           "tests it under the lock)"}),
        "v_cv": stable("i: synchronization: the condvar itself"),
        "vi_lrulist": locked("self.vdrain_lock", why="vnode_impl.h, d: lru list (vdrain_lock)",
                             container=True),
        "vi_lrulisthd": locked("self.vdrain_lock", why="vnode_impl.h, d: current lru list "
                               "head (vdrain_lock)"),
        "v_key": stable("vi_key, c: vnode cache key, set when the vnode is loaded"),
        "v_uobj": unlocked(_RECLAIM.format(f="the VM object (genfs_node_destroy)")),
        "v_dirtyblkhd": locked(why="x: dirty blocklist head (v_interlock + bufcache_lock "
                               "to modify, either to inspect)", container=True),
        "v_cleanblkhd": locked(why="x: clean blocklist head", container=True),
        "v_klist": locked("self.v_interlock", why="i: notes attached to vnode"),
    }),
    Struct("struct buf", "vfs.buf", "buf", "sys/sys/buf.h (NetBSD 8)", {
        "b_error": unlocked(_OWNED.format(f="errno value")),
        "b_resid": unlocked(_OWNED.format(f="remaining I/O")),
        "b_flags": unlocked(_OWNED.format(f="B_* flags")),
        "b_prio": unlocked(_OWNED.format(f="priority for queue")),
        "b_bufsize": unlocked(_OWNED.format(f="allocated size")),
        "b_bcount": unlocked(_OWNED.format(f="valid bytes in buffer")),
        "b_dev": unlocked(_OWNED.format(f="associated device")),
        "b_data": unlocked(_OWNED.format(f="fs private data")),
        "b_blkno": unlocked(_OWNED.format(f="physical block number")),
        "b_rawblkno": unlocked(_OWNED.format(f="raw physical block number")),
        "b_proc": unlocked(_OWNED.format(f="proc if BB_PHYS")),
        "b_iodone": unlocked(_OWNED.format(f="call when done")),
        "b_private": unlocked(_OWNED.format(f="private data for owner")),
        "b_cflags": kemu_gap("bc.lock", "c: BC_* flags" + _BUFCACHE),
        "b_vp": kemu_gap("bc.lock", "c: file vnode" + _BUFCACHE),
        "b_oflags": kemu_gap("b_objlock", "o: BO_* flags: kemu's biodone, bdwrite and "
                             "bwrite change them without b_objlock, and biowait waits "
                             "under bufcache_lock instead (biodone is a plain function, and "
                             "kemu's mutex_enter may sleep)"),
        "b_lblkno": kemu_gap("bc.lock", "c: logical block number (kemu's physio uses the "
                             "master buf's for the lowest failed offset)" + _BUFCACHE),
        "b_done": kemu_gap("b_objlock", "o: waiting on completion (as b_oflags)"),
        "b_busy": kemu_gap("bc.lock", "c: threads waiting on buf" + _BUFCACHE),
        "b_objlock": stable("o: completion lock: set when the buf is set up"),
        "b_freelistindex": kemu_gap("bc.lock", "c: free list index; kemu's physio counts "
                                    "the master buf's running children in it without a "
                                    "lock (NetBSD 8: ps_running under ps_lock)"),
        "b_hash": kemu_gap("bc.lock", "c: hash chain" + _BUFCACHE),
        "b_owner": kemu_gap("bc.lock", "kemu's: the lwp that marked it busy" + _BUFCACHE),
        "b_cache": stable("kemu's: the buffer cache getblk put it in: set when the buf "
                          "is set up"),
    }),
    Struct("struct fss_cache", "dev.fss.fssvar", "fss_cache", "sys/dev/fssvar.h 1.29", {
        "fc_type": locked("sc.sc_slock", why="Current state"),
        "fc_cluster": modify_locked(
            "sc.sc_slock", "Cluster number of this entry: set with sc_slock held when a FREE "
            "slot is claimed; while the slot is BUSY or VALID nobody writes it, so the lwp "
            "filling the slot and the bs thread emptying it read it without the lock"),
        "fc_state_cv": stable("the condvar itself"),
        "fc_data": modify_locked("sc.sc_lock", "Data: allocated by fss_softc_alloc under "
                                 "sc_lock; its bytes belong to the slot's BUSY/VALID owner"),
    }),
]

# ------------------------------------------------------------------ the detector

VIRGIN, EXCLUSIVE, SHARED, SHARED_MODIFIED = 0, 1, 2, 3
STATE_NAMES = ("virgin", "exclusive", "shared", "shared-modified")

_HARNESS = os.path.dirname(os.path.abspath(__file__)) + os.sep


class _Access:
    """One remembered access of a shared field: the latest of its lwp, kind and lockset.

    The held locks are kept as subr_lockdebug's records and the site as the code
    object and line: names and paths are looked up only for a report."""

    __slots__ = ("lwp", "write", "lockset", "records", "code", "line", "seq")

    def __init__(self, l: lwp, write: bool, lockset: frozenset, records: tuple,
                 code: CodeType, line: int, seq: int) -> None:
        self.lwp = l
        self.write = write
        self.lockset = lockset
        self.records = records
        self.code = code
        self.line = line
        self.seq = seq

    @property
    def held(self) -> tuple:
        """(lock name, site taken) of each lock held."""
        return _held(self.records)

    @property
    def site(self) -> tuple[str, int, str]:
        """(file, line, function) of the access."""
        return (self.code.co_filename, self.line, self.code.co_name)


class _FieldState:
    __slots__ = ("state", "owner", "last_seq", "last", "prev", "cset", "hist")

    def __init__(self, owner: lwp, seq: int, last: tuple) -> None:
        self.state = EXCLUSIVE
        self.owner: lwp | None = owner
        self.last_seq = seq
        # the owner's latest access while exclusive: (write, code, line, held locks)
        self.last = last
        # that access once the field is shared (reports name it; Eraser does not check it)
        self.prev: _Access | None = None
        self.cset: frozenset | None = None
        self.hist: dict[tuple, _Access] = {}


class _LwpInfo:
    """What the detector knows of an lwp: who created it, and when."""

    __slots__ = ("ancestors",)

    def __init__(self, ancestors: dict[lwp, int]) -> None:
        # ancestor -> the detector's sequence number when its line forked towards us
        self.ancestors = ancestors


@dataclass
class RaceReport:
    """A race found: the message, and whether it was kept (a declared defect)."""

    struct: str
    field: str
    message: str
    kept: bool = False
    why: str = ""


_MISSING = object()


class _Watched:
    """The descriptor installed on a class for one watched field."""

    __slots__ = ("name", "struct", "prot", "orig", "has_orig", "slot", "exempt")

    def __init__(self, name: str, struct: Struct, prot: Protection, orig: Any,
                 has_orig: bool) -> None:
        self.name = name
        self.struct = struct
        self.prot = prot
        self.exempt = frozenset(fn for fn, _ in prot.exempt)
        self.orig = orig
        self.has_orig = has_orig
        # a __slots__ member: reads and writes go through the original descriptor
        self.slot = has_orig and hasattr(orig, "__set__") and hasattr(orig, "__get__")

    def _raw(self, obj: Any) -> Any:
        if self.slot:
            return self.orig.__get__(obj, type(obj))
        try:
            return obj.__dict__[self.name]
        except KeyError:
            if self.has_orig:
                return self.orig
            raise AttributeError(f"{type(obj).__name__!r} object has no attribute "
                                 f"{self.name!r}") from None

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        if obj is None:
            return self.orig if self.has_orig else self
        if self.slot:
            value = self.orig.__get__(obj, cls)
        else:
            value = obj.__dict__.get(self.name, _MISSING)
            if value is _MISSING:
                value = self._raw(obj)
        m = _machine.get()
        if m is not None:
            d = getattr(m, "race", None)
            if d is not None and d.on:
                d.access(obj, self, self.prot.container, sys._getframe(1))
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        m = _machine.get()
        if m is not None:
            d = getattr(m, "race", None)
            if d is not None and d.on:
                d.access(obj, self, True, sys._getframe(1))
        if self.slot:
            self.orig.__set__(obj, value)
        else:
            obj.__dict__[self.name] = value

    def __delete__(self, obj: Any) -> None:
        if self.slot:
            self.orig.__delete__(obj)
        else:
            del obj.__dict__[self.name]


# Classes shared by every machine get the descriptors while at least one
# detector runs (machines may run in several threads at once).
_install_lock = threading.Lock()
_installed: dict[type, int] = {}


def _install(cls: type, st: Struct) -> None:
    with _install_lock:
        n = _installed.get(cls, 0)
        _installed[cls] = n + 1
        if n:
            return
        if not cls.__weakrefoffset__:
            _installed.pop(cls)
            raise TypeError(f"{st.name}: class {cls.__qualname__} cannot be watched "
                            f"(its instances take no weak references: add __weakref__ "
                            f"to its __slots__)")
        for name, prot in st.fields.items():
            if prot.kind in (UNLOCKED, KEMU_GAP):
                continue
            has = name in cls.__dict__
            setattr(cls, name, _Watched(name, st, prot, cls.__dict__.get(name), has))


def _uninstall(cls: type) -> None:
    with _install_lock:
        n = _installed.get(cls, 0) - 1
        if n > 0:
            _installed[cls] = n
            return
        _installed.pop(cls, None)
        for name, w in list(cls.__dict__.items()):
            if isinstance(w, _Watched):
                if w.has_orig:
                    setattr(cls, name, w.orig)
                else:
                    delattr(cls, name)


def peek(obj: Any, name: str) -> Any:
    """``obj.name`` read as an observer, not as an access of the calling lwp.

    For a test that looks at kernel state from inside the machine (a k.run
    body is an lwp): with the detector on, a plain read of a field that a
    kernel thread owns is a race of that lwp; ``peek`` reads the value
    without telling the detector, with it on or off.
    """
    w = type(obj).__dict__.get(name)
    if isinstance(w, _Watched):
        return w._raw(obj)
    return getattr(obj, name)


def watched_classes() -> list[type]:
    """The classes that carry the detector's descriptors now (for tests)."""
    with _install_lock:
        return list(_installed)


class Detector:
    """The race detector of one machine (``k.race`` when booted with race=True)."""

    def __init__(self, machine: Any) -> None:
        self.m = machine
        self.on = False
        self.seq = 0
        self.busy = False  # making a report: accesses then are the detector's own
        self.kept: list[RaceReport] = []
        self.races: list[RaceReport] = []
        self._kept_seen: set[tuple] = set()
        self._objs: dict[int, tuple[Any, dict[str, _FieldState]]] = {}
        self._lwps: dict[lwp, _LwpInfo] = {}
        self._kcode: dict[CodeType, bool] = {}
        self._classes: list[type] = []
        self.accesses = 0  # checked accesses (a figure for the benchmark)

    # the machine's hooks -----------------------------------------------------

    def attach(self) -> None:
        """The machine starts: watch the shared structs' classes."""
        _register()
        for st in STRUCTS:
            if st.per_machine:
                continue
            mod = sys.modules.get(st.module)
            if mod is None:
                import importlib

                mod = importlib.import_module(st.module)
            self._watch(getattr(mod, st.cls), st)
        self.on = True

    def detach(self) -> None:
        """The machine has ended: give the classes their plain attributes back."""
        self.on = False
        for cls in self._classes:
            _uninstall(cls)
        self._classes = []
        self._objs.clear()
        self._lwps.clear()

    def _watch(self, cls: type, st: Struct) -> None:
        _install(cls, st)
        self._classes.append(cls)

    def module_loaded(self, modules: list[ModuleType]) -> None:
        """A loadable module's files were executed for this machine: watch their structs."""
        for st in STRUCTS:
            if not st.per_machine:
                continue
            for mod in modules:
                if mod.__name__.endswith("." + st.module):
                    cls = getattr(mod, st.cls, None)
                    if isinstance(cls, type) and cls not in self._classes:
                        self._watch(cls, st)

    def lwp_spawned(self, l: lwp, parent: lwp | None) -> None:
        """``parent`` creates ``l``: what the parent did so far happened before ``l``."""
        if parent is None:
            return
        self.seq += 1
        pi = self._lwps.get(parent)
        anc = dict(pi.ancestors) if pi is not None else {}
        anc[parent] = self.seq
        self._lwps[l] = _LwpInfo(anc)

    # the accesses --------------------------------------------------------------

    def _is_kernel(self, code: CodeType) -> bool:
        k = self._kcode.get(code)
        if k is None:
            k = self._kcode[code] = not code.co_filename.startswith(_HARNESS)
        return k

    def _ordered(self, before: lwp, seq: int, l: lwp) -> bool:
        """Did ``before``'s access numbered ``seq`` happen before anything ``l`` does?"""
        if before.l_stat == LSZOMB:
            return True
        li = self._lwps.get(l)
        if li is None:
            return False
        fork = li.ancestors.get(before)
        return fork is not None and seq < fork

    def access(self, obj: Any, w: _Watched, write: bool, frame: FrameType) -> None:
        if self.busy:
            return
        l = _lwp.get()
        if l is None:
            return
        code = frame.f_code
        k = self._kcode.get(code)
        if k is None:
            k = self._is_kernel(code)
        if not k or (w.exempt and code.co_name in w.exempt):
            return
        self.accesses += 1
        self.seq += 1
        oid = id(obj)
        entry = self._objs.get(oid)
        if entry is None:
            objs = self._objs
            ref = weakref.ref(obj, lambda _r, oid=oid, objs=objs: objs.pop(oid, None))
            entry = self._objs[oid] = (ref, {})
        fields = entry[1]
        fs = fields.get(w.name)
        if fs is None:  # virgin -> exclusive
            fields[w.name] = _FieldState(l, self.seq, (write, frame.f_code, frame.f_lineno,
                                                       tuple(l.l_locks)))
            return
        if fs.state == EXCLUSIVE:
            owner = fs.owner
            if owner is l or (owner is not None and self._ordered(owner, fs.last_seq, l)):
                # the owner again, or a new one: the previous owner's accesses are done
                fs.owner = l
                fs.last_seq = self.seq
                fs.last = (write, frame.f_code, frame.f_lineno, tuple(l.l_locks))
                return
            fs.state = SHARED_MODIFIED if write else SHARED
            w0, code, line, held = fs.last
            fs.prev = _Access(owner, w0, frozenset(), held, code, line, fs.last_seq)
            fs.owner = None
            fs.last = ()
        elif write and fs.state == SHARED:
            fs.state = SHARED_MODIFIED
        self._shared_access(obj, w, fs, l, write, frame)

    def _shared_access(self, obj: Any, w: _Watched, fs: _FieldState, l: lwp, write: bool,
                       frame: FrameType) -> None:
        held = tuple(l.l_locks)
        if write:
            lockset = frozenset(r[0] for r in held if not r[2])
        else:
            lockset = frozenset(r[0] for r in held)
        hist = fs.hist
        # the latest access of this lwp, kind and lockset (updated in place)
        key = (l, write, lockset)
        cur = hist.get(key)
        if cur is None:
            cur = hist[key] = _Access(l, write, lockset, held, frame.f_code, frame.f_lineno,
                                      self.seq)
        else:
            cur.records = held
            cur.code = frame.f_code
            cur.line = frame.f_lineno
            cur.seq = self.seq
        prot = w.prot
        kind = prot.kind
        if kind == STABLE:
            if write:
                other = self._other(hist, l, cur, lambda a: True, fs.prev)
                self._report(obj, w, cur, other, f"written after it was shared "
                                                 f"(declared stable: {prot.why})")
        elif kind == MODIFY_LOCKED:
            if write and not any(name == prot.locks[0] for name, _ in cur.held):
                other = self._other(hist, l, cur, lambda a: True, fs.prev)
                self._report(obj, w, cur, other,
                             f"modified without {prot.locks[0]} (declared: {prot.why})")
        else:
            fs.cset = lockset if fs.cset is None else fs.cset & lockset
            if not fs.cset and fs.state == SHARED_MODIFIED:
                other = self._other(hist, l, cur, lambda a: (a.write or write) and
                                    a.lockset.isdisjoint(lockset))
                if other is not None:
                    self._report(obj, w, cur, other, "no lock in common")

    def _other(self, hist: dict[tuple, _Access], l: lwp, cur: _Access, pred: Any,
               prev: _Access | None = None) -> _Access | None:
        """The latest access in ``hist`` by another live, unordered lwp satisfying
        ``pred`` (else ``prev``, the exclusive owner's last access, when given)."""
        found = None
        for key, a in list(hist.items()):
            if a.lwp is l:
                continue
            if self._ordered(a.lwp, a.seq, l):
                if a.lwp.l_stat == LSZOMB:
                    del hist[key]
                continue
            if pred(a) and (found is None or a.seq > found.seq):
                found = a
        if found is None and prev is not None and prev.lwp is not l and \
                not self._ordered(prev.lwp, prev.seq, l):
            found = prev
        return found

    # reports -------------------------------------------------------------------

    def _report(self, obj: Any, w: _Watched, cur: _Access, other: _Access | None,
                what: str) -> None:
        m = self.m
        if m.failure is not None:
            return
        prot = w.prot
        st = w.struct
        sname = st.name.split()[-1]
        kept_key = None
        if prot.kind == KEPT and other is not None and \
                (cur.code.co_name in prot.at or other.code.co_name in prot.at):
            # a kept race: recorded once per pair of sites, the run goes on
            kept_key = (st.name, w.name, cur.site[:2], other.site[:2])
            if kept_key in self._kept_seen:
                return
        self.busy = True
        try:
            try:
                desc = repr(obj)
            except Exception:  # noqa: BLE001 - a report must not fail on a repr
                desc = f"<{type(obj).__name__} at {id(obj):#x}>"
            lines = [f"data race on {sname}.{w.name} of {desc}: {what}",
                     _side(cur, obj, w)]
            if other is not None:
                lines.append(_side(other, obj, w))
            else:
                lines.append("  (no access by another live lwp is remembered)")
            lines.append(f"  protection ({st.source}): {prot.text()}")
            msg = "\n".join(lines)
        finally:
            self.busy = False
        from kern.subr_prf import printf

        if kept_key is not None:
            self._kept_seen.add(kept_key)
            report = f"{msg}\n  kept on purpose: {prot.why}"
            self.kept.append(RaceReport(sname, w.name, report, True, prot.why))
            printf("%s\n", report)
            return
        self.races.append(RaceReport(sname, w.name, msg))
        exc = DataRace(msg)
        printf("%s\n", msg)
        m.record_crash(exc)
        raise exc

    # introspection -------------------------------------------------------------

    def state_of(self, obj: Any, name: str) -> str:
        """Eraser's state of ``obj.name`` now ("virgin", "exclusive", ...)."""
        entry = self._objs.get(id(obj))
        fs = entry[1].get(name) if entry is not None else None
        return STATE_NAMES[fs.state] if fs is not None else STATE_NAMES[VIRGIN]


def _held(records: tuple) -> tuple:
    """(lock name, site taken) of each held-lock record."""
    return tuple((lock_name(r[0]), site_of(r[1])) for r in records)


def _side(a: _Access, obj: Any, w: _Watched) -> str:
    l = a.lwp
    what = "write" if a.write else "read"
    site = f"{short_path(a.site[0])}:{a.site[1]} in {a.site[2]}"
    if a.held:
        locks = ", ".join(f'"{name}" ({_taken(s)})' for name, s in a.held)
        holding = f"holding {locks}"
    else:
        holding = "holding no lock"
    return (f'  {what} by lwp "{l.l_name}" (pid {l.l_proc.p_pid}, lid {l.l_lid}) '
            f"at {site}, {holding}")


def _taken(site: Any) -> str:
    """Where a held lock was taken (a lock record may carry no site: lockdebug off)."""
    if site is None:
        return "taken at a site not recorded: lockdebug off"
    return f"taken at {short_path(site[0])}:{site[1]} in {site[2]}"


def struct_named(name: str) -> Struct:
    """The table entry of ``struct name`` (``"fss_softc"`` or ``"struct fss_softc"``)."""
    for st in STRUCTS:
        if st.name == name or st.name == f"struct {name}":
            return st
    raise KeyError(name)


def _module_loaded(machine: Any, modules: list[ModuleType]) -> None:
    d = getattr(machine, "race", None)
    if d is not None and d.on:
        d.module_loaded(modules)


def _register() -> None:
    from kern.kern_module import kobj_load_observers

    if _module_loaded not in kobj_load_observers:
        kobj_load_observers.append(_module_loaded)

