"""Timing per assumption: each ``adjust`` value acts over its own window (``from``/``until``)."""

from __future__ import annotations

import numpy as np
import pytest

import simengine
from simengine.api import load_config
from simengine.config import ConfigError
from simengine.gtm.comp import QUOTA_DEPENDENT
from simengine.kernels.layout import M_DRIFT_SHIFT, M_HAZARD_MULT, M_NEW_LOGO_MULT, M_PRICE_MULT
from simengine.params import build_parameters
from tests.conftest import SMALL

FIRST = 2026 * 12 + 10  # 2026-11: the first forecast month of a book observed to 2026-10


def _slots(overrides, segments=("enterprise", "smb")):
    cfg = load_config([*SMALL, *overrides])
    return build_parameters(cfg, segments, first_month=FIRST).month_params


def test_each_value_acts_over_its_own_window():
    """Churn from January, fewer logos from April (+5), a price window of two months (until is
    inclusive), a segment with its own window, and a plain value on adjust.from_month."""
    mp = _slots(
        [
            "adjust.churn_hazard={value: 1.3, from: 2027-01}",
            "adjust.new_logos={dist: lognormal, mu: -0.3, sigma: 0.1, from: +5}",
            "adjust.price={value: 1.08, from: 2027-01, until: 2027-02}",
            "adjust.segments.smb.price={value: 1.2, from: +1}",
            "adjust.usage_growth=-0.004",
            "adjust.from_month=2027-03",
        ]
    )
    hazard, logos, price = mp[..., M_HAZARD_MULT], mp[..., M_NEW_LOGO_MULT], mp[..., M_PRICE_MULT]
    assert np.all(hazard[:, :, :2] == 1.0) and np.all(hazard[:, :, 2:] == 1.3)
    assert np.all(logos[:, :, :5] == 1.0) and np.all(logos[:, :, 5:] < 1.0)
    assert np.all(price[:, 0, :2] == 1.0) and np.all(price[:, 0, 2:4] == 1.08)
    assert np.all(price[:, 0, 4:] == 1.0)  # until 2027-02: March is back at list price
    assert np.all(price[:, 1, :1] == 1.0) and np.all(price[:, 1, 1:] == 1.2)
    drift = mp[..., M_DRIFT_SHIFT]
    assert np.all(drift[:, :, :4] == 0.0) and np.all(drift[:, :, 4:] == -0.004)


def test_relative_and_calendar_months_agree_and_windows_keep_the_draws():
    """``from: +5`` is 2027-04 here; a window moves when a value acts, never what is drawn
    (the stream is keyed by the adjustment and segment: common random numbers)."""
    spec = "dist: lognormal, mu: -0.3, sigma: 0.1"
    relative = _slots([f"adjust.new_logos={{{spec}, from: +5}}"])[..., M_NEW_LOGO_MULT]
    calendar = _slots([f"adjust.new_logos={{{spec}, from: 2027-04}}"])[..., M_NEW_LOGO_MULT]
    plain = _slots([f"adjust.new_logos={{{spec}}}"])[..., M_NEW_LOGO_MULT]
    np.testing.assert_array_equal(relative, calendar)
    np.testing.assert_array_equal(relative[:, :, 5:], plain[:, :, 5:])


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["adjust.price={value: 1.1, from: 2026-05}"], "adjust.price.from' = '2026-05': outside"),
        (["adjust.price={value: 1.1, from: +2, until: 2026-11}"], "adjust.price.until"),
        (["adjust.price={value: 1.0, from: +2}"], "adjust.price.from' has no effect"),
        (["adjust.from_month=+2", "adjust.price={value: 1.1, from: +3}"], "adjust.from_month"),
    ],
)
def test_windows_the_book_decides_are_refused_naming_the_key(overrides, fragment):
    """Checks that need the forecast's months (the run's dead-key check, 2026-11 .. 2028-01)."""
    from simengine.config import RunFacts, check_live
    from simengine.config.compose import default_config

    cfg = load_config([*SMALL, *overrides])
    facts = RunFacts(segments=("enterprise", "smb"), first_month=FIRST, last_month=FIRST + 14)
    with pytest.raises(ConfigError) as info:
        check_live(cfg, default_config(), facts)
    assert fragment in str(info.value), str(info.value)


def test_an_adjustment_from_april_changes_nothing_before_april():
    """CRN pair (same seed): churn 1.5x and half the new logos, both from 2027-04 (one as a
    calendar month, one as +5).  Every monthly variable before April is bitwise equal; after it
    the churned accounts rise and the new logos fall, draw by draw."""
    draws = ["sim.draws=32"]
    base = simengine.simulate([*SMALL, *draws])
    moved = simengine.simulate(
        [
            *SMALL,
            *draws,
            "adjust.churn_hazard={value: 1.5, from: 2027-04}",
            "adjust.new_logos={value: 0.5, from: +5}",
        ]
    )
    k = list(base["month"].dt.strftime("%Y-%m").values).index("2027-04")
    assert k == 5
    monthly = [v for v in base.data_vars if "month" in base[v].dims]
    assert {"revenue", "churned_accounts", "new_logos", "nrr_total", "salary_cost"} <= set(monthly)
    # The quotas are calibrated on the year's simulated production, so the outputs that read them
    # move in the months before a later change too (simengine.gtm.comp.QUOTA_DEPENDENT, a known
    # limitation); every other monthly output must not.
    for name in (m for m in monthly if m not in QUOTA_DEPENDENT):
        np.testing.assert_array_equal(
            moved[name].isel(month=slice(0, k)).values,
            base[name].isel(month=slice(0, k)).values,
            err_msg=name,
        )

    def after(ds, name):
        return ds[name].isel(month=slice(k, None)).sum(("month", "segment")).values

    # Paired by draw: under no effect a draw is as likely to go up as down, so P(>= 29 of 32
    # draws in the stated direction) ~ 1.3e-6 (binomial, p = 1/2).  Measured: churn up in 31 of
    # 32 draws (mean 18.4 -> 23.6), new logos down in 32 of 32 (71.6 -> 35.8).
    assert np.mean(after(moved, "churned_accounts") > after(base, "churned_accounts")) > 0.9
    assert np.mean(after(moved, "new_logos") < after(base, "new_logos")) > 0.9
    assert float(moved["revenue"].isel(month=-1).sum()) < float(
        base["revenue"].isel(month=-1).sum()
    )
