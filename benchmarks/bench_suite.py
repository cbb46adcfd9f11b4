"""The test suite's time, run as the README runs it: this tree beside a base revision.

    python benchmarks/bench_suite.py [--base REV | --no-base] [--rounds R]
                                     [--quick | --smoke] [-- PYTEST-ARGS...]

Each tree runs its own README's test command (the options after
``.venv/bin/pytest`` in its README.md: ``-q -n auto`` here, ``-q`` at
3f54114), in its own directory (benchmarks/_revision.py: the base exported
from git, default 3f54114), not pinned (the command's own parallelism is
part of what a developer waits for), the order alternating from round to
round, no warm-up round.  Wall time is the pytest command's; CPU time is
its and every process it waited for (RUSAGE_CHILDREN: xdist workers,
separate-process puffs servers, pytest runs and benchmarks that tests
start), and that of the orphans the run leaves (a fork server's children,
such as Dask workers started by multiprocessing's ``forkserver`` method,
whose parent ends before them): the benchmark adopts and reaps them
(``run_timed(orphans=True)``), in both trees alike.  The per-file CPU
figures do not include orphans.

Two comparisons:

* **the whole suite** of each tree (the target: issue 13 asks that the
  whole suite take at most half its time at the issue's filing; wall time,
  what a developer waits for);
* **like for like**: the tests present in both trees (the same node ids),
  their time in each tree: the sum over those items of their wall time and
  of their CPU time (the pytest process's and that of the processes they
  started), from the same runs.  The base has fewer tests, so the
  whole-suite ratio also pays for the tests added since; this one shows
  what the same tests cost, whatever the parallelism (an item's wall time
  in a two-worker run includes waiting for the core the other worker
  holds).  ``--common-runs`` also runs only those tests in each tree with
  its README command (the node ids found by ``pytest --co``), for their
  elapsed time: it doubles the benchmark's time.

benchmarks/portable/kemu_bench_probe.py times every test item, so the
report lists the files with the most wall time in this tree, with their CPU
time and that of the processes they started.

Modes: full (default): the whole suite, two rounds; ``--quick``: one
round; ``--smoke``: one small file.  Anything after ``--`` replaces the
selection (the README's options stay).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shlex
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._measure import (  # noqa: E402
    Report,
    Sample,
    Target,
    column,
    n_rounds,
    pick,
    rounds,
    standard_args,
)
from benchmarks._revision import Tree, add_base_arg, current_tree, revision_tree  # noqa: E402

#: The README's test command: ``.venv/bin/pytest`` and its options (to the end of
#: the command: a newline, ``&&``, ``;`` or ``|``).
README_PYTEST = re.compile(r"\.venv/bin/pytest((?:[ \t]+[^\s&;|]+)*)")

TARGET = Target("<=", 0.5, basis="wall")


def readme_options(tree: Tree) -> list[str]:
    """The options of the tree's README test command (``.venv/bin/pytest -q ...``)."""
    with open(os.path.join(tree.root, "README.md")) as f:
        m = README_PYTEST.search(f.read())
    if m is None:
        raise SystemExit(f"{tree.label}: README.md has no '.venv/bin/pytest' command")
    return shlex.split(m.group(1))


def present(tree: Tree, selection: list[str]) -> list[str]:
    """The paths (or node ids) of ``selection`` that exist in the tree; options stay."""
    return [a for a in selection
            if a.startswith("-") or os.path.exists(os.path.join(tree.root, a.split("::")[0]))]


def collect(tree: Tree, selection: list[str]) -> list[str]:
    """The node ids ``pytest --co -q`` finds in the tree (of ``selection``'s paths it has)."""
    paths = present(tree, selection)
    if selection and not [a for a in paths if not a.startswith("-")]:
        return []
    p, _ = tree.pytest(["--co", "-q", "-p", "no:cacheprovider", *paths], timeout=600)
    ids = [ln for ln in p.stdout.splitlines() if "::" in ln and not ln.startswith(" ")]
    if p.returncode != 0 or not ids:
        raise SystemExit(f"{tree.label}: pytest --co failed ({p.returncode}):\n"
                         + p.stdout[-2000:] + p.stderr[-2000:])
    return ids


def suite_run(tree: Tree, options: list[str], selection: list[str]) -> dict[str, Any]:
    """One README test command in ``tree`` on ``selection``: the run's Sample, the
    outcome counts and the per-file wall and CPU of the items."""
    fd, probe = tempfile.mkstemp(prefix="kemu-probe-", suffix=".jsonl")
    os.close(fd)
    try:
        p, whole = tree.pytest([*options, "-p", "kemu_bench_probe", *selection],
                               env={"KEMU_BENCH_PROBE": probe}, timeout=7200,
                               orphans=True)
        with open(probe) as f:
            items = [json.loads(line) for line in f if line.strip()]
    finally:
        os.unlink(probe)
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0, 0])
    for i in items:
        f = files[i["nodeid"].split("::", 1)[0]]
        f[0] += i["wall"]
        f[1] += i["cpu"]
        f[2] += i.get("cpu_children", 0.0)
        f[3] += 1
    outcomes = collections.Counter(i["outcome"] for i in items)
    tail = (p.stdout.strip().splitlines() or [""])[-1]
    failed = [i["nodeid"] for i in items if i["outcome"] == "failed"]
    if not items:
        failed = [f"no test ran (exit {p.returncode}): "
                  + " | ".join((p.stdout + p.stderr).strip().splitlines()[-3:])]
    per_item = {i["nodeid"]: (i["wall"], i["cpu"] + i.get("cpu_children", 0.0))
                for i in items}
    return {"run": whole, "items": len(items), "outcomes": dict(outcomes), "files": files,
            "summary": tail, "returncode": p.returncode, "failed": failed,
            "per_item": per_item, "workers": workers_ends(items)}


def workers_ends(items: list[dict[str, Any]]) -> dict[str, float]:
    """When each pytest-xdist worker ended its last item, in seconds after the first
    item of the run began (empty for a serial run, or a probe without ``end``)."""
    if not items or any(i.get("worker") is None or "end" not in i for i in items):
        return {}
    first = min(i["end"] - i["wall"] for i in items)
    ends: dict[str, float] = {}
    for i in items:
        ends[i["worker"]] = max(ends.get(i["worker"], 0.0), i["end"] - first)
    return dict(sorted(ends.items()))


def items_time(run: dict[str, Any], ids: set[str]) -> Sample:
    """The summed wall and CPU (children included) of the items ``ids`` of a run."""
    wall = cpu = 0.0
    for nodeid, (w, c) in run["per_item"].items():
        if nodeid in ids:
            wall += w
            cpu += c
    return Sample(wall, cpu)


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    standard_args(ap, rounds_full=2, rounds_quick=1)
    add_base_arg(ap)
    ap.add_argument("--top", type=int, default=8, help="slowest files to list")
    ap.add_argument("--common-runs", action="store_true",
                    help="also run only the tests present in both trees, in each tree")
    args = ap.parse_args(argv)
    selection = extra or pick(args, [], [], ["tests/kern/test_ioccom.py"])
    what = " ".join(selection) or "the whole suite"
    suite = f"suite ({' '.join(selection)})" if selection else "whole suite"
    now = current_tree()
    opts_now = readme_options(now)
    rep = Report("bench_suite", f"the README's test command ({what}), each tree its own, "
                 "not pinned", args)
    rep.note(f"this tree: pytest {' '.join(opts_now)}")
    cases = {"now": lambda: suite_run(now, opts_now, selection)}
    with (revision_tree(args.base) if args.base else contextlib.nullcontext()) as base, \
            tempfile.TemporaryDirectory(prefix="kemu-suite-") as tmp:
        if base is not None:
            opts_base = readme_options(base)
            rep.note(f"base {args.base}: pytest {' '.join(opts_base)}")
            cases["base"] = lambda: suite_run(base, opts_base, present(base, selection))
            rep.note(f"{now.describe()}; {base.describe()}")
            if args.common_runs:
                ids_now, ids_base = collect(now, selection), collect(base, selection)
                in_base = set(ids_base)
                common = [i for i in ids_now if i in in_base]
                listing = os.path.join(tmp, "common.txt")
                with open(listing, "w") as f:
                    f.write("\n".join(common) + "\n")
                rep.note(f"tests collected: {len(ids_now)} in this tree, {len(ids_base)} in "
                         f"{args.base}, {len(common)} in both (the like-for-like runs)")
                if common:
                    cases["now, common"] = lambda: suite_run(now, opts_now, [f"@{listing}"])
                    cases["base, common"] = lambda: suite_run(base, opts_base, [f"@{listing}"])
        else:
            rep.note(now.describe())
        res = rounds(cases, n_rounds(args), warmup=0, progress=True)
    runs_now = column(res["now"], "run")
    rep.cost(f"{suite}, this tree", runs_now, "s", note=res["now"][-1]["summary"])
    if "base" in res:
        runs_base = column(res["base"], "run")
        rep.cost(f"{suite}, base {args.base}", runs_base, "s",
                 note=res["base"][-1]["summary"])
        rep.ratio(f"suite time: this tree / {args.base}", runs_now, runs_base, TARGET,
                  mode="cost")
        # like for like: the items both runs of a round have, whatever either tree added
        pairs = list(zip(res["now"], res["base"], strict=True))
        both = [set(a["per_item"]) & set(b["per_item"]) for a, b in pairs]
        l_now = [items_time(a, ids) for (a, _), ids in zip(pairs, both, strict=True)]
        l_base = [items_time(b, ids) for (_, b), ids in zip(pairs, both, strict=True)]
        rep.note(f"tests that ran: {res['now'][-1]['items']} in this tree, "
                 f"{res['base'][-1]['items']} in {args.base}, {len(both[-1])} in both "
                 "(last round)")
        rep.cost("tests in both trees, summed item time, this tree", l_now, "s")
        rep.cost(f"tests in both trees, summed item time, base {args.base}", l_base, "s")
        rep.ratio(f"tests in both trees (summed item time): this tree / {args.base}",
                  l_now, l_base, mode="cost")
    else:
        rep.unavailable("suite time against the base", "--no-base", TARGET)
        rep.unavailable("tests in both trees: this tree / base", "--no-base")
    if "now, common" in res:
        c_now, c_base = column(res["now, common"], "run"), column(res["base, common"], "run")
        rep.cost("only the tests in both trees, run alone, this tree", c_now, "s",
                 note=res["now, common"][-1]["summary"])
        rep.cost(f"only the tests in both trees, run alone, base {args.base}", c_base, "s",
                 note=res["base, common"][-1]["summary"])
        rep.ratio(f"only the tests in both trees, run alone: this tree / {args.base}",
                  c_now, c_base, mode="cost")
    labels = {"now": "this tree", "base": f"base {args.base}",
              "now, common": "this tree (tests in both)",
              "base, common": f"base {args.base} (tests in both)"}
    for key, label in labels.items():
        failed = sorted({n for r in res.get(key, []) for n in r["failed"]})
        if failed:
            rep.note(f"failed in {label}: " + ", ".join(failed[:10])
                     + (f" and {len(failed) - 10} more" if len(failed) > 10 else ""))
    ends = [r["workers"] for r in res["now"] if len(r["workers"]) > 1]
    if ends:
        rep.note("xdist balance, this tree: when each worker ended its last item, after the "
                 "first item began (per round): " + "; ".join(
                     ", ".join(f"{w} {t:.1f} s" for w, t in e.items())
                     + f" (apart {max(e.values()) - min(e.values()):.1f} s)" for e in ends))
    files = res["now"][-1]["files"]
    top = sorted(files.items(), key=lambda kv: -kv[1][0])[:args.top]
    rep.note("files with the most test time in this tree (last round; summed over the "
             "items, whichever worker ran them; CPU of the pytest process + of the "
             "processes the tests started): " + "; ".join(
                 f"{name} {count:.0f} tests, wall {wall:.1f} s, CPU {cpu_s:.1f} + {kids:.1f} s"
                 for name, (wall, cpu_s, kids, count) in top))
    rep.finish(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
