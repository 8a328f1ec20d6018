"""Statistics of a book that both the fit (PyMC) and the simulation's set-up read (NumPy only).

:mod:`simengine.bookstats.churn_rules`: the churn rules (usage decline, contract anniversary),
their parameters (:class:`ChurnRules`, recorded in a posterior's attrs by the fit and read back
by the simulation) and which month boundaries of each account they mark.
"""

from simengine.bookstats.churn_rules import (
    ChurnRules,
    anniversary_anchor,
    declining_at,
    is_anniversary,
)

__all__ = ["ChurnRules", "anniversary_anchor", "declining_at", "is_anniversary"]
