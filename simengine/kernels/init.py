"""A draw's accounts initialised in blocks of positions, straight into the month loop's arrays.

:func:`init_book_block` fills one segment's book accounts and
:func:`~simengine.kernels.init_logos.init_logo_block` a run of a
segment's new logos, at consecutive positions of the field-major arrays the passes read
(:class:`~simengine.kernels.state.Storage`: float and integer rows, by name through
:class:`~simengine.kernels.state.Floats` and :class:`~simengine.kernels.state.Ints`, stream
states, the revenue and usage rings; see :mod:`simengine.kernels.passes`).  This is the kernel's one account set-up; the tests hold it to
a one-account-at-a-time oracle (``tests/kernels/setup_oracle.py``: same streams, same draws),
which costs 3-5x more (benchmarks/bench_init.py).  Blocks are fast because:

1. **A template of the book** (:func:`book_template`, once per kernel call): everything of a book
   account that no draw changes (revenue and usage rings, trailing sums, commit, price, term,
   birth, the integers) is laid out field major in position order, segment by segment, so a
   draw copies it as contiguous row slices instead of 32 strided writes per account.
2. **A scalar pass** per block draws each account's stream values (the ziggurat normals, the
   uniforms, the churn rate's two gammas: rejection loops, so scalar) into the state slots, some
   of which stage raw draws until pass 3 (``_STAGING``).
3. **Vector passes** (branch-free, ``pass_jit``, unsigned positions, each loop innermost over
   positions, since LLVM vectorises innermost loops only) turn them into the state:
   the logs of the thresholds and gaps, ``-log1p(-theta)``, the gammas' ``U**(1/a)`` boost, the
   zero-month gap, ``exp`` of a logo's level (:func:`~simengine.kernels.vmath.vlog`,
   :func:`~simengine.kernels.vmath.vlog1p`, :func:`~simengine.kernels.vmath.vexp`: a few ulp from
   libm), and a book account's posterior effect.  Everything of a book account that depends on
   its integer tenures only (the ramp tail, ``log`` of its ramp, the account effect's ramp terms,
   the in-flight use cases' ``q**(age + 1)``) comes from small per-segment tables computed with
   libm, so those values are bitwise the scalar functions'.

Interface for :func:`simengine.kernels.account.simulate_draw`: a segment ``s`` owns positions
``block[s] .. block[s + 1] - 1``, first its book accounts in book-row order, then its new logos
in (start month, k) order.  ``init_book_block(tmpl, s, block[s], ...)`` fills the first part and
returns the next position; ``init_logo_block(lo, ..., run, ...)`` fills the logos of start
months ``run.t0 .. run.t1 - 1`` from ``lo`` and returns the next position (one call per segment
with ``t0, t1 = 0, horizon`` at ``lo = block[s] + book accounts of s``).  Book positions also get
``J_ROW`` (their book row), ``J_EXIST = 1`` and ``J_ALIVE = 1`` when ``it`` has those rows; a
logo's ``J_*`` are the caller's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import jit, pass_jit
from simengine.kernels.init_draws import (
    account_streams,
    churn_and_gaps,
    churn_draws,
    copy_range,
    fill_range,
    gamma_constants,
)
from simengine.kernels.layout import (
    HISTORY_MONTHS,
    IN_FLIGHT,
    P_ACCOUNT_SD,
    P_ANNIVERSARY_HR,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_CSM_HR,
    P_DECLINE_HR,
    P_DRIFT,
    P_SEASON0,
    P_VOLATILITY,
    RING_MONTHS,
)
from simengine.kernels.rng import (
    PURPOSE_ACCOUNT,
    account_key,
    next_normal,
    next_uniform,
    purpose_key,
)
from simengine.kernels.state import (
    F_COMMIT,
    F_CONSUMED,
    F_COUNT,
    F_CUR12,
    F_HEALTH,
    F_HEALTH_HAZARD,
    F_HEALTH_STEP,
    F_LAST_REVENUE,
    F_PREV12,
    F_PRICE,
    F_UNHEALTHY_LEVEL,
    F_UNHEALTHY_RAMP,
    I_BORN,
    I_CONTRACT,
    I_DATA_FROM,
    I_SEGMENT,
    I_START,
    I_TERM,
    J_ALIVE,
    J_COUNT,
    J_EXIST,
    J_ROW,
    float_fields,
    int_fields,
    log_ramp_at,
    ramp_tail_at,
)
from simengine.kernels.vmath import vlog1p

# The float and integer rows of a book account that no draw changes: copied from the template.
# (Health 1, unhealthy use cases 0, the segment, start 0, J_EXIST and J_ALIVE 1 are filled in.)
_BOOK_F = (F_COMMIT, F_CONSUMED, F_PRICE, F_LAST_REVENUE, F_CUR12, F_PREV12)
_BOOK_I = (I_TERM, I_BORN, I_DATA_FROM, I_CONTRACT)


class BookSegment(NamedTuple):
    """A segment's values :func:`init_book_block` reads, once per draw."""

    log_season: float  # log season multiplier of the as_of month
    mean_size: float  # expected use-case size exp(mu + sigma^2 / 2)
    q: float  # the use-case ramp's monthly factor exp(-1 / r)


class TenureTables(NamedTuple):
    """A segment's values by integer tenure (rows ``tenure - t_lo``), computed with libm once per
    block, so that the vector passes read them instead of calling ``log`` / ``expm1``."""

    tail: np.ndarray  # 1 - ramp(k)
    log_ramp: np.ndarray  # log ramp(k)
    ramp_term: np.ndarray  # the ramp's log table entry (0 past it)
    q_power: np.ndarray  # q ** (age + 1) by in-flight use-case age
    t_lo: int


class BookScalars(NamedTuple):
    """A segment's scalars of the book's vector pass (:func:`_book_pass`)."""

    mu_drift: float  # the segment's usage drift g
    tau: float  # account effect SD
    volatility: float  # usage step SD
    log_season: float
    mean_size: float


class BookTemplate(NamedTuple):
    """The book's accounts by position, field major, segment by segment (:func:`book_template`).

    Column ``c`` of segment ``s`` (``start[s] <= c < start[s + 1]``) is book row ``row[c]``; a
    segment's columns are in book-row order, as its positions are.

    Attributes
    ----------
    start : ndarray of int64, shape (segments + 1,)
    row : ndarray of int64, shape (accounts,)
    f, i : ndarray, shapes (F_COUNT, accounts) float64 and (J_COUNT, accounts) int64
        The draw-independent fields (``_BOOK_F``, ``_BOOK_I`` and ``J_ROW``); other rows 0.
    ring, uring : ndarray of float64, shapes (RING_MONTHS, accounts) and (8, accounts)
        Revenue of months ``-24 .. -1`` (slot ``k``) and usage of the last 8 (slot ``u % 8``).
    tenure, declining, anniversaries, declining_anniversaries, csm, se, change_count, change_sum,
    log_usage, use_cases_done : ndarray
        The accounts' :class:`simengine.kernels.layout.Accounts` fields by column.
    season_coef, ramp_coef, ramp_tenure, use_case_age : ndarray, shapes (12 | width | IN_FLIGHT,
        accounts)
        The same, transposed.
    tenure_lo, tenure_hi : ndarray of int64, shape (segments,)
        Range of a segment's tenures and ramp tenures: its tables' rows.
    age_hi : ndarray of int64, shape (segments,)
        One past its largest in-flight use-case age (at least 1).
    covered_share : ndarray of float64, shape (2,)
        The book's observed covered shares (CSM, SE) among accounts whose flag is known.
    """

    start: np.ndarray
    row: np.ndarray
    f: np.ndarray
    i: np.ndarray
    ring: np.ndarray
    uring: np.ndarray
    tenure: np.ndarray
    declining: np.ndarray
    anniversaries: np.ndarray
    declining_anniversaries: np.ndarray
    csm: np.ndarray
    se: np.ndarray
    change_count: np.ndarray
    change_sum: np.ndarray
    log_usage: np.ndarray
    use_cases_done: np.ndarray
    season_coef: np.ndarray
    ramp_coef: np.ndarray
    ramp_tenure: np.ndarray
    use_case_age: np.ndarray
    tenure_lo: np.ndarray
    tenure_hi: np.ndarray
    age_hi: np.ndarray
    covered_share: np.ndarray


@jit
def book_template(acc, n_seg):
    """The :class:`BookTemplate` of book ``acc`` (a :class:`~simengine.kernels.layout.Accounts`)
    for ``n_seg`` segments: built once per kernel call, read by every draw."""
    n = acc.segment.shape[0]
    width = acc.ramp_coef.shape[1]
    start = np.zeros(n_seg + 1, dtype=np.int64)
    for i in range(n):
        start[acc.segment[i] + 1] += 1
    for s in range(n_seg):
        start[s + 1] += start[s]
    cursor = start[:n_seg].copy()
    row = np.empty(n, dtype=np.int64)
    for i in range(n):
        s = acc.segment[i]
        row[cursor[s]] = i
        cursor[s] += 1
    f = np.zeros((F_COUNT, n))
    it = np.zeros((J_COUNT, n), dtype=np.int64)
    ring = np.empty((RING_MONTHS, n))
    uring = np.empty((8, n))
    season_coef = np.empty((12, n))
    ramp_coef = np.empty((width, n))
    ramp_tenure = np.empty((width, n), dtype=np.int64)
    age = np.empty((IN_FLIGHT, n), dtype=np.int64)
    tenure_lo = np.zeros(n_seg, dtype=np.int64)
    tenure_hi = np.zeros(n_seg, dtype=np.int64)
    age_hi = np.ones(n_seg, dtype=np.int64)
    for s in range(n_seg):
        lo_t = 1 << 62
        hi_t = -(1 << 62)
        for c in range(start[s], start[s + 1]):
            i = row[c]
            lo_t = min(lo_t, acc.tenure[i])
            hi_t = max(hi_t, acc.tenure[i] + 1)
            for j in range(width):
                lo_t = min(lo_t, acc.ramp_tenure[i, j])
                hi_t = max(hi_t, acc.ramp_tenure[i, j] + 1)
            for j in range(IN_FLIGHT):
                age_hi[s] = max(age_hi[s], acc.use_case_age[i, j] + 1)
        tenure_lo[s] = lo_t if hi_t > lo_t else 0
        tenure_hi[s] = hi_t if hi_t > lo_t else 0
    for c in range(n):
        i = row[c]
        price = acc.price[i]
        cur = 0.0
        prev = 0.0
        for k in range(RING_MONTHS):  # month k - 24 (as_of = -1) sits in slot k
            revenue = acc.hist_usage[i, k] * price
            ring[k, c] = revenue
            if k >= HISTORY_MONTHS:
                cur += revenue
            else:
                prev += revenue
            if k >= RING_MONTHS - 8:
                uring[k % 8, c] = acc.hist_usage[i, k]
        f[F_CUR12, c] = cur
        f[F_PREV12, c] = prev
        f[F_LAST_REVENUE, c] = ring[RING_MONTHS - 1, c]
        f[F_COMMIT, c] = acc.commit[i]
        f[F_CONSUMED, c] = acc.consumed[i]
        f[F_PRICE, c] = price
        it[I_TERM, c] = acc.term_position[i]
        it[I_BORN, c] = -acc.tenure[i] - 1
        it[I_DATA_FROM, c] = acc.data_from[i]
        it[I_CONTRACT, c] = acc.contract_from[i]
        it[J_ROW, c] = i
        for m in range(12):
            season_coef[m, c] = acc.season_coef[i, m]
        for j in range(width):
            ramp_coef[j, c] = acc.ramp_coef[i, j]
            ramp_tenure[j, c] = acc.ramp_tenure[i, j]
        for j in range(IN_FLIGHT):
            age[j, c] = acc.use_case_age[i, j]
    covered_share = np.zeros(2)
    for k, flags in enumerate((acc.csm_covered, acc.se_engaged)):
        known = 0.0
        yes = 0.0
        for i in range(n):
            if flags[i] >= 0.0:
                known += 1.0
                yes += flags[i]
        covered_share[k] = yes / known if known > 0.0 else 0.0
    return BookTemplate(
        start, row, f, it, ring, uring, acc.tenure[row], acc.declining[row],
        acc.anniversaries[row], acc.declining_anniversaries[row], acc.csm_covered[row], acc.se_engaged[row], acc.change_count[row], acc.change_sum[row],
        acc.log_usage[row], acc.use_cases_done[row], season_coef, ramp_coef, ramp_tenure, age,
        tenure_lo, tenure_hi, age_hi, covered_share,
    )  # fmt: skip


@jit
def init_book_block(tmpl, s, lo, dkey, p, seg, store):
    """Segment ``s``'s book accounts at positions ``lo ..``: their state at ``as_of``, each
    continuing its own history.

    - ``b_i`` from its conditional posterior given its clean changes (:func:`_book_pass`);
    - ``theta_i ~ Beta(alpha, beta + e_i)``, ``e_i = c_i (n + (h - 1) d + (g - 1) a + (h - 1)(g - 1) b)``:
      ``n`` boundaries survived, ``d`` of them declining (hazard ratio ``h``), ``a`` anniversaries
      (``g``), ``b`` both; ``c_i`` the CSM hazard ratio if its observed ``csm_covered`` flag is
      set (first order, as the churn fit);
    - coverage: an account observed covered gets its fixed uniform in ``[0, p)``, one observed
      uncovered in ``[p, 1)``, ``p`` the book's observed covered share.  A simulated share of
      exactly ``p`` therefore covers exactly the observed accounts; a larger share keeps them
      and covers others, a smaller one keeps a random subset of them.  Unknown flags (-1) keep
      a plain uniform (the same for SE support and ``se_engaged``);
    - use cases: finished ones add their expected size ``exp(mu + sigma^2 / 2)`` to the uplift
      ``E``, in-flight ones also their remaining ramp, and usage is ``base x (1 + E_hist +
      E_new)``: the level ``x`` backs out ``1 + E_hist`` at ``as_of``, with season and ramp.

    ``tmpl`` is the :func:`book_template`; ``dkey`` the draw's
    :func:`~simengine.kernels.rng.draw_key`; ``store`` the draw's
    :class:`~simengine.kernels.state.Storage`; ``p``
    the segment's parameter vector; ``seg`` its :class:`BookSegment` values, once per draw.
    Returns the position after the block.
    """
    log_season, mean_size, q = seg
    st, it, rs, ring, uring = store
    fl, ints = float_fields(st), int_fields(it)
    c0 = tmpl.start[s]
    n = tmpl.start[s + 1] - c0
    hi = lo + n
    if n == 0:
        return hi
    # The draw-independent fields: plain loops (numba's slice assignment copies ~10x slower).
    for f in _BOOK_F:
        copy_range(lo, c0, n, st[f], tmpl.f[f])
    for f in (F_HEALTH, F_HEALTH_STEP, F_HEALTH_HAZARD):
        fill_range(lo, n, st[f], 1.0)
    for f in (F_UNHEALTHY_LEVEL, F_UNHEALTHY_RAMP):
        fill_range(lo, n, st[f], 0.0)
    for f in _BOOK_I:
        copy_range(lo, c0, n, it[f], tmpl.i[f])
    fill_range(lo, n, it[I_SEGMENT], s)
    fill_range(lo, n, it[I_START], 0)
    if it.shape[0] >= J_COUNT:
        copy_range(lo, c0, n, it[J_ROW], tmpl.i[J_ROW])
        fill_range(lo, n, it[J_EXIST], 1)
        fill_range(lo, n, it[J_ALIVE], 1)
    for u in range(RING_MONTHS):
        copy_range(lo, c0, n, ring[u], tmpl.ring[u])
    for u in range(8):
        copy_range(lo, c0, n, uring[u], tmpl.uring[u])

    # Tables by tenure (and ramp tenure), and q**(age + 1), with libm.
    t_lo = tmpl.tenure_lo[s]
    n_t = tmpl.tenure_hi[s] - t_lo
    tail = np.empty(n_t)
    log_ramp = np.empty(n_t)
    ramp_term = np.empty(n_t)
    for j in range(n_t):
        tenure = t_lo + j
        tail[j] = ramp_tail_at(p, tenure)
        log_ramp[j] = math.log(1.0 - tail[j])
        ramp_term[j] = log_ramp_at(p, tenure)
    q_power = np.empty(tmpl.age_hi[s])
    for a in range(tmpl.age_hi[s]):
        q_power[a] = q ** (a + 1)

    # Scalar pass: the streams' draws, staged (_STAGING).
    alpha = p[P_CHURN_ALPHA]
    da, ca = gamma_constants(alpha)
    csm_hr = p[P_CSM_HR]
    h = p[P_DECLINE_HR]
    g = p[P_ANNIVERSARY_HR]
    for k in range(n):
        pos = lo + k
        c = c0 + k
        key = account_key(dkey, tmpl.row[c])
        state = purpose_key(key, PURPOSE_ACCOUNT)
        state, z_effect = next_normal(state)
        state, _ = next_normal(state)
        state, u_churn = next_uniform(state)
        state, u_use_case = next_uniform(state)
        state, u_csm = next_uniform(state)
        _, u_se = next_uniform(state)
        cov = csm_hr if tmpl.csm[c] == 1.0 else 1.0
        # The churn fit's effective exposure: each survived boundary counts h^declining
        # g^anniversary base-hazard boundaries.
        declining = tmpl.declining[c]
        anniv = tmpl.anniversaries[c]
        both = tmpl.declining_anniversaries[c]
        exposure = tmpl.tenure[c] + (h - 1.0) * declining + (g - 1.0) * anniv
        exposure += (h - 1.0) * (g - 1.0) * both
        b = p[P_CHURN_BETA] + cov * exposure
        db, cb = gamma_constants(b)
        ua, ga, gb = churn_draws(key, da, ca, alpha < 1.0, b, db, cb)
        fl.drift[pos] = z_effect
        fl.threshold[pos] = u_churn
        fl.uc_gap[pos] = u_use_case
        fl.u_csm[pos] = u_csm
        fl.u_se[pos] = u_se
        fl.churn_rate[pos] = ga
        fl.healthy_size[pos] = ua
        fl.healthy_ramp[pos] = gb
        fl.cum_hazard[pos] = account_streams(key, p, rs, pos)

    churn_and_gaps(lo, hi, p, fl, ints)
    tables = TenureTables(tail, log_ramp, ramp_term, q_power, t_lo)
    _book_pass(lo, hi, c0, fl, tmpl, tables, p[P_SEASON0 : P_SEASON0 + 12],
               BookScalars(p[P_DRIFT], p[P_ACCOUNT_SD], p[P_VOLATILITY], log_season,
                           mean_size))  # fmt: skip
    return hi


@pass_jit
def _book_pass(lo, hi, c0, fl, tmpl, tables, season, scalars):
    """The book block's vector passes after :func:`staged_churn_pass`: coverage, the account
    effect, the past use cases and the level (:func:`init_book_block`), with the tables for the
    tenure terms and vlog1p for libm's log1p.

    The account effect: the usage fit integrates ``b_i ~ N(0, tau^2)`` out of the account's
    ``n`` clean changes with residual sum ``S1 = sum d - n g - season terms - ramp terms``
    (:mod:`simengine.fitting.usage`); given the draw's ``g``, ``sigma``, ``tau``, season and
    ramp, ``b_i | history ~ N((S1 / n) shrink, (sigma^2 / n) shrink)`` with ``shrink = 1 / (1 +
    sigma^2 / (n tau^2))``: the posterior of precision ``n / sigma^2 + 1 / tau^2`` without
    dividing by ``sigma^2``, which overflows for a subnormal ``sigma^2``.  ``sigma = 0`` pins
    ``b_i`` to the history; no history (``n = 0``) or ``tau = 0`` gives ``tau z``.

    Each loop is innermost over positions (LLVM vectorises innermost loops only): the sums over
    a runtime number of terms run term by term over the block, each lane adding its terms in
    the scalar function's order.  ``x`` holds the effect's residual sum ``S1`` until the level
    replaces it, ``hist_size`` / ``hist_ramp`` the use-case sums.

    Reads the template's columns ``c0 ..`` (:class:`BookTemplate`), the segment's
    :class:`TenureTables`, ``season`` (its 12 log effects) and :class:`BookScalars`; writes
    ``fl``'s ``x``, ``drift``, ``ramp_tail``, ``healthy_size``, ``healthy_ramp``, ``hist_size``,
    ``hist_ramp``, ``u_csm`` and ``u_se``.
    """
    x, drift, ramp_tail = fl.x, fl.drift, fl.ramp_tail
    healthy_size, healthy_ramp = fl.healthy_size, fl.healthy_ramp
    hist_size, hist_ramp, u_csm, u_se = fl.hist_size, fl.hist_ramp, fl.u_csm, fl.u_se
    tenure, change_count, change_sum = tmpl.tenure, tmpl.change_count, tmpl.change_sum
    log_usage, use_cases_done, csm, se = tmpl.log_usage, tmpl.use_cases_done, tmpl.csm, tmpl.se
    season_coef, ramp_coef = tmpl.season_coef, tmpl.ramp_coef
    ramp_tenure, use_case_age = tmpl.ramp_tenure, tmpl.use_case_age
    csm_share, se_share = tmpl.covered_share[0], tmpl.covered_share[1]
    tail, log_ramp, ramp_term, q_power, t_lo = tables
    mu_drift, tau, volatility, log_season, mean_size = scalars
    n = hi - lo
    # Coverage: observed flags rank the fixed uniforms (init_book_block).
    for k in range(n):
        pos = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        c = np.uintp(c0 + k)
        u = u_csm[pos]
        flag = csm[c]
        u_csm[pos] = u * csm_share if flag == 1.0 else (
            csm_share + u * (1.0 - csm_share) if flag == 0.0 else u)  # fmt: skip
        u = u_se[pos]
        flag = se[c]
        u_se[pos] = u * se_share if flag == 1.0 else (
            se_share + u * (1.0 - se_share) if flag == 0.0 else u)  # fmt: skip
    # The account effect from its conditional posterior.
    for k in range(n):
        pos = np.uintp(lo + k)
        c = np.uintp(c0 + k)
        x[pos] = change_sum[c] - change_count[c] * mu_drift
    for m in range(12):
        effect = season[m]
        for k in range(n):
            pos = np.uintp(lo + k)
            c = np.uintp(c0 + k)
            x[pos] -= season_coef[m, c] * effect
    for j in range(ramp_coef.shape[0]):
        for k in range(n):
            pos = np.uintp(lo + k)
            c = np.uintp(c0 + k)
            coef = ramp_coef[j, c]
            term = coef * ramp_term[np.uintp(ramp_tenure[j, c] - t_lo)]
            x[pos] -= term if coef != 0.0 else 0.0  # s1 - 0.0 is s1: a skipped term
    var_noise = volatility * volatility
    for k in range(n):
        pos = np.uintp(lo + k)
        c = np.uintp(c0 + k)
        z = drift[pos]
        count = change_count[c]
        s1 = x[pos]
        shrink = 1.0 / (1.0 + var_noise / (count * tau * tau))
        posterior = (s1 / count) * shrink + z * math.sqrt(var_noise / count * shrink)
        drift[pos] = mu_drift + (tau * z if (count <= 0.0 or tau <= 0.0) else posterior)
    # Past use cases, then the level backed out of the observed usage.
    for k in range(n):
        pos = np.uintp(lo + k)
        c = np.uintp(c0 + k)
        hist_size[pos] = use_cases_done[c] * mean_size
        hist_ramp[pos] = 0.0
    for j in range(IN_FLIGHT):
        for k in range(n):
            pos = np.uintp(lo + k)
            c = np.uintp(c0 + k)
            age = use_case_age[j, c]
            flying = age >= 0
            size = hist_size[pos]
            gap = hist_ramp[pos]
            hist_size[pos] = size + mean_size if flying else size
            hist_ramp[pos] = gap + mean_size * q_power[np.uintp(max(age, 0))] if flying else gap
    for k in range(n):
        pos = np.uintp(lo + k)
        c = np.uintp(c0 + k)
        size = hist_size[pos]
        gap = hist_ramp[pos]
        healthy_size[pos] = size
        healthy_ramp[pos] = gap
        t_row = np.uintp(tenure[c] - t_lo)
        ramp_tail[pos] = tail[t_row]
        x[pos] = log_usage[c] - log_season - log_ramp[t_row] - vlog1p(size - gap)
