"""The xarray layer: name the kernel's arrays, derive metrics, attach provenance, write atomically.

Metrics (DESIGN.md):

- ``arr`` = 12 x monthly revenue.
- ``nrr`` / ``grr``: the standard **trailing-twelve-month** definition.  For month ``t``, ``A`` is
  the set of accounts that were customers 12 months earlier and for the whole base year (started
  by month ``t - 23``, not churned before ``t - 12``) and ``R_i(m)`` account ``i``'s revenue in
  month ``m``::

      nrr(t) = sum_{i in A} sum_{m=t-11}^{t} R_i(m)  /  sum_{i in A} sum_{m=t-23}^{t-12} R_i(m)
      grr(t) = sum_{i in A} min(sum_{m=t-11}^{t} R_i(m), sum_{m=t-23}^{t-12} R_i(m))  /  (same base)

  Accounts that churned since stay in ``A`` with the revenue they had before churning; new logos of
  the last 12 months are outside it, and so are accounts that started during the base year: with
  one to eleven months of (still ramping) base revenue against a full year now they would put
  ratios of 2-12 into the pool, so NRR would follow how many logos arrived a year before (on the
  default book, usage-weighted TTM NRR at ``as_of`` is 1.60 with them and 1.23 without; GRR
  0.94 and 0.93).  This is the cohort rule public consumption companies report under (Snowflake's
  10-K: the cohort is the customers of the first month of the trailing two-year window; its revenue
  in the second year over the first).  Months before ``as_of`` come from the book (active and
  churned accounts).  Variables ``ttm_base``, ``ttm_retained``, ``ttm_retained_capped`` hold the
  sums; ``nrr_total`` / ``grr_total`` pool the segments.
- ``nrr_monthly`` / ``grr_monthly``: one month's revenue of the accounts that had revenue 12 months
  earlier over their revenue in that month (``retained_revenue / retention_base``; the capped
  version per account): faster to react, noisier, and sensitive to seasonality and to accounts
  still onboarding in the base month.  ``nrr_monthly_total`` / ``grr_monthly_total`` pool them.
- ``bookings``: a new logo that signs a commit books it (``commit_months x price x plateau usage``,
  scaled by the comp plan's ``commit_multiplier``); a pay-as-you-go logo books its **expected
  first-year consumption**, ``12 x price x plateau usage x mean ramp over its first 12 months``,
  ignoring churn, growth, season, use cases and health (:func:`simengine.kernels.init_logos.init_logo_block`).
- ``expansion_multiple`` (per draw, when cohorts are followed 60 months): revenue in months 12-59 after
  start of the forecast's new logos, per $1 of their initial bookings as just defined (commits and
  expected first-year consumption), pooled over start months:
  ``sum cohort_revenue[:, :, 12:60] / sum bookings``, the numerator summed by the kernel as it goes
  (``later_revenue``), so a run that keeps no cohort cells (a sweep's job) gets the same bits.
  Every cohort is followed its full five years (the kernel simulates past the horizon for it), so
  none is truncated.
- ``csm_coverage``, ``se_coverage`` (go-to-market runs): the share of active accounts covered in each
  draw and month, computed by the kernel from that draw's own simulated book:
  ``min(1, coverable accounts / active accounts at the start of the month)``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xarray as xr

from simengine.atomic import atomic_path
from simengine.kernels.layout import C_CSM, C_SE, LATER_TO, OUTPUTS

__all__ = ["UNITS", "add_gtm", "make_dataset", "write_netcdf"]

UNITS = {
    "revenue": "currency per month",
    "usage": "usage units per month",
    "active_accounts": "accounts",
    "new_logos": "accounts",
    "churned_accounts": "accounts",
    "expansion_revenue": "currency per month",
    "retention_base": "currency per month",
    "retained_revenue": "currency per month",
    "retained_revenue_capped": "currency per month",
    "overage": "currency per month",
    "leak": "currency per month",
    "bookings": "currency",
    "churned_revenue": "currency per month",
    "new_logo_revenue": "currency per month",
    "new_use_cases": "use cases",
    "existing_expansion_revenue": "currency per month",
    "arr": "currency per year",
    "nrr": "ratio",
    "grr": "ratio",
    "nrr_total": "ratio",
    "grr_total": "ratio",
    "nrr_monthly": "ratio",
    "grr_monthly": "ratio",
    "nrr_monthly_total": "ratio",
    "grr_monthly_total": "ratio",
    "ttm_base": "currency (sum of 12 months)",
    "ttm_retained": "currency (sum of 12 months)",
    "ttm_retained_capped": "currency (sum of 12 months)",
    "zero_months": "account-months",
    "cohort_revenue": "currency per month",
    "expansion_multiple": "currency per currency of initial booking",
    "headcount": "people",
    "ramped_capacity": "fully ramped people",
    "cost": "currency per month",
    "salary_cost": "currency per month",
    "variable_cost": "currency per month",
    "total_cost": "currency per month",
    "post_sales_share": "ratio",
    "revenue_per_sm_dollar": "currency per currency",
    "cac_payback_months": "months",
    "deal_coverage": "ratio",
    "win_rate": "ratio",
    "csm_coverage": "ratio",
    "se_coverage": "ratio",
    "unhealthy_share": "ratio",
    "ae_attainment": "ratio",
    "deals": "deals per month",
}

DESCRIPTIONS = {
    "revenue": "consumption revenue (usage x unit price)",
    "expansion_revenue": "revenue from use cases started during the forecast",
    "existing_expansion_revenue": "expansion_revenue of the accounts that were customers at as_of",
    "retention_base": "revenue 12 months earlier of the accounts that were customers then",
    "retained_revenue": "revenue now of the accounts in retention_base",
    "retained_revenue_capped": "revenue now of those accounts, each capped at its revenue then",
    "overage": "consumption above the annual commit",
    "leak": "commit not consumed by the end of its term (or by churn)",
    "bookings": "initial booking of new logos: the commit where one is signed, else expected "
    "first-year consumption (12 x price x plateau usage x mean first-year ramp)",
    "churned_revenue": "last monthly revenue of the accounts churning this month",
    "new_logo_revenue": "revenue of accounts started during the forecast",
    "arr": "annualised revenue run rate (12 x monthly revenue)",
    "nrr": "net revenue retention, trailing twelve months: revenue over the last 12 months of the "
    "accounts that were customers 12 months earlier / their revenue over the 12 months before",
    "grr": "gross revenue retention, trailing twelve months: as nrr with each account capped at its "
    "base",
    "nrr_monthly": "revenue this month of the accounts with revenue 12 months earlier / their "
    "revenue then",
    "grr_monthly": "nrr_monthly with each account capped at its revenue 12 months earlier",
    "ttm_base": "revenue over months t-23..t-12 of the accounts that were customers in t-12",
    "ttm_retained": "revenue over months t-11..t of the accounts in ttm_base (churned ones too)",
    "ttm_retained_capped": "ttm_retained with each account capped at its own base",
    "zero_months": "active account-months without usage (the usage fit's hurdle)",
    "headcount": "people in seat by role",
    "ramped_capacity": "headcount weighted by ramp (1 = fully productive)",
    "cost": "fully loaded salary plus variable pay, by role",
    "variable_cost": "variable pay under the comp plan (AEs)",
    "total_cost": "sales and marketing cost of the go-to-market team",
    "post_sales_share": "post-sales (CSM, adoption) share of go-to-market cost",
    "revenue_per_sm_dollar": "revenue per dollar of go-to-market cost, same month",
    "cac_payback_months": "acquisition cost (AE, SE, partner) over the horizon / monthly revenue of the "
    "logos it won, at the horizon's end",
    "deal_coverage": "share of worked deals with SE support",
    "win_rate": "share of worked deals won",
    "csm_coverage": "share of the draw's simulated active accounts a CSM covers: "
    "min(1, coverable accounts / active accounts at the start of the month)",
    "se_coverage": "share of the draw's simulated active accounts SE/adoption specialists support",
    "unhealthy_share": "chance a new logo or use case starts unhealthy",
    "ae_attainment": "AE quota attainment under the comp plan",
    "expansion_multiple": "revenue in months 12-59 after start per $1 of initial bookings (commits, "
    "and expected first-year consumption of pay-as-you-go logos), new logos of the forecast pooled "
    "(cohorts followed 60 months, past the horizon if need be)",
}


#: Outputs that count things: stored as integers.
_COUNTS = ("active_accounts", "new_logos", "churned_accounts", "new_use_cases")


def nan_sum(a: np.ndarray, axis) -> np.ndarray:
    """xarray's ``sum`` of floats (NaN skipped: zeros in their place, then ``numpy.sum``),
    without the ~1 ms of xarray bookkeeping a call: the same values."""
    return np.where(np.isnan(a), 0.0, a).sum(axis=axis)


def make_dataset(
    out: np.ndarray,
    cohort: np.ndarray,
    later_revenue: np.ndarray,
    *,
    months,
    segments: tuple[str, ...],
    attrs: dict,
) -> xr.Dataset:
    """Build the forecast dataset from kernel output ``out[draw, month, segment, output]``.

    Parameters
    ----------
    out : ndarray, shape (draws, months, segments, n_outputs)
    cohort : ndarray, shape (draws, months or 0, cohort_months)
        The cohort cells (``cohort_revenue``), none when it has no rows.
    later_revenue : ndarray, shape (draws,)
        The kernel's sum of the new logos' revenue in months 12-59 after their start
        (``expansion_multiple``'s numerator; used when ``cohort_months >= 60``).
    months : sequence of datetime64
        Month-start timestamps of the forecast months.
    segments : tuple of str
    attrs : dict
        Provenance attributes (seed, config, versions, sources).

    The derived metrics are computed on the arrays and added in one step each (xarray's
    per-assignment alignment and merge cost more than the arithmetic); variables keep the order
    the file and readers see: the kernel's outputs, ``draw``/``month``/``segment``, the ratios,
    then the cohort variables.
    """
    draws = np.arange(out.shape[0])
    coords = {"draw": draws, "month": np.asarray(months), "segment": list(segments)}
    dims = ("draw", "month", "segment")
    v = {name: out[..., i] for i, name in enumerate(OUTPUTS)}
    for name in _COUNTS:
        v[name] = v[name].astype(np.int64)
    ds = xr.Dataset({name: (dims, v[name]) for name in OUTPUTS}, coords=coords)

    by_month = ("draw", "month")
    with np.errstate(divide="ignore", invalid="ignore"):
        ttm_base = nan_sum(v["ttm_base"], 2)
        base = nan_sum(v["retention_base"], 2)
        derived = {
            "arr": (dims, 12.0 * v["revenue"]),
            "nrr": (dims, v["ttm_retained"] / v["ttm_base"]),
            "grr": (dims, v["ttm_retained_capped"] / v["ttm_base"]),
            "nrr_total": (by_month, nan_sum(v["ttm_retained"], 2) / ttm_base),
            "grr_total": (by_month, nan_sum(v["ttm_retained_capped"], 2) / ttm_base),
            "nrr_monthly": (dims, v["retained_revenue"] / v["retention_base"]),
            "grr_monthly": (dims, v["retained_revenue_capped"] / v["retention_base"]),
            "nrr_monthly_total": (by_month, nan_sum(v["retained_revenue"], 2) / base),
            "grr_monthly_total": (by_month, nan_sum(v["retained_revenue_capped"], 2) / base),
        }
    ds = ds.assign(derived)

    if cohort.shape[1] > 0 and cohort.shape[2] > 0:
        ds = ds.assign(
            cohort_revenue=(("draw", "cohort_month", "months_since_start"), cohort)
        ).assign_coords(
            cohort_month=np.asarray(months), months_since_start=np.arange(cohort.shape[2])
        )
    if cohort.shape[2] >= LATER_TO:
        booked = out[..., OUTPUTS.index("bookings")].sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            ds = ds.assign(expansion_multiple=("draw", later_revenue / booked))

    return _label(ds, attrs)


#: The per-cohort cells of a run (``cohort_revenue`` and its two coordinates): the largest part of
#: ``forecast.nc`` (16 MB of 1,000 draws), read by no table, chart or comparison (nor by
#: ``expansion_multiple``: the kernel sums its numerator itself).  A sweep's job asks the kernel
#: for none (:func:`simengine.engine.run_kernel`'s ``cohort_cells``).
COHORT_CELLS = ("cohort_revenue", "cohort_month", "months_since_start")


def without_cohort_cells(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without :data:`COHORT_CELLS` (a sweep's job: no output it writes reads them)."""
    return ds.drop_vars([n for n in COHORT_CELLS if n in ds.variables])


def _label(ds: xr.Dataset, attrs: dict | None = None) -> xr.Dataset:
    variables = ds.variables  # the Variables themselves: no DataArray built per name
    for name in ds.data_vars:
        if name in UNITS:
            variables[name].attrs["units"] = UNITS[name]
        if name in DESCRIPTIONS:
            variables[name].attrs["description"] = DESCRIPTIONS[name]
    variables["month"].attrs["description"] = "forecast month (month start)"
    variables["draw"].attrs["description"] = "joint draw of parameters and process noise"
    if attrs is not None:
        ds.attrs.update(attrs)
        ds.attrs.setdefault("created_at", created_at())
    return ds


def add_gtm(ds: xr.Dataset, staffing, drivers, costs, coverage: np.ndarray) -> xr.Dataset:
    """Add the go-to-market variables: headcount and cost by role, coverage, efficiency metrics.

    Parameters
    ----------
    staffing : simengine.gtm.StaffingResult
    drivers : simengine.gtm.Drivers
    costs : simengine.gtm.Costs
    coverage : ndarray, shape (draws, months, len(layout.COVERAGE))
        The kernel's simulated coverage shares (``Outputs.coverage``).
    """
    from simengine.config import ACQUISITION_ROLES, POST_SALES_ROLES

    by_role = ("draw", "month", "role")
    by_month = ("draw", "month")
    roles = list(staffing.roles)
    ds = ds.assign_coords(role=roles)
    cost = np.asarray(costs.total_by_role)
    total_cost = nan_sum(cost, 2)
    post_sales = [roles.index(r) for r in POST_SALES_ROLES]
    acquisition_roles = [roles.index(r) for r in ACQUISITION_ROLES]
    revenue = ds["revenue"].transpose("draw", "month", "segment").values
    new_logo = ds["new_logo_revenue"].transpose("draw", "month", "segment").values
    with np.errstate(divide="ignore", invalid="ignore"):
        post_share = nan_sum(cost[..., post_sales], 2) / total_cost
        per_dollar = nan_sum(revenue, 2) / total_cost
        acquisition = nan_sum(cost[..., acquisition_roles], (1, 2))
        payback = acquisition / nan_sum(new_logo, 2)[:, -1]
    new = {
        "headcount": (by_role, staffing.headcount),
        "ramped_capacity": (by_role, staffing.capacity),
        "salary_cost": (by_role, costs.salary),
        "variable_cost": (by_role, costs.variable),
        "cost": (by_role, cost),
        "total_cost": (by_month, total_cost),
        "post_sales_share": (by_month, post_share),
        "revenue_per_sm_dollar": (by_month, per_dollar),
        "cac_payback_months": ("draw", payback),
        "deals": (by_month, drivers.deals),
        "deal_coverage": (by_month, drivers.deal_coverage),
        "win_rate": (by_month, drivers.win_rate),
        "csm_coverage": (by_month, coverage[..., C_CSM]),
        "se_coverage": (by_month, coverage[..., C_SE]),
        "unhealthy_share": (by_month, drivers.unhealthy_share),
        "ae_attainment": (by_month, costs.attainment),
    }
    return _label(ds.assign(new))


def created_at() -> str:
    """UTC creation time; ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) pins it, so a
    re-run with the same seed and config writes the same bytes."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return when.isoformat(timespec="seconds")


def write_netcdf(ds: xr.Dataset | xr.DataTree, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename).

    A dataset goes through :func:`simengine.ncwrite.write_dataset` (the netCDF-4 layout
    h5netcdf writes, ~0.1 CPU-s for a run's 73 variables instead of ~0.4); a tree, or a dataset
    that writer does not lay out, through ``to_netcdf(engine="h5netcdf")``.
    """
    from simengine.ncwrite import Unsupported, write_dataset

    with atomic_path(path) as tmp:
        try:
            if not isinstance(ds, xr.Dataset):
                raise Unsupported("not a Dataset")
            write_dataset(ds, tmp)
        except Unsupported:
            ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def write_atomic_text(text: str, path: str | Path) -> Path:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
