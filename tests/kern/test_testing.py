"""kern/machine/testing.py's image helper: make_ext2_image's fixed and overridden
mke2fs parameters (the same parameters give the same bytes)."""

from __future__ import annotations

import pytest

from kern.machine import testing as kt
from tests.fs.ext2fs.helpers import dumpe2fs_h

pytestmark = pytest.mark.skipif(bool(kt.e2fsprogs_missing("mke2fs", "dumpe2fs")),
                                reason="e2fsprogs (mke2fs, dumpe2fs) needed")

MiB = 1 << 20
UUID = "6b656d75-e2f5-4000-8000-000000000001"     # make_ext2_image's own
SEED = "6b656d75-e2f5-4000-8000-000000000002"
OTHER_UUID = "0d15ea5e-0000-4000-8000-00000000cafe"
OTHER_SEED = "0d15ea5e-0000-4000-8000-00000000beef"


def _image(tmp_path, name: str, extra: tuple[str, ...] = ()) -> tuple[dict[str, str], bytes]:
    path = kt.make_ext2_image(tmp_path / name, 4 * MiB, extra=extra, mkfs="mke2fs")
    with open(path, "rb") as f:
        return dumpe2fs_h(path), f.read()


def test_extra_may_override_the_uuid_and_the_hash_seed(tmp_path):
    h, plain = _image(tmp_path, "plain.img")
    assert (h["Filesystem UUID"], h["Directory Hash Seed"]) == (UUID, SEED)
    h, _ = _image(tmp_path, "uuid.img", ("-U", OTHER_UUID))
    assert (h["Filesystem UUID"], h["Directory Hash Seed"]) == (OTHER_UUID, SEED)
    h, _ = _image(tmp_path, "seed.img", ("-E", f"hash_seed={OTHER_SEED}"))
    assert (h["Filesystem UUID"], h["Directory Hash Seed"]) == (UUID, OTHER_SEED)
    h, _ = _image(tmp_path, "both.img", ("-U", OTHER_UUID, f"-Ehash_seed={OTHER_SEED}"))
    assert (h["Filesystem UUID"], h["Directory Hash Seed"]) == (OTHER_UUID, OTHER_SEED)
    # an image formatted with extra options is not the cached plain one, nor
    # the other way round
    h, again = _image(tmp_path, "plain2.img")
    assert again == plain and h["Filesystem UUID"] == UUID


def test_other_extended_options_keep_the_fixed_hash_seed(tmp_path, monkeypatch):
    """mke2fs keeps only its last -E: another extended option in ``extra`` must
    not drop the fixed hash seed (a random one: no two images alike)."""
    h, first = _image(tmp_path, "a.img", ("-E", "stride=4"))
    assert (h["RAID stride"], h["Directory Hash Seed"]) == ("4", SEED)
    monkeypatch.setattr(kt, "_formatted", {})   # formatted afresh, not copied: same bytes
    h, second = _image(tmp_path, "b.img", ("-E", "stride=4"))
    assert second == first
