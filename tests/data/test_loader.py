"""The loader: round trips through files, the accepted spellings, and one error per bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from simengine.data import Book, DataError, book_hash, load_book, month_number, write_book
from simengine.data.book import observed_lifetimes

from .bad_inputs import BAD_CASES, SMALL_BOOK, BadCase, write_bad_book


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_gives_equal_book_and_hash(tmp_path, fmt):
    paths = write_book(SMALL_BOOK, tmp_path, fmt=fmt)
    assert sorted(p.name for p in paths.values()) == sorted(
        f"{t}.{fmt}" for t in ("accounts", "usage", "use_cases")
    )
    loaded = load_book(paths["accounts"], paths["usage"], paths["use_cases"])
    assert loaded == SMALL_BOOK
    assert book_hash(loaded) == book_hash(SMALL_BOOK)
    assert loaded.source["usage"] == str(paths["usage"])
    pd.testing.assert_frame_equal(loaded.accounts, SMALL_BOOK.accounts)
    pd.testing.assert_frame_equal(loaded.usage, SMALL_BOOK.usage)


def test_csv_and_parquet_hash_the_same(tmp_path):
    csv = write_book(SMALL_BOOK, tmp_path / "csv", fmt="csv")
    parquet = write_book(SMALL_BOOK, tmp_path / "pq", fmt="parquet")
    from_csv = load_book(csv["accounts"], csv["usage"], csv["use_cases"])
    from_parquet = load_book(parquet["accounts"], parquet["usage"], parquet["use_cases"])
    assert book_hash(from_csv) == book_hash(from_parquet)


def test_hash_ignores_row_order_and_source_but_not_values():
    shuffled = SMALL_BOOK.usage.sample(frac=1.0, random_state=np.random.default_rng(3))
    same = Book(SMALL_BOOK.accounts, shuffled, SMALL_BOOK.use_cases, SMALL_BOOK.as_of, {"x": "y"})
    assert book_hash(same) == book_hash(SMALL_BOOK)
    changed_usage = SMALL_BOOK.usage.copy()
    changed_usage.loc[0, "usage"] += 0.01
    changed = Book(SMALL_BOOK.accounts, changed_usage, SMALL_BOOK.use_cases, SMALL_BOOK.as_of)
    assert book_hash(changed) != book_hash(SMALL_BOOK)
    later = Book(SMALL_BOOK.accounts, SMALL_BOOK.usage, SMALL_BOOK.use_cases, SMALL_BOOK.as_of + 1)
    assert book_hash(later) != book_hash(SMALL_BOOK)
    no_cases = Book(SMALL_BOOK.accounts, SMALL_BOOK.usage, None, SMALL_BOOK.as_of)
    assert book_hash(no_cases) != book_hash(SMALL_BOOK)


def test_default_as_of_is_last_month_and_explicit_as_of_is_kept(tmp_path):
    paths = write_book(SMALL_BOOK, tmp_path)
    assert load_book(paths["accounts"], paths["usage"]).as_of == SMALL_BOOK.as_of
    later = load_book(paths["accounts"], paths["usage"], as_of="2027-01-15")
    assert later.as_of == month_number("2027-01")
    assert later.use_cases is None and set(later.source) == {"accounts", "usage"}


def test_four_column_accounts_table_is_enough(tmp_path):
    accounts = SMALL_BOOK.accounts[["account_id", "segment", "start_month", "churn_month"]]
    slim = Book(
        accounts, SMALL_BOOK.usage[["account_id", "month", "usage"]], None, SMALL_BOOK.as_of
    )
    paths = write_book(slim, tmp_path)
    loaded = load_book(paths["accounts"], paths["usage"])
    assert loaded == slim
    lifetimes = observed_lifetimes(loaded)
    churned = accounts["churn_month"].notna().to_numpy()
    assert (lifetimes["churned"].to_numpy() == churned).all()
    assert (lifetimes["periods"] >= 0).all()


def test_other_spellings_are_accepted(tmp_path):
    """Dates inside the month, yes/no booleans, extra columns, spaces in headers, shuffled rows."""
    paths = write_book(SMALL_BOOK, tmp_path)
    accounts = pd.read_csv(paths["accounts"], dtype=str, keep_default_na=False)
    accounts["start_month"] = accounts["start_month"] + "-17"
    accounts["csm_covered"] = accounts["csm_covered"].map({"true": "Yes", "false": "no"})
    accounts["se_engaged"] = accounts["se_engaged"].map({"true": "1", "false": "0"})
    accounts["region"] = "emea"
    accounts = accounts.rename(columns={"segment": " segment "}).iloc[::-1]
    accounts.to_csv(paths["accounts"], index=False)
    usage = pd.read_csv(paths["usage"], dtype=str, keep_default_na=False)
    usage["month"] = usage["month"] + "-01T00:00:00"
    usage.to_csv(paths["usage"], index=False)
    loaded = load_book(paths["accounts"], paths["usage"], paths["use_cases"])
    assert loaded == SMALL_BOOK
    assert "region" not in loaded.accounts.columns


def test_parquet_with_typed_columns(tmp_path):
    """Parquet written by other tools: timestamps for months, real booleans, integer ids."""
    accounts = pd.DataFrame(
        {
            "account_id": [101, 102],
            "segment": ["smb", "smb"],
            "start_month": pd.to_datetime(["2026-01-05", "2026-03-31"]),
            "churn_month": pd.to_datetime([None, "2026-06-01"]),
            "csm_covered": [True, False],
        }
    )
    usage = pd.DataFrame(
        {
            "account_id": [101, 102, 102],
            "month": pd.to_datetime(["2026-02-01", "2026-03-01", "2026-05-01"]),
            "usage": [1, 2, 3],
        }
    )
    accounts.to_parquet(tmp_path / "a.parquet")
    usage.to_parquet(tmp_path / "u.pq")
    book = load_book(tmp_path / "a.parquet", tmp_path / "u.pq", segments=["smb"])
    assert book.accounts["account_id"].tolist() == ["101", "102"]
    assert book.accounts["churn_month"].tolist()[1] == month_number("2026-06")
    assert book.accounts["churn_month"].isna().tolist() == [True, False]
    assert book.usage["usage"].dtype == np.float64
    # as_of is the last month with usage; account 102's churn in June (one past its last usage
    # month, the export convention) is a churn at the boundary after as_of, not a reason to move it.
    assert book.as_of == month_number("2026-05")
    assert book.segments == ("smb",)
    assert load_book(tmp_path / "a.parquet", tmp_path / "u.pq", as_of="2026-05") == book


def test_usage_after_explicit_as_of_is_cut_off(tmp_path):
    pd.DataFrame(
        {"account_id": ["a"], "segment": ["smb"], "start_month": ["2026-01"], "churn_month": [""]}
    ).to_csv(tmp_path / "accounts.csv", index=False)
    pd.DataFrame(
        {"account_id": ["a", "a"], "month": ["2026-01", "2026-02"], "usage": [1.0, 2.0]}
    ).to_csv(tmp_path / "usage.csv", index=False)
    book = load_book(tmp_path / "accounts.csv", tmp_path / "usage.csv", as_of="2026-01")
    assert book.usage["month"].tolist() == [month_number("2026-01")]
    assert book.future_usage["month"].tolist() == [month_number("2026-02")]


def test_bad_as_of_names_the_setting(tmp_path):
    paths = write_book(SMALL_BOOK, tmp_path)
    with pytest.raises(DataError, match=r"^as_of: not a month: 'soon'"):
        load_book(paths["accounts"], paths["usage"], as_of="soon")


def test_loader_writes_nothing(tmp_path):
    paths = write_book(SMALL_BOOK, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    load_book(paths["accounts"], paths["usage"], paths["use_cases"])
    assert {p: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_data_error_format_and_pickle():
    error = DataError("usage.csv", "must be >= 0,\n got -1", column="usage", row=7)
    assert str(error) == "usage.csv: column 'usage', row 7: must be >= 0, got -1"
    assert isinstance(error, ValueError)
    assert str(DataError("a.csv", "file not found")) == "a.csv: file not found"
    assert str(DataError("a.csv", "missing", column="x")) == "a.csv: column 'x': missing"
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.column, again.row, str(again)) == (
        "usage.csv",
        "usage",
        7,
        str(error),
    )


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.name for c in BAD_CASES])
def test_bad_input_names_file_column_and_row(tmp_path, case: BadCase):
    paths, row = write_bad_book(case, tmp_path)
    with pytest.raises(DataError) as info:
        load_book(paths["accounts"], paths["usage"], paths.get("use_cases"), **case.load_kwargs)
    error = info.value
    message = str(error)
    assert "\n" not in message
    assert error.path == str(paths[case.table])
    assert message.startswith(str(paths[case.table]) + ":")
    assert error.column == case.column
    assert error.row == row
    if case.column is not None:
        assert f"column '{case.column}'" in message
    if row is not None:
        assert f"row {row}:" in message
    else:
        assert "row " not in message


def test_blank_optional_values_mean_missing(tmp_path, caplog):
    """A company's export leaves optional cells blank (no commit, no contract, a flag not
    recorded, a row not billed): the book loads, each blank reads as documented in BLANK_MEANS,
    and the log says how many there were.  A blank in a required column still refuses."""
    (tmp_path / "accounts.csv").write_text(
        "account_id,segment,start_month,churn_month,commit_annual,contract_start_month,"
        "csm_covered,se_engaged\n"
        "A1,team,2024-01-01,,12000,2024-01-01,true,false\n"
        "A2,team,2024-02-01,,,,,\n"
        "A3,self_serve,2024-03-01,2024-09,,, ,yes\n"
    )
    (tmp_path / "usage.csv").write_text(
        "account_id,month,usage,revenue\n"
        "A1,2024-01,100,12.0\nA1,2024-02,110,\nA2,2024-02,50,6.0\nA3,2024-03,10,\n"
    )
    (tmp_path / "use_cases.csv").write_text(
        "account_id,use_case_id,start_month,se_supported\nA1,U1,2024-02,\nA2,U2,2024-02,true\n"
    )
    with caplog.at_level("INFO", logger="simengine.data.cells"):
        book = load_book(
            tmp_path / "accounts.csv", tmp_path / "usage.csv", tmp_path / "use_cases.csv"
        )
    acc = book.accounts.set_index("account_id")
    assert acc["commit_annual"].tolist() == [12000.0, 0.0, 0.0]
    assert acc["contract_start_month"].isna().tolist() == [False, True, True]
    assert acc["csm_covered"].tolist() == [True, False, False]
    assert acc["se_engaged"].tolist() == [False, False, True]
    revenue = book.usage.set_index(["account_id", "month"])["revenue"]
    assert revenue.isna().sum() == 2 and revenue.notna().sum() == 2
    assert book.use_cases.set_index("use_case_id")["se_supported"].tolist() == [False, True]
    assert "2 blank commit_annual cell(s)" in caplog.text
    # The same book hashes the same when read again (blanks are not a source of nondeterminism).
    again = load_book(tmp_path / "accounts.csv", tmp_path / "usage.csv", tmp_path / "use_cases.csv")
    assert book_hash(again) == book_hash(book)
    # A required column keeps refusing a blank.
    (tmp_path / "usage.csv").write_text("account_id,month,usage\nA1,2024-01,\n")
    with pytest.raises(DataError, match="usage.*missing value"):
        load_book(tmp_path / "accounts.csv", tmp_path / "usage.csv")
