"""Fixtures for the userland tests: a booted kemu machine with captured console."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.shell_helpers import Kemu, Result
from tools.console import Capture
from tools.kemu import boot_machine, main


@pytest.fixture
def m() -> Iterator[Kemu]:
    out, err = Capture(), Capture()
    with boot_machine(seed=1, stdout=out, stderr=err, md_size=1 << 20) as km:
        yield Kemu(km, out, err)


def kemu_main(*argv: str, stdin: str = "") -> Result:
    """Run the ``kemu`` entry point in-process with captured output."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return Result(status, out.getvalue(), err.getvalue())


def run_script(tmp_path, text: str, *args: str) -> Result:
    path = tmp_path / "script.sh"
    path.write_text(text)
    return kemu_main("run", *args, str(path))
