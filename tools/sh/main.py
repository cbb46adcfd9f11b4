"""The ``sh`` program: kemu's shell as a command of the machine, so that
``sh -c 'string'``, ``sh script`` and ``find ... -exec sh -c ...`` work
(bin/sh/main.c's non-interactive paths and options.c's procargs).

``sh [-efx] [-c string [name [arg ...]]]``, ``sh [-efx] file [arg ...]``,
or ``sh [-efx]`` reading the commands from standard input.  The commands
run as the shell at the prompt runs them (:mod:`tools.sh.eval`), in this
process: a syntax error or one of sh's errors ends it with status 2, ``exit
N`` with N, and otherwise the status is the last command's.  A script that
cannot be opened is ``sh: cannot open NAME: ...`` and status 127.

Not here (kemu's sh has none of them): -i, -s, -o, job control and the
other options; the environment (kemu passes none to programs).
"""

from __future__ import annotations

from kern.errno import strerror
from kern.exceptions import SyscallError
from kern.fcntl import O_RDONLY
from tools.cmds._prog import eprintf, fflush, getprogname
from tools.lib import libc
from tools.sh.eval import (
    EXIT_ERROR,
    EXIT_NOTFOUND,
    ErrExit,
    Evaluator,
    Host,
    Interrupted,
    ShellError,
    ShellExit,
    ShState,
)
from tools.sh.parser import NEOF, Node, Parser, ShellSyntaxError

_OPTIONS = "efx"


async def _readall(fd: int) -> str:
    data = bytearray()
    while True:
        b = await libc.read(fd, 65536)
        if not b:
            return data.decode("utf-8", "surrogateescape")
        data += b


async def main(argv: list[str]) -> int:
    prog = getprogname()
    st = ShState(pid=await libc.getpid())
    st.arg0 = argv[0] if argv else "sh"
    args = argv[1:]
    cflag = False
    # options.c's procargs: -e -f -x (and + to turn off), -c, "--" or "-" ends.
    while args and args[0][:1] in ("-", "+") and args[0] not in ("-", "--"):
        on = args[0][0] == "-"
        for c in args[0][1:]:
            if c == "c" and on:
                cflag = True
            elif c in _OPTIONS:
                if on:
                    st.options.add(c)
                else:
                    st.options.discard(c)
            else:
                await eprintf(f"{prog}: Illegal option {args[0][0]}{c}\n")
                return EXIT_ERROR
        args = args[1:]
    if args and args[0] in ("-", "--"):
        args = args[1:]
    if cflag:
        if not args:
            await eprintf(f"{prog}: -c requires an argument\n")
            return EXIT_ERROR
        text, args = args[0], args[1:]
        if args:
            st.arg0, args = args[0], args[1:]
    elif args:
        path, args = args[0], args[1:]
        st.arg0 = path
        try:
            fd = await libc.open(path, O_RDONLY)
        except SyscallError as e:
            await eprintf(f"{prog}: cannot open {path}: {strerror(e.errno)}\n")
            return EXIT_NOTFOUND
        try:
            text = await _readall(fd)
        finally:
            await libc.close(fd)
    else:
        text = await _readall(0)
    st.params = list(args)

    async def xtrace(line: str) -> None:
        await fflush()
        await eprintf(line)

    ev = Evaluator(st, Host(xtrace=xtrace))
    parser = Parser(text)
    while True:
        try:
            node = parser.parsecmd()
        except ShellSyntaxError as e:
            await eprintf(f"{prog}: {e.lineno}: Syntax error: {e.msg}\n")
            return EXIT_ERROR
        if node is NEOF:
            return st.status
        if node is None:
            continue
        assert isinstance(node, Node)
        try:
            await ev.reap()
            await ev.evaltree(node)
        except ErrExit as e:
            return e.status
        except ShellExit as e:
            return e.status
        except ShellError as e:
            await ev.error(e.msg)
            return e.status
        except Interrupted:
            return 130
        finally:
            await fflush()
