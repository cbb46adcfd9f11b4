"""The kemu command end to end: kemu run/shell/demo, drive specs, error reporting."""

from __future__ import annotations

import os

import pytest

from tests.pytest_child import NO_HYPOTHESIS
from tests.tools.conftest import kemu_main, run_script
from tools import cmds
from tools.kemu import Drive, DriveSpecError, boot_machine, parse_drivespec


def test_script_runs_every_line_and_exits_0(tmp_path):
    r = run_script(tmp_path, """
# comments and blank lines are skipped

echo hello   world   # a trailing comment
mkdir -p /tmp/a/b
echo 'quoted  words' "and \\"escapes\\"" > /tmp/a/f
cat /tmp/a/f
""")
    assert r.status == 0, r
    assert r.out == "hello world\nquoted  words and \"escapes\"\n"
    assert r.err == ""


@pytest.mark.parametrize("text, out, err", [
    # blank and comment lines count: the failing mkdir is line 4
    ("echo one\n\n# two\nmkdir /tmp\necho never\n", "one\n",
     "kemu: line 4: mkdir: /tmp: File exists\n"),
    ("mount -t rootfs rootfs /mnt\numount /\n", "", "kemu: line 2: umount: /: Device busy\n"),
], ids=["exists", "busy"])
def test_script_stops_at_first_failure_naming_the_line(tmp_path, text, out, err):
    r = run_script(tmp_path, text)
    assert (r.status, r.out, r.err) == (1, out, err)


def test_not_found_syntax_error_and_silent_failure(tmp_path):
    assert run_script(tmp_path, "nosuchcmd x\n").err == "kemu: line 1: nosuchcmd: not found\n"
    r = run_script(tmp_path, "true\necho 'open\n")
    assert (r.status, r.err) == (1, "kemu: line 2: Syntax error: Unterminated quoted string\n")
    r = run_script(tmp_path, "false\n")
    assert (r.status, r.err) == (1, "kemu: line 1: false: exit status 1\n")
    r = run_script(tmp_path, "echo > \n")
    assert r.err == "kemu: line 1: Syntax error: newline unexpected\n"


def test_exit_builtin_ends_the_script_with_its_status(tmp_path):
    r = run_script(tmp_path, "echo a\nexit 3\necho b\n")
    assert (r.status, r.out) == (3, "a\n")


def test_successful_commands_keep_their_stderr_labelled_with_the_line(tmp_path):
    r = run_script(tmp_path, "dd if=/dev/nosuch of=/tmp/z count=1\n")
    # dd fails before its summary is armed.
    assert r.err == "kemu: line 1: dd: /dev/nosuch: No such file or directory\n"
    r = run_script(tmp_path, "echo x > /tmp/x\ndd if=/tmp/x of=/tmp/y\n")
    assert r.status == 0
    assert r.err.startswith("kemu: line 2: 0+1 records in\nkemu: line 2: 0+1 records out\n"
                            "kemu: line 2: 2 bytes transferred in ")


def test_verbose_traces_commands(tmp_path):
    r = run_script(tmp_path, "echo hi\n", "-v")
    assert r.status == 0
    assert "+ echo hi\n" in r.err
    assert "hi\n" in r.out
    # the kernel's messages are echoed on the same output as the commands'
    assert "root file system type: rootfs\n" in r.out


def test_missing_script_and_bad_arguments(tmp_path):
    r = kemu_main("run", str(tmp_path / "nope.sh"))
    assert r.status == 1
    assert r.err == f"kemu: {tmp_path / 'nope.sh'}: No such file or directory\n"
    r = kemu_main("run", "--seed", "x", "s")
    assert r.status == 2 and "invalid int value" in r.err
    r = kemu_main()
    assert r.status == 1 and r.err.startswith("usage: kemu")


def test_script_from_stdin_and_seed(tmp_path):
    r = kemu_main("run", "--seed", "42", "-", stdin="echo from stdin\n")
    assert (r.status, r.out) == (0, "from stdin\n")


def test_interactive_shell_continues_after_errors():
    """Input that is not a terminal gets no prompts (nor a newline at the end)."""
    r = kemu_main("shell", stdin="echo hi\nnosuch\nmkdir /tmp\ncd /tmp\npwd\nexit 4\necho no\n")
    assert r.status == 4
    assert r.out == "hi\n/tmp\n"
    assert r.err == "nosuch: not found\nmkdir: /tmp: File exists\n"
    r = kemu_main("shell", stdin="false\n")
    assert r.status == 1 and r.out == ""


def test_default_disk_is_a_64m_memory_disk(tmp_path):
    r = run_script(tmp_path, "ls -l /dev/wd0 /dev/rwd0\n"
                             "dd if=/dev/rwd0 of=/tmp/x bs=1m skip=63 count=2\n")
    assert r.status == 0, r
    lines = r.out.splitlines()
    assert lines[0].startswith("crw-r-----  1 root  wheel  24, 3 ") and \
        lines[0].endswith(" /dev/rwd0")
    assert lines[1].startswith("brw-r-----  1 root  wheel  17, 3 ") and \
        lines[1].endswith(" /dev/wd0")
    # The 64th megabyte is the last one: the second block is end of file.
    assert r.err.startswith("kemu: line 2: 1+0 records in\nkemu: line 2: 1+0 records out\n"
                            "kemu: line 2: 1048576 bytes transferred")


# ------------------------------------------------------------------ fault plans

def test_run_with_a_fault_plan(tmp_path):
    """``kemu run --faults PLAN`` arms the plan in the script's machine from boot:
    here every write to wd0 fails, so newfs cannot format it; wd0 is left alone
    without the option."""
    script = "newfs_ext2fs /dev/rwd0\necho formatted\n"
    r = run_script(tmp_path, script, "--faults", "disk.write:dev=wd0:error=EIO")
    assert r.status == 1
    assert r.err == "kemu: line 1: newfs_ext2fs: /dev/rwd0: Input/output error\n"
    assert "formatted" not in r.out
    assert run_script(tmp_path, script).out.endswith("formatted\n")
    # the shell takes it too: a fault on another disk never fires
    r = kemu_main("shell", "--faults", "disk.write:dev=wd1:error=EIO",
                  stdin="newfs_ext2fs /dev/rwd0 > /dev/null\n")
    assert (r.status, r.err) == (0, "")


def test_a_bad_fault_plan_is_a_usage_error(tmp_path):
    r = run_script(tmp_path, "echo never\n", "--faults", "disk.wirte:error=EIO")
    assert r.status == 2
    assert "kemu run: error: argument --faults: unknown fault site 'disk.wirte' " \
           "(did you mean disk.write" in r.err
    r = kemu_main("shell", "--faults", "disk.write:nth=0")
    assert r.status == 2 and "disk.write: nth must be >= 1" in r.err


# ------------------------------------------------------------------ drive specs

def test_parse_drivespec():
    d = parse_drivespec("key=/dev/wd0,hostpath=disk.img,size=host")
    assert d == Drive("/dev/wd0", "disk.img", None, 0, "blk")
    assert d.raw_key == "/dev/rwd0"
    d = parse_drivespec("key=/dev/wd1,hostpath=x,size=2x4m,offset=1k,type=chr")
    assert d == Drive("/dev/wd1", "x", 8 << 20, 1024, "chr") and d.raw_key is None
    for spec, msg in [("key=/a,hostpath=x", "incomplete drivespec: size= missing"),
                      ("hostpath=x,size=1m", "incomplete drivespec: key= missing"),
                      ("size=1m", "incomplete drivespec: key=, hostpath= missing"),
                      ("key=/a,key=/b,hostpath=x,size=1m", "key already given"),
                      ("key=/a,hostpath=x,size=1m,type=foo",
                       "invalid type foo (blk, chr or reg)"),
                      ("key=/a,hostpath=x,size=1m,colour=red",
                       'invalid dtoken "colour=red": no key "colour" '
                       "(key, hostpath, size, offset, type)"),
                      ("key=/a,hostpath=x,size", 'invalid dtoken "size" (expected name=value)'),
                      ("garbage", 'invalid dtoken "garbage" (expected name=value)'),
                      ("key=/a,hostpath=x,size=0", "size=0: a drive needs a size (a number, "
                                                   "or host)"),
                      ("key=/a,hostpath=x,size=12q", "-d size `12q': illegal number")]:
        with pytest.raises(DriveSpecError) as ei:
            parse_drivespec(spec)
        assert str(ei.value) == msg


def test_drive_with_size_creates_the_host_file(tmp_path):
    img = tmp_path / "disk.img"
    r = run_script(tmp_path, "echo hello > /tmp/h\ndd if=/tmp/h of=/dev/rwd0 conv=sync\n"
                             "ls -l /dev/wd0\n",
                   "-d", f"key=/dev/wd0,hostpath={img},size=1m")
    assert r.status == 0, r
    assert img.stat().st_size == 1 << 20
    assert img.read_bytes()[:6] == b"hello\n"
    assert r.out.startswith("brwxr-xr-x  1 root  wheel  197, 0 ")


def test_drive_size_host_uses_the_host_file_and_extends_never(tmp_path):
    img = tmp_path / "d.img"
    img.write_bytes(b"A" * 4096)
    r = run_script(tmp_path, "dd if=/dev/rwd0 of=/tmp/c\ncat /tmp/c\n",
                   "-d", f"key=/dev/wd0,hostpath={img},size=host")
    assert r.status == 0, r
    assert r.out == "A" * 4096
    assert r.err.startswith("kemu: line 1: 8+0 records in\nkemu: line 1: 8+0 records out\n"
                            "kemu: line 1: 4096 bytes")
    # A bigger size extends the host file; its old contents stay.
    r = run_script(tmp_path, "true\n", "-d", f"key=/dev/wd0,hostpath={img},size=8k")
    assert r.status == 0 and img.stat().st_size == 8192 and img.read_bytes()[:4] == b"AAAA"


def test_chr_drive_has_no_block_twin(tmp_path):
    img = tmp_path / "c.img"
    r = run_script(tmp_path, "ls /dev/xd0\nls /dev/rxd0\n",
                   "-d", f"key=/dev/xd0,hostpath={img},size=64k,type=chr")
    assert r.status == 1
    assert r.out == "/dev/xd0\n"
    assert r.err == "kemu: line 2: ls: /dev/rxd0: No such file or directory\n"


def test_bad_drive_specs_give_messages(tmp_path):
    r = run_script(tmp_path, "true\n", "-d", "key=/dev/wd0,hostpath=x")
    assert r.status == 1
    assert r.err.startswith("kemu: -d key=/dev/wd0,hostpath=x: incomplete drivespec: size= "
                            "missing\nusage: kemu")
    for spec, said in (("key=,hostpath=x,size=1m", "key= is empty (expected key=/dev/wd0)"),
                       ("key=/dev/wd0,hostpath=,size=1m", "hostpath= is empty (expected "
                                                          "hostpath=FILE)"),
                       ("key=/dev/wd0,hostpath=x,size=", "size= is empty (expected "
                                                         "size=host|N)")):
        r = run_script(tmp_path, "true\n", "-d", spec)
        assert r.status == 1
        assert r.err.startswith(f"kemu: -d {spec}: {said}\nusage: kemu")
    r = run_script(tmp_path, "true\n", "-d", "garbage")
    assert r.err.startswith('kemu: -d garbage: invalid dtoken "garbage" (expected '
                            'name=value)\n')
    r = run_script(tmp_path, "true\n", "-d", f"key=/dev/wd0,hostpath={tmp_path},size=1m")
    assert r.status == 1
    assert r.err == f"kemu: -d /dev/wd0: hostpath {tmp_path}: Is a directory\n"
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    r = run_script(tmp_path, "true\n", "-d", f"key=/dev/wd0,hostpath={empty},size=host")
    assert r.status == 1
    assert r.err == f"kemu: -d /dev/wd0: hostpath {empty}: size=host, but the host file is " \
                    "empty\n"


def test_size_host_of_a_missing_file_creates_nothing(tmp_path):
    img = tmp_path / "missing.img"
    r = run_script(tmp_path, "true\n", "-d", f"key=/dev/wd0,hostpath={img},size=host")
    assert r.status == 1
    assert r.err == (f"kemu: -d /dev/wd0: hostpath {img}: No such file or directory "
                     "(size=host takes the size of an existing file)\n")
    assert not img.exists()


def test_a_size_too_big_to_create_leaves_nothing(tmp_path):
    img = tmp_path / "huge.img"
    r = run_script(tmp_path, "true\n", "-d",
                   f"key=/dev/wd0,hostpath={img},size=8000000t,offset=8000000t")
    assert r.status == 1
    assert r.err.startswith(f"kemu: -d /dev/wd0: hostpath {img}: cannot make it ")
    assert not img.exists()


def test_a_failed_drive_through_a_dangling_symlink_leaves_nothing(tmp_path):
    """hostpath is a symbolic link to a file that does not exist: O_CREAT made the
    target, and the failed -d removes it again (the link stays, as it was)."""
    link, target = tmp_path / "link.img", tmp_path / "target.img"
    link.symlink_to(target)
    r = run_script(tmp_path, "true\n", "-d",
                   f"key=/dev/wd0,hostpath={link},size=8000000t,offset=8000000t")
    assert r.status == 1
    assert r.err.startswith(f"kemu: -d /dev/wd0: hostpath {link}: cannot make it ")
    assert not target.exists() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.img", "script.sh"]


def test_a_failed_drive_leaves_the_host_untouched(tmp_path):
    """The first -d created one file and extended another; the second -d fails:
    the new file is gone and the old one has its old size again."""
    new, old = tmp_path / "new.img", tmp_path / "old.img"
    old.write_bytes(b"B" * 1000)
    r = run_script(tmp_path, "true\n",
                   "-d", f"key=/dev/wd0,hostpath={new},size=1m",
                   "-d", f"key=/dev/wd1,hostpath={old},size=64k",
                   "-d", f"key=/dev/wd2,hostpath={tmp_path / 'nope'},size=host")
    assert r.status == 1 and "nope: No such file or directory" in r.err
    assert not new.exists()
    assert old.read_bytes() == b"B" * 1000
    # A key the kernel refuses fails after the host files were prepared: undone too.
    r = run_script(tmp_path, "true\n",
                   "-d", f"key=/dev/wd0,hostpath={new},size=1m",
                   "-d", f"key=relative,hostpath={old},size=64k")
    assert r.status == 1 and r.err.startswith("kemu: etfs register: relative: ")
    assert not new.exists() and old.read_bytes() == b"B" * 1000


def test_version_and_help_texts():
    r = kemu_main("--version")
    assert r.status == 0
    assert r.out.startswith("kemu ") and "(native helper: " in r.out
    r = kemu_main("demo", "--help")
    assert r.status == 0
    assert "With -d it WRITES INTO YOUR IMAGE" in r.out
    for sub in ("run", "shell"):
        r = kemu_main(sub, "--help")
        text = " ".join(r.out.split())
        assert r.status == 0 and "Ctrl-C" in text and "size=host uses an existing" in text


def test_help_and_a_usage_error_import_no_machine():
    """``kemu --help``, ``--version`` and a usage error answer without importing
    the shell, the commands or trio (0.19 s of CPU, 0.05 s without), and
    ``--version`` still names the native helper."""
    import subprocess
    import sys

    code = ("import sys\nfrom tools.kemu import main\n"
            "print(main(sys.argv[1:]), sorted(m for m in ('trio', 'tools.shell', "
            "'tools.cmds', 'tools.console') if m in sys.modules))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    said = {}
    for argv, status in ((["--help"], 0), (["--version"], 0), (["run", "--bogus"], 2)):
        r = subprocess.run([sys.executable, "-c", code, *argv], cwd=root,
                           capture_output=True, text=True, timeout=120)
        assert r.stdout.splitlines()[-1] == f"{status} []", (argv, r.stdout, r.stderr)
        said[argv[0]] = r.stdout + r.stderr
    assert said["--version"].startswith("kemu ") and "(native helper: " in said["--version"]
    assert "usage: kemu run" in said["run"] and "{run,shell,demo,explore}" in said["--help"]


@pytest.mark.parametrize("value, words", [
    ("bogus", "KEMU_NATIVE='bogus' is not an implementation"),
    ("cffi", "cannot import the compiled module kern.native._bitops"),
])
@pytest.mark.parametrize("argv", [["demo"], ["run", "--faults", "disk.write:prob=0.5", "-"]],
                         ids=["demo", "faults"])
def test_a_native_helper_that_cannot_load_stops_kemu(value, words, argv):
    """KEMU_NATIVE=bogus, or =cffi without the compiled module: kemu stops before
    booting, with the import error (not a mount failure later); also when
    --faults, parsed with the command line, loads the fault sites (fss among
    them, which imports the helper: it was a traceback)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['kern.native._bitops'] = None\n"
            f"from tools.kemu import main; sys.exit(main({argv!r}))")
    env = dict(os.environ, KEMU_NATIVE=value)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("kemu: kern.native: ") and words in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("code", [
    "import kern; kern.boot(seed=1)",
    "from tools.kemu import boot_machine; boot_machine()",
], ids=["kern.boot", "boot_machine"])
def test_a_native_helper_that_cannot_load_stops_every_boot(code):
    """Not only the CLI: a machine booted from Python stops with the import error,
    not with a mount that fails later (ENOEXEC from the ext2fs module)."""
    import subprocess
    import sys

    env = dict(os.environ, KEMU_NATIVE="bogus")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1
    last = r.stderr.rstrip().splitlines()[-1]
    assert last.startswith("ImportError: kern.native: KEMU_NATIVE='bogus' is not an "
                           "implementation"), r.stderr


def test_a_native_helper_that_cannot_load_stops_the_plugins_machines(pytester, monkeypatch):
    pytester.makepyfile(test_n="def test_boots(kernel):\n    pass\n")
    monkeypatch.setenv("KEMU_NATIVE", "bogus")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", *NO_HYPOTHESIS)
    r.assert_outcomes(errors=1)
    assert "ImportError: kern.native: KEMU_NATIVE='bogus'" in r.stdout.str()


def test_the_fallback_to_the_twin_is_quiet_and_says_why_where_asked():
    """Without the compiled helper (no C compiler at install: its import
    fails), kemu runs on the twin with the script's own output and nothing
    else on standard error; ``kemu --version`` and the machine's dmesg say
    why.  With KEMU_NATIVE=cffi the missing module stops kemu instead."""
    import subprocess
    import sys

    hide = "import sys; sys.modules['kern.native._bitops'] = None\n"
    script = "echo hi\necho oops >&2\ndmesg\n"
    code = (hide + "from tools.kemu import main; sys.exit(main(sys.argv[1:], "
            f"stdin=__import__('io').StringIO({script!r})))")
    env = {k: v for k, v in os.environ.items() if k != "KEMU_NATIVE"}

    def kemu(*argv: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *argv], env=dict(env, **extra),
                              capture_output=True, text=True, timeout=120)

    why = ("kern.native: cannot import the compiled module kern.native._bitops (import of "
           "kern.native._bitops halted; None in sys.modules); reinstall kemu")
    r = kemu("run", "-")
    assert r.returncode == 0 and r.stderr == "kemu: line 2: oops\n", r.stderr
    hi, banner, said = r.stdout.splitlines()[:3]
    assert (hi, banner) == ("hi", "kemu: NetBSD-style kernel emulation, seed 0, config GENERIC")
    assert said.startswith("native helper: running on the pure-Python twin (slower): " + why)
    r = kemu("--version")
    assert r.returncode == 0 and r.stderr == ""
    assert ("(native helper: the pure-Python twin; the compiled helper did not load: "
            + why) in r.stdout
    r = kemu("run", "-", KEMU_NATIVE="cffi")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("kemu: kern.native: cannot import the compiled module"), r.stderr


def test_boot_machine_api_for_other_tools(tmp_path):
    from tools.console import Capture

    out, err = Capture(), Capture()
    img = tmp_path / "a.img"
    with boot_machine([parse_drivespec(f"key=/dev/wd0,hostpath={img},size=256k")], seed=3,
                      stdout=out, stderr=err) as km:
        assert km.sh("ls /dev/rwd0") == 0
        assert km.script("echo a\nfalse\necho b\n") == 1
        assert km.k.seed == 3

        async def pid():
            from tools.lib import libc

            return await libc.getpid()

        assert km.k.run(pid, proc=km.proc) == km.proc.p_pid
    assert out.text == "/dev/rwd0\na\n"
    assert err.text == "kemu: line 2: false: exit status 1\n"
    assert km.k.state == "halted"
    assert os.path.getsize(img) == 256 * 1024


def test_kernel_panic_is_reported_not_raised():
    from tools import cmds
    from tools.console import Capture

    @cmds.command("kemupanic")
    async def main(argv):
        from kern.subr_prf import panic

        panic("kemupanic: %s", "asked for")

    out, err = Capture(), Capture()
    try:
        with boot_machine(seed=1, stdout=out, stderr=err, md_size=None) as km:
            assert km.script("echo before\nkemupanic\necho after\n") == 1
            assert km.k.state == "failed"
    finally:
        cmds.commands.pop("kemupanic", None)
    assert out.text == "before\n"
    first, sched = err.text.splitlines()
    assert first == "kemu: line 2: panic: kemupanic: asked for"
    assert sched.startswith("kemu: schedule random(seed=1): --replay=k1.")
    assert sched.endswith(" reruns it")


# ------------------------------------------------------------------ the shell's own process

def test_a_killed_shell_ends_kemu_run_with_128_plus_the_signal(tmp_path):
    r = run_script(tmp_path, "echo a\nkill -9 $$\necho never\n")
    assert (r.status, r.out) == (128 + 9, "a\n")
    assert r.err == "kemu: the shell (pid 2) ended: Killed\n"
    # Not interactive: SIGTERM takes its default action too.
    r = run_script(tmp_path, "kill $$\necho never\n")
    assert (r.status, r.out, r.err) == (128 + 15, "", "kemu: the shell (pid 2) ended: "
                                                      "Terminated\n")


def test_an_interactive_shell_ignores_sigterm_and_sigquit_but_not_sigkill():
    r = kemu_main("shell", stdin="kill $$\necho still\nkill -QUIT $$\necho here\n"
                                 "sleep 1000 & sleep 1; kill $!; wait $!; echo child=$?\n"
                                 "kill -9 $$\necho never\n")
    assert r.status == 128 + 9
    assert r.out == "still\nhere\nchild=143\n"       # its children take SIGTERM
    assert r.err == "Terminated\nkemu: the shell (pid 2) ended: Killed\n"


@pytest.fixture
def boom(monkeypatch):
    """The command ``boom`` makes the evaluator raise, as a bug in kemu would."""
    from tools.sh.eval import Evaluator

    evalcommand = Evaluator.evalcommand

    async def buggy(self, n, flags):
        if n.args and n.args[0].text == "boom":
            raise ValueError("a bug\nwith a second line")
        return await evalcommand(self, n, flags)

    monkeypatch.setattr(Evaluator, "evalcommand", buggy)


@pytest.mark.parametrize("how", ["run", "shell"])
def test_an_internal_error_is_a_message_and_status_70(tmp_path, boom, how):
    text = "echo before\nboom\necho after\n"
    r = run_script(tmp_path, text) if how == "run" else kemu_main("shell", stdin=text)
    assert (r.status, r.out) == (70, "before\n")
    assert r.err.startswith("kemu: internal error: ValueError: a bug "
                            "(at tests/tools/test_kemu.py:")
    assert r.err.count("\n") == 1 and "Traceback" not in r.err


# ------------------------------------------------------------------ exec's names

def test_exec_names_the_process_and_its_lwp_after_the_program(tmp_path):
    r = run_script(tmp_path, "sleep 1000 &\nsleep 1\nps -ax -o pid,lname,comm\n")
    assert r.status == 0, r
    rows = [ln.split() for ln in r.out.splitlines()[1:]]
    assert ["2", "sh", "sh"] in rows            # the shell
    assert ["3", "sleep", "sleep"] in rows      # forked by it, then exec'd: sleep
    assert any(row[1:] == ["ps", "ps"] for row in rows)


def test_a_fault_scoped_to_a_command_by_its_lwp_name(tmp_path):
    """lwp=dd reaches dd's writes and no other command's (before exec named the
    lwp, every command ran in an lwp named sh)."""
    r = run_script(tmp_path, "echo hello > /tmp/a\ncp /tmp/a /tmp/b\ncat /tmp/b\n"
                             "dd if=/tmp/a of=/tmp/c\necho never\n",
                   "--faults", "VOP_WRITE:lwp=dd:error=EIO")
    assert (r.status, r.out) == (1, "hello\n")
    assert r.err.startswith("kemu: line 4: dd: /tmp/c: Input/output error\n")


# ------------------------------------------------------------------ Ctrl-C's delivery

@pytest.fixture(params=["host-first", "machine-first", "after-last-syscall"])
def ctrl_c(request, monkeypatch, sigint_raises):
    """The command ``ctrlc``: a Ctrl-C lands just after it, while the host's main
    thread is in ``k.run`` but not in its wait (collecting the command's result):
    where the host's SIGINT often lands in a long script of short commands.

    Shell.interrupt's post to the machine (``call_soon``) then races with the
    command's end.  ``host-first`` leaves the order to the threads;
    ``machine-first`` has the machine run the post before ``k.run`` returns
    (the flake: the shell's own process took the SIGINT in the next line);
    ``after-last-syscall`` runs the post in the machine while the command's
    lwp ends, after its last system call (a SIGINT left pending there)."""
    import signal
    import threading

    import tools.shell
    from kern.machine.machine import Machine

    pressed = []
    shells = []

    async def main(argv: list[str]) -> int:
        pressed.append(True)
        return 0

    unwrap = Machine._unwrap

    def unwrap_with_ctrl_c(self, req):
        if pressed:
            pressed.clear()
            signal.raise_signal(signal.SIGINT)
            if request.param == "machine-first":
                # call_soon's callbacks run in order: the handler's ran before this one.
                ran = threading.Event()
                self.call_soon(ran.set)
                assert ran.wait(10)
        return unwrap(self, req)

    init, flush = tools.shell.Shell.__init__, tools.shell.fflush

    def init_recording(self, *args):
        init(self, *args)
        shells.append(self)

    async def fflush_then_ctrl_c():
        await flush()
        if pressed:
            pressed.clear()
            sh = shells[-1]
            sh.host.intr = True                 # Shell.interrupt, on the host
            sh._post_sigint(sh._evals)          # and its post, run by the machine now

    cmds.lookup("true")                 # load the registry first
    monkeypatch.setitem(cmds.commands, "ctrlc", main)
    if request.param == "after-last-syscall":
        monkeypatch.setattr(tools.shell.Shell, "__init__", init_recording)
        monkeypatch.setattr(tools.shell, "fflush", fflush_then_ctrl_c)
    else:
        monkeypatch.setattr(Machine, "_unwrap", unwrap_with_ctrl_c)


def test_a_ctrl_c_outside_k_runs_wait_stops_kemu_run(tmp_path, ctrl_c):
    """The flaky test_signal_to_kemu_run[SIGINT]: the KeyboardInterrupt was raised
    wherever the main thread was, here in k.run's _unwrap; the shell took it for
    the command's status 130 without stopping, and the script ran on to exit 0.
    The Ctrl-C is the ended command's, never the next line's."""
    r = run_script(tmp_path, "ctrlc\necho never\n")
    assert (r.status, r.out, r.err) == (130, "", "")
    # Interactive: the line ends (a new line for the prompt), and $? says so.
    r = kemu_main("shell", stdin="ctrlc\necho status=$?\n")
    assert (r.status, r.out, r.err) == (0, "\nstatus=130\n", "")
