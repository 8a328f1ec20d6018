"""The usage change statistics that the usage fit and the simulation's set-up both read."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from simengine.bookstats.changes import (
    SETTLE_MONTHS,
    account_statistics,
    change_statistics,
    changed_rows,
    usage_changes,
)
from simengine.bookstats.panel import usage_panel
from simengine.data import Book, generate_book

M0 = 2025 * 12  # January 2025: month of year 0


def _book(with_cases: bool) -> Book:
    """``a`` (usage every month from its start), ``b`` (two months of usage, started later) and
    ``c`` (a customer without usage rows); with ``with_cases``, ``a`` starts a new use case in
    month 4 (its first, in month 0, was there from the start, as was ``b``'s)."""
    accounts = pd.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "segment": ["x", "x", "x"],
            "start_month": np.array([M0, M0 + 2, M0 + 1], dtype=np.int64),
            "churn_month": pd.array([pd.NA, pd.NA, pd.NA], dtype="Int64"),
        }
    )
    log_a = [0.0, 0.1, 0.3, 0.2, 0.5, 0.5]
    rows = [("a", M0 + t, float(np.exp(v))) for t, v in enumerate(log_a)]
    rows += [("b", M0 + 2, 2.0), ("b", M0 + 3, 3.0)]
    usage = pd.DataFrame(rows, columns=["account_id", "month", "usage"])
    usage["month"] = usage["month"].astype(np.int64)
    cases = None
    if with_cases:
        cases = pd.DataFrame(
            {
                "account_id": ["a", "a", "b"],
                "use_case_id": ["a1", "a2", "b1"],
                "start_month": np.array([M0, M0 + 4, M0 + 2], dtype=np.int64),
                "se_supported": [False, False, False],
            }
        )
    return Book(accounts=accounts, usage=usage, use_cases=cases, as_of=M0 + 5, source={})


def test_account_statistics_by_hand():
    # a: changes in months 1..5 (+0.1, +0.2, -0.1, +0.3, 0); season terms telescope to
    # +1 at May, -1 at January; ramp terms to +1 at tenure 5, -1 at tenure 0.
    # b: one change log(3/2) in April at tenure 1.  c: no usage, no changes.
    stats = account_statistics(usage_panel(_book(False), SETTLE_MONTHS))
    np.testing.assert_allclose(stats["count"], [5.0, 1.0, 0.0])
    np.testing.assert_allclose(stats["sum"], [0.5, np.log(1.5), 0.0], rtol=1e-12)
    season = np.zeros((3, 12))
    season[0, [0, 5]] = [-1.0, 1.0]
    season[1, [2, 3]] = [-1.0, 1.0]
    np.testing.assert_array_equal(stats["season_coef"], season)
    np.testing.assert_array_equal(stats["ramp_tenure"], [[0, 5], [0, 1], [0, 0]])
    np.testing.assert_array_equal(stats["ramp_coef"], [[-1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]])
    assert stats["ramp_tenure"].dtype == np.int64


def test_months_a_new_use_case_ramps_are_not_changes():
    # a's use case of month 4 ramps for SETTLE_MONTHS: only its changes of months 1..3 are left
    # (+0.1, +0.2, -0.1), telescoping to April - January and tenure 3 - tenure 0.
    stats = account_statistics(usage_panel(_book(True), SETTLE_MONTHS))
    np.testing.assert_allclose(stats["count"], [3.0, 1.0, 0.0])
    np.testing.assert_allclose(stats["sum"], [0.2, np.log(1.5), 0.0], rtol=1e-12)
    assert list(np.nonzero(stats["season_coef"][0])[0]) == [0, 3]
    np.testing.assert_array_equal(stats["ramp_tenure"][0], [0, 3])


def test_account_rows_are_the_fits_accounts():
    # The set-up's per-row statistics are the fit's per-account ones, renumbered by changed_rows.
    book = generate_book(n_accounts=200, seed=3).book
    panel = usage_panel(book, SETTLE_MONTHS)
    fit = change_statistics(usage_changes(panel))["accounts"]
    setup = account_statistics(panel)
    rows = changed_rows(panel)
    assert rows.size == fit["count"].size > 0
    assert (fit["count"] > 0).all()
    assert (np.delete(setup["count"], rows) == 0).all()
    for name in ("count", "sum", "season_coef", "ramp_tenure", "ramp_coef"):
        np.testing.assert_array_equal(setup[name][rows], fit[name])


def test_the_simulation_set_up_does_not_import_the_fit():
    code = (
        "import sys\n"
        "import simengine.bookstats.changes, simengine.engine, simengine.params\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('pymc', 'pytensor') or m.startswith('simengine.fitting'))\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_config_and_fit_read_one_list_of_model_names(small_cfg):
    from dataclasses import replace

    from simengine.config import ConfigError
    from simengine.config.schema import MODEL_NAMES
    from simengine.config.validation import validate
    from simengine.fitting.select import resolve_models

    validate(replace(small_cfg, fit=replace(small_cfg.fit, models=list(MODEL_NAMES))))
    with pytest.raises(ConfigError, match="fit.models"):
        validate(replace(small_cfg, fit=replace(small_cfg.fit, models=["usage", "growth"])))
    book = generate_book(n_accounts=50, seed=1).book
    assert resolve_models(list(reversed(MODEL_NAMES)), book) == list(MODEL_NAMES)
