"""Evaluation (bin/sh/eval.c, jobs.c, redir.c, the builtins): the shell as a program
of the machine.

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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kern.errno import EACCES, EEXIST, EINTR, EIO, EISDIR, ENOENT, ENOTDIR, EROFS, strerror
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
from kern.kern_sig import SIGINT, SIGPIPE, SIGQUIT, SIGTERM
from kern.sys_sig import SIG_DFL
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

    def copy(self) -> ShState:
        new = copy.copy(self)
        new.vars = dict(self.vars)
        new.exported = set(self.exported)
        new.params = list(self.params)
        new.options = set(self.options)
        new.functions = dict(self.functions)
        new.jobs = {}
        return new

    def flags(self) -> str:
        return "".join(sorted(self.options))


class Host:
    """What the evaluator needs from outside the machine."""

    def __init__(self, xtrace: Callable[[str], None] | None = None) -> None:
        self.intr = False               # Ctrl-C: stop at the next command
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
    """A redirection as -x shows it: ``>> /mnt/log``, ``2> err``, ``2>&1``."""
    default = 0 if r.type in ("<", "<>", "<&") else 1
    fd = "" if r.fd == default else str(r.fd)
    sep = "" if r.type in (NTOFD, NFROMFD) else " "
    return f"{fd}{r.type}{sep}{r.fname.text}"


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

    async def loopbody(self, body: Node | None, flags: int) -> bool:
        """One pass of a loop's body: False when ``break`` ends this loop
        (``break n``/``continue n`` for an outer loop go on up)."""
        try:
            await self.evaltree(body, flags & ~EV_EXIT)
        except _Break as b:         # also _Continue, its subclass
            if b.n > 1:
                b.n -= 1
                raise
            return isinstance(b, _Continue)
        return True

    async def evalloop(self, n: NBinaryNode, flags: int) -> None:
        st = self.st
        st.loopnest += 1
        status = 0
        try:
            while True:
                await self.evaltree(n.ch1, EV_TESTED)
                if (st.status != 0) == (n.type == NWHILE):
                    break
                going = await self.loopbody(n.ch2, flags)
                status = st.status
                if not going:
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
                going = await self.loopbody(n.body, flags)
                status = st.status
                if not going:
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
            return await ev.evaltree(n.n, EV_EXIT)

        if flags & EV_EXIT and not backgnd:
            # already a forked child: no need for another process
            await child(self)
            return
        pid = await self.forkshell(child, foreground=not backgnd)
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
            if i < last:
                rw = await libc.pipe()

            async def child(ev: Evaluator, cmd: Node = cmd, prevfd: int = prevfd,
                            rw: tuple[int, int] | None = rw) -> int:
                if prevfd >= 0:
                    await libc.dup2(prevfd, 0)
                    await libc.close(prevfd)
                if rw is not None:
                    await libc.close(rw[0])
                    if rw[1] != 1:
                        await libc.dup2(rw[1], 1)
                        await libc.close(rw[1])
                return await ev.evaltree(cmd, EV_EXIT)

            pids.append(await self.forkshell(child))
            if prevfd >= 0:
                await libc.close(prevfd)
            if rw is not None:
                prevfd = rw[0]
                await libc.close(rw[1])
        self.st.status = await self.waitforjob(pids)

    # -------------------------------------------------------------- processes

    async def forkshell(self, fn: Callable[[Evaluator], Awaitable[int]],
                        foreground: bool = True) -> int:
        """Fork a subshell running ``fn(evaluator)``; its status is the child's exit."""
        state = self.st.copy()
        host = self.host

        async def child() -> int:
            state.options.discard("i")
            # A subshell takes the signals by default (the top shell routes Ctrl-C).
            for sig in (SIGINT, SIGQUIT, SIGTERM):
                await libc.signal(sig, SIG_DFL, 0)
            ev = Evaluator(state, host)
            setprogname("sh")
            try:
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
            await fflush()
            return status

        pid = await libc.fork(child)
        if foreground:
            self.fg.append(pid)
        return pid

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
                    st = -1
                break
            if pid == pids[-1] and st >= 0:
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
        """$(list): a subshell writing into a pipe; what it wrote."""
        r, w = await libc.pipe()

        async def child(ev: Evaluator) -> int:
            await libc.close(r)
            if w != 1:
                await libc.dup2(w, 1)
                await libc.close(w)
            return await ev.evaltree(tree, EV_EXIT)

        pid = await self.forkshell(child)
        await libc.close(w)
        out = bytearray()
        while True:
            b = await libc.read(r, 8192)
            if not b:
                break
            out += b
        await libc.close(r)
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
            self.host.xtrace("+ " + " ".join(words) + "\n")

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
        saved: list[tuple[int, int]] = []
        try:
            for r in redirs:
                fd = r.fd
                if push and all(s[0] != fd for s in saved):
                    try:
                        copyfd = await libc.fcntl(fd, F_DUPFD, 10)
                        await libc.fcntl(copyfd, F_SETFD, FD_CLOEXEC)
                    except SyscallError:
                        copyfd = -1               # was closed: closed again after
                    saved.append((fd, copyfd))
                await self.openredirect(r)
        except BaseException:
            if push:
                await self.popredir(saved)
            raise
        return saved

    async def openredirect(self, r: Redir) -> None:
        fd = r.fd
        fname = await self.expand_string(r.fname)
        if r.type in (NTOFD, NFROMFD):
            if fname == "-":
                try:
                    await libc.close(fd)
                except SyscallError:
                    pass
                return
            if not fname or not set(fname) <= set(DIGITS):
                raise ShellError("Syntax error: Bad fd number")
            dupfd = int(fname)
            if dupfd == fd:
                return
            try:
                await libc.dup2(dupfd, fd)
            except SyscallError as e:
                raise ShellError(f"Redirect (from {dupfd} to {fd}) failed: "
                                 f"{strerror(e.errno)}") from None
            return
        if r.type == NFROM:
            flags, action, what = O_RDONLY, E_OPEN, "open"
        elif r.type == NFROMTO:
            flags, action, what = O_RDWR | O_CREAT, E_CREAT, "create"
        elif r.type == ">>":
            flags, action, what = O_WRONLY | O_CREAT | O_APPEND, E_CREAT, "create"
        else:
            flags, action, what = O_WRONLY | O_CREAT | O_TRUNC, E_CREAT, "create"
        try:
            f = await libc.open(fname, flags, DEFFILEMODE)
        except SyscallError as e:
            raise ShellError(f"cannot {what} {fname}: {sh_errmsg(e.errno, action)}") from None
        if f != fd:
            try:
                await libc.dup2(f, fd)
            finally:
                await libc.close(f)

    async def popredir(self, saved: list[tuple[int, int]]) -> None:
        for fd, copyfd in reversed(saved):
            if copyfd >= 0:
                await libc.dup2(copyfd, fd)
                await libc.close(copyfd)
            else:
                try:
                    await libc.close(fd)
                except SyscallError:
                    pass


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
    if n <= 0:
        raise ShellError(f"{argv[0]}: Illegal number: {argv[1]}")
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
