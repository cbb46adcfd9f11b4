"""Directories: readdir, lookup, entering and removing names: port of NetBSD's
sys/ufs/ext2fs/ext2fs_lookup.c.

Compared against ``$NetBSD: ext2fs_lookup.c,v 1.73 2013/01/22 dholland$``,
the stored revision nearest NetBSD 8.  ``ext2fs_dotdot``,
``ext2fs_setdotdot``, ``ext2fs_sticky_denied``, ``cn_name`` and the search
helper ``_search`` are kemu's.  The notices are in LICENSE.NetBSD.

Directories are searched linearly, block by block, through the device's
buffer cache.  Hashed (dir_index) directories are linear directories too:
their index blocks look like empty entries, so they are read as such; a
directory this code changes loses its index flag (EXT2_INDEX), which keeps
e2fsck and Linux happy without maintaining the hash tree.

Deviations:

* No ``ufs_lookup_results`` (i_crap): the operations that change a
  directory (direnter, dirremove, dirrewrite) search for their name again
  instead of using the slot a previous VOP_LOOKUP left; so ext2fs_lookup
  records no free slot, no ulr_diroff (no second pass from the last hit),
  and no ulr_endoff (direnter never truncates empty trailing blocks).
* No name cache: no cache_lookup/cache_enter.
* Every entry is checked (``ext2fs_dirbadentry``, which also refuses an
  entry header past the block and a reserved inode number below
  EXT2_ROOTINO); a bad entry is EIO with a console message
  (``ext2fs_dirbad``).  1.73 checks only ``e2d_reclen == 0`` unless dirchk
  is set, then panics in ext2fs_dirbadentry; its lookup calls ufs_dirbad
  (a panic on a r/w mount) and skips to the next block.
* ``ext2fs_readdir`` walks the blocks itself (1.73: one VOP_READ of
  uio_resid rounded down to a block); an offset inside a block skips the
  entries before it; unused entries (ino 0) are not returned (1.73 hands
  them out with d_fileno 0); d_type comes from the entry when the
  filetype feature is on (1.73: DT_UNKNOWN); a negative offset is EINVAL;
  EINVAL for a short buffer only when not one entry fits (1.73: when
  uio_resid does not reach a block end); cookies are always returned,
  one per entry passed, also after an error.
* ``ext2fs_lookup``: a name longer than EXT2FS_MAXNAMLEN is ENAMETOOLONG;
  "." is answered without reading the directory (RENAME: EISDIR, DELETE:
  VWRITE checked, no sticky check); no "i_size too small" repair; for
  DELETE the write access is checked before the inode is fetched; the
  sticky test is ``ext2fs_sticky_denied`` (superuser, owner of the
  directory or of the file) for kauth's KAUTH_VNODE_DELETE with
  genfs_can_sticky; the vnode comes from ``vcache_get`` unlocked (lookup
  v2), so there is no unlock/relock of the directory for "..".
* ``ext2fs_direnter`` takes the first entry with room (an unused one or
  one's slack) and never compacts a block; with no room it grows the
  directory with ``ext2fs_balloc`` (B_CLRBUF) and a delayed write, where
  1.73 writes the entry with VOP_WRITE(IO_SYNC).  Changed blocks are
  written with ``bdwrite`` (1.73: VOP_BWRITE, synchronous), here and in
  dirremove, dirrewrite and setdotdot.  The type byte is set when the
  filetype feature is on (1.73 also requires revision > 0).
* ``ext2fs_dirremove`` may be given the inode the name must still refer to
  (ENOENT otherwise); ``ext2fs_dirrewrite`` is ENOENT if the name is gone
  and leaves the type byte alone without the filetype feature.
* ``ext2fs_dirempty`` returns ``(error, empty)`` and reads blocks through
  ext2fs_blkatoff (1.73: vn_rdwr of each entry header, a read error or
  reclen 0 meaning "not empty").
* ``ext2fs_checkpath`` takes ``target`` unlocked and locks each ".." step
  shared; ``source`` equal to ``target`` is EINVAL (1.73: EEXIST, the
  answer of the pre-2012 rename that called it).  NetBSD 8's rename
  (ext2fs_rename.c 1.5) no longer calls it: genfs_rename's genealogy
  check answers EINVAL for a directory renamed into itself or below it
  (genfs_rename_lock's overlap error), and kemu's ext2fs rename uses this
  function in that role (rename(2) itself stops the first case earlier,
  in do_sys_rename; tests/fs/ext2fs/test_ext2fs_checkpath.py calls
  VOP_RENAME directly).  A ".." that is missing or not a directory is
  EIO/ENOTDIR (1.73 panics); a cycle of ".." entries ends with EIO after
  100000 steps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.errno import (
    EINVAL,
    EIO,
    EISDIR,
    EJUSTRETURN,
    ENAMETOOLONG,
    ENOENT,
    ENOTDIR,
    EPERM,
    EROFS,
)
from kern.kern_auth import kauth_cred_geteuid, kauth_cred_issuser
from kern.subr_prf import printf
from kern.subr_uio import uiomove
from vfs.dirent import DT_UNKNOWN, pack_dirent
from vfs.genfs_io import uvm_vnp_setsize
from vfs.mount import MNT_RDONLY
from vfs.namei_h import CREATE, DELETE, ISDOTDOT, ISLASTCN, RENAME
from vfs.vfs_bio import bdwrite, brelse
from vfs.vnode import (
    LK_RETRY,
    LK_SHARED,
    VDIR,
    VEXEC,
    VWRITE,
    vcache_get,
    vn_lock,
    vput,
    vref,
    vrele,
)
from vfs.vnode_if import VOP_ACCESS

from .ext2fs import EXT2_HAS_INCOMPAT_FEATURE, EXT2F_INCOMPAT_FTYPE, lblkno, lblktosize
from .ext2fs_balloc import B_CLRBUF, ext2fs_balloc
from .ext2fs_dinode import EXT2_INDEX, EXT2_ISVTX, EXT2_ROOTINO
from .ext2fs_dir import (
    EXT2_DIR_ROUND,
    EXT2_FT_DIR,
    EXT2FS_DIRHDRSIZE,
    EXT2FS_DIRSIZ,
    EXT2FS_MAXNAMLEN,
    ext2dt2dt,
    ext2fs_dirent_get,
    ext2fs_dirent_put,
    ext2fs_dirent_set_ino,
    ext2fs_dirent_set_reclen,
    ext2fs_dirent_set_type,
    inot2ext2dt,
)
from .ext2fs_inode import ext2fs_setsize, ext2fs_size
from .ext2fs_subr import ext2fs_blkatoff, ext2fs_mntname
from .ufs_inode import IN_CHANGE, IN_UPDATE, VTOI, inode

if TYPE_CHECKING:
    from vfs.namei_h import componentname
    from vfs.vnode import vnode


def cn_name(cnp: componentname) -> bytes:
    """The component's name as the bytes stored on disk."""
    n = cnp.cn_nameptr
    if isinstance(n, (bytes, bytearray)):
        return bytes(n)[:cnp.cn_namelen] if cnp.cn_namelen else bytes(n)
    return n.encode("utf-8", "surrogateescape")


def _has_ftype(ip: inode) -> bool:
    assert ip.i_e2fs is not None
    return EXT2_HAS_INCOMPAT_FEATURE(ip.i_e2fs, EXT2F_INCOMPAT_FTYPE)


def _entry(ip: inode, data: Any, off: int) -> tuple[int, int, int, int]:
    """(ino, reclen, namlen, type) of the entry at ``off``; without the filetype
    feature the type byte is the high half of a 16-bit name length."""
    ino, reclen, namlen, ftype = ext2fs_dirent_get(data, off)
    if not _has_ftype(ip):
        namlen |= ftype << 8
        ftype = 0
    return ino, reclen, namlen, ftype


def ext2fs_dirbadentry(dp: inode, data: Any, off: int) -> str | None:
    """What is wrong with the entry at ``off`` of a directory block, or None."""
    return _checked_entry(dp, data, off)[0]


_NO_ENTRY = (0, 0, 0, 0)
_DIRSIZ_1 = EXT2FS_DIRSIZ(1)


def _checked_entry(dp: inode, data: Any, off: int) -> tuple[str | None, tuple[int, int, int, int]]:
    """(what is wrong with the entry at ``off`` or None, its ``_entry``): the
    entry read once for the check and for the caller's walk."""
    fs = dp.i_e2fs
    assert fs is not None
    bsize = fs.e2fs_bsize
    if off + 8 > bsize:
        return "directory entry across blocks", _NO_ENTRY
    # (_entry and EXT2FS_DIRSIZ in line: this runs for every entry a
    # directory walk passes)
    ino, reclen, namlen, ftype = ext2fs_dirent_get(data, off)
    if not EXT2_HAS_INCOMPAT_FEATURE(fs, EXT2F_INCOMPAT_FTYPE):
        namlen |= ftype << 8
        ftype = 0
    ent = (ino, reclen, namlen, ftype)
    if reclen < _DIRSIZ_1:
        return "rec_len is smaller than minimal", ent
    if reclen % 4 != 0:
        return "rec_len % 4 != 0", ent
    if namlen > EXT2FS_MAXNAMLEN:
        return "name_len too large", ent
    if reclen < (EXT2FS_DIRHDRSIZE + namlen + EXT2_DIR_ROUND) & ~EXT2_DIR_ROUND:  # EXT2FS_DIRSIZ
        return "reclen is too small for name_len", ent
    if off + reclen > bsize:
        return "directory entry across blocks", ent
    if ino > fs.k_icount:  # (e2fs_icount, m_ext2fs's plain copy)
        return "inode out of bounds", ent
    if ino != 0 and ino < EXT2_ROOTINO:
        return "reserved inode number", ent
    return None, ent


def ext2fs_dirbad(ip: inode, offset: int, how: str) -> int:
    """A damaged directory: tell the console and fail with EIO (NetBSD panics on r/w mounts)."""
    printf("%s: bad dir ino %llu at offset %lld: %s\n",
           ext2fs_mntname(ip), ip.i_number, offset, how)
    return EIO


async def _search(vdp: vnode, name: bytes) -> tuple[int, int, int, int, int, Any]:
    """-> (error, ino, off, prev, reclen, bp): find ``name`` in directory ``vdp``.

    When found, ``ino`` is its inode number (never 0), ``off`` where its
    entry is in its block, ``prev`` the previous entry's offset there (-1
    for the first), ``reclen`` its record length and ``bp`` the busy buffer
    of the block (the caller releases it); otherwise ino is 0 and bp None.
    (Plain values, not a record: kemu's, as NetBSD's lookup leaves its
    results in i_crap, which kemu has not.)
    """
    dp = VTOI(vdp)
    fs = dp.i_e2fs
    assert fs is not None
    bsize = fs.e2fs_bsize
    size = ext2fs_size(dp)
    nblocks = (size + bsize - 1) // bsize
    for lbn in range(nblocks):
        error, bp = await ext2fs_blkatoff(vdp, lblktosize(fs, lbn))
        if error:
            return error, 0, 0, 0, 0, None
        assert bp is not None
        data = bp.b_data
        off = 0
        prev = -1
        while off < bsize:
            how, (ino, reclen, namlen, ftype) = _checked_entry(dp, data, off)
            if how is not None:
                brelse(bp, 0)
                return ext2fs_dirbad(dp, lblktosize(fs, lbn) + off, how), 0, 0, 0, 0, None
            if ino != 0 and namlen == len(name) and \
                    data[off + 8:off + 8 + namlen] == name:  # (compared without a copy)
                return 0, ino, off, prev, reclen, bp
            prev = off
            off += reclen
        brelse(bp, 0)
    return 0, 0, 0, 0, 0, None


# ------------------------------------------------------------------ readdir

async def ext2fs_readdir(v: Any) -> int:
    """VOP_READDIR: convert the entries at uio_offset into NetBSD ``struct dirent``s.

    ``uio_offset`` is an offset in the directory file; it ends at the first
    entry not returned, and each cookie is the offset just after an entry.
    """
    ap = v
    vp = ap.a_vp
    uio = ap.a_uio
    ap.a_eofflag[0] = 0
    ap.a_cookies[0] = []
    ap.a_ncookies[0] = 0
    if vp.v_type != VDIR:
        return ENOTDIR
    dp = VTOI(vp)
    fs = dp.i_e2fs
    assert fs is not None
    if uio.uio_offset < 0:
        return EINVAL
    bsize = fs.e2fs_bsize
    size = ext2fs_size(dp)
    ftype_ok = _has_ftype(dp)
    cookies: list[int] = []
    off = uio.uio_offset
    error = 0
    full = False
    moved = 0
    while off < size and not full:
        lbn = lblkno(fs, off)
        base = lblktosize(fs, lbn)
        error, bp = await ext2fs_blkatoff(vp, base)
        if error:
            break
        assert bp is not None
        data = bytes(bp.b_data)
        brelse(bp, 0)
        pos = 0
        while pos < bsize:
            how, (ino, reclen, namlen, ftype) = _checked_entry(dp, data, pos)
            if how is not None:
                error = ext2fs_dirbad(dp, base + pos, how)
                break
            if base + pos < off:
                # An offset inside the block: skip the entries before it.
                pos += reclen
                continue
            if ino != 0:
                name = data[pos + 8:pos + 8 + namlen]
                dtype = ext2dt2dt(ftype) if ftype_ok else DT_UNKNOWN
                rec = pack_dirent(ino, name, dtype)
                if len(rec) > uio.uio_resid:
                    full = True
                    break
                error = await uiomove(bytearray(rec), len(rec), uio)
                if error:
                    break
                moved += 1
            pos += reclen
            off = base + pos
            uio.uio_offset = off
            cookies.append(off)
        if error:
            break
        if not full:
            off = base + bsize
    uio.uio_offset = off
    ap.a_eofflag[0] = int(off >= size)
    ap.a_cookies[0] = cookies
    ap.a_ncookies[0] = len(cookies)
    if error == 0 and full and moved == 0 and not cookies:
        return EINVAL  # not even one entry fits
    return error


# ------------------------------------------------------------------ lookup

def ext2fs_sticky_denied(dp: inode, ip: inode, cred: Any) -> bool:
    """In a sticky directory ``dp``, only root or the owner of ``dp`` or of ``ip``
    may remove or rename ``ip``'s name."""
    return bool(dp.i_e2fs_mode & EXT2_ISVTX) and not kauth_cred_issuser(cred) and \
        kauth_cred_geteuid(cred) != dp.i_uid and kauth_cred_geteuid(cred) != ip.i_uid


async def ext2fs_lookup(v: Any) -> int:
    """VOP_LOOKUP (v2): ``a_dvp`` locked in and out; ``*a_vpp`` referenced and unlocked.

    For CREATE or RENAME of a last component that does not exist, answers
    EJUSTRETURN once write access to the directory is checked.
    """
    ap = v
    vdp = ap.a_dvp
    cnp = ap.a_cnp
    ap.a_vpp[0] = None
    cred = cnp.cn_cred
    flags = cnp.cn_flags
    nameiop = cnp.cn_nameiop
    if vdp.v_type != VDIR:
        return ENOTDIR
    dp = VTOI(vdp)
    error = await VOP_ACCESS(vdp, VEXEC, cred)
    if error:
        return error
    if flags & ISLASTCN and vdp.v_mount.mnt_flag & MNT_RDONLY and \
            nameiop in (DELETE, RENAME):
        return EROFS
    name = cn_name(cnp)
    if len(name) > EXT2FS_MAXNAMLEN:
        return ENAMETOOLONG
    if name == b"." and not flags & ISDOTDOT:
        if flags & ISLASTCN and nameiop == RENAME:
            return EISDIR
        if flags & ISLASTCN and nameiop == DELETE:
            error = await VOP_ACCESS(vdp, VWRITE, cred)
            if error:
                return error
        vref(vdp)
        ap.a_vpp[0] = vdp
        return 0

    error, foundino, _, _, _, bp = await _search(vdp, name)
    if error:
        return error
    if not foundino:
        if nameiop in (CREATE, RENAME) and flags & ISLASTCN and dp.i_e2fs_nlink != 0:
            if vdp.v_mount.mnt_flag & MNT_RDONLY:
                return EROFS
            error = await VOP_ACCESS(vdp, VWRITE, cred)
            if error:
                return error
            return EJUSTRETURN
        return ENOENT
    brelse(bp, 0)

    if flags & ISLASTCN and nameiop == DELETE:
        error = await VOP_ACCESS(vdp, VWRITE, cred)
        if error:
            return error
        if dp.i_number == foundino:
            vref(vdp)
            ap.a_vpp[0] = vdp
            return 0
        error, tdp = await vcache_get(vdp.v_mount, foundino)
        if error:
            return error
        assert tdp is not None
        if ext2fs_sticky_denied(dp, VTOI(tdp), cred):
            await vrele(tdp)
            return EPERM
        ap.a_vpp[0] = tdp
        return 0

    if flags & ISLASTCN and nameiop == RENAME:
        error = await VOP_ACCESS(vdp, VWRITE, cred)
        if error:
            return error
        if dp.i_number == foundino:
            return EISDIR
        error, tdp = await vcache_get(vdp.v_mount, foundino)
        if error:
            return error
        ap.a_vpp[0] = tdp
        return 0

    if dp.i_number == foundino:
        vref(vdp)
        ap.a_vpp[0] = vdp
        return 0
    error, tdp = await vcache_get(vdp.v_mount, foundino)
    if error:
        return error
    ap.a_vpp[0] = tdp
    return 0


# ------------------------------------------------------------ changing names

def _clear_index(dp: inode) -> None:
    """This code does not keep hash trees: a directory it changes becomes linear."""
    if dp.i_e2fs_flags & EXT2_INDEX:
        dp.i_e2fs_flags &= ~EXT2_INDEX
        dp.i_flag |= IN_CHANGE


async def ext2fs_direnter(ip: inode, dvp: vnode, cnp: componentname) -> int:
    """Add the name of ``cnp`` for inode ``ip`` to directory ``dvp`` (locked).

    The entry goes into the first free space big enough (an unused entry, or
    the slack after an entry); otherwise the directory grows by a block.
    """
    dp = VTOI(dvp)
    fs = dp.i_e2fs
    assert fs is not None
    name = cn_name(cnp)
    if len(name) > EXT2FS_MAXNAMLEN:
        return ENAMETOOLONG
    ftype = inot2ext2dt(ip.i_e2fs_mode) if _has_ftype(dp) else 0
    needed = EXT2FS_DIRSIZ(len(name))
    bsize = fs.e2fs_bsize
    size = ext2fs_size(dp)
    nblocks = (size + bsize - 1) // bsize
    for lbn in range(nblocks):
        error, bp = await ext2fs_blkatoff(dvp, lblktosize(fs, lbn))
        if error:
            return error
        assert bp is not None
        data = bp.b_data
        off = 0
        while off < bsize:
            how, (eino, reclen, namlen, _) = _checked_entry(dp, data, off)
            if how is not None:
                brelse(bp, 0)
                return ext2fs_dirbad(dp, lblktosize(fs, lbn) + off, how)
            if eino == 0 and reclen >= needed:
                ext2fs_dirent_put(data, off, ip.i_number, reclen, name, ftype)
                return _entered(dp, bp)
            used = EXT2FS_DIRSIZ(namlen) if eino != 0 else 0
            if eino != 0 and reclen - used >= needed:
                ext2fs_dirent_set_reclen(data, off, used)
                ext2fs_dirent_put(data, off + used, ip.i_number, reclen - used, name, ftype)
                return _entered(dp, bp)
            off += reclen
        brelse(bp, 0)
    # No room: a new block at the end.
    error, bp = await ext2fs_balloc(dp, nblocks, bsize, cnp.cn_cred, True, B_CLRBUF)
    if error:
        return error
    assert bp is not None
    ext2fs_dirent_put(bp.b_data, 0, ip.i_number, bsize, name, ftype)
    error = ext2fs_setsize(dp, lblktosize(fs, nblocks + 1))
    if error:
        brelse(bp, 0)
        return error
    await uvm_vnp_setsize(dvp, ext2fs_size(dp))
    return _entered(dp, bp)


def _entered(dp: inode, bp: Any) -> int:
    bdwrite(bp)
    _clear_index(dp)
    dp.i_flag |= IN_CHANGE | IN_UPDATE
    return 0


async def ext2fs_dirremove(dvp: vnode, cnp: componentname, ino: int = 0) -> int:
    """Remove the name of ``cnp`` from directory ``dvp`` (locked).

    The space goes to the previous entry of the block, or, for the first
    entry of a block, the entry is marked unused.  With ``ino`` the name
    must still refer to that inode (ENOENT otherwise).
    """
    dp = VTOI(dvp)
    error, found, off, prev, reclen, bp = await _search(dvp, cn_name(cnp))
    if error:
        return error
    if not found or (ino and found != ino):
        if bp is not None:
            brelse(bp, 0)
        return ENOENT
    data = bp.b_data
    if prev < 0:
        ext2fs_dirent_set_ino(data, off, 0)
    else:
        _, preclen, _, _ = _entry(dp, data, prev)
        ext2fs_dirent_set_reclen(data, prev, preclen + reclen)
    bdwrite(bp)
    _clear_index(dp)
    dp.i_flag |= IN_CHANGE | IN_UPDATE
    return 0


async def ext2fs_dirrewrite(dp: inode, ip: inode, cnp: componentname) -> int:
    """Make the existing name of ``cnp`` in directory ``dp`` refer to inode ``ip``."""
    dvp = dp.i_vnode
    assert dvp is not None
    error, found, off, _, _, bp = await _search(dvp, cn_name(cnp))
    if error:
        return error
    if not found:
        return ENOENT
    ext2fs_dirent_set_ino(bp.b_data, off, ip.i_number)
    if _has_ftype(dp):
        ext2fs_dirent_set_type(bp.b_data, off, inot2ext2dt(ip.i_e2fs_mode))
    bdwrite(bp)
    _clear_index(dp)
    dp.i_flag |= IN_CHANGE | IN_UPDATE
    return 0


async def ext2fs_dirempty(ip: inode, parentino: int, cred: Any) -> tuple[int, bool]:
    """-> (error, empty): does directory ``ip`` hold nothing but "." and a ".."
    that refers to ``parentino``?"""
    vp = ip.i_vnode
    assert vp is not None and ip.i_e2fs is not None
    fs = ip.i_e2fs
    bsize = fs.e2fs_bsize
    size = ext2fs_size(ip)
    for lbn in range((size + bsize - 1) // bsize):
        error, bp = await ext2fs_blkatoff(vp, lblktosize(fs, lbn))
        if error:
            return error, False
        assert bp is not None
        data = bytes(bp.b_data)
        brelse(bp, 0)
        off = 0
        while off < bsize:
            how, (eino, reclen, namlen, _) = _checked_entry(ip, data, off)
            if how is not None:
                return ext2fs_dirbad(ip, lblktosize(fs, lbn) + off, how), False
            if eino != 0:
                name = data[off + 8:off + 8 + namlen]
                if name != b"." and (name != b".." or eino != parentino):
                    return 0, False
            off += reclen
    return 0, True


async def ext2fs_dotdot(vp: vnode) -> tuple[int, int]:
    """-> (error, ino): what ".." of directory ``vp`` (locked) refers to."""
    ip = VTOI(vp)
    error, bp = await ext2fs_blkatoff(vp, 0)
    if error:
        return error, 0
    assert bp is not None
    data = bytes(bp.b_data)
    brelse(bp, 0)
    how = ext2fs_dirbadentry(ip, data, 0)
    if how is None:
        _, reclen, _, _ = _entry(ip, data, 0)
        how = ext2fs_dirbadentry(ip, data, reclen)
        if how is None:
            ino, _, namlen, _ = _entry(ip, data, reclen)
            if namlen == 2 and data[reclen + 8:reclen + 10] == b"..":
                return 0, ino
            how = "no '..' entry"
    return ext2fs_dirbad(ip, 0, how), 0


async def ext2fs_setdotdot(vp: vnode, parentino: int) -> int:
    """Point ".." of directory ``vp`` (locked) at ``parentino``."""
    ip = VTOI(vp)
    error, bp = await ext2fs_blkatoff(vp, 0)
    if error:
        return error
    assert bp is not None
    data = bp.b_data
    _, reclen, _, _ = _entry(ip, data, 0)
    how = ext2fs_dirbadentry(ip, data, reclen) if reclen < len(data) else "no '..' entry"
    if how is None:
        _, _, namlen, _ = _entry(ip, data, reclen)
        if namlen != 2 or bytes(data[reclen + 8:reclen + 10]) != b"..":
            how = "no '..' entry"
    if how is not None:
        brelse(bp, 0)
        return ext2fs_dirbad(ip, 0, how)
    ext2fs_dirent_set_ino(data, reclen, parentino)
    if _has_ftype(ip):
        ext2fs_dirent_set_type(data, reclen, EXT2_FT_DIR)
    bdwrite(bp)
    _clear_index(ip)
    ip.i_flag |= IN_CHANGE | IN_UPDATE
    return 0


async def ext2fs_checkpath(source: inode, target: inode, cred: Any) -> int:
    """EINVAL if directory ``source`` is ``target`` or one of its ancestors.

    Walks ".." up from ``target`` (which the caller must not hold locked)
    to the root.
    """
    if target.i_number == source.i_number:
        return EINVAL
    if target.i_number == EXT2_ROOTINO:
        return 0
    tvp = target.i_vnode
    assert tvp is not None
    mp = tvp.v_mount
    vp = tvp
    vref(vp)
    seen = 0
    while True:
        if vp.v_type != VDIR:
            await vrele(vp)
            return ENOTDIR
        await vn_lock(vp, LK_SHARED | LK_RETRY)
        error, ino = await ext2fs_dotdot(vp)
        await vput(vp)
        if error:
            return error
        if ino == source.i_number:
            return EINVAL
        if ino == EXT2_ROOTINO:
            return 0
        seen += 1
        if seen > 100000:
            return EIO  # a cycle of ".." entries: a damaged image
        error, vp = await vcache_get(mp, ino)
        if error:
            return error
        assert vp is not None
