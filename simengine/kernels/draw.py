"""One draw's set-up: its inputs and per-segment tables, where its accounts sit (:class:`Blocks`),
its workspace by name (:class:`Draw` and the named tuples each pass and helper of the month loop
reads and writes) and every account's state at the start of the draw (:func:`init_draw`)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import jit
from simengine.kernels.boundary import (
    churn_fields,
)
from simengine.kernels.init import BookSegment, init_book_block
from simengine.kernels.init_logos import LogoRun, init_logo_block
from simengine.kernels.layout import (
    P_UC_RAMP,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UNHEALTHY_DECAY,
    RAMP_TABLE_MONTHS,
    RING_MONTHS,
)
from simengine.kernels.month_revenue import (
    cohort_fields,
    month_fields,
)
from simengine.kernels.passes import Contrib, Flags
from simengine.kernels.ranges import (
    LANES,
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
    float_fields,
    int_fields,
    mean_first_year_ramp,
    ramp_tail_at,
    season_table,
)
from simengine.kernels.usage_step import (
    step_fields,
)

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
    churn_io: object  # boundary.ChurnFields: what churn_pass reads and writes
    step_io: object  # usage_step.StepFields
    month_io: object  # month_revenue.MonthFields
    cohort_io: object  # month_revenue.CohortFields
    use_cases: object  # UseCaseStarts: what a use case that starts reads and writes
    zero_months: object  # ZeroMonths: what the hurdle's next gap reads and writes


class Noise(NamedTuple):
    """The usage step's noise: each position's normal ``eps`` drawn from its usage stream
    ``state`` where ``step`` is set; ``slow`` flags (and ``slow_words``, their uint64 view) the
    normals the ziggurat's fast path left to :func:`~simengine.kernels.usage_step.normal_fixup`."""

    step: np.ndarray  # Flags.step
    state: np.ndarray  # usage stream states (rs[R_USAGE])
    eps: np.ndarray
    slow: np.ndarray  # Flags.normal_slow
    slow_words: np.ndarray


class ChurnRecord(NamedTuple):
    """What :func:`~simengine.kernels.month.record_churned` reads and writes of the accounts that
    churned at a boundary (``churned``, ``Flags.churn``, and ``words``, its uint64 view), and where
    it records them."""

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
    """What :func:`~simengine.kernels.month.start_flagged_use_cases` reads and writes of the
    positions flagged ``use_case`` (``words``: its uint64 view)."""

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
    """What :func:`~simengine.kernels.month.draw_zero_gaps` reads and writes of the positions
    flagged ``skipped``."""

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
    their positions in (start month, k) order (:func:`~simengine.kernels.init_logos.init_logo_block`,
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
