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
    # More AEs by hiring: new logos are the book's fitted rate x plan / today's team
    # (company.team, held), so a plan changes them through its hires.
    more = simengine.simulate([*SMALL, "staffing.roles.ae.hires_per_quarter=[6,6,6,6,6]"])
    assert np.all(more["ramped_capacity"].sel(role="ae") >= base["ramped_capacity"].sel(role="ae"))
    assert np.all(more["new_logos"].values >= base["new_logos"].values)
    assert more["new_logos"].sum() > base["new_logos"].sum()


def test_more_csms_never_raise_churn(base):
    """Coverage moves with each draw's own book, so a bigger team need not cover a superset of
    accounts in every month (the accounts it keeps dilute it).  What holds exactly: in month 0 both
    runs have the same book, so more capacity gives at least the share; and a team that covers
    every account in every month (share 1, as 100 CSMs do for this ~150-account book: today's 12
    cover its flagged share, and heads above today's ramp from month 0) raises no account's hazard,
    so cumulative churn is never higher, draw by draw, month by month.
    """
    base = simengine.simulate([*SMALL, "staffing.roles.csm.headcount=2"])  # a base that binds
    more = simengine.simulate([*SMALL, "staffing.roles.csm.headcount=100"])
    first = {"month": 0}
    assert np.all(
        more["csm_coverage"].isel(first).values >= base["csm_coverage"].isel(first).values
    )
    assert np.all(more["csm_coverage"].values == 1.0)
    assert float(base["csm_coverage"].min()) < 1.0
    # New logos do not depend on CSMs, so the same accounts exist in both runs; each churns no
    # earlier with full coverage, so cumulative churn can only fall, month by month.
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
    from simengine.config.company import resolve_plan

    cfg = load_config(SMALL)
    for role, rc in resolve_plan(cfg.staffing, cfg.company).roles.items():
        np.testing.assert_allclose(
            base["salary_cost"].sel(role=role), base["headcount"].sel(role=role) * rc.cost_per_month
        )
    non_ae = base["variable_cost"].drop_sel(role="ae")
    assert float(abs(non_ae).max()) == 0.0
    assert 0 < float(base["post_sales_share"].min()) and float(base["post_sales_share"].max()) < 1


@pytest.mark.parametrize("plan", ["bookings", "consumption"])
def test_variable_pay_follows_the_plans_base(plan):
    """bookings: payout from bookings / quota; consumption: from the month's consumption increase
    (quotas calibrated to today's team, recorded in attrs)."""
    ds = simengine.simulate([*SMALL, f"comp={plan}"])
    from simengine.api import load_config

    cfg = load_config([*SMALL, f"comp={plan}"])
    total = ds.sum("segment")
    ae_cap = ds["ramped_capacity"].sel(role="ae").values
    # The quotas of each forecast year (today's production), month by month.
    by_year = dict(part.split(" ", 1) for part in ds.attrs["quotas_by_year"].split("; "))
    months = np.arange(ds.sizes["month"]) // 12

    def quotas(name):
        return np.array([float(q) for q in by_year[name].split(", ")])[months]

    if plan == "bookings":
        base = total["bookings"].values
        quota = quotas("bookings")
    else:
        # New logos' revenue (their own use cases included) + use cases of the book's accounts:
        # new logos' expansion is not counted twice.
        growth = (total["new_logo_revenue"] + total["existing_expansion_revenue"]).values
        base = np.maximum(
            growth - np.concatenate([np.zeros_like(growth[:, :1]), growth[:, :-1]], axis=1), 0
        )
        quota = quotas("consumption")
    attainment = base / (quota * ae_cap)
    np.testing.assert_allclose(ds["ae_attainment"].values, attainment, rtol=1e-12)
    expected = (
        cfg.comp.variable_share
        * cfg.company.team["ae"].cost_per_month  # the plan keeps today's AE cost
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


def test_expansion_revenue_splits_into_book_and_new_logos(base):
    """existing_expansion_revenue is the book's share of expansion_revenue; the rest belongs to new
    logos and sits inside new_logo_revenue (so the comp base adds it once)."""
    total = base.sum("segment")
    existing = total["existing_expansion_revenue"].values
    expansion = total["expansion_revenue"].values
    assert (existing >= 0).all() and (existing <= expansion * (1 + 1e-12)).all()
    new_logo_expansion = expansion - existing
    assert (new_logo_expansion <= total["new_logo_revenue"].values * (1 + 1e-12) + 1e-9).all()
    assert new_logo_expansion[:, -1].sum() > 0 and existing[:, -1].sum() > 0
