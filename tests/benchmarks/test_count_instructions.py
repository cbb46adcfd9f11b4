"""benchmarks/count_instructions.py: the digests it compares trees by repeat, run to run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import count_instructions as ci

ROOT = Path(__file__).resolve().parents[2]


def test_sweep_digests_repeat_and_follow_the_seed():
    first = ci.run_sweep(range(100, 102))
    again = ci.run_sweep(range(100, 102))
    assert first == again
    assert [line.split()[0] for line in first] == ["100", "101"]
    # one machine a seed: its schedule hash and trace digest, different seeds differ
    assert all(len(line.split()) == 3 for line in first)
    assert first[0].split()[1:] != first[1].split()[1:]


def test_fstat_digest_repeats_and_counts_the_calls():
    t, digest = ci.run_fstat(5)
    assert ci.run_fstat(5)[1] == digest
    assert ci.run_fstat(6)[1] != digest      # one more fstat: more decisions and events
    assert t > 0


def test_the_counting_run_needs_more_than_it_subtracts():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "count_instructions.py"),
                        "fstat", "--calls", "10", "--minus", "10"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "longer than the one subtracted" in r.stderr or "valgrind is not installed" in r.stderr
