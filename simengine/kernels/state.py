"""An account's state at the start of a draw, and the rare events of its months.

The model is :mod:`simengine.kernels.account`'s docstring.  Here: the slots of an account's state
(``F_*`` floats, ``R_*`` streams, ``I_*`` integers), the functions that draw a book account's or a
new logo's fixed randomness into them (:func:`init_existing`, :func:`init_new_logo`), the new-logo
counts (:func:`draw_new_logos`) and the scalar handlers of rare events the month's passes flag:
use-case arrivals (:func:`start_use_cases`), churn records (:func:`record_churn`) and the zero-month
gaps (:func:`zero_month_gap`).
"""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels._jit import inline_jit, jit
from simengine.kernels.layout import (
    A_CHURN_MONTH,
    A_LEAK_12M,
    ACCOUNT_MONTHS,
    HISTORY_MONTHS,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
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
    P_RAMP0,
    P_SEASON0,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_UNHEALTHY_PLATEAU,
    P_VOLATILITY,
    P_ZERO_PROB,
    RAMP_TABLE_MONTHS,
    RING_MONTHS,
    V_BOOKINGS,
    V_CHURNED,
    V_CHURNED_REVENUE,
    V_LEAK,
    V_NEW_LOGOS,
    V_NEW_USE_CASES,
)
from simengine.kernels.rng import (
    PURPOSE_ACCOUNT,
    PURPOSE_CHURN,
    PURPOSE_NEW_LOGOS,
    PURPOSE_USAGE,
    PURPOSE_USE_CASE,
    PURPOSE_ZERO_MONTH,
    new_logo_account,
    next_beta,
    next_normal,
    next_normal_pair,
    next_uniform,
    poisson_inverse,
    purpose_key,
    stream_key,
)

# One draw's account state by row, as the init functions write it (the month loop keeps it by
# position, field major: kernels.passes), its three random streams and its integers.
(
    F_X,  # log-usage level (season, ramp and health removed)
    F_DRIFT,  # g_s + b_i
    F_RAMP_TAIL,  # 1 - ramp(tenure) (ramp_tail_at)
    F_HEALTH,  # health multiplier of the account's own consumption
    F_HEALTH_STEP,  # its monthly decay (1: healthy)
    F_HEALTH_HAZARD,  # unhealthy hazard ratio (1: healthy)
    F_CHURN_RATE,  # -log(1 - theta): hazard per boundary at hazard ratio 1
    F_THRESHOLD,  # Exp(1) churn threshold
    F_CUM_HAZARD,  # cumulative hazard so far
    F_U_CSM,  # fixed uniform of CSM coverage
    F_U_SE,  # fixed uniform of SE / adoption support
    F_UC_GAP,  # intensity left until the next use case
    F_HEALTHY_SIZE,  # sum of healthy use-case sizes
    F_HEALTHY_RAMP,  # their ramp gap sum m * q**age
    F_UNHEALTHY_LEVEL,  # sum of unhealthy use-case levels (decaying)
    F_UNHEALTHY_RAMP,  # their ramp gap
    F_COMMIT,  # annual commit (0: none)
    F_CONSUMED,  # revenue consumed in the current term
    F_PRICE,  # unit price (before the month's multiplier)
    F_LAST_REVENUE,  # revenue of the last month simulated
    F_CUR12,  # revenue over the last 12 months (t-11 .. t once month t is done)
    F_PREV12,  # revenue over the 12 months before those
    F_HIST_SIZE,  # book account: summed size of its use cases from before as_of (in HEALTHY_*)
    F_HIST_RAMP,  # their remaining ramp gap (decays with q like HEALTHY_RAMP)
) = range(24)
F_COUNT = 24
# The rings live outside the record, month-major (`ring[u % 24, i]`: revenue of month u;
# `uring[u % 8, i]`: usage, for the decline rule), so a month touches one contiguous row of each
# rather than two cache lines of every account's record.
R_USAGE, R_USE_CASE, R_ZERO = range(3)
# I_START: start month of a new logo (0 for book accounts); I_BORN: start month of every account
# in horizon months (negative for book accounts); I_DATA_FROM: first month with usage data.
# I_ZERO_GAP: active months left before the next skipped month (the hurdle, geometric gaps).
# I_CONTRACT: the month the account's contract anniversaries count from, in horizon months
# (simengine.bookstats.churn_rules; a new logo's start month).
I_SEGMENT, I_START, I_TERM, I_BORN, I_DATA_FROM, I_ZERO_GAP, I_CONTRACT = range(7)
I_COUNT = 7
# By position only (kernels.passes): the account's row, 1 for a book account, 1 while in play,
# and the month it churned in (NOT_GONE while it has not): for 12 months after its churn an
# account stays in the year-ago and trailing-twelve-month bases (kernels.passes.month_pass).
J_ROW, J_EXIST, J_ALIVE, J_GONE = I_COUNT, I_COUNT + 1, I_COUNT + 2, I_COUNT + 3
J_COUNT = I_COUNT + 4
NOT_GONE = 1 << 40
#: "Never": the zero-month gap of an account whose segment has zero_month_prob 0.
NO_ZERO_MONTH = 1 << 62
_NO_ZERO_F = float(NO_ZERO_MONTH)


@inline_jit
def zero_month_gap(state, p):
    """Months with usage before the next skipped one: ``Geometric(p)`` on ``{0, 1, ...}``.

    Independent Bernoulli(``p``) months are exactly geometric gaps, so the stream is drawn once
    per skipped month instead of once per month.
    """
    if p <= 0.0:
        return state, NO_ZERO_MONTH
    state, u = next_uniform(state)
    if p >= 1.0:
        return state, 0
    # Clamped before the integer conversion: a gap past 2**62 (p below ~1e-17) would overflow it.
    return state, int(math.floor(min(math.log(u) / math.log1p(-p), _NO_ZERO_F)))


@jit
def season_table(p, out):
    """``out[m] = exp(season_m)``, the seasonal multiplier of month of year ``m`` (January = 0).

    ``p`` is one segment's parameter vector; horizon month ``t`` reads
    ``out[(month_of_year0 + t) % 12]``.
    """
    for m in range(12):
        out[m] = math.exp(p[P_SEASON0 + m])


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
def log_ramp_at(p, k):
    """``log ramp(k)`` of the onboarding ramp at tenure ``k`` from the table ``p[P_RAMP0 + k]``;
    0 (the plateau) from ``RAMP_TABLE_MONTHS`` on."""
    if k >= RAMP_TABLE_MONTHS:
        return 0.0
    return p[P_RAMP0 + k]


@jit
def ramp_tail_at(p, k):
    """``1 - ramp(k)``: the share of the plateau still to come at tenure ``k``."""
    return -math.expm1(log_ramp_at(p, k))


@jit
def mean_first_year_ramp(p):
    """``(1/12) sum_{k=0}^{11} ramp(k)``: a new logo's mean ramp over its first 12 months."""
    tail = 0.0
    for k in range(12):
        tail += ramp_tail_at(p, k)
    return 1.0 - tail / 12.0


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


@inline_jit
def start_use_cases(
    state, gap, intensity, healthy_size, healthy_ramp, unhealthy_level, unhealthy_ramp,
    p, unhealthy_share, q, out, t, segment,
):  # fmt: skip
    """Start the use cases that arrive in month ``t``; return the stream and the updated sums.

    Kept out of the monthly loop: arrivals are rare, and their logs and exps in the loop body
    cost registers every month.
    """
    while intensity >= gap:
        intensity -= gap
        state, z_size = next_normal(state)
        state, u_health = next_uniform(state)
        state, u_gap = next_uniform(state)
        size = math.exp(p[P_UC_SIZE_MU] + p[P_UC_SIZE_SIGMA] * z_size)
        if u_health < unhealthy_share:
            size *= p[P_UNHEALTHY_PLATEAU]
            unhealthy_level += size
            unhealthy_ramp += size * q
        else:
            healthy_size += size
            healthy_ramp += size * q
        gap = -math.log(u_gap)
        if t < out.shape[0]:
            out[t, segment, V_NEW_USE_CASES] += 1.0
    return state, gap, intensity, healthy_size, healthy_ramp, unhealthy_level, unhealthy_ramp


@inline_jit
def record_churn(last_revenue, commit, consumed, t, s, out):
    """An account churns at the boundary into month ``t`` (< horizon): its churn and its leak.

    ``last_revenue``, ``commit`` and ``consumed`` are the account's at the end of month ``t - 1``.
    It stays in the year-ago and trailing-twelve-month bases of months ``t .. t + 11`` (NRR's
    denominators, numerators 0): :func:`simengine.kernels.passes.month_pass` carries it there
    from its own ring, as for an account in play with no revenue.
    """
    out[t, s, V_CHURNED] += 1.0
    out[t, s, V_CHURNED_REVENUE] += last_revenue
    if commit > 0.0:
        out[t, s, V_LEAK] += max(commit - consumed, 0.0)


@inline_jit
def record_account_churn(commit, consumed, t, rec):
    """Per-account record of a book account churning at the boundary into month ``t``."""
    rec[A_CHURN_MONTH] = t + 1.0
    if t < ACCOUNT_MONTHS and commit > 0.0:
        rec[A_LEAK_12M] += max(commit - consumed, 0.0)


@jit
def draw_new_logos(seed, draw, mp, out, started_by):
    """New-logo counts ``counts[t, s]`` by Poisson inversion, keyed by (month, segment).

    ``started_by[t + 1]`` is set to the number of new logos starting in months ``0 .. t``.
    """
    n_seg, horizon = mp.shape[0], mp.shape[1]
    counts = np.zeros((horizon, n_seg), dtype=np.int64)
    started_by[0] = 0
    for t in range(horizon):
        total = 0
        for s in range(n_seg):
            # Keyed by (month, segment), not by the number of segments.
            key = stream_key(seed, draw, (t << 8) + s, PURPOSE_NEW_LOGOS)
            _, u = next_uniform(key)
            n_new = poisson_inverse(mp[s, t, M_NEW_LOGO_RATE] * mp[s, t, M_NEW_LOGO_MULT], u)
            counts[t, s] = n_new
            out[t, s, V_NEW_LOGOS] += n_new
            total += n_new
        started_by[t + 1] = started_by[t] + total
    return counts
