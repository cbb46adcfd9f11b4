"""What the tests give a pytest run they start (``python -m pytest`` in a child)."""

from __future__ import annotations

#: Options for a child pytest run none of whose tests use hypothesis: without its
#: pytest plugin (loaded through its entry point, it imports hypothesis for its
#: terminal summary whether a test used hypothesis or not: ~0.3 s of CPU a run,
#: about half of a forked child's), the run is otherwise the same. A run whose
#: tests use hypothesis, or that shows what a user sees (tests/docs), keeps it.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")
