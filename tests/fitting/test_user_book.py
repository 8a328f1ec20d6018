"""Recovery on a book the defaults do not describe (issue 8): own segment names and prices,
Student-t steps, a December peak, zero and near-zero months, a survivors-only export with ~30% of
accounts predating the window, SE support at random with no effect, churn months one past the last
usage month, failed onboardings.  One fit, several checks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from simengine.config import FitConfig  # noqa: E402
from simengine.data.book import observed_lifetimes  # noqa: E402
from simengine.fitting import check_gate, fit_book  # noqa: E402

from .user_books import USER_OPTIONS, survival, user_book  # noqa: E402


@pytest.fixture(scope="module")
def fitted():
    synth = user_book()
    tree = fit_book(synth.book, FitConfig(draws=500, tune=700), seed=5, progress=False)
    return synth, tree


def _per_segment(tree, synth, name):
    """Posterior draws (n, S) in ``synth.truth.segments`` order."""
    da = tree["posterior"][name].sel(segment=list(synth.truth.segments))
    return da.stack(sample=("chain", "draw")).transpose("sample", "segment").to_numpy()


pytestmark = pytest.mark.slow


def test_the_fit_converges(fitted):
    _, tree = fitted
    # 1,000 draws: the ESS threshold of the gate scaled to them (the shipped fit uses 2,000+).
    assert check_gate(tree, FitConfig(min_ess_bulk=200)) == []


def test_churn_recovered_despite_left_truncation(fitted):
    synth, tree = fitted
    truth = synth.truth
    alpha, beta = _per_segment(tree, synth, "churn_alpha"), _per_segment(tree, synth, "churn_beta")
    life = observed_lifetimes(synth.book)
    events = life[life["periods"] > 0].groupby("segment")["churned"].sum()
    mean = (alpha / (alpha + beta)).mean(axis=0)
    true_mean = truth.churn_alpha / (truth.churn_alpha + truth.churn_beta)
    # CSM coverage (40% of accounts, hazard ratio 0.7) lowers the average hazard: compare the
    # baseline (uncovered) mean, which is what churn_alpha/beta describe.
    for s, segment in enumerate(truth.segments):
        if events[segment] < 150:  # the criterion: segments with >= 150 churn events
            continue
        # 15%: the tolerance; the posterior SD of the mean is ~7% at 150-480 events.
        assert abs(mean[s] / true_mean[s] - 1) < 0.15, (segment, mean[s], true_mean[s])
    # True 36-month survival inside the 90% interval, every segment.
    s36 = survival(alpha, beta, 36)
    true_s36 = survival(truth.churn_alpha, truth.churn_beta, 36)
    lo, hi = np.quantile(s36, [0.05, 0.95], axis=0)
    assert ((lo <= true_s36) & (true_s36 <= hi)).all(), (lo, true_s36, hi)


def test_no_se_effect_where_there_is_none(fitted):
    _, tree = fitted
    ratio = tree["posterior"]["se_use_case_ratio"].to_numpy().ravel()
    lo, hi = np.quantile(ratio, [0.05, 0.95])
    assert lo <= 1.0 <= hi, (lo, hi)


def test_drift_and_volatility_despite_near_zero_months(fitted):
    synth, tree = fitted
    truth = synth.truth
    drift = _per_segment(tree, synth, "usage_drift").mean(axis=0)
    vol = _per_segment(tree, synth, "usage_volatility").mean(axis=0)
    # Tolerances: drift within 0.002 a month (~2.4%/yr; posterior SD ~0.0007 with ~10k changes a
    # segment, x3) and volatility within 10% (Student-t steps with nu = 5: the SD estimate's
    # relative SE is ~sqrt((kurtosis - 1) / 4n) ~ 1.5%, plus the few dips the rule misses).  One
    # tiny month left in would put the volatility off by a factor of ~10 (issue 8).
    np.testing.assert_array_less(np.abs(drift - truth.usage_drift), 0.002)
    np.testing.assert_array_less(np.abs(vol / truth.usage_volatility - 1), 0.10)
    zero = _per_segment(tree, synth, "zero_month_prob").mean(axis=0)
    # ~40k active months: binomial SE of 3% is ~0.1 points; the start months (never skipped in
    # the generator, ~4% of months) pull the estimate down by ~4%: 15% tolerance.
    np.testing.assert_array_less(np.abs(zero / USER_OPTIONS.zero_month_prob - 1), 0.15)


def test_december_peak_and_onboarding_failure(fitted):
    synth, tree = fitted
    season = tree["posterior"]["season"].mean(("chain", "draw")).to_numpy()
    # 12 effects, sum zero; December (+0.15) stands out, within 0.03 of the truth.
    assert abs(season.sum()) < 1e-9
    assert abs(season[11] - 0.15) < 0.03 and season.argmax() == 11
    failure = _per_segment(tree, synth, "onboarding_failure")
    lo, hi = np.quantile(failure, [0.05, 0.95], axis=0)
    assert ((lo <= USER_OPTIONS.onboarding_failure) & (USER_OPTIONS.onboarding_failure <= hi)).all()
