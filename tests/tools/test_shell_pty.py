"""kemu shell and kemu run in a pseudo-terminal (pexpect): what a user at a terminal
gets.  Line editing and history (the Up arrow), Tab completion of commands and of
paths in the machine, help, pipelines, lists, globs and $?, Ctrl-C that reaches the
foreground command (status 130, the prompt back, the image e2fsck-clean after
exit), and Ctrl-C at the prompt.

Every step waits for what the program prints (pexpect's expect), never for a
delay; the timeouts are generous for a loaded machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

pexpect = pytest.importorskip("pexpect")

PROMPT = "kemu# "
TIMEOUT = 120

E2FSCK = shutil.which("e2fsck") or next(
    (p for p in ("/sbin/e2fsck", "/usr/sbin/e2fsck") if os.path.exists(p)), None)
needs_e2fsck = pytest.mark.skipif(E2FSCK is None, reason="e2fsprogs (e2fsck) not installed")


def spawn(tmp_path, *args: str):
    inputrc = tmp_path / "inputrc"
    inputrc.write_text("set enable-bracketed-paste off\n")
    env = dict(os.environ, TERM="vt100", INPUTRC=str(inputrc), PYTHONUNBUFFERED="1")
    env.pop("KEMU_HISTFILE", None)
    child = pexpect.spawn(sys.executable, ["-m", "tools.kemu", *args], env=env,
                          cwd=str(tmp_path), encoding="utf-8", timeout=TIMEOUT,
                          dimensions=(40, 200))
    return child


def prompt(child) -> None:
    child.expect_exact(PROMPT)


def run(child, line: str, *expect: str) -> None:
    """Type ``line``, wait for each of ``expect`` in order, then for the prompt."""
    child.sendline(line)
    for text in expect:
        child.expect_exact(text)
    prompt(child)


def finish(child, status: int = 0) -> None:
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == status, child.before


def test_pipeline_list_glob_and_status(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    run(child, "mkdir /d; touch /d/a1 /d/a2 /d/b; echo /d/a* | cat", "/d/a1 /d/a2\r\n")
    run(child, "false; echo status=$?", "status=1\r\n")
    run(child, "x=val && echo \"got $x\" || echo never", "got val\r\n")
    run(child, "for f in /d/?1; do echo item $f; done", "item /d/a1\r\n")
    finish(child)


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
    child.sendintr()
    prompt(child)
    run(child, "echo fresh", "fresh\r\n")
    assert "half-typed\r\n" not in child.before
    finish(child)


def test_no_traceback_on_ctrl_d(tmp_path):
    child = spawn(tmp_path, "shell")
    prompt(child)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in child.before


def _fsck(img) -> None:
    r = subprocess.run([E2FSCK, "-fn", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# Slow enough (4 KiB writes) that Ctrl-C comes long before the 32 MB disk is full.
LONG_DD = "dd if=/dev/zero of=/mnt/big bs=4k count=1000000 progress=16"
DD_SUMMARY = (r"\r\n(\d+)\+0 records in\r\n(\d+)\+0 records out\r\n"
              r"(\d+) bytes transferred in \d+\.\d{3} secs \(\d+ bytes/sec\)\r\n")


@needs_e2fsck
def test_ctrl_c_stops_a_long_dd_with_status_130(tmp_path):
    img = tmp_path / "disk.img"
    child = spawn(tmp_path, "shell", "-d", f"key=/dev/wd0,hostpath={img},size=32m")
    prompt(child)
    run(child, "newfs_ext2fs /dev/rwd0 > /newfs.out && mount /dev/wd0 /mnt && echo mounted",
        "mounted\r\n")
    child.sendline(LONG_DD)
    child.expect_exact("...")           # dd is copying: three blocks written
    child.sendintr()
    # dd's SIGINT handler prints the summary, then dd dies of the signal.
    child.expect(DD_SUMMARY)
    prompt(child)
    assert "Input/output error" not in child.before
    assert "Traceback" not in child.before
    run(child, "echo status=$?", "status=130\r\n")
    run(child, "ls /mnt", "big\r\n")    # the machine goes on; the file is there
    finish(child)
    _fsck(img)


@needs_e2fsck
def test_ctrl_c_stops_kemu_run_and_halts_cleanly(tmp_path):
    img = tmp_path / "disk.img"
    script = tmp_path / "long.sh"
    script.write_text(f"newfs_ext2fs /dev/rwd0 > /newfs.out\nmount /dev/wd0 /mnt\n"
                      f"{LONG_DD}\necho never-reached\n")
    child = spawn(tmp_path, "run", "-v", "-d", f"key=/dev/wd0,hostpath={img},size=32m",
                  str(script))
    # kemu run shows a command's standard error when it ends (dd's dots too): the
    # trace line says dd is starting.
    child.expect_exact(f"+ {LONG_DD}")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130, child.before
    assert "never-reached" not in child.before
    assert "Traceback" not in child.before
    _fsck(img)
