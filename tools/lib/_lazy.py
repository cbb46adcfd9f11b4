"""A module imported at its first use, for modules a lean process may load without it.

``libc = lazy_module("tools.lib.libc", globals(), "libc")`` binds a stand-in
under ``libc`` in the calling module; the first attribute looked up on it
imports the real module and puts it in the stand-in's place in that module's
namespace, so every later ``libc.x`` there is an ordinary module attribute
(no cost on hot paths).

tools.lib.libpuffs uses it for libc: libc brings in the system-call layer and
with it the kernel core and trio, which a puffs server in another OS process
(tools/lib/libpuffs/remote.py) never calls.  Unlike importlib.util.LazyLoader,
nothing in sys.modules is half-loaded, and two threads that race to the
first use both end up with the real module (the import system's lock orders
them).
"""

from __future__ import annotations

import importlib
from typing import Any


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
