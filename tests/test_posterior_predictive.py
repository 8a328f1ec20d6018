"""Posterior-predictive check: fit a generated book whose truth is known, then simulate the fitted
model over the book's own history window and compare what it produces with what the book shows.

The book (400 accounts, 30 months, three segments) has a December peak, 3% skipped months, 3%
failed onboardings and use cases; no coverage flags and no commits (those have their own tests).
The simulation starts from an empty book at the window's first month with the fitted new-logo
process, the fitted posterior (NUTS, 2 x 150 draws: a check of the pipeline, not of the sampler)
and the kernel, so every observed quantity below is one draw of what the simulation should
reproduce.  Tolerances: an observed total must lie inside the simulated draws' range widened by
nothing (probability 2/(n+1) ~ 1.3% per check for a calibrated model with 150 draws); the monthly
usage path inside the 5-95% band in at least 75% of months (90% expected; the months are
correlated, so the band count is lenient by design); shares by their binomial SE.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from simengine.api import load_config
from simengine.bookstats.panel import new_use_cases, usage_panel
from simengine.data.synth import generate_book
from simengine.data.synth_truth import SynthOptions
from simengine.engine import BookState, run_kernel
from simengine.fitting import fit_book, posterior_draws
from simengine.kernels import layout as L
from simengine.newlogos import fit_new_logos
from simengine.params import build_parameters

PROFILE = (0.0, -0.04, -0.02, 0.0, 0.0, -0.03, -0.05, -0.04, 0.0, 0.02, 0.03, 0.13)
DRAWS = 150


@pytest.fixture(scope="module")
def fitted():
    options = SynthOptions(season_profile=PROFILE, zero_month_prob=0.03, onboarding_failure=0.03)
    synth = generate_book(
        n_accounts=400, history_months=30, seed=7, coverage=False, commits=False, options=options
    )
    book = synth.book
    cfg = load_config(["sim.draws=150", "sim.horizon_months=30", "market=rate"])
    fit_cfg = dataclasses.replace(cfg.fit, draws=DRAWS, tune=300, chains=2)
    tree = fit_book(book, fit_cfg, seed=3, progress=False)
    return synth, book, cfg, tree


def _simulate(book, cfg, tree):
    segments = tuple(book.segments)
    draws = posterior_draws(tree, cfg.sim.draws, cfg.seed, segments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = build_parameters(cfg, segments, draws, segments)
    first, as_of = int(book.window_start), int(book.as_of)
    months = as_of - first + 1
    mp = params.month_params[:, :, :months]
    # The fitted new-logo process over the window (one (a, b) per draw and segment).
    fit = fit_new_logos(book, segments)
    rng = np.random.default_rng(11)
    chol = np.linalg.cholesky(fit.cov)
    ab = fit.mean[None] + np.einsum("sij,dsj->dsi", chol, rng.standard_normal((DRAWS, 3, 2)))
    tau = (np.arange(first, as_of + 1) - as_of) / 12.0
    mp[..., L.M_NEW_LOGO_RATE] = np.exp(ab[..., 0, None] + ab[..., 1, None] * tau)
    for slot in (L.M_CSM_COVERAGE, L.M_SE_COVERAGE, L.M_UNHEALTHY_SHARE,
                 L.M_UC_UNHEALTHY_COVERED, L.M_UC_UNHEALTHY_UNCOVERED):  # fmt: skip
        mp[..., slot] = 0.0
    sp = params.seg_params
    sp[..., L.P_PRICE] = 1.0
    sp[..., L.P_COMMIT_SHARE] = 0.0
    outputs = run_kernel(
        BookState(L.empty_accounts(0), np.zeros((12, 3)), np.zeros((12, 3, 3))),
        L.Params(sp, np.ascontiguousarray(mp)), seed=5, month_of_year0=first % 12,
        threads=1, progress=False,
    )  # fmt: skip
    return outputs.out, first, months


def _inside(observed, simulated):
    return simulated.min() <= observed <= simulated.max()


@pytest.mark.slow
def test_posterior_predictive_on_a_generated_book(fitted):
    synth, book, cfg, tree = fitted
    out, first, months = _simulate(book, cfg, tree)
    acc = book.accounts
    segs = list(book.segments)
    start = acc["start_month"].to_numpy()
    end = acc["churn_month"].to_numpy(dtype=float, na_value=np.inf)
    grid = first + np.arange(months)
    seg_idx = acc["segment"].map({s: i for i, s in enumerate(segs)}).to_numpy()
    active = (start[:, None] <= grid) & (grid < end[:, None])
    for s, name in enumerate(segs):
        rows = seg_idx == s
        # New-logo counts over the window.
        observed_logos = ((start >= first) & rows).sum()
        assert _inside(observed_logos, out[:, :, s, L.V_NEW_LOGOS].sum(axis=1)), name
        # Survival by tenure, through the active-account path it shapes: at 6, 12, 24 months
        # into the window and at its end.
        for m in (6, 12, 24, months - 1):
            assert _inside(active[rows, m].sum(), out[:, m, s, L.V_ACTIVE]), (name, m)
        # Churned accounts over the window.
        churned = (rows & (end <= grid[-1])).sum()
        assert _inside(churned, out[:, :, s, L.V_CHURNED].sum(axis=1)), name
    # Use-case arrivals per active account-month (all segments: ~100 arrivals).
    cases = new_use_cases(book)
    rate_obs = len(cases) / active.sum()
    rate_sim = out[..., L.V_NEW_USE_CASES].sum(axis=(1, 2)) / out[..., L.V_ACTIVE].sum(axis=(1, 2))
    assert _inside(rate_obs, rate_sim)
    # Share of zero months: observed skipped share of active months vs simulated.
    panel = usage_panel(book, 12)
    zero_obs = panel.skipped.sum() / panel.active.sum()
    zero_sim = out[..., L.V_ZERO_MONTHS].sum(axis=(1, 2)) / out[..., L.V_ACTIVE].sum(axis=(1, 2))
    assert _inside(zero_obs, zero_sim)
    # Usage path (price 1): inside the 5-95% band in at least 75% of months.
    observed_usage = book.usage.groupby("month")["usage"].sum().reindex(grid, fill_value=0.0)
    sim_usage = out[..., L.V_USAGE].sum(axis=2)
    lo, hi = np.quantile(sim_usage, [0.05, 0.95], axis=0)
    inside = (observed_usage.to_numpy() >= lo) & (observed_usage.to_numpy() <= hi)
    assert inside.mean() >= 0.75, inside
    # Seasonal profile (one for every segment here): the population profile, the segments' mean,
    # recovers the generator's December peak (posterior mean within 0.04 of each true effect:
    # ~3 posterior SD at ~10,000 account-months), and every segment peaks in December.
    post = tree["posterior"]
    population = post["season_population"].mean(("chain", "draw")).to_numpy()
    np.testing.assert_allclose(population, np.array(PROFILE) - np.mean(PROFILE), atol=0.04)
    assert np.argmax(population) == 11
    season = post["season"].mean(("chain", "draw")).to_numpy()  # (segment, 12)
    assert (season.argmax(axis=1) == 11).all()
