"""The in-core inode and mount of ext2fs: the parts of ufs/ufs/inode.h and ufsmount.h it uses
(struct inode, struct ufid, struct indir; struct ufsmount, struct ufs_args).

After ``$NetBSD: inode.h,v 1.79 2022/03/23 andvar$`` (the stored revision;
struct inode, the IN_* flags and VTOI/ITOV read as in NetBSD 8's) and
sys/ufs/ufs/ufsmount.h of the same era.  The notices are in
LICENSE.NetBSD.

NetBSD's ext2fs shares ``struct inode`` and ``struct ufsmount`` with FFS and
reaches the ext2 fields through macros (``ip->i_e2fs_mode`` is
``ip->i_din.e2fs_din->e2di_mode``).  Here ``inode`` keeps the whole on-disk
inode as bytes (``i_din``, so fields this implementation does not know are
written back unchanged) with a ctypes view of it (``i_e2din``); the
``i_e2fs_*`` properties are those macros.

Deviations:

* ``inode`` has only what ext2fs uses: no genfs_node, snapshot list,
  dquots, lockf, i_crap lookup results, dirhash, EA area or i_omode.
  ``i_din`` is the raw dinode at the file system's inode size (at least
  EXT2_DINODE_MAXSIZE), not a pointer to a 128-byte struct; ``i_isize``
  is kemu's.  The IN_* and UPDATE_* values are NetBSD's.
* ``ufsmount`` has only what ext2fs uses, plus ``um_openflags`` (how the
  device was opened) and ``ext2gennumber``, which NetBSD keeps as one
  global in ext2fs_alloc.c and kemu per mount (see below).
* ``VTOI``/``ITOV``/``VFSTOUFS`` are functions; ``ITOV`` asserts the
  inode has a vnode.
* ``struct indir`` has no ``in_exists`` and its ``in_lbn`` is not the
  metadata lbn (see ext2fs_bmap's ext2fs_getlbns).
"""
from __future__ import annotations

import ctypes
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .ext2fs_dinode import EXT2_DINODE_MAXSIZE, ext2fs_dinode

if TYPE_CHECKING:
    from vfs.mount import mount
    from vfs.vnode import vnode

    from .ext2fs import m_ext2fs

# i_flag
IN_ACCESS = 0x0001      # access time update request
IN_CHANGE = 0x0002      # inode change time update request
IN_UPDATE = 0x0004      # data written: update mtime
IN_MODIFIED = 0x0008    # the in-core inode differs from the disk's
IN_ACCESSED = 0x0010    # accessed (atime changed, not yet written)
IN_SHLOCK = 0x0040
IN_EXLOCK = 0x0080
IN_SPACECOUNTED = 0x0400
IN_MODIFY = 0x2000      # modification time update request

# ext2fs_update flags
UPDATE_WAIT = 0x0001
UPDATE_DIROP = 0x0002
UPDATE_CLOSE = 0x0004


class inode:
    """struct inode (ext2fs part)."""

    _c_sizeof = 256

    def __init__(self, isize: int) -> None:
        self.i_vnode: vnode | None = None
        self.i_ump: ufsmount | None = None
        self.i_flag = 0
        self.i_dev = 0
        self.i_number = 0
        self.i_e2fs: m_ext2fs | None = None
        self.i_devvp: vnode | None = None
        self.i_modrev = 0
        # allocation hints: the last logical block allocated and where
        self.i_e2fs_last_lblk = 0
        self.i_e2fs_last_blk = 0
        self.i_uid = 0
        self.i_gid = 0
        # The on-disk inode: at least as big as the struct, written back
        # with the file system's inode size.
        self.i_isize = isize
        self.i_din = bytearray(max(isize, EXT2_DINODE_MAXSIZE))
        self.i_e2din = ext2fs_dinode.from_buffer(self.i_din)
        # The i_e2fs_blocks macro: the block pointers, a ctypes view made
        # once (i_din is only ever changed in place).  Reading the array
        # field makes a new view object each time, and block allocation
        # and mapping look at it for every block.
        self.i_e2fs_blocks: Any = self.i_e2din.e2di_blocks

    def __repr__(self) -> str:
        return f"<ext2fs inode {self.i_number} mode={self.i_e2fs_mode:o} flag={self.i_flag:#x}>"

    # The i_e2fs_* macros of ufs/ufs/inode.h.
    i_e2fs_mode: int
    i_e2fs_uid: int
    i_e2fs_atime: int
    i_e2fs_ctime: int
    i_e2fs_mtime: int
    i_e2fs_dtime: int
    i_e2fs_gid: int
    i_e2fs_nlink: int
    i_e2fs_nblock: int
    i_e2fs_nblock_high: int
    i_e2fs_flags: int
    i_e2fs_gen: int
    i_e2fs_facl: int
    i_e2fs_uid_high: int
    i_e2fs_gid_high: int

    @property
    def i_e2fs_rdev(self) -> int:
        return self.i_e2din.e2di_blocks[0]

    @i_e2fs_rdev.setter
    def i_e2fs_rdev(self, v: int) -> None:
        self.i_e2din.e2di_blocks[0] = v


def _macro(field: str) -> property:
    # The getter is operator.attrgetter of the dotted path: no Python frame
    # for a read (ext2fs_inactive alone reads five of these a last reference).
    get = attrgetter("i_e2din." + field)

    def put(self: inode, v: int) -> None:
        setattr(self.i_e2din, field, v)

    return property(get, put)


for _m, _f in (("i_e2fs_mode", "e2di_mode"), ("i_e2fs_uid", "e2di_uid"),
               ("i_e2fs_atime", "e2di_atime"), ("i_e2fs_ctime", "e2di_ctime"),
               ("i_e2fs_mtime", "e2di_mtime"), ("i_e2fs_dtime", "e2di_dtime"),
               ("i_e2fs_gid", "e2di_gid"), ("i_e2fs_nlink", "e2di_nlink"),
               ("i_e2fs_nblock", "e2di_nblock"), ("i_e2fs_nblock_high", "e2di_nblock_high"),
               ("i_e2fs_flags", "e2di_flags"), ("i_e2fs_gen", "e2di_gen"),
               ("i_e2fs_facl", "e2di_facl"), ("i_e2fs_uid_high", "e2di_uid_high"),
               ("i_e2fs_gid_high", "e2di_gid_high")):
    setattr(inode, _m, _macro(_f))


class indir:
    """struct indir: one step of the path to a block through indirect blocks
    (ufs_getlbns's; ext2fs_getlbns's in kemu)."""

    __slots__ = ("in_lbn", "in_off")

    def __init__(self, lbn: int, off: int) -> None:
        # Not ufs_getlbns's metadata lbn: -(NDADDR + level) in the first step,
        # 0 in the others.  Nothing reads it: kemu reads indirect blocks from
        # the device by their address, never by a file's negative lbn.
        self.in_lbn = lbn
        self.in_off = off  # index in that block (or in e2di_blocks for the first step)

    def __repr__(self) -> str:
        return f"indir({self.in_lbn}, {self.in_off})"


class ufid(ctypes.Structure):
    """struct ufid (inode.h): an ext2fs file handle."""

    _fields_ = [("ufid_len", ctypes.c_uint16), ("ufid_pad", ctypes.c_uint16),
                ("ufid_ino", ctypes.c_uint32), ("ufid_gen", ctypes.c_int32)]


class ufs_args(ctypes.Structure):
    """struct ufs_args (ufsmount.h): the argument of mount(2) for ext2fs (LP64)."""

    _fields_ = [("fspec", ctypes.c_uint64)]  # char *: the device's path, in user space


class ufsmount:
    """struct ufsmount: a mounted ext2 file system."""

    _c_sizeof = 256

    def __init__(self) -> None:
        self.um_mountp: mount | None = None
        self.um_dev = 0
        self.um_devvp: vnode | None = None
        self.um_e2fs: m_ext2fs | None = None
        self.um_maxfilesize = 0
        self.um_openflags = 0  # how the device was opened (FREAD|FWRITE)
        # ext2fs_alloc.c's ext2gennumber (the last generation number given
        # out), kept per mount so that a machine's numbers do not depend on
        # what other machines of the process did.
        self.ext2gennumber = 0

    def __repr__(self) -> str:
        return f"<ufsmount dev={self.um_dev:#x} {self.um_e2fs!r}>"


UFS_EXT2FS = 2  # um_fstype


def VTOI(vp: vnode) -> inode:
    return vp.v_data


def ITOV(ip: inode) -> vnode:
    assert ip.i_vnode is not None
    return ip.i_vnode


def VFSTOUFS(mp: mount) -> ufsmount:
    return mp.mnt_data
