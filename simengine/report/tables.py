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


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """P10/P50/P90 of ARR, revenue, NRR and GRR by forecast year, per segment and for all.

    Year ``y`` covers forecast months ``12(y-1) .. 12y-1``.  ARR, NRR and GRR are taken at the year's
    last month; revenue is summed over the year's months.  ``months`` says how many months a
    (last, partial) year has.
    """
    rows = []
    for year, months, n_months in _years(ds):
        part = ds.isel(month=months)
        last = part.isel(month=-1)
        end = str(np.datetime_as_string(last["month"].values, unit="M"))
        metrics = {
            "arr": (last["arr"], last["arr"].sum("segment")),
            "revenue": (part["revenue"].sum("month"), part["revenue"].sum(("month", "segment"))),
            "nrr": (last["nrr"], last["nrr_total"]),
            "grr": (last["grr"], last["grr_total"]),
        }
        for metric, (by_segment, total) in metrics.items():
            for segment, da in [("all", total)] + [
                (str(s), by_segment.sel(segment=s)) for s in ds["segment"].values
            ]:
                values = da.values
                finite = values[np.isfinite(values)]
                if finite.size == 0:
                    continue
                p10, p50, p90 = np.quantile(finite, QUANTILES)
                rows.append(
                    {
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
                )
    return pd.DataFrame(rows)
