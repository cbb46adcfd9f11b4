"""kemu's five top-level packages must all be kemu's.

kemu installs ``kern``, ``vfs``, ``dev``, ``fs`` and ``tools`` side by side.
Another installed distribution may bring a package of the same name (PyPI's
``fs`` is PyFilesystem2; a test project may have its own ``tools``), and
which one ``import`` finds then depends on sys.path: kemu would fail later
with a confusing ImportError, or run someone else's code.  Each of the five
calls :func:`check_siblings` when imported; it stops the import with a
message naming both packages when a sibling is found elsewhere.

:func:`installed_conflicts` is the deeper, pip-check-like look: which other
installed distributions claim one of the five names.
"""

from __future__ import annotations

import importlib.util
import os

PACKAGES = ("kern", "vfs", "dev", "fs", "tools")


class LayoutError(ImportError):
    """One of kemu's top-level packages resolves to another package."""


def check_siblings(name: str, init_file: str) -> None:
    """Called by package ``name`` (its ``__init__`` at ``init_file``): every other
    one of the five must come from the same directory."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(init_file)))
    for other in PACKAGES:
        if other == name:
            continue
        try:
            spec = importlib.util.find_spec(other)
        except (ImportError, ValueError):
            spec = None
        where = _location(spec)
        expected = os.path.join(root, other)
        if where is None or os.path.normcase(where) != os.path.normcase(expected):
            found = where or "nothing"
            raise LayoutError(
                f"kemu's package {name!r} ({os.path.join(root, name)}) needs kemu's {other!r} "
                f"({expected}), but 'import {other}' finds {found}: another package named "
                f"{other!r} shadows kemu's (installed, or on sys.path); uninstall or rename it, "
                f"or put kemu first on sys.path")


def _location(spec: object) -> str | None:
    if spec is None:
        return None
    locs = getattr(spec, "submodule_search_locations", None)
    if locs:
        return os.path.abspath(list(locs)[0])
    origin = getattr(spec, "origin", None)
    return os.path.abspath(origin) if origin else None


def installed_conflicts() -> dict[str, list[str]]:
    """Top-level names of kemu's that other installed distributions also claim:
    ``{"fs": ["fs"]}`` when PyFilesystem2 is installed beside kemu."""
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    return {name: sorted(d for d in set(owners.get(name, ())) if d.lower() != "kemu")
            for name in PACKAGES if set(owners.get(name, ())) - {"kemu"}}
