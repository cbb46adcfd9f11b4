"""``struct dirent`` as getdents(2) returns it (sys/dirent.h, NetBSD LP64).

    d_fileno u64 | d_reclen u16 | d_namlen u16 | d_type u8 | d_name[namlen] NUL
    padded to a multiple of 8 bytes.

After ``$NetBSD: dirent.h,v 1.24.32.1 2011/06/06 jruoho$`` (sys/sys/dirent.h,
the stored revision; struct dirent and the DT_* values are unchanged in
NetBSD 8).  The DT_* values, MAXNAMLEN (511) and the record length
(``_DIRENT_RECLEN``: name offset 13, NUL, 8-byte alignment) are NetBSD's.

Deviations: a record is packed bytes (``pack_dirent``), not a struct with a
512-byte d_name; ``iter_dirents`` and ``vtype_to_dtype`` are kemu's helpers
(the kernel's vtype-to-DT mapping NetBSD spells with IFTODT on the mode);
_DIRENT_SIZE, _DIRENT_NEXT, _DIRENT_MINSIZE, IFTODT and DTTOIF are not
defined.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

DT_UNKNOWN = 0
DT_FIFO = 1
DT_CHR = 2
DT_DIR = 4
DT_BLK = 6
DT_REG = 8
DT_LNK = 10
DT_SOCK = 12
DT_WHT = 14

_HDR = struct.Struct("<QHHB")
_NAMEOFF = _HDR.size  # 13
MAXNAMLEN = 511  # dirent's own limit; file systems allow 255


def _DIRENT_RECLEN(namlen: int) -> int:
    return (_NAMEOFF + namlen + 1 + 7) & ~7


def pack_dirent(fileno: int, name: bytes | str, dtype: int) -> bytes:
    raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    reclen = _DIRENT_RECLEN(len(raw))
    rec = _HDR.pack(fileno, reclen, len(raw), dtype) + raw + b"\0"
    return rec + b"\0" * (reclen - len(rec))


def iter_dirents(buf: bytes) -> Iterator[tuple[int, str, int]]:
    """(fileno, name, d_type) for each record in a getdents buffer."""
    off = 0
    while off + _NAMEOFF <= len(buf):
        fileno, reclen, namlen, dtype = _HDR.unpack_from(buf, off)
        if reclen == 0:
            break
        name = bytes(buf[off + _NAMEOFF:off + _NAMEOFF + namlen])
        yield fileno, name.decode("utf-8", "surrogateescape"), dtype
        off += reclen


def vtype_to_dtype(vtype: int) -> int:
    from vfs.vnode import VBLK, VCHR, VDIR, VFIFO, VLNK, VREG, VSOCK

    return {VREG: DT_REG, VDIR: DT_DIR, VBLK: DT_BLK, VCHR: DT_CHR, VLNK: DT_LNK,
            VSOCK: DT_SOCK, VFIFO: DT_FIFO}.get(vtype, DT_UNKNOWN)
