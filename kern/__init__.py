"""kemu's kernel core: NetBSD's kernel services on trio, and the machine harness.

``from kern import kmutex_t, mutex_init, mutex_enter, cv_init, cv_wait, ...``
gives the primitives under their NetBSD names; ``kern.boot(seed=7)`` boots a
machine.  See docs/ARCHITECTURE.md for the whole picture.
"""

from . import _layout

_layout.check_siblings(__name__, __file__)

from kern.cpu import MachineLocal, curlwp, curmachine, curproc
from kern.errno import *  # noqa: F403 - NetBSD's errno names
from kern.errno import strerror
from kern.exceptions import (
    DataRace,
    Deadlock,
    KernelError,
    KernelPanic,
    LockOrderReversal,
    MachineHalted,
    ShutdownError,
    SyscallError,
)
from kern.kern_auth import FSCRED, NOCRED, kauth_cred, kauth_cred_t
from kern.kern_condvar import (
    cv_broadcast,
    cv_destroy,
    cv_has_waiters,
    cv_init,
    cv_signal,
    cv_timedwait,
    cv_timedwait_sig,
    cv_wait,
    cv_wait_sig,
    kcondvar_t,
)
from kern.kern_lwp import (
    KTHREAD_MPSAFE,
    KTHREAD_MUSTJOIN,
    PRI_BIO,
    PRI_KERNEL,
    PRI_NONE,
    PRI_VM,
    kthread_create,
    kthread_exit,
    kthread_join,
    lwp,
    proc,
)
from kern.kern_mutex import (
    IPL_HIGH,
    IPL_NONE,
    IPL_SCHED,
    IPL_SOFTBIO,
    IPL_VM,
    MUTEX_ADAPTIVE,
    MUTEX_DEFAULT,
    MUTEX_DRIVER,
    MUTEX_SPIN,
    kmutex_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
    mutex_owned,
    mutex_tryenter,
)
from kern.kern_rwlock import (
    RW_READER,
    RW_WRITER,
    krwlock_t,
    rw_destroy,
    rw_downgrade,
    rw_enter,
    rw_exit,
    rw_init,
    rw_lock_held,
    rw_read_held,
    rw_tryenter,
    rw_tryupgrade,
    rw_write_held,
)
from kern.kern_sig import psignal
from kern.kern_synch import hz, kpause, mstohz, mtsleep, tsleep, wakeup
from kern.kern_time import getmicrotime, microtime, nanotime, timespec, timeval
from kern.kern_types import NODEV, cast, sizeof
from kern.machine import CrashDump, Machine, Trace, boot
from kern.subr_fault import FaultAttr, FaultPlan, fault_check, fault_inject, fault_site
from kern.subr_kmem import (
    KM_NOSLEEP,
    KM_SLEEP,
    M_DEVBUF,
    M_NOWAIT,
    M_TEMP,
    M_WAITOK,
    M_ZERO,
    free,
    kmem_alloc,
    kmem_free,
    kmem_stats,
    kmem_zalloc,
    malloc,
)
from kern.subr_prf import (
    KASSERT,
    KASSERTMSG,
    aprint_debug,
    aprint_debug_dev,
    aprint_error,
    aprint_error_dev,
    aprint_normal,
    aprint_normal_dev,
    aprint_verbose,
    dmesg,
    panic,
    printf,
)

__all__ = [n for n in dir() if not n.startswith("_")]
