"""Port of NetBSD sys/dev/fss.c revision 1.104 (2018-01-23, pgoyette).

$NetBSD: fss.c,v 1.104 2018/01/23 22:42:29 pgoyette Exp $
Copyright (c) 2003 The NetBSD Foundation, Inc.; derived from software
contributed to The NetBSD Foundation by Juergen Hannken-Illjes.  The notice
and license are kept in LICENSE.NetBSD.

File system snapshot disk driver: a block and character interface to the
snapshot of a mounted file system.

The functions below are those of fss.c 1.104, in its order and with its
names; each keeps the C's branches, errnos, locks and sleeps.  Reading aid:

* a C function that may sleep is ``async def`` here and each sleep is an
  ``await``; ``fss_error`` sleeps (it calls fscow_disestablish), so it is
  async although C calls it "inline";
* C out-parameters come back as extra return values
  (``error, bsize = await fss_create_files(...)``); a pointer the callee
  writes through that may be NULL (``size_t *resid``) is a one-element list
  or None;
* ``u_int32_t *indirp`` pointing into ``sc_indir_data`` is the index of that
  slot (None for NULL): ``*indirp`` is ``sc.sc_indir_data[indirp]``;
* ``char *addr`` walking through ``bp->b_data`` is a byte offset into it;
* where 1.104 would dereference a NULL softc (B11 in the spec: no unit for a
  minor), the port panics with a message instead of dying of a Python error;
* the bitmaps and cluster copies go through the native helper (kern.native);
* fss_bs_thread's cache-cleaning loop reads every slot's fc_type once, in
  one C-level map, and finds the slot C's loop cleans (the first
  FSS_CACHE_VALID one from the slot after ``crotor``, wrapping) with
  ``list.index`` instead of stepping an index in Python; ``crotor`` ends
  where C's loop leaves it (on the slot it cleans; back where it started
  when none is valid).  C reads the slots only up to that one: the reads
  after it have no side effect (all under sc_slock, nothing locks or
  sleeps), and the usual pass, with nothing to clean, reads them all in
  both;
* the ``mutex_enter(&sc->sc_slock)`` of fss_strategy, fss_copy_on_write and
  fss_read_cluster, and fss_bs_io's of the store's v_interlock, pass a
  ``lock_site`` kept at module level for that call (kern_mutex's ``at``,
  kemu's): lockdebug's site is looked up once (per machine: fss is a
  module loaded afresh for each), not with a frame lookup at every call;
  the same sites and reports.

Defects of 1.104 kept on purpose, each pinned by a test that names the
revision that fixed it ("1.114" is the newest revision read, 2023-03-22):

* B1 the ioctls hold sc_lock across a whole create or delete (fixed in 1.105);
* B2 creations on different units are not serialized; only vfs_suspend_lock
  orders them (fixed in 1.105);
* B4 the persistent branch of fss_create_snapshot ignores fss_softc_alloc's
  error: after B5, a kthread_create failure leaves an active unit with no
  thread, whose first read waits forever (still in 1.114);
* B5 a failed persistent attempt leaves FSS_PERSISTENT set, so the next
  FSSIOCSET on the unit takes the persistent branch (still in 1.114);
* B6 the FINI error path calls devsw_attach twice and does not restore the
  cfattach (fixed by 1.114 at the latest, whose FINI re-attaches the
  cfattach when config_cfdriver_detach fails and detaches the devsw last;
  the revisions between 1.105 and 1.114 could not be read to name the
  one);
* B7 the first open and the last close take fss_device_lock, then
  vfs_hooks_lock (vfs_hooks_attach/detach from fss_attach/fss_detach);
  dounmount takes vfs_hooks_lock, then fss_device_lock (fss_unmount_hook):
  a last close racing an unmount deadlocks (still in 1.114; declared below
  with lockdebug_kept_reversal, so lockdebug reports it without ending the run);
* B8 fss_open leaks the cfdata when config_attach_pseudo fails (still in 1.114);
* B9 FSS_UNLINK_ON_CREATE unlinks any store, a device node too (still in 1.114);
* B10 FSSIOCCLR on an idle unit is ENXIO (EBUSY from 1.105);
* B11 no NULL-softc checks (see above; 1.114 checks in fss_ioctl, fss_close
  and fss_strategy);
* B12 FSSIOFSET needs no FWRITE (still in 1.114);
* B13 (found by kemu's deadlock report) fss_error calls fscow_disestablish
  with sc_slock held, which deadlocks against a writer inside
  fss_copy_on_write waiting for sc_slock (1.105 drops the lock around it);
* B14 (found by fuzzing) after B5, a store that is the unit's own /dev/rfssN
  is accepted, and the first read makes the thread wait for its own
  request (still in 1.114);
* B15 (found by a seeded fault campaign) a short read of the origin device
  without error in fss_bs_thread: error = EIO is overwritten with the
  nested buffer's b_error 0, so the snapshot read is short with no error
  (still in 1.114);
* B16 (same campaign) when reading an indirect cluster back from the store
  fails, fss_bs_indir returns NULL after switching sc_indir_cur, and
  fss_bs_thread takes the NULL for a hole: zeros, no error.  The table left
  in memory is the previous indirect cluster's under the new number, so the
  later reads of the clusters it maps are served from that stale table:
  another cluster's data, again without error, i.e. silent corruption of
  the snapshot (still in 1.114).
* B17 (found by pct in a stress scenario) FSSIOCCLR stops the bs thread,
  which exits at the top of its loop without answering what is left in
  sc_bufq: a read queued behind the one being served is never completed, and
  its reader sleeps in physio for ever (bufq_drain runs only in fss_detach,
  which that reader's open descriptor keeps away).  Not checked against
  1.114.

There is no B3: the numbering is fss-spec's, whose list of 1.104's defects
skips it (B4, B7 and B13-B17 were numbered by kemu).

tests/dev/fss/test_defects.py shows B1, B2, B4-B6, B9, B11, B13-B17;
test_defect_b7.py B7; test_errno.py B8, B10 and B12.

kemu is LP64 (amd64 layouts), so the ``#ifndef _LP64`` FSSIOCGET50 case is
compiled out, as on amd64: there FSSIOCGET50 has FSSIOCGET's number.
"""

from __future__ import annotations

from ctypes import c_int
from operator import attrgetter
from typing import Any

from dev.fss.fssvar import (
    FSS_ACTIVE,
    FSS_BDEV_OPEN,
    FSS_BS_THREAD,
    FSS_BTOCL,
    FSS_CACHE_BUSY,
    FSS_CACHE_FREE,
    FSS_CACHE_VALID,
    FSS_CDEV_OPEN,
    FSS_CLOFF,
    FSS_CLSIZE,
    FSS_CLTOB,
    FSS_CLUSTER_MAX,
    FSS_ERROR,
    FSS_FSBSIZE,
    FSS_ISVALID,
    FSS_PERSISTENT,
    FSS_READ,
    FSS_UNCONFIG_ON_CLOSE,
    FSS_UNLINK_ON_CREATE,
    FSS_WRITE,
    FSSIOCCLR,
    FSSIOCGET,
    FSSIOCSET,
    FSSIOCSET50,
    FSSIOFGET,
    FSSIOFSET,
    fss_cache,
    fss_get,
    fss_set,
    fss_set50,
    fss_softc,
)
from kern.conf import (
    D_DISK,
    D_MPSAFE,
    bdevsw,
    cdevsw,
    nodiscard,
    nokqfilter,
    nommap,
    nopoll,
    nostop,
    notty,
)
from kern.cpu import curlwp
from kern.errno import EBUSY, EINVAL, EIO, ENOMEM, ENOTTY, ENXIO, EPERM, EROFS
from kern.fcntl import FREAD, FWRITE
from kern.kern_condvar import cv_broadcast, cv_destroy, cv_init, cv_signal, cv_wait
from kern.kern_lwp import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_exit, kthread_join
from kern.kern_module import kmod_option
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.kern_time import TIMESPEC_TO_TIMEVAL, microtime, timespec
from kern.kern_types import NODEV, cast, sizeof
from kern.native import isclr, isset, memcpy, memset, setbit
from kern.param import NBBY, howmany
from kern.subr_autoconf import (
    CFATTACH_DECL_NEW,
    DETACH_QUIET,
    DV_DISK,
    FSTATE_STAR,
    cfdata,
    config_attach_pseudo,
    config_cfattach_attach,
    config_cfattach_detach,
    config_cfdriver_attach,
    config_cfdriver_detach,
    config_detach,
    device_cfdata,
    device_lookup_private,
    device_private,
    device_xname,
    ioconf_cfdriver,
    pmf_device_deregister,
    pmf_device_register,
)
from kern.subr_devsw import bdev_strategy, devsw_attach, devsw_detach
from kern.subr_kmem import (
    KM_SLEEP,
    M_DEVBUF,
    M_WAITOK,
    free,
    kmem_alloc,
    kmem_free,
    kmem_zalloc,
    malloc,
)
from kern.subr_lockdebug import lock_site, lockdebug_kept_reversal
from kern.subr_prf import KASSERT, aprint_debug_dev, aprint_error, aprint_error_dev, panic
from kern.subr_uio import UIO_READ, UIO_SYSSPACE, UIO_USERSPACE, UIO_WRITE
from kern.types_dev import minor
from vfs.buf import B_READ, BC_BUSY
from vfs.genfs_io import PGO_CLEANIT, PGO_FREE, PGO_SYNCIO, round_page, trunc_page
from vfs.kern_physio import minphys, physio
from vfs.mount import (
    MNAMELEN,
    MNT_WAIT,
    VFS_SNAPSHOT,
    VFS_SYNC,
    vfs_hooks,
    vfs_hooks_attach,
    vfs_hooks_detach,
)
from vfs.namei import (
    NDINIT,
    NSM_FOLLOW_NOEMULROOT,
    namei_simple_user,
    nameidata,
    pathbuf_copyin,
    pathbuf_destroy,
)
from vfs.namei_h import FOLLOW, LOOKUP
from vfs.spec_vnops import spec_node_lookup_by_mount
from vfs.stat import S_IFCHR
from vfs.subr_bufq import bufq_alloc, bufq_drain, bufq_free, bufq_get, bufq_put
from vfs.subr_disk import (
    bounds_check_with_mediasize,
    disk,
    disk_attach,
    disk_busy,
    disk_destroy,
    disk_detach,
    disk_init,
    disk_unbusy,
    getdisksize,
)
from vfs.uvm import uvm
from vfs.vfs_bio import (
    DEV_BSHIFT,
    DEV_BSIZE,
    MAXPHYS,
    biodone,
    biowait,
    btodb,
    dbtob,
    getiobuf,
    nestiobuf_setup,
    putiobuf,
)
from vfs.vfs_syscalls import do_sys_unlink
from vfs.vfs_trans import fscow_disestablish, fscow_establish, vfs_resume, vfs_suspend
from vfs.vfs_vnops import vn_close, vn_open, vn_rdwr
from vfs.vnode import (
    IO_ADV_ENCODE,
    IO_NODELOCKED,
    LK_EXCLUSIVE,
    LK_RETRY,
    POSIX_FADV_NOREUSE,
    VCHR,
    VREG,
    VV_ROOT,
    vn_lock,
    vrele,
    vrele_flush,
)
from vfs.vnode_if import VOP_PUTPAGES, VOP_UNLOCK

# Compile-time switches of this file (see kern/kern_module.py).
_MODULE = kmod_option("_MODULE")
fss_cd = ioconf_cfdriver("fss", DV_DISK)  # #include "ioconf.h" (static configuration)



fss_device_lock = kmutex_t()  # Protect all units.
fss_num_attached = 0  # Number of attached devices.
fss_vfs_hooks = vfs_hooks(vh_unmount="fss_unmount_hook")
# kemu: B7, kept (see the header): open/close vs. dounmount take these two in both orders.
lockdebug_kept_reversal("fss_device_lock", "vfs_hooks_lock", "fss.c 1.104 defect B7")

fss_bdevsw = bdevsw(
    d_open="fss_open",
    d_close="fss_close",
    d_strategy="fss_strategy",
    d_ioctl="fss_ioctl",
    d_dump="fss_dump",
    d_psize="fss_size",
    d_discard=nodiscard,
    d_flag=D_DISK | D_MPSAFE,
)

fss_cdevsw = cdevsw(
    d_open="fss_open",
    d_close="fss_close",
    d_read="fss_read",
    d_write="fss_write",
    d_ioctl="fss_ioctl",
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap=nommap,
    d_kqfilter=nokqfilter,
    d_discard=nodiscard,
    d_flag=D_DISK | D_MPSAFE,
)

fss_ca = CFATTACH_DECL_NEW("fss", sizeof(fss_softc), "fss_match", "fss_attach",
                           "fss_detach", None)


def _nullsc(sc: fss_softc | None, where: str, dev: int) -> fss_softc:
    """1.104 has no NULL-softc checks (B11): where C would fault, panic instead.

    ``dev`` is the dev_t the caller looked the unit up by; its minor is taken
    only for the message."""
    if sc is None:
        panic("%s: no fss unit %d (1.104 dereferences a NULL softc here)", where, minor(dev))
    return sc  # type: ignore[return-value]


def fssattach(num: int) -> None:

    mutex_init(fss_device_lock, MUTEX_DEFAULT, IPL_NONE)
    if config_cfattach_attach(fss_cd.cd_name, fss_ca):
        aprint_error("%s: unable to register\n", fss_cd.cd_name)


def fss_match(self: Any, cfdata_: Any, aux: Any) -> int:
    return 1


async def fss_attach(parent: Any, self: Any, aux: Any) -> None:
    global fss_num_attached
    sc = device_private(self)

    sc.sc_dev = self
    sc.sc_bdev = NODEV
    mutex_init(sc.sc_slock, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(sc.sc_lock, MUTEX_DEFAULT, IPL_NONE)
    cv_init(sc.sc_work_cv, "fssbs")
    cv_init(sc.sc_cache_cv, "cowwait")
    _, sc.sc_bufq = bufq_alloc("fcfs", 0)
    sc.sc_dkdev = malloc(sizeof(disk), M_DEVBUF, M_WAITOK)
    sc.sc_dkdev.dk_info = None
    disk_init(sc.sc_dkdev, device_xname(self), None)
    if not pmf_device_register(self, None, None):
        aprint_error_dev(self, "couldn't establish power handler\n")

    fss_num_attached += 1  # if (fss_num_attached++ == 0)
    if fss_num_attached == 1:
        await vfs_hooks_attach(fss_vfs_hooks)


async def fss_detach(self: Any, flags: int) -> int:
    global fss_num_attached
    sc = device_private(self)

    if sc.sc_flags & FSS_ACTIVE:
        return EBUSY

    fss_num_attached -= 1  # if (--fss_num_attached == 0)
    if fss_num_attached == 0:
        await vfs_hooks_detach(fss_vfs_hooks)

    pmf_device_deregister(self)
    mutex_destroy(sc.sc_slock)
    mutex_destroy(sc.sc_lock)
    cv_destroy(sc.sc_work_cv)
    cv_destroy(sc.sc_cache_cv)
    bufq_drain(sc.sc_bufq)
    bufq_free(sc.sc_bufq)
    disk_destroy(sc.sc_dkdev)
    free(sc.sc_dkdev, M_DEVBUF)

    return 0


async def fss_open(dev: int, flags: int, mode: int, l: Any) -> int:
    mflag = FSS_CDEV_OPEN if mode == S_IFCHR else FSS_BDEV_OPEN

    await mutex_enter(fss_device_lock)

    sc = device_lookup_private(fss_cd, minor(dev))
    if sc is None:
        cf = malloc(sizeof(cfdata), M_DEVBUF, M_WAITOK)
        cf.cf_name = fss_cd.cd_name
        cf.cf_atname = fss_cd.cd_name
        cf.cf_unit = minor(dev)
        cf.cf_fstate = FSTATE_STAR
        sc = device_private(await config_attach_pseudo(cf))
        if sc is None:
            mutex_exit(fss_device_lock)
            return ENOMEM

    await mutex_enter(sc.sc_slock)

    sc.sc_flags |= mflag

    mutex_exit(sc.sc_slock)
    mutex_exit(fss_device_lock)

    return 0


async def fss_close(dev: int, flags: int, mode: int, l: Any) -> int:
    sc = device_lookup_private(fss_cd, minor(dev))

    mflag = FSS_CDEV_OPEN if mode == S_IFCHR else FSS_BDEV_OPEN
    error = 0

    await mutex_enter(fss_device_lock)
    sc = _nullsc(sc, "fss_close", dev)
    while True:  # restart:
        await mutex_enter(sc.sc_slock)
        if (sc.sc_flags & (FSS_CDEV_OPEN | FSS_BDEV_OPEN)) != mflag:
            sc.sc_flags &= ~mflag
            mutex_exit(sc.sc_slock)
            mutex_exit(fss_device_lock)
            return 0
        if (sc.sc_flags & FSS_ACTIVE) != 0 and \
                (sc.sc_uflags & FSS_UNCONFIG_ON_CLOSE) != 0:
            sc.sc_uflags &= ~FSS_UNCONFIG_ON_CLOSE
            mutex_exit(sc.sc_slock)
            error = await fss_ioctl(dev, FSSIOCCLR, None, FWRITE, l)
            continue  # goto restart
        if (sc.sc_flags & FSS_ACTIVE) != 0:
            mutex_exit(sc.sc_slock)
            mutex_exit(fss_device_lock)
            return error
        break

    KASSERT((sc.sc_flags & FSS_ACTIVE) == 0)
    KASSERT((sc.sc_flags & (FSS_CDEV_OPEN | FSS_BDEV_OPEN)) == mflag)
    mutex_exit(sc.sc_slock)
    cf = device_cfdata(sc.sc_dev)
    error = await config_detach(sc.sc_dev, DETACH_QUIET)
    if not error:
        free(cf, M_DEVBUF)
    mutex_exit(fss_device_lock)

    return error


_fss_strategy_site = lock_site()


async def fss_strategy(bp: Any) -> None:
    write = (bp.b_flags & B_READ) != B_READ
    sc = device_lookup_private(fss_cd, minor(bp.b_dev))

    sc = _nullsc(sc, "fss_strategy", bp.b_dev)
    await mutex_enter(sc.sc_slock, at=_fss_strategy_site)

    if write or not FSS_ISVALID(sc):
        bp.b_error = EROFS if write else ENXIO
        # goto done
    # Check bounds for non-persistent snapshots.
    elif (sc.sc_flags & FSS_PERSISTENT) == 0 and \
            bounds_check_with_mediasize(bp, DEV_BSIZE,
                                        btodb(FSS_CLTOB(sc, sc.sc_clcount - 1) +
                                              sc.sc_clresid)) <= 0:
        pass  # goto done
    else:
        bp.b_rawblkno = bp.b_blkno
        bufq_put(sc.sc_bufq, bp)
        cv_signal(sc.sc_work_cv)

        mutex_exit(sc.sc_slock)
        return

    # done:
    mutex_exit(sc.sc_slock)
    bp.b_resid = bp.b_bcount
    biodone(bp)


async def fss_read(dev: int, uio: Any, flags: int) -> int:
    return await physio(fss_strategy, None, dev, B_READ, minphys, uio)


async def fss_write(dev: int, uio: Any, flags: int) -> int:
    return await physio(fss_strategy, None, dev, 0, minphys, uio)  # B_WRITE


async def fss_ioctl(dev: int, cmd: int, data: Any, flag: int, l: Any) -> int:
    sc = device_lookup_private(fss_cd, minor(dev))
    _fss = fss_set()
    # C casts ``data`` to each argument type here; a cast reads nothing, so
    # the port casts inside the cases, where the buffer has that size.  1.104
    # touches the softc only inside the cases (an unknown command is EINVAL
    # even for a minor with no unit), so each case checks it where C would
    # first dereference it (B11).

    if cmd == FSSIOCSET50 or cmd == FSSIOCSET:
        if cmd == FSSIOCSET50:
            fss50 = cast(data, fss_set50)
            fss = _fss
            fss.fss_mount = fss50.fss_mount
            fss.fss_bstore = fss50.fss_bstore
            fss.fss_csize = fss50.fss_csize
            fss.fss_flags = 0
            # Fall through
        else:
            fss = cast(data, fss_set)
        sc = _nullsc(sc, "fss_ioctl", dev)
        await mutex_enter(sc.sc_lock)
        if (flag & FWRITE) == 0:
            error = EPERM
        elif (sc.sc_flags & FSS_ACTIVE) != 0:
            error = EBUSY
        else:
            error = await fss_create_snapshot(sc, fss, l)
        if error == 0:
            sc.sc_uflags = fss.fss_flags
        mutex_exit(sc.sc_lock)

    elif cmd == FSSIOCCLR:
        sc = _nullsc(sc, "fss_ioctl", dev)
        await mutex_enter(sc.sc_lock)
        if (flag & FWRITE) == 0:
            error = EPERM
        elif (sc.sc_flags & FSS_ACTIVE) == 0:
            error = ENXIO
        else:
            error = await fss_delete_snapshot(sc, l)
        mutex_exit(sc.sc_lock)

    # case FSSIOCGET50: #ifndef _LP64, compiled out (see the file's docstring).

    elif cmd == FSSIOCGET:
        fsg = cast(data, fss_get)
        sc = _nullsc(sc, "fss_ioctl", dev)
        await mutex_enter(sc.sc_lock)
        state = sc.sc_flags & (FSS_PERSISTENT | FSS_ACTIVE)
        if state == FSS_ACTIVE:
            fsg.fsg_mount = sc.sc_mntname[:MNAMELEN]
            fsg.fsg_csize = FSS_CLSIZE(sc)
            fsg.fsg_time = sc.sc_time
            fsg.fsg_mount_size = sc.sc_clcount
            fsg.fsg_bs_size = sc.sc_clnext
            error = 0
        elif state == FSS_PERSISTENT | FSS_ACTIVE:
            fsg.fsg_mount = sc.sc_mntname[:MNAMELEN]
            fsg.fsg_csize = 0
            fsg.fsg_time = sc.sc_time
            fsg.fsg_mount_size = 0
            fsg.fsg_bs_size = 0
            error = 0
        else:
            error = ENXIO
        mutex_exit(sc.sc_lock)

    elif cmd == FSSIOFSET:
        sc = _nullsc(sc, "fss_ioctl", dev)
        await mutex_enter(sc.sc_slock)
        sc.sc_uflags = cast(data, c_int).value  # *(int *)data
        mutex_exit(sc.sc_slock)
        error = 0

    elif cmd == FSSIOFGET:
        sc = _nullsc(sc, "fss_ioctl", dev)
        await mutex_enter(sc.sc_slock)
        cast(data, c_int).value = sc.sc_uflags  # *(int *)data
        mutex_exit(sc.sc_slock)
        error = 0

    else:
        error = EINVAL

    return error


def fss_size(dev: int) -> int:
    return -1


async def fss_dump(dev: int, blkno: int, va: Any, size: int) -> int:
    return EROFS


async def fss_error(sc: fss_softc, msg: str) -> None:
    """An error occurred reading or writing the snapshot or backing store.
    If it is the first error log to console and disestablish cow handler.
    The caller holds the mutex (sc_slock)."""

    if (sc.sc_flags & (FSS_ACTIVE | FSS_ERROR)) != FSS_ACTIVE:
        return

    aprint_error_dev(sc.sc_dev, "snapshot invalid: %s\n", msg)
    if (sc.sc_flags & FSS_PERSISTENT) == 0:
        await fscow_disestablish(sc.sc_mount, fss_copy_on_write, sc)
    sc.sc_flags |= FSS_ERROR


def fss_softc_alloc(sc: fss_softc) -> int:
    """Allocate the variable sized parts of the softc and fork the kernel thread.

    The fields sc_clcount, sc_clshift, sc_cache_size and sc_indir_size
    must be initialized."""

    if (sc.sc_flags & FSS_PERSISTENT) == 0:
        sc.sc_copied = kmem_zalloc(howmany(sc.sc_clcount, NBBY), KM_SLEEP)
        sc.sc_cache = kmem_alloc(sc.sc_cache_size * sizeof(fss_cache), KM_SLEEP)
        for i in range(sc.sc_cache_size):
            sc.sc_cache[i].fc_type = FSS_CACHE_FREE
            sc.sc_cache[i].fc_data = kmem_alloc(FSS_CLSIZE(sc), KM_SLEEP)
            cv_init(sc.sc_cache[i].fc_state_cv, "cowwait1")

        sc.sc_indir_valid = kmem_zalloc(howmany(sc.sc_indir_size, NBBY), KM_SLEEP)
        sc.sc_indir_data = memoryview(kmem_zalloc(FSS_CLSIZE(sc), KM_SLEEP)).cast("I")
    else:
        sc.sc_copied = None
        sc.sc_cache = None
        sc.sc_indir_valid = None
        sc.sc_indir_data = None

    sc.sc_flags |= FSS_BS_THREAD
    error, sc.sc_bs_lwp = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, fss_bs_thread, sc,
                                         "%s", device_xname(sc.sc_dev))
    if error != 0:
        sc.sc_flags &= ~FSS_BS_THREAD
        return error

    disk_attach(sc.sc_dkdev)

    return 0


async def fss_softc_free(sc: fss_softc) -> None:
    """Free the variable sized parts of the softc."""

    if (sc.sc_flags & FSS_BS_THREAD) != 0:
        await mutex_enter(sc.sc_slock)
        sc.sc_flags &= ~FSS_BS_THREAD
        cv_signal(sc.sc_work_cv)
        mutex_exit(sc.sc_slock)
        await kthread_join(sc.sc_bs_lwp)

        disk_detach(sc.sc_dkdev)

    if sc.sc_copied is not None:
        kmem_free(sc.sc_copied, howmany(sc.sc_clcount, NBBY))
    sc.sc_copied = None

    if sc.sc_cache is not None:
        for i in range(sc.sc_cache_size):
            if sc.sc_cache[i].fc_data is not None:
                cv_destroy(sc.sc_cache[i].fc_state_cv)
                kmem_free(sc.sc_cache[i].fc_data, FSS_CLSIZE(sc))
        kmem_free(sc.sc_cache, sc.sc_cache_size * sizeof(fss_cache))
    sc.sc_cache = None

    if sc.sc_indir_valid is not None:
        kmem_free(sc.sc_indir_valid, howmany(sc.sc_indir_size, NBBY))
    sc.sc_indir_valid = None

    if sc.sc_indir_data is not None:
        kmem_free(sc.sc_indir_data.obj, FSS_CLSIZE(sc))
    sc.sc_indir_data = None


async def fss_unmount_hook(mp: Any) -> None:
    """Set all active snapshots on this file system into ERROR state."""

    await mutex_enter(fss_device_lock)
    for i in range(fss_cd.cd_ndevs):
        sc = device_lookup_private(fss_cd, i)
        if sc is None:
            continue
        await mutex_enter(sc.sc_slock)
        if (sc.sc_flags & FSS_ACTIVE) != 0 and sc.sc_mount is mp:
            await fss_error(sc, "forced by unmount")
        mutex_exit(sc.sc_slock)
    mutex_exit(fss_device_lock)


_fss_copy_on_write_site = lock_site()


async def fss_copy_on_write(v: Any, bp: Any, data_valid: bool) -> int:
    """A buffer is written to the snapshotted block device. Copy to
    backing store if needed."""
    sc = v

    await mutex_enter(sc.sc_slock, at=_fss_copy_on_write_site)
    if not FSS_ISVALID(sc):
        mutex_exit(sc.sc_slock)
        return 0

    cl = FSS_BTOCL(sc, dbtob(bp.b_blkno))
    ch = FSS_BTOCL(sc, dbtob(bp.b_blkno) + bp.b_bcount - 1)
    error = 0
    if curlwp() is uvm.pagedaemon_lwp:
        for c in range(cl, ch + 1):
            if isclr(sc.sc_copied, c):
                error = ENOMEM
                break
    mutex_exit(sc.sc_slock)

    if error == 0:
        for c in range(cl, ch + 1):
            error = await fss_read_cluster(sc, c)
            if error:
                break

    return error


async def fss_create_files(sc: fss_softc, fss: fss_set, l: Any) -> tuple[int, int]:
    """Lookup and open needed files.  Returns (error, bsize).

    For file system internal snapshot initializes sc_mntname, sc_mount,
    sc_bs_vp and sc_time.

    Otherwise returns dev and size of the underlying block device.
    Initializes sc_mntname, sc_mount, sc_bdev, sc_bs_vp and sc_mount"""
    bsize = 0

    # Get the mounted file system.

    error, vp = await namei_simple_user(fss.fss_mount, NSM_FOLLOW_NOEMULROOT)
    if error != 0:
        return error, bsize

    if (vp.v_vflag & VV_ROOT) != VV_ROOT:
        await vrele(vp)
        return EINVAL, bsize

    sc.sc_mount = vp.v_mount
    sc.sc_mntname = sc.sc_mount.mnt_stat.f_mntonname[:MNAMELEN]  # memcpy MNAMELEN

    await vrele(vp)

    # Check for file system internal snapshot.

    error, vp = await namei_simple_user(fss.fss_bstore, NSM_FOLLOW_NOEMULROOT)
    if error != 0:
        return error, bsize

    if vp.v_type == VREG and vp.v_mount is sc.sc_mount:
        sc.sc_flags |= FSS_PERSISTENT
        sc.sc_bs_vp = vp

        fsbsize = sc.sc_bs_vp.v_mount.mnt_stat.f_iosize
        bits = 4 * NBBY  # sizeof(sc->sc_bs_bshift)*NBBY
        sc.sc_bs_bshift = 1
        while sc.sc_bs_bshift < bits:
            if FSS_FSBSIZE(sc) == fsbsize:
                break
            sc.sc_bs_bshift += 1
        if sc.sc_bs_bshift >= bits:
            return EINVAL, bsize

        sc.sc_bs_bmask = FSS_FSBSIZE(sc) - 1
        sc.sc_clshift = 0

        if (fss.fss_flags & FSS_UNLINK_ON_CREATE) != 0:
            error = await do_sys_unlink(fss.fss_bstore, UIO_USERSPACE)
            if error:
                return error, bsize
        error = await vn_lock(vp, LK_EXCLUSIVE)
        if error != 0:
            return error, bsize
        error, ts = await VFS_SNAPSHOT(sc.sc_mount, sc.sc_bs_vp)
        TIMESPEC_TO_TIMEVAL(sc.sc_time, ts if ts is not None else timespec())

        VOP_UNLOCK(sc.sc_bs_vp)

        return error, bsize
    await vrele(vp)

    # Get the block device it is mounted on and its size.

    error, vp = spec_node_lookup_by_mount(sc.sc_mount)
    if error:
        return error, bsize
    sc.sc_bdev = vp.v_rdev

    error, numsec, secsize = await getdisksize(vp)
    await vrele(vp)
    if error:
        return error, bsize

    bsize = numsec * secsize

    # Get the backing store

    error, pb2 = pathbuf_copyin(fss.fss_bstore)
    if error:
        return error, bsize
    nd2 = nameidata()
    NDINIT(nd2, LOOKUP, FOLLOW, pb2)
    error = await vn_open(nd2, FREAD | FWRITE, 0)
    if error != 0:
        pathbuf_destroy(pb2)
        return error, bsize
    VOP_UNLOCK(nd2.ni_vp)

    sc.sc_bs_vp = nd2.ni_vp

    if nd2.ni_vp.v_type != VREG and nd2.ni_vp.v_type != VCHR:
        pathbuf_destroy(pb2)
        return EINVAL, bsize
    pathbuf_destroy(pb2)

    if (fss.fss_flags & FSS_UNLINK_ON_CREATE) != 0:
        error = await do_sys_unlink(fss.fss_bstore, UIO_USERSPACE)
        if error:
            return error, bsize
    if sc.sc_bs_vp.v_type == VREG:
        fsbsize = sc.sc_bs_vp.v_mount.mnt_stat.f_iosize
        if fsbsize & (fsbsize - 1):  # No power of two
            return EINVAL, bsize
        sc.sc_bs_bshift = 1
        while sc.sc_bs_bshift < 32:
            if FSS_FSBSIZE(sc) == fsbsize:
                break
            sc.sc_bs_bshift += 1
        if sc.sc_bs_bshift >= 32:
            return EINVAL, bsize
        sc.sc_bs_bmask = FSS_FSBSIZE(sc) - 1
    else:
        sc.sc_bs_bshift = DEV_BSHIFT
        sc.sc_bs_bmask = FSS_FSBSIZE(sc) - 1

    return 0, bsize


async def fss_create_snapshot(sc: fss_softc, fss: fss_set, l: Any) -> int:
    """Create a snapshot."""

    async def bad(error: int) -> int:
        # bad: (the C function's error exit)
        await fss_softc_free(sc)
        if sc.sc_bs_vp is not None:
            if sc.sc_flags & FSS_PERSISTENT:
                await vrele(sc.sc_bs_vp)
            else:
                await vn_close(sc.sc_bs_vp, FREAD | FWRITE, l.l_cred)
        sc.sc_bs_vp = None

        return error

    bsize = 0  # XXX gcc

    # Open needed files.
    error, bsize = await fss_create_files(sc, fss, l)
    if error != 0:
        return await bad(error)

    if sc.sc_flags & FSS_PERSISTENT:
        fss_softc_alloc(sc)
        sc.sc_flags |= FSS_ACTIVE
        return 0

    # Set cluster size. Must be a power of two and
    # a multiple of backing store block size.
    if fss.fss_csize <= 0:
        csize = MAXPHYS
    else:
        csize = fss.fss_csize
    if bsize // csize > FSS_CLUSTER_MAX:
        csize = bsize // FSS_CLUSTER_MAX + 1

    sc.sc_clshift = sc.sc_bs_bshift
    while sc.sc_clshift < 32:
        if FSS_CLSIZE(sc) >= csize:
            break
        sc.sc_clshift += 1
    if sc.sc_clshift >= 32:
        return await bad(EINVAL)
    sc.sc_clmask = FSS_CLSIZE(sc) - 1

    # Set number of cache slots.
    if FSS_CLSIZE(sc) <= 8192:
        sc.sc_cache_size = 32
    elif FSS_CLSIZE(sc) <= 65536:
        sc.sc_cache_size = 8
    else:
        sc.sc_cache_size = 4

    # Set number of clusters and size of last cluster.
    sc.sc_clcount = FSS_BTOCL(sc, bsize - 1) + 1
    sc.sc_clresid = FSS_CLOFF(sc, bsize - 1) + 1

    # Set size of indirect table.
    len_ = sc.sc_clcount * 4  # sizeof(u_int32_t)
    sc.sc_indir_size = FSS_BTOCL(sc, len_) + 1
    sc.sc_clnext = sc.sc_indir_size
    sc.sc_indir_cur = 0

    error = fss_softc_alloc(sc)
    if error != 0:
        return await bad(error)

    # Activate the snapshot.

    error = await vfs_suspend(sc.sc_mount, 0)
    if error != 0:
        return await bad(error)

    microtime(sc.sc_time)

    await vrele_flush(sc.sc_mount)
    error = await VFS_SYNC(sc.sc_mount, MNT_WAIT, curlwp().l_cred)
    if error == 0:
        error = await fscow_establish(sc.sc_mount, fss_copy_on_write, sc)
    if error == 0:
        sc.sc_flags |= FSS_ACTIVE

    await vfs_resume(sc.sc_mount)

    if error != 0:
        return await bad(error)

    aprint_debug_dev(sc.sc_dev, "%s snapshot active\n", sc.sc_mntname)
    aprint_debug_dev(sc.sc_dev, "%u clusters of %u, %u cache slots, %u indir clusters\n",
                     sc.sc_clcount, FSS_CLSIZE(sc), sc.sc_cache_size, sc.sc_indir_size)

    return 0


async def fss_delete_snapshot(sc: fss_softc, l: Any) -> int:
    """Delete a snapshot."""

    if (sc.sc_flags & (FSS_PERSISTENT | FSS_ERROR)) == 0:
        await fscow_disestablish(sc.sc_mount, fss_copy_on_write, sc)

    await mutex_enter(sc.sc_slock)
    sc.sc_flags &= ~(FSS_ACTIVE | FSS_ERROR)
    sc.sc_mount = None
    sc.sc_bdev = NODEV
    mutex_exit(sc.sc_slock)

    await fss_softc_free(sc)
    if sc.sc_flags & FSS_PERSISTENT:
        await vrele(sc.sc_bs_vp)
    else:
        await vn_close(sc.sc_bs_vp, FREAD | FWRITE, l.l_cred)
    sc.sc_bs_vp = None
    sc.sc_flags &= ~FSS_PERSISTENT

    return 0


_fss_read_cluster_site = lock_site()


async def fss_read_cluster(sc: fss_softc, cl: int) -> int:
    """Read a cluster from the snapshotted block device to the cache."""

    # Get a free cache slot.
    # (scl, one past the last slot, is the for-else of the loops below.)

    await mutex_enter(sc.sc_slock, at=_fss_read_cluster_site)

    while True:  # restart:
        if isset(sc.sc_copied, cl) or not FSS_ISVALID(sc):
            mutex_exit(sc.sc_slock)
            return 0

        restart = False
        for scp in sc.sc_cache:
            if scp.fc_cluster == cl:
                if scp.fc_type == FSS_CACHE_VALID:
                    mutex_exit(sc.sc_slock)
                    return 0
                elif scp.fc_type == FSS_CACHE_BUSY:
                    await cv_wait(scp.fc_state_cv, sc.sc_slock)
                    restart = True  # goto restart
                    break
        if restart:
            continue

        for scp in sc.sc_cache:
            if scp.fc_type == FSS_CACHE_FREE:
                scp.fc_type = FSS_CACHE_BUSY
                scp.fc_cluster = cl
                break
        else:  # scp >= scl
            await cv_wait(sc.sc_cache_cv, sc.sc_slock)
            continue  # goto restart
        break

    mutex_exit(sc.sc_slock)

    # Start the read.
    dblk = btodb(FSS_CLTOB(sc, cl))
    if cl == sc.sc_clcount - 1:
        todo = sc.sc_clresid
        memset(scp.fc_data, todo, 0, FSS_CLSIZE(sc) - todo)
    else:
        todo = FSS_CLSIZE(sc)
    offset = 0
    mbp = getiobuf(None, True)
    mbp.b_bufsize = todo
    mbp.b_data = scp.fc_data
    mbp.b_resid = mbp.b_bcount = todo
    mbp.b_flags = B_READ
    mbp.b_cflags = BC_BUSY
    mbp.b_dev = sc.sc_bdev
    while todo > 0:
        len_ = todo
        if len_ > MAXPHYS:
            len_ = MAXPHYS
        if btodb(FSS_CLTOB(sc, cl)) == dblk and len_ == todo:
            bp = mbp
        else:
            bp = getiobuf(None, True)
            nestiobuf_setup(mbp, bp, offset, len_)
        bp.b_lblkno = 0
        bp.b_blkno = dblk
        await bdev_strategy(bp)
        dblk += btodb(len_)
        offset += len_
        todo -= len_
    error = await biowait(mbp)
    if error == 0 and mbp.b_resid != 0:
        error = EIO
    putiobuf(mbp)

    await mutex_enter(sc.sc_slock)
    scp.fc_type = FSS_CACHE_FREE if error else FSS_CACHE_VALID
    cv_broadcast(scp.fc_state_cv)
    if error == 0:
        setbit(sc.sc_copied, scp.fc_cluster)
        cv_signal(sc.sc_work_cv)
    mutex_exit(sc.sc_slock)

    return error


_fss_bs_io_site = lock_site()


async def fss_bs_io(sc: fss_softc, rw: int, cl: int, off: int, len_: int, data: Any,
                    resid: list[int] | None) -> int:
    """Read/write clusters from/to backing store.
    For persistent snapshots must be called with cl == 0. off is the
    offset into the snapshot."""

    off += FSS_CLTOB(sc, cl)

    await vn_lock(sc.sc_bs_vp, LK_EXCLUSIVE | LK_RETRY)

    error = await vn_rdwr(UIO_READ if rw == FSS_READ else UIO_WRITE, sc.sc_bs_vp,
                          data, len_, off, UIO_SYSSPACE,
                          IO_ADV_ENCODE(POSIX_FADV_NOREUSE) | IO_NODELOCKED,
                          sc.sc_bs_lwp.l_cred, resid, None)
    if error == 0:
        await mutex_enter(sc.sc_bs_vp.v_interlock, at=_fss_bs_io_site)
        error = await VOP_PUTPAGES(sc.sc_bs_vp, trunc_page(off),
                                   round_page(off + len_), PGO_CLEANIT | PGO_FREE | PGO_SYNCIO)

    VOP_UNLOCK(sc.sc_bs_vp)

    return error


async def fss_bs_indir(sc: fss_softc, cl: int) -> int | None:
    """Get a pointer to the indirect slot for this cluster.

    Returns the slot's index in sc_indir_data (None for NULL)."""

    icl = cl // (FSS_CLSIZE(sc) // 4)  # sizeof(u_int32_t)
    ioff = cl % (FSS_CLSIZE(sc) // 4)

    if sc.sc_indir_cur == icl:
        return ioff  # &sc->sc_indir_data[ioff]

    if sc.sc_indir_dirty:
        if await fss_bs_io(sc, FSS_WRITE, sc.sc_indir_cur, 0,
                           FSS_CLSIZE(sc), sc.sc_indir_data, None) != 0:
            return None
        setbit(sc.sc_indir_valid, sc.sc_indir_cur)

    sc.sc_indir_dirty = 0
    sc.sc_indir_cur = icl

    if isset(sc.sc_indir_valid, sc.sc_indir_cur):
        if await fss_bs_io(sc, FSS_READ, sc.sc_indir_cur, 0,
                           FSS_CLSIZE(sc), sc.sc_indir_data, None) != 0:
            return None
    else:
        memset(sc.sc_indir_data.obj, 0, 0, FSS_CLSIZE(sc))

    return ioff


_fc_type = attrgetter("fc_type")


async def fss_bs_thread(arg: Any) -> None:
    """The kernel thread (one for every active snapshot).

    After wakeup it cleans the cache and runs the I/O requests."""

    sc = arg
    # scl = sc->sc_cache+sc->sc_cache_size: the for-else of the cache scans below
    crotor = 0
    thread_idle = False

    await mutex_enter(sc.sc_slock)

    while True:
        if thread_idle:
            await cv_wait(sc.sc_work_cv, sc.sc_slock)
        thread_idle = True
        if (sc.sc_flags & FSS_BS_THREAD) == 0:
            mutex_exit(sc.sc_slock)
            kthread_exit(0)

        # Process I/O requests (persistent)

        if sc.sc_flags & FSS_PERSISTENT:
            bp = bufq_get(sc.sc_bufq)
            if bp is None:
                continue
            is_valid = FSS_ISVALID(sc)
            is_read = bp.b_flags & B_READ
            thread_idle = False
            mutex_exit(sc.sc_slock)

            if is_valid:
                disk_busy(sc.sc_dkdev)
                resid = [0]
                error = await fss_bs_io(sc, FSS_READ, 0, dbtob(bp.b_blkno), bp.b_bcount,
                                        bp.b_data, resid)
                if error:
                    resid[0] = bp.b_bcount
                disk_unbusy(sc.sc_dkdev, 0 if error else bp.b_bcount, is_read)
            else:
                error = ENXIO
                resid = [bp.b_bcount]

            bp.b_error = error
            bp.b_resid = resid[0]
            biodone(bp)

            await mutex_enter(sc.sc_slock)
            continue

        # Clean the cache
        # (C's crotor steps through the slots from the one after the last
        # slot cleaned to the first FSS_CACHE_VALID one; the port reads each
        # slot's fc_type once and finds that slot with index(), from
        # crotor + 1 and then from the start: crotor ends where C's loop
        # leaves it, unchanged when no slot is valid.)
        types = list(map(_fc_type, sc.sc_cache))
        if FSS_CACHE_VALID in types:
            try:
                crotor = types.index(FSS_CACHE_VALID, crotor + 1)
            except ValueError:
                crotor = types.index(FSS_CACHE_VALID)
            scp = sc.sc_cache[crotor]
            mutex_exit(sc.sc_slock)

            thread_idle = False
            indirp = await fss_bs_indir(sc, scp.fc_cluster)
            if indirp is not None:
                error = await fss_bs_io(sc, FSS_WRITE, sc.sc_clnext, 0, FSS_CLSIZE(sc),
                                        scp.fc_data, None)
            else:
                error = EIO

            await mutex_enter(sc.sc_slock)
            if error == 0:
                sc.sc_indir_data[indirp] = sc.sc_clnext  # *indirp = sc->sc_clnext++
                sc.sc_clnext += 1
                sc.sc_indir_dirty = 1
            else:
                await fss_error(sc, "write error on backing store")

            scp.fc_type = FSS_CACHE_FREE
            cv_broadcast(sc.sc_cache_cv)

        # Process I/O requests
        bp = bufq_get(sc.sc_bufq)
        if bp is None:
            continue
        is_valid = FSS_ISVALID(sc)
        is_read = bp.b_flags & B_READ
        thread_idle = False

        if not is_valid:
            mutex_exit(sc.sc_slock)

            bp.b_error = ENXIO
            bp.b_resid = bp.b_bcount
            biodone(bp)

            await mutex_enter(sc.sc_slock)
            continue

        disk_busy(sc.sc_dkdev)

        # First read from the snapshotted block device unless
        # this request is completely covered by backing store.

        cl = FSS_BTOCL(sc, dbtob(bp.b_blkno))
        off = FSS_CLOFF(sc, dbtob(bp.b_blkno))
        ch = FSS_BTOCL(sc, dbtob(bp.b_blkno) + bp.b_bcount - 1)
        error = 0
        bp.b_resid = 0
        bp.b_error = 0
        for c in range(cl, ch + 1):
            if isset(sc.sc_copied, c):
                continue
            mutex_exit(sc.sc_slock)

            # Not on backing store, read from device.
            nbp = getiobuf(None, True)
            nbp.b_flags = B_READ
            nbp.b_resid = nbp.b_bcount = bp.b_bcount
            nbp.b_bufsize = bp.b_bcount
            nbp.b_data = bp.b_data
            nbp.b_blkno = bp.b_blkno
            nbp.b_lblkno = 0
            nbp.b_dev = sc.sc_bdev
            nbp.b_cflags |= BC_BUSY  # mark buffer busy

            await bdev_strategy(nbp)

            error = await biowait(nbp)
            if error == 0 and nbp.b_resid != 0:
                error = EIO
            if error != 0:
                bp.b_resid = bp.b_bcount
                bp.b_error = nbp.b_error
                disk_unbusy(sc.sc_dkdev, 0, is_read)
                biodone(bp)
            putiobuf(nbp)

            await mutex_enter(sc.sc_slock)
            break
        if error:
            continue

        # Replace those parts that have been saved to backing store.

        addr = 0  # addr = bp->b_data
        todo = bp.b_bcount
        for c in range(cl, ch + 1):
            len_ = FSS_CLSIZE(sc) - off
            if len_ > todo:
                len_ = todo
            try:
                if isclr(sc.sc_copied, c):
                    continue
                mutex_exit(sc.sc_slock)

                indirp = await fss_bs_indir(sc, c)
                if indirp is None or sc.sc_indir_data[indirp] == 0:
                    # Not on backing store. Either in cache
                    # or hole in the snapshotted block device.

                    await mutex_enter(sc.sc_slock)
                    for scp in sc.sc_cache:
                        if scp.fc_type == FSS_CACHE_VALID and scp.fc_cluster == c:
                            break
                    else:
                        scp = None  # scp >= scl
                    if scp is not None:
                        memcpy(bp.b_data, addr, scp.fc_data, off, len_)
                    else:
                        memset(bp.b_data, addr, 0, len_)
                    continue

                # Read from backing store.
                error = await fss_bs_io(sc, FSS_READ, sc.sc_indir_data[indirp], off, len_,
                                        memoryview(bp.b_data)[addr:addr + len_], None)

                await mutex_enter(sc.sc_slock)
                if error:
                    bp.b_resid = bp.b_bcount
                    bp.b_error = error
                    break
            finally:
                # the for's increment: off = 0, todo -= len, addr += len
                off = 0
                todo -= len_
                addr += len_
        mutex_exit(sc.sc_slock)

        disk_unbusy(sc.sc_dkdev, 0 if error else bp.b_bcount, is_read)
        biodone(bp)

        await mutex_enter(sc.sc_slock)


if _MODULE:
    from kern.kern_module import MODULE, MODULE_CLASS_DRIVER, MODULE_CMD_FINI, MODULE_CMD_INIT
    from kern.subr_autoconf import CFDRIVER_DECL

    MODULE(MODULE_CLASS_DRIVER, "fss", "bufq_fcfs")
    fss_cd = CFDRIVER_DECL("fss", DV_DISK, None)

    fss_bmajor = -1
    fss_cmajor = -1

    def fss_modcmd(cmd: int, arg: Any) -> int:
        global fss_bmajor, fss_cmajor
        error = 0

        if cmd == MODULE_CMD_INIT:
            mutex_init(fss_device_lock, MUTEX_DEFAULT, IPL_NONE)
            error = config_cfdriver_attach(fss_cd)
            if error:
                mutex_destroy(fss_device_lock)
                return error
            error = config_cfattach_attach(fss_cd.cd_name, fss_ca)
            if error:
                config_cfdriver_detach(fss_cd)
                mutex_destroy(fss_device_lock)
                return error
            error, fss_bmajor, fss_cmajor = devsw_attach(fss_cd.cd_name, fss_bdevsw,
                                                         fss_bmajor, fss_cdevsw, fss_cmajor)

            if error:
                config_cfattach_detach(fss_cd.cd_name, fss_ca)
                config_cfdriver_detach(fss_cd)
                mutex_destroy(fss_device_lock)
                return error

        elif cmd == MODULE_CMD_FINI:
            devsw_detach(fss_bdevsw, fss_cdevsw)
            error = config_cfattach_detach(fss_cd.cd_name, fss_ca)
            if error:
                _, fss_bmajor, fss_cmajor = devsw_attach(fss_cd.cd_name, fss_bdevsw, fss_bmajor,
                                                         fss_cdevsw, fss_cmajor)
                return error
            error = config_cfdriver_detach(fss_cd)
            if error:
                _, fss_bmajor, fss_cmajor = devsw_attach(fss_cd.cd_name, fss_bdevsw,
                                                         fss_bmajor, fss_cdevsw, fss_cmajor)
                _, fss_bmajor, fss_cmajor = devsw_attach(fss_cd.cd_name, fss_bdevsw,
                                                         fss_bmajor, fss_cdevsw, fss_cmajor)
                return error
            mutex_destroy(fss_device_lock)

        else:
            error = ENOTTY

        return error
