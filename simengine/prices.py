"""Unit prices from the data: each account's own, and its segment's for new logos.

Rule (README "Prices from the data").  When the usage table has a ``revenue`` column:

- an account's unit price is ``sum(revenue) / sum(usage)`` over its last (up to) six months with
  usage > 0 and a revenue value, up to ``as_of``;
- an account with no such month takes its segment's recent price;
- a segment's recent price -- also what its new logos pay -- is usage-weighted over the segment's
  last 12 months (``as_of - 11 .. as_of``): ``sum(revenue) / sum(usage)``;
- a segment with no revenue in those months takes ``market.unit_price.<segment>`` (or ``default``).

Without a ``revenue`` column every price is ``market.unit_price``.  ``adjust.price`` scales either,
from ``adjust.from_month``; history is never repriced (a price rise shows in NRR).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ACCOUNT_MONTHS", "SEGMENT_MONTHS", "Prices", "account_prices", "row_revenue"]

#: Months of an account's own history its price is measured over (the last ones with usage).
ACCOUNT_MONTHS = 6
#: Months of a segment's history its recent price is measured over.
SEGMENT_MONTHS = 12


@dataclass(frozen=True)
class Prices:
    """Unit prices of a book.

    Attributes
    ----------
    account : pandas.Series
        Price per usage unit of every account of the book, indexed by ``account_id``.
    new_logo : dict of str to float
        Price per usage unit a new logo of each segment pays.
    data_priced : frozenset of str
        Segments priced by the data's revenue (``market.unit_price`` does not apply to them).
    source : str
        One line saying where prices come from, for the forecast's attrs.
    """

    account: pd.Series
    new_logo: dict[str, float]
    data_priced: frozenset[str]
    source: str


def _fallback(unit_price: Mapping[str, float], segment: str) -> float:
    if segment in unit_price:
        return float(unit_price[segment])
    if "default" in unit_price:
        return float(unit_price["default"])
    return float("nan")  # config.live refuses this before a run (names the segment)


def account_prices(book, unit_price: Mapping[str, float]) -> Prices:
    """Unit prices of ``book``'s accounts and of its new logos (see the module docstring).

    Parameters
    ----------
    book : simengine.data.Book
    unit_price : mapping of str to float
        ``market.unit_price``: segment (or ``default``) -> price, where the data has no revenue.
    """
    accounts = book.accounts.set_index("account_id")
    segments = tuple(book.segments)
    usage = book.usage[book.usage["month"] <= book.as_of]
    if "revenue" not in usage.columns:
        new_logo = {s: _fallback(unit_price, s) for s in segments}
        account = accounts["segment"].map(new_logo).astype(float)
        return Prices(account, new_logo, frozenset(), "market.unit_price (no revenue in the data)")

    rows = usage[(usage["usage"] > 0) & usage["revenue"].notna()]
    rows = rows.assign(segment=rows["account_id"].map(accounts["segment"]))
    recent = rows[rows["month"] > book.as_of - SEGMENT_MONTHS]
    by_segment = recent.groupby("segment", observed=True)[["revenue", "usage"]].sum()
    segment_price = (by_segment["revenue"] / by_segment["usage"]).to_dict()
    data_priced = frozenset(s for s in segments if np.isfinite(segment_price.get(s, np.nan)))
    new_logo = {
        s: float(segment_price[s]) if s in data_priced else _fallback(unit_price, s)
        for s in segments
    }
    # Rows are sorted by account and month: the last ACCOUNT_MONTHS rows of each account.
    last = rows.groupby("account_id", sort=False).tail(ACCOUNT_MONTHS)
    own = last.groupby("account_id")[["revenue", "usage"]].sum()
    own_price = own["revenue"] / own["usage"]
    account = own_price.reindex(accounts.index)
    account = account.fillna(accounts["segment"].map(new_logo)).astype(float)
    unpriced = [s for s in segments if s not in data_priced]
    source = (
        f"data revenue (own last {ACCOUNT_MONTHS} months; new logos: segment's last "
        f"{SEGMENT_MONTHS} months)"
    )
    if unpriced:
        source += f"; market.unit_price for {', '.join(unpriced)}"
    return Prices(account.rename("unit_price"), new_logo, data_priced, source)


def row_revenue(usage: pd.DataFrame, account_price: pd.Series) -> np.ndarray:
    """Revenue of each usage row: the data's ``revenue`` where it has a value, else usage x the
    account's unit price (what the history charts and the backtest's actuals both count).

    Parameters
    ----------
    usage : pandas.DataFrame
        Usage rows (``account_id``, ``usage``, optional ``revenue``).
    account_price : pandas.Series
        Unit price per ``account_id``; read for rows without a revenue value.
    """
    priced = usage["usage"].to_numpy(float) * usage["account_id"].map(account_price).to_numpy(
        float, na_value=np.nan
    )
    if "revenue" not in usage.columns:
        return priced
    given = usage["revenue"].to_numpy(float)
    return np.where(np.isfinite(given), given, priced)
