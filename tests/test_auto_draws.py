"""``sim.draws=auto``: blocks keyed by absolute draw, Monte Carlo standard errors, the stopping rule.

The first N draws of an auto run are bitwise those of a fixed-N run and the whole run is the run of
its final number of draws; a clear difference stops after the first block, a tie draws on until
``sim.max_draws``; ``comparison.csv`` carries ``mcse_p_better`` and ``mcse_diff_p50``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from simengine.accounts_forecast import AccountAccumulator
from simengine.auto_draws import next_draws
from simengine.auto_sweep import plan_sweep
from simengine.gtm.comp import QUOTA_DEPENDENT
from simengine.kernels import layout as L
from simengine.mcse import better_scores, quantile_mcse, share_mcse
from tests.conftest import SMALL

#: Three prices against the first (``adjust.price=1.0``): 5% higher beats it in every draw
#: (revenue is price x usage, the usage the same under common random numbers); a price drawn per
#: draw from a lognormal of median 1 is above 1 in half the draws: a tie, ``p_better`` ~
#: Binomial(n, 1/2) / n.
PRICES = "adjust.price=1.0,1.05,{dist:lognormal,mu:0.0,sigma:0.02}"
TIE = "adjust.price={dist:lognormal,mu:0.0,sigma:0.02}"


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    """Bitwise equal, but for the outputs that read the quotas: those are calibrated on all of a
    run's draws (simengine.gtm.comp.QUOTA_DEPENDENT, a known limitation), so a run of other
    draws recalibrates them."""
    assert list(a.data_vars) == list(b.data_vars)
    for name in b.data_vars:
        assert a[name].dtype == b[name].dtype, name
        if name not in QUOTA_DEPENDENT:
            assert a[name].values.tobytes() == b[name].values.tobytes(), name


def test_an_auto_run_is_the_fixed_run_of_its_draws():
    """A single run with a precision it cannot reach draws blocks of 16 up to its maximum of 48;
    its first 16 draws are bitwise the fixed 16-draw run's and the whole dataset (the per-account
    forecast over every draw included) the fixed 48-draw run's."""
    from simengine.api import load_config, simulate_config

    small = [o for o in SMALL if not o.startswith("sim.draws")]
    auto = simulate_config(load_config([*small, "sim.draws=auto", "sim.block_draws=16",
                                        "sim.max_draws=48", "sim.precision=0.0001"]))  # fmt: skip
    assert auto.sizes["draw"] == 48 and auto.attrs["draws_stopped"] == "max_draws"
    assert "sim.draws=auto" not in auto.attrs["draws_rule"] and "48" in auto.attrs["draws_rule"]
    _same(auto, simulate_config(load_config([*small, "sim.draws=48"])))
    first = simulate_config(load_config([*small, "sim.draws=16"]))
    for name in first.data_vars:
        if "draw" in first[name].dims and name not in QUOTA_DEPENDENT:
            head = auto[name].isel(draw=slice(0, 16)).values
            assert head.tobytes() == first[name].values.tobytes(), name


def test_a_continued_accumulator_is_the_one_pass_accumulator():
    """Blocks folded into a grown accumulator (and saved and restored between them, as a sweep's
    job is) give the sums and quantiles of one pass, the exact values turned into the histogram
    when the run passes the exact limit (counts are integers: binning order cannot matter)."""
    rng = np.random.default_rng(7)
    n, draws = 40, 90
    last = rng.lognormal(5, 1, n)
    records = np.zeros((draws, n, len(L.ACCOUNT_OUTPUTS)))
    records[..., L.A_REVENUE_12M] = 12 * last * rng.lognormal(0, 0.4, (draws, n))
    records[..., L.A_CHURN_MONTH] = rng.integers(0, 14, (draws, n))
    records[..., L.A_LEAK_12M] = rng.exponential(5, (draws, n))
    for limit in (10**6, 50 * n):  # exact throughout; exact, then binned past 50 draws
        one = AccountAccumulator(last, draws, exact_limit=limit)
        one.add(records)
        blocks = AccountAccumulator(last, 30, exact_limit=limit)
        blocks.add(records[:30])
        saved = blocks.state()
        blocks = AccountAccumulator.from_state(saved, 60, exact_limit=limit)
        blocks.add(records[30:60])
        blocks.grow(draws)
        blocks.add(records[60:])
        assert blocks.exact == one.exact == (limit > draws * n)
        for name in AccountAccumulator._SUMS:
            assert getattr(blocks, name).tobytes() == getattr(one, name).tobytes(), name
        probs = [0.1, 0.5, 0.9]
        assert blocks.quantiles(probs).tobytes() == one.quantiles(probs).tobytes()


def test_a_sweep_stops_on_a_clear_difference_and_draws_on_a_tie_to_the_maximum(cli, tmp_path):
    """Blocks of 20, precision 0.05, at most 60 draws.  The clear scenario wins every draw:
    p_better 1 with MCSE sqrt(m (1 - m) / 20) = 0.047 (m = 21/22) <= 0.05 after one block.  The
    tie's MCSE is > 0.05 for any p_better in (0.19, 0.81) at 60 draws (its sd is 0.065 there:
    4.8 sd of room; at 20 draws, > 0.05 unless all 20 fall on one side, chance 2**-19), so it
    stops at the maximum, and the baseline draws as far.  The stacked sweep, comparison.csv and
    auto_draws.csv agree, and the extended job's forecast is the fixed 60-draw run's."""
    from simengine.api import load_config, simulate_config
    from simengine.compare import compare, load_scenarios
    from simengine.results import without_cohort_cells
    from simengine.sweep import gather_sweep

    small = [o for o in SMALL if not o.startswith("sim.draws")]
    sweep = tmp_path / "sweep"
    proc = cli("run", "-m", *small, "sim.draws=auto", "sim.block_draws=20", "sim.max_draws=60",
               "sim.precision=0.05", PRICES, f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    settled = pd.read_csv(sweep / "auto_draws.csv").set_index("job")
    assert settled.loc[0, "stopped"] == "baseline" and settled.loc[0, "draws"] == 60
    assert settled.loc[1, "draws"] == 20 and settled.loc[1, "stopped"] == "precision"
    assert settled.loc[1, "value"] == 1.0
    assert settled.loc[2, "draws"] == 60 and settled.loc[2, "stopped"] == "max_draws"
    assert settled.loc[2, "mcse"] > 0.05
    assert "2 of 3 scenarios draw on" in proc.stdout and "auto_draws.csv" in proc.stdout

    ds = load_scenarios([sweep])
    table, _ = compare(ds)
    assert ds.sizes["draw"] == 60
    revenue = table[(table["metric"] == "revenue") & (table["year"] == 2)].set_index("scenario")
    for _, row in settled.iterrows():
        # auto_draws.csv holds 6 significant digits
        assert revenue.loc[row["scenario"], "p_better"] == pytest.approx(row["value"], rel=1e-5)
        assert revenue.loc[row["scenario"], "mcse_p_better"] == pytest.approx(row["mcse"], rel=1e-5)
    assert {"mcse_p_better", "mcse_diff_p50"} <= set(table.columns)
    # sweep.nc maps the jobs (virtual datasets): job 1's draws 20-59 read as missing, counts too,
    # as in the self-contained copy.
    mapped = ds[["revenue", "new_logos"]].load()
    ds.close()
    for name in ("revenue", "new_logos"):
        assert mapped[name].isel(scenario=1, draw=slice(20, None)).isnull().all()
        assert mapped[name].isel(scenario=1, draw=slice(0, 20)).notnull().all()
    gather_sweep(sweep, copy=True)
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as copied:
        assert copied[["revenue", "new_logos"]].load().equals(mapped)
    with xr.open_dataset(sweep / "2" / "forecast.nc", engine="h5netcdf") as job:
        fixed = simulate_config(load_config([*small, "sim.draws=60", TIE]))
        _same(job.load(), without_cohort_cells(fixed))  # a sweep's job keeps no cohort cells
    assert not list(sweep.glob("*/.auto/accounts.npz"))  # the accumulators are cleaned up


def test_share_mcse_is_laplace_for_wins_and_zero_for_exact_ties():
    scores = np.array([1.0] * 15 + [0.0] * 5)
    m = 16 / 22
    assert share_mcse(scores) == pytest.approx(np.sqrt(m * (1 - m) / 20))
    assert share_mcse(np.full(30, 0.5)) == 0.0  # a scenario against itself
    assert 0 < share_mcse(np.ones(30)) < 0.05  # never certain after 30 draws
    assert share_mcse(better_scores(np.array([1.0, 2.0, np.nan]), np.array([1.0, 1.0, 1.0]))) > 0


def test_quantile_mcse_matches_the_spread_of_sample_medians():
    """On 2,000 replicates of 400 normal draws, the mean estimated MCSE of the median is the sd of
    the sample medians (1.2533 / sqrt(400) = 0.0627).  The sd itself is estimated within ~1.6%
    (1/sqrt(2 x 2000)) and the estimate's mean within ~1%: 5% is over 2.5 combined sds."""
    rng = np.random.default_rng(11)
    samples = rng.standard_normal((2000, 400))
    medians = np.median(samples, axis=1)
    estimates = np.array([quantile_mcse(x) for x in samples])
    assert estimates.mean() == pytest.approx(medians.std(ddof=1), rel=0.05)
    assert quantile_mcse(np.zeros(50)) == 0.0


def test_next_draws_steps():
    assert next_draws(200, 0.01, 0.02, 200, 4000) == 200  # settled
    assert next_draws(200, 0.03, 0.02, 200, 4000) == 600  # 200 x 2.25 = 450 -> whole blocks
    assert next_draws(200, 0.2, 0.02, 200, 4000) == 800  # at most 4x the draws so far
    assert next_draws(200, 0.2, 0.02, 200, 500) == 500  # never past the maximum
    assert next_draws(500, 0.2, 0.02, 200, 500) == 500


def test_plan_sweep_settles_a_budget_when_its_best_mix_is_clear():
    """Two budgets of two mixes: at the first a mix wins every draw (p_best MCSE ~0.007 at 200
    draws), at the second the mixes trade wins (p_best ~0.5, MCSE ~0.035): only the second
    draws on, both of its mixes together."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=200)
    values = {"b1r1": a + 10, "b1r2": a, "b2r1": rng.normal(size=200), "b2r2": rng.normal(size=200)}
    targets, table = plan_sweep(values, [["b1r1", "b1r2"], ["b2r1", "b2r2"]], 0.02, 200, 2000)
    assert targets == {"b1r1": 200, "b1r2": 200, "b2r1": 800, "b2r2": 800}
    assert table.set_index("scenario").loc["b1r1", "value"] == 1.0
    assert list(table["stopped"]) == ["precision", "precision", "", ""]


def test_the_auto_keys_are_checked():
    from simengine.api import load_config
    from simengine.config import ConfigError

    with pytest.raises(ConfigError, match="'sim.precision' = 0.01: only sim.draws=auto reads it"):
        load_config(["sim.precision=0.01"])
    with pytest.raises(ConfigError, match="'sim.draws' = 'many': must be a whole number"):
        load_config(["sim.draws=many"])
    with pytest.raises(ConfigError, match="'sim.max_draws' = 100: must be >= sim.block_draws"):
        load_config(["sim.draws=auto", "sim.max_draws=100"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["sim.draws=auto", "staffing.budget=900000", "staffing.ae_per_se=3"],
        ["sim.draws=auto", "market=rate", TIE],
        ["sim.draws=auto", "scenario=downturn", "model.override.smb.churn_alpha=2.0"],
    ],
)
def test_a_job_continues_with_the_config_its_forecast_records(overrides):
    """The settling rebuilds each job's config from the resolved YAML in its forecast.nc."""
    from simengine.api import load_config
    from simengine.auto_sweep import config_from_yaml
    from simengine.config import config_yaml

    cfg = load_config(overrides)
    assert config_from_yaml(config_yaml(cfg)) == cfg
