"""tools/seedcov.py: the branch-coverage figures of the two seeds."""

from __future__ import annotations

import re
import sys

import pytest

from tools import seedcov


@pytest.fixture
def coverage_unimported():
    """seedcov's report imports coverage in this process; a process with coverage
    imported starts no child from a fork server (tools/lib/forkserver.py's
    usable(): under coverage a forked child would not be measured), so every
    later test of this pytest worker would start fresh interpreters (and
    tests/fs/puffs/test_forkserver.py's, which kill the fork server, would
    kill the worker).  The modules it imported are forgotten again."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name == "coverage" or name.startswith("coverage."):
            del sys.modules[name]


def test_seedcov_prints_both_figures_and_the_missing_branches(tmp_path, capsys,
                                                              coverage_unimported):
    data = str(tmp_path / "cov")
    # one small test that reaches fss but not puffs
    status = seedcov.main(["--data-file", data, "--",
                           "tests/dev/fss/test_defects.py::test_B11_ioctl_for_a_minor_without_a_unit"])
    out = capsys.readouterr().out
    assert status == 0
    m = re.search(r"^dev/fss/fss\.py\s+(\d+) branches,\s+(\d+) taken: ([\d.]+)%$", out, re.M)
    assert m, out
    n, taken, pct = int(m[1]), int(m[2]), float(m[3])
    assert 200 < n < 400 and 0 < taken < n
    assert abs(pct - 100.0 * taken / n) < 0.05
    assert re.search(r"^fs/puffs/puffs_vfsops\.py\s+not executed by these tests$", out, re.M)
    # the missing branches name their lines: fss_bs_indir's switch is not reached here
    assert "dev/fss/fss.py: branches no test takes" in out
    assert re.search(r"^\s+\d+ -> \d+\s+if sc\.sc_indir_cur == icl:", out, re.M), out

    # the same data, reported again, against a threshold
    assert seedcov.main(["--data-file", data, "--report-only", "--fail-under", "99"]) == 1
    assert seedcov.main(["--data-file", data, "--report-only"]) == 0
