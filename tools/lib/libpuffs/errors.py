"""The one exception a puffs file system raises: an errno for the kernel."""

from __future__ import annotations

from kern.errno import strerror


class PuffsError(Exception):
    """Raised by an operation handler: the request fails with ``errno``.

    The numbers are NetBSD's (``kern.errno``), the ones the kernel hands to
    the caller of the system call.  Like pyfuse3's ``FUSEError``, this is the
    only exception a handler should raise; anything else is a bug of the
    file system and is answered with EIO (and recorded in
    ``PuffsServer.errors``).
    """

    def __init__(self, errno: int, msg: str | None = None) -> None:
        super().__init__(errno, msg or strerror(errno))
        self.errno = errno

    def __str__(self) -> str:
        return f"[{self.errno}] {self.args[1]}"
