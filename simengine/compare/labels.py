"""How the compared scenarios are named: sweep labels as tables show them, and sweep grids.

A sweep labels each scenario with its overrides (``staffing.budget=600000,staffing.ae_per_se=3``);
tables and charts show them without the keys' shared prefix (:func:`display_labels`), a sweep over
two keys lays them out as a grid (:func:`sweep_grid`), and ``compare.baseline`` may name a
scenario either way (:func:`resolve_baseline`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from simengine.compare.runs import CompareError

__all__ = ["Grid", "display_labels", "dropped_prefix", "resolve_baseline", "sweep_grid"]

_KEY = re.compile(r"[A-Za-z_][\w.]*=")


def _overrides(label: str) -> list[str] | None:
    """A sweep label's ``key=value`` items (a comma inside a value stays in it), or None when the
    label is not such a list (a run folder's name, a job number)."""
    items: list[str] = []
    for piece in label.split(","):
        if _KEY.match(piece):
            items.append(piece)
        elif items:
            items[-1] += "," + piece
        else:
            return None
    return items or None


def _shown(labels: Sequence[str], drop: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The key prefix :func:`display_labels` drops (``""``: none) and the labels as shown."""
    parsed = [_overrides(str(label)) for label in labels]
    if drop:
        parsed = [
            None if items is None else [i for i in items if i.split("=", 1)[0] not in drop]
            for items in parsed
        ]
        if all(items == [] for items in parsed):
            return "", {str(label): "" for label in labels}
    prefix = ""
    if parsed and all(parsed):
        keys = [item.split("=", 1)[0] for items in parsed for item in items]
        first = keys[0].split(".")[:-1]
        common = 0
        while common < len(first) and all(
            k.split(".")[:-1][: common + 1] == first[: common + 1] for k in keys
        ):
            common += 1
        prefix = ".".join(first[:common]) + "." if common else ""
    shown = {}
    for label, items in zip(labels, parsed, strict=True):
        if items is None:
            shown[str(label)] = str(label)
        else:
            shown[str(label)] = ", ".join(item.removeprefix(prefix) for item in items)
    if not drop and len(set(shown.values())) < len(shown):
        return "", {str(label): str(label).replace(",", ", ") for label in labels}
    return prefix, shown


def display_labels(labels: Sequence[str], drop: Sequence[str] = ()) -> dict[str, str]:
    """How tables and plots show each scenario label: the dotted prefix that every override's key
    shares dropped (:func:`dropped_prefix`), and a space after each override's comma (where a
    narrow table may wrap).

    ``staffing.ae_per_se=3,staffing.budget=600000`` shows as ``ae_per_se=3, budget=600000``.
    Labels that are not override lists, or that would no longer differ, show whole;
    ``comparison.csv`` always keeps the full labels, and :func:`resolve_baseline` takes either.
    ``drop``: keys whose overrides a table shows in columns of their own (the frontier's budget
    and ratio); a label of nothing else shows as ``""``.
    """
    return _shown(labels, drop)[1]


def dropped_prefix(labels: Sequence[str]) -> str:
    """The key prefix (``staffing.``) :func:`display_labels` drops from ``labels``; ``""``: none."""
    return _shown(labels, ())[0]


@dataclass(frozen=True)
class Grid:
    """Scenarios laid out on the two keys a sweep varied: ``cells[label] = (row, column)`` into
    ``rows`` (values of ``row_key``) and ``columns`` (values of ``column_key``), both as the
    labels write them; ``fixed``: the overrides every label shares (``key=value``)."""

    row_key: str
    column_key: str
    rows: list[str]
    columns: list[str]
    cells: dict[str, tuple[int, int]]
    fixed: list[str]


def _ordered(values: list[str]) -> list[str]:
    """Distinct values in numeric order when all are numbers, else in order of appearance."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def sweep_grid(labels: Sequence[str]) -> Grid | None:
    """The grid of a sweep over two keys (``staffing.budget`` x ``staffing.ae_per_se``, say), or
    None when the labels are not one: not override lists, not the same keys in each, or more or
    fewer than two keys that vary.  The key with fewer
    values gives the rows (the first varied key on a tie); cells may be missing (a failed job)."""
    parsed = [_overrides(str(label)) for label in labels]
    if not parsed or not all(parsed):
        return None
    settings = [dict(item.split("=", 1) for item in items) for items in parsed]
    keys = list(settings[0])
    if any(
        set(s) != set(keys) or len(s) != len(items)  # other keys, or a key set twice
        for s, items in zip(settings, parsed, strict=True)
    ):
        return None
    varied = [k for k in keys if len({s[k] for s in settings}) > 1]
    if len(varied) != 2:
        return None
    values = {k: _ordered([s[k] for s in settings]) for k in varied}
    row_key, column_key = sorted(varied, key=lambda k: len(values[k]))  # stable on a tie
    cells = {
        str(label): (values[row_key].index(s[row_key]), values[column_key].index(s[column_key]))
        for label, s in zip(labels, settings, strict=True)
    }
    fixed = [f"{k}={settings[0][k]}" for k in keys if k not in varied]
    return Grid(row_key, column_key, values[row_key], values[column_key], cells, fixed)


def resolve_baseline(labels: Sequence[str], baseline: str | None) -> str:
    """The scenario ``compare.baseline`` names: the first when None, else a full label or one as
    tables show it (:func:`display_labels`; spaces ignored)."""
    labels = [str(label) for label in labels]
    if baseline is None:
        return labels[0]
    if baseline in labels:
        return baseline
    wanted = str(baseline).replace(" ", "")
    for label, shown in display_labels(labels).items():
        if shown.replace(" ", "") == wanted:
            return label
    raise CompareError(
        f"config key 'compare.baseline' = {baseline!r}: no such scenario; scenarios: {labels}"
    )
