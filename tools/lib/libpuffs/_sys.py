"""What libpuffs needs that libc does not offer yet.

``lwp_create`` is the stand-in for pthread_create(3) (kemu has no
_lwp_create(2) yet): it starts a new lwp in the calling process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kern.cpu import curmachine, curproc
from kern.exceptions import KernelError


def lwp_create(afn: Callable[..., Awaitable[Any]], *args: Any, name: str = "lwp",
               errors: list[BaseException] | None = None) -> Any:
    """Start ``afn(*args)`` in a new lwp of the calling process (pthread_create).

    An exception from ``afn`` ends only that lwp; it is appended to
    ``errors`` when given (a kernel error still ends the machine).
    """
    from kern.kern_lwp import lwp

    async def body() -> None:
        try:
            await afn(*args)
        except KernelError:
            raise
        except Exception as e:  # noqa: BLE001 - a thread's death is its own business
            if errors is not None:
                errors.append(e)

    l = lwp(curproc(), name)
    curmachine().spawn_lwp(l, body, ())
    return l
