"""Counter-based random streams keyed by what they are for.

A stream is identified by ``(seed, draw, account, purpose)`` and hashed to a 64-bit key; its values are
SplitMix64 outputs of ``key + i * GOLDEN`` for ``i = 1, 2, ...`` (Steele, Lea & Flood 2014, the
generator numpy's ``SeedSequence`` and Java's ``SplittableRandom`` build on).  Because a stream depends
only on its key, a result depends neither on the thread that computed it nor on how draws were
chunked, and two scenarios run with the same seed give every account the same churn, usage and
use-case randomness (common random numbers), whatever else differs between them.

Why not ``numpy.random.Generator``: a Generator would be needed per (draw, account, purpose), tens of
millions of objects for one run; numpy offers no keyed stream that can be created inside ``@njit``.
SplitMix64 with a 64-bit key is the usual answer (it passes BigCrush) and is a dozen lines.

Every function here works on scalars and returns the advanced state with the value, so kernels keep
a stream's state in a local variable.  The NumPy oracle (``tests/kernels/oracle.py``) has a vectorised port
used to check the kernels bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels._jit import inline_jit, jit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53
_ONE_BELOW = 1.0 - _TWO_M53  # largest double below 1

# Purposes: one stream per (draw, account, purpose).  Values are part of the output's identity:
# changing one changes every result for that seed.
PURPOSE_ACCOUNT = 1  # fixed-count per-account draws: b_i, start level, thresholds, coverage, health
PURPOSE_CHURN = 2  # theta_i ~ Beta (rejection sampling: variable count, so it has its own stream)
PURPOSE_USAGE = 3  # one normal per account-month
PURPOSE_USE_CASE = 4  # use-case gaps, sizes and health
PURPOSE_NEW_LOGOS = 5  # new-logo counts per (month, segment)
PURPOSE_ZERO_MONTH = 6  # one uniform per account-month: is the month skipped (the usage hurdle)

# New logos get account numbers above every existing account: (1 << 40) + (month << 28) + (s << 20) + k,
# so a logo's streams depend on when, where and in which order it arrived, not on how many segments or
# other logos a scenario has.
NEW_LOGO_BASE = 1 << 40


@jit
def mix64(z):
    """SplitMix64's finaliser: a bijective 64-bit mix."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit
def stream_key(seed, draw, account, purpose):
    """Key of the stream for ``(seed, draw, account, purpose)`` (all non-negative integers)."""
    k = mix64(np.uint64(seed) + GOLDEN)
    k = mix64(k ^ (np.uint64(draw) * GOLDEN))
    k = mix64(k ^ (np.uint64(account) * _MIX1))
    return mix64(k ^ (np.uint64(purpose) * _MIX2))


@jit
def draw_key(seed, draw):
    """The part of :func:`stream_key` that depends on ``(seed, draw)`` only: once per draw."""
    k = mix64(np.uint64(seed) + GOLDEN)
    return mix64(k ^ (np.uint64(draw) * GOLDEN))


@jit
def account_key(draw_k, account):
    """``stream_key(seed, draw, account, 0)`` from ``draw_k = draw_key(seed, draw)``: two mixes,
    not four (``purpose`` 0 mixes in nothing)."""
    return mix64(mix64(np.uint64(draw_k) ^ (np.uint64(account) * _MIX1)))


@jit
def purpose_key(account_key, purpose):
    """Key of one purpose's stream from ``stream_key(seed, draw, account, 0)``: one mix, not four."""
    return mix64(account_key ^ (np.uint64(purpose) * _MIX2))


@jit
def new_logo_account(month, segment, k):
    """Account number of the k-th new logo of (month, segment): stable across scenarios."""
    return NEW_LOGO_BASE + (month << 28) + (segment << 20) + k


@jit
def next_uniform(state):
    """Advance ``state``; return ``(state, u)`` with ``u`` uniform on the open interval (0, 1)."""
    state = state + GOLDEN
    z = mix64(state)
    # k + 0.5 rounds up to 2**53 for the top k (ties to even): cap u below 1 so -log(u) > 0.
    return state, min((np.float64(z >> _S11) + 0.5) * _TWO_M53, _ONE_BELOW)


def _ziggurat_tables():
    """Marsaglia & Tsang's (2000) 256-layer ziggurat for the standard normal, 52-bit abscissas.

    Returns ``(k, w, f)``: layer ``i`` covers ``x`` in ``[0, x_i]`` between heights ``f[i]`` and
    ``f[i - 1]``; a candidate ``x = j * w[i]`` (``j`` 52 random bits) lies under the curve for sure
    when ``j < k[i]``; layer 0 is the base strip with the tail beyond ``R``.  The construction (and
    ``R``, ``V``) of numpy's ``random_standard_normal`` (Doornik's ZIGNOR), computed once at import.
    """
    m1 = 2.0**52
    dn = tn = _ZIG_R
    q = _ZIG_V / math.exp(-0.5 * dn * dn)
    k = np.zeros(256, dtype=np.uint64)
    w = np.zeros(256)
    f = np.zeros(256)
    k[0] = np.uint64((dn / q) * m1)
    w[0] = q / m1
    w[255] = dn / m1
    f[0] = 1.0
    f[255] = math.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = math.sqrt(-2.0 * math.log(_ZIG_V / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = np.uint64((dn / tn) * m1)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m1
    return k, w, f


_ZIG_R = 3.6541528853610088  # start of the tail (numpy's ziggurat_nor_r)
_ZIG_INV_R = 1.0 / _ZIG_R
_ZIG_V = 0.00492867323399  # area of each layer
ZIG_K, ZIG_W, ZIG_F = _ziggurat_tables()
_M8 = np.uint64(0xFF)
_S8 = np.uint64(8)
_S9 = np.uint64(9)
_ONE = np.uint64(1)
_M52 = np.uint64((1 << 52) - 1)


@jit
def _normal_slow(state, idx, x, sign):
    """The ziggurat's rare path (~1.2% of draws): the tail of layer 0 or a wedge.

    Returns ``(state, z, done)``; ``done`` False means the candidate was rejected and the caller
    draws a fresh one.  Kept out of line so the inlined fast path stays small.
    """
    if idx == 0:  # the tail beyond R: Marsaglia's (1964) exponential method
        while True:
            state = state + GOLDEN
            u1 = np.float64(mix64(state) >> _S11) * _TWO_M53
            state = state + GOLDEN
            u2 = np.float64(mix64(state) >> _S11) * _TWO_M53
            xx = -_ZIG_INV_R * math.log1p(-u1)
            yy = -math.log1p(-u2)
            if yy + yy > xx * xx:
                return state, (-(_ZIG_R + xx) if sign else _ZIG_R + xx), True
    state = state + GOLDEN
    u = np.float64(mix64(state) >> _S11) * _TWO_M53
    if (ZIG_F[idx - 1] - ZIG_F[idx]) * u + ZIG_F[idx] < math.exp(-0.5 * x * x):
        return state, (-x if sign else x), True
    return state, 0.0, False


@inline_jit
def next_normal(state):
    """One standard normal by the 256-layer ziggurat: ``(state, z)``.

    One SplitMix64 output per draw on the fast path (98.8% of draws): 8 bits pick the layer, one
    the sign, 52 the abscissa.  Inlined into every caller at numba's IR level (``inline="always"``):
    LLVM may inline a plain ``@njit`` version too, but the directive makes it certain.  The
    rare tail and wedge path is a separate function so the inlined part stays small.
    """
    while True:
        state = state + GOLDEN
        r = mix64(state)
        idx = np.intp(r & _M8)
        sign = ((r >> _S8) & _ONE) == _ONE
        rabs = (r >> _S9) & _M52
        x = np.float64(rabs) * ZIG_W[idx]
        if rabs < ZIG_K[idx]:
            return state, (-x if sign else x)
        state, z, done = _normal_slow(state, idx, x, sign)
        if done:
            return state, z


@jit
def next_normal_pair(state):
    """Two independent standard normals: two ziggurat draws in a row."""
    state, z1 = next_normal(state)
    state, z2 = next_normal(state)
    return state, z1, z2


@jit
def gamma_dv(state, d, c):
    """Marsaglia & Tsang's (2000) rejection loop for Gamma(shape >= 1): ``(state, d * v)``.

    ``d = shape - 1/3`` and ``c = 1 / sqrt(9 d)`` are the caller's, so a shape used for many
    accounts (a segment's) costs its square root once.  The paper's squeeze ``u < 1 - 0.0331
    z**4`` accepts ~90% of candidates before the two logs.  It lies inside the exact acceptance
    region for every ``d >= 2/3`` (shape >= 1; checked on a grid of ``d`` up to 1e6, tightest at
    ``d = 2/3``, ``z = -2.15``), so it accepts the same candidates, and values and stream states
    are those of the logs alone.  Only where the exact test's rounding (~1e-16 d, it cancels
    terms of size ``d``) exceeds the squeeze's slack (>= 0.019 z**4 near ``z = 0``) could the
    two differ: ``|z| < 1e-3 d**0.25`` with ``u`` within ~1e-16 d of 1, ~1e-15 per candidate.
    """
    while True:
        state, z = next_normal(state)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        state, u = next_uniform(state)
        zz = z * z
        if u < 1.0 - 0.0331 * zz * zz:
            return state, d * v
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return state, d * v


@jit
def next_gamma(state, shape):
    """Gamma(shape, 1) by Marsaglia & Tsang (2000) (:func:`gamma_dv`); shape < 1 via the
    ``U**(1/shape)`` boost, whose uniform comes first from the stream."""
    boost = 1.0
    if shape < 1.0:
        state, u = next_uniform(state)
        boost = u ** (1.0 / shape)
        shape = shape + 1.0
    d = shape - 1.0 / 3.0
    state, dv = gamma_dv(state, d, 1.0 / math.sqrt(9.0 * d))
    return state, dv * boost


@jit
def next_beta(state, a, b):
    """Beta(a, b) as G_a / (G_a + G_b)."""
    state, ga = next_gamma(state, a)
    state, gb = next_gamma(state, b)
    return state, ga / (ga + gb)


@jit
def poisson_inverse(lam, u):
    """Smallest n with P(N <= n) >= u for N ~ Poisson(lam): inversion, so n never falls as lam rises.

    Monotonicity under a fixed ``u`` is what makes "more capacity never gives fewer logos" hold under
    common random numbers.  The walk starts at the mode with the pmf in log space, so large rates
    neither underflow ``exp(-lam)`` nor walk from zero.
    """
    if lam <= 0.0:
        return 0
    mode = math.floor(lam)
    p_mode = math.exp(mode * math.log(lam) - lam - math.lgamma(mode + 1.0))
    # P(N <= mode): sum the pmf downward from the mode until the terms stop mattering.
    cdf = p_mode
    p = p_mode
    n = mode
    while n > 0:
        p = p * n / lam
        n -= 1
        cdf += p
        if p < 1e-17 * cdf:
            break
    n = mode
    if u <= cdf:
        p = p_mode
        while n > 0:
            cdf -= p
            if u > cdf:
                return int(n)
            p = p * n / lam
            n -= 1
        return 0
    p = p_mode
    while u > cdf:
        n += 1
        p = p * lam / n
        cdf += p
        if p < 1e-17 * cdf:  # u within rounding of 1: the rest of the tail cannot matter
            break
    return int(n)
