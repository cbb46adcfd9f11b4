"""fstrans's per-lwp records kept on the lwp (``l.l_fstrans``, vfs/vfs_trans.py's
deviation): each lwp has its own, a lookup outside an lwp is refused as
curlwp refuses it, and the DDB dump still finds them."""

from __future__ import annotations

import pytest

import kern
from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.cpu import curlwp
from kern.machine.testing import Gate, sweep
from tests.vfs.test_vfs_trans import make_mount
from vfs import vfs_trans
from vfs.mount import mount, vfsops
from vfs.vfs_trans import fstrans_done, fstrans_dump, fstrans_held, fstrans_mount, fstrans_start


@pytest.fixture(params=sweep(3))
def k(request):
    with kern.boot(seed=request.param) as m:
        yield m


def test_each_lwp_has_its_own_records(k):
    """Two lwps inside a transaction on one mount each see only their own
    record (count 1 each, nested in one of them), a third sees none; a record
    is on its lwp's ``l_fstrans`` and names that lwp; fstrans_dump lists both."""

    async def body():
        mp = make_mount()
        inside = [Gate(), Gate()]
        leave = Gate()
        seen = {}

        async def worker(i):
            await fstrans_start(mp)
            if i == 1:
                await fstrans_start(mp)  # nested: this lwp's count only
            fli = vfs_trans.fstrans_get_lwp_info(mp, False)
            seen[i] = (fli, fli.fli_trans_cnt, fli in curlwp().l_fstrans, fli.fli_self is curlwp())
            inside[i].open()
            await leave.wait()
            fstrans_done(mp)
            if i == 1:
                assert fstrans_held(mp)
                fstrans_done(mp)
            assert not fstrans_held(mp)

        ls = []
        for i in (0, 1):
            error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, worker, i, "w%d", i)
            assert error == 0
            ls.append(l)
        for g in inside:
            await g.wait()
        mine = (fstrans_held(mp), vfs_trans.fstrans_get_lwp_info(mp, False))
        dump = fstrans_dump(mp)
        leave.open()
        for l in ls:
            await kthread_join(l)
        return seen, mine, dump, ls

    seen, mine, dump, ls = k.run(body)
    (f0, c0, on0, self0), (f1, c1, on1, self1) = seen[0], seen[1]
    assert f0 is not f1
    assert (c0, c1) == (1, 2)
    assert on0 and on1 and self0 and self1
    assert mine == (0, None)
    assert ls[0].l_fstrans == [f0] and ls[1].l_fstrans == [f1]
    lines = dump.splitlines()
    for l, cnt in zip(ls, (1, 2), strict=True):
        assert [s for s in lines if s.startswith(f"{l.l_proc.p_pid}.{l.l_lid} (")
                and s.endswith(f" shared {cnt} cow 0")]


def test_lookup_outside_an_lwp_is_refused_as_curlwp_refuses():
    with kern.boot(seed=1) as m:
        async def body():
            return make_mount()

        mp = m.run(body)  # (made inside; looked up from outside below)
    with pytest.raises(RuntimeError, match="not running in an lwp"):
        vfs_trans.fstrans_get_lwp_info(mp, True)


def test_new_transaction_state_without_unmount_gets_a_new_record(k):
    """The last-found shortcut tests only the record's mount and the count of
    state changes: a mount given new transaction state (fstrans_mount again,
    no fstrans_unmount between) must not be handed its old state's record."""

    async def body():
        mp = make_mount()
        await fstrans_start(mp)
        fstrans_done(mp)
        old = vfs_trans.fstrans_get_lwp_info(mp, False)
        assert old is not None and old.fli_mountinfo is mp.mnt_transinfo
        assert vfs_trans.fstrans_get_lwp_info(mp, False) is old  # (the shortcut)
        assert fstrans_mount(mp) == 0
        assert vfs_trans.fstrans_get_lwp_info(mp, False) is None
        await fstrans_start(mp)
        new = vfs_trans.fstrans_get_lwp_info(mp, False)
        assert new is not old and new.fli_mountinfo is mp.mnt_transinfo
        assert (new.fli_trans_cnt, old.fli_trans_cnt) == (1, 0)
        fstrans_done(mp)
        return True

    assert k.run(body)


def test_lock_paths_try_the_last_record_only_while_it_is_valid(k):
    """_fstrans_start_nowait and fstrans_done try the lwp's last-found record
    before _has_trans(mp): after the mount lost its transaction state they
    count nothing on that stale record; with no record found last (the
    placeholder) a mount of None or one without transaction state is a no-op."""
    from vfs.vfs_trans import fstrans_start_nowait, fstrans_unmount

    async def body():
        mp, other = make_mount(), make_mount()
        plain = mount(vfsops("plainfs"))  # no transaction state
        await fstrans_start(mp)
        fstrans_done(mp)
        rec = vfs_trans.fstrans_get_lwp_info(mp, False)
        fstrans_unmount(mp)
        assert fstrans_start_nowait(mp) == 0
        fstrans_done(mp)
        assert rec.fli_trans_cnt == 0 and not fstrans_held(mp)
        # The last lookup found nothing: the placeholder is the last record.
        assert vfs_trans.fstrans_get_lwp_info(other, False) is None
        for m in (None, plain):
            assert fstrans_start_nowait(m) == 0
            fstrans_done(m)
        assert curlwp().l_fstrans.fli_last.fli_trans_cnt == 0
        # And a lookup that finds the record makes the next lock use it.
        await fstrans_start(other)
        fli = vfs_trans.fstrans_get_lwp_info(other, False)
        assert fstrans_start_nowait(other) == 0 and fli.fli_trans_cnt == 2
        fstrans_done(other)
        fstrans_done(other)
        assert fli.fli_trans_cnt == 0 and not fstrans_held(other)
        return True

    assert k.run(body)
