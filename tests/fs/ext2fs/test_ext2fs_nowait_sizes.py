"""uvm_vnp_setwritesize_nowait and uvm_vnp_setsize_nowait (the plain calls a
file write makes for each block it extends the file by) change nothing a seed
does: the same schedule, trace, files and image as when each declines and the
caller awaits uvm_vnp_setwritesize/uvm_vnp_setsize.  The workload also shrinks
files (ftruncate below the last pages, then grows them again), which the
plain uvm_vnp_setsize must leave to the coroutine: the pages past the new EOF
go and the new last page's tail reads as zeros."""

from __future__ import annotations

import shutil

import pytest

import kern
from kern.fcntl import O_CREAT, O_RDWR, O_TRUNC
from kern.machine.testing import attach_disk, make_ext2_image, mount_ext2
from tools.lib import libc

from .helpers import needs_e2fsprogs
from .test_ext2fs_nowait import _expected, _writers, patch_loaded

pytestmark = needs_e2fsprogs


async def _shrink_and_grow() -> bytes:
    """Three pages of 0xAA, cut to 5000 bytes, one byte written at 12000: what reads back."""
    await mount_ext2()
    fd = await libc.open("/mnt/s", O_RDWR | O_CREAT | O_TRUNC, 0o644)
    await libc.write(fd, b"\xaa" * 12288)
    await libc.ftruncate(fd, 5000)
    await libc.pwrite(fd, b"\x55", 12000)
    data = await libc.pread(fd, 20000, 0)
    await libc.close(fd)
    await libc.unmount("/mnt", 0)
    return data


async def _workload(img: str) -> tuple[list[bytes], bytes]:
    files = await _writers(img)
    return files, await _shrink_and_grow()


@pytest.mark.parametrize("seed", [2, 5])
def test_size_nowait_paths_leave_a_seeds_run_as_the_awaited_calls_make_it(tmp_path,
                                                                           monkeypatch, seed):
    import kern.kern_module as km
    import vfs.genfs_io as gi

    observers = km.kobj_load_observers
    tmpl = str(tmp_path / "t.img")
    make_ext2_image(tmpl, 16 << 20, block=4096)
    taken = {"writesize": 0, "size": 0}
    real_ws, real_s = gi.uvm_vnp_setwritesize_nowait, gi.uvm_vnp_setsize_nowait

    def counted_ws(vp, n):
        ok = real_ws(vp, n)
        taken["writesize"] += ok
        return ok

    def counted_s(vp, n):
        ok = real_s(vp, n)
        taken["size"] += ok
        return ok

    def run(nowait: bool) -> tuple[str, list[str], tuple[list[bytes], bytes], bytes]:
        ws = counted_ws if nowait else (lambda vp, n: False)
        s = counted_s if nowait else (lambda vp, n: False)
        monkeypatch.setattr(gi, "uvm_vnp_setwritesize_nowait", ws)
        monkeypatch.setattr(gi, "uvm_vnp_setsize_nowait", s)
        monkeypatch.setattr(km, "kobj_load_observers", list(observers))  # (this run's only)
        patched = (patch_loaded(monkeypatch, "uvm_vnp_setwritesize_nowait", lambda f: ws),
                   patch_loaded(monkeypatch, "uvm_vnp_setsize_nowait", lambda f: s))
        img = str(tmp_path / f"{nowait}.img")
        shutil.copy(tmpl, img)
        with kern.boot(seed=seed, trace=True) as k:
            out = k.run(_workload, img, proc=k.proc_create("w", k.initproc))
            sched, trace = k.schedule, list(k.trace)
        assert patched == (["ext2fs_readwrite"],) * 2  # the machine's ext2fs got them
        with open(img, "rb") as f:
            return sched, trace, out, f.read()

    on, off = run(True), run(False)
    assert taken["writesize"] > 10 and taken["size"] > 10, taken  # the fast paths were taken
    files, shrunk = on[2]
    assert files == [_expected(i) for i in range(3)]
    assert shrunk == b"\xaa" * 5000 + bytes(7000) + b"\x55"
    assert on[0] == off[0]  # the schedule string
    assert on[1] == off[1] and on[1]  # the trace
    assert on[2] == off[2]  # what the files hold
    assert on[3] == off[3]  # the image, byte for byte


def test_balloc_range_wakes_a_waiter_of_its_one_page(tmp_path, monkeypatch):
    """ufs_balloc_range unbusies a single page in place only when nobody waits
    for it: a page someone marked PG_WANTED while the blocks were allocated
    goes through uvm_page_unbusy, which wakes the waiters ("genput") before
    ufs_balloc_range returns."""
    import vfs.genfs_io as gi

    img = str(tmp_path / "w.img")
    make_ext2_image(img, 16 << 20, block=4096)
    real_bcast = gi.cv_broadcast
    real: dict = {}
    marked: list = []
    woken: list = []
    seen: list = []

    async def gop_alloc(vp, off, len_, flags, cred):
        if off == 8192 and not marked:
            pg = vp.v_uobj.uo_pages[off]  # busy: ufs_balloc_range holds it
            assert pg.flags & gi.PG_BUSY
            pg.flags |= gi.PG_WANTED  # as genfs_getpage_busy's waiter leaves it
            marked.append(pg)
        return await real["gop_alloc"](vp, off, len_, flags, cred)

    async def balloc_range(vp, off, len_, cred, flags):
        error = await real["balloc_range"](vp, off, len_, cred, flags)
        if marked and not seen:  # the call that found the page marked, as it returns
            seen.append((bool(woken), marked[0].flags))
        return error

    def bcast(cv):
        if marked and not seen and cv is marked[0].uobject.uo_cv:
            woken.append(True)
        real_bcast(cv)

    from kern.kern_module import kobj_load_observers

    def observe(machine, modules) -> None:
        for m in modules:
            if m.__name__.endswith(".fs.ext2fs.ext2fs_balloc"):
                real["gop_alloc"] = m.ext2fs_gop_alloc
                monkeypatch.setattr(m, "ext2fs_gop_alloc", gop_alloc)
            if m.__name__.endswith(".fs.ext2fs.ext2fs_readwrite"):
                real["balloc_range"] = m.ufs_balloc_range
                monkeypatch.setattr(m, "ufs_balloc_range", balloc_range)

    monkeypatch.setattr("kern.kern_module.kobj_load_observers",
                        [*kobj_load_observers, observe])
    monkeypatch.setattr(gi, "cv_broadcast", bcast)

    async def body() -> bytes:
        await attach_disk(img, "/dev/wd0")
        await mount_ext2()
        fd = await libc.open("/mnt/f", O_RDWR | O_CREAT | O_TRUNC, 0o644)
        await libc.write(fd, b"\x11" * 16384)
        data = await libc.pread(fd, 16384, 0)
        await libc.close(fd)
        await libc.unmount("/mnt", 0)
        return data

    with kern.boot(seed=0) as k:
        assert k.run(body, proc=k.proc_create("w", k.initproc)) == b"\x11" * 16384
    assert seen, "the page was not marked"
    was_woken, flags = seen[0]
    assert was_woken  # the waiter was woken ...
    assert not flags & (gi.PG_BUSY | gi.PG_WANTED)  # ... and the page let go
