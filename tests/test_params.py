"""Parameter assembly: distribution specs, their validation, and keyed assumption draws."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simengine.api import load_config
from simengine.config import ConfigError
from simengine.kernels.layout import (
    M_DRIFT_SHIFT,
    M_HAZARD_MULT,
    M_NEW_LOGO_MULT,
    M_NEW_LOGO_RATE,
    M_PRICE_MULT,
    M_USE_CASE_MULT,
    MONTH_PARAMS,
    SEGMENT_PARAMS,
    harmonic_season,
)
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


def test_arrays_have_kernel_shapes(small_overrides):
    cfg = load_config([*small_overrides, "market=rate", "market.new_logo_rate.smb=30"])
    params = build_parameters(cfg, ("enterprise", "mid_market", "smb"))
    d, h = cfg.sim.draws, cfg.sim.horizon_months
    assert params.seg_params.shape == (d, 3, len(SEGMENT_PARAMS))
    assert params.month_params.shape == (d, 3, h, len(MONTH_PARAMS))
    assert params.fitted == ()
    smb = params.month_params[:, 2, :, M_NEW_LOGO_RATE]
    assert np.all(smb == cfg.market.new_logo_rate["smb"])
    # Segments without a rate continue the book's fitted process: the pipeline fills them.
    assert np.all(params.month_params[:, :2, :, M_NEW_LOGO_RATE] == 0.0)
    # No adjustment: every multiplier 1, the drift shift 0.
    for slot in (M_HAZARD_MULT, M_USE_CASE_MULT, M_NEW_LOGO_MULT, M_PRICE_MULT):
        assert np.all(params.month_params[..., slot] == 1.0)
    assert np.all(params.month_params[..., M_DRIFT_SHIFT] == 0.0)


FIRST = 2026 * 12 + 10  # 2026-11: the first forecast month of a book observed to 2026-10


def test_adjust_fills_the_monthly_slots_from_from_month(small_overrides):
    """Each adjustment lands in its slot from adjust.from_month on; per-segment values win."""
    cfg = load_config(
        [
            *small_overrides,
            "adjust.churn_hazard=1.3",
            "adjust.usage_growth=-0.004",
            "adjust.use_case_rate=0.7",
            "adjust.new_logos={dist:lognormal,mu:-0.3,sigma:0.1}",
            "adjust.price=1.08",
            "adjust.from_month=2027-01",
            "adjust.segments.smb.price=1.2",
        ]
    )
    p = build_parameters(cfg, ("enterprise", "smb"), first_month=FIRST)
    mp = p.month_params
    k = 2  # 2027-01 is two months after 2026-11
    assert np.all(mp[:, :, :k, M_HAZARD_MULT] == 1.0)
    assert np.all(mp[:, :, k:, M_HAZARD_MULT] == 1.3)
    assert np.all(mp[:, :, :k, M_DRIFT_SHIFT] == 0.0)
    assert np.all(mp[:, :, k:, M_DRIFT_SHIFT] == -0.004)
    assert np.all(mp[:, :, k:, M_USE_CASE_MULT] == 0.7)
    assert np.all(mp[:, 0, k:, M_PRICE_MULT] == 1.08)
    assert np.all(mp[:, 1, k:, M_PRICE_MULT] == 1.2)
    logos = mp[:, :, k:, M_NEW_LOGO_MULT]
    # One draw per simulation draw, shared by every segment and month (a global adjustment).
    assert np.unique(logos).size == cfg.sim.draws
    assert np.all(logos == logos[:, :1, :1])
    assert np.all(mp[:, :, :k, M_NEW_LOGO_MULT] == 1.0)


def test_adjust_draws_are_common_random_numbers(small_overrides):
    """Changing one adjustment leaves the draws of the others untouched."""
    spec = "{dist:lognormal,mu:0.3,sigma:0.1}"
    a = build_parameters(
        load_config([*small_overrides, f"adjust.churn_hazard={spec}", "adjust.price=1.1"]), ("smb",)
    )
    b = build_parameters(load_config([*small_overrides, f"adjust.churn_hazard={spec}"]), ("smb",))
    np.testing.assert_array_equal(
        a.month_params[..., M_HAZARD_MULT], b.month_params[..., M_HAZARD_MULT]
    )
    assert not np.array_equal(a.month_params[..., M_PRICE_MULT], b.month_params[..., M_PRICE_MULT])


def test_override_replaces_posterior_and_is_reported(small_overrides):
    cfg = load_config([*small_overrides, "model.override.smb.usage_drift=0.002"])
    d = cfg.sim.draws
    posterior = {"usage_drift": np.full((d, 2), 0.01)}
    p = build_parameters(cfg, ("mid_market", "smb"), posterior, ("mid_market", "smb"))
    drift = SEGMENT_PARAMS.index("usage_drift")
    assert np.all(p.seg_params[:, 0, drift] == 0.01)  # fitted
    assert np.all(p.seg_params[:, 1, drift] == 0.002)  # replaced
    assert p.overrides == {"model.override.smb.usage_drift": "0.002"}


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


def test_a_season_per_segment_goes_to_its_segment_and_a_model_wide_one_to_all(small_cfg):
    """A fit with a profile per segment hands each segment its own 12 effects (a segment the
    posterior lacks keeps the config's harmonic); an older fit's model-wide profile, e.g. the
    shipped default posterior's, goes to every segment."""
    d = small_cfg.sim.draws
    rng = np.random.default_rng(3)
    per_segment = rng.normal(0.0, 0.1, (d, 2, 12))
    season = SEGMENT_PARAMS.index("season_0")
    params = build_parameters(
        small_cfg,
        ("smb", "mid_market", "other"),
        {"season": per_segment, "season_cos": per_segment[..., 0]},
        ("mid_market", "smb"),
    )
    got = params.seg_params[..., season : season + 12]
    np.testing.assert_array_equal(got[:, 0], per_segment[:, 1])  # smb: posterior's second
    np.testing.assert_array_equal(got[:, 1], per_segment[:, 0])
    # "other" is not in the posterior: the config's harmonic (plain numbers here)
    harmonic = harmonic_season(small_cfg.model.season_cos, small_cfg.model.season_sin)
    np.testing.assert_allclose(got[:, 2], np.broadcast_to(harmonic, (d, 12)))
    assert "season" in params.fitted
    model_wide = rng.normal(0.0, 0.1, (d, 12))
    params = build_parameters(small_cfg, ("smb", "mid_market"), {"season": model_wide}, ("smb",))
    got = params.seg_params[..., season : season + 12]
    np.testing.assert_array_equal(got, np.repeat(model_wide[:, None], 2, axis=1))


def test_the_shipped_model_wide_season_still_loads(small_cfg):
    """``season`` over ``month_of_year`` alone (fits before the profile was per segment)."""
    from simengine.fitting import DEFAULT_POSTERIOR, load_posterior, posterior_draws

    tree = load_posterior(DEFAULT_POSTERIOR)
    segments = tuple(str(s) for s in tree["posterior"]["segment"].values)
    draws = posterior_draws(tree, small_cfg.sim.draws, 0, segments)
    if draws["season"].ndim == 3:
        pytest.skip("the shipped posterior has been refitted with a season per segment")
    assert draws["season"].shape == (small_cfg.sim.draws, 12)
    params = build_parameters(small_cfg, segments, draws, segments)
    season = SEGMENT_PARAMS.index("season_0")
    for k in range(len(segments)):
        np.testing.assert_array_equal(
            params.seg_params[:, k, season : season + 12], draws["season"]
        )


def test_a_fitted_unnamed_segment_names_only_what_the_default_supplies(small_cfg):
    """The note lists the values the default supplies: none when the posterior fits them all."""
    from simengine.fitting import DEFAULT_POSTERIOR, load_posterior, posterior_draws

    params = build_parameters(small_cfg, ("smb", "startup"))
    (note,) = params.notes
    assert "startup" in note and "usage_drift" in note and "churn_alpha" in note
    draws = posterior_draws(
        load_posterior(DEFAULT_POSTERIOR), small_cfg.sim.draws, seed=1, segments=["smb"]
    )
    fitted = build_parameters(small_cfg, ("startup",), draws, ("startup",))
    assert fitted.default_segments == ("startup",)
    assert "usage_drift" in fitted.fitted and fitted.notes == []
