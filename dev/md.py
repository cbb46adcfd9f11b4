"""Memory disks, md(4).

After NetBSD's sys/dev/md.c (as of 2017) and sys/dev/md.h: a disk whose
sectors live in kernel memory.  NetBSD configures a unit with the
MD_SETCONF ioctl (or a user-space server); kemu creates units with a kernel
API instead::

    error, dev = md_create(0, 4 << 20)   # md0, 4 MiB: dev is md0d, the whole disk

``dev`` is the block device of the raw partition (``md0d``); the character
twin is ``devsw_blk2chr(dev)``.  Majors are NetBSD amd64's (block 17,
character 24, sys/arch/amd64/conf/majors.amd64) unless the configuration's
``majors`` table says otherwise.  The driver files its switches on the
first ``md_create`` (``mdattach``), or at boot if the configuration calls
``mdattach``.

Transfers complete inside ``mdstrategy`` (biodone before it returns), with
disk(9) statistics.  A transfer is clipped to the disk by
``bounds_check_with_mediasize``: at the end of the disk it is end of file,
beyond it EINVAL.  The fault sites of kemu disks apply, scoped by dev_t:
"disk.read", "disk.write", "disk.slow" (``extra={"ticks": n}``) and
"disk.short" (``extra={"done": n}``); see ``vfs.subr_disk.disk_io_faults``.

Units and the driver's state are per machine.  When the machine halts, after
its file systems are unmounted, the units that are not open are destroyed
(``md_shutdown``, NetBSD's md_detach at shutdown).

Compared against ``$NetBSD: md.c,v 1.76.2.7 2016/08/06 pgoyette$`` (the
stored revision, from the localcount branch of the NetBSD 8 era; its
mdopen/mdstrategy/md_set_disklabel read as NetBSD 8's apart from the
localcount calls) and sys/dev/md.h.  Notices in LICENSE.NetBSD.

Deviations:

* Units are made and removed by kemu's kernel API (``md_create``,
  ``md_destroy``) instead of by opening the raw partition
  (config_attach_pseudo) and MD_SETCONF; MD_SETCONF is always EINVAL;
  there is no MD_UMEM_SERVER (no server loop, no bufq, no sc_cv), no
  MEMORY_DISK_HOOKS, no autoconf device_t, pmf or localcount, and no
  md_device_lock or sc_lock (none of those paths sleeps).
* ``mdopen`` of a unit that does not exist is ENXIO on every partition;
  ``mdclose`` of the last opener does not config_detach the unit (1.76.2.7
  tries to, and fails with EBUSY for a configured unit).
* ``mdstrategy`` clips with ``bounds_check_with_mediasize`` (end of the
  disk: end of file; beyond it: EINVAL), where 1.76.2.7 gives a read
  past the end EOF and a write EIO; it runs kemu's disk fault sites
  (``disk_io_faults``); an ENXIO buf gets b_resid = b_bcount.  (1.76.2.7
  enters sc_lock twice there, a bug of that branch revision, not kept.)
* ``mdioctl`` returns disk_ioctl's own answer (1.76.2.7 returns 0 for any
  disk(9) ioctl it handled, errors included); MD_GETCONF reports
  md_addr 0 and is EINVAL for a buffer that is not an md_conf.
* ``mddump`` writes to the unit's memory (1.76.2.7: nodump); the switches
  have no d_discard and no D_MPSAFE; ``mddkdriver`` also names minphys.
* ``md_set_disklabel`` caps d_secperunit at 32 bits, sets dg_secperunit
  from the size and dg_ntracks from the label (1.76.2.7 forces 64 into
  both d_ntracks and dg_ntracks).
* ``mdattach`` files the switches with devsw_attach (NetBSD's are in the
  static devsw tables; mdattach does config_cfattach_attach) and sets up
  the shutdown hook; ``mddetach``, ``md_lookup`` and ``md_disk`` are kemu's.
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.conf import D_DISK, bdevsw, cdevsw, nokqfilter, nommap, nopoll, nostop, notty
from kern.cpu import MachineLocal
from kern.errno import EBUSY, EEXIST, EINVAL, ENOTTY, ENXIO, EPASSTHROUGH
from kern.ioccom import _IOR, _IOW
from kern.kern_mutex import mutex_enter, mutex_exit
from kern.kern_types import NODEV
from kern.machdep import shutdownhook_establish
from kern.subr_devsw import devsw_attach, devsw_conv_table, devsw_detach
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import aprint_normal
from vfs.buf import B_READ, buf
from vfs.dkio import (
    DISKMAGIC,
    DISKPART,
    DISKUNIT,
    DTYPE_MD,
    FS_BSDFFS,
    FS_UNUSED,
    MAKEDISKDEV,
    RAW_PART,
    dkcksum,
)
from vfs.kern_physio import minphys, physio
from vfs.stat import S_IFBLK, S_IFCHR
from vfs.subr_disk import (
    bounds_check_with_mediasize,
    disk,
    disk_attach,
    disk_busy,
    disk_destroy,
    disk_detach,
    disk_init,
    disk_io_faults,
    disk_ioctl,
    disk_set_info,
    disk_unbusy,
    dkdriver,
)
from vfs.vfs_bio import DEV_BSHIFT, DEV_BSIZE, biodone, btodb, dbtob

# NetBSD amd64's majors for md (majors.amd64: "md char 24 block 17").
MD_BMAJOR = 17
MD_CMAJOR = 24

MD_MAXUNIT = 0xFFFF  # units * MAXPARTITIONS must fit a 20-bit minor

# sys/dev/md.h
MD_UNCONFIGURED = 0
MD_KMEM_FIXED = 1
MD_KMEM_ALLOCATED = 2
MD_UMEM_SERVER = 3


class md_conf(ctypes.Structure):
    """struct md_conf: a unit's configuration (LP64: 24 bytes)."""

    _fields_ = [("md_addr", ctypes.c_uint64), ("md_size", ctypes.c_uint64),
                ("md_type", ctypes.c_int)]


MD_GETCONF = _IOR('r', 0, md_conf)
MD_SETCONF = _IOW('r', 1, md_conf)


class md_softc:
    """One memory disk."""

    def __init__(self, unit: int) -> None:
        self.sc_unit = unit
        self.sc_dkdev = disk()
        self.sc_addr: bytearray | None = None
        self.sc_size = 0
        self.sc_type = MD_UNCONFIGURED

    def __repr__(self) -> str:
        return f"<md{self.sc_unit} {self.sc_size} bytes>"


class _MdGlobals:
    def __init__(self) -> None:
        self.md_bmajor = -1
        self.md_cmajor = -1
        self.attached = False
        self.shutdownhook = False
        self.units: dict[int, md_softc] = {}


_md = MachineLocal(_MdGlobals, "md(4)")


async def mdopen(dev: int, flag: int, fmt: int, l: Any) -> int:
    sc = md_lookup(dev)
    if sc is None:
        return ENXIO
    dk = sc.sc_dkdev
    pmask = 1 << DISKPART(dev)
    await mutex_enter(dk.dk_openlock)
    if fmt == S_IFCHR:
        dk.dk_copenmask |= pmask
    elif fmt == S_IFBLK:
        dk.dk_bopenmask |= pmask
    dk.dk_openmask = dk.dk_copenmask | dk.dk_bopenmask
    mutex_exit(dk.dk_openlock)
    return 0


async def mdclose(dev: int, flag: int, fmt: int, l: Any) -> int:
    sc = md_lookup(dev)
    if sc is None:
        return ENXIO
    dk = sc.sc_dkdev
    pmask = 1 << DISKPART(dev)
    await mutex_enter(dk.dk_openlock)
    if fmt == S_IFCHR:
        dk.dk_copenmask &= ~pmask
    elif fmt == S_IFBLK:
        dk.dk_bopenmask &= ~pmask
    dk.dk_openmask = dk.dk_copenmask | dk.dk_bopenmask
    mutex_exit(dk.dk_openlock)
    return 0


async def mdread(dev: int, uio: Any, flags: int) -> int:
    sc = md_lookup(dev)
    if sc is None or sc.sc_type == MD_UNCONFIGURED:
        return ENXIO
    return await physio(mdstrategy, None, dev, B_READ, minphys, uio)


async def mdwrite(dev: int, uio: Any, flags: int) -> int:
    sc = md_lookup(dev)
    if sc is None or sc.sc_type == MD_UNCONFIGURED:
        return ENXIO
    return await physio(mdstrategy, None, dev, 0, minphys, uio)


async def mdstrategy(bp: buf) -> None:
    """Do the transfer at once, from or to the unit's memory, and complete ``bp``."""
    sc = md_lookup(bp.b_dev)
    if sc is None or sc.sc_type == MD_UNCONFIGURED or sc.sc_addr is None:
        bp.b_error = ENXIO
        bp.b_resid = bp.b_bcount
        biodone(bp)
        return

    # Clip to the disk: end of file at the end, EINVAL beyond it.
    if bounds_check_with_mediasize(bp, DEV_BSIZE, btodb(sc.sc_size)) <= 0:
        bp.b_resid = bp.b_bcount
        biodone(bp)
        return

    is_read = bool(bp.b_flags & B_READ)
    bp.b_resid = bp.b_bcount
    disk_busy(sc.sc_dkdev)
    error, xfer = await disk_io_faults(bp)
    if error:
        bp.b_error = error
        disk_unbusy(sc.sc_dkdev, 0, is_read)
        biodone(bp)
        return

    off = dbtob(bp.b_blkno)
    if xfer > sc.sc_size - off:
        xfer = sc.sc_size - off
    mem = memoryview(sc.sc_addr)
    data = memoryview(bp.b_data).cast("B")
    if is_read:
        data[:xfer] = mem[off:off + xfer]
    else:
        mem[off:off + xfer] = data[:xfer]
    bp.b_resid -= xfer
    disk_unbusy(sc.sc_dkdev, xfer, is_read)
    biodone(bp)


async def mdioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    """The disk(9) ioctls, then, on the raw partition only, MD_GETCONF and
    MD_SETCONF (EINVAL: a unit is configured once, by md_create in kemu);
    EINVAL for other commands there, ENOTTY on the other partitions."""
    sc = md_lookup(dev)
    if sc is None:
        return ENXIO
    if sc.sc_type != MD_UNCONFIGURED:
        error = disk_ioctl(sc.sc_dkdev, dev, cmd, data, flag, l)
        if error != EPASSTHROUGH:
            return error
    # If this is not the raw partition, punt!
    if DISKPART(dev) != RAW_PART:
        return ENOTTY
    error = EINVAL
    if cmd == MD_GETCONF:
        try:
            umd = data if isinstance(data, md_conf) else md_conf.from_buffer(data)
        except (TypeError, ValueError):
            return EINVAL
        umd.md_addr = 0
        umd.md_size = sc.sc_size
        umd.md_type = sc.sc_type
        error = 0
    # MD_SETCONF: can only set it once, and md_create did.
    return error


def mdsize(dev: int) -> int:
    """d_psize: the unit's size in DEV_BSIZE blocks (0 if there is no such unit)."""
    sc = md_lookup(dev)
    if sc is None or sc.sc_type == MD_UNCONFIGURED:
        return 0
    return sc.sc_size >> DEV_BSHIFT


async def mddump(dev: int, blkno: int, va: Any, size: int) -> int:
    """d_dump: write ``size`` bytes of ``va`` at block ``blkno``."""
    sc = md_lookup(dev)
    if sc is None or sc.sc_addr is None:
        return ENXIO
    if blkno < 0 or size < 0 or dbtob(blkno) + size > sc.sc_size:
        return EINVAL
    try:
        src = memoryview(va).cast("B")
    except (TypeError, ValueError):
        return EINVAL
    if len(src) < size:
        return EINVAL
    off = dbtob(blkno)
    sc.sc_addr[off:off + size] = src[:size]
    return 0


md_bdevsw = bdevsw(
    d_open=mdopen,
    d_close=mdclose,
    d_strategy=mdstrategy,
    d_ioctl=mdioctl,
    d_dump=mddump,
    d_psize=mdsize,
    d_flag=D_DISK,
)

md_cdevsw = cdevsw(
    d_open=mdopen,
    d_close=mdclose,
    d_read=mdread,
    d_write=mdwrite,
    d_ioctl=mdioctl,
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap=nommap,
    d_kqfilter=nokqfilter,
    d_flag=D_DISK,
)

mddkdriver = dkdriver(d_strategy=mdstrategy, d_minphys=minphys)


def mdattach(n: Any = 0) -> int:
    """File md's switches with devsw; 0 if already done.

    NetBSD's pseudo-device attach (``n`` units, ignored); it also works as a
    boot hook ("dev.md:mdattach", called with the machine).
    """
    g = _md()
    if g.attached:
        return 0
    bmajor, cmajor = MD_BMAJOR, MD_CMAJOR
    if any(name == "md" for name, _b, _c in devsw_conv_table()):
        bmajor = cmajor = -1  # the configuration's table decides
    error, bmajor, cmajor = devsw_attach("md", md_bdevsw, bmajor, md_cdevsw, cmajor)
    if error:
        return error
    g.md_bmajor, g.md_cmajor = bmajor, cmajor
    g.attached = True
    if not g.shutdownhook:
        g.shutdownhook = True
        shutdownhook_establish(md_shutdown)
    return 0


async def md_shutdown() -> None:
    """The halt's detach of the units (md_detach with DETACH_SHUTDOWN, md.c's
    DVF_DETACH_SHUTDOWN): a unit not open goes, its memory freed; an open one
    stays (EBUSY).  It runs after every file system is unmounted
    (kern/machdep.py's cpu_reboot); kemu's md has no autoconf attachment for
    config_detach_all to reach, so it is a shutdown hook."""
    for unit in sorted(_md().units):
        md_destroy(unit)


def mddetach() -> int:
    """Withdraw the switches; EBUSY while units exist."""
    g = _md()
    if not g.attached:
        return 0
    if g.units:
        return EBUSY
    devsw_detach(md_bdevsw, md_cdevsw)
    g.attached = False
    return 0


def md_lookup(dev: int) -> md_softc | None:
    """The unit ``dev`` belongs to, or None."""
    if not isinstance(dev, int) or dev < 0:
        return None
    return _md().units.get(DISKUNIT(dev))


def md_set_disklabel(sc: md_softc) -> None:
    """A fictitious label and geometry: partitions a and d cover the disk."""
    dk = sc.sc_dkdev
    lp = dk.dk_label
    assert lp is not None
    ctypes.memset(ctypes.addressof(lp), 0, ctypes.sizeof(lp))
    lp.d_secsize = DEV_BSIZE
    lp.d_secperunit = min(sc.sc_size // DEV_BSIZE, 0xFFFFFFFF)
    if lp.d_secperunit >= 32 * 64:
        lp.d_nsectors = 32
        lp.d_ntracks = 64
        lp.d_ncylinders = lp.d_secperunit // (32 * 64)
    else:
        lp.d_nsectors = 1
        lp.d_ntracks = 1
        lp.d_ncylinders = lp.d_secperunit
    lp.d_secpercyl = lp.d_ntracks * lp.d_nsectors
    lp.d_typename = b"md"
    lp.d_type = DTYPE_MD
    lp.d_packname = b"fictitious"
    lp.d_rpm = 3600
    lp.d_interleave = 1
    lp.d_flags = 0

    pp = lp.d_partitions[0]
    pp.p_offset = 0
    pp.p_size = lp.d_secperunit
    pp.p_fstype = FS_BSDFFS

    pp = lp.d_partitions[RAW_PART]
    pp.p_offset = 0
    pp.p_size = lp.d_secperunit
    pp.p_fstype = FS_UNUSED

    lp.d_npartitions = RAW_PART + 1
    lp.d_magic = DISKMAGIC
    lp.d_magic2 = DISKMAGIC
    lp.d_checksum = 0
    lp.d_checksum = dkcksum(lp)

    dg = dk.dk_geom
    dg.dg_secsize = lp.d_secsize
    dg.dg_secperunit = sc.sc_size // DEV_BSIZE
    dg.dg_nsectors = lp.d_nsectors
    dg.dg_ntracks = lp.d_ntracks
    dg.dg_ncylinders = lp.d_ncylinders
    disk_set_info(None, dk, None)


def md_create(unit: int, size: int) -> tuple[int, int]:
    """Create memory disk md<unit> of ``size`` bytes: ``(error, dev of md<unit>d)``.

    EINVAL for a bad unit number or a size that is not a positive multiple
    of DEV_BSIZE, EEXIST if the unit exists, or devsw_attach's error.
    """
    if not isinstance(unit, int) or not isinstance(size, int) or isinstance(unit, bool):
        return EINVAL, NODEV
    if unit < 0 or unit > MD_MAXUNIT or size <= 0 or size % DEV_BSIZE:
        return EINVAL, NODEV
    error = mdattach(1)
    if error:
        return error, NODEV
    g = _md()
    if unit in g.units:
        return EEXIST, NODEV

    sc = md_softc(unit)
    disk_init(sc.sc_dkdev, f"md{unit}", mddkdriver)
    disk_attach(sc.sc_dkdev)
    sc.sc_addr = kmem_zalloc(size, KM_SLEEP)
    sc.sc_size = size
    sc.sc_type = MD_KMEM_ALLOCATED
    md_set_disklabel(sc)
    g.units[unit] = sc
    aprint_normal("md%d: %d bytes of memory disk\n", unit, size)
    return 0, MAKEDISKDEV(g.md_bmajor, unit, RAW_PART)


def md_destroy(unit: int) -> int:
    """Remove memory disk md<unit>: ENXIO if there is none, EBUSY while it is open."""
    g = _md()
    sc = g.units.get(unit) if isinstance(unit, int) else None
    if sc is None:
        return ENXIO
    if sc.sc_dkdev.dk_openmask:
        return EBUSY
    del g.units[unit]
    disk_detach(sc.sc_dkdev)
    disk_destroy(sc.sc_dkdev)
    if sc.sc_addr is not None:
        kmem_free(sc.sc_addr, sc.sc_size)
        sc.sc_addr = None
    sc.sc_type = MD_UNCONFIGURED
    return 0


def md_disk(unit: int) -> disk | None:
    """The struct disk of md<unit> (statistics, label), or None."""
    sc = _md().units.get(unit)
    return sc.sc_dkdev if sc is not None else None
