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
from typing import NamedTuple

import numba
import numpy as np
from numba import get_thread_id, prange

from simengine.kernels._jit import inline_jit, jit
from simengine.kernels.init import (
    BookSegment,
    BookTemplate,
    LogoRun,
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
    Outputs,
)
from simengine.kernels.passes import (
    BoundaryRates,
    Contrib,
    DeclineWindow,
    Flags,
    MonthInputs,
    StepRates,
    churn_fields,
    churn_pass,
    cohort_fields,
    cohort_pass,
    mixture_pass,
    month_fields,
    month_pass,
    next_flag,
    normal_fixup,
    normal_pass,
    step_fields,
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
from simengine.kernels.rng import draw_key
from simengine.kernels.state import (
    F_COUNT,
    J_COUNT,
    NOT_GONE,
    R_USAGE,
    R_USE_CASE,
    R_ZERO,
    Storage,
    draw_new_logos,
    float_fields,
    int_fields,
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

#: Rows of a workspace's flag and contribution storage.
_FLAG_ROWS = len(Flags._fields)
_CONTRIB_ROWS = len(Contrib._fields)


class DrawInputs(NamedTuple):
    """One draw's inputs (the draw's slices of :class:`~simengine.kernels.layout.Params` and
    :class:`~simengine.kernels.layout.Capacity`)."""

    seg_params: np.ndarray  # (segments, n_segment_params)
    month_params: np.ndarray  # (segments, horizon, n_month_params)
    cap_csm: np.ndarray  # (horizon,) accounts the CSM team can cover
    cap_se: np.ndarray  # (horizon,) ... the SE / adoption team
    month_of_year0: int  # month of year (January = 0) of horizon month 0


class SegmentTables(NamedTuple):
    """A draw's per-segment values that every month reads (:func:`segment_tables`)."""

    season: np.ndarray  # (segments, 12) season multiplier by month of year
    ramp_tails: np.ndarray  # (segments, RAMP_TABLE_MONTHS + 1) 1 - ramp(k), 0 from the table's end
    q: np.ndarray  # (segments,) the use-case ramp's monthly factor exp(-1 / r)
    decay: np.ndarray  # unhealthy use cases' monthly factor exp(-unhealthy_decay)
    decay_q: np.ndarray  # decay * q
    mean_ramp: np.ndarray  # a new logo's mean ramp over its first 12 months
    log_season: np.ndarray  # log season multiplier of the as_of month
    mean_size: np.ndarray  # expected use-case size exp(mu + sigma^2 / 2)


class Blocks(NamedTuple):
    """Where a draw's accounts sit (:func:`lay_out`) and which of them are in play.

    Segment ``s`` owns positions ``block[s] .. block[s + 1] - 1``: its book accounts in row order,
    then its logos in (start month, k) order, so a pass over one block reads the segment's values
    as scalars, the month's sums (per segment) add in an order fixed by the draw, and the
    accounts in play in month ``t`` are two ranges (:func:`play_range`).  A churned position stays
    in its range with ``alive`` 0 and contributes +0.0 until it is squeezed out
    (:func:`squeeze`)."""

    counts: np.ndarray  # (horizon, segments) new logos by start month
    n_book: np.ndarray  # (segments,) book accounts
    logos_by: np.ndarray  # (horizon + 1, segments) logos started before month t
    block: np.ndarray  # (segments + 1,) first position of each block
    book_end: np.ndarray  # (segments,) end of the book's positions (they compact)
    win_lo: np.ndarray  # (segments,) past the horizon: the logos still in their cohort window
    win_hi: np.ndarray
    runs: np.ndarray  # (segments, horizon + 1): runs[s, t0] first position of start month t0
    dead: np.ndarray  # (segments,) churned positions inside the horizon


class Draw(NamedTuple):
    """A workspace (:func:`workspace`) by name: the storage that set-up and compaction move
    whole, and the named views of it the passes read and write."""

    st: np.ndarray  # float storage (F_COUNT, positions)
    it: np.ndarray  # integer storage (J_COUNT, positions)
    rs: np.ndarray  # stream states (R_*, positions)
    ring: np.ndarray  # revenue of month u in row u % RING_MONTHS
    uring: np.ndarray  # usage of month u in row u % 8 (the decline rule's)
    fl: object  # Floats view of st
    ints: object  # Ints view of it
    flags: object  # Flags
    contrib: object  # Contrib
    noise: object  # Noise: the usage steps' normals
    revenue: np.ndarray  # revenue past the horizon (cohort_pass)
    lanes: np.ndarray  # add_sums' scratch
    churn_io: object  # passes.ChurnFields: what churn_pass reads and writes
    step_io: object  # passes.StepFields
    month_io: object  # passes.MonthFields
    cohort_io: object  # passes.CohortFields
    use_cases: object  # UseCaseStarts: what a use case that starts reads and writes
    zero_months: object  # ZeroMonths: what the hurdle's next gap reads and writes


class Noise(NamedTuple):
    """The usage step's noise: each position's normal ``eps`` drawn from its usage stream
    ``state`` where ``step`` is set; ``slow`` flags (and ``slow_words``, their uint64 view) the
    normals the ziggurat's fast path left to :func:`~simengine.kernels.passes.normal_fixup`."""

    step: np.ndarray  # Flags.step
    state: np.ndarray  # usage stream states (rs[R_USAGE])
    eps: np.ndarray
    slow: np.ndarray  # Flags.normal_slow
    slow_words: np.ndarray


class ChurnRecord(NamedTuple):
    """What :func:`record_churned` reads and writes of the accounts that churned at a boundary
    (``churned``, ``Flags.churn``, and ``words``, its uint64 view), and where it records them."""

    churned: np.ndarray
    words: np.ndarray
    last_revenue: np.ndarray
    commit: np.ndarray
    consumed: np.ndarray
    exist: np.ndarray
    row: np.ndarray
    alive: np.ndarray
    gone: np.ndarray
    dead: np.ndarray  # Blocks.dead
    out: np.ndarray  # Outputs.out
    accounts: np.ndarray  # Outputs.accounts


class UseCaseStarts(NamedTuple):
    """What :func:`start_flagged_use_cases` reads and writes of the positions flagged
    ``use_case`` (``words``: its uint64 view)."""

    use_case: np.ndarray
    words: np.ndarray
    state: np.ndarray  # use-case stream states (rs[R_USE_CASE])
    u_se: np.ndarray
    uc_gap: np.ndarray
    healthy_size: np.ndarray
    healthy_ramp: np.ndarray
    unhealthy_level: np.ndarray
    unhealthy_ramp: np.ndarray
    exist: np.ndarray
    row: np.ndarray


class ZeroMonths(NamedTuple):
    """What :func:`draw_zero_gaps` reads and writes of the positions flagged ``skipped``."""

    skipped: np.ndarray
    words: np.ndarray
    state: np.ndarray  # zero-month stream states (rs[R_ZERO])
    zero_gap: np.ndarray


class Compaction(NamedTuple):
    """What squeezing a range reads (``alive``, ``gone``, ``start``) and moves (the storage)."""

    st: np.ndarray
    it: np.ndarray
    rs: np.ndarray
    ring: np.ndarray
    uring: np.ndarray
    alive: np.ndarray
    gone: np.ndarray
    start: np.ndarray


class Shares(NamedTuple):
    """The month's coverage shares by segment: CSM and SE / adoption support."""

    csm: np.ndarray
    se: np.ndarray


class Span(NamedTuple):
    """One range of positions a month's passes run over: month ``t`` (``m``: the month whose
    parameters hold, the horizon's last past it), segment ``s``, positions ``lo .. hi - 1``."""

    t: int
    s: int
    m: int
    lo: int
    hi: int


@jit
def simulate_draw(seed, draw, book, tmpl, inputs, outs, ws):
    """One draw: every account of the book and every new logo, months outer, accounts inner.

    Accounts are rows ``0 .. n_book - 1`` (book order) then the new logos by (start month,
    segment, k).  Every account has a position in its segment's block (:class:`Blocks`); each
    month runs the passes of :mod:`simengine.kernels.passes` over each block's book range and
    logo range (a fixed order, so sums are reproducible), in the model's order: the boundary
    (:func:`~simengine.kernels.passes.churn_pass`, then :func:`record_churned`), the usage step
    (:func:`usage_noise`, :func:`~simengine.kernels.passes.step_pass`,
    :func:`start_flagged_use_cases`), the month's usage and revenue
    (:func:`~simengine.kernels.passes.month_pass` or, past the horizon,
    :func:`~simengine.kernels.passes.cohort_pass`; :func:`draw_zero_gaps`) and its sums; then
    the cohort cells (:func:`cohort_cells`).

    Each pass and helper gets the named tuples of what it reads and writes, bound once a draw
    before the month loop: numba counts a reference to every array of a tuple bound inside the
    loop, so a helper handed the whole :class:`Draw` (~120 arrays) per month, segment and range
    spent a fifth of the kernel's time on reference counts.  The helpers are inlined
    (``inline_jit``).

    Parameters
    ----------
    seed, draw : uint64, int
        Key every random stream with the account and the purpose.
    book : layout.Accounts
        The accounts active at ``as_of``.
    tmpl : init.BookTemplate
        The book's :func:`~simengine.kernels.init.book_template`.
    inputs : DrawInputs
        This draw's parameters and capacity.
    outs : layout.Outputs
        This draw's slices, filled in place: ``out`` (horizon, segments, outputs), ``cohort``,
        ``coverage`` and ``accounts`` (book accounts x ``ACCOUNT_OUTPUTS``, or no rows: off), each
        book account's first-12-month record.
    ws : tuple
        A :func:`workspace` (its contents on entry do not matter).

    Returns the workspace, or a larger one if this draw needed more room.
    """
    out, acc_rec = outs.out, outs.accounts
    horizon, n_seg = out.shape[0], out.shape[1]
    cohort_months = outs.cohort.shape[1]
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
            cohort_cells(t, blocks, active, month_revenue, outs.cohort)
    return ws


@jit
def segment_tables(sp, month_of_year0):
    """The :class:`SegmentTables` of one draw's segment parameters ``sp`` (segments x P_*)."""
    n_seg = sp.shape[0]
    season = np.empty((n_seg, 12))
    ramp_tails = np.zeros((n_seg, RAMP_TABLE_MONTHS + 1))
    q = np.empty(n_seg)
    decay = np.empty(n_seg)
    decay_q = np.empty(n_seg)
    mean_ramp = np.empty(n_seg)
    log_season = np.empty(n_seg)
    mean_size = np.empty(n_seg)
    for s in range(n_seg):
        season_table(sp[s], season[s])
        for k in range(RAMP_TABLE_MONTHS):
            ramp_tails[s, k] = ramp_tail_at(sp[s], k)
        q[s] = math.exp(-1.0 / sp[s, P_UC_RAMP])
        decay[s] = math.exp(-sp[s, P_UNHEALTHY_DECAY])
        decay_q[s] = decay[s] * q[s]
        mean_ramp[s] = mean_first_year_ramp(sp[s])
        log_season[s] = math.log(season[s, (month_of_year0 + 11) % 12])
        mean_size[s] = math.exp(
            sp[s, P_UC_SIZE_MU] + 0.5 * sp[s, P_UC_SIZE_SIGMA] * sp[s, P_UC_SIZE_SIGMA]
        )
    return SegmentTables(season, ramp_tails, q, decay, decay_q, mean_ramp, log_season, mean_size)


@jit
def draw_views(ws):
    """The :class:`Draw` of workspace ``ws``: named views, no copies."""
    st, it, rs, ring, uring, flag, scratch, contrib = ws
    fl, ints = float_fields(st), int_fields(it)
    flags = Flags(flag[0], flag[1], flag[2], flag[3], flag[4], flag[5])
    eps = scratch[0]
    noise = Noise(flags.step, rs[R_USAGE], eps, flags.normal_slow,
                  flags.normal_slow.view(np.uint64))  # fmt: skip
    use_cases = UseCaseStarts(flags.use_case, flags.use_case.view(np.uint64), rs[R_USE_CASE],
                              fl.u_se, fl.uc_gap, fl.healthy_size, fl.healthy_ramp,
                              fl.unhealthy_level, fl.unhealthy_ramp, ints.exist,
                              ints.row)  # fmt: skip
    zero_months = ZeroMonths(flags.skipped, flags.skipped.view(np.uint64), rs[R_ZERO],
                             ints.zero_gap)  # fmt: skip
    return Draw(
        st, it, rs, ring, uring, fl, ints, flags,
        Contrib(contrib[0], contrib[1], contrib[2], contrib[3], contrib[4], contrib[5],
                contrib[6], contrib[7], contrib[8], contrib[9], contrib[10]),
        noise, scratch[2], np.empty(LANES), churn_fields(fl, ints, flags),
        step_fields(fl, ints, flags, eps), month_fields(fl, ints, flags),
        cohort_fields(fl, ints, flags), use_cases, zero_months,
    )  # fmt: skip


@jit
def lay_out(book, counts):
    """The :class:`Blocks` of a draw with book ``book`` and new-logo ``counts`` (horizon x
    segments): each segment's book accounts, then its logos by start month."""
    horizon, n_seg = counts.shape[0], counts.shape[1]
    n_book = np.zeros(n_seg, dtype=np.int64)
    for i in range(book.segment.shape[0]):
        n_book[book.segment[i]] += 1
    logos_by = np.zeros((horizon + 1, n_seg), dtype=np.int64)
    for t in range(horizon):
        for s in range(n_seg):
            logos_by[t + 1, s] = logos_by[t, s] + counts[t, s]
    block = np.zeros(n_seg + 1, dtype=np.int64)
    for s in range(n_seg):
        block[s + 1] = block[s] + n_book[s] + logos_by[horizon, s]
    book_end = block[:n_seg] + n_book
    # The logos of one start month are one run of positions: fixed inside the horizon; past it
    # run_bounds redoes them after each compaction of the window, which keeps start order.
    runs = np.empty((n_seg, horizon + 1), dtype=np.int64)
    for s in range(n_seg):
        for t0 in range(horizon + 1):
            runs[s, t0] = block[s] + n_book[s] + logos_by[t0, s]
    return Blocks(
        counts, n_book, logos_by, block, book_end, np.zeros(n_seg, dtype=np.int64),
        np.zeros(n_seg, dtype=np.int64), runs, np.zeros(n_seg, dtype=np.int64),
    )  # fmt: skip


@jit
def init_draw(seed, draw, tmpl, inputs, tables, blocks, out, d):
    """Every account's state at the start of the draw, block by block: the book from its
    template (:func:`~simengine.kernels.init.init_book_block`), then the logos straight into
    their positions in (start month, k) order (:func:`~simengine.kernels.init.init_logo_block`,
    which books them into ``out``)."""
    sp, mp = inputs.seg_params, inputs.month_params
    block, n_book = blocks.block, blocks.n_book
    horizon, n_seg = blocks.counts.shape[0], blocks.counts.shape[1]
    dkey = draw_key(seed, draw)
    store = Storage(d.st, d.it, d.rs, d.ring, d.uring)
    for s in range(n_seg):
        seg = BookSegment(tables.log_season[s], tables.mean_size[s], tables.q[s])
        init_book_block(tmpl, s, block[s], dkey, sp[s], seg, store)
    for s in range(n_seg):
        run = LogoRun(s, 0, horizon, blocks.counts[:, s], tables.mean_ramp[s])
        init_logo_block(block[s] + n_book[s], dkey, run, sp[s], mp[s], out, store)
    ints = d.ints
    for s in range(n_seg):
        for p in range(block[s], block[s + 1]):
            ints.gone[p] = NOT_GONE
        for p in range(block[s] + n_book[s], block[s + 1]):
            ints.row[p] = -1  # a logo: no per-account record
            ints.exist[p] = 0
            ints.alive[p] = 1


@inline_jit
def cover_month(t, blocks, inputs, coverage, shares):
    """Coverage of month ``t`` from this draw's own book at the start of the month (the survivors
    of ``t - 1`` and the logos starting in ``t``): ``coverage[t]`` and each segment's
    ``shares``, ``min(planned coverage, capacity / active)``."""
    n_seg = shares.csm.shape[0]
    n_live = 0
    for s in range(n_seg):
        n_live += blocks.n_book[s] + blocks.logos_by[t + 1, s] - blocks.dead[s]
    csm_ratio = inputs.cap_csm[t] / n_live if n_live > 0 else math.inf
    se_ratio = inputs.cap_se[t] / n_live if n_live > 0 else math.inf
    coverage[t, C_CSM] = min(1.0, csm_ratio)
    coverage[t, C_SE] = min(1.0, se_ratio)
    mp = inputs.month_params
    for s in range(n_seg):
        shares.csm[s] = min(mp[s, t, M_CSM_COVERAGE], csm_ratio)
        shares.se[s] = min(mp[s, t, M_SE_COVERAGE], se_ratio)


@inline_jit
def squeeze(t, s, blocks, store, horizon, cohort_months):
    """Squeeze out segment ``s``'s positions that no longer count in month ``t``: in the horizon
    the book's (an account churned within 12 months still counts: see
    :func:`~simengine.kernels.passes.month_pass`) once they are a sixteenth of its range, by
    filling each hole from its end (one move per hole); past the horizon the logos' (whose
    window is a suffix of them, in start order for the cohort cells) once they are an eighth,
    keeping their order.  ``store`` is the draw's :class:`Compaction`."""
    block, win_lo, win_hi = blocks.block, blocks.win_lo, blocks.win_hi
    if t < horizon:
        size = blocks.book_end[s] - block[s]
        if size > 0 and 16 * count_waste(t, block[s], blocks.book_end[s], store.alive,
                                         store.gone, 1) > size:  # fmt: skip
            blocks.book_end[s] = fill_holes(t, block[s], blocks.book_end[s], store.st, store.it,
                                            store.rs, store.ring, store.uring)  # fmt: skip
    else:
        if t == horizon:
            win_lo[s] = block[s] + blocks.n_book[s]
            win_hi[s] = block[s + 1]
        start = store.start
        while win_lo[s] < win_hi[s] and start[win_lo[s]] <= t - cohort_months:
            win_lo[s] += 1  # left its cohort window
        size = win_hi[s] - win_lo[s]
        if size > 0 and 8 * count_waste(t, win_lo[s], win_hi[s], store.alive, store.gone, 0) > size:
            win_hi[s] = compact(t, win_lo[s], win_hi[s], store.st, store.it, store.rs, store.ring,
                                store.uring)  # fmt: skip
            run_bounds(win_lo[s], win_hi[s], start, blocks.runs[s])


@inline_jit
def play_ranges(t, s, blocks, horizon):
    """Segment ``s``'s positions in play in month ``t``: its book's and its logos' started by
    ``t`` (``lo, hi`` each); past the horizon no book and only the logos still in their cohort
    window."""
    if t < horizon:
        logo0 = blocks.block[s] + blocks.n_book[s]
        return blocks.block[s], blocks.book_end[s], logo0, logo0 + blocks.logos_by[t + 1, s]
    return 0, 0, blocks.win_lo[s], blocks.win_hi[s]


@inline_jit
def record_churned(span, n_churn, rec):
    """Each of the ``n_churn`` accounts that churned at the boundary into month ``span.t``
    (:func:`~simengine.kernels.passes.churn_pass`), in position order: its churn and leak into
    ``rec.out`` (and the per-account record), its position marked gone (:class:`ChurnRecord`)."""
    t, s, m, lo, hi = span
    churned, words, exist, row = rec.churned, rec.words, rec.exist, rec.row
    last_revenue, commit, consumed = rec.last_revenue, rec.commit, rec.consumed
    alive, gone, dead, out, acc_rec = rec.alive, rec.gone, rec.dead, rec.out, rec.accounts
    record = acc_rec.shape[0] > 0
    p = lo
    for _ in range(n_churn):
        p = next_flag(words, churned, p, hi)
        if t < out.shape[0]:
            if exist[p] != 0 and record:
                record_account_churn(commit[p], consumed[p], t, acc_rec[row[p]])
            record_churn(last_revenue[p], commit[p], consumed[p], t, s, out)
        alive[p] = 0
        gone[p] = t
        dead[s] += 1
        p += 1


@inline_jit
def usage_noise(lo, hi, ps, noise):
    """The usage step's noise (:class:`Noise`): a unit normal for each stepping position, scaled
    by the mixture's component SDs where the usage fit found heavy tails.  Returns the SD the
    step still multiplies it by: the segment's ``usage_volatility``, or 1 where ``eps`` already
    carries the mixture's scale (narrow = SD / sqrt(1 - w + w k^2), wide = k narrow)."""
    step, state, eps, slow = noise.step, noise.state, noise.eps, noise.slow
    volatility = ps[P_VOLATILITY]
    tail_weight = ps[P_TAIL_WEIGHT]
    n_slow = normal_pass(lo, hi, step, state, eps, slow)
    if n_slow > 0:
        normal_fixup(lo, hi, n_slow, state, eps, slow, noise.slow_words)
    if tail_weight > 0.0:
        ratio = ps[P_TAIL_RATIO]
        narrow = volatility / math.sqrt(1.0 - tail_weight + tail_weight * ratio * ratio)
        mixture_pass(lo, hi, step, state, eps, tail_weight, narrow, ratio * narrow)
        volatility = 1.0
    return volatility


@inline_jit
def start_flagged_use_cases(span, n_use_case, uc, ps, mps, rates, out, acc_rec):
    """Each of the ``n_use_case`` positions flagged by :func:`~simengine.kernels.passes.step_pass`,
    in position order: its use cases that start (:func:`~simengine.kernels.state.start_use_cases`,
    counted into ``out``), and the next gap on its intensity (:class:`UseCaseStarts`)."""
    t, s, m, lo, hi = span
    use_case, words, state, u_se, uc_gap = uc.use_case, uc.words, uc.state, uc.u_se, uc.uc_gap
    healthy_size, healthy_ramp = uc.healthy_size, uc.healthy_ramp
    unhealthy_level, unhealthy_ramp = uc.unhealthy_level, uc.unhealthy_ramp
    exist, row = uc.exist, uc.row
    record = acc_rec.shape[0] > 0
    se_share, q = rates.se_share, rates.q
    p = lo
    for _ in range(n_use_case):
        p = next_flag(words, use_case, p, hi)
        supported = u_se[p] < se_share
        intensity = rates.intensity_supported if supported else rates.intensity_plain
        unhealthy = mps[M_UC_UNHEALTHY_COVERED] if supported else mps[M_UC_UNHEALTHY_UNCOVERED]
        cases_before = out[t, s, V_NEW_USE_CASES] if t < out.shape[0] else 0.0
        (new_state, gap, intensity, healthy_size[p], healthy_ramp[p], unhealthy_level[p],
         unhealthy_ramp[p]) = start_use_cases(
            state[p], uc_gap[p], intensity, healthy_size[p], healthy_ramp[p],
            unhealthy_level[p], unhealthy_ramp[p], ps, unhealthy, q, out, t, s,
        )  # fmt: skip
        state[p] = new_state
        uc_gap[p] = gap - intensity
        if exist[p] != 0 and record and t < ACCOUNT_MONTHS:
            # start_use_cases counts into out[t, s] directly: the difference is this
            # account's (whole numbers, exact in float64).
            acc_rec[row[p], A_USE_CASES_12M] += out[t, s, V_NEW_USE_CASES] - cases_before
        p += 1


@inline_jit
def draw_zero_gaps(lo, hi, n_skipped, zm, zero_prob):
    """The hurdle: for each of the ``n_skipped`` positions that skipped this month, in position
    order, the gap to its next skipped month (:class:`ZeroMonths`)."""
    skipped, words, state, zero_gap = zm.skipped, zm.words, zm.state, zm.zero_gap
    p = lo
    for _ in range(n_skipped):
        p = next_flag(words, skipped, p, hi)
        new_state, gap_zero = zero_month_gap(state[p], zero_prob)
        state[p] = new_state
        zero_gap[p] = gap_zero
        p += 1


@inline_jit
def record_book_month(lo, hi, active, exist, row, contrib, acc_rec):
    """The book's positions ``lo .. hi - 1`` of a month in the first 12: each active book
    account's revenue, overage and leak (:class:`~simengine.kernels.passes.Contrib`) into its
    per-account record."""
    revenue, overage, leak = contrib.revenue, contrib.overage, contrib.leak
    for p in range(lo, hi):
        if active[p] != 0 and exist[p] != 0:
            rec = acc_rec[row[p]]
            rec[A_REVENUE_12M] += revenue[p]
            rec[A_OVERAGE_12M] += overage[p]
            rec[A_LEAK_12M] += leak[p]


@inline_jit
def cohort_cells(t, blocks, active, month_revenue, cohort):
    """The cohort cells of month ``t``: a segment's logos of one start month are one run of
    positions (``blocks.runs``), summed where ``active``; the segments add into a cell in order.
    Inside the horizon a logo's revenue is its contribution (0 where not active)."""
    horizon = blocks.counts.shape[0]
    cohort_months = cohort.shape[1]
    runs = blocks.runs
    for s in range(blocks.n_book.shape[0]):
        for t0 in range(max(t - cohort_months + 1, 0), min(t + 1, horizon)):
            a, b = runs[s, t0], runs[s, t0 + 1]
            if a < b:
                cohort[t0, t - t0] += active_sum(a, b, active, month_revenue)


@jit
def workspace(n):
    """Arrays for one draw of up to ``n`` accounts (book and logos), reused draw after draw
    (every slot a draw reads it writes first): a fresh set per draw costs page faults, not
    arithmetic."""
    return (
        np.empty((F_COUNT, n)),  # state by position (Floats)
        np.empty((J_COUNT, n), dtype=np.int64),  # (Ints)
        np.empty((3, n), dtype=np.uint64),  # stream states (R_*)
        np.empty((RING_MONTHS, n)),
        np.empty((8, n)),
        np.zeros((_FLAG_ROWS, (n + 7) // 8 * 8), dtype=np.uint8),  # the month's Flags
        np.empty((3, n)),  # normals (usage steps), -, revenue past the horizon
        np.zeros((_CONTRIB_ROWS, n)),  # contributions to the month's sums (Contrib)
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
            seed, draw_start + j, book, tmpl,
            DrawInputs(params.seg_params[j], params.month_params[j], capacity.csm[j],
                       capacity.se[j], month_of_year0),
            Outputs(outputs.out[j], outputs.cohort[j], outputs.coverage[j],
                    outputs.accounts[j * step]),
            ws,
        )  # fmt: skip
