"""An account's state at the start of a draw, and the rare events of its months.

The model is :mod:`simengine.kernels.account`'s docstring.  Here: the slots of an account's state
(``F_*`` floats, ``R_*`` streams, ``I_*`` integers; :mod:`simengine.kernels.init` fills them),
the segment's tables (season, ramp), the new-logo counts (:func:`draw_new_logos`) and the scalar handlers of rare events the month's passes flag:
use-case arrivals (:func:`start_use_cases`), churn records (:func:`record_churn`) and the zero-month
gaps (:func:`zero_month_gap`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import inline_jit, jit
from simengine.kernels.layout import (
    A_CHURN_MONTH,
    A_LEAK_12M,
    ACCOUNT_MONTHS,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
    P_RAMP0,
    P_SEASON0,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_PLATEAU,
    RAMP_TABLE_MONTHS,
    V_CHURNED,
    V_CHURNED_REVENUE,
    V_LEAK,
    V_NEW_LOGOS,
    V_NEW_USE_CASES,
)
from simengine.kernels.rng import (
    PURPOSE_NEW_LOGOS,
    next_normal,
    next_uniform,
    poisson_inverse,
    stream_key,
)

# One draw's account state by row, as the init functions write it (the month loop keeps it by
# position, field major: kernels.passes), its three random streams and its integers.
(
    F_X,  # log-usage level (season, ramp and health removed)
    F_DRIFT,  # g_s + b_i
    F_RAMP_TAIL,  # 1 - ramp(tenure) (ramp_tail_at)
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
# I_CONTRACT: the month the account's contract anniversaries count from, in horizon months
# (simengine.bookstats.churn_rules; a new logo's start month).
I_SEGMENT, I_START, I_TERM, I_BORN, I_DATA_FROM, I_ZERO_GAP, I_CONTRACT = range(7)
I_COUNT = 7
# By position only (kernels.passes): the account's row, 1 for a book account, 1 while in play,
# and the month it churned in (NOT_GONE while it has not): for 12 months after its churn an
# account stays in the year-ago and trailing-twelve-month bases (kernels.month_revenue.month_pass).
J_ROW, J_EXIST, J_ALIVE, J_GONE = I_COUNT, I_COUNT + 1, I_COUNT + 2, I_COUNT + 3
J_COUNT = I_COUNT + 4
NOT_GONE = 1 << 40


class Floats(NamedTuple):
    """One draw's float state by position: row ``F_<NAME>`` of the workspace's float storage is
    field ``<name>`` (the passes read the fields; set-up and compaction move whole rows)."""

    x: np.ndarray  # log-usage level (season, ramp and health removed)
    drift: np.ndarray  # g_s + b_i
    ramp_tail: np.ndarray  # 1 - ramp(tenure)
    health: np.ndarray  # health multiplier of the account's own consumption
    health_step: np.ndarray  # its monthly decay (1: healthy)
    health_hazard: np.ndarray  # unhealthy hazard ratio (1: healthy)
    churn_rate: np.ndarray  # -log(1 - theta): hazard per boundary at hazard ratio 1
    threshold: np.ndarray  # Exp(1) churn threshold (-1: fails onboarding)
    cum_hazard: np.ndarray  # cumulative hazard so far
    u_csm: np.ndarray  # fixed uniform of CSM coverage
    u_se: np.ndarray  # fixed uniform of SE / adoption support
    uc_gap: np.ndarray  # intensity left until the next use case
    healthy_size: np.ndarray  # sum of healthy use-case sizes
    healthy_ramp: np.ndarray  # their ramp gap sum m * q**age
    unhealthy_level: np.ndarray  # sum of unhealthy use-case levels (decaying)
    unhealthy_ramp: np.ndarray  # their ramp gap
    commit: np.ndarray  # annual commit (0: none)
    consumed: np.ndarray  # revenue consumed in the current term
    price: np.ndarray  # unit price (before the month's multiplier)
    last_revenue: np.ndarray  # revenue of the last month simulated
    cur12: np.ndarray  # revenue over the last 12 months
    prev12: np.ndarray  # revenue over the 12 months before those
    hist_size: np.ndarray  # book account: summed size of its use cases from before as_of
    hist_ramp: np.ndarray  # their remaining ramp gap


class Ints(NamedTuple):
    """One draw's integer state by position: row ``I_<NAME>`` / ``J_<NAME>`` of the workspace's
    integer storage is field ``<name>``."""

    segment: np.ndarray
    start: np.ndarray  # start month of a new logo (0 for book accounts)
    term: np.ndarray  # months into the commit's term
    born: np.ndarray  # start month in horizon months (negative for book accounts)
    data_from: np.ndarray  # first month with usage data
    zero_gap: np.ndarray  # active months left before the next skipped one
    contract: np.ndarray  # the month contract anniversaries count from
    row: np.ndarray  # book row (-1: a new logo)
    exist: np.ndarray  # 1 for a book account
    alive: np.ndarray  # 1 while in play
    gone: np.ndarray  # the month it churned in (NOT_GONE while it has not)


assert Floats._fields.index("hist_ramp") == F_HIST_RAMP and len(Floats._fields) == F_COUNT
assert Ints._fields.index("zero_gap") == I_ZERO_GAP and len(Ints._fields) == J_COUNT


class Storage(NamedTuple):
    """One draw's account state by position, field major, as set-up writes it and compaction
    moves it (:mod:`simengine.kernels.init`, :mod:`simengine.kernels.ranges`)."""

    st: np.ndarray  # (F_COUNT, positions) floats: Floats by name
    it: np.ndarray  # (J_COUNT, positions) integers: Ints by name
    rs: np.ndarray  # (3, positions) uint64 stream states: R_USAGE, R_USE_CASE, R_ZERO
    ring: np.ndarray  # (RING_MONTHS, positions) revenue of month u in row u % RING_MONTHS
    uring: np.ndarray  # (8, positions) usage of month u in row u % 8


@jit
def float_fields(st):
    """The :class:`Floats` view of float storage ``st`` (F_COUNT x positions): no copy."""
    return Floats(st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7], st[8], st[9], st[10],
                  st[11], st[12], st[13], st[14], st[15], st[16], st[17], st[18], st[19], st[20],
                  st[21], st[22], st[23])  # fmt: skip


@jit
def int_fields(it):
    """The :class:`Ints` view of integer storage ``it`` (J_COUNT x positions): no copy."""
    return Ints(it[0], it[1], it[2], it[3], it[4], it[5], it[6], it[7], it[8], it[9], it[10])


#: "Never": the zero-month gap of an account whose segment has zero_month_prob 0.
NO_ZERO_MONTH = 1 << 62
_NO_ZERO_F = float(NO_ZERO_MONTH)


@inline_jit
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
    # Clamped before the integer conversion: a gap past 2**62 (p below ~1e-17) would overflow it.
    return state, int(math.floor(min(math.log(u) / math.log1p(-p), _NO_ZERO_F)))


@jit
def season_table(p, out):
    """``out[m] = exp(season_m)``, the seasonal multiplier of month of year ``m`` (January = 0).

    ``p`` is one segment's parameter vector; horizon month ``t`` reads
    ``out[(month_of_year0 + t) % 12]``.
    """
    for m in range(12):
        out[m] = math.exp(p[P_SEASON0 + m])


@jit
def log_ramp_at(p, k):
    """``log ramp(k)`` of the onboarding ramp at tenure ``k`` from the table ``p[P_RAMP0 + k]``;
    0 (the plateau) from ``RAMP_TABLE_MONTHS`` on."""
    if k >= RAMP_TABLE_MONTHS:
        return 0.0
    return p[P_RAMP0 + k]


@jit
def ramp_tail_at(p, k):
    """``1 - ramp(k)``: the share of the plateau still to come at tenure ``k``."""
    return -math.expm1(log_ramp_at(p, k))


@jit
def mean_first_year_ramp(p):
    """``(1/12) sum_{k=0}^{11} ramp(k)``: a new logo's mean ramp over its first 12 months."""
    tail = 0.0
    for k in range(12):
        tail += ramp_tail_at(p, k)
    return 1.0 - tail / 12.0


@inline_jit
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


@inline_jit
def record_churn(last_revenue, commit, consumed, t, s, out):
    """An account churns at the boundary into month ``t`` (< horizon): its churn and its leak.

    ``last_revenue``, ``commit`` and ``consumed`` are the account's at the end of month ``t - 1``.
    It stays in the year-ago and trailing-twelve-month bases of months ``t .. t + 11`` (NRR's
    denominators, numerators 0): :func:`simengine.kernels.month_revenue.month_pass` carries it there
    from its own ring, as for an account in play with no revenue.
    """
    out[t, s, V_CHURNED] += 1.0
    out[t, s, V_CHURNED_REVENUE] += last_revenue
    if commit > 0.0:
        out[t, s, V_LEAK] += max(commit - consumed, 0.0)


@inline_jit
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
