"""Staffing: seats, attrition, backfill and ramp (kernel and Python layer)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from simengine.config import RoleConfig, StaffingConfig
from simengine.gtm import plan_seats, simulate_plan
from simengine.kernels.gtm import seat_keys, simulate_staffing


def _plan(**roles) -> StaffingConfig:
    return StaffingConfig(roles={name: RoleConfig(**kw) for name, kw in roles.items()})


def test_no_attrition_is_deterministic_by_hand():
    """5 ramped AEs, 3 hires in quarter 1 (month 3) with a 4-month ramp, nobody leaves."""
    plan = _plan(
        ae=dict(
            headcount=5, hires_per_quarter=[0, 3], ramp_months=4, attrition=0.0, cost_per_month=10.0
        )
    )
    res = simulate_plan(plan, draws=3, horizon=9, seed=1)
    ae = res.role("ae")
    expected_hc = [5, 5, 5, 8, 8, 8, 8, 8, 8]
    expected_cap = [5, 5, 5, 5 + 3 * 0.25, 5 + 3 * 0.5, 5 + 3 * 0.75, 8, 8, 8]
    for d in range(3):
        np.testing.assert_array_equal(res.headcount[d, :, ae], expected_hc)
        np.testing.assert_allclose(res.capacity[d, :, ae], expected_cap)
    np.testing.assert_allclose(res.salary_cost[..., ae], res.headcount[..., ae] * 10.0)
    assert res.headcount[..., res.role("se")].sum() == 0


def test_everyone_leaves_each_month_with_backfill_lag():
    """Attrition 1: each occupant stays one month, the seat is empty `lag` months, then refilled."""
    plan = _plan(se=dict(headcount=1, ramp_months=2, attrition=1.0, backfill_lag_months=2))
    res = simulate_plan(plan, draws=1, horizon=8, seed=0)
    se = res.role("se")
    np.testing.assert_array_equal(res.headcount[0, :, se], [1, 0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_allclose(res.capacity[0, :, se], [1, 0, 0, 0.5, 0, 0, 0.5, 0])


def test_attrition_rate_matches_geometric_tenure():
    """Steady state of one seat: occupied share = E[stay] / (E[stay] + lag) = (1/p) / (1/p + lag)."""
    p, lag = 0.05, 3
    plan = _plan(csm=dict(headcount=200, attrition=p, backfill_lag_months=lag, ramp_months=1))
    res = simulate_plan(plan, draws=20, horizon=240, seed=3)
    occupied = res.headcount[:, 120:, res.role("csm")].mean() / 200
    expected = (1 / p) / (1 / p + lag)
    # 20 draws x 200 seats x 120 months, strongly autocorrelated within a seat (~ 20 independent
    # stints per seat): SE of the share is ~ 0.3 / sqrt(4,000 seat-stints) ~ 0.005; allow 4 SE.
    assert occupied == pytest.approx(expected, abs=0.02)


def test_more_hires_never_lower_capacity():
    """Seats are keyed by (open month, k): adding hires leaves every other seat's path unchanged."""
    small = _plan(ae=dict(headcount=10, hires_per_quarter=[2, 1, 3], ramp_months=5, attrition=0.03))
    large = _plan(
        ae=dict(headcount=12, hires_per_quarter=[4, 1, 5, 2], ramp_months=5, attrition=0.03)
    )
    a = simulate_plan(small, draws=50, horizon=24, seed=9)
    b = simulate_plan(large, draws=50, horizon=24, seed=9)
    assert np.all(b.capacity >= a.capacity - 1e-12)
    assert np.all(b.headcount >= a.headcount)


def test_other_roles_unchanged_by_one_roles_plan():
    base = _plan(ae=dict(headcount=10, attrition=0.03), csm=dict(headcount=6, attrition=0.02))
    more = dataclasses.replace(base, roles=dict(base.roles))
    more.roles["ae"] = RoleConfig(headcount=20, attrition=0.03)
    a, b = simulate_plan(base, 30, 18, 5), simulate_plan(more, 30, 18, 5)
    csm = a.role("csm")
    np.testing.assert_array_equal(a.headcount[..., csm], b.headcount[..., csm])


def test_threads_do_not_change_staffing():
    import numba

    plan = _plan(ae=dict(headcount=30, hires_per_quarter=[3, 3], attrition=0.04, ramp_months=4))
    numba.set_num_threads(1)
    a = simulate_plan(plan, 40, 12, 2)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    b = simulate_plan(plan, 40, 12, 2)
    np.testing.assert_array_equal(a.capacity, b.capacity)


def test_plan_seats_and_keys():
    plan = _plan(ae=dict(headcount=2, hires_per_quarter=[1, 0, 2]), se=dict(headcount=1))
    role, opens, ramped = plan_seats(plan, horizon=7)  # quarter 2 opens in month 6 < 7
    assert list(role) == [0, 0, 0, 0, 0, 1]
    assert list(opens) == [-1, -1, 0, 6, 6, -1]
    assert list(ramped) == [True, True, False, False, False, True]
    keys = seat_keys(opens)
    assert len(set(keys[:5])) == 5
    assert plan_seats(plan, horizon=6)[1].tolist() == [-1, -1, 0, -1]  # month 6 is past the horizon


def test_kernel_handles_no_seats():
    hc = np.zeros((2, 3, 5))
    cap = np.zeros((2, 3, 5))
    empty = np.zeros(0, dtype=np.int64)
    simulate_staffing(
        np.uint64(0),
        empty,
        empty,
        empty,
        np.zeros(0, dtype=np.bool_),
        np.zeros((2, 5)),
        np.zeros(5, dtype=np.int64),
        np.ones(5),
        hc,
        cap,
    )
    assert hc.sum() == 0 and cap.sum() == 0
