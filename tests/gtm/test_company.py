"""The company described once: every plan relative to today's team (issue 23, items 1-3).

Tiny runs on the ~150-account embedded book (tests/conftest.py ``SMALL``) and on a generated user
book written as CSV files, simulated with the example's model assumptions (``fit.posterior=none``:
the new-logo process and the coverage shares are the book's own, which is what these tests read).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import simengine
from simengine.data import generate_book, write_book
from simengine.newlogos import fit_new_logos
from tests.conftest import SMALL

#: Today's example team (configs/company/example.yaml) with every head doubled.
DOUBLED = [f"company.team.{role}.headcount={2 * n}"
           for role, n in (("ae", 36), ("se", 12), ("csm", 12), ("adoption", 2))]  # fmt: skip
#: A small company of one's own: 12 AEs, 4 SEs, 6 CSMs, every value its own.
OWN_TEAM = [
    "company.team.ae.headcount=12", "company.team.ae.cost_per_month=9000",
    "company.team.ae.deals_per_month=5",
    "company.team.se.headcount=4", "company.team.se.cost_per_month=8500",
    "company.team.se.deals_per_month=12", "company.team.se.accounts_covered=40",
    "company.team.csm.headcount=6", "company.team.csm.cost_per_month=6500",
    "company.team.csm.accounts_covered=60",
]  # fmt: skip


@pytest.fixture(scope="module")
def today():
    return simengine.simulate(SMALL)


@pytest.fixture(scope="module")
def own_book(tmp_path_factory):
    """A user's export (its own segment names, no coverage flags), written as CSV files."""
    book = generate_book(150, 24, as_of="2026-06", seed=23, coverage=False).book
    folder = tmp_path_factory.mktemp("own")
    paths = write_book(book, folder)
    return [f"data.{name}={path}" for name, path in paths.items()] + ["fit.posterior=none"]


def _doubled(overrides: list[str]) -> list[str]:
    out = []
    for o in overrides:
        key, value = o.split("=")
        out.append(f"{key}={2 * int(value)}" if key.endswith(".headcount") else o)
    return out


@pytest.mark.parametrize("book", ["embedded", "own"])
def test_doubled_description_leaves_the_status_quo_unchanged(today, own_book, book):
    """The same company described at twice the scale (today's team doubled, the plan today's):
    every plan value is a ratio to today's, so the forecast is bitwise the same; only the cost
    of the bigger team differs (about twice: salaries of twice the heads).  The embedded book
    flags who is covered (coverage scaled from the book's shares); the user's book does not
    (coverage effects as multipliers on the change from today's)."""
    if book == "embedded":
        base, doubled = today, simengine.simulate([*SMALL, *DOUBLED])
    else:
        base = simengine.simulate([*SMALL, *own_book, *OWN_TEAM])
        doubled = simengine.simulate([*SMALL, *own_book, *_doubled(OWN_TEAM)])
    same = ["revenue", "new_logos", "churned_accounts", "nrr", "unhealthy_share",
            "deal_coverage", "win_rate"]  # fmt: skip
    if book == "embedded":
        same += ["csm_coverage", "se_coverage"]  # the book's shares, scaled by plan / today
    else:  # the reported shares are the described team's capacity over the book: larger
        assert np.all(doubled["csm_coverage"].values >= base["csm_coverage"].values)
    for name in same:
        np.testing.assert_array_equal(doubled[name].values, base[name].values, err_msg=name)
    ratio = float(doubled["salary_cost"].sum() / base["salary_cost"].sum())
    # Twice the seats, each with its own attrition path: 16 draws x 15 months x 22-62 seats
    # leave the ratio within ~2% of 2.
    assert ratio == pytest.approx(2.0, rel=0.05)


def test_todays_team_reproduces_the_fitted_trend():
    """staffing=today: each segment's simulated new logos match the fitted trend's expected
    count (the Poisson means are the fitted rates exactly: tests/gtm/test_new_logos.py) within 5%;
    the smallest segment has ~2,000 expected logos here, so 5% is > 4 Poisson SE (2.2% each)."""
    cfg = [*SMALL, "sim.draws=400", "sim.horizon_months=12", "sim.cohort_months=0"]
    ds = simengine.simulate(cfg)
    from simengine.api import load_config
    from simengine.data import book_from_config
    from simengine.params import assumption_stream

    c = load_config(cfg)
    book = book_from_config(c.data)
    fitted = fit_new_logos(book, tuple(book.segments)).draw_rates(
        assumption_stream(c.seed, "gtm", "new_logo_process"), c.sim.draws, 12
    )
    expected = fitted.sum(axis=(0, 2))
    simulated = ds["new_logos"].sum(("draw", "month")).values
    assert expected.min() > 1600
    np.testing.assert_allclose(simulated, expected, rtol=0.05)


def test_self_serve_logos_ignore_the_sales_team():
    """A self-serve segment's sign-ups follow its fitted trend whatever the AEs: with 6 AE hires a
    quarter its new logos are the same, draw by draw; the sales-led segments' grow."""
    self_serve = [*SMALL, "company.channels.smb=self_serve"]
    held = simengine.simulate(self_serve)
    hiring = simengine.simulate([*self_serve, "staffing.roles.ae.hires_per_quarter=[6,6,6,6,6]"])
    np.testing.assert_array_equal(
        hiring["new_logos"].sel(segment="smb").values, held["new_logos"].sel(segment="smb").values
    )
    led = ["enterprise", "mid_market"]
    assert hiring["new_logos"].sel(segment=led).sum() > held["new_logos"].sel(segment=led).sum()
    assert float(hiring["unhealthy_share"].mean()) > 0
    assert "self-serve segments: smb" in held.attrs["company"]


def test_todays_team_attains_about_quota(own_book):
    """Quotas are today's production per ramped AE-month, set each forecast year: today's team
    held attains ~100% in every year, on the embedded book and on a user's book with its own
    team.  A year's mean of monthly attainment differs from the ratio of the year's sums the
    quota is set on by the months' spread (a few %), hence 10%."""
    embedded = simengine.simulate([*SMALL, "sim.horizon_months=24"])
    own = simengine.simulate([*SMALL, "sim.horizon_months=24", *own_book, *OWN_TEAM])
    for ds in (embedded, own):
        for year in range(2):
            attained = float(
                ds["ae_attainment"].isel(month=slice(12 * year, 12 * year + 12)).mean()
            )
            assert attained == pytest.approx(1.0, abs=0.1), (year, ds.attrs["company"])
    assert own.attrs["company"].startswith("company.team: 12 ae, 4 se, 6 csm")


def test_a_users_book_without_a_team_continues_its_history(own_book, caplog):
    """No company.team on a user's book: market=rate from the fitted history, said once in the
    log, no go-to-market outputs."""
    with caplog.at_level(logging.INFO, logger="simengine"):
        ds = simengine.simulate([*SMALL, *own_book])
    said = [r.getMessage() for r in caplog.records if "no company.team" in r.getMessage()]
    assert len(said) == 1 and "market=rate" in said[0]
    assert ds.attrs["market"] == "rate" and "cost" not in ds and "headcount" not in ds
    assert ds.attrs["company"].startswith("not described")
    assert float(ds["new_logos"].sum()) > 0


@pytest.mark.parametrize(
    ("own", "overrides", "fragment"),
    [
        # Two keys setting one number: the budget and ratio's 35 AEs, or the explicit 20.
        (
            False,
            ["staffing.budget=900000", "staffing.ae_per_se=3", "staffing.roles.ae.headcount=20"],
            "staffing.roles.ae.headcount' = 20",
        ),  # fmt: skip
        # A plan on a user's book whose team is not described.
        (True, ["staffing=se_heavy"], "describe today's team first"),
    ],
)
def test_refusals_exit_2_with_one_line(cli, tmp_path, own_book, own, overrides, fragment):
    out = tmp_path / "run"
    data = own_book if own else []
    proc = cli("run", *SMALL, *data, *overrides, f"hydra.run.dir={out}")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert not out.exists()
