"""The C runtime of kemu's commands: program name, stdio, err(3), getopt(3).

A command is ``async def main(argv: list[str]) -> int`` running in a user
lwp of its own process.  What it prints goes through write(2):

* ``await printf(text)`` to standard output, buffered like stdio on a
  pipe or file (flushed at 8 KiB, at exit, and by ``fflush()``);
* ``await eprintf(text)`` to standard error, unbuffered;
* err(3) family: ``await warn("%s" % path, e)`` prints
  ``prog: path: strerror`` (``e`` a SyscallError or an errno), ``warnx``
  without the strerror part; ``await err(1, ...)`` / ``errx`` print the
  same and end the program with that status (they raise :class:`Exit`).

``getopt(argv, "fo:")`` parses options the way NetBSD's getopt(3) does
(stops at the first operand or ``--``) and raises :class:`GetoptError`
with getopt's own message; ``await options(argv, "fo:", usage)`` prints
that message and the usage text and exits 1.

``File`` (``await fopen(path)``, ``stdin()``) is stdio's FILE for reading:
buffered read(2) with ``readline``, ``read`` and ``lines``.
"""

from __future__ import annotations

import contextvars
import os
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn

from kern.errno import strerror
from kern.exceptions import KernelError, MachineHalted, SyscallError
from tools.lib import libc

EX_SOFTWARE = 70      # sysexits.h: an internal error of the program

BUFSIZ = 8192
STDIN_FILENO = 0
STDOUT_FILENO = 1
STDERR_FILENO = 2


class Exit(Exception):  # noqa: N818 - exit(3), not an error
    """exit(status) from anywhere in a command."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class GetoptError(Exception):
    """getopt(3) found an unknown option or a missing argument."""

    def __init__(self, msg: str, opt: str) -> None:
        super().__init__(msg)
        self.msg = msg
        self.opt = opt


@dataclass
class ProcState:
    """Per-process stdio state."""

    progname: str
    outbuf: bytearray = field(default_factory=bytearray)


_state: contextvars.ContextVar[ProcState] = contextvars.ContextVar("kemu_proc")


def setprogname(name: str) -> contextvars.Token[ProcState]:
    """Start a program's runtime in the current lwp (the exec harness calls it)."""
    return _state.set(ProcState(name.rsplit("/", 1)[-1]))


def _st() -> ProcState:
    try:
        return _state.get()
    except LookupError:
        st = ProcState("kemu")
        _state.set(st)
        return st


def getprogname() -> str:
    return _st().progname


def _b(text: str | bytes) -> bytes:
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)


async def write_all(fd: int, data: bytes) -> None:
    """write(2) until all of ``data`` is written."""
    view = memoryview(data)
    while view:
        n = await libc.write(fd, view)
        if n <= 0:
            break
        view = view[n:]


async def printf(text: str | bytes) -> None:
    """Buffered standard output."""
    st = _st()
    st.outbuf += _b(text)
    if len(st.outbuf) >= BUFSIZ:
        await fflush()


async def fflush() -> None:
    st = _st()
    if st.outbuf:
        data = bytes(st.outbuf)
        st.outbuf.clear()
        await write_all(STDOUT_FILENO, data)


async def eprintf(text: str | bytes) -> None:
    """Unbuffered standard error."""
    await write_all(STDERR_FILENO, _b(text))


def errtext(e: SyscallError | int) -> str:
    """strerror(3) of a SyscallError or an errno."""
    return strerror(e.errno if isinstance(e, SyscallError) else e)


async def warn(msg: str | None, e: SyscallError | int) -> None:
    """warn(3): ``prog: msg: strerror``."""
    if msg is None:
        await eprintf(f"{getprogname()}: {errtext(e)}\n")
    else:
        await eprintf(f"{getprogname()}: {msg}: {errtext(e)}\n")


async def warnx(msg: str) -> None:
    """warnx(3): ``prog: msg``."""
    await eprintf(f"{getprogname()}: {msg}\n")


async def err(status: int, msg: str | None, e: SyscallError | int) -> NoReturn:
    """err(3): warn, then exit(status)."""
    await warn(msg, e)
    raise Exit(status)


async def errx(status: int, msg: str) -> NoReturn:
    """errx(3): warnx, then exit(status)."""
    await warnx(msg)
    raise Exit(status)


def getopt(argv: list[str], optstring: str) -> tuple[list[tuple[str, str]], list[str]]:
    """getopt(3) over ``argv`` (``argv[0]`` is the program): ``(options, operands)``.

    Each option is ``(letter, argument or "")``.  Parsing stops at the first
    operand, at ``--`` (dropped) or at a lone ``-`` (kept as an operand).
    """
    prog = (argv[0] if argv else "?").rsplit("/", 1)[-1]
    opts: list[tuple[str, str]] = []
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        j = 1
        while j < len(a):
            c = a[j]
            k = optstring.find(c)
            if c == ":" or k < 0:
                raise GetoptError(f"{prog}: unknown option -- {c}", c)
            if k + 1 < len(optstring) and optstring[k + 1] == ":":
                if j + 1 < len(a):
                    opts.append((c, a[j + 1:]))
                elif i + 1 < len(argv):
                    i += 1
                    opts.append((c, argv[i]))
                else:
                    raise GetoptError(f"{prog}: option requires an argument -- {c}", c)
                break
            opts.append((c, ""))
            j += 1
        i += 1
    return opts, argv[i:]


async def options(argv: list[str], optstring: str,
                  usage: str) -> tuple[list[tuple[str, str]], list[str]]:
    """getopt, and on a bad option print getopt's message and ``usage``, exit 1."""
    try:
        return getopt(argv, optstring)
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(usage)


async def usage_exit(usage: str, status: int = 1) -> NoReturn:
    """Print ``usage`` on standard error and exit(status)."""
    await eprintf(usage if usage.endswith("\n") else usage + "\n")
    raise Exit(status)


async def crt0(main: Callable[[list[str]], Awaitable[int | None]], argv: list[str]) -> int:
    """The C runtime's start-up and exit(3) around a program's main: the
    program's name, main's status (or exit(3)'s), stdio flushed.  A Python
    exception of the program is its bug: a message and status 70 (EX_SOFTWARE),
    never an exception out of the process.  Returns the exit status."""
    setprogname(argv[0] if argv else "?")
    prog = getprogname()
    try:
        r = await main(argv)
        status = 0 if r is None else int(r)
    except Exit as e:
        status = e.status
    except SyscallError as e:
        await eprintf(f"{prog}: {strerror(e.errno)}\n")
        status = 1
    except (KernelError, MachineHalted):
        raise
    except Exception as e:  # noqa: BLE001 - a bug in the program: report, never raise
        if os.environ.get("KEMU_DEBUG"):
            traceback.print_exc()
        await eprintf(f"{prog}: internal error: {type(e).__name__}: {e}\n")
        status = EX_SOFTWARE
    try:
        await fflush()
    except SyscallError as e:
        # exit(3) flushing stdout: a failed write makes the program fail.
        await eprintf(f"{prog}: stdout: {strerror(e.errno)}\n")
        status = status or 1
    return status & 0xff


class File:
    """A stdio ``FILE`` open for reading: read(2) on a descriptor, through a buffer.

    ``await fopen(path)`` opens one (raising SyscallError like fopen(3)
    returning NULL with errno); ``stdin()`` is descriptor 0.
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.buf = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        """Read more; False at end of file."""
        if self.eof:
            return False
        data = await libc.read(self.fd, BUFSIZ)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def clearerr(self) -> None:
        """clearerr(3): forget end of file, so the next read tries read(2) again."""
        self.eof = False

    async def readline(self) -> bytes:
        """One line with its newline (the last may lack it); b"" at end of file."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            start = len(self.buf)
            if not await self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all the rest when ``n`` < 0); short only at end of file."""
        while (n < 0 or len(self.buf) < n) and await self._fill():
            pass
        if n < 0:
            n = len(self.buf)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def lines(self) -> AsyncIterator[bytes]:
        while line := await self.readline():
            yield line

    async def close(self) -> None:
        if self.fd != STDIN_FILENO:
            await libc.close(self.fd)


async def fopen(path: str) -> File:
    """fopen(path, "r")."""
    from kern.fcntl import O_RDONLY

    return File(await libc.open(path, O_RDONLY), path)


def stdin() -> File:
    """Standard input as a File (named "stdin", as the utilities call it)."""
    return File(STDIN_FILENO, "stdin")
