"""Host files as disks and files: rump's etfs and rumpblk.

After NetBSD's sys/rump/librump/rumpvfs/rumpblk.c (as of 2016-2018) and the
etfs ("extra-terrestrial file system") part of rumpfs.c: a rump kernel
makes a file of the host appear inside the kernel under a key path.

``await rump_etfs_register(key, hostpath, ftype, begin=0, size=None) -> int``

* RUMP_ETFS_BLK: the window ``[begin, begin + size)`` of the host file
  becomes a disk: a rumpblk unit with a block device node at ``key`` (e.g.
  "/dev/wd0") and its raw twin (the character device "/dev/rwd0").
* RUMP_ETFS_CHR: the same disk, with only a character device node at ``key``.
* RUMP_ETFS_REG: the host file appears as a regular file at ``key``.  That
  is the root file system's job: it installs a handler with
  ``rump_etfs_set_reg_handler``; this module gives it the host-file I/O
  object, :class:`hostfile`.  Without a handler: EOPNOTSUPP.

``size=None`` means the rest of the host file after ``begin``; a window
reaching past the host file's end extends the file (rump itself refuses
that with EINVAL).  ``await rump_etfs_remove(key) -> int`` undoes a
registration (ENOENT if there is none, EBUSY while the disk is open).

Disk I/O goes to the host file with ``os.preadv`` (into the buf)/``os.pwrite`` at
``begin + offset`` and completes inside the strategy routine.  A host error
becomes EIO on the buf; no Python exception reaches the caller.  The units
have disk(9) statistics (named "rumpblk<N>") and kemu's disk fault sites,
scoped by dev_t: "disk.read", "disk.write", "disk.slow", "disk.short".

The device nodes are made with ``vfs.vfs_syscalls.kern_mknod``; the driver
works through devsw without them.  Majors: RUMPBLK_DEVMAJOR (197, block
and character, from sys/conf/majors) unless the configuration's table has
"rumpblk".  Minors are the unit numbers 0..RUMPBLK_SIZE-1.  Everything is
per machine.  When the machine halts, after its file systems are synced and
unmounted, the host files are fsync'ed and closed (``rumpblk_fini``); when it
crashes, the report names the writable ones as possibly inconsistent.

The driver was compared against ``$NetBSD: rumpblk.c,v 1.60 2015/05/26
pooka$`` (the stored revision of the NetBSD 8 era); the etfs registry
follows rumpfs.c's etfs_register/etfs_remove in kemu's own form (device
nodes made with kern_mknod instead of rumpfs's etfs lookup hook).
Notices in LICENSE.NetBSD.

Deviations from rumpblk.c 1.60:

* No RUMP_BLKFAIL/RUMP_BLKFAIL_SEED random faults (rumpblk_strategy_fail)
  and no RUMP_BLKSECTSHIFT: kemu's fault sites replace the first, the
  sector shift is always DEV_BSHIFT; no evcnt counters, disk(9)
  statistics instead (a ``struct disk`` per unit, "rumpblk<N>").
* ``rumpblk_register`` with a path already registered returns its unit
  only for the same window (EEXIST for another), and counts
  registrations (``rblk_refcnt``): the last ``rumpblk_deregister`` frees
  the unit; 1.60 hands back the unit whatever the window and frees it at
  the first deregister.  A window past the end of a regular host file
  extends the file (EACCES when it opened read-only), where 1.60
  KASSERTs.  The label's partition index is the minor modulo
  MAXPARTITIONS (1.60: the minor itself).
* ``makedefaultlabel`` stores the sector count in d_secperunit, capped at
  32 bits (1.60 stores the byte count there).
* No rumpblk_lock: registration does not sleep.
* ``rumpblk_open`` also refuses a minor without a path, and it and
  ``rumpblk_close`` keep the disk's open masks (1.60's close does
  nothing); a bad dev_t is ENXIO, not an index past ``minors``.
* ``rumpblk_ioctl`` answers ENXIO for a unit that does not exist, copies
  the label through ``_copy_struct``, and also answers DIOCGSECTORSIZE.
* ``rumpblk_size`` is d_psize (1.60: nosize) and the block switch has no
  dump.
* ``dostrategy`` completes inside the call with os.preadv/os.pwrite
  (1.60: rumpuser_bio, asynchronous, synchronous writes get
  RUMPUSER_BIO_SYNC); no fsync per write, the host files are fsync'ed
  at the halt (``rumpblk_fini``, which 1.60 only closes); it also
  refuses a negative offset (EINVAL), a unit without a host file (ENXIO),
  a write to a read-only host file (EIO), and runs the disk fault sites.
* The state is per machine, with crash notes and a halt "medium" name
  (``rumpblk_medium``); ``rumpblk_detach``, ``rumpblk_devs`` and
  ``rumpblk_disk`` are kemu's.
* ``struct rblkdev`` also has ``rblk_hostfds``, the machine's set of open
  host descriptors (one set shared by its units): ``backend_open`` adds the
  descriptor it opens, ``backend_close`` removes it, and a finalizer on the
  machine's rumpblk state closes what is left when a machine that never
  halted (a crash) is collected; it holds the set, not the units, so that
  it keeps none of the machine's kernel objects alive (kern/machine/collect.py).
  ``backend_close`` closes nothing for a unit without a descriptor (1.60
  calls rumpuser_close on -1).
"""

from __future__ import annotations

import ctypes
import errno as host_errno
import os
import stat as host_stat
import weakref
from typing import Any

from kern.conf import D_DISK, bdevsw, cdevsw, nodiscard, nokqfilter, nommap, nopoll, nostop, notty
from kern.cpu import MachineLocal, curmachine
from kern.errno import (
    EACCES,
    EBUSY,
    EEXIST,
    EINVAL,
    EIO,
    ENOENT,
    ENOTTY,
    ENXIO,
    EOPNOTSUPP,
)
from kern.fcntl import FREAD, FWRITE
from kern.kern_mutex import mutex_enter, mutex_exit
from kern.kern_types import NODEV
from kern.machdep import halt_medium_establish, shutdownhook_establish
from kern.subr_devsw import devsw_attach, devsw_conv_table, devsw_detach
from kern.subr_prf import KASSERT
from kern.types_dev import makedev, minor
from vfs.buf import B_READ, buf
from vfs.dkio import (
    DIOCCACHESYNC,
    DIOCGDINFO,
    DIOCGMEDIASIZE,
    DIOCGPART,
    DIOCGSECTORSIZE,
    DISKMAGIC,
    DISKPART,
    DTYPE_RUMPD,
    FS_UNUSED,
    MAXPARTITIONS,
    disklabel,
    ioctl_store,
    off_t,
    partinfo,
    u_int,
)
from vfs.kern_physio import minphys, physio
from vfs.stat import S_IFBLK, S_IFCHR
from vfs.subr_disk import (
    _copy_struct,
    disk,
    disk_attach,
    disk_busy,
    disk_destroy,
    disk_detach,
    disk_init,
    disk_io_faults,
    disk_set_info,
    disk_unbusy,
)
from vfs.vfs_bio import DEV_BSHIFT, biodone

RUMPBLK_DEVMAJOR = 197  # from sys/conf/majors
RUMPBLK_SIZE = 16
RUMPBLK_SIZENOTSET = -1

# enum rump_etfs_type (rump/rump.h)
RUMP_ETFS_REG = 0
RUMP_ETFS_BLK = 1
RUMP_ETFS_CHR = 2
RUMP_ETFS_DIR = 3
RUMP_ETFS_DIR_SUBDIRS = 4

RUMPFS_DEFAULTMODE = 0o755

sectshift = DEV_BSHIFT


# ------------------------------------------------------------ host errors

def host_error(e: BaseException) -> int:
    """A host OSError as NetBSD's errno of the same name (EIO if NetBSD has none)."""
    import kern.errno as kerrno

    name = host_errno.errorcode.get(getattr(e, "errno", None) or 0)
    if name is not None:
        v = getattr(kerrno, name, None)
        if isinstance(v, int) and v > 0:
            return v
    return EIO


class hostfile:
    """A window of a host file, for RUMP_ETFS_REG files of the root file system.

    Every method returns a NetBSD errno first (0 on success); host errors
    are translated by name (ENOENT, EACCES, ENOSPC, ...), others are EIO.
    ``size=None``: the window runs to the end of the host file and follows
    it; a fixed window grows when written past its end.
    """

    def __init__(self, hostpath: str, begin: int = 0, size: int | None = None) -> None:
        self.hf_path = hostpath
        self.hf_begin = begin
        self.hf_size = size
        self.hf_fd = -1
        self.hf_writable = False

    def __repr__(self) -> str:
        return f"<hostfile {self.hf_path!r} +{self.hf_begin} size={self.hf_size}>"

    def open(self) -> int:
        """Open the host file (read-write if allowed, else read-only); 0 or an errno."""
        if self.hf_fd >= 0:
            return 0
        try:
            self.hf_fd = os.open(self.hf_path, os.O_RDWR)
            self.hf_writable = True
        except OSError:
            try:
                self.hf_fd = os.open(self.hf_path, os.O_RDONLY)
                self.hf_writable = False
            except OSError as e:
                return host_error(e)
        return 0

    def close(self) -> int:
        if self.hf_fd >= 0:
            fd, self.hf_fd = self.hf_fd, -1
            try:
                os.close(fd)
            except OSError as e:
                return host_error(e)
        return 0

    def size(self) -> tuple[int, int]:
        """``(error, bytes)`` of the window."""
        if self.hf_size is not None:
            return 0, self.hf_size
        try:
            st = os.stat(self.hf_path)
        except OSError as e:
            return host_error(e), 0
        return 0, max(0, st.st_size - self.hf_begin)

    def _readable(self, off: int, n: int) -> tuple[int, int]:
        """``(error, count)``: how many of ``n`` bytes at window offset ``off`` a read gets."""
        if off < 0:
            return EINVAL, 0
        error = self.open()
        if error:
            return error, 0
        error, sz = self.size()
        if error:
            return error, 0
        return 0, max(0, min(n, sz - off))

    def readinto(self, buf: Any, off: int) -> tuple[int, int]:
        """Read into ``buf`` at window offset ``off``: ``(error, bytes read)``; 0 at the end."""
        mv = memoryview(buf).cast("B")
        error, n = self._readable(off, len(mv))
        if error or not n:
            return error, 0
        try:
            # (straight into the buffer, as the strategy routine's reads)
            return 0, os.preadv(self.hf_fd, [mv[:n]], self.hf_begin + off)
        except OSError as e:
            return host_error(e), 0

    def read(self, off: int, n: int) -> tuple[int, bytes]:
        """``(error, bytes)``: up to ``n`` bytes at window offset ``off``."""
        if n < 0:
            return EINVAL, b""
        error, n = self._readable(off, n)
        if error or not n:
            return error, b""
        try:
            return 0, os.pread(self.hf_fd, n, self.hf_begin + off)
        except OSError as e:
            return host_error(e), b""

    def write(self, data: Any, off: int) -> tuple[int, int]:
        """Write ``data`` at window offset ``off``: ``(error, bytes written)``."""
        if off < 0:
            return EINVAL, 0
        error = self.open()
        if error:
            return error, 0
        if not self.hf_writable:
            return EACCES, 0
        mv = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(mv):
                done += os.pwrite(self.hf_fd, mv[done:], self.hf_begin + off + done)
        except OSError as e:
            return host_error(e), done
        if self.hf_size is not None and off + done > self.hf_size:
            self.hf_size = off + done
        return 0, done

    def truncate(self, size: int) -> int:
        """Make the window ``size`` bytes long (the host file follows)."""
        if size < 0:
            return EINVAL
        error = self.open()
        if error:
            return error
        if not self.hf_writable:
            return EACCES
        try:
            os.ftruncate(self.hf_fd, self.hf_begin + size)
        except OSError as e:
            return host_error(e)
        if self.hf_size is not None:
            self.hf_size = size
        return 0

    def sync(self) -> int:
        if self.hf_fd < 0:
            return 0
        try:
            os.fsync(self.hf_fd)
        except OSError as e:
            return host_error(e)
        return 0


# ------------------------------------------------------------------ rumpblk

class rblkdev:
    """One rumpblk unit: a window of a host file as a disk."""

    def __init__(self) -> None:
        self.rblk_path: str | None = None
        self.rblk_fd = -1
        self.rblk_mode = 0
        self.rblk_size = 0
        self.rblk_hostoffset = 0
        self.rblk_hostsize = 0
        self.rblk_ftype = 0
        self.rblk_label = disklabel()
        self.rblk_refcnt = 0  # kemu: etfs keys using this unit
        self.rblk_dk: disk | None = None
        # kemu: the host descriptors open in the machine's units (one set for
        # all of them), for the finalizer of _RumpblkGlobals.
        self.rblk_hostfds: set[int] = set()


def _close_fds(hostfds: set[int], etfss: dict[str, etfs]) -> None:
    for fd in hostfds:
        try:
            os.close(fd)
        except OSError:
            pass
    hostfds.clear()
    for et in etfss.values():
        if et.et_hostfile is not None:
            et.et_hostfile.close()


class _RumpblkGlobals:
    def __init__(self) -> None:
        self.minors = [rblkdev() for _ in range(RUMPBLK_SIZE)]
        self.hostfds: set[int] = set()
        for rblk in self.minors:
            rblk.rblk_hostfds = self.hostfds
        self.bmajor = -1
        self.cmajor = -1
        self.attached = False
        self.established = False  # kemu: the shutdown hook and the crash note
        self.etfs: dict[str, etfs] = {}
        self.reg_handler: Any = None
        # Host descriptors must not outlive the machine, even one that crashed.
        # Not at interpreter exit: a machine still running is halted then
        # (kern/machine), and its file systems need the disks until the end.
        # The finalizer holds the descriptors, not the units: weakref.finalize's
        # registry holds it until it runs, so the units' disks (cycles of
        # statistics and locks) would outlive the collection that frees the
        # machine, in the old generation (kern/machine/collect.py).
        weakref.finalize(self, _close_fds, self.hostfds, self.etfs).atexit = False


_rumpblk = MachineLocal(_RumpblkGlobals, "rumpblk")


def makedefaultlabel(lp: disklabel, size: int, part: int) -> None:
    """The label of a unit: one partition (index ``part``) covering it."""
    ctypes.memset(ctypes.addressof(lp), 0, ctypes.sizeof(lp))
    nsec = size >> sectshift
    # rump stores the byte count in d_secperunit; kemu keeps it in sectors.
    lp.d_secperunit = min(nsec, 0xFFFFFFFF)
    lp.d_secsize = 1 << sectshift
    lp.d_nsectors = min(nsec, 0xFFFFFFFF)
    lp.d_ntracks = 1
    lp.d_ncylinders = 1
    lp.d_secpercyl = lp.d_nsectors
    lp.d_typename = b"rumpd"
    lp.d_packname = b"fictitious"
    lp.d_type = DTYPE_RUMPD
    lp.d_rpm = 11
    lp.d_interleave = 1
    lp.d_flags = 0
    for i in range(part):
        lp.d_partitions[i].p_fstype = FS_UNUSED
    lp.d_partitions[part].p_size = min(nsec, 0xFFFFFFFF)
    lp.d_npartitions = part + 1
    lp.d_magic = DISKMAGIC
    lp.d_magic2 = DISKMAGIC
    lp.d_checksum = 0


def rumpblk_init(machine: Any = None) -> int:
    """File rumpblk's switches with devsw (once per machine; also a boot hook)."""
    g = _rumpblk()
    if g.attached:
        return 0
    maj = RUMPBLK_DEVMAJOR
    bmaj = cmaj = maj
    if any(name == "rumpblk" for name, _b, _c in devsw_conv_table()):
        bmaj = cmaj = -1
    error, bmaj, cmaj = devsw_attach("rumpblk", rumpblk_bdevsw, bmaj, rumpblk_cdevsw, cmaj)
    if error:
        return error
    g.bmajor, g.cmajor = bmaj, cmaj
    g.attached = True
    _establish()
    return 0


def _establish() -> None:
    """Once per machine: close the host files at the halt, name them in a crash."""
    g = _rumpblk()
    if g.established:
        return
    g.established = True

    async def rumpblk_shutdown() -> None:
        rumpblk_fini()

    shutdownhook_establish(rumpblk_shutdown)
    halt_medium_establish(rumpblk_medium)
    curmachine().crash_note_hooks.append(rumpblk_crash_notes)


def rumpblk_medium(special: str) -> str | None:
    """"host image PATH" when device node ``special`` is a registered disk's key
    (for the halt's warning about a file system it could not unmount)."""
    g = _rumpblk()
    et = g.etfs.get(special)
    if et is None or et.et_blkmin < 0:
        return None
    return f"host image {g.minors[et.et_blkmin].rblk_path}"


def rumpblk_fini() -> None:
    """Flush and close every host file (the machine is going down).

    The halt runs this after every file system is synced and unmounted
    (kern/machdep.py).  kemu: writes reach the host's page cache as they
    happen (no fsync per write, unlike rumpuser_bio's synchronous writes);
    here each writable host file is fsync'ed once before it is closed, as a
    disk's write cache is flushed when NetBSD shuts down.
    """
    g = _rumpblk()
    for rblk in g.minors:
        if rblk.rblk_fd >= 0 and rblk.rblk_mode & FWRITE:
            try:
                os.fsync(rblk.rblk_fd)
            except OSError:
                pass  # a pipe or device that cannot sync: nothing more to do
    for et in g.etfs.values():
        if et.et_hostfile is not None:
            et.et_hostfile.sync()
    for rblk in g.minors:
        backend_close(rblk)
    _close_fds(g.hostfds, g.etfs)


def rumpblk_crash_notes(m: Any) -> list[str]:
    """The report's lines for a crash: the writable host files this machine had open."""
    g = _rumpblk.of(m)
    notes = []
    for i, rblk in enumerate(g.minors):
        if rblk.rblk_path is not None and rblk.rblk_fd >= 0 and rblk.rblk_mode & FWRITE:
            keys = [et.et_key for et in g.etfs.values() if et.et_blkmin == i]
            notes.append(_crash_note(rblk.rblk_path, keys))
    for et in g.etfs.values():
        hf = et.et_hostfile
        if hf is not None and hf.hf_fd >= 0 and hf.hf_writable:
            notes.append(_crash_note(hf.hf_path, [et.et_key]))
    return notes


def _crash_note(path: str, keys: list[str]) -> str:
    at = f" ({', '.join(keys)})" if keys else ""
    return (f"host image {path}{at} may be inconsistent: the machine crashed without "
            "syncing or unmounting its file systems")


def rumpblk_register(path: str, offset: int, size: int) -> tuple[int, int]:
    """Make ``[offset, offset + size)`` of host file ``path`` a unit: ``(error, minor)``.

    A path already registered gives its unit again (rump's behaviour) if the
    window is the same (EEXIST otherwise); kemu counts the registrations and
    frees the unit with the last deregister.
    ``size`` RUMPBLK_SIZENOTSET means up to the end of the file.
    """
    error = rumpblk_init()
    if error:
        return error, -1
    try:
        st = os.stat(path)
    except OSError as e:
        return host_error(e), -1
    if not (host_stat.S_ISREG(st.st_mode) or host_stat.S_ISBLK(st.st_mode) or
            host_stat.S_ISCHR(st.st_mode)):
        return EINVAL, -1
    flen = st.st_size

    g = _rumpblk()
    for i, rblk in enumerate(g.minors):
        if rblk.rblk_path is not None and rblk.rblk_path == path:
            want = rblk.rblk_size if size == RUMPBLK_SIZENOTSET else size
            if offset != rblk.rblk_hostoffset or want != rblk.rblk_size:
                return EEXIST, -1  # kemu: one window per host file
            rblk.rblk_refcnt += 1
            return 0, i
    free = [i for i, r in enumerate(g.minors) if r.rblk_path is None]
    if not free:
        return EBUSY, -1
    i = free[0]
    rblk = g.minors[i]

    rblk.rblk_path = path
    rblk.rblk_hostoffset = offset
    if size != RUMPBLK_SIZENOTSET:
        rblk.rblk_size = size
    else:
        rblk.rblk_size = max(0, flen - offset)
    rblk.rblk_hostsize = flen
    rblk.rblk_ftype = st.st_mode & 0o170000
    makedefaultlabel(rblk.rblk_label, rblk.rblk_size, i % MAXPARTITIONS)

    error = backend_open(rblk, path)
    if error == 0 and host_stat.S_ISREG(st.st_mode) and offset + rblk.rblk_size > flen:
        # kemu: a window past the end of the host file extends the file.
        if not rblk.rblk_mode & FWRITE:
            error = EACCES
        else:
            try:
                os.ftruncate(rblk.rblk_fd, offset + rblk.rblk_size)
                rblk.rblk_hostsize = offset + rblk.rblk_size
            except OSError as e:
                error = host_error(e)
        if error:
            backend_close(rblk)
    if error:
        rblk.rblk_label = disklabel()
        rblk.rblk_path = None
        return error, -1

    dk = disk()
    disk_init(dk, f"rumpblk{i}", None)
    disk_attach(dk)
    dk.dk_geom.dg_secsize = 1 << sectshift
    dk.dk_geom.dg_secperunit = rblk.rblk_size >> sectshift
    disk_set_info(None, dk, None)
    rblk.rblk_dk = dk
    rblk.rblk_refcnt = 1
    return 0, i


def rumpblk_deregister(path: str) -> int:
    """Drop one registration of ``path``; the last one frees the unit.  ENOENT if none."""
    g = _rumpblk()
    for rblk in g.minors:
        if rblk.rblk_path is not None and rblk.rblk_path == path:
            break
    else:
        return ENOENT
    rblk.rblk_refcnt -= 1
    if rblk.rblk_refcnt > 0:
        return 0
    backend_close(rblk)
    if rblk.rblk_dk is not None:
        disk_detach(rblk.rblk_dk)
        disk_destroy(rblk.rblk_dk)
        rblk.rblk_dk = None
    rblk.rblk_path = None
    rblk.rblk_label = disklabel()
    rblk.rblk_size = 0
    return 0


def backend_open(rblk: rblkdev, path: str) -> int:
    KASSERT(rblk.rblk_fd == -1)
    try:
        fd = os.open(path, os.O_RDWR)
        rblk.rblk_mode = FREAD | FWRITE
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as e:
            return host_error(e)
        rblk.rblk_mode = FREAD
    rblk.rblk_fd = fd
    KASSERT(rblk.rblk_fd != -1)
    rblk.rblk_hostfds.add(fd)
    return 0


def backend_close(rblk: rblkdev) -> int:
    if rblk.rblk_fd >= 0:
        rblk.rblk_hostfds.discard(rblk.rblk_fd)
        try:
            os.close(rblk.rblk_fd)
        except OSError:
            pass
    rblk.rblk_fd = -1
    return 0


def _rblk(dev: int) -> rblkdev | None:
    if not isinstance(dev, int) or dev == NODEV:
        return None
    m = minor(dev)
    if m < 0 or m >= RUMPBLK_SIZE:
        return None
    rblk = _rumpblk().minors[m]
    return rblk if rblk.rblk_path is not None else None


async def rumpblk_open(dev: int, flag: int, fmt: int, l: Any) -> int:
    rblk = _rblk(dev)
    if rblk is None or rblk.rblk_fd == -1:
        return ENXIO
    if (flag & (FREAD | FWRITE)) & ~rblk.rblk_mode:
        return EACCES
    dk = rblk.rblk_dk
    if dk is not None:
        pmask = 1 << DISKPART(dev)
        await mutex_enter(dk.dk_openlock)
        if fmt == S_IFCHR:
            dk.dk_copenmask |= pmask
        else:
            dk.dk_bopenmask |= pmask
        dk.dk_openmask = dk.dk_copenmask | dk.dk_bopenmask
        mutex_exit(dk.dk_openlock)
    return 0


async def rumpblk_close(dev: int, flag: int, fmt: int, l: Any) -> int:
    rblk = _rblk(dev)
    if rblk is None:
        return 0
    dk = rblk.rblk_dk
    if dk is not None:
        pmask = 1 << DISKPART(dev)
        await mutex_enter(dk.dk_openlock)
        if fmt == S_IFCHR:
            dk.dk_copenmask &= ~pmask
        else:
            dk.dk_bopenmask &= ~pmask
        dk.dk_openmask = dk.dk_copenmask | dk.dk_bopenmask
        mutex_exit(dk.dk_openlock)
    return 0


async def rumpblk_ioctl(dev: int, xfer: int, addr: Any, flag: int, l: Any) -> int:
    rblk = _rblk(dev)
    if rblk is None:
        return ENXIO
    dmin = minor(dev)
    if xfer == DIOCGDINFO:
        return _copy_struct(addr, rblk.rblk_label)
    if xfer == DIOCGPART:
        if isinstance(addr, partinfo):
            addr.part = rblk.rblk_label.d_partitions[DISKPART(dmin)]
            addr.disklab = rblk.rblk_label
        return 0
    if xfer == DIOCCACHESYNC:
        # Writes reach the host file as they happen.
        return 0
    if xfer == DIOCGMEDIASIZE:
        return ioctl_store(addr, off_t, rblk.rblk_size)
    if xfer == DIOCGSECTORSIZE:
        return ioctl_store(addr, u_int, 1 << sectshift)
    return ENOTTY


async def rumpblk_read(dev: int, uio: Any, flags: int) -> int:
    return await physio(rumpblk_strategy, None, dev, B_READ, minphys, uio)


async def rumpblk_write(dev: int, uio: Any, flags: int) -> int:
    return await physio(rumpblk_strategy, None, dev, 0, minphys, uio)


def rumpblk_size(dev: int) -> int:
    """d_psize: the unit's size in DEV_BSIZE blocks (-1 without a unit)."""
    rblk = _rblk(dev)
    if rblk is None:
        return -1
    return rblk.rblk_size >> DEV_BSHIFT


def rump_biodone(bp: buf, done: int, error: int) -> None:
    """Complete ``bp`` after ``done`` bytes with ``error``."""
    bp.b_resid = bp.b_bcount - done
    bp.b_error = error
    biodone(bp)


async def dostrategy(bp: buf) -> None:
    rblk = _rblk(bp.b_dev)
    if rblk is None or rblk.rblk_fd == -1:
        rump_biodone(bp, 0, ENXIO)
        return

    if bp.b_bcount % (1 << sectshift) != 0:
        rump_biodone(bp, 0, EINVAL)
        return

    # b_blkno counts DEV_BSIZE blocks whatever the sector size.
    off = bp.b_blkno << DEV_BSHIFT
    if off < 0:
        rump_biodone(bp, 0, EINVAL)
        return

    # Clip to the unit, as the kernel's bounds checks would.
    if off + bp.b_bcount > rblk.rblk_size:
        sz = rblk.rblk_size - off
        if sz == 0:
            rump_biodone(bp, 0, 0)  # end of file
            return
        if sz < 0:
            rump_biodone(bp, 0, EINVAL)  # beyond it
            return
        bp.b_bcount = sz

    is_read = bool(bp.b_flags & B_READ)
    dk = rblk.rblk_dk
    if dk is not None:
        disk_busy(dk)
    error, xfer = await disk_io_faults(bp)
    done = 0
    if not error and xfer > 0:
        hoff = off + rblk.rblk_hostoffset
        data = memoryview(bp.b_data).cast("B")
        try:
            if is_read:
                # Straight into the buf (one copy: no bytes object in between);
                # a short count at the host file's end, as pread's.
                done = os.preadv(rblk.rblk_fd, [data[:xfer]], hoff)
            else:
                if not rblk.rblk_mode & FWRITE:
                    raise OSError(host_errno.EBADF, "read-only backing file")
                # The host's page cache is the medium: no fsync per write.
                while done < xfer:
                    done += os.pwrite(rblk.rblk_fd, data[done:xfer], hoff + done)
        except OSError:
            error = EIO
    if dk is not None:
        disk_unbusy(dk, done if not error else 0, is_read)
    rump_biodone(bp, done if not error else 0, error)


async def rumpblk_strategy(bp: buf) -> None:
    await dostrategy(bp)


rumpblk_bdevsw = bdevsw(
    d_open=rumpblk_open,
    d_close=rumpblk_close,
    d_strategy=rumpblk_strategy,
    d_ioctl=rumpblk_ioctl,
    d_dump=None,
    d_psize=rumpblk_size,
    d_discard=nodiscard,
    d_flag=D_DISK,
)

rumpblk_cdevsw = cdevsw(
    d_open=rumpblk_open,
    d_close=rumpblk_close,
    d_read=rumpblk_read,
    d_write=rumpblk_write,
    d_ioctl=rumpblk_ioctl,
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap=nommap,
    d_kqfilter=nokqfilter,
    d_discard=nodiscard,
    d_flag=D_DISK,
)


def rumpblk_detach() -> int:
    """Withdraw the switches; EBUSY while units exist."""
    g = _rumpblk()
    if not g.attached:
        return 0
    if any(r.rblk_path is not None for r in g.minors):
        return EBUSY
    devsw_detach(rumpblk_bdevsw, rumpblk_cdevsw)
    g.attached = False
    return 0


def rumpblk_devs(minor_: int) -> tuple[int, int]:
    """``(block dev_t, character dev_t)`` of unit ``minor_``."""
    g = _rumpblk()
    if not g.attached:
        return NODEV, NODEV
    return makedev(g.bmajor, minor_), makedev(g.cmajor, minor_)


def rumpblk_disk(minor_: int) -> disk | None:
    """The struct disk (statistics) of unit ``minor_``."""
    g = _rumpblk()
    if 0 <= minor_ < RUMPBLK_SIZE:
        return g.minors[minor_].rblk_dk
    return None


# --------------------------------------------------------------------- etfs

class etfs:
    """One registered key."""

    def __init__(self, key: str, hostpath: str, ftype: int) -> None:
        self.et_key = key
        self.et_hostpath = hostpath
        self.et_ftype = ftype
        self.et_blkmin = -1
        self.et_nodes: list[str] = []
        self.et_hostfile: hostfile | None = None
        self.et_removing = False


def rump_etfs_set_reg_handler(handler: Any) -> None:
    """Install the root file system's RUMP_ETFS_REG handler for this machine.

    ``await handler("register", key, hostfile) -> int`` makes the file appear,
    ``await handler("remove", key, hostfile) -> int`` takes it away.
    """
    _rumpblk().reg_handler = handler


def _raw_twin(key: str) -> str:
    head, _, tail = key.rpartition("/")
    return f"{head}/r{tail}"


def _have_root() -> bool:
    from vfs.mount import vfsglobals

    return vfsglobals().rootvnode is not None


async def _mknod(path: str, mode: int, dev: int) -> int:
    from vfs.vfs_syscalls import kern_mknod

    if not _have_root():
        return 0  # no root file system (yet) to hold the node
    return await kern_mknod(path, mode, dev)


async def _unlink(path: str) -> int:
    from kern.subr_uio import UIO_SYSSPACE
    from vfs.vfs_syscalls import do_sys_unlink

    if not _have_root():
        return 0
    return await do_sys_unlink(path, UIO_SYSSPACE)


def _valid_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


async def rump_etfs_register(key: str, hostpath: str, ftype: int, begin: int = 0,
                             size: int | None = None) -> int:
    """Make host file ``hostpath`` (its window from ``begin``, ``size`` bytes) appear at ``key``.

    Errors: EINVAL (a key not starting with "/", a bad type, window or host
    file type), EEXIST (the key is taken), EOPNOTSUPP (RUMP_ETFS_REG without
    a root file system handler, or the directory types), EBUSY (no free
    unit), the host's errno for a missing or unreadable host file, or the
    error of making the device node.
    """
    if not isinstance(key, str) or not key.startswith("/") or "\0" in key:
        return EINVAL
    if not isinstance(hostpath, str) or not hostpath or "\0" in hostpath:
        return EINVAL
    if not _valid_int(ftype) or not _valid_int(begin) or begin < 0:
        return EINVAL
    if size is not None and (not _valid_int(size) or size < 0):
        return EINVAL
    if ftype in (RUMP_ETFS_DIR, RUMP_ETFS_DIR_SUBDIRS):
        return EOPNOTSUPP
    if ftype not in (RUMP_ETFS_REG, RUMP_ETFS_BLK, RUMP_ETFS_CHR):
        return EINVAL

    g = _rumpblk()
    if key in g.etfs:
        return EEXIST

    try:
        st = os.stat(hostpath)
    except OSError as e:
        return host_error(e)
    fsize = st.st_size
    if host_stat.S_ISDIR(st.st_mode):
        return EINVAL
    if size is None:
        if begin > fsize:
            return EINVAL
        size = fsize - begin

    et = etfs(key, hostpath, ftype)
    if ftype == RUMP_ETFS_REG:
        if g.reg_handler is None:
            return EOPNOTSUPP
        _establish()
        et.et_hostfile = hostfile(hostpath, begin, size)
        g.etfs[key] = et
        error = await g.reg_handler("register", key, et.et_hostfile)
        if error:
            g.etfs.pop(key, None)
            et.et_hostfile.close()
        return int(error or 0)

    error, dmin = rumpblk_register(hostpath, begin, size)
    if error:
        return error
    et.et_blkmin = dmin
    g.etfs[key] = et
    bdev, cdev = rumpblk_devs(dmin)
    if ftype == RUMP_ETFS_BLK:
        nodes = [(key, S_IFBLK | RUMPFS_DEFAULTMODE, bdev),
                 (_raw_twin(key), S_IFCHR | RUMPFS_DEFAULTMODE, cdev)]
    else:
        nodes = [(key, S_IFCHR | RUMPFS_DEFAULTMODE, cdev)]
    for path, mode, dev in nodes:
        error = await _mknod(path, mode, dev)
        if error:
            for made in reversed(et.et_nodes):
                await _unlink(made)
            g.etfs.pop(key, None)
            rumpblk_deregister(hostpath)
            return error
        et.et_nodes.append(path)
    return 0


async def rump_etfs_remove(key: str) -> int:
    """Undo ``rump_etfs_register(key, ...)``: ENOENT if not registered, EBUSY if open."""
    g = _rumpblk()
    et = g.etfs.get(key) if isinstance(key, str) else None
    if et is None or et.et_removing:
        return ENOENT
    if et.et_blkmin != -1:
        dk = rumpblk_disk(et.et_blkmin)
        if dk is not None and dk.dk_openmask:
            return EBUSY
    et.et_removing = True
    if et.et_ftype == RUMP_ETFS_REG:
        error = 0
        if g.reg_handler is not None and et.et_hostfile is not None:
            error = int(await g.reg_handler("remove", key, et.et_hostfile) or 0)
        if error:
            et.et_removing = False
            return error
        if et.et_hostfile is not None:
            et.et_hostfile.close()
        g.etfs.pop(key, None)
        return 0
    for path in reversed(et.et_nodes):
        await _unlink(path)
    g.etfs.pop(key, None)
    rumpblk_deregister(et.et_hostpath)
    return 0


def rump_etfs_lookup(key: str) -> tuple[int, int, int]:
    """``(error, block dev, char dev)`` of a registered BLK/CHR key (ENOENT if none)."""
    g = _rumpblk()
    et = g.etfs.get(key) if isinstance(key, str) else None
    if et is None or et.et_blkmin == -1:
        return ENOENT, NODEV, NODEV
    b, c = rumpblk_devs(et.et_blkmin)
    return 0, b, c
