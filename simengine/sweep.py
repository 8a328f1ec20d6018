"""Sweeps that scale and survive: the Hydra callback that gathers a ``-m`` sweep into ``sweep.nc``.

Each job of ``simengine run -m staffing=ae_heavy,se_heavy`` writes its own ``forecast.nc``; at the end
of the sweep :class:`simengine.sweep_callback.SweepCallback` stacks them along a ``scenario`` dimension labelled by each job's
overrides (``staffing=ae_heavy``), so a planner compares scenarios in one dataset.  The jobs share
random streams (same seed), so paired differences along ``scenario`` are common-random-number
differences.

- **No copy.**  ``sweep.nc`` maps each numeric variable's ``[..., i]`` slice to job ``i``'s
  ``forecast.nc`` (HDF5 virtual datasets, relative paths): the merge writes ~0.5 MB whatever the
  number of jobs, in milliseconds a job, and holds no job's data in memory; readers (xarray with
  h5netcdf, h5py) read through the mapping, lazily.  The sweep folder can move as a whole;
  :func:`missing_sources` names job files gone since, and ``gather_sweep(..., copy=True)`` writes a
  self-contained copy instead.  Jobs of different shapes take xarray's lazy outer join (a copy).
- **Provenance.**  Each job's ``seed``, ``config_hash``, ``data_hash``, ``overrides``, ``job`` folder
  and resolved ``config`` (YAML) are coordinates along ``scenario``.
- **Failure isolation.**  A job that raises is logged into its own ``run.log`` and recorded in
  ``error.txt`` in its folder; the other jobs run and are merged; ``sweep.nc`` names the failed jobs
  in its ``failed_jobs`` attribute, and the command exits 1.
- **Resume.**  :func:`finished` tells ``simengine run`` that a job folder already holds the outputs
  of the same resolved config (same ``config_hash``), so rerunning a sweep into the same
  ``hydra.sweep.dir`` skips finished jobs.
- **Unique run folders.**  :func:`register_resolvers` adds ``${unique:}`` (a random 6-hex token), used
  in ``hydra.run.dir`` so two runs started in the same second never share a folder.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import numpy as np
import xarray as xr
from omegaconf import OmegaConf

from simengine.results import write_netcdf

log = logging.getLogger("simengine")

__all__ = [
    "ERROR_FILE",
    "PROVENANCE",
    "finished",
    "gather_sweep",
    "job_dirs",
    "job_ok",
    "missing_sources",
    "open_jobs",
    "register_resolvers",
    "virtual_sources",
]

#: File a failed job leaves in its folder: the exception's type and message.
ERROR_FILE = "error.txt"
#: Per-job provenance kept as coordinates along ``scenario`` in ``sweep.nc``; ``scenario_name`` is
#: the job's ``scenario`` attr (the scenario file it ran, ``default`` when none).
PROVENANCE = ("job", "overrides", "seed", "config_hash", "data_hash", "config", "scenario_name")
#: Files a finished ``simengine run`` job holds (forecast.nc carries the config hash; the workbook
#: is written last).  A sweep's job draws no chart (:func:`simengine.api.write_run_outputs`).
_RUN_FILES = ("forecast.nc", "summary.csv", "summary.xlsx")


def register_resolvers() -> None:
    """Register ``${unique:}``: a random 6-hex token, cached per config (one value per run)."""
    if not OmegaConf.has_resolver("unique"):
        OmegaConf.register_new_resolver("unique", lambda: secrets.token_hex(3), use_cache=True)


def finished(config_hash: str, out_dir: str | Path, inputs=()) -> bool:
    """True when ``out_dir`` holds a complete run of the config whose hash is ``config_hash``.

    ``inputs`` (data files, a posterior) must not be newer than that run's ``forecast.nc``: the
    config names a file, not its content, so an edited input means the job runs again.
    """
    out_dir = Path(out_dir)
    if not all((out_dir / name).is_file() for name in _RUN_FILES):
        return False
    done = (out_dir / "forecast.nc").stat().st_mtime_ns
    if any(Path(p).stat().st_mtime_ns > done for p in inputs if p and Path(p).is_file()):
        return False
    try:
        with xr.open_dataset(out_dir / "forecast.nc", engine="h5netcdf") as ds:
            return str(ds.attrs.get("config_hash", "")) == config_hash
    except (OSError, ValueError):  # unreadable (half-written by an older version): run it again
        return False


def _overrides(job_dir: Path) -> dict[str, str]:
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.exists():
        return {}
    pairs = (str(o).split("=", 1) for o in OmegaConf.load(overrides_file))
    return {k: v for k, v in (p for p in pairs if len(p) == 2) if not k.startswith("hydra")}


def _labels(jobs: list[Path]) -> list[str]:
    """Label each job by the overrides that differ across the sweep (``staffing=se_heavy``)."""
    overrides = [_overrides(j) for j in jobs]
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    labels = [",".join(f"{k}={o.get(k)}" for k in varying) for o in overrides]
    if len(set(labels)) < len(labels) or not all(labels):  # nothing tells them apart: job numbers
        return [j.name for j in jobs]
    return labels


def job_dirs(sweep_dir: str | Path) -> list[Path]:
    """The job folders of a sweep (those Hydra saved overrides for), in job-number order."""
    sweep_dir = Path(sweep_dir)
    found = {p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")}
    found |= {p.parent for p in sweep_dir.glob("*/forecast.nc") if p.is_file()}
    return sorted(found, key=lambda p: (len(p.name), p.name))


def job_ok(job: Path) -> bool:
    """True when the job's latest attempt finished: a ``forecast.nc`` and no ``error.txt``."""
    return (job / "forecast.nc").is_file() and not (job / ERROR_FILE).is_file()


def _error(job: Path) -> str:
    path = job / ERROR_FILE
    if path.is_file():
        return path.read_text().strip().splitlines()[0]
    return "no forecast.nc (the job did not finish)"


def open_jobs(jobs: list[Path], labels: list[str]) -> xr.Dataset:
    """Open each job's ``forecast.nc`` lazily and concatenate along ``scenario`` (last dim).

    Provenance attrs become coordinates along ``scenario``; the data stay dask-backed (one chunk per
    job and variable), so nothing is loaded until it is written or reduced.
    """
    datasets, prov = [], {k: [] for k in PROVENANCE}
    for job, label in zip(jobs, labels, strict=True):
        ds = xr.open_dataset(job / "forecast.nc", engine="h5netcdf", chunks={})
        for key, value in _provenance(job, ds.attrs).items():
            prov[key].append(value)
        datasets.append(ds.drop_attrs(deep=False).expand_dims(scenario=[label]))
    merged = xr.concat(
        datasets, dim="scenario", join="outer", combine_attrs="drop", data_vars="all"
    )
    coords = {k: ("scenario", np.asarray(v)) for k, v in prov.items()}
    merged = merged.assign_coords(coords)
    order = {v: tuple(d for d in merged[v].dims if d != "scenario") + ("scenario",) for v in merged}
    for name, dims in order.items():
        merged[name] = merged[name].transpose(*dims)
        # An integer count padded with NaN by the outer join is float now: write it as float.
        merged[name].encoding.pop("dtype", None)
    return merged


def _provenance(job: Path, attrs) -> dict:
    over = _overrides(job)
    return {
        "job": job.name,
        "overrides": " ".join(f"{k}={v}" for k, v in over.items()),
        "seed": int(attrs.get("seed", -1)),
        **{k: str(attrs.get(k, "")) for k in ("config_hash", "data_hash", "config")},
        "scenario_name": str(attrs.get("scenario", "")),
    }


def _schema(f) -> tuple:
    """Dimensions, coordinate values and variables (dims, dtype) of an open h5netcdf file."""
    dims = tuple((name, d.size) for name, d in f.dimensions.items())
    coords = tuple((n, tuple(f[n][...].tolist())) for n, _ in dims if n in f.variables)
    variables = tuple((n, v.dimensions, str(v.dtype)) for n, v in f.variables.items())
    return dims, coords, variables


def _fingerprint(f, dims: tuple, draw_axes: dict[str, int]) -> tuple:
    """What two job files must share to be stacked, read through h5py (h5netcdf's dimension
    bookkeeping costs ~0.1 s a file): every dataset's name, shape and dtype, and the values of
    the dimensions' coordinates, but for the number of draws (``draw_axes``: each variable's
    ``draw`` axis), which :func:`_stacked_merge` checks apart."""

    def shape(name: str, shape: tuple) -> tuple:
        axis = 0 if name == "draw" else draw_axes.get(name)
        return shape if axis is None else (*shape[:axis], -1, *shape[axis + 1 :])

    shapes = tuple(sorted((k, shape(k, v.shape), str(v.dtype)) for k, v in f.items()))
    coords = tuple(f[n][...].tobytes() if f[n].dtype.kind != "O" else tuple(f[n][...].tolist())
                   for n, _ in dims if n in f and n != "draw")  # fmt: skip
    return shapes, coords


def _attr(value):
    """An HDF5 attribute as h5netcdf gives it: text as ``str``, a one-element array as a scalar."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(-1)[0].item()
    return value


def _virtual(dtype: str, vdims: tuple) -> bool:
    """Arrays of numbers are mapped from the job files; text (variable-length strings) is copied."""
    return np.dtype(dtype).kind in "biuf" and len(vdims) > 0


def _stacked_merge(
    jobs: list[Path], labels: list[str], attrs: dict, path: Path, copy: bool
) -> bool:
    """Write ``sweep.nc``: every job variable gains a last ``scenario`` dim.

    By default (``copy=False``) each numeric variable is an HDF5 *virtual dataset*: slice
    ``[..., i]`` is a mapping to the same variable in job ``i``'s ``forecast.nc`` (a path relative to
    the sweep folder), so nothing is copied, the merge takes milliseconds a job and its memory is
    flat; any HDF5 reader (h5py, h5netcdf, xarray) reads through the mapping.  Text variables
    (the accounts' segments) are small and copied.  With ``copy=True`` every value is copied (a
    self-contained file, one job's variable in memory at a time).  Values, units and time
    encodings are kept as stored.  Returns False (nothing written) when the jobs do not share
    dimensions, coordinates and variables; :func:`open_jobs` (xarray, outer join) handles that case.

    Jobs may differ in their number of draws when each job's ``draw`` coordinate is the start of
    the longest one's (``sim.draws=auto``: scenarios stop at different draws, every draw keyed
    by its absolute index): ``draw`` is then the longest job's, and a shorter job's missing draws
    read as missing (NaN; integer counts carry a ``_FillValue`` that xarray reads as NaN), as
    xarray's outer join would give.
    """
    import h5netcdf
    import h5py

    from simengine.atomic import atomic_path

    with h5netcdf.File(jobs[0] / "forecast.nc", "r") as first:
        dims, _, variables = _schema(first)
        var_attrs = {n: dict(first.variables[n].attrs) for n, _, _ in variables}
    draw_axes = {n: vd.index("draw") for n, vd, _ in variables if "draw" in vd and n != "draw"}
    schemas, draw_coords = set(), []
    for job in jobs:
        with h5py.File(job / "forecast.nc", "r") as f:
            schemas.add(_fingerprint(f, dims, draw_axes))
            draw_coords.append(f["draw"][...] if "draw" in f else None)
    if len(schemas) > 1:
        return False
    lengths = [0 if d is None else d.shape[0] for d in draw_coords]
    longest = draw_coords[int(np.argmax(lengths))]
    if longest is not None:
        if any(not np.array_equal(d, longest[: d.shape[0]]) for d in draw_coords):
            return False
        dims = tuple((n, longest.shape[0] if n == "draw" else size) for n, size in dims)
    ragged = len(set(lengths)) > 1
    dim_names = {name for name, _ in dims}
    text = h5py.string_dtype()
    mapped: list[tuple[str, tuple, str, dict]] = []  # filled in after h5netcdf has closed the file
    with atomic_path(path) as tmp:
        with h5netcdf.File(tmp, "w") as out:
            out.dimensions = {**dict(dims), "scenario": len(jobs)}
            out.create_variable("scenario", ("scenario",), dtype=text,
                                data=np.asarray(labels, object))  # fmt: skip
            prov = {k: [] for k in PROVENANCE}
            for i, job in enumerate(jobs):
                with h5py.File(job / "forecast.nc", "r") as f:
                    job_attrs = {k: _attr(v) for k, v in f.attrs.items()}
                    for key, value in _provenance(job, job_attrs).items():
                        prov[key].append(value)
                    for name, vdims, dtype in variables:
                        mapped_later = not copy and _virtual(dtype, vdims)
                        if i > 0 and mapped_later and name not in dim_names:
                            continue  # nothing to read: the mapping points at this job's file
                        src = f[name]
                        if name in dim_names or "scenario" in vdims:
                            if i == 0:  # coordinates: the same in every job (checked above)
                                is_text = h5py.check_string_dtype(src.dtype) is not None
                                data = src.asstr()[...] if is_text else src[...]
                                if name == "draw":  # the longest job's draws
                                    data = longest
                                var = out.create_variable(name, vdims, data=data,
                                                          dtype=text if is_text else src.dtype)  # fmt: skip
                                var.attrs.update(var_attrs[name])
                            continue
                        if i == 0:
                            v_attrs = dict(var_attrs[name])
                            own = str(v_attrs.pop("coordinates", "")).split()
                            v_attrs["coordinates"] = " ".join([*own, *PROVENANCE])
                            if ragged and name in draw_axes and "_FillValue" not in v_attrs:
                                v_attrs["_FillValue"] = _missing(np.dtype(dtype))
                            if not copy and _virtual(dtype, vdims):
                                mapped.append((name, (*vdims, "scenario"), dtype, v_attrs))
                                continue
                            fill = v_attrs.pop("_FillValue", None)
                            is_text = h5py.check_string_dtype(src.dtype) is not None
                            var = out.create_variable(
                                name, (*vdims, "scenario"), dtype=text if is_text else src.dtype,
                                fillvalue=fill, chunks=(*src.shape, 1) if src.shape else None,
                            )  # fmt: skip
                            var.attrs.update(v_attrs)
                        if copy or not _virtual(dtype, vdims):
                            is_text = h5py.check_string_dtype(src.dtype) is not None
                            where = [slice(None)] * len(vdims)
                            if name in draw_axes:  # a shorter job fills its first draws
                                where[draw_axes[name]] = slice(0, lengths[i])
                            data = src.asstr()[...] if is_text else src[...]
                            out.variables[name][(*where, i)] = data
            for key, values in prov.items():
                dtype = np.int64 if key == "seed" else text
                data = np.asarray(values, dtype=np.int64 if key == "seed" else object)
                out.create_variable(key, ("scenario",), dtype=dtype, data=data)
            out.attrs.update(attrs)
            if not copy:
                # Said in the file itself: an analyst who copies sweep.nc alone would otherwise
                # read fill values without knowing why.
                out.attrs["storage"] = (
                    "numeric variables map each job's forecast.nc (HDF5 virtual datasets, paths "
                    "relative to this file): move the sweep folder as a whole, or write a "
                    "self-contained file with simengine.sweep.gather_sweep(folder, copy=True)"
                )
        if mapped:
            sources = [os.path.relpath(job / "forecast.nc", path.parent) for job in jobs]
            with h5py.File(tmp, "r+") as f:
                for name, vdims, dtype, v_attrs in mapped:
                    counts = lengths if name in draw_axes else None
                    _map_variable(f, name, vdims, np.dtype(dtype), v_attrs, sources, counts)
    return True


def _missing(dtype: np.dtype):
    """The fill value a shorter job's missing draws read as: NaN, or an integer sentinel that
    xarray's decoding (``_FillValue``) turns into NaN."""
    return np.asarray(np.nan if dtype.kind == "f" else np.iinfo(dtype).min, dtype=dtype)


def _map_variable(
    f, name: str, vdims: tuple, dtype: np.dtype, attrs: dict, sources: list[str],
    draws: list[int] | None = None,
):  # fmt: skip
    """Create ``name`` in the h5py file ``f`` as a virtual dataset over the jobs' ``sources``.

    ``draws``: each source's number of draws when the variable has a ``draw`` dim (a source
    fills its first draws; the rest reads as the fill value)."""
    import h5py

    shape = tuple(f[d].shape[0] for d in vdims)
    axis = vdims.index("draw") if draws is not None else None
    fill = attrs.pop("_FillValue", None)
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.VIRTUAL)
    dcpl.set_obj_track_times(False)  # no timestamps: the same sweep writes the same bytes
    if fill is not None:  # a job file gone missing reads as the fill value (NaN), never as data
        dcpl.set_fill_value(np.asarray([fill], dtype=dtype))
    for i, source in enumerate(sources):
        own = list(shape[:-1])
        if axis is not None:
            own[axis] = draws[i]
        target = h5py.h5s.create_simple(shape)
        target.select_hyperslab((0,) * (len(shape) - 1) + (i,), (*own, 1))
        dcpl.set_virtual(target, source.encode(), f"/{name}".encode(),
                         h5py.h5s.create_simple(tuple(own)))  # fmt: skip
    space = h5py.h5s.create_simple(shape)
    dsid = h5py.h5d.create(f.id, name.encode(), h5py.h5t.py_create(dtype, logical=1), space,
                           dcpl=dcpl)  # fmt: skip
    var = h5py.Dataset(dsid)
    for axis, dim in enumerate(vdims):
        var.dims[axis].attach_scale(f[dim])
    if fill is not None:
        var.attrs["_FillValue"] = np.asarray(fill, dtype=dtype)
    for key, value in attrs.items():
        var.attrs[key] = value


def virtual_sources(path: str | Path) -> list[Path]:
    """The job files ``sweep.nc`` at ``path`` maps its variables to (empty for a copied file)."""
    import h5py

    path = Path(path)
    found: set[str] = set()
    with h5py.File(path, "r") as f:
        for obj in f.values():
            if isinstance(obj, h5py.Dataset) and obj.is_virtual:
                found.update(s.file_name for s in obj.virtual_sources())
    return [path.parent / name for name in sorted(found)]


def missing_sources(path: str | Path) -> list[Path]:
    """The job files ``sweep.nc`` maps to that are gone (moved or deleted since the merge)."""
    return [p for p in virtual_sources(path) if not p.is_file()]


def gather_sweep(sweep_dir: str | Path, current: bool = False, copy: bool = False) -> Path | None:
    """Stack the jobs' ``forecast.nc`` under ``sweep_dir`` along ``scenario``; write ``sweep.nc``.

    Jobs without a ``forecast.nc`` (failed or unfinished) are left out of the data and named in the
    ``failed_jobs`` attribute (``label (job N): error``) with their count in ``n_failed``.

    With ``current``, only the jobs of the latest sweep into the folder count: those whose
    ``.hydra/overrides.yaml`` is not older than ``multirun.yaml`` (Hydra writes both at launch),
    so a rerun with fewer values does not merge an earlier run's extra jobs.

    By default the numbers stay in the jobs' files and ``sweep.nc`` maps them (HDF5 virtual
    datasets, see :func:`_stacked_merge`): moving the whole sweep folder keeps it readable, moving
    ``sweep.nc`` alone does not (:func:`missing_sources` lists what it lost).  ``copy=True`` writes
    a self-contained copy of every value instead.

    Returns
    -------
    Path or None
        ``sweep.nc``, or None when no job produced a forecast.
    """
    sweep_dir = Path(sweep_dir)
    jobs = _current_jobs(sweep_dir) if current else job_dirs(sweep_dir)
    if not jobs:
        return None
    labels = _labels(jobs)
    ok = [(j, lab) for j, lab in zip(jobs, labels, strict=True) if job_ok(j)]
    failed = [(j, lab) for j, lab in zip(jobs, labels, strict=True) if (j, lab) not in ok]
    if not ok:
        return None
    attrs = {
        "jobs": ", ".join(j.name for j, _ in ok),
        "n_failed": len(failed),
        "failed_jobs": "; ".join(f"{lab} (job {j.name}): {_error(j)}" for j, lab in failed),
    }
    path = sweep_dir / "sweep.nc"
    if not _stacked_merge([j for j, _ in ok], [lab for _, lab in ok], attrs, path, copy):
        # Jobs of different shapes (a sweep of sim.horizon_months): xarray's outer join, still
        # lazy: dask streams each (job, variable) chunk from its file into sweep.nc.
        sweep = open_jobs([j for j, _ in ok], [lab for _, lab in ok])
        sweep.attrs.update(attrs)
        write_netcdf(sweep, path)
        sweep.close()
    log.info("wrote %s (%d scenarios, %d failed)", path, len(ok), len(failed))
    return path


def _current_jobs(sweep_dir: Path) -> list[Path]:
    """The job folders of the latest sweep into ``sweep_dir``: those whose
    ``.hydra/overrides.yaml`` is not older than ``multirun.yaml`` (Hydra writes both at launch)."""
    jobs = job_dirs(sweep_dir)
    started = sweep_dir / "multirun.yaml"
    if not started.is_file():
        return jobs
    t0 = started.stat().st_mtime_ns
    return [
        j
        for j in jobs
        if (j / ".hydra" / "overrides.yaml").is_file()
        and (j / ".hydra" / "overrides.yaml").stat().st_mtime_ns >= t0
    ]
