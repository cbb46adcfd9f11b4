"""Imports at first use, for modules that a lean process may load without what they name.

Two forms:

* :func:`package_getattr`: a package's module ``__getattr__`` that imports a
  re-exported name's module when the name is first looked up, and a
  submodule (``kern.kern_synch`` after ``import kern``) when it is named.
  kern/__init__.py and kern/machine/__init__.py use it, so that importing a
  header (``kern.errno``, ``kern.fcntl``) or a sibling package, whose
  ``__init__`` imports ``kern._layout``, does not load the kernel core, the
  harness and trio.
* :func:`lazy_module`: ``libc = lazy_module("tools.lib.libc", globals(), "libc")``
  binds a stand-in under ``libc`` in the calling module; the first attribute
  looked up on it imports the real module and puts it in the stand-in's place
  in that namespace, so every later ``libc.x`` there is an ordinary module
  attribute (no cost on hot paths).  Unlike importlib.util.LazyLoader,
  nothing in sys.modules is half-loaded, and two threads racing to the first
  use both get the real module (the import system's lock orders them).

A puffs server in another OS process (tools/lib/libpuffs/remote.py) relies on
both: it imports libpuffs and its file system, never the kernel.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def package_getattr(package: str, where: dict[str, str],
                    namespace: dict[str, Any]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: a name of ``where`` (name -> module that
    defines it) is imported from its module and cached in ``namespace`` (the
    package's globals); any other name is tried as a submodule."""

    def __getattr__(name: str) -> Any:
        mod = where.get(name)
        if mod is not None:
            value = getattr(importlib.import_module(mod), name)
            namespace[name] = value
            return value
        if not name.startswith("__"):
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


class _LazyModule:
    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name = name
        self._namespace = namespace
        self._alias = alias

    def __getattr__(self, attr: str) -> Any:
        mod = importlib.import_module(self._name)
        if self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = mod
        return getattr(mod, attr)

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported at its first use>"


def lazy_module(name: str, namespace: dict[str, Any], alias: str) -> Any:
    """A stand-in for module ``name`` bound as ``alias`` in ``namespace`` (a module's
    ``globals()``): the first attribute access imports it and rebinds ``alias``."""
    return _LazyModule(name, namespace, alias)
