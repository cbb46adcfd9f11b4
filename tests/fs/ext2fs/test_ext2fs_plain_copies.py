"""m_ext2fs's plain copies of super block fields, and the headers' pure helpers that
stand for a ctypes round trip: each must give what the field or the ctypes form gives."""

from __future__ import annotations

import ctypes

import pytest

from fs.ext2fs.ext2fs import EXT2_HAS_INCOMPAT_FEATURE, EXT2F_INCOMPAT_FTYPE
from fs.ext2fs.ext2fs_dinode import EXT2_DINODE_TIME_EXTRA, EXT3_EPOCH_MASK, EXT3_NSEC_MASK
from fs.ext2fs.ext2fs_dir import ext2fs_dirent_get, ext2fs_dirent_put

from .helpers import MB, check, mkfs, mount, mount_of, needs_e2fsprogs, run_clean, umount

# m_ext2fs's field -> the super block field it copies
_COPIES = {
    "k_first_dblock": "e2fs_first_dblock",
    "k_bpg": "e2fs_bpg",
    "k_fpg": "e2fs_fpg",
    "k_bcount": "e2fs_bcount",
    "k_rev": "e2fs_rev",
    "k_features_incompat": "e2fs_features_incompat",
    "k_icount": "e2fs_icount",
    "k_rbcount": "e2fs_rbcount",
}


@needs_e2fsprogs
@pytest.mark.parametrize("rev", ["0", "1"])
def test_plain_copies_are_the_super_blocks_fields(tmp_path, rev):
    img = mkfs(str(tmp_path / "c.img"), 4 * MB, 1024, extra=("-r", rev))

    async def body():
        from fs.ext2fs.ufs_inode import VFSTOUFS

        check(await mount(img))
        fs = VFSTOUFS(await mount_of("/mnt")).um_e2fs
        got = {k: (getattr(fs, k), getattr(fs.e2fs, f)) for k, f in _COPIES.items()}
        ftype = EXT2_HAS_INCOMPAT_FEATURE(fs, EXT2F_INCOMPAT_FTYPE)
        check(await umount())
        return got, ftype

    got, ftype = run_clean(img, body)
    for k, (copy, field) in got.items():
        assert copy == field, k
    assert got["k_rev"][1] == int(rev)
    assert got["k_rbcount"][1] > 0  # (mke2fs reserves 5%: a copy left at 0 shows)
    assert ftype == (rev == "1")  # mke2fs turns filetype on for revision 1 only


def _time_extra_by_ctypes(sec: int, nsec: int) -> int:
    """EXT2_DINODE_TIME_EXTRA as it was written, with a ctypes int32."""
    epoch = ((sec - ctypes.c_int32(sec & 0xffffffff).value) >> 32) & EXT3_EPOCH_MASK
    return ((nsec << 2) & EXT3_NSEC_MASK) | epoch


@pytest.mark.parametrize("sec", [0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 2**31,
                                 2**33 + 5, 2**34 - 1, -2**31, -2**31 - 1, 1_700_000_000])
def test_time_extra_epoch_bits(sec):
    assert EXT2_DINODE_TIME_EXTRA(sec, 999_999_999) == _time_extra_by_ctypes(sec, 999_999_999)
    assert EXT2_DINODE_TIME_EXTRA(sec, 0) == _time_extra_by_ctypes(sec, 0)


def test_dirent_get_reads_what_put_wrote():
    b = bytearray(64)
    ext2fs_dirent_put(b, 12, 0x01020304, 52, b"name", 7)
    assert ext2fs_dirent_get(b, 12) == (0x01020304, 52, 4, 7)
    assert ext2fs_dirent_get(memoryview(b), 12) == (0x01020304, 52, 4, 7)
    assert bytes(b[20:24]) == b"name"


@pytest.mark.parametrize("extra_isize", [0, 4, 24, 28, 32])
@pytest.mark.parametrize("isize", [128, 256])
def test_dinode_fits_table_is_the_ctypes_layout(isize, extra_isize):
    """EXT2_DINODE_FITS reads field ends from a table made once: each answer is the
    one the ctypes field's offset and size give."""
    from fs.ext2fs.ext2fs_dinode import EXT2_DINODE_FITS, EXT2_REV0_DINODE_SIZE, ext2fs_dinode

    dp = ext2fs_dinode()
    dp.e2di_extra_isize = extra_isize
    for name, *_ in ext2fs_dinode._fields_:
        f = getattr(ext2fs_dinode, name)
        end = f.offset + f.size
        want = end <= EXT2_REV0_DINODE_SIZE or (
            isize > EXT2_REV0_DINODE_SIZE and end <= EXT2_REV0_DINODE_SIZE + extra_isize)
        assert EXT2_DINODE_FITS(dp, name, isize) == want, name
