"""Posterior draws are used evenly: concatenated seed-determined permutations."""

from __future__ import annotations

import numpy as np
import xarray as xr

from simengine.fitting.draws import posterior_draws


def _tree(chains: int, draws: int) -> xr.DataTree:
    flat = np.arange(chains * draws, dtype=float).reshape(chains, draws)
    post = xr.Dataset({"usage_drift": (("chain", "draw"), flat)})
    return xr.DataTree.from_dict({"posterior": post})


def test_every_stored_draw_is_used_evenly_and_by_seed():
    tree = _tree(2, 250)  # 500 stored draws, as the shipped posterior
    out = posterior_draws(tree, 1200, seed=3, segments=[])["usage_drift"].astype(int)
    counts = np.bincount(out, minlength=500)
    # 1,200 = 2 x 500 + 200: every draw twice or three times, none left out (with replacement
    # 9% would never be used).
    assert counts.min() == 2 and counts.max() == 3 and (counts == 3).sum() == 200
    # Each block of 500 is a permutation.
    assert len(set(out[:500])) == 500 and len(set(out[500:1000])) == 500
    again = posterior_draws(tree, 1200, seed=3, segments=[])["usage_drift"].astype(int)
    np.testing.assert_array_equal(out, again)
    other = posterior_draws(tree, 1200, seed=4, segments=[])["usage_drift"].astype(int)
    assert not np.array_equal(out, other)
    # Up to the stored number the draws are the first of the same permutation.
    first = posterior_draws(tree, 300, seed=3, segments=[])["usage_drift"].astype(int)
    np.testing.assert_array_equal(first, out[:300])


def test_a_season_per_segment_keeps_its_segment_and_its_draw():
    """``season`` over (segment, month_of_year) comes out (draws, run segments, 12), in the run's
    segment order and from the same joint draw as every other parameter; the diagnostics table
    labels its elements segment:month."""
    from simengine.fitting.diagnostics import diagnostics_table

    chains, draws, segments = 2, 20, ["enterprise", "smb", "team"]
    flat = np.arange(chains * draws, dtype=float).reshape(chains, draws)
    season = flat[..., None, None] + np.arange(3)[:, None] * 1000 + np.arange(12) / 100
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    post = xr.Dataset(
        {
            "usage_drift": (("chain", "draw"), flat),
            "season": (("chain", "draw", "segment", "month_of_year"), season),
        },
        coords={"segment": segments, "month_of_year": months},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    out = posterior_draws(tree, 30, seed=1, segments=["team", "enterprise"])
    assert out["season"].shape == (30, 2, 12)
    expected = (
        out["usage_drift"][:, None, None] + np.array([2000, 0])[:, None] + np.arange(12) / 100
    )
    np.testing.assert_array_equal(out["season"], expected)
    table = diagnostics_table(tree)
    labels = table.loc[table["parameter"] == "season", "segment"].tolist()
    assert len(labels) == 36 and labels[0] == "enterprise:Jan" and labels[-1] == "team:Dec"
