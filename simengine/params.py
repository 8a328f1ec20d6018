"""Posterior draws, config assumptions and scenario adjustments -> the kernel's parameter arrays.

One simulation draw is one joint sample of every uncertain quantity: a posterior draw (when a fit is
given) plus a draw of every uncertain planning assumption.  Assumption draws come from a stream keyed
by ``(seed, parameter name, segment)``, so two scenarios of a sweep that differ in one assumption share
the draws of all the others (common random numbers), and draw ``d`` is the same whatever the chunking.

How a scenario meets the posterior (README "Scenarios"): a parameter comes from, in order,

1. ``model.override.<segment>.<name>`` (or ``model.override.default.<name>``), an explicit absolute
   replacement, printed by the run and recorded in the forecast's attrs;
2. the posterior, where it fits the parameter for the segment;
3. ``model.segments.<segment>`` (or ``default``) / ``model.<name>``, plain assumptions;

and then ``adjust.*`` moves every draw, whatever its source, over each value's window (its own
``from``/``until``, else ``adjust.from_month`` on; :mod:`simengine.config.windows`):
``churn_hazard``, ``use_case_rate``, ``new_logos`` and ``price`` multiply the monthly slots
``M_HAZARD_MULT``, ``M_USE_CASE_MULT``, ``M_NEW_LOGO_MULT``, ``M_PRICE_MULT``; ``usage_growth`` is
added to ``M_DRIFT_SHIFT``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from simengine.bookstats import ChurnRules
from simengine.config.live import use_cases_on
from simengine.config.schema import (
    ADJUSTMENTS,
    Config,
    ConfigError,
    ModelConfig,
    RateMarket,
    SegmentAssumptions,
)
from simengine.config.specs import DISTRIBUTIONS, param_mean, validate_param
from simengine.config.windows import parse_when, split_value
from simengine.kernels.layout import (
    M_CSM_COVERAGE,
    M_DRIFT_SHIFT,
    M_HAZARD_MULT,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
    M_PRICE_MULT,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    M_UNHEALTHY_SHARE,
    M_USE_CASE_MULT,
    MONTH_DEFAULTS,
    MONTH_PARAMS,
    P_RAMP0,
    P_RAMP_MONTHS,
    P_RAMP_START,
    P_SEASON0,
    RAMP_PARAMS,
    RAMP_TABLE_MONTHS,
    SEASON_PARAMS,
    SEGMENT_PARAMS,
    exponential_ramp_table,
    harmonic_season,
)

log = logging.getLogger(__name__)

__all__ = [
    "DISTRIBUTIONS",
    "Parameters",
    "assumption_stream",
    "build_parameters",
    "draw_param",
    "param_mean",
    "validate_param",
]

# Parameters that are per segment in the kernel but one value for all segments in the config
# (fields of ModelConfig rather than of SegmentAssumptions).
_MODEL_WIDE = tuple(
    n
    for n in (*SEGMENT_PARAMS, "season_cos", "season_sin")
    if n in {f.name for f in fields(ModelConfig)}
)

#: Kernel parameters only a fit sets (no config key): their neutral value without a posterior.
_FIT_ONLY: dict[str, float] = {
    "usage_decline_hazard_ratio": 1.0,
    "anniversary_hazard_ratio": 1.0,
    "zero_month_prob": 0.0,
    "onboarding_failure": 0.0,
    # Weight 0: normal usage steps; the usage fit sets the mixture when the changes are heavy-tailed.
    "usage_tail_weight": 0.0,
    "usage_tail_ratio": 1.0,
    # The onboarding ramp's table: filled after the other parameters (_ramp_table).
    **dict.fromkeys(RAMP_PARAMS, 0.0),
}

#: Kernel parameters that are churn-rule parameters (the fit's record, never a config key).
_RULES = ("decline_threshold",)

#: Monthly slot of each adjustment, and whether it multiplies (True) or adds (False).
ADJUST_SLOTS = {
    "churn_hazard": (M_HAZARD_MULT, True),
    "usage_growth": (M_DRIFT_SHIFT, False),
    "use_case_rate": (M_USE_CASE_MULT, True),
    "new_logos": (M_NEW_LOGO_MULT, True),
    "price": (M_PRICE_MULT, True),
}


def assumption_stream(seed: int, *key: str) -> np.random.Generator:
    """Generator for the assumption named by ``key``: stable across scenarios that share a seed."""
    words = [int.from_bytes(hashlib.sha256("/".join(key).encode()).digest()[:8], "little")]
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5E6E, *words]))


def draw_param(spec: object, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws of a number (repeated) or a distribution spec, shape ``(n,)``."""
    if isinstance(spec, int | float):
        return np.full(n, float(spec))
    dist = spec["dist"]
    if dist == "normal":
        return rng.normal(spec["mu"], spec["sigma"], n)
    if dist == "lognormal":
        return rng.lognormal(spec["mu"], spec["sigma"], n)
    if dist == "gamma":
        return rng.gamma(spec["shape"], 1.0 / spec["rate"], n)
    if dist == "beta":
        return rng.beta(spec["a"], spec["b"], n)
    if dist == "uniform":
        return rng.uniform(spec["low"], spec["high"], n)
    raise ConfigError(f"unknown distribution {dist!r}")


@dataclass
class Parameters:
    """Flat arrays for the kernel plus where each value came from.

    Attributes
    ----------
    seg_params : ndarray, shape (draws, segments, n_segment_params)
    month_params : ndarray, shape (draws, segments, horizon, n_month_params)
    segments : tuple of str
    fitted : tuple of str
        Parameter names taken from the posterior (empty: every value is an assumption).
    default_segments : tuple of str
        Segments with no config entry of their own, simulated with ``model.segments.default``.
    use_cases_off : tuple of str
        Segments whose use-case process is off (no use-case table, no override).
    overrides : dict of str to str
        ``model.override`` keys applied -> their value, as text (printed and kept in attrs).
    """

    seg_params: np.ndarray
    month_params: np.ndarray
    segments: tuple[str, ...]
    fitted: tuple[str, ...] = ()
    default_segments: tuple[str, ...] = ()
    posterior_segments_missing: tuple[str, ...] = ()
    overrides: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    use_cases_off: tuple[str, ...] = ()


def segment_assumptions(cfg: Config, segment: str) -> SegmentAssumptions:
    """The config entry for ``segment``, or the ``default`` entry."""
    return cfg.model.segments.get(segment, cfg.model.segments["default"])


def _season_profile(cfg, segments, posterior, posterior_segments, fitted, overrides) -> np.ndarray:
    """``(draws, segments, 12)`` log seasonal effects the kernel reads (January first).

    The posterior's 12-effect ``season`` where it has one for the segment and no
    ``model.override`` of ``season_cos``/``season_sin`` applies: a profile per segment
    (``(draws, posterior segments, 12)``), or a model-wide one (``(draws, 12)``, a fit with one
    profile for all segments) that every segment takes.  Else the single harmonic
    ``season_cos`` / ``season_sin`` (override, posterior or config, in that order) as 12 effects.
    """
    n = cfg.sim.draws
    out = np.empty((n, len(segments), 12))
    profile = None
    if posterior is not None and "season" in posterior:
        profile = np.asarray(posterior["season"], dtype=float)
    for s_idx, seg in enumerate(segments):
        found = [_override_for(cfg, seg, name) for name in ("season_cos", "season_sin")]
        own = _segment_slice(profile, seg, posterior_segments, 2)
        if own is not None and found == [None, None]:
            fitted.add("season")
            out[:, s_idx] = own
            continue
        sa = segment_assumptions(cfg, seg)
        coef = []
        for name, override in zip(("season_cos", "season_sin"), found, strict=True):
            arr = None if posterior is None else posterior.get(name)
            arr = _segment_slice(arr, seg, posterior_segments, 1)
            if override is not None:
                key, spec = override
                overrides[key] = str(spec)
                coef.append(draw_param(spec, assumption_stream(cfg.seed, "override", name, seg), n))
            elif arr is not None:
                fitted.add(name)
                coef.append(arr)
            else:
                spec = getattr(cfg.model, name) if name in _MODEL_WIDE else getattr(sa, name)
                key_seg = "*" if name in _MODEL_WIDE else seg
                coef.append(draw_param(spec, assumption_stream(cfg.seed, name, key_seg), n))
        out[:, s_idx] = harmonic_season(*coef)
    return out


def _segment_slice(values, segment: str, posterior_segments, ndim: int) -> np.ndarray | None:
    """Segment ``segment``'s draws of a posterior variable whose per-draw value has ``ndim - 1``
    dims when model-wide (``(draws, ...)``, the same for every segment) or one more when per
    segment (``(draws, posterior segments, ...)``); None where the posterior has none for it."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    if arr.ndim == ndim:
        return arr
    if arr.ndim == ndim + 1 and segment in posterior_segments:
        return arr[:, list(posterior_segments).index(segment)]
    return None


def _override_for(cfg: Config, segment: str, name: str) -> tuple[str, object] | None:
    """``(key, spec)`` of the override of ``name`` for ``segment``, or None."""
    own = cfg.model.override.get(segment)
    if own is not None:
        return (f"model.override.{segment}.{name}", own[name]) if name in own else None
    default = cfg.model.override.get("default", {})
    if name in default:
        return f"model.override.default.{name}", default[name]
    return None


def build_parameters(
    cfg: Config,
    segments: Sequence[str],
    posterior: Mapping[str, np.ndarray] | None = None,
    posterior_segments: Sequence[str] = (),
    *,
    new_logo_price: Mapping[str, float] | None = None,
    first_month: int | None = None,
    use_cases: bool = True,
    rules: ChurnRules | None = None,
    neutral: Sequence[str] = (),
) -> Parameters:
    """Assemble the kernel's parameter arrays for ``cfg.sim.draws`` draws.

    Parameters
    ----------
    cfg : Config
    segments : sequence of str
        Segment names, in the order of the kernel's segment axis.
    posterior : mapping of str to ndarray, optional
        Joint posterior draws: per-segment variables of shape ``(draws, len(posterior_segments))``,
        scalars of shape ``(draws,)``.  Variables it holds replace the config values.
    posterior_segments : sequence of str
        Segment order of the per-segment posterior arrays.
    new_logo_price : mapping of str to float, optional
        Unit price a new logo of each segment pays (:func:`simengine.prices.account_prices`);
        default: ``market.unit_price``.
    first_month : int, optional
        Month number of the first forecast month; needed when ``adjust.from_month`` or an adjust
        window names a month ``YYYY-MM`` (``+N`` needs none).
    use_cases : bool
        Whether the book has a use-case table.  Without one the book's growth is all in its
        fitted drift, so a separate use-case process would count expansion twice: the
        use-case rate is 0 unless ``model.override.<segment>.use_case_rate`` asks for it.
    rules : simengine.bookstats.ChurnRules, optional
        The churn rules the posterior was fitted with (its ``decline_threshold`` fills
        ``P_DECLINE_THRESHOLD``); default ``ChurnRules()``.
    neutral : sequence of str
        Hazard ratios to hold at 1 (no effect) unless ``model.override`` sets them: effects the
        fit could not estimate and that its fitted rates already contain (the caller decides,
        :func:`simengine.pipeline.assumed_effects`).
    """
    rules = ChurnRules() if rules is None else rules
    n, horizon, n_seg = cfg.sim.draws, cfg.sim.horizon_months, len(segments)
    seg_params = np.empty((n, n_seg, len(SEGMENT_PARAMS)))
    default_segments = tuple(s for s in segments if s not in cfg.model.segments)
    fitted: set[str] = set()
    from_default: set[str] = set()  # values a segment the config does not name took from default
    overrides: dict[str, str] = {}
    missing = tuple(s for s in segments if posterior is not None and s not in posterior_segments)
    prices = cfg.market.unit_price
    season = _season_profile(cfg, segments, posterior, posterior_segments, fitted, overrides)

    for s_idx, seg in enumerate(segments):
        sa = segment_assumptions(cfg, seg)
        seg_params[:, s_idx, P_SEASON0 : P_SEASON0 + 12] = season[:, s_idx]
        for p_idx, name in enumerate(SEGMENT_PARAMS):
            if name in SEASON_PARAMS:
                continue
            if name in _RULES:
                seg_params[:, s_idx, p_idx] = getattr(rules, name)
                continue
            if name == "unit_price":
                if new_logo_price is not None:
                    price = new_logo_price[seg]
                else:
                    price = prices.get(seg, prices.get("default", float("nan")))
                seg_params[:, s_idx, p_idx] = price
                continue
            override = _override_for(cfg, seg, name)
            if override is not None:
                key, spec = override
                overrides[key] = str(spec)
                values = draw_param(spec, assumption_stream(cfg.seed, "override", name, seg), n)
                seg_params[:, s_idx, p_idx] = values
                continue
            values = None
            if name in neutral:
                seg_params[:, s_idx, p_idx] = 1.0
                continue
            if posterior is not None and name in posterior:
                arr = np.asarray(posterior[name], dtype=float)
                if arr.ndim == 1:
                    values = arr
                elif seg in posterior_segments:
                    values = arr[:, list(posterior_segments).index(seg)]
            if values is not None:
                fitted.add(name)
            elif name in _FIT_ONLY:
                values = np.full(n, _FIT_ONLY[name])
            else:
                spec = getattr(cfg.model, name) if name in _MODEL_WIDE else getattr(sa, name)
                if name not in _MODEL_WIDE and seg in default_segments:
                    from_default.add(name)
                key_seg = "*" if name in _MODEL_WIDE else seg
                values = draw_param(spec, assumption_stream(cfg.seed, name, key_seg), n)
            seg_params[:, s_idx, p_idx] = values

    curved = _ramp_table(cfg, segments, posterior, posterior_segments, seg_params, fitted)
    if set(default_segments) <= curved:
        # Their onboarding ramp is the fitted curve: ramp_start / ramp_months are not read.
        from_default -= {"ramp_start", "ramp_months"}

    off = [s for s in segments if not use_cases_on(cfg, use_cases, s)]
    for seg in off:
        seg_params[:, list(segments).index(seg), SEGMENT_PARAMS.index("use_case_rate")] = 0.0
    if off:
        log.info("no use_cases table: the use-case process is off for %s", off)

    month_params = np.zeros((n, n_seg, horizon, len(MONTH_PARAMS)))
    for name, value in MONTH_DEFAULTS.items():  # neutral until a scenario sets them
        month_params[..., MONTH_PARAMS.index(name)] = value
    if isinstance(cfg.market, RateMarket):
        _fill_rate_mode(cfg, segments, month_params)
    _apply_adjust(cfg, segments, month_params, first_month)

    notes = []
    if from_default:
        # Name what the default supplies: with a fit, most of a segment's values are fitted and
        # "simulated with the default" would overstate it.
        notes.append(
            f"segments {list(default_segments)} have no entry under model.segments; their "
            f"{', '.join(sorted(from_default))} come from model.segments.default"
        )
    if missing:
        notes.append(
            f"segments {list(missing)} are not in the posterior; their fitted parameters are "
            "config assumptions"
        )
    return Parameters(
        seg_params=seg_params,
        month_params=month_params,
        segments=tuple(segments),
        fitted=tuple(sorted(fitted)),
        default_segments=default_segments,
        posterior_segments_missing=missing,
        overrides=overrides,
        notes=notes,
        use_cases_off=tuple(off),
    )


def _ramp_table(cfg, segments, posterior, posterior_segments, seg_params, fitted) -> set[str]:
    """The onboarding ramp's table ``ramp_log_k`` (``log ramp(k)``) of every draw and segment,
    in place: the posterior's fitted curve ``ramp_log`` (draws, segments, tenure 0..K; 0 past K)
    where it has one for the segment and no ``model.override`` sets ``ramp_start`` or
    ``ramp_months``; else the exponential approach of that draw's ``ramp_start`` and
    ``ramp_months`` (config assumptions, or a posterior without the fitted curve).
    Returns the segments that take the fitted curve."""
    curved = set()
    fitted_table = None if posterior is None else posterior.get("ramp_log")
    for s_idx, seg in enumerate(segments):
        overridden = any(_override_for(cfg, seg, n) for n in ("ramp_start", "ramp_months"))
        block = seg_params[:, s_idx, P_RAMP0 : P_RAMP0 + RAMP_TABLE_MONTHS]
        if fitted_table is not None and seg in posterior_segments and not overridden:
            table = np.asarray(fitted_table, dtype=float)[:, list(posterior_segments).index(seg)]
            width = min(table.shape[1], RAMP_TABLE_MONTHS)
            block[:] = 0.0
            block[:, :width] = table[:, :width]
            fitted.add("ramp_log")
            curved.add(seg)
        else:
            block[:] = exponential_ramp_table(
                seg_params[:, s_idx, P_RAMP_START], seg_params[:, s_idx, P_RAMP_MONTHS]
            )
    return curved


def _fill_rate_mode(cfg: Config, segments: Sequence[str], month_params: np.ndarray) -> None:
    """``market=rate``: fixed new-logo rates per segment and fixed coverage shares.

    What the config leaves unset (a segment without a rate and no ``default``, a coverage of None)
    is the book's own and is filled by :func:`simengine.newlogos.apply_rate_history`.
    """
    market = cfg.market
    n = month_params.shape[0]
    shared = {
        M_CSM_COVERAGE: "csm_coverage",
        M_SE_COVERAGE: "se_coverage",
        M_UNHEALTHY_SHARE: "unhealthy_share",
        # One share for new logos and for use cases, with or without SE support (same stream).
        M_UC_UNHEALTHY_COVERED: "unhealthy_share",
        M_UC_UNHEALTHY_UNCOVERED: "unhealthy_share",
    }
    shared_values = {
        slot: draw_param(getattr(market, name), assumption_stream(cfg.seed, name, "*"), n)
        for slot, name in shared.items()
        if getattr(market, name) is not None
    }
    for s_idx, seg in enumerate(segments):
        spec = market.new_logo_rate.get(seg, market.new_logo_rate.get("default"))
        if spec is not None:
            rate = draw_param(spec, assumption_stream(cfg.seed, "new_logo_rate", seg), n)
            month_params[:, s_idx, :, M_NEW_LOGO_RATE] = rate[:, None]
        for slot, values in shared_values.items():
            month_params[:, s_idx, :, slot] = values[:, None]


def _apply_adjust(
    cfg: Config, segments: Sequence[str], month_params: np.ndarray, first_month: int | None
) -> None:
    """Multiply (or shift) the monthly slots by each adjustment over its window.

    A value's window is its own ``from``/``until`` or, without one, ``adjust.from_month`` to the
    end of the horizon (:mod:`simengine.config.windows`).  A global adjustment is drawn once per
    draw for every segment (stream ``adjust/NAME/*``: a downturn hits every segment in the same
    draw together); a per-segment one from its own stream.  The streams do not depend on the
    window, so moving a window leaves the drawn values (common random numbers) as they were.
    """
    a = cfg.adjust
    n, horizon = month_params.shape[0], month_params.shape[2]
    default = None if a.from_month is None else parse_when(a.from_month, "adjust.from_month")
    for name in ADJUSTMENTS:
        slot, multiplies = ADJUST_SLOTS[name]
        global_values = None
        global_value = split_value(getattr(a, name), f"adjust.{name}")
        for s_idx, seg in enumerate(segments):
            spec = a.segments.get(seg, {}).get(name)
            if spec is not None:
                key = f"adjust.segments.{seg}.{name}"
                value = split_value(spec, key)
                values = draw_param(value.spec, assumption_stream(cfg.seed, "adjust", name, seg), n)
            else:
                key, value = f"adjust.{name}", global_value
                if global_values is None:
                    global_values = draw_param(
                        value.spec, assumption_stream(cfg.seed, "adjust", name, "*"), n
                    )
                values = global_values
            start, stop = value.span(default, first_month, horizon, key)
            block = month_params[:, s_idx, start:stop, slot]
            if multiplies:
                block *= values[:, None]
            else:
                block += values[:, None]
