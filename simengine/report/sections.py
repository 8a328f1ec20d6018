"""The sections of ``report.html`` that show a forecast: headline, fans, the segment split,
NRR/GRR, the account signals and, for a sweep, the go-to-market drivers (the sections that
describe the run itself are in :mod:`simengine.report.run_record`).

Each function takes what a run, sweep or backtest folder holds (datasets, tables, attrs) and returns
a :class:`simengine.report.html.Section`; none writes a file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from simengine.report.console import _FORMATS, _LABELS, _ORDER
from simengine.report.figures import _money, _quantile, parameter_source
from simengine.report.html import Section, figure, table, text
from simengine.report.plots import fan_chart, scenario_fans, shared_limits
from simengine.report.segments import _calendar_years, retention_chart, segment_chart
from simengine.report.tables import summary_table

__all__ = [
    "drivers_section",
    "fan_section",
    "headline_section",
    "retention_section",
    "segment_section",
    "signals_section",
]


_MONEY = {"arr", "revenue", "installed_base_revenue", "new_logo_revenue", "total_cost"}


def _cell(metric: str, value: float) -> str:
    """Compact for money (``143.8M``), as the terminal table otherwise (``122.8%``)."""
    if not np.isfinite(value):
        return "-"
    return _money(value) if metric in _MONEY else _FORMATS[metric].format(value)


def headline_table(ds: xr.Dataset, segment: str = "all", caption: str = "", fold: str = "") -> dict:
    """One row per metric: the last actual fiscal year, then P10 / P50 / P90 of each forecast
    fiscal year side by side (summary.csv has the figures to the cent); whole-run metrics (the
    expansion multiple) fill the first forecast year's."""
    summary = summary_table(ds)
    part = summary[summary["segment"] == segment]
    actual = part[part["source"] == "actual"]
    part = part[part["source"] != "actual"]
    years = part.dropna(subset=["year"]).drop_duplicates("year")
    columns = ["metric"]
    if len(actual):
        columns.append(f"{actual['period'].iloc[0]} actual")
    for r in years.itertuples():
        span = "" if r.months == 12 else f", {r.months} mo"
        columns += [f"{r.period} ({r.year_end}{span}) P10", "P50", "P90"]
    rows = []
    for metric in sorted(part["metric"].unique(), key=lambda m: _ORDER[m]):
        rows_m = part[part["metric"] == metric]
        whole = rows_m["year"].isna().all()
        row = [_LABELS[metric] + (" (whole run)" if whole else "")]
        if len(actual):
            hit = actual[actual["metric"] == metric]
            row.append(_cell(metric, hit["p50"].iloc[0]) if len(hit) else "")
        for i, y in enumerate(years["year"]):
            hit = rows_m if whole else rows_m[rows_m["year"].eq(y).fillna(False)]
            if hit.empty or (whole and i > 0):
                row += ["", "", ""]
            else:
                r = hit.iloc[0]
                row += [_cell(metric, r.p10), _cell(metric, r.p50), _cell(metric, r.p90)]
        rows.append(row)
    return table(columns, rows, caption=caption, numeric=[False] + [True] * (len(columns) - 1),
                 fold=fold)  # fmt: skip


def headline_section(ds: xr.Dataset, currency: str | None = None) -> Section:
    """The P10/P50/P90 table by fiscal year (the last actual one first), all segments, then one
    folded table per segment."""
    unit = currency or "currency"
    source = parameter_source(ds.attrs)
    blocks = [
        text(
            f"Forecast from {ds.attrs.get('as_of', '?')} over {ds.sizes['month']} months, "
            f"{ds.sizes['draw']:,} draws; parameters: {ds.attrs.get('parameters', source)}. "
            f"Money in {unit} (K thousands, M millions); fiscal years named by the calendar year "
            "they end in; ARR, NRR, GRR and customers at the year's last month, flows summed over "
            "the year (a year the forecast starts inside adds its earlier months from the book); "
            "summary.csv and summary.xlsx have every figure, by quarter and month too.",
        ),
        headline_table(ds, caption="All segments"),
    ]
    if source == "assumptions":
        blocks.insert(
            1,
            text(
                "These parameters are assumptions (config defaults), not fitted to this book: "
                "read the bands as what the assumptions imply, not as estimated uncertainty.",
                tone="warn",
            ),
        )
    for seg in ds["segment"].values:
        blocks.append(headline_table(ds, str(seg), fold=f"Segment {seg}"))
    return Section("Headline: P10 / P50 / P90", "headline", blocks)


_FAN_CAPTION = (
    "Fan charts: black and thin solid lines are the observed revenue up to as_of (dotted line); "
    "blue bands the forecast's P10-P90 and P25-P75, the line its P50; dashed lines each "
    "segment's P50."
)


def fan_section(
    items: list[tuple[str, xr.Dataset]], currency: str | None = None, anchor: str = "fans"
) -> Section:
    """One fan chart (history and forecast) per ``(scenario, dataset)``; several share their
    y-scales (:func:`simengine.report.plots.shared_limits`), so the fans side by side compare."""
    blocks = []
    limits = shared_limits([ds for _, ds in items]) if len(items) > 1 else {}
    if not any("history_revenue" in ds for _, ds in items):
        blocks.append(
            text(
                "This forecast was written before runs kept their observed history "
                "(history_revenue): the charts show the forecast months only.",
                tone="warn",
            )
        )
    if len(items) > 1:
        blocks.append(
            figure(
                scenario_fans(items, currency=currency),
                alt="Total revenue of every scenario on one axis",
                dpi=90,
                caption="Each scenario's P50 (line) and P10-P90 (band) after the observed history; "
                "each scenario's own fan chart follows, all on the same scales. " + _FAN_CAPTION,
            )
        )
    for name, ds in items:
        fig = fan_chart(ds, currency=currency, scenario=name, **limits)
        blocks.append(
            figure(
                fig,
                alt=f"Fan chart of monthly revenue and NRR/GRR for {name}",
                dpi=90,
                half=len(items) > 1,
                caption=_FAN_CAPTION if len(items) == 1 else "",
            )
        )
    title = "Fan chart with history" if len(items) == 1 else "Fan charts with history"
    return Section(title, anchor, blocks)


def segment_section(
    ds: xr.Dataset, currency: str | None = None, name: str | None = None
) -> Section:
    """Revenue by segment and calendar year: the chart (:func:`segment_chart`) and a table of each
    segment's P50 and share per year, observed years first."""
    unit = currency or "currency"
    years = _calendar_years(ds, history_years=2)
    segments = [str(x) for x in ds["segment"].values]
    columns = ["segment"]
    for label, forecast, observed, _ in years:
        kind = "observed" if not forecast else ("observed + P50" if observed else "P50")
        columns += [f"{label} {kind}", "share"]
    rows = []
    for k, seg in enumerate([*segments, "all"]):
        row = [seg]
        for *_, values in years:
            p50 = np.median(values, axis=0)
            if seg == "all":
                row += [_money(float(np.median(values.sum(axis=1)))), ""]
            else:
                row += [_money(float(p50[k])), f"{p50[k] / max(p50.sum(), 1e-12):.0%}"]
        rows.append(row)
    blocks = [
        figure(segment_chart(ds, currency=currency, scenario=name),
               alt=f"Revenue by segment and calendar year for {name}", dpi=90),
        table(columns, rows, numeric=[False] + [True] * (len(columns) - 1),
              caption=f"Revenue per calendar year ({unit}): observed years as the data hold them, "
              "forecast years the P50 of each segment and of the total (P50s do not add up to "
              "the total's P50); share: of the segments' P50s"),
    ]  # fmt: skip
    return Section("Revenue by segment", "segments", blocks)


def retention_section(ds: xr.Dataset, name: str | None = None) -> Section:
    """NRR and GRR by segment, observed and forecast: the chart (:func:`retention_chart`) and a
    table of the observed ratios a year before ``as_of`` and at it, then the forecast's P50
    [P10, P90] at the end of each forecast year."""
    ends = list(range(11, ds.sizes["month"], 12))
    if not ends or ends[-1] != ds.sizes["month"] - 1:
        ends.append(ds.sizes["month"] - 1)
    months = pd.DatetimeIndex(ds["month"].values)
    observed = "history_nrr" in ds
    columns = ["metric", "segment"]
    if observed:
        hist_months = pd.DatetimeIndex(ds["history_month"].values)
        picks = [i for i in (len(hist_months) - 13, len(hist_months) - 1) if i >= 0]
        columns += [f"{hist_months[i]:%Y-%m} observed" for i in picks]
    columns += [f"{months[i]:%Y-%m} P50 [P10, P90]" for i in ends]
    rows = []
    for metric in ("nrr", "grr"):
        for seg in [None, *[str(x) for x in ds["segment"].values]]:
            label = metric.upper() if seg is None else ""
            row = [label, "all" if seg is None else seg]
            if observed:
                hist = ds[f"history_{metric}_total"] if seg is None else (
                    ds[f"history_{metric}"].sel(segment=seg))  # fmt: skip
                row += [_pct(float(hist.values[i]), decimals=1) for i in picks]
            draws = ds[f"{metric}_total"] if seg is None else ds[metric].sel(segment=seg)
            q = _quantile(draws.transpose("draw", "month").values[:, ends], [0.1, 0.5, 0.9])
            row += [f"{_pct(q[1, j], decimals=1)} [{_pct(q[0, j], decimals=1)}, "
                    f"{_pct(q[2, j], decimals=1)}]" for j in range(len(ends))]  # fmt: skip
            rows.append(row)
    blocks = [
        figure(retention_chart(ds, scenario=name),
               alt=f"NRR and GRR by segment, observed and forecast, for {name}", dpi=90),
        table(columns, rows, numeric=[False, False] + [True] * (len(columns) - 2),
              caption="Trailing-twelve-month NRR and GRR: revenue of the accounts that were "
              "customers a year before, over their revenue in the year before that (GRR caps "
              "each account at its base). Observed from the data's revenue; the forecast values "
              "the months before as_of at today's prices, so a price change in the last two "
              "years shows as a step at as_of."),
    ]  # fmt: skip
    if not observed:
        blocks.insert(1, text("This forecast was written before runs kept the observed NRR/GRR "
                              "(history_nrr): the chart shows the forecast months only.",
                              tone="warn"))  # fmt: skip
    return Section("NRR and GRR", "retention", blocks)


def signals_section(
    signals: pd.DataFrame | None,
    accounts: pd.DataFrame | None,
    top: int = 5,
    currency: str | None = None,
) -> Section:
    """The first ``top`` accounts of every signal (``signals.csv``) and the largest accounts'
    12-month forecast (``accounts_forecast.csv``); money in ``currency``."""
    unit = currency or "currency"
    blocks = []
    if signals is None or signals.empty:
        blocks.append(text("No per-account forecast in this folder (signals.csv is missing)."))
    else:
        rows = []
        shown = signals.groupby("signal", sort=False).head(top)
        for row in shown.itertuples(index=False):
            if row.value_name == "usage_trend":
                value = f"{_pct(row.value, signed=True)} usage"
            else:
                money = row.value_name.startswith(("revenue", "expected_", "median_growth"))
                value = f"{row.value:,.0f}{' ' + unit if money else ''} ({row.value_name})"
            rows.append([row.signal, row.account_id, row.segment, value,
                         f"{row.probability:.0%} {row.probability_name}"])  # fmt: skip
        blocks.append(
            table(
                ["signal", "account", "segment", "value", "probability"],
                rows,
                caption=f"Ranked signals: the first {top} accounts of each signal (signals.csv "
                "has more)",
                numeric=[False, False, False, True, True],
            )
        )
    if accounts is not None and not accounts.empty:
        top = accounts.sort_values("revenue_next12_p50", ascending=False).head(15)
        blocks.append(
            table(
                [
                    "account",
                    "segment",
                    f"revenue last month ({unit})",
                    f"next 12m P10 ({unit})",
                    "P50",
                    "P90",
                    "P(churn 12m)",
                    "usage trend",
                ],
                [
                    [
                        r.account_id,
                        r.segment,
                        f"{r.revenue_last:,.0f}",
                        f"{r.revenue_next12_p10:,.0f}",
                        f"{r.revenue_next12_p50:,.0f}",
                        f"{r.revenue_next12_p90:,.0f}",
                        _pct(r.p_churn_12m),
                        _pct(r.usage_trend, signed=True),
                    ]
                    for r in top.itertuples(index=False)
                ],
                caption=f"The 15 largest of {len(accounts):,} accounts by forecast revenue over the "
                "next 12 months (accounts_forecast.csv has them all)",
                numeric=[False, False, True, True, True, True, True, True],
            )  # fmt: skip
        )
    return Section("Per-account signals", "signals", blocks)


def drivers_section(
    comparison: pd.DataFrame,
    baseline: str,
    currency: str | None = None,
    names: list[str] = (),
    years=None,
) -> Section | None:
    """Why a plan wins: the go-to-market drivers of every scenario (deals worked, deal coverage,
    win rate, unhealthy starts, CSM/SE coverage of the base, AE attainment, variable pay) and
    their paired differences to ``baseline``, as a table and a chart.

    ``comparison`` is :func:`simengine.compare.compare`'s table.  None when it has no drivers
    (runs with ``market=rate`` have no go-to-market model): the report then has no such section.
    """
    from simengine.compare.metrics import DRIVERS
    from simengine.report.comparison import comparison_rows
    from simengine.report.comparison_charts import comparison_plot

    if not comparison["metric"].isin(DRIVERS).any():
        return None
    last, rows, shown = comparison_rows(comparison, baseline, years, DRIVERS)
    blocks = [
        text(
            f"Why the plans differ: what the go-to-market model did in each scenario, paired draw "
            f"by draw against {shown[baseline]!r} like the outcomes above. Deals worked and "
            "variable pay are summed over the year; deal coverage and win rate are shares of the "
            "year's deals, unhealthy starts a share of its expected new logos, CSM and SE "
            "coverage shares of its active account-months, AE attainment the year's production "
            "over quota. p_better here is the share of draws in which the driver is higher "
            "(lower for unhealthy starts and variable pay)."
        ),
        table(
            ["driver", "scenario", "P10", "P50", "P90", "difference P50 [P10, P90]", "p_better"],
            rows,
            caption=f"{last}; money in {currency or 'currency'}",
            numeric=[False, False, True, True, True, True, True],
        ),
        figure(
            comparison_plot(comparison, baseline, currency=currency, names=list(names),
                            metrics=DRIVERS),
            alt="Go-to-market drivers: intervals and paired differences",
            dpi=80,
        ),
    ]  # fmt: skip
    return Section("Why: the go-to-market drivers", "drivers", blocks)


def _pct(value: float, signed: bool = False, decimals: int = 0) -> str:
    if not np.isfinite(value):
        return "-"
    return f"{value:+.{decimals}%}" if signed else f"{value:.{decimals}%}"
