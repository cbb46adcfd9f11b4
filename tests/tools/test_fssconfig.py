"""fssconfig(8) as NetBSD's usr.sbin/fssconfig/fssconfig.c 1.13 (fss-spec §4).

Usage text and exit status, every error message, the list formats, the
argument forms and the backing-store preparation (sparse ftruncate, a
directory giving an unlinked temporary file, -x).
"""

from __future__ import annotations

import ctypes

import pytest

from dev.fss.fssvar import FSS_UNCONFIG_ON_CLOSE, FSSIOFSET
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from kern.machine.testing import MiB
from tests.shell_helpers import kemu_machine
from tools.kemu import parse_drivespec
from tools.lib import libc

USAGE = ("usage: fssconfig [-cxv] device path backup [cluster [size]]\n"
         "       fssconfig -u [-v] device\n"
         "       fssconfig -l [-v] [device]\n")


@pytest.fixture
def m(tmp_path):
    img = kt.make_ext2_image(str(tmp_path / "o.img"), 4 * MiB)
    drive = parse_drivespec(f"key=/dev/wd0,hostpath={img},size=host")
    with kemu_machine(seed=1, drives=[drive]) as km:
        km.ok("mount /dev/wd0 /mnt")
        km.ok("echo data > /mnt/file")
        yield km


@pytest.mark.parametrize("line", [
    "fssconfig",                                 # configure needs three arguments
    "fssconfig fss0 /mnt",
    "fssconfig -c -u fss0",                      # two actions
    "fssconfig -l -u fss0",
    "fssconfig -u fss0 fss1",                    # -u takes exactly one
    "fssconfig -u -x fss0",
    "fssconfig -l fss0 fss1",                    # -l takes at most one
    "fssconfig -l -x",
    "fssconfig -c -c fss0 /mnt /tmp/b",          # an action given twice
    "fssconfig -ll",
    "fssconfig fss0 /mnt /tmp/b 1 2 3",          # more than five
])
def test_usage(m, line):
    r = m.sh(line)
    assert r.status == 1
    assert r.err == USAGE
    assert r.out == ""


def test_unknown_option_is_getopts_message_then_usage(m):
    r = m.sh("fssconfig -z")
    assert (r.status, r.out) == (1, "")
    assert r.err == "fssconfig: unknown option -- z\n" + USAGE


def test_verbose_configure_with_x_makes_the_snapshot_then_usage(m):
    # 1.13's config() lists through list(1, argv), which rejects -x: the
    # snapshot is made (and the backup unlinked), then usage and exit 1.
    r = m.sh("fssconfig -xv fss0 /mnt /tmp/b")
    assert (r.status, r.out, r.err) == (1, "", USAGE)
    assert m.ok("fssconfig -l fss0") == "fss0: /mnt\n"
    assert m.sh("ls /tmp/b").status == 1


def test_persistent_backup_with_extra_arguments_is_usage(m):
    # an existing regular file on the snapshotted fs without SF_SNAPSHOT comes first
    r = m.sh("fssconfig fss0 /mnt /mnt/file")
    assert (r.status, r.err) == (1, "fssconfig: /mnt/file: exists and is not a snapshot\n")


@pytest.mark.parametrize("line,message", [
    ("fssconfig fss0 /nonexistent /tmp/b",
     "fssconfig: stat /nonexistent: No such file or directory\n"),
    ("fssconfig fss0 /mnt /nonexistent/b",
     "fssconfig: create: /nonexistent/b: No such file or directory\n"),
    ("fssconfig fss9 /mnt /tmp/b",
     "fssconfig: open: fss9: No such file or directory\n"),
    # "/" is rootfs: no block device under it
    ("fssconfig fss0 / /mnt/b",
     "fssconfig: /dev/rfss0: FSSIOCSET: No such file or directory\n"),
    # a backup on the snapshotted file system asks for a persistent snapshot
    ("fssconfig fss0 / /tmp/b",
     "fssconfig: /dev/rfss0: FSSIOCSET: Operation not supported\n"),
    ("fssconfig fss0 /mnt /tmp/b bogus",
     "fssconfig: cluster size `bogus': illegal number\n"),
    ("fssconfig fss0 /mnt /tmp/b 4g",
     "fssconfig: cluster size 4294967296 is greater than 2147483647.\n"),
    ("fssconfig fss0 /mnt /tmp/b 64k 1q",
     "fssconfig: bs size `1q': illegal number\n"),
    ("fssconfig -u fss0",
     "fssconfig: /dev/rfss0: FSSIOCCLR: Device not configured\n"),
    ("fssconfig -l fss9",
     "fssconfig: open: fss9: No such file or directory\n"),
])
def test_error_messages(m, line, message):
    r = m.sh(line)
    assert (r.status, r.err) == (1, message)


def test_busy_unit(m):
    m.ok("fssconfig fss0 /mnt /tmp/b")
    r = m.sh("fssconfig fss0 /mnt /tmp/c")
    assert (r.status, r.err) == (1, "fssconfig: /dev/rfss0: FSSIOCSET: Device busy\n")


def test_list_formats(m):
    assert m.ok("fssconfig -l") == ("fss0: not in use\nfss1: not in use\nfss2: not in use\n"
                                    "fss3: not in use\n")
    m.ok("fssconfig fss1 /mnt /tmp/b 8k")
    assert m.ok("fssconfig -l fss1") == "fss1: /mnt\n"
    assert m.ok("fssconfig -l /dev/rfss1") == "/dev/rfss1: /mnt\n"  # as given
    v = m.ok("fssconfig -lv fss1")
    assert v == ("fss1: /mnt, taken 2018-01-23 22:42:29, 512 cluster of 8K, 8K backup\n")

    async def set_unconfig():
        fd = await libc.open("/dev/rfss1", O_RDWR)
        await libc.ioctl(fd, FSSIOFSET, ctypes.c_int(FSS_UNCONFIG_ON_CLOSE))
        await libc.close(fd)  # last close: unconfigures it

    m.k.run(set_unconfig)
    assert m.ok("fssconfig -l fss1") == "fss1: not in use\n"


def test_unconfig_on_close_shown_in_verbose_list(m):
    m.ok("fssconfig fss0 /mnt /tmp/b")

    async def body():
        fd = await libc.open("/dev/rfss0", O_RDWR)
        await libc.ioctl(fd, FSSIOFSET, ctypes.c_int(FSS_UNCONFIG_ON_CLOSE))
        return fd  # kept open: the snapshot lives on

    m.k.run(body)
    assert ", unconfig on close, 64 cluster of 64K, 64K backup\n" in m.ok("fssconfig -lv fss0")


def test_verbose_configure_and_unconfigure_list_the_device(m):
    out = m.ok("fssconfig -v fss0 /mnt /tmp/b")
    assert out.startswith("fss0: /mnt, taken ")
    out = m.ok("fssconfig -u -v fss0")
    assert out.startswith("fss0: /mnt, taken ")
    assert m.ok("fssconfig -l fss0") == "fss0: not in use\n"


def test_backing_file_is_sparse_and_sized_to_the_file_system(m):
    m.ok("fssconfig fss0 /mnt /tmp/back")
    st = m.k.run(libc.stat, "/tmp/back")
    vfs = m.k.run(libc.statvfs, "/mnt")
    assert st.st_size == vfs.f_blocks * vfs.f_frsize
    assert st.st_blocks * 512 < 1 * MiB  # nothing preallocated
    m.ok("fssconfig -u fss0")
    m.ok("fssconfig fss0 /mnt /tmp/back2 64k 8m")
    assert m.k.run(libc.stat, "/tmp/back2").st_size == 8 * MiB


def test_directory_backup_gives_an_unlinked_temporary_file(m):
    m.ok("mkdir /tmp/stores")
    m.ok("fssconfig fss0 /mnt /tmp/stores")
    assert m.ok("ls -A /tmp/stores") == ""  # created by mkstemp, unlinked by the kernel
    assert m.ok("fssconfig -l fss0") == "fss0: /mnt\n"


def test_x_unlinks_the_backup(m):
    m.ok("fssconfig -x fss0 /mnt /tmp/gone")
    r = m.sh("ls /tmp/gone")
    assert r.status == 1
    assert m.ok("fssconfig -l fss0") == "fss0: /mnt\n"


def test_cluster_and_size_suffixes(m):
    m.ok("fssconfig fss0 /mnt /tmp/b 16k 2m")
    assert ", 256 cluster of 16K, 16K backup" in m.ok("fssconfig -lv fss0")
    assert m.k.run(libc.stat, "/tmp/b").st_size == 2 * MiB


def test_fssconfig_is_no_host_command():
    """fssconfig(8) configures a machine's fss devices: it runs in the machine
    (kemu shell, kemu run), not as a host console script, where each call
    would get a fresh machine with nothing mounted."""
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert list(meta["project"]["scripts"]) == ["kemu"]
