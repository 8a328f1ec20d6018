"""Posterior draws and config assumptions -> the flat parameter arrays the kernels read.

One simulation draw is one joint sample of every uncertain quantity: a posterior draw (when a fit is
given) plus a draw of every uncertain planning assumption.  Assumption draws come from a stream keyed
by ``(seed, parameter name, segment)``, so two scenarios of a sweep that differ in one assumption share
the draws of all the others (common random numbers), and draw ``d`` is the same whatever the chunking.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from simengine.config import Config, ConfigError, ModelConfig, SegmentAssumptions
from simengine.kernels.layout import (
    M_CSM_COVERAGE,
    M_NEW_LOGO_RATE,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    M_UNHEALTHY_SHARE,
    MONTH_DEFAULTS,
    MONTH_PARAMS,
    P_SEASON0,
    SEASON_PARAMS,
    SEGMENT_PARAMS,
    harmonic_season,
)

log = logging.getLogger(__name__)

__all__ = [
    "DISTRIBUTIONS",
    "Parameters",
    "build_parameters",
    "draw_param",
    "param_mean",
    "validate_param",
]

#: Supported distributions and their parameters.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "gamma": ("shape", "rate"),
    "beta": ("a", "b"),
    "uniform": ("low", "high"),
}

# Parameters that are per segment in the kernel but one value for all segments in the config
# (fields of ModelConfig rather than of SegmentAssumptions).
_MODEL_WIDE = tuple(
    n
    for n in (*SEGMENT_PARAMS, "season_cos", "season_sin")
    if n in {f.name for f in fields(ModelConfig)}
)
# Prices are set by the business, not uncertain: history revenue and simulated revenue must use
# the same price, so a distribution is refused (``market.unit_price`` is typed as numbers too).
_FIXED_ONLY = {"unit_price"}


def _support(kind: str) -> tuple[float, float]:
    return {
        "real": (-math.inf, math.inf),
        "nonneg": (0.0, math.inf),
        "positive": (0.0, math.inf),
        "probability": (0.0, 1.0),
    }[kind]


def validate_param(spec: object, key: str, kind: str = "real") -> None:
    """Check a number or distribution spec; raise :class:`ConfigError` naming ``key`` and the value.

    ``kind`` is the range the drawn values must lie in: ``real``, ``nonneg``, ``positive`` or
    ``probability``.
    """
    lo, hi = _support(kind)
    name = key.rsplit(".", 1)[-1]
    if isinstance(spec, bool):
        raise ConfigError(f"config key '{key}' = {spec!r}: expected a number or {{dist: ...}}")
    if isinstance(spec, int | float):
        v = float(spec)
        bad = not math.isfinite(v) or v < lo or v > hi or (kind == "positive" and v <= 0)
        if bad:
            want = {
                "real": "a finite number",
                "nonneg": ">= 0",
                "positive": "> 0",
                "probability": "in [0, 1]",
            }[kind]
            raise ConfigError(f"config key '{key}' = {spec!r}: must be {want}")
        return
    if not isinstance(spec, Mapping):
        raise ConfigError(f"config key '{key}' = {spec!r}: expected a number or {{dist: ...}}")
    if name in _FIXED_ONLY:
        raise ConfigError(f"config key '{key}' = {dict(spec)!r}: must be a number (prices are set)")
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(
            f"config key '{key}.dist' = {dist!r}: must be one of {sorted(DISTRIBUTIONS)}"
        )
    args = {k: v for k, v in spec.items() if k != "dist"}
    want = set(DISTRIBUTIONS[dist])
    if set(args) != want:
        raise ConfigError(
            f"config key '{key}' = {dict(spec)!r}: {dist} takes exactly {sorted(want)}"
        )
    for k, v in args.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"config key '{key}.{k}' = {v!r}: must be a finite number")
    positive = {
        "normal": ("sigma",),
        "lognormal": ("sigma",),
        "gamma": ("shape", "rate"),
        "beta": ("a", "b"),
        "uniform": (),
    }[dist]
    for k in positive:
        if args[k] <= 0:
            raise ConfigError(f"config key '{key}.{k}' = {args[k]!r}: must be > 0")
    if dist == "uniform" and not args["low"] < args["high"]:
        raise ConfigError(f"config key '{key}' = {dict(spec)!r}: uniform needs low < high")
    # The distribution's support must fit the parameter's range.
    support = {
        "normal": (-math.inf, math.inf),
        "lognormal": (0.0, math.inf),
        "gamma": (0.0, math.inf),
        "beta": (0.0, 1.0),
        "uniform": (args.get("low", 0.0), args.get("high", 0.0)),
    }[dist]
    if support[0] < lo or support[1] > hi:
        raise ConfigError(
            f"config key '{key}' = {dict(spec)!r}: a {dist} can leave the range of this "
            f"parameter ({kind}); use a distribution inside it"
        )


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


def param_mean(spec: object) -> float:
    """Mean of a number or distribution spec."""
    if isinstance(spec, int | float):
        return float(spec)
    d = spec["dist"]
    return {
        "normal": lambda: spec["mu"],
        "lognormal": lambda: math.exp(spec["mu"] + spec["sigma"] ** 2 / 2),
        "gamma": lambda: spec["shape"] / spec["rate"],
        "beta": lambda: spec["a"] / (spec["a"] + spec["b"]),
        "uniform": lambda: (spec["low"] + spec["high"]) / 2,
    }[d]()


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
    """

    seg_params: np.ndarray
    month_params: np.ndarray
    segments: tuple[str, ...]
    fitted: tuple[str, ...] = ()
    default_segments: tuple[str, ...] = ()
    posterior_segments_missing: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


#: Kernel parameters only a fit sets (no config key): their neutral value without a posterior.
_FIT_ONLY: dict[str, float] = {
    "usage_decline_hazard_ratio": 1.0,
    "zero_month_prob": 0.0,
    "onboarding_failure": 0.0,
}


def _season_profile(cfg, segments, posterior, posterior_segments, fitted) -> np.ndarray:
    """``(draws, segments, 12)`` log seasonal effects: the posterior's 12-effect ``season``
    (model-wide) where it has one, else the single harmonic ``season_cos`` / ``season_sin``
    (posterior or config) as its 12 effects."""
    n = cfg.sim.draws
    if posterior is not None and "season" in posterior:
        fitted.add("season")
        profile = np.asarray(posterior["season"], dtype=float)
        return np.broadcast_to(profile[:, None, :], (n, len(segments), 12))
    out = np.empty((n, len(segments), 12))
    for s_idx, seg in enumerate(segments):
        sa = segment_assumptions(cfg, seg)
        coef = []
        for name in ("season_cos", "season_sin"):
            arr = None if posterior is None else posterior.get(name)
            if arr is not None and np.ndim(arr) == 1:
                fitted.add(name)
                coef.append(np.asarray(arr, dtype=float))
            else:
                spec = getattr(cfg.model, name) if name in _MODEL_WIDE else getattr(sa, name)
                key_seg = "*" if name in _MODEL_WIDE else seg
                coef.append(draw_param(spec, assumption_stream(cfg.seed, name, key_seg), n))
        out[:, s_idx] = harmonic_season(*coef)
    return out


def segment_assumptions(cfg: Config, segment: str) -> SegmentAssumptions:
    """The config entry for ``segment``, or the ``default`` entry."""
    return cfg.model.segments.get(segment, cfg.model.segments["default"])


def build_parameters(
    cfg: Config,
    segments: Sequence[str],
    posterior: Mapping[str, np.ndarray] | None = None,
    posterior_segments: Sequence[str] = (),
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
    """
    n, horizon, n_seg = cfg.sim.draws, cfg.sim.horizon_months, len(segments)
    seg_params = np.empty((n, n_seg, len(SEGMENT_PARAMS)))
    default_segments = tuple(s for s in segments if s not in cfg.model.segments)
    fitted: set[str] = set()
    missing = tuple(s for s in segments if posterior is not None and s not in posterior_segments)

    season = _season_profile(cfg, segments, posterior, posterior_segments, fitted)
    for s_idx, seg in enumerate(segments):
        sa = segment_assumptions(cfg, seg)
        seg_params[:, s_idx, P_SEASON0 : P_SEASON0 + 12] = season[:, s_idx]
        for p_idx, name in enumerate(SEGMENT_PARAMS):
            if name == "unit_price":
                prices = cfg.market.unit_price
                seg_params[:, s_idx, p_idx] = prices.get(seg, prices["default"])
                continue
            if name in SEASON_PARAMS:
                continue
            if name in _FIT_ONLY:
                spec = _FIT_ONLY[name]
            else:
                spec = getattr(cfg.model, name) if name in _MODEL_WIDE else getattr(sa, name)
            key_seg = "*" if name in _MODEL_WIDE else seg
            values = None
            if posterior is not None and name in posterior:
                arr = np.asarray(posterior[name], dtype=float)
                if arr.ndim == 1:
                    values = arr
                elif seg in posterior_segments:
                    values = arr[:, list(posterior_segments).index(seg)]
            if values is not None:
                fitted.add(name)
            else:
                values = draw_param(spec, assumption_stream(cfg.seed, name, key_seg), n)
            seg_params[:, s_idx, p_idx] = values

    month_params = np.empty((n, n_seg, horizon, len(MONTH_PARAMS)))
    model_wide = {
        M_CSM_COVERAGE: "csm_coverage",
        M_SE_COVERAGE: "se_coverage",
        M_UNHEALTHY_SHARE: "unhealthy_share",
        M_UC_UNHEALTHY_COVERED: "unhealthy_share",  # rate mode: one share for all
        M_UC_UNHEALTHY_UNCOVERED: "unhealthy_share",
    }
    for s_idx, seg in enumerate(segments):
        sa = segment_assumptions(cfg, seg)
        rate = draw_param(sa.new_logo_rate, assumption_stream(cfg.seed, "new_logo_rate", seg), n)
        month_params[:, s_idx, :, M_NEW_LOGO_RATE] = rate[:, None]
        for name, value in MONTH_DEFAULTS.items():  # neutral until a scenario sets them
            month_params[:, s_idx, :, MONTH_PARAMS.index(name)] = value
        for slot, name in model_wide.items():
            values = draw_param(getattr(cfg.model, name), assumption_stream(cfg.seed, name, "*"), n)
            month_params[:, s_idx, :, slot] = values[:, None]

    notes = []
    if default_segments:
        notes.append(
            f"segments {list(default_segments)} have no entry under model.segments; "
            "simulated with model.segments.default"
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
        notes=notes,
    )
