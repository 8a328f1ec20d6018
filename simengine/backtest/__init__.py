"""Backtests: fit up to a cut-off, forecast the held-out months, score against baselines.

``simengine backtest`` runs :func:`run_backtest`; the pieces are public for notebooks:
:func:`split_book` (the cut and the actuals), the baselines and forecast types in
:mod:`simengine.backtest.forecasts`, and :func:`score` / :func:`score_table` (definitions in
:mod:`simengine.backtest.scores`).
"""

from simengine.backtest.forecasts import (
    BASELINES,
    DEFAULT_BASELINES,
    NormalForecast,
    SampleForecast,
    baseline_forecasts,
    ets_paths,
    ets_total,
    like_for_like,
    naive_last,
    rw_drift,
    seasonal_naive,
    theta,
)
from simengine.backtest.run import (
    BACKTEST_FILES,
    BacktestResult,
    backtest_table,
    installed_base_config,
    observed_coverage,
    run_backtest,
    status_quo_kernel,
)
from simengine.backtest.scores import QUANTILES, SCORE_COLUMNS, score, score_table
from simengine.backtest.split import Split, check_holdout, split_book

__all__ = [
    "BACKTEST_FILES",
    "BASELINES",
    "DEFAULT_BASELINES",
    "QUANTILES",
    "SCORE_COLUMNS",
    "BacktestResult",
    "NormalForecast",
    "SampleForecast",
    "Split",
    "backtest_table",
    "baseline_forecasts",
    "check_holdout",
    "installed_base_config",
    "ets_paths",
    "ets_total",
    "like_for_like",
    "naive_last",
    "observed_coverage",
    "run_backtest",
    "rw_drift",
    "score",
    "score_table",
    "seasonal_naive",
    "split_book",
    "status_quo_kernel",
    "theta",
]
