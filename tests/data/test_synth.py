"""The synthetic book: determinism, invariants, and agreement with the truth it was drawn from.

Statistical checks use one large book (20,000 accounts, fixed seed) and compare an estimate with its
exact expectation under the model, allowing 4 standard errors: a correct generator fails such a
check with probability ~6e-5 per check, while a wrong equation (a drift off by 0.001, a churn
hazard off by 10%) moves the estimate by many standard errors at this sample size.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from simengine.data import (
    DEFAULT_TRUTH,
    book_hash,
    default_book,
    generate_book,
    load_book,
    month_number,
    write_book,
)
from simengine.data.book import observed_lifetimes
from simengine.data.synth import SyntheticBook, season_factor
from simengine.data.synth_truth import SEGMENT_SHARES

Z = 4.0  # standard errors allowed in every statistical check (see the module docstring)


@pytest.fixture(scope="module")
def big():
    return generate_book(n_accounts=20_000, seed=4242)


def _with_segment(book, frame):
    return frame.merge(book.accounts, on="account_id", how="left", validate="many_to_one")


def test_same_seed_same_book_and_other_seed_differs():
    first, again = generate_book(300, seed=11), generate_book(300, seed=11)
    assert first.book == again.book
    assert book_hash(first.book) == book_hash(again.book)
    pd.testing.assert_frame_equal(first.book.usage, again.book.usage)
    other = generate_book(300, seed=12).book
    assert other != first.book
    assert book_hash(other) != book_hash(first.book)


def test_features_switched_off_leave_other_draws_unchanged():
    full = generate_book(500, seed=5).book
    bare = generate_book(500, seed=5, coverage=False, commits=False, use_cases=False).book
    assert list(bare.accounts.columns) == ["account_id", "segment", "start_month", "churn_month"]
    assert bare.use_cases is None
    # Streams are keyed by purpose: the same accounts start in the same months ...
    pd.testing.assert_frame_equal(
        bare.accounts[["account_id", "segment", "start_month"]],
        full.accounts[["account_id", "segment", "start_month"]],
    )
    # ... and without CSM coverage only covered accounts can churn differently.
    uncovered = ~full.accounts["csm_covered"].to_numpy()
    pd.testing.assert_series_equal(
        bare.accounts["churn_month"][uncovered], full.accounts["churn_month"][uncovered]
    )


def test_default_book_shape_and_cache():
    book = default_book()
    assert book is default_book()
    assert len(book.accounts) == 2000
    assert book.as_of == month_number("2026-10")
    assert book.segments == DEFAULT_TRUTH.segments
    assert book.accounts["start_month"].between(book.as_of - 35, book.as_of).all()
    assert set(book.accounts.columns) == {
        "account_id",
        "segment",
        "start_month",
        "churn_month",
        "csm_covered",
        "se_engaged",
        "commit_annual",
        "contract_start_month",
    }
    assert list(book.usage.columns) == ["account_id", "month", "usage", "revenue"]
    assert book.accounts["account_id"].is_unique
    assert book.source["accounts"].startswith("synthetic(seed=20261122")


def _check_invariants(book):
    accounts, usage = book.accounts, book.usage
    assert (usage["usage"] >= 0).all() and np.isfinite(usage["usage"]).all()
    churn = accounts["churn_month"]
    assert (churn.dropna() > accounts.loc[churn.notna(), "start_month"]).all()
    assert (churn.dropna() <= book.as_of).all()
    # One usage row per month from the start through min(churn - 1, as_of), no gaps.
    end = churn.fillna(book.as_of + 1).to_numpy(dtype=np.int64)
    expected_rows = end - accounts["start_month"].to_numpy()
    rows = usage.groupby("account_id").size().reindex(accounts["account_id"], fill_value=0)
    np.testing.assert_array_equal(rows.to_numpy(), expected_rows)
    joined = _with_segment(book, usage)
    assert (joined["month"] >= joined["start_month"]).all()
    assert (joined["month"] < joined["churn_month"].fillna(book.as_of + 1)).all()
    if book.use_cases is not None:
        cases = _with_segment(book, book.use_cases.rename(columns={"start_month": "case_start"}))
        assert (cases["case_start"] >= cases["start_month"]).all()
        assert (cases["case_start"] < cases["churn_month"].fillna(book.as_of + 1)).all()
        assert (cases.groupby("account_id")["use_case_id"].apply(lambda s: "uc0" in set(s))).all()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 60),
    months=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    coverage=st.booleans(),
    use_cases=st.booleans(),
)
def test_invariants_hold_and_book_survives_files(n, months, seed, coverage, use_cases):
    book = generate_book(n, months, "2025-03", seed, coverage=coverage, use_cases=use_cases).book
    _check_invariants(book)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_book(book, Path(folder))
        loaded = load_book(
            paths["accounts"],
            paths["usage"],
            paths.get("use_cases"),
            as_of="2025-03",
            segments=DEFAULT_TRUTH.segments,
        )
    assert loaded == book


def test_invariants_of_big_book(big):
    _check_invariants(big.book)


def test_segment_and_coverage_shares(big):
    accounts = big.book.accounts
    n = len(accounts)
    shares = accounts["segment"].value_counts(normalize=True).reindex(DEFAULT_TRUTH.segments)
    for share, target in zip(shares, SEGMENT_SHARES, strict=True):
        assert abs(share - target) < Z * np.sqrt(target * (1 - target) / n)
    for column, target in [
        ("csm_covered", DEFAULT_TRUTH.csm_share),
        ("se_engaged", DEFAULT_TRUTH.se_share),
        ("contract_start_month", DEFAULT_TRUTH.commit_share),
    ]:
        share = (
            accounts[column].notna().mean() if column.endswith("month") else accounts[column].mean()
        )
        assert abs(share - target) < Z * np.sqrt(target * (1 - target) / n), column


def _sbg_hazard(alpha: float, beta: float, boundary: np.ndarray, ratio: float) -> np.ndarray:
    """P(churn at boundary n | survived n - 1) for hazard ``ratio * theta``, theta ~ Beta.

    For ratio 1 this is alpha / (alpha + beta + n - 1); otherwise integrate numerically.
    """
    if ratio == 1.0:
        return alpha / (alpha + beta + boundary - 1)
    density = stats.beta(alpha, beta).pdf

    def moment(n, churn):
        f = lambda t: (ratio * t) ** churn * (1 - ratio * t) ** (n - 1) * density(t)  # noqa: E731
        return integrate.quad(f, 0, 1, limit=200)[0]

    return np.array([moment(n, 1) / moment(n, 0) for n in boundary])


def _churn_z(sbook, covered: bool) -> np.ndarray:
    """z-scores, per segment, of observed churns against their exact expectation given who was at
    risk at which boundary (accounts with ``csm_covered == covered``), then of the churn count at
    the first boundary alone, binomial with mean (ratio-adjusted) alpha / (alpha + beta).

    Each at-risk boundary n is a Bernoulli trial with the sBG hazard h_n (the population hazard
    among survivors, which falls with n as high-theta accounts leave), so the count of churns has
    mean sum(h_n) and variance sum(h_n (1 - h_n)).
    """
    truth = sbook.truth
    lifetimes = observed_lifetimes(sbook.book)
    lifetimes = lifetimes[sbook.book.accounts["csm_covered"].to_numpy() == covered]
    ratio = truth.csm_hazard_ratio if covered else 1.0
    z = []
    for s, segment in enumerate(truth.segments):
        own = lifetimes[lifetimes["segment"] == segment]
        periods = own["periods"].to_numpy()
        at_risk = np.bincount(periods, minlength=periods.max() + 1)[::-1].cumsum()[::-1][1:]
        boundary = np.arange(1, len(at_risk) + 1)
        hazard = _sbg_hazard(truth.churn_alpha[s], truth.churn_beta[s], boundary, ratio)
        expected = (at_risk * hazard).sum()
        variance = (at_risk * hazard * (1 - hazard)).sum()
        z.append((own["churned"].sum() - expected) / np.sqrt(variance))
        first = int((periods >= 1).sum())
        churned_first = int(((periods == 1) & own["churned"].to_numpy()).sum())
        # Exact binomial test, as a z-equivalent: covered enterprise expects only ~3 first-month
        # churns, where the normal approximation's tail is far too thin.
        p_value = stats.binomtest(churned_first, first, hazard[0]).pvalue
        z.append(np.sign(churned_first - first * hazard[0]) * stats.norm.isf(p_value / 2))
    return np.array(z)


def _drift_z(sbook) -> np.ndarray:
    """z-scores, per segment, of the mean and the SD of month-on-month log-usage changes.

    For accounts with no new use cases, with the known ramp and season divided out, a step is
    usage_drift + b_i + usage_volatility * eps.  b_i is shared by an account's steps, so
    Var(mean) = (sigma^2 N + tau^2 sum n_i^2) / N^2; the SD of steps is sqrt(sigma^2 + tau^2) with
    standard error ~ sd / sqrt(2 N) (normal steps; b_i adds a little, ignored as tau << sigma).
    """
    book, truth = sbook.book, sbook.truth
    only_initial = book.use_cases.groupby("account_id").size() == 1
    usage = _with_segment(book, book.usage)
    usage = usage[usage["account_id"].map(only_initial).to_numpy()]
    same = usage["account_id"].to_numpy()[1:] == usage["account_id"].to_numpy()[:-1]
    seg = usage["segment"].map({s: i for i, s in enumerate(truth.segments)}).to_numpy()[1:][same]
    month = usage["month"].to_numpy()
    tenure = (month - usage["start_month"].to_numpy())[1:][same]
    step = np.diff(np.log(usage["usage"].to_numpy()))[same]
    ramp = lambda k: 1 - (1 - truth.ramp_start[seg]) * np.exp(-k / truth.ramp_months[seg])  # noqa: E731
    season = season_factor(month, truth.season_cos, truth.season_sin)
    step -= np.log(ramp(tenure) / ramp(tenure - 1)) + np.diff(np.log(season))[same]
    account = usage["account_id"].to_numpy()[1:][same]
    z = []
    for s in range(len(truth.segments)):
        steps = step[seg == s]
        per_account = pd.Series(steps).groupby(account[seg == s]).size().to_numpy()
        sigma, tau = truth.usage_volatility[s], truth.account_sd[s]
        se_mean = np.sqrt(sigma**2 * len(steps) + tau**2 * (per_account**2).sum()) / len(steps)
        z.append((steps.mean() - truth.usage_drift[s]) / se_mean)
        sd = np.hypot(sigma, tau)
        z.append((steps.std() - sd) / (sd / np.sqrt(2 * len(steps))))
    return np.array(z)


def _initial_usage_z(sbook) -> np.ndarray:
    """z-scores, per segment, of the mean plateau log usage at the start against
    initial_log_usage_mu: first-month usage is exp(x0) * ramp_start * season (no use case has
    arrived yet), and x0 ~ Normal(mu_s, sd_s)."""
    book, truth = sbook.book, sbook.truth
    first = _with_segment(book, book.usage.groupby("account_id", as_index=False).first())
    seg = first["segment"].map({s: i for i, s in enumerate(truth.segments)}).to_numpy()
    season = season_factor(first["month"].to_numpy(), truth.season_cos, truth.season_sin)
    x0 = np.log(first["usage"].to_numpy() / (truth.ramp_start[seg] * season))
    return np.array(
        [
            (x0[seg == s].mean() - truth.initial_log_usage_mu[s])
            / (truth.initial_log_usage_sd[s] / np.sqrt((seg == s).sum()))
            for s in range(len(truth.segments))
        ]
    )


def _use_case_z(sbook) -> np.ndarray:
    """z-scores, per segment and SE flag, of new use cases per active month after the start
    against use_case_rate (x se_use_case_ratio when SE-engaged); counts are Poisson."""
    book, truth = sbook.book, sbook.truth
    months_at_risk = book.usage.groupby("account_id").size() - 1
    new_cases = (book.use_cases["use_case_id"] != "uc0").groupby(book.use_cases["account_id"]).sum()
    accounts = book.accounts.set_index("account_id")
    z = []
    for s, segment in enumerate(truth.segments):
        for engaged in (False, True):
            mine = (accounts["segment"] == segment) & (accounts["se_engaged"] == engaged)
            rate = truth.use_case_rate[s] * (truth.se_use_case_ratio if engaged else 1.0)
            expected = rate * months_at_risk[accounts.index[mine]].sum()
            z.append((new_cases[accounts.index[mine]].sum() - expected) / np.sqrt(expected))
    return np.array(z)


CHECKS = {
    "churn_uncovered": lambda b: _churn_z(b, covered=False),
    "churn_covered": lambda b: _churn_z(b, covered=True),
    "drift": _drift_z,
    "initial_usage": _initial_usage_z,
    "use_cases": _use_case_z,
}


@pytest.mark.parametrize("check", list(CHECKS))
def test_book_agrees_with_truth(big, check):
    z = CHECKS[check](big)
    assert np.abs(z).max() < Z, z


# Each check must notice a modestly wrong truth (same book, one parameter off): proof it can fail.
WRONG = [
    ("churn_uncovered", "churn_beta", lambda t: t.churn_beta * 1.3),
    ("churn_covered", "csm_hazard_ratio", lambda t: 0.85),
    ("drift", "usage_drift", lambda t: t.usage_drift + 0.001),
    ("drift", "usage_volatility", lambda t: t.usage_volatility * 1.05),
    ("drift", "ramp_months", lambda t: t.ramp_months * 1.2),
    ("initial_usage", "initial_log_usage_mu", lambda t: t.initial_log_usage_mu + 0.05),
    ("use_cases", "use_case_rate", lambda t: t.use_case_rate * 1.15),
    ("use_cases", "se_use_case_ratio", lambda t: 1.9),
]


@pytest.mark.parametrize(("check", "name", "wrong"), WRONG, ids=[f"{c}-{n}" for c, n, _ in WRONG])
def test_checks_detect_a_wrong_truth(big, check, name, wrong):
    off = SyntheticBook(big.book, replace(big.truth, **{name: wrong(big.truth)}))
    assert np.abs(CHECKS[check](off)).max() > Z


def test_commits_and_revenue(big):
    """A commit is 10 months of the first-plateau revenue, rounded to whole currency; revenue is
    usage x the segment's unit price (both rounded to 4 decimals)."""
    book, truth = big.book, big.truth
    first = _with_segment(book, book.usage.groupby("account_id", as_index=False).first())
    seg = first["segment"].map({s: i for i, s in enumerate(truth.segments)}).to_numpy()
    season = season_factor(first["month"].to_numpy(), truth.season_cos, truth.season_sin)
    plateau = first["usage"].to_numpy() / (truth.ramp_start[seg] * season)
    commits = first["commit_annual"].to_numpy()
    has = first["contract_start_month"].notna().to_numpy()
    assert (commits[~has] == 0).all()
    np.testing.assert_allclose(
        commits[has], 10 * plateau[has] * truth.unit_price[seg][has], rtol=1e-5, atol=0.51
    )
    revenue = _with_segment(book, book.usage)
    prices = revenue["segment"].map(dict(zip(truth.segments, truth.unit_price, strict=True)))
    np.testing.assert_allclose(revenue["revenue"], revenue["usage"] * prices, atol=1e-4)
    cases = book.use_cases.merge(book.accounts, on="account_id")
    assert (cases["se_supported"] == cases["se_engaged"]).all()


def test_default_book_looks_like_a_consumption_business():
    """Calibration (CALIBRATION.md): NRR 110-130% typical, GRR 85-97%.  Measured on the embedded
    book: revenue in as_of of the accounts that were customers 12 months earlier, over their revenue
    then (GRR caps each account at its earlier revenue).  The book is young (every account started
    in the last 36 months), so onboarding ramps lift NRR; the bands are the calibration targets."""
    book = default_book()
    by_month = book.usage.pivot_table(index="account_id", columns="month", values="revenue")
    before = by_month[book.as_of - 12].dropna()
    after = by_month[book.as_of].reindex(before.index).fillna(0.0)
    nrr = after.sum() / before.sum()
    grr = np.minimum(after, before).sum() / before.sum()
    assert 1.10 <= nrr <= 1.30, nrr
    assert 0.85 <= grr <= 0.97, grr


def test_truth_to_dict_and_replace():
    values = DEFAULT_TRUTH.to_dict()
    assert "segments" not in values
    assert values["churn_alpha"].shape == (3,) and isinstance(values["season_cos"], float)
    np.testing.assert_allclose(
        values["churn_alpha"] / (values["churn_alpha"] + values["churn_beta"]),
        [0.006, 0.012, 0.025],
        rtol=0.01,
    )
    values["churn_alpha"][0] = 99.0  # a copy: the shared truth is untouched
    assert DEFAULT_TRUTH.churn_alpha[0] == 1.0
    flat = replace(DEFAULT_TRUTH, churn_beta=[10.0, 10.0, 10.0])
    assert flat.churn_beta.dtype == np.float64
    with pytest.raises(ValueError, match="usage_drift"):
        replace(DEFAULT_TRUTH, usage_drift=[0.1, 0.2])
