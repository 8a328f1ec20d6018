"""The numbers behind the notebooks' charts: Kaplan-Meier, PIT and coverage against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from simengine.backtest.forecasts import NormalForecast, SampleForecast
from simengine.report.diagnostics import coverage_by_level, kaplan_meier, pit_values


def test_kaplan_meier_recovers_geometric_survival_under_censoring_and_truncation():
    rng = np.random.default_rng(11)
    n, hazard = 40_000, 0.05
    life = rng.geometric(hazard, n)  # churn at boundary `life` (>= 1)
    censor = rng.integers(1, 40, n)
    entry = np.where(rng.random(n) < 0.3, rng.integers(1, 10, n), 0)
    seen = life > entry  # left truncation: only accounts that survived `entry` are in the data
    periods = np.minimum(life, censor)[seen]
    churned = (life <= censor)[seen]
    entry = np.minimum(entry[seen], periods)
    s = kaplan_meier(periods, churned, entry, horizon=20)
    truth = (1.0 - hazard) ** np.arange(21)
    # ~28,000 accounts at risk at t=0 and ~7,000 by t=20: the KM standard error stays below
    # ~0.006, so 0.03 is five standard errors.
    np.testing.assert_allclose(s, truth, atol=0.03)
    assert s[0] == 1.0  # nobody churns at boundary 0 here (no failed onboarding)


def test_kaplan_meier_counts_failed_onboarding_at_boundary_zero():
    s = kaplan_meier(np.array([0, 3, 3, 5]), np.array([True, True, False, False]), horizon=5)
    # boundary 0: 1 of 4 fails; boundary 3: 1 of the 3 at risk churns, 1 censored after it
    np.testing.assert_allclose(s, [0.75, 0.75, 0.75, 0.5, 0.5, 0.5])


@pytest.mark.parametrize("kind", ["normal", "samples"])
def test_coverage_and_pit_of_a_calibrated_forecast(kind):
    rng = np.random.default_rng(5)
    months = 2000
    actual = rng.standard_normal(months)
    if kind == "normal":
        forecast = NormalForecast(np.zeros(months), np.ones(months))
    else:
        forecast = SampleForecast(rng.standard_normal((2000, months)))
    table = coverage_by_level({"f": forecast}, actual)
    levels = table.index.to_numpy(float)
    # Binomial(2000, level): 4 standard errors is at most 4 * sqrt(0.25 / 2000) = 0.045, plus the
    # sample forecast's own quantile error (~0.01 at 2,000 samples).
    np.testing.assert_allclose(table["f"].to_numpy(), levels, atol=0.055)
    pit = pit_values(forecast, actual)
    assert abs(pit.mean() - 0.5) < 4 * np.sqrt(1 / 12 / months) + 0.01
    # A forecast twice too narrow covers far less than it claims.
    narrow = coverage_by_level(
        {"f": NormalForecast(np.zeros(months), np.full(months, 0.5))}, actual
    )
    # (expected: 2 Phi(z_level / 2) - 1, e.g. 0.49 at 80%; far outside the 0.045 noise above 20%)
    assert (narrow["f"].to_numpy()[levels >= 0.2] < levels[levels >= 0.2] - 0.08).all()
