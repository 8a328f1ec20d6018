"""The xarray layer: metrics on a hand-worked example, the summary table, atomic writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from simengine.kernels.layout import OUTPUTS
from simengine.report import summary_table
from simengine.results import make_dataset, write_netcdf

V = {name: i for i, name in enumerate(OUTPUTS)}


def _hand_worked() -> xr.Dataset:
    """Three accounts over 13 months, one draw, one segment, worked by hand.

    Trailing twelve months (``nrr``/``grr``): over the 12 months to month 0 accounts X, Y, Z paid
    1200, 600 and 360; over the 12 months to month 12, X paid 1500 (expanded), Y 500 (contracted),
    Z 90 (three months at 30, then churned), and a new logo W 60 (not in the base).
    NRR = (1500 + 500 + 90) / 2160;  GRR = (1200 + 500 + 90) / 2160 (X capped at its base).

    One month a year apart (``nrr_monthly``): in month 0 X, Y, Z paid 100, 50 and 30; in month 12
    X pays 150, Y 40, Z 0 (churned) and W 20: (150 + 40 + 0) / 180 and (100 + 40 + 0) / 180.
    """
    out = np.zeros((1, 13, 1, len(OUTPUTS)))
    out[0, 0, 0, V["revenue"]] = 180.0
    out[0, 12, 0, V["revenue"]] = 210.0
    out[0, 12, 0, V["ttm_base"]] = 1200.0 + 600.0 + 360.0
    out[0, 12, 0, V["ttm_retained"]] = 1500.0 + 500.0 + 90.0
    out[0, 12, 0, V["ttm_retained_capped"]] = 1200.0 + 500.0 + 90.0
    out[0, 12, 0, V["retention_base"]] = 180.0
    out[0, 12, 0, V["retained_revenue"]] = 190.0
    out[0, 12, 0, V["retained_revenue_capped"]] = 140.0
    months = pd.date_range("2027-01-01", periods=13, freq="MS")
    return make_dataset(
        out, np.zeros((1, 13, 0)), np.zeros(1), months=months, segments=("smb",), attrs={"seed": 1}
    )


def test_nrr_grr_hand_worked():
    ds = _hand_worked()
    at = {"month": 12}
    assert float(ds["nrr"].isel(at).squeeze()) == pytest.approx(2090 / 2160)
    assert float(ds["grr"].isel(at).squeeze()) == pytest.approx(1790 / 2160)
    assert float(ds["nrr_total"].isel(at).squeeze()) == pytest.approx(2090 / 2160)
    assert float(ds["grr_total"].isel(at).squeeze()) == pytest.approx(1790 / 2160)
    assert float(ds["nrr_monthly"].isel(at).squeeze()) == pytest.approx(190 / 180)
    assert float(ds["grr_monthly"].isel(at).squeeze()) == pytest.approx(140 / 180)
    assert "trailing twelve months" in ds["nrr"].attrs["description"]
    assert float(ds["arr"].isel(month=12).squeeze()) == pytest.approx(12 * 210)
    assert np.isnan(ds["nrr"].isel(month=5)).all()  # no base: undefined, not 0 or inf


def test_units_and_dims():
    ds = _hand_worked()
    assert ds["revenue"].dims == ("draw", "month", "segment")
    assert ds["revenue"].attrs["units"] == "currency per month"
    assert ds["nrr"].attrs["units"] == "ratio"
    assert ds["active_accounts"].dtype == np.int64
    assert "created_at" in ds.attrs


def test_summary_by_year():
    rng = np.random.default_rng(0)
    out = np.zeros((200, 24, 2, len(OUTPUTS)))
    out[..., V["revenue"]] = rng.uniform(90, 110, (200, 24, 2))
    out[..., V["ttm_base"]] = 100.0
    out[..., V["ttm_retained"]] = 120.0
    out[..., V["ttm_retained_capped"]] = 90.0
    months = pd.date_range("2027-01-01", periods=24, freq="MS")
    ds = make_dataset(
        out, np.zeros((200, 24, 0)), np.zeros(200), months=months, segments=("a", "b"), attrs={}
    )
    table = summary_table(ds)
    assert set(table["metric"]) == {
        "arr", "revenue", "installed_base_revenue", "new_logo_revenue", "nrr", "grr",
        "active_accounts", "new_logos", "churned_accounts",
    }  # fmt: skip
    assert set(table["segment"]) == {"all", "a", "b"}
    assert set(table["year"]) == {1, 2}
    row = table[(table.metric == "revenue") & (table.segment == "all") & (table.year == 1)].iloc[0]
    year1 = out[:, :12, :, V["revenue"]].sum(axis=(1, 2))
    assert row.p50 == pytest.approx(np.quantile(year1, 0.5))
    assert row.p10 < row.p50 < row.p90
    nrr = table[(table.metric == "nrr") & (table.segment == "all")]
    assert np.allclose(nrr[["p10", "p50", "p90"]].to_numpy(), 1.2)
    assert table[table.metric == "arr"].year_end.tolist()[0] == "2027-12"


def test_summary_rows_are_the_quantiles_of_each_series():
    """Every segment's row holds the quantiles and mean of that segment's own draws, finite ones
    only (a column with a NaN or an infinity takes the per-column path, the others the vectorised
    one): checked against the series built with xarray, for flows summed over a year and for
    values at the year's last month."""
    rng = np.random.default_rng(5)
    out = rng.lognormal(size=(50, 24, 3, len(OUTPUTS)))
    months = pd.date_range("2027-01-01", periods=24, freq="MS")
    ds = make_dataset(
        out, np.zeros((50, 24, 0)), np.zeros(50), months=months, segments=("a", "b", "c"), attrs={}
    )
    ds["nrr"].values[4, 11, 1] = np.nan
    ds["arr"].values[7, 23, 2] = np.inf
    table = summary_table(ds).set_index(["metric", "segment", "year"])
    for year, months_of_year in ((1, slice(0, 12)), (2, slice(12, 24))):
        part = ds.isel(month=months_of_year)
        series = {
            "revenue": part["revenue"].sum("month"),
            "arr": part["arr"].isel(month=-1),
            "nrr": part["nrr"].isel(month=-1),
        }
        for metric, da in series.items():
            for seg in ("a", "b", "c"):
                values = da.sel(segment=seg).values
                values = values[np.isfinite(values)]
                row = table.loc[(metric, seg, year)]
                expected = [*np.quantile(values, (0.1, 0.5, 0.9)), values.mean()]
                assert row[["p10", "p50", "p90", "mean"]].tolist() == expected
    assert table.loc[("nrr", "b", 1), "p50"] == np.quantile(
        np.delete(ds["nrr"].values[:, 11, 1], 4), 0.5
    )  # the NaN draw is left out


def test_partial_year_is_labelled():
    out = np.ones((5, 18, 1, len(OUTPUTS)))
    months = pd.date_range("2027-01-01", periods=18, freq="MS")
    ds = make_dataset(
        out, np.zeros((5, 18, 0)), np.zeros(5), months=months, segments=("a",), attrs={}
    )
    table = summary_table(ds)
    assert table[table.year == 2].months.unique().tolist() == [6]


def test_write_is_atomic_and_round_trips(tmp_path):
    ds = _hand_worked()
    path = write_netcdf(ds, tmp_path / "forecast.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forecast.nc"]  # no temporary left over
    back = xr.open_dataset(path, engine="h5netcdf")
    xr.testing.assert_identical(back.load(), ds)


def test_failed_write_leaves_nothing(tmp_path):
    ds = _hand_worked().assign_attrs(bad=object())  # not serialisable
    with pytest.raises(TypeError):
        write_netcdf(ds, tmp_path / "forecast.nc")
    assert list(tmp_path.iterdir()) == []


def test_expansion_multiple_from_cohorts():
    """``expansion_multiple`` is the kernel's later revenue over bookings, with or without the
    cells (the kernel's sum is checked against the cells in tests/kernels/test_reference.py)."""
    out = np.zeros((2, 3, 1, len(OUTPUTS)))
    out[:, 0, 0, V["bookings"]] = 100.0
    cohort = np.zeros((2, 3, 60))
    cohort[0, 0, 12:60] = 10.0  # 48 months x 10 = 480 per 100 booked
    cohort[1, 0, :12] = 50.0  # first-year revenue does not count
    later = np.array([480.0, 0.0])
    months = pd.date_range("2027-01-01", periods=3, freq="MS")
    ds = make_dataset(out, cohort, later, months=months, segments=("a",), attrs={})
    np.testing.assert_allclose(ds["expansion_multiple"].values, [4.8, 0.0])
    assert ds["cohort_revenue"].shape == (2, 3, 60)
    bare = make_dataset(out, cohort[:, :0], later, months=months, segments=("a",), attrs={})
    assert "cohort_revenue" not in bare.variables and "cohort_month" not in bare.variables
    assert list(bare.data_vars) == [n for n in ds.data_vars if n != "cohort_revenue"]
    np.testing.assert_array_equal(bare["expansion_multiple"], ds["expansion_multiple"])
    short = make_dataset(out, cohort[:, :, :59], later, months=months, segments=("a",), attrs={})
    assert "expansion_multiple" not in short  # a cohort followed < 60 months has no multiple
