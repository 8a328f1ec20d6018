"""Compensation: AE variable pay under the plan, and cost by role.

Variable pay is measured on the plan's base each month:

- bookings base: initial bookings of the month's new logos (a commit where one is signed, else the
  logo's expected first-year consumption: see :func:`simengine.kernels.account.init_new_logo`);
- consumption base: the month's increase in consumption revenue won by the team, month on month and
  floored at 0, of ``new_logo_revenue + existing_expansion_revenue``: all revenue of the forecast's
  new logos (their own use cases included) plus the revenue of new use cases of the accounts that
  were customers at ``as_of``.  (``expansion_revenue`` counts new logos' use cases too, which
  ``new_logo_revenue`` already holds, so it is not added.)

Only sales-led segments count (``company.channels``): self-serve sign-ups are nobody's bookings.

Attainment ``a = w * bookings / (bookings_quota * C) + (1 - w) * consumption / (consumption_quota * C)``
with ``w = bookings_weight`` and ``C`` the ramped AE capacity.  **Quotas** left unset are today's
production (:func:`calibrate_quotas`): the base today's team would produce in the first forecast
year per ramped AE-month of today's team, so today's team held attains 100% over that year and a
plan's attainment reads against today's.  Payout at target is
``variable_share x cost_per_month`` per ramped AE-month; the payout factor is ``a`` up to 100% and
``1 + accelerator x (min(a, attainment_cap) - 1)`` above.  Cost = fully loaded salaries of every role
(headcount x ``cost_per_month``) + AE variable pay.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simengine.config import CompConfig, StaffingConfig
from simengine.gtm.staffing import StaffingResult

__all__ = ["Costs", "calibrate_quotas", "costs", "payout_factor", "plan_base"]

#: Months of the first forecast year: the quotas' calibration window.
QUOTA_MONTHS = 12


@dataclass
class Costs:
    """Cost arrays: by role (draws, horizon, roles) and AE attainment (draws, horizon)."""

    salary: np.ndarray
    variable: np.ndarray
    attainment: np.ndarray
    bookings_base: np.ndarray
    consumption_base: np.ndarray

    @property
    def total_by_role(self) -> np.ndarray:
        return self.salary + self.variable


def payout_factor(attainment: np.ndarray, accelerator: float, cap: float) -> np.ndarray:
    """Share of on-target variable pay paid at ``attainment`` (1 = quota)."""
    above = 1.0 + accelerator * (np.minimum(attainment, cap) - 1.0)
    return np.where(attainment <= 1.0, attainment, above)


def plan_base(
    bookings: np.ndarray, new_logo_revenue: np.ndarray, existing_expansion_revenue: np.ndarray
):
    """The plan bases by draw and month: bookings, and the month's consumption increase.

    ``existing_expansion_revenue`` is the expansion revenue of the book's accounts only; new
    logos' expansion is inside ``new_logo_revenue`` and must not be counted twice.
    """
    consumption = new_logo_revenue + existing_expansion_revenue
    previous = np.concatenate([np.zeros_like(consumption[:, :1]), consumption[:, :-1]], axis=1)
    return bookings, np.maximum(consumption - previous, 0.0)


def costs(
    comp: CompConfig,
    staffing_cfg: StaffingConfig,
    staffing: StaffingResult,
    bookings: np.ndarray,
    new_logo_revenue: np.ndarray,
    existing_expansion_revenue: np.ndarray,
) -> Costs:
    """Salary and variable pay by draw, month and role; inputs are (draws, horizon) totals."""
    ae = staffing.role("ae")
    ae_capacity = staffing.capacity[:, :, ae]
    bookings_base, consumption_base = plan_base(
        bookings, new_logo_revenue, existing_expansion_revenue
    )
    w = comp.bookings_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        attainment = np.where(
            ae_capacity > 0,
            w * bookings_base / (comp.bookings_quota * ae_capacity)
            + (1.0 - w) * consumption_base / (comp.consumption_quota * ae_capacity),
            0.0,
        )
    ae_cost = staffing_cfg.roles["ae"].cost_per_month if "ae" in staffing_cfg.roles else 0.0
    on_target = comp.variable_share * ae_cost * ae_capacity
    variable = np.zeros_like(staffing.salary_cost)
    variable[:, :, ae] = on_target * payout_factor(
        attainment, comp.accelerator, comp.attainment_cap
    )
    return Costs(
        salary=staffing.salary_cost,
        variable=variable,
        attainment=attainment,
        bookings_base=bookings_base,
        consumption_base=consumption_base,
    )


def calibrate_quotas(
    comp: CompConfig,
    drivers,
    bookings: np.ndarray,
    new_logo_revenue: np.ndarray,
    existing_expansion_revenue: np.ndarray,
) -> CompConfig:
    """``comp`` with each unset quota set to today's production per ramped AE-month.

    Today's production is estimated from the plan's own (draws, horizon) sales-led totals: its new
    logos scaled back by the plan's expected logos over today's (``drivers.logo_ratio``; for the
    revenue of cohorts, the ratio accumulated over the months they started in), the installed
    base's expansion as it is.  The quota is that production summed over the first forecast year
    and every draw, over today's team's ramped AE capacity summed alike
    (``drivers.reference``).  For a plan equal to today every ratio is exactly 1, so today's team
    attains 100% over the year.  Quotas set in the config are kept.
    """
    if comp.bookings_quota is not None and comp.consumption_quota is not None:
        return comp
    months = min(QUOTA_MONTHS, bookings.shape[1])
    ratio = drivers.logo_ratio
    if ratio is None:  # not calibrated to the book: the plan's own production is today's
        ratio = np.ones_like(bookings)
        cumulative = ratio
    else:
        expected = drivers.today_sales_logos
        with np.errstate(divide="ignore", invalid="ignore"):
            cumulative = np.cumsum(expected * ratio, axis=1) / np.cumsum(expected, axis=1)
        cumulative = np.where(np.isfinite(cumulative) & (cumulative > 0), cumulative, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        today_bookings = np.where(ratio > 0, bookings / ratio, 0.0)
        today_revenue = np.where(cumulative > 0, new_logo_revenue / cumulative, 0.0)
    base_b, base_c = plan_base(today_bookings, today_revenue, existing_expansion_revenue)
    reference = drivers.reference
    ae_months = reference.capacity[:, :months, reference.role("ae")].sum()
    found = {}
    for name, base in (("bookings_quota", base_b), ("consumption_quota", base_c)):
        produced = float(base[:, :months].sum())
        if getattr(comp, name) is None:
            # No AE or no production: any positive quota gives attainment 0 (nothing is paid).
            found[name] = produced / ae_months if ae_months > 0 and produced > 0 else 1.0
    return dataclasses.replace(comp, **found)
