"""``sim.draws=auto``: draw blocks of draws until the asked comparison is sure.

A run starts with ``sim.block_draws`` draws; while the Monte Carlo standard error (MCSE,
:mod:`simengine.mcse`) of the statistic it is asked for is above ``sim.precision``, it draws further
draws, up to ``sim.max_draws``.  Every random stream is keyed by absolute draw
(:func:`simengine.pipeline.simulate_block`), so a block of draws ``n .. m - 1`` is bitwise draws
``n .. m - 1`` of a run of ``m`` draws: the first ``n`` draws of an auto run are those of a
fixed-``n`` run, scenarios of a sweep stay paired draw by draw, and the outputs of an auto run that
stopped at ``m`` draws are those of ``sim.draws=m`` (the per-account forecast too: its sums are
folded in draw order and its quantiles kept exactly or binned as a fixed run keeps them).

**What is asked** (the statistic whose MCSE must reach the precision):

- *A staffing-mix sweep* (``staffing.budget`` x ``staffing.ae_per_se``, two ratios or more): the
  frontier's ``p_best`` of every mix at its budget, on the default objective (the forecast's last
  year of revenue: ``compare.objective=revenue_p50``).  A budget's mixes draw together, so
  ``p_best`` is computed on draws every mix has; a budget is settled when the largest MCSE of its
  mixes' ``p_best`` is at most the precision.
- *Any other sweep*: every scenario against the first (``compare``'s default baseline) on the last
  forecast year's revenue: ``p_better`` with MCSE at most the precision **and** ``diff_p50`` with
  MCSE at most the precision times the baseline's P50 (the difference known to within
  ``precision`` of the baseline's level).  The baseline draws as far as the furthest scenario.
- *A single run* (no comparison): the last forecast year's revenue P50, with MCSE at most the
  precision times the P50 itself.

How many draws next: the MCSE falls as ``1 / sqrt(n)``, so ``n (mcse / precision)**2`` is the
estimate of what is needed; a step takes at least one block and at most four times the draws so
far (a first block's estimate is rough), rounded up to whole blocks, and never passes
``sim.max_draws``.  A statistic that is exactly 0.5 on a tie in every draw is exact (MCSE 0), so
identical scenarios stop at once; a close call (``p_better`` near 0.5) needs about
``0.25 / precision**2`` draws (625 at 0.02) and stops at ``sim.max_draws`` if that is fewer.

**How a sweep does it** (``simengine run -m ... sim.draws=auto``): Hydra runs every job as usual
with its first block, and each job writes all its outputs plus, in ``.auto/`` in its folder, its
per-account accumulator.  When the jobs are done, the sweep's callback
(:class:`simengine.sweep.SweepCallback`) settles them in the main process before it stacks
``sweep.nc`` (:func:`settle_sweep`): it reads every job's per-draw metric from its ``forecast.nc``,
computes the MCSEs, and for the undecided jobs simulates only the next draws and rewrites that
job's outputs with all its draws (``forecast.nc``, ``summary.csv``, the charts and per-account
files: each job folder always holds a complete run); then again until every comparison is settled
or at ``sim.max_draws``.  It writes ``auto_draws.csv`` in the sweep folder (per scenario: draws,
statistic, its value and MCSE, why it stopped) and prints it.  Each job's ``forecast.nc`` says its
rule in attr ``draws_rule``; its draws are its ``draw`` dim.  A job is continued with the config
its ``forecast.nc`` records (:func:`config_from_yaml`).  The accumulators are deleted at the end; a
job without one (a resumed sweep) that must draw more is simulated again from draw 0 (the same
numbers, more time).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simengine.mcse import better_scores, quantile_mcse, share_mcse

log = logging.getLogger("simengine")

__all__ = [
    "AUTO",
    "STATE_DIR",
    "append_draws",
    "config_from_yaml",
    "first_block",
    "is_auto",
    "next_draws",
    "plan_sweep",
    "settle_sweep",
    "simulate_auto",
]

#: The value of ``sim.draws`` that asks for blocks until the comparison is sure.
AUTO = "auto"
#: A sweep job's folder for what the settling needs: its config and per-account accumulator.
STATE_DIR = ".auto"
_ACCOUNTS = "accounts.npz"


def is_auto(cfg) -> bool:
    """True when ``cfg`` asks for ``sim.draws=auto``."""
    return cfg.sim.draws == AUTO


def _with_draws(cfg, draws: int):
    """``cfg`` with a fixed ``sim.draws`` (the run of that many draws)."""
    return dataclasses.replace(cfg, sim=dataclasses.replace(cfg.sim, draws=int(draws)))


def _rule_text(cfg, asked: str) -> str:
    s = cfg.sim
    return (
        f"auto: blocks of {s.block_draws} draws until the MCSE of {asked} is <= {s.precision:g} "
        f"(at most {s.max_draws} draws)"
    )


def next_draws(n: int, mcse: float, precision: float, block: int, max_draws: int) -> int:
    """Draws to have after the next step (``n`` when settled: MCSE <= precision, or at the max).

    The MCSE falls as ``1 / sqrt(n)``: ``n (mcse / precision)**2`` draws are expected to reach
    the precision.  At least one block more, at most ``4 n``, whole blocks, at most ``max_draws``.
    A NaN MCSE (no finite draw to judge by) takes one block more.
    """
    if n >= max_draws or mcse <= precision:
        return n
    need = n * (mcse / precision) ** 2 if np.isfinite(mcse) else n + block
    target = min(max(need, n + block), 4 * n)
    return int(min(math.ceil(target / block) * block, max_draws))


# ----------------------------------------------------------------------------------------------
# Blocks of one run


def append_draws(ds: xr.Dataset, block: xr.Dataset) -> xr.Dataset:
    """``ds`` (draws ``0 .. n - 1``) followed by ``block`` (draws ``n ..``): one run's dataset.

    Variables over ``draw`` are concatenated; the others (the per-account forecast over every
    draw so far, the observed history) and the attrs are the block's, with ``account_months``
    summed.  Variable order, dtypes and attrs are the block's, so the result is the dataset a
    run of all the draws builds.
    """
    n = ds.sizes["draw"]
    first = int(block["draw"].values[0]) if block.sizes["draw"] else n
    if first != n:
        raise ValueError(f"the block starts at draw {first}; the run has {n} draws")
    data = {}
    for name, var in block.data_vars.items():
        if "draw" in var.dims:
            old = ds[name].transpose(*var.dims).values
            values = np.concatenate([old.astype(var.dtype, copy=False), var.values],
                                    axis=var.dims.index("draw"))  # fmt: skip
            data[name] = xr.Variable(var.dims, values, attrs=var.attrs)
        else:
            data[name] = var.variable
    coords = {k: v.variable for k, v in block.coords.items() if k != "draw"}
    draw = block["draw"]
    coords["draw"] = xr.Variable(
        ("draw",), np.concatenate([ds["draw"].values.astype(draw.dtype), draw.values]), draw.attrs
    )
    out = xr.Dataset(data, coords=coords, attrs=dict(block.attrs))
    out = out[list(block.data_vars)]  # the block's variable order
    out.attrs["account_months"] = int(ds.attrs.get("account_months", 0)) + int(
        block.attrs.get("account_months", 0)
    )
    return out


def _revenue_last_year(ds: xr.Dataset) -> np.ndarray:
    """Per-draw revenue of the last forecast year, as ``simengine compare`` computes it."""
    from simengine.compare import metric_draws

    values, _ = metric_draws(ds[["revenue", "arr", "nrr_total", "grr_total"]])
    keys = [k for k in values if k[0] == "revenue" and k[1] is not None]
    return values[max(keys, key=lambda k: k[1])]


def _relative_p50_mcse(values: np.ndarray) -> float:
    """MCSE of the P50 of ``values`` over the P50's size (a single run's rule)."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return float("nan")
    p50 = abs(float(np.median(finite)))
    return quantile_mcse(finite) / p50 if p50 > 0 else float("inf")


def simulate_auto(cfg, book=None, scenario=None, kernel=None, resolved=None) -> xr.Dataset:
    """A single run of ``sim.draws=auto``: blocks until the MCSE of the last forecast year's
    revenue P50 is at most ``sim.precision`` times that P50 (module doc), in one process.

    The dataset is bitwise the one ``sim.draws=<its draws>`` gives, but for its attrs: ``config``
    keeps ``sim.draws: auto`` (the run's identity) and ``draws_rule`` / ``draws_mcse`` say when it
    stopped.
    """
    from simengine.config import config_yaml
    from simengine.data import book_from_config
    from simengine.pipeline import simulate_block

    s = cfg.sim
    resolved = config_yaml(cfg) if resolved is None else resolved
    if book is None:
        book = book_from_config(cfg.data, need_usage=True)
    n = min(s.block_draws, s.max_draws)
    ds, acc = simulate_block(_with_draws(cfg, n), book, scenario, kernel, resolved)
    while True:
        mcse = _relative_p50_mcse(_revenue_last_year(ds))
        target = next_draws(n, mcse, s.precision, s.block_draws, s.max_draws)
        if target == n:
            break
        log.info("sim.draws=auto: MCSE of the revenue P50 %.4g of it; %d -> %d draws", mcse, n,
                 target)  # fmt: skip
        block, acc = simulate_block(_with_draws(cfg, target), book, scenario, kernel, resolved,
                                    draws_from=n, accumulator=acc)  # fmt: skip
        ds = append_draws(ds, block)
        n = target
    ds.attrs["draws_rule"] = _rule_text(cfg, "the last forecast year's revenue P50 (relative)")
    ds.attrs["draws_mcse"] = float(mcse)
    ds.attrs["draws_stopped"] = "precision" if mcse <= s.precision else "max_draws"
    return ds


# ----------------------------------------------------------------------------------------------
# A sweep: first blocks in the jobs, then settled in the main process


def first_block(cfg, out_dir: str | Path, resolved: str | None = None) -> xr.Dataset:
    """A sweep job's first ``sim.block_draws`` draws; keeps what :func:`settle_sweep` needs to
    continue it in ``out_dir/.auto/`` (its per-account accumulator)."""
    from simengine.config import config_yaml
    from simengine.pipeline import simulate_block

    resolved = config_yaml(cfg) if resolved is None else resolved
    n = min(cfg.sim.block_draws, cfg.sim.max_draws)
    ds, acc = simulate_block(_with_draws(cfg, n), resolved=resolved)
    ds.attrs["draws_rule"] = _rule_text(cfg, "the sweep's comparison (auto_draws.csv)")
    _save_state(Path(out_dir), acc)
    return ds


def _save_state(job: Path, acc) -> None:
    from simengine.atomic import atomic_path

    folder = job / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / _ACCOUNTS) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **acc.state())


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


def _load_accumulator(job: Path, draws: int):
    from simengine.accounts_forecast import AccountAccumulator

    path = job / STATE_DIR / _ACCOUNTS
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return AccountAccumulator.from_state({k: saved[k] for k in saved.files}, draws)


def _extend_job(job: Path, cfg, target: int, books: dict) -> None:
    """Simulate job ``job``'s draws up to ``target`` and rewrite its outputs with all of them."""
    import h5py

    from simengine.api import write_run_outputs
    from simengine.data import book_from_config
    from simengine.pipeline import simulate_block
    from simengine.sweep import _attr

    key = repr(dataclasses.asdict(cfg.data))
    if key not in books:
        books[key] = book_from_config(cfg.data, need_usage=True)
    book = books[key]
    path = job / "forecast.nc"
    with h5py.File(path, "r") as f:
        n = int(f["draw"].shape[0])
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    acc = _load_accumulator(job, n)
    if acc is None or acc.seen != n:  # no accumulator (a resumed sweep): all draws again
        ds, acc = simulate_block(_with_draws(cfg, target), book, resolved=attrs["config"])
    else:
        block, acc = simulate_block(_with_draws(cfg, target), book, resolved=attrs["config"],
                                    draws_from=n, accumulator=acc)  # fmt: skip
        old = _stored_draws(path, block)
        if old is None:  # stored otherwise than plainly: xarray decodes it
            with xr.open_dataset(path, engine="h5netcdf") as opened:
                old = opened.load()
        ds = append_draws(old, block)
    ds.attrs["draws_rule"] = attrs.get("draws_rule", "")
    write_run_outputs(ds, job, cfg.signals.top)
    _save_state(job, acc)


def _stored_draws(path: Path, block: xr.Dataset) -> xr.Dataset | None:
    """The variables over ``draw`` of a job's ``forecast.nc``, read with h5py (xarray's open
    spends ~0.9 s a file in h5netcdf's dimension bookkeeping), as the dims and dtypes of
    ``block``'s; with the file's attrs.  None when a variable is stored otherwise than as its
    values (scaled, or an integer with a fill value): xarray must decode it."""
    import h5py

    from simengine.sweep import _attr

    data = {}
    with h5py.File(path, "r") as f:
        for name, var in block.data_vars.items():
            if "draw" not in var.dims:
                continue
            src = f.get(name)
            plain = (
                src is not None
                and src.dtype == var.dtype
                and src.ndim == var.ndim
                and not any(k in src.attrs for k in ("scale_factor", "add_offset"))
                and (var.dtype.kind == "f" or "_FillValue" not in src.attrs)
            )
            if not plain:
                return None
            data[name] = (var.dims, src[...])
        draw = f["draw"][...]
        attrs = {k: _attr(v) for k, v in f.attrs.items()}
    return xr.Dataset(data, coords={"draw": draw}, attrs=attrs)


def _last_year_values(job: Path) -> np.ndarray:
    with xr.open_dataset(job / "forecast.nc", engine="h5netcdf") as ds:
        return _revenue_last_year(ds)


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
    """Draw further blocks for a ``sim.draws=auto`` sweep's undecided jobs (module doc).

    ``jobs``: the sweep's job folders (default: every one under ``sweep_dir``).  Jobs that failed
    are left out; jobs without ``sim.draws=auto`` stay as they are.  Writes ``auto_draws.csv``
    into ``sweep_dir`` and returns it; None when no job is an auto one.
    """
    from simengine.config import config_section
    from simengine.results import write_atomic_text
    from simengine.sweep import _labels, job_dirs, job_ok

    sweep_dir = Path(sweep_dir)
    jobs = [j for j in (job_dirs(sweep_dir) if jobs is None else jobs) if job_ok(j)]
    texts = {j: _job_config(j) for j in jobs}
    auto = [j for j in jobs if str(config_section(texts[j], "sim").get("draws")) == AUTO]
    if not auto:
        return None
    labels = dict(zip(auto, _labels(auto), strict=True))
    configs = {labels[j]: config_from_yaml(texts[j]) for j in auto}
    folder = {labels[j]: j for j in auto}
    sim = configs[labels[auto[0]]].sim
    groups = _groups(list(labels.values()), configs)
    values = {label: _last_year_values(job) for label, job in folder.items()}
    books: dict = {}
    step = 0
    while True:
        targets, table = plan_sweep(values, groups, sim.precision, sim.block_draws, sim.max_draws)
        grow = {label: t for label, t in targets.items() if t > len(values[label])}
        if not grow:
            break
        step += 1
        print(
            f"sim.draws=auto, step {step}: {len(grow)} of {len(values)} scenarios draw on "
            f"(to {min(grow.values())}-{max(grow.values())} draws)",
            flush=True,
        )
        for label, target in grow.items():
            _extend_job(folder[label], configs[label], target, books)
            values[label] = _last_year_values(folder[label])
    table.insert(1, "job", [folder[label].name for label in table["scenario"]])
    write_atomic_text(table.to_csv(index=False, float_format="%.6g"), sweep_dir / "auto_draws.csv")
    for job in auto:  # the accumulators are large (draws x accounts)
        shutil.rmtree(job / STATE_DIR, ignore_errors=True)
    _print_settled(table, sim)
    return table


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


def draws_taken(ds: xr.Dataset) -> dict[str, int]:
    """Draws each scenario of a stacked sweep holds (a shorter one is padded with NaN)."""
    revenue = ds["revenue"].sum(("month", "segment"), skipna=False)
    counts = revenue.notnull().sum("draw").values
    return {
        str(s): int(c) for s, c in zip(ds["scenario"].values, np.atleast_1d(counts), strict=True)
    }
