"""Per-draw metrics of one scenario, per fiscal year: what the comparison pairs.

Flows are summed over each fiscal year, stocks taken at its last forecast month, the go-to-market
drivers weighted by what they are shares of (:mod:`simengine.compare` has the definitions).
Everything here is one scenario at a time, as NumPy arrays of ``draws`` values.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from simengine.compare.runs import CompareError

__all__ = [
    "DRIVERS",
    "METRICS",
    "driver_draws",
    "fiscal_start",
    "fiscal_years",
    "metric_draws",
    "parse_years",
    "scenario_data",
    "scenario_metrics",
    "year_names",
]

#: Metrics compared, in order (names as in summary.csv).
METRICS = (
    "revenue",
    "arr",
    "nrr",
    "grr",
    "new_logos",
    "total_cost",
    "revenue_per_sm_dollar",
    "gross_margin",
    "expansion_multiple",
    "cac_payback_months",
)

#: Go-to-market drivers compared like the metrics (go-to-market runs only), in order.
DRIVERS = (
    "deals", "deal_coverage", "win_rate", "unhealthy_share", "csm_coverage", "se_coverage",
    "ae_attainment", "variable_pay",
)  # fmt: skip

#: Variables the metrics read: a scenario loads only these (not its cohort table).
_NEEDED = (
    "revenue", "arr", "nrr_total", "grr_total", "new_logos", "total_cost", "cost_of_revenue",
    "expansion_multiple", "cac_payback_months", "active_accounts", "deals", "deal_coverage",
    "win_rate", "unhealthy_share", "csm_coverage", "se_coverage", "ae_attainment",
    "ramped_capacity", "variable_cost", "history_revenue", "history_new_logos",
)  # fmt: skip


def scenario_data(ds: xr.Dataset, label: str) -> xr.Dataset:
    """One scenario's variables that the metrics read, loaded."""
    return ds[[v for v in _NEEDED if v in ds]].sel(scenario=label).load()


def scenario_metrics(ds: xr.Dataset, label: str, cache: dict | None = None):
    """:func:`metric_draws` of one scenario, kept in ``cache`` (label -> result) when one is
    given, so the comparison and the frontier read each scenario's files once.  A cache holds
    per-draw metrics only (~25 series of ``draws`` values a scenario), not the forecasts."""
    if cache is not None and label in cache:
        return cache[label]
    result = metric_draws(scenario_data(ds, label))
    if cache is not None:
        cache[label] = result
    return result


def fiscal_start(ds: xr.Dataset) -> int:
    """``data.fiscal_year_start`` of the run(s) in ``ds``: its attr, else each scenario's resolved
    config (they must agree), else 1.  Raises :class:`CompareError` when scenarios disagree."""
    if "fiscal_year_start" in ds.attrs:
        return int(ds.attrs["fiscal_year_start"])
    if "config" not in ds.coords:
        return 1
    from simengine.config import config_section

    texts = np.atleast_1d(ds["config"].values)
    starts = {int(config_section(str(t), "data").get("fiscal_year_start") or 1) for t in texts}
    if len(starts) > 1:
        raise CompareError(
            f"config key 'data.fiscal_year_start' differs between the scenarios ({sorted(starts)}): "
            "their fiscal years are not the same periods; compare runs of one fiscal calendar"
        )
    return starts.pop() if starts else 1


def fiscal_years(ds: xr.Dataset) -> list:
    """The forecast's fiscal years (:class:`simengine.fiscal.Period`, ``year_index`` 1, 2, ...);
    runs of 12 months named ``year 1``, ``year 2`` when the month axis holds no dates."""
    from simengine.fiscal import Period, periods
    from simengine.rollups import forecast_first_month

    first, n = forecast_first_month(ds), ds.sizes["month"]
    if first is None:
        return [
            Period("year", f"year {y}", y, y, 12 * (y - 1), 12 * y - 1, 12 * (y - 1),
                   min(12 * y, n), ())
            for y in range(1, (n + 11) // 12 + 1)
        ]  # fmt: skip
    return periods(first, n, fiscal_start(ds), "year")


def _year_slices(
    n_months: int, first_month: int | None = None, start: int = 1
) -> list[tuple[int, slice]]:
    """``(year, slice of forecast months)`` per forecast year: fiscal years when the forecast's
    ``first_month`` is given (the first may start before the forecast), else runs of 12 months."""
    if first_month is None:
        return [
            (y + 1, slice(12 * y, min(12 * y + 12, n_months))) for y in range((n_months + 11) // 12)
        ]
    from simengine.fiscal import periods

    return [(p.year_index, slice(p.start, p.stop)) for p in periods(first_month, n_months, start)]


def _actual_sums(ds: xr.Dataset) -> dict[str, dict[int, float]]:
    """Per fiscal year, the book's revenue and new logos in the months before the forecast (the
    part of a fiscal year the forecast starts inside): the same in every scenario."""
    from simengine.rollups import _month_numbers

    out: dict[str, dict[int, float]] = {}
    if "history_revenue" not in ds:
        return out
    months = _month_numbers(ds["history_month"].values)
    for p in fiscal_years(ds):
        if not p.actual:
            continue
        rows = np.flatnonzero(np.isin(months, p.actual))
        for name, var in (("revenue", "history_revenue"), ("new_logos", "history_new_logos")):
            if var in ds:
                total = ds[var].isel(history_month=rows).values.sum()
                out.setdefault(name, {})[p.year_index] = float(total)
    return out


def metric_draws(ds: xr.Dataset) -> tuple[dict[tuple[str, int | None], np.ndarray], list[str]]:
    """Per-draw values of every metric, keyed by ``(metric, year)``; ``year`` None: whole run.

    ``ds`` holds one scenario (dims ``draw, month, segment[, role]``), loaded or lazy.  Years are
    the forecast's fiscal years (:func:`fiscal_years`; ``year`` 1 is the first).  Flows are
    summed over the fiscal year, revenue and new logos with the book's months before the forecast
    when the forecast starts inside the year (the same in every scenario, so differences are
    unchanged); go-to-market cost covers the forecast months.  Stocks (ARR, NRR, GRR) are taken at
    the year's last forecast month.  Returns the values and notes on metrics left out (and why).

    Returns
    -------
    values : dict
        ``(metric, year) -> ndarray (draws,)``.
    notes : list of str
    """
    from simengine.rollups import forecast_first_month

    notes = []
    out: dict[tuple[str, int | None], np.ndarray] = {}
    actual = _actual_sums(ds)
    slices = _year_slices(ds.sizes["month"], forecast_first_month(ds), fiscal_start(ds))
    for year, months in slices:
        part = ds.isel(month=months)
        last = part.isel(month=-1)
        revenue = part["revenue"].sum(("month", "segment")).values
        revenue = revenue + actual.get("revenue", {}).get(year, 0.0)
        out["revenue", year] = revenue
        out["arr", year] = last["arr"].sum("segment").values
        out["nrr", year] = last["nrr_total"].values
        out["grr", year] = last["grr_total"].values
        if "new_logos" in ds:
            logos = part["new_logos"].sum(("month", "segment")).values
            out["new_logos", year] = logos + actual.get("new_logos", {}).get(year, 0.0)
        if "total_cost" in ds:
            cost = part["total_cost"].sum("month").values
            out["total_cost", year] = cost
            with np.errstate(divide="ignore", invalid="ignore"):
                out["revenue_per_sm_dollar", year] = revenue / cost
        if "cost_of_revenue" in ds:
            cor = part["cost_of_revenue"].sum(("month", "segment")).values
            with np.errstate(divide="ignore", invalid="ignore"):
                out["gross_margin", year] = (revenue - cor) / revenue
    if "cost_of_revenue" not in ds:
        notes.append("gross_margin: left out, the forecast has no cost of revenue")
    if "total_cost" not in ds:
        notes.append("total_cost, revenue_per_sm_dollar: left out, no go-to-market model")
    for name in ("expansion_multiple", "cac_payback_months"):
        if name in ds:
            out[name, None] = ds[name].values
        else:
            notes.append(f"{name}: left out, not in the forecast")
    if "deals" in ds:  # over the forecast months of the same fiscal years
        for year, months in slices:
            for name, values in driver_draws(ds.isel(month=months)).items():
                out[name, year] = values
    # A draw the scenario does not have (sim.draws=auto: a sweep's scenarios stop at different
    # draws and the stacked sweep pads the shorter ones with NaN) is missing, not a sum of 0.
    absent = ds["revenue"].isnull().all(("month", "segment")).values
    out = {k: np.where(absent, np.nan, np.asarray(v, dtype=float)) for k, v in out.items()}
    return out, notes


def _by_month(da: xr.DataArray) -> np.ndarray:
    """A ``(draw, month)`` array of ``da``, other dims summed."""
    other = [d for d in da.dims if d not in ("draw", "month")]
    return (da.sum(other) if other else da).transpose("draw", "month").values.astype(float)


def _weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per draw, the mean of ``values`` (draw, month) over months weighted by ``weights``; NaN
    for a draw whose weights sum to 0 (no deals, no accounts: the share is not defined)."""
    total = weights.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (values * weights).sum(axis=1) / total, np.nan)


def driver_draws(part: xr.Dataset) -> dict[str, np.ndarray]:
    """The go-to-market drivers (:data:`DRIVERS`) of one scenario over the months of ``part``,
    per draw: flows summed, shares weighted by what they are shares of (module doc).

    Parameters
    ----------
    part : xarray.Dataset
        One scenario's forecast over some months (dims ``draw, month[, segment, role]``), with
        the go-to-market variables (``deals``, ``deal_coverage``, ...).

    Returns
    -------
    dict
        ``driver -> ndarray (draws,)``; drivers whose variables are missing are left out.
    """
    out: dict[str, np.ndarray] = {}
    deals = _by_month(part["deals"])
    out["deals"] = deals.sum(axis=1)
    if "deal_coverage" in part:
        out["deal_coverage"] = _weighted(_by_month(part["deal_coverage"]), deals)
    if "win_rate" in part:
        win = _by_month(part["win_rate"])
        out["win_rate"] = _weighted(win, deals)
        if "unhealthy_share" in part:  # a share of the starts: weighted by the expected wins
            out["unhealthy_share"] = _weighted(_by_month(part["unhealthy_share"]), deals * win)
    if "active_accounts" in part:
        active = _by_month(part["active_accounts"])
        for name in ("csm_coverage", "se_coverage"):
            if name in part:
                out[name] = _weighted(_by_month(part[name]), active)
    if "ae_attainment" in part:
        capacity = part.get("ramped_capacity")
        if capacity is not None and "ae" in capacity["role"].values:
            weights = _by_month(capacity.sel(role="ae"))
        else:
            weights = np.ones_like(_by_month(part["ae_attainment"]))
        out["ae_attainment"] = _weighted(_by_month(part["ae_attainment"]), weights)
    if "variable_cost" in part:
        out["variable_pay"] = _by_month(part["variable_cost"]).sum(axis=1)
    return out


def year_names(ds: xr.Dataset) -> dict[int, tuple[str, int]]:
    """Fiscal-year index -> (label, months it covers: forecast months plus the book's months
    before the forecast where the history has them)."""
    from simengine.rollups import _month_numbers

    observed = set()
    if "history_month" in ds.coords:
        observed = set(_month_numbers(ds["history_month"].values).tolist())
    return {
        p.year_index: (p.label, p.forecast_months + len(observed.intersection(p.actual)))
        for p in fiscal_years(ds)
    }


def parse_years(value: str | None, ds: xr.Dataset):
    """``compare.year`` as a :class:`simengine.fiscal.YearChoice` (None when not given): a
    fiscal-year index, a label (``FY2026``, ``FY26``) or ``all``."""
    from simengine.fiscal import parse_year

    if value is None:
        return None
    labels = [label for _, (label, _) in sorted(year_names(ds).items())]
    try:
        return parse_year(value, labels)
    except ValueError as exc:
        raise CompareError(str(exc)) from None
