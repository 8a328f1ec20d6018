"""The data conventions of issue 8: where ``as_of`` lands, what an explicit ``as_of`` cuts off, the
observation window, same-month churn, and the starting level of a skipped last month."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simengine.data import DataError, book_hash, load_book, month_number, write_book
from simengine.data.book import observed_lifetimes

M = month_number


def _write(tmp_path, accounts, usage, cases=None):
    pd.DataFrame(accounts).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame(usage).to_csv(tmp_path / "usage.csv", index=False)
    paths = {"accounts": tmp_path / "accounts.csv", "usage": tmp_path / "usage.csv"}
    if cases is not None:
        pd.DataFrame(cases).to_csv(tmp_path / "use_cases.csv", index=False)
        paths["use_cases"] = tmp_path / "use_cases.csv"
    return paths


def _export(tmp_path):
    """Three accounts to 2026-03: ``b`` churned after its last usage month 2026-03 (churn_month
    2026-04, one past: the export convention), ``c`` churned in 2026-02."""
    accounts = {
        "account_id": ["a", "b", "c"],
        "segment": ["smb"] * 3,
        "start_month": ["2026-01", "2026-01", "2026-01"],
        "churn_month": ["", "2026-04", "2026-02"],
    }
    usage = {
        "account_id": ["a", "a", "a", "b", "b", "b", "c"],
        "month": ["2026-01", "2026-02", "2026-03"] * 2 + ["2026-01"],
        "usage": [10.0, 11.0, 12.0, 5.0, 5.0, 5.0, 3.0],
    }
    return _write(tmp_path, accounts, usage)


def test_churn_one_past_the_last_usage_month_keeps_as_of(tmp_path):
    paths = _export(tmp_path)
    book = load_book(paths["accounts"], paths["usage"])
    # as_of is the last month with usage, not the churn month after it.
    assert book.as_of == M("2026-03")
    life = observed_lifetimes(book).set_index("account_id")
    # b churns at the boundary after as_of: censored at as_of for the fit (2 boundaries survived).
    assert life.loc["b", "periods"] == 2 and not life.loc["b", "churned"]
    assert life.loc["c", "periods"] == 1 and life.loc["c", "churned"]
    # The churn itself is kept (the simulation starts b active; scoring sees its churn month).
    assert book.accounts.set_index("account_id").loc["b", "churn_month"] == M("2026-04")
    # Stating that as_of explicitly is accepted and gives the same book.
    explicit = load_book(paths["accounts"], paths["usage"], as_of="2026-03")
    assert explicit == book and book_hash(explicit) == book_hash(book)


def test_explicit_earlier_as_of_is_a_cut_off(tmp_path):
    paths = _export(tmp_path)
    cut = load_book(paths["accounts"], paths["usage"], as_of="2026-01")
    assert cut.as_of == M("2026-01")
    assert cut.usage["month"].max() == M("2026-01")
    assert len(cut.future_usage) == 4  # a and b in 2026-02 and 2026-03
    churn = cut.accounts.set_index("account_id")["churn_month"]
    # c churned at as_of + 1: kept (censored by the fit); b's churn in 2026-04 was not known yet.
    assert churn["c"] == M("2026-02") and pd.isna(churn["b"])
    assert cut.future_accounts["account_id"].tolist() == ["b"]
    # The same book as an export that ended in 2026-01.
    only = tmp_path / "only"
    only.mkdir()
    early = _write(
        only,
        {
            "account_id": ["a", "b", "c"],
            "segment": ["smb"] * 3,
            "start_month": ["2026-01"] * 3,
            "churn_month": ["", "", "2026-02"],
        },
        {"account_id": ["a", "b", "c"], "month": ["2026-01"] * 3, "usage": [10.0, 5.0, 3.0]},
    )
    plain = load_book(early["accounts"], early["usage"], as_of="2026-01")
    assert plain == cut and book_hash(plain) == book_hash(cut)
    assert plain.future_usage is None


def test_accounts_that_start_after_as_of_are_kept_for_scoring(tmp_path):
    paths = _write(
        tmp_path,
        {
            "account_id": ["a", "n"],
            "segment": ["smb", "smb"],
            "start_month": ["2026-01", "2026-03"],
            "churn_month": ["", ""],
        },
        {"account_id": ["a", "a", "n"], "month": ["2026-01", "2026-03", "2026-03"], "usage": 1.0},
        {
            "account_id": ["a", "a", "n"],
            "use_case_id": ["uc0", "uc1", "uc0"],
            "start_month": ["2026-01", "2026-03", "2026-03"],
            "se_supported": ["true", "false", "false"],
        },
    )
    book = load_book(paths["accounts"], paths["usage"], paths["use_cases"], as_of="2026-02")
    assert book.accounts["account_id"].tolist() == ["a"]
    assert book.future_accounts["account_id"].tolist() == ["n"]
    assert book.use_cases["use_case_id"].tolist() == ["uc0"]
    assert len(book.future_use_cases) == 2


def test_same_month_churn_is_a_failed_onboarding(tmp_path):
    paths = _write(
        tmp_path,
        {
            "account_id": ["a", "f"],
            "segment": ["smb", "smb"],
            "start_month": ["2026-01", "2026-02"],
            "churn_month": ["", "2026-02"],
        },
        {"account_id": ["a", "a"], "month": ["2026-01", "2026-02"], "usage": [1.0, 1.0]},
    )
    life = observed_lifetimes(load_book(paths["accounts"], paths["usage"])).set_index("account_id")
    assert life.loc["f", "periods"] == 0 and life.loc["f", "churned"]


def test_observed_from_marks_left_truncated_accounts(tmp_path):
    paths = _write(
        tmp_path,
        {
            "account_id": ["old", "new"],
            "segment": ["smb", "smb"],
            "start_month": ["2024-01", "2026-02"],
            "churn_month": ["", ""],
        },
        {
            "account_id": ["old", "old", "old", "new", "new"],
            "month": ["2026-01", "2026-02", "2026-03", "2026-02", "2026-03"],
            "usage": 1.0,
        },
    )
    book = load_book(paths["accounts"], paths["usage"])
    assert book.window_start == M("2026-01")  # default: the first usage month
    life = observed_lifetimes(book).set_index("account_id")
    # "old" is in the table because it survived the 24 boundaries before the window.
    assert life.loc["old", "entry"] == 24 and life.loc["new", "entry"] == 0
    later = load_book(paths["accounts"], paths["usage"], observed_from="2026-02")
    assert observed_lifetimes(later).set_index("account_id").loc["old", "entry"] == 25
    assert book_hash(later) != book_hash(book)  # a different window is different data
    with pytest.raises(DataError, match=r"^observed_from: 2026-05 is after as_of 2026-03"):
        load_book(paths["accounts"], paths["usage"], observed_from="2026-05")


def test_accounts_table_alone_loads(tmp_path):
    pd.DataFrame(
        {
            "account_id": ["a", "b"],
            "segment": ["x", "x"],
            "start_month": ["2020-01", "2020-01"],
            "churn_month": ["", "2021-01"],
        }
    ).to_csv(tmp_path / "accounts.csv", index=False)
    book = load_book(tmp_path / "accounts.csv")
    assert len(book.usage) == 0 and book.as_of == M("2021-01")
    assert observed_lifetimes(book)["periods"].tolist() == [12, 12]


def test_starting_level_uses_months_with_usage_only(tmp_path):
    from simengine.engine import book_state

    paths = _write(
        tmp_path,
        {
            "account_id": ["a", "b"],
            "segment": ["smb", "smb"],
            "start_month": ["2026-01", "2026-01"],
            "churn_month": ["", ""],
        },
        {
            "account_id": ["a", "a", "a", "b", "b", "b"],
            "month": ["2026-01", "2026-02", "2026-03"] * 2,
            "usage": [10.0, 0.0, 0.0, 4.0, 8.0, 12.0],
        },
    )
    book = load_book(paths["accounts"], paths["usage"])
    state = book_state(book, ("smb",), {"smb": 1.0})
    # a skipped its last two months: its level is its last month with usage, not (10+0+0)/3.
    np.testing.assert_allclose(np.exp(state.log_usage), [10.0, 12.0])


def test_round_trip_of_a_cut_book_keeps_the_cut(tmp_path):
    paths = _export(tmp_path)
    cut = load_book(paths["accounts"], paths["usage"], as_of="2026-02")
    again = write_book(cut, tmp_path / "again")
    assert load_book(again["accounts"], again["usage"], as_of="2026-02") == cut
