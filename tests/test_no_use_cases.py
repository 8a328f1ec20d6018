"""A book without a use-case table: its growth is all in its drift, so no use-case process (issue 8).

The process is off (no new use cases, no expansion revenue) unless
``model.override.<segment>.use_case_rate`` asks for it; keys that act only through it are refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from simengine.config import ConfigError
from simengine.data import load_book
from simengine.data.synth import generate_book
from simengine.data.writer import write_book

#: fit.posterior=none: these tests are about the config's assumptions on a book without use cases.
QUIET = [
    "sim.draws=20",
    "sim.horizon_months=12",
    "sim.progress=false",
    "market=rate",
    "fit.posterior=none",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("book")
    paths = write_book(generate_book(n_accounts=200, history_months=24, seed=3).book, folder)
    return [f"data.accounts={paths['accounts']}", f"data.usage={paths['usage']}"]


def _simulate(files, *extra):
    from simengine.api import load_config
    from simengine.pipeline import simulate_config

    cfg = load_config([*files, *QUIET, *extra])
    return simulate_config(cfg)


def test_no_table_no_use_cases(files):
    assert not load_book(files[0].split("=", 1)[1], files[1].split("=", 1)[1]).has_use_cases
    ds = _simulate(files)
    assert float(ds["new_use_cases"].sum()) == 0.0
    assert float(ds["expansion_revenue"].sum()) == 0.0
    assert ds.attrs["use_case_process"].startswith("off")


def test_an_override_turns_it_on(files):
    ds = _simulate(files, "model.override.smb.use_case_rate=0.05")
    per_segment = ds["new_use_cases"].sum(("draw", "month"))
    assert float(per_segment.sel(segment="smb")) > 0
    assert float(per_segment.drop_sel(segment="smb").sum()) == 0.0


@pytest.mark.parametrize(
    "key",
    [
        "adjust.use_case_rate=1.5",
        "model.segments.smb.use_case_rate=0.1",
        "model.se_use_case_ratio=2",
    ],
)
def test_use_case_keys_without_the_process_are_refused(files, key):
    with pytest.raises(ConfigError, match="no use_cases table"):
        _simulate(files, key)


def test_with_the_table_the_process_runs(tmp_path):
    paths = write_book(generate_book(n_accounts=200, history_months=24, seed=3).book, tmp_path)
    assert "use_cases" in paths
    from simengine.api import load_config
    from simengine.pipeline import simulate_config

    cfg = load_config([f"data.{k}={v}" for k, v in paths.items()] + QUIET)
    ds = simulate_config(cfg)
    assert np.isfinite(float(ds["revenue"].sum()))
    assert float(ds["new_use_cases"].sum()) > 0
