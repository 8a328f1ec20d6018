"""Capacity -> the monthly drivers of the account kernel, every plan relative to today's team.

The book's fitted history is what **today's team** (``company.team``) produces: its new-logo rate and
trend, its churn and expansion at today's coverage.  A plan therefore acts through its change from
today, never through absolute headcounts, so the same company described at another scale (every
role doubled in both today's team and the plan) forecasts the same status quo.

**Effective heads.**  Per draw ``d``, month ``t`` and role ``k``, the plan's ramped capacity ``C``
and today's team held (:func:`~simengine.config.company.today_plan`: today's heads, ramp, attrition
and backfill, no hires; ``R``) are simulated with the same seat streams, so a plan that keeps today's
seats shares their paths.  The plan's capacity in today's heads is ``E = H x C / R`` (``H`` today's
heads; ``E = C`` for a role today's team does not have).  A plan equal to today has ``E = H``
exactly, in every draw and month.

Every driver is then one formula evaluated twice, on ``E`` with the plan's per-head values (the
plan) and on ``H`` with today's (today):

- deals worked = (AE x ``ae.deals_per_month`` + partner x ``partner.deals_per_month``) x the comp
  plan's ``deal_volume`` (1 for today);
- SE deal coverage ``c`` = min(1, SE x ``se_deal_time`` x ``se.deals_per_month`` / deals);
- win rate = ``win_rate`` x (c + (1 - c) x ``uncovered_win_ratio``); expected new logos = deals x
  win rate;
- **new logos continue the book** (:mod:`simengine.newlogos`): a **sales-led** segment's Poisson
  mean in month ``t`` is its fitted rate ``r_s(t)`` (rate and trend, one posterior draw per
  simulation draw) times the plan's expected logos over today's; a **self-serve** segment
  (``company.channels.<segment>: self_serve``, product-led sign-ups) keeps ``r_s(t)`` whatever the
  team (``adjust.new_logos`` moves both).  With ``market.new_logo_mix`` set, the fitted total rate is
  split by that mix.  A book without starts in its window falls back to the plan's expected logos
  split by the mix;
- unhealthy share of a sales-led segment's new logos = (c x ``unhealthy_covered`` + (1 - c) x
  ``unhealthy_uncovered``) x the plan's ``unhealthy_multiplier`` (0 for self-serve sign-ups: their
  fitted onboarding is the book's); a new use case is unhealthy with ``unhealthy_covered`` x
  multiplier when its own account has SE support that month, else ``unhealthy_uncovered`` x
  multiplier (the kernel decides per account);
- coverable installed accounts: CSM = CSM x ``csm.accounts_covered``; SE = SE x (1 -
  ``se_deal_time``) x ``se.accounts_covered`` + adoption x ``adoption.accounts_covered``.  Coverage
  acts on the **change from today's coverage** (:class:`TodayCoverage`):

  * where the book says who is covered today (``csm_covered`` / ``se_engaged`` flags, or the
    expansion fit's SE-supported share), the fit estimated the effect on covered accounts, so
    today's share ``p`` of today's ``N`` accounts is what today's team covers, and the plan covers
    ``p x N x plan / today`` accounts; the kernel divides by its own simulated book each month
    (capped at 1), so capacity binds within a draw;
  * where it does not, the fitted rates already hold today's coverage, whatever it was: no account
    is marked covered, and the churn hazard and the use-case rate are multiplied by
    ``f(plan share) / f(today's share)``, ``f(s) = 1 + s x (ratio - 1)`` with the shares of ``N``
    and the hazard ratio ``csm_hazard_ratio`` (use-case ratio ``se_use_case_ratio``); a new use
    case is unhealthy only with the chance the plan's lost SE support adds,
    ``max(0, (today's share - plan share) x (unhealthy_uncovered - unhealthy_covered))``
    (the fitted use cases hold today's unhealthy ones; a plan cannot make them healthier);
- the plan's ``commit_multiplier`` scales sales-led initial commits, ``market.deal_size_multiplier``
  the new logos' plateau usage.

Nothing here depends on the simulated book, so it all runs before the kernel.  With zero SEs every
deal takes the uncovered rates exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.config import Config, StaffingConfig
from simengine.config.company import resolve_plan, sales_led, today_plan
from simengine.gtm.staffing import StaffingResult, simulate_plan
from simengine.kernels.layout import (
    M_CSM_COVERAGE,
    M_HAZARD_MULT,
    M_NEW_LOGO_RATE,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    M_UNHEALTHY_SHARE,
    M_USE_CASE_MULT,
    P_COMMIT_MONTHS,
    P_CSM_HR,
    P_INIT_MU,
    P_SE_RATIO,
    Capacity,
)
from simengine.newlogos import fit_new_logos
from simengine.params import assumption_stream, draw_param

__all__ = ["Drivers", "TodayCoverage", "apply_drivers", "new_logo_mix", "today_coverage"]


@dataclass
class Drivers:
    """Go-to-market drivers by draw and month (arrays of shape (draws, horizon)).

    ``csm_capacity`` and ``se_capacity`` are coverable accounts, not shares: the shares come from
    the kernel (``Outputs.coverage``), which knows each draw's simulated book.
    """

    calibrated: bool  # sales-led new logos = the book's fitted rate x plan / today (module doc)
    deals: np.ndarray
    deal_coverage: np.ndarray
    win_rate: np.ndarray
    expected_new_logos: np.ndarray
    unhealthy_share: np.ndarray
    csm_capacity: np.ndarray
    se_capacity: np.ndarray
    # The plan's expected sales-led logos over today's team's, and today's expected sales-led
    # logos a month (the fitted rates): what the comp plan's quotas are calibrated on.
    logo_ratio: np.ndarray | None = None
    today_sales_logos: np.ndarray | None = None
    # Today's team held, simulated with the plan's seat streams (the reference of every ratio).
    reference: StaffingResult | None = None

    @property
    def capacity(self) -> Capacity:
        """The kernel's :class:`~simengine.kernels.layout.Capacity`."""
        return Capacity(csm=self.csm_capacity, se=self.se_capacity)


@dataclass(frozen=True)
class TodayCoverage:
    """Today's installed base and who covers it, as the book says.

    Attributes
    ----------
    accounts : int
        Accounts active at ``as_of`` (``N``).
    csm, se : float or None
        Today's covered share from the book (``csm_covered``; ``se_engaged``, else the fitted
        ``se_supported_share``), None where the book does not say.
    """

    accounts: int
    csm: float | None = None
    se: float | None = None


def _flag_share(flags: np.ndarray) -> float | None:
    known = flags >= 0.0
    return float(flags[known].mean()) if known.any() else None


def today_coverage(state, tree=None, segments: tuple[str, ...] = ()) -> TodayCoverage:
    """Today's coverage of ``state``'s active accounts (:class:`~simengine.engine.BookState`).

    The SE share falls back to the posterior's ``se_supported_share`` (the expansion fit's share of
    SE-supported accounts per segment, posterior mean), weighted by today's accounts per segment.
    """
    acc = state.accounts
    csm = _flag_share(np.asarray(acc.csm_covered, dtype=float))
    se = _flag_share(np.asarray(acc.se_engaged, dtype=float))
    if se is None and tree is not None and "se_supported_share" in tree["posterior"]:
        share = tree["posterior"]["se_supported_share"]
        fitted = [str(s) for s in share["segment"].values]
        mean = share.mean([d for d in share.dims if d != "segment"])
        counts = np.bincount(np.asarray(acc.segment), minlength=len(segments))
        weights = [(counts[i], float(mean.sel(segment=s))) for i, s in enumerate(segments)
                   if s in fitted]  # fmt: skip
        total = sum(n for n, _ in weights)
        if total > 0:
            se = sum(n * p for n, p in weights) / total
    return TodayCoverage(int(state.n_accounts), csm, se)


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


def _effective_heads(plan: StaffingResult, today: StaffingResult, heads: dict[str, float], role):
    """The plan's ramped capacity of ``role`` in today's heads: ``H x C / R`` (module doc)."""
    c = plan.capacity[:, :, plan.role(role)]
    h = heads[role]
    if h <= 0:
        return c
    r = today.capacity[:, :, today.role(role)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, h * (c / r), np.where(c > 0, c, h))  # c / r == 1: exactly h


class _Team:
    """One side of a comparison (the plan, or today's team): capacity per role and per-head draws."""

    def __init__(self, cfg: Config, staffing: StaffingConfig, capacity, volume):
        self.cfg, self.staffing, self.capacity, self.volume = cfg, staffing, capacity, volume
        self.se_time = _draw(cfg, staffing.se_deal_time, "staffing.se_deal_time")[:, None]

    def per_head(self, role: str, name: str) -> np.ndarray:
        rc = self.staffing.roles.get(role)
        spec = getattr(rc, name) if rc is not None else 0.0
        return _draw(self.cfg, spec, f"{role}.{name}")[:, None]

    def deals(self) -> np.ndarray:
        cap = self.capacity
        worked = cap["ae"] * self.per_head("ae", "deals_per_month") + cap[
            "partner"
        ] * self.per_head("partner", "deals_per_month")
        return worked * self.volume

    def deal_coverage(self, deals: np.ndarray) -> np.ndarray:
        se = self.capacity["se"] * self.se_time * self.per_head("se", "deals_per_month")
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(deals > 0, np.minimum(1.0, se / deals), 0.0)

    def coverable(self) -> tuple[np.ndarray, np.ndarray]:
        cap = self.capacity
        csm = cap["csm"] * self.per_head("csm", "accounts_covered")
        se = cap["se"] * (1.0 - self.se_time) * self.per_head("se", "accounts_covered") + cap[
            "adoption"
        ] * self.per_head("adoption", "accounts_covered")
        return csm, se


def apply_drivers(
    cfg: Config,
    params,
    staffing: StaffingResult,
    book,
    reference: StaffingResult | None = None,
    coverage: TodayCoverage | None = None,
) -> Drivers:
    """Fill the kernel's monthly drivers in ``params`` from the plan's staffing paths; return them.

    Parameters
    ----------
    cfg : Config
        The run's config: ``cfg.staffing`` (the plan) is resolved against ``cfg.company``.
    params : simengine.params.Parameters
        Filled in place (``month_params``, and ``seg_params``' commit and deal size).
    staffing : StaffingResult
        The plan's simulated staffing (:func:`~simengine.gtm.staffing.simulate_plan` of the
        resolved plan, with today's team as ``today``).
    book : simengine.data.Book
    reference : StaffingResult, optional
        Today's team held, simulated with the same seed; None simulates it here.
    coverage : TodayCoverage, optional
        Today's coverage; None: the book's active accounts at ``as_of``, no flags.
    """
    plan = resolve_plan(cfg.staffing, cfg.company)
    today = today_plan(cfg.company)
    draws, horizon = staffing.capacity.shape[:2]
    if reference is None:
        reference = simulate_plan(today, draws, horizon, cfg.seed)
    if coverage is None:
        coverage = TodayCoverage(_active_accounts(book))
    heads = {r: float(rc.headcount) for r, rc in today.roles.items()}
    roles = ("ae", "se", "csm", "adoption", "partner")
    effective = {r: _effective_heads(staffing, reference, heads, r) for r in roles}
    volume = _draw(cfg, cfg.comp.deal_volume, "comp.deal_volume")[:, None]
    mine = _Team(cfg, plan, effective, volume)
    now = _Team(cfg, today, {r: np.full((draws, 1), heads[r]) for r in roles}, 1.0)

    e = cfg.effects
    win = _draw(cfg, e.win_rate, "effects.win_rate")[:, None]
    uncovered = _draw(cfg, e.uncovered_win_ratio, "effects.uncovered_win_ratio")[:, None]
    deals = mine.deals()
    deal_coverage = mine.deal_coverage(deals)
    win_rate = win * (deal_coverage + (1.0 - deal_coverage) * uncovered)
    new_logos = deals * win_rate
    now_deals = now.deals()
    now_coverage = now.deal_coverage(now_deals)
    # The same operations in the same order as the plan's, so a plan equal to today gives 1.
    now_logos = now_deals * (win * (now_coverage + (1.0 - now_coverage) * uncovered))  # (draws, 1)

    unhealthy_cov = _draw(cfg, e.unhealthy_covered, "effects.unhealthy_covered")[:, None]
    unhealthy_unc = _draw(cfg, e.unhealthy_uncovered, "effects.unhealthy_uncovered")[:, None]
    unhealthy_mult = _draw(cfg, cfg.comp.unhealthy_multiplier, "comp.unhealthy_multiplier")[:, None]
    unhealthy = np.clip(
        (deal_coverage * unhealthy_cov + (1.0 - deal_coverage) * unhealthy_unc) * unhealthy_mult,
        0.0,
        1.0,
    )

    segments = tuple(params.segments)
    sold = np.asarray(sales_led(cfg.company, segments))
    mix = new_logo_mix(cfg, book, segments)
    rate = new_logos[:, None, :] * mix[None, :, None]  # (draws, segments, horizon)
    fit = fit_new_logos(book, segments) if book is not None else None
    calibrated = fit is not None and bool(np.all(now_logos > 0))
    ratio = today_sales = None
    if calibrated:
        fitted = fit.draw_rates(
            assumption_stream(cfg.seed, "gtm", "new_logo_process"), cfg.sim.draws, horizon
        )
        if cfg.market.new_logo_mix:
            fitted = fitted.sum(axis=1, keepdims=True) * mix[None, :, None]
        ratio = new_logos / now_logos
        rate = np.where(sold[None, :, None], fitted * ratio[:, None, :], fitted)
        today_sales = fitted[:, sold, :].sum(axis=1)

    mp = params.month_params
    mp[..., M_NEW_LOGO_RATE] = rate
    mp[..., M_UNHEALTHY_SHARE] = np.where(sold[None, :, None], unhealthy[:, None, :], 0.0)
    uc_mult = np.broadcast_to(unhealthy_mult, unhealthy.shape)
    mp[..., M_UC_UNHEALTHY_COVERED] = np.clip(unhealthy_cov * uc_mult, 0.0, 1.0)[:, None, :]
    mp[..., M_UC_UNHEALTHY_UNCOVERED] = np.clip(unhealthy_unc * uc_mult, 0.0, 1.0)[:, None, :]
    csm_accounts, se_accounts = _coverage(
        params, mine.coverable(), now.coverable(), coverage, unhealthy_cov * uc_mult,
        unhealthy_unc * uc_mult,
    )  # fmt: skip

    commit = _draw(cfg, cfg.comp.commit_multiplier, "comp.commit_multiplier")
    params.seg_params[:, sold, P_COMMIT_MONTHS] *= commit[:, None]
    deal_size = _draw(cfg, cfg.market.deal_size_multiplier, "market.deal_size_multiplier")
    params.seg_params[:, :, P_INIT_MU] += np.log(deal_size)[:, None]

    shape = deals.shape
    return Drivers(
        calibrated=calibrated,
        deals=deals,
        deal_coverage=deal_coverage,
        win_rate=win_rate,
        expected_new_logos=new_logos,
        unhealthy_share=unhealthy,
        csm_capacity=np.ascontiguousarray(np.broadcast_to(csm_accounts, shape), dtype=float),
        se_capacity=np.ascontiguousarray(np.broadcast_to(se_accounts, shape), dtype=float),
        logo_ratio=ratio,
        today_sales_logos=today_sales,
        reference=reference,
    )


def _coverage(params, plan, today, coverage: TodayCoverage, uc_covered, uc_uncovered):
    """Coverable accounts for the kernel, relative to today's coverage (module doc).

    ``plan`` and ``today`` are ``(csm, se)`` coverable accounts; returns the kernel's ``(csm, se)``
    and sets the coverage slots (and, without the book's shares, the multipliers) of ``params``.
    """
    mp = params.month_params
    n = max(coverage.accounts, 1)
    out = []
    kinds = (
        (coverage.csm, M_CSM_COVERAGE, M_HAZARD_MULT, P_CSM_HR),
        (coverage.se, M_SE_COVERAGE, M_USE_CASE_MULT, P_SE_RATIO),
    )
    for (share, slot, mult_slot, effect), mine, now in zip(kinds, plan, today, strict=True):
        now = np.broadcast_to(now, mine.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            if share is not None:  # the fit knows who is covered: absolute, scaled from today
                accounts = np.where(now > 0, share * n * (mine / now), share * n + mine)
                mp[..., slot] = 1.0  # capacity binds
                out.append(accounts)
                continue
            # The fitted rates hold today's coverage: act on the change, as a multiplier.
            ratio = params.seg_params[:, :, effect][:, :, None]  # (draws, segments, 1)
            mine_share = np.minimum(1.0, mine / n)[:, None, :]
            now_share = np.minimum(1.0, now / n)[:, None, :]
            factor = (1.0 + mine_share * (ratio - 1.0)) / (1.0 + now_share * (ratio - 1.0))
        mp[..., mult_slot] *= np.where(np.isfinite(factor), factor, 1.0)
        mp[..., slot] = 0.0  # no account is marked covered: the multiplier carries the effect
        if slot == M_SE_COVERAGE:
            # The fitted use cases hold today's share of unhealthy ones: a plan adds the
            # unhealthy chance its lost SE support costs, never takes away what the fit holds.
            s, s0 = np.minimum(1.0, mine / n), np.minimum(1.0, now / n)
            extra = (s0 - s) * (uc_uncovered - uc_covered)
            mp[..., M_UC_UNHEALTHY_UNCOVERED] = np.clip(extra, 0.0, 1.0)[:, None, :]
        out.append(mine)
    return out[0], out[1]


def _active_accounts(book) -> int:
    """Accounts of ``book`` that are customers at ``as_of``."""
    if book is None:
        return 1
    acc = book.accounts
    churn = acc["churn_month"]
    active = (acc["start_month"] <= book.as_of) & (churn.isna() | (churn > book.as_of))
    return int(active.sum())
