"""The Monte Carlo core: every account's monthly path, aggregated inside the kernel.

Model (DESIGN.md), for an account of segment ``s`` in horizon month ``t`` at tenure ``k``::

    x[t]   = x[t-1] + g_s + b_i + sigma_s * eps[t]             b_i ~ N(0, tau_s), eps ~ N(0, 1)
    U[t]   = exp(x[t]) * season(t) * ramp(k) * health(k) * (1 + E[t])
    ramp   = 1 - (1 - ramp_start_s) * exp(-k / ramp_months_s)
    season = exp(season_cos * cos(2 pi m / 12) + season_sin * sin(2 pi m / 12))    m = month of year
    E[t]   = sum over use cases j of  m_j * (1 - q**(t - a_j + 1)) * health_j(t - a_j),  q = exp(-1/r_s)
    revenue = U * unit_price_s

Churn is shifted-beta-geometric: ``theta_i ~ Beta(alpha_s, beta_s + n)`` for an account that has
already survived ``n`` boundaries (the sBG posterior of its own rate), and at each month boundary the
account survives with probability ``(1 - theta_i) ** hr[t]``, ``hr`` the product of hazard ratios in
force (CSM coverage, unhealthy onboarding, go-to-market multiplier).  The churn month is sampled
*exactly* by event time: with ``E ~ Exp(1)`` the account churns at the first boundary where the
cumulative hazard ``sum hr * -log(1 - theta)`` exceeds ``E`` -- one uniform per account, and more
hazard can only bring churn forward under common random numbers.  Use cases arrive as a Poisson
process of rate ``lambda_s * multipliers`` by the same device (exponential gaps on the cumulative
intensity), so the work is per event, not per account-month.

Unhealthy consumption (a new logo or a use case, with the month's ``unhealthy_share``) reaches only
``unhealthy_plateau`` of its size and decays by ``exp(-unhealthy_decay)`` a month; an unhealthy logo
also churns with ``unhealthy_hazard_ratio``.

Commits: an account with annual commit ``C`` consumes against it; consumption beyond ``C`` in a term
is overage, commit left at term end (or at churn) is leak, and the renewal commit is
``renewal_ratio`` times the term's consumption.

Everything is aggregated per ``(month, segment)`` of the draw as the account is simulated, so memory
is ``draws x months x segments`` whatever the number of accounts.  New logos of months past the
horizon are not simulated, but logos started inside it are followed for ``cohort_months`` months
from their start (past the horizon if need be) into ``cohort[draw, start_month, months_since_start]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from simengine.kernels._jit import jit
from simengine.kernels.layout import (
    HISTORY_MONTHS,
    M_CSM_COVERAGE,
    M_HAZARD_MULT,
    M_NEW_LOGO_RATE,
    M_SE_COVERAGE,
    M_UNHEALTHY_SHARE,
    M_USE_CASE_MULT,
    P_ACCOUNT_SD,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_COMMIT_MONTHS,
    P_COMMIT_SHARE,
    P_CSM_HR,
    P_DRIFT,
    P_INIT_MU,
    P_INIT_SD,
    P_PRICE,
    P_RAMP_MONTHS,
    P_RAMP_START,
    P_RENEWAL_RATIO,
    P_SE_RATIO,
    P_SEASON_COS,
    P_SEASON_SIN,
    P_UC_RAMP,
    P_UC_RATE,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_UNHEALTHY_PLATEAU,
    P_VOLATILITY,
    V_ACTIVE,
    V_BOOKINGS,
    V_CHURNED,
    V_CHURNED_REVENUE,
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
    V_USAGE,
)
from simengine.kernels.rng import (
    PURPOSE_ACCOUNT,
    PURPOSE_CHURN,
    PURPOSE_NEW_LOGOS,
    PURPOSE_USAGE,
    PURPOSE_USE_CASE,
    new_logo_account,
    next_beta,
    next_normal,
    next_normal_pair,
    next_uniform,
    poisson_inverse,
    purpose_key,
    stream_key,
)

_TWO_PI = 2.0 * math.pi


@jit
def season_table(p, month_of_year0, out):
    """``out[m] = season`` multiplier of horizon month ``t`` with ``(month_of_year0 + t) % 12 == m``.

    ``p`` is one segment's parameter vector; ``out`` has shape (12,) and is indexed by
    ``(month_of_year0 + t) % 12``.
    """
    for m in range(12):
        angle = _TWO_PI * m / 12.0
        out[m] = math.exp(p[P_SEASON_COS] * math.cos(angle) + p[P_SEASON_SIN] * math.sin(angle))


@jit
def start_use_cases(
    state, gap, intensity, healthy_size, healthy_ramp_gap, unhealthy_level, unhealthy_ramp_gap,
    p, unhealthy_share, q, out, t, segment,
):  # fmt: skip
    """Start the use cases that arrive in month ``t``; return the updated running sums.

    Kept out of the monthly loop: arrivals are rare, and their logs and exps in the loop body
    cost registers every month (measured: ~6% of the kernel's time).
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
            unhealthy_ramp_gap += size * q
        else:
            healthy_size += size
            healthy_ramp_gap += size * q
        gap = -math.log(u_gap)
        if t < out.shape[0]:
            out[t, segment, V_NEW_USE_CASES] += 1.0
    return (
        state,
        gap,
        intensity,
        healthy_size,
        healthy_ramp_gap,
        unhealthy_level,
        unhealthy_ramp_gap,
    )


@jit
def simulate_account(
    seed, draw, account, segment, existing, start, tenure, log_usage, hist_revenue,
    commit, term_position, consumed, p, mp, season, month_of_year0, out, cohort, ring,
):  # fmt: skip
    """Simulate one account for one draw and add its path into ``out`` (and ``cohort``).

    Parameters
    ----------
    seed, draw, account : int
        Stream key parts; ``account`` is the book row or :func:`new_logo_account`.
    segment : int
        Segment index (the ``segment`` axis of ``out``).
    existing : bool
        True for a book account observed at ``as_of``; False for a new logo starting at ``start``.
    start : int
        First horizon month of the account (0 for existing accounts).
    tenure : int
        Existing accounts: month boundaries survived by ``as_of`` (``as_of - start_month``).
    log_usage : float
        Existing accounts: log of usage in the ``as_of`` month.
    hist_revenue : ndarray, shape (12,)
        Existing accounts: revenue in months ``as_of - 11 .. as_of`` (0 where not a customer).
    commit, term_position, consumed : float, int, float
        Annual commit (0: none), months into the current term, and revenue consumed in it.
    p : ndarray, shape (n_segment_params,)
        Segment parameters of this draw (``layout.SEGMENT_PARAMS``).
    mp : ndarray, shape (horizon, n_month_params)
        Monthly drivers of this draw and segment (``layout.MONTH_PARAMS``).
    season : ndarray, shape (12,)
        :func:`season_table` of this segment and draw.
    out : ndarray, shape (horizon, n_segments, n_outputs)
        This draw's aggregates; updated in place.
    cohort : ndarray, shape (horizon, cohort_months)
        This draw's new-logo revenue by start month and months since start; updated in place.
    ring : ndarray, shape (12,)
        Scratch space for the account's trailing-12-month revenue.
    """
    horizon = out.shape[0]
    cohort_months = cohort.shape[1]
    price = p[P_PRICE]

    account_key = stream_key(seed, draw, account, 0)
    st = purpose_key(account_key, PURPOSE_ACCOUNT)
    st, z_effect, z_level = next_normal_pair(st)
    st, u_churn = next_uniform(st)
    st, u_use_case = next_uniform(st)
    st, u_csm = next_uniform(st)
    st, u_se = next_uniform(st)
    st, u_health = next_uniform(st)
    st, u_commit = next_uniform(st)
    drift = p[P_DRIFT] + p[P_ACCOUNT_SD] * z_effect
    volatility = p[P_VOLATILITY]

    churn_state = purpose_key(account_key, PURPOSE_CHURN)
    survived = tenure if existing else 0
    churn_state, theta = next_beta(churn_state, p[P_CHURN_ALPHA], p[P_CHURN_BETA] + survived)
    churn_per_boundary = -math.log1p(-theta)
    churn_threshold = -math.log(u_churn)
    cumulative_hazard = 0.0

    ramp_step = math.exp(-1.0 / p[P_RAMP_MONTHS])
    # (1 - ramp_start) * exp(-k / ramp_months) at tenure k (as_of for an existing account, the
    # start month for a new logo), stepped at each boundary before the month is used.
    first_tenure = tenure if existing else 0
    ramp_tail = (1.0 - p[P_RAMP_START]) * math.exp(-first_tenure / p[P_RAMP_MONTHS])

    unhealthy = (not existing) and u_health < mp[min(start, horizon - 1), M_UNHEALTHY_SHARE]
    health = p[P_UNHEALTHY_PLATEAU] if unhealthy else 1.0
    health_step = math.exp(-p[P_UNHEALTHY_DECAY]) if unhealthy else 1.0
    health_hazard = p[P_UNHEALTHY_HR] if unhealthy else 1.0

    if existing:
        # Back out the base level at as_of from observed usage: remove season and ramp at as_of.
        x = log_usage - math.log(season[(month_of_year0 + 11) % 12]) - math.log(1.0 - ramp_tail)
        for j in range(HISTORY_MONTHS):
            ring[j] = hist_revenue[j]
        last_revenue = hist_revenue[HISTORY_MONTHS - 1]
        bookings = 0.0
    else:
        x = p[P_INIT_MU] + p[P_INIT_SD] * z_level
        for j in range(HISTORY_MONTHS):
            ring[j] = 0.0
        last_revenue = 0.0
        bookings = p[P_COMMIT_MONTHS] * price * math.exp(x)
        commit = bookings if u_commit < p[P_COMMIT_SHARE] else 0.0
        term_position = 0
        consumed = 0.0
        if start < horizon:
            out[start, segment, V_BOOKINGS] += bookings

    # Use cases: healthy ones contribute m * (1 - q**(age+1)); unhealthy ones
    # plateau * m * decay**age * (1 - q**(age+1)).  Four running sums give E[t] in O(1) a month.
    use_case_state = purpose_key(account_key, PURPOSE_USE_CASE)
    use_case_gap = -math.log(u_use_case)
    q = math.exp(-1.0 / p[P_UC_RAMP])
    decay = math.exp(-p[P_UNHEALTHY_DECAY])
    healthy_size = 0.0
    healthy_ramp_gap = 0.0
    unhealthy_level = 0.0
    unhealthy_ramp_gap = 0.0

    usage_state = purpose_key(account_key, PURPOSE_USAGE)
    steps = 0
    spare_normal = 0.0

    end = horizon if existing else max(horizon, start + cohort_months)
    # Churn first, in its own short loop: the first boundary where the cumulative hazard passes the
    # account's threshold.  The monthly loop below then runs to it without a check per month.
    churn_month = -1
    for t in range(start if existing else start + 1, end):
        month = min(t, horizon - 1)
        hazard = mp[month, M_HAZARD_MULT] * health_hazard
        if u_csm < mp[month, M_CSM_COVERAGE]:
            hazard *= p[P_CSM_HR]
        cumulative_hazard += churn_per_boundary * hazard
        if cumulative_hazard > churn_threshold:
            churn_month = t
            break
    last = churn_month if churn_month >= 0 else end
    # Month-of-year and ring slot advance with t; counters avoid two integer divisions a month.
    season_slot = (month_of_year0 + start) % 12
    slot = start % HISTORY_MONTHS
    for t in range(start, last):
        month = min(t, horizon - 1)
        if existing or t > start:
            # Usage step: normals come in Box-Muller pairs, the second kept for the next month.
            if steps % 2 == 0:
                usage_state, eps, spare_normal = next_normal_pair(usage_state)
            else:
                eps = spare_normal
            steps += 1
            x += drift + volatility * eps
            ramp_tail *= ramp_step
            health *= health_step
            healthy_ramp_gap *= q
            unhealthy_level *= decay
            unhealthy_ramp_gap *= decay * q
            # Use-case arrivals in month t: exponential gaps on the cumulative intensity.
            intensity = p[P_UC_RATE] * mp[month, M_USE_CASE_MULT]
            if u_se < mp[month, M_SE_COVERAGE]:
                intensity *= p[P_SE_RATIO]
            if intensity >= use_case_gap:  # rare: most account-months start no use case
                (use_case_state, use_case_gap, intensity, healthy_size, healthy_ramp_gap,
                 unhealthy_level, unhealthy_ramp_gap) = start_use_cases(
                    use_case_state, use_case_gap, intensity, healthy_size, healthy_ramp_gap,
                    unhealthy_level, unhealthy_ramp_gap, p, mp[month, M_UNHEALTHY_SHARE], q,
                    out, t, segment,
                )  # fmt: skip
            use_case_gap -= intensity

        expansion = healthy_size - healthy_ramp_gap + unhealthy_level - unhealthy_ramp_gap
        base = math.exp(x) * season[season_slot] * (1.0 - ramp_tail) * health
        usage = base * (1.0 + expansion)
        revenue = usage * price

        overage = 0.0
        leak = 0.0
        if commit > 0.0:
            before = consumed
            consumed += revenue
            if consumed > commit:
                overage = consumed - max(before, commit)
            term_position += 1
            if term_position == 12:
                leak = max(commit - consumed, 0.0)
                commit = p[P_RENEWAL_RATIO] * consumed
                consumed = 0.0
                term_position = 0

        if t < horizon:
            out[t, segment, V_REVENUE] += revenue
            out[t, segment, V_USAGE] += usage
            out[t, segment, V_ACTIVE] += 1.0
            out[t, segment, V_EXPANSION_REVENUE] += base * expansion * price
            out[t, segment, V_OVERAGE] += overage
            out[t, segment, V_LEAK] += leak
            if not existing:
                out[t, segment, V_NEW_LOGO_REVENUE] += revenue
            year_ago = ring[slot]
            if year_ago > 0.0:
                out[t, segment, V_RETENTION_BASE] += year_ago
                out[t, segment, V_RETAINED] += revenue
                out[t, segment, V_RETAINED_CAPPED] += min(revenue, year_ago)
            ring[slot] = revenue
        if not existing and t - start < cohort_months:
            cohort[start, t - start] += revenue
        last_revenue = revenue
        season_slot = season_slot + 1 if season_slot < 11 else 0
        slot = slot + 1 if slot < HISTORY_MONTHS - 1 else 0

    if churn_month >= 0 and churn_month < horizon:
        out[churn_month, segment, V_CHURNED] += 1.0
        out[churn_month, segment, V_CHURNED_REVENUE] += last_revenue
        if commit > 0.0:
            out[churn_month, segment, V_LEAK] += max(commit - consumed, 0.0)
        # A churned account stays in the retention base for the 12 months after it was last seen.
        for t in range(churn_month, min(churn_month + HISTORY_MONTHS, horizon)):
            slot = t % HISTORY_MONTHS
            if ring[slot] > 0.0:
                out[t, segment, V_RETENTION_BASE] += ring[slot]
            ring[slot] = 0.0


@jit
def simulate_draw(
    seed, draw, seg_params, month_params, acct_segment, acct_tenure, acct_log_usage,
    acct_hist_revenue, acct_commit, acct_term_position, acct_consumed, month_of_year0, out, cohort,
):  # fmt: skip
    """One draw: every existing account, then the new logos of every (month, segment)."""
    horizon, n_segments = out.shape[0], out.shape[1]
    ring = np.empty(HISTORY_MONTHS)
    no_history = np.zeros(HISTORY_MONTHS)
    season = np.empty((n_segments, 12))
    for s in range(n_segments):
        season_table(seg_params[s], month_of_year0, season[s])

    for i in range(acct_segment.shape[0]):
        s = acct_segment[i]
        simulate_account(
            seed, draw, i, s, True, 0, acct_tenure[i], acct_log_usage[i], acct_hist_revenue[i],
            acct_commit[i], acct_term_position[i], acct_consumed[i], seg_params[s],
            month_params[s], season[s], month_of_year0, out, cohort, ring,
        )  # fmt: skip

    for t in range(horizon):
        for s in range(n_segments):
            # Keyed by (month, segment), not by the number of segments.
            key = stream_key(seed, draw, (t << 8) + s, PURPOSE_NEW_LOGOS)
            _, u = next_uniform(key)
            n_new = poisson_inverse(month_params[s, t, M_NEW_LOGO_RATE], u)
            out[t, s, V_NEW_LOGOS] += n_new
            for k in range(n_new):
                simulate_account(
                    seed, draw, new_logo_account(t, s, k), s, False, t, 0, 0.0, no_history,
                    0.0, 0, 0.0, seg_params[s], month_params[s], season[s], month_of_year0,
                    out, cohort, ring,
                )  # fmt: skip


@jit(parallel=True)
def simulate_draws(
    seed, draw_start, seg_params, month_params, acct_segment, acct_tenure, acct_log_usage,
    acct_hist_revenue, acct_commit, acct_term_position, acct_consumed, month_of_year0, out, cohort,
):  # fmt: skip
    """Simulate draws ``draw_start .. draw_start + out.shape[0] - 1`` in parallel.

    Parameters
    ----------
    seed : uint64
        Run seed; with the draw, account and purpose it keys every random stream.
    draw_start : int
        Absolute index of the first draw of this chunk (streams are keyed by absolute draw).
    seg_params : ndarray, shape (draws, segments, n_segment_params)
    month_params : ndarray, shape (draws, segments, horizon, n_month_params)
    acct_segment : ndarray of int64, shape (accounts,)
    acct_tenure : ndarray of int64, shape (accounts,)
    acct_log_usage : ndarray, shape (accounts,)
    acct_hist_revenue : ndarray, shape (accounts, 12)
    acct_commit, acct_consumed : ndarray, shape (accounts,)
    acct_term_position : ndarray of int64, shape (accounts,)
    month_of_year0 : int
        Month of year (January = 0) of horizon month 0.
    out : ndarray, shape (draws, horizon, segments, n_outputs)
        Zeroed on entry; filled with the aggregates.
    cohort : ndarray, shape (draws, horizon, cohort_months)
        Zeroed on entry; new-logo revenue by start month and months since start.
    """
    for j in prange(out.shape[0]):
        simulate_draw(
            seed, draw_start + j, seg_params[j], month_params[j], acct_segment, acct_tenure,
            acct_log_usage, acct_hist_revenue, acct_commit, acct_term_position, acct_consumed,
            month_of_year0, out[j], cohort[j],
        )  # fmt: skip
