"""Port of NetBSD sys/fs/puffs/puffs_transport.c revision 1.12 (2007-04-06, pooka).

$NetBSD: puffs_transport.c,v 1.12 2007/04/06 16:37:02 pooka Exp $
Copyright (c) 2006 Antti Kantee.  The notice and license are kept in
LICENSE.NetBSD.

/dev/puffs: a cloning character device.  Every open makes a
``puffs_instance`` (embryonic until a mount(2) of the same process claims
it with ``puffs_setpmp``) behind a descriptor of its own with the puffs
fileops.  The server talks to the kernel only through ioctls on that
descriptor (PUFFSSTARTOP, PUFFSGETOP, PUFFSPUTOP, PUFFSFLUSHOP,
PUFFSSUSPENDOP; read and write are ENODEV), and closing it is a forced
unmount.

Reading aid: the instance list is a Python list kept sorted by index;
``PMP_EMBRYO``/``PMP_DEAD`` are sentinel objects; the fileops are
``async`` with kemu's signatures (fo_ioctl(fp, com, data), fo_close(fp)).

Deviations from 1.12 (also listed in puffs_vfsops.py's header):

* T1 the syncer freeze around the forced unmount in puffs_fop_close is
  left out (kemu has no syncer).  1.12's dounmount took over the caller's
  vfs_busy; kemu's (vfs_mount.c 1.93's vfs_busy, a transaction) suspends
  the file system and so waits for every busy holder: the close turns its
  busy into a reference (vfs_ref, vfs_unbusy) before dounmount and drops
  it (vfs_rele) after, as later NetBSD's close holds only a reference.
* T2 a forced unmount that fails in puffs_fop_close (1.12 KASSERTs it
  cannot) prints a message and leaves the file system mounted and DYING,
  where every operation gets ENXIO; an `unmount -f` removes it later.
  ENOENT is not a failure and says nothing: dounmount found the mount gone
  after waiting for another unmount of it (the halt's) that finished it,
  the IMNT_GONE case found late (1.12's KASSERT would fire on it under
  DIAGNOSTIC; without, NetBSD ignores the value).
* T3 dosuspendresume clears pmp_suspend on its early "already unmounting"
  exit too, and PUFFSSUSPENDOP clears it when the kthread cannot be
  created (1.12 left it set in both cases, so a later device close slept
  forever).
* T4 puffs_fop_restart (NetBSD 6's fo_restart) wakes a server thread
  sleeping in PUFFSGETOP on a descriptor another thread is closing; one
  still on its way to that sleep sees the restart before it sleeps
  (puffs_getop), so the close never waits for it for ever.
* T5 poll/kqueue: kemu has no select/poll sleepers, so selnotify only
  counts events and puffs_fop_poll does not selrecord; it answers as 1.12
  does.  The kqueue filter functions may not sleep, so they read the
  instance without pi_mtx and pmp_lock (nothing in kemu attaches them).
"""

from __future__ import annotations

from typing import Any

from kern.conf import (
    D_OTHER,
    POLLIN,
    POLLOUT,
    POLLPRI,
    POLLRDBAND,
    POLLRDNORM,
    POLLWRBAND,
    POLLWRNORM,
    cdevsw,
    noioctl,
    nokqfilter,
    nommap,
    nopoll,
    noread,
    nostop,
    notty,
    nowrite,
)
from kern.cpu import curlwp
from kern.errno import EBUSY, EINVAL, ENODEV, ENOENT, ENXIO
from kern.fcntl import FNONBLOCK, FREAD, FWRITE
from kern.ioccom import FIONBIO
from kern.kern_condvar import cv_broadcast, cv_wait
from kern.kern_descrip import fd_abort, fd_allocfile, fd_clone, fileops
from kern.kern_lwp import PRI_NONE, kthread_create, kthread_exit
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.kern_types import cast, sizeof
from kern.subr_kmem import M_PUFFS, M_WAITOK, M_ZERO, free, malloc
from kern.subr_prf import KASSERT, panic, printf
from kern.types_dev import minor
from vfs.genfs_io import round_page, trunc_page
from vfs.mount import IMNT_GONE, IMNT_UNMOUNT, MNT_FORCE, vfs_busy, vfs_ref, vfs_rele, vfs_unbusy
from vfs.vnode import VDIR, VREG, vrele

from . import puffs_msgif_h
from .puffs_msgif import puffs_getop, puffs_putop, puffs_userdead
from .puffs_msgif_h import (
    PUFFS_CLONER,
    PUFFS_INVAL_NAMECACHE_ALL,
    PUFFS_INVAL_NAMECACHE_DIR,
    PUFFS_INVAL_PAGECACHE_NODE_RANGE,
    PUFFSFLUSHOP,
    PUFFSGETOP,
    PUFFSPUTOP,
    PUFFSSTARTOP,
    PUFFSSUSPENDOP,
    puffs_reqh_get,
    puffs_reqh_put,
    puffs_startreq,
)
from .puffs_sys import DPRINTF, FPTOPI, FPTOPMP, PMPTOMP, PUFFSTAT_RUNNING, puffs_mount


class selinfo:
    """struct selinfo, reduced: kemu has no poll(2) sleepers (T5)."""

    def __init__(self) -> None:
        self.sel_klist: list[Any] = []
        self.sel_events = 0
        self.sel_restart = 0  # T4: bumped by puffs_fop_restart


class puffs_instance:
    """puffs instance structures.  These are always allocated and freed from
    the context of the device node / fileop code."""

    _c_sizeof = 64

    def __init__(self) -> None:
        self.pi_pid = 0
        self.pi_idx = 0
        self.pi_fd = 0
        self.pi_pmp: Any = None
        self.pi_sel = selinfo()

    def __repr__(self) -> str:
        return f"<puffs_instance idx={self.pi_idx} pid={self.pi_pid} pmp={self.pi_pmp!r}>"


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


PMP_EMBRYO = _Sentinel("PMP_EMBRYO")  # before mount
PMP_DEAD = _Sentinel("PMP_DEAD")      # goner

puffs_ilist: list[puffs_instance] = []

# protects both the list and the contents of the list elements
pi_mtx = kmutex_t()


def puffs_transport_init() -> None:

    mutex_init(pi_mtx, MUTEX_DEFAULT, IPL_NONE)


def puffs_transport_destroy() -> None:

    mutex_destroy(pi_mtx)


# ------------------------------------------------------------------ fd routines, for cloner

async def puffs_fop_read(fp: Any, off: Any, uio: Any, cred: Any, flags: int) -> int:

    return ENODEV


async def puffs_fop_write(fp: Any, off: Any, uio: Any, cred: Any, flags: int) -> int:

    return ENODEV


PUFFPOLL_EVSET = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI


async def puffs_fop_poll(fp: Any, events: int) -> int:
    """Poll query interface: can an event be read (by ioctl...) from us?"""
    pmp = FPTOPMP(fp)

    if pmp is PMP_EMBRYO or pmp is PMP_DEAD:
        printf("puffs_fop_ioctl: puffs %r, not mounted\n", pmp)
        return ENOENT

    revents = events & (POLLOUT | POLLWRNORM | POLLWRBAND)
    if (events & PUFFPOLL_EVSET) == 0:
        return revents

    # check queue
    await mutex_enter(pmp.pmp_lock)
    if pmp.pmp_req_touser:
        revents |= PUFFPOLL_EVSET
    mutex_exit(pmp.pmp_lock)

    return revents


async def puffs_fop_close(fp: Any) -> int:
    """device close = forced unmount.

    Unmounting is a frightfully complex operation to avoid races.
    """
    from vfs.vfs_mount import dounmount

    DPRINTF("puffs_fop_close: device closed, force filesystem unmount\n")

    while True:  # restart:
        await mutex_enter(pi_mtx)
        pmp = FPTOPMP(fp)
        # Never mounted: remove the instance from the list; a later mount
        # attempt simply fails.
        if pmp is PMP_EMBRYO:
            pi = FPTOPI(fp)
            puffs_ilist.remove(pi)
            mutex_exit(pi_mtx)
            free(pi, M_PUFFS)

            DPRINTF("puffs_fop_close: pmp associated with fp %r was embryonic\n", fp)

            return 0

        # Unmount ran and the instance is dead: puffs_nukebypmp already took
        # it off the list; just free it.
        if pmp is PMP_DEAD:
            mutex_exit(pi_mtx)

            DPRINTF("puffs_fop_close: pmp associated with fp %r was dead\n", fp)

            break  # goto out

        # So we have a reference.  Proceed to unwrap the file system.
        mp = PMPTOMP(pmp)
        mutex_exit(pi_mtx)
        await mutex_enter(pmp.pmp_lock)

        # Free the waiting callers before proceeding any further.
        await puffs_userdead(pmp)

        # Make sure an unmount is not in userspace right now; if it is,
        # let it finish and look again (the instance may be dead by then).
        if pmp.pmp_unmounting:
            await cv_wait(pmp.pmp_unmounting_cv, pmp.pmp_lock)
            mutex_exit(pmp.pmp_lock)
            DPRINTF("puffs_fop_close: unmount was in progress for pmp %r, restart\n", pmp)
            continue  # goto restart

        # The same for a running suspension: we cannot nuke the mount from
        # under it.
        if pmp.pmp_suspend:
            await cv_wait(pmp.pmp_suspend_cv, pmp.pmp_lock)
            mutex_exit(pmp.pmp_lock)
            DPRINTF("puffs_fop_close: suspend was in progress for pmp %r, restart\n", pmp)
            continue  # goto restart
        mutex_exit(pmp.pmp_lock)

        # Detach from VFS.  (T1: no syncer to freeze here.)
        gone = mp.mnt_iflag & IMNT_GONE
        if gone:
            break  # goto out

        # The only way vfs_busy() fails for us is a file system that is
        # already on its way out.
        if await vfs_busy(mp):
            break  # goto out

        # T1: 1.12's dounmount took the busy over; kemu's waits for busy
        # holders (its suspension), so the busy becomes a reference here.
        vfs_ref(mp)
        vfs_unbusy(mp)
        rv = await dounmount(mp, MNT_FORCE, curlwp())
        vfs_rele(mp)
        # T2: ENOENT is the IMNT_GONE case above, found later: another
        # unmount (the halt's) held the mount and finished it meanwhile.
        if rv != 0 and rv != ENOENT:
            printf("puffs_fop_close: forced unmount failed: error %d\n", rv)  # T2
        break

    # out:
    # Finally, release the instance information.  It was already removed
    # from the list by puffs_nukebypmp() and it is dead: no need to lock.
    pi = FPTOPI(fp)
    free(pi, M_PUFFS)

    return 0


async def puffs_fop_restart(fp: Any) -> None:
    """T4: another thread closes the descriptor: kick GETOP sleepers out."""
    pmp = FPTOPMP(fp)

    if pmp is PMP_EMBRYO or pmp is PMP_DEAD:
        return
    FPTOPI(fp).pi_sel.sel_restart += 1
    cv_broadcast(pmp.pmp_req_waiter_cv)


async def puffs_flush(pmp: puffs_mount, pf: puffs_msgif_h.puffs_flush) -> int:
    from .puffs_subr import puffs_pnode2vnode

    # XXX: slurry
    if pf.pf_op == PUFFS_INVAL_NAMECACHE_ALL:
        cache_purgevfs(PMPTOMP(pmp))
        return 0

    rv = 0

    # Get the vnode without locking it: the name cache has its own lock and
    # the reference keeps it from being harvested.  The node might be locked
    # by an operation waiting in userspace for us.
    vp = await puffs_pnode2vnode(pmp, pf.pf_cookie, 0)
    if vp is None:
        return ENOENT

    if pf.pf_op == PUFFS_INVAL_NAMECACHE_DIR:
        if vp.v_type != VDIR:
            rv = EINVAL
        else:
            cache_purge1(vp)

    elif pf.pf_op == PUFFS_INVAL_PAGECACHE_NODE_RANGE:
        if pf.pf_end > vp.v_size or vp.v_type != VREG:
            rv = EINVAL
        else:
            offlo = trunc_page(pf.pf_start)
            offhi = round_page(pf.pf_end)
            if offhi != 0 and offlo >= offhi:
                rv = EINVAL
            else:
                # No page cache under puffs vnodes in kemu: nothing to free.
                rv = 0

    else:
        rv = EINVAL

    await vrele(vp)

    return rv


def cache_purgevfs(mp: Any) -> None:
    """kemu has no name cache."""


def cache_purge1(vp: Any) -> None:
    """kemu has no name cache."""


async def dosuspendresume(arg: Any) -> None:
    from vfs.vfs_trans import vfs_resume, vfs_suspend

    pmp = arg

    mp = PMPTOMP(pmp)
    # XXX?  does this really do any good or is it just paranoid stupidity?
    if mp.mnt_iflag & IMNT_UNMOUNT:
        printf("puffs dosuspendresume(): detected suspend on unmounting fs\n")
    else:
        # do the dance
        rv = await vfs_suspend(PMPTOMP(pmp), 0)
        if rv == 0:
            await vfs_resume(PMPTOMP(pmp))

    await mutex_enter(pmp.pmp_lock)  # (T3: also after the early exit above)
    KASSERT(pmp.pmp_suspend)
    pmp.pmp_suspend = 0
    cv_broadcast(pmp.pmp_suspend_cv)
    mutex_exit(pmp.pmp_lock)

    # out:
    kthread_exit(0)


async def puffs_fop_ioctl(fp: Any, cmd: int, data: Any) -> int:
    pmp = FPTOPMP(fp)

    if pmp is PMP_EMBRYO or pmp is PMP_DEAD:
        printf("puffs_fop_ioctl: puffs %r, not mounted\n", pmp)
        return ENOENT

    if cmd == PUFFSGETOP:
        rv = await puffs_getop(pmp, cast(data, puffs_reqh_get), fp.f_flag & FNONBLOCK)

    elif cmd == PUFFSPUTOP:
        rv = await puffs_putop(pmp, cast(data, puffs_reqh_put))

    elif cmd == PUFFSSTARTOP:
        from .puffs_vfsops import puffs_start2  # (it imports this module)

        rv = await puffs_start2(pmp, cast(data, puffs_startreq))

    elif cmd == PUFFSFLUSHOP:
        rv = await puffs_flush(pmp, cast(data, puffs_msgif_h.puffs_flush))

    elif cmd == PUFFSSUSPENDOP:
        rv = 0
        await mutex_enter(pmp.pmp_lock)
        if pmp.pmp_suspend or pmp.pmp_status != PUFFSTAT_RUNNING:
            rv = EBUSY
        else:
            pmp.pmp_suspend = 1
        mutex_exit(pmp.pmp_lock)
        if rv == 0:
            rv, _ = kthread_create(PRI_NONE, 0, None, dosuspendresume, pmp, "puffsusp")
            if rv:
                pmp.pmp_suspend = 0  # T3

    # already done in sys_ioctl()
    elif cmd == FIONBIO:
        rv = 0

    else:
        rv = EINVAL

    return rv


# ------------------------------------------------------------------ kqueue stuff

def filt_puffsdetach(kn: Any) -> None:
    pi = kn.kn_hook

    pi.pi_sel.sel_klist.remove(kn)


def filt_puffsioctl(kn: Any, hint: int) -> int:
    pi = kn.kn_hook

    pmp = pi.pi_pmp
    if pmp is PMP_EMBRYO or pmp is PMP_DEAD:
        return 0

    kn.kn_data = pmp.pmp_req_waiters

    return int(kn.kn_data != 0)


async def puffs_fop_kqfilter(fp: Any, kn: Any) -> int:
    from kern.conf import EVFILT_READ

    pi = fp.f_data

    if getattr(kn, "kn_filter", None) != EVFILT_READ:
        return 1

    kn.kn_fop = (filt_puffsdetach, filt_puffsioctl)
    kn.kn_hook = pi

    pi.pi_sel.sel_klist.insert(0, kn)

    return 0


puffs_fileops = fileops(
    fo_name="puffs",
    fo_read=puffs_fop_read,
    fo_write=puffs_fop_write,
    fo_ioctl=puffs_fop_ioctl,
    fo_poll=puffs_fop_poll,
    fo_close=puffs_fop_close,
    fo_kqfilter=puffs_fop_kqfilter,
    fo_restart=puffs_fop_restart,
)


# ------------------------------------------------------------------ device routines

puffs_cdevsw = cdevsw(
    d_open="puffscdopen",
    d_close="puffscdclose",
    d_read=noread,
    d_write=nowrite,
    d_ioctl=noioctl,
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap=nommap,
    d_kqfilter=nokqfilter,
    d_flag=D_OTHER,
)


async def puffscdopen(dev: int, flags: int, fmt: int, l: Any) -> int:

    # XXX: decide on some security model and check permissions

    if minor(dev) != PUFFS_CLONER:
        return ENXIO

    error, fp, fd = fd_allocfile()
    if error != 0:
        return error

    pi = malloc(sizeof(puffs_instance), M_PUFFS, M_WAITOK | M_ZERO)

    await mutex_enter(pi_mtx)
    idx = get_pi_idx(pi)
    if idx == PUFFS_CLONER:
        mutex_exit(pi_mtx)
        free(pi, M_PUFFS)
        fd_abort(l.l_proc, fp, fd)
        return EBUSY

    pi.pi_pid = l.l_proc.p_pid
    pi.pi_idx = idx
    mutex_exit(pi_mtx)

    DPRINTF("puffscdopen: registered embryonic pmp for pid: %d\n", pi.pi_pid)

    return fd_clone(fp, fd, FREAD | FWRITE, puffs_fileops, pi)


async def puffscdclose(dev: int, flags: int, fmt: int, l: Any) -> int:

    panic("puffscdclose impossible\n")

    return 0


async def puffs_setpmp(pid: int, fd: int, pmp: puffs_mount) -> int:
    """Set the puffs_mount pointer.  Called from puffs_mount(), the earliest
    place that knows about it.

    We only make sure that the caller had the right to open the device; which
    of its instances it gets does not matter (they are equal at this point).
    """
    rv = 1

    await mutex_enter(pi_mtx)
    for pi in puffs_ilist:
        if pi.pi_pid == pid and pi.pi_pmp is PMP_EMBRYO:
            pi.pi_pmp = pmp
            pi.pi_fd = fd
            pmp.pmp_sel = pi.pi_sel
            rv = 0
            break
    mutex_exit(pi_mtx)

    return rv


async def puffs_nukebypmp(pmp: puffs_mount) -> None:
    """Remove mount point from list of instances.  Called from unmount."""

    await mutex_enter(pi_mtx)
    for pi in puffs_ilist:
        if pi.pi_pmp is pmp:
            puffs_ilist.remove(pi)
            break
    else:
        pi = None
    if pi is not None:
        pi.pi_pmp = PMP_DEAD
    else:
        panic("puffs_nukebypmp: invalid puffs_mount\n")  # DIAGNOSTIC

    mutex_exit(pi_mtx)

    DPRINTF("puffs_nukebypmp: nuked %r\n", pi)


def get_pi_idx(pi_i: puffs_instance) -> int:
    """Search the sorted list of instances for a free minor; sorted insert."""
    i = 0
    pos = len(puffs_ilist)
    for n, pi in enumerate(puffs_ilist):
        if i == PUFFS_CLONER:
            return PUFFS_CLONER
        if i != pi.pi_idx:
            pos = n
            break
        i += 1

    pi_i.pi_pmp = PMP_EMBRYO

    puffs_ilist.insert(pos, pi_i)

    return i
