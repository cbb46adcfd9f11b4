"""The ways a booted machine can end, as Python exceptions.

A port never raises these for a user's bad argument: that gets an errno.
They mean the kernel itself is broken (panic, failed KASSERT), is stuck
(deadlock), or took locks in an order that can deadlock.
"""

from __future__ import annotations

from typing import Any


class KernelError(Exception):
    """Base of every error that ends a machine's run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # Filled by the machine when the error ends the run: a snapshot of
        # every lwp (name, state, wmesg, held locks, stack) at that moment.
        self.crash: Any = None
        self.seed: int | None = None
        # The schedule string of the run that ended so (kern.boot(replay=...)
        # reruns it) and the strategy that chose it.
        self.schedule: str | None = None
        self.strategy: str | None = None

    def __str__(self) -> str:
        return self.message


class KernelPanic(KernelError):
    """panic(9) or a failed KASSERT; also a Python exception escaping kernel code."""


class Deadlock(KernelError):
    """Every lwp sleeps on a kernel object and nothing outside can wake one."""


class LockOrderReversal(KernelError):
    """A lock acquisition closed a cycle in the lock-order graph (WITNESS style)."""


class DataRace(KernelError):
    """Two lwps accessed a shared field of a kernel structure, at least one
    writing, with no lock in common (the lockset race detector, kern.machine.lockset)."""


class ShutdownError(KernelError):
    """The halt left file systems mounted that it could not unmount, even by force.

    The message names each one and what backs it (a host image), which may be
    inconsistent; the machine has stopped all the same.
    """


class DirtyHaltWarning(UserWarning):
    """``halt(sync=False)`` (RB_NOSYNC) closed the disks with file systems still
    mounted read-write: the host images it names are left dirty (not synced,
    not marked clean).  A warning, not an error: the halt did what was asked."""


class MachineHalted(RuntimeError):
    """The machine is no longer running (it was shut down or it crashed)."""


class SyscallError(OSError):
    """A system call failed; ``errno`` is NetBSD's number (see kern.errno).

    Python's OSError would map numbers to host (Linux) subclasses, which is
    wrong for NetBSD numbering, so this class keeps the number as given.
    """

    def __init__(self, error: int, what: str | None = None) -> None:
        from kern.errno import errorcode, strerror

        super().__init__(error, strerror(error))
        self.name = errorcode.get(error, str(error))
        self.what = what

    def __str__(self) -> str:
        prefix = f"{self.what}: " if self.what else ""
        return f"{prefix}{self.strerror} ({self.name})"

    def __reduce__(self) -> tuple:
        return (SyscallError, (self.errno, self.what))
