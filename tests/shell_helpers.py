"""A machine driven through the kemu shell, for tests of userland tools."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tools.console import Capture
from tools.kemu import KemuMachine, boot_machine


@dataclass
class Result:
    status: int
    out: str
    err: str


class Kemu:
    """A machine with a console captured; ``sh(line)`` runs a command line."""

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


@contextmanager
def kemu_machine(seed: int = 1, **kw: Any) -> Iterator[Kemu]:
    out, err = Capture(), Capture()
    with boot_machine(seed=seed, stdout=out, stderr=err, **kw) as km:
        yield Kemu(km, out, err)
