"""kern/_layout.py: importing kemu stops, naming both, when one of its five
top-level packages is not kemu's (issue 11: a project's own ``tools``, PyPI's
``fs`` installed over kemu's or uninstalled from under it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("kern", "vfs", "dev", "fs", "tools")


def _python(code: str, cwd, path: list[str] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(map(str, path))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def _last_line(r: subprocess.CompletedProcess) -> str:
    return r.stderr.strip().splitlines()[-1]


def test_a_project_package_shadowing_a_sibling_is_named(tmp_path):
    """The project's own ``tools/`` comes first on sys.path (the current directory)."""
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "__init__.py").write_text("")
    r = _python("import kern", tmp_path)
    assert r.returncode == 1
    msg = _last_line(r)
    assert msg.startswith("kern._layout.LayoutError: kemu's package 'kern' "
                          f"({os.path.join(ROOT, 'kern')}) needs kemu's 'tools', but "
                          f"'import tools' finds {tmp_path / 'tools'} instead of "
                          f"{os.path.join(ROOT, 'tools')}: another package named 'tools' "
                          "shadows kemu's"), msg


def test_a_foreign_kern_is_named(tmp_path):
    """kemu's other packages reach kern/_layout.py through ``kern``: with a foreign
    kern first, either Python's ImportError names it (a plain install), or, where
    an editable install's finder still finds kemu's kern._layout, the check does."""
    (tmp_path / "kern").mkdir()
    (tmp_path / "kern" / "__init__.py").write_text("")
    r = _python("import vfs", tmp_path)
    assert r.returncode == 1
    last = _last_line(r)
    assert last in (
        f"ImportError: cannot import name '_layout' from 'kern' "
        f"({tmp_path / 'kern' / '__init__.py'})",
        f"kern._layout.LayoutError: kemu's package 'vfs' ({os.path.join(ROOT, 'vfs')}) "
        f"needs kemu's 'kern', but 'import kern' finds {tmp_path / 'kern'} instead of "
        f"{os.path.join(ROOT, 'kern')}: another package named 'kern' shadows kemu's "
        "(installed, or on sys.path); uninstall or rename it, or put kemu first on sys.path")


def _site(tmp_path, fs_init: str | None) -> str:
    """A site directory as pip leaves it with kemu and PyFilesystem2 (``fs``) both
    installed: kemu's packages, with fs/__init__.py PyFilesystem2's, or gone."""
    site = tmp_path / "site"
    site.mkdir()
    for name in PACKAGES:
        if name != "fs":
            os.symlink(os.path.join(ROOT, name), site / name)
    (site / "fs").mkdir()
    for entry in os.listdir(os.path.join(ROOT, "fs")):
        if entry != "__init__.py":
            os.symlink(os.path.join(ROOT, "fs", entry), site / "fs" / entry)
    if fs_init is not None:
        (site / "fs" / "__init__.py").write_text(fs_init)
    info = site / "fs-2.4.16.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fs\nVersion: 2.4.16\n")
    (info / "top_level.txt").write_text("fs\n")
    (info / "RECORD").write_text("fs/__init__.py,,\n")
    return str(site)


IMPORT_FROM_SITE = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else SITE)
    import kern
""")


def test_a_distribution_installed_over_kemus_package_is_named(tmp_path):
    site = _site(tmp_path, '"""PyFilesystem2"""\n__version__ = "2.4.16"\n')
    r = _python(IMPORT_FROM_SITE.replace("SITE", repr(site)), tmp_path)
    assert r.returncode == 1
    assert _last_line(r) == (
        f"kern._layout.LayoutError: kemu's package 'kern' ({os.path.join(site, 'kern')}) "
        f"needs kemu's 'fs', but {os.path.join(site, 'fs', '__init__.py')} is not kemu's "
        "(another installed distribution also installs 'fs': fs; pip lets both own its "
        "files); uninstall the other distribution and reinstall kemu "
        "(pip install --force-reinstall kemu)")


def test_a_package_whose_init_an_uninstall_removed_is_named(tmp_path):
    site = _site(tmp_path, None)
    r = _python(IMPORT_FROM_SITE.replace("SITE", repr(site)), tmp_path)
    assert r.returncode == 1
    assert f"needs kemu's 'fs', but {os.path.join(site, 'fs', '__init__.py')} is missing " \
           "(another installed distribution also installs 'fs': fs" in _last_line(r)


def test_kemus_own_layout_is_sound():
    from kern._layout import _problem, installed_conflicts

    assert all(_problem(name, ROOT) is None for name in PACKAGES)
    assert installed_conflicts() == {}
