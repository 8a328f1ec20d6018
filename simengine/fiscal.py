"""Fiscal years, quarters and months: how finance names the periods of a forecast.

``data.fiscal_year_start`` is the calendar month (1-12) a fiscal year starts in.  **A fiscal year
is named by the calendar year in which it ends**: with ``fiscal_year_start=1`` FY2026 is January to
December 2026; with ``fiscal_year_start=2`` FY2026 is February 2025 to January 2026; with ``4``,
April 2025 to March 2026.  Quarters are counted from the fiscal year's first month (``FY2026-Q1``);
months keep their calendar name (``2026-01``).

Months are the package's month numbers (``year * 12 + month - 1``, :mod:`simengine.data.months`).
:func:`periods` cuts a forecast's months into fiscal years, quarters or months; a period the
forecast covers only in part (the forecast starts or ends inside it) is still named and counted,
with the forecast months it holds (``start``/``stop``, an index range into the forecast's month
axis) and the months before the forecast (``actual``) that the book's history supplies.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "KINDS",
    "Period",
    "actual_periods",
    "YearChoice",
    "fiscal_year",
    "fiscal_year_first_month",
    "fiscal_year_label",
    "last_actual_year",
    "parse_year",
    "periods",
]

#: Period kinds, longest first: ``year`` (fiscal year), ``quarter`` (fiscal quarter), ``month``.
KINDS = ("year", "quarter", "month")
_LENGTH = {"year": 12, "quarter": 3, "month": 1}


def _check_start(start: int) -> int:
    start = int(start)
    if not 1 <= start <= 12:
        raise ValueError(f"fiscal_year_start must be a month 1-12, got {start}")
    return start


def fiscal_year(month: int, start: int = 1) -> int:
    """The fiscal year (named by the calendar year it ends in) that month number ``month`` is in."""
    start = _check_start(start)
    year, month0 = divmod(int(month), 12)
    return year + 1 if start > 1 and month0 >= start - 1 else year


def fiscal_year_first_month(fy: int, start: int = 1) -> int:
    """Month number of the first month of fiscal year ``fy``."""
    start = _check_start(start)
    return int(fy) * 12 + (start - 1) - (12 if start > 1 else 0)


def fiscal_year_label(fy: int) -> str:
    """``FY2026``."""
    return f"FY{int(fy):04d}"


def _format_month(number: int) -> str:
    year, month0 = divmod(int(number), 12)
    return f"{year:04d}-{month0 + 1:02d}"


@dataclass(frozen=True)
class Period:
    """One fiscal year, quarter or month of a forecast.

    Attributes
    ----------
    kind : str
        ``year``, ``quarter`` or ``month``.
    label : str
        ``FY2026``, ``FY2026-Q1`` or ``2026-01``.
    fiscal_year : int
        The fiscal year the period belongs to (2026 for all three examples).
    year_index : int
        That fiscal year's place among the forecast's fiscal years, 1 for the first; 0 for a fiscal
        year wholly before the forecast (:func:`last_actual_year`).
    first, last : int
        Month numbers of the period's first and last calendar month.
    start, stop : int
        The forecast months inside the period, as an index range into the forecast's month axis
        (``stop - start`` months; 0 for a period wholly before the forecast).
    actual : tuple of int
        Month numbers of the period's months before the forecast (up to ``as_of``): the book's
        history supplies them.
    """

    kind: str
    label: str
    fiscal_year: int
    year_index: int
    first: int
    last: int
    start: int
    stop: int
    actual: tuple[int, ...]

    @property
    def forecast_months(self) -> int:
        return self.stop - self.start

    @property
    def length(self) -> int:
        """Calendar months in the period (12, 3 or 1)."""
        return self.last - self.first + 1

    @property
    def first_label(self) -> str:
        return _format_month(self.first)

    @property
    def last_label(self) -> str:
        return _format_month(self.last)


def _label(kind: str, fy: int, first: int, start: int) -> str:
    if kind == "year":
        return fiscal_year_label(fy)
    if kind == "quarter":
        quarter = (first - fiscal_year_first_month(fy, start)) // 3 + 1
        return f"{fiscal_year_label(fy)}-Q{quarter}"
    return _format_month(first)


def periods(first_month: int, n_months: int, start: int = 1, kind: str = "year") -> list[Period]:
    """The fiscal years, quarters or months that forecast months ``first_month ..
    first_month + n_months - 1`` fall in, in order.

    Parameters
    ----------
    first_month : int
        Month number of the forecast's first month (``as_of + 1``).
    n_months : int
        Forecast months.
    start : int
        ``data.fiscal_year_start`` (1-12).
    kind : {"year", "quarter", "month"}

    Returns
    -------
    list of Period
        A period that starts before the forecast lists its earlier months in ``actual``; one that
        ends after it covers only the forecast months it holds (``stop - start < length``, and
        ``actual`` empty).
    """
    start = _check_start(start)
    if kind not in _LENGTH:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    first_month, n_months = int(first_month), int(n_months)
    step = _LENGTH[kind]
    fy0 = fiscal_year(first_month, start)
    out: list[Period] = []
    # Periods are aligned to the fiscal year's first month.
    anchor = fiscal_year_first_month(fy0, start)
    first = anchor + ((first_month - anchor) // step) * step
    end = first_month + n_months  # one past the last forecast month
    while first < end:
        last = first + step - 1
        fy = fiscal_year(first, start)
        lo = max(first, first_month) - first_month
        hi = min(last + 1, end) - first_month
        out.append(
            Period(
                kind=kind,
                label=_label(kind, fy, first, start),
                fiscal_year=fy,
                year_index=fy - fy0 + 1,
                first=first,
                last=last,
                start=lo,
                stop=hi,
                actual=tuple(range(first, first_month)),
            )
        )
        first += step
    return out


def last_actual_year(first_month: int, start: int = 1) -> Period:
    """The last fiscal year that ends before the forecast's first month: wholly actual.

    With a forecast from 2026-01 and ``start=1`` that is FY2025; from 2026-04 it is still FY2025
    (FY2026 is then part actual, part forecast).
    """
    start = _check_start(start)
    fy = fiscal_year(int(first_month), start) - 1
    first = fiscal_year_first_month(fy, start)
    return Period(
        kind="year",
        label=fiscal_year_label(fy),
        fiscal_year=fy,
        year_index=0,
        first=first,
        last=first + 11,
        start=0,
        stop=0,
        actual=tuple(range(first, first + 12)),
    )


def actual_periods(first_month: int, start: int = 1, kind: str = "quarter") -> list[Period]:
    """The quarters or months of the forecast's first fiscal year that end before the forecast
    starts (wholly actual), in order; ``year_index`` 1 (they belong to the first fiscal year)."""
    start = _check_start(start)
    step = _LENGTH[kind]
    fy = fiscal_year(int(first_month), start)
    out = []
    first = fiscal_year_first_month(fy, start)
    while first + step - 1 < int(first_month):
        out.append(
            Period(
                kind=kind,
                label=_label(kind, fy, first, start),
                fiscal_year=fy,
                year_index=1,
                first=first,
                last=first + step - 1,
                start=0,
                stop=0,
                actual=tuple(range(first, first + step)),
            )
        )
        first += step
    return out


@dataclass(frozen=True)
class YearChoice:
    """What ``compare.year`` picks: ``indices`` (1-based fiscal-year indices), or every year."""

    indices: tuple[int, ...]
    every: bool

    def __contains__(self, index: object) -> bool:
        return self.every or index in self.indices


_FY = re.compile(r"^\s*FY\s*(\d{2}|\d{4})\s*$", re.IGNORECASE)


def parse_year(value: object, labels: Sequence[str], key: str = "compare.year") -> YearChoice:
    """Parse ``compare.year``: a fiscal-year index (``1`` .. ``N``), a label (``FY2026``, ``FY26``,
    ``2026``) or ``all``.

    Parameters
    ----------
    value : str or int
    labels : sequence of str
        The forecast's fiscal-year labels in order (``FY2026``, ``FY2027``, ...): index ``i`` is
        ``labels[i - 1]``.

    Raises
    ------
    ValueError
        One line naming the key, the value and the years there are.
    """
    text = str(value).strip()
    labels = [str(label) for label in labels]
    if text.lower() == "all":
        return YearChoice(tuple(range(1, len(labels) + 1)), True)
    years = [int(label[2:]) for label in labels]
    index = None
    match = _FY.match(text)
    if match:
        digits = match.group(1)
        wanted = int(digits)
        hits = [i for i, y in enumerate(years, 1) if (y if len(digits) == 4 else y % 100) == wanted]
        index = hits[0] if len(hits) == 1 else None
    elif text.isdigit():
        number = int(text)
        if 1 <= number <= len(labels):
            index = number
        elif number in years:
            index = years.index(number) + 1
    if index is None:
        shown = ", ".join(f"{i} = {label}" for i, label in enumerate(labels, 1))
        raise ValueError(
            f"config key '{key}' = {text!r}: not a forecast year; the forecast's fiscal years are "
            f"{shown} (a number, a label, or all)"
        )
    return YearChoice((index,), False)
