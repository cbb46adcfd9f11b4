"""Kernel printing and panics (subr_prf.c, with its aprint_*).

Everything printed goes to the machine's message buffer, which ``dmesg``
shows; with ``boot(verbose=True)`` it is echoed to the host's stdout too.
Formats are C printf formats (``%zu``, ``%lld``, ``%p``), converted here,
with every conversion the kernel's callers use: NetBSD's kprintf ones
(``d i o u x X c s p %`` with flags, width, precision and the length
modifiers ``hh h l ll j z t q L``) and kemu's own ``%r``, the argument's
``repr()`` (for Python values a port prints, where C would print a pointer).

Compared against ``$NetBSD: subr_prf.c,v 1.159 2015/08/24 pooka$`` (the
stored revision of the NetBSD 8 era; AB_* from sys/reboot.h).  The printf
and KASSERT texts and the aprint_* names are NetBSD's; the output path is
kemu's.  Notices in LICENSE.NetBSD.

Deviations:

* There is one output, the machine's message buffer (plus stdout with
  verbose boot, or stdout when no machine runs): no separate console
  (TOCONS) and log (TOLOG), no kprintf lock, no logwakeup; ``log`` ignores
  its level and prints like printf.
* aprint_*: 1.159 always logs aprint_normal, aprint_error and
  aprint_verbose and only chooses whether they reach the console; kemu
  prints aprint_normal only without AB_QUIET|AB_SILENT, aprint_verbose
  only with AB_VERBOSE, aprint_error always (and counts it).
  aprint_naive prints when none of AB_QUIET, AB_SILENT, AB_VERBOSE is set,
  where 1.159 prints it (console only) when AB_QUIET alone is set: the
  test is the reverse of NetBSD's.  aprint_debug is NetBSD's (AB_DEBUG).
  The *_dev variants take dv_xname from the device, or print the object.
* ``panic`` prints "panic: ...", records the crash on the machine and
  raises KernelPanic: no vpanic (no panicstr, sync, dump, reboot or ddb).
* KASSERT and KASSERTMSG are always compiled in (NetBSD: DIAGNOSTIC) and
  print the asserted expression as read from the caller's source.
* ``kern_format`` also takes %r and the float conversions, and has no %n,
  %D, %O or %U.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from kern.cpu import curmachine, curmachine_or_none
from kern.exceptions import KernelPanic
from kern.subr_lockdebug import first_arg_text, short_path

# boothowto bits for autoconf printing (sys/reboot.h)
AB_NORMAL = 0x00000000
AB_QUIET = 0x00010000
AB_VERBOSE = 0x00020000
AB_SILENT = 0x00040000
AB_DEBUG = 0x00080000

_SPEC = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?(hh|h|ll|l|j|z|t|q|L)?([diouxXcspeEfgGr%])")


def kern_format(fmt: str, args: tuple[Any, ...]) -> str:
    """Format like the kernel's printf: C conversions and length modifiers."""
    out: list[str] = []
    ai = 0
    pos = 0
    for mo in _SPEC.finditer(fmt):
        out.append(fmt[pos:mo.start()])
        pos = mo.end()
        flags, width, prec, _length, conv = mo.groups()
        if conv == "%":
            out.append("%")
            continue
        if width == "*":
            width = str(args[ai])
            ai += 1
        if prec == "*":
            prec = str(args[ai])
            ai += 1
        arg = args[ai] if ai < len(args) else None
        ai += 1
        if conv == "p":
            out.append("0x%x" % (arg if isinstance(arg, int) else id(arg)))
            continue
        if conv == "r":
            arg = repr(arg)
            conv = "s"
        elif conv == "s":
            if isinstance(arg, (bytes, bytearray, memoryview)):
                arg = bytes(arg).split(b"\0", 1)[0].decode("utf-8", "replace")
            elif arg is None:
                arg = "(null)"
            else:
                arg = str(arg)
        elif conv in "diouxXc":
            if isinstance(arg, bool):
                arg = int(arg)
            if conv == "u" and isinstance(arg, int) and arg < 0:
                arg &= (1 << 64) - 1
            if conv == "i":
                conv = "d"
        spec = "%" + flags + (width or "") + (("." + prec) if prec is not None else "") + conv
        try:
            out.append(spec % (arg,))
        except (TypeError, ValueError):
            out.append(f"<{spec}:{arg!r}>")
    out.append(fmt[pos:])
    return "".join(out)


def _console(text: str) -> None:
    m = curmachine_or_none()
    if m is None:
        sys.stdout.write(text)
        return
    m.msgbuf_put(text)


def printf(fmt: str, *args: Any) -> None:
    _console(kern_format(fmt, args))


def log(level: int, fmt: str, *args: Any) -> None:
    printf(fmt, *args)


def _boothowto() -> int:
    m = curmachine_or_none()
    return m.boothowto if m is not None else 0


def aprint_normal(fmt: str, *args: Any) -> None:
    if not _boothowto() & (AB_QUIET | AB_SILENT):
        printf(fmt, *args)


def aprint_naive(fmt: str, *args: Any) -> None:
    if not _boothowto() & (AB_QUIET | AB_SILENT | AB_VERBOSE):
        printf(fmt, *args)


def aprint_verbose(fmt: str, *args: Any) -> None:
    if _boothowto() & AB_VERBOSE:
        printf(fmt, *args)


def aprint_debug(fmt: str, *args: Any) -> None:
    if _boothowto() & AB_DEBUG:
        printf(fmt, *args)


def aprint_error(fmt: str, *args: Any) -> None:
    m = curmachine_or_none()
    if m is not None:
        m.aprint_errors += 1
    printf(fmt, *args)


def aprint_normal_dev(dev: Any, fmt: str, *args: Any) -> None:
    aprint_normal("%s: " + fmt, getattr(dev, "dv_xname", dev), *args)


def aprint_verbose_dev(dev: Any, fmt: str, *args: Any) -> None:
    aprint_verbose("%s: " + fmt, getattr(dev, "dv_xname", dev), *args)


def aprint_debug_dev(dev: Any, fmt: str, *args: Any) -> None:
    aprint_debug("%s: " + fmt, getattr(dev, "dv_xname", dev), *args)


def aprint_error_dev(dev: Any, fmt: str, *args: Any) -> None:
    aprint_error("%s: " + fmt, getattr(dev, "dv_xname", dev), *args)


def panic(fmt: str, *args: Any) -> None:
    """Stop the machine: the run ends with KernelPanic carrying the message."""
    msg = kern_format(fmt, args)
    _console(f"panic: {msg}\n")
    exc = KernelPanic(f"panic: {msg}")
    m = curmachine_or_none()
    if m is not None:
        m.record_crash(exc)
    raise exc


def KASSERT(cond: Any) -> None:
    """panic with the asserted expression, file and line when ``cond`` is false."""
    if cond:
        return
    f = sys._getframe(1)
    panic('kernel diagnostic assertion "%s" failed: file "%s", line %d',
          first_arg_text(f.f_code.co_filename, f.f_lineno, "KASSERT") or "?",
          short_path(f.f_code.co_filename), f.f_lineno)


def KASSERTMSG(cond: Any, fmt: str, *args: Any) -> None:
    if cond:
        return
    f = sys._getframe(1)
    panic('kernel diagnostic assertion "%s" failed: file "%s", line %d %s',
          first_arg_text(f.f_code.co_filename, f.f_lineno, "KASSERTMSG") or "?",
          short_path(f.f_code.co_filename), f.f_lineno, kern_format(fmt, args))


def dmesg() -> str:
    return curmachine().dmesg()
