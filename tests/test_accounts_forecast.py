"""The per-account forecast: churn against the sBG closed form, commits by hand, the table, files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from simengine.accounts_forecast import (
    ACCOUNT_COLUMNS,
    AccountAccumulator,
    accounts_frame,
    active_mask,
)
from simengine.engine import BookState, run_kernel
from simengine.kernels import layout as L
from tests.kernels._book import make_params


def _state(log_usage, tenure, commit=None, term_position=None, consumed=None) -> BookState:
    """Accounts with a flat usage history at ``exp(log_usage)``, price 1, no covariates."""
    n = len(log_usage)
    tenure = np.asarray(tenure, np.int64)
    history = np.repeat(np.exp(np.asarray(log_usage, float))[:, None], L.RING_MONTHS, axis=1)
    accounts = L.empty_accounts(n)._replace(
        tenure=tenure,
        log_usage=np.asarray(log_usage, float),
        hist_usage=history,
        data_from=-np.minimum(tenure, L.RING_MONTHS) - 1,
        commit=np.zeros(n) if commit is None else np.asarray(commit, float),
        term_position=np.zeros(n, np.int64) if term_position is None else np.asarray(term_position),
        consumed=np.zeros(n) if consumed is None else np.asarray(consumed, float),
    )
    return BookState(
        accounts=accounts,
        churned_base=np.zeros((L.HISTORY_MONTHS, 1)),
        churned_ttm=np.zeros((L.HISTORY_MONTHS, 1, 3)),
    )


def _accumulate(state: BookState, draws: int, segment: dict, month: dict, chunk: int = 0):
    seg, mon = make_params(draws, 12, 1, segment=segment, month=month, jitter=0.0)
    acc = AccountAccumulator(state.hist_usage[:, -1] * state.price, draws)
    run_kernel(state, L.Params(seg, mon), seed=11, month_of_year0=0, chunk_draws=chunk,
               progress=False, account_sink=acc.add)  # fmt: skip
    return acc


# No CSM coverage, no go-to-market multiplier, no new logos: every account's hazard ratio is 1.
PLAIN_MONTH = {"csm_coverage": 0.0, "se_coverage": 0.0, "new_logo_rate": 0.0}
# No usage-decline hazard either (the flat history has no decline anyway).
PLAIN_CHURN = {"usage_decline_hazard_ratio": 1.0, "zero_month_prob": 0.0}


def test_p_churn_matches_the_sbg_closed_form():
    alpha, beta = 1.2, 40.0
    tenure = np.array([0, 5, 20, 60])
    draws = 4000
    acc = _accumulate(
        _state(np.full(4, 5.0), tenure), draws, {"churn_alpha": alpha, "churn_beta": beta, **PLAIN_CHURN},
        PLAIN_MONTH,
    )  # fmt: skip
    for k, observed in ((3, acc.n_churn_3m / draws), (12, acc.n_churn_12m / draws)):
        # An account that survived n boundaries churns within k more with probability
        # 1 - B(alpha, beta + n + k) / B(alpha, beta + n).
        expected = 1.0 - np.exp(betaln(alpha, beta + tenure + k) - betaln(alpha, beta + tenure))
        # Each account's draws are independent Bernoulli(expected): 4.5 binomial SEs make a false
        # failure among these 8 checks ~5e-5.
        se = np.sqrt(expected * (1 - expected) / draws)
        np.testing.assert_array_less(np.abs(observed - expected), 4.5 * se)
    # Longer survival, lower risk (the sBG's selection effect) - well outside the noise here.
    assert np.all(np.diff(acc.n_churn_12m) < 0)


def test_overage_and_leak_on_hand_worked_accounts():
    # 100 units a month at price 1, no noise, growth, season, ramp, use cases or churn: revenue is
    # exactly 100 a month.  Each account is 6 months into its term with 600 consumed.
    # A: commit 1500 -> the term ends in forecast month 5 at 1200: leak 300, no overage; the
    #    renewal commit 0.9 x 1200 = 1080 is not reached by month 11 (600 consumed).
    # B: commit 900 -> months 3, 4, 5 go over (100 each): overage 300; no leak; renewal 1080 is
    #    not exceeded by month 11.
    # C: no commit -> overage and leak are not defined (empty).
    state = _state(np.full(3, np.log(100.0)), [30, 30, 30], commit=[1500.0, 900.0, 0.0],
                   term_position=[6, 6, 0], consumed=[600.0, 600.0, 0.0])  # fmt: skip
    quiet = {
        "usage_drift": 0.0, "usage_volatility": 0.0, "account_sd": 0.0, "season_cos": 0.0,
        "season_sin": 0.0, "ramp_start": 1.0, "use_case_rate": 0.0, "churn_alpha": 1e-9,
        "churn_beta": 1e9, "renewal_ratio": 0.9, "zero_month_prob": 0.0,
        "usage_decline_hazard_ratio": 1.0, "onboarding_failure": 0.0,
    }  # fmt: skip
    acc = _accumulate(state, 20, quiet, PLAIN_MONTH)
    assert acc.n_churn_12m.sum() == 0
    np.testing.assert_allclose(acc.sum_revenue / 20, 1200.0, rtol=1e-12)
    np.testing.assert_allclose(acc.quantiles([0.1, 0.9]), 1200.0, rtol=1e-12)
    from simengine.accounts_forecast import accounts_table

    signals = pd.DataFrame({"usage_trend": [0.0] * 3, "usage_yoy": [np.nan] * 3})
    table = accounts_table(acc, np.array(["A", "B", "C"]), np.array(["s"] * 3),
                           state.commit, signals)  # fmt: skip
    a, b, c = (table.iloc[i] for i in range(3))
    assert (a["p_leak_12m"], a["expected_leak_12m"]) == (1.0, pytest.approx(300.0))
    assert (a["p_overage_12m"], a["expected_overage_12m"]) == (0.0, 0.0)
    assert (b["p_overage_12m"], b["expected_overage_12m"]) == (1.0, pytest.approx(300.0))
    assert (b["p_leak_12m"], b["expected_leak_12m"]) == (0.0, 0.0)
    assert (
        c[["p_overage_12m", "expected_overage_12m", "p_leak_12m", "expected_leak_12m"]].isna().all()
    )


def test_record_does_not_depend_on_chunking():
    seg, mon = make_params(24, 12, 1, jitter=0.0)
    state = _state(np.linspace(4, 8, 30), np.arange(30), commit=np.full(30, 500.0),
                   term_position=np.arange(30) % 12, consumed=np.full(30, 100.0))  # fmt: skip
    sums = []
    for chunk in (0, 5):
        acc = AccountAccumulator(state.hist_usage[:, -1] * state.price, 24)
        run_kernel(state, L.Params(seg, mon), seed=3, month_of_year0=4, chunk_draws=chunk,
                   progress=False, account_sink=acc.add)  # fmt: skip
        sums.append((acc.sum_revenue, acc.sum_leak, acc.sum_use_cases, acc.values.copy()))
    for x, y in zip(*sums, strict=True):
        np.testing.assert_array_equal(x, y)


def test_histogram_quantiles_within_the_stated_resolution():
    rng = np.random.default_rng(5)
    n, draws = 50, 2000
    last = rng.lognormal(5, 1, n)
    exact = AccountAccumulator(last, draws)
    binned = AccountAccumulator(last, draws, exact_limit=0)
    assert exact.exact and not binned.exact
    for _ in range(4):
        record = np.zeros((draws // 4, n, len(L.ACCOUNT_OUTPUTS)))
        record[..., L.A_REVENUE_12M] = 12 * last * rng.lognormal(0, 0.4, (draws // 4, n))
        exact.add(record)
        binned.add(record)
    probs = [0.1, 0.5, 0.9]
    # Bin edges are 10**(7/700) apart: a geometric interpolation inside the bin that holds the
    # quantile is off by less than one bin width, 2.33% (relative).
    np.testing.assert_allclose(binned.quantiles(probs), exact.quantiles(probs), rtol=0.0233)


@pytest.mark.slow
def test_run_writes_one_row_per_active_account(cli, tmp_path, small_overrides):
    result = cli("run", *small_overrides, "signals.top=3", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "accounts_forecast.csv", dtype={"account_id": str})
    parquet = pd.read_parquet(tmp_path / "accounts_forecast.parquet")
    assert list(table.columns) == list(ACCOUNT_COLUMNS)
    pd.testing.assert_frame_equal(table, parquet, check_dtype=False, rtol=1e-5)
    from simengine.data.synth import generate_book

    book = generate_book(150, 24, "2026-10", 20261122).book
    active = book.accounts.loc[active_mask(book), "account_id"].tolist()
    assert table["account_id"].tolist() == active  # one row per active account, book order
    always = [c for c in ACCOUNT_COLUMNS if c not in (
        "usage_trend", "usage_yoy", "p_overage_12m", "expected_overage_12m", "p_leak_12m",
        "expected_leak_12m")]  # fmt: skip
    assert table[always].notna().all().all()
    commit = book.accounts.set_index("account_id").loc[active, "commit_annual"].to_numpy() > 0
    for column in ("p_overage_12m", "expected_overage_12m", "p_leak_12m", "expected_leak_12m"):
        assert (table[column].notna().to_numpy() == commit).all(), column
    q = table[["revenue_next12_p10", "revenue_next12_p50", "revenue_next12_p90"]].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert ((table["p_churn_3m"] <= table["p_churn_12m"]) & (table["p_churn_12m"] <= 1)).all()
    signals = pd.read_csv(tmp_path / "signals.csv")
    assert set(signals["signal"]) <= {"churn_risk", "leak", "overage", "expansion", "usage_drop",
                                      "usage_spike"}  # fmt: skip
    assert signals["probability"].between(0, 1).all()
    # signals.top = 3: three accounts a signal (churn risk lists every account with p > 0).
    assert signals.groupby("signal").size().max() == 3
    assert (signals["signal"] == "churn_risk").sum() == 3
    assert "top 3 of each" in result.stdout


def _signal_table() -> pd.DataFrame:
    """Four accounts: a small one likely to churn and a large one unlikely to (more revenue at
    risk); a small one that grows in most draws and a large one whose mean growth comes from a
    few huge draws (its median falls)."""
    return pd.DataFrame(
        {
            "account_id": ["small_risky", "big_safe", "small_grower", "big_lottery"],
            "segment": "team",
            "revenue_last": [81.0, 90_000.0, 81.0, 90_000.0],
            "revenue_next12_p50": [900.0, 1_100_000.0, 1_200.0, 1_000_000.0],
            "revenue_next12_mean": [900.0, 1_100_000.0, 1_250.0, 9_000_000.0],
            "p_churn_12m": [0.60, 0.05, 0.20, 0.10],
            "p_growth_12m": [0.10, 0.55, 0.90, 0.15],
            "usage_trend": [0.0, 0.0, 0.0, 0.0],
            "usage_yoy": [np.nan] * 4,
            "expected_leak_12m": np.nan,
            "p_leak_12m": np.nan,
            "expected_overage_12m": np.nan,
            "p_overage_12m": np.nan,
        }
    )


def test_signals_rank_by_probability_with_revenue_at_risk_beside():
    from simengine.accounts_forecast import signals_table

    signals = signals_table(_signal_table())
    churn = signals[signals["signal"] == "churn_risk"]
    # The most likely to leave first, though the big account has 20x the revenue at risk.
    assert churn["account_id"].tolist()[:2] == ["small_risky", "small_grower"]
    assert churn["probability"].is_monotonic_decreasing
    risk = dict(zip(churn["account_id"], churn["revenue_at_risk_12m"], strict=True))
    assert risk["small_risky"] == pytest.approx(0.60 * 12 * 81.0)
    expansion = signals[signals["signal"] == "expansion"]
    # Growth by probability and median: the mean's 9M (a few draws) does not list big_lottery,
    # whose median falls; small_grower (p 0.9) comes before big_safe (p 0.55).
    assert expansion["account_id"].tolist() == ["small_grower", "big_safe"]
    assert (expansion["value_name"] == "median_growth_12m").all()
    assert signals_table(_signal_table(), top=1).groupby("signal").size().max() == 1


def test_signals_top_is_validated():
    from simengine.api import load_config
    from simengine.config import ConfigError

    assert load_config([]).signals.top == 10
    with pytest.raises(ConfigError, match="signals.top"):
        load_config(["signals.top=0"])


def test_accounts_frame_round_trips_through_the_dataset(small_cfg):
    from simengine.pipeline import simulate_config

    ds = simulate_config(small_cfg)
    frame = accounts_frame(ds)
    assert len(frame) == ds.attrs["existing_accounts"]
    assert ds["p_churn_12m"].dims == ("account",)
