"""The kemu shell: NetBSD sh's simple commands, run as processes of the machine.

One line is one simple command: words separated by blanks, '...' and "..."
quoting, backslash escapes, ``#`` comments, and redirections ``> file``,
``>> file``, ``< file`` (with an optional descriptor number: ``2> err``).
There are no pipes, lists or variables.

``Shell.execute(cmd)`` runs a builtin (``cd``, ``umask``, ``exit``) in the
shell's own process (its redirections undone after it), or a program from
the command registry (:mod:`tools.cmds`) as fork+exec+wait would: a new
process made with ``k.proc_create`` from the shell's process (so it
inherits the current directory, umask and descriptors), one user lwp
running the program's ``main(argv)``, the redirections applied in the child
before ``main`` (open with O_WRONLY|O_CREAT|O_TRUNC or O_APPEND, mode 0666
less the umask, then dup2), and on the way out what exit(2) does: every
descriptor closed and the process destroyed.  Its status comes back to the
shell.

Messages of the shell itself ("foo: not found", "cannot create /x/y:
directory nonexistent") go to descriptor 2 like a program's.  A script run
(:meth:`Shell.run_script`) stops at the first command that fails, and
reports ``kemu: line N: <what the command said on stderr>``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import trio

from kern.cpu import curlwp
from kern.errno import EACCES, EEXIST, EINTR, EIO, EISDIR, ENOENT, ENOTDIR, EROFS, strerror
from kern.exceptions import KernelError, MachineHalted, SyscallError
from kern.exec_subr import copyargs
from kern.fcntl import F_DUPFD, O_APPEND, O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from kern.kern_fork import exit1
from tools import cmds
from tools.cmds._fsutil import DEFFILEMODE, BadMode, getmode, setmode
from tools.cmds._prog import Exit, eprintf, fflush, printf, setprogname
from tools.console import Capture, Console
from tools.lib import libc

DIGITS = "0123456789"  # sh's is_digit(): ASCII only
EX_SOFTWARE = 70      # sysexits.h: an internal error of the program
EXIT_NOTFOUND = 127   # sh: command not found
EXIT_SYNTAX = 2       # sh: syntax error, failing builtin


class ShellSyntaxError(Exception):
    """A line the shell cannot parse; the text is sh's ("Unterminated quoted string")."""


class ShellExit(Exception):  # noqa: N818 - the exit builtin
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Redirection:
    """``fd op path``: op is '>', '>>' or '<'."""

    fd: int
    op: str
    path: str


@dataclass
class SimpleCommand:
    argv: list[str]
    redirs: list[Redirection] = field(default_factory=list)
    text: str = ""


# ------------------------------------------------------------------ parsing

def parse(line: str) -> SimpleCommand | None:
    """One line to a simple command; None for a blank or comment line.

    Raises ShellSyntaxError with sh's message.
    """
    words: list[str] = []
    redirs: list[Redirection] = []
    pending: tuple[int, str] | None = None  # a redirection waiting for its word
    i, n = 0, len(line)
    cur: list[str] = []
    in_word = False
    quoted = False  # the current word had quoting (so '2' before > is not a fd)

    def end_word() -> None:
        nonlocal cur, in_word, quoted, pending
        if not in_word:
            return
        w = "".join(cur)
        if pending is not None:
            redirs.append(Redirection(pending[0], pending[1], w))
            pending = None
        else:
            words.append(w)
        cur, in_word, quoted = [], False, False

    while i < n:
        c = line[i]
        if c in " \t\r\n":
            end_word()
            i += 1
            continue
        if c == "#" and not in_word:
            break
        if c == "\\":
            if i + 1 < n:
                cur.append(line[i + 1])
            in_word, quoted = True, True
            i += 2
            continue
        if c == "'":
            j = line.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError("Unterminated quoted string")
            cur.append(line[i + 1:j])
            in_word, quoted = True, True
            i = j + 1
            continue
        if c == '"':
            j = i + 1
            buf = []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n and line[j + 1] in '"\\$`\n':
                    buf.append(line[j + 1])
                    j += 2
                    continue
                buf.append(line[j])
                j += 1
            if j >= n:
                raise ShellSyntaxError("Unterminated quoted string")
            cur.append("".join(buf))
            in_word, quoted = True, True
            i = j + 1
            continue
        if c in "<>":
            fd = 0 if c == "<" else 1
            if in_word and not quoted and "".join(cur).isdigit():
                fd = int("".join(cur))
                cur, in_word = [], False
            else:
                end_word()
            if pending is not None:
                raise ShellSyntaxError("redirection unexpected")
            if c == ">" and i + 1 < n and line[i + 1] == ">":
                op = ">>"
                i += 2
            else:
                op = c
                i += 1
            pending = (fd, op)
            continue
        if c in ";&|()":
            raise ShellSyntaxError(f'"{c}" unexpected (kemu runs simple commands only)')
        cur.append(c)
        in_word = True
        i += 1
    end_word()
    if pending is not None:
        raise ShellSyntaxError("newline unexpected")
    if not words:
        if redirs:
            raise ShellSyntaxError("a redirection needs a command")
        return None
    return SimpleCommand(words, redirs, line.strip())


# ------------------------------------------------------------------ sh's error texts

E_OPEN, E_CREAT = 1, 2
_SH_ERRMSG = {
    (EINTR, 0): "interrupted", (EACCES, 0): "permission denied", (EIO, 0): "I/O error",
    (EEXIST, 0): "file exists", (ENOENT, E_OPEN): "no such file",
    (ENOENT, E_CREAT): "directory nonexistent", (ENOTDIR, E_OPEN): "no such file",
    (ENOTDIR, E_CREAT): "directory nonexistent", (EISDIR, 0): "is a directory",
    (EROFS, 0): "read-only file system",
}


def sh_errmsg(e: int, action: int) -> str:
    """sh's errmsg(): its own words for some errnos, strerror for the rest."""
    return _SH_ERRMSG.get((e, action)) or _SH_ERRMSG.get((e, 0)) or strerror(e)


class _RedirError(Exception):
    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


async def _redirect(redirs: list[Redirection]) -> None:
    for r in redirs:
        if r.op == "<":
            flags, action, what = O_RDONLY, E_OPEN, "open"
        elif r.op == ">>":
            flags, action, what = O_WRONLY | O_CREAT | O_APPEND, E_CREAT, "create"
        else:
            flags, action, what = O_WRONLY | O_CREAT | O_TRUNC, E_CREAT, "create"
        try:
            fd = await libc.open(r.path, flags, DEFFILEMODE)
        except SyscallError as e:
            raise _RedirError(f"cannot {what} {r.path}: {sh_errmsg(e.errno, action)}") from None
        if fd != r.fd:
            await libc.dup2(fd, r.fd)
            await libc.close(fd)


def _debug() -> bool:
    return bool(os.environ.get("KEMU_DEBUG"))


async def exec_program(fn: cmds.CommandMain, argv: list[str],
                       redirs: list[Redirection]) -> int:
    """The life of a command's process, in its lwp: redirect, main, exit.

    Never lets a Python exception of the program out: it becomes a message
    on descriptor 2 and a status.  Kernel failures (panic, deadlock) pass.
    """
    setprogname(argv[0])
    status = 1
    clean = False
    try:
        try:
            error = copyargs(curlwp(), argv)    # what execve leaves for ps: the arguments
            if error:
                raise SyscallError(error, "execve")
            await _redirect(redirs)
            r = await fn(argv)
            status = 0 if r is None else int(r)
        except Exit as e:
            status = e.status
        except _RedirError as e:
            await eprintf(e.msg + "\n")
            status = EXIT_SYNTAX
        except SyscallError as e:
            await eprintf(f"{argv[0]}: {strerror(e.errno)}\n")
            status = 1
        except (KernelError, MachineHalted, trio.Cancelled):
            raise
        except Exception as e:  # noqa: BLE001 - a bug in the program: report, never raise
            if _debug():
                traceback.print_exc()
            await eprintf(f"{argv[0]}: internal error: {type(e).__name__}: {e}\n")
            status = EX_SOFTWARE
        try:
            await fflush()
        except SyscallError as e:
            # exit(3) flushing stdout: a failed write makes the program fail.
            await eprintf(f"{argv[0]}: stdout: {strerror(e.errno)}\n")
            status = status or 1
        clean = True
    finally:
        if clean:
            # exit(2): close every descriptor, then the process is gone.
            await exit1(curlwp(), status)
    return status & 0xff


# ------------------------------------------------------------------ builtins

async def _builtin_cd(argv: list[str]) -> int:
    dest = argv[1] if len(argv) > 1 else "/"
    if len(argv) > 2:
        await eprintf("cd: too many arguments\n")
        return EXIT_SYNTAX
    try:
        await libc.chdir(dest)
    except SyscallError:
        await eprintf(f"cd: can't cd to {dest}\n")
        return EXIT_SYNTAX
    return 0


async def _builtin_umask(argv: list[str]) -> int:
    old = await libc.umask(0)
    await libc.umask(old)
    if len(argv) < 2:
        await printf(f"{old:04o}\n")
        return 0
    ap = argv[1]
    try:
        if ap[:1] in DIGITS:
            if not set(ap) <= set("01234567"):
                raise BadMode(ap)
            mask = int(ap, 8)
        else:
            # A symbolic mode says what the new files may have: the mask is the rest.
            mask = ~getmode(setmode(ap, old), ~old & 0o777) & 0o777
    except BadMode:
        await eprintf(f"umask: Illegal number: {ap}\n")
        return EXIT_SYNTAX
    await libc.umask(mask)
    return 0


async def _run_builtin(fn: Any, argv: list[str], redirs: list[Redirection]) -> int:
    """A builtin in the shell's own process: its redirections are undone after it
    (the descriptors they replace are kept above 10 meanwhile, as sh's redirect())."""
    setprogname("sh")
    saved: list[tuple[int, int]] = []
    try:
        for fd in dict.fromkeys(r.fd for r in redirs):
            try:
                saved.append((fd, await libc.fcntl(fd, F_DUPFD, 10)))
            except SyscallError:
                saved.append((fd, -1))           # was not open: closed again after
        try:
            await _redirect(redirs)
        except _RedirError as e:
            await eprintf(e.msg + "\n")
            return EXIT_SYNTAX
        try:
            return await fn(argv)
        finally:
            await fflush()
    finally:
        for fd, copy in reversed(saved):
            if copy >= 0:
                await libc.dup2(copy, fd)
                await libc.close(copy)
            else:
                try:
                    await libc.close(fd)
                except SyscallError:
                    pass


BUILTINS = {"cd": _builtin_cd, "umask": _builtin_umask}


# ------------------------------------------------------------------ the shell

class Shell:
    """A shell process of machine ``k`` whose descriptors 0-2 are ``console``'s."""

    def __init__(self, k: Any, console: Console, proc: Any) -> None:
        self.k = k
        self.console = console
        self.proc = proc
        self.status = 0

    def _errmsg(self, text: str) -> None:
        """What the shell itself says on standard error."""
        self.console.write_err(text.encode("utf-8", "surrogateescape"))

    def execute(self, cmd: SimpleCommand) -> int:
        """Run one command; its exit status.  Kernel failures raise KernelError."""
        name = cmd.argv[0]
        if name == "exit":
            status = self.status
            if len(cmd.argv) > 1:
                if not cmd.argv[1] or not set(cmd.argv[1]) <= set(DIGITS):   # sh's number()
                    self._errmsg(f"exit: Illegal number: {cmd.argv[1]}\n")
                    return EXIT_SYNTAX
                status = int(cmd.argv[1])
            raise ShellExit(status & 0xff)
        builtin = BUILTINS.get(name)
        if builtin is not None:
            self.status = self.k.run(_run_builtin, builtin, cmd.argv, cmd.redirs, name=name,
                                     proc=self.proc)
            return self.status
        fn = cmds.lookup(name)
        if fn is None:
            self._errmsg(f"{name}: not found\n")
            self.status = EXIT_NOTFOUND
            return self.status
        p = self.k.proc_create(name, self.proc)
        self.status = self.k.run(exec_program, fn, cmd.argv, cmd.redirs, name=name[:16], proc=p)
        return self.status

    def system(self, line: str) -> int:
        """system(3): parse and run one line; syntax errors give status 2."""
        try:
            cmd = parse(line)
        except ShellSyntaxError as e:
            self._errmsg(f"Syntax error: {e}\n")
            return EXIT_SYNTAX
        if cmd is None:
            return 0
        return self.execute(cmd)

    def run_script(self, lines: Iterable[str], *, trace: bool = False,
                   transcript: bool = False) -> int:
        """Run commands one per line; stop at the first failure.

        The failing command's standard error is reported as ``kemu: line N:
        <text>`` (each line of it), and the result is 1.  ``exit N`` ends the
        script with status N; reaching the end gives 0.  A kernel panic or
        deadlock also ends it with 1.

        ``trace`` echoes each command on standard error (``+ cmd``, as sh -x);
        ``transcript`` shows the script as a session on standard output: its
        comment lines, and each command after a ``kemu# `` prompt.
        """
        for lineno, line in enumerate(lines, 1):
            if transcript and line.lstrip().startswith("#"):
                self.console.write_out((line.rstrip() + "\n").encode())
            try:
                cmd = parse(line)
            except ShellSyntaxError as e:
                self._errmsg(f"kemu: line {lineno}: Syntax error: {e}\n")
                return 1
            if cmd is None:
                continue
            if trace:
                self._errmsg(f"+ {cmd.text}\n")
            if transcript:
                self.console.write_out(f"kemu# {cmd.text}\n".encode())
            cap = Capture()
            saved = self.console.err
            self.console.err = cap
            try:
                status = self.execute(cmd)
            except ShellExit as e:
                self.console.err = saved
                self.console.write_err(cap.data)
                return e.status
            except (KernelError, MachineHalted) as e:
                self.console.err = saved
                self.console.write_err(cap.data)
                self._report_crash(e, f"kemu: line {lineno}: ")
                return 1
            finally:
                self.console.err = saved
            if status == 0:
                self.console.write_err(cap.data)
                continue
            said = [ln for ln in cap.text.splitlines() if ln.strip()]
            if not said:
                said = [f"{cmd.argv[0]}: exit status {status}"]
            for ln in said:
                self._errmsg(f"kemu: line {lineno}: {ln}\n")
            return 1
        return 0

    def interactive(self, stdin: TextIO | None = None, prompt: str = "# ") -> int:
        """Read commands from ``stdin`` until ``exit`` or end of file."""
        stdin = stdin if stdin is not None else sys.stdin
        while True:
            self.console.write_out(prompt.encode())
            line = stdin.readline()
            if not line:
                self.console.write_out(b"\n")
                return self.status
            try:
                self.system(line)
            except ShellExit as e:
                return e.status
            except (KernelError, MachineHalted) as e:
                self._report_crash(e, "kemu: ")
                return 1

    def _report_crash(self, e: BaseException, prefix: str) -> None:
        text = str(e) or type(e).__name__
        first, *rest = text.splitlines()
        self._errmsg(prefix + first + "\n")
        for ln in rest:
            self._errmsg(ln + "\n")
