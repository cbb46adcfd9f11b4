"""The plain-call fast paths of a file write (bread_nowait, genfs_getpage_nowait,
getblk's and biowait's common cases) change nothing a seed does: the same
schedule, trace and image as when every such call declines and the caller
awaits the whole function.  Both runs keep mutex_enter_nowait (pinned both ways
in tests/kern/test_sync.py) and ubc_uiomove's in-place unbusy of one page.

ext2fs's files are executed afresh for each machine (kobj_load), so the
replacements reach ext2fs through ``patch_loaded``: each copy a machine
loads gets them, and the test checks each ext2fs caller took its fast path."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

import kern
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC
from kern.machine.testing import attach_disk, make_ext2_image, mount_ext2
from tools.lib import libc

from .helpers import needs_e2fsprogs

pytestmark = needs_e2fsprogs


def patch_loaded(monkeypatch, name: str, make: Callable[[str], Any]) -> list[str]:
    """Set ``name`` to ``make(file)`` in every copy of an fs.ext2fs file (``file``:
    its name, "ext2fs_balloc") that binds ``name`` and that a machine loads from
    now on.  -> the files patched, as they load."""
    import kern.kern_module as km

    patched: list[str] = []

    def observe(machine, modules) -> None:
        for m in modules:
            pkg, _, file = m.__name__.rpartition(".")
            if pkg.endswith(".fs.ext2fs") and hasattr(m, name):
                monkeypatch.setattr(m, name, make(file))
                patched.append(file)

    monkeypatch.setattr(km, "kobj_load_observers", [*km.kobj_load_observers, observe])
    return patched


def _pattern(n: int, s: int) -> bytes:
    return bytes((i * 7 + s) & 0xFF for i in range(n))


def _sizes(i: int) -> list[int]:
    return [[4096, 65536, 5000, 70000][(i + j) % 4] for j in range(8 + 2 * i)]


def _expected(i: int) -> bytes:
    data = bytearray(b"".join(_pattern(n, i + j) for j, n in enumerate(_sizes(i))))
    data[3000:12000] = _pattern(9000, i)
    return bytes(data)


async def _writers(img: str) -> list[bytes]:
    """Three forked processes write, overwrite and read back files at once."""
    await attach_disk(img, "/dev/wd0")
    await mount_ext2()

    async def writer(i: int) -> int:
        fd = await libc.open(f"/mnt/f{i}", O_RDWR | O_CREAT | O_TRUNC, 0o644)
        for j, n in enumerate(_sizes(i)):
            await libc.write(fd, _pattern(n, i + j))
        await libc.pwrite(fd, _pattern(9000, i), 3000)
        if i == 1:
            await libc.fsync(fd)
        await libc.close(fd)
        return 0

    pids = [await libc.fork(writer, i) for i in range(3)]
    await libc.sync()
    for pid in pids:
        assert (await libc.waitpid(pid))[1] == 0
    out = []
    for i in range(3):
        fd = await libc.open(f"/mnt/f{i}", O_RDONLY)
        data = b""
        while chunk := await libc.read(fd, 65536):
            data += chunk
        await libc.close(fd)
        out.append(data)
    await libc.unmount("/mnt", 0)
    return out


@pytest.mark.parametrize("seed", [1, 4])
def test_nowait_paths_leave_a_seeds_run_as_the_awaited_calls_make_it(tmp_path, monkeypatch,
                                                                       seed):
    import vfs.genfs_io as gi
    import vfs.vfs_bio as vb

    tmpl = str(tmp_path / "t.img")
    make_ext2_image(tmpl, 16 << 20, block=4096)
    # plain calls that did the work, by caller ("vfs_bio", "genfs_io", or ext2fs's file)
    taken: Counter = Counter()
    real_bread, real_page = vb.bread_nowait, gi.genfs_getpage_nowait
    real_idle, real_done = vb._getblk_idle, vb._biowait_done

    def counted(real, what: str, where: str):
        def call(*a, **kw):
            out = real(*a, **kw)
            taken[what, where] += out is not None
            return out
        return call

    def declined(*a, **kw):
        return None

    real_exit = vb.mutex_exit
    import kern.kern_module as km
    observers = km.kobj_load_observers

    def run(nowait: bool) -> tuple[str, list[str], list[bytes], bytes, Counter]:
        monkeypatch.setattr(km, "kobj_load_observers", list(observers))  # (this run's only)
        # Every mutex the buffer and page caches release, by lock class: the
        # same locks taken and released either way.
        exits: Counter = Counter()

        def counted_exit(mtx):
            exits[mtx.lock_class.name if mtx.lock_class else "?"] += 1
            real_exit(mtx)

        for mod in (vb, gi):
            monkeypatch.setattr(mod, "mutex_exit", counted_exit)

        def bread_nowait(where: str):
            return counted(real_bread, "bread", where) if nowait else declined

        def page_nowait(where: str):
            return counted(real_page, "page", where) if nowait else declined

        monkeypatch.setattr(vb, "bread_nowait", bread_nowait("vfs_bio"))
        monkeypatch.setattr(gi, "genfs_getpage_nowait", page_nowait("genfs_io"))
        breads = patch_loaded(monkeypatch, "bread_nowait", bread_nowait)
        pages = patch_loaded(monkeypatch, "genfs_getpage_nowait", page_nowait)
        monkeypatch.setattr(vb, "_getblk_idle", real_idle if nowait else (lambda bc, bp: False))
        monkeypatch.setattr(vb, "_biowait_done", real_done if nowait else (lambda bp: None))
        img = str(tmp_path / f"{nowait}.img")
        shutil.copy(tmpl, img)
        with kern.boot(seed=seed, trace=True) as k:
            files = k.run(_writers, img, proc=k.proc_create("w", k.initproc))
            sched, trace = k.schedule, list(k.trace)
        # the machine's ext2fs got the replacements
        assert sorted(breads) == ["ext2fs_alloc", "ext2fs_balloc"], breads
        assert pages == ["ext2fs_balloc"], pages
        with open(img, "rb") as f:
            return sched, trace, files, f.read(), exits

    on, off = run(True), run(False)
    # the fast paths were taken, ext2fs's own calls among them
    for key in (("bread", "vfs_bio"), ("bread", "ext2fs_alloc"), ("bread", "ext2fs_balloc"),
                ("page", "genfs_io"), ("page", "ext2fs_balloc")):
        assert taken[key] > 0, (key, taken)
    assert on[2] == [_expected(i) for i in range(3)]
    assert on[0] == off[0]  # the schedule string
    assert on[1] == off[1] and on[1]  # the trace
    assert on[2] == off[2]  # what the files hold
    assert on[3] == off[3]  # the image, byte for byte
    assert on[4] == off[4] and sum(on[4].values()) > 1000  # the same lock pairs


def _writers_run(tmp_path, tmpl: str, name: str) -> tuple[str, list[str], list[bytes], bytes]:
    """The three writers on a copy of the image ``tmpl``, in a machine of seed 1
    with the trace on: its schedule string, trace, the files and the image."""
    img = str(tmp_path / f"{name}.img")
    shutil.copy(tmpl, img)
    with kern.boot(seed=1, trace=True) as k:
        files = k.run(_writers, img, proc=k.proc_create("w", k.initproc))
        sched, trace = k.schedule, list(k.trace)
    with open(img, "rb") as f:
        return sched, trace, files, f.read()


def test_a_host_call_inside_bread_nowait_changes_nothing_a_seed_does(tmp_path, monkeypatch):
    """A host thread may queue a call for the machine (its host_poke turns the
    CPU's slow path on) between bread_nowait's two bufcache_lock pairs: then
    bread_nowait declines, having done nothing, and its caller (bread, ext2fs's
    block allocation and indirect-block walk) awaits bread, whose preemption
    point takes the host's call.  With such a call at every bread_nowait the
    writers' run is the one without any: the same schedule, trace, files and
    image.  (bread_nowait panicked "bufcache_lock not free again at once"; a
    shell's ``exit`` while a dd wrote on did it in a loaded run.)"""
    from .helpers import host_call_in_bread_nowait

    tmpl = str(tmp_path / "t.img")
    make_ext2_image(tmpl, 16 << 20, block=4096)

    def run(poke: bool) -> tuple[str, list[str], list[bytes], bytes]:
        return _writers_run(tmp_path, tmpl, str(poke))

    off = run(False)
    posted, ran = host_call_in_bread_nowait(monkeypatch, every=True)
    on = run(True)
    # ext2fs's own calls were caught in the middle too, and every call ran
    assert {"bread", "ext2fs_alloccg_nowait", "ext2fs_balloc"} <= set(posted), Counter(posted)
    assert len(ran) == len(posted)
    assert on[2] == [_expected(i) for i in range(3)]
    assert on[0] == off[0]  # the schedule string
    assert on[1] == off[1] and on[1]  # the trace
    assert on[2] == off[2]  # what the files hold
    assert on[3] == off[3]  # the image, byte for byte


def test_a_host_call_after_any_nowait_lock_changes_nothing_a_seed_does(tmp_path, monkeypatch):
    """Every plain-call fast path that takes a lock with mutex_enter_nowait
    (bread_nowait and getblk's and biowait's common cases, genfs_getpage_nowait,
    uvm_vnp_setsize_nowait and setwritesize_nowait, ext2fs_write's write-behind,
    cv_wait's relock) may find the CPU's slow path turned on by a host thread
    (host_poke) at its next step: none may count on a second nowait lock
    succeeding because the first did.  A host call queued just after every
    lock such a call takes leaves the writers' run as it is without any: the
    same schedule, trace, files and image, each call run in the machine."""
    import sys
    import threading

    import kern.kern_condvar as kc
    import vfs.genfs_io as gi
    import vfs.vfs_bio as vb

    tmpl = str(tmp_path / "t.img")
    make_ext2_image(tmpl, 16 << 20, block=4096)
    real = vb.mutex_enter_nowait
    posted: Counter = Counter()
    ran: list[bool] = []

    def poking(mtx, depth=1, at=None):
        took = real(mtx, depth + 1, at)  # (the site is still the caller's)
        if took:
            posted[sys._getframe(1).f_code.co_name] += 1
            t = threading.Thread(target=kern.curmachine().call_soon,
                                 args=(lambda: ran.append(True),))
            t.start()
            t.join()
        return took

    patched: list[list[str]] = []

    def run(poke: bool) -> tuple[str, list[str], list[bytes], bytes]:
        if poke:
            for mod in (vb, gi, kc):
                monkeypatch.setattr(mod, "mutex_enter_nowait", poking)
            patched.append(patch_loaded(monkeypatch, "mutex_enter_nowait", lambda file: poking))
        return _writers_run(tmp_path, tmpl, str(poke))

    off, on = run(False), run(True)
    # the fast paths' locks were followed by host calls, ext2fs's own among
    # them, and every call ran
    assert patched == [["ext2fs_readwrite"]], patched
    assert {"_getblk_idle", "_biowait_done", "genfs_getpage_nowait",
            "uvm_vnp_setsize_nowait", "uvm_vnp_setwritesize_nowait"} <= set(posted), posted
    assert len(ran) == sum(posted.values())
    assert on[2] == [_expected(i) for i in range(3)]
    assert on[0] == off[0]  # the schedule string
    assert on[1] == off[1] and on[1]  # the trace
    assert on[2] == off[2]  # what the files hold
    assert on[3] == off[3]  # the image, byte for byte
