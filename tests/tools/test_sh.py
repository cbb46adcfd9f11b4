"""The kemu shell's language (tools/sh): NetBSD sh's grammar and messages, expansions,
pipelines of concurrent processes, lists, control structures, builtins, -e in scripts."""

from __future__ import annotations

import pytest

from tests.tools.conftest import run_script
from tools.sh.parser import NCMD, NPIPE, NCmdNode, NPipeNode, ShellSyntaxError, parse

# ------------------------------------------------------------------ the parser


def test_parse_words_quotes_comments_redirections():
    (c,) = parse("echo a 'b c' \"d \\\" e\" f\\ g # comment")
    assert isinstance(c, NCmdNode) and c.type == NCMD
    assert [w.literal() for w in c.args] == ["echo", "a", "b c", 'd " e', "f g"]
    (c,) = parse("cat x >out 2>>err < in 2>&1")
    assert [w.literal() for w in c.args] == ["cat", "x"]
    assert [(r.fd, r.type, r.fname.literal()) for r in c.redirect] == \
        [(1, ">", "out"), (2, ">>", "err"), (0, "<", "in"), (2, ">&", "1")]
    assert parse("   # only a comment") == [] and parse("") == [] and parse("\n\n") == []
    (c,) = parse("echo a#b")
    assert [w.literal() for w in c.args] == ["echo", "a#b"]
    (p,) = parse("ls /mnt | wc -l")
    assert isinstance(p, NPipeNode) and p.type == NPIPE and len(p.cmdlist) == 2
    (c,) = parse("A=1 B=2 env")
    assert [w.text for w in c.assigns] == ["A=1", "B=2"] and c.args[0].literal() == "env"


@pytest.mark.parametrize("text, msg, incomplete", [
    ("echo 'x", "Unterminated quoted string", True),
    ('echo "x', "Unterminated quoted string", True),
    ("echo >\n", "newline unexpected", False),
    ("ls |", "end of file unexpected", True),
    ("| ls", '"|" unexpected', False),
    ("ls ;;", '";;" unexpected', False),
    ("echo )", '")" unexpected', False),
    ("fi", '"fi" unexpected', False),
    ("if true; then echo", 'end of file unexpected (expecting "fi")', True),
    ("if true; echo; fi", '"fi" unexpected (expecting "then")', False),
    ("while true; done", '"done" unexpected (expecting "do")', False),
    ("for 1 in a; do :; done", "Bad for loop variable", False),
    ("echo ${x", "Missing '}'", True),
    ("echo ${x!}", "Bad substitution", False),
    ("echo ${#x-y}", "no modifiers allowed with ${#var}", False),
    ("cat <<EOF", "1: Here document (<<EOF) expected but not present", True),
    ("cat <<EOF\nbody\n", "EOF reading here (<<) document", True),
    ("cat <<E$x\nE$x\n", "Illegal eof marker for << redirection", False),
])
def test_syntax_errors_have_shs_messages(text, msg, incomplete):
    with pytest.raises(ShellSyntaxError) as ei:
        parse(text)
    assert ei.value.msg == msg
    assert ei.value.incomplete == incomplete


# ------------------------------------------------------------------ pipelines and lists

def test_pipeline_and_list(m):
    m.ok("mkdir -p /d; touch /d/x /d/y")
    assert m.ok("ls /d | cat") == "x\ny\n"
    r = m.sh("false; echo $?; true && echo yes; false && echo no; false || echo or")
    assert (r.status, r.out) == (0, "1\nyes\nor\n")
    assert m.sh("false | true").status == 0
    assert m.sh("true | false").status == 1            # the last command's status
    assert m.sh("! true").status == 1 and m.sh("! false").status == 0


def test_pipeline_processes_run_at_once(m):
    """Many times the pipe's buffer goes through: the writer blocks on a full pipe
    until the reader, running at the same time, drains it."""
    m.ok("dd if=/dev/rwd0 of=/big bs=64k count=8")
    m.ok("cat /big | cat | cat > /copy")
    assert m.ok("cmp /big /copy") == ""
    assert m.ok("ls -l /copy").split()[4] == str(8 * 65536)


def test_a_writer_whose_reader_left_dies_of_sigpipe(m):
    """`read` takes one line and its subshell exits; the writer's next write gets
    EPIPE and SIGPIPE kills it (sh says nothing for SIGPIPE): no hang."""
    r = m.sh("while :; do echo y; done | read x; echo status $?")
    assert (r.status, r.out, r.err) == (0, "status 0\n", "")
    r = m.sh("(while :; do echo y; done; echo never >&2) | (read x; exit 3)")
    assert (r.status, r.err) == (3, "")


def _signal_when_running(m, signo, comm="cat"):
    """From another thread, once a ``comm`` process runs in the machine: ``signo``
    to it (as kill(1) would).  Returns the thread; join it after the command."""
    import threading

    from kern.kern_sig import psignal

    k = m.k

    def post():
        # Wait for the command's process (a condition, not a delay; 60 s at most).
        for _ in range(6000):
            procs = [p for p in list(k.procs.values()) if p.p_comm == comm]
            if procs:
                k.call_soon(psignal, procs[0], signo)
                return
            threading.Event().wait(0.01)

    t = threading.Thread(target=post, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("signo, status, message", [(15, 143, "Terminated\n"),
                                                    (9, 137, "Killed\n"),
                                                    (2, 130, "")])
def test_a_command_killed_by_a_signal_has_status_128_plus_it(m, signo, status, message):
    """cat copies an endless stream until the signal ends it; then the writer dies of
    SIGPIPE.  (Not `sleep 1000`: on the virtual clock it would be over at once.)"""
    t = _signal_when_running(m, signo)
    r = m.sh("while :; do echo y; done | cat > /tmp/o; echo $?")
    t.join()
    assert r.out == f"{status}\n"
    assert r.err == message       # sh's words, none for SIGINT and SIGPIPE


# ------------------------------------------------------------------ expansions

def test_variables_and_parameter_expansion(m):
    r = m.sh('x=hello; y="a  b"; echo $x "$x" ${x} "${x}s" $y "$y"')
    assert r.out == "hello hello hello hellos a b a  b\n"
    assert m.ok("echo ${unset-default} ${unset:-d2} ${x:+alt} [${unset+alt}]") == \
        "default d2 alt []\n"
    assert m.ok("e=; echo [${e-set}] [${e:-empty}]") == "[] [empty]\n"
    assert m.ok("echo ${new=assigned}; echo $new") == "assigned\nassigned\n"
    assert m.ok("p=/a/b/c.tar.gz; echo ${p#*/} ${p##*/} ${p%.*} ${p%%.*} ${#p}") == \
        "a/b/c.tar.gz c.tar.gz /a/b/c.tar /a/b/c 13\n"
    r = m.sh("echo ${nope?is required}; echo after")
    assert (r.status, r.out, r.err) == (2, "", "nope: is required\n")
    assert m.sh("echo ${nope:?}").err == "nope: parameter not set or null\n"
    assert m.ok("echo $$") == m.ok("echo $$") != "0\n"


def test_dollar_question_after_commands_and_not_found(m):
    assert m.ok("nosuch 2>/dev/null; echo $?") == "127\n"
    assert m.ok("ls /nonexistent 2>/dev/null; echo $?") == "1\n"
    assert m.ok("echo > /nodir/x 2>/dev/null; echo $?") == "2\n"


def test_command_substitution_and_field_splitting(m):
    m.ok("mkdir /cs; touch /cs/a /cs/b")
    assert m.ok("echo $(ls /cs)") == "a b\n"
    assert m.ok('echo "$(ls /cs)"') == "a\nb\n"
    assert m.ok("for f in `ls /cs`; do echo [$f]; done") == "[a]\n[b]\n"
    assert m.ok('(IFS=:; v=x:y::z; for f in $v; do echo "<$f>"; done)') == \
        "<x>\n<y>\n<>\n<z>\n"
    assert m.ok('v="  lots   of   space  "; for w in $v; do echo $w; done') == \
        "lots\nof\nspace\n"


def test_globbing_over_the_machines_directories(m):
    m.ok("mkdir -p /g/sub; touch /g/a1 /g/a2 /g/b1 /g/.hidden /g/sub/in")
    assert m.ok("echo /g/*") == "/g/a1 /g/a2 /g/b1 /g/sub\n"
    assert m.ok("echo /g/a?") == "/g/a1 /g/a2\n"
    assert m.ok("echo /g/[ab]1 /g/[!a]*") == "/g/a1 /g/b1 /g/b1 /g/sub\n"
    assert m.ok("echo /g/.*") == "/g/. /g/.. /g/.hidden\n"
    assert m.ok("echo /g/*/in /g/*/") == "/g/sub/in /g/sub/\n"
    assert m.ok("cd /g; echo a*") == "a1 a2\n"
    # No match: the word stays as it is (sh), and the command sees it.
    r = m.sh("ls /g/z*")
    assert (r.status, r.err) == (1, "ls: /g/z*: No such file or directory\n")
    # Quoted metacharacters are not patterns.
    assert m.ok("echo '/g/*' \"/g/a?\" /g/\\*") == "/g/* /g/a? /g/*\n"
    assert m.ok("x='/g/b*'; echo $x \"$x\"") == "/g/b1 /g/b*\n"


# ------------------------------------------------------------------ control structures

def test_if_for_while_until_case_functions(m):
    assert m.ok("if false; then echo a; elif true; then echo b; else echo c; fi") == "b\n"
    assert m.ok("for i in 1 2 3; do echo $i; done") == "1\n2\n3\n"
    assert m.ok("n=; while case $n in xxx) false;; *) true;; esac; do n=${n}x; done; "
                "echo $n") == "xxx\n"
    assert m.ok("i=a; until case $i in aaa) true;; *) false;; esac; do i=${i}a; done; "
                "echo $i") == "aaa\n"
    assert m.ok("for w in x.c y.h z; do case $w in *.c) echo C;; *.h|*.hh) echo H;; "
                "*) echo other;; esac; done") == "C\nH\nother\n"
    assert m.ok("greet() { echo hello $1; return 3; }; greet you; echo $?") == \
        "hello you\n3\n"
    assert m.ok("for i in 1 2 3 4; do case $i in 3) break;; esac; echo $i; done") == \
        "1\n2\n"
    assert m.ok("for i in 1 2 3; do case $i in 2) continue;; esac; echo $i; done") == \
        "1\n3\n"
    assert m.ok("for i in a b; do for j in 1 2; do case $j in 2) continue 2;; esac; "
                "echo $i$j; done; done") == "a1\nb1\n"


def test_break_and_continue_in_a_loops_condition_and_their_counts(m):
    # eval.c's evalloop tests evalskip after the condition as after the body
    assert m.ok("for i in 1 2; do while break; do :; done; echo $i; done; "
                "echo end") == "1\n2\nend\n"
    assert m.ok("n=; while n=${n}x; case $n in xx) continue;; xxxx) false;; esac; "
                "do echo b$n; done; echo $n") == "bx\nbxxx\nxxxx\n"
    assert m.ok("for i in a b; do until break 2; do :; done; echo no; done; "
                "echo end") == "end\n"
    for line in ["break 0", "continue 0"]:
        r = m.sh(f"for i in 1; do {line}; done")
        assert (r.status, r.err) == (2, f"{line.replace(' ', ': invalid count: ')}\n")
    r = m.sh("for i in 1; do break -1; done")
    assert (r.status, r.err) == (2, "break: Illegal number: -1\n")


def test_errexit_spares_a_tested_subshell_but_not_a_background_one(m):
    # eval.c's evalsubshell keeps EV_TESTED for the child, except with &
    assert m.ok("set -e; if (false; echo still); then echo t; else echo f; fi; "
                "echo end") == "still\nt\nend\n"
    assert m.ok("set -e; (false; echo still) || echo or; echo end") == "still\nend\n"
    assert m.ok("set -e; (false; echo a) && echo b; echo $?") == "a\nb\n0\n"
    assert m.ok("set -e; (false; echo no) & wait $! || echo $?") == "1\n"
    assert m.ok("set -e; if (false; echo no) & wait $!; then echo t; else echo f $?; fi"
                ) == "f 1\n"


def test_subshells_have_their_own_state(m):
    assert m.ok("x=1; (x=2; cd /tmp; echo $x); echo $x; pwd") == "2\n1\n/\n"
    assert m.ok("x=1; echo | x=2; echo $x") == "1\n"


def test_background_job_and_wait(m):
    r = m.sh("sleep 1 & p=$!; echo started; wait $p; echo waited $?")
    assert (r.status, r.out) == (0, "started\nwaited 0\n")


def test_a_descriptor_redirected_to_itself_must_be_open(m):
    # redir.c's redirect: n>&n only checks n (F_SETFD), saving and moving nothing
    for line in ["echo x 5>&5", "ls /dev/null 5>&5", "{ echo z; } 5>&05"]:
        assert (m.sh(line + "; echo $?").out, m.sh(line).err) == \
            ("2\n", "fd 5: Bad file descriptor\n"), line
    assert m.ok("echo y 1>&1 2>&2") == "y\n"
    r = m.sh("echo w 1>&1 >&2")
    assert (r.out, r.err) == ("", "w\n")


def test_builtins_with_redirections_and_fd_duplication(m):
    m.ok("cd /nonexistent 2> /tmp/e || true")
    assert m.ok("cat /tmp/e") == "cd: can't cd to /nonexistent\n"
    r = m.sh("ls /nonexistent 2>&1 | cat")
    assert (r.out, r.err) == ("ls: /nonexistent: No such file or directory\n", "")
    r = m.sh("echo to-stderr >&2")
    assert (r.out, r.err) == ("", "to-stderr\n")
    r = m.sh("echo closed >&-")
    assert (r.status, r.out, r.err) == (1, "", "echo: stdout: Bad file descriptor\n")
    r = m.sh("echo x >&z")
    assert (r.status, r.err) == (2, "Syntax error: Bad fd number\n")
    m.ok("x=1 > /tmp/created")
    assert m.ok("ls /tmp/created") == "/tmp/created\n"
    assert m.ok("help > /tmp/h; cat /tmp/h") == m.ok("help")


def test_help_lists_builtins_and_commands_with_descriptions(m):
    out = m.ok("help")
    lines = out.splitlines()
    names = [ln.split()[0] for ln in lines]
    assert names == sorted(names)
    assert {"cd", "help", "echo", "ls", "dd", "fssconfig", "mount"} <= set(names)
    desc = {ln.split()[0]: ln.split(None, 1)[1] for ln in lines}
    assert desc["ls"] == "list directory contents"
    assert desc["fssconfig"] == "configure file system snapshot devices"
    assert desc["cd"] == "change the working directory (shell builtin)"
    assert all(desc.values()), [n for n, d in desc.items() if not d]
    assert [ln.split()[0] for ln in m.ok("help cd ls").splitlines()] == ["cd", "ls"]
    r = m.sh("help nosuch")
    assert (r.status, r.err) == (1, "help: no help for nosuch\n")


# ------------------------------------------------------------------ scripts: -e

def test_script_errexit_follows_sh(tmp_path):
    r = run_script(tmp_path, "false && echo no\nfalse || echo or\n"
                             "if false; then echo no; fi\n! true\n"
                             "while false; do :; done\necho reached\nfalse\necho never\n")
    assert r.status == 1
    assert r.out == "or\nreached\n"
    assert r.err == "kemu: line 7: false: exit status 1\n"


def test_script_reports_the_failing_line_inside_a_loop(tmp_path):
    r = run_script(tmp_path, "for d in /a /b; do\n  mkdir $d\n  mkdir $d\ndone\necho never\n")
    assert r.status == 1
    assert r.err == "kemu: line 3: mkdir: /a: File exists\n"


def test_script_syntax_error_after_commands_that_ran(tmp_path):
    r = run_script(tmp_path, "echo first\nif true; then\n  echo x\n")
    assert (r.status, r.out) == (1, "first\n")
    assert r.err == 'kemu: line 4: Syntax error: end of file unexpected (expecting "fi")\n'
    r = run_script(tmp_path, "echo ok | \n")
    assert r.err == "kemu: line 2: Syntax error: end of file unexpected\n"


def test_script_expansion_error_ends_the_script(tmp_path):
    r = run_script(tmp_path, "echo ${x?no x}\necho never\n")
    assert (r.status, r.out, r.err) == (1, "", "kemu: line 1: x: no x\n")


def test_script_pipeline_glob_and_variables(tmp_path):
    r = run_script(tmp_path, """
mkdir /s
for i in 1 2 3; do echo line$i > /s/f$i; done
n=0
for f in /s/f*; do n=$n.; done
echo "files: $n"
cat /s/f* | cat > /s/all
cat /s/all
""")
    assert r.status == 0, r
    assert r.out == "files: 0...\nline1\nline2\nline3\n"


# ------------------------------------------------------------------ here-documents

def test_here_documents(m):
    r = m.sh("x=1; cat <<EOF\n$x \\$x \"q\" \\\\ \\a $(echo sub) `echo bq` ${y-def}\n  two\nEOF\n"
             "echo after")
    assert (r.status, r.out, r.err) == (0, '1 $x "q" \\ \\a sub bq def\n  two\nafter\n', "")
    # A quoted marker: the text as it is.
    assert m.ok("x=1; cat <<'EOF'\n$x \\$ `x`\nEOF\n") == "$x \\$ `x`\n"
    assert m.ok("cat <<\\EOF\n$x\nEOF\n") == "$x\n"
    # <<- strips leading tabs, from the marker's line too.
    assert m.ok("cat <<-EOF\n\tone\n\t\ttwo\n\tEOF\n") == "one\ntwo\n"
    # Two on one line are read in order; a builtin reads one; a function keeps its own.
    assert m.ok("cat <<A; cat <<B\na\nA\nb\nB\n") == "a\nb\n"
    assert m.ok("read v <<EOF\nline\nEOF\necho got $v") == "got line\n"
    assert m.ok("f() { cat <<EOF\nin f: $1\nEOF\n}; f one; f two") == "in f: one\nin f: two\n"
    # A backslash-newline joins lines: the marker after it does not end the document.
    assert m.ok("cat <<EOF\nab\\\nEOF\nEOF\n") == "abEOF\n"
    # Longer than a pipe's atomic write: written by a child, reaped afterwards.
    assert m.ok("cat <<EOF | wc -c\n" + "y" * 3000 + "\nEOF\n") == "    3001\n"
    assert m.ok("cat <<'EOF' > /big.txt\n" + "z" * 20000 + "\nEOF\nwc -c < /big.txt") == \
        "   20001\n"
    m.ok("true")
    shell = m.km.shell.proc.p_pid
    assert [p for p in m.k.procs.values() if p.p_pptr is not None
            and p.p_pptr.p_pid == shell] == []
    # Expansion happens in the writer, a child: its assignments do not come back.
    assert m.ok("cat <<EOF\n${hd=set}\nEOF\necho [${hd-unset}]") == "set\n[unset]\n"


def test_here_document_in_kemu_run_and_interactively(m, tmp_path):
    import io

    r = run_script(tmp_path, "n=3\ncat <<EOF > /f\nn is $n\nEOF\ncat /f\n"
                             "cat <<EOF\nnever ends\n")
    assert (r.status, r.out) == (1, "n is 3\n")
    assert r.err == "kemu: line 6: Syntax error: EOF reading here (<<) document\n"
    # Interactive: the document's lines are read with the PS2 prompt.
    m.out.clear()
    status = m.km.shell.interactive(io.StringIO("cat <<EOF\nfirst\nsecond\nEOF\necho done\n"))
    assert (status, m.out.text) == (0, "first\nsecond\ndone\n")


# ------------------------------------------------------------------ arithmetic expansion

@pytest.mark.parametrize("expr, value", [
    ("1+2*3", "7"), ("(1+2)*3", "9"), ("7/2", "3"), ("-7/2", "-3"), ("-7%2", "-1"),
    ("7%-2", "1"), ("1<<62<<1", "-9223372036854775808"), ("9223372036854775807+1",
                                                          "-9223372036854775808"),
    ("0x1f", "31"), ("010", "8"), ("~0", "-1"), ("!0", "1"), ("!7", "0"), ("-(-3)", "3"),
    ("2>1 && 0 || 3", "1"), ("3 ^ 5 | 8 & 12", "14"), ("1 ? 2 : 3", "2"), ("0 ? 2 : 3", "3"),
    ("5 >= 5", "1"), ("5 != 5", "0"), ("-16 >> 2", "-4"), ("  4\n+\t4 ", "8"),
])
def test_arithmetic_expansion_values(m, expr, value):
    assert m.ok(f"echo $(({expr}))") == value + "\n"


def test_arithmetic_with_variables_and_expansions(m):
    assert m.ok("x=5; echo $((x*2)) $(($x+1)) $((x+=3)) $x $((y=x>5?1:2)) $y") == \
        "10 6 8 8 1 1\n"
    assert m.ok("i=0; while [ $i -lt 4 ]; do i=$((i+1)); done; echo $i") == "4\n"
    assert m.ok("echo $(( $(echo 3) * 2 )) \"$((4+4))\" $((${unset:-2}+1))") == "6 8 3\n"
    assert m.ok("v=' 12 '; h=0x10; e=; echo $((v+1)) $((h)) $((e+unset))") == "13 16 0\n"
    # Only what && || ?: need is evaluated: no assignment in the branch not taken.
    assert m.ok("echo $((0 && (z=1))) ${z-unset} $((1 || (z=2))) ${z-unset} "
                "$((1 ? 5 : (z=3))) ${z-unset}") == "0 unset 1 unset 5 unset\n"
    assert m.ok("echo $((a=b=4)) $a $b; n=7; echo $((n%=4)) $((n<<=2)) $((n|=1)) $n") == \
        "4 4 4\n3 12 13 13\n"
    # Field splitting applies to an unquoted result, as to any expansion.
    assert m.ok("IFS=0; echo $((101))") == "1 1\n"


@pytest.mark.parametrize("line, err", [
    ("echo $((1/0))", 'arithmetic expression: division by zero: "1/0"'),
    ("echo $((5%0))", 'arithmetic expression: division by zero: "5%0"'),
    ("echo $(((-9223372036854775807-1)/-1))",
     'arithmetic expression: divide error: "(-9223372036854775807-1)/-1"'),
    ("echo $((1 +))", 'arithmetic expression: expecting primary: "1 +"'),
    ("echo $((08))", 'arithmetic expression: expecting end of expression: "08"'),
    ("echo $(((1+2))", "Syntax error: Missing '))'"),
    ("echo $((1) )", "Syntax error: Missing '))'"),
    ("echo $((1 ? 2))", 'arithmetic expression: expecting \':\': "1 ? 2"'),
    ("v=abc; echo $((v))", 'arithmetic expression: variable contains non-numeric value: "v"'),
    ("x=1; echo $((x++))", "arithmetic: ++ operator unsupported"),
    ("echo $((1,2))", "arithmetic: unexpected ',' (0x2c) in expression"),
    ("echo $((2 = 3))", 'arithmetic expression: expecting end of expression: "2 = 3"'),
])
def test_arithmetic_errors_are_shs(m, line, err):
    r = m.sh(line)
    assert (r.status, r.out, r.err) == (2, "", err + "\n")


def test_arithmetic_in_kemu_run(tmp_path):
    r = run_script(tmp_path, "n=0\nfor f in a b c; do n=$((n + 1)); done\necho $n\n"
                             "echo $((n / 0))\necho never\n")
    assert (r.status, r.out) == (1, "3\n")
    assert r.err == 'kemu: line 4: arithmetic expression: division by zero: "n / 0"\n'
