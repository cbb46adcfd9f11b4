"""Device switch tables (NetBSD's kern/subr_devsw.c, as of early 2018).

Every machine has its own block and character switch arrays (``MAXDEVSW``
= 512 majors each) and its own name<->major table, preloaded at boot from
the configuration's ``majors`` (what sys/conf/majors and config(1) give a
NetBSD kernel).  A driver files its switches with ``devsw_attach``; a name
found in that table gets its recorded majors, a new name gets the lowest
free majors that no table entry reserves.  ``devsw_detach`` empties the
slots but keeps the table entry, so the next attach gets the same majors.

C's ``devmajor_t *`` in/out arguments are inputs plus extra results::

    error, fss_bmajor, fss_cmajor = devsw_attach("fss", fss_bdevsw, fss_bmajor,
                                                 fss_cdevsw, fss_cmajor)

The table updates never sleep, so they need no ``device_lock`` here: code
between two ``await`` points runs without interruption.  NetBSD's
``DEV_LOCK`` (the big kernel lock around drivers without D_MPSAFE) is
released whenever its holder sleeps, so on one emulated CPU it changes
nothing and the wrappers leave it out.

``bdev_strategy`` with no driver ends the buffer with ``ENXIO`` through
:data:`biodone_vfs`, NetBSD's hook for "biodone() if the VFS is present":
the buffer cache (vfs/) sets it to its ``biodone`` when it is imported.

Compared against ``$NetBSD: subr_devsw.c,v 1.33 2014/09/05 matt$`` (the
stored NetBSD revision nearest netbsd-8; devsw_attach, the free-major
search, devsw_detach, the name<->major conversions and the bdev_*/cdev_*
wrappers read the same in netbsd-8).  Notices in LICENSE.NetBSD.

Deviations:

* Per-machine tables of the full MAXDEVSW size (no static bdevsw0/cdevsw0
  part, sys_bdevsws = sys_cdevsws = 0, no growing of the arrays); the
  name<->major table comes from the configuration at boot
  (``devsw_init``) instead of config(1)'s devsw_conv0, and new rows are
  appended (NetBSD reuses a free row and kmem-copies the name).
* No device_lock and no DEV_LOCK/DEV_UNLOCK around driver calls (above).
* ``devsw_attach`` returns ``(error, bmajor, cmajor)``; it also refuses a
  bdevsw with a negative block major from the table (EINVAL, where C
  would index bdevsw[-1]) and names that are not strings; it is a
  fault-injection site ("devsw_attach").
* The wrappers panic when a switch lacks the entry they call (C would
  jump through NULL); an entry may be ``async def`` or plain.
* ``devsw_conv_table`` is kemu's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from types import CoroutineType as _CoroutineType
from typing import Any

from kern.conf import D_OTHER, D_TYPEMASK, POLLERR, bdevsw, cdevsw, devsw_conv
from kern.cpu import MachineLocal
from kern.errno import EEXIST, EINVAL, ENOMEM, ENXIO
from kern.subr_fault import fault_inject
from kern.subr_prf import panic, printf
from kern.types_dev import NODEV, NODEVMAJOR, major, makedev, minor

MAXDEVSW = 512  # the highest major number, plus one

# biodone() when a VFS is linked in: vfs sets this to its biodone.  The
# default does nothing, as NetBSD's nullop default does.
biodone_vfs: Callable[[Any], Any] = lambda bp: None


class _Devsw:
    """The switch tables of one machine."""

    def __init__(self) -> None:
        self.bdevsw: list[bdevsw | None] = [None] * MAXDEVSW
        self.cdevsw: list[cdevsw | None] = [None] * MAXDEVSW
        self.max_bdevsws = MAXDEVSW
        self.max_cdevsws = MAXDEVSW
        # Majors below these belong to the static tables; dynamic allocation
        # starts here (no static tables in kemu: statically configured
        # drivers are filed at boot from the majors table).
        self.sys_bdevsws = 0
        self.sys_cdevsws = 0
        self.devsw_conv: list[devsw_conv] = []
        self.initialized = False


_devsw = MachineLocal(_Devsw, "devsw tables")


def devsw_init(machine: Any) -> None:
    """Boot: set up the tables and load the name<->major table from ``config.majors``."""
    d = _devsw.of(machine)
    if d.initialized:
        return
    for name, pair in machine.config.majors.items():
        try:
            bmaj, cmaj = (int(pair[0]), int(pair[1]))
        except (TypeError, ValueError, IndexError):
            panic("devsw_init: bad majors entry for %s: %r", name, pair)
            return
        if not isinstance(name, str) or not name or bmaj >= MAXDEVSW or \
                cmaj >= MAXDEVSW or cmaj < 0:
            panic("devsw_init: bad majors entry for %s: %r", name, pair)
        for c in d.devsw_conv:
            if (bmaj >= 0 and c.d_bmajor == bmaj) or c.d_cmajor == cmaj:
                panic("devsw_init: %s and %s share a major", c.d_name, name)
        d.devsw_conv.append(devsw_conv(name, bmaj if bmaj >= 0 else -1, cmaj))
    d.initialized = True


def devsw_attach(devname: str | None, bdev: bdevsw | None, bmajor: int,
                 cdev: cdevsw | None, cmajor: int) -> tuple[int, int, int]:
    """File a driver's switches; returns ``(error, bmajor, cmajor)``.

    A major of -1 means "look it up in the name table, or pick a free one".
    Errors: EINVAL (no name or no cdevsw, majors that disagree with the
    table), EEXIST (a slot is taken), ENOMEM (majors exhausted).
    """
    d = _devsw()
    if not isinstance(devname, str) or not devname or cdev is None:
        return EINVAL, bmajor, cmajor
    if not isinstance(bmajor, int) or not isinstance(cmajor, int):
        return EINVAL, bmajor, cmajor
    error = fault_inject("devsw_attach")
    if error:
        return error, bmajor, cmajor

    for conv in d.devsw_conv:
        if conv.d_name is None or conv.d_name != devname:
            continue
        if bmajor < 0:
            bmajor = conv.d_bmajor
        if cmajor < 0:
            cmajor = conv.d_cmajor
        if bmajor != conv.d_bmajor or cmajor != conv.d_cmajor:
            return EINVAL, bmajor, cmajor
        if (bmajor >= 0 and bdev is None) or cmajor < 0:
            return EINVAL, bmajor, cmajor
        # C would index bdevsw[-1] here; refuse instead.
        if bdev is not None and bmajor < 0:
            return EINVAL, bmajor, cmajor
        if (bmajor >= 0 and d.bdevsw[bmajor] is not None) or d.cdevsw[cmajor] is not None:
            return EEXIST, bmajor, cmajor
        if bdev is not None:
            d.bdevsw[bmajor] = bdev
        d.cdevsw[cmajor] = cdev
        return 0, bmajor, cmajor

    error, bmajor = _bdevsw_attach(d, bdev, bmajor)
    if error:
        return error, bmajor, cmajor
    error, cmajor = _cdevsw_attach(d, cdev, cmajor)
    if error:
        _devsw_detach_locked(d, bdev, None)
        return error, bmajor, cmajor

    d.devsw_conv.append(devsw_conv(devname, bmajor, cmajor))
    return 0, bmajor, cmajor


def _bdevsw_attach(d: _Devsw, devsw: bdevsw | None, devmajor: int) -> tuple[int, int]:
    if devsw is None:
        return 0, devmajor
    if devmajor < 0:
        bmaj = d.sys_bdevsws
        while bmaj < d.max_bdevsws:
            if d.bdevsw[bmaj] is None and \
                    not any(c.d_bmajor == bmaj for c in d.devsw_conv):
                break
            bmaj += 1
        devmajor = bmaj
    if devmajor >= MAXDEVSW:
        printf("bdevsw_attach: block majors exhausted")
        return ENOMEM, devmajor
    if d.bdevsw[devmajor] is not None:
        return EEXIST, devmajor
    d.bdevsw[devmajor] = devsw
    return 0, devmajor


def _cdevsw_attach(d: _Devsw, devsw: cdevsw, devmajor: int) -> tuple[int, int]:
    if devmajor < 0:
        cmaj = d.sys_cdevsws
        while cmaj < d.max_cdevsws:
            if d.cdevsw[cmaj] is None and \
                    not any(c.d_cmajor == cmaj for c in d.devsw_conv):
                break
            cmaj += 1
        devmajor = cmaj
    if devmajor >= MAXDEVSW:
        printf("cdevsw_attach: character majors exhausted")
        return ENOMEM, devmajor
    if d.cdevsw[devmajor] is not None:
        return EEXIST, devmajor
    d.cdevsw[devmajor] = devsw
    return 0, devmajor


def _devsw_detach_locked(d: _Devsw, bdev: bdevsw | None, cdev: cdevsw | None) -> None:
    if bdev is not None:
        for i in range(d.max_bdevsws):
            if d.bdevsw[i] is bdev:
                d.bdevsw[i] = None
                break
    if cdev is not None:
        for i in range(d.max_cdevsws):
            if d.cdevsw[i] is cdev:
                d.cdevsw[i] = None
                break


def devsw_detach(bdev: bdevsw | None, cdev: cdevsw | None) -> int:
    """Empty the slots holding these switches; the name table keeps their majors."""
    _devsw_detach_locked(_devsw(), bdev, cdev)
    return 0


def bdevsw_lookup(dev: int) -> bdevsw | None:
    """The block switch of ``dev``, or None."""
    if not isinstance(dev, int) or dev == NODEV:
        return None
    d = _devsw()
    bmaj = major(dev)
    if bmaj < 0 or bmaj >= d.max_bdevsws:
        return None
    return d.bdevsw[bmaj]


def cdevsw_lookup(dev: int) -> cdevsw | None:
    """The character switch of ``dev``, or None."""
    if not isinstance(dev, int) or dev == NODEV:
        return None
    d = _devsw()
    cmaj = major(dev)
    if cmaj < 0 or cmaj >= d.max_cdevsws:
        return None
    return d.cdevsw[cmaj]


def bdevsw_lookup_major(bdev: bdevsw | None) -> int:
    """The block major ``bdev`` is filed under, or NODEVMAJOR (also for None)."""
    if bdev is not None:
        for i, sw in enumerate(_devsw().bdevsw):
            if sw is bdev:
                return i
    return NODEVMAJOR


def cdevsw_lookup_major(cdev: cdevsw | None) -> int:
    """The character major ``cdev`` is filed under, or NODEVMAJOR (also for None)."""
    if cdev is not None:
        for i, sw in enumerate(_devsw().cdevsw):
            if sw is cdev:
                return i
    return NODEVMAJOR


def _name_match(conv_name: str, name: str) -> bool:
    # "fss" matches "fss" and "fss0", "fss12", but not "fssx".
    if not name.startswith(conv_name):
        return False
    rest = name[len(conv_name):]
    return not rest or rest[0].isdigit()


def _copy_name(devname: bytearray | None, devnamelen: int, name: str) -> None:
    if devname is None or devnamelen <= 0:
        return
    raw = name.encode()[:devnamelen - 1] + b"\0"
    n = min(len(devname), len(raw))
    devname[:n] = raw[:n]


def devsw_name2blk(name: str | None, devname: bytearray | None = None,
                   devnamelen: int = 0) -> int:
    """The block major of a device name ("fss0" -> fss's), or NODEVMAJOR.

    If ``devname`` (a bytearray of ``devnamelen`` bytes) is given, the
    driver's name is copied there, NUL-terminated, as in C.
    """
    if not isinstance(name, str):
        return NODEVMAJOR
    d = _devsw()
    for conv in d.devsw_conv:
        if conv.d_name is None or not _name_match(conv.d_name, name):
            continue
        bmaj = conv.d_bmajor
        if bmaj < 0 or bmaj >= d.max_bdevsws or d.bdevsw[bmaj] is None:
            break
        _copy_name(devname, devnamelen, conv.d_name)
        return bmaj
    return NODEVMAJOR


def devsw_name2chr(name: str | None, devname: bytearray | None = None,
                   devnamelen: int = 0) -> int:
    """The character major of a device name, or NODEVMAJOR (see devsw_name2blk)."""
    if not isinstance(name, str):
        return NODEVMAJOR
    d = _devsw()
    for conv in d.devsw_conv:
        if conv.d_name is None or not _name_match(conv.d_name, name):
            continue
        cmaj = conv.d_cmajor
        if cmaj < 0 or cmaj >= d.max_cdevsws or d.cdevsw[cmaj] is None:
            break
        _copy_name(devname, devnamelen, conv.d_name)
        return cmaj
    return NODEVMAJOR


def devsw_chr2blk(cdev: int) -> int:
    """The block dev_t of the same device as character dev_t ``cdev``, or NODEV."""
    if not isinstance(cdev, int) or cdev == NODEV:
        return NODEV
    d = _devsw()
    cmaj = major(cdev)
    if cmaj < 0 or cmaj >= d.max_cdevsws or d.cdevsw[cmaj] is None:
        return NODEV
    bmaj = NODEVMAJOR
    for conv in d.devsw_conv:
        if conv.d_cmajor == cmaj:
            bmaj = conv.d_bmajor
            break
    if 0 <= bmaj < d.max_bdevsws and d.bdevsw[bmaj] is not None:
        return makedev(bmaj, minor(cdev))
    return NODEV


def devsw_blk2chr(bdev: int) -> int:
    """The character dev_t of the same device as block dev_t ``bdev``, or NODEV."""
    if not isinstance(bdev, int) or bdev == NODEV:
        return NODEV
    d = _devsw()
    bmaj = major(bdev)
    if bmaj < 0 or bmaj >= d.max_bdevsws or d.bdevsw[bmaj] is None:
        return NODEV
    cmaj = NODEVMAJOR
    for conv in d.devsw_conv:
        if conv.d_bmajor == bmaj:
            cmaj = conv.d_cmajor
            break
    if 0 <= cmaj < d.max_cdevsws and d.cdevsw[cmaj] is not None:
        return makedev(cmaj, minor(bdev))
    return NODEV


def devsw_blk2name(bmajor: int) -> str | None:
    """The driver name of block major ``bmajor``, if both its switches are attached."""
    d = _devsw()
    if not isinstance(bmajor, int) or bmajor < 0 or bmajor >= d.max_bdevsws or \
            d.bdevsw[bmajor] is None:
        return None
    for conv in d.devsw_conv:
        if conv.d_bmajor == bmajor:
            cmaj = conv.d_cmajor
            if 0 <= cmaj < d.max_cdevsws and d.cdevsw[cmaj] is not None:
                return conv.d_name
            return None
    return None


def cdevsw_getname(major_: int) -> str | None:
    """The name recorded for character major ``major_`` (attached or not), or None."""
    if not isinstance(major_, int) or major_ < 0:
        return None
    for conv in _devsw().devsw_conv:
        if conv.d_cmajor == major_:
            return conv.d_name
    return None


def bdevsw_getname(major_: int) -> str | None:
    """The name recorded for block major ``major_`` (attached or not), or None."""
    if not isinstance(major_, int) or major_ < 0:
        return None
    for conv in _devsw().devsw_conv:
        if conv.d_bmajor == major_:
            return conv.d_name
    return None


def devsw_conv_table() -> list[tuple[str, int, int]]:
    """The name<->major table of this machine: ``(name, bmajor, cmajor)`` rows."""
    return [(c.d_name, c.d_bmajor, c.d_cmajor) for c in _devsw().devsw_conv
            if c.d_name is not None]


# --- device access wrappers ------------------------------------------------------

def devsw_call(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Call a switch entry ``fn(*args)``: an awaitable of what it returns.

    An ``async def`` entry's own coroutine is handed back as it is, so the
    caller's ``await`` runs the entry with no coroutine of this module in
    between (a level that every sleep inside the entry would pass twice);
    a plain entry's result (None or an errno, mostly, or an awaitable) is
    wrapped in one.  Not a sleep itself: the caller's ``await`` is."""
    r = fn(*args)
    # (told apart without inspect's chain of tests)
    if type(r) is _CoroutineType:
        return r
    return _settle(r)


async def _settle(r: Any) -> Any:
    """The result of a plain switch entry, awaited first if it is awaitable."""
    if r is None or type(r) is int:
        return r
    if inspect.isawaitable(r):
        r = await r
    return r


def _missing(sw: Any, member: str, dev: int) -> None:
    panic("%s: %s of major %d is NULL", type(sw).__name__, member, major(dev))


async def bdev_open(dev: int, flag: int, devtype: int, l: Any) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_open is None:
        _missing(d, "d_open", dev)
    return await devsw_call(d.d_open, dev, flag, devtype, l)


async def bdev_close(dev: int, flag: int, devtype: int, l: Any) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_close is None:
        _missing(d, "d_close", dev)
    return await devsw_call(d.d_close, dev, flag, devtype, l)


async def bdev_strategy(bp: Any) -> None:
    """Start I/O on ``bp``; with no driver it ends at once with ENXIO."""
    d = bdevsw_lookup(getattr(bp, "b_dev", NODEV))
    if d is None:
        bp.b_error = ENXIO
        bp.b_resid = bp.b_bcount
        await devsw_call(biodone_vfs, bp)  # biodone() iff vfs present
        return
    if d.d_strategy is None:
        _missing(d, "d_strategy", bp.b_dev)
    await devsw_call(d.d_strategy, bp)


async def bdev_ioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_ioctl is None:
        _missing(d, "d_ioctl", dev)
    return await devsw_call(d.d_ioctl, dev, cmd, data, flag, l)


async def bdev_dump(dev: int, addr: int, data: Any, sz: int) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_dump is None:
        _missing(d, "d_dump", dev)
    return await devsw_call(d.d_dump, dev, addr, data, sz)


def bdev_type(dev: int) -> int:
    """D_DISK, D_TAPE, ... of the block device; D_OTHER without a driver."""
    d = bdevsw_lookup(dev)
    if d is None:
        return D_OTHER
    return d.d_flag & D_TYPEMASK


def bdev_flags(dev: int) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return 0
    return d.d_flag & ~D_TYPEMASK


def bdev_size(dev: int) -> int:
    """The driver's d_psize; -1 without a driver or without d_psize."""
    d = bdevsw_lookup(dev)
    if d is None or d.d_psize is None:
        return -1
    return d.d_psize(dev)


async def bdev_discard(dev: int, pos: int, len: int) -> int:
    d = bdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_discard is None:
        _missing(d, "d_discard", dev)
    return await devsw_call(d.d_discard, dev, pos, len)


async def cdev_open(dev: int, flag: int, devtype: int, l: Any) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_open is None:
        _missing(d, "d_open", dev)
    return await devsw_call(d.d_open, dev, flag, devtype, l)


async def cdev_close(dev: int, flag: int, devtype: int, l: Any) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_close is None:
        _missing(d, "d_close", dev)
    return await devsw_call(d.d_close, dev, flag, devtype, l)


async def cdev_read(dev: int, uio: Any, flag: int) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_read is None:
        _missing(d, "d_read", dev)
    return await devsw_call(d.d_read, dev, uio, flag)


async def cdev_write(dev: int, uio: Any, flag: int) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_write is None:
        _missing(d, "d_write", dev)
    return await devsw_call(d.d_write, dev, uio, flag)


async def cdev_ioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_ioctl is None:
        _missing(d, "d_ioctl", dev)
    return await devsw_call(d.d_ioctl, dev, cmd, data, flag, l)


def cdev_stop(tp: Any, flag: int) -> None:
    d = cdevsw_lookup(getattr(tp, "t_dev", NODEV))
    if d is None or d.d_stop is None:
        return
    d.d_stop(tp, flag)


def cdev_tty(dev: int) -> Any:
    d = cdevsw_lookup(dev)
    if d is None or d.d_tty is None:
        return None
    return d.d_tty(dev)


def cdev_poll(dev: int, flag: int, l: Any) -> int:
    """The driver's d_poll; POLLERR without a driver."""
    d = cdevsw_lookup(dev)
    if d is None:
        return POLLERR
    if d.d_poll is None:
        _missing(d, "d_poll", dev)
    return d.d_poll(dev, flag, l)


def cdev_mmap(dev: int, off: int, flag: int) -> int:
    """The driver's d_mmap; (paddr_t)-1 without a driver."""
    d = cdevsw_lookup(dev)
    if d is None:
        return -1
    if d.d_mmap is None:
        _missing(d, "d_mmap", dev)
    return d.d_mmap(dev, off, flag)


def cdev_kqfilter(dev: int, kn: Any) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_kqfilter is None:
        _missing(d, "d_kqfilter", dev)
    return d.d_kqfilter(dev, kn)


async def cdev_discard(dev: int, pos: int, len: int) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return ENXIO
    if d.d_discard is None:
        _missing(d, "d_discard", dev)
    return await devsw_call(d.d_discard, dev, pos, len)


def cdev_type(dev: int) -> int:
    """D_DISK, D_TTY, ... of the character device; D_OTHER without a driver."""
    d = cdevsw_lookup(dev)
    if d is None:
        return D_OTHER
    return d.d_flag & D_TYPEMASK


def cdev_flags(dev: int) -> int:
    d = cdevsw_lookup(dev)
    if d is None:
        return 0
    return d.d_flag & ~D_TYPEMASK

