"""The collector policy (kern/machine/collect.py; the plugin's _MachineGarbage): a test's
halted machines are freed when the test ends, not at some later collection."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
    assert "14 passed" in r.stdout, r.stdout + r.stderr


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
