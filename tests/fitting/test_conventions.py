"""What the fit sees: an explicit earlier ``as_of`` cuts the book, and the rows after it never
reach the fit (issue 8)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymc")

from simengine.config import FitConfig  # noqa: E402
from simengine.data import format_month, generate_book, load_book, write_book  # noqa: E402
from simengine.fitting import fit_book  # noqa: E402


def _export_up_to(book, as_of: int, folder):
    """The export a user would have had at ``as_of``: nothing later in it."""
    accounts = book.accounts[book.accounts["start_month"] <= as_of].copy()
    late = accounts["churn_month"].astype("Float64") > as_of + 1
    accounts.loc[late.fillna(False).to_numpy(), "churn_month"] = pd.NA
    usage = book.usage[book.usage["month"] <= as_of]
    cases = book.use_cases[book.use_cases["start_month"] <= as_of]
    early = book.__class__(accounts, usage, cases, as_of)
    return write_book(early, folder)


@pytest.mark.slow
def test_future_rows_do_not_change_the_fit(tmp_path):
    full = generate_book(n_accounts=200, history_months=24, seed=12).book
    cut_month = full.as_of - 6
    paths = write_book(full, tmp_path / "full")
    cut = load_book(paths["accounts"], paths["usage"], paths["use_cases"], as_of=cut_month)
    assert len(cut.future_usage) > 0 and len(cut.future_accounts) > 0
    early = _export_up_to(full, cut_month, tmp_path / "early")
    plain = load_book(early["accounts"], early["usage"], early["use_cases"])
    assert plain.as_of == cut_month, format_month(plain.as_of)
    assert plain == cut
    cfg = FitConfig(models=["usage", "churn"], draws=60, tune=60)
    a = fit_book(cut, cfg, seed=4, progress=False)
    b = fit_book(plain, cfg, seed=4, progress=False)
    assert a.attrs["data_hash"] == b.attrs["data_hash"]
    for name in ("churn_alpha", "churn_beta", "usage_drift", "zero_month_prob"):
        # same data, same seed: bit-identical draws
        assert np.array_equal(a["posterior"][name].to_numpy(), b["posterior"][name].to_numpy())
