"""The Python entry points: compose the CLI's configs, run a scenario or a fit, write outputs.

``simulate(overrides, scenarios=[...])`` and ``fit(overrides, scenarios=[...])`` compose exactly
the configs ``simengine run`` and ``simengine fit`` compose (``scenarios`` are extra scenario
folders, like ``--scenarios DIR``), so a notebook and a shell give the same numbers for the same
overrides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from simengine.auto_draws import simulate_run as simulate_config
from simengine.config import Config, config_yaml
from simengine.config.compose import compose, compose_run, load_config
from simengine.pipeline import check_run
from simengine.run_attrs import group_choices
from simengine.run_posterior import load_checked_posterior

log = logging.getLogger("simengine")

__all__ = [
    "check_run",
    "compose",
    "fit",
    "load_checked_posterior",
    "load_config",
    "run_fit",
    "simulate",
    "simulate_config",
    "write_run_outputs",
]


def simulate(overrides: Sequence[str] = (), scenarios: Sequence[str | Path] = ()) -> xr.Dataset:
    """Simulate the scenario the overrides select and return the forecast ``xarray.Dataset``.

    Parameters
    ----------
    overrides : sequence of str
        Hydra overrides, as on the command line (``"sim.draws=200"``, ``"scenario=downturn"``).
    scenarios : sequence of path
        Extra folders of scenario files (``NAME.yaml`` becomes ``scenario=NAME``), searched after
        the shipped ``scenarios/``; a later folder's file replaces an earlier one's.

    Examples
    --------
    >>> ds = simengine.simulate(["sim.draws=200", "scenario=fy27"], scenarios=["~/plans"])  # doctest: +SKIP
    >>> ds["revenue"].sum("segment").quantile([0.1, 0.5, 0.9], "draw")  # doctest: +SKIP
    """
    cfg, scenario = compose_run(overrides, scenarios)
    return simulate_config(cfg, scenario=scenario, choices=group_choices(overrides, scenario))


def write_run_outputs(
    ds: xr.Dataset,
    out_dir: str | Path,
    signals_top: int = 10,
    overrides: Sequence[str] | None = None,
    *,
    sweep_job: bool | None = None,
) -> dict[str, Path]:
    """Write a run's files into ``out_dir`` (each atomic): ``forecast.nc``, ``summary.csv`` (fiscal
    years), ``summary_quarterly.csv``, ``summary_monthly.csv``, ``summary.xlsx``,
    ``fan_chart.png`` and the per-account files (``signals.csv`` with ``signals_top`` accounts a
    signal).

    ``overrides``: the command line's overrides, listed on the workbook's Assumptions sheet;
    default: those Hydra recorded in ``out_dir/.hydra/overrides.yaml``, if any.

    ``sweep_job``: the run is one job of a sweep (default: when Hydra runs a ``-m`` sweep).  Its
    folder then gets no ``fan_chart.png`` (``simengine report`` and ``compare`` draw the sweep's
    charts from the forecasts, when asked) and its ``forecast.nc`` no per-cohort cells
    (:data:`simengine.results.COHORT_CELLS`: no table or comparison reads them): a sweep's jobs
    spend their time in the kernel, and ``sweep.nc`` stays small.
    """
    from simengine.accounts_forecast import accounts_frame, signals_table, write_account_outputs
    from simengine.csvtext import plain_csv
    from simengine.results import without_cohort_cells, write_atomic_text, write_netcdf
    from simengine.rollups import rollup_tables
    from simengine.workbook import run_workbook, save_workbook

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if sweep_job is None:
        sweep_job = _in_sweep()
    tables = rollup_tables(ds)
    forecast = without_cohort_cells(ds) if sweep_job else ds
    paths = {"forecast": write_netcdf(forecast, out_dir / "forecast.nc")}
    for kind, name in (("year", "summary"), ("quarter", "summary_quarterly"),
                       ("month", "summary_monthly")):  # fmt: skip
        paths[name] = write_atomic_text(plain_csv(tables[kind]), out_dir / f"{name}.csv")
    if not sweep_job:
        from simengine.report import fan_chart

        fan_chart(ds, out_dir / "fan_chart.png")
        paths["fan_chart"] = out_dir / "fan_chart.png"
    accounts = signals = None
    if "account" in ds.dims:
        accounts = accounts_frame(ds)
        signals = signals_table(accounts, signals_top)
    paths |= write_account_outputs(ds, out_dir, signals_top, accounts, signals)
    if overrides is None:
        overrides = _recorded_overrides(out_dir)
    book = run_workbook(ds, tables, accounts, signals, overrides)
    paths["workbook"] = save_workbook(book, out_dir / "summary.xlsx", ds.attrs.get("created_at"))
    return paths


def _in_sweep() -> bool:
    """True inside a job of a Hydra ``-m`` sweep (``simengine run -m``)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _recorded_overrides(out_dir: Path) -> list[str]:
    """The overrides Hydra recorded for the run in ``out_dir`` (empty outside a Hydra run)."""
    import yaml

    path = out_dir / ".hydra" / "overrides.yaml"
    try:
        return [str(o) for o in yaml.safe_load(path.read_text()) or []]
    except (OSError, yaml.YAMLError):
        return []


def run_fit(cfg: Config, out_dir: str | Path | None = None):
    """Fit the configured models to the configured book; write outputs when ``out_dir`` is given."""
    from simengine.data import book_from_config
    from simengine.fitting import fit_book, fit_to_folder

    book = book_from_config(cfg.data)
    if out_dir is not None:
        return fit_to_folder(cfg, book, out_dir)
    return fit_book(
        book, cfg.fit, cfg.seed, config_yaml=config_yaml(cfg), progress=cfg.sim.progress
    )


def fit(overrides: Sequence[str] = (), scenarios: Sequence[str | Path] = ()):
    """Fit the PyMC models the overrides select; return the posterior ``xarray.DataTree``.

    ``scenarios`` are extra scenario folders, as for :func:`simulate`.
    """
    return run_fit(load_config(overrides, scenarios))
