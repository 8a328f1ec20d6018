"""The engine: the Python layer around the kernel: book -> account arrays, chunked parallel runs, progress.

:func:`book_state` turns a validated :class:`~simengine.data.Book` into the flat per-account arrays
the kernel reads (active accounts at ``as_of`` with their tenure, usage, trailing revenue, commit
position and own unit price).  :func:`run_kernel` checks the shapes of the grouped arrays
(:mod:`simengine.kernels.layout`), allocates the outputs, calls the kernel over chunks of draws and
reports progress.  Chunking never changes a result: random streams are keyed by absolute draw.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simengine.bookstats import ChurnRules, anniversary_anchor, declining_at, is_anniversary
from simengine.bookstats.changes import UsageRules, account_statistics
from simengine.bookstats.panel import new_use_cases, usage_panel
from simengine.kernels._jit import set_threads
from simengine.kernels.account import simulate_draws
from simengine.kernels.layout import (
    ACCOUNT_OUTPUTS,
    COVERAGE,
    HISTORY_MONTHS,
    IN_FLIGHT,
    IN_FLIGHT_MONTHS,
    MONTH_PARAMS,
    OUTPUTS,
    RING_MONTHS,
    SEGMENT_PARAMS,
    V_ACTIVE,
    V_RETENTION_BASE,
    V_TTM_BASE,
    Accounts,
    Capacity,
    Outputs,
    Params,
    empty_accounts,
    unlimited_capacity,
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
    accounts : simengine.kernels.layout.Accounts
        One row per active account (field meanings there): segment, tenure, level, 24 months of
        usage history, commit position, own price, data start, observed coverage flags, declining
        boundaries, the usage fit's per-account sufficient statistics, past and in-flight use cases.
    churned_base : ndarray, shape (12, segments)
        Revenue 12 months before horizon month ``t`` (t < 12) of accounts that churned by ``as_of``:
        they belong to the year-ago (``nrr_monthly``) base though they are not simulated.
    churned_ttm : ndarray, shape (12, segments, 3)
        The same accounts' trailing-twelve-month base, retained and capped retained revenue in
        horizon months ``t < 12`` (``layout.V_TTM_*`` order).
    """

    accounts: Accounts
    churned_base: np.ndarray
    churned_ttm: np.ndarray

    @property
    def n_accounts(self) -> int:
        return int(self.accounts.segment.shape[0])

    def __getattr__(self, name: str):
        # Read access to the per-account arrays by name (state.tenure, state.hist_usage, ...).
        if name != "accounts" and name in Accounts._fields:
            return getattr(self.accounts, name)
        raise AttributeError(name)


def book_state(
    book,
    segments: tuple[str, ...],
    account_price: pd.Series,
    rules: ChurnRules | None = None,
    usage_rules: UsageRules | None = None,
) -> BookState:
    """Flatten ``book`` into kernel arrays.

    Parameters
    ----------
    book : simengine.data.Book
    segments : tuple of str
        Segment order of the kernel's segment axis.
    account_price : pandas.Series or mapping
        Unit price per usage unit, indexed by ``account_id`` (or a mapping segment -> price);
        every account of the book needs a finite, non-negative price.  It prices the account's history (NRR/GRR base, commit
        consumption) and its simulated usage.
    rules : simengine.bookstats.ChurnRules, optional
        The churn rules the fit used (:meth:`ChurnRules.from_attrs` of the posterior); default:
        ``ChurnRules()`` (a run without a posterior).
    usage_rules : simengine.bookstats.changes.UsageRules, optional
        Which account-months the usage fit read as changes (:meth:`UsageRules.from_attrs` of the
        posterior); default ``UsageRules()``.
    """
    rules = ChurnRules() if rules is None else rules
    as_of = int(book.as_of)
    accounts = book.accounts.set_index("account_id")
    churn = accounts["churn_month"]
    active_mask = (churn.isna() | (churn.astype("Float64") > as_of)).to_numpy(dtype=bool)
    seg_index = {s: i for i, s in enumerate(segments)}
    if not isinstance(account_price, pd.Series):  # a price per segment
        account_price = accounts["segment"].map(dict(account_price))
    price = account_price.reindex(accounts.index).to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(price) | (price < 0)
    if bad.any():
        first = accounts.index[np.flatnonzero(bad)[0]]
        raise ValueError(f"account_price: no valid unit price for account {first!r}")

    # Usage in the last 36 months, wide: rows = accounts (book order), columns = as_of-35..as_of
    # (36: the trailing-twelve-month base of horizon month 11 reaches back to as_of - 22).
    span = RING_MONTHS + HISTORY_MONTHS
    months = np.arange(as_of - span + 1, as_of + 1)
    recent = book.usage[book.usage["month"] >= months[0]]
    wide36 = (
        recent.pivot_table(index="account_id", columns="month", values="usage", aggfunc="sum")
        .reindex(index=accounts.index, columns=months)
        .fillna(0.0)
        .clip(lower=0.0)
        .to_numpy(dtype=float)
    )
    revenue36 = wide36 * price[:, None]
    wide = wide36[:, -HISTORY_MONTHS:]
    revenue = revenue36[:, -HISTORY_MONTHS:]

    seg_all = accounts["segment"].map(seg_index).to_numpy(dtype=np.int64)
    churned_base = np.zeros((HISTORY_MONTHS, len(segments)))
    # Horizon month t's base month is as_of - 11 + t, i.e. column t of `revenue`.
    np.add.at(churned_base.T, seg_all[~active_mask], revenue[~active_mask])
    start_all = accounts["start_month"].to_numpy(dtype=np.int64)
    churned_ttm = _churned_ttm(
        revenue36[~active_mask], seg_all[~active_mask], start_all[~active_mask] - as_of - 1,
        len(segments),
    )  # fmt: skip

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

    first_usage = int(book.usage["month"].min()) if len(book.usage) else as_of
    data_from = np.maximum(np.maximum(start, first_usage), book.window_start) - (as_of + 1)
    history = account_history(book, active, rules, usage_rules)
    acc = Accounts(
        segment=seg_all[active],
        tenure=(as_of - start).astype(np.int64),
        log_usage=np.log(level),
        hist_usage=np.ascontiguousarray(wide36[active, -RING_MONTHS:]),
        commit=commit,
        term_position=term_position,
        consumed=consumed,
        price=np.ascontiguousarray(price[active]),
        data_from=data_from.astype(np.int64),
        **_flags(accounts, active),
        **history,
    )
    return BookState(acc, churned_base, churned_ttm)


def _flags(accounts: pd.DataFrame, active: np.ndarray) -> dict[str, np.ndarray]:
    """Observed ``csm_covered`` / ``se_engaged`` of the active accounts: 1, 0, or -1 (unknown)."""
    out = {}
    for name in ("csm_covered", "se_engaged"):
        if name in accounts.columns:
            col = accounts[name].astype("boolean").to_numpy(dtype=float, na_value=-1.0)[active]
        else:
            col = np.full(active.size, -1.0)
        out[name] = np.ascontiguousarray(col)
    return out


def _churned_ttm(
    revenue36: np.ndarray, segment: np.ndarray, born: np.ndarray, n_seg: int
) -> np.ndarray:
    """TTM base / retained / capped of accounts churned by ``as_of`` for horizon months 0..11.

    ``revenue36`` columns are months ``as_of - 35 .. as_of``; horizon month ``t`` is column
    ``36 + t``; ``born`` is the start month in horizon months.  An account counts in month ``t``
    when it had started by ``t - 23`` and was still a customer in ``t - 12`` (revenue then, or any
    revenue later: it churned after), with base = its revenue over ``t-23 .. t-12`` and retained =
    over ``t-11 .. t`` (the months after its churn are 0).
    """
    out = np.zeros((HISTORY_MONTHS, n_seg, 3))
    n_cols = revenue36.shape[1]
    for t in range(HISTORY_MONTHS):
        c = n_cols + t  # column of horizon month t
        base = revenue36[:, c - 23 : c - 11].sum(axis=1)
        kept = revenue36[:, c - 11 : n_cols].sum(axis=1)
        # A customer in t - 12: revenue in that month or after (conservative on skipped months).
        was = (revenue36[:, c - 12 :].sum(axis=1) > 0.0) & (born <= t - 23)
        for k, v in enumerate((base, kept, np.minimum(kept, base))):
            out[t, :, k] = np.bincount(segment[was], v[was], minlength=n_seg)
    return out


def account_history(
    book,
    active: np.ndarray,
    rules: ChurnRules | None = None,
    usage_rules: UsageRules | None = None,
) -> dict[str, np.ndarray]:
    """What each active account's own history says, for the kernel (:class:`Accounts` fields).

    ``declining`` (survived boundaries that were declining, :func:`bookstats.declining_at` at
    ``rules.decline_threshold``; default ``ChurnRules()``), the contract anniversaries
    (``contract_from``, ``anniversaries``, ``declining_anniversaries``:
    :mod:`simengine.bookstats.churn_rules`),
    the usage fit's per-account sufficient statistics (``change_count``, ``change_sum``,
    ``season_coef``, ``ramp_tenure``, ``ramp_coef``: :func:`bookstats.changes.account_statistics`
    on the same panel and settle rule the fit used: ``usage_rules``, default ``UsageRules()``),
    and the account's use cases (arrivals of
    :func:`bookstats.panel.new_use_cases`): ``use_cases_done`` and ``use_case_age`` of up to
    ``IN_FLIGHT`` that started within ``IN_FLIGHT_MONTHS`` of ``as_of``.
    """
    as_of = int(book.as_of)
    n = active.size
    ids = book.accounts["account_id"].to_numpy()
    out: dict[str, np.ndarray] = {}
    rules = ChurnRules() if rules is None else rules
    # Contract anniversaries: the anchor, and the anniversary boundaries survived since the start
    # (boundaries start + 1 .. as_of), as the churn fit counts them.
    anchor = anniversary_anchor(book.accounts)[active]
    start = book.accounts["start_month"].to_numpy(np.int64)[active]
    term = rules.anniversary_months
    out["contract_from"] = anchor - (as_of + 1)
    out["anniversaries"] = (
        np.maximum((as_of - anchor) // term, 0) - np.maximum((start - anchor) // term, 0)
    ).astype(float)
    declining = np.zeros(n)
    both = np.zeros(n)
    if len(book.usage):
        decline, first = declining_at(book, rules.decline_threshold)
        decline = decline[active, : as_of - first + 1]
        declining = decline.sum(axis=1).astype(float)
        month = first + np.arange(decline.shape[1])
        both = (decline & is_anniversary(month[None, :], anchor[:, None], term)).sum(axis=1)
    out["declining"] = declining
    out["declining_anniversaries"] = both.astype(float)

    # The usage fit's per-account statistics, on its panel and settle rule; the panel's rows are
    # book.accounts' rows (no sampling here).
    settle = (UsageRules() if usage_rules is None else usage_rules).settle_months
    stats = account_statistics(usage_panel(book, settle))
    out["change_count"] = stats["count"][active]
    out["change_sum"] = stats["sum"][active]
    for name in ("season_coef", "ramp_tenure", "ramp_coef"):
        out[name] = stats[name][active]

    done = np.zeros(n)
    age = np.full((n, IN_FLIGHT), -1, dtype=np.int64)
    cases = new_use_cases(book)
    if len(cases):
        pos = pd.Series(-1, index=ids)
        pos.iloc[active] = np.arange(n)
        row = pos.reindex(cases["account_id"]).fillna(-1).to_numpy(dtype=np.int64)
        case_age = as_of - cases["start_month"].to_numpy(np.int64)
        keep = row >= 0
        row, case_age = row[keep], case_age[keep]
        order = np.lexsort((case_age, row))  # youngest first within an account
        row, case_age = row[order], case_age[order]
        rank = np.arange(row.size) - np.searchsorted(row, row)
        flying = (case_age < IN_FLIGHT_MONTHS) & (rank < IN_FLIGHT)
        age[row[flying], rank[flying]] = case_age[flying]
        done = np.bincount(row[~flying], minlength=n).astype(float)
    out["use_cases_done"] = done
    out["use_case_age"] = age
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def _warm_up() -> float:
    """Compile (or load from the cache) the kernel on a tiny problem; return the seconds it took."""
    t0 = time.perf_counter()
    book = empty_accounts(1)
    params = Params(np.ones((1, 1, len(SEGMENT_PARAMS))), np.zeros((1, 1, 1, len(MONTH_PARAMS))))
    outputs = Outputs(
        np.zeros((1, 1, 1, len(OUTPUTS))), np.zeros((1, 1, 1)), np.zeros((1, 1, len(COVERAGE))),
        np.zeros(1),
    )  # fmt: skip
    simulate_draws(np.uint64(0), 0, book, params, unlimited_capacity(1, 1), 0, outputs)
    return time.perf_counter() - t0


def _chunk_size(draws: int, threads: int, requested: int) -> int:
    if requested > 0:
        return min(requested, draws)
    # ~20 progress steps, each a multiple of the thread count so no thread idles.
    size = max(threads, math.ceil(draws / 20))
    return min(draws, math.ceil(size / threads) * threads)


def _check(name: str, array: np.ndarray, shape: tuple[int, ...], dtype) -> np.ndarray:
    array = np.asarray(array)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    return np.ascontiguousarray(array, dtype=dtype)


def run_kernel(
    state: BookState,
    params: Params,
    capacity: Capacity | None = None,
    *,
    seed: int,
    month_of_year0: int,
    cohort_months: int = 0,
    cohort_cells: bool = True,
    threads: int = 0,
    chunk_draws: int = 0,
    progress: bool = True,
    account_sink=None,
    draw_start: int = 0,
) -> Outputs:
    """Run every draw through the kernel in chunks; return the filled :class:`Outputs`.

    Parameters
    ----------
    state : BookState
        The book at ``as_of`` (:func:`book_state`).
    params : simengine.kernels.layout.Params
        ``seg_params`` (draws, segments, n_segment_params) and ``month_params``
        (draws, segments, horizon, n_month_params).
    capacity : simengine.kernels.layout.Capacity, optional
        Coverable accounts per (draw, month) from the staffing model; None: unlimited, so the
        ``csm_coverage``/``se_coverage`` month parameters are the shares (rate mode).
    seed, month_of_year0, cohort_months, threads, chunk_draws, progress
        Run seed; month of year (January = 0) of horizon month 0; months each new logo is followed
        for ``cohort``; numba threads (0: all); draws per kernel call (0: automatic); progress bar.
    cohort_cells : bool
        Keep the cohort cells (``cohort``); False follows the logos as long (``later_revenue``
        is bitwise the same) but allocates and fills no cell: for runs that write none.
    draw_start : int
        Absolute index of the first draw in ``params`` (streams are keyed by absolute draw, so a
        run split by draws across processes gives the numbers of the whole run).

    Returns
    -------
    Outputs
        ``out`` (draws, horizon, segments, len(OUTPUTS)), ``cohort`` (draws, horizon,
        cohort_months; no rows without ``cohort_cells``), ``coverage`` (draws, horizon,
        len(COVERAGE)) and ``later_revenue`` (draws,); see :mod:`simengine.kernels.layout`.
        Compile and run times are logged.

    A progress bar (rich) appears when the run is expected to take more than two seconds and
    stderr is a terminal.
    """
    seg_params, month_params = params
    draws, n_seg, horizon = month_params.shape[0], month_params.shape[1], month_params.shape[2]
    if n_seg > 255:  # stream keys give the segment 8 bits (kernels/rng.py)
        raise ValueError(f"{n_seg} segments: at most 255 are supported")
    params = Params(
        _check("seg_params", seg_params, (draws, n_seg, len(SEGMENT_PARAMS)), np.float64),
        _check("month_params", month_params, (draws, n_seg, horizon, len(MONTH_PARAMS)),
               np.float64),
    )  # fmt: skip
    if capacity is None:
        capacity = unlimited_capacity(draws, horizon)
    capacity = Capacity(
        *(_check(f"capacity.{f}", c, (draws, horizon), np.float64)
          for f, c in zip(Capacity._fields, capacity, strict=True))
    )  # fmt: skip
    if state.n_accounts and int(state.segment.max()) >= n_seg:
        raise ValueError(f"book segment index {int(state.segment.max())} >= {n_seg} segments")
    book = state.accounts
    n_threads = set_threads(threads)
    compile_seconds = _warm_up()
    log.info("kernel ready in %.2f s (compiled, or loaded from numba's cache)", compile_seconds)

    outputs = Outputs(
        np.zeros((draws, horizon, n_seg, len(OUTPUTS))),
        np.zeros((draws, horizon if cohort_cells else 0, cohort_months)),
        np.zeros((draws, horizon, len(COVERAGE))),
        np.zeros(draws),
    )
    chunk = _chunk_size(draws, n_threads, chunk_draws)
    bounds = [(a, min(a + chunk, draws)) for a in range(0, draws, chunk)]
    seed_u = np.uint64(seed)
    # One chunk's per-account record, reused chunk after chunk: memory is chunk x accounts, never
    # draws x accounts.
    record = (
        np.zeros((chunk, state.n_accounts, len(ACCOUNT_OUTPUTS)))
        if account_sink is not None
        else None
    )

    def call(a: int, b: int) -> None:
        accounts = outputs.accounts if record is None else record[: b - a]
        simulate_draws(
            seed_u, draw_start + a, book, Params(*(x[a:b] for x in params)),
            Capacity(*(x[a:b] for x in capacity)), month_of_year0,
            Outputs(outputs.out[a:b], outputs.cohort[a:b], outputs.coverage[a:b],
                    outputs.later_revenue[a:b], accounts),
        )  # fmt: skip
        if record is not None:
            account_sink(accounts)
            accounts[...] = 0.0

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
    out = outputs.out
    simulated = float(out[..., V_ACTIVE].sum())
    log.info(
        "simulated %d draws x %d months on %d thread%s in %.2f s (%.1f M account-months/s)",
        draws,
        horizon,
        n_threads,
        "" if n_threads == 1 else "s",
        run_seconds,
        simulated / max(run_seconds, 1e-9) / 1e6,
    )
    # Accounts that churned before as_of stay in the NRR/GRR base for the first 12 months.
    k = min(HISTORY_MONTHS, horizon)
    out[:, :k, :, V_RETENTION_BASE] += state.churned_base[None, :k, :]
    out[:, :k, :, V_TTM_BASE : V_TTM_BASE + 3] += state.churned_ttm[None, :k]
    return outputs


def month_of_year(month_number: int) -> int:
    """Month of year (January = 0) of a month number ``year * 12 + month - 1``."""
    return int(month_number) % 12


def month_starts(first: int, n: int) -> pd.DatetimeIndex:
    """Month-start timestamps of ``n`` month numbers from ``first``."""
    year, month = divmod(int(first), 12)
    return pd.date_range(pd.Timestamp(year=year, month=month + 1, day=1), periods=n, freq="MS")
