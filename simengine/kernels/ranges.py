"""Ranges of positions in one draw's state: squeezing out the ones that no longer count, the
cohort runs, and the month's sums.

:func:`simulate_draw <simengine.kernels.account.simulate_draw>` runs each month's passes over
ranges of positions (:mod:`simengine.kernels.passes`).  A churned position stays in its range
until it no longer counts (:func:`counts <simengine.kernels.month_revenue.counts>`); these helpers
squeeze such positions out (:func:`fill_holes` for the book's range, one move per hole;
:func:`compact` for the logos' window past the horizon, which keeps start order), find the runs
of one start month's logos (:func:`run_bounds`) and add a range's contributions into the month's
sums in a fixed order (:func:`active_sum`, :func:`add_sums`).
"""

from __future__ import annotations

import numpy as np

from simengine.kernels._jit import inline_jit, jit, pass_jit
from simengine.kernels.layout import (
    RING_MONTHS,
    V_EXISTING_EXPANSION_REVENUE,
    V_EXPANSION_REVENUE,
    V_LEAK,
    V_NEW_LOGO_REVENUE,
    V_OVERAGE,
    V_RETAINED,
    V_RETAINED_CAPPED,
    V_RETENTION_BASE,
    V_REVENUE,
    V_TTM_BASE,
    V_TTM_RETAINED,
    V_TTM_RETAINED_CAPPED,
    V_USAGE,
)
from simengine.kernels.month_revenue import counts
from simengine.kernels.state import J_ALIVE, J_GONE


@pass_jit
def count_waste(t, lo, hi, alive, gone, ghosts):
    """Positions of ``lo .. hi - 1`` that no longer count in month ``t`` (:func:`counts
    <simengine.kernels.month_revenue.counts>`)."""
    n = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        n += 0 if counts(t, alive[p] != 0, gone[p], ghosts != 0) else 1
    return n


@jit
def fill_holes(t, lo, hi, st, it, rs, ring, uring):
    """Squeeze the positions of ``lo .. hi - 1`` that no longer count (:func:`count_waste`, with
    ghosts) out by moving the last ones that do into the first holes; return the new end.

    One move per hole (:func:`compact` moves every position past the first hole), so the book
    can be compacted often.  It reorders the range, which changes only the order the month's
    sums add in: fixed by the draw, so still reproducible, and the book's accounts do not
    depend on the logos'.
    """
    alive = it[J_ALIVE]
    gone = it[J_GONE]
    a = lo
    b = hi - 1
    while True:
        while a <= b and counts(t, alive[a] != 0, gone[a], True):
            a += 1
        while b > a and not counts(t, alive[b] != 0, gone[b], True):
            b -= 1
        if a >= b:
            return a
        move(a, b, st, it, rs, ring, uring, True)
        a += 1
        b -= 1


@inline_jit
def move(to, p, st, it, rs, ring, uring, with_ring):
    """Copy position ``p``'s state to position ``to`` (its revenue ring only ``with_ring``)."""
    for f in range(st.shape[0]):
        st[f, to] = st[f, p]
    for f in range(it.shape[0]):
        it[f, to] = it[f, p]
    for f in range(rs.shape[0]):
        rs[f, to] = rs[f, p]
    if with_ring:
        for u in range(RING_MONTHS):
            ring[u, to] = ring[u, p]
    for u in range(8):
        uring[u, to] = uring[u, p]


@jit
def compact(t, lo, hi, st, it, rs, ring, uring):
    """Squeeze the positions of the logos' window ``lo .. hi - 1`` past the horizon that no longer
    count (:func:`count_waste` without ghosts: churned) out, keeping the others in order; return
    the end of those kept.  The revenue ring stays behind: nothing reads it past the horizon."""
    alive = it[J_ALIVE]
    gone = it[J_GONE]
    kept = lo
    for p in range(lo, hi):
        if not counts(t, alive[p] != 0, gone[p], False):
            continue
        if kept != p:
            move(kept, p, st, it, rs, ring, uring, False)
        kept += 1
    return kept


@jit
def run_bounds(lo, hi, start, runs):
    """``runs[t0]``: the first position of ``lo .. hi - 1`` (in start month order) whose logo
    started in month ``t0`` or later (``hi`` if none)."""
    p = lo
    for t0 in range(runs.shape[0] - 1):
        while p < hi and start[p] < t0:
            p += 1
        runs[t0] = p
    runs[runs.shape[0] - 1] = hi


@inline_jit
def active_sum(lo, hi, active, values):
    """Sum of ``values[p]`` over the active positions of ``lo .. hi - 1``: four partial sums
    (positions ``p = lo + 4j + r`` into the ``r``-th), added ``(a0 + a1) + (a2 + a3)`` -- a fixed
    order, so the result is reproducible, and four chains of additions overlap."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    n = hi - lo
    k = 0
    while k + 4 <= n:
        p = np.uintp(lo + k)
        a0 += values[p] if active[p] != 0 else 0.0
        a1 += values[p + 1] if active[p + 1] != 0 else 0.0
        a2 += values[p + 2] if active[p + 2] != 0 else 0.0
        a3 += values[p + 3] if active[p + 3] != 0 else 0.0
        k += 4
    while k < n:
        p = np.uintp(lo + k)
        a0 += values[p] if active[p] != 0 else 0.0
        k += 1
    return (a0 + a1) + (a2 + a3)


#: Lanes of :func:`lane_sum`: position ``lo + j`` adds into lane ``j % LANES``.
LANES = 64


@pass_jit
def lane_add(row, lo, hi, lanes):
    """``lanes[j] += row[lo + j + LANES i]`` for every position of ``lo .. hi - 1``, lane by lane
    in position order: an element-wise loop over the lanes, so LLVM vectorises it (a sum in one
    accumulator is a chain of dependent additions it may not reorder)."""
    n = hi - lo
    k = 0
    while k + LANES <= n:
        base = np.uintp(lo + k)
        for j in range(LANES):
            lanes[np.uintp(j)] += row[base + np.uintp(j)]
        k += LANES
    base = np.uintp(lo + k)
    for j in range(n - k):
        lanes[np.uintp(j)] += row[base + np.uintp(j)]


@jit
def lane_sum(row, lo, hi, lanes):
    """Sum of ``row[lo:hi]``: :func:`lane_add` into ``lanes`` (``LANES`` scratch values), then
    the lanes folded in halves (lane ``j`` plus lane ``j + w`` for ``w`` = 32, 16, .., 1).  The
    order is fixed by ``hi - lo`` alone, so the sum is reproducible on any machine."""
    lanes[:] = 0.0
    lane_add(row, lo, hi, lanes)
    w = LANES // 2
    while w > 0:
        for j in range(w):
            lanes[j] = lanes[j] + lanes[j + w]
        w //= 2
    return lanes[0]


@jit
def add_sums(lo, hi, contrib, book, out_ts, lanes):
    """Add one range's per-position contributions (a :class:`~simengine.kernels.passes.Contrib`)
    into its month's outputs ``out_ts`` (each row
    by :func:`lane_sum`); ``book``: the range is the segment's book positions (their expansion
    revenue is the existing accounts'), else its logos' (their revenue is new-logo revenue).

    Positions not active this month contribute +0.0, so every position is added without a
    branch.
    """
    revenue = lane_sum(contrib.revenue, lo, hi, lanes)
    expansion = lane_sum(contrib.expansion, lo, hi, lanes)
    out_ts[V_REVENUE] += revenue
    out_ts[V_USAGE] += lane_sum(contrib.usage, lo, hi, lanes)
    out_ts[V_EXPANSION_REVENUE] += expansion
    out_ts[V_OVERAGE] += lane_sum(contrib.overage, lo, hi, lanes)
    out_ts[V_LEAK] += lane_sum(contrib.leak, lo, hi, lanes)
    if book:
        out_ts[V_EXISTING_EXPANSION_REVENUE] += expansion
    else:
        out_ts[V_NEW_LOGO_REVENUE] += revenue
    out_ts[V_RETENTION_BASE] += lane_sum(contrib.retention_base, lo, hi, lanes)
    out_ts[V_RETAINED] += lane_sum(contrib.retained, lo, hi, lanes)
    out_ts[V_RETAINED_CAPPED] += lane_sum(contrib.retained_capped, lo, hi, lanes)
    out_ts[V_TTM_BASE] += lane_sum(contrib.ttm_base, lo, hi, lanes)
    out_ts[V_TTM_RETAINED] += lane_sum(contrib.ttm_retained, lo, hi, lanes)
    out_ts[V_TTM_RETAINED_CAPPED] += lane_sum(contrib.ttm_retained_capped, lo, hi, lanes)
