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
``renewal_ratio`` times the term's consumption.  Bookings of a new logo: see :func:`~simengine.kernels.init_logos.init_logo_block`.

Everything is aggregated per ``(month, segment)`` of the draw, so memory is ``draws x months x
segments`` plus one draw's account state per thread.  New logos of months past the horizon are not
simulated, but logos started inside it are followed for ``cohort_months`` months from their start
(past the horizon if need be) into ``cohort[draw, start_month, months_since_start]`` (unless
``cohort`` has no rows: followed, no cells kept), and their revenue in months ``LATER_FROM ..
LATER_TO - 1`` after their start is summed into ``later_revenue[draw]`` either way.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import get_thread_id, prange

from simengine.kernels._jit import jit
from simengine.kernels.boundary import (
    BoundaryRates,
    DeclineWindow,
    churn_pass,
)
from simengine.kernels.draw import (
    ChurnRecord,
    Compaction,
    DrawInputs,
    draw_views,
    init_draw,
    lay_out,
    segment_tables,
    workspace,
)
from simengine.kernels.init import (
    BookTemplate,
    book_template,
)
from simengine.kernels.layout import (
    ACCOUNT_MONTHS,
    HISTORY_MONTHS,
    M_DRIFT_SHIFT,
    M_HAZARD_MULT,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
    M_PRICE_MULT,
    M_USE_CASE_MULT,
    P_ANNIVERSARY_HR,
    P_CSM_HR,
    P_DECLINE_HR,
    P_DECLINE_THRESHOLD,
    P_RENEWAL_RATIO,
    P_SE_RATIO,
    P_UC_RATE,
    P_ZERO_PROB,
    RING_MONTHS,
    V_ACTIVE,
    V_ZERO_MONTHS,
    Outputs,
)
from simengine.kernels.month import (
    Shares,
    Span,
    cohort_cells,
    cover_month,
    draw_zero_gaps,
    later_revenue,
    play_ranges,
    record_book_month,
    record_churned,
    squeeze,
    start_flagged_use_cases,
    usage_noise,
)
from simengine.kernels.month_revenue import (
    MonthInputs,
    cohort_pass,
    month_pass,
)
from simengine.kernels.ranges import (
    add_sums,
)
from simengine.kernels.state import (
    draw_new_logos,
)
from simengine.kernels.usage_step import (
    StepRates,
    step_pass,
)

#: Workspaces :func:`simulate_draws` sets up, one per worker thread (numba's thread count when
#: the kernel was compiled; a thread beyond it allocates per draw).
MAX_THREADS = numba.config.NUMBA_NUM_THREADS


@jit
def simulate_draw(seed, draw, book, tmpl, inputs, outs, ws):
    """One draw: every account of the book and every new logo, months outer, accounts inner.

    Accounts are rows ``0 .. n_book - 1`` (book order) then the new logos by (start month, segment,
    k).  Every account has a position in its segment's block
    (:class:`~simengine.kernels.draw.Blocks`); each month runs the passes
    (:mod:`simengine.kernels.passes`) over each block's book range and logo range (a fixed order, so
    sums are reproducible), in the model's order: the boundary
    (:func:`~simengine.kernels.boundary.churn_pass`, then
    :func:`~simengine.kernels.month.record_churned`), the usage step
    (:func:`~simengine.kernels.month.usage_noise`, :func:`~simengine.kernels.usage_step.step_pass`,
    :func:`~simengine.kernels.month.start_flagged_use_cases`), the month's usage and revenue
    (:func:`~simengine.kernels.month_revenue.month_pass` or, past the horizon,
    :func:`~simengine.kernels.month_revenue.cohort_pass`;
    :func:`~simengine.kernels.month.draw_zero_gaps`) and its sums; then the cohort cells
    (:func:`~simengine.kernels.month.cohort_cells`, when ``outs.cohort`` has rows) and the logos'
    later revenue (:func:`~simengine.kernels.month.later_revenue`).

    Each pass and helper (:mod:`simengine.kernels.month`, inlined) gets only the named tuples of
    what it reads and writes, bound once a draw before the month loop: numba counts a reference
    to every array of a tuple bound inside the loop or handed to an inlined helper, one atomic
    add per array each time, and the whole :class:`~simengine.kernels.draw.Draw` holds ~120.

    Parameters
    ----------
    seed, draw : uint64, int
        Key every random stream with the account and the purpose.
    book : layout.Accounts
        The accounts active at ``as_of``.
    tmpl : init.BookTemplate
        The book's :func:`~simengine.kernels.init.book_template`.
    inputs : draw.DrawInputs
        This draw's parameters and capacity.
    outs : layout.Outputs
        This draw's slices, filled in place: ``out`` (horizon, segments, outputs), ``cohort``
        (horizon or 0, cohort_months), ``coverage``, ``later_revenue`` (its one element) and
        ``accounts`` (book accounts x ``ACCOUNT_OUTPUTS``, or no rows: off), each
        book account's first-12-month record.
    ws : tuple
        A :func:`~simengine.kernels.draw.workspace` (its contents on entry do not matter).

    Returns the workspace, or a larger one if this draw needed more room.
    """
    out, acc_rec = outs.out, outs.accounts
    horizon, n_seg = out.shape[0], out.shape[1]
    cohort_months = outs.cohort.shape[1]
    cells = outs.cohort.shape[0] > 0
    later = 0.0
    sp, mp = inputs.seg_params, inputs.month_params
    tables = segment_tables(sp, inputs.month_of_year0)
    started_by = np.empty(horizon + 1, dtype=np.int64)
    counts = draw_new_logos(seed, draw, mp, out, started_by)
    n = book.segment.shape[0] + started_by[horizon]
    if n > ws[0].shape[1]:
        ws = workspace(n + n // 4)
    d = draw_views(ws)
    blocks = lay_out(book, counts)
    init_draw(seed, draw, tmpl, inputs, tables, blocks, out, d)
    end = horizon
    for t in range(horizon):
        for s in range(n_seg):
            if counts[t, s] > 0:
                end = max(end, t + cohort_months)
    shares = Shares(np.empty(n_seg), np.empty(n_seg))
    # What the month loop reads, bound once a draw: numba counts a reference to every array of
    # a named tuple bound inside the loop (or handed to an inlined helper), one atomic add per
    # array each time, so the loop hands each pass and helper only the tuples it reads.
    ring, uring, contrib, noise, lanes = d.ring, d.uring, d.contrib, d.noise, d.lanes
    churn_io, step_io, month_io, cohort_io = d.churn_io, d.step_io, d.month_io, d.cohort_io
    use_cases, zero_months = d.use_cases, d.zero_months
    fl, ints, active = d.fl, d.ints, d.flags.active
    churned = ChurnRecord(d.flags.churn, d.flags.churn.view(np.uint64), fl.last_revenue,
                          fl.commit, fl.consumed, ints.exist, ints.row, ints.alive, ints.gone,
                          blocks.dead, out, acc_rec)  # fmt: skip
    compaction = Compaction(d.st, d.it, d.rs, ring, uring, ints.alive, ints.gone, ints.start)
    season, ramp_tails, q, decay, decay_q = (tables.season, tables.ramp_tails, tables.q,
                                             tables.decay, tables.decay_q)  # fmt: skip
    csm_share, se_share = shares.csm, shares.se
    record_book = acc_rec.shape[0] > 0
    for t in range(end):
        m = min(t, horizon - 1)
        if t < horizon:
            cover_month(t, blocks, inputs, outs.coverage, shares)
        slot = (inputs.month_of_year0 + t) % 12
        window = DeclineWindow(uring[(t - 7) % 8], uring[(t - 6) % 8], uring[(t - 5) % 8],
                               uring[(t - 4) % 8], uring[(t - 3) % 8],
                               uring[(t - 2) % 8])  # fmt: skip
        ring_now, ring_ago = ring[t % RING_MONTHS], ring[(t - HISTORY_MONTHS) % RING_MONTHS]
        usage_now = uring[t % 8]
        month_revenue = contrib.revenue if t < horizon else d.revenue
        for s in range(n_seg):
            squeeze(t, s, blocks, compaction, horizon, cohort_months)
            ps, mps = sp[s], mp[s, m]
            book_lo, book_hi, logo_lo, logo_hi = play_ranges(t, s, blocks, horizon)
            for part in range(2):  # the book's positions, then the logos' in play
                lo, hi = (book_lo, book_hi) if part == 0 else (logo_lo, logo_hi)
                if lo >= hi:
                    continue
                span = Span(t, s, m, lo, hi)
                # The boundary into month t: who churns, recorded in position order.
                rates = BoundaryRates(mps[M_HAZARD_MULT], csm_share[s], ps[P_CSM_HR],
                                      ps[P_DECLINE_HR], math.exp(ps[P_DECLINE_THRESHOLD]),
                                      ps[P_ANNIVERSARY_HR])  # fmt: skip
                n_churn = churn_pass(t, lo, hi, churn_io, window, rates)
                if n_churn > 0:
                    record_churned(span, n_churn, churned)
                # The usage step: its noise, the step, then the use cases that start.
                volatility = usage_noise(lo, hi, ps, noise)
                intensity_plain = ps[P_UC_RATE] * mps[M_USE_CASE_MULT]
                step = StepRates(mps[M_DRIFT_SHIFT], volatility, ramp_tails[s], q[s], decay[s],
                                 decay_q[s], se_share[s], intensity_plain,
                                 intensity_plain * ps[P_SE_RATIO])  # fmt: skip
                n_use_case = step_pass(t, lo, hi, step_io, step)
                if n_use_case > 0:  # rare: most account-months start no use case
                    start_flagged_use_cases(span, n_use_case, use_cases, ps, mps, step, out,
                                            acc_rec)  # fmt: skip
                # The month's usage and revenue, and the hurdle's next gaps.
                month = MonthInputs(ring_now, ring_ago, usage_now, season[s, slot],
                                    mps[M_PRICE_MULT], ps[P_RENEWAL_RATIO])  # fmt: skip
                n_active = 0
                if t < horizon:
                    n_skipped, n_active = month_pass(t, lo, hi, month_io, month, contrib)
                else:
                    n_skipped = cohort_pass(t, lo, hi, cohort_io, month, d.revenue)
                if n_skipped > 0:
                    draw_zero_gaps(lo, hi, n_skipped, zero_months, ps[P_ZERO_PROB])
                if t < horizon:
                    if record_book and t < ACCOUNT_MONTHS and part == 0:
                        record_book_month(lo, hi, active, ints.exist, ints.row, contrib, acc_rec)
                    add_sums(lo, hi, contrib, part == 0, out[t, s], lanes)
                    out[t, s, V_ACTIVE] += n_active  # counts: whole numbers, exact in float64
                    out[t, s, V_ZERO_MONTHS] += n_skipped
        if cohort_months > 0:
            if cells:
                cohort_cells(t, blocks, active, month_revenue, outs.cohort)
            later += later_revenue(t, blocks, month_revenue, lanes, cohort_months)
    outs.later_revenue[0] = later
    return ws


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
        ``out``, ``cohort``, ``coverage``, ``later_revenue`` and ``accounts`` of this chunk,
        zeroed on entry and filled in place (``cohort`` with no rows: no cohort cells;
        ``accounts`` with no account columns: no per-account record).

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
            seed, draw_start + j, book, tmpl,
            DrawInputs(params.seg_params[j], params.month_params[j], capacity.csm[j],
                       capacity.se[j], month_of_year0),
            Outputs(outputs.out[j], outputs.cohort[j], outputs.coverage[j],
                    outputs.later_revenue[j : j + 1], outputs.accounts[j * step]),
            ws,
        )  # fmt: skip
