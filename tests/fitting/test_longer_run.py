"""A fit just outside the gate gets one run with twice the draws before it is called failed; a
fit whose trouble is geometry (divergences, a stuck chain) does not."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("pymc")

from simengine.config import FitConfig  # noqa: E402
from simengine.data import generate_book  # noqa: E402
from simengine.fitting import fit_book  # noqa: E402
from simengine.fitting.diagnostics import longer_run_helps  # noqa: E402


def _tree(chains: np.ndarray, diverging: int = 0) -> xr.DataTree:
    """A posterior of one parameter from ``chains`` (chain, draw), with ``diverging`` divergences."""
    stats = np.zeros(chains.shape, dtype=bool)
    stats.flat[:diverging] = True
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"theta": (("chain", "draw"), chains)}),
            "sample_stats": xr.Dataset({"diverging": (("chain", "draw"), stats)}),
        }
    )


def test_only_mixing_that_is_just_short_earns_a_longer_run():
    rng = np.random.default_rng(0)
    cfg = FitConfig()
    agree = rng.normal(size=(2, 500))  # R-hat ~1.00: chains agree
    apart = agree + np.array([[0.0], [3.0]])  # chains in different places: R-hat >> 1.05
    assert longer_run_helps(_tree(agree), cfg, restarts=[])
    assert not longer_run_helps(_tree(apart), cfg, restarts=[])
    assert not longer_run_helps(_tree(agree, diverging=1), cfg, restarts=[])
    assert not longer_run_helps(_tree(agree), cfg, restarts=["chain 1 stuck"])
    assert not longer_run_helps(_tree(agree), FitConfig(method="map"), restarts=[])


@pytest.mark.slow
def test_a_fit_short_of_its_ess_is_sampled_again_with_twice_the_draws():
    # 2 x 400 draws of the churn model cannot reach a bulk ESS of 5,000 (the estimator caps it
    # near the number of draws times a small factor), so the first run fails on ESS alone with
    # chains that agree: the fit samples once more with 800 draws a chain, still fails (5,000 is
    # out of reach there too) and says both.
    book = generate_book(n_accounts=300, history_months=24, seed=5).book
    cfg = FitConfig(models=["churn"], draws=400, tune=400, min_ess_bulk=5000)
    tree = fit_book(book, cfg, seed=1, progress=False)
    assert tree["posterior"].sizes["draw"] == 800
    assert int(tree.attrs["draws"]) == 800
    assert "bulk ESS below 5000" in tree.attrs["gate_longer_run"]
    assert tree.attrs["gate"] == "failed"
    # Within a (looser) gate on the first run: no second run, nothing recorded.
    loose = FitConfig(models=["churn"], draws=400, tune=400, min_ess_bulk=20, max_rhat=1.1)
    passing = fit_book(book, loose, seed=1, progress=False)
    assert passing["posterior"].sizes["draw"] == 400
    assert passing.attrs["gate_longer_run"] == ""
