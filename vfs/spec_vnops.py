"""Device vnodes (miscfs/specfs/spec_vnops.c, specdev.h; NetBSD 8).

A device node (``/dev/fss0``) found in a file system becomes a vnode of type
VBLK or VCHR whose device operations come here.  Every vnode of the same
device shares one ``specdev``, which counts opens and remembers the file
system mounted on a block device (``sd_mountpoint``).

* ``spec_open`` calls the driver's d_open on every open of a character
  device (autoloading the driver's module by the major's name when no
  driver is attached); a block device may be open only once, and not while
  a file system is mounted on it (EBUSY), so that the buffer cache stays
  consistent.
* ``spec_close`` invalidates a block device's buffers (writing dirty ones)
  and calls d_close only when the last open of that device, of that type
  (block or character), goes away.
* ``spec_strategy`` runs the copy-on-write handlers (``fscow_run``) before a
  write reaches the driver, and fails the buf with their error.
* ``spec_read``/``spec_write`` of a block device go through the buffer cache;
  of a character device straight to d_read/d_write.

File systems that hold device nodes build their own "specop" vector from
``spec_vnodeop_entries`` plus their attribute operations.

Compared against ``$NetBSD: spec_vnops.c,v 1.153 2015/07/01$`` (the stored
revision nearest NetBSD 8), with NetBSD 8's v2 protocols.  Notices in
LICENSE.NetBSD.

Deviations:

* specnodes/specdevs are kept in per-machine dicts keyed by (type, rdev)
  instead of the specfs hash; ``sd_bdevvp`` is the first block vnode.
* ``spec_open`` makes no kauth_authorize_device_spec check, does not mark
  tty vnodes VV_ISTTY and does not size a disk vnode after opening it;
  the driver's module is autoloaded (by the major's name) before d_open
  when no driver is attached, retried as MODULE_CLASS_ANY (kemu's).
* ``spec_read`` of a block device reads BLKDEV_IOSIZE blocks (no
  partition-derived block size, no breadn read-ahead); a short block is
  the end of the device (what is there is returned, then EOF).
* ``spec_write`` of a block device writes every block synchronously
  (bwrite; 1.153: bawrite for a full block, bdwrite for a partial one).
* ``spec_poll`` answers 0 without asking the driver (1.153: cdev_poll for
  character devices); ``spec_advlock`` grants every lock (1.153:
  lf_advlock on the specnode's lock list).
* ``spec_putpages`` only drops the interlock if held: block devices keep
  no pages in kemu (their data is in the buffer cache).
* ``spec_pathconf`` answers from vop_pathconf_std.
"""

from __future__ import annotations

from typing import Any

from kern import subr_devsw
from kern.cpu import MachineLocal, curlwp
from kern.errno import EBADF, EBUSY, EINVAL, ENOENT, ENXIO
from kern.fcntl import FNONBLOCK
from kern.subr_prf import panic
from kern.subr_uio import uiomove
from kern.types_dev import major
from vfs import vnode_if as vi
from vfs.buf import B_READ, BC_INVAL
from vfs.mount import MNT_NODEV, mount
from vfs.stat import S_IFBLK, S_IFCHR
from vfs.vfs_bio import (
    DEV_BSIZE,
    MAXBSIZE,
    V_SAVE,
    bio_doread,
    biodone,
    biowait,
    bread,
    brelse,
    bwrite,
    getblk,
    vflushbuf,
    vinvalbuf,
)
from vfs.vfs_trans import fscow_run
from vfs.vnode import (
    LK_EXCLUSIVE,
    LK_RETRY,
    VBLK,
    VCHR,
    genfs_islocked,
    genfs_lock,
    genfs_unlock,
    vdead_check,
    vn_lock,
    vnode,
)
from vfs.vnode_if import VOP_UNLOCK

# The size of a block device's logical blocks for I/O through the buffer cache.
BLKDEV_IOSIZE = 2048


class specdev:
    """struct specdev: state shared by every vnode of one device."""

    __slots__ = ("sd_mountpoint", "sd_lockf", "sd_refcnt", "sd_opencnt", "sd_bdevvp",
                 "sd_rdev", "sd_type", "sd_closing")

    def __init__(self, rdev: int, vtype: int) -> None:
        self.sd_mountpoint: mount | None = None
        self.sd_lockf = None
        self.sd_refcnt = 0
        self.sd_opencnt = 0
        self.sd_bdevvp: vnode | None = None
        self.sd_rdev = rdev
        self.sd_type = vtype
        self.sd_closing = False


class specnode:
    """struct specnode: the per-vnode part."""

    __slots__ = ("sn_dev", "sn_opencnt", "sn_rdev", "sn_gone")

    def __init__(self, sd: specdev, rdev: int) -> None:
        self.sn_dev = sd
        self.sn_opencnt = 0
        self.sn_rdev = rdev
        self.sn_gone = False


class _Spec:
    def __init__(self) -> None:
        # (type, rdev) -> specdev, and the vnodes using it
        self.devs: dict[tuple[int, int], specdev] = {}
        self.vnodes: dict[tuple[int, int], list[vnode]] = {}


_spec = MachineLocal(_Spec, "specfs device table")


def spec_node_init(vp: vnode, rdev: int) -> None:
    """Make ``vp`` (VBLK or VCHR) a device vnode for ``rdev``."""
    if vp.v_type not in (VBLK, VCHR):
        panic("spec_node_init: %r is not a device", vp)
    s = _spec()
    key = (vp.v_type, rdev)
    sd = s.devs.get(key)
    if sd is None:
        sd = s.devs[key] = specdev(rdev, vp.v_type)
    sd.sd_refcnt += 1
    if vp.v_type == VBLK and sd.sd_bdevvp is None:
        sd.sd_bdevvp = vp
    s.vnodes.setdefault(key, []).append(vp)
    vp.v_specnode = specnode(sd, rdev)
    vp.v_rdev = rdev


def spec_node_destroy(vp: vnode) -> None:
    sn = vp.v_specnode
    if sn is None:
        return
    sd = sn.sn_dev
    s = _spec()
    key = (vp.v_type, sd.sd_rdev)
    lst = s.vnodes.get(key, [])
    if vp in lst:
        lst.remove(vp)
    sd.sd_refcnt -= 1
    if sd.sd_bdevvp is vp:
        sd.sd_bdevvp = lst[0] if lst else None
    if sd.sd_refcnt == 0:
        s.devs.pop(key, None)
        s.vnodes.pop(key, None)
    vp.v_specnode = None


def spec_node_lookup_by_dev(vtype: int, dev: int) -> tuple[int, vnode | None]:
    """A referenced vnode for device ``dev`` of ``vtype``, or ENOENT."""
    from vfs.vnode import vref

    for vp in _spec().vnodes.get((vtype, dev), []):
        if vp.v_usecount > 0:
            vref(vp)
            return 0, vp
    return ENOENT, None


def spec_node_lookup_by_mount(mp: mount) -> tuple[int, vnode | None]:
    """The block-device vnode ``mp`` is mounted on, referenced; ENOENT if none."""
    from vfs.vnode import vref

    for (vtype, _rdev), sd in _spec().devs.items():
        if vtype == VBLK and sd.sd_mountpoint is mp:
            vp = sd.sd_bdevvp
            if vp is None or vp.v_usecount == 0:
                continue
            vref(vp)
            return 0, vp
    return ENOENT, None


def spec_node_getmountedfs(devvp: vnode) -> mount | None:
    if devvp.v_type != VBLK or devvp.v_specnode is None:
        return None
    return devvp.v_specnode.sn_dev.sd_mountpoint


def spec_node_setmountedfs(devvp: vnode, mp: mount | None) -> None:
    if devvp.v_type != VBLK or devvp.v_specnode is None:
        panic("spec_node_setmountedfs: %r is not a block device vnode", devvp)
    devvp.v_specnode.sn_dev.sd_mountpoint = mp


def vfs_mountedon(vp: vnode) -> int:
    """EBUSY if a file system is mounted on the device of ``vp``."""
    if vp.v_type != VBLK or vp.v_specnode is None:
        return 0
    return EBUSY if vp.v_specnode.sn_dev.sd_mountpoint is not None else 0


# ------------------------------------------------------------ operations

async def _autoload(dev: int, vtype: int) -> None:
    if vtype == VBLK:
        lookup, getname = subr_devsw.bdevsw_lookup, subr_devsw.bdevsw_getname
    else:
        lookup, getname = subr_devsw.cdevsw_lookup, subr_devsw.cdevsw_getname
    if lookup(dev) is not None:
        return
    name = getname(major(dev))
    if name is None:
        return
    from kern.kern_module import MODULE_CLASS_ANY, MODULE_CLASS_DRIVER, module_autoload

    if await module_autoload(name, MODULE_CLASS_DRIVER) != 0:
        # kemu: a device served by a module of another class (/dev/puffs
        # lives in the puffs file-system module, as in 2007) loads too.
        await module_autoload(name, MODULE_CLASS_ANY)


async def spec_open(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    mode = ap.a_mode
    l = curlwp()
    sn = vp.v_specnode
    if sn is None:
        return ENXIO
    sd = sn.sn_dev
    dev = vp.v_rdev
    if vp.v_mount is not None and vp.v_mount.mnt_flag & MNT_NODEV:
        return ENXIO
    if vp.v_type == VCHR:
        # Character devices can accept opens from multiple vnodes.
        if sn.sn_gone:
            return EBADF
        sd.sd_opencnt += 1
        sn.sn_opencnt += 1
        await _autoload(dev, VCHR)
        VOP_UNLOCK(vp)
        error = await subr_devsw.cdev_open(dev, mode, S_IFCHR, l)
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    elif vp.v_type == VBLK:
        # For block devices, permit only one open: the buffer cache cannot
        # remain self-consistent with multiple vnodes holding a block device
        # open.  A mounted device counts as open.
        if sn.sn_gone:
            return EBADF
        if sd.sd_opencnt != 0 or sd.sd_mountpoint is not None:
            return EBUSY
        sn.sn_opencnt = 1
        sd.sd_opencnt = 1
        await _autoload(dev, VBLK)
        VOP_UNLOCK(vp)
        error = await subr_devsw.bdev_open(dev, mode, S_IFBLK, l)
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    else:
        return EINVAL
    if error:
        sd.sd_opencnt -= 1
        sn.sn_opencnt -= 1
    return error


async def spec_close(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    flags = ap.a_fflag
    l = curlwp()
    sn = vp.v_specnode
    if sn is None:
        return 0
    sd = sn.sn_dev
    dev = vp.v_rdev
    # If we're going away soon, make this non-blocking (which also keeps us
    # from wedging in vn_lock below).
    if vdead_check(vp) != 0:
        flags |= FNONBLOCK
    if vp.v_type == VCHR:
        close = subr_devsw.cdev_close
        mode = S_IFCHR
    elif vp.v_type == VBLK:
        # Invalidate the buffers of the device (writing the dirty ones first),
        # so that, for instance, another medium can be put in.
        error = await vinvalbuf(vp, V_SAVE, ap.a_cred, l)
        if error:
            return error
        close = subr_devsw.bdev_close
        mode = S_IFBLK
    else:
        panic("spec_close: not special")
    sn.sn_opencnt -= 1
    sd.sd_opencnt -= 1
    if sd.sd_opencnt != 0:
        return 0
    # Release the vnode lock while the driver closes: it may sleep for
    # someone who needs the vnode.
    if not flags & FNONBLOCK:
        VOP_UNLOCK(vp)
    error = await close(dev, flags, mode, l)
    if not flags & FNONBLOCK:
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    return error


async def spec_read(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    uio = ap.a_uio
    if uio.uio_resid == 0:
        return 0
    if vp.v_type == VCHR:
        VOP_UNLOCK(vp)
        error = await subr_devsw.cdev_read(vp.v_rdev, uio, ap.a_ioflag)
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
        return error
    if vp.v_type != VBLK:
        panic("spec_read: type %d", vp.v_type)
    if uio.uio_offset < 0:
        return EINVAL
    bsize = BLKDEV_IOSIZE
    bscale = bsize // DEV_BSIZE

    while uio.uio_resid > 0:
        bn = (uio.uio_offset // DEV_BSIZE) & ~(bscale - 1)
        on = uio.uio_offset % bsize
        n = min(bsize - on, uio.uio_resid)
        bp = await bio_doread(vp, bn, bsize, False)
        error = await biowait(bp)
        if error:
            brelse(bp, BC_INVAL)
            return error
        # A short block is the end of the device: what is there is read, then EOF.
        short = bp.b_resid != 0
        n = min(n, bp.b_bcount - bp.b_resid - on)
        if n <= 0:
            brelse(bp, BC_INVAL)
            return 0
        error = await uiomove(memoryview(bp.b_data)[on:on + n], n, uio)
        brelse(bp, BC_INVAL if short else 0)
        if error or short:
            return error
    return 0


async def spec_write(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    uio = ap.a_uio
    if vp.v_type == VCHR:
        VOP_UNLOCK(vp)
        error = await subr_devsw.cdev_write(vp.v_rdev, uio, ap.a_ioflag)
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
        return error
    if vp.v_type != VBLK:
        panic("spec_write: type %d", vp.v_type)
    if uio.uio_resid == 0:
        return 0
    if uio.uio_offset < 0:
        return EINVAL
    bsize = BLKDEV_IOSIZE
    bscale = bsize // DEV_BSIZE
    while uio.uio_resid > 0:
        bn = (uio.uio_offset // DEV_BSIZE) & ~(bscale - 1)
        on = uio.uio_offset % bsize
        n = min(bsize - on, uio.uio_resid)
        if n == bsize:
            bp = await getblk(vp, bn, bsize, 0, 0)
        else:
            error, bp = await bread(vp, bn, bsize, 0)
            if error:
                return error
        assert bp is not None
        error = await uiomove(memoryview(bp.b_data)[on:on + n], n, uio)
        if error:
            brelse(bp, 0)
            return error
        error = await bwrite(bp)
        if error:
            return error
    return 0


async def spec_ioctl(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    l = curlwp()
    if vp.v_specnode is None or vp.v_specnode.sn_gone:
        return ENXIO
    if vp.v_type == VCHR:
        return await subr_devsw.cdev_ioctl(vp.v_rdev, ap.a_command, ap.a_data, ap.a_fflag, l)
    if vp.v_type == VBLK:
        return await subr_devsw.bdev_ioctl(vp.v_rdev, ap.a_command, ap.a_data, ap.a_fflag, l)
    return ENXIO


async def spec_strategy(v: Any) -> int:
    """Queue a buf on the device; writes first pass the copy-on-write handlers."""
    ap = v
    vp = ap.a_vp
    bp = ap.a_bp
    bp.b_dev = vp.v_rdev
    error = 0
    if not bp.b_flags & B_READ:
        error = await fscow_run(bp, False)
    if error:
        bp.b_error = error
        bp.b_resid = bp.b_bcount
        biodone(bp)
        return error
    await subr_devsw.bdev_strategy(bp)
    return 0


async def spec_bmap(v: Any) -> int:
    ap = v
    ap.a_vpp[0] = ap.a_vp
    ap.a_bnp[0] = ap.a_bn
    ap.a_runp[0] = (MAXBSIZE >> 9) - 1
    return 0


async def spec_fsync(v: Any) -> int:
    ap = v
    vp = ap.a_vp
    if vp.v_type == VBLK:
        return await vflushbuf(vp, ap.a_flags)
    return 0


async def spec_inactive(v: Any) -> int:
    v.a_recycle[0] = False
    return 0


async def spec_reclaim(v: Any) -> int:
    vp = v.a_vp
    spec_node_destroy(vp)
    genfs_unlock(v)
    return 0


async def spec_poll(v: Any) -> int:
    return 0


async def spec_putpages(v: Any) -> int:
    from kern.kern_mutex import mutex_exit, mutex_owned

    vp = v.a_vp
    if mutex_owned(vp.v_interlock):
        mutex_exit(vp.v_interlock)
    return 0


async def spec_pathconf(v: Any) -> int:
    from vfs.vfs_vnops import vop_pathconf_std

    return await vop_pathconf_std(v)


async def spec_advlock(v: Any) -> int:
    return 0


async def spec_ok(v: Any) -> int:
    return 0


spec_vnodeop_entries = [
    (vi.vop_open_desc, spec_open),
    (vi.vop_close_desc, spec_close),
    (vi.vop_read_desc, spec_read),
    (vi.vop_write_desc, spec_write),
    (vi.vop_ioctl_desc, spec_ioctl),
    (vi.vop_poll_desc, spec_poll),
    (vi.vop_fsync_desc, spec_fsync),
    (vi.vop_inactive_desc, spec_inactive),
    (vi.vop_reclaim_desc, spec_reclaim),
    (vi.vop_lock_desc, genfs_lock),
    (vi.vop_unlock_desc, genfs_unlock),
    (vi.vop_islocked_desc, genfs_islocked),
    (vi.vop_bmap_desc, spec_bmap),
    (vi.vop_strategy_desc, spec_strategy),
    (vi.vop_pathconf_desc, spec_pathconf),
    (vi.vop_advlock_desc, spec_advlock),
    (vi.vop_putpages_desc, spec_putpages),
    (vi.vop_seek_desc, spec_ok),
]
