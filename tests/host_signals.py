"""A host signal's disposition saved and put back whole, for fixtures that
change it for one test (tests/conftest.py's ``sigint_raises``).

``signal.signal`` returns, as the old handler, what CPython last installed
for the signal (or found at its start): ``None`` when that was a handler set
outside Python, and a stale value when C code (a library, an embedding
program) changed the action since.  Neither can be handed back to
``signal.signal``, so the OS's ``struct sigaction`` itself is saved and
restored here, through libc's sigaction(2).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

# room for any libc's struct sigaction (glibc x86-64: 152 bytes); kept opaque
_SIGACTION_SIZE = 512

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sigaction.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_libc.sigaction.restype = ctypes.c_int


def _sigaction(sig: int, new: ctypes.Array | None, old: ctypes.Array | None) -> None:
    if _libc.sigaction(sig, new, old) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"sigaction({sig}): {os.strerror(e)}")


def os_action(sig: int) -> ctypes.Array:
    """The OS's current action for ``sig``, as libc's struct sigaction (opaque bytes)."""
    buf = ctypes.create_string_buffer(_SIGACTION_SIZE)
    _sigaction(sig, None, buf)
    return buf


def os_handler(sig: int) -> int:
    """The handler address of the OS's action for ``sig`` (``signal.SIG_DFL`` 0,
    ``signal.SIG_IGN`` 1, else a function's address): struct sigaction's first
    member on Linux and the BSDs."""
    return ctypes.c_void_p.from_buffer(os_action(sig)).value or 0


def set_os_action(sig: int, action: ctypes.Array) -> None:
    """Install ``action`` (from :func:`os_action`) for ``sig`` as it is, handler,
    mask and flags, behind CPython's back."""
    _sigaction(sig, action, None)


@contextmanager
def kept_disposition(sig: int) -> Iterator[None]:
    """Whatever the body does to ``sig``'s handler, put back afterwards what
    there was: CPython's handler object (when it had one: not ``None``) and
    the OS's action exactly.

    What cannot be put back: when ``signal.getsignal(sig)`` was ``None`` (a
    handler installed outside Python, found at the interpreter's start) and
    the body called ``signal.signal``, CPython's record of the handler stays
    the body's: ``signal.signal`` takes only a callable, ``SIG_DFL`` or
    ``SIG_IGN``, and nothing in Python sets that record back to ``None``.
    The OS's action, which decides what a delivered signal does, is the old
    one again, so the outside handler runs; only ``getsignal`` (and CPython's
    finalization, which resets a signal whose record is a Python handler to
    SIG_DFL) see the body's record.
    """
    py_old = signal.getsignal(sig)
    os_old = os_action(sig)
    try:
        yield
    finally:
        if py_old is not None:
            signal.signal(sig, py_old)
        set_os_action(sig, os_old)


@contextmanager
def python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler (``KeyboardInterrupt``) for the body, then
    SIGINT's disposition as it was (:func:`kept_disposition`)."""
    with kept_disposition(signal.SIGINT):
        signal.signal(signal.SIGINT, signal.default_int_handler)
        yield
