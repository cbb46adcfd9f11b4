"""Every code block of README.md and docs/*.md runs here, and every docstring example.

A fenced block's info string says how it is treated (its first word, then options):

* ```python -- executed; the python blocks of one file run in order in one
  namespace, in a temporary working directory;
* ```pytest [fails] [PYTEST OPTIONS] -- a test file, ``test_block.py`` in a
  directory of its own, run with ``python -m pytest -q`` and the options
  given (``fails`` marks one whose tests must fail, with a kemu report),
  forked from a process that has imported pytest and kemu
  (tools/lib/forkserver.py);
* ```sh -- shell commands, run for real by ``bash -e`` in a temporary
  directory (one per document, shared by its sh blocks in order) where
  ``.venv`` is this virtual environment, whose bin directory comes first
  on PATH; standard input is empty; Dask starts its worker processes with
  multiprocessing's forkserver method (a setting of how they start, not of
  what they run);
* ```sh parse-only -- commands that cannot run in the suite (installing into
  a virtual environment, running the whole suite): not run, but every
  program must exist and its own parser must accept the options given
  (PARSE_CHECKS says how, for each program such a block may use);
* ```output [vary=NAME,...] -- what the preceding block printed (python:
  its standard output; pytest: pytest's; sh: standard output and error
  together), compared line by line under the rule below;
* ```text -- not code (a diagram): not run.

Comparing an output block with what was printed: trailing blanks and blank
lines at either end do not count; a line that is just ``...`` stands for any
number of lines (none included), and ``...`` inside a line for any text on
that line; everything else must be equal.  In what was printed, the block's
temporary directory reads ``$TMP``.  ``vary=`` names what may differ from run
to run and is replaced by a placeholder on both sides: ``seed`` (the number
after "seed " or "seed="), ``hypothesis-seed`` (the one of
``--hypothesis-seed=``), ``time`` (a duration such as 0.52s), ``blob``
(hypothesis' @reproduce_failure decorator with its arguments), ``schedule``
(a machine's decision count and schedule string, and ``--kemu-replay=``'s).

An unfenced (indented) block, or a fence without one of these words, is an
error: a new doc complies by labelling its blocks.

Docstring examples meant to run are doctests (``>>>``): every module of
kemu that has one is run with doctest here.
"""

from __future__ import annotations

import contextlib
import doctest
import functools
import importlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest

from tests.pytest_child import share_hypothesis_constants
from tools.lib import forkserver

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = ("python", "pytest", "sh", "output", "text")
FENCE = re.compile(r"^```(.*)$")
VENV_BIN = Path(sys.executable).parent
TIMEOUT = 600


class Block:
    def __init__(self, info: str, line: int, text: str) -> None:
        words = info.split()
        self.kind = words[0] if words else ""
        self.options = words[1:]
        self.info = info
        self.line = line
        self.text = text

    def where(self, doc: Path) -> str:
        return f"{doc.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block (and, as kind "indented", every indented one: an error)."""
    out = []
    lines = path.read_text().splitlines()
    i = 0
    prev_blank = True
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            start = i
            i += 1
            body = []
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append(Block(m.group(1).strip(), start + 1, "\n".join(body) + "\n"))
        elif lines[i].startswith("    ") and prev_blank and lines[i].strip() and \
                not lines[i].lstrip().startswith(("*", "-")):
            out.append(Block("indented", i + 1, lines[i]))
        prev_blank = not lines[i].strip()
        i += 1
    return out


# ------------------------------------------------------------------ comparing output

VARY = {
    "seed": (re.compile(r"(?<=seed[ =])\d+"), "<seed>"),
    "hypothesis-seed": (re.compile(r"(?<=--hypothesis-seed=)\d+"), "<seed>"),
    "time": (re.compile(r"\b\d+(?:\.\d+)?s\b"), "<time>"),
    "blob": (re.compile(r"@reproduce_failure\('[^']*', b'[^']*'\)"),
             "@reproduce_failure(<blob>)"),
    "schedule": (re.compile(r"\d+ decisions, schedule k\d+\.[\w-]+|"
                            r"(?<=--kemu-replay=)k\d+\.[\w,.-]+"), "<schedule>"),
}


def _normalise(text: str, vary: list[str]) -> list[str]:
    for name in vary:
        pattern, placeholder = VARY[name]
        text = pattern.sub(placeholder, text)
    lines = [ln.rstrip() for ln in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def output_matches(expected: str, actual: str, vary: list[str] = ()) -> bool:
    """The module docstring's rule: ``...`` lines and ``...`` within a line."""
    parts = []
    for line in _normalise(expected, list(vary)):
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append("[^\n]*?".join(re.escape(p) for p in line.split("...")) + r"\n")
    text = "".join(ln + "\n" for ln in _normalise(actual, list(vary)))
    return re.fullmatch("".join(parts), text) is not None


@pytest.mark.parametrize("expected,actual,ok", [
    ("a\nb\n", "a\nb   \n\n", True),
    ("a\n...\nd\n", "a\nb\nc\nd\n", True),
    ("a\n...\nb\n", "a\nb\n", True),              # ... may stand for no line
    ("x = ...;\n", "x = 42;\n", True),
    ("x = ...;\n", "x = 4\n2;\n", False),         # ... in a line stays in the line
    ("a\nb\n", "a\nc\n", False),
    ("a\n", "a\nb\n", False),                     # no trailing ... : nothing more
    ("...\nb\n...\n", "a\nb\nc\n", True),
])
def test_the_ellipsis_rule(expected, actual, ok):
    assert output_matches(expected, actual) is ok


def test_vary_replaces_on_both_sides():
    assert output_matches("re-run: --hypothesis-seed=123 in 0.52s\n",
                          "re-run: --hypothesis-seed=98765 in 11.02s\n", ["seed", "time"])
    assert output_matches("seed 2: 3 decisions, schedule k1.eNoDAAAAAAE\n--kemu-replay=k1.eNo\n",
                          "seed 2: 5 decisions, schedule k1.eNpjYGBgB-AA\n--kemu-replay=k1.x_y\n",
                          ["schedule"])
    assert output_matches("machine seed 0 --hypothesis-seed=123\n",
                          "machine seed 0 --hypothesis-seed=98765\n", ["hypothesis-seed"])
    assert not output_matches("machine seed 0 --hypothesis-seed=123\n",
                              "machine seed 1 --hypothesis-seed=98765\n", ["hypothesis-seed"])
    assert not output_matches("--hypothesis-seed=123\n", "--hypothesis-seed=98765\n")


# ------------------------------------------------------------------ labels

@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_block_is_labelled(doc):
    bad = [f"{b.where(doc)}: {b.info or 'no label'}" for b in blocks(doc)
           if b.kind not in KINDS]
    assert not bad, "label these code blocks (" + ", ".join(KINDS) + "):\n" + "\n".join(bad)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_output_block_follows_a_block_that_runs(doc):
    prev: Block | None = None
    for b in blocks(doc):
        if b.kind == "output":
            assert prev is not None and prev.kind in ("python", "pytest", "sh") and \
                "parse-only" not in prev.options, \
                f"{b.where(doc)}: an output block must follow a block that runs"
            bad = set(_vary(b)) - set(VARY)
            assert not bad, f"{b.where(doc)}: vary= knows {', '.join(VARY)}, not {bad}"
        elif b.kind != "text":
            prev = b


def _vary(b: Block) -> list[str]:
    return [v for o in b.options if o.startswith("vary=") for v in o[5:].split(",") if v]


# ------------------------------------------------------------------ running a document

# pytest's (_pytest.compat.running_on_ci) and hypothesis' (_settings._CI_VARS) CI markers
_CI_VARS = ("CI", "BUILD_NUMBER", "__TOX_ENVIRONMENT_VARIABLE_ORIGINAL_CI", "TF_BUILD",
            "bamboo.buildKey", "BUILDKITE", "CIRCLECI", "CIRRUS_CI", "CODEBUILD_BUILD_ID",
            "GITHUB_ACTIONS", "GITLAB_CI", "HEROKU_TEST_RUN_ID", "TEAMCITY_VERSION")


class Run:
    """Runs one document's blocks in order, keeping what each printed."""

    def __init__(self, doc: Path, tmp: Path) -> None:
        self.doc = doc
        self.tmp = tmp
        self.ns: dict = {"__name__": f"doc_{doc.stem}"}
        self.sh_dir = tmp / "sh"
        self.sh_dir.mkdir()
        (self.sh_dir / ".venv").symlink_to(Path(sys.prefix))
        self.npytest = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                   COLUMNS="80", PYTHONUNBUFFERED="1")
        env.pop("PYTEST_ADDOPTS", None)
        env.pop("PYTEST_CURRENT_TEST", None)
        # A document shows what a user sees at a terminal: on a CI machine pytest
        # would print whole failure lines and hypothesis would load its "ci"
        # profile (derandomized: no --hypothesis-seed in the re-run line).
        for var in _CI_VARS:
            env.pop(var, None)
        # Dask's worker processes (a `kemu explore` local cluster, `dask worker
        # --nworkers`) forked from multiprocessing's fork server, which imports
        # distributed once (distributed's own test suite runs so), instead of
        # each spawned as a fresh interpreter: the same runs, ~0.3 s of CPU less a worker
        env.setdefault("DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD", "forkserver")
        return env

    def python(self, b: Block) -> str:
        out = io.StringIO()
        cwd = os.getcwd()
        os.chdir(self.tmp)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(b.text, b.where(self.doc), "exec"), self.ns)  # noqa: S102
        finally:
            os.chdir(cwd)
        return out.getvalue().replace(str(self.tmp), "$TMP")

    def pytest(self, b: Block) -> str:
        d = self.tmp / f"pytest{self.npytest}"
        self.npytest += 1
        d.mkdir()
        (d / "test_block.py").write_text(b.text)
        share_hypothesis_constants(d)
        args = [o for o in b.options if o != "fails"]
        # python -m pytest, forked from a process that imported pytest and kemu
        # (tools/lib/forkserver.py): the same run, without the imports' cost
        r = forkserver.run(["-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=d,
                           capture_output=True, text=True, timeout=TIMEOUT, env=self.env())
        if "fails" in b.options:
            assert r.returncode == 1 and "re-run:" in r.stdout, \
                f"{b.where(self.doc)}: expected a failure with a kemu report:\n{r.stdout}"
        else:
            assert r.returncode == 0, f"{b.where(self.doc)}:\n{r.stdout}\n{r.stderr}"
        return r.stdout.replace(str(d), "$TMP")

    def sh(self, b: Block) -> str:
        if "parse-only" in b.options:
            for words in commands(b.text):
                check_parses(words, b.where(self.doc))
            return ""
        r = subprocess.run(["bash", "-e", "-c", b.text], cwd=self.sh_dir,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT, env=self.env())
        assert r.returncode == 0, f"{b.where(self.doc)}: exit status {r.returncode}:\n{r.stdout}"
        return r.stdout.replace(str(self.sh_dir), "$TMP")


def _runnable(doc: Path) -> bool:
    return any(b.kind in ("python", "pytest", "sh") for b in blocks(doc))


@pytest.mark.parametrize("doc", [d for d in DOCS if _runnable(d)], ids=lambda p: p.name)
def test_blocks_run_and_print_what_the_document_shows(doc, tmp_path):
    run = Run(doc, tmp_path)
    printed: str | None = None
    start = time.monotonic()
    for b in blocks(doc):
        if b.kind in ("python", "pytest", "sh"):
            # (shown with the failure: which block a timeout stopped in, and when)
            print(f"{time.monotonic() - start:7.1f} s: {b.where(doc)} ({b.kind}) starts")
            printed = getattr(run, b.kind)(b)
        elif b.kind == "output":
            assert printed is not None
            assert output_matches(b.text, printed, _vary(b)), \
                (f"{b.where(doc)}: the output block does not match what the block before "
                 f"it printed:\n--- shown\n{b.text}--- printed\n{printed}")


# ------------------------------------------------------------------ sh parse-only

def commands(text: str) -> list[list[str]]:
    """The simple commands of a block (split at newlines, ``&&``, ``||``, ``;``
    and ``|``), as words."""
    out = []
    for cmdline in re.split(r"&&|\|\||;|\||\n", text):
        words = shlex.split(cmdline, comments=True)
        if words:
            out.append(words)
    return out


def _program(word: str) -> str:
    """The program a command word runs, found as the shell would (``.venv`` is
    this environment); AssertionError when there is none."""
    if word.startswith(".venv/bin/"):
        path = VENV_BIN / word[len(".venv/bin/"):]
        assert path.exists(), f"{word}: no such program in the virtual environment"
        return path.name
    found = shutil.which(word, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert found, f"{word}: command not found"
    return os.path.basename(word)


def _argparse_ok(parse: Callable[[], object], what: str) -> None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parse()
    except SystemExit as e:
        assert not e.code, f"{what}: {err.getvalue().strip()}"


def _check_pip(args: list[str], where: str) -> None:
    from pip._internal.commands import create_command

    assert args, f"{where}: pip without a command"
    cmd = create_command(args[0])
    opts: list = []
    _argparse_ok(lambda: opts.append(cmd.parse_args(args[1:])), f"{where}: pip {args[0]}")
    options, rest = opts[0]
    for req in [*getattr(options, "editables", []), *rest]:
        m = re.fullmatch(r"(?P<path>[^\[\]]+?)(?:\[(?P<extras>[^\]]*)\])?", req)
        if m and (ROOT / m.group("path")).is_dir():   # a local project: this checkout
            project = ROOT / m.group("path")
            meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
            known = set(meta.get("optional-dependencies", {}))
            extras = {e.strip() for e in (m.group("extras") or "").split(",") if e.strip()}
            assert extras <= known, f"{where}: {req}: no extra {extras - known} " \
                                    f"(pyproject.toml has {sorted(known)})"


def _check_python(args: list[str], where: str) -> None:
    assert len(args) >= 2 and args[0] == "-m", \
        f"{where}: a parse-only python command is 'python -m MODULE ...'"
    module, rest = args[1], args[2:]
    if module == "venv":
        import venv

        made: list = []
        with mock.patch.object(venv.EnvBuilder, "create", lambda self, d: made.append(d)):
            _argparse_ok(lambda: venv.main(rest), f"{where}: python -m venv")
        assert made, f"{where}: python -m venv: no directory"
        return
    if module == "pip":
        _check_pip(rest, where)
        return
    assert importlib.util.find_spec(module), f"{where}: no module {module}"
    parser = getattr(importlib.import_module(module), "_parser", None)
    assert parser is not None, \
        f"{where}: python -m {module}: give the module a _parser() for this check"
    _argparse_ok(lambda: parser().parse_args(rest), f"{where}: python -m {module}")


#: pytest options whose value is the next word (``-n auto``), not a path to collect.
PYTEST_VALUE_OPTIONS = frozenset({"-n", "--numprocesses", "--dist", "-p", "-k", "-m", "-o",
                                  "--maxfail", "--timeout", "--hypothesis-profile"})


def _pytest_paths(args: list[str]) -> list[str]:
    """The paths a pytest command line collects: its words that are neither an
    option nor an option's value."""
    return [a for i, a in enumerate(args)
            if not a.startswith("-") and (i == 0 or args[i - 1] not in PYTEST_VALUE_OPTIONS)]


@functools.cache
def _collects(args: tuple[str, ...]) -> tuple[int, str]:
    """``pytest ARGS --co``'s exit status and standard error; once per process for
    the same words (the README and docs/TESTING.md give the same command)."""
    # --co collects without running; an empty directory when no path is given
    paths = _pytest_paths(list(args))
    with tempfile.TemporaryDirectory() as empty:
        r = forkserver.run(["-m", "pytest", *args, "--co", "-q",
                            "-p", "no:cacheprovider", *([] if paths else [empty])],
                           cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    return r.returncode, r.stderr


def _check_pytest(args: list[str], where: str) -> None:
    returncode, stderr = _collects(tuple(args))
    assert returncode in (0, 5), f"{where}: pytest {' '.join(args)}:\n{stderr}"


def _check_kemu(args: list[str], where: str) -> None:
    from tools.kemu import _parser

    _argparse_ok(lambda: _parser().parse_args(args), f"{where}: kemu")


# How a parse-only block's programs are checked, by program name.
PARSE_CHECKS: dict[str, Callable[[list[str], str], None]] = {
    "python": _check_python, "python3": _check_python,
    "pip": _check_pip, "pip3": _check_pip,
    "pytest": _check_pytest,
    "kemu": _check_kemu,
}


def check_parses(words: list[str], where: str) -> None:
    name = _program(words[0])
    check = PARSE_CHECKS.get(name)
    assert check is not None, \
        f"{where}: no parse check for {name} (add one to PARSE_CHECKS in {__file__})"
    check(words[1:], where)


@pytest.mark.parametrize("line,complaint", [
    ("pip install -q -e '.[tset]'", "no extra {'tset'}"),
    ("pip install --quiett .", "no such option: --quiett"),
    ("python3 -m venv", "python -m venv"),
    ("kemu run --seed x s", "invalid int value"),
    ("kemu frobnicate", "invalid choice"),
    (".venv/bin/nosuch", "no such program"),
    ("python -m tools.nosuch", "no module tools.nosuch"),
    ("python -m tools.seedcov --fail-under x", "invalid float value"),
    ("pytest -q -n auto --no-such-option", "unrecognized arguments: --no-such-option"),
])
def test_parse_only_checks_find_what_is_wrong(line, complaint):
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        for words in commands(line):
            check_parses(words, "here")


def test_pytest_option_values_are_not_paths():
    # "auto" and "loadfile" taken for paths made README's command fail with
    # "file or directory not found: auto"; the case above fails either way.
    assert _pytest_paths("-q -n auto --dist loadfile".split()) == []
    assert _pytest_paths("-k fss -p no:cacheprovider tests/dev -x".split()) == ["tests/dev"]
    assert _pytest_paths("tests/kern -m slow".split()) == ["tests/kern"]


# ------------------------------------------------------------------ docstrings

def _modules_with_examples() -> list[str]:
    out = []
    for top in ("kern", "vfs", "dev", "fs", "tools"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if ">>> " in path.read_text(encoding="utf-8"):
                rel = path.relative_to(ROOT).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                out.append(".".join(parts))
    return out


@pytest.mark.parametrize("modname", _modules_with_examples())
def test_docstring_examples_run(modname):
    mod = importlib.import_module(modname)
    r = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert r.attempted > 0 and r.failed == 0, f"{modname}: {r}"


def test_docstring_examples_found():
    assert "tools.lib.libpuffs" in _modules_with_examples()
    assert os.path.exists(ROOT / "docs" / "TESTING.md")
