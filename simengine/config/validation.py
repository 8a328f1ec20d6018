"""Range checks of a composed config, and the conversion to plain dataclasses.

:func:`validate` needs nothing but the config: ranges, types of distribution specs, names of
override parameters.  Checks that need the book (segment names, prices, fitted parameters, the
first forecast month) are in :mod:`simengine.config.live`.
"""

from __future__ import annotations

import dataclasses
import math
import re

from omegaconf import DictConfig, OmegaConf

from simengine.config.messages import unknown_name
from simengine.config.schema import (
    ADJUSTMENTS,
    BACKTEST_BASELINES,
    ROLES,
    CapacityMarket,
    Config,
    ConfigError,
    MarketConfig,
    ModelConfig,
    RateMarket,
    SegmentAssumptions,
    SimConfig,
)
from simengine.config.specs import validate_param
from simengine.config.windows import month_of, parse_when, split_value

__all__ = [
    "ADJUST_KINDS",
    "MODEL_KINDS",
    "OVERRIDABLE",
    "SEGMENT_KINDS",
    "month_of",
    "to_config",
    "validate",
]

# What range each parameter must lie in; see specs.validate_param.
SEGMENT_KINDS = {
    "usage_volatility": "nonneg",
    "account_sd": "nonneg",
    "churn_alpha": "positive",
    "churn_beta": "positive",
    "use_case_rate": "nonneg",
    "use_case_size_sigma": "nonneg",
    "use_case_ramp_months": "positive",
    "ramp_start": "probability",
    "ramp_months": "positive",
    "initial_log_usage_sd": "nonneg",
}
MODEL_KINDS = {
    "csm_hazard_ratio": "nonneg",
    "se_use_case_ratio": "nonneg",
    "unhealthy_plateau": "probability",
    "unhealthy_decay": "nonneg",
    "unhealthy_hazard_ratio": "nonneg",
    "commit_share": "probability",
    "commit_months": "nonneg",
    "renewal_ratio": "nonneg",
}
ADJUST_KINDS = {
    "churn_hazard": "nonneg",
    "usage_growth": "real",
    "use_case_rate": "nonneg",
    "new_logos": "nonneg",
    "price": "positive",
}
#: Parameters ``model.override.<segment>.<name>`` may replace (the kernel's per-segment values).
OVERRIDABLE = tuple(f.name for f in dataclasses.fields(SegmentAssumptions)) + tuple(
    f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("segments", "override")
)


def _kind(name: str) -> str:
    return SEGMENT_KINDS.get(name) or MODEL_KINDS.get(name, "real")


def to_config(cfg: DictConfig | Config) -> Config:
    """Turn a composed ``DictConfig`` into plain dataclasses and validate it."""
    if isinstance(cfg, DictConfig):
        obj = OmegaConf.to_object(cfg)
        if not isinstance(obj, Config):  # composed without the schema
            obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))
    else:
        obj = cfg
    if type(obj.market) is MarketConfig:  # composed without a market option: capacity
        obj.market = CapacityMarket(**vars(obj.market))
    from simengine.config.company import (
        complete_company,
        fill_company,
        no_company,
        validate_company,
    )

    fill_company(obj)  # the embedded book's example company
    validate_company(obj)  # before unset values take their defaults
    complete_company(obj)
    obj = no_company(obj)  # a book of your own without company.team: market=rate
    validate(obj)
    return obj


def _check(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r}: {why}")


def _check_draws(s) -> None:
    """``sim.draws``: a whole number >= 1 or ``auto``; the auto keys only with ``auto``."""
    auto = s.draws == "auto"
    number = isinstance(s.draws, int) and not isinstance(s.draws, bool)
    _check(auto or number, "sim.draws", s.draws, "must be a whole number >= 1 or auto")
    if not auto:
        _check(s.draws >= 1, "sim.draws", s.draws, "must be >= 1")
        defaults = SimConfig()
        for key in ("precision", "max_draws", "block_draws"):
            value = getattr(s, key)
            _check(value == getattr(defaults, key), f"sim.{key}", value,
                   "only sim.draws=auto reads it")  # fmt: skip
        return
    _check(0 < s.precision < 0.5, "sim.precision", s.precision, "must be in (0, 0.5)")
    _check(s.block_draws >= 10, "sim.block_draws", s.block_draws, "must be >= 10")
    _check(s.max_draws >= s.block_draws, "sim.max_draws", s.max_draws,
           f"must be >= sim.block_draws ({s.block_draws})")  # fmt: skip


def validate(cfg: Config) -> None:
    """Check ranges and consistency; raise :class:`ConfigError` naming the key and the value."""
    _check(cfg.seed >= 0, "seed", cfg.seed, "must be >= 0")
    s = cfg.sim
    _check_draws(s)
    _check(s.horizon_months >= 1, "sim.horizon_months", s.horizon_months, "must be >= 1")
    _check(s.horizon_months <= 600, "sim.horizon_months", s.horizon_months, "must be <= 600")
    _check(s.chunk_draws >= 0, "sim.chunk_draws", s.chunk_draws, "must be >= 0")
    holdout = cfg.backtest.holdout_months
    _check(holdout >= 1, "backtest.holdout_months", holdout, "must be >= 1")
    known = BACKTEST_BASELINES
    baselines = list(cfg.backtest.baselines)
    unknown = [b for b in baselines if b not in known]
    _check(not unknown, "backtest.baselines", baselines, f"unknown {unknown}; known: {list(known)}")
    _check(len(set(baselines)) == len(baselines), "backtest.baselines", baselines, "repeats a name")
    _check(s.threads >= 0, "sim.threads", s.threads, "must be >= 0")
    _check(0 <= s.cohort_months <= 240, "sim.cohort_months", s.cohort_months, "must be in [0, 240]")
    _check(cfg.signals.top >= 1, "signals.top", cfg.signals.top, "must be >= 1")
    syn = cfg.data.synthetic
    _check(syn.n_accounts >= 1, "data.synthetic.n_accounts", syn.n_accounts, "must be >= 1")
    _check(
        syn.history_months >= 2,
        "data.synthetic.history_months",
        syn.history_months,
        "must be >= 2",
    )
    currency = cfg.data.currency
    _check(
        currency is None or re.fullmatch(r"[^\s<>&\"']{1,8}", currency) is not None,
        "data.currency",
        currency,
        "must be a short label such as USD or EUR (1-8 characters, no spaces)",
    )
    fy_start = cfg.data.fiscal_year_start
    _check(
        1 <= fy_start <= 12,
        "data.fiscal_year_start",
        fy_start,
        "must be a month 1-12 (the first calendar month of the fiscal year)",
    )
    _check(
        cfg.data.usage is None or cfg.data.accounts is not None,
        "data.usage",
        cfg.data.usage,
        "needs data.accounts too",
    )
    from simengine.config.company import validate_company

    validate_company(cfg)
    _validate_fit(cfg)
    _validate_model(cfg)
    _validate_adjust(cfg)
    _validate_market(cfg)
    if cfg.market.new_logos == "capacity":
        _validate_gtm(cfg)


def _validate_fit(cfg: Config) -> None:
    from simengine.bookstats.models import MODEL_NAMES

    known = set(MODEL_NAMES)
    models = list(cfg.fit.models)
    for m in models:
        _check(m in known, "fit.models", models, f"unknown model {m!r}; known: {sorted(known)}")
    _check(
        cfg.fit.method in {"nuts", "map", "advi"},
        "fit.method",
        cfg.fit.method,
        "must be one of nuts, map, advi",
    )
    for key in ("draws", "tune", "chains"):
        _check(getattr(cfg.fit, key) >= 1, f"fit.{key}", getattr(cfg.fit, key), "must be >= 1")
    _check(bool(str(cfg.fit.cache_dir).strip()), "fit.cache_dir", cfg.fit.cache_dir, "is empty")
    _check(
        0 < cfg.fit.target_accept < 1,
        "fit.target_accept",
        cfg.fit.target_accept,
        "must be in (0, 1)",
    )


def _validate_model(cfg: Config) -> None:
    m = cfg.model
    _check("default" in m.segments, "model.segments", list(m.segments), "needs a 'default' entry")
    for seg, sa in m.segments.items():
        for name, spec in vars(sa).items():
            validate_param(spec, f"model.segments.{seg}.{name}", kind=_kind(name))
    for name, spec in vars(m).items():
        if name not in ("segments", "override"):
            validate_param(spec, f"model.{name}", kind=_kind(name))
    for seg, entries in m.override.items():
        if not isinstance(entries, dict):
            raise ConfigError(
                f"config key 'model.override.{seg}' = {entries!r}: expected "
                "{parameter: value} (model.override.<segment>.<parameter>)"
            )
        for name, spec in entries.items():
            key = f"model.override.{seg}.{name}"
            if name not in OVERRIDABLE:
                raise unknown_name(key, spec, name, "parameter", OVERRIDABLE)
            validate_param(spec, key, kind=_kind(name))


def _validate_adjust(cfg: Config) -> None:
    a = cfg.adjust
    for name in ADJUSTMENTS:
        _validate_adjust_value(getattr(a, name), f"adjust.{name}", name)
    for seg, entries in a.segments.items():
        if not isinstance(entries, dict):
            raise ConfigError(
                f"config key 'adjust.segments.{seg}' = {entries!r}: expected "
                "{adjustment: value} (adjust.segments.<segment>.<adjustment>)"
            )
        for name, spec in entries.items():
            key = f"adjust.segments.{seg}.{name}"
            if name == "from_month":
                raise ConfigError(
                    f"config key '{key}' = {spec!r}: a segment's values carry their own window, "
                    f"e.g. adjust.segments.{seg}.churn_hazard='{{value: 1.3, from: {spec}}}'"
                )
            if name not in ADJUSTMENTS:
                raise unknown_name(key, spec, name, "adjustment", ADJUSTMENTS)
            _validate_adjust_value(spec, key, name)
    if a.from_month is not None:
        parse_when(a.from_month, "adjust.from_month")


def _validate_adjust_value(spec: object, key: str, name: str) -> None:
    """A number or ``{dist: ...}``, either with an optional window (:mod:`.windows`)."""
    value = split_value(spec, key)
    validate_param(value.spec, key, kind=ADJUST_KINDS[name])


def _validate_market(cfg: Config) -> None:
    m = cfg.market
    _check(
        m.new_logos in {"capacity", "rate"},
        "market.new_logos",
        m.new_logos,
        "pick the mode with market=capacity or market=rate",
    )
    want = CapacityMarket if m.new_logos == "capacity" else RateMarket
    _check(
        isinstance(m, want),
        "market.new_logos",
        m.new_logos,
        f"pick the mode with market={m.new_logos}, not by setting market.new_logos",
    )
    for seg, price in m.unit_price.items():
        _check(price > 0 and math.isfinite(price), f"market.unit_price.{seg}", price, "must be > 0")
    if isinstance(m, CapacityMarket):
        for seg, share in m.new_logo_mix.items():
            _check(share >= 0, f"market.new_logo_mix.{seg}", share, "must be >= 0")
        if m.new_logo_mix:
            _check(
                sum(m.new_logo_mix.values()) > 0,
                "market.new_logo_mix",
                dict(m.new_logo_mix),
                "shares must not all be 0",
            )
        validate_param(m.deal_size_multiplier, "market.deal_size_multiplier", kind="positive")
    else:
        for seg, spec in m.new_logo_rate.items():
            validate_param(spec, f"market.new_logo_rate.{seg}", kind="nonneg")
        for name in ("csm_coverage", "se_coverage", "unhealthy_share"):
            if getattr(m, name) is not None:  # None: the book's own share
                validate_param(getattr(m, name), f"market.{name}", kind="probability")


def _validate_gtm(cfg: Config) -> None:
    roles = cfg.staffing.roles
    for role in roles:
        _check(role in ROLES, f"staffing.roles.{role}", role, f"unknown role; roles: {list(ROLES)}")
    for role, rc in roles.items():
        key = f"staffing.roles.{role}"  # None: today's value (company.team), checked there
        if rc.headcount is not None:
            _check(rc.headcount >= 0, f"{key}.headcount", rc.headcount, "must be >= 0")
        for q, hires in enumerate(rc.hires_per_quarter):
            _check(hires >= 0, f"{key}.hires_per_quarter[{q}]", hires, "must be >= 0")
        if rc.ramp_months is not None:
            _check(rc.ramp_months >= 1, f"{key}.ramp_months", rc.ramp_months, "must be >= 1")
        if rc.backfill_lag_months is not None:
            _check(
                rc.backfill_lag_months >= 0,
                f"{key}.backfill_lag_months",
                rc.backfill_lag_months,
                "must be >= 0",
            )
        if rc.cost_per_month is not None:
            _check(
                rc.cost_per_month >= 0, f"{key}.cost_per_month", rc.cost_per_month, "must be >= 0"
            )
        for name, kind in (
            ("attrition", "probability"),
            ("deals_per_month", "nonneg"),
            ("accounts_covered", "nonneg"),
        ):
            if getattr(rc, name) is not None:
                validate_param(getattr(rc, name), f"{key}.{name}", kind=kind)
    from simengine.config.company import resolve_plan

    plan = resolve_plan(cfg.staffing, cfg.company)  # refuses heads the budget and ratio contradict
    for role, rc in plan.roles.items():
        where = (
            f"staffing.roles.{role}.ramp_months"
            if roles.get(role) is not None and roles[role].ramp_months is not None
            else f"company.team.{role}.ramp_months"
        )
        _check(
            rc.ramp_months <= cfg.sim.horizon_months,
            where,
            rc.ramp_months,
            f"is longer than the horizon (sim.horizon_months = {cfg.sim.horizon_months})",
        )
    if cfg.staffing.se_deal_time is not None:
        validate_param(cfg.staffing.se_deal_time, "staffing.se_deal_time", kind="probability")

    c = cfg.comp
    _check(
        c.plan in {"bookings", "consumption", "hybrid"},
        "comp.plan",
        c.plan,
        "must be bookings, consumption or hybrid",
    )
    _check(0 <= c.variable_share <= 1, "comp.variable_share", c.variable_share, "must be in [0, 1]")
    _check(
        0 <= c.bookings_weight <= 1, "comp.bookings_weight", c.bookings_weight, "must be in [0, 1]"
    )
    for name in ("bookings_quota", "consumption_quota"):  # None: calibrated to today's team
        quota = getattr(c, name)
        _check(quota is None or quota > 0, f"comp.{name}", quota, "must be > 0")
    _check(c.accelerator >= 0, "comp.accelerator", c.accelerator, "must be >= 0")
    _check(c.attainment_cap >= 1, "comp.attainment_cap", c.attainment_cap, "must be >= 1")
    for name in ("deal_volume", "unhealthy_multiplier", "commit_multiplier"):
        validate_param(getattr(c, name), f"comp.{name}", kind="nonneg")

    e = cfg.effects
    validate_param(e.win_rate, "effects.win_rate", kind="probability")
    validate_param(e.uncovered_win_ratio, "effects.uncovered_win_ratio", kind="nonneg")
    validate_param(e.unhealthy_covered, "effects.unhealthy_covered", kind="probability")
    validate_param(e.unhealthy_uncovered, "effects.unhealthy_uncovered", kind="probability")
