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
) -> dict[str, Path]:
    """Write a run's files into ``out_dir`` (each atomic): ``forecast.nc``, ``summary.csv`` (fiscal
    years), ``summary_quarterly.csv``, ``summary_monthly.csv``, ``summary.xlsx``,
    ``fan_chart.png`` and the per-account files (``signals.csv`` with ``signals_top`` accounts a
    signal).

    ``overrides``: the command line's overrides, listed on the workbook's Assumptions sheet;
    default: those Hydra recorded in ``out_dir/.hydra/overrides.yaml``, if any.
    """
    from simengine.accounts_forecast import accounts_frame, signals_table, write_account_outputs
    from simengine.csvtext import plain_csv
    from simengine.report import fan_chart
    from simengine.results import write_atomic_text, write_netcdf
    from simengine.rollups import rollup_tables
    from simengine.workbook import run_workbook, save_workbook

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = rollup_tables(ds)
    paths = {"forecast": write_netcdf(ds, out_dir / "forecast.nc")}
    for kind, name in (("year", "summary"), ("quarter", "summary_quarterly"),
                       ("month", "summary_monthly")):  # fmt: skip
        paths[name] = write_atomic_text(plain_csv(tables[kind]), out_dir / f"{name}.csv")
    fan_chart(ds, out_dir / "fan_chart.png")
    paths["fan_chart"] = out_dir / "fan_chart.png"
    paths |= write_account_outputs(ds, out_dir, signals_top)
    accounts = signals = None
    if "account" in ds.dims:
        accounts = accounts_frame(ds)
        signals = signals_table(accounts, signals_top)
    if overrides is None:
        overrides = _recorded_overrides(out_dir)
    book = run_workbook(ds, tables, accounts, signals, overrides)
    paths["workbook"] = save_workbook(book, out_dir / "summary.xlsx", ds.attrs.get("created_at"))
    return paths


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
