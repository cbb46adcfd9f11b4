"""How often _drive gives trio a turn (kern/machine/scheduler.py,
VirtualCPU._drive): within one entry, exactly _TRIO_EVERY - 1 lwp steps
between two turns, a turn only when the CPU goes on (never on the way out),
and the count starting again at each entry."""

from __future__ import annotations

import re
import sys
import types

import trio

import kern
from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.kern_synch import yield_
from kern.machine import scheduler


class _LowLevel:
    def __init__(self, log: list[str]) -> None:
        self._log = log

    def __getattr__(self, name: str):
        return getattr(trio.lowlevel, name)

    def checkpoint(self):
        f = sys._getframe(1)
        if f.f_code.co_name == "_drive":
            cpu = f.f_locals["self"]
            l = cpu.curlwp
            # "X": a turn taken when the CPU was on its way out
            going_on = l is not None and not l.l_away and not cpu.stopping
            self._log.append("T" if going_on else "X")
        return trio.lowlevel.checkpoint()


class _Trio:
    def __init__(self, log: list[str]) -> None:
        self.lowlevel = _LowLevel(log)

    def __getattr__(self, name: str):
        return getattr(trio, name)


def _instrument(monkeypatch, log: list[str]) -> None:
    send = types.CoroutineType.send

    def counted_send(coro, value):
        if sys._getframe(1).f_code.co_name == "_drive":
            log.append("S")
        return send(coro, value)

    drive = scheduler.VirtualCPU._drive

    async def counted_drive(self):
        log.append("E")
        return await drive(self)

    monkeypatch.setattr(scheduler, "_coro_send", counted_send)
    monkeypatch.setattr(scheduler, "trio", _Trio(log))
    monkeypatch.setattr(scheduler.VirtualCPU, "_drive", counted_drive)


def _spinners(n: int):
    async def main():
        async def spinner(_):
            for _i in range(n):
                await yield_()

        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, spinner, None, "s%d", i)[1]
              for i in range(2)]
        for l in ls:
            await kthread_join(l)

    return main


def test_a_turn_every_trio_every_minus_one_steps(monkeypatch):
    log: list[str] = []
    _instrument(monkeypatch, log)
    with kern.boot(seed=1, config="BARE") as k:
        k.run(_spinners(700))
    every = scheduler._TRIO_EVERY - 1
    text = "".join(log)
    assert text.count("T") >= 4 and text.count("S") > 4 * every
    # each entry: whole rounds of `every` steps then a turn, then fewer than
    # `every` steps, or exactly `every` and the way out (no turn)
    entry = re.compile(rf"E(?:S{{{every}}}T)*S{{0,{every}}}")
    assert entry.fullmatch(text) or re.fullmatch(rf"(?:{entry.pattern})+", text), text[:400]


def test_no_turn_on_the_way_out_of_a_full_round(monkeypatch):
    """An entry whose last round ends with exactly _TRIO_EVERY - 1 steps
    leaves without a turn (the turn is taken only when the CPU goes on)."""
    log: list[str] = []
    _instrument(monkeypatch, log)
    every = scheduler._TRIO_EVERY - 1
    full_round_at_exit = 0
    for n in range(2 * every - 18, 2 * every + 16):  # (seed 1: n=251 is one)
        del log[:]
        with kern.boot(seed=1, config="BARE") as k:
            k.run(_spinners(n))
        text = "".join(log)
        assert "X" not in text, (n, text)
        full_round_at_exit += len(re.findall(rf"(?:^|[ET])S{{{every}}}(?=E|$)", text))
    assert full_round_at_exit  # the case was met
