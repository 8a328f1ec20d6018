"""Go-to-market staffing kernel: seats, attrition, backfill and ramp, per draw and month.

A role's plan is a list of **seats**: the starting headcount (seats open before month 0) and every
planned hire (a seat opening in its month).  Each seat has a chain of occupants.  An occupant leaves
after a geometric number of months (monthly attrition ``p``: sampled exactly from one uniform, the
event-time way), the seat stays empty for ``backfill_lag`` months, then a new occupant starts at
tenure 0.  An occupant at tenure ``k`` (0 in the hire month) is ``min(1, (k + 1) / ramp_months)``
productive; existing staff at month 0 are fully ramped.

Each seat draws from its own stream keyed by ``(seed, draw, role, seat key)``, the seat key being
``(open month, k-th seat opening that month)``, so adding a seat (more hires) never changes the path
of another: ramped capacity cannot fall when a plan hires more, under common random numbers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from simengine.kernels._jit import jit
from simengine.kernels.rng import next_uniform, purpose_key, stream_key

# Purpose of staffing streams; role numbers are offset so they never meet account numbers.
PURPOSE_STAFF = 6
ROLE_BASE = 1 << 50


@jit
def tenure_months(state, attrition):
    """Months an occupant stays (>= 1): geometric with monthly leaving probability ``attrition``."""
    state, u = next_uniform(state)
    if attrition <= 0.0:
        return state, 1 << 30
    if attrition >= 1.0:
        return state, 1
    return state, 1 + int(math.floor(math.log(u) / math.log1p(-attrition)))


@jit
def simulate_seat(seed, draw, role, seat_key, open_month, ramped_at_open, attrition, backfill_lag,
                  ramp_months, headcount, capacity):  # fmt: skip
    """Add one seat's occupancy to ``headcount[t]`` and its ramped capacity to ``capacity[t]``."""
    horizon = headcount.shape[0]
    key = stream_key(seed, draw, ROLE_BASE + (role << 32) + seat_key, 0)
    state = purpose_key(key, PURPOSE_STAFF)
    start = open_month
    tenure0 = ramp_months if ramped_at_open else 0.0
    while start < horizon:
        state, stay = tenure_months(state, attrition)
        end = min(start + stay, horizon)
        for t in range(max(start, 0), end):
            k = t - start
            headcount[t] += 1.0
            capacity[t] += min(1.0, (tenure0 + k + 1.0) / ramp_months)
        start = start + stay + backfill_lag
        tenure0 = 0.0


@jit(parallel=True)
def simulate_staffing(seed, seat_role, seat_key, seat_open, seat_ramped, attrition, backfill_lag, ramp_months,
                      headcount, capacity):  # fmt: skip
    """Headcount and ramped capacity by draw, month and role.

    Parameters
    ----------
    seed : uint64
    seat_role : ndarray of int64, shape (seats,)
        Role index of each seat.
    seat_key : ndarray of int64, shape (seats,)
        Stable identity of the seat within its role (see :func:`seat_keys`).
    seat_open : ndarray of int64, shape (seats,)
        Month the seat opens (negative: filled before the horizon).
    seat_ramped : ndarray of bool, shape (seats,)
        Whether the first occupant is already ramped when the horizon starts.
    attrition : ndarray, shape (draws, roles)
        Monthly probability that an occupant leaves.
    backfill_lag : ndarray of int64, shape (roles,)
        Months a seat stays empty after someone leaves.
    ramp_months : ndarray, shape (roles,)
        Months to full productivity (>= 1).
    headcount, capacity : ndarray, shape (draws, horizon, roles)
        Zeroed on entry; filled in place.
    """
    for d in prange(headcount.shape[0]):
        for j in range(seat_role.shape[0]):
            r = seat_role[j]
            simulate_seat(
                seed, d, r, seat_key[j], seat_open[j], seat_ramped[j], attrition[d, r],
                backfill_lag[r], ramp_months[r], headcount[d, :, r], capacity[d, :, r],
            )  # fmt: skip


def seat_keys(open_months: np.ndarray) -> np.ndarray:
    """Stable seat identities: ``(open month + 4096) * 4096 + k`` for the k-th seat of that month."""
    open_months = np.asarray(open_months, dtype=np.int64)
    keys = np.empty_like(open_months)
    seen: dict[int, int] = {}
    for j, m in enumerate(open_months.tolist()):
        k = seen.get(m, 0)
        seen[m] = k + 1
        keys[j] = (m + 4096) * 4096 + k
    return keys
