"""Cut a book at ``as_of`` and measure what its installed base actually did afterwards.

The backtest fits and simulates the book as it was known at the cut-off, so everything here goes
through :func:`simengine.data.loader.cut_off` -- the same rule an explicit earlier ``data.as_of``
applies -- and the rows after the cut-off are only ever read to build the actuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simengine.data.book import Book, canonical_table
from simengine.data.loader import cut_off
from simengine.data.months import format_month
from simengine.prices import row_revenue

__all__ = ["Split", "check_holdout", "installed_base", "split_book"]


@dataclass(frozen=True)
class Split:
    """A book cut at ``cut`` and the installed base's revenue before and after it.

    Attributes
    ----------
    book : Book
        The book as known at ``cut`` (``book.as_of == cut``); later rows in ``book.future_*``.
    cut, end : int
        Month numbers of the cut-off and of the last held-out month.
    accounts : pandas.DataFrame
        The installed base: ``account_id``, ``segment``, one row per account active at ``cut``, in
        ``book.accounts`` order (the order the simulation's :func:`~simengine.engine.book_state`
        keeps).
    history : numpy.ndarray, shape (accounts, cut - first + 1)
        Monthly revenue of those accounts from ``first`` (the first usage month) to ``cut``.
    actual : numpy.ndarray, shape (accounts, end - cut)
        Their monthly revenue in the held-out months ``cut + 1 .. end`` (0 after churn).
    first : int
        Month number of ``history[:, 0]``.
    """

    book: Book
    cut: int
    end: int
    accounts: pd.DataFrame
    history: np.ndarray
    actual: np.ndarray
    first: int

    @property
    def holdout_months(self) -> list[str]:
        """The held-out months as ``YYYY-MM``."""
        return [format_month(m) for m in range(self.cut + 1, self.end + 1)]

    @property
    def history_months(self) -> list[str]:
        """The history months as ``YYYY-MM``."""
        return [format_month(m) for m in range(self.first, self.cut + 1)]


def installed_base(book: Book) -> np.ndarray:
    """Boolean mask over ``book.accounts``: active at ``as_of`` (the simulation's starting set).

    The same rule as :func:`simengine.engine.book_state`: no ``churn_month``, or one after
    ``as_of``.  For a book with a usage row in every customer month these are exactly the accounts
    with usage in the ``as_of`` month.
    """
    churn = book.accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)
    return churn > book.as_of


def _wide(rows: pd.DataFrame, ids: pd.Index, first: int, last: int) -> np.ndarray:
    months = np.arange(first, last + 1)
    if len(rows) == 0:
        return np.zeros((len(ids), len(months)))
    table = rows.pivot_table(index="account_id", columns="month", values="revenue", aggfunc="sum")
    return table.reindex(index=ids, columns=months).fillna(0.0).to_numpy(dtype=float)


def check_holdout(full: Book, holdout: int) -> int:
    """The cut-off month of ``full`` held out ``holdout`` months; ConfigError if the book is too short.

    The cut must leave at least 2 usage months to fit and at least one account active at it.
    """
    from simengine.config import ConfigError

    end = int(full.as_of)
    cut = end - int(holdout)
    first_usage = int(full.usage["month"].min()) if len(full.usage) else end
    if cut < first_usage + 1:
        raise ConfigError(
            f"config key 'backtest.holdout_months' = {holdout}: the book's usage runs "
            f"{format_month(first_usage)}..{format_month(end)}, so a cut-off at "
            f"{format_month(cut)} leaves fewer than 2 months to fit"
        )
    start = full.accounts["start_month"].to_numpy(np.int64)
    churn = full.accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)
    if not ((start <= cut) & (churn > cut)).any():
        raise ConfigError(
            f"config key 'backtest.holdout_months' = {holdout}: no account is active at the "
            f"cut-off {format_month(cut)}"
        )
    return cut


def split_book(full: Book, holdout: int, unit_price: dict | None = None) -> Split:
    """Cut ``full`` ``holdout`` months before its ``as_of`` and collect the installed base's revenue.

    Parameters
    ----------
    full : Book
        The whole book; its ``as_of`` is the last held-out month.
    holdout : int
        Held-out months (``backtest.holdout_months``).
    unit_price : mapping of str to float, optional
        ``market.unit_price``: prices usage where the data has no ``revenue`` column, by the rule
        the run uses (:func:`simengine.prices.account_prices` on the cut book).

    Returns
    -------
    Split

    Raises
    ------
    simengine.config.ConfigError
        When the cut-off leaves too little to fit (:func:`check_holdout`).
    """
    cut = check_holdout(full, holdout)
    end = int(full.as_of)
    accounts, usage, use_cases, future = cut_off(full.accounts, full.usage, full.use_cases, cut)
    book = Book(
        accounts=canonical_table(accounts, "accounts"),
        usage=canonical_table(usage, "usage"),
        use_cases=None if use_cases is None else canonical_table(use_cases, "use_cases"),
        as_of=cut,
        source=dict(full.source),
        observed_from=full.observed_from,
        future_accounts=future["accounts"],
        future_usage=future["usage"],
        future_use_cases=future["use_cases"],
    )
    base = book.accounts.loc[installed_base(book), ["account_id", "segment"]].reset_index(drop=True)
    ids = pd.Index(base["account_id"])
    if "revenue" in full.usage.columns:
        price = pd.Series(np.nan, index=ids)  # not read: the data's revenue prices every row
    else:
        from simengine.prices import account_prices

        price = account_prices(book, unit_price or {"default": 1.0}).account
    all_usage = full.usage[full.usage["account_id"].isin(ids)]
    revenue = all_usage.assign(revenue=row_revenue(all_usage, price))
    past = revenue[revenue["month"] <= cut]
    later = revenue[(revenue["month"] > cut) & (revenue["month"] <= end)]
    first = int(full.usage["month"].min())
    return Split(
        book=book,
        cut=cut,
        end=end,
        accounts=base,
        history=_wide(past, ids, first, cut),
        actual=_wide(later, ids, cut + 1, end),
        first=first,
    )
