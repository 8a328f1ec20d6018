"""The company as it is today (``company.*``), and plans resolved against it.

Every plan is relative to today's team: a ``staffing.roles.<role>`` value left unset is today's
(``company.team.<role>``), so ``staffing=today`` (nothing set) is today's team held, with its
attrition backfilled and no hires.  :func:`resolve_plan` fills a plan in; :func:`today_plan` is the
reference every plan is measured against (simengine.gtm.drivers).

Whose company:

- the embedded default book (no ``data.accounts``) is the example company's: with no
  ``company.team`` given, :func:`fill_company` reads ``configs/company/example.yaml``;
- a book of your own has no company until you describe it (overrides, a scenario file, or
  ``company=example`` to borrow the example's on purpose).  Without one, :func:`no_company` turns a
  run into ``market=rate`` (new logos continue the book's fitted history) and refuses every staffing,
  comp, effects or capacity-market key with one line saying to describe ``company.team`` first --
  never the example's team on a user's book.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from collections.abc import Mapping

from simengine.config.schema import (
    CHANNELS,
    COVERAGE_ROLES,
    DEAL_ROLES,
    ROLES,
    CapacityMarket,
    CompanyConfig,
    Config,
    ConfigError,
    RateMarket,
    RoleConfig,
    StaffingConfig,
    TeamRole,
)
from simengine.config.specs import validate_param

__all__ = [
    "GTM_SECTIONS",
    "describe_hint",
    "example_company",
    "fill_company",
    "no_company",
    "resolve_plan",
    "sales_led",
    "today_plan",
    "validate_company",
]

log = logging.getLogger("simengine")

#: Sections that only act through the go-to-market model.
GTM_SECTIONS = ("staffing", "comp", "effects")


def describe_hint() -> str:
    """How to describe today's team (the tail of every "describe company.team first" message)."""
    return (
        "describe today's team first: company.team.<role>.headcount (with cost_per_month, "
        "deals_per_month, accounts_covered) for ae, se, csm, ... as overrides or in a scenario "
        "file (README 'Planning on your own book'); until then new logos continue the book's "
        "fitted history (market=rate)"
    )


@functools.cache
def _example() -> CompanyConfig:
    from omegaconf import OmegaConf

    from simengine.config.scenarios import CONFIG_DIR

    node = OmegaConf.merge(
        OmegaConf.structured(CompanyConfig), OmegaConf.load(CONFIG_DIR / "company" / "example.yaml")
    )
    return OmegaConf.to_object(node)


def example_company() -> CompanyConfig:
    """The example company of ``configs/company/example.yaml`` (a fresh copy)."""
    return copy.deepcopy(_example())


def fill_company(cfg: Config) -> None:
    """Give the embedded default book its example company when no ``company.team`` is set."""
    if cfg.data.accounts is None and not cfg.company.team:
        example = example_company()
        if cfg.company.channels:
            example.channels = dict(cfg.company.channels)
        if cfg.company.se_deal_time != CompanyConfig().se_deal_time:
            example.se_deal_time = cfg.company.se_deal_time
        cfg.company = example


def _leaves(obj: object, prefix: str) -> dict[str, object]:
    if dataclasses.is_dataclass(obj):
        items = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping) and "dist" not in obj:
        items = dict(obj)
    else:
        return {prefix: obj}
    out: dict[str, object] = {}
    for k, v in items.items():
        out |= _leaves(v, f"{prefix}.{k}")
    return out or {prefix: obj}


@functools.cache
def _default_gtm() -> dict[str, object]:
    """Leaves of staffing, comp and effects in the default composition (no overrides)."""
    from omegaconf import OmegaConf

    from simengine.config.compose import compose

    base = OmegaConf.to_object(compose(()))
    out: dict[str, object] = {}
    for section in GTM_SECTIONS:
        out |= _leaves(getattr(base, section), section)
    return out


def _set_gtm_key(cfg: Config) -> tuple[str, object] | None:
    """The first staffing/comp/effects/capacity-market key ``cfg`` sets, or None."""
    default = _default_gtm()
    group_keys = {"staffing.name": "staffing", "comp.plan": "comp"}  # the group option picked
    for section in GTM_SECTIONS:
        for key, value in _leaves(getattr(cfg, section), section).items():
            if key not in default or default[key] != value:
                return group_keys.get(key, key), value
    market = cfg.market
    if isinstance(market, CapacityMarket):
        if market.new_logo_mix:
            return "market.new_logo_mix", dict(market.new_logo_mix)
        if market.deal_size_multiplier != 1.0:
            return "market.deal_size_multiplier", market.deal_size_multiplier
    return None


def no_company(cfg: Config) -> Config:
    """A book of your own without ``company.team``: ``market=rate`` from the fitted history.

    Returns ``cfg`` (its market replaced by :class:`RateMarket` when it was the capacity model);
    raises :class:`ConfigError` for a key that needs today's team.
    """
    if cfg.data.accounts is None or cfg.company.team:
        return cfg
    found = _set_gtm_key(cfg)
    if found is not None:
        key, value = found
        raise ConfigError(
            f"config key '{key}' = {value!r}: plans are relative to today's team, and this book "
            f"has none described; {describe_hint()}"
        )
    if isinstance(cfg.market, CapacityMarket):
        cfg.market = RateMarket(unit_price=dict(cfg.market.unit_price))
    return cfg


def _team_role(company: CompanyConfig, role: str) -> TeamRole:
    found = company.team.get(role)
    return found if found is not None else TeamRole()


def resolve_plan(staffing: StaffingConfig, company: CompanyConfig) -> StaffingConfig:
    """The plan with every unset value taken from today's team (a new, concrete plan).

    Every role of :data:`ROLES` is present; a role today's team does not name has no heads.
    """
    roles = {}
    for role in ROLES:
        today = _team_role(company, role)
        plan = staffing.roles.get(role) or RoleConfig()
        values = {}
        for f in dataclasses.fields(RoleConfig):
            mine = getattr(plan, f.name)
            if f.name == "hires_per_quarter":
                values[f.name] = list(mine)
            else:
                values[f.name] = mine if mine is not None else getattr(today, f.name)
        roles[role] = RoleConfig(**values)
    se_time = staffing.se_deal_time if staffing.se_deal_time is not None else company.se_deal_time
    return StaffingConfig(
        name=staffing.name,
        roles=roles,
        se_deal_time=se_time,
        budget=staffing.budget,
        ae_per_se=staffing.ae_per_se,
    )


def today_plan(company: CompanyConfig) -> StaffingConfig:
    """Today's team held: its heads, ramp, attrition and backfill, no hires (the reference)."""
    return resolve_plan(StaffingConfig(name="today"), company)


def sales_led(company: CompanyConfig, segments: tuple[str, ...]) -> tuple[bool, ...]:
    """Per segment: sold by the sales team (True) or product-led sign-ups (False)."""
    return tuple(company.channels.get(s, "sales_led") == "sales_led" for s in segments)


def _check(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r}: {why}")


def validate_company(cfg: Config) -> None:
    """Ranges of ``company.*``, and keys a role cannot use (deals of a CSM, accounts of an AE)."""
    company = cfg.company
    for role, t in company.team.items():
        key = f"company.team.{role}"
        _check(role in ROLES, key, role, f"unknown role; roles: {list(ROLES)}")
        _check(t.headcount >= 0, f"{key}.headcount", t.headcount, "must be >= 0")
        _check(t.cost_per_month >= 0, f"{key}.cost_per_month", t.cost_per_month, "must be >= 0")
        _check(t.ramp_months >= 1, f"{key}.ramp_months", t.ramp_months, "must be >= 1")
        _check(
            t.backfill_lag_months >= 0,
            f"{key}.backfill_lag_months",
            t.backfill_lag_months,
            "must be >= 0",
        )
        validate_param(t.attrition, f"{key}.attrition", kind="probability")
        validate_param(t.deals_per_month, f"{key}.deals_per_month", kind="nonneg")
        validate_param(t.accounts_covered, f"{key}.accounts_covered", kind="nonneg")
        _check(
            role in DEAL_ROLES or t.deals_per_month == 0,
            f"{key}.deals_per_month",
            t.deals_per_month,
            f"role '{role}' works no deals",
        )
        _check(
            role in COVERAGE_ROLES or t.accounts_covered == 0,
            f"{key}.accounts_covered",
            t.accounts_covered,
            f"role '{role}' covers no installed accounts",
        )
    for seg, channel in company.channels.items():
        _check(
            channel in CHANNELS,
            f"company.channels.{seg}",
            channel,
            f"must be one of {', '.join(CHANNELS)}",
        )
    validate_param(company.se_deal_time, "company.se_deal_time", kind="probability")


def check_company_live(cfg: Config, segments: tuple[str, ...]) -> None:
    """Refuse a company that does not fit the book: channels of unknown segments, or sales-led
    segments with no deal team today (nothing to measure a plan's deals against)."""
    from simengine.config.specs import param_mean

    for seg in cfg.company.channels:
        if seg not in segments:
            raise ConfigError(
                f"config key 'company.channels.{seg}': unknown segment {seg!r}; the book's "
                f"segments: {', '.join(segments)}"
            )
    if cfg.market.new_logos != "capacity" or not cfg.company.team:
        return
    led = [s for s, on in zip(segments, sales_led(cfg.company, segments), strict=True) if on]
    deals = sum(
        _team_role(cfg.company, r).headcount
        * param_mean(_team_role(cfg.company, r).deals_per_month)
        for r in ("ae", "partner")
    )
    if led and deals <= 0:
        raise ConfigError(
            f"config key 'company.team.ae.headcount' = {_team_role(cfg.company, 'ae').headcount}: "
            f"sales-led segments ({', '.join(led)}) need today's deal team (AE or partner heads "
            "with deals_per_month > 0) to measure a plan against; describe it, or mark product-led "
            "segments company.channels.<segment>=self_serve"
        )
