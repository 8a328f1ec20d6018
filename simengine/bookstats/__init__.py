"""Statistics of a book that both the fit (PyMC) and the simulation's set-up read (NumPy and
pandas only, never PyMC or PyTensor).

What lives here
---------------
:mod:`~simengine.bookstats.panel`
    The account x month panel of log usage (:func:`usage_panel`: skipped months, the months a
    new use case ramps), the new use cases (:func:`new_use_cases`) and the segment numbering.
:mod:`~simengine.bookstats.changes`
    The clean month-on-month usage changes and their sufficient statistics: per (segment,
    month, tenure) cell for the usage likelihood, and per account (count, sum, the season's and
    the ramp's share as counts) for the likelihood and for each account the simulation starts
    from.  :func:`~simengine.bookstats.changes.changed_rows` is the one numbering of the
    accounts with changes that both read; :class:`~simengine.bookstats.changes.UsageRules` the
    settle rule (which months after a new use case are not changes), recorded in a posterior's
    attrs by the fit and read back by the set-up.
:mod:`~simengine.bookstats.churn_rules`
    The churn rules (usage decline, contract anniversary), their parameters
    (:class:`ChurnRules`, recorded in a posterior's attrs by the fit and read back by the
    simulation) and which month boundaries of each account they mark.
:mod:`~simengine.bookstats.shapes`
    The shapes of the seasonal profile (months of the year) and the onboarding ramp (tenures).
:mod:`~simengine.bookstats.tails`
    The usage step law's tails (a two-component normal scale mixture): fitted by the usage fit,
    read from a posterior by the simulation, drawn by the kernel.

The fit (the ``fitting`` package) turns these statistics into likelihoods; the simulation's
set-up (:func:`simengine.engine.account_history`, :mod:`simengine.params`) turns the same
statistics and the posterior into the kernel's arrays.  Neither reaches into the other.

How a change to the model is added
----------------------------------
*Per-segment seasonality of another shape* (the profile is per segment already; e.g. a profile
per segment and tenure band, or fewer effects than 12): the shape in
:mod:`~simengine.bookstats.shapes`; the per-account counts the likelihood and the kernel's
account effects evaluate it with in :func:`~simengine.bookstats.changes.change_statistics`
(``season_coef``, today one count per month of the year); the PyMC prior and the likelihood's
use in ``fitting/base.py`` (``SharedParameters.season``) and ``fitting/usage.py``; the posterior
variable's dims in ``fitting/draws.py`` (``posterior_draws`` keeps ``month_of_year``); the
kernel's table in ``params.py`` (``_season_profile``) and the kernel's use of it (its slots in
``kernels/layout.py``; the segment's table of a draw, ``SegmentTables.season``, in
``kernels/draw.py``; the account effects in ``kernels/init.py``; the month's factor,
``season_now``, in ``kernels/month_revenue.py``).

*A new churn rule* (a covariate that multiplies the churn hazard at some month boundaries): the
rule and its parameters in :mod:`~simengine.bookstats.churn_rules` (a function marking the
boundaries, a field of :class:`ChurnRules`, which the fit records in the posterior's attrs and
the simulation reads back); its hazard ratio's prior in ``fitting/base.py`` (``PRIORS``) and its
exposure counts in ``fitting/churn.py``; the parameter name in ``fitting/draws.py``
(``PARAMETER_NAMES``) and ``params.py``; each account's history count in
``engine.account_history``; the month-by-month rule in the kernel (``kernels/boundary.py``,
``churn_pass``, and its index in ``kernels/layout.py``), tested against this module's rule.

*A new step law* for usage (another shape of the month-on-month step): the law, its parameter
names and its closed forms in :mod:`~simengine.bookstats.tails` (``TAIL_PARAMETERS``); its estimate
in ``fitting/usage.py`` (``_tail_law``, ``_tail_shape``); the names in ``fitting/draws.py``
(``PARAMETER_NAMES``) and their defaults in ``params.py``; the draw in the kernel
(``kernels/usage_step.py``, ``mixture_pass``; the parameter's index in ``kernels/layout.py``),
tested against the closed forms here (``tests/kernels/test_step_law.py``).
"""

from simengine.bookstats.churn_rules import (
    ChurnRules,
    anniversary_anchor,
    declining_at,
    is_anniversary,
)

__all__ = ["ChurnRules", "anniversary_anchor", "declining_at", "is_anniversary"]
