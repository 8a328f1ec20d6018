"""Quantile tables finance reads: P10/P50/P90 by forecast year."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

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
    for year, months, n_months in _years(ds):
        part = ds.isel(month=months)
        last = part.isel(month=-1)
        end = str(np.datetime_as_string(last["month"].values, unit="M"))
        revenue = part["revenue"].sum("month")
        by_segment = {
            "arr": (last["arr"], last["arr"].sum("segment")),
            "revenue": (revenue, revenue.sum("segment")),
            "nrr": (last["nrr"], last["nrr_total"]),
            "grr": (last["grr"], last["grr_total"]),
        }
        if "total_cost" in ds:
            logos = part["new_logos"].sum("month")
            by_segment["new_logos"] = (logos, logos.sum("segment"))
        for metric, (per_segment, total) in by_segment.items():
            rows.append(_row(metric, "all", year, end, n_months, total.values))
            rows += [
                _row(metric, s, year, end, n_months, per_segment.sel(segment=s).values)
                for s in segments
            ]
        if "total_cost" in ds:
            cost = part["total_cost"].sum("month")
            totals = {
                "total_cost": cost,
                "revenue_per_sm_dollar": revenue.sum("segment") / cost,
                "post_sales_share": last["post_sales_share"],
            }
            rows += [_row(m, "all", year, end, n_months, da.values) for m, da in totals.items()]
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
