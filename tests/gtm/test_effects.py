"""Go-to-market effects under common random numbers, ceteris paribus, and cost accounting."""

from __future__ import annotations

import numpy as np
import pytest

import simengine
from simengine.gtm import payout_factor
from tests.conftest import SMALL


@pytest.fixture(scope="module")
def base():
    return simengine.simulate(SMALL)


def test_more_aes_never_fewer_new_logos(base):
    more = simengine.simulate(
        [
            *SMALL,
            "staffing.roles.ae.headcount=60",
            "staffing.roles.ae.hires_per_quarter=[6,6,6,6,6]",
        ]
    )
    assert np.all(more["ramped_capacity"].sel(role="ae") >= base["ramped_capacity"].sel(role="ae"))
    assert np.all(more["new_logos"].values >= base["new_logos"].values)
    assert more["new_logos"].sum() > base["new_logos"].sum()


def test_more_csms_never_raise_churn(base):
    more = simengine.simulate([*SMALL, "staffing.roles.csm.headcount=40"])
    assert np.all(more["csm_coverage"].values >= base["csm_coverage"].values)
    # New logos do not depend on CSMs, so the same accounts exist in both runs; each churns no
    # earlier with more coverage, so cumulative churn can only fall, month by month.
    np.testing.assert_array_equal(more["new_logos"].values, base["new_logos"].values)
    cum_more = more["churned_accounts"].cumsum("month")
    cum_base = base["churned_accounts"].cumsum("month")
    assert np.all(cum_more.values <= cum_base.values)
    assert cum_more.isel(month=-1).sum() < cum_base.isel(month=-1).sum()


def test_zero_ses_give_the_uncovered_rates_exactly(base):
    none = simengine.simulate(
        [*SMALL, "staffing.roles.se.headcount=0", "staffing.roles.se.hires_per_quarter=[]"]
    )
    assert np.all(none["deal_coverage"].values == 0.0)
    # With no SE support the win rate is win_rate x uncovered_win_ratio and the unhealthy share is
    # unhealthy_uncovered x the plan's multiplier: recover both draws from the covered run.
    from simengine.api import load_config
    from simengine.params import assumption_stream, draw_param

    cfg = load_config(SMALL)

    def draw(spec, name):
        return draw_param(spec, assumption_stream(cfg.seed, "gtm", name), cfg.sim.draws)

    win = draw(cfg.effects.win_rate, "effects.win_rate")
    ratio = draw(cfg.effects.uncovered_win_ratio, "effects.uncovered_win_ratio")
    unhealthy = draw(cfg.effects.unhealthy_uncovered, "effects.unhealthy_uncovered")
    mult = draw(cfg.comp.unhealthy_multiplier, "comp.unhealthy_multiplier")
    np.testing.assert_array_equal(
        none["win_rate"].values, np.broadcast_to((win * ratio)[:, None], none["win_rate"].shape)
    )
    np.testing.assert_array_equal(
        none["unhealthy_share"].values,
        np.broadcast_to((unhealthy * mult)[:, None], none["unhealthy_share"].shape),
    )
    assert np.all(none["se_coverage"] <= base["se_coverage"])


def test_cost_identities(base):
    np.testing.assert_allclose(base["cost"].sum("role"), base["total_cost"], rtol=1e-12)
    np.testing.assert_allclose(
        base["cost"], base["salary_cost"] + base["variable_cost"], rtol=1e-12
    )
    from simengine.api import load_config

    cfg = load_config(SMALL)
    for role, rc in cfg.staffing.roles.items():
        np.testing.assert_allclose(
            base["salary_cost"].sel(role=role), base["headcount"].sel(role=role) * rc.cost_per_month
        )
    non_ae = base["variable_cost"].drop_sel(role="ae")
    assert float(abs(non_ae).max()) == 0.0
    assert 0 < float(base["post_sales_share"].min()) and float(base["post_sales_share"].max()) < 1


@pytest.mark.parametrize("plan", ["bookings", "consumption"])
def test_variable_pay_follows_the_plans_base(plan):
    """bookings: payout from bookings / quota; consumption: from the month's consumption increase."""
    ds = simengine.simulate([*SMALL, f"comp={plan}"])
    from simengine.api import load_config

    cfg = load_config([*SMALL, f"comp={plan}"])
    total = ds.sum("segment")
    ae_cap = ds["ramped_capacity"].sel(role="ae").values
    if plan == "bookings":
        base = total["bookings"].values
        quota = cfg.comp.bookings_quota
    else:
        growth = (total["new_logo_revenue"] + total["expansion_revenue"]).values
        base = np.maximum(
            growth - np.concatenate([np.zeros_like(growth[:, :1]), growth[:, :-1]], axis=1), 0
        )
        quota = cfg.comp.consumption_quota
    attainment = base / (quota * ae_cap)
    np.testing.assert_allclose(ds["ae_attainment"].values, attainment, rtol=1e-12)
    expected = (
        cfg.comp.variable_share
        * cfg.staffing.roles["ae"].cost_per_month
        * ae_cap
        * payout_factor(attainment, cfg.comp.accelerator, cfg.comp.attainment_cap)
    )
    np.testing.assert_allclose(ds["variable_cost"].sel(role="ae").values, expected, rtol=1e-12)


def test_payout_curve():
    a = np.array([0.0, 0.5, 1.0, 2.0, 5.0])
    np.testing.assert_allclose(payout_factor(a, 1.5, 3.0), [0.0, 0.5, 1.0, 2.5, 4.0])


def test_bookings_plan_books_bigger_commits_and_less_healthy(base):
    bookings = simengine.simulate([*SMALL, "comp=bookings"])
    consumption = simengine.simulate([*SMALL, "comp=consumption"])
    assert float(bookings["unhealthy_share"].mean()) > float(consumption["unhealthy_share"].mean())
    per_logo_b = float(bookings["bookings"].sum() / bookings["new_logos"].sum())
    per_logo_c = float(consumption["bookings"].sum() / consumption["new_logos"].sum())
    assert per_logo_b > per_logo_c
