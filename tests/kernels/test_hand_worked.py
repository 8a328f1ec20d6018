"""A book small enough to work out by hand: NRR/GRR inputs, churn, commits and ramp exactly.

No randomness reaches these numbers: volatility, drift and account effects are 0, there are no
use cases and no new logos, season is flat, and churn is switched off (hazard multiplier 0) or
forced (hazard multiplier 1e300) month by month.  Account A (segment 0) never churns; account B
(segment 1) churns at the boundary into month ``CHURN``; account C (segment 2) is one month old
at ``as_of`` and still ramping.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_params, run
from .oracle import simulate_draws_reference

HORIZON, CHURN, PRICE = 18, 4, 2.0
HIST_A = np.array([0, 0, 0, 300, 290, 280, 270, 260, 250, 240, 230, 220], float)
HIST_B = np.full(12, 50.0)
# The year before (months as_of-23 .. as_of-12), for the trailing-twelve-month NRR/GRR.
PRIOR_A = np.linspace(100.0, 210.0, 12)
PRIOR_B = np.full(12, 60.0)
R_A, R_B = PRICE * math.exp(5.0), PRICE * math.exp(3.0)  # flat revenue once the ramp is over


def simulate(fn=simulate_draws, *, renewal_ratio=0.5, month=None, segment=None):
    hist = np.stack(
        [np.r_[PRIOR_A, HIST_A], np.r_[PRIOR_B, HIST_B], np.r_[np.zeros(23), 0.3 * R_A]]
    )
    book = L.empty_accounts(3)._replace(
        segment=np.array([0, 1, 2]),
        tenure=np.array([200, 200, 0]),  # 200 months: ramp tail 0.7 * exp(-200/3) is below an ulp
        log_usage=np.array([5.0, 3.0, 5.0]),
        hist_usage=hist / PRICE,
        commit=np.array([1000.0, 1000.0, 0.0]),
        term_position=np.array([10, 0, 0]),
        consumed=np.array([900.0, 0.0, 0.0]),
        price=np.full(3, PRICE),
        data_from=np.array([-25, -25, -1]),
    )
    hazard = np.zeros((1, 3, HORIZON))
    hazard[0, 1, CHURN] = 1e300
    seg_params, month_params = make_params(
        1, HORIZON, jitter=0.0,
        segment={"usage_drift": 0.0, "usage_volatility": 0.0, "account_sd": 0.0, "season_cos": 0.0,
                 "season_sin": 0.0, "use_case_rate": 0.0, "unit_price": PRICE, "ramp_start": 0.3,
                 "ramp_months": 3.0, "renewal_ratio": renewal_ratio, "zero_month_prob": 0.0,
                 "usage_decline_hazard_ratio": 1.0} | (segment or {}),
        month={"new_logo_rate": 0.0, "hazard_multiplier": hazard} | (month or {}),
    )  # fmt: skip
    out, _ = run(fn, 1, seg_params, month_params, book, month_of_year0=0)
    return out[0]


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_retention_inputs_by_hand(fn):
    out = simulate(fn)
    a, b = out[:, 0], out[:, 1]
    t = np.arange(HORIZON)
    np.testing.assert_array_equal(a[:, L.V_REVENUE], R_A)
    np.testing.assert_array_equal(a[:, L.V_ACTIVE], 1.0)
    np.testing.assert_array_equal(b[:, L.V_ACTIVE], t < CHURN)
    np.testing.assert_array_equal(b[:, L.V_CHURNED], t == CHURN)
    assert b[CHURN, L.V_CHURNED_REVENUE] == R_B

    # A: 12 months ago from its history (not a customer in months 0-2), then its own revenue.
    year_ago_a = np.r_[HIST_A, np.full(HORIZON - 12, R_A)]
    had_a = year_ago_a > 0
    np.testing.assert_array_equal(a[:, L.V_RETENTION_BASE], year_ago_a)
    np.testing.assert_array_equal(a[:, L.V_RETAINED], np.where(had_a, R_A, 0.0))
    np.testing.assert_array_equal(
        a[:, L.V_RETAINED_CAPPED], np.where(had_a, np.minimum(R_A, year_ago_a), 0.0)
    )

    # B stays in the base for the 12 months after it was last seen, retaining nothing.
    base_b = np.where(t < 12, 50.0, np.where(t < CHURN + 12, R_B, 0.0))
    np.testing.assert_array_equal(b[:, L.V_RETENTION_BASE], base_b)
    np.testing.assert_array_equal(b[:, L.V_RETAINED], np.where(t < CHURN, R_B, 0.0))
    np.testing.assert_array_equal(b[:, L.V_RETAINED_CAPPED], np.where(t < CHURN, R_B, 0.0))


def ttm_by_hand(series, t, customer_then):
    """(base, retained, capped) of one account in horizon month ``t``; ``series[m + 24]`` is its
    revenue in month ``m`` (``m = -24 .. HORIZON - 1``)."""
    if not customer_then:
        return 0.0, 0.0, 0.0
    base = sum(series[m + 24] for m in range(t - 23, t - 11))
    kept = sum(series[m + 24] for m in range(t - 11, t + 1))
    return base, kept, min(base, kept)


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_trailing_twelve_month_retention_by_hand(fn):
    """NRR/GRR inputs: A flat at R_A after a rising history, B churning in month CHURN, C new at
    as_of (never a customer for a whole base year inside the horizon, so outside the base)."""
    out = simulate(fn)
    t_all = np.arange(HORIZON)
    series_a = np.r_[PRIOR_A, HIST_A, np.full(HORIZON, R_A)]
    series_b = np.r_[PRIOR_B, HIST_B, np.where(t_all < CHURN, R_B, 0.0)]
    for t in t_all:
        a = ttm_by_hand(series_a, t, True)
        b = ttm_by_hand(series_b, t, t < CHURN + 12)  # B was a customer in t - 12
        for k, v in enumerate((L.V_TTM_BASE, L.V_TTM_RETAINED, L.V_TTM_RETAINED_CAPPED)):
            assert out[t, 0, v] == pytest.approx(a[k], rel=1e-12), (t, v)
            assert out[t, 1, v] == pytest.approx(b[k], rel=1e-12, abs=1e-9), (t, v)
        # C started at as_of (horizon month -1): a customer for a whole base year t-23 .. t-12
        # only from t = 22, past this horizon; in months 11-17 it was a customer in t - 12 but
        # for part of the base year only, so it stays out (it would add ratios of 2-12).
        assert out[t, 2, L.V_TTM_BASE] == 0.0
    assert out[11:, 2, L.V_RETENTION_BASE].min() > 0  # the monthly year-ago base has it
    # Month 0 worked out: A's base is months -23 .. -12, retained months -11 .. 0.
    assert out[0, 0, L.V_TTM_BASE] == pytest.approx(PRIOR_A[1:].sum() + HIST_A[0])
    assert out[0, 0, L.V_TTM_RETAINED] == pytest.approx(HIST_A[1:].sum() + R_A)


def commit_by_hand(revenue, commit, consumed, term_position, renewal_ratio, months):
    """The commit rules in plain Python: ``(overage, leak)`` per month."""
    overage, leak = np.zeros(months), np.zeros(months)
    for t in range(months):
        if commit <= 0.0:
            break
        before, consumed = consumed, consumed + revenue
        if consumed > commit:
            overage[t] = consumed - max(before, commit)
        term_position += 1
        if term_position == 12:
            leak[t] = max(commit - consumed, 0.0)
            commit, consumed, term_position = renewal_ratio * consumed, 0.0, 0
    return overage, leak


@pytest.mark.parametrize("renewal_ratio", [0.5, 0.0])
@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_commits_by_hand(fn, renewal_ratio):
    out = simulate(fn, renewal_ratio=renewal_ratio)
    overage, leak = commit_by_hand(R_A, 1000.0, 900.0, 10, renewal_ratio, HORIZON)
    # Over the commit in the last two months of the term: 900 + R_A - 1000, then all of R_A.
    assert overage[:2] == pytest.approx([R_A - 100.0, R_A], rel=1e-12)
    np.testing.assert_array_equal(out[:, 0, L.V_OVERAGE], overage)
    np.testing.assert_array_equal(out[:, 0, L.V_LEAK], leak)
    # B consumes R_B a month against 1000 and churns in month CHURN: the rest leaks then.
    expected_b = np.zeros(HORIZON)
    expected_b[CHURN] = 1000.0 - (((0.0 + R_B) + R_B) + R_B + R_B)
    np.testing.assert_array_equal(out[:, 1, L.V_LEAK], expected_b)
    np.testing.assert_array_equal(out[:, 1, L.V_OVERAGE], 0.0)


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_ramp_continues_from_as_of(fn):
    # C is at tenure 0 at as_of with usage e**5 at ramp_start 0.3: its plateau revenue is R_A / 0.3;
    # horizon month t is tenure t + 1.
    revenue = simulate(fn)[:, 2, L.V_REVENUE]
    tenure = np.arange(HORIZON) + 1
    expected = R_A / 0.3 * (1.0 - 0.7 * np.exp(-tenure / 3.0))
    np.testing.assert_allclose(revenue, expected, rtol=1e-12)


SHIFT_FROM, PRICE_FROM = 5, 8


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_drift_shift_and_price_multiplier_by_hand(fn):
    """drift_shift adds to log usage each month it is set; price_multiplier scales revenue (not
    usage) in the months it is set."""
    t = np.arange(HORIZON)
    shift = np.where(t >= SHIFT_FROM, -0.01, 0.0)
    price = np.where(t >= PRICE_FROM, 1.08, 1.0)
    out = simulate(fn, month={"drift_shift": shift, "price_multiplier": price})
    plain = simulate(fn)
    level = np.exp(5.0 + np.cumsum(shift))
    np.testing.assert_allclose(out[:, 0, L.V_USAGE], level, rtol=1e-12)
    np.testing.assert_allclose(out[:, 0, L.V_REVENUE], PRICE * level * price, rtol=1e-12)
    # Account B (no shift before it churns in month CHURN < SHIFT_FROM) only sees the price.
    np.testing.assert_array_equal(out[:, 1, L.V_USAGE], plain[:, 1, L.V_USAGE])
    np.testing.assert_allclose(out[:, 1, L.V_REVENUE], plain[:, 1, L.V_REVENUE] * price, rtol=1e-15)


@pytest.mark.parametrize("commit_share", [0.0, 1.0])
@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_new_logo_bookings_by_hand(fn, commit_share):
    """Every new logo starts at usage e**8 (no spread): a commit books commit_months x price x
    e**8; pay-as-you-go books 12 x price x e**8 x mean ramp of months 0..11, ramp(k) = 1 - 0.7
    e**(-k/3).  A price multiplier in the start month scales both."""
    t = np.arange(HORIZON)
    price = np.where(t >= PRICE_FROM, 1.08, 1.0)
    out = simulate(
        fn,
        month={"new_logo_rate": 2.0, "price_multiplier": price},
        segment={"initial_log_usage_mu": 8.0, "initial_log_usage_sd": 0.0,
                 "commit_share": commit_share, "commit_months": 10.0},
    )  # fmt: skip
    logos = out[..., L.V_NEW_LOGOS]
    assert logos.sum() > 10
    mean_ramp = 1.0 - 0.7 * np.exp(-np.arange(12) / 3.0).mean()
    per_logo = PRICE * math.exp(8.0) * (10.0 if commit_share else 12.0 * mean_ramp)
    np.testing.assert_allclose(
        out[..., L.V_BOOKINGS], logos * per_logo * price[:, None], rtol=1e-12, atol=0
    )
