"""Python child processes forked from a parent that has already imported their code.

Starting ``python -m MODULE`` costs a new interpreter and its imports every
time: about 0.15 s of CPU for a separate-process puffs server (trio and
libpuffs), 0.55 s for a pytest run with kemu's plugin (pytest, hypothesis,
trio and the kernel).  A process that starts many such children (a test
suite, a sweep) instead starts one *fork server* the first time:
``python -m tools.lib.forkserver FD MODULE...``, which imports the modules
named (and nothing else) and then forks a child for each request.  The
child is the process the interpreter would have been for the same command
line (``-m MODULE ARGS``, ``-c CODE ARGS`` or ``SCRIPT ARGS``), environment,
working directory and descriptors: it builds its ``__main__``, ``sys.orig_argv``,
``sys.argv``, ``sys.path[0]`` and standard streams as the interpreter does
at start-up, and it ends through the interpreter's own exit (atexit
handlers, non-daemon threads joined, the exit status of ``SystemExit``, an
uncaught exception's traceback and status 1, death by SIGINT after an
uncaught KeyboardInterrupt); only its imports were done before the fork.
multiprocessing's forkserver does the same for its workers; this one is
small because it needs no pickling.

It is a real process (its own pid, signals, exit status), but not the
client's child: its parent is the fork server, and it starts in the fork
server's session unless it asks for one of its own.  A test about what a
process does with a terminal or with its process group starts a real
child.

Protocol on the socketpair between the client (:func:`spawn`) and the fork
server: a request is ``<I`` length and a JSON object (``argv``: the
command line after the interpreter; ``env``; ``cwd``; ``fds``: the
descriptor numbers the child has them at; ``session``: whether it starts a
session of its own), with the descriptors passed along (SCM_RIGHTS): the
fork server's end of a *status* socket, then those the child keeps (its 0,
1 and 2, and those of ``pass_fds``).  On the status socket the fork server
writes the child's pid (``<q``), and once it has reaped it, its exit
status in :class:`subprocess.Popen`'s convention (``<q``: negative for a
signal) and its CPU time (``<dd``: user, system; from ``wait4``).  The
client's :class:`ForkedProcess` is a Popen-like view of that socket, and
:data:`children_cpu` sums the CPU time of the children it saw end (their
parent, the fork server, reaps them: they reach the client's
``RUSAGE_CHILDREN`` only when it reaps the fork server, which
``shutdown(wait=...)`` does; tests/conftest.py calls it when the session
ends).

Children with different start-up variables (``PYTHON*``, ``KEMU_*``:
kern.native picks its helper at import; ``HYPOTHESIS*`` and the CI markers:
hypothesis picks its profile at import) or different modules to import get
different fork servers.  PYTHONPATH is the child's own: it builds sys.path
from it as the interpreter would; a child whose sys.path[0] or PYTHONPATH
would make ``import`` find another module than the fork server imported
(another kemu tree; a plain directory of that name only as the import system
would use it: :func:`_shadowed`), or for a pytest run a distribution's
metadata (a tree's kemu.egg-info: pytest would rewrite the modules it
lists), is a fresh interpreter.  Not
used (:func:`usable`: a fresh interpreter is) for another Python than
this one, under coverage (a forked child would not start coverage's
measurement), or with ``KEMU_FORKSERVER=0`` in the environment; nor for a
``SCRIPT`` that is not a source file the child could read (a directory or
zip file with a ``__main__``, bytecode, a missing file: :func:`_source_script`).

A forked child has its fork server's str hash secret (randomised when an
interpreter starts): two fork servers take turns (:data:`HASH_SECRETS`), so
consecutive children differ in it as two fresh interpreters would; children
that must each have their own start fresh.
"""

from __future__ import annotations

import array
import atexit
import io
import json
import locale
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import types
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

LEN = struct.Struct("<I")
Q = struct.Struct("<q")
CPU = struct.Struct("<dd")
ROOT = Path(__file__).resolve().parents[2]
_HERE = __file__
_BASE_PATH: list[str] = []

#: Variables that hypothesis reads when it is imported (its "ci" profile).
CI_MARKERS = ("CI", "BUILD_NUMBER", "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI", "TF_BUILD",
              "bamboo.buildKey", "BUILDKITE", "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID",
              "GITHUB_ACTIONS", "GITLAB_CI", "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION")

#: What a pytest run with kemu's plugin imports before it collects anything,
#: and what ``-m tools.kemu`` imports to boot its machine (tools.kemu imports
#: its shell, console and commands only then).
#: Not hypothesis: pytest rewrites the asserts of the modules of its plugins'
#: distributions, and warns about those imported before it (kemu's are not: its
#: distribution, installed editable, lists only its finder).
PYTEST = ("pytest", "_pytest.pytester", "trio", "kern", "kern.machine.plugin",
          "kern.machine.testing", "tools.kemu", "tools.console", "tools.cmds", "tools.shell")

#: CPU seconds (user + system) of the forked children this process saw end, while
#: their fork server is not reaped (then they are in RUSAGE_CHILDREN): so
#: ``RUSAGE_CHILDREN + children_cpu`` counts every child once.
children_cpu = 0.0
_cpu_lock = threading.Lock()


def _recv_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    """``n`` bytes from ``sock`` (``first``: those already read), or fewer if the
    stream ends before."""
    data = first
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# ------------------------------------------------------------------ the client's side

class ForkedProcess:
    """A forked child, seen as a :class:`subprocess.Popen`: ``pid``, ``returncode``,
    ``poll()``, ``wait(timeout)``, ``send_signal``/``terminate``/``kill``,
    ``communicate`` and the ``stdin``/``stdout``/``stderr`` pipes asked for;
    ``status_fd`` is readable once the exit status is known."""

    def __init__(self, pid: int, status: socket.socket, args: Any = None,
                 client: _Client | None = None) -> None:
        self.pid = pid
        self._client = client
        self.args = args
        self.returncode: int | None = None
        self.stdin: Any = None
        self.stdout: Any = None
        self.stderr: Any = None
        # open as long as this object lives: another thread (RemoteServer._reap)
        # may be waiting for it to become readable
        self._status = status
        self.status_fd = status.fileno()
        self._lock = threading.Lock()

    def _read(self, timeout: float | None) -> int | None:
        global children_cpu
        with self._lock:
            if self.returncode is None:
                r, _, _ = select.select([self._status], [], [], timeout)
                if not r:
                    return None
                # short: the fork server died, the status is lost
                data = _recv_exact(self._status, Q.size + CPU.size)
                if len(data) == Q.size + CPU.size:
                    self.returncode = Q.unpack_from(data)[0]
                    cpu = sum(CPU.unpack_from(data, Q.size))
                    with _cpu_lock:
                        children_cpu += cpu
                        if self._client is not None:
                            self._client.cpu += cpu
                else:
                    self.returncode = 255
            return self.returncode

    def poll(self) -> int | None:
        return self._read(0)

    def wait(self, timeout: float | None = None) -> int:
        rc = self._read(timeout)
        if rc is None:
            raise subprocess.TimeoutExpired(self.args or f"process {self.pid}", timeout or 0)
        return rc

    def send_signal(self, sig: int) -> None:
        # not after its status came: the pid may be another process's by now
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input: bytes | str | None = None, timeout: float | None = None
                    ) -> tuple[Any, Any]:
        """Popen.communicate's contract: ``input`` written to the stdin pipe (then
        closed), both output pipes read to their end, the child waited for."""
        return _communicate(self, input, timeout)

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in (self.stdin, self.stdout, self.stderr):
            if f is not None:
                f.close()
        self.wait()


def _communicate(p: ForkedProcess, input: bytes | str | None, timeout: float | None
                 ) -> tuple[Any, Any]:
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    chunks: dict[Any, list[bytes]] = {}
    sel = selectors.DefaultSelector()
    try:
        pending = b""
        if p.stdin is not None and not p.stdin.closed:
            if input:
                pending = input.encode(p.stdin.encoding) if isinstance(input, str) else input
                sel.register(p.stdin.buffer if hasattr(p.stdin, "buffer") else p.stdin,
                             selectors.EVENT_WRITE)
            else:
                p.stdin.close()
        for f in (p.stdout, p.stderr):
            if f is not None and not f.closed:   # (closed: a second call, after a kill)
                chunks[f] = []
                sel.register(f.buffer if hasattr(f, "buffer") else f, selectors.EVENT_READ)
        raw_of = {(f.buffer if hasattr(f, "buffer") else f): f for f in chunks}
        while sel.get_map():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(p.args, timeout or 0)
            for key, _ in sel.select(left):
                fd = key.fileobj.fileno()
                if key.events & selectors.EVENT_WRITE:
                    try:
                        n = os.write(fd, pending[:512 * 1024])
                    except BrokenPipeError:
                        n = len(pending)
                    pending = pending[n:]
                    if not pending:
                        sel.unregister(key.fileobj)
                        p.stdin.close()
                else:
                    data = os.read(fd, 32768)
                    if data:
                        chunks[raw_of[key.fileobj]].append(data)
                    else:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
    finally:
        sel.close()
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    p.wait(left)

    def text(f: Any) -> Any:
        if f is None or f not in chunks:
            return None
        data = b"".join(chunks[f])
        if isinstance(f, io.TextIOWrapper):
            return data.decode(f.encoding, f.errors).replace("\r\n", "\n").replace("\r", "\n")
        return data

    return text(p.stdout), text(p.stderr)


class _Client:
    def __init__(self, python: str, env: Mapping[str, str], preload: Sequence[str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "tools.lib.forkserver", str(theirs.fileno()), *preload],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=dict(env),
                cwd=ROOT, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.cpu = 0.0          # of its children seen end, in children_cpu

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], cwd: str,
              fds: Mapping[int, int], session: bool) -> ForkedProcess:
        mine, its = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            body = json.dumps({"argv": list(argv), "env": dict(env), "cwd": cwd,
                               "fds": list(fds), "session": session}).encode()
            passed = array.array("i", [its.fileno(), *fds.values()])
            with self.lock:
                self.sock.sendmsg([LEN.pack(len(body)) + body],
                                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, passed)])
        except BaseException:
            mine.close()
            raise
        finally:
            its.close()
        data = _recv_exact(mine, Q.size)
        if len(data) < Q.size:
            mine.close()
            raise OSError("the fork server did not start the process")
        return ForkedProcess(Q.unpack(data)[0], mine, args=list(argv), client=self)

    def close(self, wait: float) -> None:
        global children_cpu
        self.sock.close()
        if wait > 0:
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                return
            # reaped: its children's CPU time is in our RUSAGE_CHILDREN now
            with _cpu_lock:
                children_cpu -= self.cpu
                self.cpu = 0.0


_clients: dict[tuple[Any, ...], _Client] = {}
_turns: dict[tuple[Any, ...], int] = {}

#: Fork servers per interpreter, environment and preload, taking turns: a
#: forked child has its fork server's str hash secret (PYTHONHASHSEED's
#: randomisation happens at interpreter start), so two consecutive children
#: (a run and its replay, which a test compares) come from different ones and
#: differ in it as fresh interpreters would.
HASH_SECRETS = 2
_clients_lock = threading.Lock()


def _startup_env(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The variables that act when an interpreter starts or imports the modules
    (PYTHONHASHSEED, KEMU_NATIVE, the CI markers...), PYTHONPATH aside: the
    child puts its entries on sys.path itself (:func:`_shadowed`)."""
    return tuple(sorted((k, v) for k, v in env.items()
                        if (k.startswith(("PYTHON", "KEMU_", "HYPOTHESIS")) or k in CI_MARKERS)
                        and k != "PYTHONPATH"))


def _path0(argv: Sequence[str], cwd: str, env: Mapping[str, str]) -> list[str]:
    """What the interpreter puts first on sys.path for ``argv``
    (Python/pathconfig.c's _PyPathConfig_ComputeSysPath0): the working
    directory for ``-m``, "" for ``-c``, the directory of the script's real
    path; nothing with PYTHONSAFEPATH set (3.11's safe_path)."""
    if env.get("PYTHONSAFEPATH"):
        return []
    if argv[0] == "-m":
        return [cwd]
    if argv[0] == "-c":
        return [""]
    return [os.path.dirname(os.path.realpath(os.path.join(cwd, argv[0])))]


def _source_script(path: str) -> bool:
    """Whether ``python PATH`` runs ``path`` as a source file, as :func:`become`
    does: not a directory or zip file (run through its ``__main__``), not
    bytecode (Python/pythonrun.c's maybe_pyc_file), not a file that cannot be
    read (the interpreter's own message and status 2)."""
    import importlib.util
    import zipfile

    if path.endswith(".pyc") or not os.path.isfile(path) or not os.access(path, os.R_OK):
        return False
    with open(path, "rb") as f:
        head = f.read(2)
    return head != importlib.util.MAGIC_NUMBER[:2] and not zipfile.is_zipfile(path)


def _shadowed(entries: Sequence[str], cwd: str, preload: Sequence[str],
              pytest_run: bool = False, python: str = sys.executable,
              env: Mapping[str, str] | None = None) -> bool:
    """Whether a directory in ``entries`` (the child's sys.path[0] and PYTHONPATH,
    which come before the fork server's path) makes ``import`` of a module of
    ``preload`` find another one than the fork server imported (another kemu
    tree, say), or, for a pytest run, has a distribution's metadata: then the
    child cannot be forked.

    The import system's rules (importlib's PathFinder and FileFinder): along
    sys.path, the first entry with a module ``name`` (a file of any module
    suffix) or a regular package (a directory with an ``__init__`` of any
    suffix) is the one; a directory ``name`` with neither is a namespace
    portion, used only if no entry of the whole path has a module or regular
    package ``name`` -- and then before any finder placed after PathFinder
    on sys.meta_path, such as the one of a PEP 660 editable install, which
    is how an editable kemu's packages are found in a fresh interpreter.
    """
    import importlib.machinery
    import importlib.util
    import site

    sites = {os.path.realpath(d) for d in [*site.getsitepackages(), site.getusersitepackages()]}
    for e in entries if pytest_run else ():
        # distribution metadata (kemu.egg-info of an editable install's tree):
        # pytest rewrites the asserts of the modules a plugin's distribution
        # lists, and warns about those already imported
        d = os.path.realpath(os.path.join(cwd, e))
        if d not in sites and os.path.isdir(d) and \
                any(n.endswith((".egg-info", ".dist-info")) for n in os.listdir(d)):
            return True
    for name in {m.split(".")[0] for m in preload}:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        if spec.loader is None:  # a namespace package: its portions
            ours = {os.path.realpath(p) for p in spec.submodule_search_locations or ()}
        else:
            ours = {os.path.realpath(next(iter(spec.submodule_search_locations))
                                     if spec.submodule_search_locations else spec.origin or "")}
        portions = []
        for e in entries:
            kind, found = _path_entry_finds(os.path.join(cwd, e), name)
            if kind == "namespace":
                portions.append(os.path.realpath(found))
            elif kind is not None:
                # the first module or regular package on the path is the one
                if spec.loader is None or os.path.realpath(found) not in ours:
                    return True
                break
        else:
            if not portions:
                continue
            if spec.loader is None:     # the child's namespace would have more portions
                if not set(portions) <= ours:
                    return True
                continue
            # Only portions before the rest of the path: what does the rest find?
            base = _fresh_base_path(python, env if env is not None else os.environ)
            if base is None:
                return True         # unknown: a fresh interpreter is always right
            rest = importlib.machinery.PathFinder.find_spec(name, base)
            if rest is None or rest.loader is None:
                return True         # the portions make a namespace package of it
            found = (next(iter(rest.submodule_search_locations))
                     if rest.submodule_search_locations else rest.origin or "")
            if os.path.realpath(found) not in ours:
                return True
    return False


def _path_entry_finds(d: str, name: str) -> tuple[str | None, str]:
    """What the import system's FileFinder finds for the top-level ``name`` in
    directory ``d`` (importlib._bootstrap_external): a directory ``name`` with
    an ``__init__`` of any module suffix is a regular ``package``; else a file
    ``name`` + suffix (extension, source or bytecode) is a ``module``; else a
    directory ``name`` alone is a ``namespace`` portion; else nothing."""
    import importlib.machinery

    suffixes = importlib.machinery.all_suffixes()
    pkg = os.path.join(d, name)
    if os.path.isdir(pkg):
        if any(os.path.isfile(os.path.join(pkg, "__init__" + s)) for s in suffixes):
            return "package", pkg
    for s in suffixes:
        if os.path.isfile(pkg + s):
            return "module", pkg + s
    if os.path.isdir(pkg):
        return "namespace", pkg
    return None, ""


_base_paths: dict[tuple[Any, ...], list[str]] = {}


def _fresh_base_path(python: str, env: Mapping[str, str]) -> list[str] | None:
    """sys.path of a fresh ``python`` started without PYTHONPATH in ``env``, after
    its sys.path[0]
    (the fork server's ``_BASE_PATH``): asked of such an interpreter once per
    start-up environment, and only when a namespace portion makes it matter.
    None if it could not say."""
    key = (python, _startup_env(env))
    if key not in _base_paths:
        try:
            out = subprocess.run(
                [python, "-c", "import json, sys; "
                 "print(json.dumps(sys.path[0 if sys.flags.safe_path else 1:]))"],
                env={k: v for k, v in env.items() if k != "PYTHONPATH"},
                capture_output=True, text=True, timeout=60, check=True)
            _base_paths[key] = json.loads(out.stdout)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None
    return _base_paths[key]


def usable(python: str) -> bool:
    """Whether a child of ``python`` may be forked (else: a fresh interpreter)."""
    return (python == sys.executable and hasattr(os, "fork") and hasattr(socket, "CMSG_LEN")
            and "coverage" not in sys.modules
            and os.environ.get("KEMU_FORKSERVER", "1") != "0")


def spawn(python: str, argv: Sequence[str], env: Mapping[str, str] | None = None, *,
          preload: Sequence[str] = (), cwd: str | os.PathLike[str] | None = None,
          fds: Mapping[int, int] | None = None, session: bool = False,
          secrets: int = HASH_SECRETS) -> ForkedProcess:
    """Start ``python ARGV`` (``-m MODULE ...``, ``-c CODE ...`` or ``SCRIPT ...``),
    forked from this process's fork server for that interpreter, start-up
    environment and ``preload`` (started now if there is none).

    ``fds`` maps the child's descriptor numbers to ours (by default our 0, 1
    and 2; a number absent from it is closed in the child, as with
    ``close_fds``); ``session``: a session of its own (``start_new_session``);
    ``secrets``: how many fork servers take turns (1: children that no one
    compares need not differ in their hash secret).
    """
    env = dict(os.environ if env is None else env)
    cwd = os.fspath(cwd) if cwd is not None else os.getcwd()
    entries = [*_path0(argv, cwd, env),
               *(e for e in env.get("PYTHONPATH", "").split(os.pathsep) if e)]
    if _shadowed(entries, cwd, preload, pytest_run=list(argv[:2]) == ["-m", "pytest"],
                 python=python, env=env):
        raise Shadowed(f"{entries}: another copy of {', '.join(preload)}")
    base = (python, _startup_env(env), tuple(preload))
    with _clients_lock:
        turn = _turns[base] = (_turns.get(base, -1) + 1) % secrets
        key = (*base, turn)
        c = _clients.get(key)
        if c is not None and (c.pid != os.getpid()        # inherited through a fork
                              or c.proc.poll() is not None):  # it died (killed)
            c = None
        if c is None:
            c = _clients[key] = _Client(python, {k: v for k, v in env.items()
                                                 if k != "PYTHONPATH"}, preload)
    return c.spawn(argv, env, cwd, {0: 0, 1: 1, 2: 2} if fds is None else fds, session)


class Shadowed(Exception):
    """The child's sys.path would find another copy of a module the fork server imported."""


def popen(argv: Sequence[str], *, preload: Sequence[str] = PYTEST,
          stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
          text: bool = False, cwd: str | os.PathLike[str] | None = None,
          env: Mapping[str, str] | None = None, start_new_session: bool = False,
          python: str | None = None) -> ForkedProcess | subprocess.Popen[Any]:
    """``subprocess.Popen([python, *argv], ...)`` (``python``: this interpreter),
    forked from a fork server that imported ``preload`` where :func:`usable`;
    else that very Popen.  ``stdin``/``stdout``/``stderr``: None (ours),
    ``subprocess.PIPE``, ``DEVNULL``, ``STDOUT`` (stderr only) or a descriptor."""
    python = python or sys.executable
    argv = [os.fspath(a) for a in argv]
    if argv and argv[0][:2] in ("-m", "-c") and len(argv[0]) > 2:   # -mpytest
        argv = [argv[0][:2], argv[0][2:], *argv[1:]]

    def fresh() -> subprocess.Popen[Any]:
        return subprocess.Popen([python, *argv], stdin=stdin, stdout=stdout, stderr=stderr,
                                text=text, cwd=cwd, env=None if env is None else dict(env),
                                start_new_session=start_new_session)

    # interpreter options (-S, -X...) act before any import: a fresh interpreter
    # so does a script that is not a source file
    if not usable(python) or not argv or (argv[0].startswith("-") and argv[0] not in ("-m", "-c")) \
            or (argv[0][:1] != "-" and not _source_script(os.path.join(cwd or "", argv[0]))):
        return fresh()
    close: list[int] = []
    mine: dict[int, int] = {}
    fds: dict[int, int] = {}
    try:
        for n, how in ((0, stdin), (1, stdout), (2, stderr)):
            if how is None:
                fds[n] = n
            elif how == subprocess.DEVNULL:
                fds[n] = os.open(os.devnull, os.O_RDWR)
                close.append(fds[n])
            elif how == subprocess.PIPE:
                r, w = os.pipe()
                fds[n], mine[n] = (r, w) if n == 0 else (w, r)
                close.append(fds[n])
            elif how == subprocess.STDOUT and n == 2:
                fds[n] = fds[1]
            else:
                fds[n] = how.fileno() if hasattr(how, "fileno") else int(how)
        p = spawn(python, argv, env, preload=preload, cwd=cwd, fds=fds,
                  session=start_new_session)
    except Shadowed:
        for fd in mine.values():
            os.close(fd)
        for fd in close:
            os.close(fd)
        close = []
        return fresh()
    except BaseException:
        for fd in mine.values():
            os.close(fd)
        raise
    finally:
        for fd in close:
            os.close(fd)
    enc = locale.getpreferredencoding(False)
    for n, fd in mine.items():
        f: Any = open(fd, "wb" if n == 0 else "rb")  # noqa: SIM115 - the pipe's, as Popen's
        if text:
            f = io.TextIOWrapper(f, encoding=enc, write_through=True)
        setattr(p, ("stdin", "stdout", "stderr")[n], f)
    return p


def run(argv: Sequence[str], *, preload: Sequence[str] = PYTEST, input: bytes | str | None = None,
        capture_output: bool = False, timeout: float | None = None, check: bool = False,
        **kw: Any) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run([python, *argv], ...)``, the process started by :func:`popen`:
    the same keywords (``input``, ``capture_output``, ``text``, ``cwd``, ``env``,
    ``timeout``, ``check``...) with the same meaning."""
    if input is not None:
        kw["stdin"] = subprocess.PIPE
    if capture_output:
        kw["stdout"] = kw["stderr"] = subprocess.PIPE
    p = popen(argv, preload=preload, **kw)
    with p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise
        except BaseException:
            p.kill()
            raise
    r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check:
        r.check_returncode()
    return r


def shutdown(wait: float = 0.0) -> None:
    """Close this process's fork servers; wait up to ``wait`` seconds for each to
    end (it does once its children have) and reap it."""
    with _clients_lock:
        mine = [c for c in _clients.values() if c.pid == os.getpid()]
        _clients.clear()
    for c in mine:
        c.close(wait)


atexit.register(shutdown)


# ------------------------------------------------------------------ the fork server

def _recv_request(ctl: socket.socket, nfds: int = 64) -> tuple[dict[str, Any], list[int]] | None:
    """One request and its descriptors; None at the end of the stream."""
    fds = array.array("i")
    msg, anc, _, _ = ctl.recvmsg(LEN.size, socket.CMSG_LEN(nfds * fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    msg = _recv_exact(ctl, LEN.size, msg) if msg else msg
    n = LEN.unpack(msg)[0] if len(msg) == LEN.size else -1
    body = _recv_exact(ctl, n) if n >= 0 else b""
    if len(body) != n:
        # the end, or a request cut short by it (the client died while sending)
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(body), list(fds)


def serve(ctl_fd: int, preload: Iterable[str] = ()) -> tuple[dict[str, Any], list[int]] | None:
    """The fork server's loop: fork a child per request, report each one's end.
    Returns None in the fork server when it is done, and the request in each
    child it forked (:func:`become` then runs it)."""
    import importlib

    global _BASE_PATH
    # started without PYTHONPATH: the stdlib's and site's (after its sys.path[0],
    # which PYTHONSAFEPATH leaves out)
    _BASE_PATH = sys.path[0 if sys.flags.safe_path else 1:]
    for name in preload:
        importlib.import_module(name)
    ctl = socket.socket(fileno=ctl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    children: dict[int, int] = {}       # pid -> our end of its status socket
    open_ = True
    while open_ or children:
        try:
            r, _, _ = select.select([ctl, wake_r] if open_ else [wake_r], [], [])
        except InterruptedError:
            r = [wake_r]
        if wake_r in r:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            while children:
                try:
                    pid, st, ru = os.wait4(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                fd = children.pop(pid, -1)
                if fd >= 0:
                    try:
                        os.write(fd, Q.pack(os.waitstatus_to_exitcode(st))
                                 + CPU.pack(ru.ru_utime, ru.ru_stime))
                    except OSError:
                        pass
                    os.close(fd)
        if open_ and ctl in r:
            got = _recv_request(ctl)
            if got is None:
                open_ = False
                continue
            req, fds = got
            if len(fds) != 1 + len(req.get("fds", ())):
                for fd in fds:
                    os.close(fd)
                continue
            try:
                pid = os.fork()
            except OSError:
                pid = -1
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                ctl.detach()
                return req, fds
            statfd = fds[0]
            for fd in fds[1:]:
                os.close(fd)
            if pid < 0:         # the client reads the end of the status socket
                os.close(statfd)
                continue
            try:
                os.write(statfd, Q.pack(pid))
            except OSError:
                pass
            children[pid] = statfd
    return None


def _stdio(fd: int, name: str, like: io.TextIOWrapper) -> io.TextIOWrapper:
    """A standard stream on ``fd`` as the interpreter makes it at start-up
    (Python/pylifecycle.c create_stdio), with ``like``'s encoding and errors."""
    write = fd != 0
    buffered = not like.write_through
    raw = io.FileIO(fd, "wb" if write else "rb", closefd=False)
    buf: Any = raw
    if buffered or not write:
        buf = io.BufferedWriter(raw) if write else io.BufferedReader(raw)
    line = buffered and (raw.isatty() or fd == 2)
    s = io.TextIOWrapper(buf, encoding=like.encoding, errors=like.errors, newline="\n",
                         line_buffering=line, write_through=not buffered)
    raw.name = name   # type: ignore[misc]
    s.mode = "w" if write else "r"  # type: ignore[misc]
    return s


def become(req: dict[str, Any], fds: list[int]) -> None:
    """In a forked child: become ``python ARGV`` and run it, here at the top level
    of the fork server's ``__main__``, so that the interpreter's own exit ends
    the child."""
    own = set(fds)
    keep: list[int] = req["fds"]
    # the received descriptors above every number the child keeps, then in place
    floor = max([*keep, *own, 2]) + 1
    moved = [_dup_above(fd, floor) for fd in fds[1:]]
    for fd in own:
        os.close(fd)
    for target, fd in zip(keep, moved, strict=True):
        os.dup2(fd, target)         # inheritable, as Popen leaves pass_fds
    for fd in moved:
        os.close(fd)
    # close_fds: nothing else of the fork server's (its requests, the other
    # children's status sockets, its wake-up pipe)
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass
    if req.get("session"):
        os.setsid()
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    like = sys.__stderr__ or sys.stderr
    out_like = sys.__stdout__ or sys.stdout
    sys.stdin = sys.__stdin__ = _stdio(0, "<stdin>", out_like)
    sys.stdout = sys.__stdout__ = _stdio(1, "<stdout>", out_like)
    sys.stderr = sys.__stderr__ = _stdio(2, "<stderr>", like)
    import importlib

    importlib.invalidate_caches()
    argv: list[str] = req["argv"]
    # the command line as given: the interpreter's name (the fork server's own,
    # its clients' python), then argv
    sys.orig_argv = [sys.orig_argv[0], *argv]
    # sys.path as the interpreter builds it: [0], then PYTHONPATH, then the rest
    pythonpath = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    sys.path[:] = [*_path0(argv, os.getcwd(), os.environ), *pythonpath, *_BASE_PATH]
    # __main__ as Python/pylifecycle.c's add_main_module makes it
    import importlib.machinery

    main = types.ModuleType("__main__")
    main.__dict__["__annotations__"] = {}
    main.__dict__["__builtins__"] = __builtins__
    main.__dict__["__loader__"] = importlib.machinery.BuiltinImporter
    sys.modules["__main__"] = main
    if argv[0] == "-m":
        import runpy

        sys.argv = ["-m", *argv[2:]]
        _guard(lambda: runpy._run_module_as_main(argv[1], alter_argv=True))  # type: ignore
    elif argv[0] == "-c":
        sys.argv = ["-c", *argv[2:]]
        # (compiled under _guard: a SyntaxError is printed as the interpreter does)
        _guard(lambda: exec(compile(argv[1], "<string>", "exec"),  # noqa: S102 - python -c
                            main.__dict__))
    else:
        # Python/pythonrun.c's _PyRun_SimpleFileObject: the file name made
        # absolute (Python/fileutils.c's _Py_abspath: the working directory, "/"
        # and the name as given, not normalised; sys.argv[0] stays as given),
        # __cached__ None, a SourceFileLoader; __file__ and __cached__ removed
        # again once the script has ended (not by SystemExit), before atexit
        sys.argv = list(argv)
        path = argv[0] if os.path.isabs(argv[0]) else os.getcwd() + os.sep + argv[0]
        d = main.__dict__
        d["__file__"] = path
        d["__cached__"] = None
        d["__loader__"] = importlib.machinery.SourceFileLoader("__main__", path)

        def run() -> None:
            with open(path, "rb") as f:
                code = compile(f.read(), path, "exec")
            exec(code, d)  # noqa: S102 - python SCRIPT

        def done() -> None:
            d.pop("__file__", None)
            d.pop("__cached__", None)

        _guard(run, done)


def _dup_above(fd: int, floor: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


def _guard(fn: Any, done: Any = None) -> None:
    """Run ``fn``; an uncaught exception is printed without the fork server's
    frames (those of this module), then ends the interpreter as it would have.
    ``done`` is called after ``fn`` returns or its uncaught exception was
    printed (not after a SystemExit: the interpreter exits from there)."""
    try:
        fn()
    except SystemExit:
        raise
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == _HERE:
            tb = tb.tb_next
        sys.excepthook(type(e), e.with_traceback(tb), tb)
        if done is not None:
            done()
        if isinstance(e, KeyboardInterrupt):
            # the interpreter's exit on it: killed by SIGINT, once finalized
            sys.excepthook = lambda *a: None
            raise
        raise SystemExit(1) from None
    if done is not None:
        done()


if __name__ == "__main__":
    _got = serve(int(sys.argv[1]), sys.argv[2:])
    if _got is None:
        os._exit(0)
    become(*_got)
