"""The sBG churn likelihood against its closed form, and a small simulation-based calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import betaln

pytest.importorskip("pymc")

import pymc as pm  # noqa: E402
import pytensor.tensor as pt  # noqa: E402

from simengine.data import Book  # noqa: E402
from simengine.fitting.churn import churn_cells, sbg_log_likelihood  # noqa: E402


def _book(start, churn, as_of, segment="smb", **extra) -> Book:
    n = len(start)
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:04d}" for i in range(n)],
            "segment": [segment] * n if isinstance(segment, str) else list(segment),
            "start_month": np.asarray(start, dtype=np.int64),
            "churn_month": pd.array(churn, dtype="Int64"),
            **extra,
        }
    )
    usage = pd.DataFrame(
        {
            "account_id": pd.Series([], dtype=object),
            "month": pd.Series([], dtype=np.int64),
            "usage": pd.Series([], dtype=np.float64),
        }
    )
    return Book(accounts=accounts, usage=usage, use_cases=None, as_of=as_of, source={})


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 82.3), (0.4, 12.0), (3.0, 500.0), (1.2, 1e6)])
def test_sbg_matches_closed_form(alpha, beta):
    # One cell per (t, churned): P(T = t) = B(a+1, b+t-1)/B(a,b); S(t) = B(a, b+t)/B(a,b).
    periods = np.array([1, 2, 5, 36, 120, 1, 7, 36, 120])
    churned = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0])
    cells = pd.DataFrame(
        {
            "segment": 0,
            "periods": periods,
            "churned": churned,
            "csm": 0,
            "declining": 0,
            "last_declining": 0,
            "count": 1,
        }
    )
    expected = np.where(
        churned == 1, betaln(alpha + 1, beta + periods - 1), betaln(alpha, beta + periods)
    ) - betaln(alpha, beta)
    for i in range(len(cells)):
        got = sbg_log_likelihood(
            pt.as_tensor([alpha]), pt.as_tensor([beta]), cells.iloc[[i]]
        ).eval()
        # float64 round-off on sums of ~120 logs: 1e-9 relative.  At beta = 1e6 the reference
        # itself (a difference of two betaln near -1.4e7) keeps only ~1e-9 absolute, hence atol.
        np.testing.assert_allclose(got, expected[i], rtol=1e-9, atol=1e-8)


def test_cells_follow_the_contract_periods():
    # as_of 100: churned at 103 -> 3 periods, churn; active from 90 -> 10 censored periods;
    # started in the as_of month -> no boundary yet, dropped.
    book = _book([100 - 3, 90, 100], [100, pd.NA, pd.NA], as_of=100)
    cells = churn_cells(book)["cells"]
    assert cells[["periods", "churned", "count"]].values.tolist() == [[3, 1, 1], [10, 0, 1]]


def test_four_columns_give_exactly_sbg():
    rng = np.random.default_rng(5)
    start = rng.integers(0, 30, 300)
    theta = rng.beta(1.0, 50.0, 300)
    life = rng.geometric(theta)
    churn = [s + t if s + t <= 36 else pd.NA for s, t in zip(start, life, strict=True)]
    book = _book(start, churn, as_of=36)
    data = churn_cells(book)
    assert not data["has_coverage"] and not data["has_trend"]
    cells = data["cells"]
    a, b = 1.3, 60.0
    t = cells["periods"].to_numpy()
    ref = np.where(cells["churned"] == 1, betaln(a + 1, b + t - 1), betaln(a, b + t)) - betaln(a, b)
    got = sbg_log_likelihood(pt.as_tensor([a]), pt.as_tensor([b]), cells).eval()
    np.testing.assert_allclose(got, np.sum(cells["count"] * ref), rtol=1e-10)


def test_hazard_ratio_approximation_is_close_to_numerical_integral():
    from scipy.integrate import quad

    a, b, hr = 1.0, 80.0, 0.7
    for t, churned in [(12, 0), (36, 0), (12, 1), (30, 1)]:
        cells = pd.DataFrame(
            {
                "segment": [0],
                "periods": [t],
                "churned": [churned],
                "csm": [1],
                "declining": [0],
                "last_declining": [0],
                "count": [1],
            }
        )
        got = sbg_log_likelihood(
            pt.as_tensor([a]), pt.as_tensor([b]), cells, csm_hr=pt.as_tensor(hr)
        ).eval()
        n = t - churned

        def integrand(th, n=n, churned=churned):
            return stats.beta.pdf(th, a, b) * (1 - hr * th) ** n * (hr * th) ** churned

        exact = np.log(quad(integrand, 0, 1, points=[a / (a + b)], limit=200)[0])
        # first-order-in-theta approximation; module doc bounds the error by n c (1-c) theta^2/2
        assert abs(got - exact) < 5e-3


@pytest.mark.slow
def test_simulation_based_calibration_of_churn():
    """SBC (Talts et al. 2018) on a one-segment, four-column book: prior draw -> data -> posterior;
    the rank of the true mean churn among posterior draws must be uniform."""
    from simengine.fitting.base import PRIORS

    n_sims, n_accounts, keep = 30, 300, 99
    prior_mean, prior_conc = PRIORS["churn_logit_mean"], PRIORS["churn_log_concentration"]
    rng = np.random.default_rng(20261122)
    ranks = []
    from simengine.fitting.churn import ChurnModel

    for sim in range(n_sims):
        # the prior of PRIORS: learned-scale hierarchy for the mean, independent concentration
        scale = prior_mean.scale_floor + abs(rng.normal(0.0, prior_mean.scale_sd))
        logit = rng.normal(rng.normal(prior_mean.pop_mu, prior_mean.pop_sd), scale)
        log_conc = rng.normal(prior_conc.mu, prior_conc.sd)
        mean, conc = 1 / (1 + np.exp(-logit)), np.exp(log_conc)
        # With a tiny first shape (a prior draw far in the logit tail) numpy's Beta sampler
        # underflows to 0 or returns NaN (0/0): such an account never churns, which a tiny
        # positive rate says too.
        theta = rng.beta(mean * conc, (1 - mean) * conc, n_accounts)
        theta = np.clip(np.nan_to_num(theta, nan=0.0), 1e-300, 1.0)
        start = rng.integers(0, 36, n_accounts)
        life = np.minimum(rng.geometric(theta), 1000)  # beyond the window anyway; no overflow
        churn = [s + t if s + t <= 36 else pd.NA for s, t in zip(start, life, strict=True)]
        # PyMC's own NUTS here: the C code is cached across these same-shaped models, while nutpie
        # would re-jit each one (~12 s); the likelihood is the one fit_book samples.
        # 2 chains x (200 tune + 150 draws): 300 draws, thinned by 3 to the 99 ranked; 200 tuning
        # steps adapt this 7-parameter posterior (tree depth ~3.4, 0-1 divergences a sim).  About
        # half of a sim's ~4 s of CPU is compiling the model, not sampling it.
        with ChurnModel().build_model(_book(start, churn, as_of=36)):
            post = pm.sample(
                150,
                tune=200,
                chains=2,
                cores=1,
                nuts_sampler="pymc",
                random_seed=sim,
                progressbar=False,
                compute_convergence_checks=False,
            )
        post = post["posterior"]
        draws = (post["churn_alpha"] / (post["churn_alpha"] + post["churn_beta"])).values.ravel()
        thinned = draws[:: max(1, len(draws) // keep)][:keep]  # thin against autocorrelation
        ranks.append(int(np.sum(thinned < mean)))
    # Uniform ranks on 0..keep: chi-square over 5 equal bins; 30 sims -> 6 expected per bin.
    # p > 0.01: a correct model fails 1% of the time; a biased posterior piles ranks at one end.
    # Power at this size (4,000 simulated SBC runs of 30 ranks of 99 independent draws): a
    # posterior shifted by 1 posterior SD fails 96% of the time, by 0.75 SD 71%; one half as
    # wide as it should be 43%, twice as wide 68%.  Seed 20261122 gives p = 0.45.
    counts = np.histogram(ranks, bins=5, range=(0, keep + 1))[0]
    assert stats.chisquare(counts).pvalue > 0.01, counts


def test_pymc_is_only_imported_by_fitting():
    import subprocess
    import sys

    code = "import sys, simengine.fitting; print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert pm.__version__  # the fit itself does import it


@pytest.mark.parametrize("beta", [5.0, 82.3, 1e6, 4e11])
def test_covariate_form_is_exact_sbg_at_hazard_ratio_one_even_at_huge_beta(beta):
    # The run-off of issue 8 (a chain stuck at churn_beta ~ 4e11): gammaln(b + e) - gammaln(b)
    # at b ~ 4e11 kept ~1e-3 of absolute precision, so the log density was noise out there.
    # With the stable lgamma_ratio the covariate form at ratio 1 equals the exact sBG product.
    alpha = 1.3
    cells = pd.DataFrame(
        {
            "segment": 0,
            "periods": [3, 12, 36, 5, 30],
            "churned": [1, 1, 1, 0, 0],
            "entry": [0, 4, 0, 2, 10],
            "csm": 1,
            "declining": 0,
            "last_declining": 0,
            "count": 1,
        }
    )
    a, b = pt.as_tensor([alpha]), pt.as_tensor([beta])
    exact = sbg_log_likelihood(a, b, cells.assign(csm=0)).eval()
    approx = sbg_log_likelihood(a, b, cells, csm_hr=pt.as_tensor(1.0)).eval()
    # float64 round-off of sums of ~36 log terms: 1e-9 relative
    np.testing.assert_allclose(approx, exact, rtol=1e-9)
    grad = pt.grad(sbg_log_likelihood(a, b, cells, csm_hr=pt.as_tensor(1.0)), b).eval()
    assert np.isfinite(grad).all()


def test_left_truncation_divides_by_survival_to_the_window():
    a, b = 0.8, 20.0
    cells = pd.DataFrame(
        {
            "segment": 0,
            "periods": [10, 10],
            "churned": [1, 0],
            "entry": [6, 6],
            "csm": 0,
            "declining": 0,
            "last_declining": 0,
            "count": 1,
        }
    )
    got = sbg_log_likelihood(pt.as_tensor([a]), pt.as_tensor([b]), cells).eval()
    log_s6 = betaln(a, b + 6) - betaln(a, b)
    ref = (betaln(a + 1, b + 9) - betaln(a, b) - log_s6) + (
        betaln(a, b + 10) - betaln(a, b) - log_s6
    )
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_decline_covariate_counts_zeros_and_skips_the_last_month():
    from simengine.fitting.churn import declining_at

    # One account from month 100; usage flat at 10 for 6 months, then a zero month (106), then
    # flat.  Boundary b compares u[b-4..b-2] with u[b-7..b-5].
    usage = [10, 10, 10, 10, 10, 10, 0, 10, 10, 10, 10, 10]
    accounts = pd.DataFrame(
        {
            "account_id": ["a"],
            "segment": ["smb"],
            "start_month": np.array([100], dtype=np.int64),
            "churn_month": pd.array([pd.NA], dtype="Int64"),
        }
    )
    table = pd.DataFrame(
        {
            "account_id": ["a"] * len(usage),
            "month": np.arange(100, 100 + len(usage), dtype=np.int64),
            "usage": np.asarray(usage, dtype=np.float64),
        }
    )
    book = Book(accounts, table, None, as_of=111)
    decline, first = declining_at(book, threshold=-0.20)
    declining = {first + c for c in np.flatnonzero(decline[0])}
    # The zero month 106 is in the later quarter (b-4..b-2) of boundaries 108, 109 and 110: a
    # third of the quarter lost (ratio 2/3 < exp(-0.2) = 0.82).  Boundary 107 does not see it
    # (month 106 is its b-1, lagged out); boundary 111 has it in the earlier quarter (a rise).
    assert declining == {108, 109, 110}


def test_anniversary_cells_count_from_the_contract_start():
    # Account 0 started in month 100 without a contract date: anniversaries at the boundaries
    # into 112, 124, ...; it churned at 124 (an anniversary) after surviving 112.  Account 1
    # started at 100 with a contract from 105: anniversaries at 117 and 129 (as_of 130).
    # Account 2 started at 80, before the window (from 100): 92 was an anniversary before it
    # (conditioned on), 104, 116 and 128 inside.
    book = _book(
        [100, 100, 80],
        [124, pd.NA, pd.NA],
        as_of=130,
        contract_start_month=pd.array([pd.NA, 105, pd.NA], dtype="Int64"),
    )
    book = Book(book.accounts, book.usage, None, as_of=130, source={}, observed_from=100)
    data = churn_cells(book)
    assert data["has_anniversary"]
    cells = data["cells"].set_index(["periods", "churned"])
    got = cells[["entry", "anniversary", "last_anniversary", "entry_anniversary"]]
    assert got.loc[(24, 1)].tolist() == [0, 1, 1, 0]
    assert got.loc[(30, 0)].tolist() == [0, 2, 0, 0]
    assert got.loc[(50, 0)].tolist() == [20, 3, 0, 1]
    assert not churn_cells(book, use_anniversary=False)["has_anniversary"]


def test_anniversary_hazard_ratio_first_order_is_close_to_numerical_integral():
    from scipy.integrate import quad

    # 30 survived boundaries, 2 of them anniversaries at hazard ratio g (and 3 before the
    # window for the truncated cell); then a churn at an anniversary.
    a, b = 1.0, 80.0
    for g, churned, entry in [(3.0, 0, 0), (3.0, 1, 0), (0.5, 1, 0), (3.0, 0, 24)]:
        cells = pd.DataFrame(
            {"segment": [0], "periods": [30 + churned + entry], "churned": [churned],
             "entry": [entry], "csm": [0], "declining": [0], "last_declining": [0],
             "anniversary": [2], "last_anniversary": [churned], "both": [0],
             "entry_anniversary": [2 if entry else 0], "count": [1]}
        )  # fmt: skip
        got = sbg_log_likelihood(
            pt.as_tensor([a]), pt.as_tensor([b]), cells, anniversary_hr=pt.as_tensor([g])
        ).eval()

        def density(th, n, k, churn, g=g):
            return stats.beta.pdf(th, a, b) * (1 - th) ** n * (1 - g * th) ** k * (g * th) ** churn

        before = 2 if entry else 0  # anniversaries among the entry boundaries
        plain = 30 - 2 + entry - before  # survived boundaries that were not anniversaries
        exact = np.log(quad(density, 0, 1, args=(plain, 2 + before, churned),
                            points=[a / (a + b)], limit=200)[0])  # fmt: skip
        if entry:
            exact -= np.log(quad(density, 0, 1, args=(entry - before, before, 0), limit=200)[0])
        # First order in theta (module doc): error ~ k g |1 - g| theta^2 / 2 per anniversary
        # boundary, plus the churn term's; 5e-3 as for the CSM ratio above.
        assert abs(got - exact) < 5e-3, (g, churned, entry, got, exact)
