"""Capacity -> the monthly drivers of the account kernel.

Per draw ``d`` and month ``t`` (vectorised; no per-account work):

- deals worked = (ramped AE x ``ae.deals_per_month`` + ramped partner x ``partner.deals_per_month``)
  x the comp plan's ``deal_volume``;
- SE deal coverage ``c`` = min(1, ramped SE x ``se_deal_time`` x ``se.deals_per_month`` / deals);
- win rate = ``win_rate`` x (c + (1 - c) x ``uncovered_win_ratio``); expected new logos = deals x
  win rate;
- **new logos continue the book** (:mod:`simengine.newlogos`): the kernel's Poisson mean for
  segment ``s`` in month ``t`` is the book's fitted new-logo rate ``r_s(t)`` (rate and trend, one
  posterior draw per simulation draw) times ``L_plan(t) / L_now``: the expected new logos of the
  plan (above) over those of the **current team** -- the starting heads of the team the project's
  ``configs/config.yaml`` composes (describe today's team there), fully ramped, no hires, no
  attrition, under a neutral comp plan (``deal_volume`` 1) -- by the same formulas and the same
  draws of the effects.  A scenario or override that changes the team (``staffing=ae_heavy``, more
  heads, other hires) is a change from it.  Today's team therefore reproduces today's rate, and a plan
  moves it by the relative change in capacity-driven logos (a comp plan by its ``deal_volume``).
  With ``market.new_logo_mix`` set, the fitted total rate is split by that mix instead of the
  fitted per-segment rates.  A book without starts in its window (or a current team that wins
  no logos) falls back to the capacity-driven logos split by the mix, as before;
- unhealthy share of the month's new logos = (c x ``unhealthy_covered`` + (1 - c) x
  ``unhealthy_uncovered``) x the plan's ``unhealthy_multiplier``; a new use case is unhealthy with
  ``unhealthy_covered`` x multiplier when its own account has SE support that month, else
  ``unhealthy_uncovered`` x multiplier (the kernel decides per account);
- coverable accounts (:class:`~simengine.kernels.layout.Capacity`): CSM = ramped CSM x
  ``csm.accounts_covered``; SE = ramped SE x (1 - ``se_deal_time``) x ``se.accounts_covered`` +
  ramped adoption x ``adoption.accounts_covered``.  The kernel divides them by the active accounts of
  its own simulated book each month (capped at 1), so capacity binds within a draw;
- the plan's ``commit_multiplier`` scales initial commits, ``market.deal_size_multiplier`` the new
  logos' plateau usage.

Nothing here depends on the simulated book, so it all runs before the kernel.  With zero SEs every
deal takes the uncovered rates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.config import Config, StaffingConfig
from simengine.gtm.staffing import StaffingResult
from simengine.kernels.layout import (
    M_CSM_COVERAGE,
    M_NEW_LOGO_RATE,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    M_UNHEALTHY_SHARE,
    P_COMMIT_MONTHS,
    P_INIT_MU,
    Capacity,
)
from simengine.newlogos import fit_new_logos
from simengine.params import assumption_stream, draw_param

__all__ = ["Drivers", "apply_drivers", "new_logo_mix"]


@dataclass
class Drivers:
    """Go-to-market drivers by draw and month (arrays of shape (draws, horizon)).

    ``csm_capacity`` and ``se_capacity`` are coverable accounts, not shares: the shares come from
    the kernel (``Outputs.coverage``), which knows each draw's simulated book.
    """

    calibrated: bool  # new logos = the book's fitted rate x plan / current team (module doc)
    deals: np.ndarray
    deal_coverage: np.ndarray
    win_rate: np.ndarray
    expected_new_logos: np.ndarray
    unhealthy_share: np.ndarray
    csm_capacity: np.ndarray
    se_capacity: np.ndarray

    @property
    def capacity(self) -> Capacity:
        """The kernel's :class:`~simengine.kernels.layout.Capacity`."""
        return Capacity(csm=self.csm_capacity, se=self.se_capacity)


def _draw(cfg: Config, spec, name: str) -> np.ndarray:
    return draw_param(spec, assumption_stream(cfg.seed, "gtm", name), cfg.sim.draws)


def new_logo_mix(cfg: Config, book, segments: tuple[str, ...]) -> np.ndarray:
    """Share of new logos per segment: ``market.new_logo_mix``, else the book's last 12 months."""
    if cfg.market.new_logo_mix:
        mix = np.array([cfg.market.new_logo_mix.get(s, 0.0) for s in segments], dtype=float)
    else:
        starts = book.accounts[book.accounts["start_month"] > book.as_of - 12]
        if starts.empty:
            starts = book.accounts
        counts = starts["segment"].value_counts()
        mix = np.array([counts.get(s, 0) for s in segments], dtype=float)
    return mix / mix.sum()


def apply_drivers(
    cfg: Config, params, staffing: StaffingResult, book, current: StaffingConfig | None = None
) -> Drivers:
    """Fill the kernel's monthly drivers in ``params`` from the staffing paths; return them.

    ``current`` is today's team, the reference of the new-logo calibration (module doc): the
    team the project's ``configs/config.yaml`` composes; None takes the plan's own starting heads.
    """
    roles = cfg.staffing.roles
    current = cfg.staffing if current is None else current
    cap = staffing.capacity

    def capacity(role: str) -> np.ndarray:
        return cap[:, :, staffing.role(role)]

    def _heads(role: str) -> float:
        rc = current.roles.get(role)
        return float(rc.headcount) if rc is not None else 0.0

    def now_per_head(role: str, field: str) -> np.ndarray:
        rc = current.roles.get(role)
        spec = getattr(rc, field) if rc is not None else 0.0
        return _draw(cfg, spec, f"{role}.{field}")[:, None]

    def per_head(role: str, field: str) -> np.ndarray:
        rc = roles.get(role)
        spec = getattr(rc, field) if rc is not None else 0.0
        return _draw(cfg, spec, f"{role}.{field}")[:, None]

    volume = _draw(cfg, cfg.comp.deal_volume, "comp.deal_volume")[:, None]
    ae_deals = capacity("ae") * per_head("ae", "deals_per_month")
    partner_deals = capacity("partner") * per_head("partner", "deals_per_month")
    deals = (ae_deals + partner_deals) * volume
    se_time = _draw(cfg, cfg.staffing.se_deal_time, "staffing.se_deal_time")[:, None]
    se_deal_capacity = capacity("se") * se_time * per_head("se", "deals_per_month")
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(deals > 0, np.minimum(1.0, se_deal_capacity / deals), 0.0)

    e = cfg.effects
    win = _draw(cfg, e.win_rate, "effects.win_rate")[:, None]
    uncovered = _draw(cfg, e.uncovered_win_ratio, "effects.uncovered_win_ratio")[:, None]
    win_rate = win * (coverage + (1.0 - coverage) * uncovered)
    new_logos = deals * win_rate

    unhealthy_cov = _draw(cfg, e.unhealthy_covered, "effects.unhealthy_covered")[:, None]
    unhealthy_unc = _draw(cfg, e.unhealthy_uncovered, "effects.unhealthy_uncovered")[:, None]
    unhealthy_mult = _draw(cfg, cfg.comp.unhealthy_multiplier, "comp.unhealthy_multiplier")[:, None]
    unhealthy = np.clip(
        (coverage * unhealthy_cov + (1.0 - coverage) * unhealthy_unc) * unhealthy_mult, 0.0, 1.0
    )

    mix = new_logo_mix(cfg, book, params.segments)
    rate = new_logos[:, None, :] * mix[None, :, None]  # (draws, segments, horizon)
    # The current team: starting heads, ramped, under a neutral comp plan (module doc).
    now_deals = _heads("ae") * now_per_head("ae", "deals_per_month") + _heads(
        "partner"
    ) * now_per_head("partner", "deals_per_month")
    now_se_time = _draw(cfg, current.se_deal_time, "staffing.se_deal_time")[:, None]
    now_se = _heads("se") * now_se_time * now_per_head("se", "deals_per_month")
    with np.errstate(divide="ignore", invalid="ignore"):
        now_cov = np.where(now_deals > 0, np.minimum(1.0, now_se / now_deals), 0.0)
    now_logos = now_deals * win * (now_cov + (1.0 - now_cov) * uncovered)  # (draws, 1)
    fit = fit_new_logos(book, params.segments) if book is not None else None
    calibrated = fit is not None and bool(np.all(now_logos > 0))
    if calibrated:
        fitted = fit.draw_rates(
            assumption_stream(cfg.seed, "gtm", "new_logo_process"), cfg.sim.draws,
            new_logos.shape[1],
        )  # fmt: skip
        if cfg.market.new_logo_mix:
            fitted = fitted.sum(axis=1, keepdims=True) * mix[None, :, None]
        rate = fitted * (new_logos / now_logos)[:, None, :]
    csm_accounts = capacity("csm") * per_head("csm", "accounts_covered")
    se_accounts = capacity("se") * (1.0 - se_time) * per_head("se", "accounts_covered") + capacity(
        "adoption"
    ) * per_head("adoption", "accounts_covered")

    mp = params.month_params
    mp[..., M_NEW_LOGO_RATE] = rate
    mp[..., M_UNHEALTHY_SHARE] = unhealthy[:, None, :]
    # Capacity binds (shares = coverable / active, capped at 1 in the kernel), not a fixed share.
    mp[..., M_CSM_COVERAGE] = 1.0
    mp[..., M_SE_COVERAGE] = 1.0
    uc_mult = np.broadcast_to(unhealthy_mult, unhealthy.shape)
    mp[..., M_UC_UNHEALTHY_COVERED] = np.clip(unhealthy_cov * uc_mult, 0.0, 1.0)[:, None, :]
    mp[..., M_UC_UNHEALTHY_UNCOVERED] = np.clip(unhealthy_unc * uc_mult, 0.0, 1.0)[:, None, :]

    commit = _draw(cfg, cfg.comp.commit_multiplier, "comp.commit_multiplier")
    params.seg_params[:, :, P_COMMIT_MONTHS] *= commit[:, None]
    deal_size = _draw(cfg, cfg.market.deal_size_multiplier, "market.deal_size_multiplier")
    params.seg_params[:, :, P_INIT_MU] += np.log(deal_size)[:, None]

    return Drivers(
        calibrated=calibrated,
        deals=deals,
        deal_coverage=coverage,
        win_rate=win_rate,
        expected_new_logos=new_logos,
        unhealthy_share=unhealthy,
        csm_capacity=np.ascontiguousarray(np.broadcast_to(csm_accounts, deals.shape), dtype=float),
        se_capacity=np.ascontiguousarray(np.broadcast_to(se_accounts, deals.shape), dtype=float),
    )
