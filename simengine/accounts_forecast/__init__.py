"""Per-account forecast: each active account's next 12 months, reduced while the kernel streams.

The kernel writes, per chunk of draws, a small record per (draw, book account)
(:data:`simengine.kernels.layout.ACCOUNT_OUTPUTS`: revenue, churn month, overage, leak and new use
cases over the first 12 forecast months).  :class:`AccountAccumulator` folds each chunk into
per-account running sums and quantile state, so a run never holds a draws x accounts x months
array: memory is one chunk's record plus, per account, a few sums and either

- the exact ``revenue_12m`` values of every draw, when ``draws x accounts`` is at most
  :data:`EXACT_LIMIT` (quantiles are then ``numpy.quantile``'s), or
- a histogram of ``revenue_12m / scale`` over :data:`HIST_BINS` log-spaced bins spanning
  ``10**HIST_LOG_RANGE`` (``scale`` = 12 x the account's last monthly revenue), plus an underflow
  bin that holds zero.  Bin edges are a factor ``10**(7/700) = 1.0233`` apart and quantiles
  interpolate geometrically inside a bin, so a quantile is within 2.3% of the exact sample
  quantile (relative), whatever the number of draws.

One job a module, arrays to xarray to files: :mod:`.accumulator` (the running sums and quantile
state), :mod:`.tables` (:func:`accounts_table` turns the accumulator into
``accounts_forecast.csv``, :func:`signals_table` ranks the accounts for ``signals.csv``),
:mod:`.dataset` (:class:`AccountForecast`: the run's accumulator and its ``xarray`` form),
:mod:`.files` (the CSV and Parquet files) and :mod:`.console` (the signals table printed).
"""

from simengine.accounts_forecast.accumulator import EXACT_LIMIT, AccountAccumulator
from simengine.accounts_forecast.console import print_signals
from simengine.accounts_forecast.dataset import AccountForecast, accounts_frame
from simengine.accounts_forecast.files import write_account_outputs
from simengine.accounts_forecast.tables import (
    ACCOUNT_COLUMNS,
    accounts_table,
    active_mask,
    signals_table,
    usage_signals,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "EXACT_LIMIT",
    "AccountAccumulator",
    "AccountForecast",
    "accounts_frame",
    "accounts_table",
    "active_mask",
    "print_signals",
    "signals_table",
    "usage_signals",
    "write_account_outputs",
]
