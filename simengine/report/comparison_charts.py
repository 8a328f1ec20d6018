"""Charts of a comparison: scenarios against their baseline, paired draw by draw.

Each takes the comparison's numbers (:mod:`simengine.compare`) and returns a plain
``matplotlib.figure.Figure``; ``path`` writes a PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simengine.compare.labels import Grid, display_labels, dropped_prefix
from simengine.compare.metrics import DRIVERS, METRICS
from simengine.report.comparison import (
    _CURRENCY,
    _LABEL,
    _RATIO,
    LABELS,
    _shared_prefix_note,
    fmt_diff,
    scenario_title,
    year_label,
)
from simengine.report.figures import (
    _money,
    finish_figure,
    money_formatter,
    save_figure,
    unit_label,
)

__all__ = [
    "comparison_grid",
    "comparison_plot",
    "frontier_figure",
    "paired_differences",
    "points_formatter",
]

_PALETTE = matplotlib.colormaps["tab10"]


def points_formatter() -> FuncFormatter:
    """Tick labels of a difference of ratios in percentage points (``+2 pp``, ``-0.5 pp``)."""
    return FuncFormatter(lambda v, pos=None: f"{round(100.0 * v, 2):+g} pp" if v else "0")


def _axis_format(ax, metric: str, currency: str | None = None, diff: bool = False) -> None:
    if metric in _CURRENCY:
        ax.xaxis.set_major_formatter(money_formatter(currency))
    elif metric in _RATIO:
        ax.xaxis.set_major_formatter(points_formatter() if diff else PercentFormatter(1.0))


def comparison_plot(
    table: pd.DataFrame,
    baseline: str,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    title: str | None = None,
    names: list[str] = (),
    metrics: tuple[str, ...] = METRICS,
):
    """Per metric: each scenario's P10-P90 (dot at P50) and its paired difference to ``baseline``.

    One row per metric, years as colours offset vertically; the legend sits outside the data, at
    the right of the figure.  Money metrics carry ``currency`` (a neutral "currency" otherwise).
    ``names``: the runs' scenario names, which open the title (:func:`scenario_title`);
    ``metrics``: the outcomes, or :data:`~simengine.compare.metrics.DRIVERS` for the drivers' chart.
    Returns the Figure; writes a PNG when ``path`` is given.
    """
    metrics = [m for m in metrics if m in set(table["metric"])]
    scenarios = list(dict.fromkeys(table["scenario"]))
    shown = display_labels(scenarios)
    years = sorted(table["year"].dropna().unique().tolist())
    keys = [*years, None]
    height = max(1.6, 0.32 * len(scenarios) + 0.8)
    fig = Figure(figsize=(12, height * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), 2, squeeze=False, sharey=True)
    palette = matplotlib.colormaps.get_cmap("viridis")
    colors = {y: palette(i / max(1, len(years))) for i, y in enumerate(years)}
    colors[None] = "tab:red"
    y_pos = np.arange(len(scenarios))
    step = 0.6 / max(1, len(keys))
    handles = {}
    for row, metric in enumerate(metrics):
        ax_val, ax_diff = axes[row]
        part = table[table["metric"] == metric]
        for k, year in enumerate(keys):
            sel = part[part["year"].isna()] if year is None else part[part["year"] == year]
            if sel.empty:
                continue
            sel = sel.set_index("scenario").reindex(scenarios)
            offset = (k - (len(keys) - 1) / 2) * step
            label = year_label(table, year)
            for ax, lo, mid, hi in (
                (ax_val, "p10", "p50", "p90"),
                (ax_diff, "diff_p10", "diff_p50", "diff_p90"),
            ):
                mid_v = sel[mid].to_numpy(dtype=float)
                err = np.vstack(
                    [mid_v - sel[lo].to_numpy(dtype=float), sel[hi].to_numpy(dtype=float) - mid_v]
                )
                h = ax.errorbar(
                    mid_v, y_pos + offset, xerr=err, fmt="o", ms=3.5, capsize=2,
                    color=colors[year], label=label,
                )  # fmt: skip
                handles[label] = h
        ax_diff.axvline(0.0, color="black", linewidth=0.8)
        # The planner's question beside each difference: P(better) of the last year drawn.
        last, when = _last_year(part, table["year"].max())
        p_of = dict(zip(last["scenario"], last["p_better"], strict=True))
        ax_diff.annotate(f"P(better)\n{when}", xy=(1.0, 1.0), xycoords="axes fraction",
                         xytext=(4, 2), textcoords="offset points", fontsize=7, va="bottom")  # fmt: skip
        for y, label in zip(y_pos, scenarios, strict=True):
            p = p_of.get(label)
            text = "-" if label == baseline or p is None or not np.isfinite(p) else f"{p:.0%}"
            ax_diff.annotate(text, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                             textcoords="offset points", fontsize=8, va="center")  # fmt: skip
        ax_val.set_title(f"{_metric_title(metric, currency)}: P10-P90, dot P50", fontsize=9,
                         loc="left")  # fmt: skip
        unit = " (pp)" if metric in _RATIO else ""
        ax_diff.set_title(f"paired difference to {shown[baseline]!r}{unit}", fontsize=9,
                          loc="left")  # fmt: skip
        for ax in (ax_val, ax_diff):
            _axis_format(ax, metric, currency, diff=ax is ax_diff)
            ax.grid(alpha=0.3, axis="x")
            ax.tick_params(labelsize=8)
        ax_val.set_yticks(y_pos, [shown[x] for x in scenarios], fontsize=8)
        ax_val.invert_yaxis() if row == 0 else None
    fig.legend(
        list(handles.values()), list(handles.keys()), loc="center left",
        bbox_to_anchor=(1.0, 0.5), fontsize=8, title="fiscal year",
    )  # fmt: skip
    what = "go-to-market drivers of " if metrics and metrics[0] in DRIVERS else ""
    title = title or (
        f"{scenario_title(list(names))}{what}{len(scenarios)} scenarios against "
        f"{shown[baseline]!r}, paired by draw{_shared_prefix_note(scenarios)}"
    )
    return _finish(fig, title, path, fontsize=11)


def _finish(fig, title: str, path: str | Path | None, fontsize: float):
    """Title a comparison figure at its top left; write it as a PNG when ``path`` is given."""
    fig.suptitle(title, x=0.01, horizontalalignment="left", fontsize=fontsize)
    if path is not None:
        save_figure(fig, path, dpi=100, bbox_inches="tight")
    return fig


def _metric_title(metric: str, currency: str | None) -> str:
    """A metric's name on a plot, with the currency of money metrics."""
    if metric == "revenue_per_sm_dollar" and currency:
        return f"Revenue per {currency} of GTM cost"
    return unit_label(_LABEL[metric], currency) if metric in _CURRENCY else _LABEL[metric]


def _last_year(part: pd.DataFrame, last) -> tuple[pd.DataFrame, str]:
    """One metric's rows of forecast year ``last``, or its whole-run rows (a metric without
    years), and which they are."""
    if part["year"].notna().any():
        return part[part["year"] == last], year_label(part, last)
    return part, "whole run"


def _signed(metric: str, value: float) -> str:
    """A difference as :func:`fmt_diff` writes it, with its sign (``+1.2M``, ``-0.8 pp``)."""
    text = fmt_diff(metric, value)
    return f"+{text}" if np.isfinite(value) and value > 0 else text


def _ticks(values: list[str]) -> list[str]:
    """A key's values as tick labels: large numbers (budgets) as ``500K``/``1.1M``."""
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return values
    return [_money(x) for x in numbers] if min(map(abs, numbers)) >= 1e4 else values


def comparison_grid(
    table: pd.DataFrame,
    baseline: str,
    grid: Grid,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    names: list[str] = (),
):
    """A sweep over two keys as one heatmap per metric: rows and columns are the keys' values,
    each cell coloured by ``p_better`` against ``baseline`` and labelled with its paired
    difference (P50) and ``p_better``, for the last forecast year (whole-run metrics: the run).

    It reads a 5 x 10 sweep on one screen where :func:`comparison_plot` needs a row per
    scenario and metric.  Cells with no scenario (a failed job) stay grey.  Returns the Figure;
    writes a PNG when ``path`` is given.
    """
    metrics = [m for m in LABELS if m in set(table["metric"])]
    last = table["year"].max()
    prefix = dropped_prefix(list(grid.cells))
    n_rows, n_cols = len(grid.rows), len(grid.columns)
    # Wide enough for the cells' text and the longest title ("GTM cost (year, lower is better)").
    panel_w, panel_h = max(0.62 * n_cols, 2.8) + 1.5, 0.4 * n_rows + 1.3
    per_line = max(1, min(3, int(16 // panel_w), len(metrics)))
    lines = -(-len(metrics) // per_line)
    fig = Figure(figsize=(panel_w * per_line + 1.0, panel_h * lines + 0.8), layout="constrained")
    axes = fig.subplots(lines, per_line, squeeze=False).ravel()
    cmap = matplotlib.colormaps.get_cmap("RdBu").with_extremes(bad="0.88")
    image = None
    for ax, metric in zip(axes, metrics, strict=False):
        when, year = _last_year(table[table["metric"] == metric], last)
        p = np.full((n_rows, n_cols), np.nan)
        for r in when.itertuples():
            i, j = grid.cells[r.scenario]
            p[i, j] = r.p_better
            if r.scenario == baseline:
                text, dark = "baseline", False
            else:
                share = "-" if not np.isfinite(r.p_better) else f"{r.p_better:.0%}"
                text, dark = f"{_signed(metric, r.diff_p50)}\n{share}", abs(r.p_better - 0.5) > 0.3
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
        image = ax.imshow(np.ma.masked_invalid(p), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(n_cols), _ticks(grid.columns), fontsize=8)
        ax.set_yticks(range(n_rows), _ticks(grid.rows), fontsize=8)
        ax.set_xlabel(grid.column_key.removeprefix(prefix), fontsize=8)
        ax.set_ylabel(grid.row_key.removeprefix(prefix), fontsize=8)
        ax.set_title(f"{_metric_title(metric, currency)}\n{year}", fontsize=9, loc="left")
        ax.tick_params(length=0)
    for ax in axes[len(metrics) :]:
        ax.set_axis_off()
    if image is not None:
        bar = fig.colorbar(image, ax=axes[: len(metrics)].tolist(), shrink=0.5, aspect=30)
        bar.set_label("P(better than the baseline), share of paired draws", fontsize=8)
        bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    fixed = f"; all with {', '.join(grid.fixed)}" if grid.fixed else ""
    title = (
        f"{scenario_title(list(names))}{len(grid.cells)} scenarios against "
        f"{display_labels(list(grid.cells))[baseline]!r}, "
        f"paired by draw: each cell the paired difference (P50) and P(better){fixed}"
    )
    return _finish(fig, title, path, fontsize=10)


def frontier_figure(
    table: pd.DataFrame,
    spec,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    names: list[str] = (),
):
    """Top: the objective against AE per SE, one line per budget (P10-P90 of the metric shaded
    for median objectives), the best mix and every mix tied with it ringed alike, each point
    labelled with the mix's real monthly cost (the heads it rounds to).  Bottom: P(best) per mix,
    bars grouped by budget.  ``names`` (the runs' scenario names) open the title."""
    from simengine.frontier import TIE_P

    fig = Figure(figsize=(10, 7.5), layout="constrained")
    ax_val, ax_p = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    palette = matplotlib.colormaps.get_cmap("tab10")
    budgets = sorted(table["budget"].unique())
    width = 0.8 / max(1, len(budgets))
    ratios = sorted(table["ae_per_se"].unique())
    x_of = {r: i for i, r in enumerate(ratios)}
    ticks = money_formatter(currency)

    def money(value: float) -> str:  # "$" would start mathtext in a label: escape it
        return ticks(value).replace("$", r"\$")

    for k, budget in enumerate(budgets):
        rows = table[table["budget"] == budget].sort_values("ae_per_se")
        x = np.array([x_of[r] for r in rows["ae_per_se"]], dtype=float)
        color = palette(k % 10)
        label = f"budget {_money(budget, 0)} {currency or 'currency'}/month"
        costs = (
            rows["cost_month"].to_numpy(float) if "cost_month" in rows else np.full(len(x), np.nan)
        )
        if np.isfinite(costs).any():
            label += f" (mixes cost {money(np.nanmin(costs))}-{money(np.nanmax(costs))})"
        if spec.objective != "p_revenue_target":
            ax_val.fill_between(x, rows["p10"], rows["p90"], color=color, alpha=0.15, linewidth=0)
        ax_val.plot(x, rows["value"], "o-", color=color, label=label)
        tied = rows[rows["tied_with_best"] if "tied_with_best" in rows else rows["best"]]
        ax_val.scatter(
            [x_of[r] for r in tied["ae_per_se"]], tied["value"], s=160, facecolors="none",
            edgecolors=color, linewidths=2,
        )  # fmt: skip
        for xi, value, cost in zip(x, rows["value"], costs, strict=True):
            if np.isfinite(cost) and np.isfinite(value):
                ax_val.annotate(money(cost), xy=(xi, value), xytext=(0, -14),
                                textcoords="offset points", ha="center", fontsize=7,
                                color=color)  # fmt: skip
        ax_p.bar(x + (k - (len(budgets) - 1) / 2) * width, rows["p_best"], width, color=color)
    ax_val.set_ylabel(
        {
            "revenue_p50": "revenue in year (P50; band P10-P90)",
            "p_revenue_target": f"P(revenue >= {_money(spec.target or 0, 0)})",
            "nrr": "NRR at year end (P50; band P10-P90)",
            "revenue_per_sm_dollar": f"revenue per {currency or 'unit'} of GTM cost "
            "(P50; band P10-P90)",
        }[spec.objective]
    )
    if spec.objective == "revenue_p50":
        ax_val.yaxis.set_major_formatter(money_formatter(currency))
        ax_val.set_ylabel(unit_label(ax_val.get_ylabel(), currency))
    elif spec.objective in ("p_revenue_target", "nrr"):
        ax_val.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax_val.set_title(
        f"{scenario_title(list(names))}Staffing frontier, {spec.year_label or 'year ' + str(spec.year)}\nringed: "
        f"the best mix per budget and every mix tied with it (the best beats it in < {TIE_P:.0%} "
        "of paired draws); under each point: its real cost a month",
        fontsize=10,
    )
    ax_val.grid(alpha=0.3)
    ax_p.set_ylabel("P(best at its budget)")
    ax_p.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax_p.set_ylim(0, 1)
    ax_p.set_xticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    ax_p.set_xlabel("AEs per SE")
    ax_p.grid(alpha=0.3, axis="y")
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    if path is not None:
        save_figure(fig, path, dpi=100, bbox_inches="tight")
    return fig


def paired_differences(
    ds: xr.Dataset,
    baseline: str,
    year: int = 1,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
) -> Figure:
    """Per scenario: the distribution of (its revenue in fiscal ``year`` − the baseline's), draw
    by draw, with P(beats baseline) (ties count one half) in the legend.

    ``ds`` has a ``scenario`` dim (``sweep.nc`` or :func:`simengine.compare.load_scenarios`);
    ``year`` is the fiscal year's index as ``comparison.csv`` has it (1 = the forecast's first;
    its months before the forecast are the book's, the same in every scenario, so they cancel).
    ``currency`` names the money axis (default: the dataset's ``currency`` attr).
    """
    from simengine.compare.metrics import fiscal_years

    currency = currency or ds.attrs.get("currency") or None
    period = {p.year_index: p for p in fiscal_years(ds)}[int(year)]
    months = slice(period.start, period.stop)
    revenue = ds["revenue"].isel(month=months).sum(("month", "segment")).load()
    base = revenue.sel(scenario=baseline)
    others = [str(s) for s in ds["scenario"].values if str(s) != baseline]
    fig = Figure(figsize=(10, 0.9 * len(others) + 1.6))
    ax = fig.subplots()
    for k, name in enumerate(others):
        diff = (revenue.sel(scenario=name) - base).values
        p = float(np.mean(diff > 0) + 0.5 * np.mean(diff == 0))
        parts = ax.violinplot(diff, positions=[k], vert=False, showmedians=True, widths=0.8)
        for body in parts["bodies"]:
            body.set_facecolor(_PALETTE(k % 10))
        ax.text(np.median(diff), k + 0.42, f"P(beats) = {p:.0%}", fontsize=8, ha="center")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(others)), others, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(money_formatter(currency))
    ax.set_xlabel(unit_label(f"revenue in {period.label} minus {baseline!r}, same draw", currency))
    ax.set_title(f"{', '.join(others)} against {baseline!r}: paired differences of revenue "
                 "(common random numbers)", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3, axis="x")
    return finish_figure(fig, path)


# --- one account ----------------------------------------------------------------------------------
