"""Seed and strategy sweeps spread over CPUs with pytest-xdist and find the
same failing seeds as a serial run: ``pytest -n 2 --kemu-sweep=N``.

Each seed of ``sweep(n)`` is its own test item, and a run depends on nothing
but its seed and strategy (kemu's scheduler, not the host's), so it does
not matter which worker process runs it, or after what."""

from __future__ import annotations

import os
import re
import textwrap

import pytest

from tests.pytest_child import run_pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SWEEP = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import pytest
    import kern
    from kern.machine.testing import sweep
    from tests.kern.sched_scenarios import lost_update

    @pytest.mark.parametrize("seed", sweep(4))
    def test_lost_update(seed):
        # two workers, one round each: the update is lost under some schedules
        with kern.boot(seed=seed, config="BARE", trace=False) as k:
            k.run(lost_update, 2, 1)
""")


def _failing(tmp_path, *args: str) -> list[str]:
    out = run_pytest(tmp_path, "-q", "-rf", "test_sweep.py", *args)
    assert out.returncode in (0, 1), out.stdout + out.stderr
    return sorted(re.findall(r"^FAILED (test_sweep\.py::\S+)", out.stdout, re.M))


def test_xdist_finds_the_serial_runs_failing_seeds(tmp_path):
    """A seed sweep under a strategy (pct here: random is the default)."""
    pytest.importorskip("xdist")
    (tmp_path / "test_sweep.py").write_text(SWEEP.format(repo=REPO))
    opts = ["--kemu-sweep=16", "--kemu-strategy=pct:depth=2,steps=5"]
    serial = _failing(tmp_path, *opts)
    spread = _failing(tmp_path, "-n", "2", *opts)
    assert serial == spread
    assert 0 < len(serial) < 16  # some seeds fail, some pass
