"""What failed writes do to ext2: a copyin fault in write(2), and one lost disk write in sync.

A write(2) whose copyin faults part way fails as a whole, as NetBSD 8's
ext2fs_write does: ext2fs_gop_alloc moves the inode's size over each block
it allocates, and the error path (ext2fs_post_write_update) truncates the
file back to its old size, which frees those blocks.  Before, kemu kept a
block allocated past EOF, freed by nobody when the file went away
(e2fsck: ``Block bitmap differences: -N``).

One transient ``disk.write`` fault during sync(2): the buffer cache does
what NetBSD 8's vfs_bio.c does with a buffer whose write failed (brelsel:
``b_error`` makes it BC_INVAL, its BO_DELWRI is dropped and it leaves the
cache), so the write is not retried and the next bread of the block reads
the disk's older contents, never a stale error.  What that does to ext2
depends on the block, and NetBSD 8 ends the same way for each:

* a file's data page: genfs keeps a page whose write failed dirty, so it is
  written again at the next sync or unmount -- the image is clean;
* the block bitmap: ext2fs_alloccg (NetBSD's and kemu's) reads the bitmap
  with bread at every allocation, so the blocks allocated before the sync
  look free again and are handed out a second time (e2fsck: multiply-claimed
  blocks, bitmap differences).  FFS without WAPBL is no different:
  ffs_alloccg breads the cylinder group block the same way, and sync's
  vflushbuf starts every delayed write with bawrite, whose error reaches
  nobody;
* the inode bitmap: the next create allocates an inode still in use;
  NetBSD 8's ext2fs_newvnode reads it and panics "ext2fs_valloc: dup alloc"
  (its vcache_new would KASSERT next), kemu too;
* an inode table or directory block: the inodes or entries written since
  the last good write are lost on disk (and, for a directory, to later
  lookups): e2fsck finds unattached inodes or entries to unused inodes.

In every case the later calls see no stale EIO and unmount succeeds once
the fault is gone (kemu used to fail it with EIO), but the file system is
damaged as a real disk's lost write damages it: e2fsck is not clean.  The
campaign (tests/dev/fss/test_campaign.py) counts these outcomes as
legitimate for a disk.write fault on the origin.
"""

from __future__ import annotations

import pytest

import kern
from kern.errno import EFAULT, EIO
from kern.exceptions import KernelPanic
from kern.fcntl import O_CREAT, O_RDWR
from kern.machine.testing import errno_of
from tools.lib import libc

from .helpers import MB, boot, e2fsck, mkfs, mount, needs_e2fsprogs, pattern, umount

pytestmark = needs_e2fsprogs


async def _free_blocks() -> int:
    st = await libc.statvfs("/mnt")
    return st.f_bfree


@pytest.mark.parametrize("nth,old", [(1, 0), (1, 100), (2, 0), (3, 5000)])
def test_copyin_fault_in_write_leaves_no_block_behind(tmp_path, nth, old):
    """write(2) of 3000 bytes (three 1 KiB blocks) at the end of a file of ``old``
    bytes, with the ``nth`` copyin failing: EFAULT, the file keeps its size and
    contents, no block stays allocated, and after the file is removed e2fsck
    finds the image clean."""
    img = mkfs(str(tmp_path / "w.img"), 4 * MB, 1024)

    async def body():
        assert await mount(img) == 0
        fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
        if old:
            await libc.write(fd, pattern(old))
            await libc.fsync(fd)
        free = await _free_blocks()
        m = kern.curmachine()
        with m.faults.inject("copyin", error=EFAULT, fail_nth=nth) as f:
            err = await errno_of(libc.write(fd, pattern(3000, 9)))
        st = await libc.fstat(fd)
        offset = await libc.lseek(fd, 0, 1)
        data = await libc.pread(fd, 8192, 0)
        after = await _free_blocks()
        await libc.close(fd)
        await libc.unlink("/mnt/f")
        gone = await _free_blocks()
        assert await umount() == 0
        return err, f.nfaults, st.st_size, offset, data, free, after, gone

    with boot() as k:
        err, nfaults, size, offset, data, free, after, gone = k.run(body)
    assert nfaults == 1 and err == EFAULT
    assert size == old and offset == old  # the write did nothing
    assert data == pattern(old)
    assert after == free  # every block it allocated was given back
    assert gone >= free
    rc, out = e2fsck(img)
    assert rc == 0, out


# ------------------------------------------------------------------ one lost write in sync

async def _geometry() -> tuple[object, dict[int, str]]:
    """The device vnode of /mnt and the kind of each metadata block (DEV_BSIZE units)."""
    from fs.ext2fs.ext2fs import fsbtodb
    from fs.ext2fs.ext2fs_vfsops import SBLOCK
    from fs.ext2fs.ufs_inode import VFSTOUFS, VTOI
    from vfs.vnode import vrele

    from .helpers import mount_of, vnode_of

    mp = await mount_of("/mnt")
    ump = VFSTOUFS(mp)
    fs = ump.um_e2fs
    kinds: dict[int, str] = {SBLOCK: "super block"}
    for i in range(fs.e2fs_ngdb):
        kinds[fsbtodb(fs, fs.e2fs.e2fs_first_dblock + 1 + i)] = "group descriptors"
    for gd in fs.e2fs_gd:
        kinds[fsbtodb(fs, gd.ext2bgd_b_bitmap)] = "block bitmap"
        kinds[fsbtodb(fs, gd.ext2bgd_i_bitmap)] = "inode bitmap"
        for i in range(fs.e2fs_itpg):
            kinds[fsbtodb(fs, gd.ext2bgd_i_tables + i)] = "inode table"
    for path in ("/mnt", "/mnt/d"):
        error, vp = await vnode_of(path)
        assert error == 0
        kinds[fsbtodb(fs, VTOI(vp).i_e2fs_blocks[0])] = "directory"
        await vrele(vp)
    return ump.um_devvp, kinds


def _cached(devvp) -> set[int]:
    from vfs.vfs_bio import bufcache

    return {bp.b_blkno for bp in bufcache().hash.values() if bp.b_vp is devvp}


FILES = 4
FSIZE = 5000


async def _lost_write_in_sync(nth: int | None) -> dict:
    """Files and a directory, then sync(2) with the ``nth`` write to the disk failing
    (None: count the writes), then more allocations, reads and unmount."""
    res: dict = {}
    for i in range(FILES):
        fd = await libc.open(f"/mnt/a{i}", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, bytes([65 + i]) * FSIZE)
        await libc.close(fd)
    await libc.mkdir("/mnt/d", 0o755)
    devvp, kinds = await _geometry()
    dev = devvp.v_rdev
    m = kern.curmachine()
    before = _cached(devvp)
    calls = m.faults.calls.get("disk.write", 0)
    if nth is None:
        await libc.sync()
        res["writes"] = m.faults.calls.get("disk.write", 0) - calls
        return res
    with m.faults.inject("disk.write", dev=dev, fail_nth=nth) as f:
        res["sync"] = await errno_of(libc.sync())
    res["nfaults"] = f.nfaults
    lost = sorted(before - _cached(devvp))
    res["lost"] = [kinds.get(b, f"block {b}") for b in lost]
    # Nothing after the fault may see a stale error.
    errors = []
    for i in range(FILES):
        fd = await libc.open(f"/mnt/b{i}", O_RDWR | O_CREAT, 0o644)
        errors.append(await errno_of(libc.write(fd, bytes([97 + i]) * FSIZE)))
        await libc.close(fd)
    intact = []
    for i in range(FILES):
        try:
            fd = await libc.open(f"/mnt/a{i}", O_RDWR)
            intact.append(await libc.pread(fd, FSIZE + 1, 0) == bytes([65 + i]) * FSIZE)
            await libc.close(fd)
        except kern.SyscallError as e:
            errors.append(e.errno)
            intact.append(False)
    res["errors"] = errors
    res["intact"] = intact
    res["umount"] = await errno_of(libc.unmount("/mnt", 0))
    return res


def _run(img: str, nth: int | None) -> dict:
    async def body():
        assert await mount(img) == 0
        return await _lost_write_in_sync(nth)

    try:
        with boot(seed=3) as k:
            return k.run(body)
    except KernelPanic as e:
        return {"panic": str(e)}


def test_one_lost_write_during_sync_damages_ext2_as_on_netbsd(tmp_path):
    """Every write of one sync(2) in turn fails once (a fresh machine each time,
    same seed, so the same writes in the same order): what each loss does."""
    base = mkfs(str(tmp_path / "base.img"), 4 * MB, 1024)
    with open(base, "rb") as f:
        pristine = f.read()
    writes = _run(base, None)["writes"]
    assert writes >= 6  # data pages, inodes, bitmaps, directories

    seen = set()
    for nth in range(1, writes + 1):
        img = str(tmp_path / f"s{nth}.img")
        with open(img, "wb") as f:
            f.write(pristine)
        res = _run(img, nth)
        rc, out = e2fsck(img)
        if "panic" in res:
            # Only the lost inode bitmap makes the next create take an inode in use.
            assert "ext2fs_valloc: dup alloc" in res["panic"], res
            seen.add("inode bitmap")
            continue
        assert res["nfaults"] == 1, res
        assert res["sync"] == 0  # sync(2) reports nothing, as NetBSD's
        assert EIO not in res["errors"], res  # no stale error, ever
        assert res["umount"] == 0, res  # unmount works once the fault is gone
        lost = res["lost"]
        assert len(lost) <= 1, res
        if not lost:
            # A data page: still dirty after its failed write, written again.
            assert all(res["intact"]) and not any(res["errors"]), res
            assert rc == 0, out
            seen.add("data")
            continue
        kind = lost[0]
        seen.add(kind)
        if kind == "block bitmap":
            # blocks allocated before the sync are handed out again
            assert rc != 0 and ("Multiply-claimed block" in out or
                                "Block bitmap differences" in out), out
        elif kind == "directory":
            # the entries made since its last good write are gone from the disk
            # (e2fsck -n exits 4, or 12 when it cannot go on without salvaging)
            assert rc & 4, out
        elif kind == "inode table":
            # clean only if every inode of the block was written whole again later
            assert rc in (0, 4), out
        else:
            # the super block and group descriptors are rewritten from memory
            assert kind in ("super block", "group descriptors"), res
            assert rc == 0 and all(res["intact"]), out
    # the sweep met the interesting kinds of lost block
    assert {"data", "block bitmap", "inode bitmap"} <= seen, seen


# ------------------------------------------------------------------ a new indirect block's write

# 1 KiB blocks: 12 direct, then 256 under the single indirect block, then the
# double indirect block's second-level blocks of 256 each.
SINGLE, DOUBLE, DOUBLE2 = 12, 12 + 256, 12 + 256 + 256


@pytest.mark.parametrize("blocks,nth,case", [
    (SINGLE, 1, "the single indirect block (linked from the inode)"),
    (DOUBLE, 1, "the double indirect block (linked from the inode)"),
    (DOUBLE, 2, "a second-level block under the double indirect block just made"),
    (DOUBLE2, 1, "a second-level block under the existing double indirect block"),
])
def test_failed_write_of_a_new_indirect_block_fails_the_write(tmp_path, blocks, nth, case):
    """ext2fs_balloc writes a new indirect block synchronously before linking
    it, as NetBSD's: when that write fails (the ``nth`` disk write of the
    pwrite(2) that needs it; ``case`` names the block), the allocation fails through
    ext2fs_balloc's fail path: every block it took is given back, the one
    pointer it set is cleared, the write returns EIO and the file is as it
    was.  The same write then succeeds (no stale error) and e2fsck finds the
    image clean."""
    img = mkfs(str(tmp_path / "i.img"), 4 * MB, 1024)
    old = pattern(blocks * 1024)
    new = pattern(1024, 7)

    async def body():
        assert await mount(img) == 0
        fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, old)
        await libc.fsync(fd)
        free = await _free_blocks()
        dev = (await libc.stat("/dev/wd0")).st_rdev
        m = kern.curmachine()
        with m.faults.inject("disk.write", dev=dev, lwp="writer", fail_nth=nth) as f:
            err = await errno_of(libc.pwrite(fd, new, len(old)))
        size = (await libc.fstat(fd)).st_size
        after = await _free_blocks()
        again = await errno_of(libc.pwrite(fd, new, len(old)))
        await libc.fsync(fd)
        data = await libc.pread(fd, len(old) + 2048, 0)
        await libc.close(fd)
        assert await umount() == 0
        return f.nfaults, err, size, free, after, again, data

    with boot() as k:
        nfaults, err, size, free, after, again, data = k.run(body, name="writer")
    assert nfaults == 1 and err == EIO, (nfaults, err)
    assert size == len(old)  # the file is as it was
    assert after == free  # every block the failed allocation took is free again
    assert again == 0 and data == old + new
    rc, out = e2fsck(img)
    assert rc == 0, out


# ------------------------------------------------------------------ copy-on-write failures

def test_failed_copy_on_write_fails_the_write_and_keeps_ext2_whole(tmp_path):
    """With an fss snapshot active, the copy-on-write of a block about to be
    written may fail (here: the origin cannot be read).  ext2fs meets it where
    NetBSD's does, before anything points at the new data: a new indirect block
    is written synchronously before it is linked (ext2fs_balloc), and the
    bitmaps and inode blocks are read with B_MODIFY, which runs the handlers
    before they change.  So the write fails with EIO and the file system stays
    consistent; before, the new indirect block was a delayed write whose
    failure was forgotten, and the inode pointed at garbage."""
    from kern.machine.testing import fss_set_ioctl

    img = mkfs(str(tmp_path / "c.img"), 4 * MB, 1024)
    old = pattern(12 * 1024)  # exactly the twelve direct blocks

    async def body():
        assert await mount(img) == 0
        fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, old)
        await libc.close(fd)
        await libc.sync()
        sfd = await libc.open("/dev/rfss0", O_RDWR)
        await fss_set_ioctl(sfd, "/mnt", "/tmp/s", csize=4096)
        # Copy the clusters of the bitmaps, the inode table and the directory
        # now, so that only the new indirect block's copy is left to fail.
        fd = await libc.open("/mnt/g", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, b"g" * 8192)
        await libc.fsync(fd)
        await libc.close(fd)
        dev = (await libc.stat("/dev/wd0")).st_rdev
        m = kern.curmachine()
        fd = await libc.open("/mnt/f", O_RDWR)
        with m.faults.inject("disk.read", dev=dev, lwp="writer") as f:
            werr = await errno_of(libc.pwrite(fd, b"n" * 1024, 12 * 1024))
            serr = await errno_of(libc.fsync(fd))
        st = await libc.fstat(fd)
        await libc.close(fd)
        from dev.fss.fssvar import FSSIOCCLR

        await libc.ioctl(sfd, FSSIOCCLR, None)
        await libc.close(sfd)
        fd = await libc.open("/mnt/f", O_RDWR)
        data = await libc.pread(fd, 16 * 1024, 0)
        await libc.close(fd)
        assert await umount() == 0
        return f.nfaults, werr, serr, st.st_size, data

    with boot() as k:
        nfaults, werr, serr, size, data = k.run(body, name="writer")
    assert nfaults >= 1
    assert werr == EIO  # the indirect block's copy-on-write failed: no write
    assert serr in (0, EIO)
    assert size == len(old) and data == old
    rc, out = e2fsck(img)
    assert rc == 0, out


# ------------------------------------------------------------------ an O_SYNC write's failed flush

def test_failed_flush_of_an_o_sync_write_fails_the_write_as_a_whole(tmp_path):
    """An O_SYNC write(2) flushes its pages before ext2fs_write's post-write
    update, as ext2fs_readwrite.c orders them: when that flush fails, the
    write fails like any other error, so the file is truncated back to its
    old size (the new block is free again) and the write returns EIO.  The
    same write then succeeds and e2fsck finds the image clean."""
    from kern.fcntl import O_SYNC

    img = mkfs(str(tmp_path / "s.img"), 4 * MB, 1024)
    old = pattern(4 * 1024)
    new = pattern(1024, 5)

    async def body():
        assert await mount(img) == 0
        fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, old)
        await libc.fsync(fd)
        await libc.close(fd)
        free = await _free_blocks()
        fd = await libc.open("/mnt/f", O_RDWR | O_SYNC)
        dev = (await libc.stat("/dev/wd0")).st_rdev
        m = kern.curmachine()
        with m.faults.inject("disk.write", dev=dev, lwp="writer", fail_nth=1) as f:
            err = await errno_of(libc.pwrite(fd, new, len(old)))
        size = (await libc.fstat(fd)).st_size
        after = await _free_blocks()
        again = await errno_of(libc.pwrite(fd, new, len(old)))
        data = await libc.pread(fd, len(old) + 2048, 0)
        await libc.close(fd)
        assert await umount() == 0
        return f.nfaults, err, size, free, after, again, data

    with boot() as k:
        nfaults, err, size, free, after, again, data = k.run(body, name="writer")
    assert nfaults == 1 and err == EIO, (nfaults, err)
    assert size == len(old)  # truncated back: the failed write left nothing
    assert after == free  # the block it allocated is free again
    assert again == 0 and data == old + new
    rc, out = e2fsck(img)
    assert rc == 0, out
