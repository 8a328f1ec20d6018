"""Go-to-market: headcount plans, ramp and attrition (staffing), capacity -> kernel drivers, and
compensation and cost."""

from simengine.gtm.comp import Costs, costs, payout_factor
from simengine.gtm.drivers import Drivers, apply_drivers, new_logo_mix
from simengine.gtm.staffing import StaffingResult, plan_seats, simulate_plan

__all__ = [
    "Costs",
    "Drivers",
    "StaffingResult",
    "apply_drivers",
    "costs",
    "new_logo_mix",
    "payout_factor",
    "plan_seats",
    "simulate_plan",
]
