"""Capacity -> the monthly drivers of the account kernel.

Per draw ``d`` and month ``t`` (vectorised; no per-account work):

- deals worked = (ramped AE x ``ae.deals_per_month`` + ramped partner x ``partner.deals_per_month``)
  x the comp plan's ``deal_volume``;
- SE deal coverage ``c`` = min(1, ramped SE x ``se_deal_time`` x ``se.deals_per_month`` / deals);
- win rate = ``win_rate`` x (c + (1 - c) x ``uncovered_win_ratio``); expected new logos = deals x
  win rate, split over segments by the new-logo mix (the kernel draws Poisson counts);
- unhealthy share of new logos and use cases = (c x ``unhealthy_covered`` + (1 - c) x
  ``unhealthy_uncovered``) x the plan's ``unhealthy_multiplier``;
- CSM coverage = min(1, ramped CSM x ``csm.accounts_covered`` / expected active accounts), and
  SE/adoption coverage of the installed base likewise from SE base time and adoption specialists;
- the plan's ``commit_multiplier`` scales initial commits, ``market.deal_size_multiplier`` the new
  logos' plateau usage.

Coverage shares use the *expected* number of active accounts (sBG survival of the book plus the
expected new logos), not the simulated count: the account kernel runs account by account, so the
monthly count of its own draw is not known while it runs.  With zero SEs every deal takes the
uncovered rates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import betaln

from simengine.config import Config
from simengine.gtm.staffing import StaffingResult
from simengine.kernels.layout import (
    M_CSM_COVERAGE,
    M_NEW_LOGO_RATE,
    M_SE_COVERAGE,
    M_UNHEALTHY_SHARE,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_COMMIT_MONTHS,
    P_INIT_MU,
)
from simengine.params import assumption_stream, draw_param

__all__ = ["Drivers", "apply_drivers", "expected_active", "new_logo_mix"]


@dataclass
class Drivers:
    """Go-to-market drivers by draw and month (arrays of shape (draws, horizon))."""

    deals: np.ndarray
    deal_coverage: np.ndarray
    win_rate: np.ndarray
    expected_new_logos: np.ndarray
    unhealthy_share: np.ndarray
    csm_coverage: np.ndarray
    se_coverage: np.ndarray


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


def expected_active(seg_params: np.ndarray, state, logo_rate: np.ndarray) -> np.ndarray:
    """Expected active accounts by draw and month under sBG survival (no hazard ratios).

    Parameters
    ----------
    seg_params : ndarray, shape (draws, segments, n_params)
    state : BookState
        Existing accounts (segment, tenure).
    logo_rate : ndarray, shape (draws, segments, horizon)
        Expected new logos per month.
    """
    draws, n_seg, horizon = logo_rate.shape
    alpha = seg_params[:, :, P_CHURN_ALPHA][:, :, None]
    beta = seg_params[:, :, P_CHURN_BETA][:, :, None]
    months = np.arange(horizon)
    total = np.zeros((draws, horizon))
    # Existing accounts: P(active in month t | survived n) = B(a, b + n + t + 1) / B(a, b + n).
    for s in range(n_seg):
        tenures, counts = np.unique(state.tenure[state.segment == s], return_counts=True)
        for n, c in zip(tenures, counts, strict=True):
            a, b = alpha[:, s], beta[:, s]
            total += c * np.exp(betaln(a, b + n + months[None, :] + 1) - betaln(a, b + n))
    # New logos started in month u are active in t >= u with probability B(a, b + t - u) / B(a, b).
    lags = months[:, None] - months[None, :]  # t - u
    started = lags >= 0
    for s in range(n_seg):
        a, b = alpha[:, s, 0][:, None, None], beta[:, s, 0][:, None, None]
        surv = np.where(started, np.exp(betaln(a, b + np.maximum(lags, 0)) - betaln(a, b)), 0.0)
        total += np.einsum("dtu,du->dt", surv, logo_rate[:, s, :])
    return total


def apply_drivers(cfg: Config, params, staffing: StaffingResult, state, book) -> Drivers:
    """Fill the kernel's monthly drivers in ``params`` from the staffing paths; return them."""
    roles = cfg.staffing.roles
    cap = staffing.capacity

    def capacity(role: str) -> np.ndarray:
        return cap[:, :, staffing.role(role)]

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
    active = expected_active(params.seg_params, state, rate)
    csm_accounts = capacity("csm") * per_head("csm", "accounts_covered")
    se_accounts = capacity("se") * (1.0 - se_time) * per_head("se", "accounts_covered") + capacity(
        "adoption"
    ) * per_head("adoption", "accounts_covered")
    with np.errstate(divide="ignore", invalid="ignore"):
        csm_coverage = np.where(active > 0, np.minimum(1.0, csm_accounts / active), 0.0)
        se_coverage = np.where(active > 0, np.minimum(1.0, se_accounts / active), 0.0)

    mp = params.month_params
    mp[..., M_NEW_LOGO_RATE] = rate
    mp[..., M_UNHEALTHY_SHARE] = unhealthy[:, None, :]
    mp[..., M_CSM_COVERAGE] = csm_coverage[:, None, :]
    mp[..., M_SE_COVERAGE] = se_coverage[:, None, :]

    commit = _draw(cfg, cfg.comp.commit_multiplier, "comp.commit_multiplier")
    params.seg_params[:, :, P_COMMIT_MONTHS] *= commit[:, None]
    deal_size = _draw(cfg, cfg.market.deal_size_multiplier, "market.deal_size_multiplier")
    params.seg_params[:, :, P_INIT_MU] += np.log(deal_size)[:, None]

    return Drivers(
        deals=deals,
        deal_coverage=coverage,
        win_rate=win_rate,
        expected_new_logos=new_logos,
        unhealthy_share=unhealthy,
        csm_coverage=csm_coverage,
        se_coverage=se_coverage,
    )
