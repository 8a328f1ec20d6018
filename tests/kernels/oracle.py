"""The test oracle of the Monte Carlo core (:func:`simengine.kernels.account.simulate_draws`), in NumPy.

Nothing in ``simengine`` imports it: the kernel is the model's one implementation, and this is
the second, independent one the tests and benchmarks hold it to.

It exists for two reasons:

- **to check the kernel**: it implements the same model (see :mod:`simengine.kernels.account`)
  with plain NumPy and consumes the *same random numbers*, so ``tests/kernels/test_reference.py``
  can compare the two with ``assert_allclose(rtol=1e-9)`` (and the per-account record,
  ``Outputs.accounts``, in ``tests/kernels/test_reference_accounts.py``).  It imports no numba code: the key
  derivation, SplitMix64, the ziggurat, Marsaglia-Tsang and Poisson inversion of
  :mod:`simengine.kernels.rng` are ported to vectorised ``uint64`` arithmetic, each lane advancing
  its own stream exactly as the scalar code does (rejection sampling and Poisson arrivals loop with
  masks until every lane is done).  The stream constants are repeated on purpose: they are part of
  a result's identity, and a change on one side only must fail the comparison;
- **to be the speed baseline** of ``benchmarks/bench_core.py``: what a careful vectorised NumPy
  implementation of the model costs.

A *lane* is one account of one draw.  Lanes are vectorised over accounts and draws (draws in chunks
to bound memory); the only loop over time is the loop over months, as in the kernel (months outer):
at the start of each month the active lanes of every draw are counted for that draw's coverage
shares.  Existing accounts come first,
then new logos ordered by start month, so the lanes in play in month ``t`` are one contiguous slice.
Lanes that have churned keep being computed (their values are never used again) so that every
update is a slice operation; only their output, ring and random-number consumption are masked.
Sums run in another order than in the kernel, so results agree to rounding, not bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels import layout as L
from simengine.kernels import rng

# SplitMix64 and stream identity: must equal simengine.kernels.rng.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO_M53 = 1.0 / 9007199254740992.0
_ONE_BELOW = 1.0 - _TWO_M53  # largest double below 1
PURPOSE_ACCOUNT, PURPOSE_CHURN, PURPOSE_USAGE, PURPOSE_USE_CASE, PURPOSE_NEW_LOGOS = 1, 2, 3, 4, 5
PURPOSE_ZERO_MONTH = 6
NEW_LOGO_BASE = 1 << 40
_LANES_PER_CHUNK = 1 << 18  # bounds memory: ~40 float64 arrays per lane plus a 12-month ring


# ---------------------------------------------------------------------------------------------
# Random streams, vectorised: every function takes and returns uint64 state arrays.
# ---------------------------------------------------------------------------------------------
def mix64(z):
    """SplitMix64's finaliser on a ``uint64`` array."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def stream_key(seed, draw, account, purpose):
    """Key of the stream ``(seed, draw, account, purpose)``; arguments broadcast."""
    k = mix64(np.atleast_1d(np.asarray(seed, dtype=np.uint64)) + _GOLDEN)
    k = mix64(k ^ (np.asarray(draw, dtype=np.uint64) * _GOLDEN))
    k = mix64(k ^ (np.asarray(account, dtype=np.uint64) * _MIX1))
    return mix64(k ^ (np.asarray(purpose, dtype=np.uint64) * _MIX2))


def purpose_key(account_key, purpose):
    """Key of one purpose's stream from ``stream_key(seed, draw, account, 0)``."""
    return mix64(account_key ^ (np.asarray(purpose, dtype=np.uint64) * _MIX2))


def next_uniform(state):
    """``(state, u)``, u on (0, 1) from the 53 high bits.

    ``k + 0.5`` rounds up to ``2**53`` for the top ``k``, so u is capped below 1 (rng.next_uniform
    returns exactly 1.0 there, with probability 2**-53).
    """
    state = state + _GOLDEN
    u = ((mix64(state) >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_M53
    return state, np.minimum(u, _ONE_BELOW)


# The ziggurat's tables are data, not arithmetic under test: the reference uses the kernel's own
# (built in NumPy at import by rng._ziggurat_tables; tests/kernels/test_ziggurat.py checks that
# every layer has the same area).
_ZIG_R, _ZIG_K, _ZIG_W, _ZIG_F = rng._ZIG_R, rng.ZIG_K, rng.ZIG_W, rng.ZIG_F


def _uniform_co(state):
    """``(state, u)`` with u on [0, 1) from the 53 high bits (the ziggurat's rare path)."""
    state = state + _GOLDEN
    return state, (mix64(state) >> np.uint64(11)).astype(np.float64) * _TWO_M53


def next_normal(state):
    """Ziggurat normals, one per lane: ``(state, z)``; rejected lanes retry until all accept."""
    state = state.copy()
    z = np.empty(state.size)
    pending = np.arange(state.size)
    while pending.size:
        st = state[pending] + _GOLDEN
        r = mix64(st)
        idx = (r & np.uint64(0xFF)).astype(np.intp)
        sign = ((r >> np.uint64(8)) & np.uint64(1)) == np.uint64(1)
        rabs = (r >> np.uint64(9)) & np.uint64((1 << 52) - 1)
        x = rabs.astype(np.float64) * _ZIG_W[idx]
        x = np.where(sign, -x, x)
        fast = rabs < _ZIG_K[idx]
        z[pending[fast]] = x[fast]
        # The tail beyond R (layer 0): Marsaglia's exponential method, looping per lane.
        tail = np.flatnonzero(~fast & (idx == 0))
        todo = tail
        while todo.size:
            st[todo], u1 = _uniform_co(st[todo])
            st[todo], u2 = _uniform_co(st[todo])
            xx = -(1.0 / _ZIG_R) * np.log1p(-u1)  # as the kernel rounds it
            ok = -2.0 * np.log1p(-u2) > xx * xx
            done = todo[ok]
            z[pending[done]] = np.where(sign[done], -(_ZIG_R + xx[ok]), _ZIG_R + xx[ok])
            todo = todo[~ok]
        # A wedge: accept under the curve, else draw a fresh candidate.
        wedge = np.flatnonzero(~fast & (idx != 0))
        st[wedge], u = _uniform_co(st[wedge])
        i = idx[wedge]
        under = (_ZIG_F[i - 1] - _ZIG_F[i]) * u + _ZIG_F[i] < np.exp(-0.5 * x[wedge] * x[wedge])
        z[pending[wedge[under]]] = x[wedge[under]]
        state[pending] = st
        pending = pending[wedge[~under]]
    return state, z


def next_normal_pair(state):
    """Two ziggurat normals in a row: ``(state, z1, z2)``."""
    state, z1 = next_normal(state)
    state, z2 = next_normal(state)
    return state, z1, z2


def next_gamma(state, shape):
    """Gamma(shape, 1) by Marsaglia & Tsang, looping with a mask until every lane accepts."""
    state, shape = state.copy(), np.array(shape, dtype=np.float64)
    boost = np.ones_like(shape)
    small = np.flatnonzero(shape < 1.0)
    if small.size:
        state[small], u = next_uniform(state[small])
        boost[small] = u ** (1.0 / shape[small])
        shape[small] = shape[small] + 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    result = np.empty_like(shape)
    pending = np.arange(shape.size)
    while pending.size:
        st, z = next_normal(state[pending])
        v = 1.0 + c[pending] * z
        positive = v > 0.0  # v <= 0: reject without drawing u
        v3 = v[positive] * v[positive] * v[positive]
        st_pos, u = next_uniform(st[positive])
        st[positive] = st_pos
        state[pending] = st
        dp, zp = d[pending][positive], z[positive]
        accept = np.log(u) < 0.5 * zp * zp + dp - dp * v3 + dp * np.log(v3)
        done = pending[positive][accept]
        result[done] = dp[accept] * v3[accept] * boost[done]
        keep = np.ones(pending.size, dtype=bool)
        keep[np.flatnonzero(positive)[accept]] = False
        pending = pending[keep]
    return state, result


def next_beta(state, a, b):
    """Beta(a, b) as G_a / (G_a + G_b), both gammas from the same stream."""
    state, ga = next_gamma(state, a)
    state, gb = next_gamma(state, b)
    return state, ga / (ga + gb)


def poisson_inverse(lam, u):
    """Smallest n with P(N <= n) >= u, N ~ Poisson(lam): the kernel's walk from the mode."""
    lam, u = np.broadcast_arrays(np.asarray(lam, dtype=np.float64), np.asarray(u, dtype=np.float64))
    n_out = np.zeros(lam.shape, dtype=np.int64)
    pos = np.flatnonzero(lam > 0.0)
    lam, u = lam.ravel()[pos], u.ravel()[pos]
    mode = np.floor(lam)
    lgamma = np.array([math.lgamma(m + 1.0) for m in mode])
    p_mode = np.exp(mode * np.log(lam) - lam - lgamma)
    cdf, p, n = p_mode.copy(), p_mode.copy(), mode.copy()
    walk = np.flatnonzero(n > 0)  # P(N <= mode): sum the pmf downward until terms stop mattering
    while walk.size:
        p[walk] = p[walk] * n[walk] / lam[walk]
        n[walk] -= 1
        cdf[walk] += p[walk]
        walk = walk[(n[walk] > 0) & ~(p[walk] < 1e-17 * cdf[walk])]
    result = mode.copy()
    p = p_mode.copy()
    n = mode.copy()
    down = u <= cdf
    result[down] = 0
    walk = np.flatnonzero(down & (n > 0))
    while walk.size:
        cdf[walk] -= p[walk]
        found = u[walk] > cdf[walk]
        result[walk[found]] = n[walk[found]]
        walk = walk[~found]
        p[walk] = p[walk] * n[walk] / lam[walk]
        n[walk] -= 1
        walk = walk[n[walk] > 0]
    walk = np.flatnonzero(~down)
    while walk.size:
        n[walk] += 1
        p[walk] = p[walk] * lam[walk] / n[walk]
        cdf[walk] += p[walk]
        result[walk] = n[walk]
        walk = walk[(u[walk] > cdf[walk]) & ~(p[walk] < 1e-17 * cdf[walk])]
    n_out.ravel()[pos] = result.astype(np.int64)
    return n_out


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------
def season_tables(seg_params):
    """``[..., m]``: season multiplier of month of year ``m``; seg_params shape (..., n_params)."""
    return np.exp(seg_params[..., L.P_SEASON0 : L.P_SEASON0 + 12])


NO_ZERO_MONTH = 1 << 62


def zero_month_gap(state, p):
    """``account.zero_month_gap`` per lane: months before the next skipped one, Geometric(p)."""
    state = state.copy()
    gap = np.full(state.shape, NO_ZERO_MONTH, dtype=np.int64)
    draw = p > 0.0
    state[draw], u = next_uniform(state[draw])
    pd_ = p[draw]
    with np.errstate(divide="ignore"):
        g = np.floor(np.log(u) / np.log1p(-np.minimum(pd_, 1.0)))
    g = np.where(pd_ >= 1.0, 0.0, np.minimum(g, float(NO_ZERO_MONTH)))
    gap[draw] = g.astype(np.int64)
    return state, gap


def account_effects(p, book, a_i, z):
    """``b_i`` of book lanes from their conditional posterior (``account.account_effect``)."""
    tau = p[:, L.P_ACCOUNT_SD]
    n = book.change_count[a_i]
    s1 = book.change_sum[a_i] - n * p[:, L.P_DRIFT]
    s1 -= np.sum(book.season_coef[a_i] * p[:, L.P_SEASON0 : L.P_SEASON0 + 12], axis=1)
    coef = book.ramp_coef[a_i]
    log_ramp = _log_ramp(p, book.ramp_tenure[a_i])
    s1 -= np.sum(np.where(coef != 0.0, coef * log_ramp, 0.0), axis=1)
    var_noise = p[:, L.P_VOLATILITY] * p[:, L.P_VOLATILITY]
    with np.errstate(divide="ignore", invalid="ignore"):  # lanes with n = 0 are replaced below
        shrink = 1.0 / (1.0 + var_noise / (n * tau * tau))
        posterior = (s1 / n) * shrink + z * np.sqrt(var_noise / n * shrink)
    return np.where((n <= 0.0) | (tau <= 0.0), tau * z, posterior)


def _log_ramp(p, tenure):
    """``log ramp(k)`` per lane from the table ``p[:, P_RAMP0 + k]`` (0 from RAMP_TABLE_MONTHS)."""
    table = np.concatenate([p[:, L.P_RAMP0 : L.P_RAMP0 + L.RAMP_TABLE_MONTHS],
                            np.zeros((p.shape[0], 1))], axis=1)  # fmt: skip
    k = np.minimum(tenure, L.RAMP_TABLE_MONTHS)
    return np.take_along_axis(table, np.broadcast_to(k, (p.shape[0], k.shape[-1])), axis=1)


class _Lanes:
    """State of every lane of one chunk of draws; :meth:`month` advances the lanes in play."""

    def __init__(
        self, seed, draw_start, seg_params, month_params, book, capacity, month_of_year0, outputs
    ):
        out, cohort = outputs.out, outputs.cohort
        n_draws, horizon, n_seg, _ = out.shape
        self.out, self.cohort, self.coverage, self.horizon = out, cohort, outputs.coverage, horizon
        # Cohort cells only when ``cohort`` has rows; ``later_revenue`` either way.
        self.cells = cohort.shape[1] > 0
        self.later_revenue = outputs.later_revenue
        # The per-account record (account.simulate_draws): on when ``accounts`` has a row per draw
        # and a column per book account; :data:`layout.NO_ACCOUNT_RECORD` switches it off.
        accounts = outputs.accounts
        self.record = accounts.shape[0] == n_draws and accounts.shape[1] > 0
        self.accounts = accounts
        self.record_months = min(L.ACCOUNT_MONTHS, horizon)
        self.capacity = capacity
        self.month_of_year0 = month_of_year0
        segment, tenure, log_usage, price = book.segment, book.tenure, book.log_usage, book.price
        commit, term_position, consumed = book.commit, book.term_position, book.consumed
        n_acct = segment.size
        self.n_existing = n_draws * n_acct

        # New logos: counts per (draw, month, segment), then padded lanes (month, draw, segment, k)
        # masked by k < count, so lanes come out ordered by start month.
        key = stream_key(
            seed,
            draw_start + np.arange(n_draws)[:, None, None],
            (np.arange(horizon)[None, :, None] << 8) + np.arange(n_seg),
            PURPOSE_NEW_LOGOS,
        )
        _, u = next_uniform(key)
        mean = month_params[..., L.M_NEW_LOGO_RATE] * month_params[..., L.M_NEW_LOGO_MULT]
        counts = poisson_inverse(mean.transpose(0, 2, 1), u)
        out[..., L.V_NEW_LOGOS] += counts
        k_max = int(counts.max(initial=0))
        padded = np.arange(k_max) < counts.transpose(1, 0, 2)[..., None]
        nl_t, nl_d, nl_s, nl_k = (a.astype(np.int64) for a in np.nonzero(padded))

        a_d, a_i = np.divmod(np.arange(self.n_existing), n_acct)
        self.n_acct = n_acct
        cat = np.concatenate
        self.draw = cat([a_d, nl_d])
        self.segment = s = cat([segment[a_i], nl_s])
        self.existing = ex = cat([np.ones(a_d.size, bool), np.zeros(nl_d.size, bool)])
        self.start = start = cat([np.zeros(a_d.size, np.int64), nl_t])
        self.new_start = nl_t
        account = cat(
            [
                a_i.astype(np.uint64),
                (NEW_LOGO_BASE + (nl_t << 28) + (nl_s << 20) + nl_k).astype(np.uint64),
            ]
        )
        self.js = js = self.draw * n_seg + s  # row of (draw, segment) tables
        n = js.size
        p = seg_params.reshape(-1, seg_params.shape[-1])[js]
        self.month_rows = month_params.reshape(-1, month_params.shape[-1])
        self.month_base = js * horizon

        account_key = stream_key(seed, draw_start + self.draw, account, 0)
        st = purpose_key(account_key, PURPOSE_ACCOUNT)
        st, z_effect, z_level = next_normal_pair(st)
        st, u_churn = next_uniform(st)
        st, u_use_case = next_uniform(st)
        st, self.u_csm = next_uniform(st)
        st, self.u_se = next_uniform(st)
        st, u_health = next_uniform(st)
        st, u_commit = next_uniform(st)
        st, u_fail = next_uniform(st)
        n_ex = a_d.size
        self.drift = p[:, L.P_DRIFT] + p[:, L.P_ACCOUNT_SD] * z_effect
        self.drift[:n_ex] = p[:n_ex, L.P_DRIFT] + account_effects(
            p[:n_ex], book, a_i, z_effect[:n_ex]
        )
        # Observed coverage flags rank the book's coverage uniforms (account.init_existing).
        for u, flags in ((self.u_csm, book.csm_covered), (self.u_se, book.se_engaged)):
            known = flags >= 0.0
            share = flags[known].sum() / known.sum() if known.any() else 0.0
            f = flags[a_i]
            u[:n_ex] = np.where(
                f == 1.0,
                u[:n_ex] * share,
                np.where(f == 0.0, share + u[:n_ex] * (1.0 - share), u[:n_ex]),
            )
        self.volatility = p[:, L.P_VOLATILITY].copy()
        self.tail_weight = p[:, L.P_TAIL_WEIGHT].copy()
        self.tail_ratio = p[:, L.P_TAIL_RATIO].copy()
        self.price = cat([price[a_i], seg_params[nl_d, nl_s, L.P_PRICE]])

        survived = np.where(ex, cat([tenure[a_i], np.zeros(nl_d.size, np.int64)]), 0)
        c = np.where(
            cat([book.csm_covered[a_i], np.zeros(nl_d.size)]) == 1.0, p[:, L.P_CSM_HR], 1.0
        )
        h = p[:, L.P_DECLINE_HR]
        g = p[:, L.P_ANNIVERSARY_HR]
        declining = cat([book.declining[a_i], np.zeros(nl_d.size)])
        anniv = cat([book.anniversaries[a_i], np.zeros(nl_d.size)])
        both = cat([book.declining_anniversaries[a_i], np.zeros(nl_d.size)])
        exposure = c * (
            survived + (h - 1.0) * declining + (g - 1.0) * anniv + (h - 1.0) * (g - 1.0) * both
        )
        _, theta = next_beta(
            purpose_key(account_key, PURPOSE_CHURN),
            p[:, L.P_CHURN_ALPHA],
            p[:, L.P_CHURN_BETA] + exposure,
        )
        self.churn_per_boundary = -np.log1p(-theta)
        self.churn_threshold = -np.log(u_churn)
        self.churn_threshold[~ex & (u_fail < p[:, L.P_ONBOARDING_FAILURE])] = -1.0
        self.decline_hr = h.copy()
        self.decline_threshold = p[:, L.P_DECLINE_THRESHOLD].copy()
        self.anniversary_hr = g.copy()
        self.contract = cat([book.contract_from[a_i], nl_t])
        self.zero_prob = p[:, L.P_ZERO_PROB].copy()
        self.born = cat([-tenure[a_i] - 1, nl_t])
        self.data_from = cat([book.data_from[a_i], nl_t])
        self.cumulative_hazard = np.zeros(n)
        self.csm_hr, self.se_ratio = p[:, L.P_CSM_HR].copy(), p[:, L.P_SE_RATIO].copy()

        # 1 - ramp(k) by tenure k from the table (0 past it); existing accounts start at as_of.
        self.ramp_tails = -np.expm1(_log_ramp(p, np.arange(L.RAMP_TABLE_MONTHS + 1)[None, :]))
        self.ramp_tail = self.ramp_tails[np.arange(n), np.minimum(survived, L.RAMP_TABLE_MONTHS)]

        first_month = self.month_rows[self.month_base + np.minimum(start, horizon - 1)]
        unhealthy = ~ex & (u_health < first_month[:, L.M_UNHEALTHY_SHARE])
        self.health = np.where(unhealthy, p[:, L.P_UNHEALTHY_PLATEAU], 1.0)
        self.health_step = np.where(unhealthy, np.exp(-p[:, L.P_UNHEALTHY_DECAY]), 1.0)
        self.health_hazard = np.where(unhealthy, p[:, L.P_UNHEALTHY_HR], 1.0)

        self.season = season_tables(seg_params).reshape(-1, 12)
        season_as_of = self.season[js, (month_of_year0 + 11) % 12]
        x_new = p[:, L.P_INIT_MU] + p[:, L.P_INIT_SD] * z_level
        log_usage = cat([log_usage[a_i], np.zeros(nl_d.size)])
        # Past use cases: expected size each, in-flight ones with their remaining ramp.
        mean_size = np.exp(p[:, L.P_UC_SIZE_MU] + 0.5 * p[:, L.P_UC_SIZE_SIGMA] ** 2)
        q = np.exp(-1.0 / p[:, L.P_UC_RAMP])
        age = cat([book.use_case_age[a_i], np.full((nl_d.size, L.IN_FLIGHT), -1)])
        flying = age >= 0
        done = cat([book.use_cases_done[a_i], np.zeros(nl_d.size)])
        hist_size = mean_size * (done + flying.sum(axis=1))
        hist_gap = mean_size * np.sum(np.where(flying, q[:, None] ** (age + 1), 0.0), axis=1)
        self.x = np.where(
            ex,
            log_usage
            - np.log(season_as_of)
            - np.log(1.0 - self.ramp_tail)
            - np.log1p(hist_size - hist_gap),
            x_new,
        )
        self.ring = np.zeros((n, L.RING_MONTHS))  # revenue of month u in slot u % 24
        self.ring[:n_ex] = book.hist_usage[a_i] * price[a_i, None]
        self.uring = np.zeros((n, 8))  # usage of month u in slot u % 8
        self.uring[:n_ex, np.arange(16, 24) % 8] = book.hist_usage[a_i][:, 16:]
        self.cur12 = self.ring[:, 12:].sum(axis=1)
        self.prev12 = self.ring[:, :12].sum(axis=1)
        self.last_revenue = self.ring[:, -1].copy()
        # Bookings (account.init_new_logo): the commit if one is signed, else the expected
        # first-year consumption 12 x price x plateau usage x mean ramp of months 0..11.
        start_price = p[:, L.P_PRICE] * first_month[:, L.M_PRICE_MULT]
        ramp_sum = np.zeros(n)
        for k in range(12):
            ramp_sum += self.ramp_tails[:, k]
        mean_ramp = 1.0 - ramp_sum / 12.0
        signs = u_commit < p[:, L.P_COMMIT_SHARE]
        new_commit = np.where(signs, p[:, L.P_COMMIT_MONTHS] * start_price * np.exp(x_new), 0.0)
        bookings = np.where(signs, new_commit, 12.0 * start_price * np.exp(x_new) * mean_ramp)
        new_commit[self.churn_threshold < 0.0] = 0.0  # failed onboarding: nothing to consume
        self.commit = np.where(ex, cat([commit[a_i], np.zeros(nl_d.size)]), new_commit)
        self.term_position = cat([term_position[a_i], np.zeros(nl_d.size, np.int64)])
        self.consumed = cat([consumed[a_i], np.zeros(nl_d.size)])
        self.renewal_ratio = p[:, L.P_RENEWAL_RATIO].copy()
        self.add(L.V_BOOKINGS, start[~ex], self.js[~ex], bookings[~ex])

        self.use_case_state = purpose_key(account_key, PURPOSE_USE_CASE)
        self.use_case_gap = -np.log(u_use_case)
        self.uc_rate, self.plateau = p[:, L.P_UC_RATE].copy(), p[:, L.P_UNHEALTHY_PLATEAU].copy()
        self.uc_mu, self.uc_sigma = p[:, L.P_UC_SIZE_MU].copy(), p[:, L.P_UC_SIZE_SIGMA].copy()
        self.q = np.exp(-1.0 / p[:, L.P_UC_RAMP])
        self.decay = np.exp(-p[:, L.P_UNHEALTHY_DECAY])
        self.decay_q = self.decay * self.q
        self.healthy_size, self.healthy_ramp_gap = hist_size, hist_gap
        self.hist_size, self.hist_ramp_gap = hist_size.copy(), hist_gap.copy()
        self.zero_state, self.zero_gap = zero_month_gap(
            purpose_key(account_key, PURPOSE_ZERO_MONTH), self.zero_prob
        )
        self.unhealthy_level, self.unhealthy_ramp_gap = np.zeros(n), np.zeros(n)

        self.usage_state = purpose_key(account_key, PURPOSE_USAGE)
        self.alive = np.ones(n, bool)
        self.churn_month = np.full(n, -1)
        self.end_month = horizon if nl_t.size == 0 else max(horizon, nl_t.max() + cohort.shape[2])
        self.n_draws = n_draws
        self.ratio_csm = self.ratio_se = np.full(n_draws, np.inf)

    def add(self, variable, month, js, values):
        """``out[draw, month, segment, variable] += values``; ``js`` = draw * segments + segment."""
        n_draws, horizon, n_seg = self.out.shape[:3]
        if np.ndim(month) == 0:
            sums = np.bincount(js, values, minlength=n_draws * n_seg)
            self.out[:, month, :, variable] += sums.reshape(n_draws, n_seg)
        else:
            flat = (js // n_seg * horizon + month) * n_seg + js % n_seg
            sums = np.bincount(flat, values, minlength=n_draws * horizon * n_seg)
            self.out[..., variable] += sums.reshape(n_draws, horizon, n_seg)

    def bounds(self, t):
        """``(lo, mid, hi)``: the lanes in play in month ``t`` are ``lo .. hi - 1`` (past the
        horizon, the logos still in their cohort window), those with a boundary into ``t``
        (which take a usage step if they survive it) ``lo .. mid - 1``."""
        n_ex, new_start = self.n_existing, self.new_start
        lo = (
            0
            if t < self.horizon
            else n_ex + np.searchsorted(new_start, t - self.cohort.shape[2], side="right")
        )
        mid = n_ex + np.searchsorted(new_start, t, side="left")
        hi = n_ex + np.searchsorted(new_start, t, side="right")
        return lo, mid, hi

    def month(self, t):
        """Advance every lane in play in month ``t`` by one month and add it into the outputs."""
        horizon = self.horizon
        n_ex, cm = self.n_existing, self.cohort.shape[2]
        lo, mid, hi = self.bounds(t)
        m = min(t, horizon - 1)
        step, play = slice(lo, mid), slice(lo, hi)

        if t < horizon:
            # Coverage of month t: this draw's active lanes at the start of the month.
            active = np.bincount(self.draw[:hi][self.alive[:hi]], minlength=self.n_draws)
            with np.errstate(divide="ignore"):
                self.ratio_csm = np.where(active > 0, self.capacity.csm[:, t] / active, np.inf)
                self.ratio_se = np.where(active > 0, self.capacity.se[:, t] / active, np.inf)
            self.coverage[:, t, L.C_CSM] = np.minimum(1.0, self.ratio_csm)
            self.coverage[:, t, L.C_SE] = np.minimum(1.0, self.ratio_se)
        mp = self.month_rows[self.month_base[step] + m]
        csm_share = np.minimum(mp[:, L.M_CSM_COVERAGE], self.ratio_csm[self.draw[step]])
        se_share = np.minimum(mp[:, L.M_SE_COVERAGE], self.ratio_se[self.draw[step]])
        hazard = mp[:, L.M_HAZARD_MULT] * self.health_hazard[step]
        covered = self.u_csm[step] < csm_share
        hazard[covered] *= self.csm_hr[step][covered]
        ur = self.uring[step]
        q1 = ur[:, (t - 4) % 8] + ur[:, (t - 3) % 8] + ur[:, (t - 2) % 8]
        q0 = ur[:, (t - 7) % 8] + ur[:, (t - 6) % 8] + ur[:, (t - 5) % 8]
        declining = (
            (self.decline_hr[step] != 1.0)
            & (t - 7 >= self.data_from[step])
            & (q0 > 0.0)
            & (q1 < np.exp(self.decline_threshold[step]) * q0)
        )
        hazard[declining] *= self.decline_hr[step][declining]
        since = t - self.contract[step]
        anniversary = (since > 0) & (since % 12 == 0)
        hazard[anniversary] *= self.anniversary_hr[step][anniversary]
        self.cumulative_hazard[step] += self.churn_per_boundary[step] * hazard
        churning = lo + np.flatnonzero(
            self.alive[step] & (self.cumulative_hazard[step] > self.churn_threshold[step])
        )
        # Failed onboardings starting this month: churned in their start month, never active.
        failed = mid + np.flatnonzero(self.churn_threshold[mid:hi] < 0.0)
        churning = np.concatenate([churning, failed])
        self.alive[churning] = False
        self.churn_month[churning] = t
        if t < horizon and churning.size:
            js = self.js[churning]
            self._churn_bases(t, churning)
            self.add(L.V_CHURNED, t, js, np.ones(churning.size))
            self.add(L.V_CHURNED_REVENUE, t, js, self.last_revenue[churning])
            left = self.commit[churning] > 0.0
            leak = np.maximum(self.commit[churning] - self.consumed[churning], 0.0)
            self.add(L.V_LEAK, t, js[left], leak[left])
            if self.record:  # account.record_account_churn
                book = churning < n_ex
                self._record(L.A_CHURN_MONTH, churning[book], t + 1.0, add=False)
                if t < L.ACCOUNT_MONTHS:
                    book &= left
                    self._record(L.A_LEAK_12M, churning[book], leak[book])

        # Usage step: one ziggurat normal per lane from its usage stream; on lanes whose segment
        # has usage_tail_weight > 0, then a uniform that picks the mixture's wide or narrow SD.
        w = self.tail_weight[step]
        heavy = w > 0.0
        state = self.usage_state[step]
        state, z = next_normal(state)
        eps = z * self.volatility[step]
        if heavy.any():
            st_u, u = next_uniform(state[heavy])
            state[heavy] = st_u
            k = self.tail_ratio[step][heavy]
            wh = w[heavy]
            narrow = self.volatility[step][heavy] / np.sqrt(1.0 - wh + wh * k * k)
            eps[heavy] = z[heavy] * np.where(u < wh, k * narrow, narrow)
        self.usage_state[step] = state
        self.x[step] += (self.drift[step] + mp[:, L.M_DRIFT_SHIFT]) + eps
        tenure = np.minimum(t - self.born[step], L.RAMP_TABLE_MONTHS)
        self.ramp_tail[step] = np.take_along_axis(self.ramp_tails[step], tenure[:, None], axis=1)[
            :, 0
        ]
        self.health[step] *= self.health_step[step]
        self.healthy_ramp_gap[step] *= self.q[step]
        self.hist_ramp_gap[step] *= self.q[step]
        self.unhealthy_level[step] *= self.decay[step]
        self.unhealthy_ramp_gap[step] *= self.decay_q[step]
        self._use_cases(t, lo, step, mp, self.u_se[step] < se_share)

        expansion = (
            self.healthy_size[play]
            - self.healthy_ramp_gap[play]
            + self.unhealthy_level[play]
            - self.unhealthy_ramp_gap[play]
        )
        new_expansion = expansion - (self.hist_size[play] - self.hist_ramp_gap[play])
        season = self.season[self.js[play], (self.month_of_year0 + t) % 12]
        base = np.exp(self.x[play]) * season * (1.0 - self.ramp_tail[play]) * self.health[play]
        usage = base * (1.0 + expansion)
        # The hurdle: a live lane whose gap has run out skips the month and draws its next gap.
        alive = self.alive[play]
        skipped = alive & (self.zero_gap[play] == 0)
        again = lo + np.flatnonzero(skipped)
        self.zero_state[again], self.zero_gap[again] = zero_month_gap(
            self.zero_state[again], self.zero_prob[again]
        )
        counting = lo + np.flatnonzero(alive & ~skipped)
        self.zero_gap[counting] -= 1
        usage[skipped] = 0.0
        base[skipped] = 0.0
        price = self.price[play] * self.month_rows[self.month_base[play] + m][:, L.M_PRICE_MULT]
        revenue = usage * price
        overage, leak = self._commits(play, revenue)

        live = np.flatnonzero(self.alive[play])
        rev, start = revenue[live], self.start[play][live]
        lanes = lo + live
        slot, slot_year_ago = t % L.RING_MONTHS, (t - L.HISTORY_MONTHS) % L.RING_MONTHS
        year_ago_all = self.ring[lanes, slot_year_ago]
        self.cur12[lanes] = self.cur12[lanes] + rev - year_ago_all
        self.prev12[lanes] = self.prev12[lanes] + year_ago_all - self.ring[lanes, slot]
        self.ring[lanes, slot] = rev
        self.uring[lanes, t % 8] = usage[live]
        if self.record and t < self.record_months:
            book = lanes < n_ex
            self._record(L.A_REVENUE_12M, lanes[book], rev[book])
            self._record(L.A_OVERAGE_12M, lanes[book], overage[live][book])
            self._record(L.A_LEAK_12M, lanes[book], leak[live][book])
        if t < horizon:
            js = self.js[lanes]
            self.add(L.V_REVENUE, t, js, rev)
            self.add(L.V_USAGE, t, js, usage[live])
            self.add(L.V_ACTIVE, t, js, np.ones(live.size))
            self.add(L.V_ZERO_MONTHS, t, js, skipped[live].astype(np.float64))
            expansion_revenue = base[live] * new_expansion[live] * price[live]
            self.add(L.V_EXPANSION_REVENUE, t, js, expansion_revenue)
            old = self.existing[lanes]
            self.add(L.V_EXISTING_EXPANSION_REVENUE, t, js[old], expansion_revenue[old])
            self.add(L.V_OVERAGE, t, js, overage[live])
            self.add(L.V_LEAK, t, js, leak[live])
            new = ~self.existing[lanes]
            self.add(L.V_NEW_LOGO_REVENUE, t, js[new], rev[new])
            year_ago = year_ago_all
            had = year_ago > 0.0
            self.add(L.V_RETENTION_BASE, t, js[had], year_ago[had])
            self.add(L.V_RETAINED, t, js[had], rev[had])
            self.add(L.V_RETAINED_CAPPED, t, js[had], np.minimum(rev[had], year_ago[had]))
            ttm = t - (L.RING_MONTHS - 1) >= self.born[lanes]
            cur, prev = self.cur12[lanes][ttm], self.prev12[lanes][ttm]
            self.add(L.V_TTM_BASE, t, js[ttm], prev)
            self.add(L.V_TTM_RETAINED, t, js[ttm], cur)
            self.add(L.V_TTM_RETAINED_CAPPED, t, js[ttm], np.minimum(cur, prev))
        in_cohort = ~self.existing[lanes] & (t - start < cm)
        later = in_cohort & (t - start >= L.LATER_FROM) & (t - start < L.LATER_TO)
        if later.any():
            self.later_revenue += np.bincount(
                self.draw[lanes][later], rev[later], minlength=self.n_draws
            )
        if self.cells and in_cohort.any():
            d = self.draw[lanes][in_cohort]
            s0 = start[in_cohort]
            n_draws, h = self.cohort.shape[:2]
            flat = (d * h + s0) * cm + (t - s0)
            self.cohort += np.bincount(flat, rev[in_cohort], minlength=self.cohort.size).reshape(
                self.cohort.shape
            )
        self.last_revenue[lanes] = rev

    def _record(self, column, lanes, values, add=True):
        """``accounts[draw, account, column] += values`` (``add=False``: ``=``) for book lanes.

        Book lane ``draw * accounts + account``; ``lanes`` are distinct, so a plain fancy-index
        update adds each value once, month by month in the kernel's order.
        """
        d, i = np.divmod(lanes, self.n_acct)
        if add:
            self.accounts[d, i, column] += values
        else:
            self.accounts[d, i, column] = values

    def _churn_bases(self, t, lanes):
        """Retention bases of lanes churning at the boundary into ``t`` for months ``t .. t + 11``
        (the kernel rolls them through ``month_revenue.month_pass``); their ring holds months ``t - 24 ..
        t - 1``."""
        js, born, ring = self.js[lanes], self.born[lanes], self.ring[lanes]
        for u in range(t, min(t + L.HISTORY_MONTHS, self.horizon)):
            was = u - (L.RING_MONTHS - 1) >= born
            year_ago = ring[:, (u - L.HISTORY_MONTHS) % L.RING_MONTHS]
            had = year_ago > 0.0
            self.add(L.V_RETENTION_BASE, u, js[had], year_ago[had])
            base = ring[:, np.arange(u - 23, u - 11) % L.RING_MONTHS].sum(axis=1)
            kept = ring[:, np.arange(u - 11, t) % L.RING_MONTHS].sum(axis=1)
            self.add(L.V_TTM_BASE, u, js[was], base[was])
            self.add(L.V_TTM_RETAINED, u, js[was], kept[was])
            self.add(L.V_TTM_RETAINED_CAPPED, u, js[was], np.minimum(kept, base)[was])

    def _use_cases(self, t, lo, step, mp, supported):
        """Use-case arrivals of month ``t``: exponential gaps on the cumulative intensity.

        ``supported``: whether each lane of ``step`` has SE support this month (its own use cases'
        chance of starting unhealthy depends on it).
        """
        intensity = self.uc_rate[step] * mp[:, L.M_USE_CASE_MULT]
        intensity[supported] *= self.se_ratio[step][supported]
        unhealthy = np.where(
            supported, mp[:, L.M_UC_UNHEALTHY_COVERED], mp[:, L.M_UC_UNHEALTHY_UNCOVERED]
        )
        gap = self.use_case_gap  # full-length; indexed by lane
        rel = np.flatnonzero(self.alive[step] & (intensity >= gap[step]))
        while rel.size:
            lanes = lo + rel
            intensity[rel] -= gap[lanes]
            st, z_size = next_normal(self.use_case_state[lanes])
            st, u_health = next_uniform(st)
            st, u_gap = next_uniform(st)
            self.use_case_state[lanes] = st
            size = np.exp(self.uc_mu[lanes] + self.uc_sigma[lanes] * z_size)
            sick = u_health < unhealthy[rel]
            size[sick] *= self.plateau[lanes[sick]]
            well = ~sick
            self.unhealthy_level[lanes[sick]] += size[sick]
            self.unhealthy_ramp_gap[lanes[sick]] += size[sick] * self.q[lanes[sick]]
            self.healthy_size[lanes[well]] += size[well]
            self.healthy_ramp_gap[lanes[well]] += size[well] * self.q[lanes[well]]
            gap[lanes] = -np.log(u_gap)
            if t < self.horizon:
                self.add(L.V_NEW_USE_CASES, t, self.js[lanes], np.ones(lanes.size))
            if self.record and t < self.record_months:
                self._record(L.A_USE_CASES_12M, lanes[lanes < self.n_existing], 1.0)
            rel = rel[intensity[rel] >= gap[lo + rel]]
        gap[step] -= intensity

    def _commits(self, play, revenue):
        """Consume against commits; return this month's (overage, leak) per lane in play."""
        commit, consumed, term = self.commit[play], self.consumed[play], self.term_position[play]
        overage, leak = np.zeros(revenue.size), np.zeros(revenue.size)
        has = np.flatnonzero(commit > 0.0)
        before = consumed[has]
        consumed[has] += revenue[has]
        over = consumed[has] > commit[has]
        overage[has[over]] = consumed[has][over] - np.maximum(before[over], commit[has][over])
        term[has] += 1
        renew = has[term[has] == 12]
        leak[renew] = np.maximum(commit[renew] - consumed[renew], 0.0)
        commit[renew] = self.renewal_ratio[play][renew] * consumed[renew]
        consumed[renew] = 0.0
        term[renew] = 0
        return overage, leak


def simulate_draws_reference(seed, draw_start, book, params, capacity, month_of_year0, outputs):
    """Same signature, semantics and random numbers as :func:`account.simulate_draws`.

    ``book`` (:class:`~simengine.kernels.layout.Accounts`), ``params`` (``Params``), ``capacity``
    (``Capacity``) and ``outputs`` (``Outputs``, zeroed on entry, filled in place) are the kernel's
    named tuples.  Draws are processed in chunks of about ``2**18`` lanes to bound memory; results
    do not depend on the chunking.  ``outputs.accounts`` (draws x book accounts x
    ``ACCOUNT_OUTPUTS``) gets the per-account record of the first 12 months as in the kernel;
    :data:`~simengine.kernels.layout.NO_ACCOUNT_RECORD` leaves it off.
    """
    book = L.Accounts(*(np.asarray(x) for x in book))
    seg_params, month_params = params
    n_draws = outputs.out.shape[0]
    rate = month_params[..., L.M_NEW_LOGO_RATE] * month_params[..., L.M_NEW_LOGO_MULT]
    per_draw = book.segment.size + rate.sum() / max(n_draws, 1) + 1
    chunk = max(1, int(_LANES_PER_CHUNK // per_draw))
    # The per-account record is on as in the kernel: a row per draw (else it stays untouched).
    record = outputs.accounts.shape[0] == n_draws and outputs.accounts.shape[1] > 0
    # exp overflow and log(0) give inf as in the kernel (error_model="numpy"); lanes that have
    # churned are computed unmasked and may overflow harmlessly.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        for a in range(0, n_draws, chunk):
            b = min(a + chunk, n_draws)
            lanes = _Lanes(
                np.uint64(seed),
                draw_start + a,
                seg_params[a:b],
                month_params[a:b],
                book,
                L.Capacity(capacity.csm[a:b], capacity.se[a:b]),
                month_of_year0,
                L.Outputs(
                    outputs.out[a:b],
                    outputs.cohort[a:b],
                    outputs.coverage[a:b],
                    outputs.later_revenue[a:b],
                    outputs.accounts[a:b] if record else L.NO_ACCOUNT_RECORD,
                ),
            )
            for t in range(lanes.end_month):
                lanes.month(t)
