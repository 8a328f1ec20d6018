"""The backtest chart: history, the forecast fan over the held-out months, actuals, baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simengine.report.figures import (
    money_formatter,
    outside_legend,
    save_figure,
    slant_dates,
    unit_label,
)

__all__ = ["backtest_plot", "print_backtest"]

_BASELINE_STYLE = {
    "naive_last": ("tab:gray", ":"),
    "seasonal_naive": ("tab:brown", "-."),
    "ets": ("tab:purple", "--"),
    "rw_drift": ("tab:olive", ":"),
    "theta": ("tab:cyan", "-."),
    "ets_accounts": ("tab:pink", "--"),
}


def backtest_plot(split, table: pd.DataFrame, forecasts: dict, path: str | Path | None = None,
                  currency: str | None = None, *, title: str | None = None):  # fmt: skip
    """Revenue of the installed base: history, the engine's fan, the actuals and the baselines.

    Parameters
    ----------
    split : simengine.backtest.Split
        History (``split.history``) and held-out months.
    table : pandas.DataFrame
        ``backtest.csv`` (its ``total`` rows give the fan and the actuals).
    forecasts : dict
        Method name -> forecast; every method but ``simengine`` is drawn as its P50.
    path : str or os.PathLike, optional
        Write a PNG there (atomically).
    currency : str, optional
        Currency code for the money axis (``"currency"`` when not given).
    title : str, optional
        Replaces the default title (cut-off, installed base, held-out months, parameter source).

    Returns
    -------
    matplotlib.figure.Figure
    """
    total = table[table["series"] == "total"]
    hist_x = pd.to_datetime(split.history_months)
    x = pd.to_datetime(total["month"].to_list())
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(hist_x, split.history.sum(axis=0), color="black", linewidth=1.4, label="history")
    ax.fill_between(x, total["p05"], total["p95"], color="tab:blue", alpha=0.15, linewidth=0,
                    label="simengine P05-P95")  # fmt: skip
    ax.fill_between(x, total["p10"], total["p90"], color="tab:blue", alpha=0.25, linewidth=0,
                    label="simengine P10-P90")  # fmt: skip
    ax.fill_between(x, total["p25"], total["p75"], color="tab:blue", alpha=0.35, linewidth=0,
                    label="simengine P25-P75")  # fmt: skip
    ax.plot(x, total["p50"], color="tab:blue", linewidth=1.8, label="simengine P50")
    for name, forecast in forecasts.items():
        if name == "simengine":
            continue
        color, style = _BASELINE_STYLE.get(name, ("tab:olive", "--"))
        p50 = forecast.quantiles([0.5])[0]
        ax.plot(x, p50, color=color, linestyle=style, linewidth=1.3, label=f"{name} P50")
    ax.plot(x, total["actual"], color="tab:red", marker="o", markersize=4, linewidth=1.6,
            label="actual", zorder=5)  # fmt: skip
    ax.axvline(hist_x[-1], color="black", linewidth=0.8, linestyle=":")
    ax.annotate(
        f"cut-off {split.history_months[-1]}", xy=(hist_x[-1], 1.0),
        xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points", fontsize=8,
    )  # fmt: skip
    ax.set_ylabel(unit_label("revenue per month", currency))
    ax.yaxis.set_major_formatter(money_formatter(currency))
    # A backtest always simulates from a posterior fitted on the history up to the cut-off.
    ax.set_title(
        title
        or f"Backtest: installed base at {split.history_months[-1]} "
        f"({len(split.accounts):,} accounts), {len(x)} held-out months, fitted parameters",
        loc="left",
        fontsize=11,
    )
    ax.grid(alpha=0.3)
    # Outside the axes: the legend never hides the data.
    outside_legend(ax)
    lo = np.nanmin([np.nanmin(total["p05"]), np.nanmin(total["actual"])])
    ax.set_ylim(bottom=min(0.0, lo))
    slant_dates(ax)
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig


def print_backtest(result, console=None) -> None:
    """The scores table of a backtest on the terminal (rich), one row per method."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    split = result.split
    table = Table(
        title=f"Backtest: cut-off {split.history_months[-1]}, {len(split.holdout_months)} "
        f"held-out months, {len(split.accounts):,} accounts in the installed base",
        title_justify="left",
    )
    table.add_column("method")
    for column in ("coverage50", "coverage80", "coverage90"):
        table.add_column(column, justify="right")
    for column in ("crps %", "bias %", "MAPE %"):
        table.add_column(column, justify="right")
    for row in result.scores.itertuples(index=False):
        table.add_row(
            row.method,
            f"{row.coverage50:.2f}",
            f"{row.coverage80:.2f}",
            f"{row.coverage90:.2f}",
            f"{row.crps_pct:.2f}",
            f"{row.bias_pct:+.2f}",
            f"{row.mape_total:.2f}",
        )
    console.print(table)
