"""ext2fs helpers: port of NetBSD's sys/ufs/ext2fs/ext2fs_subr.c (block at offset, inode times).

Compared against ``$NetBSD: ext2fs_subr.c,v 1.27 2009/10/19 bouyer$``, the
newest stored revision; NetBSD 8's adds the nanosecond time fields that
kemu writes too.  ``ext2fs_fserr`` is the static helper of ext2fs_alloc.c;
``vfs_timestamp`` stands for sys/kern/vfs_subr.c's.  ``ext2fs_mpname``,
``ext2fs_mntname``, ``ext2fs_badblock`` and ``ext2fs_validblk`` are kemu's.
The notices are in LICENSE.NetBSD.

Metadata blocks (directory blocks, indirect blocks, slow symlinks, bitmaps,
inode tables) live in the buffer cache of the device vnode, keyed by their
block number on the device; only regular-file data goes through the page
cache.  A block has one identity in the cache whatever uses it, so a block
freed by one file and taken by another never has two cached copies
(``ext2fs_blkfree`` throws the old one away).

Deviations:

* ``ext2fs_blkatoff`` maps the block with ext2fs_bmaparray and breads it
  from the device vnode by address (NetBSD: bread on the directory's own
  vnode at the logical block).  A hole is EIO with a console message
  (NetBSD has no such check).  It returns ``(error, bp)`` with no ``res``
  pointer: callers find the byte at ``blkoff(fs, offset)``.
* ``ext2fs_itimes``: access times are not set on a read-only mount or for
  an EXT2_NOATIME inode; IN_ACCESSED is set only when the access time was
  (NetBSD: for IN_ACCESS or IN_MODIFY); IN_MODIFIED is set for IN_MODIFY
  as well; ``cre`` is the creation time (e2di_crtime) and the change time
  is always now (1.27 takes ``cre`` as the change time); the *_extra
  nanosecond fields are written when the inode is large enough to hold
  them.  ``EXT2FS_ITIMES`` is a function that always calls it (the macro
  tests the flags first; ext2fs_itimes tests them again).
* ``ext2fs_fserr`` takes the inode (for the mount's name) and prints on
  the console (NetBSD: the m_ext2fs, log(LOG_ERR)).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.errno import EIO
from kern.kern_time import nanotime, timespec
from kern.subr_prf import printf
from vfs.mount import MNT_RDONLY
from vfs.vfs_bio import bread

from .ext2fs import fsbtodb, lblkno
from .ext2fs_dinode import (
    EXT2_DINODE_FITS,
    EXT2_DINODE_TIME_EXTRA,
    EXT2_NOATIME,
)
from .ufs_inode import (
    IN_ACCESS,
    IN_ACCESSED,
    IN_CHANGE,
    IN_MODIFIED,
    IN_MODIFY,
    IN_UPDATE,
    VTOI,
    inode,
)

if TYPE_CHECKING:
    from vfs.buf import buf
    from vfs.mount import mount
    from vfs.vnode import vnode


def ext2fs_mpname(mp: mount) -> str:
    """Where ``mp`` is mounted, for messages ("ext2fs" before it has a name)."""
    name = bytes(mp.mnt_stat.f_mntonname).decode("utf-8", "replace")
    return name or "ext2fs"


def ext2fs_mntname(ip: inode) -> str:
    """Where ``ip``'s file system is mounted, for messages."""
    ump = ip.i_ump
    if ump is not None and ump.um_mountp is not None:
        return ext2fs_mpname(ump.um_mountp)
    return "ext2fs"


def ext2fs_badblock(ip: inode, bn: int, what: str) -> int:
    """A block pointer outside the file system: say so and fail with EIO."""
    printf("%s: inode %llu: %s block %llu out of range, file system damaged\n",
           ext2fs_mntname(ip), ip.i_number, what, bn)
    return EIO


def ext2fs_validblk(ip: inode, bn: int) -> bool:
    """Is ``bn`` a block number inside the data area of the file system?"""
    fs = ip.i_e2fs
    assert fs is not None
    return fs.k_first_dblock <= bn < fs.k_bcount  # (e2fs_first_dblock, e2fs_bcount)


_bmaparray: Any = None  # ext2fs_bmap.ext2fs_bmaparray, once ext2fs_blkatoff looked it up


async def ext2fs_blkatoff(vp: vnode, offset: int) -> tuple[int, buf | None]:
    """-> (error, bp): the (device) buffer holding byte ``offset`` of directory or symlink ``vp``.

    The caller finds the byte at ``blkoff(fs, offset)`` of ``bp.b_data`` and
    releases the buffer (brelse, or bdwrite after a change).  A hole in a
    directory, or a block pointer outside the file system, is EIO.
    """
    global _bmaparray
    if _bmaparray is None:  # (ext2fs_bmap imports this module: looked up once, then kept)
        from .ext2fs_bmap import ext2fs_bmaparray

        _bmaparray = ext2fs_bmaparray
    ip = VTOI(vp)
    fs = ip.i_e2fs
    assert fs is not None
    lbn = lblkno(fs, offset)
    error, bn, _ = await _bmaparray(vp, lbn)
    if error:
        return error, None
    if bn == -1:
        printf("%s: inode %llu: hole at block %lld of a directory\n",
               ext2fs_mntname(ip), ip.i_number, lbn)
        return EIO, None
    error, bp = await bread(ip.i_devvp, fsbtodb(fs, bn), fs.e2fs_bsize)
    if error:
        return error, None
    return 0, bp


def vfs_timestamp(ts: timespec) -> None:
    """The time to stamp on files: the machine's clock."""
    nanotime(ts)


def _settime(ip: inode, sec_field: str, extra_field: str, ts: timespec) -> None:
    din = ip.i_e2din
    setattr(din, sec_field, ts.tv_sec & 0xffffffff)
    if EXT2_DINODE_FITS(din, extra_field, ip.i_isize):
        setattr(din, extra_field, EXT2_DINODE_TIME_EXTRA(ts.tv_sec, ts.tv_nsec))


def ext2fs_itimes(ip: inode, acc: timespec | None, mod: timespec | None,
                  cre: timespec | None) -> None:
    """Turn the IN_ACCESS/IN_UPDATE/IN_CHANGE requests into times on the inode."""
    if not ip.i_flag & (IN_ACCESS | IN_CHANGE | IN_UPDATE | IN_MODIFY):
        return
    now = timespec()
    vfs_timestamp(now)
    mp = ip.i_ump.um_mountp if ip.i_ump is not None else None
    rdonly = mp is not None and mp.mnt_flag & MNT_RDONLY
    if ip.i_flag & IN_ACCESS and not rdonly:
        if not ip.i_e2fs_flags & EXT2_NOATIME:
            _settime(ip, "e2di_atime", "e2di_atime_extra", acc if acc is not None else now)
            ip.i_flag |= IN_ACCESSED
    if ip.i_flag & (IN_UPDATE | IN_MODIFY):
        _settime(ip, "e2di_mtime", "e2di_mtime_extra", mod if mod is not None else now)
        ip.i_modrev += 1
        ip.i_flag |= IN_MODIFIED
    if ip.i_flag & (IN_CHANGE | IN_MODIFY):
        _settime(ip, "e2di_ctime", "e2di_ctime_extra", now)
        ip.i_flag |= IN_MODIFIED
    if cre is not None and EXT2_DINODE_FITS(ip.i_e2din, "e2di_crtime_extra", ip.i_isize):
        _settime(ip, "e2di_crtime", "e2di_crtime_extra", cre)
        ip.i_flag |= IN_MODIFIED
    ip.i_flag &= ~(IN_ACCESS | IN_CHANGE | IN_UPDATE | IN_MODIFY)


def EXT2FS_ITIMES(ip: inode, acc: timespec | None = None, mod: timespec | None = None,
                  cre: timespec | None = None) -> None:
    ext2fs_itimes(ip, acc, mod, cre)


def ext2fs_fserr(ip: inode, uid: int, cp: str) -> None:
    """Report a file system problem on the console (ext2fs_fserr)."""
    printf("uid %d on %s: %s\n", uid, ext2fs_mntname(ip), cp)
