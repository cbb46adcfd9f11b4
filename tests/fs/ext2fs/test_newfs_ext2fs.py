"""newfs_ext2fs: images e2fsck calls clean, that mount and work in kemu."""

from __future__ import annotations

import pytest

from tools.newfs_ext2fs import (
    NewfsError,
    main,
    mke2fs_plan,
    newfs_ext2fs,
    newfs_params,
    parse_args,
)

from .helpers import (
    MB,
    assert_clean,
    boot,
    check,
    debugfs,
    debugfs_cat,
    dumpe2fs_h,
    mkdir,
    mount,
    needs_e2fsprogs,
    pattern,
    read_file,
    readdir,
    run_clean,
    stat,
    umount,
    write_file,
)

pytestmark = needs_e2fsprogs


@pytest.mark.parametrize("args", [
    ["-s", "8m"],
    ["-s", "8m", "-O", "1"],
    ["-s", "64m", "-O", "1", "-D", "256"],
    ["-s", "64m", "-O", "1", "-b", "4096"],
    ["-s", "3m"],
    ["-s", "40m", "-O", "1", "-b", "2048", "-i", "8192", "-m", "0"],
    ["-s", "20000"],  # sectors
], ids=lambda a: " ".join(a))
def test_images_are_clean(tmp_path, args):
    img = str(tmp_path / "n.img")
    assert main(["-F", "-V", "0"] + args + [img]) == 0
    assert_clean(img)
    h = dumpe2fs_h(img)
    assert h["Filesystem state"] == "clean"
    ls = debugfs(img, "ls -l /")
    assert "lost+found" in ls
    if "-O" in args:
        assert "resize_inode" in h["Filesystem features"]
        assert "filetype" in h["Filesystem features"]
        assert h["Filesystem revision #"].startswith("1")
    else:
        assert h["Filesystem revision #"].startswith("0")


@pytest.mark.parametrize("rev", ["0", "1"])
def test_newfs_image_mounts_and_works(tmp_path, rev):
    img = str(tmp_path / "w.img")
    assert main(["-F", "-V", "0", "-s", "16m", "-O", rev, img]) == 0
    data = pattern(600 * 1024, 3)

    async def body():
        check(await mount(img))
        error, ents = await readdir("/mnt")
        assert sorted(e[1] for e in ents) == [".", "..", "lost+found"]
        check(await mkdir("/mnt/d"))
        check(await write_file("/mnt/d/f", data))
        check(await umount())
        check(await mount(None))
        assert await read_file("/mnt/d/f") == (0, data)
        error, st = await stat("/mnt/lost+found")
        assert st.st_mode & 0o777 == 0o700
        check(await umount())

    run_clean(img, body)
    assert debugfs_cat(img, "/d/f") == data


def test_dry_run_writes_nothing(tmp_path, capsys):
    img = tmp_path / "dry.img"
    img.write_bytes(bytes(4 * MB))
    assert main(["-N", str(img)]) == 0
    assert img.read_bytes() == bytes(4 * MB)
    out = capsys.readouterr().out
    assert "block size 1024" in out and "block groups" in out


def test_bad_arguments():
    with pytest.raises(NewfsError):
        parse_args(["-b", "1000x", "img"])
    with pytest.raises(NewfsError):
        parse_args(["-D", "512", "img"])
    with pytest.raises(NewfsError):
        mke2fs_plan(newfs_params(fssize=16384, bsize=3000))
    with pytest.raises(NewfsError):
        mke2fs_plan(newfs_params(fssize=16384, bsize=1024, fsize=2048))
    with pytest.raises(NewfsError):
        mke2fs_plan(newfs_params(fssize=16384, bsize=1024, inodesize=256, Oflag=0))
    with pytest.raises(NewfsError):
        mke2fs_plan(newfs_params(fssize=4, bsize=1024))
    assert main(["-F", "-s", "8m", "-b", "512", "/nonexistent/dir/x"]) == 1


def test_library_on_any_pwrite_target(tmp_path):
    """The core writes through whatever has pwrite: here a bytearray."""

    class Mem:
        def __init__(self, n: int) -> None:
            self.buf = bytearray(n)

        def pwrite(self, data: bytes, off: int) -> int:
            self.buf[off:off + len(data)] = data
            return len(data)

    m = Mem(8 * MB)
    pl = newfs_ext2fs(m, newfs_params(fssize=8 * MB // 512, Oflag=1, verbosity=0, now=1000))
    assert pl.bcount == 8192 and pl.ncg == 1
    img = tmp_path / "mem.img"
    img.write_bytes(bytes(m.buf))
    assert_clean(str(img))


def test_newfs_inside_the_machine(tmp_path):
    """The command run in a machine, through open/lseek/pwrite on a block device."""
    from tools.cmds.newfs import main as newfs_ext2fs_main

    img = tmp_path / "dev.img"
    img.write_bytes(bytes(8 * MB))

    async def body():
        from .helpers import attach_image

        check(await attach_image(str(img)))
        rc = await newfs_ext2fs_main(["newfs_ext2fs", "-V", "0", "-O", "1", "/dev/wd0"])
        assert rc == 0
        check(await mount(None))
        check(await write_file("/mnt/x", b"made in kemu"))
        check(await umount())

    with boot() as k:
        k.run(body)
    assert_clean(str(img))
    assert debugfs_cat(str(img), "/x") == b"made in kemu"


def test_size_arguments_are_strtoll_numbers_with_one_suffix():
    """newfs.c's strsuftoi64: strtoll(3) and at most one b/k/m/g/s suffix;
    Python's int() spellings ("1_0") are no numbers."""
    from tools.newfs_ext2fs import NewfsError, strsuftoi64

    assert strsuftoi64("size", "4k", 0, 1 << 40) == (4096, True)
    assert strsuftoi64("size", " 8s", 0, 1 << 40) == (8, False)
    assert strsuftoi64("size", "+2", 0, 1 << 40) == (2, False)
    for bad, why in (("1_0", "is not a valid number."), ("4kb", "is not a valid number."),
                     ("4x", "is not a valid number."),
                     ("99999999999999999999", "is too large to convert."),
                     ("9007199254740992g", "is too large to convert.")):
        with pytest.raises(NewfsError) as ei:
            strsuftoi64("size", bad, 0, 1 << 62)
        assert str(ei.value) == f"size `{bad}' {why}", bad
