"""Book accounts continue their own history: account effect, churn exposure, use cases in flight.

(The covered account's churn against its own exposure is in ``test_closed_forms``.)
"""

from __future__ import annotations

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from ._book import make_params, run
from .oracle import simulate_draws_reference
from .test_closed_forms import CALM, QUIET, flat_book

G, SIGMA, TAU = 0.005, 0.05, 0.02


def test_high_growth_account_keeps_its_own_effect():
    """An account whose 30 clean changes averaged +3%/month gets b_i from its conditional
    posterior: var = 1 / (n / sigma^2 + 1 / tau^2), mean = var (S1 / sigma^2) with S1 = sum d -
    n g.  Its simulated drift is g + mean; the same account without history (the population
    draw, paired: same streams) grows at g.  Per draw, the mean of 23 simulated changes has
    variance var + sigma^2 / 23; over 3,000 draws the SE of their mean is ~0.0021 / sqrt(3000)."""
    n, s = 30.0, 0.9
    draws, horizon = 3000, 24
    sp, mp = make_params(draws, horizon, 1, jitter=0.0,
                         segment=QUIET | {"usage_drift": G, "usage_volatility": SIGMA,
                                          "account_sd": TAU}, month=CALM)  # fmt: skip
    var = 1.0 / (n / SIGMA**2 + 1.0 / TAU**2)
    mean = var * (s - n * G) / SIGMA**2  # 0.0207
    se = np.sqrt((var + SIGMA**2 / (horizon - 1)) / draws)

    def growth(book):
        out, _ = run(simulate_draws, 9, sp, mp, book)
        log_u = np.log(out[:, :, 0, L.V_USAGE])
        return (log_u[:, -1] - log_u[:, 0]) / (horizon - 1)

    own = growth(flat_book(1, change_count=np.array([n]), change_sum=np.array([s])))
    population = growth(flat_book(1))
    assert abs(own.mean() - (G + mean)) < 4 * se
    assert abs(own.var() - (var + SIGMA**2 / (horizon - 1))) < 0.1 * own.var()  # ~4 SE of a var
    pop_se = np.sqrt((TAU**2 + SIGMA**2 / (horizon - 1)) / draws)
    assert abs(population.mean() - G) < 4 * pop_se
    assert own.mean() - population.mean() > 10 * se  # paired: its history, not the population


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_in_flight_use_cases_finish_their_ramp(fn):
    """One finished use case and one that started in the as_of month, each of size exp(mu)
    (size sigma 0): E_hist(as_of) = 2m - m q, the level backs it out, and usage in horizon month
    t is base x (1 + 2m - m q^(t + 2)) -- additive, converging to base x (1 + 2m)."""
    mu, ramp, horizon = np.log(0.25), 3.0, 24
    sp, mp = make_params(1, horizon, 1, jitter=0.0,
                         segment=QUIET | {"use_case_size_mu": mu, "use_case_size_sigma": 0.0,
                                          "use_case_ramp_months": ramp}, month=CALM)  # fmt: skip
    age = np.full((1, L.IN_FLIGHT), -1, dtype=np.int64)
    age[0, 0] = 0
    book = flat_book(1, use_cases_done=np.array([1.0]), use_case_age=age)
    out, _ = run(fn, 10, sp, mp, book)
    m, q = 0.25, np.exp(-1.0 / ramp)
    base = np.exp(5.0) / (1.0 + 2 * m - m * q)
    t = np.arange(horizon)
    np.testing.assert_allclose(out[0, :, 0, L.V_USAGE], base * (1 + 2 * m - m * q ** (t + 2)),
                               rtol=1e-12)  # fmt: skip
    # Past use cases are not the forecast's expansion.
    np.testing.assert_array_equal(out[..., L.V_EXPANSION_REVENUE], 0.0)
    assert out[0, -1, 0, L.V_USAGE] / np.exp(5.0) == pytest.approx(
        (1 + 2 * m) / (1 + 2 * m - m * q), rel=1e-3
    )  # the in-flight use case's remaining ramp (+~4% here) is not lost
