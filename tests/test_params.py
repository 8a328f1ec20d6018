"""Parameter assembly: distribution specs, their validation, and keyed assumption draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simengine.config import ConfigError
from simengine.kernels.layout import M_NEW_LOGO_RATE, SEGMENT_PARAMS
from simengine.params import build_parameters, draw_param, param_mean, validate_param


@pytest.mark.parametrize(
    ("spec", "kind", "fragment"),
    [
        (-1.0, "nonneg", "must be >= 0"),
        (0.0, "positive", "must be > 0"),
        (1.5, "probability", "in [0, 1]"),
        (float("nan"), "real", "finite"),
        (True, "real", "expected a number"),
        ("abc", "real", "expected a number"),
        ({"dist": "cauchy", "loc": 0}, "real", "must be one of"),
        ({"dist": "normal", "mu": 0}, "real", "takes exactly"),
        ({"dist": "normal", "mu": 0, "sigma": -1}, "real", "must be > 0"),
        ({"dist": "uniform", "low": 2, "high": 1}, "real", "low < high"),
        ({"dist": "normal", "mu": 0.5, "sigma": 0.1}, "probability", "can leave the range"),
        ({"dist": "uniform", "low": 0.2, "high": 1.2}, "probability", "can leave the range"),
    ],
)
def test_bad_specs_name_the_key(spec, kind, fragment):
    with pytest.raises(ConfigError) as err:
        validate_param(spec, "model.segments.smb.usage_drift", kind)
    assert "model.segments.smb.usage_drift" in str(err.value)
    assert fragment in str(err.value)


def test_price_must_be_fixed():
    with pytest.raises(ConfigError, match="prices are set"):
        validate_param(
            {"dist": "lognormal", "mu": 0, "sigma": 0.1}, "model.segments.smb.unit_price", "nonneg"
        )


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "normal", "mu": 0.3, "sigma": 0.1},
        {"dist": "lognormal", "mu": -1.0, "sigma": 0.4},
        {"dist": "gamma", "shape": 3.0, "rate": 2.0},
        {"dist": "beta", "a": 2.0, "b": 5.0},
        {"dist": "uniform", "low": 0.1, "high": 0.7},
    ],
)
def test_draws_match_their_mean(spec):
    validate_param(spec, "k")
    values = draw_param(spec, np.random.default_rng(3), 40_000)
    # 40,000 draws: the sample mean's SE is sd/200; 5 SE leaves a 1-in-a-million false alarm.
    assert abs(values.mean() - param_mean(spec)) < 5 * values.std() / 200


def test_fixed_number_is_repeated():
    assert np.all(draw_param(0.25, np.random.default_rng(0), 5) == 0.25)


def test_arrays_have_kernel_shapes(small_cfg):
    params = build_parameters(small_cfg, ("enterprise", "mid_market", "smb"))
    d, h = small_cfg.sim.draws, small_cfg.sim.horizon_months
    assert params.seg_params.shape == (d, 3, len(SEGMENT_PARAMS))
    assert params.month_params.shape[:3] == (d, 3, h)
    assert params.fitted == ()
    smb = params.month_params[:, 2, :, M_NEW_LOGO_RATE]
    assert np.all(smb == small_cfg.model.segments["smb"].new_logo_rate)


def test_unknown_segment_uses_default_and_says_so(small_cfg):
    params = build_parameters(small_cfg, ("smb", "startup"))
    assert params.default_segments == ("startup",)
    assert any("startup" in n for n in params.notes)
    drift = SEGMENT_PARAMS.index("usage_drift")
    assert np.all(params.seg_params[:, 1, drift] == small_cfg.model.segments["default"].usage_drift)


def test_assumption_draws_are_keyed_by_name(small_cfg):
    """Changing one uncertain assumption leaves every other draw untouched (common random numbers)."""
    cfg_a = dataclasses.replace(small_cfg)
    cfg_a.model.csm_hazard_ratio = {"dist": "lognormal", "mu": -0.36, "sigma": 0.2}
    cfg_a.model.unhealthy_decay = {"dist": "gamma", "shape": 2.0, "rate": 100.0}
    a = build_parameters(cfg_a, ("smb",))
    cfg_b = dataclasses.replace(cfg_a, model=dataclasses.replace(cfg_a.model))
    cfg_b.model.unhealthy_decay = {"dist": "gamma", "shape": 4.0, "rate": 100.0}
    b = build_parameters(cfg_b, ("smb",))
    hr = SEGMENT_PARAMS.index("csm_hazard_ratio")
    decay = SEGMENT_PARAMS.index("unhealthy_decay")
    assert np.array_equal(a.seg_params[:, 0, hr], b.seg_params[:, 0, hr])
    assert not np.array_equal(a.seg_params[:, 0, decay], b.seg_params[:, 0, decay])
    assert np.unique(a.seg_params[:, 0, hr]).size == small_cfg.sim.draws


def test_posterior_values_replace_assumptions(small_cfg):
    d = small_cfg.sim.draws
    posterior = {
        "churn_alpha": np.linspace(0.5, 1.5, d)[:, None] * np.ones((1, 2)),
        "season_cos": np.full(d, 0.1),
    }
    params = build_parameters(
        small_cfg, ("mid_market", "smb", "other"), posterior, ("mid_market", "smb")
    )
    alpha = SEGMENT_PARAMS.index("churn_alpha")
    assert np.allclose(params.seg_params[:, 0, alpha], np.linspace(0.5, 1.5, d))
    assert np.all(params.seg_params[:, 2, alpha] == small_cfg.model.segments["default"].churn_alpha)
    # The kernel reads 12 seasonal effects; a posterior with only the first harmonic gives them.
    january = SEGMENT_PARAMS.index("season_0")
    assert np.allclose(params.seg_params[:, :, january], 0.1)  # cos(0) = 1, season_sin 0
    assert set(params.fitted) == {"churn_alpha", "season_cos"}
    assert params.posterior_segments_missing == ("other",)
