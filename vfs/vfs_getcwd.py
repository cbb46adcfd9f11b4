"""getcwd(2): the path of a directory, found by walking ``..`` (kern/vfs_getcwd.c).

Port of NetBSD's sys/kern/vfs_getcwd.c as NetBSD 8 has it (read at revision
1.50, 2014; the copyright notice is Bill Sommerfeld's for The NetBSD
Foundation, in LICENSE.NetBSD).  ``sys___getcwd`` asks ``getcwd_common`` for
the path of the process's current directory up to its root directory (or the
system root): from the current directory's vnode it looks up ``..``, reads
that directory for the entry whose file number is the child's
(``getcwd_scandir``), puts the name in front of what it has, and climbs, also
across mount points (a mount's root steps over to the vnode it covers).  So
the answer is where the directory is now, whatever path led there: after
``chdir`` through a symbolic link to ``/`` it is ``/``, after a rename the new
name, and a removed directory has no ``..`` entry or name to find (ENOENT).
``vn_isunder`` is the same walk without a buffer, towards a given root:
chroot(2) and fchdir(2) use it to keep a process inside its root directory.

Errors as in the C: ERANGE for a buffer shorter than 2 bytes or one the path
does not fit; EACCES when a directory on the way may not be searched (the
current one) or read and searched (the ones above it); ENOENT when a name is
not found or a covered vnode is gone; ENOTDIR; and whatever VOP_GETATTR,
VOP_LOOKUP and VOP_READDIR answer.  Kept from the C (every revision has it):
the walk stops after length/2 steps without an error, so a buffer that
one-letter names fill exactly gets the tail of the path ("/y" for /mnt/x/y
in 3 bytes; tests/fs/vfs/test_getcwd.py pins it).

Deviations:

* kemu has no name cache (vfs_cache.c is not ported; puffs' cache_lookup
  always misses), so ``getcwd_getcache`` and ``cache_revlookup``, which could
  only miss, are left out: every step reads the parent directory.  For the
  same reason ``vnode_to_path`` (cache only) is not ported.
* ``proc_isunder`` (for ptrace and procfs, which kemu has not) is not ported.
* ``getcwd_scandir`` releases the parent when it cannot lock it; the C read
  drops that reference on the floor (kemu would keep the vnode busy for ever).
* The path is built in a ``bytearray`` with ``bp`` an index into it, as the C
  builds it backwards in a kmem buffer.
* A record whose header (13 bytes) or name runs past the end of the
  directory buffer is EINVAL, a malformed directory: the C reads past its
  kmem buffer there (a puffs server's readdir reply can make it so).  Records
  inside the buffer get the C's check and no more: ``d_reclen`` must be at
  least ``_DIRENT_MINSIZE`` (16, the aligned size of an empty record), and a
  name longer than its record is copied from the bytes that follow, as the
  C's memcpy does.
"""

from __future__ import annotations

import struct
from typing import Any

from kern.errno import EINVAL, ENOENT, ENOMEM, ENOTDIR, ERANGE
from kern.kern_rwlock import RW_READER, rw_enter, rw_exit
from kern.param import MAXPATHLEN
from kern.subr_copy import copyout
from kern.subr_kmem import KM_SLEEP, kmem_alloc, kmem_free
from kern.subr_prf import KASSERTMSG
from kern.subr_uio import UIO_READ, kernel_uio
from vfs.dirent import _DIRENT_RECLEN, _NAMEOFF, DT_WHT
from vfs.mount import vfsglobals
from vfs.namei_h import ISDOTDOT, ISLASTCN, LOOKUP, RDONLY, componentname
from vfs.vnode import (
    LK_EXCLUSIVE,
    LK_RETRY,
    VDIR,
    VEXEC,
    VREAD,
    VV_ROOT,
    vattr,
    vn_lock,
    vnode,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import VOP_ACCESS, VOP_GETATTR, VOP_LOOKUP, VOP_READDIR

GETCWD_CHECK_ACCESS = 0x0001  # sys/vfs_syscalls.h

UFS_DIRBLKSIZ = 512  # ufs/ufs/dir.h: DIRBLKSIZ, DEV_BSIZE

_DIRHDR = struct.Struct("<QHHB")  # d_fileno d_reclen d_namlen d_type (vfs.dirent)


# sys/dirent.h: the size of an empty record, _DIRENT_RECLEN(dp, 0) (16).
_DIRENT_MINSIZE = _DIRENT_RECLEN(0)


async def getcwd_scandir(lvp: vnode, bp: int, bufp: bytearray | None,
                         l: Any) -> tuple[int, vnode | None, int]:
    """Find the parent of ``lvp`` and, if ``bufp`` is given, ``lvp``'s name in it.

    ``lvp`` comes locked and referenced and is released (vput).  The name goes
    into ``bufp`` just before index ``bp``.  -> (error, uvp, bp): ``uvp`` the
    parent, locked and referenced, or None (also after an error, the caller
    releasing a ``uvp`` it gets back with one); ``bp`` where the name begins.
    """
    cred = l.l_cred
    va = vattr()

    # If we want the name, get what we need while lvp is still locked.
    if bufp is not None:
        error = await VOP_GETATTR(lvp, va, cred)
        if error:
            await vput(lvp)
            return error, None, bp

    # The hard way: the parent is the lookup of "..".
    cn = componentname(LOOKUP, ISLASTCN | ISDOTDOT | RDONLY, cred, "..")

    # lvp is locked here
    error, uvp = await VOP_LOOKUP(lvp, cn)
    await vput(lvp)
    if error:
        return error, None, bp
    assert uvp is not None
    # lvp is unlocked: lock uvp
    error = await vn_lock(uvp, LK_EXCLUSIVE)
    if error:
        await vrele(uvp)  # kemu: the C loses this reference
        return error, None, bp

    # Without a buffer the parent is all the caller wants.
    if bufp is None:
        return 0, uvp, bp

    fileno = va.va_fileid

    # The UFS directory block is as good a read size as any.
    dirbuflen = UFS_DIRBLKSIZ
    if dirbuflen < va.va_blocksize:
        dirbuflen = va.va_blocksize
    dirbuf = kmem_alloc(dirbuflen, KM_SLEEP)

    error, bp = await _scan(uvp, fileno, dirbuf, dirbuflen, bufp, bp, cred)

    # out:
    kmem_free(dirbuf, dirbuflen)
    return error, uvp, bp


async def _scan(uvp: vnode, fileno: int, dirbuf: bytearray, dirbuflen: int,
                bufp: bytearray, bp: int, cred: Any) -> tuple[int, int]:
    """getcwd_scandir's loop over the blocks of ``uvp`` (its ``goto out`` is a return)
    -> (error, bp): 0 and where the name begins once the entry of ``fileno`` is
    found and copied, else an errno and ``bp`` unchanged."""
    tries = 0
    off = 0
    while True:
        # VOP_READDIR of the parent
        u = kernel_uio(dirbuf, off, UIO_READ, dirbuflen)
        error, eofflag, _cookies, _ncookies = await VOP_READDIR(uvp, u, cred)
        off = u.uio_offset

        # Try again if NFS tosses its cookies (a directory that always answers
        # EINVAL on a later block would loop for ever, as the C says).
        if error == EINVAL and tries < 3:
            off = 0
            tries += 1
            continue

        if error:
            return error, bp
        tries = 0
        # scan the block for the entry of the child
        cpos = 0
        length = dirbuflen - u.uio_resid
        while length > 0:
            if cpos + _NAMEOFF > dirbuflen:  # kemu: the C reads past dirbuf
                return EINVAL, bp
            d_fileno, reclen, d_namlen, d_type = _DIRHDR.unpack_from(dirbuf, cpos)
            # a malformed directory
            if reclen < _DIRENT_MINSIZE:
                return EINVAL, bp
            # (a VOP_LOOKUP to check the match would be right, and, the C
            # says, too hard to lock)
            if d_type != DT_WHT and d_fileno == fileno:
                nbp = bp - d_namlen
                if nbp <= 0:
                    return ERANGE, bp
                if cpos + _NAMEOFF + d_namlen > dirbuflen:  # kemu: past dirbuf
                    return EINVAL, bp
                bufp[nbp:bp] = dirbuf[cpos + _NAMEOFF:cpos + _NAMEOFF + d_namlen]
                return 0, nbp
            cpos += reclen
            length -= reclen
        if eofflag:
            break
    # (the C's mount -o union case is #if 0)
    return ENOENT, bp


async def getcwd_common(lvp: vnode, rvp: vnode | None, bp: int | None,
                        bufp: bytearray | None, limit: int, flags: int,
                        l: Any) -> tuple[int, int | None]:
    """Walk up from ``lvp`` to ``rvp`` (None: the process's root, or the system's),
    writing the path backwards into ``bufp`` before index ``bp``, at most
    ``limit`` steps.  -> (error, bp): where the path now begins."""
    cwdi = l.l_proc.p_cwdi
    cred = l.l_cred
    uvp: vnode | None = None
    perms = VEXEC

    error = 0
    if rvp is None:
        rvp = cwdi.cwdi_rdir
        if rvp is None:
            rvp = vfsglobals().rootvnode
    assert rvp is not None

    vref(rvp)
    vref(lvp)

    # Before each exit (out:) lvp is None or locked and held; so is uvp.
    await vn_lock(lvp, LK_EXCLUSIVE | LK_RETRY)
    cur: vnode | None = lvp
    if bufp is None:
        bp = None

    # The loop ends at the root, when a lookup or a directory read fails, or
    # when the buffer is full.
    if cur is rvp:
        if bp is not None and bufp is not None:
            bp -= 1
            bufp[bp] = ord("/")
        return await _getcwd_out(error, bp, uvp, cur, rvp)
    while True:
        assert cur is not None
        # The access check, when the caller wants one.
        if flags & GETCWD_CHECK_ACCESS:
            error = await VOP_ACCESS(cur, perms, cred)
            if error:
                return await _getcwd_out(error, bp, uvp, cur, rvp)
            perms = VEXEC | VREAD

        # Step up if cur is the root of a mount.
        while cur.v_vflag & VV_ROOT:
            if cur is rvp:
                return await _getcwd_out(error, bp, uvp, cur, rvp)
            tvp = cur
            cur = cur.v_mount.mnt_vnodecovered if cur.v_mount is not None else None
            await vput(tvp)
            # a root covering nothing: we were not under rvp
            if cur is None:
                return await _getcwd_out(ENOENT, bp, uvp, cur, rvp)
            vref(cur)
            error = await vn_lock(cur, LK_EXCLUSIVE | LK_RETRY)
            if error != 0:
                await vrele(cur)
                return await _getcwd_out(error, bp, uvp, None, rvp)

        # No name cache (see the notes): read the directory.
        if cur.v_type != VDIR:
            return await _getcwd_out(ENOTDIR, bp, uvp, cur, rvp)
        error, uvp, nbp = await getcwd_scandir(cur, bp if bp is not None else 0, bufp, l)
        cur = None  # released by getcwd_scandir
        if error:
            return await _getcwd_out(error, bp, uvp, cur, rvp)
        if bp is not None and bufp is not None:
            bp = nbp
            KASSERTMSG(bp > 0, "getcwd: oops, went back too far")
            bp -= 1
            bufp[bp] = ord("/")
        cur = uvp
        uvp = None
        limit -= 1
        if cur is rvp or limit <= 0:
            return await _getcwd_out(error, bp, uvp, cur, rvp)


async def _getcwd_out(error: int, bp: int | None, uvp: vnode | None, lvp: vnode | None,
                      rvp: vnode) -> tuple[int, int | None]:
    """getcwd_common's ``out:``: release what is held."""
    if uvp is not None:
        await vput(uvp)
    if lvp is not None:
        await vput(lvp)
    await vrele(rvp)
    return error, bp


async def vn_isunder(lvp: vnode, rvp: vnode | None, l: Any) -> bool:
    """Whether directory ``lvp`` lies in the tree under ``rvp`` (None: the
    process's root): the walk up from it reaches ``rvp`` without an error
    within MAXPATHLEN/2 steps.  chroot and fchdir use it so that a chroot
    cannot be left."""
    error, _ = await getcwd_common(lvp, rvp, None, None, MAXPATHLEN // 2, 0, l)
    return not error


async def sys___getcwd(l: Any, uap: Any, retval: list[int]) -> int:
    """__getcwd(char *bufp, size_t length): the current directory's path, with its
    NUL; the return value is its length, the NUL included."""
    length = uap.length
    if length > MAXPATHLEN * 4:
        length = MAXPATHLEN * 4
    elif length < 2:
        return ERANGE

    path = kmem_alloc(length, KM_SLEEP)
    if path is None:
        return ENOMEM

    bp = length
    bend = bp
    bp -= 1
    path[bp] = 0

    # At most length/2 steps: each takes two bytes or more of the buffer.
    cwdi = l.l_proc.p_cwdi
    await rw_enter(cwdi.cwdi_lock, RW_READER)
    error, nbp = await getcwd_common(cwdi.cwdi_cdir, None, bp, path, length // 2,
                                     GETCWD_CHECK_ACCESS, l)
    rw_exit(cwdi.cwdi_lock)

    if not error:
        assert nbp is not None
        lenused = bend - nbp
        retval[0] = lenused
        # the result goes to the user's buffer
        error = copyout(path[nbp:bend], uap.bufp, lenused)

    # out:
    kmem_free(path, length)
    return error
