"""The history a run continues: observed monthly revenue per segment, kept in ``forecast.nc``.

A forecast alone cannot be judged: a chart needs the months before ``as_of`` on the same axis.
:func:`observed_revenue` sums the book's revenue per segment and month (the data's ``revenue``
where the usage table has it, else usage x the account's unit price, the price the run simulates
with) over every observed month up to ``as_of``.  It is small (months x segments), so it travels
inside the forecast dataset as ``history_revenue`` (dims ``history_month``, ``segment``).

:func:`observed_retention` measures the book's own trailing-twelve-month NRR and GRR in the same
months, by the definition the forecast uses (:mod:`simengine.results`), so a chart can put the
retention the data show beside the retention the forecast continues.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.prices import row_revenue

__all__ = ["HISTORY_VARIABLE", "RETENTION_VARIABLES", "observed_retention", "observed_revenue"]

#: Name of the variable in ``forecast.nc``.
HISTORY_VARIABLE = "history_revenue"
#: The observed retention variables of ``forecast.nc`` (per segment, then pooled).
RETENTION_VARIABLES = ("history_nrr", "history_grr", "history_nrr_total", "history_grr_total")
#: Accounts per block when the accounts x months revenue table is built (bounds its memory).
_BLOCK = 20_000


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


def observed_retention(book, account_price: pd.Series, segments: tuple[str, ...]) -> xr.Dataset:
    """The book's trailing-twelve-month NRR and GRR in every observed month up to ``as_of``.

    The forecast's definition (:mod:`simengine.results`): in month ``t`` the cohort ``A`` is the
    accounts that started by ``t - 23`` and were still customers in ``t - 12`` (no
    ``churn_month`` at or before it), and

        nrr(t) = sum_A R(t-11 .. t) / sum_A R(t-23 .. t-12)
        grr(t) = sum_A min(R(t-11 .. t), R(t-23 .. t-12)) / (same base)

    with ``R`` an account's revenue summed over those months (churned accounts count with the
    revenue they had).  A month is measured only when its whole base year lies inside the
    observed usage (:attr:`Book.usage_window_start` .. ``as_of``): earlier months are NaN, since
    an account's revenue before its first usage row is unknown, not zero.

    Parameters
    ----------
    book : simengine.data.Book
        Accounts (``segment``, ``start_month``, ``churn_month``) and usage rows up to ``as_of``.
    account_price : pandas.Series
        Unit price per ``account_id`` for usage rows without ``revenue`` (as
        :func:`observed_revenue`).
    segments : tuple of str
        The forecast's segment order.

    Returns
    -------
    xarray.Dataset
        ``history_nrr`` and ``history_grr`` (``history_month``, ``segment``) and the pooled
        ``history_nrr_total`` and ``history_grr_total`` (``history_month``); ratios, the same
        ``history_month`` coordinate as :func:`observed_revenue`.
    """
    from simengine.engine import month_starts
    from simengine.kernels.layout import HISTORY_MONTHS as YEAR

    as_of = int(book.as_of)
    usage = book.usage[book.usage["month"] <= as_of]
    first = int(usage["month"].min()) if len(usage) else as_of
    n_months = as_of - first + 1
    seg_index = {s: i for i, s in enumerate(segments)}
    accounts = book.accounts.set_index("account_id")
    ids = accounts.index
    # base, retained, capped retained: (month, segment) sums over the cohort of each month.
    sums = np.zeros((3, n_months, len(segments)))
    measured = np.arange(first, as_of + 1) - (2 * YEAR - 1) >= book.usage_window_start
    if len(usage) and measured.any():
        row = pd.Index(ids).get_indexer(usage["account_id"])
        revenue = row_revenue(usage, account_price)
        col = usage["month"].to_numpy(np.int64) - first
        start = accounts["start_month"].to_numpy(np.int64)
        churn = accounts["churn_month"].to_numpy(np.float64, na_value=np.inf)
        segment = accounts["segment"].map(seg_index).to_numpy(np.int64)
        t = np.arange(first, as_of + 1)
        for lo in range(0, len(ids), _BLOCK):
            hi = min(lo + _BLOCK, len(ids))
            pick = (row >= lo) & (row < hi)
            wide = np.zeros((hi - lo, n_months + 1))  # a leading zero column for the cumsum
            np.add.at(wide, (row[pick] - lo, col[pick] + 1), np.nan_to_num(revenue[pick]))
            cum = np.cumsum(wide, axis=1)
            # Twelve months ending at month index i: cum[i + 1] - cum[i - 11] (zero before data).
            end = np.arange(n_months) + 1
            current = cum[:, end] - cum[:, np.maximum(end - YEAR, 0)]
            base = np.zeros_like(current)
            base[:, YEAR:] = current[:, :-YEAR]
            cohort = (start[lo:hi, None] <= t[None, :] - (2 * YEAR - 1)) & (
                churn[lo:hi, None] > t[None, :] - YEAR
            )
            cohort &= measured[None, :]
            for k, value in enumerate((base, current, np.minimum(current, base))):
                masked = np.where(cohort, value, 0.0)
                for s in range(len(segments)):
                    sums[k, :, s] += masked[segment[lo:hi] == s].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        nrr = np.where(measured[:, None], sums[1] / sums[0], np.nan)
        grr = np.where(measured[:, None], sums[2] / sums[0], np.nan)
        pooled = sums.sum(axis=2)
        nrr_total = np.where(measured, pooled[1] / pooled[0], np.nan)
        grr_total = np.where(measured, pooled[2] / pooled[0], np.nan)
    coords = {"history_month": np.asarray(month_starts(first, n_months)),
              "segment": list(segments)}  # fmt: skip
    by_segment, pooled_dims = ("history_month", "segment"), ("history_month",)
    what = (
        "observed trailing-twelve-month {} up to as_of ({}; NaN before the data hold a base year)"
    )
    out = xr.Dataset(
        {
            "history_nrr": (by_segment, nrr),
            "history_grr": (by_segment, grr),
            "history_nrr_total": (pooled_dims, nrr_total),
            "history_grr_total": (pooled_dims, grr_total),
        },
        coords=coords,
    )
    for name in RETENTION_VARIABLES:
        kind = "NRR" if "nrr" in name else "GRR"
        scope = "all segments pooled" if name.endswith("_total") else "per segment"
        out[name].attrs = {"units": "ratio", "description": what.format(kind, scope)}
    return out
