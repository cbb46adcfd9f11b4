"""The everyday commands (issue 12): head tail wc grep find du chown/chgrp
hexdump/od cksum/sum/md5 diff test/[ kill ps sysctl uname date, with
NetBSD's options, output formats, messages and exit statuses."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.shell_helpers import Kemu
from tools import cmds


def put(m: Kemu, path: str, *lines: str) -> None:
    """Write ``lines`` (each ended by a newline) to ``path`` through the shell."""
    m.ok(f"echo '{lines[0]}' > {path}")
    for line in lines[1:]:
        m.ok(f"echo '{line}' >> {path}")


def st_blocks(m: Kemu, path: str) -> int:
    """st_blocks of ``path`` from stat(1)'s default line (... %k %b %#Xf %N)."""
    return int(re.search(r'" (\d+) (\d+) \S+ \S+\n$', m.ok(f"stat {path}")).group(2))


def owner(m: Kemu, *paths: str) -> list[str]:
    """``uid:gid`` of each path, from ls -lnd."""
    return [":".join(m.ok(f"ls -lnd {p}").split()[2:4]) for p in paths]


def fails(m: Kemu, line: str, status: int, err: str, out: str = "") -> None:
    r = m.sh(line)
    assert (r.status, r.err, r.out) == (status, err, out), line


# ------------------------------------------------------------------ the registry

def test_every_command_has_a_one_line_summary():
    names = cmds.names()
    for new in ["head", "tail", "wc", "grep", "egrep", "fgrep", "find", "du", "chown", "chgrp",
                "hexdump", "od", "cksum", "sum", "md5", "diff", "test", "[", "kill", "ps",
                "sysctl", "uname", "date"]:
        assert new in names
    for name in names:
        line = cmds.summaries.get(name) or cmds.EXTERNAL_SUMMARIES.get(name)
        assert line, f"{name} has no summary"
        assert "\n" not in line and not line.endswith(".")
        assert cmds.summary(name) == line
    assert cmds.summary("ls") == "list directory contents"
    assert cmds.summary("md5") == "calculate a message-digest fingerprint (checksum) for a file"
    assert cmds.summary("fssconfig") == "configure file system snapshot devices"
    assert cmds.summary("nonexistent") == ""


# ------------------------------------------------------------------ head, tail, wc

def test_head(m):
    put(m, "/tmp/a", *[f"line{i}" for i in range(1, 13)])
    assert m.ok("head /tmp/a") == "".join(f"line{i}\n" for i in range(1, 11))
    assert m.ok("head -n 2 /tmp/a") == "line1\nline2\n"
    assert m.ok("head -3 /tmp/a") == "line1\nline2\nline3\n"        # the obsolete form
    assert m.ok("head -c 7 /tmp/a") == "line1\nl"
    assert m.ok("head -n 1 /tmp/a /tmp/a") == "==> /tmp/a <==\nline1\n\n==> /tmp/a <==\nline1\n"
    assert m.ok("head -n 1 < /tmp/a") == "line1\n"                  # standard input
    fails(m, "head -n 0 /tmp/a", 1, "head: illegal line count -- 0\n")
    fails(m, "head -c x /tmp/a", 1, "head: illegal byte count -- x\n")
    r = m.sh("head -n 1 /nonexistent /tmp/a")
    assert (r.status, r.out, r.err) == (1, "==> /tmp/a <==\nline1\n",
                                        "head: /nonexistent: No such file or directory\n")


def test_head_counts_and_headers_as_head_c_1_23(m):
    put(m, "/tmp/a", "one", "two", "three")
    put(m, "/tmp/b", "four")
    assert m.ok("head -n ' 2' /tmp/a") == "one\ntwo\n"             # strtoimax: white space
    assert m.ok("head -n +2 /tmp/a") == "one\ntwo\n"               # and a sign
    fails(m, "head -n 1_0 /tmp/a", 1, "head: illegal line count -- 1_0\n")
    fails(m, "head -c 99999999999999999999 /tmp/a", 1,
          "head: illegal byte count -- 99999999999999999999\n")
    assert m.ok("head -n 1 -c 5 /tmp/a") == "one\nt"                 # -c wins, no complaint
    assert m.ok("head -q -n 1 /tmp/a /tmp/b") == "one\nfour\n"
    assert m.ok("head -v -n 1 /tmp/b") == "==> /tmp/b <==\nfour\n"
    fails(m, "head -x", 1, "head: unknown option -- x\nusage: head [-n lines] [file ...]\n")


def test_tail_offsets_are_strtoll_numbers(m):
    put(m, "/tmp/a", "one", "two", "three")
    assert m.ok("tail -n ' 1' /tmp/a") == "three\n"
    fails(m, "tail -n 1_0 /tmp/a", 1, "tail: illegal offset -- 1_0\n")



def test_tail(m):
    put(m, "/tmp/a", "one", "two", "three", "four")
    assert m.ok("tail -n 2 /tmp/a") == "three\nfour\n"
    assert m.ok("tail -1 /tmp/a") == "four\n"
    assert m.ok("tail -n +3 /tmp/a") == "three\nfour\n"
    assert m.ok("tail +2 /tmp/a") == "two\nthree\nfour\n"
    assert m.ok("tail -c 5 /tmp/a") == "four\n"
    assert m.ok("tail -c +15 /tmp/a") == "four\n"
    assert m.ok("tail -r /tmp/a") == "four\nthree\ntwo\none\n"
    assert m.ok("tail -r -n 2 /tmp/a") == "four\nthree\n"
    assert m.ok("tail -n 1 < /tmp/a") == "four\n"
    assert m.ok("tail -c 3 < /tmp/a") == "ur\n"
    assert m.ok("tail -r < /tmp/a") == "four\nthree\ntwo\none\n"
    assert m.ok("tail -n 1 /tmp/a /tmp/a") == "==> /tmp/a <==\nfour\n\n==> /tmp/a <==\nfour\n"
    fails(m, "tail -x /tmp/a", 1, "tail: unknown option -- x\n"
          "usage: tail [-f | -F | -r] [-b # | -c # | -n #] [file ...]\n")
    fails(m, "tail -n z /tmp/a", 1, "tail: illegal offset -- z\n")
    fails(m, "tail /nonexistent", 1, "tail: /nonexistent: No such file or directory\n")


def test_tail_obsolete_forms_and_reverse(m):
    put(m, "/tmp/a", "one", "two", "three", "four")
    assert m.ok("tail -2l /tmp/a") == "three\nfour\n"
    assert m.ok("tail -5c /tmp/a") == "four\n"
    assert m.ok("tail -2r /tmp/a") == "four\nthree\n"
    assert m.ok("tail -r -c 8 /tmp/a") == "four\nee\n"        # bytes, then reversed lines
    assert m.ok("tail -n 0 /tmp/a") == ""
    m.ok("echo -n last >> /tmp/a")
    assert m.ok("tail -r /tmp/a") == "lastfour\nthree\ntwo\none\n"
    fails(m, "tail -3x /tmp/a", 1, "tail: illegal option -- -3x\n")
    fails(m, "tail -r -f /tmp/a", 1,
          "usage: tail [-f | -F | -r] [-b # | -c # | -n #] [file ...]\n")


def _follow(tmp_flags: str, steps) -> bytes:
    """Run ``tail <flags> /log`` in a child process whose output goes to /out,
    do ``steps`` (a coroutine function) meanwhile, and return /out."""
    import kern
    from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
    from tools.cmds._prog import setprogname
    from tools.cmds.textutils import tail_main
    from tools.lib import libc

    with kern.boot(seed=3) as k:
        p = k.proc_create("parent", k.initproc)

        async def body():
            fd = await libc.open("/log", O_CREAT | O_WRONLY, 0o644)
            await libc.write(fd, b"a\nb\nc\n")

            async def child():
                setprogname("tail")
                out = await libc.open("/out", O_CREAT | O_WRONLY | O_TRUNC, 0o644)
                await libc.dup2(out, 1)
                return await tail_main(["tail", *tmp_flags.split(), "/log"])

            await libc.fork(child)
            await libc.nanosleep(0.5)
            await steps(fd)
            await libc.nanosleep(1.5)
            r = await libc.open("/out", O_RDONLY)
            return await libc.read(r, 4096)

        return k.run(body, proc=p)


def test_tail_f_follows_appends_to_the_open_file():
    from tools.lib import libc

    async def steps(fd):
        await libc.write(fd, b"d\n")
        await libc.nanosleep(1.5)
        await libc.rename("/log", "/log.0")      # -f keeps reading the file it opened
        await libc.write(fd, b"e\n")

    assert _follow("-n 2 -f", steps) == b"b\nc\nd\ne\n"


def test_tail_F_reopens_a_rotated_log():
    from kern.fcntl import O_CREAT, O_WRONLY
    from tools.lib import libc

    async def steps(fd):
        await libc.write(fd, b"d\n")
        await libc.nanosleep(1.5)
        await libc.rename("/log", "/log.0")
        await libc.write(fd, b"e\n")                # may or may not be seen before...
        await libc.nanosleep(0.1)
        new = await libc.open("/log", O_CREAT | O_WRONLY, 0o644)
        await libc.write(new, b"fresh\n")          # ...the new /log is opened

    out = _follow("-n 1 -F", steps)
    assert out.startswith(b"c\nd\n") and out.endswith(b"fresh\n")


def test_wc(m):
    put(m, "/tmp/a", "hello world", "", "  three  words here")
    assert m.ok("wc /tmp/a") == "       3       5      33 /tmp/a\n"
    assert m.ok("wc -l /tmp/a") == "       3 /tmp/a\n"
    assert m.ok("wc -w /tmp/a") == "       5 /tmp/a\n"
    assert m.ok("wc -c /tmp/a") == "      33 /tmp/a\n"
    assert m.ok("wc -L /tmp/a") == "      19 /tmp/a\n"
    assert m.ok("wc -lc /tmp/a /tmp/a") == ("       3      33 /tmp/a\n       3      33 /tmp/a\n"
                                            "       6      66 total\n")
    assert m.ok("wc < /tmp/a") == "       3       5      33\n"
    r = m.sh("wc /nonexistent /tmp/a")
    assert (r.status, r.out, r.err) == (1, "       3       5      33 /tmp/a\n"
                                           "       3       5      33 total\n",
                                        "wc: /nonexistent: No such file or directory\n")


# ------------------------------------------------------------------ grep

def test_grep_matching_and_output_options(m):
    put(m, "/tmp/a", "one", "two", "three", "four", "Two words")
    assert m.ok("grep t /tmp/a") == "two\nthree\n"
    assert m.ok("grep -i TWO /tmp/a") == "two\nTwo words\n"
    assert m.ok("grep -v o /tmp/a") == "three\n"
    assert m.ok("grep -c o /tmp/a") == "4\n"
    assert m.ok("grep -n '^t' /tmp/a") == "2:two\n3:three\n"
    assert m.ok("grep -w words /tmp/a") == "Two words\n"
    assert m.sh("grep -w word /tmp/a").status == 1
    assert m.ok("grep -x two /tmp/a") == "two\n"
    assert m.ok("grep -o 'o[a-z]' /tmp/a") == "on\nou\nor\n"
    assert m.ok("grep -m 2 o /tmp/a") == "one\ntwo\n"
    assert m.ok("grep -e one -e four /tmp/a") == "one\nfour\n"
    assert m.ok("grep -A 1 three /tmp/a") == "three\nfour\n"
    assert m.ok("grep -B 1 -n three /tmp/a") == "2-two\n3:three\n"
    assert m.ok("grep -C1 one /tmp/a") == "one\ntwo\n"         # -C[num]: attached
    assert m.ok("grep -A 0 -e one -e four /tmp/a") == "one\nfour\n"
    assert m.ok("grep -A 1 -e one -e four /tmp/a") == "one\ntwo\n--\nfour\nTwo words\n"
    assert m.ok("grep o /tmp/a /tmp/a").count("/tmp/a:") == 8
    assert m.ok("grep -h one /tmp/a /tmp/a") == "one\none\n"
    assert m.ok("grep -l one /tmp/a /tmp/a") == "/tmp/a\n/tmp/a\n"
    assert m.ok("grep -H one < /tmp/a") == "(standard input):one\n"
    r = m.sh("grep -q one /tmp/a")
    assert (r.status, r.out) == (0, "")
    r = m.sh("grep -L one /tmp/a")        # the status still counts matching lines
    assert (r.status, r.out) == (0, "")
    r = m.sh("grep -L zzz /tmp/a")
    assert (r.status, r.out) == (1, "/tmp/a\n")


def test_grep_regular_expressions(m):
    put(m, "/tmp/a", "a.c", "abc", "aac", "a+c", "x(y)")
    assert m.ok("grep 'a.c' /tmp/a") == "a.c\nabc\naac\na+c\n"
    assert m.ok("grep -F 'a.c' /tmp/a") == "a.c\n"
    assert m.ok("fgrep '(y)' /tmp/a") == "x(y)\n"
    assert m.ok("grep 'a\\{2\\}' /tmp/a") == "aac\n"               # BRE intervals
    assert m.ok("grep -E 'a{2}' /tmp/a") == "aac\n"
    assert m.ok("grep 'a+c' /tmp/a") == "a+c\n"                    # + is literal in a BRE
    assert m.ok("egrep 'a+c' /tmp/a") == "aac\n"
    assert m.ok("egrep 'b|\\(' /tmp/a") == "abc\nx(y)\n"
    assert m.ok("grep '\\(a\\)\\1' /tmp/a") == "aac\n"             # back-references
    assert m.ok("grep '[[:punct:]]c' /tmp/a") == "a.c\na+c\n"
    assert m.ok("grep 'x(y)' /tmp/a") == "x(y)\n"                  # ( is literal in a BRE
    fails(m, "grep 'a[' /tmp/a", 2, "grep: brackets ([ ]) not balanced\n")
    fails(m, "grep -E 'a(' /tmp/a", 2, "grep: parentheses not balanced\n")
    fails(m, "grep 'a\\(' /tmp/a", 2, "grep: parentheses not balanced\n")
    assert m.ok("grep -E 'y)' /tmp/a") == "x(y)\n"               # an unmatched ) is literal


def test_grep_unknown_escapes_are_the_character_itself(m):
    """NetBSD 8's regcomp (Spencer's) gives ``\\c`` for an unlisted c the
    meaning of c: no GNU alternation, word boundary or class; back-references
    only in a BRE; word boundaries are [[:<:]] and [[:>:]]."""
    put(m, "/tmp/a", "a|b", "a]b", "ab", "a b", "b", "a<b", "w1", "x11")
    assert m.ok("grep -o 'a\\|b' /tmp/a") == "a|b\n"             # \| is a '|'
    assert m.ok("grep 'a\\b' /tmp/a") == "ab\n"                   # \b is a 'b'
    assert m.ok("grep -E 'a\\b' /tmp/a") == "ab\n"
    assert m.ok("grep '\\w1' /tmp/a") == "w1\n"                   # \w is a 'w'
    assert m.ok("grep 'a\\<b' /tmp/a") == "a<b\n"                 # \< is a '<'
    assert m.ok("grep '[[:<:]]b' /tmp/a") == "a|b\na]b\na b\nb\na<b\n"
    assert m.ok("grep -E 'a[[:>:]]' /tmp/a") == "a|b\na]b\na b\na<b\n"
    assert m.ok("grep -E '(w)\\1' /tmp/a") == "w1\n"                # ERE: \1 is a '1'
    assert m.ok("grep 'x\\(1\\)\\1' /tmp/a") == "x11\n"             # BRE back-reference


def test_grep_counts_are_strtoull_numbers(m):
    """grep.c: -A/-B/-C/-m are strtoull(3) numbers; a bad one is err(2, NULL)."""
    put(m, "/tmp/a", "one", "two", "three")
    fails(m, "grep -A 1_0 one /tmp/a", 2, "grep: Invalid argument\n")
    fails(m, "grep -m x one /tmp/a", 2, "grep: Invalid argument\n")
    fails(m, "grep -B 99999999999999999999 one /tmp/a", 2, "grep: Result too large or too small\n")
    assert m.ok("grep -A ' 1' one /tmp/a") == "one\ntwo\n"
    assert m.ok("grep -A -1 one /tmp/a") == "one\ntwo\nthree\n"   # 2**64 - 1 lines


def test_grep_files_and_status(m):
    m.ok("mkdir -p /tmp/d/e")
    put(m, "/tmp/d/f", "needle")
    put(m, "/tmp/d/e/g", "hay", "needle too")
    assert m.ok("grep -r needle /tmp/d") == "/tmp/d/e/g:needle too\n/tmp/d/f:needle\n"
    fails(m, "grep needle /tmp/d", 2, "grep: /tmp/d: Is a directory\n")
    fails(m, "grep needle /nonexistent", 2, "grep: /nonexistent: No such file or directory\n")
    fails(m, "grep -s needle /nonexistent", 2, "")
    r = m.sh("grep needle /nonexistent /tmp/d/f")
    assert (r.status, r.out) == (2, "/tmp/d/f:needle\n")     # a match, and trouble
    assert m.sh("grep -q needle /nonexistent /tmp/d/f").status == 0
    assert m.sh("grep nothing /tmp/d/f").status == 1
    fails(m, "grep", 2, "usage: grep [-abcDEFGHhIiJLlmnOoPqRSsUVvwxZz] [-A num] [-B num] "
          "[-C[num]]\n"
          "\t[-e pattern] [-f file] [--binary-files=value] [--color=when]\n"
          "\t[--context[=num]] [--directories=action] [--label] [--line-buffered]\n"
          "\t[--null] [pattern] [file ...]\n")


# ------------------------------------------------------------------ find

@pytest.fixture
def tree(m):
    m.ok("mkdir -p /t/d/e")
    put(m, "/t/d/f1", "hello")
    put(m, "/t/d/e/f2", "hello world and more")
    m.ok("ln -s f1 /t/d/l")
    m.ok("touch /t/d/empty")
    return m


def lines(out: str) -> list[str]:
    return sorted(out.splitlines())


def test_find_primaries(tree):
    m = tree
    assert lines(m.ok("find /t/d")) == ["/t/d", "/t/d/e", "/t/d/e/f2", "/t/d/empty",
                                        "/t/d/f1", "/t/d/l"]
    assert m.ok("find -s /t/d") == "/t/d\n/t/d/e\n/t/d/e/f2\n/t/d/empty\n/t/d/f1\n/t/d/l\n"
    assert lines(m.ok("find /t/d -type f")) == ["/t/d/e/f2", "/t/d/empty", "/t/d/f1"]
    assert m.ok("find /t/d -type l") == "/t/d/l\n"
    assert lines(m.ok("find /t/d -type d")) == ["/t/d", "/t/d/e"]
    assert m.ok("find /t/d -name 'f*2' -print") == "/t/d/e/f2\n"
    assert m.ok("find /t/d -iname F1") == "/t/d/f1\n"
    assert m.ok("find /t/d -path '*e/*'") == "/t/d/e/f2\n"
    assert m.ok("find /t/d -type f -size -1") == "/t/d/empty\n"
    assert m.ok("find /t/d -type f -size 21c") == "/t/d/e/f2\n"
    assert m.ok("find /t/d -empty") == "/t/d/empty\n"
    assert lines(m.ok("find /t/d -maxdepth 1 -type f")) == ["/t/d/empty", "/t/d/f1"]
    assert m.ok("find /t/d -mindepth 2") == "/t/d/e/f2\n"
    assert lines(m.ok("find /t/d ! -type d")) == ["/t/d/e/f2", "/t/d/empty", "/t/d/f1",
                                                  "/t/d/l"]
    assert lines(m.ok("find /t/d \\( -name f1 -o -name f2 \\) -a -type f")) == \
        ["/t/d/e/f2", "/t/d/f1"]
    assert lines(m.ok("find /t/d -user root -group wheel -perm 644")) == \
        ["/t/d/e/f2", "/t/d/empty", "/t/d/f1"]
    assert lines(m.ok("find /t/d -mtime -1 -type f")) == ["/t/d/e/f2", "/t/d/empty", "/t/d/f1"]
    assert m.ok("find /t/d -mtime +1") == ""
    assert m.ok("find /t/d -name e -prune -o -name 'f*' -print") == "/t/d/f1\n"
    assert m.ok("find /t/d/e -print0") == "/t/d/e\0/t/d/e/f2\0"
    depth = m.ok("find /t/d/e -depth")
    assert depth == "/t/d/e/f2\n/t/d/e\n"
    ls = m.ok("find /t/d/e/f2 -ls")
    assert re.fullmatch(r" +\d+ +\d+ -rw-r--r-- +1 root +wheel +21 \w{3} [ \d]\d \d\d:\d\d "
                        r"/t/d/e/f2\n", ls)


def test_find_newer_and_delete(tree):
    m = tree
    m.ok("sleep 1")
    put(m, "/t/d/new", "x")
    assert m.ok("find /t/d -newer /t/d/f1 -type f") == "/t/d/new\n"
    m.ok("find /t/d -name 'f*' -type f -delete")
    assert lines(m.ok("find /t/d")) == ["/t/d", "/t/d/e", "/t/d/empty", "/t/d/l", "/t/d/new"]


def test_find_errors(tree):
    m = tree
    fails(m, "find /t/d -bogus", 1, "find: -bogus: unknown option\n")
    fails(m, "find /t/d -type q", 1, "find: -type: q: unknown type\n")
    fails(m, "find /t/d -name", 1, "find: -name: requires additional arguments\n")
    fails(m, "find /t/d -newer /nonexistent", 1, "find: /nonexistent: No such file or directory\n")
    fails(m, "find /t/d -user nobody", 1, "find: -user: nobody: no such user\n")
    fails(m, "find /t/d \\( -print", 1, "find: (: missing closing ')'\n")
    fails(m, "find", 1, "usage: find [-H | -L | -P] [-dEhsXx] [-f file] file [file ...] "
          "[expression]\n")
    r = m.sh("find /nonexistent /t/d/e")
    assert (r.status, r.out, r.err) == (1, "/t/d/e\n/t/d/e/f2\n",
                                        "find: /nonexistent: No such file or directory\n")


# ------------------------------------------------------------------ du

def test_du_counts_st_blocks(m):
    m.ok("mkdir -p /t/d/e")
    put(m, "/t/d/f", "hello")
    put(m, "/t/d/e/g", "world")

    def blocks(path: str) -> int:
        return st_blocks(m, path)

    e = blocks("/t/d/e") + blocks("/t/d/e/g")
    d = blocks("/t/d") + blocks("/t/d/f") + e
    assert m.ok("du /t/d") == f"{e}\t/t/d/e\n{d}\t/t/d\n"
    assert m.ok("du -s /t/d") == f"{d}\t/t/d\n"
    assert m.ok("du -a /t/d") == (f"{blocks('/t/d/e/g')}\t/t/d/e/g\n{e}\t/t/d/e\n"
                                  f"{blocks('/t/d/f')}\t/t/d/f\n{d}\t/t/d\n")
    assert m.ok("du -k -d 0 /t/d") == f"{(d + 1) // 2}\t/t/d\n"
    assert m.ok("du -sc /t/d /t/d/e") == f"{d}\t/t/d\n{e}\t/t/d/e\n{d + e}\ttotal\n"
    assert m.ok("du -h -s /t/d/f").endswith("\t/t/d/f\n")
    r = m.sh("du /nonexistent /t/d/e")
    assert (r.status, r.out, r.err) == (1, f"{e}\t/t/d/e\n",
                                        "du: /nonexistent: No such file or directory\n")
    fails(m, "du -z", 1, "du: unknown option -- z\n"
          "usage: du [-H | -L | -P] [-a | -d depth | -s] [-cghkmnrx] [file ...]\n")
    usage = "usage: du [-H | -L | -P] [-a | -d depth | -s] [-cghkmnrx] [file ...]\n"
    # -d is atoi(3)'s: a C prefix counts, "x" is 0; past SHRT_MAX is refused
    assert m.ok("du -d 0x9 /t/d") == f"{d}\t/t/d\n"
    assert m.ok("du -d 1_0 /t/d") == f"{e}\t/t/d/e\n{d}\t/t/d\n"
    fails(m, "du -d 32768 /t/d", 1, "du: invalid argument to option d: 32768\n" + usage)
    fails(m, "du -d -1 /t/d", 1, "du: invalid argument to option d: -1\n" + usage)
    fails(m, "du -s -d x /t/d", 1, usage)            # -d given, even as 0


# ------------------------------------------------------------------ chown, chgrp

def test_chown_and_chgrp(m):
    m.ok("mkdir -p /t/d/e")
    put(m, "/t/d/f", "x")
    m.ok("chown 12:34 /t/d/f")
    assert owner(m, "/t/d/f") == ["12:34"]
    m.ok("chgrp 7 /t/d/f")
    assert owner(m, "/t/d/f") == ["12:7"]
    m.ok("chown 5 /t/d/f")
    assert owner(m, "/t/d/f") == ["5:7"]
    m.ok("chown :wheel /t/d/f")
    assert owner(m, "/t/d/f") == ["5:0"]
    m.ok("chown root /t/d/f")
    assert owner(m, "/t/d/f") == ["0:0"]
    m.ok("chown -R 9:9 /t/d")
    assert owner(m, "/t/d", "/t/d/e", "/t/d/f") == ["9:9", "9:9", "9:9"]
    assert m.ok("chown -v root:wheel /t/d") == "/t/d\n"
    m.ok("ln -s f /t/d/l")
    m.ok("chown -h 3 /t/d/l")
    assert owner(m, "/t/d/l", "/t/d/f") == ["3:0", "9:9"]     # the link, not its target
    m.ok("chown 4 /t/d/l")
    assert owner(m, "/t/d/l", "/t/d/f") == ["3:0", "4:9"]     # followed
    fails(m, "chown nobody /t/d/f", 1, "chown: nobody: invalid user name\n")
    fails(m, "chown :bogus /t/d/f", 1, "chown: bogus: invalid group name\n")
    fails(m, "chgrp bogus /t/d/f", 1, "chgrp: bogus: invalid group name\n")
    fails(m, "chown 1 /nonexistent", 1, "chown: /nonexistent: No such file or directory\n")
    fails(m, "chown -f 1 /nonexistent", 0, "")            # -f: no message, no status
    fails(m, "chown 1", 1, "Usage: chown [-R [-H | -L | -P]] [-fhv] "
          "owner:group|owner|:group file ...\n"
          "\tchown [-R [-H | -L | -P]] [-fhv] --reference=rfile file ...\n")
    fails(m, "chgrp", 1, "Usage: chgrp [-R [-H | -L | -P]] [-fhv] group file ...\n"
          "\tchgrp [-R [-H | -L | -P]] [-fhv] --reference=rfile file ...\n")


def test_chown_ids_are_strtoul_numbers(m):
    """chown.c's id(): strtoul(3), all of the word, "#" forcing a number; a
    link met by -R is left alone unless -h."""
    m.ok("mkdir /t")
    put(m, "/t/f", "x")
    m.ok("chown ' 12:+7' /t/f")                       # C white space and sign
    assert owner(m, "/t/f") == ["12:7"]
    m.ok("chown '#0' /t/f")
    assert owner(m, "/t/f") == ["0:7"]
    fails(m, "chown 1_0 /t/f", 1, "chown: 1_0: invalid user name\n")
    fails(m, "chown 99999999999999999999 /t/f", 1,
          "chown: 99999999999999999999: Result too large or too small\n")
    fails(m, "chown -R -L -h 1 /t", 1,
          "chown: the -L and -h options may not be specified together.\n")
    m.ok("ln -s f /t/l")
    m.ok("chown -R 5 /t")
    assert owner(m, "/t/l", "/t/f") == ["0:0", "5:7"]    # the link untouched
    m.ok("chown -R -h 6 /t")
    assert owner(m, "/t/l", "/t/f") == ["6:0", "6:7"]


def test_chown_by_a_user_is_limited_by_the_file_system():
    """What chown(1) calls (chown(2)): an owner may only change the group to
    one of its own; giving a file away or touching another's is EPERM."""
    import kern
    from kern.errno import EPERM
    from kern.fcntl import O_CREAT, O_WRONLY
    from kern.kern_auth import kauth_cred_make
    from kern.machine.testing import errno_of
    from tools.lib import libc

    with kern.boot(seed=3) as k:
        async def make():
            for name in ("/mine", "/roots"):
                await libc.close(await libc.open(name, O_CREAT | O_WRONLY, 0o644))
            await libc.chown("/mine", 100, 100)

        k.run(make)
        user = k.proc_create("user", k.initproc, cred=kauth_cred_make(100, 100))

        async def as_user():
            return [await errno_of(libc.chown("/mine", 0, -1)),
                    await errno_of(libc.chown("/mine", -1, 5)),
                    await errno_of(libc.chown("/roots", 100, 100)),
                    await errno_of(libc.chown("/mine", 100, 100))]

        assert k.run(as_user, proc=user) == [EPERM, EPERM, EPERM, 0]


def test_chown_on_ext2fs_and_puffs(m):
    m.ok("newfs_ext2fs /dev/rwd0")
    m.ok("mount -t ext2fs /dev/wd0 /mnt")
    put(m, "/mnt/f", "x")
    m.ok("chown 12:34 /mnt/f")
    m.ok("umount /mnt")
    m.ok("mount -t ext2fs /dev/wd0 /mnt")
    assert owner(m, "/mnt/f") == ["12:34"]                    # on the disk
    m.ok("mkdir /m")
    m.ok("mount_memfs memfs /m")
    put(m, "/m/f", "x")
    m.ok("chgrp 5 /m/f")
    assert owner(m, "/m/f") == ["0:5"]


# ------------------------------------------------------------------ hexdump, od

def test_hexdump(m):
    put(m, "/tmp/b", "abcdefghijklmnopqrstuvwxyz0123456789")
    assert m.ok("hexdump /tmp/b") == (
        "0000000 6261 6463 6665 6867 6a69 6c6b 6e6d 706f\n"
        "0000010 7271 7473 7675 7877 7a79 3130 3332 3534\n"
        "0000020 3736 3938 000a " + " " * (4 * 5 + 4) + "\n"
        "0000025\n")
    assert m.ok("hexdump -C /tmp/b") == (
        "00000000  61 62 63 64 65 66 67 68  69 6a 6b 6c 6d 6e 6f 70  |abcdefghijklmnop|\n"
        "00000010  71 72 73 74 75 76 77 78  79 7a 30 31 32 33 34 35  |qrstuvwxyz012345|\n"
        "00000020  36 37 38 39 0a                                    |6789.|\n"
        "00000025\n")
    assert m.ok("hexdump -n 4 -s 2 -C /tmp/b") == (
        "00000002  63 64 65 66                                       |cdef|\n00000006\n")
    assert m.ok("hexdump -e '\"%_ad: \" 4/1 \"%02x \" \"\\n\"' -n 8 /tmp/b") == (
        "0: 61 62 63 64\n4: 65 66 67 68\n")      # no space after a last iteration
    assert m.ok("hexdump -c -n 4 /tmp/b") == (
        "0000000   a   b   c   d" + " " * 48 + "\n0000004\n")
    # repeated lines are squeezed into a "*"
    put(m, "/tmp/z", *["x" * 15] * 4)
    assert m.ok("hexdump -C /tmp/z") == (
        "00000000  78 78 78 78 78 78 78 78  78 78 78 78 78 78 78 0a  |xxxxxxxxxxxxxxx.|\n"
        "*\n"
        "00000040\n")
    assert m.ok("hexdump -C < /tmp/b").startswith("00000000  61 62")
    fails(m, "hexdump /nonexistent", 1, "hexdump: /nonexistent: No such file or directory\n")
    fails(m, "hexdump -e '\"%q\"' /tmp/b", 1, "hexdump: %q: bad conversion character\n")
    fails(m, "hexdump -z", 1, "hexdump: unknown option -- z\n"
          "usage: hexdump [-bCcdovx] [-e format_string] [-f format_file] [-n length] "
          "[-s skip] [file ...]\n")


def test_hexdump_numbers_as_the_c_reads_them(m):
    """Counts are atoi(3)'s and skips strtoll(3)'s: a count past an int is not
    a Python error (the C's -1 repetitions print nothing), a block past the
    data-size limit is emalloc's ENOMEM."""
    put(m, "/tmp/h", "hello")
    fmt = "'99999999999999999999/1 \"%x\"'"
    r = m.sh(f"hexdump -e {fmt} /tmp/h")
    assert (r.status, r.out, r.err) == (0, "", "")
    fails(m, "hexdump -e '2147483647/1 \"%x\"' /tmp/h", 1,
          "hexdump: Cannot allocate memory\n")
    fails(m, "hexdump -n 99999999999999999999 /tmp/h", 1,
          "hexdump: 99999999999999999999: bad length value\n")
    assert m.ok("hexdump -n ' 2' -e '\"%c\"' /tmp/h") == "he"
    assert m.ok("hexdump -s 0x3 -e '\"%c\"' /tmp/h") == "lo\n"       # base 0
    assert m.ok("hexdump -v -s 1_0 -e '\"%c\"' /tmp/h") == "ello\n"     # strtoll stops at _


def test_od(m):
    # A partial last line is padded as if the missing units were printed (bpad),
    # and no unit's last iteration ends with its format's trailing space.
    put(m, "/tmp/b", "abcdefghijklmnopqrstuvwxyz0123456789")
    assert m.ok("od /tmp/b") == (
        "0000000   061141  062143  063145  064147  065151  066153  067155  070157\n"
        "0000020   071161  072163  073165  074167  075171  030460  031462  032464\n"
        "0000040   033466  034470  000012 " + " " * (4 * 8 + 7) + "\n"
        "0000045\n")
    assert m.ok("od -c -N 5 /tmp/b") == (
        "0000000    a   b   c   d   e " + " " * (10 * 4 + 3) + "\n0000005\n")
    assert m.ok("od -An -tx1 -N 4 /tmp/b") == (
        " " * 9 + " 61  62  63  64 " + " " * (11 * 4 + 3) + "\n")
    assert m.ok("od -Ax -tx4 -j 16 -N 8 /tmp/b") == (
        "0000010         74737271        78777675 " + " " * (16 + 15) + "\n0000018\n")
    assert m.ok("od -x -N 4 < /tmp/b") == (
        "0000000     6261    6463 " + " " * (5 * 8 + 7) + "\n0000004\n")
    fails(m, "od -Aq /tmp/b", 1, "od: q: invalid address base\n")
    fails(m, "od -t x3 /tmp/b", 1, "od: x3: format not supported\n")
    fails(m, "od -z", 1, "od: unknown option -- z\n"
          "usage: od [-aBbcDdeFfHhIiLlOovXx] [-A base] [-j skip] [-N length] "
          "[-t type_string] [[+]offset[.][Bb]] [file ...]\n")


# ------------------------------------------------------------------ cksum, sum, md5

def test_cksum_sum_md5(m):
    put(m, "/tmp/a", "hello", "world")
    m.ok("touch /tmp/empty")
    assert m.ok("cksum /tmp/a") == "3795442390 12 /tmp/a\n"        # POSIX CRC
    assert m.ok("cksum /tmp/empty") == "4294967295 0 /tmp/empty\n"
    assert m.ok("cksum < /tmp/a") == "3795442390 12\n"
    assert m.ok("sum /tmp/a") == "46769 1 /tmp/a\n"                 # BSD sum (cksum -o 1)
    assert m.ok("cksum -o 1 /tmp/a") == "46769 1 /tmp/a\n"
    assert m.ok("cksum -o 2 /tmp/a") == "1104 1 /tmp/a\n"           # System V sum
    digest = hashlib.md5(b"hello\nworld\n").hexdigest()
    assert m.ok("md5 /tmp/a") == f"MD5 (/tmp/a) = {digest}\n"
    assert m.ok("md5 -n /tmp/a") == f"{digest} /tmp/a\n"
    assert m.ok("md5 < /tmp/a") == f"{digest}\n"
    assert m.ok("md5 -s abc") == 'MD5 ("abc") = 900150983cd24fb0d6963f7d28e17f72\n'
    assert m.ok("cksum -a md5 /tmp/a") == f"MD5 (/tmp/a) = {digest}\n"
    sha = hashlib.sha256(b"hello\nworld\n").hexdigest()
    assert m.ok("cksum -a sha256 /tmp/a") == f"SHA256 (/tmp/a) = {sha}\n"
    r = m.sh("cksum /nonexistent /tmp/a")
    assert (r.status, r.out, r.err) == (1, "3795442390 12 /tmp/a\n",
                                        "cksum: /nonexistent: No such file or directory\n")
    fails(m, "cksum -a bogus /tmp/a", 1, "cksum: unknown algorithm \"bogus\"\n")


# ------------------------------------------------------------------ diff

@pytest.fixture
def xy(m):
    put(m, "/tmp/x", "a", "b", "c", "d")
    put(m, "/tmp/y", "a", "B", "c", "d", "e")
    return m


def test_diff_formats(xy):
    m = xy
    r = m.sh("diff /tmp/x /tmp/y")
    assert (r.status, r.out) == (1, "2c2\n< b\n---\n> B\n4a5\n> e\n")
    out = m.sh("diff -u /tmp/x /tmp/y").out
    head, body = out.split("\n", 2)[:2], out.split("\n", 2)[2]
    assert re.fullmatch(r"--- /tmp/x\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000", head[0])
    assert head[1].startswith("+++ /tmp/y\t")
    assert body == "@@ -1,4 +1,5 @@\n a\n-b\n+B\n c\n d\n+e\n"
    out = m.sh("diff -U 0 -L old -L new /tmp/x /tmp/y").out
    assert out == "--- old\n+++ new\n@@ -2 +2 @@\n-b\n+B\n@@ -4,0 +5 @@\n+e\n"
    out = m.sh("diff -c -L old -L new /tmp/x /tmp/y").out
    assert out == ("*** old\n--- new\n***************\n*** 1,4 ****\n  a\n! b\n  c\n  d\n"
                   "--- 1,5 ----\n  a\n! B\n  c\n  d\n+ e\n")
    assert m.sh("diff -e /tmp/x /tmp/y").out == "4a\ne\n.\n2c\nB\n.\n"
    assert m.sh("diff -f /tmp/x /tmp/y").out == "c2\nB\n.\na4\ne\n.\n"
    assert m.sh("diff -n /tmp/x /tmp/y").out == "d2 1\na2 1\nB\na4 1\ne\n"
    assert m.sh("diff -i /tmp/x /tmp/y").out == "4a5\n> e\n"
    r = m.sh("diff -q /tmp/x /tmp/y")
    assert (r.status, r.out) == (1, "Files /tmp/x and /tmp/y differ\n")
    r = m.sh("diff /tmp/x /tmp/x")
    assert (r.status, r.out) == (0, "")
    assert m.ok("diff -s /tmp/x /tmp/x") == "Files /tmp/x and /tmp/x are identical\n"
    r = m.sh("diff - /tmp/y < /tmp/x")
    assert (r.status, r.out) == (1, "2c2\n< b\n---\n> B\n4a5\n> e\n")


def test_diff_blanks_and_deletions(m):
    put(m, "/tmp/p", "one", "two  words", "three", "four")
    put(m, "/tmp/q", "one", "two words ", "four")
    assert m.sh("diff /tmp/p /tmp/q").out == (
        "2,3c2\n< two  words\n< three\n---\n> two words \n")
    assert m.sh("diff -b /tmp/p /tmp/q").out == "3d2\n< three\n"
    assert m.sh("diff -w /tmp/p /tmp/q").out == "3d2\n< three\n"


def test_diff_directories(m):
    m.ok("mkdir -p /d1/sub /d2/sub")
    put(m, "/d1/f", "a")
    put(m, "/d2/f", "b")
    put(m, "/d1/only", "z")
    put(m, "/d1/sub/s", "same")
    put(m, "/d2/sub/s", "same")
    r = m.sh("diff /d1 /d2")
    assert (r.status, r.out) == (1, "diff /d1/f /d2/f\n1c1\n< a\n---\n> b\n"
                                    "Only in /d1: only\n"
                                    "Common subdirectories: /d1/sub and /d2/sub\n")
    r = m.sh("diff -r -N /d1 /d2")
    assert r.out == ("diff -r -N /d1/f /d2/f\n1c1\n< a\n---\n> b\n"
                     "diff -r -N /d1/only /d2/only\n1d0\n< z\n")
    assert m.sh("diff -rq /d1 /d2").out == "Files /d1/f and /d2/f differ\nOnly in /d1: only\n"
    assert m.sh("diff /tmp/../d1/f /d2").out == "1c1\n< a\n---\n> b\n"     # file vs directory


def test_diff_errors(xy):
    m = xy
    fails(m, "diff /tmp/x /nonexistent", 2, "diff: /nonexistent: No such file or directory\n")
    m.ok("mkdir /tmp/dd")
    fails(m, "diff /tmp/x /tmp/dd", 2, "diff: /tmp/dd/x: No such file or directory\n")
    r = m.sh("diff /tmp/x")
    assert r.status == 2 and r.err.startswith("usage: diff [-abdilpqTtw] [-I pattern]")
    r = m.sh("diff -C x /tmp/x /tmp/y")
    assert r.status == 2 and r.err.startswith("diff: context is invalid: x\nusage: diff ")
    for arg, why in (("1_0", "invalid"), ("' 1 '", "invalid"), ("2147483648", "too large"),
                     ("-1", "too small")):          # strtonum(3), 0 to INT_MAX
        r = m.sh(f"diff -U {arg} /tmp/x /tmp/y")
        assert r.status == 2 and r.err.startswith(f"diff: context is {why}: "), (arg, r)


def test_diff_binary_files(m):
    m.ok("dd if=/dev/rwd0 of=/tmp/z1 bs=16 count=1")         # a fresh disk's zeros
    put(m, "/tmp/z2", "text")
    r = m.sh("diff /tmp/z1 /tmp/z2")
    assert (r.status, r.out) == (1, "Binary files /tmp/z1 and /tmp/z2 differ\n")


# ------------------------------------------------------------------ test, [

@pytest.mark.parametrize("expr,status", [
    ("", 1), ("''", 1), ("x", 0), ("-n ''", 1), ("-n x", 0), ("-z ''", 0), ("-z x", 1),
    ("a = a", 0), ("a != a", 1), ("a '<' b", 0), ("b '>' a", 0),
    ("1 -eq 01", 0), ("1 -ne 1", 1), ("2 -gt 1", 0), ("2 -ge 3", 1), ("1 -lt 2", 0),
    ("-3 -le -3", 0), ("' 7 ' -eq 7", 0),
    ("-e /tmp", 0), ("-d /tmp", 0), ("-f /tmp", 1), ("-e /nonexistent", 1),
    ("! -e /nonexistent", 0), ("-d /tmp -a -f /tmp", 1), ("-d /tmp -o -f /tmp", 0),
    ("'(' 1 -eq 1 ')' -a ! 2 -eq 3", 0), ("-r /tmp", 0), ("-w /tmp", 0), ("-x /tmp", 0),
    ("-s /tmp", 0), ("-L /tmp", 1), ("-h /tmp", 1), ("-t 0", 1), ("-f", 0), ("!", 0),
    ("! ''", 0), ("'(' ')'", 1), ("-b /tmp", 1), ("-b /dev/wd0", 0), ("-c /dev/rwd0", 0),
    ("-c /dev/wd0", 1), ("-p /tmp", 1),
    ("/tmp -ef /tmp/.", 0), ("/tmp -nt /nonexistent", 1), ("= =", 2),
])
def test_test_expressions(m, expr, status):
    r = m.sh(f"test {expr}")
    assert r.status == status, (expr, r)
    assert m.sh(f"[ {expr} ]").status == status


def test_test_files_and_messages(m):
    put(m, "/tmp/f", "x")
    m.ok("touch /tmp/empty")
    m.ok("ln -s f /tmp/l")
    assert m.sh("test -s /tmp/f").status == 0
    assert m.sh("test -s /tmp/empty").status == 1
    assert m.sh("test -L /tmp/l").status == 0
    assert m.sh("test -f /tmp/l").status == 0
    m.ok("sleep 1")
    m.ok("touch /tmp/newer")
    assert m.sh("test /tmp/newer -nt /tmp/f").status == 0
    assert m.sh("test /tmp/newer -ot /tmp/f").status == 1
    fails(m, "test 1 -gt x", 2, "test: x: bad number\n")
    fails(m, "test 99999999999999999999 -gt 1", 2, "test: 99999999999999999999: out of range\n")
    fails(m, "test 1 -lt", 2, "test: -lt: argument expected\n")
    fails(m, "test 1 2 3", 2, "test: 2: unexpected operator\n")
    fails(m, "test '(' 1", 2, "test: closing paren expected\n")
    fails(m, "[ -d /tmp", 2, "[: missing ]\n")


# ------------------------------------------------------------------ kill, ps

def test_kill(m):
    sigs = m.ok("kill -l")
    assert sigs.startswith("HUP INT QUIT ILL TRAP ABRT EMT FPE KILL BUS SEGV SYS PIPE ALRM TERM")
    assert m.ok("kill -l 15") == "TERM\n"
    assert m.ok("kill -l 143") == "TERM\n"                      # an exit status 128+signal
    assert m.ok("kill -l 9") == "KILL\n"
    m.ok("kill -0 1")
    m.ok("kill -s 0 1")
    fails(m, "kill -9 99", 1, "kill: 99: No such process\n")
    fails(m, "kill -s TERM 99", 1, "kill: 99: No such process\n")
    fails(m, "kill x", 1, "kill: illegal process id: x\n")
    r = m.sh("kill -s FOO 1")
    assert r.status == 1 and r.err.startswith("kill: unknown signal FOO; valid signals:\nHUP INT")
    fails(m, "kill -l 200", 1, "kill: unknown signal 200; valid signals:\n" + sigs)
    fails(m, "kill", 1, "usage: kill [-s signal_name] pid ...\n"
          "       kill -l [exit_status]\n"
          "       kill -signal_name pid ...\n"
          "       kill -signal_number pid ...\n")


def test_kill_numbers_are_strtoimax_numbers(m):
    """kill.c 1.27: -l takes a number starting with a digit (else usage), and
    a signal number or pid is all of the word as strtoimax reads it: no
    Python int() spellings, a pid must fit a pid_t."""
    usage = ("usage: kill [-s signal_name] pid ...\n"
             "       kill -l [exit_status]\n"
             "       kill -signal_name pid ...\n"
             "       kill -signal_number pid ...\n")
    fails(m, "kill -l abc", 1, usage)
    fails(m, "kill -l +5", 1, usage)
    fails(m, "kill -l 1_5", 1, "kill: illegal signal number: 1_5\n")
    fails(m, "kill -1_5 1", 1, "kill: illegal signal number: 1_5\n")
    fails(m, "kill 1_0", 1, "kill: illegal process id: 1_0\n")
    fails(m, "kill +99", 1, "kill: +99: No such process\n")          # a C sign
    fails(m, "kill ' 99'", 1, "kill:  99: No such process\n")        # C white space
    fails(m, "kill 4294967396", 1, "kill: illegal process id: 4294967396\n")
    fails(m, "kill 99999999999999999999", 1,
          "kill: illegal process id: 99999999999999999999\n")
    r = m.sh("kill -- 1")                                   # no signal is named "-"
    assert r.status == 1 and r.err.startswith("kill: unknown signal -; valid signals:\n")


def test_kill_list_lines_are_under_80_columns(m):
    lines = m.ok("kill -l").splitlines()
    # printsignals counts each name with a separator: lines stop before 79
    assert all(len(line) + 1 < 80 for line in lines)
    assert lines[0].split()[-1] == "STOP" and lines[1].split()[0] == "TSTP"


def test_ps_options_not_ignored(m):
    """-k sorts (before the default tdev,pid), -p/-U numbers are parsenum's,
    -M opens a crash dump through kvm_openfiles (there is none here)."""
    out = m.ok("ps -ax -o pid= -k vsz")
    pids = [int(x) for x in out.split()]
    assert pids != sorted(pids)            # the largest address space first
    err = m.sh("ps -o pid -p 1 -k user").err
    assert err == "ps: Cannot sort on user, sort key ignored\n"
    fails(m, "ps -p 1,2", 1, "ps: Invalid process id: `1,2'\n")
    fails(m, "ps -p 1_0", 1, "ps: Invalid process id: `1_0'\n")
    fails(m, "ps -p 4294967296", 1, "ps: Out of range process id: `4294967296'\n")
    assert m.ok("ps -o pid= -p 0x1") == "1\n"                           # base 0
    fails(m, "ps -U nosuchuser", 1, "ps: Invalid user name: `nosuchuser'\n")
    fails(m, "ps -M /core", 1, "ps: /core: No such file or directory\n")
    fails(m, "ps -ax /netbsd /core", 1, "ps: /core: No such file or directory\n")
    m.ok("echo x > /tmp/core")
    fails(m, "ps -M /tmp/core", 1, "ps: /netbsd: No such file or directory\n")
    fails(m, "ps -M /tmp/core -N /tmp/core", 1,
          "ps: /tmp/core: crash dumps are not supported by kemu\n")
    assert m.ok("ps -o pid= -p 1 -N /netbsd -W /swap") == "1\n"       # no -M: ignored


def test_ps(m):
    # kemu has no terminals: plain ps (this user's processes on a terminal) lists none.
    assert m.ok("ps") == "PID TTY STAT TIME COMMAND\n"
    out = m.ok("ps -ax")
    rows = out.splitlines()
    assert rows[0] == "PID TTY STAT    TIME COMMAND"
    assert rows[1] == "  0 ?   DKsl 0:00.00 [system]"
    assert rows[2] == "  1 ?   Rs   0:00.00 (init)"
    assert re.fullmatch(r" *\d+ \?   Os   0:00\.00 ps -ax", rows[-1])
    pid = rows[-1].split()[0]
    out = m.ok("ps -o pid,ppid,uid,user,comm,args -p 1")
    assert out == "PID PPID UID USER COMMAND COMMAND\n  1    0   0 root init    (init)\n"
    out = m.ok("ps -o pid= -o comm= -x -p 0")
    assert out == "0 system\n"
    # (the columns are as wide as their widest value: WCHAN's depends on the
    # wmesgs of the moment, so only the order of the fields is pinned)
    assert m.ok("ps -axl").splitlines()[0].split() == (
        "UID PID PPID CPU PRI NI VSZ RSS WCHAN STAT TTY TIME COMMAND").split()
    assert m.ok("ps -axu").splitlines()[0] == (
        "USER PID %CPU %MEM VSZ RSS TTY STAT STARTED    TIME COMMAND")
    assert m.ok("ps -axj").splitlines()[0] == (
        "USER PID PPID PGID SESS JOBC STAT TTY    TIME COMMAND")
    r = m.sh("ps -p 99")
    assert (r.status, r.out) == (1, "PID TTY STAT TIME COMMAND\n")
    assert pid.isdigit()
    r = m.sh("ps -o bogus")
    assert r.status == 1 and r.err.startswith("ps: bogus: keyword not found\n")
    assert "pid" in m.ok("ps -L").split()


def test_ps_shows_arguments_from_the_process_memory(m):
    out = m.ok("ps -o args -x -p 1")
    assert out == "COMMAND\n(init)\n"
    out = m.ok("ps -ww -o args= -ax")
    assert "ps -ww -o args= -ax\n" in out


# ------------------------------------------------------------------ sysctl, uname, date

def test_sysctl_reads(m):
    assert m.ok("sysctl kern.ostype") == "kern.ostype = NetBSD\n"
    assert m.ok("sysctl -n kern.osrelease") == "8.0\n"
    assert m.ok("sysctl kern.osrevision hw.pagesize") == (
        "kern.osrevision = 800000000\nhw.pagesize = 4096\n")
    assert m.ok("sysctl -e hw.machine") == "hw.machine=amd64\n"
    assert m.ok("sysctl -n hw.ncpu") == "1\n"
    assert m.ok("sysctl -x kern.ostype") == "kern.ostype = 4e657442534400\n"
    assert m.ok("sysctl -d kern.hostname") == "kern.hostname: System hostname\n"
    hw = m.ok("sysctl hw")
    assert hw.splitlines()[0] == "hw.machine = amd64"
    assert "hw.machine_arch = x86_64\n" in hw
    all_ = m.ok("sysctl -a")
    assert "kern.hostname = kemu\n" in all_ and hw in all_
    assert re.search(r"^kern\.boottime = \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$", all_, re.M)
    assert m.ok("sysctl kern.clockrate") == (
        "kern.clockrate: tick = 10000, tickadj = 40, hz = 100, profhz = 100, stathz = 100\n")


def test_sysctl_writes_and_errors(m):
    assert m.ok("sysctl -w kern.hostname=box") == "kern.hostname: kemu -> box\n"
    assert m.ok("sysctl -n kern.hostname") == "box\n"
    assert m.ok("uname -n") == "box\n"
    fails(m, "sysctl -w kern.ostype=foo", 1, "sysctl: kern.ostype: Operation not permitted\n")
    # a numeric name component is strtoq(token, &t, 0)'s: octal 01 is 1
    assert m.ok("sysctl kern.01") == "kern.ostype = NetBSD\n"
    fails(m, "sysctl kern.1_0", 1, "sysctl: second level name '1_0' in 'kern.1_0' is invalid\n")
    m.ok("echo x > /tmp/f")
    fails(m, "chmod 1_0 /tmp/f", 1, "chmod: Cannot set file mode `1_0': Invalid argument\n")
    # write_number: strtouq(value, &t, 0), all of the value
    fails(m, "sysctl -w kern.argmax=1_0", 1, "sysctl: 1_0: not a number\n")
    fails(m, "sysctl -w kern.argmax=", 1, "sysctl: : not a number\n")
    fails(m, "sysctl -w kern.argmax=99999999999999999999", 1,
          "sysctl: 99999999999999999999: Result too large or too small\n")
    fails(m, "sysctl -w kern.argmax=0x10", 1, "sysctl: kern.argmax: Operation not permitted\n")
    fails(m, "sysctl -w kern.argmax=+5", 1, "sysctl: kern.argmax: Operation not permitted\n")
    fails(m, "sysctl kern.nonexist", 1,
          "sysctl: second level name 'nonexist' in 'kern.nonexist' is invalid\n")
    fails(m, "sysctl nosuch", 1, "sysctl: top level name 'nosuch' in 'nosuch' is invalid\n")
    fails(m, "sysctl -q kern.nonexist", 1, "")
    fails(m, "sysctl kern.proc2", 1, "sysctl: kern.proc2: use 'ps' to view this information\n")
    fails(m, "sysctl kern.msgbuf", 1,
          "sysctl: kern.msgbuf: use 'dmesg' to view this information\n")
    fails(m, "sysctl", 1, "usage:\tsysctl [-dneq] [-x[x]|-r] variable ...\n"
          "\tsysctl [-ne] [-q] -w variable=value ...\n"
          "\tsysctl [-dne] -a\n\tsysctl [-dne] -A\n\tsysctl [-ne] -M\n"
          "\tsysctl [-dne] [-q] -f file\n")


def test_dmesg_prints_the_messages_not_the_unwritten_buffer(m):
    out = m.ok("dmesg")
    assert "\0" not in out and out.endswith("\n")
    assert out.startswith("kemu: NetBSD-style kernel emulation")


def test_uname(m):
    assert m.ok("uname") == "NetBSD\n"
    assert m.ok("uname -a") == "NetBSD kemu 8.0 NetBSD 8.0 (GENERIC) #0: kemu 0.1.0 amd64\n"
    assert m.ok("uname -s -n -r -m -p") == "NetBSD kemu 8.0 amd64 x86_64\n"
    assert m.ok("uname -v") == "NetBSD 8.0 (GENERIC) #0: kemu 0.1.0\n"
    fails(m, "uname -z", 1, "uname: unknown option -- z\nusage: uname [-amnprsv]\n")
    fails(m, "uname x", 1, "usage: uname [-amnprsv]\n")


def test_a_clock_set_past_localtime_breaks_no_command(m):
    """NetBSD 8's settime1 takes any time from root (kern_time.c's check of
    tv_sec against [0, 2**36] came later), so the clock can be set where
    localtime fails: date reports it, ls -l shows ctime's question marks,
    stat falls back to the epoch, as their C does (review D21)."""
    from tools.lib import libc

    m.ok("echo x > /tmp/late")
    m.k.run(libc.settimeofday, 1 << 62, 0)
    fails(m, "date", 1,
          "date: 4611686018427387904: localtime: Value too large to be stored in data type\n")
    m.ok("touch /tmp/late")
    assert " ???????????? /tmp/late\n" in m.ok("ls -l /tmp/late")       # ls.c printtime
    out = m.ok("stat /tmp/late")
    assert '"Jan  1 00:00:00 1970"' in out
    # setthetime breaks the current time down first: it fails the same way
    fails(m, "date 202001011200", 1,
          "date: 4611686018427387904: localtime: Value too large to be stored in data type\n")
    m.k.run(libc.settimeofday, 1577880000, 0)
    assert m.ok("date +%Y") == "2020\n"


def test_date_shows_and_sets_the_virtual_clock(m):
    now = m.ok("date")
    assert re.fullmatch(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n", now)
    assert m.ok("date -u -r 0") == "Thu Jan  1 00:00:00 UTC 1970\n"
    assert m.ok("date -r 86400 '+%s %A %Y-%m-%d'") == "86400 Friday 1970-01-02\n"
    assert m.ok("date -j 202001011200") == "Wed Jan  1 12:00:00 UTC 2020\n"   # not set
    assert m.ok("date 201901011200") == "Tue Jan  1 12:00:00 UTC 2019\n"
    assert m.ok("date '+%Y%m%d%H%M'") == "201901011200\n"
    assert m.ok("sysctl kern.boottime").startswith("kern.boottime = ")
    assert m.ok("date -j 1230.45 +%T") == "12:30:45\n"
    assert m.ok("date -j +%T 1230.45") == "12:30:45\n"           # operands in either order
    assert m.ok("date -r 0x10 +%s") == "16\n"
    assert m.ok("date -d @86400") == "Fri Jan  2 00:00:00 UTC 1970\n"
    usage = ("Usage: date [-ajnu] [-d date] [-r seconds] [+format] "
             "[[[[[[CC]yy]mm]dd]HH]MM[.SS]]\n")
    fails(m, "date x", 1, "date: Expected digit in canonical time\ndate: x\ndate: ^\n" + usage)
    fails(m, "date -j 20191301", 1, "date: Month out of range in canonical time\n"
          "date: 20191301\ndate:  ^\n" + usage)
    fails(m, "date -j 02301200", 1, "date: Day out of range (max 28) in canonical time\n"
          "date: 02301200\ndate:    ^\n" + usage)                  # 2019 is no leap year
    fails(m, "date -j 123", 1, "date: Not enough digits in canonical time\n"
          "date: 123\ndate:    ^\n" + usage)
    fails(m, "date -j 1200.7", 1, "date: Expected digit in seconds field in canonical time\n"
          "date: 1200.7\ndate:       ^\n" + usage)
    fails(m, "date -r x", 1, "date: x: Invalid number\n")
    fails(m, "date -r 1_0", 1, "date: 1_0: Invalid number\n")
    # strtoll's ERANGE is err(3)'s, a time localtime cannot break down is
    # "localtime" with EOVERFLOW: no Python error (review D20)
    fails(m, "date -r 99999999999999999999", 1,
          "date: 99999999999999999999: Result too large or too small\n")
    fails(m, "date -r 9223372036854775807", 1,
          "date: 9223372036854775807: localtime: Value too large to be stored in data type\n")
    assert m.ok("date -r 99999999999999 +%Y") == "3170843\n"     # a year past 9999 is fine
    fails(m, "date -d tomorrow", 1, "date: tomorrow: Unrecognized date format\n")


def test_diff_header_of_a_time_localtime_cannot_break_down(xy):
    """An mtime past localtime's range (EOVERFLOW) is printed as seconds.nanoseconds,
    as NetBSD 8's (GNU) diff prints it; the comparison goes on as usual."""
    from tools.lib import libc

    m = xy
    m.k.run(lambda: libc.utimes("/tmp/y", ((0, 0), (2**62, 5))))
    r = m.sh("diff -u /tmp/x /tmp/y")
    head = r.out.split("\n")
    assert (r.status, r.err) == (1, "")
    assert re.fullmatch(r"--- /tmp/x\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} \+0000", head[0])
    assert head[1] == f"+++ /tmp/y\t{2**62}.000005000"
    assert "\n".join(head[2:]) == "@@ -1,4 +1,5 @@\n a\n-b\n+B\n c\n d\n+e\n"
