"""Every code block of README.md and docs/*.md runs here, and every docstring example.

A fenced block's info string says how it is treated:

* ```python -- executed; the python blocks of one file run in order in one
  namespace, in a temporary working directory;
* ```pytest -- a test file: written to a temporary directory and run with
  ``python -m pytest`` (``pytest fails`` marks one whose tests must fail);
* ```sh -- shell commands (installing, running tools): checked with
  ``bash -n``, and every program they call must exist after installation;
* ```output (or ```text) -- what a command prints: not run.

An unfenced (indented) block, or a fence without one of these words, is an
error: a new doc complies by labelling its blocks.

Docstring examples meant to run are doctests (``>>>``): every module of
kemu that has one is run with doctest here.
"""

from __future__ import annotations

import doctest
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = ("python", "pytest", "sh", "output", "text")
FENCE = re.compile(r"^```(.*)$")
# programs sh blocks may call: the host's, and what kemu's install provides
PROGRAMS = {"python3", "python", "pip", "pytest", "kemu", "fssconfig", "cd", "bash",
            ".venv/bin/pip", ".venv/bin/pytest", ".venv/bin/kemu", ".venv/bin/python",
            "apt-get", "cat", "mkdir"}


def blocks(path: Path) -> list[tuple[str, int, str]]:
    """(info string, line, text) of every fenced block; indented blocks are an error."""
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
            out.append((m.group(1).strip(), start + 1, "\n".join(body) + "\n"))
        elif lines[i].startswith("    ") and prev_blank and lines[i].strip() and \
                not lines[i].lstrip().startswith(("*", "-")):
            out.append(("indented", i + 1, lines[i]))
        prev_blank = not lines[i].strip()
        i += 1
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_block_is_labelled(doc):
    bad = [f"{doc.name}:{line}: {info or 'no label'}" for info, line, _ in blocks(doc)
           if info.split(" ")[0] not in KINDS]
    assert not bad, "label these code blocks (" + ", ".join(KINDS) + "):\n" + "\n".join(bad)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_sh_blocks_are_valid_commands(doc):
    for info, line, text in blocks(doc):
        if not info.startswith("sh"):
            continue
        r = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
        assert r.returncode == 0, f"{doc.name}:{line}: {r.stderr}"
        for cmdline in re.split(r"&&|\|\||;|\n", text):
            words = shlex.split(cmdline, comments=True)
            if words:
                assert words[0] in PROGRAMS, f"{doc.name}:{line}: unknown program {words[0]}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(doc, tmp_path, monkeypatch):
    code = [(line, text) for info, line, text in blocks(doc) if info == "python"]
    if not code:
        pytest.skip(f"{doc.name} has no python blocks")
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": f"doc_{doc.stem}"}
    for line, text in code:
        exec(compile(text, f"{doc.name}:{line}", "exec"), ns)  # noqa: S102


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_pytest_blocks_pass_or_fail_as_marked(doc, tmp_path):
    tests = [(info, line, text) for info, line, text in blocks(doc) if info.startswith("pytest")]
    if not tests:
        pytest.skip(f"{doc.name} has no pytest blocks")
    for n, (info, line, text) in enumerate(tests):
        d = tmp_path / f"block{n}"
        d.mkdir()
        (d / f"test_block{n}.py").write_text(text)
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=d, capture_output=True, text=True, timeout=600)
        if "fails" in info:
            assert r.returncode == 1 and "re-run:" in r.stdout, \
                f"{doc.name}:{line}: expected a failure with a kemu report:\n{r.stdout}"
        else:
            assert r.returncode == 0, f"{doc.name}:{line}:\n{r.stdout}\n{r.stderr}"


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
