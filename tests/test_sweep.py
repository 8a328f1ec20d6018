"""Sweeps that scale and survive: lazy merge with provenance, failure isolation, resume, launchers,
and run folders that parallel launches never share."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from tests.conftest import SMALL

SWEEP = [*SMALL, "model.csm_hazard_ratio=0.5,0.7,1.0"]


def test_a_failed_job_leaves_the_others_merged_and_named(cli, tmp_path):
    """Job 1 cannot write its forecast (a folder sits where the file goes): jobs 0 and 2 are
    merged with their provenance, the failure is named in sweep.nc and the exit code is 1."""
    sweep = tmp_path / "sweep"
    (sweep / "1" / "forecast.nc").mkdir(parents=True)
    proc = cli("run", "-m", *SWEEP, "seed=11", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 1
    assert "1 job(s) failed: model.csm_hazard_ratio=0.7 (job 1): IsADirectoryError" in proc.stderr
    assert "IsADirectoryError" in (sweep / "1" / "error.txt").read_text()
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as ds:
        assert list(ds["scenario"].values) == [
            "model.csm_hazard_ratio=0.5",
            "model.csm_hazard_ratio=1.0",
        ]
        assert ds.attrs["n_failed"] == 1
        assert "model.csm_hazard_ratio=0.7 (job 1): IsADirectoryError" in ds.attrs["failed_jobs"]
        # Provenance along scenario; the new dim goes last (STYLE.md).
        assert list(ds["job"].values) == ["0", "2"]
        assert ds["seed"].values.tolist() == [11, 11]
        assert len(set(ds["data_hash"].values.tolist())) == 1
        assert len(set(ds["config_hash"].values.tolist())) == 2
        assert "model.csm_hazard_ratio=1.0" in str(ds["overrides"].values[1])
        assert "csm_hazard_ratio: 1.0" in str(ds["config"].values[1])
        assert ds["revenue"].dims == ("draw", "month", "segment", "scenario")
        with xr.open_dataset(sweep / "2" / "forecast.nc", engine="h5netcdf") as job:
            assert job["revenue"].equals(ds["revenue"].isel(scenario=1, drop=True))
        # A sweep's job draws no chart and keeps no per-cohort cells (report and compare draw
        # from the forecasts); the metric made of those cells is kept.
        assert "cohort_revenue" not in ds and "expansion_multiple" in ds
    assert (sweep / "2" / "summary.xlsx").is_file() and not (sweep / "2" / "fan_chart.png").exists()


def test_rerunning_a_sweep_skips_finished_jobs(cli, tmp_path):
    """Same sweep folder: finished jobs with the same config hash are skipped (counted from the
    output), a job whose config changed runs again, sweep.nc is rebuilt from all of them."""
    sweep = tmp_path / "sweep"

    def stamps():
        return {p.parent.name: p.stat().st_mtime_ns for p in sweep.glob("*/forecast.nc")}

    first = cli("run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,1.0", f"hydra.sweep.dir={sweep}")
    assert first.returncode == 0, first.stderr
    assert "skipped " not in first.stdout and len(stamps()) == 2
    before = stamps()

    again = cli(
        "run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,1.0,0.8", f"hydra.sweep.dir={sweep}"
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped ") == 2  # 3 jobs, 1 run
    after = stamps()
    assert {k: after[k] for k in before} == before and "2" in after
    # Job 1 with another value: its config hash differs, so it runs again.
    third = cli("run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,0.9", f"hydra.sweep.dir={sweep}")
    assert third.returncode == 0, third.stderr
    assert third.stdout.count("skipped ") == 1
    last = stamps()
    assert last["0"] == before["0"] and last["1"] != before["1"]
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as ds:  # this sweep's 2 jobs
        assert ds["scenario"].values.tolist() == [
            "model.csm_hazard_ratio=0.5",
            "model.csm_hazard_ratio=0.9",
        ]


def test_parallel_runs_get_their_own_folders(tmp_path):
    """Two `simengine run` started together (seeds 1 and 2) write two folders, each its own seed."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["NUMBA_NUM_THREADS"] = "1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "simengine", "run", *SMALL, f"seed={seed}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for seed in (1, 2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    folders = sorted((tmp_path / "outputs" / "run").iterdir())
    assert len(folders) == 2
    seeds = set()
    for folder in folders:
        with xr.open_dataset(folder / "forecast.nc", engine="h5netcdf") as ds:
            seeds.add(int(ds.attrs["seed"]))
        assert (folder / "run.log").is_file()
    assert seeds == {1, 2}


@pytest.mark.slow
def test_joblib_launcher_sweep_matches_the_in_process_run(cli, tmp_path):
    """Two jobs in parallel worker processes (joblib/loky): the same numbers as one process."""
    import simengine

    sweep = tmp_path / "sweep"
    proc = cli(
        "run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,1.0", "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ref = simengine.simulate([*SMALL, "model.csm_hazard_ratio=1.0"])
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as ds:
        assert ds["scenario"].values.tolist() == [
            "model.csm_hazard_ratio=0.5",
            "model.csm_hazard_ratio=1.0",
        ]
        got = ds["revenue"].sel(scenario="model.csm_hazard_ratio=1.0").values
    np.testing.assert_array_equal(got, ref["revenue"].values)
    # The workers' console: one line a job with its place in the sweep, and no INFO records;
    # those stay in the job's run.log.
    assert sorted(line[:7] for line in proc.stdout.splitlines() if line.startswith("  [")) == [
        "  [1/2,", "  [2/2,",
    ]  # fmt: skip
    assert "[INFO]" not in proc.stdout + proc.stderr
    assert "[simengine.engine][INFO]" in (sweep / "0" / "run.log").read_text()


def test_a_sweep_jobs_console_passes_warnings_and_hydra_only():
    """In a sweep's job the console drops INFO records of every library (simengine's kernel
    timings, a joblib worker's first import of ArviZ), not Hydra's lines nor any warning."""
    import logging

    from simengine.cli_jobs import _SweepConsole

    def record(name, level):
        return logging.LogRecord(name, level, __file__, 1, "message", None, None)

    keep = _SweepConsole().filter
    assert not keep(record("simengine.engine", logging.INFO))
    assert not keep(record("arviz", logging.INFO))
    assert keep(record("hydra.core.utils", logging.INFO))
    assert keep(record("arviz", logging.WARNING)) and keep(
        record("simengine.pipeline", logging.ERROR)
    )


@pytest.mark.slow
def test_submitit_local_launcher_sweep(cli, tmp_path):
    """Hydra's submitit launcher, locally: the same code path as a SLURM sweep (jobs as separate
    processes submitted through submitit), gathered into sweep.nc."""
    sweep = tmp_path / "sweep"
    proc = cli(
        "run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,1.0", "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as ds:
        assert ds.sizes["scenario"] == 2
        assert set(ds["seed"].values.tolist()) == {20261122}


def test_gather_is_lazy(tmp_path):
    """open_jobs keeps every variable dask-backed: nothing is loaded before the write."""
    from simengine.api import simulate
    from simengine.sweep import open_jobs

    ds = simulate(SMALL)
    jobs = []
    for i in range(2):
        job = tmp_path / str(i)
        job.mkdir()
        ds.to_netcdf(job / "forecast.nc", engine="h5netcdf")
        jobs.append(job)
    merged = open_jobs(jobs, ["a", "b"])
    assert all(v.chunks is not None for v in merged.data_vars.values())
    np.testing.assert_array_equal(merged["revenue"].sel(scenario="b").values, ds["revenue"].values)
    merged.close()


def test_jobs_of_different_horizons_merge_by_outer_join(tmp_path):
    """Jobs that do not share a shape take xarray's lazy outer join: the shorter is NaN-padded."""
    from simengine.api import simulate
    from simengine.sweep import gather_sweep

    for i, months in enumerate((12, 15)):
        job = tmp_path / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- sim.horizon_months={months}\n")
        simulate([*SMALL, f"sim.horizon_months={months}"]).to_netcdf(
            job / "forecast.nc", engine="h5netcdf"
        )
    with xr.open_dataset(gather_sweep(tmp_path), engine="h5netcdf") as ds:
        assert ds.sizes["month"] == 15 and ds["revenue"].dims[-1] == "scenario"
        short = ds["revenue"].sel(scenario="sim.horizon_months=12")
        assert short.isel(month=slice(12, None)).isnull().all()
        assert short.isel(month=slice(0, 12)).notnull().all()
        assert ds["seed"].values.tolist() == [20261122, 20261122]


def test_finished_needs_all_files_the_same_hash_and_no_newer_input(tmp_path):
    from simengine.sweep import finished

    out = tmp_path / "job"
    out.mkdir()
    xr.Dataset(attrs={"config_hash": "abc"}).to_netcdf(out / "forecast.nc", engine="h5netcdf")
    data = tmp_path / "usage.csv"
    data.write_text("x\n")
    os.utime(data, ns=(1, 1))  # older than the run
    assert not finished("abc", out)  # summary.csv and .xlsx missing: unfinished
    (out / "summary.csv").write_text("")
    assert not finished("abc", out)  # a job written before the workbook: unfinished
    (out / "summary.xlsx").write_bytes(b"")
    assert finished("abc", out, [data, None])
    assert not finished("abd", out)  # another config
    later = (out / "forecast.nc").stat().st_mtime_ns + 10**9
    os.utime(data, ns=(later, later))  # the data edited after the run: run again
    assert not finished("abc", out, [data])


def test_sweep_nc_maps_the_job_files_and_survives_a_move(tmp_path, monkeypatch):
    """sweep.nc copies no job's numbers (HDF5 virtual datasets over the jobs' forecast.nc): it
    reads the jobs' values with their dtypes, is smaller than one job's file, is the same bytes
    when merged again, still reads after the whole sweep folder moves, and compare refuses it once
    a job file is gone; copy=True writes the same dataset self-contained."""
    from simengine.api import simulate
    from simengine.compare.runs import CompareError, load_scenarios
    from simengine.sweep import gather_sweep, missing_sources, virtual_sources

    ds = simulate([*SMALL, "sim.draws=64"])
    sweep = tmp_path / "sweep"
    for i, ratio in enumerate((0.5, 1.0)):
        job = sweep / str(i)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- model.csm_hazard_ratio={ratio}\n")
        scaled = ds.assign(revenue=ds["revenue"] * (i + 1))  # tells the two jobs apart
        scaled.to_netcdf(job / "forecast.nc", engine="h5netcdf")
    path = gather_sweep(sweep)
    first = path.read_bytes()
    assert gather_sweep(sweep).read_bytes() == first
    assert virtual_sources(path) == [sweep / "0" / "forecast.nc", sweep / "1" / "forecast.nc"]
    assert path.stat().st_size < (sweep / "0" / "forecast.nc").stat().st_size

    moved = tmp_path / "moved"
    sweep.rename(moved)
    with xr.open_dataset(moved / "sweep.nc", engine="h5netcdf") as merged:
        got = merged["revenue"].sel(scenario="model.csm_hazard_ratio=1.0").values
        np.testing.assert_array_equal(got, 2 * ds["revenue"].values)
        assert merged["active_accounts"].dtype == ds["active_accounts"].dtype
        assert merged["account_segment"].dims == ("account", "scenario")
        virtual = merged.load()
    # netCDF-C (the netCDF4 engine, as ncdump and R read it) follows the mapping too, from
    # another working directory: the jobs' paths are relative to sweep.nc, not to the reader.
    monkeypatch.chdir(tmp_path.parent)
    with xr.open_dataset(moved / "sweep.nc", engine="netcdf4") as through_c:
        xr.testing.assert_identical(through_c.load(), virtual)
    # The mapped file says so (the one attribute the self-contained copy does not carry).
    assert "copy=True" in virtual.attrs.pop("storage")
    copied = gather_sweep(moved, copy=True)
    assert virtual_sources(copied) == []
    with xr.open_dataset(copied, engine="h5netcdf") as self_contained:
        assert "storage" not in self_contained.attrs
        xr.testing.assert_identical(self_contained.load(), virtual)

    gather_sweep(moved)
    (moved / "1" / "forecast.nc").unlink()
    assert missing_sources(moved / "sweep.nc") == [moved / "1" / "forecast.nc"]
    with pytest.raises(CompareError, match="is gone"):
        load_scenarios([moved])


@pytest.mark.parametrize(
    "overrides",
    [
        ["staffing.budget=900000", "staffing.ae_per_se=2"],
        ["staffing=se_heavy", "model.csm_hazard_ratio=0.7", "seed=5"],
        ["scenario=downturn", "adjust.churn_hazard=1.3"],
        ["market=rate", "market.new_logo_rate.smb=40"],
        ["comp=consumption", "+model.override.smb.use_case_rate=2"],
        ["sim.draws=abc"],
        ["sim.drawz=5"],
    ],
)
def test_a_job_composes_as_hydra_does(overrides):
    """A sweep's jobs reuse the composition of their group choices and apply the other overrides
    with Hydra's own function: the same config (YAML) or the same error as Hydra's full compose,
    also when the reused composition was made for an earlier job."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from simengine.config.compose import CONFIG_DIR, _compose, _own_hydra, open_segment_maps

    def outcome(compose):
        try:
            return OmegaConf.to_yaml(compose())
        except Exception as exc:  # noqa: BLE001 - the error itself is what is compared
            return f"{type(exc).__name__}: {exc}"

    def full():
        with _own_hydra(), initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=open_segment_maps(overrides))

    _compose(["seed=1"], ())  # an earlier job: the default groups' composition is reused
    ours, hydras = outcome(lambda: _compose(overrides, ())[0]), outcome(full)
    if ours.startswith("ConfigError: "):
        # An unknown key: Hydra refuses it too; ours names it and the closest valid keys
        # (simengine.config.messages) instead of Hydra's text.
        assert hydras.startswith("ConfigCompositionException") and "did you mean" in ours
    else:
        assert ours == hydras


def test_a_sweep_prints_a_line_a_job_and_names_compare(cli, tmp_path):
    """Each job prints one line: its place in the sweep, then key figures (the last full fiscal
    year: a 30-month horizon from 2026-11 ends in FY2029's April, so FY2028) instead of the summary
    tables and the kernel's log lines, and
    the sweep ends by naming `simengine compare`; a single run still prints its table."""
    import re

    from simengine.report.console import sweep_job_line

    sweep = tmp_path / "sweep"
    proc = cli(
        "run", "-m", *SMALL, "sim.horizon_months=30", "model.csm_hazard_ratio=0.5,1.0",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("  [")]
    assert len(lines) == 2 and "Forecast from" not in proc.stdout
    for k, job, line in zip((1, 2), ("0", "1"), lines, strict=True):
        # k of 2 jobs and the sweep's time so far; neither the first nor the last job guesses
        # the time left (the first pays for the start-up, after the last nothing is left).
        progress = re.match(rf"  \[{k}/2, (\d+m)?\d+s\] ", line)
        assert progress, line
        with xr.open_dataset(sweep / job / "forecast.nc", engine="h5netcdf") as ds:
            assert line[progress.end() :] == f"{sweep_job_line(ds)}; wrote {sweep / job}/"
        assert line[progress.end() :].startswith("FY2028 to 2028-12: ") and "NRR " in line
    assert f"compare the scenarios: simengine compare {sweep}" in proc.stdout
    # The kernel's INFO timings stay in each job's run.log, off the sweep's console.
    assert "simulated " not in proc.stdout + proc.stderr
    assert all("simulated " in (sweep / job / "run.log").read_text() for job in ("0", "1"))
    again = cli(
        "run", "-m", *SMALL, "sim.horizon_months=30", "model.csm_hazard_ratio=0.5,1.0",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    skipped = [line for line in again.stdout.splitlines() if "skipped " in line]  # resumed
    assert [re.match(r"\[(\d)/2, \S+ skipped ", line)[1] for line in skipped] == ["1", "2"]
    single = cli("run", *SMALL, f"hydra.run.dir={tmp_path / 'one'}")
    assert "Forecast from" in single.stdout and "simulated " in single.stdout + single.stderr
    assert not any(line.startswith("  [") for line in single.stdout.splitlines())


def test_sweep_progress_estimates_from_the_pace_after_the_first_job(monkeypatch):
    """The time left is the pace since the first finished job (which pays for start-up) times the
    jobs to come; job numbers count every worker's jobs."""
    from simengine import cli_jobs

    monkeypatch.setattr(cli_jobs, "_first_done", [])
    monkeypatch.delenv(cli_jobs.SWEEP_PROGRESS_ENV, raising=False)
    assert cli_jobs.sweep_progress(4) == "[job 5]"  # not a sweep run from the CLI
    monkeypatch.setenv(cli_jobs.SWEEP_PROGRESS_ENV, "10:1000")
    assert cli_jobs.sweep_progress(0, now=1065.0) == "[1/10, 1m05s]"  # 65 s of start-up: no guess
    # Two jobs in 10 s since the first: 5 s a job, 7 jobs to come.
    assert cli_jobs.sweep_progress(2, now=1075.0) == "[3/10, 1m15s, ~35s left]"
    # A parallel launcher: job 6 done 20 s after job 1 -> 4 s a job, 4 to come.
    assert cli_jobs.sweep_progress(5, now=1085.0) == "[6/10, 1m25s, ~16s left]"
    assert cli_jobs.sweep_progress(9, now=1101.0) == "[10/10, 1m41s]"
    # More jobs than the command line listed (a sweep set up in a config file): no total.
    assert cli_jobs.sweep_progress(10, now=1102.0) == "[job 11, 1m42s]"
    assert cli_jobs._duration(3 * 3600 + 125) == "3h02m"


def test_a_sweep_job_keeps_no_cells_and_the_same_numbers():
    """A sweep's job asks the kernel for no cohort cells; every variable it keeps, the
    ``expansion_multiple`` made of the kernel's own sum included, is bitwise a single run's."""
    from simengine.api import compose_run, simulate_config

    cfg, scenario = compose_run([*SMALL, "seed=5"])
    single = simulate_config(cfg, scenario=scenario)
    job = simulate_config(cfg, scenario=scenario, cohort_cells=False)
    assert "cohort_revenue" in single and "cohort_revenue" not in job
    assert "cohort_month" not in job.coords and "months_since_start" not in job.coords
    kept = [n for n in single.variables if n not in ("cohort_revenue", "cohort_month",
                                                     "months_since_start")]  # fmt: skip
    assert list(job.variables) == kept
    for name in kept:
        np.testing.assert_array_equal(job[name].values, single[name].values, err_msg=name)
    multiple = job["expansion_multiple"].values
    assert np.isfinite(multiple).all() and (multiple > 0).all()
