"""Kernel modules (NetBSD's kern/kern_module.c of 2018, sys/module.h, kern/kern_cfglock.c).

A module declares itself at the top level of its file with
``MODULE(MODULE_CLASS_DRIVER, "fss", "bufq_fcfs")``, which defines
``fss_modinfo``; its ``mi_modcmd`` is the file's ``fss_modcmd``, looked up
when the module is loaded.  ``modcmd`` may be a plain or an ``async``
function: the framework awaits what it returns when that is awaitable.

Loading (``module_load``, ``module_autoload``) loads the required modules
first, then calls ``modcmd(MODULE_CMD_INIT)``; unloading
(``module_unload``) calls ``MODULE_CMD_FINI``, refused with EBUSY while
another module requires this one.  The errnos are NetBSD's (see each
function).  Everything runs under the kernel configuration lock
(``kernconfig_lock``, recursive, so an INIT may autoload another module).

Where modules come from
-----------------------

* ``config.module_path`` maps a module name to a dotted Python module (the
  /stand tree).  Loading executes that file **afresh for this machine**, under
  the name ``kemu.m<machine>.<tag>.<dotted>``, so its module-level globals
  (C's file-scope variables) belong to the machine and vanish with the
  unload.  Its package is recreated under the same prefix (with the real
  directories as ``__path__``), so relative imports (``from . import
  puffs_msgif``) get fresh copies of sibling files too; absolute imports
  (``import kern``, ``from vfs import ...``) reach the shared base kernel.
  Package ``__init__.py`` files are not executed for the fresh copy.
* A package may name, in its ``__init__.py``, the files that are headers:
  ``__kobj_headers__ = ("ext2fs", "ext2fs_dinode")``.  A header has no
  storage (constants, types such as the ctypes structures of an on-disk
  layout, pure functions; it imports only headers and the base kernel), so,
  as a C header compiled into every module leaves nothing per module, the
  copies' relative imports of it reach the one shared import of the file
  instead of executing it again for every machine.  A file with module
  state (a list, a counter, a cache) is not a header, nor one that reads a
  compile-time switch (``kmod_option``: it would keep the options of the
  machine that imported it first).
* ``config.builtin_modules`` are "linked into the kernel": their files are
  executed once per machine at boot (``module_init``), put on the builtin
  list and initialised by class (``module_init_builtins``).  Unloading one
  puts it back on that list, marked so that loading it again needs
  ``MODCTL_LOAD_FORCE``; it then runs INIT again on the same globals.
* ``config.pseudo_devices`` drivers are compiled into a static kernel: their
  files are executed by autoconf (``kobj_load_static``), not as modules.

Compile-time switches
---------------------

A file reads NetBSD's compile-time options at its top with
``kmod_option``::

    _MODULE = kmod_option("_MODULE")       # True for modload/autoload/builtin copies
    DIAGNOSTIC = kmod_option("DIAGNOSTIC")

``_MODULE`` is false for a statically configured pseudo-device ("pseudo-device
fss 4"), which gets its cfdriver from ioconf instead (``ioconf_cfdriver`` in
kern.subr_autoconf).  Built-in modules are built with ``_MODULE`` as rump
kernels build theirs (Makefile.rump's -D_MODULE), so that their MODULE()
part exists.  The other options come from ``config.options``.

The auto-unload thread
----------------------

``module_start_thread`` starts "modunload", a housekeeping kernel thread.
An autoloaded module is offered ``MODULE_CMD_AUTOUNLOAD`` once,
``module_autotime`` seconds (10, settable per machine) after its load; an
answer of 0 or ENOTTY unloads it.  While such a module is pending the thread
looks every second; otherwise it sleeps without a timeout, so an idle
machine has no timer.

Revision and deviations
-----------------------

The stored NetBSD revision compared is ``$NetBSD: kern_module.c,v 1.106
2015/06/22 matt$``; module_do_load, module_do_builtin, module_do_unload,
module_autoload's name check and the auto-unload thread keep NetBSD's
order, errnos and messages.  The 2018 additions kemu follows (built-in
modules that must be reinstated with MODCTL_LOAD_FORCE, module_gen) are
later than that revision and were not compared line by line here.
Notices in LICENSE.NetBSD.

* A module is a Python file executed afresh per machine (``kobj_load``):
  no ELF objects, relocation or symbol tables (kobj.c), no plist
  properties (``props`` is passed to INIT as given), no
  module_load_plist; ``module_load_vfs`` finds a file through
  ``config.module_path`` and is a fault-injection site.
* ``MODULE()`` is a function that builds the modinfo; a modcmd may be
  ``async def``; requirements are a Python list (NetBSD: a fixed array of
  MAXMODDEPS with mod_nrequired; the limit is kept).
* The permission check is ``kauth_cred_issuser`` for KAUTH_SYSTEM_MODULE;
  module_autoload makes none; ``module_load`` answers EEXIST for a loaded
  module before it; ``module_unload`` checks it before taking the
  configuration lock; names that are not strings are ENOENT, flags or
  classes that are not integers EINVAL.
* The state is per machine; the auto-unload thread sleeps without a
  timeout when no autoloaded module is pending (above).
* ``modstat``/``module_stat`` return Python values (no modctl(2)
  MODCTL_STAT copyout); ``kmod_namespace``, ``kmod_option``, the
  ``_Fresh*`` loader and shared headers (``__kobj_headers__``) are kemu's.
* ``kernconfig_lock``'s mutex_enter passes a ``lock_site`` kept at module
  level for that call (kern_mutex's ``at``, kemu's): lockdebug's site is
  looked up once, not with a frame lookup at every call; the same sites and
  reports.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import itertools
import os
import stat
import sys
import threading
import traceback
import types
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kern.cpu import MachineLocal, curlwp, curmachine, curmachine_or_none
from kern.errno import (
    EBUSY,
    EDEADLK,
    EEXIST,
    EINVAL,
    EMLINK,
    ENOENT,
    ENOEXEC,
    ENOTTY,
    EPERM,
    EPROGMISMATCH,
)
from kern.exceptions import KernelError
from kern.kern_auth import kauth_cred_issuser
from kern.kern_condvar import cv_broadcast, cv_init, cv_timedwait, kcondvar_t
from kern.kern_lwp import KTHREAD_KEMU_DAEMON, KTHREAD_MPSAFE, PRI_VM, KthreadExit, kthread_create
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    lock_site,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
)
from kern.kern_synch import hz
from kern.kern_time import time_second
from kern.subr_fault import fault_inject
from kern.subr_prf import KASSERT, panic, printf

# sys/module.h ----------------------------------------------------------------

MAXMODNAME = 32
MAXMODDEPS = 10

# modclass_t
MODULE_CLASS_ANY = 0
MODULE_CLASS_MISC = 1
MODULE_CLASS_VFS = 2
MODULE_CLASS_DRIVER = 3
MODULE_CLASS_EXEC = 4
MODULE_CLASS_SECMODEL = 5
MODULE_CLASS_BUFQ = 6
MODULE_CLASS_MAX = 7

# modcmd_t
MODULE_CMD_INIT = 0
MODULE_CMD_FINI = 1
MODULE_CMD_STAT = 2
MODULE_CMD_AUTOUNLOAD = 3

# modsrc_t
MODULE_SOURCE_KERNEL = 0
MODULE_SOURCE_BOOT = 1
MODULE_SOURCE_FILESYS = 2

# mod_flags
MODFLG_MUST_FORCE = 0x01
MODFLG_AUTO_LOADED = 0x02

# modctl(2)
MODCTL_LOAD = 0
MODCTL_UNLOAD = 1
MODCTL_STAT = 2
MODCTL_EXISTS = 3
# modctl_load_t ml_flags
MODCTL_LOAD_FORCE = 1
MODCTL_NO_PROP = 2

# The kernel's version in January 2018 (-current, 8.99.12).
__NetBSD_Version__ = 899001200

# How deep requirements may nest before a load gives up with EMLINK.
MODULE_MAX_DEPTH = 6

_CLASS_NAMES = ("any", "misc", "vfs", "driver", "exec", "secmodel", "bufq")
_SOURCE_NAMES = ("builtin", "boot", "filesys")


class modinfo:
    """modinfo_t: what MODULE() declares."""

    def __init__(self, mi_version: int, mi_class: int, mi_name: str, mi_required: str | None,
                 modcmd: Any = None, globals_: dict[str, Any] | None = None) -> None:
        self.mi_version = mi_version
        self.mi_class = mi_class
        self.mi_name = mi_name
        self.mi_required = mi_required
        self._modcmd = modcmd
        self._globals = globals_

    @property
    def mi_modcmd(self) -> Any:
        """``<name>_modcmd`` of the declaring file (found at load time)."""
        if self._modcmd is None and self._globals is not None:
            fn = self._globals.get(f"{self.mi_name}_modcmd")
            if callable(fn):
                self._modcmd = fn
        return self._modcmd

    def __repr__(self) -> str:
        return f"<modinfo {self.mi_name} class {self.mi_class} requires {self.mi_required!r}>"


modinfo_t = modinfo


def MODULE(modclass: int, name: str, required: str | None, *, modcmd: Any = None) -> modinfo:
    """Declare the module of this file: defines ``<name>_modinfo`` in its globals.

    ``required`` is a comma-separated list of module names, or None.
    """
    f = sys._getframe(1)
    g = f.f_globals
    mi = modinfo(__NetBSD_Version__, modclass, name, required, modcmd, g)
    if f.f_code.co_name == "<module>":
        g[f"{name}_modinfo"] = mi
    ctx = kobj_context(g)
    if ctx is not None:
        ctx.modinfos.append(mi)
    return mi


class module:
    """module_t: one module the kernel knows, loaded or on the builtin list."""

    def __init__(self, source: int) -> None:
        self.mod_source = source
        self.mod_info: modinfo | None = None
        self.mod_kobj: kobj | None = None
        self.mod_refcnt = 0
        self.mod_flags = 0
        self.mod_required: list[module] = []
        self.mod_autotime = 0

    @property
    def mod_nrequired(self) -> int:
        return len(self.mod_required)

    def __repr__(self) -> str:
        name = self.mod_info.mi_name if self.mod_info else "?"
        return f"<module {name} {_SOURCE_NAMES[self.mod_source]} refs {self.mod_refcnt}>"


module_t = module


# --- per-machine Python namespaces: the kobj layer ----------------------------------------

@dataclass
class _LoadCtx:
    """What a file executed for a machine can ask about its build (kmod_option & co)."""

    prefix: str
    name: str
    source: str  # "filesys", "builtin" or "static"
    options: dict[str, Any]
    modinfos: list[modinfo] = field(default_factory=list)
    ioconf: list[Any] = field(default_factory=list)  # cfdrivers of ioconf (static only)


class _FreshLoader(importlib.machinery.SourceFileLoader):
    """Loads a file of a module's per-machine copy: executed afresh for every
    machine, but compiled (or read from its .pyc) once per process.

    A code object holds no module state (its file name is the source's, the
    same for every copy), so the copies can share it; it is read again when
    the file's size or modification time changes.
    """

    _code: dict[tuple[str, int, int], types.CodeType] = {}

    def __init__(self, fullname: str, path: str, st: os.stat_result | None = None) -> None:
        super().__init__(fullname, path)
        # The finder's stat of the file, when it just made one (a stat is
        # ~7 us on the CI host; a seed loads ~17 files): used once, here.
        self._st = st

    def get_code(self, fullname: str) -> types.CodeType:
        path = self.get_filename(fullname)   # (FileLoader's: self.path)
        st, self._st = self._st, None
        if st is None:
            st = os.stat(path)
        key = (path, st.st_mtime_ns, st.st_size)
        code = self._code.get(key)
        if code is None:
            code = super().get_code(fullname)
            if code is None:
                raise ImportError(f"no code for {fullname} ({path})", name=fullname)
            self._code[key] = code
        return code


def _stat_file(path: str) -> os.stat_result | None:
    """``os.stat(path)`` when ``path`` is a regular file (os.path.isfile's test), else None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


class _FreshFinder:
    """Finds the files of per-machine copies (``kemu.mN....``) as the path
    finder does, and gives them to :class:`_FreshLoader`.

    Where a sibling file is found is kept per process, keyed by the parent's
    directories and the file's name (a seed sweep imports the same siblings
    for every machine): a hit costs one ``stat`` of the file, which must still
    be a file, instead of the path finder's directory scan.  Only plain
    source files are kept; anything else (a package's sub-package, a missing
    file) asks the path finder every time.  kobj_load finds a module's entry
    file through the same table (``_find_entry``).
    """

    # (parent's __path__, last name) -> (the file, its __cached__ path)
    _found: dict[tuple[tuple[str, ...], str], tuple[str, str | None]] = {}

    @classmethod
    def find_spec(cls, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if path is None or not fullname.startswith("kemu.m"):
            return None
        _ns_note(fullname)
        key = (tuple(path), fullname.rpartition(".")[2])
        hit = cls._found.get(key)
        st = _stat_file(hit[0]) if hit is not None else None
        if st is not None:
            origin, cached = hit
            spec = importlib.machinery.ModuleSpec(fullname, _FreshLoader(fullname, origin, st),
                                                  origin=origin)
            spec.has_location = True
            spec.cached = cached
            return spec
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader \
                and spec.origin:
            spec.loader = _FreshLoader(fullname, spec.origin)
            if spec.submodule_search_locations is None:
                cls._found[key] = (spec.origin, spec.cached)
        return spec


if _FreshFinder not in sys.meta_path:
    sys.meta_path.insert(0, _FreshFinder)


class kobj:
    """The code of a module: the fresh Python modules executed for one machine."""

    def __init__(self, name: str, dotted: str, prefix: str, ctx: _LoadCtx) -> None:
        self.ko_name = name
        self.ko_dotted = dotted
        self.ko_prefix = prefix
        self.ko_ctx = ctx
        self.ko_entry: types.ModuleType | None = None
        self.ko_loaded = False

    def ko_size(self) -> int:
        """Bytes of source text of the files it executed (modstat's SIZE)."""
        total = 0
        for mod in self.modules():
            path = getattr(mod, "__file__", None)
            if path:
                try:
                    total += os.path.getsize(path)
                except OSError:
                    pass
        return total

    def modules(self) -> list[types.ModuleType]:
        """The files executed for this machine (not the shared headers its copies import)."""
        p = self.ko_prefix + "."
        out = []
        for n in _ns_names(self.ko_prefix):
            m = sys.modules.get(n)
            if n.startswith(p) and m is not None and m.__name__ == n \
                    and getattr(m, "__file__", None):
                out.append(m)
        return out

    def __repr__(self) -> str:
        return f"<kobj {self.ko_name} {self.ko_prefix}.{self.ko_dotted}>"


_ns_lock = threading.Lock()
_contexts: dict[str, _LoadCtx] = {}
# Every sys.modules name made under a machine's root ("kemu.mN" -> names, in
# the order they were made): forgetting a module or a machine pops these
# instead of scanning all of sys.modules.  Names come in through
# _placeholder, kobj_load's entry module and _FreshFinder (the relative
# imports of a copy): nothing else makes "kemu.mN..." modules.
_names: dict[str, dict[str, None]] = {}


def _ns_root(name: str) -> str:
    """"kemu.mN" of a per-machine name ("kemu" itself has none: "")."""
    parts = name.split(".", 2)
    return ".".join(parts[:2]) if len(parts) >= 2 else ""


def _ns_note(name: str) -> None:
    root = _ns_root(name)
    if root:
        _names.setdefault(root, {})[name] = None


def _ns_names(prefix: str) -> list[str]:
    """The noted names at ``prefix`` and under it."""
    sub = prefix + "."
    return [n for n in _names.get(_ns_root(prefix), ()) if n == prefix or n.startswith(sub)]
_machines: dict[int, weakref.ref[Any]] = {}
_mid_counter = itertools.count(1)


def _new_mid() -> int:
    return next(_mid_counter)


_machine_id = MachineLocal(_new_mid, "module namespace id")


def _mid_of(machine: Any) -> int:
    mid = _machine_id.of(machine)
    with _ns_lock:
        if mid not in _machines:
            _machines[mid] = weakref.ref(machine)
            # Runs from the garbage collector, perhaps while _ns_lock is
            # held: only note the machine; the next sweep purges it.
            weakref.finalize(machine, _dead.append, mid)
    return mid


_dead: list[int] = []


def _purge_machine(mid: int) -> None:
    """Forget the namespaces of a machine that is gone."""
    root = f"kemu.m{mid}"
    with _ns_lock:
        _machines.pop(mid, None)
        for p in [p for p in _contexts if p == root or p.startswith(root + ".")]:
            del _contexts[p]
        for n in _names.pop(root, ()):
            sys.modules.pop(n, None)
        top = sys.modules.get("kemu")
        if top is not None and hasattr(top, f"m{mid}"):
            delattr(top, f"m{mid}")


def forget_halted() -> None:
    """Drop the module namespaces of machines that halted, crashed or were
    collected now, instead of at the next boot: what a test runner calls when a
    test's machines are done with, so that what they leave in reference cycles
    can be collected at once (kern/machine/plugin.py)."""
    _sweep()


def _sweep() -> None:
    """Drop the namespaces of machines that halted, crashed or were collected."""
    while True:
        # (pop without testing first: two threads may sweep at once, and the
        # other's pop can take the last id between a test and ours)
        try:
            mid = _dead.pop()
        except IndexError:
            break
        _purge_machine(mid)
    with _ns_lock:
        items = list(_machines.items())
    for mid, ref in items:
        m = ref()
        if m is None or getattr(m, "state", None) in ("halted", "failed"):
            _purge_machine(mid)


def _placeholder(name: str, path: list[str]) -> types.ModuleType:
    mod = sys.modules.get(name)
    if mod is None:
        mod = types.ModuleType(name)
        mod.__path__ = list(path)
        mod.__package__ = name
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = list(path)
        mod.__spec__ = spec
        sys.modules[name] = mod
        _ns_note(name)
        parent, _, child = name.rpartition(".")
        if parent and parent in sys.modules:
            setattr(sys.modules[parent], child, mod)
    return mod


def _share_headers(name: str, shared: types.ModuleType) -> None:
    """Make the headers the package ``shared`` declares (``__kobj_headers__``)
    the files of its per-machine copy ``name``: its relative imports find
    them in sys.modules, the shared imports themselves."""
    for h in getattr(shared, "__kobj_headers__", ()):
        alias = f"{name}.{h}"
        if alias not in sys.modules:
            mod = importlib.import_module(f"{shared.__name__}.{h}")
            sys.modules[alias] = mod
            _ns_note(alias)
            setattr(sys.modules[name], h, mod)


def kobj_context(g: dict[str, Any]) -> _LoadCtx | None:
    """The load context of the file whose globals are ``g`` (None for a shared import)."""
    name = g.get("__name__")
    if not isinstance(name, str) or not name.startswith("kemu.m"):
        return None
    parts = name.split(".", 3)
    if len(parts) < 3:
        return None
    return _contexts.get(".".join(parts[:3]))


def kmod_option(name: str, default: Any = None) -> Any:
    """A compile-time switch of the calling file: ``_MODULE``, ``_KERNEL``, config options.

    Meant for the top of a module's file.  A file imported the ordinary way
    (shared, not through the module framework) sees ``_MODULE`` false and the
    options of the machine running the import, if any.
    """
    ctx = kobj_context(sys._getframe(1).f_globals)
    if ctx is not None:
        return ctx.options.get(name, default)
    if name == "_MODULE":
        return False
    if name == "_KERNEL":
        return True
    m = curmachine_or_none()
    if m is not None:
        return m.config.options.get(name, default)
    return default


def _find_entry(dotted: str) -> tuple[str, list[str] | None, os.stat_result, str | None] | None:
    """Where the file of ``dotted`` is: ``(the file, a package's directories or
    None, its stat, its __cached__ path)``, None when there is no such file.

    A plain source file's place is kept where :class:`_FreshFinder` keeps its
    siblings' (keyed by the package's directories and the name): a load
    finds it again with one ``stat`` instead of the path finder's search.
    """
    parent, _, last = dotted.rpartition(".")
    key = None
    if parent:
        try:
            path = getattr(sys.modules.get(parent) or importlib.import_module(parent),
                           "__path__", None)
        except Exception:  # noqa: BLE001 - a broken parent package: find_spec says so
            path = None
        if path is not None:
            key = (tuple(path), last)
            hit = _FreshFinder._found.get(key)
            st = _stat_file(hit[0]) if hit is not None else None
            if st is not None:
                return hit[0], None, st, hit[1]
    try:
        spec = importlib.util.find_spec(dotted)
    except Exception:  # noqa: BLE001 - a broken parent package: nothing to load
        return None
    if spec is None or not spec.has_location or not spec.origin:
        return None
    st = _stat_file(spec.origin)
    if st is None:
        return None
    locs = spec.submodule_search_locations
    if key is not None and locs is None \
            and type(spec.loader) is importlib.machinery.SourceFileLoader:
        _FreshFinder._found[key] = (spec.origin, spec.cached)
    return spec.origin, (list(locs) if locs is not None else None), st, spec.cached


def _tag_for(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "mod"


# Called with (machine, the fresh Python modules) each time kobj_load has
# executed a module's files for a machine (the race detector watches the
# structs those copies define: kern.machine.lockset).
kobj_load_observers: list[Callable[[Any, list[types.ModuleType]], None]] = []


def kobj_load(machine: Any, name: str, dotted: str, source: str) -> tuple[int, kobj | None]:
    """Execute ``dotted`` afresh for ``machine``; ``(error, kobj)``.

    ENOENT if there is no such file, ENOEXEC if executing it failed (the
    exception is printed to the message buffer).
    """
    if not isinstance(dotted, str) or not dotted or dotted.startswith("."):
        return ENOENT, None
    found = _find_entry(dotted)
    if found is None:
        return ENOENT, None
    origin, locs, st, cached = found
    _sweep()
    mid = _mid_of(machine)
    root = f"kemu.m{mid}"
    base = f"{root}.{_tag_for(name)}"
    options = {"_KERNEL": True}
    options.update(machine.config.options)
    options["_MODULE"] = source != "static"
    with _ns_lock:
        prefix = base
        for n in itertools.count(2):
            if prefix not in _contexts and prefix not in sys.modules:
                break
            prefix = f"{base}_{n}"
        ctx = _LoadCtx(prefix, name, source, options)
        _contexts[prefix] = ctx
        _placeholder("kemu", [])
        _placeholder(root, [])
        _placeholder(prefix, [])
    ko = kobj(name, dotted, prefix, ctx)
    parts = dotted.split(".")
    try:
        for i in range(1, len(parts)):
            shared_name = ".".join(parts[:i])
            shared = sys.modules.get(shared_name) or importlib.import_module(shared_name)
            _placeholder(f"{prefix}.{shared_name}", list(getattr(shared, "__path__", [])))
            _share_headers(f"{prefix}.{shared_name}", shared)
        fresh = f"{prefix}.{dotted}"
        nspec = importlib.util.spec_from_file_location(
            fresh, origin, loader=_FreshLoader(fresh, origin, st),
            submodule_search_locations=locs)
        if nspec is None or nspec.loader is None:
            _kobj_forget(ko)
            return ENOEXEC, None
        # (the path find_spec gave for the same file: module_from_spec's
        # __cached__ without cache_from_source again)
        nspec.cached = cached
        mod = importlib.util.module_from_spec(nspec)
        sys.modules[fresh] = mod
        _ns_note(fresh)
        parent, _, child = fresh.rpartition(".")
        setattr(sys.modules[parent], child, mod)
        ko.ko_entry = mod
        nspec.loader.exec_module(mod)
    except (KernelError, KthreadExit):
        _kobj_forget(ko)
        raise
    except Exception as e:  # noqa: BLE001 - a module that does not load is an errno
        _kobj_forget(ko)
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        module_error("cannot execute `%s' (%s): %s", name, dotted,
                     "".join(tb[-3:]).rstrip().replace("\n", "\n    "))
        return ENOEXEC, None
    ko.ko_loaded = True
    for obs in kobj_load_observers:
        obs(machine, ko.modules())
    return 0, ko


def _kobj_forget(ko: kobj) -> None:
    with _ns_lock:
        _contexts.pop(ko.ko_prefix, None)
        p = ko.ko_prefix
        names = _names.get(_ns_root(p), {})
        for n in _ns_names(p):
            sys.modules.pop(n, None)
            names.pop(n, None)
        parent, _, child = p.rpartition(".")
        pm = sys.modules.get(parent)
        if pm is not None and hasattr(pm, child):
            delattr(pm, child)


def kobj_unload(ko: kobj | None) -> None:
    """Forget a module's Python copies (its sys.modules entries go away)."""
    if ko is None or not ko.ko_loaded:
        return
    ko.ko_loaded = False
    _kobj_forget(ko)


def kobj_load_static(machine: Any, name: str) -> tuple[int, kobj | None]:
    """Execute the driver of a statically configured pseudo-device (no _MODULE)."""
    st = _modstate.of(machine)
    ko = st.static_kobjs.get(name)
    if ko is not None:
        return 0, ko
    dotted = machine.config.module_path.get(name)
    if dotted is None:
        return ENOENT, None
    error, ko = kobj_load(machine, name, dotted, "static")
    if error == 0 and ko is not None:
        st.static_kobjs[name] = ko
    return error, ko


# --- per-machine state ----------------------------------------------------------------------

class _ModState:
    def __init__(self) -> None:
        self.module_list: list[module] = []          # loaded, newest first
        self.module_builtins: list[module] = []      # linked in, not initialised
        self.module_active: module | None = None
        self.module_verbose_on = False
        self.module_autoload_on = True
        self.module_count = 0
        self.module_builtinlist = 0
        self.module_autotime = 10
        self.module_gen = 1
        self.module_thread_ticks = 0
        module_thread_lock = kmutex_t()
        mutex_init(module_thread_lock, MUTEX_DEFAULT, IPL_NONE)
        self.module_thread_lock = module_thread_lock
        self.module_thread_cv = kcondvar_t()
        cv_init(self.module_thread_cv, "mod_unld")
        kernconfig_mutex = kmutex_t()
        mutex_init(kernconfig_mutex, MUTEX_DEFAULT, IPL_NONE)
        self.kernconfig_mutex = kernconfig_mutex
        self.kernconfig_lwp: Any = None
        self.kernconfig_recurse = 0
        self.depth = 0
        self.pending_lists: list[list[module] | None] = [None] * MODULE_MAX_DEPTH
        self.module_netbsd: module | None = None
        self.static_kobjs: dict[str, kobj] = {}
        self.initialized = False


_modstate = MachineLocal(_ModState, "module framework")


def _st(machine: Any = None) -> _ModState:
    if machine is None:
        return _modstate()  # (the current machine's: curmachine's call spared)
    return _modstate.of(machine)


# --- kernconfig lock (kern_cfglock.c) ---------------------------------------------------

_kernconfig_lock_site = lock_site()


async def kernconfig_lock() -> None:
    """Take the kernel configuration lock; the holder may take it again (recursive)."""
    st = _st()
    l = curlwp()
    if st.kernconfig_lwp is l:
        st.kernconfig_recurse += 1
        KASSERT(st.kernconfig_recurse > 1)
        return
    await mutex_enter(st.kernconfig_mutex, at=_kernconfig_lock_site)
    st.kernconfig_lwp = l
    st.kernconfig_recurse = 1


def kernconfig_unlock() -> None:
    st = _st()
    KASSERT(kernconfig_is_held())
    KASSERT(st.kernconfig_recurse != 0)
    st.kernconfig_recurse -= 1
    if st.kernconfig_recurse == 0:
        st.kernconfig_lwp = None
        mutex_exit(st.kernconfig_mutex)


def kernconfig_is_held() -> bool:
    return mutex_owned(_st().kernconfig_mutex)


# --- messages --------------------------------------------------------------------------------

def module_error(fmt: str, *args: Any) -> None:
    printf("WARNING: module error: " + fmt + "\n", *args)


def module_print(fmt: str, *args: Any) -> None:
    m = curmachine_or_none()
    if m is not None and _modstate.of(m).module_verbose_on:
        printf("DEBUG: module: " + fmt + "\n", *args)


def module_name(mod: module) -> str:
    return mod.mod_info.mi_name if mod.mod_info else "?"


def module_source(mod: module) -> int:
    return mod.mod_source


def MODULE_CLASS_MATCH(mi: modinfo, modclass: int) -> bool:
    return modclass == MODULE_CLASS_ANY or modclass == mi.mi_class


def module_compatible(v1: int, v2: int) -> bool:
    """-current: only the very same version is compatible."""
    return v1 == v2


def _requirements(mi: modinfo) -> list[str]:
    """The names in ``mi_required``, split as C walks it: one comma is skipped
    before each name, and an empty name ends the list."""
    req = mi.mi_required or ""
    out = []
    s = 0
    while s < len(req):
        if req[s] == ",":
            s += 1
        p = req.find(",", s)
        if p < 0:
            p = len(req)
        if p == s:
            break
        out.append(req[s:p])
        s = p
    return out


async def _modcmd(mod: module, cmd: int, arg: Any) -> int:
    """Call a module's modcmd; await its result if it is awaitable."""
    mi = mod.mod_info
    assert mi is not None
    fn = mi.mi_modcmd
    if fn is None:
        panic("module %s: no modcmd", mi.mi_name)
    try:
        r = fn(cmd, arg)
        if inspect.isawaitable(r):
            r = await r
    except (KernelError, KthreadExit):
        raise
    except Exception as e:  # noqa: BLE001 - a Python bug in a module is a panic
        panic("module %s: modcmd(%d) raised %s: %s", mi.mi_name, cmd, type(e).__name__, e)
    if not isinstance(r, int) or isinstance(r, bool):
        panic("module %s: modcmd(%d) returned %r, not an errno", mi.mi_name, cmd, r)
    return r


# --- boot ------------------------------------------------------------------------------------

async def module_init(machine: Any) -> None:
    """Boot: set up the framework and put the built-in modules on the builtin list."""
    st = _modstate.of(machine)
    if st.initialized:
        return
    _sweep()
    st.module_autoload_on = bool(machine.config.autoload)
    st.module_verbose_on = bool(machine.options.get("module_verbose", False))
    t = machine.options.get("module_autotime", 10)
    st.module_autotime = t if isinstance(t, int) and t >= 0 else 10

    # The "link set": modinfos of the built-in modules' files, and of any
    # statically configured driver that declares MODULE() unconditionally.
    linked: list[tuple[modinfo, kobj]] = []
    for name in machine.config.builtin_modules:
        dotted = machine.config.module_path.get(name, name)
        error, ko = kobj_load(machine, name, dotted, "builtin")
        if error == 0 and ko is not None:
            error, mi = _fetch_info(ko)
            if error == 0 and mi is not None:
                linked.append((mi, ko))
                continue
            kobj_unload(ko)
        module_error("builtin %s failed: %d", name, error)
    for ko in st.static_kobjs.values():
        if len(ko.ko_ctx.modinfos) == 1:
            linked.append((ko.ko_ctx.modinfos[0], ko))
    for mi, ko in linked:
        rv = await _module_builtin_add(mi, ko, False)
        if rv != 0:
            module_error("builtin %s failed: %d", mi.mi_name, rv)
            kobj_unload(ko)

    netbsd = module(MODULE_SOURCE_KERNEL)
    netbsd.mod_refcnt = 1
    netbsd.mod_info = modinfo(__NetBSD_Version__, MODULE_CLASS_MISC, "netbsd", None,
                              modcmd=lambda cmd, arg: ENOTTY)
    st.module_netbsd = netbsd
    st.initialized = True


async def _module_builtin_add(mi: modinfo, ko: kobj, init: bool) -> int:
    st = _st()
    mod = module(MODULE_SOURCE_KERNEL)
    mod.mod_info = mi
    mod.mod_kobj = ko
    await kernconfig_lock()
    try:
        for m in st.module_builtins:
            if module_name(m) == mi.mi_name:
                return EEXIST
        if module_lookup(mi.mi_name) is not None:
            return EEXIST
        st.module_builtins.append(mod)
        st.module_builtinlist += 1
        if init:
            rv, _ = await module_do_builtin(mod, mi.mi_name, None)
            if rv:
                panic("module_builtin_add: builtin module \"%s\" init failed: %d",
                      mi.mi_name, rv)
        return 0
    finally:
        kernconfig_unlock()


async def module_init_builtins(machine: Any) -> None:
    """Boot: initialise the built-in modules, class by class as main() does."""
    for modclass in (MODULE_CLASS_SECMODEL, MODULE_CLASS_BUFQ, MODULE_CLASS_DRIVER,
                     MODULE_CLASS_VFS, MODULE_CLASS_ANY):
        await module_init_class(modclass)
    await module_builtin_require_force()


async def module_init_class(modclass: int) -> None:
    """Initialise every built-in module of ``modclass`` (ANY: all of them)."""
    st = _st()
    bi_fail: list[module] = []
    await kernconfig_lock()
    try:
        while True:
            mod = next((m for m in st.module_builtins
                        if m.mod_info is not None and MODULE_CLASS_MATCH(m.mod_info, modclass)),
                       None)
            if mod is None:
                break
            # If it fails (or needs force), keep it aside until the class is
            # done, then put it back, so that it is not tried again.
            if mod.mod_flags & MODFLG_MUST_FORCE or \
                    (await module_do_builtin(mod, module_name(mod), None))[0] != 0:
                st.module_builtins.remove(mod)
                bi_fail.append(mod)
        st.module_builtins.extend(bi_fail)
    finally:
        kernconfig_unlock()


async def module_builtin_require_force() -> None:
    """Built-in modules not initialised by now need -f to be loaded later."""
    st = _st()
    await kernconfig_lock()
    for mod in st.module_builtins:
        mod.mod_flags |= MODFLG_MUST_FORCE
    kernconfig_unlock()


async def module_start_thread(machine: Any) -> None:
    """Post-boot: start the auto-unload thread "modunload"."""
    error, _ = kthread_create(PRI_VM, KTHREAD_MPSAFE | KTHREAD_KEMU_DAEMON, None,
                              module_thread, None, "modunload")
    if error:
        panic("module_start_thread: %d", error)


# --- lookups ---------------------------------------------------------------------------------

def module_lookup(name: str) -> module | None:
    """The loaded module called ``name`` (the caller holds kernconfig_lock)."""
    for mod in _st().module_list:
        if module_name(mod) == name:
            return mod
    return None


async def module_hold(mod: module) -> None:
    await kernconfig_lock()
    mod.mod_refcnt += 1
    kernconfig_unlock()


async def module_rele(mod: module) -> None:
    await kernconfig_lock()
    KASSERT(mod.mod_refcnt > 0)
    mod.mod_refcnt -= 1
    kernconfig_unlock()


def module_enqueue(mod: module) -> None:
    """Put a module on the loaded list (at the head) and reference what it requires."""
    st = _st()
    KASSERT(kernconfig_is_held())
    st.module_list.insert(0, mod)
    for req in mod.mod_required:
        req.mod_refcnt += 1
    st.module_count += 1
    st.module_gen += 1


def _fetch_info(ko: kobj) -> tuple[int, modinfo | None]:
    """module_fetch_info: the one modinfo the module's files declared."""
    mis = ko.ko_ctx.modinfos
    if not mis:
        module_error("`link_set_modules' section not present, error %d", ENOENT)
        return ENOENT, None
    if len(mis) != 1:
        module_error("`link_set_modules' section wrong size (got %d, wanted %d)", len(mis), 1)
        return ENOEXEC, None
    mi = mis[0]
    if not isinstance(mi.mi_name, str) or not isinstance(mi.mi_class, int):
        return ENOEXEC, None
    if mi.mi_modcmd is None:
        module_error("module `%s' has no %s_modcmd", mi.mi_name, mi.mi_name)
        return ENOEXEC, None
    return 0, mi


def module_fetch_info(mod: module) -> int:
    error, mi = _fetch_info(mod.mod_kobj) if mod.mod_kobj is not None else (ENOENT, None)
    if error == 0:
        mod.mod_info = mi
    return error


# --- load ------------------------------------------------------------------------------------

async def module_load(filename: str, flags: int, props: Any, modclass: int) -> int:
    """modload: load module ``filename`` (and what it requires).

    EEXIST if it is loaded, EPERM if the caller is not the superuser, ENOENT
    if it cannot be found or its class is not ``modclass``, EDEADLK for a
    circular requirement, EMLINK for requirements nested too deep, EINVAL for
    a bad name or too many requirements, ENOEXEC for a file that does not
    load, EPERM for a built-in module that needs ``MODCTL_LOAD_FORCE``, or the
    error of its INIT (then only requirements it loaded stay loaded).
    """
    if not isinstance(filename, str) or not filename:
        return ENOENT
    if not isinstance(flags, int) or not isinstance(modclass, int):
        return EINVAL
    await kernconfig_lock()
    try:
        # EEXIST is told before the permission check, as in NetBSD.
        if module_lookup(filename) is not None:
            module_print("%s module `%s' already loaded", "requested", filename)
            return EEXIST
        if not _authorized():
            return EPERM
        error, _ = await module_do_load(filename, False, flags, props, modclass, False)
        return error
    finally:
        kernconfig_unlock()


def _authorized() -> bool:
    # kauth KAUTH_SYSTEM_MODULE: the superuser may load and unload modules.
    return kauth_cred_issuser(curlwp().l_cred)


async def module_autoload(filename: str, modclass: int) -> int:
    """Load a module on the system's behalf (first use of a driver or file system).

    EPERM if autoloading is off or the name has '/', '@' or '.' in it.  An
    autoloaded module is offered auto-unload after ``module_autotime``.
    """
    if not isinstance(filename, str) or not filename or not isinstance(modclass, int):
        return ENOENT
    st = _st()
    await kernconfig_lock()
    try:
        if not st.module_autoload_on:
            return EPERM
        if "/" in filename or "@" in filename or "." in filename:
            return EPERM
        error, _ = await module_do_load(filename, False, 0, None, modclass, True)
        p = curlwp().l_proc
        module_print("Autoload for `%s' requested by pid %d (%s), status %d",
                     filename, p.p_pid, p.p_comm, error)
        return error
    finally:
        kernconfig_unlock()


async def module_do_builtin(pmod: module | None, name: str,
                            props: Any) -> tuple[int, module | None]:
    """Initialise built-in module ``name`` (and its built-in requirements)."""
    st = _st()
    KASSERT(kernconfig_is_held())
    mod = next((m for m in st.module_builtins if module_name(m) == name), None)
    mi = mod.mod_info if mod is not None else None

    mod_loaded = module_lookup(name)
    if mod_loaded is not None:
        return 0, mod_loaded

    if mod is None or mi is None:
        module_error("can't find builtin dependency `%s'", name)
        return ENOENT, None

    mod.mod_required = []
    for buf in _requirements(mi):
        if mod.mod_nrequired == MAXMODDEPS - 1:
            module_error("too many required modules %d >= %d", mod.mod_nrequired,
                         MAXMODDEPS - 1)
            mod.mod_required = []
            return EINVAL, None
        error, mod2 = await module_do_builtin(mod, buf, None)
        if error != 0:
            module_error("built-in module %s prerequisite %s failed, error %d", name, buf, error)
            mod.mod_required = []
            return error, None
        assert mod2 is not None
        mod.mod_required.append(mod2)

    prev_active = st.module_active
    st.module_active = mod
    error = await _modcmd(mod, MODULE_CMD_INIT, props)
    st.module_active = prev_active
    if error != 0:
        module_error("built-in module %s failed its MODULE_CMD_INIT, error %d", mi.mi_name,
                     error)
        mod.mod_required = []
        return error, None

    if mod in st.module_builtins:
        st.module_builtins.remove(mod)
        st.module_builtinlist -= 1
    module_enqueue(mod)
    module_print("builtin module `%s' initialized", mi.mi_name)
    return 0, mod


async def module_load_vfs(name: str, flags: int, autoload: bool, mod: module) -> int:
    """Find module ``name`` on the module path and execute its file for this machine."""
    m = curmachine()
    dotted = m.config.module_path.get(name)
    if dotted is None:
        return ENOENT
    error = fault_inject("module_load_vfs")
    if error:
        return error
    error, ko = kobj_load(m, name, dotted, "filesys")
    if error:
        return error
    mod.mod_kobj = ko
    return 0


async def module_do_load(name: str, isdep: bool, flags: int, props: Any, modclass: int,
                         autoload: bool) -> tuple[int, module | None]:
    """Load ``name``: ``(error, module)``; the module is also given back with EEXIST."""
    st = _st()
    KASSERT(kernconfig_is_held())
    st.depth += 1
    try:
        if st.depth > MODULE_MAX_DEPTH:
            module_error("recursion too deep for `%s' %d > %d", name, st.depth,
                         MODULE_MAX_DEPTH)
            return EMLINK, None
        # Requirements share the pending list of the load that needs them;
        # a new top-level load (perhaps from some INIT) starts its own.
        if isdep:
            KASSERT(st.depth > 1)
            pending = st.pending_lists[st.depth - 2]
            assert pending is not None
        else:
            pending = []
        st.pending_lists[st.depth - 1] = pending
        return await _module_do_load(st, name, isdep, flags, props, modclass, autoload,
                                     pending)
    finally:
        if st.depth <= MODULE_MAX_DEPTH:
            st.pending_lists[st.depth - 1] = None
        st.depth -= 1


async def _module_do_load(st: _ModState, name: str, isdep: bool, flags: int, props: Any,
                          modclass: int, autoload: bool,
                          pending: list[module]) -> tuple[int, module | None]:
    # A built-in module that is not initialised (never, or unloaded since).
    mod = next((m for m in st.module_builtins if module_name(m) == name), None)
    if mod is not None:
        if (mod.mod_flags & MODFLG_MUST_FORCE) and not (flags & MODCTL_LOAD_FORCE):
            if not autoload:
                module_error("use -f to reinstate builtin module `%s'", name)
            return EPERM, None
        return await module_do_builtin(mod, name, props)

    mod = module_lookup(name)
    if mod is not None:
        module_print("%s module `%s' already loaded", "dependent" if isdep else "requested",
                     name)
        return EEXIST, mod

    mod = module(MODULE_SOURCE_FILESYS)
    error = await module_load_vfs(name, flags, autoload, mod)
    if error != 0:
        return error, None
    pending.append(mod)

    async def fail(error: int, fini: bool = False) -> tuple[int, module | None]:
        if fini:
            await _modcmd(mod, MODULE_CMD_FINI, None)
        kobj_unload(mod.mod_kobj)
        if mod in pending:
            pending.remove(mod)
        mod.mod_required = []
        return error, None

    error = module_fetch_info(mod)
    if error != 0:
        module_error("cannot fetch info for `%s', error %d", name, error)
        return await fail(error)

    mi = mod.mod_info
    assert mi is not None
    if len(mi.mi_name) >= MAXMODNAME:
        module_error("module name `%s' longer than %d", mi.mi_name, MAXMODNAME)
        return await fail(EINVAL)
    if mi.mi_class <= MODULE_CLASS_ANY or mi.mi_class >= MODULE_CLASS_MAX:
        module_error("module `%s' has invalid class %d", mi.mi_name, mi.mi_class)
        return await fail(EINVAL)
    if not module_compatible(mi.mi_version, __NetBSD_Version__):
        module_error("module `%s' built for `%d', system `%d'", mi.mi_name, mi.mi_version,
                     __NetBSD_Version__)
        if flags & MODCTL_LOAD_FORCE:
            module_error("forced load, system may be unstable")
        else:
            return await fail(EPROGMISMATCH)

    if not MODULE_CLASS_MATCH(mi, modclass):
        module_error("incompatible module class %d for `%s' (wanted %d)", mi.mi_class,
                     mi.mi_name, modclass)
        return await fail(ENOENT)

    if isdep and mi.mi_name != name:
        module_error("dependency name mismatch (`%s' != `%s')", name, mi.mi_name)
        return await fail(ENOENT)

    mod2 = module_lookup(mi.mi_name)
    if mod2 is not None and mod2 is not mod:
        module_error("module with name `%s' already loaded", mi.mi_name)
        await fail(EEXIST)
        return EEXIST, mod2

    for mod2 in pending:
        if mod2 is mod:
            continue
        if mod2.mod_info is not None and mod2.mod_info.mi_name == mi.mi_name:
            module_error("circular dependency detected for `%s'", mi.mi_name)
            return await fail(EDEADLK)

    mod.mod_required = []
    for buf in _requirements(mi):
        if len(buf) + 1 >= MAXMODNAME:
            module_error("required module name `%s' longer than %d", mi.mi_required,
                         MAXMODNAME)
            return await fail(EINVAL)
        if mod.mod_nrequired == MAXMODDEPS - 1:
            module_error("too many required modules %d >= %d", mod.mod_nrequired,
                         MAXMODDEPS - 1)
            return await fail(EINVAL)
        if buf == mi.mi_name:
            module_error("self-dependency detected for `%s'", mi.mi_name)
            return await fail(EDEADLK)
        error, mod2 = await module_do_load(buf, True, flags, None, MODULE_CLASS_ANY, True)
        if error != 0 and error != EEXIST:
            module_error("recursive load failed for `%s' (`%s' required), error %d",
                         mi.mi_name, buf, error)
            return await fail(error)
        if mod2 is None:
            return await fail(ENOENT)
        mod.mod_required.append(mod2)

    prev_active = st.module_active
    st.module_active = mod
    error = await _modcmd(mod, MODULE_CMD_INIT, props)
    st.module_active = prev_active
    if error != 0:
        module_error("modcmd function returned error %d for `%s'", error, mi.mi_name)
        return await fail(error)

    mod2 = module_lookup(mi.mi_name)
    if mod2 is not None and mod2 is not mod:
        module_error("recursive load causes duplicate module `%s'", mi.mi_name)
        return await fail(EEXIST, fini=True)

    pending.remove(mod)
    module_enqueue(mod)
    if autoload and st.module_autotime > 0:
        # Offer it auto-unload after a while, unless that is turned off.
        mod.mod_autotime = time_second() + st.module_autotime
        mod.mod_flags |= MODFLG_AUTO_LOADED
        await module_thread_kick()
    module_print("module `%s' loaded successfully", mi.mi_name)
    return 0, mod


# --- unload ----------------------------------------------------------------------------------

async def module_unload(name: str) -> int:
    """modunload: ENOENT if not loaded, EBUSY if required by another module,
    EPERM for a built-in secmodel or a caller who is not the superuser, or the
    error of its FINI (it then stays)."""
    if not _authorized():
        return EPERM
    if not isinstance(name, str):
        return ENOENT
    await kernconfig_lock()
    try:
        return await module_do_unload(name, True)
    finally:
        kernconfig_unlock()


async def module_do_unload(name: str, load_requires_force: bool) -> int:
    st = _st()
    KASSERT(kernconfig_is_held())
    module_print("unload requested for '%s' (%s)", name,
                 "TRUE" if load_requires_force else "FALSE")
    mod = module_lookup(name)
    if mod is None:
        module_error("module `%s' not found", name)
        return ENOENT
    if mod.mod_refcnt != 0:
        module_print("module `%s' busy (%d refs)", name, mod.mod_refcnt)
        return EBUSY
    assert mod.mod_info is not None
    if mod.mod_source == MODULE_SOURCE_KERNEL and \
            mod.mod_info.mi_class == MODULE_CLASS_SECMODEL:
        module_print("cannot unload built-in secmodel module `%s'", name)
        return EPERM

    prev_active = st.module_active
    st.module_active = mod
    error = await _modcmd(mod, MODULE_CMD_FINI, None)
    st.module_active = prev_active
    if error != 0:
        module_print("cannot unload module `%s' error=%d", name, error)
        return error

    st.module_count -= 1
    st.module_list.remove(mod)
    for req in mod.mod_required:
        req.mod_refcnt -= 1
    module_print("unloaded module `%s'", name)
    if mod.mod_source == MODULE_SOURCE_KERNEL:
        # Back to the builtin list; its requirements are worked out again
        # if it is initialised again.
        mod.mod_required = []
        if load_requires_force:
            mod.mod_flags |= MODFLG_MUST_FORCE
        st.module_builtins.append(mod)
        st.module_builtinlist += 1
    else:
        kobj_unload(mod.mod_kobj)
    st.module_gen += 1
    return 0


# --- auto-unload -----------------------------------------------------------------------------

async def module_thread(cookie: Any) -> None:
    """The "modunload" thread: offer auto-unload to autoloaded modules whose time came."""
    st = _st()
    while True:
        await kernconfig_lock()
        for mod in list(st.module_list):
            if mod not in st.module_list:
                continue
            if mod.mod_source == MODULE_SOURCE_KERNEL:
                continue
            if not (mod.mod_flags & MODFLG_AUTO_LOADED):
                continue
            if st.module_autotime == 0 or mod.mod_autotime == 0:
                continue
            if time_second() < mod.mod_autotime:
                st.module_thread_ticks = hz
                continue
            mod.mod_autotime = 0
            # A module may decline (exec_script-like ones that come and go).
            mi = mod.mod_info
            assert mi is not None
            error = await _modcmd(mod, MODULE_CMD_AUTOUNLOAD, None)
            if error == 0 or error == ENOTTY:
                await module_do_unload(mi.mi_name, False)
            else:
                module_print("module `%s' declined to be auto-unloaded error=%d",
                             mi.mi_name, error)
        kernconfig_unlock()

        await mutex_enter(st.module_thread_lock)
        await cv_timedwait(st.module_thread_cv, st.module_thread_lock, st.module_thread_ticks)
        st.module_thread_ticks = 0
        mutex_exit(st.module_thread_lock)


async def module_thread_kick() -> None:
    """Wake the auto-unload thread (a module was autoloaded)."""
    st = _st()
    await mutex_enter(st.module_thread_lock)
    st.module_thread_ticks = hz
    cv_broadcast(st.module_thread_cv)
    mutex_exit(st.module_thread_lock)


def module_autotime_get(machine: Any = None) -> int:
    """Seconds after which an autoloaded module is offered auto-unload."""
    return _st(machine).module_autotime


def module_autotime_set(t: int, machine: Any = None) -> int:
    """Set kern.module.autotime; EINVAL for a negative value (0 turns auto-unload off)."""
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        return EINVAL
    _st(machine).module_autotime = t
    return 0


def module_autoload_set(on: bool, machine: Any = None) -> int:
    """Set kern.module.autoload."""
    _st(machine).module_autoload_on = bool(on)
    return 0


def module_verbose_set(on: bool, machine: Any = None) -> int:
    """Set kern.module.verbose (the "DEBUG: module:" lines)."""
    _st(machine).module_verbose_on = bool(on)
    return 0


# --- modstat -------------------------------------------------------------------------------

@dataclass
class modstat_t:
    """One row of MODCTL_STAT (sys/module.h's modstat_t)."""

    ms_name: str
    ms_required: str
    ms_addr: int
    ms_size: int
    ms_class: int
    ms_refcnt: int
    ms_source: int
    ms_flags: int

    @property
    def name(self) -> str:
        return self.ms_name

    @property
    def modclass(self) -> str:
        return _CLASS_NAMES[self.ms_class] if 0 <= self.ms_class < len(_CLASS_NAMES) else "?"

    @property
    def refcnt(self) -> int:
        return self.ms_refcnt

    @property
    def source(self) -> str:
        return _SOURCE_NAMES[self.ms_source] if 0 <= self.ms_source < 3 else "unknown"

    @property
    def required(self) -> list[str]:
        return [r for r in self.ms_required.split(",") if r]

    @property
    def flags(self) -> str:
        return _flag_text(self.ms_flags)


def _flag_text(flags: int) -> str:
    s = ("a" if flags & MODFLG_AUTO_LOADED else "") + ("f" if flags & MODFLG_MUST_FORCE else "")
    return s or "-"


def module_stat(machine: Any = None) -> list[modstat_t]:
    """MODCTL_STAT: the loaded modules, then the built-in ones not initialised (refcnt -1)."""
    st = _st(machine)
    out = []
    for mod in st.module_list:
        mi = mod.mod_info
        assert mi is not None
        size = mod.mod_kobj.ko_size() if mod.mod_kobj is not None and \
            mod.mod_source != MODULE_SOURCE_KERNEL else 0
        out.append(modstat_t(mi.mi_name, mi.mi_required or "", 0, size, mi.mi_class,
                             mod.mod_refcnt, mod.mod_source, mod.mod_flags))
    for mod in st.module_builtins:
        mi = mod.mod_info
        assert mi is not None
        out.append(modstat_t(mi.mi_name, mi.mi_required or "", 0, 0, mi.mi_class, -1,
                             mod.mod_source, mod.mod_flags))
    return out


def modstat(machine: Any = None, name: str | None = None) -> str:
    """modstat(8)'s listing: NAME CLASS SOURCE FLAG REFS SIZE REQUIRES, sorted by name."""
    rows = sorted(module_stat(machine), key=lambda ms: ms.ms_name)
    row = "{:<16} {:<8} {:<8} {:<4} {:<5} {:<7} {}"
    lines = [row.format("NAME", "CLASS", "SOURCE", "FLAG", "REFS", "SIZE", "REQUIRES")]
    for ms in rows:
        if name is not None and ms.ms_name != name:
            continue
        size = str(ms.ms_size) if ms.ms_size else "-"
        lines.append(row.format(ms.ms_name, ms.modclass, ms.source, ms.flags, ms.ms_refcnt,
                                size, ms.ms_required or "-"))
    return "\n".join(lines) + "\n"


def kmod_namespace(name: str, machine: Any = None) -> types.ModuleType | None:
    """The Python module (the globals) of module or static driver ``name`` on a machine.

    Looks at loaded modules, then built-in ones not initialised, then
    statically configured pseudo-device drivers.  None if there is none.
    """
    st = _st(machine)
    for mod in itertools.chain(st.module_list, st.module_builtins):
        if module_name(mod) == name and mod.mod_kobj is not None:
            return mod.mod_kobj.ko_entry
    ko = st.static_kobjs.get(name)
    return ko.ko_entry if ko is not None else None

