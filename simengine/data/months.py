"""Calendar months as integers.

Inside the package a month is one int64, ``year * 12 + (month - 1)``: consecutive months differ by
one, so tenure is a subtraction and a month grid is an ``arange``.  The month of the year is
``n % 12`` (January is 0), which is what the seasonality term uses.  Only the edges of the
package (files, reports) see ``YYYY-MM`` strings.

:func:`month_number` and :func:`format_month` convert single values; :func:`parse_month_column`
converts a whole table column and reports which cells are missing or unparseable, so the loader
can name the first bad row.
"""

from __future__ import annotations

import datetime as _dt
import re

import numpy as np
import pandas as pd

__all__ = ["format_month", "format_months", "month_number", "parse_month_column"]

# "2026-10" and "2026-1" are the common spellings; everything else goes through pandas' date parser.
_YEAR_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
_HAS_YEAR = re.compile(r"\d{4}")


def month_number(value: object) -> int:
    """Convert a month to its month number ``year * 12 + (month - 1)``.

    Parameters
    ----------
    value : str, datetime.date, pandas.Timestamp, pandas.Period or numpy.datetime64
        ``"YYYY-MM"``, or any date (string or object) inside the month: ``"2026-10-17"``,
        ``pd.Timestamp("2026-10-01 08:00")``.

    Returns
    -------
    int
        The month number; ``month_number("2026-10") == 2026 * 12 + 9``.

    Raises
    ------
    ValueError
        If ``value`` is not a month or a date.
    """
    if isinstance(value, pd.Period):
        return value.year * 12 + value.month - 1
    if isinstance(value, _dt.date | np.datetime64):  # Timestamp and datetime are dates too
        stamp = pd.Timestamp(value)
        return stamp.year * 12 + stamp.month - 1
    if isinstance(value, str):
        match = _YEAR_MONTH.match(value)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            if 1 <= month <= 12:
                return year * 12 + month - 1
            raise ValueError(f"not a month: {value!r} (month {month} is outside 1..12)")
        if not _HAS_YEAR.search(value):  # "today" and "now" would parse, to a moving target
            raise ValueError(f"not a month: {value!r} (expected YYYY-MM or a date)")
        try:
            stamp = pd.Timestamp(value.strip())
        except (ValueError, TypeError) as err:
            raise ValueError(f"not a month: {value!r} (expected YYYY-MM or a date)") from err
        if pd.isna(stamp):
            raise ValueError(f"not a month: {value!r} (expected YYYY-MM or a date)")
        return stamp.year * 12 + stamp.month - 1
    raise ValueError(f"not a month: {value!r} (expected YYYY-MM or a date)")


def format_month(number: int) -> str:
    """Format a month number as ``"YYYY-MM"``.

    Parameters
    ----------
    number : int
        A month number as returned by :func:`month_number`.

    Returns
    -------
    str
        For example ``"2026-10"``.
    """
    year, month0 = divmod(int(number), 12)
    return f"{year:04d}-{month0 + 1:02d}"


def format_months(numbers: np.ndarray | pd.Series) -> pd.Series:
    """Format many month numbers as ``"YYYY-MM"``; missing values stay missing.

    Parameters
    ----------
    numbers : array-like of int, shape (n,)
        Month numbers; ``pd.NA`` where there is no month (an active account's churn month).

    Returns
    -------
    pandas.Series of str, shape (n,)
    """
    series = pd.Series(numbers).astype("Int64")
    missing = series.isna().to_numpy()
    values = series.fillna(0).to_numpy(dtype=np.int64)
    years, months0 = np.divmod(values, 12)
    text = (
        pd.Series(years).astype(str).str.zfill(4)
        + "-"
        + pd.Series(months0 + 1).astype(str).str.zfill(2)
    )
    text[missing] = None
    return text


def parse_month_column(column: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a table column of months.

    Parameters
    ----------
    column : pandas.Series, shape (n,)
        Strings (``YYYY-MM`` or dates; empty for missing), or a datetime / period column as Parquet
        files carry them.

    Returns
    -------
    numbers : numpy.ndarray of int64, shape (n,)
        Month numbers; 0 where the cell is missing or bad.
    missing : numpy.ndarray of bool, shape (n,)
        Empty or null cells.
    bad : numpy.ndarray of bool, shape (n,)
        Cells that are present but are not a month.
    """
    n = len(column)
    numbers = np.zeros(n, dtype=np.int64)
    if isinstance(column.dtype, pd.PeriodDtype):
        missing = column.isna().to_numpy()
        ok = ~missing
        numbers[ok] = [p.year * 12 + p.month - 1 for p in column[ok]]
        return numbers, missing, np.zeros(n, dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        missing = column.isna().to_numpy()
        ok = ~missing
        stamps = column[ok].dt
        numbers[ok] = stamps.year.to_numpy(np.int64) * 12 + stamps.month.to_numpy(np.int64) - 1
        return numbers, missing, np.zeros(n, dtype=bool)

    # Anything else is parsed as text, so a Parquet column of strings behaves like a CSV column.
    # A column holds few distinct months (36 in a 3-year book), so each is parsed once.
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    parsed = _parse_text_months(pd.Series(uniques, dtype=object))
    unique_numbers, unique_missing, unique_bad = parsed
    null = codes < 0
    codes = np.where(null, 0, codes)
    if len(uniques) == 0:  # every cell is null
        return numbers, np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    missing = unique_missing[codes] | null
    bad = unique_bad[codes] & ~null
    numbers = np.where(missing | bad, 0, unique_numbers[codes])
    return numbers, missing, bad


def _parse_text_months(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`parse_month_column` for distinct values, each as text."""
    n = len(values)
    numbers = np.zeros(n, dtype=np.int64)
    text = values.where(values.notna(), "").astype(str).str.strip()
    missing = (text == "").to_numpy()
    bad = np.zeros(n, dtype=bool)
    parts = text.str.extract(r"^(\d{4})-(\d{1,2})$")
    short = parts[0].notna().to_numpy()
    if short.any():
        years = parts.loc[short, 0].astype(np.int64).to_numpy()
        months = parts.loc[short, 1].astype(np.int64).to_numpy()
        numbers[short] = years * 12 + months - 1
        bad[short] = (months < 1) | (months > 12)
    # "today" and "now" would parse, to a date that moves: a month must spell out its year.
    bad |= ~short & ~missing & ~text.str.contains(r"\d{4}").to_numpy()
    other = ~short & ~missing & ~bad
    if other.any():
        # Full dates ("2026-10-17", "2026-10-01T00:00:00"): parsed one by one so a bad cell is
        # found, not guessed at by inferring a single format for the whole column.
        stamps = pd.to_datetime(text[other], errors="coerce", format="mixed")
        unparsed = stamps.isna().to_numpy()
        idx = np.flatnonzero(other)
        bad[idx[unparsed]] = True
        good = idx[~unparsed]
        numbers[good] = (
            stamps[~unparsed].dt.year.to_numpy(np.int64) * 12
            + stamps[~unparsed].dt.month.to_numpy(np.int64)
            - 1
        )
    numbers[bad | missing] = 0
    return numbers, missing, bad
