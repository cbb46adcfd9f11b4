"""modload(8), modunload(8), modstat(8) over modctl(2).

modload passes its ``-b``/``-i``/``-s`` variables to the module as an XML
property list (what NetBSD's proplib externalizes); ``-p`` prints that
list instead of loading.  modstat prints kemu's listing (the one
``kern.kern_module.modstat()`` formats)::

    NAME             CLASS    SOURCE   FLAG REFS  SIZE    REQUIRES
    rootfs           vfs      builtin  -    0     -       -
"""

from __future__ import annotations

import ctypes
import plistlib
from typing import Any

from kern.exceptions import SyscallError
from kern.kern_module import (
    MODCTL_EXISTS,
    MODCTL_LOAD,
    MODCTL_LOAD_FORCE,
    MODCTL_NO_PROP,
    MODCTL_STAT,
    MODCTL_UNLOAD,
    MODFLG_AUTO_LOADED,
    MODFLG_MUST_FORCE,
)
from kern.subr_copy import user_iovec
from kern.sys_module import modctl_load_t, modstat_t
from tools.cmds import command
from tools.cmds._prog import err, errx, options, printf, usage_exit
from tools.lib import libc
from tools.lib.libutil import dehumanize_number

MODLOAD_USAGE = ("usage: modload [-fP] [-b var=boolean] [-i var=integer] "
                 "[-s var=string] <module_name>\n"
                 "       modload -p [-b var=boolean] [-i var=integer] "
                 "[-s var=string] <module_name>")


async def _parse_var(kind: str, arg: str) -> tuple[str, Any]:
    """modload's parse_param() and its bool/int/string handlers."""
    name, eq, value = arg.partition("=")
    if not eq:
        await errx(1, f"Invalid parameter `{arg}'")
    if kind == "bool":
        if value.lower() in ("1", "true", "yes"):
            return name, True
        if value.lower() in ("0", "false", "no"):
            return name, False
        await errx(1, f"Invalid boolean value `{value}'")
    if kind == "int":
        rv, v = dehumanize_number(value)
        if rv != 0:
            await err(1, f"Invalid integer value `{value}'", v)
        return name, v
    return name, value


@command("modload", summary="load a kernel module")
async def modload_main(argv: list[str]) -> int:
    opts, args = await options(argv, "b:fi:Pps:", MODLOAD_USAGE)
    flags = 0
    pflag = False
    props: dict[str, Any] = {}
    for o, a in opts:
        if o == "f":
            flags |= MODCTL_LOAD_FORCE
        elif o == "P":
            flags |= MODCTL_NO_PROP
        elif o == "p":
            pflag = True
        else:
            kind = {"b": "bool", "i": "int", "s": "string"}[o]
            k, v = await _parse_var(kind, a)
            props[k] = v
    if len(args) != 1:
        await usage_exit(MODLOAD_USAGE)
    name = args[0]
    xml = plistlib.dumps(props, fmt=plistlib.FMT_XML) if props or pflag else None
    if pflag:
        await printf(xml or b"")
        return 0
    owned = []
    try:
        ml = modctl_load_t()
        ml.ml_filename = libc.ustr(name)
        owned.append(ml.ml_filename)
        ml.ml_flags = flags
        if xml is not None:
            ml.ml_props = libc.ustr(xml)
            owned.append(ml.ml_props)
            ml.ml_propslen = len(xml)
        try:
            await libc.modctl(MODCTL_LOAD, ml)
        except SyscallError as e:
            await err(1, name, e)
    finally:
        for a in owned:
            libc.ufree(a)
    return 0


MODUNLOAD_USAGE = "usage: modunload <module_name>"


@command("modunload", summary="unload a kernel module")
async def modunload_main(argv: list[str]) -> int:
    _, args = await options(argv, "", MODUNLOAD_USAGE)
    if len(args) != 1:
        await usage_exit(MODUNLOAD_USAGE)
    try:
        await libc.modctl(MODCTL_UNLOAD, args[0])
    except SyscallError as e:
        await err(1, args[0], e)
    return 0


_CLASSES = ("any", "misc", "vfs", "driver", "exec", "secmodel", "bufq")
_SOURCES = ("builtin", "boot", "filesys")

MODSTAT_USAGE = "usage: modstat [-Aaen] [name]"


async def modstat_list() -> list[modstat_t]:
    """MODCTL_STAT, with modstat's retry when the list outgrew the buffer."""
    size = ctypes.sizeof(modstat_t)
    length = 8192
    while True:
        buf = libc.ualloc(length)
        try:
            iov = user_iovec(buf, length)
            await libc.modctl(MODCTL_STAT, iov)
            if length >= iov.iov_len:
                raw = libc.uget(buf, iov.iov_len)
                return [modstat_t.from_buffer_copy(raw, i * size)
                        for i in range(iov.iov_len // size)]
            length = iov.iov_len
        finally:
            libc.ufree(buf)


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


@command("modstat", summary="display status of loaded kernel modules")
async def modstat_main(argv: list[str]) -> int:
    opts, args = await options(argv, "Aaen:", MODSTAT_USAGE)
    name = None
    for o, a in opts:
        if o == "n":
            name = a
        elif o in "Aae":
            what = {"A": 0, "a": 1, "e": 0}[o]
            try:
                await libc.modctl(MODCTL_EXISTS, what)
            except SyscallError:
                return 1
            return 0
    if len(args) > 1 or (args and name is not None):
        await usage_exit(MODSTAT_USAGE)
    if args:
        name = args[0]
    try:
        rows = await modstat_list()
    except SyscallError as e:
        await err(1, "modctl(MODCTL_STAT)", e)
    rows.sort(key=lambda ms: ms.ms_name)
    row = "{:<16} {:<8} {:<8} {:<4} {:<5} {:<7} {}\n"
    await printf(row.format("NAME", "CLASS", "SOURCE", "FLAG", "REFS", "SIZE", "REQUIRES"))
    for ms in rows:
        mname = _s(ms.ms_name)
        if name is not None and mname != name:
            continue
        cls = _CLASSES[ms.ms_class] if 0 <= ms.ms_class < len(_CLASSES) else "?"
        src = _SOURCES[ms.ms_source] if 0 <= ms.ms_source < len(_SOURCES) else "unknown"
        flag = ("a" if ms.ms_flags & MODFLG_AUTO_LOADED else "") + \
            ("f" if ms.ms_flags & MODFLG_MUST_FORCE else "")
        refs = ctypes.c_int32(ms.ms_refcnt).value
        size = str(ms.ms_size) if ms.ms_size else "-"
        await printf(row.format(mname, cls, src, flag or "-", refs, size,
                                _s(ms.ms_required) or "-"))
    return 0
