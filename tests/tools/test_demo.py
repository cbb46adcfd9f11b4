"""The main job: ``kemu demo`` (tools/examples/snapshot.kemu)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.tools.conftest import kemu_main


def _sections(out: str) -> tuple[str, str]:
    now, snap = out.split("== the file system now (/mnt) ==", 1)[1].split(
        "== the snapshot (/snap) ==", 1)
    return now, snap


def test_demo_on_the_in_memory_disk():
    r = kemu_main("demo")
    assert r.status == 0, r.err
    assert "kemu# newfs_ext2fs /dev/rwd0" in r.out
    now, snap = _sections(r.out)
    assert "report, version 2, rewritten after the snapshot" in now
    assert "new.txt" in now and "hello.txt" not in now
    assert "report, version 1\n" in snap and "version 2" not in snap
    assert "the quick brown fox" in snap and "new.txt" not in snap
    assert "fss0: /mnt, taken " in r.out and " cluster of 64K, " in r.out


@pytest.mark.skipif(shutil.which("mke2fs") is None and shutil.which("/usr/sbin/mke2fs") is None,
                    reason="e2fsprogs not installed")
def test_demo_on_a_given_image(tmp_path):
    img = tmp_path / "disk.img"
    mke2fs = shutil.which("mke2fs") or "/usr/sbin/mke2fs"
    subprocess.run([mke2fs, "-q", "-F", "-t", "ext2", str(img), "8M"], check=True,
                   capture_output=True)
    r = kemu_main("demo", "-d", f"key=/dev/wd0,hostpath={img},size=host")
    assert r.status == 0, r.err
    assert "newfs_ext2fs" not in r.out
    now, snap = _sections(r.out)
    assert "report, version 1\n" in snap
    e2fsck = shutil.which("e2fsck") or "/usr/sbin/e2fsck"
    check = subprocess.run([e2fsck, "-fn", str(img)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
