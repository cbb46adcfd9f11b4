"""tools/lib/forkserver.py: a Python child forked from a process that imported its
modules is, to whoever started it, the process a fresh interpreter would be.
Each case runs the same command line both ways and compares what they did."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import textwrap
from unittest import mock

import pytest

from tools.lib import forkserver

ROOT = forkserver.ROOT

#: What a program shows of the interpreter it runs in.
SHOW = textwrap.dedent("""
    import os, sys
    print("argv", sys.argv, sys.orig_argv)
    print("path", sys.path[:3])
    print("main", __name__, sorted(k for k in vars(sys.modules["__main__"]) if k[:2] != "__"))
    print("cwd", os.getcwd())
    print("env", os.environ.get("KEMU_TEST_VAR"))
    print("fds", sorted(int(f) for f in os.listdir("/proc/self/fd"))[:3])
    print("streams", [(s.name, s.line_buffering, s.write_through, s.encoding, s.errors)
                      for s in (sys.stdin, sys.stdout, sys.stderr)])
    print("same", sys.stdout is sys.__stdout__, sys.stderr is sys.__stderr__)
""")


def both(argv: list[str], **kw) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The run of a fresh interpreter and that of a forked child (it must be one:
    a fallback to a fresh interpreter would compare it with itself)."""
    if not forkserver.usable(sys.executable):
        pytest.skip("no fork server here (coverage or KEMU_FORKSERVER=0)")
    fresh = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                           timeout=60, **kw)
    started = []
    real = forkserver.popen

    def popen(*a, **k):
        started.append(real(*a, **k))
        return started[-1]

    with mock.patch.object(forkserver, "popen", popen):
        forked = forkserver.run(argv, capture_output=True, text=True, timeout=60, **kw)
    assert [type(p) for p in started] == [forkserver.ForkedProcess]
    return fresh, forked


@pytest.mark.parametrize("how", ["-c", "-m", "script"])
def test_a_child_sees_what_a_fresh_interpreter_sees(tmp_path, how):
    (tmp_path / "showme.py").write_text(SHOW)
    argv = {"-c": ["-c", SHOW, "a", "b"], "-m": ["-m", "showme", "a", "b"],
            "script": [str(tmp_path / "showme.py"), "a", "b"]}[how]
    env = dict(os.environ, KEMU_TEST_VAR="x", PYTHONPATH=str(tmp_path / "elsewhere"))
    fresh, forked = both(argv, cwd=tmp_path, env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr)


#: What a script shows of its ``__main__`` (its dict, in order, and loader), of
#: sys.argv[0] and sys.path[0], of its own file name (a traceback's) and of
#: ``__main__`` again when the interpreter exits (atexit).
MAIN = textwrap.dedent("""
    import atexit, sys, traceback, __main__
    atexit.register(lambda: print("at exit", list(vars(__main__))[:10]))
    loader = vars(__main__)["__loader__"]
    print("main", list(vars(__main__)), __main__.__file__, __main__.__cached__)
    print("loader", type(loader).__name__, loader.name, loader.path)
    print("argv", sys.argv, "path0", sys.path[0])
    print("code", (lambda: 0).__code__.co_filename)
    if "raise" in sys.argv:
        raise ValueError("from the script")
    if "exit" in sys.argv:
        sys.exit(4)
""")


@pytest.mark.parametrize("script,cwd,args", [
    ("main_of.py", "d", []),
    ("./main_of.py", "d", ["raise"]),
    ("sub/../main_of.py", "d", ["exit"]),
    ("d//main_of.py", ".", []),
    ("link.py", "d", []),              # a symbolic link to the script
    ("linkdir/main_of.py", ".", []),   # through a linked directory
    ("main_of.py", "linkdir", ["safe"]),
])
def test_a_script_s_main_is_the_interpreters(tmp_path, script, cwd, args):
    """``python SCRIPT``: ``__main__.__file__``, its code's file name (tracebacks)
    and its loader's path are absolute (the working directory joined to the name
    as given, symbolic links and ".." kept), ``__cached__`` is None, sys.argv[0]
    is the name as given, sys.path[0] the directory of the script's real path
    (nothing with PYTHONSAFEPATH); ``__file__`` goes once the script has ended
    (not by SystemExit). As a fresh interpreter does (Python 3.11)."""
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "main_of.py").write_text(MAIN)
    (d / "link.py").symlink_to("main_of.py")
    (tmp_path / "linkdir").symlink_to("d")
    env = dict(os.environ, **({"PYTHONSAFEPATH": "1"} if "safe" in args else {}))
    fresh, forked = both([script, *args], cwd=tmp_path / cwd, env=env)
    assert fresh.returncode == {"raise": 1, "exit": 4}.get(args[0] if args else "", 0)
    if "raise" in args:
        assert f'File "{tmp_path}/d/./main_of.py", line 10' in fresh.stderr
    assert str(tmp_path) in fresh.stdout.split("code ")[1]
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr)


@pytest.mark.parametrize("what", ["missing", "directory", "bytecode"])
def test_a_script_that_is_not_a_source_file_gets_a_fresh_interpreter(tmp_path, what):
    """A directory with a ``__main__.py``, a compiled file, or a file that is
    not there: the interpreter runs the first two its own way and reports the
    third itself, so ``popen`` starts it fresh."""
    import py_compile

    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__main__.py").write_text("print('app')\n")
    py_compile.compile(str(tmp_path / "app" / "__main__.py"), str(tmp_path / "app.pyc"))
    name = {"missing": "nothere.py", "directory": "app", "bytecode": "app.pyc"}[what]
    assert isinstance(forkserver.popen([name], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL), subprocess.Popen)
    r = forkserver.run([name], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == ((2, "") if what == "missing" else (0, "app\n"))


@pytest.mark.parametrize("code,status", [
    ("import sys; sys.exit(3)", 3),
    ("import sys; sys.exit('bye')", 1),
    ("raise ValueError('no')", 1),
    ("def f():\n    1/0\nf()", 1),
    ("raise KeyboardInterrupt", -2),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -15),
    ("import atexit; atexit.register(print, 'at exit')", 0),
    ("import threading, time\n"
     "threading.Thread(target=lambda: (time.sleep(0.2), print('joined'))).start()", 0),
])
def test_the_end_is_the_interpreters(code, status):
    """Exit status, traceback (without the fork server's frames), atexit
    handlers and non-daemon threads: the interpreter's own exit."""
    fresh, forked = both(["-c", code])
    assert fresh.returncode == status
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr)


@pytest.mark.parametrize("how", ["-c", "-m", "script"])
def test_a_syntax_error_is_reported_as_the_interpreter_reports_it(tmp_path, how):
    """Source that does not compile: the interpreter prints the SyntaxError
    (no traceback for -c and a script, runpy's frames for -m), exit status 1,
    no frame of the fork server's."""
    (tmp_path / "syn.py").write_text("print('never')\ndef (\n")
    argv = {"-c": ["-c", "def (\n"], "-m": ["-m", "syn"], "script": ["syn.py"]}[how]
    fresh, forked = both(argv, cwd=tmp_path)
    assert fresh.returncode == 1 and "SyntaxError: invalid syntax" in fresh.stderr
    assert (forked.returncode, forked.stdout, forked.stderr) == \
        (fresh.returncode, fresh.stdout, fresh.stderr)


def test_input_and_descriptors(tmp_path):
    r = forkserver.run(["-c", "import sys; print(sys.stdin.read().upper(), end='')"],
                       input="abc\n", capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, "ABC\n")
    out = tmp_path / "out"
    with open(out, "w") as f:
        p = forkserver.popen(["-c", "import sys; print('o'); print('e', file=sys.stderr)"],
                             stdout=f, stderr=subprocess.STDOUT)
        assert p.wait(60) == 0
    assert sorted(out.read_text().split()) == ["e", "o"]


def test_a_pytest_run_is_the_same(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_a():\n    assert 1 + 1 == 3\n")
    argv = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_x.py"]
    # Without an outer PYTHONPATH: one naming a tree with distribution metadata
    # (bench_suite's names kemu's, with kemu.egg-info) makes a pytest child
    # fresh on purpose (_shadowed), and this test is about a forked one.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    fresh, forked = both(argv, cwd=tmp_path, env=env)
    assert fresh.returncode == forked.returncode == 1
    def untimed(out: str) -> str:
        return re.sub(r" in [0-9.]+s", "", out)

    assert "1 failed" in fresh.stdout
    assert untimed(forked.stdout) == untimed(fresh.stdout)
    assert forked.stderr == fresh.stderr


#: A test that runs a pytest child (the pytester fixture of tests/conftest.py:
#: forked) whose test burns 0.5 s of CPU.
PYTESTER_BURNS = textwrap.dedent('''
    def test_a(pytester):
        pytester.makepyfile(test_q="""
            import time
            def test_b():
                t = time.process_time()
                while time.process_time() - t < 0.5:
                    pass
        """)
        assert pytester.runpytest_subprocess("-p", "no:cacheprovider").ret == 0
''')


def test_fork_servers_a_pytester_test_started_are_reaped_at_the_end(tmp_path):
    """tests/conftest.py reaps the session's fork servers when it ends, so their
    children's CPU reaches RUSAGE_CHILDREN (bench_suite counts it), also those a
    pytester test started first: pytester restores sys.modules after each test,
    and a client imported in the test went with it, unreaped."""
    (tmp_path / "conftest.py").write_text(
        f"import atexit, resource, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.conftest import *  # noqa\n"
        "atexit.register(lambda: open('self.cpu', 'w').write(str(sum(\n"
        "    resource.getrusage(resource.RUSAGE_SELF)[:2]))))\n")
    (tmp_path / "test_p.py").write_text(PYTESTER_BURNS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-p", "pytester", "test_p.py"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0, r.stdout + r.stderr
    below = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime) \
        - float((tmp_path / "self.cpu").read_text())
    assert below >= 0.5


def test_it_is_forked_and_counted(monkeypatch):
    # Its own fork servers and count: the suite's other tests in this worker may
    # have fork servers whose children still run, which shutdown() would wait for.
    monkeypatch.setattr(forkserver, "_clients", {})
    monkeypatch.setattr(forkserver, "_turns", {})
    monkeypatch.setattr(forkserver, "children_cpu", 0.0)
    before = forkserver.children_cpu
    p = forkserver.popen(["-c", "import os, sys, time\nt = time.process_time()\n"
                          "while time.process_time() - t < 0.2: pass\n"
                          "print(os.getppid(), 'kern' in sys.modules)"],
                         stdout=subprocess.PIPE, text=True)
    assert isinstance(p, forkserver.ForkedProcess)
    out, _ = p.communicate(timeout=60)
    ppid, preloaded = out.split()
    assert int(ppid) != os.getpid() and preloaded == "True"   # the fork server's child
    assert forkserver.children_cpu - before >= 0.2
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    forkserver.shutdown(wait=10.0)        # reaped: now in RUSAGE_CHILDREN, not counted twice
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime) >= 0.2
    assert forkserver.children_cpu == pytest.approx(0.0, abs=1e-6)


def test_another_copy_of_a_preloaded_package_gets_a_fresh_interpreter(tmp_path):
    (tmp_path / "kern").mkdir()
    (tmp_path / "kern" / "__init__.py").write_text("WHO = 'the other kern'\n")
    code = "import kern; print(kern.WHO)"
    p = forkserver.popen(["-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert isinstance(p, subprocess.Popen)
    assert p.communicate(timeout=60)[0] == "the other kern\n"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    (tmp_path / "w").mkdir()
    r = forkserver.run(["-c", code], env=env, cwd=tmp_path / "w", capture_output=True,
                       text=True, timeout=60)
    assert r.stdout == "the other kern\n"


def test_a_module_file_of_a_preloaded_name_gets_a_fresh_interpreter(tmp_path):
    """``kern.py`` in the working directory is what ``import kern`` finds first,
    as a fresh interpreter would: not forked.  Even beside a plain ``kern``
    directory (a namespace portion at most, which a module file beats)."""
    (tmp_path / "kern").mkdir()
    (tmp_path / "kern.py").write_text("WHO = 'kern.py'\n")
    p = forkserver.popen(["-c", "import kern; print(kern.WHO)"], cwd=tmp_path,
                         stdout=subprocess.PIPE, text=True)
    assert isinstance(p, subprocess.Popen)
    assert p.communicate(timeout=60)[0] == "kern.py\n"


@pytest.mark.parametrize("name", ["trio", "kern"])
def test_a_plain_directory_named_like_a_preloaded_package(tmp_path, name):
    """A directory without ``__init__`` is a namespace portion, used only where no
    entry of the whole sys.path has a module or regular package of that name,
    but then before a finder after PathFinder (an editable install's, which
    finds kemu's ``kern`` where a fresh interpreter has no kemu tree on its
    path).  Forked or not, the child sees what a fresh interpreter sees:
    trio's package under site-packages is found, the directory is no shadow."""
    (tmp_path / name).mkdir()
    (tmp_path / name / "stray.py").write_text("")
    code = f"import {name}; print({name}.__file__)"
    fresh = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    p = forkserver.popen(["-c", code], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert p.communicate(timeout=60)[0] == fresh.stdout
    theirs = fresh.stdout.strip()
    assert isinstance(p, forkserver.ForkedProcess) == (theirs != "None"), theirs
    if name == "trio":
        assert isinstance(p, forkserver.ForkedProcess)


@pytest.mark.parametrize("suffix", ["__init__.py", "__init__.pyc"])
def test_shadowed_follows_the_import_systems_rules(tmp_path, monkeypatch, suffix):
    """forkserver._shadowed, case by case, against what importlib finds."""
    import importlib
    import importlib.machinery
    import importlib.util
    import marshal

    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    # trio, found on sys.path: a plain directory before it is no shadow
    (first / "trio").mkdir()
    assert not forkserver._shadowed([str(first)], str(tmp_path), ["trio"])
    # an __init__ of any module suffix makes it a regular package: a shadow
    pyc = importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(compile("", "", "exec"))
    (first / "trio" / suffix).write_bytes(b"" if suffix.endswith(".py") else pyc)
    assert forkserver._shadowed([str(first)], str(tmp_path), ["trio.lowlevel"])
    # ... but only the first module or regular package on the path counts
    real = os.path.dirname(os.path.dirname(importlib.util.find_spec("trio").origin))
    assert not forkserver._shadowed([real, str(first)], str(tmp_path), ["trio"])
    # a namespace package preloaded: another portion before its own changes it
    (other / "kemu_ns_probe").mkdir()
    monkeypatch.syspath_prepend(str(other))
    importlib.invalidate_caches()
    assert importlib.util.find_spec("kemu_ns_probe").loader is None
    assert not forkserver._shadowed([str(first)], str(tmp_path), ["kemu_ns_probe"])
    assert not forkserver._shadowed([str(other)], str(tmp_path), ["kemu_ns_probe"])
    (first / "kemu_ns_probe").mkdir()
    assert forkserver._shadowed([str(first)], str(tmp_path), ["kemu_ns_probe"])
    # a package found by a finder after PathFinder (as an editable install's):
    # a plain directory on the path makes a namespace package of it
    (other / "meta").mkdir()
    (other / "meta" / "kemu_meta_probe.py").write_text("")

    class After:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name == "kemu_meta_probe":
                return importlib.util.spec_from_file_location(
                    name, other / "meta" / "kemu_meta_probe.py")
            return None

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, After])
    assert not forkserver._shadowed([str(first)], str(tmp_path), ["kemu_meta_probe"])
    (first / "kemu_meta_probe").mkdir()
    assert forkserver._shadowed([str(first)], str(tmp_path), ["kemu_meta_probe"])


def test_a_base_path_that_cannot_be_asked_means_a_fresh_interpreter(tmp_path, monkeypatch):
    """Where only a namespace portion stands before the rest of the path and a
    fresh interpreter's path cannot be learnt, the child is not forked."""
    (tmp_path / "trio").mkdir()
    monkeypatch.setattr(forkserver, "_base_paths", {})

    def fail(*a, **kw):
        raise OSError("no interpreter")

    monkeypatch.setattr(forkserver.subprocess, "run", fail)
    assert forkserver._shadowed([str(tmp_path)], str(tmp_path), ["trio"])


def test_what_is_never_forked(monkeypatch):
    assert not forkserver.usable("/usr/bin/python3-other")
    assert isinstance(forkserver.popen(["-S", "-c", "pass"]), subprocess.Popen)
    monkeypatch.setenv("KEMU_FORKSERVER", "0")
    assert not forkserver.usable(sys.executable)
    p = forkserver.popen(["-c", "pass"])
    assert isinstance(p, subprocess.Popen) and p.wait(60) == 0


def test_consecutive_children_have_different_hash_secrets():
    """A run and its replay differ in str hashing, as two fresh interpreters do;
    with a fixed PYTHONHASHSEED they agree, as two fresh interpreters do."""
    code = "print(hash('kemu'))"
    base = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}

    def two(**extra: str) -> list[str]:
        seen = [forkserver.run(["-c", code], capture_output=True, text=True, timeout=60,
                               env=dict(base, **extra), preload=()).stdout
                for _ in range(2)]
        assert all(s.strip().lstrip("-").isdigit() for s in seen), seen
        return seen

    # (both, whatever PYTHONHASHSEED the test runner was given).  Fork servers
    # that import nothing (~0.03 s of CPU each, not the pytest preload's ~0.3 s),
    # the same preload for both pairs: the fixed seed, a start-up variable, must
    # get fork servers of its own, not the random pair's.
    random, fixed = two(), two(PYTHONHASHSEED="6640")
    assert random[0] != random[1]
    assert fixed[0] == fixed[1]


def test_a_timeout_then_a_kill():
    sleeper = ["-c", "import time; print('up', flush=True); time.sleep(60)"]
    with pytest.raises(subprocess.TimeoutExpired):
        forkserver.run(sleeper, capture_output=True, text=True, timeout=0.2)
    p = forkserver.popen(sleeper, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "up\n"
    with pytest.raises(subprocess.TimeoutExpired):
        p.communicate(timeout=0.2)
    p.kill()
    assert p.wait(30) == -9


def test_distribution_metadata_on_the_path_gets_a_fresh_interpreter(tmp_path):
    """pytest rewrites the modules a plugin's distribution lists (a tree's
    kemu.egg-info names kern, tools...) and warns about those imported before
    it: a child that would see such metadata is not forked."""
    (tmp_path / "kemu.egg-info").mkdir()
    p = forkserver.popen(["-m", "pytest", "--version"], cwd=tmp_path,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert isinstance(p, subprocess.Popen) and p.wait(60) == 0


@pytest.mark.parametrize("sent", [b"\x05\x00", forkserver.LEN.pack(10) + b'{"a"'],
                         ids=["header", "body"])
def test_a_request_cut_short_by_the_end_is_the_end(sent):
    """The client died while sending: the fork server sees the end of its
    requests (tools/lib/libpuffs/forkserver.py's used to spin on a cut header
    and die on a cut body, leaving its servers unreaped); a whole request
    before it is still read."""
    import socket

    a, b = socket.socketpair()
    with a, b:
        a.sendall(forkserver.LEN.pack(8) + b'{"a": 1}' + sent)
        a.close()
        assert forkserver._recv_request(b) == ({"a": 1}, [])
        assert forkserver._recv_request(b) is None
