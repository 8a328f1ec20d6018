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
    # Fiscal years (January): FY2026 (the book's Jan-Oct and 2 forecast months), FY2027, FY2028
    # (11 months); 0 is FY2025, the last actual year.
    assert set(summary["year"].dropna()) == {0, 1, 2, 3}
    assert set(summary["period"].dropna()) == {"FY2025", "FY2026", "FY2027", "FY2028"}
    for name in ("summary_quarterly.csv", "summary_monthly.csv", "summary.xlsx"):
        assert (out / name).is_file(), name
    assert "e+" not in (out / "summary.csv").read_text()  # plain decimals
    assert {"new_logos", "total_cost", "post_sales_share", "expansion_multiple"} <= set(
        summary["metric"]
    )
    assert (out / "fan_chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_bytes_at_any_thread_count(cli, tmp_path, monkeypatch):
    """forecast.nc and summary.xlsx are byte-identical at 1 and 2 numba threads (SOURCE_DATE_EPOCH
    pins created_at)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    files = []
    for threads in ("1", "2"):
        monkeypatch.setenv("NUMBA_NUM_THREADS", threads)
        out = tmp_path / f"threads{threads}"
        proc = cli("run", *SMALL, f"hydra.run.dir={out}")
        assert proc.returncode == 0, proc.stderr
        unit = "thread" if threads == "1" else "threads"
        assert f"on {threads} {unit} in" in proc.stdout + proc.stderr
        files.append([(out / n).read_bytes() for n in ("forecast.nc", "summary.xlsx")])
    assert files[0] == files[1]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("sim.drawz=5", "sim.drawz"),
        ("sim.draws=abc", "sim.draws"),
        ("sim.draws=-3", "sim.draws"),
        ("sim.horizon_months=0", "sim.horizon_months"),
        ("market=rate market.csm_coverage=1.5", "market.csm_coverage"),
        ("model.csm_coverage=0.4", "model.csm_coverage"),  # moved to market=rate
        ("market.new_logo_rate.smb=3", "new_logo_rate"),  # a rate-mode key in capacity mode
        ("market=rate staffing=se_heavy", "staffing."),  # no go-to-market model in rate mode
        ("market=rate comp.deal_volume=1.1", "comp.deal_volume' has no effect"),
        ("market.new_logo_mix.enterprize=1", "unknown segment 'enterprize'"),
        ("adjust.segments.enterprize.churn_hazard=1.3", "adjust.segments.enterprize"),
        ("model.override.enterprize.usage_drift=0.1", "model.override.enterprize"),
        ("adjust.segments.smb.prize=1.1", "adjust.segments.smb.prize"),
        ("adjust.from_month=2026-05", "adjust.from_month' = '2026-05': outside the forecast"),
        ("adjust.from_month=2027-05", "adjust.from_month' has no effect"),
        ("adjust.price={dist:normal,mu:1,sigma:0.1}", "adjust.price"),
        ("staffing.roles.ae.accounts_covered=10", "staffing.roles.ae.accounts_covered"),
        ("staffing.roles.partner.cost_per_month=1", "staffing.roles.partner.cost_per_month"),
        ("model.commit_share=0 model.commit_months=12", "model.commit_months' has no effect"),
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
        ("data.fiscal_year_start=13", "data.fiscal_year_start' = 13: must be a month 1-12"),
    ],
)
def test_bad_config_exits_2_with_one_line(cli, tmp_path, override, fragment):
    out = tmp_path / "run"
    proc = cli("run", *SMALL, *override.split(), f"hydra.run.dir={out}")
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
    assert shipped.returncode == 0 and "churn_hazard" in shipped.stdout
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
    proc = cli(
        "run", *args, "sim.draws=10", "sim.horizon_months=12", "fit.posterior=none",
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        "startup" in proc.stdout + proc.stderr
        and "model.segments.default" in proc.stdout + proc.stderr
    )
    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as ds:
        assert ds.attrs["default_segments"] == "startup"
        assert "assumptions" in ds.attrs["parameters"]
        assert "startup" in ds["segment"].values


#: The embedded default book (its fitted posterior applies): only keys that refuse, so the run
#: stops in the pre-check, before any simulation.
EMBEDDED = ["sim.draws=4", "sim.horizon_months=13", "sim.progress=false"]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        (
            "model.segments.smb.usage_drift=0.01",
            "'model.segments.smb.usage_drift' has no effect: fitted by the posterior -- use "
            "adjust.usage_growth or model.override.smb.usage_drift",
        ),
        ("model.segments.default.churn_beta=50", "model.segments.default.churn_beta"),
        ("model.season_cos=0.1", "model.season_cos' has no effect: fitted"),
        ("market.unit_price.smb=2", "market.unit_price.smb' has no effect: the data's revenue"),
        ("market.unit_price.default=2", "market.unit_price.default' has no effect"),
    ],
)
def test_dead_key_on_the_fitted_book_exits_2(cli, tmp_path, override, fragment):
    out = tmp_path / "run"
    proc = cli("run", *EMBEDDED, override, f"hydra.run.dir={out}")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert not out.exists()


def _scenario(folder, name: str, text: str):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text("# @package _global_\n" + text)
    return folder / f"{name}.yaml"


def test_scenario_file_cannot_run_code(cli, tmp_path):
    """A scenario holding a Hydra callback with `_target_` exits 2 and creates nothing."""
    victim = tmp_path / "created_by_scenario"
    plans = tmp_path / "plans"
    path = _scenario(
        plans,
        "x",
        f"hydra:\n  callbacks:\n    x:\n      _target_: pathlib.Path.touch\n      self: {victim}\n",
    )
    out = tmp_path / "run"
    proc = cli("run", "--scenarios", str(plans), "scenario=x", *SMALL, f"hydra.run.dir={out}")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and "'hydra'" in lines[0]
    assert not victim.exists() and not out.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sim:\n  _target_: os.system\n", "sim._target_"),
        ("sim:\n  draws: ${oc.env:HOME}\n", "interpolations are not allowed"),
        ("adjust:\n  segments:\n    enterprize:\n      churn_hazard: 1.3\n", "enterprize"),
        ("sim:\n  drawz: 5\n", "drawz"),
        ("defaults:\n  - override /hydra/launcher: joblib\n", "defaults entry"),
        ("model:\n  segments:\n    smb:\n      usage_drift: 0.02\n", "fitted by the posterior"),
    ],
    ids=["target", "interpolation", "segment", "key", "hydra-defaults", "fitted"],
)
def test_bad_scenario_file_exits_2_naming_the_file(cli, tmp_path, text, fragment):
    """Scenario files are checked like command-line overrides, and name the file."""
    path = _scenario(tmp_path / "plans", "bad", text)
    out = tmp_path / "run"
    proc = cli(
        "run", "--scenarios", str(path.parent), "scenario=bad", *EMBEDDED, f"hydra.run.dir={out}"
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and fragment in lines[0], lines[0]
    assert not out.exists()


def test_python_api_takes_scenario_folders(tmp_path):
    import simengine

    _scenario(tmp_path / "plans", "fy27", "sim:\n  horizon_months: 14\n")
    ds = simengine.simulate(
        ["scenario=fy27", *SMALL[:1], *SMALL[2:]], scenarios=[tmp_path / "plans"]
    )
    assert ds.sizes["month"] == 14
    # The folder does not leak into the next call.
    from simengine.config import ConfigError

    with pytest.raises(ConfigError, match="fy27"):
        simengine.simulate(["scenario=fy27", *SMALL])


def test_output_files_follow_the_umask(tmp_path):
    """Atomic writes end with the mode a plain open() would give: 0644 under umask 022."""
    import os
    import stat

    from simengine.atomic import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
        os.umask(0o027)
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o640
