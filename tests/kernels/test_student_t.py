"""Student-t usage steps: the sampler against the closed-form t CDF, its NumPy port, and the
kernel's steps (SD ``usage_volatility``, heavy tails) on a whole simulated book."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simengine.kernels import layout as L
from simengine.kernels import reference as ref
from simengine.kernels import rng
from simengine.kernels.account import simulate_draws
from simengine.kernels.reference import simulate_draws_reference

from ._book import make_book, make_params, run
from .test_closed_forms import CALM, QUIET, flat_book
from .test_rng import N_KS, P_MIN, sample


@pytest.mark.parametrize("nu", [2.5, 3.0, 8.0, 40.0])
def test_student_t_ks(nu):
    # KS against scipy's closed-form t CDF at a fixed seed: n = 20,000 detects a CDF error of
    # ~1.4% and p > 1e-3 rejects a correct sampler for one seed in a thousand (test_rng's rule).
    # A t drawn with the wrong degrees of freedom (e.g. chi-square nu / 2 instead of nu, a t(1.5)
    # for nu = 3) differs from the t(nu) CDF by 3-5% near |t| = 1.5: far above that resolution.
    x = sample(rng.next_student_t, N_KS, nu)
    assert stats.kstest(x, stats.t(nu).cdf).pvalue > P_MIN
    # Power: a wrong law whose CDF is > 3x the resolution away (checked on a grid) is rejected at
    # the same n: t(2 nu) and the normal for the heavy nu, not for nu = 40 (they are that close).
    grid = np.linspace(-6.0, 6.0, 2001)
    for wrong in (stats.t(2.0 * nu), stats.norm):
        if np.abs(wrong.cdf(grid) - stats.t(nu).cdf(grid)).max() > 3 * 1.95 / math.sqrt(N_KS):
            assert stats.kstest(x, wrong.cdf).pvalue < P_MIN


def test_student_t_tail_counts():
    # P(|t_3| > 10) = 2.13e-3: 42.6 expected in 20,000 draws, against 1.6e-4 for a normal of the
    # same SD (|z| > 10 / sqrt(3) = 5.8: 7.8e-9).  Poisson(42.6) lies in 20..70 with probability
    # 0.9999: a sampler with thin tails (or the wrong nu) lands outside.
    x = sample(rng.next_student_t, N_KS, 3.0, seed=7)
    count = int((np.abs(x) > 10.0).sum())
    assert 2.0 * stats.t(3.0).sf(10.0) * N_KS == pytest.approx(42.6, abs=0.1)
    assert 20 <= count <= 70


def test_reference_port_is_bit_identical():
    keys = np.array([rng.stream_key(np.uint64(11), d, a, 3) for d in range(4) for a in range(50)])
    nu = np.linspace(2.2, 30.0, keys.size)
    state = keys.astype(np.uint64)
    ref_state, ref_t = ref.next_student_t(state, nu)
    for i, key in enumerate(keys):
        st, t = rng.next_student_t(np.uint64(key), nu[i])
        assert np.uint64(st) == ref_state[i]
        assert t == ref_t[i]


@pytest.mark.parametrize("nu", [3.0, 0.0])
def test_kernel_usage_steps_follow_the_fitted_law(nu):
    """One quiet account per draw: a month-on-month log-usage change is one usage step.

    ``usage_tail_nu = 3``: steps are ``sigma * sqrt(1/3) * t_3`` (SD sigma); 0: normal N(0, sigma).
    2,000 draws x 23 changes = 46,000 steps, KS against the closed-form CDF (p > 1e-3, the rule
    above; resolution ~0.9% of CDF), and the other law is rejected (t_3 and the normal of the same
    SD differ by ~6% of CDF near 0.5 sigma, seven times that resolution).
    """
    sigma, draws, horizon = 0.07, 2000, 24
    sp, mp = make_params(draws, horizon, 1, jitter=0.0,
                         segment=QUIET | {"usage_volatility": sigma, "usage_tail_nu": nu},
                         month=CALM)  # fmt: skip
    out, _ = run(simulate_draws, 6, sp, mp, flat_book(1))
    d = np.diff(np.log(out[:, :, 0, L.V_USAGE]), axis=1).ravel() / sigma
    heavy = stats.t(3.0, scale=math.sqrt(1.0 / 3.0)).cdf
    right, wrong = (heavy, stats.norm.cdf) if nu else (stats.norm.cdf, heavy)
    assert stats.kstest(d, right).pvalue > P_MIN
    assert stats.kstest(d, wrong).pvalue < P_MIN


def test_kernel_matches_reference_with_student_t_steps():
    """The NumPy reference draws the same t steps from the same streams: the same outputs (the
    rule of test_reference.py: sums of the same terms in another order, rtol 1e-9)."""
    sp, mp = make_params(5, 14, 3, segment={"usage_tail_nu": np.array([3.0, 0.0, 12.0])})
    book = make_book(40)
    out_k, _ = run(simulate_draws, 9, sp, mp, book, cohort_months=6)
    out_r, _ = run(simulate_draws_reference, 9, sp, mp, book, cohort_months=6)
    for v, name in enumerate(L.OUTPUTS):
        np.testing.assert_allclose(out_k[..., v], out_r[..., v], rtol=1e-9, atol=0, err_msg=name)
    plain = sp.copy()
    plain[..., L.P_TAIL_NU] = 0.0
    out_plain, _ = run(simulate_draws, 9, plain, mp, book, cohort_months=6)
    # Segment 1 has normal steps either way; segments 0 and 2 draw t steps instead.
    usage = out_k[..., L.V_USAGE]
    np.testing.assert_array_equal(usage[..., 1], out_plain[..., 1, L.V_USAGE])
    assert not np.allclose(usage[..., 0], out_plain[..., 0, L.V_USAGE])


def test_kernel_tail_param_slot():
    # The layout's slot and the params' neutral value: a book without a fitted nu gets normal steps.
    from simengine.params import _FIT_ONLY

    assert L.SEGMENT_PARAMS[L.P_TAIL_NU] == "usage_tail_nu"
    assert _FIT_ONLY["usage_tail_nu"] == 0.0
    assert math.isfinite(L.P_TAIL_NU)
