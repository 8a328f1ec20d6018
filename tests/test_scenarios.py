"""Named scenarios reproduce the figures they are calibrated to; staffing shapes differ as documented.

These run the default synthetic book at a few hundred draws, so they are marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest

import simengine

pytestmark = pytest.mark.slow
QUIET = ["sim.progress=false"]


def test_best_in_class_expansion_multiple_is_8_to_10():
    ds = simengine.simulate(["scenario=best_in_class", "sim.draws=400", *QUIET])
    p50 = float(np.median(ds["expansion_multiple"]))
    # Seed 001: $8-10 of additional revenue over four years per $1 of initial booking.  With 400
    # draws the P50's standard error is ~1.25 * sd / sqrt(400) ~ 0.06 (sd ~ 0.9 across draws), so
    # the band is not decided by Monte Carlo noise (the P50 sits at ~9.1-9.3 across seeds).
    assert 8.0 <= p50 <= 10.0, p50


def test_post_sales_share_moves_from_5_to_40_percent():
    ds = simengine.simulate(["scenario=post_sales_shift", "sim.draws=100", *QUIET])
    share = ds["post_sales_share"].median("draw")
    assert 0.03 <= float(share.isel(month=0)) <= 0.08  # seed 001: ~5% today
    assert 0.33 <= float(share.isel(month=slice(24, 27)).mean()) <= 0.47  # ~40% within two years


@pytest.fixture(scope="module")
def shapes():
    return {
        name: simengine.simulate([f"staffing={name}", "sim.draws=200", *QUIET])
        for name in ("ae_heavy", "se_heavy")
    }


def test_se_heavy_vs_ae_heavy_mechanism(shapes):
    """README "SE-heavy vs AE-heavy": AE-heavy works more deals and wins more logos, but mostly
    without SE support: a lower win rate, more unhealthy starts, less use-case support in the base.
    SE-heavy wins fewer, healthier logos and expands the base faster (higher NRR)."""
    ae, se = shapes["ae_heavy"], shapes["se_heavy"]

    def p50(da):
        return float(np.median(da))

    assert p50(ae["deals"].mean("month")) > p50(se["deals"].mean("month"))
    assert p50(ae["new_logos"].sum(("segment", "month"))) > p50(
        se["new_logos"].sum(("segment", "month"))
    )
    assert (
        p50(se["deal_coverage"].mean("month")) > 0.9 > 0.5 > p50(ae["deal_coverage"].mean("month"))
    )
    assert p50(se["win_rate"].mean("month")) > p50(ae["win_rate"].mean("month"))
    assert p50(se["unhealthy_share"].mean("month")) < p50(ae["unhealthy_share"].mean("month"))
    assert p50(se["se_coverage"].mean("month")) > p50(ae["se_coverage"].mean("month"))
    # Paired (common random numbers): SE-heavy's NRR beats AE-heavy's in nearly every draw.
    nrr_gain = se["nrr_total"].isel(month=-1) - ae["nrr_total"].isel(month=-1)
    assert float((nrr_gain > 0).mean()) > 0.9
    expansion_gain = (se["expansion_revenue"] - ae["expansion_revenue"]).sum(("segment", "month"))
    assert float((expansion_gain > 0).mean()) > 0.9
