"""When each ``adjust`` value acts: its own window, or ``adjust.from_month``'s.

An adjustment is written as a number, a distribution spec, or either with a window::

    churn_hazard: 1.3                                   # from adjust.from_month to the end
    new_logos: {value: 0.7, from: 2026-04}              # from April 2026 to the end
    price: {value: 1.08, from: +4}                      # from the 5th forecast month on
    usage_growth: {dist: normal, mu: -0.004, sigma: 0.001, from: 2026-01, until: 2026-06}

``from`` is the first month the value applies, ``until`` the last (inclusive); each is a month
``YYYY-MM`` or ``+N``, N months after the first forecast month (``+0`` is the first forecast
month; YAML reads an unquoted ``+4`` as the number 4, which means the same).  A value without
``from`` starts at ``adjust.from_month`` (itself a month or ``+N``; default: the first forecast
month); without ``until`` it lasts to the end of the horizon.  The same forms hold under
``adjust.segments.<segment>``; a segment's entry replaces the value above, window included.

A relative month keeps a shipped scenario meaningful on any book: ``+4`` acts in the first year
whatever month the book's history ends in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from simengine.config.messages import unknown_key
from simengine.config.schema import ConfigError, Param
from simengine.config.specs import DISTRIBUTIONS

__all__ = ["WINDOW_KEYS", "AdjustValue", "month_name", "month_of", "parse_when", "split_value"]

#: Keys a windowed adjust value may carry beside its value.
WINDOW_KEYS = ("from", "until")
_WANT = "a month YYYY-MM or +N (N months after the first forecast month)"


def month_of(text: object) -> int | None:
    """Month number ``year * 12 + month - 1`` of ``"YYYY-MM"``, or None if it is not one."""
    match = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", str(text))
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return None
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def month_name(month: int) -> str:
    """``YYYY-MM`` of a month number."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


@dataclass(frozen=True)
class When:
    """A month as written: absolute (``month`` is a month number) or ``offset`` months after the
    first forecast month."""

    month: int | None = None
    offset: int | None = None

    def index(self, first_month: int | None, key: str) -> int:
        """Position in the horizon (0 = the first forecast month)."""
        if self.offset is not None:
            return self.offset
        if first_month is None:
            raise ConfigError(f"config key '{key}': a month YYYY-MM needs the first forecast month")
        return self.month - first_month


def parse_when(value: object, key: str) -> When:
    """Read ``from``/``until``/``adjust.from_month``; raise :class:`ConfigError` naming ``key``."""
    if isinstance(value, bool):
        raise ConfigError(f"config key '{key}' = {value!r}: expected {_WANT}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_WANT}")
        return When(offset=value)
    text = str(value).strip()
    match = re.fullmatch(r"\+?(\d{1,3})", text)
    if match is not None:
        return When(offset=int(match.group(1)))
    month = month_of(text)
    if month is None:
        raise ConfigError(f"config key '{key}' = {value!r}: expected {_WANT}")
    return When(month=month)


@dataclass(frozen=True)
class AdjustValue:
    """One adjust value split into what is drawn and when it acts.

    Attributes
    ----------
    spec : Param
        A number or ``{dist: ...}``: what is drawn once per simulation draw.
    start, until : When or None
        The window as written; None: ``adjust.from_month`` / the end of the horizon.
    windowed : bool
        Whether the value carries ``from`` or ``until`` of its own.
    """

    spec: Param
    start: When | None = None
    until: When | None = None

    @property
    def windowed(self) -> bool:
        return self.start is not None or self.until is not None

    def span(
        self, default_start: When | None, first_month: int | None, horizon: int, key: str
    ) -> tuple[int, int]:
        """``(start, stop)`` positions in the horizon (stop exclusive, clipped to the horizon).

        Raises :class:`ConfigError` naming the key when the window starts outside the forecast
        or ends before it starts.
        """
        start_when = self.start if self.start is not None else default_start
        start_key = f"{key}.from" if self.start is not None else "adjust.from_month"
        start = 0 if start_when is None else start_when.index(first_month, start_key)
        if not 0 <= start < horizon:
            raise ConfigError(
                f"config key '{start_key}' = {_written(start_when)!r}: outside the forecast "
                f"({_range(first_month, horizon)})"
            )
        stop = horizon
        if self.until is not None:
            last = self.until.index(first_month, f"{key}.until")
            if last < start:
                raise ConfigError(
                    f"config key '{key}.until' = {_written(self.until)!r}: before the first "
                    f"month it applies ({_at(start, first_month)})"
                )
            stop = min(last + 1, horizon)
        return start, stop


def _written(when: When | None) -> str:
    if when is None:
        return ""
    return f"+{when.offset}" if when.offset is not None else month_name(when.month)


def _at(index: int, first_month: int | None) -> str:
    if first_month is None:
        return f"+{index}"
    return month_name(first_month + index)


def _range(first_month: int | None, horizon: int) -> str:
    if first_month is None:
        return f"+0 .. +{horizon - 1}"
    return f"{month_name(first_month)} .. {month_name(first_month + horizon - 1)}"


def split_value(spec: object, key: str) -> AdjustValue:
    """Split an adjust value into its drawn part and its window; refuse unknown keys by name.

    ``{value: X, from:, until:}`` and ``{dist: NAME, <its parameters>, from:, until:}`` carry a
    window; a number or a plain ``{dist: ...}`` does not.  The drawn part is checked later by
    :func:`simengine.config.specs.validate_param`.
    """
    if not isinstance(spec, Mapping):
        return AdjustValue(spec)
    keys = [str(k) for k in spec]
    if "value" in spec:
        allowed = ["value", *WINDOW_KEYS]
        drawn = spec["value"]
    elif "dist" in spec:
        params = DISTRIBUTIONS.get(spec["dist"]) if isinstance(spec["dist"], str) else None
        allowed = ["dist", *(params or [k for k in keys if k not in WINDOW_KEYS]), *WINDOW_KEYS]
        drawn = {k: v for k, v in spec.items() if k not in WINDOW_KEYS}
    else:
        allowed = ["value", "dist", *WINDOW_KEYS]
        drawn = None
    for k in keys:
        if k not in allowed:
            raise unknown_key(f"{key}.{k}", allowed)
    if drawn is None:
        raise ConfigError(
            f"config key '{key}' = {dict(spec)!r}: a window needs what to apply: "
            "{value: NUMBER, from: ..., until: ...} or {dist: ..., from: ..., until: ...}"
        )
    start = parse_when(spec["from"], f"{key}.from") if "from" in spec else None
    until = parse_when(spec["until"], f"{key}.until") if "until" in spec else None
    if start is not None and until is not None:
        same_kind = (start.offset is None) == (until.offset is None)
        if same_kind and until.index(0, key) < start.index(0, key):
            raise ConfigError(
                f"config key '{key}.until' = {_written(until)!r}: before its from "
                f"({_written(start)})"
            )
    return AdjustValue(drawn, start, until)
