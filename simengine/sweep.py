"""Hydra callback that gathers a ``-m`` sweep's forecasts into one ``sweep.nc``.

Each job of ``simengine run -m staffing=ae_heavy,se_heavy`` writes its own ``forecast.nc``; at the end
of the sweep this callback stacks them along a ``scenario`` dimension labelled by each job's
overrides (``staffing=ae_heavy``), so a planner compares scenarios in one dataset.  The jobs share
random streams (same seed), so paired differences along ``scenario`` are common-random-number
differences.
"""

from __future__ import annotations

import logging
from pathlib import Path

import xarray as xr
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simengine.results import write_netcdf

log = logging.getLogger("simengine")

__all__ = ["SweepCallback", "gather_sweep"]


def _overrides(job_dir: Path) -> dict[str, str]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.exists():
        return {}
    pairs = (str(o).split("=", 1) for o in OmegaConf.load(overrides_file))
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("hydra.")}


def _labels(jobs: list[Path]) -> list[str]:
    """Label each job by the overrides that differ across the sweep (``staffing=se_heavy``)."""
    overrides = [_overrides(j) for j in jobs]
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    labels = [",".join(f"{k}={o.get(k)}" for k in varying) for o in overrides]
    if len(set(labels)) < len(labels):  # no overrides to tell them apart: fall back to job numbers
        return [j.name for j in jobs]
    return labels


def gather_sweep(sweep_dir: str | Path) -> Path | None:
    """Stack ``*/forecast.nc`` under ``sweep_dir`` along ``scenario``; write ``sweep.nc``."""
    sweep_dir = Path(sweep_dir)
    jobs = sorted(
        (p.parent for p in sweep_dir.glob("*/forecast.nc")),
        key=lambda p: (len(p.name), p.name),
    )
    if not jobs:
        return None
    datasets = []
    for job in jobs:
        with xr.open_dataset(job / "forecast.nc", engine="h5netcdf") as ds:
            datasets.append(ds.load().drop_attrs())
    labels = _labels(jobs)
    sweep = xr.concat(datasets, dim="scenario", join="outer", combine_attrs="drop")
    sweep = sweep.assign_coords(scenario=labels).transpose("scenario", ...)
    sweep.attrs["jobs"] = ", ".join(str(j) for j in jobs)
    path = write_netcdf(sweep, sweep_dir / "sweep.nc")
    log.info("wrote %s (%d scenarios)", path, len(jobs))
    return path


class SweepCallback(Callback):
    """Writes ``sweep.nc`` into the sweep folder when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        path = gather_sweep(config.hydra.sweep.dir)
        if path is not None:
            print(f"wrote {path}")
