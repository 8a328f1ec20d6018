"""``sim.draws=auto``: a run that draws blocks of draws until its answer is sure enough.

A run starts with ``sim.block_draws`` draws; while the Monte Carlo standard error (MCSE,
:mod:`simengine.mcse`) of the statistic it is asked for is above ``sim.precision``, it draws further
draws, up to ``sim.max_draws``.  Every random stream is keyed by absolute draw
(:func:`simengine.pipeline.simulate_block`), so a block of draws ``n .. m - 1`` is bitwise draws
``n .. m - 1`` of a run of ``m`` draws: the first ``n`` draws of an auto run are those of a
fixed-``n`` run, scenarios of a sweep stay paired draw by draw, and the outputs of an auto run that
stopped at ``m`` draws are those of ``sim.draws=m`` (the per-account forecast too: its sums are
folded in draw order and its quantiles kept exactly or binned as a fixed run keeps them).

**A single run** (no comparison asked) decides on the last forecast year's revenue P50: it stops
when the P50's MCSE is at most ``sim.precision`` times the P50 itself (:func:`simulate_auto`).
**A sweep** decides on the comparison it is run for (``p_best`` of a staffing-mix sweep,
``p_better`` and ``diff_p50`` against the first scenario otherwise): its jobs run their first
block (:func:`first_block`) and the sweep settles them when they are done
(:mod:`simengine.auto_sweep`).

How many draws next (:func:`next_draws`): the MCSE falls as ``1 / sqrt(n)``, so ``n (mcse /
precision)**2`` is the estimate of what is needed; a step takes at least one block and at most four
times the draws so far (a first block's estimate is rough), rounded up to whole blocks, and never
passes ``sim.max_draws``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import numpy as np
import xarray as xr

from simengine.mcse import quantile_mcse

log = logging.getLogger("simengine")

__all__ = [
    "AUTO",
    "STATE_DIR",
    "append_draws",
    "draws_taken",
    "first_block",
    "has_run",
    "is_auto",
    "last_year_revenue",
    "simulate_run",
    "load_accumulator",
    "load_run",
    "next_draws",
    "save_run",
    "simulate_auto",
]

#: The value of ``sim.draws`` that asks for blocks until the comparison is sure.
AUTO = "auto"
#: A sweep job's folder for what the settling needs: its per-account accumulator.
STATE_DIR = ".auto"
_ACCOUNTS = "accounts.npz"
_RUN = "run.npz"
_RUN_HEADER = "run.json"


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


def last_year_revenue(revenue: np.ndarray) -> np.ndarray:
    """Per-draw revenue of the last forecast year from ``revenue`` (draw, month, segment): months
    ``12 (years - 1) ..``, the year ``simengine compare`` reports last."""
    months = revenue.shape[1]
    return revenue[:, 12 * ((months - 1) // 12) :].sum(axis=(1, 2)).astype(float)


def _relative_p50_mcse(values: np.ndarray) -> float:
    """MCSE of the P50 of ``values`` over the P50's size (a single run's rule)."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return float("nan")
    p50 = abs(float(np.median(finite)))
    return quantile_mcse(finite) / p50 if p50 > 0 else float("inf")


def simulate_run(
    cfg, book=None, scenario=None, kernel=None, resolved=None, choices=None, *, cohort_cells=True
) -> xr.Dataset:
    """Run ``cfg``: :func:`simulate_auto` when it asks for ``sim.draws=auto``, else
    :func:`simengine.pipeline.simulate_config` (the same arguments; ``cohort_cells`` is
    the latter's, a single ``auto`` run keeps its cells)."""
    from simengine.pipeline import simulate_config

    if is_auto(cfg):
        return simulate_auto(cfg, book, scenario, kernel, resolved, choices=choices)
    return simulate_config(
        cfg, book, scenario, kernel, resolved, choices=choices, cohort_cells=cohort_cells
    )


def simulate_auto(
    cfg, book=None, scenario=None, kernel=None, resolved=None, choices=None
) -> xr.Dataset:
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
    ds, acc = simulate_block(_with_draws(cfg, n), book, scenario, kernel, resolved, choices=choices)
    while True:
        revenue = ds["revenue"].transpose("draw", "month", "segment").values
        mcse = _relative_p50_mcse(last_year_revenue(revenue))
        target = next_draws(n, mcse, s.precision, s.block_draws, s.max_draws)
        if target == n:
            break
        log.info("sim.draws=auto: MCSE of the revenue P50 %.4g of it; %d -> %d draws", mcse, n,
                 target)  # fmt: skip
        block, acc = simulate_block(_with_draws(cfg, target), book, scenario, kernel, resolved,
                                    draws_from=n, accumulator=acc, choices=choices)  # fmt: skip
        ds = append_draws(ds, block)
        n = target
    ds.attrs["draws_rule"] = _rule_text(cfg, "the last forecast year's revenue P50 (relative)")
    ds.attrs["draws_mcse"] = float(mcse)
    ds.attrs["draws_stopped"] = "precision" if mcse <= s.precision else "max_draws"
    return ds


# ----------------------------------------------------------------------------------------------
# A sweep: first blocks in the jobs, then settled in the main process


def first_block(cfg, out_dir: str | Path, resolved: str | None = None) -> xr.Dataset:
    """A sweep job's first ``sim.block_draws`` draws, kept in ``out_dir/.auto/`` (the dataset as
    the job's ``forecast.nc`` will hold it, and its per-account accumulator) for
    :func:`simengine.auto_sweep.settle_sweep`, which draws on where undecided and writes the
    job's outputs once, with all its draws.  The job writes no outputs itself (they would be
    rewritten at every extension); an earlier attempt's ``forecast.nc`` is removed, so a job
    whose settling did not end is not taken for a finished run."""
    from simengine.config import config_yaml
    from simengine.pipeline import simulate_block

    resolved = config_yaml(cfg) if resolved is None else resolved
    n = min(cfg.sim.block_draws, cfg.sim.max_draws)
    ds, acc = simulate_block(_with_draws(cfg, n), resolved=resolved, cohort_cells=False)
    ds.attrs["draws_rule"] = _rule_text(cfg, "the sweep's comparison (auto_draws.csv)")
    out_dir = Path(out_dir)
    (out_dir / "forecast.nc").unlink(missing_ok=True)
    save_run(out_dir, ds, acc)
    return ds


def save_run(job: Path, ds: xr.Dataset, acc) -> None:
    """Keep a sweep job's draws so far in ``job/.auto/``: the dataset without the cohort cells
    (as a sweep job's ``forecast.nc`` holds it; :func:`simengine.results.without_cohort_cells`)
    and its accumulator.

    The dataset is kept as plain arrays (``.npz``, read back without pickle: a sweep folder is
    data a colleague may resume, and reading it must never run code) and a JSON header of dims,
    coordinates and attrs: exact arrays, dtypes and attrs, written and read in a few ms, where a
    ``forecast.nc`` round trip costs ~0.2 s a job."""
    import json

    from simengine.atomic import atomic_path
    from simengine.results import without_cohort_cells

    ds = without_cohort_cells(ds)
    header = {"attrs": _plain(ds.attrs), "coords": list(ds.coords), "variables": {}}
    arrays = {}
    for k, (name, var) in enumerate(ds.variables.items()):
        values = var.values
        kind = "object" if values.dtype == object else ""
        arrays[f"v{k}"] = values.astype(str) if kind else values
        header["variables"][name] = {
            "key": f"v{k}",
            "dims": list(var.dims),
            "attrs": _plain(var.attrs),
            "object": bool(kind),
        }
    folder = job / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / _RUN) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    with atomic_path(folder / _RUN_HEADER) as tmp:
        Path(tmp).write_text(json.dumps(header))
    _save_state(job, acc)


def _plain(attrs) -> dict:
    """Attrs as JSON values (numpy scalars as their Python value)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in attrs.items()}


def load_run(job: Path, accumulator: bool = True):
    """``(dataset, accumulator)`` :func:`save_run` kept in ``job`` (the accumulator, draws x
    accounts, only when asked for: None otherwise); None when there is none."""
    import json

    folder = job / STATE_DIR
    if not has_run(job):
        return None
    header = json.loads((folder / _RUN_HEADER).read_text())
    coords = set(header["coords"])
    ds = xr.Dataset(attrs=header["attrs"])
    with np.load(folder / _RUN, allow_pickle=False) as saved:
        for name, spec in header["variables"].items():  # in the kept dataset's order
            values = saved[spec["key"]]
            if spec["object"]:
                values = values.astype(object)
            var = xr.Variable(spec["dims"], values, attrs=spec["attrs"])
            if name in coords:
                ds.coords[name] = var
            else:
                ds[name] = var
    return ds, load_accumulator(job, ds.sizes["draw"]) if accumulator else None


def has_run(job: Path) -> bool:
    """True when ``job`` holds draws :func:`save_run` kept (a first block not yet settled)."""
    folder = job / STATE_DIR
    return (folder / _RUN).is_file() and (folder / _RUN_HEADER).is_file()


def _save_state(job: Path, acc) -> None:
    from simengine.atomic import atomic_path

    folder = job / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / _ACCOUNTS) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **acc.state())


def load_accumulator(job: Path, draws: int):
    """The per-account accumulator :func:`first_block` (or a later block) left in ``job``, with
    room for ``draws`` draws; None when there is none."""
    from simengine.accounts_forecast import AccountAccumulator

    path = job / STATE_DIR / _ACCOUNTS
    if not path.is_file():
        return None
    with np.load(path) as saved:
        return AccountAccumulator.from_state({k: saved[k] for k in saved.files}, draws)


def draws_taken(ds: xr.Dataset) -> dict[str, int]:
    """Draws each scenario of a stacked sweep holds (a shorter one is padded with NaN)."""
    revenue = ds["revenue"].sum(("month", "segment"), skipna=False)
    counts = revenue.notnull().sum("draw").values
    return {
        str(s): int(c) for s, c in zip(ds["scenario"].values, np.atleast_1d(counts), strict=True)
    }
