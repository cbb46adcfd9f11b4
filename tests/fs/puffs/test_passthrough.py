"""tools/puffs_servers/passthrough.py: a host directory (pytest's tmp_path) served by puffs.

Every test mounts ``Passthrough(tmp_path)`` on /mnt, works through system
calls inside kemu and looks at the host tree with Python's ``os`` (or the
other way round), then unmounts (which must succeed) and checks that no
handler raised anything but PuffsError.
"""

from __future__ import annotations

import errno as host_errno
import os
import stat as st_mod

import pytest
import trio

from fs.puffs.puffs_msgif_h import PUFFS_KFLAG_NOCACHE, PUFFS_VN_RECLAIM
from kern.errno import (
    EACCES,
    EEXIST,
    EINVAL,
    EIO,
    EISDIR,
    ENOENT,
    ENOTDIR,
    ENOTEMPTY,
    EOPNOTSUPP,
    EPERM,
    EROFS,
    ESTALE,
)
from kern.fcntl import O_APPEND, O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_WRONLY
from kern.machine.testing import errno_of as err
from kern.types_dev import makedev as nbsd_makedev
from tools.lib import libc
from tools.lib.libpuffs import VDIR, Attr, ComponentName, PuffsError
from tools.puffs_servers.passthrough import FHSIZE, Passthrough, netbsd_errno
from vfs.stat import S_IFCHR, S_IFIFO, S_IFMT

from . import h_puffs as h


def serve(tmp_path, body, *, seed, readonly=False, flags=0, ops=None):
    """Mount ``tmp_path`` on /mnt, run ``body`` in kemu, unmount; body's result."""
    ops = ops if ops is not None else Passthrough(str(tmp_path), readonly=readonly)
    try:
        with h.Booted(seed=seed) as k:
            s = h.start_server(k, ops, name="passthrough", fhsize=FHSIZE, flags=flags)
            out = k.run(body)
            assert k.run(h.unmount, "/mnt") == 0
            assert h.mounted(k, "/mnt") is None
            assert not s.errors, s.errors
            assert not s.thread_errors, s.thread_errors
            assert s.loop_error == 0
        return out
    finally:
        ops.close()




async def put(path, data, flags=O_CREAT | O_RDWR | O_EXCL):
    fd = await libc.open(path, flags, 0o644)
    try:
        assert await libc.write(fd, data) == len(data)
    finally:
        await libc.close(fd)


async def get(path, n=1 << 16):
    fd = await libc.open(path, O_RDONLY)
    try:
        return await libc.read(fd, n)
    finally:
        await libc.close(fd)


# ------------------------------------------------------------------ data both ways

def test_files_created_in_kemu_appear_on_host(tmp_path):
    data = bytes(range(256)) * 40 + b"tail"

    async def body():
        await put("/mnt/a", data)
        await put("/mnt/b", b"")
        st = await libc.stat("/mnt/a")
        return st.st_size, st.st_mode, st.st_ino

    size, mode, ino = serve(tmp_path, body, seed=1)
    assert (tmp_path / "a").read_bytes() == data
    assert (tmp_path / "b").read_bytes() == b""
    hst = os.stat(tmp_path / "a")
    assert size == hst.st_size == len(data)
    assert mode == hst.st_mode and st_mod.S_IMODE(mode) == 0o644  # not the host's umask
    assert ino == hst.st_ino


def test_host_files_read_and_described_in_kemu(tmp_path):
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "deep").write_bytes(b"deep contents\n")
    (tmp_path / "big").write_bytes(b"0123456789" * 30000)   # more than one READ request
    os.chmod(tmp_path / "big", 0o640)
    os.utime(tmp_path / "big", ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321))

    async def body():
        st = await libc.stat("/mnt/big")       # before reading moves the host's atime
        dst = await libc.stat("/mnt/dir")
        big = bytearray()
        fd = await libc.open("/mnt/big", O_RDONLY)
        while chunk := await libc.read(fd, 100_000):
            big += chunk
        await libc.close(fd)
        deep = await get("/mnt/dir/sub/deep")
        return (bytes(big), deep, st.st_size, st.st_mode, st.st_nlink, st.st_ino,
                (st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec),
                (st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec), st.st_blocks,
                dst.st_mode, dst.st_nlink)

    hst = os.stat(tmp_path / "big")
    (big, deep, size, mode, nlink, ino, atime, mtime, blocks, dmode, dnlink) = \
        serve(tmp_path, body, seed=2)
    assert big == b"0123456789" * 30000
    assert deep == b"deep contents\n"
    assert (size, mode, nlink, ino, blocks) == (hst.st_size, hst.st_mode, hst.st_nlink,
                                                hst.st_ino, hst.st_blocks)
    assert mode == st_mod.S_IFREG | 0o640
    assert atime == (1_500_000_000, 123_456_789)
    assert mtime == (1_600_000_000, 987_654_321)
    dhst = os.stat(tmp_path / "dir")
    assert (dmode, dnlink) == (dhst.st_mode, dhst.st_nlink)
    assert st_mod.S_ISDIR(dmode)


def test_readdir_lists_host_entries(tmp_path):
    (tmp_path / "f").write_bytes(b"x")
    (tmp_path / "d").mkdir()
    os.symlink("f", tmp_path / "l")
    os.mkfifo(tmp_path / "p")

    async def body():
        return await libc.listdir("/mnt"), await libc.listdir("/mnt/d")

    top, sub = serve(tmp_path, body, seed=3)
    from vfs.dirent import DT_DIR, DT_FIFO, DT_LNK, DT_REG

    by_name = {name: (ino, dtype) for ino, name, dtype in top}
    assert sorted(by_name) == [".", "..", "d", "f", "l", "p"]
    assert by_name["f"] == (os.lstat(tmp_path / "f").st_ino, DT_REG)
    assert by_name["d"] == (os.lstat(tmp_path / "d").st_ino, DT_DIR)
    assert by_name["l"] == (os.lstat(tmp_path / "l").st_ino, DT_LNK)
    assert by_name["p"] == (os.lstat(tmp_path / "p").st_ino, DT_FIFO)
    assert by_name["."][0] == os.stat(tmp_path).st_ino
    assert sorted(n for _, n, _ in sub) == [".", ".."]
    assert {n: i for i, n, _ in sub}[".."] == os.stat(tmp_path).st_ino


def test_readdir_offsets_stay_stable_while_the_directory_changes(tmp_path):
    names = [f"file-with-a-rather-long-name-{i:04d}" for i in range(120)]
    for n in names:
        (tmp_path / n).write_bytes(b"")

    async def body():
        from vfs.dirent import iter_dirents

        fd = await libc.open("/mnt", O_RDONLY)
        seen = []
        calls = 0
        while True:
            buf = await libc.getdents(fd, 512)
            if not buf:
                break
            calls += 1
            seen += [name for _, name, _ in iter_dirents(buf)]
            if calls == 2:   # the host changes the directory in the middle of the listing
                (tmp_path / "added-late").write_bytes(b"")
                os.unlink(tmp_path / names[-1])
        await libc.close(fd)
        return seen, calls

    seen, calls = serve(tmp_path, body, seed=4)
    assert calls > 3
    assert len(seen) == len(set(seen)), "an entry came twice"
    assert set(names[:-1]) | {".", ".."} <= set(seen)   # everything present all along


# ------------------------------------------------------------------ the namespace

def test_namespace_operations_reach_the_host(tmp_path):
    async def body():
        out = {}
        out["mkdir"] = await err(libc.mkdir("/mnt/d", 0o750))
        await put("/mnt/d/f", b"file data")
        out["link"] = await err(libc.link("/mnt/d/f", "/mnt/hard"))
        out["symlink"] = await err(libc.symlink("d/f", "/mnt/sym"))
        out["readlink"] = await libc.readlink("/mnt/sym")
        out["via_sym"] = await get("/mnt/sym")
        st1, st2 = await libc.stat("/mnt/d/f"), await libc.stat("/mnt/hard")
        out["hard"] = (st1.st_ino == st2.st_ino, st1.st_nlink)
        out["rename"] = await err(libc.rename("/mnt/d/f", "/mnt/d/g"))
        out["mkdir2"] = await err(libc.mkdir("/mnt/e"))
        out["rmdir"] = await err(libc.rmdir("/mnt/e"))
        out["unlink"] = await err(libc.unlink("/mnt/hard"))
        out["after"] = await get("/mnt/d/g")
        return out

    out = serve(tmp_path, body, seed=5)
    assert out == {"mkdir": 0, "link": 0, "symlink": 0, "readlink": "d/f",
                   "via_sym": b"file data", "hard": (True, 2), "rename": 0, "mkdir2": 0,
                   "rmdir": 0, "unlink": 0, "after": b"file data"}
    assert sorted(os.listdir(tmp_path)) == ["d", "sym"]
    assert os.listdir(tmp_path / "d") == ["g"]
    assert st_mod.S_IMODE(os.stat(tmp_path / "d").st_mode) == 0o750
    assert os.readlink(tmp_path / "sym") == "d/f"
    assert (tmp_path / "d" / "g").read_bytes() == b"file data"
    assert os.stat(tmp_path / "d" / "g").st_nlink == 1


def test_hard_links_share_one_node(tmp_path):
    (tmp_path / "x").write_bytes(b"shared")
    os.link(tmp_path / "x", tmp_path / "y")       # made on the host
    ops = Passthrough(str(tmp_path))

    async def body():
        await libc.link("/mnt/x", "/mnt/z")        # made through kemu
        sts = [await libc.stat(p) for p in ("/mnt/x", "/mnt/y", "/mnt/z")]
        ident = (os.stat(tmp_path / "x").st_dev, os.stat(tmp_path / "x").st_ino)
        nodes = [n for n in ops.nodes.values() if n.ident == ident]
        out = ({s.st_ino for s in sts}, {s.st_nlink for s in sts}, len(nodes),
               sorted(nodes[0].names))
        # rename(2) of one link onto another link of the same file removes the
        # source name on NetBSD (POSIX's rename, and Linux's, would do nothing)
        r = await err(libc.rename("/mnt/y", "/mnt/z"))
        return out, r, await err(libc.stat("/mnt/y")), (await libc.stat("/mnt/z")).st_nlink

    (inos, nlinks, nnodes, names), r, y, znlink = serve(tmp_path, body, seed=6, ops=ops)
    assert inos == {os.stat(tmp_path / "x").st_ino}
    assert nlinks == {3}
    assert nnodes == 1              # one cookie, one vnode, whatever the name
    assert names == [b"x", b"y", b"z"]
    assert (r, y, znlink) == (0, ENOENT, 2)
    assert sorted(os.listdir(tmp_path)) == ["x", "z"]
    assert (tmp_path / "z").read_bytes() == b"shared"


def test_rename_directory_updates_paths_below_it(tmp_path):
    """A directory kept open under a renamed parent still lists and creates in
    the right place, and a file kept open there still writes to it."""
    async def body():
        await libc.mkdir("/mnt/a")
        await libc.mkdir("/mnt/a/sub")
        await put("/mnt/a/sub/f", b"one ")
        dfd = await libc.open("/mnt/a/sub", O_RDONLY)
        ffd = await libc.open("/mnt/a/sub/f", O_WRONLY | O_APPEND)
        assert await err(libc.rename("/mnt/a", "/mnt/b")) == 0
        assert await libc.write(ffd, b"two") == 3
        await libc.fchdir(dfd)
        await put("made-after-rename", b"!")   # relative to the renamed directory
        await libc.fchmod(dfd, 0o711)
        names = sorted(n for _, n, _ in await libc.listdir("."))
        await libc.chdir("/")
        await libc.close(dfd)
        await libc.close(ffd)
        return names, await get("/mnt/b/sub/f"), await err(libc.stat("/mnt/a"))

    names, data, old = serve(tmp_path, body, seed=7)
    assert names == [".", "..", "f", "made-after-rename"]
    assert data == b"one two"
    assert old == ENOENT
    assert os.listdir(tmp_path) == ["b"]
    assert sorted(os.listdir(tmp_path / "b" / "sub")) == ["f", "made-after-rename"]
    assert (tmp_path / "b" / "sub" / "f").read_bytes() == b"one two"
    assert st_mod.S_IMODE(os.stat(tmp_path / "b" / "sub").st_mode) == 0o711


def test_rename_over_an_existing_file(tmp_path):
    (tmp_path / "old").write_bytes(b"old contents")
    (tmp_path / "new").write_bytes(b"new contents")

    async def body():
        fd = await libc.open("/mnt/old", O_RDONLY)     # the victim stays open
        r = await err(libc.rename("/mnt/new", "/mnt/old"))
        kept = await libc.pread(fd, 100, 0)
        await libc.close(fd)
        return r, kept, await get("/mnt/old"), await err(libc.stat("/mnt/new"))

    r, kept, now, gone = serve(tmp_path, body, seed=8, flags=PUFFS_KFLAG_NOCACHE)
    assert (r, kept, now, gone) == (0, b"old contents", b"new contents", ENOENT)
    assert os.listdir(tmp_path) == ["old"]


def test_mknod_fifo_and_device(tmp_path):
    probe = tmp_path / "probe"
    try:
        os.mknod(probe, 0o600 | st_mod.S_IFCHR, os.makedev(1, 3))
        can_mknod = True
        os.unlink(probe)
    except OSError:
        can_mknod = False

    async def body():
        fifo = await err(libc.mknod("/mnt/fifo", S_IFIFO | 0o640, 0))
        dev = await err(libc.mknod("/mnt/null", S_IFCHR | 0o600, nbsd_makedev(1, 3)))
        fst = await libc.stat("/mnt/fifo")
        dst = await libc.stat("/mnt/null") if dev == 0 else None
        return fifo, dev, fst.st_mode, dst.st_rdev if dst else None

    fifo, dev, fmode, rdev = serve(tmp_path, body, seed=9)
    assert fifo == 0
    assert st_mod.S_ISFIFO(os.stat(tmp_path / "fifo").st_mode)
    assert fmode & S_IFMT == S_IFIFO and fmode & 0o777 == 0o640
    if can_mknod:
        assert dev == 0
        hst = os.stat(tmp_path / "null")
        assert st_mod.S_ISCHR(hst.st_mode)
        assert (os.major(hst.st_rdev), os.minor(hst.st_rdev)) == (1, 3)
        assert rdev == nbsd_makedev(1, 3)         # NetBSD's dev_t encoding in kemu
    else:
        assert dev == EPERM
        assert not (tmp_path / "null").exists()


# ------------------------------------------------------------------ attributes

def test_setattr_reaches_the_host(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")

    async def body():
        out = {}
        out["chmod"] = await err(libc.chmod("/mnt/f", 0o604))
        out["truncate"] = await err(libc.truncate("/mnt/f", 4))
        out["grow"] = await err(libc.truncate("/mnt/f", 6))
        out["chown"] = await err(libc.chown("/mnt/f", 1234, 5678))
        out["utimes"] = await err(libc.utimes("/mnt/f", ((1_000_000, 5), (2_000_000, 7))))
        st = await libc.stat("/mnt/f")
        out["stat"] = (st.st_mode & 0o7777, st.st_size, st.st_uid, st.st_gid,
                       (st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec),
                       (st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec))
        out["dir_truncate"] = await err(libc.truncate("/mnt", 0))
        out["dir_chmod"] = await err(libc.chmod("/mnt", 0o700))
        return out

    out = serve(tmp_path, body, seed=10)
    hst = os.stat(tmp_path / "f")
    assert out["chmod"] == out["truncate"] == out["grow"] == out["utimes"] == 0
    assert st_mod.S_IMODE(hst.st_mode) == 0o604
    assert (tmp_path / "f").read_bytes() == b"0123\0\0"
    assert (hst.st_atime_ns, hst.st_mtime_ns) == (1_000_000 * 10**9 + 5_000,
                                                  2_000_000 * 10**9 + 7_000)
    assert out["dir_truncate"] == EISDIR
    assert out["dir_chmod"] == 0 and st_mod.S_IMODE(os.stat(tmp_path).st_mode) == 0o700
    if os.geteuid() == 0:                      # the host lets only root give files away
        assert out["chown"] == 0
        assert (hst.st_uid, hst.st_gid) == (1234, 5678)
    else:
        assert out["chown"] == EPERM
    assert out["stat"] == (0o604, 6, hst.st_uid, hst.st_gid, (1_000_000, 5_000),
                           (2_000_000, 7_000))


def test_permissions_of_a_kemu_user(tmp_path):
    """kemu's uids are the host's: a user that is not the owner is refused."""
    os.chmod(tmp_path, 0o755)                   # pytest makes it 0700
    (tmp_path / "private").write_bytes(b"root only")
    os.chmod(tmp_path / "private", 0o600)
    (tmp_path / "public").write_bytes(b"anyone")
    os.chmod(tmp_path / "public", 0o644)
    host_uid = os.stat(tmp_path / "private").st_uid
    user = 4321 if host_uid != 4321 else 4322

    async def body():
        import kern
        from kern.kern_auth import kauth_cred_make

        p = kern.curmachine().proc_create("user", cred=kauth_cred_make(user, user))

        async def as_user():
            return (await err(libc.open("/mnt/private", O_RDONLY)),
                    await get("/mnt/public"),
                    await err(libc.open("/mnt/public", O_WRONLY)),
                    await err(libc.chmod("/mnt/public", 0o666)),
                    await err(libc.open("/mnt/mine", O_CREAT | O_RDWR, 0o600)))

        return p, as_user

    ops = Passthrough(str(tmp_path))
    try:
        with h.Booted(seed=18) as k:
            s = h.start_server(k, ops, name="passthrough", fhsize=FHSIZE)
            p, as_user = k.run(body)
            out = k.run(as_user, proc=p)
            assert k.run(h.unmount, "/mnt") == 0
            assert not s.errors and not s.thread_errors
    finally:
        ops.close()
    # the directory is root's 0755: the user may not create in it either
    assert out == (EACCES, b"anyone", EACCES, EPERM, EACCES)
    assert st_mod.S_IMODE(os.stat(tmp_path / "public").st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["private", "public"]


def test_write_append_and_statvfs_and_pathconf(tmp_path):
    (tmp_path / "log").write_bytes(b"first\n")

    async def body():
        fd = await libc.open("/mnt/log", O_WRONLY | O_APPEND)
        await libc.write(fd, b"second\n")
        assert await err(libc.fsync(fd)) == 0
        await libc.close(fd)
        assert await err(libc.sync()) == 0
        sv = await libc.statvfs("/mnt")
        name_max = await libc.pathconf("/mnt/log", 4)   # _PC_NAME_MAX
        return sv.f_bsize, sv.f_blocks, sv.f_namemax, name_max

    bsize, blocks, namemax, name_max = serve(tmp_path, body, seed=11)
    assert (tmp_path / "log").read_bytes() == b"first\nsecond\n"
    hsv = os.statvfs(tmp_path)
    assert bsize == hsv.f_bsize
    assert blocks == hsv.f_blocks
    assert namemax == name_max == min(hsv.f_namemax, 255)


# ------------------------------------------------------------------ errors

def test_errors_are_netbsd_errnos(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "inside").write_bytes(b"")

    async def body():
        return {
            "open_missing": await err(libc.open("/mnt/missing", O_RDONLY)),
            "mkdir_exists": await err(libc.mkdir("/mnt/full")),
            "create_excl": await err(libc.open("/mnt/file", O_CREAT | O_EXCL | O_RDWR,
                                               0o644)),
            "rmdir_full": await err(libc.rmdir("/mnt/full")),
            "rename_dir_over_full": await err(libc.mkdir("/mnt/empty"))
            or await err(libc.rename("/mnt/empty", "/mnt/full")),
            "under_file": await err(libc.mkdir("/mnt/file/sub")),
            "rmdir_file": await err(libc.rmdir("/mnt/file")),
            "unlink_dir": await err(libc.unlink("/mnt/full")),
            "dir_into_itself": await err(libc.rename("/mnt/full", "/mnt/full/inside2")),
            "link_exists": await err(libc.link("/mnt/file", "/mnt/full/inside")),
        }

    out = serve(tmp_path, body, seed=12)
    assert out == {"open_missing": ENOENT, "mkdir_exists": EEXIST, "create_excl": EEXIST,
                   "rmdir_full": ENOTEMPTY, "rename_dir_over_full": ENOTEMPTY,
                   "under_file": ENOTDIR, "rmdir_file": ENOTDIR, "unlink_dir": EPERM,
                   "dir_into_itself": EINVAL, "link_exists": EEXIST}
    # Linux numbers differ: make sure the host's were not passed through raw
    assert host_errno.ENOTEMPTY != ENOTEMPTY
    assert sorted(os.listdir(tmp_path)) == ["empty", "file", "full"]


def test_errno_translation_by_name():
    assert netbsd_errno(OSError(host_errno.ENOTEMPTY, "x")) == ENOTEMPTY == 66
    assert netbsd_errno(OSError(host_errno.ESTALE, "x")) == ESTALE == 70
    assert netbsd_errno(host_errno.EOPNOTSUPP) == EOPNOTSUPP == 45
    assert netbsd_errno(host_errno.ENOENT) == ENOENT
    if hasattr(host_errno, "ENOMEDIUM"):         # Linux only: NetBSD has no such name
        assert netbsd_errno(host_errno.ENOMEDIUM) == EIO
    assert netbsd_errno(OSError("no errno")) == EIO


def test_access_is_libpuffs_puffs_access():
    """memfs and passthrough check access with puffs_access (libpuffs' creds.c)."""
    from tools.lib.libpuffs import PUFFS_VEXEC, PUFFS_VREAD, PUFFS_VWRITE, VREG, Cred, puffs_access

    def acc(mode, want, cred, vtype=VREG):
        return puffs_access(vtype, mode, 10, 20, want, cred)

    owner, member, other = Cred(10, 99), Cred(11, 30, (20,)), Cred(12, 30)
    rw = PUFFS_VREAD | PUFFS_VWRITE
    assert [acc(0o640, rw, c) for c in (owner, member, other)] == [0, EACCES, EACCES]
    assert [acc(0o640, PUFFS_VREAD, c) for c in (owner, member, other)] == [0, 0, EACCES]
    assert acc(0o604, PUFFS_VREAD, member) == EACCES        # the group class decides
    assert acc(0o044, PUFFS_VREAD, owner) == EACCES          # so does the owner's
    # root: everything but executing a file with no x bit; a directory is searchable
    assert [acc(0o000, rw, Cred(0)), acc(0o000, PUFFS_VEXEC, Cred(0)),
            acc(0o001, PUFFS_VEXEC, Cred(0)), acc(0o000, PUFFS_VEXEC, Cred(0), VDIR)] \
        == [0, EACCES, 0, 0]
    # the kernel's own credentials may do anything
    assert [acc(0o000, PUFFS_VEXEC, Cred(internal=i)) for i in ("FSCRED", "NOCRED")] == [0, 0]


def test_readonly_gives_erofs(tmp_path):
    (tmp_path / "f").write_bytes(b"read me")
    (tmp_path / "d").mkdir()
    before = sorted(os.listdir(tmp_path))
    mode_before = os.stat(tmp_path / "f").st_mode

    async def body():
        out = {"read": await get("/mnt/f")}
        out["ls"] = sorted(n for _, n, _ in await libc.listdir("/mnt"))
        for name, coro in (
                ("create", libc.open("/mnt/new", O_CREAT | O_RDWR, 0o644)),
                ("open_w", libc.open("/mnt/f", O_WRONLY)),
                ("mkdir", libc.mkdir("/mnt/nd")),
                ("rmdir", libc.rmdir("/mnt/d")),
                ("unlink", libc.unlink("/mnt/f")),
                ("rename", libc.rename("/mnt/f", "/mnt/g")),
                ("link", libc.link("/mnt/f", "/mnt/h")),
                ("symlink", libc.symlink("f", "/mnt/s")),
                ("chmod", libc.chmod("/mnt/f", 0o600)),
                ("truncate", libc.truncate("/mnt/f", 0)),
                ("mkfifo", libc.mknod("/mnt/p", S_IFIFO | 0o600, 0))):
            out[name] = await err(coro)
        return out

    out = serve(tmp_path, body, seed=13, readonly=True)
    assert out.pop("read") == b"read me"
    assert out.pop("ls") == [".", "..", "d", "f"]
    assert out == dict.fromkeys(out, EROFS), out
    assert sorted(os.listdir(tmp_path)) == before
    assert (tmp_path / "f").read_bytes() == b"read me"
    assert os.stat(tmp_path / "f").st_mode == mode_before


# ------------------------------------------------------------------ node lifetime

def test_unlinked_open_file_still_reads_back(tmp_path):
    magic = b"nakit ja muusiperunat maustevoilla\0"
    ops = Passthrough(str(tmp_path))

    async def body():
        fd = await libc.open("/mnt/file", O_CREAT | O_RDWR, 0o644)
        await libc.write(fd, magic)
        await libc.unlink("/mnt/file")
        gone_on_host = not (tmp_path / "file").exists()
        buf = await libc.pread(fd, 512, 0)
        await libc.pwrite(fd, b"NAKIT", 0)          # still writable too
        buf2 = await libc.pread(fd, 5, 0)
        held = [n.cookie for n in ops.nodes.values() if n.buried and n.fd is not None]
        await libc.close(fd)
        await h.syncbar("/mnt")
        return gone_on_host, buf, buf2, len(held), [c for c in held if c in ops.nodes]

    with h.Booted(seed=14) as k:
        s = h.start_server(k, ops, name="passthrough", fhsize=FHSIZE,
                           flags=PUFFS_KFLAG_NOCACHE)
        gone, buf, buf2, nheld, left = k.run(body)
        assert s.channel.toserv_vn_ops[PUFFS_VN_RECLAIM] == 1
        assert k.run(h.unmount, "/mnt") == 0
        assert not s.errors and not s.thread_errors
    ops.close()
    assert gone and buf == magic and buf2 == b"NAKIT"
    assert nheld == 1
    assert left == []              # reclaimed: the cookie and the descriptor are gone
    assert os.listdir(tmp_path) == []


def test_file_handles_round_trip_and_go_stale(tmp_path):
    (tmp_path / "f").write_bytes(b"handle me\n")

    async def body():
        out = {}
        fh = await libc.getfh("/mnt/f")
        out["len"] = len(fh)
        st = await libc.fhstat(fh)
        out["fhstat"] = (st.st_ino, st.st_size)
        fd = await libc.fhopen(fh, O_RDONLY)
        out["fhopen"] = await libc.read(fd, 100)
        await libc.close(fd)
        # survives a rename, also once the kernel has forgotten the vnode
        await libc.mkdir("/mnt/d")
        await libc.rename("/mnt/f", "/mnt/d/renamed")
        fd = await libc.fhopen(fh, O_RDWR)
        await libc.write(fd, b"HANDLE")
        await libc.close(fd)
        out["renamed"] = await get("/mnt/d/renamed")
        # a directory handle
        dfh = await libc.getfh("/mnt/d")
        out["dir"] = (await libc.fhstat(dfh)).st_mode & S_IFMT == 0o040000
        await libc.unlink("/mnt/d/renamed")
        out["stale_open"] = await err(libc.fhopen(fh, O_RDONLY))
        out["stale_stat"] = await err(libc.fhstat(fh))
        # a new file (that may well get the same host inode) is not the old one
        await put("/mnt/d/renamed", b"another file")
        out["still_stale"] = await err(libc.fhstat(fh))
        return out

    ino = os.stat(tmp_path / "f").st_ino
    out = serve(tmp_path, body, seed=15)
    assert out == {"len": 8 + 4 + FHSIZE, "fhstat": (ino, 10),
                   "fhopen": b"handle me\n", "renamed": b"HANDLE me\n", "dir": True,
                   "stale_open": ESTALE, "stale_stat": ESTALE, "still_stale": ESTALE}


def test_handle_of_a_file_removed_on_the_host_is_stale(tmp_path):
    (tmp_path / "f").write_bytes(b"x")

    async def body():
        fh = await libc.getfh("/mnt/f")
        ok = await err(libc.fhstat(fh))
        os.unlink(tmp_path / "f")
        (tmp_path / "g").write_bytes(b"y")
        return ok, await err(libc.fhopen(fh, O_RDONLY))

    assert serve(tmp_path, body, seed=16) == (0, ESTALE)


# ------------------------------------------------------------------ staying inside the tree

def test_symlinks_are_not_followed_on_the_host(tmp_path, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_bytes(b"secret")
    (outside / "sub").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(outside), root / "escape")
    (root / "d" / "sub").mkdir(parents=True)

    async def body():
        out = {}
        out["readlink"] = await libc.readlink("/mnt/escape")
        out["lstat"] = (await libc.lstat("/mnt/escape")).st_mode & S_IFMT
        # the kernel resolves the link in kemu's namespace, where it leads nowhere
        out["through"] = await err(libc.open("/mnt/escape/secret", O_RDONLY))
        # The current directory is "d/sub"; then, on the host, "d" is swapped
        # for a link to a directory outside the tree that has a "sub" too.
        await libc.chdir("/mnt/d/sub")
        swap()
        out["create_sub"] = await err(libc.open("planted", O_CREAT | O_RDWR, 0o644))
        out["mkdir_sub"] = await err(libc.mkdir("planted-dir"))
        out["ls_sub"] = await err(libc.listdir("."))
        await libc.chdir("/")
        unswap()
        # The current directory is "d" itself when it is swapped: not ours any more.
        await libc.chdir("/mnt/d")
        swap()
        out["create_d"] = await err(libc.open("planted", O_CREAT | O_RDWR, 0o644))
        out["mkdir_d"] = await err(libc.mkdir("planted-dir"))
        await libc.chdir("/")
        unswap()
        return out

    def swap():
        os.rename(root / "d", root / "d.moved")
        os.symlink(str(outside), root / "d")

    def unswap():
        os.unlink(root / "d")
        os.rename(root / "d.moved", root / "d")

    out = serve(root, body, seed=17)
    assert out == {"readlink": str(outside), "lstat": 0o120000, "through": ENOENT,
                   "create_d": ESTALE, "mkdir_d": ESTALE,
                   # O_NOFOLLOW|O_DIRECTORY on the host refuses the link
                   "create_sub": ENOTDIR, "mkdir_sub": ENOTDIR, "ls_sub": ENOTDIR}
    assert sorted(os.listdir(outside)) == ["secret", "sub"]
    assert os.listdir(outside / "sub") == []
    assert os.listdir(root / "d" / "sub") == []
    assert os.listdir(root / "d") == ["sub"]


def test_server_refuses_bad_names_directly(tmp_path):
    """Names the kernel never passes: the handlers refuse them anyway."""
    ops = Passthrough(str(tmp_path))

    async def main():
        out = []
        for name in (b"a/b", b".", b"..", b"", b"x\0y"):
            for fn in (ops.node_mkdir, ops.node_create):
                try:
                    await fn(ops.root_cookie, ComponentName(name), Attr(mode=0o755))
                except PuffsError as e:
                    out.append(e.errno)
        try:
            await ops.node_lookup(ops.root_cookie, ComponentName(b"../etc"))
        except PuffsError as e:
            out.append(e.errno)
        info = await ops.node_lookup(ops.root_cookie, ComponentName(b".."))
        return out, info

    try:
        out, info = trio.run(main)
    finally:
        ops.close()
    assert out == [EINVAL] * 10 + [ENOENT]
    assert (info.cookie, info.vtype) == (ops.root_cookie, VDIR)
    assert os.listdir(tmp_path) == []


def test_constructor_wants_a_directory(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(PuffsError, match="not a directory") as notdir:
        Passthrough(str(tmp_path / "file"))
    with pytest.raises(PuffsError, match="no such directory") as missing:
        Passthrough(str(tmp_path / "missing"))
    assert (notdir.value.errno, missing.value.errno) == (ENOTDIR, ENOENT)
    p = Passthrough(str(tmp_path))
    assert p.root_cookie == 1 and p.nodes[1].vtype == VDIR
    p.close()

