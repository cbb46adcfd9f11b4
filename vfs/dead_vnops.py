"""Operations of a dead (reclaimed) vnode (miscfs/deadfs/dead_vnops.c).

A vnode that was reclaimed while still referenced keeps these: reads give
EIO, ioctls EBADF, most else EIO; close, inactive and reclaim succeed.
"""

from __future__ import annotations

from typing import Any

from kern.errno import EBADF, EIO, ENOENT
from vfs import vnode_if as vi


async def dead_default(v: Any) -> int:
    return EIO


async def dead_lookup(v: Any) -> int:
    v.a_vpp[0] = None
    return EIO


async def dead_ok(v: Any) -> int:
    return 0


async def dead_ioctl(v: Any) -> int:
    return EBADF


async def dead_inactive(v: Any) -> int:
    v.a_recycle[0] = False
    return 0


async def dead_reclaim(v: Any) -> int:
    from vfs.vnode import genfs_unlock

    genfs_unlock(v)
    return 0


async def dead_read(v: Any) -> int:
    return 0


async def dead_getattr(v: Any) -> int:
    return ENOENT


async def dead_lock(v: Any) -> int:
    from vfs.vnode import genfs_lock

    return await genfs_lock(v)


def _unlock(v: Any) -> int:
    from vfs.vnode import genfs_unlock

    return genfs_unlock(v)


def _islocked(v: Any) -> int:
    from vfs.vnode import genfs_islocked

    return genfs_islocked(v)


dead_vnodeop_opv_desc = vi.vnodeopv_desc("dead", [
    (vi.vop_default_desc, dead_default),
    (vi.vop_lookup_desc, dead_lookup),
    (vi.vop_read_desc, dead_read),
    (vi.vop_write_desc, dead_default),
    (vi.vop_ioctl_desc, dead_ioctl),
    (vi.vop_close_desc, dead_ok),
    (vi.vop_open_desc, dead_default),
    (vi.vop_getattr_desc, dead_getattr),
    (vi.vop_fsync_desc, dead_ok),
    (vi.vop_putpages_desc, dead_ok),
    (vi.vop_inactive_desc, dead_inactive),
    (vi.vop_reclaim_desc, dead_reclaim),
    (vi.vop_lock_desc, dead_lock),
    (vi.vop_unlock_desc, _unlock),
    (vi.vop_islocked_desc, _islocked),
    (vi.vop_revoke_desc, dead_ok),
])
dead_vnodeop_p = dead_vnodeop_opv_desc.opv_desc_vector
