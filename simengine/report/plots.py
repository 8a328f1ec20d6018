"""Plots from forecast datasets, drawn on a plain ``matplotlib.figure.Figure``.

No pyplot and no ``matplotlib.use``: importing this module leaves the caller's backend (a notebook's
inline backend, say) alone.  Files are written through the Agg canvas, which needs no screen.

Every chart says what it shows: history and forecast on one axis with the cut-off (``as_of``)
marked, the currency on the money axis (``currency=`` names it, else the forecast's ``currency``
attr; ``"currency"`` otherwise, never a ``$`` the data did not say), the scenario and where its
parameters came from (fitted posterior or config assumptions) in the title, and legends outside the
data.  Charts meant to sit side by side take shared limits (:func:`shared_limits`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simengine.atomic import atomic_path

__all__ = [
    "fan_chart",
    "retention_chart",
    "scenario_fans",
    "segment_chart",
    "shared_limits",
    "money_formatter",
    "example_assumptions_note",
    "parameter_source",
    "save_figure",
    "scenario_label",
    "unit_label",
]

_BANDS = ((0.1, 0.9, 0.25), (0.25, 0.75, 0.45))
#: Symbols put before tick values; any other code is named in the axis label only.
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CHF": "CHF "}
#: Months of history shown before ``as_of`` by default (the forecast stays readable beside it).
HISTORY_MONTHS = 36


def _money(value: float, _pos: int | None = None) -> str:
    """``1.5M``, ``500K``, ``2.3B``, ``950``: one decimal where it says something."""
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= div:
            return f"{value / div:,.1f}".removesuffix(".0") + suffix
    return f"{value:,.0f}"


def money_formatter(currency: str | None = None) -> FuncFormatter:
    """Tick formatter with K/M/B suffixes, prefixed by the currency's symbol when it has one."""
    symbol = CURRENCY_SYMBOLS.get((currency or "").upper(), "")
    return FuncFormatter(lambda v, pos=None: f"{'-' if v < 0 else ''}{symbol}{_money(abs(v))}")


def unit_label(what: str, currency: str | None = None) -> str:
    """``"revenue per month (USD)"``; a neutral ``(currency)`` when no currency is configured."""
    return f"{what} ({currency or 'currency'})"


def parameter_source(attrs) -> str:
    """``"fitted"`` when the run drew its parameters from a posterior, else ``"assumptions"``."""
    return "fitted" if str(attrs.get("parameters", "")).startswith("fitted") else "assumptions"


def example_assumptions_note(attrs) -> str:
    """Title suffix of a run on a user's book that simulated the example company's assumptions
    (``fit.posterior=none``), so no chart of it passes for a forecast of that book; else ``""``."""
    if "example company" in str(attrs.get("parameters", "")):
        return " of the example company (fit.posterior=none), NOT fitted to this book"
    return ""


def scenario_label(attrs, default: str = "default scenario") -> str:
    """The scenario a run simulated: its name, file stem, or ``default``; plus its staffing plan."""
    name = attrs.get("scenario") or (
        Path(str(attrs["scenario_file"])).stem if attrs.get("scenario_file") else default
    )
    staffing = attrs.get("staffing")
    if not staffing:
        return str(name)
    return f"{name} (staffing={staffing})" if name else f"staffing={staffing}"


def _quantile(samples: np.ndarray, q, axis: int = 0) -> np.ndarray:
    """``numpy.nanquantile``; its NaN-aware path loops in Python over every column, so arrays
    without NaN (the usual case) take ``numpy.quantile``, which gives the same values."""
    if np.isnan(samples).any():
        with warnings.catch_warnings():  # a ratio undefined in every draw stays NaN: a gap
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            return np.nanquantile(samples, q, axis=axis)
    return np.quantile(samples, q, axis=axis)


def _fan(ax, x, samples: np.ndarray, color: str, label: str) -> None:
    """Draw P10-P90 and P25-P75 bands and the median of ``samples`` (draw, month)."""
    quantiles = _quantile(
        samples, [lo for lo, _, _ in _BANDS] + [hi for _, hi, _ in _BANDS] + [0.5]
    )
    n = len(_BANDS)
    for i, (lo, hi, alpha) in enumerate(_BANDS):
        q = (quantiles[i], quantiles[n + i])
        ax.fill_between(
            x,
            q[0],
            q[1],
            color=color,
            alpha=alpha,
            linewidth=0,
            label=f"{label} P{round(lo * 100)}-P{round(hi * 100)}",
        )
    ax.plot(x, quantiles[-1], color=color, linewidth=1.8, label=f"{label} P50")


def _bridge(ax, x0, y0, x1, y1, color: str) -> None:
    """A thin line from the last observed month to the first forecast month (no legend entry)."""
    ax.plot([x0, x1], [y0, y1], color=color, linewidth=1.0, linestyle=":", label="_nolegend_")


def _as_of(ds: xr.Dataset):
    """The cut-off month as a timestamp: ``attrs['as_of']``, else the month before the forecast."""
    if ds.attrs.get("as_of"):
        return pd.Timestamp(str(ds.attrs["as_of"]) + "-01")
    first = pd.Timestamp(ds["month"].values[0])
    return first - pd.DateOffset(months=1)


def _mark_cut_off(ax, as_of, label: bool) -> None:
    ax.axvline(as_of, color="black", linewidth=0.9, linestyle=":")
    if label:
        ax.annotate(
            f"as_of {as_of:%Y-%m}",
            xy=(as_of, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize=8,
        )


def outside_legend(ax) -> None:
    """A legend right of the axes: it never covers the data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def slant_dates(ax) -> None:
    """Month tick labels slanted 30 degrees and right-aligned under their ticks."""
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


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


def _date_ticks(ax, first, last) -> None:
    """Year ticks over three years or more, else every few months: what matplotlib's
    ``AutoDateLocator`` picks for these spans, without its search at every draw."""
    from matplotlib.dates import DateFormatter, MonthLocator, YearLocator

    months = (pd.Timestamp(last) - pd.Timestamp(first)).days / 30.44
    if months >= 36:
        ax.xaxis.set_major_locator(YearLocator())
        ax.xaxis.set_major_formatter(DateFormatter("%Y"))
    else:
        ax.xaxis.set_major_locator(MonthLocator(interval=max(1, round(months / 8))))
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m"))


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


def save_figure(fig: Figure, path: str | Path, **savefig_kwargs) -> Path:
    """Write ``fig`` to ``path`` atomically through the Agg canvas (no pyplot, no backend switch)."""
    FigureCanvasAgg(fig)  # attaches itself to the figure: savefig then renders with Agg
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)
