"""kemu's five top-level packages must all be kemu's.

kemu installs ``kern``, ``vfs``, ``dev``, ``fs`` and ``tools`` side by side.
Another package of one of those names (PyPI's ``fs`` is PyFilesystem2; a
test project may have its own ``tools``) breaks kemu in one of three ways,
and importing any of the five stops, naming what is wrong, instead of a
confusing ImportError later:

* it comes first on sys.path: ``import tools`` finds it, not kemu's;
* it was installed into the same directory as kemu's: its ``__init__.py``
  replaced kemu's (pip lets two distributions own one file, and ``pip
  check`` does not notice);
* it was uninstalled from there: pip removed kemu's ``__init__.py`` with its
  own, and the package became a namespace package.

Each of the five calls :func:`check_siblings` when imported (the other four
by ``from kern import _layout``: a foreign ``kern`` fails right there, and
Python's ImportError names where it is).  When the message is about a
package another installed distribution also claims, it names that
distribution (:func:`installed_conflicts`, the pip-check-like look at what
is installed: too slow to run at every import, it runs when something is
already wrong).
"""

from __future__ import annotations

import importlib.util
import os

PACKAGES = ("kern", "vfs", "dev", "fs", "tools")

# Every one of the five packages' __init__.py calls check_siblings: a file
# without this text is not kemu's.
_MARK = "check_siblings(__name__, __file__)"

_checked: set[str] = set()   # the roots whose five packages were found sound


class LayoutError(ImportError):
    """One of kemu's top-level packages is not kemu's, or is damaged."""


def check_siblings(name: str, init_file: str) -> None:
    """Called by package ``name`` (its ``__init__`` at ``init_file``): each of the
    other four must be found in the same directory, with kemu's ``__init__.py``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(init_file)))
    if root in _checked:
        return
    for other in PACKAGES:
        if other != name:
            problem = _problem(other, root)
            if problem:
                raise LayoutError(f"kemu's package {name!r} ({os.path.join(root, name)}) "
                                  f"needs kemu's {other!r}, but {problem}")
    _checked.add(root)


def _problem(name: str, root: str) -> str | None:
    """What is wrong with package ``name`` as kemu's sibling under ``root``, or None."""
    expected = os.path.join(root, name)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    where = _location(spec)
    if where is None or os.path.normcase(where) != os.path.normcase(expected):
        return (f"'import {name}' finds {where or 'nothing'} instead of {expected}: another "
                f"package named {name!r} shadows kemu's (installed, or on sys.path); "
                "uninstall or rename it, or put kemu first on sys.path")
    init = os.path.join(expected, "__init__.py")
    try:
        with open(init, encoding="utf-8", errors="replace") as f:
            ours = _MARK in f.read()
    except OSError:
        return (f"{init} is missing{_claimed_by(name)}; reinstall kemu "
                "(pip install --force-reinstall kemu)")
    if not ours:
        return (f"{init} is not kemu's{_claimed_by(name)}; uninstall the other "
                "distribution and reinstall kemu (pip install --force-reinstall kemu)")
    return None


def _claimed_by(name: str) -> str:
    others = installed_conflicts().get(name)
    if others:
        return (f" (another installed distribution also installs {name!r}: "
                f"{', '.join(others)}; pip lets both own its files)")
    return ""


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
