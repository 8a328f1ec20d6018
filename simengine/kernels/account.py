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

import numba
import numpy as np
from numba import get_thread_id, prange

from simengine.kernels._jit import jit, pass_jit
from simengine.kernels.init import (
    BookTemplate,
    book_template,
    init_book_block,
    init_logo_block,
)
from simengine.kernels.layout import (
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
    M_USE_CASE_MULT,
    P_CSM_HR,
    P_DECLINE_HR,
    P_RAMP_MONTHS,
    P_RENEWAL_RATIO,
    P_SE_RATIO,
    P_TAIL_NU,
    P_UC_RAMP,
    P_UC_RATE,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    P_VOLATILITY,
    P_ZERO_PROB,
    RING_MONTHS,
    V_ACTIVE,
    V_EXISTING_EXPANSION_REVENUE,
    V_EXPANSION_REVENUE,
    V_LEAK,
    V_NEW_LOGO_REVENUE,
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
    student_t_pass,
)
from simengine.kernels.state import (  # noqa: F401 (re-exported names)
    F_CHURN_RATE,
    F_COMMIT,
    F_CONSUMED,
    F_COUNT,
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
    I_COUNT,
    I_DATA_FROM,
    I_SEGMENT,
    I_START,
    I_TERM,
    I_ZERO_GAP,
    J_ALIVE,
    J_COUNT,
    J_EXIST,
    J_ROW,
    NO_ZERO_MONTH,
    R_USAGE,
    R_USE_CASE,
    R_ZERO,
    account_effect,
    draw_new_logos,
    init_account,
    init_existing,
    init_new_logo,
    mean_first_year_ramp,
    record_account_churn,
    record_churn,
    season_table,
    start_use_cases,
    zero_month_gap,
)

#: Workspaces :func:`simulate_draws` sets up, one per worker thread (numba's thread count when
#: the kernel was compiled; a thread beyond it allocates per draw).
MAX_THREADS = numba.config.NUMBA_NUM_THREADS


@jit
def simulate_draw(seed, draw, acc, sp, mp, cap_csm, cap_se, month_of_year0, out, cohort, coverage,
                  acc_rec, ws, tmpl):  # fmt: skip
    """One draw: every account of the book and every new logo, months outer, accounts inner.

    Accounts are rows ``0 .. n_book - 1`` (book order) then the new logos by (start month,
    segment, k).  The live accounts sit by position in one block per segment, in row order;
    each month runs the passes of :mod:`simengine.kernels.passes` over each block (a fixed order,
    so sums are bitwise reproducible), adds the month's sums into ``out[t]`` and marks the
    accounts that churned.  ``out``, ``cohort`` and ``coverage`` (this draw's slices) are
    filled in place, and ``acc_rec`` (book accounts x ``ACCOUNT_OUTPUTS``, or no rows: off) gets
    each book account's first-12-month record.  ``ws`` is a :func:`workspace` (its contents on
    entry do not matter); returns it, or a larger one if this draw needed more room.  ``tmpl``
    is the book's :func:`simengine.kernels.init.book_template`.
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
    # The draw's arrays (a workspace: see workspace); new logos are staged there (field major).
    if n > ws[0].shape[1]:  # fs is field major: positions are its columns
        ws = workspace(n + n // 4)
    fs, ring0, uring0, rs0, ist, st, it, rs, ring, uring, flag, scratch, contrib = ws
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
    for s in range(n_seg):  # kernels.init: the book's template, block by block
        used[s] = init_book_block(tmpl, s, block[s], seed, draw, sp[s], log_season[s],
                                  mean_size[s], q[s], st, it, rs, ring, uring) - block[s]  # fmt: skip
    n_book_pos = used.copy()  # positions of book accounts, first in each block
    # New logos are staged at the positions they would take without churn: block by block,
    # (start month, k) order (kernels.init), and move to their position in their start month.
    for s in range(n_seg):
        init_logo_block(block[s] + n_book_pos[s], seed, draw, s, 0, horizon, counts[:, s], sp[s],
                        mp[s], mean_ramp[s], out, fs, ist, rs0, ring0, uring0)  # fmt: skip
    end = horizon
    for t in range(horizon):
        for s in range(n_seg):
            if counts[t, s] > 0:
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
    staged = n_book_pos.copy()  # each block's next staged logo
    for t in range(end):
        m = min(t, horizon - 1)
        if t < horizon:
            for s in range(n_seg):  # this month's new logos, in (segment, k) order
                for _ in range(counts[t, s]):
                    add_position(fs, rs0, ist, ring0, uring0, block[s] + staged[s],
                                 block[s] + used[s], False, st, it, rs, ring, uring)  # fmt: skip
                    used[s] += 1
                    staged[s] += 1
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

            # Usage step: one normal from each stepping account's usage stream, or a Student-t
            # scaled to the same SD where the fit found heavy tails (usage_tail_nu > 2): then
            # eps carries its scale and the step multiplies it by 1.
            volatility = ps[P_VOLATILITY]
            nu = ps[P_TAIL_NU]
            if nu > 2.0:
                student_t_pass(lo, hi, step, rs[R_USAGE], eps, nu,
                               volatility * math.sqrt(1.0 - 2.0 / nu))  # fmt: skip
                volatility = 1.0
            elif normal_pass(lo, hi, step, rs[R_USAGE], eps, slow) > 0:
                normal_fixup(lo, hi, rs[R_USAGE], eps, slow)
            intensity_plain = ps[P_UC_RATE] * mps[M_USE_CASE_MULT]
            intensity_supported = intensity_plain * ps[P_SE_RATIO]
            n_use_case = step_pass(lo, hi, step, exist, eps, st[F_X], st[F_DRIFT], st[F_RAMP_TAIL],
                      st[F_HEALTH], st[F_HEALTH_STEP], st[F_HEALTHY_RAMP], st[F_UNHEALTHY_LEVEL],
                      st[F_UNHEALTHY_RAMP], st[F_HIST_RAMP], st[F_U_SE], st[F_UC_GAP],
                      mps[M_DRIFT_SHIFT], volatility, ramp_step[s], q[s], decay[s],
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
        np.empty((F_COUNT, n)),  # new logos' initial state, staged field major
        np.empty((RING_MONTHS, n)),
        np.empty((8, n)),
        np.empty((3, n), dtype=np.uint64),
        np.empty((I_COUNT, n), dtype=np.int64),
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
    """Copy staged column ``i``'s initial state into position ``p`` (field major)."""
    for f in range(F_COUNT):
        st[f, p] = fs[f, i]
    for f in range(I_COUNT):
        it[f, p] = ist[f, i]
    it[J_ROW, p] = i
    it[J_EXIST, p] = 1 if existing else 0
    it[J_ALIVE, p] = 1
    for f in range(3):
        rs[f, p] = rs0[f, i]
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
    # Shared, read-only.  Rebuilt by its class's name: prange's gufunc recreates a named tuple
    # from the global its variable was made by, and finds none behind a function's result.
    tmpl = BookTemplate(*book_template(book, params.seg_params.shape[1]))
    for j in prange(n_draws):
        tid = get_thread_id()
        ws = pool[tid] if tid < MAX_THREADS else workspace(size)
        simulate_draw(
            seed, draw_start + j, book, params.seg_params[j], params.month_params[j],
            capacity.csm[j], capacity.se[j], month_of_year0, outputs.out[j], outputs.cohort[j],
            outputs.coverage[j], outputs.accounts[j * step], ws, tmpl,
        )  # fmt: skip
