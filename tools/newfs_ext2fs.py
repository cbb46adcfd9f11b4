"""newfs_ext2fs(8): make an ext2 file system (after NetBSD's sbin/newfs_ext2fs).

The formatting core, ``mke2fs_plan(params)``, computes the whole new file
system (super block and its backups, group descriptors, bitmaps, zeroed
inode tables, the root directory, lost+found and, on revision 1, the
resize inode that reserves room for the group descriptors of a grown file
system) as a list of (byte offset, bytes) writes.  ``newfs_ext2fs(target,
params)`` applies them to anything with ``pwrite(data, offset)`` (a host
file: ``HostTarget``); ``anewfs_ext2fs`` does the same with an async
``pwrite`` (a disk inside a kemu machine, through system calls).

Options (as NetBSD's): ``-b`` block size, ``-D`` inode size (128, 256),
``-F`` make an image in a regular file (size from ``-s``), ``-f``
fragment size (must equal the block size), ``-I`` no disklabel type check,
``-i`` bytes per inode, ``-m`` reserved space in percent, ``-N`` print the
parameters only, ``-n`` number of inodes, ``-O`` format (0: GOOD_OLD_REV,
the default, 1: DYNAMIC_REV with filetype, sparse_super, large_file and
resize_inode), ``-S`` sector size, ``-s`` size (sectors, or with a
b/k/m/g suffix bytes), ``-V`` verbosity (0..4), ``-v`` volume name, ``-Z``
zero the image first.

Differences from NetBSD's: ``-i`` counts bytes of the file system (NetBSD
divides a sector count by it); lost+found gets at most its direct blocks,
as e2fsprogs makes it.
"""

from __future__ import annotations

import os
import struct
import sys
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fs.ext2fs.ext2fs import (
    E2FS_BEH_DEFAULT,
    E2FS_ISCLEAN,
    E2FS_MAGIC,
    E2FS_OS_LINUX,
    E2FS_REV0,
    E2FS_REV1,
    EXT2F_COMPAT_RESIZE,
    EXT2F_INCOMPAT_FTYPE,
    EXT2F_ROCOMPAT_LARGEFILE,
    EXT2F_ROCOMPAT_SPARSESUPER,
    LOG_MINBSIZE,
    MINBSIZE,
    SBOFF,
    cg_has_sb,
    ext2_gd,
    ext2fs,
    howmany,
    roundup,
)
from fs.ext2fs.ext2fs_dinode import (
    EXT2_DIND_BLOCK,
    EXT2_FIRSTINO,
    EXT2_IFDIR,
    EXT2_IFREG,
    EXT2_RESIZEINO,
    EXT2_REV0_DINODE_SIZE,
    EXT2_ROOTINO,
    NDADDR,
    ext2fs_dinode,
)
from fs.ext2fs.ext2fs_dir import EXT2_FT_DIR, ext2fs_dirent_put
from kern.errno import ERANGE
from tools.lib.stdlib import strtoll, to_int64

EXT2_DEF_MAX_MNT_COUNT = 20
EXT2_DEF_FSCKINTV = 180 * 24 * 60 * 60
EXT2_UMASK = 0o755
EXT2_LOSTFOUNDSIZE = 16384
EXT2_LOSTFOUNDINO = EXT2_FIRSTINO
EXT2_LOSTFOUNDUMASK = 0o700
EXT2_RESIZEINOUMASK = 0o600
EXT2_MAXBSIZE = 4096  # what the kemu kernel mounts (e2fsprogs goes to 64 KiB)
DFL_SECSIZE = 512
DEFAULT_VERBOSITY = 3


class NewfsError(Exception):
    """A bad parameter or an I/O failure: newfs_ext2fs prints it and exits 1."""


@dataclass
class newfs_params:
    """What the command line says (zero means "the default")."""

    fssize: int = 0              # sectors
    sectorsize: int = DFL_SECSIZE
    bsize: int = 0
    fsize: int = 0
    inodesize: int = EXT2_REV0_DINODE_SIZE
    density: int = 0             # bytes per inode
    num_inodes: int = 0
    minfree: int = 5
    Oflag: int = 0               # 0: GOOD_OLD_REV, 1: DYNAMIC_REV
    volname: str | None = None
    verbosity: int = DEFAULT_VERBOSITY
    Nflag: bool = False
    uid: int = 0                 # owner of the root directory and the reserved blocks
    gid: int = 0
    now: int | None = None       # creation time (default: the clock)
    uuid: bytes | None = None
    out: Callable[[str], None] = field(default=lambda s: sys.stdout.write(s))


@dataclass
class plan:
    """The file system mke2fs_plan decided on, and the writes that make it."""

    bsize: int
    bcount: int
    ncg: int
    bpg: int
    ipg: int
    icount: int
    ngdb: int
    reserved_ngdb: int
    sb_backups: list[int]
    writes: list[tuple[int, bytes]]
    sb: ext2fs


class Target(Protocol):
    def pwrite(self, data: bytes, offset: int) -> int: ...


class HostTarget:
    """A host file or device, written with os.pwrite."""

    def __init__(self, path: str, create: bool = False) -> None:
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        self.fd = os.open(path, flags, 0o644)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def pwrite(self, data: bytes, offset: int) -> int:
        return os.pwrite(self.fd, data, offset)

    def close(self) -> None:
        os.close(self.fd)


def _ilog2(n: int) -> int:
    return n.bit_length() - 1


def _powerof2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def mke2fs_plan(p: newfs_params) -> plan:
    """Lay out a new file system of ``p.fssize`` sectors: everything to write, nothing written."""
    bsize, fsize = p.bsize, p.fsize or p.bsize
    if not _powerof2(bsize):
        raise NewfsError(f"block size must be a power of 2, not {bsize}")
    if not _powerof2(fsize):
        raise NewfsError(f"fragment size must be a power of 2, not {fsize}")
    if fsize < p.sectorsize:
        raise NewfsError(f"fragment size {fsize} is too small, minimum is {p.sectorsize}")
    if bsize < MINBSIZE:
        raise NewfsError(f"block size {bsize} is too small, minimum is {MINBSIZE}")
    if bsize > EXT2_MAXBSIZE:
        raise NewfsError(f"block size {bsize} is too large, maximum is {EXT2_MAXBSIZE}")
    if bsize != fsize:
        raise NewfsError(f"block size ({bsize}) can't be different from fragment size "
                         f"({fsize})")
    inodesize = p.inodesize
    if p.Oflag == 0 and inodesize != EXT2_REV0_DINODE_SIZE:
        raise NewfsError(f"GOOD_OLD_REV file system format doesn't support {inodesize} "
                         f"byte inode")
    if inodesize not in (128, 256):
        raise NewfsError(f"Bad inode size {inodesize} (only 128 and 256 supported)")
    rev = E2FS_REV1 if p.Oflag else E2FS_REV0
    now = int(p.now if p.now is not None else time.time())

    log_bsize = _ilog2(bsize) - LOG_MINBSIZE
    ipb = bsize // inodesize
    first_dblock = 1 if bsize == MINBSIZE else 0
    fsbtodb = _ilog2(bsize) - _ilog2(p.sectorsize)
    minfssize = (first_dblock + 1 + 1 + 1 + 1 + 1 + 1 + 1) << fsbtodb
    if p.fssize < minfssize:
        raise NewfsError(f"Filesystem size {p.fssize} < minimum size of {minfssize}")
    bcount = (p.fssize * p.sectorsize) // bsize
    if bcount > 0xffffffff:
        raise NewfsError("file system too large for 32-bit block numbers")
    bpg = bsize * 8
    num_inodes = max(p.num_inodes, EXT2_FIRSTINO)

    def has_sb(c: int) -> bool:
        return rev == E2FS_REV0 or cg_has_sb(c)

    def reserved_for(bcount: int, ngdb: int) -> int:
        if rev == E2FS_REV0:
            return 0
        target_blocks = min((bcount - first_dblock) * 1024, 0xffffffff)
        target_ncg = howmany(target_blocks, bpg)
        target_ngdb = howmany(32 * target_ncg, bsize)
        return max(0, min(target_ngdb - ngdb, bsize // 4))

    # Find the group count: a last group too small for its own metadata goes.
    while True:
        ncg = howmany(bcount - first_dblock, bpg)
        ngdb = howmany(32 * ncg, bsize)
        num_inodes = min(num_inodes, 0xffff * ncg)
        ipg = roundup(max(num_inodes // ncg, 1), max(ipb, 8))
        ipg = min(ipg, bsize * 8)
        iblocks = howmany(ipg * inodesize, bsize)
        reserved = reserved_for(bcount, ngdb)
        minblocks = 1 + 1 + iblocks + 1
        if has_sb(ncg - 1):
            minblocks += 1 + ngdb + reserved
        lastcg = bcount - first_dblock - bpg * (ncg - 1)
        if lastcg >= minblocks:
            break
        if ncg == 1:
            raise NewfsError("file system too small for its metadata")
        bcount -= lastcg
    icount = ipg * ncg
    if ipg * ncg < EXT2_FIRSTINO:
        raise NewfsError("too few inodes")

    sb = ext2fs()
    sb.e2fs_icount = icount
    sb.e2fs_bcount = bcount
    sb.e2fs_rbcount = bcount * p.minfree // 100
    sb.e2fs_first_dblock = first_dblock
    sb.e2fs_log_bsize = log_bsize
    sb.e2fs_fsize = _ilog2(fsize) - LOG_MINBSIZE
    sb.e2fs_bpg = bpg
    sb.e2fs_fpg = bpg
    sb.e2fs_ipg = ipg
    sb.e2fs_mtime = 0
    sb.e2fs_wtime = now
    sb.e2fs_mnt_count = 0
    sb.e2fs_max_mnt_count = EXT2_DEF_MAX_MNT_COUNT
    sb.e2fs_magic = E2FS_MAGIC
    sb.e2fs_state = E2FS_ISCLEAN
    sb.e2fs_beh = E2FS_BEH_DEFAULT
    sb.e2fs_minrev = 0
    sb.e2fs_lastfsck = now
    sb.e2fs_fsckintv = EXT2_DEF_FSCKINTV
    sb.e2fs_creator = E2FS_OS_LINUX
    sb.e2fs_rev = rev
    sb.e2fs_ruid = p.uid & 0xffff
    sb.e2fs_rgid = p.gid & 0xffff
    if rev == E2FS_REV1:
        sb.e2fs_first_ino = EXT2_FIRSTINO
        sb.e2fs_inode_size = inodesize
        sb.e2fs_features_compat = EXT2F_COMPAT_RESIZE if reserved else 0
        sb.e2fs_features_incompat = EXT2F_INCOMPAT_FTYPE
        sb.e2fs_features_rocompat = EXT2F_ROCOMPAT_SPARSESUPER | EXT2F_ROCOMPAT_LARGEFILE
        u = p.uuid if p.uuid is not None else uuidlib.uuid4().bytes
        for i in range(16):
            sb.e2fs_uuid[i] = u[i]
        if p.volname is not None:
            raw = p.volname.encode()
            if len(raw) > 16:
                raise NewfsError("Volume name is too long")
            sb.e2fs_vname = raw
        sb.e2fs_reserved_ngdb = reserved
        sb.e3fs_mkfs_time = now
    else:
        reserved = 0

    # Per-group layout.
    gds = (ext2_gd * ncg)()
    bbitmaps = []
    ibitmaps = []
    sb_backups = []
    datastart = []
    for c in range(ncg):
        base = first_dblock + c * bpg
        nblocks = min(bpg, bcount - base)
        b = base
        if has_sb(c):
            if c:
                sb_backups.append(base)
            b += 1 + ngdb + reserved
        gd = gds[c]
        gd.ext2bgd_b_bitmap = b
        gd.ext2bgd_i_bitmap = b + 1
        gd.ext2bgd_i_tables = b + 2
        b += 2 + iblocks
        datastart.append(b)
        bm = bytearray(bsize)
        for i in range(b - base):
            bm[i >> 3] |= 1 << (i & 7)
        for i in range(nblocks, bsize * 8):  # past the end of the group
            bm[i >> 3] |= 1 << (i & 7)
        bbitmaps.append(bm)
        im = bytearray(bsize)
        for i in range(ipg, bsize * 8):
            im[i >> 3] |= 1 << (i & 7)
        ibitmaps.append(im)
        gd.ext2bgd_nbfree = nblocks - (b - base)
        gd.ext2bgd_nifree = ipg
        gd.ext2bgd_ndirs = 0

    # Blocks for the root directory, lost+found and the resize inode, in group 0.
    nextblk = [datastart[0]]

    def alloc(c: int = 0) -> int:
        bno = nextblk[0]
        if bno >= first_dblock + bpg or bno >= bcount:
            raise NewfsError("no room in the first block group")
        nextblk[0] += 1
        i = bno - (first_dblock + c * bpg)
        bbitmaps[c][i >> 3] |= 1 << (i & 7)
        gds[c].ext2bgd_nbfree -= 1
        return bno

    writes: list[tuple[int, bytes]] = []
    inodes: dict[int, ext2fs_dinode] = {}
    ftype = EXT2_FT_DIR if rev == E2FS_REV1 else 0

    def dinode(mode: int, nlink: int) -> ext2fs_dinode:
        di = ext2fs_dinode()
        di.e2di_mode = mode
        di.e2di_uid = p.uid & 0xffff
        di.e2di_gid = p.gid & 0xffff
        if rev == E2FS_REV1:
            di.e2di_uid_high = (p.uid >> 16) & 0xffff
            di.e2di_gid_high = (p.gid >> 16) & 0xffff
        di.e2di_atime = di.e2di_ctime = di.e2di_mtime = now
        di.e2di_nlink = nlink
        if inodesize > EXT2_REV0_DINODE_SIZE:
            di.e2di_extra_isize = ext2fs_dinode_extra()
            di.e2di_crtime = now
        return di

    # The root directory.
    rootblk = alloc()
    lfblocks = [alloc() for _ in range(min(EXT2_LOSTFOUNDSIZE // bsize, NDADDR))]
    blk = bytearray(bsize)
    ext2fs_dirent_put(blk, 0, EXT2_ROOTINO, 12, b".", ftype)
    ext2fs_dirent_put(blk, 12, EXT2_ROOTINO, 12, b"..", ftype)
    ext2fs_dirent_put(blk, 24, EXT2_LOSTFOUNDINO, bsize - 24, b"lost+found", ftype)
    writes.append((rootblk * bsize, bytes(blk)))
    di = dinode(EXT2_IFDIR | EXT2_UMASK, 3)
    di.e2di_size = bsize
    di.e2di_nblock = bsize // 512
    di.e2di_blocks[0] = rootblk
    inodes[EXT2_ROOTINO] = di
    # lost+found: its first block holds "." and "..", the others are empty.
    for i, b in enumerate(lfblocks):
        blk = bytearray(bsize)
        if i == 0:
            ext2fs_dirent_put(blk, 0, EXT2_LOSTFOUNDINO, 12, b".", ftype)
            ext2fs_dirent_put(blk, 12, EXT2_ROOTINO, bsize - 12, b"..", ftype)
        else:
            struct.pack_into("<IH", blk, 0, 0, bsize)
        writes.append((b * bsize, bytes(blk)))
    di = dinode(EXT2_IFDIR | EXT2_LOSTFOUNDUMASK, 2)
    di.e2di_size = len(lfblocks) * bsize
    di.e2di_nblock = len(lfblocks) * (bsize // 512)
    for i, b in enumerate(lfblocks):
        di.e2di_blocks[i] = b
    inodes[EXT2_LOSTFOUNDINO] = di
    gds[0].ext2bgd_ndirs = 2

    # The resize inode: a double indirect block whose entries are the
    # reserved descriptor blocks of group 0, each listing its copies in the
    # groups that have super block backups.
    if reserved:
        apb = bsize // 4
        dind = alloc()
        dbuf = bytearray(bsize)
        backups = [c for c in range(1, ncg) if has_sb(c)]
        nblk = 1
        for j in range(reserved):
            gdt_blk = first_dblock + 1 + ngdb + j
            struct.pack_into("<I", dbuf, 4 * ((ngdb + j) % apb), gdt_blk)
            ibuf = bytearray(bsize)
            for k, c in enumerate(backups):
                struct.pack_into("<I", ibuf, 4 * k, gdt_blk + c * bpg)
            writes.append((gdt_blk * bsize, bytes(ibuf)))
            nblk += 1 + len(backups)
        writes.append((dind * bsize, bytes(dbuf)))
        di = dinode(EXT2_IFREG | EXT2_RESIZEINOUMASK, 1)
        isize = (apb * apb + apb + NDADDR) * bsize
        di.e2di_size = isize & 0xffffffff
        di.e2di_size_high = isize >> 32
        di.e2di_nblock = nblk * (bsize // 512)
        di.e2di_blocks[EXT2_DIND_BLOCK] = dind
        inodes[EXT2_RESIZEINO] = di

    # Inodes 1..first_ino (reserved ones and lost+found) are in use.
    for i in range(EXT2_FIRSTINO):
        ibitmaps[0][i >> 3] |= 1 << (i & 7)
    gds[0].ext2bgd_nifree -= EXT2_FIRSTINO
    sb.e2fs_fbcount = sum(gd.ext2bgd_nbfree for gd in gds)
    sb.e2fs_ficount = sum(gd.ext2bgd_nifree for gd in gds)

    # The writes: inode tables (zeros, then the inodes), bitmaps, descriptors, super blocks.
    gdraw = bytes(gds) + bytes(ngdb * bsize - 32 * ncg)
    itable_bytes = iblocks * bsize
    zero_chunk = bytes(min(itable_bytes, 1 << 20))
    for c in range(ncg):
        gd = gds[c]
        base = gd.ext2bgd_i_tables * bsize
        off = 0
        while off < itable_bytes:
            n = min(len(zero_chunk), itable_bytes - off)
            writes.append((base + off, zero_chunk[:n]))
            off += n
        writes.append((gd.ext2bgd_b_bitmap * bsize, bytes(bbitmaps[c])))
        writes.append((gd.ext2bgd_i_bitmap * bsize, bytes(ibitmaps[c])))
    for ino, di in sorted(inodes.items()):
        idx = ino - 1
        c = idx // ipg
        off = gds[c].ext2bgd_i_tables * bsize + (idx % ipg) * inodesize
        raw = bytes(di)[:inodesize] + bytes(max(0, inodesize - len(bytes(di))))
        writes.append((off, raw))
    for c in range(ncg):
        if not has_sb(c):
            continue
        base = first_dblock + c * bpg
        copy = ext2fs.from_buffer_copy(bytes(sb))
        if rev == E2FS_REV1:
            copy.e2fs_block_group_nr = c
        sboff = SBOFF if c == 0 else base * bsize
        writes.append((sboff, bytes(copy)))
        writes.append(((base + 1) * bsize, gdraw))
    return plan(bsize, bcount, ncg, bpg, ipg, icount, ngdb, reserved, sb_backups, writes, sb)


def ext2fs_dinode_extra() -> int:
    """The extra inode space used by new 256-byte inodes (as e2fsprogs: 32 bytes)."""
    return 32


def _report(p: newfs_params, pl: plan, special: str) -> None:
    out = p.out
    if p.verbosity <= 0:
        return
    mb = pl.bcount * pl.bsize / (1 << 20)
    sectors = pl.bcount * pl.bsize // p.sectorsize
    out(f"{special}: {mb:.1f}MB ({sectors} sectors) block size {pl.bsize}, "
        f"fragment size {pl.bsize}\n")
    out(f"\tusing {pl.ncg} block groups of {pl.bpg * pl.bsize / (1 << 20):.1f}MB, "
        f"{pl.bpg} blks, {pl.ipg} inodes.\n")
    if p.verbosity >= 3 and pl.sb_backups:
        backups = pl.sb_backups if p.verbosity >= 4 else pl.sb_backups[:8]
        ss = [str(b * pl.bsize // p.sectorsize) for b in backups]
        out("super-block backups (for fsck_ext2fs -b #) at:\n " + ", ".join(ss) +
            (" ..." if len(backups) < len(pl.sb_backups) else "") + "\n")


def _defaults(p: newfs_params) -> None:
    """NetBSD's defaults for block size and inode count, from the size."""
    small = (4 * 1024 * 1024) // p.sectorsize
    medium = (512 * 1024 * 1024) // p.sectorsize
    if p.bsize == 0:
        p.bsize = p.fsize or (1024 if p.fssize < medium else 4096)
    if p.fsize == 0:
        p.fsize = p.bsize
    blocks = p.fssize * p.sectorsize // p.bsize
    if p.num_inodes == 0:
        if p.density:
            p.num_inodes = p.fssize * p.sectorsize // p.density
        elif p.fssize < small:
            p.num_inodes = blocks // 8
        elif p.fssize < medium:
            p.num_inodes = blocks // 4
        else:
            p.num_inodes = blocks // 2


def newfs_ext2fs(target: Target, p: newfs_params, special: str = "image") -> plan:
    """Make the file system on ``target`` (anything with ``pwrite(data, offset)``)."""
    _defaults(p)
    pl = mke2fs_plan(p)
    _report(p, pl, special)
    if not p.Nflag:
        for off, data in pl.writes:
            n = target.pwrite(data, off)
            if n != len(data):
                raise NewfsError(f"short write at {off}")
    return pl


async def anewfs_ext2fs(pwrite: Callable[[bytes, int], Awaitable[int]], p: newfs_params,
                        special: str = "image") -> plan:
    """As newfs_ext2fs, with an async ``pwrite(data, offset)`` (system calls in a machine)."""
    _defaults(p)
    pl = mke2fs_plan(p)
    _report(p, pl, special)
    if not p.Nflag:
        for off, data in pl.writes:
            n = await pwrite(data, off)
            if n != len(data):
                raise NewfsError(f"short write at {off}")
    return pl


# ------------------------------------------------------------------ the command

USAGE = """usage: newfs_ext2fs [ fsoptions ] special-device
where fsoptions are:
\t-b bsize\tblock size
\t-D inodesize\tsize of an inode in bytes (128 or 256)
\t-F \t\tcreate file system image in regular file
\t-f fsize\tfragment size
\t-I \t\tdo not check that the file system type is `Linux Ext2'
\t-i density\tnumber of bytes per inode
\t-m minfree\tminimum free space %
\t-N \t\tdo not create file system, just print out parameters
\t-n inodes\tnumber of inodes (overrides -i density)
\t-O N\t\tfilesystem revision: 0 ==> REV0, 1 ==> REV1 (default 0)
\t-S secsize\tsector size
\t-s fssize\tfile system size (sectors)
\t-V verbose\toutput verbosity: 0 ==> none, 4 ==> max
\t-v volname\text2fs volume name
\t-Z \t\tpre-zero the image file
"""


def strsuftoi64(desc: str, arg: str, lo: int, hi: int) -> tuple[int, bool]:
    """newfs.c's strsuftoi64: strtoll(3) in base 10 and at most one suffix
    character, b/k/m/g (a byte count: shifted) or s (sectors).
    -> (value, had a byte suffix)."""
    c = strtoll(arg, 10)
    ep = c.rest(arg)
    if ep[1:]:
        raise NewfsError(f"{desc} `{arg}' is not a valid number.")
    shift = {"": 0, "s": 0, "b": 0, "k": 10, "m": 20, "g": 30}.get(ep.lower(), -1)
    if shift < 0:
        raise NewfsError(f"{desc} `{arg}' is not a valid number.")
    byte_sized = ep.lower() in ("b", "k", "m", "g")
    v = to_int64(c.value << shift)
    if c.errno == ERANGE or v >> shift != c.value:
        raise NewfsError(f"{desc} `{arg}' is too large to convert.")
    if v < lo:
        raise NewfsError(f"{desc} `{arg}' ({v}) is less than the minimum ({lo}).")
    if v > hi:
        raise NewfsError(f"{desc} `{arg}' ({v}) is greater than the maximum ({hi}).")
    return v, byte_sized


def parse_args(argv: list[str]) -> tuple[newfs_params, dict[str, Any], str]:
    """NetBSD's getopt string "D:FINO:S:V:Zb:f:i:l:m:n:s:v:"."""
    import getopt

    try:
        opts, args = getopt.getopt(argv, "D:FINO:S:V:Zb:f:i:l:m:n:s:v:")
    except getopt.GetoptError as e:
        raise NewfsError(f"{e}\n{USAGE}") from None
    p = newfs_params()
    flags: dict[str, Any] = {"F": False, "I": False, "Z": False, "byte_sized": False}
    verbosity = -1
    size_arg = None
    for o, a in opts:
        if o == "-D":
            p.inodesize, _ = strsuftoi64("inode size", a, 128, 256)
            if p.inodesize not in (128, 256):
                raise NewfsError(f"Bad inode size {p.inodesize} (only 128 and 256 "
                                 "supported)")
        elif o == "-F":
            flags["F"] = True
        elif o == "-I":
            flags["I"] = True
        elif o == "-N":
            p.Nflag = True
        elif o == "-O":
            p.Oflag, _ = strsuftoi64("format", a, 0, 1)
        elif o == "-S":
            p.sectorsize, _ = strsuftoi64("sector size", a, 512, 65536)
            if not _powerof2(p.sectorsize):
                raise NewfsError(f"sector size `{a}' is not a power of 2.")
        elif o == "-V":
            verbosity, _ = strsuftoi64("verbose", a, 0, 4)
        elif o == "-Z":
            flags["Z"] = True
        elif o == "-b":
            p.bsize, _ = strsuftoi64("block size", a, MINBSIZE, EXT2_MAXBSIZE)
        elif o == "-f":
            p.fsize, _ = strsuftoi64("fragment size", a, MINBSIZE, EXT2_MAXBSIZE)
        elif o == "-i":
            p.density, _ = strsuftoi64("bytes per inode", a, 1, 0x7fffffff)
        elif o == "-m":
            p.minfree, _ = strsuftoi64("free space %", a, 0, 99)
        elif o == "-n":
            p.num_inodes, _ = strsuftoi64("number of inodes", a, 1, 0x7fffffff)
        elif o == "-s":
            size_arg = a
        elif o == "-v":
            if a == "":
                raise NewfsError("Volume name cannot be zero length")
            p.volname = a
        elif o == "-l":
            pass
    p.verbosity = DEFAULT_VERBOSITY if verbosity == -1 else verbosity
    if len(args) != 1:
        raise NewfsError(USAGE)
    if size_arg is not None:
        v, byte_sized = strsuftoi64("file system size", size_arg, -(1 << 62), 1 << 62)
        flags["size"] = v
        flags["byte_sized"] = byte_sized
    return p, flags, args[0]


def _fix_size(p: newfs_params, flags: dict[str, Any], current_bytes: int) -> None:
    size = flags.get("size", 0)
    if flags["byte_sized"]:
        size //= p.sectorsize
    if size <= 0:
        size += current_bytes // p.sectorsize
        if size <= 0:
            raise NewfsError("Unable to determine file system size")
    p.fssize = size


def main(argv: list[str] | None = None) -> int:
    """The command on the host: ``python -m tools.newfs_ext2fs [options] special``."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        p, flags, special = parse_args(argv)
        create = flags["F"] and flags.get("size", 0) > 0 and not p.Nflag
        tgt = HostTarget(special, create=create) if not p.Nflag or os.path.exists(special) \
            else None
        _fix_size(p, flags, tgt.size() if tgt is not None else 0)
        if tgt is not None and flags["F"] and not p.Nflag:
            os.ftruncate(tgt.fd, p.fssize * p.sectorsize)
            if flags["Z"]:
                chunk = bytes(1 << 20)
                total = p.fssize * p.sectorsize
                for off in range(0, total, len(chunk)):
                    tgt.pwrite(chunk[:min(len(chunk), total - off)], off)
        if tgt is None:
            newfs_ext2fs(_NullTarget(), p, special)
        else:
            newfs_ext2fs(tgt, p, special)
            tgt.close()
    except NewfsError as e:
        sys.stderr.write(f"newfs_ext2fs: {e}\n")
        return 1
    except OSError as e:
        sys.stderr.write(f"newfs_ext2fs: {e}\n")
        return 1
    return 0


class _NullTarget:
    def pwrite(self, data: bytes, offset: int) -> int:
        return len(data)


if __name__ == "__main__":
    sys.exit(main())
