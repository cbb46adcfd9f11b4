"""The machine: the harness that hosts one emulated NetBSD kernel.

Everything here is kemu's own, not a port:

* ``machine``     booting and halting a machine, its faces, crash dumps;
* ``scheduler``   the one virtual CPU: run queue, context switches,
                  preemption points, callouts and virtual time, idle and
                  deadlock detection, waits outside the machine;
* ``strategies``  who makes each scheduling choice (random, pct, replay, dfs);
* ``schedule``    the recorded decision stream and schedule strings;
* ``trace``       the trace of kernel events (text and structured);
* ``explore``     running a scenario under a strategy, bounded exhaustive
                  search (dfs), campaigns of many runs;
* ``shrink``      reducing a failing schedule;
* ``determinism`` checking that a schedule replays identically;
* ``lockset``     the lockset race detector (Eraser) over watched kernel structs;
* ``plugin``      the pytest plugin; ``testing``: the test author's kit.

The NetBSD ports in kern/, vfs/, dev/ and fs/ reach it only through a
narrow face: ``kern.cpu`` (curlwp, curmachine), the sleep queues and
preemption points of ``kern.kern_synch``, fault sites (``kern.subr_fault``)
and ``printf``/``panic``, the way rump keeps its hypercall layer (rumpuser)
apart from the kernel it hosts.
"""

from __future__ import annotations

import signal

from kern import _lazy

#: The host signals a machine's thread leaves to the main thread (see
#: machine.py's _thread_main).  Here, not in machine.py, so that a puffs server
#: in another OS process, which unblocks them, need not import the harness.
HOST_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                          signal.SIGWINCH})


# machine.py (and trio with it) is imported at the first use of its names; a
# submodule (kern.machine.scheduler after import kern.machine) when named.
__getattr__ = _lazy.package_getattr(__name__, dict.fromkeys(
    ("CrashDump", "Machine", "Trace", "boot"), "kern.machine.machine"), globals())

__all__ = ["CrashDump", "Machine", "Trace", "boot"]
