"""Fixtures of the fss tests."""

from __future__ import annotations

import pytest

from kern.machine import testing as kt
from kern.machine.testing import MiB


@pytest.fixture
def origin(tmp_path):
    """A fresh 4 MiB ext2 image (host mke2fs) for the snapshotted file system."""
    return kt.make_ext2_image(str(tmp_path / "origin.img"), 4 * MiB)
