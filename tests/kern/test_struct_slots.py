"""The hot kernel structures whose instances CPython 3.11 would give a dict of their
own (more than 30 attribute names: every field read a dict lookup) keep their
``__slots__``; the ones something takes weak references to still take them."""

from __future__ import annotations

import weakref

import kern
from dev.fss.fssvar import fss_softc
from kern.machine import testing as kt


def _slotted(obj: object) -> bool:
    return not hasattr(obj, "__dict__")


def test_machine_cpu_and_lwps_have_no_instance_dict() -> None:
    seen = {}

    async def body() -> None:
        seen["l"] = kern.curlwp()

    with kern.boot(seed=1) as k:
        kt.in_process(k, body, comm="slots")
        assert _slotted(k) and _slotted(k.cpu)
        assert all(_slotted(l) for l in k.alllwp)
        assert weakref.ref(k)() is k  # (_turn_closer's finalize, _sync_machines)
    assert _slotted(seen["l"])


def test_fss_softc_has_no_instance_dict() -> None:
    sc = fss_softc()
    assert _slotted(sc)
    assert weakref.ref(sc)() is sc  # (the race detector watches struct fss_softc)
