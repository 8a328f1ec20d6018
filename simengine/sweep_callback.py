"""The Hydra callback of a ``-m`` sweep: failed jobs isolated, ``sim.draws=auto`` jobs settled
(:mod:`simengine.auto_sweep`), then the jobs stacked into ``sweep.nc`` (:mod:`simengine.sweep`).

It sits above both modules, so the sweep's stacking does not reach up into the draw-on step that
uses it."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import xarray as xr
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from simengine.auto_sweep import settle_sweep
from simengine.results import write_atomic_text
from simengine.sweep import ERROR_FILE, _current_jobs, gather_sweep

__all__ = ["SweepCallback"]

log = logging.getLogger("simengine")


class SweepCallback(Callback):
    """Isolates failed jobs and writes ``sweep.nc`` into the sweep folder when a multirun ends."""

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        # A rerun starts clean: error.txt in a job folder always describes its latest attempt.
        (Path(config.hydra.runtime.output_dir) / ERROR_FILE).unlink(missing_ok=True)

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        from hydra.core.utils import JobStatus

        if job_return.status != JobStatus.FAILED or not config.hydra.mode.name == "MULTIRUN":
            return
        exc = job_return._return_value
        out = Path(config.hydra.runtime.output_dir)
        log.error("job %s failed", out.name, exc_info=exc)
        write_atomic_text(f"{type(exc).__name__}: {exc}\n", out / ERROR_FILE)
        # Hydra's sweeper re-raises a failed job's exception before on_multirun_end, which would
        # lose every other job's merge; the failure is recorded above and reported at the end.
        job_return.status = JobStatus.COMPLETED

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        # sim.draws=auto: the undecided jobs draw on before the jobs are stacked.
        settle_sweep(config.hydra.sweep.dir, _current_jobs(Path(config.hydra.sweep.dir)))
        path = gather_sweep(config.hydra.sweep.dir, current=True)
        if path is None:
            print("simengine: error: no job of the sweep finished", file=sys.stderr)
            sys.exit(1)
        print(f"wrote {path}\ncompare the scenarios: simengine compare {config.hydra.sweep.dir}")
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            n_failed, failed = int(ds.attrs.get("n_failed", 0)), ds.attrs.get("failed_jobs", "")
        if n_failed:
            print(f"simengine: error: {n_failed} job(s) failed: {failed}", file=sys.stderr)
            sys.exit(1)
