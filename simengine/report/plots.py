"""Plots from forecast datasets, drawn on a plain ``matplotlib.figure.Figure``.

No pyplot and no ``matplotlib.use``: importing this module leaves the caller's backend (a notebook's
inline backend, say) alone.  Files are written through the Agg canvas, which needs no screen.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from simengine.atomic import atomic_path

__all__ = ["fan_chart"]

_BANDS = ((0.1, 0.9, 0.25), (0.25, 0.75, 0.45))


def _money(value: float, _pos: int) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:,.1f}{suffix}"
    return f"{value:,.0f}"


def _fan(ax, x, samples: np.ndarray, color: str, label: str) -> None:
    """Draw P10-P90 and P25-P75 bands and the median of ``samples`` (draw, month)."""
    for lo, hi, alpha in _BANDS:
        q = np.nanquantile(samples, [lo, hi], axis=0)
        ax.fill_between(
            x,
            q[0],
            q[1],
            color=color,
            alpha=alpha,
            linewidth=0,
            label=f"{label} P{round(lo * 100)}-P{round(hi * 100)}",
        )
    ax.plot(x, np.nanmedian(samples, axis=0), color=color, linewidth=1.8, label=f"{label} P50")


def fan_chart(ds: xr.Dataset, path: str | Path | None = None, title: str | None = None):
    """Fan chart of monthly revenue (total and by segment) and trailing-12-month NRR/GRR.

    Returns the matplotlib Figure; writes a PNG when ``path`` is given.
    """
    x = ds["month"].values
    fig = Figure(figsize=(10, 8))
    ax_rev, ax_ret = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    total = ds["revenue"].sum("segment").transpose("draw", "month").values
    _fan(ax_rev, x, total, "tab:blue", "all")
    palette = matplotlib.colormaps["tab10"]
    for i, seg in enumerate(ds["segment"].values):
        med = ds["revenue"].sel(segment=seg).median("draw").values
        ax_rev.plot(x, med, color=palette(i + 1), linewidth=1.0, linestyle="--", label=f"{seg} P50")
    ax_rev.set_ylabel("revenue per month")
    ax_rev.yaxis.set_major_formatter(FuncFormatter(_money))
    ax_rev.set_title(title or "Forecast revenue (bands: P10-P90, P25-P75)")
    ax_rev.legend(loc="upper left", fontsize=8, ncol=2)
    ax_rev.grid(alpha=0.3)

    _fan(ax_ret, x, ds["nrr_total"].transpose("draw", "month").values, "tab:green", "NRR")
    _fan(ax_ret, x, ds["grr_total"].transpose("draw", "month").values, "tab:red", "GRR")
    ax_ret.axhline(1.0, color="black", linewidth=0.8)
    ax_ret.set_ylabel("trailing 12-month retention")
    ax_ret.legend(loc="center", fontsize=8, ncol=4)  # between the NRR and GRR fans
    ax_ret.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig


def save_figure(fig: Figure, path: str | Path, **savefig_kwargs) -> Path:
    """Write ``fig`` to ``path`` atomically through the Agg canvas (no pyplot, no backend switch)."""
    FigureCanvasAgg(fig)  # attaches itself to the figure: savefig then renders with Agg
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)
