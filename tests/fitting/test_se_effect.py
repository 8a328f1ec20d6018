"""The SE ratio of use-case arrivals: no effect where there is none, the effect where there is one.

A use-case table that lists adoptions only (no initial use case per account, as many exports
have) leaves an account without a use case with no SE flag.  Reading that as "not SE-supported"
makes the SE-supported accounts exactly those with at least one adoption, and a ratio of ~2 appears
on a book whose flags are drawn at random (issue 22).  The fit reads such an account's flag as
latent (module docstring of :mod:`simengine.fitting.expansion`).  The fits here are of the
arrivals alone (``fit_sizes=False``): the ratio is read from them only.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simengine.bookstats.panel import new_use_cases
from simengine.data import generate_book
from simengine.fitting.expansion import ExpansionModel, arrival_counts

from .user_books import user_book


def _adoptions_only(book):
    """The book as an export that lists adoptions only: no initial use case, no ``se_engaged``."""
    cases = book.use_cases[book.use_cases["use_case_id"] != "uc0"]
    accounts = book.accounts.drop(columns=["se_engaged"], errors="ignore")
    return dataclasses.replace(book, accounts=accounts, use_cases=cases)


def test_an_account_without_a_use_case_has_no_flag():
    book = _adoptions_only(user_book(600, 808).book)
    arrivals = arrival_counts(book)
    unknown = arrivals[arrivals["se"] < 0]
    # Accounts without a use case: flag unknown, no arrivals, one row per (segment, exposure).
    assert len(unknown) and (unknown["count"] == 0).all() and (unknown["exposure"] > 0).all()
    assert not unknown.duplicated(["segment", "exposure"]).any()
    # Every arrival is in exactly one row.
    assert arrivals["count"].sum() == len(new_use_cases(book)) > 0
    # Known flags: the first use case is an arrival for every account with one (no uc0), so
    # every known-flag account revealed its flag inside its exposure.
    known = arrivals[arrivals["se"] >= 0]
    assert (known["revealed"] == known["accounts"]).all()


def test_the_mixture_only_where_flags_are_unknown():
    pytest.importorskip("pymc")
    options = {"fit_sizes": False}
    names = {}
    for label, book in (
        ("se_engaged", generate_book(n_accounts=300, seed=2).book),
        ("initial use cases", user_book(300, 808).book),
        ("adoptions only", _adoptions_only(user_book(300, 808).book)),
    ):
        model = ExpansionModel(options).build_model(book)
        names[label] = set(model.named_vars)
    assert "se_supported_share" not in names["se_engaged"]
    assert "se_supported_share" not in names["initial use cases"]
    assert {"se_supported_share", "se_use_case_ratio"} <= names["adoptions only"]


def _ratio_draws(book, seed: int = 1) -> np.ndarray:
    from simengine.config import FitConfig
    from simengine.fitting import fit_book

    cfg = FitConfig(models=["expansion"], draws=500, tune=500, chains=2)
    tree = fit_book(
        book, cfg, seed=seed, progress=False, model_configs={"expansion": {"fit_sizes": False}}
    )
    return tree["posterior"]["se_use_case_ratio"].to_numpy().ravel()


@pytest.mark.parametrize("shape", ["initial use cases", "adoptions only"])
def test_no_phantom_se_effect_on_random_flags(shape):
    """Flags drawn at random per use case, no effect on the rate (truth: ratio 1).

    The issue's criterion: the 90% interval holds 1.  Reading "no use case" as "not SE" gave
    [1.94, 2.31] on the adoptions-only book.  The point estimate on the adoptions-only user book
    at seeds 1-5 and 808 (3,000 accounts) was 0.93-1.04, the posterior SD of the log ratio ~0.07:
    this is not a seed picked to pass.  The median within 15% of 1 (~2 SDs) says the interval is
    not holding 1 by being wide.
    """
    pytest.importorskip("pymc")
    book = user_book(3000, 808).book
    if shape == "adoptions only":
        book = _adoptions_only(book)
    ratio = _ratio_draws(book)
    lo, median, hi = np.quantile(ratio, [0.05, 0.5, 0.95])
    assert lo <= 1.0 <= hi, (lo, median, hi)
    assert abs(median - 1.0) < 0.15, (lo, median, hi)


@pytest.mark.parametrize("shape", ["se_engaged", "adoptions only"])
def test_a_real_se_effect_is_recovered(shape):
    """The default truth's ratio 1.6 on SE-engaged accounts (every use case of an SE-engaged
    account flagged), read from ``se_engaged`` or from the use-case flags of an adoptions-only
    table.

    The 90% interval holds 1.6 and its lower end is above 1.25: the effect is found, not only
    allowed.  4,000 accounts: with adoptions only the flag of an account without a use case is
    latent and the ratio is identified more weakly (posterior SD of the log ratio ~0.06 here,
    ~0.1 at 2,000 accounts, where seed 11 gave [1.00, 1.40]); at 4,000 the MLE over seeds 1-6, 11
    and 12 was 1.44-1.78, so the lower bound of 1.25 is ~3 SDs below the truth.
    """
    pytest.importorskip("pymc")
    synth = generate_book(n_accounts=4000, seed=11)
    book = synth.book if shape == "se_engaged" else _adoptions_only(synth.book)
    truth = synth.truth.se_use_case_ratio
    ratio = _ratio_draws(book)
    lo, median, hi = np.quantile(ratio, [0.05, 0.5, 0.95])
    assert lo <= truth <= hi, (lo, median, hi)
    assert lo > 1.25, (lo, median, hi)


#: The book generator written outside the project (issue 22): use cases listed as adopted (no
#: initial one), each SE-supported at random with a per-segment share, SE support changing a use
#: case's size (x1.5), not its rate.  An unmodified copy lives in tests/data (CI has no ../shared).
SHARED_BOOK = Path(__file__).resolve().parents[1] / "data" / "eu_saas_book.py"


@pytest.mark.slow
def test_no_phantom_se_effect_on_books_written_outside(tmp_path):
    """Six books of the outside generator (seeds 101-106, the first tried; scale 0.5, ~2,000
    accounts): SE support does not change the rate, so the ratio's truth is 1 on each.

    At least 4 of the 6 90% intervals hold 1: a calibrated posterior fails that with probability
    P(Binomial(6, 0.9) <= 3) = 1.6%.  The geometric mean of the six medians within [0.83, 1.20]:
    the log median scatters by ~0.15 a book (the posterior SD), so +-3 SEs of the mean of six.
    Reading "no use case" as "not SE-supported" gave medians of 1.8-2.0 on such books and
    intervals that hold 1 on none.
    """
    pytest.importorskip("pymc")
    from simengine.data.loader import load_book

    held, log_medians = [], []
    for seed in range(101, 107):
        out = tmp_path / str(seed)
        subprocess.run(
            [sys.executable, str(SHARED_BOOK), str(out), str(seed), "0.5"],
            check=True,
            capture_output=True,
        )
        book = load_book(out / "accounts.csv", out / "usage.csv", out / "use_cases.csv")
        lo, median, hi = np.quantile(_ratio_draws(book), [0.05, 0.5, 0.95])
        held.append(lo <= 1.0 <= hi)
        log_medians.append(np.log(median))
    assert sum(held) >= 4, (held, np.exp(log_medians))
    assert 0.83 <= np.exp(np.mean(log_medians)) <= 1.20, np.exp(log_medians)
