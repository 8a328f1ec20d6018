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
a stream's state in a local variable.  :mod:`simengine.kernels.reference` has a vectorised NumPy port
used to check the kernels bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels._jit import jit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53
_ONE_BELOW = 1.0 - _TWO_M53  # largest double below 1
_TWO_PI = 2.0 * math.pi

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


@jit
def next_normal_pair(state):
    """Two independent standard normals by Box-Muller from two uniforms."""
    state, u1 = next_uniform(state)
    state, u2 = next_uniform(state)
    r = math.sqrt(-2.0 * math.log(u1))
    return state, r * math.cos(_TWO_PI * u2), r * math.sin(_TWO_PI * u2)


@jit
def next_normal(state):
    """One standard normal (the cosine half of a Box-Muller pair)."""
    state, z, _ = next_normal_pair(state)
    return state, z


@jit
def next_gamma(state, shape):
    """Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the U**(1/shape) boost."""
    boost = 1.0
    if shape < 1.0:
        state, u = next_uniform(state)
        boost = u ** (1.0 / shape)
        shape = shape + 1.0
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        state, z = next_normal(state)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        state, u = next_uniform(state)
        if math.log(u) < 0.5 * z * z + d - d * v + d * math.log(v):
            return state, d * v * boost


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
