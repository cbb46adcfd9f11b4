"""File system transactions, suspension and copy-on-write hooks.

Ports NetBSD's sys/kern/vfs_trans.c as it stood in January 2018 (the
fstrans rework of netbsd-8 ticket #2, revision 1.46 or a little later),
with sys/sys/fstrans.h 1.11, plus ``genfs_suspendctl`` of
sys/miscfs/genfs/genfs_vfsops.c of the same time.

States.  In January 2018 ``enum fstrans_state`` has FSTRANS_NORMAL (0) and
FSTRANS_SUSPENDED (1) only: the "lazy" transactions and the intermediate
FSTRANS_SUSPENDING state had been removed and came back in October 2018.
kemu keeps the two-state model for ``genfs_suspendctl``.  FSTRANS_SUSPENDING
(2) is accepted by ``fstrans_setstate`` for file systems that want the
three-stage sequence; without lazy transactions it grants exactly what
FSTRANS_SUSPENDED grants.

Transactions.  A thread enters a shared transaction with ``fstrans_start``
(which sleeps while the mount is not NORMAL) and leaves it with
``fstrans_done``.  Per thread and mount a record counts the nesting, so a
thread already inside a transaction -- including the suspender, which holds
the exclusive one -- may start more.  ``fstrans_setstate`` moves a mount out
of NORMAL, waits (interruptibly) until no other thread holds a transaction
the new state does not grant, and then takes the exclusive transaction
itself; moving back to NORMAL releases it.

Copy-on-write.  ``fscow_establish`` / ``fscow_disestablish`` change a mount's
list of handlers only while no thread runs one of them; ``fscow_run`` calls
the handlers, newest first, for a buffer about to be written, stopping at
the first error.  A handler is ``async def handler(arg, bp, data_valid) ->
int``.

Locking in kemu.  NetBSD reads the state without locks under pserialize and
takes ``fstrans_lock`` only on the slow paths.  An emulated CPU switches
lwps only at sleep and lock operations, so the fast paths here are plain
code, and the plain-``def`` ``fstrans_done`` updates its counters and wakes
the waiters without taking ``fstrans_lock`` (taking it would be a sleep).
Where NetBSD does ``cv_signal(&fstrans_count_cv)`` kemu broadcasts: two kinds
of waiters share that condvar (a suspender and a cow-list changer), and a
signal that woke the wrong one would be reported as a deadlock that the
real kernel only hits by bad luck.  Waiters recheck their condition, so a
broadcast changes nothing else.

State is per machine (``MachineLocal``) and on the mount
(``mp.mnt_transinfo``) and lwp (``l.l_fstrans``) objects.

Deviations, gathered (each explained above):

* FSTRANS_SUSPENDING is accepted by ``fstrans_setstate`` (the January 2018
  text has only NORMAL and SUSPENDED) and grants what SUSPENDED grants;
  no lazy transactions.
* No pserialize and no fstrans_lock on the fast paths; ``fstrans_done``
  takes no lock; cv_broadcast where NetBSD does cv_signal on
  fstrans_count_cv.
* The fscow handlers are ``async def``; state is per machine.
* ``vfs_suspend`` and ``fscow_establish`` are fault-injection sites of
  those names (they fail with the injected errno and change nothing).
* ``fstrans_mount`` does not vfs_busy the mount around setting up its
  transaction state: kemu's vfs_busy is vfs_mount.c 1.93's, a transaction
  on the mount, which cannot be entered before the state exists and left
  after; the mount is new and on no list, so nothing can unmount it meanwhile.
* A ``fstrans_start`` that slept while the mount was suspended and wakes
  after ``fstrans_unmount`` (dounmount resumes the gone mount, then drops
  its state) counts no transaction: the mount has none any more.  In
  1.93, whose vfs_busy this feeds, the state lives until the last mount
  reference and the waiter's fstrans_done ends a counted one; here that
  fstrans_done is a no-op, and a counted transaction would stay forever.
* ``fstrans_start``'s common case (ASSERT_SLEEPABLE, the transaction
  granted at once) is also the plain function ``fstrans_start_begin``,
  which returns the wait (``_fstrans_start_wait``) for its caller to await
  when it must sleep: genfs_lock and the generated VOP_* call it, so they
  make no coroutine for a transaction.  KASSERTs on the hot paths test
  their condition inline and call KASSERT (the same panic and message)
  only when it fails; so do ``fstrans_start`` and ``fstrans_start_begin``
  with ASSERT_SLEEPABLE (called only when the lwp holds a spin lock), and
  ``_fstrans_start_nowait`` writes ``grant_lock``'s test out.
* ``fstrans_get_lwp_info`` first tries the record its last lookup on this
  lwp found and scans only when that is not ``mp``'s (NetBSD scans every
  time).  The shortcut is taken only while the scan could not differ: the
  record is still in the list, for ``mp`` and its current transaction
  state, and no mount got or lost its state (``fstrans_mount``,
  ``fstrans_unmount``, which count in ``_fstrans_gone_gen``) since a scan
  left the list without records of gone mounts, so the scan's clearing of
  such records has nothing to do.  Its test is the record's mount and that
  count only: while the count is the one the scan saw no mount's
  transaction state changed, and the record is still for ``mp``'s current
  one.  ``_fstrans_start_nowait`` and ``fstrans_done`` (every vnode lock
  and unlock) try that record first, the same test written out in each
  (a near-copy kept on purpose: a shared helper would be one more call at
  every vnode lock and unlock), and test ``_has_trans(mp)`` only when it
  is not ``mp``'s: a record found so says the mount has transaction state,
  and outside an lwp, or for a mount without that state, they answer as
  before.
* An lwp's list of records is its attribute ``l_fstrans`` (None until its
  first transaction), not lwp-specific data under ``lwp_data_key``
  (``lwp_getspecific``): one attribute load on every lookup instead of a
  dictionary's ``get``.  There is no key, so no ``fstrans_lwp_dtor``: NetBSD
  runs it at lwp exit (``lwp_finispecific``) and KASSERTs there that each
  record holds no transaction and no cow-handler count; kemu neither checks
  that nor frees anything at exit (the records go with the lwp object;
  ``fmi_lwp_head`` holds them weakly).  So an lwp that exits inside a
  transaction is not caught (the same before the attribute: kemu's
  ``l_specific`` had no destructors either).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp, curlwp_or_none
from kern.errno import EBUSY, EINVAL, ENOENT, EOPNOTSUPP, EWOULDBLOCK
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, cv_wait_sig, kcondvar_t
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_tryenter,
)
from kern.kern_types import sizeof
from kern.subr_fault import fault_inject, fault_site
from kern.subr_kmem import KM_SLEEP, kmem_alloc, kmem_free
from kern.subr_lockdebug import ASSERT_SLEEPABLE
from kern.subr_prf import KASSERT, panic
from vfs.buf import B_COWDONE
from vfs.mount import (
    IMNT_GONE,
    IMNT_HAS_TRANS,
    SUSPEND_RESUME,
    SUSPEND_SUSPEND,
    VFS_SUSPENDCTL,
)

if TYPE_CHECKING:
    from vfs.buf import buf
    from vfs.mount import mount
    from vfs.vnode import vnode

# enum fstrans_state (sys/fstrans.h)
FSTRANS_NORMAL = 0
FSTRANS_SUSPENDED = 1
FSTRANS_SUSPENDING = 2  # kemu: optional third stage, see the module comment

# enum fstrans_lock_type (private to vfs_trans.c after the 2017 rework)
FSTRANS_SHARED = 1
FSTRANS_EXCL = 2

_FSTRANS_STATES = (FSTRANS_NORMAL, FSTRANS_SUSPENDED, FSTRANS_SUSPENDING)

# A copy-on-write handler: async def handler(arg, bp, data_valid) -> errno.
FscowFunc = Callable[[Any, "buf", bool], Awaitable[int]]

fault_site("vfs_suspend", "vfs_suspend fails with the errno as VFS_SUSPENDCTL would")
fault_site("fscow_establish", "fscow_establish fails with the errno, no handler added")


class fscow_handler:
    """One copy-on-write handler on a mount's list."""

    __slots__ = ("ch_func", "ch_arg")

    _c_sizeof = 32  # LIST_ENTRY + function pointer + argument

    def __init__(self) -> None:
        self.ch_func: Any = None
        self.ch_arg: Any = None

    def __repr__(self) -> str:
        return f"<fscow_handler {getattr(self.ch_func, '__qualname__', self.ch_func)}>"


class fstrans_lwp_info:
    """What one lwp holds on one mount: transaction and cow-handler nesting counts."""

    __slots__ = ("fli_self", "fli_mount", "fli_mountinfo", "fli_trans_cnt", "fli_cow_cnt",
                 "fli_lock_type", "__weakref__")

    def __init__(self) -> None:
        self.fli_self: Any = None
        self.fli_mount: mount | None = None
        self.fli_mountinfo: fstrans_mount_info | None = None
        self.fli_trans_cnt = 0
        self.fli_cow_cnt = 0
        self.fli_lock_type = FSTRANS_SHARED

    def __repr__(self) -> str:
        who = self.fli_self.l_name if self.fli_self is not None else None
        return (f"<fstrans_lwp_info {who} trans={self.fli_trans_cnt} "
                f"cow={self.fli_cow_cnt} type={self.fli_lock_type}>")


class fstrans_mount_info:
    """Per-mount transaction state (``mp.mnt_transinfo``)."""

    __slots__ = ("fmi_state", "fmi_cow_change", "fmi_cow_handler", "fmi_mount", "fmi_gone",
                 "fmi_lwp_head")

    _c_sizeof = 48

    def __init__(self) -> None:
        self.fmi_state = FSTRANS_NORMAL
        self.fmi_cow_change = False
        self.fmi_cow_handler: list[fscow_handler] = []
        self.fmi_mount: mount | None = None
        self.fmi_gone = False
        # NetBSD scans one global list of every fstrans_lwp_info; kemu keeps,
        # per mount, the records of the lwps that used it.  They go away with
        # their lwps (weak references), so the scans stay short.
        self.fmi_lwp_head: weakref.WeakSet[fstrans_lwp_info] = weakref.WeakSet()

    def __repr__(self) -> str:
        return (f"<fstrans_mount_info state={self.fmi_state} "
                f"handlers={len(self.fmi_cow_handler)} cow_change={self.fmi_cow_change}>")


class _FstransGlobals:
    """vfs_trans.c's file-scope variables, one set per machine (fstrans_init)."""

    def __init__(self) -> None:
        vfs_suspend_lock = kmutex_t()  # serializes suspensions system-wide
        mutex_init(vfs_suspend_lock, MUTEX_DEFAULT, IPL_NONE)
        fstrans_lock = kmutex_t()  # the fstrans big lock
        mutex_init(fstrans_lock, MUTEX_DEFAULT, IPL_NONE)
        fstrans_state_cv = kcondvar_t()  # a state or a cow list changed
        cv_init(fstrans_state_cv, "fstchg")
        fstrans_count_cv = kcondvar_t()  # a transaction or cow count changed
        cv_init(fstrans_count_cv, "fstcnt")
        self.vfs_suspend_lock = vfs_suspend_lock
        self.fstrans_lock = fstrans_lock
        self.fstrans_state_cv = fstrans_state_cv
        self.fstrans_count_cv = fstrans_count_cv


_fstrans = MachineLocal(_FstransGlobals, "fstrans")

class _fstrans_lwp_list(list):  # type: ignore[type-arg]
    """An lwp's fstrans_lwp_info records, newest first, and the one its last lookup found.

    ``fli_last`` is that record (``_no_fli`` if none) and ``fli_gen`` the value
    of ``_fstrans_gone_gen`` when a scan last left the list without records of
    gone mounts (-1 if it left some): while it still matches, a scan would
    clear nothing (see the deviations)."""

    __slots__ = ("fli_last", "fli_gen")


# A record of no mount: what _fstrans_lwp_list.fli_last holds when it has none.
# (Its mount is no mount's, not None: the shortcut's test of fli_mount
# against a caller's mp must fail for mp None too.)
_no_fli = fstrans_lwp_info()
_no_fli.fli_mount = object()  # type: ignore[assignment]

# How many times a mount got or lost its transaction state (fstrans_mount,
# fstrans_unmount), in every machine of the process: a change means some
# lwp's list may now hold records of a gone mount, or a last-found record
# may be of a mount's earlier state.
_fstrans_gone_gen = 0


def fstrans_init(machine: Any = None) -> None:
    """Boot hook: set up the per-machine state now (it is otherwise made on first use)."""
    if machine is not None:
        _fstrans.of(machine)
    else:
        _fstrans()


def _has_trans(mp: mount | None) -> bool:
    return mp is not None and bool(mp.mnt_iflag & IMNT_HAS_TRANS) and \
        mp.mnt_transinfo is not None


# ----------------------------------------------------------------- mounts

def fstrans_mount(mp: mount) -> int:
    """Give ``mp`` transaction state and set IMNT_HAS_TRANS; 0.

    kemu: no vfs_busy around it (see the deviations): it is called for a
    mount nobody else can see yet (VFS_MOUNT, vfs_mountroot)."""
    newfmi = kmem_alloc(sizeof(fstrans_mount_info), KM_SLEEP)
    newfmi.fmi_state = FSTRANS_NORMAL
    newfmi.fmi_cow_handler = []
    newfmi.fmi_cow_change = False
    newfmi.fmi_mount = mp
    newfmi.fmi_gone = False

    global _fstrans_gone_gen
    _fstrans_gone_gen += 1  # (kemu: no last-found record is of an earlier state of mp)
    mp.mnt_transinfo = newfmi
    mp.mnt_iflag |= IMNT_HAS_TRANS
    return 0


def fstrans_unmount(mp: mount) -> None:
    """Drop ``mp``'s transaction state (the mount must be NORMAL, without handlers)."""
    if mp is None or mp.mnt_transinfo is None:
        return
    fmi = mp.mnt_transinfo
    KASSERT(fmi.fmi_state == FSTRANS_NORMAL)
    KASSERT(not fmi.fmi_cow_handler)
    # Records of lwps that still point at this mount are dropped lazily by
    # fstrans_get_lwp_info, as NetBSD does for mounts that are gone.
    global _fstrans_gone_gen
    fmi.fmi_gone = True
    _fstrans_gone_gen += 1  # (every lwp's last-record shortcut rescans once)
    mp.mnt_transinfo = None
    mp.mnt_iflag &= ~IMNT_HAS_TRANS
    kmem_free(fmi, sizeof(fstrans_mount_info))


# ------------------------------------------------------------ lwp records

def fstrans_get_lwp_info(mp: mount, do_alloc: bool) -> fstrans_lwp_info | None:
    """This lwp's record for ``mp``, made if ``do_alloc``; clears records of gone mounts."""
    l = curlwp_or_none()  # (the ContextVar's bound get: ~1,500 calls a sweep seed)
    try:
        lst: _fstrans_lwp_list | None = l.l_fstrans  # type: ignore[union-attr]
    except AttributeError:
        l = curlwp()  # raises: not in an lwp
        raise
    if lst is None:
        lst = l.l_fstrans = _fstrans_lwp_list()
        lst.fli_gen = -1
    else:
        # kemu: the last lookup's record, while the scan below could only
        # find that same record and clear nothing (see the deviations: the
        # count also says the record is of mp's current transaction state).
        fli = lst.fli_last
        if fli.fli_mount is mp and lst.fli_gen == _fstrans_gone_gen:
            return fli
    res = None
    gone = None
    kept_gone = False
    transinfo = mp.mnt_transinfo
    for fli in lst:
        fmi = fli.fli_mountinfo
        if fli.fli_mount is mp and fmi is transinfo:
            res = fli
        elif fmi is not None and fmi.fmi_gone:
            if fli.fli_trans_cnt == 0 and fli.fli_cow_cnt == 0:
                if gone is None:
                    gone = []
                gone.append(fli)
            else:
                kept_gone = True
    if gone is not None:  # (removed after the scan, not while iterating the list)
        for fli in gone:
            lst.remove(fli)
            fli.fli_mount = None
            fli.fli_mountinfo = None
    lst.fli_gen = -1 if kept_gone else _fstrans_gone_gen
    if res is not None or not do_alloc:
        lst.fli_last = _no_fli if res is None else res
        return res
    fmi = mp.mnt_transinfo
    fli = fstrans_lwp_info()
    fli.fli_self = l
    fli.fli_mount = mp
    fli.fli_mountinfo = fmi
    lst.insert(0, fli)
    fmi.fmi_lwp_head.add(fli)
    lst.fli_last = fli
    return fli


def grant_lock(state: int, type: int) -> bool:
    """Whether a transaction of ``type`` may run while the mount is in ``state``."""
    if state == FSTRANS_NORMAL:
        return True
    if type == FSTRANS_EXCL:
        return True
    return False


# ----------------------------------------------------------- transactions

def _fstrans_start_nowait(mp: mount | None, lock_type: int) -> int:
    # kemu: this lwp's last-found record first (fstrans_get_lwp_info's
    # shortcut, in line; see the deviations): found, it also says mp has
    # transaction state.  Else _has_trans(mp), in line, and the lookup.
    l = curlwp_or_none()
    lst = None if l is None else l.l_fstrans
    if lst is not None and (fli := lst.fli_last).fli_mount is mp and \
            lst.fli_gen == _fstrans_gone_gen:
        pass
    elif mp is None or not mp.mnt_iflag & IMNT_HAS_TRANS or mp.mnt_transinfo is None:
        return 0
    else:
        fli = fstrans_get_lwp_info(mp, True)  # type: ignore[assignment]
        assert fli is not None
    if fli.fli_trans_cnt > 0:
        if lock_type == FSTRANS_EXCL:  # (the KASSERT's call only when it fails)
            KASSERT(lock_type != FSTRANS_EXCL)
        fli.fli_trans_cnt += 1
        return 0
    # (grant_lock(mp.mnt_transinfo.fmi_state, lock_type), written out)
    if mp.mnt_transinfo.fmi_state == FSTRANS_NORMAL or lock_type == FSTRANS_EXCL:
        fli.fli_trans_cnt = 1
        fli.fli_lock_type = lock_type
        return 0
    return EBUSY


async def _fstrans_start(mp: mount | None, lock_type: int, wait: bool) -> int:
    ASSERT_SLEEPABLE()
    error = _fstrans_start_nowait(mp, lock_type)
    if error == 0 or not wait:
        return error
    return await _fstrans_start_wait(mp, lock_type)


async def _fstrans_start_wait(mp: mount | None, lock_type: int) -> int:
    """_fstrans_start's part after the common case failed: sleep until the
    mount's state grants ``lock_type`` (kemu: its own coroutine, so that
    fstrans_start does the common case without a second one)."""
    assert mp is not None
    g = _fstrans()
    fmi = mp.mnt_transinfo
    fli = fstrans_get_lwp_info(mp, True)
    assert fli is not None
    await mutex_enter(g.fstrans_lock)
    while not grant_lock(fmi.fmi_state, lock_type):
        await cv_wait(g.fstrans_state_cv, g.fstrans_lock)
    if fmi.fmi_gone:
        # kemu: the mount's transaction state went while we slept (an
        # unmount resumed it, then called fstrans_unmount): it has no
        # transactions any more, so none is counted and the matching
        # fstrans_done (a no-op on such a mount) leaves no stale record.
        mutex_exit(g.fstrans_lock)
        return 0
    fli.fli_trans_cnt = 1
    fli.fli_lock_type = lock_type
    mutex_exit(g.fstrans_lock)
    return 0


async def fstrans_start(mp: mount | None) -> None:
    """Enter a shared transaction on ``mp``, sleeping while it is suspended."""
    # _fstrans_start(mp, FSTRANS_SHARED, True), written out: its common case
    # (granted at once) in this coroutine (puffs's touser calls it twice a
    # request; genfs_lock and the VOP_* use fstrans_start_begin).  Built on
    # fstrans_start_begin instead, an fstat cost 0.36% more instructions
    # (594.0k -> 596.2k, session 19): the near-copy is kept on purpose.
    l = curlwp_or_none()  # (ASSERT_SLEEPABLE's test, its call only when it fails)
    if l is not None and l.l_spinlocks:
        ASSERT_SLEEPABLE()
    if _fstrans_start_nowait(mp, FSTRANS_SHARED) == 0:
        return
    error = await _fstrans_start_wait(mp, FSTRANS_SHARED)
    KASSERT(error == 0)


def fstrans_start_begin(mp: mount | None) -> Coroutine[Any, Any, int] | None:
    """fstrans_start's common case without a coroutine: None once the
    transaction is entered, else the wait (``_fstrans_start_wait``) for the
    caller to await.

    kemu: _fstrans_start(mp, FSTRANS_SHARED, True) split so that its hot
    callers (genfs_lock, the generated VOP_* that run in a transaction; ~550
    a sweep seed) make no coroutine when the transaction is granted at once."""
    l = curlwp_or_none()  # (ASSERT_SLEEPABLE's test, its call only when it fails)
    if l is not None and l.l_spinlocks:
        ASSERT_SLEEPABLE()
    if _fstrans_start_nowait(mp, FSTRANS_SHARED) == 0:
        return None
    return _fstrans_start_wait(mp, FSTRANS_SHARED)


def fstrans_start_nowait(mp: mount | None) -> int:
    """Enter a shared transaction on ``mp`` if that needs no sleep; else EBUSY."""
    return _fstrans_start_nowait(mp, FSTRANS_SHARED)


def fstrans_done(mp: mount | None) -> None:
    """Leave a transaction; the last one out of a suspending mount wakes the suspender."""
    # (as _fstrans_start_nowait: the last-found record, then _has_trans and
    # the lookup; every vnode unlock comes here)
    l = curlwp_or_none()
    lst = None if l is None else l.l_fstrans
    if lst is not None and (fli := lst.fli_last).fli_mount is mp and \
            lst.fli_gen == _fstrans_gone_gen:
        pass
    elif mp is None or not mp.mnt_iflag & IMNT_HAS_TRANS or mp.mnt_transinfo is None:
        return
    else:
        fli = fstrans_get_lwp_info(mp, False)  # type: ignore[assignment]
    if fli is None or fli.fli_trans_cnt <= 0:  # (the KASSERTs' calls only when they fail)
        KASSERT(fli is not None)
        assert fli is not None
        KASSERT(fli.fli_trans_cnt > 0)
    if fli.fli_trans_cnt > 1:
        fli.fli_trans_cnt -= 1
        return
    fmi = mp.mnt_transinfo
    if fmi.fmi_state == FSTRANS_NORMAL:
        fli.fli_trans_cnt = 0
        return
    fli.fli_trans_cnt = 0
    cv_broadcast(_fstrans().fstrans_count_cv)


def fstrans_is_owner(mp: mount | None) -> int:
    """1 if this lwp holds the exclusive transaction on ``mp`` (it suspended it)."""
    if mp is None or not mp.mnt_iflag & IMNT_HAS_TRANS or mp.mnt_transinfo is None:
        return 0  # (not _has_trans(mp), inline: puffs asks at every lock and request)
    fli = fstrans_get_lwp_info(mp, False)
    if fli is None or fli.fli_trans_cnt == 0:
        return 0
    if fli.fli_mount is not mp:  # (the KASSERT's call only when it fails)
        KASSERT(fli.fli_mount is mp)
    return int(fli.fli_lock_type == FSTRANS_EXCL)


def fstrans_held(mp: mount | None) -> int:
    """1 if this lwp is inside a transaction on ``mp`` (any kind)."""
    if not _has_trans(mp):
        return 0
    assert mp is not None
    fli = fstrans_get_lwp_info(mp, False)
    return int(fli is not None and fli.fli_trans_cnt > 0)


def state_change_done(mp: mount) -> bool:
    """True when no lwp holds a transaction that the mount's state does not grant."""
    fmi = mp.mnt_transinfo
    for fli in fmi.fmi_lwp_head:
        if fli.fli_mount is not mp:
            continue
        if fli.fli_trans_cnt == 0:
            continue
        if grant_lock(fmi.fmi_state, fli.fli_lock_type):
            continue
        return False
    return True


async def fstrans_setstate(mp: mount, new_state: int) -> int:
    """Move ``mp`` to ``new_state``; leaving NORMAL waits for other transactions to drain.

    The wait can be interrupted by a signal: the state then goes back to
    NORMAL and the error (EINTR or ERESTART) is returned.
    """
    if new_state not in _FSTRANS_STATES:
        panic("fstrans_setstate: illegal state %d", new_state)
    if not _has_trans(mp):
        return 0
    g = _fstrans()
    fmi = mp.mnt_transinfo
    old_state = fmi.fmi_state
    if old_state == new_state:
        return 0

    await mutex_enter(g.fstrans_lock)
    fmi.fmi_state = new_state

    # Everybody sees the new state now; wait for the transactions it does
    # not grant to leave.
    error = 0
    while not state_change_done(mp):
        error = await cv_wait_sig(g.fstrans_count_cv, g.fstrans_lock)
        if error:
            new_state = fmi.fmi_state = FSTRANS_NORMAL
            break
    cv_broadcast(g.fstrans_state_cv)
    mutex_exit(g.fstrans_lock)

    if old_state != new_state:
        if old_state == FSTRANS_NORMAL:
            await _fstrans_start(mp, FSTRANS_EXCL, True)
        if new_state == FSTRANS_NORMAL:
            fstrans_done(mp)
    return error


def fstrans_getstate(mp: mount | None) -> int:
    """The transaction state of ``mp`` (FSTRANS_NORMAL for a mount without fstrans)."""
    if not _has_trans(mp):
        return FSTRANS_NORMAL
    assert mp is not None
    return mp.mnt_transinfo.fmi_state


# ------------------------------------------------------------- suspension

async def vfs_suspend(mp: mount, nowait: int) -> int:
    """Suspend all operations on ``mp``: 0, with vfs_suspend_lock held until vfs_resume.

    EOPNOTSUPP at once for a mount without fstrans.  Suspensions are
    serialized system-wide; with ``nowait`` a suspension in progress
    elsewhere gives EWOULDBLOCK.  The file system's
    VFS_SUSPENDCTL(SUSPEND_SUSPEND) does the work (EOPNOTSUPP if it has none).
    Fault-injection site "vfs_suspend" fails it as VFS_SUSPENDCTL would.
    """
    if not _has_trans(mp):
        return EOPNOTSUPP
    g = _fstrans()
    if nowait:
        if not mutex_tryenter(g.vfs_suspend_lock):
            return EWOULDBLOCK
    else:
        await mutex_enter(g.vfs_suspend_lock)

    error = fault_inject("vfs_suspend")
    if error == 0:
        error = await VFS_SUSPENDCTL(mp, SUSPEND_SUSPEND)
    if error != 0:
        mutex_exit(g.vfs_suspend_lock)
        return error
    return 0


async def vfs_resume(mp: mount) -> None:
    """Resume ``mp`` and end the suspension (the suspending lwp must call it)."""
    KASSERT(_has_trans(mp))
    g = _fstrans()
    await VFS_SUSPENDCTL(mp, SUSPEND_RESUME)
    mutex_exit(g.vfs_suspend_lock)


async def genfs_suspendctl(mp: mount, cmd: int) -> int:
    """VFS_SUSPENDCTL for file systems that use fstrans (genfs_vfsops.c)."""
    if not mp.mnt_iflag & IMNT_HAS_TRANS:
        return EOPNOTSUPP
    if cmd == SUSPEND_SUSPEND:
        if mp.mnt_iflag & IMNT_GONE:
            return ENOENT
        return await fstrans_setstate(mp, FSTRANS_SUSPENDED)
    if cmd == SUSPEND_RESUME:
        return await fstrans_setstate(mp, FSTRANS_NORMAL)
    return EINVAL


# --------------------------------------------------------- copy-on-write

def cow_state_change_done(mp: mount) -> bool:
    """True when no lwp is running a copy-on-write handler of ``mp``."""
    fmi = mp.mnt_transinfo
    KASSERT(fmi.fmi_cow_change)
    for fli in fmi.fmi_lwp_head:
        if fli.fli_mount is not mp:
            continue
        if fli.fli_cow_cnt == 0:
            continue
        return False
    return True


async def cow_change_enter(mp: mount) -> None:
    """Get the right to change ``mp``'s handler list; returns holding fstrans_lock."""
    g = _fstrans()
    fmi = mp.mnt_transinfo
    await mutex_enter(g.fstrans_lock)
    # One changer at a time.
    while fmi.fmi_cow_change:
        await cv_wait(g.fstrans_state_cv, g.fstrans_lock)
    # New fscow_run calls wait from here on; let the running ones finish.
    fmi.fmi_cow_change = True
    while not cow_state_change_done(mp):
        await cv_wait(g.fstrans_count_cv, g.fstrans_lock)


def cow_change_done(mp: mount) -> None:
    """The list change is over: let fscow_run and other changers go; drops fstrans_lock."""
    g = _fstrans()
    fmi = mp.mnt_transinfo
    fmi.fmi_cow_change = False
    cv_broadcast(g.fstrans_state_cv)
    mutex_exit(g.fstrans_lock)


async def fscow_establish(mp: mount, func: FscowFunc, arg: Any) -> int:
    """Add a copy-on-write handler at the head of ``mp``'s list; EINVAL without fstrans.

    Fault-injection site "fscow_establish".
    """
    if not _has_trans(mp):
        return EINVAL
    fmi = mp.mnt_transinfo
    KASSERT(fmi is not None)
    error = fault_inject("fscow_establish")
    if error:
        return error

    newch = kmem_alloc(sizeof(fscow_handler), KM_SLEEP)
    newch.ch_func = func
    newch.ch_arg = arg

    await cow_change_enter(mp)
    fmi.fmi_cow_handler.insert(0, newch)
    cow_change_done(mp)
    return 0


async def fscow_disestablish(mp: mount, func: FscowFunc, arg: Any) -> int:
    """Remove the first handler ``(func, arg)`` of ``mp``; EINVAL if there is none.

    Sleeps until no lwp is inside a handler of this mount, so calling it
    while holding a lock a handler needs deadlocks, as in NetBSD.
    """
    if not _has_trans(mp):
        return EINVAL
    fmi = mp.mnt_transinfo
    KASSERT(fmi is not None)

    await cow_change_enter(mp)
    found = None
    for hp in fmi.fmi_cow_handler:
        if hp.ch_func == func and hp.ch_arg is arg:
            found = hp
            break
    if found is not None:
        fmi.fmi_cow_handler.remove(found)
        kmem_free(found, sizeof(fscow_handler))
    cow_change_done(mp)
    return 0 if found is not None else EINVAL


# vfs.vnode and vfs.spec_vnops import this module: fscow_run (~120 calls a
# sweep seed) looks them up on its first call and keeps them (an import
# statement there cost every call about half a microsecond each).
_vnode_mod: Any = None
_spec_vnops_mod: Any = None


def _late_imports() -> None:
    global _vnode_mod, _spec_vnops_mod
    from vfs import spec_vnops, vnode

    _vnode_mod, _spec_vnops_mod = vnode, spec_vnops


def _spec_node_getmountedfs(vp: vnode) -> mount | None:
    """The file system mounted on block device vnode ``vp`` (specfs does the lookup)."""
    return _spec_vnops_mod.spec_node_getmountedfs(vp)


async def fscow_run(bp: buf, data_valid: bool) -> int:
    """Run the copy-on-write handlers for ``bp``, which is about to be written.

    Returns 0 (and sets B_COWDONE) when every handler agreed, or the first
    handler error.  ``data_valid`` says the buffer still holds the old
    contents of its blocks.
    """
    # Is there anything to do?
    if bp.b_flags & B_COWDONE:
        return 0
    if bp.b_vp is None:
        bp.b_flags |= B_COWDONE
        return 0
    if _vnode_mod is None:
        _late_imports()
    if bp.b_vp.v_type == _vnode_mod.VBLK:
        mp = _spec_node_getmountedfs(bp.b_vp)
    else:
        mp = bp.b_vp.v_mount
    if mp is None or not _has_trans(mp):
        bp.b_flags |= B_COWDONE
        return 0

    g = _fstrans()
    fli = fstrans_get_lwp_info(mp, True)
    assert fli is not None
    fmi = mp.mnt_transinfo

    # On the first (not recursive) entry, wait while the list is changing.
    if fli.fli_cow_cnt == 0:
        if fmi.fmi_cow_change:
            await mutex_enter(g.fstrans_lock)
            while fmi.fmi_cow_change:
                await cv_wait(g.fstrans_state_cv, g.fstrans_lock)
            fli.fli_cow_cnt = 1
            mutex_exit(g.fstrans_lock)
        else:
            fli.fli_cow_cnt = 1
    else:
        fli.fli_cow_cnt += 1

    # Every handler in turn; the first error stops the run.
    error = 0
    for hp in list(fmi.fmi_cow_handler):
        r = hp.ch_func(hp.ch_arg, bp, data_valid)
        if inspect.isawaitable(r):
            r = await r
        error = int(r or 0)
        if error != 0:
            break
    if error == 0:
        bp.b_flags |= B_COWDONE

    # Let a list changer go once the last handler of this lwp is done.
    if fli.fli_cow_cnt > 1:
        fli.fli_cow_cnt -= 1
    elif fmi.fmi_cow_change:
        fli.fli_cow_cnt = 0
        cv_broadcast(g.fstrans_count_cv)
    else:
        fli.fli_cow_cnt = 0
    return error


def fstrans_dump(mp: mount | None = None) -> str:
    """A text picture of the transactions (NetBSD's DDB ``fstrans`` command)."""
    from kern.cpu import curmachine

    names = {FSTRANS_NORMAL: "normal", FSTRANS_SUSPENDED: "suspended",
             FSTRANS_SUSPENDING: "suspending"}
    lines = ["Fstrans locks by lwp:"]
    for l in curmachine().alllwp:
        for fli in l.l_fstrans or ():
            if fli.fli_trans_cnt == 0 and fli.fli_cow_cnt == 0:
                continue
            if mp is not None and fli.fli_mount is not mp:
                continue
            on = fli.fli_mount.mnt_stat.f_mntonname.decode(errors="replace") \
                if fli.fli_mount is not None else "NULL"
            kind = "excl" if fli.fli_lock_type == FSTRANS_EXCL else "shared"
            lines.append(f"{l.l_proc.p_pid}.{l.l_lid} ({on}) {kind} "
                         f"{fli.fli_trans_cnt} cow {fli.fli_cow_cnt}")
    if mp is not None and mp.mnt_transinfo is not None:
        lines.append(f"state {names.get(mp.mnt_transinfo.fmi_state, '?')}")
    return "\n".join(lines)
