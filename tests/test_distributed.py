"""Scale-out and common random numbers: a Dask split by draws is bitwise the one-process run, and
paired scenario differences are far less noisy than independent ones."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simengine.api import load_config, simulate_config
from tests.conftest import SMALL


def test_dask_split_by_draws_is_bitwise_the_single_process_run(monkeypatch):
    """Two in-process Dask workers, 5 uneven chunks of 18 draws: every variable and attr equal."""
    from dask.distributed import Client, LocalCluster

    from simengine.distributed import simulate_distributed

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # pins created_at
    cfg = load_config([*SMALL, "sim.draws=18", "sim.horizon_months=24"])
    reference = simulate_config(cfg)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        split = simulate_distributed(cfg, client, chunks=5)
    xr.testing.assert_identical(split, reference)
    for name in reference.data_vars:  # bitwise, NaN in the same places
        assert reference[name].values.tobytes() == split[name].values.tobytes(), name


def _year3_revenue(staffing: str, seed: int, extra: list[str]) -> np.ndarray:
    cfg = load_config(
        [
            *SMALL, "sim.draws=200", "sim.horizon_months=36", "sim.cohort_months=0",
            f"staffing={staffing}", f"seed={seed}", *extra,
        ]
    )  # fmt: skip
    ds = simulate_config(cfg)
    return ds["revenue"].isel(month=slice(24, 36)).sum(("month", "segment")).values


FIXED_EFFECTS = [
    "effects.win_rate=0.25",
    "effects.uncovered_win_ratio=0.7",
    "effects.unhealthy_covered=0.05",
    "effects.unhealthy_uncovered=0.25",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("extra", "bound"),
    [
        # Default config: measured factor 37.4 at this size (150 accounts, 200 draws; 45.6 on the
        # commit before the ziggurat, a different sample of the streams) and 10.5 on the 2,000-
        # account default book at 1,000 draws, where 85% of the paired variance is doubt about
        # the staffing effect itself (the win-rate and health effects are distributions), not
        # noise: benchmarks/bench_crn.py decomposes it.
        ([], 10.0),
        # Effects fixed: what CRN removes is all noise; measured 47.9 here (64.5 before), 41.3 on
        # the default book.
        (FIXED_EFFECTS, 10.0),
    ],
)
def test_common_random_numbers_shrink_the_variance_of_a_paired_difference(extra, bound):
    """Var(se_heavy - ae_heavy), revenue in year 3: independent streams (seeds 1, 2) over common
    streams (seed 1 both).  Bound: each sample variance of 200 draws has a relative SD of about
    sqrt(2/199) = 0.10, so the log of their ratio about 0.14; 4 SDs below the measured factor
    (x exp(-0.57) = 0.57) keeps an honest seed passing: 37.4 -> 21 and 47.9 -> 27, both above
    the issue's 10x, which is the bound asserted."""
    se = _year3_revenue("se_heavy", 1, extra)
    ae = _year3_revenue("ae_heavy", 1, extra)
    ae_other = _year3_revenue("ae_heavy", 2, extra)
    factor = np.var(se - ae_other, ddof=1) / np.var(se - ae, ddof=1)
    assert factor > bound, factor
