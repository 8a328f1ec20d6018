"""Coverage from each draw's simulated book (issue 7): capacity binds within a draw.

The kernel sets month ``t``'s CSM share to ``min(csm_coverage, capacity[t] / active)``, ``active``
being the draw's own active accounts at the start of ``t`` (survivors of ``t - 1`` plus the logos
starting in ``t``).  An account is covered when its fixed uniform is below the share.
"""

from __future__ import annotations

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_book, make_params, run
from .oracle import simulate_draws_reference

DRAWS, HORIZON = 24, 36
BOOK = make_book(200)


def simulate(month, capacity, segment=None, seed=5, fn=simulate_draws):
    seg_params, month_params = make_params(
        DRAWS, HORIZON, segment=segment, month={"csm_coverage": 1.0, "se_coverage": 1.0} | month
    )
    return run(fn, seed, seg_params, month_params, BOOK, capacity=capacity, full=True)


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_coverage_is_capacity_over_the_draws_own_active_accounts(fn):
    """Exactly: share[d, t] = min(1, capacity[t] / (active[d, t-1] + new logos[d, t]))."""
    capacity = np.linspace(120.0, 60.0, HORIZON)
    res = simulate({}, (capacity, 2 * capacity), fn=fn)
    active = res.out[..., L.V_ACTIVE].sum(axis=2)
    new = res.out[..., L.V_NEW_LOGOS].sum(axis=2)
    at_start = np.concatenate([np.full((DRAWS, 1), BOOK.segment.size), active[:, :-1]], axis=1)
    at_start = at_start + new
    np.testing.assert_array_equal(res.coverage[..., L.C_CSM], np.minimum(1.0, capacity / at_start))
    np.testing.assert_array_equal(
        res.coverage[..., L.C_SE], np.minimum(1.0, 2 * capacity / at_start)
    )
    # Draws differ in their books, so they differ in coverage: not one expected count for all.
    assert np.unique(res.coverage[:, -1, L.C_CSM]).size > DRAWS // 2


def test_higher_churn_draw_has_higher_csm_coverage_per_account():
    """CRN pair: twice the churn hazard -> fewer active accounts -> at least the coverage, every
    draw and month, and more where capacity binds.

    Exact, not statistical: with ``2 x csm_hazard_ratio >= 1`` an account's hazard in the
    high-churn run is never below its hazard in the base run even when only the high-churn run
    covers it, so (by induction over months) the high-churn run's survivors are a subset of the
    base run's, its active count is never larger and its share never smaller.
    """
    cap = (60.0, 60.0)
    segment = {"csm_hazard_ratio": 0.7}
    base = simulate({"hazard_multiplier": 1.0}, cap, segment)
    high = simulate({"hazard_multiplier": 2.0}, cap, segment)
    churn_base = base.out[..., L.V_CHURNED].sum(axis=(1, 2))
    churn_high = high.out[..., L.V_CHURNED].sum(axis=(1, 2))
    assert (churn_high >= churn_base).all() and (churn_high > churn_base).mean() > 0.9
    cov_base, cov_high = base.coverage[..., L.C_CSM], high.coverage[..., L.C_CSM]
    assert (cov_high >= cov_base).all()
    # Capacity binds (share < 1) and the higher churn shows in the last month of every draw.
    assert (cov_base[:, -1] < 1.0).all()
    assert (cov_high[:, -1] > cov_base[:, -1]).all()
    # Draw by draw: the draw that kept fewer accounts is the one with more coverage per account.
    active_base = base.out[:, -1, :, L.V_ACTIVE].sum(axis=1)
    active_high = high.out[:, -1, :, L.V_ACTIVE].sum(axis=1)
    assert (active_high < active_base).all()


def test_book_outgrowing_a_fixed_csm_team_sees_coverage_fall():
    """No churn, 15 new logos a month on a 200-account book, a fixed team covering 150 accounts:
    the share falls every month (150/215, 150/230, ...)."""
    res = simulate({"hazard_multiplier": 0.0, "new_logo_rate": 5.0}, (150.0, np.inf))
    cov = res.coverage[..., L.C_CSM]
    new = res.out[..., L.V_NEW_LOGOS].sum(axis=2)
    grew = new[:, 1:] > 0
    assert (np.diff(cov, axis=1) <= 0).all()
    assert (np.diff(cov, axis=1)[grew] < 0).all()
    assert (cov[:, -1] < 0.5 * cov[:, 0]).all()  # ~150/740 vs ~150/215
    np.testing.assert_array_equal(res.coverage[..., L.C_SE], 1.0)  # unlimited SE capacity


def test_coverage_shares_cover_nested_sets_and_cut_churn():
    """Per account: covered iff its own uniform < share.  More capacity in month 0 (same book)
    covers a superset, so with churn only in month 0 nothing churns that the smaller team kept."""
    hazard = np.zeros(HORIZON)
    hazard[0] = 5.0  # a heavy hazard at the boundary into month 0 only
    segment = {"csm_hazard_ratio": 0.05}
    month = {"hazard_multiplier": hazard, "new_logo_rate": 0.0}
    small = simulate(month, (20.0, 0.0), segment)
    large = simulate(month, (150.0, 0.0), segment)
    churn_small = small.out[:, 0, :, L.V_CHURNED].sum(axis=1)
    churn_large = large.out[:, 0, :, L.V_CHURNED].sum(axis=1)
    assert (churn_large <= churn_small).all() and churn_large.sum() < churn_small.sum()
    np.testing.assert_array_equal(small.coverage[:, 0, L.C_CSM], 0.1)
    np.testing.assert_array_equal(large.coverage[:, 0, L.C_CSM], 0.75)


def test_use_case_health_follows_the_accounts_own_se_support():
    """Unhealthy use cases reach ``unhealthy_plateau`` = 0 of their size here, so expansion is zero
    exactly when every use case is unhealthy.  Supported accounts: never unhealthy; unsupported:
    always.  The new-logo ``unhealthy_share`` (1 here) does not reach use cases."""
    segment = {"unhealthy_plateau": 0.0, "use_case_rate": 0.3}
    month = {"unhealthy_share": 1.0, "use_case_unhealthy_covered": 0.0,
             "use_case_unhealthy_uncovered": 1.0, "new_logo_rate": 0.0}  # fmt: skip
    supported = simulate(month, (np.inf, np.inf), segment)
    unsupported = simulate(month, (np.inf, 0.0), segment)
    assert supported.out[..., L.V_NEW_USE_CASES].sum() > 0
    assert unsupported.out[..., L.V_NEW_USE_CASES].sum() > 0
    assert (supported.out[:, 3:, :, L.V_EXPANSION_REVENUE].sum(axis=(1, 2)) > 0).all()
    np.testing.assert_array_equal(unsupported.out[..., L.V_EXPANSION_REVENUE], 0.0)
    # Half the accounts supported (by their own uniform): expansion from those accounts only.
    half = simulate(month, (np.inf, 100.0), segment)
    np.testing.assert_array_equal(half.coverage[:, 0, L.C_SE], 100.0 / BOOK.segment.size)
    total = half.out[..., L.V_EXPANSION_REVENUE].sum()
    assert 0 < total < supported.out[..., L.V_EXPANSION_REVENUE].sum()
