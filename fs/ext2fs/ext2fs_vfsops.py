"""The ext2fs file system type (ufs/ext2fs/ext2fs_vfsops.c, NetBSD 8): mount, unmount, sync, vnodes.

mount(2) hands ``ext2fs_mount`` a kernel copy of ``struct ufs_args`` whose
``fspec`` is a user pointer to the device's path.  ``ext2fs_mountfs`` reads
and checks the super block and the group descriptors; anything that does
not add up (bad magic, features it does not implement, a file system
larger than its device, descriptors pointing outside it) fails the mount
with an errno and a console message saying why.  A read-write mount marks
the file system not clean and counts the mount; unmount writes every
inode, buffer, group descriptor and the super block back and marks it
clean again.

Suspension is fstrans's (``vfs_suspendctl = genfs_suspendctl``): VFS_SYNC
works from the suspending lwp while the file system is suspended.  There
is no persistent snapshot support (``vfs_snapshot`` answers EOPNOTSUPP).

The file is a module (class VFS): ``ext2fs_modcmd`` attaches and
detaches ``ext2fs_vfsops``.

Follows ext2fs_vfsops.c 1.193 (as read when it was written; see the
comment in ext2fs_mountfs), NetBSD 8's vcache-based loadvnode/newvnode.
Notices in LICENSE.NetBSD.

Deviations:

* ``ext2fs_sbcheck`` checks more than NetBSD's and says why on the
  console: block sizes of 1, 2 and 4 KiB only, blocks and inodes per
  group that fit a bitmap block, fragments equal to blocks, the first
  data block, free counts within totals, a power-of-two inode size, and
  an inode count that is whole groups; the feature masks are kemu's
  (see ext2fs.py).  ``ext2fs_cg_verify`` also checks that every group's
  bitmaps and inode table lie inside the file system.
* MNT_RELOAD is EOPNOTSUPP (no ext2fs_reload); IMNT_CAN_RWTORO is set,
  since the read-write to read-only update is implemented (above).
* The second fsid word is kemu's (a byte sum of "ext2fs", not
  makefstype()).
* No persistent snapshots (``ext2fs_snapshot``: EOPNOTSUPP).
* ``ext2fs_sync`` writes each vnode through ``ext2fs_fsync_vnode`` and
  then the device vnode with VOP_FSYNC, skipping the device for
  MNT_LAZY; its vnode walk and fstrans handling are kemu's.
* ``ext2fs_cgupdate`` fails when any group descriptor block's write failed
  (the last failed one's errno, over the super block's).  C keeps only the
  last block's error, and only when the super block's write succeeded: an
  earlier block's failed write went unreported, and the unmount and the
  read-only update (which mark the file system clean only when it returns
  0) marked it clean.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.errno import (
    E2BIG,
    EINVAL,
    EIO,
    ENOTBLK,
    ENOTTY,
    ENXIO,
    EOPNOTSUPP,
    EROFS,
    ESTALE,
)
from kern.fcntl import FREAD, FWRITE
from kern.kern_auth import FSCRED, NOCRED, kauth_cred_geteuid
from kern.kern_module import MODULE, MODULE_CLASS_VFS, MODULE_CMD_FINI, MODULE_CMD_INIT
from kern.kern_mutex import mutex_enter
from kern.kern_time import time_second, timespec
from kern.subr_copy import copyinstr
from kern.subr_devsw import bdevsw_lookup
from kern.subr_prf import panic, printf
from vfs.buf import BC_INVAL
from vfs.genfs_io import (
    GOP_UPDATE_ACCESSED,
    GOP_UPDATE_MODIFIED,
    genfs_gop_write,
    genfs_node_init,
    genfs_ops,
    genfs_size,
    uvm_vnp_setsize,
)
from vfs.mount import (
    IMNT_CAN_RWTORO,
    IMNT_DTYPE,
    IMNT_WANTRDWR,
    MNT_FORCE,
    MNT_GETARGS,
    MNT_LAZY,
    MNT_LOCAL,
    MNT_RDONLY,
    MNT_RELOAD,
    MNT_UPDATE,
    MNT_WAIT,
    MOUNT_EXT2FS,
    copy_statvfs_info,
    mount,
    set_statvfs_info,
    statvfs,
    vfs_attach,
    vfs_detach,
    vfsops,
)
from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_user
from vfs.spec_vnops import spec_node_init, spec_node_setmountedfs, vfs_mountedon
from vfs.vfs_bio import (
    DEV_BSHIFT,
    V_SAVE,
    bawrite,
    bread,
    brelse,
    bwrite,
    getblk,
    vinvalbuf,
)
from vfs.vfs_trans import fstrans_is_owner, fstrans_mount, genfs_suspendctl
from vfs.vnode import (
    FORCECLOSE,
    FSYNC_WAIT,
    LK_EXCLUSIVE,
    LK_NOWAIT,
    LK_RETRY,
    VBLK,
    VCHR,
    VFIFO,
    VNON,
    VNOVAL,
    VS_LOADED,
    VSOCK,
    VV_ROOT,
    WRITECLOSE,
    vattr,
    vcache_get,
    vcache_vget,
    vflush,
    vn_lock,
    vnode,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import VOP_CLOSE, VOP_FSYNC, VOP_OPEN, VOP_UNLOCK

from .ext2fs import (
    E2FS_ERRORS,
    E2FS_ISCLEAN,
    E2FS_MAGIC,
    E2FS_REV0,
    E2FS_REV0_GD_SIZE,
    E2FS_REV1,
    EXT2_HAS_COMPAT_FEATURE,
    EXT2_HAS_INCOMPAT_FEATURE,
    EXT2F_COMPAT_RESIZE,
    EXT2F_INCOMPAT_FTYPE,
    EXT2F_INCOMPAT_NAMES,
    EXT2F_INCOMPAT_SUPP,
    EXT2F_ROCOMPAT_NAMES,
    EXT2F_ROCOMPAT_SUPP,
    LOG_MINBSIZE,
    MINBSIZE,
    SBLOCK,
    SBSIZE,
    e2fs_gd_array,
    e2fs_sbload,
    ext2fs_cg_has_sb,
    feature_names,
    fsbtodb,
    howmany,
    ino_to_fsba,
    ino_to_fsbo,
    m_ext2fs,
)
from .ext2fs_alloc import ext2fs_nblock, ext2fs_valloc, ext2fs_vfree
from .ext2fs_balloc import ext2fs_gop_alloc
from .ext2fs_dinode import (
    EXT2_DINODE_MAXSIZE,
    EXT2_DINODE_SIZE,
    EXT2_EXTENTS,
    EXT2_FIRSTINO,
    EXT2_IFDIR,
    EXT2_IFMT,
    EXT2_INLINE_DATA,
    EXT2_REV0_DINODE_SIZE,
    EXT2_ROOTINO,
)
from .ext2fs_dir import EXT2FS_MAXNAMLEN
from .ext2fs_inode import ext2fs_maxfilesize, ext2fs_size
from .ext2fs_subr import EXT2FS_ITIMES, ext2fs_mpname, vfs_timestamp
from .ext2fs_vnops import (
    IFTOVT,
    MAKEIMODE,
    ext2fs_fifoop_opv_desc,
    ext2fs_fifoop_p,
    ext2fs_fsync_vnode,
    ext2fs_getrdev,
    ext2fs_set_inode_guid,
    ext2fs_setrdev,
    ext2fs_specop_opv_desc,
    ext2fs_specop_p,
    ext2fs_vnodeop_opv_desc,
    ext2fs_vnodeop_p,
)
from .ufs_inode import (
    IN_ACCESS,
    IN_ACCESSED,
    IN_CHANGE,
    IN_MODIFIED,
    IN_UPDATE,
    UFS_EXT2FS,
    VFSTOUFS,
    VTOI,
    inode,
    ufid,
    ufs_args,
    ufsmount,
)

MODULE(MODULE_CLASS_VFS, "ext2fs", None)


def _genfs_markupdate(vp: vnode, flags: int) -> None:
    """GOP_MARKUPDATE (ufs_gop_markupdate): the file's data changed behind its back."""
    ip = VTOI(vp)
    if flags & GOP_UPDATE_ACCESSED:
        ip.i_flag |= IN_ACCESS
    if flags & GOP_UPDATE_MODIFIED:
        ip.i_flag |= IN_CHANGE | IN_UPDATE


ext2fs_genfsops = genfs_ops(gop_size=genfs_size, gop_alloc=ext2fs_gop_alloc,
                            gop_write=genfs_gop_write, gop_markupdate=_genfs_markupdate)


# ------------------------------------------------------------------ mount

def _args_from(data: Any) -> ufs_args | None:
    if isinstance(data, ufs_args):
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) < ctypes.sizeof(ufs_args):
            return None
        return ufs_args.from_buffer_copy(bytes(data[:ctypes.sizeof(ufs_args)]))
    if data is not None and hasattr(data, "fspec"):
        a = ufs_args()
        a.fspec = int(data.fspec or 0)
        return a
    return None


async def ext2fs_mount(mp: mount, path: str, data: Any, data_len: int) -> tuple[int, int]:
    """VFS_MOUNT: look the device up, open it, mount it (or update a mount)."""
    args = _args_from(data)
    if args is None or data_len < ctypes.sizeof(ufs_args):
        return EINVAL, data_len
    if mp.mnt_flag & MNT_GETARGS:
        ump = VFSTOUFS(mp)
        if ump is None:
            return EIO, data_len
        if isinstance(data, bytearray):
            data[:ctypes.sizeof(ufs_args)] = bytes(ctypes.sizeof(ufs_args))
        return 0, ctypes.sizeof(ufs_args)

    update = mp.mnt_flag & MNT_UPDATE
    error = 0
    devvp: vnode | None = None
    if args.fspec:
        error, devvp = await namei_simple_user(args.fspec, NSM_FOLLOW_NOEMULROOT)
        if error:
            return error, data_len
        assert devvp is not None
        if not update:
            if devvp.v_type != VBLK:
                error = ENOTBLK
            elif bdevsw_lookup(devvp.v_rdev) is None:
                error = ENXIO
        else:
            ump = VFSTOUFS(mp)
            if devvp is not ump.um_devvp:
                if devvp.v_rdev != ump.um_devvp.v_rdev:
                    error = EINVAL
                else:
                    await vrele(devvp)
                    devvp = ump.um_devvp
                    vref(devvp)
    else:
        if not update:
            return EINVAL, data_len
        ump = VFSTOUFS(mp)
        devvp = ump.um_devvp
        vref(devvp)
    if error:
        await vrele(devvp)
        return error, data_len

    fspec = _fspec_name(args.fspec)
    if not update:
        error = await ext2fs_mount_devvp(mp, path, devvp, fspec)
        return error, data_len

    # Update an existing mount.
    await vrele(devvp)
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    if not fs.e2fs_ronly and mp.mnt_flag & MNT_RDONLY:
        # Read-write to read-only.
        flags = WRITECLOSE
        if mp.mnt_flag & MNT_FORCE:
            flags |= FORCECLOSE
        error = await ext2fs_flushfiles(mp, flags)
        if error == 0 and await ext2fs_cgupdate(ump, MNT_WAIT) == 0 and \
                not fs.e2fs.e2fs_state & E2FS_ERRORS:
            fs.e2fs.e2fs_state = E2FS_ISCLEAN
            await ext2fs_sbupdate(ump, MNT_WAIT)
        if error:
            return error, data_len
        fs.e2fs_ronly = 1
    if mp.mnt_flag & MNT_RELOAD:
        return EOPNOTSUPP, data_len
    if fs.e2fs_ronly and (mp.mnt_iflag & IMNT_WANTRDWR or not mp.mnt_flag & MNT_RDONLY):
        # Read-only to read-write.
        error = ext2fs_sbcheck(fs.e2fs, False)
        if error:
            return error, data_len
        fs.e2fs_ronly = 0
        if fs.e2fs.e2fs_state == E2FS_ISCLEAN:
            fs.e2fs.e2fs_state = 0
        else:
            fs.e2fs.e2fs_state = E2FS_ERRORS
        fs.e2fs_fmod = 1
    if not args.fspec:
        return 0, data_len
    return await _mount_finish(mp, path, ump, fspec), data_len


def _fspec_name(uaddr: int) -> str:
    if not uaddr:
        return ""
    buf = bytearray(1024)
    error, done = copyinstr(uaddr, buf, len(buf))
    if error:
        return ""
    return bytes(buf[:max(0, done - 1)]).decode("utf-8", "surrogateescape")


async def ext2fs_mount_devvp(mp: mount, path: str, devvp: vnode, fspec: str) -> int:
    """Mount the block device ``devvp`` (referenced; the reference is the mount's on success).

    The part of ext2fs_mount after the device lookup, for callers that hold
    the device vnode already.
    """
    xflags = FREAD if mp.mnt_flag & MNT_RDONLY else FREAD | FWRITE
    await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
    error = await VOP_OPEN(devvp, xflags, FSCRED)
    VOP_UNLOCK(devvp)
    if error:
        await vrele(devvp)
        return error
    error = await ext2fs_mountfs(devvp, mp)
    if error:
        await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
        await VOP_CLOSE(devvp, xflags, NOCRED)
        VOP_UNLOCK(devvp)
        await vrele(devvp)
        return error
    ump = VFSTOUFS(mp)
    ump.um_openflags = xflags
    return await _mount_finish(mp, path, ump, fspec)


async def _mount_finish(mp: mount, path: str, ump: ufsmount, fspec: str) -> int:
    fs = ump.um_e2fs
    assert fs is not None
    error = set_statvfs_info(path, fspec, MOUNT_EXT2FS, mp)
    raw = path.encode("utf-8", "surrogateescape")
    fs.e2fs_fsmnt = raw[:511]
    if fs.e2fs.e2fs_rev > E2FS_REV0:
        fs.e2fs.e2fs_fsmnt = raw[:63]
    if fs.e2fs_fmod:
        fs.e2fs_fmod = 0
        if fs.e2fs.e2fs_state == 0:
            fs.e2fs.e2fs_wtime = time_second()
        else:
            printf("%s: file system not clean; please fsck(8)\n",
                   bytes(mp.mnt_stat.f_mntfromname).decode("utf-8", "replace"))
        await ext2fs_cgupdate(ump, MNT_WAIT)
    return error


def ext2fs_sbcheck(sb: Any, ronly: bool) -> int:
    """Is this a super block this implementation can mount?  An errno and a message if not."""
    if sb.e2fs_magic != E2FS_MAGIC:
        printf("ext2fs: wrong magic number 0x%x\n", sb.e2fs_magic)
        return EINVAL
    if sb.e2fs_rev > E2FS_REV1:
        printf("ext2fs: unsupported revision number 0x%x\n", sb.e2fs_rev)
        return EINVAL
    if sb.e2fs_log_bsize > 2:
        printf("ext2fs: bad block size: %d\n", sb.e2fs_log_bsize)
        return EINVAL
    bsize = MINBSIZE << sb.e2fs_log_bsize
    if sb.e2fs_bpg == 0:
        printf("ext2fs: zero blocks per group\n")
        return EINVAL
    if sb.e2fs_ipg == 0:
        printf("ext2fs: zero inodes per group\n")
        return EINVAL
    if sb.e2fs_bpg > bsize * 8 or sb.e2fs_ipg > bsize * 8:
        printf("ext2fs: %s per group do not fit in a bitmap block\n",
               "blocks" if sb.e2fs_bpg > bsize * 8 else "inodes")
        return EINVAL
    if sb.e2fs_fpg != sb.e2fs_bpg or sb.e2fs_fsize != sb.e2fs_log_bsize:
        printf("ext2fs: fragments (clusters) differ from blocks: unsupported\n")
        return EINVAL
    if sb.e2fs_first_dblock >= sb.e2fs_bcount or \
            sb.e2fs_first_dblock != (1 if bsize == 1024 else 0):
        printf("ext2fs: invalid first data block\n")
        return EINVAL
    if sb.e2fs_rbcount > sb.e2fs_bcount or sb.e2fs_fbcount > sb.e2fs_bcount:
        printf("ext2fs: invalid block count\n")
        return EINVAL
    if sb.e2fs_ficount > sb.e2fs_icount:
        printf("ext2fs: invalid inode count\n")
        return EINVAL
    if sb.e2fs_rev > E2FS_REV0:
        if sb.e2fs_first_ino != EXT2_FIRSTINO:
            printf("ext2fs: unsupported first inode position\n")
            return EINVAL
        u32 = sb.e2fs_features_incompat & ~EXT2F_INCOMPAT_SUPP
        if u32:
            printf("ext2fs: unsupported incompat features 0x%x (%s)\n", u32,
                   feature_names(u32, EXT2F_INCOMPAT_NAMES))
            return EINVAL
        u32 = sb.e2fs_features_rocompat & ~EXT2F_ROCOMPAT_SUPP
        if not ronly and u32:
            printf("ext2fs: unsupported ro-incompat features 0x%x (%s)\n", u32,
                   feature_names(u32, EXT2F_ROCOMPAT_NAMES))
            return EROFS
        isz = sb.e2fs_inode_size
        if isz < EXT2_REV0_DINODE_SIZE or isz & (isz - 1) or isz > bsize:
            printf("ext2fs: bad inode size %d\n", isz)
            return EINVAL
    ncg = howmany(sb.e2fs_bcount - sb.e2fs_first_dblock, sb.e2fs_bpg)
    if ncg * sb.e2fs_ipg != sb.e2fs_icount:
        printf("ext2fs: inode count %u is not %u groups of %u\n", sb.e2fs_icount, ncg,
               sb.e2fs_ipg)
        return EINVAL
    return 0


def ext2fs_sbfill(m_fs: m_ext2fs) -> int:
    """Compute the in-core fields of ``m_fs`` from its super block."""
    fs = m_fs.e2fs
    m_fs.e2fs_ncg = howmany(fs.e2fs_bcount - fs.e2fs_first_dblock, fs.e2fs_bpg)
    m_fs.k_first_dblock = fs.e2fs_first_dblock  # (kemu's plain copies)
    m_fs.k_bpg = fs.e2fs_bpg
    m_fs.k_fpg = fs.e2fs_fpg
    m_fs.k_bcount = fs.e2fs_bcount
    m_fs.k_rev = fs.e2fs_rev
    m_fs.k_features_incompat = fs.e2fs_features_incompat
    m_fs.k_icount = fs.e2fs_icount
    m_fs.k_rbcount = fs.e2fs_rbcount
    m_fs.e2fs_fsbtodb = fs.e2fs_log_bsize + LOG_MINBSIZE - DEV_BSHIFT
    m_fs.e2fs_bsize = MINBSIZE << fs.e2fs_log_bsize
    m_fs.e2fs_bshift = LOG_MINBSIZE + fs.e2fs_log_bsize
    m_fs.e2fs_qbmask = m_fs.e2fs_bsize - 1
    m_fs.e2fs_bmask = ~m_fs.e2fs_qbmask
    m_fs.e2fs_gdsize = E2FS_REV0_GD_SIZE
    m_fs.e2fs_ngdb = howmany(m_fs.e2fs_ncg, m_fs.e2fs_bsize // m_fs.e2fs_gdsize)
    m_fs.e2fs_ipb = m_fs.e2fs_bsize // EXT2_DINODE_SIZE(m_fs)
    m_fs.e2fs_itpg = fs.e2fs_ipg // m_fs.e2fs_ipb
    if fs.e2fs_ipg % m_fs.e2fs_ipb:
        printf("ext2fs: %u inodes per group do not fill whole blocks\n", fs.e2fs_ipg)
        return EINVAL
    return 0


async def ext2fs_mountfs(devvp: vnode, mp: mount) -> int:
    """Read and check the file system on ``devvp`` and make ``mp`` its mount."""
    ronly = bool(mp.mnt_flag & MNT_RDONLY)
    error = vfs_mountedon(devvp)
    if error:
        return error
    # Nothing of this device may stay cached from before.
    await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
    error = await vinvalbuf(devvp, V_SAVE, NOCRED, None)
    VOP_UNLOCK(devvp)
    if error:
        return error

    error, bp = await bread(devvp, SBLOCK, SBSIZE)
    if error:
        printf("ext2fs: cannot read the super block: error %d\n", error)
        return error
    assert bp is not None
    sb = e2fs_sbload(bp.b_data)
    brelse(bp, BC_INVAL)  # the cache keeps no second copy of it
    error = ext2fs_sbcheck(sb, ronly)
    if error:
        return error

    m_fs = m_ext2fs()
    m_fs.e2fs = sb
    m_fs.e2fs_ronly = int(ronly)
    error = ext2fs_sbfill(m_fs)
    if error:
        return error
    bsize = m_fs.e2fs_bsize

    # The whole file system must be on the device.
    error, bp = await bread(devvp, fsbtodb(m_fs, sb.e2fs_bcount - 1), bsize)
    if error:
        printf("ext2fs: the file system (%u blocks of %d bytes) is larger than its device\n",
               sb.e2fs_bcount, bsize)
        return EINVAL
    assert bp is not None
    brelse(bp, 0)

    # The group descriptors.
    raw = bytearray(m_fs.e2fs_ngdb * bsize)
    for i in range(m_fs.e2fs_ngdb):
        error, bp = await bread(devvp, fsbtodb(m_fs, sb.e2fs_first_dblock + 1 + i), bsize)
        if error:
            printf("ext2fs: cannot read group descriptor block %d: error %d\n", i, error)
            return error
        assert bp is not None
        raw[i * bsize:(i + 1) * bsize] = bp.b_data[:bsize]
        brelse(bp, 0)
    m_fs.e2fs_gdraw = raw
    m_fs.e2fs_gd = e2fs_gd_array(raw, m_fs.e2fs_ncg)
    error = ext2fs_cg_verify(m_fs)
    if error:
        return error
    if not ronly:
        # The counters are the sums of the groups' (Linux recomputes them too).
        m_fs.e2fs.e2fs_fbcount = sum(gd.ext2bgd_nbfree for gd in m_fs.e2fs_gd)
        m_fs.e2fs.e2fs_ficount = sum(gd.ext2bgd_nifree for gd in m_fs.e2fs_gd)

    ump = ufsmount()
    ump.um_e2fs = m_fs
    ump.um_mountp = mp
    ump.um_dev = devvp.v_rdev
    ump.um_devvp = devvp
    ump.um_maxfilesize = ext2fs_maxfilesize(m_fs)
    mp.mnt_data = ump
    mp.mnt_stat.f_fsidx.__fsid_val[0] = devvp.v_rdev & 0xffffffff
    mp.mnt_stat.f_fsidx.__fsid_val[1] = sum(MOUNT_EXT2FS.encode()) & 0xff
    mp.mnt_stat.f_fsid = mp.mnt_stat.f_fsidx.__fsid_val[0]
    mp.mnt_stat.f_namemax = EXT2FS_MAXNAMLEN
    mp.mnt_stat.f_iosize = bsize
    mp.mnt_stat.f_bsize = bsize
    mp.mnt_stat.f_frsize = bsize
    mp.mnt_flag |= MNT_LOCAL
    mp.mnt_dev_bshift = DEV_BSHIFT
    mp.mnt_fs_bshift = m_fs.e2fs_bshift
    if EXT2_HAS_INCOMPAT_FEATURE(m_fs, EXT2F_INCOMPAT_FTYPE):
        mp.mnt_iflag |= IMNT_DTYPE
    # kemu: ext2fs_mount implements read-write to read-only (flushfiles, a clean
    # super block), so it says it can; NetBSD's ext2fs_mountfs (1.193 as read)
    # does not set this, and mount(2) refuses the downgrade there.
    mp.mnt_iflag |= IMNT_CAN_RWTORO
    if devvp.v_specnode is not None:
        spec_node_setmountedfs(devvp, mp)
    if not ronly:
        if m_fs.e2fs.e2fs_state == E2FS_ISCLEAN:
            m_fs.e2fs.e2fs_state = 0
        else:
            m_fs.e2fs.e2fs_state = E2FS_ERRORS
        m_fs.e2fs.e2fs_mnt_count = (m_fs.e2fs.e2fs_mnt_count + 1) & 0xffff
        m_fs.e2fs.e2fs_mtime = time_second()
        m_fs.e2fs_fmod = 1
    error = fstrans_mount(mp)
    if error:
        if devvp.v_specnode is not None:
            spec_node_setmountedfs(devvp, None)
        mp.mnt_data = None
        return error
    return 0


def ext2fs_cg_verify(fs: m_ext2fs) -> int:
    """Do the group descriptors point inside the file system?"""
    first = fs.e2fs.e2fs_first_dblock
    last = fs.e2fs.e2fs_bcount
    for cg in range(fs.e2fs_ncg):
        gd = fs.e2fs_gd[cg]
        what = None
        if not first <= gd.ext2bgd_b_bitmap < last:
            what = "block bitmap"
        elif not first <= gd.ext2bgd_i_bitmap < last:
            what = "inode bitmap"
        elif not first <= gd.ext2bgd_i_tables or gd.ext2bgd_i_tables + fs.e2fs_itpg > last:
            what = "inode table"
        elif gd.ext2bgd_nbfree > fs.e2fs.e2fs_bpg or gd.ext2bgd_nifree > fs.e2fs.e2fs_ipg:
            what = "free count"
        if what is not None:
            printf("ext2fs: group descriptor %d: %s out of range\n", cg, what)
            return EINVAL
    return 0


async def ext2fs_unmount(mp: mount, mntflags: int) -> int:
    """VFS_UNMOUNT: flush every vnode, write the summary, mark the file system clean."""
    flags = FORCECLOSE if mntflags & MNT_FORCE else 0
    error = await ext2fs_flushfiles(mp, flags)
    if error:
        return error
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    devvp = ump.um_devvp
    if not fs.e2fs_ronly:
        if await ext2fs_cgupdate(ump, MNT_WAIT) == 0 and \
                not fs.e2fs.e2fs_state & E2FS_ERRORS:
            fs.e2fs.e2fs_state = E2FS_ISCLEAN
            await ext2fs_sbupdate(ump, MNT_WAIT)
    await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
    await vinvalbuf(devvp, V_SAVE, NOCRED, None)
    if devvp.v_specnode is not None and devvp.v_type == VBLK:
        spec_node_setmountedfs(devvp, None)
    await VOP_CLOSE(devvp, ump.um_openflags or (FREAD if fs.e2fs_ronly else FREAD | FWRITE),
                    NOCRED)
    await vput(devvp)
    mp.mnt_data = None
    mp.mnt_flag &= ~MNT_LOCAL
    return 0


async def ext2fs_flushfiles(mp: mount, flags: int) -> int:
    """Reclaim every vnode of ``mp`` and write the device's dirty buffers."""
    error = await vflush(mp, None, flags)
    if error:
        return error
    ump = VFSTOUFS(mp)
    devvp = ump.um_devvp
    await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
    error = await VOP_FSYNC(devvp, NOCRED, FSYNC_WAIT, 0, 0)
    VOP_UNLOCK(devvp)
    return error


async def ext2fs_root(mp: mount, lktype: int = 0) -> tuple[int, vnode | None]:
    """VFS_ROOT: the root directory, referenced (and locked as ``lktype`` says)."""
    return await ext2fs_vget(mp, EXT2_ROOTINO, lktype)


async def ext2fs_statvfs(mp: mount, sbp: statvfs) -> int:
    """VFS_STATVFS: sizes and free counts, the metadata not counted as blocks."""
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    if fs.e2fs.e2fs_magic != E2FS_MAGIC:
        return EIO
    overhead_per_group = 1 + 1 + fs.e2fs_itpg
    overhead = fs.e2fs.e2fs_first_dblock + fs.e2fs_ncg * overhead_per_group
    ngroups = sum(1 for i in range(fs.e2fs_ncg) if ext2fs_cg_has_sb(fs, i))
    ngdb = fs.e2fs_ngdb
    if EXT2_HAS_COMPAT_FEATURE(fs, EXT2F_COMPAT_RESIZE):
        ngdb += fs.e2fs.e2fs_reserved_ngdb
    overhead += ngroups * (1 + ngdb)
    sbp.f_bsize = fs.e2fs_bsize
    sbp.f_frsize = MINBSIZE << fs.e2fs.e2fs_fsize
    sbp.f_iosize = fs.e2fs_bsize
    sbp.f_blocks = fs.e2fs.e2fs_bcount - overhead
    sbp.f_bfree = fs.e2fs.e2fs_fbcount
    sbp.f_bresvd = fs.e2fs.e2fs_rbcount
    sbp.f_bavail = max(0, sbp.f_bfree - sbp.f_bresvd)
    sbp.f_files = fs.e2fs.e2fs_icount
    sbp.f_ffree = fs.e2fs.e2fs_ficount
    sbp.f_favail = fs.e2fs.e2fs_ficount
    sbp.f_fresvd = 0
    sbp.f_namemax = EXT2FS_MAXNAMLEN
    copy_statvfs_info(sbp, mp)
    return 0


async def ext2fs_sync(mp: mount, waitfor: int, cred: Any) -> int:
    """VFS_SYNC: write every dirty inode and page, the device's buffers and the summary."""
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    if fs.e2fs_ronly:
        if fs.e2fs_fmod:
            printf("fs = %s: modified while read-only\n", fs.e2fs_fsmnt.decode(
                "utf-8", "replace"))
            fs.e2fs_fmod = 0
        return 0
    allerror = 0
    suspended = bool(fstrans_is_owner(mp))
    for vp in list(mp.mnt_vnodelist):
        if vp.v_state != VS_LOADED or vp.v_type == VNON:
            continue
        ip = vp.v_data
        if ip is None:
            continue
        dirty_pages = vp.v_uobj is not None and vp.v_uobj.uo_ndirty > 0
        if not ip.i_flag & (IN_ACCESS | IN_CHANGE | IN_UPDATE | IN_MODIFIED | IN_ACCESSED) \
                and not dirty_pages:
            continue
        await mutex_enter(vp.v_interlock)
        if await vcache_vget(vp):
            continue
        locked = True
        error = await vn_lock(vp, LK_EXCLUSIVE | LK_NOWAIT)
        if error and waitfor != MNT_LAZY:
            if suspended:
                # The holder of this lock waits for the suspension to end
                # before it changes anything (no transaction of it is open):
                # the inode and its pages can be written without the lock.
                locked = False
                error = 0
            else:
                error = await vn_lock(vp, LK_EXCLUSIVE)
        if error:
            await vrele(vp)
            continue
        if vp.v_data is not None:
            error = await ext2fs_fsync_vnode(vp, FSYNC_WAIT if waitfor == MNT_WAIT else 0)
            if error:
                allerror = error
        if locked:
            await vput(vp)
        else:
            await vrele(vp)
    # The device: bitmaps, inode tables, directories, indirect blocks.
    devvp = ump.um_devvp
    if waitfor != MNT_LAZY:
        await vn_lock(devvp, LK_EXCLUSIVE | LK_RETRY)
        error = await VOP_FSYNC(devvp, cred, FSYNC_WAIT if waitfor == MNT_WAIT else 0, 0, 0)
        VOP_UNLOCK(devvp)
        if error:
            allerror = error
    if fs.e2fs_fmod:
        fs.e2fs_fmod = 0
        fs.e2fs.e2fs_wtime = time_second()
        error = await ext2fs_cgupdate(ump, waitfor)
        if error:
            allerror = error
    return allerror


async def ext2fs_vget(mp: mount, ino: int, lktype: int) -> tuple[int, vnode | None]:
    """VFS_VGET: the vnode of inode ``ino``, referenced (locked as ``lktype`` says)."""
    error, vp = await vcache_get(mp, ino)
    if error:
        return error, None
    assert vp is not None
    if lktype:
        error = await vn_lock(vp, lktype)
        if error:
            await vrele(vp)
            return error, None
    return 0, vp


def _inode_init(mp: mount, ino: int) -> inode:
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    ip = inode(EXT2_DINODE_SIZE(fs))
    ip.i_number = ino
    ip.i_e2fs = fs
    ip.i_ump = ump
    ip.i_dev = ump.um_dev
    ip.i_devvp = ump.um_devvp
    return ip


def ext2fs_vinit(mp: mount, vp: vnode, ip: inode) -> None:
    """Give the vnode its type, operations and page cache (ext2fs_vinit)."""
    vp.v_type = IFTOVT(ip.i_e2fs_mode)
    if vp.v_type in (VBLK, VCHR):
        vp.v_op = ext2fs_specop_p
        spec_node_init(vp, ext2fs_getrdev(ip))
    elif vp.v_type in (VFIFO, VSOCK):
        vp.v_op = ext2fs_fifoop_p
    else:
        vp.v_op = ext2fs_vnodeop_p
    if ip.i_number == EXT2_ROOTINO:
        vp.v_vflag |= VV_ROOT
    vp.v_tag = UFS_EXT2FS
    vp.v_data = ip
    ip.i_vnode = vp
    genfs_node_init(vp, ext2fs_genfsops)


async def ext2fs_loadvnode(mp: mount, vp: vnode, key: Any) -> tuple[int, Any]:
    """VFS_LOADVNODE: read inode ``key`` and make ``vp`` its vnode.

    An inode that is not in use, or whose fields make no sense (mode, size,
    features this implementation does not have), is EIO with a message.
    """
    ino = int(key)
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    if ino < 1 or ino > fs.e2fs.e2fs_icount:
        printf("%s: inode number %llu out of range\n", ext2fs_mpname(mp), ino)
        return EIO, None
    error, bp = await bread(ump.um_devvp, fsbtodb(fs, ino_to_fsba(fs, ino)), fs.e2fs_bsize)
    if error:
        return error, None
    assert bp is not None
    ip = _inode_init(mp, ino)
    isize = EXT2_DINODE_SIZE(fs)
    off = ino_to_fsbo(fs, ino) * isize
    ip.i_din[:isize] = bp.b_data[off:off + isize]
    brelse(bp, 0)
    if isize > EXT2_REV0_DINODE_SIZE and \
            ip.i_e2din.e2di_extra_isize > isize - EXT2_REV0_DINODE_SIZE:
        ip.i_e2din.e2di_extra_isize = 0  # nonsense: ignore the extra fields
    uid = ip.i_e2fs_uid | (ip.i_e2fs_uid_high << 16 if fs.e2fs.e2fs_rev > E2FS_REV0 else 0)
    gid = ip.i_e2fs_gid | (ip.i_e2fs_gid_high << 16 if fs.e2fs.e2fs_rev > E2FS_REV0 else 0)
    ip.i_uid, ip.i_gid = uid, gid

    why = None
    mode = ip.i_e2fs_mode
    if mode == 0 or ip.i_e2fs_dtime != 0 or (ip.i_e2fs_nlink == 0 and ino != EXT2_ROOTINO
                                             and ino >= EXT2_FIRSTINO):
        why = "is not in use"
    elif IFTOVT(mode) == VNON:
        why = f"has a bad mode 0{mode:o}"
    elif ip.i_e2fs_flags & (EXT2_EXTENTS | EXT2_INLINE_DATA):
        why = "uses extents or inline data"
    elif ext2fs_size(ip) > ump.um_maxfilesize:
        why = "has a bad size"
    elif (mode & EXT2_IFMT) == EXT2_IFDIR and (ext2fs_size(ip) % fs.e2fs_bsize or
                                               ext2fs_size(ip) == 0):
        why = f"is a directory of bad size {ext2fs_size(ip)}"
    elif ext2fs_nblock(ip) > fs.e2fs.e2fs_bcount * (fs.e2fs_bsize // 512):
        why = "holds more blocks than the file system"
    if why is not None:
        printf("%s: inode %llu %s\n", ext2fs_mpname(mp), ino, why)
        return EIO, None
    ip.i_modrev = time_second() << 32
    ext2fs_vinit(mp, vp, ip)
    await uvm_vnp_setsize(vp, ext2fs_size(ip))
    return 0, ino


async def ext2fs_newvnode(mp: mount, dvp: vnode | None, vp: vnode, vap: vattr, cred: Any,
                          extra: Any) -> tuple[int, Any]:
    """VFS_NEWVNODE: allocate an inode for a new file of ``vap``'s type in ``dvp``."""
    assert dvp is not None
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    pdir = VTOI(dvp)
    mode = MAKEIMODE(vap.va_type, vap.va_mode & 0o7777 if vap.va_mode != VNOVAL else 0)
    error, ino = await ext2fs_valloc(dvp, mode, cred)
    if error:
        return error, None
    # ext2fs_init_vnode: the inode as the disk (or the cache) has it.
    error, bp = await bread(ump.um_devvp, fsbtodb(fs, ino_to_fsba(fs, ino)), fs.e2fs_bsize)
    if error:
        await ext2fs_vfree(dvp, ino, mode)
        return error, None
    assert bp is not None
    ip = _inode_init(mp, ino)
    isize = EXT2_DINODE_SIZE(fs)
    off = ino_to_fsbo(fs, ino) * isize
    ip.i_din[:isize] = bp.b_data[off:off + isize]
    brelse(bp, 0)
    # An inode the bitmap called free but that is in use (its bitmap's
    # write was lost, say): NetBSD's check for an already used inode.
    if ip.i_e2fs_mode and ip.i_e2fs_nlink != 0:
        printf("mode = 0%o, nlinks %d, inum = %llu, fs = %s\n", ip.i_e2fs_mode,
               ip.i_e2fs_nlink, ino, fs.e2fs_fsmnt.decode("utf-8", "replace"))
        panic("ext2fs_valloc: dup alloc")
    ip.i_din[:isize] = bytes(isize)
    if isize > EXT2_REV0_DINODE_SIZE:
        want = fs.e2fs.e4fs_want_extra_isize or (EXT2_DINODE_MAXSIZE - EXT2_REV0_DINODE_SIZE)
        ip.i_e2din.e2di_extra_isize = min(want, isize - EXT2_REV0_DINODE_SIZE,
                                          EXT2_DINODE_MAXSIZE - EXT2_REV0_DINODE_SIZE)
    # A new generation number for NFS-style handles.
    gen = ump.ext2gennumber + 1
    if gen < time_second():
        gen = time_second()
    ump.ext2gennumber = gen
    ip.i_e2fs_gen = gen & 0xffffffff
    if cred is None or cred.cr_internal:  # NOCRED, FSCRED
        ext2fs_set_inode_guid(ip, 0, 0)
    else:
        ext2fs_set_inode_guid(ip, kauth_cred_geteuid(cred), pdir.i_gid)
    ip.i_e2fs_mode = mode
    if vap.va_type in (VBLK, VCHR) and vap.va_rdev != VNOVAL:
        ext2fs_setrdev(ip, vap.va_rdev)
    ip.i_flag |= IN_ACCESS | IN_CHANGE | IN_UPDATE
    now = timespec()
    vfs_timestamp(now)
    EXT2FS_ITIMES(ip, None, None, now)
    ext2fs_vinit(mp, vp, ip)
    await uvm_vnp_setsize(vp, ext2fs_size(ip))
    return 0, ino


async def ext2fs_fhtovp(mp: mount, fhp: Any, lktype: int) -> tuple[int, vnode | None]:
    """VFS_FHTOVP: the vnode of a file handle; ESTALE if the file went away."""
    try:
        raw = bytes(fhp)
    except TypeError:
        return EINVAL, None
    if len(raw) < ctypes.sizeof(ufid):
        return EINVAL, None
    ufhp = ufid.from_buffer_copy(raw[:ctypes.sizeof(ufid)])
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    if ufhp.ufid_len != ctypes.sizeof(ufid):
        return EINVAL, None
    if (ufhp.ufid_ino < EXT2_FIRSTINO and ufhp.ufid_ino != EXT2_ROOTINO) or \
            ufhp.ufid_ino > fs.e2fs.e2fs_icount:
        return ESTALE, None
    error, vp = await vcache_get(mp, ufhp.ufid_ino)
    if error:
        return (ESTALE if error == EIO else error), None
    assert vp is not None
    ip = VTOI(vp)
    if ip.i_e2fs_mode == 0 or ip.i_e2fs_dtime != 0 or \
            ip.i_e2fs_gen != (ufhp.ufid_gen & 0xffffffff):
        await vrele(vp)
        return ESTALE, None
    if lktype:
        error = await vn_lock(vp, lktype)
        if error:
            await vrele(vp)
            return error, None
    return 0, vp


async def ext2fs_vptofh(vp: vnode, fhp: Any, fh_size: int) -> tuple[int, int]:
    """VFS_VPTOFH: write ``vp``'s handle into ``fhp``; E2BIG (and the size needed) if small."""
    need = ctypes.sizeof(ufid)
    if fh_size < need:
        return E2BIG, need
    ip = VTOI(vp)
    fh = ufid()
    fh.ufid_len = need
    fh.ufid_ino = ip.i_number
    fh.ufid_gen = ctypes.c_int32(ip.i_e2fs_gen).value
    if isinstance(fhp, (bytearray, memoryview)):
        fhp[:need] = bytes(fh)
    elif fhp is not None:
        ctypes.memmove(ctypes.addressof(fhp), bytes(fh), need)
    return 0, need


async def ext2fs_sbupdate(ump: ufsmount, waitfor: int) -> int:
    """Write the super block: synchronously with MNT_WAIT, else started (bawrite)."""
    fs = ump.um_e2fs
    bp = await getblk(ump.um_devvp, SBLOCK, SBSIZE)
    bp.b_data[:SBSIZE] = bytes(fs.e2fs)
    if waitfor == MNT_WAIT:
        return await bwrite(bp)
    await bawrite(bp)
    return 0


async def ext2fs_cgupdate(ump: ufsmount, waitfor: int) -> int:
    """Write the super block and the group descriptor blocks."""
    fs = ump.um_e2fs
    allerror = await ext2fs_sbupdate(ump, waitfor)
    bsize = fs.e2fs_bsize
    for i in range(fs.e2fs_ngdb):
        bp = await getblk(ump.um_devvp, fsbtodb(fs, fs.e2fs.e2fs_first_dblock + 1 + i), bsize)
        bp.b_data[:bsize] = fs.e2fs_gdraw[i * bsize:(i + 1) * bsize]
        if waitfor == MNT_WAIT:
            error = await bwrite(bp)
        else:
            await bawrite(bp)
            error = 0
        if error:
            allerror = error
    return allerror


async def ext2fs_snapshot(mp: mount, vp: vnode) -> tuple[int, Any]:
    """VFS_SNAPSHOT: ext2fs has no persistent snapshots."""
    return EOPNOTSUPP, None


def ext2fs_init() -> None:
    pass


def ext2fs_done() -> None:
    pass


ext2fs_vfsops = vfsops(
    MOUNT_EXT2FS,
    vfs_min_mount_data=ctypes.sizeof(ufs_args),
    vfs_mount=ext2fs_mount,
    vfs_unmount=ext2fs_unmount,
    vfs_root=ext2fs_root,
    vfs_statvfs=ext2fs_statvfs,
    vfs_sync=ext2fs_sync,
    vfs_vget=ext2fs_vget,
    vfs_loadvnode=ext2fs_loadvnode,
    vfs_newvnode=ext2fs_newvnode,
    vfs_fhtovp=ext2fs_fhtovp,
    vfs_vptofh=ext2fs_vptofh,
    vfs_init=ext2fs_init,
    vfs_done=ext2fs_done,
    vfs_snapshot=ext2fs_snapshot,
    vfs_suspendctl=genfs_suspendctl,
    vfs_opv_descs=(ext2fs_vnodeop_opv_desc, ext2fs_specop_opv_desc, ext2fs_fifoop_opv_desc),
)


async def ext2fs_modcmd(cmd: int, arg: Any) -> int:
    """The module command: attach the file system type at INIT, detach it at FINI."""
    if cmd == MODULE_CMD_INIT:
        return vfs_attach(ext2fs_vfsops)
    if cmd == MODULE_CMD_FINI:
        return vfs_detach(ext2fs_vfsops)
    return ENOTTY
