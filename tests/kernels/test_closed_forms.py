"""Kernel statistics against closed forms, independent of the NumPy reference.

The reference mirrors the kernel step by step, so it would share a modelling mistake; these tests
compare the compiled kernel with what the model *says*: sBG survival, Poisson use-case counts,
log-usage drift and volatility, the seasonal profile, the zero-month hurdle and failed onboarding.
Every tolerance is a multiple of the binomial / CLT standard error stated next to it (4 SE: a
false failure has probability ~6e-5 per check, and the seeds are fixed).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_params, run

QUIET = {  # everything off that the check does not look at
    "usage_drift": 0.0, "usage_volatility": 0.0, "account_sd": 0.0, "season_cos": 0.0,
    "season_sin": 0.0, "use_case_rate": 0.0, "commit_share": 0.0, "ramp_start": 1.0,
    "usage_decline_hazard_ratio": 1.0, "zero_month_prob": 0.0, "onboarding_failure": 0.0,
    "churn_alpha": 1e-9, "churn_beta": 1e9, "unhealthy_plateau": 1.0,
}  # fmt: skip
CALM = {"new_logo_rate": 0.0, "csm_coverage": 0.0, "se_coverage": 0.0, "unhealthy_share": 0.0}


def flat_book(n: int, *, segment=0, tenure=200, level=5.0, **fields) -> L.Accounts:
    """``n`` identical book accounts with a flat 24-month history at ``exp(level)``."""
    book = L.empty_accounts(n)._replace(
        segment=np.full(n, segment, dtype=np.int64),
        tenure=np.full(n, tenure, dtype=np.int64),
        log_usage=np.full(n, level),
        hist_usage=np.full((n, L.RING_MONTHS), np.exp(level)),
        data_from=np.full(n, -25, dtype=np.int64),
    )
    return book._replace(**fields)


def test_book_survival_is_sbg_given_its_tenure():
    """P(active in horizon month t) = B(a, b + n + t + 1) / B(a, b + n) for tenure n."""
    a, b, n, accounts, draws, horizon = 0.8, 12.0, 10, 2000, 25, 24
    sp, mp = make_params(draws, horizon, 1, jitter=0.0,
                         segment=QUIET | {"churn_alpha": a, "churn_beta": b}, month=CALM)  # fmt: skip
    out, _ = run(simulate_draws, 3, sp, mp, flat_book(accounts, tenure=n))
    survival = out[..., 0, L.V_ACTIVE].sum(axis=0) / (accounts * draws)
    t = np.arange(horizon)
    expected = np.exp(betaln(a, b + n + t + 1) - betaln(a, b + n))
    se = np.sqrt(expected * (1 - expected) / (accounts * draws))  # binomial, 50,000 accounts
    assert np.all(np.abs(survival - expected) < 4 * se + 1e-12), (survival - expected) / se


def test_covered_accounts_churn_by_their_own_exposure():
    """A covered account: theta ~ Beta(a, b + c n), survival per boundary (1 - theta)^c, so
    P(active in t) = B(a, b + c (n + t + 1)) / B(a, b + c n).  Paired: the same accounts observed
    uncovered follow B(a, b + n + t + 1) / B(a, b + n) and churn more."""
    a, b, c, n, half, draws, horizon = 0.8, 12.0, 0.5, 10, 1500, 20, 18
    sp, mp = make_params(draws, horizon, 2, jitter=0.0,
                         segment=QUIET | {"churn_alpha": a, "churn_beta": b,
                                          "csm_hazard_ratio": c},
                         month=CALM | {"csm_coverage": 0.5})  # fmt: skip
    covered = flat_book(half, segment=0, tenure=n, csm_covered=np.ones(half))
    plain = flat_book(half, segment=1, tenure=n, csm_covered=np.zeros(half))
    book = L.Accounts(*(np.concatenate([x, y]) for x, y in zip(covered, plain, strict=True)))
    out, _ = run(simulate_draws, 4, sp, mp, book)
    # The month's share 0.5 equals the book's observed covered share: exactly the observed
    # covered accounts are covered (their uniforms are ranked first), in every month.
    surv = out[..., L.V_ACTIVE].sum(axis=0) / (half * draws)
    t = np.arange(horizon)
    exp_cov = np.exp(betaln(a, b + c * (n + t + 1)) - betaln(a, b + c * n))
    exp_plain = np.exp(betaln(a, b + n + t + 1) - betaln(a, b + n))
    for got, expected in ((surv[:, 0], exp_cov), (surv[:, 1], exp_plain)):
        se = np.sqrt(expected * (1 - expected) / (half * draws))  # 30,000 accounts
        assert np.all(np.abs(got - expected) < 4 * se), (got - expected) / se
    assert surv[-1, 0] > surv[-1, 1]


def test_use_case_counts_are_rate_times_exposure():
    """Arrivals are Poisson with mean rate x multiplier x active account-months."""
    rate, mult = 0.04, 1.5
    sp, mp = make_params(40, 24, 1, jitter=0.0, segment=QUIET | {"use_case_rate": rate},
                         month=CALM | {"use_case_multiplier": mult})  # fmt: skip
    out, _ = run(simulate_draws, 5, sp, mp, flat_book(300))
    exposure = out[..., L.V_ACTIVE].sum()
    expected = rate * mult * exposure  # 0.06 x 288,000 = 17,280
    assert abs(out[..., L.V_NEW_USE_CASES].sum() - expected) < 4 * np.sqrt(expected)


def test_drift_and_volatility_of_log_usage():
    """One account per draw: monthly log-usage changes have mean g and SD sigma (b_i = 0 at
    account_sd 0).  Over 2,000 draws x 23 changes the SE of the mean is sigma / sqrt(46,000) and
    that of the SD ~ sigma / sqrt(92,000)."""
    g, sigma, draws, horizon = 0.012, 0.07, 2000, 24
    sp, mp = make_params(draws, horizon, 1, jitter=0.0,
                         segment=QUIET | {"usage_drift": g, "usage_volatility": sigma},
                         month=CALM)  # fmt: skip
    out, _ = run(simulate_draws, 6, sp, mp, flat_book(1))
    d = np.diff(np.log(out[:, :, 0, L.V_USAGE]), axis=1).ravel()
    n = d.size
    assert abs(d.mean() - g) < 4 * sigma / np.sqrt(n)
    assert abs(d.std() - sigma) < 4 * sigma / np.sqrt(2 * n)


def test_seasonal_profile_is_the_parameters():
    """Noiseless: usage in month t over month 0 is exp(season[m_t] - season[m_0]) exactly."""
    profile = np.array([0.1, -0.05, 0.0, 0.02, -0.1, 0.04, 0.0, -0.02, 0.03, 0.05, -0.12, 0.05])
    seasons = dict(zip(L.SEASON_PARAMS, profile, strict=True))
    sp, mp = make_params(1, 24, 1, jitter=0.0, segment=QUIET | seasons, month=CALM)
    moy0 = 4  # horizon month 0 is May
    out, _ = run(simulate_draws, 7, sp, mp, flat_book(1), month_of_year0=moy0)
    usage = out[0, :, 0, L.V_USAGE]
    m = (moy0 + np.arange(24)) % 12
    np.testing.assert_allclose(usage / usage[0], np.exp(profile[m] - profile[m[0]]), rtol=1e-12)
    # The level at as_of (April) had its own season removed: month 0 = exp(5) x e^(s_May - s_Apr).
    assert usage[0] == pytest.approx(np.exp(5.0) * np.exp(profile[4] - profile[3]), rel=1e-12)


def test_zero_month_share_and_failed_onboarding():
    """Skipped months are a Bernoulli(p) share of active months; a new logo fails onboarding
    (churns in its start month, never active) with probability f (natural churn is off)."""
    p, f = 0.05, 0.1
    sp, mp = make_params(30, 24, 1, jitter=0.0,
                         segment=QUIET | {"zero_month_prob": p, "onboarding_failure": f},
                         month=CALM | {"new_logo_rate": 20.0})  # fmt: skip
    out, _ = run(simulate_draws, 8, sp, mp, flat_book(400))
    active = out[..., L.V_ACTIVE].sum()  # ~300,000 account-months
    share = out[..., L.V_ZERO_MONTHS].sum() / active
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / active)
    # A failed onboarding churns in its start month (churn_month == start_month: never active).
    started = out[..., 0, L.V_NEW_LOGOS].sum()
    failed = out[..., 0, L.V_CHURNED].sum()
    assert abs(failed / started - f) < 4 * np.sqrt(f * (1 - f) / started)
    # The usage of skipped months is 0 while the level carries on: usage per non-skipped
    # account-month of the book stays exp(5) (noiseless).
    book_usage = out[:, :, 0, L.V_USAGE] - out[:, :, 0, L.V_NEW_LOGO_REVENUE]
    assert book_usage.max() <= 400 * np.exp(5.0) * (1 + 1e-12)
