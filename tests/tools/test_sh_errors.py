"""tools/sh when things go wrong: patterns sh accepts that a regex would not, system
calls that fail under the shell (fork, pipe, wait), runaway recursion, and the
signals sh sets for its children and for itself.  Through tools/sh directly (the
machine's shell, ``m.sh``) and through ``kemu run``/``kemu shell``."""

from __future__ import annotations

import io
import re

import pytest

from kern import kern_fork
from kern.errno import EMFILE
from kern.kern_sig import SIGCHLD, SIGINT, SIGQUIT, SIGTERM
from kern.sys_sig import SIG_DFL, SIG_IGN
from tests.tools.conftest import kemu_main, run_script
from tools.lib import libc
from tools.sh.expand import patmatch, trim
from tools.sh.parser import VSTRIMLEFT, VSTRIMRIGHTMAX


def _pat(text: str, quoted: str = "") -> list[tuple[str, bool]]:
    """A pattern field: the characters of ``text``, those at the positions marked
    'q' in ``quoted`` quoted."""
    return [(c, i < len(quoted) and quoted[i] == "q") for i, c in enumerate(text)]


# ------------------------------------------------------------------ A4: patmatch

@pytest.mark.parametrize("pattern, string, match", [
    ("[z-a]", "m", False), ("[z-a]", "z", False), ("[z-a]", "a", False),
    ("[a-z]", "m", True), ("[!a-c]x", "dx", True), ("[^a-c]x", "bx", False),
    ("[]]", "]", True), ("[]a]", "a", True), ("[!]]", "]", False),
    ("a[", "a[", True), ("[ab", "[ab", True), ("[", "[", True),
    ("[[:digit:]]x", "7x", True), ("[[:digit:]]", "a", False),
    ("[[:alpha:][:digit:]]", "Q", True), ("[[:nosuch:]]", "a", False),
    ("*a*b", "xaxxb", True), ("*a*b", "xaxxbc", False), ("*", "", True),
    ("?", "", False), ("a?c", "abc", True), ("**x", "yyx", True), ("*[ab]", "zzb", True),
])
def test_patmatch_is_shs(pattern, string, match):
    assert patmatch(_pat(pattern), string) is match


def test_patmatch_quoted_characters_are_literal():
    assert patmatch(_pat("*", "q"), "*") and not patmatch(_pat("*", "q"), "x")
    assert patmatch(_pat("[a]", "q"), "[a]") and not patmatch(_pat("[a]", "q"), "a")
    # A quoted ']' inside brackets is a member, not the end.
    assert patmatch(_pat("[x]]", "  q "), "]")
    assert patmatch(_pat("a-z", " q "), "a-z")


def test_trims_with_reversed_ranges_and_classes():
    assert trim("abc", _pat("[z-a]"), VSTRIMLEFT) == "abc"
    assert trim("a.b.c", _pat(".*"), VSTRIMRIGHTMAX) == "a"
    assert trim("12ab", _pat("[[:digit:]]"), VSTRIMLEFT) == "2ab"


def test_reversed_range_in_the_shell_is_no_error(m, tmp_path):
    m.ok("mkdir /rr; touch /rr/a /rr/z")
    r = m.sh("echo /rr/[z-a]; case z in [z-a]) echo in;; *) echo out;; esac; "
             "x=abc; echo ${x#[z-a]} ${x%[c-a]}")
    assert (r.status, r.out, r.err) == (0, "/rr/[z-a]\nout\nabc abc\n", "")
    assert m.ok("echo /rr/[[:lower:]]") == "/rr/a /rr/z\n"
    r = run_script(tmp_path, "case x in [z-a]) echo in;; *) echo out;; esac\necho /[z-a]\n")
    assert (r.status, r.out, r.err) == (0, "out\n/[z-a]\n", "")


# ------------------------------------------------------------------ A5: fork and pipe failures

def _fds(m) -> list[int]:
    """The shell process's open descriptors."""
    ff = m.km.shell.proc.p_fd.fd_dt.dt_ff
    return [i for i, f in enumerate(ff) if f is not None and f.ff_file is not None]


def test_a_failed_fork_is_cannot_fork_and_the_shell_goes_on(m, monkeypatch):
    fds = _fds(m)
    monkeypatch.setattr(kern_fork, "maxproc", len(m.k.procs))     # the table is full
    r = m.sh("ls /")
    assert (r.status, r.out, r.err) == (2, "", "Cannot fork\n")
    r = m.sh("echo a | cat")
    assert (r.status, r.err) == (2, "Cannot fork\n")
    assert m.sh("x=$(echo sub)").err == "Cannot fork\n"
    assert m.sh("sleep 1 &").err == "Cannot fork\n"
    assert "proc: table is full" in m.k.dmesg()
    assert _fds(m) == fds                                        # no pipe end left open
    monkeypatch.setattr(kern_fork, "maxproc", 1044)
    assert m.ok("echo a | cat; echo $(echo sub)") == "a\nsub\n"


def test_a_pipeline_whose_second_fork_fails(m, monkeypatch):
    """The first process was started: its pipe is closed under it and it is reaped
    later as a background job, not left a zombie."""
    fds = _fds(m)
    monkeypatch.setattr(kern_fork, "maxproc", len(m.k.procs) + 1)
    r = m.sh("echo a | cat")
    assert (r.status, r.out, r.err) == (2, "", "Cannot fork\n")
    assert _fds(m) == fds
    monkeypatch.setattr(kern_fork, "maxproc", 1044)
    # The fork's error ended the command at once (a non-interactive shell's
    # error: Shell._evaltop's stop_waiting) with the job still running; the
    # machine holds it until the host's next command (the host's turn,
    # Machine._give_host_turn), so whether it has exited when that command
    # begins is not a race with the host any more: it is a job to wait for.
    assert m.ok("wait") == ""
    shell = m.km.shell.proc.p_pid
    assert [p.p_pid for p in m.k.procs.values() if p.p_pptr is not None
            and p.p_pptr.p_pid == shell] == []


def test_a_failed_pipe_is_pipe_call_failed(m):
    fds = _fds(m)
    f = m.k.faults.add("fd_allocfile", error=EMFILE, fail_nth=1, lwp="sh")
    r = m.sh("echo a | cat")
    assert f.nfaults == 1
    assert (r.status, r.out, r.err) == (2, "", "Pipe call failed\n")
    f = m.k.faults.add("fd_allocfile", error=EMFILE, fail_nth=1, lwp="sh")
    assert m.sh("echo $(echo x)").err == "Pipe call failed\n"
    assert _fds(m) == fds
    assert m.ok("echo a | cat") == "a\n"


def test_fork_failure_in_an_interactive_shell_prints_and_carries_on(m, monkeypatch):
    """Interactive (as kemu shell): the failed command says so; the next ones run."""
    monkeypatch.setattr(kern_fork, "maxproc", len(m.k.procs))
    m.out.clear()
    m.err.clear()
    status = m.km.shell.interactive(io.StringIO("ls /\necho $?; echo still here\n"))
    assert status == 0
    assert (m.out.text, m.err.text) == ("2\nstill here\n", "Cannot fork\n")


# ------------------------------------------------------------------ A6: runaway recursion

def test_function_recursion_stops_with_a_message(m):
    r = m.sh("f() { f; }; f")
    assert (r.status, r.err) == (2, "evaluation nested too deeply\n")
    # Loops and eval nest too; the shell is usable afterwards.
    r = m.sh("g() { for i in 1; do while :; do echo x > /dev/null; g; break; done; done; }; g")
    assert (r.status, r.err) == (2, "evaluation nested too deeply\n")
    r = m.sh("e() { eval 'echo y > /dev/null; e'; }; e")
    assert "evaluation nested too deeply\n" in r.err
    # 50 levels of a function that does work at each level are fine (about 80 fit).
    assert m.ok("n() { case $1 in " + "." * 50 + ") echo deep;; *) echo x > /dev/null; "
                "n $1.;; esac; }; n .") == "deep\n"


def test_recursion_in_kemu_run_and_kemu_shell(tmp_path):
    r = run_script(tmp_path, "f() { f; }\nf\necho never\n")
    assert r.status == 1
    # The label names the line of the command running (the call inside f's body).
    assert r.err == "kemu: line 1: evaluation nested too deeply\n"
    r = kemu_main("shell", stdin="f() { f; }; f\necho after $?\n")
    assert r.status == 0
    assert "after 2\n" in r.out and "Traceback" not in r.err


# ------------------------------------------------------------------ E30: a lost status

def test_a_lost_child_status_is_not_success(m):
    """wait4 fails with ECHILD when the child's status went elsewhere: here the
    shell's process ignores SIGCHLD (a real sigaction(2) in it, what NetBSD's
    ``trap '' CHLD`` does), so each child that exits is given to init and the
    shell, asleep in wait4 or not yet there, gets ECHILD.  sh says so and the
    status is not 0; with SIGCHLD's default back, statuses are collected again."""
    async def sigchld(handler: int) -> None:
        await libc.signal(SIGCHLD, handler)

    m.km.k.run(sigchld, SIG_IGN, proc=m.km.shell.proc)
    r = m.sh("true > /dev/null; ls / > /dev/null; echo $?")
    assert r.out == "127\n"
    lost = re.fullmatch(r"(\d+): wait failed: No child processes\n", r.err)
    assert lost is not None, r.err
    assert int(lost.group(1)) not in m.km.k.procs          # no zombie left behind
    m.km.k.run(sigchld, SIG_DFL, proc=m.km.shell.proc)
    assert m.ok("ls / > /dev/null; echo $?") == "0\n"


# ------------------------------------------------------------------ C24: sh's signals

def _handler(p, signo):
    sd = p.p_sigacts.get(signo)
    return SIG_DFL if sd is None else sd.sa_handler


def test_background_jobs_ignore_sigint_and_sigquit_and_read_dev_null(m):
    pid = int(m.ok("sleep 100 & echo $!"))
    p = m.k.procs[pid]
    assert p.p_comm == "sleep"
    assert (_handler(p, SIGINT), _handler(p, SIGQUIT), _handler(p, SIGTERM)) == \
        (SIG_IGN, SIG_IGN, SIG_DFL)
    vp = p.p_fd.fd_dt.dt_ff[0].ff_file.f_vnode
    assert vp.v_rdev == (2 << 8) | 2                         # /dev/null (mem, minor 2)
    # Standard input redirected: the job keeps it; a subshell of the job still ignores.
    m.ok("echo data > /in")
    pid = int(m.ok("(sleep 100) < /in & echo $!"))
    kids = [q for q in m.k.procs.values() if q.p_pptr is not None and q.p_pptr.p_pid == pid]
    for q in [m.k.procs[pid]] + kids:
        assert _handler(q, SIGINT) == SIG_IGN
        assert q.p_fd.fd_dt.dt_ff[0].ff_file.f_vnode.v_rdev != (2 << 8) | 2
    # A foreground command takes the defaults.
    assert m.ok("kill -l > /dev/null; echo fg") == "fg\n"


def test_interactive_shell_ignores_sigterm_and_sigquit(m):
    m.out.clear()
    status = m.km.shell.interactive(io.StringIO("kill -TERM $$; kill -QUIT $$; echo alive $?\n"
                                                "echo again\n"))
    assert (status, m.out.text) == (0, "alive 0\nagain\n")
    shell = m.km.shell.proc
    assert (_handler(shell, SIGQUIT), _handler(shell, SIGTERM)) == (SIG_IGN, SIG_IGN)
    assert _handler(shell, SIGINT) not in (SIG_DFL, SIG_IGN)      # caught
    # Its children take the defaults again.
    pid = int(m.ok("sleep 100 > /dev/null & echo $!"))
    assert _handler(m.k.procs[pid], SIGTERM) == SIG_DFL


def test_kemu_shell_survives_sigterm_from_a_command():
    r = kemu_main("shell", stdin="kill $$\necho alive\n")
    assert (r.status, r.err) == (0, "")
    assert "alive\n" in r.out


def test_a_command_nested_past_the_parsers_stack_is_a_syntax_error(m, tmp_path):
    deep = "(" * 400 + "echo x" + ")" * 400
    r = m.sh(deep + "; echo after")
    assert (r.status, r.out, r.err) == (2, "", "Syntax error: Nesting too deep\n")
    assert m.ok("(((echo fine)))") == "fine\n"
    r = run_script(tmp_path, deep + "\n")
    assert r.status == 1 and r.err == "kemu: line 1: Syntax error: Nesting too deep\n"


def test_a_builtins_failed_system_call_is_a_message(m):
    r = m.sh("read x <&-; echo $?; echo back | cat")
    assert (r.out, r.err) == ("2\nback\n", "read: Bad file descriptor\n")
