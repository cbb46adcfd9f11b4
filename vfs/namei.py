"""Path name lookup (kern/vfs_lookup.c, NetBSD 8).

``namei(ndp)`` walks a path one component at a time from the root or the
current directory (or ``ni_atdir``), calling VOP_LOOKUP on each directory,
crossing mount points downward (into the mounted root) and upward (``..`` of
a mount root goes to the covered vnode's parent), following symbolic links
(at most MAXSYMLINKS, then ELOOP), and checking ENAMETOOLONG, ENOTDIR,
EACCES (search permission) as it goes.

On return (error 0):

* ``ni_vp`` is the looked-up vnode, referenced (locked with LOCKLEAF), or
  None for CREATE/RENAME of a name that does not exist;
* with LOCKPARENT, ``ni_dvp`` is the parent, referenced and locked; with
  WANTPARENT only referenced.  When ``ni_vp`` is ``ni_dvp`` ("." as last
  component) it is locked once and referenced twice.

Not a line-by-line port: kemu's own walk with the results, flags and errnos
of NetBSD 8's namei (vfs_lookup.c's namei_tryemulroot, lookup_once,
namei_follow; struct nameidata and pathbuf of sys/namei.h).  Where it
differs:

* One loop over the path as a Python str (UTF-8, surrogateescape), not
  NetBSD's namei_state with lookup_parsepath/lookup_once; no name cache
  (cache_lookup/cache_enter), no nchstats, no emulation root
  (TRYEMULROOT has no effect), no ni_erootdir.
* A free last name for CREATE or RENAME is taken from the file system's
  EJUSTRETURN or ENOENT; namei itself then checks EROFS and write
  access to the directory, and for DELETE or RENAME of an existing name
  checks write access again (NetBSD leaves those checks to VOP_LOOKUP).
* The path "/" as the object of an operation: DELETE and RENAME are
  EINVAL, CREATE is EEXIST (kemu's answers).
* Directories are locked exclusively for each VOP_LOOKUP.  Crossing into a
  mounted file system (``_mounted_root``) keeps 1.203's order: vfs_busy of
  the mount, release of the covered vnode, VFS_ROOT, vfs_unbusy; as in
  1.203, ``v_mountedhere`` is read once per mount and not checked again
  after vfs_busy (that re-check is later NetBSD's lookup_crossmount, which
  reads it unlocked first).  kemu holds no vnode lock across it, where
  1.203 has the covered vnode locked from the read through vfs_busy and
  the directory locked until the covered vnode's release.  In kemu that
  lock would change no outcome: dounmount clears ``v_mountedhere`` only
  after setting IMNT_GONE, so a crossing that read the old mount fails in
  vfs_busy with ENOENT, locked or not, as 1.203's does; and
  mount_domount and dounmount change it under the covered vnode's lock
  with nothing that sleeps between taking the lock and dropping it, so an
  unlocked read sees it before or after the change, never in between
  (lockset exempts namei and ``_mounted_root`` from the lock it checks).
* ``namei_simple_kernel``/``namei_simple_user`` take the NSM_* flags as
  FOLLOW|TRYEMULROOT bits.
* An absolute path starts at the process root with the one reference
  namei_getstartdir takes.  An absolute symbolic link restarts at the root
  as namei_follow does (vrele of the directory, vref of the root), except
  when the directory it was met in is that root: its reference is kept
  (NetBSD drops and retakes it; neither is the last one, so no outcome
  differs).
"""

from __future__ import annotations

from typing import Any

from kern.cpu import curlwp
from kern.errno import (
    EEXIST,
    EINVAL,
    EJUSTRETURN,
    ELOOP,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    EROFS,
)
from kern.subr_copy import copyinstr
from kern.subr_uio import UIO_READ, kernel_uio
from vfs.mount import MNT_RDONLY, VFS_ROOT, vfs_busy, vfs_unbusy, vfsglobals
from vfs.namei_h import (
    CREATE,
    DELETE,
    FOLLOW,
    ISDOTDOT,
    ISLASTCN,
    LOCKLEAF,
    LOCKPARENT,
    LOOKUP,
    MAXPATHLEN,
    MAXSYMLINKS,
    NAME_MAX,
    NOCROSSMOUNT,
    RENAME,
    REQUIREDIR,
    TRYEMULROOT,
    componentname,
)
from vfs.vnode import (
    LK_EXCLUSIVE,
    LK_RETRY,
    VDIR,
    VEXEC,
    VLNK,
    VV_ROOT,
    VWRITE,
    vn_lock,
    vnode,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import VOP_ACCESS, VOP_LOOKUP, VOP_READLINK, VOP_UNLOCK

# Want the parent back referenced but unlocked.  NetBSD 8 has no such flag
# (its bit went to TRYEMULROOT); kemu's rename uses it, so it gets a bit of
# its own outside NetBSD's MODMASK/PARAMASK.
WANTPARENT = 0x40000000


# ------------------------------------------------------------------ pathbuf

class pathbuf:
    """struct pathbuf: a path in kernel memory."""

    __slots__ = ("pb_path", "pb_pathcopy")

    def __init__(self, path: str) -> None:
        self.pb_path = path
        self.pb_pathcopy: str | None = None

    def __repr__(self) -> str:
        return f"pathbuf({self.pb_path!r})"


def pathbuf_create(path: str) -> pathbuf:
    return pathbuf(path)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def pathbuf_copyin(userpath: int) -> tuple[int, pathbuf | None]:
    """Copy a path in from user space: EFAULT, ENAMETOOLONG (MAXPATHLEN with the NUL)."""
    kbuf = bytearray(MAXPATHLEN)
    error, done = copyinstr(userpath, kbuf, MAXPATHLEN)
    if error:
        return error, None
    return 0, pathbuf(_decode(bytes(kbuf[:done - 1])))


def pathbuf_destroy(pb: pathbuf) -> None:
    pb.pb_path = ""


# ------------------------------------------------------------- nameidata

class nameidata:
    """struct nameidata."""

    __slots__ = ("ni_atdir", "ni_pathbuf", "ni_pnbuf", "ni_rootdir", "ni_erootdir",
                 "ni_vp", "ni_dvp", "ni_pathlen", "ni_next", "ni_loopcnt", "ni_cnd")

    def __init__(self) -> None:
        self.ni_atdir: vnode | None = None
        self.ni_pathbuf: pathbuf | None = None
        self.ni_pnbuf = ""
        self.ni_rootdir: vnode | None = None
        self.ni_erootdir: vnode | None = None
        self.ni_vp: vnode | None = None
        self.ni_dvp: vnode | None = None
        self.ni_pathlen = 0
        self.ni_next = ""
        self.ni_loopcnt = 0
        self.ni_cnd = componentname()


def NDINIT(ndp: nameidata, op: int, flags: int, pathbuf_: pathbuf) -> None:
    ndp.ni_cnd.cn_nameiop = op
    ndp.ni_cnd.cn_flags = flags
    ndp.ni_atdir = None
    ndp.ni_pathbuf = pathbuf_
    ndp.ni_cnd.cn_cred = curlwp().l_cred
    ndp.ni_vp = None
    ndp.ni_dvp = None


def NDAT(ndp: nameidata, dvp: vnode | None) -> None:
    ndp.ni_atdir = dvp


# NSM_* flags for namei_simple_*
NSM_NOFOLLOW_NOEMULROOT = 0
NSM_NOFOLLOW_TRYEMULROOT = TRYEMULROOT
NSM_FOLLOW_NOEMULROOT = FOLLOW
NSM_FOLLOW_TRYEMULROOT = FOLLOW | TRYEMULROOT


def _cwdi() -> Any:
    return curlwp().l_proc.p_cwdi


def _rootdir() -> vnode:
    c = _cwdi()
    if c is not None and c.cwdi_rdir is not None:
        return c.cwdi_rdir
    rv = vfsglobals().rootvnode
    if rv is None:
        from kern.subr_prf import panic

        panic("namei: no root vnode")
    return rv  # type: ignore[return-value]


def _startdir(ndp: nameidata, path: str) -> vnode:
    if path.startswith("/"):
        return _rootdir()
    if ndp.ni_atdir is not None:
        return ndp.ni_atdir
    c = _cwdi()
    if c is not None and c.cwdi_cdir is not None:
        return c.cwdi_cdir
    return _rootdir()


async def _readlink(vp: vnode, cred: Any) -> tuple[int, str]:
    buf = bytearray(MAXPATHLEN)
    u = kernel_uio(buf, 0, UIO_READ)
    await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    error = await VOP_READLINK(vp, u, cred)
    VOP_UNLOCK(vp)
    if error:
        return error, ""
    n = MAXPATHLEN - u.uio_resid
    return 0, _decode(bytes(buf[:n]))


async def _mounted_root(vp: vnode) -> tuple[int, vnode]:
    """Follow mounts stacked on ``vp`` down to the top one's root (refs adjusted).

    lookup_once's crossing (vfs_lookup.c 1.203), in its order: vfs_busy,
    the covered vnode released, VFS_ROOT, vfs_unbusy.  Each mount is busy
    across its VFS_ROOT, so an unmount of it waits for the crossing; a
    crossing into a mount being unmounted waits for the unmount and fails
    with vfs_busy's error (ENOENT once the mount is gone).  No vnode lock is
    held (see the module's deviations).  On an error ``vp`` has been
    released."""
    while vp.v_type == VDIR and (mp := vp.v_mountedhere) is not None:
        error = await vfs_busy(mp)
        if error != 0:
            await vrele(vp)
            return error, vp
        await vrele(vp)
        error, root = await VFS_ROOT(mp, 0)
        vfs_unbusy(mp)
        if error:
            return error, vp
        vp = root  # type: ignore[assignment]
    return 0, vp


async def namei(ndp: nameidata) -> int:
    """Look a path up; see the module docstring for what comes back."""
    cnp = ndp.ni_cnd
    if ndp.ni_pathbuf is None:
        return EINVAL
    path = ndp.ni_pathbuf.pb_path
    if len(path.encode("utf-8", "surrogateescape")) >= MAXPATHLEN:
        return ENAMETOOLONG
    if path == "":
        return ENOENT
    op = cnp.cn_nameiop
    flags = cnp.cn_flags
    ndp.ni_loopcnt = 0
    ndp.ni_vp = None
    ndp.ni_dvp = None

    dvp = _startdir(ndp, path)
    vref(dvp)
    remaining = path
    while True:
        # Absolute part: (re)start at the root.
        if remaining.startswith("/"):
            root = _rootdir()
            if dvp is not root:  # (an absolute path starts there already)
                await vrele(dvp)
                dvp = root
                vref(dvp)
            remaining = remaining.lstrip("/")
            if remaining == "":
                # The path was "/" (possibly after a symlink): the root itself.
                return await _finish_root(ndp, dvp)
        comp, sep, rest = remaining.partition("/")
        rest_stripped = rest.lstrip("/")
        trailing_slash = bool(sep) and rest_stripped == ""
        islast = rest_stripped == ""
        namelen = len(comp.encode("utf-8", "surrogateescape"))
        if namelen > NAME_MAX:
            await vrele(dvp)
            return ENAMETOOLONG
        if dvp.v_type != VDIR:
            await vrele(dvp)
            return ENOTDIR
        cnp.cn_nameptr = comp
        cnp.cn_namelen = namelen
        cnp.cn_flags = flags & ~(ISLASTCN | ISDOTDOT | REQUIREDIR)
        if islast:
            cnp.cn_flags |= ISLASTCN
        if trailing_slash:
            cnp.cn_flags |= REQUIREDIR
        if comp == "..":
            cnp.cn_flags |= ISDOTDOT
            # ".." of the process root stays there; of a mount root, go to the
            # directory the file system is mounted on first.
            if dvp is _rootdir():
                if islast:
                    return await _finish(ndp, dvp, dvp, flags, dot=True)
                remaining = rest_stripped
                continue
            while dvp.v_vflag & VV_ROOT and dvp.v_mount is not None and \
                    dvp.v_mount.mnt_vnodecovered is not None:
                covered = dvp.v_mount.mnt_vnodecovered
                vref(covered)
                await vrele(dvp)
                dvp = covered
        # Search permission on the directory.
        await vn_lock(dvp, LK_EXCLUSIVE | LK_RETRY)
        error = await VOP_ACCESS(dvp, VEXEC, cnp.cn_cred)
        if error:
            await vput(dvp)
            return error
        nameop_last = islast and op != LOOKUP
        if nameop_last and dvp.v_mount is not None and dvp.v_mount.mnt_flag & MNT_RDONLY \
                and op in (DELETE, RENAME):
            await vput(dvp)
            return EROFS
        error, vp = await VOP_LOOKUP(dvp, cnp)
        if error:
            if error in (ENOENT, EJUSTRETURN) and nameop_last and op in (CREATE, RENAME):
                # The name is free: hand back the locked parent for the create.
                if dvp.v_mount is not None and dvp.v_mount.mnt_flag & MNT_RDONLY:
                    await vput(dvp)
                    return EROFS
                error = await VOP_ACCESS(dvp, VWRITE, cnp.cn_cred)
                if error:
                    await vput(dvp)
                    return error
                ndp.ni_vp = None
                ndp.ni_dvp = dvp
                if not flags & LOCKPARENT:
                    VOP_UNLOCK(dvp)
                return 0
            await vput(dvp)
            return error
        assert vp is not None
        if nameop_last and op in (DELETE, RENAME) and vp is not dvp:
            error = await VOP_ACCESS(dvp, VWRITE, cnp.cn_cred)
            if error:
                await vput(dvp)
                await vrele(vp)
                return error
        VOP_UNLOCK(dvp)
        # Mounted on?  Go to the root of what is mounted there (not with NOCROSSMOUNT).
        if vp.v_type == VDIR and vp.v_mountedhere is not None and \
                not flags & NOCROSSMOUNT:
            error, vp = await _mounted_root(vp)
            if error:
                await vrele(dvp)
                return error
        # A symbolic link in the middle, or at the end with FOLLOW.
        if vp.v_type == VLNK and (not islast or flags & FOLLOW or trailing_slash):
            ndp.ni_loopcnt += 1
            if ndp.ni_loopcnt > MAXSYMLINKS:
                await vrele(vp)
                await vrele(dvp)
                return ELOOP
            error, target = await _readlink(vp, cnp.cn_cred)
            await vrele(vp)
            if error:
                await vrele(dvp)
                return error
            if target == "":
                await vrele(dvp)
                return ENOENT
            remaining = target + (("/" + rest) if sep else "")
            if len(remaining.encode("utf-8", "surrogateescape")) >= MAXPATHLEN:
                await vrele(dvp)
                return ENAMETOOLONG
            continue
        if not islast:
            await vrele(dvp)
            dvp = vp
            remaining = rest_stripped
            continue
        if trailing_slash and vp.v_type != VDIR:
            await vrele(vp)
            await vrele(dvp)
            return ENOTDIR
        return await _finish(ndp, dvp, vp, flags)


async def _finish_root(ndp: nameidata, root: vnode) -> int:
    """The whole path named the root directory."""
    cnp = ndp.ni_cnd
    op = cnp.cn_nameiop
    flags = cnp.cn_flags
    cnp.cn_nameptr = "."
    cnp.cn_namelen = 1
    cnp.cn_flags |= ISLASTCN
    # The root has no parent to hand back: refuse the operations that need one.
    if op in (DELETE, RENAME):
        await vrele(root)
        return EINVAL
    if op == CREATE:
        await vrele(root)
        return EEXIST
    ndp.ni_dvp = None
    ndp.ni_vp = root
    if flags & LOCKLEAF:
        await vn_lock(root, LK_EXCLUSIVE | LK_RETRY)
    return 0


async def _finish(ndp: nameidata, dvp: vnode, vp: vnode, flags: int, dot: bool = False) -> int:
    """Lock and hand back the last component as the caller's flags ask."""
    if dot:
        vref(vp)
    ndp.ni_vp = vp
    want_parent = bool(flags & (LOCKPARENT | WANTPARENT))
    if want_parent:
        ndp.ni_dvp = dvp
        if flags & LOCKPARENT:
            await vn_lock(dvp, LK_EXCLUSIVE | LK_RETRY)
        # "." as last component: vp is dvp, locked once if LOCKPARENT did it.
        if flags & LOCKLEAF and not (vp is dvp and flags & LOCKPARENT):
            await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    else:
        ndp.ni_dvp = None
        await vrele(dvp)
        if flags & LOCKLEAF:
            await vn_lock(vp, LK_EXCLUSIVE | LK_RETRY)
    return 0


async def namei_simple_kernel(path: str, sflags: int) -> tuple[int, vnode | None]:
    """Look up a kernel path; the vnode comes back referenced, unlocked."""
    nd = nameidata()
    NDINIT(nd, LOOKUP, sflags & (FOLLOW | TRYEMULROOT), pathbuf_create(path))
    error = await namei(nd)
    if error:
        return error, None
    return 0, nd.ni_vp


async def namei_simple_user(upath: int, sflags: int) -> tuple[int, vnode | None]:
    """Look up a user-space path (copied in: EFAULT, ENAMETOOLONG)."""
    error, pb = pathbuf_copyin(upath)
    if error:
        return error, None
    assert pb is not None
    nd = nameidata()
    NDINIT(nd, LOOKUP, sflags & (FOLLOW | TRYEMULROOT), pb)
    error = await namei(nd)
    pathbuf_destroy(pb)
    if error:
        return error, None
    return 0, nd.ni_vp
