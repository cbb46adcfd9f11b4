"""fss units over their life: opens and closes, unconfigure, unmount, modules, pagedaemon."""

from __future__ import annotations

import ctypes

import pytest

import kern
from dev.fss.fssvar import FSS_UNCONFIG_ON_CLOSE, FSSIOCCLR, FSSIOFSET
from kern.conf.GENERIC import config as GENERIC
from kern.errno import EBUSY, EEXIST, ENOMEM, ENXIO
from kern.exceptions import SyscallError
from kern.fcntl import O_RDONLY, O_RDWR
from kern.kern_module import (
    MODULE_CLASS_ANY,
    kmod_namespace,
    module_load,
    module_stat,
    module_unload,
)
from kern.machine import testing as kt
from kern.machine.testing import errno_of
from tools.lib import libc
from vfs.mount import MNT_RDONLY


def lwp_names(k) -> list[str]:
    return [l.l_name for l in k.lwps]


def test_unconfig_on_close_as_dump_uses_it(origin):
    """sbin/dump's snap_open: first free unit, FSS_UNCONFIG_ON_CLOSE, unlink the store."""

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"dumped\n" * 100)
        # another snapshot already holds fss0: dump moves on at EBUSY
        busy = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(busy, "/mnt", "/tmp/busy")
        unit = None
        for i in range(4):
            fd = await libc.open(f"/dev/rfss{i}", O_RDWR)
            try:
                await kt.fss_set_ioctl(fd, "/mnt", "/tmp/dumpsnap")
            except SyscallError as e:
                assert e.errno == EBUSY
                await libc.close(fd)
                continue
            unit = i
            break
        await libc.ioctl(fd, FSSIOFSET, ctypes.c_int(FSS_UNCONFIG_ON_CLOSE))
        await libc.unlink("/tmp/dumpsnap")
        data = await libc.read(fd, 4096)
        threads_during = [n for n in lwp_names(kern.curmachine()) if n.startswith("fss")]
        await libc.close(fd)
        threads_after = [n for n in lwp_names(kern.curmachine()) if n.startswith("fss")]
        # the unit is gone: reopening gives a fresh, idle one
        fd = await libc.open(f"/dev/rfss{unit}", O_RDONLY)
        get = await errno_of(kt.fss_get_ioctl(fd))
        await libc.close(fd)
        return unit, len(data), threads_during, threads_after, get

    with kern.boot(seed=1) as k:
        unit, n, during, after, get = k.run(body)
    assert unit == 1
    assert n == 4096
    assert during == ["fss0", "fss1"]
    assert after == ["fss0"]
    assert get == ENXIO


def test_block_and_character_devices_open_together(origin):
    async def body():
        from kern.kern_module import kmod_namespace
        from kern.subr_autoconf import device_lookup_private

        await kt.mount_image(origin, "/mnt")
        b = await libc.open("/dev/fss0", O_RDONLY)
        c = await libc.open("/dev/rfss0", O_RDWR)
        cd = kmod_namespace("fss").fss_cd
        sc = device_lookup_private(cd, 0)
        both = sc.sc_flags & 0xc0
        await libc.close(c)  # the block side is still open: the unit stays
        stays = device_lookup_private(cd, 0) is sc and sc.sc_flags & 0xc0
        await libc.close(b)  # last close of both: the unit goes
        gone = device_lookup_private(cd, 0) is None
        # with a snapshot active, the last close keeps the unit
        c = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(c, "/mnt", "/tmp/s")
        await libc.close(c)
        kept = device_lookup_private(cd, 0)
        return both, stays, gone, kept is not None and kept.sc_flags & 0x1

    with kern.boot(seed=1) as k:
        both, stays, gone, kept = k.run(body)
    assert both == 0xc0  # FSS_CDEV_OPEN | FSS_BDEV_OPEN
    assert stays == 0x80  # only FSS_BDEV_OPEN left
    assert gone
    assert kept == 0x1  # FSS_ACTIVE: the snapshot survives its last close


def test_unconfigure_while_the_snapshot_is_mounted(origin):
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"before\n")
        await kt.write_file("/mnt/g", b"g" * 5000)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        await kt.mount_ext2("/dev/fss0", "/snap", MNT_RDONLY)
        before = await kt.read_file("/snap/f")
        await libc.ioctl(fd, FSSIOCCLR, None)  # the block device stays open (mounted)
        await libc.close(fd)
        # the file system cannot read its disk any more: /snap/g was never read,
        # so reading it reaches fss_strategy, which refuses (ENXIO)
        err = await errno_of(kt.read_file("/snap/g"))
        raw = await libc.open("/dev/rfss0", O_RDONLY)
        rerr = await errno_of(libc.read(raw, 512))
        await libc.close(raw)
        await libc.unmount("/snap", 0)
        return before, err, rerr

    with kern.boot(seed=1) as k:
        before, err, rerr = k.run(body)
    assert before == b"before\n"
    assert err == ENXIO
    assert rerr == ENXIO


def test_unmount_of_the_snapshotted_file_system(origin, tmp_path):
    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"x" * 10000)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        await libc.unmount("/mnt", 0)
        err = await errno_of(libc.read(fd, 512))
        g = await kt.fss_get_ioctl(fd)  # FSSIOCGET still answers
        await libc.ioctl(fd, FSSIOCCLR, None)
        return err, g.fsg_mount

    with kern.boot(seed=1) as k:
        err, mount = k.run(body)
        dmesg = k.dmesg()
    assert err == ENXIO
    assert mount == b"/mnt"
    assert "fss0: snapshot invalid: forced by unmount" in dmesg
    kt.assert_e2fsck_clean(origin)


def test_modload_brings_bufq_fcfs_and_modunload_is_ebusy_while_active(origin):
    async def body():
        await kt.mount_image(origin, "/mnt")
        loaded = await module_load("fss", 0, None, MODULE_CLASS_ANY)
        stats1 = {m.name: m.refcnt for m in module_stat()}
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        busy = await module_unload("fss")
        still = "fss" in {m.name for m in module_stat()}
        await libc.ioctl(fd, FSSIOCCLR, None)
        await libc.close(fd)
        unloaded = await module_unload("fss")
        stats2 = {m.name: m.refcnt for m in module_stat()}
        fcfs = await module_unload("bufq_fcfs")
        return loaded, stats1, busy, still, unloaded, stats2, fcfs

    with kern.boot(seed=1) as k:
        loaded, stats1, busy, still, unloaded, stats2, fcfs = k.run(body)
    assert loaded == 0
    assert stats1["bufq_fcfs"] == 1 and "fss" in stats1  # the requirement came first
    assert busy == EBUSY and still
    assert unloaded == 0 and "fss" not in stats2
    assert stats2["bufq_fcfs"] == 0
    assert fcfs == 0


def test_built_in_pseudo_device(origin):
    """``pseudo-device fss 4``: no module, fssattach at boot, fixed majors."""
    cfg = GENERIC.derive("FSSSTATIC", pseudo_devices={"fss": 4})

    async def body():
        await kt.mount_image(origin, "/mnt")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        g = await kt.fss_get_ioctl(fd)
        return g.fsg_mount, {m.name for m in module_stat()}

    with kern.boot(seed=1, config=cfg) as k:
        mount, mods = k.run(body)
    assert mount == b"/mnt"
    assert "fss" not in mods and "bufq_fcfs" not in mods


def test_pagedaemon_is_refused_with_enomem_then_a_writer_copies(origin):
    """fss_copy_on_write's pagedaemon branch: the page daemon must not wait for
    a snapshot copy, so its write of an uncopied cluster fails (ENOMEM) and the
    pages stay dirty; the next writer that is not the daemon copies first."""
    from vfs.genfs_io import genfs_dirty_pages
    from vfs.uvm import uvm_kick_pdaemon, uvm_pdaemon_wait

    async def body():
        await kt.mount_image(origin, "/mnt")
        await kt.write_file("/mnt/f", b"A" * 65536)
        await libc.sync()
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        bs0 = (await kt.fss_get_ioctl(fd)).fsg_bs_size
        f = await libc.open("/mnt/f", O_RDWR)
        # Into the page cache only: one byte short of the 64 KiB boundary,
        # so ext2's write-behind does not start.
        await libc.write(f, b"B" * 65535)
        dirty_before = genfs_dirty_pages()
        uvm_kick_pdaemon()
        await uvm_pdaemon_wait()
        dirty_after_daemon = genfs_dirty_pages()
        bs1 = (await kt.fss_get_ioctl(fd)).fsg_bs_size
        await libc.fsync(f)  # a writer that may wait: copies, then writes
        await kern.kpause("bs", False, 2, None)  # let the bs thread store the copies
        bs2 = (await kt.fss_get_ioctl(fd)).fsg_bs_size
        await libc.close(f)
        await kt.mount_ext2("/dev/fss0", "/snap", MNT_RDONLY)
        snap = await kt.read_file("/snap/f")
        await libc.unmount("/snap", 0)
        return dirty_before, dirty_after_daemon, bs0, bs1, bs2, snap, await kt.read_file("/mnt/f")

    with kern.boot(seed=1) as k:
        dirty_before, dirty_after, bs0, bs1, bs2, snap, now = k.run(body)
        fired = [e for e in k.trace if "pgdaemon" in e]
    assert dirty_before >= 16
    assert dirty_after == dirty_before  # the daemon's writes were refused
    assert bs1 == bs0  # nothing copied by the daemon
    assert bs2 > bs1  # the fsync copied the clusters first
    assert snap == b"A" * 65536 and now == b"B" * 65535 + b"A"  # ... before writing them
    assert fired


def test_snapshot_of_a_busy_file_system_is_clean_and_holds_old_data(origin, tmp_path):
    snapimg = str(tmp_path / "snap.img")

    async def body():
        await kt.mount_image(origin, "/mnt")
        for i in range(20):
            await kt.write_file(f"/mnt/f{i}", bytes([i]) * (i * 3000 + 1))
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s", csize=4096)
        for i in range(20):
            if i % 2:
                await libc.unlink(f"/mnt/f{i}")
            else:
                await kt.write_file(f"/mnt/f{i}", b"new" * 1000)
        await libc.sync()
        await kt.mount_ext2("/dev/fss0", "/snap", MNT_RDONLY)
        old = [await kt.read_file(f"/snap/f{i}") for i in range(20)]
        await libc.unmount("/snap", 0)
        await kt.dump_device("/dev/rfss0", snapimg)
        await libc.ioctl(fd, FSSIOCCLR, None)
        await libc.close(fd)
        return old

    with kern.boot(seed=3) as k:
        old = k.run(body)
    assert old == [bytes([i]) * (i * 3000 + 1) for i in range(20)]
    kt.assert_e2fsck_clean(snapimg)


@pytest.mark.parametrize("site", ["config_cfdriver_attach", "config_cfattach_attach",
                                  "devsw_attach"])
def test_module_init_failure_unwinds_and_a_later_load_works(origin, site):
    """fss_modcmd(MODULE_CMD_INIT) undoes what it did when a registration
    fails, in reverse order, and returns the error: the module is not
    loaded, /dev/rfss0 has no driver, and the next load starts clean."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        m = kern.curmachine()
        with m.faults.inject(site, error=EEXIST, fail_nth=1) as f:
            failed = await module_load("fss", 0, None, MODULE_CLASS_ANY)
        loaded = "fss" in {s.name for s in module_stat()}
        again = await module_load("fss", 0, None, MODULE_CLASS_ANY)
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        g = await kt.fss_get_ioctl(fd)
        return f.nfaults, failed, loaded, again, g.fsg_mount

    with kern.boot(seed=1) as k:
        nfaults, failed, loaded, again, mount = k.run(body)
    assert nfaults == 1
    assert failed == EEXIST
    assert not loaded
    assert again == 0 and mount == b"/mnt"


def test_static_fssattach_reports_a_failed_registration(origin):
    """``pseudo-device fss``: fssattach prints "fss: unable to register" when
    config_cfattach_attach fails at boot, and goes on; without the cfattach
    no unit can attach, so opening one gives fss_open's ENOMEM."""
    cfg = GENERIC.derive("FSSSTATIC", pseudo_devices={"fss": 4})
    k = kern.boot(seed=1, config=cfg)
    f = k.faults.add("config_cfattach_attach", error=EEXIST, fail_nth=1)

    async def body():
        return await errno_of(libc.open("/dev/rfss0", O_RDWR))

    with k:
        error = k.run(body)
        dmesg = k.dmesg()
    assert f.nfaults == 1
    assert "fss: unable to register" in dmesg
    assert error == ENOMEM


def test_unit_without_power_handler_still_works(origin):
    """fss_attach only reports a failed pmf_device_register."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        with kern.curmachine().faults.inject("pmf_device_register", fail_nth=1) as f:
            fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        return f.nfaults, (await kt.fss_get_ioctl(fd)).fsg_mount

    with kern.boot(seed=1) as k:
        nfaults, mount = k.run(body)
        dmesg = k.dmesg()
    assert nfaults == 1
    assert "fss0: couldn't establish power handler" in dmesg
    assert mount == b"/mnt"


def test_detaching_an_active_unit_is_ebusy(origin):
    """fss_detach refuses a unit with an active snapshot.  fss_close never
    asks for one, so the request comes from outside the driver, as drvctl -d
    fss0 would make it (kemu has no drvctl: the test calls config_detach)."""
    from kern.subr_autoconf import config_detach, device_lookup_private

    async def body():
        await kt.mount_image(origin, "/mnt")
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s")
        sc = device_lookup_private(kmod_namespace("fss").fss_cd, 0)
        busy = await config_detach(sc.sc_dev, 0)
        still = (await kt.fss_get_ioctl(fd)).fsg_mount
        await libc.ioctl(fd, FSSIOCCLR, None)
        await libc.close(fd)  # the last close detaches the idle unit
        return busy, still, device_lookup_private(kmod_namespace("fss").fss_cd, 0)

    with kern.boot(seed=1) as k:
        busy, still, after = k.run(body)
    assert busy == EBUSY
    assert still == b"/mnt"
    assert after is None
