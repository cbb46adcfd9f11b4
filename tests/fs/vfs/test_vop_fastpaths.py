"""The VFS hot paths' kemu-side shortcuts keep what the plain code did.

* the argument block of each operation names its descriptor (``a_desc``,
  the block's class attribute rather than a store at each call);
* fstrans_start and fstrans_start_begin test ASSERT_SLEEPABLE's condition in
  line: with a spin mutex held they still panic, before counting a
  transaction;
* io_stats keeps io_timestamp/io_time in integer microseconds: the values
  are timersub/timeradd's;
* genfs_lock takes its lock site with _getframe (caller_where(2) written out);
* vn_stat packs struct stat with struct.pack_into: the bytes, or the
  exception, are those of the field-by-field ctypes stores.
"""

from __future__ import annotations

from typing import Any

import pytest

import kern
from kern.kern_mutex import IPL_VM, MUTEX_DEFAULT, kmutex_t, mutex_enter, mutex_exit, mutex_init
from tests.vfs.test_vfs_trans import make_mount
from vfs import vnode_if
from vfs.vfs_trans import (
    fstrans_done,
    fstrans_held,
    fstrans_start,
    fstrans_start_begin,
)
from vfs.vnode import vnode


def _run(coro: Any) -> Any:
    """Run a coroutine that never suspends (outside any machine)."""
    try:
        coro.send(None)
    except StopIteration as e:
        return e.value
    raise AssertionError("the call suspended")


def test_every_argument_block_names_its_descriptor():
    for desc in vnode_if.vfs_op_descs:
        assert desc.args_class().a_desc is desc, desc.vdesc_name


def test_an_operation_sees_its_own_descriptor():
    seen: list[Any] = []

    async def record(ap: Any) -> int:
        seen.append((ap.a_desc, ap.a_vp))
        return 0

    def plain(ap: Any) -> int:
        seen.append((ap.a_desc, ap.a_vp))
        return 0

    vp = vnode()
    vp.v_op = [record] * vnode_if.VOP_NDESCS
    vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = plain
    vp.v_op[vnode_if.vop_islocked_desc.vdesc_offset] = plain
    assert _run(vnode_if.VOP_GETATTR(vp, None, None)) == 0
    assert _run(vnode_if.VOP_ACCESS(vp, 0, None)) == 0
    assert vnode_if.VOP_UNLOCK(vp) == 0
    assert vnode_if.VOP_ISLOCKED(vp) == 0
    assert seen == [(vnode_if.vop_getattr_desc, vp), (vnode_if.vop_access_desc, vp),
                    (vnode_if.vop_unlock_desc, vp), (vnode_if.vop_islocked_desc, vp)]


@pytest.mark.parametrize("begin", [True, False], ids=["fstrans_start_begin", "fstrans_start"])
def test_a_transaction_started_under_a_spin_mutex_panics(begin: bool):
    async def body() -> None:
        mp = make_mount()
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_VM)  # a spin mutex
        await mutex_enter(mtx)
        try:
            if begin:
                fstrans_start_begin(mp)
            else:
                await fstrans_start(mp)
        finally:
            # (the panic came before any transaction was counted)
            assert fstrans_held(mp) == 0
            mutex_exit(mtx)

    with kern.boot(seed=0) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "ASSERT_SLEEPABLE" in str(ei.value)
    assert "mtx" in str(ei.value)


def test_a_transaction_started_without_a_spin_mutex_is_counted():
    async def body() -> list[int]:
        mp = make_mount()
        assert fstrans_start_begin(mp) is None
        held = [fstrans_held(mp)]
        await fstrans_start(mp)
        fstrans_done(mp)
        held.append(fstrans_held(mp))
        fstrans_done(mp)
        held.append(fstrans_held(mp))
        return held

    with kern.boot(seed=0) as k:
        assert k.run(body) == [1, 1, 0]


def test_iostat_times_are_whole_microseconds():
    """io_stats keeps io_timestamp/io_time in microseconds: the busy time
    summed over two transfers (the second one nested), past a second, and the
    last change's time."""
    from kern import kpause
    from vfs.subr_disk import (
        _microuptime_us,
        disk,
        disk_attach,
        disk_busy,
        disk_destroy,
        disk_detach,
        disk_init,
        disk_unbusy,
    )

    async def body() -> tuple[Any, ...]:
        dk = disk()
        disk_init(dk, "xq0", None)
        disk_attach(dk)
        st = dk.dk_stats
        disk_busy(dk)
        t0 = _microuptime_us()
        await kpause("xfer", False, 120, None)
        disk_unbusy(dk, 512, 1)
        t1 = _microuptime_us()
        disk_busy(dk)
        disk_busy(dk)  # (busy already: the timestamp stays)
        await kpause("xfer", False, 57, None)
        disk_unbusy(dk, 512, 0)
        t2 = _microuptime_us()
        disk_unbusy(dk, 0, 0)
        out = (st.io_time_us, st.io_timestamp_us, t0, t1, t2)
        disk_detach(dk)
        disk_destroy(dk)
        return out

    with kern.boot(seed=0) as k:
        busy, stamp, t0, t1, t2 = k.run(body)
    assert busy == t2 - t0 and busy >= 1_000_000
    assert stamp == t2


def test_a_vnode_lock_is_recorded_at_the_caller_of_vn_lock_or_VOP_LOCK():
    """genfs_lock's lock site (caller_where(2), written out) is the frame two
    above it: vn_lock when it locks, the caller of VOP_LOCK otherwise."""
    from kern.cpu import curlwp
    from vfs.vnode import LK_EXCLUSIVE, genfs_lock, genfs_unlock, vn_lock

    async def body() -> list[Any]:
        vp = vnode()
        vp.v_op = [None] * vnode_if.VOP_NDESCS
        vp.v_op[vnode_if.vop_lock_desc.vdesc_offset] = genfs_lock
        vp.v_op[vnode_if.vop_unlock_desc.vdesc_offset] = genfs_unlock
        l = curlwp()
        codes = []
        assert await vn_lock(vp, LK_EXCLUSIVE) == 0
        codes.append(l.l_locks[-1][1][0])
        vnode_if.VOP_UNLOCK(vp)
        assert await vnode_if.VOP_LOCK(vp, LK_EXCLUSIVE) == 0
        codes.append(l.l_locks[-1][1][0])
        vnode_if.VOP_UNLOCK(vp)
        return codes

    with kern.boot(seed=0) as k:
        codes = k.run(body)
    assert codes[0] is vn_lock.__code__
    assert codes[1].co_name == "body"


_ATTRS = ("va_mode", "va_nlink", "va_uid", "va_gid", "va_fsid", "va_fileid", "va_size",
          "va_blocksize", "va_gen", "va_flags", "va_rdev", "va_bytes")


def _stat_of(values: dict[str, Any], vtype: int) -> tuple[Any, Any]:
    """vn_stat's struct stat for a vnode whose VOP_GETATTR answers ``values``,
    and the one the field-by-field ctypes stores make (or the exceptions)."""
    from vfs.stat import stat
    from vfs.vfs_vnops import _vn_stat_fields, vn_stat
    from vfs.vnode import vattr

    async def getattr_(ap: Any) -> int:
        for k, v in values.items():
            setattr(ap.a_vap, k, v)
        return 0

    async def body() -> tuple[Any, Any]:
        vp = vnode()
        vp.v_type = vtype
        vp.v_op = [getattr_] * vnode_if.VOP_NDESCS
        sb = stat()
        try:
            out: Any = (await vn_stat(vp, sb), bytes(sb))
        except Exception as e:  # noqa: BLE001 - compared with the ctypes path's
            out = type(e)
        va = vattr()
        for k, v in values.items():
            setattr(va, k, v)
        ref = stat()
        try:
            want: Any = (0, bytes(ref)) if _vn_stat_fields(ref, va, vtype) is None else None
        except Exception as e:  # noqa: BLE001
            want = type(e)
        return out, want

    with kern.boot(seed=0) as k:
        return k.run(body)


@pytest.mark.parametrize("case", [
    {},  # every attribute VNOVAL: the defaults
    dict(zip(_ATTRS, range(1, 13), strict=True), va_atime=(1, 2), va_mtime=(3, 4), va_ctime=(5, 6),
         va_birthtime=(7, 8)),
    dict(zip(_ATTRS, (0o104755, 2**32 + 5, 2**40, -2, 2**64 + 9, 2**65, -7, 2**31, 3, 4,
                      -(2**63) - 1, 10**6), strict=True),
         va_atime=None, va_mtime=(-5, 2**64), va_ctime=-1, va_birthtime=(2**63, -1)),
    {"va_uid": None},
    {"va_size": 1.5},
    {"va_mtime": (1, 2, 3)},
], ids=["vnoval", "plain", "out-of-range", "none", "float", "bad-time"])
def test_vn_stat_packs_what_the_ctypes_stores_store(case: dict[str, Any]):
    from vfs.vnode import VBLK, VREG

    for vtype in (VREG, VBLK, 999):
        out, want = _stat_of(case, vtype)
        assert out == want
    if case == {}:
        from vfs.stat import stat

        sb = stat.from_buffer_copy(out[1])
        assert (sb.st_nlink, sb.st_blksize, sb.st_mode, sb.st_mtimespec.tv_sec) == \
            (1, 4096, 0o7777, 0)
