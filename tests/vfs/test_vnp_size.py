"""A vnode's two sizes (v_size, v_writesize) move only through uvm_vnp_setsize and
uvm_vnp_setwritesize (uvm_vnode.c 1.117), whose assertions hold every caller to
that: the file systems set them there (ext2fs's mkdir, symlink, direnter and
truncate as NetBSD 8's ext2fs does, rootfs as rumpfs does), never directly."""

from __future__ import annotations

import pytest

import kern
from dev.rumpblk import RUMP_ETFS_REG, rump_etfs_register
from kern.errno import EIO, ENOSPC
from tests.fs.ext2fs.helpers import (
    MB,
    assert_clean,
    boot,
    check,
    mkdir,
    mkfs,
    mount,
    needs_e2fsprogs,
    pattern,
    rmdir,
    symlink,
    truncate,
    umount,
    unlink,
    vnode_of,
    write_file,
)
from vfs import genfs_io
from vfs.vnode import VSIZENOTSET, vnode, vrele


def _sizes(vp) -> tuple[int, int]:
    return vp.v_size, vp.v_writesize


async def _sizes_of(path: str, follow: bool = True) -> tuple[int, int]:
    error, vp = await vnode_of(path, follow)
    check(error, path)
    sizes = _sizes(vp)
    await vrele(vp)
    return sizes


# ------------------------------------------------------------ the assertions

def test_a_new_vnode_has_no_size():
    """As NetBSD 8's vcache_alloc: VSIZENOTSET until the file system sets one."""
    assert _sizes(vnode()) == (VSIZENOTSET, VSIZENOTSET)


def _panic_of(tmp_path, act) -> str:
    """The panic message of ``act(vp)`` run on the vnode of a 100-byte ext2 file."""
    img = mkfs(str(tmp_path / "a.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(100)))
        _, vp = await vnode_of("/mnt/f")
        await act(vp)

    with boot() as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    return str(ei.value)


async def _direct_set_then_setsize(vp):
    vp.v_size = vp.v_writesize + 1           # a caller setting v_size itself
    await genfs_io.uvm_vnp_setsize(vp, 50)


async def _setsize_between_the_sizes(vp):
    await genfs_io.uvm_vnp_setwritesize(vp, 5000)
    await genfs_io.uvm_vnp_setsize(vp, 3000)  # neither the write size nor <= v_size


async def _setsize_negative(vp):
    await genfs_io.uvm_vnp_setsize(vp, -1)


async def _setwritesize_below_size(vp):
    await genfs_io.uvm_vnp_setwritesize(vp, 99)


@needs_e2fsprogs
@pytest.mark.parametrize("act, expr", [
    (_direct_set_then_setsize, "vp.v_size <= vp.v_writesize"),
    (_setsize_between_the_sizes, "vp.v_size == vp.v_writesize or"),
    (_setsize_negative, "newsize != VSIZENOTSET and newsize >= 0"),
    (_setwritesize_below_size, "vp.v_size <= newsize"),
], ids=["size-past-writesize", "between-sizes", "negative", "writesize-below-size"])
def test_setsize_asserts_uvm_vnode_117(tmp_path, act, expr):
    """Each of 1.117's entry assertions stops a caller that breaks it."""
    msg = _panic_of(tmp_path, act)
    assert "kernel diagnostic assertion" in msg and expr in msg, msg


def test_setwritesize_asserts_a_size_was_set():
    """uvm_vnp_setwritesize on a vnode whose size nobody set (1.117's asserts)."""
    async def body():
        await genfs_io.uvm_vnp_setwritesize(vnode(), 10)

    with kern.boot() as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "vp.v_size != VSIZENOTSET" in str(ei.value)


@needs_e2fsprogs
def test_setsize_to_the_write_size_and_below_is_allowed(tmp_path):
    """What a write does (raise the write size, then commit it or fall back to
    v_size or below) passes the assertions and leaves the sizes in step."""
    img = mkfs(str(tmp_path / "w.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(100)))
        _, vp = await vnode_of("/mnt/f")
        seen = []
        await genfs_io.uvm_vnp_setwritesize(vp, 5000)
        seen.append(_sizes(vp))
        await genfs_io.uvm_vnp_setsize(vp, 5000)
        seen.append(_sizes(vp))
        await genfs_io.uvm_vnp_setwritesize(vp, 9000)
        await genfs_io.uvm_vnp_setsize(vp, 70)
        seen.append(_sizes(vp))
        await genfs_io.uvm_vnp_setsize(vp, 100)
        await vrele(vp)
        check(await umount())
        return seen

    with boot() as k:
        assert k.run(body) == [(100, 5000), (5000, 5000), (70, 70)]


# ------------------------------------------------------------ ext2fs's callers

@needs_e2fsprogs
def test_ext2fs_keeps_the_sizes_in_step(tmp_path):
    """ext2fs_mkdir, ext2fs_symlink and ext2fs_direnter set a new size through
    uvm_vnp_setsize (ext2fs_vnops.c 1.107, ext2fs_lookup.c 1.73), and
    ext2fs_truncate does for every type (ext2fs_inode.c 1.82): v_writesize
    follows v_size.  Setting v_size directly left v_writesize behind, and the
    next uvm_vnp_setsize (the truncate of an unlinked long symlink) broke
    1.117's assertions."""
    img = mkfs(str(tmp_path / "s.img"), 4 * MB, 1024)
    long_target = "t" * 100                 # past the 60 bytes kept in the inode
    names = [f"/mnt/d/entry-with-a-long-name-{i:03d}" for i in range(60)]

    async def body():
        check(await mount(img))
        seen = {}
        check(await mkdir("/mnt/d"))
        seen["mkdir"] = await _sizes_of("/mnt/d")
        check(await symlink(long_target, "/mnt/long"))
        seen["long symlink"] = await _sizes_of("/mnt/long", follow=False)
        check(await symlink("short", "/mnt/short"))
        seen["short symlink"] = await _sizes_of("/mnt/short", follow=False)
        for name in names:                  # 44-byte entries: three 1 KiB blocks
            check(await write_file(name, b""))
        seen["grown directory"] = await _sizes_of("/mnt/d")
        for name in names:
            check(await unlink(name))
        check(await unlink("/mnt/long"))    # inactive truncates it to 0
        error, dvp = await vnode_of("/mnt/d")
        check(error)
        check(await rmdir("/mnt/d"))        # ext2fs_truncate of a directory
        seen["removed directory"] = _sizes(dvp)
        await vrele(dvp)
        check(await umount())
        return seen

    with boot() as k:
        seen = k.run(body)
    assert seen == {"mkdir": (1024, 1024), "long symlink": (100, 100),
                    "short symlink": (5, 5), "grown directory": (3072, 3072),
                    "removed directory": (0, 0)}
    assert_clean(img)


@needs_e2fsprogs
def test_ext2fs_truncate_failing_after_a_failed_write(tmp_path, monkeypatch):
    """A write that runs out of space truncates back to its old size; when that
    truncate's ubc_zerorange fails too (kemu returns its error, 1.82 goes on),
    the write size the write raised must not outlive it: a later truncate to
    a size between v_size and that write size panicked in uvm_vnp_setsize."""
    img = mkfs(str(tmp_path / "n.img"), 2 * MB, 1024)
    zeroed = []

    async def eio(*args):
        zeroed.append(args[1])  # (the offset: the failure was met, not stepped around)
        return EIO

    async def body():
        check(await mount(img))
        check(await write_file("/mnt/f", pattern(1500)))
        monkeypatch.setattr(genfs_io, "ubc_zerorange", eio)
        error = await write_file("/mnt/f", pattern(3 * MB), offset=1500, create=False)
        monkeypatch.undo()
        after_write = await _sizes_of("/mnt/f")
        check(await truncate("/mnt/f", after_write[0] + 100))
        grown = await _sizes_of("/mnt/f")
        check(await umount())
        return error, after_write, grown

    with boot() as k:
        error, (size, writesize), grown = k.run(body)
    assert error == ENOSPC
    assert zeroed == [1500]  # the truncate back met the failing ubc_zerorange
    assert size == writesize > 1500
    assert grown == (size + 100, size + 100)
    assert_clean(img)


# ------------------------------------------------------------ rootfs

def test_rootfs_keeps_the_sizes_in_step(tmp_path):
    """rootfs (after rumpfs) sets a file's size through uvm_vnp_setsize when it
    loads the vnode, writes, truncates and shows a host file (etfs)."""
    host = tmp_path / "host"
    host.write_bytes(pattern(3000))

    async def body():
        seen = {}
        check(await write_file("/tmp/f", pattern(1000)))
        seen["write"] = await _sizes_of("/tmp/f")
        check(await truncate("/tmp/f", 10))
        seen["truncate"] = await _sizes_of("/tmp/f")
        check(await rump_etfs_register("/tmp/host", str(host), RUMP_ETFS_REG))
        seen["etfs"] = await _sizes_of("/tmp/host")
        return seen

    with boot() as k:
        assert k.run(body) == {"write": (1000, 1000), "truncate": (10, 10),
                               "etfs": (3000, 3000)}


# ------------------------------------------------------------ the race detector

def _size_set_while_read(set_size):
    """A reader keeps reading a shared vnode's v_size; a setter changes it."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join

    async def scenario():
        vp = vnode()
        await genfs_io.uvm_vnp_setsize(vp, 100)

        async def reader(vp):
            seen = []
            for _ in range(3):
                seen.append(vp.v_size)
                await kpause("r", False, 1, None)

        async def setter(vp):
            await kpause("w", False, 2, None)
            await set_size(vp, 50)

        ls = []
        for fn in (reader, setter):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, vp, fn.__name__)
            assert error == 0
            ls.append(l)
        for l in ls:
            await kthread_join(l)
        return vp.v_size
    return scenario


async def _direct(vp, size):
    vp.v_size = size


def test_v_size_is_modified_under_v_interlock_race():
    """The race detector holds v_size to "v_interlock to modify, either to
    inspect" (vnode.h's "i"): uvm_vnp_setsize is silent, a direct set once
    the vnode is shared is reported."""
    with kern.boot(seed=5, race=True) as k:
        assert k.run(_size_set_while_read(genfs_io.uvm_vnp_setsize)) == 50
    assert k.race.races == []
    with pytest.raises(kern.DataRace) as ei:
        with kern.boot(seed=5, race=True) as k:
            k.run(_size_set_while_read(_direct))
    assert str(ei.value).startswith("data race on vnode.v_size of ")
    assert "modified without self.v_interlock" in str(ei.value)


def test_setsize_reads_the_write_size_under_v_interlock_race():
    """uvm_vnp_setsize and its plain form uvm_vnp_setsize_nowait look at
    v_writesize (vnode.h's "i": v_interlock) only with the object lock held,
    as uvm_vnode.c 1.117 does: two kthreads growing a vnode with a page
    cache are silent under the race detector (the plain form once read the
    write size before taking the lock: "no lock in common")."""
    from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join

    taken = []
    real = genfs_io.uvm_vnp_setsize_nowait

    async def scenario():
        vp = vnode()
        genfs_io.genfs_node_init(vp, genfs_io.genfs_ops())
        await genfs_io.uvm_vnp_setsize(vp, 100)

        async def grower(vp):
            for _ in range(3):
                if not real(vp, vp.v_size + 10):  # ext2fs_write's way
                    await genfs_io.uvm_vnp_setsize(vp, vp.v_size + 10)
                else:
                    taken.append(1)
                await genfs_io.uvm_vnp_setsize(vp, vp.v_size + 10)
                await kpause("g", False, 1, None)

        ls = []
        for n in range(2):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, grower, vp, f"g{n}")
            assert error == 0
            ls.append(l)
        for l in ls:
            await kthread_join(l)
        return _sizes(vp)

    with kern.boot(seed=5, race=True) as k:
        size, wsize = k.run(scenario)
    assert size == wsize > 100
    assert k.race.races == []
    assert taken  # the plain form did the work


def test_setsize_nowait_leaves_a_shrink_to_uvm_vnp_setsize():
    """The plain form does a size that drops no page; one below the write size
    of a vnode with a page cache it declines, having changed nothing and left
    the object lock free, and uvm_vnp_setsize does it (its page held at the
    new size is kept, its tail past the new size zeroed)."""
    async def body():
        vp = vnode()
        genfs_io.genfs_node_init(vp, genfs_io.genfs_ops())
        r = [genfs_io.uvm_vnp_setsize_nowait(vp, 8192), _sizes(vp)]
        pg = genfs_io.vm_page(vp.v_uobj, 0)
        pg.flags, pg.data[:] = genfs_io.PG_CLEAN, b"\xaa" * genfs_io.PAGE_SIZE
        vp.v_uobj.uo_pages[0] = pg  # (resident, idle: below the new size, it stays)
        r += [genfs_io.uvm_vnp_setsize_nowait(vp, 100), _sizes(vp),
              vp.v_interlock.mtx_owner is None]
        await genfs_io.uvm_vnp_setsize(vp, 100)
        r += [_sizes(vp), bytes(pg.data[98:102])]
        return r

    with boot() as k:
        assert k.run(body) == [True, (8192, 8192), False, (8192, 8192), True,
                               (100, 100), b"\xaa\xaa\0\0"]
