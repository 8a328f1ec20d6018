"""Headcount plans -> seats -> headcount, ramped capacity and salary cost per draw, month and role.

The Python layer around :mod:`simengine.kernels.gtm`: it turns ``staffing.roles`` into seat arrays
(starting heads, then each quarter's hires in the quarter's first month), draws each role's attrition
once per simulation draw, and calls the staffing kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.config import ROLES, StaffingConfig
from simengine.kernels.gtm import seat_keys, simulate_staffing
from simengine.params import assumption_stream, draw_param

__all__ = ["StaffingResult", "plan_seats", "simulate_plan"]


@dataclass
class StaffingResult:
    """Staffing paths; arrays have shape (draws, horizon, roles) in ``roles`` order."""

    roles: tuple[str, ...]
    headcount: np.ndarray
    capacity: np.ndarray
    salary_cost: np.ndarray
    attrition: np.ndarray  # (draws, roles): the monthly attrition drawn for each draw

    def role(self, name: str) -> int:
        return self.roles.index(name)


def _resolved(staffing: StaffingConfig) -> StaffingConfig:
    """``staffing`` with values it leaves unset taken from an empty company (no heads, the
    schema's defaults): a plan resolved against today's team passes through unchanged."""
    from simengine.config.company import resolve_plan
    from simengine.config.schema import CompanyConfig

    return resolve_plan(staffing, CompanyConfig())


def plan_seats(
    staffing: StaffingConfig, horizon: int, today: StaffingConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seat arrays ``(role, open_month, ramped_at_open)`` of a plan, roles in ``ROLES`` order.

    Starting heads have open month -1 (in seat when the horizon starts): ramped up to today's
    heads (``today``; None: all of them), the rest hired at the start, ramping from month 0 (a plan
    cannot have more ramped people tomorrow than today).  The hires of quarter ``q`` open in month
    ``3q`` (quarters starting past the horizon are dropped).
    """
    staffing = _resolved(staffing)
    role_idx, opens, ramped = [], [], []
    for r, name in enumerate(ROLES):
        rc = staffing.roles.get(name)
        if rc is None:
            continue
        now = rc.headcount
        if today is not None:
            found = today.roles.get(name)
            now = min(rc.headcount, found.headcount if found is not None else 0)
        role_idx += [r] * rc.headcount
        opens += [-1] * rc.headcount
        ramped += [True] * now + [False] * (rc.headcount - now)
        for q, hires in enumerate(rc.hires_per_quarter):
            if 3 * q < horizon:
                role_idx += [r] * hires
                opens += [3 * q] * hires
                ramped += [False] * hires
    return (
        np.asarray(role_idx, dtype=np.int64),
        np.asarray(opens, dtype=np.int64),
        np.asarray(ramped, dtype=np.bool_),
    )


def simulate_plan(
    staffing: StaffingConfig,
    draws: int,
    horizon: int,
    seed: int,
    today: StaffingConfig | None = None,
) -> StaffingResult:
    """Simulate the staffing plan (resolved: every value set) for every draw.

    Attrition is drawn once per draw from ``staffing.roles.<role>.attrition`` (number or
    distribution), from a stream keyed by role, so changing one role's plan leaves the others'
    draws, and paths, as they were; today's team (``today``, see :func:`plan_seats`) simulated the
    same way shares its seats' paths with every plan that keeps them.
    """
    staffing = _resolved(staffing)
    n_roles = len(ROLES)
    attrition = np.zeros((draws, n_roles))
    lag = np.zeros(n_roles, dtype=np.int64)
    ramp = np.ones(n_roles)
    cost = np.zeros(n_roles)
    for r, name in enumerate(ROLES):
        rc = staffing.roles.get(name)
        if rc is None:
            continue
        attrition[:, r] = draw_param(
            rc.attrition, assumption_stream(seed, "attrition", name), draws
        )
        lag[r] = rc.backfill_lag_months
        ramp[r] = rc.ramp_months
        cost[r] = rc.cost_per_month
    role_idx, opens, ramped = plan_seats(staffing, horizon, today)
    headcount = np.zeros((draws, horizon, n_roles))
    capacity = np.zeros((draws, horizon, n_roles))
    # Starting heads are in seat in month 0 (they may leave at its end); their seats keep month -1
    # in their identity so the quarter-0 hires' keys do not depend on the starting headcount.
    simulate_staffing(
        np.uint64(seed), role_idx, seat_keys(opens + 4096 * role_idx), np.maximum(opens, 0),
        ramped, attrition, lag, ramp, headcount, capacity,
    )  # fmt: skip
    return StaffingResult(
        roles=ROLES,
        headcount=headcount,
        capacity=capacity,
        salary_cost=headcount * cost[None, None, :],
        attrition=attrition,
    )
