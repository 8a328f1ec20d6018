"""The Monte Carlo core: every account's monthly path, aggregated inside the kernel.

Model (DESIGN.md), for an account of segment ``s`` in horizon month ``t`` at tenure ``k``::

    x[t]   = x[t-1] + (g_s + b_i + shift[t]) + sigma_s * eps[t]   b_i ~ N(0, tau_s), eps ~ N(0, 1)
    U[t]   = exp(x[t]) * season(t) * ramp(k) * health(k) * (1 + E[t])
    ramp   = exp(ramp_log_s[k]) for k < RAMP_TABLE_MONTHS, else 1 (the usage fit's onboarding curve)
    season = exp(season_m)       m = month of year, the fit's 12-effect profile (January first)
    E[t]   = sum over use cases j of  m_j * (1 - q**(t - a_j + 1)) * health_j(t - a_j),  q = exp(-1/r_s)
    revenue = U * price_i * price_multiplier[t]

``E`` is additive over a book account's past use cases and the simulated ones (``1 + E_hist +
E_new``; :func:`~simengine.kernels.init.init_book_block`).  With probability ``zero_month_prob_s`` an active month shows no
usage (the usage fit's hurdle): usage and revenue are 0 that month and the level, ramp and use
cases carry on.  The steps have SD ``usage_volatility``: normal, or where the usage fit found
heavy tails a two-component normal scale mixture of that SD (weight ``usage_tail_weight`` of the
wide normal, SD ratio ``usage_tail_ratio``; weight 0 = normal; :mod:`simengine.bookstats.tails`).

``price_i`` is the account's own unit price (book accounts) or the segment's (new logos); ``shift``
is the month's ``drift_shift``.

Churn is shifted-beta-geometric: ``theta_i ~ Beta(alpha_s, beta_s + n)`` for an account that has
already survived ``n`` boundaries (the sBG posterior of its own rate), and at each month boundary the
account survives with probability ``(1 - theta_i) ** hr[t]``, ``hr`` the product of hazard ratios in
force (CSM coverage, unhealthy onboarding, go-to-market multiplier, and
``usage_decline_hazard_ratio`` at a boundary the account's own simulated usage makes declining,
by the churn fit's rule, :mod:`simengine.bookstats.churn_rules`, at the threshold the fit recorded:
``P_DECLINE_THRESHOLD``; ``anniversary_hazard_ratio_s`` at the account's contract anniversaries,
``I_CONTRACT``).  A book account's ``n`` is its exposure
``c (n + (h - 1) d + (g - 1) a + (h - 1)(g - 1) b)`` (``d`` declining, ``a`` anniversary, ``b``
both; :func:`~simengine.kernels.init.init_book_block`).  A new logo fails onboarding with
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
``renewal_ratio`` times the term's consumption.  Bookings of a new logo: see :func:`~simengine.kernels.init.init_logo_block`.

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

from simengine.kernels._jit import jit
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
    P_ANNIVERSARY_HR,
    P_CSM_HR,
    P_DECLINE_HR,
    P_DECLINE_THRESHOLD,
    P_RENEWAL_RATIO,
    P_SE_RATIO,
    P_TAIL_RATIO,
    P_TAIL_WEIGHT,
    P_UC_RAMP,
    P_UC_RATE,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    P_VOLATILITY,
    P_ZERO_PROB,
    RAMP_TABLE_MONTHS,
    RING_MONTHS,
    V_ACTIVE,
    V_NEW_USE_CASES,
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
    K_COUNT,
    K_LEAK,
    K_OVERAGE,
    K_REVENUE,
    churn_pass,
    cohort_pass,
    mixture_pass,
    month_pass,
    next_flag,
    normal_fixup,
    normal_pass,
    step_pass,
)
from simengine.kernels.ranges import (
    LANES,
    active_sum,
    add_sums,
    compact,
    count_waste,
    fill_holes,
    run_bounds,
)
from simengine.kernels.state import (
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
    I_CONTRACT,
    I_DATA_FROM,
    I_START,
    I_TERM,
    I_ZERO_GAP,
    J_ALIVE,
    J_COUNT,
    J_EXIST,
    J_GONE,
    J_ROW,
    NOT_GONE,
    R_USAGE,
    R_USE_CASE,
    R_ZERO,
    draw_new_logos,
    mean_first_year_ramp,
    ramp_tail_at,
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
    segment, k).  Every account has a position in its segment's block, in row order at the
    start of the draw; each month runs the passes of :mod:`simengine.kernels.passes` over each
    block's book range and logo range (a fixed order, so sums are reproducible), adds the
    month's sums into ``out[t]`` and marks the accounts that churned.  ``out``, ``cohort`` and
    ``coverage`` (this draw's slices) are filled in place, and ``acc_rec`` (book accounts x
    ``ACCOUNT_OUTPUTS``, or no rows: off) gets each book account's first-12-month record.  ``ws``
    is a :func:`workspace` (its contents on entry do not matter); returns it, or a larger one if
    this draw needed more room.  ``tmpl`` is the book's
    :func:`simengine.kernels.init.book_template`.
    """
    horizon, n_seg = out.shape[0], out.shape[1]
    cohort_months = cohort.shape[1]
    n_book = acc.segment.shape[0]
    record = acc_rec.shape[0] > 0

    season = np.empty((n_seg, 12))
    ramp_tails = np.zeros((n_seg, RAMP_TABLE_MONTHS + 1))  # 1 - ramp(k); 0 from the table's end
    q = np.empty(n_seg)
    decay = np.empty(n_seg)
    decay_q = np.empty(n_seg)
    mean_ramp = np.empty(n_seg)
    for s in range(n_seg):
        season_table(sp[s], season[s])
        for k in range(RAMP_TABLE_MONTHS):
            ramp_tails[s, k] = ramp_tail_at(sp[s], k)
        q[s] = math.exp(-1.0 / sp[s, P_UC_RAMP])
        decay[s] = math.exp(-sp[s, P_UNHEALTHY_DECAY])
        decay_q[s] = decay[s] * q[s]
        mean_ramp[s] = mean_first_year_ramp(sp[s])

    started_by = np.empty(horizon + 1, dtype=np.int64)
    counts = draw_new_logos(seed, draw, mp, out, started_by)
    n = n_book + started_by[horizon]
    if n > ws[0].shape[1]:
        ws = workspace(n + n // 4)
    st, it, rs, ring, uring, flag, scratch, contrib = ws
    # Every account has one position for the whole draw, field major (kernels.passes).  Each
    # segment owns the block ``block[s] .. block[s + 1] - 1``: its book accounts in row order,
    # then its logos in (start month, k) order.  So a pass over one block reads the segment's
    # values as scalars, the month's sums (per segment) add in an order fixed by the draw, and
    # the accounts in play in month t are a range: the book and the logos started by t
    # (``logos_by[t + 1, s]``) inside the horizon, past it the logos still inside their cohort
    # window.  A churned position stays in its range with ``alive`` 0 and contributes +0.0 until
    # it is squeezed out (kernels.ranges: that reorders the book's positions, not the logos').
    n_book_seg = np.zeros(n_seg, dtype=np.int64)
    for i in range(n_book):
        n_book_seg[acc.segment[i]] += 1
    logos_by = np.zeros((horizon + 1, n_seg), dtype=np.int64)
    for t in range(horizon):
        for s in range(n_seg):
            logos_by[t + 1, s] = logos_by[t, s] + counts[t, s]
    block = np.zeros(n_seg + 1, dtype=np.int64)
    for s in range(n_seg):
        block[s + 1] = block[s] + n_book_seg[s] + logos_by[horizon, s]
    log_season = np.empty(n_seg)
    mean_size = np.empty(n_seg)
    for s in range(n_seg):
        log_season[s] = math.log(season[s, (month_of_year0 + 11) % 12])
        mean_size[s] = math.exp(
            sp[s, P_UC_SIZE_MU] + 0.5 * sp[s, P_UC_SIZE_SIGMA] * sp[s, P_UC_SIZE_SIGMA]
        )
    for s in range(n_seg):  # kernels.init: the book's template, block by block
        init_book_block(tmpl, s, block[s], seed, draw, sp[s], log_season[s], mean_size[s], q[s],
                        st, it, rs, ring, uring)  # fmt: skip
    # The logos, straight into their positions: block by block, (start month, k) order.
    for s in range(n_seg):
        init_logo_block(block[s] + n_book_seg[s], seed, draw, s, 0, horizon, counts[:, s],
                        sp[s], mp[s], mean_ramp[s], out, st, it, rs, ring, uring)  # fmt: skip
    for s in range(n_seg):
        for p in range(block[s], block[s + 1]):
            it[J_GONE, p] = NOT_GONE
        for p in range(block[s] + n_book_seg[s], block[s + 1]):
            it[J_ROW, p] = -1  # a logo: no per-account record
            it[J_EXIST, p] = 0
            it[J_ALIVE, p] = 1
    end = horizon
    for t in range(horizon):
        for s in range(n_seg):
            if counts[t, s] > 0:
                end = max(end, t + cohort_months)
    dead = np.zeros(n_seg, dtype=np.int64)  # churned positions of each block (inside the horizon)
    book_end = block[:n_seg] + n_book_seg  # end of each block's book positions (they compact)
    win_lo = np.zeros(n_seg, dtype=np.int64)  # past the horizon: the logos in their window
    win_hi = np.zeros(n_seg, dtype=np.int64)
    # runs[s, t0] .. runs[s, t0 + 1] - 1: the positions of segment s's logos that started in
    # month t0 (their positions are fixed inside the horizon; past it run_bounds redoes them
    # after each compaction of the window, which keeps start order).
    runs = np.empty((n_seg, horizon + 1), dtype=np.int64)
    for s in range(n_seg):
        for t0 in range(horizon + 1):
            runs[s, t0] = block[s] + n_book_seg[s] + logos_by[t0, s]

    eps = scratch[0]
    revenue = scratch[2]  # past the horizon (cohort_pass)
    lanes = np.empty(LANES)  # add_sums' scratch
    contrib_rows = (contrib[0], contrib[1], contrib[2], contrib[3], contrib[4], contrib[5],
                    contrib[6], contrib[7], contrib[8], contrib[9], contrib[10])  # fmt: skip
    alive = it[J_ALIVE]
    gone = it[J_GONE]
    exist = it[J_EXIST]
    step = flag[G_STEP]
    churned = flag[G_CHURN]
    slow = flag[G_NORMAL_SLOW]
    use_case = flag[G_USE_CASE]
    skipped = flag[G_SKIPPED]
    active = flag[G_ACTIVE]
    churned_words = churned.view(np.uint64)
    slow_words = slow.view(np.uint64)
    use_case_words = use_case.view(np.uint64)
    skipped_words = skipped.view(np.uint64)

    csm_share = np.empty(n_seg)
    se_share = np.empty(n_seg)
    for t in range(end):
        m = min(t, horizon - 1)
        if t < horizon:
            # Coverage of month t from this draw's own book at the start of the month: the
            # survivors of t - 1 and the logos starting in t.
            n_live = 0
            for s in range(n_seg):
                n_live += n_book_seg[s] + logos_by[t + 1, s] - dead[s]
            csm_ratio = cap_csm[t] / n_live if n_live > 0 else math.inf
            se_ratio = cap_se[t] / n_live if n_live > 0 else math.inf
            coverage[t, C_CSM] = min(1.0, csm_ratio)
            coverage[t, C_SE] = min(1.0, se_ratio)
            for s in range(n_seg):
                csm_share[s] = min(mp[s, t, M_CSM_COVERAGE], csm_ratio)
                se_share[s] = min(mp[s, t, M_SE_COVERAGE], se_ratio)
        slot = (month_of_year0 + t) % 12
        for s in range(n_seg):
            logo0 = block[s] + n_book_seg[s]
            # Squeeze out positions that no longer count: in the horizon the book's (an account
            # churned within 12 months still counts: see passes.month_pass) once they are a
            # sixteenth of its range, by filling each hole from its end (one move per hole);
            # past the horizon the logos' (whose window is a suffix of them, in start order for
            # the cohort cells) once they are an eighth, keeping their order.
            if t < horizon:
                size = book_end[s] - block[s]
                if size > 0 and 16 * count_waste(t, block[s], book_end[s], alive, gone, 1) > size:
                    book_end[s] = fill_holes(t, block[s], book_end[s], st, it, rs, ring, uring)
            else:
                if t == horizon:
                    win_lo[s] = logo0
                    win_hi[s] = block[s + 1]
                while win_lo[s] < win_hi[s] and it[I_START, win_lo[s]] <= t - cohort_months:
                    win_lo[s] += 1  # left its cohort window
                size = win_hi[s] - win_lo[s]
                if size > 0 and 8 * count_waste(t, win_lo[s], win_hi[s], alive, gone, 0) > size:
                    win_hi[s] = compact(t, win_lo[s], win_hi[s], st, it, rs, ring, uring)
                    run_bounds(win_lo[s], win_hi[s], it[I_START], runs[s])
            ps = sp[s]
            mps = mp[s, m]
            for part in range(2):  # the book's positions, then the logos' in play
                if t < horizon:
                    lo, hi = (
                        (block[s], book_end[s])
                        if part == 0
                        else (logo0, logo0 + logos_by[t + 1, s])
                    )
                else:
                    lo, hi = (win_lo[s], win_hi[s]) if part == 1 else (0, 0)
                if lo >= hi:
                    continue
                # The boundary and the usage step: a normal step, or a normal scale mixture of the
                # same SD where the fit found heavy tails (usage_tail_weight > 0).
                volatility = ps[P_VOLATILITY]
                tail_weight = ps[P_TAIL_WEIGHT]
                intensity_plain = ps[P_UC_RATE] * mps[M_USE_CASE_MULT]
                intensity_supported = intensity_plain * ps[P_SE_RATIO]
                u7, u6, u5 = uring[(t - 7) % 8], uring[(t - 6) % 8], uring[(t - 5) % 8]
                u4, u3, u2 = uring[(t - 4) % 8], uring[(t - 3) % 8], uring[(t - 2) % 8]
                n_churn = churn_pass(t, lo, hi, alive, exist, it[I_START], it[I_DATA_FROM],
                                     it[I_CONTRACT], st[F_CUM_HAZARD], st[F_CHURN_RATE], st[F_THRESHOLD],
                                     st[F_HEALTH_HAZARD], st[F_U_CSM], u7, u6, u5, u4, u3, u2,
                                     mps[M_HAZARD_MULT], csm_share[s], ps[P_CSM_HR],
                                     ps[P_DECLINE_HR], math.exp(ps[P_DECLINE_THRESHOLD]),
                                     ps[P_ANNIVERSARY_HR], step, churned,
                                     active)  # fmt: skip
                p = lo
                for _ in range(n_churn):
                    p = next_flag(churned_words, churned, p, hi)
                    if t < horizon:
                        if exist[p] != 0 and record:
                            record_account_churn(st[F_COMMIT, p], st[F_CONSUMED, p], t,
                                               acc_rec[it[J_ROW, p]])  # fmt: skip
                        record_churn(st[F_LAST_REVENUE, p], st[F_COMMIT, p], st[F_CONSUMED, p], t, s,
                                   out)  # fmt: skip
                    alive[p] = 0
                    gone[p] = t
                    dead[s] += 1
                    p += 1

                # The usage step's noise: a unit normal, scaled by the mixture's component SDs
                # where the fit found heavy tails (usage_tail_weight > 0; eps then carries the
                # scale, narrow = SD / sqrt(1 - w + w k^2)).
                n_slow = normal_pass(lo, hi, step, rs[R_USAGE], eps, slow)
                if n_slow > 0:
                    normal_fixup(lo, hi, n_slow, rs[R_USAGE], eps, slow, slow_words)
                if tail_weight > 0.0:
                    ratio = ps[P_TAIL_RATIO]
                    narrow = volatility / math.sqrt(1.0 - tail_weight + tail_weight * ratio * ratio)
                    mixture_pass(lo, hi, step, rs[R_USAGE], eps, tail_weight, narrow,
                                 ratio * narrow)  # fmt: skip
                    volatility = 1.0
                n_use_case = step_pass(t, lo, hi, step, exist, it[I_BORN], eps, st[F_X], st[F_DRIFT],
                                       st[F_RAMP_TAIL], st[F_HEALTH], st[F_HEALTH_STEP],
                                       st[F_HEALTHY_RAMP], st[F_UNHEALTHY_LEVEL],
                                       st[F_UNHEALTHY_RAMP], st[F_HIST_RAMP], st[F_U_SE],
                                       st[F_UC_GAP], mps[M_DRIFT_SHIFT], volatility, ramp_tails[s],
                                       q[s], decay[s], decay_q[s], se_share[s], intensity_plain,
                                       intensity_supported, use_case)  # fmt: skip
                p = lo
                for _ in range(n_use_case):  # rare: most account-months start no use case
                    p = next_flag(use_case_words, use_case, p, hi)
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
                    p += 1

                if t < horizon:
                    n_skipped, n_active = month_pass(t, lo, hi, active, gone, it[I_BORN], it[I_ZERO_GAP], it[I_TERM], st[F_X],
                             st[F_RAMP_TAIL], st[F_HEALTH], st[F_HEALTHY_SIZE], st[F_HEALTHY_RAMP],
                             st[F_UNHEALTHY_LEVEL], st[F_UNHEALTHY_RAMP], st[F_HIST_SIZE],
                             st[F_HIST_RAMP], st[F_PRICE], st[F_COMMIT], st[F_CONSUMED],
                             st[F_CUR12], st[F_PREV12], st[F_LAST_REVENUE], ring[t % RING_MONTHS],
                             ring[(t - HISTORY_MONTHS) % RING_MONTHS], uring[t % 8],
                             season[s, slot], mps[M_PRICE_MULT], ps[P_RENEWAL_RATIO], skipped,
                             contrib_rows)  # fmt: skip
                else:
                    n_skipped = cohort_pass(t, lo, hi, active, it[I_ZERO_GAP], st[F_X], st[F_RAMP_TAIL], st[F_HEALTH],
                              st[F_HEALTHY_SIZE], st[F_HEALTHY_RAMP], st[F_UNHEALTHY_LEVEL],
                              st[F_UNHEALTHY_RAMP], st[F_PRICE], uring[t % 8], season[s, slot],
                              mps[M_PRICE_MULT], skipped, revenue)  # fmt: skip
                p = lo
                for _ in range(n_skipped):  # the hurdle: draw the gap to the next skipped month
                    p = next_flag(skipped_words, skipped, p, hi)
                    state, gap_zero = zero_month_gap(rs[R_ZERO, p], ps[P_ZERO_PROB])
                    rs[R_ZERO, p] = state
                    it[I_ZERO_GAP, p] = gap_zero
                    p += 1
                if t < horizon:
                    if record and t < ACCOUNT_MONTHS and part == 0:
                        for p in range(lo, hi):  # the book's positions
                            if active[p] != 0 and exist[p] != 0:
                                rec = acc_rec[it[J_ROW, p]]
                                rec[A_REVENUE_12M] += contrib[K_REVENUE, p]
                                rec[A_OVERAGE_12M] += contrib[K_OVERAGE, p]
                                rec[A_LEAK_12M] += contrib[K_LEAK, p]
                    add_sums(lo, hi, contrib_rows, part == 0, out[t, s], lanes)
                    out[t, s, V_ACTIVE] += n_active  # counts: whole numbers, exact in float64
                    out[t, s, V_ZERO_MONTHS] += n_skipped
        # The cohort cells of month t: a segment's logos of one start month are one run of
        # positions (runs), summed where active; the segments add into a cell in order.
        # Inside the horizon a logo's revenue is its contribution (0 where not active).
        if cohort_months > 0:
            month_revenue = contrib[K_REVENUE] if t < horizon else revenue
            for s in range(n_seg):
                for t0 in range(max(t - cohort_months + 1, 0), min(t + 1, horizon)):
                    a, b = runs[s, t0], runs[s, t0 + 1]
                    if a < b:
                        cohort[t0, t - t0] += active_sum(a, b, active, month_revenue)
    return ws


@jit
def workspace(n):
    """Arrays for one draw of up to ``n`` accounts (book and logos), reused draw after draw
    (every slot a draw reads it writes first): a fresh set per draw costs page faults, not
    arithmetic."""
    return (
        np.empty((F_COUNT, n)),  # state by position
        np.empty((J_COUNT, n), dtype=np.int64),
        np.empty((3, n), dtype=np.uint64),
        np.empty((RING_MONTHS, n)),
        np.empty((8, n)),
        np.zeros((G_COUNT, (n + 7) // 8 * 8), dtype=np.uint8),  # the month's flags
        np.empty((3, n)),  # normals (usage steps), -, revenue past the horizon
        np.zeros((K_COUNT, n)),  # contributions to the month's sums
    )


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
