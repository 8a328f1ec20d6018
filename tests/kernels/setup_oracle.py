"""Test oracle of the block set-up (:mod:`simengine.kernels.init`): one account at a time.

:func:`init_existing` and :func:`init_new_logo` write one book account's or one new logo's state
at the start of a draw the plain way, one account, one field at a time, with libm's logs and
exps.  The kernel never runs them: ``tests/kernels/test_init.py`` holds the block functions to
them (same streams, same integers, floats within the vectorised logs' ulp) and
``benchmarks/bench_init.py`` times the block functions against them.  Nothing in ``simengine``
imports this module.
"""

from __future__ import annotations

import math

from simengine.kernels._jit import jit
from simengine.kernels.layout import (
    HISTORY_MONTHS,
    M_PRICE_MULT,
    M_UNHEALTHY_SHARE,
    P_ACCOUNT_SD,
    P_ANNIVERSARY_HR,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_COMMIT_MONTHS,
    P_COMMIT_SHARE,
    P_CSM_HR,
    P_DECLINE_HR,
    P_DRIFT,
    P_INIT_MU,
    P_INIT_SD,
    P_ONBOARDING_FAILURE,
    P_PRICE,
    P_SEASON0,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_UNHEALTHY_PLATEAU,
    P_VOLATILITY,
    P_ZERO_PROB,
    RING_MONTHS,
    V_BOOKINGS,
)
from simengine.kernels.rng import (
    PURPOSE_ACCOUNT,
    PURPOSE_CHURN,
    PURPOSE_USAGE,
    PURPOSE_USE_CASE,
    PURPOSE_ZERO_MONTH,
    new_logo_account,
    next_beta,
    next_normal_pair,
    next_uniform,
    purpose_key,
    stream_key,
)
from simengine.kernels.state import (
    F_CHURN_RATE,
    F_COMMIT,
    F_CONSUMED,
    F_CUM_HAZARD,
    F_CUR12,
    F_DRIFT,
    F_HEALTH,
    F_HEALTH_HAZARD,
    F_HEALTH_STEP,
    F_HEALTHY_RAMP,
    F_HEALTHY_SIZE,
    F_HIST_RAMP,
    F_HIST_SIZE,
    F_LAST_REVENUE,
    F_PREV12,
    F_PRICE,
    F_RAMP_TAIL,
    F_THRESHOLD,
    F_U_CSM,
    F_U_SE,
    F_UC_GAP,
    F_UNHEALTHY_LEVEL,
    F_UNHEALTHY_RAMP,
    F_X,
    I_BORN,
    I_CONTRACT,
    I_DATA_FROM,
    I_SEGMENT,
    I_START,
    I_TERM,
    I_ZERO_GAP,
    R_USAGE,
    R_USE_CASE,
    R_ZERO,
    log_ramp_at,
    ramp_tail_at,
    zero_month_gap,
)


@jit
def account_effect(p, acc, i, z):
    """Account effect ``b_i`` of book account ``i`` from its conditional posterior, given the draw.

    The usage fit integrates ``b_i ~ N(0, tau^2)`` out of the account's ``n`` clean changes with
    residual sum ``S1 = sum d - n g - season terms - ramp terms`` (:mod:`simengine.bookstats.changes`);
    given the draw's ``g``, ``sigma``, ``tau``, season and ramp, ``b_i | history ~ N(mean, var)``
    with ``var = 1 / (n / sigma^2 + 1 / tau^2)`` and ``mean = var S1 / sigma^2``.  ``z`` ~ N(0, 1).
    """
    tau = p[P_ACCOUNT_SD]
    n = acc.change_count[i]
    if n <= 0.0 or tau <= 0.0:
        return tau * z
    s1 = acc.change_sum[i] - n * p[P_DRIFT]
    for m in range(12):
        s1 -= acc.season_coef[i, m] * p[P_SEASON0 + m]
    for j in range(acc.ramp_coef.shape[1]):
        c = acc.ramp_coef[i, j]
        if c != 0.0:
            s1 -= c * log_ramp_at(p, acc.ramp_tenure[i, j])
    var_noise = p[P_VOLATILITY] * p[P_VOLATILITY]
    # mean = (S1 / n) * shrink and var = (sigma^2 / n) * shrink, shrink = 1 / (1 + sigma^2 / (n tau^2)):
    # the same posterior as ``precision = n / sigma^2 + 1 / tau^2`` without dividing by sigma^2, which
    # overflows to inf / inf = NaN for a subnormal sigma^2 (hypothesis found sigma = 6e-162).
    # sigma = 0 gives shrink 1 and var 0: the history pins b_i exactly.
    shrink = 1.0 / (1.0 + var_noise / (n * tau * tau))
    return (s1 / n) * shrink + z * math.sqrt(var_noise / n * shrink)


@jit
def init_account(f, r, ist, seed, draw, account, segment, start, survived, exposure, p):
    """Draw an account's fixed randomness into its state row.

    Returns ``(z_effect, z_level, u_health, u_commit, u_fail)``.  Shared by book accounts and new
    logos: the same draws in the same order from the ``PURPOSE_ACCOUNT`` stream, the churn rate
    ``theta ~ Beta(alpha, beta + exposure)`` from ``PURPOSE_CHURN``.
    """
    account_key = stream_key(seed, draw, account, 0)
    st = purpose_key(account_key, PURPOSE_ACCOUNT)
    st, z_effect, z_level = next_normal_pair(st)
    st, u_churn = next_uniform(st)
    st, u_use_case = next_uniform(st)
    st, u_csm = next_uniform(st)
    st, u_se = next_uniform(st)
    st, u_health = next_uniform(st)
    st, u_commit = next_uniform(st)
    st, u_fail = next_uniform(st)
    f[F_DRIFT] = p[P_DRIFT] + p[P_ACCOUNT_SD] * z_effect
    _, theta = next_beta(purpose_key(account_key, PURPOSE_CHURN), p[P_CHURN_ALPHA],
                         p[P_CHURN_BETA] + exposure)  # fmt: skip
    f[F_CHURN_RATE] = -math.log1p(-theta)
    f[F_THRESHOLD] = -math.log(u_churn)
    f[F_CUM_HAZARD] = 0.0
    f[F_U_CSM] = u_csm
    f[F_U_SE] = u_se
    f[F_UC_GAP] = -math.log(u_use_case)
    f[F_RAMP_TAIL] = ramp_tail_at(p, survived)
    f[F_HEALTHY_SIZE] = 0.0
    f[F_HEALTHY_RAMP] = 0.0
    f[F_HIST_SIZE] = 0.0
    f[F_HIST_RAMP] = 0.0
    f[F_UNHEALTHY_LEVEL] = 0.0
    f[F_UNHEALTHY_RAMP] = 0.0
    r[R_USAGE] = purpose_key(account_key, PURPOSE_USAGE)
    r[R_USE_CASE] = purpose_key(account_key, PURPOSE_USE_CASE)
    r[R_ZERO], ist[I_ZERO_GAP] = zero_month_gap(
        purpose_key(account_key, PURPOSE_ZERO_MONTH), p[P_ZERO_PROB]
    )
    ist[I_SEGMENT] = segment
    ist[I_START] = start
    return z_effect, z_level, u_health, u_commit, u_fail


@jit
def init_existing(f, r, ist, ring, uring, seed, draw, i, acc, p, covered_share, log_season,
                  mean_size, q):  # fmt: skip
    """State of book account ``i`` at ``as_of``: it continues its own history.

    - ``b_i`` from its conditional posterior given its clean changes (:func:`account_effect`);
    - ``theta_i ~ Beta(alpha, beta + e_i)``, ``e_i = c_i (n - d + h d)``: ``n`` boundaries
      survived, ``d`` of them declining (hazard ratio ``h``), ``c_i`` the CSM hazard ratio if its
      observed ``csm_covered`` flag is set (first order, as the churn fit);
    - coverage: an account observed covered gets its fixed uniform in ``[0, p)``, one observed
      uncovered in ``[p, 1)``, ``p`` = ``covered_share`` (the book's observed covered share).  A
      simulated share of exactly ``p`` therefore covers exactly the observed accounts; a larger
      share keeps them and covers others, a smaller one keeps a random subset of them.  Unknown
      flags (-1) keep a plain uniform (the same for SE support and ``se_engaged``);
    - use cases: finished ones add their expected size ``exp(mu + sigma^2 / 2)`` to the uplift
      ``E``, in-flight ones also their remaining ramp, and usage is ``base x (1 + E_hist +
      E_new)``: the level ``x`` backs out ``1 + E_hist`` at ``as_of``, with season and ramp.

    ``log_season`` (log season multiplier of the ``as_of`` month), ``mean_size`` and ``q`` (the
    use-case ramp's monthly factor) are the segment's, computed once per draw.
    """
    tenure = acc.tenure[i]
    c = p[P_CSM_HR] if acc.csm_covered[i] == 1.0 else 1.0
    h = p[P_DECLINE_HR]
    g = p[P_ANNIVERSARY_HR]
    d, a, both = acc.declining[i], acc.anniversaries[i], acc.declining_anniversaries[i]
    exposure = c * (tenure + (h - 1.0) * d + (g - 1.0) * a + (h - 1.0) * (g - 1.0) * both)
    z_effect, _, _, _, _ = init_account(f, r, ist, seed, draw, i, acc.segment[i], 0, tenure,
                                        exposure, p)  # fmt: skip
    f[F_DRIFT] = p[P_DRIFT] + account_effect(p, acc, i, z_effect)
    for col, flag in ((F_U_CSM, acc.csm_covered[i]), (F_U_SE, acc.se_engaged[i])):
        share = covered_share[0] if col == F_U_CSM else covered_share[1]
        if flag == 1.0:
            f[col] = f[col] * share
        elif flag == 0.0:
            f[col] = share + f[col] * (1.0 - share)
    f[F_HEALTH] = 1.0
    f[F_HEALTH_STEP] = 1.0
    f[F_HEALTH_HAZARD] = 1.0
    size = acc.use_cases_done[i] * mean_size
    gap = 0.0
    for j in range(acc.use_case_age.shape[1]):
        age = acc.use_case_age[i, j]
        if age >= 0:
            size += mean_size
            gap += mean_size * q ** (age + 1)
    f[F_HEALTHY_SIZE] = size
    f[F_HEALTHY_RAMP] = gap
    f[F_HIST_SIZE] = size
    f[F_HIST_RAMP] = gap
    # Back out the base level at as_of from observed usage: remove season, ramp and uplift.
    f[F_X] = acc.log_usage[i] - log_season - math.log(1.0 - f[F_RAMP_TAIL]) - math.log1p(size - gap)
    price = acc.price[i]
    cur = 0.0
    prev = 0.0
    for k in range(RING_MONTHS):  # month k - 24 (as_of = -1) sits in slot k
        revenue = acc.hist_usage[i, k] * price
        ring[k] = revenue
        if k >= HISTORY_MONTHS:
            cur += revenue
        else:
            prev += revenue
        if k >= RING_MONTHS - 8:
            uring[k % 8] = acc.hist_usage[i, k]
    f[F_CUR12] = cur
    f[F_PREV12] = prev
    f[F_LAST_REVENUE] = ring[RING_MONTHS - 1]
    ist[I_BORN] = -tenure - 1
    ist[I_DATA_FROM] = acc.data_from[i]
    ist[I_CONTRACT] = acc.contract_from[i]
    f[F_COMMIT] = acc.commit[i]
    f[F_CONSUMED] = acc.consumed[i]
    f[F_PRICE] = acc.price[i]
    ist[I_TERM] = acc.term_position[i]


@jit
def init_new_logo(f, r, ist, ring, uring, seed, draw, t, s, k, p, mpt, mean_ramp, out):
    """State of the k-th new logo of (month ``t``, segment ``s``); books it into ``out[t, s]``.

    Bookings: a logo that signs a commit (with probability ``commit_share``) books its commit,
    ``commit_months x P x L`` (``commit_months`` already scaled by the comp plan's
    ``commit_multiplier``); a pay-as-you-go logo books its **expected first-year consumption**,
    ``12 x P x L x (1/12) sum_{k=0}^{11} ramp(k)``, ignoring churn, growth, season, use cases and
    health.  Here ``P`` = segment unit price x the start month's ``price_multiplier`` and ``L`` =
    ``exp(x0)``, the logo's plateau monthly usage (its drawn starting level).
    """
    _, z_level, u_health, u_commit, u_fail = init_account(
        f, r, ist, seed, draw, new_logo_account(t, s, k), s, t, 0, 0.0, p
    )
    # Failed onboarding (the churn fit's same-month churn, churn_month == start_month): the
    # logo signs (its booking stands) but never uses the product; it churns in its start month.
    failed = u_fail < p[P_ONBOARDING_FAILURE]
    if failed:
        f[F_THRESHOLD] = -1.0
    ist[I_BORN] = t
    ist[I_DATA_FROM] = t
    ist[I_CONTRACT] = t
    unhealthy = u_health < mpt[M_UNHEALTHY_SHARE]
    f[F_HEALTH] = p[P_UNHEALTHY_PLATEAU] if unhealthy else 1.0
    f[F_HEALTH_STEP] = math.exp(-p[P_UNHEALTHY_DECAY]) if unhealthy else 1.0
    f[F_HEALTH_HAZARD] = p[P_UNHEALTHY_HR] if unhealthy else 1.0
    x = p[P_INIT_MU] + p[P_INIT_SD] * z_level
    f[F_X] = x
    for j in range(RING_MONTHS):
        ring[j] = 0.0
    for j in range(8):
        uring[j] = 0.0
    f[F_CUR12] = 0.0
    f[F_PREV12] = 0.0
    f[F_LAST_REVENUE] = 0.0
    price = p[P_PRICE] * mpt[M_PRICE_MULT]
    if u_commit < p[P_COMMIT_SHARE]:
        commit = p[P_COMMIT_MONTHS] * price * math.exp(x)
        bookings = commit
    else:
        commit = 0.0
        bookings = 12.0 * price * math.exp(x) * mean_ramp
    f[F_COMMIT] = 0.0 if failed else commit
    f[F_CONSUMED] = 0.0
    f[F_PRICE] = p[P_PRICE]
    ist[I_TERM] = 0
    out[t, s, V_BOOKINGS] += bookings
