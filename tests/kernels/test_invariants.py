"""Properties every run must have, over random parameters (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_book, make_params, run

BOOK = make_book(30)
N_EXISTING = np.bincount(BOOK.segment, minlength=3)
DRAWS = 4

scenario = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**64 - 1),
        "horizon": st.integers(1, 26),
        "cohort_months": st.integers(0, 14),
        "segment": st.fixed_dictionaries(
            {
                "churn_alpha": st.floats(0.05, 5.0),
                "churn_beta": st.floats(0.5, 200.0),
                "usage_volatility": st.floats(0.0, 0.5),
                "use_case_rate": st.floats(0.0, 1.0),
                "csm_hazard_ratio": st.floats(0.1, 1.0),
                "commit_share": st.floats(0.0, 1.0),
                "renewal_ratio": st.floats(0.0, 1.5),
                "ramp_start": st.floats(0.05, 1.0),
            }
        ),
        "month": st.fixed_dictionaries(
            {
                "new_logo_rate": st.floats(0.0, 12.0),
                "csm_coverage": st.floats(0.0, 1.0),
                "unhealthy_share": st.floats(0.0, 1.0),
                "hazard_multiplier": st.floats(0.0, 5.0),
                "new_logo_multiplier": st.floats(0.0, 2.0),
                "drift_shift": st.floats(-0.05, 0.05),
                "price_multiplier": st.floats(0.5, 1.5),
            }
        ),
        # Coverable accounts (CSM, SE); None: unlimited, the month parameters' shares apply.
        "capacity": st.one_of(st.none(), st.tuples(st.floats(0.0, 60.0), st.floats(0.0, 60.0))),
    }
)
SETTINGS = settings(max_examples=40, deadline=None)


def simulate(s, month=None, capacity=None, full=False):
    """Run scenario ``s``; ``capacity`` None: unlimited (the properties below that compare
    coverage shares need fixed shares: with binding capacity the share moves with the book)."""
    seg_params, month_params = make_params(DRAWS, s["horizon"], segment=s["segment"],
                                           month=s["month"] | (month or {}))  # fmt: skip
    return run(simulate_draws, s["seed"], seg_params, month_params, BOOK,
               cohort_months=s["cohort_months"], capacity=capacity, full=full)  # fmt: skip


@SETTINGS
@given(scenario)
def test_accounting_identities(s):
    out, cohort, coverage = simulate(s, capacity=s["capacity"], full=True)[:3]
    assert ((coverage >= 0) & (coverage <= 1)).all()
    v = {name: out[..., i] for i, name in enumerate(L.OUTPUTS)}
    for name in L.OUTPUTS:
        assert (v[name] >= 0).all(), name
    assert (cohort >= 0).all()
    # Accounts are conserved per (draw, segment): active = existing + new logos - churned.
    lhs = v["active_accounts"] + np.cumsum(v["churned_accounts"], axis=1)
    rhs = N_EXISTING + np.cumsum(v["new_logos"], axis=1)
    np.testing.assert_array_equal(lhs, rhs)
    assert (v["expansion_revenue"] <= v["revenue"] * (1 + 1e-12)).all()
    assert (v["existing_expansion_revenue"] <= v["expansion_revenue"] * (1 + 1e-12)).all()
    assert (v["new_logo_revenue"] <= v["revenue"] * (1 + 1e-12)).all()
    # Sums of min(now, year ago) over the same accounts: exact, as rounding is monotone.
    assert (v["retained_revenue_capped"] <= v["retained_revenue"]).all()
    assert (v["retained_revenue_capped"] <= v["retention_base"]).all()


@SETTINGS
@given(scenario, st.floats(1.0, 4.0))
def test_more_logo_capacity_never_fewer_logos(s, factor):
    low, _ = simulate(s)
    high, _ = simulate(s, {"new_logo_rate": s["month"]["new_logo_rate"] * factor + 0.5})
    assert (high[..., L.V_NEW_LOGOS] >= low[..., L.V_NEW_LOGOS]).all()


def cumulative_churned(s, month):
    out, _ = simulate(s, month | {"new_logo_rate": 0.0})  # existing accounts only
    return np.cumsum(out[..., L.V_CHURNED], axis=1)


@SETTINGS
@given(scenario, st.floats(0.0, 1.0))
def test_more_csm_coverage_never_more_churn(s, extra):
    coverage = s["month"]["csm_coverage"]
    low = cumulative_churned(s, {"csm_coverage": coverage})
    high = cumulative_churned(s, {"csm_coverage": coverage + extra * (1 - coverage)})
    assert (high <= low).all()


@SETTINGS
@given(scenario, st.floats(1.0, 10.0))
def test_higher_hazard_never_less_churn(s, factor):
    hazard = s["month"]["hazard_multiplier"]
    low = cumulative_churned(s, {"hazard_multiplier": hazard})
    high = cumulative_churned(s, {"hazard_multiplier": hazard * factor})
    assert (high >= low).all()


@SETTINGS
@given(scenario, st.floats(1.0, 4.0))
def test_higher_new_logo_multiplier_never_fewer_logos(s, factor):
    low, _ = simulate(s, capacity=s["capacity"])
    high, _ = simulate(s, {"new_logo_multiplier": s["month"]["new_logo_multiplier"] * factor + 0.1},
                       capacity=s["capacity"])  # fmt: skip
    assert (high[..., L.V_NEW_LOGOS] >= low[..., L.V_NEW_LOGOS]).all()


def test_subnormal_volatility_gives_finite_paths():
    """Hypothesis found sigma = 6.3e-162: sigma^2 is subnormal, and the account effect's posterior
    written as ``precision = n / sigma^2 + ...`` gave inf / inf = NaN revenue.  The shrinkage form
    is finite for every sigma >= 0; the kernel and the reference must both stay finite."""
    from .oracle import simulate_draws_reference

    s = {
        "seed": 0, "horizon": 3, "cohort_months": 0,
        "segment": {"churn_alpha": 1.0, "churn_beta": 1.0, "usage_volatility": 6.279375339328862e-162,
                    "use_case_rate": 0.0, "csm_hazard_ratio": 1.0, "commit_share": 0.0,
                    "renewal_ratio": 0.0, "ramp_start": 1.0},
        "month": {"new_logo_rate": 0.0, "csm_coverage": 0.0, "unhealthy_share": 0.0,
                  "hazard_multiplier": 0.0, "new_logo_multiplier": 0.0, "drift_shift": 0.0,
                  "price_multiplier": 1.0},
    }  # fmt: skip
    for sigma in (6.279375339328862e-162, 1e-160, 0.0):
        s["segment"]["usage_volatility"] = sigma
        out = simulate(s, full=True)[0]
        assert np.isfinite(out).all() and (out[..., L.OUTPUTS.index("revenue")] > 0).any()
        seg_params, month_params = make_params(DRAWS, 3, segment=s["segment"], month=s["month"])
        ref = run(simulate_draws_reference, 0, seg_params, month_params, BOOK, full=True)[0]
        assert np.isfinite(ref).all()
