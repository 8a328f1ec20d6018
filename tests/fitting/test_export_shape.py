"""Both export shapes (issue 22, item 1): a *full* accounts table (accounts that churned before the
first usage month are listed, without usage rows) and a *survivors-only* one (only the accounts
alive in the first usage month).  The shape is detected per book; it sets the churn window, is
logged in one line and recorded in the posterior's attrs; ``data.observed_from`` overrides it."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from simengine.data import generate_book, load_book, observation_window, write_book
from simengine.data.book import observed_lifetimes
from simengine.data.months import format_month
from simengine.data.synth_truth import SynthOptions

from .user_books import USER_OPTIONS, USER_TRUTH, survival


def _book(full: bool, n_accounts: int = 4000, seed: int = 808):
    """The user-shaped book (Student-t steps, zero months, churn at ``as_of + 1``, failed
    onboardings, CSM coverage) with 24 months simulated before its 36 exported ones."""
    options = dataclasses.replace(USER_OPTIONS, pre_window_months=24, full_export=full)
    return generate_book(
        n_accounts, 36, as_of="2026-09", seed=seed, truth=USER_TRUTH, options=options
    )


def test_both_shapes_detected_and_the_window_follows(tmp_path):
    full, survivors = _book(True, 600).book, _book(False, 600).book
    first_usage = int(full.usage["month"].min())
    assert int(survivors.usage["month"].min()) == first_usage
    # The full table holds the survivors' table plus the accounts gone before the window.
    gone = ~full.accounts["account_id"].isin(survivors.accounts["account_id"])
    assert gone.any()
    assert (full.accounts.loc[gone, "churn_month"] <= first_usage).all()
    assert not full.usage["account_id"].isin(full.accounts.loc[gone, "account_id"]).any()

    assert full.export_shape == "full" and survivors.export_shape == "survivors-only"
    # Full: every account is seen from its start, nobody is conditioned on survival.
    assert full.window_start == int(full.accounts["start_month"].min()) < first_usage
    assert (observed_lifetimes(full)["entry"] == 0).all()
    # Survivors-only: the window opens at the first usage month, the older accounts are truncated.
    assert survivors.window_start == first_usage
    assert (observed_lifetimes(survivors)["entry"] > 0).sum() > 100
    # The usage models read the months with usage in both shapes.
    assert full.usage_window_start == survivors.usage_window_start == first_usage

    window = observation_window(full)
    assert window.shape == "full" and window.set_by == "detected"
    started_before = full.accounts["start_month"] < first_usage
    assert window.churned_before_usage == int((gone & started_before).sum())
    assert sum(window.truncated.values()) == 0
    line = observation_window(survivors).line()
    assert line.startswith("export shape: survivors-only (0 accounts churned before")
    assert f"churn window from {format_month(first_usage)} (first usage month)" in line
    for segment, n in observation_window(survivors).truncated.items():
        assert f"{segment} {n}" in line and n > 0

    # Through files (accounts without usage rows load), and data.observed_from overrides.
    paths = write_book(full, tmp_path / "full")
    loaded = load_book(paths["accounts"], paths["usage"], paths.get("use_cases"))
    assert loaded.export_shape == "full" and loaded.window_start == full.window_start
    forced = load_book(paths["accounts"], paths["usage"], observed_from=format_month(first_usage))
    assert forced.window_start == first_usage
    assert observation_window(forced).set_by == "data.observed_from"
    assert sum(observation_window(forced).truncated.values()) > 100


def test_a_book_without_pre_window_starts_keeps_its_window():
    """Accounts all starting inside the usage window: both rules agree, nobody is truncated (the
    embedded book's hash, and the posterior shipped with it, stay valid)."""
    book = generate_book(300, 24, seed=3, options=SynthOptions()).book
    assert book.export_shape == "full"
    assert book.window_start == int(book.usage["month"].min()) == book.default_window_start


def _book_hazard(alpha, beta, life, segments):
    """Mean monthly churn over the book's observed at-risk boundaries: the sBG hazard at tenure
    ``k``, ``alpha / (alpha + beta + k)``, averaged over every boundary from ``entry`` to the end
    (what events / exposure pin, as in ``test_user_book``); ``alpha``, ``beta`` (n, S)."""
    out = np.zeros((alpha.shape[0], len(segments)))
    for s, segment in enumerate(segments):
        rows = life[(life["segment"] == segment) & (life["periods"] > 0)]
        k = np.concatenate(
            [np.arange(e, p) for e, p in zip(rows["entry"], rows["periods"], strict=True)]
        )
        a, b = alpha[:, s, None], beta[:, s, None]
        out[:, s] = (a / (a + b + k[None, :])).mean(axis=1)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("full", [True, False], ids=["full", "survivors-only"])
def test_churn_recovered_on_both_shapes(full, caplog):
    pytest.importorskip("pymc")
    from simengine.config import FitConfig
    from simengine.fitting import fit_book

    synth = _book(full)
    book, truth = synth.book, synth.truth
    segments = list(truth.segments)
    with caplog.at_level(logging.INFO, logger="simengine"):
        tree = fit_book(
            book, FitConfig(models=["churn"], draws=300, tune=300), seed=1, progress=False
        )
    shape = "full" if full else "survivors-only"
    assert f"export shape: {shape}" in caplog.text
    assert tree.attrs["export_shape"] == shape
    assert tree["observed_data"].attrs["export_shape"] == shape
    assert tree.attrs["observed_from"] == book.window_start

    post = tree["posterior"]
    alpha, beta = (
        post[name].sel(segment=segments).stack(sample=("chain", "draw")).transpose().to_numpy()
        for name in ("churn_alpha", "churn_beta")
    )
    life = observed_lifetimes(book)
    events = life[life["periods"] > 0].groupby("segment")["churned"].sum()
    fitted = _book_hazard(alpha, beta, life, segments).mean(axis=0)
    true = _book_hazard(truth.churn_alpha[None], truth.churn_beta[None], life, segments)[0]
    checked = 0
    for s, segment in enumerate(segments):
        if events[segment] < 150:  # the criterion: segments with >= 150 churn events
            continue
        checked += 1
        # 15%: the tolerance; 150-770 events give a posterior SD of ~4-8% (this seed:
        # -6/-9/-7% on the full export, -6/-10/-11% survivors-only).  Reading the full export
        # with the survivors' window (both kinds of evidence for the pre-window months at once)
        # put it +15/+12/+15% high, and the mean at acquisition +29/+46/+51%.
        assert abs(fitted[s] / true[s] - 1) < 0.15, (segment, fitted, true)
    assert checked >= 2
    # The true 36-month survival inside the 90% interval (the criterion) in at least 2 of
    # the 3 segments, and inside the 99% interval in all: a calibrated posterior fails the first
    # with probability 3 * 0.1^2 * 0.9 + 0.1^3 = 2.8% and the second 1 - 0.99^3 = 3% (this seed
    # misses growth's 90% interval on the survivors-only book by 0.003).  A full export read
    # with the survivors' window put starter's 90% interval at [0.402, 0.450] around 0.471.
    s36 = survival(alpha, beta, 36)
    true_s36 = survival(truth.churn_alpha, truth.churn_beta, 36)
    lo, hi = np.quantile(s36, [0.05, 0.95], axis=0)
    assert ((lo <= true_s36) & (true_s36 <= hi)).sum() >= 2, (lo, true_s36, hi)
    lo, hi = np.quantile(s36, [0.005, 0.995], axis=0)
    assert ((lo <= true_s36) & (true_s36 <= hi)).all(), (lo, true_s36, hi)
