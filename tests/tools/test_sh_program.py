"""The ``sh`` program (tools/sh/main.py) and find's -exec, which runs programs as
NetBSD's find does (fork, execvp, waitpid): through the machine's shell and
through ``kemu run``."""

from __future__ import annotations

from tests.tools.conftest import run_script


def test_sh_c_and_its_parameters(m):
    assert m.ok("sh -c 'echo hi $0 $1 $#' name one two; echo $?") == "hi name one 2\n0\n"
    assert m.ok("sh -c 'exit 3'; echo $?") == "3\n"
    assert m.ok("sh -c 'echo [$0]'") == "[sh]\n"
    # Variables are the program's own: nothing comes back to the caller.
    assert m.ok("v=1; sh -c 'v=2; echo in $v'; echo out $v") == "in 2\nout 1\n"


def test_sh_script_file_and_standard_input(m):
    m.ok("echo 'echo script $1 $#' > /s.sh")
    assert m.ok("sh /s.sh arg; echo $?") == "script arg 1\n0\n"
    assert m.ok("echo 'echo from stdin; false' | sh; echo $?") == "from stdin\n1\n"
    r = m.sh("sh /nosuch; echo $?")
    assert (r.out, r.err) == ("127\n", "sh: cannot open /nosuch: No such file or directory\n")


def test_sh_options_and_errors(m):
    r = m.sh("sh -x -c 'echo traced'")
    assert (r.out, r.err) == ("traced\n", "+ echo traced\n")
    assert m.ok("sh -e -c 'false; echo no'; echo $?") == "1\n"
    assert m.ok("sh -c 'false; echo yes'") == "yes\n"
    for line, err in [("sh -c 'if then'",
                       'sh: 1: Syntax error: end of file unexpected (expecting "fi")\n'),
                      ("sh -c 'echo ${x?unset}; echo no'", "x: unset\n"),
                      ("sh -c", "sh: -c requires an argument\n"),
                      ("sh -q", "sh: Illegal option -q\n")]:
        r = m.sh(line + "; echo $?")
        assert (r.out, r.err) == ("2\n", err), line


def test_find_exec_runs_each_file_or_all_at_once(m):
    m.ok("mkdir -p /f/d; echo a > /f/a; echo bb > /f/d/b")
    assert sorted(m.ok("find /f -type f -exec cat {} \\;").split()) == ["a", "bb"]
    assert sorted(m.ok("find /f -type f -exec echo x{}y \\;").split()) == \
        ["x/f/ay", "x/f/d/by"]
    out = m.ok("find /f -type f -exec echo {} +")
    assert sorted(out.split()) == ["/f/a", "/f/d/b"] and out.count("\n") == 1
    assert m.ok("find /f -type f -exec wc -c {} +").splitlines()[-1].split() == ["5", "total"]
    # -exec is a test: its utility's status decides what follows it.
    assert sorted(m.ok("find /f -type f -exec test -s {} \\; -print").split()) == \
        ["/f/a", "/f/d/b"]
    assert m.ok("find /f -exec false \\; -print; echo $?") == "0\n"
    assert m.ok("find /f -type f -exec false {} +; echo $?") == "1\n"
    # Through sh -c, as scripts do.
    assert sorted(m.ok("find /f -type f -exec sh -c 'echo [$1]' x {} \\;").split()) == \
        ["[/f/a]", "[/f/d/b]"]


def test_find_exec_errors(m):
    m.ok("mkdir /g; touch /g/a")
    r = m.sh("find /g -name a -exec nosuch {} \\;; echo $?")
    assert (r.out, r.err) == ("0\n", "find: nosuch: No such file or directory\n")
    r = m.sh("find /g -exec echo; echo $?")
    assert (r.out, r.err) == ("1\n", 'find: -exec: no terminating ";" or "+"\n')
    r = m.sh("find /g -exec; echo $?")
    assert (r.out, r.err) == ("1\n", "find: -exec: requires additional arguments\n")
    r = m.sh("find /g -ok echo {} +; echo $?")
    assert (r.out, r.err) == ("1\n", 'find: -ok: terminating "+" not permitted.\n')
    r = m.sh("echo y | find /g -name a -ok echo found {} \\;")
    assert (r.out, r.err) == ("found /g/a\n", '"echo found /g/a"? ')
    assert m.sh("echo n | find /g -name a -ok echo found {} \\;").out == ""


def test_find_exec_in_kemu_run(tmp_path):
    r = run_script(tmp_path, "mkdir /d\nfor n in 1 2 3; do echo $n > /d/f$n; done\n"
                             "find /d -type f -exec sh -c 'echo $(( $(cat $1) * 10 ))' x {} \\;\n")
    assert (r.status, r.err) == (0, "")
    assert sorted(r.out.split()) == ["10", "20", "30"]
