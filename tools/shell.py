"""The kemu shell, host side: reading commands, the terminal, Ctrl-C, scripts.

The shell itself is a process of the machine: its language (NetBSD sh's
grammar, expansions, pipelines, lists, control structures, builtins) is
:mod:`tools.sh`, and every complete command is evaluated by an lwp of
the shell's process (``Evaluator.evaltree``), which reaches the kernel
only through system calls.  This module is what stands outside the
machine, in the host's terminal:

* ``Shell.system(line)``: parse and run one command line; its status.
* ``Shell.run_script(text)`` (``kemu run``): the script runs with ``-e``
  semantics (sh's errexit: a failing command ends the script, except in
  conditions and before ``&&``/``||``); the failing command's standard
  error is reported as ``kemu: line N: <text>`` and the result is 1;
  ``exit N`` ends it with N; Ctrl-C stops it with 130.
* ``Shell.interactive()`` (``kemu shell``): on a terminal, line editing,
  history and Tab completion of command names and of paths inside the
  machine (the standard ``readline`` module); the prompt ``kemu# `` (PS2
  ``> `` for a command that goes on); no prompt when standard input is not
  a terminal.
* Ctrl-C: while a command runs, the machine's sync face hands the host's
  KeyboardInterrupt to ``Shell.interrupt`` (``k.on_interrupt``, set for the
  shell's own ``k.run`` only), which
  posts SIGINT to the foreground job's processes and their descendants (a
  process group, as the terminal would) and stops the command line; a
  program dies of it as on NetBSD (status 130).  At the prompt it clears
  the line.  Never a Python traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from kern.exceptions import KernelError, MachineHalted
from tools import cmds
from tools.cmds._prog import eprintf, fflush, setprogname
from tools.console import Capture, Console
from tools.lib import libc
from tools.sh.eval import (
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
EXIT_INTR = 130          # 128 + SIGINT


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
        # Ctrl-C is the host's to route (Shell.interrupt): the shell process itself
        # catches SIGINT, as an interactive sh does; its commands take it by default.
        k.run(libc.signal, 2, self._onint, 0, name="sh", proc=proc)

    @property
    def status(self) -> int:
        return self.state.status

    def _errmsg(self, text: str) -> None:
        """What the shell says on the host's standard error (outside any capture)."""
        self.console.write_err(text.encode("utf-8", "surrogateescape"))

    # ------------------------------------------------------------ Ctrl-C

    def _onint(self, signo: int) -> None:
        """The shell process's SIGINT handler (sh's onint): the interrupt is pending;
        the command line stops at the next command, and the wait or read it
        interrupted fails with EINTR (no SA_RESTART)."""
        self.host.intr = True

    def interrupt(self) -> None:
        """Ctrl-C while a command runs (called in the host's thread): stop the
        command line and post SIGINT to the foreground job, in the machine."""
        self.host.intr = True
        self.k.call_soon(self._post_sigint)

    def _post_sigint(self) -> None:
        """In the machine: SIGINT to the job's processes and everything they forked
        (kemu has no process groups: the descendants stand for the job's group)."""
        from kern.kern_sig import SIGINT, psignal

        procs = self.k.procs
        job = {pid for pid in self.ev.fg if pid in procs}
        if not job:
            # A builtin may be waiting (wait, read): the shell's own process.
            psignal(self.proc, SIGINT)
            return
        for p in list(procs.values()):
            q = p
            while q is not None and q.p_pid not in job and q.p_pid > 1:
                q = q.p_pptr
            if q is not None and q.p_pid in job:
                psignal(p, SIGINT)

    # ------------------------------------------------------------ evaluation

    async def _evaltop(self, node: Node) -> int:
        """In the shell's process: evaluate one complete command."""
        setprogname("sh")
        try:
            await self.ev.reap()
            await self.ev.evaltree(node)
        except ShellError as e:
            await eprintf(e.msg + "\n")
            self.state.status = e.status
            if "i" not in self.state.options:
                raise ErrExit(e.status, node) from None
        finally:
            await fflush()
        return self.state.status

    def eval(self, node: Node) -> int:
        """Evaluate a parsed complete command in the machine; its status.

        ShellExit (``exit``, -e) passes to the caller; kernel failures too.
        """
        self.host.intr = False
        # While the shell's command runs, Ctrl-C is the shell's to route; any
        # other k.run of the machine keeps the harness's default (it raises).
        previous, self.k.on_interrupt = self.k.on_interrupt, self.interrupt
        try:
            self.k.run(self._evaltop, node, name="sh", proc=self.proc)
        except (Interrupted, KeyboardInterrupt):
            self.state.status = EXIT_INTR
        finally:
            self.k.on_interrupt = previous
            self.ev.fg.clear()
        if self.host.intr and self.state.status != EXIT_INTR:
            # Ctrl-C between two commands of the line: the rest did not run.
            self.state.status = EXIT_INTR
        return self.state.status

    def run_argv(self, argv: list[str]) -> int:
        """Run one command given as words (no parsing, no expansion); its status."""
        from tools.sh.parser import NCMD, Lit, Word

        node = NCmdNode(NCMD, 1, [], [Word([Lit(a, True)], a) for a in argv], [],
                        " ".join(argv))
        try:
            return self.eval(node)
        except ShellExit as e:
            return e.status

    def system(self, line: str) -> int:
        """system(3): parse and run a command line; syntax errors give status 2."""
        p = Parser(line)
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
        line N: <its standard error>``); N for ``exit N``; 130 on Ctrl-C.

        ``trace`` echoes each command on standard error (``+ cmd``, sh -x);
        ``transcript`` shows the script as a session on standard output: its
        comment lines, and each command after the prompt.
        """
        if not isinstance(text, str):
            text = "\n".join(line.rstrip("\n") for line in text) + "\n"
        self.state.options.add("e")
        if trace:
            self.state.options.add("x")
        p = Parser(text)
        while True:
            self._skip_comments(p, transcript)
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
            cap = Capture()
            saved = self.console.err
            self.console.err = cap
            try:
                status = self.eval(node)
            except ErrExit as e:
                self.console.err = saved
                self._report_failure(e, cap, node)
                return 1
            except ShellExit as e:
                self.console.err = saved
                self.console.write_err(cap.data)
                return e.status
            except (KernelError, MachineHalted) as e:
                self.console.err = saved
                self.console.write_err(cap.data)
                self._report_crash(e, f"kemu: line {node.lineno}: ")
                return 1
            finally:
                self.console.err = saved
            self.console.write_err(cap.data)
            if self.host.intr:
                return EXIT_INTR
            del status

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

    def _report_failure(self, e: ErrExit, cap: Capture, top: Node) -> None:
        node = e.node if e.node is not None else top
        said = [ln for ln in cap.text.splitlines() if ln.strip()]
        if not said:
            said = [f"{_command_name(node)}: exit status {e.status}"]
        for ln in said:
            self._errmsg(f"kemu: line {node.lineno}: {ln}\n")

    # ------------------------------------------------------------ interactive

    def interactive(self, stdin: TextIO | None = None, prompt: str | None = None) -> int:
        """Read commands from ``stdin`` until ``exit`` or end of file; the last status."""
        stdin = stdin if stdin is not None else sys.stdin
        tty = _isatty(stdin)
        # sh -i: SIGINT caught (the handler above), SIGQUIT and SIGTERM ignored.
        self.k.run(self.ev.setinteractive, name="sh", proc=self.proc)
        reader = _LineReader(self, stdin, tty)
        ps1 = prompt if prompt is not None else self.state.vars.get("PS1", PROMPT)
        while True:
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
                        ps = self.state.vars.get("PS2", PROMPT2)
                        continue
                    self._errmsg(f"Syntax error: {e.msg}\n")
                    self.state.status = EXIT_ERROR
                    nodes = []
                break
            try:
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
        if tty and stdin is sys.stdin:
            self.rl = _setup_readline(shell)

    def readline(self, prompt: str) -> str | None:
        """One line (without its newline), or None at end of file."""
        if self.rl is not None:
            try:
                return input(prompt)
            except EOFError:
                return None
        if self.tty:
            self.shell.console.write_out(prompt.encode())
        line = self.stdin.readline()
        if not line:
            return None
        return line.rstrip("\n")


def _setup_readline(shell: Shell) -> Any:
    """The standard readline module: emacs-style editing, history, Tab completion."""
    try:
        import readline
    except ImportError:
        return None
    state: dict[str, list[str]] = {}

    def completer(text: str, n: int) -> str | None:
        if n == 0:
            state["m"] = shell.complete(readline.get_line_buffer(), readline.get_begidx(),
                                        text)
        m = state.get("m", [])
        return m[n] if n < len(m) else None

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


def _save_history(readline: Any, path: str) -> None:
    try:
        readline.write_history_file(path)
    except OSError:
        pass
