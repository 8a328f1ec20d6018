"""Rollups finance reads: every metric by fiscal year, fiscal quarter and month, with actuals.

:func:`period_draws` gives each metric's value per draw for every period (:mod:`simengine.fiscal`);
:func:`rollup_table` turns them into the rows of ``summary.csv`` (fiscal years),
``summary_quarterly.csv`` and ``summary_monthly.csv``: P10/P50/P90 and the mean over draws.

**Quantiles of sums.**  A period's value is computed draw by draw first (a fiscal year's revenue in
draw ``d`` is the sum of draw ``d``'s months), and the quantiles are taken last.  So the draws of
a year equal the sum of the draws of its quarters and months, and so do the means; the P50 of a
year is *not* the sum of its quarters' P50s (quantiles do not add), and should not be.

Metrics (``segment`` is a segment or ``all``):

- flows, summed over the period: ``revenue``; ``installed_base_revenue`` (accounts that were
  customers by ``as_of``, so every month before the forecast) and ``new_logo_revenue`` (accounts
  the forecast adds after ``as_of``), which add up to ``revenue``; ``new_logos``;
  ``churned_accounts``; with the go-to-market model ``total_cost`` (``all`` only);
- stocks, at the period's last month: ``arr`` (12 x the month's revenue), ``nrr`` and ``grr``
  (trailing twelve months, :mod:`simengine.results`), ``active_accounts`` (customers); with the
  go-to-market model ``post_sales_share``;
- ``revenue_per_sm_dollar``: the period's forecast revenue per go-to-market dollar (``all``);
- ``expansion_multiple``: one row for the whole run (``period_type`` ``run``).

**Actuals.**  A fiscal year (or quarter) that starts before the forecast adds its earlier months
from the book (``history_*`` variables of ``forecast.nc``, :mod:`simengine.actuals`): finance's
"actuals plus forecast" for the current year.  ``actual_months`` and ``forecast_months`` say how
many of each a row holds; go-to-market cost has no actuals (its rows count forecast months only).
The last fiscal year that ended before the forecast is a row of its own (``source`` ``actual``,
``year`` 0, P10 = P50 = P90 = the observed value), and so are the quarters and months of the
first fiscal year that end before the forecast (``year`` 1), so a year's quarters and months add
up to it.  Actual NRR and GRR use the data's revenue (prices as billed), where the forecast's
first-year base prices each account's history at its current price.  ``growth_p10/_p50/_p90``
(fiscal years only) are the quantiles of each draw's change on the fiscal year before, for money
and counts, where both years are covered in full.

**Files.**  ``summary.csv`` keeps one row per metric, segment and fiscal year (plus the whole-run
rows), as its readers have always filtered it; quarters and months go to ``summary_quarterly.csv``
and ``summary_monthly.csv`` with the same columns (``period_type`` tells them apart, so the three
concatenate into one long table) rather than into it, where a reader summing a metric's rows by
year would count each year three times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from simengine.fiscal import Period, actual_periods, last_actual_year, periods

__all__ = [
    "ROLLUP_COLUMNS",
    "UNIT",
    "fiscal_year_start",
    "forecast_first_month",
    "period_draws",
    "rollup_table",
    "rollup_tables",
]

#: How summary tables (terminal, report, workbook) name each metric, and the order they show them.
METRIC_LABELS = {
    "arr": "ARR (year end)",
    "revenue": "Revenue (year)",
    "nrr": "NRR (trailing 12m)",
    "grr": "GRR (trailing 12m)",
    "new_logos": "New logos (year)",
    "total_cost": "GTM cost (year)",
    "revenue_per_sm_dollar": "Revenue per unit of GTM cost",
    "post_sales_share": "Post-sales share",
    "expansion_multiple": "Expansion multiple",
}
#: The metrics the terminal's summary table shows (the rollups' further ones below are for the
#: report tables and the workbook).
TERMINAL_METRICS = frozenset(METRIC_LABELS)
METRIC_LABELS |= {
    "installed_base_revenue": "Installed base revenue (year)",
    "new_logo_revenue": "New-logo revenue (year)",
    "active_accounts": "Customers (year end)",
    "churned_accounts": "Churned accounts (year)",
}
METRIC_ORDER = {
    name: i
    for i, name in enumerate(dict.fromkeys((
        "arr", "revenue", "installed_base_revenue", "new_logo_revenue", "nrr", "grr",
        "active_accounts", "new_logos", "churned_accounts", *METRIC_LABELS,
    )))
}  # fmt: skip

#: Columns of summary.csv, summary_quarterly.csv and summary_monthly.csv, in order.  The first nine
#: are summary.csv's original columns (``year``: the fiscal year's index, 1 for the forecast's
#: first; ``year_end``: its last month in the forecast; ``months``: months it covers, actual and
#: forecast).
ROLLUP_COLUMNS = (
    "metric", "segment", "year", "year_end", "months", "p10", "p50", "p90", "mean",
    "period_type", "period", "fiscal_year", "period_start", "period_end", "actual_months",
    "forecast_months", "source", "growth_p10", "growth_p50", "growth_p90", "unit", "currency",
)  # fmt: skip

#: Kind of each metric's numbers: ``money`` (currency), ``count``, ``ratio`` or ``multiple``.
UNIT = {
    "revenue": "money",
    "installed_base_revenue": "money",
    "new_logo_revenue": "money",
    "arr": "money",
    "nrr": "ratio",
    "grr": "ratio",
    "active_accounts": "count",
    "new_logos": "count",
    "churned_accounts": "count",
    "total_cost": "money",
    "revenue_per_sm_dollar": "multiple",
    "post_sales_share": "ratio",
    "expansion_multiple": "multiple",
}
#: Decimals kept in the files, by unit: cents, and six places for ratios (plain decimals).
_DECIMALS = {"money": 2, "count": 2, "ratio": 6, "multiple": 6}
_FLOWS = ("revenue", "installed_base_revenue", "new_logo_revenue", "new_logos", "churned_accounts")
_STOCKS = ("arr", "nrr", "grr", "active_accounts")
#: Flows the book has no actuals of: their rows count the forecast months only.
_FORECAST_ONLY = frozenset({"total_cost", "revenue_per_sm_dollar"})


def fiscal_year_start(ds: xr.Dataset) -> int:
    """The run's ``data.fiscal_year_start`` (its attr; 1 for a forecast written without one)."""
    return int(ds.attrs.get("fiscal_year_start", 1) or 1)


def forecast_first_month(ds: xr.Dataset) -> int | None:
    """Month number of the forecast's first month; None when the ``month`` axis holds no dates
    (a hand-built dataset), whose years are then runs of 12 months."""
    values = ds["month"].values
    if not np.issubdtype(values.dtype, np.datetime64):
        return None
    stamp = pd.Timestamp(values[0])
    return stamp.year * 12 + stamp.month - 1


@dataclass
class _Series:
    """Per-draw monthly arrays, columns ``all`` then the segments."""

    columns: list[str]
    forecast: dict[str, np.ndarray]  # name -> (draws, months, columns)
    history: dict[str, np.ndarray]  # name -> (history months, columns); NaN where unknown
    history_months: np.ndarray  # month numbers of the history rows
    totals_only: dict[str, np.ndarray]  # name -> (draws, months): total_cost, post_sales_share


def _month_numbers(values) -> np.ndarray:
    stamps = pd.DatetimeIndex(values)
    return (stamps.year * 12 + stamps.month - 1).to_numpy(np.int64)


def _with_total(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Prepend the sum over the last axis (segments) as column ``all`` (NaN stays NaN)."""
    return np.concatenate([a.sum(axis=axis, keepdims=True), a], axis=axis)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def _series(ds: xr.Dataset) -> _Series:
    segments = [str(s) for s in ds["segment"].values]
    arr = {v: ds[v].transpose("draw", "month", "segment").values.astype(float)
           for v in ("revenue", "new_logo_revenue", "new_logos", "churned_accounts",
                     "active_accounts")}  # fmt: skip
    forecast = {
        "revenue": _with_total(arr["revenue"]),
        "new_logo_revenue": _with_total(arr["new_logo_revenue"]),
        "new_logos": _with_total(arr["new_logos"]),
        "churned_accounts": _with_total(arr["churned_accounts"]),
        "active_accounts": _with_total(arr["active_accounts"]),
    }
    forecast["installed_base_revenue"] = forecast["revenue"] - forecast["new_logo_revenue"]
    forecast["arr"] = _with_total(ds["arr"].transpose("draw", "month", "segment").values)
    for name in ("nrr", "grr"):  # the dataset's own ratios: per segment, and pooled (``_total``)
        if name in ds and f"{name}_total" in ds:
            per_segment = ds[name].transpose("draw", "month", "segment").values.astype(float)
            total = ds[f"{name}_total"].transpose("draw", "month").values.astype(float)
            forecast[name] = np.concatenate([total[..., None], per_segment], axis=2)
    totals = {v: ds[v].transpose("draw", "month").values.astype(float)
              for v in ("total_cost", "post_sales_share") if v in ds}  # fmt: skip

    history: dict[str, np.ndarray] = {}
    h_months = np.zeros(0, dtype=np.int64)
    if "history_revenue" in ds:
        h_months = _month_numbers(ds["history_month"].values)

        def hist(name):
            return ds[name].transpose("history_month", "segment").values.astype(float)

        revenue = _with_total(hist("history_revenue"))
        history["revenue"] = revenue
        history["installed_base_revenue"] = revenue
        history["new_logo_revenue"] = np.zeros_like(revenue)
        history["arr"] = 12.0 * revenue
        for name in ("new_logos", "churned_accounts", "active_accounts"):
            if f"history_{name}" in ds:
                history[name] = _with_total(hist(f"history_{name}"))
        if "history_ttm_base" in ds:
            base = _with_total(hist("history_ttm_base"))
            history["nrr"] = _ratio(_with_total(hist("history_ttm_retained")), base)
            history["grr"] = _ratio(_with_total(hist("history_ttm_retained_capped")), base)
    return _Series(["all", *segments], forecast, history, h_months, totals)


def _history_rows(s: _Series, months: tuple[int, ...]) -> np.ndarray:
    """Row indices of the history that hold ``months`` (months it does not reach are left out:
    the history starts at the book's first usage month)."""
    if not months or s.history_months.size == 0:
        return np.zeros(0, dtype=np.int64)
    pos = np.asarray(months, dtype=np.int64) - s.history_months[0]
    return pos[(pos >= 0) & (pos < s.history_months.size)]


def period_draws(
    ds: xr.Dataset, kind: str = "year", start: int | None = None, series: _Series | None = None
):
    """Each metric's value per draw in every ``kind`` period of the forecast.

    Parameters
    ----------
    ds : xarray.Dataset
        One run's forecast (dims ``draw``, ``month``, ``segment``).
    kind : {"year", "quarter", "month"}
    start : int, optional
        Fiscal year start month; default the run's (:func:`fiscal_year_start`).

    Returns
    -------
    periods : list of simengine.fiscal.Period
    values : dict
        ``metric -> ndarray (draws, periods, columns)``, columns ``all`` then the segments
        (``total_cost``, ``post_sales_share`` and ``revenue_per_sm_dollar``: ``all`` only, one
        column).  NaN where a period's value is not known (a count before the observation window).
    columns : list of str
    actual_months : ndarray of int, shape (periods,)
        Months of each period taken from the book's history.
    """
    start = fiscal_year_start(ds) if start is None else int(start)
    s = _series(ds) if series is None else series
    found = periods(forecast_first_month(ds), ds.sizes["month"], start, kind)
    draws = ds.sizes["draw"]
    rows = [_history_rows(s, p.actual) for p in found]
    actual_months = np.array([r.size for r in rows], dtype=np.int64)
    values: dict[str, np.ndarray] = {}
    for name in (*_FLOWS, *_STOCKS):
        if name not in s.forecast:
            continue
        out = np.full((draws, len(found), len(s.columns)), np.nan)
        for j, p in enumerate(found):
            if name in _STOCKS:
                out[:, j] = s.forecast[name][:, p.stop - 1]
                continue
            actual = 0.0
            if rows[j].size:
                if name not in s.history:
                    continue  # an older forecast.nc without this count's history
                actual = s.history[name][rows[j]].sum(axis=0)  # NaN (not observed) stays NaN
            out[:, j] = s.forecast[name][:, p.start : p.stop].sum(axis=1) + actual
        values[name] = out
    if "total_cost" in s.totals_only:
        cost = np.stack([s.totals_only["total_cost"][:, p.start : p.stop].sum(axis=1)
                         for p in found], axis=1)  # fmt: skip
        revenue = np.stack([s.forecast["revenue"][:, p.start : p.stop, 0].sum(axis=1)
                            for p in found], axis=1)  # fmt: skip
        values["total_cost"] = cost[..., None]
        values["revenue_per_sm_dollar"] = _ratio(revenue, cost)[..., None]
    if "post_sales_share" in s.totals_only:
        share = s.totals_only["post_sales_share"]
        values["post_sales_share"] = np.stack([share[:, p.stop - 1] for p in found], axis=1)[
            ..., None
        ]
    return found, values, s.columns, actual_months


def _actual_values(s: _Series, p: Period) -> tuple[int, dict[str, np.ndarray]]:
    """A period wholly before the forecast: the months of it the book observed, and its observed
    metrics per column (flows summed, stocks at the period's last month; NaN where unknown)."""
    rows = _history_rows(s, p.actual)
    out: dict[str, np.ndarray] = {}
    if rows.size == 0:
        return 0, out
    for name in _FLOWS:
        if name in s.history:
            out[name] = s.history[name][rows].sum(axis=0)
    if rows[-1] == p.last - s.history_months[0]:  # stocks at the period's own last month
        for name in _STOCKS:
            if name in s.history:
                out[name] = s.history[name][rows[-1]]
    return int(rows.size), out


def _quantiles(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """P10, P50, P90 and mean over axis 0 of ``values`` (draws, n), non-finite values skipped (a
    column with none finite gives NaN).  A column's figures are those of ``numpy.quantile`` and
    ``mean`` over its finite draws, whichever path computes them."""
    columns = np.ascontiguousarray(values.T)  # one draw vector a row: numpy partitions rows fast
    n = columns.shape[0]
    out = np.full((4, n), np.nan)
    clean = np.isfinite(columns).all(axis=1)
    if clean.any():
        part = columns[clean]
        out[:3, clean] = np.quantile(part, (0.1, 0.5, 0.9), axis=1)
        out[3, clean] = part.mean(axis=1)
    for i in np.flatnonzero(~clean):
        finite = columns[i][np.isfinite(columns[i])]
        if finite.size:
            out[:3, i] = np.quantile(finite, (0.1, 0.5, 0.9))
            out[3, i] = finite.mean()
    return out[0], out[1], out[2], out[3]


def rollup_table(
    ds: xr.Dataset, kind: str = "year", currency: str | None = None, series: _Series | None = None
) -> pd.DataFrame:
    """The rollup rows of ``kind`` (``year``: ``summary.csv``; ``quarter``, ``month``).

    Columns :data:`ROLLUP_COLUMNS`, values unrounded (:func:`rollup_tables` rounds them for the
    files).  ``year`` rows end with the last actual fiscal year's rows and the whole-run rows
    (``expansion_multiple``).  ``series``: the run's arrays when the caller has them already.
    """
    start = fiscal_year_start(ds)
    currency = (ds.attrs.get("currency") or "") if currency is None else currency
    first = forecast_first_month(ds)
    s = _series(ds) if series is None else series
    found, values, columns, actual_months = period_draws(ds, kind, start, s)
    year_end = {p.year_index: _fmt(first + p.stop - 1)
                for p in periods(first, ds.sizes["month"], start)}  # fmt: skip
    prior_period, prior_months, prior = None, 0, {}
    if kind == "year":
        prior_period = last_actual_year(first, start)
        prior_months, prior = _actual_values(s, prior_period)
    forecast_months = np.array([p.forecast_months for p in found])
    months = forecast_months + actual_months
    length = np.array([p.length for p in found])
    stats: dict[str, tuple[np.ndarray, ...]] = {}
    for metric, v in values.items():
        draws, n_periods, n_cols = v.shape
        q = _quantiles(v.reshape(draws, -1))
        growth = np.full((3, n_periods * n_cols), np.nan)
        # Go-to-market cost has no actuals: its rows cover the forecast months only.
        covered = forecast_months if metric in _FORECAST_ONLY else months
        if kind == "year" and UNIT[metric] in ("money", "count"):
            full = covered == length
            previous = np.full_like(v, np.nan)
            previous[:, 1:] = v[:, :-1]
            if prior_months == 12 and metric in prior:
                previous[:, 0] = prior[metric][:n_cols]
            ok = full & np.concatenate([[prior_months == 12 and metric in prior], full[:-1]])
            previous[:, ~ok] = np.nan
            growth = np.stack(_quantiles((_ratio(v, previous) - 1.0).reshape(draws, -1))[:3])
        stats[metric] = (*(x.reshape(n_periods, n_cols) for x in q),
                         *(g.reshape(n_periods, n_cols) for g in growth))  # fmt: skip
    rows: list[dict] = []
    # The quarters or months of the first fiscal year before the forecast: the book's, so that
    # the year's quarters and months add up to it.
    for p in actual_periods(first, start, kind) if kind != "year" else ():
        n, values_p = _actual_values(s, p)
        rows += _actual_rows(p, n, values_p, columns, currency, year_end[1])
    for j, p in enumerate(found):
        n_actual = int(actual_months[j])
        base = {
            "year": p.year_index, "year_end": year_end[p.year_index], "months": int(months[j]),
            "period_type": kind, "period": p.label, "fiscal_year": f"FY{p.fiscal_year}",
            "period_start": _fmt(first + p.start - n_actual), "period_end": _fmt(first + p.stop - 1),
            "actual_months": n_actual, "forecast_months": p.forecast_months, "source": "forecast",
            "currency": currency,
        }  # fmt: skip
        for metric, (p10, p50, p90, mean, g10, g50, g90) in stats.items():
            cols = columns if p50.shape[1] == len(columns) else ["all"]
            own = base
            if metric in _FORECAST_ONLY and n_actual:
                own = {**base, "months": p.forecast_months, "actual_months": 0,
                       "period_start": _fmt(first + p.start)}  # fmt: skip
            for c, seg in enumerate(cols):
                if np.isfinite(p50[j, c]):
                    rows.append({**own, "metric": metric, "segment": seg, "p10": p10[j, c],
                                 "p50": p50[j, c], "p90": p90[j, c], "mean": mean[j, c],
                                 "growth_p10": g10[j, c], "growth_p50": g50[j, c],
                                 "growth_p90": g90[j, c], "unit": UNIT[metric]})  # fmt: skip
    if kind == "year":
        rows += _actual_rows(
            prior_period, prior_months, prior, columns, currency, prior_period.last_label
        )
        if "expansion_multiple" in ds:
            v = ds["expansion_multiple"].values.astype(float)[:, None]
            p10, p50, p90, mean = _quantiles(v)
            if np.isfinite(p50[0]):
                n = ds.sizes["month"]
                rows.append({"metric": "expansion_multiple", "segment": "all", "year": None,
                             "year_end": "", "months": n, "p10": p10[0], "p50": p50[0],
                             "p90": p90[0], "mean": mean[0], "period_type": "run", "period": "",
                             "fiscal_year": "", "period_start": _fmt(first),
                             "period_end": _fmt(first + n - 1), "actual_months": 0,
                             "forecast_months": n, "source": "forecast", "unit": "multiple",
                             "currency": currency})  # fmt: skip
    table = pd.DataFrame(rows, columns=list(ROLLUP_COLUMNS))
    table["year"] = table["year"].astype("Int64")
    return table


def _actual_rows(
    p: Period, months: int, values: dict, columns: list[str], currency: str, year_end: str
) -> list[dict]:
    """The rows of a period wholly before the forecast: one observed value, as P10 = P50 = P90 =
    mean, ``source`` actual."""
    rows = []
    if not months:
        return rows
    for metric in (*_FLOWS, *_STOCKS):
        if metric not in values:
            continue
        for c, seg in enumerate(columns):
            value = float(values[metric][c])
            if not np.isfinite(value):
                continue
            rows.append({"metric": metric, "segment": seg, "year": p.year_index,
                         "year_end": year_end, "months": months, "p10": value, "p50": value,
                         "p90": value, "mean": value, "period_type": p.kind, "period": p.label,
                         "fiscal_year": f"FY{p.fiscal_year}",
                         "period_start": _fmt(p.last - months + 1), "period_end": p.last_label,
                         "actual_months": months, "forecast_months": 0, "source": "actual",
                         "growth_p10": np.nan, "growth_p50": np.nan, "growth_p90": np.nan,
                         "unit": UNIT[metric], "currency": currency})  # fmt: skip
    return rows


def _fmt(month: int) -> str:
    year, month0 = divmod(int(month), 12)
    return f"{year:04d}-{month0 + 1:02d}"


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    """Round each row's numbers to its unit's decimals (money to cents, ratios to 1e-6)."""
    if table.empty:
        return table
    decimals = table["unit"].map(_DECIMALS).fillna(6).to_numpy()
    for col in ("p10", "p50", "p90", "mean"):
        values = table[col].to_numpy(dtype=float).copy()
        for d in np.unique(decimals):
            hit = decimals == d
            values[hit] = np.round(values[hit], int(d))
        table[col] = values
    for col in ("growth_p10", "growth_p50", "growth_p90"):
        table[col] = table[col].astype(float).round(6)
    return table


def rollup_tables(ds: xr.Dataset, currency: str | None = None) -> dict[str, pd.DataFrame]:
    """:func:`rollup_table` for ``year``, ``quarter`` and ``month``, as the files hold them: money
    and counts rounded to cents, ratios to six decimals (so the CSVs and the workbook's cells
    hold the same numbers)."""
    series = _series(ds)
    return {
        kind: _rounded(rollup_table(ds, kind, currency, series))
        for kind in ("year", "quarter", "month")
    }
