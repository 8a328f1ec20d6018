"""Dead keys: a key set in a run's config that would change nothing is an error, never silent.

"Set" means different from the default composition (``configs/config.yaml`` with no overrides),
so the shipped defaults never trip these checks.  What decides whether a key acts needs the book
and the posterior, so :func:`check_live` takes them as plain facts (:class:`RunFacts`):

- a fitted parameter's plain value (``model.segments.<s>.<name>``, ``model.<name>``) is replaced by
  the posterior: use ``adjust.*`` or ``model.override.<s>.<name>``;
- a segment the book does not have, under ``adjust.segments``, ``model.override``,
  ``model.segments``, ``market.unit_price``, ``market.new_logo_mix`` or ``market.new_logo_rate``
  (``default`` is always allowed where it is used);
- ``market.unit_price`` where the data prices every account of the segment itself (``revenue``);
- ``staffing``/``comp``/``effects`` with ``market=rate`` (no go-to-market model runs);
- keys that only act through another one that is off: commit terms with ``commit_share = 0``,
  coverage effects with a coverage of 0 in rate mode, the unhealthy-consumption shape with
  ``unhealthy_share = 0``, a role's settings when it has no heads, ``accounts_covered`` of a role
  that covers no accounts (AE, partner) and ``deals_per_month`` of one that works no deals (CSM,
  adoption);
- a pay-plan quota the plan's weights switch off (``consumption_quota`` with
  ``bookings_weight = 1``, ``bookings_quota`` with 0, every pay key with ``variable_share = 0``);
- ``adjust.from_month`` with every adjustment neutral or carrying its own ``from``, or outside the
  forecast; an adjust value's own window (``from``/``until``) outside the forecast, ending before
  it starts, or on a neutral value.

Rate-only and capacity-only keys need no check here: each market schema holds only its own keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from simengine.config.schema import (
    ADJUSTMENTS,
    COVERAGE_ROLES,
    DEAL_ROLES,
    CapacityMarket,
    Config,
    ConfigError,
    RateMarket,
)
from simengine.config.windows import AdjustValue, parse_when, split_value

__all__ = ["RunFacts", "check_live"]

_MISSING = object()
#: The adjustment that moves a fitted parameter, where there is one.
_ADJUST_FOR = {
    "usage_drift": "adjust.usage_growth",
    "churn_alpha": "adjust.churn_hazard",
    "churn_beta": "adjust.churn_hazard",
    "use_case_rate": "adjust.use_case_rate",
}
#: Parameters of the use-case process (off for a book without a use-case table).
USE_CASE_PARAMS = frozenset(
    {"use_case_rate", "use_case_size_mu", "use_case_size_sigma", "use_case_ramp_months",
     "se_use_case_ratio"}
)  # fmt: skip
_NEUTRAL = {"churn_hazard": 1.0, "usage_growth": 0.0, "use_case_rate": 1.0, "new_logos": 1.0,
            "price": 1.0}  # fmt: skip


@dataclass(frozen=True)
class RunFacts:
    """What the book and the posterior decide about which keys act.

    Attributes
    ----------
    segments : tuple of str
        The book's segments.
    first_month, last_month : int
        Month numbers of the first and the last forecast month.
    data_priced : frozenset of str
        Segments whose every account and whose new logos take prices from the data's revenue.
    fitted : mapping of str to frozenset of str
        Parameter name -> segments whose value comes from the posterior.
    use_cases : bool
        Whether the book has a use-case table.  Without one the use-case process is off (the
        book's growth is all in its fitted drift) unless ``model.override.<seg>.use_case_rate``
        turns it on for a segment.
    """

    segments: tuple[str, ...]
    first_month: int
    last_month: int
    data_priced: frozenset[str] = frozenset()
    fitted: Mapping[str, frozenset[str]] = field(default_factory=dict)
    use_cases: bool = True


def _get(obj: object, dotted: str) -> object:
    for part in dotted.split("."):
        if isinstance(obj, Mapping):
            obj = obj.get(part, _MISSING)
        else:
            obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            return _MISSING
    return obj


def _is_set(cfg: Config, reference: Config, key: str) -> bool:
    return _get(cfg, key) != _get(reference, key)


def _leaves(obj: object, prefix: str) -> list[str]:
    """Dotted keys of every leaf under ``obj`` (dataclasses and dicts)."""
    if dataclasses.is_dataclass(obj):
        items = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, Mapping) and "dist" not in obj:
        items = dict(obj)
    else:
        return [prefix]
    out = []
    for k, v in items.items():
        out += _leaves(v, f"{prefix}.{k}")
    return out or [prefix]


def _dead(key: str, why: str) -> ConfigError:
    return ConfigError(f"config key '{key}' has no effect: {why}")


def _unknown(key: str, segment: str, facts: RunFacts) -> ConfigError:
    return ConfigError(
        f"config key '{key}': unknown segment {segment!r}; the book's segments: "
        f"{', '.join(facts.segments)}"
    )


def check_live(cfg: Config, reference: Config, facts: RunFacts) -> None:
    """Raise :class:`ConfigError` naming the first key of ``cfg`` that would change nothing.

    Parameters
    ----------
    cfg : Config
        The run's validated config.
    reference : Config
        The default composition (no overrides): keys equal to it are not "set".
    facts : RunFacts
    """
    _check_segments(cfg, reference, facts)
    _check_model(cfg, reference, facts)
    _check_adjust(cfg, facts)
    _check_prices(cfg, reference, facts)
    if isinstance(cfg.market, RateMarket):
        _check_rate_mode(cfg, reference)
    else:
        _check_roles(cfg, reference)
        _check_comp(cfg, reference)


def _check_segments(cfg: Config, reference: Config, facts: RunFacts) -> None:
    known = set(facts.segments)
    for seg in cfg.adjust.segments:
        if seg not in known:
            raise _unknown(f"adjust.segments.{seg}", seg, facts)
    for seg in cfg.model.override:
        if seg not in known and seg != "default":
            raise _unknown(f"model.override.{seg}", seg, facts)
    for seg in cfg.model.segments:
        if (
            seg not in known
            and seg != "default"
            and _is_set(cfg, reference, f"model.segments.{seg}")
        ):
            raise _unknown(f"model.segments.{seg}", seg, facts)
    for seg in cfg.market.unit_price:
        key = f"market.unit_price.{seg}"
        if seg not in known and seg != "default" and _is_set(cfg, reference, key):
            raise _unknown(key, seg, facts)
    if isinstance(cfg.market, CapacityMarket):
        for seg in cfg.market.new_logo_mix:
            if seg not in known:
                raise _unknown(f"market.new_logo_mix.{seg}", seg, facts)
    if isinstance(cfg.market, RateMarket):
        for seg in cfg.market.new_logo_rate:
            key = f"market.new_logo_rate.{seg}"
            if seg not in known and seg != "default" and _is_set(cfg, reference, key):
                raise _unknown(key, seg, facts)
        if _is_set(cfg, reference, "market.new_logo_rate.default") and all(
            s in cfg.market.new_logo_rate for s in facts.segments
        ):
            raise _dead(
                "market.new_logo_rate.default", "every segment of the book has its own rate"
            )


def _replaced_by(cfg: Config, facts: RunFacts, name: str, seg: str) -> str | None:
    """Why segment ``seg``'s plain value of ``name`` is not used, or None if it is."""
    own = cfg.model.override.get(seg, {})
    default = cfg.model.override.get("default", {}) if seg not in cfg.model.override else {}
    if name in own or name in default:
        where = seg if name in own else "default"
        return f"replaced by model.override.{where}.{name}"
    if name in USE_CASE_PARAMS and not use_cases_on(cfg, facts.use_cases, seg):
        return (
            "the book has no use_cases table, so the use-case process is off (its growth is in "
            f"the fitted drift); model.override.{seg}.use_case_rate turns it on"
        )
    if seg in facts.fitted.get(name, frozenset()):
        hint = _ADJUST_FOR.get(name)
        use = f"{hint} or model.override.{seg}.{name}" if hint else f"model.override.{seg}.{name}"
        return f"fitted by the posterior -- use {use}"
    return None


def _check_model(cfg: Config, reference: Config, facts: RunFacts) -> None:
    model = cfg.model
    for seg, sa in model.segments.items():
        users = (
            [s for s in facts.segments if s not in model.segments] if seg == "default" else [seg]
        )
        for f in dataclasses.fields(sa):
            key = f"model.segments.{seg}.{f.name}"
            ref = _get(reference, key)
            if ref is _MISSING:
                ref = getattr(type(sa)(), f.name)
            if getattr(sa, f.name) == ref:
                continue
            if not users:
                raise _dead(key, "every segment of the book has its own model.segments entry")
            reasons = [_replaced_by(cfg, facts, f.name, s) for s in users]
            if all(reasons):
                raise _dead(key, reasons[0])
    for f in dataclasses.fields(model):
        name = f.name
        if name in ("segments", "override") or not _is_set(cfg, reference, f"model.{name}"):
            continue
        reasons = [_replaced_by(cfg, facts, name, s) for s in facts.segments]
        if facts.segments and all(reasons):
            raise _dead(f"model.{name}", reasons[0])
        why = _switched_off(cfg, name)
        if why:
            raise _dead(f"model.{name}", why)
    for seg, entries in model.override.items():
        if seg == "default" and all(s in model.override for s in facts.segments):
            raise _dead(
                f"model.override.default.{next(iter(entries), '')}".rstrip("."),
                "every segment of the book has its own model.override entry",
            )
        for name in entries:
            why = _switched_off(cfg, name)
            if why:
                raise _dead(f"model.override.{seg}.{name}", why)
    if isinstance(cfg.market, CapacityMarket) and _is_set(cfg, reference, "comp.commit_multiplier"):
        why = _switched_off(cfg, "commit_months")
        if why:
            raise _dead("comp.commit_multiplier", why)


def _switched_off(cfg: Config, name: str) -> str | None:
    """Why model parameter ``name`` cannot act in ``cfg`` (another key switches it off)."""
    m = cfg.model
    if name in ("commit_months", "renewal_ratio") and m.commit_share == 0:
        return "model.commit_share is 0 (no new logo signs a commit)"
    if isinstance(cfg.market, RateMarket):
        mk = cfg.market
        if name == "csm_hazard_ratio" and mk.csm_coverage == 0:
            return "market.csm_coverage is 0 (no account has a CSM)"
        if name == "se_use_case_ratio" and mk.se_coverage == 0:
            return "market.se_coverage is 0 (no account has SE support)"
        if name.startswith("unhealthy_") and mk.unhealthy_share == 0:
            return "market.unhealthy_share is 0 (no start is unhealthy)"
    return None


def use_cases_on(cfg: Config, has_table: bool, seg: str) -> bool:
    """Whether segment ``seg`` simulates use cases: a use-case table, or an override asking."""
    if has_table:
        return True
    own = cfg.model.override.get(seg)
    found = own if own is not None else cfg.model.override.get("default", {})
    return "use_case_rate" in found


def _adjust_values(cfg: Config) -> list[tuple[str, str, AdjustValue]]:
    """``(key, name, value)`` of every adjust value, global then per segment."""
    a = cfg.adjust
    out = [(f"adjust.{n}", n, split_value(getattr(a, n), f"adjust.{n}")) for n in ADJUSTMENTS]
    for seg, entries in a.segments.items():
        for n, spec in entries.items():
            key = f"adjust.segments.{seg}.{n}"
            out.append((key, n, split_value(spec, key)))
    return out


def _check_adjust(cfg: Config, facts: RunFacts) -> None:
    a = cfg.adjust
    values = _adjust_values(cfg)
    if not any(use_cases_on(cfg, facts.use_cases, s) for s in facts.segments):
        for key, name, value in values:
            if name == "use_case_rate" and value.spec != _NEUTRAL[name]:
                raise _dead(
                    key,
                    "the book has no use_cases table, so the use-case process is off; "
                    "model.override.<segment>.use_case_rate turns it on",
                )
    default = None if a.from_month is None else parse_when(a.from_month, "adjust.from_month")
    horizon = facts.last_month - facts.first_month + 1
    if default is not None:  # the default window itself, even if no value uses it
        AdjustValue(1.0).span(default, facts.first_month, horizon, "adjust.from_month")
    for key, name, value in values:
        value.span(default, facts.first_month, horizon, key)
        if value.windowed and value.spec == _NEUTRAL[name]:
            which = "from" if value.start is not None else "until"
            raise _dead(f"{key}.{which}", f"the value is neutral ({_NEUTRAL[name]})")
    if default is not None and all(
        value.start is not None or value.spec == _NEUTRAL[name] for _, name, value in values
    ):
        raise _dead(
            "adjust.from_month",
            "no adjustment is set that takes it (a value with its own from: does not)",
        )


def _check_prices(cfg: Config, reference: Config, facts: RunFacts) -> None:
    prices = cfg.market.unit_price
    unpriced = [s for s in facts.segments if s not in facts.data_priced]
    why = (
        "the data's revenue prices every account of {what} (usage table `revenue`); "
        "market.unit_price applies only where the data has no revenue -- use adjust.price "
        "to change prices"
    )
    for seg in prices:
        key = f"market.unit_price.{seg}"
        if not _is_set(cfg, reference, key):
            continue
        if seg == "default":
            if not [s for s in unpriced if s not in prices]:
                raise _dead(key, why.format(what="every segment without its own entry"))
        elif seg in facts.data_priced:
            raise _dead(key, why.format(what=f"segment {seg!r}"))
    missing = [s for s in unpriced if s not in prices and "default" not in prices]
    if missing:
        raise ConfigError(
            f"config key 'market.unit_price': the data has no revenue for segment "
            f"{missing[0]!r}; set market.unit_price.{missing[0]} or market.unit_price.default"
        )


def _check_rate_mode(cfg: Config, reference: Config) -> None:
    for section in ("staffing", "comp", "effects"):
        for key in _leaves(getattr(cfg, section), section):
            if _is_set(cfg, reference, key):
                raise _dead(
                    key,
                    "market=rate runs no go-to-market model (new logos and coverage are fixed "
                    "rates); use market=capacity for staffing, comp and effects",
                )


def _check_comp(cfg: Config, reference: Config) -> None:
    """Pay-plan keys that a plan's weights switch off."""
    c = cfg.comp
    off = []
    if c.variable_share == 0:
        off = [(k, "comp.variable_share is 0 (no variable pay)") for k in (
            "bookings_weight", "bookings_quota", "consumption_quota", "accelerator",
            "attainment_cap")]  # fmt: skip
    elif c.bookings_weight == 1:
        off = [("consumption_quota", "comp.bookings_weight is 1 (all variable pay on bookings)")]
    elif c.bookings_weight == 0:
        off = [("bookings_quota", "comp.bookings_weight is 0 (all variable pay on consumption)")]
    for name, why in off:
        if _is_set(cfg, reference, f"comp.{name}"):
            raise _dead(f"comp.{name}", why)


def _check_roles(cfg: Config, reference: Config) -> None:
    from simengine.config.company import resolve_plan  # unset plan values are today's

    plan = resolve_plan(cfg.staffing, cfg.company)
    for role, rc in cfg.staffing.roles.items():
        base = f"staffing.roles.{role}"
        rc = plan.roles.get(role, rc)
        if role not in DEAL_ROLES and _is_set(cfg, reference, f"{base}.deals_per_month"):
            raise _dead(f"{base}.deals_per_month", f"role '{role}' works no deals")
        if role not in COVERAGE_ROLES and _is_set(cfg, reference, f"{base}.accounts_covered"):
            raise _dead(f"{base}.accounts_covered", f"role '{role}' covers no installed accounts")
        if rc.headcount == 0 and sum(rc.hires_per_quarter) == 0:
            for f in dataclasses.fields(rc):
                key = f"{base}.{f.name}"
                if f.name not in ("headcount", "hires_per_quarter") and _is_set(
                    cfg, reference, key
                ):
                    raise _dead(key, f"the {role} role has no heads (headcount 0, no hires)")
