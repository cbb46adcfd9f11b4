"""Halting a machine: sync, unmount, then the devices (kern/machdep.py's cpu_reboot).

Every way a machine ends, a crash aside, leaves a host image it had mounted
e2fsck-clean with every completed write in it: the ``with``/``async with``
block ending normally, by an exception, by KeyboardInterrupt (raised in the
body or while ``k.run`` waits), by cancellation; the pytest ``kernel``
fixture's teardown; a machine still running at interpreter exit.  A crash
syncs nothing and says which images may be inconsistent.
"""

from __future__ import annotations

import _thread
import io
import os
import re
import textwrap
import threading

import pytest
import trio
import trio.testing

import kern
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_WRONLY
from kern.machine import testing as kt
from tests.fs.ext2fs.helpers import debugfs, debugfs_cat, dumpe2fs_h
from tests.fs.puffs.h_puffs import DiesOnSuspendMemFS
from tests.pytest_child import run_pytest
from tools.lib import forkserver, libc
from tools.puffs_servers.memfs import MemFS

pytestmark = pytest.mark.skipif(bool(kt.e2fsprogs_missing("mke2fs", "e2fsck", "debugfs",
                                                           "dumpe2fs")),
                                reason="e2fsprogs (mke2fs, e2fsck, debugfs, dumpe2fs) needed")

MB = 1 << 20
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = b"every completed write\n" * 300


@pytest.fixture
def img(tmp_path) -> str:
    return kt.make_ext2_image(tmp_path / "disk.img", 8 * MB, mkfs="mke2fs")


async def mount_and_write(img: str) -> None:
    """Mount the image on /mnt, write a file and make a directory; no unmount."""
    await kt.mount_image(img)
    await kt.write_file("/mnt/file", DATA)
    await kt.mkdir_p("/mnt/dir")


def assert_written(img: str) -> None:
    """e2fsck -fn is clean, the file holds what was written, the directory is there."""
    kt.assert_e2fsck_clean(img)
    assert debugfs_cat(img, "/file") == DATA
    assert "Type: directory" in debugfs(img, "stat /dir")
    assert dumpe2fs_h(img)["Filesystem state"] == "clean"


# ------------------------------------------------------------------ the sync face

def test_with_block_ending_normally(img):
    with kern.boot(seed=1) as k:
        k.run(mount_and_write, img)
    assert k.state == "halted"
    assert_written(img)
    dmesg = k.dmesg()
    assert "syncing disks... done\n" in dmesg


def test_with_block_ending_by_an_exception(img):
    with pytest.raises(RuntimeError, match="the test failed"), kern.boot(seed=2) as k:
        k.run(mount_and_write, img)
        raise RuntimeError("the test failed")
    assert_written(img)


def test_keyboard_interrupt_raised_in_the_body(img):
    with pytest.raises(KeyboardInterrupt), kern.boot(seed=3) as k:
        k.run(mount_and_write, img)
        raise KeyboardInterrupt
    assert k.state == "halted"
    assert_written(img)


async def counter_writer(img: str, state: dict, started: threading.Event) -> None:
    """Mount, then overwrite /mnt/counter with the next number until a write fails
    (a tick's sleep between two writes, as a program doing other things would)."""
    from kern.kern_synch import kpause

    await mount_and_write(img)
    fd = await libc.open("/mnt/counter", O_WRONLY | O_CREAT, 0o644)
    n = 0
    while True:
        n += 1
        try:
            await libc.pwrite(fd, b"%08d\n" % n, 0)
        except SyscallError as e:
            state["error"] = e.errno
            return
        state["done"] = n
        if n == 20:
            started.set()
        await kpause("between", False, 1, None)


def test_keyboard_interrupt_while_k_run_waits(img, sigint_raises):
    """Ctrl-C reaches the test while an lwp is still writing: the halt syncs,
    unmounts (forcibly: the writer holds the file open) and the last write that
    returned is in the image."""
    state: dict = {}
    started = threading.Event()

    def interrupt() -> None:
        started.wait(60)
        _thread.interrupt_main()

    t = threading.Thread(target=interrupt)
    t.start()
    with pytest.raises(KeyboardInterrupt), \
            kern.boot(seed=4, verbose=True, console=io.StringIO()) as k:
        p = k.proc_create("writer", k.initproc)
        k.run(counter_writer, img, state, started, proc=p)
    t.join()
    assert k.state == "halted"
    assert state["done"] >= 20
    # the writer still had the file open: the plain unmount was refused
    assert "forcefully unmounted /dev/wd0 on /mnt type ext2fs\n" in k.dmesg()
    # (if the writer ran again before the machine stopped, its file was revoked)
    assert state.get("error", kern.EIO) in (kern.EIO, kern.EBADF)
    assert_written(img)
    assert debugfs_cat(img, "/counter") == b"%08d\n" % state["done"]


@pytest.fixture
def mounted_at_fini(monkeypatch) -> list:
    """What is mounted when rumpblk closes the host files (one list per call)."""
    import dev.rumpblk
    from vfs.mount import mountlist

    seen: list = []
    fini = dev.rumpblk.rumpblk_fini

    def spy() -> None:
        seen.append([bytes(mp.mnt_stat.f_mntonname) for mp in mountlist()])
        fini()

    monkeypatch.setattr(dev.rumpblk, "rumpblk_fini", spy)
    return seen


def test_halt_order_filesystems_before_disks(img, mounted_at_fini):
    """rumpblk's host files are closed after every file system is unmounted;
    the root (memory) stays."""
    with kern.boot(seed=5, verbose=True, console=io.StringIO()) as k:
        k.run(mount_and_write, img)
        async def inner() -> None:    # a second file system mounted inside the first
            await kt.mkdir_p("/mnt/dir/sub")
            await libc.mount("rootfs", "/mnt/dir/sub", 0)

        k.run(inner)
    assert mounted_at_fini == [[b"/"]]
    assert_written(img)
    dmesg = k.dmesg()
    # newest first (aprint_verbose), after the sync
    sync = dmesg.index("syncing disks... done\n")
    inner_at = dmesg.index("unmounted rootfs on /mnt/dir/sub type rootfs\n")
    outer_at = dmesg.index("unmounted /dev/wd0 on /mnt type ext2fs\n")
    assert sync < inner_at < outer_at


def test_halt_without_sync_is_rb_nosync(img, mounted_at_fini):
    """``halt(sync=False)``: nothing synced or unmounted, the disks closed all the
    same; the image left dirty is named, on the console before the disks close
    and in a DirtyHaltWarning, and it is indeed not clean."""
    from dev.rumpblk import _rumpblk

    k = kern.boot(seed=6)
    k.start()
    k.run(mount_and_write, img)
    with pytest.warns(kern.DirtyHaltWarning) as caught:
        k.halt(sync=False)
    assert mounted_at_fini == [[b"/", b"/mnt"]]
    assert "syncing disks" not in k.dmesg()
    assert all(r.rblk_fd == -1 for r in _rumpblk.of(k).minors)
    line = (f"host image {img} left dirty: /dev/wd0 on /mnt type ext2fs was mounted "
            f"read-write at a halt without sync (RB_NOSYNC): data not yet written is not "
            f"in it and it is not marked clean (fsck it)")
    assert [str(w.message) for w in caught] == \
        [f"halt(sync=False): 1 host image(s) left dirty:\n  {line}"]
    assert caught[0].filename == __file__     # pointed at the caller's halt()
    assert f"WARNING: {line}\n" in k.dmesg()
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"
    assert kt.e2fsck(img)[0] != 0


def test_clean_halts_name_no_dirty_image(img, tmp_path):
    """No DirtyHaltWarning, no "left dirty" line: a halt with sync (which
    unmounts), and a halt without sync whose only image is mounted read-only
    (nothing written: it stays clean) or that has no image mounted."""
    import warnings

    from vfs.mount import MNT_RDONLY

    async def mount_ro(img: str) -> None:
        await kt.mount_image(img, flags=MNT_RDONLY)

    with warnings.catch_warnings():
        warnings.simplefilter("error", kern.DirtyHaltWarning)
        for seed, setup, sync in ((8, mount_and_write, True), (9, mount_ro, False),
                                  (10, None, False)):
            k = kern.boot(seed=seed)
            k.start()
            if setup is not None:
                k.run(setup, img)
            k.halt(sync=sync)
            assert "left dirty" not in k.dmesg()
            kt.assert_e2fsck_clean(img)
            assert dumpe2fs_h(img)["Filesystem state"] == "clean"


def test_busy_file_system_is_unmounted_by_force(img, unmounts):
    """A process's current directory in the mount: the plain unmount is refused
    (EBUSY), the forced one goes; nothing written is lost."""
    with kern.boot(seed=7, verbose=True, console=io.StringIO()) as k:
        k.run(mount_and_write, img)
        p = k.proc_create("sh", k.initproc)

        k.run(libc.chdir, "/mnt/dir", proc=p)
    assert unmounts == [("/mnt", False, kern.EBUSY), ("/mnt", True, 0)]
    assert "forcefully unmounted /dev/wd0 on /mnt type ext2fs\n" in k.dmesg()
    assert_written(img)


# ------------------------------------------------------------------ devices

def test_config_detach_all_detaches_only_what_allows_it():
    """A pseudo-device with DVF_DETACH_SHUTDOWN is detached at the halt, one
    without (fss(4) 1.104's case) stays: config_detach says EOPNOTSUPP."""
    from kern.subr_autoconf import (
        DVF_DETACH_SHUTDOWN,
        DVF_PRIV_ALLOC,
        cfattach,
        cfdata,
        cfdriver,
        config_attach_pseudo,
        config_cfattach_attach,
        config_cfdriver_attach,
    )

    detached = []

    def det(dev, flags):
        detached.append((dev.dv_xname, flags))
        return 0

    async def attach() -> list:
        devs = []
        for name, flags in (("tsd", DVF_DETACH_SHUTDOWN), ("tkd", 0)):
            assert config_cfdriver_attach(cfdriver(name)) == 0
            ca = cfattach(name, 0, DVF_PRIV_ALLOC | flags, lambda *a: 1, lambda *a: None, det)
            assert config_cfattach_attach(name, ca) == 0
            devs.append(await config_attach_pseudo(cfdata(name, name, 0)))
        return devs

    with kern.boot(seed=8) as k:
        tsd, tkd = k.run(attach)
    from kern.subr_autoconf import DETACH_SHUTDOWN

    assert detached == [("tsd0", DETACH_SHUTDOWN)]
    assert tsd.dv_del_gen != 0 and tkd.dv_del_gen == 0
    assert "tsd0: detached\n" in k.dmesg()


# ------------------------------------------------------------------ crashes

def test_panic_syncs_nothing_and_names_the_images(img):
    async def crash() -> None:
        from kern.subr_prf import panic

        panic("test crash of %r", "the kernel")

    with kern.boot(seed=9) as k:
        k.run(mount_and_write, img)
        with pytest.raises(kern.KernelPanic) as ei:
            k.run(crash)
    msg = ei.value.message
    assert msg.splitlines()[0] == "panic: test crash of 'the kernel'"
    note = (f"host image {img} (/dev/wd0) may be inconsistent: the machine crashed "
            "without syncing or unmounting its file systems")
    assert note in msg.splitlines()
    assert ei.value.crash.notes == [note]
    # nothing was synced or unmounted: the super block still says "not clean"
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"
    assert "syncing disks" not in k.dmesg()


def test_deadlock_report_names_the_images(img):
    async def stuck() -> None:
        mtx, cv = kern.kmutex_t(), kern.kcondvar_t()
        kern.mutex_init(mtx, kern.MUTEX_DEFAULT, kern.IPL_NONE)
        kern.cv_init(cv, "forever")
        await kern.mutex_enter(mtx)
        await kern.cv_wait(cv, mtx)   # nobody signals it

    with kern.boot(seed=10) as k:
        k.run(mount_and_write, img)
        with pytest.raises(kern.Deadlock) as ei:
            k.run(stuck)
    assert f"host image {img} (/dev/wd0) may be inconsistent" in ei.value.message
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"


class StuckMemFS(MemFS):
    """A memfs whose server, once ``stuck`` is set (on it or on the class), never
    answers a sync (STATUS lists such a server as a way a halt deadlocks)."""

    stuck = False

    async def fs_sync(self, waitfor, cred, pid):
        if self.stuck:
            mtx, cv = kern.kmutex_t(), kern.kcondvar_t()
            kern.mutex_init(mtx, kern.MUTEX_DEFAULT, kern.IPL_NONE)
            kern.cv_init(cv, "stuck")
            await kern.mutex_enter(mtx)
            await kern.cv_wait(cv, mtx)   # nobody signals it
        return await super().fs_sync(waitfor, cred, pid)


@pytest.mark.parametrize("seed", [6, 52])
def test_a_server_dying_during_the_halts_unmount_loses_nothing(img, seed):
    """The halt's dounmount of a puffs mount suspends it; the server dies then
    and its close unmounts the same mount.  Before dounmount serialized on
    mnt_unmounting, the second unmount passed the "gone?" check, waited for
    vfs_suspend_lock and suspended the mount being torn down: with these seeds
    the halt left the puffs mount behind (ShutdownError); other seeds and
    setups hit a KASSERT in puffs_vfsop_sync or fstrans_unmount, a panic
    that syncs nothing.  Now the later one finds the mount gone (ENOENT);
    the image beside it is unmounted clean."""
    ops = DiesOnSuspendMemFS()

    async def mount_both(img: str) -> None:
        await mount_and_write(img)
        ops.server = (await kt.mount_memfs("/srv", ops=ops)).server

    with kern.boot(seed=seed, console=io.StringIO()) as k:
        k.run(mount_both, img)
    assert k.state == "halted"
    assert "still mounted" not in k.dmesg()
    assert_written(img)


async def stuck_server_then_image(img: str) -> None:
    """A puffs server on /srv, then the image on /mnt with a file written; then the
    server stops answering: the halt syncs /srv first and never gets to /mnt."""
    ops = StuckMemFS()
    await kt.mount_memfs("/srv", ops=ops)
    await mount_and_write(img)
    ops.stuck = True


def test_a_halt_that_deadlocks_says_so_and_names_the_image(img):
    """k.halt() used to return as if all was well: the crash is raised, saying
    it happened during the halt and which image may be inconsistent."""
    k = kern.boot(seed=17)
    k.start()
    k.run(stuck_server_then_image, img)
    with pytest.raises(kern.Deadlock) as ei:
        k.halt()
    assert k.state == "failed"
    msg = ei.value.message
    assert "sleeping on \"stuck\"" in msg          # the server, where it hangs
    assert ("the crash happened during the halt, before every file system was synced "
            "and unmounted") in msg.splitlines()
    assert f"host image {img} (/dev/wd0) may be inconsistent" in msg
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"
    k.halt()   # reported once: halting again is quiet


def test_a_with_block_whose_halt_deadlocks_raises_it_even_after_an_exception(img):
    with pytest.raises(kern.Deadlock) as ei, kern.boot(seed=18) as k:
        k.run(stuck_server_then_image, img)
        raise RuntimeError("the test failed first")
    assert isinstance(ei.value.__context__, RuntimeError)
    assert f"host image {img} (/dev/wd0) may be inconsistent" in ei.value.message


@pytest.mark.kemu
async def test_an_async_halt_that_deadlocks_raises_it(img):
    with pytest.raises(kern.Deadlock, match="during the halt"):
        async with kern.boot(seed=19) as k:
            await k.run(stuck_server_then_image, img)


def test_an_async_halt_that_deadlocks_says_so_without_waiting_out_its_patience(img):
    """Once the reboot request has left the intake, the halt's patience
    (HALT_START_PATIENCE) is no deadline of an outside task for the idle logic
    to wait for: the deadlock is declared at once.  (It used to stay pending:
    the idle logic, every lwp asleep, waited for it on trio's clock, and only
    then declared the deadlock.)  On a MockClock that jumps when every task is
    blocked, that wait shows as trio time gone by."""
    import kern.machine.machine as machine

    async def main() -> float:
        async with kern.boot(seed=19) as k:
            await k.run(stuck_server_then_image, img)
            t0 = trio.current_time()
            with pytest.raises(kern.Deadlock, match="during the halt"):
                await k.ahalt()
            return trio.current_time() - t0

    waited = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert waited < machine.HALT_START_PATIENCE / 2


def test_an_async_halt_from_inside_the_machine_says_so():
    """``await k.ahalt()`` from an lwp would wait for its own end (the reboot,
    then the kernel task's end, need the lwp gone): it raises RuntimeError and
    the host's halt then halts the machine.  (It hung: k.run never returned,
    and leaving ``async with`` waited, shielded, for the kernel for ever.)  Run
    in a daemon thread so that a hang fails the test instead of hanging it."""
    seen: list = []

    async def main() -> None:
        async with kern.boot(seed=3) as k:
            async def body() -> None:
                await k.ahalt()

            with pytest.raises(RuntimeError, match="inside the machine"):
                await k.run(body)
        seen.append(k.state)

    t = threading.Thread(target=trio.run, args=(main,), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "ahalt from an lwp hung"
    assert seen == ["halted"]


def test_two_concurrent_async_halts_both_return_once_halted(img):
    """Two host tasks await k.ahalt() at once: one reboots, the other waits
    for the kernel task's end; both return with the machine halted, the image
    clean, no second reboot waiting out HALT_START_PATIENCE (trio time on a
    MockClock).  Daemon thread: a hang fails the test instead of hanging it."""
    import kern.machine.machine as machine

    seen: list = []

    async def main() -> None:
        async with kern.boot(seed=3) as k:
            await k.run(mount_and_write, img)
            t0 = trio.current_time()

            async def halt() -> None:
                await k.ahalt()
                seen.append(k.state)

            async with trio.open_nursery() as n:
                n.start_soon(halt)
                n.start_soon(halt)
            seen.append(trio.current_time() - t0)

    t = threading.Thread(target=trio.run, args=(main,),
                         kwargs={"clock": trio.testing.MockClock(autojump_threshold=0)},
                         daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "two concurrent ahalts hung"
    assert seen[:2] == ["halted", "halted"]
    assert seen[2] < machine.HALT_START_PATIENCE / 2
    assert_written(img)


def test_halt_at_interpreter_exit_reports_its_crash(img):
    code = textwrap.dedent("""
        import sys
        import kern
        from tests.kern.test_halt import stuck_server_then_image

        k = kern.boot(seed=20)
        k.start()
        k.run(stuck_server_then_image, sys.argv[1])
    """)
    out = forkserver.run(["-c", code, img], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert "kemu: halting <Machine seed=20 failed> at exit: deadlock:" in out.stderr
    assert f"host image {img} (/dev/wd0) may be inconsistent" in out.stderr


@pytest.fixture
def dmesg_at_fini(monkeypatch) -> list:
    """The kernel's messages when rumpblk closes the host files (one string per call)."""
    import dev.rumpblk
    from kern.cpu import curmachine

    seen: list = []
    fini = dev.rumpblk.rumpblk_fini

    def spy() -> None:
        seen.append(curmachine().dmesg())
        fini()

    monkeypatch.setattr(dev.rumpblk, "rumpblk_fini", spy)
    return seen


def test_a_file_system_that_will_not_unmount_is_named_before_the_disks_close(
        img, dmesg_at_fini):
    """Even the forced unmount fails (every vfs_suspend fails): before the host
    files close, the console names the file system and its image, and halt()
    raises ShutdownError saying the same."""
    warning = (f"/dev/wd0 on /mnt type ext2fs could not be unmounted, even by force: "
               f"host image {img} may be inconsistent")
    k = kern.boot(seed=21)
    k.start()
    k.run(mount_and_write, img)
    k.faults.apply("vfs_suspend:error=EIO")
    with pytest.raises(kern.ShutdownError) as ei:
        k.halt()
    assert ei.value.message == f"halt: 1 file system(s) still mounted:\n  {warning}"
    assert k.state == "halted"
    assert dmesg_at_fini == [k.dmesg()]
    assert f"WARNING: {warning}\n" in dmesg_at_fini[0]
    # it was synced, so what was written is there; the super block says "not clean"
    assert debugfs_cat(img, "/file") == DATA
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"
    k.halt()   # reported once


def test_no_image_no_note():
    async def crash() -> None:
        from kern.subr_prf import panic

        panic("plain")

    with kern.boot(seed=11) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(crash)
    assert ei.value.message == "panic: plain"
    assert ei.value.crash.notes == []


# ------------------------------------------------------------------ the async face

@pytest.mark.kemu
async def test_async_with_ending_normally(img):
    async with kern.boot(seed=12) as k:
        await k.run(mount_and_write, img)
    assert_written(img)


@pytest.mark.kemu
async def test_async_with_ending_by_an_exception(img):
    with pytest.raises(ValueError):
        async with kern.boot(seed=13) as k:
            await k.run(mount_and_write, img)
            raise ValueError("body failed")
    assert_written(img)


@pytest.mark.kemu
async def test_async_with_ending_by_keyboard_interrupt(img):
    with pytest.raises(KeyboardInterrupt):
        async with kern.boot(seed=14) as k:
            await k.run(mount_and_write, img)
            raise KeyboardInterrupt
    assert k.state == "halted"
    assert_written(img)


@pytest.mark.kemu
async def test_async_with_cancelled(img):
    """The halt runs to its end inside a cancelled scope."""
    with trio.CancelScope() as cs:
        async with kern.boot(seed=15) as k:
            await k.run(mount_and_write, img)
            cs.cancel()
            await trio.sleep(1)
    assert cs.cancelled_caught
    assert k.state == "halted"
    assert_written(img)


@pytest.mark.kemu
async def test_async_halt_without_sync_names_the_dirty_image(img):
    """ahalt(sync=False) warns as halt(sync=False) does (the async face)."""
    async with kern.boot(seed=16) as k:
        await k.run(mount_and_write, img)
        with pytest.warns(kern.DirtyHaltWarning, match=re.escape(f"host image {img} left dirty")):
            await k.ahalt(sync=False)
        # ahalt returns once the kernel has ended, as halt() does (it joins the
        # machine's thread): leaving the block then halts nothing.  (The state
        # used to stay "running" until the kernel's task ended, so the block's
        # own ahalt put a second reboot request into a stopped kernel's intake
        # and waited out HALT_START_PATIENCE.)
        assert k.state == "halted"
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"


def test_run_once_without_sync_names_the_dirty_image(img):
    """run_once(..., sync=False): the one run's halt warns too."""
    with pytest.warns(kern.DirtyHaltWarning, match=re.escape(f"host image {img} left dirty")):
        kern.boot(seed=17).run_once(mount_and_write, img, sync=False)
    assert dumpe2fs_h(img)["Filesystem state"] == "not clean"


async def write_then_spin(img: str, started: threading.Event) -> None:
    """Mount and write, then loop in the kernel for ever: a mutex taken and
    released, never a sleep, never a return to user mode (a livelock)."""
    from kern.kern_mutex import kmutex_t, mutex_enter, mutex_exit, mutex_init

    await mount_and_write(img)
    mtx = kmutex_t()
    mutex_init(mtx, 0, 0)
    started.set()
    while True:
        await mutex_enter(mtx)
        mutex_exit(mtx)


async def nap_for_ever() -> None:
    """Sleep for ever in naps of a tick (kpause): a kernel sleep, never a
    return to user mode where suspendsched would stop the lwp."""
    from kern.kern_synch import kpause

    while True:
        await kpause("nap", False, 1, None)


async def write_then_nap(img: str, started: threading.Event) -> None:
    """Mount and write, then nap for ever."""
    await mount_and_write(img)
    started.set()
    await nap_for_ever()


async def write_then_getpid(img: str, started: threading.Event) -> None:
    """Mount and write, then compute for ever on system calls (never a sleep)."""
    await mount_and_write(img)
    started.set()
    while True:
        await libc.getpid()


@pytest.mark.parametrize("body", [write_then_nap, write_then_getpid, write_then_spin])
def test_halt_from_another_thread_cuts_k_run_short(img, body, monkeypatch):
    """k.halt() from another host thread while the main thread's k.run body
    naps, computes on system calls or loops in the kernel: the halt ends the
    machine, k.run raises MachineHalted, the image is synced and clean.  (The
    nap used to hang both for ever: the nap's idle logic resumed it without a
    trio step, so the halt's request never reached the machine; and then its
    callouts kept the machine from ever being quiescent.)"""
    import kern.machine.machine as machine

    monkeypatch.setattr(machine, "HALT_QUIESCE_PATIENCE", 0.1)   # (the spinning loop)
    started = threading.Event()
    errors: list = []

    def halter() -> None:
        started.wait(60)
        try:
            k.halt()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=halter)
    with pytest.raises(kern.MachineHalted), kern.boot(seed=6) as k:
        t.start()
        k.run(body, img, started)
    t.join()
    assert errors == []
    assert k.state == "halted"
    assert_written(img)


SPIN = textwrap.dedent("""
    import _thread, signal, sys, threading
    import kern
    import kern.machine.machine as machine
    from tests.kern.test_halt import write_then_spin

    machine.HALT_QUIESCE_PATIENCE = 0.1     # not 5 s of a spinning CPU per run
    # a terminal session's SIGINT even if the runner's is ignored (conftest's sigint_raises)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(60), _thread.interrupt_main())).start()
    try:
        with kern.boot(seed=5) as k:
            k.run(write_then_spin, sys.argv[1], started)
    except KeyboardInterrupt:
        print("interrupted:", k.state)
""")


def test_an_interrupt_while_the_kernel_loops_for_ever(img):
    """A kernel loop that never sleeps (what a test's timeout usually catches):
    the interrupt ends k.run's wait; the halt's request reaches the kernel at
    the loop's next preemption point (the host pokes the CPU), cpu_reboot
    syncs and unmounts, and since the loop never lets the CPU go idle, the
    machine then stops as it is instead of waiting for quiescence for ever
    (after HALT_QUIESCE_PATIENCE of a CPU that never went idle: shortened).
    (Run in a child process: on failure it would hang, past pytest-timeout.)"""
    out = forkserver.run(["-c", SPIN, img], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "interrupted: halted\n", out.stderr
    assert_written(img)


# ------------------------------------------------------------------ fixture, exit

FIXTURE_CASES = textwrap.dedent("""
    import os
    from tests.kern.test_halt import mount_and_write

    def test_passes(kernel):
        kernel.run(mount_and_write, os.environ["IMG1"])

    def test_fails(kernel):
        kernel.run(mount_and_write, os.environ["IMG2"])
        assert False, "a failing test"
""")


def test_kernel_fixture_halts_with_the_image_mounted(tmp_path):
    img1 = kt.make_ext2_image(tmp_path / "one.img", 8 * MB, mkfs="mke2fs")
    img2 = kt.make_ext2_image(tmp_path / "two.img", 8 * MB, mkfs="mke2fs")
    (tmp_path / "test_cases.py").write_text(FIXTURE_CASES)
    env = dict(os.environ, IMG1=img1, IMG2=img2,
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = run_pytest(tmp_path, "-q", "test_cases.py", env=env)
    assert "1 failed, 1 passed" in out.stdout, out.stdout + out.stderr
    assert_written(img1)
    assert_written(img2)


LEFT_RUNNING = textwrap.dedent("""
    import sys
    import kern
    from tests.kern.test_halt import mount_and_write

    k = kern.boot(seed=16)
    k.start()
    k.run(mount_and_write, sys.argv[1])
    print("left running:", k.state)
""")


def test_machine_left_running_at_interpreter_exit(img):
    out = forkserver.run(["-c", LEFT_RUNNING, img], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "left running: running\n"
    assert out.stderr == ""
    assert_written(img)


@pytest.mark.kemu
async def test_async_halt_cuts_a_napping_k_run_short(img, monkeypatch):
    """The async face's halt, with another task's k.run napping for ever: the
    halt ends, that k.run raises MachineHalted, the image is clean."""
    import kern.machine.machine as machine

    monkeypatch.setattr(machine, "HALT_START_PATIENCE", 0.2)   # (a kernel never idle)
    got: list = []

    async def napper(k: kern.Machine) -> None:
        try:
            await k.run(nap_for_ever)
        except kern.MachineHalted as e:
            got.append(e)

    async with kern.boot(seed=7) as k:
        await k.run(mount_and_write, img)
        async with trio.open_nursery() as n:
            n.start_soon(napper, k)
            await trio.testing.wait_all_tasks_blocked()
            await k.ahalt()
    assert len(got) == 1
    assert k.state == "halted"
    assert_written(img)
