"""Month-on-month changes of log usage and their sufficient statistics: what the usage fit's
likelihood reads and what the simulation's set-up gives each account of the same book.

A *change* is ``d = log U[t] - log U[t-1]`` of an account-month after the start month whose two
months both show usage (:class:`~simengine.bookstats.panel.UsagePanel`) and that is not within
``settle_months`` after a new use case started (those "ramping" months are the expansion model's).
:func:`change_mask` says which account-months are changes and :func:`changed_rows` which panel
rows are the accounts with changes: the one numbering of accounts that the fit's per-account
statistics (:func:`change_statistics`) and the set-up's per-account fields
(:func:`account_statistics`) share.  NumPy only.  The per-account statistics carry the season's and
the onboarding ramp's share of an account's changes as counts (``season_coef``: net count of each
month of year; ``ramp_tenure``, ``ramp_coef``: telescoped signed tenures), so a likelihood or a
kernel evaluates them against any profile of :data:`~simengine.bookstats.shapes.MONTHS_OF_YEAR`
months and any ramp table.  :func:`change_quadratic_forms` sums them further, per segment and per
(segment, changes per account), into the quadratic forms the usage likelihood reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from simengine.bookstats.panel import UsagePanel
from simengine.bookstats.shapes import RAMP_FIT_MONTHS

__all__ = [
    "SETTLE_MONTHS",
    "UsageRules",
    "account_statistics",
    "change_mask",
    "changed_rows",
    "change_statistics",
    "change_quadratic_forms",
    "usage_changes",
]

#: Default months after a new use case starts during which its ramp still moves usage (left out of
#: the changes): 12 = 4 ramp time constants of 3 months.
SETTLE_MONTHS = 12

#: Length of a segment's usage parameter vector ``theta_s`` = (drift, the 12 seasonal effects,
#: ``log ramp(0 .. RAMP_FIT_MONTHS)``), whose design rows :func:`change_quadratic_forms` sums: the
#: expected sum of any set of changes of one segment is ``x . theta_s`` for a fixed row ``x``.
THETA_SIZE = 1 + 12 + RAMP_FIT_MONTHS + 1
_SEASON_COL = 1
_RAMP_COL = 13

#: The posterior attr that carries the settle rule (:class:`UsageRules`).
_SETTLE_ATTR = "usage_rule_settle_months"


@dataclass(frozen=True)
class UsageRules:
    """Which account-months are usage changes: the rule the usage fit used, which the
    simulation's set-up must apply to the same book (each account's own statistics).

    Attributes
    ----------
    settle_months : int
        Months after a new use case starts that are not changes (:data:`SETTLE_MONTHS`).
    """

    settle_months: int = SETTLE_MONTHS

    def to_attrs(self) -> dict[str, object]:
        """``{usage_rule_settle_months: value}`` for a posterior's attrs."""
        return {_SETTLE_ATTR: int(self.settle_months)}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, object] | None) -> UsageRules:
        """The rule a posterior was fitted with; the default for a posterior that predates the
        record (it was fitted with it) or for no posterior.

        Raises
        ------
        ValueError
            The recorded value is not a whole number of months >= 1.
        """
        raw = (attrs or {}).get(_SETTLE_ATTR)
        if raw is None:
            return cls()
        value = raw.item() if hasattr(raw, "item") else raw
        if isinstance(value, bool) or not float(value).is_integer() or int(value) < 1:
            raise ValueError(f"posterior attr {_SETTLE_ATTR} = {value!r}: expected months >= 1")
        return cls(settle_months=int(value))


def change_mask(panel: UsagePanel) -> tuple[np.ndarray, np.ndarray]:
    """Which account-months of ``panel`` are changes, and each column's tenure.

    Returns
    -------
    ok : numpy.ndarray of bool, shape (n, width)
        Usage in the month and the month before, tenure >= 1, not ramping.
    tenure : numpy.ndarray of int64, shape (n, width)
        Months since the account's start month.
    """
    y = panel.log_usage
    tenure = np.arange(y.shape[1])[None, :] - panel.start[:, None]
    ok = np.zeros_like(y, dtype=bool)
    ok[:, 1:] = np.isfinite(y[:, 1:]) & np.isfinite(y[:, :-1])
    ok &= (tenure >= 1) & ~panel.ramping
    return ok, tenure


def _sum_by(key: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(key, weights=values, minlength=n)


def change_statistics(data: dict[str, Any]) -> dict[str, Any]:
    """Sufficient statistics of :func:`usage_changes` for the marginal normal likelihood.

    Returns
    -------
    dict
        ``cells`` (one per distinct (segment, month, tenure) of the changes): ``segment``,
        ``tenure``, ``moy``, ``prev_moy`` (month of year of the change and of the month before),
        ``count``, ``sum``, ``sum_sq`` of the changes.  ``accounts`` (one per account with
        changes): ``segment``, ``count``, ``sum``, ``season_coef`` (n_accounts, 12: net count of
        each month's seasonal effect in its changes), and
        ``ramp_tenure``, ``ramp_coef`` (n_accounts, width): the telescoped signed tenures whose
        ``log ramp`` sum to the account's ``sum of Δ log ramp`` (padding has coefficient 0).
        ``init_cells`` (one per (segment, start month)): ``segment``, ``moy``,
        ``count``, ``sum``, ``sum_sq`` of first-month log usage.  ``max_tenure``.
    """
    seg, month, tenure = data["segment"], data["month"], data["tenure"]
    change = data["change"]
    max_tenure = int(tenure.max()) if len(tenure) else 1

    key = np.stack([seg, month, tenure], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    n_cells = len(uniq)
    cell_month = uniq[:, 1]
    cells = {
        "segment": uniq[:, 0].astype(np.int64),
        "tenure": uniq[:, 2].astype(np.int64),
        "moy": (cell_month % 12).astype(np.int64),
        "prev_moy": ((cell_month - 1) % 12).astype(np.int64),
        "count": np.bincount(inv, minlength=n_cells).astype(np.float64),
        "sum": _sum_by(inv, change, n_cells),
        "sum_sq": _sum_by(inv, change**2, n_cells),
    }

    n_acc = int(data["n_accounts"])
    acc = data["account"]
    # sum over an account's changes of log ramp(k) - log ramp(k - 1): +1 at k, -1 at k - 1
    width = max_tenure + 1
    net = np.bincount(
        np.concatenate([acc * width + tenure, acc * width + tenure - 1]),
        weights=np.concatenate([np.ones(len(acc)), -np.ones(len(acc))]),
        minlength=n_acc * width,
    ).reshape(n_acc, width)
    rows, ks = np.nonzero(net)
    per_row = np.bincount(rows, minlength=n_acc)
    n_terms = max(int(per_row.max()) if n_acc else 1, 1)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    ramp_tenure = np.zeros((n_acc, n_terms), dtype=np.int64)
    ramp_coef = np.zeros((n_acc, n_terms))
    ramp_tenure[rows, slot] = ks
    ramp_coef[rows, slot] = net[rows, ks]
    accounts = {
        "segment": np.asarray(data["account_segment"], dtype=np.int64),
        "count": np.bincount(acc, minlength=n_acc).astype(np.float64),
        "sum": _sum_by(acc, change, n_acc),
        # sum over an account's changes of season[m] - season[m - 1], as counts per month of year
        "season_coef": (
            np.bincount(acc * 12 + month % 12, minlength=n_acc * 12)
            - np.bincount(acc * 12 + (month - 1) % 12, minlength=n_acc * 12)
        )
        .reshape(n_acc, 12)
        .astype(np.float64),
        "ramp_tenure": ramp_tenure,
        "ramp_coef": ramp_coef,
    }

    level = data["init_log_usage"]
    ikey = np.stack([data["init_segment"], data["init_month"]], axis=1)
    iuniq, iinv = np.unique(ikey, axis=0, return_inverse=True)
    iinv = iinv.ravel()
    n_init = len(iuniq)
    init_cells = {
        "segment": iuniq[:, 0].astype(np.int64),
        "moy": (iuniq[:, 1] % 12).astype(np.int64),
        "count": np.bincount(iinv, minlength=n_init).astype(np.float64),
        "sum": _sum_by(iinv, level, n_init),
        "sum_sq": _sum_by(iinv, level**2, n_init),
    }
    return {
        "cells": cells,
        "accounts": accounts,
        "init_cells": init_cells,
        "max_tenure": max_tenure,
    }


def _ramp_columns(x: np.ndarray, rows: np.ndarray, tenure: np.ndarray, coef: np.ndarray) -> None:
    """Add ``coef`` at the ``log ramp(tenure)`` columns of rows ``rows`` of ``x`` (in place);
    tenures past :data:`RAMP_FIT_MONTHS` are on the plateau (``log ramp = 0``) and add nothing."""
    on = (tenure <= RAMP_FIT_MONTHS) & (coef != 0.0)
    np.add.at(x, (rows[on], _RAMP_COL + tenure[on]), coef[on])


def _cell_design(cells: dict[str, np.ndarray]) -> np.ndarray:
    """Design rows of the cells: a cell's expected change is ``x . theta_s``, (n_cells, P)."""
    n = len(cells["count"])
    rows = np.arange(n)
    x = np.zeros((n, THETA_SIZE))
    x[:, 0] = 1.0
    x[rows, _SEASON_COL + cells["moy"]] += 1.0
    x[rows, _SEASON_COL + cells["prev_moy"]] -= 1.0
    _ramp_columns(x, rows, cells["tenure"], np.ones(n))
    _ramp_columns(x, rows, cells["tenure"] - 1, -np.ones(n))
    return x


def _account_design(accounts: dict[str, np.ndarray]) -> np.ndarray:
    """Design rows of the accounts: the expected sum of an account's changes is ``x . theta_s``,
    (n_accounts, P)."""
    n = len(accounts["count"])
    x = np.zeros((n, THETA_SIZE))
    x[:, 0] = accounts["count"]
    x[:, _SEASON_COL : _SEASON_COL + 12] = accounts["season_coef"]
    rows = np.repeat(np.arange(n), accounts["ramp_tenure"].shape[1])
    _ramp_columns(x, rows, accounts["ramp_tenure"].ravel(), accounts["ramp_coef"].ravel())
    return x


def change_quadratic_forms(stats: dict[str, Any], n_segments: int) -> dict[str, Any]:
    """The usage likelihood's sums of squares as quadratic forms in each segment's parameters.

    Every expected value the marginal normal likelihood reads is linear in the segment's
    ``theta_s`` (:data:`THETA_SIZE`: drift, season, ``log ramp(0..K)``): a cell's expected change
    is ``x_c . theta_s`` and an account's expected sum of changes ``x_i . theta_s``, for design
    rows fixed by the data.  So ``sum_c (sum_sq_c - 2 e_c sum_c + n_c e_c^2)`` over a segment's
    cells, and ``sum_i (sum_i - x_i . theta_s)^2`` over a segment's accounts with ``n`` changes
    (the accounts' weight in the likelihood depends on the segment and ``n`` only), are
    ``Q - 2 delta . B + delta' H delta`` with ``delta = theta_s - theta_ref``: the sums are taken
    here, once, and the likelihood's cost does not grow with accounts or cells.

    Centred on ``theta_ref``, the segment's least-squares fit of its cells, so that near the
    posterior (where ``delta`` is small) ``Q`` holds the residual sum of squares itself and not
    the difference of two large sums.

    Parameters
    ----------
    stats : dict
        :func:`change_statistics`.
    n_segments : int
        Segments of the book (segments without changes get zeros).

    Returns
    -------
    dict
        ``reference`` (n_segments, P): ``theta_ref``.  ``within`` (per segment): ``count``
        (changes), ``sum_sq`` (n_segments,), ``cross`` (n_segments, P), ``gram``
        (n_segments, P, P).  ``groups`` (one per distinct (segment, changes per account)):
        ``segment``, ``count`` (changes per account), ``accounts`` (accounts in the group),
        ``sum_sq``, ``cross``, ``gram`` as above over the group's accounts' sums.
    """
    cells, acc = stats["cells"], stats["accounts"]
    x_cell = _cell_design(cells)
    cs = cells["segment"]
    gram = np.zeros((n_segments, THETA_SIZE, THETA_SIZE))
    plain = np.zeros((n_segments, THETA_SIZE))
    for s in np.unique(cs):
        on = cs == s
        gram[s] = (x_cell[on] * cells["count"][on, None]).T @ x_cell[on]
        plain[s] = cells["sum"][on] @ x_cell[on]
    # Min-norm least squares: the season's profile is only determined up to its zero-sum
    # direction where a segment's months are all covered, and any solution centres as well.
    reference = np.stack(
        [np.linalg.lstsq(gram[s], plain[s], rcond=None)[0] for s in range(n_segments)]
    )
    e_cell = np.sum(x_cell * reference[cs], axis=1)
    resid_sum = cells["sum"] - cells["count"] * e_cell
    within = {
        "count": np.bincount(cs, weights=cells["count"], minlength=n_segments),
        "sum_sq": np.bincount(
            cs,
            weights=cells["sum_sq"] - 2.0 * e_cell * cells["sum"] + cells["count"] * e_cell**2,
            minlength=n_segments,
        ),
        "cross": np.stack(
            [resid_sum[cs == s] @ x_cell[cs == s] for s in range(n_segments)]
        ).reshape(n_segments, THETA_SIZE),
        "gram": gram,
    }

    x_acc = _account_design(acc)
    seg = acc["segment"]
    resid = acc["sum"] - np.sum(x_acc * reference[seg], axis=1)
    key = np.stack([seg, acc["count"].astype(np.int64)], axis=1)
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    inv = inv.ravel()
    n_groups = len(uniq)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(n_groups + 1))
    group_gram = np.empty((n_groups, THETA_SIZE, THETA_SIZE))
    group_cross = np.empty((n_groups, THETA_SIZE))
    for g in range(n_groups):
        rows = order[bounds[g] : bounds[g + 1]]
        group_gram[g] = x_acc[rows].T @ x_acc[rows]
        group_cross[g] = resid[rows] @ x_acc[rows]
    groups = {
        "segment": uniq[:, 0].astype(np.int64),
        "count": uniq[:, 1].astype(np.float64),
        "accounts": np.bincount(inv, minlength=n_groups).astype(np.float64),
        "sum_sq": np.bincount(inv, weights=resid**2, minlength=n_groups),
        "cross": group_cross,
        "gram": group_gram,
    }
    return {"reference": reference, "within": within, "groups": groups}


def changed_rows(panel: UsagePanel) -> np.ndarray:
    """Panel rows of the accounts with changes, in the order :func:`usage_changes` numbers them
    (its ``account`` index ``j`` is panel row ``changed_rows(panel)[j]``)."""
    return np.unique(np.nonzero(change_mask(panel)[0])[0])


def usage_changes(panel: UsagePanel) -> dict[str, Any]:
    """Clean month-on-month changes and first-month levels from a :class:`UsagePanel`.

    Returns
    -------
    dict of numpy.ndarray
        Changes (one entry each): ``change``, ``segment``, ``account`` (index into the accounts
        that have changes), ``tenure`` (k >= 1), ``month``; ``account_segment`` (per account),
        ``n_accounts``; first-month levels: ``init_log_usage``, ``init_segment``, ``init_month``.
    """
    y = panel.log_usage
    width = y.shape[1]
    ok, tenure = change_mask(panel)
    rows, cs = np.nonzero(ok)
    used, account = np.unique(rows, return_inverse=True)  # the numbering of changed_rows
    change = y[rows, cs] - y[rows, cs - 1]
    starts_inside = (panel.start >= 0) & (panel.start < width)
    init_rows = np.flatnonzero(starts_inside)
    init_y = y[init_rows, panel.start[init_rows]]
    keep = np.isfinite(init_y)
    return {
        "change": change,
        "segment": panel.segment[rows],
        "account": account.astype(np.int64),
        "tenure": tenure[rows, cs].astype(np.int64),
        "month": panel.first_month + cs.astype(np.int64),
        "account_segment": panel.segment[used],
        "n_accounts": len(used),
        "init_log_usage": init_y[keep],
        "init_segment": panel.segment[init_rows[keep]],
        "init_month": panel.first_month + panel.start[init_rows[keep]],
    }


def account_statistics(panel: UsagePanel) -> dict[str, np.ndarray]:
    """The per-account statistics of :func:`change_statistics` for every row of ``panel``.

    Rows without changes get zeros (``count`` 0, ``sum`` 0, no season or ramp terms), so the
    simulation's set-up can index them by its own account rows.

    Returns
    -------
    dict of numpy.ndarray
        ``count``, ``sum`` (n,); ``season_coef`` (n, 12); ``ramp_tenure`` (int64) and
        ``ramp_coef`` (n, width), width >= 1.
    """
    n = panel.log_usage.shape[0]
    out = {
        "count": np.zeros(n),
        "sum": np.zeros(n),
        "season_coef": np.zeros((n, 12)),
        "ramp_tenure": np.zeros((n, 1), dtype=np.int64),
        "ramp_coef": np.zeros((n, 1)),
    }
    data = usage_changes(panel)
    if not len(data["change"]):
        return out
    stats = change_statistics(data)["accounts"]
    used = changed_rows(panel)
    for name in ("count", "sum", "season_coef"):
        out[name][used] = stats[name]
    for name in ("ramp_tenure", "ramp_coef"):
        out[name] = np.zeros((n, stats[name].shape[1]), dtype=stats[name].dtype)
        out[name][used] = stats[name]
    return out
