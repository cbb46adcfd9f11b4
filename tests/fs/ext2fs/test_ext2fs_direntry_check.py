"""The directory walk's entry check (``_checked_entry``, decoded in line since
s20) against the decode it replaced: the same verdict and the same entry for
every header at every offset, on file systems with and without the filetype
feature and of either revision; and the walk's name comparison without a copy
against the copy it replaced."""

from __future__ import annotations

import random
import struct
from types import SimpleNamespace
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fs.ext2fs.ext2fs import E2FS_REV1, EXT2F_INCOMPAT_FTYPE, m_ext2fs
from fs.ext2fs.ext2fs_dinode import EXT2_ROOTINO
from fs.ext2fs.ext2fs_dir import EXT2FS_DIRSIZ, EXT2FS_MAXNAMLEN, ext2fs_dirent_get
from fs.ext2fs.ext2fs_lookup import _checked_entry
from fs.ext2fs.ext2fs_vfsops import ext2fs_sbfill

_HDR = struct.Struct("<IHBB")


def _old_checked_entry(dp: Any, data: Any, off: int) -> tuple[str | None, tuple[int, ...]]:
    """_checked_entry as it was before s20 (through _entry and the super block's
    own fields), the oracle."""
    fs = dp.i_e2fs
    bsize = fs.e2fs_bsize
    if off + 8 > bsize:
        return "directory entry across blocks", (0, 0, 0, 0)
    ino, reclen, namlen, ftype = ext2fs_dirent_get(data, off)
    if not (fs.e2fs.e2fs_rev >= E2FS_REV1 and
            bool(fs.e2fs.e2fs_features_incompat & EXT2F_INCOMPAT_FTYPE)):
        namlen |= ftype << 8
        ftype = 0
    ent = (ino, reclen, namlen, ftype)
    if reclen < EXT2FS_DIRSIZ(1):
        return "rec_len is smaller than minimal", ent
    if reclen % 4 != 0:
        return "rec_len % 4 != 0", ent
    if namlen > EXT2FS_MAXNAMLEN:
        return "name_len too large", ent
    if reclen < EXT2FS_DIRSIZ(namlen):
        return "reclen is too small for name_len", ent
    if off + reclen > bsize:
        return "directory entry across blocks", ent
    if ino > fs.e2fs.e2fs_icount:
        return "inode out of bounds", ent
    if ino != 0 and ino < EXT2_ROOTINO:
        return "reserved inode number", ent
    return None, ent


def _dp(rev: int, incompat: int, log_bsize: int) -> Any:
    """A directory inode's stand-in on a file system whose in-core fields
    ext2fs_sbfill computed (as at mount)."""
    fs = m_ext2fs()
    sb = fs.e2fs
    sb.e2fs_log_bsize = sb.e2fs_fsize = log_bsize
    sb.e2fs_first_dblock = 1 if log_bsize == 0 else 0
    sb.e2fs_bpg = sb.e2fs_fpg = 8192
    sb.e2fs_bcount = 16384
    sb.e2fs_ipg = 256
    sb.e2fs_icount = 512
    sb.e2fs_rev = rev
    sb.e2fs_inode_size = 128
    sb.e2fs_features_incompat = incompat
    assert ext2fs_sbfill(fs) == 0
    return SimpleNamespace(i_e2fs=fs)


def _headers(rng: random.Random) -> tuple[int, int, int, int, int]:
    """(off, ino, reclen, namlen, ftype): mostly near a valid entry (a reclen
    about EXT2FS_DIRSIZ of the name, an offset a multiple of 4 within the
    block), where each check's bound is."""
    namlen = rng.choice((rng.randint(0, 12), rng.randint(0, 255)))
    ftype = rng.choice((rng.randint(0, 2), rng.randint(0, 255)))
    size = EXT2FS_DIRSIZ(namlen | ftype << 8)
    reclen = rng.choice((rng.randint(min(65530, max(0, size - 5)), min(65535, size + 5)),
                         rng.choice((0, 4, 8, 12, 1020, 1024, 1028, 4096, 65535)),
                         rng.randint(0, 65535)))
    off = rng.choice((4 * rng.randint(0, 16), rng.randint(1000, 1024), rng.randint(4080, 4100),
                      rng.randint(0, 4100)))
    ino = rng.choice((rng.randint(0, 3), rng.randint(509, 514), rng.randint(0, 2**32 - 1)))
    return off, ino, reclen, namlen, ftype


def test_checked_entry_is_the_old_decode():
    """20,000 seeded headers, each on every file system (revisions 0-2, with
    and without the filetype feature, 1 KiB and 4 KiB blocks) and through a
    bytearray and a memoryview: the same verdict and entry as the old decode.
    (A seeded loop rather than hypothesis: each check's bound must be met,
    which s20-rv2 found needs thousands of cases, and hypothesis's generation
    cost ~3 ms a case.)"""
    rng = random.Random(20)
    fss = [_dp(rev, incompat, log_bsize) for rev in (0, 1, 2)
           for incompat in (0, EXT2F_INCOMPAT_FTYPE, 0xff) for log_bsize in (0, 2)]
    for _ in range(20000):
        off, ino, reclen, namlen, ftype = hdr = _headers(rng)
        dp = fss[rng.randrange(len(fss))]
        bsize = dp.i_e2fs.e2fs_bsize
        data = bytearray(bsize)
        if off + 8 <= bsize:
            _HDR.pack_into(data, off, ino, reclen, namlen, ftype)
        for buf in (data, memoryview(data)):
            assert _checked_entry(dp, buf, off) == _old_checked_entry(dp, buf, off), \
                (hdr, dp.i_e2fs.e2fs.e2fs_rev, dp.i_e2fs.e2fs.e2fs_features_incompat, bsize)


@given(data=st.binary(min_size=0, max_size=64), off=st.integers(0, 64),
       namlen=st.integers(0, 64), name=st.binary(max_size=8))
def test_name_compare_without_copy(data, off, namlen, name):
    """The walk's ``data[off + 8:off + 8 + namlen] == name`` (no copy) is the
    old ``bytes(...) == name`` for a bytearray block and for a memoryview one
    (a buffer cut from a larger one, see vfs_bio's nestiobuf)."""
    raw = bytearray(data + name + data)
    for buf in (raw, memoryview(raw), memoryview(bytearray(8) + raw)[8:]):
        assert (buf[off + 8:off + 8 + namlen] == name) == \
            (bytes(buf[off + 8:off + 8 + namlen]) == name)
