"""mount(2), unmount(2), sync(2) and the shutdown's unmounts (kern/vfs_mount.c,
vfs_syscalls.c; NetBSD 8).

``do_sys_mount`` copies the arguments in (type name, mount point, the file
system's argument block of ``data_len`` bytes), finds the file system type
(autoloading its module), and ``mount_domount`` runs VFS_MOUNT, covers the
mount point, calls VFS_STATVFS (its error ignored: puffs answers EINPROGRESS
while its server has not started) and VFS_START.

The mount point is covered (mountlist_append, ``v_mountedhere``) under its
lock, as vfs_mount.c's LOCKLEAF re-lookup holds it, and is checked again
there: a mount that lost the race to another one on the same directory
while VFS_MOUNT slept is taken down again (err_mounted: vfs_suspend, a
forced VFS_UNMOUNT, vfs_resume) and fails with EBUSY.  kemu does not look
the path up again (vp is the vnode it holds, so no EINVAL for a vnode that
changed), and checks VDIR and an existing mount once before VFS_MOUNT too.

``mount_update`` (MNT_UPDATE) is NetBSD 8's: it refuses a reload or a
read-write to read-only change of a file system without IMNT_CAN_RWTORO
(EOPNOTSUPP), sets the mount's flags from the request under
``mnt_updating`` and vfs_busy, calls VFS_MOUNT (then the re-export hooks if
it failed), and puts the saved flags back when the update failed; MNT_EXTATTR
changes start or stop extended attributes.  kemu has no syncer worklist.

``dounmount`` follows NetBSD 8's order: vfs_suspend, IMNT_UNMOUNT,
``mnt_updating``, VFS_SYNC (unless read-only or forced), VFS_UNMOUNT (which
vflushes; on failure the mount is resumed and stays), IMNT_GONE, vfs_resume,
uncover the mount point, mountlist_remove, the vfs_hooks unmount callbacks
(with the hooks lock held), fstrans_unmount.  As 1.37's, the whole unmount
runs holding the ``mnt_unmounting`` mutex and a mount already gone is
ENOENT: a second unmount of the same mount (a puffs server's close beside
the halt's unmount) waits for the first and then finds it gone.  kemu: a
file system without VFS_SUSPENDCTL (vfs_suspend gives EOPNOTSUPP; rootfs
has none) is unmounted unsuspended.

Busy mounts.  sync(2) (vfs_syscalls' ``do_sys_sync``) and getvfsstat(2)
walk the mount list with the mountlist iterator, which busies each mount
(vfs.mount: vfs_busy is 1.93's, a transaction on the mount); namei busies a
mount it crosses into across VFS_ROOT, vcache_get/vcache_new while they
make a vnode.  The suspension at the start of dounmount waits for those
transactions, so no sync writes to a file system after its unmount closed
the device and no lookup loads a vnode into a mount being torn down
(tests/fs/vfs/test_mount_races.py); a busy attempted during the unmount
waits for it and fails with ENOENT.  1.37 instead refuses the unmount with
EBUSY while ``mnt_busynest`` is not zero: kemu has no mnt_busynest (see
vfs.mount for why its vfs_busy is 1.93's), so a busy holder delays an
unmount instead of failing it, as in 1.93.

The halt (kern/machdep.py's ``cpu_reboot``) calls ``vfs_sync_all`` once, then
``vfs_unmountall1(l, false, false)`` and ``vfs_unmount_forceone`` until
nothing moves, then kemu's ``vfs_mounts_left`` to name what is still
mounted; this module hands them to kern.machdep at import.  Read at
vfs_mount.c 1.37 and 1.93, which agree on what is ported here.  Deviations:

* kemu's mount list is in mount order, so the newest mount (the highest
  ``mnt_gen``) is the last one, and a mount's reference count frees
  nothing at zero (vfs.mount), so ``vfs_unmountall1`` takes and drops no
  reference around dounmount.
* The root file system stays mounted: it is memory (rootfs), nothing of it
  reaches a host file except rump's etfs files, which are written through,
  and every process's current directory and /dev's device nodes are on it.
* ``vfs_unmountall1``/``vfs_unmount_forceone`` walk a snapshot of the
  list (``_unmountable``, newest first) without busying the mounts, as
  1.37 walks it: 1.93's vfs_unmount_next busies each mount with the
  iterator only to pick the next by mnt_gen, which the mount order gives.
* ``vfs_sync_all`` does not ``suspendsched()``: a puffs file server is a
  user process of the machine and must keep answering while its file
  system is synced and unmounted; ``cpu_reboot`` (kern/machdep.py) calls
  it after the unmount loop.  Until then an lwp still running meets the
  suspension that dounmount puts on its file system, then the forced
  unmount's revoked vnodes.  No ``buf_syncwait`` after ``do_sys_sync``: kemu's
  disk drivers (rumpblk, md) complete each transfer inside their strategy
  routine, so the writes the sync started are done when it returns, and a
  write another lwp has in flight is waited for by the unmount loop that
  follows (dounmount's suspension, VFS_SYNC(MNT_WAIT), vinvalbuf's bbusy);
  ``doing_shutdown`` has no reader in kemu.
"""

from __future__ import annotations

from typing import Any

from kern.cpu import curlwp
from kern.errno import (
    EBUSY,
    EINTR,
    EINVAL,
    EJUSTRETURN,
    ENODEV,
    ENOENT,
    ENOTDIR,
    EOPNOTSUPP,
    EPERM,
    ERESTART,
)
from kern.kern_auth import kauth_cred_issuser
from kern.kern_mutex import mutex_enter, mutex_exit
from kern.subr_kmem import KM_SLEEP, kmem_alloc, kmem_free
from kern.subr_prf import KASSERT, aprint_verbose, panic, printf
from vfs.mount import (
    EXTATTR_CMD_START,
    EXTATTR_CMD_STOP,
    IMNT_CAN_RWTORO,
    IMNT_GONE,
    IMNT_HAS_TRANS,
    IMNT_UNMOUNT,
    IMNT_WANTRDWR,
    MFSNAMELEN,
    MNT_ASYNC,
    MNT_BASIC_FLAGS,
    MNT_EXTATTR,
    MNT_FORCE,
    MNT_GETARGS,
    MNT_OP_FLAGS,
    MNT_RDONLY,
    MNT_RELOAD,
    MNT_ROOTFS,
    MNT_UPDATE,
    MNT_WAIT,
    VFS_EXTATTRCTL,
    VFS_MOUNT,
    VFS_START,
    VFS_STATVFS,
    VFS_SYNC,
    VFS_UNMOUNT,
    mount,
    mountlist,
    mountlist_append,
    mountlist_remove,
    vfs_busy,
    vfs_delref,
    vfs_getopsbyname,
    vfs_hooks_reexport,
    vfs_hooks_unmount,
    vfs_mountalloc,
    vfs_unbusy,
    vfsglobals,
    vfsops,
)
from vfs.vnode import LK_EXCLUSIVE, LK_RETRY, VDIR, VV_ROOT, vn_lock, vnode, vref, vrele
from vfs.vnode_if import VOP_UNLOCK


async def mount_get_vfsops(fstype_uaddr: int) -> tuple[int, vfsops | None]:
    from kern.subr_copy import copyinstr

    kbuf = bytearray(MFSNAMELEN)
    error, done = copyinstr(fstype_uaddr, kbuf, MFSNAMELEN)
    if error:
        return error, None
    name = bytes(kbuf[:done - 1]).decode("utf-8", "replace")
    v = await vfs_getopsbyname(name)
    if v is None:
        return ENODEV, None
    return 0, v


async def mount_domount(l: Any, vp: vnode, vfsp: vfsops, path: str, flags: int, data: Any,
                        data_len: int) -> tuple[int, int]:
    """Mount a new file system of type ``vfsp`` on directory ``vp`` (referenced, unlocked).

    The reference on ``vfsp`` that vfs_getopsbyname took goes to the mount,
    or is dropped (vfs_delref) when the mount fails.
    """
    from vfs.vfs_bio import V_SAVE, vinvalbuf
    from vfs.vfs_trans import fstrans_mount

    if not kauth_cred_issuser(l.l_cred):
        vfs_delref(vfsp)
        return EPERM, data_len
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    if vp.v_type != VDIR:
        VOP_UNLOCK(vp)
        vfs_delref(vfsp)
        return ENOTDIR, data_len
    if vp.v_mountedhere is not None:
        VOP_UNLOCK(vp)
        vfs_delref(vfsp)
        return EBUSY, data_len
    await vinvalbuf(vp, V_SAVE, l.l_cred, l)
    VOP_UNLOCK(vp)
    mp = vfs_mountalloc(vfsp, vp)
    mp.mnt_flag = flags & ~MNT_OP_FLAGS
    error, data_len = await VFS_MOUNT(mp, path, data, data_len)
    if error:
        vfs_delref(vfsp)
        return error, data_len
    if not mp.mnt_iflag & IMNT_HAS_TRANS:  # if the file system did not do it
        fstrans_mount(mp)
    # The mount point is covered under its lock, as vfs_mount.c does it (its
    # LOCKLEAF re-lookup), and is checked again there: VFS_MOUNT may have
    # slept while another mount covered it.
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    if vp.v_mountedhere is not None:
        VOP_UNLOCK(vp)
        await _unmount_fresh(mp)
        vfs_delref(vfsp)
        return EBUSY, data_len
    vref(vp)
    mountlist_append(mp)
    vp.v_mountedhere = mp
    VOP_UNLOCK(vp)
    await VFS_STATVFS(mp, mp.mnt_stat)
    error = await VFS_START(mp, 0)
    if error:
        # NetBSD leaves the mount in place and reports the error; so do we.
        return error, data_len
    return 0, data_len


async def _unmount_fresh(mp: mount) -> None:
    """Take down a file system VFS_MOUNT mounted but nothing covers yet
    (vfs_mount.c's err_mounted): suspended if it can be, unmounted by force."""
    from vfs.vfs_trans import fstrans_unmount, vfs_resume, vfs_suspend

    while True:
        error2 = await vfs_suspend(mp, 0)
        if error2 not in (EINTR, ERESTART):
            break
    KASSERT(error2 in (0, EOPNOTSUPP))
    if await VFS_UNMOUNT(mp, MNT_FORCE) != 0:
        panic("Unmounting fresh file system failed")
    if error2 == 0:
        await vfs_resume(mp)
    fstrans_unmount(mp)


async def mount_update(l: Any, vp: vnode, path: str, flags: int, data: Any,
                       data_len: int) -> tuple[int, int]:
    """mount(2) with MNT_UPDATE on the root ``vp`` of a mounted file system.

    The mount's flags are set from ``flags`` for VFS_MOUNT, and put back as
    they were (``saved_flags``) when the file system refuses the update.
    """
    mp = vp.v_mount
    if mp is None:  # kemu: a vnode of no mount (a dead one) is not a mount root either
        return EINVAL, data_len
    saved_flags = mp.mnt_flag

    # We can operate only on VV_ROOT nodes.
    if not vp.v_vflag & VV_ROOT:
        return EINVAL, data_len

    # A reload needs a read-only file system, and read-write to read-only
    # only where the file system says it can (IMNT_CAN_RWTORO).
    if flags & (MNT_RELOAD | MNT_RDONLY) and not mp.mnt_flag & MNT_RDONLY and \
            not mp.mnt_iflag & IMNT_CAN_RWTORO:
        return EOPNOTSUPP, data_len  # "Needs translation", the C says

    # kauth_authorize_system(KAUTH_REQ_SYSTEM_MOUNT_UPDATE): the superuser
    if not kauth_cred_issuser(l.l_cred):
        return EPERM, data_len

    if await vfs_busy(mp):
        return EPERM, data_len

    await mutex_enter(mp.mnt_updating)

    mp.mnt_flag &= ~MNT_OP_FLAGS
    mp.mnt_flag |= flags & MNT_OP_FLAGS

    # The mount level flags.
    if flags & MNT_RDONLY:
        mp.mnt_flag |= MNT_RDONLY
    elif mp.mnt_flag & MNT_RDONLY:
        mp.mnt_iflag |= IMNT_WANTRDWR
    mp.mnt_flag &= ~MNT_BASIC_FLAGS
    mp.mnt_flag |= flags & MNT_BASIC_FLAGS
    error, data_len = await VFS_MOUNT(mp, path, data, data_len)

    if error and data is not None:
        # Maybe it was an export request (compatibility with 3.0 and earlier);
        # its error counts only if some hook understood it.
        error2 = await vfs_hooks_reexport(mp, path, data)
        if error2 != EJUSTRETURN:
            error = error2

    if mp.mnt_iflag & IMNT_WANTRDWR:
        mp.mnt_flag &= ~MNT_RDONLY
    if error:
        mp.mnt_flag = saved_flags
    mp.mnt_flag &= ~MNT_OP_FLAGS
    mp.mnt_iflag &= ~IMNT_WANTRDWR
    # (no syncer worklist in kemu: vfs_syncer_add/remove_from_worklist)
    mutex_exit(mp.mnt_updating)
    vfs_unbusy(mp)

    if error == 0 and not saved_flags & MNT_EXTATTR and flags & MNT_EXTATTR:
        if await VFS_EXTATTRCTL(mp, EXTATTR_CMD_START, None, 0, None) != 0:
            printf("%s: failed to start extattr, error = %d",
                   mp.mnt_stat.f_mntonname.decode(errors="replace"), error)
            mp.mnt_flag &= ~MNT_EXTATTR

    if error == 0 and saved_flags & MNT_EXTATTR and not flags & MNT_EXTATTR:
        if await VFS_EXTATTRCTL(mp, EXTATTR_CMD_STOP, None, 0, None) != 0:
            printf("%s: failed to stop extattr, error = %d",
                   mp.mnt_stat.f_mntonname.decode(errors="replace"), error)
            mp.mnt_flag |= MNT_RDONLY
    return error, data_len


async def mount_getargs(l: Any, vp: vnode, flags: int, data: Any,
                        data_len: int) -> tuple[int, int]:
    # If MNT_GETARGS is specified, it should be the only flag.
    if flags & ~MNT_GETARGS:
        return EINVAL, data_len
    mp = vp.v_mount
    if mp is None or not vp.v_vflag & VV_ROOT:
        return EINVAL, data_len
    mp.mnt_flag |= MNT_GETARGS
    error, data_len = await VFS_MOUNT(mp, "", data, data_len)
    mp.mnt_flag &= ~MNT_GETARGS
    return error, data_len


async def do_sys_mount(l: Any, fstype: int, path: int, flags: int, data: int,
                       data_len: int, retval: list[int]) -> int:
    """mount(2): ``fstype``, ``path`` and ``data`` are user addresses."""
    from kern.subr_copy import copyin, copyout
    from vfs.namei import NSM_FOLLOW_TRYEMULROOT, namei_simple_user, pathbuf_copyin

    error, vp = await namei_simple_user(path, NSM_FOLLOW_TRYEMULROOT)
    if error:
        return error
    assert vp is not None
    error, pb = pathbuf_copyin(path)
    kpath = pb.pb_path if pb is not None else ""
    if data_len < 0 or data_len > 64 * 1024:
        await vrele(vp)
        return EINVAL
    kdata: Any = None
    if data_len > 0:
        if not data:
            await vrele(vp)
            return EINVAL
        kdata = kmem_alloc(data_len, KM_SLEEP)
        error = copyin(data, kdata, data_len)
        if error:
            kmem_free(kdata, data_len)
            await vrele(vp)
            return error
    try:
        if flags & (MNT_GETARGS | MNT_UPDATE):
            if flags & MNT_UPDATE and not flags & MNT_GETARGS:
                error, _ = await mount_update(l, vp, kpath, flags, kdata, data_len)
                return error
            error, data_len2 = await mount_getargs(l, vp, flags, kdata, data_len)
            if error == 0 and kdata is not None:
                error = copyout(kdata, data, min(data_len, data_len2))
            if error == 0:
                retval[0] = data_len2
            return error
        error, vfsp = await mount_get_vfsops(fstype)
        if error:
            return error
        assert vfsp is not None
        if data_len < vfsp.vfs_min_mount_data and vfsp.vfs_min_mount_data:
            vfs_delref(vfsp)
            return EINVAL
        error, data_len2 = await mount_domount(l, vp, vfsp, kpath, flags, kdata, data_len)
        if error == 0 and kdata is not None and data_len2:
            # The file system may have adjusted its arguments (puffs does).
            copyout(kdata, data, min(data_len, data_len2))
        return error
    finally:
        if kdata is not None:
            kmem_free(kdata, data_len)
        await vrele(vp)


async def dounmount(mp: mount, flags: int, l: Any) -> int:
    """Unmount ``mp`` (NetBSD 8's order; see the module docstring)."""
    from vfs.vfs_trans import fstrans_unmount, vfs_resume, vfs_suspend

    if l is None:
        l = curlwp()
    # One unmount of a mount at a time, from the check to fstrans_unmount: a
    # second caller (the halt's unmount beside a puffs server's close) waits
    # here and then finds the mount gone, instead of suspending a mount the
    # first is tearing down.
    await mutex_enter(mp.mnt_unmounting)
    if mp.mnt_iflag & IMNT_GONE:
        mutex_exit(mp.mnt_unmounting)
        return ENOENT
    # The suspension waits for every thread working in the file system,
    # the vfs_busy holders (sync(2), a lookup crossing into it) among them.
    error = await vfs_suspend(mp, 0)
    suspended = error == 0
    if error and error != EOPNOTSUPP:
        mutex_exit(mp.mnt_unmounting)
        return error
    mp.mnt_iflag |= IMNT_UNMOUNT
    await mutex_enter(mp.mnt_updating)
    # As NetBSD's: the last sync is a real one (bwrite on an MNT_ASYNC mount
    # only delays the write, and nothing would write it after the unmount).
    # (Only written when set: NetBSD clears it unconditionally, to the same
    # effect, but statvfs reads mnt_flag unlocked and the lockset detector
    # would report every unmount.)
    async_ = mp.mnt_flag & MNT_ASYNC
    if async_:
        mp.mnt_flag &= ~MNT_ASYNC
    error = 0
    if not mp.mnt_flag & MNT_RDONLY and not flags & MNT_FORCE:
        error = await VFS_SYNC(mp, MNT_WAIT, l.l_cred)
    if error == 0 or flags & MNT_FORCE:
        error = await VFS_UNMOUNT(mp, flags)
    if error:
        mp.mnt_iflag &= ~IMNT_UNMOUNT
        if async_:
            mp.mnt_flag |= async_
        mutex_exit(mp.mnt_updating)
        if suspended:
            await vfs_resume(mp)
        mutex_exit(mp.mnt_unmounting)
        return error
    mutex_exit(mp.mnt_updating)
    mp.mnt_iflag |= IMNT_GONE
    if suspended:
        await vfs_resume(mp)
    coveredvp = mp.mnt_vnodecovered
    if coveredvp is not None:
        await vn_lock(coveredvp, LK_EXCLUSIVE | LK_RETRY)
        coveredvp.v_mountedhere = None
        VOP_UNLOCK(coveredvp)
    mountlist_remove(mp)
    if mp.mnt_vnodelist:
        panic("unmount: dangling vnode")
    await vfs_hooks_unmount(mp)
    fstrans_unmount(mp)
    mutex_exit(mp.mnt_unmounting)
    vfs_delref(mp.mnt_op)
    if coveredvp is not None:
        await vrele(coveredvp)
    return 0


async def do_sys_unmount(l: Any, path: int, flags: int) -> int:
    from vfs.namei import NSM_FOLLOW_TRYEMULROOT, namei_simple_user

    error, vp = await namei_simple_user(path, NSM_FOLLOW_TRYEMULROOT)
    if error:
        return error
    assert vp is not None
    mp = vp.v_mount
    if not kauth_cred_issuser(l.l_cred):
        await vrele(vp)
        return EPERM
    if not vp.v_vflag & VV_ROOT or mp is None:
        await vrele(vp)
        return EINVAL
    if mp.mnt_flag & MNT_ROOTFS or mp is vfsglobals().rootfs:
        await vrele(vp)
        return EBUSY
    await vrele(vp)
    return await dounmount(mp, flags, l)


# --- the shutdown's sync and unmounts (cpu_reboot calls these) -----------------------------

def vfs_unmount_print(mp: mount, pfx: str) -> None:
    aprint_verbose("%sunmounted %s on %s type %s\n", pfx, mp.mnt_stat.f_mntfromname,
                   mp.mnt_stat.f_mntonname, mp.mnt_stat.f_fstypename)


def _unmountable() -> list[mount]:
    """The mount list, newest first, less the root file system (see the docstring)."""
    root = vfsglobals().rootfs
    return [mp for mp in reversed(mountlist()) if mp is not root and
            not mp.mnt_flag & MNT_ROOTFS]


async def vfs_unmount_forceone(l: Any) -> bool:
    """Forcibly unmount the newest mount; True if that worked."""
    ml = _unmountable()
    if not ml:
        return False
    nmp = ml[0]
    if await dounmount(nmp, MNT_FORCE, l) == 0:
        vfs_unmount_print(nmp, "forcefully ")
        return True
    return False


async def vfs_unmountall1(l: Any, force: bool, verbose: bool) -> bool:
    """Unmount every file system, newest first; True if any went."""
    any_error = progress = False
    for mp in _unmountable():
        if mp not in mountlist():
            continue  # went with an earlier unmount
        error = await dounmount(mp, MNT_FORCE if force else 0, l)
        if error == 0:
            vfs_unmount_print(mp, "")
            progress = True
        else:
            if verbose:
                printf("unmount of %s failed with error %d\n", mp.mnt_stat.f_mntonname, error)
            any_error = True
    if verbose:
        printf("unmounting done\n")
    if any_error and verbose:
        printf("WARNING: some file systems would not unmount\n")
    return progress


async def vfs_sync_all(l: Any) -> None:
    """Write every file system's dirty data and metadata out (the halt's first
    step): sync(2)'s do_sys_sync.  (No buf_syncwait after it: see the header.)"""
    from vfs.vfs_syscalls import do_sys_sync  # (vfs_syscalls imports this module)

    printf("syncing disks... ")
    await do_sys_sync(l)
    printf("done\n")


def vfs_mounts_left() -> list[tuple[str, str, str, bool]]:
    """kemu: (on, from, type, read-only) of each file system still mounted, newest
    first, the root aside: what the halt could not unmount, or with RB_NOSYNC
    leaves mounted (kern/machdep.py names them)."""
    def text(name: Any) -> str:
        return name.decode(errors="replace") if isinstance(name, bytes) else str(name)

    return [(text(mp.mnt_stat.f_mntonname), text(mp.mnt_stat.f_mntfromname),
             text(mp.mnt_stat.f_fstypename), bool(mp.mnt_flag & MNT_RDONLY))
            for mp in _unmountable()]


def _attach_to_cpu_reboot() -> None:
    from kern import machdep

    machdep.vfs_sync_all = vfs_sync_all
    machdep.vfs_unmountall1 = vfs_unmountall1
    machdep.vfs_unmount_forceone = vfs_unmount_forceone
    machdep.vfs_mounts_left = vfs_mounts_left


_attach_to_cpu_reboot()
