"""The history a run continues: observed monthly revenue per segment, kept in ``forecast.nc``.

A forecast alone cannot be judged: a chart needs the months before ``as_of`` on the same axis.
:func:`observed_revenue` sums the book's revenue per segment and month (the data's ``revenue``
where the usage table has it, else usage x the account's unit price, the price the run simulates
with) over every observed month up to ``as_of``.  It is small (months x segments), so it travels
inside the forecast dataset as ``history_revenue`` (dims ``history_month``, ``segment``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.prices import row_revenue

__all__ = ["HISTORY_VARIABLE", "observed_revenue"]

#: Name of the variable in ``forecast.nc``.
HISTORY_VARIABLE = "history_revenue"


def observed_revenue(book, account_price: pd.Series, segments: tuple[str, ...]) -> xr.DataArray:
    """Observed revenue per month and segment of ``book``, up to ``as_of``.

    Parameters
    ----------
    book : simengine.data.Book
        Accounts (with ``segment``) and usage rows (``account_id``, ``month``, ``usage``, optional
        ``revenue``) up to ``book.as_of``.
    account_price : pandas.Series
        Unit price per ``account_id``; prices usage rows that carry no ``revenue``.
    segments : tuple of str
        The forecast's segment order; a segment without history gets zeros.

    Returns
    -------
    xarray.DataArray
        Dims ``(history_month, segment)``, currency per month; ``history_month`` holds month-start
        timestamps from the first observed month to ``as_of``.
    """
    from simengine.engine import month_starts

    usage = book.usage[book.usage["month"] <= int(book.as_of)]
    if usage.empty:
        first = int(book.as_of)
        wide = np.zeros((1, len(segments)))
    else:
        priced = row_revenue(usage, account_price)
        segment = usage["account_id"].map(book.accounts.set_index("account_id")["segment"])
        frame = pd.DataFrame(
            {"month": usage["month"].to_numpy(np.int64), "segment": segment, "revenue": priced}
        )
        first = int(frame["month"].min())
        months = np.arange(first, int(book.as_of) + 1)
        wide = (
            frame.pivot_table(index="month", columns="segment", values="revenue", aggfunc="sum")
            .reindex(index=months, columns=list(segments))
            .fillna(0.0)
            .to_numpy(dtype=float)
        )
    history = xr.DataArray(
        wide,
        dims=("history_month", "segment"),
        coords={
            "history_month": np.asarray(month_starts(first, wide.shape[0])),
            "segment": list(segments),
        },
        name=HISTORY_VARIABLE,
        attrs={
            "units": "currency per month",
            "description": "observed revenue per month up to as_of (the data's revenue, else "
            "usage x the account's unit price)",
        },
    )
    history["history_month"].attrs["description"] = "observed month (month start), up to as_of"
    return history
