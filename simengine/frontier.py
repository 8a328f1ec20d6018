"""The staffing frontier: which AE:SE mix is best at each budget, and how sure that is.

Over a sweep of ``staffing.budget`` x ``staffing.ae_per_se`` (see :mod:`simengine.config.staffing_mix`),
``simengine compare`` also writes ``frontier.csv`` and ``frontier.png``.  For each budget and mix:

- ``value``: the objective (``compare.objective``) at fiscal year ``compare.year`` (an index or a
  label such as ``FY2027``; default, or ``all``: the last full fiscal year):

  - ``revenue_p50`` (default): P50 of the year's revenue;
  - ``p_revenue_target``: P(year's revenue >= ``compare.target``);
  - ``nrr``: P50 of NRR at the year's end;
  - ``revenue_per_sm_dollar``: P50 of the year's revenue per go-to-market dollar.

- ``best``: the mix with the highest ``value`` at its budget.
- ``p_best``: the share of paired draws (possible futures: every mix sees the same parameter
  draws and random streams) in which the mix has the highest per-draw metric at its budget
  (revenue for the two revenue objectives, NRR, revenue per GTM dollar); a tie among ``k`` mixes
  gives each ``1/k``.  The ``p_best`` of one budget's mixes sum to 1.
- ``p_best_beats``: the share of paired draws in which the ``best`` mix beats this one on the
  objective's per-draw score (the metric; for ``p_revenue_target`` whether revenue reaches the
  target), ties counting one half (:func:`simengine.compare.paired.p_better`): 0.5 for the best
  itself.
- ``tied_with_best``: ``p_best_beats`` < :data:`TIE_P` (0.6): the data cannot tell this mix from
  the best (a 0.04% difference the best wins in 48% of the draws is a tie, not a winner).  Every
  budget has at least one (the best itself); tables and the plot mark them all alike.
- ``ae_heads``, ``se_heads``, ``cost_month``: the AE and SE heads in seat when the horizon starts,
  as simulated (the mix rounds heads to whole people), and their monthly fully loaded cost: what
  the mix really costs, which is not exactly its ``budget`` (NaN when the scenarios carry no
  resolved config).
- ``gtm_cost_month_p50``: P50 over draws of the simulated monthly go-to-market cost (every role,
  salaries and variable pay, hires and attrition) averaged over forecast year ``year``.

``p_best`` is the planner's uncertainty: a mix that is best on the median but in only 40% of the
futures is a weaker choice than one best in 90% of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from simengine.compare.metrics import scenario_metrics
from simengine.compare.paired import p_better
from simengine.compare.runs import CompareError
from simengine.config import config_section

__all__ = [
    "OBJECTIVES",
    "TIE_P",
    "FrontierSpec",
    "frontier",
    "mix_heads",
    "mixes",
    "spec_from_keys",
]

#: A mix is tied with its budget's best when the best beats it in fewer than this share of the
#: paired draws (``p_best_beats``): 0.6 is "no better than a coin flip, give or take".
TIE_P = 0.6

#: Objective -> (per-draw metric, statistic over draws).
OBJECTIVES = {
    "revenue_p50": ("revenue", "p50"),
    "p_revenue_target": ("revenue", "p_target"),
    "nrr": ("nrr", "p50"),
    "revenue_per_sm_dollar": ("revenue_per_sm_dollar", "p50"),
}


@dataclass(frozen=True)
class FrontierSpec:
    """What the frontier maximises: ``objective`` at forecast ``year`` (``target`` for P(>=))."""

    objective: str = "revenue_p50"
    year: int | None = None
    target: float | None = None
    #: The year's fiscal label (``FY2027``), for titles.
    year_label: str = ""


def mixes(ds: xr.Dataset) -> pd.DataFrame | None:
    """``budget`` and ``ae_per_se`` per scenario (from coordinates or each job's config), or None.

    Coordinates ``staffing_budget``/``staffing_ae_per_se`` win; otherwise each scenario's resolved
    ``config`` YAML is read.  None unless every scenario has both.
    """
    labels = [str(s) for s in ds["scenario"].values]
    if "staffing_budget" in ds.coords and "staffing_ae_per_se" in ds.coords:
        budget = ds["staffing_budget"].values.astype(float)
        ratio = ds["staffing_ae_per_se"].values.astype(float)
    elif "config" in ds.coords:
        budget, ratio = [], []
        for text in ds["config"].values:
            staffing = config_section(str(text), "staffing")
            budget.append(staffing.get("budget"))
            ratio.append(staffing.get("ae_per_se"))
        if any(v is None for v in [*budget, *ratio]):
            return None
    else:
        return None
    table = pd.DataFrame(
        {
            "scenario": labels,
            "budget": np.asarray(budget, float),
            "ae_per_se": np.asarray(ratio, float),
        }
    )
    return table


def mix_heads(ds: xr.Dataset) -> pd.DataFrame:
    """AE and SE heads in seat at the start and their monthly cost, per scenario, read from each
    scenario's resolved ``config`` (the heads :mod:`simengine.config.staffing_mix` rounded, which
    the run simulated); NaN where a scenario carries no config or the plan has no such role."""
    labels = [str(s) for s in ds["scenario"].values]
    texts = [str(t) for t in ds["config"].values] if "config" in ds.coords else [""] * len(labels)
    rows = []
    for label, text in zip(labels, texts, strict=True):
        roles = (config_section(text, "staffing") if text else {}).get("roles") or {}
        team = (config_section(text, "company") if text else {}).get("team") or {}
        heads = {}
        for role in ("ae", "se"):
            rc, today = roles.get(role) or {}, team.get(role) or {}
            count, cost = rc.get("headcount"), rc.get("cost_per_month")
            if count is None:  # the plan is resolved against today's team: its heads in seat
                count = _heads_at_start(ds, label, role)
            if cost is None:  # a plan's unset cost is today's
                cost = today.get("cost_per_month")
            heads[role] = (
                np.nan if count is None else float(count),
                np.nan if cost is None else float(cost),
            )
        cost = sum(n * c for n, c in heads.values())
        rows.append((label, heads["ae"][0], heads["se"][0], cost))
    return pd.DataFrame(rows, columns=["scenario", "ae_heads", "se_heads", "cost_month"])


def _heads_at_start(ds: xr.Dataset, label: str, role: str) -> float | None:
    """A scenario's heads of ``role`` in seat in the first forecast month (median over draws:
    attrition may already have taken one in a few), from its ``headcount``; None without it."""
    if "headcount" not in ds or role not in ds["role"].values:
        return None
    heads = ds["headcount"].sel(scenario=label, role=role).isel(month=0)
    return float(np.nanmedian(np.asarray(heads.values, dtype=float)))


def spec_from_keys(keys: dict[str, str], ds: xr.Dataset) -> FrontierSpec | None:
    """The frontier asked for by ``compare.*`` keys, or None when ``ds`` is not a mix sweep.

    Raises :class:`CompareError` for frontier keys on a sweep that is not a staffing-mix sweep (a
    key that would change nothing), an unknown objective, or a target missing or not wanted.
    """
    # compare.year also picks the comparison's years, so only these two are the frontier's alone.
    given = {k: keys[k] for k in ("objective", "target") if k in keys}
    mix = mixes(ds)
    if mix is None or mix["ae_per_se"].nunique() < 2:
        if given:
            key = next(iter(given))
            raise CompareError(
                f"config key 'compare.{key}' = {given[key]!r}: the frontier needs a sweep of "
                "staffing.ae_per_se (with staffing.budget); these scenarios are not one"
            )
        return None
    objective = given.get("objective", "revenue_p50")
    if objective not in OBJECTIVES:
        raise CompareError(
            f"config key 'compare.objective' = {objective!r}: unknown; objectives: "
            f"{', '.join(OBJECTIVES)}"
        )
    year = _frontier_year(keys.get("year"), ds)
    try:
        target = float(given["target"]) if "target" in given else None
    except ValueError as exc:
        raise CompareError(f"compare.target: {exc}") from None
    if (objective == "p_revenue_target") != (target is not None):
        raise CompareError(
            f"config key 'compare.target' = {target!r}: needed by, and only by, "
            "compare.objective=p_revenue_target"
        )
    from simengine.compare.metrics import year_names

    return FrontierSpec(objective, year, target, year_names(ds).get(year, ("", 0))[0])


def _frontier_year(value: str | None, ds: xr.Dataset) -> int:
    """The fiscal year the frontier ranks: ``compare.year`` when it names one, else (unset, or
    ``all``) the last full fiscal year (12 months), else the last."""
    from simengine.compare.metrics import parse_years, year_names

    choice = parse_years(value, ds)
    if choice is not None and not choice.every:
        return choice.indices[0]
    names = year_names(ds)
    full = [y for y, (_, months) in names.items() if months == 12]
    return max(full) if full else max(names)


def _statistic(values: np.ndarray, spec: FrontierSpec) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan")
    if OBJECTIVES[spec.objective][1] == "p_target":
        return float(np.mean(finite >= spec.target))
    return float(np.median(finite))


def _score(values: np.ndarray, spec: FrontierSpec) -> np.ndarray:
    """The per-draw score whose paired comparison decides a tie: the metric, or for
    ``p_revenue_target`` whether the draw reaches the target (1/0; NaN stays NaN)."""
    if OBJECTIVES[spec.objective][1] != "p_target":
        return values
    return np.where(np.isfinite(values), (values >= spec.target).astype(float), np.nan)


def frontier(ds: xr.Dataset, spec: FrontierSpec, cache: dict | None = None) -> pd.DataFrame:
    """One row per scenario: ``budget, ae_per_se, scenario, objective, year, value, p10, p50, p90,
    p_best, best, p_best_beats, tied_with_best, ae_heads, se_heads, cost_month,
    gtm_cost_month_p50`` (module doc), sorted by budget then ratio.  ``cache``: per-draw metrics
    the comparison computed (:func:`simengine.compare.metrics.scenario_metrics`)."""
    mix = mixes(ds)
    if mix is None:
        raise CompareError("the frontier needs staffing.budget and staffing.ae_per_se per scenario")
    heads = mix_heads(ds).set_index("scenario")
    metric = OBJECTIVES[spec.objective][0]
    per_draw, gtm_cost = {}, {}
    for label in mix["scenario"]:
        values, _ = scenario_metrics(ds, label, cache)
        if (metric, spec.year) not in values:
            raise CompareError(f"compare.objective={spec.objective}: the forecast has no {metric}")
        per_draw[label] = values[metric, spec.year]
        cost = values.get(("total_cost", spec.year))
        months = min(12 * spec.year, ds.sizes["month"]) - 12 * (spec.year - 1)
        finite = cost[np.isfinite(cost)] / months if cost is not None else np.empty(0)
        gtm_cost[label] = float(np.median(finite)) if finite.size else float("nan")
    rows = []
    for budget, group in mix.groupby("budget", sort=True):
        group = group.sort_values("ae_per_se")
        stack = np.vstack([per_draw[s] for s in group["scenario"]])  # (mixes, draws)
        # A non-finite draw never wins; a draw where no mix is finite counts for none.
        filled = np.where(np.isfinite(stack), stack, -np.inf)
        top = filled.max(axis=0)
        winners = (filled == top) & np.isfinite(top)
        counted = winners.any(axis=0)
        share = (winners[:, counted] / winners[:, counted].sum(axis=0)).sum(axis=1)
        p_best = share / max(1, counted.sum())
        values = [_statistic(v, spec) for v in stack]
        best = int(np.nanargmax(values)) if np.isfinite(values).any() else -1
        scores = [_score(v, spec) for v in stack]
        beats = [p_better(scores[best], v) if best >= 0 else np.nan for v in scores]
        for i, row in enumerate(group.itertuples()):
            finite = stack[i][np.isfinite(stack[i])]
            q = np.quantile(finite, (0.1, 0.5, 0.9)) if finite.size else (np.nan,) * 3
            own = heads.loc[row.scenario]
            rows.append(
                {
                    "budget": budget,
                    "ae_per_se": row.ae_per_se,
                    "scenario": row.scenario,
                    "objective": spec.objective,
                    "year": spec.year,
                    "value": values[i],
                    "p10": q[0],
                    "p50": q[1],
                    "p90": q[2],
                    "p_best": float(p_best[i]),
                    "best": i == best,
                    "p_best_beats": beats[i],
                    # NaN (no finite pair) is no evidence of a difference: tied.
                    "tied_with_best": not beats[i] >= TIE_P,
                    "ae_heads": own["ae_heads"],
                    "se_heads": own["se_heads"],
                    "cost_month": own["cost_month"],
                    "gtm_cost_month_p50": gtm_cost[row.scenario],
                }
            )
    return pd.DataFrame(rows)
