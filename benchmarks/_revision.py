"""kemu at another git revision, run side by side with this tree in the same benchmark run.

A benchmark that compares against "the revision before this work" needs both
kemus in one run, under the same load, equally warm.  :func:`revision_tree`
exports the revision's files (``git archive``, into a temporary directory:
nothing is added to the repository's worktree list) and builds its native
helper from its own sources; :func:`current_tree` is this checkout.  Both
are :class:`Tree` objects and run the same way:

* as a subprocess of the same interpreter started with ``-S`` (no site
  processing, so the venv's editable-install finder cannot hand out this
  tree's modules to the other one) and ``PYTHONPATH`` = the tree, then
  benchmarks/portable (the stand-alone helpers that run in any revision),
  then the venv's site-packages;
* pinned to one host CPU (:func:`benchmarks._measure.pin_cpu`) by the
  caller, alternately: the rounds of benchmarks._measure.rounds rotate the
  order;
* pytest with the tree's own plugin: the installed kemu's entry point names
  this checkout's plugin module, which the old layout does not have, so
  where the tree's pyproject.toml names another module that entry point is
  blocked and the tree's module loaded (``-p no:kemu -p kern.pytest_plugin``).

Layouts: the revision may have the old layout (24d3ebe: ``lib/``,
``kern/pytest_plugin.py``) or the new one (3f54114 on: ``tools/lib``,
``kern/machine/``); code run in a tree from here imports only what both
have, or goes through benchmarks/portable/kemu_portable.py.

Set ``KEMU_BENCH_REV_CACHE`` to a directory to keep exported trees there and
reuse them (benchmarks/run_all.py does, for one run); otherwise each export
is removed when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks._measure import ROOT, Sample, run_timed

PORTABLE = os.path.join(ROOT, "benchmarks", "portable")

#: The revision issue 13 measures against: main before this round's work
#: (the layout commit); its "before" figures were taken on 24d3ebe.
BASE_REVISION = "3f54114"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", ROOT, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _site_packages() -> list[str]:
    """The site-packages directories this interpreter imports from (the venv's).

    Read from sys.path, not from the site module: in a ``python -S`` process
    (a benchmark run in a tree by this module) site would name the base
    installation's, while sys.path holds what PYTHONPATH passed down.
    """
    return [p for p in sys.path
            if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]


@dataclass
class Tree:
    """A kemu source tree that benchmarks run code in, as a subprocess."""

    root: str
    label: str
    sha: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
        env["PYTHONPATH"] = os.pathsep.join([self.root, PORTABLE, *_site_packages()])
        env.pop("PYTHONDONTWRITEBYTECODE", None)   # both trees keep their .pyc alike
        env.update(extra)
        return env

    def python(self) -> list[str]:
        return [sys.executable, "-S"]

    def run(self, args: Sequence[str], *, n: float = 1.0, cpu: int | None = None,
            timeout: float | None = None, env: dict[str, str] | None = None,
            orphans: bool = False) -> tuple[subprocess.CompletedProcess, Sample]:
        """``python -S args...`` in this tree: the result and its wall/CPU Sample
        (``orphans``: see :func:`benchmarks._measure.run_timed`)."""
        return run_timed([*self.python(), *args], n=n, cpu=cpu, cwd=self.root,
                         env=self.env(**(env or {})), timeout=timeout, orphans=orphans)

    def pytest_plugins(self) -> list[str]:
        """``-p`` options that make pytest load this tree's own plugin.

        pytest autoloads the installed kemu's entry point (this checkout's
        plugin module name); where the tree's pyproject.toml names another
        module for the same entry point (the old layout's
        kern.pytest_plugin), that entry point is blocked and the tree's
        module loaded instead.  Nothing is set in the environment, so
        pytest processes the tests start themselves behave as usual.
        """
        with open(os.path.join(self.root, "pyproject.toml"), "rb") as f:
            meta = tomllib.load(f)
        theirs = meta.get("project", {}).get("entry-points", {}).get("pytest11", {})
        ours = {ep.name: ep.value
                for ep in importlib.metadata.entry_points(group="pytest11")}
        out: list[str] = []
        for name, module in theirs.items():
            if ours.get(name) != module:
                out += ["-p", f"no:{name}", "-p", module]
        return out

    def pytest(self, args: Sequence[str], *, cpu: int | None = None,
               timeout: float | None = None, env: dict[str, str] | None = None,
               orphans: bool = False) -> tuple[subprocess.CompletedProcess, Sample]:
        """pytest in this tree (its own plugin, rootdir and ini options)."""
        return self.run(["-m", "pytest", *self.pytest_plugins(), *args], cpu=cpu,
                        timeout=timeout, env=env, orphans=orphans)

    def native_impl(self) -> str:
        """Which native helper kemu picks in this tree ("cffi" or "python")."""
        p, _ = self.run(["-c", "import kern.native as n; print(n.impl)"], timeout=120)
        return p.stdout.strip() or f"failed: {p.stderr.strip().splitlines()[-1:]}"

    def describe(self) -> str:
        """What runs: "this tree at e75509d3984c (native helper: cffi)"."""
        return f"{self.label} at {self.sha[:12]} (native helper: {self.native_impl()})"


def current_tree() -> Tree:
    """This checkout (uncommitted changes included; also a tree that is not a git checkout)."""
    try:
        sha = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return Tree(ROOT, "this tree (not a git checkout)", "unknown")
    return Tree(ROOT, "this tree" + (" (uncommitted changes)" if dirty else ""), sha)


def resolve(rev: str) -> str:
    """The full commit id of ``rev`` (a ValueError naming it if git does not know it)."""
    try:
        return _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError as e:
        raise ValueError(f"unknown git revision {rev!r}: {e.stderr.strip()}") from None


def _export(sha: str, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", "--format=tar", sha],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {sha} failed")


def _build_native(tree: Tree) -> str:
    """Compile the tree's native helper from its own kern/native/_build.py (best effort)."""
    build = os.path.join(tree.root, "kern", "native", "_build.py")
    if not os.path.exists(build):
        return "no kern/native/_build.py"
    p, _ = tree.run([build], timeout=600)
    if p.returncode != 0:
        return "build failed: " + " | ".join(p.stderr.strip().splitlines()[-2:])
    return "built"


@contextlib.contextmanager
def revision_tree(rev: str, build_native: bool = True) -> Iterator[Tree]:
    """The files of git revision ``rev``, ready to run (its native helper built,
    unless ``build_native`` is false: then it runs on the Python twin)."""
    sha = resolve(rev)
    cache = os.environ.get("KEMU_BENCH_REV_CACHE")
    if cache:
        dest = os.path.join(cache, sha[:12])
        tmp = None
    else:
        tmp = tempfile.mkdtemp(prefix="kemu-rev-")
        dest = os.path.join(tmp, sha[:12])
    tree = Tree(dest, f"revision {rev}", sha)
    done = os.path.join(dest, ".kemu-bench-ready" if build_native else ".kemu-bench-exported")
    try:
        if not os.path.exists(done):
            shutil.rmtree(dest, ignore_errors=True)
            _export(sha, dest)
            if build_native:
                _build_native(tree)
            with open(done, "w") as f:
                f.write(sha + "\n")
        yield tree
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def add_base_arg(ap: Any, default: str | None = BASE_REVISION) -> None:
    """``--base REV`` (and ``--no-base``): the revision to run side by side."""
    ap.add_argument("--base", default=default, metavar="REV",
                    help=f"git revision to run side by side (default {default}; "
                         "24d3ebe, the old layout, works too)")
    ap.add_argument("--no-base", dest="base", action="store_const", const=None,
                    help="do not run another revision")
