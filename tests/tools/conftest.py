"""Fixtures for the userland tests: a booted kemu machine with captured console."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.shell_helpers import Kemu, Result, kemu_machine
from tools.kemu import main


@pytest.fixture
def m() -> Iterator[Kemu]:
    with kemu_machine(seed=1, md_size=1 << 20) as km:
        yield km


def kemu_main(*argv: str, stdin: str = "") -> Result:
    """Run the ``kemu`` entry point in-process with captured output."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def run_script(tmp_path, text: str, *args: str) -> Result:
    path = tmp_path / "script.sh"
    path.write_text(text)
    return kemu_main("run", *args, str(path))
