"""Terminal output: the P10/P50/P90 table a run prints."""

from __future__ import annotations

import pandas as pd
import xarray as xr
from rich.console import Console
from rich.table import Table

from simengine.report.tables import summary_table
from simengine.rollups import METRIC_LABELS, METRIC_ORDER, TERMINAL_METRICS

__all__ = ["print_fit_summary", "print_summary", "sweep_job_line"]


_FORMATS = {
    "arr": "{:,.0f}",
    "revenue": "{:,.0f}",
    "nrr": "{:.1%}",
    "grr": "{:.1%}",
    "new_logos": "{:,.0f}",
    "total_cost": "{:,.0f}",
    "revenue_per_sm_dollar": "{:.2f}",
    "post_sales_share": "{:.1%}",
    "expansion_multiple": "{:.2f}",
}
_LABELS = METRIC_LABELS
#: The rollups' further metrics (simengine.rollups): report tables and the workbook show them;
#: the terminal table keeps to the metrics it always showed.
_TERMINAL = TERMINAL_METRICS
_FORMATS |= {
    "installed_base_revenue": "{:,.0f}",
    "new_logo_revenue": "{:,.0f}",
    "active_accounts": "{:,.0f}",
    "churned_accounts": "{:,.0f}",
}
_ORDER = METRIC_ORDER


def year_label(row) -> str:
    """How a summary row names its fiscal year: ``FY2026``, ``FY2025 actual``, with the months
    it covers when not 12 (``FY2029, 10 mo``); ``all`` for a whole-run row."""
    if pd.isna(row.year):
        return "all"
    name = str(row.period) + (" actual" if row.source == "actual" else "")
    return name + ("" if row.months == 12 else f", {row.months} mo")


def print_summary(ds: xr.Dataset, console: Console | None = None) -> None:
    """Print the P10/P50/P90 summary (all segments) by fiscal year, the last actual one first."""
    console = console or Console()
    table = summary_table(ds)
    table = table[(table["segment"] == "all") & table["metric"].isin(_TERMINAL)]
    out = Table(
        title=f"Forecast from {ds.attrs.get('as_of', '?')}: {ds.sizes['draw']} draws, "
        f"parameters: {ds.attrs.get('parameters', '?')}"
    )
    for col in ("metric", "fiscal year", "P10", "P50", "P90"):
        out.add_column(col, justify="left" if col == "metric" else "right")
    table = table.sort_values(
        ["year", "metric"],
        key=lambda c: c.map(_ORDER) if c.name == "metric" else c,
        na_position="last",
        kind="stable",
    )
    for row in table.itertuples():
        fmt = _FORMATS[row.metric]
        out.add_row(
            _LABELS[row.metric],
            year_label(row),
            fmt.format(row.p10),
            fmt.format(row.p50),
            fmt.format(row.p90),
        )
    console.print(out)


def sweep_job_line(ds: xr.Dataset) -> str:
    """One line of a sweep job's key figures (all segments, its last full forecast year): revenue
    P50 (P10, P90), and the P50s of NRR, new logos and go-to-market cost where the run has them.

    A sweep prints this for each job instead of :func:`print_summary`'s table: fifty tables
    scroll past unread, and the scenarios are compared side by side by ``simengine compare``.
    """
    from simengine.report.comparison import fmt  # the compare table's formats

    table = summary_table(ds)
    table = table[(table["segment"] == "all") & (table["year"] > 0).fillna(False)]
    full = table[table["months"] == 12]  # a partial last year's flows would read low
    table = full if len(full) else table
    last = table[table["year"] == table["year"].max()].set_index("metric")
    row = last.loc["revenue"]
    months = "" if row["months"] == 12 else f", {int(row['months'])} mo"
    money = [fmt("revenue", row[q]) for q in ("p50", "p10", "p90")]
    parts = [f"revenue P50 {money[0]} (P10 {money[1]}, P90 {money[2]})"]
    names = {"nrr": "NRR", "new_logos": "new logos", "total_cost": "GTM cost"}
    parts += [
        f"{name} {fmt(m, last.loc[m, 'p50'])}" for m, name in names.items() if m in last.index
    ]
    return f"{row['period']} to {row['year_end']}{months}: " + ", ".join(parts)


def print_fit_summary(tree, diagnostics, gate_failures: list[str], console: Console | None = None):
    """Print a fit's timings, its gate verdict and the posterior of the contract's parameters."""
    console = console or Console()
    a = tree.attrs
    console.print(
        f"fit: method={a.get('method')} models={a.get('models')} "
        f"compile {float(a.get('compile_seconds', 0)):.1f} s, "
        f"sampling {float(a.get('sampling_seconds', 0)):.1f} s"
    )
    if a.get("observation_window"):  # export shape, churn window, left-truncated accounts
        console.print(str(a["observation_window"]), highlight=False)
    public = diagnostics[~diagnostics["parameter"].str.contains(r"_(?:pop|raw|log)$")]
    out = Table(title="posterior (5% / mean / 95%, R-hat, bulk ESS)")
    for col in ("parameter", "segment", "5%", "mean", "95%", "R-hat", "ESS"):
        out.add_column(col, justify="left" if col in ("parameter", "segment") else "right")
    for row in public.itertuples():
        out.add_row(
            row.parameter, row.segment or "", f"{row.eti_5:.4g}", f"{row.mean:.4g}",
            f"{row.eti_95:.4g}", f"{row.r_hat:.3f}", f"{row.ess_bulk:.0f}",
        )  # fmt: skip
    console.print(out)
    if gate_failures:
        console.print("[bold red]gate: FAILS[/bold red] " + "; ".join(gate_failures))
        console.print("`simengine run` refuses this posterior unless fit.allow_bad=true")
    else:
        console.print("[bold green]gate: passes[/bold green] (R-hat, bulk ESS, divergences)")
