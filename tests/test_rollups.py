"""Rollups by fiscal year, quarter and month (simengine.rollups), the book's actuals beside them
(simengine.actuals), and the workbook that carries them (simengine.workbook)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simengine.rollups import period_draws
from tests.conftest import SMALL

#: Flows: a fiscal year's value in a draw is the sum of its quarters' and months' values.
FLOWS = ("revenue", "installed_base_revenue", "new_logo_revenue", "new_logos", "churned_accounts",
         "total_cost")  # fmt: skip
#: Stocks: a fiscal year's value is that of its last quarter and its last month.
STOCKS = ("arr", "nrr", "grr", "active_accounts", "post_sales_share")


@pytest.fixture(scope="module")
def feb_run(tmp_path_factory):
    """The small synthetic book (as_of 2026-10, 24 months of history) with February fiscal years,
    15 forecast months (2026-11 .. 2028-01): FY2027 (Feb 2026 - Jan 2027) is nine months of book
    and three of forecast, FY2028 twelve of forecast; FY2026 is the last actual year."""
    import simengine
    from simengine.api import write_run_outputs

    ds = simengine.simulate([*SMALL, "data.fiscal_year_start=2"])
    out = tmp_path_factory.mktemp("feb") / "run"
    write_run_outputs(ds, out, overrides=["data.fiscal_year_start=2"])
    return ds, out


def _read(out, name):
    return pd.read_csv(out / name, dtype={"segment": str}, keep_default_na=False, na_values=[""])


def test_fiscal_year_labels_with_february_years(feb_run):
    ds, out = feb_run
    assert ds.attrs["fiscal_year_start"] == 2
    summary = _read(out, "summary.csv")
    years = summary[summary["period_type"] == "year"].drop_duplicates("period")
    assert years[["period", "year", "source", "period_start", "year_end", "months",
                  "actual_months"]].values.tolist() == [
        ["FY2027", 1, "forecast", "2026-02", "2027-01", 12, 9],
        ["FY2028", 2, "forecast", "2027-02", "2028-01", 12, 0],
        ["FY2026", 0, "actual", "2025-02", "2026-01", 12, 12],
    ]  # fmt: skip
    # FY2027's quarters and months before the forecast are the book's (source actual).
    quarters = _read(out, "summary_quarterly.csv").drop_duplicates("period")
    assert quarters["period"].tolist() == [
        f"FY{y}-Q{q}" for y in (2027, 2028) for q in (1, 2, 3, 4)
    ]
    assert quarters["period_start"].tolist()[:4] == ["2026-02", "2026-05", "2026-08", "2026-11"]
    assert quarters["source"].tolist()[:4] == ["actual"] * 3 + ["forecast"]
    months = _read(out, "summary_monthly.csv").drop_duplicates("period")
    assert len(months) == 24 and months["period"].tolist()[8:10] == ["2026-10", "2026-11"]
    assert months["source"].tolist()[8:10] == ["actual", "forecast"]
    assert months["fiscal_year"].tolist()[11:13] == ["FY2027", "FY2028"]  # 2027-01, 2027-02
    # Plain decimals and a currency on every row.
    for name in ("summary.csv", "summary_quarterly.csv", "summary_monthly.csv"):
        text = (out / name).read_text()
        assert "e+" not in text and "e-0" not in text, name
        assert set(_read(out, name)["currency"]) == {"USD"}


def test_quarters_and_months_add_up_to_the_fiscal_year(feb_run):
    """Quarters and months add up to their fiscal year.  Draw by draw (P50 of sums: sum the
    draws first, then take quantiles): a year's flows are the sums of its quarters' and months'
    forecast values plus the book's months before the forecast (rows of their own, ``source``
    actual), its stocks those of its last quarter and month.  In the files: the rows' means add
    up to the year's mean, and the year's P50 is the quantile of the per-draw sums (the P50s of
    the quarters do not add up to it, and need not)."""
    ds, out = feb_run
    years, y_values, _, _ = period_draws(ds, "year")
    summary = _read(out, "summary.csv")
    for kind, name in (("quarter", "summary_quarterly.csv"), ("month", "summary_monthly.csv")):
        parts, p_values, _, _ = period_draws(ds, kind)
        table = _read(out, name)
        assert kind != "quarter" or table.drop_duplicates("period")["period"].tolist()[:4] == [
            "FY2027-Q1", "FY2027-Q2", "FY2027-Q3", "FY2027-Q4",
        ]  # fmt: skip
        for j, year in enumerate(years):
            inside = [i for i, p in enumerate(parts) if p.fiscal_year == year.fiscal_year]
            rows = table[(table["fiscal_year"] == year.label) & (table["segment"] == "all")]
            for metric in FLOWS:
                if metric not in y_values:
                    continue
                book = y_values[metric][:, j, 0] - p_values[metric][:, inside, 0].sum(axis=1)
                actual = rows[(rows["metric"] == metric) & (rows["source"] == "actual")]
                # Cents: the files round each actual row to the cent.
                np.testing.assert_allclose(book, actual["p50"].sum(), rtol=0, atol=0.01 * 12)
                mine = rows[rows["metric"] == metric]["mean"].sum()
                annual = summary[(summary["metric"] == metric) & (summary["segment"] == "all")
                                 & (summary["period"] == year.label)]["mean"].iloc[0]  # fmt: skip
                assert mine == pytest.approx(annual, abs=0.01 * 13), (kind, metric, year.label)
            for metric in STOCKS:
                if metric in y_values:
                    np.testing.assert_array_equal(
                        y_values[metric][:, j], p_values[metric][:, inside[-1]]
                    )
    revenue = period_draws(ds, "month")[1]["revenue"][:, -12:, 0].sum(axis=1)  # FY2028's months
    row = summary[(summary["metric"] == "revenue") & (summary["segment"] == "all")
                  & (summary["period"] == "FY2028")].iloc[0]  # fmt: skip
    assert row["p50"] == pytest.approx(np.quantile(revenue, 0.5), abs=0.005)


def test_actual_year_and_growth_come_from_the_book(feb_run):
    """FY2026 (Feb 2025 - Jan 2026) is the book's revenue over those months; FY2027 adds the
    book's Feb-Oct 2026 to its forecast months; growth is the P50 of the per-draw change."""
    ds, out = feb_run
    history = ds["history_revenue"].sum("segment").to_series()
    history.index = history.index.strftime("%Y-%m")
    summary = _read(out, "summary.csv").set_index(["metric", "segment", "period"])
    fy2026 = history.loc["2025-02":"2026-01"].sum()
    assert summary.loc[("revenue", "all", "FY2026"), "p50"] == pytest.approx(fy2026, abs=0.005)
    forecast = ds["revenue"].sum("segment").isel(month=slice(0, 3)).sum("month").values
    fy2027 = forecast + history.loc["2026-02":"2026-10"].sum()
    row = summary.loc[("revenue", "all", "FY2027")]
    assert row["p50"] == pytest.approx(np.quantile(fy2027, 0.5), abs=0.005)
    assert row["growth_p50"] == pytest.approx(np.quantile(fy2027 / fy2026 - 1, 0.5), abs=1e-6)
    # Counts: the book's new logos that year, from its start months.
    starts = ds["history_new_logos"].sum("segment").to_series()
    starts.index = starts.index.strftime("%Y-%m")
    assert (
        summary.loc[("new_logos", "all", "FY2026"), "p50"] == starts.loc["2025-02":"2026-01"].sum()
    )
    # Installed base and new-logo revenue add up to revenue, draw by draw (here on the P50 of a
    # year without new logos in the book part: the new-logo part is forecast only).
    _, values, _, _ = period_draws(ds, "year")
    np.testing.assert_allclose(
        values["installed_base_revenue"] + values["new_logo_revenue"], values["revenue"], rtol=1e-12
    )


def test_workbook_sheets_hold_the_csv_numbers(feb_run):
    """summary.xlsx: its six sheets, numbers as numbers equal to the CSVs', money formats that
    carry the currency, the run's overrides on the Assumptions sheet."""
    from openpyxl import load_workbook

    _, out = feb_run
    wb = load_workbook(out / "summary.xlsx")
    assert wb.sheetnames == [
        "Summary",
        "Quarterly",
        "Monthly",
        "Accounts",
        "Signals",
        "Assumptions",
    ]
    summary = _read(out, "summary.csv").set_index(["metric", "segment", "period"])
    ws = wb["Summary"]
    header = [c.value for c in ws[4]]
    assert header[:4] == ["Metric", "Segment", "FY2026 actual", "FY2027 P10"]
    rows = {(r[0].value, r[1].value): r for r in ws.iter_rows(min_row=5)}
    revenue = rows["Revenue (year)", "all"]
    p50 = revenue[header.index("FY2027 P50")]
    assert p50.value == summary.loc[("revenue", "all", "FY2027"), "p50"]
    assert p50.number_format == "[$USD] #,##0"
    assert revenue[2].value == summary.loc[("revenue", "all", "FY2026"), "p50"]
    nrr = rows["NRR (trailing 12m)", "all"][header.index("FY2028 P50")]
    assert nrr.value == summary.loc[("nrr", "all", "FY2028"), "p50"] and nrr.number_format == "0.0%"
    growth = revenue[header.index("FY2028 growth")]
    assert growth.value == summary.loc[("revenue", "all", "FY2028"), "growth_p50"]

    quarterly = _read(out, "summary_quarterly.csv").set_index(["metric", "segment", "period"])
    ws = wb["Quarterly"]
    periods = [c.value for c in ws[1]]
    row = next(r for r in ws.iter_rows(min_row=4) if (r[0].value, r[1].value, r[2].value)
               == ("ARR (period end)", "all", "P50"))  # fmt: skip
    cell = row[periods.index("FY2028-Q2")]
    assert cell.value == quarterly.loc[("arr", "all", "FY2028-Q2"), "p50"]
    assert "USD" in cell.number_format

    accounts = pd.read_csv(out / "accounts_forecast.csv", dtype={"account_id": str})
    sheet = pd.read_excel(out / "summary.xlsx", sheet_name="Accounts", dtype={"account_id": str})
    assert sheet["account_id"].tolist() == accounts["account_id"].tolist()
    np.testing.assert_allclose(
        sheet["revenue_next12_p50"], accounts["revenue_next12_p50"], rtol=1e-5
    )
    assert "USD" in wb["Accounts"]["C2"].number_format
    assert len(pd.read_excel(out / "summary.xlsx", sheet_name="Signals")) == len(
        pd.read_csv(out / "signals.csv")
    )
    keys = {r[0].value: r[1].value for r in wb["Assumptions"].iter_rows() if r[0].value}
    assert keys["fiscal_year_start"] == 2 and keys["data_hash"] == feb_run[0].attrs["data_hash"]
    assert keys["data.fiscal_year_start"] == 2  # the resolved config, one key a row
    overrides = [r[1].value for r in wb["Assumptions"].iter_rows() if r[0].value in (None, "")]
    assert "data.fiscal_year_start=2" in overrides
