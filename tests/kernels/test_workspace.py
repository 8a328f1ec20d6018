"""The kernel's reused state (one workspace per thread, segment blocks, lazy compaction) leaks
nothing from one draw into the next."""

from __future__ import annotations

import numba
import numpy as np

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_book, make_params, run

DRAWS, HORIZON, COHORT = 10, 30, 12


def test_a_draw_alone_equals_the_same_draw_after_others():
    """On one thread every draw reuses the same workspace; each draw run on its own (a fresh
    workspace) must give the same bytes.  Draw 0 has ten times fewer new logos than the others,
    so the workspace sized from it is too small for them: they take the grow path."""
    book = make_book(60)
    seg_params, month_params = make_params(DRAWS, HORIZON)
    month_params[0, :, :, L.M_NEW_LOGO_RATE] *= 0.1
    # Heavy churn so positions die and blocks compact several times within a draw.
    seg_params[:, :, L.P_CHURN_ALPHA] = 2.0
    seg_params[:, :, L.P_CHURN_BETA] = 8.0
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        whole = run(simulate_draws, 4, seg_params, month_params, book, cohort_months=COHORT,
                    full=True)  # fmt: skip
        for j in (0, 3, DRAWS - 1):
            alone = run(simulate_draws, 4, seg_params[j : j + 1], month_params[j : j + 1], book,
                        cohort_months=COHORT, draw_start=j, full=True)  # fmt: skip
            for a, b in zip(whole, alone, strict=True):
                if a.shape[0] == DRAWS:  # out, cohort, coverage, later_revenue (accounts: shared)
                    np.testing.assert_array_equal(a[j : j + 1], b)
    finally:
        numba.set_num_threads(before)
    # The draws did churn (so compaction ran): the test exercises what it claims to.
    assert whole.out[..., L.V_CHURNED].sum(axis=(1, 2)).min() > 10
