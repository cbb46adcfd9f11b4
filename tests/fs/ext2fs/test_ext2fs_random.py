"""Random sequences of file operations on a small (soon full) ext2 image, checked against
a model of what the files should hold, then by e2fsck and debugfs."""

from __future__ import annotations

import random

import pytest

from kern.errno import EEXIST, ENOSPC, ENOTEMPTY

from .helpers import (
    boot,
    check,
    debugfs_cat,
    e2fsck,
    link,
    mkdir,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    read_file,
    rename,
    rmdir,
    truncate,
    umount,
    unlink,
    write_file,
)

pytestmark = needs_e2fsprogs


class Model:
    """Names -> contents, with hard links sharing one file."""

    def __init__(self) -> None:
        self.files: dict[str, object] = {}   # name -> file identity
        self.data: dict[object, bytes] = {}  # identity -> contents
        self.dirs = ["/mnt"]

    def names(self) -> list[str]:
        return list(self.files)

    def set(self, name: str, data: bytes) -> None:
        ident = self.files.setdefault(name, object())
        self.data[ident] = data

    def get(self, name: str) -> bytes:
        return self.data[self.files[name]]


async def run_ops(rng: random.Random, m: Model, nops: int) -> None:
    for step in range(nops):
        op = rng.choice(["write", "write", "append", "overwrite", "trunc", "mkdir", "unlink",
                         "rename", "rmdir", "link", "remount"])
        names = m.names()
        if op == "write":
            p = rng.choice(m.dirs) + f"/f{rng.randrange(30)}"
            if p in m.dirs:
                continue
            data = pattern(rng.choice([0, 1, 1024, 4096, 5000, 20000, 150000, 400000]), step)
            e = await write_file(p, data, trunc=True)
            if e == ENOSPC:
                e, data = await read_file(p)  # whatever made it
            check(e, f"write {p}")
            m.set(p, data)
        elif op in ("append", "overwrite") and names:
            p = rng.choice(names)
            old = m.get(p)
            data = pattern(rng.randrange(1, 9000), step)
            off = len(old) if op == "append" else rng.randrange(0, len(old) + 3000)
            e = await write_file(p, data, offset=off, create=False, append=op == "append")
            if e == ENOSPC:
                e, new = await read_file(p)
            else:
                new = old + bytes(max(0, off - len(old)))
                new = new[:off] + data + new[off + len(data):]
            check(e, f"{op} {p}")
            m.set(p, new)
        elif op == "trunc" and names:
            p = rng.choice(names)
            n = rng.randrange(0, len(m.get(p)) + 10000)
            check(await truncate(p, n), f"truncate {p}")
            m.set(p, (m.get(p) + bytes(n))[:n])
        elif op == "mkdir":
            p = rng.choice(m.dirs) + f"/d{rng.randrange(6)}"
            e = await mkdir(p)
            if p in m.dirs or p in m.files:
                assert e == EEXIST
            elif e != ENOSPC:
                check(e, f"mkdir {p}")
                m.dirs.append(p)
        elif op == "unlink" and names:
            p = rng.choice(names)
            check(await unlink(p), f"unlink {p}")
            del m.files[p]
        elif op == "link" and names:
            p = rng.choice(names)
            q = rng.choice(m.dirs) + f"/l{rng.randrange(20)}"
            e = await link(p, q)
            if q in m.files or q in m.dirs:
                assert e == EEXIST
            elif e != ENOSPC:
                check(e, f"link {p} {q}")
                m.files[q] = m.files[p]
        elif op == "rmdir" and len(m.dirs) > 1:
            p = rng.choice(m.dirs[1:])
            e = await rmdir(p)
            busy = any(n.startswith(p + "/") for n in m.names() + m.dirs)
            if busy:
                assert e == ENOTEMPTY
            else:
                check(e, f"rmdir {p}")
                m.dirs.remove(p)
        elif op == "rename" and names:
            p = rng.choice(names)
            q = rng.choice(m.dirs) + f"/r{rng.randrange(20)}"
            if q in m.dirs:
                continue
            e = await rename(p, q)
            if e == ENOSPC:
                continue
            check(e, f"rename {p} {q}")
            if q == p:
                continue
            # (two names of one file: NetBSD drops the source name, as here)
            m.files[q] = m.files.pop(p)
        elif op == "remount":
            check(await umount())
            check(await mount(None))


@pytest.mark.parametrize("bsize,seed", [(1024, 1), (4096, 2)])
def test_random_operations_full_fs(tmp_path, bsize, seed):
    img = mkfs(str(tmp_path / "x.img"), 900_000 if bsize == 1024 else 1_200_000, bsize)
    rng = random.Random(seed)
    m = Model()

    async def body():
        check(await mount(img))
        await run_ops(rng, m, 250)
        for p in m.names():
            assert await read_file(p) == (0, m.get(p)), p
        check(await umount())

    with boot(seed=seed) as k:
        k.run(body)
        assert "file system full" in k.dmesg()  # the image filled up on the way
    rc, out = e2fsck(img)
    assert rc == 0, out
    for p in m.names()[:20]:
        assert debugfs_cat(img, p[len("/mnt"):]) == m.get(p), p


class _NoRemount:
    """The operation picker of run_ops, without unmounts (other lwps are busy)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, seq):  # noqa: ANN001, ANN201 - mirrors random.Random.choice
        while True:
            c = self.rng.choice(seq)
            if c != "remount":
                return c

    def randrange(self, *a: int) -> int:
        return self.rng.randrange(*a)


@pytest.mark.parametrize("seed", [3])
def test_concurrent_random_operations_with_a_busy_pagedaemon(tmp_path, seed):
    """Three lwps at once while the page daemon writes pages back all the time."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
    from vfs.uvm import uvmexp

    img = mkfs(str(tmp_path / "c.img"), 8 * 1024 * 1024, 1024)
    models: list[Model] = []

    async def body():
        check(await mount(img))
        uvmexp().dirtyhiwat = 2
        ls = []
        for w in range(3):
            check(await mkdir(f"/mnt/w{w}"))
            m = Model()
            m.dirs = [f"/mnt/w{w}"]
            models.append(m)

            async def run(_, rng=_NoRemount(random.Random(seed * 10 + w)), m=m):
                await run_ops(rng, m, 120)

            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, run, None, f"w{w}")
            check(error)
            ls.append(l)
        for l in ls:
            await kthread_join(l)
        assert uvmexp().pdwoke > 0
        for m in models:
            for p in m.names():
                assert await read_file(p) == (0, m.get(p)), p
        check(await umount())

    with boot(seed=seed) as k:
        k.run(body)
    rc, out = e2fsck(img)
    assert rc == 0, out
