"""Quantile tables finance reads: P10/P50/P90 by forecast year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.results import nan_sum

__all__ = ["QUANTILES", "quantile_table", "summary_table"]

QUANTILES = (0.1, 0.5, 0.9)


def quantile_table(da: xr.DataArray, dim: str = "draw") -> pd.DataFrame:
    """P10/P50/P90 and mean of ``da`` over ``dim``, one row per remaining coordinate."""
    q = da.quantile(list(QUANTILES), dim=dim)
    frame = (
        q.to_dataset(dim="quantile")
        .rename({v: f"p{round(v * 100)}" for v in QUANTILES})
        .to_dataframe()
    )
    frame["mean"] = da.mean(dim).to_series()
    return frame


def _years(ds: xr.Dataset) -> list[tuple[int, slice, int]]:
    n = ds.sizes["month"]
    return [
        (y + 1, slice(12 * y, min(12 * y + 12, n)), min(12, n - 12 * y))
        for y in range((n + 11) // 12)
    ]


def _row(metric, segment, year, end, n_months, values) -> dict | None:
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    p10, p50, p90 = np.quantile(finite, QUANTILES)
    return {
        "metric": metric,
        "segment": segment,
        "year": year,
        "year_end": end,
        "months": n_months,
        "p10": p10,
        "p50": p50,
        "p90": p90,
        "mean": float(finite.mean()),
    }


def _rows(metric, segments, year, end, n_months, values: np.ndarray) -> list[dict]:
    """:func:`_row` for every column of ``values`` (draws, columns): one ``numpy.quantile`` and one
    mean for all columns when every value is finite (the same numbers: per column, quantiles are
    order statistics, and the mean runs over a contiguous row like the 1-D one), else per column."""
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():
        return [_row(metric, s, year, end, n_months, values[:, i]) for i, s in enumerate(segments)]
    columns = np.ascontiguousarray(values.T)
    q = np.quantile(columns, QUANTILES, axis=1)
    mean = columns.mean(axis=1)
    return [
        {"metric": metric, "segment": s, "year": year, "year_end": end, "months": n_months,
         "p10": q[0, i], "p50": q[1, i], "p90": q[2, i], "mean": float(mean[i])}
        for i, s in enumerate(segments)
    ]  # fmt: skip


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """P10/P50/P90 by forecast year, per segment and for all.

    ARR, revenue, NRR and GRR always; with the go-to-market model also new logos, go-to-market cost,
    revenue per cost dollar and post-sales share (all segments), and the expansion multiple (one row
    for the whole run, ``year`` empty).  Year ``y`` covers forecast months ``12(y-1) .. 12y-1``;
    ARR, NRR, GRR and post-sales share are taken at the year's last month, flows are summed over
    the year.  ``months`` says how many months a (last, partial) year has.
    """
    rows = []
    segments = [str(s) for s in ds["segment"].values]
    gtm = "total_cost" in ds
    # The arrays once (draw, month, segment): xarray's per-year selections cost more than the sums.
    by_seg = {v: ds[v].transpose("draw", "month", "segment").values
              for v in ("revenue", "arr", "nrr", "grr", *(("new_logos",) if gtm else ()))}  # fmt: skip
    by_month = {v: ds[v].transpose("draw", "month").values
                for v in ("nrr_total", "grr_total",
                          *(("total_cost", "post_sales_share") if gtm else ()))}  # fmt: skip
    months = ds["month"].values
    for year, span, n_months in _years(ds):
        end = str(np.datetime_as_string(months[span][-1], unit="M"))
        last = span.stop - 1
        revenue = nan_sum(by_seg["revenue"][:, span], 1)
        arr = by_seg["arr"][:, last]
        by_segment = {
            "arr": (arr, nan_sum(arr, 1)),
            "revenue": (revenue, nan_sum(revenue, 1)),
            "nrr": (by_seg["nrr"][:, last], by_month["nrr_total"][:, last]),
            "grr": (by_seg["grr"][:, last], by_month["grr_total"][:, last]),
        }
        if gtm:
            logos = nan_sum(by_seg["new_logos"][:, span], 1)  # counts: exact in float64
            by_segment["new_logos"] = (logos, nan_sum(logos, 1))
        for metric, (per_segment, total) in by_segment.items():
            rows.append(_row(metric, "all", year, end, n_months, total))
            rows += _rows(metric, segments, year, end, n_months, per_segment)
        if gtm:
            cost = nan_sum(by_month["total_cost"][:, span], 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                totals = {
                    "total_cost": cost,
                    "revenue_per_sm_dollar": nan_sum(revenue, 1) / cost,
                    "post_sales_share": by_month["post_sales_share"][:, last],
                }
            rows += [_row(m, "all", year, end, n_months, v) for m, v in totals.items()]
    if "expansion_multiple" in ds:
        rows.append(
            _row(
                "expansion_multiple",
                "all",
                None,
                "",
                ds.sizes["month"],
                ds["expansion_multiple"].values,
            )
        )
    table = pd.DataFrame([r for r in rows if r is not None])
    table["year"] = table["year"].astype("Int64")
    return table
