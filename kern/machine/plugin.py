"""kemu's pytest plugin (registered through the ``pytest11`` entry point).

* ``--kemu-seed=N``: the seed of every machine a test boots without an
  explicit seed (default 0).  Every failing test that booted machines gets a
  "kemu" report section with their seeds and the command that re-runs it.
* ``--kemu-sweep=N``: how many seeds :func:`kern.machine.testing.sweep` yields
  (tests parametrised over a sweep; pytest-xdist spreads them over CPUs).
* ``--kemu-strategy=NAME[:opt=value,...]``: the scheduling strategy of every
  machine a test boots without one (``random``, the default; ``pct``, e.g.
  ``pct:depth=2,steps=500``).  ``--kemu-replay=S[,S2...]``: the schedule
  string(s) of the machines a test boots, in boot order (``@file`` reads
  one from a file).  A failing test's "kemu" section gives each machine's
  strategy and schedule string, and the options that replay it.
* fixture ``kernel``: a booted GENERIC machine (sync face), halted afterwards.
* fixture ``kemu_seed``: the seed in force.
* ``async def`` tests run under ``trio.run`` (the machines keep their own
  virtual clock), unless another async plugin owns them.
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
    _sched_addoption(g)


def pytest_configure(config: pytest.Config) -> None:
    seed = config.getoption("--kemu-seed")
    if seed is not None:
        _machine.default_seed = seed
    sweep = config.getoption("--kemu-sweep")
    if sweep is not None:
        from kern.machine import testing

        testing.SWEEP_OVERRIDE = sweep
    _sched_configure(config)
    config.addinivalue_line("markers", "kemu_config(name): kernel configuration for `kernel`")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Setup, call and teardown: the ``kernel`` fixture boots during setup.
    booted: list[_machine.Machine] = []
    item.stash[_STASH_MACHINES] = booted
    _machine.boot_observers.append(booted.append)
    replays = _sched_item_start(item)
    try:
        yield
    finally:
        _machine.boot_observers.remove(booted.append)
        _sched_item_end(replays)


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
    lines.extend(_sched_report_lines(nodeid, machines))
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

    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    trio.run(functools.partial(fn, **args))
    return True


# --- scheduling strategies and schedule strings ---------------------------------------------

def _sched_addoption(g: Any) -> None:
    g.addoption("--kemu-strategy", default=None, metavar="NAME[:OPT=V,...]",
                help="scheduling strategy of machines booted without one: random (default), "
                     "pct (e.g. pct:depth=2,steps=500)")
    g.addoption("--kemu-replay", default=None, metavar="SCHEDULE[,SCHEDULE...]",
                help="replay these schedule strings (or @file) in the machines a test boots, "
                     "in boot order")


def _sched_configure(config: pytest.Config) -> None:
    from kern.machine import sched_strategies as strategies

    spec = config.getoption("--kemu-strategy")
    if spec:
        name, opts = strategies.parse_strategy_spec(spec)
        try:
            strategies.make_strategy(name, 0, None, dict(opts))  # check it now
        except (TypeError, ValueError) as e:
            raise pytest.UsageError(f"--kemu-strategy={spec}: {e}") from None
        strategies.default_strategy = name
        strategies.default_options = opts


def _sched_item_start(item: pytest.Item) -> list[str]:
    spec = item.config.getoption("--kemu-replay")
    replays = [s for s in spec.split(",") if s] if spec else []
    _machine.default_replays[:] = replays
    return replays


def _sched_item_end(replays: list[str]) -> None:
    _machine.default_replays.clear()


def _sched_report_lines(nodeid: str, machines: list[_machine.Machine]) -> list[str]:
    """Each machine's strategy and schedule string, and the options that replay them."""
    lines = []
    args = []
    for m in machines:
        arg = m.schedule_arg()
        args.append(arg)
        lines.append(f"machine seed {m.seed}: strategy {m.strategy.describe()}, "
                     f"{len(m.decisions)} decisions, schedule {arg}")
    lines.append(f"replay: pytest '{nodeid}' --kemu-replay={','.join(args)}")
    return lines
