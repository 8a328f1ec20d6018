"""The usage fit's tail switch: heavy-tailed changes are detected, the step law's mixture
(``usage_tail_weight``, ``usage_tail_ratio``) is estimated, reproduces the data's extreme changes
and reaches the simulation's parameters; normal books keep the plain model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from simengine.bookstats.panel import usage_panel  # noqa: E402
from simengine.bookstats.tails import (  # noqa: E402
    TAIL_PARAMETERS,
    mixture_from_student_t,
    mixture_moments,
    mixture_scales,
)
from simengine.data.synth import generate_book  # noqa: E402
from simengine.data.synth_truth import SynthOptions  # noqa: E402
from simengine.fitting.core import build_joint_model  # noqa: E402
from simengine.fitting.usage import (  # noqa: E402
    TAIL_LR_CRITICAL,
    TAIL_MIN_TENURE,
    UsageModel,
    heavy_tails,
    tail_residuals,
)


def _book(nu: float | None, seed: int, n: int = 600):
    return generate_book(n, 36, "2026-10", seed, options=SynthOptions(noise_nu=nu)).book


def _test(book) -> dict:
    data = UsageModel({"tails": "normal"}).prepare(book, 0)
    return heavy_tails(*tail_residuals(data))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normal_books_are_not_flagged(seed):
    # Under normal changes 2 (ll_t - ll_normal) follows 0.5 chi2_0 + 0.5 chi2_1: it exceeds
    # TAIL_LR_CRITICAL = 10.83 with probability 5e-4 per book (seeds fixed, checked once).
    result = _test(_book(None, seed))
    assert result["n"] > 1000
    assert not result["heavy"], result
    assert result["lr"] < TAIL_LR_CRITICAL


@pytest.mark.parametrize("seed", [1, 2])
def test_student_t_books_are_flagged_with_their_nu(seed):
    # nu = 3 against a normal: LR ~ 280 on 1,000 residuals (book 303 of the backtest), so the
    # power is ~1.  The ML nu of ~1,500 t_3 residuals has SE ~0.3; 2.2-4.5 is > 2.5 SE each side.
    result = _test(_book(3.0, seed))
    assert result["heavy"], result
    assert 2.2 < result["nu"] < 4.5
    assert result["excess_kurtosis"] > 3.0


def test_model_gets_the_tail_shape_only_when_asked_or_heavy():
    heavy, plain = _book(3.0, 4, 300), _book(None, 4, 300)

    def names(book, **config):
        model, _ = build_joint_model(book, ["usage"], 0, model_configs={"usage": config})
        return {v.name for v in model.free_RVs}, {v.name for v in model.deterministics}

    free_plain, _ = names(plain)
    free_heavy, det_heavy = names(heavy)
    # The shape is a constant of the fit: the sampled model is the normal one either way.
    assert free_heavy == free_plain
    assert set(TAIL_PARAMETERS) <= det_heavy
    assert "usage_tail_nu" not in det_heavy
    assert not set(TAIL_PARAMETERS) & names(plain)[1]
    assert not set(TAIL_PARAMETERS) & names(heavy, tails="normal")[1]
    assert set(TAIL_PARAMETERS) <= names(plain, tails="mixture")[1]
    with pytest.raises(ValueError, match="'tails' = 'wide'"):
        names(plain, tails="wide")


def _changes(book, lag: int):
    """The book's clean ``lag``-month log-usage changes (every month in the span observed, not
    skipped, not within a use case's settling months, tenure >= TAIL_MIN_TENURE at the start)
    less their (segment, start month) mean, and their segments."""
    panel = usage_panel(book, 12, 0, 0)
    y = panel.log_usage
    width = y.shape[1]
    tenure = np.arange(width)[None, :] - panel.start[:, None]
    clean = np.isfinite(y) & ~panel.ramping
    change, segment, key = [], [], []
    for c in range(width - lag):
        ok = clean[:, c : c + lag + 1].all(axis=1) & (tenure[:, c] >= TAIL_MIN_TENURE)
        change.append(y[ok, c + lag] - y[ok, c])
        segment.append(panel.segment[ok])
        key.append(panel.segment[ok] * 1000 + c)
    change, segment, key = map(np.concatenate, (change, segment, key))
    _, cell = np.unique(key, return_inverse=True)
    count = np.bincount(cell)
    mean = np.bincount(cell, weights=change) / count
    keep = count[cell] >= 2
    residual = (change - mean[cell]) * np.sqrt(count[cell] / np.maximum(count[cell] - 1, 1))
    return residual[keep], segment[keep]


def _law_p999(segment, volatility, account_sd, weight, ratio, lag, reps=40):
    """P99.9 of |lag-month change| under a step law: ``lag`` mixture steps of SD volatility_s plus
    ``lag`` times an account effect of SD account_sd_s, for each observed window's segment."""
    rng = np.random.default_rng(0)
    narrow, wide = mixture_scales(weight, ratio, volatility[segment])
    size = (lag, segment.size)
    sims = [
        (rng.standard_normal(size) * np.where(rng.random(size) < weight, wide, narrow)).sum(0)
        + lag * account_sd[segment] * rng.standard_normal(segment.size)
        for _ in range(reps)
    ]
    return float(np.quantile(np.abs(np.concatenate(sims)), 0.999))


@pytest.mark.slow
def test_fitted_law_reproduces_the_observed_tail():
    """A t(4) book (2,000 accounts, 24 months before a 36-month window, no use cases), fitted
    (usage, MAP): the fitted law's P99.9 of a 1-month and a 12-month change is within a factor
    1.25 of the data's, and its E[exp(step)] is finite.

    The factor: the mixture closest to t(4) has a P99.9 of the 12-month sum 12% below t(4)'s and
    of one step 11% below (its tail is Gaussian past the data's largest changes: what keeps the
    mean finite), and the data's P99.9 from ~12,000 overlapping 12-month windows (~1,000 accounts)
    has a sampling error of ~5%; 1.25 holds both.  Power: a normal step of the same SD (the law
    without the tail) gives 0.57 of the data's 1-month P99.9 here, far outside; a t law is not
    checked by a quantile (its P99.9 is finite) but by E[exp(step)] (infinite for any t).
    """
    from simengine.config.schema import FitConfig
    from simengine.fitting import fit_book

    options = SynthOptions(noise_nu=4.0, pre_window_months=24)
    book = generate_book(2000, 36, "2026-10", 5, use_cases=False, options=options).book
    tree = fit_book(book, FitConfig(models=["usage"], method="map"), 0, progress=False)
    post = tree["posterior"]
    volatility = post["usage_volatility"].values.reshape(-1, 3).mean(axis=0)
    account_sd = post["account_sd"].values.reshape(-1, 3).mean(axis=0)
    weight = float(post["usage_tail_weight"].values.ravel()[0])
    ratio = float(post["usage_tail_ratio"].values.ravel()[0])
    assert 0.05 < weight < 0.4 and ratio > 1.5  # a heavy tail was found
    for lag in (1, 12):
        residual, segment = _changes(book, lag)
        data = float(np.quantile(np.abs(residual), 0.999))
        fitted = _law_p999(segment, volatility, account_sd, weight, ratio, lag)
        assert 1 / 1.25 < fitted / data < 1.25, (lag, fitted, data)
        if lag == 1:
            normal = _law_p999(segment, volatility, account_sd, 0.0, 1.0, lag)
            assert normal / data < 1 / 1.25  # the check has power against a thin tail
    moments = mixture_moments(weight, ratio, float(volatility.max()))
    assert np.isfinite(moments["mean_exp"]) and moments["mean_exp"] < 1.01


@pytest.mark.slow
def test_fitted_law_reaches_the_kernel_parameters():
    """A real NUTS fit (usage only, 2 x 150 draws) of a t_3 book: the mixture is a constant of the
    fit, and the simulation's segment parameters carry it in the P_TAIL_WEIGHT/RATIO slots."""
    from simengine.api import load_config
    from simengine.config.schema import FitConfig
    from simengine.fitting import fit_book
    from simengine.fitting.draws import posterior_draws
    from simengine.kernels import layout as L
    from simengine.params import build_parameters

    book = _book(3.0, 5, 400)
    cfg = FitConfig(models=["usage"], draws=150, tune=150, chains=2)
    tree = fit_book(book, cfg, 0, progress=False)
    weight = tree["posterior"]["usage_tail_weight"].values.ravel()
    ratio = tree["posterior"]["usage_tail_ratio"].values.ravel()
    assert np.all(weight == weight[0]) and np.all(ratio == ratio[0])
    # t(3) residuals: the closest mixture has w ~ 0.11, k ~ 3.7 (mixture_from_student_t(3));
    # ~1,000 residuals put the ML fit within a wide band around it.
    assert 0.03 < weight[0] < 0.3 and 2.0 < ratio[0] < 8.0
    segments = list(book.segments)
    draws = posterior_draws(tree, 20, 0, segments)
    run_cfg = load_config(["sim.draws=20", "sim.horizon_months=12"])
    params = build_parameters(run_cfg, segments, draws, segments)
    for name, slot in (
        ("usage_tail_weight", L.P_TAIL_WEIGHT),
        ("usage_tail_ratio", L.P_TAIL_RATIO),
    ):
        values = params.seg_params[..., slot]
        np.testing.assert_array_equal(values, np.repeat(draws[name][:, None], 3, axis=1))
        assert name in params.fitted


def test_old_posteriors_with_a_student_t_shape_still_load():
    """A posterior written with ``usage_tail_nu`` (and none at 0 = normal) is drawn as the mixture
    closest to t(nu): finite E[exp(step)], and nu = 0 stays normal."""
    import xarray as xr

    from simengine.fitting.draws import posterior_draws

    nu = np.array([[3.8, 3.8], [0.0, 0.0]])
    post = xr.Dataset(
        {"usage_tail_nu": (("chain", "draw"), nu)}, coords={"chain": [0, 1], "draw": [0, 1]}
    )
    draws = posterior_draws(xr.DataTree.from_dict({"posterior": post}), 4, 0, [])
    heavy = draws["usage_tail_nu"] > 0
    assert heavy.sum() == 2
    expected = mixture_from_student_t(3.8)
    np.testing.assert_allclose(draws["usage_tail_weight"][heavy], expected[0])
    np.testing.assert_allclose(draws["usage_tail_ratio"][heavy], expected[1])
    assert np.all(draws["usage_tail_weight"][~heavy] == 0.0)
    # t(3.8) as a mixture: ~13% of steps from a normal ~2.8x wider (KL-closest).
    assert 0.08 < expected[0] < 0.2 and 2.3 < expected[1] < 3.5
