"""kemu's pytest plugin (registered through the ``pytest11`` entry point).

* ``--kemu-seed=N``: the seed of every machine a test boots without an
  explicit seed (default 0).  Every failing test that booted machines gets a
  "kemu" report section with their seeds and the command that re-runs it.
* ``--kemu-sweep=N``: how many seeds :func:`kern.machine.testing.sweep` yields
  (tests parametrised over a sweep; pytest-xdist spreads them over CPUs).
* fixture ``kernel``: a booted GENERIC machine (sync face), halted afterwards.
* fixture ``kemu_seed``: the seed in force.
* ``async def`` tests run under ``trio.run`` with a virtual clock
  (``MockClock(autojump_threshold=0)``), unless another async plugin owns them.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from kern.machine import machine as _machine

_STASH_MACHINES = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kemu", "kemu emulated kernel")
    g.addoption("--kemu-seed", type=int, default=None,
                help="seed for machines booted without an explicit seed (default 0)")
    g.addoption("--kemu-sweep", type=int, default=None,
                help="number of seeds in kern.machine.testing.sweep() (default: as the test says)")


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("--kemu-seed")
    if seed is not None:
        _machine.default_seed = seed
    sweep = config.getoption("--kemu-sweep")
    if sweep is not None:
        from kern.machine import testing

        testing.SWEEP_OVERRIDE = sweep
    config.addinivalue_line("markers", "kemu_config(name): kernel configuration for `kernel`")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Setup, call and teardown: the ``kernel`` fixture boots during setup.
    booted: list[_machine.Machine] = []
    item.stash[_STASH_MACHINES] = booted
    _machine.boot_observers.append(booted.append)
    try:
        yield
    finally:
        _machine.boot_observers.remove(booted.append)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    machines = item.stash.get(_STASH_MACHINES, [])
    if not machines:
        return
    lines = []
    for m in machines:
        state = m.state
        if m.failure is not None:
            state = f"{type(m.failure).__name__}: {m.failure.message.splitlines()[0]}"
        lines.append(f"machine seed {m.seed} ({state})")
    seeds = sorted({m.seed for m in machines})
    nodeid = item.nodeid
    if len(seeds) == 1:
        lines.append(f"re-run: pytest '{nodeid}' --kemu-seed={seeds[0]}")
    else:
        lines.append(f"re-run: pytest '{nodeid}'")
    for m in machines:
        if m.crash is not None:
            lines.append(f"crash of seed {m.seed}: {m.crash.reason.splitlines()[0]}")
            lines.extend("  " + i.line() for i in m.crash.lwps)
    rep.sections.append(("kemu", "\n".join(lines)))


@pytest.fixture
def kemu_seed() -> int:
    return _machine.default_seed


@pytest.fixture
def kernel(request: pytest.FixtureRequest, kemu_seed: int) -> Iterator[_machine.Machine]:
    """A booted machine (sync face); the ``kemu_config`` marker picks its configuration."""
    marker = request.node.get_closest_marker("kemu_config")
    config = marker.args[0] if marker else None
    with _machine.boot(seed=kemu_seed, config=config) as k:
        yield k


def _other_async_plugin(config: pytest.Config) -> bool:
    pm = config.pluginmanager
    return any(pm.has_plugin(n) for n in ("trio", "anyio", "asyncio"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn):
        return None
    if pyfuncitem.get_closest_marker("trio") is None and _other_async_plugin(pyfuncitem.config):
        return None
    import trio
    import trio.testing

    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    trio.run(functools.partial(fn, **args),
             clock=trio.testing.MockClock(autojump_threshold=0))
    return True
