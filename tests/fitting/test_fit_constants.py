"""A fit's constants (``usage_tail_nu`` estimated outside the sampler) carry no mixing to judge:
the diagnostics table and the gate leave them out, and a sampled ``usage_tail_nu`` stays in."""

from __future__ import annotations

import numpy as np
import xarray as xr

from simengine.config.schema import FitConfig
from simengine.fitting.diagnostics import check_gate, diagnostics_table


def _tree(tail_nu: np.ndarray) -> xr.DataTree:
    rng = np.random.default_rng(0)
    post = xr.Dataset(
        {
            "usage_drift": (("chain", "draw"), rng.normal(size=(2, 500))),
            "usage_tail_nu": (("chain", "draw"), tail_nu),
        },
        coords={"chain": [0, 1], "draw": np.arange(500)},
    )
    return xr.DataTree.from_dict({"posterior": post})


def test_a_constant_tail_shape_is_left_out_of_the_gate():
    tree = _tree(np.full((2, 500), 3.4))
    table = diagnostics_table(tree)
    assert list(table["parameter"]) == ["usage_drift"]
    assert check_gate(tree, FitConfig()) == []


def test_a_sampled_tail_shape_is_judged():
    tree = _tree(3.0 + np.random.default_rng(1).gamma(2.0, 0.5, size=(2, 500)))
    table = diagnostics_table(tree)
    assert set(table["parameter"]) == {"usage_drift", "usage_tail_nu"}
    assert table["r_hat"].notna().all()
