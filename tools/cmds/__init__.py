"""kemu's userland commands: a registry of ``name -> async def main(argv) -> int``.

Each command runs in a user lwp of a process of its own (the shell makes
it as fork+exec would: same current directory, umask and descriptors) and
reaches the kernel only through tools.lib.libc's system calls.  A command module
registers its programs at import, with the one-line description ``help``
prints (NetBSD's whatis line)::

    from tools.cmds import command

    @command("fssconfig", summary="configure file system snapshot devices")
    async def main(argv: list[str]) -> int:
        ...

``lookup(name)`` finds a command: the modules listed in ``MODULES`` are
imported the first time, and a name not found there is tried as a module
``tools.cmds.<name>`` (so adding ``tools/cmds/foo.py`` with its
``@command("foo")`` is all it takes).  ``EXTERNAL`` names programs that
live elsewhere (``"fssconfig": "tools.fssconfig:main"``); ``summary(name)``
is a command's description (the first line of its docstring when it gave
none).

The table is also the machine's "file system of programs": importing this
package registers an exec format (kern/kern_exec.py's ``execsw``) that
makes execve(2) of a command's name (or of any path ending in it) run it
under the C runtime start-up (``tools.cmds._prog.crt0``).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

CommandMain = Callable[[list[str]], Awaitable[int | None]]

commands: dict[str, CommandMain] = {}
summaries: dict[str, str] = {}

# The command modules shipped with kemu (imported on first lookup).
MODULES = [
    "tools.cmds.fileutils",
    "tools.cmds.sysutils",
    "tools.cmds.mount",
    "tools.cmds.diskutils",
    "tools.cmds.modules",
    "tools.cmds.newfs",
    "tools.cmds.mount_puffs",
    "tools.cmds.textutils",
    "tools.cmds.grep",
    "tools.cmds.find",
    "tools.cmds.du",
    "tools.cmds.chown",
    "tools.cmds.hexdump",
    "tools.cmds.cksum",
    "tools.cmds.diff",
    "tools.cmds.test",
    "tools.cmds.procutils",
    "tools.cmds.sysctl",
    "tools.cmds.sysinfo",
]

# Commands whose program lives outside tools/cmds: name -> "module:function",
# the function being ``async def main(argv) -> int``.
EXTERNAL: dict[str, str] = {
    "fssconfig": "tools.fssconfig:main",
    "sh": "tools.sh.main:main",
}
EXTERNAL_SUMMARIES: dict[str, str] = {
    "fssconfig": "configure file system snapshot devices",
    "sh": "command interpreter (shell)",
}

_loaded = False


def command(name: str, *aliases: str,
            summary: str | None = None) -> Callable[[CommandMain], CommandMain]:
    """Decorator: register ``main`` under ``name`` (and ``aliases``), with the
    one-line ``summary`` that ``help`` prints."""

    def deco(fn: CommandMain) -> CommandMain:
        for n in (name, *aliases):
            commands[n] = fn
            if summary is not None:
                summaries[n] = summary
        return fn

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for m in MODULES:
        importlib.import_module(m)


def lookup(name: str) -> CommandMain | None:
    """The command called ``name``, or None."""
    _load()
    fn = commands.get(name)
    if fn is not None:
        return fn
    ext = EXTERNAL.get(name)
    if ext is not None:
        modname, _, attr = ext.partition(":")
        fn = getattr(importlib.import_module(modname), attr, None)
        if fn is not None:
            commands[name] = fn
        return fn
    if name.isidentifier() and not name.startswith("_"):
        try:
            importlib.import_module(f"tools.cmds.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"tools.cmds.{name}":
                raise
            return None
        return commands.get(name)
    return None


def names() -> list[str]:
    """Every known command, sorted."""
    _load()
    return sorted(set(commands) | set(EXTERNAL))


def summary(name: str) -> str:
    """The one-line description of command ``name`` ("" if it has none)."""
    _load()
    if name in summaries:
        return summaries[name]
    if name in EXTERNAL_SUMMARIES:
        return EXTERNAL_SUMMARIES[name]
    fn = commands.get(name)
    doc = (fn.__doc__ or "").strip() if fn is not None else ""
    return doc.splitlines()[0] if doc else ""


def _exec_image(path: str) -> Callable[[list[str]], Awaitable[int]] | None:
    """The exec format of the command table: a program by its name."""
    from tools.cmds._prog import crt0

    fn = lookup(path.rsplit("/", 1)[-1])
    if fn is None:
        return None

    async def entry(argv: list[str]) -> int:
        return await crt0(fn, argv)

    return entry


def _register_exec_format() -> None:
    from kern.kern_exec import execsw_register

    execsw_register(_exec_image)


_register_exec_format()
