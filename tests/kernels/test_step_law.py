"""The usage step law (a two-component normal scale mixture, :mod:`simengine.bookstats.tails`): the
kernel's steps against the closed-form CDF, variance, kurtosis and ``E[exp(step)]``, and the NumPy
reference draws the same steps from the same streams."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simengine.bookstats.tails import mixture_moments, mixture_scales
from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_book, make_params, run
from .oracle import simulate_draws_reference
from .test_closed_forms import CALM, QUIET, flat_book
from .test_rng import P_MIN

#: The mixture closest to t(4) (mixture_from_student_t(4.0)): what the shared book's fit records.
WEIGHT, RATIO = 0.1325, 2.722


def _mixture_cdf(weight, ratio, sd):
    narrow, wide = mixture_scales(weight, ratio, sd)
    return lambda x: (1.0 - weight) * stats.norm.cdf(x / narrow) + weight * stats.norm.cdf(x / wide)


def _kernel_steps(weight, ratio, sigma, draws=2000, horizon=24):
    """One quiet account per draw: every month-on-month log-usage change is one usage step."""
    segment = QUIET | {
        "usage_volatility": sigma, "usage_tail_weight": weight, "usage_tail_ratio": ratio,
    }  # fmt: skip
    sp, mp = make_params(draws, horizon, 1, jitter=0.0, segment=segment, month=CALM)
    out, _ = run(simulate_draws, 6, sp, mp, flat_book(1))
    return np.diff(np.log(out[:, :, 0, L.V_USAGE]), axis=1).ravel()


@pytest.mark.parametrize(("weight", "ratio"), [(WEIGHT, RATIO), (0.0, 1.0)])
def test_kernel_usage_steps_follow_the_fitted_law(weight, ratio):
    """2,000 draws x 23 changes = 46,000 steps, KS against the closed-form mixture CDF (p > 1e-3:
    one correct sampler in a thousand fails at a fixed seed; resolution ~0.9% of CDF), and the
    other law (normal vs mixture of the same SD: ~4% of CDF apart near 0.5 SD, four times that
    resolution) is rejected."""
    sigma = 0.07
    d = _kernel_steps(weight, ratio, sigma)
    right = _mixture_cdf(weight, ratio, sigma)
    wrong = _mixture_cdf(WEIGHT, RATIO, sigma) if weight == 0.0 else stats.norm(0.0, sigma).cdf
    assert stats.kstest(d, right).pvalue > P_MIN
    assert stats.kstest(d, wrong).pvalue < P_MIN


def test_kernel_steps_have_the_closed_form_moments():
    """Variance, kurtosis and E[exp(step)] of 46,000 kernel steps against the closed forms.

    Tolerances are 4 standard errors of each estimate under the law itself (computed below from
    its higher moments), so a correct kernel fails with probability < 1e-4 each.  A Student-t(4)
    of the same SD (what the kernel drew before) has infinite kurtosis and E[exp(step)], and a
    normal kurtosis 3: both lie far outside the kurtosis band (7.14 +- ~0.7).
    """
    sigma = 0.07
    d = _kernel_steps(WEIGHT, RATIO, sigma)
    n = d.size
    closed = mixture_moments(WEIGHT, RATIO, sigma)
    narrow, wide = mixture_scales(WEIGHT, RATIO, sigma)

    def moment(power):  # E x^power of the centred mixture (even powers)
        double_factorial = math.prod(range(power - 1, 0, -2))
        return double_factorial * ((1 - WEIGHT) * narrow**power + WEIGHT * wide**power)

    var = closed["variance"]
    assert var == pytest.approx(sigma**2, rel=1e-12)  # the mixture keeps usage_volatility's SD
    se_var = math.sqrt((moment(4) - var**2) / n)
    assert abs(d.var() - var) < 4.0 * se_var
    assert closed["kurtosis"] == pytest.approx(7.14, abs=0.01)
    # The sample kurtosis's SE by the delta method on (m2, m4).
    m2, m4, m6, m8 = (moment(p) for p in (2, 4, 6, 8))
    grad = np.array([-2.0 * m4 / m2**3, 1.0 / m2**2])
    cov = np.array([[m4 - m2**2, m6 - m2 * m4], [m6 - m2 * m4, m8 - m4**2]]) / n
    se_kurt = math.sqrt(grad @ cov @ grad)
    kurt = float(np.mean(d**4) / np.mean(d**2) ** 2)
    assert abs(kurt - closed["kurtosis"]) < 4.0 * se_kurt
    assert 4.0 * se_kurt < 1.0  # the band excludes the normal's 3 and any t(<= 4)
    # E[exp(x)]: finite, and the sample mean of exp(step) within 4 SE of it.
    mean_exp = closed["mean_exp"]
    assert mean_exp == pytest.approx(
        (1 - WEIGHT) * math.exp(0.5 * narrow**2) + WEIGHT * math.exp(0.5 * wide**2), rel=1e-12
    )
    second = (1 - WEIGHT) * math.exp(2 * narrow**2) + WEIGHT * math.exp(2 * wide**2)
    se_exp = math.sqrt((second - mean_exp**2) / n)
    assert abs(np.exp(d).mean() - mean_exp) < 4.0 * se_exp


def test_kernel_matches_reference_with_mixture_steps():
    """The NumPy reference draws the same mixture steps from the same streams: the same outputs
    (the rule of test_reference.py: sums of the same terms in another order, rtol 1e-9)."""
    sp, mp = make_params(
        5, 14, 3,
        segment={"usage_tail_weight": np.array([0.13, 0.0, 0.3]),
                 "usage_tail_ratio": np.array([2.7, 1.0, 1.8])},
    )  # fmt: skip
    book = make_book(40)
    out_k, _ = run(simulate_draws, 9, sp, mp, book, cohort_months=6)
    out_r, _ = run(simulate_draws_reference, 9, sp, mp, book, cohort_months=6)
    for v, name in enumerate(L.OUTPUTS):
        np.testing.assert_allclose(out_k[..., v], out_r[..., v], rtol=1e-9, atol=0, err_msg=name)
    plain = sp.copy()
    plain[..., L.P_TAIL_WEIGHT] = 0.0
    out_plain, _ = run(simulate_draws, 9, plain, mp, book, cohort_months=6)
    # Segment 1 has normal steps either way; segments 0 and 2 draw mixture steps instead.
    usage = out_k[..., L.V_USAGE]
    np.testing.assert_array_equal(usage[..., 1], out_plain[..., 1, L.V_USAGE])
    assert not np.allclose(usage[..., 0], out_plain[..., 0, L.V_USAGE])


def test_kernel_tail_param_slots():
    # The layout's slots and the params' neutral values: a book without a fitted tail gets normal
    # steps.
    from simengine.params import _FIT_ONLY

    assert L.SEGMENT_PARAMS[L.P_TAIL_WEIGHT] == "usage_tail_weight"
    assert L.SEGMENT_PARAMS[L.P_TAIL_RATIO] == "usage_tail_ratio"
    assert _FIT_ONLY["usage_tail_weight"] == 0.0
    assert _FIT_ONLY["usage_tail_ratio"] == 1.0
