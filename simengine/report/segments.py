"""Revenue by segment and calendar year, and NRR/GRR by segment: observed, then forecast.

Each chart takes a forecast dataset and returns a plain ``matplotlib.figure.Figure``; ``path``
writes a PNG (:func:`simengine.report.figures.save_figure`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simengine.report.figures import (
    HISTORY_MONTHS,
    _as_of,
    _date_ticks,
    _fan,
    _mark_cut_off,
    _quantile,
    example_assumptions_note,
    money_formatter,
    outside_legend,
    save_figure,
    scenario_label,
    slant_dates,
    unit_label,
)

__all__ = ["retention_chart", "segment_chart"]


def _calendar_years(ds: xr.Dataset, history_years: int):
    """Per calendar year: its label, whether any month is forecast, and per draw and segment its
    revenue (observed months plus the forecast's months of that year).

    Years shown: the last ``history_years`` complete observed years, then every year the forecast
    touches.  A year the data and the horizon do not cover whole is labelled with its months.
    """
    revenue = ds["revenue"].transpose("draw", "month", "segment").values
    f_months = pd.DatetimeIndex(ds["month"].values)
    n_draws, n_seg = revenue.shape[0], revenue.shape[2]
    if "history_revenue" in ds:
        hist = ds["history_revenue"].transpose("history_month", "segment")
        h_months = pd.DatetimeIndex(hist["history_month"].values)
        h_values = hist.values
    else:
        h_months, h_values = pd.DatetimeIndex([]), np.zeros((0, n_seg))
    full_observed = [y for y in sorted(set(h_months.year)) if (h_months.year == y).sum() == 12
                     and y < f_months[0].year]  # fmt: skip
    years = full_observed[-history_years:] if history_years else []
    years += sorted(set(f_months.year))
    out = []
    for year in years:
        in_hist, in_fc = h_months.year == year, f_months.year == year
        values = np.broadcast_to(h_values[in_hist].sum(axis=0), (n_draws, n_seg)).copy()
        values += revenue[:, in_fc, :].sum(axis=1)
        months = int(in_hist.sum() + in_fc.sum())
        label = str(year) + ("" if months == 12 else f" ({months} mo)")
        out.append((label, bool(in_fc.any()), bool(in_hist.any()), values))
    return out


def segment_chart(
    ds: xr.Dataset,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    scenario: str | None = None,
    history_years: int = 2,
    ylim: tuple[float, float] | None = None,
):
    """Revenue by segment and calendar year: observed years, then the forecast's (P50 per segment,
    stacked), the total's P10-P90 as a whisker and each segment's share written in its bar.

    A year that straddles ``as_of`` adds its observed months to the forecast ones.  Stacked
    segment P50s need not add up to the total's P50 (medians do not add); the label above a bar
    is the total's P50.

    Parameters
    ----------
    ds : xarray.Dataset
        A forecast: ``revenue`` (draw, month, segment), optionally ``history_revenue``.
    path : str or os.PathLike, optional
        Write a PNG there (atomically).
    currency, scenario : str, optional
        As for :func:`fan_chart`.
    history_years : int
        Complete observed calendar years shown before the forecast's first year.
    ylim : tuple of float, optional
        Y-limits (shared with other scenarios' charts).

    Returns
    -------
    matplotlib.figure.Figure
    """
    currency = currency or ds.attrs.get("currency") or None
    scenario = scenario or scenario_label(ds.attrs)
    years = _calendar_years(ds, history_years)
    segments = [str(s) for s in ds["segment"].values]
    palette = matplotlib.colormaps["tab10"]
    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(years))
    for i, (_, forecast, _, values) in enumerate(years):
        p50 = np.median(values, axis=0)
        total = values.sum(axis=1)
        bottom = 0.0
        for k, seg in enumerate(segments):
            ax.bar(i, p50[k], bottom=bottom, width=0.7, color=palette(k + 1),
                   alpha=0.7 if forecast else 1.0, edgecolor="white", linewidth=0.5,
                   label=seg if i == 0 else "_nolegend_")  # fmt: skip
            share = p50[k] / max(p50.sum(), 1e-12)
            if share >= 0.06:
                ax.text(i, bottom + p50[k] / 2, f"{share:.0%}", ha="center", va="center",
                        fontsize=8, color="black")  # fmt: skip
            bottom += p50[k]
        mid, top = float(np.median(total)), bottom
        if forecast:
            lo, hi = np.quantile(total, [0.1, 0.9])
            ax.errorbar(i, mid, yerr=[[mid - lo], [hi - mid]], color="black", capsize=4,
                        linewidth=1.0, label="total P10-P90" if i == x[-1] else None)  # fmt: skip
            top = max(top, hi)
        ax.annotate(money_formatter(currency)(mid), xy=(i, top), xytext=(0, 4),
                    textcoords="offset points", ha="center", fontsize=8, fontweight="bold")  # fmt: skip
    first = next((i for i, (_, forecast, *_) in enumerate(years) if forecast), None)
    if first:  # between the last observed year and the first with forecast months
        ax.axvline(first - 0.5, color="black", linewidth=0.9, linestyle=":")
    kinds = ["observed" if not f else ("observed + forecast" if o else "forecast P50")
             for _, f, o, _ in years]  # fmt: skip
    ax.set_xticks(x, [f"{label}\n{kind}" for (label, *_), kind in zip(years, kinds, strict=True)],
                  fontsize=8)  # fmt: skip
    ax.set_ylabel(unit_label("revenue per year", currency))
    ax.yaxis.set_major_formatter(money_formatter(currency))
    if ylim is not None:
        ax.set_ylim(*ylim)
    else:
        ax.set_ylim(bottom=0)
        ax.margins(y=0.08)
    ax.set_title(
        f"{scenario}: revenue by segment and calendar year ({currency or 'currency'}; forecast "
        f"years pale: P50 per segment, whisker the total's P10-P90; labels: total P50, "
        f"segment share){example_assumptions_note(ds.attrs)}",
        loc="left", fontsize=10, wrap=True,
    )  # fmt: skip
    ax.grid(alpha=0.3, axis="y")
    outside_legend(ax)
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig


def retention_chart(
    ds: xr.Dataset,
    path: str | Path | None = None,
    *,
    scenario: str | None = None,
    history_months: int | None = HISTORY_MONTHS,
    ylim: tuple[float, float] | None = None,
):
    """NRR (left) and GRR (right), trailing twelve months: observed up to ``as_of`` and the
    forecast after it, all segments (P10-P90 band, P50) and each segment (observed, P50).

    Parameters
    ----------
    ds : xarray.Dataset
        A forecast: ``nrr``/``grr`` (draw, month, segment), ``nrr_total``/``grr_total``,
        optionally the observed ``history_nrr``/``history_grr`` (and their ``_total``).
    path : str or os.PathLike, optional
        Write a PNG there (atomically).
    scenario : str, optional
        Scenario name for the title (default: from the dataset's attrs).
    history_months : int or None
        Observed months shown before ``as_of``; None shows all.
    ylim : tuple of float, optional
        One y-range for both panels; default: each panel its own.

    Returns
    -------
    matplotlib.figure.Figure
    """
    scenario = scenario or scenario_label(ds.attrs)
    as_of = _as_of(ds)
    x = ds["month"].values
    palette = matplotlib.colormaps["tab10"]
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    has_history = "history_nrr" in ds
    for ax, name in zip(axes, ("nrr", "grr"), strict=True):
        draws = ds[f"{name}_total"].transpose("draw", "month").values
        _fan(ax, x, draws, "tab:blue", "all")
        if has_history:
            hist = ds[[f"history_{name}", f"history_{name}_total"]]
            if history_months is not None:
                hist = hist.isel(history_month=slice(-history_months, None))
            hx = hist["history_month"].values
            ax.plot(hx, hist[f"history_{name}_total"].values, color="black", linewidth=1.6,
                    label="all, observed")  # fmt: skip
        medians = _quantile(ds[name].transpose("draw", "month", "segment").values, 0.5)
        for i, seg in enumerate(ds["segment"].values):
            if has_history:
                ax.plot(hx, hist[f"history_{name}"].sel(segment=seg).values, linewidth=1.0,
                        color=palette(i + 1), label=f"{seg}, observed")  # fmt: skip
            ax.plot(x, medians[:, i], color=palette(i + 1), linewidth=1.0, linestyle="--",
                    label=f"{seg} P50")  # fmt: skip
        ax.axhline(1.0, color="black", linewidth=0.8)
        _mark_cut_off(ax, as_of, label=True)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.set_title(f"{name.upper()}, trailing twelve months", loc="left", fontsize=10)
        ax.grid(alpha=0.3)
        _date_ticks(ax, hx[0] if has_history else x[0], x[-1])
        slant_dates(ax)
    axes[0].set_ylabel("revenue retained (trailing twelve months)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    span = "observed to as_of, then forecast" if has_history else "forecast months"
    fig.suptitle(
        f"{scenario}: NRR and GRR by segment, {span}{example_assumptions_note(ds.attrs)}",
        x=0.01, horizontalalignment="left", fontsize=11, wrap=True,
    )  # fmt: skip
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig
