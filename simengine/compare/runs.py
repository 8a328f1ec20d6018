"""The scenarios of a comparison: run and sweep folders opened lazily as one dataset.

:func:`load_scenarios` stacks PATHs along ``scenario`` with each run's provenance (seed, data
hash, config) as coordinates and refuses scenarios whose random streams are not common (seed,
data hash or draws differ): their differences would be noise, not the plan's effect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from simengine.sweep import PROVENANCE, _labels, job_dirs, job_ok, open_jobs

__all__ = [
    "CompareError",
    "config_currency",
    "load_scenarios",
    "scenario_currency",
    "scenario_names",
]


class CompareError(ValueError):
    """Runs that cannot be compared, or a bad ``compare.*`` key: one line, exit code 2."""


def _run_label(attrs: dict, folder: Path) -> dict[str, str]:
    return {k: str(attrs[k]) for k in ("scenario", "staffing", "comp") if k in attrs} or {
        "run": folder.name
    }


def _open_run(path: Path) -> tuple[xr.Dataset, dict[str, str]]:
    ds = xr.open_dataset(path, engine="h5netcdf", chunks={})
    attrs = dict(ds.attrs)
    prov = {
        "job": path.parent.name,
        "overrides": "",
        "seed": int(attrs.get("seed", -1)),
        "config_hash": str(attrs.get("config_hash", "")),
        "data_hash": str(attrs.get("data_hash", "")),
        "config": str(attrs.get("config", "")),
        "scenario_name": str(attrs.get("scenario", "")),
    }
    return ds.drop_attrs(deep=False), {**prov, "_label": _run_label(attrs, path.parent)}


def _open_sweep(path: Path) -> xr.Dataset:
    from simengine.sweep import missing_sources

    gone = missing_sources(path)  # sweep.nc maps its numbers to the jobs' forecast.nc
    if gone:
        raise CompareError(
            f"{path}: its job file {gone[0]} is gone ({len(gone)} missing); keep sweep.nc in its "
            "sweep folder, or merge with simengine.sweep.gather_sweep(folder, copy=True)"
        )
    ds = xr.open_dataset(path, engine="h5netcdf", chunks={})
    missing = [k for k in ("seed", "data_hash") if k not in ds.coords]
    if missing:
        raise CompareError(
            f"{path}: no per-scenario {', '.join(missing)} (written before provenance was kept); "
            "compare its job folders instead, or rerun the sweep"
        )
    return ds


def load_scenarios(paths: list[str | Path]) -> xr.Dataset:
    """Open PATHs lazily as one dataset with a ``scenario`` dim and provenance coordinates."""
    parts: list[xr.Dataset] = []
    runs: list[tuple[xr.Dataset, dict]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file() and path.name == "sweep.nc":
            parts.append(_open_sweep(path))
        elif path.is_file():
            runs.append(_open_run(path))
        elif (path / "sweep.nc").is_file():
            parts.append(_open_sweep(path / "sweep.nc"))
        elif (path / "forecast.nc").is_file():
            runs.append(_open_run(path / "forecast.nc"))
        elif path.is_dir() and (jobs := [j for j in job_dirs(path) if job_ok(j)]):
            parts.append(open_jobs(jobs, _labels(jobs)))
        else:
            raise CompareError(f"{raw}: no sweep.nc or forecast.nc there")
    if runs:
        labels = [r[1]["_label"] for r in runs]
        keys = sorted({k for lab in labels for k in lab})
        varying = [k for k in keys if len({lab.get(k) for lab in labels}) > 1]
        names = [",".join(f"{k}={lab.get(k)}" for k in varying) for lab in labels]
        if not all(names) or len(set(names)) < len(names):
            names = [r[1]["job"] for r in runs]
        if len(set(names)) < len(names):
            names = [str(Path(p)) for p in paths if not str(p).endswith("sweep.nc")][: len(runs)]
        for (ds, prov), name in zip(runs, names, strict=True):
            coords = {k: ("scenario", [prov[k]]) for k in PROVENANCE}
            parts.append(ds.expand_dims(scenario=[name]).assign_coords(coords))
    # A sweep.nc written before runs recorded their scenario's name has no scenario_name.
    parts = [
        p
        if "scenario_name" in p.coords
        else p.assign_coords(scenario_name=("scenario", [""] * p.sizes["scenario"]))
        for p in parts
    ]
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = xr.concat(parts, dim="scenario", join="outer", data_vars="all")
    labels = [str(s) for s in merged["scenario"].values]
    if len(set(labels)) < len(labels):
        dup = sorted({s for s in labels if labels.count(s) > 1})
        raise CompareError(f"scenario label {dup[0]!r} appears twice; compare fewer paths")
    _check_pairable(merged)
    return merged


def config_currency(config_yaml: str) -> str | None:
    """The currency label of a run from its resolved config YAML (see ``currency_of``)."""
    from simengine.config import DataConfig, config_section, currency_of

    data = config_section(config_yaml, "data")
    return currency_of(DataConfig(accounts=data.get("accounts"), currency=data.get("currency")))


def scenario_currency(ds: xr.Dataset) -> str | None:
    """The first scenario's currency label (paired runs share their data, so their currency)."""
    if "config" not in ds.coords:
        return None
    return config_currency(str(ds["config"].values[0]))


def scenario_names(ds: xr.Dataset) -> list[str]:
    """The distinct scenario names (each run's ``scenario`` attr: the scenario file it ran,
    ``default`` when none) of the compared runs, in order; empty for runs written before runs
    recorded it."""
    if "scenario_name" not in ds.coords:
        return []
    names = [str(v) for v in np.atleast_1d(ds["scenario_name"].values)]
    return [n for n in dict.fromkeys(names) if n and n != "nan"]


def _check_pairable(ds: xr.Dataset) -> None:
    """Refuse scenarios whose random streams are not common: seed, data hash, draws must agree."""
    labels = [str(s) for s in ds["scenario"].values]
    for key in ("seed", "data_hash"):
        values = [str(v) for v in ds[key].values]
        if len(set(values)) > 1:
            i = next(i for i, v in enumerate(values) if v != values[0])
            raise CompareError(
                f"cannot pair {labels[0]!r} and {labels[i]!r}: {key} differs "
                f"({values[0]} vs {values[i]}), so their random streams are not common"
            )
    # An outer join pads a shorter run's draws with NaN: a draw missing from one scenario.
    # Runs of sim.draws=auto stop at different draws by design and pair on the draws they share
    # (streams are keyed by absolute draw: a run's first n draws are those of any longer run).
    revenue = ds["revenue"].sum(("month", "segment"), skipna=False)
    lengths = revenue.notnull().sum("draw").values
    if len(set(lengths.tolist())) > 1 and not _all_auto(ds):
        i = int(np.argmax(lengths != lengths[0]))
        raise CompareError(
            f"cannot pair {labels[0]!r} and {labels[i]!r}: draws differ "
            f"({lengths[0]} vs {lengths[i]}), so their random streams are not common"
        )


def _all_auto(ds: xr.Dataset) -> bool:
    """True when every scenario was run with ``sim.draws=auto`` (its resolved config says so)."""
    from simengine.config import config_section

    if "config" not in ds.coords:
        return False
    return all(
        str(config_section(str(text), "sim").get("draws")) == "auto" for text in ds["config"].values
    )
