"""The buffer cache after a failed I/O (vfs_bio.c's brelsel, bwrite, bread, biodone).

A buffer whose write failed is invalidated and leaves the cache with the
write it owed; the error goes to the caller of a synchronous bwrite (and to
nobody for bawrite).  The next bread reads the disk: it never returns a
stale error, and no buffer is left owing a write.  A failed read is not
cached either.  The blocks used are past the end of the ext2 file system's
data (the image is larger than the file system), so nothing else writes them.
"""

from __future__ import annotations

import pytest

import kern
from kern.errno import EIO
from kern.kern_mutex import kmutex_t
from tests.fs.ext2fs.helpers import (
    MB,
    boot,
    check,
    host_call_in_bread_nowait,
    mkfs,
    mount,
    needs_e2fsprogs,
    umount,
    vnode_of,
    write_file,
)
from vfs.buf import B_ASYNC, B_READ, B_WRITE, BC_BUSY, BC_INVAL, BO_DELWRI, BO_DONE
from vfs.vfs_bio import (
    V_SAVE,
    _buf_trim,
    bawrite,
    bbusy,
    bdwrite,
    biodone,
    biowait,
    bread,
    brelse,
    bufcache,
    bwrite,
    getblk,
    geteblk,
    getiobuf,
    incore,
    nestiobuf_done,
    nestiobuf_iodone,
    nestiobuf_setup,
    putiobuf,
    vflushbuf,
    vinvalbuf,
)
from vfs.vnode import FSYNC_WAIT
from vfs.vnode_if import VOP_STRATEGY

pytestmark = needs_e2fsprogs

BSIZE = 1024
FS_SIZE = 2 * MB
BLK = FS_SIZE // 512 + 8  # a DEV_BSIZE block number beyond the file system
OLD = b"o" * BSIZE


@pytest.fixture
def img(tmp_path):
    path = mkfs(str(tmp_path / "b.img"), FS_SIZE, BSIZE)
    with open(path, "r+b") as f:
        f.truncate(FS_SIZE + MB)  # room after the file system
        f.seek(BLK * 512)
        f.write(OLD)
    return path


def on_disk(path: str) -> bytes:
    with open(path, "rb") as f:
        f.seek(BLK * 512)
        return f.read(BSIZE)


async def devvp():
    from fs.ext2fs.ufs_inode import VFSTOUFS
    from tests.fs.ext2fs.helpers import mount_of

    return VFSTOUFS(await mount_of("/mnt")).um_devvp


def run(img, body):
    async def main():
        assert await mount(img) == 0
        vp = await devvp()
        out = await body(vp, kern.curmachine())
        assert await umount() == 0
        return out

    with boot() as k:
        return k.run(main)


def test_failed_bwrite_is_reported_once_and_forgotten(img):
    async def body(vp, m):
        error, bp = await bread(vp, BLK, BSIZE)
        assert error == 0 and bytes(bp.b_data) == OLD
        bp.b_data[:] = b"n" * BSIZE
        with m.faults.inject("disk.write", dev=vp.v_rdev, fail_nth=1) as f:
            werr = await bwrite(bp)
        cached = incore(vp, BLK)
        # the next bread reads the disk: no stale error, the old contents
        rerr, bp = await bread(vp, BLK, BSIZE)
        data = bytes(bp.b_data)
        brelse(bp, 0)
        return f.nfaults, werr, cached, rerr, data

    nfaults, werr, cached, rerr, data = run(img, body)
    assert nfaults == 1 and werr == EIO
    assert cached is None  # invalidated: it left the cache with its write
    assert rerr == 0 and data == OLD
    assert on_disk(img) == OLD


def test_delayed_write_failing_in_flush_leaves_nothing_owed(img):
    """The issue's case: a bdwrite'd block whose write fails during sync."""
    async def body(vp, m):
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_data[:] = b"d" * BSIZE
        bdwrite(bp)
        # a delayed write is valid data: bread returns it without reading
        with m.faults.inject("disk.read", dev=vp.v_rdev) as r:
            error, bp = await bread(vp, BLK, BSIZE)
        delayed = bytes(bp.b_data), bool(bp.b_oflags & BO_DELWRI), r.nfaults
        brelse(bp, 0)
        with m.faults.inject("disk.write", dev=vp.v_rdev, fail_nth=1):
            ferr = await vflushbuf(vp, 0)
        owed = [b.b_blkno for b in bufcache().hash.values()
                if b.b_vp is vp and b.b_oflags & BO_DELWRI]
        again = await vflushbuf(vp, 0)  # nothing left to write, nothing to fail
        rerr, bp = await bread(vp, BLK, BSIZE)
        data = bytes(bp.b_data)
        brelse(bp, 0)
        return delayed, ferr, owed, again, rerr, data

    delayed, ferr, owed, again, rerr, data = run(img, body)
    assert delayed == (b"d" * BSIZE, True, 0)
    assert ferr == EIO
    assert BLK not in owed
    assert again == 0
    assert rerr == 0 and data == OLD
    assert on_disk(img) == OLD  # the unmount's sync did not write it either


def test_failed_bawrite_reaches_nobody_and_is_forgotten(img):
    async def body(vp, m):
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_data[:] = b"a" * BSIZE
        with m.faults.inject("disk.write", dev=vp.v_rdev, fail_nth=1) as f:
            await bawrite(bp)
            for _ in range(3):
                await kern.kpause("io", False, 1, None)
        cached = incore(vp, BLK)
        rerr, bp = await bread(vp, BLK, BSIZE)
        data = bytes(bp.b_data)
        brelse(bp, 0)
        return f.nfaults, cached, rerr, data

    nfaults, cached, rerr, data = run(img, body)
    assert nfaults == 1 and cached is None
    assert rerr == 0 and data == OLD
    assert on_disk(img) == OLD  # and nothing wrote it later (the unmount's sync)


def test_failed_read_is_not_cached(img):
    async def body(vp, m):
        with m.faults.inject("disk.read", dev=vp.v_rdev, fail_nth=1):
            e1, bp1 = await bread(vp, BLK, BSIZE)
        cached = incore(vp, BLK)
        e2, bp2 = await bread(vp, BLK, BSIZE)
        data = bytes(bp2.b_data)
        brelse(bp2, 0)
        return e1, bp1, cached, e2, data

    e1, bp1, cached, e2, data = run(img, body)
    assert (e1, bp1, cached) == (EIO, None, None)
    assert e2 == 0 and data == OLD


def test_short_write_is_an_error(img):
    """kemu's deviation: a write that comes back short without an error is EIO
    (rumpblk's host file can do that; NetBSD's disk drivers set b_error)."""
    async def body(vp, m):
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_data[:] = b"s" * BSIZE
        with m.faults.inject("disk.short", dev=vp.v_rdev, fail_nth=1, extra={"done": 512}):
            werr = await bwrite(bp)
        return werr, incore(vp, BLK)

    werr, cached = run(img, body)
    assert werr == EIO and cached is None
    assert on_disk(img) == b"s" * 512 + OLD[512:]  # what the disk took


def on_disk_at(path: str, blkno: int, n: int = BSIZE) -> bytes:
    with open(path, "rb") as f:
        f.seek(blkno * 512)
        return f.read(n)


def test_nested_write_gives_back_v_numoutput(img):
    """nestiobuf_setup counts each piece of a write in v_numoutput; biodone2's
    vwakeup gives each back when the piece completes (vfs_bio.c 1.276).  A
    leaked count would hang the FSYNC_WAIT flush, which waits for it to drop."""
    async def body(vp, m):
        before = vp.v_numoutput
        data = bytearray(b"n" * BSIZE + b"m" * BSIZE)
        mbp = getiobuf(vp, True)
        mbp.b_flags = B_WRITE
        mbp.b_data = data
        mbp.b_bcount = mbp.b_bufsize = mbp.b_resid = len(data)
        mbp.b_blkno = BLK
        mbp.b_dev = vp.v_rdev
        vp.v_numoutput += 1  # the master's write, counted by its issuer as bwrite does
        for off in (0, BSIZE):
            bp = getiobuf(vp, True)
            nestiobuf_setup(mbp, bp, off, BSIZE)
            bp.b_blkno = BLK + off // 512
            await VOP_STRATEGY(vp, bp)
        error = await biowait(mbp)
        left = vp.v_numoutput
        putiobuf(mbp)
        ferr = await vflushbuf(vp, FSYNC_WAIT)  # waits for v_numoutput 0: a leak hangs here
        return before, error, left, ferr

    before, error, left, ferr = run(img, body)
    assert (before, error, left, ferr) == (0, 0, 0, 0)
    assert on_disk_at(img, BLK, 2 * BSIZE) == b"n" * BSIZE + b"m" * BSIZE


def test_vinvalbuf_writes_a_buffer_dirtied_during_its_flush(img):
    """vfs_subr.c's vinvalbuf(V_SAVE) flushes with FSYNC_WAIT, and vflushbuf goes
    round again until no buffer is dirty: a buffer dirtied while another one is
    being written is written too, not thrown away with the clean ones."""
    blk2 = BLK + 2 * (BSIZE // 512)

    async def body(vp, m):
        from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join
        from kern.kern_auth import NOCRED

        assert await vflushbuf(vp, 0) == 0  # nothing else dirty: A is the one write
        error, b = await bread(vp, blk2, BSIZE)  # clean and busy when the flush passes it
        error, a = await bread(vp, BLK, BSIZE)
        a.b_data[:] = b"A" * BSIZE
        bdwrite(a)  # dirty when the flush starts, after B in its walk

        async def dirtier(arg):
            await kpause("dirty", False, 2, None)  # A's write is under way (10 ticks)
            b.b_data[:] = b"B" * BSIZE
            bdwrite(b)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, dirtier, None, "dirtier")
        assert error == 0
        with m.faults.inject("disk.slow", dev=vp.v_rdev, extra={"ticks": 10}):
            verr = await vinvalbuf(vp, V_SAVE, NOCRED, None)
        await kthread_join(l)
        return verr, incore(vp, BLK), incore(vp, blk2), on_disk_at(img, BLK), on_disk_at(img, blk2)

    verr, ca, cb, da, db = run(img, body)
    assert verr == 0 and ca is None and cb is None  # all invalidated
    assert da == b"A" * BSIZE
    assert db == b"B" * BSIZE  # written before it was invalidated, not lost


def test_fsync_on_an_async_mount_writes_the_metadata(tmp_path):
    """vflushbuf writes the dirty buffers with bawrite, which MNT_ASYNC does not
    turn into a delayed write (only a synchronous bwrite is): fsync(2) on an
    ext2 mounted async puts the file's inode and directory entry on the disk."""
    from tests.fs.ext2fs.helpers import check, debugfs_cat, fsync, write_file
    from vfs.mount import MNT_ASYNC

    img = mkfs(str(tmp_path / "a.img"), FS_SIZE, BSIZE)

    async def body():
        check(await mount(img, flags=MNT_ASYNC))
        check(await write_file("/mnt/f", b"fsynced, async"))
        check(await fsync("/mnt/f"))

    with boot() as k:
        k.run(body)
        assert debugfs_cat(img, "/f") == b"fsynced, async"
        assert k.run(umount) == 0


def test_async_write_of_an_uncached_buffer_is_released(img):
    """biodone2 releases every B_ASYNC buffer that has no b_iodone, not only
    the cache's: a geteblk buffer written asynchronously is no longer busy
    once its write is done."""
    async def body(vp, m):
        from kern.subr_devsw import bdev_strategy

        bp = geteblk(BSIZE)
        bp.b_data[:] = b"e" * BSIZE
        bp.b_flags = B_WRITE | B_ASYNC
        bp.b_dev = vp.v_rdev
        bp.b_blkno = BLK
        bp.b_resid = BSIZE
        await bdev_strategy(bp)
        for _ in range(20):
            if not bp.b_cflags & BC_BUSY:
                break
            await kern.kpause("io", False, 1, None)
        return bp.b_error, bp.b_cflags & BC_BUSY, bp.b_flags & B_ASYNC

    error, busy, async_ = run(img, body)
    assert (error, busy, async_) == (0, 0, 0)  # brelse cleared BC_BUSY and B_ASYNC
    assert on_disk(img) == b"e" * BSIZE


def test_flushed_buffer_keeps_its_lru_place(img):
    """vfs_subr.c's vflushbuf marks the buffer it writes BC_VFLUSH and leaves it
    on its free queue; brelsel leaves such a buffer where it was (vfs_bio.c
    1.276): flushing an old dirty buffer does not make it the most recently
    used, so the cache's trimming still drops it before a newer one."""
    other = BLK + 2 * (BSIZE // 512)

    async def body(vp, m):
        bc = bufcache()
        error, old = await bread(vp, BLK, BSIZE)
        old.b_data[:] = b"f" * BSIZE
        bdwrite(old)  # the older buffer, dirty
        error, new = await bread(vp, other, BSIZE)
        brelse(new, 0)  # the newer one, clean
        ferr = await vflushbuf(vp, 0)
        lru = list(bc.lru)
        order = lru.index(old) < lru.index(new)
        # Trim the cache down to one buffer: the most recently used stays.
        hiwater = bc.bufmem_hiwater
        bc.bufmem_hiwater = BSIZE
        try:
            await _buf_trim()
        finally:
            bc.bufmem_hiwater = hiwater
        return ferr, order, incore(vp, BLK), incore(vp, other) is new

    ferr, order, old_cached, new_kept = run(img, body)
    assert ferr == 0 and order
    assert on_disk(img) == b"f" * BSIZE
    assert old_cached is None and new_kept


def test_fsync_wait_flush_writes_a_buffer_dirtied_while_it_waits(img):
    """vfs_subr.c's vflushbuf with FSYNC_WAIT looks at the vnode's dirty
    buffers again once v_numoutput has dropped to 0, and goes round once
    more if there are any: a buffer dirtied while it waited for another
    write is written too, and none is left dirty when it returns."""
    blk2 = BLK + 2 * (BSIZE // 512)

    async def body(vp, m):
        from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join

        error, a = await bread(vp, BLK, BSIZE)
        error, b = await bread(vp, blk2, BSIZE)  # clean and busy when the flush looks

        async def writer(arg):
            a.b_data[:] = b"A" * BSIZE
            await bwrite(a)  # in flight for 10 ticks: v_numoutput is 1

        async def dirtier(arg):
            await kpause("dirty", False, 3, None)  # the flush is waiting by now
            b.b_data[:] = b"B" * BSIZE
            bdwrite(b)

        with m.faults.inject("disk.slow", dev=vp.v_rdev, extra={"ticks": 10}):
            error, lw = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, writer, None, "writer")
            assert error == 0
            await kpause("start", False, 1, None)
            numoutput = vp.v_numoutput
            error, ld = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, dirtier, None, "dirtier")
            assert error == 0
            ferr = await vflushbuf(vp, FSYNC_WAIT)
            left = incore(vp, blk2)
            dirty = left is not None and bool(left.b_oflags & BO_DELWRI)
            await kthread_join(lw)
            await kthread_join(ld)
        return numoutput, ferr, dirty, on_disk_at(img, BLK), on_disk_at(img, blk2)

    numoutput, ferr, dirty, da, db = run(img, body)
    assert numoutput == 1 and ferr == 0
    assert not dirty and db == b"B" * BSIZE  # written by the flush's next round
    assert da == b"A" * BSIZE


def test_trimming_writes_a_delayed_buffer_on_an_async_mount(img):
    """getnewbuf writes a delayed-write buffer it finds with bawrite, which an
    MNT_ASYNC mount does not turn back into a delayed write (vfs_bio.c 1.276):
    the cache over its high-water mark gets rid of the dirty buffer, with its
    contents on the disk, where a write delayed again would put it back on
    the list and the trimming would go round it for ever."""
    from vfs.mount import MNT_ASYNC

    other = BLK + 2 * (BSIZE // 512)

    async def body(vp, m):
        from vfs.spec_vnops import spec_node_getmountedfs

        bc = bufcache()
        mp = spec_node_getmountedfs(vp)
        mp.mnt_flag |= MNT_ASYNC
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_data[:] = b"t" * BSIZE
        bdwrite(bp)  # the oldest buffer on the list, dirty
        hiwater = bc.bufmem_hiwater
        bc.bufmem_hiwater = BSIZE  # room for the next buffer only
        try:
            error, nbp = await bread(vp, other, BSIZE)  # getblk trims the cache
        finally:
            bc.bufmem_hiwater = hiwater
            mp.mnt_flag &= ~MNT_ASYNC
        brelse(nbp, 0)
        return error, incore(vp, BLK)

    error, cached = run(img, body)
    assert error == 0 and cached is None
    assert on_disk(img) == b"t" * BSIZE


def test_getblk_of_another_size_writes_a_delayed_buffer_on_an_async_mount(img):
    """getblk asked for a cached delayed-write block with another size writes
    the old buffer out first (kemu's deviation from allocbuf's resize); on an
    MNT_ASYNC mount that write must not be delayed again, or getblk would find
    the same dirty buffer for ever.  The old contents reach the disk and the
    new buffer has the new size."""
    from vfs.mount import MNT_ASYNC

    async def body(vp, m):
        from vfs.spec_vnops import spec_node_getmountedfs

        mp = spec_node_getmountedfs(vp)
        mp.mnt_flag |= MNT_ASYNC
        try:
            error, bp = await bread(vp, BLK, BSIZE)
            bp.b_data[:] = b"s" * BSIZE
            bdwrite(bp)
            nbp = await getblk(vp, BLK, 2 * BSIZE)
        finally:
            mp.mnt_flag &= ~MNT_ASYNC
        size = nbp.b_bcount
        brelse(nbp, BC_INVAL)
        return error, size

    error, size = run(img, body)
    assert error == 0 and size == 2 * BSIZE
    assert on_disk(img) == b"s" * BSIZE


def test_vinvalbuf_writes_a_clean_listed_buffer_dirtied_meanwhile_on_an_async_mount(img):
    """vinvalbuf(V_SAVE) writes a buffer it finds dirty among the clean ones
    (vfs_subr.c: VOP_BWRITE).  On an MNT_ASYNC mount bwrite would only delay
    that write, and the restart would invalidate the buffer from the dirty
    list: a completed write (bdwrite) lost.  kemu writes it synchronously past
    the MNT_ASYNC test (a deviation).  The buffer is dirtied while vinvalbuf
    waits for bufcache_lock, after it listed the buffer as clean."""
    from vfs.mount import MNT_ASYNC

    async def body(vp, m):
        from kern import (
            KTHREAD_MUSTJOIN,
            PRI_BIO,
            kpause,
            kthread_create,
            kthread_join,
            mutex_enter,
            mutex_exit,
        )
        from kern.kern_auth import NOCRED
        from vfs.spec_vnops import spec_node_getmountedfs

        bc = bufcache()
        mp = spec_node_getmountedfs(vp)
        assert await vflushbuf(vp, FSYNC_WAIT) == 0  # nothing else dirty
        error, b = await bread(vp, BLK, BSIZE)  # clean: vinvalbuf lists it so

        async def dirtier(arg):
            await mutex_enter(bc.lock)
            await kpause("hold", False, 3, None)  # vinvalbuf lists b, then waits
            b.b_data[:] = b"D" * BSIZE
            bdwrite(b)  # b is dirty and free when vinvalbuf gets the lock
            mutex_exit(bc.lock)

        mp.mnt_flag |= MNT_ASYNC
        try:
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, dirtier, None,
                                      "dirtier")
            assert error == 0
            await kpause("start", False, 1, None)  # the dirtier holds bufcache_lock
            assert bc.lock.mtx_owner is not None
            verr = await vinvalbuf(vp, V_SAVE, NOCRED, None)
            await kthread_join(l)
        finally:
            mp.mnt_flag &= ~MNT_ASYNC
        return verr, incore(vp, BLK)

    verr, cached = run(img, body)
    assert verr == 0 and cached is None
    assert on_disk(img) == b"D" * BSIZE


def test_brelse_rare_cases_have_vfs_bio_c_effects(img):
    """brelsel's rarer releases (vfs_bio.c 1.276): BC_WANTED clears itself and
    BC_AGE; a B_LOCKED buffer drops its error and stays cached; BC_NOCACHE
    or an error invalidates the buffer (out of the cache, its delayed write
    dropped); a BC_VFLUSH buffer keeps its LRU place unless aged (and
    BC_WANTED took the age away first); B_COWDONE survives only on a dirty
    buffer."""
    from vfs.buf import B_COWDONE, B_LOCKED, BC_AGE, BC_NOCACHE, BC_VFLUSH, BC_WANTED

    blk2 = BLK + 2 * (BSIZE // 512)

    async def body(vp, m):
        bc = bufcache()
        out = {}
        # BC_WANTED (and BC_AGE with it) cleared; a clean buffer loses B_COWDONE.
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_cflags |= BC_WANTED | BC_AGE
        bp.b_flags |= B_COWDONE
        brelse(bp, 0)
        out["wanted"] = (bp.b_cflags & (BC_WANTED | BC_AGE | BC_BUSY), bp.b_flags & B_COWDONE,
                         incore(vp, BLK) is bp, next(reversed(bc.lru)) is bp)
        # A dirty buffer keeps B_COWDONE.
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_flags |= B_COWDONE
        bdwrite(bp)
        out["cowdone_dirty"] = bool(bp.b_flags & B_COWDONE)
        # B_LOCKED: the error is dropped and the buffer stays, still dirty.
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_flags |= B_LOCKED
        bp.b_error = EIO
        bp.b_oflags |= BO_DELWRI
        brelse(bp, 0)
        out["locked"] = (bp.b_error, incore(vp, BLK) is bp, bool(bp.b_oflags & BO_DELWRI))
        error, bp = await bread(vp, BLK, BSIZE)
        bp.b_flags &= ~B_LOCKED
        # An error without B_LOCKED: invalid, out of the cache, its write dropped.
        bp.b_error = EIO
        brelse(bp, 0)
        out["error"] = (incore(vp, BLK), bp in bc.lru, bool(bp.b_oflags & BO_DELWRI),
                        bool(bp.b_cflags & BC_INVAL))
        # BC_NOCACHE: invalidated too, and the flag itself is not kept.
        error, bp = await bread(vp, blk2, BSIZE)
        brelse(bp, BC_NOCACHE)
        out["nocache"] = (incore(vp, blk2), bool(bp.b_cflags & BC_INVAL),
                          bool(bp.b_cflags & BC_NOCACHE))
        # BC_VFLUSH (vflushbuf left the buffer on the LRU list, before another):
        # aged, it leaves its place for the list's end; aged but wanted, the
        # age is cleared first and it keeps its place.
        error, other = await bread(vp, BLK, BSIZE)
        for extra in (BC_AGE, BC_WANTED | BC_AGE):
            error, bp = await bread(vp, blk2, BSIZE)
            bc.lru[bp] = None
            brelse(other, 0)
            error, other = await bread(vp, BLK, BSIZE)  # off the list...
            bc.lru[other] = None  # ...and back, after bp
            bp.b_cflags |= BC_VFLUSH | extra
            brelse(bp, 0)
            lru = list(bc.lru)
            out[extra] = (lru.index(bp) > lru.index(other), incore(vp, blk2) is bp,
                          bool(bp.b_cflags & BC_VFLUSH))
        del bc.lru[other]
        brelse(other, 0)
        return out

    out = run(img, body)
    assert out["wanted"] == (0, 0, True, True)
    assert out["cowdone_dirty"] is True
    assert out["locked"] == (0, True, True)
    assert out["error"] == (None, False, False, True)
    assert out["nocache"] == (None, True, False)
    assert out[BC_AGE] == (True, True, False)
    assert out[BC_WANTED | BC_AGE] == (False, True, False)


def test_bread_nowait_takes_only_what_bread_takes_at_once(img):
    """bread_nowait returns the busy buffer bread would return, with the same
    locks taken and given back, only where bread would neither sleep nor let
    another lwp run; otherwise it does nothing (None) and the caller awaits
    bread."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
    from kern.cpu import curlwp
    from kern.kern_mutex import mutex_enter, mutex_exit
    from vfs.buf import B_COWDONE, B_MODIFY
    from vfs.vfs_bio import bread_nowait

    async def body(vp, m):
        me = curlwp()
        held = len(me.l_locks)
        out = {"uncached": bread_nowait(vp, BLK, BSIZE)}  # a read is needed
        error, bp = await bread(vp, BLK, BSIZE)
        assert error == 0
        out["busy"] = bread_nowait(vp, BLK, BSIZE)  # bread would sleep in bbusy
        brelse(bp, 0)
        out["size"] = bread_nowait(vp, BLK, 2 * BSIZE)  # getblk would write it out
        bp = bread_nowait(vp, BLK, BSIZE)
        out["taken"] = (bp is not None and bool(bp.b_cflags & BC_BUSY) and bp.b_owner is me
                        and bytes(bp.b_data) == OLD and len(me.l_locks) == held)
        brelse(bp, 0)
        # bufcache_lock held (by this lwp here; by another, getblk would wait
        # for it): nothing is taken
        bc = bufcache()
        await mutex_enter(bc.lock)
        out["locked"] = bread_nowait(vp, BLK, BSIZE)
        mutex_exit(bc.lock)
        out["locked_idle"] = not incore(vp, BLK).b_cflags & BC_BUSY
        # B_MODIFY of a clean buffer: bread would run the copy-on-write handlers
        out["modify"] = bread_nowait(vp, BLK, BSIZE, B_MODIFY)
        error, bp = await bread(vp, BLK, BSIZE, B_MODIFY)
        assert error == 0 and bp.b_flags & B_COWDONE
        bdwrite(bp)  # a delayed write keeps B_COWDONE: nothing left to run
        bp = bread_nowait(vp, BLK, BSIZE, B_MODIFY)
        out["modify_done"] = bp is not None and bool(bp.b_flags & B_COWDONE)
        brelse(bp, 0)
        # another lwp waits for the CPU: bread's mutex_enter would let it run first
        ran = []

        async def other(_):
            ran.append(True)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, other, None, "other")
        assert error == 0
        out["runq"] = bread_nowait(vp, BLK, BSIZE)
        out["ran_before"] = list(ran)
        await kthread_join(l)
        await vflushbuf(vp, FSYNC_WAIT)
        # a cached buffer whose transfer ended short: bread fails it with EIO
        bp = bread_nowait(vp, BLK, BSIZE)
        assert bp is not None and not bp.b_oflags & BO_DELWRI  # written out, still cached
        bp.b_resid = 1
        brelse(bp, 0)
        out["resid"] = bread_nowait(vp, BLK, BSIZE)
        error, bp = await bread(vp, BLK, BSIZE)
        out["resid_bread"] = (error, bp, incore(vp, BLK))
        return out

    out = run(img, body)
    assert out["uncached"] is None and out["busy"] is None and out["size"] is None
    assert out["taken"] is True
    assert out["modify"] is None and out["modify_done"] is True
    assert out["runq"] is None and out["ran_before"] == []
    assert out["locked"] is None and out["locked_idle"]
    assert out["resid"] is None and out["resid_bread"] == (EIO, None, None)


def test_bread_nowait_declines_when_a_host_call_comes_between_its_locks(img, monkeypatch):
    """bread_nowait's second bufcache_lock (biowait's) is declined when a host
    thread poked the CPU since its first (getblk's): the slow path is on, the
    preemption point of biowait's mutex_enter is to take a trio step.
    bread_nowait then does nothing (the buffer idle, in its LRU place) and
    the caller awaits bread, whose preemption point runs the host's call.
    (It panicked "bread_nowait: bufcache_lock not free again at once": a shell
    test's ``exit`` while a dd wrote on, in a loaded whole-suite run.)"""
    from kern.cpu import curlwp
    from vfs.vfs_bio import bread_nowait

    async def body(vp, m):
        me = curlwp()
        held = len(me.l_locks)
        error, bp = await bread(vp, BLK, BSIZE)
        assert error == 0
        brelse(bp, 0)
        error, other = await bread(vp, BLK + 2, BSIZE)  # after it on the LRU list
        assert error == 0
        brelse(other, 0)
        bc = bufcache()
        order = list(bc.lru)
        posted, ran = host_call_in_bread_nowait(monkeypatch)
        out = {"nowait": bread_nowait(vp, BLK, BSIZE), "posted": list(posted)}
        out["idle"] = (not bp.b_cflags & BC_BUSY, bp.b_owner, list(bc.lru) == order,
                       len(me.l_locks) == held, list(ran))
        error, bp2 = await bread(vp, BLK, BSIZE)
        out["bread"] = (error, bp2 is bp, bytes(bp.b_data) == OLD, bp.b_owner is me, list(ran))
        brelse(bp, 0)
        return out

    out = run(img, body)
    assert out["nowait"] is None and out["posted"] == ["body"]
    assert out["idle"] == (True, None, True, True, [])
    assert out["bread"] == (0, True, True, True, [True])


def test_getblk_of_an_idle_cached_buffer_takes_it_off_the_lru_list(img):
    """getblk's common case (``_getblk_idle``, a plain call) does the whole of
    what vfs_bio.c's getblk does to a cached idle buffer (bbusy, then
    bremfree): busy, the caller's, off the LRU list (kemu pops it just after
    giving bufcache_lock back: see the deviations); released, it goes to the
    list's end, after a buffer released before it.  (Left on the list, it
    would keep its old place when released, and _buf_trim would take it for
    one vflushbuf is writing.)"""
    from kern.cpu import curlwp

    async def body(vp, m):
        me = curlwp()
        bc = bufcache()
        error, bp = await bread(vp, BLK, BSIZE)
        assert error == 0
        brelse(bp, 0)
        error, other = await bread(vp, BLK + 2, BSIZE)  # released after it
        assert error == 0
        brelse(other, 0)
        lru = list(bc.lru)
        out = {"before": lru.index(bp) < lru.index(other)}
        got = await getblk(vp, BLK, BSIZE)
        out["taken"] = (got is bp, bool(bp.b_cflags & BC_BUSY), bp.b_owner is me,
                        bp in bc.lru, other in bc.lru)
        brelse(bp, 0)
        lru = list(bc.lru)
        out["after"] = lru.index(bp) > lru.index(other)
        return out

    out = run(img, body)
    assert out["before"] is True
    assert out["taken"] == (True, True, True, False, True)
    assert out["after"] is True


# ------------------------------------------------ vfs_bio.c's KASSERTs and panics
#
# Each test drives the state one of vfs_bio.c's KASSERTs (or DIAGNOSTIC
# panics) forbids and expects that assertion's panic, raised by the
# function that makes the check in vfs_bio.c (or, for a fast path, by the
# kemu function standing for it there).

BLK2 = BLK + 2 * (BSIZE // 512)  # never read before the test takes it
NO_WAITERS = "not cv_has_waiters(bp.b_done)"


def _panic_in(img, act) -> tuple[str, str]:
    """(message, function that asserted) of the panic ``act(vp, m)`` ends in,
    run on the device vnode of a mounted ext2 file system."""
    async def main():
        check(await mount(img))
        await act(await devvp(), kern.curmachine())

    with boot() as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(main)
    names = [e.name for e in ei.traceback]
    at = names.index("KASSERT") if "KASSERT" in names else names.index("panic")
    return str(ei.value), names[at - 1]


async def _busy_with_a_biowait_waiter(vp):
    """A new (busy, not yet done) buffer of ``vp`` that another lwp waits for in biowait."""
    from kern import PRI_BIO, kpause, kthread_create

    bp = await getblk(vp, BLK2, BSIZE)

    async def waiter(arg):
        await biowait(bp)

    error, _ = kthread_create(PRI_BIO, 0, None, waiter, None, "waiter")
    assert error == 0
    await kpause("wait", False, 1, None)
    assert bp.b_done is not None and bp.b_done.cv_waiters.sq_lwps
    return bp


async def _brelse_waited(vp, m):
    brelse(await _busy_with_a_biowait_waiter(vp), 0)


async def _bwrite_waited(vp, m):
    await bwrite(await _busy_with_a_biowait_waiter(vp))


async def _bdwrite_waited(vp, m):
    bdwrite(await _busy_with_a_biowait_waiter(vp))


async def _biodone_callout_waited(vp, m):
    bp = await _busy_with_a_biowait_waiter(vp)
    bp.b_flags |= B_READ
    bp.b_iodone = lambda b: None
    biodone(bp)


async def _biodone_async_waited(vp, m):
    bp = await _busy_with_a_biowait_waiter(vp)
    bp.b_flags |= B_READ | B_ASYNC
    biodone(bp)


async def _getblk_idle_waited(vp, m):
    bp = await _busy_with_a_biowait_waiter(vp)
    bp.b_cflags &= ~BC_BUSY  # a caller giving it back by hand, past brelse
    await getblk(vp, BLK2, BSIZE)  # cached, idle, same size: the plain-call path


async def _getblk_slow_waited(vp, m):
    bp = await _busy_with_a_biowait_waiter(vp)
    bp.b_cflags &= ~BC_BUSY
    await getblk(vp, BLK2, 2 * BSIZE)  # another size: getblk's loop


async def _bread_nowait_waited(vp, m):
    bp = await _busy_with_a_biowait_waiter(vp)
    bp.b_cflags &= ~BC_BUSY
    bp.b_oflags |= BO_DONE  # valid, as bread_nowait wants it
    await bread(vp, BLK2, BSIZE)


async def _bwrite_other_objlock(vp, m):
    bp = await getblk(vp, BLK2, BSIZE)
    bp.b_objlock = kmutex_t()  # not its vnode's v_interlock
    await bwrite(bp)


async def _vflushbuf_other_objlock(vp, m):
    """vflushbuf's write (a bawrite in vfs_subr.c, so bwrite's KASSERTs) enters past bwrite."""
    bp = await getblk(vp, BLK2, BSIZE)
    bdwrite(bp)
    bp.b_objlock = kmutex_t()
    await vflushbuf(vp, 0)


async def _bwrite_not_busy(vp, m):
    bp = await getblk(vp, BLK2, BSIZE)
    bp.b_cflags &= ~BC_BUSY
    await bwrite(bp)


async def _incore_other_objlock(vp, m):
    bp = await getblk(vp, BLK2, BSIZE)
    bp.b_objlock = kmutex_t()
    brelse(bp, 0)
    incore(vp, BLK2)


async def _bdwrite_other_objlock(vp, m):
    bp = await getblk(vp, BLK2, BSIZE)
    bp.b_objlock = kmutex_t()
    bdwrite(bp)


async def _brelse_not_busy(vp, m):
    bp = geteblk(BSIZE)
    bp.b_cflags &= ~BC_BUSY
    brelse(bp, 0)


async def _bawrite_no_vnode(vp, m):
    await bawrite(geteblk(BSIZE))


async def _biowait_not_busy(vp, m):
    bp = getiobuf(None, True)
    putiobuf(bp)
    bp.b_oflags |= BO_DONE
    await biowait(bp)


async def _biodone_twice(vp, m):
    bp = getiobuf(None, True)
    bp.b_flags |= B_READ
    bp.b_oflags |= BO_DONE
    biodone(bp)


async def _nestiobuf_past_master(vp, m):
    nestiobuf_setup(geteblk(BSIZE), getiobuf(None, True), BSIZE // 2, BSIZE)


def _nested() -> tuple:
    mbp = geteblk(BSIZE)
    mbp.b_resid = BSIZE
    bp = getiobuf(None, True)
    nestiobuf_setup(mbp, bp, 0, BSIZE)
    return mbp, bp


async def _nestiobuf_count_past_size(vp, m):
    mbp, bp = _nested()
    bp.b_bcount = BSIZE + 1
    nestiobuf_iodone(bp)


async def _nestiobuf_own_master(vp, m):
    mbp, bp = _nested()
    bp.b_private = bp
    nestiobuf_iodone(bp)


async def _nestiobuf_done_past_resid(vp, m):
    mbp = geteblk(BSIZE)
    mbp.b_resid = 10
    nestiobuf_done(mbp, 20, 0)


async def _bbusy_unlocked(vp, m):
    bp = await getblk(vp, BLK2, BSIZE)
    brelse(bp, 0)
    await bbusy(bp, False, 0, None)  # without bufcache_lock


@pytest.mark.parametrize("act, func, expr", [
    (_getblk_idle_waited, "_getblk_idle", NO_WAITERS),
    (_getblk_slow_waited, "getblk", NO_WAITERS),
    (_bread_nowait_waited, "_getblk_idle", NO_WAITERS),
    (_bwrite_waited, "_bwrite_start", NO_WAITERS),
    (_bdwrite_waited, "bdwrite", NO_WAITERS),
    (_brelse_waited, "brelsel", NO_WAITERS),
    (_biodone_callout_waited, "biodone", NO_WAITERS),
    (_biodone_async_waited, "biodone", NO_WAITERS),
    (_bwrite_other_objlock, "_bwrite_start", "bp.b_objlock is vp.v_interlock"),
    (_vflushbuf_other_objlock, "_bwrite_start", "bp.b_objlock is vp.v_interlock"),
    (_bwrite_not_busy, "_bwrite_start", "bp.b_cflags & BC_BUSY"),
    (_incore_other_objlock, "incore", "bp.b_objlock is vp.v_interlock"),
    (_bdwrite_other_objlock, "bdwrite", "bp.b_objlock is bp.b_vp.v_interlock"),
    (_brelse_not_busy, "brelsel", "cflags & BC_BUSY"),
    (_bawrite_no_vnode, "bawrite", "bp.b_vp is not None"),
    (_biowait_not_busy, "_biowait_done", "bp.b_cflags & BC_BUSY"),
    (_biodone_twice, "biodone", "not bp.b_oflags & BO_DONE"),
    (_nestiobuf_past_master, "nestiobuf_setup", "mbp.b_bcount >= offset + size"),
    (_nestiobuf_count_past_size, "nestiobuf_iodone", "bp.b_bcount <= bp.b_bufsize"),
    (_nestiobuf_own_master, "nestiobuf_iodone", "mbp is not bp"),
    (_nestiobuf_done_past_resid, "nestiobuf_done", "mbp.b_resid >= donebytes"),
    (_bbusy_unlocked, "bbusy", "mutex_owned(bc.lock)"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else None)
def test_vfs_bio_kasserts(img, act, func, expr):
    """vfs_bio.c's KASSERTs (1.256's, as 1.276's): each stops a caller that breaks it."""
    msg, at = _panic_in(img, act)
    assert "kernel diagnostic assertion" in msg and expr in msg and "vfs_bio.py" in msg, msg
    assert at == func, (at, msg)


def test_getblk_block_size_invariant(img):
    """getblk's DIAGNOSTIC panic: a valid buffer of a (non-VBLK) file's vnode
    asked for at a larger size than it has."""
    async def main():
        check(await mount(img))
        check(await write_file("/mnt/f", b"x" * 100))
        error, fvp = await vnode_of("/mnt/f")
        check(error)
        bp = await getblk(fvp, 1000, 512)
        bp.b_oflags |= BO_DONE
        brelse(bp, 0)
        await getblk(fvp, 1000, BSIZE)

    with boot() as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(main)
    assert "getblk: block size invariant failed" in str(ei.value)


def test_nested_piece_cut_short_by_the_device_end_is_eio(img):
    """vfs_bio.c's nestiobuf_iodone takes a piece whose b_bcount the driver
    cut below its b_bufsize (here rumpblk's clip at the unit's end; a disk's
    bounds check does the same), with no error and no residue, for a short
    transfer: EIO for the master, whose b_resid is then its b_bcount."""
    async def body(vp, m):
        dev_end = (FS_SIZE + MB) // 512
        mbp = getiobuf(vp, True)
        mbp.b_flags = B_READ
        mbp.b_data = bytearray(2 * BSIZE)
        mbp.b_bcount = mbp.b_bufsize = mbp.b_resid = 2 * BSIZE
        mbp.b_blkno = dev_end - BSIZE // 512  # the second half is past the end
        mbp.b_dev = vp.v_rdev
        bp = getiobuf(vp, True)
        nestiobuf_setup(mbp, bp, 0, 2 * BSIZE)
        bp.b_blkno = mbp.b_blkno
        seen = []
        bp.b_iodone = lambda b: (seen.append((b.b_bcount, b.b_bufsize, b.b_resid)),
                                 nestiobuf_iodone(b))
        await VOP_STRATEGY(vp, bp)
        error = await biowait(mbp)
        resid = mbp.b_resid
        putiobuf(mbp)
        return seen, error, resid

    seen, error, resid = run(img, body)
    assert seen == [(BSIZE, 2 * BSIZE, 0)]  # cut short, no error, no residue
    assert (error, resid) == (EIO, 2 * BSIZE)
