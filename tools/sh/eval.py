"""Evaluation (bin/sh/eval.c, jobs.c, redir.c, trap.c, the builtins): the shell as a
program of the machine.

What is ported, and from which text (the rest is kemu's own design in sh's
structure, with sh's messages):

* eval.c's evaltree, evalloop, evalfor, evalcase, evalsubshell, evalpipe,
  evalbackcmd (``cmdsubst``) and evalcommand: their order, EV_EXIT and
  EV_TESTED and the ``Pipe call failed`` paths, after the eval.c at hand
  (1.56.4.1; NetBSD 8's keeps this structure).  kemu's nodes, variables and
  builtins are its own.
* jobs.c's forkshell (``Cannot fork``), forkchild (the FORK_BG job of a
  shell without job control ignores SIGINT and SIGQUIT for good and reads
  /dev/null unless its standard input was redirected) and waitforjob's
  status conversion, after the K&R-era jobs.c at hand (not checked against
  NetBSD 8's 1.8x); kemu waits by pid (wait4) where sh's dowait takes any.
* redir.c's redirect (REDIR_PUSH's F_DUPFD save above 10, EBADF meaning
  closed), openredirect, openhere, copyfd, movefd and popredir, with their
  messages, after redir.c as of 2018-2025 (the copy at hand).
* trap.c 1.44's setsignal, ignoresig and setinteractive (sigmode, S_HARD_IGN).

Deviations: no job control, ``trap``, vfork or aliases; a here-document's
writer child and a half-started pipeline's processes are kept in the job
table so that they are reaped (sh leaves them to its next dowait); a failed
wait4 is a message and status 127 (sh's dowait gives up silently); the
evaluation depth is bounded by Python's stack (EVAL_STACK_SPARE).

``Evaluator.evaltree(node)`` runs in an lwp of the shell's process and
reaches the kernel only through system calls:

* a builtin (``cd``, ``umask``, ``exit``, ``:``, ``export``, ``unset``,
  ``set``, ``shift``, ``break``, ``continue``, ``return``, ``wait``,
  ``read``, ``eval``, ``help``) runs in the shell's own process, its
  redirections undone after it (the replaced descriptors are kept above 10,
  close-on-exec, as redir.c's REDIR_PUSH does);
* any other command is looked up in the command table (kemu's PATH: the
  programs are :mod:`tools.cmds`' registry, not files) and, when found,
  run as fork(2) + execve(2) in a child that applies the redirections
  first; the shell waits for it with wait4(2).  Not found: ``name: not
  found``, status 127;
* a pipeline forks one process per command, connected by pipe(2), all
  running at once; its status is the last command's.  A command killed by
  a signal has status 128 + the signal, and sh's message (``Killed``,
  ``Terminated``...) unless the signal is SIGINT or SIGPIPE;
* ``( list )``, a background job (``&``, its pid in ``$!``) and each
  element of a pipeline are subshells: forked copies of the shell with
  their own variables;
* ``-e`` (errexit, what ``kemu run`` uses) ends the shell when a command
  fails, except where sh does not: conditions of ``if``/``while``/``until``,
  all but the last command of ``&&``/``||``, and negated pipelines.

The host side (:mod:`tools.shell`) reads the pids of the foreground job
(``Evaluator.fg``) to post SIGINT on Ctrl-C, and sets ``host.intr``, which
stops the command line at the next command.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kern.errno import (
    EACCES,
    EBADF,
    EEXIST,
    EINTR,
    EINVAL,
    EIO,
    EISDIR,
    EMFILE,
    ENOENT,
    ENOTDIR,
    EROFS,
    strerror,
)
from kern.exceptions import SyscallError
from kern.fcntl import (
    F_DUPFD,
    F_SETFD,
    FD_CLOEXEC,
    O_APPEND,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
)
from kern.kern_exit import WEXITSTATUS, WIFSIGNALED, WTERMSIG
from kern.kern_sig import SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGTSTP
from kern.sys_sig import SIG_DFL, SIG_IGN
from tools import cmds
from tools.cmds._fsutil import DEFFILEMODE, BadMode, getmode, setmode
from tools.cmds._prog import crt0, eprintf, fflush, printf, setprogname
from tools.lib import libc
from tools.sh.expand import Expander, ExpandError, ShVars, pmatch
from tools.sh.parser import (
    NAND,
    NBACKGND,
    NCASE,
    NCMD,
    NDEFUN,
    NFOR,
    NFROM,
    NFROMFD,
    NFROMTO,
    NHERE,
    NIF,
    NNOT,
    NOR,
    NPIPE,
    NREDIR,
    NSEMI,
    NSUBSHELL,
    NTOFD,
    NUNTIL,
    NWHILE,
    NXHERE,
    Lit,
    NBinaryNode,
    NCaseNode,
    NCmdNode,
    NDefunNode,
    NForNode,
    NIfNode,
    NNotNode,
    Node,
    NPipeNode,
    NRedirNode,
    Parser,
    Redir,
    ShellSyntaxError,
    Word,
    assignment_name,
    goodname,
)

EV_EXIT = 0x01       # exit after evaluating (we are a forked child)
EV_TESTED = 0x02     # the exit status is tested: -e does not apply
EXIT_NOTFOUND = 127
EXIT_NOEXEC = 126
EXIT_ERROR = 2       # sh's status for its own errors
DIGITS = "0123456789"
_PATH_DEVNULL = "/dev/null"
# redir.c: a here-document this short (PIPE_BUF, 512 on NetBSD) is written into
# its pipe at once; a longer one, or one to expand, by a child.
PIPESIZE = 512

# forkshell's modes (jobs.h)
FORK_FG, FORK_BG, FORK_NOJOB = 0, 1, 2

# trap.c's sigmode: what the shell has done with a signal
S_DFL, S_CATCH, S_IGN, S_HARD_IGN, S_RESET = 1, 2, 3, 4, 5

# How deep evaluation may nest (function calls, loops, eval, in one process)
# before sh refuses: Python's stack, not the C's, bounds the shell here.  A
# command run at the deepest level (a builtin's system calls, the kernel's
# code under them) needs at most about 60 frames more; this leaves 150 of
# the interpreter's recursion limit to them.  NetBSD's sh has no such limit
# (its C stack overflows and it dies of SIGSEGV); the message is kemu's.
EVAL_STACK_SPARE = 150

# strsignal(3): what sh says about a job a signal killed
_SIGNAMES = {1: "Hangup", 3: "Quit", 4: "Illegal instruction", 5: "Trace/BPT trap",
             6: "Abort trap", 7: "EMT trap", 8: "Floating point exception", 9: "Killed",
             10: "Bus error", 11: "Segmentation fault", 12: "Bad system call",
             14: "Alarm clock", 15: "Terminated", 24: "Cputime limit exceeded",
             25: "Filesize limit exceeded", 26: "Virtual timer expired",
             27: "Profiling timer expired", 30: "User defined signal 1",
             31: "User defined signal 2"}


class ShellExit(Exception):  # noqa: N818 - the shell ends (exit, -e)
    def __init__(self, status: int, node: Node | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.node = node            # the command that failed under -e


class ErrExit(ShellExit):
    """-e ended the shell: ``node`` is the command that failed."""


class ShellError(Exception):
    """sh's error(): a message on standard error; the command's status is 2
    (a non-interactive shell ends there)."""

    def __init__(self, msg: str, status: int = EXIT_ERROR) -> None:
        super().__init__(msg)
        self.msg = msg
        self.status = status


class Interrupted(Exception):  # noqa: N818 - Ctrl-C stopped the command line
    pass


class _Break(Exception):  # noqa: N818
    def __init__(self, n: int) -> None:
        self.n = n


class _Continue(_Break):
    pass


class _Return(Exception):  # noqa: N818
    def __init__(self, status: int) -> None:
        self.status = status


@dataclass
class ShState:
    """The shell's variables and settings; a subshell gets a copy."""

    vars: dict[str, str] = field(default_factory=lambda: {"IFS": " \t\n", "PS1": "$ ",
                                                          "PS2": "> "})
    exported: set[str] = field(default_factory=set)
    params: list[str] = field(default_factory=list)
    arg0: str = "sh"
    status: int = 0
    pid: int = 0
    lastbg: int | None = None
    options: set[str] = field(default_factory=set)    # e, x, f, i
    functions: dict[str, Node] = field(default_factory=dict)
    jobs: dict[int, int | None] = field(default_factory=dict)   # background pid -> status
    loopnest: int = 0
    funcnest: int = 0
    evalnest: int = 0
    rootshell: bool = True          # the top shell, not a forked subshell
    sigmode: dict[int, int] = field(default_factory=dict)   # trap.c's sigmode
    fd0_redirected: int = 0         # redir.c's count of standard input redirections

    def copy(self) -> ShState:
        new = copy.copy(self)
        new.vars = dict(self.vars)
        new.exported = set(self.exported)
        new.params = list(self.params)
        new.options = set(self.options)
        new.functions = dict(self.functions)
        new.sigmode = dict(self.sigmode)
        new.jobs = {}
        new.rootshell = False
        new.evalnest = 0            # a new process: a new stack
        return new

    def flags(self) -> str:
        return "".join(sorted(self.options))


class Host:
    """What the evaluator needs from outside the machine."""

    def __init__(self, xtrace: Callable[[str], Awaitable[None] | None] | None = None) -> None:
        self.intr = False               # Ctrl-C: stop at the next command
        self.lineno = 0                 # the simple command running (kemu run's labels)
        self.xtrace = xtrace or (lambda text: None)


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


def decode_status(status: int) -> int:
    """A wait(2) status as sh's $?: the exit status, or 128 + the signal."""
    if WIFSIGNALED(status):
        return 128 + WTERMSIG(status)
    return WEXITSTATUS(status)


def _redir_text(r: Redir) -> str:
    """A redirection as -x shows it: ``>> /mnt/log``, ``2> err``, ``2>&1``, ``<<...``."""
    default = 0 if r.type in ("<", "<>", "<&", NHERE, NXHERE) else 1
    if r.type in (NHERE, NXHERE):
        return ("" if r.fd == default else str(r.fd)) + "<<..."
    fd = "" if r.fd == default else str(r.fd)
    sep = "" if r.type in (NTOFD, NFROMFD) else " "
    return f"{fd}{r.type}{sep}{r.fname.text}"


def _stack_depth() -> int:
    """The Python frames under the caller (its lwp's stack)."""
    f = sys._getframe(1)
    n = 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


async def _close(fd: int) -> None:
    """close(2), its failure ignored (as sh's ``(void)close(fd)``)."""
    try:
        await libc.close(fd)
    except SyscallError:
        pass


async def _xwrite(fd: int, data: bytes) -> None:
    """output.c's xwrite: all of ``data``, however many writes it takes."""
    while data:
        n = await libc.write(fd, data)
        data = data[n:]


async def copyfd(frm: int, to: int) -> None:
    """redir.c's copyfd: make ``to`` a copy of ``frm`` (dup2); SyscallError on failure."""
    await libc.dup2(frm, to)


async def movefd(frm: int, to: int) -> int:
    """redir.c's movefd: ``frm`` renamed ``to`` (closing ``frm``), or sh's
    ``Unable to make fd N`` error."""
    if frm == to:
        return to
    await _close(to)
    try:
        await copyfd(frm, to)
    except SyscallError as e:
        await _close(frm)
        raise ShellError(f"Unable to make fd {to}: {strerror(e.errno)}") from None
    await _close(frm)
    return to


def _fdnumber(word: str) -> int | None:
    """The descriptor a ``>&word``/``<&word`` names, or None if no number."""
    return int(word) if word and set(word) <= set(DIGITS) else None


def value_word(w: Word) -> Word:
    """The value part of a ``NAME=value`` word."""
    first = w.parts[0]
    assert isinstance(first, Lit)
    rest = first.text[first.text.index("=") + 1:]
    parts = ([Lit(rest, False)] if rest else []) + list(w.parts[1:])
    return Word(parts, w.text[w.text.index("=") + 1:])


# ------------------------------------------------------------------ the evaluator

class Evaluator:
    def __init__(self, st: ShState, host: Host) -> None:
        self.st = st
        self.host = host
        self.fg: list[int] = []         # the foreground job's processes
        self.exp = Expander(ShVars(st.vars, st.params, st.arg0, 0, st.pid, None, ""),
                            self.cmdsubst)

    # -------------------------------------------------------------- helpers

    def _sync_vars(self) -> None:
        sv = self.exp.sv
        st = self.st
        sv.vars, sv.params, sv.arg0, sv.status = st.vars, st.params, st.arg0, st.status
        sv.pid, sv.lastbg, sv.flags = st.pid, st.lastbg, st.flags()

    async def error(self, msg: str) -> None:
        await eprintf(msg + "\n")

    # -------------------------------------------------------------- evaltree

    async def evaltree(self, n: Node | None, flags: int = 0) -> int:
        st = self.st
        if _stack_depth() > sys.getrecursionlimit() - EVAL_STACK_SPARE:
            raise ShellError("evaluation nested too deeply")
        st.evalnest += 1
        try:
            return await self._evaltree(n, flags)
        except SyscallError as e:
            # A system call of the evaluator's own that has no sh message at its
            # site: sh's error() with strerror, never a Python exception out.
            raise ShellError(strerror(e.errno)) from None
        finally:
            st.evalnest -= 1

    async def _evaltree(self, n: Node | None, flags: int) -> int:
        if self.host.intr:
            raise Interrupted()
        if n is None:
            self.st.status = 0
            return 0
        do_etest = False
        t = n.type
        if t == NSEMI:
            assert isinstance(n, NBinaryNode)
            await self.evaltree(n.ch1, flags & ~EV_EXIT)
            await self.evaltree(n.ch2, flags)
        elif t == NAND:
            assert isinstance(n, NBinaryNode)
            await self.evaltree(n.ch1, (flags | EV_TESTED) & ~EV_EXIT)
            if self.st.status == 0:
                await self.evaltree(n.ch2, flags)
        elif t == NOR:
            assert isinstance(n, NBinaryNode)
            await self.evaltree(n.ch1, (flags | EV_TESTED) & ~EV_EXIT)
            if self.st.status != 0:
                await self.evaltree(n.ch2, flags)
        elif t == NREDIR:
            assert isinstance(n, NRedirNode)
            saved = await self.redirect_or_status(n.redirect, push=True)
            if saved is not None:
                try:
                    await self.evaltree(n.n, flags)
                finally:
                    await self.popredir(saved)
            do_etest = not flags & EV_TESTED
        elif t in (NSUBSHELL, NBACKGND):
            assert isinstance(n, NRedirNode)
            await self.evalsubshell(n, flags)
            do_etest = t == NSUBSHELL and not flags & EV_TESTED
        elif t == NIF:
            assert isinstance(n, NIfNode)
            await self.evaltree(n.test, EV_TESTED)
            if self.st.status == 0:
                await self.evaltree(n.ifpart, flags)
            elif n.elsepart is not None:
                await self.evaltree(n.elsepart, flags)
            else:
                self.st.status = 0
        elif t in (NWHILE, NUNTIL):
            assert isinstance(n, NBinaryNode)
            await self.evalloop(n, flags)
        elif t == NFOR:
            assert isinstance(n, NForNode)
            await self.evalfor(n, flags)
        elif t == NCASE:
            assert isinstance(n, NCaseNode)
            await self.evalcase(n, flags)
        elif t == NDEFUN:
            assert isinstance(n, NDefunNode)
            assert n.body is not None
            self.st.functions[n.name] = n.body
            self.st.status = 0
        elif t == NNOT:
            assert isinstance(n, NNotNode)
            await self.evaltree(n.com, EV_TESTED)
            if n.double:
                self.st.status = 1 if self.st.status else 0
            else:
                self.st.status = 0 if self.st.status else 1
        elif t == NPIPE:
            assert isinstance(n, NPipeNode)
            await self.evalpipe(n, flags)
            do_etest = not flags & EV_TESTED
        elif t == NCMD:
            assert isinstance(n, NCmdNode)
            await self.evalcommand(n, flags)
            do_etest = not flags & EV_TESTED
        if do_etest and "e" in self.st.options and self.st.status != 0:
            raise ErrExit(self.st.status, n)
        return self.st.status

    async def loopbody(self, body: Node | None, flags: int) -> _Break | None:
        """One pass of a loop's condition or body: the ``break``/``continue``
        that ended it for this loop (a ``_Continue`` is a ``_Break``), or None.
        ``break n``/``continue n`` for an outer loop go on up, one level less:
        eval.c's evalskip and skipcount."""
        try:
            await self.evaltree(body, flags & ~EV_EXIT)
        except _Break as b:         # also _Continue, its subclass
            if b.n > 1:
                b.n -= 1
                raise
            return b
        return None

    async def evalloop(self, n: NBinaryNode, flags: int) -> None:
        st = self.st
        st.loopnest += 1
        status = 0
        try:
            while True:
                # eval.c tests evalskip after the condition too: a break or
                # continue there acts on this loop, as in its body.
                skip = await self.loopbody(n.ch1, EV_TESTED)
                if skip is None:
                    if (st.status != 0) == (n.type == NWHILE):
                        break
                    skip = await self.loopbody(n.ch2, flags)
                    status = st.status
                if skip is not None and not isinstance(skip, _Continue):
                    break
        finally:
            st.loopnest -= 1
        st.status = status

    async def evalfor(self, n: NForNode, flags: int) -> None:
        st = self.st
        if n.args is None:
            items = list(st.params)
        else:
            items = []
            for w in n.args:
                items.extend(await self.expandarg(w))
        st.loopnest += 1
        status = 0
        try:
            for item in items:
                st.vars[n.var] = item
                skip = await self.loopbody(n.body, flags)
                status = st.status
                if skip is not None and not isinstance(skip, _Continue):
                    break
        finally:
            st.loopnest -= 1
        st.status = status

    async def evalcase(self, n: NCaseNode, flags: int) -> None:
        word = await self.expand_string(n.expr)
        self.st.status = 0
        for item in n.cases:
            for pat in item.patterns:
                self._sync_vars()
                try:
                    p = await self.exp.pattern(pat)
                except ExpandError as e:
                    raise ShellError(e.msg) from None
                if pmatch(p, word):
                    await self.evaltree(item.body, flags)
                    return

    async def evalsubshell(self, n: NRedirNode, flags: int) -> None:
        backgnd = n.type == NBACKGND

        async def child(ev: Evaluator) -> int:
            if n.redirect:
                await ev.redirect(n.redirect, push=False)
            # a tested subshell's commands are tested too (-e spares them);
            # a background job's are not
            return await ev.evaltree(n.n, (flags & ~EV_TESTED if backgnd else flags) | EV_EXIT)

        if flags & EV_EXIT and not backgnd:
            # already a forked child: no need for another process
            await child(self)
            return
        pid = await self.forkshell(child, FORK_BG if backgnd else FORK_FG)
        if backgnd:
            self.st.lastbg = pid
            self.st.jobs[pid] = None
            self.st.status = 0
            return
        self.st.status = await self.waitforjob([pid])

    async def evalpipe(self, n: NPipeNode, flags: int) -> None:
        pids: list[int] = []
        prevfd = -1
        last = len(n.cmdlist) - 1
        for i, cmd in enumerate(n.cmdlist):
            rw: tuple[int, int] | None = None
            try:
                if i < last:
                    try:
                        rw = await libc.pipe()
                    except SyscallError:
                        raise ShellError("Pipe call failed") from None

                async def child(ev: Evaluator, cmd: Node = cmd, prevfd: int = prevfd,
                                rw: tuple[int, int] | None = rw) -> int:
                    if rw is not None:
                        await libc.close(rw[0])
                    if prevfd > 0:
                        await movefd(prevfd, 0)
                    if rw is not None and rw[1] > 1:
                        await movefd(rw[1], 1)
                    return await ev.evaltree(cmd, EV_EXIT)

                pids.append(await self.forkshell(child))
            except ShellError:
                # sh's error() leaves the job half made; kemu closes the pipe ends
                # it holds (the processes already started see end of file or
                # SIGPIPE) and keeps them as background jobs to be reaped.
                for fd in ([prevfd] if prevfd >= 0 else []) + list(rw or ()):
                    await _close(fd)
                for pid in pids:
                    self.st.jobs[pid] = None
                    if pid in self.fg:
                        self.fg.remove(pid)
                raise
            if prevfd >= 0:
                await _close(prevfd)
            if rw is not None:
                prevfd = rw[0]
                await _close(rw[1])
        self.st.status = await self.waitforjob(pids)

    # -------------------------------------------------------------- processes

    async def forkshell(self, fn: Callable[[Evaluator], Awaitable[int]],
                        mode: int = FORK_FG) -> int:
        """jobs.c's forkshell: fork a subshell running ``fn(evaluator)``, its status
        the child's exit; a failed fork(2) is sh's ``Cannot fork``."""
        if self.st.rootshell:
            await self.getsigmodes()
        state = self.st.copy()
        host = self.host

        async def child() -> int:
            ev = Evaluator(state, host)
            setprogname("sh")
            try:
                await ev.forkchild(mode)
                status = await fn(ev)
            except ShellExit as e:
                status = e.status
            except (ShellError, ShellSyntaxError) as e:
                await ev.error(e.msg)
                status = EXIT_ERROR
            except Interrupted:
                status = 128 + SIGINT
            except (_Break, _Return):
                status = ev.st.status
            except SyscallError as e:
                # A call the evaluator made without a message of sh's for it.
                await ev.error(f"sh: {strerror(e.errno)}")
                status = EXIT_ERROR
            await fflush()
            return status

        try:
            pid = await libc.fork(child)
        except SyscallError:
            raise ShellError("Cannot fork") from None
        if mode == FORK_FG:
            self.fg.append(pid)
        return pid

    async def forkchild(self, mode: int) -> None:
        """jobs.c's forkchild, in the new process: no longer the root shell or
        interactive; a background job (kemu has no job control) ignores SIGINT
        and SIGQUIT for good and, unless its standard input was redirected,
        reads /dev/null; the signals the root shell manages go back to their
        defaults (setsignal), those ignored for good stay ignored.

        Deviation: sh calls setsignal only in a child of an interactive root
        shell; kemu's root shell always catches SIGINT (its handler is the
        host's), so every child does."""
        st = self.st
        st.options.discard("i")
        if mode == FORK_BG:
            await self.ignoresig(SIGINT)
            await self.ignoresig(SIGQUIT)
            if not st.fd0_redirected:
                await _close(0)
                try:
                    fd = await libc.open(_PATH_DEVNULL, O_RDONLY)
                except SyscallError:
                    fd = -1
                if fd != 0:
                    raise ShellError(f"Can't open {_PATH_DEVNULL}")
        for sig in (SIGINT, SIGQUIT, SIGTERM):
            await self.setsignal(sig)

    async def setsignal(self, signo: int) -> None:
        """trap.c's setsignal for the signals sh manages itself (kemu's sh has no
        ``trap``): an interactive root shell catches SIGINT (the host's handler,
        installed by tools.shell) and ignores SIGQUIT and SIGTERM; anyone else
        takes the defaults, except a signal that was ignored when the shell got
        it (S_HARD_IGN), which stays ignored."""
        st = self.st
        action = S_DFL
        if st.rootshell and "i" in st.options:
            if signo == SIGINT:
                action = S_CATCH
            elif signo in (SIGQUIT, SIGTERM):
                action = S_IGN
        tsig = st.sigmode.get(signo, 0)
        if tsig == 0:
            # The current setting is unknown: read it.  Ignored on entry, it
            # stays ignored for good, unless the shell is interactive.
            old = libc.struct_sigaction()
            await libc.sigaction(signo, None, old)
            if old.sa_handler == SIG_IGN:
                tsig = S_IGN if "i" in st.options else S_HARD_IGN
            else:
                tsig = S_RESET
        if tsig == S_HARD_IGN or tsig == action:
            st.sigmode[signo] = tsig
            return
        st.sigmode[signo] = action
        if action != S_CATCH:
            await libc.signal(signo, SIG_IGN if action == S_IGN else SIG_DFL, 0)
        # (S_CATCH: tools.shell's Shell installed the handler, onsig/onint's role.)
        # If the parent blocked the signal for us, unblock it.
        await libc.sigprocmask(libc.SIG_UNBLOCK, {signo})

    async def getsigmodes(self) -> None:
        """The root shell reads, once, what it does with the signals its
        children reset (setsignal's "current setting unknown" step, done here
        instead of in every child: the children inherit the answer and leave
        alone what is already right, saving their system calls)."""
        st = self.st
        for signo in (SIGINT, SIGQUIT, SIGTERM):
            if signo in st.sigmode:
                continue
            old = libc.struct_sigaction()
            await libc.sigaction(signo, None, old)
            if old.sa_handler == SIG_IGN:
                st.sigmode[signo] = S_IGN if "i" in st.options else S_HARD_IGN
            elif old.sa_handler == SIG_DFL:
                st.sigmode[signo] = S_DFL
            else:
                st.sigmode[signo] = S_RESET         # a handler: the child resets it

    async def ignoresig(self, signo: int) -> None:
        """trap.c's ignoresig: ignore ``signo`` for good (S_HARD_IGN)."""
        if self.st.sigmode.get(signo) not in (S_IGN, S_HARD_IGN):
            await libc.signal(signo, SIG_IGN, 0)
        self.st.sigmode[signo] = S_HARD_IGN

    async def setinteractive(self) -> None:
        """The signals of an interactive root shell (main.c's init with iflag set):
        SIGINT caught, SIGQUIT and SIGTERM ignored."""
        self.st.options.add("i")
        for sig in (SIGINT, SIGQUIT, SIGTERM):
            await self.setsignal(sig)

    async def waitforjob(self, pids: list[int]) -> int:
        """Wait for the job's processes; the status is the last one's."""
        status = 0
        if self.host.intr:
            # Ctrl-C came while the job was being started (before the host could
            # see its pids): it gets the SIGINT the terminal would have sent it.
            for pid in pids:
                try:
                    await libc.kill(pid, SIGINT)
                except SyscallError:
                    pass
        for pid in pids:
            while True:
                try:
                    _, st = await libc.waitpid(pid)
                except SyscallError as e:
                    if e.errno == EINTR:
                        if self.host.intr:
                            raise Interrupted() from None   # Ctrl-C: stop waiting
                        continue
                    # The child's status is lost (ECHILD: someone else reaped
                    # it): say so, and never report it as a success.
                    await self.error(f"{pid}: wait failed: {strerror(e.errno)}")
                    st = -1
                break
            if pid == pids[-1]:
                if st < 0:
                    status = EXIT_NOTFOUND
                else:
                    status = decode_status(st)
                    if WIFSIGNALED(st) and WTERMSIG(st) not in (SIGINT, SIGPIPE):
                        name = _SIGNAMES.get(WTERMSIG(st), f"Signal {WTERMSIG(st)}")
                        await self.error(name)
            if pid in self.fg:
                self.fg.remove(pid)
        return status

    async def reap(self) -> None:
        """Collect the background jobs that are done (dowait without blocking)."""
        from kern.kern_exit import WNOHANG

        for pid, st in list(self.st.jobs.items()):
            if st is not None:
                continue
            try:
                cpid, status = await libc.waitpid(pid, WNOHANG)
            except SyscallError:
                self.st.jobs[pid] = 127
                continue
            if cpid == pid:
                self.st.jobs[pid] = decode_status(status)

    async def cmdsubst(self, tree: Node | None) -> str:
        """$(list) (evalbackcmd): a subshell writing into a pipe; what it wrote."""
        try:
            r, w = await libc.pipe()
        except SyscallError:
            raise ShellError("Pipe call failed") from None

        async def child(ev: Evaluator) -> int:
            await libc.close(r)
            if w != 1:
                await movefd(w, 1)
            return await ev.evaltree(tree, EV_EXIT)

        try:
            pid = await self.forkshell(child)
        except ShellError:
            await _close(r)
            await _close(w)
            raise
        await libc.close(w)
        out = bytearray()
        try:
            while True:
                try:
                    b = await libc.read(r, 8192)
                except SyscallError as e:
                    if e.errno != EINTR:
                        raise
                    if self.host.intr:
                        raise Interrupted() from None      # Ctrl-C
                    continue
                if not b:
                    break
                out += b
        except BaseException:
            self.st.jobs[pid] = None        # not waited for here: reaped later
            if pid in self.fg:
                self.fg.remove(pid)
            raise
        finally:
            await _close(r)
        self.st.status = await self.waitforjob([pid])
        self.cmdsub_status = self.st.status
        return out.decode("utf-8", "surrogateescape")

    cmdsub_status: int | None = None

    # -------------------------------------------------------------- expansion

    async def expandarg(self, w: Word) -> list[str]:
        self._sync_vars()
        try:
            return await self.exp.expandarg(w, glob=True)
        except ExpandError as e:
            raise ShellError(e.msg) from None

    async def expand_string(self, w: Word | None) -> str:
        self._sync_vars()
        try:
            return await self.exp.expand_string(w)
        except ExpandError as e:
            raise ShellError(e.msg) from None

    # -------------------------------------------------------------- simple commands

    async def evalcommand(self, n: NCmdNode, flags: int) -> None:
        st = self.st
        self.host.lineno = n.lineno
        self.cmdsub_status = None
        argv: list[str] = []
        for w in n.args:
            argv.extend(await self.expandarg(w))
        assigns: list[tuple[str, str]] = []
        for w in n.assigns:
            name = assignment_name(w)
            assert name is not None
            assigns.append((name, await self.expand_string(value_word(w))))
        if "x" in st.options:
            words = [f"{k}={v}" for k, v in assigns] + argv + [_redir_text(r) for r in n.redirect]
            traced = self.host.xtrace("+ " + " ".join(words) + "\n")
            if traced is not None:
                await traced            # the sh program writes it to its fd 2

        if not argv:
            for k, v in assigns:
                st.vars[k] = v
            status = self.cmdsub_status or 0
            if n.redirect:
                saved = await self.redirect_or_status(n.redirect, push=True)
                if saved is None:
                    return
                await self.popredir(saved)
            st.status = status
            return

        name = argv[0]
        if name in st.functions:
            await self.evalfun(st.functions[name], argv, n.redirect)
            return
        builtin = BUILTINS.get(name)
        if builtin is None and name in REGULAR_BUILTINS and cmds.lookup(name) is not None:
            builtin = _program_builtin
        if builtin is not None:
            if name in SPECIAL_BUILTINS:
                for k, v in assigns:
                    st.vars[k] = v
            saved = await self.redirect_or_status(n.redirect, push=True)
            if saved is None:
                return
            try:
                setprogname(name)
                try:
                    st.status = await builtin(self, argv)
                except ShellError as e:
                    await self.error(e.msg)
                    st.status = e.status
                except SyscallError as e:
                    # A system call of a builtin failed where sh has no words of
                    # its own for it: the builtin's name and strerror.
                    await self.error(f"{name}: {strerror(e.errno)}")
                    st.status = EXIT_ERROR
                finally:
                    await fflush()
                    setprogname("sh")
            finally:
                await self.popredir(saved)
            return
        if cmds.lookup(name) is None:
            await self.error(f"{name}: not found")
            st.status = EXIT_NOTFOUND
            return
        if flags & EV_EXIT:
            await self.shellexec(n.redirect, argv)
        pid = await self.forkshell(lambda ev: ev.shellexec(n.redirect, argv))
        st.status = await self.waitforjob([pid])

    async def shellexec(self, redirect: list[Redir], argv: list[str]) -> int:
        """In a forked child: the redirections, then execve(2); never returns."""
        try:
            await self.redirect(redirect, push=False)
        except ShellError as e:
            await self.error(e.msg)
            await libc._exit(EXIT_ERROR)
        await fflush()
        try:
            await libc.execve(argv[0], argv)
        except SyscallError as e:
            if e.errno == ENOENT:
                await self.error(f"{argv[0]}: not found")
                await libc._exit(EXIT_NOTFOUND)
            await self.error(f"{argv[0]}: {strerror(e.errno)}")
            await libc._exit(EXIT_NOEXEC)
        raise AssertionError("execve returned")  # not reached

    async def evalfun(self, body: Node, argv: list[str], redirect: list[Redir]) -> None:
        st = self.st
        saved = await self.redirect_or_status(redirect, push=True)
        if saved is None:
            return
        oldparams = st.params
        st.params = argv[1:]
        st.funcnest += 1
        try:
            await self.evaltree(body)
        except _Return as r:
            st.status = r.status
        finally:
            st.funcnest -= 1
            st.params = oldparams
            await self.popredir(saved)

    # -------------------------------------------------------------- redirections

    async def redirect_or_status(self, redirs: list[Redir], push: bool) -> list[Any] | None:
        """redirect(); on failure print sh's message, set status 2 and answer None."""
        try:
            return await self.redirect(redirs, push)
        except ShellError as e:
            await self.error(e.msg)
            self.st.status = e.status
            return None

    async def redirect(self, redirs: list[Redir], push: bool) -> list[tuple[int, int]]:
        """redir.c's redirect: each redirection in turn; with ``push`` the
        descriptors it replaces are kept above 10 (close-on-exec) for popredir."""
        saved: list[tuple[int, int]] = []
        try:
            for r in redirs:
                fd = r.fd
                fname = "" if r.type in (NHERE, NXHERE) else await self.expand_string(r.fname)
                if r.type in (NTOFD, NFROMFD) and _fdnumber(fname) == fd:
                    # n>&n: nothing to save or move; the descriptor must be
                    # open, and stays open across exec
                    try:
                        await libc.fcntl(fd, F_SETFD, 0)
                    except SyscallError as e:
                        raise ShellError(f"fd {fd}: {strerror(e.errno)}") from None
                    continue
                if push and all(s[0] != fd for s in saved):
                    try:
                        i = await libc.fcntl(fd, F_DUPFD, 10)
                    except SyscallError as e:
                        if e.errno != EBADF:
                            if e.errno not in (EMFILE, EINVAL):
                                raise ShellError(f"{fd}: {strerror(e.errno)}") from None
                            # find_big_fd's second try, from the lowest it would
                            try:
                                i = await libc.fcntl(fd, F_DUPFD, 10)
                            except SyscallError as e2:
                                raise ShellError(f"{fd}: {strerror(e2.errno)}") from None
                        else:
                            i = -1                # was closed: closed again after
                    if i >= 0:
                        try:
                            await libc.fcntl(i, F_SETFD, FD_CLOEXEC)
                        except SyscallError:
                            pass
                    saved.append((fd, i))
                    if fd == 0:
                        self.st.fd0_redirected += 1     # popredir takes it back
                elif fd == 0 and not push:
                    self.st.fd0_redirected += 1
                await self.openredirect(r, fname)
        except BaseException:
            if push:
                await self.popredir(saved)
            raise
        return saved

    async def openredirect(self, r: Redir, fname: str) -> None:
        fd = r.fd
        if r.type in (NHERE, NXHERE):
            f = await self.openhere(r)
        else:
            f = await self.openfile(r, fname)
            if f < 0:
                return                      # a descriptor was duplicated or closed
        if f != fd:
            try:
                await copyfd(f, fd)
            except SyscallError as e:
                await _close(f)
                raise ShellError(f"redirect reassignment (fd {fd}) failed: "
                                 f"{strerror(e.errno)}") from None
            await _close(f)

    async def openfile(self, r: Redir, fname: str) -> int:
        """openredirect's cases for files and descriptors (``fname`` expanded):
        the file opened, or -1 when the redirection was a dup (>&, <&) or a
        close (>&-), done here."""
        fd = r.fd
        if r.type in (NTOFD, NFROMFD):
            if fname == "-":
                await _close(fd)
                return -1
            dupfd = _fdnumber(fname)
            if dupfd is None:
                raise ShellError("Syntax error: Bad fd number")
            try:
                await copyfd(dupfd, fd)
            except SyscallError as e:
                raise ShellError(f"Redirect (from {dupfd} to {fd}) failed: "
                                 f"{strerror(e.errno)}") from None
            return -1
        if r.type == NFROM:
            flags, action, what = O_RDONLY, E_OPEN, "open"
        elif r.type == NFROMTO:
            flags, action, what = O_RDWR | O_CREAT, E_CREAT, "create"
        elif r.type == ">>":
            flags, action, what = O_WRONLY | O_CREAT | O_APPEND, E_CREAT, "create"
        else:
            flags, action, what = O_WRONLY | O_CREAT | O_TRUNC, E_CREAT, "create"
        try:
            return await libc.open(fname, flags, DEFFILEMODE)
        except SyscallError as e:
            raise ShellError(f"cannot {what} {fname}: {sh_errmsg(e.errno, action)}") from None

    async def openhere(self, r: Redir) -> int:
        """redir.c's openhere: a pipe whose read end gives the here-document.  A
        short literal one is written at once; otherwise a child (not a job:
        FORK_NOJOB, its SIGINT, SIGQUIT, SIGHUP and SIGTSTP ignored) writes it,
        expanding it first if its marker was unquoted.  Deviation: kemu keeps
        that child with the background jobs, so it is reaped as they are."""
        try:
            pr, pw = await libc.pipe()
        except SyscallError:
            raise ShellError("Pipe call failed") from None
        doc = r.doc
        assert doc is not None
        if r.type == NHERE:
            data = (doc.literal() or "").encode("utf-8", "surrogateescape")
            if len(data) <= PIPESIZE:
                await _xwrite(pw, data)
                await _close(pw)
                return pr

        async def child(ev: Evaluator) -> int:
            await _close(pr)
            for sig in (SIGINT, SIGQUIT, SIGHUP, SIGTSTP):
                await libc.signal(sig, SIG_IGN, 0)
            await libc.signal(SIGPIPE, SIG_DFL, 0)
            if r.type == NHERE:
                text = doc.literal() or ""
            else:
                text = await ev.expand_string(doc)
            await _xwrite(pw, text.encode("utf-8", "surrogateescape"))
            return 0

        try:
            pid = await self.forkshell(child, FORK_NOJOB)
        except ShellError:
            await _close(pr)
            await _close(pw)
            raise
        self.st.jobs[pid] = None
        await _close(pw)
        return pr

    async def popredir(self, saved: list[tuple[int, int]]) -> None:
        """redir.c's popredir: every saved descriptor back (movefd), every one
        that was closed closed again; the first failure is reported after all
        were tried."""
        err: ShellError | None = None
        for fd, into in reversed(saved):
            if fd == 0:
                self.st.fd0_redirected -= 1
            if into >= 0:
                try:
                    await movefd(into, fd)
                except ShellError as e:
                    err = err or e
            else:
                await _close(fd)
        if err is not None:
            raise err


# ------------------------------------------------------------------ builtins

Builtin = Callable[[Evaluator, list[str]], Awaitable[int]]


def _number(word: str, arg: str) -> int:
    if not arg or not set(arg) <= set(DIGITS):
        raise ShellError(f"{word}: Illegal number: {arg}")
    return int(arg)


async def bltin_colon(ev: Evaluator, argv: list[str]) -> int:
    return 0


async def bltin_cd(ev: Evaluator, argv: list[str]) -> int:
    dest = argv[1] if len(argv) > 1 else ev.st.vars.get("HOME", "/")
    if len(argv) > 2:
        raise ShellError("cd: too many arguments")
    try:
        await libc.chdir(dest)
    except SyscallError:
        raise ShellError(f"cd: can't cd to {dest}") from None
    try:
        ev.st.vars["PWD"] = await libc.getcwd()
    except SyscallError:
        pass
    return 0


async def bltin_umask(ev: Evaluator, argv: list[str]) -> int:
    old = await libc.umask(0)
    await libc.umask(old)
    if len(argv) < 2:
        await printf(f"{old:04o}\n")
        return 0
    ap = argv[1]
    try:
        if ap[:1] in DIGITS and ap:
            if not set(ap) <= set("01234567"):
                raise BadMode(ap)
            mask = int(ap, 8)
        else:
            # A symbolic mode says what the new files may have: the mask is the rest.
            mask = ~getmode(setmode(ap, old), ~old & 0o777) & 0o777
    except BadMode:
        raise ShellError(f"umask: Illegal number: {ap}") from None
    await libc.umask(mask)
    return 0


async def bltin_exit(ev: Evaluator, argv: list[str]) -> int:
    status = ev.st.status
    if len(argv) > 1:
        status = _number("exit", argv[1])
    raise ShellExit(status & 0xff)


async def bltin_export(ev: Evaluator, argv: list[str]) -> int:
    if len(argv) == 1:
        for name in sorted(ev.st.exported):
            val = ev.st.vars.get(name)
            await printf(f"export {name}" + (f"='{val}'" if val is not None else "") + "\n")
        return 0
    for a in argv[1:]:
        name, eq, val = a.partition("=")
        if not goodname(name):
            raise ShellError(f"export: {name}: bad variable name")
        if eq:
            ev.st.vars[name] = val
        ev.st.exported.add(name)
    return 0


async def bltin_unset(ev: Evaluator, argv: list[str]) -> int:
    funcs = len(argv) > 1 and argv[1] == "-f"
    for a in argv[2 if funcs or (len(argv) > 1 and argv[1] == "-v") else 1:]:
        if funcs:
            ev.st.functions.pop(a, None)
        else:
            ev.st.vars.pop(a, None)
            ev.st.exported.discard(a)
    return 0


async def bltin_set(ev: Evaluator, argv: list[str]) -> int:
    if len(argv) == 1:
        for k in sorted(ev.st.vars):
            await printf(f"{k}='{ev.st.vars[k]}'\n")
        return 0
    args = argv[1:]
    while args and args[0][:1] in "-+" and args[0] not in ("-", "--"):
        on = args[0][0] == "-"
        for c in args[0][1:]:
            if c not in "efx":
                raise ShellError(f"set: Illegal option {args[0][0]}{c}")
            if on:
                ev.st.options.add(c)
            else:
                ev.st.options.discard(c)
        args = args[1:]
    if args and args[0] in ("-", "--"):
        args = args[1:]
        ev.st.params[:] = args
    elif args:
        ev.st.params[:] = args
    return 0


async def bltin_shift(ev: Evaluator, argv: list[str]) -> int:
    n = _number("shift", argv[1]) if len(argv) > 1 else 1
    if n > len(ev.st.params):
        raise ShellError("shift: can't shift that many")
    del ev.st.params[:n]
    return 0


async def bltin_break(ev: Evaluator, argv: list[str]) -> int:
    n = _number(argv[0], argv[1]) if len(argv) > 1 else 1
    if n <= 0:                      # as current eval.c's breakcmd
        raise ShellError(f"{argv[0]}: invalid count: {n}")
    if ev.st.loopnest == 0:
        return 0
    n = min(n, ev.st.loopnest)
    raise (_Break(n) if argv[0] == "break" else _Continue(n))


async def bltin_return(ev: Evaluator, argv: list[str]) -> int:
    status = _number("return", argv[1]) if len(argv) > 1 else ev.st.status
    if ev.st.funcnest == 0:
        raise ShellExit(status & 0xff)
    raise _Return(status & 0xff)


async def bltin_wait(ev: Evaluator, argv: list[str]) -> int:
    st = ev.st
    if len(argv) > 1:
        status = 0
        for a in argv[1:]:
            pid = _number("wait", a)
            if pid not in st.jobs:
                status = EXIT_NOTFOUND
                continue
            if st.jobs[pid] is None:
                st.jobs[pid] = await ev.waitforjob([pid])
            status = st.jobs.pop(pid) or 0
        return status
    for pid in list(st.jobs):
        if st.jobs[pid] is None:
            st.jobs[pid] = await ev.waitforjob([pid])
        st.jobs.pop(pid)
    return 0


async def bltin_read(ev: Evaluator, argv: list[str]) -> int:
    args = argv[1:]
    raw = False
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] == "-r":
            raw = True
        elif args[0] == "--":
            args = args[1:]
            break
        else:
            raise ShellError(f"read: Illegal option {args[0]}")
        args = args[1:]
    if not args:
        raise ShellError("read: arg count")
    line = bytearray()
    eof = True
    while True:
        b = await libc.read(0, 1)
        if not b:
            break
        if b == b"\n":
            eof = False
            break
        line += b
    text = line.decode("utf-8", "surrogateescape")
    if not raw:
        text = text.replace("\\", "")
    ifs = ev.st.vars.get("IFS", " \t\n")
    fields = text.split(None, len(args) - 1) if ifs == " \t\n" else \
        [f for f in _ifs_split(text, ifs, len(args))]
    for i, name in enumerate(args):
        ev.st.vars[name] = fields[i] if i < len(fields) else ""
    return 1 if eof and not line else 0


def _ifs_split(text: str, ifs: str, n: int) -> list[str]:
    out: list[str] = []
    cur = ""
    for i, c in enumerate(text):
        if c in ifs and len(out) < n - 1:
            out.append(cur)
            cur = ""
            continue
        if len(out) == n - 1:
            out.append(text[i:])
            return out
        cur += c
    out.append(cur)
    return out


async def bltin_eval(ev: Evaluator, argv: list[str]) -> int:
    text = " ".join(argv[1:])
    p = Parser(text)
    ev.st.status = 0
    while True:
        n = p.parsecmd()
        if isinstance(n, str):
            break
        if n is not None:
            await ev.evaltree(n)
    return ev.st.status


async def bltin_help(ev: Evaluator, argv: list[str]) -> int:
    """help [command ...]: one line per command, from the command table."""
    table = help_table()
    names = argv[1:] or sorted(table)
    status = 0
    width = max(len(n) for n in table)
    for name in names:
        if name not in table:
            await eprintf(f"help: no help for {name}\n")
            status = 1
            continue
        await printf(f"{name:<{width}}  {table[name]}\n")
    return status


async def _program_builtin(ev: Evaluator, argv: list[str]) -> int:
    """A command sh also has built in (echo, test, kill...): its program, run in the
    shell's own process (so `echo` in a loop whose reader went away gets the SIGPIPE)."""
    fn = cmds.lookup(argv[0])
    assert fn is not None
    return await crt0(fn, argv)


def help_table() -> dict[str, str]:
    """Every command the shell knows: the builtins and the command table."""
    table = {name: desc for name, desc in BUILTIN_HELP.items()}
    for name in cmds.names():
        table[name] = cmds.summary(name)
    return table


BUILTINS: dict[str, Builtin] = {
    ":": bltin_colon, "cd": bltin_cd, "umask": bltin_umask, "exit": bltin_exit,
    "export": bltin_export, "unset": bltin_unset, "set": bltin_set, "shift": bltin_shift,
    "break": bltin_break, "continue": bltin_break, "return": bltin_return,
    "wait": bltin_wait, "read": bltin_read, "eval": bltin_eval, "help": bltin_help,
}
# NetBSD sh's regular builtins that kemu has as programs: run in the shell when present.
REGULAR_BUILTINS = {"echo", "true", "false", "pwd", "test", "[", "kill", "printf"}
SPECIAL_BUILTINS = {":", "exit", "export", "unset", "set", "shift", "break", "continue",
                    "return", "eval"}
BUILTIN_HELP = {
    ":": "null command (shell builtin)",
    "cd": "change the working directory (shell builtin)",
    "umask": "get or set the file creation mask (shell builtin)",
    "exit": "leave the shell (shell builtin)",
    "export": "mark variables for export (shell builtin)",
    "unset": "remove variables or functions (shell builtin)",
    "set": "set shell options and positional parameters (shell builtin)",
    "shift": "shift positional parameters (shell builtin)",
    "break": "leave a for, while or until loop (shell builtin)",
    "continue": "next iteration of a loop (shell builtin)",
    "return": "return from a function (shell builtin)",
    "wait": "wait for background jobs (shell builtin)",
    "read": "read a line into variables (shell builtin)",
    "eval": "evaluate arguments as a command (shell builtin)",
    "help": "list the commands, one line each (shell builtin)",
}
