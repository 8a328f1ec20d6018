"""The usage and use-case size likelihoods in their account-free forms equal the per-account and
padded forms they replace: log density and gradient, at random points, on a book written outside
the project (``tests/data/eu_saas_book.py``, seed 31)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymc")

import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from simengine.bookstats.shapes import MONTHS_OF_YEAR  # noqa: E402
from simengine.data import load_book  # noqa: E402
from simengine.fitting.base import SharedParameters  # noqa: E402
from simengine.fitting.expansion import ExpansionModel, _size_nodes  # noqa: E402
from simengine.fitting.usage import UsageModel  # noqa: E402

GENERATOR = Path(__file__).resolve().parents[1] / "data" / "eu_saas_book.py"


def _usage_terms(params, w):
    """Reference: drift, season and onboarding terms of each window change, (n_w, W), gathered
    per change (the form before the (segment, month of year, tenure) table)."""
    seg = w["segment"]
    log_ramp = params.log_ramp_table(int(w["tenure"].max()))
    seg2 = np.broadcast_to(seg[:, None], w["month"].shape)
    return (
        params.get("usage_drift")[seg][:, None]
        + params.log_season(w["month"], seg2)
        - params.log_season(w["month"] - 1, seg2)
        + log_ramp[seg2, w["tenure"]]
        - log_ramp[seg2, w["tenure"] - 1]
    )


def _per_account_changes(params, stats, sigma, tau):
    """Reference: the marginal normal usage likelihood per cell and per account (the form the
    quadratic forms replace): gathers of each cell's and each account's parameters."""
    cells = stats["cells"]
    acc = stats["accounts"]
    log_ramp = params.log_ramp_table(stats["max_tenure"])
    season = params.season()
    drift = params.get("usage_drift")
    cs = cells["segment"]
    expected = (
        drift[cs]
        + season[cs, cells["moy"]]
        - season[cs, cells["prev_moy"]]
        + log_ramp[cs, cells["tenure"]]
        - log_ramp[cs, cells["tenure"] - 1]
    )
    var = sigma**2
    within = pt.sum(
        (cells["sum_sq"] - 2.0 * expected * cells["sum"] + cells["count"] * expected**2) / var[cs]
    )
    s = acc["segment"]
    n = acc["count"]
    ramp_sum = pt.sum(acc["ramp_coef"] * log_ramp[s[:, None], acc["ramp_tenure"]], axis=1)
    season_sum = pt.sum(acc["season_coef"] * season[s], axis=1)
    s1 = acc["sum"] - n * drift[s] - season_sum - ramp_sum
    between = (tau**2)[s]
    total = var[s] + n * between
    shared = pt.sum(between * s1**2 / (total * var[s]))
    logdet = pt.sum((n - 1.0) * pt.log(var[s]) + pt.log(total))
    return -0.5 * (within - shared + logdet + n.sum() * np.log(2.0 * np.pi))


def _per_cell_initial(params, stats):
    """Reference: the first-month level per (segment, month) cell."""
    init = stats["init_cells"]
    s = init["segment"]
    mean = (
        params.get("initial_log_usage_mu")[s]
        + params.season()[s, init["moy"]]
        + params.log_ramp_table(0)[s, 0]
    )
    sd = params.get("initial_log_usage_sd")[s]
    quad = init["sum_sq"] - 2.0 * mean * init["sum"] + init["count"] * mean**2
    return -0.5 * pt.sum(quad / sd**2 + init["count"] * (2.0 * pt.log(sd) + np.log(2.0 * np.pi)))


def _padded_first_windows(params, w):
    """Reference: the first use-case windows on the padded (window, lag) array, usage terms
    gathered per element, Student-t densities at every (window, node, lag) then masked."""
    seg = w["segment"]
    scale, nu = params.usage_noise()
    size_nodes, log_weight = _size_nodes(params)
    ramp = params.get("use_case_ramp_months")
    size = size_nodes[:, :, None]
    lag = w["lag"].astype(np.float64)
    done = 1.0 - pt.exp(-(lag[None, :] + 1.0) / ramp[:, None])
    done_before = 1.0 - pt.exp(-lag[None, :] / ramp[:, None])
    jump = pt.log1p(size * done[:, None, :]) - pt.log1p(size * done_before[:, None, :])
    mask = w["mask"].astype(np.float64)
    resid = w["change"] - _usage_terms(params, w)
    if nu is not None:
        noise = pm.StudentT.dist(nu=nu, mu=0.0, sigma=scale[seg][:, None, None])
        logp = pm.logp(noise, resid[:, None, :] - jump[seg])
        logp = pt.sum(logp * mask[:, None, :], axis=2)
        return pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    total = 0.0
    for s in range(len(params.model.coords["segment"])):
        rows = np.flatnonzero(seg == s)
        m = mask[rows]
        x = resid[rows] * m
        cross = pt.dot(x, jump[s].T)
        jump_sq = pt.dot(m, (jump[s] ** 2).T)
        logp = -0.5 * (pt.sum(x * x, axis=1)[:, None] - 2.0 * cross + jump_sq) / scale[s] ** 2
        logp = logp - m.sum(axis=1)[:, None] * (pt.log(scale[s]) + 0.5 * np.log(2.0 * np.pi))
        total = total + pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    return total


@pytest.fixture(scope="module")
def eu_book(tmp_path_factory):
    """The outside generator's seed-31 book at scale 0.25 (~1,000 accounts, 3 segments)."""
    out = tmp_path_factory.mktemp("eu31")
    subprocess.run([sys.executable, str(GENERATOR), str(out), "31", "0.25"], check=True)
    return load_book(out / "accounts.csv", out / "usage.csv", out / "use_cases.csv")


def _compare(book, robust: bool, n_points: int = 5):
    """New and reference terms with their gradients at ``n_points`` random points."""
    model = pm.Model(coords={"segment": list(book.segments), "month_of_year": MONTHS_OF_YEAR})
    params = SharedParameters(model)
    usage = UsageModel({"robust": robust})
    data = usage.prepare(book, 0)
    usage.add_to_model(params, data)
    expansion = ExpansionModel()
    windows = expansion.prepare(book, 0)["windows"]
    expansion.add_to_model(
        params, {"arrivals": expansion.prepare(book, 0)["arrivals"]} | {"windows": windows}
    )
    assert windows is not None and not windows["mask"].all()  # padding to skip
    pairs = [(model["use_case_size_loglik"], _padded_first_windows(params, windows))]
    if not robust:
        scale, _ = params.usage_noise()
        reference = _per_account_changes(params, data["stats"], scale, params.get("account_sd"))
        pairs += [
            (model["usage_change_loglik"], reference),
            (model["usage_initial_loglik"], _per_cell_initial(params, data["stats"])),
        ]
    values = model.value_vars
    outputs = []
    for new, old in pairs:
        for term in model.replace_rvs_by_values([new, old]):
            outputs += [term, *pytensor.grad(term, values, disconnected_inputs="ignore")]
    # FAST_COMPILE (NumPy implementations of the ops): the values are float64 either way, and the
    # graph compiles in seconds where the numba backend takes minutes.
    fn = pytensor.function(
        values,
        outputs,
        mode="FAST_COMPILE",
        on_unused_input="ignore",
    )
    rng = np.random.default_rng(7)
    start = model.initial_point()
    per_pair = len(outputs) // len(pairs)
    for _ in range(n_points):
        point = [start[v.name] + rng.normal(0.0, 0.3, np.shape(start[v.name])) for v in values]
        got = fn(*point)
        for p in range(len(pairs)):
            block = got[p * per_pair : (p + 1) * per_pair]
            new, old = block[: per_pair // 2], block[per_pair // 2 :]
            yield p, new, old


def _close(new, old, rtol: float) -> None:
    np.testing.assert_allclose(new[0], old[0], rtol=rtol)
    flat_new = np.concatenate([np.ravel(g) for g in new[1:]])
    flat_old = np.concatenate([np.ravel(g) for g in old[1:]])
    assert np.count_nonzero(flat_old) >= 10  # the term reads the parameters (values, not RVs)
    # Each gradient component to rtol of the gradient's scale: a component that cancels to ~0
    # (a zero-sum season effect, a parameter the term barely reads) has no relative precision in
    # either form, only an absolute one relative to the terms it sums.
    np.testing.assert_allclose(flat_new, flat_old, rtol=rtol, atol=rtol * np.abs(flat_old).max())


def test_quadratic_forms_equal_the_per_account_likelihood(eu_book):
    # Both forms sum the same float64 terms in another order; rtol 1e-10 leaves ~4 digits of room
    # above the ~1e-14 relative rounding measured on this book (centred quadratic forms).
    seen = set()
    for pair, new, old in _compare(eu_book, robust=False):
        _close(new, old, rtol=1e-10)
        seen.add(pair)
    assert seen == {0, 1, 2}


def test_student_t_windows_on_observed_pairs_equal_the_padded_form(eu_book):
    seen = set()
    for pair, new, old in _compare(eu_book, robust=True, n_points=5):
        _close(new, old, rtol=1e-10)
        seen.add(pair)
    assert seen == {0}
