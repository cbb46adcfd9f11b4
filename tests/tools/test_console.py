"""The console's fileops, the process life of a command, and the command registry."""

from __future__ import annotations

import pytest

import kern
from kern import EBADF, ENOTTY
from kern.fcntl import F_GETFL, O_RDWR, O_WRONLY
from kern.kern_descrip import filelist
from tools import cmds
from tools.cmds._prog import GetoptError, getopt, printf, warn
from tools.console import Capture, Console
from tools.lib import libc
from vfs.stat import S_IFCHR


@pytest.fixture
def k():
    with kern.boot(seed=4) as m:
        yield m


def test_console_routes_descriptors_to_the_host(k):
    seen: list[tuple[str, bytes]] = []
    con = Console(out=lambda b: seen.append(("out", b)), err=lambda b: seen.append(("err", b)))
    sh = k.proc_create("sh", k.initproc)
    assert k.run(con.attach, proc=sh) == [0, 1, 2]
    con.feed(b"abc")

    async def child():
        r = [await libc.write(1, b"to out"), await libc.write(2, b"to err"),
             await libc.write(0, b"zero")]
        r.append(await libc.read(0, 2))
        r.append(await libc.read(0, 10))
        r.append(await libc.read(0, 10))          # end of file
        st = await libc.fstat(1)
        r.append((st.st_mode, st.st_nlink))
        try:
            await libc.ioctl(1, 0x40047477)       # TIOCGPGRP-like: not a tty
        except kern.SyscallError as e:
            r.append(e.errno)
        r.append(await libc.fcntl(0, F_GETFL) & 3)
        r.append(await libc.fcntl(1, F_GETFL) & 3)
        return r

    child_p = k.proc_create("child", sh)             # inherits 0, 1, 2
    r = k.run(child, proc=child_p)
    assert r[:3] == [6, 6, 4]
    assert r[3:6] == [b"ab", b"c", b""]
    assert r[6] == (S_IFCHR | 0o620, 1)
    assert r[7:] == [ENOTTY, O_RDWR, O_WRONLY]
    assert seen == [("out", b"to out"), ("err", b"to err"), ("out", b"zero")]


def test_console_targets_can_be_swapped_and_captured(k):
    out, err = Capture(), Capture()
    con = Console(out, err)
    sh = k.proc_create("sh", k.initproc)
    k.run(con.attach, proc=sh)
    later = Capture()
    con.err = later

    async def body():
        await libc.write(1, b"x")
        await libc.write(2, "é".encode())

    k.run(body, proc=sh)
    assert out.data == b"x" and err.data == b"" and later.text == "é"
    later.clear()
    assert later.data == b""


def test_attach_refuses_a_process_with_descriptors(k):
    con = Console(Capture(), Capture())
    sh = k.proc_create("sh", k.initproc)
    k.run(con.attach, proc=sh)
    with pytest.raises(OSError, match="console: descriptor 0 is taken"):
        k.run(con.attach, proc=sh)


def test_commands_run_in_processes_that_go_away(m):
    procs = set(m.k.procs)

    async def nfiles():
        return len(filelist())

    files = m.k.run(nfiles)
    for line in ["echo x > /tmp/f", "cat /tmp/f", "ls /nonexistent", "frob", "cd /tmp",
                 "dd if=/tmp/f of=/tmp/g", "umask > /tmp/u", "cd / 5> /tmp/five"]:
        m.sh(line)
    assert set(m.k.procs) == procs
    assert m.k.run(nfiles) == files


def test_command_registry_and_internal_errors(m):
    calls = []

    @cmds.command("kemutest", "kemutest2")
    async def main(argv):
        calls.append(argv)
        if argv[1:] == ["boom"]:
            raise RuntimeError("oops")
        if argv[1:] == ["enoent"]:
            await libc.stat("/none")
        if argv[1:] == ["warn"]:
            await warn("thing", kern.ENOENT)
            return 3
        await printf(f"{argv[0]} ran\n")
        return None

    try:
        assert m.sh("kemutest a b").out == "kemutest ran\n"
        assert m.sh("kemutest2").out == "kemutest2 ran\n"
        r = m.sh("kemutest boom")
        assert (r.status, r.err) == (70, "kemutest: internal error: RuntimeError: oops\n")
        r = m.sh("kemutest enoent")
        assert (r.status, r.err) == (1, "kemutest: No such file or directory\n")
        r = m.sh("kemutest warn")
        assert (r.status, r.err) == (3, "kemutest: thing: No such file or directory\n")
        assert calls[0] == ["kemutest", "a", "b"]
    finally:
        cmds.commands.pop("kemutest", None)
        cmds.commands.pop("kemutest2", None)
    assert cmds.lookup("kemutest") is None
    assert "fssconfig" in cmds.names() and "ls" in cmds.names()
    assert cmds.lookup("no-such") is None


def test_getopt():
    assert getopt(["p", "-ab", "-c", "x", "y"], "abc:") == ([("a", ""), ("b", ""), ("c", "x")],
                                                           ["y"])
    assert getopt(["p", "-cval", "--", "-a"], "ac:") == ([("c", "val")], ["-a"])
    assert getopt(["p", "-", "-a"], "a") == ([], ["-", "-a"])
    with pytest.raises(GetoptError) as ei:
        getopt(["ls", "-q"], "a")
    assert ei.value.msg == "ls: unknown option -- q"
    with pytest.raises(GetoptError) as ei:
        getopt(["dd", "-c"], "c:")
    assert ei.value.msg == "dd: option requires an argument -- c"


def test_closed_stdout_is_reported(m):
    r = m.sh("echo hi 1< /dev/rwd0")     # descriptor 1 read-only: write(2) fails
    assert r.status == 1 and r.err == f"echo: stdout: {kern.strerror(EBADF)}\n"
