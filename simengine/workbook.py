"""Spreadsheets finance pastes from: ``summary.xlsx`` (every run) and ``comparison.xlsx``
(``simengine compare``), and the plain-decimal CSVs beside them.

Numbers are written as numbers (never text) with number formats that carry the run's currency
(``[$EUR] #,##0``: Excel and LibreOffice show ``EUR 1,234,567`` and still sum the cell); ratios as
percentages, counts as whole numbers.  The figures are those of the CSVs, to the cent, so a cell
and its CSV row agree exactly.

``summary.xlsx`` sheets: ``Summary`` (fiscal years side by side: the last actual year, then P10 /
P50 / P90 and growth of each forecast year, per segment), ``Quarterly`` and ``Monthly`` (the rows
of ``summary_quarterly.csv`` / ``summary_monthly.csv``), ``Accounts`` (``accounts_forecast.csv``),
``Signals`` (``signals.csv``) and ``Assumptions`` (provenance, the command-line overrides and the
resolved config, one key a row).  ``comparison.xlsx``: ``Comparison`` (``comparison.csv``),
``Scenarios`` (each scenario's provenance), ``Frontier`` for a staffing-mix sweep, and
``Assumptions``.

Files are written atomically and are the same bytes for the same inputs: the workbook's dates are
the run's ``created_at`` (which ``SOURCE_DATE_EPOCH`` pins) and the zip entries carry a fixed time.
"""

from __future__ import annotations

import datetime as _dt
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "comparison_workbook",
    "money_format",
    "run_workbook",
    "save_workbook",
]

#: Number formats by kind of number (money takes the currency, :func:`money_format`).
PERCENT = "0.0%"
GROWTH = "+0.0%;-0.0%;0.0%"
COUNT = "#,##0"
MULTIPLE = "0.00"
_CODE = re.compile(r"^[A-Za-z]{3}$")


def money_format(currency: str | None, decimals: int = 0) -> str:
    """Excel number format for money in ``currency``: ``[$EUR] #,##0`` for a code, ``"kr" #,##0``
    for another label, ``#,##0`` when the currency is not known."""
    digits = "#,##0" + ("." + "0" * decimals if decimals else "")
    if not currency or currency == "currency":
        return digits
    if _CODE.match(currency):
        return f"[${currency.upper()}] {digits}"
    label = currency.replace('"', "")
    return f'"{label}" {digits}'


# ----------------------------------------------------------------------------------------------
# Cells
#
# Workbooks are written in openpyxl's write-only mode (rows stream to the file as they are
# appended; without lxml, openpyxl's serialiser costs ~10-20 us a cell, so sheets are laid out
# compact: periods across columns).  A sheet is set up (widths, frozen panes, filter) before its
# first row.


class _Writer:
    """Appends rows of ``(value, number_format | None)`` to a write-only sheet, reusing one styled
    cell per (column, format, bold): a row is serialised when appended, so a cell object can carry
    the next row's value."""

    def __init__(self, ws):
        self.ws = ws
        self._cells: dict[tuple, object] = {}

    def _cell(self, col: int, fmt: str | None, bold: bool):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font, PatternFill

        key = (col, fmt, bold)
        cell = self._cells.get(key)
        if cell is None:
            cell = WriteOnlyCell(self.ws)
            if fmt:
                cell.number_format = fmt
            if bold:
                cell.font = Font(bold=True)
                cell.fill = PatternFill("solid", fgColor="DDE4EE")
            self._cells[key] = cell
        return cell

    def row(self, values: Sequence, formats: Sequence[str | None] = (), bold: bool = False):
        cells = []
        for col, v in enumerate(values):
            fmt = formats[col] if col < len(formats) else None
            value = _value(v)
            if fmt is None and not bold:
                cells.append(value)
                continue
            cell = self._cell(col, fmt, bold)
            cell.value = value
            cells.append(cell)
        self.ws.append(cells)


def _setup(ws, widths: Sequence[float], freeze: str | None = None, filter_ref: str | None = None):
    """Column widths, frozen panes and an auto-filter: before the sheet's first row."""
    from openpyxl.utils import get_column_letter

    for col, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(col)].width = width
    if freeze:
        ws.freeze_panes = freeze
    if filter_ref:
        ws.auto_filter.ref = filter_ref
    return _Writer(ws)


def _value(v):
    """A cell value: numbers as Python numbers, missing as empty, the rest as text."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v) if np.isfinite(v) else None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _table_sheet(wb, title: str, frame: pd.DataFrame, formats: dict[str, object]) -> None:
    """A sheet holding ``frame`` under a header row; ``formats``: column -> number format, or a
    callable ``record -> format`` (a format that depends on the row, e.g. its unit)."""
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    columns = list(frame.columns)
    n = len(frame)
    last = get_column_letter(max(1, len(columns)))
    out = _setup(
        ws,
        [max(10.0, min(40.0, len(str(c)) + 2.0)) for c in columns],
        freeze="A2",
        filter_ref=f"A1:{last}{n + 1}" if n else None,
    )
    out.row(columns, bold=True)
    fixed = [f if isinstance(f := formats.get(c), str) else None for c in columns]
    by_row = [(i, f) for i, c in enumerate(columns) if callable(f := formats.get(c))]
    for record in frame.to_dict("records"):
        row_formats = list(fixed)
        for i, f in by_row:
            row_formats[i] = f(record)
        out.row([record[c] for c in columns], row_formats)


def _unit_format(currency: str | None, decimals: int = 0):
    money = money_format(currency, decimals)
    return {"money": money, "count": COUNT, "ratio": PERCENT, "multiple": MULTIPLE}


def _flatten(tree, prefix: str = "") -> list[tuple[str, object]]:
    """A nested config as ``(dotted.key, value)`` rows (lists as text)."""
    if isinstance(tree, dict):
        out: list[tuple[str, object]] = []
        for key, value in tree.items():
            out += _flatten(value, f"{prefix}{key}.")
        return out or [(prefix.rstrip("."), "{}")]
    if isinstance(tree, list | tuple):
        return [(prefix.rstrip("."), str(list(tree)))]
    return [(prefix.rstrip("."), tree if isinstance(tree, int | float | str | bool) else str(tree))]


def _config_rows(config_yaml: str) -> list[tuple[str, object]]:
    import yaml

    try:
        tree = yaml.safe_load(config_yaml or "") or {}
    except yaml.YAMLError:
        return [("config", config_yaml)]
    return _flatten(tree) if isinstance(tree, dict) else [("config", config_yaml)]


def _key_value_sheet(wb, title: str, blocks: Sequence[tuple[str, Sequence[tuple[str, object]]]]):
    """Two columns, key and value, in titled blocks."""
    ws = wb.create_sheet(title)
    out = _setup(ws, [38.0, 90.0])
    for i, (heading, rows) in enumerate(blocks):
        if i:
            out.row([])
        out.row([heading, ""], bold=True)
        for key, value in rows:
            out.row([key, value])


# ----------------------------------------------------------------------------------------------
# summary.xlsx


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")  # fmt: skip


def _order(metric: str) -> int:
    from simengine.rollups import METRIC_ORDER

    return METRIC_ORDER.get(metric, len(METRIC_ORDER))


def _label(metric: str, period: str = "year") -> str:
    """The metric's name as tables show it, for a fiscal year or (``period``) a quarter or month."""
    from simengine.rollups import METRIC_LABELS

    label = METRIC_LABELS.get(metric, metric)
    if period != "year":
        label = label.replace("(year end)", "(period end)").replace(" (year)", "")
    return label


def _summary_sheet(wb, year: pd.DataFrame, attrs: dict, currency: str | None) -> None:
    """Fiscal years side by side, a row per (segment, metric): the last actual year, then P10,
    P50, P90 and growth (P50) of each forecast year."""
    from simengine.rollups import UNIT

    start = int(attrs.get("fiscal_year_start", 1) or 1)
    actual = year[year["source"] == "actual"]
    forecast = year[(year["source"] != "actual") & year["year"].notna()]
    whole = year[year["year"].isna()]
    fys = list(forecast.drop_duplicates("year")[["year", "period", "months"]].itertuples())
    names = ["Metric", "Segment"]
    if len(actual):
        names.append(f"{actual['period'].iloc[0]} actual")
    for y in fys:
        tag = "" if y.months == 12 else f" ({y.months} mo)"
        names += [f"{y.period} P10{tag}", f"{y.period} P50{tag}", f"{y.period} P90{tag}",
                  f"{y.period} growth"]  # fmt: skip
    ws = wb.create_sheet("Summary")
    out = _setup(ws, [32.0, 14.0, *[15.0] * (len(names) - 2)], freeze="C5")
    out.row([f"{attrs.get('scenario') or 'Forecast'} from {attrs.get('as_of', '?')}: fiscal "
             f"years start in {_MONTH_NAMES[start - 1]}, each named by the calendar year it ends "
             f"in; money in {currency or 'currency'}"], bold=True)  # fmt: skip
    out.row(["Flows summed over the year; ARR, NRR, GRR and customers at its last month. P50 is "
             "the median over draws of the year's value (quantiles of sums: the quarters' P50s do "
             "not add up to the year's); growth is the P50 of each draw's change on the year "
             "before."])  # fmt: skip
    out.row([])
    out.row(names, bold=True)
    units = _unit_format(currency)
    f_index = {(r.segment, r.metric, r.year): r for r in forecast.itertuples()}
    a_index = {(r.segment, r.metric): r for r in actual.itertuples()}
    metrics = sorted(set(forecast["metric"]), key=_order)
    for seg in dict.fromkeys(forecast["segment"]):
        for metric in metrics:
            if not any((seg, metric, y.year) in f_index for y in fys):
                continue
            unit = units[UNIT.get(metric, "multiple")]
            # A row that covers fewer months than its year (cost: the forecast months only).
            short = [f"{y.period}: {f.months} mo" for y in fys
                     if (f := f_index.get((seg, metric, y.year))) is not None
                     and f.months != y.months]  # fmt: skip
            label = _label(metric) + (f" [{', '.join(short)}]" if short else "")
            values: list = [label, seg]
            formats: list = [None, None]
            if len(actual):
                a = a_index.get((seg, metric))
                values.append(None if a is None else a.p50)
                formats.append(unit)
            for y in fys:
                f = f_index.get((seg, metric, y.year))
                values += [None] * 4 if f is None else [f.p10, f.p50, f.p90, f.growth_p50]
                formats += [unit, unit, unit, GROWTH]
            out.row(values, formats)
    first = 3 + (1 if len(actual) else 0)
    for r in whole.itertuples():
        pad = [None] * (first - 3)
        out.row([_label(r.metric) + " (whole run)", r.segment, *pad, r.p10, r.p50, r.p90],
                [None, None, *pad, MULTIPLE, MULTIPLE, MULTIPLE])  # fmt: skip


def _periods_sheet(wb, title: str, table: pd.DataFrame, currency: str | None) -> None:
    """Periods across columns: a row per (segment, metric, statistic), P10 / P50 / P90."""
    from simengine.rollups import UNIT

    heads = table.drop_duplicates("period")
    periods = list(heads["period"])
    ws = wb.create_sheet(title)
    out = _setup(ws, [32.0, 14.0, 10.0, *[13.0] * len(periods)], freeze="D4")
    out.row(["Metric", "Segment", "Statistic", *periods], bold=True)
    out.row(["", "", "months", *heads["months"]])
    out.row(["", "", "of them actual", *heads["actual_months"]])
    units = _unit_format(currency)
    column = {p: i for i, p in enumerate(periods)}
    for (seg, metric), part in sorted(
        table.groupby(["segment", "metric"], sort=False),
        key=lambda kv: (kv[0][0] != "all", kv[0][0], _order(kv[0][1])),
    ):
        unit = units[UNIT.get(metric, "multiple")]
        cols = [column[p] for p in part["period"]]
        for q in ("p10", "p50", "p90"):
            values: list = [None] * len(periods)
            for c, v in zip(cols, part[q].to_numpy(), strict=True):
                values[c] = v
            out.row([_label(metric, title), seg, q.upper(), *values],
                    [None, None, None, *[unit] * len(periods)])  # fmt: skip


def _accounts_formats(currency: str | None) -> dict[str, str]:
    money = money_format(currency, 2)
    out = {c: money for c in ("revenue_last", "revenue_next12_p10", "revenue_next12_p50",
                              "revenue_next12_p90", "revenue_next12_mean", "expected_overage_12m",
                              "expected_leak_12m", "revenue_at_risk_12m")}  # fmt: skip
    out |= {c: PERCENT for c in ("p_churn_3m", "p_churn_12m", "p_overage_12m", "p_leak_12m",
                                 "usage_trend", "usage_yoy", "probability")}  # fmt: skip
    out["expected_new_use_cases_12m"] = "0.00"
    return out


def run_workbook(
    ds,
    tables: dict[str, pd.DataFrame],
    accounts: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    overrides: Sequence[str] = (),
):
    """The ``summary.xlsx`` workbook of a run (a write-only ``openpyxl.Workbook``, not saved).

    Parameters
    ----------
    ds : xarray.Dataset
        The run's forecast (its attrs: provenance and config).
    tables : dict
        :func:`simengine.rollups.rollup_tables`: ``year``, ``quarter``, ``month``.
    accounts, signals : pandas.DataFrame, optional
        ``accounts_forecast.csv`` and ``signals.csv`` as written.
    overrides : sequence of str
        The command line's overrides (``.hydra/overrides.yaml``), for the Assumptions sheet.
    """
    from openpyxl import Workbook

    attrs = dict(ds.attrs)
    currency = attrs.get("currency") or None
    wb = Workbook(write_only=True)
    _summary_sheet(wb, tables["year"], attrs, currency)
    _periods_sheet(wb, "Quarterly", tables["quarter"], currency)
    _periods_sheet(wb, "Monthly", tables["month"], currency)
    formats = _accounts_formats(currency)
    if accounts is not None:
        _table_sheet(wb, "Accounts", accounts, formats)
    if signals is not None:
        money = money_format(currency, 2)
        sig = formats | {
            "value": lambda row: PERCENT if row["value_name"] == "usage_trend" else money
        }
        _table_sheet(wb, "Signals", signals, sig)
    rows = [("draws", int(ds.sizes.get("draw", 0))),
            ("forecast months", int(ds.sizes.get("month", 0)))]  # fmt: skip
    names = {"overrides": "replaced fitted or assumed values"}
    rows += [(names.get(k, k), attrs[k]) for k in _PROVENANCE if k in attrs]
    _key_value_sheet(
        wb,
        "Assumptions",
        [
            ("Run", rows),
            ("Command-line overrides", [("", o) for o in overrides] or [("", "(none)")]),
            ("Resolved config", _config_rows(str(attrs.get("config", "")))),
        ],
    )
    return wb


#: Provenance attrs on the Assumptions sheet, in this order (those the run has).
_PROVENANCE = (
    "scenario", "scenario_file", "as_of", "fiscal_year_start", "currency", "seed", "data_hash",
    "data_source", "parameters", "posterior", "posterior_data_hash", "posterior_created_at",
    "posterior_method", "posterior_gate", "overrides", "fitted_parameters", "default_segments",
    "market", "staffing", "comp", "prices", "use_case_process", "neutral_effects", "notes",
    "config_hash", "simengine_version", "created_at",
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# comparison.xlsx

#: Kind of number of each compared metric; unknown metrics get a general format.
COMPARE_UNITS = {
    "revenue": "money", "arr": "money", "total_cost": "money", "nrr": "ratio", "grr": "ratio",
    "gross_margin": "ratio", "new_logos": "count", "revenue_per_sm_dollar": "multiple",
    "expansion_multiple": "multiple", "cac_payback_months": "multiple",
}  # fmt: skip


def comparison_workbook(
    table: pd.DataFrame,
    scenarios: pd.DataFrame,
    settings: Sequence[tuple[str, object]],
    currency: str | None,
    frontier: pd.DataFrame | None = None,
):
    """The ``comparison.xlsx`` workbook (write-only, not saved).

    Parameters
    ----------
    table : pandas.DataFrame
        ``comparison.csv``'s rows.
    scenarios : pandas.DataFrame
        One row per scenario: label and provenance (job, seed, config and data hashes).
    settings : sequence of (key, value)
        The comparison's settings (baseline, ``compare.*`` keys, paths) for the Assumptions sheet.
    currency : str, optional
    frontier : pandas.DataFrame, optional
        ``frontier.csv``'s rows.
    """
    from openpyxl import Workbook

    units = _unit_format(currency, 2)

    def value(row):
        return units.get(COMPARE_UNITS.get(row["metric"], ""), None)

    def diff(row):
        unit = COMPARE_UNITS.get(row["metric"], "")
        return GROWTH if unit == "ratio" else units.get(unit, None)

    wb = Workbook(write_only=True)
    formats = {q: value for q in ("p10", "p50", "p90")}
    formats |= {q: diff for q in ("diff_p10", "diff_p50", "diff_p90")}
    formats |= {"p_better": PERCENT, "mcse_p_better": PERCENT}
    _table_sheet(wb, "Comparison", table, formats)
    _table_sheet(wb, "Scenarios", scenarios, {})
    if frontier is not None and len(frontier):
        _table_sheet(wb, "Frontier", frontier, {})
    _key_value_sheet(wb, "Assumptions", [("Comparison", list(settings))])
    return wb


# ----------------------------------------------------------------------------------------------
# Saving


class _FixedTimeZip(zipfile.ZipFile):
    """A zip whose entries carry a fixed time, so the same workbook is the same bytes."""

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = self.compression if compress_type is None else compress_type
            info.external_attr = 0o644 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        # openpyxl streams write-only sheets through temporary files: store their bytes instead,
        # under the fixed time.
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes(), compress_type)


def save_workbook(wb, path: str | Path, created_at: str | None = None) -> Path:
    """Save ``wb`` to ``path`` atomically; ``created_at`` (ISO, UTC) dates the workbook."""
    from openpyxl.writer.excel import ExcelWriter

    from simengine.atomic import atomic_path

    when = None
    if created_at:
        try:
            when = _dt.datetime.fromisoformat(created_at).astimezone(_dt.UTC).replace(tzinfo=None)
        except ValueError:
            when = None
    when = when or _dt.datetime(1980, 1, 1)
    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.creator = "simengine"
    with atomic_path(path) as tmp:
        archive = _FixedTimeZip(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        ExcelWriter(wb, archive).save()
    return Path(path)
