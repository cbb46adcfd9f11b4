"""What the tests give a pytest run they start (``python -m pytest`` in a child)."""

from __future__ import annotations

import subprocess
from typing import Any

#: Options for a child pytest run none of whose tests use hypothesis: without its
#: pytest plugin (loaded through its entry point, it imports hypothesis for its
#: terminal summary whether a test used hypothesis or not: ~0.3 s of CPU a run,
#: about half of a forked child's), the run is otherwise the same. A run whose
#: tests use hypothesis, or that shows what a user sees (tests/docs), keeps it.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")


def run_pytest(cwd: Any, *args: str, timeout: float = 300,
               **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m pytest -p no:cacheprovider`` NO_HYPOTHESIS ``*args`` in ``cwd``,
    forked (tools/lib/forkserver.py's ``run``), its output captured as text;
    ``kw``: more of subprocess.run's arguments (``env``)."""
    from tools.lib import forkserver

    return forkserver.run(["-m", "pytest", "-p", "no:cacheprovider", *NO_HYPOTHESIS, *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
