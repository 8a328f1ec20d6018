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
    # 1,000 draws (2 x 500, to keep the test short): the gate scaled to them, bulk ESS >= 200
    # (400 per 2,000 draws) and R-hat <= 1.02 (split R-hat of 500-draw chains scatters ~0.005).
    assert check_gate(tree, FitConfig(min_ess_bulk=200, max_rhat=1.02)) == []


def _book_hazard(alpha, beta, life, segment_names, segments):
    """Mean monthly churn the book's observed account-months carry: the sBG hazard at tenure k,
    ``alpha / (alpha + beta + k)``, averaged over every observed at-risk boundary (entry .. end).
    The quantity ~events / exposure pins; the mean at acquisition ``alpha / (alpha + beta)`` rests
    on the first few boundaries only (~30 events a segment here) and is checked by coverage."""
    out = np.zeros((np.shape(alpha)[0], len(segments)))
    for s, segment in enumerate(segments):
        rows = life[(life["segment"] == segment) & (life["periods"] > 0)]
        k = np.concatenate(
            [np.arange(e, p) for e, p in zip(rows["entry"], rows["periods"], strict=True)]
        )
        a, b = np.atleast_1d(alpha)[:, s, None], np.atleast_1d(beta)[:, s, None]
        out[:, s] = (a / (a + b + k[None, :])).mean(axis=1)
    return out


def test_churn_recovered_despite_left_truncation(fitted):
    synth, tree = fitted
    truth = synth.truth
    segments = list(truth.segments)
    alpha, beta = _per_segment(tree, synth, "churn_alpha"), _per_segment(tree, synth, "churn_beta")
    life = observed_lifetimes(synth.book)
    events = life[life["periods"] > 0].groupby("segment")["churned"].sum()
    fitted_hazard = _book_hazard(alpha, beta, life, None, segments).mean(axis=0)
    true_hazard = _book_hazard(
        truth.churn_alpha[None, :], truth.churn_beta[None, :], life, None, segments
    )[0]
    for s, segment in enumerate(segments):
        if events[segment] < 150:  # the criterion: segments with >= 150 churn events
            continue
        # 15%: the tolerance; ~190-480 events give a posterior SD of ~5-7%.  Ignoring the
        # truncation (issue 8) put this 21-30% low on a survivors-only book.
        assert abs(fitted_hazard[s] / true_hazard[s] - 1) < 0.15, (
            segment,
            fitted_hazard,
            true_hazard,
        )
    # The mean at acquisition within 3 posterior SDs (0.3% false alarms a segment; on this seed
    # the data themselves put the starter MLE at 0.0245 against a true 0.0303, 2.4 SDs).
    mean = alpha / (alpha + beta)
    true_mean = truth.churn_alpha / (truth.churn_alpha + truth.churn_beta)
    z = np.abs(mean.mean(axis=0) - true_mean) / mean.std(axis=0)
    assert (z < 3).all(), (mean.mean(axis=0), true_mean, z)
    # The true 36-month survival inside the 90% interval (the criterion).
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
    post = tree["posterior"]
    season = post["season"].mean(("chain", "draw")).to_numpy()  # (segment, 12)
    population = post["season_population"].mean(("chain", "draw")).to_numpy()
    # 12 effects per segment, each summing to zero; every segment has the generator's December
    # peak, and the population profile (the segments' mean) is within 0.03 of its +0.15.
    assert np.abs(season.sum(axis=1)).max() < 1e-9
    assert (season.argmax(axis=1) == 11).all()
    assert abs(population[11] - 0.15) < 0.03 and population.argmax() == 11
    failure = _per_segment(tree, synth, "onboarding_failure")
    # Per segment, a calibrated 90% interval covers the truth with probability 0.9, so "all three
    # cover" fails for ~27% of honest seeds.  The 99.5% interval covers all three with probability
    # 0.995^3 = 0.985; a biased fit (e.g. failures not counted) falls far outside it.
    lo, hi = np.quantile(failure, [0.0025, 0.9975], axis=0)
    assert ((lo <= USER_OPTIONS.onboarding_failure) & (USER_OPTIONS.onboarding_failure <= hi)).all()
