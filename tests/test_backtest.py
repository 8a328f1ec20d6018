"""``simengine backtest``: end to end through the CLI, the cut, the baselines and the scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simengine.backtest import (
    DEFAULT_BASELINES,
    NormalForecast,
    SampleForecast,
    baseline_forecasts,
    ets_total,
    like_for_like,
    naive_last,
    rw_drift,
    score,
    seasonal_naive,
    split_book,
    theta,
)
from simengine.backtest.scores import quantile_columns
from simengine.data.months import format_month
from simengine.data.synth import generate_book
from tests.conftest import run_cli
from tests.test_report import _check_screenshot, _headings, _self_contained, screenshot

#: A small book and a short fit: 200 accounts, 24 months, one chain of 100 + 100 draws (the gate
#: cannot pass on so few draws, hence fit.allow_bad), 6 held-out months.
BACKTEST_SMALL = [
    "data.synthetic.n_accounts=200",
    "data.synthetic.history_months=24",
    "sim.draws=60",
    "sim.progress=false",
    "fit.draws=100",
    "fit.tune=100",
    "fit.chains=1",
    "fit.allow_bad=true",
    "backtest.holdout_months=6",
    # A selection, in the order the scores file keeps (per-account ETS opted in).
    "backtest.baselines=[rw_drift,naive_last,ets_accounts]",
]


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory):
    """One ``simengine backtest`` of BACKTEST_SMALL through the CLI, then its ``simengine report``:
    the end-to-end test reads its tables, the report tests its page (one backtest fit, not two)."""
    folder = tmp_path_factory.mktemp("backtest")
    proc = run_cli("backtest", *BACKTEST_SMALL, f"hydra.run.dir={folder}")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.mark.slow
def test_backtest_cli_end_to_end(backtest_dir):
    for name in ("backtest.csv", "backtest_scores.csv", "backtest.png", "posterior.nc"):
        assert (backtest_dir / name).is_file(), name
    table = pd.read_csv(backtest_dir / "backtest.csv", dtype={"month": str})
    assert list(table.columns) == ["series", "month", "actual", *quantile_columns()]
    book = generate_book(200, 24, "2026-10", 20261122).book
    segments = sorted(book.accounts["segment"].unique())
    months = [format_month(m) for m in range(book.as_of - 5, book.as_of + 1)]
    # One row per (series, month): the total and each segment of the installed base.
    assert list(table["series"].unique()) == ["total", *segments]
    assert len(table) == (1 + len(segments)) * 6
    assert not table.duplicated(["series", "month"]).any()
    assert set(table["month"]) == set(months)
    q = table[quantile_columns()].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()  # quantiles ordered

    # `actual` by hand: the data's revenue of the accounts customers at the cut-off (2026-04).
    cut = book.as_of - 6
    acc = book.accounts
    churn = acc["churn_month"].astype("Float64").fillna(np.inf).to_numpy(float)
    base = acc.loc[(acc["start_month"] <= cut).to_numpy() & (churn > cut), "account_id"]
    usage = book.usage[book.usage["account_id"].isin(base)]
    for month in (cut + 1, book.as_of):
        hand = usage.loc[usage["month"] == month, "revenue"].sum()
        got = table.loc[(table["series"] == "total") & (table["month"] == format_month(month))]
        assert got["actual"].iloc[0] == pytest.approx(hand, rel=1e-6)  # CSV keeps 6 digits

    scores = pd.read_csv(backtest_dir / "backtest_scores.csv")
    assert list(scores["method"]) == ["simengine", "rw_drift", "naive_last", "ets_accounts"]
    assert list(scores.columns) == [
        "method", "coverage50", "coverage80", "coverage90", "crps_pct", "bias_pct", "mape_total"
    ]  # fmt: skip
    assert scores.notna().all().all()
    assert (scores[["coverage50", "coverage80", "coverage90"]] >= 0).all().all()
    # Wider intervals cover at least as many months.
    assert (scores["coverage50"] <= scores["coverage80"]).all()
    assert (scores["coverage80"] <= scores["coverage90"]).all()


@pytest.mark.slow
def test_backtest_report_shows_scores_chart_and_fit(backtest_dir):
    page = (backtest_dir / "report.html").read_text()
    _self_contained(page)
    assert _headings(page) == [
        "Backtest scores", "Per-account signals", "Diagnostics of the fit", "Config and provenance",
    ]  # fmt: skip
    scores = pd.read_csv(backtest_dir / "backtest_scores.csv")
    for method in scores["method"]:
        assert f'<td class="">{method}</td>' in page
    # The fit used one chain: R-hat is undefined and the gate says why.
    assert "Gate fails" in page and "/posterior.nc" in page


@pytest.mark.slow
def test_browser_renders_the_backtest_report(backtest_dir, tmp_path):
    _check_screenshot(screenshot(backtest_dir / "report.html", tmp_path / "backtest.png"))


def test_backtest_refuses_a_holdout_longer_than_the_book(cli, tmp_path):
    result = cli(
        "backtest", "data.synthetic.n_accounts=50", "data.synthetic.history_months=6",
        "backtest.holdout_months=6", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "backtest.holdout_months" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not list(tmp_path.glob("*.csv"))


def test_split_keeps_the_future_out_of_the_cut_book():
    book = generate_book(120, 18, "2026-10", 7).book
    price = pd.Series(1.0, index=book.accounts["account_id"])
    split = split_book(book, 5, price)
    assert split.book.as_of == book.as_of - 5
    assert split.book.usage["month"].max() == split.cut
    assert (split.book.accounts["start_month"] <= split.cut).all()
    assert split.actual.shape == (len(split.accounts), 5)
    assert split.history.shape[1] == split.cut - split.first + 1
    # Every future usage row of the installed base is in `actual`, nothing else.
    later = book.usage[(book.usage["month"] > split.cut)
                       & book.usage["account_id"].isin(split.accounts["account_id"])]  # fmt: skip
    assert split.actual.sum() == pytest.approx(later["revenue"].sum(), rel=1e-12)


def test_naive_baselines_by_hand():
    y = np.array([10.0, 12.0, 11.0, 13.0])
    f = naive_last(y, 3)
    sigma = np.sqrt(np.mean(np.diff(y) ** 2))
    np.testing.assert_allclose(f.mean, [13.0, 13.0, 13.0])
    np.testing.assert_allclose(f.sd, sigma * np.sqrt([1, 2, 3]))
    y = np.arange(1.0, 16.0)  # 15 months: 3 past the first year
    f = seasonal_naive(y, 14)
    # Month T+h copies T+h-12 (and T+h-24 once h > 12).
    np.testing.assert_allclose(f.mean[:12], y[3:15])
    np.testing.assert_allclose(f.mean[12:], y[3:5])
    np.testing.assert_allclose(f.sd[:12], f.sd[0])
    np.testing.assert_allclose(f.sd[12:], f.sd[0] * np.sqrt(2))


def test_scores_by_hand():
    # A point mass at the truth plus 1: coverage 0, CRPS = |error| = 1, bias = +100% / mean.
    actual = np.array([2.0, 4.0])
    f = SampleForecast(np.tile(actual + 1.0, (50, 1)))
    s = score(f, actual)
    assert s["coverage80"] == 0.0
    assert s["crps_pct"] == pytest.approx(100 * 1.0 / 3.0)
    assert s["bias_pct"] == pytest.approx(100 * 2.0 / 6.0)
    assert s["mape_total"] == pytest.approx(100 * (0.5 + 0.25) / 2)
    # The normal's closed-form CRPS at its mean: sigma * (2 phi(0) - 1/sqrt(pi)).
    g = NormalForecast(np.array([0.0]), np.array([2.0]))
    expected = 2.0 * (2 / np.sqrt(2 * np.pi) - 1 / np.sqrt(np.pi))
    assert g.crps(np.array([0.0]))[0] == pytest.approx(expected, rel=1e-9)
    assert score(g, np.array([0.0]))["coverage50"] == 1.0


def test_backtest_checks_the_forecast_config_before_fitting(cli, tmp_path):
    # adjust.from_month must fall in the held-out months (2026-08..2026-10 here): refused before
    # the fit, so nothing (not even posterior.nc) is written.
    result = cli(
        "backtest", "data.synthetic.n_accounts=50", "data.synthetic.history_months=12",
        "backtest.holdout_months=3", "adjust.churn_hazard=1.5", "adjust.from_month=2026-01",
        f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "adjust.from_month" in result.stderr
    assert not list(tmp_path.iterdir())


def test_run_refuses_the_backtest_key(cli, tmp_path):
    result = cli("run", "backtest.holdout_months=6", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    assert "backtest.holdout_months" in result.stderr
    assert not list(tmp_path.glob("*.nc"))


def test_installed_base_keeps_the_coverage_its_flags_show(tmp_path):
    """The backtest's forecast covers exactly the accounts the book shows covered, not a plan.

    With a CSM hazard ratio of ~0 a covered account cannot churn: every account flagged
    ``csm_covered`` has ``p_churn_12m == 0`` and the others churn at the book's rate.  The
    default staffing plan covers 600 accounts, more than this book has, so without the status-quo
    kernel every account would be covered (and none could churn).
    """
    from simengine.accounts_forecast import accounts_frame
    from simengine.api import load_config
    from simengine.backtest import installed_base_config, observed_coverage, status_quo_kernel
    from simengine.data import book_from_config
    from simengine.engine import book_state
    from simengine.pipeline import simulate_config
    from simengine.prices import account_prices

    cfg = load_config([
        "data.synthetic.n_accounts=200", "data.synthetic.history_months=24", "sim.draws=40",
        "sim.progress=false", "model.csm_hazard_ratio=1e-9",
    ])  # fmt: skip
    split = split_book(book_from_config(cfg.data, need_usage=True), 6)
    forecast = simulate_config(
        installed_base_config(cfg, None, 6), book=split.book, kernel=status_quo_kernel
    )
    table = accounts_frame(forecast).set_index("account_id")
    flags = split.book.accounts.set_index("account_id")["csm_covered"].reindex(table.index)
    covered = flags.to_numpy(bool)
    assert covered.any() and (~covered).any()
    assert (table.loc[covered, "p_churn_12m"] == 0.0).all()
    # ~1-2.5% a month over 6 simulated months: mean p_churn well above 0.02 for the uncovered.
    assert table.loc[~covered, "p_churn_12m"].mean() > 0.02

    state = book_state(
        split.book, tuple(split.book.segments), account_prices(split.book, {}).account
    )
    csm, se = observed_coverage(state)
    assert csm == pytest.approx(covered.mean())
    assert 0.0 < se < 1.0


def test_like_for_like_chains_the_same_accounts():
    # B starts in month 1: the raw total jumps 10 -> 16; like for like, the level before month 1
    # follows A alone (10 -> 11, +10%), and month 1 -> 2 follows A and B (16 -> 18).
    history = np.array([[10.0, 11.0, 12.0], [0.0, 5.0, 6.0]])
    np.testing.assert_allclose(like_for_like(history), [18 * 16 / 18 * 10 / 11, 16.0, 18.0])
    # A fixed set of accounts: the plain total.
    fixed = np.array([[3.0, 4.0, 5.0], [1.0, 1.0, 2.0]])
    np.testing.assert_allclose(like_for_like(fixed), fixed.sum(axis=0))


def test_rw_drift_by_hand():
    y = np.array([10.0, 12.0, 11.0, 15.0])
    f = rw_drift(y, 3)
    h = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f.mean, 15.0 + h * 5.0 / 3.0)
    # differences 2, -1, 4 around their mean 5/3: squares sum to 114/9, over 3 - 1
    sigma = np.sqrt(114.0 / 9.0 / 2.0)
    np.testing.assert_allclose(f.sd, sigma * np.sqrt(h * (1.0 + h / 3.0)))


def test_seasonal_naive_takes_the_same_accounts_a_year_earlier():
    # 14 months: A bills 100 every month but 130 in month 2 (a season); B starts in month 8 at 50.
    a = np.full(14, 100.0)
    a[2] = 130.0
    b = np.where(np.arange(14) >= 8, 50.0, 0.0)
    forecasts = baseline_forecasts(np.vstack([a, b]), 2, 10, 1, ["seasonal_naive", "naive_last"])
    # Month 14 copies month 2 of the like-for-like level: A's +30% on today's 150 -> 195; month 15
    # copies month 3 (level 150).  The raw total a year earlier (130, 100) forgot B.
    np.testing.assert_allclose(forecasts["seasonal_naive"].mean, [195.0, 150.0])
    np.testing.assert_allclose(forecasts["naive_last"].mean, [150.0, 150.0])


def test_theta_extends_half_the_trend():
    # A straight line: SES tracks it (alpha -> 1) and theta = 2 adds half the OLS slope a month,
    # so the forecast is y[T] + h * slope / 2 (statsmodels' ThetaModel, Hyndman & Billah 2003).
    # 0.05: alpha stops just short of 1 in the optimiser, (1 - alpha)^T / alpha is ~0.
    y = 100.0 + 2.0 * np.arange(12)
    f = theta(y, 3)
    np.testing.assert_allclose(f.mean, y[-1] + np.array([1.0, 2.0, 3.0]), atol=0.05)
    # A straight line leaves no one-step error (SD 0); with noise the h-step SD grows with h.
    np.testing.assert_allclose(f.sd, 0.0, atol=1e-9)
    noisy = theta(y + np.where(np.arange(12) % 2, 0.5, -0.5), 3)
    assert noisy.sd[0] > 0 and np.all(np.diff(noisy.sd) > 0)


def test_ets_total_is_flat_on_a_flat_series_and_repeats_by_seed():
    flat = ets_total(np.full(12, 7.0), 4, n_paths=50, seed=3)
    np.testing.assert_allclose(flat.samples, 7.0)
    y = 100.0 + np.sin(np.arange(30)) * 5.0 + np.arange(30)
    one, two = ets_total(y, 6, 100, seed=3), ets_total(y, 6, 100, seed=3)
    np.testing.assert_array_equal(one.samples, two.samples)
    assert one.samples.shape == (100, 6)


def test_default_baselines_are_the_cheap_ones():
    from simengine.config import Config

    assert list(Config().backtest.baselines) == list(DEFAULT_BASELINES)
    assert "ets_accounts" not in DEFAULT_BASELINES
    history = np.abs(np.random.default_rng(0).normal(100.0, 10.0, (5, 30)))
    assert list(baseline_forecasts(history, 6, 20, 1)) == list(DEFAULT_BASELINES)


def test_backtest_refuses_an_unknown_baseline(cli, tmp_path):
    result = cli(
        "backtest", "data.synthetic.n_accounts=50", "data.synthetic.history_months=12",
        "backtest.holdout_months=3", "backtest.baselines=[naive_last,arima]",
        f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "backtest.baselines" in lines[0] and "arima" in lines[0]
    assert not list(tmp_path.glob("*.csv"))


def test_the_config_knows_every_baseline_the_backtest_implements():
    """config.validation checks backtest.baselines against the schema's list of names (config
    stays below backtest): that list is exactly the implemented baselines, in order."""
    from simengine.backtest.forecasts import BASELINES, DEFAULT_BASELINES
    from simengine.config.schema import BACKTEST_BASELINES

    assert tuple(BASELINES) == BACKTEST_BASELINES
    assert set(DEFAULT_BASELINES) < set(BASELINES)
