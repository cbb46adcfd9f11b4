"""kemu's kernel core: NetBSD's kernel services on trio, and the machine harness.

``from kern import kmutex_t, mutex_init, mutex_enter, cv_init, cv_wait, ...``
gives the primitives under their NetBSD names; ``kern.boot(seed=7)`` boots a
machine.  See docs/ARCHITECTURE.md for the whole picture.

The names are imported on first use (the module ``__getattr__``, kern/_lazy.py), not
when the package is: importing a header-like module (``kern.errno``,
``kern.fcntl``) or a package beside this one (``vfs``, ``fs``, ``tools``: their
``__init__`` imports ``kern._layout``) does not load the kernel core and trio.
A puffs server in another OS process (tools/lib/libpuffs/remote.py) imports
only such modules, and starts in a fraction of the time.
"""

from __future__ import annotations

from . import _layout, _lazy

_layout.check_siblings(__name__, __file__)

from kern.errno import *  # noqa: E402,F403 - NetBSD's errno names (a table: no imports)
from kern.errno import strerror  # noqa: E402

#: the names re-exported here, by the module that defines them
_EXPORTS: dict[str, tuple[str, ...]] = {
    "kern.cpu": ("MachineLocal", "curlwp", "curmachine", "curproc"),
    "kern.exceptions": ("DataRace", "Deadlock", "DirtyHaltWarning", "KernelError",
                        "KernelPanic", "LockOrderReversal", "MachineHalted", "ShutdownError",
                        "SyscallError"),
    "kern.kern_auth": ("FSCRED", "NOCRED", "kauth_cred", "kauth_cred_t"),
    "kern.kern_condvar": ("cv_broadcast", "cv_destroy", "cv_has_waiters", "cv_init",
                          "cv_signal", "cv_timedwait", "cv_timedwait_sig", "cv_wait",
                          "cv_wait_sig", "kcondvar_t"),
    "kern.kern_lwp": ("KTHREAD_MPSAFE", "KTHREAD_MUSTJOIN", "PRI_BIO", "PRI_KERNEL",
                      "PRI_NONE", "PRI_VM", "kthread_create", "kthread_exit", "kthread_join",
                      "lwp", "proc"),
    "kern.kern_mutex": ("IPL_HIGH", "IPL_NONE", "IPL_SCHED", "IPL_SOFTBIO", "IPL_VM",
                        "MUTEX_ADAPTIVE", "MUTEX_DEFAULT", "MUTEX_DRIVER", "MUTEX_SPIN",
                        "kmutex_t", "mutex_destroy", "mutex_enter", "mutex_exit", "mutex_init",
                        "mutex_owned", "mutex_tryenter"),
    "kern.kern_rwlock": ("RW_READER", "RW_WRITER", "krwlock_t", "rw_destroy", "rw_downgrade",
                         "rw_enter", "rw_exit", "rw_init", "rw_lock_held", "rw_read_held",
                         "rw_tryenter", "rw_tryupgrade", "rw_write_held"),
    "kern.kern_sig": ("psignal",),
    "kern.kern_synch": ("hz", "kpause", "mstohz", "mtsleep", "tsleep", "wakeup"),
    "kern.kern_time": ("getmicrotime", "microtime", "nanotime", "timespec", "timeval"),
    "kern.kern_types": ("NODEV", "cast", "sizeof"),
    "kern.machine": ("CrashDump", "Machine", "Trace", "boot"),
    "kern.subr_fault": ("FaultAttr", "FaultPlan", "fault_check", "fault_inject", "fault_site"),
    "kern.subr_kmem": ("KM_NOSLEEP", "KM_SLEEP", "M_DEVBUF", "M_NOWAIT", "M_TEMP", "M_WAITOK",
                       "M_ZERO", "free", "kmem_alloc", "kmem_free", "kmem_stats", "kmem_zalloc",
                       "malloc"),
    "kern.subr_prf": ("KASSERT", "KASSERTMSG", "aprint_debug", "aprint_debug_dev",
                      "aprint_error", "aprint_error_dev", "aprint_normal", "aprint_normal_dev",
                      "aprint_verbose", "dmesg", "panic", "printf"),
}
_WHERE = {name: mod for mod, names in _EXPORTS.items() for name in names}


__getattr__ = _lazy.package_getattr(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = sorted({n for n in globals() if not n.startswith("_")} - {"annotations"}
                 | set(_WHERE))
