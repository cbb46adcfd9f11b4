"""Fixtures of the fss tests."""

from __future__ import annotations

import pytest

from tests.dev.fss.helpers import MiB, make_image


@pytest.fixture
def origin(tmp_path):
    """A fresh 4 MiB ext2 image (host mke2fs) for the snapshotted file system."""
    return make_image(str(tmp_path / "origin.img"), 4 * MiB)
