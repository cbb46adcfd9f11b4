"""System calls on paths and vnode descriptors (kern/vfs_syscalls.c, NetBSD 8).

Each ``sys_*`` has NetBSD's shape ``async def sys_x(l, uap, retval) -> int``
and is registered in the base kernel's syscall table under NetBSD's number
(kern.syscall).  The ``do_sys_*`` functions take a path either from user
space (``UIO_USERSPACE``: a user address, copied in with EFAULT and
ENAMETOOLONG checks) or from the kernel (``UIO_SYSSPACE``: a str), as
NetBSD's do; fss uses ``do_sys_unlink(path, UIO_USERSPACE)``.

The stored revision nearest NetBSD 8 is ``$NetBSD: vfs_syscalls.c,v 1.500
2015/07/24$``; the calls here keep NetBSD's argument checks, errnos and
order of namei, permission and VOP calls, and were checked against NetBSD's
behaviour rather than line by line against that text (mount(2) and
unmount(2)'s workers are vfs.vfs_mount's, with their own revisions).
Notices in LICENSE.NetBSD.

Deviations:

* Only a subset of the calls exists: open, pread, pwrite, lseek, the
  stat/fstat/lstat, statvfs1/fstatvfs1/getvfsstat, mkdir, mknod, rmdir,
  unlink, link, symlink, readlink, rename, getdents, chdir/fchdir/chroot,
  umask, chmod/lchmod/fchmod, chown/lchown/fchown, utimes/lutimes/futimes,
  truncate/ftruncate, fsync, sync, access, pathconf/fpathconf, mount,
  unmount and the file-handle calls (getfh, fhopen, fhstat).  There are
  no *at() variants, no fsync_range/fdatasync, mkfifo, revoke, undelete,
  quotactl, extended attributes or posix_fadvise.
* Paths are Python strings inside the kernel (UTF-8 with
  surrogateescape for undecodable bytes); kernel callers pass a str
  where NetBSD passes a kernel char pointer.
* Structures go to user space with ``_copyout_struct`` (the ctypes bytes
  of the LP64 layout).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.cpu import curlwp
from kern.errno import (
    E2BIG,
    EBADF,
    EBUSY,
    EEXIST,
    EINTR,
    EINVAL,
    EISDIR,
    EMOVEFD,
    ENOENT,
    ENOTDIR,
    EOPNOTSUPP,
    EPERM,
    ERESTART,
    ESPIPE,
    ESTALE,
    EXDEV,
)
from kern.fcntl import (
    DTYPE_VNODE,
    FFLAGS,
    FMASK,
    FREAD,
    FWRITE,
    O_ACCMODE,
    O_CLOEXEC,
    O_CREAT,
    SEEK_CUR,
    SEEK_END,
    SEEK_SET,
)
from kern.kern_auth import kauth_cred_issuser
from kern.kern_descrip import (
    fd_abort,
    fd_affix,
    fd_allocfile,
    fd_getfile,
    fd_getvnode,
    fd_putfile,
    fd_set_exclose,
    l_dupfd,
)
from kern.kern_mutex import mutex_enter, mutex_exit
from kern.kern_rwlock import RW_WRITER, rw_enter, rw_exit
from kern.kern_time import timespec, timeval
from kern.subr_copy import copyin, copyinstr, copyout
from kern.subr_uio import UIO_READ, UIO_SYSSPACE, UIO_USERSPACE, iovec, uio
from kern.sys_generic import dofileread, dofilewrite
from kern.syscall import SYS___fhopen40, SYS___fhstat50, SYS___getfh30, syscall_register
from vfs.mount import (
    MNT_ASYNC,
    MNT_NOWAIT,
    MNT_RDONLY,
    MNT_VISFLAGMASK,
    MNT_WAIT,
    VFS_ROOT,
    VFS_STATVFS,
    VFS_SYNC,
    mountlist_iterator_destroy,
    mountlist_iterator_init,
    mountlist_iterator_next,
    statvfs,
    vfs_busy,
    vfs_unbusy,
)
from vfs.namei import (
    NDINIT,
    WANTPARENT,
    namei,
    nameidata,
    pathbuf,
    pathbuf_copyin,
    pathbuf_create,
)
from vfs.namei_h import (
    CREATE,
    CREATEDIR,
    DELETE,
    FOLLOW,
    LOCKLEAF,
    LOCKPARENT,
    LOOKUP,
    MAXPATHLEN,
    NOCACHE,
    NOFOLLOW,
    RENAME,
    TRYEMULROOT,
)
from vfs.stat import (
    ACCESSPERMS,
    ALLPERMS,
    S_IFBLK,
    S_IFCHR,
    S_IFIFO,
    S_IFMT,
    S_IFREG,
    stat,
)
from vfs.vfs_getcwd import sys___getcwd, vn_isunder
from vfs.vfs_mount import do_sys_mount, do_sys_unmount
from vfs.vfs_vnops import vn_open, vn_stat, vn_writechk, vnops
from vfs.vnode import (
    FSYNC_WAIT,
    LK_EXCLUSIVE,
    LK_RETRY,
    LK_SHARED,
    VA_UTIMES_NULL,
    VBLK,
    VCHR,
    VDIR,
    VEXEC,
    VFIFO,
    VLNK,
    VNOVAL,
    VREAD,
    VREG,
    VV_ROOT,
    VWRITE,
    vattr,
    vn_lock,
    vnode,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import (
    VOP_ACCESS,
    VOP_FSYNC,
    VOP_GETATTR,
    VOP_LINK,
    VOP_MKDIR,
    VOP_MKNOD,
    VOP_PATHCONF,
    VOP_READDIR,
    VOP_READLINK,
    VOP_REMOVE,
    VOP_RENAME,
    VOP_RMDIR,
    VOP_SEEK,
    VOP_SETATTR,
    VOP_SYMLINK,
    VOP_UNLOCK,
)

F_OK = 0
X_OK = 0x01
W_OK = 0x02
R_OK = 0x04


def _cmask() -> int:
    c = curlwp().l_proc.p_cwdi
    return c.cwdi_cmask if c is not None else 0o022


def _pathbuf(path: Any, seg: int) -> tuple[int, pathbuf | None]:
    if seg == UIO_SYSSPACE:
        return 0, pathbuf_create(path)
    return pathbuf_copyin(path)


async def _lookup(path: Any, seg: int, op: int, flags: int) -> tuple[int, nameidata]:
    nd = nameidata()
    error, pb = _pathbuf(path, seg)
    if error:
        return error, nd
    assert pb is not None
    NDINIT(nd, op, flags, pb)
    error = await namei(nd)
    return error, nd


async def _release_create(nd: nameidata) -> None:
    """Give back what a CREATE lookup of an existing name handed out."""
    dvp, vp = nd.ni_dvp, nd.ni_vp
    if vp is not None:
        await vrele(vp)
    if dvp is not None:
        await vput(dvp)


# ------------------------------------------------------------------ open

async def do_open(l: Any, path: Any, seg: int, open_flags: int, open_mode: int,
                  retval: list[int]) -> int:
    if open_flags & O_ACCMODE == O_ACCMODE:
        return EINVAL
    flags = FFLAGS(open_flags)
    error, fp, indx = fd_allocfile()
    if error:
        return error
    assert fp is not None
    p = l.l_proc
    nd = nameidata()
    error, pb = _pathbuf(path, seg)
    if error:
        fd_abort(p, fp, indx)
        return error
    assert pb is not None
    NDINIT(nd, LOOKUP, FOLLOW | TRYEMULROOT, pb)
    cmode = ((open_mode & ~_cmask()) & ALLPERMS) & ~0o1000  # no sticky bit on create
    l.l_specific.pop("l_dupfd", None)  # l->l_dupfd = -1
    error = await vn_open(nd, flags, cmode)
    if error:
        fd_abort(p, fp, indx)
        if error == EMOVEFD and l_dupfd(l) >= 0:
            # A cloning device (fd_clone) installed its own file under a new
            # descriptor: that is the result of this open (fd_dupopen).
            retval[0] = l_dupfd(l)
            l.l_specific.pop("l_dupfd", None)
            return 0
        if error == ERESTART:
            error = EINTR
        return error
    vp = nd.ni_vp
    assert vp is not None
    fp.f_flag = flags & FMASK
    fp.f_type = DTYPE_VNODE
    fp.f_ops = vnops
    fp.f_data = vp
    fp.f_cred = l.l_cred
    VOP_UNLOCK(vp)
    fd_set_exclose(l, indx, bool(open_flags & O_CLOEXEC))
    fd_affix(p, fp, indx)
    retval[0] = indx
    return 0


async def sys_open(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_open(l, uap.path, UIO_USERSPACE, uap.flags, uap.mode, retval)


# ------------------------------------------------------------------ pread/pwrite/lseek

async def _fd_vnode_seekable(fd: int) -> tuple[int, Any]:
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF, None
    if fp.f_type != DTYPE_VNODE or fp.f_vnode.v_type == VFIFO:
        fd_putfile(fd)
        return ESPIPE, None
    return 0, fp


async def sys_pread(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = await _fd_vnode_seekable(uap.fd)
    if error:
        return error
    if not fp.f_flag & FREAD:
        fd_putfile(uap.fd)
        return EBADF
    offset = uap.offset
    if offset < 0 and fp.f_vnode.v_type not in (VCHR, VBLK):
        fd_putfile(uap.fd)
        return EINVAL
    error = await VOP_SEEK(fp.f_vnode, fp.f_offset, offset, fp.f_cred)
    if error:
        fd_putfile(uap.fd)
        return error
    return await dofileread(uap.fd, fp, uap.buf, uap.nbyte, [offset], 0, retval)


async def sys_pwrite(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = await _fd_vnode_seekable(uap.fd)
    if error:
        return error
    if not fp.f_flag & FWRITE:
        fd_putfile(uap.fd)
        return EBADF
    offset = uap.offset
    if offset < 0 and fp.f_vnode.v_type not in (VCHR, VBLK):
        fd_putfile(uap.fd)
        return EINVAL
    error = await VOP_SEEK(fp.f_vnode, fp.f_offset, offset, fp.f_cred)
    if error:
        fd_putfile(uap.fd)
        return error
    return await dofilewrite(uap.fd, fp, uap.buf, uap.nbyte, [offset], 0, retval)


async def sys_lseek(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = await _fd_vnode_seekable(uap.fd)
    if error:
        return error
    vp = fp.f_vnode
    try:
        whence = uap.whence
        if whence == SEEK_CUR:
            newoff = fp.f_offset + uap.offset
        elif whence == SEEK_END:
            va = vattr()
            await vn_lock(vp, LK_SHARED | LK_RETRY)
            error = await VOP_GETATTR(vp, va, l.l_cred)
            VOP_UNLOCK(vp)
            if error:
                return error
            newoff = va.va_size + uap.offset
        elif whence == SEEK_SET:
            newoff = uap.offset
        else:
            return EINVAL
        if newoff < 0 and vp.v_type not in (VCHR, VBLK):
            return EINVAL
        error = await VOP_SEEK(vp, fp.f_offset, newoff, l.l_cred)
        if error:
            return error
        fp.f_offset = newoff
        retval[0] = newoff
        return 0
    finally:
        fd_putfile(uap.fd)


# ------------------------------------------------------------------ stat family

async def do_sys_stat(path: Any, seg: int, nd_flags: int) -> tuple[int, stat]:
    sb = stat()
    error, nd = await _lookup(path, seg, LOOKUP, nd_flags | LOCKLEAF | TRYEMULROOT)
    if error:
        return error, sb
    vp = nd.ni_vp
    assert vp is not None
    error = await vn_stat(vp, sb)
    await vput(vp)
    return error, sb


def _copyout_struct(s: ctypes.Structure, uaddr: int) -> int:
    return copyout(s, uaddr, ctypes.sizeof(s))  # (a ctypes object is a kernel buffer)


async def sys___stat50(l: Any, uap: Any, retval: list[int]) -> int:
    error, sb = await do_sys_stat(uap.path, UIO_USERSPACE, FOLLOW)
    if error:
        return error
    return _copyout_struct(sb, uap.ub)


async def sys___lstat50(l: Any, uap: Any, retval: list[int]) -> int:
    error, sb = await do_sys_stat(uap.path, UIO_USERSPACE, NOFOLLOW)
    if error:
        return error
    return _copyout_struct(sb, uap.ub)


async def sys___fstat50(l: Any, uap: Any, retval: list[int]) -> int:
    fp = fd_getfile(uap.fd)
    if fp is None:
        return EBADF
    sb = stat()
    try:
        error = await fp.f_ops.fo_stat(fp, sb)
    finally:
        fd_putfile(uap.fd)
    if error:
        return error
    return _copyout_struct(sb, uap.sb)


async def dostatvfs(mp: Any, sp: statvfs, l: Any, flags: int, root: int) -> int:
    """The statvfs of ``mp`` into ``sp``.

    MNT_NOWAIT or MNT_LAZY (or any flags but MNT_WAIT and 0) give the copy
    cached in ``mp.mnt_stat`` without asking the file system; otherwise
    VFS_STATVFS asks it, and the answer refreshes the cache (unless the
    process is chrooted).
    """
    if flags not in (MNT_WAIT, 0):  # MNT_NOWAIT, MNT_LAZY, ...
        ctypes.memmove(ctypes.addressof(sp), ctypes.addressof(mp.mnt_stat),
                       ctypes.sizeof(statvfs))
    else:
        ctypes.memset(ctypes.addressof(sp), 0, ctypes.sizeof(statvfs))
        error = await VFS_STATVFS(mp, sp)
        if error:
            return error
        cwdi = l.l_proc.p_cwdi
        if cwdi is None or cwdi.cwdi_rdir is None:
            ctypes.memmove(ctypes.addressof(mp.mnt_stat), ctypes.addressof(sp),
                           ctypes.sizeof(statvfs))
    sp.f_flag = mp.mnt_flag & MNT_VISFLAGMASK
    return 0


async def do_sys_pstatvfs(l: Any, path: Any, seg: int, flags: int) -> tuple[int, statvfs]:
    sb = statvfs()
    error, nd = await _lookup(path, seg, LOOKUP, FOLLOW | TRYEMULROOT)
    if error:
        return error, sb
    vp = nd.ni_vp
    assert vp is not None
    mp = vp.v_mount
    await vrele(vp)
    if mp is None:
        return ENOENT, sb
    error = await dostatvfs(mp, sb, l, flags, 1)
    return error, sb


async def sys_statvfs1(l: Any, uap: Any, retval: list[int]) -> int:
    error, sb = await do_sys_pstatvfs(l, uap.path, UIO_USERSPACE, uap.flags)
    if error:
        return error
    return _copyout_struct(sb, uap.buf)


async def sys_fstatvfs1(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = fd_getvnode(uap.fd)
    if error:
        return error
    mp = fp.f_vnode.v_mount
    if mp is None:
        # A device vnode reclaimed under an open descriptor (forced unmount):
        # NetBSD moves it to dead_rootmount, whose statvfs is EOPNOTSUPP.
        fd_putfile(uap.fd)
        return EOPNOTSUPP
    sb = statvfs()
    try:
        error = await dostatvfs(mp, sb, l, uap.flags, 1)
    finally:
        fd_putfile(uap.fd)
    if error:
        return error
    return _copyout_struct(sb, uap.buf)


async def sys_getvfsstat(l: Any, uap: Any, retval: list[int]) -> int:
    size = ctypes.sizeof(statvfs)
    maxcount = uap.bufsize // size if uap.buf else 0
    count = 0
    # Each mount busy while its statistics are taken (the mountlist iterator).
    it = mountlist_iterator_init()
    try:
        while (mp := await mountlist_iterator_next(it)) is not None:
            if uap.buf and count < maxcount:
                sb = statvfs()
                if await dostatvfs(mp, sb, l, uap.flags, 0) == 0:
                    error = copyout(bytearray(bytes(sb)), uap.buf + count * size, size)
                    if error:
                        return error
                    count += 1
            elif not uap.buf:
                count += 1
    finally:
        mountlist_iterator_destroy(it)
    retval[0] = count
    return 0


# ------------------------------------------------------------------ mkdir & co

async def do_sys_mkdir(path: Any, mode: int, seg: int) -> int:
    error, nd = await _lookup(path, seg, CREATE, LOCKPARENT | CREATEDIR | TRYEMULROOT)
    if error:
        return error
    if nd.ni_vp is not None:
        await _release_create(nd)
        return EEXIST
    va = vattr()
    va.va_type = VDIR
    va.va_mode = (mode & ACCESSPERMS) & ~_cmask()
    dvp = nd.ni_dvp
    assert dvp is not None
    error, vp = await VOP_MKDIR(dvp, nd.ni_cnd, va)
    await vput(dvp)
    if error == 0 and vp is not None:
        await vrele(vp)
    return error


async def kern_mkdir(path: str, mode: int) -> int:
    """mkdir from inside the kernel (boot, drivers)."""
    return await do_sys_mkdir(path, mode, UIO_SYSSPACE)


async def sys_mkdir(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_mkdir(uap.path, uap.mode, UIO_USERSPACE)


async def do_sys_mknod(l: Any, path: Any, mode: int, dev: int, seg: int) -> int:
    if not kauth_cred_issuser(l.l_cred):
        return EPERM
    fmt = mode & S_IFMT
    vtype = {S_IFCHR: VCHR, S_IFBLK: VBLK, S_IFREG: VREG, S_IFIFO: VFIFO}.get(fmt)
    if vtype is None:
        return EINVAL
    error, nd = await _lookup(path, seg, CREATE, LOCKPARENT | TRYEMULROOT)
    if error:
        return error
    if nd.ni_vp is not None:
        await _release_create(nd)
        return EEXIST
    va = vattr()
    va.va_type = vtype
    va.va_mode = (mode & ALLPERMS) & ~_cmask()
    va.va_rdev = dev if vtype in (VCHR, VBLK) else VNOVAL
    dvp = nd.ni_dvp
    assert dvp is not None
    error, vp = await VOP_MKNOD(dvp, nd.ni_cnd, va)
    await vput(dvp)
    if error == 0 and vp is not None:
        await vrele(vp)
    return error


async def kern_mknod(path: str, mode: int, dev: int) -> int:
    """mknod from inside the kernel: MAKEDEV at boot, disks registered later."""
    return await do_sys_mknod(curlwp(), path, mode, dev, UIO_SYSSPACE)


async def sys___mknod50(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_mknod(l, uap.path, uap.mode, uap.dev, UIO_USERSPACE)


async def do_sys_rmdir(path: Any, seg: int) -> int:
    error, nd = await _lookup(path, seg, DELETE, LOCKPARENT | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    dvp, vp = nd.ni_dvp, nd.ni_vp
    assert vp is not None
    if dvp is None:
        await vput(vp)
        return EBUSY if vp.v_vflag & VV_ROOT else EINVAL
    if vp.v_type != VDIR:
        error = ENOTDIR
    elif dvp is vp:
        error = EINVAL
    elif vp.v_vflag & VV_ROOT or vp.v_mountedhere is not None:
        error = EBUSY
    else:
        error = await VOP_RMDIR(dvp, vp, nd.ni_cnd)
        await vput(dvp)
        return error
    if dvp is vp:
        await vrele(vp)
    else:
        await vput(vp)
    await vput(dvp)
    return error


async def sys_rmdir(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_rmdir(uap.path, UIO_USERSPACE)


async def do_sys_unlink(path: Any, seg: int) -> int:
    """unlink(2); fss calls it with a user path for FSS_UNLINK_ON_CREATE."""
    error, nd = await _lookup(path, seg, DELETE, LOCKPARENT | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    dvp, vp = nd.ni_dvp, nd.ni_vp
    assert vp is not None
    if dvp is None:
        await vput(vp)
        return EBUSY
    if vp.v_vflag & VV_ROOT:
        error = EBUSY
    elif dvp is vp:
        error = EINVAL if vp.v_type == VDIR else EPERM
    else:
        error = await VOP_REMOVE(dvp, vp, nd.ni_cnd)
        await vput(dvp)
        return error
    if dvp is vp:
        await vrele(vp)
    else:
        await vput(vp)
    await vput(dvp)
    return error


async def sys_unlink(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_unlink(uap.path, UIO_USERSPACE)


async def do_sys_link(l: Any, path: Any, link: Any, seg: int, follow: int = FOLLOW) -> int:
    error, nd = await _lookup(path, seg, LOOKUP, follow | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error, nd2 = await _lookup(link, seg, CREATE, LOCKPARENT | TRYEMULROOT)
    if error:
        await vrele(vp)
        return error
    if nd2.ni_vp is not None:
        await _release_create(nd2)
        await vrele(vp)
        return EEXIST
    dvp = nd2.ni_dvp
    assert dvp is not None
    if dvp.v_mount is not vp.v_mount:
        error = EXDEV
    else:
        error = await VOP_LINK(dvp, vp, nd2.ni_cnd)
    await vput(dvp)
    await vrele(vp)
    return error


async def sys_link(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_link(l, uap.path, uap.link, UIO_USERSPACE)


async def do_sys_symlink(l: Any, patharg: Any, link: Any, seg: int) -> int:
    if seg == UIO_USERSPACE:
        kbuf = bytearray(MAXPATHLEN)
        error, done = copyinstr(patharg, kbuf, MAXPATHLEN)
        if error:
            return error
        target = bytes(kbuf[:done - 1]).decode("utf-8", "surrogateescape")
    else:
        target = patharg
    error, nd = await _lookup(link, seg, CREATE, LOCKPARENT | TRYEMULROOT)
    if error:
        return error
    if nd.ni_vp is not None:
        await _release_create(nd)
        return EEXIST
    va = vattr()
    va.va_type = VLNK
    va.va_mode = ACCESSPERMS & ~_cmask()
    dvp = nd.ni_dvp
    assert dvp is not None
    error, vp = await VOP_SYMLINK(dvp, nd.ni_cnd, va, target)
    await vput(dvp)
    if error == 0 and vp is not None:
        await vrele(vp)
    return error


async def sys_symlink(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_symlink(l, uap.path, uap.link, UIO_USERSPACE)


async def sys_readlink(l: Any, uap: Any, retval: list[int]) -> int:
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP,
                              NOFOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    if vp.v_type != VLNK:
        await vput(vp)
        return EINVAL
    u = uio([iovec(uap.buf, uap.count)], uio_offset=0, uio_rw=UIO_READ,
            uio_vmspace=l.l_proc.p_vmspace)
    error = await VOP_READLINK(vp, u, l.l_cred)
    await vput(vp)
    retval[0] = uap.count - u.uio_resid
    return error


def _lastname(nd: nameidata) -> str:
    return nd.ni_cnd.cn_nameptr


async def do_sys_rename(from_: Any, to: Any, seg: int) -> int:
    """rename(2): look both names up, check, then VOP_RENAME under the rename lock."""
    from vfs.mount import VFS_RENAMELOCK_ENTER, VFS_RENAMELOCK_EXIT

    # Both names are copied in before either is looked up (EFAULT,
    # ENAMETOOLONG first), as NetBSD's do_sys_renameat does.
    error, fpb = _pathbuf(from_, seg)
    if error:
        return error
    error, tpb = _pathbuf(to, seg)
    if error:
        return error
    assert fpb is not None and tpb is not None
    fnd = nameidata()
    NDINIT(fnd, DELETE, WANTPARENT | TRYEMULROOT, fpb)
    error = await namei(fnd)
    if error:
        return error
    fdvp, fvp = fnd.ni_dvp, fnd.ni_vp
    assert fvp is not None
    if fdvp is None or _lastname(fnd) in (".", ".."):
        if fdvp is not None:
            await vrele(fdvp)
        await vrele(fvp)
        return EINVAL if fdvp is not None or fvp.v_vflag & VV_ROOT else EBUSY
    if fvp.v_vflag & VV_ROOT:
        await vrele(fdvp)
        await vrele(fvp)
        return EBUSY
    # Take the rename lock before the second lookup locks anything, as
    # NetBSD 8 does: nothing is locked now, so this order is safe.
    mp = fdvp.v_mount
    await VFS_RENAMELOCK_ENTER(mp)
    tflags = LOCKPARENT | LOCKLEAF | NOCACHE | TRYEMULROOT
    if fvp.v_type == VDIR:
        tflags |= CREATEDIR
    tnd = nameidata()
    NDINIT(tnd, RENAME, tflags, tpb)
    error = await namei(tnd)
    if error:
        VFS_RENAMELOCK_EXIT(mp)
        await vrele(fdvp)
        await vrele(fvp)
        return error
    tdvp, tvp = tnd.ni_dvp, tnd.ni_vp
    assert tdvp is not None

    async def bail(err: int) -> int:
        if tvp is not None:
            if tvp is tdvp:
                await vrele(tvp)
            else:
                await vput(tvp)
        await vput(tdvp)
        VFS_RENAMELOCK_EXIT(mp)
        await vrele(fdvp)
        await vrele(fvp)
        return err

    # Renaming onto "." is EISDIR, onto ".." EINVAL (do_sys_renameat).
    if _lastname(tnd) == ".":
        return await bail(EISDIR)
    if _lastname(tnd) == "..":
        return await bail(EINVAL)
    if fvp.v_mount is not tdvp.v_mount or (tvp is not None and tvp.v_mount is not
                                            fvp.v_mount):
        return await bail(EXDEV)
    if tvp is not None:
        if fvp.v_type == VDIR and tvp.v_type != VDIR:
            return await bail(ENOTDIR)
        if fvp.v_type != VDIR and tvp.v_type == VDIR:
            return await bail(EISDIR)
        if tvp.v_vflag & VV_ROOT or tvp.v_mountedhere is not None:
            return await bail(EBUSY)
    if fvp is tdvp:
        return await bail(EINVAL)
    if fvp is tvp and fdvp is tdvp and _lastname(fnd) == _lastname(tnd):
        # A name renamed onto itself: nothing to do.  Two links of one
        # file go on to VOP_RENAME, which removes the source name, as
        # NetBSD's rename(2) does (only __posix_rename leaves both).
        return await bail(0)
    error = await VOP_RENAME(fdvp, fvp, fnd.ni_cnd, tdvp, tvp, tnd.ni_cnd)
    VFS_RENAMELOCK_EXIT(mp)
    return error


async def sys_rename(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_rename(uap.from_, uap.to, UIO_USERSPACE)


# ------------------------------------------------------------------ directories

async def sys___getdents30(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = fd_getvnode(uap.fd)
    if error:
        return error
    try:
        if not fp.f_flag & FREAD:
            return EBADF
        vp = fp.f_vnode
        if vp.v_type != VDIR:
            return ENOTDIR
        u = uio([iovec(uap.buf, uap.count)], uio_offset=fp.f_offset, uio_rw=UIO_READ,
                uio_vmspace=l.l_proc.p_vmspace)
        await vn_lock(vp, LK_SHARED | LK_RETRY)
        error, _eof, _cookies, _ncookies = await VOP_READDIR(vp, u, fp.f_cred)
        VOP_UNLOCK(vp)
        fp.f_offset = u.uio_offset
        retval[0] = uap.count - u.uio_resid
        return error
    finally:
        fd_putfile(uap.fd)


async def _change_dir(vp: vnode, l: Any) -> int:
    if vp.v_type != VDIR:
        return ENOTDIR
    return await VOP_ACCESS(vp, VEXEC, l.l_cred)


async def sys_chdir(l: Any, uap: Any, retval: list[int]) -> int:
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP,
                              FOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = await _change_dir(vp, l)
    VOP_UNLOCK(vp)
    if error:
        await vrele(vp)
        return error
    cwdi = l.l_proc.p_cwdi
    await rw_enter(cwdi.cwdi_lock, RW_WRITER)
    if cwdi.cwdi_cdir is not None:
        await vrele(cwdi.cwdi_cdir)
    cwdi.cwdi_cdir = vp
    rw_exit(cwdi.cwdi_lock)
    return 0


async def sys_fchdir(l: Any, uap: Any, retval: list[int]) -> int:
    """fchdir(2), as vfs_syscalls.c 1.500 (2015, the NetBSD 7.99 copy closest
    to NetBSD 8 that could be read) has it: through the mounts stacked on the
    directory to the top one's root, and EPERM for a directory outside the
    process's root directory (``vn_isunder``), so fchdir cannot leave a chroot."""
    fd = uap.fd
    error, fp = fd_getvnode(fd)
    if error:
        return error
    vp = fp.f_vnode

    vref(vp)
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    error = await _change_dir(vp, l)
    if error:
        await vput(vp)
        fd_putfile(fd)
        return error
    while (mp := vp.v_mountedhere) is not None:
        error = await vfs_busy(mp)
        await vput(vp)
        if error != 0:
            fd_putfile(fd)
            return error
        error, tdp = await VFS_ROOT(mp, LK_EXCLUSIVE)
        vfs_unbusy(mp)
        if error:
            fd_putfile(fd)
            return error
        assert tdp is not None
        vp = tdp
    VOP_UNLOCK(vp)

    # A directory outside the process's root directory (if it has one) is
    # refused.
    cwdi = l.l_proc.p_cwdi
    await rw_enter(cwdi.cwdi_lock, RW_WRITER)
    if cwdi.cwdi_rdir is not None and not await vn_isunder(vp, None, l):
        await vrele(vp)
        error = EPERM
    else:
        if cwdi.cwdi_cdir is not None:
            await vrele(cwdi.cwdi_cdir)
        cwdi.cwdi_cdir = vp
    rw_exit(cwdi.cwdi_lock)

    # out:
    fd_putfile(fd)
    return error


async def sys_chroot(l: Any, uap: Any, retval: list[int]) -> int:
    if not kauth_cred_issuser(l.l_cred):
        return EPERM
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP,
                              FOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = await _change_dir(vp, l)
    VOP_UNLOCK(vp)
    if error:
        await vrele(vp)
        return error
    cwdi = l.l_proc.p_cwdi
    await rw_enter(cwdi.cwdi_lock, RW_WRITER)
    if cwdi.cwdi_rdir is not None:
        await vrele(cwdi.cwdi_rdir)
    cwdi.cwdi_rdir = vp
    # change_root: a current directory outside the new root would be a way
    # out of it, so the process silently moves to the new root.
    if cwdi.cwdi_cdir is None or not await vn_isunder(cwdi.cwdi_cdir, vp, l):
        if cwdi.cwdi_cdir is not None:
            await vrele(cwdi.cwdi_cdir)
        vref(vp)
        cwdi.cwdi_cdir = vp
    rw_exit(cwdi.cwdi_lock)
    return 0


async def sys_umask(l: Any, uap: Any, retval: list[int]) -> int:
    c = l.l_proc.p_cwdi
    retval[0] = c.cwdi_cmask
    c.cwdi_cmask = uap.newmask & ALLPERMS
    return 0


# ------------------------------------------------------------------ attributes

async def _setattr_path(path: Any, seg: int, follow: int, va: vattr) -> int:
    error, nd = await _lookup(path, seg, LOOKUP, follow | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = await VOP_SETATTR(vp, va, curlwp().l_cred)
    await vput(vp)
    return error


async def _setattr_fd(fd: int, va: vattr) -> int:
    error, fp = fd_getvnode(fd)
    if error:
        return error
    vp = fp.f_vnode
    try:
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
        error = await VOP_SETATTR(vp, va, curlwp().l_cred)
        VOP_UNLOCK(vp)
        return error
    finally:
        fd_putfile(fd)


def _va_mode(mode: int) -> vattr:
    va = vattr()
    va.va_mode = mode & ALLPERMS
    return va


def _va_owner(uid: int, gid: int) -> vattr:
    va = vattr()
    va.va_uid = VNOVAL if uid in (-1, 0xffffffff) else uid
    va.va_gid = VNOVAL if gid in (-1, 0xffffffff) else gid
    return va


async def kern_chmod(path: str, mode: int) -> int:
    """chmod from inside the kernel: MAKEDEV's exact modes, whatever the umask."""
    return await _setattr_path(path, UIO_SYSSPACE, FOLLOW, _va_mode(mode))


async def sys_chmod(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_path(uap.path, UIO_USERSPACE, FOLLOW, _va_mode(uap.mode))


async def sys_lchmod(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_path(uap.path, UIO_USERSPACE, NOFOLLOW, _va_mode(uap.mode))


async def sys_fchmod(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_fd(uap.fd, _va_mode(uap.mode))


async def sys_chown(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_path(uap.path, UIO_USERSPACE, FOLLOW, _va_owner(uap.uid, uap.gid))


async def sys_lchown(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_path(uap.path, UIO_USERSPACE, NOFOLLOW,
                               _va_owner(uap.uid, uap.gid))


async def sys_fchown(l: Any, uap: Any, retval: list[int]) -> int:
    return await _setattr_fd(uap.fd, _va_owner(uap.uid, uap.gid))


async def _utimes_va(tptr: int) -> tuple[int, vattr]:
    from kern.kern_time import nanotime

    va = vattr()
    if not tptr:
        ts = timespec()
        nanotime(ts)
        va.va_atime = va.va_mtime = (ts.tv_sec, ts.tv_nsec)
        va.va_vaflags |= VA_UTIMES_NULL
        return 0, va
    tv = (timeval * 2)()
    raw = bytearray(ctypes.sizeof(tv))
    error = copyin(tptr, raw, len(raw))
    if error:
        return error, va
    tv = (timeval * 2).from_buffer(raw)
    for t in tv:
        if t.tv_usec < 0 or t.tv_usec >= 1000000:
            return EINVAL, va
    va.va_atime = (tv[0].tv_sec, tv[0].tv_usec * 1000)
    va.va_mtime = (tv[1].tv_sec, tv[1].tv_usec * 1000)
    return 0, va


async def sys___utimes50(l: Any, uap: Any, retval: list[int]) -> int:
    error, va = await _utimes_va(uap.tptr)
    if error:
        return error
    return await _setattr_path(uap.path, UIO_USERSPACE, FOLLOW, va)


async def sys___lutimes50(l: Any, uap: Any, retval: list[int]) -> int:
    error, va = await _utimes_va(uap.tptr)
    if error:
        return error
    return await _setattr_path(uap.path, UIO_USERSPACE, NOFOLLOW, va)


async def sys___futimes50(l: Any, uap: Any, retval: list[int]) -> int:
    error, va = await _utimes_va(uap.tptr)
    if error:
        return error
    return await _setattr_fd(uap.fd, va)


async def do_sys_truncate_vp(vp: vnode, length: int, cred: Any) -> int:
    if vp.v_type == VDIR:
        return EISDIR
    error = vn_writechk(vp)
    if error:
        return error
    error = await VOP_ACCESS(vp, VWRITE, cred)
    if error:
        return error
    va = vattr()
    va.va_size = length
    return await VOP_SETATTR(vp, va, cred)


async def sys_truncate(l: Any, uap: Any, retval: list[int]) -> int:
    if uap.length < 0:
        return EINVAL
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP,
                              FOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = await do_sys_truncate_vp(vp, uap.length, l.l_cred)
    await vput(vp)
    return error


async def sys_ftruncate(l: Any, uap: Any, retval: list[int]) -> int:
    if uap.length < 0:
        return EINVAL
    error, fp = fd_getvnode(uap.fd)
    if error:
        return error
    try:
        if not fp.f_flag & FWRITE:
            return EINVAL
        vp = fp.f_vnode
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
        if vp.v_type == VDIR:
            error = EISDIR
        else:
            error = vn_writechk(vp)
            if error == 0:
                va = vattr()
                va.va_size = uap.length
                error = await VOP_SETATTR(vp, va, fp.f_cred)
        VOP_UNLOCK(vp)
        return error
    finally:
        fd_putfile(uap.fd)


async def sys_fsync(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = fd_getvnode(uap.fd)
    if error:
        return error
    vp = fp.f_vnode
    try:
        await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
        error = await VOP_FSYNC(vp, fp.f_cred, FSYNC_WAIT, 0, 0)
        VOP_UNLOCK(vp)
        return error
    finally:
        fd_putfile(uap.fd)


async def do_sys_sync(l: Any) -> None:
    """Sync each mounted file system: VFS_SYNC(MNT_NOWAIT) of every writable
    mount, oldest first, with MNT_ASYNC off meanwhile.

    Where 1.500 walks the list with vfs_busy/vfs_unbusy under
    mountlist_lock, the mountlist iterator (vfs_mount.c 1.93's, kemu's
    vfs_busy) busies each mount across its VFS_SYNC the same way: an unmount
    waits for the sync, and a mount being unmounted is waited for and then
    skipped, gone.  MNT_NOWAIT asks each file system to start its writes, not
    to wait for them (sync(2) schedules the writing); kemu's disk drivers
    complete a transfer inside their strategy routine, so the writes this
    starts are on the disk when it returns."""
    it = mountlist_iterator_init()
    while (mp := await mountlist_iterator_next(it)) is not None:
        await mutex_enter(mp.mnt_updating)
        if not mp.mnt_flag & MNT_RDONLY:
            # (written only when set, as in dounmount)
            asyncflag = mp.mnt_flag & MNT_ASYNC
            if asyncflag:
                mp.mnt_flag &= ~MNT_ASYNC
            await VFS_SYNC(mp, MNT_NOWAIT, l.l_cred)
            if asyncflag:
                mp.mnt_flag |= MNT_ASYNC
        mutex_exit(mp.mnt_updating)
    mountlist_iterator_destroy(it)


async def sys_sync(l: Any, uap: Any, retval: list[int]) -> int:
    await do_sys_sync(l)
    return 0


async def sys_access(l: Any, uap: Any, retval: list[int]) -> int:
    mode = uap.flags
    if mode & ~(R_OK | W_OK | X_OK):
        return EINVAL
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP,
                              FOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = 0
    if mode:
        vmode = (VREAD if mode & R_OK else 0) | (VEXEC if mode & X_OK else 0)
        if mode & W_OK:
            vmode |= VWRITE
            error = vn_writechk(vp)
        if error == 0:
            error = await VOP_ACCESS(vp, vmode, l.l_cred)
    await vput(vp)
    return error


async def _pathconf(vp: vnode, name: int, retval: list[int]) -> int:
    await vn_lock(vp, LK_SHARED | LK_RETRY)
    error, value = await VOP_PATHCONF(vp, name)
    VOP_UNLOCK(vp)
    if error == 0:
        retval[0] = value
    return error


async def sys_pathconf(l: Any, uap: Any, retval: list[int]) -> int:
    error, nd = await _lookup(uap.path, UIO_USERSPACE, LOOKUP, FOLLOW | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    error = await _pathconf(vp, uap.name, retval)
    await vrele(vp)
    return error


async def sys_fpathconf(l: Any, uap: Any, retval: list[int]) -> int:
    error, fp = fd_getvnode(uap.fd)
    if error:
        return error
    try:
        return await _pathconf(fp.f_vnode, uap.name, retval)
    finally:
        fd_putfile(uap.fd)


# ------------------------------------------------------------------ mount

async def sys___mount50(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_mount(l, uap.type, uap.path, uap.flags, uap.data, uap.data_len,
                              retval)


async def sys_unmount(l: Any, uap: Any, retval: list[int]) -> int:
    return await do_sys_unmount(l, uap.path, uap.flags)


# ------------------------------------------------------------------ registration

def _register() -> None:
    from kern import syscall as sc

    table = [
        (sc.SYS_open, "open", sys_open, ("const char *path", "int flags", "mode_t mode")),
        (sc.SYS_pread, "pread", sys_pread,
         ("int fd", "void *buf", "size_t nbyte", "int PAD", "off_t offset")),
        (sc.SYS_pwrite, "pwrite", sys_pwrite,
         ("int fd", "const void *buf", "size_t nbyte", "int PAD", "off_t offset")),
        (sc.SYS_lseek, "lseek", sys_lseek, ("int fd", "int PAD", "off_t offset", "int whence")),
        (sc.SYS___stat50, "__stat50", sys___stat50, ("const char *path", "struct stat *ub")),
        (sc.SYS___lstat50, "__lstat50", sys___lstat50, ("const char *path", "struct stat *ub")),
        (sc.SYS___fstat50, "__fstat50", sys___fstat50, ("int fd", "struct stat *sb")),
        (sc.SYS_statvfs1, "statvfs1", sys_statvfs1,
         ("const char *path", "struct statvfs *buf", "int flags")),
        (sc.SYS_fstatvfs1, "fstatvfs1", sys_fstatvfs1,
         ("int fd", "struct statvfs *buf", "int flags")),
        (sc.SYS_getvfsstat, "getvfsstat", sys_getvfsstat,
         ("struct statvfs *buf", "size_t bufsize", "int flags")),
        (sc.SYS_mkdir, "mkdir", sys_mkdir, ("const char *path", "mode_t mode")),
        (sc.SYS_rmdir, "rmdir", sys_rmdir, ("const char *path",)),
        (sc.SYS_unlink, "unlink", sys_unlink, ("const char *path",)),
        (sc.SYS_rename, "rename", sys_rename, ("const char *from", "const char *to")),
        (sc.SYS_link, "link", sys_link, ("const char *path", "const char *link")),
        (sc.SYS_symlink, "symlink", sys_symlink, ("const char *path", "const char *link")),
        (sc.SYS_readlink, "readlink", sys_readlink,
         ("const char *path", "char *buf", "size_t count")),
        (sc.SYS___getdents30, "__getdents30", sys___getdents30,
         ("int fd", "char *buf", "size_t count")),
        (sc.SYS_truncate, "truncate", sys_truncate,
         ("const char *path", "int PAD", "off_t length")),
        (sc.SYS_ftruncate, "ftruncate", sys_ftruncate, ("int fd", "int PAD", "off_t length")),
        (sc.SYS_fsync, "fsync", sys_fsync, ("int fd",)),
        (sc.SYS_sync, "sync", sys_sync, ()),
        (sc.SYS___mknod50, "__mknod50", sys___mknod50,
         ("const char *path", "mode_t mode", "dev_t dev")),
        (sc.SYS_chmod, "chmod", sys_chmod, ("const char *path", "mode_t mode")),
        (sc.SYS_lchmod, "lchmod", sys_lchmod, ("const char *path", "mode_t mode")),
        (sc.SYS_fchmod, "fchmod", sys_fchmod, ("int fd", "mode_t mode")),
        (sc.SYS_chown, "chown", sys_chown, ("const char *path", "uid_t uid", "gid_t gid")),
        (sc.SYS_lchown, "lchown", sys_lchown, ("const char *path", "uid_t uid", "gid_t gid")),
        (sc.SYS_fchown, "fchown", sys_fchown, ("int fd", "uid_t uid", "gid_t gid")),
        (sc.SYS___utimes50, "__utimes50", sys___utimes50,
         ("const char *path", "const struct timeval *tptr")),
        (sc.SYS___futimes50, "__futimes50", sys___futimes50,
         ("int fd", "const struct timeval *tptr")),
        (sc.SYS___lutimes50, "__lutimes50", sys___lutimes50,
         ("const char *path", "const struct timeval *tptr")),
        (sc.SYS_access, "access", sys_access, ("const char *path", "int flags")),
        (sc.SYS_pathconf, "pathconf", sys_pathconf, ("const char *path", "int name")),
        (sc.SYS_fpathconf, "fpathconf", sys_fpathconf, ("int fd", "int name")),
        (sc.SYS_chdir, "chdir", sys_chdir, ("const char *path",)),
        (sc.SYS_fchdir, "fchdir", sys_fchdir, ("int fd",)),
        (sc.SYS_chroot, "chroot", sys_chroot, ("const char *path",)),
        (sc.SYS___getcwd, "__getcwd", sys___getcwd, ("char *bufp", "size_t length")),
        (sc.SYS_umask, "umask", sys_umask, ("mode_t newmask",)),
        (sc.SYS___mount50, "__mount50", sys___mount50,
         ("const char *type", "const char *path", "int flags", "void *data",
          "size_t data_len")),
        (sc.SYS_unmount, "unmount", sys_unmount, ("const char *path", "int flags")),
    ]
    for number, name, fn, args in table:
        syscall_register(number, name, fn, args)


_register()


# ------------------------------------------------------------------ file handles

FHANDLE_SIZE_MAX = 1024
_FSID_SIZE = 8  # fsid_t: two int32s, then struct fid


async def vfs_composefh(vp: vnode, size: int) -> tuple[int, bytes, int]:
    """A file handle of ``vp`` (fsid then fid): (error, handle, size needed)."""
    from vfs.mount import VFS_VPTOFH

    fidsize = max(0, size - _FSID_SIZE)
    fid = bytearray(fidsize)
    error, fidsize = await VFS_VPTOFH(vp, fid, fidsize)
    if error and fidsize is None:
        # A file system without file handles (EOPNOTSUPP) says no size.
        return error, b"", _FSID_SIZE
    need = _FSID_SIZE + fidsize
    if error:
        return error, b"", need
    mp = vp.v_mount
    fsid = bytes(mp.mnt_stat.f_fsidx)
    return 0, fsid + bytes(fid[:fidsize]), need


async def vfs_fhtovp(fh: bytes, lktype: int) -> tuple[int, vnode | None]:
    """The vnode of a file handle: ESTALE when its file system is not mounted."""
    from vfs.mount import VFS_FHTOVP, fsid_t, vfs_getvfs

    if len(fh) < _FSID_SIZE:
        return EINVAL, None
    mp = vfs_getvfs(fsid_t.from_buffer_copy(fh[:_FSID_SIZE]))
    if mp is None:
        return ESTALE, None
    return await VFS_FHTOVP(mp, bytearray(fh[_FSID_SIZE:]), lktype)


async def _copyin_fh(fhp: int, fh_size: int) -> tuple[int, bytes]:
    if fh_size < _FSID_SIZE or fh_size > FHANDLE_SIZE_MAX:
        return EINVAL, b""
    buf = bytearray(fh_size)
    error = copyin(fhp, buf, fh_size)
    return error, bytes(buf)


async def sys___getfh30(l: Any, uap: Any, retval: list[int]) -> int:
    """getfh(2): root only; E2BIG (and the size needed in *fh_size) when too small."""
    if not kauth_cred_issuser(l.l_cred):
        return EPERM
    error, nd = await _lookup(uap.fname, UIO_USERSPACE, LOOKUP, FOLLOW | LOCKLEAF | TRYEMULROOT)
    if error:
        return error
    vp = nd.ni_vp
    assert vp is not None
    sz = bytearray(8)
    error = copyin(uap.fh_size, sz, 8)
    if error:
        await vput(vp)
        return error
    usersize = int.from_bytes(sz, "little")
    if usersize > FHANDLE_SIZE_MAX:
        await vput(vp)
        return EINVAL
    error, fh, need = await vfs_composefh(vp, usersize)
    await vput(vp)
    if error == 0 and need > usersize:
        error = E2BIG
    if error == 0:
        error = copyout(bytearray(fh), uap.fhp, need)
    if error in (0, E2BIG):
        e2 = copyout(bytearray(need.to_bytes(8, "little")), uap.fh_size, 8)
        if e2:
            return e2
    return error


async def sys___fhopen40(l: Any, uap: Any, retval: list[int]) -> int:
    """fhopen(2): open a file by handle (root only; no O_CREAT)."""
    if not kauth_cred_issuser(l.l_cred):
        return EPERM
    flags = FFLAGS(uap.flags)
    if flags & (FREAD | FWRITE) == 0 or flags & O_CREAT:
        return EINVAL
    error, fh = await _copyin_fh(uap.fhp, uap.fh_size)
    if error:
        return error
    error, fp, indx = fd_allocfile()
    if error:
        return error
    p = l.l_proc
    error, vp = await vfs_fhtovp(fh, LK_EXCLUSIVE)
    if error:
        fd_abort(p, fp, indx)
        return error
    assert vp is not None
    from vfs.vnode_if import VOP_OPEN

    if vp.v_type == VDIR and flags & FWRITE:
        error = EISDIR
    if error == 0 and flags & FREAD:
        error = await VOP_ACCESS(vp, VREAD, l.l_cred)
    if error == 0 and flags & FWRITE:
        error = vn_writechk(vp) or await VOP_ACCESS(vp, VWRITE, l.l_cred)
    if error == 0:
        error = await VOP_OPEN(vp, flags, l.l_cred)
    if error:
        await vput(vp)
        fd_abort(p, fp, indx)
        return error
    if flags & FWRITE:
        await mutex_enter(vp.v_interlock)
        vp.v_writecount += 1
        mutex_exit(vp.v_interlock)
    fp.f_flag = flags & FMASK
    fp.f_type = DTYPE_VNODE
    fp.f_ops = vnops
    fp.f_data = vp
    fp.f_cred = l.l_cred
    VOP_UNLOCK(vp)
    fd_affix(p, fp, indx)
    retval[0] = indx
    return 0


async def sys___fhstat50(l: Any, uap: Any, retval: list[int]) -> int:
    """fhstat(2): stat a file by handle (root only)."""
    if not kauth_cred_issuser(l.l_cred):
        return EPERM
    error, fh = await _copyin_fh(uap.fhp, uap.fh_size)
    if error:
        return error
    error, vp = await vfs_fhtovp(fh, LK_SHARED)
    if error:
        return error
    assert vp is not None
    sb = stat()
    error = await vn_stat(vp, sb)
    await vput(vp)
    if error:
        return error
    return _copyout_struct(sb, uap.sb)


def _register_fh() -> None:
    syscall_register(SYS___getfh30, "__getfh30", sys___getfh30,
                     ("const char *fname", "void *fhp", "size_t *fh_size"))
    syscall_register(SYS___fhopen40, "__fhopen40", sys___fhopen40,
                     ("const void *fhp", "size_t fh_size", "int flags"))
    syscall_register(SYS___fhstat50, "__fhstat50", sys___fhstat50,
                     ("const void *fhp", "size_t fh_size", "struct stat *sb"))


_register_fh()
