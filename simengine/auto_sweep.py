"""``sim.draws=auto`` in a sweep: the jobs' first blocks, then more draws where undecided.

**What is asked** (the statistic whose MCSE, :mod:`simengine.mcse`, must reach ``sim.precision``):

- *A staffing-mix sweep* (``staffing.budget`` x ``staffing.ae_per_se``, two ratios or more): the
  frontier's ``p_best`` of every mix at its budget, on the default objective (the forecast's last
  year of revenue: ``compare.objective=revenue_p50``).  A budget's mixes draw together, so
  ``p_best`` is computed on draws every mix has; a budget is settled when the largest MCSE of its
  mixes' ``p_best`` is at most the precision.
- *Any other sweep*: every scenario against the first (``compare``'s default baseline) on the last
  forecast year's revenue: ``p_better`` with MCSE at most the precision **and** ``diff_p50`` with
  MCSE at most the precision times the baseline's P50 (the difference known to within
  ``precision`` of the baseline's level).  The baseline draws as far as the furthest scenario.
- *A sweep of one job*: the single run's rule (:mod:`simengine.auto_draws`).

A statistic that is exactly 0.5 on a tie in every draw is exact (MCSE 0), so identical scenarios
stop at once; a close call (``p_better`` near 0.5) needs about ``0.25 / precision**2`` draws (625
at 0.02) and stops at ``sim.max_draws`` if that is fewer.

**How** (``simengine run -m ... sim.draws=auto``): Hydra runs every job with its first block
(:func:`simengine.auto_draws.first_block`), which keeps its draws in ``.auto/`` in its folder (the
dataset as plain arrays and JSON, and its per-account accumulator) and writes no outputs yet.  When
the jobs are done, the sweep's callback (:class:`simengine.sweep_callback.SweepCallback`) settles
them in the main process before it stacks ``sweep.nc`` (:func:`settle_sweep`): from every job's
per-draw metric (the last forecast year's revenue, read from the kept dataset) it computes the
MCSEs; the undecided jobs simulate only their next draws (the book loaded once for all of them),
appended to the kept ones; then again until every comparison is settled or at ``sim.max_draws``.
Each job's outputs (``forecast.nc``, ``summary.csv``, ``summary.xlsx``, the per-account files: each
job folder holds a complete run) are written **once**, as soon as its draws are final -- by two
worker processes when there are several (the outputs are single-threaded Python, ~1 CPU-s a job, so
they run beside the kernel of the jobs still drawing): a job settled at its first block writes
bytewise a fixed run's outputs of that many draws (an extended one differs only where quotas
calibrated on a run's draws enter: :data:`simengine.gtm.comp.QUOTA_DEPENDENT`).  It writes
``auto_draws.csv`` in the sweep folder (per scenario: draws, statistic, its value and MCSE, why it
stopped) and prints it.  Each job's ``forecast.nc`` says its rule in attr ``draws_rule``; its draws
are its ``draw`` dim.  A job is continued with the config its dataset records
(:func:`config_from_yaml`).  ``.auto/`` is deleted at the end; a job of an earlier run of the sweep
(outputs written, nothing kept) that must draw more is simulated again from draw 0 (the same
numbers, more time).  ``sweep.nc`` stacks jobs of different draw counts (a shorter one's missing
draws read as NaN) and ``simengine compare`` pairs them on the draws they share.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simengine.auto_draws import (
    AUTO,
    STATE_DIR,
    _relative_p50_mcse,
    _with_draws,
    append_draws,
    has_run,
    last_year_revenue,
    load_run,
    next_draws,
    save_run,
)
from simengine.mcse import better_scores, quantile_mcse, share_mcse

__all__ = ["config_from_yaml", "plan_sweep", "settle_sweep"]


def _job_config(job: Path) -> str:
    """The resolved config YAML a job's ``forecast.nc`` records (attr ``config``)."""
    import h5py

    from simengine.sweep import _attr

    with h5py.File(job / "forecast.nc", "r") as f:
        return str(_attr(f.attrs.get("config", "")))


def config_from_yaml(text: str):
    """The :class:`~simengine.config.Config` whose resolved YAML (``config_yaml``) is ``text``:
    how :func:`settle_sweep` continues a job with the config it ran (the YAML holds every key;
    ``market.new_logos`` picks the market's schema)."""
    import yaml
    from omegaconf import OmegaConf

    from simengine.config import to_config
    from simengine.config.schema import CapacityMarket, Config, RateMarket

    raw = yaml.safe_load(text) or {}
    market = RateMarket() if (raw.get("market") or {}).get("new_logos") == "rate" else None
    base = OmegaConf.structured(Config(market=market or CapacityMarket()))
    return to_config(OmegaConf.merge(base, OmegaConf.create(raw)))


def _extend_job(job: Path, cfg, text: str, attrs: dict, target: int, books: dict) -> np.ndarray:
    """Simulate job ``job``'s draws up to ``target`` and keep them all in ``job/.auto/``
    (:func:`simengine.auto_draws.save_run`); its per-draw decision metric.  ``text`` is the
    job's resolved config, ``attrs`` the attrs it adds to the run's (its rule, the scenario's
    name and config groups, which Hydra composed)."""
    from simengine.data import book_from_config
    from simengine.pipeline import simulate_block

    key = repr(dataclasses.asdict(cfg.data))
    if key not in books:
        books[key] = book_from_config(cfg.data, need_usage=True)
    book = books[key]
    kept = load_run(job)
    if kept is None or kept[1] is None or kept[1].seen != kept[0].sizes["draw"]:
        # no draws kept (a job finished by an earlier sweep): all draws again
        ds, acc = simulate_block(_with_draws(cfg, target), book, resolved=text, cohort_cells=False)
    else:
        old, acc = kept
        block, acc = simulate_block(_with_draws(cfg, target), book, resolved=text,
                                    draws_from=old.sizes["draw"], accumulator=acc,
                                    cohort_cells=False)  # fmt: skip
        ds = append_draws(old, block)  # drawn without cohort cells, as the kept draws
    ds.attrs.update(attrs)
    save_run(job, ds, acc)
    return _metric(ds)


def _metric(ds: xr.Dataset) -> np.ndarray:
    """A run's per-draw decision metric: the last forecast year's revenue."""
    return last_year_revenue(ds["revenue"].transpose("draw", "month", "segment").values)


#: The attrs a sweep job's dataset carries beside the run's own (kept across its extensions).
_JOB_ATTRS = ("draws_rule", "scenario", "config_groups")


def _write_job(job: str, top: int) -> str:
    """Write the outputs of a settled job from the draws kept in it (in a worker process too)."""
    from simengine.api import write_run_outputs

    ds, _ = load_run(Path(job), accumulator=False)
    write_run_outputs(ds, job, top, sweep_job=True)
    return job


def _import_writer() -> None:
    """A worker's imports for :func:`_write_job`, ahead of its first job."""
    import simengine.api
    import simengine.workbook  # noqa: F401


class _Writer:
    """Writes settled jobs' outputs: in two worker processes when the sweep has four jobs or
    more to write (a job's outputs are ~1 CPU-s of single-threaded Python, three quarters of
    it the workbook, so they run beside the settling's Python and the kernel of the jobs still
    undecided), else in this process (a worker's start costs ~2 CPU-s).  The bytes are the same
    either way."""

    def __init__(self, n_jobs: int) -> None:
        import os

        self.workers = min(2, os.cpu_count() or 1) if n_jobs >= 4 else 0
        self.pool = None
        self.pending = []
        if self.workers:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: the parent holds numba's thread pools, which a fork does not carry safely.
            # The workers start now: their imports (~2 CPU-s) overlap the first extensions.
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            self.pending = [self.pool.submit(_import_writer) for _ in range(self.workers)]

    def submit(self, job: Path, top: int) -> None:
        if self.pool is None:
            _write_job(str(job), top)
            return
        self.pending.append(self.pool.submit(_write_job, str(job), top))

    def wait(self) -> None:
        if self.pool is None:
            return
        try:
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def _last_year_values(job: Path) -> np.ndarray:
    """A job's per-draw revenue of the last forecast year, read with h5py (xarray's open costs
    ~0.9 s a file), through xarray when ``revenue`` is not stored as (draw, month, segment)."""
    import h5py

    with h5py.File(job / "forecast.nc", "r") as f:
        revenue = f["revenue"]
        names = [revenue.dims[i][0].name.lstrip("/") for i in range(revenue.ndim)]
        if names == ["draw", "month", "segment"] and revenue.dtype.kind == "f":
            return last_year_revenue(revenue[...])
    with xr.open_dataset(job / "forecast.nc", engine="h5netcdf") as ds:
        return last_year_revenue(ds["revenue"].transpose("draw", "month", "segment").values)


def plan_sweep(
    values: dict[str, np.ndarray],
    groups: list[list[str]] | None,
    precision: float,
    block: int,
    max_draws: int,
) -> tuple[dict[str, int], pd.DataFrame]:
    """The draws each scenario should have next, and where each comparison stands.

    Parameters
    ----------
    values : dict of str to ndarray
        Per scenario (in sweep order; the first is the baseline) its per-draw decision metric,
        one value per draw it has (non-finite values are left out of the statistics).
    groups : list of list of str, optional
        The budgets of a staffing-mix sweep (each its mixes): decide on ``p_best``; None: on
        ``p_better`` and ``diff_p50`` against the first scenario (module doc).
    precision, block, max_draws
        ``sim.precision``, ``sim.block_draws``, ``sim.max_draws``.

    Returns
    -------
    targets : dict of str to int
        Draws each scenario should have; equal to its draws when it is settled.
    table : pandas.DataFrame
        Per scenario: ``draws``, ``statistic``, ``value``, ``mcse`` (and ``mcse_diff_p50_rel``
        against a baseline), ``stopped`` (``precision``, ``max_draws`` or ``""`` while drawing).
    """
    n = {label: len(v) for label, v in values.items()}
    targets = dict(n)
    rows = {}

    def settle(label, statistic, value, mcse, worst, rel=float("nan")):
        target = next_draws(n[label], worst, precision, block, max_draws)
        stopped = "" if target > n[label] else ("precision" if worst <= precision else "max_draws")
        rows[label] = (n[label], statistic, value, mcse, rel, stopped)
        return target

    labels = list(values)
    if len(labels) == 1:
        only = labels[0]
        rel = _relative_p50_mcse(values[only])
        targets[only] = settle(only, "revenue_p50", float(np.nanmedian(values[only])), rel, rel)
    elif groups is not None:
        for group in groups:
            m = min(n[label] for label in group)
            stack = np.vstack([values[label][:m] for label in group])
            filled = np.where(np.isfinite(stack), stack, -np.inf)
            top = filled.max(axis=0)
            winners = (filled == top) & np.isfinite(top)
            counted = winners.any(axis=0)
            shares = winners[:, counted] / winners[:, counted].sum(axis=0)
            mcse = [share_mcse(s) if len(group) > 1 else 0.0 for s in shares]
            worst = max(mcse)
            for label, share, e in zip(group, shares, mcse, strict=True):
                p_best = float(share.mean()) if share.size else float("nan")
                targets[label] = settle(label, "p_best", p_best, e, worst)
    else:
        base = labels[0]
        b = values[base]
        finite_b = b[np.isfinite(b)]
        level = abs(float(np.median(finite_b))) if finite_b.size else float("nan")
        for label in labels[1:]:
            m = min(n[label], n[base])
            v = values[label][:m]
            scores = better_scores(v, b[:m])
            e = share_mcse(scores)
            ok = np.isfinite(v) & np.isfinite(b[:m])
            rel = quantile_mcse(v[ok] - b[:m][ok]) / level if level > 0 else float("inf")
            worst = max(e, rel) if np.isfinite(rel) else e
            value = float(scores.mean()) if scores.size else float("nan")
            targets[label] = settle(label, "p_better", value, e, worst, rel)
        furthest = max(targets[label] for label in labels)
        targets[base] = max(n[base], furthest)
        stopped = "" if targets[base] > n[base] else "baseline"
        rows[base] = (n[base], "p_better", 0.5, 0.0, 0.0, stopped)
    table = pd.DataFrame.from_dict(
        rows, orient="index",
        columns=["draws", "statistic", "value", "mcse", "mcse_diff_p50_rel", "stopped"],
    )  # fmt: skip
    return targets, table.loc[labels].rename_axis("scenario").reset_index()


def _groups(labels: list[str], configs: dict) -> list[list[str]] | None:
    """The budgets of a staffing-mix sweep (labels grouped by ``staffing.budget``), or None."""
    mix = {label: (configs[label].staffing.budget, configs[label].staffing.ae_per_se)
           for label in labels}  # fmt: skip
    if any(b is None or r is None for b, r in mix.values()):
        return None
    if len({r for _, r in mix.values()}) < 2:
        return None
    budgets = sorted({b for b, _ in mix.values()})
    return [[label for label in labels if mix[label][0] == budget] for budget in budgets]


def settle_sweep(sweep_dir: str | Path, jobs: list[Path] | None = None) -> pd.DataFrame | None:
    """Draw further blocks for a ``sim.draws=auto`` sweep's undecided jobs, then write each job's
    outputs once (module doc).

    ``jobs``: the sweep's job folders (default: every one under ``sweep_dir``).  Jobs that failed
    are left out; jobs without ``sim.draws=auto`` stay as they are.  Writes ``auto_draws.csv``
    into ``sweep_dir`` and returns it; None when no job is an auto one.
    """
    from simengine.config import config_section
    from simengine.results import write_atomic_text
    from simengine.sweep import ERROR_FILE, _labels, job_dirs, job_ok

    sweep_dir = Path(sweep_dir)
    jobs = job_dirs(sweep_dir) if jobs is None else list(jobs)
    labels = dict(zip(jobs, _labels(jobs), strict=True)) if jobs else {}  # as sweep.nc's
    kept = {j for j in jobs if has_run(j) and not (j / ERROR_FILE).is_file()}
    jobs = [j for j in jobs if j in kept or job_ok(j)]
    texts, attrs, values = {}, {}, {}
    for j in jobs:
        if j in kept:
            ds, _ = load_run(j, accumulator=False)
            texts[j], attrs[j], values[j] = str(ds.attrs.get("config", "")), ds.attrs, _metric(ds)
        else:
            texts[j] = _job_config(j)
    auto = [j for j in jobs if str(config_section(texts[j], "sim").get("draws")) == AUTO]
    if not auto:
        return None
    for j in auto:
        if j not in kept:  # finished by an earlier run of the sweep: its forecast.nc
            values[j] = _last_year_values(j)
            attrs[j] = _forecast_attrs(j)
    configs = {labels[j]: config_from_yaml(texts[j]) for j in auto}
    folder = {labels[j]: j for j in auto}
    job_attrs = {labels[j]: {k: attrs[j][k] for k in _JOB_ATTRS if k in attrs[j]} for j in auto}
    values = {labels[j]: values[j] for j in auto}
    sim = configs[labels[auto[0]]].sim
    groups = _groups(list(labels.values()), configs)
    books: dict = {}
    to_write = {labels[j] for j in kept if j in auto}
    writer = _Writer(len(to_write))
    step = 0
    try:
        while True:
            targets, table = plan_sweep(
                values, groups, sim.precision, sim.block_draws, sim.max_draws
            )
            grow = {label: t for label, t in targets.items() if t > len(values[label])}
            # A settled scenario's draws are final (its statistic reads draws it has; a budget's
            # mixes settle together), but the baseline's: it draws as far as the furthest.
            final = set(table.loc[table["stopped"] != "", "scenario"])
            if grow and groups is None and len(values) > 1:
                final.discard(next(iter(values)))
            for label in sorted(to_write & final, key=list(folder).index):
                writer.submit(folder[label], configs[label].signals.top)  # written once
                to_write.discard(label)
            if not grow:
                break
            step += 1
            print(
                f"sim.draws=auto, step {step}: {len(grow)} of {len(values)} scenarios draw on "
                f"(to {min(grow.values())}-{max(grow.values())} draws)",
                flush=True,
            )
            for label, target in grow.items():
                values[label] = _extend_job(folder[label], configs[label], texts[folder[label]],
                                            job_attrs[label], target, books)  # fmt: skip
                to_write.add(label)
    finally:
        writer.wait()
    table.insert(1, "job", [folder[label].name for label in table["scenario"]])
    write_atomic_text(table.to_csv(index=False, float_format="%.6g"), sweep_dir / "auto_draws.csv")
    for job in auto:  # the kept draws and accumulators are large (draws x accounts)
        shutil.rmtree(job / STATE_DIR, ignore_errors=True)
    _print_settled(table, sim)
    return table


def _forecast_attrs(job: Path) -> dict:
    """The attrs of a job's ``forecast.nc`` (read with h5py)."""
    import h5py

    from simengine.sweep import _attr

    with h5py.File(job / "forecast.nc", "r") as f:
        return {k: _attr(v) for k, v in f.attrs.items()}


def _print_settled(table: pd.DataFrame, sim) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Table(
        title=f"sim.draws=auto: draws per scenario (MCSE <= {sim.precision:g}, at most "
        f"{sim.max_draws}; auto_draws.csv)",
        title_justify="left",
    )
    for column in ("scenario", "draws", "statistic", "value", "MCSE", "stopped"):
        out.add_column(column, justify="left" if column in ("scenario", "statistic") else "right")
    for row in table.itertuples(index=False):
        out.add_row(str(row.scenario), f"{row.draws:,}", row.statistic, f"{row.value:.3f}",
                    f"{row.mcse:.4f}", row.stopped)  # fmt: skip
    Console().print(out)
