"""Read the input tables from CSV or Parquet and check them against the data contract.

:func:`load_book` is the only way files enter the package.  It reads, never writes, and stops at
the first problem with a :class:`~simengine.data.errors.DataError` naming the file, the column and
the 1-based data row, so a finance user can open the file and fix that cell.  Checks run table by
table (accounts, usage, use cases), then across tables (:mod:`simengine.data.cells` types and checks
the cells); within a check the first offending row in file order is reported.  Then ``as_of`` cuts the book (:func:`cut_off`): rows after it are kept
aside for scoring, never fitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from simengine.data.book import REQUIRED_COLUMNS, Book, canonical_table
from simengine.data.cells import (
    check_against_accounts,
    parse_accounts,
    parse_usage,
    parse_use_cases,
)
from simengine.data.errors import DataError
from simengine.data.months import format_month, month_number

__all__ = ["book_from_config", "cut_off", "default_as_of", "load_book", "read_table"]

_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def read_table(path: str | PathLike[str], table: str) -> pd.DataFrame:
    """Read one table file as it is, checking only that it is there, readable and has its columns.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv``, ``.parquet`` or ``.pq``.  CSV cells are read as text (typing happens in
        :func:`load_book`, which can then name a bad cell); Parquet keeps its column types.
    table : {"accounts", "usage", "use_cases"}
        Which contract table, for the required columns.

    Returns
    -------
    pandas.DataFrame
        Header names stripped of surrounding spaces.

    Raises
    ------
    DataError
        Missing file, unknown suffix, unreadable content, a missing required column, no data rows.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "file not found")
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(path, f"unknown file type '{path.suffix}'; expected .csv, .parquet or .pq")
    if not path.is_file():
        raise DataError(path, "not a file")
    try:
        if kind == "csv":
            # utf-8-sig drops the byte-order mark spreadsheet exports put before the header.
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty (no header row)") from None
    except Exception as err:  # any parser failure is the file's fault; say what the parser said
        raise DataError(path, f"cannot read {kind} file: {type(err).__name__}: {err}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in REQUIRED_COLUMNS[table]:
        if column not in frame.columns:
            found = ", ".join(frame.columns) or "none"
            raise DataError(path, f"required column is missing (found: {found})", column=column)
    if len(frame) == 0:
        raise DataError(path, f"the {table} table has no data rows")
    return frame


def _resolve_month(value: str | int | None, key: str) -> int | None:
    """A configured month (``YYYY-MM``, a date or a month number) as a month number."""
    if value is None:
        return None
    try:
        return int(value) if isinstance(value, int | np.integer) else month_number(value)
    except ValueError as err:
        raise DataError(key, str(err)) from None


def _empty_usage() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": pd.Series([], dtype=object),
            "month": pd.Series([], dtype=np.int64),
            "usage": pd.Series([], dtype=np.float64),
        }
    )


def cut_off(
    accounts: pd.DataFrame,
    usage: pd.DataFrame,
    use_cases: pd.DataFrame | None,
    as_of: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None, dict[str, pd.DataFrame | None]]:
    """Keep only what was known at ``as_of``; return the rest separately.

    * accounts that start after ``as_of`` are dropped;
    * a ``churn_month`` after ``as_of + 1`` becomes empty (the account was active at ``as_of``);
      ``as_of + 1`` itself stays (a churn at the boundary right after ``as_of``, which the churn
      model censors at ``as_of``);
    * usage rows and use cases after ``as_of`` are dropped.

    Returns
    -------
    accounts, usage, use_cases : pandas.DataFrame
        The tables as of ``as_of``.
    future : dict
        ``accounts`` (original rows of the accounts dropped or changed), ``usage`` and
        ``use_cases`` (rows after ``as_of``); each None when nothing was cut.
    """
    start = accounts["start_month"].to_numpy(np.int64)
    churn = accounts["churn_month"].to_numpy(dtype=np.float64, na_value=-np.inf)
    late_start = start > as_of
    late_churn = churn > as_of + 1
    future: dict[str, pd.DataFrame | None] = {"accounts": None, "usage": None, "use_cases": None}
    if (late_start | late_churn).any():
        future["accounts"] = accounts[late_start | late_churn].reset_index(drop=True)
        accounts = accounts[~late_start].copy()
        moved = late_churn[~late_start]
        churn_kept = accounts["churn_month"].astype("Int64").copy()
        churn_kept[moved] = pd.NA
        accounts["churn_month"] = churn_kept
    later = usage["month"].to_numpy(np.int64) > as_of
    if later.any():
        future["usage"] = usage[later].reset_index(drop=True)
        usage = usage[~later]
    if use_cases is not None:
        later = use_cases["start_month"].to_numpy(np.int64) > as_of
        if later.any():
            future["use_cases"] = use_cases[later].reset_index(drop=True)
            use_cases = use_cases[~later]
    return accounts, usage, use_cases, future


def default_as_of(accounts: pd.DataFrame, usage: pd.DataFrame) -> int:
    """``as_of`` when none is configured: the last month with usage.

    A ``churn_month`` after it (one past the last usage month is the usual export convention:
    "first month without the customer") is a churn at that boundary, never a reason to move
    ``as_of`` onto a month without usage.  A book without usage rows (an accounts table alone) ends
    at its last start or churn month.
    """
    if len(usage):
        return int(usage["month"].max())
    months = [accounts["start_month"].max()]
    if accounts["churn_month"].notna().any():
        months.append(accounts["churn_month"].max())
    return int(max(months))


def load_book(
    accounts: str | PathLike[str],
    usage: str | PathLike[str] | None = None,
    use_cases: str | PathLike[str] | None = None,
    as_of: str | int | None = None,
    segments: Iterable[str] | None = None,
    observed_from: str | int | None = None,
) -> Book:
    """Load and validate a book from CSV or Parquet files (chosen by suffix).

    Parameters
    ----------
    accounts : str or os.PathLike
        The accounts table (columns in ``DESIGN.md``, *Input tables*).  Extra columns are allowed
        and ignored.  Its four required columns alone are enough to fit the churn model.
    usage : str or os.PathLike, optional
        The usage table; without it the book has no usage rows.
    use_cases : str or os.PathLike, optional
        The use-case table.
    as_of : str or int, optional
        Last observed month, ``YYYY-MM`` (or a date, or a month number).  Default: the last month
        with usage (:func:`default_as_of`).  An earlier month is a **cut-off**: the book holds
        only what was known at ``as_of`` (:func:`cut_off`); the rest is kept in
        ``book.future_accounts`` / ``future_usage`` / ``future_use_cases`` for scoring.
    segments : iterable of str, optional
        Allowed segment names; by default any non-empty name is accepted.
    observed_from : str or int, optional
        First month of the observation window (default: the first usage month).  Accounts that
        started before it are left-truncated: in the table because they survived to it.

    Returns
    -------
    Book
        Tables in the Book's fixed form (typed, sorted, known columns only).

    Raises
    ------
    DataError
        At the first problem, naming the file, the column and the 1-based data row (or the
        setting, ``as_of`` / ``observed_from``).
    """
    paths = {"accounts": Path(accounts)}
    if usage is not None:
        paths["usage"] = Path(usage)
    if use_cases is not None:
        paths["use_cases"] = Path(use_cases)
    allowlist = None if segments is None else {str(s) for s in segments}

    account_table = parse_accounts(
        read_table(paths["accounts"], "accounts"), paths["accounts"], allowlist
    )
    usage_table = _empty_usage()
    if usage is not None:
        usage_table = parse_usage(read_table(paths["usage"], "usage"), paths["usage"])
    case_table = None
    if use_cases is not None:
        case_table = parse_use_cases(
            read_table(paths["use_cases"], "use_cases"), paths["use_cases"]
        )

    if usage is not None:
        check_against_accounts(
            usage_table, paths["usage"], "month", account_table, paths["accounts"]
        )
    if case_table is not None:
        check_against_accounts(
            case_table, paths["use_cases"], "start_month", account_table, paths["accounts"]
        )

    last = _resolve_month(as_of, "as_of")
    if last is None:
        last = default_as_of(account_table, usage_table)
    window = _resolve_month(observed_from, "observed_from")
    if window is not None and window > last:
        raise DataError(
            "observed_from",
            f"{format_month(window)} is after as_of {format_month(last)}",
        )
    account_table, usage_table, case_table, future = cut_off(
        account_table, usage_table, case_table, last
    )
    if len(account_table) == 0:
        raise DataError(
            paths["accounts"], f"no account starts on or before as_of {format_month(last)}"
        )

    def canonical(frame: pd.DataFrame | None, table: str) -> pd.DataFrame | None:
        return None if frame is None else canonical_table(frame, table)

    return Book(
        accounts=canonical_table(account_table, "accounts"),
        usage=canonical_table(usage_table, "usage"),
        use_cases=canonical(case_table, "use_cases"),
        as_of=last,
        source={table: str(path) for table, path in paths.items()},
        observed_from=window,
        future_accounts=canonical(future["accounts"], "accounts"),
        future_usage=canonical(future["usage"], "usage"),
        future_use_cases=canonical(future["use_cases"], "use_cases"),
    )


def book_from_config(data, need_usage: bool = False) -> Book:
    """The book a run uses: the configured files, or the embedded synthetic book.

    Parameters
    ----------
    data : simengine.config.DataConfig
        ``accounts``/``usage``/``use_cases``/``as_of``/``observed_from``; when ``accounts`` is
        None the embedded book described by ``data.synthetic`` is returned.
    need_usage : bool
        Refuse an accounts table without ``data.usage`` (``simengine run`` needs usage levels;
        ``simengine fit`` fits churn from the accounts table alone).

    Returns
    -------
    Book
    """
    if data.accounts is None:
        from simengine.data.synth import default_book  # the generator is only needed here

        return default_book(data.synthetic)
    if need_usage and data.usage is None:
        raise DataError(
            "data.usage",
            "a simulation needs the usage table next to data.accounts "
            "(the accounts table alone is enough for simengine fit)",
        )
    return load_book(
        data.accounts,
        data.usage,
        data.use_cases,
        as_of=data.as_of,
        observed_from=getattr(data, "observed_from", None),
    )
