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
