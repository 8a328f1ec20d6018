"""Fan charts of a forecast (revenue, NRR/GRR) and of several scenarios' revenue on one axis.

Each is drawn on a plain ``matplotlib.figure.Figure`` (:mod:`simengine.report.figures` holds what
the charts share).  Every chart says what it shows: history and forecast on one axis with the
cut-off (``as_of``) marked, the currency on the money axis (``currency=`` names it, else the
forecast's ``currency`` attr; ``"currency"`` otherwise, never a ``$`` the data did not say), the
scenario and where its parameters came from (fitted posterior or config assumptions) in the title,
and legends outside the data.  Charts meant to sit side by side take shared limits
(:func:`shared_limits`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simengine.report.figures import (
    HISTORY_MONTHS,
    _as_of,
    _bridge,
    _date_ticks,
    _fan,
    _mark_cut_off,
    _quantile,
    example_assumptions_note,
    money_formatter,
    outside_legend,
    parameter_source,
    save_figure,
    scenario_label,
    slant_dates,
    unit_label,
)

__all__ = ["fan_chart", "scenario_fans", "shared_limits"]


def _observed_retention(ds: xr.Dataset, history_months: int | None):
    """``(months, {"nrr": values, "grr": values})`` of the observed pooled NRR/GRR, sliced as the
    revenue history is; ``None`` when the forecast has none (older files, or a history shorter
    than the two years a trailing-twelve-month ratio needs)."""
    if "history_nrr_total" not in ds:
        return None
    part = ds[["history_nrr_total", "history_grr_total"]]
    if history_months is not None:
        part = part.isel(history_month=slice(-history_months, None))
    values = {k: part[f"history_{k}_total"].values.astype(float) for k in ("nrr", "grr")}
    if not np.isfinite(values["nrr"]).any():
        return None
    return part["history_month"].values, values


def shared_limits(datasets, history_months: int | None = HISTORY_MONTHS) -> dict:
    """Y-limits that fit every forecast of ``datasets``: pass them to :func:`fan_chart` so fans
    placed side by side read on one scale.

    Revenue: 0 to 5% above the highest P90 of total monthly revenue (or observed month); retention:
    the lowest P10 to the highest P90 of NRR and GRR (and the observed ratios), padded by 5% of
    that span.

    Returns
    -------
    dict
        ``{"ylim": (bottom, top), "retention_ylim": (bottom, top)}``.
    """
    top, low, high = 0.0, np.inf, -np.inf
    for ds in datasets:
        total = ds["revenue"].sum("segment").transpose("draw", "month").values
        top = max(top, float(np.nanmax(_quantile(total, 0.9))))
        if "history_revenue" in ds:
            hist = ds["history_revenue"].sum("segment")
            if history_months is not None:
                hist = hist.isel(history_month=slice(-history_months, None))
            top = max(top, float(np.nanmax(hist.values)))
        for name in ("nrr_total", "grr_total"):
            band = _quantile(ds[name].transpose("draw", "month").values, [0.1, 0.9])
            if np.isfinite(band).any():
                low, high = min(low, float(np.nanmin(band))), max(high, float(np.nanmax(band)))
        observed = _observed_retention(ds, history_months)
        if observed is not None:
            both = np.concatenate(list(observed[1].values()))
            low, high = min(low, float(np.nanmin(both))), max(high, float(np.nanmax(both)))
    low, high = min(low, 1.0), max(high, 1.0)  # the 100% line stays in view
    pad = 0.05 * (high - low)
    return {"ylim": (0.0, 1.05 * top), "retention_ylim": (low - pad, high + pad)}


def fan_chart(
    ds: xr.Dataset,
    path: str | Path | None = None,
    title: str | None = None,
    *,
    currency: str | None = None,
    scenario: str | None = None,
    history_months: int | None = HISTORY_MONTHS,
    ylim: tuple[float, float] | None = None,
    retention_ylim: tuple[float, float] | None = None,
):
    """Fan chart of monthly revenue (total and by segment) and trailing-12-month NRR/GRR.

    The observed months before ``as_of`` (``history_revenue`` and the observed NRR/GRR
    ``history_nrr_total``/``history_grr_total``; older files show the forecast alone) are drawn on
    the same axes, the cut-off is marked, and the legends sit right of the axes.

    Parameters
    ----------
    ds : xarray.Dataset
        A forecast (``forecast.nc``): ``revenue`` (draw, month, segment), ``nrr_total`` and
        ``grr_total`` (draw, month), optionally ``history_revenue`` (history_month, segment).
    path : str or os.PathLike, optional
        Write a PNG there (atomically).
    title : str, optional
        Replaces the title (default: scenario, cut-off, draws and parameter source).
    currency : str, optional
        Currency code for the money axis (``USD`` also puts ``$`` on the ticks).
    scenario : str, optional
        Scenario name for the title (default: from the dataset's attrs).
    history_months : int or None
        Observed months shown before ``as_of``; None shows all.
    ylim, retention_ylim : tuple of float, optional
        Y-limits of the revenue and the retention axes, so fans placed side by side share
        their scales (:func:`shared_limits`); default: each chart's own.

    Returns
    -------
    matplotlib.figure.Figure
    """
    currency = currency or ds.attrs.get("currency") or None
    x = ds["month"].values
    as_of = _as_of(ds)
    fig = Figure(figsize=(11, 8))
    ax_rev, ax_ret = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    palette = matplotlib.colormaps["tab10"]
    if "history_revenue" in ds:
        hist = ds["history_revenue"]
        if history_months is not None:
            hist = hist.isel(history_month=slice(-history_months, None))
        hx = hist["history_month"].values
        ax_rev.plot(hx, hist.sum("segment").values, color="black", linewidth=1.6,
                    label="all, observed")  # fmt: skip
        for i, seg in enumerate(ds["segment"].values):
            ax_rev.plot(hx, hist.sel(segment=seg).values, color=palette(i + 1), linewidth=1.0,
                        label=f"{seg}, observed")  # fmt: skip
    revenue = ds["revenue"].transpose("draw", "month", "segment").values
    total = revenue.sum(axis=2)
    _fan(ax_rev, x, total, "tab:blue", "all")
    if "history_revenue" in ds:  # join the last observed month to the first forecast P50
        _bridge(ax_rev, hx[-1], float(hist.isel(history_month=-1).sum()), x[0],
                float(_quantile(total[:, 0], 0.5)), "tab:blue")  # fmt: skip
    medians = _quantile(revenue, 0.5)  # (month, segment)
    for i, seg in enumerate(ds["segment"].values):
        ax_rev.plot(x, medians[:, i], color=palette(i + 1), linewidth=1.0, linestyle="--",
                    label=f"{seg} P50")  # fmt: skip
    ax_rev.set_ylabel(unit_label("revenue per month", currency))
    ax_rev.yaxis.set_major_formatter(money_formatter(currency))
    ax_rev.set_ylim(*(ylim or (0, None)))
    scenario = scenario or scenario_label(ds.attrs)
    source = parameter_source(ds.attrs)
    ax_rev.set_title(
        title
        or f"{scenario}: revenue from {as_of:%Y-%m}, {ds.sizes['draw']:,} draws, "
        f"{source} parameters{example_assumptions_note(ds.attrs)} (bands P10-P90, P25-P75)",
        loc="left",
        fontsize=11,
    )
    _mark_cut_off(ax_rev, as_of, label=True)
    outside_legend(ax_rev)
    ax_rev.grid(alpha=0.3)

    observed = _observed_retention(ds, history_months)
    for name, color, dark in (("nrr", "tab:green", "darkgreen"), ("grr", "tab:red", "darkred")):
        draws = ds[f"{name}_total"].transpose("draw", "month").values
        _fan(ax_ret, x, draws, color, name.upper())
        if observed is not None:
            ox, values = observed[0], observed[1][name]
            ax_ret.plot(ox, values, color=dark, linewidth=1.6, label=f"{name.upper()}, observed")
            if np.isfinite(values[-1]):
                _bridge(ax_ret, ox[-1], float(values[-1]), x[0],
                        float(_quantile(draws[:, 0], 0.5)), color)  # fmt: skip
    ax_ret.axhline(1.0, color="black", linewidth=0.8)
    if retention_ylim is not None:
        ax_ret.set_ylim(*retention_ylim)
    _mark_cut_off(ax_ret, as_of, label=False)
    ax_ret.set_ylabel("trailing 12-month retention")
    ax_ret.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    span = "observed to as_of, then forecast" if observed is not None else "forecast months"
    ax_ret.set_title(f"{scenario}: NRR and GRR, trailing twelve months ({span})", loc="left",
                     fontsize=10)  # fmt: skip
    outside_legend(ax_ret)
    ax_ret.grid(alpha=0.3)
    _date_ticks(ax_ret, hx[0] if "history_revenue" in ds else x[0], x[-1])
    slant_dates(ax_ret)
    _fixed_layout(fig, [ax_rev, ax_ret])
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig


def _fixed_layout(fig: Figure, axes, *, left=0.95, top=0.4, bottom=0.65, gap=0.5,
                  pad=0.15) -> None:  # fmt: skip
    """Stack ``axes`` with fixed margins in inches and a right margin the widest legend fits in.

    Constrained layout measures every text of the figure in several passes (about a third of a
    fan chart's CPU); here only the legends are measured.  The left margin holds a money axis's
    tick labels and label, the bottom one slanted dates, ``gap`` an axes title.  The axes'
    height ratios stay those of their gridspec (``hspace`` is relative to their mean height).
    """
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in axes if ax.get_legend() is not None]
    width = max((leg.get_window_extent(renderer).width for leg in legends), default=0.0)
    w, h = fig.get_size_inches()
    right = (width / fig.dpi + 0.01 * w + pad) / w
    inner = h - top - bottom - gap * (len(axes) - 1)
    fig.subplots_adjust(
        left=left / w, right=1.0 - right, top=1.0 - top / h, bottom=bottom / h,
        hspace=gap / (inner / len(axes)),
    )  # fmt: skip


def scenario_fans(
    items,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    history_months: int | None = HISTORY_MONTHS,
    title: str | None = None,
):
    """Total monthly revenue of several scenarios on one axis: their P10-P90 bands and P50s, after
    the history they all continue (taken from the first dataset that holds it).

    Parameters
    ----------
    items : sequence of (str, xarray.Dataset)
        Scenario name and its forecast (as for :func:`fan_chart`).
    path : str or os.PathLike, optional
        Write a PNG there (atomically).
    currency : str, optional
        Currency code for the money axis.
    history_months : int or None
        Observed months shown before ``as_of``; None shows all.
    title : str, optional
        Replaces the default title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    items = list(items)
    currency = currency or items[0][1].attrs.get("currency") or None
    fig = Figure(figsize=(11, 5), layout="constrained")
    ax = fig.subplots()
    with_history = [ds for _, ds in items if "history_revenue" in ds]
    if with_history:
        hist = with_history[0]["history_revenue"].sum("segment")
        if history_months is not None:
            hist = hist.isel(history_month=slice(-history_months, None))
        ax.plot(hist["history_month"].values, hist.values, color="black", linewidth=1.6,
                label="observed")  # fmt: skip
    palette = matplotlib.colormaps["tab10"]
    for i, (name, ds) in enumerate(items):
        total = ds["revenue"].sum("segment").transpose("draw", "month").values
        q10, q50, q90 = np.nanquantile(total, [0.1, 0.5, 0.9], axis=0)
        x = ds["month"].values
        color = palette(i % 10)
        ax.fill_between(x, q10, q90, color=color, alpha=0.12, linewidth=0)
        ax.plot(x, q50, color=color, linewidth=1.6, label=f"{name} P50 (band P10-P90)")
        if with_history:
            _bridge(ax, hist["history_month"].values[-1], float(hist.values[-1]), x[0],
                    float(q50[0]), color)  # fmt: skip
    as_of = _as_of(items[0][1])
    _mark_cut_off(ax, as_of, label=True)
    sources = {parameter_source(ds.attrs) for _, ds in items}
    source = sources.pop() if len(sources) == 1 else "mixed"
    notes = {example_assumptions_note(ds.attrs) for _, ds in items}
    source += notes.pop() if len(notes) == 1 else " (some of the example company)"
    names = ", ".join(name for name, _ in items)
    ax.set_title(
        title or f"Revenue per month by scenario ({names}) from {as_of:%Y-%m}, {source} parameters",
        loc="left",
        fontsize=11,
        wrap=True,
    )
    ax.set_ylabel(unit_label("revenue per month", currency))
    ax.yaxis.set_major_formatter(money_formatter(currency))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    outside_legend(ax)
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig
