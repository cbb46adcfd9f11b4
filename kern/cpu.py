"""Who is running: the current machine, lwp and process (curcpu()/curlwp).

Every lwp runs in a ``contextvars`` context of its own (kern/machine/scheduler.py
runs its coroutine there), which carries the machine it runs in and the lwp
it is.  State that NetBSD keeps in globals of the base kernel
(kern/ and vfs/) lives in :class:`MachineLocal` slots, one per booted
machine, so machines booted one after another share nothing.

Not a port: kemu's own design.  It gives NetBSD's names for "who is
running" (``curlwp``, ``curproc`` of sys/lwp.h and sys/proc.h, which
NetBSD reads from the CPU's curcpu()->ci_curlwp) the same meaning.  Where
it differs: the current lwp and machine come from contextvars, not from a
per-CPU structure; ``curlwp()`` raises RuntimeError outside an lwp (C
would read whatever ci_curlwp holds), and ``curlwp_or_none`` and
``MachineLocal`` (per-machine globals) are kemu's.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from kern.kern_lwp import lwp, proc
    from kern.machine import Machine

_machine: ContextVar[Machine | None] = ContextVar("kemu_machine", default=None)
_lwp: ContextVar[lwp | None] = ContextVar("kemu_lwp", default=None)

T = TypeVar("T")


# The current machine or lwp, None outside one: the ContextVars' own get
# methods, bound once and called directly (no Python frame, and no bound
# method made at each call as ``_lwp.get()`` makes on CPython 3.11); the
# lock core, the buffer and page caches, VOP calls and fault checks ask
# several times a block of a file write.
curmachine_or_none: Callable[[], Machine | None] = _machine.get
curlwp_or_none: Callable[[], lwp | None] = _lwp.get


def curmachine() -> Machine:
    """The machine the calling code runs in (raises if called from outside one)."""
    m = curmachine_or_none()
    if m is None:
        raise RuntimeError("not running inside a kemu machine (use kern.boot())")
    return m


def curlwp() -> lwp:
    """The lwp running this code: NetBSD's ``curlwp``."""
    l = curlwp_or_none()
    if l is None:
        raise RuntimeError("curlwp: not running in an lwp")
    return l


def curproc() -> proc:
    return curlwp().l_proc


class MachineLocal(Generic[T]):
    """A per-machine global: ``G = MachineLocal(Factory)``, then ``G()``.

    The factory runs the first time the current machine asks for the value
    (``G.of(m)``: the value of machine ``m``).

    What ``MachineLocal(...)`` returns is a plain function carrying
    ``of``, ``factory`` and ``name``, not an instance of this class (which
    names its type in annotations): CPython runs a call of a Python
    function in the caller's eval loop, while an instance's ``__call__``
    goes through ``slot_tp_call`` at about twice the cost, and the lock
    core, the device switches, sysctl and autoconf call these ~1,800 times
    a sweep seed.  The function itself is the key of its value in the
    machine's ``locals`` (vfs_bio's ``bufcache`` looks it up there).
    """

    factory: Callable[[], T]
    name: str

    def __new__(cls, factory: Callable[[], T], name: str | None = None) -> MachineLocal[T]:
        def get() -> T:
            try:
                return curmachine_or_none().locals[get]  # type: ignore[union-attr]
            except KeyError:
                return of(curmachine())
            except AttributeError:
                if curmachine_or_none() is not None:
                    raise
            return of(curmachine())  # (raises: not inside a machine, None has no locals)

        def of(m: Machine) -> T:
            slots: dict[Any, Any] = m.locals
            try:
                return slots[get]
            except KeyError:
                v = slots[get] = factory()
                return v

        g: Any = get
        g.of = of
        g.factory = factory
        g.name = name or getattr(factory, "__qualname__", repr(factory))
        g.__qualname__ = g.__name__ = f"MachineLocal[{g.name}]"
        return g  # type: ignore[no-any-return]

    def __call__(self) -> T:  # (the returned function's, for annotations)
        raise NotImplementedError

    def of(self, m: Machine) -> T:  # (the returned function's, for annotations)
        raise NotImplementedError
