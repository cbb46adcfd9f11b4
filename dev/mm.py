"""The memory special files, mm(4): /dev/null, /dev/zero, /dev/full.

A port of NetBSD 8's sys/dev/mm.c (1.19) and the minors of sys/sys/conf.h:
one character device, ``mem_cdevsw``, at amd64's major 2 ("mem char 2" in
sys/arch/amd64/conf/majors.amd64), whose minor says what it is:

* ``DEV_NULL`` (2), /dev/null: a read is end of file, a write takes
  everything and keeps nothing;
* ``DEV_ZERO`` (12), /dev/zero: a read fills the request with zero bytes,
  page by page from a read-only page of zeroes; a write takes everything;
* ``DEV_FULL`` (11), /dev/full: reads as /dev/zero, a write fails with
  ENOSPC.  Not in NetBSD 8: later NetBSD added it (conf.h's minor 11);
  kemu has it because a storage engineer tests ENOSPC handling with it.

The ioctls: FIONBIO succeeds (nothing blocks anyway), FIOASYNC succeeds
only when turning it off, the owner and terminal ioctls are ENOTTY, the
rest EOPNOTSUPP.  mmap(2) is not offered (``mm_mmap`` answers -1 for every
minor, as NetBSD does for all but /dev/mem).

``mm_init`` runs at boot (conf/GENERIC; NetBSD's main() calls it): the
zero page and (deviation) the filing of ``mem_cdevsw`` under
the configuration's "mem" major, which NetBSD's static device table does;
MAKEDEV's nodes are made from ``config.devnodes`` (mode 0666).

Deviations: the minors of physical and kernel memory, DEV_MEM (0,
/dev/mem) and DEV_KMEM (1, /dev/kmem), have nothing to show in kemu (no
physical memory, no kernel address space a byte offset could name), so
they are not offered: a transfer on them is ENXIO, as for any unknown
minor, and ``dev_mem_readwrite``/``dev_kmem_readwrite``, the mapping
window they use (``dev_mem_addr``, ``dev_mem_lock``) and the
machine-dependent hooks (mm_md_*) are left out.
"""

from __future__ import annotations

from typing import Any

from kern.conf import (
    D_MPSAFE,
    cdevsw,
    nodiscard,
    nokqfilter,
    nopoll,
    nostop,
    notty,
    nullclose,
    nullopen,
)
from kern.errno import ENOSPC, ENOTTY, ENXIO, EOPNOTSUPP
from kern.ioccom import FIOASYNC, FIOGETOWN, FIONBIO, FIOSETOWN, TIOCGETA, TIOCGPGRP, TIOCSPGRP
from kern.kern_descrip import ioctl_int
from kern.param import PAGE_SIZE
from kern.subr_prf import KASSERT, panic
from kern.subr_uio import UIO_WRITE, uio, uiomove
from kern.types_dev import minor

# The minors (sys/sys/conf.h)
DEV_MEM = 0      # physical memory
DEV_KMEM = 1     # kernel memory
DEV_NULL = 2     # EOF/rathole
DEV_FULL = 11    # '\0'/ENOSPC (later NetBSD)
DEV_ZERO = 12    # '\0'/rathole

MEM_CMAJOR = 2   # sys/arch/amd64/conf/majors.amd64: "device-major mem char 2"

# The read-only zero page (immutable, so every machine may share it).
dev_zero_page: bytes = b""

mem_cdevsw = cdevsw(
    d_open=nullopen,
    d_close=nullclose,
    d_read="mm_readwrite",
    d_write="mm_readwrite",
    d_ioctl="mm_ioctl",
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap="mm_mmap",
    d_kqfilter=nokqfilter,
    d_discard=nodiscard,
    d_flag=D_MPSAFE,
)


def mm_init(machine: Any = None) -> None:
    """Boot: initialize the memory device driver and file its switch."""
    from kern.subr_devsw import devsw_attach

    global dev_zero_page
    # Read-only zero page.
    dev_zero_page = bytes(PAGE_SIZE)
    KASSERT(len(dev_zero_page) == PAGE_SIZE)
    # kemu: the static cdevsw[] entry NetBSD's config(1) generates.
    error, _, _ = devsw_attach("mem", None, -1, mem_cdevsw, MEM_CMAJOR)
    if error:
        panic("mm_init: cannot enter the mem device switch (error %d)", error)


async def dev_zero_readwrite(u: uio, iov: Any) -> int:
    """The DEV_ZERO case of a transfer: a write is swallowed; a read gets zeroes,
    at most a page per call (the caller goes on)."""
    # Nothing to do for the write case.
    if u.uio_rw == UIO_WRITE:
        u.uio_resid = 0
        return 0
    # Read page by page, cut to the vector for a single or last iteration.
    n = min(iov.iov_len, PAGE_SIZE)
    return await uiomove(dev_zero_page, n, u)


async def mm_readwrite(dev: int, u: uio, flags: int) -> int:
    """Read or write one of the memory devices."""
    error = 0
    while u.uio_resid > 0 and error == 0:
        iov = u.uio_iov[0]
        if iov.iov_len == 0:
            # Processed; next I/O vector.
            u.uio_iov = u.uio_iov[1:]
            u.uio_iovcnt -= 1
            KASSERT(u.uio_iovcnt >= 0)
            continue
        # The helpers process a page at a time.
        m = minor(dev)
        if m == DEV_NULL:
            if u.uio_rw == UIO_WRITE:
                u.uio_resid = 0
            # Break directly out of the loop.
            return 0
        if m == DEV_FULL:
            if u.uio_rw == UIO_WRITE:
                return ENOSPC
            error = await dev_zero_readwrite(u, iov)
        elif m == DEV_ZERO:
            error = await dev_zero_readwrite(u, iov)
        else:
            # DEV_MEM and DEV_KMEM included: see the deviations.
            error = ENXIO
    return error


def mm_mmap(dev: int, off: int, acc: int) -> int:
    """No mapping: /dev/null makes no sense, /dev/zero is handled by mmap itself,
    and kemu has no /dev/mem."""
    return -1


async def mm_ioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    if cmd == FIONBIO:
        # We never block anyway.
        return 0
    if cmd in (FIOSETOWN, FIOGETOWN, TIOCGPGRP, TIOCSPGRP, TIOCGETA):
        return ENOTTY
    if cmd == FIOASYNC:
        if ioctl_int(data) == 0:
            return 0
    return EOPNOTSUPP
