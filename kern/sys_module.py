"""modctl(2): the system call behind modload, modunload and modstat (kern/sys_module.c).

Ports NetBSD 8's sys/kern/sys_module.c (the MODCTL_STAT of sys/module.h
1.41, with the fixed-size ``modstat_t``) onto kern.kern_module:

* ``MODCTL_LOAD``: ``arg`` points to a ``modctl_load_t``; the file name is
  copied in (EFAULT, ENAMETOOLONG), and so is the property list when one is
  given (EINVAL if ``ml_props`` and ``ml_propslen`` disagree, ENOMEM beyond
  MAXPROPSLEN, EINVAL if it does not internalize).  ``module_load(name,
  ml_flags, props, MODULE_CLASS_ANY)`` gives the answer.
* ``MODCTL_UNLOAD``: ``arg`` is the module's name (at most MAXMODNAME bytes
  with the NUL, else ENAMETOOLONG); ``module_unload`` gives the answer.
* ``MODCTL_STAT``: ``arg`` points to a ``struct iovec``; the kernel copies
  one ``modstat_t`` per loaded module, then one per built-in module not
  initialised (refcnt -1), as many as fit in ``iov_len``, and stores the
  size the whole list needs back in ``iov_len``.  modstat(8) retries with a
  bigger buffer when that is larger than what it gave.
* ``MODCTL_EXISTS``: ``arg`` 0 (modload) or 1 (autoload): 0 if the caller
  may load modules, EPERM if not; EINVAL for another value.
* any other command: EINVAL.

Property lists: NetBSD internalizes an XML plist with proplib; kemu reads
the same XML plist format with :mod:`plistlib` and hands the module the
resulting dict (``None`` without properties), which is what kemu's
``modcmd(MODULE_CMD_INIT, props)`` receives.

``modstat_t`` keeps NetBSD 8's layout (392 bytes); kemu reports the module
flags (MODFLG_AUTO_LOADED, MODFLG_MUST_FORCE) in what NetBSD 8 reserved as
``ms_reserved[0]`` and NetBSD 9 turned into ``ms_flags``, so modstat can
print its FLAG column.

The call is registered in the base kernel's table as syscall 246 when this
file is imported; ``sys_module_init`` is the boot hook that makes GENERIC
import it.
"""

from __future__ import annotations

import ctypes
import plistlib
from typing import TYPE_CHECKING, Any

from kern.errno import EINVAL, ENOMEM, EPERM
from kern.kern_auth import kauth_cred_issuser
from kern.kern_module import (
    MAXMODDEPS,
    MAXMODNAME,
    MODCTL_EXISTS,
    MODCTL_LOAD,
    MODCTL_STAT,
    MODCTL_UNLOAD,
    MODULE_CLASS_ANY,
    kernconfig_lock,
    kernconfig_unlock,
    module_load,
    module_stat,
    module_unload,
)
from kern.param import MAXPATHLEN
from kern.subr_copy import copyin, copyinstr, copyout, user_iovec
from kern.syscall import SYS_modctl, syscall_register

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.machine import Machine

# Arbitrary limit to avoid excessive memory allocation (sys_module.c).
MAXPROPSLEN = 4096


class modctl_load_t(ctypes.Structure):
    """struct modctl_load (sys/module.h), LP64: 32 bytes."""

    _fields_ = [
        ("ml_filename", ctypes.c_uint64),   # const char *
        ("ml_flags", ctypes.c_int),         # MODCTL_LOAD_FORCE, MODCTL_NO_PROP
        ("ml_props", ctypes.c_uint64),      # const char *: an XML property list, or NULL
        ("ml_propslen", ctypes.c_uint64),   # size_t
    ]


modctl_load = modctl_load_t


class modstat_t(ctypes.Structure):
    """struct modstat (sys/module.h of NetBSD 8), the same on 32 and 64 bit: 392 bytes.

    ``ms_flags`` is NetBSD 8's ``ms_reserved[0]`` (see the module docstring).
    """

    _fields_ = [
        ("ms_name", ctypes.c_char * MAXMODNAME),
        ("ms_required", ctypes.c_char * (MAXMODNAME * MAXMODDEPS)),
        ("ms_addr", ctypes.c_uint64),
        ("ms_source", ctypes.c_int),        # modsrc_t
        ("ms_class", ctypes.c_int),         # modclass_t
        ("ms_size", ctypes.c_uint),
        ("ms_refcnt", ctypes.c_uint),       # -1 (all ones) for a built-in not initialised
        ("ms_flags", ctypes.c_uint),
        ("ms_reserved", ctypes.c_uint * 3),
    ]


modstat = modstat_t


def _copyinstr(uaddr: int, maxlen: int) -> tuple[int, str]:
    kbuf = bytearray(maxlen)
    error, done = copyinstr(uaddr, kbuf, maxlen)
    if error:
        return error, ""
    return 0, bytes(kbuf[:done - 1]).decode("utf-8", "surrogateescape")


def prop_dictionary_internalize(xml: bytes) -> dict[str, Any] | None:
    """proplib's prop_dictionary_internalize: the dict of an XML plist, or None."""
    try:
        d = plistlib.loads(xml, fmt=plistlib.FMT_XML)
    except Exception:  # noqa: BLE001 - any malformed input is "not a dictionary"
        return None
    return d if isinstance(d, dict) else None


async def handle_modctl_load(ml: modctl_load_t) -> int:
    if (ml.ml_props != 0 and ml.ml_propslen == 0) or (ml.ml_props == 0 and ml.ml_propslen > 0):
        return EINVAL
    error, path = _copyinstr(ml.ml_filename, MAXPATHLEN)
    if error:
        return error
    props: dict[str, Any] | None = None
    if ml.ml_props != 0:
        if ml.ml_propslen > MAXPROPSLEN:
            return ENOMEM
        propslen = ml.ml_propslen + 1
        kbuf = bytearray(propslen)
        error, done = copyinstr(ml.ml_props, kbuf, propslen)
        if error:
            return error
        props = prop_dictionary_internalize(bytes(kbuf[:done - 1]))
        if props is None:
            return EINVAL
    return await module_load(path, ml.ml_flags, props, MODULE_CLASS_ANY)


def _fill(ms: modstat_t, row: Any, refcnt: int) -> None:
    ms.ms_name = row.ms_name.encode("utf-8", "surrogateescape")[:MAXMODNAME - 1]
    ms.ms_required = (row.ms_required or "").encode("utf-8", "surrogateescape")[
        :MAXMODNAME * MAXMODDEPS - 1]
    ms.ms_addr = row.ms_addr
    ms.ms_size = row.ms_size & 0xffffffff
    ms.ms_class = row.ms_class
    ms.ms_refcnt = refcnt & 0xffffffff
    ms.ms_source = row.ms_source
    ms.ms_flags = row.ms_flags & 0xffffffff


async def handle_modctl_stat(arg: int) -> int:
    iov = user_iovec()
    error = copyin(arg, iov, ctypes.sizeof(iov))
    if error:
        return error
    await kernconfig_lock()
    try:
        rows = module_stat()
    finally:
        kernconfig_unlock()
    # One slot more than needed, as NetBSD sizes it.
    mslen = (len(rows) + 1) * ctypes.sizeof(modstat_t)
    mso = (modstat_t * (len(rows) + 1))()
    for ms, row in zip(mso, rows, strict=False):
        _fill(ms, row, row.ms_refcnt)
    need = mslen - ctypes.sizeof(modstat_t)
    n = min(need, iov.iov_len)
    if n:
        error = copyout(bytearray(bytes(mso)[:n]), iov.iov_base, n)
    if error == 0:
        iov.iov_len = need
        error = copyout(iov, arg, ctypes.sizeof(iov))
    return error


async def sys_modctl(l: lwp, uap: Any, retval: list[Any]) -> int:
    """modctl(cmd, arg)."""
    arg = uap.arg
    cmd = uap.cmd
    if cmd == MODCTL_LOAD:
        ml = modctl_load_t()
        error = copyin(arg, ml, ctypes.sizeof(ml))
        if error:
            return error
        return await handle_modctl_load(ml)
    if cmd == MODCTL_UNLOAD:
        error, name = _copyinstr(arg, MAXMODNAME)
        if error:
            return error
        return await module_unload(name)
    if cmd == MODCTL_STAT:
        return await handle_modctl_stat(arg)
    if cmd == MODCTL_EXISTS:
        if arg in (0, 1):
            return 0 if kauth_cred_issuser(l.l_cred) else EPERM
        return EINVAL
    return EINVAL


def sys_module_init(machine: Machine) -> None:
    """Boot hook (kern/conf/GENERIC): importing this file registered modctl(2)."""
    return None


syscall_register(SYS_modctl, "modctl", sys_modctl, ("int cmd", "void *arg"))
