"""The collector policy for runs of many machines in one process (the pytest
plugin's tests, kern/machine/explore.py's ``explore`` and ``DfsExplorer``, the
campaign runner's workers in kern/machine/campaign.py), all through
:class:`MachineRuns`.

A halted machine leaves ~1,500 objects in reference cycles (its copies of the
per-machine modules' functions, classes and vnodeop tables, its sysctl tree,
locks, lwps, vnodes, trio's Cancelled tracebacks), and its module namespaces
stay in sys.modules until the next boot drops them.  At CPython's thresholds
(700/10/10; 2000/10/10 from 3.13) a machine's boot and run made ~3 young-generation passes over the
live machine, a middle-generation pass every few machines over their garbage,
and now and then a full pass over every object of the process (~35 ms with a
test session's ~57k).  The runners instead raise the young threshold while
machines run (:class:`YoungThreshold`) and, once a run's machines are let go,
drop their namespaces and collect the two young generations
(:func:`collect_halted`): what the run made and no longer holds, nothing older.
"""

from __future__ import annotations

import gc
import sys
from types import TracebackType

# The young generation's threshold while machines run (CPython's default is
# 700, 2,000 from 3.13): a sweep seed's boot and run grow it by ~2,000 objects.
YOUNG_THRESHOLD = 10_000

# CPython's own thresholds, by version (each read from a fresh interpreter,
# 3.11.7, 3.12.1 and 3.13.0; tests/kern/test_collect.py checks the one running
# the suite): the ones nobody chose.  An entry that is wrong (another build's
# defaults) only loses the raise: the runners leave other thresholds alone.
_CPYTHON_DEFAULTS = {(3, 11): (700, 10, 10), (3, 12): (700, 10, 10),
                     (3, 13): (2000, 10, 10)}

# The thresholds the runners raise the young one from: CPython's own (else, for a
# version not in the table, those when kemu was first imported).  A program,
# conftest, fixture or test that set its own (a low one to make the collector run
# often, 0 to turn it off) keeps them while its machines run: set after kemu was
# imported, always; set before, on the versions of the table only (on others they
# are taken for the defaults and the young one is raised over them).
_BASELINE = (_CPYTHON_DEFAULTS.get(sys.version_info[:2])
             if sys.implementation.name == "cpython" else None) or gc.get_threshold()


def automatic() -> bool:
    """Whether the collector runs by itself (``gc.disable()`` and a young
    threshold of 0 both turn it off)."""
    return gc.isenabled() and gc.get_threshold()[0] != 0


class YoungThreshold:
    """Raises the collector's young threshold to YOUNG_THRESHOLD (:meth:`on`),
    unless the thresholds are not CPython's own (someone chose others, after
    kemu was imported or, on the versions _CPYTHON_DEFAULTS knows, before; or
    an outer runner raised them already) or the
    young one is 0 (automatic collection off), and puts the
    previous thresholds back (:meth:`off`) unless something set others
    meanwhile.

    What a middle-generation pass moves to the old generation while the
    machines run is out of reach of :func:`collect_halted`: that pass comes
    every ten young passes, so once the previous run's :func:`collect_halted`
    has zeroed the counts, only a run that grows the young generation by
    ~100,000 objects meets one; the first run after other work may, as any
    collection would have.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, ...] | None = None
        self._ours: tuple[int, ...] | None = None

    def on(self) -> None:
        if self._saved is None and gc.get_threshold() == _BASELINE and _BASELINE[0] != 0:
            self._saved = _BASELINE
            gc.set_threshold(max(_BASELINE[0], YOUNG_THRESHOLD), *_BASELINE[1:])
            self._ours = gc.get_threshold()

    def off(self) -> None:
        if self._saved is not None:
            if gc.get_threshold() == self._ours:
                gc.set_threshold(*self._saved)
            self._saved = self._ours = None


def collect_halted() -> int:
    """Drop the module namespaces of the halted machines and collect the young
    generations (nothing when the collector does not run by itself:
    :func:`automatic`); returns how many objects the collector found unreachable."""
    from kern import kern_module

    kern_module.forget_halted()
    return gc.collect(1) if automatic() else 0


class MachineRuns:
    """The policy around a loop of runs: one shape for every runner.

    ::

        with MachineRuns() as runs:      # the young threshold goes up
            for ...:
                r = run_one()            # boots, runs, halts a machine
                ...                      # take what the run gave
                del r                    # let its machines go
                runs.let_go()            # collect what they left
        # what the last run left is collected, the thresholds are back

    A runner that cannot know whether machines will run (the pytest plugin: a
    test may boot none) makes one without ``with``, calls :meth:`running` when
    a machine boots and :meth:`close` at the end, which collects only once
    :meth:`running` was called.  A generator of runs
    brackets each run in its own ``with`` and yields outside it (leaving the
    ``with`` collects), so that the
    threshold is not left raised while its caller holds it suspended.
    """

    def __init__(self) -> None:
        self._young = YoungThreshold()
        self._ran = False

    def running(self) -> None:
        """Machines run from now on: raise the young threshold (YoungThreshold's
        rules: never over thresholds someone chose)."""
        self._ran = True
        self._young.on()

    def let_go(self) -> None:
        """A run's machines are let go: drop their namespaces and collect the
        young generations (:func:`collect_halted`), if any machine ran."""
        if self._ran:
            collect_halted()

    def close(self) -> None:
        """The runs are over: collect what the last one left (:meth:`let_go`: a
        loop may have been left early) and put the thresholds back
        (YoungThreshold.off), also when the collection is interrupted (a
        KeyboardInterrupt delivered as it returns)."""
        try:
            self.let_go()
        finally:
            self._young.off()

    def __enter__(self) -> MachineRuns:
        self.running()
        return self

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
