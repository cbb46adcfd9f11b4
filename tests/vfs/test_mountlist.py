"""The mount list's iterator and vfs_busy (vfs/mount.py, vfs_mount.c 1.93).

mountlist_iterator_next hands out each mount busy (a transaction on it and a
reference) until the next call or destroy; it skips a gone mount, waits for
a suspended one (an unmount suspends first) and keeps its place with a
marker, so a mount removed while the iterator is at it does not lose the
rest of the list.  mountlist_iterator_trynext skips a suspended mount.  The
lwp that suspended a mount may busy it (its transactions nest).
"""

from __future__ import annotations

import pytest

import kern
from kern import EBUSY, ENOENT, KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join
from kern.machine.testing import sweep
from vfs.mount import (
    IMNT_GONE,
    mount,
    mountlist,
    mountlist_append,
    mountlist_iterator_destroy,
    mountlist_iterator_init,
    mountlist_iterator_next,
    mountlist_iterator_trynext,
    mountlist_remove,
    vfs_busy,
    vfs_trybusy,
    vfs_unbusy,
    vfsglobals,
    vfsops,
)
from vfs.vfs_trans import (
    fstrans_held,
    fstrans_mount,
    genfs_suspendctl,
    vfs_resume,
    vfs_suspend,
)


def make_mounts(n: int) -> list[mount]:
    """``n`` test mounts with transactions and suspension, appended to the list."""
    ops = vfsops("testfs", vfs_suspendctl=genfs_suspendctl)
    mps = []
    for _ in range(n):
        mp = mount(ops)
        assert fstrans_mount(mp) == 0
        mountlist_append(mp)
        mps.append(mp)
    return mps


def forget(*mps: mount) -> None:
    """Take test mounts off the list again (the halt would try to unmount them)."""
    for mp in mps:
        if mp in mountlist():
            mountlist_remove(mp)


def spawn(fn, name: str):
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, None, "%s", name)
    assert error == 0
    return l


@pytest.fixture(params=sweep(3))
def k(request):
    with kern.boot(seed=request.param, config="BARE") as m:
        yield m


def test_each_mount_is_busy_while_the_iterator_is_at_it(k):
    async def body():
        a, b, c = make_mounts(3)
        base = {id(mp): mp.mnt_refcnt for mp in (a, b, c)}
        seen = []
        it = mountlist_iterator_init()
        while (mp := await mountlist_iterator_next(it)) is not None:
            if mp in (a, b, c):
                # busy: a transaction and one more reference, this mount only
                seen.append([(bool(fstrans_held(x)), x.mnt_refcnt - base[id(x)])
                             for x in (a, b, c)])
        mountlist_iterator_destroy(it)
        after = [(bool(fstrans_held(x)), x.mnt_refcnt - base[id(x)]) for x in (a, b, c)]
        markers = len(vfsglobals().mountlist_head) - len(mountlist())
        forget(a, b, c)
        return seen, after, markers

    seen, after, markers = k.run(body)
    assert seen == [[(True, 1), (False, 0), (False, 0)],
                    [(False, 0), (True, 1), (False, 0)],
                    [(False, 0), (False, 0), (True, 1)]]
    assert after == [(False, 0)] * 3
    assert markers == 0


def test_a_mount_removed_under_the_iterator_keeps_its_place(k):
    async def body():
        a, b, c = make_mounts(3)
        it = mountlist_iterator_init()
        other = mountlist_iterator_init()      # a second iterator's marker on the list
        got = []
        while (mp := await mountlist_iterator_next(it)) is not None:
            if mp is a:
                mountlist_remove(a)             # as dounmount would, once a is gone
                mountlist_remove(b)
            if mp in (a, b, c):
                got.append("abc"[(a, b, c).index(mp)])
        mountlist_iterator_destroy(it)
        first = await mountlist_iterator_next(other)
        rest = []
        while (mp := await mountlist_iterator_next(other)) is not None:
            rest.append(mp)
        mountlist_iterator_destroy(other)
        forget(a, b, c)
        # the second iterator, still at the head, sees only what is left
        return got, ["abc"[(a, b, c).index(m)] for m in (first, *rest) if m in (a, b, c)]

    assert k.run(body) == (["a", "c"], ["c"])


def test_gone_mounts_are_skipped_and_not_busied(k):
    async def body():
        a, b = make_mounts(2)
        a.mnt_iflag |= IMNT_GONE
        got = []
        it = mountlist_iterator_init()
        while (mp := await mountlist_iterator_next(it)) is not None:
            got.append(mp)
        mountlist_iterator_destroy(it)
        forget(a, b)
        return a in got, b in got, await vfs_busy(a), vfs_trybusy(a), fstrans_held(a)

    assert k.run(body) == (False, True, ENOENT, ENOENT, 0)


def test_a_suspended_mount_is_waited_for_by_next_and_skipped_by_trynext(k):
    async def body():
        a, b = make_mounts(2)
        log: list[str] = []
        assert await vfs_suspend(a, 0) == 0

        tried = []

        async def trywalker(_):
            # (another lwp: the suspender itself may busy the mount it suspended)
            it = mountlist_iterator_init()
            while (mp := mountlist_iterator_trynext(it)) is not None:
                tried.append(mp)
            mountlist_iterator_destroy(it)
            log.append(f"trybusy {vfs_trybusy(a)}")

        await kthread_join(spawn(trywalker, "trywalker"))
        log.append(f"owner busy {await vfs_busy(a)}")
        vfs_unbusy(a)

        async def walker(_):
            it = mountlist_iterator_init()
            while (mp := await mountlist_iterator_next(it)) is not None:
                if mp is a:
                    log.append("walker has a")
            mountlist_iterator_destroy(it)

        l = spawn(walker, "walker")
        await kpause("walk", False, 5, None)
        log.append("resume")
        await vfs_resume(a)
        await kthread_join(l)
        forget(a, b)
        return a in tried, b in tried, log

    a_tried, b_tried, log = k.run(body)
    assert (a_tried, b_tried) == (False, True)
    assert log == [f"trybusy {EBUSY}", "owner busy 0", "resume", "walker has a"]


def test_vfs_unbusy_ends_the_transaction_a_suspension_waits_for(k):
    async def body():
        (a,) = make_mounts(1)
        log: list[str] = []
        assert await vfs_busy(a) == 0

        async def suspender(_):
            assert await vfs_suspend(a, 0) == 0
            log.append("suspended")
            await vfs_resume(a)

        l = spawn(suspender, "suspender")
        await kpause("busy", False, 5, None)
        log.append("unbusy")
        vfs_unbusy(a)
        await kthread_join(l)
        forget(a)
        return log

    assert k.run(body) == ["unbusy", "suspended"]


def test_a_busy_waiting_through_an_unmount_gets_enoent_and_holds_nothing(k):
    """vfs_busy waits while dounmount has the mount suspended; the unmount marks
    it gone, resumes it and drops its transaction state (fstrans_unmount)
    before the waiter runs again.  The waiter gets ENOENT and is left in no
    transaction (fstrans_dump lists none for it)."""
    from vfs.vfs_trans import fstrans_dump, fstrans_unmount

    async def body():
        (a,) = make_mounts(1)
        assert await vfs_suspend(a, 0) == 0
        out: dict[str, object] = {}

        async def waiter(_):
            out["busy"] = await vfs_busy(a)
            out["dump"] = fstrans_dump(a)

        l = spawn(waiter, "waiter")
        await kpause("wait", False, 5, None)
        out["waiting"] = "busy" not in out
        a.mnt_iflag |= IMNT_GONE               # dounmount's order
        await vfs_resume(a)
        mountlist_remove(a)
        fstrans_unmount(a)
        await kthread_join(l)
        return out

    assert k.run(body) == {"waiting": True, "busy": ENOENT,
                           "dump": "Fstrans locks by lwp:"}


def test_a_busy_mount_delays_its_unmount_as_vfs_mount_1_93(tmp_path):
    """vfs_busy is a transaction on the mount and dounmount suspends the file
    system first (vfs_mount.c 1.93), so an unmount of a mount another lwp holds
    busy waits for its vfs_unbusy and then succeeds.  (1.37, which kemu does
    not follow here, counts mnt_busynest and fails that unmount with EBUSY.)"""
    from tests.fs.ext2fs.helpers import MB, boot, check, mkfs, mount, mount_of, umount

    img = mkfs(str(tmp_path / "b.img"), 4 * MB, 1024)

    async def body():
        check(await mount(img))
        mp = await mount_of("/mnt")
        log: list[str] = []

        async def holder(_):
            log.append(f"busy {await vfs_busy(mp)}")
            await kpause("busy", False, 5, None)
            log.append("unbusy")
            vfs_unbusy(mp)

        l = spawn(holder, "holder")
        await kpause("start", False, 1, None)
        log.append(f"unmount {await umount()}")
        await kthread_join(l)
        return log

    with boot() as m:
        assert m.run(body) == ["busy 0", "unbusy", "unmount 0"]
