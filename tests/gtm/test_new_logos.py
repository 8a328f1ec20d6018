"""New logos continue the book: the fitted new-logo process and the staffing calibration."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from simengine.api import load_config
from simengine.config.company import resolve_plan, today_plan
from simengine.data import default_book
from simengine.gtm import apply_drivers, simulate_plan
from simengine.kernels.layout import M_NEW_LOGO_RATE
from simengine.newlogos import fit_new_logos
from simengine.params import assumption_stream, build_parameters


def test_fitted_rate_reproduces_the_books_start_rate():
    """At as_of the fitted monthly rate matches the last 12 months' starts per segment: within 4
    Poisson SE of a 12-month mean (sqrt(r / 12)) plus 4 posterior SD of the fitted rate."""
    book = default_book()
    fit = fit_new_logos(book, tuple(book.segments))
    start = book.accounts["start_month"]
    for s, name in enumerate(book.segments):
        recent = ((book.accounts["segment"] == name) & (start > book.as_of - 12)).sum() / 12.0
        fitted = fit.rate_at_as_of()[s]
        tolerance = 4 * np.sqrt(recent / 12.0) + 4 * fitted * np.sqrt(fit.cov[s, 0, 0])
        assert abs(fitted - recent) < tolerance, (name, fitted, recent)
    # And the whole window: the fitted mean path sums to the observed starts (the Poisson score
    # equation for the level; the trend's prior pulls only the slope).
    assert fit.starts.sum() == ((start >= book.window_start) & (start <= book.as_of)).sum()


def test_todays_team_reproduces_todays_rate():
    """Today's team held (staffing=today, attrition and backfill included, the same seat streams
    as the reference) gets the fitted rate exactly, in every draw and month; a plan that hires
    gets more logos than today, by the same factor in every segment."""
    cfg = load_config(["sim.draws=40", "sim.horizon_months=24"])
    book = default_book()
    segments = tuple(book.segments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = build_parameters(cfg, segments)
    today = today_plan(cfg.company)
    held = simulate_plan(today, cfg.sim.draws, cfg.sim.horizon_months, cfg.seed, today=today)
    assert held.capacity[..., held.role("ae")].min() < 36  # attrition acts on today's team too
    fitted = fit_new_logos(book, segments).draw_rates(
        assumption_stream(cfg.seed, "gtm", "new_logo_process"), cfg.sim.draws, 24
    )
    assert apply_drivers(cfg, params, held, book).calibrated
    np.testing.assert_array_equal(params.month_params[..., M_NEW_LOGO_RATE], fitted)

    hiring = load_config(["sim.draws=40", "sim.horizon_months=24", "staffing=balanced"])
    plan = resolve_plan(hiring.staffing, hiring.company)
    grown = simulate_plan(
        plan, hiring.sim.draws, hiring.sim.horizon_months, hiring.seed, today=today
    )
    apply_drivers(hiring, params, grown, book)
    rate = params.month_params[..., M_NEW_LOGO_RATE]
    ratio = rate / fitted
    assert ratio[:, :, -1].mean() > 1.0  # the plan hires AEs
    # The ratio is the same for every segment (one team sells to all of them).
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1], rtol=1e-12)


@pytest.mark.parametrize("cut", [0, 1])
def test_no_window_no_fit(cut):
    """A book whose window holds no start has no fitted process (the drivers fall back)."""
    book = default_book()
    accounts = book.accounts.copy()
    accounts["start_month"] = np.minimum(accounts["start_month"], book.window_start - 1 - cut)
    assert fit_new_logos(dataclasses.replace(book, accounts=accounts), book.segments) is None
