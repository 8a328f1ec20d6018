"""The boundary into a month as a pass over the accounts in play: who survives and steps, who
churns (:func:`churn_pass`), by the hazard ratios in force and the churn fit's decline rule."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import jit, pass_jit


class BoundaryRates(NamedTuple):
    """A segment's hazard ratios at the boundary into one month (:func:`churn_pass`)."""

    hazard_mult: float  # the month's go-to-market multiplier
    csm_share: float  # the month's CSM coverage share
    csm_hr: float  # hazard ratio of a covered account
    decline_hr: float  # hazard ratio at a declining boundary
    decline_factor: float  # exp(decline threshold): the quarter ratio below which usage declines
    anniversary_hr: float  # hazard ratio at a contract anniversary


class DeclineWindow(NamedTuple):
    """Usage of months ``t - 7 .. t - 2`` (rows of the usage ring): the decline rule compares the
    quarter ``t - 4 .. t - 2`` with the one before it."""

    u7: np.ndarray
    u6: np.ndarray
    u5: np.ndarray
    u4: np.ndarray
    u3: np.ndarray
    u2: np.ndarray


class ChurnFields(NamedTuple):
    """The arrays :func:`churn_pass` reads and writes, by position (:func:`churn_fields`)."""

    alive: np.ndarray  # read: 1 while in play
    exist: np.ndarray  # read: 1 for a book account
    start: np.ndarray  # read: a new logo's start month
    data_from: np.ndarray  # read: first month with usage data
    contract: np.ndarray  # read: the month contract anniversaries count from
    churn_rate: np.ndarray  # read: hazard per boundary at hazard ratio 1
    threshold: np.ndarray  # read: the Exp(1) churn threshold (-1: fails onboarding)
    health_hazard: np.ndarray  # read: unhealthy hazard ratio
    u_csm: np.ndarray  # read: fixed uniform of CSM coverage
    cum_hazard: np.ndarray  # read and written: cumulative hazard so far
    step: np.ndarray  # written: Flags.step
    churn: np.ndarray  # written: Flags.churn
    active: np.ndarray  # written: Flags.active


@jit
def churn_fields(fl, ints, flags):
    """The :class:`ChurnFields` of a draw's :class:`~simengine.kernels.state.Floats`,
    :class:`~simengine.kernels.state.Ints` and :class:`Flags` (views, no copies)."""
    return ChurnFields(ints.alive, ints.exist, ints.start, ints.data_from, ints.contract,
                       fl.churn_rate, fl.threshold, fl.health_hazard, fl.u_csm, fl.cum_hazard,
                       flags.step, flags.churn, flags.active)  # fmt: skip


@pass_jit
def churn_pass(t, lo, hi, acc, window, rates):
    """The boundary into month ``t``: ``flags.step[p]`` (survives and takes a usage step) and
    ``flags.churn[p]`` (churns at it, or fails onboarding in its start month) for every position
    of ``lo .. hi - 1``.

    ``acc`` (:class:`ChurnFields`) holds the arrays it reads (``alive``, ``exist``, ``start``,
    ``data_from``, ``contract``, ``churn_rate``, ``threshold``, ``health_hazard``, ``u_csm``)
    and writes (``cum_hazard``, the flags ``step``, ``churn``, ``active``); it also reads the
    usage ``window`` (:class:`DeclineWindow`) and the segment's :class:`BoundaryRates`.

    The hazard ratios in force: CSM coverage, the usage-decline rule on the account's own usage
    (lagged one month) and the contract anniversary, ``t - contract[p]`` a positive multiple of 12
    (:mod:`simengine.bookstats.churn_rules`).  A new logo in its start month neither steps nor
    churns (unless it failed onboarding).
    ``active[p]``: in play and not churned (it has a month).  Returns the number churned.
    """
    (alive, exist, start, data_from, contract, churn_rate, threshold, health_hazard, u_csm,
     cum_hazard, step, churn, active) = acc  # fmt: skip
    u7, u6, u5, u4, u3, u2 = window
    hazard_mult, csm_share, covered_hr, decline_hr, decline_factor, anniversary_hr = rates
    n_churn = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        live = alive[p] != 0
        existing = exist[p] != 0
        stepping = live and (existing or t > start[p])
        failed = live and (not existing) and t == start[p] and threshold[p] < 0.0
        hazard = hazard_mult * health_hazard[p]
        hazard = hazard * covered_hr if u_csm[p] < csm_share else hazard
        # The churn fit's decline rule on the account's own usage, lagged one month.
        q1 = u4[p] + u3[p] + u2[p]
        q0 = u7[p] + u6[p] + u5[p]
        declining = (
            decline_hr != 1.0 and t - 7 >= data_from[p] and q0 > 0.0 and q1 < decline_factor * q0
        )
        hazard = hazard * decline_hr if declining else hazard
        since = t - contract[p]
        anniversary = since > 0 and since % 12 == 0
        hazard = hazard * anniversary_hr if anniversary else hazard
        cumulative = cum_hazard[p] + churn_rate[p] * hazard
        gone = stepping and cumulative > threshold[p]
        ch = 1 if (gone or failed) else 0
        churn[p] = ch
        n_churn += ch
        active[p] = 1 if (live and not (gone or failed)) else 0
        keep = stepping and not gone
        step[p] = 1 if keep else 0
        cum_hazard[p] = cumulative if keep else cum_hazard[p]
    return n_churn
