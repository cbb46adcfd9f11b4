"""The copy-on-write cache and the indirect table of fss.c 1.104 under pressure.

fss_read_cluster copies a cluster into a cache slot before the origin is
overwritten; the bs thread writes valid slots to the backing store and
records where in the indirect table, one cluster of which is in memory at a
time (fss_bs_indir).  These scenarios make the geometry and the timing take
the paths that an idle 4 MiB snapshot never takes:

* a second writer of a cluster being copied waits on the busy slot
  ("cowwait1") and finds it copied;
* writers of more clusters than there are slots wait for a free slot
  ("cowwait");
* the last cluster of a device that is not a whole number of clusters is
  read short (sc_clresid) and zero-filled;
* with 512-byte clusters on a character-device store, one indirect cluster
  maps 128 clusters, so saving and reading back a file system's changes
  switches the indirect cluster, writes dirty ones back, zero-fills new ones
  and reads saved ones back;
* the page daemon may write clusters that are already copied.

Each compares what the snapshot device returns with the image as it was
when the snapshot was taken.
"""

from __future__ import annotations

import trio
import trio.testing

import kern
from dev.fss.fssvar import FSS_CACHE_FREE, FSS_CACHE_VALID
from dev.rumpblk import RUMP_ETFS_CHR, rump_etfs_register
from kern.fcntl import O_RDWR
from kern.kern_module import kmod_namespace
from kern.machine import testing as kt
from kern.machine.testing import KiB, MiB
from kern.native import isset
from kern.subr_autoconf import device_lookup_private
from tools.lib import libc

PAGE = 4096


def _softc(unit: int = 0):
    return device_lookup_private(kmod_namespace("fss").fss_cd, unit)


async def _overwrite(path: str, data: bytes, off: int = 0) -> None:
    fd = await libc.open(path, O_RDWR)
    try:
        await libc.pwrite(fd, data, off)
        await libc.fsync(fd)
    finally:
        await libc.close(fd)


def _frozen(img: str) -> bytes:
    with open(img, "rb") as f:
        return f.read()


def test_second_writer_of_a_cluster_being_copied_waits_for_the_copy(origin):
    """Two files in one 64 KiB cluster, overwritten by two lwps: the first
    copies the cluster (its read of the origin made slow), the second finds
    the slot busy, sleeps on it ("cowwait1") and, woken, finds it copied."""
    seen: dict = {}

    async def main():
        async with kern.boot(seed=1) as k:
            async def setup():
                await kt.mount_image(origin, "/mnt")
                await kt.write_file("/mnt/a", b"a" * KiB)
                await kt.write_file("/mnt/b", b"b" * KiB)
                await libc.sync()
                fd = await libc.open("/dev/rfss0", O_RDWR)
                await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
                seen["frozen"] = _frozen(origin)
                seen["wd0"] = (await libc.stat("/dev/wd0")).st_rdev
                return fd

            fd = await k.run(setup)
            frozen = seen["frozen"]
            ca = frozen.find(b"a" * KiB) // (64 * KiB)
            cb = frozen.find(b"b" * KiB) // (64 * KiB)
            seen["same cluster"] = ca == cb

            async def writer(path: str, byte: bytes, delay: int) -> None:
                await kern.kpause("start", False, delay, None)
                await _overwrite(path, byte * KiB)
                seen[path] = k.now()

            with k.faults.inject("disk.slow", dev=seen["wd0"], lwp="wa", extra={"ticks": 20}):
                async with trio.open_nursery() as n:
                    n.start_soon(lambda: k.run(writer, "/mnt/a", b"A", 1, name="wa"))
                    n.start_soon(lambda: k.run(writer, "/mnt/b", b"B", 2, name="wb"))

            async def check():
                await kern.kpause("bs", False, 2, None)
                snap = await libc.pread(fd, 4 * MiB, 0)
                return snap, await kt.read_file("/mnt/a"), await kt.read_file("/mnt/b")

            seen["snap"], seen["a"], seen["b"] = await k.run(check)
            seen["trace"] = list(k.trace)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert seen["same cluster"]
    waits = [e for e in seen["trace"] if "wb: sleep cowwait1" in e]
    assert waits  # the second writer slept on the busy slot
    assert seen["/mnt/b"] >= 0.2  # ... until the first writer's slow copy was done
    assert seen["snap"] == seen["frozen"]
    assert (seen["a"], seen["b"]) == (b"A" * KiB, b"B" * KiB)


def test_writers_of_more_clusters_than_slots_wait_for_a_free_slot(tmp_path):
    """128 KiB clusters give 4 cache slots; five writers of five clusters,
    with slow origin reads, fill them: the fifth sleeps on sc_cache_cv
    ("cowwait") until the bs thread has stored a slot, and every cluster
    still reaches the store intact."""
    img = kt.make_ext2_image(str(tmp_path / "o.img"), 4 * MiB)
    files = [f"/mnt/f{i}" for i in range(5)]
    seen: dict = {}

    async def main():
        async with kern.boot(seed=1) as k:
            async def setup():
                await kt.mount_image(img, "/mnt")
                for i, f in enumerate(files):
                    await kt.write_file(f, bytes([ord("0") + i]) * (192 * KiB))
                await libc.sync()
                fd = await libc.open("/dev/rfss0", O_RDWR)
                await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s", csize=128 * KiB)
                g = await kt.fss_get_ioctl(fd)
                seen["csize"], seen["slots"] = g.fsg_csize, _softc().sc_cache_size
                seen["frozen"] = _frozen(img)
                seen["wd0"] = (await libc.stat("/dev/wd0")).st_rdev
                return fd

            fd = await k.run(setup)
            frozen = seen["frozen"]
            seen["clusters"] = {frozen.find(bytes([ord("0") + i]) * PAGE) // (128 * KiB)
                                for i in range(5)}

            async def writer(i: int) -> None:
                await _overwrite(files[i], b"x" * PAGE)

            with k.faults.inject("disk.slow", dev=seen["wd0"], extra={"ticks": 10}):
                async with trio.open_nursery() as n:
                    for i in range(5):
                        n.start_soon(lambda i=i: k.run(writer, i, name=f"w{i}"))

            async def check():
                await kern.kpause("bs", False, 2, None)
                return await libc.pread(fd, 4 * MiB, 0)

            seen["snap"] = await k.run(check)
            seen["trace"] = list(k.trace)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert (seen["csize"], seen["slots"]) == (128 * KiB, 4)
    assert len(seen["clusters"]) == 5  # five different clusters for four slots
    assert [e for e in seen["trace"] if ": sleep cowwait" in e and "cowwait1" not in e]
    assert seen["snap"] == seen["frozen"]


def test_the_bs_thread_cleans_valid_slots_in_crotor_order(tmp_path):
    """fss_bs_thread cleans one FSS_CACHE_VALID slot per pass, the first from
    the slot after the last one it cleaned (crotor, 0 at its start), wrapping
    past the end: its backing-store clusters (sc_clnext, one by one) go to
    the slots in that order.  Slots 0 and 2 valid: 2 then 0; then 0, 1 and
    3: 1, 3, 0 (as 1.104's ``crotor = (crotor + 1) % sc_cache_size`` walk)."""
    img = kt.make_ext2_image(str(tmp_path / "o.img"), 4 * MiB)

    async def body():
        await kt.mount_image(img, "/mnt")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s", csize=128 * KiB)
        sc = _softc()
        order = []
        for slots in ((0, 2), (0, 1, 3)):
            await kern.kpause("idle", False, 2, None)   # the bs thread sleeps on fssbs
            await kern.mutex_enter(sc.sc_slock)
            first = sc.sc_clnext        # (the bs thread's, under sc_slock)
            for i in slots:   # cluster 10 + slot, not copied yet: fake copies
                scp = sc.sc_cache[i]
                scp.fc_type, scp.fc_cluster = FSS_CACHE_VALID, 10 + i
                scp.fc_data[:] = bytes([i]) * len(scp.fc_data)
            kern.cv_signal(sc.sc_work_cv)
            kern.mutex_exit(sc.sc_slock)
            await kern.kpause("bs", False, 5, None)
            stored = {sc.sc_indir_data[10 + i] - first: i for i in slots}
            order.append([stored[n] for n in range(len(slots))])
        await kern.mutex_enter(sc.sc_slock)
        types = [scp.fc_type for scp in sc.sc_cache]
        kern.mutex_exit(sc.sc_slock)
        await libc.close(fd)
        return sc.sc_cache_size, order, types

    with kern.boot(seed=1) as k:
        size, order, types = k.run(body)
    assert size == 4
    assert order == [[2, 0], [1, 3, 0]]
    assert types == [FSS_CACHE_FREE] * 4


def test_last_cluster_of_a_device_that_is_not_a_whole_number_of_clusters(tmp_path):
    """A 3 MiB device with 2 MiB clusters: the second cluster holds 1 MiB
    (sc_clresid).  Overwriting a file that reaches into it copies it short,
    zero-filling the rest of the slot; the snapshot reads the old bytes, up
    to the end of the device and no further."""
    img = kt.make_ext2_image(str(tmp_path / "o.img"), 3 * MiB)

    async def body():
        await kt.mount_image(img, "/mnt")
        await kt.write_file("/mnt/f", b"o" * (2 * MiB + 256 * KiB))
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s", csize=2 * MiB)
        g = await kt.fss_get_ioctl(fd)
        sc = _softc()
        geometry = (g.fsg_csize, g.fsg_mount_size, sc.sc_clresid)
        frozen = _frozen(img)
        await _overwrite("/mnt/f", b"n" * (2 * MiB + 256 * KiB))
        await kern.kpause("bs", False, 5, None)
        copied = [isset(sc.sc_copied, c) for c in range(sc.sc_clcount)]
        snap = await kt.read_file("/dev/rfss0")
        return geometry, copied, snap, frozen, await kt.read_file("/mnt/f")

    with kern.boot(seed=1) as k:
        geometry, copied, snap, frozen, now = k.run(body)
    assert geometry == (2 * MiB, 2, 1 * MiB)
    assert copied == [True, True]  # the short last cluster was copied too
    assert len(snap) == 3 * MiB and snap == frozen
    assert now == b"n" * (2 * MiB + 256 * KiB)


def test_indirect_table_with_many_indirect_clusters(origin, tmp_path):
    """512-byte clusters on a character-device store (DEV_BSIZE blocks): 8192
    clusters, 128 per indirect cluster, 65 indirect clusters.  Changes all
    over the file system make the bs thread switch indirect clusters, write
    dirty ones back and start new ones zeroed; reading the snapshot back
    reads saved ones from the store.  Two rounds of changes, the snapshot
    compared with the frozen image after each."""
    store = tmp_path / "store.img"
    store.write_bytes(b"")

    async def body():
        await kt.mount_image(origin, "/mnt")
        for i in range(4):
            await kt.write_file(f"/mnt/f{i}", bytes([ord("a") + i]) * (48 * KiB))
        await libc.sync()
        assert await rump_etfs_register("/dev/rstore", str(store), RUMP_ETFS_CHR,
                                        size=8 * MiB) == 0
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/dev/rstore", csize=512, create_store=False)
        sc = _softc()
        geometry = (sc.sc_clcount, FSS_per_indir(sc), sc.sc_indir_size)
        frozen = _frozen(origin)
        rounds = []
        for r in range(2):
            for i in range(4):
                await _overwrite(f"/mnt/f{i}", bytes([ord("A") + i + r]) * (16 * KiB),
                                 off=r * 24 * KiB)
            await kt.write_file(f"/mnt/new{r}", b"z" * (40 * KiB))
            await libc.sync()
            await kern.kpause("bs", False, 5, None)
            valid = sum(isset(sc.sc_indir_valid, i) for i in range(sc.sc_indir_size))
            rounds.append((valid, await kt.read_file("/dev/rfss0") == frozen))
        return geometry, rounds, (await kt.fss_get_ioctl(fd)).fsg_bs_size

    with kern.boot(seed=1) as k:
        geometry, rounds, bs_size = k.run(body)
    assert geometry == (8192, 128, 65)
    for valid, same in rounds:
        assert valid >= 2  # indirect clusters were written back to the store
        assert same
    assert bs_size > 65 + 100  # copies stored after the indirect table


def FSS_per_indir(sc) -> int:
    return (1 << sc.sc_clshift) // 4


def test_page_daemon_may_write_clusters_already_copied(origin):
    """fss_copy_on_write refuses the page daemon (ENOMEM) only for clusters
    not yet copied: once a writer has copied them, the daemon's write of the
    same pages goes through and the pages are clean."""
    from vfs.genfs_io import genfs_dirty_pages
    from vfs.mount import MNT_ASYNC
    from vfs.uvm import uvm_kick_pdaemon, uvm_pdaemon_wait

    async def body():
        await kt.mount_image(origin, "/mnt", flags=MNT_ASYNC)  # no write-behind: pages stay dirty
        await kt.write_file("/mnt/f", b"A" * (64 * KiB))
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        f = await libc.open("/mnt/f", O_RDWR)
        await libc.write(f, b"B" * (64 * KiB))
        await libc.fsync(f)  # copies the clusters
        await kern.kpause("bs", False, 2, None)
        await libc.pwrite(f, b"C" * (64 * KiB), 0)  # dirty again, clusters copied
        dirty_before = genfs_dirty_pages()
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        dirty_after = genfs_dirty_pages()
        await libc.close(f)
        snap = await libc.pread(fd, 4 * MiB, 0)
        return dirty_before, dirty_after, snap, _frozen(origin), await kt.read_file("/mnt/f")

    with kern.boot(seed=1) as k:
        before, after, snap, disk, now = k.run(body)
    assert before >= 16
    assert after == 0  # the daemon's writes were accepted
    assert now == b"C" * (64 * KiB)
    assert snap.count(b"A" * KiB) >= 64 and b"C" * KiB not in snap
    assert b"C" * KiB in disk  # on the origin disk, written by the daemon
