"""fss scenarios for exploration: ``async def``s run as one lwp of a fresh machine.

``kemu explore tests.dev.fss.scenarios:NAME`` runs one of them many times
(kern/machine/campaign.py); the tests and benchmarks/bench_explore.py call
them through ``kern.machine.explore``.  Each sets up its own file system on
a memory disk (md0 at /dev/wd0, formatted by kemu's newfs_ext2fs with a
fixed creation time and UUID), so a run touches nothing on the host and
replays the same in any process.

* :func:`b7_unmount_vs_last_close`: fss.c 1.104's defect B7, by schedule
  alone: one process opens and closes /dev/rfss0 (the first open attaches
  the unit and its unmount hook, the last close detaches them, both under
  ``fss_device_lock``) while another unmounts the file system (the hook walk
  holds ``vfs_hooks_lock`` and calls ``fss_unmount_hook``, which takes
  ``fss_device_lock``);
* :func:`sweep`: the fss sweep (writers against snapshot readers, the
  snapshot checked against the disk as it was), as tests/dev/fss/test_faults.py
  runs it, in one machine;
* :func:`stress`: the generic stress scenario of the planted-bug benchmark:
  writers, snapshot readers, a poller of FSSIOCGET, and a clear while they
  run.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable
from typing import Any

from dev.fss.fssvar import FSSIOCCLR
from kern import KASSERT
from kern.cpu import curmachine, curproc
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_WRONLY
from kern.kern_lwp import lwp
from kern.machine import testing as kt
from kern.machine.testing import MiB
from tools.lib import libc

IMAGE_SIZE = 4 * MiB
PAGE = 4096
# newfs_ext2fs's creation time and UUID: fixed, so every run formats the same bytes
NEWFS_TIME = 1516747349
NEWFS_UUID = bytes(range(16))


@functools.lru_cache(maxsize=4)
def _newfs_writes(size: int) -> tuple[tuple[int, bytes], ...]:
    """The writes that make an ext2 file system of ``size`` bytes (computed once)."""
    from tools import newfs_ext2fs as core

    p = core.newfs_params(fssize=size // 512, bsize=1024, Oflag=1, verbosity=0,
                          now=NEWFS_TIME, uuid=NEWFS_UUID)
    p.out = lambda s: None
    core._defaults(p)
    return tuple(core.mke2fs_plan(p).writes)


async def md_ext2(mnt: str = "/mnt", size: int = IMAGE_SIZE) -> None:
    """A fresh ext2 file system on md0 (/dev/wd0), mounted on ``mnt``."""
    from tools.cmds.newfs import sector_pwrite

    await kt.attach_memory_disk(size)
    fd = await libc.open("/dev/rwd0", O_RDWR)
    try:
        for off, data in _newfs_writes(size):
            await sector_pwrite(fd, data, off)
    finally:
        await libc.close(fd)
    await kt.mount_ext2("/dev/wd0", mnt)


def spawn(name: str, afn: Callable[..., Awaitable[Any]], *args: Any) -> lwp:
    """Start ``afn(*args)`` as the lwp of a new process ``name`` (a child of the
    caller's); :func:`join` waits for it."""
    m = curmachine()
    p = m.proc_create(name, curproc())
    l = lwp(p, name)
    m.spawn_lwp(l, afn, args)
    return l


async def join(*lwps: lwp) -> None:
    for l in lwps:
        await kt.lwp_join(l, 0)


# --- B7: the unmount racing the first open and the last close ------------------------------

async def b7_unmount_vs_last_close() -> list[int]:
    """Two processes started together, with no delay anywhere: ``fssuser``
    opens /dev/rfss0 and closes it again, ``umount`` unmounts /mnt.  Their
    errnos (the unmount may meet EBUSY from nothing here: it should pass).

    Whether the unmount's hook walk meets the unit depends on the schedule
    only: between the first open's attach and the last close's detach the
    hook is in the list, and a close that holds ``fss_device_lock`` when the
    walk holds ``vfs_hooks_lock`` deadlocks (B7).
    """
    await md_ext2()
    errors = [-1, -1]

    async def open_close() -> None:
        fd = await libc.open("/dev/rfss0", O_RDWR)
        errors[0] = await kt.errno_of(libc.close(fd))

    async def umount() -> None:
        errors[1] = await kt.unmount("/mnt")

    await join(spawn("fssuser", open_close), spawn("umount", umount))
    return errors


# --- the fss sweep in one machine --------------------------------------------------------

FILES = 6
FSIZE = 6 * PAGE


async def _fill() -> None:
    for i in range(FILES):
        await kt.write_file(f"/mnt/f{i}", bytes([65 + i]) * FSIZE)
    await libc.sync()


async def _read_all(path: str, size: int) -> bytes:
    fd = await libc.open(path, O_RDONLY)
    try:
        return await libc.pread(fd, size, 0)
    finally:
        await libc.close(fd)


async def page_writer(n: int, rounds: int = 6) -> None:
    """Overwrite a page of a random /mnt/f<i>, fsync half the time: ``rounds``
    times, choices drawn from random.Random(n) (test_faults' sweep uses it too)."""
    wr = random.Random(n)
    for _ in range(rounds):
        i = wr.randrange(FILES)
        fd = await libc.open(f"/mnt/f{i}", O_WRONLY | O_CREAT)
        off = wr.randrange(0, FSIZE, PAGE)
        await libc.pwrite(fd, bytes([wr.randrange(256)]) * PAGE, off)
        if wr.random() < 0.5:
            await libc.fsync(fd)
        await libc.close(fd)


async def _reader(n: int, frozen: bytes, bad: list[tuple[int, int]], reads: int = 8) -> None:
    rr = random.Random(100 + n)
    fd = await libc.open("/dev/rfss0", O_RDONLY)
    try:
        for _ in range(reads):
            off = rr.randrange(0, IMAGE_SIZE, 512)
            size = rr.choice([512, 4096, 65536])
            got = await libc.pread(fd, size, off)
            if got != frozen[off:off + len(got)]:
                bad.append((off, size))
    finally:
        await libc.close(fd)


async def sweep(csize: int = 4096) -> int:
    """Writers against snapshot readers: what /dev/rfss0 returns is /dev/rwd0 as
    it was when the snapshot was taken (KASSERT), whatever the writers do.
    Returns the number of bytes checked."""
    await md_ext2()
    await _fill()
    fd = await libc.open("/dev/rfss0", O_RDWR)
    await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s", csize=csize)
    frozen = await _read_all("/dev/rwd0", IMAGE_SIZE)
    bad: list[tuple[int, int]] = []
    ls = [spawn(f"writer{n}", page_writer, n) for n in range(2)]
    ls += [spawn(f"reader{n}", _reader, n, frozen, bad) for n in range(2)]
    await join(*ls)
    KASSERT(not bad)
    await libc.sync()
    whole = await _read_all("/dev/rfss0", IMAGE_SIZE)
    KASSERT(whole == frozen)
    await libc.close(fd)
    return len(whole)


# --- the generic stress scenario --------------------------------------------------------

async def _poller(fd: int, polls: int, seen: list[int]) -> None:
    """FSSIOCGET on the unit, as fssconfig -l does, while the others run."""
    for _ in range(polls):
        try:
            st = await kt.fss_get_ioctl(fd)
            seen.append(st.fsg_csize)
        except SyscallError as e:
            seen.append(-e.errno)


async def stress(csize: int = 65536) -> int:
    """Writers, snapshot readers, a poller and a clear, all at once.

    fss0 is a snapshot of a filled file system (64 KiB clusters: 8 cache
    slots).  Then, together: two writers overwrite pages of the files (the
    copy-on-write path, inside fstrans transactions), two readers read fss0
    and compare with the disk as it was (the cache, the bs thread, the
    backing store), a poller asks FSSIOCGET, and a clearer clears fss0 once
    the readers are done, while the writers write (fscow_disestablish against
    running handlers), then takes a second snapshot on fss1 while they still
    write (vfs_suspend against their transactions) and reads it twice: the
    two reads must agree.  Nothing may hang, panic, or return
    other data.  Returns the bytes the readers checked."""
    await md_ext2()
    await _fill()
    fd = await libc.open("/dev/rfss0", O_RDWR)
    await kt.fss_set_ioctl(fd, "/mnt", "/tmp/s0", csize=csize)
    frozen = await _read_all("/dev/rwd0", IMAGE_SIZE)
    bad: list[tuple[int, int]] = []
    seen: list[int] = []
    checked = [0]

    async def reader(n: int) -> None:
        rr = random.Random(200 + n)
        try:
            rfd = await libc.open("/dev/rfss0", O_RDONLY)
        except SyscallError:
            return
        try:
            for _ in range(6):
                off = rr.randrange(0, IMAGE_SIZE // 4, 512)
                size = rr.choice([4096, 16384])
                try:
                    got = await libc.pread(rfd, size, off)
                except SyscallError:
                    return  # cleared meanwhile (ENXIO)
                checked[0] += len(got)
                if got != frozen[off:off + len(got)]:
                    bad.append((off, size))
        finally:
            await libc.close(rfd)

    async def clearer(readers: list[lwp]) -> None:
        # Not before the readers are done: fss.c 1.104 loses a read still queued
        # for the bs thread when FSSIOCCLR stops it (the thread exits without
        # draining sc_bufq; the reader sleeps in physio for ever: defect B17,
        # pinned in test_defects.py), which pct found here within a few runs.
        await join(*readers)
        await libc.ioctl(fd, FSSIOCCLR, None)
        fd1 = await libc.open("/dev/rfss1", O_RDWR)
        try:
            await kt.fss_set_ioctl(fd1, "/mnt", "/tmp/s1", csize=csize)
            first = await libc.pread(fd1, IMAGE_SIZE // 4, 0)
            again = await libc.pread(fd1, IMAGE_SIZE // 4, 0)
            KASSERT(first == again)
            await libc.ioctl(fd1, FSSIOCCLR, None)
        finally:
            await libc.close(fd1)

    ls = [spawn(f"writer{n}", page_writer, n, 5) for n in range(2)]
    readers = [spawn(f"reader{n}", reader, n) for n in range(2)]
    ls += readers
    ls.append(spawn("poller", _poller, fd, 4, seen))
    ls.append(spawn("clearer", clearer, readers))
    await join(*ls)
    KASSERT(not bad)
    await libc.close(fd)
    return checked[0]


__all__ = ["b7_unmount_vs_last_close", "join", "md_ext2", "spawn", "stress", "sweep"]
