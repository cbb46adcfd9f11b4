"""disk(9), iostat, bounds checks, disk ioctls and getdisksize."""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern import EBUSY, EINVAL, ENOTTY, EPASSTHROUGH, EROFS, KernelPanic, kmem_stats, kpause
from kern.subr_devsw import bdev_ioctl
from vfs.buf import B_READ, buf
from vfs.dkio import (
    DIOCGDINFO,
    DIOCGMEDIASIZE,
    DIOCGPART,
    DIOCGSECTORSIZE,
    DIOCGWEDGEINFO,
    DISKPART,
    DISKUNIT,
    MAKEDISKDEV,
    RAW_PART,
    disklabel,
    dkwedge_info,
    partinfo,
)
from vfs.subr_disk import (
    bounds_check_with_label,
    bounds_check_with_mediasize,
    disk,
    disk_attach,
    disk_busy,
    disk_destroy,
    disk_detach,
    disk_find,
    disk_init,
    disk_ioctl,
    disk_isbusy,
    disk_unbusy,
    getdisksize,
    iostat_list,
)
from vfs.vnode import VBLK, vnode
from vfs.vnode_if import vnodeopv_desc, vop_ioctl_desc


@pytest.fixture
def k():
    with kern.boot(seed=6) as m:
        yield m


def test_ioctl_numbers_and_layouts():
    assert DIOCGMEDIASIZE == 0x40086484   # _IOR('d', 132, off_t)
    assert DIOCGSECTORSIZE == 0x40046485  # _IOR('d', 133, u_int)
    assert DIOCGWEDGEINFO == 0x40d0647a   # _IOR('d', 122, struct dkwedge_info)
    assert DIOCGDINFO == 0x41986465       # _IOR('d', 101, struct disklabel)
    assert DIOCGPART == 0x80106468        # _IOW('d', 104, struct partinfo)
    assert ctypes.sizeof(dkwedge_info) == 208
    assert ctypes.sizeof(disklabel) == 408
    assert disklabel.d_secsize.offset == 40
    assert disklabel.d_partitions.offset == 148
    dev = MAKEDISKDEV(17, 2, RAW_PART)
    assert (DISKUNIT(dev), DISKPART(dev)) == (2, RAW_PART)


def bp_at(blkno: int, bcount: int) -> buf:
    bp = buf()
    bp.b_blkno = blkno
    bp.b_bcount = bcount
    bp.b_flags = B_READ
    return bp


@pytest.mark.parametrize("blkno,bcount,rv,after,resid,error", [
    (0, 4096, 1, 4096, 0, 0),        # inside
    (96, 8192, 1, 4096, 0, 0),       # straddles the end: cut to 8 sectors
    (100, 600, 1, 600, 0, 0),        # 2 sectors, exactly fits
    (104, 512, 0, 512, 512, 0),      # exactly at the end: EOF
    (105, 512, 0, 512, 0, EINVAL),   # beyond the end
    (-1, 512, 0, 512, 0, EINVAL),    # negative
])
def test_bounds_check_with_mediasize(blkno, bcount, rv, after, resid, error):
    bp = bp_at(blkno, bcount)
    assert bounds_check_with_mediasize(bp, 512, 104) == rv
    assert (bp.b_bcount, bp.b_resid, bp.b_error) == (after, resid, error)


def _labelled_disk() -> disk:
    """A disk whose label has the MBR's NetBSD partition at 'c' (sector 64 on),
    the whole disk at 'd' (RAW_PART) and 'e' over the whole disk too."""
    dk = disk()
    dk.dk_label = lp = disklabel()
    lp.d_secsize = 512
    lp.d_secpercyl = 63
    lp.d_partitions[2].p_offset, lp.d_partitions[2].p_size = 64, 1984
    lp.d_partitions[RAW_PART].p_offset, lp.d_partitions[RAW_PART].p_size = 0, 2048
    lp.d_partitions[4].p_offset, lp.d_partitions[4].p_size = 0, 2048
    return dk


@pytest.mark.parametrize("blkno,flags,wlabel,rv,error", [
    (64 + 1, 0, 0, -1, EROFS),     # a write over the label in 'c' (LABELSECTOR 1 in it)
    (64 + 1, 0, 1, 1, 0),          # allowed with wlabel
    (64 + 1, B_READ, 0, 1, 0),     # a read of it
    (1, 0, 0, 1, 0),               # sector 1 of the disk holds no label
    (-1, B_READ, 0, -1, EINVAL),   # negative: refused before anything else
    (-8, 0, 1, -1, EINVAL),
])
def test_bounds_check_with_label(blkno, flags, wlabel, rv, error):
    """subr_disk.c 1.113: negative blocks are EINVAL; with RAW_PART 3 the label
    sector is counted from partition 'c', where the label was found."""
    dk = _labelled_disk()
    bp = bp_at(blkno, 512)
    bp.b_flags = flags
    bp.b_dev = MAKEDISKDEV(17, 0, 4)
    assert bounds_check_with_label(dk, bp, wlabel) == rv
    assert bp.b_error == error


def test_diocgpart_without_a_label_is_ebusy():
    dk = disk()  # (no label yet: disk_attach makes one)
    dev = MAKEDISKDEV(17, 0, RAW_PART)
    assert disk_ioctl(dk, dev, DIOCGPART, partinfo(), 0, None) == EBUSY
    assert disk_ioctl(dk, dev, DIOCGDINFO, bytearray(ctypes.sizeof(disklabel)), 0,
                      None) == ENOTTY


def test_disk_statistics(k):
    async def body():
        dk = disk()
        disk_init(dk, "xd0", None)
        disk_attach(dk)
        assert disk_find("xd0") is dk
        assert disk_find("xd1") is None
        disk_busy(dk)
        disk_busy(dk)
        assert disk_isbusy(dk)
        await kpause("xfer", False, 10, None)
        disk_unbusy(dk, 4096, 1)
        await kpause("xfer", False, 5, None)
        disk_unbusy(dk, 1024, 0)
        disk_busy(dk)
        disk_unbusy(dk, 0, 0)  # nothing moved: not a transfer
        assert not disk_isbusy(dk)
        stats = [s for s in iostat_list() if s["name"] == "xd0"]
        disk_detach(dk)
        disk_destroy(dk)
        return stats, disk_find("xd0")

    before = k.run(_inuse)
    stats, found = k.run(body)
    assert found is None
    s = stats[0]
    assert (s["rxfer"], s["rbytes"], s["wxfer"], s["wbytes"], s["busy"]) == (1, 4096, 1, 1024, 0)
    assert s["time"] == pytest.approx(0.15)
    assert s["timestamp"] == pytest.approx(0.15)
    assert k.run(_inuse) == before


async def _inuse():
    return kmem_stats()["inuse"]


def test_unbalanced_unbusy_panics(k):
    async def body():
        dk = disk()
        disk_init(dk, "xd0", None)
        disk_attach(dk)
        disk_unbusy(dk, 512, 1)

    with pytest.raises(KernelPanic):
        k.run(body)
    assert "iostat_unbusy" in k.crash.reason


def test_disk_ioctl_generic(k):
    async def body():
        dk = disk()
        disk_init(dk, "xd0", None)
        disk_attach(dk)
        dk.dk_geom.dg_secsize = 512
        dk.dk_geom.dg_secperunit = 2048
        dk.dk_label.d_secsize = 512
        dk.dk_label.d_partitions[RAW_PART].p_size = 2048
        dev = MAKEDISKDEV(17, 0, RAW_PART)
        ms = bytearray(8)
        ss = ctypes.c_uint()
        lab = bytearray(ctypes.sizeof(disklabel))
        pi = partinfo()
        r = (disk_ioctl(dk, dev, DIOCGMEDIASIZE, ms, 0, None),
             disk_ioctl(dk, dev, DIOCGSECTORSIZE, ss, 0, None),
             disk_ioctl(dk, dev, DIOCGDINFO, lab, 0, None),
             disk_ioctl(dk, dev, DIOCGPART, pi, 0, None),
             disk_ioctl(dk, dev, DIOCGWEDGEINFO, dkwedge_info(), 0, None),
             disk_ioctl(dk, dev, DIOCGMEDIASIZE, bytearray(2), 0, None))
        out = (r, int.from_bytes(ms, "little"), ss.value,
               disklabel.from_buffer(lab).d_partitions[RAW_PART].p_size,
               pi.part.p_size, pi.disklab.d_secsize)
        disk_detach(dk)
        disk_destroy(dk)
        return out

    r, media, sec, p_size, pi_size, pi_sec = k.run(body)
    assert r == (0, 0, 0, 0, EPASSTHROUGH, EINVAL)
    assert (media, sec, p_size, pi_size, pi_sec) == (2048 * 512, 512, 2048, 2048, 512)


def fake_devvp(answer):
    """A block device vnode whose VOP_IOCTL is ``answer(cmd, data)``."""
    async def ioctl(ap):
        return answer(ap.a_command, ap.a_data)

    vp = vnode()
    vp.v_type = VBLK
    vp.v_op = vnodeopv_desc("fakespec", [(vop_ioctl_desc, ioctl)]).opv_desc_vector
    return vp


def part_answer(secsize, nsec):
    lab = disklabel()
    lab.d_secsize = secsize
    lab.d_partitions[0].p_size = nsec

    def answer(cmd, data):
        if cmd == DIOCGPART:
            data.disklab = lab
            data.part = lab.d_partitions[0]
            return 0
        return ENOTTY
    return answer


@pytest.mark.parametrize("secsize,nsec,expect", [
    (512, 2048, (0, 2048, 512)),
    (4096, 10, (0, 10, 4096)),
    (0, 10, (EINVAL, 0, 0)),
    (1536, 10, (EINVAL, 0, 0)),          # not a power of two
    (128 * 1024, 10, (EINVAL, 0, 0)),    # above MAXBSIZE
    (512, 0, (EINVAL, 0, 0)),
])
def test_getdisksize_from_partition(k, secsize, nsec, expect):
    async def body():
        return await getdisksize(fake_devvp(part_answer(secsize, nsec)))

    assert k.run(body) == expect


def test_getdisksize_wedge_and_errors(k):
    async def body():
        parent = disk()
        disk_init(parent, "wd9", None)
        disk_attach(parent)
        parent.dk_blkshift = 3  # 4096-byte sectors

        def wedge(parent_name):
            def answer(cmd, data):
                if cmd == DIOCGWEDGEINFO:
                    data.dkw_parent = parent_name
                    data.dkw_size = 777
                    return 0
                return part_answer(512, 55)(cmd, data)
            return answer

        found = await getdisksize(fake_devvp(wedge(b"wd9")))
        # Parent unknown (ENODEV): the partition answer is used instead.
        fallback = await getdisksize(fake_devvp(wedge(b"nosuch")))
        nothing = await getdisksize(fake_devvp(lambda cmd, data: ENOTTY))
        disk_detach(parent)
        disk_destroy(parent)
        return found, fallback, nothing

    assert k.run(body) == ((0, 777, 4096), (0, 55, 512), (ENOTTY, 0, 0))


def test_getdisksize_of_md(k):
    from dev.md import md_create

    async def body():
        error, dev = md_create(3, 1 << 20)
        assert error == 0

        async def ioctl(ap):
            return await bdev_ioctl(dev, ap.a_command, ap.a_data, ap.a_fflag, None)

        vp = vnode()
        vp.v_type = VBLK
        vp.v_rdev = dev
        vp.v_op = vnodeopv_desc("fakespec", [(vop_ioctl_desc, ioctl)]).opv_desc_vector
        return await getdisksize(vp)

    assert k.run(body) == (0, 2048, 512)
