"""Starting the VFS at boot (kern/vfs_init.c, init_main.c's root mount, MAKEDEV).

Boot hooks named in conf/GENERIC:

* ``vfsinit(machine)``: registers the VFS system calls and the process hooks
  that give every new process a current directory (``cwdinfo``) and release
  it (deferred, ``vrele_async``) when the process goes.
* ``vfs_mountroot(machine)``: mounts the root file system (the ``rootfs``
  module must be linked in), makes /dev, /tmp and /mnt, and the device nodes
  of ``config.devnodes`` the way MAKEDEV would (``fss`` with count 4 gives
  /dev/fss0..3 and /dev/rfss0..3).  The halt syncs and unmounts the file
  systems (kern/machdep.py's cpu_reboot, with vfs/vfs_mount.py's parts).

Not a port: kemu's boot glue with NetBSD's names.  It stands for
kern/vfs_init.c's vfsinit, kern_descrip.c's cwdinit/cwdfree (struct
cwdinfo), init_main.c's root mount (vfs_mountroot, "root file system
type: %s") and /dev/MAKEDEV.  Where it differs: the root is always a
mount of the configured ROOT_FSTYPE ("rootfs") with no root device or
rootspec, and a failure panics with kemu's message; the directories
/dev, /tmp and /mnt are made at boot; device nodes come from
``config.devnodes`` (block nodes mode 0640, cloning character nodes 0666)
rather than a MAKEDEV script; cwdinfo's vnodes are released with
vrele_async when a process goes; no vfs_opv_init here (operation vectors
are built by vfs.vnode_if).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.errno import EEXIST
from kern.kern_lwp import proc
from kern.kern_rwlock import krwlock_t, rw_init
from kern.subr_prf import panic, printf
from vfs.mount import (
    MNT_ROOTFS,
    mountlist_append,
    vfs_getopsbyname,
    vfs_mountalloc,
    vfsglobals,
)
from vfs.vnode import vnode, vref, vrele_async

if TYPE_CHECKING:
    from kern.machine import Machine


class cwdinfo:
    """struct cwdinfo: a process's current and root directories and umask.

    ``cwdi_lock`` guards the directories: chdir/fchdir/chroot change them as
    writers, getcwd(2) walks from them as a reader (as NetBSD 8's does)."""

    __slots__ = ("cwdi_cdir", "cwdi_rdir", "cwdi_edir", "cwdi_lock", "cwdi_cmask")

    def __init__(self, cdir: vnode | None, rdir: vnode | None = None,
                 cmask: int = 0o022) -> None:
        self.cwdi_cdir = cdir
        self.cwdi_rdir = rdir
        self.cwdi_edir = None
        cwdi_lock = self.cwdi_lock = krwlock_t()
        rw_init(cwdi_lock)
        self.cwdi_cmask = cmask


def cwdinit(p: proc, parent: proc | None) -> None:
    src = parent.p_cwdi if parent is not None else None
    if src is None:
        root = vfsglobals().rootvnode
        if root is not None:
            vref(root)
        p.p_cwdi = cwdinfo(root)
        return
    if src.cwdi_cdir is not None:
        vref(src.cwdi_cdir)
    if src.cwdi_rdir is not None:
        vref(src.cwdi_rdir)
    p.p_cwdi = cwdinfo(src.cwdi_cdir, src.cwdi_rdir, src.cwdi_cmask)


def cwdfree(p: proc) -> None:
    c = p.p_cwdi
    p.p_cwdi = None
    if c is None:
        return
    for vp in (c.cwdi_cdir, c.cwdi_rdir):
        if vp is not None:
            vrele_async(vp)


def vfsinit(machine: Machine) -> None:
    import vfs.vfs_syscalls  # noqa: F401 - registers the VFS system calls

    machine.proc_create_hooks.append(cwdinit)
    machine.proc_destroy_hooks.append(cwdfree)


async def vfs_mountroot(machine: Machine) -> None:
    from vfs.mount import VFS_MOUNT, VFS_ROOT, VFS_START
    from vfs.vfs_trans import fstrans_mount

    name = machine.config.options.get("ROOT_FSTYPE", "rootfs")
    vfsp = await vfs_getopsbyname(name)
    if vfsp is None:
        panic("vfs_mountroot: no file system %s for the root", name)
    mp = vfs_mountalloc(vfsp, None)
    mp.mnt_flag |= MNT_ROOTFS
    error, _ = await VFS_MOUNT(mp, "/", None, 0)
    if error:
        panic("vfs_mountroot: cannot mount %s as root: error %d", name, error)
    fstrans_mount(mp)
    await VFS_START(mp, 0)
    mountlist_append(mp)
    error, root = await VFS_ROOT(mp, 0)
    if error or root is None:
        panic("vfs_mountroot: no root vnode: error %d", error)
    g = vfsglobals()
    g.rootfs = mp
    g.rootvnode = root
    # proc0 and processes made before the root existed get it as their cwd.
    for p in list(machine.procs.values()):
        if p.p_cwdi is None or p.p_cwdi.cwdi_cdir is None:
            cwdinit(p, None)
    printf("root file system type: %s\n", name)
    await _makedirs(("/dev", "/tmp", "/mnt"))
    await makedevnodes(machine.config.devnodes, machine)


async def _makedirs(paths: tuple[str, ...]) -> None:
    from vfs.vfs_syscalls import kern_mkdir

    for path in paths:
        error = await kern_mkdir(path, 0o755)
        if error and error != EEXIST:
            panic("vfs_mountroot: mkdir %s: error %d", path, error)


async def makedevnodes(devnodes: dict[str, Any], machine: Machine) -> None:
    """MAKEDEV: for ``name: count``, /dev/<name>N (block) and /dev/r<name>N
    (character) for N < count; for ``name: (node, minor)``, the one
    character node /dev/<node> with that minor, mode 0666 (a cloning device
    such as /dev/puffs); for ``name: [(node, minor), ...]``, each of them
    (the minors of one driver: mm(4)'s /dev/null, /dev/zero)."""
    from kern.types_dev import makedev
    from vfs.stat import S_IFBLK, S_IFCHR
    from vfs.vfs_syscalls import _cmask, kern_chmod, kern_mknod

    cmask = _cmask()

    async def mkdev(path: str, fmt: int, mode: int, dev: int) -> None:
        # MAKEDEV's mkdev: the node, then its mode as given (not the umask's):
        # a chmod when the umask took bits off what mknod was given.
        if await kern_mknod(path, fmt | mode, dev) == 0 and mode & cmask:
            await kern_chmod(path, mode)

    for name, spec in devnodes.items():
        bmaj, cmaj = machine.config.majors.get(name, (-1, -1))
        if isinstance(spec, (tuple, list)):
            for node, minor_ in [spec] if isinstance(spec, tuple) else spec:
                await mkdev(f"/dev/{node}", S_IFCHR, 0o666, makedev(cmaj, minor_))
            continue
        for unit in range(spec):
            if bmaj >= 0:
                await mkdev(f"/dev/{name}{unit}", S_IFBLK, 0o640, makedev(bmaj, unit))
            if cmaj >= 0:
                prefix = "r" if bmaj >= 0 else ""
                await mkdev(f"/dev/{prefix}{name}{unit}", S_IFCHR, 0o640, makedev(cmaj, unit))
