"""``simengine compare PATH...``: scenarios side by side, paired by draw against a baseline.

PATH is a sweep folder (its ``sweep.nc``, else its jobs' ``forecast.nc``), a run folder, or a
``forecast.nc``/``sweep.nc`` file; several PATHs are stacked.  For every metric of
:data:`METRICS` and forecast year, each scenario gets its P10/P50/P90, the P10/P50/P90 of its
**paired** difference to the baseline (draw ``d`` of the scenario minus draw ``d`` of the
baseline: both saw the same random streams, so the difference is the scenario's effect, not noise),
and ``p_better``, the share of paired draws in which the scenario beats the baseline.

**Tie rule.**  A draw where scenario and baseline are equal counts one half toward ``p_better``
(so identical scenarios, and the baseline itself, get exactly 0.5: no evidence either way).
Draws where either value is not finite (an NRR with no base, a CAC payback with no logo won) are
left out of that metric's figures.  **Direction.**  Higher is better except for go-to-market cost
(``total_cost``) and CAC payback (``cac_payback_months``), where lower is better.
``mcse_p_better`` and ``mcse_diff_p50`` are the Monte Carlo standard errors of ``p_better`` and
``diff_p50`` over the paired draws (:mod:`simengine.mcse`).

**Why a plan wins.**  Runs with the go-to-market model (``market=capacity``) also compare its
drivers (:data:`DRIVERS`), per forecast year and paired the same way, so a planner sees *why* one
plan beats another: ``deals`` (deals worked in the year), ``deal_coverage`` (share of them with SE
support), ``win_rate`` (share of them won), ``unhealthy_share`` (share of the year's expected new
logos that start unhealthy), ``csm_coverage`` and ``se_coverage`` (share of the year's active
account-months a CSM, an SE/adoption specialist covers), ``ae_attainment`` (the AEs' year's
production over their year's quota: monthly attainment weighted by ramped AE capacity) and
``variable_pay`` (the year's variable pay).  Shares are weighted by what they are shares of, not
averaged over months.  For a driver ``p_better`` is P(higher), except ``unhealthy_share`` and
``variable_pay`` (P(lower)).  Runs with ``market=rate`` have no drivers: their rows are absent.

Writes ``comparison.csv`` (every scenario, metric and year), ``comparison.png`` (each scenario's
interval and paired difference), ``comparison_grid.png`` when the scenarios vary in two keys (one
heatmap a metric: paired difference and ``p_better`` per cell) and, for a staffing-mix sweep,
``frontier.csv``/``frontier.png``, and ``comparison.xlsx`` (:mod:`simengine.workbook`); prints
the first full and the last fiscal year's table.

Runs are paired only when they share ``seed``, the input data hash and the number of draws;
otherwise their streams are not common and ``compare`` refuses (exit 2, one line).  Runs of
``sim.draws=auto`` may differ in draws: they pair on the draws they share.

**Years** are fiscal years (``data.fiscal_year_start``, :mod:`simengine.fiscal`): ``year`` is the
index (1 = the forecast's first fiscal year), ``fiscal_year`` the label (``FY2026``, named by the
calendar year it ends in), ``months`` the months it covers.  A fiscal year the forecast starts
inside counts its earlier months from the book (the same in every scenario).

Keys: ``compare.baseline=LABEL`` (default: the first scenario), ``compare.out=DIR`` (default
``outputs/compare/<timestamp>_<token>/``), ``compare.year`` (a fiscal year as index or label,
``FY2026``, or ``all``: the years comparison.csv/.xlsx, the printed table and the chart hold;
default every year in the files and the first full and the last year on screen), and for a
staffing-mix sweep the frontier's ``compare.objective`` and ``compare.target`` (see
:mod:`simengine.frontier`; its year is ``compare.year`` when that names one).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simengine.mcse import better_scores, quantile_mcse, share_mcse
from simengine.sweep import PROVENANCE, _labels, job_dirs, job_ok, open_jobs

__all__ = [
    "COLUMNS",
    "DRIVERS",
    "LOWER_IS_BETTER",
    "METRICS",
    "CompareError",
    "Grid",
    "compare",
    "config_currency",
    "display_labels",
    "driver_draws",
    "dropped_prefix",
    "fiscal_start",
    "fiscal_years",
    "load_scenarios",
    "metric_draws",
    "p_better",
    "parse_years",
    "resolve_baseline",
    "scenario_currency",
    "scenario_names",
    "scenario_data",
    "scenario_metrics",
    "select_years",
    "shown_years",
    "sweep_grid",
    "year_names",
]

#: Columns of comparison.csv (the contract).
COLUMNS = (
    "scenario", "metric", "year", "fiscal_year", "months", "p10", "p50", "p90", "diff_p10",
    "diff_p50", "diff_p90", "p_better", "mcse_p_better", "mcse_diff_p50",
)  # fmt: skip
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
#: Metrics and drivers where a lower value is better.
LOWER_IS_BETTER = frozenset({"total_cost", "cac_payback_months", "unhealthy_share", "variable_pay"})
KEYS = ("baseline", "out", "objective", "year", "target")
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


class CompareError(ValueError):
    """Runs that cannot be compared, or a bad ``compare.*`` key: one line, exit code 2."""


# ----------------------------------------------------------------------------------------------
# Loading


def _run_label(attrs: dict, folder: Path) -> dict[str, str]:
    return {k: str(attrs[k]) for k in ("scenario", "staffing", "comp") if k in attrs} or {
        "run": folder.name
    }


def _open_run(path: Path) -> tuple[xr.Dataset, dict[str, str]]:
    ds = xr.open_dataset(path, engine="h5netcdf", chunks={})
    attrs = dict(ds.attrs)
    prov = {
        "job": path.parent.name,
        "overrides": "",
        "seed": int(attrs.get("seed", -1)),
        "config_hash": str(attrs.get("config_hash", "")),
        "data_hash": str(attrs.get("data_hash", "")),
        "config": str(attrs.get("config", "")),
        "scenario_name": str(attrs.get("scenario", "")),
    }
    return ds.drop_attrs(deep=False), {**prov, "_label": _run_label(attrs, path.parent)}


def _open_sweep(path: Path) -> xr.Dataset:
    from simengine.sweep import missing_sources

    gone = missing_sources(path)  # sweep.nc maps its numbers to the jobs' forecast.nc
    if gone:
        raise CompareError(
            f"{path}: its job file {gone[0]} is gone ({len(gone)} missing); keep sweep.nc in its "
            "sweep folder, or merge with simengine.sweep.gather_sweep(folder, copy=True)"
        )
    ds = xr.open_dataset(path, engine="h5netcdf", chunks={})
    missing = [k for k in ("seed", "data_hash") if k not in ds.coords]
    if missing:
        raise CompareError(
            f"{path}: no per-scenario {', '.join(missing)} (written before provenance was kept); "
            "compare its job folders instead, or rerun the sweep"
        )
    return ds


def load_scenarios(paths: list[str | Path]) -> xr.Dataset:
    """Open PATHs lazily as one dataset with a ``scenario`` dim and provenance coordinates."""
    parts: list[xr.Dataset] = []
    runs: list[tuple[xr.Dataset, dict]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file() and path.name == "sweep.nc":
            parts.append(_open_sweep(path))
        elif path.is_file():
            runs.append(_open_run(path))
        elif (path / "sweep.nc").is_file():
            parts.append(_open_sweep(path / "sweep.nc"))
        elif (path / "forecast.nc").is_file():
            runs.append(_open_run(path / "forecast.nc"))
        elif path.is_dir() and (jobs := [j for j in job_dirs(path) if job_ok(j)]):
            parts.append(open_jobs(jobs, _labels(jobs)))
        else:
            raise CompareError(f"{raw}: no sweep.nc or forecast.nc there")
    if runs:
        labels = [r[1]["_label"] for r in runs]
        keys = sorted({k for lab in labels for k in lab})
        varying = [k for k in keys if len({lab.get(k) for lab in labels}) > 1]
        names = [",".join(f"{k}={lab.get(k)}" for k in varying) for lab in labels]
        if not all(names) or len(set(names)) < len(names):
            names = [r[1]["job"] for r in runs]
        if len(set(names)) < len(names):
            names = [str(Path(p)) for p in paths if not str(p).endswith("sweep.nc")][: len(runs)]
        for (ds, prov), name in zip(runs, names, strict=True):
            coords = {k: ("scenario", [prov[k]]) for k in PROVENANCE}
            parts.append(ds.expand_dims(scenario=[name]).assign_coords(coords))
    # A sweep.nc written before runs recorded their scenario's name has no scenario_name.
    parts = [
        p
        if "scenario_name" in p.coords
        else p.assign_coords(scenario_name=("scenario", [""] * p.sizes["scenario"]))
        for p in parts
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = xr.concat(parts, dim="scenario", join="outer", data_vars="all")
    labels = [str(s) for s in merged["scenario"].values]
    if len(set(labels)) < len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise CompareError(f"scenario label {dup[0]!r} appears twice; compare fewer paths")
    _check_pairable(merged)
    return merged


def config_currency(config_yaml: str) -> str | None:
    """The currency label of a run from its resolved config YAML (see ``currency_of``)."""
    from simengine.config import DataConfig, config_section, currency_of

    data = config_section(config_yaml, "data")
    return currency_of(DataConfig(accounts=data.get("accounts"), currency=data.get("currency")))


def scenario_currency(ds: xr.Dataset) -> str | None:
    """The first scenario's currency label (paired runs share their data, so their currency)."""
    if "config" not in ds.coords:
        return None
    return config_currency(str(ds["config"].values[0]))


def scenario_names(ds: xr.Dataset) -> list[str]:
    """The distinct scenario names (each run's ``scenario`` attr: the scenario file it ran,
    ``default`` when none) of the compared runs, in order; empty for runs written before runs
    recorded it."""
    if "scenario_name" not in ds.coords:
        return []
    names = [str(v) for v in np.atleast_1d(ds["scenario_name"].values)]
    return [n for n in dict.fromkeys(names) if n and n != "nan"]


def _check_pairable(ds: xr.Dataset) -> None:
    """Refuse scenarios whose random streams are not common: seed, data hash, draws must agree."""
    labels = [str(s) for s in ds["scenario"].values]
    for key in ("seed", "data_hash"):
        values = [str(v) for v in ds[key].values]
        if len(set(values)) > 1:
            i = next(i for i, v in enumerate(values) if v != values[0])
            raise CompareError(
                f"cannot pair {labels[0]!r} and {labels[i]!r}: {key} differs "
                f"({values[0]} vs {values[i]}), so their random streams are not common"
            )
    # An outer join pads a shorter run's draws with NaN: a draw missing from one scenario.
    # Runs of sim.draws=auto stop at different draws by design and pair on the draws they share
    # (streams are keyed by absolute draw: a run's first n draws are those of any longer run).
    revenue = ds["revenue"].sum(("month", "segment"), skipna=False)
    lengths = revenue.notnull().sum("draw").values
    if len(set(lengths.tolist())) > 1 and not _all_auto(ds):
        i = int(np.argmax(lengths != lengths[0]))
        raise CompareError(
            f"cannot pair {labels[0]!r} and {labels[i]!r}: draws differ "
            f"({lengths[0]} vs {lengths[i]}), so their random streams are not common"
        )


def _all_auto(ds: xr.Dataset) -> bool:
    """True when every scenario was run with ``sim.draws=auto`` (its resolved config says so)."""
    from simengine.config import config_section

    if "config" not in ds.coords:
        return False
    return all(
        str(config_section(str(text), "sim").get("draws")) == "auto" for text in ds["config"].values
    )


# ----------------------------------------------------------------------------------------------
# Metrics per draw


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


# ----------------------------------------------------------------------------------------------
# Labels

_KEY = re.compile(r"[A-Za-z_][\w.]*=")


def _overrides(label: str) -> list[str] | None:
    """A sweep label's ``key=value`` items (a comma inside a value stays in it), or None when the
    label is not such a list (a run folder's name, a job number)."""
    items: list[str] = []
    for piece in label.split(","):
        if _KEY.match(piece):
            items.append(piece)
        elif items:
            items[-1] += "," + piece
        else:
            return None
    return items or None


def _shown(labels: Sequence[str], drop: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The key prefix :func:`display_labels` drops (``""``: none) and the labels as shown."""
    parsed = [_overrides(str(label)) for label in labels]
    if drop:
        parsed = [
            None if items is None else [i for i in items if i.split("=", 1)[0] not in drop]
            for items in parsed
        ]
        if all(items == [] for items in parsed):
            return "", {str(label): "" for label in labels}
    prefix = ""
    if parsed and all(parsed):
        keys = [item.split("=", 1)[0] for items in parsed for item in items]
        first = keys[0].split(".")[:-1]
        common = 0
        while common < len(first) and all(
            k.split(".")[:-1][: common + 1] == first[: common + 1] for k in keys
        ):
            common += 1
        prefix = ".".join(first[:common]) + "." if common else ""
    shown = {}
    for label, items in zip(labels, parsed, strict=True):
        if items is None:
            shown[str(label)] = str(label)
        else:
            shown[str(label)] = ", ".join(item.removeprefix(prefix) for item in items)
    if not drop and len(set(shown.values())) < len(shown):
        return "", {str(label): str(label).replace(",", ", ") for label in labels}
    return prefix, shown


def display_labels(labels: Sequence[str], drop: Sequence[str] = ()) -> dict[str, str]:
    """How tables and plots show each scenario label: the dotted prefix that every override's key
    shares dropped (:func:`dropped_prefix`), and a space after each override's comma (where a
    narrow table may wrap).

    ``staffing.ae_per_se=3,staffing.budget=600000`` shows as ``ae_per_se=3, budget=600000``.
    Labels that are not override lists, or that would no longer differ, show whole;
    ``comparison.csv`` always keeps the full labels, and :func:`resolve_baseline` takes either.
    ``drop``: keys whose overrides a table shows in columns of their own (the frontier's budget
    and ratio); a label of nothing else shows as ``""``.
    """
    return _shown(labels, drop)[1]


def dropped_prefix(labels: Sequence[str]) -> str:
    """The key prefix (``staffing.``) :func:`display_labels` drops from ``labels``; ``""``: none."""
    return _shown(labels, ())[0]


@dataclass(frozen=True)
class Grid:
    """Scenarios laid out on the two keys a sweep varied: ``cells[label] = (row, column)`` into
    ``rows`` (values of ``row_key``) and ``columns`` (values of ``column_key``), both as the
    labels write them; ``fixed``: the overrides every label shares (``key=value``)."""

    row_key: str
    column_key: str
    rows: list[str]
    columns: list[str]
    cells: dict[str, tuple[int, int]]
    fixed: list[str]


def _ordered(values: list[str]) -> list[str]:
    """Distinct values in numeric order when all are numbers, else in order of appearance."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def sweep_grid(labels: Sequence[str]) -> Grid | None:
    """The grid of a sweep over two keys (``staffing.budget`` x ``staffing.ae_per_se``, say), or
    None when the labels are not one: not override lists, not the same keys in each, or more or
    fewer than two keys that vary.  The key with fewer
    values gives the rows (the first varied key on a tie); cells may be missing (a failed job)."""
    parsed = [_overrides(str(label)) for label in labels]
    if not parsed or not all(parsed):
        return None
    settings = [dict(item.split("=", 1) for item in items) for items in parsed]
    keys = list(settings[0])
    if any(
        set(s) != set(keys) or len(s) != len(items)  # other keys, or a key set twice
        for s, items in zip(settings, parsed, strict=True)
    ):
        return None
    varied = [k for k in keys if len({s[k] for s in settings}) > 1]
    if len(varied) != 2:
        return None
    values = {k: _ordered([s[k] for s in settings]) for k in varied}
    row_key, column_key = sorted(varied, key=lambda k: len(values[k]))  # stable on a tie
    cells = {
        str(label): (values[row_key].index(s[row_key]), values[column_key].index(s[column_key]))
        for label, s in zip(labels, settings, strict=True)
    }
    fixed = [f"{k}={settings[0][k]}" for k in keys if k not in varied]
    return Grid(row_key, column_key, values[row_key], values[column_key], cells, fixed)


def resolve_baseline(labels: Sequence[str], baseline: str | None) -> str:
    """The scenario ``compare.baseline`` names: the first when None, else a full label or one as
    tables show it (:func:`display_labels`; spaces ignored)."""
    labels = [str(label) for label in labels]
    if baseline is None:
        return labels[0]
    if baseline in labels:
        return baseline
    wanted = str(baseline).replace(" ", "")
    for label, shown in display_labels(labels).items():
        if shown.replace(" ", "") == wanted:
            return label
    raise CompareError(
        f"config key 'compare.baseline' = {baseline!r}: no such scenario; scenarios: {labels}"
    )


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
