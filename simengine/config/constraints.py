"""Constraints declared beside each config field, read by one walker of the config checks.

A field of the schema carries its range in ``dataclasses.field(metadata=...)``, so the range is
read where the key is defined and one walker (:func:`simengine.config.specs.check_fields`) checks
every key:

- ``checks``: :class:`Check` values the value itself must pass, in order (``sim.horizon_months``:
  ``ge(1), le(600)``);
- ``each``: checks every entry of a dict or list field must pass (``market.unit_price.<segment>``);
- ``kind``: the range of a :data:`~simengine.config.schema.Param` (a number or ``{dist: ...}``),
  checked by :func:`simengine.config.specs.validate_param`: ``real``, ``nonneg``, ``positive`` or
  ``probability``; ``each_kind`` for every entry of a dict of them;
- ``optional``: ``None`` passes (the value then comes from elsewhere, e.g. today's team).  By
  default a field whose default is ``None`` is optional and any other is not.

Checks that compare one key with another stay as code in :mod:`simengine.config.validation`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Check",
    "bounded",
    "ge",
    "gt",
    "kind_of",
    "le",
    "matches",
    "nonblank",
    "one_of",
    "param",
    "within",
]


@dataclass(frozen=True)
class Check:
    """A condition a config value must meet, and the message's tail when it does not."""

    ok: Callable[[Any], bool]
    why: str


def ge(bound: float) -> Check:
    """The value is at least ``bound``."""
    return Check(lambda v: v >= bound, f"must be >= {bound}")


def gt(bound: float, *, finite: bool = False) -> Check:
    """The value is above ``bound`` (and finite, with ``finite``)."""
    if finite:
        return Check(lambda v: v > bound and math.isfinite(v), f"must be > {bound}")
    return Check(lambda v: v > bound, f"must be > {bound}")


def le(bound: float) -> Check:
    """The value is at most ``bound``."""
    return Check(lambda v: v <= bound, f"must be <= {bound}")


def within(lo: float, hi: float, *, closed: str = "[]", why: str | None = None) -> Check:
    """The value lies in the interval from ``lo`` to ``hi``; ``closed`` gives its brackets."""
    left, right = closed
    above = (lambda v: v >= lo) if left == "[" else (lambda v: v > lo)
    below = (lambda v: v <= hi) if right == "]" else (lambda v: v < hi)
    return Check(lambda v: above(v) and below(v), why or f"must be in {left}{lo}, {hi}{right}")


def one_of(values: tuple[str, ...], why: str) -> Check:
    """The value is one of ``values``."""
    return Check(lambda v: v in values, why)


def matches(pattern: str, why: str) -> Check:
    """The whole value matches the regular expression ``pattern``."""
    return Check(lambda v: re.fullmatch(pattern, v) is not None, why)


def nonblank() -> Check:
    """The value is not empty or blank."""
    return Check(lambda v: bool(str(v).strip()), "is empty")


def bounded(
    default: Any = dataclasses.MISSING,
    *checks: Check,
    default_factory: Any = dataclasses.MISSING,
    each: tuple[Check, ...] = (),
    each_kind: str | None = None,
    optional: bool | None = None,
) -> Any:
    """A dataclass field with ``checks`` on its value (and ``each`` / ``each_kind`` on entries)."""
    meta: dict[str, Any] = {"checks": checks, "each": each}
    if each_kind is not None:
        meta["each_kind"] = each_kind
    if optional is not None:
        meta["optional"] = optional
    return dataclasses.field(default=default, default_factory=default_factory, metadata=meta)


def param(default: Any, kind: str = "real", *, optional: bool | None = None) -> Any:
    """A :data:`~simengine.config.schema.Param` field whose drawn values must lie in ``kind``."""
    meta: dict[str, Any] = {"kind": kind}
    if optional is not None:
        meta["optional"] = optional
    return dataclasses.field(default=default, metadata=meta)


def is_optional(f: dataclasses.Field) -> bool:
    """Whether ``None`` passes the field's checks (its value then comes from elsewhere)."""
    return f.metadata.get("optional", f.default is None)


def kind_of(cls: type, name: str) -> str:
    """The range (``kind``) of the Param field ``name`` of the schema class ``cls``."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f.metadata.get("kind", "real")
    raise KeyError(name)
