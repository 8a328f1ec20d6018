"""``benchmarks/bench_bound.py`` runs: it reads the NumPy reference's internals to count the
model's random numbers, so a change there must not leave it broken until someone next runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_bound_counts_and_times_the_models_floor():
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_bound.py", "--draws", "16", "--count-draws", "2",
         "--repeat", "1", "--threads", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    steps = re.search(r"usage steps: ([\d,]+) inside the horizon \+ ([\d,]+) past it", out)
    inside, past = (int(g.replace(",", "")) for g in steps.groups())
    months = int(re.search(r"per draw: ([\d,]+) account-months", out)[1].replace(",", ""))
    # Every active account-month but a new logo's first takes a step; cohort tracking (on by
    # default) adds steps past the horizon.
    assert 0.9 * months < inside < months and past > 0
    per_month = float(re.search(r"= ([\d.]+) per account-month", out)[1])
    assert per_month > 1.0  # at least the usage normal of each step
    # Each row: M account-months/s, x the numpy floor, x the model's floor (random numbers + exp).
    rows = {
        name.strip(): (float(numpy), float(model))
        for name, numpy, model in re.findall(
            r"^  (\S.*?)\s+[\d.]+\s+([\d.]+)\s+([\d.]+)$", out, flags=re.M
        )
    }
    assert rows["numpy floor (1 normal per account-month)"][0] == 1.0
    assert rows["... and exp of each usage step"][1] == 1.0
    assert len(rows) == 5 and all(r > 0 for row in rows.values() for r in row)
