"""The company as it is today (``company.*``), and plans resolved against it.

Every plan is relative to today's team: a ``staffing.roles.<role>`` value left unset is today's
(``company.team.<role>``), so ``staffing=today`` (nothing set) is today's team held, with its
attrition backfilled and no hires.  :func:`resolve_plan` fills a plan in; :func:`today_plan` is the
reference every plan is measured against (simengine.gtm.drivers).

Whose company:

- the embedded default book (no ``data.accounts``) is the example company's
  (``configs/company/example.yaml``, :func:`fill_company`); ``company.*`` values given change it;
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
from collections.abc import Callable, Mapping

from simengine.config.schema import (
    CHANNELS,
    COVERAGE_ROLES,
    DEAL_ROLES,
    ROLES,
    TEAM_DEFAULTS,
    CapacityMarket,
    CompanyConfig,
    Config,
    ConfigError,
    RateMarket,
    RoleConfig,
    StaffingConfig,
    TeamRole,
)
from simengine.config.specs import check_fields

__all__ = [
    "GTM_SECTIONS",
    "check_company_live",
    "complete_company",
    "describe_hint",
    "example_company",
    "fill_company",
    "leaves",
    "no_company",
    "resolve_plan",
    "sales_led",
    "today_plan",
    "validate_company",
]

#: Today's share of SE time on new deals when ``company.se_deal_time`` is not given.
SE_DEAL_TIME = 0.6
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
    company = OmegaConf.to_object(node)
    company.team = _as_team(company.team)
    return company


def example_company() -> CompanyConfig:
    """The example company of ``configs/company/example.yaml`` (a fresh copy)."""
    return copy.deepcopy(_example())


def _as_team(team: Mapping[str, object]) -> dict[str, TeamRole]:
    """``company.team`` as :class:`TeamRole` values; a key TeamRole does not have is refused."""
    names = [f.name for f in dataclasses.fields(TeamRole)]
    out = {}
    for role, entry in team.items():
        if isinstance(entry, TeamRole):
            out[role] = entry
            continue
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"config key 'company.team.{role}' = {entry!r}: expected a mapping of "
                f"{', '.join(names)}"
            )
        for key in entry:
            if key not in names:
                raise ConfigError(
                    f"config key 'company.team.{role}.{key}': {key!r} is not a key of a team "
                    f"role ({', '.join(names)})"
                )
        out[role] = TeamRole(**dict(entry))
    return out


def fill_company(cfg: Config) -> None:
    """Give the embedded default book its example company: ``company.*`` values given (a role's
    ``attrition``, say) change the example's, whatever is not given stays the example's."""
    cfg.company.team = _as_team(cfg.company.team)
    if cfg.data.accounts is not None:
        return
    example = example_company()
    given = cfg.company
    for role, mine in given.team.items():
        base = example.team.get(role) or TeamRole()
        for f in dataclasses.fields(TeamRole):
            value = getattr(mine, f.name)
            if value is not None:
                setattr(base, f.name, value)
        example.team[role] = base
    example.channels = {**example.channels, **given.channels}
    if given.se_deal_time is not None:
        example.se_deal_time = given.se_deal_time
    cfg.company = example


def complete_company(cfg: Config) -> None:
    """Fill what a described team leaves unset with :data:`TEAM_DEFAULTS` (after the checks of
    :func:`validate_company`, which refuse a role with heads but no cost, deals or accounts)."""
    for t in cfg.company.team.values():
        for name, default in TEAM_DEFAULTS.items():
            if getattr(t, name) is None:
                setattr(t, name, default)
    if cfg.company.se_deal_time is None:
        cfg.company.se_deal_time = SE_DEAL_TIME


def leaves(obj: object, prefix: str) -> dict[str, object]:
    """``{key: value}`` of every leaf under ``obj`` (a distribution spec is one leaf)."""
    if dataclasses.is_dataclass(obj):
        items = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping) and "dist" not in obj:
        items = dict(obj)
    else:
        return {prefix: obj}
    out: dict[str, object] = {}
    for k, v in items.items():
        out |= leaves(v, f"{prefix}.{k}")
    return out or {prefix: obj}


def _set_gtm_key(cfg: Config, default: dict[str, object]) -> tuple[str, object] | None:
    """The first staffing/comp/effects/capacity-market key ``cfg`` sets, or None."""
    group_keys = {"staffing.name": "staffing", "comp.plan": "comp"}  # the group option picked
    for section in GTM_SECTIONS:
        for key, value in leaves(getattr(cfg, section), section).items():
            if key not in default or default[key] != value:
                return group_keys.get(key, key), value
    market = cfg.market
    if isinstance(market, CapacityMarket):
        if market.new_logo_mix:
            return "market.new_logo_mix", dict(market.new_logo_mix)
        if market.deal_size_multiplier != 1.0:
            return "market.deal_size_multiplier", market.deal_size_multiplier
    return None


def no_company(cfg: Config, default_gtm: Callable[[], dict[str, object]]) -> Config:
    """A book of your own without ``company.team``: ``market=rate`` from the fitted history.

    ``default_gtm()`` gives the :func:`leaves` of staffing, comp and effects in the default
    composition (called only for a book of your own without a team: it composes the config).
    Returns ``cfg`` (its market replaced by :class:`RateMarket` when it was the capacity model);
    raises :class:`ConfigError` for a key that needs today's team.
    """
    if cfg.data.accounts is None or cfg.company.team:
        return cfg
    found = _set_gtm_key(cfg, default_gtm())
    if found is None and cfg.company.channels:
        seg, channel = next(iter(cfg.company.channels.items()))
        found = f"company.channels.{seg}", channel
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
    """Today's ``role``, unset values at :data:`TEAM_DEFAULTS` (no heads if not named)."""
    found = company.team.get(role) or TeamRole()
    values = {f.name: getattr(found, f.name) for f in dataclasses.fields(TeamRole)}
    return TeamRole(**{k: TEAM_DEFAULTS[k] if v is None else v for k, v in values.items()})


def resolve_plan(staffing: StaffingConfig, company: CompanyConfig) -> StaffingConfig:
    """The plan with every unset value taken from today's team (a new, concrete plan).

    ``staffing.budget`` / ``staffing.ae_per_se`` set the AE and SE heads first
    (:func:`simengine.config.staffing_mix.apply_mix`, which refuses a headcount they contradict).
    Every role of :data:`ROLES` is present; a role today's team does not name has no heads.
    """
    from simengine.config.staffing_mix import apply_mix

    staffing = apply_mix(staffing, company)
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
    se_time = staffing.se_deal_time
    if se_time is None:
        se_time = company.se_deal_time if company.se_deal_time is not None else SE_DEAL_TIME
    # The mix is in the heads now: a resolved plan resolves to itself.
    return StaffingConfig(name=staffing.name, roles=roles, se_deal_time=se_time)


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
    """Ranges of ``company.*``, what a role with heads must say, and keys a role cannot use."""
    company = cfg.company
    for role, t in company.team.items():
        key = f"company.team.{role}"
        _check(role in ROLES, key, role, f"unknown role; roles: {list(ROLES)}")
        heads = t.headcount or 0
        needs = ["cost_per_month"]
        needs += ["deals_per_month"] if role in DEAL_ROLES else []
        needs += ["accounts_covered"] if role in COVERAGE_ROLES else []
        for name in needs:
            _check(
                heads == 0 or getattr(t, name) is not None,
                f"{key}.{name}",
                None,
                f"today's {heads} {role} need it (every plan is measured against today's team)",
            )
        check_fields(t, key)
        _check(
            role in DEAL_ROLES or t.deals_per_month in (None, 0),
            f"{key}.deals_per_month",
            t.deals_per_month,
            f"role '{role}' works no deals",
        )
        _check(
            role in COVERAGE_ROLES or t.accounts_covered in (None, 0),
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
    check_fields(company, "company")


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
