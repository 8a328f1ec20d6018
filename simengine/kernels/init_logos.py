"""A draw's new logos initialised in blocks of positions (:func:`init_logo_block`), straight into
the month loop's arrays, as :mod:`simengine.kernels.init` does for the book's accounts."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import jit, pass_jit
from simengine.kernels.init_draws import (
    account_streams,
    churn_and_gaps,
    churn_draws,
    fill_range,
    gamma_constants,
)
from simengine.kernels.layout import (
    M_PRICE_MULT,
    M_UNHEALTHY_SHARE,
    P_ACCOUNT_SD,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_COMMIT_MONTHS,
    P_COMMIT_SHARE,
    P_DRIFT,
    P_INIT_MU,
    P_INIT_SD,
    P_ONBOARDING_FAILURE,
    P_PRICE,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_UNHEALTHY_PLATEAU,
    RING_MONTHS,
    V_BOOKINGS,
)
from simengine.kernels.rng import (
    PURPOSE_ACCOUNT,
    account_key,
    new_logo_account,
    next_normal,
    next_uniform,
    purpose_key,
)
from simengine.kernels.state import (
    F_CUR12,
    F_HIST_RAMP,
    F_HIST_SIZE,
    F_PREV12,
    F_PRICE,
    F_UNHEALTHY_LEVEL,
    F_UNHEALTHY_RAMP,
    float_fields,
    int_fields,
    ramp_tail_at,
)
from simengine.kernels.vmath import vexp


class LogoRun(NamedTuple):
    """A segment's new logos of start months ``t0 .. t1 - 1`` (:func:`init_logo_block`)."""

    s: int  # the segment
    t0: int
    t1: int
    counts: np.ndarray  # (months,) the segment's logos by start month
    mean_ramp: float  # its mean ramp over a logo's first 12 months


@jit
def init_logo_block(lo, dkey, run, p, mp, out, store):
    """Segment ``s``'s new logos of start months ``t0 .. t1 - 1`` at positions ``lo ..``, in
    (start month, k) order; books them into ``out[t, s]``.  Returns the position after them.

    Bookings: a logo that signs a commit (with probability ``commit_share``) books its commit,
    ``commit_months x P x L`` (``commit_months`` already scaled by the comp plan's
    ``commit_multiplier``); a pay-as-you-go logo books its **expected first-year consumption**,
    ``12 x P x L x (1/12) sum_{k=0}^{11} ramp(k)``, ignoring churn, growth, season, use cases and
    health.  Here ``P`` = segment unit price x the start month's ``price_multiplier`` and ``L`` =
    ``exp(x0)``, the logo's plateau monthly usage (its drawn starting level).  A logo that fails
    onboarding (the churn fit's same-month churn) signs, so its booking stands, but never uses
    the product and churns in its start month (threshold -1).
    ``run`` is a :class:`LogoRun` (the segment, its start months, its counts by start month and
    its mean first-year ramp); ``p`` its parameter vector, ``mp`` its month parameters (months x
    ``M_*``); ``dkey`` and ``store`` as :func:`init_book_block`.
    """
    s, t0, t1, counts, mean_ramp = run
    st, it, rs, ring, uring = store
    fl, ints = float_fields(st), int_fields(it)
    pos = lo
    alpha = p[P_CHURN_ALPHA]
    beta = p[P_CHURN_BETA] + 0.0  # exposure 0: a new logo has survived no boundary
    da, ca = gamma_constants(alpha)
    db, cb = gamma_constants(beta)
    tail = ramp_tail_at(p, 0)  # tenure 0
    health_step = math.exp(-p[P_UNHEALTHY_DECAY])
    drift_sd = p[P_ACCOUNT_SD]
    for t in range(t0, t1):
        mpt = mp[t]
        price = p[P_PRICE] * mpt[M_PRICE_MULT]
        commit_factor = p[P_COMMIT_MONTHS] * price
        payg_factor = 12.0 * price
        for k in range(counts[t]):
            key = account_key(dkey, new_logo_account(t, s, k))
            state = purpose_key(key, PURPOSE_ACCOUNT)
            state, z_effect = next_normal(state)
            state, z_level = next_normal(state)
            state, u_churn = next_uniform(state)
            state, u_use_case = next_uniform(state)
            state, u_csm = next_uniform(state)
            state, u_se = next_uniform(state)
            state, u_health = next_uniform(state)
            state, u_commit = next_uniform(state)
            _, u_fail = next_uniform(state)
            ua, ga, gb = churn_draws(key, da, ca, alpha < 1.0, beta, db, cb)
            failed = u_fail < p[P_ONBOARDING_FAILURE]
            unhealthy = u_health < mpt[M_UNHEALTHY_SHARE]
            signs = u_commit < p[P_COMMIT_SHARE]
            # Unsigned: no negative-index wraparound, so no array keeps its length live.
            q = np.uintp(pos)
            fl.x[q] = p[P_INIT_MU] + p[P_INIT_SD] * z_level
            fl.drift[q] = p[P_DRIFT] + drift_sd * z_effect
            fl.ramp_tail[q] = tail
            fl.health[q] = p[P_UNHEALTHY_PLATEAU] if unhealthy else 1.0
            fl.health_step[q] = health_step if unhealthy else 1.0
            fl.health_hazard[q] = p[P_UNHEALTHY_HR] if unhealthy else 1.0
            fl.threshold[q] = -1.0 if failed else u_churn
            fl.uc_gap[q] = u_use_case
            fl.u_csm[q] = u_csm
            fl.u_se[q] = u_se
            fl.churn_rate[q] = ga
            fl.healthy_size[q] = ua
            fl.healthy_ramp[q] = gb
            fl.commit[q] = commit_factor if signs else payg_factor
            fl.last_revenue[q] = 1.0 if signs else mean_ramp
            fl.consumed[q] = 1.0 if (signs and not failed) else 0.0
            fl.cum_hazard[q] = account_streams(key, p, rs, pos)
            ints.segment[q] = s
            ints.start[q] = t
            ints.born[q] = t
            ints.data_from[q] = t
            ints.contract[q] = t
            ints.term[q] = 0
            pos += 1
    hi = pos
    n = hi - lo
    for f in (F_HIST_SIZE, F_HIST_RAMP, F_UNHEALTHY_LEVEL, F_UNHEALTHY_RAMP, F_CUR12, F_PREV12):
        fill_range(lo, n, st[f], 0.0)
    fill_range(lo, n, st[F_PRICE], p[P_PRICE])
    for u in range(RING_MONTHS):
        fill_range(lo, n, ring[u], 0.0)
    for u in range(8):
        fill_range(lo, n, uring[u], 0.0)
    churn_and_gaps(lo, hi, p, fl, ints)
    _bookings_pass(lo, hi, fl.x, fl.commit, fl.consumed, fl.last_revenue)
    # Bookings in (start month, k) order: a fixed order of additions.
    pos = lo
    for t in range(t0, t1):
        for _ in range(counts[t]):
            out[t, s, V_BOOKINGS] += fl.last_revenue[pos]
            fl.last_revenue[pos] = 0.0
            pos += 1
    return hi


@pass_jit
def _bookings_pass(lo, hi, x, commit, consumed, last_revenue):
    """Logos: commit factor x exp(x) is the commit (if signed) and, times the bookings factor,
    the bookings (:func:`init_logo_block`); the bookings are left in
    ``last_revenue`` for the caller to add in order (``_STAGING``)."""
    for k in range(hi - lo):
        pos = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        amount = commit[pos] * vexp(x[pos])
        commit[pos] = amount if consumed[pos] != 0.0 else 0.0
        consumed[pos] = 0.0
        last_revenue[pos] = amount * last_revenue[pos]
