"""Month numbers: parsing the spellings the contract allows, formatting, whole columns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simengine.data import format_month, month_number
from simengine.data.months import format_months, parse_month_column

OCT_2026 = 2026 * 12 + 9


@pytest.mark.parametrize(
    "value",
    ["2026-10", "2026-10-01", "2026-10-31", " 2026-10 ", "2026-10-17T13:45:00", "2026/10/05",
     pd.Timestamp("2026-10-31 23:59"), dt.date(2026, 10, 2), dt.datetime(2026, 10, 9, 8),
     np.datetime64("2026-10-15"), pd.Period("2026-10", freq="M")],
)  # fmt: skip
def test_month_number_accepts_months_and_dates_inside_them(value):
    assert month_number(value) == OCT_2026


@pytest.mark.parametrize("value", ["2026-13", "2026-00", "", "soon", "today", "now", None, 2026.5])
def test_month_number_rejects_non_months(value):
    with pytest.raises(ValueError, match="not a month"):
        month_number(value)


def test_january_is_month_zero_of_the_year():
    assert month_number("2026-01") % 12 == 0
    assert month_number("2026-01") - month_number("2025-12") == 1
    assert format_month(month_number("0999-03")) == "0999-03"


@given(st.integers(1, 9999 * 12 - 1))
def test_format_and_parse_round_trip(number):
    text = format_month(number)
    assert len(text) >= 7 and text[4] == "-"
    assert month_number(text) == number


def test_format_months_keeps_missing():
    out = format_months(pd.array([OCT_2026, None], dtype="Int64"))
    assert out.iloc[0] == "2026-10" and pd.isna(out.iloc[1])


def test_parse_month_column_flags_missing_and_bad_cells():
    numbers, missing, bad = parse_month_column(
        pd.Series(["2026-10", "", "2026-10-09", "2026-13", "later", None])
    )
    assert numbers[[0, 2]].tolist() == [OCT_2026, OCT_2026]
    assert missing.tolist() == [False, True, False, False, False, True]
    assert bad.tolist() == [False, False, False, True, True, False]


@pytest.mark.parametrize(
    "column",
    [pd.Series(pd.to_datetime(["2026-10-03", None])),
     pd.Series(pd.to_datetime(["2026-10-03", None]).tz_localize("UTC")),
     pd.Series(pd.PeriodIndex(["2026-10", None], freq="M"))],
)  # fmt: skip
def test_parse_month_column_reads_typed_columns(column):
    numbers, missing, bad = parse_month_column(column)
    assert numbers[0] == OCT_2026
    assert missing.tolist() == [False, True] and not bad.any()
