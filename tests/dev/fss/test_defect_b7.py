"""fss.c 1.104's defect B7, kept on purpose: the vfs_hooks lock against fss_device_lock.

fss_open attaches the first unit under ``fss_device_lock``, and fss_attach
registers the unmount hook with ``vfs_hooks_attach``, which takes
``vfs_hooks_lock`` (fss_close's last detach does the same through
``vfs_hooks_detach``).  dounmount walks the hooks holding ``vfs_hooks_lock``,
and ``fss_unmount_hook`` takes ``fss_device_lock``.  Two orders: a last close
racing an unmount deadlocks.  No revision in fss-spec.md §6.1's timeline
(through 1.114) moves the hook registration out of fss_attach/fss_detach or
the lock out of fss_unmount_hook, so it is open as far as we know; fss.py
declares the reversal kept (``lockdebug_kept_reversal``), so lockdebug reports
it instead of ending the run.
"""

from __future__ import annotations

import pytest

import kern
import kern.subr_lockdebug as lockdebug
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from tools.lib import libc


async def _open_then_unmount(origin: str) -> None:
    await kt.mount_image(origin, "/mnt")
    fd = await libc.open("/dev/rfss0", O_RDWR)  # unit 0 attaches: the hook goes in
    await libc.unmount("/mnt", 0)  # the hook walk calls fss_unmount_hook
    await libc.close(fd)  # the last close detaches: the hook goes out


def test_B7_lockdebug_reports_the_kept_reversal(origin):
    """B7 (open; see the module notes): the first order is taken by fss_open's
    attach, the second by dounmount's hook walk; lockdebug reports the reversal
    once, with both acquisition sites, and the run goes on."""
    with kern.boot(seed=1) as k:
        k.run(_open_then_unmount, origin)
        reports = k.run(_reversals)
        dmesg = k.dmesg()
    assert len(reports) == 1
    r = reports[0]
    assert 'lock order reversal in lwp' in r
    assert '1st "vfs_hooks_lock" (mutex) taken at vfs/mount.py' in r
    assert 'in vfs_hooks_unmount' in r
    assert '2nd "fss_device_lock" (mutex) wanted at dev/fss/fss.py' in r
    assert 'in fss_unmount_hook' in r
    # the order seen first: fss_open holds fss_device_lock, fss_attach's
    # vfs_hooks_attach takes the hooks lock
    assert '"fss_device_lock" taken at dev/fss/fss.py' in r and 'in fss_open' in r
    assert '"vfs_hooks_lock" taken at vfs/mount.py' in r and 'in vfs_hooks_attach' in r
    assert r.endswith("kept on purpose: fss.c 1.104 defect B7")
    assert "lock order reversal" in dmesg


async def _reversals() -> list[str]:
    return lockdebug.lockdebug_reversals()


def test_B7_is_a_lock_order_reversal_when_not_declared(origin, monkeypatch):
    """Without fss.py's declaration the same run ends in kern.LockOrderReversal:
    the checker sees the two orders, the declaration only keeps them."""
    monkeypatch.setattr(lockdebug, "_kept", {})
    # fss.py is executed afresh for the machine: its declaration finds this one
    monkeypatch.setattr(lockdebug, "lockdebug_kept_reversal", lambda *a: None)
    with kern.boot(seed=1) as k:
        with pytest.raises(kern.LockOrderReversal) as e:
            k.run(_open_then_unmount, origin)
    msg = str(e.value)
    assert '1st "vfs_hooks_lock"' in msg and '2nd "fss_device_lock"' in msg
    assert "in fss_unmount_hook" in msg and "in vfs_hooks_attach" in msg


def test_B7_not_reported_without_fss(origin):
    """An unmount with no fss unit attached takes only the hooks lock: nothing
    to report (fss's hook is not in the list)."""
    async def body():
        await kt.mount_image(origin, "/mnt")
        await libc.unmount("/mnt", 0)
        return lockdebug.lockdebug_reversals()

    with kern.boot(seed=1) as k:
        assert k.run(body) == []


# --- found by the schedule alone -----------------------------------------------------------
#
# tests/dev/fss/scenarios.py's b7_unmount_vs_last_close starts two processes at
# once, with no delay anywhere: one opens /dev/rfss0 and closes it (the first
# open attaches the unit and its unmount hook, the last close detaches them,
# under fss_device_lock), the other unmounts the file system (the hook walk
# holds vfs_hooks_lock and calls fss_unmount_hook).  Whether the walk meets
# the hook while the close holds fss_device_lock is up to the scheduler.
# Measured (kemu explore, seeds from 0; benchmarks/bench_explore.py prints the
# B7 row): pct depth 2 with steps=100 deadlocks 3 runs of 200, the first at
# seed 107; pct depth 3, 1 of 200 (seed 114); random 0 of 300; dfs with a
# preemption bound of 1 at its 373rd run; with lockdebug="strict", pct depth 2
# meets the reversal 12 runs of 200, the first at seed 4.

B7_RUN = {"trace": False}
# The deadlock with one preemption (what shrinking made of pct's seed 107): the
# close is switched away from right after it took fss_device_lock.
B7_SHRUNK = "k1.eNpjYCAHMAIAADgAAg"


def test_B7_the_race_passes_unpreempted():
    """No preemption (the zero schedule): the close runs to its end before the
    unmount; both succeed, and there is nothing to report."""
    from kern.machine.explore import run_scenario
    from kern.machine.schedule import encode

    from .scenarios import b7_unmount_vs_last_close

    r = run_scenario(b7_unmount_vs_last_close, replay=encode([]), boot=B7_RUN)
    assert not r.failed and r.value == [0, 0], r


def test_B7_pct_finds_the_deadlock_by_schedule_alone():
    """pct (depth 2) deadlocks the race within 110 runs: the close holds
    fss_device_lock and waits for vfs_hooks_lock, which the unmount's hook walk
    holds while it waits for fss_device_lock."""
    from kern.machine.explore import explore, run_scenario

    from .scenarios import b7_unmount_vs_last_close

    e = explore(b7_unmount_vs_last_close, strategy="pct", depth=2, steps=100, runs=110,
                stop_at_first=True, boot=B7_RUN)
    assert e.first_failure is not None and e.first_failure <= 109, str(e)
    (found,) = e.failures.values()
    _assert_b7_deadlock(found.exception)
    site = found.outcome.site.split("; ")  # (what groups failures in a campaign)
    assert [s.split(":")[0] + " " + s.split(" in ")[1] for s in site] == \
        ["dev/fss/fss.py fss_unmount_hook", "vfs/mount.py vfs_hooks_detach"]
    again = run_scenario(b7_unmount_vs_last_close, replay=found.schedule, boot=B7_RUN)
    assert again.outcome == found.outcome


def test_B7_one_preemption_is_enough():
    """The shrunk schedule: one preemption, and the deadlock (dfs with a bound
    of 1 finds a schedule like it)."""
    from kern.machine.explore import run_scenario

    from .scenarios import b7_unmount_vs_last_close

    r = run_scenario(b7_unmount_vs_last_close, replay=B7_SHRUNK, boot=B7_RUN)
    assert r.preemptions == 1
    _assert_b7_deadlock(r.exception)


def test_B7_strict_lockdebug_reports_the_reversal_without_the_deadlock():
    """With lockdebug="strict" the kept reversal ends the run as soon as a
    schedule takes both orders, deadlocked or not: pct meets it in 5 runs."""
    from kern.machine.explore import explore

    from .scenarios import b7_unmount_vs_last_close

    e = explore(b7_unmount_vs_last_close, strategy="pct", depth=2, steps=100, runs=10,
                stop_at_first=True, boot={**B7_RUN, "lockdebug": "strict"})
    assert e.first_failure is not None and e.first_failure <= 4, str(e)
    (found,) = e.failures.values()
    assert found.outcome.error == "LockOrderReversal"
    msg = found.exception.message
    assert '1st "vfs_hooks_lock"' in msg and '2nd "fss_device_lock"' in msg
    assert "declared kept (fss.c 1.104 defect B7)" in msg


def _assert_b7_deadlock(exc) -> None:
    assert isinstance(exc, kern.Deadlock), exc
    lwps = {i.name: i for i in exc.crash.lwps}
    assert lwps["fssuser"].waiting_for == 'waiting for mutex "vfs_hooks_lock" held by "umount"'
    assert "fss_device_lock" in lwps["fssuser"].held_locks
    assert lwps["umount"].waiting_for == \
        'waiting for mutex "fss_device_lock" held by "fssuser"'
    assert "vfs_hooks_lock" in lwps["umount"].held_locks
