"""The one exception a puffs file system raises (an errno for the kernel), and
the record of an error the kernel reports back to the server."""

from __future__ import annotations

from dataclasses import dataclass

from fs.puffs.puffs_msgif_h import PUFFS_ERR_NAMES
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


@dataclass(frozen=True)
class KernelError:
    """An answer of the server's the kernel refused (a PUFFSOP_ERROR
    notification): ``type`` is PUFFS_ERR_* (MAKENODE for a node it could not
    make), ``error`` the errno, ``text`` what was wrong, ``cookie`` the node."""

    type: int
    error: int
    text: str
    cookie: int

    def __str__(self) -> str:
        name = PUFFS_ERR_NAMES[self.type] if 0 <= self.type < len(PUFFS_ERR_NAMES) \
            else str(self.type)
        return (f"kernel: type {self.type} ({name}), error {self.error}, "
                f"cookie {self.cookie:#x} ({self.text})")
