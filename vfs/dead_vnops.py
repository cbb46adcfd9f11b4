"""Operations of a dead (reclaimed) vnode (miscfs/deadfs/dead_vnops.c, NetBSD 8).

A vnode that was reclaimed while still referenced keeps these.  What a file
system operation does to a dead vnode: lookup ENOENT, open ENXIO, read EIO
(end of file for a tty), write, link, bmap EIO; remove, rmdir and rename release
the vnodes they were handed and fail with EIO; a buf given to strategy
completes at once with EIO; getpages and putpages EFAULT (putpages releases
the interlock it was entered with); poll reports every event asked for, so
the caller finds out the descriptor is gone; close, fsync, seek, fcntl,
revoke and inactive succeed; everything else is EBADF.

kemu: VOP_RECLAIM returns the vnode unlocked (the v2 protocol, vnode_if),
so dead_reclaim unlocks; kemu's getpages is entered without the object lock
unless PGO_LOCKED, and then the caller keeps it, so dead_getpages has no lock
to release.

Compared against ``$NetBSD: dead_vnops.c,v 1.59 2015/04/20$`` (the stored
revision nearest NetBSD 8), read with NetBSD 8's v2 protocols.  Notices in
LICENSE.NetBSD.  Deviations from 1.59's text, each a protocol change of
NetBSD 8 (vnode_if.src) kemu follows:

* dead_remove and dead_rmdir release only ``a_vp``: the directory stays
  locked (VOP_REMOVE/VOP_RMDIR v2; 1.59 vputs both).
* dead_inactive leaves the vnode locked (VOP_INACTIVE v2; 1.59 unlocks).
* dead_reclaim unlocks the vnode (VOP_RECLAIM v2; 1.59's is genfs_nullop).
* dead_getpages releases nothing (above).

And one that is kemu's own: lock, unlock and islocked are genfs_lock,
genfs_unlock and genfs_islocked (1.59: genfs_deadlock, genfs_deadunlock,
genfs_deadislocked); vn_lock (vfs/vnode.py) gives the ENOENT that
genfs_deadlock gives a caller without LK_RETRY (vdead_check).
"""

from __future__ import annotations

import sys
from typing import Any

from kern.errno import EBADF, EFAULT, EIO, ENOENT, ENXIO
from kern.kern_mutex import mutex_exit
from kern.subr_prf import printf
from vfs import vnode_if as vi
from vfs.genfs_vnops import genfs_eopnotsupp, genfs_nullop
from vfs.vfs_bio import biodone
from vfs.vnode import (
    VV_ISTTY,
    _dead_vnops_loaded,
    genfs_islocked,
    genfs_lock,
    genfs_unlock,
    vput,
    vrele,
)
from vfs.vnode_if import VOP_UNLOCK


async def dead_default_error(v: Any) -> int:
    return EBADF


async def dead_bmap(v: Any) -> int:
    return EIO


async def dead_lookup(v: Any) -> int:
    v.a_vpp[0] = None
    return ENOENT


async def dead_open(v: Any) -> int:
    return ENXIO


async def dead_read(v: Any) -> int:
    # End of file for tty devices, EIO for the others.
    if not v.a_vp.v_vflag & VV_ISTTY:
        return EIO
    return 0


async def dead_write(v: Any) -> int:
    return EIO


async def dead_ioctl(v: Any) -> int:
    return EBADF


async def dead_poll(v: Any) -> int:
    # Let the user find out that the descriptor is gone.
    return v.a_events


async def dead_remove(v: Any) -> int:
    await vput(v.a_vp)
    return EIO


async def dead_link(v: Any) -> int:
    return EIO


async def dead_rename(v: Any) -> int:
    ap = v
    await vrele(ap.a_fdvp)
    await vrele(ap.a_fvp)
    if ap.a_tvp is not None and ap.a_tvp is not ap.a_tdvp:
        VOP_UNLOCK(ap.a_tvp)
    await vput(ap.a_tdvp)
    if ap.a_tvp is not None:
        await vrele(ap.a_tvp)
    return EIO


async def dead_rmdir(v: Any) -> int:
    await vput(v.a_vp)
    return EIO


async def dead_inactive(v: Any) -> int:
    v.a_recycle[0] = False
    return 0


async def dead_reclaim(v: Any) -> int:
    genfs_unlock(v)
    return 0


async def dead_strategy(v: Any) -> int:
    bp = v.a_bp
    bp.b_error = EIO
    bp.b_resid = bp.b_bcount
    biodone(bp)
    return EIO


def dead_print(v: Any) -> int:
    printf("tag VT_NON, dead vnode\n")
    return 0


async def dead_getpages(v: Any) -> int:
    return EFAULT


async def dead_putpages(v: Any) -> int:
    mutex_exit(v.a_vp.v_interlock)
    return EFAULT


dead_vnodeop_opv_desc = vi.vnodeopv_desc("dead", [
    (vi.vop_default_desc, dead_default_error),
    (vi.vop_bwrite_desc, genfs_nullop),            # bwrite
    (vi.vop_lookup_desc, dead_lookup),             # lookup
    (vi.vop_open_desc, dead_open),                 # open
    (vi.vop_close_desc, genfs_nullop),             # close
    (vi.vop_read_desc, dead_read),                 # read
    (vi.vop_write_desc, dead_write),               # write
    (vi.vop_fallocate_desc, genfs_eopnotsupp),     # fallocate
    (vi.vop_fdiscard_desc, genfs_eopnotsupp),      # fdiscard
    (vi.vop_fcntl_desc, genfs_nullop),             # fcntl
    (vi.vop_ioctl_desc, dead_ioctl),               # ioctl
    (vi.vop_poll_desc, dead_poll),                 # poll
    (vi.vop_remove_desc, dead_remove),             # remove
    (vi.vop_link_desc, dead_link),                 # link
    (vi.vop_rename_desc, dead_rename),             # rename
    (vi.vop_rmdir_desc, dead_rmdir),               # rmdir
    (vi.vop_fsync_desc, genfs_nullop),             # fsync
    (vi.vop_seek_desc, genfs_nullop),              # seek
    (vi.vop_inactive_desc, dead_inactive),         # inactive
    (vi.vop_reclaim_desc, dead_reclaim),           # reclaim
    (vi.vop_lock_desc, genfs_lock),                # lock
    (vi.vop_unlock_desc, genfs_unlock),            # unlock
    (vi.vop_bmap_desc, dead_bmap),                 # bmap
    (vi.vop_strategy_desc, dead_strategy),         # strategy
    (vi.vop_print_desc, dead_print),               # print
    (vi.vop_islocked_desc, genfs_islocked),        # islocked
    (vi.vop_revoke_desc, genfs_nullop),            # revoke
    (vi.vop_getpages_desc, dead_getpages),         # getpages
    (vi.vop_putpages_desc, dead_putpages),         # putpages
])
dead_vnodeop_p = dead_vnodeop_opv_desc.opv_desc_vector


# vfs.vnode compares v_op with dead_vnodeop_p without importing this module
# (it imports vfs.vnode): it is told, once everything here is defined.
_dead_vnops_loaded(sys.modules[__name__])
