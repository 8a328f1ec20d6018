"""The command line, run as a subprocess: files written and read back, errors, sweeps."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr

from tests.conftest import SMALL

CONTRACT_VARS = (
    "revenue",
    "usage",
    "active_accounts",
    "new_logos",
    "churned_accounts",
    "expansion_revenue",
    "nrr",
    "grr",
)
RUN_FILES = ("forecast.nc", "summary.csv", "fan_chart.png")


def test_run_writes_the_three_files(cli, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", *SMALL, "sim.horizon_months=25", "seed=7", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert str(out) in proc.stdout and "P50" in proc.stdout

    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as ds:
        for name in CONTRACT_VARS:
            assert name in ds, name
        assert ds.sizes["month"] == 25 and ds.sizes["draw"] == 16
        assert {"draw", "month", "segment"} <= set(ds.dims)
        assert ds.attrs["seed"] == 7
        assert "horizon_months: 25" in ds.attrs["config"]
        assert ds.attrs["account_months"] == int(ds["active_accounts"].sum())
        for key in ("simengine_version", "config_hash", "data_hash", "created_at"):
            assert key in ds.attrs

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:3]) == ["metric", "segment", "year"]
    assert {"p10", "p50", "p90"} <= set(summary.columns)
    assert set(summary["year"].dropna()) == {1, 2, 3}
    assert {"new_logos", "total_cost", "post_sales_share", "expansion_multiple"} <= set(
        summary["metric"]
    )
    assert (out / "fan_chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_bytes_at_any_thread_count(cli, tmp_path, monkeypatch):
    """forecast.nc is byte-identical at 1 and 2 numba threads (SOURCE_DATE_EPOCH pins created_at)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    files = []
    for threads in ("1", "2"):
        monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
        out = tmp_path / f"threads{threads}"
        proc = cli("run", *SMALL, f"hydra.run.dir={out}")
        assert proc.returncode == 0, proc.stderr
        assert f"on {threads} threads" in proc.stdout + proc.stderr
        files.append((out / "forecast.nc").read_bytes())
    assert files[0] == files[1]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("sim.drawz=5", "sim.drawz"),
        ("sim.draws=abc", "sim.draws"),
        ("sim.draws=-3", "sim.draws"),
        ("sim.horizon_months=0", "sim.horizon_months"),
        ("model.csm_coverage=1.5", "model.csm_coverage"),
        ("model.segments.smb.churn_alpha={dist:normal,mu:1}", "model.segments.smb.churn_alpha"),
        ("fit.models=[usage,magic]", "fit.models"),
        ("fit.posterior=/nonexistent/posterior.nc", "fit.posterior"),
        ("data.accounts=/nonexistent/accounts.csv", "data.usage"),
        ("staffing.roles.ae.headcount=-2", "staffing.roles.ae.headcount' = -2"),
        ("staffing.roles.se.attrition=1.5", "staffing.roles.se.attrition' = 1.5"),
        ("staffing.roles.ae.ramp_months=40", "staffing.roles.ae.ramp_months' = 40"),
        ("staffing.roles.ae.hires_per_quarter=[1,-1]", "hires_per_quarter[1]' = -1"),
        ("staffing.roles.csm.cost_per_month=abc", "staffing.roles.csm.cost_per_month"),
        ("+staffing.roles.cfo.headcount=1", "staffing.roles.cfo"),
        ("staffing.roles.ae.attrition={dist:beta,a:-1,b:2}", "staffing.roles.ae.attrition.a' = -1"),
        ("comp.plan=commission", "comp.plan' = 'commission'"),
        ("comp.variable_share=1.2", "comp.variable_share' = 1.2"),
        ("effects.win_rate={dist:normal,mu:0.2,sigma:0.1}", "effects.win_rate"),
        ("staffing=nope", "staffing/nope"),
    ],
)
def test_bad_config_exits_2_with_one_line(cli, tmp_path, override, fragment):
    out = tmp_path / "run"
    proc = cli("run", *SMALL, override, f"hydra.run.dir={out}")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_help_and_unknown_verb(cli):
    assert cli("--help").returncode == 0
    proc = cli("explode")
    assert proc.returncode == 2 and "unknown verb" in proc.stderr


def test_sweep_writes_sweep_nc(cli, tmp_path):
    sweep = tmp_path / "sweep"
    proc = cli("run", "-m", *SMALL, "model.csm_hazard_ratio=0.5,1.0", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as ds:
        assert list(ds["scenario"].values) == [
            "model.csm_hazard_ratio=0.5",
            "model.csm_hazard_ratio=1.0",
        ]
        churn = ds["churned_accounts"].sum(("draw", "month", "segment"))
        # Common random numbers: halving the CSM hazard ratio can only lower churn.
        assert int(churn.sel(scenario="model.csm_hazard_ratio=0.5")) < int(
            churn.sel(scenario="model.csm_hazard_ratio=1.0")
        )


def test_python_api_matches_cli(cli, tmp_path):
    import simengine

    out = tmp_path / "run"
    assert cli("run", *SMALL, f"hydra.run.dir={out}").returncode == 0
    ds = simengine.simulate(SMALL)
    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as on_disk:
        assert on_disk["revenue"].equals(ds["revenue"])


def test_scenarios_from_any_directory_and_user_folder(cli, tmp_path):
    """scenario=NAME finds scenarios/NAME.yaml from elsewhere; --scenarios DIR adds a folder."""
    mine = tmp_path / "plans"
    mine.mkdir()
    (mine / "fy27.yaml").write_text("# @package _global_\nsim:\n  horizon_months: 14\n")
    out = tmp_path / "run"
    proc = cli(
        "run",
        "--scenarios",
        str(mine),
        "scenario=fy27",
        *SMALL[:1],
        *SMALL[2:],
        f"hydra.run.dir={out}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as ds:
        assert ds.sizes["month"] == 14
    shipped = cli("run", "scenario=downturn", "--cfg", "job", cwd=tmp_path)
    assert shipped.returncode == 0 and "churn_beta" in shipped.stdout
    missing = cli("run", "--scenarios", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "--scenarios" in missing.stderr


def test_unnamed_segment_uses_default_with_a_warning(cli, tmp_path):
    """A book whose segments the config does not name runs on `model.segments.default`, says so."""
    from simengine.data import generate_book, write_book

    book = generate_book(n_accounts=120, history_months=18, seed=8).book
    book.accounts["segment"] = book.accounts["segment"].replace({"smb": "startup"})
    paths = write_book(book, tmp_path / "book")
    out = tmp_path / "run"
    args = [f"data.{table}={path}" for table, path in paths.items()]
    proc = cli("run", *args, "sim.draws=10", "sim.horizon_months=12", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert (
        "startup" in proc.stdout + proc.stderr
        and "model.segments.default" in proc.stdout + proc.stderr
    )
    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as ds:
        assert ds.attrs["default_segments"] == "startup"
        assert "assumptions" in ds.attrs["parameters"]
        assert "startup" in ds["segment"].values
