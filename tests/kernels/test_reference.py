"""The numba kernel against the NumPy reference: same model, same random numbers."""

from __future__ import annotations

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels import rng
from simengine.kernels.account import simulate_draws

from . import oracle as ref
from ._book import make_book, make_params, run
from .oracle import simulate_draws_reference

# name: (accounts, horizon, draws, cohort_months, month_of_year0, segment and month overrides,
#        capacity (csm, se) or None for unlimited)
CASES = {
    "base": (40, 24, 8, 18, 3, {}, {}, None),
    # Coverage binds: the shares move with each draw's own book, month by month.
    "capacity": (
        40,
        24,
        8,
        18,
        3,
        {"use_case_rate": 0.3},
        {"csm_coverage": 1.0, "se_coverage": 1.0},
        (np.linspace(35.0, 10.0, 24), 20.0),
    ),
    "capacity_tail": (
        60,
        12,
        6,
        30,
        1,
        {"use_case_rate": 0.3},
        {
            "csm_coverage": 0.8,
            "se_coverage": 1.0,
            "drift_shift": -0.01,
            "price_multiplier": np.r_[np.ones(6), np.full(6, 1.08)],
            "new_logo_multiplier": 1.5,
        },
        (25.0, np.linspace(0.0, 40.0, 12)),
    ),
    "long_no_cohort": (40, 30, 8, 0, 11, {}, {"unhealthy_share": 0.5, "se_coverage": 0.8}, None),
    "no_new_logos": (40, 12, 8, 6, 0, {}, {"new_logo_rate": 0.0}, (10.0, 0.0)),
    "no_use_cases": (40, 18, 8, 12, 5, {"use_case_rate": 0.0}, {}, None),
    "alpha_below_one": (40, 24, 8, 12, 7, {"churn_alpha": 0.35, "churn_beta": 6.0}, {}, None),
    "horizon_1": (40, 1, 8, 6, 2, {}, {"new_logo_rate": 9.0}, (5.0, 5.0)),
    # Contract anniversaries (book and new logos) and a decline threshold away from the default.
    "anniversaries": (
        40,
        30,
        8,
        12,
        4,
        {"anniversary_hazard_ratio": 3.0, "decline_threshold": -0.1},
        {},
        None,
    ),  # fmt: skip
    "heavy_churn_commits": (
        30,
        30,
        6,
        24,
        9,
        {"commit_share": 1.0, "renewal_ratio": 0.6, "use_case_rate": 0.4, "season_cos": 0.3},
        {"hazard_multiplier": np.linspace(0.5, 4.0, 30), "csm_coverage": 0.9},
        None,
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", CASES)
def test_kernel_matches_reference(case):
    n_accounts, horizon, draws, cohort_months, moy0, seg_over, month_over, cap = CASES[case]
    book = make_book(n_accounts)
    seg_params, month_params = make_params(draws, horizon, segment=seg_over, month=month_over)
    kw = {"cohort_months": cohort_months, "month_of_year0": moy0, "draw_start": 3,
          "capacity": cap, "full": True}  # fmt: skip
    out_k, cohort_k, coverage_k, later_k = run(
        simulate_draws, 11, seg_params, month_params, book, **kw
    )[:4]
    out_r, cohort_r, coverage_r, later_r = run(
        simulate_draws_reference, 11, seg_params, month_params, book, **kw
    )[:4]
    # Coverage shares are computed by the same operations from integer counts: exactly equal.
    np.testing.assert_array_equal(coverage_k, coverage_r)
    if cap is not None and horizon > 1:  # the shares did bind and move
        assert 0.0 < coverage_k[..., 0].min() < coverage_k[..., 0].max() < 1.0
    # atol=0 on purpose: an exact zero is a sum of no terms on both sides, so it must match exactly;
    # every other value is a sum of non-negative terms in another order: relative error ~1e-15.
    for v, name in enumerate(L.OUTPUTS):
        np.testing.assert_allclose(out_k[..., v], out_r[..., v], rtol=1e-9, atol=0, err_msg=name)
    np.testing.assert_allclose(cohort_k, cohort_r, rtol=1e-9, atol=0)
    np.testing.assert_allclose(later_k, later_r, rtol=1e-9, atol=0)

    # The comparison exercises the paths it claims to.
    total = out_k.sum(axis=(0, 1, 2))
    assert total[L.V_ACTIVE] > 0 and total[L.V_REVENUE] > 0
    assert (total[L.V_NEW_LOGOS] > 0) == (case != "no_new_logos")
    assert (total[L.V_NEW_USE_CASES] > 0) == (case != "no_use_cases")
    if case != "no_use_cases":
        assert total[L.V_EXISTING_EXPANSION_REVENUE] > 0
    if horizon > 1:
        assert total[L.V_CHURNED] > 0 and total[L.V_OVERAGE] > 0
    if cohort_months and case != "no_new_logos":
        assert cohort_k[..., -1].sum() > 0  # logos followed to the end of their cohort window
    if cohort_months > L.LATER_FROM and case != "no_new_logos":
        assert later_k.min() > 0  # every draw has logos past their first year


def test_reference_chunking_does_not_matter(monkeypatch):
    book = make_book(40)
    seg_params, month_params = make_params(6, 14)
    whole = run(simulate_draws_reference, 5, seg_params, month_params, book, cohort_months=8)
    monkeypatch.setattr(ref, "_LANES_PER_CHUNK", 100)  # about one draw per chunk
    chunked = run(simulate_draws_reference, 5, seg_params, month_params, book, cohort_months=8)
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


# --- the stream port, function by function ---------------------------------------------------
STATES = np.array([0, 1, 2**63, 2**64 - 1, 0x9E3779B97F4A7C15, 123456789, 2**40 + 7], np.uint64)


def test_stream_keys_match():
    for seed, draw, account, purpose in [
        (0, 0, 0, 0),
        (7, 3, 2**40 + 5, 2),
        (2**64 - 1, 999, 12, 5),
    ]:
        expected = rng.stream_key(np.uint64(seed), draw, account, purpose)
        assert ref.stream_key(seed, draw, account, purpose)[0] == expected
        assert ref.purpose_key(np.array([expected], np.uint64), 3)[0] == rng.purpose_key(
            np.uint64(expected), 3
        )
    assert rng.new_logo_account(7, 2, 5) == ref.NEW_LOGO_BASE + (7 << 28) + (2 << 20) + 5


def test_uniform_and_normal_match():
    st_r, u_r = ref.next_uniform(STATES)
    pair_r = ref.next_normal_pair(STATES)
    for i, s in enumerate(STATES):
        st, u = rng.next_uniform(s)
        assert st == st_r[i] and u == u_r[i]
        st, z1, z2 = rng.next_normal_pair(s)
        assert st == pair_r[0][i]
        # The ziggurat is exact arithmetic on its fast path; only a wedge's exp could differ by an
        # ulp between NumPy and libm (tests/kernels/test_ziggurat.py checks bytes in bulk).
        np.testing.assert_allclose([z1, z2], [pair_r[1][i], pair_r[2][i]], rtol=1e-14)


@pytest.mark.parametrize(("a", "b"), [(0.3, 2.0), (1.2, 99.0), (5.0, 0.7), (1.0, 1.0)])
def test_gamma_and_beta_match(a, b):
    states = ref.mix64(np.arange(200, dtype=np.uint64))
    st_r, g_r = ref.next_gamma(states, np.full(states.size, a))
    bst_r, beta_r = ref.next_beta(states, np.full(states.size, a), np.full(states.size, b))
    for i, s in enumerate(states):
        st, g = rng.next_gamma(s, a)
        assert st == st_r[i]  # same number of rejections: the state has advanced equally
        np.testing.assert_allclose(g, g_r[i], rtol=1e-13)
        st, x = rng.next_beta(s, a, b)
        assert st == bst_r[i]
        np.testing.assert_allclose(x, beta_r[i], rtol=1e-13)


def test_poisson_inverse_matches():
    # Not the far tails (u within ~1e-12 of 0 or 1): there the cdf sum is decided by rounding, and
    # an ulp of difference between NumPy's and libm's exp/log moves the answer (test_rng checks
    # that those quantiles stay sane).
    lam = np.array([0.0, 1e-9, 0.3, 1.0, 4.99, 5.0, 37.5, 900.0])
    u = np.array([1e-9, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-9])
    grid_l, grid_u = np.meshgrid(lam, u)
    pairs = zip(grid_l.ravel(), grid_u.ravel(), strict=True)
    expected = [rng.poisson_inverse(x, y) for x, y in pairs]
    np.testing.assert_array_equal(ref.poisson_inverse(grid_l, grid_u).ravel(), expected)
