"""kemu's userland commands: NetBSD's options, output formats and messages."""

from __future__ import annotations

import re

from tests.shell_helpers import kemu_machine

# ------------------------------------------------------------------ echo, redirection

def test_echo_and_redirections(m):
    assert m.ok("echo -n a b") == "a b"
    assert m.ok("echo x -n") == "x -n\n"
    assert m.ok("echo one > /tmp/f") == ""
    m.ok("echo two >> /tmp/f")
    assert m.ok("cat /tmp/f") == "one\ntwo\n"
    m.ok("echo three > /tmp/f")
    assert m.ok("cat < /tmp/f") == "three\n"
    r = m.sh("ls /nonexistent 2> /tmp/err")
    assert (r.status, r.err) == (1, "")
    assert m.ok("cat /tmp/err") == "ls: /nonexistent: No such file or directory\n"
    r = m.sh("echo x > /nodir/f")
    assert (r.status, r.err) == (2, "cannot create /nodir/f: directory nonexistent\n")
    r = m.sh("cat < /nofile")
    assert r.err == "cannot open /nofile: no such file\n"


def test_builtins_honour_redirections_for_their_run_only(m):
    m.ok("umask > /tmp/u")
    assert m.ok("cat /tmp/u") == "0022\n"
    r = m.sh("cd /nonexistent 2> /tmp/e")
    assert (r.status, r.err) == (2, "")
    assert m.ok("cat /tmp/e") == "cd: can't cd to /nonexistent\n"
    r = m.sh("umask > /nodir/x")
    assert (r.status, r.err) == (2, "cannot create /nodir/x: directory nonexistent\n")
    # The shell's own descriptors are back.
    assert m.ok("umask") == "0022\n"
    r = m.sh("cd /nonexistent")
    assert r.err == "cd: can't cd to /nonexistent\n"


def test_redirected_file_mode_follows_umask(m):
    m.ok("umask 027")
    m.ok("echo x > /tmp/f")
    assert m.ok("ls -l /tmp/f").startswith("-rw-r-----  1 root  wheel  2 ")
    assert m.ok("umask") == "0027\n"


def test_umask_and_exit_numbers(m):
    m.ok("umask u=rwx,g=rx,o=")               # a symbolic mode: what new files may have
    assert m.ok("umask") == "0027\n"
    for line in ["umask 9", "umask 0o7", "exit +3", "exit -1", "exit 1_0"]:
        r = m.sh(line)
        word, arg = line.split()
        assert (r.status, r.err) == (2, f"{word}: Illegal number: {arg}\n")
    assert m.ok("umask") == "0027\n"


def test_not_found_and_builtins(m):
    r = m.sh("frobnicate")
    assert (r.status, r.err) == (127, "frobnicate: not found\n")
    r = m.sh("cd /nonexistent")
    assert (r.status, r.err) == (2, "cd: can't cd to /nonexistent\n")
    m.ok("mkdir /tmp/d")
    m.ok("cd /tmp/d")
    assert m.ok("pwd") == "/tmp/d\n"
    m.ok("cd ..")
    assert m.ok("pwd") == "/tmp\n"
    m.ok("cd")
    assert m.ok("pwd") == "/\n"
    assert m.sh("true").status == 0 and m.sh("false").status == 1


# ------------------------------------------------------------------ mkdir, rmdir

def test_mkdir_p_and_errors(m):
    m.ok("mkdir -p /tmp/a/b/c")
    m.ok("mkdir -p /tmp/a/b/c")          # existing: fine with -p
    assert m.ok("ls /tmp/a/b") == "c\n"
    r = m.sh("mkdir /tmp/a")
    assert (r.status, r.err) == (1, "mkdir: /tmp/a: File exists\n")
    r = m.sh("mkdir /tmp/x/y")
    assert r.err == "mkdir: /tmp/x/y: No such file or directory\n"
    m.ok("echo > /tmp/file")
    r = m.sh("mkdir -p /tmp/file/sub")
    assert r.err == "mkdir: /tmp/file: Not a directory\n"
    m.ok("mkdir -m 700 /tmp/priv")
    assert m.ok("ls -ld /tmp/priv").startswith("drwx------  ")
    r = m.sh("mkdir")
    assert (r.status, r.err) == (1, "usage: mkdir [-p] [-m mode] dirname ...\n")


def test_mkdir_modes_as_netbsd(m):
    # -p leaves an existing directory alone, -m included.
    m.ok("mkdir -p /tmp/e")
    m.ok("mkdir -p -m 700 /tmp/e")
    assert m.ok("ls -ld /tmp/e").startswith("drwxr-xr-x  ")
    # The intermediate directories get u+wx whatever the umask; the last one the mode.
    m.ok("umask 0222")
    m.ok("mkdir -p /tmp/u/v/w")
    modes = [ln.split()[0] for ln in m.ok("ls -ld /tmp/u /tmp/u/v /tmp/u/v/w").splitlines()]
    assert modes == ["drwxr-xr-x", "drwxr-xr-x", "dr-xr-xr-x"]
    m.ok("umask 022")
    # Bits mkdir(2) does not keep are set with chmod(2).
    m.ok("mkdir -m 1777 /tmp/sticky")
    assert m.ok("ls -ld /tmp/sticky").startswith("drwxrwxrwt  ")
    r = m.sh("mkdir -m q /tmp/q")
    assert (r.status, r.err) == (1, "mkdir: Cannot set file mode `q': Invalid argument\n")
    assert m.sh("ls /tmp/q").status == 1


def test_rmdir(m):
    m.ok("mkdir -p /tmp/a/b")
    r = m.sh("rmdir /tmp/a")
    assert r.err == "rmdir: /tmp/a: Directory not empty\n"
    m.ok("echo > /tmp/keep")
    # -p removes each parent up to the root; it stops at the first it cannot remove.
    r = m.sh("rmdir -p /tmp/a/b/")
    assert (r.status, r.err) == (1, "rmdir: /tmp: Directory not empty\n")
    r = m.sh("ls /tmp/a")
    assert r.status == 1
    m.ok("cd /tmp")
    m.ok("mkdir -p x/y//z")
    m.ok("rmdir -p x/y//z/")               # relative: up to x, and done
    assert m.ok("ls /tmp") == "keep\n"
    r = m.sh("rmdir /tmp/nothing/")         # trailing slashes go, per POSIX
    assert r.err == "rmdir: /tmp/nothing: No such file or directory\n"


# ------------------------------------------------------------------ ls

LS_LONG = re.compile(r"^([-dlbcps][-rwxsStT]{9}) +(\d+) (\S+) +(\S+) +(\S+(?:, +\d+)?) "
                     r"(\w{3} [ \d]\d (?:\d\d:\d\d| \d{4})) (.*)$")


def test_ls_long_format(m):
    m.ok("mkdir /tmp/d")
    m.ok("echo hello > /tmp/d/file")
    m.ok("ln -s file /tmp/d/link")
    m.ok("mkdir /tmp/d/sub")
    out = m.ok("ls -l /tmp/d")
    lines = out.splitlines()
    assert lines[0].startswith("total ")
    for ln in lines[1:]:
        assert LS_LONG.match(ln), ln
    names = [LS_LONG.match(ln).group(7) for ln in lines[1:]]
    assert names == ["file", "link -> file", "sub"]
    file_line = LS_LONG.match(lines[1])
    assert file_line.group(1, 2, 3, 4, 5) == ("-rw-r--r--", "1", "root", "wheel", "6")
    assert file_line.group(6) == "Jan 23 22:42"   # the boot time: 2018-01-23 22:42 UTC
    # the two spaces after the mode and after owner and group, NetBSD's layout
    assert lines[1].startswith("-rw-r--r--  1 root  wheel  ")


def test_ls_devices_numeric_and_flags(m):
    out = m.ok("ls -l /dev/wd0 /dev/rwd0")
    assert re.match(r"^crw-r-----  1 root  wheel  24, 3 \w{3} .* /dev/rwd0$", out.splitlines()[0])
    assert re.match(r"^brw-r-----  1 root  wheel  17, 3 \w{3} .* /dev/wd0$", out.splitlines()[1])
    m.ok("mkdir /tmp/d")
    m.ok("echo > /tmp/d/.hidden")
    m.ok("echo > /tmp/d/b")
    m.ok("echo > /tmp/d/a")
    assert m.ok("ls /tmp/d") == "a\nb\n"
    assert m.ok("ls -a /tmp/d") == ".\n..\n.hidden\na\nb\n"
    assert m.ok("ls -A /tmp/d") == ".hidden\na\nb\n"
    assert m.ok("ls -r /tmp/d") == "b\na\n"
    assert m.ok("ls -F /tmp") == "d/\n"
    assert m.ok("ls -d /tmp/d") == "/tmp/d\n"
    assert m.ok("ls -ln /tmp/d/a").startswith("-rw-r--r--  1 0  0  1 ")
    assert re.match(r"^\d+ a\n\d+ b\n$", m.ok("ls -i /tmp/d"))


def test_ls_operands_and_errors(m):
    m.ok("mkdir /tmp/x /tmp/y")
    m.ok("echo > /tmp/x/1")
    m.ok("echo > /tmp/f")
    assert m.ok("ls /tmp/f /tmp/y /tmp/x") == "/tmp/f\n\n/tmp/x:\n1\n\n/tmp/y:\n"
    m.ok("cd /tmp/x")
    assert m.ok("ls") == "1\n"
    assert m.ok("ls .") == "1\n"
    r = m.sh("ls /tmp/f /nope")
    assert (r.status, r.out, r.err) == (1, "/tmp/f\n", "ls: /nope: No such file or directory\n")
    r = m.sh("ls -Z")
    assert r.err == "ls: unknown option -- Z\nusage: ls [-1AadFilnrt] [file ...]\n"


# ------------------------------------------------------------------ cat, cp, mv, rm, ln

def test_cat(m):
    m.ok("echo a > /tmp/a")
    m.ok("echo b > /tmp/b")
    assert m.ok("cat /tmp/a /tmp/b /tmp/a") == "a\nb\na\n"
    r = m.sh("cat /tmp/a /tmp/none /tmp/b")
    assert (r.status, r.out, r.err) == (1, "a\nb\n", "cat: /tmp/none: No such file or directory\n")
    r = m.sh("cat /tmp")
    assert r.err == "cat: /tmp: Is a directory\n"


def test_cat_reads_the_console(m):
    m.km.console.feed(b"typed input\n")
    assert m.ok("cat") == "typed input\n"
    assert m.ok("cat -") == ""


def test_cp(m):
    m.ok("echo data > /tmp/a")
    m.ok("cp /tmp/a /tmp/b")
    assert m.ok("cat /tmp/b") == "data\n"
    m.ok("mkdir /tmp/d")
    m.ok("cp /tmp/a /tmp/b /tmp/d")
    assert m.ok("ls /tmp/d") == "a\nb\n"
    r = m.sh("cp /tmp/a /tmp/a")
    assert r.err == "cp: /tmp/a and /tmp/a are identical (not copied).\n"
    r = m.sh("cp /tmp/d /tmp/e")
    assert (r.status, r.err) == (1, "cp: /tmp/d is a directory (not copied).\n")
    m.ok("cp -R /tmp/d /tmp/e")
    assert m.ok("ls /tmp/e") == "a\nb\n"
    r = m.sh("cp /tmp/none /tmp/x")
    assert r.err == "cp: /tmp/none: No such file or directory\n"
    r = m.sh("cp /tmp/a /tmp/b /tmp/a")
    assert r.status == 1 and r.err.startswith("usage: cp ")


def test_cp_p_keeps_mode(m):
    m.ok("echo x > /tmp/a")
    m.ok("chmod 751 /tmp/a")
    m.ok("cp -p /tmp/a /tmp/b")
    assert m.ok("ls -l /tmp/b").startswith("-rwxr-x--x  ")


def test_cp_options_and_messages(m):
    m.ok("echo abc > /tmp/a")
    m.ok("ln -s /tmp/a /tmp/la")
    # The target is stat(2)ed, so a link to the source is the source.
    r = m.sh("cp /tmp/a /tmp/la")
    assert (r.status, r.err) == (1, "cp: /tmp/la and /tmp/a are identical (not copied).\n")
    assert m.ok("cat /tmp/a") == "abc\n"
    assert m.ok("cp -v /tmp/a /tmp/c") == "/tmp/a -> /tmp/c\n"
    m.ok("cp -l /tmp/a /tmp/h")
    inodes = {ln.split()[0] for ln in m.ok("ls -i /tmp/a /tmp/h").splitlines()}
    assert len(inodes) == 1
    r = m.sh("cp /tmp/a /tmp/nodir/")
    assert (r.status, r.err) == (1, "cp: directory /tmp/nodir does not exist\n")
    r = m.sh("cp /tmp/a /tmp/c/")
    assert (r.status, r.err) == (1, "cp: /tmp/c is not a directory\n")
    m.ok("mkdir -p /tmp/d/a")
    m.ok("cp -R /tmp/d /tmp/newd/")
    assert m.ok("ls /tmp/newd") == "a\n"
    r = m.sh("cp /tmp/a /tmp/d")
    assert (r.status, r.err) == (
        1, "cp: cannot overwrite directory /tmp/d/a with non-directory /tmp/a\n")
    assert m.ok("cp -Rv /tmp/d /tmp/e") == "/tmp/d -> /tmp/e\n/tmp/d/a -> /tmp/e/a\n"
    # -a is -RpP: the link is copied as a link.
    m.ok("mkdir /tmp/s")
    m.ok("ln -s /tmp/a /tmp/s/l")
    m.ok("cp -a /tmp/s /tmp/t")
    assert m.ok("ls -l /tmp/t/l").endswith(" /tmp/t/l -> /tmp/a\n")


def test_rm(m):
    m.ok("mkdir -p /tmp/d/e")
    m.ok("echo > /tmp/d/e/f")
    m.ok("echo > /tmp/g")
    r = m.sh("rm /tmp/d")
    assert (r.status, r.err) == (1, "rm: /tmp/d: is a directory\n")
    r = m.sh("rm /tmp/none")
    assert r.err == "rm: /tmp/none: No such file or directory\n"
    assert m.sh("rm -f /tmp/none").status == 0
    assert m.sh("rm -f").status == 0
    r = m.sh("rm /tmp/.")
    assert r.err == 'rm: "." and ".." may not be removed\n'
    m.ok("rm -r /tmp/d /tmp/g")
    assert m.ok("ls /tmp") == ""


def test_rm_options_as_netbsd(m):
    m.ok("echo > /tmp/f")
    m.ok("echo > /tmp/g")
    m.ok("mkdir /tmp/d")
    # -f is quiet about every kind of nonexistent name, ENOTDIR too.
    r = m.sh("rm -f /tmp/f/x")
    assert (r.status, r.err) == (0, "")
    r = m.sh("rm /tmp/f/x")
    assert (r.status, r.err) == (1, "rm: /tmp/f/x: Not a directory\n")
    # "." and ".." are dropped first, with one complaint; the rest go.
    r = m.sh("rm -v /tmp/f . /tmp/g ..")
    assert (r.status, r.out, r.err) == (1, "/tmp/f\n/tmp/g\n",
                                        'rm: "." and ".." may not be removed\n')
    assert m.ok("rm -d -v /tmp/d/") == "/tmp/d\n"
    # The last of -f and -i wins.
    assert m.sh("rm -if /tmp/none").status == 0
    r = m.sh("rm -fi /tmp/none")
    assert (r.status, r.err) == (1, "rm: /tmp/none: No such file or directory\n")


def test_ln(m):
    m.ok("echo x > /tmp/f")
    m.ok("ln /tmp/f /tmp/h")
    assert m.ok("ls -l /tmp/h").startswith("-rw-r--r--  2 ")
    m.ok("ln -s /tmp/f /tmp/s")
    assert m.ok("cat /tmp/s") == "x\n"
    r = m.sh("ln -s /tmp/f /tmp/s")
    assert r.err == "ln: /tmp/s: File exists\n"
    m.ok("ln -sf /tmp/h /tmp/s")
    assert m.ok("ls -l /tmp/s").endswith("s -> /tmp/h\n")
    r = m.sh("ln /tmp/none /tmp/n")
    assert r.err == "ln: /tmp/none: No such file or directory\n"
    m.ok("mkdir /tmp/d")
    m.ok("ln /tmp/f /tmp/d")
    assert m.ok("ls /tmp/d") == "f\n"
    assert m.ok("ln -v /tmp/f /tmp/v") == "/tmp/v => /tmp/f\n"
    assert m.ok("ln -sv /tmp/f /tmp/sv") == "/tmp/sv -> /tmp/f\n"
    r = m.sh("ln /tmp/d /tmp/dl")              # hard links to directories: no
    assert (r.status, r.err) == (1, "ln: /tmp/d: Is a directory\n")
    r = m.sh("ln /tmp/f /tmp/h /tmp/nodir")
    assert (r.status, r.err) == (1, "ln: /tmp/nodir: No such file or directory\n")
    r = m.sh("ln /tmp/f /tmp/h /tmp/v")
    assert r.status == 1 and r.err.startswith("usage:\tln ")


def test_mv_within_a_file_system(m):
    m.ok("mkdir -p /tmp/a /tmp/b")
    m.ok("echo moved > /tmp/a/f")
    m.ok("mv /tmp/a/f /tmp/b/g")
    assert m.ok("cat /tmp/b/g") == "moved\n"
    r = m.sh("cat /tmp/a/f")
    assert r.err == "cat: /tmp/a/f: No such file or directory\n"
    m.ok("mv /tmp/b /tmp/c")
    assert m.ok("ls /tmp/c") == "g\n"


def test_mv_across_file_systems_copies(m):
    m.ok("mount -t rootfs rootfs /mnt")
    m.ok("mkdir -p /tmp/d/e")
    m.ok("echo inner > /tmp/d/e/f")
    m.ok("echo top > /tmp/t")
    m.ok("mv /tmp/t /mnt/t")
    m.ok("mv /tmp/d /mnt")
    assert m.ok("cat /mnt/t /mnt/d/e/f") == "top\ninner\n"
    assert m.ok("ls /tmp") == ""
    r = m.sh("mv /tmp/none /mnt")
    assert (r.status, r.err) == (1, "mv: rename /tmp/none to /mnt/none: "
                                    "No such file or directory\n")
    m.ok("echo again > /tmp/t")
    assert m.ok("mv -v /tmp/t /mnt/t") == "/tmp/t -> /mnt/t\n"     # replaces /mnt/t
    assert m.ok("cat /mnt/t") == "again\n"
    m.ok("umount -f /mnt")


def test_touch_chmod_stat(m):
    m.ok("touch /tmp/t")
    assert m.ok("ls -l /tmp/t").startswith("-rw-r--r--  1 root  wheel  0 ")
    m.ok("touch -c /tmp/nothere")
    assert m.sh("ls /tmp/nothere").status == 1
    m.ok("chmod 640 /tmp/t")
    assert m.ok("ls -l /tmp/t").startswith("-rw-r-----")
    m.ok("chmod u+x,g-r,o+w /tmp/t")
    assert m.ok("ls -l /tmp/t").startswith("-rwx----w-")
    m.ok("chmod a=r /tmp/t")
    assert m.ok("ls -l /tmp/t").startswith("-r--r--r--")
    r = m.sh("chmod 888 /tmp/t")
    assert (r.status, r.err) == (1, "chmod: Cannot set file mode `888': Invalid argument\n")
    r = m.sh("chmod 644 /tmp/none")
    assert r.err == "chmod: /tmp/none: No such file or directory\n"
    out = m.ok("stat /tmp/t")
    assert re.match(r'^\d+ \d+ -r--r--r-- 1 root wheel 0 0 "Jan 23 22:42:\d\d 2018" '
                    r'"Jan 23 22:42:\d\d 2018" "Jan 23 22:42:\d\d 2018" '
                    r'"Jan 23 22:42:\d\d 2018" 4096 0 0 /tmp/t\n$', out), out
    r = m.sh("stat /tmp/none")
    assert r.err == "stat: /tmp/none: lstat: No such file or directory\n"


def test_chmod_options_as_netbsd(m):
    m.ok("echo > /tmp/a")
    m.ok("chmod -w /tmp/a")                  # a whole "-w" is the mode
    assert m.ok("ls -l /tmp/a").startswith("-r--r--r--  ")
    m.ok("chmod -- u+w /tmp/a")
    assert m.ok("ls -l /tmp/a").startswith("-rw-r--r--  ")
    # A file that cannot be stat(2)ed is an error even with -f.
    r = m.sh("chmod -f 644 /tmp/none")
    assert (r.status, r.err) == (1, "chmod: /tmp/none: No such file or directory\n")
    r = m.sh("chmod -R -h 644 /tmp/a")
    assert (r.status, r.err) == (1, "chmod: the -R and -h options may not be specified "
                                    "together.\n")
    usage = "Usage: chmod [-R [-H | -L | -P]] [-fh] mode file ...\n"
    r = m.sh("chmod -Z 644 /tmp/a")
    assert (r.status, r.err) == (1, "chmod: unknown option -- Z\n" + usage)
    assert m.sh("chmod 644").err == usage
    # -R walks the tree, changing directories before their contents and
    # leaving symbolic links alone.
    m.ok("mkdir -p /tmp/d/e")
    m.ok("ln -s /tmp/a /tmp/d/l")
    m.ok("chmod -R go-rx /tmp/d")
    modes = [ln.split()[0] for ln in m.ok("ls -ld /tmp/d /tmp/d/e /tmp/a").splitlines()]
    assert modes == ["-rw-r--r--", "drwx------", "drwx------"]


# ------------------------------------------------------------------ dd, cmp

def test_dd_summary_and_copy(m):
    r = m.sh("dd if=/dev/rwd0 of=/tmp/x bs=1k count=3")
    assert r.status == 0
    assert r.err == ("3+0 records in\n3+0 records out\n"
                     "3072 bytes transferred in 0.001 secs (3072000 bytes/sec)\n")
    assert m.ok("ls -l /tmp/x").split()[4] == "3072"
    m.ok("echo abcdefgh > /tmp/in")
    r = m.sh("dd if=/tmp/in of=/tmp/out bs=4")
    assert r.err.startswith("2+1 records in\n2+1 records out\n9 bytes transferred in ")
    assert m.ok("cat /tmp/out") == "abcdefgh\n"
    r = m.sh("dd if=/tmp/in of=/tmp/out bs=2 skip=1 seek=1 count=2 conv=notrunc")
    assert r.err.startswith("2+0 records in\n2+0 records out\n4 bytes ")
    assert m.ok("cat /tmp/out") == "abcdefgh\n"
    m.ok("dd if=/tmp/in of=/tmp/out bs=2 skip=2 seek=1 count=1")
    assert m.ok("cat /tmp/out") == "abef"     # seek= truncates at the end of the copy
    out = m.ok("dd if=/tmp/in bs=3 count=1")
    assert out == "abc"


def test_dd_times_with_the_virtual_clock(m):
    # 2 s of sleep in the middle of nothing: dd measures only its own run.
    m.ok("sleep 2")
    r = m.sh("dd if=/dev/rwd0 of=/tmp/x bs=512 count=1")
    assert r.err.endswith("512 bytes transferred in 0.001 secs (512000 bytes/sec)\n")


def test_dd_errors(m):
    for line, msg in [("dd foo", "dd: unknown operand foo\n"),
                      ("dd foo=1", "dd: unknown operand foo\n"),
                      ("dd bs=", "dd: no value specified for bs\n"),
                      ("dd bs=0", "dd: block size 0 is less than 1.\n"),
                      ("dd count=1q", "dd: block count `1q': illegal number\n"),
                      ("dd count=1x", "dd: block count `': illegal number\n"),
                      ("dd bs=1 bs=2", "dd: bs: illegal argument combination or already set\n"),
                      ("dd conv=ucase", "dd: unknown conversion ucase\n"),
                      ("dd if=/none", "dd: /none: No such file or directory\n")]:
        r = m.sh(line)
        assert (r.status, r.err) == (1, msg), line


def test_cmp(m):
    m.ok("echo 'line one' > /tmp/a")
    m.ok("echo 'line two' >> /tmp/a")
    m.ok("cp /tmp/a /tmp/b")
    assert m.sh("cmp /tmp/a /tmp/b").status == 0
    m.ok("echo 'line one' > /tmp/c")
    m.ok("echo 'line tWo' >> /tmp/c")
    r = m.sh("cmp /tmp/a /tmp/c")
    assert (r.status, r.out, r.err) == (1, "/tmp/a /tmp/c differ: char 16, line 2\n", "")
    r = m.sh("cmp -s /tmp/a /tmp/c")
    assert (r.status, r.out) == (1, "")
    r = m.sh("cmp -l /tmp/a /tmp/c")
    assert (r.status, r.out) == (1, "    16 167 127\n")
    m.ok("echo 'line one' > /tmp/short")
    r = m.sh("cmp /tmp/a /tmp/short")
    assert (r.status, r.err) == (1, "cmp: EOF on /tmp/short\n")
    assert m.sh("cmp /tmp/a /tmp/c 10 10").status == 1
    assert m.sh("cmp /tmp/a /tmp/c 16 16").status == 0
    r = m.sh("cmp /tmp/a /tmp/none")
    assert (r.status, r.err) == (2, "cmp: /tmp/none: No such file or directory\n")
    r = m.sh("cmp /tmp/a")
    assert r.status == 2 and r.err.startswith("usage: cmp")


def test_cmp_names_skips_and_eof_as_netbsd(m):
    m.ok("echo abc > /tmp/a")
    m.ok("echo abd > /tmp/b")
    # "-" is standard input, called "stdin" in the messages.
    m.km.console.feed(b"abc\n")
    r = m.sh("cmp - /tmp/b")
    assert (r.status, r.out) == (1, "stdin /tmp/b differ: char 3, line 1\n")
    # Skips are strtoq(3)'s, base 0: 010 is eight; what follows the digits is ignored.
    r = m.sh("cmp /tmp/a /tmp/b 010 0x8")
    assert (r.status, r.out, r.err) == (1, "", "cmp: EOF on /tmp/a\n")
    r = m.sh("cmp /tmp/a /tmp/b 1x 1y")
    assert r.out == "/tmp/a /tmp/b differ: char 2, line 1\n"
    r = m.sh("cmp /tmp/a /tmp/b x")
    assert (r.status, r.err) == (2, "usage: cmp [-c] [-l | -s] file1 file2 [skip1 [skip2]]\n")
    # The files are opened before the skips are looked at.
    r = m.sh("cmp /tmp/none /tmp/b x")
    assert (r.status, r.err) == (2, "cmp: /tmp/none: No such file or directory\n")
    # -l: every difference, and where the shorter input ended.
    r = m.sh("cmp -l /tmp/a /tmp/b 0 1")
    assert (r.status, r.out, r.err) == (1, "     1 141 142\n     2 142 144\n     3 143  12\n",
                                        "cmp: EOF on /tmp/b: char 4, line 1\n")
    r = m.sh("cmp -l /tmp/a /tmp/b 9")
    assert (r.status, r.err) == (1, "cmp: EOF on /tmp/a: char 5, line 2\n")


# ------------------------------------------------------------------ mount, umount, df

def test_mount_listing_and_rootfs_mount(m):
    assert m.ok("mount") == "rootfs on / type rootfs (local)\n"
    m.ok("mount -t rootfs rootfs /mnt")
    assert m.ok("mount") == ("rootfs on / type rootfs (local)\n"
                             "rootfs on /mnt type rootfs (local)\n")
    assert m.ok("mount -t ext2fs") == ""
    m.ok("mount -u -o ro /mnt")
    assert m.ok("mount").splitlines()[1] == "rootfs on /mnt type rootfs (read-only, local)"
    verbose = m.ok("mount -v").splitlines()[0]
    assert re.match(r"^rootfs on / type rootfs \(local, root file system, fsid: 0x\w+/0x\w+, "
                    r"reads: sync \d+ async \d+, writes: sync \d+ async \d+\)$", verbose)
    m.ok("umount /mnt")
    assert m.ok("mount") == "rootfs on / type rootfs (local)\n"


def test_mount_errors(m):
    for line, msg in [
            ("mount -o bogus rootfs /mnt", "mount: -o bogus: option not supported\n"),
            ("mount /mnt", "mount: /mnt: unknown special file or file system.\n"),
            ("mount -t rootfs rootfs /nodir", "mount: realpath /nodir: No such file or "
                                              "directory\n"),
            ("mount -t nofs x /mnt", "mount: x on /mnt: Operation not supported by device\n"),
            ("mount -t rootfs rootfs /tmp/f", None)]:
        if msg is None:
            m.ok("echo > /tmp/f")
            r = m.sh(line)
            assert r.err == "mount: rootfs on /tmp/f: Not a directory\n"
            continue
        r = m.sh(line)
        assert (r.status, r.err) == (1, msg), line


def test_umount_errors(m):
    r = m.sh("umount /tmp")
    assert (r.status, r.err) == (1, "umount: /tmp: not currently mounted\n")
    r = m.sh("umount /")
    assert r.err == "umount: /: Device busy\n"
    r = m.sh("umount /nonexistent")
    assert r.err == "umount: /nonexistent: not currently mounted\n"
    r = m.sh("umount")
    assert r.err.startswith("usage: umount [-fvFR]")
    m.ok("mount -t rootfs rootfs /mnt")
    assert m.ok("umount -v rootfs") == "rootfs: unmount from /mnt\n"


def test_umount_after_use(m):
    m.ok("mount -t rootfs rootfs /mnt")
    m.ok("echo x > /mnt/f")
    m.ok("cat /mnt/f")
    m.ok("umount /mnt")


def test_df_columns(m):
    out = m.ok("df")
    lines = out.splitlines()
    assert lines[0] == "Filesystem  512-blocks       Used      Avail %Cap Mounted on"
    assert re.match(r"^rootfs      {1,}\d+ +\d+ +\d+ +\d+% /$", lines[1]), lines[1]
    assert len(lines[1]) == len(lines[0].replace("Mounted on", "/"))
    m.ok("mount -t rootfs rootfs /mnt")
    f = m.ok("df /mnt").splitlines()[1].split()
    # rootfs: 4 KiB blocks, 1 Mi of them free: 8388608 512-byte blocks available
    assert f[0] == "rootfs" and f[3] == "8388608" and f[4] == "0%" and f[5] == "/mnt"
    assert int(f[1]) == int(f[2]) + int(f[3])
    k = m.ok("df -k /mnt").splitlines()
    assert k[0].startswith("Filesystem   1K-blocks       Used      Avail %Cap")
    assert k[1].split()[3] == "4194304"
    assert m.ok("df -P /").splitlines()[0] == \
        "Filesystem 512-blocks Used Available Capacity Mounted on"
    r = m.sh("df /nonexistent")
    assert r.err == "df: /nonexistent: No such file or directory\n"
    assert m.ok("df -t ext2fs") == ""


# ------------------------------------------------------------------ modules, dmesg, sleep, sync

def test_modstat_lists_builtins(m):
    out = m.ok("modstat")
    assert out.splitlines()[0] == "NAME             CLASS    SOURCE   FLAG REFS  SIZE    REQUIRES"
    assert "rootfs           vfs      builtin  -    0     -       -" in out.splitlines()
    assert m.ok("modstat -n rootfs").count("\n") == 2
    assert m.ok("modstat nosuch").count("\n") == 1


def test_modload_errors(m):
    r = m.sh("modload nosuch")
    assert (r.status, r.err) == (1, "modload: nosuch: No such file or directory\n")
    r = m.sh("modunload nosuch")
    assert r.err == "modunload: nosuch: No such file or directory\n"
    r = m.sh("modunload rootfs")   # the root file system uses it
    assert r.err == "modunload: rootfs: Device busy\n"
    r = m.sh("modload")
    assert r.status == 1 and r.err.startswith("usage: modload [-fP]")
    r = m.sh("modload -b x=maybe m")
    assert r.err == "modload: Invalid boolean value `maybe'\n"
    r = m.sh("modload -b x m")
    assert (r.status, r.err) == (1, "modload: Invalid parameter `x'\n")
    out = m.ok("modload -p -b a=YES -b b=0 m")
    assert "<key>a</key>\n\t<true/>" in out and "<key>b</key>\n\t<false/>" in out
    out = m.ok("modload -p -i n=3 -s s=x m")
    assert "<key>n</key>" in out and "<integer>3</integer>" in out
    out = m.ok("modload -p -i n=4k m")                 # dehumanize_number(3)
    assert "<integer>4096</integer>" in out
    r = m.sh("modload -p -i n=1_0 m")
    assert (r.status, r.err) == (1, "modload: Invalid integer value `1_0': Unknown error: 0\n")
    r = m.sh("modload -p -i n=3x m")
    assert r.err == "modload: Invalid integer value `3x': Invalid argument\n"


def test_dmesg_sleep_sync(m):
    out = m.ok("dmesg")
    assert out.startswith("kemu: NetBSD-style kernel emulation, seed 1")
    assert "md0: 1048576 bytes of memory disk\n" in out
    async def now():
        from kern.cpu import curmachine

        return curmachine().now()

    before = m.k.run(now)
    m.ok("sleep 1.5")
    assert m.k.run(now) - before >= 1.5
    r = m.sh("sleep")
    assert (r.status, r.err) == (1, "usage: sleep seconds\n")
    assert m.sh("sync").status == 0


# ------------------------------------------------------------------ newfs_ext2fs

def test_newfs_ext2fs_writes_a_super_block(m):
    r = m.sh("newfs_ext2fs /dev/rwd0")
    assert r.status == 0, r
    assert r.out.startswith("/dev/rwd0: 1.0MB (2048 sectors) block size 1024")
    # s_magic at byte 56 of the super block (byte 1024 of the disk): 0xef53, little-endian
    r = m.sh("dd if=/dev/rwd0 bs=1 skip=1080 count=2")
    assert r.err == "dd: /dev/rwd0: Invalid argument\n" + \
        "0+0 records in\n0+0 records out\n0 bytes transferred in 0.001 secs (0 bytes/sec)\n"
    m.ok("dd if=/dev/wd0 bs=1 skip=1080 count=2")
    assert m.out.data == b"\x53\xef"
    # The block device sees what was written on the raw one.
    assert m.sh("cmp /dev/wd0 /dev/rwd0").status == 0


def test_newfs_ext2fs_usage(m):
    r = m.sh("newfs_ext2fs")
    assert r.status == 1 and r.err.startswith("usage: newfs_ext2fs")
    r = m.sh("newfs_ext2fs /dev/none")
    assert r.err == "newfs_ext2fs: /dev/none: No such file or directory\n"


def test_ext2fs_newfs_mount_use_and_busy():
    """The brief's example error, on a real ext2 file system made by newfs_ext2fs."""
    with kemu_machine(seed=1, md_size=4 << 20) as m:
        m.ok("newfs_ext2fs /dev/rwd0")
        m.ok("mount /dev/wd0 /mnt")          # the type comes from the super block
        assert m.ok("mount").splitlines()[1] == "/dev/wd0 on /mnt type ext2fs (local)"
        m.ok("echo hello > /mnt/f")
        assert m.ok("cat /mnt/f") == "hello\n"
        assert m.ok("ls /mnt") == "f\nlost+found\n"
        df = m.ok("df /mnt").splitlines()[1].split()
        assert df[0] == "/dev/wd0" and df[5] == "/mnt"
        r = m.sh("mount /dev/wd0 /mnt")
        assert (r.status, r.err) == (1, "mount: /dev/wd0 on /mnt: Device busy\n")
        r = m.sh("mount -t ext2fs /dev/rwd0 /tmp")
        assert r.status == 1 and r.err.startswith("mount: /dev/rwd0 on /tmp: ")
        m.ok("umount -f /mnt")
        assert m.ok("mount") == "rootfs on / type rootfs (local)\n"
