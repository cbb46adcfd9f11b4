"""The page daemon and page-cache accounting (uvm/uvm_pdaemon.c, uvm_extern.h, in small).

kemu has no virtual memory; what remains of UVM is the page cache of file
data (vfs.genfs_io) and the thread that writes dirty pages back when there
are too many of them: the page daemon.

* ``uvm`` is a module-level object whose ``pagedaemon_lwp`` is the current
  machine's page daemon lwp (None until it is started), so that code can ask
  ``if curlwp() is uvm.pagedaemon_lwp`` as NetBSD's does (fss does, to
  refuse to sleep on the page daemon's behalf).
* ``uvmexp()`` is the machine's page counters: resident pages, dirty pages,
  and the dirty-page threshold past which writers kick the daemon.
* ``uvm_kick_pdaemon()`` wakes the daemon.  It sleeps on the condvar
  "pgdaemon" without a timeout (an idle machine has no timer); once woken
  it offers every vnode with dirty pages to VOP_PUTPAGES(PGO_CLEANIT).  A
  page whose write fails stays dirty and is tried again at the next kick.

Boot: ``uvm_init(machine)`` (a boot hook) sets up the counters,
``uvm_pdaemon_start(machine)`` (a post-boot hook) starts the daemon.

Not a port: this file is kemu's own design.  It borrows NetBSD's names
(struct uvmexp and ``uvm.pagedaemon_lwp`` of sys/uvm/uvm_extern.h and
uvm.h, ``uvm_pageout``, ``uvmpd_scan`` and ``uvm_kick_pdaemon`` of
sys/uvm/uvm_pdaemon.c, the wait channel "pgdaemon") and keeps the one
behaviour callers rely on: the page daemon is an lwp that writes dirty
file pages back through VOP_PUTPAGES and never sleeps on a suspended
file system.  Where it differs from NetBSD's page daemon:

* It is driven by the count of dirty pages (``dirtyhiwat``, kemu's
  threshold), not by free-memory targets; it frees nothing and has no
  active/inactive page queues, swap or pool draining.
* A scan offers each vnode with dirty pages (oldest first) whole to
  VOP_PUTPAGES(PGO_CLEANIT|PGO_ALLPAGES); NetBSD walks its inactive queue
  and puts pages one at a time (uvmpd_scan_queue).  A vnode that is not
  VS_LOADED is skipped (its reclaim flushes it).
* fstrans_start_nowait is taken before v_interlock; a file system that is
  suspending is left for the next kick.
* It sleeps without a timeout; ``uvm_pdaemon_wait`` (for tests) and the
  uvmexp counters pdwoke, pdpageouts, pdfailed and pdscans are kemu's.
* ``uvmexp`` is per machine; ``uvm`` is a proxy that reads the current
  machine's page daemon.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curmachine_or_none
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_lwp import KTHREAD_MPSAFE, PRI_VM, kthread_create
from kern.kern_mutex import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_enter, mutex_exit, mutex_init
from kern.subr_prf import printf

if TYPE_CHECKING:
    from kern.kern_lwp import lwp
    from kern.machine import Machine

# Dirty pages a machine may hold before writers kick the page daemon
# (4096 pages: 16 MiB of dirty file data).
UVM_DIRTY_HIWAT = 4096


class uvmexp_t:
    """struct uvmexp, the part kemu keeps: page-cache counters of one machine."""

    def __init__(self) -> None:
        self.npages = 0           # resident file pages
        self.filepages = 0        # same as npages (all pages are file pages here)
        self.dirtypages = 0       # resident pages not yet written back
        self.dirtyhiwat = UVM_DIRTY_HIWAT
        self.pdwoke = 0           # times the daemon woke up
        self.pdpageouts = 0       # pages it wrote back
        self.pdfailed = 0         # page writes that failed (the pages stay dirty)
        self.pdscans = 0
        # uvm objects (one per vnode) that hold dirty pages, oldest first
        self.dirtyobjs: dict[Any, None] = {}
        # the page daemon
        self.pagedaemon_lwp: lwp | None = None
        self.pdaemon_lock = kmutex_t()
        mutex_init(self.pdaemon_lock, MUTEX_DEFAULT, IPL_NONE)
        self.pdaemon_cv = kcondvar_t()
        cv_init(self.pdaemon_cv, "pgdaemon")
        self.pdaemon_kicked = False
        self.pdaemon_idle_cv = kcondvar_t()
        cv_init(self.pdaemon_idle_cv, "pgdidle")
        self.pdaemon_busy = False

    def __repr__(self) -> str:
        return (f"<uvmexp npages={self.npages} dirty={self.dirtypages} "
                f"hiwat={self.dirtyhiwat}>")


_uvmexp = MachineLocal(uvmexp_t, "uvmexp")


def uvmexp(machine: Machine | None = None) -> uvmexp_t:
    """The page counters of ``machine`` (default: the current one)."""
    return _uvmexp.of(machine) if machine is not None else _uvmexp()


class _UvmProxy:
    """``uvm``: reads the current machine's page-daemon state (struct uvm)."""

    @property
    def pagedaemon_lwp(self) -> lwp | None:
        m = curmachine_or_none()
        if m is None:
            return None
        return _uvmexp.of(m).pagedaemon_lwp

    def __repr__(self) -> str:
        return f"<uvm pagedaemon_lwp={self.pagedaemon_lwp!r}>"


uvm = _UvmProxy()


def uvm_init(machine: Machine) -> None:
    """Boot hook: set up the page counters of ``machine``."""
    _uvmexp.of(machine)


def uvm_pdaemon_start(machine: Machine) -> None:
    """Post-boot hook: start the page daemon (lwp "pgdaemon") of the running machine."""
    u = _uvmexp.of(machine)
    if u.pagedaemon_lwp is not None:
        return
    error, l = kthread_create(PRI_VM, KTHREAD_MPSAFE, None, uvm_pageout, None, "pgdaemon")
    if error:
        printf("uvm_pdaemon_start: cannot create the page daemon: %d\n", error)
        return
    u.pagedaemon_lwp = l


def uvm_kick_pdaemon() -> None:
    """Wake the page daemon (it writes dirty pages back).  Never sleeps."""
    if curmachine_or_none() is None:
        return
    u = _uvmexp()
    u.pdaemon_kicked = True
    cv_broadcast(u.pdaemon_cv)


async def uvm_pdaemon_wait() -> None:
    """Sleep until the page daemon has finished the scans asked for so far (for tests)."""
    u = _uvmexp()
    if u.pagedaemon_lwp is None:
        return
    await mutex_enter(u.pdaemon_lock)
    while u.pdaemon_kicked or u.pdaemon_busy:
        await cv_wait(u.pdaemon_idle_cv, u.pdaemon_lock)
    mutex_exit(u.pdaemon_lock)


async def uvm_pageout(arg: Any) -> None:
    """The page daemon's main loop (uvm_pageout)."""
    u = _uvmexp()
    await mutex_enter(u.pdaemon_lock)
    while True:
        while not u.pdaemon_kicked:
            u.pdaemon_busy = False
            cv_broadcast(u.pdaemon_idle_cv)
            await cv_wait(u.pdaemon_cv, u.pdaemon_lock)
        u.pdaemon_kicked = False
        u.pdaemon_busy = True
        u.pdwoke += 1
        mutex_exit(u.pdaemon_lock)
        await uvmpd_scan()
        await mutex_enter(u.pdaemon_lock)


async def uvmpd_scan() -> None:
    """Offer every vnode with dirty pages to its file system for writing back."""
    from vfs.genfs_io import PGO_ALLPAGES, PGO_CLEANIT
    from vfs.vfs_trans import fstrans_done, fstrans_start_nowait
    from vfs.vnode import VS_LOADED
    from vfs.vnode_if import VOP_PUTPAGES

    u = _uvmexp()
    u.pdscans += 1
    for uobj in list(u.dirtyobjs):
        vp = uobj.vmobj_vnode
        if vp is None or uobj.uo_ndirty == 0:
            continue
        # The daemon never waits for a suspended file system: its pages are
        # left for the next kick.  (Entering the transaction before taking
        # v_interlock keeps the daemon from sleeping in fstrans with the
        # interlock held, which the suspending lwp's VFS_SYNC needs.)
        mp = vp.v_mount
        if fstrans_start_nowait(mp) != 0:
            continue
        await mutex_enter(vp.v_interlock)
        # A vnode being reclaimed flushes its own pages.
        if vp.v_state != VS_LOADED or vp.v_uobj is not uobj:
            mutex_exit(vp.v_interlock)
        else:
            before = uobj.uo_ndirty
            await VOP_PUTPAGES(vp, 0, 0, PGO_CLEANIT | PGO_ALLPAGES)  # releases v_interlock
            u.pdpageouts += max(0, before - uobj.uo_ndirty)
        fstrans_done(mp)
