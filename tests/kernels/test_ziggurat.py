"""The ziggurat normal sampler (:func:`simengine.kernels.rng.next_normal`): distribution, tails,
every path (fast, wedge, tail), the NumPy reference port, and thread-count independence."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from numba import prange
from scipy import stats

from simengine.kernels import rng
from simengine.kernels._jit import jit

from . import oracle as ref
from .test_rng import MASK, unmix64

PER_STREAM = 10_000


@jit(parallel=True)
def _fill(seed, out):
    """``out`` from ``out.size / PER_STREAM`` keyed streams, one per prange iteration."""
    for j in prange(out.shape[0] // PER_STREAM):
        state = rng.stream_key(seed, j, 0, rng.PURPOSE_USAGE)
        for i in range(PER_STREAM):
            state, out[j * PER_STREAM + i] = rng.next_normal(state)


@pytest.fixture(scope="module")
def draws():
    out = np.empty(10_000_000)
    _fill(np.uint64(20261130), out)
    return out


def test_ks_and_moments(draws):
    # KS over 2e6 draws detects a CDF error of ~1.95 / sqrt(n) = 0.14%; the p-value of a correct
    # sampler is uniform, so p > 1e-3 fails it for one seed in a thousand (seed fixed, checked once).
    assert stats.kstest(draws[:2_000_000], stats.norm.cdf).pvalue > 1e-3
    # Mean and variance of N(0, 1) over 1e7 draws: SE 3.2e-4 and 4.5e-4; 5 SE.
    n = draws.size
    assert abs(draws.mean()) < 5 / math.sqrt(n)
    assert abs(draws.var() - 1.0) < 5 * math.sqrt(2.0 / n)


def test_chi_square_body_and_tails(draws):
    # 256 equiprobable bins on |z| <= 4 (each bin expects ~39,000), then |z| in (4, 4.5], (4.5, 5],
    # > 5 (expected 1,200, 61 and 5.7 at n = 1e7): a wrong layer, wedge or tail table shows up as
    # a bin off by far more than its sqrt(expected).  Same p > 1e-3 rule as above.
    body = stats.norm.ppf(np.linspace(stats.norm.cdf(-4.0), stats.norm.cdf(4.0), 257))
    a = np.abs(draws)
    observed = np.concatenate(
        [np.histogram(draws[a <= 4.0], body)[0],
         [((a > 4.0) & (a <= 4.5)).sum(), ((a > 4.5) & (a <= 5.0)).sum(), (a > 5.0).sum()]]
    )  # fmt: skip
    sf = stats.norm.sf([4.0, 4.5, 5.0])
    tails = 2.0 * np.array([sf[0] - sf[1], sf[1] - sf[2], sf[2]])
    p = np.concatenate([np.diff(stats.norm.cdf(body)), tails])
    expected = p / p.sum() * draws.size
    assert abs(p.sum() - 1.0) < 1e-12
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # The far tail on its own: P(|z| > 5) = 5.7e-7, so ~5.7 draws; a lost tail gives 0.  Poisson(5.7)
    # puts 0.3% below 1 and 0.2% above 14.
    assert 1 <= (a > 5.0).sum() <= 14


def _state_for(r: int) -> np.uint64:
    """The stream state whose next SplitMix64 output is ``r``."""
    return np.uint64((unmix64(r) - 0x9E3779B97F4A7C15) & MASK)


@pytest.mark.parametrize(
    ("idx", "rabs_fraction"),
    [(0, 0.999999), (0, 0.99), (1, 0.5), (128, 0.9999), (255, 0.99999), (37, 0.3)],
)
@pytest.mark.parametrize("sign", [0, 1])
def test_paths_match_reference(idx, rabs_fraction, sign):
    # Force the first candidate into a chosen layer and abscissa: the tail of layer 0 (rabs above
    # k[0]), wedges (rabs between k[i] and 2**52), the fast path; kernel and reference must agree
    # bit for bit (the same operations in the same order; exp of the wedge test is the only libm
    # call that could differ, and only if the comparison falls within an ulp).
    rabs = int(rabs_fraction * ((1 << 52) - 1))
    r = idx | (sign << 8) | (rabs << 9) | (0x5 << 61)
    state = _state_for(r)
    st, z = rng.next_normal(state)
    st_r, z_r = ref.next_normal(np.array([state], np.uint64))
    assert st == st_r[0] and z == z_r[0]
    # Outputs consumed: 1 on the fast path, 2 for an accepted wedge, 3 for the first tail try.
    used = ((int(st) - int(state)) * pow(0x9E3779B97F4A7C15, -1, 1 << 64)) & MASK
    fast = rabs < int(rng.ZIG_K[idx])
    assert (used == 1) == fast
    if idx == 0 and not fast:
        assert abs(z) > 3.6541528853610088 and (z < 0) == bool(sign)  # the tail starts at R
    elif used <= 2:  # accepted on the first candidate: its sign and abscissa
        assert (z < 0) == bool(sign)
        assert abs(z) == rabs * rng.ZIG_W[idx]


def test_reference_matches_in_bulk():
    states = ref.mix64(np.arange(50_000, dtype=np.uint64))
    st_r, z_r = ref.next_normal(states)
    st, z = np.empty_like(states), np.empty(states.size)
    for i, s in enumerate(states):
        st[i], z[i] = rng.next_normal(s)
    np.testing.assert_array_equal(z, z_r)
    np.testing.assert_array_equal(st, st_r)


def test_same_bytes_at_any_thread_count():
    out = {}
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            x = np.empty(200_000)
            _fill(np.uint64(7), x)
        finally:
            numba.set_num_threads(previous)
        out[threads] = x.tobytes()
    assert len(set(out.values())) == 1


def test_tables_are_a_ziggurat():
    # Every layer has the same area V: x_i (f(x_{i-1}) - f(x_i)) for i >= 1; the base strip's
    # effective width q = V / f(R).  Rounding of the recurrence: relative 1e-9 at worst.
    x = rng.ZIG_W * 2.0**52
    f = rng.ZIG_F
    areas = x[1:] * (f[:-1] - f[1:])
    np.testing.assert_allclose(areas[1:], 0.00492867323399, rtol=1e-6)
    assert np.all(np.diff(x[1:]) > 0) and np.all(np.diff(f) < 0)
