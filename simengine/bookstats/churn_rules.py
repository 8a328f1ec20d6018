"""The churn rules and their parameters: one definition for the fit, the set-up and the kernel.

**Usage decline.**  ``u[m]`` is an account's usage in month ``m``, 0 for a month without a row
or with usage 0 while it is a customer.  The boundary into month ``b`` (churn decision after
month ``b - 1``) is *declining* when

    Q1 = u[b-4] + u[b-3] + u[b-2]  <  exp(decline_threshold) * Q0,   Q0 = u[b-7] + u[b-6] + u[b-5]

with ``Q0 > 0`` and all six months at or after the account's start and the first usage month.
Month ``b - 1`` is left out (a lag of one month): the last month before a churn is often partial
and would put the effect before its cause.  Zeros count as the drop they are.

**Contract anniversary.**  The boundary into month ``b`` is an *anniversary* when
``b > anchor`` and ``(b - anchor) % 12 == 0``, the anchor being the account's
``contract_start_month`` where the book gives one and its ``start_month`` otherwise: an account
without a recorded contract is taken to renew (or to review what it pays) a year after it
started, the usual term of a subscription.  Whether anniversaries matter at all is left to the
data: the churn fit estimates a hazard ratio per segment, which comes out near 1 where they do
not (a monthly-billed self-serve segment), so the choice of anchor costs little where it is wrong.

The fit records the parameters it used (:meth:`ChurnRules.to_attrs`) in the posterior's attrs;
the simulation reads them back (:meth:`ChurnRules.from_attrs`), so a fit and a simulation cannot
disagree on a threshold.  The kernel (:func:`simengine.kernels.boundary.churn_pass`) applies the
same two rules month by month, on the account's own simulated usage and its contract anchor.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

__all__ = ["ChurnRules", "anniversary_anchor", "declining_at", "is_anniversary"]

log = logging.getLogger(__name__)

#: Prefix of the posterior attrs that carry the rule parameters.
_ATTR_PREFIX = "churn_rule_"


@dataclass(frozen=True)
class ChurnRules:
    """Parameters of the churn rules (module doc).

    Attributes
    ----------
    decline_threshold : float
        Log ratio of the two quarters below which a boundary is declining (-0.20: a fall of ~18%
        quarter on quarter, ~2 SD of the quarter ratio at 6%/month noise).
    decline_quarter_months, decline_lag_months : int
        Months per quarter and the lag before the churn decision.  The kernel implements 3 and 1
        only; :meth:`from_attrs` refuses a posterior fitted with others.
    anniversary_months : int
        Contract term: 12 (the kernel implements annual terms only).
    anniversary_anchor : str
        Which month the anniversaries count from.
    """

    decline_threshold: float = -0.20
    decline_quarter_months: int = 3
    decline_lag_months: int = 1
    anniversary_months: int = 12
    anniversary_anchor: str = "contract_start_month, else start_month"

    def to_attrs(self) -> dict[str, object]:
        """``{churn_rule_<name>: value}`` for a posterior's attrs."""
        return {_ATTR_PREFIX + f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, object] | None) -> ChurnRules:
        """The rules a posterior was fitted with; the defaults for a posterior that predates
        the record (it was fitted with them) or for no posterior.

        Raises
        ------
        ValueError
            The posterior was fitted with a rule structure the kernel does not implement.
        """
        attrs = attrs or {}
        values = {}
        for f in fields(cls):
            key = _ATTR_PREFIX + f.name
            if key in attrs:
                raw = attrs[key]
                values[f.name] = type(getattr(cls(), f.name))(
                    raw.item() if hasattr(raw, "item") else raw
                )
        rules = cls(**values)
        default = cls()
        fixed = ("decline_quarter_months", "decline_lag_months", "anniversary_months",
                 "anniversary_anchor")  # fmt: skip
        for name in fixed:
            if getattr(rules, name) != getattr(default, name):
                raise ValueError(
                    f"posterior attr {_ATTR_PREFIX + name} = {getattr(rules, name)!r}: the "
                    f"simulation implements {getattr(default, name)!r} only; refit"
                )
        if not np.isfinite(rules.decline_threshold) or rules.decline_threshold >= 0.0:
            raise ValueError(
                f"posterior attr {_ATTR_PREFIX}decline_threshold = {rules.decline_threshold!r}: "
                "expected a negative log ratio"
            )
        return rules


def declining_at(book, threshold: float) -> tuple[np.ndarray, int]:
    """``decline[i, c]``: the boundary into month ``first + c`` is declining for account ``i``.

    The definition is in the module docstring (quarter on quarter, lagged one month, zeros
    counted).  Returns the (n_accounts, width) boolean array in ``book.accounts`` order and
    ``first``, the month number of column 0 (the first usage month).
    """
    accounts = book.accounts
    ids = accounts["account_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    usage = book.usage
    first = int(usage["month"].min())
    width = int(book.as_of - first + 2)
    u = np.zeros((len(ids), width + 1))
    rows = position.loc[usage["account_id"].to_numpy()].to_numpy()
    cols = usage["month"].to_numpy(np.int64) - first
    u[rows, cols] = np.maximum(usage["usage"].to_numpy(), 0.0)
    # Quarter sums ending at column c: q[c] = u[c-2] + u[c-1] + u[c].
    csum = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(u, axis=1)], axis=1)
    start = accounts["start_month"].to_numpy(np.int64) - first
    decline = np.zeros((len(ids), width), dtype=bool)
    b = np.arange(7, width)
    q1 = csum[:, b - 1] - csum[:, b - 4]  # u[b-4] + u[b-3] + u[b-2]
    q0 = csum[:, b - 4] - csum[:, b - 7]  # u[b-7] + u[b-6] + u[b-5]
    covered = (b - 7)[None, :] >= np.maximum(start, 0)[:, None]
    decline[:, b] = covered & (q0 > 0) & (q1 < np.exp(threshold) * q0)
    return decline, first


def anniversary_anchor(accounts: pd.DataFrame) -> np.ndarray:
    """Month number each account's anniversaries count from (int64, ``accounts`` order):
    ``contract_start_month`` where given, else ``start_month``."""
    start = accounts["start_month"].to_numpy(np.int64)
    if "contract_start_month" not in accounts.columns:
        return start.copy()
    contract = (
        accounts["contract_start_month"].astype("Float64").to_numpy(np.float64, na_value=np.nan)
    )
    return np.where(np.isnan(contract), start, contract).astype(np.int64)


def is_anniversary(boundary, anchor, term: int = 12):
    """Whether the boundary into month ``boundary`` is a contract anniversary of ``anchor``
    (NumPy broadcasting; month numbers)."""
    boundary = np.asarray(boundary)
    anchor = np.asarray(anchor)
    return (boundary > anchor) & ((boundary - anchor) % term == 0)
