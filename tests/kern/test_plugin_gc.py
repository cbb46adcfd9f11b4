"""The collector policy (kern/machine/collect.py; the plugin's _MachineGarbage): a test's
halted machines are freed when the test ends, not at some later collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.pytest_child import run_pytest

GC_TESTS = textwrap.dedent('''
    import gc
    import sys
    import weakref

    import trio

    import kern
    from kern.machine.collect import YOUNG_THRESHOLD

    DEFAULT = gc.get_threshold()
    seen = {}


    def test_first(kernel):
        """A middle-generation pass may come during the first test, whatever
        the collector's counts were: not the case tested."""


    def test_sync_boot(kernel):
        seen["sync"] = weakref.ref(kernel)
        assert gc.get_threshold()[0] == max(DEFAULT[0], YOUNG_THRESHOLD)


    def test_sync_machine_is_gone_and_thresholds_back():
        assert seen["sync"]() is None          # no gc.collect() here
        assert [n for n in sys.modules if n.startswith("kemu.m")] == []   # its modules
        assert gc.get_threshold() == DEFAULT


    def test_async_boot():
        async def main():
            async with kern.boot(seed=3) as k:
                seen["async"] = weakref.ref(k)
        trio.run(main)
        assert gc.get_threshold()[0] == max(DEFAULT[0], YOUNG_THRESHOLD)


    def test_async_machine_is_gone():
        assert seen["async"]() is None
        assert [n for n in sys.modules if n.startswith("kemu.m")] == []
        assert gc.get_threshold() == DEFAULT


    def test_no_machine_no_change():
        assert gc.get_threshold() == DEFAULT


    def test_own_thresholds_are_kept(kernel):
        gc.set_threshold(1234, 5, 6)


    def test_own_thresholds_stay():
        assert gc.get_threshold() == (1234, 5, 6)
        gc.set_threshold(*DEFAULT)


    def test_explore_collects_each_run():
        from kern.machine.explore import explore
        from kern.machine.machine import Machine

        during = []

        async def scenario():
            during.append(gc.get_threshold()[0])

        assert explore(scenario, runs=3, seed=50).runs == 3
        assert during == [max(DEFAULT[0], YOUNG_THRESHOLD)] * 3
        assert gc.get_threshold() == DEFAULT
        # not even unreachable: no gc.collect() here
        assert [o for o in gc.get_objects() if isinstance(o, Machine) and o.seed >= 50] == []
        assert [n for n in sys.modules if n.startswith("kemu.m")] == []


    def _run_one_machine():
        with kern.boot(seed=4) as k:
            seen["own"] = weakref.ref(k)
            return gc.get_threshold()


    def test_collector_turned_off_stays_off():
        """A young threshold of 0 turns automatic collection off: booting
        must not turn it back on, nor the test's end collect."""
        gc.set_threshold(0)
        try:
            assert _run_one_machine()[0] == 0
        finally:
            gc.set_threshold(*DEFAULT)


    def test_own_low_threshold_set_before_boot_is_kept():
        """A test making the collector run often while its machine runs."""
        gc.set_threshold(50, 10, 10)
        try:
            assert _run_one_machine() == (50, 10, 10)
        finally:
            gc.set_threshold(*DEFAULT)


    def test_explore_keeps_own_thresholds():
        from kern.machine.explore import explore

        during = []

        async def scenario():
            during.append(gc.get_threshold())

        gc.set_threshold(0)
        try:
            explore(scenario, runs=2, seed=60)
        finally:
            gc.set_threshold(*DEFAULT)
        assert during == [(0, *DEFAULT[1:])] * 2


    def test_explore_inside_a_test_with_a_machine(kernel):
        from kern.machine.explore import explore

        during = []

        async def scenario():
            during.append(gc.get_threshold()[0])

        explore(scenario, runs=2, seed=70)
        assert during == [max(DEFAULT[0], YOUNG_THRESHOLD)] * 2
        assert gc.get_threshold()[0] == max(DEFAULT[0], YOUNG_THRESHOLD)


    def test_thresholds_back_after_both():
        assert gc.get_threshold() == DEFAULT
''')


def test_halted_machines_are_freed_when_their_test_or_run_ends(tmp_path):
    (tmp_path / "test_gc_policy.py").write_text(GC_TESTS)
    r = run_pytest(tmp_path, "-q", "-p", "no:randomly", "test_gc_policy.py")
    assert r.returncode == 0 and "14 passed" in r.stdout, r.stdout + r.stderr


def test_a_program_that_turned_the_collector_off_before_importing_kemu_keeps_it_off():
    code = textwrap.dedent("""
        import gc
        gc.set_threshold(0)
        from kern.machine.collect import YoungThreshold
        y = YoungThreshold()
        y.on()
        assert gc.get_threshold()[0] == 0, gc.get_threshold()
        y.off()
        assert gc.get_threshold()[0] == 0, gc.get_threshold()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_halted_machines_rumpblk_disk_goes_with_the_young_collection(tmp_path):
    """The young collection that frees a halted machine frees its rumpblk units'
    disks too: the finalizer that closes the host files must not hold them (it is
    reachable from weakref.finalize's registry while that collection runs, so
    what it holds would outlive it in the old generation, as garbage only a full
    pass finds: ~10 objects a machine)."""
    import gc
    import weakref

    import kern
    from dev.rumpblk import RUMP_ETFS_BLK, rump_etfs_register, rumpblk_disk
    from kern.machine.collect import collect_halted
    from kern.machine.plugin import forget_machines

    img = tmp_path / "disk.img"
    img.write_bytes(bytes(64 * 1024))

    async def attach() -> weakref.ref:
        assert await rump_etfs_register("/dev/wd9", str(img), RUMP_ETFS_BLK) == 0
        dk = rumpblk_disk(0)
        assert dk is not None
        return weakref.ref(dk)

    gc.collect()   # the young generations empty: the machine's objects are all in them
    with kern.boot(seed=5) as k:
        ref = k.run(attach)
    machine = weakref.ref(k)
    del k
    forget_machines()   # (the plugin's list of the test's machines)
    assert ref() is not None
    collect_halted()
    assert machine() is None
    assert ref() is None


OWN_CONFTEST = textwrap.dedent('''
    import gc
    import sys

    assert "kern" not in sys.modules   # (the case tested: kemu comes after)
    gc.set_threshold(1234, 5, 6)
    pytest_plugins = ["kern.machine.plugin"]
''')

OWN_TESTS = textwrap.dedent('''
    import gc


    def test_own_thresholds_while_a_machine_runs(kernel):
        assert gc.get_threshold() == (1234, 5, 6)


    def test_own_thresholds_while_explore_runs():
        from kern.machine.explore import explore

        during = []

        async def scenario():
            during.append(gc.get_threshold())

        explore(scenario, runs=2, seed=80)
        assert during == [(1234, 5, 6)] * 2
        assert gc.get_threshold() == (1234, 5, 6)
''')


def test_a_conftest_that_sets_thresholds_before_kemu_is_imported_keeps_them(tmp_path):
    """Thresholds a user chose are kept while their machines run, also when they
    were set before kemu was first imported (a conftest that loads the plugin
    itself, a program that sets them and then runs pytest)."""
    import os

    (tmp_path / "conftest.py").write_text(OWN_CONFTEST)
    (tmp_path / "test_own.py").write_text(OWN_TESTS)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "test_own.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "2 passed" in r.stdout, r.stdout + r.stderr


def test_a_crashed_machines_rumpblk_host_files_close_when_it_is_collected(tmp_path):
    """No halt closed them (rumpblk_fini): the finalizer does, from the
    descriptors it holds, once the machine is collected."""
    import gc
    import os

    import kern
    from dev.rumpblk import RUMP_ETFS_BLK, _rumpblk, rump_etfs_register
    from kern.machine.plugin import forget_machines
    from kern.subr_prf import panic

    img = tmp_path / "disk.img"
    img.write_bytes(bytes(64 * 1024))
    fds = []

    async def attach_and_crash() -> None:
        assert await rump_etfs_register("/dev/wd9", str(img), RUMP_ETFS_BLK) == 0
        fds.append(_rumpblk().minors[0].rblk_fd)
        panic("crash with a disk attached")

    def crash() -> None:
        k = kern.boot(seed=6, config="BARE", trace=False)
        k.start()
        with pytest.raises(kern.KernelPanic):
            k.run(attach_and_crash)
        k._thread.join(10)

    crash()
    assert fds and fds[0] >= 0
    assert os.readlink(f"/proc/self/fd/{fds[0]}") == str(img)
    forget_machines()
    gc.collect()
    assert not os.path.exists(f"/proc/self/fd/{fds[0]}") or \
        os.readlink(f"/proc/self/fd/{fds[0]}") != str(img)
