"""NetBSD tests/fs/puffs/t_fuzz.c: mount(2) with garbage puffs arguments.

"Our metric of success is crash / no crash."  Each ``mountfuzzN`` fills a
``puffs_kargs`` with random bytes, applies the first N fixups (1.38's
versions of them), and mounts.  When the mount succeeds, an echo responder
answers every request with its own bytes and rv 0, the mount point is
stat()ed and force-unmounted, and the device closed.  At level 8 the
responder also starts the file system first (with a garbage root cookie
and statvfs image), so that the requests reach it.

The random generator is seeded from the machine seed (``--kemu-seed``) and
the level, or from ``PUFFS_FUZZ_SEED``; the seed is printed.  Asserted: no
Python exception escapes the kernel (no KernelPanic), and afterwards the
same machine still mounts memfs, uses it and unmounts cleanly.
"""

from __future__ import annotations

import ctypes
import os
import random

import pytest

from fs.puffs.puffs_msgif_h import (
    PUFFS_FHFLAG_DYNAMIC,
    PUFFS_FHFLAG_NFSV2,
    PUFFS_FHFLAG_NFSV3,
    PUFFS_FHFLAG_PROTOMASK,
    PUFFS_KFLAG_MASK,
    PUFFSDEVELVERS,
    PUFFSOP_WANTREPLY,
    PUFFSVERSION,
    puffs_kargs,
    puffs_req,
)
from kern.exceptions import SyscallError
from kern.fcntl import O_RDWR
from tools.lib import libc
from tools.lib.libc import mount
from tools.lib.libpuffs import PuffsError
from tools.lib.libpuffs._sys import lwp_create
from tools.lib.libpuffs.channel import DevPuffsChannel, frame_header
from vfs.mount import MNT_FORCE, MOUNT_PUFFS, statvfs

from . import h_puffs as h

ITERATIONS = int(os.environ.get("PUFFS_FUZZ_ITER", "100"))
ECHOED = [0]
PUFFS_FHSIZE_MAX = 1020


def fixversion(pa):
    pa.pa_vers = PUFFSVERSION | PUFFSDEVELVERS


def fixkflag(pa):
    pa.pa_flags &= PUFFS_KFLAG_MASK


def fixfhflag(pa):
    pa.pa_fhflags &= PUFFS_FHFLAG_DYNAMIC | PUFFS_FHFLAG_PROTOMASK


def fixspare(pa):
    pass  # no pa_spare in 1.38


def fixhandsize(pa):
    pa.pa_fhsize %= PUFFS_FHSIZE_MAX + 4


def fixhandsize2(pa):
    # NFSv3 is not considered a problem if NFSv2 is also set (t_fuzz's order)
    if pa.pa_fhflags & PUFFS_FHFLAG_NFSV3:
        pa.pa_fhsize %= 60
    if pa.pa_fhflags & PUFFS_FHFLAG_NFSV2:
        pa.pa_fhsize %= 28


FIXUPS = [fixversion, fixkflag, fixfhflag, fixspare, fixhandsize, fixhandsize2]
# fixup 7 is fixputter (pa_fd = a fresh /dev/puffs descriptor), 8 is fixroot
# (nothing to fix in 1.38: the root is started with a cookie, below)


async def echo_responder(ch: DevPuffsChannel, start: bool, rng_bytes: bytes) -> None:
    """Answer every request with its own bytes and rv 0 ("it was successful")."""
    try:
        if start:
            sb = statvfs.from_buffer_copy(rng_bytes[:ctypes.sizeof(statvfs)])
            cookie = int.from_bytes(rng_bytes[-8:], "little") or 1
            await ch.start(cookie, sb)
        while True:
            frames = await ch.get_requests()
            replies = []
            for f in frames:
                if not PUFFSOP_WANTREPLY(frame_header(f).preq_opclass):
                    continue
                hdr = puffs_req.from_buffer(f)
                hdr.preq_rv = 0
                del hdr
                replies.append(f)
            await ch.put_replies(replies)
            ECHOED[0] += len(replies)
    except PuffsError:
        return


async def fuzz_round(rng: random.Random, level: int) -> str:
    pa = puffs_kargs.from_buffer_copy(rng.randbytes(ctypes.sizeof(puffs_kargs)))
    for fix in FIXUPS[:level]:
        fix(pa)
    fd = -1
    if level >= 7:  # fixputter
        fd = await libc.open("/dev/puffs", O_RDWR)
        pa.pa_fd = fd
    outcome = "?"
    try:
        await mount(MOUNT_PUFFS, "/mnt", 0, pa)
    except SyscallError as e:
        outcome = f"mount {e.errno}"
    else:
        outcome = "mounted"
        if fd >= 0:
            ch = DevPuffsChannel(fd, bufsize=max(pa.pa_maxreqlen, 4096))
            lwp_create(echo_responder, ch, level >= 8, rng.randbytes(4096), name="echo")
        await h.stat_("/mnt")
        error = await h.unmount("/mnt", MNT_FORCE)
        outcome += f" unmount {error}"
    if fd >= 0:
        await libc.close(fd)
    return outcome


@pytest.mark.parametrize("level", range(9))
def test_mountfuzz(level, kemu_seed, capsys):
    seed = int(os.environ.get("PUFFS_FUZZ_SEED", kemu_seed * 1000 + level))
    with capsys.disabled():
        print(f"\nmountfuzz{level}: seed {seed} (PUFFS_FUZZ_SEED={seed} reruns it)")
    rng = random.Random(seed)
    ECHOED[0] = 0
    with h.Booted(seed=seed) as k:
        async def body():
            outcomes = {}
            for _ in range(ITERATIONS):
                o = await fuzz_round(rng, level)
                outcomes[o] = outcomes.get(o, 0) + 1
            return outcomes

        outcomes = k.run(body)
        with capsys.disabled():
            print(f"mountfuzz{level}: {outcomes}, {ECHOED[0]} replies echoed")
        assert sum(outcomes.values()) == ITERATIONS
        assert h.mounted(k, "/mnt") is None

        # the kernel survived: memfs mounts, works and unmounts cleanly
        s = h.start_server(k)

        async def after():
            error, fd = await h.create("/mnt/alive")
            assert error == 0
            assert await h.write(fd, b"still here") == (0, 10)
            assert await h.close(fd) == 0
            return await h.unmount("/mnt")

        assert k.run(after) == 0
        assert not s.errors and s.loop_error == 0
        if level < 7:
            # without a /dev/puffs instance of the process, mount(2) fails
            assert all(o.startswith("mount ") for o in outcomes), outcomes
        if level == 8:
            assert any(o.startswith("mounted") for o in outcomes), outcomes
            assert ECHOED[0] > 0  # the requests did reach the responder
