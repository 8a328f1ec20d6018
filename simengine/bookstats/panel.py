"""Account x month panels of log usage, the common input of the usage and expansion fits and of
the simulation's set-up (each account's change statistics), and the book's new use cases.

NumPy and pandas only.  Month-on-month changes of log usage are where the usage model's parameters show
cleanly: ``d[t] = log U[t] - log U[t-1] = g_s + b_i + sigma_s * eps + Δ log season + Δ log ramp(k)
+ Δ log(1 + E[t])``.  The last term is the use-case expansion; months within ``settle_months`` after
a new use case starts are "ramping" and left to the expansion model.

**Zero and near-zero months** (the observation layer of the usage model's hurdle).  An active
account's month is *skipped* when it has no usage row, usage 0, or usage below
``1 / DIP_RATIO`` of **both** its neighbouring months with usage (the one neighbour at either end of
its history).  A skipped month is an observation of "nothing (or next to nothing) billed this
month", not of the account's level: its log usage is left out (NaN), so the two changes around it
do not enter the drift and volatility, and the usage model counts it towards
``zero_month_prob``.  Why a rule and not Student-t steps: a month at 0.1% of normal is a log step
of -6.9 and back, ~100 SDs at 6%/month noise; one such month in 200 multiplies the SD of the
changes ~10x under a normal likelihood and still distorts a Student-t fit (its ``nu`` drops to ~1
and the scale shrinks).  The rule is the hard-assignment limit of a two-component observation
model (level, or a skip with probability ``zero_month_prob``); a dip by a factor of 5 below both
neighbours is two independent moves of > 20 SDs at the volatilities seen (<= 8%/month), so real
level changes are not mistaken for skips, and the fit keeps its fast marginal-normal likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simengine.data import Book

__all__ = [
    "DIP_RATIO",
    "UsagePanel",
    "new_use_cases",
    "segment_index",
    "usage_panel",
    "use_case_cover",
]

#: A month with usage below 1/DIP_RATIO of both neighbouring months with usage is a skipped month.
DIP_RATIO = 5.0


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
    case_row, case_col : numpy.ndarray of int64, shape (n_cases,)
        Every new use case of these accounts (row, start column; the column may be negative:
        started before the panel's first month), sorted by row, then column.
    ramping : numpy.ndarray of bool, shape (n, width)
        A new use case started within the last ``settle_months`` months (inclusive).
    active : numpy.ndarray of bool, shape (n, width)
        The account is a customer in that month and the month is inside the observation window
        (accounts without any usage row are left out: no usage data, not zero usage).
    skipped : numpy.ndarray of bool, shape (n, width)
        Active months without usage, with usage 0, or a dip (module docstring).
    """

    account_ids: np.ndarray
    segment: np.ndarray
    first_month: int
    log_usage: np.ndarray
    start: np.ndarray
    first_case: np.ndarray
    second_case: np.ndarray
    case_row: np.ndarray
    case_col: np.ndarray
    ramping: np.ndarray
    active: np.ndarray
    skipped: np.ndarray

    @property
    def months(self) -> np.ndarray:
        """Month number of each column, shape (width,)."""
        return self.first_month + np.arange(self.log_usage.shape[1], dtype=np.int64)


def segment_index(values: Any, segments: tuple[str, ...]) -> np.ndarray:
    """Positions of ``values`` in ``segments`` (int64)."""
    lookup = {s: i for i, s in enumerate(segments)}
    return np.array([lookup[v] for v in values], dtype=np.int64)


def use_case_cover(book: Book) -> int:
    """First month the use-case table covers: the later of the usage window's start
    (:attr:`~simengine.data.Book.usage_window_start`) and the table's first start month."""
    cases = book.use_cases
    first = int(cases["start_month"].min()) if cases is not None and len(cases) else 0
    return max(int(book.usage_window_start), first)


def new_use_cases(book: Book) -> pd.DataFrame:
    """Use cases that are arrivals: they start after their account's start month, inside the months
    the table covers (:func:`use_case_cover`), and are not the first recorded use case, starting at
    the cover month, of an account that predates it (that one was already running).

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
    cover = use_case_cover(book)
    starts = book.accounts.set_index("account_id")["start_month"]
    cases = book.use_cases.sort_values(["account_id", "start_month", "use_case_id"], kind="stable")
    rank = cases.groupby("account_id").cumcount().to_numpy()
    case_start = cases["start_month"].to_numpy(np.int64)
    account_start = starts.loc[cases["account_id"]].to_numpy()
    already_running = (account_start < cover) & (rank == 0) & (case_start == cover)
    new = (case_start > account_start) & (case_start >= cover) & ~already_running
    new &= case_start <= book.as_of
    return cases.loc[new, ["account_id", "start_month", "se_supported"]].reset_index(drop=True)


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
    has_rows = np.isin(ids, usage["account_id"].unique())
    usage = usage[usage["usage"] > 0]
    first = int(usage["month"].min()) if len(usage) else int(book.as_of)
    width = int(book.as_of - first + 1)
    log_usage = np.full((len(ids), width), np.nan)
    cols = usage["month"].to_numpy(np.int64) - first
    inside = (cols >= 0) & (cols < width)
    rows = position.loc[usage["account_id"].to_numpy()].to_numpy()
    log_usage[rows[inside], cols[inside]] = np.log(usage["usage"].to_numpy()[inside])
    dips = _dips(log_usage)
    log_usage[dips] = np.nan

    grid = first + np.arange(width)[None, :]
    start_month = accounts["start_month"].to_numpy(np.int64)[:, None]
    end_month = accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)[
        :, None
    ]  # first month without the customer
    active = (
        (grid >= start_month)
        & (grid < end_month)
        & (grid >= book.usage_window_start)
        & has_rows[:, None]
    )
    skipped = active & ~np.isfinite(log_usage)

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
        case_row=case_row.astype(np.int64),
        case_col=case_col,
        ramping=ramping,
        active=active,
        skipped=skipped,
    )


def _dips(log_usage: np.ndarray) -> np.ndarray:
    """Months whose log usage is more than ``log(DIP_RATIO)`` below both neighbouring months with
    usage (the one neighbour at either end of an account's history)."""
    n, width = log_usage.shape
    finite = np.isfinite(log_usage)
    cols = np.arange(width)
    # Previous / next finite value of each row, by forward / backward fill of column indices.
    prev_idx = np.where(finite, cols[None, :], -1)
    prev_idx = np.maximum.accumulate(prev_idx, axis=1)
    prev_idx = np.concatenate([np.full((n, 1), -1), prev_idx[:, :-1]], axis=1)
    next_idx = np.where(finite, cols[None, :], width)
    next_idx = np.minimum.accumulate(next_idx[:, ::-1], axis=1)[:, ::-1]
    next_idx = np.concatenate([next_idx[:, 1:], np.full((n, 1), width)], axis=1)
    row = np.arange(n)[:, None]
    padded = np.concatenate([log_usage, np.full((n, 1), np.nan)], axis=1)
    prev_val = np.where(
        prev_idx >= 0, padded[row, np.where(prev_idx >= 0, prev_idx, width)], np.nan
    )
    next_val = np.where(next_idx < width, padded[row, np.minimum(next_idx, width)], np.nan)
    # Compare with the neighbours that exist; a month with neither is never a dip.
    neighbour = np.fmin(prev_val, next_val)
    with np.errstate(invalid="ignore"):
        return finite & np.isfinite(neighbour) & (log_usage < neighbour - np.log(DIP_RATIO))
