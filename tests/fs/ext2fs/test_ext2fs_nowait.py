"""The plain-call fast paths of a file write (bread_nowait, genfs_getpage_nowait,
getblk's and biowait's common cases) change nothing a seed does: the same
schedule, trace and image as when every such call declines and the caller
awaits the whole function.  Both runs keep mutex_enter_nowait (pinned both ways
in tests/kern/test_sync.py) and ubc_uiomove's in-place unbusy of one page."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

import kern
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC
from kern.machine.testing import attach_disk, make_ext2_image, mount_ext2
from tools.lib import libc

from .helpers import needs_e2fsprogs

pytestmark = needs_e2fsprogs


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
    import fs.ext2fs.ext2fs_alloc as ea
    import fs.ext2fs.ext2fs_balloc as eb
    import vfs.genfs_io as gi
    import vfs.vfs_bio as vb

    tmpl = str(tmp_path / "t.img")
    make_ext2_image(tmpl, 16 << 20, block=4096)
    taken = {"bread": 0, "page": 0}
    real_bread, real_page = vb.bread_nowait, gi.genfs_getpage_nowait
    real_idle, real_done = vb._getblk_idle, vb._biowait_done

    def counted_bread(*a, **kw):
        bp = real_bread(*a, **kw)
        taken["bread"] += bp is not None
        return bp

    def counted_page(*a, **kw):
        pg = real_page(*a, **kw)
        taken["page"] += pg is not None
        return pg

    real_exit = vb.mutex_exit

    def run(nowait: bool) -> tuple[str, list[str], list[bytes], bytes, Counter]:
        # Every mutex the buffer and page caches release, by lock class: the
        # same locks taken and released either way.
        exits: Counter = Counter()

        def counted_exit(mtx):
            exits[mtx.lock_class.name if mtx.lock_class else "?"] += 1
            real_exit(mtx)

        for mod in (vb, gi):
            monkeypatch.setattr(mod, "mutex_exit", counted_exit)
        bread_nowait = counted_bread if nowait else (lambda *a, **kw: None)
        for mod in (vb, ea, eb):
            monkeypatch.setattr(mod, "bread_nowait", bread_nowait)
        page_nowait = counted_page if nowait else (lambda *a, **kw: None)
        for mod in (gi, eb):
            monkeypatch.setattr(mod, "genfs_getpage_nowait", page_nowait)
        monkeypatch.setattr(vb, "_getblk_idle", real_idle if nowait else (lambda bc, bp: False))
        monkeypatch.setattr(vb, "_biowait_done", real_done if nowait else (lambda bp: None))
        img = str(tmp_path / f"{nowait}.img")
        shutil.copy(tmpl, img)
        with kern.boot(seed=seed, trace=True) as k:
            files = k.run(_writers, img, proc=k.proc_create("w", k.initproc))
            sched, trace = k.schedule, list(k.trace)
        with open(img, "rb") as f:
            return sched, trace, files, f.read(), exits

    on, off = run(True), run(False)
    assert taken["bread"] > 0 and taken["page"] > 0  # the fast paths were taken
    assert on[2] == [_expected(i) for i in range(3)]
    assert on[0] == off[0]  # the schedule string
    assert on[1] == off[1] and on[1]  # the trace
    assert on[2] == off[2]  # what the files hold
    assert on[3] == off[3]  # the image, byte for byte
    assert on[4] == off[4] and sum(on[4].values()) > 1000  # the same lock pairs
