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
cases carry on.  The steps are normal with SD ``usage_volatility``: the usage fit's docstring says
that is what the simulation uses (its ``usage_tail_nu``, fitted with ``robust=True`` only, is a
diagnostic of the noise, and ``usage_volatility`` is then the Student-t's SD).

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

import numba
import numpy as np
from numba import get_thread_id, prange

from simengine.kernels._jit import jit, pass_jit
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
from simengine.kernels.passes import (
    G_ACTIVE,
    G_CHURN,
    G_COUNT,
    G_NORMAL_SLOW,
    G_SKIPPED,
    G_STEP,
    G_USE_CASE,
    K_ACTIVE,
    K_COUNT,
    K_EXISTING_EXPANSION,
    K_EXPANSION,
    K_LEAK,
    K_NEW_LOGO_REVENUE,
    K_OVERAGE,
    K_RETAINED,
    K_RETAINED_CAPPED,
    K_RETENTION_BASE,
    K_REVENUE,
    K_TTM_BASE,
    K_TTM_RETAINED,
    K_TTM_RETAINED_CAPPED,
    K_USAGE,
    K_ZERO,
    churn_pass,
    cohort_pass,
    exp_pass,
    month_pass,
    normal_fixup,
    normal_pass,
    step_pass,
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
# By position only (kernels.passes): the account's row, 1 for a book account, 1 while in play.
J_ROW, J_EXIST, J_ALIVE = I_COUNT, I_COUNT + 1, I_COUNT + 2
J_COUNT = I_COUNT + 3
#: Workspaces :func:`simulate_draws` sets up, one per worker thread (numba's thread count when
#: the kernel was compiled; a thread beyond it allocates per draw).
MAX_THREADS = numba.config.NUMBA_NUM_THREADS
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
def record_churn(last_revenue, commit, consumed, ring, t, s, born, out):
    """An account churns at the boundary into month ``t`` (< horizon): churn, leak, NRR bases.

    For the 12 months ``u = t .. t + 11`` it was a customer 12 months before, so it stays in the
    year-ago base (``retention_base``, numerator 0) and, if it was a customer all of ``u-23 ..
    u-12``, in the trailing-twelve-month one (base = its revenue over ``u-23 .. u-12``, numerator =
    over ``u-11 .. t-1``).  The ring holds months ``t-24 .. t-1``; ``last_revenue``, ``commit``
    and ``consumed`` are the account's at the end of month ``t - 1``.
    """
    horizon = out.shape[0]
    out[t, s, V_CHURNED] += 1.0
    out[t, s, V_CHURNED_REVENUE] += last_revenue
    if commit > 0.0:
        out[t, s, V_LEAK] += max(commit - consumed, 0.0)
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


@jit
def simulate_draw(
    seed, draw, acc, sp, mp, cap_csm, cap_se, month_of_year0, out, cohort, coverage, acc_rec, ws
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
    # Every account's initial state by row (the init functions fill one row each) ...
    if n > ws[0].shape[0]:
        ws = workspace(n + n // 4)
    fs, ring0, uring0, rs0, ist, st, it, rs, ring, uring, flag, scratch, contrib = ws
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
    # The live accounts' state is kept by position, field major (kernels.passes).  Each segment
    # owns a block of positions (its book accounts, then its logos, in row order), so a pass over
    # one block reads the segment's values as scalars, and the month's sums, which are per
    # segment, still add in row order.
    block = np.zeros(n_seg + 1, dtype=np.int64)
    for i in range(n_book):
        block[acc.segment[i] + 1] += 1
    for t in range(horizon):
        for s in range(n_seg):
            block[s + 1] += counts[t, s]
    for s in range(n_seg):
        block[s + 1] += block[s]
    used = np.zeros(n_seg, dtype=np.int64)  # positions in use in each block ...
    dead = np.zeros(n_seg, dtype=np.int64)  # ... `dead` of them churned or left the window
    # Book accounts start in play: their state goes straight to their positions; new logos are
    # staged by row and take the next position of their block in their start month.
    log_season = np.empty(n_seg)
    mean_size = np.empty(n_seg)
    for s in range(n_seg):
        log_season[s] = math.log(season[s, (month_of_year0 + 11) % 12])
        mean_size[s] = math.exp(
            sp[s, P_UC_SIZE_MU] + 0.5 * sp[s, P_UC_SIZE_SIGMA] * sp[s, P_UC_SIZE_SIGMA]
        )
    for i in range(n_book):
        s = acc.segment[i]
        p = block[s] + used[s]
        init_existing(st[:, p], rs[:, p], it[:, p], ring[:, p], uring[:, p], seed, draw, i, acc,
                      sp[s], covered_share, log_season[s], mean_size[s], q[s])  # fmt: skip
        it[J_ROW, p] = i
        it[J_EXIST, p] = 1
        it[J_ALIVE, p] = 1
        used[s] += 1
    n_book_pos = used.copy()  # positions of book accounts, first in each block
    i = n_book
    end = horizon
    for t in range(horizon):
        for s in range(n_seg):
            for k in range(counts[t, s]):
                init_new_logo(fs[i], rs0[i], ist[i], ring0[:, i], uring0[:, i], seed, draw, t, s,
                              k, sp[s], mp[s, t], mean_ramp[s], out)  # fmt: skip
                i += 1
                end = max(end, t + cohort_months)

    eps = scratch[0]
    ex = scratch[1]
    revenue = scratch[2]
    overage = scratch[3]
    leak = scratch[4]
    contrib_rows = (contrib[0], contrib[1], contrib[2], contrib[3], contrib[4], contrib[5],
                    contrib[6], contrib[7], contrib[8], contrib[9], contrib[10], contrib[11],
                    contrib[12], contrib[13], contrib[14])  # fmt: skip
    alive = it[J_ALIVE]
    exist = it[J_EXIST]
    step = flag[G_STEP]
    churned = flag[G_CHURN]
    slow = flag[G_NORMAL_SLOW]
    use_case = flag[G_USE_CASE]
    skipped = flag[G_SKIPPED]
    active = flag[G_ACTIVE]

    csm_share = np.empty(n_seg)
    se_share = np.empty(n_seg)
    decline_factor = math.exp(DECLINE_THRESHOLD)
    next_row = n_book
    for t in range(end):
        m = min(t, horizon - 1)
        if t < horizon:
            for s in range(n_seg):  # this month's new logos, rows in (segment, k) order
                for _ in range(counts[t, s]):
                    add_position(fs, rs0, ist, ring0, uring0, next_row, block[s] + used[s],
                                 False, st, it, rs, ring, uring)  # fmt: skip
                    used[s] += 1
                    next_row += 1
            # Coverage of month t from this draw's own book at the start of the month: the
            # survivors of t - 1 and the logos starting in t.
            n_live = 0
            for s in range(n_seg):
                n_live += used[s] - dead[s]
            csm_ratio = cap_csm[t] / n_live if n_live > 0 else math.inf
            se_ratio = cap_se[t] / n_live if n_live > 0 else math.inf
            coverage[t, C_CSM] = min(1.0, csm_ratio)
            coverage[t, C_SE] = min(1.0, se_ratio)
            for s in range(n_seg):
                csm_share[s] = min(mp[s, t, M_CSM_COVERAGE], csm_ratio)
                se_share[s] = min(mp[s, t, M_SE_COVERAGE], se_ratio)
        slot = (month_of_year0 + t) % 12
        for s in range(n_seg):
            lo = block[s]
            if t >= horizon:
                # Cohort tracking only: logos still inside their cohort window.
                for p in range(lo, lo + used[s]):
                    if alive[p] != 0 and (exist[p] != 0 or t - it[I_START, p] >= cohort_months):
                        alive[p] = 0
                        dead[s] += 1
            if dead[s] * 8 > used[s]:
                used[s] = compact(lo, lo + used[s], st, it, rs, ring, uring) - lo
                dead[s] = 0
                n_book_pos[s] = 0  # book positions come first in a block and keep their order
                while n_book_pos[s] < used[s] and exist[lo + n_book_pos[s]] != 0:
                    n_book_pos[s] += 1
            hi = lo + used[s]
            ps = sp[s]
            mps = mp[s, m]
            n_churn = churn_pass(t, lo, hi, alive, exist, it[I_START], it[I_DATA_FROM], st[F_CUM_HAZARD],
                       st[F_CHURN_RATE], st[F_THRESHOLD], st[F_HEALTH_HAZARD], st[F_U_CSM],
                       uring[(t - 7) % 8], uring[(t - 6) % 8], uring[(t - 5) % 8],
                       uring[(t - 4) % 8], uring[(t - 3) % 8], uring[(t - 2) % 8],
                       mps[M_HAZARD_MULT], csm_share[s], ps[P_CSM_HR], ps[P_DECLINE_HR],
                       decline_factor, step, churned, active)  # fmt: skip
            for p in range(lo, hi if n_churn > 0 else lo):
                if churned[p] != 0:
                    if t < horizon:
                        if exist[p] != 0 and record:
                            record_account_churn(st[F_COMMIT, p], st[F_CONSUMED, p], t,
                                                 acc_rec[it[J_ROW, p]])  # fmt: skip
                        record_churn(st[F_LAST_REVENUE, p], st[F_COMMIT, p], st[F_CONSUMED, p],
                                     ring[:, p], t, s, it[I_BORN, p], out)  # fmt: skip
                    alive[p] = 0
                    dead[s] += 1

            # Usage step: one normal from each stepping account's usage stream.
            if normal_pass(lo, hi, step, rs[R_USAGE], eps, slow) > 0:
                normal_fixup(lo, hi, rs[R_USAGE], eps, slow)
            intensity_plain = ps[P_UC_RATE] * mps[M_USE_CASE_MULT]
            intensity_supported = intensity_plain * ps[P_SE_RATIO]
            n_use_case = step_pass(lo, hi, step, exist, eps, st[F_X], st[F_DRIFT], st[F_RAMP_TAIL],
                      st[F_HEALTH], st[F_HEALTH_STEP], st[F_HEALTHY_RAMP], st[F_UNHEALTHY_LEVEL],
                      st[F_UNHEALTHY_RAMP], st[F_HIST_RAMP], st[F_U_SE], st[F_UC_GAP],
                      mps[M_DRIFT_SHIFT], ps[P_VOLATILITY], ramp_step[s], q[s], decay[s],
                      decay_q[s], se_share[s], intensity_plain, intensity_supported,
                      use_case)  # fmt: skip
            for p in range(lo, hi if n_use_case > 0 else lo):
                if use_case[p] == 0:
                    continue  # rare: most account-months start no use case
                supported = st[F_U_SE, p] < se_share[s]
                intensity = intensity_supported if supported else intensity_plain
                unhealthy = (
                    mps[M_UC_UNHEALTHY_COVERED] if supported else mps[M_UC_UNHEALTHY_UNCOVERED]
                )
                cases_before = out[t, s, V_NEW_USE_CASES] if t < horizon else 0.0
                (state, gap, intensity, st[F_HEALTHY_SIZE, p], st[F_HEALTHY_RAMP, p],
                 st[F_UNHEALTHY_LEVEL, p], st[F_UNHEALTHY_RAMP, p]) = start_use_cases(
                    rs[R_USE_CASE, p], st[F_UC_GAP, p], intensity, st[F_HEALTHY_SIZE, p],
                    st[F_HEALTHY_RAMP, p], st[F_UNHEALTHY_LEVEL, p], st[F_UNHEALTHY_RAMP, p],
                    ps, unhealthy, q[s], out, t, s,
                )  # fmt: skip
                rs[R_USE_CASE, p] = state
                st[F_UC_GAP, p] = gap - intensity
                if exist[p] != 0 and record and t < ACCOUNT_MONTHS:
                    # start_use_cases counts into out[t, s] directly: the difference is this
                    # account's (whole numbers, exact in float64).
                    acc_rec[it[J_ROW, p], A_USE_CASES_12M] += (
                        out[t, s, V_NEW_USE_CASES] - cases_before
                    )

            exp_pass(lo, hi, st[F_X], ex)
            if t < horizon:
                n_skipped = month_pass(t, lo, hi, active, exist, it[I_BORN], it[I_ZERO_GAP], it[I_TERM], ex,
                           st[F_RAMP_TAIL], st[F_HEALTH], st[F_HEALTHY_SIZE], st[F_HEALTHY_RAMP],
                           st[F_UNHEALTHY_LEVEL], st[F_UNHEALTHY_RAMP], st[F_HIST_SIZE],
                           st[F_HIST_RAMP], st[F_PRICE], st[F_COMMIT], st[F_CONSUMED],
                           st[F_CUR12], st[F_PREV12], st[F_LAST_REVENUE], ring[t % RING_MONTHS],
                           ring[(t - HISTORY_MONTHS) % RING_MONTHS], uring[t % 8],
                           season[s, slot], mps[M_PRICE_MULT], ps[P_RENEWAL_RATIO], skipped,
                           revenue, overage, leak, contrib_rows)  # fmt: skip
            else:
                n_skipped = cohort_pass(t, lo, hi, active, it[I_ZERO_GAP], ex, st[F_RAMP_TAIL], st[F_HEALTH],
                            st[F_HEALTHY_SIZE], st[F_HEALTHY_RAMP], st[F_UNHEALTHY_LEVEL],
                            st[F_UNHEALTHY_RAMP], st[F_PRICE], uring[t % 8], season[s, slot],
                            mps[M_PRICE_MULT], skipped, revenue)  # fmt: skip
            for p in range(lo, hi if n_skipped > 0 else lo):
                if skipped[p] != 0:  # the hurdle: draw the gap to the next skipped month
                    state, gap_zero = zero_month_gap(rs[R_ZERO, p], ps[P_ZERO_PROB])
                    rs[R_ZERO, p] = state
                    it[I_ZERO_GAP, p] = gap_zero
            if t < horizon:
                if record and t < ACCOUNT_MONTHS:
                    for p in range(lo, hi):
                        if active[p] != 0 and exist[p] != 0:
                            rec = acc_rec[it[J_ROW, p]]
                            rec[A_REVENUE_12M] += revenue[p]
                            rec[A_OVERAGE_12M] += overage[p]
                            rec[A_LEAK_12M] += leak[p]
                add_sums(lo, hi, contrib_rows, out[t, s])
        # A cohort's logos sit in segment blocks, each in (start month, k) order: segment by
        # segment is the row order (start month, segment, k) within every cohort cell.
        for s in range(n_seg):
            for p in range(block[s] + n_book_pos[s], block[s] + used[s]):  # the logos
                if active[p] != 0:
                    start = it[I_START, p]
                    if t - start < cohort_months:
                        cohort[start, t - start] += revenue[p]
    return ws


@jit
def workspace(n):
    """Arrays for one draw of up to ``n`` accounts, reused draw after draw (every slot a draw
    reads it writes first): a fresh set per draw costs page faults, not arithmetic."""
    return (
        np.empty((n, F_COUNT)),  # initial state by row
        np.empty((RING_MONTHS, n)),
        np.empty((8, n)),
        np.empty((n, 3), dtype=np.uint64),
        np.empty((n, I_COUNT), dtype=np.int64),
        np.empty((F_COUNT, n)),  # state by position
        np.empty((J_COUNT, n), dtype=np.int64),
        np.empty((3, n), dtype=np.uint64),
        np.empty((RING_MONTHS, n)),
        np.empty((8, n)),
        np.zeros((G_COUNT, n), dtype=np.int64),  # the month's flags
        np.empty((5, n)),  # normals, exp(x), revenue, overage, leak
        np.zeros((K_COUNT, n)),  # contributions to the month's sums
    )


@jit
def add_position(fs, rs0, ist, ring0, uring0, i, p, existing, st, it, rs, ring, uring):
    """Copy row ``i``'s initial state into position ``p`` (field major)."""
    for f in range(F_COUNT):
        st[f, p] = fs[i, f]
    for f in range(I_COUNT):
        it[f, p] = ist[i, f]
    it[J_ROW, p] = i
    it[J_EXIST, p] = 1 if existing else 0
    it[J_ALIVE, p] = 1
    for f in range(3):
        rs[f, p] = rs0[i, f]
    for u in range(RING_MONTHS):
        ring[u, p] = ring0[u, i]
    for u in range(8):
        uring[u, p] = uring0[u, i]


@jit
def compact(lo, hi, st, it, rs, ring, uring):
    """Squeeze the dead positions of ``lo .. hi - 1`` out, keeping the live ones in order; return
    the end of the live ones."""
    kept = lo
    for p in range(lo, hi):
        if it[J_ALIVE, p] == 0:
            continue
        if kept != p:
            for f in range(st.shape[0]):
                st[f, kept] = st[f, p]
            for f in range(it.shape[0]):
                it[f, kept] = it[f, p]
            for f in range(rs.shape[0]):
                rs[f, kept] = rs[f, p]
            for u in range(RING_MONTHS):
                ring[u, kept] = ring[u, p]
            for u in range(8):
                uring[u, kept] = uring[u, p]
        kept += 1
    return kept


@pass_jit
def add_sums(lo, hi, contrib, out_ts):
    """Add one segment's per-position contributions into its month's outputs ``out_ts``, in
    position order (the row order of the one-account-at-a-time loop: bitwise the same sums).

    ``contrib`` is the tuple of rows.  Positions not active this month contribute +0.0, which
    leaves a sum that started at +0.0 unchanged, so every position is added without a branch;
    fifteen scalar accumulators, so the fifteen chains of additions overlap.
    """
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    a4 = 0.0
    a5 = 0.0
    a6 = 0.0
    a7 = 0.0
    a8 = 0.0
    a9 = 0.0
    a10 = 0.0
    a11 = 0.0
    a12 = 0.0
    a13 = 0.0
    a14 = 0.0
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        a0 += contrib[K_REVENUE][p]
        a1 += contrib[K_USAGE][p]
        a2 += contrib[K_ACTIVE][p]
        a3 += contrib[K_ZERO][p]
        a4 += contrib[K_EXPANSION][p]
        a5 += contrib[K_OVERAGE][p]
        a6 += contrib[K_LEAK][p]
        a7 += contrib[K_EXISTING_EXPANSION][p]
        a8 += contrib[K_NEW_LOGO_REVENUE][p]
        a9 += contrib[K_RETENTION_BASE][p]
        a10 += contrib[K_RETAINED][p]
        a11 += contrib[K_RETAINED_CAPPED][p]
        a12 += contrib[K_TTM_BASE][p]
        a13 += contrib[K_TTM_RETAINED][p]
        a14 += contrib[K_TTM_RETAINED_CAPPED][p]
    out_ts[V_REVENUE] += a0
    out_ts[V_USAGE] += a1
    out_ts[V_ACTIVE] += a2
    out_ts[V_ZERO_MONTHS] += a3
    out_ts[V_EXPANSION_REVENUE] += a4
    out_ts[V_OVERAGE] += a5
    out_ts[V_LEAK] += a6
    out_ts[V_EXISTING_EXPANSION_REVENUE] += a7
    out_ts[V_NEW_LOGO_REVENUE] += a8
    out_ts[V_RETENTION_BASE] += a9
    out_ts[V_RETAINED] += a10
    out_ts[V_RETAINED_CAPPED] += a11
    out_ts[V_TTM_BASE] += a12
    out_ts[V_TTM_RETAINED] += a13
    out_ts[V_TTM_RETAINED_CAPPED] += a14


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
    n_draws = outputs.out.shape[0]
    # One workspace per worker thread (sized for the book and the expected logos; a draw that
    # needs more allocates its own), reused draw after draw: a fresh one per draw costs page
    # faults, since glibc hands freed pages back to the system.  The arrays are np.empty /
    # np.zeros, so a thread that never runs costs address space only.  A draw reads nothing of
    # the workspace it did not write itself, so the threads cannot change a result.
    expected = 0.0
    if n_draws > 0:
        mp0 = params.month_params[0]
        for s in range(mp0.shape[0]):
            for t in range(mp0.shape[1]):
                expected += mp0[s, t, M_NEW_LOGO_RATE] * mp0[s, t, M_NEW_LOGO_MULT]
    size = book.segment.shape[0] + int(1.25 * expected) + 16
    pool = [workspace(size) for _ in range(MAX_THREADS)]
    for j in prange(n_draws):
        tid = get_thread_id()
        ws = pool[tid] if tid < MAX_THREADS else workspace(size)
        simulate_draw(
            seed, draw_start + j, book, params.seg_params[j], params.month_params[j],
            capacity.csm[j], capacity.se[j], month_of_year0, outputs.out[j], outputs.cohort[j],
            outputs.coverage[j], outputs.accounts[j * step], ws,
        )  # fmt: skip
