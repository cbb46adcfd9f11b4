"""ext2fs vnode operations (ufs/ext2fs/ext2fs_vnops.c, with the ufs_vnops.c parts it uses).

The operation vectors at the end: ``ext2fs_vnodeop_p`` for regular
files, directories and symlinks, ``ext2fs_specop_p`` for device nodes
(specfs plus the inode's attributes) and ``ext2fs_fifoop_p`` for fifos and
sockets (attributes only: kemu has no fifofs).

Locking follows vnode_if's NetBSD 8 protocols (see vfs.vnode_if).

Compared against ``$NetBSD: ext2fs_vnops.c,v 1.107 2013/03/18 plunky$``
(the stored revision nearest NetBSD 8) for the operations' checks and
errnos, with NetBSD 8's vcache_new-based creation and VOP protocols.
Notices in LICENSE.NetBSD.

Deviations:

* Permission decisions (access, setattr's flags/owner/times, chmod,
  chown, sticky) are coded as the superuser/owner/group rules instead of
  kauth_authorize_vnode with genfs_can_*; VADMIN is "owner or superuser".
* Directory entries are changed by ext2fs_direnter/dirremove searching
  for the name (no ufs_lookup_results, see ext2fs_lookup); remove, link,
  mkdir, rmdir and symlink also answer EROFS themselves.
* ``ext2fs_mkdir`` writes the "."/".." block with ext2fs_balloc and a
  delayed write (NetBSD: vn_rdwr with IO_SYNC); ``ext2fs_symlink`` writes
  a long target the same way (NetBSD: vn_rdwr) and refuses a target of
  MAXPATHLEN bytes or more with ENAMETOOLONG.  On a failed create the
  new vnode is not set to VNON before vput.
* ``ext2fs_getattr`` gives va_rdev -1 for non-device files and the
  birth time from e2di_crtime; link limits use EXT2FS_LINK_MAX (32000).
* ``ext2fs_readlink`` reads a slow link through ext2fs_bufrd and answers
  EIO (with a console message) for a size that cannot be right.
* ``ext2fs_strategy`` on a hole: a read gets zeros, a write EIO.
* ``ext2fs_fsync`` with FSYNC_WAIT flushes every dirty buffer of the
  device vnode (where the file's metadata is cached), not only the file's;
  no DIOCCACHESYNC for FSYNC_CACHE.
* ``ext2fs_advlock`` is EOPNOTSUPP (no lf_advlock byte-range locks);
  ``ext2fs_pathconf`` answers from kemu's table; there is no fifofs.
* ``ext2fs_reclaim`` frees the inode of a file without links itself
  (ext2fs_vfree) after flushing its pages.
* ``ext2fs_fsync_vnode``'s v_interlock mutex_enter passes a ``lock_site``
  kept at module level for that call (kern_mutex's ``at``, kemu's):
  lockdebug's site is looked up once, not with a frame lookup at every
  call; the same sites and reports.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.conf import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from kern.errno import (
    EBUSY,
    EFTYPE,
    EINVAL,
    EIO,
    EISDIR,
    EMLINK,
    ENAMETOOLONG,
    ENOTDIR,
    ENOTEMPTY,
    ENOTTY,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    EXDEV,
)
from kern.fcntl import FWRITE, O_APPEND
from kern.kern_auth import (
    kauth_cred_geteuid,
    kauth_cred_groupmember,
    kauth_cred_issuser,
)
from kern.kern_mutex import lock_site, mutex_enter
from kern.kern_time import timespec
from kern.subr_prf import panic, printf
from kern.subr_uio import uiomove
from kern.types_dev import major, makedev, minor
from vfs import vnode_if as vi
from vfs.buf import B_READ
from vfs.genfs_io import (
    PGO_ALLPAGES,
    PGO_CLEANIT,
    PGO_FREE,
    PGO_SYNCIO,
    genfs_getpages,
    genfs_node_destroy,
    genfs_putpages,
    uvm_vnp_setsize,
)
from vfs.genfs_vnops import genfs_abortop
from vfs.mount import MNT_NOATIME, MNT_RDONLY
from vfs.namei_h import MAXPATHLEN
from vfs.spec_vnops import spec_fsync, spec_node_destroy, spec_vnodeop_entries
from vfs.stat import (
    ALLPERMS,
    S_ISGID,
    S_ISTXT,
    S_ISUID,
    SF_APPEND,
    SF_IMMUTABLE,
    UF_APPEND,
    UF_IMMUTABLE,
    UF_NODUMP,
)
from vfs.vfs_bio import bdwrite, biodone, vflushbuf
from vfs.vfs_vnops import (
    _PC_CHOWN_RESTRICTED,
    _PC_FILESIZEBITS,
    _PC_LINK_MAX,
    _PC_NAME_MAX,
    _PC_NO_TRUNC,
    _PC_PATH_MAX,
    _PC_PIPE_BUF,
    _PC_SYNC_IO,
    vaccess,
    vttoif,
)
from vfs.vnode import (
    FSYNC_DATAONLY,
    FSYNC_WAIT,
    LK_EXCLUSIVE,
    LK_RETRY,
    VA_UTIMES_NULL,
    VADMIN,
    VAPPEND,
    VBLK,
    VCHR,
    VDIR,
    VEXEC,
    VFIFO,
    VLNK,
    VNON,
    VNOVAL,
    VREAD,
    VREG,
    VSOCK,
    VWRITE,
    genfs_islocked,
    genfs_lock,
    genfs_unlock,
    vcache_new,
    vn_lock,
    vput,
    vrele,
)
from vfs.vnode_if import VOP_ACCESS, VOP_BMAP, VOP_PUTPAGES, VOP_STRATEGY, VOP_UNLOCK

from .ext2fs_alloc import ext2fs_nblock, ext2fs_vfree
from .ext2fs_balloc import B_CLRBUF, ext2fs_balloc
from .ext2fs_bmap import ext2fs_bmap
from .ext2fs_dinode import (
    EXT2_APPEND,
    EXT2_DINODE_FITS,
    EXT2_DINODE_TIME_GET,
    EXT2_IMMUTABLE,
    EXT2_MAXSYMLINKLEN,
    EXT2_NODUMP,
    EXT2_ROOTINO,
)
from .ext2fs_dir import EXT2_FT_DIR, EXT2FS_LINK_MAX, EXT2FS_MAXNAMLEN, ext2fs_dirtemplate
from .ext2fs_inode import (
    ext2fs_inactive,
    ext2fs_isfastlink,
    ext2fs_setsize,
    ext2fs_size,
    ext2fs_truncate,
    ext2fs_update,
)
from .ext2fs_lookup import (
    _has_ftype,
    ext2fs_dirempty,
    ext2fs_direnter,
    ext2fs_dirremove,
    ext2fs_lookup,
    ext2fs_readdir,
)
from .ext2fs_readwrite import ext2fs_bufrd, ext2fs_read, ext2fs_write
from .ext2fs_rename import ext2fs_rename
from .ext2fs_subr import EXT2FS_ITIMES
from .ufs_inode import (
    IN_ACCESS,
    IN_CHANGE,
    IN_UPDATE,
    UPDATE_DIROP,
    UPDATE_WAIT,
    VTOI,
    inode,
)

# pathconf names (sys/unistd.h) that vfs_vnops does not list
_PC_SYMLINK_MAX = 12
_PC_2_SYMLINKS = 13


def MAKEIMODE(indx: int, mode: int) -> int:
    return vttoif(indx) | mode


def IFTOVT(mode: int) -> int:
    return {0o010000: VFIFO, 0o020000: VCHR, 0o040000: VDIR, 0o060000: VBLK,
            0o100000: VREG, 0o120000: VLNK, 0o140000: VSOCK}.get(mode & 0o170000, VNON)


def _ronly(vp: Any) -> bool:
    return vp.v_mount is not None and bool(vp.v_mount.mnt_flag & MNT_RDONLY)


def _ts(t: Any) -> timespec | None:
    """A vattr time ((sec, nsec), a timespec, or VNOVAL) as a timespec."""
    if t is None or t == VNOVAL:
        return None
    if isinstance(t, timespec):
        return t
    sec, nsec = t
    if sec == VNOVAL:
        return None
    ts = timespec()
    ts.tv_sec, ts.tv_nsec = int(sec), int(nsec)
    return ts


# ------------------------------------------------------------------ rdev

def ext2fs_getrdev(ip: inode) -> int:
    """The device number of a device inode (the Linux encodings: old 16-bit, new 32-bit)."""
    b0 = ip.i_e2fs_blocks[0]
    if b0:
        return makedev((b0 >> 8) & 0xff, b0 & 0xff)
    b1 = ip.i_e2fs_blocks[1]
    return makedev((b1 & 0xfff00) >> 8, (b1 & 0xff) | ((b1 >> 12) & 0xfff00))


def ext2fs_setrdev(ip: inode, dev: int) -> None:
    ma, mi = major(dev), minor(dev)
    if ma < 256 and mi < 256:
        ip.i_e2fs_blocks[0] = (ma << 8) | mi
        ip.i_e2fs_blocks[1] = 0
    else:
        ip.i_e2fs_blocks[0] = 0
        ip.i_e2fs_blocks[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xff) << 12)


# ------------------------------------------------------------------ create

async def ext2fs_makeinode(vap: Any, dvp: Any, cnp: Any) -> tuple[int, Any]:
    """-> (error, vp): a new inode named by ``cnp`` in ``dvp``; ``vp`` locked and referenced."""
    if _ronly(dvp):
        return EROFS, None
    error, tvp = await vcache_new(dvp.v_mount, dvp, vap, cnp.cn_cred, None)
    if error:
        return error, None
    assert tvp is not None
    await vn_lock(tvp, LK_EXCLUSIVE | LK_RETRY)
    ip = VTOI(tvp)
    ip.i_e2fs_nlink = 1
    # A file made in a group the creator is not in loses set-group-id.
    if ip.i_e2fs_mode & S_ISGID and not kauth_cred_groupmember(cnp.cn_cred, ip.i_gid) and \
            not kauth_cred_issuser(cnp.cn_cred):
        ip.i_e2fs_mode &= ~S_ISGID
    error = await ext2fs_update(tvp, None, None, UPDATE_WAIT)
    if error == 0:
        error = await ext2fs_direnter(ip, dvp, cnp)
    if error:
        ip.i_e2fs_nlink = 0
        ip.i_flag |= IN_CHANGE
        await vput(tvp)
        return error, None
    return 0, tvp


async def ext2fs_create(v: Any) -> int:
    """VOP_CREATE (v3): ``a_dvp`` stays locked; ``*a_vpp`` referenced, unlocked."""
    ap = v
    ap.a_vpp[0] = None
    error, vp = await ext2fs_makeinode(ap.a_vap, ap.a_dvp, ap.a_cnp)
    if error:
        return error
    VOP_UNLOCK(vp)
    ap.a_vpp[0] = vp
    return 0


async def ext2fs_mknod(v: Any) -> int:
    """VOP_MKNOD (v3): device nodes, fifos and sockets."""
    ap = v
    ap.a_vpp[0] = None
    vap = ap.a_vap
    if vap.va_type not in (VBLK, VCHR, VFIFO, VSOCK, VREG):
        return EINVAL
    error, vp = await ext2fs_makeinode(vap, ap.a_dvp, ap.a_cnp)
    if error:
        return error
    ip = VTOI(vp)
    ip.i_flag |= IN_ACCESS | IN_CHANGE | IN_UPDATE
    VOP_UNLOCK(vp)
    ap.a_vpp[0] = vp
    return 0


async def ext2fs_open(v: Any) -> int:
    """VOP_OPEN: an append-only file opens for writing only with O_APPEND."""
    ap = v
    ip = VTOI(ap.a_vp)
    if ip.i_e2fs_flags & EXT2_APPEND and (ap.a_mode & (FWRITE | O_APPEND)) == FWRITE:
        return EPERM
    return 0


async def ext2fs_close(v: Any) -> int:
    vp = v.a_vp
    ip = VTOI(vp)
    if ip is not None and vp.v_usecount > 1:
        EXT2FS_ITIMES(ip)
    return 0


async def ext2fs_access(v: Any) -> int:
    """VOP_ACCESS: EROFS for writing on a read-only mount, EPERM on immutable files,
    then the owner/group/other bits (root passes)."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    mode = ap.a_mode
    if mode & (VWRITE | VAPPEND):
        if vp.v_type in (VDIR, VLNK, VREG) and _ronly(vp):
            return EROFS
        if ip.i_e2fs_flags & EXT2_IMMUTABLE:
            return EPERM
    cred = ap.a_cred
    if mode & VADMIN:
        if not kauth_cred_issuser(cred) and kauth_cred_geteuid(cred) != ip.i_uid:
            return EPERM
    acc = mode & (VREAD | VWRITE | VEXEC)
    if mode & VAPPEND:
        acc |= VWRITE
    if acc == 0:
        return 0
    return vaccess(vp.v_type, ip.i_e2fs_mode & ALLPERMS, ip.i_uid, ip.i_gid, acc, cred)


def _time(ip: inode, sec: str, extra: str) -> tuple[int, int]:
    din = ip.i_e2din
    x = getattr(din, extra) if EXT2_DINODE_FITS(din, extra, ip.i_isize) else None
    return EXT2_DINODE_TIME_GET(getattr(din, sec), x)


async def ext2fs_getattr(v: Any) -> int:
    """VOP_GETATTR."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    vap = ap.a_vap
    fs = ip.i_e2fs
    assert fs is not None
    EXT2FS_ITIMES(ip)
    vap.va_fsid = ip.i_dev
    vap.va_fileid = ip.i_number
    vap.va_mode = ip.i_e2fs_mode & ALLPERMS
    vap.va_nlink = ip.i_e2fs_nlink
    vap.va_uid = ip.i_uid
    vap.va_gid = ip.i_gid
    vap.va_rdev = ext2fs_getrdev(ip) if vp.v_type in (VBLK, VCHR) else -1
    vap.va_size = ext2fs_size(ip)
    vap.va_atime = _time(ip, "e2di_atime", "e2di_atime_extra")
    vap.va_mtime = _time(ip, "e2di_mtime", "e2di_mtime_extra")
    vap.va_ctime = _time(ip, "e2di_ctime", "e2di_ctime_extra")
    if EXT2_DINODE_FITS(ip.i_e2din, "e2di_crtime_extra", ip.i_isize) and ip.i_e2din.e2di_crtime:
        vap.va_birthtime = _time(ip, "e2di_crtime", "e2di_crtime_extra")
    else:
        vap.va_birthtime = (0, 0)
    flags = 0
    if ip.i_e2fs_flags & EXT2_APPEND:
        flags |= SF_APPEND
    if ip.i_e2fs_flags & EXT2_IMMUTABLE:
        flags |= SF_IMMUTABLE
    if ip.i_e2fs_flags & EXT2_NODUMP:
        flags |= UF_NODUMP
    vap.va_flags = flags
    vap.va_gen = ip.i_e2fs_gen
    vap.va_blocksize = fs.e2fs_bsize
    vap.va_bytes = ext2fs_nblock(ip) * 512
    vap.va_type = vp.v_type
    vap.va_filerev = ip.i_modrev
    vap.va_vaflags = 0
    return 0


async def ext2fs_setattr(v: Any) -> int:
    """VOP_SETATTR: flags, owner, size, times, mode (each only if given)."""
    ap = v
    vp = ap.a_vp
    vap = ap.a_vap
    cred = ap.a_cred
    ip = VTOI(vp)
    if vap.va_type != VNON or vap.va_nlink != VNOVAL or vap.va_fsid != VNOVAL or \
            vap.va_fileid != VNOVAL or vap.va_blocksize != VNOVAL or \
            vap.va_rdev != VNOVAL or vap.va_bytes != VNOVAL or vap.va_gen != VNOVAL:
        return EINVAL
    issuser = kauth_cred_issuser(cred)
    if vap.va_flags != VNOVAL:
        if _ronly(vp):
            return EROFS
        if kauth_cred_geteuid(cred) != ip.i_uid and not issuser:
            return EPERM
        sysflags = ip.i_e2fs_flags & (EXT2_APPEND | EXT2_IMMUTABLE)
        if not issuser and (sysflags or vap.va_flags & (SF_APPEND | SF_IMMUTABLE)):
            return EPERM
        f = ip.i_e2fs_flags & ~(EXT2_APPEND | EXT2_IMMUTABLE | EXT2_NODUMP)
        if vap.va_flags & (SF_APPEND | UF_APPEND):
            f |= EXT2_APPEND
        if vap.va_flags & (SF_IMMUTABLE | UF_IMMUTABLE):
            f |= EXT2_IMMUTABLE
        if vap.va_flags & UF_NODUMP:
            f |= EXT2_NODUMP
        ip.i_e2fs_flags = f
        ip.i_flag |= IN_CHANGE
        if vap.va_flags & (SF_APPEND | SF_IMMUTABLE | UF_APPEND | UF_IMMUTABLE):
            return await ext2fs_update(vp, None, None, 0)
    if ip.i_e2fs_flags & (EXT2_APPEND | EXT2_IMMUTABLE):
        return EPERM
    if vap.va_uid != VNOVAL or vap.va_gid != VNOVAL:
        if _ronly(vp):
            return EROFS
        error = await ext2fs_chown(vp, vap.va_uid, vap.va_gid, cred)
        if error:
            return error
    if vap.va_size != VNOVAL:
        if vp.v_type == VDIR:
            return EISDIR
        if vp.v_type in (VLNK, VREG) and _ronly(vp):
            return EROFS
        if vp.v_type in (VREG, VLNK):
            error = await ext2fs_truncate(vp, vap.va_size, 0, cred)
            if error:
                return error
    atime, mtime, btime = _ts(vap.va_atime), _ts(vap.va_mtime), _ts(vap.va_birthtime)
    if atime is not None or mtime is not None or btime is not None:
        if _ronly(vp):
            return EROFS
        owner = issuser or kauth_cred_geteuid(cred) == ip.i_uid
        if not owner:
            if not vap.va_vaflags & VA_UTIMES_NULL:
                return EPERM
            error = await VOP_ACCESS(vp, VWRITE, cred)
            if error:
                return error
        if atime is not None and not vp.v_mount.mnt_flag & MNT_NOATIME:
            ip.i_flag |= IN_ACCESS
        if mtime is not None:
            ip.i_flag |= IN_CHANGE | IN_UPDATE
        EXT2FS_ITIMES(ip, atime, mtime, btime)
        error = await ext2fs_update(vp, None, None, UPDATE_WAIT)
        if error:
            return error
    if vap.va_mode != VNOVAL:
        if _ronly(vp):
            return EROFS
        error = ext2fs_chmod(vp, vap.va_mode, cred)
        if error:
            return error
    return 0


def ext2fs_chmod(vp: Any, mode: int, cred: Any) -> int:
    ip = VTOI(vp)
    if not kauth_cred_issuser(cred):
        if kauth_cred_geteuid(cred) != ip.i_uid:
            return EPERM
        if vp.v_type != VDIR and mode & S_ISTXT:
            return EFTYPE
        if not kauth_cred_groupmember(cred, ip.i_gid) and mode & S_ISGID:
            return EPERM
    ip.i_e2fs_mode = (ip.i_e2fs_mode & ~ALLPERMS) | (mode & ALLPERMS)
    ip.i_flag |= IN_CHANGE
    return 0


async def ext2fs_chown(vp: Any, uid: int, gid: int, cred: Any) -> int:
    ip = VTOI(vp)
    if uid == VNOVAL:
        uid = ip.i_uid
    if gid == VNOVAL:
        gid = ip.i_gid
    issuser = kauth_cred_issuser(cred)
    if not issuser:
        if kauth_cred_geteuid(cred) != ip.i_uid or uid != ip.i_uid or \
                (gid != ip.i_gid and not kauth_cred_groupmember(cred, gid)):
            return EPERM
    ouid, ogid = ip.i_uid, ip.i_gid
    ext2fs_set_inode_guid(ip, uid, gid)
    if (ouid != uid or ogid != gid) and not issuser:
        ip.i_e2fs_mode &= ~(S_ISUID | S_ISGID)
    ip.i_flag |= IN_CHANGE
    return 0


def ext2fs_set_inode_guid(ip: inode, uid: int, gid: int) -> None:
    """Set owner and group in the in-core inode and in their ext2 halves."""
    ip.i_uid = uid
    ip.i_gid = gid
    ip.i_e2fs_uid = uid & 0xffff
    ip.i_e2fs_gid = gid & 0xffff
    fs = ip.i_e2fs
    if fs is not None and fs.e2fs.e2fs_rev > 0:
        ip.i_e2fs_uid_high = (uid >> 16) & 0xffff
        ip.i_e2fs_gid_high = (gid >> 16) & 0xffff


_fsync_vnode_site = lock_site()


async def ext2fs_fsync_vnode(vp: Any, flags: int) -> int:
    """Write a vnode's dirty pages and inode (its metadata buffers stay in the cache)."""
    error = 0
    if vp.v_type == VREG and vp.v_uobj is not None and vp.v_uobj.uo_ndirty:
        await mutex_enter(vp.v_interlock, at=_fsync_vnode_site)
        error = await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_ALLPAGES |
                                   (PGO_SYNCIO if flags & FSYNC_WAIT else 0))
    if error == 0 and not flags & FSYNC_DATAONLY and not _ronly(vp):
        error = await ext2fs_update(vp, None, None, UPDATE_WAIT if flags & FSYNC_WAIT else 0)
    return error


async def ext2fs_fsync(v: Any) -> int:
    """VOP_FSYNC: pages, inode, then the device's dirty buffers (the file's metadata)."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    error = await ext2fs_fsync_vnode(vp, ap.a_flags)
    if error == 0 and ap.a_flags & FSYNC_WAIT and not _ronly(vp) and ip.i_devvp is not None:
        error = await vflushbuf(ip.i_devvp, 0)
    return error


async def ext2fs_spec_fsync(v: Any) -> int:
    error = await spec_fsync(v)
    if error == 0 and not _ronly(v.a_vp):
        error = await ext2fs_update(v.a_vp, None, None,
                                    UPDATE_WAIT if v.a_flags & FSYNC_WAIT else 0)
    return error


async def ext2fs_remove(v: Any) -> int:
    """VOP_REMOVE (v2): ``a_dvp`` stays locked, ``a_vp`` locked and released here."""
    ap = v
    vp, dvp, cnp = ap.a_vp, ap.a_dvp, ap.a_cnp
    ip = VTOI(vp)
    if vp.v_type == VDIR or ip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND) or \
            VTOI(dvp).i_e2fs_flags & EXT2_APPEND:
        error = EPERM
    elif _ronly(dvp):
        error = EROFS
    else:
        error = await ext2fs_dirremove(dvp, cnp, ip.i_number)
        if error == 0:
            ip.i_e2fs_nlink -= 1
            ip.i_flag |= IN_CHANGE
    if dvp is vp:
        await vrele(vp)
    else:
        await vput(vp)
    return error


async def ext2fs_link(v: Any) -> int:
    """VOP_LINK (v2): ``a_dvp`` stays locked; ``a_vp`` unlocked (locked here for the change)."""
    ap = v
    dvp, vp, cnp = ap.a_dvp, ap.a_vp, ap.a_cnp
    if dvp.v_mount is not vp.v_mount:
        return EXDEV
    if vp.v_type == VDIR:
        return EPERM
    if _ronly(dvp):
        return EROFS
    error = await vn_lock(vp, LK_EXCLUSIVE)
    if error:
        return error
    ip = VTOI(vp)
    if ip.i_e2fs_nlink >= EXT2FS_LINK_MAX:
        VOP_UNLOCK(vp)
        return EMLINK
    if ip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND):
        VOP_UNLOCK(vp)
        return EPERM
    ip.i_e2fs_nlink += 1
    ip.i_flag |= IN_CHANGE
    error = await ext2fs_update(vp, None, None, UPDATE_DIROP)
    if error == 0:
        error = await ext2fs_direnter(ip, dvp, cnp)
    if error:
        ip.i_e2fs_nlink -= 1
        ip.i_flag |= IN_CHANGE
    VOP_UNLOCK(vp)
    return error


async def ext2fs_mkdir(v: Any) -> int:
    """VOP_MKDIR (v3)."""
    ap = v
    dvp, cnp, vap = ap.a_dvp, ap.a_cnp, ap.a_vap
    ap.a_vpp[0] = None
    dp = VTOI(dvp)
    fs = dp.i_e2fs
    assert fs is not None
    if _ronly(dvp):
        return EROFS
    if dp.i_e2fs_nlink >= EXT2FS_LINK_MAX:
        return EMLINK
    vap.va_type = VDIR
    error, tvp = await vcache_new(dvp.v_mount, dvp, vap, cnp.cn_cred, None)
    if error:
        return error
    assert tvp is not None
    await vn_lock(tvp, LK_EXCLUSIVE | LK_RETRY)
    ip = VTOI(tvp)
    ip.i_e2fs_nlink = 2
    # The parent gains the link of the new "..".
    dp.i_e2fs_nlink += 1
    dp.i_flag |= IN_CHANGE
    error = await ext2fs_update(dvp, None, None, UPDATE_DIROP)
    if error == 0:
        ftype = EXT2_FT_DIR if _has_ftype(dp) else 0
        error, bp = await ext2fs_balloc(ip, 0, fs.e2fs_bsize, cnp.cn_cred, True, B_CLRBUF)
        if error == 0:
            assert bp is not None
            bp.b_data[:] = ext2fs_dirtemplate(ip.i_number, dp.i_number, ftype).build(
                fs.e2fs_bsize)
            bdwrite(bp)
            error = ext2fs_setsize(ip, fs.e2fs_bsize)
        if error == 0:
            ip.i_flag |= IN_CHANGE | IN_UPDATE
            await uvm_vnp_setsize(tvp, ext2fs_size(ip))
            error = await ext2fs_update(tvp, None, None, UPDATE_DIROP)
    if error == 0:
        error = await ext2fs_direnter(ip, dvp, cnp)
    if error:
        dp.i_e2fs_nlink -= 1
        dp.i_flag |= IN_CHANGE
        ip.i_e2fs_nlink = 0
        ip.i_flag |= IN_CHANGE
        await vput(tvp)
        return error
    VOP_UNLOCK(tvp)
    ap.a_vpp[0] = tvp
    return 0


async def ext2fs_rmdir(v: Any) -> int:
    """VOP_RMDIR (v2): ``a_dvp`` stays locked, ``a_vp`` locked and released here."""
    ap = v
    vp, dvp, cnp = ap.a_vp, ap.a_dvp, ap.a_cnp
    ip, dp = VTOI(vp), VTOI(dvp)
    if vp is dvp:
        await vrele(vp)
        return EINVAL
    error = 0
    if _ronly(dvp):
        error = EROFS
    elif vp.v_type != VDIR:
        error = ENOTDIR
    elif vp.v_mountedhere is not None:
        error = EBUSY
    elif ip.i_number == EXT2_ROOTINO:
        error = EPERM
    else:
        error, empty = await ext2fs_dirempty(ip, dp.i_number, cnp.cn_cred)
        if error == 0 and (not empty or ip.i_e2fs_nlink != 2):
            error = ENOTEMPTY
        if error == 0 and (dp.i_e2fs_flags & EXT2_APPEND or
                           ip.i_e2fs_flags & (EXT2_IMMUTABLE | EXT2_APPEND)):
            error = EPERM
    if error == 0:
        error = await ext2fs_dirremove(dvp, cnp, ip.i_number)
    if error == 0:
        dp.i_e2fs_nlink -= 1
        dp.i_flag |= IN_CHANGE
        ip.i_e2fs_nlink = 0
        ip.i_flag |= IN_CHANGE
        error = await ext2fs_truncate(vp, 0, 0, cnp.cn_cred)
    await vput(vp)
    return error


async def ext2fs_symlink(v: Any) -> int:
    """VOP_SYMLINK (v3): short targets live in the inode, longer ones in a block."""
    ap = v
    ap.a_vpp[0] = None
    dvp, cnp, vap = ap.a_dvp, ap.a_cnp, ap.a_vap
    target = ap.a_target
    raw = target.encode("utf-8", "surrogateescape") if isinstance(target, str) else \
        bytes(target)
    if len(raw) >= MAXPATHLEN:
        return ENAMETOOLONG
    vap.va_type = VLNK
    error, vp = await ext2fs_makeinode(vap, dvp, cnp)
    if error:
        return error
    ip = VTOI(vp)
    fs = ip.i_e2fs
    assert fs is not None
    if len(raw) < EXT2_MAXSYMLINKLEN:
        blk = bytearray(EXT2_MAXSYMLINKLEN)
        blk[:len(raw)] = raw
        ctypes.memmove(ctypes.addressof(ip.i_e2din.e2di_blocks), bytes(blk), len(blk))
    else:
        error, bp = await ext2fs_balloc(ip, 0, fs.e2fs_bsize, cnp.cn_cred, True, B_CLRBUF)
        if error == 0:
            assert bp is not None
            bp.b_data[:len(raw)] = raw
            bdwrite(bp)
    if error == 0:
        error = ext2fs_setsize(ip, len(raw))
    if error == 0:
        ip.i_flag |= IN_CHANGE | IN_UPDATE
        await uvm_vnp_setsize(vp, len(raw))
        error = await ext2fs_update(vp, None, None, 0)
    if error:
        await vput(vp)
        return error
    VOP_UNLOCK(vp)
    ap.a_vpp[0] = vp
    return 0


async def ext2fs_readlink(v: Any) -> int:
    """VOP_READLINK."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    if vp.v_type != VLNK:
        return EINVAL
    isize = ext2fs_size(ip)
    if ext2fs_isfastlink(ip):
        if isize >= EXT2_MAXSYMLINKLEN:
            printf("ext2fs: inode %llu: fast symlink of %lld bytes\n", ip.i_number, isize)
            return EIO
        raw = bytes(ip.i_e2din.e2di_blocks)[:isize]
        return await uiomove(bytearray(raw), len(raw), ap.a_uio)
    if isize >= ip.i_e2fs.e2fs_bsize:
        printf("ext2fs: inode %llu: symlink of %lld bytes\n", ip.i_number, isize)
        return EIO
    uio = ap.a_uio
    saved = uio.uio_offset
    uio.uio_offset = 0
    error = await ext2fs_bufrd(vp, uio, 0, ap.a_cred)
    uio.uio_offset = saved + (uio.uio_offset if error == 0 else 0)
    return error


async def ext2fs_strategy(v: Any) -> int:
    """VOP_STRATEGY on a file: map the buf's logical block and pass it to the device."""
    ap = v
    vp = ap.a_vp
    bp = ap.a_bp
    ip = VTOI(vp)
    if vp.v_type in (VBLK, VCHR):
        panic("ext2fs_strategy: spec")
    error, devvp, blkno, _ = await VOP_BMAP(vp, bp.b_lblkno)
    if error == 0 and blkno == -1:
        # A hole: reads see zeros; writes have nowhere to go.
        if bp.b_flags & B_READ:
            bp.b_data[:bp.b_bcount] = bytes(bp.b_bcount)
            bp.b_resid = 0
        else:
            bp.b_error = EIO
        biodone(bp)
        return 0
    if error:
        bp.b_error = error
        biodone(bp)
        return error
    bp.b_blkno = blkno
    return await VOP_STRATEGY(ip.i_devvp, bp)


async def ext2fs_print(v: Any) -> int:
    ip = VTOI(v.a_vp)
    printf("\tino %llu, on dev %llu, %d\n", ip.i_number, major(ip.i_dev), minor(ip.i_dev))
    return 0


async def ext2fs_pathconf(v: Any) -> int:
    ap = v
    values = {_PC_LINK_MAX: EXT2FS_LINK_MAX, _PC_NAME_MAX: EXT2FS_MAXNAMLEN,
              _PC_PATH_MAX: MAXPATHLEN, _PC_PIPE_BUF: 512, _PC_CHOWN_RESTRICTED: 1,
              _PC_NO_TRUNC: 1, _PC_SYNC_IO: 1, _PC_FILESIZEBITS: 42,
              _PC_SYMLINK_MAX: MAXPATHLEN - 1, _PC_2_SYMLINKS: 1}
    if ap.a_name not in values:
        return EINVAL
    ap.a_retval[0] = values[ap.a_name]
    return 0


async def ext2fs_advlock(v: Any) -> int:
    return EOPNOTSUPP


async def ext2fs_reclaim(v: Any) -> int:
    """VOP_RECLAIM (v2): flush and forget the vnode; an inode without links is freed here."""
    ap = v
    vp = ap.a_vp
    ip = VTOI(vp)
    if ip is None:
        genfs_unlock(v)
        return 0
    fs = ip.i_e2fs
    assert fs is not None
    ronly = _ronly(vp) or fs.e2fs_ronly
    if vp.v_uobj is not None:
        await mutex_enter(vp.v_interlock)
        flags = PGO_FREE | PGO_SYNCIO | PGO_ALLPAGES
        if not ronly and ip.i_e2fs_nlink > 0:
            flags |= PGO_CLEANIT
        error = await VOP_PUTPAGES(vp, 0, 0, flags)
        if error:
            printf("%s: inode %llu: dirty pages lost at reclaim: error %d\n",
                   "ext2fs", ip.i_number, error)
        genfs_node_destroy(vp)
    if not ronly:
        if ip.i_e2fs_nlink == 0 and ip.i_e2fs_mode != 0 and ip.i_e2fs_dtime != 0:
            # The last link went and the vnode is out of the cache: free the inode.
            await ext2fs_vfree(None, ip.i_number, ip.i_e2fs_mode, ip)
        else:
            await ext2fs_update(vp, None, None, 0)
    if vp.v_type in (VBLK, VCHR):
        spec_node_destroy(vp)
    ip.i_vnode = None
    vp.v_data = None
    genfs_unlock(v)
    return 0


async def ext2fs_ok(v: Any) -> int:
    return 0


async def ext2fs_enoioctl(v: Any) -> int:
    return ENOTTY


async def ext2fs_seek(v: Any) -> int:
    return 0 if v.a_newoff >= 0 else EINVAL


async def ext2fs_mmap(v: Any) -> int:
    return 0


async def ext2fs_poll(v: Any) -> int:
    """VOP_POLL: a local file is always ready."""
    return v.a_events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)


# (1.107's tables name ufs_lock, ufs_unlock and ufs_islocked, which ufs_extern.h
# defines as genfs_lock, genfs_unlock and genfs_islocked: the functions named here.)
ext2fs_vnodeop_opv_desc = vi.vnodeopv_desc("ext2fs", [
    (vi.vop_default_desc, vi.vn_default_error),
    (vi.vop_lookup_desc, ext2fs_lookup),
    (vi.vop_create_desc, ext2fs_create),
    (vi.vop_mknod_desc, ext2fs_mknod),
    (vi.vop_open_desc, ext2fs_open),
    (vi.vop_close_desc, ext2fs_close),
    (vi.vop_access_desc, ext2fs_access),
    (vi.vop_getattr_desc, ext2fs_getattr),
    (vi.vop_setattr_desc, ext2fs_setattr),
    (vi.vop_read_desc, ext2fs_read),
    (vi.vop_write_desc, ext2fs_write),
    (vi.vop_ioctl_desc, ext2fs_enoioctl),
    (vi.vop_poll_desc, ext2fs_poll),
    (vi.vop_mmap_desc, ext2fs_mmap),
    (vi.vop_fsync_desc, ext2fs_fsync),
    (vi.vop_seek_desc, ext2fs_seek),
    (vi.vop_remove_desc, ext2fs_remove),
    (vi.vop_link_desc, ext2fs_link),
    (vi.vop_rename_desc, ext2fs_rename),
    (vi.vop_mkdir_desc, ext2fs_mkdir),
    (vi.vop_rmdir_desc, ext2fs_rmdir),
    (vi.vop_symlink_desc, ext2fs_symlink),
    (vi.vop_readdir_desc, ext2fs_readdir),
    (vi.vop_readlink_desc, ext2fs_readlink),
    (vi.vop_abortop_desc, genfs_abortop),
    (vi.vop_inactive_desc, ext2fs_inactive),
    (vi.vop_reclaim_desc, ext2fs_reclaim),
    (vi.vop_lock_desc, genfs_lock),
    (vi.vop_unlock_desc, genfs_unlock),
    (vi.vop_islocked_desc, genfs_islocked),
    (vi.vop_bmap_desc, ext2fs_bmap),
    (vi.vop_strategy_desc, ext2fs_strategy),
    (vi.vop_print_desc, ext2fs_print),
    (vi.vop_pathconf_desc, ext2fs_pathconf),
    (vi.vop_advlock_desc, ext2fs_advlock),
    (vi.vop_getpages_desc, genfs_getpages),
    (vi.vop_putpages_desc, genfs_putpages),
])


ext2fs_specop_opv_desc = vi.vnodeopv_desc("ext2fs_spec", list(spec_vnodeop_entries) + [
    (vi.vop_access_desc, ext2fs_access),
    (vi.vop_getattr_desc, ext2fs_getattr),
    (vi.vop_setattr_desc, ext2fs_setattr),
    (vi.vop_fsync_desc, ext2fs_spec_fsync),
    (vi.vop_inactive_desc, ext2fs_inactive),
    (vi.vop_reclaim_desc, ext2fs_reclaim),
    (vi.vop_print_desc, ext2fs_print),
    (vi.vop_lock_desc, genfs_lock),
    (vi.vop_unlock_desc, genfs_unlock),
    (vi.vop_islocked_desc, genfs_islocked),
])

ext2fs_fifoop_opv_desc = vi.vnodeopv_desc("ext2fs_fifo", [
    (vi.vop_default_desc, vi.vn_default_error),
    (vi.vop_open_desc, ext2fs_ok),
    (vi.vop_close_desc, ext2fs_ok),
    (vi.vop_access_desc, ext2fs_access),
    (vi.vop_getattr_desc, ext2fs_getattr),
    (vi.vop_setattr_desc, ext2fs_setattr),
    (vi.vop_fsync_desc, ext2fs_fsync),
    (vi.vop_inactive_desc, ext2fs_inactive),
    (vi.vop_reclaim_desc, ext2fs_reclaim),
    (vi.vop_print_desc, ext2fs_print),
    (vi.vop_pathconf_desc, ext2fs_pathconf),
    (vi.vop_lock_desc, genfs_lock),
    (vi.vop_unlock_desc, genfs_unlock),
    (vi.vop_islocked_desc, genfs_islocked),
    (vi.vop_putpages_desc, genfs_putpages),
])


ext2fs_vnodeop_p = ext2fs_vnodeop_opv_desc.opv_desc_vector
ext2fs_specop_p = ext2fs_specop_opv_desc.opv_desc_vector
ext2fs_fifoop_p = ext2fs_fifoop_opv_desc.opv_desc_vector
