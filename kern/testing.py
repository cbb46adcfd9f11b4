"""Helpers for tests written against kemu machines."""

from __future__ import annotations

SWEEP_OVERRIDE: int | None = None


def sweep(n: int, base: int = 0) -> list[int]:
    """Seeds for a seed sweep: ``@pytest.mark.parametrize("seed", sweep(50))``.

    ``pytest --kemu-sweep=N`` changes how many; with pytest-xdist installed
    (``pytest -n auto``) the seeds run in parallel.
    """
    count = SWEEP_OVERRIDE if SWEEP_OVERRIDE is not None else n
    return list(range(base, base + count))
