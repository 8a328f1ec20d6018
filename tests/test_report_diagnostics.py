"""The numbers behind the notebooks' charts: Kaplan-Meier, PIT and coverage against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simengine.backtest.forecasts import NormalForecast, SampleForecast
from simengine.report.calibration import coverage_by_level, pit_values
from simengine.report.diagnostics import kaplan_meier


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


def _season_tree(season: np.ndarray, segments) -> xr.DataTree:
    """A posterior of 1 chain x n draws holding ``season`` (draws, [segments,] 12)."""
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    dims = ("chain", "draw", *(("segment",) if season.ndim == 3 else ()), "month_of_year")
    post = xr.Dataset(
        {"season": (dims, season[None])},
        coords={"segment": list(segments), "month_of_year": months},
    )
    return xr.DataTree.from_dict({"posterior": post})


def test_season_table_shows_each_segments_profile_against_its_data(tmp_path):
    """The data's profile per segment recovers each segment's own season; the fitted columns are
    the segment's own posterior profile, or the model-wide one in every segment (older fits)."""
    from simengine.data.synth import generate_book
    from simengine.data.synth_truth import SynthOptions
    from simengine.report.diagnostics import season_table, seasonality_check

    summer = [-0.15 if m in (6, 7) else 0.0 for m in range(12)]
    december = [-0.10 if m == 11 else 0.0 for m in range(12)]
    profiles = np.array([summer, summer, december])
    book = generate_book(
        n_accounts=1500, history_months=36, seed=3, coverage=False, commits=False,
        use_cases=False, options=SynthOptions(season_profile=tuple(map(tuple, profiles))),
    ).book  # fmt: skip
    truth = profiles - profiles.mean(axis=1, keepdims=True)
    segments = list(book.segments)
    rng = np.random.default_rng(0)
    fitted = truth[None] + rng.normal(0.0, 0.01, (50, 3, 12))
    table = season_table(book, _season_tree(fitted, segments))
    assert len(table) == 36
    for k, seg in enumerate(segments):
        t = table[table["segment"] == seg]
        # Each month's mean step from >= 1,500 changes of SD <= 0.08 (x sqrt 2 across a month):
        # SE <= 0.003, accumulated over up to 11 steps ~0.01; 0.025 allows the account effects.
        np.testing.assert_allclose(t["data"], truth[k], atol=0.025)
        np.testing.assert_allclose(t["fitted_p50"], np.median(fitted[:, k], axis=0))
    assert table.loc[table["segment"] == "smb", "data"].idxmin() % 12 == 11
    model_wide = fitted[:, 2]
    table = season_table(book, _season_tree(model_wide, segments))
    for seg in segments:
        t = table[table["segment"] == seg]
        np.testing.assert_allclose(t["fitted_p50"], np.median(model_wide, axis=0))
    seasonality_check(book, _season_tree(fitted, segments), tmp_path / "season.png")
    assert (tmp_path / "season.png").stat().st_size > 0
