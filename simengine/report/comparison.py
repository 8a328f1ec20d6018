"""The comparison's table and plot: each scenario's interval and its paired difference to a baseline."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simengine.compare import DRIVERS, METRICS, Grid, display_labels, dropped_prefix
from simengine.report.figures import _money, money_formatter, save_figure, unit_label

__all__ = [
    "DRIVER_LABELS",
    "LABELS",
    "comparison_grid",
    "comparison_plot",
    "comparison_rows",
    "year_label",
    "fmt",
    "fmt_diff",
    "frontier_figure",
    "frontier_rows",
    "print_comparison",
    "print_drivers",
    "print_frontier_table",
    "scenario_title",
]

LABELS = {
    "revenue": "Revenue (year)",
    "arr": "ARR (year end)",
    "nrr": "NRR (trailing 12m)",
    "grr": "GRR (trailing 12m)",
    "new_logos": "New logos (year)",
    "total_cost": "GTM cost (year, lower is better)",
    "revenue_per_sm_dollar": "Revenue per unit of GTM cost",
    "gross_margin": "Gross margin",
    "expansion_multiple": "Expansion multiple (5-yr)",
    "cac_payback_months": "CAC payback, months (lower is better)",
}
#: The go-to-market drivers (:data:`simengine.compare.DRIVERS`): why a plan wins.
DRIVER_LABELS = {
    "deals": "Deals worked (year)",
    "deal_coverage": "Deal coverage (share of deals with an SE)",
    "win_rate": "Win rate (share of deals won)",
    "unhealthy_share": "Unhealthy starts (share, lower is better)",
    "csm_coverage": "CSM coverage of the base",
    "se_coverage": "SE/adoption coverage of the base",
    "ae_attainment": "AE attainment (year's production / quota)",
    "variable_pay": "Variable pay (year, lower is better)",
}
_CURRENCY = {"revenue", "arr", "total_cost", "variable_pay"}
_RATIO = {
    "nrr", "grr", "gross_margin", "deal_coverage", "win_rate", "unhealthy_share", "csm_coverage",
    "se_coverage", "ae_attainment",
}  # fmt: skip


def fmt(metric: str, value: float) -> str:
    """A value formatted for its metric (currency with k/M/B, ratios as %)."""
    if not np.isfinite(value):
        return "-"
    if metric in _CURRENCY:
        return _money(value, 0)
    if metric in _RATIO:
        # A difference of NRR or GRR is often under a tenth of a point: two decimals there.
        return f"{value:.2%}" if abs(value) < 0.01 else f"{value:.1%}"
    if metric in ("new_logos", "deals"):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def fmt_diff(metric: str, value: float) -> str:
    """A paired difference as :func:`fmt` writes it, except that differences of ratios (NRR,
    GRR, margin) are percentage points (``+1.2 pp``), not percent: 95% against 94% is one point,
    while "+1%" would read as 1% of 94%."""
    if metric in _RATIO and np.isfinite(value):
        points = 100.0 * value
        return f"{points:+.2f} pp" if abs(points) < 0.1 else f"{points:+.1f} pp"
    return fmt(metric, value)


def points_formatter() -> FuncFormatter:
    """Tick labels of a difference of ratios in percentage points (``+2 pp``, ``-0.5 pp``)."""
    return FuncFormatter(lambda v, pos=None: f"{round(100.0 * v, 2):+g} pp" if v else "0")


def _column(name: str, left: tuple[str, ...]) -> dict:
    """A column's layout: text columns on the left; a scenario label folds onto more lines in a
    very narrow terminal instead of losing its end to an ellipsis, which would leave the rows of
    one metric looking alike."""
    return {
        "justify": "left" if name in left else "right",
        "overflow": "fold" if name == "scenario" else "ellipsis",
    }


def scenario_title(names: list[str]) -> str:
    """The scenario names of compared runs as a chart title's opening (``"Scenario downturn: "``,
    ``"Default scenario: "``, ``"Scenarios baseline, downturn: "``); ``""`` for runs that
    recorded none (:func:`simengine.compare.scenario_names`)."""
    if not names:
        return ""
    if len(names) == 1:
        return "Default scenario: " if names[0] == "default" else f"Scenario {names[0]}: "
    return f"Scenarios {', '.join(names)}: "


def _shared_prefix_note(scenarios: list[str]) -> str:
    """Says which key prefix :func:`display_labels` dropped, if it dropped one."""
    prefix = dropped_prefix(scenarios)
    return f"; labels without the keys' shared '{prefix}'" if prefix else ""


def year_label(table: pd.DataFrame, year) -> str:
    """A comparison year as tables and charts name it: its fiscal-year label (``FY2026``, with
    the months it covers when not 12), ``whole run`` for None."""
    if year is None or pd.isna(year):
        return "whole run"
    hit = table[table["year"] == year]
    if "fiscal_year" not in table or hit.empty:
        return f"year {int(year)}"
    r = hit.iloc[0]
    months = int(r["months"]) if "months" in hit and pd.notna(r["months"]) else 12
    return str(r["fiscal_year"]) + ("" if months == 12 else f" ({months} mo)")


def comparison_rows(
    table: pd.DataFrame, baseline: str, years=None, metrics: tuple[str, ...] = METRICS
) -> tuple[str, list[list[str]], dict[str, str]]:
    """The rows of the fiscal years ``years`` (default :func:`simengine.compare.shown_years`: the
    first full year and the last) and of the whole-run metrics of a comparison table, as the
    console and the HTML report show them: metric and year (on its first row), scenario (as
    :func:`display_labels` shows it), P10, P50, P90, the paired difference to ``baseline``
    (P50 [P10, P90]) and ``p_better``.  ``metrics``: which rows (the outcomes by default;
    :data:`~simengine.compare.DRIVERS` for the go-to-market drivers; none when the table has
    none of them).  Returns the years' names, the rows and the shown labels."""
    from simengine.compare import shown_years

    years = shown_years(table) if years is None else list(years)
    shown = display_labels(list(dict.fromkeys(table["scenario"])))
    chosen = table[table["metric"].isin(metrics)]
    blocks = [(y, chosen[chosen["year"] == y]) for y in years]
    blocks.append((None, chosen[chosen["year"].isna()]))
    rows = []
    for year, part in blocks:
        named = len(years) > 1 and year is not None
        for metric, group in part.groupby("metric", sort=False):
            title = _LABEL.get(metric, metric) + (f", {year_label(table, year)}" if named else "")
            rows += _metric_rows(metric, title, group, baseline, shown)
    return " and ".join(year_label(table, y) for y in years) or "whole run", rows, shown


def _metric_rows(metric, title, group, baseline, shown) -> list[list[str]]:
    """One metric's rows of :func:`comparison_rows`, ``title`` on the first."""
    rows = []
    for i, r in enumerate(group.itertuples()):
        base = r.scenario == baseline
        diff = (
            "baseline"
            if base
            else f"{fmt_diff(metric, r.diff_p50)} [{fmt_diff(metric, r.diff_p10)}, "
            f"{fmt_diff(metric, r.diff_p90)}]"
        )
        rows.append([title if i == 0 else "", shown[r.scenario],
                     fmt(metric, r.p10), fmt(metric, r.p50), fmt(metric, r.p90), diff,
                     "-" if base else f"{r.p_better:.0%}"])  # fmt: skip
    return rows


def print_comparison(
    table: pd.DataFrame,
    baseline: str,
    console: Console | None = None,
    names: list[str] = (),
    metrics: tuple[str, ...] = METRICS,
    years=None,
) -> None:
    """Print fiscal years ``years`` (default the first full and the last) and the whole-run
    metrics of every scenario vs the baseline.

    ``names``: the runs' scenario names (:func:`scenario_title`); ``metrics``: the outcomes, or
    the go-to-market drivers (:func:`print_drivers`).
    """
    console = console or Console()
    when, rows, shown = comparison_rows(table, baseline, years, metrics)
    if not rows:
        return
    what = "Why: go-to-market drivers" if metrics == DRIVERS else "Scenarios"
    out = Table(
        title=f"{scenario_title(list(names))}{what} vs {shown[baseline]!r}, {when} "
        "(paired by draw; p_better: share of draws where the scenario is better"
        f"{_DRIVER_DIRECTION if metrics == DRIVERS else ''}, ties count 1/2; every year in "
        f"comparison.csv and comparison.xlsx{_shared_prefix_note(list(shown))})"
    )
    # Each metric heads its rows (rather than a column of its own), so the scenario labels get
    # the width: a planner reads them down the table.
    for col in ("scenario", "P10", "P50", "P90", "diff P50 [P10, P90]", "p_better"):
        out.add_column(col, **_column(col, ("scenario",)))
    for metric, *row in rows:
        if metric:
            if out.row_count:
                out.add_section()
            out.add_row(f"[bold]{escape(metric)}[/bold]", *[""] * (len(row) - 1))
        out.add_row(escape(row[0]), *row[1:])
    console.print(out)


#: What p_better means for a driver (a driver is an explanation, not a goal).
_DRIVER_DIRECTION = ", for a driver higher (lower for unhealthy starts and variable pay)"


def print_drivers(
    table: pd.DataFrame,
    baseline: str,
    console: Console | None = None,
    names: list[str] = (),
    years=None,
) -> None:
    """Print the go-to-market drivers of every scenario vs the baseline (why a plan wins); prints
    nothing when the runs have none (``market=rate``)."""
    print_comparison(table, baseline, console, names, DRIVERS, years)


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
    ``metrics``: the outcomes, or :data:`~simengine.compare.DRIVERS` for the drivers' chart.
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


#: Every compared metric's label: outcomes and drivers.
_LABEL = {**LABELS, **DRIVER_LABELS}


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


#: The frontier's own keys: its table shows them as columns.
_MIX_KEYS = ("staffing.budget", "staffing.ae_per_se")


def _mark(group: pd.DataFrame) -> dict[str, str]:
    """Per scenario of one budget: ``best`` when the best mix stands alone, ``tied best`` on every
    mix tied with it (:data:`simengine.frontier.TIE_P`) when there are several, else ``""``."""
    tied = group["tied_with_best"] if "tied_with_best" in group else group["best"]
    several = int(tied.sum()) > 1
    return {
        r.scenario: ("tied best" if several else "best") if t else ""
        for r, t in zip(group.itertuples(), tied, strict=True)
    }


def _real_cost(row) -> str:
    """A mix's real monthly cost (of the heads it rounds to; frontier.csv has the heads)."""
    cost = getattr(row, "cost_month", np.nan)
    return _money(cost, 0) if np.isfinite(cost) else "-"


def frontier_rows(
    table: pd.DataFrame, spec, currency: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """The frontier's table as the console and the HTML report show it: columns and rows (budget,
    AE per SE, the mix's real monthly cost (of the heads it rounds to), what a label says
    besides budget and ratio, the objective, P(best) and the mark: ``best``, or ``tied best``
    on each mix the data cannot tell from the best, with the share of paired draws the best
    beats it in).  The scenario column goes when the labels say nothing else (a plain mix
    sweep)."""
    shown = display_labels(list(dict.fromkeys(table["scenario"])), drop=_MIX_KEYS)
    heading = {"revenue_p50": "revenue P50", "p_revenue_target": "P(revenue >= target)",
               "nrr": "NRR P50",
               "revenue_per_sm_dollar": f"revenue per {currency or 'unit'} of GTM cost"}  # fmt: skip
    columns = [f"budget / month ({currency or 'currency'})", "AE per SE", "real cost",
               "scenario", heading[spec.objective], "P(best)", ""]  # fmt: skip
    metric = "nrr" if spec.objective == "nrr" else "revenue"
    rows = []
    for budget, group in table.groupby("budget", sort=True):
        marks = _mark(group)
        for row in group.itertuples():
            value = (
                f"{row.value:.0%}"
                if spec.objective == "p_revenue_target"
                else fmt(metric if spec.objective != "revenue_per_sm_dollar" else "x", row.value)
            )
            mark = marks[row.scenario]
            beats = getattr(row, "p_best_beats", np.nan)
            if mark == "tied best" and not row.best and np.isfinite(beats):
                mark += f" ({beats:.0%})"  # the share of draws the best beats it in
            rows.append([_money(budget, 0), f"{row.ae_per_se:g}", _real_cost(row),
                         shown[row.scenario], value, f"{row.p_best:.0%}", mark])  # fmt: skip
    if not any(shown.values()):  # the labels only repeat the budget and the ratio
        del columns[3]
        for row in rows:
            del row[3]
    return columns, rows


def print_frontier_table(
    table: pd.DataFrame,
    spec,
    console: Console | None = None,
    currency: str | None = None,
    names: list[str] = (),
) -> None:
    """Print every mix per budget (:func:`frontier_rows`), one block of rows a budget."""
    from simengine.frontier import TIE_P

    console = console or Console()
    target = f" >= {_money(spec.target, 0)}" if spec.target is not None else ""
    out = Table(
        title=f"{scenario_title(list(names))}Staffing frontier: {spec.objective}{target}, "
        f"{spec.year_label or 'year ' + str(spec.year)} (P(best): share of paired draws in which the mix is best "
        f"at its budget; tied best (n%): the best beats it in n% < {TIE_P:.0%} of them; real cost: "
        "of the AE and SE heads the mix rounds to, as simulated)"
    )
    columns, rows = frontier_rows(table, spec, currency)
    for col in columns:
        out.add_column(col, **_column(col, ("scenario", "")))
    for i, row in enumerate(rows):
        first = i == 0 or row[0] != rows[i - 1][0]
        if first and i > 0:
            out.add_section()
        cells = [escape(c) for c in row]
        cells[0] = cells[0] if first else ""
        cells[-1] = f"[bold green]{row[-1]}[/bold green]" if row[-1] else ""
        out.add_row(*cells)
    console.print(out)


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
