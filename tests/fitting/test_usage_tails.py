"""The usage fit's tail switch: heavy-tailed changes are detected, their shape ``usage_tail_nu``
is estimated, and it reaches the simulation's parameters; normal books keep the plain model."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from simengine.data.synth import SynthOptions, generate_book  # noqa: E402
from simengine.fitting.core import build_joint_model  # noqa: E402
from simengine.fitting.usage import (  # noqa: E402
    TAIL_LR_CRITICAL,
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
    assert "usage_tail_nu" in det_heavy
    assert "usage_tail_nu" not in names(plain)[1]
    assert "usage_tail_nu" not in names(heavy, tails="normal")[1]
    assert "usage_tail_nu" in names(plain, tails="student_t")[1]
    with pytest.raises(ValueError, match="'tails' = 'wide'"):
        names(plain, tails="wide")


@pytest.mark.slow
def test_fitted_nu_reaches_the_kernel_parameters():
    """A real NUTS fit (usage only, 2 x 150 draws) of a t_3 book: usage_tail_nu is near 3, and
    the simulation's segment parameters carry its draws in the P_TAIL_NU slot."""
    from simengine.api import load_config
    from simengine.config.schema import FitConfig
    from simengine.fitting import fit_book
    from simengine.fitting.draws import posterior_draws
    from simengine.kernels import layout as L
    from simengine.params import build_parameters

    book = _book(3.0, 5, 400)
    cfg = FitConfig(models=["usage"], draws=150, tune=150, chains=2)
    tree = fit_book(book, cfg, 0, progress=False)
    nu = tree["posterior"]["usage_tail_nu"].values.ravel()
    # The ML shape of ~1,000 residuals (SD ~0.3 at nu = 3), the same in every draw: within 2.2-4.5
    # (> 2.5 SD each side).
    assert np.all(nu == nu[0])
    assert 2.2 < nu[0] < 4.5
    segments = list(book.segments)
    draws = posterior_draws(tree, 20, 0, segments)
    run_cfg = load_config(["sim.draws=20", "sim.horizon_months=12"])
    params = build_parameters(run_cfg, segments, draws, segments)
    slot = params.seg_params[..., L.P_TAIL_NU]
    np.testing.assert_array_equal(slot, np.repeat(draws["usage_tail_nu"][:, None], 3, axis=1))
    assert "usage_tail_nu" in params.fitted
