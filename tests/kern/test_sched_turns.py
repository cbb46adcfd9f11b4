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
        if sys._getframe(1).f_code.co_name == "_drive":
            self._log.append("T")
        return trio.lowlevel.checkpoint()


class _Trio:
    def __init__(self, log: list[str]) -> None:
        self.lowlevel = _LowLevel(log)

    def __getattr__(self, name: str):
        return getattr(trio, name)


def test_a_turn_every_trio_every_minus_one_steps(monkeypatch):
    log: list[str] = []
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

    async def main():
        async def spinner(_):
            for _i in range(700):
                await yield_()

        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, spinner, None, "s%d", i)[1]
              for i in range(2)]
        for l in ls:
            await kthread_join(l)

    with kern.boot(seed=1, config="BARE") as k:
        k.run(main)
    every = scheduler._TRIO_EVERY - 1
    text = "".join(log)
    assert text.count("T") >= 4 and text.count("S") > 4 * every
    # each entry: whole rounds of `every` steps then a turn, then fewer than
    # `every` steps, or exactly `every` and the way out (no turn)
    entry = re.compile(rf"E(?:S{{{every}}}T)*S{{0,{every}}}")
    assert entry.fullmatch(text) or re.fullmatch(rf"(?:{entry.pattern})+", text), text[:400]
