"""Fixtures for the userland tests: a booted kemu machine with captured console."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tools.console import Capture
from tools.kemu import KemuMachine, boot_machine, main


@dataclass
class Result:
    status: int
    out: str
    err: str


class Kemu:
    """A machine with a small memory disk; ``sh(line)`` runs a command line."""

    def __init__(self, km: KemuMachine, out: Capture, err: Capture) -> None:
        self.km = km
        self.k = km.k
        self.out = out
        self.err = err

    def sh(self, line: str) -> Result:
        self.out.clear()
        self.err.clear()
        status = self.km.sh(line)
        return Result(status, self.out.text, self.err.text)

    def ok(self, line: str) -> str:
        """Run a line that must succeed; its standard output."""
        r = self.sh(line)
        assert r.status == 0, (line, r)
        return r.out

    def script(self, text: str) -> Result:
        self.out.clear()
        self.err.clear()
        status = self.km.script(text)
        return Result(status, self.out.text, self.err.text)


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
