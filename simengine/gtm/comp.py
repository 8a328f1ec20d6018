"""Compensation: AE variable pay under the plan, and cost by role.

Variable pay is measured on the plan's base each month:

- bookings base: initial bookings of the month's new logos (a commit where one is signed, else the
  logo's expected first-year consumption: see :func:`simengine.kernels.init_logos.init_logo_block`);
- consumption base: the month's increase in consumption revenue won by the team, month on month and
  floored at 0, of ``new_logo_revenue + existing_expansion_revenue``: all revenue of the forecast's
  new logos (their own use cases included) plus the revenue of new use cases of the accounts that
  were customers at ``as_of``.  (``expansion_revenue`` counts new logos' use cases too, which
  ``new_logo_revenue`` already holds, so it is not added.)

Only sales-led segments count (``company.channels``): self-serve sign-ups are nobody's bookings.

Attainment ``a = w * bookings / (bookings_quota * C) + (1 - w) * consumption / (consumption_quota * C)``
with ``w = bookings_weight`` and ``C`` the ramped AE capacity.  **Quotas** left unset are today's
production, set each forecast year (:func:`calibrate_quotas`): the base today's team would produce
in the year per ramped AE-month of today's team, so today's team held attains 100% every year and
a plan's attainment reads against today's.  Payout at target is
``variable_share x cost_per_month`` per ramped AE-month; the payout factor is ``a`` up to 100% and
``1 + accelerator x (min(a, attainment_cap) - 1)`` above.  Cost = fully loaded salaries of every role
(headcount x ``cost_per_month``) + AE variable pay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.config import CompConfig, StaffingConfig
from simengine.gtm.staffing import StaffingResult

__all__ = ["Costs", "Quotas", "calibrate_quotas", "costs", "payout_factor", "plan_base"]

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
    quotas: Quotas | None = None,
) -> Costs:
    """Salary and variable pay by draw, month and role; inputs are (draws, horizon) totals.

    ``quotas`` are the month-by-month quotas (:func:`calibrate_quotas`); None: the config's.
    """
    if quotas is None:
        quotas = Quotas(
            np.full(bookings.shape[1], float(comp.bookings_quota)),
            np.full(bookings.shape[1], float(comp.consumption_quota)),
            calibrated=False,
        )
    ae = staffing.role("ae")
    ae_capacity = staffing.capacity[:, :, ae]
    bookings_base, consumption_base = plan_base(
        bookings, new_logo_revenue, existing_expansion_revenue
    )
    w = comp.bookings_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        attainment = np.where(
            ae_capacity > 0,
            w * bookings_base / (quotas.bookings * ae_capacity)
            + (1.0 - w) * consumption_base / (quotas.consumption * ae_capacity),
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


@dataclass(frozen=True)
class Quotas:
    """Quotas per ramped AE-month, by forecast month (arrays of shape (horizon,))."""

    bookings: np.ndarray
    consumption: np.ndarray
    calibrated: bool  # True: today's production (calibrate_quotas); False: the config's

    def by_year(self, name: str) -> list[float]:
        """The quota of each forecast year (its first month's)."""
        values = getattr(self, name)
        return [float(values[m]) for m in range(0, values.shape[0], QUOTA_MONTHS)]


#: Outputs that read the quotas.  The quotas are calibrated on the run's own simulated production
#: (every draw, the whole year: :func:`calibrate_quotas`), so these are the outputs that are not
#: draw-local: a run of other draws (``sim.draws=auto``'s blocks) or a scenario that moves
#: production later in a year (an ``adjust`` window from April) recalibrates them for every
#: draw and month of that year.  Known limitation: a quota set from expectations before the year
#: would be neither.
QUOTA_DEPENDENT = (
    "variable_cost", "cost", "total_cost", "post_sales_share", "revenue_per_sm_dollar",
    "cac_payback_months", "ae_attainment",
)  # fmt: skip


def calibrate_quotas(
    comp: CompConfig,
    drivers,
    bookings: np.ndarray,
    new_logo_revenue: np.ndarray,
    existing_expansion_revenue: np.ndarray,
) -> Quotas:
    """The quotas: the config's where set, else today's production per ramped AE-month.

    A quota is set each forecast year, as a company sets next year's: what today's team would
    produce in that year (its bookings, its consumption increase) per ramped AE-month of today's
    team, so today's team held attains 100% every year, and a plan's attainment and variable pay
    read against it.  Today's production is estimated from the plan's own (draws, horizon)
    sales-led totals: its new logos scaled back by the plan's expected logos over today's
    (``drivers.logo_ratio``; for the revenue of cohorts, the ratio accumulated over the months
    they started in), the installed base's expansion as it is.  The quota is that production
    summed over the year and every draw, over today's team's ramped AE capacity summed alike
    (``drivers.reference``).  For a plan equal to today every ratio is exactly 1.
    """
    horizon = bookings.shape[1]
    given = {
        "bookings": comp.bookings_quota,
        "consumption": comp.consumption_quota,
    }
    if all(v is not None for v in given.values()):
        return Quotas(
            np.full(horizon, float(given["bookings"])),
            np.full(horizon, float(given["consumption"])),
            calibrated=False,
        )
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
    base = dict(zip(given, plan_base(today_bookings, today_revenue, existing_expansion_revenue),
                    strict=True))  # fmt: skip
    reference = drivers.reference
    capacity = reference.capacity[:, :, reference.role("ae")]
    out = {}
    for name, quota in given.items():
        values = np.empty(horizon)
        for start in range(0, horizon, QUOTA_MONTHS):
            year = slice(start, min(start + QUOTA_MONTHS, horizon))
            if quota is not None:
                values[year] = float(quota)
                continue
            produced = float(base[name][:, year].sum())
            ae_months = float(capacity[:, year].sum())
            # No AE or no production: any positive quota gives attainment 0 (nothing is paid).
            values[year] = produced / ae_months if ae_months > 0 and produced > 0 else 1.0
        out[name] = values
    return Quotas(out["bookings"], out["consumption"], calibrated=True)
