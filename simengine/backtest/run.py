"""``simengine backtest``: fit up to a cut-off, forecast the installed base, score the held-out months.

The book's last month (``data.as_of``, default the last usage month) ends the held-out window; the
cut-off is ``holdout_months`` earlier.  The PyMC models are fitted on the book as known at the
cut-off (:func:`simengine.backtest.split.split_book`), the engine simulates the **installed base**
(the accounts active at the cut-off, no new logos, each keeping the coverage its flags show:
:func:`status_quo_kernel`) over the held-out months from that posterior,
and the forecast is scored against what those same accounts actually billed, beside the baselines
``backtest.baselines`` names, fitted to the same accounts' like-for-like history
(:mod:`simengine.backtest.forecasts`): by default ``naive_last``, ``seasonal_naive``, ``rw_drift``,
``theta`` and ``ets`` (statsmodels), and on request ``ets_accounts`` (one ETS per account, summed).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from simengine.backtest.forecasts import SampleForecast, baseline_forecasts
from simengine.backtest.scores import QUANTILES, quantile_columns, score_table
from simengine.backtest.split import Split, split_book

log = logging.getLogger(__name__)

__all__ = [
    "BacktestResult",
    "account_scores",
    "backtest_table",
    "installed_base_config",
    "observed_coverage",
    "run_backtest",
    "status_quo_kernel",
]

#: Output files of ``simengine backtest`` (besides the fit's ``posterior.nc``/``diagnostics.csv``
#: and the installed base's ``accounts_forecast.csv``/``.parquet`` and ``signals.csv``).
BACKTEST_FILES = ("backtest.csv", "backtest_scores.csv", "backtest.png", "backtest_accounts.csv")


@dataclass
class BacktestResult:
    """What a backtest computed.

    Attributes
    ----------
    split : Split
        The cut book, its installed base and their revenue before and after the cut-off.
    forecast : xarray.Dataset
        The engine's forecast of the installed base over the held-out months.
    table : pandas.DataFrame
        ``backtest.csv``: ``series, month, actual, p05 .. p95``.
    scores : pandas.DataFrame
        ``backtest_scores.csv``: one row per method.
    forecasts : dict
        Every method's forecast of the total (:class:`SampleForecast` / :class:`NormalForecast`).
    posterior : str
        Path of the posterior the forecast used.
    accounts : pandas.DataFrame
        ``backtest_accounts.csv`` (:func:`account_scores`).
    """

    split: Split
    forecast: xr.Dataset
    table: pd.DataFrame
    scores: pd.DataFrame
    forecasts: dict
    posterior: str
    accounts: pd.DataFrame


def installed_base_config(cfg, posterior: str | None, horizon: int):
    """``cfg`` for a forecast of the installed base alone: no new logos, ``horizon`` months.

    New logos are switched off with ``adjust.new_logos = 0`` from the first forecast month (and in
    every ``adjust.segments`` entry): the backtest scores the accounts active at the cut-off, so logos
    won after it are part of neither the forecast nor the actuals.  Every other key, including a
    scenario's other adjustments, acts as in ``simengine run``.
    """
    # Over the whole horizon, whatever adjust.from_month says (a window of its own).
    off = {"value": 0.0, "from": 0}
    segments = {
        name: {**entries, "new_logos": off} if "new_logos" in entries else dict(entries)
        for name, entries in cfg.adjust.segments.items()
    }
    return dataclasses.replace(
        cfg,
        fit=dataclasses.replace(cfg.fit, posterior=None if posterior is None else str(posterior)),
        sim=dataclasses.replace(cfg.sim, horizon_months=int(horizon)),
        adjust=dataclasses.replace(cfg.adjust, new_logos=off, segments=segments),
    )


def observed_coverage(state) -> tuple[float, float]:
    """Shares of the book's accounts with ``csm_covered`` / ``se_engaged`` set, among known flags.

    The same sums, in the same floating point, as the kernel's ``covered_share``: a simulated
    share equal to it covers exactly the accounts observed covered (``kernels.init.init_book_block``).
    """
    shares = []
    for flags in (state.accounts.csm_covered, state.accounts.se_engaged):
        known = flags >= 0.0
        shares.append(float(flags[known].sum()) / float(known.sum()) if known.any() else 0.0)
    return shares[0], shares[1]


def status_quo_kernel(state, params, capacity=None, **kwargs):
    """:func:`simengine.engine.run_kernel` for the installed base as the book shows it.

    The backtest asks whether the accounts active at the cut-off do what the fitted model says,
    so every value of the forecast comes from the book or the fit, none from a plan:

    - **coverage**: each account keeps the CSM coverage and SE support its own flags show (the
      shares are the book's observed shares, and the kernel then covers exactly the flagged
      accounts).  The go-to-market model's capacity (``market=capacity``: a staffing plan's
      coverable accounts over this draw's book) or ``market.csm_coverage`` (``market=rate``)
      describe a planned team, not the one the held-out months had: with a plan sized for a
      larger book every account became covered, its churn fell by the fitted CSM hazard ratio
      and its use cases rose by the SE ratio (``p_churn_12m`` summed to ~0.8 of the churned count
      on every generated book);
    - **health**: no new use case starts unhealthy.  The expansion fit's use-case sizes are the
      sizes the book shows, healthy or not, so the go-to-market model's unhealthy shares
      (``effects.unhealthy_*``) would cut expansion a second time.

    New logos are already off (:func:`installed_base_config`).  Arguments are
    :func:`~simengine.engine.run_kernel`'s; ``capacity`` is ignored (unlimited).
    """
    from simengine.engine import run_kernel
    from simengine.kernels.layout import (
        M_CSM_COVERAGE,
        M_SE_COVERAGE,
        M_UC_UNHEALTHY_COVERED,
        M_UC_UNHEALTHY_UNCOVERED,
        M_UNHEALTHY_SHARE,
        Params,
    )

    seg_params, month_params = params
    month_params = month_params.copy()
    csm, se = observed_coverage(state)
    month_params[..., M_CSM_COVERAGE] = csm
    month_params[..., M_SE_COVERAGE] = se
    for slot in (M_UNHEALTHY_SHARE, M_UC_UNHEALTHY_COVERED, M_UC_UNHEALTHY_UNCOVERED):
        month_params[..., slot] = 0.0
    return run_kernel(state, Params(seg_params, month_params), None, **kwargs)


def backtest_table(split: Split, forecast: xr.Dataset) -> pd.DataFrame:
    """``backtest.csv``: one row per (series, month); ``series`` = ``total`` then each segment.

    Segments are those of the installed base (sorted).  ``actual`` is the installed base's revenue
    in the month (see :func:`~simengine.backtest.split.split_book`); ``p05 .. p95`` are quantiles
    over the forecast's draws.
    """
    months = split.holdout_months
    revenue = forecast["revenue"].transpose("draw", "month", "segment")
    segments = sorted(split.accounts["segment"].unique())
    series = {"total": (revenue.sum("segment").values, split.actual.sum(axis=0))}
    seg = split.accounts["segment"].to_numpy()
    for s in segments:
        series[s] = (revenue.sel(segment=s).values, split.actual[seg == s].sum(axis=0))
    frames = []
    for name, (draws, actual) in series.items():
        q = np.quantile(draws, QUANTILES, axis=0)
        frame = pd.DataFrame({"series": name, "month": months, "actual": actual})
        for col, values in zip(quantile_columns(), q, strict=True):
            frame[col] = values
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _fit(cfg, split: Split, out_dir: Path) -> str:
    """Fit the cut book (or check the given ``fit.posterior``); return the posterior's path."""
    if cfg.fit.posterior is not None:
        return str(cfg.fit.posterior)  # simulate_config checks its data hash against the cut book
    from simengine.fitting import fit_to_folder

    fit_to_folder(cfg, split.book, out_dir)
    return str(out_dir / "posterior.nc")


def run_backtest(cfg, out_dir: str | Path) -> BacktestResult:
    """Run the backtest ``cfg`` describes and write its files into ``out_dir``.

    Parameters
    ----------
    cfg : simengine.config.Config
        Validated; ``backtest.holdout_months`` months are held out.  ``fit.*`` fits the cut book
        (or ``fit.posterior`` names a posterior fitted on it); ``sim.draws`` draws are simulated and
        the ETS baselines simulate as many paths; ``backtest.baselines`` names the baselines.
    out_dir : str or os.PathLike
        Receives ``backtest.csv``, ``backtest_scores.csv``, ``backtest.png``, and the fit's
        ``posterior.nc`` and ``diagnostics.csv``.

    Returns
    -------
    BacktestResult
    """
    from simengine.accounts_forecast import accounts_frame, write_account_outputs
    from simengine.data import book_from_config
    from simengine.report.backtest_plot import backtest_plot
    from simengine.results import write_atomic_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    full = book_from_config(cfg.data, need_usage=True)
    holdout = int(cfg.backtest.holdout_months)
    split = split_book(full, holdout, cfg.market.unit_price)
    if len(split.accounts) == 0:
        raise ValueError(
            f"config key 'backtest.holdout_months' = {holdout}: no account is active at the cut-off"
        )
    posterior = _fit(cfg, split, out_dir)
    from simengine.config import currency_of
    from simengine.pipeline import simulate_config

    forecast = simulate_config(
        installed_base_config(cfg, posterior, holdout), book=split.book, kernel=status_quo_kernel
    )
    forecast.attrs["backtest_cut_off"] = split.holdout_months[0]

    actual_total = split.actual.sum(axis=0)
    total_draws = forecast["revenue"].sum("segment").transpose("draw", "month").values
    t0 = time.perf_counter()
    baselines = baseline_forecasts(
        split.history, holdout, int(cfg.sim.draws), cfg.seed, cfg.backtest.baselines
    )
    log.info("baselines %s in %.1f s", ", ".join(cfg.backtest.baselines), time.perf_counter() - t0)
    forecasts = {"simengine": SampleForecast(total_draws), **baselines}
    table = backtest_table(split, forecast)
    scores = score_table(forecasts, actual_total)
    write_atomic_text(table.to_csv(index=False, float_format="%.6g"), out_dir / "backtest.csv")
    write_atomic_text(
        scores.to_csv(index=False, float_format="%.6g"), out_dir / "backtest_scores.csv"
    )
    backtest_plot(split, table, forecasts, out_dir / "backtest.png", currency_of(cfg.data))
    frame = accounts_frame(forecast)
    write_account_outputs(forecast, out_dir, cfg.signals.top, frame)
    accounts = account_scores(split, frame)
    write_atomic_text(
        accounts.to_csv(index=False, float_format="%.6g"), out_dir / "backtest_accounts.csv"
    )
    return BacktestResult(split, forecast, table, scores, forecasts, posterior, accounts)


def account_scores(split: Split, table: pd.DataFrame) -> pd.DataFrame:
    """``backtest_accounts.csv``: each installed-base account's forecast beside what it did.

    Columns ``account_id``, ``segment``, ``actual_next12`` (its revenue over the first 12
    held-out months, or all of them when fewer), ``revenue_next12_p10/_p50/_p90``,
    ``covered80`` (p10 <= actual <= p90), ``p_churn_12m`` and ``churned_12m`` (its
    ``churn_month`` is at most the cut-off + 12: it was not a customer 12 months later).
    """
    months = min(12, split.actual.shape[1])
    actual = split.actual[:, :months].sum(axis=1)
    ids = split.accounts["account_id"].to_numpy()
    by_id = table.set_index("account_id").reindex(ids)
    full = split.book.accounts.set_index("account_id")
    churn = pd.Series(np.inf, index=ids)
    if split.book.future_accounts is not None:
        later = split.book.future_accounts.set_index("account_id")["churn_month"]
        later = later.reindex(ids).astype("Float64").fillna(np.inf).astype(float)
        churn = np.minimum(churn, later)
    known = full["churn_month"].reindex(ids).astype("Float64").fillna(np.inf).astype(float)
    churn = np.minimum(churn, known)
    p10 = by_id["revenue_next12_p10"].to_numpy(float)
    p90 = by_id["revenue_next12_p90"].to_numpy(float)
    return pd.DataFrame(
        {
            "account_id": ids,
            "segment": split.accounts["segment"].to_numpy(),
            "actual_next12": actual,
            "revenue_next12_p10": p10,
            "revenue_next12_p50": by_id["revenue_next12_p50"].to_numpy(float),
            "revenue_next12_p90": p90,
            "covered80": (actual >= p10) & (actual <= p90),
            "p_churn_12m": by_id["p_churn_12m"].to_numpy(float),
            "churned_12m": churn.to_numpy(float) <= split.cut + months,
        }
    )
