"""The decision stream of one run, and schedule strings that replay it.

Every choice the machine makes that is not fixed by the kernel's own code
goes through :meth:`Decisions.record`: which runnable lwp continues at a
preemption point or after a block, whether a probabilistic fault fires,
any other draw (``Machine.random_below``).  A decision has a *width* (how
many options there were, at least 2: a point with one option is not a
decision and is not recorded) and a *choice* in ``range(width)``.  Choice 0
is always the quiet one: the running lwp continues (or, after a block, the
first lwp in the run queue; at a yield, the first lwp waiting), the fault
does not fire.  So a schedule that runs out continues as if every later
choice were 0, and zeroing a choice removes a preemption or a fault --
which is all that shrinking needs.

A *schedule string* is the printable form of the choices of a run:
``"k1."`` followed by the base64url (unpadded) of the zlib-compressed
unsigned LEB128 varints of the choices, with trailing zeros dropped.  It
does not depend on the strategy that made the run, on the seed or on
PYTHONHASHSEED.  ``"@path"`` names a file holding one (long schedules are
written to a file by the failure reports).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable, Sequence

VERSION = "k1"

# Decision kinds.  PREEMPT: the running lwp is still runnable (option 0 is
# to keep it; any other choice is a preemption).  SWITCH: the running lwp
# blocked or exited, the options are the run queue.  YIELD: the running lwp
# offers the CPU (option 0 is the first lwp waiting, the yielder is the last
# option).  CHANCE: a probabilistic fault (1: it fires).  RANDOM: any other
# draw inside the machine.
PREEMPT = 0
SWITCH = 1
YIELD = 2
CHANCE = 3
RANDOM = 4
KIND_NAMES = ("preempt", "switch", "yield", "chance", "random")


class ScheduleError(ValueError):
    """A schedule string that cannot be decoded."""


class Decisions:
    """The decisions of one run, in order: widths, choices and kinds."""

    __slots__ = ("widths", "choices", "kinds")

    def __init__(self) -> None:
        self.widths: list[int] = []
        self.choices: list[int] = []
        self.kinds = bytearray()

    def record(self, width: int, choice: int, kind: int) -> None:
        self.widths.append(width)
        self.choices.append(choice)
        self.kinds.append(kind)

    def __len__(self) -> int:
        return len(self.choices)

    def preemptions(self) -> int:
        """How many times a still-runnable lwp was switched away from (CHESS's count)."""
        return sum(1 for k, c in zip(self.kinds, self.choices, strict=True)
                   if k == PREEMPT and c)

    def faults(self) -> int:
        """How many probabilistic faults fired."""
        return sum(1 for k, c in zip(self.kinds, self.choices, strict=True) if k == CHANCE and c)

    def schedule(self) -> str:
        return encode(self.choices)


def _varints(values: Iterable[int]) -> bytes:
    out = bytearray()
    for v in values:
        if v < 0:
            raise ValueError("a choice is never negative")
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def _unvarints(data: bytes) -> list[int]:
    out = []
    v = shift = 0
    for b in data:
        v |= (b & 0x7F) << shift
        if b & 0x80:
            shift += 7
            continue
        out.append(v)
        v = shift = 0
    if shift:
        raise ScheduleError("schedule string: truncated varint")
    return out


def trim(choices: Sequence[int]) -> list[int]:
    """``choices`` without its trailing zeros (they are implied)."""
    n = len(choices)
    while n and not choices[n - 1]:
        n -= 1
    return list(choices[:n])


def encode(choices: Sequence[int]) -> str:
    """The schedule string of ``choices``."""
    raw = zlib.compress(_varints(trim(choices)), 9)
    return f"{VERSION}." + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode(text: str) -> list[int]:
    """The choices of a schedule string (or of ``@file`` holding one)."""
    text = text.strip()
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="ascii") as f:
                text = f.read().strip()
        except OSError as e:
            raise ScheduleError(f"schedule file {text[1:]}: {e.strerror}") from None
    tag, dot, body = text.partition(".")
    if not dot or tag != VERSION:
        raise ScheduleError(f"not a kemu schedule string (expected {VERSION}.<base64url>): "
                            f"{text[:40]!r}")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return _unvarints(zlib.decompress(raw))
    except (ValueError, zlib.error) as e:
        raise ScheduleError(f"schedule string {text[:40]!r}...: {e}") from None
