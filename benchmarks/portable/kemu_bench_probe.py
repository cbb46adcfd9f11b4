"""A pytest plugin that times every test item (setup, call and teardown), wall and CPU.

Loaded with ``-p kemu_bench_probe`` (this directory on PYTHONPATH) by the
benchmarks that run pytest in a kemu tree (benchmarks/bench_sweep.py,
benchmarks/bench_suite.py).  It writes one JSON object per finished item to
the file named by ``KEMU_BENCH_PROBE``::

    {"nodeid": ..., "outcome": "passed" | "failed" | "skipped", "wall": s, "cpu": s,
     "cpu_children": s, "worker": "gw0" | null, "end": epoch seconds}

``cpu`` is ``time.process_time()`` of the pytest process across the item's
whole protocol (every thread of the process; child processes are not in it);
``cpu_children`` is what the processes the item started and waited for used
(``RUSAGE_CHILDREN`` before and after: pytest runs, servers, benchmarks),
those forked for it by tools/lib/forkserver.py included.
``worker`` names the pytest-xdist worker that ran the item (none in a plain run);
``end`` is when the item ended (``time.time()``: comparable across the workers).
With ``KEMU_BENCH_BOOT`` set to a JSON object (e.g. ``{"trace": false}``),
``kern.boot`` becomes a wrapper that uses those keywords as defaults, and each
line says how many machines were booted through it (``boots_overridden``):
code that imported ``boot`` by name before the plugin loaded is not reached,
and the benchmark reading the lines can say so.

Standard library only (and kemu's ``kern.boot``): it runs in any revision's tree.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

import pytest

_out: Any = None
_boots = 0


def _override_boot(defaults: dict[str, Any]) -> None:
    import kern

    real = kern.boot

    def boot(*args: Any, **kw: Any) -> Any:
        global _boots
        _boots += 1
        for k, v in defaults.items():
            kw.setdefault(k, v)
        return real(*args, **kw)

    kern.boot = boot


def pytest_configure(config: Any) -> None:
    global _out
    path = os.environ.get("KEMU_BENCH_PROBE")
    if path:
        _out = open(path, "a", buffering=1)  # noqa: SIM115 - closed at unconfigure
    boot = os.environ.get("KEMU_BENCH_BOOT")
    if boot:
        _override_boot(json.loads(boot))


def pytest_unconfigure(config: Any) -> None:
    global _out
    if _out is not None:
        _out.close()
        _out = None


def _children_cpu() -> float:
    """CPU of the processes this one waited for, and of those a fork server
    (tools/lib/forkserver.py, where the tree has it) forked for it and saw end:
    their parent is the fork server, whose CPU reaches RUSAGE_CHILDREN only when
    it is reaped, at the end of the session."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    fs = sys.modules.get("tools.lib.forkserver")
    return r.ru_utime + r.ru_stime + getattr(fs, "children_cpu", 0.0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: Any, nextitem: Any) -> Any:
    item._kemu_bench_outcome = "passed"
    b0 = _boots
    w0, c0, k0 = time.perf_counter(), time.process_time(), _children_cpu()
    yield
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    if _out is not None:
        _out.write(json.dumps({"nodeid": item.nodeid, "outcome": item._kemu_bench_outcome,
                               "wall": wall, "cpu": cpu, "cpu_children": _children_cpu() - k0,
                               "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                               "end": time.time(), "boots_overridden": _boots - b0})
                   + "\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        item._kemu_bench_outcome = "failed"
    elif rep.skipped and item._kemu_bench_outcome == "passed":
        item._kemu_bench_outcome = "skipped"
