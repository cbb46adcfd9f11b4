"""Device switches (NetBSD's sys/conf.h, as of early 2018).

A driver describes its entry points in a :class:`bdevsw` (block device) and
a :class:`cdevsw` (character device) and hands them to ``devsw_attach``
(kern.subr_devsw), which files them under a major number.  The members keep
NetBSD's names.  Which ones may sleep follows the kernel's rule:

* ``async def`` (they may sleep): ``d_open``, ``d_close``, ``d_read``,
  ``d_write``, ``d_ioctl``, ``d_strategy``, ``d_dump``, ``d_discard``;
* plain ``def`` (they must not): ``d_psize``, ``d_stop``, ``d_tty``,
  ``d_poll``, ``d_mmap``, ``d_kqfilter``.

The ``no*``/``null*`` stubs below follow the same split, so a switch may mix
them with the driver's own functions.  The ``bdev_*``/``cdev_*`` wrappers
also accept a plain function where an ``async def`` is expected.

C declares a driver's switch near the top of the file, before the
functions it points to (which are declared ahead as prototypes).  A port
keeps that order by naming a function not yet defined with a string: a
member given as ``"fss_open"`` is looked up in the declaring file's globals
the first time it is used.  The same works for ``CFATTACH_DECL_NEW``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from kern.errno import EINVAL, ENODEV, ENXIO, EOPNOTSUPP, EPASSTHROUGH

# d_flag: the device's type in the low byte, then properties (sys/conf.h)
D_OTHER = 0x0000
D_TAPE = 0x0001
D_DISK = 0x0002
D_TTY = 0x0003
D_TYPEMASK = 0x00FF
D_MPSAFE = 0x0100
D_NEGOFFSAFE = 0x0200
D_MCLOSE = 0x0400

# poll(2) event bits (sys/poll.h), for nopoll/seltrue and cdev_poll
POLLIN = 0x0001
POLLPRI = 0x0002
POLLOUT = 0x0004
POLLERR = 0x0008
POLLHUP = 0x0010
POLLNVAL = 0x0020
POLLRDNORM = 0x0040
POLLRDBAND = 0x0080
POLLWRBAND = 0x0100
POLLWRNORM = POLLOUT

# kevent filters (sys/event.h) that seltrue_kqfilter accepts
EVFILT_READ = 0
EVFILT_WRITE = 1


class fwdfield:
    """A function-pointer member that may be given as a function's name.

    The name is looked up in the globals of the file that built the object,
    once, at the first use; a name that is not defined there panics (in C it
    would not have linked).
    """

    name = "?"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        raw = obj.__dict__.get("_fwd_raw", {}).get(self.name)
        if isinstance(raw, str):
            g = obj.__dict__.get("_fwd_globals") or {}
            fn = g.get(raw)
            if fn is None:
                from kern.subr_prf import panic

                panic("%s: member %s names %s, which %s does not define",
                      type(obj).__name__, self.name, raw, g.get("__name__", "?"))
            raw = fn
        # Cache it: the instance attribute now hides this descriptor.
        obj.__dict__[self.name] = raw
        return raw


def fwd_init(obj: Any, fields: dict[str, Any], depth: int) -> None:
    """Store function-pointer members of ``obj``; strings resolve later in the caller's file."""
    obj.__dict__["_fwd_raw"] = dict(fields)
    if any(isinstance(v, str) for v in fields.values()):
        obj.__dict__["_fwd_globals"] = sys._getframe(depth + 1).f_globals


# --- generic stubs (kern_stub.c) ---------------------------------------------

def nullop(*args: Any) -> int:
    """Do nothing, successfully."""
    return 0


def voidop(*args: Any) -> None:
    return None


def enodev(*args: Any) -> int:
    return ENODEV


def enxio(*args: Any) -> int:
    return ENXIO


def enoioctl(*args: Any) -> int:
    return EPASSTHROUGH


def eopnotsupp(*args: Any) -> int:
    return EOPNOTSUPP


# --- device switch stubs (sys/conf.h's no* and null* macros) -----------------

async def noopen(dev: int, flag: int, devtype: int, l: Any) -> int:
    return ENODEV


async def noclose(dev: int, flag: int, devtype: int, l: Any) -> int:
    return ENODEV


async def noread(dev: int, uio: Any, flag: int) -> int:
    return ENODEV


async def nowrite(dev: int, uio: Any, flag: int) -> int:
    return ENODEV


async def noioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    return ENODEV


def nostop(tp: Any, flag: int) -> int:
    return ENODEV


notty = None


def seltrue(dev: int, events: int, l: Any) -> int:
    """Always ready for reading and writing (nopoll)."""
    return events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM)


nopoll = seltrue


def nommap(dev: int, off: int, prot: int) -> int:
    """No mapping: (paddr_t)-1."""
    return -1


async def nodump(dev: int, blkno: int, va: Any, size: int) -> int:
    return ENODEV


nosize = None


def seltrue_kqfilter(dev: int, kn: Any) -> int:
    """Accept read and write filters that are always true (nokqfilter)."""
    filt = getattr(kn, "kn_filter", EVFILT_READ)
    if filt not in (EVFILT_READ, EVFILT_WRITE):
        return EINVAL
    try:
        kn.kn_fop = "seltrue_filtops"
    except AttributeError:
        pass
    return 0


nokqfilter = seltrue_kqfilter


async def nodiscard(dev: int, pos: int, len: int) -> int:
    return ENODEV


async def nullopen(dev: int, flag: int, devtype: int, l: Any) -> int:
    return 0


async def nullclose(dev: int, flag: int, devtype: int, l: Any) -> int:
    return 0


async def nullread(dev: int, uio: Any, flag: int) -> int:
    return 0


async def nullwrite(dev: int, uio: Any, flag: int) -> int:
    return 0


async def nullioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    return 0


def nullstop(tp: Any, flag: int) -> int:
    return 0


def nullpoll(dev: int, events: int, l: Any) -> int:
    return 0


async def nulldump(dev: int, blkno: int, va: Any, size: int) -> int:
    return 0


def nullkqfilter(dev: int, kn: Any) -> int:
    return EOPNOTSUPP


async def nulldiscard(dev: int, pos: int, len: int) -> int:
    return 0


# --- the switches ------------------------------------------------------------

class bdevsw:
    """struct bdevsw: the entry points of a block device."""

    d_open = fwdfield()
    d_close = fwdfield()
    d_strategy = fwdfield()
    d_ioctl = fwdfield()
    d_dump = fwdfield()
    d_psize = fwdfield()
    d_discard = fwdfield()

    def __init__(self, d_open: Callable[..., Any] | str | None = None,
                 d_close: Callable[..., Any] | str | None = None,
                 d_strategy: Callable[..., Any] | str | None = None,
                 d_ioctl: Callable[..., Any] | str | None = None,
                 d_dump: Callable[..., Any] | str | None = None,
                 d_psize: Callable[..., Any] | str | None = None,
                 d_discard: Callable[..., Any] | str | None = None,
                 d_flag: int = 0, *, _depth: int = 1) -> None:
        fwd_init(self, {"d_open": d_open, "d_close": d_close, "d_strategy": d_strategy,
                        "d_ioctl": d_ioctl, "d_dump": d_dump, "d_psize": d_psize,
                        "d_discard": d_discard}, _depth)
        self.d_flag = d_flag

    def __repr__(self) -> str:
        return f"<bdevsw {_owner(self)} flag={self.d_flag:#x}>"


class cdevsw:
    """struct cdevsw: the entry points of a character device."""

    d_open = fwdfield()
    d_close = fwdfield()
    d_read = fwdfield()
    d_write = fwdfield()
    d_ioctl = fwdfield()
    d_stop = fwdfield()
    d_tty = fwdfield()
    d_poll = fwdfield()
    d_mmap = fwdfield()
    d_kqfilter = fwdfield()
    d_discard = fwdfield()

    def __init__(self, d_open: Callable[..., Any] | str | None = None,
                 d_close: Callable[..., Any] | str | None = None,
                 d_read: Callable[..., Any] | str | None = None,
                 d_write: Callable[..., Any] | str | None = None,
                 d_ioctl: Callable[..., Any] | str | None = None,
                 d_stop: Callable[..., Any] | str | None = None,
                 d_tty: Callable[..., Any] | str | None = None,
                 d_poll: Callable[..., Any] | str | None = None,
                 d_mmap: Callable[..., Any] | str | None = None,
                 d_kqfilter: Callable[..., Any] | str | None = None,
                 d_discard: Callable[..., Any] | str | None = None,
                 d_flag: int = 0, *, _depth: int = 1) -> None:
        fwd_init(self, {"d_open": d_open, "d_close": d_close, "d_read": d_read,
                        "d_write": d_write, "d_ioctl": d_ioctl, "d_stop": d_stop,
                        "d_tty": d_tty, "d_poll": d_poll, "d_mmap": d_mmap,
                        "d_kqfilter": d_kqfilter, "d_discard": d_discard}, _depth)
        self.d_flag = d_flag

    def __repr__(self) -> str:
        return f"<cdevsw {_owner(self)} flag={self.d_flag:#x}>"


def _owner(sw: Any) -> str:
    g = sw.__dict__.get("_fwd_globals")
    if g is not None:
        return str(g.get("__name__", "?"))
    op = sw.__dict__.get("d_open") or sw.__dict__.get("_fwd_raw", {}).get("d_open")
    return getattr(op, "__module__", "?") or "?"


class devsw_conv:
    """One entry of the name<->major table (sys/conf.h struct devsw_conv)."""

    __slots__ = ("d_name", "d_bmajor", "d_cmajor")

    def __init__(self, d_name: str | None = None, d_bmajor: int = -1,
                 d_cmajor: int = -1) -> None:
        self.d_name = d_name
        self.d_bmajor = d_bmajor
        self.d_cmajor = d_cmajor

    def __repr__(self) -> str:
        return f"<devsw_conv {self.d_name} b{self.d_bmajor} c{self.d_cmajor}>"
