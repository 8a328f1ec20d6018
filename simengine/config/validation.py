"""Range checks of a composed config (:func:`validate`).

:func:`validate` needs nothing but the config: ranges, types of distribution specs, names of
override parameters.  Each key's range is declared beside its field in
:mod:`simengine.config.schema` (:mod:`simengine.config.constraints`) and checked by
:func:`simengine.config.specs.check_fields`; what compares one key with another is code here.
Checks that need the book (segment names, prices, fitted parameters, the first forecast month) are
in :mod:`simengine.config.live`; :func:`simengine.config.compose.to_config` turns a composed
config into these dataclasses and calls :func:`validate`.
"""

from __future__ import annotations

import dataclasses

from simengine.config.constraints import kind_of
from simengine.config.messages import unknown_name
from simengine.config.schema import (
    ADJUSTMENTS,
    BACKTEST_BASELINES,
    ROLES,
    AdjustConfig,
    CapacityMarket,
    Config,
    ConfigError,
    ModelConfig,
    RateMarket,
    SegmentAssumptions,
    SimConfig,
)
from simengine.config.specs import check_fields, validate_param
from simengine.config.windows import month_of, parse_when, split_value

__all__ = [
    "OVERRIDABLE",
    "month_of",
    "validate",
]

#: Parameters ``model.override.<segment>.<name>`` may replace (the kernel's per-segment values).
OVERRIDABLE = tuple(f.name for f in dataclasses.fields(SegmentAssumptions)) + tuple(
    f.name for f in dataclasses.fields(ModelConfig) if f.name not in ("segments", "override")
)


def _kind(name: str) -> str:
    """The range of the model parameter ``name`` (a field of SegmentAssumptions or ModelConfig)."""
    cls = SegmentAssumptions if name in SegmentAssumptions.__dataclass_fields__ else ModelConfig
    return kind_of(cls, name)


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
    check_fields(s, "sim")  # sim.precision and sim.block_draws before their comparison
    _check(s.max_draws >= s.block_draws, "sim.max_draws", s.max_draws,
           f"must be >= sim.block_draws ({s.block_draws})")  # fmt: skip


def validate(cfg: Config) -> None:
    """Check ranges and consistency; raise :class:`ConfigError` naming the key and the value."""
    check_fields(cfg, "")
    _check_draws(cfg.sim)
    check_fields(cfg.sim, "sim")
    check_fields(cfg.backtest, "backtest")
    known = BACKTEST_BASELINES
    baselines = list(cfg.backtest.baselines)
    unknown = [b for b in baselines if b not in known]
    _check(not unknown, "backtest.baselines", baselines, f"unknown {unknown}; known: {list(known)}")
    _check(len(set(baselines)) == len(baselines), "backtest.baselines", baselines, "repeats a name")
    check_fields(cfg.signals, "signals")
    check_fields(cfg.data.synthetic, "data.synthetic")
    check_fields(cfg.data, "data")
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
    from simengine.config.schema import MODEL_NAMES

    known = set(MODEL_NAMES)
    models = list(cfg.fit.models)
    for m in models:
        _check(m in known, "fit.models", models, f"unknown model {m!r}; known: {sorted(known)}")
    check_fields(cfg.fit, "fit")


def _validate_model(cfg: Config) -> None:
    m = cfg.model
    _check("default" in m.segments, "model.segments", list(m.segments), "needs a 'default' entry")
    for seg, sa in m.segments.items():
        check_fields(sa, f"model.segments.{seg}")
    check_fields(m, "model")
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
    validate_param(value.spec, key, kind=kind_of(AdjustConfig, name))


def _validate_market(cfg: Config) -> None:
    m = cfg.market
    check_fields(m, "market")
    want = CapacityMarket if m.new_logos == "capacity" else RateMarket
    _check(
        isinstance(m, want),
        "market.new_logos",
        m.new_logos,
        f"pick the mode with market={m.new_logos}, not by setting market.new_logos",
    )
    if isinstance(m, CapacityMarket) and m.new_logo_mix:
        _check(
            sum(m.new_logo_mix.values()) > 0,
            "market.new_logo_mix",
            dict(m.new_logo_mix),
            "shares must not all be 0",
        )


def _validate_gtm(cfg: Config) -> None:
    roles = cfg.staffing.roles
    for role in roles:
        _check(role in ROLES, f"staffing.roles.{role}", role, f"unknown role; roles: {list(ROLES)}")
    for role, rc in roles.items():
        check_fields(rc, f"staffing.roles.{role}")  # None: today's value (company.team)
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
    check_fields(cfg.staffing, "staffing")
    check_fields(cfg.comp, "comp")
    check_fields(cfg.effects, "effects")
