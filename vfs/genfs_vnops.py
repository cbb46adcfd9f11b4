"""The stock vnode operations file systems share (miscfs/genfs/genfs_vnops.c, NetBSD 8).

An operation vector names these for what it does not implement itself.
(genfs_lock/unlock/islocked live with the vnode lock in vfs/vnode.py; the
page cache's genfs_getpages/putpages in vfs/genfs_io.py.)

Compared against ``$NetBSD: genfs_vnops.c,v 1.192 2014/03/24$`` (the stored
revision nearest NetBSD 8), with NetBSD 8's v2 protocols.  Notices in
LICENSE.NetBSD.

Deviations: ``genfs_eopnotsupp`` releases the vnodes of remove, rmdir and
rename by name (with the v2 rules: the directory of remove/rmdir stays
locked) instead of walking the descriptor's vp offsets and WILLRELE/WILLPUT
flags, and clears ``*a_vpp`` when the operation has one;
``genfs_null_putpages`` does not assert that the object has no pages.
Only the operations kemu's vectors use are here.
"""

from __future__ import annotations

from typing import Any

from kern.errno import EOPNOTSUPP
from kern.kern_mutex import mutex_exit
from vfs.vnode import vput, vrele, vrevoke


async def genfs_nullop(v: Any) -> int:
    return 0


async def genfs_eopnotsupp(v: Any) -> int:
    """EOPNOTSUPP, releasing the vnodes the operation's protocol hands over (NetBSD 8)."""
    ap = v
    name = ap.a_desc.vdesc_name
    if name in ("vop_remove", "vop_rmdir"):
        if ap.a_vp is ap.a_dvp:
            await vrele(ap.a_vp)
        else:
            await vput(ap.a_vp)
    elif name == "vop_rename":
        await vrele(ap.a_fdvp)
        await vrele(ap.a_fvp)
        if ap.a_tvp is not None:
            if ap.a_tvp is ap.a_tdvp:
                await vrele(ap.a_tvp)
            else:
                await vput(ap.a_tvp)
        await vput(ap.a_tdvp)
    if "vpp" in ap.a_desc.vdesc_args:
        ap.a_vpp[0] = None
    return EOPNOTSUPP


async def genfs_revoke(v: Any) -> int:
    await vrevoke(v.a_vp)
    return 0


async def genfs_abortop(v: Any) -> int:
    return 0


async def genfs_mmap(v: Any) -> int:
    return 0


async def genfs_null_putpages(v: Any) -> int:
    """VOP_PUTPAGES of a file system without pages: drop the interlock it came with."""
    mutex_exit(v.a_vp.v_interlock)
    return 0
