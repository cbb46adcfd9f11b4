"""The everyday commands (issue 12): head tail wc grep find du chown/chgrp
hexdump/od cksum/sum/md5 diff test/[ kill ps sysctl uname date, with
NetBSD's options, output formats, messages and exit statuses."""

from __future__ import annotations

import re

from tests.shell_helpers import Kemu


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
