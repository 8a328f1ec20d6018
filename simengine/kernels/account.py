"""The Monte Carlo core: every account's monthly path, aggregated inside the kernel.

Model (DESIGN.md), for an account of segment ``s`` in horizon month ``t`` at tenure ``k``::

    x[t]   = x[t-1] + (g_s + b_i + shift[t]) + sigma_s * eps[t]   b_i ~ N(0, tau_s), eps ~ N(0, 1)
    U[t]   = exp(x[t]) * season(t) * ramp(k) * health(k) * (1 + E[t])
    ramp   = 1 - (1 - ramp_start_s) * exp(-k / ramp_months_s)
    season = exp(season_m)       m = month of year, the fit's 12-effect profile (January first)
    E[t]   = sum over use cases j of  m_j * (1 - q**(t - a_j + 1)) * health_j(t - a_j),  q = exp(-1/r_s)
    revenue = U * price_i * price_multiplier[t]

``E`` is additive over a book account's past use cases and the simulated ones (``1 + E_hist +
E_new``; :func:`init_existing`).  With probability ``zero_month_prob_s`` an active month shows no
usage (the usage fit's hurdle): usage and revenue are 0 that month and the level, ramp and use
cases carry on.  The steps have SD ``usage_volatility``: normal, or Student-t with
``usage_tail_nu`` degrees of freedom (scaled to that SD) where the usage fit found heavy tails
(``usage_tail_nu > 2``; 0 = normal).

``price_i`` is the account's own unit price (book accounts) or the segment's (new logos); ``shift``
is the month's ``drift_shift``.

Churn is shifted-beta-geometric: ``theta_i ~ Beta(alpha_s, beta_s + n)`` for an account that has
already survived ``n`` boundaries (the sBG posterior of its own rate), and at each month boundary the
account survives with probability ``(1 - theta_i) ** hr[t]``, ``hr`` the product of hazard ratios in
force (CSM coverage, unhealthy onboarding, go-to-market multiplier, and
``usage_decline_hazard_ratio`` at a boundary the account's own simulated usage makes declining,
by the churn fit's rule: see ``layout.DECLINE_THRESHOLD``).  A book account's ``n`` is its exposure
``c (n - d + h d)`` (:func:`init_existing`).  A new logo fails onboarding with
``onboarding_failure_s``: it books its deal but churns in its start month without usage (the fit's
same-month churn).  The churn month is sampled *exactly* by event time: with ``E ~ Exp(1)`` the account churns at the first boundary where the
cumulative hazard ``sum hr * -log(1 - theta)`` exceeds ``E`` -- one uniform per account, and more
hazard can only bring churn forward under common random numbers.  ``hr`` may change from month to
month (coverage does), and the cumulative hazard simply adds each month's.  Use cases arrive as a
Poisson process of rate ``lambda_s * multipliers`` by the same device (exponential gaps on the
cumulative intensity), so the work is per event, not per account-month.

**Coverage from the simulated book.**  Within a draw the kernel runs months outer, accounts inner,
with the accounts' state in arrays.  At the start of month ``t`` it counts the active accounts
(survivors of month ``t - 1`` plus the new logos starting in ``t``) and sets the CSM share
``min(csm_coverage[s, t], Capacity.csm[t] / active)``; an account is covered in ``t`` when its own
fixed uniform ``u_csm`` is below the share (so a higher share covers a superset of accounts under
common random numbers).  SE / adoption support works the same way with ``u_se``.  A draw whose book
grows faster than its team therefore sees its coverage fall, and a draw that loses more accounts
covers the rest better.  Past the horizon (cohort tracking only) the last month's shares hold.

Unhealthy consumption reaches only ``unhealthy_plateau`` of its size and decays by
``exp(-unhealthy_decay)`` a month; an unhealthy logo also churns with ``unhealthy_hazard_ratio``.  A
new logo is unhealthy with its start month's ``unhealthy_share`` (set by the month's deal coverage);
a new use case with ``use_case_unhealthy_covered`` or ``_uncovered``, by whether its own account has
SE support that month.

Commits: an account with annual commit ``C`` consumes against it; consumption beyond ``C`` in a term
is overage, commit left at term end (or at churn) is leak, and the renewal commit is
``renewal_ratio`` times the term's consumption.  Bookings of a new logo: see :func:`init_new_logo`.

Everything is aggregated per ``(month, segment)`` of the draw, so memory is ``draws x months x
segments`` plus one draw's account state per thread.  New logos of months past the horizon are not
simulated, but logos started inside it are followed for ``cohort_months`` months from their start
(past the horizon if need be) into ``cohort[draw, start_month, months_since_start]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from simengine.kernels._jit import jit
from simengine.kernels.layout import (
    A_CHURN_MONTH,
    A_LEAK_12M,
    A_OVERAGE_12M,
    A_REVENUE_12M,
    A_USE_CASES_12M,
    ACCOUNT_MONTHS,
    C_CSM,
    C_SE,
    DECLINE_THRESHOLD,
    HISTORY_MONTHS,
    M_CSM_COVERAGE,
    M_DRIFT_SHIFT,
    M_HAZARD_MULT,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
    M_PRICE_MULT,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    M_UNHEALTHY_SHARE,
    M_USE_CASE_MULT,
    P_ACCOUNT_SD,
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
    P_RAMP_MONTHS,
    P_RAMP_START,
    P_RENEWAL_RATIO,
    P_SE_RATIO,
    P_SEASON0,
    P_TAIL_NU,
    P_UC_RAMP,
    P_UC_RATE,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_UNHEALTHY_PLATEAU,
    P_VOLATILITY,
    P_ZERO_PROB,
    RING_MONTHS,
    V_ACTIVE,
    V_BOOKINGS,
    V_CHURNED,
    V_CHURNED_REVENUE,
    V_EXISTING_EXPANSION_REVENUE,
    V_EXPANSION_REVENUE,
    V_LEAK,
    V_NEW_LOGO_REVENUE,
    V_NEW_LOGOS,
    V_NEW_USE_CASES,
    V_OVERAGE,
    V_RETAINED,
    V_RETAINED_CAPPED,
    V_RETENTION_BASE,
    V_REVENUE,
    V_TTM_BASE,
    V_TTM_RETAINED,
    V_TTM_RETAINED_CAPPED,
    V_USAGE,
    V_ZERO_MONTHS,
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
    next_student_t,
    next_uniform,
    poisson_inverse,
    purpose_key,
    stream_key,
)

# One draw's account state: a float64 record per account (one account's state is contiguous, so the
# inner loop over accounts streams through memory), its two random streams and its integers.
(
    F_X,  # log-usage level (season, ramp and health removed)
    F_DRIFT,  # g_s + b_i
    F_RAMP_TAIL,  # (1 - ramp_start) * exp(-tenure / ramp_months)
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
I_SEGMENT, I_START, I_TERM, I_BORN, I_DATA_FROM, I_ZERO_GAP = range(6)
I_COUNT = 6
#: "Never": the zero-month gap of an account whose segment has zero_month_prob 0.
NO_ZERO_MONTH = 1 << 62


@jit
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
    return state, int(min(math.floor(math.log(u) / math.log1p(-p)), NO_ZERO_MONTH))


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
    residual sum ``S1 = sum d - n g - season terms - ramp terms`` (:mod:`simengine.fitting.usage`);
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
    tail0 = 1.0 - p[P_RAMP_START]
    for j in range(acc.ramp_coef.shape[1]):
        c = acc.ramp_coef[i, j]
        if c != 0.0:
            s1 -= c * math.log1p(-tail0 * math.exp(-acc.ramp_tenure[i, j] / p[P_RAMP_MONTHS]))
    var_noise = p[P_VOLATILITY] * p[P_VOLATILITY]
    # mean = (S1 / n) * shrink and var = (sigma^2 / n) * shrink, shrink = 1 / (1 + sigma^2 / (n tau^2)):
    # the same posterior as ``precision = n / sigma^2 + 1 / tau^2`` without dividing by sigma^2, which
    # overflows to inf / inf = NaN for a subnormal sigma^2 (hypothesis found sigma = 6e-162).
    # sigma = 0 gives shrink 1 and var 0: the history pins b_i exactly.
    shrink = 1.0 / (1.0 + var_noise / (n * tau * tau))
    return (s1 / n) * shrink + z * math.sqrt(var_noise / n * shrink)


@jit
def mean_first_year_ramp(p):
    """``(1/12) sum_{k=0}^{11} ramp(k)``: a new logo's mean ramp over its first 12 months."""
    tail = 0.0
    for k in range(12):
        tail += math.exp(-k / p[P_RAMP_MONTHS])
    return 1.0 - (1.0 - p[P_RAMP_START]) * tail / 12.0


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
    f[F_RAMP_TAIL] = (1.0 - p[P_RAMP_START]) * math.exp(-survived / p[P_RAMP_MONTHS])
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
def init_existing(f, r, ist, ring, uring, seed, draw, i, acc, p, season, month_of_year0,
                  covered_share):  # fmt: skip
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
    """
    tenure = acc.tenure[i]
    c = p[P_CSM_HR] if acc.csm_covered[i] == 1.0 else 1.0
    h = p[P_DECLINE_HR]
    exposure = c * (tenure - acc.declining[i] + h * acc.declining[i])
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
    mean_size = math.exp(p[P_UC_SIZE_MU] + 0.5 * p[P_UC_SIZE_SIGMA] * p[P_UC_SIZE_SIGMA])
    q = math.exp(-1.0 / p[P_UC_RAMP])
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
    f[F_X] = (
        acc.log_usage[i]
        - math.log(season[(month_of_year0 + 11) % 12])
        - math.log(1.0 - f[F_RAMP_TAIL])
        - math.log1p(size - gap)
    )
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


@jit
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


@jit
def record_churn(f, ring, t, s, born, out):
    """An account churns at the boundary into month ``t`` (< horizon): churn, leak, NRR bases.

    For the 12 months ``u = t .. t + 11`` it was a customer 12 months before, so it stays in the
    year-ago base (``retention_base``, numerator 0) and, if it was a customer all of ``u-23 ..
    u-12``, in the trailing-twelve-month one (base = its revenue over ``u-23 .. u-12``, numerator =
    over ``u-11 .. t-1``).  The ring holds months ``t-24 .. t-1``.
    """
    horizon = out.shape[0]
    out[t, s, V_CHURNED] += 1.0
    out[t, s, V_CHURNED_REVENUE] += f[F_LAST_REVENUE]
    if f[F_COMMIT] > 0.0:
        out[t, s, V_LEAK] += max(f[F_COMMIT] - f[F_CONSUMED], 0.0)
    for u in range(t, min(t + HISTORY_MONTHS, horizon)):
        year_ago = ring[(u - HISTORY_MONTHS) % RING_MONTHS]
        if year_ago > 0.0:
            out[u, s, V_RETENTION_BASE] += year_ago
        if u - (RING_MONTHS - 1) < born:
            continue  # not a customer for the whole base year
        base = 0.0
        for m in range(u - 23, u - 11):
            base += ring[m % RING_MONTHS]
        kept = 0.0
        for m in range(u - 11, t):
            kept += ring[m % RING_MONTHS]
        out[u, s, V_TTM_BASE] += base
        out[u, s, V_TTM_RETAINED] += kept
        out[u, s, V_TTM_RETAINED_CAPPED] += min(kept, base)


@jit
def record_account_churn(f, t, rec):
    """Per-account record of a book account churning at the boundary into month ``t``."""
    rec[A_CHURN_MONTH] = t + 1.0
    if t < ACCOUNT_MONTHS and f[F_COMMIT] > 0.0:
        rec[A_LEAK_12M] += max(f[F_COMMIT] - f[F_CONSUMED], 0.0)


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


@jit
def simulate_draw(
    seed, draw, acc, sp, mp, cap_csm, cap_se, month_of_year0, out, cohort, coverage, acc_rec
):
    """One draw: every account of the book and every new logo, months outer, accounts inner.

    Accounts are rows ``0 .. n_book - 1`` (book order) then the new logos by (start month,
    segment, k).  Each month visits the live rows in that order (a fixed order, so sums are
    bitwise reproducible), adds the month's sums into ``out[t]`` and drops the accounts that
    churned.  Returns nothing; ``out``, ``cohort`` and ``coverage`` (this draw's slices) are
    filled in place, and ``acc_rec`` (book accounts x ``ACCOUNT_OUTPUTS``, or no rows: off) gets
    each book account's first-12-month record.
    """
    horizon, n_seg = out.shape[0], out.shape[1]
    cohort_months = cohort.shape[1]
    n_book = acc.segment.shape[0]
    record = acc_rec.shape[0] > 0

    season = np.empty((n_seg, 12))
    ramp_step = np.empty(n_seg)
    q = np.empty(n_seg)
    decay = np.empty(n_seg)
    decay_q = np.empty(n_seg)
    mean_ramp = np.empty(n_seg)
    for s in range(n_seg):
        season_table(sp[s], season[s])
        ramp_step[s] = math.exp(-1.0 / sp[s, P_RAMP_MONTHS])
        q[s] = math.exp(-1.0 / sp[s, P_UC_RAMP])
        decay[s] = math.exp(-sp[s, P_UNHEALTHY_DECAY])
        decay_q[s] = decay[s] * q[s]
        mean_ramp[s] = mean_first_year_ramp(sp[s])

    started_by = np.empty(horizon + 1, dtype=np.int64)
    counts = draw_new_logos(seed, draw, mp, out, started_by)
    n = n_book + started_by[horizon]
    fs = np.empty((n, F_COUNT))
    ring = np.empty((RING_MONTHS, n))
    uring = np.empty((8, n))
    rs = np.empty((n, 3), dtype=np.uint64)
    ist = np.empty((n, I_COUNT), dtype=np.int64)
    # The book's observed covered shares (CSM, SE) among accounts whose flag is known.
    covered_share = np.zeros(2)
    for c, flags in enumerate((acc.csm_covered, acc.se_engaged)):
        known = 0.0
        yes = 0.0
        for i in range(n_book):
            if flags[i] >= 0.0:
                known += 1.0
                yes += flags[i]
        covered_share[c] = yes / known if known > 0.0 else 0.0
    for i in range(n_book):
        s = acc.segment[i]
        init_existing(fs[i], rs[i], ist[i], ring[:, i], uring[:, i], seed, draw, i, acc, sp[s],
                      season[s], month_of_year0,
                      covered_share)  # fmt: skip
    i = n_book
    end = horizon
    for t in range(horizon):
        for s in range(n_seg):
            for k in range(counts[t, s]):
                init_new_logo(fs[i], rs[i], ist[i], ring[:, i], uring[:, i], seed, draw, t, s, k,
                              sp[s], mp[s, t],
                              mean_ramp[s], out)  # fmt: skip
                i += 1
                end = max(end, t + cohort_months)

    # This month's per-segment values, hoisted out of the loop over accounts.
    csm_share = np.empty(n_seg)
    se_share = np.empty(n_seg)
    hazard_mult = np.empty(n_seg)
    covered_hazard_mult = np.empty(n_seg)
    drift_shift = np.empty(n_seg)
    intensity_plain = np.empty(n_seg)
    intensity_supported = np.empty(n_seg)
    price_mult = np.empty(n_seg)
    volatility = np.empty(n_seg)
    renewal_ratio = np.empty(n_seg)
    decline_hr = np.empty(n_seg)
    zero_prob = np.empty(n_seg)
    tail_nu = np.empty(n_seg)
    tail_sd = np.empty(n_seg)  # multiplies a t(nu) draw: the step's SD is then the volatility
    for s in range(n_seg):
        volatility[s] = sp[s, P_VOLATILITY]
        tail_nu[s] = sp[s, P_TAIL_NU]
        if tail_nu[s] > 2.0:
            tail_sd[s] = volatility[s] * math.sqrt(1.0 - 2.0 / tail_nu[s])
        else:
            tail_sd[s] = 0.0
        renewal_ratio[s] = sp[s, P_RENEWAL_RATIO]
        decline_hr[s] = sp[s, P_DECLINE_HR]
        zero_prob[s] = sp[s, P_ZERO_PROB]
    decline_factor = math.exp(DECLINE_THRESHOLD)
    # The month's sums per segment, added into out[t] when the month is done (a small block
    # that stays in L1 while the accounts stream by).
    sums = np.zeros((n_seg, out.shape[2]))
    # Rows of the accounts still in play, in row order: churned accounts (and, past the horizon,
    # book accounts and logos whose cohort window has ended) are dropped as the month runs, so no
    # month pays for them again.
    live = np.empty(n, dtype=np.int64)
    for i in range(n_book):
        live[i] = i
    n_live = n_book
    next_logo = n_book
    for t in range(end):
        m = min(t, horizon - 1)
        if t < horizon:
            for i in range(next_logo, n_book + started_by[t + 1]):  # this month's new logos
                live[n_live] = i
                n_live += 1
            next_logo = n_book + started_by[t + 1]
            # Coverage of month t from this draw's own book at the start of the month: the
            # survivors of t - 1 and the logos starting in t.
            csm_ratio = cap_csm[t] / n_live if n_live > 0 else math.inf
            se_ratio = cap_se[t] / n_live if n_live > 0 else math.inf
            coverage[t, C_CSM] = min(1.0, csm_ratio)
            coverage[t, C_SE] = min(1.0, se_ratio)
            for s in range(n_seg):
                csm_share[s] = min(mp[s, t, M_CSM_COVERAGE], csm_ratio)
                se_share[s] = min(mp[s, t, M_SE_COVERAGE], se_ratio)
        for s in range(n_seg):
            hazard_mult[s] = mp[s, m, M_HAZARD_MULT]
            covered_hazard_mult[s] = sp[s, P_CSM_HR]
            drift_shift[s] = mp[s, m, M_DRIFT_SHIFT]
            intensity_plain[s] = sp[s, P_UC_RATE] * mp[s, m, M_USE_CASE_MULT]
            intensity_supported[s] = intensity_plain[s] * sp[s, P_SE_RATIO]
            price_mult[s] = mp[s, m, M_PRICE_MULT]
        season_slot = (month_of_year0 + t) % 12
        ring_now = ring[t % RING_MONTHS]  # month t - 24 until this month overwrites it
        ring_ago = ring[(t - HISTORY_MONTHS) % RING_MONTHS]
        u0 = uring[t % 8]  # usage of month t - k in u<k>
        u2 = uring[(t - 2) % 8]
        u3 = uring[(t - 3) % 8]
        u4 = uring[(t - 4) % 8]
        u5 = uring[(t - 5) % 8]
        u6 = uring[(t - 6) % 8]
        u7 = uring[(t - 7) % 8]
        kept = 0
        for k in range(n_live):
            i = live[k]
            s = ist[i, I_SEGMENT]
            start = ist[i, I_START]
            existing = i < n_book
            if t >= horizon and (existing or t - start >= cohort_months):
                continue  # cohort tracking only: logos still inside their cohort window
            # The account's state in locals for the month, written back once at the end: stores
            # into the state array in mid-month would make the compiler reload every other array.
            x = fs[i, F_X]
            ramp_tail = fs[i, F_RAMP_TAIL]
            health = fs[i, F_HEALTH]
            healthy_size = fs[i, F_HEALTHY_SIZE]
            healthy_ramp = fs[i, F_HEALTHY_RAMP]
            unhealthy_level = fs[i, F_UNHEALTHY_LEVEL]
            unhealthy_ramp = fs[i, F_UNHEALTHY_RAMP]
            if not existing and t == start and fs[i, F_THRESHOLD] < 0.0:
                if t < horizon:  # failed onboarding: never active, churned in its start month
                    record_churn(fs[i], ring[:, i], t, s, ist[i, I_BORN], out)
                continue
            if existing or t > start:
                # Churn at the boundary into t, with this month's hazard ratios.
                hazard = hazard_mult[s] * fs[i, F_HEALTH_HAZARD]
                if fs[i, F_U_CSM] < csm_share[s]:
                    hazard *= covered_hazard_mult[s]
                if decline_hr[s] != 1.0 and t - 7 >= ist[i, I_DATA_FROM]:
                    # The churn fit's decline rule on the account's own usage, lagged one month.
                    q1 = u4[i] + u3[i] + u2[i]
                    q0 = u7[i] + u6[i] + u5[i]
                    if q0 > 0.0 and q1 < decline_factor * q0:
                        hazard *= decline_hr[s]
                cumulative = fs[i, F_CUM_HAZARD] + fs[i, F_CHURN_RATE] * hazard
                if cumulative > fs[i, F_THRESHOLD]:
                    if t < horizon:
                        if existing and record:
                            record_account_churn(fs[i], t, acc_rec[i])
                        record_churn(fs[i], ring[:, i], t, s, ist[i, I_BORN], out)
                    continue  # dropped from live
                # Usage step: one ziggurat normal from the account's usage stream (inlined), or
                # a Student-t of the same SD where the fit found heavy tails (usage_tail_nu > 2).
                if tail_nu[s] > 2.0:
                    state, eps = next_student_t(rs[i, R_USAGE], tail_nu[s])
                    eps *= tail_sd[s]
                else:
                    state, eps = next_normal(rs[i, R_USAGE])
                    eps *= volatility[s]
                rs[i, R_USAGE] = state
                fs[i, F_CUM_HAZARD] = cumulative
                x += (fs[i, F_DRIFT] + drift_shift[s]) + eps
                ramp_tail *= ramp_step[s]
                health *= fs[i, F_HEALTH_STEP]
                healthy_ramp *= q[s]
                unhealthy_level *= decay[s]
                unhealthy_ramp *= decay_q[s]
                # Use-case arrivals in month t: exponential gaps on the cumulative intensity.
                supported = fs[i, F_U_SE] < se_share[s]
                intensity = intensity_supported[s] if supported else intensity_plain[s]
                gap = fs[i, F_UC_GAP]
                if intensity >= gap:  # rare: most account-months start no use case
                    unhealthy = (
                        mp[s, m, M_UC_UNHEALTHY_COVERED]
                        if supported
                        else mp[s, m, M_UC_UNHEALTHY_UNCOVERED]
                    )
                    cases_before = out[t, s, V_NEW_USE_CASES] if t < horizon else 0.0
                    (state, gap, intensity, healthy_size, healthy_ramp, unhealthy_level,
                     unhealthy_ramp) = start_use_cases(
                        rs[i, R_USE_CASE], gap, intensity, healthy_size, healthy_ramp,
                        unhealthy_level, unhealthy_ramp, sp[s], unhealthy, q[s], out, t, s,
                    )  # fmt: skip
                    rs[i, R_USE_CASE] = state
                    if existing and record and t < ACCOUNT_MONTHS:
                        # start_use_cases counts into out[t, s] directly: the difference is this
                        # account's (whole numbers, exact in float64).
                        acc_rec[i, A_USE_CASES_12M] += out[t, s, V_NEW_USE_CASES] - cases_before
                fs[i, F_UC_GAP] = gap - intensity
                fs[i, F_X] = x
                fs[i, F_RAMP_TAIL] = ramp_tail
                fs[i, F_HEALTH] = health
                fs[i, F_HEALTHY_SIZE] = healthy_size
                fs[i, F_HEALTHY_RAMP] = healthy_ramp
                if existing:
                    fs[i, F_HIST_RAMP] *= q[s]
                fs[i, F_UNHEALTHY_LEVEL] = unhealthy_level
                fs[i, F_UNHEALTHY_RAMP] = unhealthy_ramp

            expansion = healthy_size - healthy_ramp + unhealthy_level - unhealthy_ramp
            # Expansion revenue counts the forecast's use cases only; past ones are in the level.
            new_expansion = expansion - (fs[i, F_HIST_SIZE] - fs[i, F_HIST_RAMP])
            base = math.exp(x) * season[s, season_slot] * (1.0 - ramp_tail) * health
            usage = base * (1.0 + expansion)
            skipped = False
            gap_zero = ist[i, I_ZERO_GAP]
            if gap_zero == 0:
                # The hurdle: the month shows no usage; the level, ramp and use cases carry on.
                skipped = True
                usage = 0.0
                base = 0.0
                state, gap_zero = zero_month_gap(rs[i, R_ZERO], zero_prob[s])
                rs[i, R_ZERO] = state
                ist[i, I_ZERO_GAP] = gap_zero
            else:
                ist[i, I_ZERO_GAP] = gap_zero - 1
            price = fs[i, F_PRICE] * price_mult[s]
            revenue = usage * price

            u0[i] = usage  # the decline rule reads it past the horizon too
            if t < horizon:
                # Commits, the per-account record, the trailing sums and the month's outputs
                # only matter inside the horizon: past it (cohort tracking) only revenue counts.
                overage = 0.0
                leak = 0.0
                commit = fs[i, F_COMMIT]
                if commit > 0.0:
                    before = fs[i, F_CONSUMED]
                    consumed = before + revenue
                    if consumed > commit:
                        overage = consumed - max(before, commit)
                    term = ist[i, I_TERM] + 1
                    if term == 12:
                        leak = max(commit - consumed, 0.0)
                        fs[i, F_COMMIT] = renewal_ratio[s] * consumed
                        consumed = 0.0
                        term = 0
                    fs[i, F_CONSUMED] = consumed
                    ist[i, I_TERM] = term

                if existing and record and t < ACCOUNT_MONTHS:
                    acc_rec[i, A_REVENUE_12M] += revenue
                    acc_rec[i, A_OVERAGE_12M] += overage
                    acc_rec[i, A_LEAK_12M] += leak
                # Trailing sums: revenue of months t - 12 and t - 24 leave them.
                year_ago = ring_ago[i]
                cur12 = fs[i, F_CUR12] + revenue - year_ago
                prev12 = fs[i, F_PREV12] + year_ago - ring_now[i]
                fs[i, F_CUR12] = cur12
                fs[i, F_PREV12] = prev12
                ring_now[i] = revenue
                sums[s, V_REVENUE] += revenue
                sums[s, V_USAGE] += usage
                sums[s, V_ACTIVE] += 1.0
                if skipped:
                    sums[s, V_ZERO_MONTHS] += 1.0
                expansion_revenue = base * new_expansion * price
                sums[s, V_EXPANSION_REVENUE] += expansion_revenue
                sums[s, V_OVERAGE] += overage
                sums[s, V_LEAK] += leak
                if existing:
                    sums[s, V_EXISTING_EXPANSION_REVENUE] += expansion_revenue
                else:
                    sums[s, V_NEW_LOGO_REVENUE] += revenue
                if year_ago > 0.0:
                    sums[s, V_RETENTION_BASE] += year_ago
                    sums[s, V_RETAINED] += revenue
                    sums[s, V_RETAINED_CAPPED] += min(revenue, year_ago)
                if t - (RING_MONTHS - 1) >= ist[i, I_BORN]:  # a customer all of t-23 .. t-12
                    sums[s, V_TTM_BASE] += prev12
                    sums[s, V_TTM_RETAINED] += cur12
                    sums[s, V_TTM_RETAINED_CAPPED] += min(cur12, prev12)
                fs[i, F_LAST_REVENUE] = revenue
            if not existing and t - start < cohort_months:
                cohort[start, t - start] += revenue
            live[kept] = i
            kept += 1
        n_live = kept
        if t < horizon:
            for s in range(n_seg):
                for v in range(out.shape[2]):
                    out[t, s, v] += sums[s, v]
                    sums[s, v] = 0.0


@jit(parallel=True)
def simulate_draws(seed, draw_start, book, params, capacity, month_of_year0, outputs):
    """Simulate draws ``draw_start .. draw_start + outputs.out.shape[0] - 1`` in parallel.

    Parameters
    ----------
    seed : uint64
        Run seed; with the draw, account and purpose it keys every random stream.
    draw_start : int
        Absolute index of the first draw of this chunk (streams are keyed by absolute draw).
    book : layout.Accounts
        The accounts active at ``as_of`` (shared by every draw).
    params : layout.Params
        ``seg_params`` (draws, segments, n_segment_params) and ``month_params``
        (draws, segments, horizon, n_month_params) of this chunk.
    capacity : layout.Capacity
        Coverable accounts ``csm`` and ``se``, each (draws, horizon), of this chunk.
    month_of_year0 : int
        Month of year (January = 0) of horizon month 0.
    outputs : layout.Outputs
        ``out``, ``cohort``, ``coverage`` and ``accounts`` of this chunk, zeroed on entry and
        filled in place (``accounts`` with no account columns: no per-account record).

    Every draw writes only its own slices, and its result depends only on its absolute index:
    neither the thread count nor the chunking can change it.
    """
    # Without a per-account record, ``accounts`` is one empty row shared by every draw.
    step = 1 if outputs.accounts.shape[0] == outputs.out.shape[0] else 0
    for j in prange(outputs.out.shape[0]):
        simulate_draw(
            seed, draw_start + j, book, params.seg_params[j], params.month_params[j],
            capacity.csm[j], capacity.se[j], month_of_year0, outputs.out[j], outputs.cohort[j],
            outputs.coverage[j], outputs.accounts[j * step],
        )  # fmt: skip
