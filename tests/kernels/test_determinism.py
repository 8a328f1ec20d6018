"""Same seed -> bitwise-identical results; scenarios share random streams (CRN)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_book, make_params, run

DRAWS, HORIZON, COHORT = 12, 20, 10


@pytest.fixture(scope="module")
def case():
    return make_book(40), *make_params(DRAWS, HORIZON)


def test_same_seed_bitwise_at_any_thread_count(case):
    book, seg_params, month_params = case
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run(simulate_draws, 9, seg_params, month_params, book, cohort_months=COHORT)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run(simulate_draws, 9, seg_params, month_params, book, cohort_months=COHORT)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_chunking_does_not_matter(case):
    book, seg_params, month_params = case
    whole = run(simulate_draws, 9, seg_params, month_params, book, cohort_months=COHORT)
    parts = [
        run(simulate_draws, 9, seg_params[a:b], month_params[a:b], book, cohort_months=COHORT,
            draw_start=a)
        for a, b in [(0, 5), (5, 12)]
    ]  # fmt: skip
    for k in range(2):
        np.testing.assert_array_equal(whole[k], np.concatenate([p[k] for p in parts]))


def test_different_seed_differs(case):
    book, seg_params, month_params = case
    a, _ = run(simulate_draws, 9, seg_params, month_params, book)
    b, _ = run(simulate_draws, 10, seg_params, month_params, book)
    assert not np.array_equal(a[..., L.V_REVENUE], b[..., L.V_REVENUE])
    assert not np.array_equal(a[..., L.V_CHURNED], b[..., L.V_CHURNED])


def test_new_logos_leave_existing_accounts_and_later_logos_alone():
    """Common random numbers: more new logos change nothing else.

    Existing accounts are in segments 0 and 1 only; new logos arrive in segment 2 only.  Raising
    segment 2's new-logo rate in month 0 must leave segments 0 and 1 bitwise unchanged, and must
    leave the logos of months 1.. (their count and their cohort revenue) unchanged.  A generator
    shared by a draw's accounts, or keyed by arrival order, would fail both.
    """
    book = make_book(40, n_segments=2)
    seg_params, month_params = make_params(DRAWS, HORIZON)
    month_params[:, :2, :, L.M_NEW_LOGO_RATE] = 0.0
    low = month_params.copy()
    high = month_params.copy()
    low[:, 2, 0, L.M_NEW_LOGO_RATE] = 0.0
    high[:, 2, 0, L.M_NEW_LOGO_RATE] = 8.0
    out_low, cohort_low = run(simulate_draws, 4, seg_params, low, book, cohort_months=COHORT)
    out_high, cohort_high = run(simulate_draws, 4, seg_params, high, book, cohort_months=COHORT)

    assert out_high[:, 0, 2, L.V_NEW_LOGOS].sum() > 0 and out_low[:, 0, 2, L.V_NEW_LOGOS].sum() == 0
    np.testing.assert_array_equal(out_low[:, :, :2], out_high[:, :, :2])
    np.testing.assert_array_equal(
        out_low[:, 1:, 2, L.V_NEW_LOGOS], out_high[:, 1:, 2, L.V_NEW_LOGOS]
    )
    np.testing.assert_array_equal(cohort_low[:, 1:], cohort_high[:, 1:])
    assert not np.array_equal(cohort_low[:, 0], cohort_high[:, 0])
