"""The random draws every account of a draw starts with, book account or new logo alike: its
stream states (:func:`account_streams`), its churn rate's two gammas (:func:`churn_draws`), and
the vector passes that turn the staged draws into state (:func:`churn_and_gaps`): the churn
threshold, the use-case gap, the churn rate and the zero-month gap.  Used by
:mod:`simengine.kernels.init` (the book) and :mod:`simengine.kernels.init_logos`."""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels._jit import inline_jit, jit, pass_jit
from simengine.kernels.layout import (
    P_CHURN_ALPHA,
    P_ZERO_PROB,
)
from simengine.kernels.rng import (
    PURPOSE_CHURN,
    PURPOSE_USAGE,
    PURPOSE_USE_CASE,
    PURPOSE_ZERO_MONTH,
    gamma_dv,
    next_uniform,
    purpose_key,
)
from simengine.kernels.state import (
    NO_ZERO_MONTH,
    R_USAGE,
    R_USE_CASE,
    R_ZERO,
)
from simengine.kernels.vmath import vexp, vlog, vlog1p

# _STAGING: between the scalar pass and the vector pass these slots hold raw draws --
#   F_THRESHOLD u_churn (a logo that fails onboarding: -1), F_UC_GAP u_use_case,
#   F_CHURN_RATE the alpha gamma's d*v, F_HEALTHY_SIZE its boost uniform (1: no boost),
#   F_HEALTHY_RAMP the beta gamma (boost applied), F_CUM_HAZARD the zero-month uniform,
#   F_DRIFT (book) z_effect; a logo's F_COMMIT its commit factor, F_LAST_REVENUE its bookings
#   factor, F_CONSUMED 1 where it signs a commit.
# Zero-month modes of a segment: no skipped months, a geometric gap, every month skipped.
ZERO_NEVER, ZERO_GAP, ZERO_ALWAYS = 0, 1, 2


NO_ZERO_F = float(NO_ZERO_MONTH)


@pass_jit
def copy_range(lo, c0, n, dst, src):
    """``dst[lo + k] = src[c0 + k]`` for ``k < n``."""
    for k in range(n):
        dst[np.uintp(lo + k)] = src[np.uintp(c0 + k)]


@pass_jit
def fill_range(lo, n, dst, value):
    """``dst[lo + k] = value`` for ``k < n``."""
    for k in range(n):
        dst[np.uintp(lo + k)] = value


@inline_jit
def churn_draws(key, da, ca, boost_a, b, db, cb):
    """The churn rate's ``Beta(a, b)`` gammas from the account's ``PURPOSE_CHURN`` stream, as
    :func:`simengine.kernels.rng.next_beta` draws them: ``(ua, ga, gb)`` with ``ga`` the alpha
    gamma's ``d * v`` before its boost ``ua**(1/a)`` (``ua`` = 1: none) and ``gb`` complete.
    ``da``, ``ca`` (and ``db``, ``cb``) are :func:`~simengine.kernels.rng.gamma_dv`'s constants
    of the boosted shapes; ``boost_a`` is ``a < 1``."""
    state = purpose_key(key, PURPOSE_CHURN)
    ua = 1.0
    if boost_a:
        state, ua = next_uniform(state)
    state, ga = gamma_dv(state, da, ca)
    boost_b = 1.0
    if b < 1.0:  # rare (b = beta + exposure): the scalar pow, as next_gamma
        state, ub = next_uniform(state)
        boost_b = ub ** (1.0 / b)
    state, gb = gamma_dv(state, db, cb)
    return ua, ga, gb * boost_b


@inline_jit
def gamma_constants(shape):
    """``(d, c)`` of :func:`~simengine.kernels.rng.gamma_dv` for ``shape`` (boosted if < 1)."""
    d = (shape + 1.0 if shape < 1.0 else shape) - 1.0 / 3.0
    return d, 1.0 / math.sqrt(9.0 * d)


@inline_jit
def account_streams(key, p, rs, pos):
    """Write a position's usage, use-case and zero-month stream states; return the zero-month
    uniform (drawn as :func:`simengine.kernels.state.zero_month_gap` does: only if the
    segment's probability is positive)."""
    rs[R_USAGE, pos] = purpose_key(key, PURPOSE_USAGE)
    rs[R_USE_CASE, pos] = purpose_key(key, PURPOSE_USE_CASE)
    zero = purpose_key(key, PURPOSE_ZERO_MONTH)
    u = 1.0
    if p[P_ZERO_PROB] > 0.0:
        zero, u = next_uniform(zero)
    rs[R_ZERO, pos] = zero
    return u


@inline_jit
def gap_from_uniform(u, mode, log1m_p):
    """:func:`simengine.kernels.state.zero_month_gap`'s gap from its uniform ``u``."""
    g = int(math.floor(min(vlog(u) / log1m_p, NO_ZERO_F)))
    g = NO_ZERO_MONTH if mode == ZERO_NEVER else g
    return 0 if mode == ZERO_ALWAYS else g


@inline_jit
def zero_month_mode(p):
    """``(mode, log1p(-p))`` of a segment's zero-month probability."""
    pz = p[P_ZERO_PROB]
    if pz <= 0.0:
        return ZERO_NEVER, -1.0
    if pz >= 1.0:
        return ZERO_ALWAYS, -1.0
    return ZERO_GAP, math.log1p(-pz)


@jit
def churn_and_gaps(lo, hi, p, fl, ints):
    """Staged churn and gap draws (``_STAGING``) of positions ``lo .. hi - 1`` to state, books
    and logos alike (:func:`boost_pass` only where the segment's alpha is below 1)."""
    alpha = p[P_CHURN_ALPHA]
    if alpha < 1.0:
        boost_pass(lo, hi, fl.churn_rate, fl.healthy_size, 1.0 / alpha)
    else:
        fill_range(lo, hi - lo, fl.healthy_size, 0.0)
    mode, log1m_p = zero_month_mode(p)
    staged_churn_pass(lo, hi, fl, ints.zero_gap, mode, log1m_p)


@pass_jit
def boost_pass(lo, hi, ga, ua, inv_alpha):
    """The alpha gamma's boost: ``ga *= ua**(1/alpha)`` as ``exp(log(ua) / alpha)`` (vexp, vlog;
    next_gamma's pow within a few ulp); clears the staged ``ua``."""
    for k in range(hi - lo):
        pos = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        ga[pos] = ga[pos] * vexp(vlog(ua[pos]) * inv_alpha)
        ua[pos] = 0.0


@pass_jit
def staged_churn_pass(lo, hi, fl, zero_gap, zero_mode, log1m_p):
    """The churn threshold (-1 stays: failed onboarding), the use-case gap, the churn rate
    ``-log1p(-theta)`` (``theta = ga / (ga + gb)``: the boosted alpha gamma in ``churn_rate``,
    the beta gamma in ``healthy_ramp``) and the zero-month gap; clears the staging slots that
    are state fields of their own."""
    threshold, uc_gap, churn_rate = fl.threshold, fl.uc_gap, fl.churn_rate
    healthy_ramp, cum_hazard = fl.healthy_ramp, fl.cum_hazard
    for k in range(hi - lo):
        pos = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        u = threshold[pos]
        threshold[pos] = -1.0 if u < 0.0 else -vlog(u)
        uc_gap[pos] = -vlog(uc_gap[pos])
        ga = churn_rate[pos]
        churn_rate[pos] = -vlog1p(-(ga / (ga + healthy_ramp[pos])))
        healthy_ramp[pos] = 0.0
        zero_gap[pos] = gap_from_uniform(cum_hazard[pos], zero_mode, log1m_p)
        cum_hazard[pos] = 0.0
