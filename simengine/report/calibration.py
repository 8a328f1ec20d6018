"""Calibration of a backtest's forecasts: coverage by nominal level and the PIT.

:func:`pit_values` and :func:`coverage_by_level` are the numbers, :func:`calibration_plot` their
chart (a plain ``matplotlib.figure.Figure``; ``path`` writes a PNG).  A forecast is anything with
``.quantiles(probs)`` (samples or a normal), so the engine and the baselines are scored alike.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simengine.report.figures import finish_figure

__all__ = ["LEVELS", "calibration_plot", "coverage_by_level", "pit_values"]

_PALETTE = matplotlib.colormaps["tab10"]

LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def pit_values(forecast, actual: np.ndarray, grid: int = 199) -> np.ndarray:
    """Probability integral transform of ``actual`` under a forecast with ``.quantiles(probs)``.

    The share of a fine quantile grid (``1/(grid+1) .. grid/(grid+1)``) at or below each actual:
    uniform on [0, 1] for a calibrated forecast, whatever its form (samples or a normal).
    """
    probs = np.arange(1, grid + 1) / (grid + 1)
    q = forecast.quantiles(probs)  # (grid, months)
    return (q <= np.asarray(actual, float)[None, :]).mean(axis=0)


def coverage_by_level(forecasts: dict, actual: np.ndarray, levels=LEVELS) -> pd.DataFrame:
    """Share of actuals inside each method's central interval, per nominal level.

    Returns
    -------
    pandas.DataFrame
        Index ``level``, one column per method.
    """
    actual = np.asarray(actual, float)
    out = {}
    for name, forecast in forecasts.items():
        rows = []
        for level in levels:
            lo, hi = forecast.quantiles([(1 - level) / 2, (1 + level) / 2])
            rows.append(float(np.mean((actual >= lo) & (actual <= hi))))
        out[name] = rows
    return pd.DataFrame(out, index=pd.Index(levels, name="level"))


def calibration_plot(forecasts: dict, actual: np.ndarray, path: str | Path | None = None) -> Figure:
    """Coverage by nominal level for every method (left) and the engine's PIT histogram (right).

    With few held-out months each point is a few observations: the band is the binomial 90%
    range a calibrated forecast's coverage falls in (months treated as independent).
    """
    from scipy.stats import binom

    actual = np.asarray(actual, float)
    n = actual.size
    table = coverage_by_level(forecasts, actual)
    levels = np.asarray(table.index, float)
    fig = Figure(figsize=(11, 4.2))
    ax_c, ax_p = fig.subplots(1, 2)
    lo, hi = binom.ppf(0.05, n, levels) / n, binom.ppf(0.95, n, levels) / n
    ax_c.fill_between(levels, lo, hi, color="grey", alpha=0.2, linewidth=0,
                      label=f"calibrated, 90% range (n={n})")  # fmt: skip
    ax_c.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    for k, name in enumerate(table.columns):
        ax_c.plot(levels, table[name], "o-", color=_PALETTE(k), ms=3.5, label=name)
    ax_c.set_xlabel("nominal central interval")
    ax_c.set_ylabel("share of actuals inside")
    for axis in (ax_c.xaxis, ax_c.yaxis):
        axis.set_major_formatter(PercentFormatter(1.0))
    ax_c.set_title("Coverage by nominal level", fontsize=10)
    ax_c.grid(alpha=0.3)
    ax_c.legend(fontsize=8, loc="upper left")
    engine = forecasts.get("simengine", next(iter(forecasts.values())))
    pit = pit_values(engine, actual)
    ax_p.hist(pit, bins=np.linspace(0, 1, 6), color="tab:blue", alpha=0.7, edgecolor="white")
    ax_p.axhline(n / 5, color="black", linestyle="--", linewidth=0.8, label="uniform")
    ax_p.set_xlabel("PIT of the actual under the forecast")
    ax_p.set_title("PIT (flat = calibrated; U = too narrow; hump = too wide)", fontsize=10)
    ax_p.legend(fontsize=8)
    ax_p.grid(alpha=0.3)
    return finish_figure(fig, path)
