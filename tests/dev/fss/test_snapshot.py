"""NetBSD's rump tests/fs/common/snapshot.c (``snapshot``, ``snapshotstress``) on ext2.

NetBSD runs them on FFS with a persistent snapshot (the backing store on
the snapshotted file system).  ext2 has no VFS_SNAPSHOT, so here the
backing store lives on the root file system, which makes the snapshots
non-persistent; a separate test pins EOPNOTSUPP for the persistent request.
``fsck_ffs -fn`` becomes ``e2fsck -fn`` on the snapshot device's contents
copied to a host file.
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

import kern
from kern.errno import ENOENT
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY
from kern.kern_synch import yield_
from kern.machine import testing as kt
from kern.machine.testing import MiB
from tools.lib import libc
from vfs.mount import MNT_RDONLY


def test_snapshot(tmp_path):
    img = kt.make_ext2_image(str(tmp_path / "ffs.img"), 5 * MiB)
    snapimg = str(tmp_path / "snap.img")

    async def body():
        await kt.mount_image(img, "/mnt")
        # Write "huihai\n" to /mnt/myfile and keep it open.
        fd = await libc.open("/mnt/myfile", O_RDWR | O_CREAT, 0o777)
        assert await libc.write(fd, b"huihai\n") == 7
        fssfd = await libc.open("/dev/rfss0", O_RDWR)
        await kt.fss_set_ioctl(fssfd, "/mnt", "/le_snapp")
        for _ in range(10000):
            await libc.write(fd, b"baana liten\n")
        await libc.sync()
        await kt.mount_ext2("/dev/fss0", "/snap", MNT_RDONLY)
        assert await kt.read_file("/snap/myfile") == b"huihai\n"
        fd2 = await libc.open("/mnt/newfile", O_RDWR | O_CREAT, 0o777)
        await libc.close(fd2)
        with pytest.raises(SyscallError) as ei:
            await libc.open("/snap/newfile", O_RDONLY)
        assert ei.value.errno == ENOENT
        await libc.unlink("/mnt/myfile")
        fd3 = await libc.open("/snap/myfile", O_RDONLY)
        await libc.close(fd3)
        await libc.close(fd)
        await libc.unmount("/snap", 0)
        return await kt.dump_device("/dev/rfss0", snapimg)

    with kern.boot(seed=1) as k:
        n = k.run(body)
    assert n == 5 * MiB
    kt.assert_e2fsck_clean(snapimg)


# ---------------------------------------------------------------- snapshotstress
#
# Four lwps keep creating and removing /mnt/a<n>/d<0..4>/f<0..4> while the
# snapshot is taken.  Every change a worker makes is one system call whose
# change is one vnode operation, and a suspension falls between vnode
# operations (each runs inside an fstrans transaction).  So the snapshot
# must show each worker's subtree exactly as it was after some number k of
# that worker's operations, with k between the operations it had finished
# when FSSIOCSET was issued and those it had started when FSSIOCSET
# returned.  The test replays each worker's program to check that, and
# e2fsck checks the image.

NTHREADS = 4
NDIRS = 5
NFILES = 5


def _program(n: int):
    """Worker n's operations, forever: (op, path, data)."""
    base = f"/a{n}"
    yield ("mkdir", base, None)
    i = 0
    while True:
        d = f"{base}/d{i % NDIRS}"
        yield ("mkdir", d, None)
        for j in range(NFILES):
            yield ("create", f"{d}/f{j}", None)
            yield ("write", f"{d}/f{j}", f"{n}:{i}:{j}\n".encode() * (j + 1))
        for j in range(NFILES):
            yield ("unlink", f"{d}/f{j}", None)
        yield ("rmdir", d, None)
        i += 1


def _state_after(n: int, k: int) -> dict[str, bytes | None]:
    state: dict[str, bytes | None] = {}
    for _, (op, path, data) in zip(range(k), _program(n), strict=False):
        if op == "mkdir":
            state[path] = None
        elif op == "create":
            state[path] = b""
        elif op == "write":
            state[path] = data
        else:
            del state[path]
    return state


async def _worker(n: int, stop: trio.Event, log: dict) -> None:
    log[n] = {"started": 0, "done": 0}
    for op, path, data in _program(n):
        if stop.is_set():
            return
        log[n]["started"] += 1
        p = "/mnt" + path
        if op == "mkdir":
            await libc.mkdir(p, 0o777)
        elif op == "create":
            fd = await libc.open(p, O_WRONLY | O_CREAT, 0o666)
        elif op == "write":
            await libc.write(fd, data)
            await libc.close(fd)
        elif op == "unlink":
            await libc.unlink(p)
        else:
            await libc.rmdir(p)
        log[n]["done"] += 1


async def _walk(root: str) -> dict[str, bytes | None]:
    """Every file and directory under ``root``: path -> contents (None for directories)."""
    out: dict[str, bytes | None] = {}
    stack = [""]
    while stack:
        rel = stack.pop()
        for _ino, name, _type in await libc.listdir(root + (rel or "/")):
            if name in (".", "..", "lost+found"):
                continue
            path = f"{rel}/{name}"
            st = await libc.lstat(root + path)
            if st.st_mode & 0o170000 == 0o040000:
                out[path] = None
                stack.append(path)
            else:
                out[path] = await kt.read_file(root + path)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_snapshotstress(tmp_path, seed):
    img = kt.make_ext2_image(str(tmp_path / "ffs.img"), 8 * MiB)
    snapimg = str(tmp_path / "snap.img")

    async def main():
        async with kern.boot(seed=seed) as k:
            await k.run(kt.mount_image, img, "/mnt")
            stop = trio.Event()
            log: dict = {}
            window: dict = {}

            async def rounds(n: int) -> None:
                # Virtual time stands still while the workers are busy, so
                # wait for work done, not for time.
                target = {w: log.get(w, {}).get("done", 0) + n for w in range(NTHREADS)}
                while any(log.get(w, {}).get("done", 0) < target[w] for w in range(NTHREADS)):
                    await yield_()

            async def snapshotter():
                await rounds(15)  # let the workers get going
                fd = await libc.open("/dev/rfss0", O_RDWR)
                window["from"] = {w: log[w]["done"] for w in range(NTHREADS)}
                await kt.fss_set_ioctl(fd, "/mnt", "/le_snapp")
                window["to"] = {w: log[w]["started"] for w in range(NTHREADS)}
                await rounds(15)  # and keep going for a while after the snapshot
                stop.set()
                return fd

            async with trio.open_nursery() as nursery:
                for n in range(NTHREADS):
                    nursery.start_soon(lambda n=n: k.run(_worker, n, stop, log,
                                                         name=f"worker{n}"))
                await k.run(snapshotter)
            await k.run(kt.mount_ext2, "/dev/fss0", "/snap", MNT_RDONLY)
            snap_tree = await k.run(_walk, "/snap")
            await k.run(libc.unmount, "/snap", 0)
            await k.run(kt.dump_device, "/dev/rfss0", snapimg)
            return snap_tree, window

    snap_tree, window = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    for n in range(NTHREADS):
        sub = {p: v for p, v in snap_tree.items() if p == f"/a{n}" or
               p.startswith(f"/a{n}/")}
        lo, hi = window["from"][n], window["to"][n]
        assert lo >= 15
        matches = [k for k in range(lo, hi + 1) if _state_after(n, k) == sub]
        assert matches, (f"worker {n}: the snapshot shows {sorted(sub)}, which is no state "
                         f"between its operations {lo} and {hi}")
    # Nothing but the workers' subtrees.
    assert all(p.split("/")[1] in {f"a{n}" for n in range(NTHREADS)} for p in snap_tree)
    kt.assert_e2fsck_clean(snapimg)
