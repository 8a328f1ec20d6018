"""Account x month panels of log usage, the common input of the usage and expansion models.

NumPy only.  Month-on-month changes of log usage are where the usage model's parameters show
cleanly: ``d[t] = log U[t] - log U[t-1] = g_s + b_i + sigma_s * eps + Δ log season + Δ log ramp(k)
+ Δ log(1 + E[t])``.  The last term is the use-case expansion; months within ``settle_months`` after
a new use case starts are "ramping" and left to the expansion model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simengine.data import Book
from simengine.fitting.base import segment_index

__all__ = ["UsagePanel", "new_use_cases", "usage_panel"]


@dataclass(frozen=True)
class UsagePanel:
    """Dense log usage of (a sample of) the book's accounts.

    Attributes
    ----------
    account_ids : numpy.ndarray of str, shape (n,)
    segment : numpy.ndarray of int64, shape (n,)
        Index into ``book.segments``.
    first_month : int
        Month number of column 0.
    log_usage : numpy.ndarray of float64, shape (n, width)
        ``log(usage)``; NaN where not observed or not positive.
    start : numpy.ndarray of int64, shape (n,)
        Column of each account's start month (may be negative: started before the data).
    first_case : numpy.ndarray of int64, shape (n,)
        Column of the first new (non-initial) use case, -1 if none.
    second_case : numpy.ndarray of int64, shape (n,)
        Column of the second new use case, -1 if none.
    ramping : numpy.ndarray of bool, shape (n, width)
        A new use case started within the last ``settle_months`` months (inclusive).
    """

    account_ids: np.ndarray
    segment: np.ndarray
    first_month: int
    log_usage: np.ndarray
    start: np.ndarray
    first_case: np.ndarray
    second_case: np.ndarray
    ramping: np.ndarray

    @property
    def months(self) -> np.ndarray:
        """Month number of each column, shape (width,)."""
        return self.first_month + np.arange(self.log_usage.shape[1], dtype=np.int64)


def new_use_cases(book: Book) -> pd.DataFrame:
    """Use cases that started after their account's start month (the initial one excluded).

    Returns
    -------
    pandas.DataFrame
        ``account_id``, ``start_month``, ``se_supported``; empty without a use-case table.
    """
    if book.use_cases is None:
        return pd.DataFrame(
            {
                "account_id": pd.Series([], dtype=object),
                "start_month": pd.Series([], dtype=np.int64),
                "se_supported": pd.Series([], dtype=bool),
            }
        )
    starts = book.accounts.set_index("account_id")["start_month"]
    cases = book.use_cases
    after = cases["start_month"].to_numpy(np.int64) > starts.loc[cases["account_id"]].to_numpy()
    return cases.loc[after, ["account_id", "start_month", "se_supported"]].reset_index(drop=True)


def usage_panel(book: Book, settle_months: int, max_accounts: int = 0, seed: int = 0) -> UsagePanel:
    """Build the :class:`UsagePanel` of ``book``.

    Parameters
    ----------
    book : Book
    settle_months : int
        Months after a new use case starts during which its ramp still moves usage.
    max_accounts : int
        Keep a random sample of this many accounts (0 = all); sampled by ``seed``, sorted.
    seed : int

    Returns
    -------
    UsagePanel
    """
    accounts = book.accounts
    if max_accounts and max_accounts < len(accounts):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x05A6E]))
        accounts = accounts.iloc[np.sort(rng.choice(len(accounts), max_accounts, replace=False))]
    ids = accounts["account_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    usage = book.usage[book.usage["account_id"].isin(position.index)]
    usage = usage[usage["usage"] > 0]
    first = int(usage["month"].min()) if len(usage) else int(book.as_of)
    width = int(book.as_of - first + 1)
    log_usage = np.full((len(ids), width), np.nan)
    cols = usage["month"].to_numpy(np.int64) - first
    inside = (cols >= 0) & (cols < width)
    rows = position.loc[usage["account_id"].to_numpy()].to_numpy()
    log_usage[rows[inside], cols[inside]] = np.log(usage["usage"].to_numpy()[inside])

    cases = new_use_cases(book)
    cases = cases[cases["account_id"].isin(position.index)].sort_values(
        ["account_id", "start_month"]
    )
    case_row = position.loc[cases["account_id"].to_numpy()].to_numpy()
    case_col = cases["start_month"].to_numpy(np.int64) - first
    rank = cases.groupby("account_id").cumcount().to_numpy()
    first_case = np.full(len(ids), -1, dtype=np.int64)
    second_case = np.full(len(ids), -1, dtype=np.int64)
    first_case[case_row[rank == 0]] = case_col[rank == 0]
    second_case[case_row[rank == 1]] = case_col[rank == 1]
    # ramping[i, t] if a case started in (t - settle_months, t]: mark +1 at start, -1 after
    marks = np.zeros((len(ids), width + settle_months + 1), dtype=np.int64)
    ok = (case_col >= -settle_months) & (case_col < width)
    np.add.at(marks, (case_row[ok], np.maximum(case_col[ok], 0)), 1)
    np.add.at(marks, (case_row[ok], np.maximum(case_col[ok] + settle_months, 0)), -1)
    ramping = np.cumsum(marks, axis=1)[:, :width] > 0
    return UsagePanel(
        account_ids=ids,
        segment=segment_index(accounts["segment"], book.segments),
        first_month=first,
        log_usage=log_usage,
        start=accounts["start_month"].to_numpy(np.int64) - first,
        first_case=first_case,
        second_case=second_case,
        ramping=ramping,
    )
