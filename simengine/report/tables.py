"""Quantile tables finance reads: P10/P50/P90 by forecast year."""

from __future__ import annotations

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


def summary_table(ds: xr.Dataset) -> pd.DataFrame:
    """``summary.csv``: P10/P50/P90 and mean by fiscal year, per segment and for all.

    The fiscal-year rows of :func:`simengine.rollups.rollup_table` (its module docstring defines
    every metric): the forecast's fiscal years (``year`` 1, 2, ...; a year the forecast starts
    inside adds its earlier months from the book), the last actual fiscal year (``year`` 0,
    ``source`` actual) and the whole-run metrics (``year`` empty).  ``months`` says how many months
    a year covers (a partial last year has fewer than 12).
    """
    from simengine.rollups import rollup_table

    return rollup_table(ds, "year")
