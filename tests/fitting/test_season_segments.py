"""Per-segment seasonality: each segment keeps its own dip, partially pooled over segments.

The book has the shape of the shared European book (``../shared/books/eu_saas_book.py``): the two
large-account segments dip 15% in July and August, the small-account one 10% in December.  One
profile for every segment would give the small accounts a summer dip and the large ones a false
December, so the checks below fail on a model-wide profile.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pymc")

from simengine.api import load_config  # noqa: E402
from simengine.data.synth import generate_book  # noqa: E402
from simengine.data.synth_truth import SynthOptions  # noqa: E402
from simengine.fitting import fit_book, posterior_draws  # noqa: E402
from simengine.params import build_parameters  # noqa: E402

SUMMER = tuple(-0.15 if m in (6, 7) else 0.0 for m in range(12))
DECEMBER = tuple(-0.10 if m == 11 else 0.0 for m in range(12))
#: Log seasonal effects per segment (enterprise, mid_market, smb), before centring.
PROFILES = (SUMMER, SUMMER, DECEMBER)


@pytest.fixture(scope="module")
def fitted():
    synth = generate_book(
        n_accounts=1200,
        history_months=36,
        seed=22,
        coverage=False,
        commits=False,
        use_cases=False,
        options=SynthOptions(season_profile=PROFILES),
    )
    cfg = load_config(["market=rate"])
    fit_cfg = dataclasses.replace(cfg.fit, models=["usage"], draws=300, tune=300, chains=2)
    return synth.book, fit_book(synth.book, fit_cfg, seed=4, progress=False)


@pytest.mark.slow
def test_each_segment_keeps_its_own_dip(fitted):
    book, tree = fitted
    season = tree["posterior"]["season"]
    assert season.dims[2:] == ("segment", "month_of_year")
    mean = season.mean(("chain", "draw")).sel(segment=list(book.segments)).to_numpy()
    sd = season.std(("chain", "draw")).sel(segment=list(book.segments)).to_numpy()
    truth = np.array(PROFILES) - np.mean(PROFILES, axis=1, keepdims=True)
    np.testing.assert_allclose(mean.sum(axis=1), 0.0, atol=1e-9)  # each segment sums to zero
    # The dip month: July or August for the large accounts (both -0.125 in truth), December for
    # the small ones.
    assert np.argmin(mean[0]) in (6, 7) and np.argmin(mean[1]) in (6, 7)
    assert np.argmin(mean[2]) == 11
    # Size of the dip relative to the segment's mean (the profile sums to zero): within 0.03 of
    # the truth, ~4 posterior SDs of a month's effect in the smallest segment (enterprise, 10% of
    # accounts: SD ~0.008) and the shrinkage towards the other segments a partially pooled
    # profile has by design (~0.01 here); the model-wide profile fitted to this book before
    # (measured: Jul/Aug -0.075, Dec -0.017) misses the large accounts' summer dip by 0.05.
    for k, months in ((0, [6, 7]), (1, [6, 7]), (2, [11])):
        assert abs(mean[k, months].mean() - truth[k, months].mean()) < 0.03, (k, mean[k], sd[k])
    # No false dips: the small accounts have no summer, the large ones no December (truth +0.008
    # and +0.025); the model-wide profile put -0.075 in the small accounts' summer.
    assert mean[2, [6, 7]].mean() > -0.03, mean[2]
    assert mean[0, 11] > -0.03 and mean[1, 11] > -0.03, mean[:2, 11]
    # The population profile is the segments' mean (deviations sum to zero over segments).
    population = tree["posterior"]["season_population"].mean(("chain", "draw")).to_numpy()
    np.testing.assert_allclose(population, mean.mean(axis=0), atol=1e-9)


@pytest.mark.slow
def test_the_kernel_reads_each_segments_profile(fitted):
    """``posterior_draws`` and ``build_parameters`` hand each segment its own 12 effects, in the
    run's segment order (here reversed from the posterior's)."""
    book, tree = fitted
    cfg = load_config(["sim.draws=40", "market=rate"])
    segments = tuple(reversed(book.segments))
    draws = posterior_draws(tree, cfg.sim.draws, cfg.seed, segments)
    assert draws["season"].shape == (40, 3, 12)
    assert draws["season_cos"].shape == (40, 3)
    params = build_parameters(cfg, segments, draws, segments)
    from simengine.kernels.layout import P_SEASON0

    kernel = params.seg_params[..., P_SEASON0 : P_SEASON0 + 12]
    np.testing.assert_array_equal(kernel, draws["season"])
    assert "season" in params.fitted
    smb, enterprise = segments.index("smb"), segments.index("enterprise")
    assert np.argmin(kernel[:, smb].mean(axis=0)) == 11
    assert np.argmin(kernel[:, enterprise].mean(axis=0)) in (6, 7)
