"""Charts of a comparison: scenarios against their baseline, paired draw by draw.

Each takes the comparison's numbers (:mod:`simengine.compare`) and returns a plain
``matplotlib.figure.Figure``; ``path`` writes a PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simengine.report.figures import finish_figure, money_formatter, unit_label

__all__ = ["paired_differences"]

_PALETTE = matplotlib.colormaps["tab10"]


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
    from simengine.compare import fiscal_years

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
