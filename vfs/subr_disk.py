"""Generic disk support, disk(9), and I/O statistics, iostat(9).

Ports the parts of NetBSD's sys/kern/subr_disk.c (NetBSD 8), sys/kern/
subr_iostat.c and ``getdisksize`` of sys/kern/subr_disk_open.c (rev 1.12)
that disk drivers and fss(4) use:

* ``struct disk`` and its life cycle: ``disk_init`` (name, driver),
  ``disk_attach`` (in-core label, statistics record on the machine's iostat
  list), ``disk_detach``, ``disk_destroy``;
* statistics: ``disk_busy`` / ``disk_unbusy`` (transfers, bytes, read/write
  split, busy time and timestamps on the machine's clock); an unbalanced
  ``disk_unbusy`` panics, as iostat_unbusy does;
* ``disk_find`` by name, ``disk_set_info`` (geometry), ``disk_ioctl`` (the
  generic DIOCGSECTORSIZE, DIOCGMEDIASIZE, DIOCGDINFO, DIOCGPART);
* ``bounds_check_with_mediasize`` (with the later rejection of negative
  block numbers) and ``bounds_check_with_label``;
* ``async getdisksize(vp) -> (error, numsec, secsize)``: DIOCGWEDGEINFO,
  then DIOCGPART, through VOP_IOCTL on the device vnode.

The statistics list is per machine.  Nothing here sleeps except getdisksize.

subr_disk.c was compared against ``$NetBSD: subr_disk.c,v 1.113
2015/05/14$`` (the stored revision of the NetBSD 8 era).  Notices in
LICENSE.NetBSD.

Deviations:

* ``bounds_check_with_label`` sets no b_cylinder; a disk without a label
  is EINVAL.
* ``disk_ioctl``: DIOCGDINFO on a disk without a label is ENOTTY (1.113
  copies through the NULL label); no DIOCGDISKINFO and no wedge ioctls (DIOCAWEDGE, DIOCDWEDGE,
  DIOCLWEDGES, DIOCMWEDGES fall through as EPASSTHROUGH); the label is
  copied with ``_copy_struct`` (EINVAL for a buffer too small).
* ``disk_set_info`` makes up 32 sectors and 64 tracks when the geometry
  has none and fills dg_secpercyl, never computes dg_secperunit from the
  CHS values, does not return early when both dg_secperunit and
  dg_ncylinders are 0, and keeps dk_info as a Python dict (no proplib,
  no device properties).
* ``disk_io_faults`` (kemu's fault sites "disk.read", "disk.write",
  "disk.slow", "disk.short") is kemu's.
* ``struct io_stats`` keeps io_timestamp and io_time as integer
  microseconds (``io_timestamp_us``, ``io_time_us``), so that
  iostat_busy/iostat_unbusy (every transfer) do timersub/timeradd as one
  subtraction and one addition, with the same values (the times are whole
  microseconds: getmicrouptime's).
"""

from __future__ import annotations

from typing import Any

from kern.cpu import MachineLocal, curmachine, curmachine_or_none
from kern.errno import EBUSY, EINVAL, ENODEV, ENOTTY, EPASSTHROUGH, EROFS
from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_destroy, mutex_init
from kern.kern_time import timeval
from kern.kern_types import NODEV, sizeof
from kern.subr_fault import fault_check, fault_inject, fault_site
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import panic, printf
from vfs.buf import B_READ, buf
from vfs.dkio import (
    DIOCGDINFO,
    DIOCGMEDIASIZE,
    DIOCGPART,
    DIOCGSECTORSIZE,
    DIOCGWEDGEINFO,
    DISKPART,
    LABELSECTOR,
    RAW_PART,
    disklabel,
    dkwedge_info,
    ioctl_store,
    off_t,
    partinfo,
    u_int,
)
from vfs.vfs_bio import DEV_BSHIFT, DEV_BSIZE, MAXBSIZE

# ------------------------------------------------------------ sys/iostat.h

IOSTATNAMELEN = 16

IOSTAT_DISK = 0
IOSTAT_TAPE = 1
IOSTAT_NFS = 2


class io_stats:
    """struct io_stats: the statistics of one device."""

    __slots__ = ("io_name", "io_parent", "io_type", "io_busy", "io_rxfer", "io_wxfer",
                 "io_seek", "io_rbytes", "io_wbytes", "io_attachtime", "io_timestamp_us",
                 "io_time_us")

    _c_sizeof = 128

    def __init__(self) -> None:
        self.io_name = ""
        self.io_parent: Any = None
        self.io_type = IOSTAT_DISK
        self.io_busy = 0      # transfers in progress
        self.io_rxfer = 0     # completed read transfers
        self.io_wxfer = 0     # completed write transfers
        self.io_seek = 0
        self.io_rbytes = 0
        self.io_wbytes = 0
        self.io_attachtime = timeval()
        # kemu: io_timestamp (when the busy count last changed) and io_time
        # (total time busy) in microseconds (see the deviations)
        self.io_timestamp_us = 0
        self.io_time_us = 0

    def __repr__(self) -> str:
        return (f"<io_stats {self.io_name} busy={self.io_busy} r={self.io_rxfer}/"
                f"{self.io_rbytes}B w={self.io_wxfer}/{self.io_wbytes}B>")


class _Iostat:
    def __init__(self) -> None:
        self.iostatlist: list[io_stats] = []


_iostat = MachineLocal(_Iostat, "iostat list")


def _microuptime_us() -> int:
    """getmicrouptime(9), in microseconds since boot."""
    # (Machine.now()'s seconds, inlined: two transfers of every disk I/O read
    # it; round() of a float is already an int)
    m = curmachine_or_none()
    if m is None:
        m = curmachine()  # raises: not in a machine
    return round(m.cpu.now_ns() / 1e9 * 1e6)


def _getmicrouptime(tv: timeval) -> None:
    tv.tv_sec, tv.tv_usec = divmod(_microuptime_us(), 1_000_000)


def _tv_us(tv: timeval) -> int:
    return tv.tv_sec * 1_000_000 + tv.tv_usec


def iostat_alloc(type: int, parent: Any, name: str) -> io_stats:
    """A statistics record for ``name``, put on this machine's iostat list."""
    stats = kmem_zalloc(sizeof(io_stats), KM_SLEEP)
    stats.io_type = type
    stats.io_parent = parent
    stats.io_name = (name or "")[:IOSTATNAMELEN - 1]
    _getmicrouptime(stats.io_attachtime)
    _iostat().iostatlist.append(stats)
    return stats


def iostat_free(stats: io_stats) -> None:
    lst = _iostat().iostatlist
    if stats in lst:
        lst.remove(stats)
    kmem_free(stats, sizeof(io_stats))


def iostat_find(name: str) -> io_stats | None:
    for stats in _iostat().iostatlist:
        if stats.io_name == name:
            return stats
    return None


def iostat_busy(stats: io_stats) -> None:
    """A transfer starts."""
    if stats.io_busy == 0:
        stats.io_timestamp_us = _microuptime_us()  # getmicrouptime(&stats->io_timestamp)
    stats.io_busy += 1


def iostat_unbusy(stats: io_stats, bcount: int, read: int) -> None:
    """A transfer of ``bcount`` bytes ended; panics without a matching iostat_busy."""
    if stats.io_busy == 0:
        printf("%s: busy < 0\n", stats.io_name)
        panic("iostat_unbusy")
    stats.io_busy -= 1
    # timersub(now, io_timestamp) added to io_time (timeradd); io_timestamp
    # = now: in microseconds (see the deviations).
    now = _microuptime_us()
    stats.io_time_us += now - stats.io_timestamp_us
    stats.io_timestamp_us = now
    if bcount > 0:
        if read:
            stats.io_rbytes += bcount
            stats.io_rxfer += 1
        else:
            stats.io_wbytes += bcount
            stats.io_wxfer += 1


def iostat_isbusy(stats: io_stats) -> bool:
    return stats.io_busy != 0


def iostat_list() -> list[dict[str, Any]]:
    """This machine's statistics, as iostat(8) would collect them (hw.iostats)."""
    out = []
    for s in _iostat().iostatlist:
        out.append({
            "name": s.io_name, "type": s.io_type, "busy": s.io_busy,
            "rxfer": s.io_rxfer, "wxfer": s.io_wxfer, "xfer": s.io_rxfer + s.io_wxfer,
            "rbytes": s.io_rbytes, "wbytes": s.io_wbytes,
            "bytes": s.io_rbytes + s.io_wbytes, "seek": s.io_seek,
            "attachtime": _tv_us(s.io_attachtime) / 1e6,
            "timestamp": s.io_timestamp_us / 1e6,
            "time": s.io_time_us / 1e6,
        })
    return out


# --------------------------------------------------------------- sys/disk.h

class disk_geom:
    """struct disk_geom: the cooked geometry of a disk."""

    __slots__ = ("dg_secperunit", "dg_secsize", "dg_nsectors", "dg_ntracks",
                 "dg_ncylinders", "dg_secpercyl", "dg_pcylinders", "dg_sparespertrack",
                 "dg_sparespercyl", "dg_acylinders")

    def __init__(self) -> None:
        for s in self.__slots__:
            setattr(self, s, 0)


class dkdriver:
    """struct dkdriver: what generic disk code may call in the driver."""

    def __init__(self, d_strategy: Any = None, d_minphys: Any = None, d_open: Any = None,
                 d_close: Any = None, d_diskstart: Any = None, d_iosize: Any = None,
                 d_dumpblocks: Any = None, d_lastclose: Any = None, d_discard: Any = None,
                 d_firstopen: Any = None, d_label: Any = None) -> None:
        self.d_strategy = d_strategy
        self.d_minphys = d_minphys
        self.d_open = d_open
        self.d_close = d_close
        self.d_diskstart = d_diskstart
        self.d_iosize = d_iosize
        self.d_dumpblocks = d_dumpblocks
        self.d_lastclose = d_lastclose
        self.d_discard = d_discard
        self.d_firstopen = d_firstopen
        self.d_label = d_label


# dk_state
DK_CLOSED = 0
DK_WANTOPEN = 1
DK_WANTOPENRAW = 2
DK_RDLABEL = 3
DK_OPEN = 4
DK_OPENRAW = 5


def _ffs(x: int) -> int:
    return (x & -x).bit_length() if x else 0


def DK_BSIZE2BLKSHIFT(b: int) -> int:
    return _ffs(b // DEV_BSIZE) - 1


def DK_BSIZE2BYTESHIFT(b: int) -> int:
    return _ffs(b) - 1


def powerof2(x: int) -> bool:
    return (x & (x - 1)) == 0


class disk:
    """struct disk: the generic part of a disk driver's softc."""

    _c_sizeof = 256

    def __init__(self) -> None:
        self.dk_name: str | None = None
        self.dk_info: Any = None
        self.dk_geom = disk_geom()
        self.dk_bopenmask = 0
        self.dk_copenmask = 0
        self.dk_openmask = 0
        self.dk_state = DK_CLOSED
        self.dk_blkshift = 0
        self.dk_byteshift = 0
        self.dk_stats: io_stats | None = None
        self.dk_driver: dkdriver | None = None
        self.dk_rawlock = kmutex_t()
        self.dk_rawopens = 0
        self.dk_rawvp: Any = None
        self.dk_openlock = kmutex_t()
        self.dk_nwedges = 0
        self.dk_wedges: list[Any] = []
        self.dk_labelsector = LABELSECTOR
        self.dk_label: disklabel | None = None
        self.dk_cpulabel: Any = None

    def __repr__(self) -> str:
        return f"<disk {self.dk_name} stats={self.dk_stats!r}>"


class cpu_disklabel:
    """struct cpu_disklabel (amd64): where the MBR and label were found."""

    __slots__ = ("cd_labelsector", "cd_labeloffset", "cd_start")

    _c_sizeof = 16

    def __init__(self) -> None:
        self.cd_labelsector = 0
        self.cd_labeloffset = 0
        self.cd_start = 0


def disk_find(name: str) -> disk | None:
    """The attached disk called ``name``, or None."""
    stat = iostat_find(name)
    if stat is not None and stat.io_type == IOSTAT_DISK:
        return stat.io_parent
    return None


def disk_blocksize(diskp: disk, blocksize: int) -> None:
    """Set the physical sector size of a disk (only if not DEV_BSIZE)."""
    diskp.dk_blkshift = DK_BSIZE2BLKSHIFT(blocksize)
    diskp.dk_byteshift = DK_BSIZE2BYTESHIFT(blocksize)


def disk_init(diskp: disk, name: str, driver: dkdriver | None) -> None:
    """Prepare ``diskp`` for use under ``name`` (not yet visible to iostat)."""
    dk_rawlock = diskp.dk_rawlock
    mutex_init(dk_rawlock, MUTEX_DEFAULT, IPL_NONE)
    dk_openlock = diskp.dk_openlock
    mutex_init(dk_openlock, MUTEX_DEFAULT, IPL_NONE)
    diskp.dk_wedges = []
    diskp.dk_nwedges = 0
    diskp.dk_labelsector = LABELSECTOR
    disk_blocksize(diskp, DEV_BSIZE)
    diskp.dk_name = name
    diskp.dk_driver = driver


def disk_attach(diskp: disk) -> None:
    """Give the disk its in-core label and put its statistics on the iostat list."""
    diskp.dk_label = kmem_zalloc(sizeof(disklabel), KM_SLEEP)
    diskp.dk_cpulabel = kmem_zalloc(sizeof(cpu_disklabel), KM_SLEEP)
    diskp.dk_stats = iostat_alloc(IOSTAT_DISK, diskp, diskp.dk_name or "")


def disk_begindetach(dk: disk, lastclose: Any, self: Any, flags: int) -> int:
    """EBUSY while the disk is open (unless forced, when ``lastclose`` closes it)."""
    from kern.errno import EBUSY
    from kern.subr_autoconf import DETACH_FORCE

    if dk.dk_openmask == 0:
        return 0
    if not flags & DETACH_FORCE:
        return EBUSY
    if lastclose is not None:
        rc = lastclose(self)
        if rc:
            return rc
    return 0


def disk_detach(diskp: disk) -> None:
    """Take the disk off the iostat list and free its label."""
    if diskp.dk_stats is not None:
        iostat_free(diskp.dk_stats)
        diskp.dk_stats = None
    diskp.dk_info = None
    if diskp.dk_label is not None:
        kmem_free(diskp.dk_label, sizeof(disklabel))
        diskp.dk_label = None
    if diskp.dk_cpulabel is not None:
        kmem_free(diskp.dk_cpulabel, sizeof(cpu_disklabel))
        diskp.dk_cpulabel = None


def disk_destroy(diskp: disk) -> None:
    """Undo disk_init."""
    mutex_destroy(diskp.dk_openlock)
    mutex_destroy(diskp.dk_rawlock)


def disk_busy(diskp: disk) -> None:
    """A transfer starts on the disk (statistics only)."""
    if diskp.dk_stats is None:
        panic("disk_busy: disk %s is not attached", diskp.dk_name)
    iostat_busy(diskp.dk_stats)  # type: ignore[arg-type]


def disk_unbusy(diskp: disk, bcount: int, read: int) -> None:
    """A transfer of ``bcount`` bytes ended (``read`` true for a read)."""
    if diskp.dk_stats is None:
        panic("disk_unbusy: disk %s is not attached", diskp.dk_name)
    iostat_unbusy(diskp.dk_stats, bcount, read)  # type: ignore[arg-type]


def disk_isbusy(diskp: disk) -> bool:
    return diskp.dk_stats is not None and iostat_isbusy(diskp.dk_stats)


def disk_set_info(dev: Any, dk: disk, type: str | None) -> None:
    """Fill in what the geometry implies (sector shifts, a fictitious CHS if missing)."""
    dg = dk.dk_geom
    if dg.dg_secsize == 0:
        dg.dg_secsize = DEV_BSIZE
    dk.dk_blkshift = DK_BSIZE2BLKSHIFT(dg.dg_secsize)
    dk.dk_byteshift = DK_BSIZE2BYTESHIFT(dg.dg_secsize)
    if dg.dg_nsectors == 0:
        if dg.dg_ntracks == 0:
            dg.dg_ntracks = 64
        dg.dg_nsectors = 32
    if dg.dg_ncylinders == 0 and dg.dg_ntracks and dg.dg_nsectors:
        dg.dg_ncylinders = dg.dg_secperunit // (dg.dg_ntracks * dg.dg_nsectors)
    if dg.dg_secpercyl == 0:
        dg.dg_secpercyl = dg.dg_ntracks * dg.dg_nsectors
    dk.dk_info = {
        "geometry": {
            "sectors-per-unit": dg.dg_secperunit, "sector-size": dg.dg_secsize,
            "sectors-per-track": dg.dg_nsectors, "tracks-per-cylinder": dg.dg_ntracks,
            "cylinders-per-unit": dg.dg_ncylinders,
        },
        "type": type,
    }


def disk_ioctl(dk: disk, dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    """The disk ioctls every disk answers the same way; EPASSTHROUGH for the others."""
    if cmd == DIOCGSECTORSIZE:
        return ioctl_store(data, u_int, dk.dk_geom.dg_secsize)
    if cmd == DIOCGMEDIASIZE:
        return ioctl_store(data, off_t, dk.dk_geom.dg_secsize * dk.dk_geom.dg_secperunit)

    if dev == NODEV:
        return EPASSTHROUGH

    if cmd == DIOCGDINFO:
        if dk.dk_label is None:
            return ENOTTY
        return _copy_struct(data, dk.dk_label)
    if cmd == DIOCGPART:
        if dk.dk_label is None:
            return EBUSY
        if isinstance(data, partinfo):
            data.disklab = dk.dk_label
            data.part = dk.dk_label.d_partitions[DISKPART(dev)]
        # Handed a plain buffer (ioctl(2)), the kernel pointers would stay in
        # the kernel anyway: nothing to do.
        return 0
    return EPASSTHROUGH


def _copy_struct(data: Any, src: Any) -> int:
    """``*(T *)data = *src`` into an ioctl buffer or a ctypes object; EINVAL if too small."""
    import ctypes

    n = ctypes.sizeof(src)
    if isinstance(data, (ctypes.Structure, ctypes.Union)):
        if ctypes.sizeof(data) < n:
            return EINVAL
        ctypes.memmove(ctypes.addressof(data), ctypes.addressof(src), n)
        return 0
    try:
        mv = memoryview(data).cast("B")
    except (TypeError, ValueError):
        return EINVAL
    if len(mv) < n or mv.readonly:
        return EINVAL
    mv[:n] = bytes(src)
    return 0


def bounds_check_with_mediasize(bp: buf, secsize: int, mediasize: int) -> int:
    """Clip ``bp`` to a medium of ``mediasize`` sectors of ``secsize`` bytes.

    1: go ahead (perhaps with a shorter b_bcount).  0: do not transfer --
    exactly at the end (b_resid = b_bcount, no error), or past it or at a
    negative block (b_error = EINVAL).
    """
    if bp.b_blkno < 0:
        # Negative offsets are refused at once (NetBSD after 2018).
        bp.b_error = EINVAL
        return 0

    sz = -(-bp.b_bcount // secsize)  # howmany(b_bcount, secsize)

    if bp.b_blkno + sz > mediasize:
        sz = mediasize - bp.b_blkno
        if sz == 0:
            # Exactly at the end of the disk: end of file.
            bp.b_resid = bp.b_bcount
            return 0
        if sz < 0:
            # Beyond the end of the disk.
            bp.b_error = EINVAL
            return 0
        # Otherwise cut the request short.
        bp.b_bcount = sz * secsize
    return 1


def bounds_check_with_label(dk: disk, bp: buf, wlabel: int) -> int:
    """Clip ``bp`` to its partition of ``dk``'s label; refuse writes over the label.

    1: go ahead; 0: end of partition (b_resid = b_bcount); -1: b_error set.
    """
    lp = dk.dk_label
    if bp.b_blkno < 0:
        bp.b_error = EINVAL  # a negative offset, refused first
        return -1
    if lp is None or lp.d_secpercyl == 0:
        bp.b_error = EINVAL
        return -1
    p = lp.d_partitions[DISKPART(bp.b_dev)]
    p_size = p.p_size << dk.dk_blkshift
    p_offset = p.p_offset << dk.dk_blkshift
    # With the whole disk at 'd' (RAW_PART 3), 'c' is where the label was
    # found (the NetBSD partition of the MBR): the label sector is there.
    labelsector = lp.d_partitions[2 if RAW_PART == 3 else RAW_PART].p_offset
    labelsector = (labelsector + dk.dk_labelsector) << dk.dk_blkshift

    sz = -(-bp.b_bcount // DEV_BSIZE)
    if bp.b_blkno + sz > p_size:
        sz = p_size - bp.b_blkno
        if sz == 0:
            bp.b_resid = bp.b_bcount
            return 0
        if sz < 0:
            bp.b_error = EINVAL
            return -1
        bp.b_bcount = sz << DEV_BSHIFT

    if bp.b_blkno + p_offset <= labelsector and bp.b_blkno + p_offset + sz > labelsector \
            and not bp.b_flags & B_READ and not wlabel:
        bp.b_error = EROFS
        return -1
    return 1


async def getdisksize(vp: Any) -> tuple[int, int, int]:
    """``(error, numsec, secsize)`` of the disk behind device vnode ``vp``.

    Asks DIOCGWEDGEINFO (a wedge: its size, its parent's sector size) and
    then DIOCGPART.  EINVAL if the sector size is 0, above MAXBSIZE or not a
    power of two, or the disk has no sectors.
    """
    from kern.fcntl import FREAD
    from kern.kern_auth import NOCRED
    from vfs.vnode_if import VOP_IOCTL

    secsize = 0
    numsec = 0
    dkw = dkwedge_info()
    error = await VOP_IOCTL(vp, DIOCGWEDGEINFO, dkw, FREAD, NOCRED)
    if error == 0:
        pdk = disk_find(dkw.dkw_parent.decode(errors="replace"))
        if pdk is not None:
            secsize = DEV_BSIZE << pdk.dk_blkshift
            numsec = dkw.dkw_size
        else:
            error = ENODEV

    if error:
        dpart = partinfo()
        error = await VOP_IOCTL(vp, DIOCGPART, dpart, FREAD, NOCRED)
        if error == 0:
            if dpart.disklab is None or dpart.part is None:
                error = EINVAL
            else:
                secsize = dpart.disklab.d_secsize
                numsec = dpart.part.p_size

    if error == 0 and (secsize == 0 or secsize > MAXBSIZE or not powerof2(secsize) or
                       numsec == 0):
        error = EINVAL
    if error:
        return error, 0, 0
    return 0, numsec, secsize


# ------------------------------------------------- kemu: disk fault sites

fault_site("disk.slow", "the transfer first waits ticks=N ticks (default 1)", scope="dev",
           knobs=("ticks",))
fault_site("disk.read", "a read transfer fails with the errno", scope="dev")
fault_site("disk.write", "a write transfer fails with the errno", scope="dev")
fault_site("disk.short", "only done=BYTES are moved (default half, whole blocks), no error",
           scope="dev", knobs=("done",))


async def disk_io_faults(bp: buf) -> tuple[int, int]:
    """The fault-injection sites of kemu's disk drivers: ``(error, bytes to move)``.

    Sites, scoped by device (``k.faults.inject(site, dev=bp.b_dev)``):

    * "disk.slow": the transfer first waits ``extra={"ticks": n}`` ticks of
      virtual time (default 1);
    * "disk.read" / "disk.write": the transfer fails with the fault's error;
    * "disk.short": only ``extra={"done": n}`` bytes are transferred
      (default: half, rounded down to whole blocks) and the buf completes
      without error, with the rest as its residual.
    """
    attr = fault_check("disk.slow", dev=bp.b_dev)
    if attr is not None:
        from kern.kern_synch import kpause

        try:
            ticks = int(attr.extra.get("ticks", 1))
        except (TypeError, ValueError):
            ticks = 1
        await kpause("diskslow", False, max(ticks, 1), None)
    error = fault_inject("disk.read" if bp.b_flags & B_READ else "disk.write", dev=bp.b_dev)
    if error:
        return error, 0
    xfer = bp.b_bcount
    attr = fault_check("disk.short", dev=bp.b_dev)
    if attr is not None:
        done = attr.extra.get("done")
        if done is None:
            done = (bp.b_bcount // 2) // DEV_BSIZE * DEV_BSIZE
        try:
            xfer = max(0, min(int(done), bp.b_bcount))
        except (TypeError, ValueError):
            xfer = 0
    return 0, xfer
