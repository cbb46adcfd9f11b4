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
