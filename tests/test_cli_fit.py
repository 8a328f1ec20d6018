"""`simengine fit` then `simengine run fit.posterior=...`, as a user runs them (subprocesses)."""

from __future__ import annotations

import pandas as pd
import pytest
import xarray as xr

from simengine.data import generate_book, write_book

pytestmark = pytest.mark.slow
RUN = ["sim.draws=20", "sim.horizon_months=12", "sim.progress=false"]


def _book_files(folder, seed):
    book = generate_book(n_accounts=300, history_months=24, seed=seed).book
    paths = write_book(book, folder)
    return [f"data.{table}={path}" for table, path in paths.items()]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from tests.conftest import run_cli

    root = tmp_path_factory.mktemp("fit")
    data = _book_files(root / "book", seed=3)
    out = root / "fit"
    proc = run_cli(
        "fit", *data, "fit.models=[churn]", "fit.draws=1500", "fit.tune=1000", "sim.progress=false",
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return root, data, out


def test_fit_writes_posterior_and_diagnostics(fitted):
    _, _, out = fitted
    tree = xr.open_datatree(out / "posterior.nc")
    post = tree["posterior"]
    assert post["churn_alpha"].dims == ("chain", "draw", "segment")
    assert set(post["segment"].values) == {"enterprise", "mid_market", "smb"}
    for key in ("data_hash", "config", "seed", "created_at", "simengine_version", "method"):
        assert key in tree.attrs, key
    diagnostics = pd.read_csv(out / "diagnostics.csv")
    assert {"parameter", "r_hat", "ess_bulk"} <= set(diagnostics.columns)
    assert (diagnostics["r_hat"] <= 1.01).all()


def test_run_simulates_from_the_fit(fitted, cli, tmp_path):
    _, data, out = fitted
    run = tmp_path / "run"
    proc = cli("run", *data, *RUN, f"fit.posterior={out / 'posterior.nc'}", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        assert ds.attrs["parameters"] == "fitted posterior"
        assert "churn_alpha" in ds.attrs["fitted_parameters"]
        assert ds.attrs["posterior_data_hash"] == ds.attrs["data_hash"]


def test_posterior_of_other_data_is_refused(fitted, cli, tmp_path):
    root, _, out = fitted
    other = _book_files(tmp_path / "other", seed=4)
    run = tmp_path / "run"
    proc = cli("run", *other, *RUN, f"fit.posterior={out / 'posterior.nc'}", f"hydra.run.dir={run}")
    assert proc.returncode == 2
    assert "hash" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (run / "forecast.nc").exists()


def test_approximate_fit_needs_allow_bad(cli, tmp_path):
    data = _book_files(tmp_path / "book", seed=5)
    out = tmp_path / "map"
    proc = cli("fit", *data, "fit.models=[churn]", "fit.method=map", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    post = f"fit.posterior={out / 'posterior.nc'}"
    refused = cli("run", *data, *RUN, post, f"hydra.run.dir={tmp_path / 'r1'}")
    assert refused.returncode == 2 and "fit.allow_bad" in refused.stderr
    allowed = cli(
        "run", *data, *RUN, post, "fit.allow_bad=true", f"hydra.run.dir={tmp_path / 'r2'}"
    )
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.parametrize(
    ("tables", "overrides", "message"),
    [
        # a named model the data cannot support
        (("accounts", "usage"), ["fit.models=[expansion]"], "fit.models: model 'expansion' needs"),
        (("accounts",), ["fit.models=[usage,churn]"], "fit.models: model 'usage' needs"),
        (("accounts", "usage"), ["fit.models=[growth]"], "fit.models"),
        (("accounts", "usage"), ["data.observed_from=2030-01"], "observed_from: 2030-01 is after"),
    ],
)
def test_fit_refuses_what_the_data_cannot_support(tmp_path, cli, tables, overrides, message):
    book = generate_book(n_accounts=60, history_months=12, seed=6).book
    paths = write_book(book, tmp_path / "book")
    data = [f"data.{t}={paths[t]}" for t in tables]
    out = tmp_path / "out"
    proc = cli("fit", *data, *overrides, f"hydra.run.dir={out}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not out.exists()  # no run folder


def test_run_needs_the_usage_table(tmp_path, cli):
    book = generate_book(n_accounts=60, history_months=12, seed=6).book
    paths = write_book(book, tmp_path / "book")
    out = tmp_path / "out"
    proc = cli("run", f"data.accounts={paths['accounts']}", *RUN, f"hydra.run.dir={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "data.usage: a simulation needs the usage table" in lines[0]
    assert not out.exists()


def test_fit_without_use_cases_chooses_usage_and_churn(tmp_path, cli):
    book = generate_book(n_accounts=150, history_months=18, seed=8).book
    paths = write_book(book, tmp_path / "book")
    out = tmp_path / "fit"
    proc = cli(
        "fit", f"data.accounts={paths['accounts']}", f"data.usage={paths['usage']}",
        "fit.method=map", "sim.progress=false", f"hydra.run.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        assert tree.attrs["models"] == "usage,churn"
        assert tree.attrs["has_use_cases"] == 0
        assert "use_case_rate" not in tree["posterior"].data_vars


def test_fit_failing_its_gate_exits_3_and_marks_the_posterior(cli, tmp_path):
    # 2 x 30 draws: bulk ESS is capped near 60 log10(60) ~ 107 by the estimator, far below the
    # gate's 400, so the gate fails on every seed.
    data = _book_files(tmp_path / "book", seed=5)
    out = tmp_path / "fit"
    proc = cli(
        "fit", *data, "fit.models=[churn]", "fit.draws=30", "fit.tune=30", "sim.progress=false",
        f"hydra.run.dir={out}",
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "fit failed its gate" in proc.stderr and "try:" in proc.stderr
    # Written for inspection, and marked: `run` refuses it by the same gate.
    with xr.open_datatree(out / "posterior.nc", engine="h5netcdf") as tree:
        assert tree.attrs["gate"] == "failed"
        assert "bulk ESS" in tree.attrs["gate_failures"]
        assert int(tree.attrs["sampler_restarts"]) == 0
