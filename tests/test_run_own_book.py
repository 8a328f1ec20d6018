"""``simengine run`` on a user's own book without ``fit.posterior`` (issue 22, item 10): it fits the
book once, caches the posterior under ``fit.cache_dir`` by data hash and fit settings, reuses it
(and says so) next time, refuses with exit 2 when ``fit.auto=false`` and no fit is cached, and
simulates the example company's assumptions only when asked (``fit.posterior=none``), which every
output records."""

from __future__ import annotations

import pytest
import xarray as xr

from simengine.data import generate_book, write_book
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

#: A churn-only fit keeps the fit short; its few draws would fail the gate (allow_bad: the gate is
#: not what this tests, and its thresholds are not part of the cache key).
FIT = ["fit.models=[churn]", "fit.draws=200", "fit.tune=200", "fit.allow_bad=true"]
RUN = ["sim.draws=20", "sim.horizon_months=12", "sim.progress=false"]


@pytest.fixture(scope="module")
def book_args(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    paths = write_book(generate_book(n_accounts=300, history_months=24, seed=3).book, folder)
    return folder, [f"data.{table}={path}" for table, path in paths.items()]


def test_run_fits_once_then_reuses_the_cached_fit(book_args):
    folder, data = book_args
    cache = folder / "fits"
    first = run_cli("run", *data, *RUN, *FIT, f"fit.cache_dir={cache}",
                    f"hydra.run.dir={folder / 'run1'}")  # fmt: skip
    assert first.returncode == 0, first.stderr
    log = first.stdout + first.stderr
    assert "no fit.posterior: fitting this book" in log
    (posterior,) = cache.glob("*/posterior.nc")
    assert str(posterior) in log  # the log names the cached posterior
    assert (posterior.parent / "diagnostics.csv").is_file()
    stamp = posterior.stat().st_mtime_ns
    with xr.open_dataset(folder / "run1" / "forecast.nc", engine="h5netcdf") as ds:
        assert ds.attrs["parameters"] == "fitted posterior (run's cached fit of this book)"
        assert ds.attrs["posterior"] == str(posterior)
        assert "churn_alpha" in ds.attrs["fitted_parameters"]

    second = run_cli("run", *data, *RUN, *FIT, f"fit.cache_dir={cache}",
                     f"hydra.run.dir={folder / 'run2'}")  # fmt: skip
    assert second.returncode == 0, second.stderr
    log = second.stdout + second.stderr
    assert f"reusing the cached fit of this book: {posterior}" in log
    assert "fitting this book" not in log  # no second fit
    assert posterior.stat().st_mtime_ns == stamp
    assert list(cache.glob("*/posterior.nc")) == [posterior]
    # Same book, same fit, same seed: the same forecast.
    with (
        xr.open_dataset(folder / "run1" / "forecast.nc", engine="h5netcdf") as a,
        xr.open_dataset(folder / "run2" / "forecast.nc", engine="h5netcdf") as b,
    ):
        xr.testing.assert_equal(a["revenue"], b["revenue"])

    # Another fit setting is another fit: with fitting off and nothing cached for it, exit 2.
    out = folder / "run3"
    off = run_cli("run", *data, *RUN, *FIT, "fit.draws=201", "fit.auto=false",
                  f"fit.cache_dir={cache}", f"hydra.run.dir={out}")  # fmt: skip
    assert off.returncode == 2, off.stderr
    lines = off.stderr.strip().splitlines()
    assert len(lines) == 1, off.stderr
    assert "config key 'fit.auto' = False" in lines[0]
    assert "fit.posterior=none" in lines[0] and "simengine fit" in lines[0]
    assert not out.exists()


def test_example_assumptions_only_when_asked(book_args):
    from simengine.report.plots import fan_chart

    folder, data = book_args
    out = folder / "assumed"
    proc = run_cli("run", *data, *RUN, "fit.posterior=none", "fit.auto=false",
                   f"fit.cache_dir={folder / 'none'}", f"hydra.run.dir={out}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (folder / "none").exists()  # nothing fitted
    assert (out / "fan_chart.png").is_file()
    with xr.open_dataset(out / "forecast.nc", engine="h5netcdf") as ds:
        assert "example company" in ds.attrs["parameters"]
        assert "fit.posterior=none" in ds.attrs["parameters"]
        title = fan_chart(ds).axes[0].get_title(loc="left")
    assert "of the example company (fit.posterior=none), NOT fitted to this book" in title


def test_a_bad_key_is_refused_before_any_fit(book_args):
    folder, data = book_args
    cache, out = folder / "typo_fits", folder / "typo"
    proc = run_cli("run", *data, *RUN, *FIT, "adjust.from_month=2020-01",
                   f"fit.cache_dir={cache}", f"hydra.run.dir={out}")  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "adjust.from_month" in lines[0], proc.stderr
    assert not cache.exists() and not out.exists()  # no fit, no run folder
