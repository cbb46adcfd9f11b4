"""The fsapply() frame itself: a leaked reference fails the case at unmount (EBUSY)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kern.fcntl import O_CREAT, O_RDWR
from lib import libc

from .h_fsmacros import FSTYPES, FsType, run_case

TYPES = [pytest.param(t, id=t.name) for t in FSTYPES.values()]


async def leaks_a_descriptor(mp: str) -> None:
    await libc.open(f"{mp}/file", O_RDWR | O_CREAT, 0o644)   # never closed


async def leaves_its_cwd_inside(mp: str) -> None:
    await libc.chdir(mp)


@pytest.mark.parametrize("fs", TYPES)
@pytest.mark.parametrize("case", [leaks_a_descriptor, leaves_its_cwd_inside])
def test_a_leaked_reference_fails_the_case(fs: FsType, case: object, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="unmount of /mnt failed: EBUSY"):
        run_case(fs, case, tmp_path)  # type: ignore[arg-type]
