"""Fiscal years, quarters and months (simengine.fiscal): names, boundaries, compare.year parsing."""

from __future__ import annotations

import pytest

from simengine.data.months import month_number
from simengine.fiscal import (
    fiscal_year,
    fiscal_year_first_month,
    last_actual_year,
    parse_year,
    periods,
)


def test_a_fiscal_year_is_named_by_the_calendar_year_it_ends_in():
    # January start: calendar years.
    assert fiscal_year(month_number("2026-01"), 1) == 2026
    assert fiscal_year(month_number("2026-12"), 1) == 2026
    # February start: FY2026 is February 2025 to January 2026.
    assert fiscal_year(month_number("2025-02"), 2) == 2026
    assert fiscal_year(month_number("2026-01"), 2) == 2026
    assert fiscal_year(month_number("2026-02"), 2) == 2027
    assert fiscal_year_first_month(2026, 2) == month_number("2025-02")
    # April start: FY2027 is April 2026 to March 2027.
    assert fiscal_year(month_number("2026-04"), 4) == 2027
    assert fiscal_year_first_month(2027, 4) == month_number("2026-04")


def test_periods_of_a_forecast_on_feb_jan_years():
    """A forecast of 2026-01 .. 2028-12 with February years: FY2026 holds its last month (January
    2026) with eleven months before the forecast, FY2029 its first eleven; quarters start in
    February, May, August and November."""
    first = month_number("2026-01")
    years = periods(first, 36, 2, "year")
    assert [p.label for p in years] == ["FY2026", "FY2027", "FY2028", "FY2029"]
    assert [(p.start, p.stop) for p in years] == [(0, 1), (1, 13), (13, 25), (25, 36)]
    assert [len(p.actual) for p in years] == [11, 0, 0, 0]
    assert (years[1].first_label, years[1].last_label) == ("2026-02", "2027-01")
    quarters = periods(first, 36, 2, "quarter")
    assert [q.label for q in quarters[:3]] == ["FY2026-Q4", "FY2027-Q1", "FY2027-Q2"]
    assert quarters[0].first_label == "2025-11" and len(quarters[0].actual) == 2
    assert sum(q.forecast_months for q in quarters) == 36
    months = periods(first, 36, 2, "month")
    assert [m.label for m in months[:2]] == ["2026-01", "2026-02"]
    assert [m.fiscal_year for m in months[:2]] == [2026, 2027]
    assert [m.year_index for m in months[:2]] == [1, 2]


def test_the_last_actual_year_ends_before_the_forecast():
    assert last_actual_year(month_number("2026-01"), 1).label == "FY2025"
    assert last_actual_year(month_number("2026-11"), 1).label == "FY2025"  # FY2026 is part actual
    feb = last_actual_year(month_number("2026-01"), 2)
    assert (feb.label, feb.first_label, feb.last_label) == ("FY2025", "2024-02", "2025-01")


@pytest.mark.parametrize(
    ("value", "indices", "every"),
    [("1", (1,), False), ("3", (3,), False), ("FY2027", (2,), False), ("fy27", (2,), False),
     ("2028", (3,), False), ("all", (1, 2, 3), True), ("ALL", (1, 2, 3), True)],
)  # fmt: skip
def test_compare_year_takes_an_index_a_label_or_all(value, indices, every):
    choice = parse_year(value, ["FY2026", "FY2027", "FY2028"])
    assert (choice.indices, choice.every) == (indices, every)


@pytest.mark.parametrize("value", ["0", "4", "FY2030", "last", "2025"])
def test_compare_year_outside_the_forecast_names_the_years(value):
    with pytest.raises(ValueError, match="1 = FY2026, 2 = FY2027, 3 = FY2028") as err:
        parse_year(value, ["FY2026", "FY2027", "FY2028"])
    assert "compare.year" in str(err.value) and "\n" not in str(err.value)
