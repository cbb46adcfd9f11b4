"""Branch coverage of the two seeds: ``python -m tools.seedcov [pytest arguments]``.

Runs the project's tests (all of ``tests/`` unless pytest arguments are
given) under ``coverage run --branch`` in a subprocess, then prints, for
dev/fss/fss.py (fss.c 1.104) and fs/puffs/puffs_vfsops.py (puffs_vfsops.c
1.38), the share of branches taken and every branch no test takes, with
its source line::

    dev/fss/fss.py            284 branches, 271 taken: 95.4%
    ...
      1006 -> 1009   if sc.sc_indir_dirty:  ==>  sc.sc_indir_dirty = 0

The percentage is of branches only (``covered_branches / num_branches`` of
coverage's JSON report), not coverage's combined statement-and-branch
figure.  The exit status is 1 when a file is under ``--fail-under``
(default 0: report only), 2 when the test run itself failed.

Modules are executed afresh for every machine under private names
(docs/ARCHITECTURE.md, "Modules"), but from their real file
(``spec_from_file_location`` with the file's path), so their code objects
carry the real file name and coverage attributes every machine's copy to
the one file: no path mapping is needed.  The sync face runs each machine's
trio loop in a thread of its own; coverage traces threads by default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ("dev/fss/fss.py", "fs/puffs/puffs_vfsops.py")


def run_tests(pytest_args: list[str], data_file: str) -> int:
    """``coverage run --branch -m pytest`` over the seeds; pytest's exit status."""
    include = ",".join(str(ROOT / s) for s in SEEDS)
    cmd = [sys.executable, "-m", "coverage", "run", "--branch", f"--data-file={data_file}",
           f"--include={include}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
           *(pytest_args or ["tests"])]
    return subprocess.call(cmd, cwd=ROOT)


def branch_report(data_file: str) -> dict[str, dict]:
    """Per seed: branches, taken, percent, and the missing arcs ``(from, to)``."""
    import coverage

    cov = coverage.Coverage(data_file=data_file)
    cov.load()
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "cov.json")
        cov.json_report(outfile=out, include=[str(ROOT / s) for s in SEEDS])
        with open(out) as f:
            files = json.load(f)["files"]
    report = {}
    for seed in SEEDS:
        entry = next((v for k, v in files.items()
                      if Path(k).resolve() == (ROOT / seed).resolve()), None)
        if entry is None:
            report[seed] = {"branches": 0, "taken": 0, "percent": 0.0, "missing": [],
                            "executed": False}
            continue
        s = entry["summary"]
        n, taken = s["num_branches"], s["covered_branches"]
        report[seed] = {"branches": n, "taken": taken,
                        "percent": 100.0 * taken / n if n else 100.0,
                        "missing": [tuple(a) for a in entry["missing_branches"]],
                        "executed": True}
    return report


def format_report(report: dict[str, dict]) -> str:
    lines = []
    for seed, r in report.items():
        if not r["executed"]:
            lines.append(f"{seed:<26}not executed by these tests")
            continue
        lines.append(f"{seed:<26}{r['branches']:>4} branches, {r['taken']:>4} taken: "
                     f"{r['percent']:.1f}%")
    for seed, r in report.items():
        if not r["missing"]:
            continue
        src = (ROOT / seed).read_text().splitlines()
        lines.append(f"\n{seed}: branches no test takes")
        for a, b in r["missing"]:
            frm = src[a - 1].strip() if 0 < a <= len(src) else "?"
            to = src[b - 1].strip() if 0 < b <= len(src) else "(exit)"
            lines.append(f"  {a:>5} -> {b if b > 0 else 'exit':<5}  {frm}  ==>  {to}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.seedcov",
        description="Branch coverage of dev/fss/fss.py and fs/puffs/puffs_vfsops.py "
                    "over the project's tests.")
    p.add_argument("--fail-under", type=float, default=0.0, metavar="PCT",
                   help="exit 1 if either file's branch coverage is below PCT")
    p.add_argument("--data-file", default=None,
                   help="keep coverage's data here (default: a temporary file)")
    p.add_argument("--report-only", action="store_true",
                   help="do not run the tests; report the data already in --data-file")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER,
                   help="passed to pytest (default: tests); put them after --")
    return p


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    if args.report_only and not args.data_file:
        p.error("--report-only needs --data-file")

    with tempfile.TemporaryDirectory() as d:
        data_file = args.data_file or os.path.join(d, ".coverage")
        status = 0 if args.report_only else run_tests(pytest_args, data_file)
        report = branch_report(data_file)
    print(format_report(report))
    if status not in (0, 5):  # 5: no tests collected
        print(f"seedcov: the test run failed (pytest exit status {status}); "
              "the figures cover the tests that ran", file=sys.stderr)
        return 2
    low = [s for s, r in report.items() if r["percent"] < args.fail_under]
    return 1 if low else 0


if __name__ == "__main__":
    sys.exit(main())
