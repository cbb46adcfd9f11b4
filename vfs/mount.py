"""Mounts (sys/mount.h, sys/statvfs.h, kern/vfs_mount.c, vfs_init.c, vfs_hooks.c 1.6).

A file system registers its ``vfsops`` with ``vfs_attach`` (usually from its
module's MODULE_CMD_INIT); mount(2) finds it by name (``vfs_getopsbyname``,
autoloading the module of that name as NetBSD does).  Here are struct mount
and struct vfsops, the VFS_* calls, the mount list with its iterator,
vfs_busy and the vfs_hooks;
mount(2), unmount(2) (``dounmount``) and sync(2) are in vfs.vfs_mount.

The vfs_hooks are vfs_hooks.c's: ``vfs_hooks_attach``/``vfs_hooks_detach``
and the walk of ``vfs_hooks_unmount`` all take ``vfs_hooks_lock``, the walk
holding it across the hooks.  So a driver that attaches its hook under its own
lock and takes that lock in its hook has a lock-order reversal (fss.c 1.104's
B7, which fss.py keeps and declares).  ``vfs_hooks_reexport`` is called by
mount(2)'s update (kemu has no NFS, so no hook answers it).

vfs_hooks.c is ported from revision 1.6; the mount list, its iterator
(mountlist_iterator_init/next/trynext/destroy, mountlist_append/remove)
and vfs_busy/vfs_trybusy/vfs_unbusy/vfs_ref/vfs_rele from vfs_mount.c 1.93;
the rest follows NetBSD 8's sys/mount.h and vfs_mount.c/vfs_init.c
semantics (see vfs.vfs_mount for the revisions of vfs_mount.c it was
compared with).  Notices in
LICENSE.NetBSD.

Deviations:

* ``vfs_getopsbyname`` autoloads the module of the name (NetBSD does that
  in mount_get_vfsops); ``vfs_attach`` does not run vfs_opv_init (the
  operation vectors are built by vfs.vnode_if).
* ``vfs_busy``/``vfs_trybusy``/``vfs_unbusy`` are vfs_mount.c 1.93's: a
  busy mount is a transaction on it (fstrans_start, or
  fstrans_start_nowait for vfs_trybusy: EBUSY) and a reference; a gone
  mount is ENOENT.  dounmount suspends the file system first
  (vfs.vfs_mount), so it waits for the busy holders, and a thread busying
  a mount being unmounted waits until the unmount is over and gets ENOENT
  (or goes on, if the unmount failed): a busy holder delays an unmount,
  as in 1.93, whose dounmount also suspends first and has no
  ``mnt_busynest`` (tests/vfs/test_mountlist.py pins it).  The mirror
  holds vfs_mount.c 1.37 (2015) and 1.93 (2022) only; NetBSD 8's, between
  them, is not stored.  1.37 counts ``mnt_busynest`` under the
  ``mnt_unmounting`` mutex and sleeps on that mutex; with kemu's
  suspending dounmount, which holds mnt_unmounting across vfs_suspend,
  that vfs_busy would deadlock against a suspension waiting for the
  caller's own vnode lock (ext2fs_lookup -> VFS_VGET -> vcache_get).
  ``vfs_ref``/``vfs_rele`` count only: nothing is freed at zero.
* The mount list is NetBSD's list of ``mountlist_entry`` (mounts and the
  iterators' markers) as a per-machine Python list, without
  mountlist_lock (an emulated CPU switches lwps only at sleeps and lock
  operations, and no code here sleeps while it changes the list); the
  mountlist iterator is 1.93's.  ``mountlist()`` is a snapshot of the
  mounts for code that only reads them (statistics, the halt's messages).
* ``vfs_getnewfsid`` builds the id from a per-machine counter and a byte
  sum of the type name (NetBSD: makedev(nblkdev + type, mntid) and
  makefstype()).
* ``set_statvfs_info`` takes kernel strings and cuts them to the fields
  (NetBSD copies them in, from user space when asked, and resolves the
  mount point relative to the caller's root).
* vfs_hooks functions may be ``async def``.
* ``vfs_busy``'s and ``vfs_unbusy``'s KASSERTs test their condition inline
  and call KASSERT (the same panic and message) only when it fails.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal
from kern.errno import EBUSY, ENOENT, EOPNOTSUPP, ESRCH
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.subr_fault import fault_inject, fault_site
from kern.subr_prf import KASSERT
from vfs.statvfs import _VFS_MNAMELEN, _VFS_NAMELEN, fsid_t, statvfs  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from vfs.vnode import vattr, vnode

# mnt_flag (sys/fstypes.h)
MNT_RDONLY = 0x00000001
MNT_SYNCHRONOUS = 0x00000002
MNT_NOEXEC = 0x00000004
MNT_NOSUID = 0x00000008
MNT_NODEV = 0x00000010
MNT_UNION = 0x00000020
MNT_ASYNC = 0x00000040
MNT_NOCOREDUMP = 0x00008000
MNT_RELATIME = 0x00020000
MNT_IGNORE = 0x00100000
MNT_DISCARD = 0x00800000
MNT_EXTATTR = 0x01000000
MNT_LOG = 0x02000000
MNT_NOATIME = 0x04000000
MNT_AUTOMOUNTED = 0x10000000
MNT_SYMPERM = 0x20000000
MNT_NODEVMTIME = 0x40000000
MNT_SOFTDEP = 0x80000000
MNT_EXRDONLY = 0x00000080
MNT_EXPORTED = 0x00000100
MNT_LOCAL = 0x00001000
MNT_QUOTA = 0x00002000
MNT_ROOTFS = 0x00004000
MNT_UPDATE = 0x00010000
MNT_RELOAD = 0x00040000
MNT_FORCE = 0x00080000
MNT_GETARGS = 0x00400000
MNT_VISFLAGMASK = 0xfd3fffff
MNT_OP_FLAGS = MNT_UPDATE | MNT_RELOAD | MNT_FORCE | MNT_GETARGS
# the flags mount(2) sets and an update may change (sys/fstypes.h, NetBSD 8)
MNT_BASIC_FLAGS = (MNT_ASYNC | MNT_AUTOMOUNTED | MNT_DISCARD | MNT_EXTATTR | MNT_LOG |
                   MNT_NOATIME | MNT_NOCOREDUMP | MNT_NODEV | MNT_NODEVMTIME | MNT_NOEXEC |
                   MNT_NOSUID | MNT_RDONLY | MNT_RELATIME | MNT_SOFTDEP | MNT_SYMPERM |
                   MNT_SYNCHRONOUS | MNT_UNION)

# VFS_EXTATTRCTL commands (sys/extattr.h)
EXTATTR_CMD_START = 0x00000001
EXTATTR_CMD_STOP = 0x00000002

# mnt_iflag
IMNT_GONE = 0x00000001
IMNT_UNMOUNT = 0x00000002
IMNT_WANTRDWR = 0x00000004
IMNT_WANTRDONLY = 0x00000008
IMNT_DTYPE = 0x00000040
IMNT_HAS_TRANS = 0x00000080
IMNT_MPSAFE = 0x00000100
IMNT_CAN_RWTORO = 0x00000200
IMNT_ONWORKLIST = 0x00000400

# VFS_SYNC waitfor
MNT_WAIT = 1
MNT_NOWAIT = 2
MNT_LAZY = 3

# VFS_SUSPENDCTL
SUSPEND_SUSPEND = 0x0001
SUSPEND_RESUME = 0x0002

MNAMELEN = 90  # the old statfs length, used by fss for sc_mntname
MFSNAMELEN = 16
VFS_MAXTYPENUM = 1
MOUNT_FFS = "ffs"
MOUNT_EXT2FS = "ext2fs"
MOUNT_PUFFS = "puffs"


# statvfs f_flag bits beyond the MNT_ ones
ST_RDONLY = MNT_RDONLY
ST_NOSUID = MNT_NOSUID
ST_WAIT = MNT_WAIT
ST_NOWAIT = MNT_NOWAIT


async def _eopnotsupp(*a: Any) -> Any:
    return EOPNOTSUPP


def _nullop(*a: Any) -> None:
    return None


class vfsops:
    """struct vfsops: a file system's VFS operations (async where they may sleep)."""

    def __init__(self, vfs_name: str, *, vfs_min_mount_data: int = 0,
                 vfs_mount: Any = None, vfs_start: Any = None, vfs_unmount: Any = None,
                 vfs_root: Any = None, vfs_quotactl: Any = None, vfs_statvfs: Any = None,
                 vfs_sync: Any = None, vfs_vget: Any = None, vfs_loadvnode: Any = None,
                 vfs_newvnode: Any = None, vfs_fhtovp: Any = None, vfs_vptofh: Any = None,
                 vfs_init: Any = None, vfs_reinit: Any = None, vfs_done: Any = None,
                 vfs_mountroot: Any = None, vfs_snapshot: Any = None,
                 vfs_extattrctl: Any = None, vfs_suspendctl: Any = None,
                 vfs_renamelock_enter: Any = None, vfs_renamelock_exit: Any = None,
                 vfs_fsync: Any = None, vfs_opv_descs: Any = ()) -> None:
        self.vfs_name = vfs_name
        self.vfs_min_mount_data = vfs_min_mount_data
        self.vfs_mount = vfs_mount or _eopnotsupp
        self.vfs_start = vfs_start or _vfs_start_default
        self.vfs_unmount = vfs_unmount or _eopnotsupp
        self.vfs_root = vfs_root or _eopnotsupp2
        self.vfs_quotactl = vfs_quotactl or _eopnotsupp
        self.vfs_statvfs = vfs_statvfs or _eopnotsupp
        self.vfs_sync = vfs_sync or _vfs_sync_default
        self.vfs_vget = vfs_vget or _eopnotsupp2
        self.vfs_loadvnode = vfs_loadvnode or _eopnotsupp2
        self.vfs_newvnode = vfs_newvnode or _eopnotsupp2
        self.vfs_fhtovp = vfs_fhtovp or _eopnotsupp2
        self.vfs_vptofh = vfs_vptofh or _eopnotsupp2
        self.vfs_init = vfs_init or _nullop
        self.vfs_reinit = vfs_reinit or _nullop
        self.vfs_done = vfs_done or _nullop
        self.vfs_mountroot = vfs_mountroot or _eopnotsupp
        self.vfs_snapshot = vfs_snapshot or _eopnotsupp2
        self.vfs_extattrctl = vfs_extattrctl or _eopnotsupp
        self.vfs_suspendctl = vfs_suspendctl or _eopnotsupp
        self.vfs_renamelock_enter = vfs_renamelock_enter or genfs_renamelock_enter
        self.vfs_renamelock_exit = vfs_renamelock_exit or genfs_renamelock_exit
        self.vfs_fsync = vfs_fsync or _eopnotsupp
        self.vfs_opv_descs = tuple(vfs_opv_descs)
        self.vfs_refcount = 0

    def __repr__(self) -> str:
        return f"<vfsops {self.vfs_name}>"


async def _eopnotsupp2(*a: Any) -> tuple[int, None]:
    return EOPNOTSUPP, None


async def _vfs_start_default(mp: mount, flags: int) -> int:
    return 0


async def _vfs_sync_default(mp: mount, waitfor: int, cred: Any) -> int:
    return 0


async def genfs_renamelock_enter(mp: mount) -> None:
    await mutex_enter(mp.mnt_renamelock)


def genfs_renamelock_exit(mp: mount) -> None:
    mutex_exit(mp.mnt_renamelock)


class mount:
    """struct mount."""

    _c_sizeof = 2048

    def __init__(self, vfsp: vfsops) -> None:
        self.mnt_op = vfsp
        self.mnt_vnodecovered: vnode | None = None
        self.mnt_vnodelist: list[vnode] = []
        self.mnt_flag = 0
        self.mnt_iflag = 0
        self.mnt_fs_bshift = 9
        self.mnt_dev_bshift = 9
        self.mnt_stat = statvfs()
        self.mnt_data: Any = None
        self.mnt_refcnt = 1
        self.mnt_transinfo: Any = None
        self.mnt_renamelock = kmutex_t()
        mutex_init(self.mnt_renamelock, MUTEX_DEFAULT, IPL_NONE)
        self.mnt_updating = kmutex_t()
        mutex_init(self.mnt_updating, MUTEX_DEFAULT, IPL_NONE)
        # one dounmount at a time (vfs.vfs_mount); a mutex, as 1.37's
        self.mnt_unmounting = kmutex_t()
        mutex_init(self.mnt_unmounting, MUTEX_DEFAULT, IPL_NONE)
        self.mnt_specific: dict[Any, Any] = {}
        self.mnt_lower: mount | None = None

    def __repr__(self) -> str:
        return (f"<mount {self.mnt_op.vfs_name} on "
                f"{self.mnt_stat.f_mntonname.decode(errors='replace')!r}>")


# ------------------------------------------------------------ VFS_* calls

async def VFS_MOUNT(mp: mount, path: str, data: Any, data_len: int) -> tuple[int, int]:
    """-> (error, data_len): the file system may change data_len (MNT_GETARGS)."""
    r = await mp.mnt_op.vfs_mount(mp, path, data, data_len)
    return r if isinstance(r, tuple) else (r, data_len)


async def VFS_START(mp: mount, flags: int) -> int:
    return await mp.mnt_op.vfs_start(mp, flags)


async def VFS_UNMOUNT(mp: mount, mntflags: int) -> int:
    return await mp.mnt_op.vfs_unmount(mp, mntflags)


async def VFS_ROOT(mp: mount, lktype: int = 0) -> tuple[int, vnode | None]:
    """-> (error, vp): the root vnode, referenced, locked as ``lktype`` says."""
    return await mp.mnt_op.vfs_root(mp, lktype)


async def VFS_QUOTACTL(mp: mount, args: Any) -> int:
    return await mp.mnt_op.vfs_quotactl(mp, args)


async def VFS_STATVFS(mp: mount, sbp: statvfs) -> int:
    return await mp.mnt_op.vfs_statvfs(mp, sbp)


fault_site("VFS_SYNC", "VFS_SYNC fails with the errno before the file system syncs")


async def VFS_SYNC(mp: mount, waitfor: int, cred: Any) -> int:
    error = fault_inject("VFS_SYNC")
    if error:
        return error
    return await mp.mnt_op.vfs_sync(mp, waitfor, cred)


async def VFS_VGET(mp: mount, ino: int, lktype: int) -> tuple[int, vnode | None]:
    return await mp.mnt_op.vfs_vget(mp, ino, lktype)


async def VFS_LOADVNODE(mp: mount, vp: vnode, key: Any) -> tuple[int, Any]:
    """-> (error, newkey): fill ``vp`` (v_data, v_op, v_type, v_size) for ``key``."""
    return await mp.mnt_op.vfs_loadvnode(mp, vp, key)


async def VFS_NEWVNODE(mp: mount, dvp: vnode | None, vp: vnode, vap: vattr, cred: Any,
                       extra: Any) -> tuple[int, Any]:
    """-> (error, key): allocate a new file on disk for ``vp``."""
    return await mp.mnt_op.vfs_newvnode(mp, dvp, vp, vap, cred, extra)


async def VFS_FHTOVP(mp: mount, fhp: Any, lktype: int) -> tuple[int, vnode | None]:
    return await mp.mnt_op.vfs_fhtovp(mp, fhp, lktype)


async def VFS_VPTOFH(vp: vnode, fhp: Any, fh_size: int) -> tuple[int, int]:
    """-> (error, fh_size)."""
    return await vp.v_mount.mnt_op.vfs_vptofh(vp, fhp, fh_size)  # type: ignore[union-attr]


async def VFS_SNAPSHOT(mp: mount, vp: vnode) -> tuple[int, Any]:
    """-> (error, timespec of the snapshot)."""
    return await mp.mnt_op.vfs_snapshot(mp, vp)


async def VFS_SUSPENDCTL(mp: mount, cmd: int) -> int:
    return await mp.mnt_op.vfs_suspendctl(mp, cmd)


async def VFS_EXTATTRCTL(mp: mount, cmd: int, vp: Any, attrnamespace: int,
                         attrname: Any) -> int:
    return await mp.mnt_op.vfs_extattrctl(mp, cmd, vp, attrnamespace, attrname)


async def VFS_RENAMELOCK_ENTER(mp: mount) -> None:
    await mp.mnt_op.vfs_renamelock_enter(mp)


def VFS_RENAMELOCK_EXIT(mp: mount) -> None:
    mp.mnt_op.vfs_renamelock_exit(mp)


# ------------------------------------------------------------ registry

class _VfsGlobals:
    def __init__(self) -> None:
        self.vfs_list: list[vfsops] = []
        # vfs_mount.c's mountlist: mounts and iterator markers, mount order
        self.mountlist_head: list[mountlist_entry] = []
        self.rootfs: mount | None = None
        self.rootvnode: vnode | None = None
        self.nextfsid = 0
        # vfs_hooks.c: vfs_hooks_head and vfs_hooks_lock (vfs_hooks_init)
        self.vfs_hooks_head: list[Any] = []
        vfs_hooks_lock = self.vfs_hooks_lock = kmutex_t()
        mutex_init(vfs_hooks_lock, MUTEX_DEFAULT, IPL_NONE)


    @property
    def mountlist(self) -> list[mount]:
        """The mounts, in mount order (no markers): a snapshot."""
        return [me.me_mount for me in self.mountlist_head if me.me_type == ME_MOUNT]


vfsglobals = MachineLocal(_VfsGlobals, "vfs globals")


def vfs_getopsbyname_nolock(name: str) -> vfsops | None:
    for v in vfsglobals().vfs_list:
        if v.vfs_name == name:
            return v
    return None


async def vfs_getopsbyname(name: str) -> vfsops | None:
    """The vfsops called ``name``; autoloads the module of that name first if needed."""
    v = vfs_getopsbyname_nolock(name)
    if v is None:
        try:
            from kern.kern_module import MODULE_CLASS_VFS, module_autoload
        except ImportError:  # pragma: no cover - module framework always present
            return None
        await module_autoload(name, MODULE_CLASS_VFS)
        v = vfs_getopsbyname_nolock(name)
    if v is not None:
        v.vfs_refcount += 1
    return v


def vfs_delref(v: vfsops) -> None:
    v.vfs_refcount -= 1


def vfs_attach(vfs: vfsops) -> int:
    """Register a file system type (EEXIST if one of that name is there)."""
    from kern.errno import EEXIST

    g = vfsglobals()
    if vfs_getopsbyname_nolock(vfs.vfs_name) is not None:
        return EEXIST
    vfs.vfs_refcount = 0
    g.vfs_list.append(vfs)
    vfs.vfs_init()
    return 0


def vfs_detach(vfs: vfsops) -> int:
    """Unregister; EBUSY while mounted, ESRCH if not registered."""
    g = vfsglobals()
    if vfs.vfs_refcount > 0:
        return EBUSY
    if vfs not in g.vfs_list:
        return ESRCH
    g.vfs_list.remove(vfs)
    vfs.vfs_done()
    return 0


def vfs_getnewfsid(mp: mount) -> None:
    """Give ``mp`` a machine-unique file system id (f_fsidx / f_fsid)."""
    g = vfsglobals()
    g.nextfsid += 1
    mtype = sum(mp.mnt_op.vfs_name.encode()) & 0xff
    mp.mnt_stat.f_fsidx.__fsid_val[0] = (g.nextfsid << 8) | mtype
    mp.mnt_stat.f_fsidx.__fsid_val[1] = mtype
    mp.mnt_stat.f_fsid = mp.mnt_stat.f_fsidx.__fsid_val[0]


def vfs_getvfs(fsid: fsid_t) -> mount | None:
    """The mounted file system whose identifier is ``fsid``, or None.

    1.93 walks the list with the iterator, busying each mount; a plain
    ``def`` cannot wait for a busy, so this reads the list as 1.37 does
    (under mountlist_lock there, atomically here) and, as both say, takes no
    reference on what it returns."""
    for mp in vfsglobals().mountlist:
        if mp.mnt_stat.f_fsidx.__fsid_val[0] == fsid.__fsid_val[0] and \
                mp.mnt_stat.f_fsidx.__fsid_val[1] == fsid.__fsid_val[1]:
            return mp
    return None


def _setname(field: str, value: str | bytes, mp: mount) -> None:
    # The names are bytes, as in NetBSD; a kernel path str holds its bytes
    # (undecodable ones as surrogates, vfs.namei's decoding), so they go back.
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
    size = dict((n, ctypes.sizeof(t)) for n, t in statvfs._fields_)[field]
    setattr(mp.mnt_stat, field, raw[:size - 1])


def set_statvfs_info(onp: str | bytes, fromp: str | bytes, fstypename: str | bytes,
                     mp: mount) -> int:
    """Fill the names in ``mp.mnt_stat`` (paths already in the kernel here): the
    bytes of each, cut to the field's size less its NUL."""
    _setname("f_mntonname", onp, mp)
    _setname("f_mntfromname", fromp, mp)
    _setname("f_fstypename", fstypename, mp)
    return 0


def copy_statvfs_info(sbp: statvfs, mp: mount) -> None:
    """Copy the parts of mnt_stat the file system does not fill itself into ``sbp``."""
    ms = mp.mnt_stat
    if sbp is ms:
        return
    sbp.f_fsidx = ms.f_fsidx
    sbp.f_fsid = ms.f_fsid
    sbp.f_owner = ms.f_owner
    sbp.f_flag = mp.mnt_flag & MNT_VISFLAGMASK
    sbp.f_syncwrites = ms.f_syncwrites
    sbp.f_asyncwrites = ms.f_asyncwrites
    sbp.f_syncreads = ms.f_syncreads
    sbp.f_asyncreads = ms.f_asyncreads
    sbp.f_namemax = ms.f_namemax
    sbp.f_fstypename = ms.f_fstypename
    sbp.f_mntonname = ms.f_mntonname
    sbp.f_mntfromname = ms.f_mntfromname


# ------------------------------------------------------------ the mount list

ME_MOUNT = 0
ME_MARKER = 1


class mountlist_entry:
    """An entry of the mount list: a mount, or an iterator's marker (whose
    ``me_mount`` is the mount it has busy, or None)."""

    __slots__ = ("me_mount", "me_type")

    def __init__(self, type_: int, mp: mount | None) -> None:
        self.me_mount = mp
        self.me_type = type_


class mount_iterator(mountlist_entry):
    """mount_iterator_t: its own entry is the marker."""

    __slots__ = ()


def mountlist_append(mp: mount) -> None:
    """Attach a new mount to the end of the mount list."""
    vfsglobals().mountlist_head.append(mountlist_entry(ME_MOUNT, mp))


def mountlist_remove(mp: mount) -> None:
    """Remove a mount from the mount list (it must be there)."""
    head = vfsglobals().mountlist_head
    for i, me in enumerate(head):
        if me.me_type == ME_MOUNT and me.me_mount is mp:
            del head[i]
            return
    KASSERT(False)


def mountlist() -> list[mount]:
    """kemu: the mounts, in mount order, for code that only reads them (no busy)."""
    return vfsglobals().mountlist


def mountlist_iterator_init() -> mount_iterator:
    """An iterator positioned before the first mount (its marker at the head)."""
    mi = mount_iterator(ME_MARKER, None)
    vfsglobals().mountlist_head.insert(0, mi)
    return mi


def mountlist_iterator_destroy(mi: mount_iterator) -> None:
    """Unbusy the mount the iterator is at, if any, and take its marker out."""
    if mi.me_mount is not None:
        vfs_unbusy(mi.me_mount)
    head = vfsglobals().mountlist_head
    del head[_index(head, mi)]


def _mountlist_iterator_step(mi: mount_iterator) -> mount | None:
    """One step of _mountlist_iterator_next: unbusy the current mount, move the
    marker past the next entries up to a mount and return that mount with a
    reference taken (vfs_ref) for the busy that follows; None at the end (the
    marker stays there)."""
    if mi.me_mount is not None:
        vfs_unbusy(mi.me_mount)
        mi.me_mount = None
    head = vfsglobals().mountlist_head
    while True:
        KASSERT(mi.me_type == ME_MARKER)
        i = _index(head, mi)
        if i + 1 == len(head):
            # End of list: keep marker and return.
            return None
        me = head[i + 1]
        head[i], head[i + 1] = me, mi  # TAILQ_REMOVE + TAILQ_INSERT_AFTER(me)
        # Skip other markers.
        if me.me_type != ME_MOUNT:
            continue
        mp = me.me_mount
        KASSERT(mp is not None)
        assert mp is not None
        vfs_ref(mp)
        return mp


def _index(head: list[mountlist_entry], me: mountlist_entry) -> int:
    for i, e in enumerate(head):
        if e is me:
            return i
    KASSERT(False)
    return -1


async def mountlist_iterator_next(mi: mount_iterator) -> mount | None:
    """The next mount, busy (vfs_busy, which may wait for an unmount of it); None
    at the end.  The busy is dropped at the next call or at destroy."""
    while (mp := _mountlist_iterator_step(mi)) is not None:
        error = await vfs_busy(mp)
        vfs_rele(mp)
        if error == 0:
            mi.me_mount = mp
            return mp
    return None


def mountlist_iterator_trynext(mi: mount_iterator) -> mount | None:
    """mountlist_iterator_next with vfs_trybusy: a mount being suspended or
    unmounted is skipped instead of waited for."""
    while (mp := _mountlist_iterator_step(mi)) is not None:
        error = vfs_trybusy(mp)
        vfs_rele(mp)
        if error == 0:
            mi.me_mount = mp
            return mp
    return None


# ------------------------------------------------------------ busy and references

async def vfs_busy(mp: mount) -> int:
    """Mark a mount busy (a transaction on it) and take a reference: 0, or
    ENOENT if it is gone.  Waits while the mount is suspended (an unmount
    suspends it first).  Every success is undone by vfs_unbusy."""
    if mp.mnt_refcnt <= 0:  # (the KASSERT's call only when it fails)
        KASSERT(mp.mnt_refcnt > 0)
    await _vfs_trans.fstrans_start(mp)
    if mp.mnt_iflag & IMNT_GONE:
        _vfs_trans.fstrans_done(mp)
        return ENOENT
    vfs_ref(mp)
    return 0


def vfs_trybusy(mp: mount) -> int:
    """vfs_busy without the wait: EBUSY while the mount is suspended."""
    KASSERT(mp.mnt_refcnt > 0)
    if _vfs_trans.fstrans_start_nowait(mp):
        return EBUSY
    if mp.mnt_iflag & IMNT_GONE:
        _vfs_trans.fstrans_done(mp)
        return ENOENT
    vfs_ref(mp)
    return 0


def vfs_unbusy(mp: mount) -> None:
    """Undo a successful vfs_busy/vfs_trybusy."""
    if mp.mnt_refcnt <= 0:  # (the KASSERT's call only when it fails)
        KASSERT(mp.mnt_refcnt > 0)
    _vfs_trans.fstrans_done(mp)
    vfs_rele(mp)


def vfs_ref(mp: mount) -> None:
    mp.mnt_refcnt += 1


def vfs_rele(mp: mount) -> None:
    mp.mnt_refcnt -= 1


def vfs_mountalloc(vfsops_: vfsops, vp: vnode | None) -> mount:
    mp = mount(vfsops_)
    mp.mnt_vnodecovered = vp
    return mp


# ------------------------------------------------------------ vfs_hooks

class vfs_hooks:
    """struct vfs_hooks.  Members may name functions defined later in the file."""

    from kern.conf import fwdfield as _fwdfield

    vh_unmount = _fwdfield()
    vh_reexport = _fwdfield()
    del _fwdfield

    def __init__(self, vh_unmount: Any = None, vh_reexport: Any = None) -> None:
        from kern.conf import fwd_init

        fwd_init(self, {"vh_unmount": vh_unmount, "vh_reexport": vh_reexport}, 1)


async def vfs_hooks_attach(vfs_hook: vfs_hooks) -> int:
    """Add a hook (at the head of the list, as LIST_INSERT_HEAD), under vfs_hooks_lock."""
    g = vfsglobals()
    await mutex_enter(g.vfs_hooks_lock)
    g.vfs_hooks_head.insert(0, vfs_hook)
    mutex_exit(g.vfs_hooks_lock)
    return 0


async def vfs_hooks_detach(vfs_hook: vfs_hooks) -> int:
    """Remove a hook, under vfs_hooks_lock; ESRCH if it is not in the list."""
    g = vfsglobals()
    ret = 0
    await mutex_enter(g.vfs_hooks_lock)
    for i, hp in enumerate(g.vfs_hooks_head):
        if hp is vfs_hook:
            del g.vfs_hooks_head[i]
            break
    else:
        ret = ESRCH
    mutex_exit(g.vfs_hooks_lock)
    return ret


async def vfs_hooks_unmount(mp: mount) -> None:
    """Call every vh_unmount(mp), holding vfs_hooks_lock across the calls
    (VFS_HOOKS_WO_ERROR: every hook runs)."""
    g = vfsglobals()
    await mutex_enter(g.vfs_hooks_lock)
    for hp in g.vfs_hooks_head:
        if hp.vh_unmount is not None:
            r = hp.vh_unmount(mp)
            if hasattr(r, "__await__"):
                await r
    mutex_exit(g.vfs_hooks_lock)


async def vfs_hooks_reexport(mp: mount, path: str, data: Any) -> int:
    """Call every vh_reexport(mp, path, data) under vfs_hooks_lock, stopping at the
    first error (VFS_HOOKS_W_ERROR); EJUSTRETURN when no hook took it."""
    from kern.errno import EJUSTRETURN

    g = vfsglobals()
    error = EJUSTRETURN
    await mutex_enter(g.vfs_hooks_lock)
    for hp in g.vfs_hooks_head:
        if hp.vh_reexport is not None:
            r = hp.vh_reexport(mp, path, data)
            error = await r if hasattr(r, "__await__") else r
            if error != 0:
                break
    mutex_exit(g.vfs_hooks_lock)
    return error


# vfs.vfs_trans imports this module's names, so it is imported here, at the
# end, as a module (bound even while it is itself being imported): vfs_busy
# and vfs_unbusy (~50 pairs a sweep seed) no longer import it at every call.
from vfs import vfs_trans as _vfs_trans  # noqa: E402
