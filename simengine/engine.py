"""The engine: the Python layer around the kernel: book -> account arrays, chunked parallel runs, progress.

:func:`book_state` turns a validated :class:`~simengine.data.Book` into the flat per-account arrays
the kernel reads (active accounts at ``as_of`` with their tenure, usage, trailing revenue and
commit position).  :func:`run_kernel` allocates the outputs, calls the kernel over chunks of draws
and reports progress.  Chunking never changes a result: random streams are keyed by absolute draw.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simengine.kernels._jit import set_threads
from simengine.kernels.account import simulate_draws
from simengine.kernels.layout import (
    HISTORY_MONTHS,
    OUTPUTS,
    SEGMENT_PARAMS,
    V_ACTIVE,
    V_RETENTION_BASE,
)

log = logging.getLogger(__name__)

__all__ = ["BookState", "book_state", "run_kernel"]

# Usage floor (units) for an active account whose as_of usage is zero: log(0) has no level to grow.
_USAGE_FLOOR = 1e-3


@dataclass
class BookState:
    """Per-account kernel inputs for the accounts active at ``as_of``.

    Attributes
    ----------
    segment, tenure, term_position : ndarray of int64, shape (accounts,)
    log_usage, commit, consumed : ndarray of float64, shape (accounts,)
    hist_revenue : ndarray, shape (accounts, 12)
        Revenue in months ``as_of - 11 .. as_of``.
    churned_base : ndarray, shape (12, segments)
        Revenue 12 months before horizon month ``t`` (t < 12) of accounts that churned by ``as_of``:
        they belong to the NRR/GRR base though they are not simulated.
    """

    segment: np.ndarray
    tenure: np.ndarray
    log_usage: np.ndarray
    hist_revenue: np.ndarray
    commit: np.ndarray
    term_position: np.ndarray
    consumed: np.ndarray
    churned_base: np.ndarray

    @property
    def n_accounts(self) -> int:
        return int(self.segment.shape[0])


def book_state(book, segments: tuple[str, ...], unit_price: dict[str, float]) -> BookState:
    """Flatten ``book`` into kernel arrays; ``unit_price`` maps segment -> price per usage unit."""
    as_of = int(book.as_of)
    accounts = book.accounts.set_index("account_id")
    churn = accounts["churn_month"]
    active_mask = (churn.isna() | (churn.astype("Float64") > as_of)).to_numpy(dtype=bool)
    seg_index = {s: i for i, s in enumerate(segments)}
    price = accounts["segment"].map(unit_price).to_numpy(dtype=float)

    # Usage in the last 12 months, wide: rows = accounts (book order), columns = as_of-11..as_of.
    months = np.arange(as_of - HISTORY_MONTHS + 1, as_of + 1)
    recent = book.usage[book.usage["month"] >= months[0]]
    wide = (
        recent.pivot_table(index="account_id", columns="month", values="usage", aggfunc="sum")
        .reindex(index=accounts.index, columns=months)
        .fillna(0.0)
        .to_numpy(dtype=float)
    )
    revenue = wide * price[:, None]

    seg_all = accounts["segment"].map(seg_index).to_numpy(dtype=np.int64)
    churned_base = np.zeros((HISTORY_MONTHS, len(segments)))
    # Horizon month t's base month is as_of - 11 + t, i.e. column t of `revenue`.
    np.add.at(churned_base.T, seg_all[~active_mask], revenue[~active_mask])

    active = np.flatnonzero(active_mask)
    last = wide[active, -1]
    # An active account with no usage in the as_of month takes the mean of its last three months
    # *with usage* (a skipped month is not a lower level: the fit's zero-month probability holds it).
    recent3 = wide[active, -3:]
    n_pos = (recent3 > 0).sum(axis=1)
    fallback = recent3.sum(axis=1) / np.maximum(n_pos, 1)
    level = np.where(last > 0, last, np.where(fallback > 0, fallback, _USAGE_FLOOR))

    start = accounts["start_month"].to_numpy(dtype=np.int64)[active]
    commit = np.zeros(active.size)
    term_position = np.zeros(active.size, dtype=np.int64)
    consumed = np.zeros(active.size)
    if "commit_annual" in accounts.columns:
        c = accounts["commit_annual"].astype("Float64").fillna(0.0).to_numpy(dtype=float)[active]
        if "contract_start_month" in accounts.columns:
            cs = (
                accounts["contract_start_month"]
                .astype("Float64")
                .to_numpy(dtype=float, na_value=np.nan)[active]
            )
        else:
            cs = start.astype(float)
        cs = np.where(np.isnan(cs), start, cs).astype(np.int64)
        has = (c > 0) & (cs <= as_of)
        commit = np.where(has, c, 0.0)
        # Months of the current term consumed by as_of (a term that ends at as_of renews next month).
        term_position = np.where(has, (as_of - cs + 1) % 12, 0).astype(np.int64)
        cols = np.arange(HISTORY_MONTHS)
        in_term = cols[None, :] >= HISTORY_MONTHS - term_position[:, None]
        consumed = np.where(has, (revenue[active] * in_term).sum(axis=1), 0.0)

    return BookState(
        segment=seg_all[active],
        tenure=(as_of - start).astype(np.int64),
        log_usage=np.log(level),
        hist_revenue=np.ascontiguousarray(revenue[active]),
        commit=commit,
        term_position=term_position,
        consumed=consumed,
        churned_base=churned_base,
    )


def _warm_up(n_seg_params: int, n_month_params: int) -> float:
    """Compile (or load from the cache) the kernel on a tiny problem; return the seconds it took."""
    t0 = time.perf_counter()
    sp = np.ones((1, 1, n_seg_params))
    mp = np.zeros((1, 1, 1, n_month_params))
    one = np.zeros(1, dtype=np.int64)
    simulate_draws(
        np.uint64(0), 0, sp, mp, one, one, np.zeros(1), np.zeros((1, HISTORY_MONTHS)),
        np.zeros(1), one, np.zeros(1), 0, np.zeros((1, 1, 1, len(OUTPUTS))), np.zeros((1, 1, 1)),
    )  # fmt: skip
    return time.perf_counter() - t0


def _chunk_size(draws: int, threads: int, requested: int) -> int:
    if requested > 0:
        return min(requested, draws)
    # ~20 progress steps, each a multiple of the thread count so no thread idles.
    size = max(threads, math.ceil(draws / 20))
    return min(draws, math.ceil(size / threads) * threads)


def run_kernel(
    state: BookState,
    seg_params: np.ndarray,
    month_params: np.ndarray,
    *,
    seed: int,
    month_of_year0: int,
    cohort_months: int = 0,
    threads: int = 0,
    chunk_draws: int = 0,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Run every draw through the kernel in chunks; return ``(out, cohort)``.

    See :func:`simulate_draws` for the arrays.  Compile and run times are logged.

    A progress bar (rich) appears when the run is expected to take more than two seconds and
    stderr is a terminal.
    """
    draws, n_seg, horizon = month_params.shape[0], month_params.shape[1], month_params.shape[2]
    if n_seg > 255:  # stream keys give the segment 8 bits (kernels/rng.py)
        raise ValueError(f"{n_seg} segments: at most 255 are supported")
    if seg_params.shape != (draws, n_seg, len(SEGMENT_PARAMS)):
        raise ValueError(
            f"seg_params has shape {seg_params.shape}, expected {(draws, n_seg, len(SEGMENT_PARAMS))}"
        )
    n_threads = set_threads(threads)
    compile_seconds = _warm_up(seg_params.shape[2], month_params.shape[3])
    log.info("kernel ready in %.2f s (compiled, or loaded from numba's cache)", compile_seconds)

    out = np.zeros((draws, horizon, n_seg, len(OUTPUTS)))
    cohort = np.zeros((draws, horizon, cohort_months))
    chunk = _chunk_size(draws, n_threads, chunk_draws)
    bounds = [(a, min(a + chunk, draws)) for a in range(0, draws, chunk)]
    seed_u = np.uint64(seed)

    def call(a: int, b: int) -> None:
        simulate_draws(
            seed_u, a, seg_params[a:b], month_params[a:b], state.segment, state.tenure,
            state.log_usage, state.hist_revenue, state.commit, state.term_position, state.consumed,
            month_of_year0, out[a:b], cohort[a:b],
        )  # fmt: skip

    t0 = time.perf_counter()
    call(*bounds[0])
    first = time.perf_counter() - t0
    rest = bounds[1:]
    show = progress and sys.stderr.isatty() and first * len(bounds) > 2.0
    if show and rest:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} draws"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("draws", total=draws, completed=bounds[0][1])
            for a, b in rest:
                call(a, b)
                bar.update(task, completed=b)
    else:
        for a, b in rest:
            call(a, b)
    run_seconds = time.perf_counter() - t0
    simulated = float(out[..., V_ACTIVE].sum())
    log.info(
        "simulated %d draws x %d months on %d threads in %.2f s (%.1f M account-months/s)",
        draws,
        horizon,
        n_threads,
        run_seconds,
        simulated / max(run_seconds, 1e-9) / 1e6,
    )
    # Accounts that churned before as_of stay in the NRR/GRR base for the first 12 months.
    k = min(HISTORY_MONTHS, horizon)
    out[:, :k, :, V_RETENTION_BASE] += state.churned_base[None, :k, :]
    return out, cohort


def month_of_year(month_number: int) -> int:
    """Month of year (January = 0) of a month number ``year * 12 + month - 1``."""
    return int(month_number) % 12


def month_starts(first: int, n: int) -> pd.DatetimeIndex:
    """Month-start timestamps of ``n`` month numbers from ``first``."""
    year, month = divmod(int(first), 12)
    return pd.date_range(pd.Timestamp(year=year, month=month + 1, day=1), periods=n, freq="MS")
