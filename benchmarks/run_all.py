"""Run the benchmarks and write their figures into docs/STATUS.md.

    python benchmarks/run_all.py [--quick] [--only NAME,NAME...] [--base REV] [--print]
    python benchmarks/run_all.py --render-only

Runs each benchmark under benchmarks/ (all, or ``--only`` those) as a
subprocess with ``--json``, in their ``--quick`` mode if asked, showing
their output as they go.  Every report lands in docs/benchmarks.json (one
entry per benchmark: its figures, command line, date, machine and load;
entries of benchmarks not run this time are kept), and the part of
docs/STATUS.md between the markers

    <!-- benchmarks: begin -->  ...  <!-- benchmarks: end -->

is rewritten from that file: a table of issue 13's targets (met or not),
then each benchmark's figures with the command that produced them.
Everything outside the markers is written by hand and left as it is.
``--print`` shows the block instead of writing; ``--render-only`` rewrites
the block from docs/benchmarks.json without running anything.

One export of the base revision serves every benchmark of the run
(``KEMU_BENCH_REV_CACHE``, removed at the end).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import ROOT, loadavg, machine_info  # noqa: E402
from benchmarks._measure import fmt_num as _n  # noqa: E402

#: The benchmarks, in the order they run and appear.
BENCHMARKS = ("bench_kern", "bench_native", "bench_fss", "bench_vfs", "bench_puffs",
              "bench_pipe", "bench_sweep", "bench_sweep_memory", "bench_race", "bench_suite",
              "bench_explore")
#: Those that take --base.
WITH_BASE = ("bench_vfs", "bench_sweep", "bench_race", "bench_suite")

#: More target rows than this in one benchmark are summed up in one line of the targets
#: table (their own table lists them all).
GROUP = 6

STATUS = os.path.join(ROOT, "docs", "STATUS.md")
DATA = os.path.join(ROOT, "docs", "benchmarks.json")
BEGIN = "<!-- benchmarks: begin"
END = "<!-- benchmarks: end -->"


# ================================================================== running

def run_one(name: str, flags: list[str], outdir: str) -> dict[str, Any]:
    """Run benchmarks/<name>.py with ``flags``: its JSON report, or a failure record."""
    out = os.path.join(outdir, name + ".json")
    cmd = [sys.executable, os.path.join("benchmarks", name + ".py"), *flags, "--json", out]
    shown = " ".join(["python", *cmd[1:-2]])
    print(f"\n$ {shown}", flush=True)
    t0 = datetime.datetime.now(datetime.UTC)
    load0 = loadavg()
    p = subprocess.run(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    if p.returncode == 0 and os.path.exists(out):
        with open(out) as f:
            rep = json.load(f)
    else:
        sys.stderr.write(p.stderr[-4000:])
        rep = {"bench": name, "title": name, "figures": [], "started": t0.timestamp(),
               "load_before": load0, "load_after": loadavg(), "machine": machine_info(),
               "notes": [f"failed (exit {p.returncode}): "
                         + " | ".join(p.stderr.strip().splitlines()[-3:])]}
    rep["command"] = shown
    return rep


def load_data(path: str = DATA) -> dict[str, Any]:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_data(data: dict[str, Any], path: str = DATA) -> None:
    with open(path, "w") as f:
        json.dump({k: data[k] for k in BENCHMARKS if k in data}, f, indent=1, sort_keys=True)
        f.write("\n")


# ================================================================== rendering

def _spread(s: dict[str, Any] | None, unit: str) -> str:
    if s is None:
        return ""
    u = "x" if unit == "x" else (f" {unit}" if unit else "")
    if s["count"] == 1:
        return f"{_n(s['median'])}{u}"
    return f"{_n(s['median'])}{u} ({_n(s['lo'])}–{_n(s['hi'])})"


def _target(f: dict[str, Any]) -> str:
    t = f.get("target")
    if not t:
        return ""
    op = {">=": "≥", "<=": "≤"}[t["op"]]
    basis = ("" if f.get("kind") == "value" and t["basis"] in ("cpu", "wall")
             else f" ({t['basis']})")
    return f"{op} {t['bound']:.3g}{basis}"


def _met(f: dict[str, Any]) -> str:
    if not f.get("target"):
        return ""
    if f.get("met") is None:
        return "not measured"
    return "met" if f["met"] else "**not met**"


def _when(rep: dict[str, Any]) -> str:
    t = datetime.datetime.fromtimestamp(rep.get("started", 0), datetime.UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _load(rep: dict[str, Any]) -> str:
    b, a = rep.get("load_before"), rep.get("load_after")
    if not b or not a:
        return "load unknown"
    return f"load average {b[0]:.1f} before, {a[0]:.1f} after"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(data: dict[str, Any]) -> str:
    """The generated block (between the markers, markers included)."""
    lines = [BEGIN + " (written by benchmarks/run_all.py from docs/benchmarks.json; "
             "edit neither by hand) -->", ""]
    reps = [data[k] for k in BENCHMARKS if k in data]
    if not reps:
        return "\n".join([*lines, "No benchmark has been run yet.", "", END])
    m = reps[-1].get("machine", {})
    dates = sorted(_when(r) for r in reps)
    lines += [
        f"Measured {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
        + f" on {m.get('cpus')} CPUs ({m.get('cpu_model')}), Python {m.get('python')}, "
        f"trio {m.get('trio')}, native helper {m.get('native')}, Linux {m.get('system')}. "
        "The machine is shared with other engineers' work: the load average beside each "
        "benchmark says how busy it was. Wall time swings with that load; CPU time "
        "(process time, children included where a benchmark runs subprocesses) much "
        "less, so targets are judged on CPU unless marked \"(wall)\". Each figure is the "
        "median over the rounds with the min–max in brackets; a ratio is the median of "
        "per-round ratios of two sides run alternately in the same rounds.",
        "",
        "**Issue 13's targets**",
        "",
        "| benchmark | figure | wall | CPU | target | |",
        "|---|---|---|---|---|---|",
    ]
    for r in reps:
        targeted = [f for f in r.get("figures", []) if f.get("target")]
        if len(targeted) > GROUP and len({_target(f) for f in targeted}) == 1:
            # many rows of one kind (the native helper's entry points): one line
            met = [f["label"] for f in targeted if f.get("met")]
            missed = [f["label"] for f in targeted if not f.get("met")]
            nots = f"; not: {_cell(', '.join(missed))}" if missed else ""
            lines.append(f"| {r['bench']} | {len(met)} of {len(targeted)} figures meet "
                         f"{_target(targeted[0])}{nots} | | | "
                         f"{_target(targeted[0])} | {'met' if not missed else '**not met**'} |")
            continue
        for f in targeted:
            lines.append(f"| {r['bench']} | {_cell(f['label'])} | "
                         f"{_spread(f.get('wall'), f['unit'])} | "
                         f"{_spread(f.get('cpu'), f['unit'])} | {_target(f)} | {_met(f)} |")
    for r in reps:
        lines += ["", f"**`{r.get('command', r['bench'])}`**: {_cell(r.get('title', ''))}. "
                  f"{_when(r)}, {r.get('seconds', 0):.0f} s, {_load(r)}.", ""]
        figs = r.get("figures", [])
        if figs:
            lines += ["| figure | wall | CPU | target | |", "|---|---|---|---|---|"]
        for f in figs:
            label = _cell(f["label"].strip())
            if f.get("wall") is None and f.get("cpu") is None:
                lines.append(f"| {label} | {_cell(f.get('note', ''))} | | {_target(f)} | "
                             f"{_met(f)} |")
                continue
            if f.get("kind") == "value":
                lines.append(f"| {label} | {_spread(f.get('wall'), f['unit'])} | | "
                             f"{_target(f)} | {_met(f)} |")
            else:
                lines.append(f"| {label} | {_spread(f.get('wall'), f['unit'])} | "
                             f"{_spread(f.get('cpu'), f['unit'])} | {_target(f)} | "
                             f"{_met(f)} |")
            if f.get("note"):
                lines[-1] = lines[-1].replace(f"| {label} |", f"| {label} ({_cell(f['note'])}) |",
                                              1)
        notes = r.get("notes", [])
        if notes:
            lines.append("")
            lines += [f"- {_cell(n)}" for n in notes]
    return "\n".join([*lines, "", END])


def write_status(block: str, path: str = STATUS) -> None:
    """Replace the marked block of ``path`` with ``block`` (the markers must be there)."""
    with open(path) as f:
        text = f.read()
    i = text.find(BEGIN)
    j = text.find(END)
    if i < 0 or j < i:
        raise SystemExit(f"{path}: no '{BEGIN} ... {END}' block to fill; add the two "
                         "markers where the figures belong")
    with open(path, "w") as f:
        f.write(text[:i] + block + text[j + len(END):])


# ================================================================== main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="every benchmark in its --quick mode")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--only", default="", help="comma-separated benchmark names "
                    f"(default all: {', '.join(BENCHMARKS)})")
    ap.add_argument("--base", default=None, help="base revision for the benchmarks that take "
                    "one (their default otherwise)")
    ap.add_argument("--print", action="store_true", help="print the block, do not write")
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite the block from docs/benchmarks.json, run nothing")
    ap.add_argument("--status", default=STATUS, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=DATA, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    data = load_data(args.data)
    if not args.render_only:
        tmp = tempfile.mkdtemp(prefix="kemu-run-all-")
        os.environ["KEMU_BENCH_REV_CACHE"] = os.path.join(tmp, "revisions")
        os.makedirs(os.environ["KEMU_BENCH_REV_CACHE"])
        try:
            for name in names:
                flags = ["--quick"] if args.quick else (["--smoke"] if args.smoke else [])
                if args.base and name in WITH_BASE:
                    flags += ["--base", args.base]
                data[name] = run_one(name, flags, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if not args.print:
            save_data(data, args.data)
    block = render(data)
    if args.print:
        print(block)
    else:
        write_status(block, args.status)
        print(f"\nwrote {os.path.relpath(args.status, ROOT)} and "
              f"{os.path.relpath(args.data, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
