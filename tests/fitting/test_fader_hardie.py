"""The published sBG example: Fader & Hardie (2007), "How to project customer retention",
J. Interactive Marketing 21(1), Table 1 — survivors of 1,000 customers per cohort over 7 years.

From an accounts table with the four required columns only, the posterior **mode** (MAP,
``fit.method=map``) lands within 3% of the published maximum-likelihood estimates when the prior
on the Beta concentration is flat enough (``N(log 50, 10)``).  The mode, not the mean: with 1,000
customers per cohort the posterior of beta is right-skewed (regular cohort: mean 1.233, median
1.220, MLE 1.182), so the mean sits ~4% above the MLE whatever the prior.  The default prior,
``log kappa ~ N(log 50, 1.5)``, is set for monthly books; these cohorts are yearly with
``kappa`` ~1.9 and ~4.5 (2.2 and 1.6 prior SDs below its centre), and it pulls the regular
cohort's beta ~3.5% up: the command-line fit with default priors is checked within 5%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

pytest.importorskip("pymc")

#: Survivors at the start of years 0..7 (Fader & Hardie 2007, Table 1; the same data ship with
#: pymc-marketing's sBG examples).
SURVIVORS = {
    "regular": [1000, 631, 468, 382, 326, 289, 262, 241],
    "high_end": [1000, 869, 743, 653, 593, 551, 517, 491],
}
#: Published MLEs (Fader & Hardie 2007, section 3), reproduced by scipy here to 4 digits.
MLE = {"regular": (0.704, 1.182), "high_end": (0.668, 3.806)}


def _accounts_table(path):
    rows = []
    for segment, survivors in SURVIVORS.items():
        lost = -np.diff(survivors)
        churn = np.concatenate(
            [np.repeat(np.arange(1, len(survivors)), lost), np.full(survivors[-1], -1)]
        )
        for k, year in enumerate(churn):
            rows.append(
                {
                    "account_id": f"{segment}-{k:04d}",
                    "segment": segment,
                    # "years" as months: the sBG only counts boundaries
                    "start_month": "2000-01",
                    "churn_month": "" if year < 0 else f"{2000 + year // 12}-{year % 12 + 1:02d}",
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)


def _check(alpha_beta: dict, tolerance: float) -> None:
    for segment, (alpha, beta) in MLE.items():
        got_alpha, got_beta = alpha_beta[segment]
        assert abs(got_alpha / alpha - 1) < tolerance, (segment, got_alpha, alpha)
        assert abs(got_beta / beta - 1) < tolerance, (segment, got_beta, beta)


def _point(post) -> dict:
    return {
        s: (
            float(post["churn_alpha"].sel(segment=s).squeeze()),
            float(post["churn_beta"].sel(segment=s).squeeze()),
        )
        for s in MLE
    }


@pytest.mark.slow
def test_fader_hardie_cohorts_from_the_accounts_table_alone(tmp_path, cli):
    from simengine.config import FitConfig
    from simengine.data import load_book
    from simengine.fitting import fit_book
    from simengine.fitting.base import IndependentSegmentPrior

    accounts = tmp_path / "accounts.csv"
    _accounts_table(accounts)
    assert list(pd.read_csv(accounts).columns) == [
        "account_id", "segment", "start_month", "churn_month",
    ]  # fmt: skip
    # as_of = the last churn month (2000-08): every account observed for 7 boundaries.
    book = load_book(accounts)
    flat = {"churn_log_concentration": IndependentSegmentPrior(np.log(50.0), 10.0)}
    tree = fit_book(book, FitConfig(method="map"), seed=1, progress=False, priors=flat)
    # 3%: the tolerance (pymc-marketing's sBG lands within 1.5%); see module doc.
    _check(_point(tree["posterior"]), 0.03)

    # The same table through the command line, default priors.
    out = tmp_path / "fit"
    proc = cli(
        "fit", f"data.accounts={accounts}", "fit.models=[churn]", "fit.method=map",
        "sim.progress=false", f"hydra.run.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        post = tree["posterior"].to_dataset().load()
        assert tree.attrs["models"] == "churn" and tree.attrs["has_use_cases"] == 0
    _check(_point(post), 0.05)
