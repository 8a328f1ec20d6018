"""Checks of single config values: a field against its declared range, and what a
:data:`~simengine.config.schema.Param` (a number or a distribution spec) may hold.

Validation lives here, beside the schema, so the config checks (:mod:`simengine.config.validation`,
:mod:`simengine.config.company`) and :mod:`simengine.params` (which draws the values) use it
without importing each other.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

from simengine.config.constraints import is_optional
from simengine.config.schema import ConfigError

__all__ = ["DISTRIBUTIONS", "check_fields", "param_mean", "validate_param"]

#: Supported distributions and their parameters.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "normal": ("mu", "sigma"),
    "lognormal": ("mu", "sigma"),
    "gamma": ("shape", "rate"),
    "beta": ("a", "b"),
    "uniform": ("low", "high"),
}

# Prices are set by the business, not uncertain: history revenue and simulated revenue must use
# the same price, so a distribution is refused (``market.unit_price`` is typed as numbers too).
_FIXED_ONLY = {"unit_price"}

_SUPPORT = {
    "real": (-math.inf, math.inf),
    "nonneg": (0.0, math.inf),
    "positive": (0.0, math.inf),
    "probability": (0.0, 1.0),
}
_WANT = {"real": "a finite number", "nonneg": ">= 0", "positive": "> 0", "probability": "in [0, 1]"}


def validate_param(spec: object, key: str, kind: str = "real") -> None:
    """Check a number or distribution spec; raise :class:`ConfigError` naming ``key`` and the value.

    ``kind`` is the range the drawn values must lie in: ``real``, ``nonneg``, ``positive`` or
    ``probability``.
    """
    lo, hi = _SUPPORT[kind]
    name = key.rsplit(".", 1)[-1]
    if isinstance(spec, bool):
        raise ConfigError(f"config key '{key}' = {spec!r}: expected a number or {{dist: ...}}")
    if isinstance(spec, int | float):
        v = float(spec)
        if not math.isfinite(v) or v < lo or v > hi or (kind == "positive" and v <= 0):
            raise ConfigError(f"config key '{key}' = {spec!r}: must be {_WANT[kind]}")
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


def _require(ok: bool, key: str, value: object, why: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}' = {value!r}: {why}")


def check_fields(obj: object, prefix: str) -> None:
    """Check every field of the schema dataclass ``obj`` against the constraints in its metadata.

    ``prefix`` is the key of ``obj`` (``sim``, ``staffing.roles.ae``; empty for the root).  Fields
    without constraints are skipped; nested sections are checked by their own call.
    """
    for f in dataclasses.fields(obj):
        meta = f.metadata
        if not meta:
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        value = getattr(obj, f.name)
        if value is None and is_optional(f):
            continue
        for c in meta.get("checks", ()):
            _require(c.ok(value), key, value, c.why)
        if "kind" in meta:
            validate_param(value, key, kind=meta["kind"])
        if meta.get("each") or "each_kind" in meta:
            if isinstance(value, dict):
                entries = [(f"{key}.{k}", v) for k, v in value.items()]
            else:
                entries = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
            for where, v in entries:
                for c in meta.get("each", ()):
                    _require(c.ok(v), where, v, c.why)
                if "each_kind" in meta:
                    validate_param(v, where, kind=meta["each_kind"])


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
