"""ext2fs_getlbns (NetBSD's ufs_getlbns, sys/ufs/ufs/ufs_bmap.c) and the paths
ext2fs_balloc walks with it.

getlbns hands out shared step objects, so a path through the double or triple
indirect block may hold the same step twice (the same index at two levels):
ext2fs_balloc must tell the last step by its place, not by identity.
"""

from __future__ import annotations

import random

from fs.ext2fs.ext2fs_bmap import ext2fs_getlbns
from fs.ext2fs.ext2fs_dinode import NDADDR, NIADDR
from kern.errno import EFBIG

from .helpers import (
    MB,
    check,
    debugfs,
    mkfs,
    mount,
    needs_e2fsprogs,
    read_file,
    run_clean,
    umount,
    unlink,
    write_file,
)


class _Fs:
    def __init__(self, bsize: int) -> None:
        self.e2fs_bsize = bsize


def _ufs_offsets(nindir: int, bn: int) -> tuple[int, list[int]]:
    """ufs_getlbns's in_off values for a data block ``bn`` >= NDADDR: the
    level of indirection, then the index at each level (the top index
    first), worked out from the block's number within its level."""
    rel = bn - NDADDR
    level, span = 0, nindir
    while rel >= span:
        rel -= span
        level += 1
        if level == NIADDR:
            return EFBIG, []
        span *= nindir
    offs = [level]
    for _ in range(level + 1):
        span //= nindir
        offs.append(rel // span % nindir)
    return 0, offs


def test_getlbns_gives_ufs_getlbns_offsets_at_every_boundary():
    for bsize in (1024, 4096):
        n = bsize // 4
        ends = [NDADDR, NDADDR + n, NDADDR + n + n * n, NDADDR + n + n * n + n ** 3]
        bns = set(range(NDADDR))
        for e in ends:
            bns.update(range(max(0, e - n - 3), e + n + 3))
        rnd = random.Random(bsize)
        bns.update(rnd.randrange(NDADDR, ends[-1] + 10) for _ in range(20000))
        for bn in sorted(bns):
            error, path = ext2fs_getlbns(_Fs(bsize), bn)
            if bn < NDADDR:
                assert (error, path) == (0, []), bn
                continue
            want_error, offs = _ufs_offsets(n, bn)
            assert error == want_error, bn
            if error:
                assert path == [] and bn >= ends[-1], bn
                continue
            # the first step is the slot in e2di_blocks (NetBSD's bmaparray
            # adds NDADDR to ufs_getlbns's level there)
            assert [path[0].in_off - NDADDR] + [s.in_off for s in path[1:]] == offs, bn
            assert path[0].in_lbn == -(NDADDR + offs[0]), bn
    assert ext2fs_getlbns(_Fs(1024), -1) == (EFBIG, [])  # (no metadata lbns in kemu)


def test_a_path_holding_one_step_twice():
    n = 256  # 1 KiB blocks
    bn2 = NDADDR + n + 5 * n + 5  # double indirect, index 5 at both levels
    _, path = ext2fs_getlbns(_Fs(1024), bn2)
    assert [s.in_off for s in path[1:]] == [5, 5]
    bn3 = NDADDR + n + n * n + 7 * n * n + 7 * n + 7
    _, path = ext2fs_getlbns(_Fs(1024), bn3)
    assert [s.in_off for s in path[1:]] == [7, 7, 7]


@needs_e2fsprogs
def test_balloc_through_repeated_indexes_is_e2fsck_clean(tmp_path):
    """Blocks whose paths repeat an index at two or three levels are written,
    read back, found where debugfs maps them, and the image is clean.  The
    blocks they get were a removed file's, full of junk: every new indirect
    block on the way must be zeroed (a step taken for the last one is not)."""
    img = mkfs(str(tmp_path / "t.img"), 8 * MB, 1024)
    n = 256
    blocks = {
        "/mnt/d": NDADDR + n + 5 * n + 5,
        "/mnt/t": NDADDR + n + n * n + 7 * n * n + 7 * n + 7,
    }

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/junk", b"\xa5" * (2 * MB)))
        check(await umount())
        check(await mount(None))
        check(await unlink("/mnt/junk"))
        for name, bn in blocks.items():
            check(await write_file(name, name.encode() * 100, offset=bn * 1024))
        check(await umount())
        check(await mount(None))
        for name, bn in blocks.items():
            error, data = await read_file(name, 600, bn * 1024)
            check(error)
            assert data == name.encode() * 100
            error, data = await read_file(name, 1024, (bn - 1) * 1024)
            check(error)
            assert data == bytes(1024)  # (a hole before it)
        check(await umount())

    run_clean(img, body)
    for name, bn in blocks.items():
        out = debugfs(img, f"bmap {name[4:]} {bn}")
        assert int(out.split()[-1]) > 0, out
        out = debugfs(img, f"bmap {name[4:]} {bn - 1}")
        assert int(out.split()[-1]) == 0, out
