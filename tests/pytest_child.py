"""What the tests give a pytest run they start (``python -m pytest`` in a child)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Options for a child pytest run none of whose tests use hypothesis: without its
#: pytest plugin (loaded through its entry point, it imports hypothesis for its
#: terminal summary whether a test used hypothesis or not: ~0.3 s of CPU a run,
#: about half of a forked child's), the run is otherwise the same. A run whose
#: tests use hypothesis, or that shows what a user sees (tests/docs), keeps it.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")


def share_hypothesis_constants(d: Any) -> None:
    """Give a child's working directory ``d`` the checkout's cache of hypothesis'
    constants (``.hypothesis/constants``, a symbolic link to the checkout's).

    Hypothesis (6.170) draws from the constants in the source of the run's local
    modules (kemu's and the test files), which it reads from
    ``.hypothesis/constants`` under the working directory (fixed when it is
    imported), keyed by a hash of each source file, or else parses every module
    for (an AST walk of ~150 kemu modules: 1.3-2 s of CPU a run here) and
    writes them there (atomically: xdist workers share it).  A child run in a
    fresh directory would parse them all again; linked to the checkout's (the
    cache a run of the suite from the checkout fills), it reads what any
    earlier run found for the same source: the same constants, so the same
    examples.  The examples database (``.hypothesis/examples``) stays the
    child's own.  A directory that has its own cache already (or is the
    checkout) keeps it; a read-only checkout leaves hypothesis to parse.
    """
    link = Path(d) / ".hypothesis" / "constants"
    if os.path.lexists(link):
        return
    shared = ROOT / ".hypothesis" / "constants"
    try:
        shared.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(shared, target_is_directory=True)


def run_pytest(cwd: Any, *args: str, timeout: float = 300,
               **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m pytest -p no:cacheprovider`` NO_HYPOTHESIS ``*args`` in ``cwd``,
    forked (tools/lib/forkserver.py's ``run``), its output captured as text;
    ``kw``: more of subprocess.run's arguments (``env``).  ``cwd`` gets the
    checkout's hypothesis constants (:func:`share_hypothesis_constants`)."""
    from tools.lib import forkserver

    share_hypothesis_constants(cwd)
    return forkserver.run(["-m", "pytest", "-p", "no:cacheprovider", *NO_HYPOTHESIS, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
