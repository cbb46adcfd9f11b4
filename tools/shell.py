"""The kemu shell, host side: reading commands, the terminal, Ctrl-C, scripts.

The shell itself is a process of the machine: its language (NetBSD sh's
grammar, expansions, pipelines, lists, control structures, builtins) is
:mod:`tools.sh`, and every complete command is evaluated by an lwp of
the shell's process (``Evaluator.evaltree``), which reaches the kernel
only through system calls.  This module is what stands outside the
machine, in the host's terminal:

* ``Shell.system(line)``: parse and run one command line; its status.
* ``cmd &``: the job runs in the background, but every command line is
  handed to the machine through ``k.run``, which returns when the machine
  is quiescent (every lwp asleep: the point where a seeded run replays, and
  where virtual time moves).  After a ``cmd &`` whose job computes without
  sleeping, the host waits there until the job sleeps or ends.  ``exit``
  (and -e ending a script) does not wait for it: as NetBSD's sh, which
  leaves background jobs alone at exit, the shell ends when its command
  has; the caller then halts the machine, which syncs and stops the job.
* ``Shell.run_script(text)`` (``kemu run``): the script runs with ``-e``
  semantics (sh's errexit: a failing command ends the script, except in
  conditions and before ``&&``/``||``); each command's standard error
  goes to the console as it is written, each line labelled
  ``kemu: line N: `` with the script line that runs; a failing command
  that said nothing is reported as ``kemu: line N: <name>: exit status S``;
  the result is 1; ``exit N`` ends it with N; Ctrl-C stops it with 130.
* ``Shell.interactive()`` (``kemu shell``): on a terminal, line editing,
  history and Tab completion of command names and of paths inside the
  machine (the standard ``readline`` module); the prompt ``kemu# `` (PS2
  ``> `` for a command that goes on); no prompt when standard input is not
  a terminal.  Each prompt reaches the terminal in one write: what a
  background job writes meanwhile shows before or after it, never inside
  (``_buffer_readline_output``).
* Ctrl-C: while a script or a command line runs, the host's SIGINT is
  caught by a handler of the shell's (never raised as a KeyboardInterrupt,
  which could land anywhere in the host's code and be lost); it calls
  ``Shell.interrupt``, which sets ``host.intr`` (the command line stops
  before its next command) and, while a command runs, posts SIGINT to the
  foreground job's processes and their descendants (a process group, as
  the terminal would); a program dies of it as on NetBSD (status 130), and
  the command's ``k.run`` returns once the command has ended, without
  waiting for the machine to be quiescent (``Machine.stop_waiting``): a
  background job that computes on cannot hold it.  At
  the prompt it clears the line, at once even while readline is busy
  with a keystroke (``_InterruptWaker``).  Never a Python traceback.
* The shell's own process: interactive, it ignores SIGTERM and SIGQUIT
  (as NetBSD's sh does); killed (``kill -9 $$``, or ``kill $$`` in a
  script), it ends kemu with 128 + the signal.
* An exception that is a bug in kemu (not a kernel crash, which is
  reported as one) ends the shell with ``kemu: internal error: ...`` and
  status 70 (EX_SOFTWARE), never a traceback.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import termios
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from kern.cpu import curlwp
from kern.exceptions import KernelError, MachineHalted
from kern.kern_lwp import SZOMB
from kern.kern_sig import SIGINT
from tools import cmds
from tools.cmds._prog import eprintf, fflush, setprogname
from tools.console import Console, Sink, emit
from tools.lib import libc
from tools.sh.eval import (
    _SIGNAMES,
    BUILTINS,
    EXIT_ERROR,
    ErrExit,
    Evaluator,
    Host,
    Interrupted,
    ShellError,
    ShellExit,
    ShState,
    sh_errmsg,
)
from tools.sh.parser import (
    NEOF,
    NCmdNode,
    Node,
    NPipeNode,
    Parser,
    ShellSyntaxError,
    parse,
)

__all__ = ["PROMPT", "Shell", "ShellExit", "ShellSyntaxError", "parse", "sh_errmsg"]

PROMPT = "kemu# "        # PS1: one prompt, in kemu shell and in kemu demo's transcript
PROMPT2 = "> "           # PS2: the command goes on
EXIT_INTR = 128 + SIGINT
EX_SOFTWARE = 70         # sysexits(3): an internal software error (a bug in kemu)


class Shell:
    """The shell process ``proc`` of machine ``k``, its descriptors 0-2 on ``console``."""

    def __init__(self, k: Any, console: Console, proc: Any) -> None:
        self.k = k
        self.console = console
        self.proc = proc
        self.state = ShState(pid=proc.p_pid)
        self.state.vars["PS1"] = PROMPT
        self.state.vars["PS2"] = PROMPT2
        self.host = Host(xtrace=self._errmsg)
        self.ev = Evaluator(self.state, self.host)
        self._running = False       # host side: eval() is in k.run (interrupt posts)
        # Ctrl-C is the host's to route (Shell.interrupt): the shell process itself
        # catches SIGINT, as an interactive sh does; its commands take it by default.
        k.run(libc.signal, SIGINT, self._onint, 0, name="sh", proc=proc)

    @property
    def status(self) -> int:
        return self.state.status

    def _errmsg(self, text: str) -> None:
        """What the shell says on the host's standard error (outside any labelling)."""
        err = self.console.err
        if isinstance(err, _Labelled):
            err.end_line()
            err = err.sink
        emit(err, text.encode("utf-8", "surrogateescape"))

    # ------------------------------------------------------------ Ctrl-C

    def _onint(self, signo: int) -> None:
        """The shell process's SIGINT handler (sh's onint): the interrupt is pending;
        the command line stops at the next command, and the wait or read it
        interrupted fails with EINTR (no SA_RESTART)."""
        self.host.intr = True

    def interrupt(self) -> None:
        """Ctrl-C (called in the host's main thread, by the SIGINT handler): stop
        the command line and, while a command runs, post SIGINT to the foreground
        job, in the machine."""
        self.host.intr = True
        if self._running:
            self.k.call_soon(self._post_sigint, self._evals)

    def _post_sigint(self, evals: int) -> None:
        """In the machine: SIGINT to the job's processes and everything they forked
        (kemu has no process groups: the descendants stand for the job's group).
        Nothing when the command it was meant for is not being evaluated in the
        machine (``evals`` counts the commands evaluated; ``_evaluating`` is set
        and cleared by ``_evaltop``, in the machine too, so the test and the end
        of the command cannot cross): ``host.intr`` has stopped the line, and the
        shell's own process must not take the Ctrl-C again in the next one.  The
        host's ``_running`` cannot tell: the machine can run this after the
        command ended and before the host's ``k.run`` has returned.  One run
        before the command began is dropped too: ``host.intr``, set before the
        post was made, stops the command at its first ``evaltree``.

        The host's ``k.run`` of an interrupted command does not wait for the
        machine to be quiescent (``Machine.stop_waiting``): it returns when the
        command's lwp has ended (now, when it had), even while a background
        job computes."""
        from kern.kern_sig import psignal

        n, l = self._eval_lwp
        if n == evals and evals != self._evaluating and l is not None:
            # The command has ended, and the host waits for the machine to be
            # quiescent, which a background job that computes on (``dd ...
            # &``) puts off forever: it gets the status now.
            self.k.stop_waiting(l)
            return
        if evals != self._evaluating:
            return
        procs = self.k.procs
        job = {pid for pid in self.ev.fg if pid in procs}
        if not job:
            # A builtin may be waiting (wait, read): the shell's own process.
            if self.proc.p_stat != SZOMB:
                psignal(self.proc, SIGINT)
                self._sigint_posted = True
            return
        for p in list(procs.values()):
            q = p
            while q is not None and q.p_pid not in job and q.p_pid > 1:
                q = q.p_pptr
            if q is not None and q.p_pid in job:
                psignal(p, SIGINT)

    @contextmanager
    def _routing_sigint(self) -> Iterator[None]:
        """While in the block, the host's SIGINT calls :meth:`interrupt` instead of
        raising KeyboardInterrupt (in the main thread, where SIGINT had Python's
        default handler; anywhere else nothing changes)."""
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return
        old = signal.signal(signal.SIGINT, lambda signo, frame: self.interrupt())
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old)

    # ------------------------------------------------------------ evaluation

    async def _evaltop(self, node: Node, evals: int) -> int:
        """In the shell's process: evaluate one complete command, the ``evals``-th."""
        setprogname("sh")
        self._evaluating = evals
        self._eval_lwp = (evals, curlwp())
        ending = False
        try:
            await self.ev.reap()
            await self.ev.evaltree(node)
        except ShellError as e:
            await eprintf(e.msg + "\n")
            self.state.status = e.status
            if "i" not in self.state.options:
                ending = True
                raise ErrExit(e.status, node) from None
        except ShellExit:
            ending = True
            raise
        finally:
            try:
                await fflush()
            finally:
                self._evaluating = 0
                if self.host.intr or ending:
                    # Interrupted (the post above, or a Ctrl-C before it began),
                    # or the shell ends (``exit``, -e): the host gets the status
                    # when this lwp ends, not at quiescence, which a background
                    # job that computes on (``dd ... &``) puts off for ever (see
                    # _post_sigint).  NetBSD's sh does not wait for background
                    # jobs at exit either; kemu then halts the machine, which
                    # syncs and stops them (suspendsched).
                    self.k.stop_waiting(curlwp())
            if self._sigint_posted:
                # A Ctrl-C posted to the shell's own process after its last system
                # call would stay pending into the next command line; sh takes it
                # at its next system call (its handler sets host.intr), so here.
                self._sigint_posted = False
                await libc.sigpending()
        return self.state.status

    def eval(self, node: Node) -> int:
        """Evaluate a parsed complete command in the machine; its status.

        ShellExit (``exit``, -e, the shell's process killed) passes to the
        caller; kernel failures too.  A Ctrl-C (``host.intr``, reset by the
        callers at the start of a command line or a script) makes it 130.
        """
        self._check_alive()
        self._evals += 1
        self._running = True
        try:
            self.k.run(self._evaltop, node, self._evals, name="sh", proc=self.proc)
        except (Interrupted, KeyboardInterrupt):
            # (A KeyboardInterrupt comes only where no handler routes SIGINT.)
            self.host.intr = True
            self.state.status = EXIT_INTR
        finally:
            self._running = False
            self.ev.fg.clear()
        self._check_alive()
        if self.host.intr and self.state.status != EXIT_INTR:
            # Ctrl-C between two commands of the line: the rest did not run.
            self.state.status = EXIT_INTR
        return self.state.status

    def _check_alive(self) -> None:
        """The shell's own process was killed (``kill -9 $$``): the shell ends with
        128 + the signal, as sh's parent would see it."""
        p = self.proc
        if p.p_stat != SZOMB and self.k.procs.get(p.p_pid) is p:
            return
        status = 128 + p.p_xsig if p.p_xsig else p.p_xexit
        if not self._said_dead:
            self._said_dead = True
            what = _SIGNAMES.get(p.p_xsig, f"Signal {p.p_xsig}") if p.p_xsig else \
                f"exit status {p.p_xexit}"
            self._errmsg(f"kemu: the shell (pid {p.p_pid}) ended: {what}\n")
        raise ShellExit(status)

    _said_dead = False
    _evals = 0          # commands evaluated so far (interrupt's post is for one of them)
    _evaluating = 0     # in the machine: the one _evaltop runs (0: none)
    _eval_lwp: tuple[int, Any] = (0, None)  # in the machine: the last _evaltop's, its lwp
    _sigint_posted = False  # in the machine: _post_sigint signalled the shell's process

    def run_argv(self, argv: list[str]) -> int:
        """Run one command given as words (no parsing, no expansion); its status."""
        from tools.sh.parser import NCMD, Lit, Word

        node = NCmdNode(NCMD, 1, [], [Word([Lit(a, True)], a) for a in argv], [],
                        " ".join(argv))
        self.host.intr = False
        try:
            with self._routing_sigint():
                return self.eval(node)
        except ShellExit as e:
            return e.status

    def system(self, line: str) -> int:
        """system(3): parse and run a command line; syntax errors give status 2."""
        p = Parser(line)
        self.host.intr = False
        with self._routing_sigint():
            while True:
                try:
                    node = p.parsecmd()
                except ShellSyntaxError as e:
                    self._errmsg(f"Syntax error: {e.msg}\n")
                    self.state.status = EXIT_ERROR
                    return EXIT_ERROR
                if node is NEOF:
                    return self.state.status
                if node is None:
                    continue
                assert isinstance(node, Node)
                try:
                    self.eval(node)
                except ShellExit as e:
                    self.state.status = e.status
                    return e.status
                if self.host.intr:
                    return self.state.status

    # ------------------------------------------------------------ scripts

    def run_script(self, text: str | Iterable[str], *, trace: bool = False,
                   transcript: bool = False) -> int:
        """Run a script with -e: 0; 1 at the first failure (reported as ``kemu:
        line N: ...``); N for ``exit N``; 130 on Ctrl-C; 128 + the signal when
        the shell's process is killed; 70 on an internal error.

        ``trace`` echoes each command on standard error (``+ cmd``, sh -x);
        ``transcript`` shows the script as a session on standard output: its
        comment lines, and each command after the prompt.
        """
        if not isinstance(text, str):
            text = "\n".join(line.rstrip("\n") for line in text) + "\n"
        self.state.options.add("e")
        if trace:
            self.state.options.add("x")
        self.host.intr = False
        with self._routing_sigint():
            try:
                return self._run_script(Parser(text), transcript)
            except Exception as e:  # noqa: BLE001 - the last resort: a bug, never a traceback
                self._report_internal_error(e)
                return EX_SOFTWARE

    def _run_script(self, p: Parser, transcript: bool) -> int:
        while True:
            self._skip_comments(p, transcript)
            if self.host.intr:
                return EXIT_INTR
            try:
                node = p.parsecmd()
            except ShellSyntaxError as e:
                self._errmsg(f"kemu: line {e.lineno}: Syntax error: {e.msg}\n")
                return 1
            if node is NEOF:
                return 0
            if node is None:
                continue
            assert isinstance(node, Node)
            if transcript:
                self.console.write_out(f"{PROMPT}{p.last_text}\n".encode())
            saved = self.console.err
            self.host.lineno = 0
            err = _Labelled(saved, lambda top=node.lineno:
                            f"kemu: line {self.host.lineno or top}: ".encode())
            self.console.err = err
            try:
                self.eval(node)
            except ErrExit as e:
                if self.host.intr:
                    return EXIT_INTR        # the command died of the Ctrl-C
                self._report_failure(e, err, node)
                return 1
            except ShellExit as e:
                return e.status
            except (KernelError, MachineHalted) as e:
                self._report_crash(e, f"kemu: line {node.lineno}: ")
                return 1
            finally:
                err.end_line()
                self.console.err = saved
            if self.host.intr:
                return EXIT_INTR

    def _skip_comments(self, p: Parser, transcript: bool) -> None:
        """Before a command: past the blank and comment lines (a transcript shows them)."""
        text = p.text
        while p.pos < len(text):
            end = text.find("\n", p.pos)
            end = len(text) if end < 0 else end + 1
            line = text[p.pos:end]
            s = line.strip()
            if s and not s.startswith("#"):
                return
            if s and transcript:
                self.console.write_out((line.rstrip() + "\n").encode())
            p.pos = end
            p.plinno += 1

    def _report_failure(self, e: ErrExit, err: _Labelled, top: Node) -> None:
        """-e ended the script: what the command said is on the console already,
        labelled with its line; a command that said nothing gets a line of its own."""
        if err.said.strip():
            return
        node = e.node if e.node is not None else top
        self._errmsg(f"kemu: line {node.lineno}: {_command_name(node)}: exit status "
                     f"{e.status}\n")

    def _report_internal_error(self, e: Exception) -> None:
        """The last resort: an exception that is a bug in kemu, in a line or two."""
        where = ""
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            frame = tb[-1]
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            path = os.path.abspath(frame.filename)
            if path.startswith(root + os.sep):
                path = os.path.relpath(path, root)
            where = f" (at {path}:{frame.lineno})"
        text = str(e).splitlines()[0] if str(e) else ""
        self._errmsg(f"kemu: internal error: {type(e).__name__}"
                     f"{': ' + text if text else ''}{where}\n")

    # ------------------------------------------------------------ interactive

    def interactive(self, stdin: TextIO | None = None, prompt: str | None = None) -> int:
        """Read commands from ``stdin`` until ``exit`` or end of file; the last status
        (128 + the signal if the shell's process is killed, 70 on an internal error)."""
        stdin = stdin if stdin is not None else sys.stdin
        # sh -i: SIGINT caught (the handler above), SIGQUIT and SIGTERM ignored.
        self.k.run(self.ev.setinteractive, name="sh", proc=self.proc)
        try:
            return self._interactive(stdin, prompt)
        except Exception as e:  # noqa: BLE001 - the last resort: a bug, never a traceback
            self._report_internal_error(e)
            return EX_SOFTWARE

    def _interactive(self, stdin: TextIO, prompt: str | None) -> int:
        tty = _isatty(stdin)
        reader = _LineReader(self, stdin, tty)
        try:
            return self._read_eval(reader, tty, prompt)
        finally:
            reader.close()

    def _read_eval(self, reader: _LineReader, tty: bool, prompt: str | None) -> int:
        while True:
            # PS1 as it is now (a command may have set it), as sh's getprompt reads it
            # for every prompt; ``prompt`` overrides it.  PS1 and PS2 are fixed
            # (VSTRFIXED) variables in NetBSD's sh (var.c: PS2 in varinit, PS1 added by
            # initvar, its value from choose_ps1): unset, they stay in the table
            # with an empty value (unsetvar sets them to "" before marking them VUNSET),
            # and ps1val()/ps2val() read that, so an unset PS1 is an empty prompt.
            ps1 = prompt if prompt is not None else self.state.vars.get("PS1", "")
            buf = ""
            ps = ps1
            while True:
                try:
                    line = reader.readline(ps)
                except KeyboardInterrupt:
                    # Ctrl-C at the prompt: the line is dropped.
                    self.console.write_out(b"\n")
                    buf = ""
                    ps = ps1
                    continue
                if line is None:
                    if buf:
                        self._errmsg("Syntax error: end of file unexpected\n")
                    if tty:
                        self.console.write_out(b"\n")
                    return self.state.status
                buf += line if line.endswith("\n") else line + "\n"
                try:
                    nodes = parse(buf)
                except ShellSyntaxError as e:
                    if e.incomplete:
                        ps = self.state.vars.get("PS2", "")
                        continue
                    self._errmsg(f"Syntax error: {e.msg}\n")
                    self.state.status = EXIT_ERROR
                    nodes = []
                break
            self.host.intr = False
            try:
                with self._routing_sigint():
                    for node in nodes:
                        self.eval(node)
                        if self.host.intr:
                            self.console.write_out(b"\n")
                            break
            except ShellExit as e:
                return e.status
            except (KernelError, MachineHalted) as e:
                self._report_crash(e, "kemu: ")
                return 1
            except KeyboardInterrupt:
                # Between the line's reading and its commands, where SIGINT still raises.
                self.state.status = EXIT_INTR
                self.console.write_out(b"\n")

    def _report_crash(self, e: BaseException, prefix: str) -> None:
        text = str(e) or type(e).__name__
        first, *rest = text.splitlines()
        self._errmsg(prefix + first + "\n")
        for ln in rest:
            self._errmsg(ln + "\n")
        if getattr(e, "schedule", None):
            from kern.machine.machine import schedule_arg

            self._errmsg(f"kemu: schedule {e.strategy}: --replay={schedule_arg(e.schedule)} "
                         "reruns it\n")

    # ------------------------------------------------------------ completion

    def complete(self, line: str, begidx: int, text: str) -> list[str]:
        """Tab completion: command names in command position, else paths in the machine.

        Each match comes with what follows it: a space, or '/' for a directory.
        """
        before = line[:begidx].rstrip()
        command_position = not before or before[-1] in ";|&(" or \
            before.split()[-1] in ("if", "then", "else", "elif", "do", "while", "until", "!")
        if command_position and "/" not in text:
            names = set(cmds.names()) | set(BUILTINS) | set(self.state.functions)
            return [n + " " for n in sorted(names) if n.startswith(text)]
        head, sep, base = text.rpartition("/")
        directory = (head or "/") if sep else "."
        try:
            entries = self.k.run(libc.listdir, directory, name="sh-complete", proc=self.proc)
        except Exception:  # noqa: BLE001 - completion must never break the prompt
            return []
        out = []
        for _ino, name, dtype in sorted(entries, key=lambda e: e[1]):
            if name in (".", "..") or (name.startswith(".") and not base.startswith(".")):
                continue
            if name.startswith(base):
                out.append(f"{head}{sep}{name}" + ("/" if dtype == DT_DIR else " "))
        return out


DT_DIR = 4


class _Labelled:
    """Standard error of a script's command, written through to ``sink`` as it
    comes, each line starting with ``label()`` (``kemu: line N: ``); ``said``
    keeps a copy for the failure report."""

    def __init__(self, sink: Sink, label: Any) -> None:
        self.sink = sink
        self.label = label
        self.said = bytearray()
        self.at_bol = True

    def write(self, data: bytes) -> int:
        self.said += data
        out = bytearray()
        i = 0
        while i < len(data):
            nl = data.find(b"\n", i)
            end = len(data) if nl < 0 else nl + 1
            if self.at_bol:
                out += self.label()
            out += data[i:end]
            self.at_bol = nl >= 0
            i = end
        emit(self.sink, bytes(out))
        return len(data)

    def end_line(self) -> None:
        """End a line left open (dd's progress dots), before anything else is said."""
        if not self.at_bol:
            self.at_bol = True
            emit(self.sink, b"\n")


def _command_name(node: Node) -> str:
    if isinstance(node, NPipeNode) and node.cmdlist:
        node = node.cmdlist[-1]
    if isinstance(node, NCmdNode) and node.args:
        return node.args[0].text
    return "command"


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _LineReader:
    """Lines from the user: readline on a terminal (editing, history, Tab), else
    plain reads with no prompt."""

    def __init__(self, shell: Shell, stdin: TextIO, tty: bool) -> None:
        self.shell = shell
        self.stdin = stdin
        self.rl: Any = None
        self.tty = tty
        self.waker: _InterruptWaker | None = None
        if tty and stdin is sys.stdin:
            self.rl = _setup_readline(self.complete)
            if self.rl is not None:
                self.waker = _InterruptWaker.start()

    def close(self) -> None:
        if self.waker is not None:
            self.waker.stop()
            self.waker = None

    def complete(self, line: str, begidx: int, text: str) -> list[str]:
        """readline's completer: the shell's matches; a Ctrl-C meanwhile is owed to
        the line being read (_InterruptWaker.completing)."""
        if self.waker is None:
            return self.shell.complete(line, begidx, text)
        return self.waker.completing(lambda: self.shell.complete(line, begidx, text))

    def readline(self, prompt: str) -> str | None:
        """One line (without its newline), or None at end of file."""
        if self.rl is not None:
            try:
                if self.waker is None:
                    return input(prompt)
                with self.waker.reading(self.stdin.fileno()):
                    return input(prompt)
            except EOFError:
                return None
        if self.tty:
            self.shell.console.write_out(prompt.encode())
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\n")


class _InterruptWaker:
    """Makes a Ctrl-C at readline's prompt take effect at once.

    CPython's readline module (``readline_until_enter_or_signal`` in
    Modules/readline.c) waits for a key in select() and runs the Python signal
    handlers only when that select() fails with EINTR.  A SIGINT that lands
    while readline is handling a keystroke (drawing a pasted line, or the key
    typed just before) trips the handler's flag in C and nothing more: readline
    goes back to select() and sleeps there, the Ctrl-C unseen until a later
    signal or the end of the line (which it then drops).

    The watcher thread learns of every SIGINT from ``signal.set_wakeup_fd``
    (CPython's C handler writes the signal's number there, after tripping the
    flag) and, until the Python handler has run, sends the main thread
    ``WAKE`` with ``signal.pthread_kill`` every ``PERIOD`` seconds.  The first
    one that reaches readline in select() interrupts it (Python installs its
    handlers without SA_RESTART), readline runs the handlers, and the SIGINT
    handler raises KeyboardInterrupt as ever.  ``WAKE`` is not SIGINT itself,
    so a re-sent signal can never become a second Ctrl-C: its handler does
    nothing (only while the completer owes a Ctrl-C, below, is it one that
    raises it), and
    SIGURG's default action is to ignore it (a late one after
    :meth:`stop` is harmless).

    One stream orders what the thread needs: the main thread writes START
    before ``input()`` and END after it, the SIGINT handler ACK when it runs,
    and the C handler the signal numbers, all on the main thread, so a SIGINT
    byte between START and END and after the last ACK is one still pending.
    Only while such a one is pending does the thread send anything.  (While
    the main thread waits on the machine, in a completion, the machine's run
    passes the byte on (kern/machine/machine.py, the host's turn), possibly
    after the ACK: the thread then sends WAKEs, which do nothing, until END.)

    A Ctrl-C during Tab completion: the completer may wait on the machine
    (``k.run`` of a listdir that a slow or stuck file server holds up); the
    SIGINT handler raises KeyboardInterrupt there, which stops that wait, but
    CPython's readline calls the completer from C and throws away any
    exception it raises (``on_completion`` clears it), so the Ctrl-C was lost
    and the line stayed.  :meth:`completing` catches it instead and owes it
    to the line: OWED makes it pending for the thread, whose WAKE then finds
    readline back in select() and the WAKE handler raises KeyboardInterrupt
    there, outside the completer; should readline return a line first, the
    end of :meth:`reading` raises it.  input() ends with KeyboardInterrupt
    either way, as a Ctrl-C at the prompt: the line is dropped, a fresh
    prompt follows (NetBSD's sh with libedit does the same).
    """

    WAKE = signal.SIGURG
    PERIOD = 0.02
    START, END, ACK, OWED = b"\xfd", b"\xfe", b"\xff", b"\xfc"   # above any signal number

    def __init__(self, rsock: socket.socket, wsock: socket.socket, old_fd: int,
                 old_wake: Any) -> None:
        self._r, self._w = rsock, wsock
        self._old_fd, self._old_wake = old_fd, old_wake
        self._main = threading.main_thread().ident
        self._completing = False    # in completing(): an exception there is lost
        # A Ctrl-C caught in completing(), not yet raised: set only within reading()
        # (readline calls the completer only from input()), cleared on leaving it.
        self._owed = False
        self._thread = threading.Thread(target=self._watch, name="kemu-sigint-waker",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def start(cls) -> _InterruptWaker | None:
        """The waker, or None where it is not needed or cannot work: not the main
        thread, SIGINT not Python's default handler, a wakeup fd already set."""
        if threading.current_thread() is not threading.main_thread() or \
                signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None
        rsock, wsock = socket.socketpair()
        wsock.setblocking(False)
        old_fd = signal.set_wakeup_fd(wsock.fileno(), warn_on_full_buffer=False)
        if old_fd != -1:            # someone else's (an event loop's): leave it alone
            signal.set_wakeup_fd(old_fd)
            rsock.close()
            wsock.close()
            return None
        old_wake = signal.signal(cls.WAKE, _ignore_signal)
        return cls(rsock, wsock, old_fd, old_wake)

    def stop(self) -> None:
        signal.set_wakeup_fd(self._old_fd)
        self._w.close()             # the thread reads end of file and returns
        self._thread.join()
        self._r.close()
        signal.signal(self.WAKE, self._old_wake)

    @contextmanager
    def reading(self, fd: int) -> Iterator[None]:
        """Around ``input()`` on terminal ``fd``: SIGINT raises KeyboardInterrupt,
        as Python's default handler does, after saying so to the thread.

        The terminal does not discard its input at the Ctrl-C (NOFLSH) while
        readline reads it; this does, once readline has let go.  A discard under
        readline could come between its select() finding a key and its read()
        (in rl_getc), which then waits for another key, retrying on EINTR
        without a look at Python's signals: the Ctrl-C held up again, where
        no WAKE reaches it.
        """
        def onint(signo: int, frame: Any) -> None:
            # (start() made the waker only where SIGINT had the default handler.)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._mark(self.ACK)
            raise KeyboardInterrupt

        saved = _tty(termios.tcgetattr, fd)
        try:
            if saved is not None:
                noflsh = list(saved)
                noflsh[3] |= termios.NOFLSH
                _tty(termios.tcsetattr, fd, termios.TCSANOW, noflsh)
            signal.signal(signal.SIGINT, onint)
            self._mark(self.START)
            yield
            if self._owed:          # readline returned a line before the WAKE came
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            self._owed = False      # paid: a WAKE from now on raises nothing
            _tty(termios.tcflush, fd, termios.TCIFLUSH)   # what the terminal did not
            raise
        finally:
            self._owed = False
            signal.signal(self.WAKE, _ignore_signal)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._mark(self.END)
            if saved is not None:
                _tty(termios.tcsetattr, fd, termios.TCSANOW, saved)

    def completing(self, complete: Callable[[], list[str]]) -> list[str]:
        """Run readline's completer ``complete``: a Ctrl-C in it (KeyboardInterrupt,
        which readline would drop) gives no matches and is owed to input().  While
        one is owed, nothing is completed (a Tab typed ahead would wait again)."""
        if self._owed:
            return []
        self._completing = True
        try:
            return complete()
        except KeyboardInterrupt:
            self._owed = True
            signal.signal(self.WAKE, self._onwake)
            self._mark(self.OWED)
            return []
        finally:
            self._completing = False

    def _onwake(self, signo: int, frame: Any) -> None:
        """WAKE's handler: it interrupts readline's select(); and raises the owed
        Ctrl-C there, once the completer has returned.  It may still run in
        Python code that readline called (the rest of the completer function),
        where readline drops the exception again: the Ctrl-C stays owed, and
        pending for the thread, until it has ended input() (reading())."""
        if self._owed and not self._completing:
            raise KeyboardInterrupt

    def _mark(self, what: bytes) -> None:
        try:
            self._w.send(what)
        except OSError:             # full (the thread is far behind): nothing to do
            pass

    def _watch(self) -> None:
        reading = pending = False
        due = 0.0                   # when the next WAKE may go (one per PERIOD)
        while True:
            wait = max(0.0, due - time.monotonic()) if pending else None
            if select.select([self._r], [], [], wait)[0]:
                try:
                    data = self._r.recv(512)
                except OSError:
                    return
                if not data:
                    return
                for b in data:
                    if b == self.START[0]:
                        reading, pending = True, False
                    elif b == self.END[0]:
                        reading = pending = False
                    elif b == self.ACK[0]:
                        pending = False
                    elif b == self.OWED[0]:
                        pending = reading
                    elif b == signal.SIGINT and reading:
                        pending = True
            if pending and time.monotonic() >= due:
                signal.pthread_kill(self._main, self.WAKE)
                due = time.monotonic() + self.PERIOD


def _tty(op: Any, *args: Any) -> Any:
    """A termios call on the user's terminal, None if it failed (hung up: the
    line reader sees end of file)."""
    try:
        return op(*args)
    except (termios.error, OSError):
        return None


def _ignore_signal(signo: int, frame: Any) -> None:
    """The handler of _InterruptWaker.WAKE: it is there only to interrupt."""


def _setup_readline(complete: Callable[[str, int, str], list[str]]) -> Any:
    """The standard readline module: emacs-style editing, history, Tab completion
    (``complete(line, begidx, text)``: the matches)."""
    try:
        import readline
    except ImportError:
        return None
    state: dict[str, list[str]] = {}

    def completer(text: str, n: int) -> str | None:
        if n == 0:
            state["m"] = complete(readline.get_line_buffer(), readline.get_begidx(), text)
        m = state.get("m", [])
        return m[n] if n < len(m) else None

    _buffer_readline_output()
    readline.set_completer(completer)
    readline.set_completer_delims(" \t\n;|&<>()")
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    histfile = os.environ.get("KEMU_HISTFILE")
    if histfile:
        try:
            readline.read_history_file(histfile)
        except OSError:
            pass
        import atexit

        atexit.register(_save_history, readline, histfile)
    return readline


# setvbuf(3)'s mode for a line-buffered stream (the same in glibc, musl and the BSDs)
_IOLBF = 1
# The buffer _buffer_readline_output gave C's stdout: it lives as long as the process.
_stdout_buf: Any = None


def _buffer_readline_output() -> None:
    """Make C's ``stdout``, where readline draws the prompt and the line being
    edited, line-buffered (what C gives a terminal by default): readline
    flushes at the end of each redraw, so the prompt reaches the terminal in
    one write, as NetBSD's sh gives it (libedit flushes its output once per
    redraw).

    ``python -u`` (PYTHONUNBUFFERED, set in many containers) makes that stream
    unbuffered, and readline then wrote the prompt a byte at a time: output of
    the machine's console written between two of them (a background job's,
    from the machine's thread, which runs on while readline waits) tore it
    ("k.emu# ").  The buffer is ours, not the C library's: on a stream that
    was unbuffered, glibc's setvbuf with no buffer would keep its one-byte
    one.  Nothing is done where the C library's stdout is no variable to find
    (NetBSD's is ``&__sF[1]``) or setvbuf is missing."""
    global _stdout_buf
    if _stdout_buf is not None:
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        setvbuf = libc.setvbuf
    except (OSError, AttributeError):
        return
    for name in ("stdout", "__stdoutp"):       # glibc and musl; macOS and FreeBSD
        try:
            fp = ctypes.c_void_p.in_dll(libc, name).value
            break
        except ValueError:
            continue
    else:
        return
    buf = ctypes.create_string_buffer(8192)
    setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
    setvbuf.restype = ctypes.c_int
    if setvbuf(fp, buf, _IOLBF, len(buf)) == 0:
        _stdout_buf = buf


def _save_history(readline: Any, path: str) -> None:
    try:
        readline.write_history_file(path)
    except OSError:
        pass
