"""The kernel's ``later_revenue`` (``expansion_multiple``'s numerator) against the cohort cells,
and a run that keeps no cells against one that does."""

from __future__ import annotations

import numpy as np

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws
from simengine.results import make_dataset

from ._book import make_book, make_params, run

DRAWS, HORIZON, COHORT = 6, 14, 60


def _run(cells: bool) -> L.Outputs:
    book = make_book(40)
    seg_params, month_params = make_params(DRAWS, HORIZON, month={"new_logo_rate": 1.5}, jitter=0.2)
    return run(simulate_draws, 23, seg_params, month_params, book, cohort_months=COHORT,
               month_of_year0=5, draw_start=2, full=True, cells=cells)  # fmt: skip


def test_later_revenue_is_the_cells_of_months_12_to_59():
    outputs = _run(cells=True)
    cells = outputs.cohort[:, :, L.LATER_FROM : L.LATER_TO]
    later = outputs.later_revenue
    assert (later > 0).all() and (outputs.cohort[:, :, : L.LATER_FROM].sum(axis=(1, 2)) > 0).all()
    # Both sides add the same non-negative logo-months in other orders (the kernel by month and
    # segment, 64 lanes a range; numpy by cell).  Rounding a sum of n non-negative terms errs by at
    # most (n - 1) u relatively (u = 2**-53), so the two differ by at most 2 (n - 1) u; n is at most
    # the logos' months in the window, < 4,000 here: < 8.9e-13, inside rtol 1e-12.  Leaving out a
    # logo's month, or adding months 0-11 (> 0 above), would be far outside it.
    terms = outputs.out[..., L.V_NEW_LOGOS].sum(axis=(1, 2)) * (L.LATER_TO - L.LATER_FROM)
    assert terms.max() < 4_000
    np.testing.assert_allclose(later, cells.sum(axis=(1, 2)), rtol=1e-12, atol=0)


def test_a_run_without_cells_sums_the_same_bits():
    kept, bare = _run(cells=True), _run(cells=False)
    assert bare.cohort.shape == (DRAWS, 0, COHORT)
    np.testing.assert_array_equal(bare.later_revenue, kept.later_revenue)
    np.testing.assert_array_equal(bare.out, kept.out)
    np.testing.assert_array_equal(bare.coverage, kept.coverage)
    months = np.arange(HORIZON).astype("datetime64[M]").astype("datetime64[ns]")
    datasets = [
        make_dataset(
            o.out, o.cohort, o.later_revenue, months=months, segments=("a", "b", "c"), attrs={}
        )
        for o in (kept, bare)
    ]
    assert "cohort_revenue" in datasets[0] and "cohort_revenue" not in datasets[1]
    multiple = [ds["expansion_multiple"].values for ds in datasets]
    assert np.isfinite(multiple[0]).all() and (multiple[0] > 0).all()
    np.testing.assert_array_equal(multiple[1], multiple[0])
