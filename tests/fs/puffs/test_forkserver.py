"""tools/lib/libpuffs/forkserver.py: separate-process puffs servers forked from a
process that imported the server's code, instead of each a fresh interpreter.
The forked server is the same process as the fresh one to the machine: its
own session, the client's standard output and error, its exit status."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from kern.errno import EIO
from kern.machine import testing as kt
from tests.host_procs import gone, parent_pid
from tools.lib.libpuffs import PuffsError, forkserver
from tools.lib.libpuffs.remote import RemoteServer

from . import h_puffs as h


def test_servers_are_forked_by_one_fork_server_and_reaped_through_it():
    pids, parents = [], set()
    for seed in (60, 61):
        with h.Booted(seed=seed) as k:
            s = h.start_remote_server(k)
            assert isinstance(s._popen, forkserver.ServerProcess)
            assert s.pid != os.getpid() and os.getsid(s.pid) == s.pid   # its own session
            parents.add(parent_pid(s.pid))
            k.run(kt.write_file, "/mnt/f", b"forked")
            assert k.run(kt.read_file, "/mnt/f") == b"forked"
            assert k.run(h.unmount, "/mnt") == 0
        pids.append(s.pid)
        assert (s.returncode, s.died, s.loop_error) == (0, False, 0)
    assert pids[0] != pids[1]
    (server,) = parents                       # one fork server forked both
    assert server != os.getpid() and parent_pid(server) == os.getpid()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    forkserver.shutdown(wait=10.0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert not os.path.exists(f"/proc/{server}")  # reaped by us: its CPU is counted
    assert after.ru_utime + after.ru_stime > before.ru_utime + before.ru_stime


def test_a_killed_forked_server_reports_the_signal():
    """Its status read here while the machine's shovel reaps it too; the machine
    halts once the kernel has seen the death (halting while it is still being
    handled can panic in fstrans: a kemu bug of its own, whichever way the server
    was started)."""
    with h.Booted(seed=62) as k:
        s = h.start_remote_server(k)
        s.kill(9)
        assert s._popen.wait(timeout=20) == -9
        for _ in range(1000):                       # the shovel notices by itself
            if h.mounted(k, "/mnt") is None and s.returncode is not None:
                break
            time.sleep(0.01)
        assert s.died and s.returncode == -9


def test_the_forked_server_writes_on_the_clients_descriptors(capfd):
    """A server that cannot start says why on standard error: the client's
    descriptor 2 at the time of the start (here pytest's capture)."""
    s = RemoteServer("tests.fs.puffs.h_remote:NoSuchFS", "memfs")
    with h.Booted(seed=63) as k, pytest.raises(PuffsError) as ei:
        k.run(s.main, "/mnt")
    assert ei.value.errno == EIO
    assert isinstance(s._popen, forkserver.ServerProcess) and s.returncode == 1
    err = capfd.readouterr().err
    assert "puffs remote: tests.fs.puffs.h_remote:NoSuchFS: AttributeError" in err, err


def test_without_the_fork_server_each_server_is_a_fresh_interpreter(monkeypatch):
    monkeypatch.setenv("KEMU_PUFFS_FORKSERVER", "0")
    with h.Booted(seed=64) as k:
        s = h.start_remote_server(k)
        assert isinstance(s._popen, subprocess.Popen) and parent_pid(s.pid) == os.getpid()
        k.run(kt.write_file, "/mnt/f", b"fresh")
        assert k.run(kt.read_file, "/mnt/f") == b"fresh"
        assert k.run(h.unmount, "/mnt") == 0
    assert (s.returncode, s.died, s.loop_error) == (0, False, 0)


def test_a_working_directory_with_a_plain_directory_named_fs_is_forked(tmp_path, monkeypatch):
    """A directory ``fs`` without ``__init__`` in the server's working directory
    (its sys.path[0]) is only a namespace portion, and the server's PYTHONPATH
    has kemu's regular ``fs`` package: a fresh interpreter would import kemu's
    too, so the server is forked."""
    (tmp_path / "fs").mkdir()
    monkeypatch.chdir(tmp_path)
    with h.Booted(seed=67) as k:
        s = h.start_remote_server(k)
        assert s.thread_errors == []
        assert isinstance(s._popen, forkserver.ServerProcess) and parent_pid(s.pid) != os.getpid()
        k.run(kt.write_file, "/mnt/f", b"forked")
        assert k.run(kt.read_file, "/mnt/f") == b"forked"
        assert k.run(h.unmount, "/mnt") == 0
    assert (s.returncode, s.died, s.loop_error) == (0, False, 0)


def test_a_working_directory_that_shadows_its_modules_gets_a_fresh_server(
        tmp_path, monkeypatch):
    """The server's sys.path starts with the working directory: where that finds
    other copies of the modules the fork server imported (here another kemu
    tree: kemu's five packages, their files linked to this tree's), the server
    is a fresh interpreter, started as without the fork server (this used to
    escape as forkserver.Shadowed)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    for pkg in ("kern", "vfs", "dev", "fs", "tools"):
        (tmp_path / pkg).mkdir()
        for e in os.listdir(os.path.join(root, pkg)):
            if e != "__pycache__":
                (tmp_path / pkg / e).symlink_to(os.path.join(root, pkg, e))
    monkeypatch.chdir(tmp_path)
    with h.Booted(seed=67) as k:
        s = h.start_remote_server(k)
        assert s.thread_errors == []
        assert isinstance(s._popen, subprocess.Popen) and parent_pid(s.pid) == os.getpid()
        k.run(kt.write_file, "/mnt/f", b"fresh")
        assert k.run(kt.read_file, "/mnt/f") == b"fresh"
        assert k.run(h.unmount, "/mnt") == 0
    assert (s.returncode, s.died, s.loop_error) == (0, False, 0)


def test_another_python_is_not_forked():
    assert forkserver.usable(sys.executable)
    assert not forkserver.usable("/usr/bin/python3-other")


def test_a_dead_fork_server_is_replaced():
    with h.Booted(seed=65) as k:
        s = h.start_remote_server(k)
        first = parent_pid(s.pid)
        assert k.run(h.unmount, "/mnt") == 0
    # (a server started fresh has this process as its parent: fail, not kill it)
    assert isinstance(s._popen, forkserver.ServerProcess) and first != os.getpid()
    os.kill(first, 9)
    for _ in range(1000):
        if gone(first):
            break
        time.sleep(0.01)
    assert gone(first), f"fork server {first} outlived SIGKILL"
    with h.Booted(seed=66) as k:
        s = h.start_remote_server(k)
        assert parent_pid(s.pid) not in (first, os.getpid())
        assert k.run(h.unmount, "/mnt") == 0
    assert (s.returncode, s.died) == (0, False)

