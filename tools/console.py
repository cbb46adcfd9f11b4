"""The host side of the machine's console: descriptors 0, 1 and 2 of the kemu shell.

A :class:`Console` is a ``fileops`` whose ``fo_write`` hands the bytes to
the host (the terminal kemu runs in, or a capture buffer in tests) and
whose ``fo_read`` serves what the host fed it (end of file when nothing
is left).  ``await console.attach()``, run in an lwp of a process, opens
descriptors 0 (read/write), 1 and 2 (write) on it, in that order, as init
opens /dev/console; child processes inherit them.

Writes to descriptor 2 go to ``console.err``, the others to
``console.out``.  Either target can be swapped at any time (the script
runner swaps ``err`` for a writer that labels each line with the script's
line number), and each is anything with a ``write(bytes)`` method or a
callable taking bytes (``emit(sink, data)`` writes to either).

It is not a tty: ioctl answers ENOTTY to everything (so programs print as
to a pipe, one name per line), fstat says "character device" with mode
0620.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from typing import Any

from kern.cpu import curproc
from kern.errno import ENOTTY
from kern.fcntl import DTYPE_MISC, FOF_UPDATE_OFFSET, FREAD, FWRITE
from kern.kern_descrip import fd_abort, fd_affix, fd_allocfile, file, fileops
from kern.subr_uio import uiomove
from vfs.stat import S_IFCHR

Sink = Callable[[bytes], Any] | Any


def host_binary(stream: Any) -> Any:
    """The binary side of a host text stream (sys.stdout -> sys.stdout.buffer)."""
    return getattr(stream, "buffer", stream)


def emit(sink: Sink, data: bytes) -> None:
    """Write ``data`` to a console target and flush it."""
    if sink is None:
        return
    if callable(sink) and not hasattr(sink, "write"):
        sink(data)
        return
    try:
        sink.write(data)
    except TypeError:
        # A text stream without a binary buffer (io.StringIO in a test).
        sink.write(data.decode("utf-8", "replace"))
    flush = getattr(sink, "flush", None)
    if flush is not None:
        flush()


class _Unit:
    """What one console descriptor's file points at."""

    __slots__ = ("console", "unit")

    def __init__(self, console: Console, unit: int) -> None:
        self.console = console
        self.unit = unit


class Console:
    """The console device's host end (see the module docstring)."""

    def __init__(self, out: Sink = None, err: Sink = None) -> None:
        self.out: Sink = out if out is not None else host_binary(sys.stdout)
        self.err: Sink = err if err is not None else host_binary(sys.stderr)
        self._input = bytearray()
        self.fileops = fileops(fo_name="console", fo_read=self.fo_read, fo_write=self.fo_write,
                               fo_ioctl=self.fo_ioctl, fo_stat=self.fo_stat,
                               fo_close=self.fo_close)

    # ------------------------------------------------------------ host side

    def feed(self, data: bytes) -> None:
        """Queue ``data`` for programs reading descriptor 0."""
        self._input += data

    def write_out(self, data: bytes) -> None:
        emit(self.out, data)

    def write_err(self, data: bytes) -> None:
        emit(self.err, data)

    # ------------------------------------------------------------ fileops

    async def fo_read(self, fp: file, offset: Any, uio: Any, cred: Any, flags: int) -> int:
        n = min(uio.uio_resid, len(self._input))
        if n == 0:
            return 0
        chunk = bytearray(self._input[:n])
        before = uio.uio_resid
        error = await uiomove(chunk, n, uio)
        done = before - uio.uio_resid
        del self._input[:done]
        if flags & FOF_UPDATE_OFFSET:
            offset[0] += done
        return error

    async def fo_write(self, fp: file, offset: Any, uio: Any, cred: Any, flags: int) -> int:
        n = uio.uio_resid
        buf = bytearray(n)
        error = await uiomove(buf, n, uio)
        done = n - uio.uio_resid
        if done:
            unit: _Unit = fp.f_data
            if unit.unit == 2:
                self.write_err(bytes(buf[:done]))
            else:
                self.write_out(bytes(buf[:done]))
        if flags & FOF_UPDATE_OFFSET:
            offset[0] += done
        return error

    async def fo_ioctl(self, fp: file, com: int, data: Any) -> int:
        return ENOTTY

    async def fo_stat(self, fp: file, sb: Any) -> int:
        sb.st_mode = S_IFCHR | 0o620
        sb.st_nlink = 1
        sb.st_blksize = 4096
        return 0

    async def fo_close(self, fp: file) -> int:
        return 0

    # ------------------------------------------------------------ attach

    async def attach(self) -> list[int]:
        """Open descriptors 0, 1, 2 of the current process on the console.

        Must run in an lwp of that process, before it opens anything else.
        Returns the descriptors (``[0, 1, 2]``).
        """
        p = curproc()
        fds = []
        for unit, flag in ((0, FREAD | FWRITE), (1, FWRITE), (2, FWRITE)):
            error, fp, fd = fd_allocfile()
            if error:
                raise OSError(error, f"console: cannot open descriptor {unit}")
            assert fp is not None
            if fd != unit:
                fd_abort(p, fp, fd)
                raise OSError(0, f"console: descriptor {unit} is taken")
            fp.f_flag = flag
            fp.f_type = DTYPE_MISC
            fp.f_ops = self.fileops
            fp.f_data = _Unit(self, unit)
            fd_affix(p, fp, fd)
            fds.append(fd)
        return fds


class Capture:
    """A console target that keeps what was written (``.data``, ``.text``)."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buf.write(data)

    @property
    def data(self) -> bytes:
        return self.buf.getvalue()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def clear(self) -> None:
        self.buf = io.BytesIO()
