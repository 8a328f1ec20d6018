"""What every chart of the report shares: money and unit labels, titles from a run's attrs, the
history-then-forecast axis (bands, the cut-off, date ticks), legends outside the data, and
:func:`save_figure`.

No pyplot and no ``matplotlib.use``: importing this module leaves the caller's backend (a notebook's
inline backend, say) alone.  Files are written through the Agg canvas, which needs no screen.
The money axis names the currency given (``currency=``), else ``"currency"``: never a ``$`` the
data did not say.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from simengine.atomic import atomic_path

__all__ = [
    "CURRENCY_SYMBOLS",
    "HISTORY_MONTHS",
    "example_assumptions_note",
    "finish_figure",
    "money_formatter",
    "outside_legend",
    "parameter_source",
    "save_figure",
    "scenario_label",
    "slant_dates",
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


def save_figure(fig: Figure, path: str | Path, **savefig_kwargs) -> Path:
    """Write ``fig`` to ``path`` atomically through the Agg canvas (no pyplot, no backend switch)."""
    FigureCanvasAgg(fig)  # attaches itself to the figure: savefig then renders with Agg
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig_kwargs)
    return Path(path)


def finish_figure(fig: Figure, path: str | Path | None) -> Figure:
    """Tight layout, and a PNG at ``path`` when given (110 dpi, trimmed): the notebooks' charts."""
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=110, bbox_inches="tight")
    return fig
