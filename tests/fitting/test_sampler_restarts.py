"""A stuck NUTS chain is found while it runs and every chain restarts from fresh starts."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

import pymc as pm  # noqa: E402

from simengine.config import FitConfig  # noqa: E402
from simengine.fitting import sampling  # noqa: E402
from simengine.fitting.sampling import (  # noqa: E402
    MAX_RESTARTS,
    StuckSamplerError,
    restart_seed,
    sample_model,
    stuck_chains,
)


def test_a_collapsed_step_size_is_stuck_next_to_a_tuned_chain():
    # Issue 22's stuck chain: step size ~1e-7 beside a healthy chain's ~0.2.
    step = np.array([0.2, 1e-7])
    assert stuck_chains(step, np.array([1000, 40]), np.array([True, False])) == [1]
    # Within the spread healthy chains show (a factor ~3): not stuck.
    assert stuck_chains(np.array([0.2, 0.07]), np.array([1000, 200]), np.array([True, False])) == []
    # The first draws of warm-up search for a step size: not judged yet.
    assert stuck_chains(step, np.array([1000, 5]), np.array([True, False])) == []
    # No tuned chain to compare with: only the absolute floor applies.
    assert stuck_chains(np.array([1e-3, 1e-6]), np.array([50, 50]), np.array([False, False])) == [1]
    # A NaN step size is stuck.
    assert stuck_chains(np.array([0.2, np.nan]), np.array([50, 50]), np.array([True, True])) == [1]


def test_restart_seeds_differ_and_repeat():
    seeds = [restart_seed(7, k) for k in range(MAX_RESTARTS + 1)]
    assert seeds[0] == 7 and len(set(seeds)) == len(seeds)
    assert seeds == [restart_seed(7, k) for k in range(MAX_RESTARTS + 1)]


def _normal_model():
    with pm.Model() as model:
        pm.Normal("mu", 0.0, 1.0)
    return model


def test_a_healthy_run_is_not_restarted():
    cfg = FitConfig(draws=100, tune=100, chains=2)
    result = sample_model(_normal_model(), cfg, seed=1, var_names=["mu"], progress=False)
    assert result.restarts == []
    assert result.tree["posterior"]["mu"].shape == (2, 100)


def test_every_run_stuck_restarts_then_says_what_to_try(monkeypatch):
    # A floor no step size reaches: every chain of every run is "stuck" once judged.  The watch
    # must cancel each run and restart MAX_RESTARTS times.  The last run is judged while it warms
    # up (nothing to keep: refused with advice) or, on a machine fast enough to finish warming up
    # between two looks, at its draws (kept for inspection, every restart recorded): which of the
    # two depends on the clock, so both are checked for the same restarts.
    monkeypatch.setattr(sampling, "STUCK_STEP_SIZE", 1e9)
    monkeypatch.setattr(sampling, "STUCK_MIN_DRAWS", 1)
    monkeypatch.setattr(sampling, "WATCH_SECONDS", 0.2)
    cfg = FitConfig(draws=20_000, tune=20_000, chains=2)
    try:
        result = sample_model(_normal_model(), cfg, seed=1, var_names=["mu"], progress=False)
    except StuckSamplerError as err:
        assert "try: another seed" in str(err)
        reasons = err.reasons
    else:
        reasons = result.restarts
    assert len(reasons) == MAX_RESTARTS + 1
    assert all("step size" in why for why in reasons)
