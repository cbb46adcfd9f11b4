"""puffs_subr's wire vattr conversions: vattr_null's image, and the trip
out to the wire and back in (VNOVAL fields, times, all ones)."""

from __future__ import annotations

import ctypes

import pytest

from fs.puffs import puffs_subr
from fs.puffs.puffs_msgif_h import vattr as wvattr
from fs.puffs.puffs_subr import puffs_vattr_in, puffs_vattr_null, puffs_vattr_out
from vfs.vnode import VNOVAL, vattr


def test_vattr_null_is_the_null_vattr_whatever_the_buffer_held(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(puffs_subr, "_null_image", None)  # the first call builds it
    expect = wvattr()
    puffs_vattr_out(expect, vattr())
    for fill in (0x5A, 0xFF, 0x00):
        w = wvattr()
        ctypes.memset(ctypes.addressof(w), fill, ctypes.sizeof(w))
        puffs_vattr_null(w)
        assert bytes(w) == bytes(expect), hex(fill)


def test_vattr_null_reads_back_as_all_vnoval() -> None:
    w = wvattr()
    puffs_vattr_null(w)
    k = vattr()
    puffs_vattr_in(k, w)
    for f in ("va_mode", "va_nlink", "va_uid", "va_gid", "va_fsid", "va_fileid",
              "va_size", "va_gen", "va_flags", "va_rdev", "va_bytes", "va_filerev",
              "va_atime", "va_mtime", "va_ctime", "va_birthtime"):
        assert getattr(k, f) == VNOVAL, f


def test_vattr_out_then_in_keeps_every_field() -> None:
    k = vattr()
    k.va_type, k.va_mode, k.va_nlink, k.va_uid, k.va_gid = 1, 0o644, 3, 1000, 100
    k.va_fsid, k.va_fileid, k.va_size, k.va_blocksize = 7, 1 << 40, (1 << 33) + 5, 4096
    k.va_gen, k.va_flags, k.va_rdev, k.va_bytes, k.va_filerev = 9, 2, 0x0304, 8192, 11
    k.va_atime, k.va_mtime = (1_000_000, 5), (1_000_001, 999_999_999)
    k.va_ctime, k.va_birthtime = (0, 0), VNOVAL
    w = wvattr()
    puffs_vattr_out(w, k)
    back = vattr()
    puffs_vattr_in(back, w)
    for f in ("va_type", "va_mode", "va_nlink", "va_uid", "va_gid", "va_fsid", "va_fileid",
              "va_size", "va_blocksize", "va_gen", "va_flags", "va_rdev", "va_bytes",
              "va_filerev", "va_atime", "va_mtime", "va_ctime", "va_birthtime"):
        assert getattr(back, f) == getattr(k, f), f
