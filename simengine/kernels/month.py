"""The steps of the month loop of :func:`simengine.kernels.account.simulate_draw` around its
passes: the month's coverage, which positions are in play and squeezing out the rest, and the
scalar work on the few accounts a pass flags (a churn, a use case that starts, a skipped month),
in position order; then the book's per-account record, the cohort cells and the logos' later
revenue.  All inlined."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import inline_jit
from simengine.kernels.layout import (
    A_LEAK_12M,
    A_OVERAGE_12M,
    A_REVENUE_12M,
    A_USE_CASES_12M,
    ACCOUNT_MONTHS,
    C_CSM,
    C_SE,
    LATER_FROM,
    LATER_TO,
    M_CSM_COVERAGE,
    M_SE_COVERAGE,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
    P_TAIL_RATIO,
    P_TAIL_WEIGHT,
    P_VOLATILITY,
    V_NEW_USE_CASES,
)
from simengine.kernels.passes import next_flag
from simengine.kernels.ranges import (
    active_sum,
    compact,
    count_waste,
    fill_holes,
    lane_sum,
    run_bounds,
)
from simengine.kernels.state import (
    record_account_churn,
    record_churn,
    start_use_cases,
    zero_month_gap,
)
from simengine.kernels.usage_step import (
    mixture_pass,
    normal_fixup,
    normal_pass,
)


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
    :func:`~simengine.kernels.month_revenue.month_pass`) once they are a sixteenth of its range, by
    filling each hole from its end (one move per hole); past the horizon the logos' (whose
    window is a suffix of them, in start order for the cohort cells) once they are an eighth,
    keeping their order.  ``store`` is the draw's :class:`~simengine.kernels.draw.Compaction`."""
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
    (:func:`~simengine.kernels.boundary.churn_pass`), in position order: its churn and leak into
    ``rec.out`` (and the per-account record), its position marked gone
    (:class:`~simengine.kernels.draw.ChurnRecord`)."""
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
    """The usage step's noise (:class:`~simengine.kernels.draw.Noise`): a unit normal for each
    stepping position, scaled by the mixture's component SDs where the usage fit found heavy tails.
    Returns the SD the step still multiplies it by: the segment's ``usage_volatility``, or 1 where
    ``eps`` already carries the mixture's scale (narrow = SD / sqrt(1 - w + w k^2), wide = k
    narrow)."""
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
    """Each of the ``n_use_case`` positions flagged by
    :func:`~simengine.kernels.usage_step.step_pass`, in position order: its use cases that start
    (:func:`~simengine.kernels.state.start_use_cases`, counted into ``out``), and the next gap on
    its intensity (:class:`~simengine.kernels.draw.UseCaseStarts`)."""
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
    order, the gap to its next skipped month (:class:`~simengine.kernels.draw.ZeroMonths`)."""
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


@inline_jit
def later_revenue(t, blocks, month_revenue, lanes, cohort_months):
    """Month ``t``'s revenue of the logos that started ``LATER_FROM .. LATER_TO - 1`` months
    before (and within ``cohort_months``): a segment's logos of those start months are one run
    of positions (``blocks.runs``, start order), summed by
    :func:`~simengine.kernels.ranges.lane_sum` (``month_revenue`` is 0 where not active); the
    segments add in order.

    It reads only what the cohort cells are made from, but not the cells themselves, so a run
    that keeps no cells sums the same bits."""
    horizon = blocks.counts.shape[0]
    first = max(t - min(cohort_months, LATER_TO) + 1, 0)
    stop = min(t - LATER_FROM + 1, horizon)
    total = 0.0
    if first < stop:
        runs = blocks.runs
        for s in range(runs.shape[0]):
            a, b = runs[s, first], runs[s, stop]
            if a < b:
                total += lane_sum(month_revenue, a, b, lanes)
    return total
