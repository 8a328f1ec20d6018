"""The covariate churn likelihood at extreme hazard ratios: smooth, monotone, no spurious corner.

Issue 22: at ``usage_decline_hazard_ratio`` ~ 1e18 the likelihood went flat and jumped (two
~e log e terms cancelling in float64), and a NUTS chain got stuck there with step size ~1e-7.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

pytest.importorskip("pymc")

import pytensor.tensor as pt  # noqa: E402

from simengine.fitting.churn import _covariate_log_likelihood  # noqa: E402

ALPHA, BETA = 0.8, 40.0
CELLS = pd.DataFrame(
    {
        "segment": 0,
        "periods": [24, 24],
        "churned": [0, 1],
        "entry": [0, 0],
        "csm": 0,
        "declining": [6, 6],
        "last_declining": [0, 1],
        "count": 1,
    }
)


def _loglik(ratio: float) -> np.ndarray:
    a, b = pt.as_tensor([ALPHA]), pt.as_tensor([BETA])
    h = pt.as_tensor(ratio)
    return _covariate_log_likelihood(a, b, CELLS, None, h).eval()


def _reference(ratio: float) -> np.ndarray:
    """log B(a, b + e) - log B(a, b) by the asymptote lgamma(b + e) - lgamma(a + b + e) =
    -a log(b + e) + O(a^2 / e), exact to ~1e-12 once e > 1e10 (the ranges tested)."""
    e = 18.0 + 6.0 * ratio
    head = gammaln(ALPHA + BETA) - gammaln(BETA)
    surv = head - ALPHA * np.log(BETA + e)
    churn = surv + np.log(ALPHA / (ALPHA + BETA + e)) + np.log(ratio)
    return np.array([surv, churn])


@pytest.mark.parametrize("log10_ratio", [10, 15, 18, 19, 25])
def test_extreme_ratio_matches_the_asymptote(log10_ratio):
    ratio = 10.0**log10_ratio
    # 1e-6 absolute: the reference is exact to ~1e-12 here; the old grouping was off by ~1e4.
    np.testing.assert_allclose(_loglik(ratio), _reference(ratio), rtol=0, atol=1e-6)


def test_survival_falls_smoothly_as_the_ratio_grows():
    ratios = np.logspace(0, 30, 61)
    surv = np.array([_loglik(r)[0] for r in ratios])
    # A survivor with declining months is less likely the larger the ratio, all the way out: the
    # slope in log h tends to -alpha (never 0, never a jump up).
    assert np.all(np.diff(surv) < 0)
    slope = np.diff(surv) / np.diff(np.log(ratios))
    assert slope[-1] == pytest.approx(-ALPHA, rel=1e-3)
