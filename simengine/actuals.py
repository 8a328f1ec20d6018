"""What the book itself says about the months before the forecast, for the rollups' actuals.

:func:`observed_actuals` counts, per observed month and segment, the new logos, churned accounts
and customers of the book, and the trailing-twelve-month retention sums the forecast's NRR and
GRR use (:mod:`simengine.results`), so a fiscal year that ended before the forecast (or the part
of one before it) is reported with the same metrics as the forecast's years.  Small (months x
segments), the variables travel in ``forecast.nc`` beside ``history_revenue`` on its
``history_month`` axis.

Definitions, month ``t`` (the book's conventions: ``churn_month`` is the first month an account is
no longer a customer):

- ``history_new_logos``: accounts whose ``start_month`` is ``t``;
- ``history_churned_accounts``: accounts whose ``churn_month`` is ``t``;
- ``history_active_accounts``: accounts with ``start_month <= t < churn_month``;
- ``history_ttm_base`` / ``history_ttm_retained`` / ``history_ttm_retained_capped``: over the
  accounts that started by ``t - 23`` and were still customers in ``t - 12``, their revenue over
  ``t - 23 .. t - 12``, over ``t - 11 .. t``, and the latter capped per account at the former.

Counts are NaN in months before the churn observation window (``Book.window_start``: an export of
survivors lists no account that left before it); the retention sums are NaN until 24 months of
usage are observed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.prices import row_revenue

__all__ = ["ACTUAL_VARIABLES", "observed_actuals"]

#: The variables :func:`observed_actuals` returns, all on dims ``(history_month, segment)``.
ACTUAL_VARIABLES = (
    "history_new_logos",
    "history_churned_accounts",
    "history_active_accounts",
    "history_ttm_base",
    "history_ttm_retained",
    "history_ttm_retained_capped",
)

_UNITS = {
    "history_new_logos": "accounts",
    "history_churned_accounts": "accounts",
    "history_active_accounts": "accounts",
    "history_ttm_base": "currency (sum of 12 months)",
    "history_ttm_retained": "currency (sum of 12 months)",
    "history_ttm_retained_capped": "currency (sum of 12 months)",
}
_DESCRIPTIONS = {
    "history_new_logos": "observed accounts starting in the month",
    "history_churned_accounts": "observed accounts whose churn_month is the month",
    "history_active_accounts": "observed customers in the month",
    "history_ttm_base": "observed revenue over months t-23..t-12 of the accounts that started by "
    "t-23 and were customers in t-12",
    "history_ttm_retained": "their observed revenue over months t-11..t",
    "history_ttm_retained_capped": "history_ttm_retained with each account capped at its own base",
}


def observed_actuals(book, account_price: pd.Series, segments: tuple[str, ...]) -> xr.Dataset:
    """The book's monthly counts and retention sums per segment, first usage month to ``as_of``.

    Parameters
    ----------
    book : simengine.data.Book
    account_price : pandas.Series
        Unit price per ``account_id``, for usage rows without ``revenue`` (as
        :func:`simengine.history.observed_revenue` prices them).
    segments : tuple of str
        The forecast's segment order.

    Returns
    -------
    xarray.Dataset
        :data:`ACTUAL_VARIABLES` over ``(history_month, segment)``; ``history_month`` is the axis
        of :func:`simengine.history.observed_revenue` (month starts, first usage month to
        ``as_of``).
    """
    from simengine.engine import month_starts

    as_of = int(book.as_of)
    usage = book.usage[book.usage["month"] <= as_of]
    first = int(usage["month"].min()) if len(usage) else as_of
    months = np.arange(first, as_of + 1)
    n_months, n_seg = months.size, len(segments)
    accounts = book.accounts
    seg_index = {s: i for i, s in enumerate(segments)}
    seg = accounts["segment"].map(seg_index).to_numpy(dtype=float, na_value=np.nan)
    known = np.isfinite(seg)
    seg = np.where(known, seg, 0).astype(np.int64)
    start = accounts["start_month"].to_numpy(np.int64)
    churn = accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)

    counts = {}
    t = months[:, None]
    for name, member in (
        ("history_new_logos", start[None, :] == t),
        ("history_churned_accounts", churn[None, :] == t),
        ("history_active_accounts", (start[None, :] <= t) & (churn[None, :] > t)),
    ):
        out = np.zeros((n_months, n_seg))
        for k in range(n_seg):
            out[:, k] = (member & known & (seg == k)).sum(axis=1)
        out[months < int(book.window_start)] = np.nan
        counts[name] = out

    ttm = np.full((3, n_months, n_seg), np.nan)
    if len(usage) and n_months >= 24:
        ids = accounts["account_id"]
        revenue = pd.DataFrame(
            {
                "account_id": usage["account_id"].to_numpy(),
                "month": usage["month"].to_numpy(np.int64),
                "revenue": row_revenue(usage, account_price),
            }
        )
        wide = (
            revenue.pivot_table(index="account_id", columns="month", values="revenue",
                                aggfunc="sum")
            .reindex(index=ids, columns=months)
            .fillna(0.0)
            .to_numpy(dtype=float)
        )  # fmt: skip
        cum = np.concatenate([np.zeros((wide.shape[0], 1)), np.cumsum(wide, axis=1)], axis=1)
        for i in range(23, n_months):  # column i is month months[i]; cum[:, j] sums columns < j
            base = cum[:, i - 11] - cum[:, i - 23]  # months t-23 .. t-12
            kept = cum[:, i + 1] - cum[:, i - 11]  # months t-11 .. t
            m = months[i]
            cohort = known & (start <= m - 23) & (churn > m - 12)
            for k, v in enumerate((base, kept, np.minimum(kept, base))):
                ttm[k, i] = np.bincount(seg[cohort], v[cohort], minlength=n_seg)

    data = {**counts, **{name: ttm[k] for k, name in enumerate(ACTUAL_VARIABLES[3:])}}
    dims = ("history_month", "segment")
    ds = xr.Dataset(
        {
            name: (dims, data[name], {"units": _UNITS[name], "description": _DESCRIPTIONS[name]})
            for name in ACTUAL_VARIABLES
        },
        coords={
            "history_month": np.asarray(month_starts(first, n_months)),
            "segment": list(segments),
        },
    )
    return ds
