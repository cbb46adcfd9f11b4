"""The lockset race detector (kern.machine.lockset): Eraser over kemu's kernel structures.

Each scenario is a few kernel threads sharing one ``struct fss_softc`` (a
watched struct) under different locking: the planted unlocked write is
reported with both sites; initialisation before sharing, read sharing,
declared fields, lwps that exit and locks held as reader are judged as
Eraser and the table say.
"""

from __future__ import annotations

import inspect
import threading
from types import MemberDescriptorType, SimpleNamespace

import pytest

import kern
from dev.fss.fssvar import fss_softc
from kern import (
    IPL_NONE,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    RW_READER,
    RW_WRITER,
    kpause,
    krwlock_t,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
    rw_enter,
    rw_exit,
    rw_init,
)
from kern.machine import lockset
from tests.pytest_child import run_pytest
from tools.lib import forkserver


def _line(fn, text: str) -> int:
    """The line number of the first line of ``fn`` containing ``text``."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if text in line:
            return start + i
    raise AssertionError(f"{text!r} not in {fn.__name__}")


async def _threads(*fns, arg):
    """Run each fn(arg) as a kernel thread (named after it) and wait for all."""
    ls = []
    for fn in fns:
        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fn, arg, "%s", fn.__name__)
        assert error == 0
        ls.append(l)
    for l in ls:
        await kthread_join(l)


def _softc() -> fss_softc:
    sc = fss_softc()
    mutex_init(sc.sc_slock, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(sc.sc_lock, MUTEX_DEFAULT, IPL_NONE)
    return sc


# --- the planted race -----------------------------------------------------------------

async def locked_writer(sc):
    for i in range(3):
        await mutex_enter(sc.sc_slock)
        sc.sc_uflags = i  # the documented way: under sc_slock
        mutex_exit(sc.sc_slock)
        await kpause("lw", False, 1, None)


async def unlocked_writer(sc):
    for i in range(3):
        sc.sc_uflags = 10 + i  # planted: no lock
        await kpause("uw", False, 1, None)


async def planted():
    await _threads(locked_writer, unlocked_writer, arg=_softc())


def test_planted_unlocked_write_is_reported_with_both_sites():
    with pytest.raises(kern.DataRace) as ei:
        with kern.boot(seed=1, race=True) as k:
            k.run(planted)
    e = ei.value
    msg = str(e)
    first = msg.splitlines()[0]
    assert first.startswith("data race on fss_softc.sc_uflags of <fss_softc fss?")
    assert first.endswith("no lock in common")
    lw = f"tests/kern/test_race.py:{_line(locked_writer, 'sc.sc_uflags = i')} in locked_writer"
    uw = f"tests/kern/test_race.py:{_line(unlocked_writer, 'sc.sc_uflags = 10')} " \
         f"in unlocked_writer"
    sides = msg.splitlines()[1:3]
    by_lwp = {("locked_writer" if "locked_writer" in s.split(" at ")[0] and "unlocked" not in
               s.split(" at ")[0] else "unlocked_writer"): s for s in sides}
    assert set(by_lwp) == {"locked_writer", "unlocked_writer"}
    assert by_lwp["locked_writer"].startswith('  write by lwp "locked_writer"')
    assert lw in by_lwp["locked_writer"]
    assert '"sc.sc_slock" (taken at tests/kern/test_race.py:' in by_lwp["locked_writer"]
    assert by_lwp["unlocked_writer"].startswith('  write by lwp "unlocked_writer"')
    assert uw in by_lwp["unlocked_writer"]
    assert by_lwp["unlocked_writer"].endswith("holding no lock")
    assert "protection (sys/dev/fssvar.h 1.29): sc.sc_slock" in msg
    # the machine crashed as for any kernel error: a crash dump, the report in dmesg
    assert e.crash is not None and e.crash.reason == msg
    assert "data race on fss_softc.sc_uflags" in e.crash.msgbuf
    assert k.state == "failed" and k.failure is e
    assert [r.field for r in k.race.races] == ["sc_uflags"]


def test_the_same_scenario_is_silent_with_the_detector_off():
    writes = []

    async def planted_and_watched():
        sc = _softc()
        await _threads(locked_writer, unlocked_writer, arg=sc)
        writes.append(sc.sc_uflags)

    with kern.boot(seed=1, race=False) as k:
        k.run(planted_and_watched)  # no DataRace raised: the run ends normally
        assert k.race is None
        assert k.failure is None and k.state == "running"
        assert "data race" not in k.dmesg()
    # both writers ran to their end: the last write is one of their last values
    assert writes and writes[0] in (2, 12)


# --- what is not a race ---------------------------------------------------------------

async def init_then_share():
    sc = _softc()
    # initialisation: one lwp, no locks, before anyone else sees the softc
    sc.sc_uflags = 7
    sc.sc_flags = 0x40
    sc.sc_clnext = 3

    async def user(sc):
        for _ in range(3):
            await mutex_enter(sc.sc_slock)
            sc.sc_uflags += 1
            sc.sc_flags |= 0x80
            mutex_exit(sc.sc_slock)
            await kpause("u", False, 1, None)

    user2 = _renamed(user, "user2")
    await _threads(user, user2, arg=sc)
    d = kern.curmachine().race
    return d.state_of(sc, "sc_uflags"), d.state_of(sc, "sc_clnext"), sc.sc_uflags


def _renamed(fn, name):
    async def run(arg):
        return await fn(arg)

    run.__name__ = name
    return run


def test_initialisation_before_sharing_is_silent():
    with kern.boot(seed=2, race=True) as k:
        state, only_creator, value = k.run(init_then_share)
    assert (state, only_creator, value) == ("shared-modified", "exclusive", 13)
    assert k.race.races == [] and k.race.kept == []


def test_the_locks_are_seen_with_lock_order_checking_off():
    """The held locks come from each lwp's l_locks, which mutexes and rwlocks keep
    whether or not lockdebug (lock-order checking) is on: with it off, the locked
    accesses are still silent and the planted unlocked write still reported."""
    with kern.boot(seed=2, race=True, lockdebug=False) as k:
        state, _, value = k.run(init_then_share)
    assert (state, value) == ("shared-modified", 13)
    assert k.race.races == []
    with pytest.raises(kern.DataRace, match="no lock in common"):
        with kern.boot(seed=1, race=True, lockdebug=False) as k:
            k.run(planted)


async def read_shared():
    sc = _softc()
    sc.sc_uflags = 5  # written once, by the creator

    async def reader(sc):
        total = 0
        for _ in range(3):
            total += sc.sc_uflags  # no lock: nobody writes it any more
            await kpause("r", False, 1, None)
        return total

    await _threads(reader, _renamed(reader, "reader2"), arg=sc)
    return kern.curmachine().race.state_of(sc, "sc_uflags")


def test_a_field_only_read_once_shared_is_silent():
    with kern.boot(seed=3, race=True) as k:
        assert k.run(read_shared) == "shared"


async def declared_fields():
    sc = _softc()
    sc.sc_dev = SimpleNamespace(dv_xname="fss9")  # stable: set before sharing

    async def configure(sc):
        await kpause("c", False, 2, None)  # once the users have looked at it
        await mutex_enter(sc.sc_lock)
        sc.sc_clshift = 16  # modify_locked: written with sc_lock held...
        mutex_exit(sc.sc_lock)
        await kpause("c", False, 1, None)

    async def use(sc):
        seen = []
        for _ in range(3):
            seen.append((sc.sc_dev, sc.sc_clshift))  # ...read without any lock
            await kpause("u", False, 1, None)
        return seen

    await _threads(configure, use, _renamed(use, "use2"), arg=sc)
    d = kern.curmachine().race
    return d.state_of(sc, "sc_dev"), d.state_of(sc, "sc_clshift")


def test_declared_fields_are_silent():
    with kern.boot(seed=4, race=True) as k:
        states = k.run(declared_fields)
    assert states == ("shared", "shared-modified")
    assert k.race.races == []
    p = lockset.struct_named("fss_softc").fields
    assert p["sc_dev"].kind == lockset.STABLE and p["sc_clshift"].kind == lockset.MODIFY_LOCKED


def _written_once_shared(field: str, value):
    """A reader keeps reading ``field``; another lwp then writes it with no lock."""
    async def scenario():
        sc = _softc()
        sc.sc_dev = SimpleNamespace(dv_xname="fss9")

        async def reader(sc):
            for _ in range(3):
                getattr(sc, field)
                await kpause("r", False, 1, None)

        async def writer(sc):
            await kpause("w", False, 2, None)
            setattr(sc, field, value)

        await _threads(reader, writer, arg=sc)
    return scenario


@pytest.mark.parametrize("scenario,what", [
    # sc_dev is declared stable: a write once shared is a race
    (_written_once_shared("sc_dev", SimpleNamespace(dv_xname="fss8")),
     "fss_softc.sc_dev of <fss_softc fss9 flags=0x0>: written after it was shared "
     "(declared stable: Self linkage"),
    # sc_clshift is declared "sc_lock to modify": planted without it
    (_written_once_shared("sc_clshift", 9),
     "fss_softc.sc_clshift of <fss_softc fss9 flags=0x0>: modified without sc.sc_lock "
     "(declared: snapshot configuration"),
], ids=["stable", "modify-locked"])
def test_declared_fields_are_checked(scenario, what):
    with pytest.raises(kern.DataRace) as ei:
        with kern.boot(seed=5, race=True) as k:
            k.run(scenario)
    lines = str(ei.value).splitlines()
    assert lines[0].startswith(f"data race on {what}")
    assert lines[1].startswith('  write by lwp "writer"')
    assert lines[2].startswith('  read by lwp "reader"')


# --- orderings the locks do not show -------------------------------------------------

def test_lwps_that_exited_cannot_race():
    """Each k.run is a new lwp; the previous one has exited, so its unlocked
    accesses are ordered before the next one's."""
    with kern.boot(seed=6, race=True) as k:
        sc = k.run(_async(_softc))

        async def poke(v):
            sc.sc_uflags = v
            return sc.sc_uflags

        assert [k.run(poke, v, name=f"poke{v}") for v in range(3)] == [0, 1, 2]
        assert k.race.state_of(sc, "sc_uflags") == "exclusive"


def _async(fn):
    async def run():
        return fn()

    return run


async def parent_then_child():
    """The creator's accesses before kthread_create happen before the child's."""
    sc = _softc()

    async def child(sc):
        sc.sc_uflags += 1  # no lock: the parent is done with it

    sc.sc_uflags = 1
    error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, child, sc, "child")
    await kthread_join(l)
    return sc.sc_uflags


def test_what_a_parent_did_before_creating_a_thread_happens_before_it():
    with kern.boot(seed=7, race=True) as k:
        assert k.run(parent_then_child) == 2


def _rw_scenario(writer_op):
    async def scenario():
        sc = _softc()
        rw = krwlock_t()
        rw_init(rw)

        async def writer(sc):
            for i in range(3):
                await rw_enter(rw, writer_op)
                sc.sc_uflags = i
                rw_exit(rw)
                await kpause("w", False, 1, None)

        async def reader(sc):
            for _ in range(3):
                await rw_enter(rw, RW_READER)
                _ = sc.sc_uflags
                rw_exit(rw)
                await kpause("r", False, 1, None)

        await _threads(writer, reader, arg=sc)
    return scenario


def test_an_rwlock_held_as_writer_protects_writes():
    with kern.boot(seed=8, race=True) as k:
        k.run(_rw_scenario(RW_WRITER))
    assert k.race.races == []


def test_an_rwlock_held_as_reader_protects_reads_only():
    with pytest.raises(kern.DataRace) as ei:
        with kern.boot(seed=8, race=True) as k:
            k.run(_rw_scenario(RW_READER))
    msg = str(ei.value)
    assert "fss_softc.sc_uflags" in msg and "no lock in common" in msg
    assert '  write by lwp "writer"' in msg and '  read by lwp "reader"' in msg
    # both hold the rwlock, the writer only as reader
    assert msg.count('"rw" (taken at') == 2


def _peeking(look):
    async def scenario():
        sc = _softc()

        async def owner(sc):
            for i in range(4):
                sc.sc_indir_cur = i  # the thread's own field (locked(): one lwp at a time)
                await kpause("own", False, 1, None)

        error, l = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, owner, sc, "owner")
        seen = []
        for _ in range(3):
            await kpause("look", False, 1, None)
            seen.append(look(sc))
        await kthread_join(l)
        return seen
    return scenario


def test_a_test_peeks_at_kernel_state_without_racing():
    with kern.boot(seed=11, race=True) as k:
        seen = k.run(_peeking(lambda sc: lockset.peek(sc, "sc_indir_cur")))
    assert seen == sorted(seen) and k.race.races == []
    with pytest.raises(kern.DataRace) as ei:  # a plain read is the lwp's own access
        with kern.boot(seed=11, race=True) as k:
            k.run(_peeking(lambda sc: sc.sc_indir_cur))
    assert "fss_softc.sc_indir_cur" in str(ei.value)
    assert lockset.peek(fss_softc(), "sc_flags") == 0  # also with the detector off


# --- switching ------------------------------------------------------------------------

def _descriptors(cls) -> list[str]:
    return sorted(n for n, v in vars(cls).items() if isinstance(v, lockset._Watched))


def test_off_the_classes_are_plain_and_on_they_are_watched_only_while_running():
    assert _descriptors(fss_softc) == []
    assert fss_softc not in lockset.watched_classes()
    seen = {}

    async def look():
        seen["during"] = _descriptors(fss_softc)

    with kern.boot(seed=9, race=False) as k:
        k.run(look)
    assert seen["during"] == []
    with kern.boot(seed=9, race=True) as k:
        k.run(look)
        assert fss_softc in lockset.watched_classes()
    assert "sc_flags" in seen["during"] and "sc_uflags" in seen["during"]
    assert _descriptors(fss_softc) == []
    sc = fss_softc()
    sc.sc_flags = 3
    assert sc.sc_flags == 3
    # the class's own slot descriptor again (fss_softc has __slots__)
    assert isinstance(vars(fss_softc)["sc_flags"], MemberDescriptorType)


def test_machines_in_threads_each_see_their_own_setting():
    """A machine with the detector off next to one with it on (other threads) runs
    the planted race silently; the one with it on reports it."""
    results = {}
    barrier = threading.Barrier(2)

    def run(name, race):
        try:
            with kern.boot(seed=10, race=race) as k:
                barrier.wait(10)
                k.run(planted)
            results[name] = "ok"
        except kern.DataRace as e:
            results[name] = str(e).splitlines()[0]

    ts = [threading.Thread(target=run, args=("off", False)),
          threading.Thread(target=run, args=("on", True))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert results["off"] == "ok"
    assert results["on"].startswith("data race on fss_softc.sc_uflags")
    assert _descriptors(fss_softc) == []


# --- the table -------------------------------------------------------------------------

def test_every_field_of_a_watched_struct_is_declared():
    """The table names every field the struct's class sets up, and nothing else."""
    import importlib

    for st in lockset.STRUCTS:
        cls = getattr(importlib.import_module(st.module), st.cls)
        slots = getattr(cls, "__slots__", None)
        if slots is not None:
            names = {s for s in slots if s != "__weakref__"}
        else:
            src = inspect.getsource(cls.__init__)
            names = set()
            for line in src.splitlines():
                line = line.strip()
                if line.startswith("self.") and "=" in line:
                    names.add(line[5:].split("=")[0].split(":")[0].strip())
        assert set(st.fields) == names, f"{st.name}: {set(st.fields) ^ names}"
        for name, p in st.fields.items():
            assert p.kind in (lockset.LOCKED, lockset.MODIFY_LOCKED, lockset.STABLE,
                              lockset.UNLOCKED, lockset.KEPT, lockset.KEMU_GAP), (st.name, name)
            if p.kind != lockset.LOCKED:
                assert p.why, f"{st.name}.{name}: a declared field says why"
            if p.kind in (lockset.MODIFY_LOCKED, lockset.KEMU_GAP):
                assert len(p.locks) == 1, (st.name, name)
            for fn, why in p.exempt:
                assert fn and why, (st.name, name)
            if p.kind == lockset.KEPT:
                # the functions whose races are kept, and the revision that changed it
                assert p.at and ("1.1" in p.why or "later" in p.why), (st.name, name)


# --- pytest --kemu-race -------------------------------------------------------------

RACY_TEST = '''
import kern
from dev.fss.fssvar import fss_softc
from kern import KTHREAD_MUSTJOIN, PRI_BIO, kpause, kthread_create, kthread_join


async def bump(sc):
    for _ in range(3):
        sc.sc_uflags += 1
        await kpause("bump", False, 1, None)


def test_two_bumpers():
    async def body():
        sc = fss_softc()
        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, bump, sc, f"bump{i}")[1]
              for i in range(2)]
        for l in ls:
            await kthread_join(l)
        return sc.sc_uflags

    with kern.boot() as k:
        assert k.run(body) == 6
'''


def test_pytest_option_turns_the_detector_on_for_every_machine(tmp_path):

    (tmp_path / "test_racy.py").write_text(RACY_TEST)
    plain = run_pytest(tmp_path, "-q", "test_racy.py")
    assert plain.returncode == 0, plain.stdout
    raced = run_pytest(tmp_path, "-q", "test_racy.py", "--kemu-race")
    assert raced.returncode == 1, raced.stdout
    out = raced.stdout
    assert "kern.exceptions.DataRace: data race on fss_softc.sc_uflags" in out
    assert 'by lwp "bump0"' in out and 'by lwp "bump1"' in out
    assert "test_racy.py:9 in bump, holding no lock" in out
    assert "re-run: pytest test_racy.py::test_two_bumpers --kemu-race --kemu-seed=0" in out
    replay = [line for line in out.splitlines() if line.startswith("replay: pytest")]
    assert replay and replay[0].startswith("replay: pytest test_racy.py::test_two_bumpers "
                                           "--kemu-replay=k"), out
    assert replay[0].endswith(" --kemu-race"), replay
    # the replay line reruns the same race
    import shlex

    again = forkserver.run(["-m", *shlex.split(replay[0][len("replay: "):]),
                            "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stdout
    first = [line for line in out.splitlines() if "DataRace: data race" in line]
    assert first and first[0] in again.stdout
