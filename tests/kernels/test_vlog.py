"""The vectorisable log and log1p (kernels.vmath) against libm's (through NumPy)."""

from __future__ import annotations

import math

import numpy as np

from simengine.kernels.vmath import log1p_pass, log_pass

TINY = np.finfo(float).tiny


def _run(fn, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    fn(0, x.shape[0], x, out)
    return out


def _ulp(got, want):
    return np.abs(got - want) / np.spacing(np.abs(want))


def test_vlog_within_an_ulp_or_two_of_libm():
    # fdlibm's log is below 1 ulp; libm's (glibc) is correctly rounded in practice, so the two
    # differ by at most one rounding each: 2 ulp.  A wrong polynomial coefficient or a reduction
    # off by a power of two costs thousands of ulp.
    rng = np.random.default_rng(11)
    x = np.concatenate(
        [
            rng.uniform(0.0, 1.0, 200_000),  # the uniforms of the kernel's thresholds
            rng.uniform(0.5, 2.0, 100_000),  # around 1, where log is small
            np.exp(rng.uniform(-700.0, 700.0, 200_000)),  # every binade of the normal range
            1.0 + rng.uniform(-1e-6, 1e-6, 10_000),
            rng.uniform(0.0, TINY, 10_000),  # subnormal arguments
        ]
    )
    x = x[x > 0.0]
    got, want = _run(log_pass, x), np.log(x)
    nonzero = want != 0.0
    assert np.all(got[~nonzero] == 0.0)
    assert _ulp(got[nonzero], want[nonzero]).max() <= 2.0


def test_vlog1p_within_an_ulp_or_two_of_libm():
    rng = np.random.default_rng(12)
    x = np.concatenate(
        [
            -rng.uniform(0.0, 1.0, 200_000),  # -theta of the churn rate
            rng.uniform(-0.3, 0.42, 100_000),  # 1 + x near 1: the unreduced branch
            np.exp(rng.uniform(-745.0, 700.0, 200_000)),  # tiny to huge, positive
            -np.exp(rng.uniform(-745.0, -1e-9, 100_000)),  # tiny to almost -1, negative
            rng.uniform(-1e-15, 1e-15, 10_000),  # around 2**-53, where log1p(x) = x
        ]
    )
    got, want = _run(log1p_pass, x), np.log1p(x)
    nonzero = want != 0.0
    assert np.all(got[~nonzero] == want[~nonzero])
    assert _ulp(got[nonzero], want[nonzero]).max() <= 2.0
    # The same against Python's math.log1p on a sample (NumPy and math may use different libms).
    sample = x[::97]
    py = np.array([math.log1p(v) for v in sample])
    assert _ulp(_run(log1p_pass, sample), py).max() <= 2.0


def test_vlog_edges():
    x = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1.0, 5e-324, TINY, 2.0, 1.7976931348623157e308]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log(x)
    got = _run(log_pass, x)
    np.testing.assert_array_equal(got, want)  # NaN == NaN for assert_array_equal


def test_vlog1p_edges():
    x = np.array(
        [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, -2.0, 5e-324, -5e-324, 1e-300, -1e-300,
         1e-17, -1e-17, -1.0 + 2.0**-53, 1e300, 1.7976931348623157e308]
    )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log1p(x)
    got = _run(log1p_pass, x)
    np.testing.assert_array_equal(got, want)
    assert math.copysign(1.0, got[4]) == -1.0  # log1p(-0.0) = -0.0
