"""kemu's pytest plugin (registered through the ``pytest11`` entry point).

Options:

* ``--kemu-seed=N``: the seed of every machine a test boots without an
  explicit seed (default 0);
* ``--kemu-sweep=N``: how many seeds :func:`kern.machine.testing.sweep`
  yields, ``--kemu-sweep-base=B`` where they start (pytest-xdist spreads
  the parametrised items over CPUs);
* ``--kemu-faults=PLAN``: a fault plan (kern.subr_fault.FaultPlan's text
  form, e.g. ``disk.write:dev=wd0:prob=0.3:error=EIO``) armed in every
  machine a test boots;
* ``--kemu-full-trace``: keep the kernel's frames in failure tracebacks
  (hidden by default: a test's traceback ends at the system call or the
  ``k.run`` that failed);
* ``--kemu-strategy=NAME[:opt=value,...]``: the scheduling strategy of every
  machine a test boots without one (``random``, the default; ``pct``, e.g.
  ``pct:depth=2,steps=500``);
* ``--kemu-replay=S[,S2...]``: the schedule string(s) of the machines a
  test boots, in boot order (``@file`` reads one from a file);
* ``--kemu-race``: every machine runs with the lockset race detector
  (``kern.machine.lockset``; ``kern.boot(race=True)`` for one machine).
* ``--kemu-trace-dir=DIR``: for each failing test, the timeline of its
  machines (Chrome trace-event JSON, kern/machine/timeline.py) in
  ``DIR/<test id>.json``; the report's kemu section gives the path.

Fixtures (see docs/TESTING.md): ``kernel`` (a booted GENERIC machine, sync
face; the ``kemu_config`` marker picks another configuration),
``kemu_seed``, ``ext2_image`` (a host image file), ``ext2_mount`` (that
image as /dev/wd0 mounted on /mnt, e2fsck-checked after), ``ext2_snapshot``
(fss0 configured as a snapshot of it), ``memfs_mount`` and
``memfs_remote_mount`` (a memfs puffs server on /mnt, in the machine or in
a separate OS process).

``async def`` tests are kemu's when they carry ``@pytest.mark.kemu`` or use
one of its fixtures; they run under ``trio.run`` (the machines keep their
own virtual clock).  Any other ``async def`` test is left to pytest and the
plugins that own it.

A failing test that booted machines gets a "kemu" report section: each
machine's seed and state, its armed faults and what fired, and the line
that re-runs the test as it was (its parametrisation, the sweep and fault
options, the seed and strategy), each machine's strategy and schedule
string, and the ``--kemu-replay=`` line that replays the machines exactly.
For a hypothesis test the machines are the failing example's, and the
re-run line carries ``--hypothesis-seed`` when hypothesis drew its examples
at random; with ``settings(print_blob=True)`` another line gives the
``@reproduce_failure`` decorator that replays exactly that example.
No machine outlives its test: the plugin keeps nothing of them once the
test's report is made.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kern.machine import machine as _machine
from kern.machine.collect import MachineRuns

_STASH_MACHINES = pytest.StashKey[list]()

KEMU_FIXTURES = frozenset({"kernel", "kemu_seed", "ext2_image", "ext2_mount", "ext2_snapshot",
                           "memfs_mount", "memfs_remote_mount"})

# The machines booted by the running test (for kern.machine.hypothesis.booted,
# which forgets those of the examples that ran before its own).
_current: list[_machine.Machine] | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kemu", "kemu emulated kernel")
    g.addoption("--kemu-seed", type=int, default=None,
                help="seed for machines booted without an explicit seed (default 0)")
    g.addoption("--kemu-sweep", type=int, default=None,
                help="number of seeds in kern.machine.testing.sweep() (default: as the test says)")
    g.addoption("--kemu-sweep-base", type=int, default=None,
                help="added to the first seed of every sweep() (default 0)")
    g.addoption("--kemu-faults", default=None, metavar="PLAN",
                help="fault plan armed in every machine, e.g. "
                     "'disk.write:dev=wd0:prob=0.3:error=EIO' (faults joined by ',')")
    g.addoption("--kemu-full-trace", action="store_true", default=False,
                help="show the kernel's frames in failure tracebacks")
    _sched_addoption(g)
    _race_addoption(g)


def pytest_configure(config: pytest.Config) -> None:
    from kern.machine import testing

    seed = config.getoption("--kemu-seed")
    if seed is not None:
        _machine.default_seed = seed
    testing.SWEEP_OVERRIDE = config.getoption("--kemu-sweep")
    testing.SWEEP_BASE = config.getoption("--kemu-sweep-base")
    text = config.getoption("--kemu-faults")
    if text:
        from kern.subr_fault import FaultPlan, FaultPlanError

        try:
            config.stash[_STASH_PLAN] = FaultPlan.parse(text)
        except FaultPlanError as e:
            raise pytest.UsageError(f"--kemu-faults: {e}") from None
    _sched_configure(config)
    _race_configure(config)
    config.pluginmanager.register(_MachineGarbage(), "kemu-machine-garbage")
    config.addinivalue_line("markers", "kemu: an async def test kemu runs (under trio)")
    config.addinivalue_line("markers", "kemu_config(name): kernel configuration for `kernel`")
    config.addinivalue_line("markers", "kemu_image(size=4 MiB, block=1024, mkfs='auto'): "
                                       "the ext2_image fixture's image")


_STASH_PLAN = pytest.StashKey[Any]()


# ------------------------------------------------------------------ the race detector

def _race_addoption(g: Any) -> None:
    g.addoption("--kemu-race", action="store_true", default=False,
                help="run every machine with the lockset race detector "
                     "(kern.machine.lockset): a data race ends the run with kern.DataRace")


def _race_configure(config: pytest.Config) -> None:
    from kern.machine import lockset

    if config.getoption("--kemu-race"):
        lockset.default = True
        config.add_cleanup(_race_unconfigure)


def _race_unconfigure() -> None:
    from kern.machine import lockset

    lockset.default = False


# ------------------------------------------------------------------ the machines of a test

def _observe(booted: list[_machine.Machine], plan: Any, m: _machine.Machine) -> None:
    if plan:
        m.faults.apply(plan)
    booted.append(m)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Setup, call and teardown: the ``kernel`` fixture boots during setup.
    global _current
    booted: list[_machine.Machine] = []
    item.stash[_STASH_MACHINES] = booted
    obs = functools.partial(_observe, booted, item.config.stash.get(_STASH_PLAN, None))
    _machine.boot_observers.append(obs)
    _current = booted
    replays = _sched_item_start(item)
    try:
        yield
    finally:
        _machine.boot_observers.remove(obs)
        _sched_item_end(replays)
        _current = None
        booted.clear()   # no machine outlives its test
        del item.stash[_STASH_MACHINES]


class _MachineGarbage:
    """Collects what a test's halted machines left in reference cycles when the
    test ends, instead of whenever the collector's counts come round
    (kern/machine/collect.py says why): from a test's first boot to its end the
    young threshold is raised (unless the test, a fixture or a conftest set its
    own thresholds: YoungThreshold); when the test ends and its machines are let go,
    :meth:`MachineRuns.close` drops their namespaces and collects the young
    generations.  Tests that boot no machine are left alone.

    Registered ``trylast``: its wrapper is the innermost, so the collection is
    part of the test item's time in any plugin that times items, and the
    machines list it empties is the one the outer wrapper made.
    """

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_protocol(self, item: pytest.Item,
                                nextitem: pytest.Item | None) -> Iterator[None]:
        runs = MachineRuns()

        def on_boot(m: _machine.Machine) -> None:
            runs.running()

        _machine.boot_observers.append(on_boot)
        try:
            yield
        finally:
            _machine.boot_observers.remove(on_boot)
            booted = item.stash.get(_STASH_MACHINES, None)
            if booted is not None:
                booted.clear()     # the reports are made: nothing reads them now
            runs.close()


def forget_machines() -> None:
    """Forget the machines the running test booted so far (a hypothesis example passed)."""
    if _current is not None:
        _current.clear()


def _rerun_lines(item: pytest.Item, machines: list[_machine.Machine], report: str) -> list[str]:
    """The commands that run ``item`` again as it ran (``report``: the failure's
    text, where hypothesis says how to replay its example)."""
    args = ["pytest", item.nodeid]
    cfg = item.config
    for opt in ("--kemu-sweep", "--kemu-sweep-base"):
        v = cfg.getoption(opt)
        if v is not None:
            args.append(f"{opt}={v}")
    plan = cfg.stash.get(_STASH_PLAN, None)
    if plan:
        args.append(f"--kemu-faults={plan}")
    if cfg.getoption("--kemu-race"):
        args.append("--kemu-race")
    fn = getattr(item, "obj", None)
    if getattr(fn, "is_hypothesis_test", False):
        # The machines' seeds are the example's (booted(seed)): hypothesis, not
        # --kemu-seed, brings that example back.
        seed = cfg.getoption("--kemu-seed")
        if seed is not None:
            args.append(f"--kemu-seed={seed}")
        hseed = _hypothesis_seed(item, fn)
        if hseed is not None:
            args.append(f"--hypothesis-seed={hseed}")
        lines = ["re-run: " + " ".join(shlex.quote(a) for a in args)]
        blob = _REPRODUCE.search(report)
        if blob:
            lines.append(f"re-run this example only: add {blob.group(0)} to "
                         f"{getattr(fn, '__name__', 'the test')}, then the line above")
        return lines
    if machines:
        extra = [m.repro_args() for m in machines]
        if all(e == extra[0] for e in extra):
            args += extra[0]
    return ["re-run: " + " ".join(shlex.quote(a) for a in args)]


# hypothesis' decorator replaying one example (printed when settings.print_blob)
_REPRODUCE = re.compile(r"@reproduce_failure\('[^']*', b'[^']*'\)")


def _hypothesis_seed(item: pytest.Item, fn: Any) -> Any:
    """The --hypothesis-seed that makes hypothesis draw the failing run's examples
    again: the one given, or the one hypothesis drew (None when derandomized:
    the same examples come on every run)."""
    given = item.config.getoption("hypothesis_seed", None)
    if given is not None:
        return given
    # hypothesis keeps the seed it generated for the run on the test function
    return getattr(fn, "_hypothesis_internal_use_generated_seed", None)


def _machine_lines(m: _machine.Machine, reported: BaseException | None) -> list[str]:
    state = m.state
    if m.failure is not None:
        state = f"{type(m.failure).__name__}: {m.failure.message.splitlines()[0]}"
    lines = [f"machine seed {m.seed} ({state})"]
    plan = m.faults.plan()
    if plan:
        lines.append(f"  faults armed: {plan}")
    fired = m.faults.fired()
    if fired:
        more = f" (first: {fired[0]}; last: {fired[-1]})" if len(fired) > 1 else f": {fired[0]}"
        lines.append(f"  faults fired: {len(fired)}{more}")
    if m.crash is not None and m.failure is not reported:
        # The test's own report is not this crash: show where the lwps were.
        lines.append(f"  crash: {m.crash.reason.splitlines()[0]}")
        lines.extend("    " + i.line() for i in m.crash.lwps)
    return lines


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    if not item.config.getoption("--kemu-full-trace") and hasattr(item, "_traceback_filter"):
        orig = item._traceback_filter
        if not isinstance(orig, functools.partial):
            item._traceback_filter = functools.partial(_hide_kernel_frames, orig)  # type: ignore
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    machines = item.stash.get(_STASH_MACHINES, [])
    if not machines:
        return
    reported = call.excinfo.value if call.excinfo is not None else None
    lines: list[str] = []
    for m in machines:
        lines += _machine_lines(m, reported)
    lines += _rerun_lines(item, machines, rep.longreprtext)
    lines.extend(_sched_report_lines(item.nodeid, machines))
    tdir = item.config.getoption("--kemu-trace-dir")
    if tdir:
        lines.append(f"timeline: {write_timeline(tdir, item.nodeid, machines)}")
    rep.sections.append(("kemu", "\n".join(lines)))


def write_timeline(directory: str, nodeid: str, machines: list[_machine.Machine]) -> str:
    """The timeline of a failing test's machines in ``directory``: its path."""
    from kern.machine.timeline import machine_traces, write_chrome

    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in nodeid)
    path = os.path.join(directory, name.strip("_")[:200] + ".json")
    traces = machines[0].trace if len(machines) == 1 else machine_traces(machines)
    return write_chrome(path, traces)


# ------------------------------------------------------------------ tracebacks

_ROOT = Path(__file__).resolve().parents[2]
_KERNEL_DIRS = tuple(str(_ROOT / d) + os.sep for d in ("kern", "vfs", "dev", "fs"))


def _library_dirs() -> tuple[str, ...]:
    import outcome
    import trio

    return tuple(str(Path(m.__file__).parent) + os.sep for m in (trio, outcome))


def _hide_kernel_frames(orig: Any, excinfo: Any) -> Any:
    """pytest's filter, then without the kernel's frames (and trio's, outcome's)."""
    from _pytest._code import Traceback

    tb = orig(excinfo)
    hidden = _KERNEL_DIRS + _library_dirs()
    kept = [e for e in tb if not str(e.path).startswith(hidden)]
    if not kept or len(kept) == len(tb):
        return tb
    # the last frame kept is where the failure surfaced: show it in full
    kept[-1] = kept[-1].with_repr_style(None)  # type: ignore[arg-type]
    return Traceback(kept)


# ------------------------------------------------------------------ async tests

def _is_kemu_test(item: pytest.Function) -> bool:
    if item.get_closest_marker("kemu") is not None:
        return True
    return bool(KEMU_FIXTURES.intersection(item.fixturenames))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    fn = pyfuncitem.obj
    if not inspect.iscoroutinefunction(fn) or not _is_kemu_test(pyfuncitem):
        return None   # pytest's, or another plugin's
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
    g.addoption("--kemu-trace-dir", default=None, metavar="DIR",
                help="write the timeline (Chrome trace-event JSON, for Perfetto) of each "
                     "failing test's machines into DIR")


def _sched_configure(config: pytest.Config) -> None:
    from kern.machine import strategies

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
    # the detector never draws a decision: a schedule replays without it; the option
    # comes back only when the run had it (a machine booted with race=True has it anyway)
    from kern.machine import lockset

    race = " --kemu-race" if lockset.default else ""
    lines.append(f"replay: pytest {shlex.quote(nodeid)} --kemu-replay={','.join(args)}{race}")
    return lines


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def kemu_seed() -> int:
    """The seed of machines booted without one (``--kemu-seed``, default 0)."""
    return _machine.default_seed


@pytest.fixture
def kernel(request: pytest.FixtureRequest, kemu_seed: int) -> Iterator[_machine.Machine]:
    """A booted machine (sync face); the ``kemu_config`` marker picks its configuration."""
    marker = request.node.get_closest_marker("kemu_config")
    config = marker.args[0] if marker else None
    with _machine.boot(seed=kemu_seed, config=config) as k:
        yield k


@pytest.fixture
def ext2_image(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A fresh ext2 image on the host (4 MiB, 1 KiB blocks; ``kemu_image`` marker:
    ``size``, ``block``, ``mkfs``): mke2fs when installed, else kemu's newfs_ext2fs."""
    from kern.machine.testing import MiB, make_ext2_image

    marker = request.node.get_closest_marker("kemu_image")
    kw = dict(marker.kwargs) if marker else {}
    size = kw.pop("size", 4 * MiB)
    path = tmp_path / "ext2.img"
    make_ext2_image(path, size, **kw)
    return path


@dataclass
class Ext2Mount:
    """The ``ext2_mount`` fixture: ``image`` (host file) as ``special`` on ``mnt`` in ``k``."""

    k: _machine.Machine
    image: Path
    special: str = "/dev/wd0"
    mnt: str = "/mnt"

    def run(self, afn: Any, *args: Any, **kw: Any) -> Any:
        return self.k.run(afn, *args, **kw)


@pytest.fixture
def ext2_mount(kernel: _machine.Machine, ext2_image: Path) -> Iterator[Ext2Mount]:
    """``ext2_image`` attached as /dev/wd0 and mounted on /mnt.

    Afterwards, if the test left it mounted and the machine alive, it is
    unmounted; then ``e2fsck -fn`` must find the image clean.
    """
    from kern.machine import testing as kt

    async def up() -> None:
        await kt.attach_disk(ext2_image, "/dev/wd0")
        await kt.mount_ext2("/dev/wd0", "/mnt")

    kernel.run(up, name="ext2_mount")
    em = Ext2Mount(kernel, ext2_image)
    yield em
    if kernel.state != "running":
        return   # a crash: the image may be inconsistent, as after a real one
    from kern.errno import EINVAL

    error = kernel.run(kt.unmount, "/mnt", name="ext2_umount")
    assert error in (0, EINVAL), f"ext2_mount: unmount /mnt: errno {error}"
    if kt.E2FSPROGS["e2fsck"] is not None:
        kt.assert_e2fsck_clean(ext2_image)


@pytest.fixture
def ext2_snapshot(ext2_mount: Ext2Mount) -> Iterator[Any]:
    """fss0 configured as a snapshot of ``ext2_mount``'s /mnt (store /tmp/fss0.store):
    a kern.machine.testing.Snapshot; unconfigured afterwards."""
    from kern.machine import testing as kt

    k = ext2_mount.k
    snap = k.run(kt.snapshot, ext2_mount.mnt, name="ext2_snapshot")
    yield snap
    if k.state == "running" and snap.configured:
        k.run(snap.unconfigure, name="ext2_snapshot_clr")


def _memfs(k: _machine.Machine, remote: bool) -> Iterator[Any]:
    from kern.machine import testing as kt

    pm = k.run(functools.partial(kt.mount_memfs, "/mnt", remote=remote), name="memfs_mount")
    yield pm
    if k.state == "running" and not pm.unmounted:
        assert k.run(pm.unmount, name="memfs_umount") == 0


@pytest.fixture
def memfs_mount(kernel: _machine.Machine) -> Iterator[Any]:
    """A memfs puffs server in the machine serving /mnt: a kern.machine.testing.PuffsMount
    (``counters()``); unmounted afterwards, and the server must end cleanly."""
    yield from _memfs(kernel, remote=False)


@pytest.fixture
def memfs_remote_mount(kernel: _machine.Machine) -> Iterator[Any]:
    """As ``memfs_mount``, with the server in a separate OS process."""
    yield from _memfs(kernel, remote=True)
