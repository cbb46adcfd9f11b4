"""kemu shell and kemu run in a pseudo-terminal (pexpect): what a user at a terminal
gets.  Line editing and history (the Up arrow), Tab completion of commands and of
paths in the machine, help, pipelines, lists, globs and $?, Ctrl-C that reaches the
foreground command (status 130, the prompt back, the image e2fsck-clean after
exit), and Ctrl-C at the prompt.

Every step waits for what the program prints (pexpect's expect), never for a
delay; the timeouts are generous for a loaded machine.  pexpect's own fixed
sleeps are off too (spawn, ended): 50 ms before each send (for programs that
read a password only after turning echo off; ours are waited for by their
prompt, drawn after readline has set the terminal up) and 100 ms at close (for
a child still exiting: ours is reaped first), ~0.4 s of every test's wall time.
"""

from __future__ import annotations

import array
import ctypes
import fcntl
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import termios
import time

import pexpect
import pytest

from tests.host_procs import host_processes

PROMPT = "kemu# "
TIMEOUT = 120

E2FSCK = shutil.which("e2fsck") or next(
    (p for p in ("/sbin/e2fsck", "/usr/sbin/e2fsck") if os.path.exists(p)), None)
DEBUGFS = shutil.which("debugfs") or next(
    (p for p in ("/sbin/debugfs", "/usr/sbin/debugfs") if os.path.exists(p)), None)
needs_e2fsck = pytest.mark.skipif(E2FSCK is None or DEBUGFS is None,
                                  reason="e2fsprogs (e2fsck, debugfs) not installed")


def terminal_signals() -> None:
    """In the child before exec: SIGINT at its default, as a terminal's session
    starts a shell with it; a runner started with SIGINT ignored (``cmd &`` in a
    script, ``nohup``) would pass that on, and the shell (rightly) keeps an
    ignored SIGINT ignored: every Ctrl-C test would wait out its timeout."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(tmp_path, *args: str):
    inputrc = tmp_path / "inputrc"
    inputrc.write_text("set enable-bracketed-paste off\n")
    env = dict(os.environ, TERM="vt100", INPUTRC=str(inputrc), PYTHONUNBUFFERED="1")
    env.pop("KEMU_HISTFILE", None)
    child = pexpect.spawn(sys.executable, ["-m", "tools.kemu", *args], env=env,
                          cwd=str(tmp_path), encoding="utf-8", timeout=TIMEOUT,
                          dimensions=(40, 200), preexec_fn=terminal_signals)
    child.logfile_read = io.StringIO()  # the whole session, for lines() below
    child.delaybeforesend = None
    return child


def lines(child) -> list[str]:
    """Every line the session showed so far (as the terminal got them)."""
    return child.logfile_read.getvalue().split("\r\n")


def prompt(child) -> None:
    child.expect_exact(PROMPT)


def run(child, line: str, *expect: str) -> None:
    """Type ``line``, wait for each of ``expect`` in order, then for the prompt."""
    child.sendline(line)
    for text in expect:
        child.expect_exact(text)
    prompt(child)


def ended(child, timeout: float = -1) -> None:
    """Wait for the end of the session (EOF), then for the process itself, and
    close: pexpect's close() sleeps 0.1 s first, then kills a child still
    alive, which ours is not once reaped."""
    child.expect(pexpect.EOF, timeout=timeout)
    child.wait()
    child.ptyproc.delayafterclose = 0
    child.close()


def finish(child, status: int = 0) -> None:
    child.sendline("exit")
    ended(child)
    assert child.exitstatus == status, child.before


def test_pipeline_list_glob_and_status(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "mkdir /d; touch /d/a1 /d/a2 /d/b; echo /d/a* | cat", "/d/a1 /d/a2\r\n")
    run(child, "false; echo status=$?", "status=1\r\n")
    run(child, "x=val && echo \"got $x\" || echo never", "got val\r\n")
    run(child, "for f in /d/?1; do echo item $f; done", "item /d/a1\r\n")
    # PS1 is read for every prompt, as sh's getprompt does.
    child.sendline("PS1='sh$ '; echo set")
    child.expect_exact("set\r\n")
    assert child.expect_exact(["sh$ ", PROMPT]) == 0
    finish(child)


def test_unset_ps1_gives_an_empty_prompt(tmp_path):
    # NetBSD's sh: PS1 and PS2 are fixed variables; unset empties them (var.c's
    # unsetvar) and getprompt prints ps1val(), the empty string, not a default.
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "echo ${PS1-none}", "kemu#\r\n")
    child.sendline("unset PS1 PS2; echo ps1=${PS1-none}")
    child.expect_exact("ps1=none\r\n")
    child.sendline("echo 'two")           # goes on: an empty PS2 too
    child.sendline("lines'")
    child.expect_exact("two\r\nlines\r\n")
    child.sendline("PS1='back$ '")
    child.expect_exact("back$ ")
    finish(child)
    shown = lines(child)
    # After the unset, each line typed starts at the left edge: no prompt before it.
    assert "echo 'two" in shown and "lines'" in shown
    assert "PS1='back$ '" in shown
    assert not any(ln.endswith(PROMPT) for ln in shown[shown.index("ps1=none"):])


def test_history_recall_with_the_up_arrow(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "echo recalled-line", "recalled-line\r\n")
    run(child, "echo something-else", "something-else\r\n")
    child.send("\x1b[A\x1b[A")          # Up twice: back to "echo recalled-line"
    child.send("\r")
    child.expect_exact("recalled-line\r\n")
    prompt(child)
    finish(child)
    # That match may be the recalled line's own echo: the command must also have
    # run, its output a line of its own, as the first time.
    assert lines(child).count("recalled-line") == 2


def test_tab_completes_commands_and_machine_paths(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "mkdir -p /deep/dir; echo contents-of-unique > /deep/dir/unique.txt")
    child.send("newfs_ext\t")           # a command name
    child.expect_exact("newfs_ext2fs ")
    child.send("\x15")                  # Ctrl-U: drop the line
    child.send("cat /dee\t")            # a directory: completed with its "/"
    child.expect_exact("/deep/")
    child.send("dir/uni\t")             # a file: completed with a space after it
    child.expect_exact("unique.txt ")
    child.send("\r")
    child.expect_exact("contents-of-unique\r\n")
    prompt(child)
    finish(child)


def test_help_lists_the_commands(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    child.sendline("help")
    child.expect(r"cd +change the working directory \(shell builtin\)")
    child.expect(r"ls +list directory contents")
    prompt(child)
    finish(child)


def test_ctrl_c_at_the_prompt_clears_the_line(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    child.send("echo half-typed")
    # As a user would: Ctrl-C once the line shows (readline may still be busy
    # with the last key: see the next test).
    child.expect_exact("echo half-typed")
    child.sendintr()
    prompt(child)
    run(child, "echo fresh", "fresh\r\n")
    finish(child)
    # The half-typed line never ran, and did not stay in front of the next one
    # ("echo half-typedecho fresh" would show "half-typedecho fresh").
    shown = lines(child)
    assert "half-typed" not in shown and "fresh" in shown
    assert not any("half-typedecho" in ln for ln in shown)


def test_ctrl_c_while_readline_handles_a_paste(tmp_path):
    # Ctrl-C as soon as a long pasted line starts to show: readline is still
    # inserting and redrawing it, not waiting for input, when the SIGINT lands
    # (the shell drops the rest of the paste).  CPython's readline takes a
    # signal only when its select() is interrupted; without the shell's waker
    # (tools/shell.py, _InterruptWaker) the prompt came back only at the next
    # keystroke in about half of these rounds, and the test hung.  (A discard of
    # the paste by the terminal itself could also leave readline waiting in its
    # read of a key: about one run in twenty hung that way before NOFLSH.)
    child = spawn(tmp_path, "shell")
    prompt(child)
    for n in range(8):
        child.send(f"echo paste{n}-" + "x" * 3000)
        child.expect_exact(f"echo paste{n}-xx")
        child.sendintr()
        child.expect_exact("\r\n" + PROMPT)       # the line dropped, a fresh prompt
    child.sendline("echo fresh")
    child.expect_exact("\r\nfresh\r\n")           # the command's output, not its echo
    prompt(child)
    finish(child)
    # No pasted line ran, and none stayed in front of the next one.
    shown = lines(child)
    assert not any(ln.startswith("paste") for ln in shown)
    assert "kemu# echo fresh" in shown and "fresh" in shown


def _host_children(pid: int) -> list[int]:
    return [p for p, ppid in host_processes().items() if ppid == pid]


def _queued_on_sockets(pid: int) -> int:
    """Bytes waiting unread on host process ``pid``'s sockets (pidfd_getfd(2) to
    get them, FIONREAD to count)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        total = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    continue
            except OSError:
                continue
            mine = libc.syscall(438, pidfd, int(fd), 0)      # SYS_pidfd_getfd
            if mine < 0:
                pytest.skip(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
            try:
                buf = array.array("i", [0])
                fcntl.ioctl(mine, termios.FIONREAD, buf)
                total += buf[0]
            finally:
                os.close(mine)
        return total
    finally:
        os.close(pidfd)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd_getfd is Linux's")
def test_ctrl_c_during_tab_completion_drops_the_line(tmp_path):
    # Tab in a directory of a puffs file system whose server (a host process:
    # -o remote) is stopped: the completer waits on the machine for a READDIR
    # that is never answered.  The Ctrl-C must end that wait and drop the line,
    # as a Ctrl-C at the prompt does.  CPython's readline throws away what the
    # completer raises: the Ctrl-C was lost and the line stayed, the prompt
    # never came back (tools/shell.py, _InterruptWaker.completing).
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "mkdir /m && mount -t memfs -o remote memfs /m && touch /m/aa /m/ab "
        "&& echo mounted", "mounted\r\n")
    (forkserver,) = _host_children(child.pid)
    (server,) = _host_children(forkserver)
    os.kill(server, signal.SIGSTOP)
    try:
        assert _queued_on_sockets(server) == 0
        child.send("ls /m/a\t")
        # The completion is under way once its request waits at the server.
        while _queued_on_sockets(server) == 0:
            assert child.isalive()
            time.sleep(0.01)
        child.sendintr()
        child.expect_exact("\r\n" + PROMPT)       # the line dropped, a fresh prompt
    finally:
        os.kill(server, signal.SIGCONT)
    run(child, "echo fresh", "\r\nfresh\r\n")
    run(child, "ls /m", "aa\r\n", "ab\r\n")     # the server answers again
    run(child, "umount /m && echo unmounted", "unmounted\r\n")
    finish(child)
    shown = lines(child)
    assert "kemu# echo fresh" in shown
    assert not any("ls /m/aecho" in ln for ln in shown)


def test_no_traceback_on_ctrl_d(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    child.sendeof()
    ended(child)
    assert child.exitstatus == 0
    assert "Traceback" not in child.before


def _fsck(img) -> None:
    r = subprocess.run([E2FSCK, "-fn", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# 192 MiB from the disk into a file on it: a minute or more of copying, so dd is
# still running when the Ctrl-C lands (it prints a dot per 64k block as it goes).
DISK = "size=256m"
LONG_DD = "dd if=/dev/rwd0 of=/mnt/big bs=64k count=3072 progress=1"
DD_SIZE = 3072 * 65536


def _mount(child) -> None:
    run(child, "newfs_ext2fs /dev/rwd0 > /newfs.out && mount /dev/wd0 /mnt && echo mounted",
        "mounted\r\n")
DD_SUMMARY = (r"\r\n(\d+)\+0 records in\r\n(\d+)\+0 records out\r\n"
              r"(\d+) bytes transferred in \d+\.\d{3} secs \(\d+ bytes/sec\)\r\n")


@needs_e2fsck
def test_ctrl_c_stops_a_long_dd_with_status_130(tmp_path):
    img = tmp_path / "disk.img"
    child = spawn(tmp_path, "shell", "-d", f"key=/dev/wd0,hostpath={img},{DISK}")
    prompt(child)
    _mount(child)
    child.sendline(LONG_DD)
    child.expect_exact("...")           # dd is copying: three blocks written
    child.sendintr()
    # dd's SIGINT handler prints the summary, then dd dies of the signal.
    child.expect(DD_SUMMARY)
    prompt(child)
    said = child.before
    assert "Input/output error" not in said and "No space" not in said
    assert "Traceback" not in said
    run(child, "echo status=$?", "status=130\r\n")
    # The machine goes on; the file is there, shorter than dd was asked for.
    child.sendline("wc -c < /mnt/big")
    child.expect(r"\r\n *(\d+)\r\n")
    assert 3 * 65536 <= int(child.match.group(1)) < DD_SIZE
    prompt(child)
    finish(child)
    _fsck(img)


@needs_e2fsck
def test_ctrl_c_stops_kemu_run_and_halts_cleanly(tmp_path):
    img = tmp_path / "disk.img"
    script = tmp_path / "long.sh"
    script.write_text(f"newfs_ext2fs /dev/rwd0 > /newfs.out\nmount /dev/wd0 /mnt\n"
                      f"{LONG_DD}\necho never-reached\n")
    child = spawn(tmp_path, "run", "-d", f"key=/dev/wd0,hostpath={img},{DISK}", str(script))
    child.expect_exact("kemu: line 3: ...")    # dd's progress, as it comes
    child.sendintr()
    ended(child)
    assert child.exitstatus == 130, child.before
    said = child.before
    assert "never-reached" not in said and "No space" not in said
    assert "Traceback" not in said
    _fsck(img)
    # The file dd was writing is in the image, shorter than asked: dd was stopped.
    r = subprocess.run([DEBUGFS, "-R", "stat /big", str(img)], capture_output=True, text=True)
    size = int(r.stdout.split("Size: ")[1].split()[0])
    assert 3 * 65536 <= size < DD_SIZE, r.stdout


@needs_e2fsck
def test_exit_with_a_computing_background_job_ends_the_session(tmp_path):
    """``exit`` while a background job computes on (``dd ... &``) ends kemu at
    once, as NetBSD's sh does not wait for background jobs; the halt still
    syncs: the image is e2fsck-clean, with what was written before and the
    blocks dd had completed.  (It used to wait for the machine to be quiescent,
    which the dd put off: kemu hung until a second Ctrl-C, then exited 130.)"""
    img = tmp_path / "disk.img"
    child = spawn(tmp_path, "shell", "-d", f"key=/dev/wd0,hostpath={img},{DISK}")
    prompt(child)
    _mount(child)
    run(child, "echo kept > /mnt/file && echo written", "written\r\n")
    # The background dd computes without sleeping: the host waits for
    # quiescence after the line, and a Ctrl-C gives the prompt back (README.md,
    # "The kemu shell"), leaving the dd running.
    child.sendline(f"{LONG_DD} &")
    child.expect_exact("...")
    child.sendintr()
    prompt(child)
    child.sendline("exit 3")
    ended(child, timeout=60)
    said = child.before
    assert child.exitstatus == 3, said
    assert "Traceback" not in said
    _fsck(img)
    r = subprocess.run([DEBUGFS, "-R", "cat /file", str(img)], capture_output=True, text=True)
    assert r.stdout == "kept\n", r.stderr
    r = subprocess.run([DEBUGFS, "-R", "stat /big", str(img)], capture_output=True, text=True)
    size = int(r.stdout.split("Size: ")[1].split()[0])
    assert 3 * 65536 <= size < DD_SIZE and size % 65536 == 0, r.stdout


def test_a_background_job_writing_on_never_tears_the_prompt(tmp_path):
    """The prompt reaches the terminal in one write, as NetBSD's sh gives it
    (libedit flushes its output once per redraw): a background job's output
    comes before or after it, never inside.  readline draws through C's
    stdout, which ``python -u`` (PYTHONUNBUFFERED, set here as in many
    containers) leaves unbuffered: it wrote the prompt a byte at a time, and
    a dot of the job between two bytes ("k.emu# ") kept the exit test above
    waiting for a prompt that had come (it hung once in a loaded run).  A
    long PS1 gives the job's dots many places to land: unbuffered, 4 to 26
    of the 30 prompts were torn in each of ten runs."""
    child = spawn(tmp_path, "shell")
    # pexpect's 50 ms before each key, kept here: it gives the job time to
    # write between two prompts.  Without it, the unbuffered prompt of the
    # defect passed this test in each of three runs; with it, 1 to 6 of 30 were torn.
    child.delaybeforesend = 0.05
    prompt(child)
    ps1 = "p" * 150 + "# "
    child.sendline(f"PS1='{ps1}'")
    child.expect_exact("\r\n" + ps1)
    # A dot on standard error for every byte copied: a write every few system calls.
    child.sendline("dd if=/dev/zero of=/dev/null bs=1 count=100000000 progress=1 &")
    child.expect_exact("...")
    child.sendintr()                    # the prompt back, the job left running
    # The prompt with any number of the job's dots in it.
    with_dots = r"\.*".join(re.escape(c) for c in ps1)
    shown = []
    for _ in range(30):
        child.expect(with_dots)
        shown.append(child.match.group(0))
        child.send("\r")
    child.expect(with_dots)
    child.sendline("exit 3")
    ended(child)
    assert child.exitstatus == 3, child.before
    torn = [s for s in shown if s != ps1]
    assert not torn, f"{len(torn)} of {len(shown)} prompts torn: {torn[0]!r}"
