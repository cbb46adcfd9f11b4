"""Data races of fss.c 1.104, kept on purpose: what kemu's race detector reports.

With ``kern.boot(race=True)`` (or ``pytest --kemu-race``) the lockset detector
(kern.machine.lockset) watches struct fss_softc and struct fss_cache.  The
races below are 1.104's own; its table declares them kept (the run goes on,
each is recorded once in ``k.race.kept`` and printed), naming the revision
that fixed them.  Any other race on those fields still ends the run.
"""

from __future__ import annotations

import kern
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from tools.lib import libc

PAGE = 4096


def _kept(k, field: str) -> list:
    return [r for r in k.race.kept if r.field == field]


async def _snapshot_then(origin, then):
    await kt.mount_image(origin, "/mnt")
    await kt.write_file("/mnt/f", b"o" * (16 * PAGE))
    await libc.sync()
    snap = await kt.snapshot("/mnt")
    try:
        return await then(snap)
    finally:
        await snap.unconfigure()


def test_fss_create_snapshot_sets_FSS_ACTIVE_without_sc_slock(origin):
    """Fixed in 1.105 (sc_state, changed under sc_slock): 1.104's
    fss_create_snapshot does ``sc_flags |= FSS_ACTIVE`` holding only sc_lock, while
    the bs thread it has just started tests sc_flags under sc_slock (as fss_open
    and fss_close change it): an update under one lock against another."""
    async def nothing(snap):
        return (await snap.get()).fsg_mount

    with kern.boot(seed=1, race=True) as k:
        assert k.run(_runner(origin, nothing)) == b"/mnt"
        assert k.race.races == []
        reps = _kept(k, "sc_flags")
    assert reps, "the detector did not see 1.104's FSS_ACTIVE update"
    msg = reps[0].message
    lines = msg.splitlines()
    assert lines[0].startswith("data race on fss_softc.sc_flags of <fss_softc fss0")
    assert any(" in fss_create_snapshot, holding " in line and '"sc.sc_lock"' in line
               and '"sc.sc_slock"' not in line for line in lines[1:3])
    assert any('lwp "fss0"' in line and " in fss_bs_thread, holding " in line and
               '"sc.sc_slock"' in line for line in lines[1:3])
    assert "1.105 keeps the snapshot's state in sc_state" in reps[0].why
    assert "kept on purpose" in k.dmesg()


def _runner(origin, then):
    async def body():
        return await _snapshot_then(origin, then)
    return body


def test_FSSIOCGET_reads_sc_clnext_without_sc_slock(origin):
    """Fixed in 1.105 (FSSIOCGET holds sc_slock): the bs thread advances sc_clnext
    under sc_slock as it writes clusters to the backing store; 1.104's FSSIOCGET
    reads it (fsg_bs_size) holding only sc_lock."""
    async def write(off):
        fd = await libc.open("/mnt/f", O_RDWR)
        await libc.lseek(fd, off, 0)
        await libc.write(fd, b"n" * (4 * PAGE))
        await libc.fsync(fd)
        await libc.close(fd)
        for _ in range(5):  # let the bs thread move the clusters to the store
            await kern.kpause("let", False, 1, None)

    async def write_then_get(snap):
        await write(0)
        size = (await snap.get()).fsg_bs_size
        await write(8 * PAGE)  # the store grows while FSSIOCGET has looked at it
        return size, (await snap.get()).fsg_bs_size

    with kern.boot(seed=2, race=True) as k:
        first, then = k.run(_runner(origin, write_then_get))
        assert k.race.races == []
    assert 2 <= first < then  # the indirect cluster and the copied clusters
    reps = _kept(k, "sc_clnext")
    assert reps, "the detector did not see FSSIOCGET's read"
    for r in reps:  # (one report per pair of sites)
        lines = r.message.splitlines()
        assert any(line.startswith("  read by lwp") and " in fss_ioctl, holding " in line
                   and '"sc.sc_lock"' in line and '"sc.sc_slock"' not in line
                   for line in lines[1:3])
        assert any(line.startswith('  write by lwp "fss0"') and " in fss_bs_thread, " in
                   line and '"sc.sc_slock"' in line for line in lines[1:3])
        assert "1.105's FSSIOCGET holds sc_slock" in r.why
