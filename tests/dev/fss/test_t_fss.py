"""NetBSD's tests/dev/fss/t_fss.sh, case ``basic``, step by step through the kemu shell.

NetBSD's version makes a 2 MB image with dd, attaches it with vndconfig,
runs newfs and mounts it; kemu attaches the image as a host-file disk
(``-d key=/dev/vnd0,...``, rump's etfs) and formats it with newfs_ext2fs.
The assertion is NetBSD's: the snapshot still reads "Original data" after
the file system has been given "Replacement data".
"""

from __future__ import annotations

from tests.shell_helpers import kemu_machine
from tools.kemu import parse_drivespec

SCRIPT_BODY = """\
mkdir ./m1 ./m2
newfs_ext2fs /dev/rvnd0
mount /dev/vnd0 ./m1
echo "Original data" > ./m1/text
fssconfig -c fss0 ./m1 ./backup
mount -o rdonly /dev/fss0 ./m2
echo "Replacement data" > ./m1/text
"""

CLEANUP = ["umount /dev/fss0", "fssconfig -u fss0", "umount /dev/vnd0"]


def test_basic(tmp_path):
    image = tmp_path / "image"
    # dd if=/dev/zero of=./image bs=32k count=64
    image.write_bytes(bytes(32 * 1024 * 64))
    drive = parse_drivespec(f"key=/dev/vnd0,hostpath={image},size=host")
    with kemu_machine(seed=1, drives=[drive]) as m:
        # fssconfig -l /dev/fss0 > /dev/null, else atf_skip "FSS not available"
        r = m.sh("fssconfig -l /dev/fss0")
        assert r.status == 0, r
        assert r.out == "/dev/fss0: not in use\n"
        m.ok("cd /tmp")
        r = m.script(SCRIPT_BODY)
        assert r.status == 0, r
        # atf_check_equal "Original data" "$(head -1 ./m2/text)"
        assert m.ok("cat ./m2/text").splitlines()[0] == "Original data"
        assert m.ok("cat ./m1/text") == "Replacement data\n"
        for line in CLEANUP:  # cleanup: each step "|| true" in NetBSD
            m.sh(line)
        assert m.ok("fssconfig -l fss0") == "fss0: not in use\n"
        assert "/m1" not in m.ok("mount")
