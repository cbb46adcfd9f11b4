"""The fsapply() frame itself: a leaked reference fails the case at unmount (EBUSY)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.fcntl import O_CREAT, O_RDWR
from tools.lib import libc

from .h_fsmacros import FEATURES, FSTYPES, FsType, run_case

TYPES = [pytest.param(t, id=t.name) for t in FSTYPES.values()]


async def leaks_a_descriptor(mp: str) -> None:
    await libc.open(f"{mp}/file", O_RDWR | O_CREAT, 0o644)   # never closed


async def leaves_its_cwd_inside(mp: str) -> None:
    await libc.chdir(mp)


@pytest.mark.parametrize("fs", TYPES)
@pytest.mark.parametrize("case", [leaks_a_descriptor, leaves_its_cwd_inside])
def test_a_leaked_reference_fails_the_case(fs: FsType, case: object, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="unmount of /mnt failed: EBUSY"):
        run_case(fs, case, tmp_path)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the puffs type

def test_puffs_is_registered() -> None:
    from .h_fsmacros import PUFFS

    t = FSTYPES["puffs"]
    assert t is PUFFS
    assert (t.netbsd, t.mntname) == ("puffs", "puffs")
    # what memfs has: directories, owners, symlinks, hard links, rename,
    # nanosecond times
    assert t.supports == FEATURES
    assert not t.skip and not t.xfail


def test_puffs_server_exits_after_unmount(tmp_path: Path) -> None:
    """The hooks themselves: mount leaves a RUNNING server in a process of its
    own; unmount ends its lwp (mainloop returned 0), closes /dev/puffs and
    removes the process."""
    import kern
    from kern.cpu import curmachine
    from kern.kern_lwp import LSZOMB
    from tools.lib.libpuffs import PUFFS_STATE_RUNNING, PUFFS_STATE_UNMOUNTED

    from .h_fsmacros import PUFFS, FsEnv

    env = FsEnv(fstype=PUFFS, workdir=tmp_path)

    async def body() -> dict:
        await PUFFS.mount(env)
        st = env.state
        server, l, p = st["server"], st["lwp"], st["proc"]
        out = {"running": server.state == PUFFS_STATE_RUNNING,
               "own_process": l.l_proc is p and p.p_comm == "memfs",
               "fstypename": (await libc.statvfs1(env.mnt, 0)).f_fstypename}
        fd = await libc.open(f"{env.mnt}/f", O_RDWR | O_CREAT, 0o644)
        await libc.close(fd)
        out["unmount"] = await PUFFS.unmount(env)
        out.update(lwp_gone=l.l_stat == LSZOMB, rv=st["rv"],
                   state=server.state == PUFFS_STATE_UNMOUNTED, fd=server.fd,
                   proc_gone=p.p_pid not in curmachine().procs,
                   mounted=(await libc.statvfs1(env.mnt, 0)).f_fstypename)
        return out

    with kern.boot(seed=3, config=PUFFS.config) as k:
        out = k.run(body, proc=k.proc_create("atf", k.initproc))
    assert out == {"running": True, "own_process": True, "fstypename": b"puffs",
                   "unmount": 0, "lwp_gone": True, "rv": 0, "state": True, "fd": -1,
                   "proc_gone": True, "mounted": b"rootfs"}


def test_puffs_server_that_does_not_exit_fails(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A server still alive after a successful unmount is reported."""
    from kern.kern_synch import tsleep
    from tools.lib.libpuffs import PuffsServer

    from .h_fsmacros import PUFFS

    async def hangs(self: PuffsServer) -> None:      # puffs_exit never returns
        await tsleep(self, 0, "hang", 0)

    async def nothing(mp: str) -> None:
        return

    monkeypatch.setattr(PuffsServer, "exit", hangs)
    with pytest.raises(AssertionError, match="memfs server did not exit after the unmount"):
        run_case(PUFFS, nothing, tmp_path)
