"""Separate-process puffs servers forked from a parent that has already imported the server's code.

Starting a separate-process puffs server as ``python -m tools.lib.libpuffs.remote``
costs a new interpreter and its imports (trio and libpuffs: about 0.15 s of
CPU) every time.  Its servers are instead forked by the fork server of
tools/lib/forkserver.py (the one mechanism kemu has for cheap Python
children), that one importing what the server process imports (trio,
libpuffs, the few kernel headers remote.py uses).  The server is
``python -m tools.lib.libpuffs.remote`` with the same command line,
environment, working directory, standard output and error, standard input
/dev/null and a session of its own, as with the fresh interpreter; only its
imports were done before the fork.  Its exit status is read on its status
socket (:class:`ServerProcess`'s ``status_fd``).

Not used (the fresh interpreter is, as before) where
:func:`tools.lib.forkserver.usable` says no (another Python, coverage,
``KEMU_FORKSERVER=0``), or with ``KEMU_PUFFS_FORKSERVER=0`` in the
environment (puffs servers only).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tools.lib import forkserver as _fs
from tools.lib.forkserver import shutdown  # noqa: F401 - re-exported

#: The Popen-like view of a forked server.
ServerProcess = _fs.ForkedProcess

#: What the server process imports before it runs tools/lib/libpuffs/remote.py
#: as ``__main__`` (remote itself is not imported: ``-m`` runs its code afresh).
PRELOAD = ("trio", "kern.machine", "fs.puffs.puffs_msgif_h", "tools.lib.libpuffs",
           "tools.lib.libpuffs._sys")


def usable(python: str) -> bool:
    """Whether a server for ``python`` may be forked (else: a fresh interpreter)."""
    return _fs.usable(python) and os.environ.get("KEMU_PUFFS_FORKSERVER", "1") != "0"


def spawn(python: str, argv: list[str], env: Mapping[str, str], fd: int) -> ServerProcess:
    """Start ``python -m tools.lib.libpuffs.remote ARGV`` (``{fd}`` in ARGV: its
    socket, our ``fd``, which it keeps at that number), forked."""
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        return _fs.spawn(python, ["-m", "tools.lib.libpuffs.remote",
                                  *(str(fd) if a == "{fd}" else a for a in argv)],
                         env, preload=PRELOAD, fds={0: null, 1: 1, 2: 2, fd: fd},
                         session=True, secrets=1)
    finally:
        os.close(null)
