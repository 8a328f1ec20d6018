"""The comparison as tables: each scenario's interval and its paired difference to a baseline.

The labels and number formats of the compared metrics, the rows the console and the HTML report
show (:func:`comparison_rows`, :func:`frontier_rows`) and the console tables; the charts of the
same numbers are in :mod:`simengine.report.comparison_charts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simengine.compare.labels import display_labels, dropped_prefix
from simengine.compare.metrics import DRIVERS, METRICS
from simengine.report.figures import _money

__all__ = [
    "DRIVER_LABELS",
    "LABELS",
    "comparison_rows",
    "year_label",
    "fmt",
    "fmt_diff",
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
#: The go-to-market drivers (:data:`simengine.compare.metrics.DRIVERS`): why a plan wins.
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
    recorded none (:func:`simengine.compare.runs.scenario_names`)."""
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
    """The rows of the fiscal years ``years`` (default :func:`simengine.compare.paired.shown_years`: the
    first full year and the last) and of the whole-run metrics of a comparison table, as the
    console and the HTML report show them: metric and year (on its first row), scenario (as
    :func:`display_labels` shows it), P10, P50, P90, the paired difference to ``baseline``
    (P50 [P10, P90]) and ``p_better``.  ``metrics``: which rows (the outcomes by default;
    :data:`~simengine.compare.metrics.DRIVERS` for the go-to-market drivers; none when the table has
    none of them).  Returns the years' names, the rows and the shown labels."""
    from simengine.compare.paired import shown_years

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


#: Every compared metric's label: outcomes and drivers.
_LABEL = {**LABELS, **DRIVER_LABELS}

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
