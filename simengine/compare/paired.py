"""The comparison table: every scenario against the baseline, paired draw by draw.

For each metric and fiscal year, a scenario's P10/P50/P90, the quantiles of its paired difference
to the baseline, ``p_better`` (ties count one half) and their Monte Carlo standard errors
(:mod:`simengine.mcse`); :mod:`simengine.compare` has the rules.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.compare.labels import resolve_baseline
from simengine.compare.metrics import DRIVERS, METRICS, scenario_metrics, year_names
from simengine.mcse import better_scores, quantile_mcse, share_mcse

__all__ = [
    "COLUMNS",
    "KEYS",
    "LOWER_IS_BETTER",
    "compare",
    "p_better",
    "select_years",
    "shown_years",
]

#: Columns of comparison.csv (the contract).
COLUMNS = (
    "scenario", "metric", "year", "fiscal_year", "months", "p10", "p50", "p90", "diff_p10",
    "diff_p50", "diff_p90", "p_better", "mcse_p_better", "mcse_diff_p50",
)  # fmt: skip

#: Metrics and drivers where a lower value is better.
LOWER_IS_BETTER = frozenset({"total_cost", "cac_payback_months", "unhealthy_share", "variable_pay"})

#: The ``compare.*`` config keys ``simengine compare`` takes.
KEYS = ("baseline", "out", "objective", "year", "target")


def p_better(scenario: np.ndarray, baseline: np.ndarray, lower_is_better: bool = False) -> float:
    """Share of paired draws where ``scenario`` beats ``baseline``; ties count one half.

    Pairs where either value is not finite are left out; NaN when none is left.
    """
    ok = np.isfinite(scenario) & np.isfinite(baseline)
    if not ok.any():
        return float("nan")
    s, b = scenario[ok], baseline[ok]
    wins = (s < b) if lower_is_better else (s > b)
    return float((wins.sum() + 0.5 * (s == b).sum()) / ok.sum())


def _q(values: np.ndarray) -> tuple[float, float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (float("nan"),) * 3
    return tuple(float(v) for v in np.quantile(finite, (0.1, 0.5, 0.9)))


def compare(
    ds: xr.Dataset, baseline: str | None = None, cache: dict | None = None, years=None
) -> tuple[pd.DataFrame, list[str]]:
    """The comparison table (columns :data:`COLUMNS`) of every scenario against ``baseline``.

    Scenarios are loaded one at a time (a sweep stays lazy), reduced to per-draw metrics (kept in
    ``cache``, see :func:`scenario_metrics`), and compared with the baseline draw by draw.
    ``year`` is the fiscal year's index (1 = the forecast's first), ``fiscal_year`` its label
    (``FY2026``), ``months`` the months it covers.  ``years``: a :class:`simengine.fiscal.YearChoice`
    (``compare.year``) keeping only those years' rows (and the whole-run ones); default every year.
    """
    labels = [str(s) for s in ds["scenario"].values]
    names = year_names(ds)
    baseline = resolve_baseline(labels, baseline)
    base, notes = scenario_metrics(ds, baseline, cache)
    rows = []
    for label in labels:
        values, _ = scenario_metrics(ds, label, cache)
        for metric in (*METRICS, *DRIVERS):
            for (name, year), v in values.items():
                if name != metric:
                    continue
                b = base.get((name, year))
                if b is None:
                    continue
                ok = np.isfinite(v) & np.isfinite(b)
                diff = np.where(ok, v - b, np.nan)
                fy, months = names.get(year, ("", ds.sizes["month"]))
                lower = name in LOWER_IS_BETTER
                # Monte Carlo standard errors over the paired draws (simengine.mcse).
                mcse = (share_mcse(better_scores(v, b, lower)), quantile_mcse(diff))
                rows.append((label, name, year, fy, months, *_q(v), *_q(diff),
                             p_better(v, b, lower), *mcse))  # fmt: skip
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table["year"] = table["year"].astype("Int64")
    if years is not None:
        table = select_years(table, years)
    return table, notes


def shown_years(table: pd.DataFrame, choice=None) -> list[int]:
    """The fiscal years a comparison's tables and charts show: those ``compare.year`` chose, else
    the first full year (12 months) and the last (one year when they are the same)."""
    years = table.dropna(subset=["year"]).drop_duplicates("year")
    if choice is not None:
        return [int(y) for y in years["year"] if int(y) in choice]
    if years.empty:
        return []
    # A table without ``months`` (written before fiscal years) has whole 12-month years.
    full = years[years["months"] == 12] if "months" in years else years
    first = int(full["year"].min()) if len(full) else int(years["year"].min())
    last = int(years["year"].max())
    return sorted({first, last})


def select_years(table: pd.DataFrame, choice) -> pd.DataFrame:
    """The rows of the chosen fiscal years and the whole-run rows (``year`` empty)."""
    keep = [pd.isna(y) or int(y) in choice for y in table["year"]]
    return table[np.asarray(keep, dtype=bool)].reset_index(drop=True)
