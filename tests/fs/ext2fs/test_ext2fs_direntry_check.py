"""The directory walk's entry check (``_checked_entry``, decoded in line since
s20) against the decode it replaced: the same verdict and the same entry for
every header at every offset, on file systems with and without the filetype
feature and of either revision; and the walk's name comparison without a copy
against the copy it replaced."""

from __future__ import annotations

import struct
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
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


_inos = st.one_of(st.integers(0, 3), st.integers(509, 514), st.integers(0, 2**32 - 1))


@st.composite
def _headers(draw: Any) -> tuple[int, int, int, int, int]:
    """(off, ino, reclen, namlen, ftype): mostly near a valid entry (a reclen
    about EXT2FS_DIRSIZ of the name, an offset a multiple of 4 within the
    block), where each check's bound is."""
    namlen = draw(st.one_of(st.integers(0, 12), st.integers(0, 255)))
    ftype = draw(st.one_of(st.integers(0, 2), st.integers(0, 255)))
    size = EXT2FS_DIRSIZ(namlen | ftype << 8)
    reclen = draw(st.one_of(st.integers(min(65530, max(0, size - 5)), min(65535, size + 5)),
                            st.sampled_from([0, 4, 8, 12, 1020, 1024, 1028, 4096, 65535]),
                            st.integers(0, 65535)))
    off = draw(st.one_of(st.integers(0, 16).map(lambda o: 4 * o),
                         st.integers(1000, 1024), st.integers(4080, 4100),
                         st.integers(0, 4100)))
    return off, draw(_inos), reclen, namlen, ftype


@settings(max_examples=2000)  # (each check's bound must be met: see the breaking in s20-rv2)
@given(rev=st.sampled_from([0, 1, 2]), incompat=st.sampled_from([0, EXT2F_INCOMPAT_FTYPE, 0xff]),
       log_bsize=st.sampled_from([0, 2]), hdr=_headers(), view=st.booleans())
def test_checked_entry_is_the_old_decode(rev, incompat, log_bsize, hdr, view):
    off, ino, reclen, namlen, ftype = hdr
    dp = _dp(rev, incompat, log_bsize)
    bsize = dp.i_e2fs.e2fs_bsize
    data = bytearray(bsize)
    if off + 8 <= bsize:
        _HDR.pack_into(data, off, ino, reclen, namlen, ftype)
    buf: Any = memoryview(data) if view else data
    assert _checked_entry(dp, buf, off) == _old_checked_entry(dp, buf, off)


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
