"""chdir/fchdir/chroot (vfs/vfs_syscalls.py) keep a process inside its root
directory, as NetBSD's do through vn_isunder (vfs/vfs_getcwd.py)."""

from __future__ import annotations

from kern.errno import EPERM
from kern.fcntl import O_RDONLY
from kern.machine import testing as kt
from kern.machine.testing import errno_of
from tools.lib import libc


async def _ino(path: str) -> int:
    return (await libc.stat(path)).st_ino


def test_fchdir_to_a_directory_outside_the_root_is_eperm(kernel):
    """A descriptor opened before chroot(2) does not lead out of it."""
    async def body():
        await kt.mkdir_p("/tmp/jail")
        await kt.mkdir_p("/tmp/jail/in")
        await kt.mkdir_p("/tmp/out")
        out = await libc.open("/tmp/out", O_RDONLY)
        inside = await libc.open("/tmp/jail/in", O_RDONLY)
        await libc.chroot("/tmp/jail")
        r = [await errno_of(libc.fchdir(out)), await libc.getcwd()]
        await libc.fchdir(inside)                 # under the root: allowed
        r.append(await libc.getcwd())
        return r

    assert kt.in_process(kernel, body) == [EPERM, "/", "/in"]


def test_chroot_moves_a_current_directory_outside_it_to_the_new_root(kernel):
    """change_root: a process whose current directory is not under the new
    root is moved to the root (else ".." would walk out of the chroot)."""
    async def body():
        await kt.mkdir_p("/tmp/jail")
        await kt.mkdir_p("/tmp/jail/in")
        await kt.mkdir_p("/tmp/out")
        jail = await _ino("/tmp/jail")
        await libc.chdir("/tmp/out")
        await libc.chroot("/tmp/jail")
        moved = (await _ino("."), await _ino(".."), await libc.getcwd())
        await libc.chdir("/in")
        return moved, await libc.getcwd(), jail

    moved, there, jail = kt.in_process(kernel, body)
    assert moved == (jail, jail, "/")
    assert there == "/in"


def test_chroot_keeps_a_current_directory_under_it(kernel):
    async def body():
        await kt.mkdir_p("/tmp/jail")
        await kt.mkdir_p("/tmp/jail/in")
        await libc.chdir("/tmp/jail/in")
        await libc.chroot("/tmp/jail")
        return await libc.getcwd()

    assert kt.in_process(kernel, body) == "/in"


def test_fchdir_to_a_covered_directory_goes_to_the_mounted_root(kernel):
    """A descriptor of a directory something was mounted on afterwards:
    fchdir steps to the mount's root, as a lookup of its path would."""
    async def body():
        await kt.mkdir_p("/tmp/mp")
        fd = await libc.open("/tmp/mp", O_RDONLY)
        covered = await _ino("/tmp/mp")
        await libc.mount("rootfs", "/tmp/mp", 0, None)
        await libc.mkdir("/tmp/mp/top", 0o755)
        await libc.fchdir(fd)
        await libc.close(fd)
        r = (await libc.getcwd(), (await libc.stat("top")).st_ino == await _ino("/tmp/mp/top"),
             await _ino(".") != covered)
        await libc.chdir("/")
        await libc.rmdir("/tmp/mp/top")
        await libc.unmount("/tmp/mp", 0)
        return r

    assert kt.in_process(kernel, body) == ("/tmp/mp", True, True)
