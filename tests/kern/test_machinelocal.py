"""kern/cpu.py's MachineLocal: one value per machine, made on first use, keyed by the
function MachineLocal returns (vfs_bio's bufcache and syscall read the machine's
locals with it directly)."""

from __future__ import annotations

import pytest

import kern
from kern.cpu import MachineLocal, curmachine


def test_value_per_machine_made_once_and_keyed_by_the_local() -> None:
    made: list[object] = []

    def factory() -> list[int]:
        v: list[int] = []
        made.append(v)
        return v

    a = MachineLocal(factory, "a")
    b = MachineLocal(factory, "b")  # same factory: a value of its own

    async def body() -> tuple[object, object, object, object]:
        m = curmachine()
        return a(), a(), b(), m.locals[a]

    with kern.boot(seed=1) as k1:
        x1, x2, y, keyed = k1.run(body)
        assert x1 is x2 is keyed is a.of(k1)
        assert y is not x1 and y is b.of(k1)
    with kern.boot(seed=1) as k2:
        z = k2.run(body)[0]
        assert z is not x1 and z is a.of(k2)
    assert len(made) == 4  # a and b, in each machine
    assert a.name == "a" and a.factory is factory and "MachineLocal[a]" in repr(a)


def test_outside_a_machine_raises() -> None:
    a = MachineLocal(dict)
    with pytest.raises(RuntimeError, match="not running inside a kemu machine"):
        a()


def test_two_live_machines_each_their_own_value() -> None:
    """Two machines booted at once (each runs its lwps in a thread of its own):
    the same local reads each machine's value, runs interleaved."""
    counter = MachineLocal(lambda: [0], "counter")

    async def bump() -> int:
        counter()[0] += 1
        return counter()[0]

    with kern.boot(seed=1) as k1, kern.boot(seed=2) as k2:
        assert [k1.run(bump), k2.run(bump), k1.run(bump), k1.run(bump), k2.run(bump)] == \
            [1, 1, 2, 3, 2]
        assert counter.of(k1) == [3] and counter.of(k2) == [2]


def test_the_local_is_one_object_under_copy() -> None:
    """copy and deepcopy give the local itself (a function), so a copied
    structure that holds one still finds the machine's value."""
    import copy

    a = MachineLocal(dict, "a")
    assert copy.copy(a) is a and copy.deepcopy({"k": a})["k"] is a
