"""``staffing.budget`` and ``staffing.ae_per_se``: the same budget, different AE:SE ratios.

A staffing-mix sweep asks "for this much money, how many AEs per SE?"::

    simengine run -m staffing.budget=600000,900000 staffing.ae_per_se=1.5,3,6

With ``ae_per_se`` set, :func:`apply_mix` replaces the AE and SE heads of the chosen ``staffing`` plan:

- **Heads in seat.**  ``budget`` is the monthly fully loaded cost (``cost_per_month`` x heads) of the
  AEs and SEs in seat when the horizon starts; unset, it is today's (``company.team``: the same money,
  another mix).  With ``r = ae_per_se``, SEs ``= budget / (r x cost_ae + cost_se)`` and AEs ``= r x``
  SEs, each rounded to whole people.  Heads above today's are hired at the start and ramp.
- **Hires.**  Each role's ``hires_per_quarter`` is scaled by the same factor as its heads in seat
  (new heads / the plan's heads), rounding the cumulative hires so the total scales without drift.
- **Conflicts.**  An AE or SE ``headcount`` set beside them that the mix would change is refused:
  two keys setting one number, one of them silently lost, is never what was meant.

Other roles (CSM, adoption, partner), ramps, attrition and costs stay as the plan sets them (today's
where unset), so two mixes of one budget differ only in who is hired.  Applying the mix twice changes
nothing (the heads it set agree with it, and the factor is 1), so a resolved config validates to
itself.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from simengine.config.schema import (
    CompanyConfig,
    ConfigError,
    RoleConfig,
    StaffingConfig,
    TeamRole,
)

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


def apply_mix(staffing: StaffingConfig, company: CompanyConfig | None = None) -> StaffingConfig:
    """The staffing plan with AE/SE heads and hires set by ``budget`` and ``ae_per_se``.

    Returns ``staffing`` itself when neither key is set.  ``company`` is today's company: its AE
    and SE seats are the budget when ``budget`` is unset, and its values fill what the plan leaves
    unset (heads, costs).

    Raises
    ------
    ConfigError
        ``budget`` without ``ae_per_se``, a value <= 0, a role without a cost, a budget too small
        for one SE at the ratio, or an AE/SE ``headcount`` set to another number beside them.
    """
    budget, ratio = staffing.budget, staffing.ae_per_se
    if budget is None and ratio is None:
        return staffing
    if ratio is None:
        raise ConfigError(
            "config key 'staffing.ae_per_se' = None: staffing.budget needs it (they set AE and "
            "SE heads together)"
        )
    company = company if company is not None else CompanyConfig()
    today = {r: company.team.get(r) or TeamRole() for r in ("ae", "se")}
    plan = {r: staffing.roles.get(r) for r in ("ae", "se")}

    def value(role: str, name: str) -> float:
        mine = getattr(plan[role], name) if plan[role] is not None else None
        return getattr(today[role], name) if mine is None else mine

    if budget is None:
        budget = sum(t.headcount * t.cost_per_month for t in today.values())
        if budget <= 0:
            raise ConfigError(
                f"config key 'staffing.ae_per_se' = {ratio!r}: without staffing.budget the budget "
                "is today's AE and SE seats (company.team), and there are none; set staffing.budget"
            )
    for key, given in (("staffing.budget", budget), ("staffing.ae_per_se", ratio)):
        if not (math.isfinite(given) and given > 0):
            raise ConfigError(f"config key '{key}' = {given!r}: must be > 0")
    cost_ae, cost_se = value("ae", "cost_per_month"), value("se", "cost_per_month")
    if cost_ae <= 0 or cost_se <= 0:
        raise ConfigError(
            f"config key 'staffing.budget' = {budget!r}: needs AE and SE roles with cost_per_month > 0"
        )
    n_ae, n_se = mix_headcount(budget, ratio, cost_ae, cost_se)
    if n_se < 1 or n_ae < 1:
        raise ConfigError(
            f"config key 'staffing.budget' = {budget!r}: too small for one AE and one SE at "
            f"ae_per_se = {ratio!r}"
        )
    for role, heads in (("ae", n_ae), ("se", n_se)):
        given = plan[role].headcount if plan[role] is not None else None
        if given is not None and given != heads:
            raise ConfigError(
                f"config key 'staffing.roles.{role}.headcount' = {given!r}: conflicts with "
                f"staffing.budget = {budget:g} and staffing.ae_per_se = {ratio:g}, which set "
                f"{n_ae} AEs and {n_se} SEs; set the heads or the budget and ratio, not both"
            )
    out = copy.deepcopy(staffing)
    for role, heads in (("ae", n_ae), ("se", n_se)):
        if out.roles.get(role) is None:
            out.roles[role] = RoleConfig()
        rc = out.roles[role]
        before = value(role, "headcount")
        factor = heads / before if before > 0 else 1.0
        rc.hires_per_quarter = scale_hires(list(rc.hires_per_quarter), factor)
        rc.headcount = heads
    return out
