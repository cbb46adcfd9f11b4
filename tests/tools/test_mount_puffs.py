"""mount_memfs and mount_passthrough: puffs servers mounted from the kemu shell."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.host_procs import host_processes
from tests.shell_helpers import kemu_machine


def daemons(m, comm: str) -> list:
    """The machine's processes called ``comm`` (the servers' daemons)."""
    return [p for p in m.k.procs.values() if p.p_comm == comm]


def server_processes() -> list[int]:
    """Host processes of ours running tools.lib.libpuffs.remote (not yet reaped):
    started as that by this process, or forked by this process's puffs fork
    server (tools/lib/libpuffs/forkserver.py: a tools/lib/forkserver.py that
    imported tools.lib.libpuffs)."""
    me = os.getpid()
    procs = {}
    for pid, ppid in host_processes().items():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        procs[pid] = (ppid, cmd)
    forkservers = {pid for pid, (ppid, cmd) in procs.items()
                   if ppid == me and b"tools.lib.forkserver" in cmd
                   and b"tools.lib.libpuffs" in cmd}
    return sorted(pid for pid, (ppid, cmd) in procs.items()
                  if (ppid == me and b"tools.lib.libpuffs.remote" in cmd)
                  or ppid in forkservers)


def wait_for(cond, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize("remote", ["", "-o remote "], ids=["in-machine", "remote"])
def test_mount_memfs_serves_until_unmounted(m, remote):
    before = server_processes()
    assert m.ok(f"mount_memfs {remote}memfs /mnt") == ""
    assert len(daemons(m, "mount_memfs")) == 1          # the daemon stays
    assert (len(server_processes()) - len(before)) == (1 if remote else 0)
    assert "puffs:memfs on /mnt type puffs\n" in m.ok("mount")
    m.ok("mkdir /mnt/dir")
    m.ok("echo hello > /mnt/dir/f")
    assert m.ok("cat /mnt/dir/f") == "hello\n"
    m.ok("mv /mnt/dir/f /mnt/g")
    assert m.ok("ls /mnt") == "dir\ng\n"
    assert m.ok("df /mnt").splitlines()[1].startswith("puffs:memfs ")
    assert m.ok("umount /mnt") == ""
    assert daemons(m, "mount_memfs") == []             # and exits with the unmount
    assert server_processes() == before
    assert "/mnt" not in m.ok("mount")
    assert m.ok("ls /mnt") == ""


@pytest.mark.parametrize("remote", ["", "remote,"], ids=["in-machine", "remote"])
def test_umount_refused_by_the_server_then_forced(m, remote):
    m.ok(f"mount_memfs -o {remote}nounmount memfs /mnt")
    m.ok("echo x > /mnt/f")
    r = m.sh("umount /mnt")
    assert (r.status, r.err) == (1, "umount: /mnt: Device busy\n")
    assert m.ok("cat /mnt/f") == "x\n"                 # still served
    assert m.ok("umount -f /mnt") == ""
    assert "/mnt" not in m.ok("mount")
    assert daemons(m, "mount_memfs") == []
    assert server_processes() == []


def test_mount_t_runs_the_mount_program(m):
    m.ok("mount -t memfs -o remote memfs /mnt")
    assert "puffs:memfs on /mnt type puffs\n" in m.ok("mount")
    m.ok("umount /mnt")
    r = m.sh("mount -t memfs -o bogus memfs /mnt")
    assert (r.status, r.err) == (1, "mount_memfs: -o bogus: option not supported\n")


def test_options_and_errors(m):
    r = m.sh("mount_memfs -o bogus memfs /mnt")
    assert (r.status, r.err) == (1, "mount_memfs: -o bogus: option not supported\n")
    r = m.sh("mount_memfs memfs")
    assert (r.status, r.err) == (1, "usage: mount_memfs [-o options] memfs mount_point\n")
    r = m.sh("mount_memfs -x memfs /mnt")
    assert r.status == 1 and r.err.startswith("mount_memfs: unknown option -- x\n")
    r = m.sh("mount_memfs memfs /nowhere")
    assert r.status == 1 and "realpath /nowhere: No such file or directory" in r.err
    m.ok("echo x > /tmp/file")
    r = m.sh("mount_memfs memfs /tmp/file")
    assert (r.status, r.err) == (1, "mount_memfs: puffs_mount: Not a directory\n")
    assert daemons(m, "mount_memfs") == []
    # the standard and puffs options are taken
    m.ok("mount_memfs -o nocache,allops,noexec,ro memfs /mnt")
    assert "puffs:memfs on /mnt type puffs (noexec, read-only)\n" in m.ok("mount")
    r = m.sh("echo x > /mnt/f")
    assert (r.status, r.err) == (2, "cannot create /mnt/f: read-only file system\n")
    m.ok("umount /mnt")
    r = m.sh("mount_passthrough /nonexistent/dir /mnt")
    assert (r.status, r.err) == (1, "mount_passthrough: /nonexistent/dir: "
                                    "No such file or directory\n")


@pytest.mark.parametrize("remote", ["", "remote,"], ids=["in-machine", "remote"])
def test_dump_shows_the_requests_on_standard_error(m, remote):
    m.ok(f"mount_memfs -o {remote}dump memfs /mnt")
    r = m.sh("ls /mnt")
    assert r.status == 0 and r.out == ""
    assert "optype: READDIR, cookie: 0x1, rv: 0\n" in r.err
    r = m.sh("umount /mnt")
    assert r.status == 0 and "(VFS, reply), optype: UNMOUNT, cookie: 0x0, rv: 0\n" in r.err


@pytest.mark.parametrize("remote", ["", "-o remote "], ids=["in-machine", "remote"])
def test_mount_passthrough_serves_a_host_directory(m, tmp_path, remote):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "hostfile").write_text("from the host\n")
    m.ok(f"mount_passthrough {remote}{tmp_path} /mnt")
    assert "puffs:passthrough on /mnt type puffs\n" in m.ok("mount")
    assert m.ok("cat /mnt/sub/hostfile") == "from the host\n"
    m.ok("echo from kemu > /mnt/sub/new")
    m.ok("mkdir /mnt/made")
    m.ok("rm /mnt/sub/hostfile")
    assert m.ok("ls /mnt/sub") == "new\n"
    m.ok("umount /mnt")
    assert (tmp_path / "sub" / "new").read_text() == "from kemu\n"
    assert (tmp_path / "made").is_dir()
    assert not (tmp_path / "sub" / "hostfile").exists()
    assert daemons(m, "mount_passthrough") == [] and server_processes() == []


def test_killed_remote_server_takes_its_mount_along(m):
    m.ok("mount_memfs -o remote memfs /mnt")
    m.ok("echo x > /mnt/f")
    (pid,) = server_processes()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not daemons(m, "mount_memfs"), "the daemon to exit")
    assert "/mnt" not in m.ok("mount")
    assert m.ok("ls /mnt") == ""
    assert server_processes() == []


def test_halt_ends_the_remote_server():
    with kemu_machine(seed=3, md_size=1 << 20) as m:
        m.ok("mount_memfs -o remote memfs /mnt")
        m.ok("echo x > /mnt/f")
        assert len(server_processes()) == 1
    assert server_processes() == []        # unmounted at shutdown, then reaped
