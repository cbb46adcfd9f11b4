"""rootfs: the in-memory root file system (in the spirit of rump's rumpfs / tmpfs).

It holds /dev (device nodes), /tmp and /mnt, and anything a test puts there:
directories, regular files (stored sparsely in 64 KiB chunks, so a 1 GiB
sparse backing store costs nothing), symbolic links, hard links, device
nodes, and host files shown inside the machine (rump's etfs regular files).
It has no block device, so fss refuses it (spec_node_lookup_by_mount gives
ENOENT), and it does not support suspension.

It is a module (class VFS) that GENERIC links in.
"""

from __future__ import annotations

from typing import Any

from kern.errno import (
    EEXIST,
    EFTYPE,
    EINVAL,
    EISDIR,
    EJUSTRETURN,
    EMLINK,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    ENOTTY,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    EXDEV,
)
from kern.kern_auth import kauth_cred_geteuid, kauth_cred_groupmember, kauth_cred_issuser
from kern.kern_module import MODULE, MODULE_CLASS_VFS, MODULE_CMD_FINI, MODULE_CMD_INIT
from kern.kern_time import getnanotime, timespec
from kern.subr_copy import VMSPACE_IS_KERNEL_P
from kern.subr_uio import uiomove
from vfs import vnode_if as vi
from vfs.dirent import pack_dirent, vtype_to_dtype
from vfs.genfs_io import uvm_vnp_setsize
from vfs.genfs_vnops import genfs_null_putpages, genfs_nullop
from vfs.mount import (
    IMNT_CAN_RWTORO,
    MNT_FORCE,
    MNT_GETARGS,
    MNT_LOCAL,
    MNT_RDONLY,
    MNT_UPDATE,
    copy_statvfs_info,
    mount,
    set_statvfs_info,
    statvfs,
    vfs_attach,
    vfs_detach,
    vfs_getnewfsid,
    vfsops,
)
from vfs.namei_h import CREATE, ISDOTDOT, ISLASTCN, RENAME
from vfs.spec_vnops import spec_node_destroy, spec_node_init, spec_vnodeop_entries
from vfs.vfs_vnops import vaccess, vop_pathconf_std
from vfs.vnode import (
    FORCECLOSE,
    IO_APPEND,
    LK_EXCLUSIVE,
    LK_RETRY,
    VA_UTIMES_NULL,
    VADMIN,
    VBLK,
    VCHR,
    VDIR,
    VLNK,
    VNOVAL,
    VREG,
    VV_ROOT,
    VWRITE,
    genfs_islocked,
    genfs_lock,
    genfs_unlock,
    vattr,
    vcache_get,
    vcache_new,
    vflush,
    vn_lock,
    vnode,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import VOP_UNLOCK

MODULE(MODULE_CLASS_VFS, "rootfs", None)

ROOTINO = 2
CHUNK = 64 * 1024
LINK_MAX = 32767
MOUNT_ROOTFS = "rootfs"


def _now() -> tuple[int, int]:
    ts = timespec()
    getnanotime(ts)
    return (ts.tv_sec, ts.tv_nsec)


class rfsnode:
    """One file of the root file system."""

    __slots__ = ("rn_ino", "rn_type", "rn_mode", "rn_uid", "rn_gid", "rn_nlink", "rn_size",
                 "rn_rdev", "rn_atime", "rn_mtime", "rn_ctime", "rn_birthtime", "rn_flags",
                 "rn_gen", "rn_chunks", "rn_dir", "rn_parent", "rn_link", "rn_hostfile")

    def __init__(self, ino: int, vtype: int, mode: int, uid: int, gid: int) -> None:
        now = _now()
        self.rn_ino = ino
        self.rn_type = vtype
        self.rn_mode = mode & 0o7777
        self.rn_uid = uid
        self.rn_gid = gid
        self.rn_nlink = 0
        self.rn_size = 0
        self.rn_rdev = -1
        self.rn_atime = self.rn_mtime = self.rn_ctime = self.rn_birthtime = now
        self.rn_flags = 0
        self.rn_gen = 1
        self.rn_chunks: dict[int, bytearray] = {}
        self.rn_dir: dict[str, rfsnode] = {}
        self.rn_parent: rfsnode | None = None
        self.rn_link = b""
        self.rn_hostfile: Any = None

    def __repr__(self) -> str:
        return f"<rfsnode {self.rn_ino} type={self.rn_type} nlink={self.rn_nlink}>"


class rootfs_mount:
    """The per-mount state (mnt_data)."""

    def __init__(self) -> None:
        self.rm_nodes: dict[int, rfsnode] = {}
        self.rm_nextino = ROOTINO
        self.rm_bytes = 0

    def alloc(self, vtype: int, mode: int, uid: int, gid: int) -> rfsnode:
        ino = self.rm_nextino
        self.rm_nextino += 1
        node = rfsnode(ino, vtype, mode, uid, gid)
        self.rm_nodes[ino] = node
        return node


def VTORN(vp: vnode) -> rfsnode:
    return vp.v_data


def _rm(mp: mount) -> rootfs_mount:
    return mp.mnt_data


# ------------------------------------------------------------------ data

class _HostError(Exception):
    """A host-file I/O error, already translated to NetBSD's errno."""

    def __init__(self, error: int) -> None:
        super().__init__(error)
        self.errno = error


class etfs_file:
    """The contents of an etfs regular file: a window of a host file (dev.rumpblk.hostfile)."""

    def __init__(self, hf: Any) -> None:
        self.hf = hf

    def pread(self, off: int, n: int) -> bytes:
        error, data = self.hf.read(off, n)
        if error:
            raise _HostError(error)
        return data

    def pwrite(self, off: int, data: bytes | memoryview) -> None:
        error, _ = self.hf.write(data, off)
        if error:
            raise _HostError(error)

    def size(self) -> int:
        error, size = self.hf.size()
        if error:
            raise _HostError(error)
        return size

    def truncate(self, size: int) -> None:
        error = self.hf.truncate(size)
        if error:
            raise _HostError(error)


def _read_data(rn: rfsnode, off: int, n: int, view: bool = False) -> bytes | bytearray | memoryview:
    """Up to ``n`` bytes of ``rn`` at ``off``.  With ``view``, a read that lies in one
    stored chunk is a view of the chunk (no copy): only for a caller that is done
    with it before anything can write to the file again (a UIO_SYSSPACE uiomove,
    which never sleeps)."""
    if rn.rn_hostfile is not None:
        return rn.rn_hostfile.pread(off, n)
    end = min(off + n, rn.rn_size)
    if off >= end:
        return b""
    ci, co = divmod(off, CHUNK)
    if view and end - off <= CHUNK - co:
        chunk = rn.rn_chunks.get(ci)
        if chunk is not None:
            return memoryview(chunk)[co:co + end - off]
    out = bytearray(end - off)
    pos = off
    while pos < end:
        ci, co = divmod(pos, CHUNK)
        take = min(CHUNK - co, end - pos)
        chunk = rn.rn_chunks.get(ci)
        if chunk is not None:
            out[pos - off:pos - off + take] = chunk[co:co + take]
        pos += take
    return out


def _write_data(rm: rootfs_mount, rn: rfsnode, off: int, data: bytes | memoryview) -> None:
    if rn.rn_hostfile is not None:
        rn.rn_hostfile.pwrite(off, data)
        rn.rn_size = max(rn.rn_size, off + len(data))
        return
    pos = 0
    n = len(data)
    while pos < n:
        take = min(CHUNK - (off + pos) % CHUNK, n - pos)
        _chunk_view(rm, rn, off + pos, take)[:] = data[pos:pos + take]
        pos += take
    rn.rn_size = max(rn.rn_size, off + n)


def _chunk_view(rm: rootfs_mount, rn: rfsnode, off: int, n: int) -> memoryview:
    """A view of the ``n`` bytes at ``off`` in their chunk (made if it is not stored):
    a write that lies in one chunk is moved straight into it."""
    ci, co = divmod(off, CHUNK)
    chunk = rn.rn_chunks.get(ci)
    if chunk is None:
        chunk = rn.rn_chunks[ci] = bytearray(CHUNK)
        rm.rm_bytes += CHUNK
    return memoryview(chunk)[co:co + n]


def _truncate(rm: rootfs_mount, rn: rfsnode, size: int) -> None:
    if rn.rn_hostfile is not None:
        rn.rn_hostfile.truncate(size)
        rn.rn_size = size
        return
    if size < rn.rn_size:
        last = (size + CHUNK - 1) // CHUNK
        for ci in [c for c in rn.rn_chunks if c >= last]:
            del rn.rn_chunks[ci]
            rm.rm_bytes -= CHUNK
        if size % CHUNK:
            chunk = rn.rn_chunks.get(size // CHUNK)
            if chunk is not None:
                chunk[size % CHUNK:] = bytes(CHUNK - size % CHUNK)
    rn.rn_size = size


def _free_node(rm: rootfs_mount, rn: rfsnode) -> None:
    rm.rm_bytes -= CHUNK * len(rn.rn_chunks)
    rn.rn_chunks.clear()
    rm.rm_nodes.pop(rn.rn_ino, None)


# ------------------------------------------------------------------ vfs ops

async def rootfs_mount_fn(mp: mount, path: str, data: Any, data_len: int) -> int:
    if mp.mnt_flag & MNT_GETARGS:
        return 0
    if mp.mnt_flag & MNT_UPDATE:
        return 0
    rm = rootfs_mount()
    root = rm.alloc(VDIR, 0o755, 0, 0)
    root.rn_nlink = 2
    root.rn_parent = root
    mp.mnt_data = rm
    mp.mnt_flag |= MNT_LOCAL
    mp.mnt_iflag |= IMNT_CAN_RWTORO  # as rumpfs: nothing to flush for read-only
    mp.mnt_stat.f_namemax = 255
    mp.mnt_stat.f_iosize = 4096
    mp.mnt_stat.f_bsize = 4096
    mp.mnt_stat.f_frsize = 4096
    vfs_getnewfsid(mp)
    return set_statvfs_info(path, "rootfs", MOUNT_ROOTFS, mp)


async def rootfs_unmount(mp: mount, mntflags: int) -> int:
    flags = FORCECLOSE if mntflags & MNT_FORCE else 0
    error = await vflush(mp, None, flags)
    if error:
        return error
    mp.mnt_data = None
    return 0


async def rootfs_root(mp: mount, lktype: int) -> tuple[int, vnode | None]:
    error, vp = await vcache_get(mp, ROOTINO)
    if error:
        return error, None
    assert vp is not None
    if lktype:
        await vn_lock(vp, lktype | LK_RETRY)
    return 0, vp


async def rootfs_statvfs(mp: mount, sbp: statvfs) -> int:
    rm = _rm(mp)
    sbp.f_bsize = sbp.f_frsize = sbp.f_iosize = 4096
    used = max(1, rm.rm_bytes // 4096)
    sbp.f_blocks = used + 1024 * 1024
    sbp.f_bfree = sbp.f_bavail = 1024 * 1024
    sbp.f_files = len(rm.rm_nodes) + 65536
    sbp.f_ffree = sbp.f_favail = 65536
    sbp.f_namemax = 255
    copy_statvfs_info(sbp, mp)
    return 0


async def rootfs_sync(mp: mount, waitfor: int, cred: Any) -> int:
    return 0


async def rootfs_loadvnode(mp: mount, vp: vnode, key: Any) -> tuple[int, Any]:
    rn = _rm(mp).rm_nodes.get(key)
    if rn is None:
        return ENOENT, None
    vp.v_data = rn
    vp.v_type = rn.rn_type
    vp.v_tag = 0
    if rn.rn_type in (VBLK, VCHR):
        vp.v_op = rootfs_specop_p
        spec_node_init(vp, rn.rn_rdev)
    else:
        vp.v_op = rootfs_vnodeop_p
    if rn.rn_ino == ROOTINO:
        vp.v_vflag |= VV_ROOT
    await uvm_vnp_setsize(vp, rn.rn_size)
    return 0, key


async def rootfs_newvnode(mp: mount, dvp: vnode | None, vp: vnode, vap: vattr, cred: Any,
                          extra: Any) -> tuple[int, Any]:
    rm = _rm(mp)
    gid = VTORN(dvp).rn_gid if dvp is not None else 0
    rn = rm.alloc(vap.va_type, vap.va_mode if vap.va_mode != VNOVAL else 0o644,
                  kauth_cred_geteuid(cred) if cred is not None and not cred.cr_internal
                  else 0, gid)
    if vap.va_type in (VBLK, VCHR):
        rn.rn_rdev = vap.va_rdev
    if extra is not None:
        rn.rn_link = extra
        rn.rn_size = len(extra)
    error, key = await rootfs_loadvnode(mp, vp, rn.rn_ino)
    return error, key


rootfs_vfsops = vfsops(
    MOUNT_ROOTFS,
    vfs_mount=rootfs_mount_fn,
    vfs_unmount=rootfs_unmount,
    vfs_root=rootfs_root,
    vfs_statvfs=rootfs_statvfs,
    vfs_sync=rootfs_sync,
    vfs_loadvnode=rootfs_loadvnode,
    vfs_newvnode=rootfs_newvnode,
)


# ------------------------------------------------------------------ vnode ops

async def rootfs_lookup(v: Any) -> int:
    ap = v
    dvp = ap.a_dvp
    cnp = ap.a_cnp
    ap.a_vpp[0] = None
    dn = VTORN(dvp)
    if dvp.v_type != VDIR:
        return ENOTDIR
    name = cnp.cn_nameptr
    if name == ".":
        if cnp.cn_flags & ISLASTCN and cnp.cn_nameiop == RENAME:
            return EISDIR  # renaming onto "." (as tmpfs and ufs answer)
        vref(dvp)
        ap.a_vpp[0] = dvp
        return 0
    if cnp.cn_flags & ISDOTDOT:
        target = dn.rn_parent
    else:
        target = dn.rn_dir.get(name)
    if target is None:
        if cnp.cn_flags & ISLASTCN and cnp.cn_nameiop in (CREATE, RENAME):
            return EJUSTRETURN
        return ENOENT
    error, vp = await vcache_get(dvp.v_mount, target.rn_ino)
    if error:
        return error
    ap.a_vpp[0] = vp
    return 0


async def _newnode(dvp: vnode, cnp: Any, vap: vattr, extra: Any = None) -> tuple[int,
                                                                                 vnode | None]:
    dn = VTORN(dvp)
    if dvp.v_mount.mnt_flag & MNT_RDONLY:
        return EROFS, None
    if cnp.cn_nameptr in dn.rn_dir:
        return EEXIST, None
    if vap.va_type == VDIR and dn.rn_nlink >= LINK_MAX:
        return EMLINK, None
    error, vp = await vcache_new(dvp.v_mount, dvp, vap, cnp.cn_cred, extra)
    if error:
        return error, None
    assert vp is not None
    rn = VTORN(vp)
    rn.rn_nlink = 1
    if vap.va_type == VDIR:
        rn.rn_nlink = 2
        rn.rn_parent = dn
        dn.rn_nlink += 1
    dn.rn_dir[cnp.cn_nameptr] = rn
    dn.rn_mtime = dn.rn_ctime = _now()
    return 0, vp


async def rootfs_create(v: Any) -> int:
    ap = v
    error, vp = await _newnode(ap.a_dvp, ap.a_cnp, ap.a_vap)
    ap.a_vpp[0] = vp
    return error


rootfs_mknod = rootfs_create
rootfs_mkdir = rootfs_create


async def rootfs_symlink(v: Any) -> int:
    ap = v
    target = ap.a_target
    raw = target.encode("utf-8", "surrogateescape") if isinstance(target, str) else \
        bytes(target)
    ap.a_vap.va_type = VLNK
    error, vp = await _newnode(ap.a_dvp, ap.a_cnp, ap.a_vap, raw)
    ap.a_vpp[0] = vp
    return error


async def rootfs_remove(v: Any) -> int:
    ap = v
    dvp, vp, cnp = ap.a_dvp, ap.a_vp, ap.a_cnp
    dn, rn = VTORN(dvp), VTORN(vp)
    if vp.v_type == VDIR:
        error = EPERM
    elif dvp.v_mount.mnt_flag & MNT_RDONLY:
        error = EROFS
    elif dn.rn_dir.get(cnp.cn_nameptr) is not rn:
        error = ENOENT
    else:
        del dn.rn_dir[cnp.cn_nameptr]
        rn.rn_nlink -= 1
        rn.rn_ctime = _now()
        dn.rn_mtime = dn.rn_ctime = _now()
        error = 0
    if vp is dvp:
        await vrele(vp)
    else:
        await vput(vp)
    return error


async def rootfs_rmdir(v: Any) -> int:
    ap = v
    dvp, vp, cnp = ap.a_dvp, ap.a_vp, ap.a_cnp
    dn, rn = VTORN(dvp), VTORN(vp)
    error = 0
    if vp is dvp:
        await vrele(vp)
        return EINVAL
    if vp.v_type != VDIR:
        error = ENOTDIR
    elif rn.rn_dir:
        error = ENOTEMPTY
    elif dvp.v_mount.mnt_flag & MNT_RDONLY:
        error = EROFS
    elif dn.rn_dir.get(cnp.cn_nameptr) is not rn:
        error = ENOENT
    else:
        del dn.rn_dir[cnp.cn_nameptr]
        dn.rn_nlink -= 1
        rn.rn_nlink = 0
        dn.rn_mtime = dn.rn_ctime = _now()
    await vput(vp)
    return error


async def rootfs_link(v: Any) -> int:
    ap = v
    dvp, vp, cnp = ap.a_dvp, ap.a_vp, ap.a_cnp
    dn, rn = VTORN(dvp), VTORN(vp)
    if vp.v_type == VDIR:
        return EPERM
    if dvp.v_mount is not vp.v_mount:
        return EXDEV
    if dvp.v_mount.mnt_flag & MNT_RDONLY:
        return EROFS
    if cnp.cn_nameptr in dn.rn_dir:
        return EEXIST
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    if rn.rn_nlink >= LINK_MAX:
        VOP_UNLOCK(vp)
        return EMLINK
    rn.rn_nlink += 1
    rn.rn_ctime = _now()
    dn.rn_dir[cnp.cn_nameptr] = rn
    dn.rn_mtime = dn.rn_ctime = _now()
    VOP_UNLOCK(vp)
    return 0


def _is_ancestor(a: rfsnode, b: rfsnode) -> bool:
    """True if ``a`` is ``b`` or one of its ancestors."""
    n = b
    while True:
        if n is a:
            return True
        if n.rn_parent is None or n.rn_parent is n:
            return False
        n = n.rn_parent


async def rootfs_rename(v: Any) -> int:
    ap = v
    fdvp, fvp, fcnp = ap.a_fdvp, ap.a_fvp, ap.a_fcnp
    tdvp, tvp, tcnp = ap.a_tdvp, ap.a_tvp, ap.a_tcnp
    error = await _rename(fdvp, fvp, fcnp, tdvp, tvp, tcnp)
    await vrele(fdvp)
    await vrele(fvp)
    if tvp is not None:
        if tvp is tdvp:
            await vrele(tvp)
        else:
            await vput(tvp)
    await vput(tdvp)
    return error


async def _rename(fdvp: vnode, fvp: vnode, fcnp: Any, tdvp: vnode, tvp: vnode | None,
                  tcnp: Any) -> int:
    fdn, fn, tdn = VTORN(fdvp), VTORN(fvp), VTORN(tdvp)
    if fdvp.v_mount is not tdvp.v_mount or (tvp is not None and tvp.v_mount is not
                                             tdvp.v_mount):
        return EXDEV
    if tdvp.v_mount.mnt_flag & MNT_RDONLY:
        return EROFS
    if fdn.rn_dir.get(fcnp.cn_nameptr) is not fn:
        return ENOENT
    tn = VTORN(tvp) if tvp is not None else None
    if tn is fn:
        # Two links of one file: the source name goes (as tmpfs does when
        # not posixly correct), unless it is the target name itself.
        if fn.rn_type == VDIR:
            return EINVAL
        if fdn is not tdn or fcnp.cn_nameptr != tcnp.cn_nameptr:
            del fdn.rn_dir[fcnp.cn_nameptr]
            fn.rn_nlink -= 1
            fn.rn_ctime = fdn.rn_mtime = fdn.rn_ctime = _now()
        return 0
    if fn.rn_type == VDIR:
        if _is_ancestor(fn, tdn):
            return EINVAL
        if tn is not None:
            if tn.rn_type != VDIR:
                return ENOTDIR
            if tn.rn_dir:
                return ENOTEMPTY
    elif tn is not None and tn.rn_type == VDIR:
        return EISDIR
    now = _now()
    if tn is not None:
        del tdn.rn_dir[tcnp.cn_nameptr]
        if tn.rn_type == VDIR:
            tn.rn_nlink = 0
            tdn.rn_nlink -= 1
        else:
            tn.rn_nlink -= 1
        tn.rn_ctime = now
    del fdn.rn_dir[fcnp.cn_nameptr]
    tdn.rn_dir[tcnp.cn_nameptr] = fn
    if fn.rn_type == VDIR and fdn is not tdn:
        fn.rn_parent = tdn
        fdn.rn_nlink -= 1
        tdn.rn_nlink += 1
    fn.rn_ctime = now
    fdn.rn_mtime = fdn.rn_ctime = now
    tdn.rn_mtime = tdn.rn_ctime = now
    return 0


async def rootfs_readdir(v: Any) -> int:
    ap = v
    vp, uio = ap.a_vp, ap.a_uio
    rn = VTORN(vp)
    if vp.v_type != VDIR:
        return ENOTDIR
    entries: list[tuple[int, str, int]] = [(rn.rn_ino, ".", VDIR),
                                           ((rn.rn_parent or rn).rn_ino, "..", VDIR)]
    entries += [(c.rn_ino, name, c.rn_type) for name, c in rn.rn_dir.items()]
    idx = uio.uio_offset
    if idx < 0:
        return EINVAL
    cookies = []
    error = 0
    while idx < len(entries):
        ino, name, vtype = entries[idx]
        rec = pack_dirent(ino, name, vtype_to_dtype(vtype))
        if len(rec) > uio.uio_resid:
            break
        start_off = uio.uio_offset
        error = await uiomove(rec, len(rec), uio)
        if error:
            break
        idx += 1
        uio.uio_offset = start_off + 1  # offsets count entries
        cookies.append(idx)
    ap.a_eofflag[0] = idx >= len(entries)
    ap.a_cookies[0] = cookies
    ap.a_ncookies[0] = len(cookies)
    if idx == uio.uio_offset and not cookies and idx < len(entries) and not error:
        return EINVAL  # the buffer cannot hold even one entry
    return error


async def rootfs_readlink(v: Any) -> int:
    ap = v
    rn = VTORN(ap.a_vp)
    if ap.a_vp.v_type != VLNK:
        return EINVAL
    return await uiomove(bytearray(rn.rn_link), len(rn.rn_link), ap.a_uio)


async def rootfs_read(v: Any) -> int:
    ap = v
    vp, uio = ap.a_vp, ap.a_uio
    rn = VTORN(vp)
    if vp.v_type == VDIR:
        return EISDIR
    if vp.v_type != VREG:
        return EOPNOTSUPP
    if uio.uio_offset < 0:
        return EINVAL
    try:
        if rn.rn_hostfile is not None:
            rn.rn_size = rn.rn_hostfile.size()
        n = min(uio.uio_resid, max(0, rn.rn_size - uio.uio_offset))
        if n <= 0:
            return 0
        # (a read into the kernel's space moves the bytes without sleeping: it
        # may take them straight from the stored chunk)
        data = _read_data(rn, uio.uio_offset, n, VMSPACE_IS_KERNEL_P(uio.uio_vmspace))
    except _HostError as e:
        return e.errno
    rn.rn_atime = _now()
    return await uiomove(data, len(data), uio)


async def rootfs_write(v: Any) -> int:
    ap = v
    vp, uio, ioflag = ap.a_vp, ap.a_uio, ap.a_ioflag
    rn = VTORN(vp)
    if vp.v_type != VREG:
        return EISDIR if vp.v_type == VDIR else EOPNOTSUPP
    if vp.v_mount.mnt_flag & MNT_RDONLY:
        return EROFS
    if ioflag & IO_APPEND:
        uio.uio_offset = rn.rn_size
    if uio.uio_offset < 0:
        return EINVAL
    n = uio.uio_resid
    if n == 0:
        return 0
    off = uio.uio_offset
    if rn.rn_hostfile is None and off % CHUNK + n <= CHUNK \
            and VMSPACE_IS_KERNEL_P(uio.uio_vmspace):
        # A write from the kernel's space that lies in one chunk: moved straight
        # into the chunk (a UIO_SYSSPACE uiomove neither sleeps nor fails, so
        # nothing sees the chunk between its making and the move).
        error = await uiomove(_chunk_view(_rm(vp.v_mount), rn, off, n), n, uio)
        done = n - uio.uio_resid
        rn.rn_size = max(rn.rn_size, off + done)
    else:
        buf = bytearray(n)
        error = await uiomove(buf, n, uio)
        done = n - uio.uio_resid
        if done:
            try:
                _write_data(_rm(vp.v_mount), rn, off, memoryview(buf)[:done])
            except _HostError as e:
                return e.errno
    if done:
        await uvm_vnp_setsize(vp, rn.rn_size)
        rn.rn_mtime = rn.rn_ctime = _now()
        if not kauth_cred_issuser(ap.a_cred):
            rn.rn_mode &= ~0o6000  # writing clears set-id bits
    return error


async def rootfs_getattr(v: Any) -> int:
    ap = v
    vp, vap = ap.a_vp, ap.a_vap
    rn = VTORN(vp)
    vap.va_type = vp.v_type
    vap.va_mode = rn.rn_mode
    vap.va_nlink = rn.rn_nlink
    vap.va_uid = rn.rn_uid
    vap.va_gid = rn.rn_gid
    vap.va_fsid = vp.v_mount.mnt_stat.f_fsidx.__fsid_val[0]
    vap.va_fileid = rn.rn_ino
    if vp.v_type == VDIR:
        vap.va_size = 512
    elif vp.v_type == VREG and rn.rn_hostfile is not None:
        try:
            rn.rn_size = rn.rn_hostfile.size()
        except _HostError:
            pass
        vap.va_size = rn.rn_size
    else:
        vap.va_size = rn.rn_size
    vap.va_blocksize = 4096
    vap.va_atime = rn.rn_atime
    vap.va_mtime = rn.rn_mtime
    vap.va_ctime = rn.rn_ctime
    vap.va_birthtime = rn.rn_birthtime
    vap.va_gen = rn.rn_gen
    vap.va_flags = rn.rn_flags
    vap.va_rdev = rn.rn_rdev if vp.v_type in (VBLK, VCHR) else 0
    vap.va_bytes = CHUNK * len(rn.rn_chunks) if vp.v_type == VREG else 512
    vap.va_filerev = 0
    return 0


async def rootfs_setattr(v: Any) -> int:
    ap = v
    vp, vap, cred = ap.a_vp, ap.a_vap, ap.a_cred
    rn = VTORN(vp)
    rdonly = bool(vp.v_mount.mnt_flag & MNT_RDONLY)
    if vap.va_type != 0 and vap.va_type != VNOVAL or vap.va_nlink != VNOVAL or \
            vap.va_fsid != VNOVAL or vap.va_fileid != VNOVAL or \
            vap.va_blocksize != VNOVAL or vap.va_rdev != VNOVAL or vap.va_bytes != VNOVAL or \
            vap.va_gen != VNOVAL:
        return EINVAL
    is_owner = not cred.cr_internal and kauth_cred_geteuid(cred) == rn.rn_uid
    root = kauth_cred_issuser(cred)
    now = _now()
    if vap.va_flags != VNOVAL:
        if rdonly:
            return EROFS
        if not (is_owner or root):
            return EPERM
        rn.rn_flags = vap.va_flags
        rn.rn_ctime = now
    if vap.va_uid != VNOVAL or vap.va_gid != VNOVAL:
        if rdonly:
            return EROFS
        uid = rn.rn_uid if vap.va_uid == VNOVAL else vap.va_uid
        gid = rn.rn_gid if vap.va_gid == VNOVAL else vap.va_gid
        if not root and (uid != rn.rn_uid or not is_owner or
                         (gid != rn.rn_gid and not kauth_cred_groupmember(cred, gid))):
            return EPERM
        rn.rn_uid, rn.rn_gid = uid, gid
        if not root:
            rn.rn_mode &= ~0o6000
        rn.rn_ctime = now
    if vap.va_size != VNOVAL:
        if vp.v_type == VDIR:
            return EISDIR
        if vp.v_type == VREG:
            if rdonly:
                return EROFS
            if vap.va_size < 0:
                return EINVAL
            try:
                _truncate(_rm(vp.v_mount), rn, vap.va_size)
            except _HostError as e:
                return e.errno
            await uvm_vnp_setsize(vp, rn.rn_size)
            rn.rn_mtime = rn.rn_ctime = now
    if vap.va_atime != VNOVAL or vap.va_mtime != VNOVAL:
        if rdonly:
            return EROFS
        if not (is_owner or root):
            if not vap.va_vaflags & VA_UTIMES_NULL:
                return EPERM
            error = vaccess(vp.v_type, rn.rn_mode, rn.rn_uid, rn.rn_gid, VWRITE, cred)
            if error:
                return error
        if vap.va_atime != VNOVAL:
            rn.rn_atime = vap.va_atime
        if vap.va_mtime != VNOVAL:
            rn.rn_mtime = vap.va_mtime
        if vap.va_birthtime != VNOVAL:
            rn.rn_birthtime = vap.va_birthtime
        rn.rn_ctime = now
    if vap.va_mode != VNOVAL:
        if rdonly:
            return EROFS
        if not (is_owner or root):
            return EPERM
        mode = vap.va_mode & 0o7777
        if not root and vp.v_type != VDIR and mode & 0o1000:
            return EFTYPE  # the sticky bit on a file, by a non-root user
        rn.rn_mode = mode
        rn.rn_ctime = now
    return 0


async def rootfs_access(v: Any) -> int:
    ap = v
    vp, mode, cred = ap.a_vp, ap.a_mode, ap.a_cred
    rn = VTORN(vp)
    if mode & VWRITE and vp.v_type in (VDIR, VLNK, VREG) and \
            vp.v_mount.mnt_flag & MNT_RDONLY:
        return EROFS
    if mode & VADMIN:
        if kauth_cred_issuser(cred) or kauth_cred_geteuid(cred) == rn.rn_uid:
            return 0
        return EPERM
    return vaccess(vp.v_type, rn.rn_mode, rn.rn_uid, rn.rn_gid, mode & 0o700, cred)


async def rootfs_inactive(v: Any) -> int:
    rn = VTORN(v.a_vp)
    v.a_recycle[0] = rn is None or rn.rn_nlink <= 0
    return 0


async def rootfs_reclaim(v: Any) -> int:
    vp = v.a_vp
    rn = VTORN(vp)
    if rn is not None and rn.rn_nlink <= 0 and vp.v_mount is not None and \
            vp.v_mount.mnt_data is not None:
        _free_node(_rm(vp.v_mount), rn)
    vp.v_data = None
    genfs_unlock(v)
    return 0


async def rootfs_spec_reclaim(v: Any) -> int:
    spec_node_destroy(v.a_vp)
    return await rootfs_reclaim(v)


async def rootfs_ioctl(v: Any) -> int:
    return ENOTTY


async def rootfs_print(v: Any) -> int:
    return 0


rootfs_vnodeop_opv_desc = vi.vnodeopv_desc("rootfs", [
    (vi.vop_lookup_desc, rootfs_lookup),
    (vi.vop_create_desc, rootfs_create),
    (vi.vop_mknod_desc, rootfs_mknod),
    (vi.vop_open_desc, genfs_nullop),
    (vi.vop_close_desc, genfs_nullop),
    (vi.vop_access_desc, rootfs_access),
    (vi.vop_getattr_desc, rootfs_getattr),
    (vi.vop_setattr_desc, rootfs_setattr),
    (vi.vop_read_desc, rootfs_read),
    (vi.vop_write_desc, rootfs_write),
    (vi.vop_ioctl_desc, rootfs_ioctl),
    (vi.vop_fsync_desc, genfs_nullop),
    (vi.vop_seek_desc, genfs_nullop),
    (vi.vop_remove_desc, rootfs_remove),
    (vi.vop_link_desc, rootfs_link),
    (vi.vop_rename_desc, rootfs_rename),
    (vi.vop_mkdir_desc, rootfs_mkdir),
    (vi.vop_rmdir_desc, rootfs_rmdir),
    (vi.vop_symlink_desc, rootfs_symlink),
    (vi.vop_readdir_desc, rootfs_readdir),
    (vi.vop_readlink_desc, rootfs_readlink),
    (vi.vop_inactive_desc, rootfs_inactive),
    (vi.vop_reclaim_desc, rootfs_reclaim),
    (vi.vop_lock_desc, genfs_lock),
    (vi.vop_unlock_desc, genfs_unlock),
    (vi.vop_islocked_desc, genfs_islocked),
    (vi.vop_pathconf_desc, vop_pathconf_std),
    (vi.vop_advlock_desc, genfs_nullop),
    (vi.vop_putpages_desc, genfs_null_putpages),
    (vi.vop_print_desc, rootfs_print),
])
rootfs_vnodeop_p = rootfs_vnodeop_opv_desc.opv_desc_vector

rootfs_specop_opv_desc = vi.vnodeopv_desc("rootfs_spec", spec_vnodeop_entries + [
    (vi.vop_access_desc, rootfs_access),
    (vi.vop_getattr_desc, rootfs_getattr),
    (vi.vop_setattr_desc, rootfs_setattr),
    (vi.vop_reclaim_desc, rootfs_spec_reclaim),
    (vi.vop_print_desc, rootfs_print),
])
rootfs_specop_p = rootfs_specop_opv_desc.opv_desc_vector


async def rootfs_etfs_reg(op: str, key: str, hf: Any) -> int:
    """rump's etfs for regular files: show a host file at ``key`` (on this file system)."""
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.namei_h import LOCKPARENT
    from vfs.vfs_syscalls import _lookup, _release_create, do_sys_unlink

    if op == "remove":
        return await do_sys_unlink(key, UIO_SYSSPACE)
    error, nd = await _lookup(key, UIO_SYSSPACE, CREATE, LOCKPARENT)
    if error:
        return error
    if nd.ni_vp is not None:
        await _release_create(nd)
        return EEXIST
    dvp = nd.ni_dvp
    if dvp.v_mount.mnt_op is not rootfs_vfsops:
        await vput(dvp)
        return EOPNOTSUPP
    va = vattr()
    va.va_type = VREG
    va.va_mode = 0o644
    error, vp = await _newnode(dvp, nd.ni_cnd, va)
    await vput(dvp)
    if error:
        return error
    rn = VTORN(vp)
    rn.rn_hostfile = etfs_file(hf)
    try:
        rn.rn_size = rn.rn_hostfile.size()
    except _HostError as e:
        error = e.errno
    else:
        await uvm_vnp_setsize(vp, rn.rn_size)
    await vrele(vp)
    return error


def rootfs_devnode(name: str) -> int | None:
    """The dev_t of device node /dev/``name`` on the current machine's root file
    system, or None: how fault plans name devices (``disk.write:dev=wd0``).

    A look at the in-memory tree without locks or vnodes, so it never sleeps
    (fault sites are checked where sleeping is not allowed).
    """
    from kern.cpu import curmachine_or_none
    from vfs.mount import vfsglobals

    if curmachine_or_none() is None or "/" in name:
        return None
    mp = vfsglobals().rootfs
    if mp is None or mp.mnt_op.vfs_name != "rootfs" or mp.mnt_data is None:
        return None
    root = mp.mnt_data.rm_nodes.get(ROOTINO)
    devdir = root.rn_dir.get("dev") if root is not None else None
    node = devdir.rn_dir.get(name) if devdir is not None else None
    if node is None or node.rn_type not in (VBLK, VCHR):
        return None
    return node.rn_rdev


def _register_devnode_resolver() -> None:
    from kern.subr_fault import dev_resolvers

    # This module may be executed afresh for each machine: keep one resolver,
    # the first copy's (it reads the current machine's tree, whichever copy
    # it is; replacing it at each boot kept the last machine's copy of this
    # module alive after its halt, until the next boot).
    if not any(f.__name__ == "rootfs_devnode" for f in dev_resolvers):
        dev_resolvers.append(rootfs_devnode)


_register_devnode_resolver()


async def rootfs_modcmd(cmd: int, arg: Any) -> int:
    if cmd == MODULE_CMD_INIT:
        error = vfs_attach(rootfs_vfsops)
        if error == 0:
            # Like rumpfs, the root file system serves etfs regular files.
            from dev.rumpblk import rump_etfs_set_reg_handler

            rump_etfs_set_reg_handler(rootfs_etfs_reg)
        return error
    if cmd == MODULE_CMD_FINI:
        return vfs_detach(rootfs_vfsops)
    return ENOTTY
