"""Fixtures of the fss tests."""

from __future__ import annotations

import pytest

from kern.machine import testing as kt
from kern.machine.testing import MiB


@pytest.fixture
def origin(tmp_path):
    """A fresh 4 MiB ext2 image (host mke2fs) for the snapshotted file system."""
    return kt.make_ext2_image(str(tmp_path / "origin.img"), 4 * MiB)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The fault campaign's outcomes by class (tests/dev/fss/test_campaign.py).

    Each run records its class in its report's user_properties, which
    pytest-xdist carries back from the workers, so the table covers them all.
    """
    from tests.dev.fss.test_campaign import KEY, summary_lines

    runs = []
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "when", None) != "call":
                continue
            for name, value in getattr(rep, "user_properties", ()):
                if name == KEY:
                    runs.append(value)
    if not runs:
        return
    terminalreporter.section("kemu fault campaign")
    for line in summary_lines(runs):
        terminalreporter.write_line(line)
