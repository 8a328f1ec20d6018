"""The helpers on ranges of positions (kernels.ranges): squeezing out positions that no longer
count, the runs of one start month's logos, and the month's sums in a fixed order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simengine.kernels.draw import workspace
from simengine.kernels.layout import HISTORY_MONTHS, RING_MONTHS
from simengine.kernels.ranges import LANES, compact, count_waste, fill_holes, lane_sum, run_bounds
from simengine.kernels.state import J_ALIVE, J_GONE, NOT_GONE


def _state(n, seed):
    """A workspace whose every slot of position ``p`` holds a value that names ``p`` (so a move
    can be traced), with random live / churned-when positions."""
    st, it, rs, ring, uring = workspace(n)[:5]
    rng = np.random.default_rng(seed)
    pos = np.arange(n)
    st[:] = pos + 0.25 * np.arange(st.shape[0])[:, None]
    it[:] = pos + 1000 * np.arange(it.shape[0])[:, None]
    rs[:] = (pos + 5000 * np.arange(rs.shape[0])[:, None]).astype(np.uint64)
    ring[:] = pos + 0.5 * np.arange(RING_MONTHS)[:, None]
    uring[:] = pos + 0.125 * np.arange(8)[:, None]
    alive = rng.random(n) < 0.7
    it[J_ALIVE] = alive
    # Churned 0..30 months before month 30: those within HISTORY_MONTHS still count (ghosts).
    it[J_GONE] = np.where(alive, NOT_GONE, 30 - rng.integers(0, 31, n))
    return st, it, rs, ring, uring


def _counting(t, it, lo, hi, ghosts):
    alive = it[J_ALIVE, lo:hi] != 0
    since = t - it[J_GONE, lo:hi]
    return alive | (ghosts & (since >= 0) & (since < HISTORY_MONTHS))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fill_holes_keeps_exactly_the_positions_that_count_with_their_whole_state(seed):
    n, lo, hi, t = 300, 17, 281, 30
    st, it, rs, ring, uring = _state(n, seed)
    before = [a.copy() for a in (st, it, rs, ring, uring)]
    keep = np.flatnonzero(_counting(t, it, lo, hi, True)) + lo
    assert 0 < count_waste(t, lo, hi, it[J_ALIVE], it[J_GONE], 1) == (hi - lo) - keep.size

    end = fill_holes(t, lo, hi, st, it, rs, ring, uring)

    assert end == lo + keep.size
    # Each kept position's state moved whole (every row), each exactly once, and nothing
    # outside the range was touched.
    moved_from = st[0, lo:end].astype(np.int64)
    assert sorted(moved_from) == sorted(keep)
    for a, b in zip((st, it, rs, ring, uring), before, strict=True):
        np.testing.assert_array_equal(a[:, lo:end], b[:, moved_from])
        np.testing.assert_array_equal(a[:, :lo], b[:, :lo])
        np.testing.assert_array_equal(a[:, hi:], b[:, hi:])
    # A kept position before the first hole does not move.
    first_hole = lo + int(np.argmin(_counting(t, before[1], lo, hi, True)))
    np.testing.assert_array_equal(moved_from[: first_hole - lo], np.arange(lo, first_hole))


def test_fill_holes_on_all_kept_and_all_dropped():
    n, t = 64, 30
    st, it, rs, ring, uring = _state(n, 3)
    it[J_ALIVE] = 1
    assert fill_holes(t, 0, n, st, it, rs, ring, uring) == n
    it[J_ALIVE] = 0
    it[J_GONE] = 0  # churned 30 months ago: no longer counts
    assert fill_holes(t, 5, n, st, it, rs, ring, uring) == 5


def test_compact_keeps_order_and_leaves_the_ring_without_ghosts():
    n, lo, hi, t = 200, 3, 190, 30
    st, it, rs, ring, uring = _state(n, 4)
    ring_before = ring.copy()
    keep = np.flatnonzero(_counting(t, it, lo, hi, False)) + lo
    end = compact(t, lo, hi, st, it, rs, ring, uring)
    assert end == lo + keep.size
    np.testing.assert_array_equal(st[0, lo:end], keep)  # in order
    np.testing.assert_array_equal(ring, ring_before)  # past the horizon nothing reads it


def test_run_bounds_after_a_compaction():
    start = np.array([0, 0, 2, 2, 2, 3, 5, 5], dtype=np.int64)
    runs = np.empty(7, dtype=np.int64)
    run_bounds(1, 7, start, runs)
    # First position (from 1) whose start month is >= t0; runs[6] the end.
    np.testing.assert_array_equal(runs, [1, 2, 2, 5, 6, 6, 7])


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 130, 1000])
def test_lane_sum_is_exact_on_whole_numbers_and_fixed_by_the_length(n):
    """Whole numbers below 2**40 add exactly in any order, so the lane sum equals the exact sum;
    and the same values give the same bits wherever the range sits (the order is set by the
    range's length only)."""
    rng = np.random.default_rng(n)
    values = rng.integers(0, 2**40, n).astype(np.float64)
    row = np.zeros(n + 200)
    row[37 : 37 + n] = values
    lanes = np.empty(LANES)
    assert lane_sum(row, 37, 37 + n, lanes) == float(sum(int(v) for v in values))
    fractions = rng.random(n)
    shifted = np.zeros(n + 300)
    row[37 : 37 + n] = fractions
    shifted[211 : 211 + n] = fractions
    a = lane_sum(row, 37, 37 + n, lanes)
    b = lane_sum(shifted, 211, 211 + n, lanes)
    assert a == b
    # Within a few rounding errors of the exact sum (n additions of values below 1).
    assert abs(a - math.fsum(fractions)) <= 4 * n * np.finfo(float).eps
