"""``staffing.budget`` and ``staffing.ae_per_se``: the same budget, different AE:SE ratios.

A staffing-mix sweep asks "for this much money, how many AEs per SE?"::

    simengine run -m staffing.budget=600000,900000 staffing.ae_per_se=1.5,3,6

With both keys set, :func:`apply_mix` replaces the AE and SE plans of the chosen ``staffing`` group:

- **Heads in seat.**  ``budget`` is the monthly fully loaded cost (``cost_per_month`` x heads) of the
  AEs and SEs in seat when the horizon starts.  With ``r = ae_per_se``, SEs ``= budget / (r x
  cost_ae + cost_se)`` and AEs ``= r x`` SEs, each rounded to whole people.
- **Hires.**  Each role's ``hires_per_quarter`` is scaled by the same factor as its heads in seat
  (new heads / the plan's heads), rounding the cumulative hires so the total scales without drift.

Other roles (CSM, adoption, partner), ramps, attrition and costs stay as the group sets them, so two
mixes of one budget differ only in who is hired.  Applying the mix twice changes nothing (the
factor is 1 the second time), so a resolved config validates to itself.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from simengine.config.schema import ConfigError, StaffingConfig

__all__ = ["apply_mix", "mix_headcount", "scale_hires"]


def mix_headcount(
    budget: float, ae_per_se: float, cost_ae: float, cost_se: float
) -> tuple[int, int]:
    """Whole AE and SE heads whose monthly cost is ``budget`` at ``ae_per_se`` AEs per SE."""
    se = budget / (ae_per_se * cost_ae + cost_se)
    return round(ae_per_se * se), round(se)


def scale_hires(hires: list[int], factor: float) -> list[int]:
    """Hires per quarter scaled by ``factor``, rounding cumulative totals (no drift)."""
    cum = np.rint(np.cumsum(np.asarray(hires, dtype=float)) * factor).astype(int)
    return np.diff(cum, prepend=0).tolist()


def apply_mix(staffing: StaffingConfig) -> StaffingConfig:
    """The staffing plan with AE/SE heads and hires set by ``budget`` and ``ae_per_se``.

    Returns ``staffing`` itself when neither key is set.

    Raises
    ------
    ConfigError
        One key without the other, a value <= 0, a role without a cost, or a budget too small
        for one SE at the ratio.
    """
    budget, ratio = staffing.budget, staffing.ae_per_se
    if budget is None and ratio is None:
        return staffing
    if budget is None or ratio is None:
        missing = "staffing.budget" if budget is None else "staffing.ae_per_se"
        given = "staffing.ae_per_se" if budget is None else "staffing.budget"
        raise ConfigError(
            f"config key '{missing}' = None: {given} needs it (they set AE and SE heads together)"
        )
    for key, value in (("staffing.budget", budget), ("staffing.ae_per_se", ratio)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"config key '{key}' = {value!r}: must be > 0")
    ae, se = staffing.roles.get("ae"), staffing.roles.get("se")
    if ae is None or se is None or ae.cost_per_month <= 0 or se.cost_per_month <= 0:
        raise ConfigError(
            f"config key 'staffing.budget' = {budget!r}: needs AE and SE roles with cost_per_month > 0"
        )
    n_ae, n_se = mix_headcount(budget, ratio, ae.cost_per_month, se.cost_per_month)
    if n_se < 1 or n_ae < 1:
        raise ConfigError(
            f"config key 'staffing.budget' = {budget!r}: too small for one AE and one SE at "
            f"ae_per_se = {ratio!r}"
        )
    out = copy.deepcopy(staffing)
    for role, heads in (("ae", n_ae), ("se", n_se)):
        rc = out.roles[role]
        factor = heads / rc.headcount if rc.headcount > 0 else 1.0
        rc.hires_per_quarter = scale_hires(list(rc.hires_per_quarter), factor)
        rc.headcount = heads
    return out
