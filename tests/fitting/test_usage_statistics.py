"""The usage likelihood from sufficient statistics equals the row-by-row formula it replaces."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc")

from simengine.data import generate_book  # noqa: E402
from simengine.fitting.core import build_joint_model  # noqa: E402


def _row_loglik(data, p):
    """Reference: per account-month residuals, account effects integrated out per account."""
    seg, acc = data["segment"], data["account"]

    def season(m, s):
        return p["season"][s, np.asarray(m) % 12]

    def log_ramp(k, s):
        table = p["ramp_log"]
        return table[s, np.minimum(k, table.shape[1] - 1)]

    month, tenure = data["month"], data["tenure"]
    expected = (
        p["usage_drift"][seg]
        + season(month, seg)
        - season(month - 1, seg)
        + log_ramp(tenure, seg)
        - log_ramp(tenure - 1, seg)
    )
    resid = data["change"] - expected
    n_acc = data["n_accounts"]
    count = np.bincount(acc, minlength=n_acc)
    s1 = np.bincount(acc, weights=resid, minlength=n_acc)
    s2 = np.bincount(acc, weights=resid**2, minlength=n_acc)
    var = p["usage_volatility"][data["account_segment"]] ** 2
    between = p["account_sd"][data["account_segment"]] ** 2
    total = var + count * between
    quad = (s2 - between * s1**2 / total) / var
    logdet = (count - 1.0) * np.log(var) + np.log(total)
    changes = -0.5 * np.sum(quad + logdet + count * np.log(2.0 * np.pi))

    s = data["init_segment"]
    level = data["init_log_usage"] - season(data["init_month"], s) - p["ramp_log"][s, 0]
    mu, sd = p["initial_log_usage_mu"][s], p["initial_log_usage_sd"][s]
    initial = np.sum(-0.5 * ((level - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2.0 * np.pi))
    return changes, initial


@pytest.mark.parametrize("point_seed", [0, 1])
def test_sufficient_statistics_match_row_formula(point_seed):
    from simengine.fitting.usage import UsageModel

    book = generate_book(n_accounts=300, seed=5).book
    data = UsageModel().prepare(book, 0)
    model, _ = build_joint_model(book, ["usage"], 0)
    rng = np.random.default_rng(point_seed)
    point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    names = [
        "usage_drift", "usage_volatility", "account_sd", "ramp_log",
        "initial_log_usage_mu", "initial_log_usage_sd", "season",
    ]  # fmt: skip
    wanted = [model[n] for n in names]
    wanted += [model["usage_change_loglik"], model["usage_initial_loglik"]]
    outs = model.compile_fn(
        model.replace_rvs_by_values(wanted),
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=True,
    )(point)
    values = dict(zip(names, outs[: len(names)], strict=True))
    ref_changes, ref_initial = _row_loglik(data, values)
    # float64 sums of ~5,000 terms of size ~1e0-1e1 regrouped: agreement to ~1e-9 relative
    np.testing.assert_allclose(outs[-2], ref_changes, rtol=1e-9)
    np.testing.assert_allclose(outs[-1], ref_initial, rtol=1e-9)


def _window_loglik(w, p):
    """Reference: the window likelihood per (window, node, lag), as first written, with the
    earlier use cases' uplift (each at its expected size, ramping) inside the log of later ones."""
    from scipy.special import logsumexp

    x, wts = np.polynomial.hermite.hermgauss(10)
    seg = w["segment"]

    def season(m, s):
        return p["season"][s, np.asarray(m) % 12]

    def log_ramp(k, s):
        table = p["ramp_log"]
        return table[s, np.minimum(k, table.shape[1] - 1)]

    mu, sigma = p["use_case_size_mu"][seg], p["use_case_size_sigma"][seg]
    size = np.exp(mu[:, None] + np.sqrt(2.0) * sigma[:, None] * x)
    ramp = p["use_case_ramp_months"][seg][:, None]
    lag = w["lag"][None, :]
    done, before = 1.0 - np.exp(-(lag + 1.0) / ramp), 1.0 - np.exp(-lag / ramp)
    uplift = np.zeros_like(done)
    uplift_before = np.zeros_like(done)
    for j in range(w["prev_gap"].shape[1]):
        age = w["prev_gap"][:, j][:, None] + lag
        on = w["prev_mask"][:, j][:, None]
        uplift += on * (1.0 - np.exp(-(age + 1.0) / ramp))
        uplift_before += on * (1.0 - np.exp(-age / ramp))
    mean_size = np.exp(mu + 0.5 * sigma**2)[:, None]
    uplift, uplift_before = mean_size * uplift, mean_size * uplift_before
    jump = np.log1p(uplift[:, None, :] + size[:, :, None] * done[:, None, :]) - np.log1p(
        uplift_before[:, None, :] + size[:, :, None] * before[:, None, :]
    )
    seg2 = np.broadcast_to(seg[:, None], w["month"].shape)
    base = (
        p["usage_drift"][seg][:, None] + season(w["month"], seg2) - season(w["month"] - 1, seg2)
        + log_ramp(w["tenure"], seg2) - log_ramp(w["tenure"] - 1, seg2)
    )  # fmt: skip
    resid = w["change"][:, None, :] - base[:, None, :] - jump
    sd = p["usage_volatility"][seg][:, None, None]
    logp = -0.5 * (resid / sd) ** 2 - np.log(sd) - 0.5 * np.log(2.0 * np.pi)
    logp = np.sum(logp * w["mask"][:, None, :], axis=2)
    return np.sum(logsumexp(logp + np.log(wts / np.sqrt(np.pi)), axis=1))


@pytest.mark.parametrize("point_seed", [0, 1])
def test_window_likelihood_matches_per_element_formula(point_seed):
    from simengine.fitting.expansion import ExpansionModel

    book = generate_book(n_accounts=300, seed=5).book
    later = {"later_windows": True}
    windows = ExpansionModel(later).prepare(book, 0)["windows"]
    assert windows["prev_mask"].any() and not windows["prev_mask"].all()  # both kinds of window
    model, _ = build_joint_model(book, ["expansion"], 0, {"expansion": later})
    rng = np.random.default_rng(point_seed)
    point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in model.initial_point().items()}
    names = [
        "usage_drift", "usage_volatility", "ramp_log", "season",
        "use_case_size_mu", "use_case_size_sigma", "use_case_ramp_months",
    ]  # fmt: skip
    wanted = [model[n] for n in names] + [model["use_case_size_loglik"]]
    outs = model.compile_fn(
        model.replace_rvs_by_values(wanted),
        inputs=model.value_vars,
        on_unused_input="ignore",
        point_fn=True,
    )(point)
    values = dict(zip(names, outs[: len(names)], strict=True))
    # same sums regrouped (x^2 - 2xJ + J^2 expanded): float64 agreement to ~1e-9 relative
    np.testing.assert_allclose(outs[-1], _window_loglik(windows, values), rtol=1e-9)
