"""Posterior files: round trip, refusal of other data's posterior, joint draws, the gate."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simengine.config import FitConfig
from simengine.fitting import (
    DEFAULT_POSTERIOR,
    PosteriorError,
    check_gate,
    diagnostics_table,
    load_posterior,
    posterior_draws,
    save_posterior,
    write_diagnostics,
)


def _tree(chains=2, draws=50, seed=0) -> xr.DataTree:
    rng = np.random.default_rng(seed)
    segs = ["enterprise", "smb"]
    post = xr.Dataset(
        {
            "churn_alpha": (("chain", "draw", "segment"), rng.gamma(5, 0.2, (chains, draws, 2))),
            "churn_beta": (("chain", "draw", "segment"), rng.gamma(50, 2, (chains, draws, 2))),
            "season_cos": (("chain", "draw"), rng.normal(0.03, 0.001, (chains, draws))),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "segment": segs},
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))})
    tree = xr.DataTree.from_dict({"posterior": post, "sample_stats": stats})
    tree.attrs = {"data_hash": "abc123", "method": "nuts"}
    return tree


def test_round_trip(tmp_path):
    tree = _tree()
    path = save_posterior(tree, tmp_path / "posterior.nc")
    back = load_posterior(path, expected_hash="abc123")
    xr.testing.assert_identical(back["posterior"].to_dataset(), tree["posterior"].to_dataset())
    assert back.attrs["data_hash"] == "abc123"
    assert [p.name for p in tmp_path.iterdir()] == ["posterior.nc"]  # no temp file left


def test_hash_mismatch_missing_and_garbage_are_refused(tmp_path):
    path = save_posterior(_tree(), tmp_path / "posterior.nc")
    with pytest.raises(
        PosteriorError, match="fitted to data with hash abc123, but the data has hash zzz"
    ):
        load_posterior(path, expected_hash="zzz")
    with pytest.raises(PosteriorError, match="not found"):
        load_posterior(tmp_path / "nope.nc")
    (tmp_path / "bad.nc").write_text("not netcdf")
    with pytest.raises(PosteriorError, match="cannot read"):
        load_posterior(tmp_path / "bad.nc")


def test_joint_draws_share_one_index_and_follow_segment_order():
    tree = _tree()
    out = posterior_draws(tree, 30, seed=1, segments=["smb", "enterprise"])
    assert out["churn_alpha"].shape == (30, 2) and out["season_cos"].shape == (30,)
    post = tree["posterior"]
    flat_cos = post["season_cos"].values.ravel()
    idx = np.array([np.flatnonzero(flat_cos == v)[0] for v in out["season_cos"]])
    chain, draw = np.divmod(idx, post.sizes["draw"])
    # the same (chain, draw) for every variable, segments reordered as asked
    np.testing.assert_array_equal(
        out["churn_alpha"][:, 0], post["churn_alpha"].values[chain, draw, 1]
    )
    np.testing.assert_array_equal(
        out["churn_beta"][:, 1], post["churn_beta"].values[chain, draw, 0]
    )
    assert len(set(idx)) == 30  # no repeats while enough draws exist
    more = posterior_draws(tree, 500, seed=1, segments=["smb"])
    assert more["churn_alpha"].shape == (500, 1)
    again = posterior_draws(tree, 500, seed=1, segments=["smb"])
    np.testing.assert_array_equal(more["churn_alpha"], again["churn_alpha"])
    with pytest.raises(KeyError, match="mid_market"):
        posterior_draws(tree, 5, seed=1, segments=["mid_market"])


def test_gate_and_diagnostics(tmp_path):
    cfg = FitConfig()
    table = diagnostics_table(_tree(chains=2, draws=400))
    assert len(table) == 5 and set(table["segment"]) == {"", "enterprise", "smb"}
    assert check_gate(_tree(chains=2, draws=400), cfg) == []  # iid draws: R-hat ~1, ESS ~800
    short = check_gate(_tree(chains=2, draws=50), cfg)
    assert any("bulk ESS below 400" in f for f in short)
    (one_chain,) = check_gate(_tree(chains=1, draws=400), cfg)
    assert "1 chain" in one_chain and "nan" not in one_chain
    approx = _tree()
    approx.attrs["method"] = "map"
    assert "approximation" in check_gate(approx, cfg)[0]
    write_diagnostics(_tree(), tmp_path / "diagnostics.csv")
    assert (tmp_path / "diagnostics.csv").read_text().startswith("parameter,segment,mean")


def test_shipped_default_posterior_is_loadable():
    from simengine.data import book_hash, default_book

    tree = load_posterior(DEFAULT_POSTERIOR, expected_hash=book_hash(default_book()))
    assert tree["posterior"].sizes["chain"] * tree["posterior"].sizes["draw"] >= 500
    # Package data stays small: 1,000 joint draws of the per-segment parameters, the per-segment
    # season (3 x 12) and the onboarding curve (3 x 12 steps, 3 x 13 levels) come to ~1.9 MB.
    assert DEFAULT_POSTERIOR.stat().st_size < 2_000_000
    draws = posterior_draws(tree, 10, 0, list(default_book().segments))
    assert {"churn_alpha", "usage_drift", "use_case_rate"} <= set(draws)
