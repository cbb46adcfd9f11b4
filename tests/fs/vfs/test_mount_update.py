"""mount(2) with MNT_UPDATE (vfs/vfs_mount.py mount_update, NetBSD 8's vfs_syscalls.c).

A refused update leaves the mount as it was: mount_update keeps the mount's
flags (``saved_flags``) and puts them back when VFS_MOUNT fails, and it
refuses a read-write to read-only change before touching anything unless the
file system can do it (IMNT_CAN_RWTORO; puffs cannot, and its VFS_MOUNT
answers EOPNOTSUPP to any update).  Before, a refused ``-u -o ro`` left a
puffs mount read-only, and the next mkdir was EROFS.
"""

from __future__ import annotations

import ctypes

from kern.errno import EOPNOTSUPP, EROFS
from kern.machine.testing import errno_of
from tools.lib import libc
from vfs.mount import MNT_NOATIME, MNT_NOEXEC, MNT_RDONLY, MNT_UPDATE

from .h_fsmacros import fsapply, fstype


def _update_args() -> ctypes.Structure | None:
    """What mount(8) passes for an update: ext2fs wants its (empty) ufs_args."""
    if fstype().name == "ext2fs":
        from fs.ext2fs.ext2fs_vfsops import ufs_args

        return ufs_args()  # fspec NULL: the device of the mount
    return None


async def _update(mp: str, flags: int) -> int:
    return await errno_of(libc.mount(fstype().mntname, mp, MNT_UPDATE | flags,
                                     _update_args()))


async def _flags(mp: str) -> int:
    return (await libc.statvfs(mp)).f_flag & (MNT_RDONLY | MNT_NOATIME | MNT_NOEXEC)


async def _mkdir_errno(path: str) -> int:
    """mkdir's errno; a directory made is removed again."""
    error = await errno_of(libc.mkdir(path, 0o755))
    if error == 0:
        await libc.rmdir(path)
    return error


async def mount_update_refused_keeps_the_flags(mp: str) -> None:
    puffs = fstype().netbsd == "puffs"
    assert await _flags(mp) == 0
    # read-write to read-only: puffs cannot (EOPNOTSUPP before VFS_MOUNT)
    assert await _update(mp, MNT_RDONLY) == (EOPNOTSUPP if puffs else 0)
    if puffs:
        assert await _flags(mp) == 0
        assert await _mkdir_errno(f"{mp}/d") == 0
    else:
        assert await _flags(mp) == MNT_RDONLY
        assert await _mkdir_errno(f"{mp}/d") == EROFS
        # and back (IMNT_WANTRDWR)
        assert await _update(mp, 0) == 0
        assert await _flags(mp) == 0
        assert await _mkdir_errno(f"{mp}/d") == 0
    # An update puffs' VFS_MOUNT refuses: the flags set for it are undone.
    assert await _update(mp, MNT_NOATIME | MNT_NOEXEC) == (EOPNOTSUPP if puffs else 0)
    assert await _flags(mp) == (0 if puffs else MNT_NOATIME | MNT_NOEXEC)
    assert await _mkdir_errno(f"{mp}/e") == 0


async def mount_update_not_a_mount_root(mp: str) -> None:
    """MNT_UPDATE on a directory that is not the root of a mount: EINVAL."""
    from kern.errno import EINVAL

    await libc.mkdir(f"{mp}/sub", 0o755)
    assert await _update(f"{mp}/sub", MNT_RDONLY) == EINVAL
    assert await _flags(mp) == 0
    await libc.rmdir(f"{mp}/sub")


test_mount_update_refused_keeps_the_flags = fsapply(
    mount_update_refused_keeps_the_flags, "a refused mount -u leaves the flags as they were")
test_mount_update_not_a_mount_root = fsapply(
    mount_update_not_a_mount_root, "mount -u of a directory that is no mount root is EINVAL")
