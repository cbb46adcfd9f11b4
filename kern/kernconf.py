"""Kernel configurations: what a machine links in and starts at boot.

NetBSD builds a kernel from a config file (GENERIC, MODULAR) naming the
options, the built-in modules and the pseudo-devices; config(1) turns it
into ioconf.c, which init_main walks at boot.  A :class:`KernelConfig` is
that file: the base kernel (kern/) finds everything above it through the
dotted names listed here, never by importing it.  Configurations live in
``kern/conf/`` (``kern/conf/GENERIC.py`` and friends).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def resolve(dotted: str) -> Any:
    """``"pkg.mod:attr"`` (or ``"pkg.mod.attr"``) to the object it names."""
    if ":" in dotted:
        modname, attr = dotted.split(":", 1)
    else:
        modname, _, attr = dotted.rpartition(".")
    obj: Any = importlib.import_module(modname)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class KernelConfig:
    name: str
    # Subsystem start-up, in order, run by lwp0 before init exists
    # (NetBSD's main(): vfsinit, bufinit, ...).  Each is "module:function";
    # the function takes the machine and may be async.
    boot: list[str] = field(default_factory=list)
    # Run after the init process exists (mount root, start daemons).
    post_boot: list[str] = field(default_factory=list)
    # Modules linked into the kernel, initialised at boot by class.
    builtin_modules: list[str] = field(default_factory=list)
    # Where modload finds a module: name -> Python module (the /stand tree).
    module_path: dict[str, str] = field(default_factory=dict)
    # "pseudo-device fss 4": name -> count; <name>attach(count) runs at boot.
    pseudo_devices: dict[str, int] = field(default_factory=dict)
    # sys/conf/majors: name -> (block major or -1, char major)
    majors: dict[str, tuple[int, int]] = field(default_factory=dict)
    # MAKEDEV: device nodes made in /dev at boot: name -> count of units
    # ("fss": 4 gives /dev/fss0..3 and /dev/rfss0..3, majors from ``majors``),
    # or name -> (node, minor) for one character node ("puffs": ("puffs", 0x7ffff)),
    # or name -> a list of them (mm(4)'s "mem": [("null", 2), ("zero", 12)]).
    devnodes: dict[str, Any] = field(default_factory=dict)
    # Options (DIAGNOSTIC, _LP64, ...), seen by modules as compile-time switches.
    options: dict[str, Any] = field(default_factory=dict)
    # Load a driver's or file system's module on first use (NetBSD's autoload).
    autoload: bool = True

    def boot_hooks(self) -> list[Callable[..., Any]]:
        return [resolve(h) for h in self.boot]

    def post_boot_hooks(self) -> list[Callable[..., Any]]:
        return [resolve(h) for h in self.post_boot]

    def derive(self, name: str, **changes: Any) -> KernelConfig:
        """A copy with some fields replaced (``GENERIC.derive("MINE", builtin_modules=[])``)."""
        kw = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for k, v in list(kw.items()):
            if isinstance(v, (list, dict)):
                kw[k] = type(v)(v)
        kw.update(changes)
        kw["name"] = name
        return KernelConfig(**kw)
