"""One month of one draw as passes over the accounts in play, struct-of-arrays.

:func:`simulate_draw <simengine.kernels.account.simulate_draw>` keeps every account's state by
*position*, field major, and hands it to a pass by name: ``fl.x[p]``
(:class:`~simengine.kernels.state.Floats`), ``ints.born[p]``
(:class:`~simengine.kernels.state.Ints`), the month's :class:`Flags` and :class:`Contrib`, and the
rings ``ring[u % 24, p]`` (revenue) and ``uring[u % 8, p]`` (usage).  Each of the vector passes
takes one named tuple of exactly the arrays it reads and writes (:class:`ChurnFields`,
:class:`StepFields`, :class:`MonthFields`, :class:`CohortFields`, built once per draw) and
unpacks it at its top, so its loop reads as the model (numba passes each array of a tuple as its
own argument, ``noalias`` included).  Each segment owns a block of positions: its book accounts
in row order, then
its new logos by start month, each initialised straight into its position.  A month runs over
two ranges of each block, the book's positions and the logos' in play (past the horizon only the
logos still inside their cohort window), with the segment's values as scalars, as a few passes:

1. :func:`churn_pass`: the boundary into month ``t`` (hazard ratios, the decline rule, the
   cumulative hazard against the threshold) and failed onboarding;
2. :func:`normal_pass`: the usage step's normal, the ziggurat's fast path for every stepping
   account (branch-free, so it vectorises), the rare tail / wedge lanes finished by
   :func:`normal_fixup` in a scalar second pass from the same stream: each account's normal is the
   same number :func:`simengine.kernels.rng.next_normal` returns;
3. :func:`step_pass`: the level, ramp, health and use-case ramp updates and the use-case trigger;
4. :func:`month_pass` (inside the horizon) or :func:`cohort_pass` (past it): ``exp`` of the level
   (:func:`vexp`), usage, zero months, revenue, commits, the trailing sums, and each account's
   contribution to the month's sums.

The common path of each pass is branch-free (selects, ``min``/``max``) over float64 / int64 lanes,
so LLVM vectorises it (AVX-512 on the machine measured).  Two things make that happen: the passes
are compiled with their array arguments ``noalias`` (:func:`simengine.kernels._jit.pass_jit`; the
caller passes distinct arrays or distinct rows), and positions are unsigned (``np.uintp``), so
numba's negative-index wraparound does not turn the index into a select LLVM cannot analyse.  The
rare events (churn, a use case, a skipped month, a tail normal) are flagged (uint8) and counted
per position and handled in scalar passes in position order (:func:`next_flag`), only when the
count is not zero.  Sums add in a fixed order, so the results do not depend on the thread count.
They agree with the NumPy oracle (``tests/kernels/oracle.py``) to its tests' tolerance:
:func:`vexp` is a few ulp from libm, and the 12-month sums run (:func:`month_pass`).

A churned position stays where it is with ``alive`` 0 (it contributes nothing) and, for the 12
months after its churn, still rolls its ring and trailing sums, which keeps it in the NRR bases
of those months.  :mod:`simengine.kernels.ranges` squeezes out the positions that no longer
count: the book's in the horizon once they are a sixteenth of its range (filling each hole from
its end, which reorders the book's positions), the logos' past it once they are an eighth
(keeping their start order; a logo's position is fixed until the horizon).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import inline_jit, jit, pass_jit
from simengine.kernels.layout import HISTORY_MONTHS
from simengine.kernels.rng import (
    GOLDEN,
    ZIG_K,
    ZIG_W,
    _normal_slow,
    mix64,
    next_normal,
    next_uniform,
)
from simengine.kernels.vmath import bits_f64

_M8 = np.uint64(0xFF)
_S8 = np.uint64(8)
_S9 = np.uint64(9)
_ONE = np.uint64(1)
_M52 = np.uint64((1 << 52) - 1)


class Contrib(NamedTuple):
    """Each position's contributions to the month's sums (0 where none), one row of the
    workspace each.  The month's active and zero-month counts are the passes' own counts, and
    its book-only and logo-only sums come from running the book's and the logos' positions as
    separate ranges (:func:`simengine.kernels.ranges.add_sums`)."""

    revenue: np.ndarray
    usage: np.ndarray
    expansion: np.ndarray
    overage: np.ndarray
    leak: np.ndarray
    retention_base: np.ndarray
    retained: np.ndarray
    retained_capped: np.ndarray
    ttm_base: np.ndarray
    ttm_retained: np.ndarray
    ttm_retained_capped: np.ndarray


class Flags(NamedTuple):
    """The month's per-position flags, uint8 0/1, one row of the workspace each, padded to a
    multiple of 8 so that a row reads as uint64 words (``row.view(np.uint64)``): :func:`next_flag`
    skips eight clear flags with one load."""

    step: np.ndarray  # survives the boundary and takes a usage step
    churn: np.ndarray  # churns at the boundary (or fails onboarding)
    normal_slow: np.ndarray  # the usage normal left the ziggurat's fast path
    use_case: np.ndarray  # a use case starts this month
    skipped: np.ndarray  # the month shows no usage (the hurdle)
    active: np.ndarray  # in play and not churned: it has a month


class BoundaryRates(NamedTuple):
    """A segment's hazard ratios at the boundary into one month (:func:`churn_pass`)."""

    hazard_mult: float  # the month's go-to-market multiplier
    csm_share: float  # the month's CSM coverage share
    csm_hr: float  # hazard ratio of a covered account
    decline_hr: float  # hazard ratio at a declining boundary
    decline_factor: float  # exp(decline threshold): the quarter ratio below which usage declines
    anniversary_hr: float  # hazard ratio at a contract anniversary


class DeclineWindow(NamedTuple):
    """Usage of months ``t - 7 .. t - 2`` (rows of the usage ring): the decline rule compares the
    quarter ``t - 4 .. t - 2`` with the one before it."""

    u7: np.ndarray
    u6: np.ndarray
    u5: np.ndarray
    u4: np.ndarray
    u3: np.ndarray
    u2: np.ndarray


class StepRates(NamedTuple):
    """A segment's values for the usage step into one month (:func:`step_pass`)."""

    drift_shift: float  # the month's drift shift
    volatility: float  # SD of the step's noise (1 where eps already carries the mixture's scale)
    ramp_tails: np.ndarray  # 1 - ramp(k) for k = 0 .. RAMP_TABLE_MONTHS, the last 0
    q: float  # the use-case ramp's monthly factor exp(-1 / r)
    decay: float  # the unhealthy use cases' monthly factor
    decay_q: float  # decay * q
    se_share: float  # the month's SE / adoption support share
    intensity_plain: float  # use-case intensity without support
    intensity_supported: float  # ... with it


class MonthInputs(NamedTuple):
    """What a month's usage and revenue read beyond the accounts' state (:func:`month_pass`,
    :func:`cohort_pass`)."""

    ring_now: np.ndarray  # revenue ring row of month t (month t - 24 on entry)
    ring_ago: np.ndarray  # revenue ring row of month t - 12
    usage_now: np.ndarray  # usage ring row of month t (the decline rule's)
    season_now: float  # season multiplier of the month
    price_mult: float  # the month's price multiplier
    renewal_ratio: float  # renewal commit over the term's consumption


class ChurnFields(NamedTuple):
    """The arrays :func:`churn_pass` reads and writes, by position (:func:`churn_fields`)."""

    alive: np.ndarray  # read: 1 while in play
    exist: np.ndarray  # read: 1 for a book account
    start: np.ndarray  # read: a new logo's start month
    data_from: np.ndarray  # read: first month with usage data
    contract: np.ndarray  # read: the month contract anniversaries count from
    churn_rate: np.ndarray  # read: hazard per boundary at hazard ratio 1
    threshold: np.ndarray  # read: the Exp(1) churn threshold (-1: fails onboarding)
    health_hazard: np.ndarray  # read: unhealthy hazard ratio
    u_csm: np.ndarray  # read: fixed uniform of CSM coverage
    cum_hazard: np.ndarray  # read and written: cumulative hazard so far
    step: np.ndarray  # written: Flags.step
    churn: np.ndarray  # written: Flags.churn
    active: np.ndarray  # written: Flags.active


class StepFields(NamedTuple):
    """The arrays :func:`step_pass` reads and writes, by position (:func:`step_fields`)."""

    step: np.ndarray  # read: Flags.step
    exist: np.ndarray  # read
    born: np.ndarray  # read
    eps: np.ndarray  # read: the step's noise
    drift: np.ndarray  # read
    health_step: np.ndarray  # read
    u_se: np.ndarray  # read
    x: np.ndarray  # read and written from here on
    ramp_tail: np.ndarray
    health: np.ndarray
    healthy_ramp: np.ndarray
    unhealthy_level: np.ndarray
    unhealthy_ramp: np.ndarray
    hist_ramp: np.ndarray
    uc_gap: np.ndarray
    use_case: np.ndarray  # written: Flags.use_case


class MonthFields(NamedTuple):
    """The arrays :func:`month_pass` reads and writes, by position (:func:`month_fields`)."""

    active: np.ndarray  # read: Flags.active
    gone: np.ndarray  # read
    born: np.ndarray  # read
    x: np.ndarray  # read
    ramp_tail: np.ndarray  # read
    health: np.ndarray  # read
    healthy_size: np.ndarray  # read
    healthy_ramp: np.ndarray  # read
    unhealthy_level: np.ndarray  # read
    unhealthy_ramp: np.ndarray  # read
    hist_size: np.ndarray  # read
    hist_ramp: np.ndarray  # read
    price: np.ndarray  # read
    zero_gap: np.ndarray  # read and written from here on
    term: np.ndarray
    commit: np.ndarray
    consumed: np.ndarray
    cur12: np.ndarray
    prev12: np.ndarray
    last_revenue: np.ndarray
    skipped: np.ndarray  # written: Flags.skipped


class CohortFields(NamedTuple):
    """The arrays :func:`cohort_pass` reads and writes, by position (:func:`cohort_fields`)."""

    active: np.ndarray  # read: Flags.active
    x: np.ndarray  # read
    ramp_tail: np.ndarray  # read
    health: np.ndarray  # read
    healthy_size: np.ndarray  # read
    healthy_ramp: np.ndarray  # read
    unhealthy_level: np.ndarray  # read
    unhealthy_ramp: np.ndarray  # read
    price: np.ndarray  # read
    zero_gap: np.ndarray  # read and written
    skipped: np.ndarray  # written: Flags.skipped


@jit
def churn_fields(fl, ints, flags):
    """The :class:`ChurnFields` of a draw's :class:`~simengine.kernels.state.Floats`,
    :class:`~simengine.kernels.state.Ints` and :class:`Flags` (views, no copies)."""
    return ChurnFields(ints.alive, ints.exist, ints.start, ints.data_from, ints.contract,
                       fl.churn_rate, fl.threshold, fl.health_hazard, fl.u_csm, fl.cum_hazard,
                       flags.step, flags.churn, flags.active)  # fmt: skip


@jit
def step_fields(fl, ints, flags, eps):
    """The :class:`StepFields` of a draw's state, flags and noise ``eps`` (views, no copies)."""
    return StepFields(flags.step, ints.exist, ints.born, eps, fl.drift, fl.health_step, fl.u_se,
                      fl.x, fl.ramp_tail, fl.health, fl.healthy_ramp, fl.unhealthy_level,
                      fl.unhealthy_ramp, fl.hist_ramp, fl.uc_gap, flags.use_case)  # fmt: skip


@jit
def month_fields(fl, ints, flags):
    """The :class:`MonthFields` of a draw's state and flags (views, no copies)."""
    return MonthFields(flags.active, ints.gone, ints.born, fl.x, fl.ramp_tail, fl.health,
                       fl.healthy_size, fl.healthy_ramp, fl.unhealthy_level, fl.unhealthy_ramp,
                       fl.hist_size, fl.hist_ramp, fl.price, ints.zero_gap, ints.term, fl.commit,
                       fl.consumed, fl.cur12, fl.prev12, fl.last_revenue,
                       flags.skipped)  # fmt: skip


@jit
def cohort_fields(fl, ints, flags):
    """The :class:`CohortFields` of a draw's state and flags (views, no copies)."""
    return CohortFields(flags.active, fl.x, fl.ramp_tail, fl.health, fl.healthy_size,
                        fl.healthy_ramp, fl.unhealthy_level, fl.unhealthy_ramp, fl.price,
                        ints.zero_gap, flags.skipped)  # fmt: skip


# exp(x) for the passes: libm's exp is a call, which keeps a loop scalar; this one is plain
# arithmetic, so LLVM vectorises it.  Cody & Waite's reduction x = k ln2 + r (|r| <= ln2 / 2,
# fdlibm's two-part ln2, k ln2_hi exact), exp(r) by its Taylor polynomial to r**12 / 12! (the
# next term is below 2e-16 relative), and 2**k as the product of two powers of two (so results
# that are subnormal or overflow come out as 0 / inf / subnormal, not as garbage exponents), each
# built from its exponent bits (``k`` in [-539, 512] is a normal float's): a table read in a
# vectorised loop is a gather, and the two were ~10% of a pass that calls vexp.  Within a few ulp
# of libm (tests/kernels/test_vexp.py); the reference's NumPy exp agrees to rtol 1e-9.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_BIAS = 1023
_INV_FACT = tuple(1.0 / math.factorial(j) for j in range(13))
(_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12) = _INV_FACT


@inline_jit
def vexp(x):
    """``exp(x)`` in branch-free arithmetic (vectorisable); NaN in, NaN out."""
    # NaN is replaced before the clamp: min/max of a NaN may return it, and floor(NaN) as an
    # integer is undefined, which once indexed a table of powers out of bounds (a segfault).
    xc = min(max(x if x == x else 0.0, -746.0), 710.0)
    k = math.floor(xc * _LOG2E + 0.5)
    kf = np.float64(k)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + _C1
    p = p * r + _C0
    k1 = k >> 1
    y = (p * bits_f64((k1 + _EXP_BIAS) << 52)) * bits_f64((k - k1 + _EXP_BIAS) << 52)
    return x if x != x else y


@inline_jit
def counts(t, live, gone, ghosts):
    """Whether a position still counts in month ``t``: in play, or (with ``ghosts``) churned at a
    boundary ``gone`` within the last 12 months, so that :func:`month_pass` still rolls it into
    that month's NRR bases."""
    since = t - gone
    return live or (ghosts and since >= 0 and since < HISTORY_MONTHS)


@inline_jit
def next_flag(words, flags, p, hi):
    """The first position ``>= p`` (and ``< hi``) whose flag is set; the caller knows one is.

    ``words`` is ``flags.view(np.uint64)``: past the rest of ``p``'s word, whole words of eight
    clear flags are skipped with one load each.  Flags beyond ``hi`` may be stale, but the set
    one before ``hi`` stops the search first.
    """
    while (p & 7) != 0:
        if flags[p] != 0:
            return p
        p += 1
    w = p >> 3
    while words[w] == 0:
        w += 1
    p = w << 3
    while flags[p] == 0:
        p += 1
    return p


@pass_jit
def normal_pass(lo, hi, step, usage_state, eps, slow):
    """The usage step's normal of every stepping position: the ziggurat's fast path, branch-free.

    ``eps[p]`` is the fast path's value and ``slow[p]`` is 1 where the candidate fell outside the
    layer's box (~1.2%): :func:`normal_fixup` then continues that stream exactly as
    :func:`simengine.kernels.rng.next_normal` would.  Non-stepping positions keep their state.
    This is the one place the usage step draws its noise.  Returns the number of slow lanes.
    """
    n_slow = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        old = usage_state[p]
        state = old + GOLDEN
        r = mix64(state)
        idx = np.intp(r & _M8)
        rabs = (r >> _S9) & _M52
        x = np.float64(rabs) * ZIG_W[idx]
        on = step[p] != 0
        eps[p] = -x if ((r >> _S8) & _ONE) == _ONE else x
        sl = 1 if (on and rabs >= ZIG_K[idx]) else 0
        slow[p] = sl
        n_slow += sl
        usage_state[p] = state if on else old
    return n_slow


@jit
def normal_fixup(lo, hi, n_slow, usage_state, eps, slow, slow_words):
    """Finish the ``n_slow`` rare normals of :func:`normal_pass` (tail or wedge) in position
    order."""
    p = lo
    for _ in range(n_slow):
        p = next_flag(slow_words, slow, p, hi)
        state = usage_state[p]
        r = mix64(state)
        idx = np.intp(r & _M8)
        sign = ((r >> _S8) & _ONE) == _ONE
        rabs = (r >> _S9) & _M52
        state, z, done = _normal_slow(state, idx, np.float64(rabs) * ZIG_W[idx], sign)
        if not done:
            state, z = next_normal(state)
        usage_state[p] = state
        eps[p] = z
        p += 1


@jit
def mixture_pass(lo, hi, step, usage_state, eps, weight, narrow, wide):
    """The usage step's noise where the usage fit found heavy tails: each stepping position's unit
    normal ``eps[p]`` (from :func:`normal_pass`) scaled to the wide component's SD ``wide`` with
    probability ``weight``, else to ``narrow`` (:mod:`simengine.bookstats.tails`), the choice by one
    uniform drawn after the normal from the position's usage stream, in position order.  Only
    segments with ``usage_tail_weight > 0`` come here."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        if step[p] == 0:
            continue
        state, u = next_uniform(usage_state[p])
        usage_state[p] = state
        eps[p] = eps[p] * (wide if u < weight else narrow)


@pass_jit
def churn_pass(t, lo, hi, acc, window, rates):
    """The boundary into month ``t``: ``flags.step[p]`` (survives and takes a usage step) and
    ``flags.churn[p]`` (churns at it, or fails onboarding in its start month) for every position
    of ``lo .. hi - 1``.

    ``acc`` (:class:`ChurnFields`) holds the arrays it reads (``alive``, ``exist``, ``start``,
    ``data_from``, ``contract``, ``churn_rate``, ``threshold``, ``health_hazard``, ``u_csm``)
    and writes (``cum_hazard``, the flags ``step``, ``churn``, ``active``); it also reads the
    usage ``window`` (:class:`DeclineWindow`) and the segment's :class:`BoundaryRates`.

    The hazard ratios in force: CSM coverage, the usage-decline rule on the account's own usage
    (lagged one month) and the contract anniversary, ``t - contract[p]`` a positive multiple of 12
    (:mod:`simengine.bookstats.churn_rules`).  A new logo in its start month neither steps nor
    churns (unless it failed onboarding).
    ``active[p]``: in play and not churned (it has a month).  Returns the number churned.
    """
    (alive, exist, start, data_from, contract, churn_rate, threshold, health_hazard, u_csm,
     cum_hazard, step, churn, active) = acc  # fmt: skip
    u7, u6, u5, u4, u3, u2 = window
    hazard_mult, csm_share, covered_hr, decline_hr, decline_factor, anniversary_hr = rates
    n_churn = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        live = alive[p] != 0
        existing = exist[p] != 0
        stepping = live and (existing or t > start[p])
        failed = live and (not existing) and t == start[p] and threshold[p] < 0.0
        hazard = hazard_mult * health_hazard[p]
        hazard = hazard * covered_hr if u_csm[p] < csm_share else hazard
        # The churn fit's decline rule on the account's own usage, lagged one month.
        q1 = u4[p] + u3[p] + u2[p]
        q0 = u7[p] + u6[p] + u5[p]
        declining = (
            decline_hr != 1.0 and t - 7 >= data_from[p] and q0 > 0.0 and q1 < decline_factor * q0
        )
        hazard = hazard * decline_hr if declining else hazard
        since = t - contract[p]
        anniversary = since > 0 and since % 12 == 0
        hazard = hazard * anniversary_hr if anniversary else hazard
        cumulative = cum_hazard[p] + churn_rate[p] * hazard
        gone = stepping and cumulative > threshold[p]
        ch = 1 if (gone or failed) else 0
        churn[p] = ch
        n_churn += ch
        active[p] = 1 if (live and not (gone or failed)) else 0
        keep = stepping and not gone
        step[p] = 1 if keep else 0
        cum_hazard[p] = cumulative if keep else cum_hazard[p]
    return n_churn


@pass_jit
def step_pass(t, lo, hi, acc, rates):
    """The usage step of every stepping position (``flags.step``) into month ``t``: the level
    ``x += drift + drift_shift + volatility * eps``, the ramp, health and use-case ramp updates;
    ``flags.use_case[p]`` = 1 where a use case starts this month (the arrivals are then drawn by
    :func:`simengine.kernels.state.start_use_cases` in a scalar pass, with the gap left as it
    was).  The ramp's remaining share is the segment's table at the tenure ``t - born[p]``
    (``rates.ramp_tails``, :class:`StepRates`).

    ``acc`` (:class:`StepFields`): reads ``exist``, ``born``, ``eps`` (the step's noise),
    ``drift``, ``health_step``, ``u_se``; writes ``x``, ``ramp_tail``, ``health``,
    ``healthy_ramp``, ``unhealthy_level``, ``unhealthy_ramp``, ``hist_ramp``, ``uc_gap``.
    Returns how many start a use case."""
    (step, exist, born, eps, drift, health_step, u_se, x, ramp_tail, health, healthy_ramp,
     unhealthy_level, unhealthy_ramp, hist_ramp, uc_gap, use_case) = acc  # fmt: skip
    (drift_shift, volatility, ramp_tails, q, decay, decay_q, se_share, intensity_plain,
     intensity_supported) = rates  # fmt: skip
    last = ramp_tails.shape[0] - 1
    n_use_case = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = step[p] != 0
        x[p] = (x[p] + ((drift[p] + drift_shift) + volatility * eps[p])) if on else x[p]
        ramp_tail[p] = ramp_tails[min(t - born[p], last)] if on else ramp_tail[p]
        health[p] = health[p] * health_step[p] if on else health[p]
        healthy_ramp[p] = healthy_ramp[p] * q if on else healthy_ramp[p]
        unhealthy_level[p] = unhealthy_level[p] * decay if on else unhealthy_level[p]
        unhealthy_ramp[p] = unhealthy_ramp[p] * decay_q if on else unhealthy_ramp[p]
        hist_ramp[p] = hist_ramp[p] * q if (on and exist[p] != 0) else hist_ramp[p]
        intensity = intensity_supported if u_se[p] < se_share else intensity_plain
        gap = uc_gap[p]
        starts = on and intensity >= gap
        uc = 1 if starts else 0
        use_case[p] = uc
        n_use_case += uc
        uc_gap[p] = gap - intensity if (on and not starts) else gap
    return n_use_case


@pass_jit
def exp_pass(lo, hi, x, out):
    """``out[p] = exp(x[p])`` (:func:`vexp`): the one transcendental of the common path."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        out[p] = vexp(x[p])


@pass_jit
def month_pass(t, lo, hi, acc, month, contrib):
    """Usage, revenue, commits and the trailing sums of every active position (``flags.active``)
    in month ``t`` (inside the horizon), and its contributions to the month's sums
    (:class:`Contrib`, rows that do not alias).

    ``acc`` (:class:`MonthFields`): reads ``gone``, ``born``, the level, ramp, health and
    use-case fields, and ``month`` (:class:`MonthInputs`); writes ``zero_gap``, ``term``, ``commit``,
    ``consumed``, ``cur12``, ``prev12``, ``last_revenue``, the rings' rows of the month and
    ``flags.skipped``: 1 where the month shows no usage (the hurdle), its next gap drawn in a
    scalar pass.  The contributions are also what the per-account record and the cohort cells
    read (revenue, overage, leak: 0 where not active).
    Returns the numbers of skipped months and of active positions.

    An account that churned at the boundary into month ``c`` (``gone[p] = c``) is not active,
    but in months ``c .. c + 11`` it still rolls its ring and trailing sums with no revenue: it
    was a customer 12 months before, so it stays in the year-ago base and, if it had been one
    for the whole base year, in the trailing-twelve-month base (numerators 0).
    """
    (active, gone, born, x, ramp_tail, health, healthy_size, healthy_ramp, unhealthy_level,
     unhealthy_ramp, hist_size, hist_ramp, price, zero_gap, term, commit, consumed, cur12, prev12,
     last_revenue, skipped) = acc  # fmt: skip
    ring_now, ring_ago, u0, season_now, price_mult, renewal_ratio = month
    n_skipped = 0
    n_active = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = active[p] != 0
        n_active += 1 if on else 0
        rolling = counts(t, on, gone[p], True)
        expansion = healthy_size[p] - healthy_ramp[p] + unhealthy_level[p] - unhealthy_ramp[p]
        # Expansion revenue counts the forecast's use cases only; past ones are in the level.
        new_expansion = expansion - (hist_size[p] - hist_ramp[p])
        base = vexp(x[p]) * season_now * (1.0 - ramp_tail[p]) * health[p]
        usage = base * (1.0 + expansion)
        gz = zero_gap[p]
        skip = gz == 0
        usage = 0.0 if skip else usage
        base = 0.0 if skip else base
        sk = 1 if (on and skip) else 0
        skipped[p] = sk
        n_skipped += sk
        zero_gap[p] = gz - 1 if (on and not skip) else gz
        unit = price[p] * price_mult
        revenue = usage * unit if on else 0.0
        u0[p] = usage if on else u0[p]
        # Commits: consumption against the annual commit, overage, leak and renewal at term end.
        c = commit[p]
        has = on and c > 0.0
        before = consumed[p]
        used = before + revenue
        overage = used - max(before, c) if (has and used > c) else 0.0
        tm = term[p] + 1
        renew = has and tm == 12
        leak = max(c - used, 0.0) if renew else 0.0
        commit[p] = renewal_ratio * used if renew else c
        consumed[p] = (0.0 if renew else used) if has else before
        term[p] = (0 if renew else tm) if has else term[p]
        # Trailing sums: revenue of months t - 12 and t - 24 leave them.
        year_ago = ring_ago[p]
        # Running sums of revenues: rounding may leave -1e-12 where the months are all gone
        # (an account 11 months after its churn), and a sum of revenues is not negative.
        c12 = max(cur12[p] + revenue - year_ago, 0.0)
        p12 = max(prev12[p] + year_ago - ring_now[p], 0.0)
        cur12[p] = c12 if rolling else cur12[p]
        prev12[p] = p12 if rolling else prev12[p]
        ring_now[p] = revenue if rolling else ring_now[p]
        last_revenue[p] = revenue if on else last_revenue[p]
        expansion_revenue = base * new_expansion * unit
        retained = rolling and year_ago > 0.0
        ttm = rolling and t - 23 >= born[p]
        contrib.revenue[p] = revenue  # 0 where not active
        contrib.usage[p] = usage if on else 0.0
        contrib.expansion[p] = expansion_revenue if on else 0.0
        contrib.overage[p] = overage
        contrib.leak[p] = leak
        contrib.retention_base[p] = year_ago if retained else 0.0
        contrib.retained[p] = revenue if retained else 0.0
        contrib.retained_capped[p] = min(revenue, year_ago) if retained else 0.0
        contrib.ttm_base[p] = p12 if ttm else 0.0
        contrib.ttm_retained[p] = c12 if ttm else 0.0
        contrib.ttm_retained_capped[p] = min(c12, p12) if ttm else 0.0
    return n_skipped, n_active


@pass_jit
def cohort_pass(t, lo, hi, acc, month, revenue_out):
    """Past the horizon (cohort tracking) only usage (for the decline rule, into
    ``month.usage_now``) and revenue (into ``revenue_out``) count; writes ``acc.zero_gap`` and
    ``acc.skipped`` (:class:`CohortFields`) as :func:`month_pass`.  Returns the number of skipped months."""
    (active, x, ramp_tail, health, healthy_size, healthy_ramp, unhealthy_level, unhealthy_ramp,
     price, zero_gap, skipped) = acc  # fmt: skip
    u0, season_now, price_mult = month.usage_now, month.season_now, month.price_mult
    n_skipped = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = active[p] != 0
        expansion = healthy_size[p] - healthy_ramp[p] + unhealthy_level[p] - unhealthy_ramp[p]
        usage = vexp(x[p]) * season_now * (1.0 - ramp_tail[p]) * health[p] * (1.0 + expansion)
        gz = zero_gap[p]
        skip = gz == 0
        usage = 0.0 if skip else usage
        sk = 1 if (on and skip) else 0
        skipped[p] = sk
        n_skipped += sk
        zero_gap[p] = gz - 1 if (on and not skip) else gz
        u0[p] = usage if on else u0[p]
        revenue_out[p] = usage * (price[p] * price_mult)
    return n_skipped
